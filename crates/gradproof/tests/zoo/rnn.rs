//! A tanh RNN through a few steps with a squared error at every step, differentiated by
//! backpropagation through time: `hₜ = tanh(W hₜ₋₁ + U xₜ + b)` from `h₀ = 0`,
//! `J = (1/2T) Σₜ ‖V hₜ + c − yₜ‖²`. Bugs: BPTT truncated by one step (no gradient reaches
//! `h₁` from later steps), the cached activation `hₜ` used in dW instead of `hₜ₋₁`, tanh'
//! missing, dV summed from the last step only.

use super::kinkops::Scalar;
use super::model::{Candidate, Model, Parameters, Rng, dot, dot_scalars};

const HIDDEN: usize = 3;
const INPUTS: usize = 2;
const OUTPUTS: usize = 2;
const STEPS: usize = 4;

/// Offsets of W, U, b, V, c in θ.
const W: usize = 0;
const U: usize = W + HIDDEN * HIDDEN;
const B: usize = U + HIDDEN * INPUTS;
const V: usize = B + HIDDEN;
const C: usize = V + OUTPUTS * HIDDEN;
const LEN: usize = C + OUTPUTS;

/// One random instance.
pub struct Rnn {
    parameters: Parameters,
    x: Vec<f64>,
    y: Vec<f64>,
}

/// The hand-written backward passes: the correct one and the catalogue's bugs.
#[derive(Clone, Copy, PartialEq)]
enum Backward {
    Correct,
    TruncatedByOneStep,
    CurrentActivationInDw,
    MissingTanhPrime,
    DvLastStepOnly,
}

/// `Σⱼ m[i·cols + j]·v[j]` for every row `i`.
fn times(m: &[f64], v: &[f64], rows: usize) -> Vec<f64> {
    (0..rows)
        .map(|i| dot(&m[i * v.len()..(i + 1) * v.len()], v))
        .collect()
}

/// `Σᵢ m[i·cols + j]·v[i]` for every column `j`: the transpose times `v`.
fn transposed_times(m: &[f64], v: &[f64], cols: usize) -> Vec<f64> {
    (0..cols)
        .map(|j| {
            v.iter()
                .enumerate()
                .map(|(i, vi)| m[i * cols + j] * vi)
                .sum()
        })
        .collect()
}

impl Rnn {
    /// The hidden states `h₀ … h_T` (f64).
    fn states(&self, theta: &[f64]) -> Vec<Vec<f64>> {
        let mut h = vec![vec![0.0; HIDDEN]];
        for t in 0..STEPS {
            let recurrent = times(&theta[W..U], &h[t], HIDDEN);
            let input = times(&theta[U..B], &self.x[t * INPUTS..(t + 1) * INPUTS], HIDDEN);
            let next = (0..HIDDEN)
                .map(|i| (recurrent[i] + input[i] + theta[B + i]).tanh())
                .collect();
            h.push(next);
        }
        h
    }

    fn backward(&self, theta: &[f64], variant: Backward) -> Vec<f64> {
        let h = self.states(theta);
        let mut g = vec![0.0; LEN];
        let mut from_later = vec![0.0; HIDDEN];
        for t in (1..=STEPS).rev() {
            let output = times(&theta[V..C], &h[t], OUTPUTS);
            let error: Vec<f64> = (0..OUTPUTS)
                .map(|o| (output[o] + theta[C + o] - self.y[(t - 1) * OUTPUTS + o]) / STEPS as f64)
                .collect();
            for o in 0..OUTPUTS {
                if variant != Backward::DvLastStepOnly || t == STEPS {
                    for i in 0..HIDDEN {
                        g[V + o * HIDDEN + i] += error[o] * h[t][i];
                    }
                }
                g[C + o] += error[o];
            }
            let mut d_h = transposed_times(&theta[V..C], &error, HIDDEN);
            if !(variant == Backward::TruncatedByOneStep && t == 1) {
                d_h.iter_mut().zip(&from_later).for_each(|(d, l)| *d += l);
            }
            let d_pre: Vec<f64> = (0..HIDDEN)
                .map(|i| match variant {
                    Backward::MissingTanhPrime => d_h[i],
                    _ => d_h[i] * (1.0 - h[t][i] * h[t][i]),
                })
                .collect();
            let cached = match variant {
                Backward::CurrentActivationInDw => &h[t],
                _ => &h[t - 1],
            };
            for i in 0..HIDDEN {
                for j in 0..HIDDEN {
                    g[W + i * HIDDEN + j] += d_pre[i] * cached[j];
                }
                for k in 0..INPUTS {
                    g[U + i * INPUTS + k] += d_pre[i] * self.x[(t - 1) * INPUTS + k];
                }
                g[B + i] += d_pre[i];
            }
            from_later = transposed_times(&theta[W..U], &d_pre, HIDDEN);
        }
        g
    }
}

impl Model for Rnn {
    const FAMILY: &'static str = "RNN (BPTT)";
    const KINKS_AT_THETA: bool = false;

    fn random(seed: u64) -> Self {
        let mut rng = Rng::new(seed, 3);
        let x = rng.normals(STEPS * INPUTS, 1.0);
        let y = rng.normals(STEPS * OUTPUTS, 0.5);
        let theta = rng.normals(LEN, 0.6);
        let parameters = Parameters::new(
            [
                ("W", &[HIDDEN, HIDDEN]),
                ("U", &[HIDDEN, INPUTS]),
                ("b", &[HIDDEN]),
                ("V", &[OUTPUTS, HIDDEN]),
                ("c", &[OUTPUTS]),
            ],
            theta,
        );
        Rnn { parameters, x, y }
    }

    fn parameters(&self) -> &Parameters {
        &self.parameters
    }

    fn cost<S: Scalar>(&self, theta: &[S]) -> S {
        let mut h = vec![S::zero(); HIDDEN];
        let mut total = S::zero();
        for t in 0..STEPS {
            let x = &self.x[t * INPUTS..(t + 1) * INPUTS];
            h = (0..HIDDEN)
                .map(|i| {
                    let row = &theta[W + i * HIDDEN..W + (i + 1) * HIDDEN];
                    (dot_scalars(row, &h)
                        + dot(&theta[U + i * INPUTS..U + (i + 1) * INPUTS], x)
                        + theta[B + i])
                        .tanh()
                })
                .collect();
            for o in 0..OUTPUTS {
                let row = &theta[V + o * HIDDEN..V + (o + 1) * HIDDEN];
                total +=
                    (dot_scalars(row, &h) + theta[C + o] - S::lit(self.y[t * OUTPUTS + o])).powi(2);
            }
        }
        total / S::lit(2.0 * STEPS as f64)
    }

    fn gradients(&self, theta: &[f64]) -> Vec<Candidate> {
        let bug = |name, variant| Candidate::bug(name, self.backward(theta, variant));
        vec![
            Candidate::correct("correct", self.backward(theta, Backward::Correct)),
            bug("BPTT truncated by one step", Backward::TruncatedByOneStep),
            bug(
                "h_t cached instead of h_(t-1) in dW",
                Backward::CurrentActivationInDw,
            ),
            bug("missing tanh'", Backward::MissingTanhPrime),
            bug("dV from the last step only", Backward::DvLastStepOnly),
        ]
    }
}
