//! One dense layer, `Z = W·X + b` then `A = act(Z)`, as a vector-valued function with its
//! hand-written vector–Jacobian product (what the MLP's backward pass does for one layer), so
//! that [`gradproof::jacobian::JacobianChecker`] can check the layer on its own and name the wrong
//! (output, input) pair. Mistakes can be injected on purpose ([`LayerBug`]).

use gradproof::jacobian::VectorProblem;
use gradproof::{Layout, TensorSpec, Tensors};

use crate::error::{Error, Result};
use crate::model::Activation;
use crate::numpy_rng::NumpyRng;

/// A mistake in [`DenseLayer`]'s VJP, made on purpose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayerBug {
    /// `∂/∂b` from the first example's `dZ` instead of the sum over examples.
    BiasNotSummed,
    /// `∂/∂X` reads `W`'s buffer as if it were `Wᵀ` (`W[k·n_out + i]` for `W[i, k]`): a
    /// transposition done wrongly, which every shape accepts.
    InputGradientTransposedWrongly,
}

/// A dense layer over `m` examples: inputs `W (n_out, n_in)`, `b (n_out, 1)`, `X (n_in, m)`;
/// outputs `Z = W·X + b` and `A = act(Z)`, both `(n_out, m)`.
///
/// ```
/// use fraudnet::{Activation, DenseLayer, LayerBug};
/// use gradproof::jacobian::JacobianChecker;
/// let layer = DenseLayer::new(3, 4, 5, Activation::Tanh)?;
/// let x = layer.random_inputs(7);
/// assert!(JacobianChecker::new().check(&layer, x.values())?.passed());
/// let buggy = layer.with_bug(LayerBug::BiasNotSummed);
/// let report = JacobianChecker::new().check(&buggy, x.values())?;
/// assert_eq!(report.failing(), ["∂Z/∂b", "∂A/∂b"]);
/// # Ok::<(), fraudnet::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct DenseLayer {
    inputs: Layout,
    outputs: Layout,
    sizes: (usize, usize, usize),
    activation: Activation,
    bug: Option<LayerBug>,
}

impl DenseLayer {
    /// A layer from `n_in` to `n_out` units over `examples` examples (all at least 1).
    pub fn new(n_in: usize, n_out: usize, examples: usize, activation: Activation) -> Result<Self> {
        if n_in == 0 || n_out == 0 || examples == 0 {
            return Err(Error::InvalidSetting(format!(
                "a dense layer needs at least one input, output and example, got {n_in}, {n_out}, {examples}"
            )));
        }
        Ok(DenseLayer {
            inputs: Layout::new([
                TensorSpec::new("W", [n_out, n_in]),
                TensorSpec::new("b", [n_out, 1]),
                TensorSpec::new("X", [n_in, examples]),
            ])?,
            outputs: Layout::new([
                TensorSpec::new("Z", [n_out, examples]),
                TensorSpec::new("A", [n_out, examples]),
            ])?,
            sizes: (n_in, n_out, examples),
            activation,
            bug: None,
        })
    }

    /// The same layer with `bug` in its VJP.
    pub fn with_bug(mut self, bug: LayerBug) -> Self {
        self.bug = Some(bug);
        self
    }

    /// Random inputs from `seed` (numpy's legacy generator): `W` from `N(0, 1/n_in)`, `b` from
    /// `N(0, 0.01)`, `X` from `N(0, 1)`.
    pub fn random_inputs(&self, seed: u32) -> Tensors {
        let mut rng = NumpyRng::new(seed);
        let (n_in, _, _) = self.sizes;
        let mut values = Vec::with_capacity(self.inputs.len());
        for (k, spec) in self.inputs.tensors().iter().enumerate() {
            let scale = [(1.0 / n_in as f64).sqrt(), 0.1, 1.0][k];
            values.extend((0..spec.len()).map(|_| rng.randn() * scale));
        }
        Tensors::new(self.inputs.clone(), values).expect("the values fill the layout")
    }

    /// `Z` for the inputs `x` (row-major `n_out × m`).
    fn pre_activation(&self, x: &[f64]) -> Vec<f64> {
        let (n_in, n_out, m) = self.sizes;
        let (w, rest) = x.split_at(n_out * n_in);
        let (b, input) = rest.split_at(n_out);
        let mut z = vec![0.0; n_out * m];
        for i in 0..n_out {
            for j in 0..m {
                z[i * m + j] = b[i]
                    + (0..n_in)
                        .map(|k| w[i * n_in + k] * input[k * m + j])
                        .sum::<f64>();
            }
        }
        z
    }
}

impl VectorProblem for DenseLayer {
    fn inputs(&self) -> &Layout {
        &self.inputs
    }

    fn outputs(&self) -> &Layout {
        &self.outputs
    }

    fn value(&self, x: &[f64]) -> gradproof::Result<Tensors> {
        self.inputs.expect_len("layer inputs", x.len())?;
        let z = self.pre_activation(x);
        let a: Vec<f64> = z.iter().map(|&v| self.activation.apply(v)).collect();
        Tensors::new(self.outputs.clone(), [z, a].concat())
    }

    /// `dZ = u_Z + u_A ⊙ act′(Z)`, `∂W = dZ·Xᵀ`, `∂b = Σ_examples dZ`, `∂X = Wᵀ·dZ`.
    fn vjp(&self, x: &[f64], cotangent: &Tensors) -> gradproof::Result<Tensors> {
        self.inputs.expect_len("layer inputs", x.len())?;
        self.outputs.expect_same(cotangent.layout())?;
        let (n_in, n_out, m) = self.sizes;
        let z = self.pre_activation(x);
        let (uz, ua) = cotangent.values().split_at(n_out * m);
        let dz: Vec<f64> = (0..n_out * m)
            .map(|t| uz[t] + ua[t] * self.activation.derivative(z[t]))
            .collect();
        let (w, rest) = x.split_at(n_out * n_in);
        let input = &rest[n_out..];
        let mut grad = vec![0.0; self.inputs.len()];
        let (dw, rest) = grad.split_at_mut(n_out * n_in);
        let (db, dx) = rest.split_at_mut(n_out);
        for i in 0..n_out {
            for k in 0..n_in {
                dw[i * n_in + k] = (0..m).map(|j| dz[i * m + j] * input[k * m + j]).sum();
            }
            db[i] = match self.bug {
                Some(LayerBug::BiasNotSummed) => dz[i * m],
                _ => dz[i * m..(i + 1) * m].iter().sum(),
            };
        }
        for k in 0..n_in {
            for j in 0..m {
                dx[k * m + j] = (0..n_out)
                    .map(|i| {
                        let weight = match self.bug {
                            Some(LayerBug::InputGradientTransposedWrongly) => w[k * n_out + i],
                            _ => w[i * n_in + k],
                        };
                        weight * dz[i * m + j]
                    })
                    .sum();
            }
        }
        Tensors::new(self.inputs.clone(), grad)
    }
}
