//! The oracle of a coordinate check: the numeric gradient of every coordinate the mode checks (all,
//! or a seeded sample), with its error bounds and kinks, computed once in parallel with rayon
//! (each coordinate is independent, so the numbers do not depend on the thread count), and the
//! judgement of an analytic gradient against it, tensor by tensor. Knows nothing of neural
//! networks.

use std::ops::Range;
use std::time::Instant;

use crate::base::{Base, base_at, expect_parameters};
use crate::derivative::Derivative;
use crate::difference::{norm2_of, quotient};
use crate::error::Result;
use crate::layout::{Layout, Tensors};
use crate::noise::NoiseEstimate;
use crate::problem::{CoordinateCosts, Problem};
use crate::report::{Overall, Report, TensorReport, Worst, error_ratio, keep_worst, kink_floor};
use crate::settings::{Checker, NOISE_SAFETY_FACTOR, TOP_K};
use crate::verdict::NO_RELATIVE_EVIDENCE;

impl Checker {
    /// Judges `analytic` against the oracle computed from `prepared`. Knowing the analytic
    /// gradient, a coordinate that agrees within its roundoff bound needs no truncation
    /// estimate (it can only widen the bound): half the evaluations of a correct gradient. A
    /// user's tolerance replaces the bounds, so it gets the full oracle.
    pub(crate) fn judge_against<P: Problem + ?Sized>(
        &self,
        problem: &P,
        theta: &[f64],
        prepared: Prepared<'_>,
        analytic: &Tensors,
    ) -> Result<Report> {
        let hints = self.tolerance.is_none().then_some(analytic.values());
        self.oracle_from(problem, theta, prepared, hints)?
            .judge(analytic)
    }

    /// [`Checker::prepare`], evaluating `J(θ)` first (and, if it is not cheap, building the
    /// fast path while the noise is measured).
    pub(crate) fn prepare_at<'p, P: Problem + ?Sized>(
        &self,
        problem: &'p P,
        theta: &[f64],
    ) -> Result<Prepared<'p>> {
        expect_parameters(problem.layout(), theta)?;
        self.prepare(problem, theta, AtTheta::evaluate(problem, theta))
    }

    /// What every coordinate's difference needs before the first one: `J(θ)` (evaluated
    /// already), the cost's noise, and the problem's fast path (built side by side if `J` is
    /// slow).
    pub(crate) fn prepare<'p, P: Problem + ?Sized>(
        &self,
        problem: &'p P,
        theta: &[f64],
        at_theta: AtTheta,
    ) -> Result<Prepared<'p>> {
        let AtTheta {
            started: start,
            value,
            slow,
        } = at_theta;
        let measure = || base_at(problem, theta, true, self, value);
        let (measured, fast) = if slow {
            rayon::join(measure, || self.fast_path(problem, theta))
        } else {
            (measure(), self.fast_path(problem, theta))
        };
        let (base, noise) = measured?;
        Ok(Prepared {
            start,
            base,
            noise,
            fast: fast?,
        })
    }

    /// [`Checker::oracle`] from a preparation, skipping the truncation estimate of coordinates
    /// that already agree with `hints` (the analytic gradient) within their roundoff bound.
    pub(crate) fn oracle_from<P: Problem + ?Sized>(
        &self,
        problem: &P,
        theta: &[f64],
        prepared: Prepared<'_>,
        hints: Option<&[f64]>,
    ) -> Result<Oracle> {
        let layout = problem.layout();
        let start = prepared.start;
        let coordinates = self.coordinates(layout);
        let (cost, noise, derivatives) =
            self.derivatives_of(problem, theta, prepared, &coordinates, hints)?;
        Ok(Oracle::new(
            self,
            layout,
            cost,
            noise,
            &coordinates,
            &derivatives,
            start,
        ))
    }

    /// The problem's fast path for single-coordinate costs, if it has one and it is allowed.
    fn fast_path<'p, P: Problem + ?Sized>(
        &self,
        problem: &'p P,
        theta: &[f64],
    ) -> Result<Option<Box<dyn CoordinateCosts + 'p>>> {
        if !self.incremental {
            return Ok(None);
        }
        problem.coordinate_costs(theta).transpose()
    }
}

