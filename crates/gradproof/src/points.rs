//! The extra points of a check at several points ([`Checker::points`](crate::Checker::points)):
//! where point `k` lies, drawn from the checker's seed, and the one report that speaks for all of
//! them. A gradient that is wrong only in some regime (a mask, a branch, a clamp that misbehaves
//! only sometimes) can be right at θ and wrong a little away from it. Knows nothing of how each
//! point is checked.

use crate::layout::Layout;
use crate::report::Report;
use crate::rng::SplitMix64;
use crate::settings::POINT_SPREAD;
use crate::verdict::Verdict;

/// Stream of the generator reserved for the points (the modes use the tensor positions).
const POINT_STREAM: u64 = 0x0050_4F49_4E54; // "POINT"

/// Point `k` of a check at `theta`: `θ` itself for `k = 0`, else `θ` with every coordinate moved
/// uniformly within ±[`POINT_SPREAD`] of its scale, reproducibly from `seed`.
pub(crate) fn point(layout: &Layout, theta: &[f64], seed: u64, k: usize) -> Vec<f64> {
    let mut moved = theta.to_vec();
    if k == 0 {
        return moved;
    }
    let mut rng = SplitMix64::new(seed ^ POINT_STREAM, k as u64);
    for tensor in 0..layout.tensors().len() {
        let range = layout.range(tensor);
        let values = &theta[range.clone()];
        let rms = (values.iter().map(|v| v * v).sum::<f64>() / values.len().max(1) as f64).sqrt();
        let floor = if rms > 0.0 { rms } else { 1.0 };
        for value in &mut moved[range] {
            let scale = value.abs().max(floor);
            *value += POINT_SPREAD * scale * (2.0 * rng.unit() - 1.0);
        }
    }
    moved
}

/// Gathers the reports of the points checked, in order, into the one that decides: the first
/// that failed, else the first inconclusive one, else point 0's, with the evaluations and time
/// of all of them. `reports` is not empty.
pub(crate) fn decide(reports: Vec<Report>) -> Report {
    let evaluations = reports.iter().map(|r| r.evaluations).sum();
    let seconds = reports.iter().map(|r| r.seconds).sum();
    let points = reports.len();
    let position = [Verdict::Fail, Verdict::Inconclusive]
        .iter()
        .find_map(|v| reports.iter().position(|r| r.verdict == *v))
        .unwrap_or(0);
    let mut report = reports
        .into_iter()
        .nth(position)
        .expect("at least one point is checked");
    report.point = position;
    report.points = points;
    report.evaluations = evaluations;
    report.seconds = seconds;
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::TensorSpec;

    #[test]
    fn point_zero_is_theta_and_the_others_move_within_the_spread() {
        let layout = Layout::new([TensorSpec::new("w", [3]), TensorSpec::new("b", [2])]).unwrap();
        let theta = [2.0, -0.5, 0.0, 0.0, 0.0];
        assert_eq!(point(&layout, &theta, 7, 0), theta);
        let moved = point(&layout, &theta, 7, 1);
        assert_eq!(moved, point(&layout, &theta, 7, 1), "reproducible");
        assert_ne!(moved, point(&layout, &theta, 7, 2));
        assert_ne!(moved, point(&layout, &theta, 8, 1));
        let rms_w = ((4.0 + 0.25) / 3.0f64).sqrt();
        for (i, (&m, &t)) in moved.iter().zip(&theta).enumerate() {
            let scale = if i < 3 { t.abs().max(rms_w) } else { 1.0 };
            assert!(
                m != t && (m - t).abs() <= POINT_SPREAD * scale,
                "{i}: {t} → {m}"
            );
        }
    }
}
