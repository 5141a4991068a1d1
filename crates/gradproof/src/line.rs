//! One line of a finite-difference check: the derivative of `t ↦ J(θ + t·d)` along a coordinate
//! or a direction `d`, with its error bound (the cost's noise amplified by the stencil, the
//! rounding of `θ ± h`, the truncation estimate), the kink test, the step shrunk across kinks and
//! the adaptive step. Also what every line shares: `J(θ)`, its signature and the measured noise.
//! Knows nothing of tensors, modes or reports.

use std::time::Instant;

use crate::error::{Error, Result};
use crate::layout::Layout;
use crate::method::{Method, StepRule};
use crate::noise::{NoiseEstimate, NoiseStatus, estimate_noise};
use crate::precision::Precision;
use crate::problem::{CoordinateCosts, Problem};
use crate::settings::{Checker, NOISE_SAFETY_FACTOR};

/// Retries with a smaller step when a perturbation crosses a kink.
const KINK_RETRIES: usize = 3;
/// Each retry divides the step by this.
const KINK_STEP_DIVISOR: f64 = 16.0;

/// One derivative along a line from an oracle (a finite difference, or an exact dual-number
/// derivative), with its error bound and whether the line crossed a kink even at the smallest
/// step tried.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Derivative {
    /// The derivative along the line.
    pub(crate) value: f64,
    /// Its estimated error (roundoff + truncation, or the dual pass's rounding), before the
    /// safety factor.
    pub(crate) bound: f64,
    /// True if even the smallest step tried crossed a kink.
    pub(crate) kink: bool,
    /// Cost evaluations (or dual passes) spent.
    pub(crate) evaluations: usize,
}

impl Derivative {
    /// `|analytic − value|`.
    pub(crate) fn error(&self, analytic: f64) -> f64 {
        (analytic - self.value).abs()
    }

    /// True when `analytic` is within the safety factor times the bound, and no kink was crossed.
    pub(crate) fn agrees(&self, analytic: f64) -> bool {
        !self.kink && self.error(analytic) <= NOISE_SAFETY_FACTOR * self.bound
    }
}

/// What every coordinate shares: `J(θ)`, its piece signature and the cost's noise (used by the
/// adaptive rule only).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Base {
    pub(crate) cost: f64,
    pub(crate) signature: Option<u64>,
    pub(crate) sigma: f64,
    /// The unit roundoff of the cost's precision (declared, or recognised by the noise probe):
    /// what the steps are sized by.
    pub(crate) unit_roundoff: f64,
    /// The cost's precision itself: steps along a coordinate are chosen so that the perturbed
    /// points are values of it.
    pub(crate) precision: Precision,
    /// Wall time of one cost evaluation, as the noise probe saw it.
    pub(crate) seconds_per_evaluation: f64,
}

/// Checks `theta`, evaluates `J(θ)` with its signature and measures the cost's noise: what every
/// check needs before it differences anything (the adaptive rule picks its steps from the noise,
/// the generic kink test compares one-sided slopes with it). A check fails on a cost that is not
/// finite near θ; [`Checker::numeric_gradient`], which only differences along coordinates, falls
/// back to the cost's own rounding as its noise (`strict = false`). `declared` is the cost's
/// precision if the user gave it. Validates `theta` first.
pub(crate) fn base<P: Problem + ?Sized>(
    problem: &P,
    theta: &[f64],
    strict: bool,
    declared: Option<Precision>,
) -> Result<(Base, NoiseEstimate)> {
    expect_parameters(problem.layout(), theta)?;
    base_at(
        problem,
        theta,
        strict,
        declared,
        problem.cost_with_signature(theta),
    )
}

