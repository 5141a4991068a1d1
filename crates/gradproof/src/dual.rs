//! Exact checks ([`Reference::Dual`](crate::Reference::Dual)): the oracle is the problem's own exact
//! directional derivative `∇J(θ)·v` ([`Problem::directional_derivative`], one forward pass in
//! dual numbers for a model written generically over its scalar type), not a finite difference.
//! No step, so no truncation error, no roundoff amplified by `1/h`, no noise measurement: what is
//! left between the oracle and a correct hand-written gradient is the rounding of two different
//! evaluation orders of the same sums, a few ulps of the terms (see [`DUAL_ROUNDING_ULPS`]).
//!
//! * exhaustive (or sampled) mode: one dual pass per coordinate (`v = eᵢ`) gives the exact partial
//!   derivative, judged element by element like a finite-difference oracle;
//! * directional mode: one pass for the whole model, one per tensor, then the bisection of
//!   [`crate::directional`] inside failing tensors, each probe one pass.
//!
//! A pass that met a tie at a kink (recorded by the helpers of [`crate::kink`]) took one branch
//! of it where the other is as valid: that coordinate or direction falls back to the interval
//! between its one-sided finite differences, so any valid subgradient passes. Knows nothing of
//! neural networks or of dual numbers themselves.

use std::sync::OnceLock;
use std::time::Instant;

use rayon::prelude::*;

use crate::base::{Base, base, finite, finite_cost};
use crate::bisection::{
    Directions, Pieces, Share, WholeProbe, second_weights, tensor_rows, weights, whole_check,
};
use crate::derivative::Derivative;
use crate::error::{Error, Result};
use crate::kink::counting_ties;
use crate::layout::{Layout, Tensors};
use crate::line::Line;
use crate::mode::Mode;
use crate::noise::{NoiseEstimate, NoiseStatus};
use crate::oracle::Oracle;
use crate::precision::Precision;
use crate::problem::Problem;
use crate::report::Report;
use crate::settings::{Checker, DUAL_ROUNDING_ULPS};

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
    finite("the exact directional derivative", value, || {
        format!("along {}", along())
    })
}

/// Fails unless `theta` fits the layout and is finite; then `J(θ)`, finite.
pub(crate) fn cost_at<P: Problem + ?Sized>(problem: &P, theta: &[f64]) -> Result<f64> {
    Tensors::new(problem.layout().clone(), theta.to_vec())?.expect_finite("parameter")?;
    finite_cost(problem.cost(theta)?, || {
        "at the unperturbed parameters".to_string()
    })
}

/// The exact partial derivatives `∂J/∂θᵢ` for the `coordinates`, one dual pass each, in
/// parallel, each with whether its pass met a tie at a kink. The first is computed alone, so a
/// problem without a dual path fails at once.
fn partials<P: Problem + ?Sized>(
    problem: &P,
    theta: &[f64],
    coordinates: &[usize],
) -> Result<Vec<(f64, bool)>> {
    let Some((&first, rest)) = coordinates.split_first() else {
        return Ok(Vec::new());
    };
    let layout = problem.layout();
    let along = |v: &mut Vec<f64>, &i: &usize| {
        v[i] = 1.0;
        let (d, ties) = counting_ties(|| {
            derivative(problem, theta, v, || {
                layout
                    .locate(i)
                    .map_or_else(|_| format!("coordinate {i}"), |l| l.to_string())
            })
        });
        v[i] = 0.0;
        d.map(|d| (d, ties > 0))
    };
    let head = along(&mut vec![0.0; theta.len()], &first)?;
    let tail: Vec<Result<(f64, bool)>> = rest
        .par_iter()
        .map_init(|| vec![0.0; theta.len()], along)
        .collect();
    std::iter::once(Ok(head)).chain(tail).collect()
}

