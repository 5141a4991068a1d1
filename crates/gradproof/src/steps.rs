//! The step a line starts from — the step rule's, kept exact on a single coordinate, or the
//! adaptive search's (the step minimising truncation plus roundoff, from a pilot difference) —
//! and the error bound of a difference at a step. Knows nothing of tensors or reports.

use crate::error::Result;
use crate::line::{Difference, Line};
use crate::precision::Precision;
use crate::problem::Problem;
use crate::settings::Checker;
use crate::step_rule::StepRule;

impl Checker {
    /// The error bound of a numeric derivative by a stencil of noise gain `gain`: the noise of
    /// `J` amplified by the stencil and divided by the step, the error of representing `θ ± h`
    /// (in the cost's precision, unit roundoff `u`: a cost computed in `f32` rounds its
    /// parameters to `f32`), and the truncation estimate.
    pub(crate) fn error_bound(
        gain: f64,
        step: f64,
        truncation: f64,
        (sigma, u): (f64, f64),
        theta_scale: f64,
        derivative_scale: f64,
    ) -> f64 {
        (gain * sigma + derivative_scale * u * (theta_scale + step)) / step + truncation
    }

    /// The step rule's first step along the line, and the rounding that keeps `θᵢ + h` exact on
    /// a single coordinate.
    pub(crate) fn first_step<P: Problem + ?Sized>(
        &self,
        c: &mut Line<'_, P>,
    ) -> Result<(f64, bool)> {
        let theta_i = c.scale();
        let single = c.direction.len() == 1;
        let step = match self.step {
            StepRule::Fixed(h) => return Ok((h, false)),
            StepRule::Scaled(_) => self
                .step
                .step_for(self.method, theta_i, c.base.unit_roundoff),
            StepRule::Adaptive => self.adaptive_step(c)?,
        };
        let step = if single {
            self.exact_step(c, step)
        } else {
            step
        };
        Ok((step, single))
    }

    /// `h` rounded on a single-coordinate line so that the points the stencil evaluates are
    /// exactly `θᵢ + o·h` in the cost's precision (a cost computed in f32 rounds its inputs to
    /// f32): every point, truncation estimate included, when the binades allow it, else the
    /// stencil's own points; failing that (and always in f64), so that `θᵢ + h` is exact in f64.
    fn exact_step<P: Problem + ?Sized>(&self, c: &Line<'_, P>, h: f64) -> f64 {
        let theta_i = c.scale();
        let in_f64 = (theta_i + h) - theta_i;
        let precision = c.base.precision;
        let at = match c.direction {
            &[(j, w)] if w.abs() == 1.0 && precision != Precision::F64 => c.point[j],
            _ => return in_f64,
        };
        let own: Vec<f64> = self.method.stencil().iter().map(|(o, _)| *o).collect();
        precision
            .exact_step(at, h, &self.method.sampled_offsets())
            .or_else(|| precision.exact_step(at, h, &own))
            .unwrap_or(in_f64)
    }

    /// The step minimising `C·hᵖ + gain·σ/h`, with `C` read off a pilot difference at the
    /// scaled step and twice it. Falls back to the pilot step when the pilot straddles a kink
    /// or shows no truncation at all (and [`Checker::derivative`] differences from the pilot
    /// a line whose cost is not finite at the chosen step's points).
    fn adaptive_step<P: Problem + ?Sized>(&self, c: &mut Line<'_, P>) -> Result<f64> {
        let pilot = self
            .step
            .step_for(self.method, c.scale(), c.base.unit_roundoff);
        let Difference {
            truncation,
            crossed,
            ..
        } = c.difference(self.method, pilot, &|_| false)?;
        let p = f64::from(self.method.order());
        if crossed.is_some() || truncation == 0.0 || c.base.sigma == 0.0 {
            return Ok(pilot);
        }
        let scale = truncation / pilot.powf(p);
        let best = (self.method.noise_gain() * c.base.sigma / (p * scale)).powf(1.0 / (p + 1.0));
        // Trust the model of the error only within a few decades of the pilot.
        Ok(best.clamp(pilot * 1e-3, pilot * 1e2))
    }
}
