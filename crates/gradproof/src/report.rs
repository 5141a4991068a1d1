//! What a check found: the [`Verdict`] (pass, fail, or inconclusive when the evidence cannot
//! decide, with the reason and what to change), overall and per-tensor relative differences, the
//! thresholds they were judged against, the detection floor they allow, the worst element of
//! each tensor, the cost's measured noise and precision, and the number of evaluations
//! (`inconclusive`: why a check cannot decide). `Display` prints a table for people (`table`);
//! `serde` gives JSON for machines, with the same field names as the Rust types.
//! [`Report::assemble`] is the one place a report is built. Knows nothing of how the numbers
//! were computed.

use serde::{Deserialize, Serialize};

use crate::difference::norm2_of;
use crate::error::IndexDisplay;
use crate::method::Reference;
use crate::mode::Mode;
use crate::noise::{NoiseEstimate, NoiseStatus};
use crate::precision::Precision;
use crate::settings::{
    Checker, DUAL_ROUNDING_ULPS, MAX_DETECTION_FLOOR, NOISE_SAFETY_FACTOR, POINT_SPREAD, Tolerance,
};
use crate::step_rule::StepRule;

use crate::verdict::{Verdict, relative_error_floor, step_advice};

mod inconclusive;
mod table;

use inconclusive::inconclusive;

/// The outcome of a gradient check.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Pass, fail or inconclusive; [`Report::passed`] is true for pass only.
    pub verdict: Verdict,
    /// Why the verdict is inconclusive and what to change (absent otherwise).
    pub reason: Option<String>,
    /// The smallest relative error of the whole gradient against the true one, `‖g − g*‖/‖g*‖`,
    /// that the check is sure to catch: `(1 + 1/8)·2t/(1 − t)` for the overall threshold `t` =
    /// [`Report::noise_threshold`] (infinite when `t ≥ 1`; the 1/8 is the numeric gradient's own
    /// error, within its bound). An error above it exceeds some tensor's error bound (`‖g − ĝ‖ > 8‖b‖`
    /// implies `‖g_t − ĝ_t‖ > 8‖b_t‖` for some tensor `t`); one below it may pass unseen. A
    /// single tensor's floor is [`TensorReport::detection_floor`].
    pub detection_floor: f64,
    /// The precision the cost is computed in (declared on the checker, or recognised by the
    /// noise probe).
    pub precision: Precision,
    /// Which coordinates were checked.
    pub mode: Mode,
    /// The user's allclose tolerance, if one replaced the error bounds.
    pub tolerance: Option<Tolerance>,
    /// What the gradient was checked against: finite differences by a method, or dual numbers.
    pub reference: Reference,
    /// The step rule (as set on the checker; not used by [`Reference::Dual`]).
    pub step: StepRule,
    /// The nominal step: the fixed ε, or the step at `|θᵢ| ≤ 1` for the other rules; 0 for
    /// [`Reference::Dual`], which takes no step.
    pub epsilon: f64,
    /// Number of parameters checked.
    pub parameters: usize,
    /// `J(θ)` at the checked parameters.
    pub cost: f64,
    /// Measured rounding noise of one evaluation of `J` (standard deviation); 0, not measured,
    /// for [`Reference::Dual`].
    pub noise: f64,
    /// How the noise was measured.
    pub noise_status: NoiseStatus,
    /// The notebook's relative difference over all parameters away from kinks (in directional
    /// mode, of the probe along the whole direction).
    pub difference: f64,
    /// The relative difference that roundoff and truncation alone can produce over them.
    pub noise_threshold: f64,
    /// The notebook's threshold on [`Report::difference`] (the notebook's 1e-7 by default).
    pub notebook_threshold: f64,
    /// One row per parameter tensor, in layout order.
    pub tensors: Vec<TensorReport>,
    /// The point this report is about: 0 for θ, `k` for the `k`-th random point near θ of a
    /// check at several points ([`Checker::points`](crate::Checker::points)).
    #[serde(default)]
    pub point: usize,
    /// How many points were checked (1 unless [`Checker::points`](crate::Checker::points) asked
    /// for more; a check stops at the first failing point).
    #[serde(default = "one")]
    pub points: usize,
    /// Cost evaluations spent, at every point checked (for [`Reference::Dual`]: `J(θ)` once plus one forward pass in dual
    /// numbers per partial or directional derivative).
    pub evaluations: usize,
    /// Wall time of the check, in seconds.
    pub seconds: f64,
}

