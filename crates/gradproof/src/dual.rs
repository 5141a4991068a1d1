//! Exact checks ([`Method::Dual`](crate::Method::Dual)): the oracle is the problem's own exact
//! directional derivative `∇J(θ)·v` ([`Problem::directional_derivative`], one forward pass in
//! dual numbers for a model written generically over its scalar type), not a finite difference.
//! No step, so no truncation error, no roundoff amplified by `1/h`, no noise measurement and no
//! kinks: what is left between the oracle and a correct hand-written gradient is the rounding of
//! two different evaluation orders of the same sums, a few ulps of the terms (see
//! [`DUAL_ROUNDING_ULPS`]).
//!
//! * exhaustive (or sampled) mode: one dual pass per coordinate (`v = eᵢ`) gives the exact partial
//!   derivative, judged element by element like a finite-difference oracle;
//! * directional mode: one pass for the whole model, one per tensor, then the bisection of
//!   [`crate::directional`] inside failing tensors, each probe one pass.
//!
//! Knows nothing of neural networks or of dual numbers themselves.

use std::time::Instant;

use rayon::prelude::*;

use crate::check::{Checker, NOISE_SAFETY_FACTOR, Oracle, finite_cost};
use crate::difference::quotient;
use crate::directional::{Probe, tensor_rows, weights};
use crate::error::{Error, Result};
use crate::layout::{Layout, Tensors};
use crate::mode::Mode;
use crate::noise::NoiseStatus;
use crate::problem::Problem;
use crate::report::Report;

/// The rounding allowance of an exact check, in units of `ε_mach` times a scale of the terms.
///
/// The dual pass and the hand-written backward pass compute the same partial derivative as sums
/// of the same products, in different orders and with differently rounded factors (e.g.
/// `σ(z) − y` against the derivative of `log(1 + e^(−|z|))`). Each side's error is then at most
/// a few ulps of the *terms* of those sums, not of the result (a coordinate whose per-example
/// terms cancel to almost nothing is still off by ulps of the terms). The terms are not seen from
/// outside, so their scale is taken as the largest partial derivative of the whole gradient:
/// coordinate `i` of the oracle gets the bound
///
/// `bᵢ = DUAL_ROUNDING_ULPS · ε_mach · (|dᵢ| + ‖d‖_∞)`,
///
/// and, as for finite differences, agrees when `|gᵢ − dᵢ| ≤ NOISE_SAFETY_FACTOR · bᵢ` (128 ulps
/// of the scale in all, ≈ 2.8e-14 of it). A directional probe of a group `G` along weights `v`
/// gets `DUAL_ROUNDING_ULPS · ε_mach · (Σ_G |gᵢvᵢ| + |∇J·v| + ‖g‖_∞ · max_G |vᵢ|)`.
/// Over 200 random networks (every activation, kinks, saturated sigmoids, L2, class weights,
/// dropout, up to 64 examples) the largest error seen is 0.32 `bᵢ` (1/25 of the allowance) and
/// the largest per-tensor relative difference 9.2e-15, while the smallest bug of the meta-test
/// catalogue (one element off by 1e-4 of itself) sits ten orders of magnitude above. A
/// coordinate smaller than the allowance itself (below ~3e-14 of the largest partial) agrees but
/// is counted *unresolved*: 28 of 93,291 coordinates there. A user's [`Checker::tolerance`]
/// replaces the allowance.
pub const DUAL_ROUNDING_ULPS: f64 = 16.0;

/// What an exact oracle holds, handed to [`Oracle`]'s constructor.
pub(crate) struct Exact {
    pub(crate) cost: f64,
    pub(crate) numeric: Vec<f64>,
    pub(crate) checked: Vec<bool>,
    pub(crate) bound: Vec<f64>,
    pub(crate) evaluations: usize,
    pub(crate) seconds: f64,
}

/// The error for a problem without exact directional derivatives.
fn unsupported() -> Error {
    Error::Unsupported {
        what: "method dual",
        reason: "this model does not provide exact directional derivatives \
                 (Problem::directional_derivative); use a finite-difference method \
                 (forward, central, central4 or richardson)",
    }
}

/// `∇J(θ)·v`, finite, or the error saying why not; `along` names the direction for messages.
fn derivative<P: Problem + ?Sized>(
    problem: &P,
    theta: &[f64],
    direction: &[f64],
    along: impl FnOnce() -> String,
) -> Result<f64> {
    let value = problem
        .directional_derivative(theta, direction)
        .ok_or_else(unsupported)??;
    if value.is_finite() {
        Ok(value)
    } else {
        Err(Error::NonFinite {
            what: "the exact directional derivative".to_string(),
            value,
            location: format!("along {}", along()),
        })
    }
}

/// Fails unless `theta` fits the layout and is finite; then `J(θ)`, finite.
fn cost_at<P: Problem + ?Sized>(problem: &P, theta: &[f64]) -> Result<f64> {
    Tensors::new(problem.layout().clone(), theta.to_vec())?.expect_finite("parameter")?;
    finite_cost(problem.cost(theta)?, || {
        "at the unperturbed parameters".to_string()
    })
}

