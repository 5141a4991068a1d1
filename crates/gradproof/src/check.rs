//! The thin entry points of a check: [`check_fn`] and [`Checker::check_fn`] for closures over
//! a flat `&[f64]`, and [`Checker::check`], [`Checker::check_gradient`], [`Checker::oracle`] and
//! [`Checker::numeric_gradient`] for a [`Problem`]. They validate the settings and the inputs
//! once, then hand over to the engine the mode and method call for: the coordinate oracle, the
//! directional bisection, or the exact dual-number checks. Owns no numerics of its own.

use crate::base::expect_parameters;
use crate::error::{Error, Result};
use crate::layout::{Layout, TensorSpec, Tensors};
use crate::mode::Mode;
use crate::oracle::{AtTheta, Oracle, Prepared, expect_gradient};
use crate::points;
use crate::problem::{FnProblem, Problem};
use crate::report::Report;
use crate::settings::Checker;

/// Checks `grad` against finite differences of `cost` at `theta`, with the default [`Checker`]:
/// the first check in one call. `cost` returns `J(θ)`, `grad` the hand-written `∇J(θ)`, both
/// over the flat parameter slice; the report names the one tensor `theta` (gradient `dtheta`).
///
/// ```
/// fn main() -> gradproof::Result<()> {
///     // J(θ) = Σ θᵢ³, so ∇J = 3θ².
///     let cost = |t: &[f64]| t.iter().map(|x| x.powi(3)).sum::<f64>();
///     let grad = |t: &[f64]| t.iter().map(|x| 3.0 * x * x).collect::<Vec<f64>>();
///     let report = gradproof::check_fn(cost, grad, &[0.5, -1.0, 2.0])?;
///     assert!(report.passed(), "{report}");
///     Ok(())
/// }
/// ```
pub fn check_fn<C, G>(cost: C, grad: G, theta: &[f64]) -> Result<Report>
where
    C: Fn(&[f64]) -> f64 + Sync,
    G: Fn(&[f64]) -> Vec<f64> + Sync,
{
    Checker::new().check_fn(cost, grad, theta)
}

impl Checker {
    /// [`check_fn`] with this checker's settings.
    pub fn check_fn<C, G>(&self, cost: C, grad: G, theta: &[f64]) -> Result<Report>
    where
        C: Fn(&[f64]) -> f64 + Sync,
        G: Fn(&[f64]) -> Vec<f64> + Sync,
    {
        let layout = Layout::new([TensorSpec::new("theta", [theta.len()])])?;
        let problem = FnProblem::new(
            layout.clone(),
            |t| Ok(cost(t)),
            |t| Tensors::new(layout.clone(), grad(t)),
        );
        self.check(&problem, theta)
    }

    /// Checks the problem's own gradient at `theta` (and at the random points near it that
    /// [`Checker::points`] asks for).
    pub fn check<P: Problem + ?Sized>(&self, problem: &P, theta: &[f64]) -> Result<Report> {
        self.validate()?;
        expect_parameters(problem.layout(), theta)?;
        let mut decision = points::Decision::default();
        for k in 0..self.points {
            let at = points::point(problem.layout(), theta, self.seed, k);
            if decision.push(self.check_at(problem, &at)?) {
                break;
            }
        }
        Ok(decision.report())
    }

    /// [`Checker::check`] at one point.
    fn check_at<P: Problem + ?Sized>(&self, problem: &P, theta: &[f64]) -> Result<Report> {
        if self.exact || matches!(self.mode, Mode::Directional { .. }) {
            let analytic = problem.gradient(theta)?;
            return self.check_gradient_at(problem, theta, &analytic);
        }
        let (analytic, prepared) = self.gradient_and_preparation(problem, theta)?;
        self.judge_against(problem, theta, prepared, &analytic)
    }

    /// The problem's own gradient at `theta`, checked for shape and finiteness, and the
    /// oracle's preparation there.
    pub(crate) fn gradient_and_preparation<'p, P: Problem + ?Sized>(
        &self,
        problem: &'p P,
        theta: &[f64],
    ) -> Result<(Tensors, Prepared<'p>)> {
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
        Ok((analytic, prepared?))
    }

    /// Checks a given `analytic` gradient (e.g. from another backward pass) against the
    /// problem's cost at `theta`.
    pub fn check_gradient<P: Problem + ?Sized>(
        &self,
        problem: &P,
        theta: &[f64],
        analytic: &Tensors,
    ) -> Result<Report> {
        // Validate the settings, θ, then the gradient, before spending any cost evaluation.
        self.validate()?;
        self.expect_one_point()?;
        self.check_gradient_at(problem, theta, analytic)
    }

    /// [`Checker::check_gradient`] at one point of several (settings validated).
    fn check_gradient_at<P: Problem + ?Sized>(
        &self,
        problem: &P,
        theta: &[f64],
        analytic: &Tensors,
    ) -> Result<Report> {
        expect_parameters(problem.layout(), theta)?;
        expect_gradient(problem, analytic)?;
        if self.exact {
            return crate::dual::check(self, problem, theta, analytic);
        }
        if let Mode::Directional { top } = self.mode {
            return crate::directional::check(self, problem, theta, analytic, top);
        }
        let prepared = self.prepare_at(problem, theta)?;
        self.judge_against(problem, theta, prepared, analytic)
    }

    /// Computes the finite-difference oracle at `theta` once: the numeric gradient, the cost's
    /// noise and the error bound of every coordinate checked (all of them, or the sample of
    /// [`Mode::Sampled`]; the directional mode needs the analytic gradient, so an oracle of a
    /// directional checker is exhaustive). [`Oracle::judge`] then checks any number
    /// of analytic gradients against it without evaluating the cost again.
    pub fn oracle<P: Problem + ?Sized>(&self, problem: &P, theta: &[f64]) -> Result<Oracle> {
        self.validate()?;
        self.expect_one_point()?;
        if self.exact {
            return crate::dual::oracle(self, problem, theta);
        }
        let prepared = self.prepare_at(problem, theta)?;
        self.oracle_from(problem, theta, prepared, None)
    }

    /// A gradient handed over (or an oracle's) is known at θ only: several points need
    /// [`Checker::check`].
    fn expect_one_point(&self) -> Result<()> {
        if self.points == 1 {
            return Ok(());
        }
        Err(Error::InvalidSetting {
            name: "points",
            expected: "1 when the gradient is given at θ (check the problem's own gradient \
                       with `check` to use several points)",
            value: self.points as f64,
        })
    }

    /// `(J(θ + εeᵢ) − J(θ − εeᵢ)) / 2ε` for every coordinate, in parallel. The first failing
    /// coordinate (in layout order, whatever the thread count) is the one reported. Where the
    /// problem reports a kink crossed (see [`Problem::cost_with_signature`]), the step is
    /// shrunk as in [`Oracle`]; at a kink no step avoids, the value is the midpoint of the
    /// one-sided derivatives ([`Oracle::intervals`] has both).
    pub fn numeric_gradient<P: Problem + ?Sized>(
        &self,
        problem: &P,
        theta: &[f64],
    ) -> Result<Vec<f64>> {
        self.validate()?;
        if self.exact {
            return crate::dual::exact_gradient(problem, theta);
        }
        Ok(self
            .derivatives(problem, theta)?
            .into_iter()
            .map(|d| d.value)
            .collect())
    }
}