/// One parameter tensor's row of a [`Report`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TensorReport {
    /// The parameter's name (`W2`).
    pub name: String,
    /// The gradient's name (`dW2`).
    pub gradient_name: String,
    /// The tensor's shape.
    pub shape: Vec<usize>,
    /// Elements the check covered: the whole tensor in exhaustive and directional mode (the
    /// directional probes span every element), the sample in sampled mode.
    pub checked: usize,
    /// Elements examined singly: their own derivative was differenced (every coordinate of an
    /// exhaustive or sampled check) or a directional bisection narrowed down to them alone.
    /// Always `agree + disagree + unresolved` (the `kink` ones are among the first two); in
    /// directional mode the other `checked − examined` elements were seen only inside groups,
    /// never one by one.
    pub examined: usize,
    /// Directional derivatives spent on this tensor (its own probe and the bisection's); 0 in
    /// the coordinate modes, which difference elements one by one.
    pub probes: usize,
    /// Elements examined singly whose error is within their error bound.
    pub agree: usize,
    /// Elements examined singly whose error exceeds their error bound: the wrong elements found.
    pub disagree: usize,
    /// Elements the check cannot decide: within their tolerance only because it is as large as
    /// the values themselves (the finite differences cannot tell this gradient from zero), or
    /// on a kink closer than any step resolves. They count toward an inconclusive verdict.
    pub unresolved: usize,
    /// Elements whose perturbation crosses a kink of the cost (a ReLU at exactly 0, `|w|` at
    /// `w = 0`, a tie in a max) even at the smallest step, checked against the interval between
    /// their one-sided derivatives (widened by its error bound): any valid subgradient agrees.
    /// Counted among `agree` or `disagree`; they do not enter the relative difference, having no
    /// single numeric value.
    pub kink: usize,
    /// Of the `kink` elements, those outside their interval (counted in `disagree`).
    pub kink_outside: usize,
    /// The detection floor at the kink elements: an error confined to them (each element's
    /// distance from the interval of its one-sided derivatives, the valid subgradients),
    /// relative to the tensor's gradient (`‖e‖/‖ĝ‖`; in directional mode, whose probes give no
    /// element's numeric value, `‖e‖/‖g‖`), may pass up to this: each passes within its
    /// allowance of the interval, so `(1 + 1/8)·‖aᵢ‖/‖ĝ‖` over the kink elements. `None`
    /// without kink elements. ([`TensorReport::detection_floor`] is the floor away from kinks.)
    #[serde(default)]
    pub kink_floor: Option<f64>,
    /// The notebook's relative difference over this tensor's elements away from kinks.
    pub difference: f64,
    /// The relative difference that roundoff and truncation alone can produce over this tensor (see
    /// [`Checker`](crate::Checker)); the tensor passes when `difference <= threshold`.
    pub threshold: f64,
    /// The largest `|analytic − numeric|` over the elements examined singly and resolved (at a
    /// kink: the distance to its interval); `None` when none was (an empty tensor, only
    /// unresolved elements, or a directional probe that agreed).
    pub max_abs_error: Option<f64>,
    /// The elements examined singly and resolved (kinks by their interval) with the largest error
    /// relative to their
    /// bound ([`Worst::ratio`]), worst first: at most [`TOP_K`](crate::settings::TOP_K), or for a
    /// directional check at most its `top`, from the elements its bisection probed alone.
    pub top: Vec<Worst>,
    /// True if the tensor's gradient agrees with the finite differences.
    pub passed: bool,
}

/// One element of a gradient: where it is, both values and the error bound of the numeric one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Worst {
    /// Row-major multi-index inside the tensor.
    pub index: Vec<usize>,
    /// The hand-written gradient's value.
    pub analytic: f64,
    /// The finite-difference value.
    pub numeric: f64,
    /// How far `numeric` may be from the truth through roundoff and truncation alone (the tolerance this
    /// element was judged against).
    pub bound: f64,
    /// `|analytic − numeric| / bound`: above 1 the element is wrong. Elements are ranked by it,
    /// not by the absolute error, which a large bound can make large on a correct element.
    pub ratio: f64,
    /// At a kink: the one-sided derivatives `[left, right]` the element was checked against;
    /// `numeric` is then the point of their interval nearest to `analytic`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<[f64; 2]>,
}

impl Worst {
    /// The element at `index` with both values and its bound, and their [`Worst::ratio`] (the
    /// largest finite `f64` for an error beside a zero bound).
    pub(crate) fn new(index: Vec<usize>, analytic: f64, numeric: f64, bound: f64) -> Worst {
        let ratio = error_ratio((analytic - numeric).abs(), bound);
        Worst {
            index,
            analytic,
            numeric,
            bound,
            ratio,
            interval: None,
        }
    }

    /// The element, checked against the one-sided derivatives `interval` if it lies on a kink.
    pub(crate) fn at_kink(self, interval: Option<[f64; 2]>) -> Worst {
        Worst { interval, ..self }
    }

    /// `|analytic − numeric|`.
    pub fn error(&self) -> f64 {
        (self.analytic - self.numeric).abs()
    }
}