/// [`base`], given `J(θ)` and its signature as the problem's `cost_with_signature` returned
/// them.
pub(crate) fn base_at<P: Problem + ?Sized>(
    problem: &P,
    theta: &[f64],
    strict: bool,
    declared: Option<Precision>,
    at_theta: Result<(f64, Option<u64>)>,
) -> Result<(Base, NoiseEstimate)> {
    let (cost, signature) = at_theta?;
    let cost = finite_cost(cost, || "at the unperturbed parameters".to_string())?;
    let start = Instant::now();
    let measured = estimate_noise(
        |point| {
            finite_cost(problem.cost(point)?, || {
                "near the parameters (while measuring its noise)".to_string()
            })
        },
        theta,
        cost,
        declared,
    );
    let noise = match measured {
        Ok(noise) => noise,
        Err(error) if strict => return Err(error),
        Err(_) => {
            let precision = declared.unwrap_or_default();
            NoiseEstimate {
                sigma: precision.unit_roundoff() / 2.0 * cost.abs(),
                status: NoiseStatus::Unsettled,
                evaluations: 0,
                precision,
                spacing: 0.0,
            }
        }
    };
    let seconds_per_evaluation = start.elapsed().as_secs_f64() / noise.evaluations.max(1) as f64;
    let base = Base {
        cost,
        signature,
        sigma: noise.sigma,
        unit_roundoff: noise.precision.unit_roundoff(),
        precision: noise.precision,
        seconds_per_evaluation,
    };
    Ok((base, noise))
}

/// The state of differencing along one line `t ↦ θ + t·d`, with `d` given as
/// `(coordinate, weight)` pairs: `point` is `θ` and is always restored.
pub(crate) struct Line<'a, P: ?Sized> {
    pub(crate) problem: &'a P,
    pub(crate) point: &'a mut Vec<f64>,
    pub(crate) direction: Vec<(usize, f64)>,
    pub(crate) base: Base,
    /// The problem's fast path for single-coordinate lines, if any.
    pub(crate) fast: Option<&'a dyn CoordinateCosts>,
    pub(crate) evaluations: usize,
}

