//! A directional check's row for each tensor: the tensor's own probe (confirmed along a second
//! direction when it agrees), the localisation of its worst elements when it disagrees, or, for
//! a tensor of 2 or 3 elements, each element on its own; and the tensor's relative difference
//! and threshold from what was examined. Knows nothing of how a probe is computed.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::{Directions, Localised, Probe, localise};
use crate::derivative::{Derivative, Kink};
use crate::difference::{norm2_of, quotient};
use crate::error::Result;
use crate::layout::Layout;
use crate::report::{TensorReport, Worst, keep_worst, kink_floor};
use crate::settings::NOISE_SAFETY_FACTOR;
use crate::verdict::NO_RELATIVE_EVIDENCE;

/// Tensors of at most this many elements are examined element by element in a directional
/// check rather than probed along random directions (see [`element_by_element`]).
const EXAMINED_SINGLY: usize = 3;

/// One row for each tensor of `tensors` (indices into the layout's): the tensor's own directional
/// probe, then (if it disagrees) the localisation of its `top` worst elements; each with the
/// evaluations spent on it. A tensor's row depends on that tensor alone, so a shard may compute
/// some of them. Shared by the finite-difference and the exact (dual-number) directional checks.
pub(crate) fn tensor_rows(
    layout: &Layout,
    directions: [&Directions<'_>; 2],
    probe: &Probe<'_>,
    top: usize,
    tensors: &[usize],
) -> Result<Vec<TensorRow>> {
    let rows: Vec<Result<TensorRow>> = tensors
        .par_iter()
        .map(|&k| {
            let spec = &layout.tensors()[k];
            let group: Vec<usize> = layout.range(k).collect();
            let (sides, first, confirmed, found) = if (2..=EXAMINED_SINGLY).contains(&group.len()) {
                let sides = directions[0];
                (sides, None, None, element_by_element(&group, sides, probe)?)
            } else {
                let (sides, first, confirmed) = tensor_probe(&group, directions, probe)?;
                let analytic = sides.analytic(&group);
                let found = if let [single] = group[..] {
                    // A one-element tensor's own probe sees its element alone.
                    let mut found = Localised::default();
                    found.single(single, first, analytic);
                    found
                } else if (first.agrees(analytic) && first.kink == Kink::None) || group.is_empty() {
                    Localised::default()
                } else {
                    localise(probe, sides, group.clone(), first, top)?
                };
                (sides, Some(first), confirmed, found)
            };
            let analytic = sides.analytic(&group);
            let evaluations = first.as_ref().map_or(0, |d| d.evaluations)
                + found.evaluations
                + confirmed.as_ref().map_or(0, |d| d.evaluations);
            // The derivative along vᵢeᵢ, and its bound, divided by vᵢ: the element's own (at a
            // kink, the one-sided derivatives along −eᵢ and eᵢ, in order).
            let element = |&(i, d): &(usize, Derivative)| {
                let weight = sides.weights[i];
                let index = layout.locate(i).expect("inside the layout").index;
                let bound = NOISE_SAFETY_FACTOR * d.bound / weight.abs();
                let analytic = sides.gradient[i];
                let numeric = d.nearest(analytic * weight) / weight;
                let interval = d.interval().map(|[left, right]| {
                    let (l, r) = (left / weight, right / weight);
                    if weight > 0.0 { [l, r] } else { [r, l] }
                });
                Worst::new(index, analytic, numeric, bound).at_kink(interval)
            };
            let mut singles: Vec<Worst> = found
                .wrong
                .iter()
                .chain(&found.agreeing)
                .map(element)
                .collect();
            let max_abs_error = singles.iter().map(Worst::error).reduce(f64::max);
            let kink_floor = kink_floor(
                singles
                    .iter()
                    .filter(|w| w.interval.is_some())
                    .map(|w| w.bound),
                || norm2_of(group.iter().map(|&i| sides.gradient[i])),
            );
            let every_element_alone = found.examined() == group.len();
            let (difference, threshold) = match &first {
                Some(first) => away_from_kinks(analytic, first, &singles, every_element_alone),
                None => of_singles(&singles),
            };
            // Confirmed along a second direction that agrees too: the larger threshold (the
            // weaker claim) of the two. A second probe that disagrees is the one the tensor is
            // judged by, and its figures stand.
            let second_agrees = first
                .as_ref()
                .is_some_and(|first| first.agrees(analytic) && first.kink == Kink::None);
            let (difference, threshold) = match &confirmed {
                Some(other) if second_agrees => {
                    let (d, t) = away_from_kinks(directions[0].analytic(&group), other, &[], false);
                    if t > threshold {
                        (d, t)
                    } else {
                        (difference, threshold)
                    }
                }
                _ => (difference, threshold),
            };
            keep_worst(&mut singles, top, |w| (w.ratio, w.error()));
            let row = TensorReport {
                name: spec.name.clone(),
                gradient_name: format!("d{}", spec.name),
                shape: spec.shape.clone(),
                checked: group.len(),
                examined: found.examined(),
                probes: usize::from(first.is_some())
                    + usize::from(confirmed.is_some())
                    + found.probes,
                agree: found.agreeing.len(),
                disagree: found.wrong.len(),
                unresolved: found.unresolved,
                kink: found.kinks,
                kink_outside: found.kinks_outside,
                kink_floor,
                difference,
                threshold,
                max_abs_error,
                // A probe across the kinks of several elements at once gives the interval of
                // one direction, which valid conventions mixing sides of different kinks can
                // leave (|x| − |y| along (1, 1) is flat, yet sign(0) = 1 gives 2): a
                // disagreeing probe is wrong only where the bisection finds it wrong, a single
                // element or a smooth group whose agreeing parts add up to it.
                passed: found.wrong.is_empty() && !found.unfinished && !found.contradicted,
                top: singles,
            };
            Ok(TensorRow {
                tensor: k,
                row,
                evaluations,
            })
        })
        .collect();
    rows.into_iter().collect()
}

/// A tensor's relative difference and its threshold away from kinks, `(difference, threshold)`:
/// from its own probe when that probe's line is smooth. A probe across kinks gives an interval
/// (or no answer) that says nothing of the elements away from them: then the elements examined
/// singly do, as in an exhaustive check, when every element was; otherwise no floor away from
/// kinks can be stated, and the threshold lets everything through (the elements are judged by
/// the bisection alone).
fn away_from_kinks(
    analytic: f64,
    probe: &Derivative,
    singles: &[Worst],
    every_element_alone: bool,
) -> (f64, f64) {
    let scale = analytic.abs() + probe.value.abs();
    let own = quotient(probe.error(analytic), scale);
    if probe.kink == Kink::None {
        return (own, quotient(NOISE_SAFETY_FACTOR * probe.bound, scale));
    }
    if !every_element_alone || singles.iter().all(|w| w.interval.is_some()) {
        return (own, NO_RELATIVE_EVIDENCE);
    }
    of_singles(singles)
}

/// The relative difference and threshold of the elements examined singly away from kinks, as in
/// an exhaustive check; `(0, no evidence)` when every one of them is at a kink.
fn of_singles(singles: &[Worst]) -> (f64, f64) {
    let smooth = || singles.iter().filter(|w| w.interval.is_none());
    if smooth().next().is_none() {
        return (0.0, NO_RELATIVE_EVIDENCE);
    }
    let denominator =
        norm2_of(smooth().map(|w| w.analytic)) + norm2_of(smooth().map(|w| w.numeric));
    (
        quotient(
            norm2_of(smooth().map(|w| w.analytic - w.numeric)),
            denominator,
        ),
        // A single's bound already carries the safety factor.
        quotient(norm2_of(smooth().map(|w| w.bound)), denominator),
    )
}

/// A small tensor (at most [`EXAMINED_SINGLY`] elements) examined element by element along the
/// first direction's weights: as many lines as a probe, its confirmation and a split would
/// take, and no blind spot (an error nearly orthogonal to two random directions of a few
/// elements is not rare: a swap of two elements of three, say).
fn element_by_element(
    group: &[usize],
    sides: &Directions<'_>,
    probe: &Probe<'_>,
) -> Result<Localised> {
    let mut found = Localised::default();
    for &i in group {
        let derivative = probe(&[i], sides.weights)?;
        found.probes += 1;
        found.evaluations += derivative.evaluations;
        found.single(i, derivative, sides.analytic(&[i]));
    }
    Ok(found)
}

/// A tensor's own probe, with the directions it is to be judged and localised along. A probe
/// that agrees along the first direction vouches only for the error's component along it: a
/// wrong gradient whose error is nearly orthogonal to it passes. So an agreeing smooth probe of
/// a tensor of several elements is confirmed along the second, independent direction; if that
/// one disagrees, the tensor is judged and localised along it. Returns `(directions, probe,
/// the first direction's agreeing probe when the second took over or confirmed it)`.
fn tensor_probe<'d, 's>(
    group: &[usize],
    directions: [&'d Directions<'s>; 2],
    probe: &Probe<'_>,
) -> Result<(&'d Directions<'s>, Derivative, Option<Derivative>)> {
    let [first_sides, second_sides] = directions;
    let first = probe(group, first_sides.weights)?;
    let agrees = first.agrees(first_sides.analytic(group)) && first.kink == Kink::None;
    if !agrees || group.len() < 2 {
        return Ok((first_sides, first, None));
    }
    let second = probe(group, second_sides.weights)?;
    Ok((second_sides, second, Some(first)))
}

/// One tensor's row of a directional check, with the evaluations spent on it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TensorRow {
    /// The tensor's index in the layout.
    pub tensor: usize,
    /// Its row of the report.
    pub row: TensorReport,
    /// Cost evaluations (or dual passes) spent on it.
    pub evaluations: usize,
}