/// `J(θ)` and its signature as first evaluated (an error is kept, to be reported in its turn),
/// when, and whether it was slow enough for the work that follows to go side by side.
pub(crate) struct AtTheta {
    /// When `J(θ)` started.
    pub(crate) started: Instant,
    value: Result<(f64, Option<u64>)>,
    pub(crate) slow: bool,
}

impl AtTheta {
    pub(crate) fn evaluate<P: Problem + ?Sized>(problem: &P, theta: &[f64]) -> AtTheta {
        let started = Instant::now();
        let value = problem.cost_with_signature(theta);
        let slow = started.elapsed().as_secs_f64() > PARALLEL_EVALUATION_SECONDS;
        AtTheta {
            started,
            value,
            slow,
        }
    }
}

/// Fails unless `analytic` has the problem's layout and only finite values (naming the first
/// that is not).
pub(crate) fn expect_gradient<P: Problem + ?Sized>(problem: &P, analytic: &Tensors) -> Result<()> {
    problem.layout().expect_same(analytic.layout())?;
    analytic.expect_finite("gradient")
}

/// [`Checker::prepare`]'s result.
pub(crate) struct Prepared<'p> {
    start: Instant,
    base: Base,
    noise: NoiseEstimate,
    fast: Option<Box<dyn CoordinateCosts + 'p>>,
}

/// A cost evaluation slower than this makes the analytic gradient and the oracle's preparation
/// worth running on two threads (below it, handing work over costs more than it saves).
const PARALLEL_EVALUATION_SECONDS: f64 = 20e-6;

/// The finite-difference side of a check, computed once by [`Checker::oracle`].
#[derive(Clone, Debug)]
pub struct Oracle {
    /// The settings it was computed with (and the judgement uses).
    checker: Checker,
    layout: Layout,
    cost: f64,
    noise: NoiseEstimate,
    numeric: Vec<f64>,
    /// Coordinates evaluated (all, or the sample).
    checked: Vec<bool>,
    /// Coordinates whose perturbation crossed a kink even at the smallest step tried.
    kink: Vec<bool>,
    /// At a kink: the one-sided derivatives `[left, right]` (absent where unresolved).
    interval: Vec<Option<[f64; 2]>>,
    bound: Vec<f64>,
    evaluations: usize,
    seconds: f64,
}

impl Oracle {
    /// The oracle made of the `derivatives` of the `coordinates` (a finite difference or an
    /// exact dual-number partial each), after `J(θ) = cost`, begun at `started`.
    pub(crate) fn new(
        checker: &Checker,
        layout: &Layout,
        cost: f64,
        noise: NoiseEstimate,
        coordinates: &[usize],
        derivatives: &[Derivative],
        started: Instant,
    ) -> Oracle {
        let n = layout.len();
        let (mut numeric, mut bound) = (vec![0.0; n], vec![0.0; n]);
        let (mut checked, mut kink) = (vec![false; n], vec![false; n]);
        let mut interval = vec![None; n];
        for (&i, d) in coordinates.iter().zip(derivatives) {
            numeric[i] = d.value;
            bound[i] = d.bound;
            checked[i] = true;
            kink[i] = d.kink != crate::derivative::Kink::None;
            interval[i] = d.interval();
        }
        Oracle {
            checker: checker.clone(),
            layout: layout.clone(),
            cost,
            noise,
            numeric,
            checked,
            kink,
            interval,
            bound,
            evaluations: 1 + derivatives.iter().map(|d| d.evaluations).sum::<usize>(),
            seconds: started.elapsed().as_secs_f64(),
        }
    }

    /// The oracle with `extra` more evaluations spent (besides `J(θ)` and its coordinates': an
    /// exact check's fallback at ties measuring the cost's noise).
    pub(crate) fn spending(self, extra: usize) -> Oracle {
        Oracle {
            evaluations: self.evaluations + extra,
            ..self
        }
    }

