//! A multilayer perceptron `LINEAR → RELU → … → LINEAR → SIGMOID` with the logistic cost, over a
//! flat parameter buffer laid out as `W1, b1, W2, b2, …` (`Wl` of shape `(n_l, n_{l−1})`, `bl` of
//! shape `(n_l, 1)`), and its hand-written backward pass. Data is stored one example per column,
//! as in the notebook: `X` is `(n_0, m)`, `Y` is `(1, m)`.

use std::cell::RefCell;
use std::hash::{DefaultHasher, Hasher};

use gradproof::{Layout, TensorSpec, Tensors};
use ndarray::{Array2, ArrayView2, Axis, Ix2};

use super::linalg::{add_bias_relu, matmul, matmul_into};
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
    cost_form: CostForm,
}

/// How the logistic cost is evaluated. Both have the same value and gradient in exact
/// arithmetic; they differ in rounding.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CostForm {
    /// From the logits `z`: `max(z, 0) − z·y + log(1 + e^(−|z|))`. No `log(0)`, no overflow,
    /// rounding noise of a few ulps however saturated the sigmoid. The default.
    #[default]
    Logits,
    /// As the notebook computes it, from the sigmoid's output `a`:
    /// `−y·log(a) − (1 − y)·log(1 − a)`. `1 − a` cancels catastrophically once `|z|` passes ~10
    /// (the cost turns into a staircase, and into inf or NaN beyond ~37), but it is the form
    /// that reproduces the notebook's printed digits.
    Notebook,
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

