//! The text form of a [`Report`]: the per-tensor table a person reads at a glance, with the
//! header lines (method, step, noise, detection floor) and the closing verdict sentence. Only
//! formatting: what the report says is decided in the parent module.

use std::fmt;

use super::*;

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.reference.is_exact() {
            writeln!(
                f,
                "{} check, exact directional derivatives (dual numbers, no step): {} parameters, \
                 {} evaluations (J once, then one dual pass each), {:.3} ms",
                self.mode,
                self.parameters,
                self.evaluations,
                self.seconds * 1e3
            )?;
            writeln!(
                f,
                "J(θ) = {}; no step, so neither the cost's noise nor kinks enter",
                self.cost
            )?;
        } else {
            writeln!(
                f,
                "{} check, {} differences, step {}: {} parameters, {} cost evaluations, {:.3} ms",
                self.mode,
                self.reference,
                self.step,
                self.parameters,
                self.evaluations,
                self.seconds * 1e3
            )?;
            writeln!(
                f,
                "J(θ) = {}, measured noise of J ≈ {:.2e} (cost computed in {}); detection floor: \
                 a relative gradient error of {:.1e}",
                self.cost, self.noise, self.precision, self.detection_floor
            )?;
        }
        let rows: Vec<[String; 8]> = self
            .tensors
            .iter()
            .map(|t| {
                let at = t.worst().map_or(String::new(), |w| {
                    format!(
                        "{}{}: {:.9} vs {:.9}, error/bound {:.2e}",
                        t.gradient_name,
                        IndexDisplay(&w.index),
                        w.analytic,
                        w.numeric,
                        w.ratio
                    )
                });
                [
                    t.gradient_name.clone(),
                    format!("{:?}", t.shape),
                    t.summary(self.mode),
                    format!("{:.3e}", t.difference),
                    format!("{:.2e}", t.threshold),
                    t.max_abs_error
                        .map_or_else(|| "-".to_string(), |e| format!("{e:.2e}")),
                    tensor_verdict(t.passed, self.verdict).to_string(),
                    at,
                ]
            })
            .collect();
        if self.points > 1 {
            writeln!(
                f,
                "{} points checked (θ, then random points near it); the rows below are point {}'s",
                self.points, self.point
            )?;
        }
        let header = [
            "gradient",
            "shape",
            "elements",
            "difference",
            "threshold",
            "max |error|",
            "verdict",
            "worst element (by error/bound): analytic vs numeric",
        ];
        let mut widths = header.map(str::len);
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let line = |f: &mut fmt::Formatter<'_>, cells: &[&str]| -> fmt::Result {
            let mut out = String::new();
            for (k, cell) in cells.iter().enumerate() {
                if k + 1 == cells.len() {
                    out.push_str(cell);
                } else {
                    out.push_str(&format!("{cell:<width$}  ", width = widths[k]));
                }
            }
            writeln!(f, "  {}", out.trim_end())
        };
        line(f, &header)?;
        for row in &rows {
            line(f, &row.each_ref().map(String::as_str))?;
        }
        if self.reference.is_exact() {
            writeln!(
                f,
                "  (threshold: the relative difference that rounding alone produces, {}× {} ulps of the gradient's scale)",
                NOISE_SAFETY_FACTOR, DUAL_ROUNDING_ULPS
            )?;
        } else {
            writeln!(
                f,
                "  (threshold: the relative difference that roundoff and truncation alone produce, {}× their estimate)",
                NOISE_SAFETY_FACTOR
            )?;
        }
        write!(f, "{}", self.verdict())
    }
}

/// A tensor's word in the verdict column: a tensor in which nothing disagrees is "ok" only when
/// the whole check could decide; on an inconclusive check, nothing it shows was proven.
fn tensor_verdict(passed: bool, verdict: Verdict) -> &'static str {
    match (passed, verdict) {
        (false, _) => "WRONG",
        (true, Verdict::Inconclusive) => "undecided",
        (true, _) => "ok",
    }
}
