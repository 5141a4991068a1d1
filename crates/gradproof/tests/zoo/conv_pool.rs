//! A 1-D convolution (valid, stride 1) followed by a max-pool (window 2, stride 2) and a linear
//! read-out, under a squared error: `J = (1/2m) Σₙ (v · pool(w ⋆ xₙ + b) + c − tₙ)²`.
//!
//! `ConvPool<false>`: random signals, so no two pooled values tie at θ (the cost is smooth there;
//! a finite difference may still cross a switch of the max). `ConvPool<true>`: dyadic signals and
//! kernel, with one window of one example placed on an exact tie (`w·(x_window₁ − x_window₂) = 0`
//! in `f64` and `f32` alike) and every other window clear of one; routing that tie's gradient to
//! the first element, to the second or half to each are all correct.
//!
//! Bugs: max-pool routing to the first element of each window instead of its argmax, the kernel
//! flipped (convolution for correlation), the pool's windows taken with stride 1 instead of 2
//! (off by one), db counted for both elements of each window instead of its argmax only; with a
//! tie, also the tie's gradient routed to both elements.

use super::kinkops::{Scalar, max};
use super::model::{Candidate, Model, Parameters, Rng, dot};

const EXAMPLES: usize = 3;
const LENGTH: usize = 10;
const KERNEL: usize = 3;
const CONVOLVED: usize = LENGTH - KERNEL + 1;
const POOLED: usize = CONVOLVED / 2;

/// Offsets of w, b, v, c in θ.
const B: usize = KERNEL;
const V: usize = B + 1;
const C: usize = V + POOLED;

/// How far every window but the tied one stays from a tie.
const MARGIN: f64 = 1.0 / 16.0;

/// One random instance; `TIED` places one window of one example on an exact tie.
pub struct ConvPool<const TIED: bool> {
    parameters: Parameters,
    x: Vec<f64>,
    target: Vec<f64>,
}

/// The hand-written backward passes: the correct one and the catalogue's bugs.
#[derive(Clone, Copy, PartialEq)]
enum Backward {
    /// Correct, with these shares of the gradient for the two elements of a tied window.
    Correct(f64, f64),
    RoutedToFirst,
    FlippedKernel,
    PoolStrideOffByOne,
    BiasTwicePerWindow,
    TieToBoth,
}

impl<const TIED: bool> ConvPool<TIED> {
    fn signal(&self, n: usize) -> &[f64] {
        &self.x[n * LENGTH..(n + 1) * LENGTH]
    }

    fn backward(&self, theta: &[f64], variant: Backward) -> Vec<f64> {
        let mut g = vec![0.0; theta.len()];
        for n in 0..EXAMPLES {
            let x = self.signal(n);
            let conv: Vec<f64> = (0..CONVOLVED)
                .map(|i| dot(&theta[..KERNEL], &x[i..i + KERNEL]) + theta[B])
                .collect();
            // The argmax of each window (the first of equals, as the forward max takes it).
            let winner = |start: usize| start + usize::from(conv[start + 1] > conv[start]);
            // The shares of a window's gradient for its two elements.
            let shares = |start: usize| match variant {
                Backward::RoutedToFirst => (1.0, 0.0),
                Backward::Correct(first, second) if conv[start] == conv[start + 1] => {
                    (first, second)
                }
                Backward::TieToBoth if conv[start] == conv[start + 1] => (1.0, 1.0),
                _ if winner(start) == start => (1.0, 0.0),
                _ => (0.0, 1.0),
            };
            let pooled: Vec<f64> = (0..POOLED).map(|p| conv[winner(2 * p)]).collect();
            let error = (dot(&theta[V..C], &pooled) + theta[C] - self.target[n]) / EXAMPLES as f64;
            g[C] += error;
            for p in 0..POOLED {
                g[V + p] += error * pooled[p];
                let d_pooled = error * theta[V + p];
                let start = match variant {
                    Backward::PoolStrideOffByOne => p,
                    _ => 2 * p,
                };
                let (first, second) = shares(start);
                for (k, d_w) in g[..KERNEL].iter_mut().enumerate() {
                    let tap = match variant {
                        Backward::FlippedKernel => KERNEL - 1 - k,
                        _ => k,
                    };
                    *d_w += d_pooled * (first * x[start + tap] + second * x[start + 1 + tap]);
                }
                g[B] += match variant {
                    Backward::BiasTwicePerWindow => 2.0 * d_pooled,
                    _ => (first + second) * d_pooled,
                };
            }
        }
        g
    }

