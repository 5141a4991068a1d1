//! Localisation by bisection (group testing) for the directional checks: a group of coordinates
//! whose directional derivative disagrees with the hand-written gradient's is split in two and
//! each half is probed, best-first, until `top` single elements are named. A line that crosses
//! a kink gives the interval between its one-sided derivatives along the line; a group across
//! kinks is split (after the disagreeing ones) down to single coordinates whatever its interval
//! says, since an interval as wide as the kinks' jumps vouches for none of its elements, and a
//! single element is judged by its own interval, or is *unresolved*. The probe
//! itself (finite difference or exact dual pass) is handed in: this module knows only groups,
//! weights and the analytic side.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::derivative::{Derivative, Kink};
use crate::difference::{norm2_of, quotient};
use crate::error::Result;
use crate::layout::Layout;
use crate::noise::NoiseEstimate;
use crate::report::{Overall, Report, TensorReport, Worst, kink_floor, worst_first};
use crate::rng::SplitMix64;
use crate::settings::{Checker, NOISE_SAFETY_FACTOR};
use crate::verdict::NO_RELATIVE_EVIDENCE;

/// Disagreeing groups a tensor's localisation may split for each element it is asked to name,
/// beyond the `log₂ n` a clean bisection needs.
const SPLITS_PER_ELEMENT: usize = 16;

/// Groups at most this large whose kink is unresolved are checked one coordinate at a time.
const KINK_COORDINATE_GROUP: usize = 16;

/// Tensors of at most this many elements are examined element by element in a directional
/// check rather than probed along random directions (see [`element_by_element`]).
const EXAMINED_SINGLY: usize = 3;

/// The oracle's derivative along a group's direction (the coordinates of the group weighted by
/// the given weights, the others 0).
pub(crate) type Probe<'a> = dyn Fn(&[usize], &[f64]) -> Result<Derivative> + Sync + 'a;

/// The hand-written gradient's side of the directional checks: `Σ gᵢvᵢ` over a group.
pub(crate) struct Directions<'a> {
    /// The analytic gradient, flat.
    pub(crate) gradient: &'a [f64],
    /// The seeded weights `vᵢ`.
    pub(crate) weights: &'a [f64],
}

impl Directions<'_> {
    /// `Σ gᵢvᵢ` over `group`.
    pub(crate) fn analytic(&self, group: &[usize]) -> f64 {
        group
            .iter()
            .map(|&i| self.gradient[i] * self.weights[i])
            .sum()
    }

    /// How many error bounds apart the two sides are: the bisection's priority (groups across
    /// kinks last: −1).
    fn priority(&self, group: &[usize], d: &Derivative) -> f64 {
        if d.kink != Kink::None {
            -1.0
        } else {
            quotient(d.error(self.analytic(group)), d.bound)
        }
    }
}

/// A group waiting to be split, ordered by severity (disagreeing groups first, then kinks).
struct Pending {
    group: Vec<usize>,
    priority: f64,
    /// The group's probe.
    derivative: Derivative,
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Pending {
    fn cmp(&self, other: &Self) -> Ordering {
        // Ties: the earlier group first, so the search is deterministic.
        self.priority
            .total_cmp(&other.priority)
            .then_with(|| other.group.first().cmp(&self.group.first()))
    }
}

/// What the localisation of one tensor found. Elements are counted only when a probe saw them
/// alone: a group that agrees vouches for its sum, not for each of its elements.
#[derive(Default)]
struct Localised {
    /// Single elements whose probe disagreed (all of them, even beyond the `top` asked for).
    wrong: Vec<(usize, Derivative)>,
    /// Single elements whose probe agreed.
    agreeing: Vec<(usize, Derivative)>,
    /// Single elements whose probe crossed a kink, judged by its interval.
    kinks: usize,
    /// Of those, the ones outside it.
    kinks_outside: usize,
    /// Single elements whose kink no step resolved.
    unresolved: usize,
    /// True if the split budget ran out with disagreeing groups left.
    unfinished: bool,
    /// True if a disagreeing group split into parts that all agree while the parts' probes add
    /// up to the group's (a smooth line, so the group's error is real but spread too thin to
    /// name). Parts whose probes do not add up show a kink the group's line crossed unseen:
    /// then the group's disagreement is the kink's, not the gradient's.
    contradicted: bool,
    /// Directional derivatives taken.
    probes: usize,
    evaluations: usize,
}

impl Localised {
    /// Files the probe of the single element `i`.
    fn single(&mut self, i: usize, derivative: Derivative, analytic: f64) {
        let straddled = derivative.interval().is_some();
        self.kinks += usize::from(straddled);
        if derivative.unresolved() {
            self.unresolved += 1;
        } else if derivative.agrees(analytic) {
            self.agreeing.push((i, derivative));
        } else {
            self.kinks_outside += usize::from(straddled);
            self.wrong.push((i, derivative));
        }
    }