    /// The oracle with `seconds` as the time it took (a merged oracle's: the shards' sum).
    pub(crate) fn taking(self, seconds: f64) -> Oracle {
        Oracle { seconds, ..self }
    }

    /// The numeric gradient, laid out like the parameters.
    pub fn numeric(&self) -> &[f64] {
        &self.numeric
    }

    /// The estimated error (roundoff + truncation) of each coordinate of [`Oracle::numeric`].
    pub fn bounds(&self) -> &[f64] {
        &self.bound
    }

    /// For each coordinate, whether its perturbation crossed a kink even at the smallest step.
    pub fn kinks(&self) -> &[bool] {
        &self.kink
    }

    /// For each coordinate at a kink, the one-sided derivatives `[left, right]` it is checked
    /// against (absent away from kinks, and at a kink no step could resolve). There
    /// [`Oracle::numeric`] is their midpoint and [`Oracle::bounds`] the larger of their bounds.
    pub fn intervals(&self) -> &[Option<[f64; 2]>] {
        &self.interval
    }

    /// The measured noise of the cost.
    pub fn noise(&self) -> &NoiseEstimate {
        &self.noise
    }

    /// Judges an analytic gradient against the oracle.
    ///
    /// Coordinate `i` *agrees* when `|gᵢ − ĝᵢ| ≤ NOISE_SAFETY_FACTOR · bᵢ` (or, with a
    /// [`Checker::tolerance`], when `|gᵢ − ĝᵢ| ≤ atol + rtol·|ĝᵢ|`); at a kink `ĝᵢ` is the point
    /// of the interval between the one-sided derivatives nearest to `gᵢ`, so any value inside
    /// it agrees. A tensor passes when every coordinate agrees and, without a tolerance, the
    /// relative difference of its coordinates away from kinks is within its error threshold.
    pub fn judge(&self, analytic: &Tensors) -> Result<Report> {
        let start = Instant::now();
        let layout = &self.layout;
        layout.expect_same(analytic.layout())?;
        analytic.expect_finite("gradient")?;
        let (g, numeric, bound) = (analytic.values(), &self.numeric[..], &self.bound[..]);
        let (kink, checked, interval) = (&self.kink[..], &self.checked[..], &self.interval[..]);
        // Away from kinks: a single derivative, the relative difference's coordinates.
        let smooth = |range: Range<usize>| range.filter(|&i| checked[i] && !kink[i]);
        // Compared: the smooth ones and the kinks straddled by an interval.
        let compared = |range: Range<usize>| {
            range.filter(|&i| checked[i] && (!kink[i] || interval[i].is_some()))
        };
        let straddled =
            |range: Range<usize>| range.filter(|&i| checked[i] && interval[i].is_some());
        let nearest = |i: usize| match interval[i] {
            Some([left, right]) => g[i].clamp(left.min(right), left.max(right)),
            None => numeric[i],
        };
        // The relative difference of the coordinates away from kinks and its noise threshold,
        // both over the same denominator `‖g‖ + ‖ĝ‖`; the values are gathered once, side by side.
        let mut gathered: Vec<f64> = Vec::with_capacity(4 * layout.len());
        let mut relative_difference = |range: Range<usize>| {
            gathered.clear();
            for i in smooth(range) {
                gathered.extend([g[i], numeric[i], g[i] - numeric[i], bound[i]]);
            }
            let column = |c: usize| gathered.chunks_exact(4).map(move |q| q[c]);
            let denominator = norm2_of(column(0)) + norm2_of(column(1));
            let difference = quotient(norm2_of(column(2)), denominator);
            // No coordinate away from kinks: the relative difference judges nothing, so its
            // threshold lets everything through and states no finite floor.
            let threshold = if gathered.is_empty() {
                NO_RELATIVE_EVIDENCE
            } else {
                quotient(NOISE_SAFETY_FACTOR * norm2_of(column(3)), denominator)
            };
            (difference, threshold)
        };
        // The ranking candidates and kink allowances of one tensor, the buffers reused by the next.
        let mut candidates: Vec<((f64, f64), usize)> = Vec::new();
        let mut allowances: Vec<f64> = Vec::new();
        let tensors = layout
            .tensors()
            .iter()
            .enumerate()
            .map(|(k, spec)| {
                let range = layout.range(k);
                let (difference, threshold) = relative_difference(range.clone());
                let error = |i: usize| (g[i] - nearest(i)).abs();
                let allowed = |i: usize| match self.checker.tolerance {
                    Some(t) => t.atol + t.rtol * nearest(i).abs(),
                    None => NOISE_SAFETY_FACTOR * bound[i],
                };
                // Agreeing only because the tolerance is as large as the values themselves, or
                // a kink no step could resolve.
                let size = |i: usize| {
                    let sides = interval[i].map_or(0.0, |[l, r]| l.abs().max(r.abs()));
                    g[i].abs().max(numeric[i].abs()).max(sides)
                };
                // One pass over the compared elements (the straddled kinks among them): the
                // counts, the largest error and size, the ranking keys (computed once per
                // element, not once per comparison) and the kinks' allowances.
                let (mut disagree, mut kink_outside, mut kinks) = (0, 0, 0);
                let mut scale = 0.0_f64;
                let mut max_abs_error: Option<f64> = None;
                candidates.clear();
                allowances.clear();
                for i in compared(range.clone()) {
                    let (e, a) = (error(i), allowed(i));
                    let straddles = interval[i].is_some();
                    if e > a {
                        disagree += 1;
                        kink_outside += usize::from(straddles);
                    }
                    if straddles {
                        kinks += 1;
                        allowances.push(a);
                    }
                    scale = scale.max(size(i));
                    max_abs_error = Some(max_abs_error.map_or(e, |m| m.max(e)));
                    candidates.push(((error_ratio(e, a), e), i));
                }
                // Unresolved: a bound as large as the tensor's gradient scale (not the
                // element's own value: an exact zero of a dead unit, ĝ ≈ 1e-14, is resolved
                // when its bound is far below the tensor's other values).
                let (mut count, mut unresolved) = (0, 0);
                for i in range.clone().filter(|&i| checked[i]) {
                    count += 1;
                    let no_evidence = error(i) <= allowed(i) && scale > 0.0 && allowed(i) >= scale;
                    unresolved += usize::from((kink[i] && interval[i].is_none()) || no_evidence);
                }
                keep_worst(&mut candidates, TOP_K, |&(key, _)| key);
                let top: Vec<Worst> = candidates
                    .iter()
                    .map(|&(_, i)| {
                        let (_, index) = layout.tensor_and_index(i);
                        Worst::new(index, g[i], nearest(i), allowed(i)).at_kink(interval[i])
                    })
                    .collect();
                let kink_floor = kink_floor(allowances.iter().copied(), || {
                    norm2_of(compared(range.clone()).map(|i| numeric[i]))
                });
                let within_threshold = self.checker.tolerance.is_some() || difference <= threshold;
                TensorReport {
                    name: spec.name.clone(),
                    gradient_name: format!("d{}", spec.name),
                    shape: spec.shape.clone(),
                    checked: count,
                    examined: count,
                    probes: 0,
                    agree: count - disagree - unresolved,
                    disagree,
                    unresolved,
                    kink: kinks,
                    kink_outside,
                    kink_floor,
                    difference,
                    threshold,
                    max_abs_error,
                    passed: disagree == 0 && within_threshold,
                    top,
                }
            })
            .collect();
        let (difference, noise_threshold) = relative_difference(0..layout.len());
        let overall = Overall {
            cost: self.cost,
            noise: self.noise.clone(),
            difference,
            noise_threshold,
            tolerance: self.checker.tolerance,
            evaluations: self.evaluations,
            intervals_only: smooth(0..layout.len()).next().is_none()
                && straddled(0..layout.len()).next().is_some(),
        };
        let seconds = self.seconds + start.elapsed().as_secs_f64();
        Ok(Report::assemble(
            &self.checker,
            layout.len(),
            overall,
            tensors,
            seconds,
        ))
    }
}

mod lines;

#[cfg(test)]
mod tests;
