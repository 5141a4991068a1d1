//! The floating-point precision a cost is computed in, as a value: its unit roundoff, its name,
//! and how it is recognised from the values the cost returns. A cost computed in `f32` (or in
//! `f16`/`bf16` and widened) and returned as `f64` has the noise of its own precision, not
//! `f64`'s, and its finite-difference steps must be sized for it. Knows nothing of what the cost
//! computes or of how a check uses the precision.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The precision a cost is computed in (whatever type it is returned as).
///
/// ```
/// use gradproof::Precision;
/// assert_eq!("f32".parse::<Precision>()?, Precision::F32);
/// assert_eq!(Precision::F32.unit_roundoff(), f32::EPSILON as f64);
/// // 1 + 2⁻²⁰ needs 20 bits of mantissa: more than bf16's or f16's, within f32's.
/// assert_eq!(Precision::of_values(&[1.0 + 2f64.powi(-20), 0.5]), Precision::F32);
/// # Ok::<(), gradproof::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    /// IEEE double precision (53-bit significand).
    #[default]
    F64,
    /// IEEE single precision (24-bit significand).
    F32,
    /// IEEE half precision (11-bit significand).
    F16,
    /// bfloat16 (8-bit significand).
    Bf16,
}

impl Precision {
    /// Every precision, finest first.
    pub const ALL: [Precision; 4] = [
        Precision::F64,
        Precision::F32,
        Precision::F16,
        Precision::Bf16,
    ];

    /// Explicitly stored significand bits (52, 23, 10, 7).
    pub fn mantissa_bits(self) -> u32 {
        match self {
            Precision::F64 => 52,
            Precision::F32 => 23,
            Precision::F16 => 10,
            Precision::Bf16 => 7,
        }
    }

    /// The machine epsilon `2^−mantissa_bits`: the spacing of numbers just above 1, twice the
    /// largest relative rounding error of one operation.
    pub fn unit_roundoff(self) -> f64 {
        2f64.powi(-(self.mantissa_bits() as i32))
    }

    /// The name, as `--precision` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Precision::F64 => "f64",
            Precision::F32 => "f32",
            Precision::F16 => "f16",
            Precision::Bf16 => "bf16",
        }
    }

    /// `x` rounded to this precision (to nearest, ties to even; the exponent range is not
    /// limited: a cost computed in `f16` overflows on its own, not here).
    ///
    /// ```
    /// use gradproof::Precision;
    /// assert_eq!(Precision::F32.round(0.1), 0.1f32 as f64);
    /// assert_eq!(Precision::Bf16.round(1.0 + 2f64.powi(-9)), 1.0);
    /// assert_eq!(Precision::F64.round(0.1), 0.1);
    /// ```
    pub fn round(self, x: f64) -> f64 {
        if self == Precision::F64 || x == 0.0 || !x.is_finite() {
            return x;
        }
        // Scale so that the kept significand bits are the integer part, round, scale back (all
        // exact in f64: powers of two, and an integer below 2⁵³).
        let exponent = x.abs().log2().floor() as i32;
        let spacing = 2f64.powi(exponent - self.mantissa_bits() as i32);
        (x / spacing).round_ties_even() * spacing
    }

    /// True if `x` is a value of this precision.
    pub fn represents(self, x: f64) -> bool {
        self.round(x) == x
    }

    /// A step near `h` at which every point `θ + o·h` (`o` in `offsets`, a stencil's multiples
    /// of the step) is exactly representable in this precision, so that the cost sees exactly
    /// the points the difference quotient divides by: `round(θ + h) − θ`, else the power of two
    /// just below `h`, whichever is exact first. `None` when `θ` itself is not a value of this
    /// precision or neither step is exact (near a power of two the points above and below `θ`
    /// have different spacings); the error bound then counts the rounding of `θ ± h`.
    ///
    /// ```
    /// use gradproof::Precision;
    /// let theta = 0.3f32 as f64;
    /// let offsets = [-2.0, -1.0, 1.0, 2.0];
    /// let h = Precision::F32.exact_step(theta, 1e-3, &offsets).unwrap();
    /// assert!((h - 1e-3).abs() <= 2f64.powi(-25)); // within a spacing of f32 near 0.3
    /// for o in offsets {
    ///     let x = theta + o * h;
    ///     assert_eq!(x as f32 as f64, x);
    /// }
    /// ```
    pub fn exact_step(self, theta: f64, h: f64, offsets: &[f64]) -> Option<f64> {
        if !(self.represents(theta) && h.is_finite() && h > 0.0) {
            return None;
        }
        let exact =
            |step: f64| step > 0.0 && offsets.iter().all(|o| self.represents(theta + o * step));
        let power_of_two = 2f64.powi(h.log2().floor() as i32);
        [self.round(theta + h) - theta, power_of_two]
            .into_iter()
            .find(|&step| exact(step))
    }

    /// The coarsest precision that represents every one of `values` exactly (exponent range
    /// aside): a cost computed in `f32` and widened to `f64` returns values whose low 29
    /// significand bits are all zero. Zeros and non-finite values say nothing and are skipped;
    /// with none left, [`Precision::F64`].
    pub fn of_values(values: &[f64]) -> Precision {
        // Significand bits used by the value: 52 minus the trailing zeros of its fraction.
        let used = |v: f64| {
            let fraction = v.to_bits() & ((1u64 << 52) - 1);
            if fraction == 0 {
                0
            } else {
                52 - fraction.trailing_zeros()
            }
        };
        let needed = values
            .iter()
            .filter(|v| v.is_finite() && **v != 0.0)
            .map(|&v| used(v))
            .max();
        match needed {
            None => Precision::F64,
            Some(bits) => Precision::ALL
                .into_iter()
                .rev()
                .find(|p| bits <= p.mantissa_bits())
                .unwrap_or(Precision::F64),
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Precision {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        Precision::ALL
            .into_iter()
            .find(|p| p.name() == text.trim())
            .ok_or_else(|| Error::InvalidChoice {
                name: "precision",
                value: text.to_string(),
                expected: "f64, f32, f16 or bf16",
            })
    }
}
