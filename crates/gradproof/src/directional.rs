//! Directional checks: compare `∇J·v` from the hand-written gradient with the finite difference of
//! `t ↦ J(θ + t·v)` along a random direction `v` (weights `±U(0.5, 1.5)`: random signs alone let a
//! swap of two elements cancel half the time), for the whole model and for each tensor,
//! then localise the wrong elements of a failing tensor by bisection (group testing): a group
//! whose directional derivatives disagree is split in two and each half is checked, best-first,
//! until `top` single elements are named. Cost: O(T + top·log n) directional derivatives instead
//! of O(n) coordinates. A group whose line crosses a kink even at the smallest step is split too,
//! down to single coordinates if need be (as slow as an exhaustive check, but only where the kinks
//! are); a single element that still crosses one is a *kink*. Knows nothing of neural networks.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::time::Instant;

use rayon::prelude::*;

use crate::check::{Base, Checker, Line, NOISE_SAFETY_FACTOR};
use crate::difference::quotient;
use crate::error::Result;
use crate::layout::{Layout, Tensors};
use crate::mode::SplitMix64;
use crate::problem::Problem;
use crate::report::{Report, TensorReport, Worst};

/// Disagreeing groups a tensor's localisation may split for each element it is asked to name,
/// beyond the `log₂ n` a clean bisection needs.
const SPLITS_PER_ELEMENT: usize = 16;

/// Groups at most this large that cross a kink are checked one coordinate at a time.
const KINK_COORDINATE_GROUP: usize = 16;

/// One directional check of a group of coordinates: the analytic `Σ gᵢvᵢ`, the oracle's value
/// (a finite difference, or an exact dual-number derivative), the oracle's error bound, whether
/// the line crossed a kink, and the evaluations spent.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Probe {
    pub(crate) analytic: f64,
    pub(crate) numeric: f64,
    pub(crate) bound: f64,
    pub(crate) kink: bool,
    pub(crate) evaluations: usize,
}

impl Probe {
    pub(crate) fn error(&self) -> f64 {
        (self.analytic - self.numeric).abs()
    }

    pub(crate) fn agrees(&self) -> bool {
        !self.kink && self.error() <= NOISE_SAFETY_FACTOR * self.bound
    }

    /// How many error bounds apart the two sides are: the bisection's priority.
    fn severity(&self) -> f64 {
        quotient(self.error(), self.bound)
    }
}

/// Everything a probe needs, shared by all threads.
struct Context<'a, P: ?Sized> {
    checker: &'a Checker,
    problem: &'a P,
    theta: &'a [f64],
    gradient: &'a [f64],
    weights: Vec<f64>,
    base: Base,
}

