//! Two ReLU layers and a linear read-out under a squared error, with the pre-activations of
//! some first-layer units placed exactly on 0 (one example each): inputs, first-layer weights
//! and biases are dyadic rationals, so `W₁x + b₁` is exactly 0 there in `f64` and in `f32`
//! alike, and every other pre-activation is clear of 0. At a tie `relu'(0)` may be anything in
//! `[0, 1]`: 0 (the canonical backward pass), 1 and ½ are all correct. Bugs: `relu'(0) = 2` and
//! `relu'(0) = −1` (wrong only at the tied units), the second layer's `relu'` missing, dW₂ taken
//! from the cached pre-activation `z₁` instead of `relu(z₁)`.

use super::kinkops::{Scalar, relu};
use super::model::{Candidate, Model, Parameters, Rng, dot, dot_scalars};

const EXAMPLES: usize = 4;
const INPUTS: usize = 3;
const FIRST: usize = 4;
const SECOND: usize = 3;
/// The first-layer units with one pre-activation exactly 0.
const TIED: [usize; 2] = [0, 2];
/// How far every other pre-activation stays from 0.
const MARGIN: f64 = 0.125;

/// Offsets of W₁, b₁, W₂, b₂, w₃, b₃ in θ.
const B1: usize = FIRST * INPUTS;
const W2: usize = B1 + FIRST;
const B2: usize = W2 + SECOND * FIRST;
const W3: usize = B2 + SECOND;
const B3: usize = W3 + SECOND;
const LEN: usize = B3 + 1;

/// One random instance.
pub struct ReluNet {
    parameters: Parameters,
    x: Vec<f64>,
    target: Vec<f64>,
}

/// The hand-written backward passes.
#[derive(Clone, Copy, PartialEq)]
enum Backward {
    /// With this value of `relu'(0)` (correct in `[0, 1]`).
    AtZero(f64),
    MissingSecondReluPrime,
    PreActivationInDw2,
}

/// `relu'(z)`, with `at_zero` at a tie.
fn relu_prime(z: f64, at_zero: f64) -> f64 {
    if z > 0.0 {
        1.0
    } else if z < 0.0 {
        0.0
    } else {
        at_zero
    }
}

/// `W·v + b` for a row-major `W` with `b.len()` rows.
fn affine(w: &[f64], v: &[f64], b: &[f64]) -> Vec<f64> {
    (0..b.len())
        .map(|i| dot(&w[i * v.len()..(i + 1) * v.len()], v) + b[i])
        .collect()
}

impl ReluNet {
    fn input(&self, n: usize) -> &[f64] {
        &self.x[n * INPUTS..(n + 1) * INPUTS]
    }

    /// `(z₁, z₂)` of example `n` (f64).
    fn pre_activations(&self, theta: &[f64], n: usize) -> (Vec<f64>, Vec<f64>) {
        let z1 = affine(&theta[..B1], self.input(n), &theta[B1..W2]);
        let a1: Vec<f64> = z1.iter().map(|&z| z.max(0.0)).collect();
        let z2 = affine(&theta[W2..B2], &a1, &theta[B2..W3]);
        (z1, z2)
    }

    fn backward(&self, theta: &[f64], variant: Backward) -> Vec<f64> {
        let at_zero = match variant {
            Backward::AtZero(value) => value,
            _ => 0.0,
        };
        let mut g = vec![0.0; LEN];
        for n in 0..EXAMPLES {
            let (z1, z2) = self.pre_activations(theta, n);
            let a1: Vec<f64> = z1.iter().map(|&z| z.max(0.0)).collect();
            let a2: Vec<f64> = z2.iter().map(|&z| z.max(0.0)).collect();
            let error = (dot(&theta[W3..B3], &a2) + theta[B3] - self.target[n]) / EXAMPLES as f64;
            g[B3] += error;
            let d_z2: Vec<f64> = (0..SECOND)
                .map(|k| {
                    g[W3 + k] += error * a2[k];
                    let prime = match variant {
                        Backward::MissingSecondReluPrime => 1.0,
                        _ => relu_prime(z2[k], at_zero),
                    };
                    error * theta[W3 + k] * prime
                })
                .collect();
            let cached = match variant {
                Backward::PreActivationInDw2 => &z1,
                _ => &a1,
            };
            for k in 0..SECOND {
                for j in 0..FIRST {
                    g[W2 + k * FIRST + j] += d_z2[k] * cached[j];
                }
                g[B2 + k] += d_z2[k];
            }
            for j in 0..FIRST {
                let d_a1: f64 = (0..SECOND)
                    .map(|k| theta[W2 + k * FIRST + j] * d_z2[k])
                    .sum();
                let d_z1 = d_a1 * relu_prime(z1[j], at_zero);
                for i in 0..INPUTS {
                    g[j * INPUTS + i] += d_z1 * self.input(n)[i];
                }
                g[B1 + j] += d_z1;
            }
        }
        g
    }