/// The overall figures of a check, which [`Report::assemble`] puts beside the checker's settings.
pub(crate) struct Overall {
    /// `J(θ)`.
    pub(crate) cost: f64,
    /// The cost's measured noise (not measured for an exact check).
    pub(crate) noise: NoiseEstimate,
    /// The relative difference over all parameters checked.
    pub(crate) difference: f64,
    /// The relative difference that roundoff and truncation alone produce over them.
    pub(crate) noise_threshold: f64,
    /// The tolerance the coordinates were judged by, if any.
    pub(crate) tolerance: Option<Tolerance>,
    /// Cost evaluations (and dual passes) spent.
    pub(crate) evaluations: usize,
    /// Every coordinate compared lies on a kink and was judged by its interval of one-sided
    /// derivatives: none entered the relative difference, so its (infinite) floor is not a
    /// sign of empty evidence.
    pub(crate) intervals_only: bool,
}

impl Report {
    /// The report of a check run with `checker`'s settings, taking `seconds` in all.
    pub(crate) fn assemble(
        checker: &Checker,
        parameters: usize,
        overall: Overall,
        tensors: Vec<TensorReport>,
        seconds: f64,
    ) -> Report {
        let detection_floor = relative_error_floor(overall.noise_threshold);
        let precision = overall.noise.precision;
        let (verdict, reason) = if tensors.iter().any(|t| !t.passed) {
            (Verdict::Fail, None)
        } else {
            match inconclusive(checker, &overall, &tensors, detection_floor, precision) {
                Some(reason) => (Verdict::Inconclusive, Some(reason)),
                None => (Verdict::Pass, None),
            }
        };
        Report {
            verdict,
            reason,
            detection_floor,
            precision,
            mode: checker.mode,
            tolerance: overall.tolerance,
            reference: checker.checked_against(),
            step: checker.step,
            // The nominal step as the check took it: sized for the cost's precision.
            epsilon: if checker.exact {
                0.0
            } else {
                checker
                    .step
                    .step_for(checker.method, 0.0, precision.unit_roundoff())
            },
            parameters,
            cost: overall.cost,
            noise: overall.noise.sigma,
            noise_status: overall.noise.status,
            difference: overall.difference,
            noise_threshold: overall.noise_threshold,
            notebook_threshold: checker.threshold,
            tensors,
            point: 0,
            points: 1,
            evaluations: overall.evaluations + overall.noise.evaluations,
            seconds,
        }
    }
}

/// The default of [`Report::points`] in JSON written before it existed.
fn one() -> usize {
    1
}

/// Keeps the `limit` `items` with the largest `(ratio, error)` keys (error relative to the
/// bound, then absolute error), worst first; full ties keep the given (layout) order, so the
/// report is deterministic. In place, so that a caller can reuse the buffer.
pub(crate) fn keep_worst<T>(items: &mut Vec<T>, limit: usize, key: impl Fn(&T) -> (f64, f64)) {
    items.sort_by(|a, b| {
        let ((ratio_a, error_a), (ratio_b, error_b)) = (key(a), key(b));
        ratio_b
            .total_cmp(&ratio_a)
            .then_with(|| error_b.total_cmp(&error_a))
    });
    items.truncate(limit);
}

/// `error / bound`, the measure elements are ranked by: 0 for no error, the largest finite
/// `f64` for an error beside a zero bound.
pub(crate) fn error_ratio(error: f64, bound: f64) -> f64 {
    if error == 0.0 {
        0.0
    } else if bound > 0.0 {
        error / bound
    } else {
        f64::MAX
    }
}

/// [`TensorReport::kink_floor`] from each kink element's allowance and the norm of the tensor's
/// gradient (numeric, with interval midpoints at kinks; or analytic), asked for only when
/// there are kinks.
pub(crate) fn kink_floor(
    allowances: impl Iterator<Item = f64> + Clone,
    scale: impl FnOnce() -> f64,
) -> Option<f64> {
    allowances.clone().next()?;
    Some((1.0 + 1.0 / NOISE_SAFETY_FACTOR) * norm2_of(allowances) / scale())
}

impl TensorReport {
    /// The smallest relative error `‖g − g*‖/‖g*‖` of this tensor's gradient against the true
    /// one that its threshold cannot let through: `(1 + 1/8)·2t/(1 − t)` for the threshold `t` (a
    /// relative difference `d` is a relative error `2d/(1 − d)` against the numeric gradient,
    /// which is itself off the truth by up to its bound, 1/8 of the threshold's allowance);
    /// infinite when `t ≥ 1`.
    pub fn detection_floor(&self) -> f64 {
        relative_error_floor(self.threshold)
    }