/// The one-sided finite differences a dual pass falls back to where it met a tie at a kink. The
/// cost's noise is measured once, when the first tie is met (a deterministic measurement, so
/// threads racing to it agree); its evaluations are counted once, by the check
/// ([`Fallback::measured`]), not by whichever straddle met it first.
pub(crate) struct Fallback<'a, P: ?Sized> {
    checker: &'a Checker,
    problem: &'a P,
    theta: &'a [f64],
    /// The base of the straddles, and the evaluations its measurement took (`J(θ)` and the
    /// noise probe).
    base: OnceLock<(Base, usize)>,
}

impl<'a, P: Problem + ?Sized> Fallback<'a, P> {
    pub(crate) fn new(checker: &'a Checker, problem: &'a P, theta: &'a [f64]) -> Self {
        Fallback {
            checker,
            problem,
            theta,
            base: OnceLock::new(),
        }
    }

    /// The interval of the one-sided derivatives along `direction` (`(coordinate, weight)`
    /// pairs), counting among its evaluations the dual pass that met the tie.
    fn straddle(
        &self,
        direction: Vec<(usize, f64)>,
        derivative_scale: Option<f64>,
    ) -> Result<Derivative> {
        let base = match self.base.get() {
            Some(&(base, _)) => base,
            None => {
                let (base, noise) = base(self.problem, self.theta, false, self.checker)?;
                self.base.get_or_init(|| (base, 1 + noise.evaluations)).0
            }
        };
        let mut point = self.theta.to_vec();
        let mut line = Line {
            problem: self.problem,
            point: &mut point,
            direction: &direction,
            base,
            fast: None,
            evaluations: 1,
            scratch: Vec::new(),
            prefetched: None,
        };
        self.checker.straddle(&mut line, derivative_scale)
    }

    /// The evaluations the straddles' base took, if a tie made one needed (else 0).
    pub(crate) fn measured(&self) -> usize {
        self.base.get().map_or(0, |&(_, evaluations)| evaluations)
    }
}

/// The rounding bound of an exact partial derivative `value`, among partials as large as
/// `scale` (the largest of the check's).
pub(crate) fn rounding_bound(value: f64, scale: f64) -> f64 {
    DUAL_ROUNDING_ULPS * f64::EPSILON * (value.abs() + scale)
}

/// The exact passes of some coordinates: each partial derivative with whether its pass met a tie,
/// and, for those that did, the interval of their one-sided finite differences.
pub(crate) type Passes = (Vec<(f64, bool)>, Vec<Option<Derivative>>);

/// The [`Passes`] of the `coordinates`.
pub(crate) fn coordinate_passes<P: Problem + ?Sized>(
    fallback: &Fallback<'_, P>,
    coordinates: &[usize],
) -> Result<Passes> {
    let values = partials(fallback.problem, fallback.theta, coordinates)?;
    let straddles: Vec<Result<Option<Derivative>>> = coordinates
        .par_iter()
        .zip(&values)
        .map(|(&i, &(_, tied))| {
            tied.then(|| fallback.straddle(vec![(i, 1.0)], None))
                .transpose()
        })
        .collect();
    Ok((values, straddles.into_iter().collect::<Result<_>>()?))
}

/// The derivative the oracle judges a coordinate by: its exact value with its rounding bound, or,
/// where its pass met a tie, its straddle.
pub(crate) fn judged(value: f64, straddle: Option<Derivative>, scale: f64) -> Derivative {
    straddle.unwrap_or_else(|| Derivative::smooth(value, rounding_bound(value, scale), 1))
}

/// The largest magnitude of the exact partials: the scale of their rounding bounds.
pub(crate) fn partials_scale(values: impl IntoIterator<Item = f64>) -> f64 {
    values.into_iter().fold(0.0_f64, |m, d| m.max(d.abs()))
}

/// The exact gradient, one dual pass per coordinate (what
/// [`Checker::numeric_gradient`] returns for [`Reference::Dual`](crate::Reference::Dual); at a
/// tie, the branch the model's helpers take).
pub(crate) fn exact_gradient<P: Problem + ?Sized>(problem: &P, theta: &[f64]) -> Result<Vec<f64>> {
    problem.layout().expect_len("parameters θ", theta.len())?;
    Tensors::new(problem.layout().clone(), theta.to_vec())?.expect_finite("parameter")?;
    let all: Vec<usize> = (0..theta.len()).collect();
    Ok(partials(problem, theta, &all)?
        .into_iter()
        .map(|(d, _)| d)
        .collect())
}

