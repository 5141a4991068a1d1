//! L1-regularised logistic regression with some weights exactly 0, where `|w|` has its kink:
//! `J = (1/m) Σₙ log(1 + e^(−yₙ(w·xₙ + b))) + λ‖w‖₁`. At a zero weight any `λ·s` with
//! `s ∈ [−1, 1]` is a valid subgradient of the L1 term: `sign(0) = 0` (the canonical backward
//! pass), `+1`, `−1` and `½` are all correct. Bugs: `3λ` at the zero weights (wrong only at the
//! kinks), λ missing (wrong only away from them), the 1/m missing from the data term, the L1
//! term's sign flipped.

use super::kinkops::{Scalar, abs};
use super::model::{Candidate, Model, Parameters, Rng, dot};

const EXAMPLES: usize = 8;
const FEATURES: usize = 5;
const LAMBDA: f64 = 0.05;
/// The weights placed exactly at 0.
const ZEROS: [usize; 2] = [1, 3];

/// One random instance.
pub struct L1Logistic {
    parameters: Parameters,
    x: Vec<f64>,
    y: Vec<f64>,
}

/// The hand-written backward passes.
#[derive(Clone, Copy, PartialEq)]
enum Backward {
    /// Correct, with this value of `sign(0)`.
    SignAtZero(f64),
    /// `3λ` at the zero weights.
    ThreeLambdaAtZeros,
    MissingLambda,
    MissingOneOverM,
    L1SignFlipped,
}

impl L1Logistic {
    fn backward(&self, theta: &[f64], variant: Backward) -> Vec<f64> {
        let (w, b) = theta.split_at(FEATURES);
        let mut g = vec![0.0; theta.len()];
        let averaged = match variant {
            Backward::MissingOneOverM => 1.0,
            _ => 1.0 / EXAMPLES as f64,
        };
        for n in 0..EXAMPLES {
            let x = &self.x[n * FEATURES..(n + 1) * FEATURES];
            let margin = -self.y[n] * (dot(w, x) + b[0]);
            // d/dz log(1 + e^(−y z)) = −y σ(−y z).
            let d_score = -self.y[n] / (1.0 + (-margin).exp()) * averaged;
            for d in 0..FEATURES {
                g[d] += d_score * x[d];
            }
            g[FEATURES] += d_score;
        }
        for d in 0..FEATURES {
            let sign = match (variant, w[d] == 0.0) {
                (Backward::SignAtZero(s), true) => s,
                (Backward::ThreeLambdaAtZeros, true) => 3.0,
                (Backward::MissingLambda, _) => 0.0,
                (Backward::L1SignFlipped, _) => -w[d].signum() * f64::from(w[d] != 0.0),
                _ => w[d].signum() * f64::from(w[d] != 0.0),
            };
            g[d] += LAMBDA * sign;
        }
        g
    }
}

impl Model for L1Logistic {
    const FAMILY: &'static str = "L1 logistic, weights at 0";
    const KINKS_AT_THETA: bool = true;

    fn random(seed: u64) -> Self {
        let mut rng = Rng::new(seed, 5);
        let x = rng.normals(EXAMPLES * FEATURES, 1.0);
        let y = (0..EXAMPLES).map(|_| rng.sign()).collect();
        let mut theta: Vec<f64> = rng.normals(FEATURES + 1, 0.8);
        for (d, w) in theta[..FEATURES].iter_mut().enumerate() {
            // Zeros exactly where placed, the others clear of the kink.
            *w = if ZEROS.contains(&d) {
                0.0
            } else {
                w.signum() * (0.1 + w.abs())
            };
        }
        let parameters = Parameters::new([("w", &[FEATURES]), ("b", &[])], theta);
        L1Logistic { parameters, x, y }
    }

    fn parameters(&self) -> &Parameters {
        &self.parameters
    }

    fn cost<S: Scalar>(&self, theta: &[S]) -> S {
        let (w, b) = theta.split_at(FEATURES);
        let mut data = S::zero();
        for n in 0..EXAMPLES {
            let x = &self.x[n * FEATURES..(n + 1) * FEATURES];
            let margin = (dot(w, x) + b[0]) * S::lit(-self.y[n]);
            data += margin.exp().ln_1p();
        }
        let l1 = w.iter().fold(S::zero(), |sum, &v| sum + abs(v));
        data / S::lit(EXAMPLES as f64) + l1 * S::lit(LAMBDA)
    }

    fn gradients(&self, theta: &[f64]) -> Vec<Candidate> {
        let run = |variant| self.backward(theta, variant);
        vec![
            Candidate::correct("correct, sign(0) = 0", run(Backward::SignAtZero(0.0))),
            Candidate::correct("sign(0) = +1", run(Backward::SignAtZero(1.0))),
            Candidate::correct("sign(0) = -1", run(Backward::SignAtZero(-1.0))),
            Candidate::correct("sign(0) = 1/2", run(Backward::SignAtZero(0.5))),
            Candidate::bug(
                "3 lambda at the zero weights",
                run(Backward::ThreeLambdaAtZeros),
            ),
            Candidate::bug("missing lambda", run(Backward::MissingLambda)),
            Candidate::bug(
                "missing 1/m in the data term",
                run(Backward::MissingOneOverM),
            ),
            Candidate::bug("L1 term's sign flipped", run(Backward::L1SignFlipped)),
        ]
    }
}
