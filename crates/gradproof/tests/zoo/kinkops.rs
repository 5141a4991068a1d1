//! The zoo's scalar types and its kinked functions (`relu`, `abs`, `max`), written once for the
//! plain `f64` and `f32` costs and the `Dual64` passes of the exact oracle. Every kink is a
//! choice between two smooth branches; the choice is made here, and only here:
//!
//! * off a tie, the larger branch, as usual;
//! * at an exact tie (`x == 0`, `a == b`), the plain-ops convention (`relu'(0) = 0`, `|x|` takes
//!   `+x`, `max` takes its first argument) — or, inside [`one_sided`], the branch that is larger
//!   just to the *right* along the dual number's tangent, which makes one dual pass the exact
//!   right derivative `lim_{t↓0} (J(θ + t·v) − J(θ)) / t` (the left one is minus the right one
//!   along `−v`). That is the zoo's independent truth at kinks (see `truth`).
//!
//! Each choice is also folded into a per-thread *signature* of the piece the cost lies on, which
//! [`with_signature`] hands to the checker through `Problem::cost_with_signature`.
//!
//! Outside [`one_sided`], the dual passes go through `gradproof::kink::{relu, abs, max}`
//! (dual-aware, recording the tie for the engine's dual oracle); the `f64`/`f32` costs keep
//! `select`, which records the signature.
//! Knows nothing of models, checks or reports.

use std::cell::Cell;

use gradproof::num_dual::{Dual64, DualNum, DualNumFloat};

thread_local! {
    /// True while [`one_sided`] runs on this thread.
    static ONE_SIDED: Cell<bool> = const { Cell::new(false) };
    /// The running hash of the branches taken by the current evaluation on this thread.
    static SIGNATURE: Cell<u64> = const { Cell::new(0) };
}

/// A scalar the zoo's costs are written over: `f64` and `f32` (the costs themselves) and
/// `Dual64` (the exact oracle).
pub trait Scalar: DualNum<Self::Float> + Copy {
    /// The primitive float underneath (`f64` or `f32`).
    type Float: DualNumFloat;

    /// The dual part (`0` for a plain float): the direction a tie is broken along.
    fn tangent(self) -> f64;

    /// A constant of the model, rounded to this scalar's precision.
    fn lit(value: f64) -> Self {
        Self::from_f64(value).expect("a finite constant")
    }

    /// `max(x, 0)`; at `x == 0` the plain convention takes `0` (`relu'(0) = 0`).
    fn kink_relu(self) -> Self {
        select(self, Self::zero(), false)
    }

    /// `|x|`; at `x == 0` the plain convention takes `+x`.
    fn kink_abs(self) -> Self {
        select(self, -self, true)
    }

    /// `max(a, b)`; at `a == b` the plain convention takes `a`.
    fn kink_max(self, other: Self) -> Self {
        select(self, other, true)
    }
}

impl Scalar for f64 {
    type Float = f64;
    fn tangent(self) -> f64 {
        0.0
    }
}

impl Scalar for f32 {
    type Float = f32;
    fn tangent(self) -> f64 {
        0.0
    }
}

/// Outside [`one_sided`], the dual passes go through the engine's dual-aware helpers, which
/// record a tie for the exact oracle (it then checks that coordinate by interval).
impl Scalar for Dual64 {
    type Float = f64;
    fn tangent(self) -> f64 {
        self.eps
    }

    fn kink_relu(self) -> Self {
        if one_sided_now() {
            select(self, Dual64::from(0.0), false)
        } else {
            gradproof::kink::relu(self)
        }
    }

    fn kink_abs(self) -> Self {
        if one_sided_now() {
            select(self, -self, true)
        } else {
            gradproof::kink::abs(self)
        }
    }

    fn kink_max(self, other: Self) -> Self {
        if one_sided_now() {
            select(self, other, true)
        } else {
            gradproof::kink::max(self, other)
        }
    }
}

/// `max(x, 0)` (see the module's conventions).
pub fn relu<S: Scalar>(x: S) -> S {
    x.kink_relu()
}

/// `|x|` (see the module's conventions).
pub fn abs<S: Scalar>(x: S) -> S {
    x.kink_abs()
}

/// `max(a, b)` (see the module's conventions).
pub fn max<S: Scalar>(a: S, b: S) -> S {
    a.kink_max(b)
}

/// The larger of two branches; at a tie, the right-hand branch inside [`one_sided`] (the larger
/// tangent), else `first` if `tie_takes_first`. The choice is folded into the signature.
fn select<S: Scalar>(first: S, second: S, tie_takes_first: bool) -> S {
    let takes_first = if first.re() != second.re() {
        first.re() > second.re()
    } else if one_sided_now() {
        first.tangent() >= second.tangent()
    } else {
        tie_takes_first
    };
    SIGNATURE.with(|s| {
        // FNV-1a step over one bit per choice: order-sensitive, cheap.
        s.set((s.get() ^ u64::from(takes_first)).wrapping_mul(0x0000_0100_0000_01b3))
    });
    if takes_first { first } else { second }
}

/// True inside [`one_sided`] on this thread.
pub fn one_sided_now() -> bool {
    ONE_SIDED.with(Cell::get)
}

/// Runs `pass` with ties broken towards the right of the dual direction (see the module's
/// conventions), restoring the plain convention afterwards.
pub fn one_sided<T>(pass: impl FnOnce() -> T) -> T {
    let before = ONE_SIDED.with(|m| m.replace(true));
    let out = pass();
    ONE_SIDED.with(|m| m.set(before));
    out
}

/// Runs `evaluation` and returns its value with the signature of the branches it took.
pub fn with_signature<T>(evaluation: impl FnOnce() -> T) -> (T, u64) {
    let before = SIGNATURE.with(|s| s.replace(0xcbf2_9ce4_8422_2325));
    let value = evaluation();
    let signature = SIGNATURE.with(|s| s.replace(before));
    (value, signature)
}
