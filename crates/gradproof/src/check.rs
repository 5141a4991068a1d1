//! Exhaustive centered finite differences and the verdicts drawn from them.
//!
//! For every coordinate `i`, `ĝᵢ = (J(θ + εeᵢ) − J(θ − εeᵢ)) / 2ε`, evaluated in parallel with
//! rayon (each coordinate is independent, so the numbers do not depend on the thread count).
//! The notebook's relative difference is reported overall and per tensor, and each tensor is
//! judged against a threshold derived from the floating-point error of the difference quotient
//! at the ε in use (see [`Checker`]), not against a bare magic number. Knows nothing of neural
//! networks.

use std::ops::Range;
use std::time::Instant;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::difference::{norm2_of, quotient, relative_difference};
use crate::error::{Error, Result};
use crate::layout::{Layout, Tensors};
use crate::method::{Method, StepRule};
use crate::mode::{Mode, SplitMix64};
use crate::noise::{NoiseEstimate, NoiseStatus, estimate_noise};
use crate::problem::{CoordinateCosts, Problem};
use crate::report::{Report, TensorReport, Worst};

/// The notebook's step, `epsilon = 1e-7`.
pub const SEED_EPSILON: f64 = 1e-7;
/// The notebook's threshold on the relative difference, `1e-7`.
pub const SEED_THRESHOLD: f64 = 1e-7;

/// How far above the estimated roundoff of the difference quotient a tensor's error may be before
/// it is called wrong. The roundoff estimate rests on a measured noise level that varies by up to
/// ~4× with the direction it is measured along (seen on the notebook's network), and the largest
/// of n errors sits a few standard deviations out; 8 covers both. A real bug moves the relative
/// difference by orders of magnitude more (the notebook's are 0.33 and 0.6).
pub const NOISE_SAFETY_FACTOR: f64 = 8.0;

/// Compares a hand-written gradient with centered finite differences.
///
/// The defaults are the notebook's: `ε = 1e-7`, relative-difference threshold `1e-7`. The
/// threshold gives the *seed's verdict*, shown in every report; the verdict that decides
/// [`Report::passed`] is per tensor and noise-aware:
///
/// * the cost's rounding noise `σ` is measured (ECnoise, see [`estimate_noise`]);
/// * coordinate `i` of the numeric gradient then carries a roundoff error of about
///   `bᵢ = (σ + |ĝᵢ|·u·(|θᵢ| + ε)) / ε` (the noise of `J(θ±εeᵢ)` divided by the step, plus the
///   error of `θᵢ ± ε` itself, `u` = machine epsilon);
/// * tensor `t` is correct when its relative difference is at most
///   `NOISE_SAFETY_FACTOR · ‖b_t‖ / (‖g_t‖ + ‖ĝ_t‖)` — the relative difference that roundoff
///   alone can produce.
///
/// To that roundoff bound the checker adds each coordinate's estimated truncation error
/// (see [`StepRule`]), so a large step or a low-order method does not raise false alarms.
///
/// ```
/// use gradproof::{Checker, FnProblem, Layout, TensorSpec, Tensors};
/// // J(a, b) = a²·b, with a deliberately wrong ∂J/∂b.
/// let layout = Layout::new([TensorSpec::new("a", []), TensorSpec::new("b", [])])?;
/// let l = layout.clone();
/// let problem = FnProblem::new(
///     layout,
///     |t| Ok(t[0] * t[0] * t[1]),
///     move |t| Tensors::new(l.clone(), vec![2.0 * t[0] * t[1], 2.0 * t[0] * t[0]]),
/// );
/// let report = Checker::new().check(&problem, &[1.5, -0.5])?;
/// assert!(!report.passed());
/// assert_eq!(report.failing(), ["db"]);
/// # Ok::<(), gradproof::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Checker {
    pub(crate) method: Method,
    pub(crate) step: StepRule,
    pub(crate) threshold: f64,
    pub(crate) mode: Mode,
    pub(crate) seed: u64,
    pub(crate) tolerance: Option<Tolerance>,
    pub(crate) incremental: bool,
}

impl Default for Checker {
    fn default() -> Self {
        Checker::new()
    }
}

