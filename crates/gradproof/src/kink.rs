//! Kinks in costs written over dual numbers: [`relu`], [`abs`], [`max`] and [`min`] compute the
//! usual value and derivative at any scalar num-dual differentiates, and record a *tie* (the
//! primal exactly on the kink, `x == 0` or `a == b`, while the pass's direction moves it off: a
//! derivative part that is not zero, or differs between `a` and `b`) in a per-thread counter. The exact oracle
//! ([`Reference::Dual`](crate::Reference::Dual)) reads the counter around each dual pass: a pass
//! that saw a tie has taken one branch of a kink whose other branch is as valid, so that
//! coordinate (or direction) is checked against the interval of its one-sided finite
//! differences instead, and any valid subgradient convention (`relu'(0) ∈ [0, 1]`,
//! `sign(0) ∈ [−1, 1]`) passes. Knows nothing of checks, tensors or reports.
//!
//! ```
//! use gradproof::kink;
//! use gradproof::num_dual::{Dual64, DualNum};
//!
//! // J(w) = λ·Σ|wᵢ| + Σ relu(wᵢ), written once over the scalar type.
//! fn cost<D: DualNum<f64> + Copy>(w: &[D]) -> D {
//!     w.iter().fold(D::from(0.0), |sum, &x| sum + kink::abs(x) * 0.1 + kink::relu(x))
//! }
//! // Off the kinks: the usual derivative, no tie.
//! let d = cost(&[Dual64::new(2.0, 1.0)]);
//! assert!((d.re - 2.2).abs() < 1e-15 && (d.eps - 1.1).abs() < 1e-15);
//! // A weight exactly at 0, moved by the pass: the value is exact, the derivative one
//! // convention among many, and the tie is recorded so that the dual oracle checks this
//! // coordinate against the interval of its one-sided derivatives instead.
//! let d = cost(&[Dual64::new(0.0, 1.0)]);
//! assert_eq!((d.re, d.eps), (0.0, 0.0));
//! assert_eq!(kink::max(Dual64::from(1.0), Dual64::from(1.0)).re, 1.0);
//! assert_eq!(kink::min(3.0, -2.0), -2.0);
//! ```

use std::any::Any;
use std::cell::Cell;

use num_dual::{Dual64, DualNum};

thread_local! {
    /// Ties seen on this thread, ever: monotonic, so that a pass nested in another (a rayon
    /// worker stealing work while it waits) cannot erase the outer pass's count.
    static TIES: Cell<u64> = const { Cell::new(0) };
}

/// Records one tie on this thread.
fn tie() {
    TIES.with(|ties| ties.set(ties.get().wrapping_add(1)));
}

/// Runs `pass` and returns its result with the number of ties the kink helpers recorded on this
/// thread meanwhile. A cost that hands its own work to other threads records the ties of that
/// work there, unseen here.
pub(crate) fn counting_ties<T>(pass: impl FnOnce() -> T) -> (T, u64) {
    let before = TIES.with(Cell::get);
    let result = pass();
    (result, TIES.with(Cell::get).wrapping_sub(before))
}

/// The derivative part of a scalar, where its type is known: `Some(0)` for a plain `f64` (no
/// pass moves it), `Some(ε)` for num-dual's [`Dual64`]. num-dual compares dual numbers by their
/// real parts only, so the derivative part is read by type.
fn derivative_part<D: DualNum<f64>>(x: &D) -> Option<f64> {
    let any: &dyn Any = x;
    if any.is::<f64>() {
        Some(0.0)
    } else {
        any.downcast_ref::<Dual64>().map(|d| d.eps)
    }
}

/// Records a tie at a kink of `x` at 0 if the pass moves `x` off it: a derivative part that is
/// not 0 (an `x` that stays on the kink to first order has equal one-sided derivatives). For
/// scalar types other than `f64` and `Dual64`, whose derivative parts are not read, every tie
/// is recorded.
fn tie_at_zero<D: DualNum<f64>>(x: &D) {
    if derivative_part(x) != Some(0.0) {
        tie();
    }
}

/// Records a tie between `a` and `b` (equal real parts) if the pass moves them apart: derivative
/// parts that differ (read as in [`tie_at_zero`]).
fn tie_between<D: DualNum<f64>>(a: &D, b: &D) {
    match (derivative_part(a), derivative_part(b)) {
        (Some(x), Some(y)) if x == y => {}
        _ => tie(),
    }
}

/// `max(x, 0)`: derivative 1 for `x > 0`, 0 for `x < 0`, and 0 at `x == 0`, a tie (recorded).
pub fn relu<D: DualNum<f64>>(x: D) -> D {
    let re = x.re();
    if re > 0.0 {
        x
    } else {
        if re == 0.0 {
            tie_at_zero(&x);
        }
        x * 0.0
    }
}

/// `|x|`: derivative `sign(x)`, and 0 at `x == 0`, a tie (recorded).
pub fn abs<D: DualNum<f64>>(x: D) -> D {
    let re = x.re();
    if re > 0.0 {
        x
    } else if re < 0.0 {
        -x
    } else {
        tie_at_zero(&x);
        x * 0.0
    }
}

/// The larger of `a` and `b`, with its derivative; `a` at `a == b`, a tie (recorded).
pub fn max<D: DualNum<f64>>(a: D, b: D) -> D {
    let (x, y) = (a.re(), b.re());
    if x == y {
        tie_between(&a, &b);
    }
    if x >= y { a } else { b }
}

/// The smaller of `a` and `b`, with its derivative; `a` at `a == b`, a tie (recorded).
pub fn min<D: DualNum<f64>>(a: D, b: D) -> D {
    let (x, y) = (a.re(), b.re());
    if x == y {
        tie_between(&a, &b);
    }
    if x <= y { a } else { b }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_are_counted_only_at_the_kink() {
        let ((), ties) = counting_ties(|| {
            relu(Dual64::new(1.0, 1.0));
            abs(-2.0);
            max(1.0, 2.0);
            min(Dual64::new(1.0, 1.0), Dual64::new(2.0, 0.0));
        });
        assert_eq!(ties, 0);
        let (value, ties) = counting_ties(|| {
            relu(Dual64::new(0.0, 1.0))
                + abs(Dual64::new(0.0, -1.0))
                + max(Dual64::new(1.0, 2.0), Dual64::from(1.0))
        });
        assert_eq!((value.re, value.eps, ties), (1.0, 2.0, 3));
        // On the kink but not moved off it by the pass: no tie (both sides agree).
        let ((), ties) = counting_ties(|| {
            relu(0.0);
            abs(Dual64::new(0.0, 0.0));
            max(Dual64::new(1.0, 2.0), Dual64::new(1.0, 2.0));
        });
        assert_eq!(ties, 0);
        // Nested passes: the outer one sees the inner one's ties too (never fewer than its own).
        let ((_, inner), outer) = counting_ties(|| {
            min(Dual64::new(0.0, 1.0), Dual64::from(0.0));
            counting_ties(|| relu(Dual64::new(0.0, 1.0)))
        });
        assert_eq!((inner, outer), (1, 2));
    }

    #[test]
    fn values_and_derivatives_off_the_kink() {
        let x = Dual64::new(-3.0, 2.0);
        assert_eq!((relu(x).re, relu(x).eps), (0.0, 0.0));
        assert_eq!((abs(x).re, abs(x).eps), (3.0, -2.0));
        let y = Dual64::new(1.0, 5.0);
        assert_eq!(max(x, y).eps, 5.0);
        assert_eq!(min(x, y).eps, 2.0);
    }
}
