//! What every line of a check shares, measured once before the first: `J(θ)` with its piece
//! signature, the cost's noise and precision, whether θ may sit on a kink; and the checks on
//! the parameters and the cost's values that every entry point makes. Knows nothing of lines,
//! tensors or reports.

use std::time::Instant;

use crate::error::{Error, Result};
use crate::layout::Layout;
use crate::noise::{NoiseEstimate, NoiseStatus, estimate_noise};
use crate::precision::Precision;
use crate::problem::Problem;
use crate::settings::Checker;

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
    /// Whether θ may sit on a kink (see [`Problem::on_kink`]): true unless the problem says not.
    pub(crate) may_be_on_kink: bool,
}

/// Checks `theta`, evaluates `J(θ)` with its signature and measures the cost's noise: what every
/// check needs before it differences anything (the adaptive rule picks its steps from the noise,
/// the generic kink test compares one-sided slopes with it). A check fails on a cost that is not
/// finite near θ; [`Checker::numeric_gradient`], which only differences along coordinates, falls
/// back to the cost's own rounding as its noise (`strict = false`). The `checker` gives the
/// cost's precision if the user declared it, and the method. Validates `theta` first.
pub(crate) fn base<P: Problem + ?Sized>(
    problem: &P,
    theta: &[f64],
    strict: bool,
    checker: &Checker,
) -> Result<(Base, NoiseEstimate)> {
    expect_parameters(problem.layout(), theta)?;
    base_at(
        problem,
        theta,
        strict,
        checker,
        problem.cost_with_signature(theta),
    )
}

/// [`base`], given `J(θ)` and its signature as the problem's `cost_with_signature` returned
/// them.
pub(crate) fn base_at<P: Problem + ?Sized>(
    problem: &P,
    theta: &[f64],
    strict: bool,
    checker: &Checker,
    at_theta: Result<(f64, Option<u64>)>,
) -> Result<(Base, NoiseEstimate)> {
    let declared = checker.precision;
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
        // Only a one-sided stencil asks (see `Line::difference`): the question may cost the
        // problem a pass of its own.
        may_be_on_kink: signature.is_some()
            && checker.method.is_one_sided()
            && problem.on_kink(theta) != Some(false),
    };
    Ok((base, noise))
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
    finite("cost", value, location)
}

/// Passes a finite `value` through; NaN or ±inf becomes [`Error::NonFinite`] naming `what` it
/// is and where.
pub(crate) fn finite(what: &str, value: f64, location: impl FnOnce() -> String) -> Result<f64> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(Error::NonFinite {
            what: what.to_string(),
            value,
            location: location(),
        })
    }
}
