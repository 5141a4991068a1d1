//! Localisation by bisection (group testing) for the directional checks: a group of coordinates
//! whose directional derivative disagrees with the hand-written gradient's is split in two and
//! each half is probed, best-first, until `top` single elements are named. A line that crosses
//! a kink gives the interval between its one-sided derivatives along the line; a group across
//! kinks is split (after the disagreeing ones) down to single coordinates whatever its interval
//! says, since an interval as wide as the kinks' jumps vouches for none of its elements, and a
//! single element is judged by its own interval, or is *unresolved*. The probe
//! itself (finite difference or exact dual pass) is handed in: this module knows only groups,
//! weights and the analytic side.

mod rows;

pub use rows::TensorRow;
pub(crate) use rows::tensor_rows;

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use rayon::prelude::*;

use crate::derivative::{Derivative, Kink};
use crate::difference::quotient;
use crate::error::Result;
use crate::layout::Layout;
use crate::noise::NoiseEstimate;
use crate::report::{Overall, Report};
use crate::rng::SplitMix64;
use crate::settings::{Checker, NOISE_SAFETY_FACTOR};

/// Disagreeing groups a tensor's localisation may split for each element it is asked to name,
/// beyond the `log₂ n` a clean bisection needs.
const SPLITS_PER_ELEMENT: usize = 16;

/// Groups at most this large whose kink is unresolved are checked one coordinate at a time.
const KINK_COORDINATE_GROUP: usize = 16;

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
