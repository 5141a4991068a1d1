//! A 1-D convolution (valid, stride 1) followed by a max-pool (window 2, stride 2) and a linear
//! read-out, under a squared error: `J = (1/2m) Σₙ (v · pool(w ⋆ xₙ + b) + c − tₙ)²`. Random
//! signals, so no two pooled values tie at θ (the cost is smooth there; a finite difference may
//! still cross a switch of the max). Bugs: max-pool routing to the first element of each window
//! instead of its argmax, the kernel flipped (convolution for correlation), the pool's windows
//! taken with stride 1 instead of 2 (off by one), db counted for both elements of each window
//! instead of its argmax only.

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

/// One random instance.
pub struct ConvPool {
    parameters: Parameters,
    x: Vec<f64>,
    target: Vec<f64>,
}

/// The hand-written backward passes: the correct one and the catalogue's bugs.
#[derive(Clone, Copy, PartialEq)]
enum Backward {
    Correct,
    RoutedToFirst,
    FlippedKernel,
    PoolStrideOffByOne,
    BiasTwicePerWindow,
}

impl ConvPool {
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
            let pooled: Vec<f64> = (0..POOLED).map(|p| conv[winner(2 * p)]).collect();
            let error = (dot(&theta[V..C], &pooled) + theta[C] - self.target[n]) / EXAMPLES as f64;
            g[C] += error;
            for p in 0..POOLED {
                g[V + p] += error * pooled[p];
                let d_pooled = error * theta[V + p];
                let routed = match variant {
                    Backward::RoutedToFirst => 2 * p,
                    Backward::PoolStrideOffByOne => winner(p),
                    _ => winner(2 * p),
                };
                for (k, d_w) in g[..KERNEL].iter_mut().enumerate() {
                    let tap = match variant {
                        Backward::FlippedKernel => KERNEL - 1 - k,
                        _ => k,
                    };
                    *d_w += d_pooled * x[routed + tap];
                }
                g[B] += match variant {
                    Backward::BiasTwicePerWindow => 2.0 * d_pooled,
                    _ => d_pooled,
                };
            }
        }
        g
    }
}

impl Model for ConvPool {
    const FAMILY: &'static str = "conv1d + max-pool";
    const KINKS_AT_THETA: bool = false;

    fn random(seed: u64) -> Self {
        let mut rng = Rng::new(seed, 4);
        let x = rng.normals(EXAMPLES * LENGTH, 1.0);
        let target = rng.normals(EXAMPLES, 1.0);
        let theta = rng.normals(C + 1, 0.8);
        let parameters = Parameters::new(
            [("w", &[KERNEL]), ("b", &[]), ("v", &[POOLED]), ("c", &[])],
            theta,
        );
        ConvPool {
            parameters,
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
        vec![
            Candidate::correct("correct", self.backward(theta, Backward::Correct)),
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
        ]
    }
}