impl Checker {
    /// A checker with the notebook's settings (`ε = 1e-7`, threshold `1e-7`).
    pub fn new() -> Self {
        Checker {
            incremental: true,
            method: Method::Central,
            step: StepRule::Fixed(SEED_EPSILON),
            threshold: SEED_THRESHOLD,
            mode: Mode::Exhaustive,
            seed: 0,
            tolerance: None,
        }
    }

    /// Sets a fixed step ε (the notebook's rule); it must be finite and > 0.
    pub fn epsilon(self, epsilon: f64) -> Result<Self> {
        self.step_rule(StepRule::Fixed(epsilon))
    }

    /// Sets the step rule (validated).
    pub fn step_rule(mut self, step: StepRule) -> Result<Self> {
        self.step = step.validated()?;
        Ok(self)
    }

    /// Sets the mode (exhaustive, sampled, directional); counts must be ≥ 1.
    pub fn mode(mut self, mode: Mode) -> Result<Self> {
        if matches!(
            mode,
            Mode::Sampled { per_tensor: 0 } | Mode::Directional { top: 0 }
        ) {
            return Err(Error::InvalidSetting {
                name: "mode count",
                expected: "at least 1",
                value: 0.0,
            });
        }
        self.mode = mode;
        Ok(self)
    }

    /// Judges coordinates allclose-style instead of by their error bound: coordinate `i` agrees
    /// when `|gᵢ − ĝᵢ| ≤ atol + rtol·|ĝᵢ|`, and a tensor passes when all its coordinates agree.
    /// Both must be finite and ≥ 0, not both 0. (The directional mode always judges by error
    /// bounds: a directional derivative has no per-element value to hold a tolerance against.)
    pub fn tolerance(mut self, rtol: f64, atol: f64) -> Result<Self> {
        for (name, value) in [("rtol", rtol), ("atol", atol)] {
            if !(value.is_finite() && value >= 0.0) {
                return Err(Error::InvalidSetting {
                    name,
                    expected: "finite and >= 0",
                    value,
                });
            }
        }
        if rtol == 0.0 && atol == 0.0 {
            return Err(Error::InvalidSetting {
                name: "rtol + atol",
                expected: "> 0 (one of them at least)",
                value: 0.0,
            });
        }
        self.tolerance = Some(Tolerance { rtol, atol });
        Ok(self)
    }

    /// Seeds the private random generator of the sampled and directional modes.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Sets the finite-difference method.
    pub fn method(mut self, method: Method) -> Self {
        self.method = method;
        self
    }

    /// Sets the seed-style threshold on the relative difference; it must be finite and > 0.
    pub fn threshold(mut self, threshold: f64) -> Result<Self> {
        if !(threshold.is_finite() && threshold > 0.0) {
            return Err(Error::InvalidSetting {
                name: "threshold",
                expected: "finite and > 0",
                value: threshold,
            });
        }
        self.threshold = threshold;
        Ok(self)
    }

    /// The nominal step: the fixed ε, or for the other rules the step at `|θᵢ| ≤ 1`.
    pub fn step(&self) -> f64 {
        self.step.step(self.method, 0.0)
    }

    /// The seed-style threshold on the relative difference.
    pub fn seed_threshold(&self) -> f64 {
        self.threshold
    }

    /// Whether coordinate checks may use the problem's fast path for `J(θ ± h·eₖ)`
    /// ([`Problem::coordinate_costs`]) when it has one (the default), or must recompute the
    /// whole cost every time (for comparisons and benchmarks).
    pub fn incremental(mut self, incremental: bool) -> Self {
        self.incremental = incremental;
        self
    }

    /// Checks the problem's own gradient at `theta`.
    pub fn check<P: Problem + ?Sized>(&self, problem: &P, theta: &[f64]) -> Result<Report> {
        expect_parameters(problem.layout(), theta)?;
        if self.method.is_exact() || matches!(self.mode, Mode::Directional { .. }) {
            let analytic = problem.gradient(theta)?;
            return self.check_gradient(problem, theta, &analytic);
        }
        // The analytic gradient and what the oracle needs first (the cost's noise, the fast
        // path) do not depend on each other: computed side by side, so that neither waits alone,
        // unless the cost is so cheap that handing work to another thread costs more. (An error
        // of J(θ) is reported after the gradient's, as `check_gradient` does.)
        let at_theta = AtTheta::evaluate(problem, theta);
        let (analytic, prepared) = if at_theta.slow {
            rayon::join(
                || problem.gradient(theta),
                || self.prepare(problem, theta, at_theta),
            )
        } else {
            (
                problem.gradient(theta),
                self.prepare(problem, theta, at_theta),
            )
        };
        let analytic = analytic?;
        expect_gradient(problem, &analytic)?;
        self.judge_against(problem, theta, prepared?, &analytic)
    }