/// The exact oracle at `theta`: the partial derivatives of every coordinate the mode checks (all
/// of them for the directional mode, as for finite differences), with their rounding bounds;
/// where a pass met a tie, the interval of the one-sided finite differences.
pub(crate) fn oracle<P: Problem + ?Sized>(
    checker: &Checker,
    problem: &P,
    theta: &[f64],
) -> Result<Oracle> {
    let start = Instant::now();
    let layout = problem.layout();
    let cost = cost_at(problem, theta)?;
    let coordinates = checker.coordinates(layout);
    let fallback = Fallback::new(checker, problem, theta);
    let (values, straddles) = coordinate_passes(&fallback, &coordinates)?;
    let scale = partials_scale(values.iter().map(|&(d, _)| d));
    let derivatives: Vec<Derivative> = values
        .iter()
        .zip(straddles)
        .map(|(&(value, _), straddle)| judged(value, straddle, scale))
        .collect();
    Ok(Oracle::new(
        checker,
        layout,
        cost,
        not_measured(),
        &coordinates,
        &derivatives,
        start,
    )
    .spending(fallback.measured()))
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
    whole_check(checker, problem.layout(), |share| {
        directional_pieces(checker, problem, theta, analytic, top, share)
    })
}

/// The pieces of the exact directional check that `share` covers.
pub(crate) fn directional_pieces<P: Problem + ?Sized>(
    checker: &Checker,
    problem: &P,
    theta: &[f64],
    analytic: &Tensors,
    top: usize,
    share: Share<'_>,
) -> Result<Pieces> {
    let layout: &Layout = problem.layout();
    let cost = cost_at(problem, theta)?;
    let n = layout.len();
    let weights = weights(checker.seed, n);
    let gradient = analytic.values();
    let gradient_scale = gradient.iter().fold(0.0_f64, |m, g| m.max(g.abs()));
    let fallback = Fallback::new(checker, problem, theta);
    let probe = |group: &[usize], weights: &[f64]| -> Result<Derivative> {
        let mut direction = vec![0.0; n];
        let (mut terms, mut widest) = (0.0, 0.0_f64);
        for &i in group {
            direction[i] = weights[i];
            terms += (gradient[i] * weights[i]).abs();
            widest = widest.max(weights[i].abs());
        }
        let (value, ties) = counting_ties(|| {
            derivative(problem, theta, &direction, || {
                format!("a check direction over {} coordinates", group.len())
            })
        });
        let value = value?;
        if ties > 0 {
            let line = group.iter().map(|&i| (i, weights[i])).collect();
            return fallback.straddle(line, Some(terms));
        }
        let bound =
            DUAL_ROUNDING_ULPS * f64::EPSILON * (terms + value.abs() + gradient_scale * widest);
        Ok(Derivative::smooth(value, bound, 1))
    };
    let sides = Directions {
        gradient,
        weights: &weights,
    };
    let whole = if share.whole {
        let everything: Vec<usize> = (0..n).collect();
        Some(WholeProbe {
            analytic: sides.analytic(&everything),
            derivative: probe(&everything, &weights)?,
        })
    } else {
        None
    };
    let second = second_weights(checker.seed, n);
    let confirming = Directions {
        gradient,
        weights: &second,
    };
    let rows = tensor_rows(layout, [&sides, &confirming], &probe, top, share.tensors)?;
    Ok(Pieces {
        cost,
        noise: not_measured(),
        whole,
        rows,
        measured: fallback.measured(),
    })
}

/// The noise of an exact check: not measured, as nothing is differenced.
pub(crate) fn not_measured() -> NoiseEstimate {
    NoiseEstimate {
        sigma: 0.0,
        status: NoiseStatus::NotNeeded,
        evaluations: 0,
        precision: Precision::F64,
        spacing: 0.0,
    }
}
