//! Directional checks by finite differences: compare `∇J·v` from the hand-written gradient with
//! the finite difference of `t ↦ J(θ + t·v)` along a random direction `v` (weights
//! `±U(0.5, 1.5)`: random signs alone let a swap of two elements cancel half the time), for the
//! whole model and for each tensor (a tensor's agreeing probe confirmed along a second direction),
//! then localise the wrong elements of a failing tensor by [bisection](crate::bisection). Cost:
//! O(T + top·log n) directional derivatives instead of O(n) coordinates. Knows nothing of neural
//! networks.

use crate::base::{Base, base};
use crate::bisection::{
    Directions, Pieces, Share, WholeProbe, second_weights, tensor_rows, weights, whole_check,
};
use crate::derivative::Derivative;
use crate::error::Result;
use crate::layout::Tensors;
use crate::line::Line;
use crate::problem::Problem;
use crate::report::Report;
use crate::settings::Checker;

/// Everything a probe needs, shared by all threads.
struct Context<'a, P: ?Sized> {
    checker: &'a Checker,
    problem: &'a P,
    theta: &'a [f64],
    sides: Directions<'a>,
    base: Base,
}

impl<P: Problem + ?Sized> Context<'_, P> {
    /// The finite-difference derivative along the direction of the coordinates `group` weighted
    /// by `weights`, its bound scaled by the analytic terms `Σ |gᵢvᵢ|`; a disagreement at a step
    /// far above the natural one [`confirmed`](Checker::confirmed) there.
    fn probe(&self, group: &[usize], weights: &[f64]) -> Result<Derivative> {
        let mut point = self.theta.to_vec();
        let direction: Vec<(usize, f64)> = group.iter().map(|&i| (i, weights[i])).collect();
        let mut line = Line {
            problem: self.problem,
            point: &mut point,
            direction: &direction,
            base: self.base,
            fast: None,
            evaluations: 0,
            scratch: Vec::new(),
            prefetched: None,
        };
        let gradient_scale: f64 = group
            .iter()
            .map(|&i| (self.sides.gradient[i] * weights[i]).abs())
            .sum();
        let analytic: f64 = group
            .iter()
            .map(|&i| self.sides.gradient[i] * weights[i])
            .sum();
        let found = self
            .checker
            .derivative(&mut line, None, Some(gradient_scale))?;
        self.checker
            .confirmed(&mut line, found, analytic, Some(gradient_scale))
    }
}

/// The directional check of `analytic` at `theta`.
pub(crate) fn check<P: Problem + ?Sized>(
    checker: &Checker,
    problem: &P,
    theta: &[f64],
    analytic: &Tensors,
    top: usize,
) -> Result<Report> {
    whole_check(checker, problem.layout(), |share| {
        pieces(checker, problem, theta, analytic, top, share)
    })
}

/// The pieces of the directional check of `analytic` at `theta` that `share` covers. `J(θ)` and
/// the noise are measured whatever the share (a deterministic measurement: every shard agrees).
pub(crate) fn pieces<P: Problem + ?Sized>(
    checker: &Checker,
    problem: &P,
    theta: &[f64],
    analytic: &Tensors,
    top: usize,
    share: Share<'_>,
) -> Result<Pieces> {
    let layout = problem.layout();
    let (base, noise) = base(problem, theta, true, checker)?;
    let weights = weights(checker.seed, layout.len());
    let context = Context {
        checker,
        problem,
        theta,
        sides: Directions {
            gradient: analytic.values(),
            weights: &weights,
        },
        base,
    };
    let whole = if share.whole {
        let everything: Vec<usize> = (0..layout.len()).collect();
        Some(WholeProbe {
            analytic: context.sides.analytic(&everything),
            derivative: context.probe(&everything, &weights)?,
        })
    } else {
        None
    };
    let second = second_weights(checker.seed, layout.len());
    let confirming = Directions {
        gradient: analytic.values(),
        weights: &second,
    };
    let probe = |group: &[usize], weights: &[f64]| context.probe(group, weights);
    let rows = tensor_rows(
        layout,
        [&context.sides, &confirming],
        &probe,
        top,
        share.tensors,
    )?;
    Ok(Pieces {
        cost: base.cost,
        noise,
        whole,
        rows,
        measured: 0,
    })
}
