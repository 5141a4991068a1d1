//! How large the step is for each coordinate ([`StepRule`]): a fixed step, a multiple of the
//! method's natural step, or the adaptive search; and when a step is so far above the natural
//! one that its disagreements are confirmed there. Knows nothing of `J`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::method::Method;

/// A step (fixed, or a scaled rule's) this many times the method's natural step or more has its
/// disagreements confirmed at the natural step (`Checker::confirmed`); a scaled rule this far
/// from `c = 1`, either way, is named in the advice of an inconclusive report.
pub(crate) const CONFIRMED_ABOVE: f64 = 16.0;

/// How large the step is for coordinate `i`.
///
/// ```
/// use gradproof::{Method, StepRule};
/// assert_eq!(StepRule::Fixed(1e-7).step(Method::Central, 123.0), 1e-7);
/// // scaled: c · max(1, |θᵢ|) · ε_mach^(1/3) for central differences
/// let h = StepRule::Scaled(1.0).step(Method::Central, 100.0);
/// assert!((h - 100.0 * f64::EPSILON.cbrt()).abs() < 1e-12);
/// assert_eq!("1e-7".parse::<StepRule>()?, StepRule::Fixed(1e-7));
/// assert_eq!("auto".parse::<StepRule>()?, StepRule::Adaptive);
/// # Ok::<(), gradproof::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepRule {
    /// The same absolute step for every coordinate (the notebook's `epsilon = 1e-7`).
    Fixed(f64),
    /// `c · max(1, |θᵢ|) · ε_mach^(1/(order+1))`, rounded so that `θᵢ ± h` is exact.
    Scaled(f64),
    /// Per coordinate, estimate the next derivative of `J` from a pilot stencil, then take the
    /// step that minimises the bound `truncation(h) + roundoff(h)` given the measured noise.
    Adaptive,
}

impl StepRule {
    /// Validates the rule's number (finite and > 0).
    pub fn validated(self) -> Result<Self> {
        let (name, value) = match self {
            StepRule::Fixed(v) => ("epsilon", v),
            StepRule::Scaled(c) => ("step scale", c),
            StepRule::Adaptive => return Ok(self),
        };
        if value.is_finite() && value > 0.0 {
            Ok(self)
        } else {
            Err(Error::InvalidSetting {
                name,
                expected: "finite and > 0",
                value,
            })
        }
    }

    /// The nominal step for a coordinate whose value is `theta` (for `Adaptive`, the pilot step
    /// of its search, the scaled step). A [`Reference::Dual`](crate::Reference::Dual) check takes no step and uses no
    /// rule.
    pub fn step(self, method: Method, theta: f64) -> f64 {
        self.step_for(method, theta, f64::EPSILON)
    }

    /// [`StepRule::step`] for a cost computed with unit roundoff `u`: the scaled and adaptive
    /// rules size their steps by the cost's precision, not by `f64`'s (a fixed step stays).
    pub fn step_for(self, method: Method, theta: f64, u: f64) -> f64 {
        match self {
            StepRule::Fixed(h) => h,
            StepRule::Scaled(c) => c * theta.abs().max(1.0) * method.natural_step_for(u),
            StepRule::Adaptive => theta.abs().max(1.0) * method.natural_step_for(u),
        }
    }

    /// True when the rule's step at `theta` (the fixed one, or a scaled rule's; never the
    /// adaptive rule's, chosen by the error model from a pilot at the natural step) is
    /// [`CONFIRMED_ABOVE`] times the method's natural step or more, for a cost computed with
    /// unit roundoff `u`: its disagreements are then confirmed at the natural step.
    pub(crate) fn far_above_natural(self, method: Method, theta: f64, u: f64) -> bool {
        match self {
            StepRule::Fixed(_) | StepRule::Scaled(_) => {
                let natural = StepRule::Scaled(1.0).step_for(method, theta, u);
                self.step_for(method, theta, u) >= CONFIRMED_ABOVE * natural
            }
            StepRule::Adaptive => false,
        }
    }
}

impl fmt::Display for StepRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StepRule::Fixed(h) => write!(f, "fixed {h:e}"),
            StepRule::Scaled(c) => write!(f, "scaled (c = {c})"),
            StepRule::Adaptive => f.write_str("adaptive"),
        }
    }
}

impl FromStr for StepRule {
    type Err = Error;

    /// `auto` (adaptive), `scaled` (c = 1), `scaled=C`, or a number (fixed).
    fn from_str(text: &str) -> Result<Self> {
        let text = text.trim();
        let invalid = || Error::InvalidChoice {
            name: "step",
            value: text.to_string(),
            expected: "auto, scaled, scaled=C or a positive number such as 1e-7",
        };
        let rule = match text {
            "auto" | "adaptive" => StepRule::Adaptive,
            "scaled" => StepRule::Scaled(1.0),
            _ => match text.strip_prefix("scaled=") {
                Some(c) => StepRule::Scaled(c.parse().map_err(|_| invalid())?),
                None => StepRule::Fixed(text.parse().map_err(|_| invalid())?),
            },
        };
        rule.validated()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_rules_say_what_is_expected() {
        for bad in ["0", "-1e-7", "NaN", "inf", "scaled=0", "tiny"] {
            let err = bad.parse::<StepRule>().unwrap_err().to_string();
            assert!(
                err.contains("> 0") || err.contains("must be one of"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn steps_far_above_the_natural_one() {
        let u = f64::EPSILON;
        let natural = Method::Central.natural_step_for(u);
        assert!(!StepRule::Fixed(1e-7).far_above_natural(Method::Central, 1.0, u));
        assert!(!StepRule::Fixed(15.0 * natural).far_above_natural(Method::Central, 1.0, u));
        assert!(StepRule::Fixed(16.0 * natural).far_above_natural(Method::Central, 1.0, u));
        // A fixed step is measured against the natural step at the coordinate's own scale.
        assert!(!StepRule::Fixed(1e3).far_above_natural(Method::Central, 1e9, u));
        assert!(StepRule::Scaled(16.0).far_above_natural(Method::Central, 5.0, u));
        assert!(!StepRule::Scaled(1.0).far_above_natural(Method::Central, 5.0, u));
        assert!(!StepRule::Adaptive.far_above_natural(Method::Central, 1.0, u));
    }
}
