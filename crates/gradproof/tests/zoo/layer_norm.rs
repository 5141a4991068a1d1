//! Layer norm over the rows of an input `x` (examples × features) that is itself a parameter
//! (its gradient is the hard part of the backward pass), with gain γ and shift β, under a
//! squared error: `J = (1/2m) Σ (γ ⊙ x̂ₙ + β − tₙ)²`, `x̂ = (x − μ)/√(σ² + 1e-5)`. Bugs: the
//! mean term of dx missing, the variance term of dx missing, dγ and dβ swapped, the 1/σ of dx
//! missing.

use super::kinkops::Scalar;
use super::model::{Candidate, Model, Parameters, Rng};

const EXAMPLES: usize = 3;
const FEATURES: usize = 4;
const EPSILON: f64 = 1e-5;

/// One random instance.
pub struct LayerNorm {
    parameters: Parameters,
    target: Vec<f64>,
}

/// The hand-written backward passes: the correct one and the catalogue's bugs.
#[derive(Clone, Copy, PartialEq)]
enum Backward {
    Correct,
    MissingMeanTerm,
    MissingVarianceTerm,
    GammaBetaSwapped,
    MissingInverseSigma,
}

impl LayerNorm {
    fn backward(&self, theta: &[f64], variant: Backward) -> Vec<f64> {
        let rows = EXAMPLES * FEATURES;
        let (gain, shift) = theta[rows..].split_at(FEATURES);
        let mut g = vec![0.0; theta.len()];
        for n in 0..EXAMPLES {
            let row = &theta[n * FEATURES..(n + 1) * FEATURES];
            let mean = row.iter().sum::<f64>() / FEATURES as f64;
            let variance = row.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / FEATURES as f64;
            let inverse = 1.0 / (variance + EPSILON).sqrt();
            let normalised: Vec<f64> = row.iter().map(|v| (v - mean) * inverse).collect();
            let error: Vec<f64> = (0..FEATURES)
                .map(|j| {
                    (gain[j] * normalised[j] + shift[j] - self.target[n * FEATURES + j])
                        / EXAMPLES as f64
                })
                .collect();
            let d_normalised: Vec<f64> = (0..FEATURES).map(|j| error[j] * gain[j]).collect();
            let mean_term = match variant {
                Backward::MissingMeanTerm => 0.0,
                _ => d_normalised.iter().sum::<f64>() / FEATURES as f64,
            };
            let variance_term = match variant {
                Backward::MissingVarianceTerm => 0.0,
                _ => {
                    d_normalised
                        .iter()
                        .zip(&normalised)
                        .map(|(d, x)| d * x)
                        .sum::<f64>()
                        / FEATURES as f64
                }
            };
            let scale = match variant {
                Backward::MissingInverseSigma => 1.0,
                _ => inverse,
            };
            let (d_gain, d_shift) = match variant {
                Backward::GammaBetaSwapped => (rows + FEATURES, rows),
                _ => (rows, rows + FEATURES),
            };
            for j in 0..FEATURES {
                g[n * FEATURES + j] =
                    scale * (d_normalised[j] - mean_term - normalised[j] * variance_term);
                g[d_gain + j] += error[j] * normalised[j];
                g[d_shift + j] += error[j];
            }
        }
        g
    }
}

impl Model for LayerNorm {
    const FAMILY: &'static str = "layer norm";
    const KINKS_AT_THETA: bool = false;

    fn random(seed: u64) -> Self {
        let mut rng = Rng::new(seed, 2);
        let target = rng.normals(EXAMPLES * FEATURES, 1.0);
        let mut theta = rng.normals(EXAMPLES * FEATURES, 1.5);
        theta.extend(rng.normals(FEATURES, 1.0).iter().map(|v| 1.0 + 0.3 * v));
        theta.extend(rng.normals(FEATURES, 0.3));
        let parameters = Parameters::new(
            [
                ("x", &[EXAMPLES, FEATURES]),
                ("gamma", &[FEATURES]),
                ("beta", &[FEATURES]),
            ],
            theta,
        );
        LayerNorm { parameters, target }
    }

    fn parameters(&self) -> &Parameters {
        &self.parameters
    }

    fn cost<S: Scalar>(&self, theta: &[S]) -> S {
        let rows = EXAMPLES * FEATURES;
        let (gain, shift) = theta[rows..].split_at(FEATURES);
        let width = S::lit(FEATURES as f64);
        let mut total = S::zero();
        for n in 0..EXAMPLES {
            let row = &theta[n * FEATURES..(n + 1) * FEATURES];
            let mean = row.iter().copied().sum::<S>() / width;
            let variance = row.iter().map(|&v| (v - mean).powi(2)).sum::<S>() / width;
            let inverse = (variance + S::lit(EPSILON)).sqrt().recip();
            for j in 0..FEATURES {
                let out = gain[j] * (row[j] - mean) * inverse + shift[j];
                total += (out - S::lit(self.target[n * FEATURES + j])).powi(2);
            }
        }
        total / S::lit(2.0 * EXAMPLES as f64)
    }

    fn gradients(&self, theta: &[f64]) -> Vec<Candidate> {
        let bug = |name, variant| Candidate::bug(name, self.backward(theta, variant));
        vec![
            Candidate::correct("correct", self.backward(theta, Backward::Correct)),
            bug("missing mean term in dx", Backward::MissingMeanTerm),
            bug("missing variance term in dx", Backward::MissingVarianceTerm),
            bug("dgamma and dbeta swapped", Backward::GammaBetaSwapped),
            bug("missing 1/sigma in dx", Backward::MissingInverseSigma),
        ]
    }
}
