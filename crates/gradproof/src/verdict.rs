//! The one-word outcome of a check ([`Verdict`]: pass, fail, inconclusive) and the arithmetic of
//! its evidence: the detection floor a threshold allows, and the advice an inconclusive report
//! gives (the step the cost's precision calls for). Knows nothing of tensors or of how a report
//! is laid out.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::precision::Precision;
use crate::settings::{Checker, NOISE_SAFETY_FACTOR};
use crate::step_rule::{CONFIRMED_ABOVE, StepRule};

/// The outcome of a check, in one word.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every tensor agrees, and the evidence could have caught an error above the detection
    /// floor.
    Pass,
    /// Some tensor disagrees beyond what roundoff and truncation can explain.
    Fail,
    /// Nothing disagrees, but the evidence cannot decide (see
    /// [`Report::reason`](crate::Report::reason)): a constant cost, most elements of a tensor
    /// below what the differences resolve, or a detection floor above
    /// [`MAX_DETECTION_FLOOR`](crate::settings::MAX_DETECTION_FLOOR) (a step too small or too
    /// large for the cost's precision).
    Inconclusive,
}

impl Verdict {
    /// `pass`, `fail` or `inconclusive`.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Inconclusive => "inconclusive",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The threshold of a tensor (or a whole check) with no coordinate away from kinks: a relative
/// difference is never above 1, so this one lets everything through and its
/// [`relative_error_floor`] is infinite. Its kink coordinates are judged by interval only.
pub(crate) const NO_RELATIVE_EVIDENCE: f64 = 1.0;

/// The relative error of a gradient against the *true* one, `‖g − g*‖/‖g*‖`, above which a
/// tensor with relative-difference `threshold` `t` cannot pass: the relative difference reaches
/// `t` at a relative error `2t/(1 − t)` against the numeric gradient `ĝ`, and `ĝ` itself may be
/// off the truth by its error bound, `1/NOISE_SAFETY_FACTOR` of what the threshold allows; so
/// `(1 + 1/8)·2t/(1 − t)`. Infinite when `t ≥ 1`.
pub(crate) fn relative_error_floor(threshold: f64) -> f64 {
    if threshold >= 1.0 {
        f64::INFINITY
    } else {
        (1.0 + 1.0 / NOISE_SAFETY_FACTOR) * 2.0 * threshold / (1.0 - threshold)
    }
}

/// What to change when the step cannot resolve the gradient: the step the cost's precision calls
/// for, or a finer precision when even that step cannot.
pub(crate) fn step_advice(checker: &Checker, precision: Precision) -> String {
    let u = precision.unit_roundoff();
    let natural = checker.method.natural_step_for(u);
    match checker.step {
        StepRule::Fixed(h) => format!(
            "the step {h:e} is too {} for a cost computed in {precision}; use a step near \
             {natural:.1e}·max(1, |θᵢ|) (the scaled or adaptive rule)",
            if h < natural { "small" } else { "large" }
        ),
        StepRule::Scaled(c) if !(1.0 / CONFIRMED_ABOVE..CONFIRMED_ABOVE).contains(&c) => format!(
            "the scaled step with c = {c:e} is too {} for a cost computed in {precision}; use \
             c = 1 (a step near {natural:.1e}·max(1, |θᵢ|)) or the adaptive rule",
            if c < 1.0 { "small" } else { "large" }
        ),
        _ if precision != Precision::F64 => format!(
            "the cost's precision ({precision}) is too coarse for {} differences to resolve \
             this gradient; compute the cost in f64 for the check, or use a higher-order method",
            checker.method
        ),
        _ => "the gradient is too small against the cost's noise to be checked here; try the \
              adaptive step or a higher-order method"
            .to_string(),
    }
}