impl Forward {
    /// A hash of which hidden ReLUs are active (`Z > 0`) for which example.
    pub fn relu_signature(&self) -> u64 {
        let hidden = &self.pre_activations[..self.pre_activations.len() - 1];
        let mut hasher = DefaultHasher::new();
        for z in hidden {
            let mut bits = 0u64;
            for (k, &v) in z.iter().enumerate() {
                bits |= u64::from(v > 0.0) << (k % 64);
                if k % 64 == 63 {
                    hasher.write_u64(bits);
                    bits = 0;
                }
            }
            hasher.write_u64(bits);
        }
        hasher.finish()
    }
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
            cost_form: CostForm::default(),
        })
    }

    /// The same network with its cost evaluated in the given form.
    pub fn with_cost_form(mut self, cost_form: CostForm) -> Self {
        self.cost_form = cost_form;
        self
    }

    /// How the cost is evaluated.
    pub fn cost_form(&self) -> CostForm {
        self.cost_form
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

    /// Layer `l`'s (1-based) weights (row-major `n_l × n_{l−1}`) and bias inside `theta`.
    fn layer_slices<'a>(&self, theta: &'a [f64], l: usize) -> (&'a [f64], &'a [f64]) {
        (
            &theta[self.layout.range(2 * (l - 1))],
            &theta[self.layout.range(2 * (l - 1) + 1)],
        )
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

    /// The logistic cost `−(1/m) Σ [y·log(a) + (1 − y)·log(1 − a)]`, summed in example order, in
    /// the network's [`CostForm`].
    pub fn cost(
        &self,
        theta: &[f64],
        x: ArrayView2<'_, f64>,
        y: ArrayView2<'_, f64>,
    ) -> Result<f64> {
        Self::expect_labels(x, y)?;
        self.expect_data(theta, x)?;
        Ok(self.evaluate(theta, x, y, None))
    }

    /// The cost and a signature of the piece of the cost `θ` lies on: a hash of which hidden
    /// ReLUs are active for which example. Two parameter vectors with the same signature lie on
    /// the same smooth piece (up to hash collisions); a different signature means a kink between.
    pub fn cost_with_signature(
        &self,
        theta: &[f64],
        x: ArrayView2<'_, f64>,
        y: ArrayView2<'_, f64>,
    ) -> Result<(f64, u64)> {
        Self::expect_labels(x, y)?;
        self.expect_data(theta, x)?;
        let mut hasher = DefaultHasher::new();
        let cost = self.evaluate(theta, x, y, Some(&mut hasher));
        Ok((cost, hasher.finish()))
    }

    /// The forward pass and the cost without keeping a [`Forward`]: each layer's activations
    /// overwrite a thread-local buffer, bias and activation are applied in one pass, and the
    /// output layer goes straight into the cost. Every value is computed by the same operations,
    /// in the same order, as [`Mlp::forward`] then the cost from its cache, so the result is the
    /// same to the last bit; with a `hasher`, the hidden layers' ReLU pattern is written to it
    /// exactly as [`Forward::relu_signature`] does. The shapes must have been checked.
    fn evaluate(
        &self,
        theta: &[f64],
        x: ArrayView2<'_, f64>,
        y: ArrayView2<'_, f64>,
        mut hasher: Option<&mut DefaultHasher>,
    ) -> f64 {
        thread_local! {
            // A row-major copy of X when it is not row-major, and two activation buffers.
            static SCRATCH: RefCell<[Vec<f64>; 3]> =
                const { RefCell::new([Vec::new(), Vec::new(), Vec::new()]) };
        }
        let depth = self.depth();
        let m = x.ncols();
        SCRATCH.with_borrow_mut(|[input_copy, ping, pong]| {
            let mut input: &[f64] = match x.as_slice() {
                Some(x) => x,
                None => {
                    // A transposed or strided X: a row-major copy of it (same values).
                    input_copy.clear();
                    input_copy.extend(x.iter());
                    input_copy
                }
            };
            for l in 1..depth {
                let (w, b) = self.layer_slices(theta, l);
                let (rows, cols) = (self.sizes[l], self.sizes[l - 1]);
                ping.resize(rows * m, 0.0);
                matmul_into(w, input, ping, rows, cols, m);
                add_bias_relu(ping, b, m, hasher.as_deref_mut());
                std::mem::swap(ping, pong);
                input = pong;
            }
            let (w, b) = self.layer_slices(theta, depth);
            ping.resize(m, 0.0);
            matmul_into(w, input, ping, 1, self.sizes[depth - 1], m);
            let b = b[0];
            let z = ping.iter().map(|&c| c + b);
            let sum = match self.cost_form {
                CostForm::Notebook => z
                    .zip(y.iter())
                    .map(|(z, &y)| notebook_term(sigmoid(z), y))
                    .fold(0.0, |s, v| s + v),
                CostForm::Logits => z
                    .zip(y.iter())
                    .map(|(z, &y)| logits_term(z, y))
                    .fold(0.0, |s, v| s + v),
            };
            1.0 / m as f64 * sum
        })
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
    /// `dZL = AL − Y` (computed without cancellation in [`CostForm::Logits`]), `dWl = (1/m)·dZl·A(l−1)ᵀ`, `dbl = (1/m)·Σ dZl`,
    /// `dZ(l−1) = Wlᵀ·dZl ⊙ [A(l−1) > 0]`.
    pub fn backward(
        &self,
        theta: &[f64],
        x: ArrayView2<'_, f64>,
        y: ArrayView2<'_, f64>,
        forward: &Forward,
    ) -> Tensors {
        self.backward_with_faults(theta, x, y, forward, &[])
    }

    /// [`Mlp::backward`] with mistakes made on purpose inside it (see [`BackwardFault`]), for
    /// showing that a gradient check catches them. Faults naming a layer the network does not
    /// have are ignored; [`MlpProblem::with_bugs`](crate::MlpProblem::with_bugs) refuses them.
    pub fn backward_with_faults(
        &self,
        theta: &[f64],
        x: ArrayView2<'_, f64>,
        y: ArrayView2<'_, f64>,
        forward: &Forward,
        faults: &[BackwardFault],
    ) -> Tensors {
        let depth = self.depth();
        let inv_m = 1.0 / x.ncols() as f64;
        let mut gradient = Tensors::zeros(self.layout.clone());
        let mut dz = match self.cost_form {
            // The notebook's `A − Y`: cancels to 0 when the sigmoid saturates.
            CostForm::Notebook => &forward.activations[depth - 1] - &y,
            // `σ(z) − y` without cancellation: `−σ(−z)` for y = 1, `σ(z)` for y = 0.
            CostForm::Logits => {
                let mut dz = forward.pre_activations[depth - 1].clone();
                dz.zip_mut_with(&y, |z, &y| {
                    *z = if y == 1.0 {
                        -sigmoid(-*z)
                    } else if y == 0.0 {
                        sigmoid(*z)
                    } else {
                        sigmoid(*z) - y
                    }
                });
                dz
            }
        };
        for l in (1..=depth).rev() {
            let input = if l == 1 {
                x
            } else {
                forward.activations[l - 2].view()
            };
            let dw = matmul(dz.view(), input.t()) * inv_m;
            let db = if faults.contains(&BackwardFault::BiasNotSummed { layer: l }) {
                dz.column(0).to_owned().insert_axis(Axis(1)) * inv_m
            } else {
                dz.sum_axis(Axis(1)).insert_axis(Axis(1)) * inv_m
            };
            let values = gradient.values_mut();
            values[self.layout.range(2 * (l - 1))]
                .copy_from_slice(dw.as_slice().expect("a fresh array is contiguous"));
            values[self.layout.range(2 * (l - 1) + 1)]
                .copy_from_slice(db.as_slice().expect("a fresh array is contiguous"));
            if l > 1 {
                let (w, _) = self.layer(theta, l);
                let mut da = matmul(w.t(), dz.view());
                if faults.contains(&BackwardFault::SigmoidDerivative { layer: l - 1 }) {
                    da.zip_mut_with(&forward.activations[l - 2], |d, &a| *d *= a * (1.0 - a));
                } else {
                    da.zip_mut_with(&forward.activations[l - 2], |d, &a| {
                        if a <= 0.0 {
                            *d = 0.0;
                        }
                    });
                }
                dz = da;
            }
        }
        gradient
    }
}

/// A mistake made inside the backward pass, where no correction of its output can imitate it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackwardFault {
    /// Hidden layer `layer`'s ReLU is differentiated as if it were a sigmoid, `a·(1 − a)`
    /// instead of `[a > 0]`: `dW{layer}`, `db{layer}` and every gradient below are wrong.
    SigmoidDerivative {
        /// The hidden layer (1-based).
        layer: usize,
    },
    /// `db{layer}` takes the first example's `dZ` instead of the sum over examples.
    BiasNotSummed {
        /// The layer (1-based).
        layer: usize,
    },
}