    /// Elements examined singly.
    fn examined(&self) -> usize {
        self.wrong.len() + self.agreeing.len() + self.unresolved
    }
}

/// Splits disagreeing groups best-first until `top` wrong elements are named or the split budget
/// is spent; splits groups that cross kinks (after the disagreeing ones) until none is left.
fn localise(
    probe: &Probe<'_>,
    sides: &Directions<'_>,
    group: Vec<usize>,
    first: Derivative,
    top: usize,
) -> Result<Localised> {
    let mut found = Localised::default();
    let depth = (usize::BITS - group.len().leading_zeros()) as usize;
    let mut budget = top * (depth + SPLITS_PER_ELEMENT);
    let mut queue = BinaryHeap::new();
    queue.push(Pending {
        priority: sides.priority(&group, &first),
        group,
        derivative: first,
    });
    while let Some(Pending {
        group,
        priority: severity,
        derivative: whole,
    }) = queue.pop()
    {
        if found.wrong.len() >= top {
            break;
        }
        if severity >= 0.0 {
            if budget == 0 {
                found.unfinished = true;
                break;
            }
            budget -= 1;
        }
        // A small group that crosses kinks is cheaper to check coordinate by coordinate than to
        // keep halving.
        let parts: Vec<&[usize]> = if severity < 0.0 && group.len() <= KINK_COORDINATE_GROUP {
            group.chunks(1).collect()
        } else {
            let (left, right) = group.split_at(group.len() / 2);
            vec![left, right]
        };
        let probes: Vec<Result<Derivative>> = parts
            .par_iter()
            .map(|part| probe(part, sides.weights))
            .collect();
        found.probes += probes.len();
        let (mut all_agree, mut smooth) = (true, whole.kink == Kink::None);
        let (mut sum, mut bounds) = (0.0, whole.bound);
        for (half, derivative) in parts.into_iter().zip(probes) {
            let derivative = derivative?;
            found.evaluations += derivative.evaluations;
            let agrees = derivative.agrees(sides.analytic(half));
            all_agree &= agrees;
            smooth &= derivative.kink == Kink::None;
            sum += derivative.value;
            bounds += derivative.bound;
            if half.len() == 1 {
                found.single(half[0], derivative, sides.analytic(half));
            } else if !agrees || derivative.kink != Kink::None {
                // A group across kinks is split even when its interval holds the analytic
                // side: an interval as wide as the kinks' jumps vouches for no element in it.
                queue.push(Pending {
                    priority: sides.priority(half, &derivative),
                    group: half.to_vec(),
                    derivative,
                });
            }
        }
        // Directional derivatives along disjoint parts add up on a smooth piece; at a kink
        // they need not (|x| − |y| is flat along (1, 1), not along (1, 0) and (0, 1)).
        let additive = (whole.value - sum).abs() <= NOISE_SAFETY_FACTOR * bounds;
        if severity >= 0.0 && all_agree && smooth && additive {
            found.contradicted = true;
        }
    }
    Ok(found)
}

/// The seeded weights of the check directions: `±U(0.5, 1.5)` per coordinate.
pub(crate) fn weights(seed: u64, n: usize) -> Vec<f64> {
    weights_of_stream(seed, u64::MAX, n)
}

/// The weights of the second direction a tensor's agreeing probe is confirmed along: drawn from
/// another stream of the same seed, so independent of the first.
pub(crate) fn second_weights(seed: u64, n: usize) -> Vec<f64> {
    weights_of_stream(seed, u64::MAX - 1, n)
}

fn weights_of_stream(seed: u64, stream: u64, n: usize) -> Vec<f64> {
    let mut rng = SplitMix64::new(seed, stream);
    (0..n).map(|_| rng.sign() * (0.5 + rng.unit())).collect()
}

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
            let singles: Vec<Worst> = found
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
                norm2_of(group.iter().map(|&i| sides.gradient[i])),
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
                top: worst_first(singles, top, |w| (w.ratio, w.error())),
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

/// The probe along the whole direction of a directional check, with its analytic side.
pub(crate) struct WholeProbe {
    /// `Σ gᵢvᵢ` over every coordinate.
    pub(crate) analytic: f64,
    /// The oracle's derivative along the whole direction.
    pub(crate) derivative: Derivative,
}

/// What a directional check computes before its report: `J(θ)`, the noise, the probe along the
/// whole direction (when asked for) and the rows of the tensors asked for. The whole check
/// computes all of it; a shard its share.
pub(crate) struct Pieces {
    pub(crate) cost: f64,
    pub(crate) noise: NoiseEstimate,
    pub(crate) whole: Option<WholeProbe>,
    pub(crate) rows: Vec<TensorRow>,
    /// Evaluations spent besides `J(θ)` and the probes (an exact check's fallback at ties).
    pub(crate) measured: usize,
}

/// Which tensors and whether the whole direction: what one computation of [`Pieces`] covers.
pub(crate) struct Share<'a> {
    pub(crate) tensors: &'a [usize],
    pub(crate) whole: bool,
}