impl<P: Problem + ?Sized> Line<'_, P> {
    /// `max |θⱼ|` over the coordinates the line moves.
    fn scale(&self) -> f64 {
        self.direction
            .iter()
            .fold(0.0_f64, |m, &(j, _)| m.max(self.point[j].abs()))
    }

    /// `J` and its signature at `θ + offset·h·d`.
    fn sample(&mut self, offset: f64, h: f64) -> Result<(f64, Option<u64>)> {
        if offset == 0.0 {
            return Ok((self.base.cost, self.base.signature));
        }
        let result = match (self.fast, self.direction.as_slice()) {
            (Some(fast), &[(j, w)]) => fast.cost(j, self.point[j] + offset * h * w),
            _ => {
                let originals: Vec<f64> =
                    self.direction.iter().map(|&(j, _)| self.point[j]).collect();
                for (&(j, w), &original) in self.direction.iter().zip(&originals) {
                    self.point[j] = original + offset * h * w;
                }
                let result = self.problem.cost_with_signature(self.point);
                for (&(j, _), &original) in self.direction.iter().zip(&originals) {
                    self.point[j] = original;
                }
                result
            }
        };
        self.evaluations += 1;
        let (value, signature) = result?;
        let value = finite_cost(value, || {
            let loc = match self.direction.as_slice() {
                [(j, _)] => self
                    .problem
                    .layout()
                    .locate(*j)
                    .map(|l| l.to_string())
                    .unwrap_or_default(),
                _ => format!(
                    "θ along a check direction over {} coordinates",
                    self.direction.len()
                ),
            };
            let sign = if offset > 0.0 { "+" } else { "−" };
            let times = if offset.abs() == 1.0 {
                String::new()
            } else {
                offset.abs().to_string()
            };
            format!("at {loc} {sign} {times}ε (ε = {h:e})")
        })?;
        Ok((value, signature))
    }

    /// The method's derivative at step `h`, its truncation estimate (the method's own, or from
    /// repeating the difference at `2h`), and whether the points used lie on different pieces
    /// of the cost. When `settled(value)` says the value needs no error estimate, and its points
    /// lie on one piece, the truncation estimate is skipped (reported as 0).
    fn difference(
        &mut self,
        method: Method,
        h: f64,
        settled: &dyn Fn(f64) -> bool,
    ) -> Result<(f64, f64, bool)> {
        let stencil = method.stencil();
        let mut samples: Vec<(f64, f64, Option<u64>)> = Vec::new();
        let combine = |this: &mut Self,
                       samples: &mut Vec<(f64, f64, Option<u64>)>,
                       stencil: &[(f64, f64)],
                       scale: f64|
         -> Result<f64> {
            let mut sum = 0.0;
            for &(offset, weight) in stencil {
                let at = offset * scale;
                let value = match samples.iter().find(|(o, _, _)| *o == at) {
                    Some(&(_, v, _)) => v,
                    None => {
                        let (v, s) = this.sample(at, h)?;
                        samples.push((at, v, s));
                        v
                    }
                };
                sum += weight * value;
            }
            Ok(sum / (scale * h))
        };
        let value = combine(self, &mut samples, &stencil, 1.0)?;
        let one_piece = {
            let mut pieces = samples.iter().map(|(_, _, s)| *s);
            let first = pieces.next().flatten();
            pieces.all(|s| s == first)
        };
        if one_piece && settled(value) {
            return Ok((value, 0.0, false));
        }
        let truncation = match method.error_stencil() {
            Some(error) => combine(self, &mut samples, &error, 1.0)?.abs(),
            None => {
                let wide = combine(self, &mut samples, &stencil, 2.0)?;
                (wide - value).abs() / (2f64.powi(method.order()) - 1.0)
            }
        };
        let crossed = if samples.iter().any(|(_, _, s)| s.is_some()) {
            let mut pieces = samples.iter().map(|(_, _, s)| *s);
            let first = pieces.next().flatten();
            pieces.any(|s| matches!((first, s), (Some(a), Some(b)) if a != b))
        } else {
            self.one_sided_slopes_jump(&samples, h)
        };
        Ok((value, truncation, crossed))
    }

    /// The generic kink test, for costs without a signature. The gap between the one-sided
    /// slopes at distance `o·h`, `r(o) = (J(θ+oh) − 2J(θ) + J(θ−oh)) / oh`, is `o·h·J''` on a
    /// smooth cost, so doubling `o` doubles it; across a kink it is the jump of the slope, which
    /// does not grow. A kink is reported when `r(2o)` differs from `2·r(o)` by more than a quarter
    /// of `r(2o)` and by more than the noise allows.
    fn one_sided_slopes_jump(&self, samples: &[(f64, f64, Option<u64>)], h: f64) -> bool {
        let at = |o: f64| samples.iter().find(|(x, _, _)| *x == o).map(|&(_, v, _)| v);
        let gap =
            |o: f64| -> Option<f64> { Some((at(o)? - 2.0 * self.base.cost + at(-o)?) / (o * h)) };
        let mut offsets: Vec<f64> = samples
            .iter()
            .map(|(o, _, _)| *o)
            .filter(|o| *o > 0.0)
            .collect();
        offsets.sort_by(f64::total_cmp);
        offsets.iter().any(|&o| match (gap(o), gap(2.0 * o)) {
            (Some(near), Some(far)) => {
                let noise = 4.0
                    * self
                        .base
                        .sigma
                        .max(self.base.unit_roundoff * self.base.cost.abs())
                    / (o * h);
                let excess = (far - 2.0 * near).abs();
                excess > 0.25 * far.abs() && excess > NOISE_SAFETY_FACTOR * noise
            }
            _ => false,
        })
    }
}

/// Fails unless `theta` has the layout's length and only finite values (naming the first that
/// is not).
pub(crate) fn expect_parameters(layout: &Layout, theta: &[f64]) -> Result<()> {
    layout.expect_len("parameters θ", theta.len())?;
    match theta.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(i) => Err(Error::NonFinite {
            what: format!("parameter {}", layout.locate(i)?),
            value: theta[i],
            location: "in the parameters given to the checker".to_string(),
        }),
    }
}

/// Passes a finite cost through; NaN or ±inf becomes [`Error::NonFinite`] saying where.
pub(crate) fn finite_cost(value: f64, location: impl FnOnce() -> String) -> Result<f64> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(Error::NonFinite {
            what: "cost".to_string(),
            value,
            location: location(),
        })
    }
}

impl Checker {
    /// The error bound of a numeric derivative: the noise of `J` amplified by the stencil and
    /// divided by the step, the error of representing `θ ± h` (in the cost's precision, unit
    /// roundoff `u`: a cost computed in `f32` rounds its parameters to `f32`), and the
    /// truncation estimate.
    fn error_bound(
        &self,
        step: f64,
        truncation: f64,
        (sigma, u): (f64, f64),
        theta_scale: f64,
        derivative_scale: f64,
    ) -> f64 {
        (self.method.noise_gain() * sigma + derivative_scale * u * (theta_scale + step)) / step
            + truncation
    }

