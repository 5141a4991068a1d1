//! One line of a finite-difference check, `t ↦ J(θ + t·d)` along a coordinate or a direction
//! `d`: its points (the cost at `θ + o·h·d`, `θ` always restored), a difference by a method's
//! stencil with its truncation estimate, the kink test (signatures, or the generic
//! one-sided-slope test) and the step's shrinking schedule across kinks. What every line shares
//! (`J(θ)`, its signature and the measured noise) is `base`'s; the derivative a line gives
//! (shrunk across kinks, straddled at one no step avoids) is `crossing`'s; its first step and
//! error bound are `steps`'. Knows nothing of tensors, modes or reports.

use crate::base::{Base, finite_cost};
use crate::error::Result;
use crate::method::Method;
use crate::problem::{CoordinateCosts, Problem};
use crate::settings::NOISE_SAFETY_FACTOR;

/// Retries with a smaller step when a perturbation crosses a kink.
pub(crate) const KINK_RETRIES: usize = 3;
/// Each retry divides the step by this.
const KINK_STEP_DIVISOR: f64 = 16.0;

/// One cost evaluation along a line: `(offset in steps, J, signature)`.
pub(crate) type Sample = (f64, f64, Option<u64>);

/// One difference along a line and what its kink test saw.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Difference {
    /// The derivative.
    pub(crate) value: f64,
    /// Its truncation estimate (0 when the difference was settled without one).
    pub(crate) truncation: f64,
    /// `Some(jump)` when the points lie on different pieces of the cost, with the jump of the
    /// slope the generic test saw (infinite when signatures tell).
    pub(crate) crossed: Option<f64>,
    /// The gap between the one-sided slopes that the generic test measured but could not tell
    /// from the noise: the jump of a kink too small to see can be this large, and such a kink
    /// moves the difference by up to [`Method::kink_share`] of it. 0 with signatures (they see
    /// every kink) and when the difference was settled without a kink test.
    pub(crate) unseen: f64,
}

/// What the generic kink test read off the one-sided slopes.
enum SlopeGap {
    /// A kink, with about the jump of its slope.
    Kink(f64),
    /// A gap the noise could explain.
    BelowNoise(f64),
}

/// The next smaller step across a kink: `step / 16`, rounded so that `θᵢ + h` stays exact when
/// `round`.
pub(crate) fn shrink(step: f64, theta_i: f64, round: bool) -> f64 {
    let smaller = step / KINK_STEP_DIVISOR;
    if round {
        (theta_i + smaller) - theta_i
    } else {
        smaller
    }
}

/// The state of differencing along one line `t ↦ θ + t·d`, with `d` given as
/// `(coordinate, weight)` pairs: `point` is `θ` and is always restored.
pub(crate) struct Line<'a, P: ?Sized> {
    pub(crate) problem: &'a P,
    pub(crate) point: &'a mut Vec<f64>,
    pub(crate) direction: &'a [(usize, f64)],
    pub(crate) base: Base,
    /// The problem's fast path for single-coordinate lines, if any.
    pub(crate) fast: Option<&'a dyn CoordinateCosts>,
    pub(crate) evaluations: usize,
    /// A buffer for one difference's samples, reused from difference to difference (and, when
    /// the caller hands it on, from line to line): cheap costs are not outweighed by
    /// allocations.
    pub(crate) scratch: Vec<Sample>,
    /// Points the fast path was asked for ahead of the line (with another line's, see
    /// [`CoordinateCosts::costs_of_two`]): taken by the first request for exactly these values,
    /// counted as evaluations only then.
    pub(crate) prefetched: Option<Prefetched>,
}

/// The fast path's answers for a line's first points, asked for ahead of the line.
pub(crate) struct Prefetched {
    /// The values of the line's coordinate asked for, in order.
    pub(crate) values: Vec<f64>,
    /// The answers, in order, up to the error that stopped them (if any).
    pub(crate) results: Vec<(f64, Option<u64>)>,
    pub(crate) error: Option<crate::Error>,
}