/// The report of a directional check from its pieces: the whole probe, every tensor's row in
/// layout order, `J(θ)`, the noise and the evaluations besides the probes.
pub(crate) fn assemble(
    checker: &Checker,
    parameters: usize,
    (cost, noise, measured): (f64, NoiseEstimate, usize),
    whole: &WholeProbe,
    rows: Vec<TensorRow>,
    seconds: f64,
) -> Report {
    let spent: usize = rows.iter().map(|r| r.evaluations).sum();
    let (difference, noise_threshold) = overall(whole.analytic, &whole.derivative);
    let overall = Overall {
        cost,
        noise,
        difference,
        noise_threshold,
        tolerance: None,
        evaluations: 1 + whole.derivative.evaluations + spent + measured,
        intervals_only: false,
    };
    let tensors = rows.into_iter().map(|r| r.row).collect();
    Report::assemble(checker, parameters, overall, tensors, seconds)
}

/// A whole directional check: the `pieces` of every tensor and of the whole direction, assembled
/// into the report (timed from the start).
pub(crate) fn whole_check(
    checker: &Checker,
    layout: &Layout,
    pieces: impl FnOnce(Share<'_>) -> Result<Pieces>,
) -> Result<Report> {
    let started = std::time::Instant::now();
    let every: Vec<usize> = (0..layout.tensors().len()).collect();
    let pieces = pieces(Share {
        tensors: &every,
        whole: true,
    })?;
    let whole = pieces
        .whole
        .expect("the whole check probes the whole direction");
    Ok(assemble(
        checker,
        layout.len(),
        (pieces.cost, pieces.noise, pieces.measured),
        &whole,
        pieces.rows,
        started.elapsed().as_secs_f64(),
    ))
}

/// The overall figures of a directional check from the probe along the whole direction:
/// `(relative difference, threshold)`.
fn overall(analytic: f64, whole: &Derivative) -> (f64, f64) {
    let scale = analytic.abs() + whole.value.abs();
    (
        quotient(whole.error(analytic), scale),
        quotient(NOISE_SAFETY_FACTOR * whole.bound, scale),
    )
}