    /// The derivative along one line (a coordinate, or a direction): pick the step,
    /// difference, and shrink the step while a kink is crossed. With the analytic value as a
    /// `hint`, a difference that agrees with it within its roundoff bound is taken as it is,
    /// without a truncation estimate. The error bound scales the rounding of `θ ± h` by
    /// `derivative_scale` (by default the derivative's own size).
    pub(crate) fn derivative<P: Problem + ?Sized>(
        &self,
        c: &mut Line<'_, P>,
        hint: Option<f64>,
        derivative_scale: Option<f64>,
    ) -> Result<Derivative> {
        let theta_i = c.scale();
        let u = c.base.unit_roundoff;
        // On a single coordinate, round the step so that the points the stencil evaluates are
        // exactly θᵢ + o·h in the cost's precision (a cost computed in f32 rounds its inputs to
        // f32), or at least θᵢ + h in f64.
        let exact = match c.direction.as_slice() {
            &[(j, w)] if w.abs() == 1.0 => {
                let at = c.point[j];
                // Every point, truncation estimate included, when the binades allow it; else the
                // stencil's own points.
                let all = self.method.sampled_offsets();
                let own: Vec<f64> = self.method.stencil().iter().map(|(o, _)| *o).collect();
                let precision = c.base.precision;
                Some(move |h: f64| match precision {
                    Precision::F64 => (theta_i + h) - theta_i,
                    _ => precision
                        .exact_step(at, h, &all)
                        .or_else(|| precision.exact_step(at, h, &own))
                        .unwrap_or((theta_i + h) - theta_i),
                })
            }
            _ => None,
        };
        let exact = |h: f64| exact.as_ref().map_or(h, |round| round(h));
        let mut step = match self.step {
            StepRule::Fixed(h) => h,
            StepRule::Scaled(_) => exact(self.step.step_for(self.method, theta_i, u)),
            StepRule::Adaptive => exact(self.adaptive_step(c)?),
        };
        let mut tries = 0;
        let noise = (c.base.sigma, u);
        loop {
            let settled = |value: f64| {
                hint.is_some_and(|g| {
                    let bound = self.error_bound(step, 0.0, noise, theta_i, value.abs());
                    (g - value).abs() <= NOISE_SAFETY_FACTOR * bound
                })
            };
            let (value, truncation, crossed) = c.difference(self.method, step, &settled)?;
            tries += 1;
            if !crossed || tries > KINK_RETRIES {
                let derivative_scale = derivative_scale.unwrap_or(value.abs());
                return Ok(Derivative {
                    value,
                    bound: self.error_bound(step, truncation, noise, theta_i, derivative_scale),
                    kink: crossed,
                    evaluations: c.evaluations,
                });
            }
            step = match self.step {
                StepRule::Fixed(_) => step / KINK_STEP_DIVISOR,
                _ => exact(step / KINK_STEP_DIVISOR),
            };
        }
    }

    /// The step minimising `C·hᵖ + gain·σ/h`, with `C` read off a pilot difference at the
    /// scaled step and twice it. Falls back to the pilot step when the pilot straddles a kink
    /// or shows no truncation at all.
    fn adaptive_step<P: Problem + ?Sized>(&self, c: &mut Line<'_, P>) -> Result<f64> {
        let pilot = self
            .step
            .step_for(self.method, c.scale(), c.base.unit_roundoff);
        let (_, truncation, crossed) = c.difference(self.method, pilot, &|_| false)?;
        let p = f64::from(self.method.order());
        if crossed || truncation == 0.0 || c.base.sigma == 0.0 {
            return Ok(pilot);
        }
        let scale = truncation / pilot.powf(p);
        let best = (self.method.noise_gain() * c.base.sigma / (p * scale)).powf(1.0 / (p + 1.0));
        // Trust the model of the error only within a few decades of the pilot.
        Ok(best.clamp(pilot * 1e-3, pilot * 1e2))
    }
}