    /// The element with the largest error relative to its bound among those examined singly
    /// and resolved (absent for an empty tensor, one made only of unresolved elements, or a
    /// directional check that examined no element singly).
    pub fn worst(&self) -> Option<&Worst> {
        self.top.first()
    }

    /// What the check measured of this tensor's elements, in words, for a check in `mode`:
    /// `15 examined, 10 wrong`, `8 of 15 sampled, 3 wrong`, or for a directional check
    /// `9 probes: 3 wrong found by bisection; 12 not examined singly`. Counts only what was
    /// measured: a directional probe that agrees vouches for its group, not for each element.
    pub fn summary(&self, mode: Mode) -> String {
        let mut parts = Vec::new();
        let mut head = match mode {
            Mode::Exhaustive => format!("{} examined, {} wrong", self.examined, self.disagree),
            Mode::Sampled { .. } => format!(
                "{} of {} sampled, {} wrong",
                self.examined,
                self.shape.iter().product::<usize>(),
                self.disagree
            ),
            Mode::Directional { .. } => {
                let plural = if self.probes == 1 { "" } else { "s" };
                format!("{} probe{plural}:", self.probes)
            }
        };
        if matches!(mode, Mode::Directional { .. }) {
            if self.disagree > 0 {
                parts.push(format!("{} wrong found by bisection", self.disagree));
            } else if !self.passed && self.unresolved == 0 {
                parts.push("no wrong element isolated".to_string());
            }
            if self.agree > 0 {
                parts.push(format!("{} agree singly", self.agree));
            }
            if self.unresolved > 0 {
                parts.push(format!("{} unresolved", self.unresolved));
            }
            if self.kink > 0 {
                parts.push(self.kink_summary());
            }
            let unseen = self.checked - self.examined;
            if unseen > 0 || parts.is_empty() {
                parts.push(format!("{unseen} not examined singly"));
            }
            head.push(' ');
            head.push_str(&parts.join("; "));
            return head;
        }
        if self.unresolved > 0 {
            parts.push(format!("{} unresolved", self.unresolved));
        }
        if self.kink > 0 {
            parts.push(self.kink_summary());
        }
        for part in parts {
            head.push_str(", ");
            head.push_str(&part);
        }
        head
    }
}

impl TensorReport {
    /// The kink column in words: `2 at kinks` (checked by interval, all inside), or
    /// `2 at kinks, 1 outside`.
    fn kink_summary(&self) -> String {
        match self.kink_outside {
            0 => format!("{} at kinks", self.kink),
            outside => format!("{} at kinks, {outside} outside", self.kink),
        }
    }
}

impl Report {
    /// True if the verdict is [`Verdict::Pass`]: every tensor's gradient agrees with the finite
    /// differences, and they could have caught an error (never on empty evidence).
    pub fn passed(&self) -> bool {
        self.verdict == Verdict::Pass
    }

    /// The gradient names (`dW2`, ...) of the tensors that disagree, in layout order.
    pub fn failing(&self) -> Vec<&str> {
        self.tensors
            .iter()
            .filter(|t| !t.passed)
            .map(|t| t.gradient_name.as_str())
            .collect()
    }

    /// The notebook's verdict: is the overall relative difference below the notebook's threshold?
    pub fn notebook_passed(&self) -> bool {
        self.difference < self.notebook_threshold
    }

    /// One line per disagreeing tensor naming its worst element and what was measured, e.g.
    /// `dW2[1, 3]: analytic 0.53, numeric 0.27 (bound 3e-10, error 8.7e8× the bound); 15
    /// examined, 1 wrong; relative difference 2.1e-2`; empty when the check passed.
    pub fn failure_lines(&self) -> Vec<String> {
        self.tensors
            .iter()
            .filter(|t| !t.passed)
            .map(|t| {
                let summary = t.summary(self.mode);
                match t.worst() {
                    Some(w @ Worst { interval: Some([left, right]), .. }) => format!(
                        "{}{}: analytic {} at a kink, outside the one-sided derivatives [{}, {}] \
                         (bound {:.1e}, error {:.2e}× the bound); {summary}; relative difference \
                         {:.3e} away from kinks",
                        t.gradient_name,
                        IndexDisplay(&w.index),
                        w.analytic,
                        left.min(*right),
                        left.max(*right),
                        w.bound,
                        w.ratio,
                        t.difference
                    ),
                    Some(w) => format!(
                        "{}{}: analytic {}, numeric {} (bound {:.1e}, error {:.2e}× the bound); {summary}; relative difference {:.3e}",
                        t.gradient_name,
                        IndexDisplay(&w.index),
                        w.analytic,
                        w.numeric,
                        w.bound,
                        w.ratio,
                        t.difference
                    ),
                    None => format!(
                        "{}: no element named; {summary}; relative difference {:.3e}",
                        t.gradient_name, t.difference
                    ),
                }
            })
            .collect()
    }
}