    /// An instance with dyadic signals and kernel and one window of one example on an exact tie,
    /// every other window at least [`MARGIN`] from one.
    fn tied(rng: &mut Rng) -> Self {
        loop {
            let mut x: Vec<f64> = (0..EXAMPLES * LENGTH).map(|_| rng.dyadic(8, 4.0)).collect();
            let mut theta: Vec<f64> = (0..KERNEL - 1).map(|_| rng.dyadic(8, 8.0)).collect();
            // The kernel's last tap a power of two, so that the tie below is exact.
            theta.push(0.5 * rng.sign());
            theta.extend(rng.normals(C + 1 - KERNEL, 0.8));
            let (n, p) = (rng.below(EXAMPLES), rng.below(POOLED));
            // Windows i and i + 1 tie when w·d = 0, d_k = x[i+k] − x[i+1+k]: solve for x[i+K].
            let i = n * LENGTH + 2 * p;
            let partial: f64 = (0..KERNEL - 1)
                .map(|k| theta[k] * (x[i + k] - x[i + k + 1]))
                .sum();
            x[i + KERNEL] = x[i + KERNEL - 1] + partial / theta[KERNEL - 1];
            let model = ConvPool {
                parameters: Self::parameters_at(theta),
                x,
                target: rng.normals(EXAMPLES, 1.0),
            };
            let gaps = model.window_gaps();
            let tie = n * POOLED + p;
            let clear = gaps
                .iter()
                .enumerate()
                .all(|(j, &g)| j == tie || g >= MARGIN);
            if gaps[tie] == 0.0 && clear {
                return model;
            }
        }
    }

    /// `|conv[2p] − conv[2p+1]|` for every example and window (f64).
    fn window_gaps(&self) -> Vec<f64> {
        let theta = self.theta();
        (0..EXAMPLES)
            .flat_map(|n| {
                let x = self.signal(n);
                let conv = move |i: usize| dot(&theta[..KERNEL], &x[i..i + KERNEL]) + theta[B];
                (0..POOLED).map(move |p| (conv(2 * p) - conv(2 * p + 1)).abs())
            })
            .collect()
    }

    fn parameters_at(theta: Vec<f64>) -> Parameters {
        Parameters::new(
            [("w", &[KERNEL]), ("b", &[]), ("v", &[POOLED]), ("c", &[])],
            theta,
        )
    }
}

impl<const TIED: bool> Model for ConvPool<TIED> {
    const FAMILY: &'static str = if TIED {
        "conv1d + max-pool, a tie at θ"
    } else {
        "conv1d + max-pool"
    };
    const KINKS_AT_THETA: bool = TIED;

    fn random(seed: u64) -> Self {
        let mut rng = Rng::new(seed, 4);
        if TIED {
            return Self::tied(&mut rng);
        }
        let x = rng.normals(EXAMPLES * LENGTH, 1.0);
        let target = rng.normals(EXAMPLES, 1.0);
        let theta = rng.normals(C + 1, 0.8);
        ConvPool {
            parameters: Self::parameters_at(theta),
            x,
            target,
        }
    }

    fn parameters(&self) -> &Parameters {
        &self.parameters
    }

    fn cost<S: Scalar>(&self, theta: &[S]) -> S {
        let mut total = S::zero();
        for n in 0..EXAMPLES {
            let x = self.signal(n);
            let conv: Vec<S> = (0..CONVOLVED)
                .map(|i| dot(&theta[..KERNEL], &x[i..i + KERNEL]) + theta[B])
                .collect();
            let score = (0..POOLED).fold(theta[C], |s, p| {
                s + theta[V + p] * max(conv[2 * p], conv[2 * p + 1])
            });
            total += (score - S::lit(self.target[n])).powi(2);
        }
        total / S::lit(2.0 * EXAMPLES as f64)
    }

    fn gradients(&self, theta: &[f64]) -> Vec<Candidate> {
        let bug = |name, variant| Candidate::bug(name, self.backward(theta, variant));
        let mut candidates = vec![
            Candidate::correct("correct", self.backward(theta, Backward::Correct(1.0, 0.0))),
            bug(
                "max-pool routed to the first element",
                Backward::RoutedToFirst,
            ),
            bug("flipped kernel", Backward::FlippedKernel),
            bug(
                "pool stride off by one (1, not 2)",
                Backward::PoolStrideOffByOne,
            ),
            bug("db twice per window", Backward::BiasTwicePerWindow),
        ];
        if TIED {
            let run = |variant| self.backward(theta, variant);
            candidates.extend([
                Candidate::correct("tie routed to the second", run(Backward::Correct(0.0, 1.0))),
                Candidate::correct("tie split in half", run(Backward::Correct(0.5, 0.5))),
                Candidate::bug("tie routed to both elements", run(Backward::TieToBoth)),
            ]);
        }
        candidates
    }
}