/// The exact partial derivatives `∂J/∂θᵢ` for the `coordinates`, one dual pass each, in
/// parallel. The first is computed alone, so a problem without a dual path fails at once.
fn partials<P: Problem + ?Sized>(
    problem: &P,
    theta: &[f64],
    coordinates: &[usize],
) -> Result<Vec<f64>> {
    let Some((&first, rest)) = coordinates.split_first() else {
        return Ok(Vec::new());
    };
    let layout = problem.layout();
    let along = |v: &mut Vec<f64>, &i: &usize| {
        v[i] = 1.0;
        let d = derivative(problem, theta, v, || {
            layout
                .locate(i)
                .map_or_else(|_| format!("coordinate {i}"), |l| l.to_string())
        });
        v[i] = 0.0;
        d
    };
    let head = along(&mut vec![0.0; theta.len()], &first)?;
    let tail: Vec<Result<f64>> = rest
        .par_iter()
        .map_init(|| vec![0.0; theta.len()], along)
        .collect();
    std::iter::once(Ok(head)).chain(tail).collect()
}

/// The exact gradient, one dual pass per coordinate (what
/// [`Checker::numeric_gradient`] returns for [`Method::Dual`](crate::Method::Dual)).
pub(crate) fn exact_gradient<P: Problem + ?Sized>(problem: &P, theta: &[f64]) -> Result<Vec<f64>> {
    problem.layout().expect_len("parameters θ", theta.len())?;
    Tensors::new(problem.layout().clone(), theta.to_vec())?.expect_finite("parameter")?;
    let all: Vec<usize> = (0..theta.len()).collect();
    partials(problem, theta, &all)
}

/// The exact oracle at `theta`: the partial derivatives of every coordinate the mode checks (all
/// of them for the directional mode, as for finite differences), with their rounding bounds.
pub(crate) fn oracle<P: Problem + ?Sized>(
    checker: &Checker,
    problem: &P,
    theta: &[f64],
) -> Result<Oracle> {
    let start = Instant::now();
    let layout = problem.layout();
    let cost = cost_at(problem, theta)?;
    let coordinates = checker.coordinates(layout);
    let values = partials(problem, theta, &coordinates)?;
    let n = layout.len();
    let (mut numeric, mut checked) = (vec![0.0; n], vec![false; n]);
    for (&i, &d) in coordinates.iter().zip(&values) {
        numeric[i] = d;
        checked[i] = true;
    }
    let scale = values.iter().fold(0.0_f64, |m, d| m.max(d.abs()));
    let bound = numeric
        .iter()
        .map(|d| DUAL_ROUNDING_ULPS * f64::EPSILON * (d.abs() + scale))
        .collect();
    let parts = Exact {
        cost,
        numeric,
        checked,
        bound,
        evaluations: 1 + coordinates.len(),
        seconds: start.elapsed().as_secs_f64(),
    };
    Ok(Oracle::exact(checker, layout, parts))
}

/// The exact check of `analytic` at `theta`, in the checker's mode.
pub(crate) fn check<P: Problem + ?Sized>(
    checker: &Checker,
    problem: &P,
    theta: &[f64],
    analytic: &Tensors,
) -> Result<Report> {
    match checker.mode {
        Mode::Directional { top } => directional(checker, problem, theta, analytic, top),
        Mode::Exhaustive | Mode::Sampled { .. } => oracle(checker, problem, theta)?.judge(analytic),
    }
}

/// The directional check with exact probes: one dual pass along the whole seeded direction, one
/// per tensor, and one per group the bisection of a failing tensor visits.
fn directional<P: Problem + ?Sized>(
    checker: &Checker,
    problem: &P,
    theta: &[f64],
    analytic: &Tensors,
    top: usize,
) -> Result<Report> {
    let start = Instant::now();
    let layout: &Layout = problem.layout();
    let cost = cost_at(problem, theta)?;
    let n = layout.len();
    let weights = weights(checker.seed, n);
    let gradient = analytic.values();
    let gradient_scale = gradient.iter().fold(0.0_f64, |m, g| m.max(g.abs()));
    let probe = |group: &[usize]| -> Result<Probe> {
        let mut direction = vec![0.0; n];
        let (mut analytic, mut terms, mut widest) = (0.0, 0.0, 0.0_f64);
        for &i in group {
            direction[i] = weights[i];
            analytic += gradient[i] * weights[i];
            terms += (gradient[i] * weights[i]).abs();
            widest = widest.max(weights[i].abs());
        }
        let numeric = derivative(problem, theta, &direction, || {
            format!("a check direction over {} coordinates", group.len())
        })?;
        Ok(Probe {
            analytic,
            numeric,
            bound: DUAL_ROUNDING_ULPS
                * f64::EPSILON
                * (terms + numeric.abs() + gradient_scale * widest),
            kink: false,
            evaluations: 1,
        })
    };
    let everything: Vec<usize> = (0..n).collect();
    let whole = probe(&everything)?;
    let (tensors, spent) = tensor_rows(layout, gradient, &weights, &probe, top)?;
    let scale = whole.analytic.abs() + whole.numeric.abs();
    Ok(Report {
        mode: checker.mode,
        tolerance: None,
        method: checker.method,
        step: checker.step,
        epsilon: 0.0,
        parameters: n,
        cost,
        noise: 0.0,
        noise_status: NoiseStatus::NotNeeded,
        difference: quotient(whole.error(), scale),
        noise_threshold: quotient(NOISE_SAFETY_FACTOR * whole.bound, scale),
        seed_threshold: checker.threshold,
        tensors,
        evaluations: 1 + whole.evaluations + spent,
        seconds: start.elapsed().as_secs_f64(),
    })
}
