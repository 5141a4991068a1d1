//! Optimisers that move a flat parameter buffer along its gradient: SGD with momentum and Adam.
//! They know nothing of the model: a step takes `θ` and `∇J(θ)` as slices of equal length.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Which optimiser, with its hyper-parameters (the learning rate is set apart).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OptimizerKind {
    /// `v ← μ·v − η·g; θ ← θ + v` (plain SGD when `momentum` is 0).
    Sgd {
        /// The momentum μ in `[0, 1)`.
        momentum: f64,
    },
    /// Adam (Kingma & Ba): bias-corrected first and second moment estimates,
    /// `θ ← θ − η·m̂ / (√v̂ + ε)`.
    Adam {
        /// Decay of the first moment, in `[0, 1)` (0.9 by default).
        beta1: f64,
        /// Decay of the second moment, in `[0, 1)` (0.999 by default).
        beta2: f64,
        /// The denominator's guard ε > 0 (1e-8 by default).
        epsilon: f64,
    },
}

impl OptimizerKind {
    /// Adam with its usual defaults.
    pub const ADAM: OptimizerKind = OptimizerKind::Adam {
        beta1: 0.9,
        beta2: 0.999,
        epsilon: 1e-8,
    };
}

/// An optimiser with its state (the moments), for parameters of a fixed length.
///
/// ```
/// use fraudnet::optim::{Optimizer, OptimizerKind};
/// // Minimise (θ − 3)²: gradient 2(θ − 3).
/// let mut adam = Optimizer::new(OptimizerKind::ADAM, 0.1, 1)?;
/// let mut theta = [0.0];
/// for _ in 0..500 {
///     let gradient = [2.0 * (theta[0] - 3.0)];
///     adam.step(&mut theta, &gradient)?;
/// }
/// assert!((theta[0] - 3.0).abs() < 1e-3);
/// # Ok::<(), fraudnet::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Optimizer {
    kind: OptimizerKind,
    learning_rate: f64,
    first: Vec<f64>,
    second: Vec<f64>,
    steps: u64,
}

impl Optimizer {
    /// An optimiser for `len` parameters; every hyper-parameter is checked against its range.
    pub fn new(kind: OptimizerKind, learning_rate: f64, len: usize) -> Result<Self> {
        let invalid = |what: String| Err(Error::InvalidSetting(what));
        if !(learning_rate.is_finite() && learning_rate > 0.0) {
            return invalid(format!(
                "the learning rate must be a positive finite number, got {learning_rate}"
            ));
        }
        let unit = |v: f64| (0.0..1.0).contains(&v);
        let second = match kind {
            OptimizerKind::Sgd { momentum } => {
                if !unit(momentum) {
                    return invalid(format!("momentum must be in [0, 1), got {momentum}"));
                }
                Vec::new()
            }
            OptimizerKind::Adam {
                beta1,
                beta2,
                epsilon,
            } => {
                if !unit(beta1) || !unit(beta2) {
                    return invalid(format!(
                        "Adam's β1 and β2 must be in [0, 1), got {beta1} and {beta2}"
                    ));
                }
                if !(epsilon.is_finite() && epsilon > 0.0) {
                    return invalid(format!("Adam's ε must be positive, got {epsilon}"));
                }
                vec![0.0; len]
            }
        };
        Ok(Optimizer {
            kind,
            learning_rate,
            first: vec![0.0; len],
            second,
            steps: 0,
        })
    }

    /// The optimiser and its hyper-parameters.
    pub fn kind(&self) -> OptimizerKind {
        self.kind
    }

    /// The learning rate η.
    pub fn learning_rate(&self) -> f64 {
        self.learning_rate
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// One step: moves `theta` against `gradient`. Both must have the optimiser's length, and
    /// the gradient must be finite (a NaN would silently poison every later step).
    pub fn step(&mut self, theta: &mut [f64], gradient: &[f64]) -> Result<()> {
        let len = self.first.len();
        if theta.len() != len || gradient.len() != len {
            return Err(Error::ShapeMismatch {
                what: "optimiser step",
                found: vec![theta.len(), gradient.len()],
                expected: format!("θ and gradient of length {len}"),
            });
        }
        if let Some(k) = gradient.iter().position(|g| !g.is_finite()) {
            return Err(Error::InvalidSetting(format!(
                "the gradient is {} at parameter {k}: refusing to step (lower the learning rate?)",
                gradient[k]
            )));
        }
        self.steps += 1;
        let eta = self.learning_rate;
        match self.kind {
            OptimizerKind::Sgd { momentum } => {
                for ((t, v), &g) in theta.iter_mut().zip(&mut self.first).zip(gradient) {
                    *v = momentum * *v - eta * g;
                    *t += *v;
                }
            }
            OptimizerKind::Adam {
                beta1,
                beta2,
                epsilon,
            } => {
                let n = self.steps as i32;
                let (c1, c2) = (1.0 - beta1.powi(n), 1.0 - beta2.powi(n));
                let moments = self.first.iter_mut().zip(&mut self.second);
                for ((t, (m, v)), &g) in theta.iter_mut().zip(moments).zip(gradient) {
                    *m = beta1 * *m + (1.0 - beta1) * g;
                    *v = beta2 * *v + (1.0 - beta2) * g * g;
                    *t -= eta * (*m / c1) / ((*v / c2).sqrt() + epsilon);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sgd_with_momentum_follows_its_recurrence() {
        let mut sgd = Optimizer::new(OptimizerKind::Sgd { momentum: 0.5 }, 0.1, 2).unwrap();
        let mut theta = [1.0, -2.0];
        sgd.step(&mut theta, &[1.0, 2.0]).unwrap();
        assert_eq!(theta, [1.0 - 0.1, -2.0 - 0.2]);
        sgd.step(&mut theta, &[1.0, 2.0]).unwrap();
        // v = 0.5·(−0.1) − 0.1 = −0.15.
        assert!((theta[0] - (0.9 - 0.15)).abs() < 1e-15);
        assert!((theta[1] - (-2.2 - 0.3)).abs() < 1e-15);
    }

    #[test]
    fn adams_first_step_is_the_learning_rate_whatever_the_gradients_scale() {
        let mut adam = Optimizer::new(OptimizerKind::ADAM, 0.01, 3).unwrap();
        let mut theta = [0.0; 3];
        adam.step(&mut theta, &[1e-3, -50.0, 7.0]).unwrap();
        for (t, sign) in theta.iter().zip([-1.0, 1.0, -1.0]) {
            assert!((t - sign * 0.01).abs() < 1e-6, "{theta:?}");
        }
    }

    #[test]
    fn bad_settings_and_bad_gradients_are_refused() {
        assert!(Optimizer::new(OptimizerKind::ADAM, 0.0, 1).is_err());
        assert!(Optimizer::new(OptimizerKind::Sgd { momentum: 1.0 }, 0.1, 1).is_err());
        let mut sgd = Optimizer::new(OptimizerKind::Sgd { momentum: 0.0 }, 0.1, 2).unwrap();
        let mut theta = [0.0, 0.0];
        let error = sgd.step(&mut theta, &[0.0, f64::NAN]).unwrap_err();
        assert!(error.to_string().contains("NaN at parameter 1"), "{error}");
        assert_eq!(theta, [0.0, 0.0]);
        assert!(sgd.step(&mut theta, &[0.0]).is_err());
    }
}
