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
                "J(θ) = {}; no step, so the cost's noise does not enter (a pass that meets a \
                 tie at a kink falls back to one-sided differences there)",
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
            let at_kinks: Vec<String> = self
                .tensors
                .iter()
                .filter_map(|t| Some(format!("{:.1e} in {}", t.kink_floor?, t.gradient_name)))
                .collect();
            if !at_kinks.is_empty() {
                writeln!(
                    f,
                    "at kink elements (checked by interval) the floor is {}",
                    at_kinks.join(", ")
                )?;
            }
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

impl Report {
    /// ` at point k of n (…)` for a check at several points, naming the point this report is
    /// about; empty for a check at θ alone.
    fn at_point(&self) -> String {
        match (self.points, self.point) {
            (1, _) => String::new(),
            (n, 0) => format!(" at point 0 of {n} (θ itself)"),
            (n, k) => format!(
                " at point {k} of {n} (θ moved at random by up to {POINT_SPREAD} of each \
                 coordinate's scale; the same seed gives the same point)"
            ),
        }
    }

    /// One sentence on the verdict, reconciling the notebook's threshold with the noise-aware one.
    pub fn verdict(&self) -> String {
        let notebook = if self.notebook_passed() {
            format!(
                "below the notebook's threshold {:e}",
                self.notebook_threshold
            )
        } else {
            format!(
                "above the notebook's threshold {:e}",
                self.notebook_threshold
            )
        };
        match (self.verdict, &self.reason) {
            (Verdict::Fail, _) => {
                let at_kinks: usize = self.tensors.iter().map(|t| t.kink_outside).sum();
                let kinks = match at_kinks {
                    0 => String::new(),
                    n => format!(
                        "; {n} element{} at kinks outside the interval of the one-sided \
                         derivatives, which no step size explains",
                        if n == 1 { "" } else { "s" }
                    ),
                };
                return format!(
                    "the gradient is WRONG in {}{} (overall difference {:.6e}, {notebook}{kinks})",
                    self.failing().join(", "),
                    self.at_point(),
                    self.difference
                );
            }
            (Verdict::Inconclusive, reason) => {
                return format!(
                    "INCONCLUSIVE{}: nothing disagrees, but {}",
                    self.at_point(),
                    reason.as_deref().unwrap_or("the evidence cannot decide")
                );
            }
            (Verdict::Pass, _) => {}
        }
        let kinks: usize = self.tensors.iter().map(|t| t.kink).sum();
        let notebook = match kinks {
            0 => notebook,
            n => format!(
                "{notebook}, over the elements away from kinks; {n} element{} at kinks within \
                 the interval of their one-sided derivatives",
                if n == 1 { "" } else { "s" }
            ),
        };
        let everywhere = if self.points > 1 {
            format!(" at all {} points", self.points)
        } else {
            String::new()
        };
        // A sample vouches for the elements it drew, not for the others.
        let sampled: usize = self.tensors.iter().map(|t| t.checked).sum();
        let (correct, unchecked) = match self.mode {
            Mode::Sampled { .. } if sampled < self.parameters => (
                format!(
                    "the gradient is correct{everywhere} on the {sampled} sampled elements of {}",
                    self.parameters
                ),
                match self.parameters - sampled {
                    1 => "; the other one was not checked (exhaustive mode checks every element)"
                        .to_string(),
                    others => format!(
                        "; the other {others} were not checked (exhaustive mode checks every \
                         element)"
                    ),
                },
            ),
            _ => (
                format!("the gradient is correct{everywhere}"),
                String::new(),
            ),
        };
        if self.notebook_passed() {
            format!(
                "{correct} (overall difference {:.6e}, {notebook}){unchecked}",
                self.difference
            )
        } else {
            format!(
                "{correct}. The overall difference {:.6e} is {notebook}, but roundoff \
                 alone produces up to {:.2e} at ε = {:e} (the cost's noise {:.1e} divided by \
                 the step): the excess is roundoff of the difference quotient, not a wrong \
                 gradient{unchecked}",
                self.difference, self.noise_threshold, self.epsilon, self.noise
            )
        }
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
