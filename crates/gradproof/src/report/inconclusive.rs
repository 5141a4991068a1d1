//! Why a check in which nothing disagrees cannot decide anything — a constant cost, no element
//! checked, most of a tensor unresolved, a detection floor above what a check must resolve —
//! and what to change. Only the reasoning: the parent module builds the report around it.

use super::*;

/// Why a check in which nothing disagrees cannot decide anything, and what to change; `None`
/// when its evidence holds.
pub(super) fn inconclusive(
    checker: &Checker,
    overall: &Overall,
    tensors: &[TensorReport],
    detection_floor: f64,
    precision: Precision,
) -> Option<String> {
    if overall.noise.status == NoiseStatus::Constant {
        return Some(format!(
            "J did not change when θ moved by up to {:e} of its scale: a cost that does not \
             depend on θ (or rounds every change away) gives nothing to compare a gradient with",
            overall.noise.spacing
        ));
    }
    if tensors.iter().all(|t| t.checked == 0) {
        return Some("no element was checked".to_string());
    }
    let advice = step_advice(checker, precision);
    if let Some(t) = tensors.iter().find(|t| 2 * t.unresolved > t.checked) {
        let why = match overall.tolerance {
            Some(_) => "the tolerance is as large as the values themselves",
            None if checker.step.far_above_natural(
                checker.method,
                1.0,
                precision.unit_roundoff(),
            ) =>
            {
                "their error bound is as large as the values themselves, or the step hides \
                 its own truncation: they disagree at it and agree at the method's natural step"
            }
            None => "their error bound is as large as the values themselves",
        };
        return Some(format!(
            "{} of {} elements of {} are below what the differences resolve ({why}: {advice}; \
             or they lie where kinks of the cost meet closer than any step resolves: check at \
             a point off the kinks)",
            t.unresolved, t.checked, t.gradient_name,
        ));
    }
    if overall.tolerance.is_none()
        && !checker.exact
        && !overall.intervals_only
        && detection_floor > MAX_DETECTION_FLOOR
    {
        return Some(format!(
            "at this step the differences cannot catch a gradient error below {detection_floor:.1e} \
             (relative), above the {MAX_DETECTION_FLOOR:e} a check must resolve: {advice}"
        ));
    }
    None
}
