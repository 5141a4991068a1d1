//! A multilayer perceptron `LINEAR → RELU → … → LINEAR → SIGMOID` with the logistic cost, over a
//! flat parameter buffer laid out as `W1, b1, W2, b2, …` (`Wl` of shape `(n_l, n_{l−1})`, `bl` of
//! shape `(n_l, 1)`), and its hand-written backward pass. Data is stored one example per column,
//! as in the notebook: `X` is `(n_0, m)`, `Y` is `(1, m)`.

use gradproof::{Layout, TensorSpec, Tensors};
use ndarray::{Array2, ArrayView2, Axis, Ix2};

use super::linalg::matmul;
use crate::error::{Error, Result};

/// The architecture of an MLP: its layer sizes, input first.
///
/// ```
/// use fraudnet::Mlp;
/// let mlp = Mlp::new(&[4, 5, 3, 1])?; // the notebook's network
/// assert_eq!(mlp.layout().to_string(), "W1[5, 4], b1[5, 1], W2[3, 5], b2[3, 1], W3[1, 3], b3[1, 1]");
/// # Ok::<(), fraudnet::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Mlp {
    sizes: Vec<usize>,
    layout: Layout,
}

/// What the forward pass keeps for the backward pass: every layer's pre-activation `Z` and
/// activation `A` (layer 1 first).
#[derive(Clone, Debug, PartialEq)]
pub struct Forward {
    /// `Z1, Z2, …, ZL`.
    pub pre_activations: Vec<Array2<f64>>,
    /// `A1, A2, …, AL` (`AL` is the sigmoid output).
    pub activations: Vec<Array2<f64>>,
}

impl Mlp {
    /// An MLP with the given layer sizes (input size first, output size 1 last).
    pub fn new(sizes: &[usize]) -> Result<Self> {
        let invalid = |reason: &str| Error::InvalidArchitecture {
            sizes: sizes.to_vec(),
            reason: reason.to_string(),
        };
        if sizes.len() < 2 {
            return Err(invalid("need an input size and at least one layer"));
        }
        if sizes.contains(&0) {
            return Err(invalid("every width must be at least 1"));
        }
        if sizes[sizes.len() - 1] != 1 {
            return Err(invalid(
                "the output layer (sigmoid, logistic cost) must have width 1",
            ));
        }
        let specs = sizes.windows(2).enumerate().flat_map(|(l, w)| {
            [
                TensorSpec::new(format!("W{}", l + 1), [w[1], w[0]]),
                TensorSpec::new(format!("b{}", l + 1), [w[1], 1]),
            ]
        });
        Ok(Mlp {
            sizes: sizes.to_vec(),
            layout: Layout::new(specs)?,
        })
    }

    /// Layer sizes, input first.
    pub fn sizes(&self) -> &[usize] {
        &self.sizes
    }

    /// Number of layers (weight matrices).
    pub fn depth(&self) -> usize {
        self.sizes.len() - 1
    }

