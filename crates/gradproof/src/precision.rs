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