impl<P: Problem + ?Sized> Line<'_, P> {
    /// `max |θⱼ|` over the coordinates the line moves.
    pub(crate) fn scale(&self) -> f64 {
        self.direction
            .iter()
            .fold(0.0_f64, |m, &(j, _)| m.max(self.point[j].abs()))
    }

    /// `J` and its signature at `θ + offset·h·d`.
    fn sample(&mut self, offset: f64, h: f64) -> Result<(f64, Option<u64>)> {
        if offset == 0.0 {
            return Ok((self.base.cost, self.base.signature));
        }
        let result = match (self.fast, self.direction) {
            (Some(fast), &[(j, w)]) => fast.cost(j, self.point[j] + offset * h * w),
            // One coordinate (most lines): moved and restored without a buffer.
            (None, &[(j, w)]) => {
                let original = self.point[j];
                self.point[j] = original + offset * h * w;
                let result = self.problem.cost_with_signature(self.point);
                self.point[j] = original;
                result
            }
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
        self.checked(offset, h, result?)
    }

    /// A sample's cost at `offset` refused when it is not finite, with where it was taken.
    fn checked(
        &self,
        offset: f64,
        h: f64,
        (value, signature): (f64, Option<u64>),
    ) -> Result<(f64, Option<u64>)> {
        let value = finite_cost(value, || {
            let loc = match self.direction {
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

    /// `Σ weight · J(θ + offset·scale·h) / (scale·h)`, reusing the `samples` already taken.
    pub(crate) fn combine(
        &mut self,
        samples: &mut Vec<Sample>,
        stencil: &[(f64, f64)],
        scale: f64,
        h: f64,
    ) -> Result<f64> {
        self.take_samples(samples, stencil, scale, h)?;
        let mut sum = 0.0;
        for &(offset, weight) in stencil {
            let at = offset * scale;
            let &(_, value, _) = samples
                .iter()
                .find(|(o, _, _)| *o == at)
                .expect("every point of the stencil was sampled");
            sum += weight * value;
        }
        Ok(sum / (scale * h))
    }

    /// Samples the stencil's points not in `samples` yet, in the stencil's order. On the fast
    /// path a line along one coordinate asks for them together (a model can share work between
    /// `θₖ + h` and `θₖ − h`); the samples, their order, the evaluation count and the first
    /// error are those of asking one at a time.
    fn take_samples(
        &mut self,
        samples: &mut Vec<Sample>,
        stencil: &[(f64, f64)],
        scale: f64,
        h: f64,
    ) -> Result<()> {
        let taken = |samples: &[Sample], at: f64| samples.iter().any(|(o, _, _)| *o == at);
        let mut batch = None;
        if let (Some(fast), Some((j, values))) =
            (self.fast, self.fast_request(samples, stencil, scale, h))
        {
            let same = |p: &Prefetched| {
                p.values.len() == values.len()
                    && p.values
                        .iter()
                        .zip(&values)
                        .all(|(a, b)| a.to_bits() == b.to_bits())
            };
            batch = Some(match self.prefetched.take() {
                Some(p) if same(&p) => (p.results.into_iter(), p.error),
                _ => {
                    let mut results = Vec::with_capacity(values.len());
                    let outcome = fast.costs(j, &values, &mut results);
                    (results.into_iter(), outcome.err())
                }
            });
        }
        for &(offset, _) in stencil {
            let at = offset * scale;
            if taken(samples, at) {
                continue;
            }
            let (v, s) = match &mut batch {
                Some((results, error)) if at != 0.0 => match results.next() {
                    Some(result) => {
                        self.evaluations += 1;
                        self.checked(at, h, result)?
                    }
                    None => match error.take() {
                        Some(error) => {
                            self.evaluations += 1;
                            return Err(error);
                        }
                        // A fast path that answered fewer points than it was asked for,
                        // without an error: the rest one at a time.
                        None => self.sample(at, h)?,
                    },
                },
                _ => self.sample(at, h)?,
            };
            samples.push((at, v, s));
        }
        Ok(())
    }

    /// What a line along one coordinate asks the fast path for in one call to sample the
    /// stencil's points not in `samples` yet: the coordinate and its values in the stencil's
    /// order, when there are at least two (a single point is asked for alone).
    pub(crate) fn fast_request(
        &self,
        samples: &[Sample],
        stencil: &[(f64, f64)],
        scale: f64,
        h: f64,
    ) -> Option<(usize, Vec<f64>)> {
        let (Some(_), &[(j, w)]) = (self.fast, self.direction) else {
            return None;
        };
        let values: Vec<f64> = stencil
            .iter()
            .map(|&(offset, _)| offset * scale)
            .filter(|&at| at != 0.0 && !samples.iter().any(|(o, _, _)| *o == at))
            .map(|at| self.point[j] + at * h * w)
            .collect();
        (values.len() >= 2).then_some((j, values))
    }

    /// The method's derivative at step `h`, its truncation estimate (the method's own, or from
    /// repeating the difference at `2h`), and what the kink test saw (see [`Difference`]).
    /// When `settled(value)` says the value needs no error estimate, and its points lie on one
    /// piece, the truncation estimate and the kink test are skipped (reported as 0 and none).
    pub(crate) fn difference(
        &mut self,
        method: Method,
        h: f64,
        settled: &dyn Fn(f64) -> bool,
    ) -> Result<Difference> {
        let mut samples = self.take_scratch();
        let difference = self.difference_in(&mut samples, method, h, settled);
        self.scratch = samples;
        difference
    }

    /// The line's sample buffer, emptied (lent by [`Line::scratch`], to be given back).
    fn take_scratch(&mut self) -> Vec<Sample> {
        let mut samples = std::mem::take(&mut self.scratch);
        samples.clear();
        samples
    }

    /// [`Line::difference`] with its samples kept in `samples` (empty on entry).
    fn difference_in(
        &mut self,
        samples: &mut Vec<Sample>,
        method: Method,
        h: f64,
        settled: &dyn Fn(f64) -> bool,
    ) -> Result<Difference> {
        let stencil = method.stencil();
        let one_sided = method.is_one_sided();
        let value = self.combine(samples, stencil, 1.0, h)?;
        // A one-sided stencil sees one side of θ only, and θ itself may share the piece of the
        // side it sees: with signatures, where θ may sit on a kink, θ − h says whether it does
        // before an agreeing value is taken as it is. Otherwise the floor stated there would be
        // the smooth one, while a wrong value, tested further, meets the kink's interval and its
        // looser bound.
        if one_sided && self.base.may_be_on_kink {
            let (v, s) = self.sample(-1.0, h)?;
            samples.push((-1.0, v, s));
        }
        let one_piece = {
            let mut pieces = samples.iter().map(|(_, _, s)| *s);
            let first = pieces.next().flatten();
            pieces.all(|s| s == first)
        };
        if one_piece && settled(value) {
            return Ok(Difference {
                value,
                truncation: 0.0,
                crossed: None,
                unseen: 0.0,
            });
        }
        let truncation = match method.error_stencil() {
            Some(error) => self.combine(samples, error, 1.0, h)?.abs(),
            None => {
                let wide = self.combine(samples, stencil, 2.0, h)?;
                (wide - value).abs() / (2f64.powi(method.order()) - 1.0)
            }
        };
        // A one-sided stencil (forward differences) sees one side only: the kink test needs
        // the other side as well (θ itself may share the signature of the side it sees).
        if one_sided {
            for offset in [-1.0, -2.0] {
                if !samples.iter().any(|(o, _, _)| *o == offset) {
                    let (v, s) = self.sample(offset, h)?;
                    samples.push((offset, v, s));
                }
            }
        }
        let (crossed, unseen) = if samples.iter().any(|(_, _, s)| s.is_some()) {
            let mut pieces = samples.iter().map(|(_, _, s)| *s);
            let first = pieces.next().flatten();
            let crossed = pieces
                .any(|s| matches!((first, s), (Some(a), Some(b)) if a != b))
                .then_some(f64::INFINITY);
            (crossed, 0.0)
        } else {
            match self.one_sided_slopes_gap(samples, h) {
                Some(SlopeGap::Kink(jump)) => (Some(jump), 0.0),
                Some(SlopeGap::BelowNoise(gap)) => (None, gap),
                None => (None, 0.0),
            }
        };
        Ok(Difference {
            value,
            truncation,
            crossed,
            unseen,
        })
    }

    /// The generic kink test, for costs without a signature. The gap between the one-sided
    /// slopes at distance `o·h`, `r(o) = (J(θ+oh) − 2J(θ) + J(θ−oh)) / oh`, is `o·h·J''` on a
    /// smooth cost, so doubling `o` doubles it; across a kink it is the jump of the slope, which
    /// does not grow. A kink is reported when `r(2o)` differs from `2·r(o)` by more than a quarter
    /// of `r(2o)` and by more than the noise allows; the excess, about the jump of the slope,
    /// is returned. An excess above the noise but below that quarter is either a kink hidden by
    /// the curvature or the smooth part's next term (`o³·h³·J⁗/2`): the excess at `2o` (two
    /// more points, `θ ± 4oh`) tells them apart, since a kink's stays the same and the smooth
    /// part's grows eightfold. Otherwise the excess at the nearest offsets is returned, as what
    /// a kink too small to tell from the noise (or from the curvature) could be.
    fn one_sided_slopes_gap(&mut self, samples: &mut Vec<Sample>, h: f64) -> Option<SlopeGap> {
        let mut offsets: Vec<f64> = samples
            .iter()
            .map(|(o, _, _)| *o)
            .filter(|o| *o > 0.0)
            .collect();
        offsets.sort_by(f64::total_cmp);
        let mut below_noise: Option<f64> = None;
        for o in offsets {
            let (Some(near), Some(far)) = (
                self.slopes_gap(samples, o, h),
                self.slopes_gap(samples, 2.0 * o, h),
            ) else {
                continue;
            };
            let excess = (far - 2.0 * near).abs();
            let noise = self.slope_noise(o * h);
            if excess > noise {
                if excess > 0.25 * far.abs() {
                    return Some(SlopeGap::Kink(excess));
                }
                // A cost that fails that far out leaves the question open, as before.
                if below_noise.is_none() {
                    for offset in [-4.0 * o, 4.0 * o] {
                        if !samples.iter().any(|(x, _, _)| *x == offset)
                            && let Ok((v, s)) = self.sample(offset, h)
                        {
                            samples.push((offset, v, s));
                        }
                    }
                    if let Some(farther) = self.slopes_gap(samples, 4.0 * o, h)
                        && (farther - 2.0 * far).abs() <= 2.0 * excess
                    {
                        return Some(SlopeGap::Kink(excess));
                    }
                }
            }
            // The nearest offsets hold the least of the smooth part (it grows as o³ there).
            below_noise.get_or_insert(excess);
        }
        below_noise.map(SlopeGap::BelowNoise)
    }

    /// `r(o) = (J(θ+oh) − 2J(θ) + J(θ−oh)) / oh` from the samples, if both points were taken.
    fn slopes_gap(&self, samples: &[Sample], o: f64, h: f64) -> Option<f64> {
        let at = |o: f64| samples.iter().find(|(x, _, _)| *x == o).map(|&(_, v, _)| v);
        Some((at(o)? - 2.0 * self.base.cost + at(-o)?) / (o * h))
    }

    /// The smallest jump of the slope the generic kink test sees at distance `h`: the noise of
    /// the gap between one-sided slopes, `4σ/h`, times the safety factor.
    pub(crate) fn slope_noise(&self, h: f64) -> f64 {
        let sigma = self
            .base
            .sigma
            .max(self.base.unit_roundoff * self.base.cost.abs());
        NOISE_SAFETY_FACTOR * 4.0 * sigma / h
    }
}