    /// Checks a given `analytic` gradient (e.g. from another backward pass) against the
    /// problem's cost at `theta`.
    pub fn check_gradient<P: Problem + ?Sized>(
        &self,
        problem: &P,
        theta: &[f64],
        analytic: &Tensors,
    ) -> Result<Report> {
        // Validate θ, then the gradient, before spending any cost evaluation on them.
        expect_parameters(problem.layout(), theta)?;
        expect_gradient(problem, analytic)?;
        if self.method.is_exact() {
            return crate::dual::check(self, problem, theta, analytic);
        }
        if let Mode::Directional { top } = self.mode {
            return crate::directional::check(self, problem, theta, analytic, top);
        }
        let prepared = self.prepare_at(problem, theta)?;
        self.judge_against(problem, theta, prepared, analytic)
    }

    /// Judges `analytic` against the oracle computed from `prepared`. Knowing the analytic
    /// gradient, a coordinate that agrees within its roundoff bound needs no truncation
    /// estimate (it can only widen the bound): half the evaluations of a correct gradient. A
    /// user's tolerance replaces the bounds, so it gets the full oracle.
    fn judge_against<P: Problem + ?Sized>(
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

    /// Computes the finite-difference oracle at `theta` once: the numeric gradient, the cost's
    /// noise and the error bound of every coordinate checked (all of them, or the sample of
    /// [`Mode::Sampled`]; the directional mode needs the analytic gradient, so an oracle of a
    /// directional checker is exhaustive). [`Oracle::judge`] then checks any number
    /// of analytic gradients against it without evaluating the cost again.
    pub fn oracle<P: Problem + ?Sized>(&self, problem: &P, theta: &[f64]) -> Result<Oracle> {
        if self.method.is_exact() {
            return crate::dual::oracle(self, problem, theta);
        }
        let prepared = self.prepare_at(problem, theta)?;
        self.oracle_from(problem, theta, prepared, None)
    }

    /// [`Checker::prepare`], evaluating `J(θ)` first (and, if it is not cheap, building the
    /// fast path while the noise is measured).
    fn prepare_at<'p, P: Problem + ?Sized>(
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
    fn prepare<'p, P: Problem + ?Sized>(
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
        let measure = || base_at(problem, theta, true, value);
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
    fn oracle_from<P: Problem + ?Sized>(
        &self,
        problem: &P,
        theta: &[f64],
        prepared: Prepared<'_>,
        hints: Option<&[f64]>,
    ) -> Result<Oracle> {
        let Prepared {
            start,
            base,
            noise,
            fast,
        } = prepared;
        let layout = problem.layout();
        let cost = base.cost;
        let coordinates = self.coordinates(layout);
        let derivatives =
            self.derivatives_from(problem, theta, base, fast.as_deref(), &coordinates, hints)?;
        let n = layout.len();
        let (mut numeric, mut bound) = (vec![0.0; n], vec![0.0; n]);
        let (mut checked, mut kink) = (vec![false; n], vec![false; n]);
        for (&i, d) in coordinates.iter().zip(&derivatives) {
            numeric[i] = d.value;
            bound[i] = self.error_bound(d, noise.sigma, theta[i].abs(), d.value.abs());
            checked[i] = true;
            kink[i] = d.kink;
        }
        Ok(Oracle {
            layout: layout.clone(),
            method: self.method,
            step: self.step,
            epsilon: self.step(),
            seed_threshold: self.threshold,
            cost,
            noise,
            mode: self.mode,
            tolerance: self.tolerance,
            numeric,
            checked,
            kink,
            bound,
            evaluations: 1 + derivatives.iter().map(|d| d.evaluations).sum::<usize>(),
            seconds: start.elapsed().as_secs_f64(),
        })
    }

    /// `(J(θ + εeᵢ) − J(θ − εeᵢ)) / 2ε` for every coordinate, in parallel. The first failing
    /// coordinate (in layout order, whatever the thread count) is the one reported. Where the
    /// problem reports a kink crossed (see [`Problem::cost_with_signature`]), the step is
    /// shrunk as in [`Oracle`].
    pub fn numeric_gradient<P: Problem + ?Sized>(
        &self,
        problem: &P,
        theta: &[f64],
    ) -> Result<Vec<f64>> {
        if self.method.is_exact() {
            return crate::dual::exact_gradient(problem, theta);
        }
        Ok(self
            .derivatives(problem, theta)?
            .into_iter()
            .map(|d| d.value)
            .collect())
    }

    fn derivatives<P: Problem + ?Sized>(
        &self,
        problem: &P,
        theta: &[f64],
    ) -> Result<Vec<Derivative>> {
        let (base, _) = base(problem, theta, false)?;
        let all: Vec<usize> = (0..theta.len()).collect();
        let fast = self.fast_path(problem, theta)?;
        self.derivatives_from(problem, theta, base, fast.as_deref(), &all, None)
    }

    /// The coordinates the mode checks, in layout order.
    pub(crate) fn coordinates(&self, layout: &Layout) -> Vec<usize> {
        match self.mode {
            Mode::Sampled { per_tensor } => (0..layout.tensors().len())
                .flat_map(|k| {
                    let range = layout.range(k);
                    SplitMix64::new(self.seed, k as u64)
                        .sample(range.len(), per_tensor)
                        .into_iter()
                        .map(move |i| range.start + i)
                })
                .collect(),
            Mode::Exhaustive | Mode::Directional { .. } => (0..layout.len()).collect(),
        }
    }

    fn derivatives_from<P: Problem + ?Sized>(
        &self,
        problem: &P,
        theta: &[f64],
        base: Base,
        fast: Option<&dyn CoordinateCosts>,
        coordinates: &[usize],
        hints: Option<&[f64]>,
    ) -> Result<Vec<Derivative>> {
        // The fast path's signatures follow its own convention, the unperturbed one included.
        let base = match fast {
            Some(fast) => Base {
                signature: fast.base_signature(),
                ..base
            },
            None => base,
        };
        // Enough coordinates per task to amortise rayon's bookkeeping on cheap costs; the numbers
        // do not depend on it (each coordinate is computed on its own).
        let per_task = (MIN_TASK_SECONDS / (4.0 * base.seconds_per_evaluation)).ceil();
        let per_task = per_task.clamp(1.0, 1e6) as usize;
        let one = |point: &mut Vec<f64>, &i: &usize| {
            let mut line = Line {
                problem,
                point,
                direction: vec![(i, 1.0)],
                base,
                fast,
                evaluations: 0,
            };
            self.derivative(&mut line, hints.map(|h| h[i]))
        };
        if coordinates.len() <= per_task {
            // One task's worth: waking another thread would cost more than the work.
            let mut point = theta.to_vec();
            return coordinates.iter().map(|i| one(&mut point, i)).collect();
        }
        let results: Vec<Result<Derivative>> = coordinates
            .par_iter()
            .with_min_len(per_task)
            .map_init(|| theta.to_vec(), one)
            .collect();
        results.into_iter().collect()
    }

    /// The error bound of a numeric derivative: the noise of `J` amplified by the stencil and
    /// divided by the step, the error of representing `θ ± h`, and the truncation estimate.
    pub(crate) fn error_bound(
        &self,
        d: &Derivative,
        sigma: f64,
        theta_scale: f64,
        derivative_scale: f64,
    ) -> f64 {
        (self.method.noise_gain() * sigma
            + derivative_scale * f64::EPSILON * (theta_scale + d.step))
            / d.step
            + d.truncation
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

    /// The derivative along one line (a coordinate, or a direction): pick the step,
    /// difference, and shrink the step while a kink is crossed. With the analytic value as a
    /// `hint`, a difference that agrees with it within its roundoff bound is taken as it is,
    /// without a truncation estimate.
    pub(crate) fn derivative<P: Problem + ?Sized>(
        &self,
        c: &mut Line<'_, P>,
        hint: Option<f64>,
    ) -> Result<Derivative> {
        let theta_i = c.scale();
        // On a single coordinate, round the step so that θᵢ + h is exactly θᵢ + h.
        let single = c.direction.len() == 1;
        let exact = |h: f64| if single { (theta_i + h) - theta_i } else { h };
        let mut step = match self.step {
            StepRule::Fixed(h) => h,
            StepRule::Scaled(_) => exact(self.step.step(self.method, theta_i)),
            StepRule::Adaptive => exact(self.adaptive_step(c)?),
        };
        let mut tries = 0;
        let sigma = c.base.sigma;
        loop {
            let settled = |value: f64| {
                hint.is_some_and(|g| {
                    let roundoff = Derivative {
                        value,
                        step,
                        truncation: 0.0,
                        kink: false,
                        evaluations: 0,
                    };
                    let bound = self.error_bound(&roundoff, sigma, theta_i, value.abs());
                    (g - value).abs() <= NOISE_SAFETY_FACTOR * bound
                })
            };
            let (value, truncation, crossed) = c.difference(self.method, step, &settled)?;
            tries += 1;
            if !crossed || tries > KINK_RETRIES {
                return Ok(Derivative {
                    value,
                    step,
                    truncation,
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
        let pilot = self.step.step(self.method, c.scale());
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

/// Retries with a smaller step when a perturbation crosses a kink.
const KINK_RETRIES: usize = 3;
/// Each retry divides the step by this.
const KINK_STEP_DIVISOR: f64 = 16.0;

/// One numeric derivative along a line.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Derivative {
    pub(crate) value: f64,
    /// The step finally used.
    pub(crate) step: f64,
    /// Estimated truncation error.
    pub(crate) truncation: f64,
    /// True if even the smallest step tried crossed a kink.
    pub(crate) kink: bool,
    pub(crate) evaluations: usize,
}

/// What every coordinate shares: `J(θ)`, its piece signature and the cost's noise (used by the
/// adaptive rule only).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Base {
    pub(crate) cost: f64,
    pub(crate) signature: Option<u64>,
    pub(crate) sigma: f64,
    /// Wall time of one cost evaluation, as the noise probe saw it.
    pub(crate) seconds_per_evaluation: f64,
}

/// `J(θ)` and its signature as first evaluated (an error is kept, to be reported in its turn),
/// when, and whether it was slow enough for the work that follows to go side by side.
struct AtTheta {
    started: Instant,
    value: Result<(f64, Option<u64>)>,
    slow: bool,
}

impl AtTheta {
    fn evaluate<P: Problem + ?Sized>(problem: &P, theta: &[f64]) -> AtTheta {
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
fn expect_gradient<P: Problem + ?Sized>(problem: &P, analytic: &Tensors) -> Result<()> {
    problem.layout().expect_same(analytic.layout())?;
    analytic.expect_finite("gradient")
}

/// [`Checker::prepare`]'s result.
struct Prepared<'p> {
    start: Instant,
    base: Base,
    noise: NoiseEstimate,
    fast: Option<Box<dyn CoordinateCosts + 'p>>,
}

/// A cost evaluation slower than this makes the analytic gradient and the oracle's preparation
/// worth running on two threads (below it, handing work over costs more than it saves).
const PARALLEL_EVALUATION_SECONDS: f64 = 20e-6;

/// Work worth one parallel task: below it, rayon's bookkeeping costs more than it saves.
const MIN_TASK_SECONDS: f64 = 200e-6;

/// Checks `theta`, evaluates `J(θ)` with its signature and measures the cost's noise: what every
/// check needs before it differences anything (the adaptive rule picks its steps from the noise,
/// the generic kink test compares one-sided slopes with it). A check fails on a cost that is not
/// finite near θ; [`Checker::numeric_gradient`], which only differences along coordinates, falls
/// back to the cost's own rounding as its noise (`strict = false`).
pub(crate) fn base<P: Problem + ?Sized>(
    problem: &P,
    theta: &[f64],
    strict: bool,
) -> Result<(Base, NoiseEstimate)> {
    expect_parameters(problem.layout(), theta)?;
    base_at(problem, theta, strict, problem.cost_with_signature(theta))
}

/// [`base`], given `J(θ)` and its signature as the problem's `cost_with_signature` returned
/// them.
fn base_at<P: Problem + ?Sized>(
    problem: &P,
    theta: &[f64],
    strict: bool,
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
    );
    let noise = match measured {
        Ok(noise) => noise,
        Err(error) if strict => return Err(error),
        Err(_) => NoiseEstimate {
            sigma: f64::EPSILON / 2.0 * cost.abs(),
            status: NoiseStatus::Unsettled,
            evaluations: 0,
        },
    };
    let seconds_per_evaluation = start.elapsed().as_secs_f64() / noise.evaluations.max(1) as f64;
    let base = Base {
        cost,
        signature,
        sigma: noise.sigma,
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
                let noise =
                    4.0 * self.base.sigma.max(f64::EPSILON * self.base.cost.abs()) / (o * h);
                let excess = (far - 2.0 * near).abs();
                excess > 0.25 * far.abs() && excess > NOISE_SAFETY_FACTOR * noise
            }
            _ => false,
        })
    }
}

/// Fails unless `theta` has the layout's length and only finite values (naming the first that
/// is not).
fn expect_parameters(layout: &Layout, theta: &[f64]) -> Result<()> {
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

/// The finite-difference side of a check, computed once by [`Checker::oracle`].
#[derive(Clone, Debug)]
pub struct Oracle {
    layout: Layout,
    mode: Mode,
    tolerance: Option<Tolerance>,
    method: Method,
    step: StepRule,
    epsilon: f64,
    seed_threshold: f64,
    cost: f64,
    noise: NoiseEstimate,
    numeric: Vec<f64>,
    /// Coordinates evaluated (all, or the sample).
    checked: Vec<bool>,
    /// Coordinates whose perturbation crossed a kink even at the smallest step tried.
    kink: Vec<bool>,
    bound: Vec<f64>,
    evaluations: usize,
    seconds: f64,
}

impl Oracle {
    /// An exact oracle ([`Method::Dual`]): no step, no noise, no kinks.
    pub(crate) fn exact(checker: &Checker, layout: &Layout, parts: crate::dual::Exact) -> Oracle {
        Oracle {
            layout: layout.clone(),
            mode: checker.mode,
            tolerance: checker.tolerance,
            method: checker.method,
            step: checker.step,
            epsilon: 0.0,
            seed_threshold: checker.threshold,
            cost: parts.cost,
            noise: NoiseEstimate {
                sigma: 0.0,
                status: NoiseStatus::NotNeeded,
                evaluations: 0,
            },
            kink: vec![false; parts.numeric.len()],
            numeric: parts.numeric,
            checked: parts.checked,
            bound: parts.bound,
            evaluations: parts.evaluations,
            seconds: parts.seconds,
        }
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

    /// The measured noise of the cost.
    pub fn noise(&self) -> &NoiseEstimate {
        &self.noise
    }

    /// Judges an analytic gradient against the oracle.
    ///
    /// Coordinate `i` *agrees* when `|gᵢ − ĝᵢ| ≤ NOISE_SAFETY_FACTOR · bᵢ` (or, with a
    /// [`Checker::tolerance`], when `|gᵢ − ĝᵢ| ≤ atol + rtol·|ĝᵢ|`); a tensor passes when every
    /// coordinate agrees and, without a tolerance, its relative difference is within its error
    /// threshold.
    pub fn judge(&self, analytic: &Tensors) -> Result<Report> {
        let start = Instant::now();
        let layout = &self.layout;
        layout.expect_same(analytic.layout())?;
        analytic.expect_finite("gradient")?;
        let (g, numeric, bound) = (analytic.values(), &self.numeric[..], &self.bound[..]);
        let (kink, checked) = (&self.kink[..], &self.checked[..]);
        // Kink coordinates have no derivative to compare with: the verdict rests on the others.
        let resolved = |range: Range<usize>| range.filter(|&i| checked[i] && !kink[i]);
        let sampled = |range: Range<usize>| range.filter(|&i| checked[i]);
        let noise_threshold = |range: Range<usize>| {
            let denominator = norm2_of(resolved(range.clone()).map(|i| g[i]))
                + norm2_of(resolved(range.clone()).map(|i| numeric[i]));
            quotient(
                NOISE_SAFETY_FACTOR * norm2_of(resolved(range).map(|i| bound[i])),
                denominator,
            )
        };
        let resolved_difference = |range: Range<usize>| {
            quotient(
                norm2_of(resolved(range.clone()).map(|i| g[i] - numeric[i])),
                norm2_of(resolved(range.clone()).map(|i| g[i]))
                    + norm2_of(resolved(range).map(|i| numeric[i])),
            )
        };
        let tensors = layout
            .tensors()
            .iter()
            .enumerate()
            .map(|(k, spec)| {
                let range = layout.range(k);
                let difference = sampled_difference(g, numeric, sampled(range.clone()));
                let threshold = noise_threshold(range.clone());
                let error = |i: usize| (g[i] - numeric[i]).abs();
                let allowed = |i: usize| match self.tolerance {
                    Some(t) => t.atol + t.rtol * numeric[i].abs(),
                    None => NOISE_SAFETY_FACTOR * bound[i],
                };
                let disagree = resolved(range.clone())
                    .filter(|&i| error(i) > allowed(i))
                    .count();
                // Agreeing only because the tolerance is as large as the values themselves.
                let unresolved = resolved(range.clone())
                    .filter(|&i| {
                        let size = g[i].abs().max(numeric[i].abs());
                        error(i) <= allowed(i) && size > 0.0 && allowed(i) >= size
                    })
                    .count();
                let kinks = sampled(range.clone()).filter(|&i| kink[i]).count();
                let count = sampled(range.clone()).count();
                let mut order: Vec<usize> = resolved(range.clone()).collect();
                // Largest error first; ties keep layout order, so the report is deterministic.
                order.sort_by(|&i, &j| error(j).total_cmp(&error(i)));
                let top: Vec<Worst> = order
                    .iter()
                    .take(TOP_K)
                    .map(|&i| Worst {
                        index: layout.locate(i).expect("inside the layout").index,
                        analytic: g[i],
                        numeric: numeric[i],
                        bound: allowed(i),
                    })
                    .collect();
                let within_threshold =
                    self.tolerance.is_some() || resolved_difference(range.clone()) <= threshold;
                TensorReport {
                    name: spec.name.clone(),
                    gradient: format!("d{}", spec.name),
                    shape: spec.shape.clone(),
                    checked: count,
                    agree: count - disagree - kinks - unresolved,
                    disagree,
                    unresolved,
                    kink: kinks,
                    difference,
                    threshold,
                    max_abs_error: order.first().map_or(0.0, |&i| error(i)),
                    passed: disagree == 0 && within_threshold,
                    top,
                }
            })
            .collect();
        Ok(Report {
            mode: self.mode,
            tolerance: self.tolerance,
            method: self.method,
            step: self.step,
            epsilon: self.epsilon,
            parameters: layout.len(),
            cost: self.cost,
            noise: self.noise.sigma,
            noise_status: self.noise.status,
            difference: sampled_difference(g, numeric, sampled(0..layout.len())),
            noise_threshold: noise_threshold(0..layout.len()),
            seed_threshold: self.seed_threshold,
            tensors,
            evaluations: self.evaluations + self.noise.evaluations,
            seconds: self.seconds + start.elapsed().as_secs_f64(),
        })
    }
}

/// The notebook's relative difference over the coordinates `indices`.
fn sampled_difference(g: &[f64], numeric: &[f64], indices: impl Iterator<Item = usize>) -> f64 {
    let indices: Vec<usize> = indices.collect();
    let (a, n): (Vec<f64>, Vec<f64>) = indices.iter().map(|&i| (g[i], numeric[i])).unzip();
    relative_difference(&a, &n)
}

/// An allclose-style tolerance set by the user (see [`Checker::tolerance`]).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tolerance {
    /// Relative tolerance.
    pub rtol: f64,
    /// Absolute tolerance.
    pub atol: f64,
}

/// Elements listed per tensor in [`TensorReport::top`].
pub const TOP_K: usize = 5;