    /// True if the tied pre-activations are the only ones within [`MARGIN`] of 0.
    fn clear_of_kinks(&self, tied: &[(usize, usize)]) -> bool {
        (0..EXAMPLES).all(|n| {
            let (z1, z2) = self.pre_activations(self.theta(), n);
            let first = z1
                .iter()
                .enumerate()
                .all(|(j, z)| tied.contains(&(n, j)) || z.abs() >= MARGIN);
            first && z2.iter().all(|z| z.abs() >= MARGIN)
        })
    }
}

impl Model for ReluNet {
    const FAMILY: &'static str = "ReLU layers, pre-activations at 0";
    const KINKS_AT_THETA: bool = true;

    fn random(seed: u64) -> Self {
        let mut rng = Rng::new(seed, 6);
        loop {
            let x: Vec<f64> = (0..EXAMPLES * INPUTS).map(|_| rng.dyadic(4, 4.0)).collect();
            let mut theta: Vec<f64> = (0..W2).map(|_| rng.dyadic(8, 8.0)).collect();
            theta.extend(rng.normals(LEN - W2, 0.8));
            // b₁ = −W₁xₙ exactly for one example n of each tied unit.
            let tied: Vec<(usize, usize)> =
                TIED.iter().map(|&j| (rng.below(EXAMPLES), j)).collect();
            for &(n, j) in &tied {
                let input = &x[n * INPUTS..(n + 1) * INPUTS];
                theta[B1 + j] = -dot(&theta[j * INPUTS..(j + 1) * INPUTS], input);
            }
            let net = ReluNet {
                parameters: Parameters::new(
                    [
                        ("W1", &[FIRST, INPUTS]),
                        ("b1", &[FIRST]),
                        ("W2", &[SECOND, FIRST]),
                        ("b2", &[SECOND]),
                        ("w3", &[SECOND]),
                        ("b3", &[]),
                    ],
                    theta,
                ),
                x,
                target: rng.normals(EXAMPLES, 1.0),
            };
            if net.clear_of_kinks(&tied) {
                return net;
            }
        }
    }

    fn parameters(&self) -> &Parameters {
        &self.parameters
    }

    fn cost<S: Scalar>(&self, theta: &[S]) -> S {
        let mut total = S::zero();
        for n in 0..EXAMPLES {
            let a1: Vec<S> = (0..FIRST)
                .map(|j| {
                    let row = &theta[j * INPUTS..(j + 1) * INPUTS];
                    relu(dot(row, self.input(n)) + theta[B1 + j])
                })
                .collect();
            let a2: Vec<S> = (0..SECOND)
                .map(|k| {
                    relu(
                        dot_scalars(&theta[W2 + k * FIRST..W2 + (k + 1) * FIRST], &a1)
                            + theta[B2 + k],
                    )
                })
                .collect();
            let score = dot_scalars(&theta[W3..B3], &a2) + theta[B3];
            total += (score - S::lit(self.target[n])).powi(2);
        }
        total / S::lit(2.0 * EXAMPLES as f64)
    }

    fn gradients(&self, theta: &[f64]) -> Vec<Candidate> {
        let run = |variant| self.backward(theta, variant);
        vec![
            Candidate::correct("correct, relu'(0) = 0", run(Backward::AtZero(0.0))),
            Candidate::correct("relu'(0) = 1", run(Backward::AtZero(1.0))),
            Candidate::correct("relu'(0) = 1/2", run(Backward::AtZero(0.5))),
            Candidate::bug("relu'(0) = 2 at the tied units", run(Backward::AtZero(2.0))),
            Candidate::bug(
                "relu'(0) = -1 at the tied units",
                run(Backward::AtZero(-1.0)),
            ),
            Candidate::bug(
                "second layer's relu' missing",
                run(Backward::MissingSecondReluPrime),
            ),
            Candidate::bug(
                "z1 cached instead of relu(z1) in dW2",
                run(Backward::PreActivationInDw2),
            ),
        ]
    }
}
