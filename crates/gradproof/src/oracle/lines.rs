//! Every coordinate's derivative for the oracle: one line per coordinate on rayon's pool, its
//! θ copy and sample buffer handed from line to line, and on a fast path two coordinates at a
//! time (their first points asked for in one call). Part of [`Checker`]'s oracle; knows
//! nothing of tensors or reports.

use rayon::prelude::*;

use crate::base::{Base, base};
use crate::derivative::Derivative;
use crate::error::Result;
use crate::line::{Line, Prefetched, Sample};
use crate::noise::NoiseEstimate;
use crate::problem::{CoordinateCosts, Problem};
use crate::settings::Checker;

use super::Prepared;

/// Work worth one parallel task: below it, rayon's bookkeeping costs more than it saves.
const MIN_TASK_SECONDS: f64 = 200e-6;

impl Checker {
    /// `J(θ)`, the cost's noise and the derivatives of the given `coordinates` from a
    /// preparation: the oracle's numbers before they are laid out (a sharded check computes
    /// its slice of the coordinates this way).
    pub(crate) fn derivatives_of<P: Problem + ?Sized>(
        &self,
        problem: &P,
        theta: &[f64],
        prepared: Prepared<'_>,
        coordinates: &[usize],
        hints: Option<&[f64]>,
    ) -> Result<(f64, NoiseEstimate, Vec<Derivative>)> {
        let Prepared {
            base, noise, fast, ..
        } = prepared;
        let cost = base.cost;
        let derivatives =
            self.derivatives_from(problem, theta, base, fast.as_deref(), coordinates, hints)?;
        Ok((cost, noise, derivatives))
    }

    pub(crate) fn derivatives<P: Problem + ?Sized>(
        &self,
        problem: &P,
        theta: &[f64],
    ) -> Result<Vec<Derivative>> {
        let (base, _) = base(problem, theta, false, self)?;
        let all: Vec<usize> = (0..theta.len()).collect();
        let fast = self.fast_path(problem, theta)?;
        self.derivatives_from(problem, theta, base, fast.as_deref(), &all, None)
    }

    fn derivatives_from<P: Problem + ?Sized>(
        &self,
        problem: &P,
        theta: &[f64],
        base: Base,
        fast: Option<&dyn CoordinateCosts>,
        coordinates: &[usize],
        hints: Option<&[f64]>,
    ) -> Result<Vec<Derivative>> {
        // The fast path's signatures follow its own convention, the unperturbed one included.
        let base = match fast {
            Some(fast) => Base {
                signature: fast.base_signature(),
                ..base
            },
            None => base,
        };
        // Enough coordinates per task to amortise rayon's bookkeeping on cheap costs; the numbers
        // do not depend on it (each coordinate is computed on its own).
        let per_task = (MIN_TASK_SECONDS / (4.0 * base.seconds_per_evaluation)).ceil();
        let per_task = per_task.clamp(1.0, 1e6) as usize;
        let progress = self.progress.counter(coordinates.len());
        // Each thread's copy of θ and sample buffer, handed from line to line.
        type Buffers = (Vec<f64>, Vec<Sample>);
        // Coordinate `i`'s line, with the thread's buffers lent to it, and what is done with
        // it; the sample buffer is handed back after.
        let along = |(point, scratch): &mut Buffers,
                     i: usize,
                     prefetched: Option<Prefetched>,
                     work: &mut dyn FnMut(&mut Line<'_, P>)| {
            let direction = [(i, 1.0)];
            let mut line = Line {
                problem,
                point,
                direction: &direction,
                base,
                fast,
                evaluations: 0,
                scratch: std::mem::take(scratch),
                prefetched,
            };
            work(&mut line);
            *scratch = line.scratch;
        };
        let one = |buffers: &mut Buffers, i: usize, prefetched: Option<Prefetched>| {
            let mut derivative = None;
            along(buffers, i, prefetched, &mut |line| {
                derivative = Some(self.derivative(line, hints.map(|h| h[i]), None));
            });
            progress.tick();
            derivative.expect("the line was differenced")
        };
        // On the fast path, coordinates two at a time: both lines' first points are asked for
        // in one call (the fast path may share work between them), each line then takes its
        // own as if it had asked alone.
        let two = |buffers: &mut Buffers, pair: &[usize]| -> Vec<Result<Derivative>> {
            let (Some(fast), &[a, b]) = (fast, pair) else {
                return pair.iter().map(|&i| one(buffers, i, None)).collect();
            };
            let mut request = |i: usize| {
                let mut request = None;
                along(buffers, i, None, &mut |line| {
                    request = self.first_request(line)
                });
                request
            };
            let (Some((_, first)), Some((_, second))) = (request(a), request(b)) else {
                return vec![one(buffers, a, None), one(buffers, b, None)];
            };
            let mut results = [Vec::new(), Vec::new()];
            let [first_out, second_out] = &mut results;
            let errors = fast.costs_of_two([(a, &first), (b, &second)], [first_out, second_out]);
            let [first_results, second_results] = results;
            let [first_error, second_error] = errors;
            let prefetched = |values, results, error: Result<()>| {
                Some(Prefetched {
                    values,
                    results,
                    error: error.err(),
                })
            };
            vec![
                one(buffers, a, prefetched(first, first_results, first_error)),
                one(buffers, b, prefetched(second, second_results, second_error)),
            ]
        };
        let group = if fast.is_some() { 2 } else { 1 };
        if coordinates.len() <= per_task {
            // One task's worth: waking another thread would cost more than the work.
            let mut buffers = (theta.to_vec(), Vec::new());
            return coordinates
                .chunks(group)
                .flat_map(|pair| two(&mut buffers, pair))
                .collect();
        }
        let results: Vec<Result<Derivative>> = coordinates
            .par_chunks(group)
            .with_min_len(per_task.div_ceil(group))
            .map_init(|| (theta.to_vec(), Vec::new()), two)
            .flat_map_iter(|derivatives| derivatives)
            .collect();
        results.into_iter().collect()
    }
}