/// The logistic sigmoid as the notebook writes it, `1 / (1 + e^(−z))`.
fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// One example's cost as the notebook computes it, from the sigmoid's output `a`.
#[inline(always)]
fn notebook_term(a: f64, y: f64) -> f64 {
    -a.ln() * y + -(1.0 - a).ln() * (1.0 - y)
}

/// One example's cost from its logit `z`, stably.
#[inline(always)]
fn logits_term(z: f64, y: f64) -> f64 {
    z.max(0.0) - z * y + (-z.abs()).exp().ln_1p()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MlpProblem;

    /// The cost from a [`Forward`] cache, as the notebook computes it: the reference that
    /// [`Mlp::cost`]'s fused pass must match bit for bit.
    fn cost_from_forward(form: CostForm, forward: &Forward, y: ArrayView2<'_, f64>) -> f64 {
        let (z, a) = (
            forward.pre_activations.last().unwrap(),
            forward.activations.last().unwrap(),
        );
        let sum = match form {
            CostForm::Notebook => a
                .iter()
                .zip(y.iter())
                .map(|(&a, &y)| -a.ln() * y + -(1.0 - a).ln() * (1.0 - y))
                .fold(0.0, |s, v| s + v),
            CostForm::Logits => z
                .iter()
                .zip(y.iter())
                .map(|(&z, &y)| z.max(0.0) - z * y + (-z.abs()).exp().ln_1p())
                .fold(0.0, |s, v| s + v),
        };
        1.0 / a.ncols() as f64 * sum
    }

    #[test]
    fn the_fused_cost_and_signature_match_the_forward_pass_bit_for_bit() {
        let sizes: [&[usize]; 5] = [
            &[3, 1],
            &[4, 5, 3, 1],
            &[7, 13, 1],
            &[5, 9, 17, 3, 1],
            &[2, 65, 1],
        ];
        for (s, sizes) in sizes.into_iter().enumerate() {
            for m in [1, 3, 8, 17, 64, 65] {
                let (problem, theta) = MlpProblem::random(sizes, m, s as u32).unwrap();
                // Saturated outputs and exact kinks (all-zero parameters) as well.
                for scale in [1.0, 30.0, 0.0] {
                    let theta: Vec<f64> = theta.values().iter().map(|v| v * scale).collect();
                    let (x, y) = (problem.x().view(), problem.y().view());
                    // X also as a transposed copy: not row-major in memory.
                    let xt = problem.x().t().to_owned();
                    for form in [CostForm::Logits, CostForm::Notebook] {
                        let mlp = problem.mlp().clone().with_cost_form(form);
                        let forward = mlp.forward(&theta, x).unwrap();
                        let expected = cost_from_forward(form, &forward, y).to_bits();
                        let (cost, signature) = mlp.cost_with_signature(&theta, x, y).unwrap();
                        assert_eq!(cost.to_bits(), expected, "{sizes:?}, m = {m}, {form:?}");
                        assert_eq!(signature, forward.relu_signature());
                        assert_eq!(mlp.cost(&theta, x, y).unwrap().to_bits(), expected);
                        assert_eq!(mlp.cost(&theta, xt.t(), y).unwrap().to_bits(), expected);
                    }
                }
            }
        }
    }
}
