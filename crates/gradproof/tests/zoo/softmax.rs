//! Softmax cross-entropy, `J = (1/m) Σₙ −log softmax(W xₙ + b)_{yₙ}` with the usual max
//! subtraction, W square (classes × features) so that a transposed dW keeps its shape. Bugs: dW
//! transposed, the 1/m missing, the max-subtraction's own derivative counted, db taken from the
//! last example only.

use super::kinkops::Scalar;
use super::model::{Candidate, Model, Parameters, Rng, dot};

const CLASSES: usize = 3;
const FEATURES: usize = 3;
const EXAMPLES: usize = 5;

/// One random instance.
pub struct Softmax {
    parameters: Parameters,
    x: Vec<f64>,
    y: Vec<usize>,
}

/// The hand-written backward passes: the correct one and the catalogue's bugs.
#[derive(Clone, Copy, PartialEq)]
enum Backward {
    Correct,
    TransposedDw,
    MissingOneOverM,
    MaxTermCounted,
    DbLastExampleOnly,
}

impl Softmax {
    fn backward(&self, theta: &[f64], variant: Backward) -> Vec<f64> {
        let (w, b) = theta.split_at(CLASSES * FEATURES);
        let mut g = vec![0.0; theta.len()];
        for n in 0..EXAMPLES {
            let x = &self.x[n * FEATURES..(n + 1) * FEATURES];
            let z: Vec<f64> = (0..CLASSES)
                .map(|c| dot(&w[c * FEATURES..(c + 1) * FEATURES], x) + b[c])
                .collect();
            let top = argmax(&z);
            let exps: Vec<f64> = z.iter().map(|v| (v - z[top]).exp()).collect();
            let total: f64 = exps.iter().sum();
            for c in 0..CLASSES {
                let mut delta = exps[c] / total - f64::from(c == self.y[n]);
                if variant == Backward::MaxTermCounted && c == top {
                    // ∂top/∂z_top = 1, without the −Σp that cancels it inside the exponentials.
                    delta += 1.0;
                }
                for (d, x_d) in x.iter().enumerate() {
                    let at = if variant == Backward::TransposedDw {
                        d * FEATURES + c
                    } else {
                        c * FEATURES + d
                    };
                    g[at] += delta * x_d;
                }
                if variant != Backward::DbLastExampleOnly || n == EXAMPLES - 1 {
                    g[CLASSES * FEATURES + c] += delta;
                }
            }
        }
        if variant != Backward::MissingOneOverM {
            g.iter_mut().for_each(|v| *v /= EXAMPLES as f64);
        }
        g
    }
}

/// The index of the largest value (the first of equals).
fn argmax(z: &[f64]) -> usize {
    (1..z.len()).fold(0, |best, c| if z[c] > z[best] { c } else { best })
}

impl Model for Softmax {
    const FAMILY: &'static str = "softmax cross-entropy";
    const KINKS_AT_THETA: bool = false;

    fn random(seed: u64) -> Self {
        let mut rng = Rng::new(seed, 1);
        let x = rng.normals(EXAMPLES * FEATURES, 1.0);
        let y = (0..EXAMPLES).map(|_| rng.below(CLASSES)).collect();
        let theta = rng.normals(CLASSES * FEATURES + CLASSES, 0.7);
        let parameters = Parameters::new([("W", &[CLASSES, FEATURES]), ("b", &[CLASSES])], theta);
        Softmax { parameters, x, y }
    }

    fn parameters(&self) -> &Parameters {
        &self.parameters
    }

    fn cost<S: Scalar>(&self, theta: &[S]) -> S {
        let (w, b) = theta.split_at(CLASSES * FEATURES);
        let mut total = S::zero();
        for n in 0..EXAMPLES {
            let x = &self.x[n * FEATURES..(n + 1) * FEATURES];
            let z: Vec<S> = (0..CLASSES)
                .map(|c| dot(&w[c * FEATURES..(c + 1) * FEATURES], x) + b[c])
                .collect();
            // The max subtraction changes nothing mathematically (not a kink of J): a plain
            // choice, kept out of the kink signature.
            let top = z[1..]
                .iter()
                .fold(z[0], |m, &v| if v.re() > m.re() { v } else { m });
            let sum: S = z.iter().map(|&v| (v - top).exp()).sum();
            total += sum.ln() + top - z[self.y[n]];
        }
        total / S::lit(EXAMPLES as f64)
    }

    fn gradients(&self, theta: &[f64]) -> Vec<Candidate> {
        vec![
            Candidate::correct("correct", self.backward(theta, Backward::Correct)),
            Candidate::bug(
                "transposed dW",
                self.backward(theta, Backward::TransposedDw),
            ),
            Candidate::bug(
                "missing 1/m",
                self.backward(theta, Backward::MissingOneOverM),
            ),
            Candidate::bug(
                "max-subtraction term counted",
                self.backward(theta, Backward::MaxTermCounted),
            ),
            Candidate::bug(
                "db from the last example only",
                self.backward(theta, Backward::DbLastExampleOnly),
            ),
        ]
    }
}
