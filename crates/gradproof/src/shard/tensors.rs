//! Directional mode sharded: a tensor's probe and bisection depend on that tensor alone, so each
//! shard computes the whole rows of its slice of the tensors, and shard 0 the probe along the
//! whole direction; the merge puts the rows back in layout order and assembles the report as an
//! unsharded check does. Parallelism across shards is the number of tensors.

use super::{Numbers, PartialPoint, Shard, WholeDirection, shards};
use crate::bisection::{self, Share, TensorRow, WholeProbe};
use crate::directional;
use crate::dual;
use crate::error::Result;
use crate::layout::Layout;
use crate::oracle::expect_gradient;
use crate::problem::Problem;
use crate::report::Report;
use crate::settings::Checker;

/// `shard`'s tensors of the directional check at `theta` (timing left to the caller).
pub(super) fn shard_at<P: Problem + ?Sized>(
    checker: &Checker,
    problem: &P,
    theta: &[f64],
    shard: Shard,
    top: usize,
) -> Result<PartialPoint> {
    let analytic = problem.gradient(theta)?;
    expect_gradient(problem, &analytic)?;
    let mine = shard.slice((0..problem.layout().tensors().len()).collect());
    let share = Share {
        tensors: &mine,
        whole: shard.index() == 0,
    };
    let pieces = if checker.exact {
        dual::directional_pieces(checker, problem, theta, &analytic, top, share)?
    } else {
        directional::pieces(checker, problem, theta, &analytic, top, share)?
    };
    let point = PartialPoint::at(
        theta,
        analytic.values(),
        pieces.cost,
        pieces.noise,
        pieces.measured,
    );
    Ok(PartialPoint {
        rows: pieces.rows,
        whole: pieces.whole.map(|w| WholeDirection {
            analytic: w.analytic,
            numbers: Numbers::new(&w.derivative),
        }),
        ..point
    })
}

/// One point's report from every shard's rows of it (already checked to be of one point).
pub(super) fn merge_point(
    checker: &Checker,
    layout: &Layout,
    points: &[(Shard, &PartialPoint)],
    measured: usize,
    seconds: f64,
) -> Result<Report> {
    let reference = points[0].1;
    let count = layout.tensors().len();
    let mut found: Vec<Option<&TensorRow>> = vec![None; count];
    let mut whole = None;
    for &(shard, point) in points {
        if !point.coordinates.is_empty() {
            return Err(shards(format!(
                "shard {shard} checked coordinates, not directions as these settings do"
            )));
        }
        if let Some(probe) = &point.whole
            && whole.replace(probe).is_some()
        {
            return Err(shards(format!(
                "shard {shard} has the whole direction's probe, which another shard has too"
            )));
        }
        for row in &point.rows {
            let slot = found.get_mut(row.tensor).ok_or_else(|| {
                shards(format!(
                    "shard {shard} has tensor {}, past the layout's {count}",
                    row.tensor
                ))
            })?;
            if slot.replace(row).is_some() {
                return Err(shards(format!(
                    "tensor {} appears in two shards (the last: {shard})",
                    row.tensor
                )));
            }
        }
    }
    let whole = whole.ok_or_else(|| shards("no shard has the whole direction's probe".into()))?;
    let rows = found
        .into_iter()
        .enumerate()
        .map(|(k, row)| {
            row.cloned().ok_or_else(|| {
                shards(format!(
                    "no shard has tensor {k} ({}), which these settings check",
                    layout.tensors()[k].name
                ))
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let whole = WholeProbe {
        analytic: whole.analytic,
        derivative: whole.numbers.derivative(),
    };
    let pieces = (reference.cost, reference.noise.clone(), measured);
    Ok(bisection::assemble(
        checker,
        layout.len(),
        pieces,
        &whole,
        rows,
        seconds,
    ))
}