impl<P: Problem + ?Sized> Context<'_, P> {
    /// The directional check of the coordinates `group`.
    fn probe(&self, group: &[usize]) -> Result<Probe> {
        let mut point = self.theta.to_vec();
        let direction: Vec<(usize, f64)> = group.iter().map(|&i| (i, self.weights[i])).collect();
        let mut line = Line {
            problem: self.problem,
            point: &mut point,
            direction,
            base: self.base,
            fast: None,
            evaluations: 0,
        };
        let d = self.checker.derivative(&mut line, None)?;
        let analytic: f64 = group
            .iter()
            .map(|&i| self.gradient[i] * self.weights[i])
            .sum();
        let theta_scale = group
            .iter()
            .fold(0.0_f64, |m, &i| m.max(self.theta[i].abs()));
        let gradient_scale: f64 = group
            .iter()
            .map(|&i| (self.gradient[i] * self.weights[i]).abs())
            .sum();
        Ok(Probe {
            analytic,
            numeric: d.value,
            bound: self
                .checker
                .error_bound(&d, self.base.sigma, theta_scale, gradient_scale),
            kink: d.kink,
            evaluations: d.evaluations,
        })
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

/// What the localisation of one tensor found.
#[derive(Default)]
struct Localised {
    wrong: Vec<(usize, Probe)>,
    kinks: usize,
    agreeing: usize,
    /// True if the split budget ran out with disagreeing groups left.
    unfinished: bool,
    evaluations: usize,
}

/// Splits disagreeing groups best-first until `top` wrong elements are named or the split budget
/// is spent; splits groups that cross kinks (after the disagreeing ones) until none is left.
fn localise(
    probe: &(dyn Fn(&[usize]) -> Result<Probe> + Sync),
    group: Vec<usize>,
    first: Probe,
    top: usize,
) -> Result<Localised> {
    let mut found = Localised::default();
    let depth = (usize::BITS - group.len().leading_zeros()) as usize;
    let mut budget = top * (depth + SPLITS_PER_ELEMENT);
    let mut queue = BinaryHeap::new();
    let priority = |p: &Probe| if p.kink { -1.0 } else { p.severity() };
    queue.push(Pending {
        priority: priority(&first),
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
        let probes: Vec<Result<Probe>> = parts.par_iter().map(|part| probe(part)).collect();
        for (half, probe) in parts.into_iter().zip(probes) {
            let probe = probe?;
            found.evaluations += probe.evaluations;
            if probe.agrees() {
                found.agreeing += half.len();
            } else if half.len() == 1 {
                if probe.kink {
                    found.kinks += 1;
                } else {
                    found.wrong.push((half[0], probe));
                }
            } else {
                queue.push(Pending {
                    priority: priority(&probe),
                    group: half.to_vec(),
                });
            }
        }
    }
    found
        .wrong
        .sort_by(|a, b| b.1.error().total_cmp(&a.1.error()));
    found.wrong.truncate(top);
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
    gradient: &[f64],
    weights: &[f64],
    probe: &(dyn Fn(&[usize]) -> Result<Probe> + Sync),
    top: usize,
) -> Result<(Vec<TensorReport>, usize)> {
    let rows: Vec<Result<(TensorReport, usize)>> = (0..layout.tensors().len())
        .into_par_iter()
        .map(|k| {
            let spec = &layout.tensors()[k];
            let group: Vec<usize> = layout.range(k).collect();
            let first = probe(&group)?;
            let mut evaluations = first.evaluations;
            let found = if first.agrees() || group.is_empty() {
                Localised {
                    agreeing: group.len(),
                    ..Localised::default()
                }
            } else if group.len() == 1 {
                let mut single = Localised::default();
                if first.kink {
                    single.kinks = 1;
                } else {
                    single.wrong.push((group[0], first));
                }
                single
            } else {
                localise(probe, group.clone(), first, top)?
            };
            evaluations += found.evaluations;
            let scale = first.analytic.abs() + first.numeric.abs();
            let top_elements: Vec<Worst> = found
                .wrong
                .iter()
                .map(|&(i, p)| Worst {
                    index: layout.locate(i).expect("inside the layout").index,
                    analytic: gradient[i],
                    // The derivative along eᵢ is the one along vᵢeᵢ divided by vᵢ.
                    numeric: p.numeric / weights[i],
                    bound: NOISE_SAFETY_FACTOR * p.bound,
                })
                .collect();
            let row = TensorReport {
                name: spec.name.clone(),
                gradient: format!("d{}", spec.name),
                shape: spec.shape.clone(),
                checked: group.len(),
                agree: found.agreeing,
                disagree: found.wrong.len(),
                unresolved: 0,
                kink: found.kinks,
                difference: quotient(first.error(), scale),
                threshold: quotient(NOISE_SAFETY_FACTOR * first.bound, scale),
                max_abs_error: top_elements
                    .first()
                    .map_or(first.error(), |w| (w.analytic - w.numeric).abs()),
                passed: found.wrong.is_empty()
                    && !found.unfinished
                    && (first.agrees() || first.kink),
                top: top_elements,
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

/// The directional check of `analytic` at `theta`.
pub(crate) fn check<P: Problem + ?Sized>(
    checker: &Checker,
    problem: &P,
    theta: &[f64],
    analytic: &Tensors,
    top: usize,
) -> Result<Report> {
    let start = Instant::now();
    let layout = problem.layout();
    let (base, noise) = crate::check::base(problem, theta, true)?;
    let cost = base.cost;
    let context = Context {
        checker,
        problem,
        theta,
        gradient: analytic.values(),
        weights: weights(checker.seed, layout.len()),
        base,
    };
    let everything: Vec<usize> = (0..layout.len()).collect();
    let whole = context.probe(&everything)?;
    let probe = |group: &[usize]| context.probe(group);
    let (tensors, spent) = tensor_rows(layout, context.gradient, &context.weights, &probe, top)?;
    let evaluations = 1 + noise.evaluations + whole.evaluations + spent;
    let scale = whole.analytic.abs() + whole.numeric.abs();
    Ok(Report {
        mode: checker.mode,
        tolerance: None,
        method: checker.method,
        step: checker.step,
        epsilon: checker.step(),
        parameters: layout.len(),
        cost,
        noise: noise.sigma,
        noise_status: noise.status,
        difference: quotient(whole.error(), scale),
        noise_threshold: quotient(NOISE_SAFETY_FACTOR * whole.bound, scale),
        seed_threshold: checker.threshold,
        tensors,
        evaluations,
        seconds: start.elapsed().as_secs_f64(),
    })
}
