//! Localisation by bisection (group testing) for the directional checks: a group of coordinates
//! whose directional derivative disagrees with the hand-written gradient's is split in two and
//! each half is probed, best-first, until `top` single elements are named. A group whose line
//! crosses a kink even at the smallest step is split too, down to single coordinates if need be;
//! a single element that still crosses one is a *kink*. The probe itself (finite difference or
//! exact dual pass) is handed in: this module knows only groups, weights and the analytic side.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use rayon::prelude::*;

use crate::difference::quotient;
use crate::error::Result;
use crate::layout::Layout;
use crate::line::Derivative;
use crate::report::{TensorReport, Worst, worst_first};
use crate::rng::SplitMix64;
use crate::settings::NOISE_SAFETY_FACTOR;

/// Disagreeing groups a tensor's localisation may split for each element it is asked to name,
/// beyond the `log₂ n` a clean bisection needs.
const SPLITS_PER_ELEMENT: usize = 16;

/// Groups at most this large that cross a kink are checked one coordinate at a time.
const KINK_COORDINATE_GROUP: usize = 16;

/// The oracle's derivative along a group's direction (the coordinates of the group weighted by
/// the seeded weights, the others 0).
pub(crate) type Probe<'a> = dyn Fn(&[usize]) -> Result<Derivative> + Sync + 'a;

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

    /// How many error bounds apart the two sides are: the bisection's priority (kinks last).
    fn priority(&self, group: &[usize], d: &Derivative) -> f64 {
        if d.kink {
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
    /// Single elements whose probe crossed a kink even at the smallest step.
    kinks: usize,
    /// True if the split budget ran out with disagreeing groups left.
    unfinished: bool,
    /// Directional derivatives taken.
    probes: usize,
    evaluations: usize,
}

impl Localised {
    /// Files the probe of the single element `i`.
    fn single(&mut self, i: usize, derivative: Derivative, analytic: f64) {
        if derivative.agrees(analytic) {
            self.agreeing.push((i, derivative));
        } else if derivative.kink {
            self.kinks += 1;
        } else {
            self.wrong.push((i, derivative));
        }
    }

    /// Elements examined singly.
    fn examined(&self) -> usize {
        self.wrong.len() + self.agreeing.len() + self.kinks
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
    });
    while let Some(Pending {
        group,
        priority: severity,
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
        let probes: Vec<Result<Derivative>> = parts.par_iter().map(|part| probe(part)).collect();
        found.probes += probes.len();
        for (half, derivative) in parts.into_iter().zip(probes) {
            let derivative = derivative?;
            found.evaluations += derivative.evaluations;
            if half.len() == 1 {
                found.single(half[0], derivative, sides.analytic(half));
            } else if !derivative.agrees(sides.analytic(half)) {
                queue.push(Pending {
                    priority: sides.priority(half, &derivative),
                    group: half.to_vec(),
                });
            }
        }
    }
    Ok(found)
}

/// The seeded weights of the check directions: `±U(0.5, 1.5)` per coordinate.
pub(crate) fn weights(seed: u64, n: usize) -> Vec<f64> {
    let mut rng = SplitMix64::new(seed, u64::MAX);
    (0..n).map(|_| rng.sign() * (0.5 + rng.unit())).collect()
}

/// One row per tensor: the tensor's own directional probe, then (if it disagrees) the
/// localisation of its `top` worst elements. Returns the rows and the evaluations spent. Shared
/// by the finite-difference and the exact (dual-number) directional checks.
pub(crate) fn tensor_rows(
    layout: &Layout,
    sides: &Directions<'_>,
    probe: &Probe<'_>,
    top: usize,
) -> Result<(Vec<TensorReport>, usize)> {
    let rows: Vec<Result<(TensorReport, usize)>> = (0..layout.tensors().len())
        .into_par_iter()
        .map(|k| {
            let spec = &layout.tensors()[k];
            let group: Vec<usize> = layout.range(k).collect();
            let first = probe(&group)?;
            let analytic = sides.analytic(&group);
            let found = if let [single] = group[..] {
                // A one-element tensor's own probe sees its element alone.
                let mut found = Localised::default();
                found.single(single, first, analytic);
                found
            } else if first.agrees(analytic) || group.is_empty() {
                Localised::default()
            } else {
                localise(probe, sides, group.clone(), first, top)?
            };
            let evaluations = first.evaluations + found.evaluations;
            // The derivative along vᵢeᵢ, and its bound, divided by vᵢ: the element's own.
            let element = |&(i, d): &(usize, Derivative)| {
                let weight = sides.weights[i];
                let index = layout.locate(i).expect("inside the layout").index;
                let bound = NOISE_SAFETY_FACTOR * d.bound / weight.abs();
                Worst::new(index, sides.gradient[i], d.value / weight, bound)
            };
            let singles: Vec<Worst> = found
                .wrong
                .iter()
                .chain(&found.agreeing)
                .map(element)
                .collect();
            let max_abs_error = singles.iter().map(Worst::error).reduce(f64::max);
            let scale = analytic.abs() + first.value.abs();
            let row = TensorReport {
                name: spec.name.clone(),
                gradient_name: format!("d{}", spec.name),
                shape: spec.shape.clone(),
                checked: group.len(),
                examined: found.examined(),
                probes: 1 + found.probes,
                agree: found.agreeing.len(),
                disagree: found.wrong.len(),
                unresolved: 0,
                kink: found.kinks,
                difference: quotient(first.error(analytic), scale),
                threshold: quotient(NOISE_SAFETY_FACTOR * first.bound, scale),
                max_abs_error,
                passed: found.wrong.is_empty()
                    && !found.unfinished
                    && (first.agrees(analytic) || first.kink),
                top: worst_first(singles, top, |w| (w.ratio, w.error())),
            };
            Ok((row, evaluations))
        })
        .collect();
    let mut tensors = Vec::with_capacity(rows.len());
    let mut evaluations = 0;
    for row in rows {
        let (row, count) = row?;
        evaluations += count;
        tensors.push(row);
    }
    Ok((tensors, evaluations))
}

/// The overall figures of a directional check from the probe along the whole direction:
/// `(relative difference, threshold)`.
pub(crate) fn overall(analytic: f64, whole: &Derivative) -> (f64, f64) {
    let scale = analytic.abs() + whole.value.abs();
    (
        quotient(whole.error(analytic), scale),
        quotient(NOISE_SAFETY_FACTOR * whole.bound, scale),
    )
}
