//! The coordinate modes sharded (exhaustive and sampled, by finite differences or exact dual
//! passes): each shard differences (or passes along) its slice of the coordinates; the merge lays
//! them out again and judges them with the function an unsharded check uses. An exact check's
//! rounding bounds scale with the largest partial of all shards, so the merge computes them.

use std::time::Instant;

use super::{Coordinate, ExactPass, Numbers, PartialPoint, Shard, shards};
use crate::derivative::Derivative;
use crate::dual::{self, Fallback};
use crate::error::Result;
use crate::layout::{Layout, Tensors};
use crate::oracle::{Oracle, expect_gradient};
use crate::problem::Problem;
use crate::report::Report;
use crate::settings::Checker;

/// `shard`'s coordinates of the check at `theta` (timing left to the caller).
pub(super) fn shard_at<P: Problem + ?Sized>(
    checker: &Checker,
    problem: &P,
    theta: &[f64],
    shard: Shard,
) -> Result<PartialPoint> {
    let mine = shard.slice(checker.coordinates(problem.layout()));
    if checker.exact {
        return exact_shard_at(checker, problem, theta, &mine);
    }
    let (analytic, prepared) = checker.gradient_and_preparation(problem, theta)?;
    let hints = checker.tolerance.is_none().then_some(analytic.values());
    let (cost, noise, derivatives) =
        checker.derivatives_of(problem, theta, prepared, &mine, hints)?;
    let g = analytic.values();
    let coordinates = mine
        .iter()
        .zip(&derivatives)
        .map(|(&i, d)| Coordinate {
            index: i,
            analytic: g[i],
            numbers: Numbers::new(d),
            exact: None,
        })
        .collect();
    Ok(PartialPoint {
        coordinates,
        ..PartialPoint::at(theta, g, cost, noise, 0)
    })
}

/// [`shard_at`] of an exact check: a dual pass per coordinate; a tie's finite-difference
/// fallback in full, the others' rounding bounds left to the merge.
fn exact_shard_at<P: Problem + ?Sized>(
    checker: &Checker,
    problem: &P,
    theta: &[f64],
    mine: &[usize],
) -> Result<PartialPoint> {
    let analytic = problem.gradient(theta)?;
    expect_gradient(problem, &analytic)?;
    let cost = dual::cost_at(problem, theta)?;
    let fallback = Fallback::new(checker, problem, theta);
    let (values, straddles) = dual::coordinate_passes(&fallback, mine)?;
    let g = analytic.values();
    let coordinates = mine
        .iter()
        .zip(values)
        .zip(straddles)
        .map(|((&i, (value, tie)), straddle)| {
            let unbounded = Derivative::smooth(value, 0.0, 1);
            Coordinate {
                index: i,
                analytic: g[i],
                numbers: Numbers::new(straddle.as_ref().unwrap_or(&unbounded)),
                exact: Some(ExactPass { value, tie }),
            }
        })
        .collect();
    let point = PartialPoint::at(theta, g, cost, dual::not_measured(), fallback.measured());
    Ok(PartialPoint {
        coordinates,
        ..point
    })
}

/// One point's report from every shard's coordinates of it (already checked to be of one point).
pub(super) fn merge_point(
    checker: &Checker,
    layout: &Layout,
    points: &[(Shard, &PartialPoint)],
    measured: usize,
    seconds: f64,
) -> Result<Report> {
    let reference = points[0].1;
    let mut found: Vec<Option<&Coordinate>> = vec![None; layout.len()];
    for &(shard, point) in points {
        for c in &point.coordinates {
            let slot = found.get_mut(c.index).ok_or_else(|| {
                shards(format!(
                    "shard {shard} has coordinate {}, past the layout's {}",
                    c.index,
                    layout.len()
                ))
            })?;
            if slot.replace(c).is_some() {
                return Err(shards(format!(
                    "coordinate {} appears in two shards (the last: {shard})",
                    c.index
                )));
            }
            if c.exact.is_some() != checker.exact {
                let other = if checker.exact {
                    "differences"
                } else {
                    "exact dual passes"
                };
                return Err(shards(format!(
                    "shard {shard} was checked by {other}, unlike these settings"
                )));
            }
        }
    }
    let coordinates = checker.coordinates(layout);
    let expected = coordinates.len();
    let given = found.iter().flatten().count();
    let mut mine: Vec<&Coordinate> = Vec::with_capacity(expected);
    for &i in &coordinates {
        mine.push(found[i].ok_or_else(|| {
            shards(format!(
                "no shard has coordinate {i}, which these settings check"
            ))
        })?);
    }
    if given != expected {
        return Err(shards(format!(
            "the shards hold {given} coordinates, these settings check {expected}"
        )));
    }
    let scale = dual::partials_scale(mine.iter().filter_map(|c| c.exact.map(|e| e.value)));
    let mut analytic = vec![0.0; layout.len()];
    let derivatives: Vec<Derivative> = mine
        .iter()
        .map(|c| {
            analytic[c.index] = c.analytic;
            match c.exact {
                Some(ExactPass { value, tie: false }) => dual::judged(value, None, scale),
                _ => c.numbers.derivative(),
            }
        })
        .collect();
    let oracle = Oracle::new(
        checker,
        layout,
        reference.cost,
        reference.noise.clone(),
        &coordinates,
        &derivatives,
        Instant::now(),
    );
    oracle
        .spending(measured)
        .taking(seconds)
        .judge(&Tensors::new(layout.clone(), analytic)?)
}