    /// The parameter layout `W1, b1, W2, b2, …`.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Views of layer `l`'s (1-based) weights and bias inside `theta`.
    fn layer<'a>(&self, theta: &'a [f64], l: usize) -> (ArrayView2<'a, f64>, ArrayView2<'a, f64>) {
        let as_2d = |k| {
            self.layout
                .view(theta, k)
                .into_dimensionality::<Ix2>()
                .expect("weights and biases are 2-D")
        };
        (as_2d(2 * (l - 1)), as_2d(2 * (l - 1) + 1))
    }

    fn expect_data(&self, theta: &[f64], x: ArrayView2<'_, f64>) -> Result<()> {
        self.layout.expect_len("parameters θ", theta.len())?;
        if x.nrows() != self.sizes[0] {
            return Err(Error::ShapeMismatch {
                what: "X",
                found: x.shape().to_vec(),
                expected: format!("({}, m): one example per column", self.sizes[0]),
            });
        }
        Ok(())
    }

    fn expect_labels(x: ArrayView2<'_, f64>, y: ArrayView2<'_, f64>) -> Result<()> {
        if y.shape() != [1, x.ncols()] {
            return Err(Error::ShapeMismatch {
                what: "Y",
                found: y.shape().to_vec(),
                expected: format!("(1, {}): one label per example", x.ncols()),
            });
        }
        Ok(())
    }

    /// The forward pass: `Zl = Wl·A(l−1) + bl`, ReLU on hidden layers, sigmoid on the output.
    pub fn forward(&self, theta: &[f64], x: ArrayView2<'_, f64>) -> Result<Forward> {
        self.expect_data(theta, x)?;
        let depth = self.depth();
        let mut pre_activations = Vec::with_capacity(depth);
        let mut activations: Vec<Array2<f64>> = Vec::with_capacity(depth);
        for l in 1..=depth {
            let (w, b) = self.layer(theta, l);
            let input = if l == 1 { x } else { activations[l - 2].view() };
            let z = matmul(w, input) + b;
            let a = if l == depth {
                z.mapv(sigmoid)
            } else {
                z.mapv(|v| v.max(0.0))
            };
            pre_activations.push(z);
            activations.push(a);
        }
        Ok(Forward {
            pre_activations,
            activations,
        })
    }

    /// The logistic cost `−(1/m) Σ [y·log(a) + (1 − y)·log(1 − a)]`, computed as the notebook does
    /// (from the sigmoid's output, summed in example order).
    pub fn cost(
        &self,
        theta: &[f64],
        x: ArrayView2<'_, f64>,
        y: ArrayView2<'_, f64>,
    ) -> Result<f64> {
        Self::expect_labels(x, y)?;
        let forward = self.forward(theta, x)?;
        Ok(logistic_cost(&forward.activations[self.depth() - 1], y))
    }

    /// The hand-written backward pass: the gradient of [`Mlp::cost`], laid out like the parameters.
    pub fn gradient(
        &self,
        theta: &[f64],
        x: ArrayView2<'_, f64>,
        y: ArrayView2<'_, f64>,
    ) -> Result<Tensors> {
        Self::expect_labels(x, y)?;
        let forward = self.forward(theta, x)?;
        Ok(self.backward(theta, x, y, &forward))
    }

    /// The backward pass from a forward pass's cache:
    /// `dZL = AL − Y`, `dWl = (1/m)·dZl·A(l−1)ᵀ`, `dbl = (1/m)·Σ dZl`,
    /// `dZ(l−1) = Wlᵀ·dZl ⊙ [A(l−1) > 0]`.
    pub fn backward(
        &self,
        theta: &[f64],
        x: ArrayView2<'_, f64>,
        y: ArrayView2<'_, f64>,
        forward: &Forward,
    ) -> Tensors {
        let depth = self.depth();
        let inv_m = 1.0 / x.ncols() as f64;
        let mut gradient = Tensors::zeros(self.layout.clone());
        let mut dz = &forward.activations[depth - 1] - &y;
        for l in (1..=depth).rev() {
            let input = if l == 1 {
                x
            } else {
                forward.activations[l - 2].view()
            };
            let dw = matmul(dz.view(), input.t()) * inv_m;
            let db = dz.sum_axis(Axis(1)).insert_axis(Axis(1)) * inv_m;
            let values = gradient.values_mut();
            values[self.layout.range(2 * (l - 1))]
                .copy_from_slice(dw.as_slice().expect("a fresh array is contiguous"));
            values[self.layout.range(2 * (l - 1) + 1)]
                .copy_from_slice(db.as_slice().expect("a fresh array is contiguous"));
            if l > 1 {
                let (w, _) = self.layer(theta, l);
                let mut da = matmul(w.t(), dz.view());
                da.zip_mut_with(&forward.activations[l - 2], |d, &a| {
                    if a <= 0.0 {
                        *d = 0.0;
                    }
                });
                dz = da;
            }
        }
        gradient
    }
}

/// The logistic sigmoid as the notebook writes it, `1 / (1 + e^(−z))`.
fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// The notebook's logistic cost from sigmoid outputs `a` and labels `y`, both `(1, m)`.
fn logistic_cost(a: &Array2<f64>, y: ArrayView2<'_, f64>) -> f64 {
    let m = a.ncols() as f64;
    let sum = a
        .iter()
        .zip(y.iter())
        .map(|(&a, &y)| -a.ln() * y + -(1.0 - a).ln() * (1.0 - y))
        .fold(0.0, |s, v| s + v);
    1.0 / m * sum
}
