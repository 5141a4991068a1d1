//! A multilayer perceptron `LINEAR → ACT → … → LINEAR → SIGMOID` with the logistic cost, over a
//! flat parameter buffer laid out as `W1, b1, W2, b2, …` (`Wl` of shape `(n_l, n_{l−1})`, `bl` of
//! shape `(n_l, 1)`), and its hand-written backward pass. Hidden activations are ReLU (the
//! notebook's), leaky ReLU, tanh or sigmoid; the cost may weight the positive class, add an L2
//! penalty, and see the hidden layers through a frozen inverted-dropout mask. Data is stored one
//! example per column, as in the notebook: `X` is `(n_0, m)`, `Y` is `(1, m)`.

use std::cell::RefCell;
use std::hash::{DefaultHasher, Hasher};

use gradproof::{Layout, TensorSpec, Tensors};
use ndarray::{Array2, ArrayView2, Axis, Ix2};

use super::activation::{Activation, DropoutMask, sigmoid};
use super::linalg::{add_bias_relu, matmul, matmul_into};
use crate::error::{Error, Result};
use crate::numpy_rng::NumpyRng;

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
    hidden: Activation,
    positive_weight: f64,
    l2: f64,
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
/// activation `A` (layer 1 first; after the dropout mask, if any).
#[derive(Clone, Debug, PartialEq)]
pub struct Forward {
    /// `Z1, Z2, …, ZL`.
    pub pre_activations: Vec<Array2<f64>>,
    /// `A1, A2, …, AL` (`AL` is the sigmoid output).
    pub activations: Vec<Array2<f64>>,
}

impl Forward {
    /// A hash of which hidden units are on the positive side of their kink (`Z > 0`) for which
    /// example: the signature of [`Mlp::cost_with_signature`] for the ReLU family.
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
        super::sizes::check_sizes(sizes)?;
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
            hidden: Activation::default(),
            positive_weight: 1.0,
            l2: 0.0,
        })
    }

    /// The same network with `activation` on its hidden layers.
    pub fn with_activation(mut self, activation: Activation) -> Self {
        self.hidden = activation;
        self
    }

    /// The hidden layers' activation.
    pub fn activation(&self) -> Activation {
        self.hidden
    }

    /// The same network with positive examples (`y = 1`) weighing `weight` times as much as
    /// negative ones in the cost: `J = (1/m) Σ wᵢ·ℓᵢ` with `wᵢ = 1 + (weight − 1)·yᵢ`. For rare
    /// fraud, a weight near `negatives / positives` balances the classes. `weight` must be a
    /// positive finite number.
    pub fn with_positive_weight(mut self, weight: f64) -> Result<Self> {
        if !(weight.is_finite() && weight > 0.0) {
            return Err(Error::InvalidSetting(format!(
                "the positive-class weight must be a positive finite number, got {weight}"
            )));
        }
        self.positive_weight = weight;
        Ok(self)
    }

    /// The weight of positive examples in the cost (1 when unweighted).
    pub fn positive_weight(&self) -> f64 {
        self.positive_weight
    }

    /// The same network with the L2 penalty `(λ/2m) Σ_l ‖Wl‖²_F` added to its cost (weights only,
    /// not biases). `lambda` must be finite and at least 0.
    pub fn with_l2(mut self, lambda: f64) -> Result<Self> {
        if !(lambda.is_finite() && lambda >= 0.0) {
            return Err(Error::InvalidSetting(format!(
                "the L2 strength λ must be a finite number ≥ 0, got {lambda}"
            )));
        }
        self.l2 = lambda;
        Ok(self)
    }

    /// The L2 strength λ (0 when there is no penalty).
    pub fn l2(&self) -> f64 {
        self.l2
    }

    /// Fresh parameters: weights from `N(0, s²)` with `s` from [`Activation::init_scale`] (He
    /// for the ReLU family, Xavier for tanh and sigmoid), biases 0, drawn from `rng`.
    ///
    /// ```
    /// use fraudnet::{Mlp, NumpyRng};
    /// let mlp = Mlp::new(&[30, 16, 1])?;
    /// let theta = mlp.initialize(&mut NumpyRng::new(3));
    /// assert_eq!(theta.values().len(), 30 * 16 + 16 + 16 + 1);
    /// assert!(theta.get("b1")?.iter().all(|&b| b == 0.0));
    /// # Ok::<(), fraudnet::Error>(())
    /// ```
    pub fn initialize(&self, rng: &mut NumpyRng) -> Tensors {
        let mut values = Vec::with_capacity(self.layout.len());
        for spec in self.layout.tensors() {
            let (rows, cols) = (spec.shape[0], spec.shape[1]);
            if spec.name.starts_with('W') {
                let scale = self.hidden.init_scale(cols, rows);
                values.extend((0..rows * cols).map(|_| rng.randn() * scale));
            } else {
                values.extend(std::iter::repeat_n(0.0, rows * cols));
            }
        }
        Tensors::new(self.layout.clone(), values).expect("the values fill the layout")
    }

    /// A positive example's weight is `positive_weight`, a negative one's 1.
    #[inline(always)]
    pub(crate) fn example_weight(&self, y: f64) -> f64 {
        if self.positive_weight == 1.0 {
            1.0
        } else {
            1.0 + (self.positive_weight - 1.0) * y
        }
    }

    /// `(λ/2m) Σ ‖Wl‖²`, or 0 without a penalty.
    fn l2_penalty(&self, theta: &[f64], m: usize) -> f64 {
        if self.l2 == 0.0 {
            return 0.0;
        }
        let squares: f64 = (1..=self.depth())
            .map(|l| {
                self.layer_slices(theta, l)
                    .0
                    .iter()
                    .map(|w| w * w)
                    .sum::<f64>()
            })
            .sum();
        self.l2 / (2.0 * m as f64) * squares
    }

    pub(super) fn expect_mask(&self, mask: Option<&DropoutMask>, m: usize) -> Result<()> {
        let Some(mask) = mask else { return Ok(()) };
        let hidden = &self.sizes[1..self.sizes.len() - 1];
        if mask.layers().len() != hidden.len() {
            return Err(Error::ShapeMismatch {
                what: "dropout mask",
                found: vec![mask.layers().len()],
                expected: format!("one array per hidden layer ({})", hidden.len()),
            });
        }
        for (layer, &n) in mask.layers().iter().zip(hidden) {
            if layer.shape() != [n, m] {
                return Err(Error::ShapeMismatch {
                    what: "dropout mask",
                    found: layer.shape().to_vec(),
                    expected: format!("({n}, {m}): one factor per unit and example"),
                });
            }
        }
        Ok(())
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
    pub(super) fn layer_slices<'a>(&self, theta: &'a [f64], l: usize) -> (&'a [f64], &'a [f64]) {
        (
            &theta[self.layout.range(2 * (l - 1))],
            &theta[self.layout.range(2 * (l - 1) + 1)],
        )
    }

    pub(super) fn expect_data(&self, theta: &[f64], x: ArrayView2<'_, f64>) -> Result<()> {
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

    pub(super) fn expect_labels(x: ArrayView2<'_, f64>, y: ArrayView2<'_, f64>) -> Result<()> {
        if y.shape() != [1, x.ncols()] {
            return Err(Error::ShapeMismatch {
                what: "Y",
                found: y.shape().to_vec(),
                expected: format!("(1, {}): one label per example", x.ncols()),
            });
        }
        Ok(())
    }

    /// The forward pass: `Zl = Wl·A(l−1) + bl`, the activation on hidden layers, sigmoid on the
    /// output.
    pub fn forward(&self, theta: &[f64], x: ArrayView2<'_, f64>) -> Result<Forward> {
        self.forward_masked(theta, x, None)
    }

    /// [`Mlp::forward`] with each hidden layer's activations multiplied by a dropout mask.
    pub fn forward_masked(
        &self,
        theta: &[f64],
        x: ArrayView2<'_, f64>,
        mask: Option<&DropoutMask>,
    ) -> Result<Forward> {
        self.expect_data(theta, x)?;
        self.expect_mask(mask, x.ncols())?;
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
                let mut a = z.mapv(|v| self.hidden.apply(v));
                if let Some(mask) = mask {
                    a *= &mask.layers()[l - 1];
                }
                a
            };
            pre_activations.push(z);
            activations.push(a);
        }
        Ok(Forward {
            pre_activations,
            activations,
        })
    }

    /// The logistic cost `−(1/m) Σ wᵢ·[y·log(a) + (1 − y)·log(1 − a)] + (λ/2m) Σ ‖Wl‖²`, summed
    /// in example order, in the network's [`CostForm`] (`wᵢ = 1` and `λ = 0` unless set).
    pub fn cost(
        &self,
        theta: &[f64],
        x: ArrayView2<'_, f64>,
        y: ArrayView2<'_, f64>,
    ) -> Result<f64> {
        self.cost_masked(theta, x, y, None)
    }

    /// [`Mlp::cost`] with each hidden layer's activations multiplied by a dropout mask.
    pub fn cost_masked(
        &self,
        theta: &[f64],
        x: ArrayView2<'_, f64>,
        y: ArrayView2<'_, f64>,
        mask: Option<&DropoutMask>,
    ) -> Result<f64> {
        Self::expect_labels(x, y)?;
        self.expect_data(theta, x)?;
        self.expect_mask(mask, x.ncols())?;
        Ok(self.evaluate(theta, x, y, mask, None))
    }

    /// The cost and a signature of the piece of the cost `θ` lies on: a hash of which hidden
    /// units are on which side of their kink for which example. Two parameter vectors with the
    /// same signature lie on the same smooth piece (up to hash collisions); a different signature
    /// means a kink between. Smooth activations have one piece: their signature is constant.
    pub fn cost_with_signature(
        &self,
        theta: &[f64],
        x: ArrayView2<'_, f64>,
        y: ArrayView2<'_, f64>,
    ) -> Result<(f64, u64)> {
        self.cost_with_signature_masked(theta, x, y, None)
    }

    /// [`Mlp::cost_with_signature`] with a dropout mask.
    pub fn cost_with_signature_masked(
        &self,
        theta: &[f64],
        x: ArrayView2<'_, f64>,
        y: ArrayView2<'_, f64>,
        mask: Option<&DropoutMask>,
    ) -> Result<(f64, u64)> {
        Self::expect_labels(x, y)?;
        self.expect_data(theta, x)?;
        self.expect_mask(mask, x.ncols())?;
        let mut hasher = DefaultHasher::new();
        // A smooth activation has no kinks: its signature is the hash of nothing.
        let kinked = self.hidden.is_kinked().then_some(&mut hasher);
        let cost = self.evaluate(theta, x, y, mask, kinked);
        Ok((cost, hasher.finish()))
    }

    /// The cost of a forward pass already made ([`Mlp::forward_masked`] on `x` with labels `y`),
    /// without running it again: what training reports as the batch loss. The same value as
    /// [`Mlp::cost_masked`] in [`CostForm::Logits`].
    pub fn cost_from_forward(
        &self,
        theta: &[f64],
        forward: &Forward,
        y: ArrayView2<'_, f64>,
    ) -> f64 {
        let z = forward
            .pre_activations
            .last()
            .expect("a network has at least one layer");
        let m = z.ncols();
        let sum = z
            .iter()
            .zip(y.iter())
            .map(|(&z, &y)| logits_term(z, y) * self.example_weight(y))
            .fold(0.0, |s, v| s + v);
        1.0 / m as f64 * sum + self.l2_penalty(theta, m)
    }

    /// The predicted probability of the positive class for each example (column) of `x`.
    pub fn predict(&self, theta: &[f64], x: ArrayView2<'_, f64>) -> Result<Vec<f64>> {
        let mut out = vec![0.0; x.ncols()];
        self.predict_into(theta, x, &mut out)?;
        Ok(out)
    }

    /// [`Mlp::predict`] into a caller's buffer of one value per example, without allocating
    /// (buffers are reused per thread): the scoring hot path.
    pub fn predict_into(
        &self,
        theta: &[f64],
        x: ArrayView2<'_, f64>,
        out: &mut [f64],
    ) -> Result<()> {
        self.expect_data(theta, x)?;
        if out.len() != x.ncols() {
            return Err(Error::ShapeMismatch {
                what: "predictions",
                found: vec![out.len()],
                expected: format!("{}: one per example", x.ncols()),
            });
        }
        self.run_layers(theta, x, None, None, |logits| {
            for (p, &z) in out.iter_mut().zip(logits) {
                *p = sigmoid(z);
            }
        });
        Ok(())
    }

    /// The forward pass and the cost without keeping a [`Forward`]: see [`Mlp::run_layers`].
    /// Every value is computed by the same operations, in the same order, as
    /// [`Mlp::forward_masked`] then the cost from its cache, so the result is the same to the
    /// last bit. The shapes must have been checked.
    fn evaluate(
        &self,
        theta: &[f64],
        x: ArrayView2<'_, f64>,
        y: ArrayView2<'_, f64>,
        mask: Option<&DropoutMask>,
        hasher: Option<&mut DefaultHasher>,
    ) -> f64 {
        let m = x.ncols();
        let mut sum = 0.0;
        self.run_layers(theta, x, mask, hasher, |logits| {
            let z = logits.iter().copied();
            sum = match self.cost_form {
                CostForm::Notebook => z
                    .zip(y.iter())
                    .map(|(z, &y)| notebook_term(sigmoid(z), y) * self.example_weight(y))
                    .fold(0.0, |s, v| s + v),
                CostForm::Logits => z
                    .zip(y.iter())
                    .map(|(z, &y)| logits_term(z, y) * self.example_weight(y))
                    .fold(0.0, |s, v| s + v),
            };
        });
        let cost = 1.0 / m as f64 * sum;
        if self.l2 == 0.0 {
            cost
        } else {
            cost + self.l2_penalty(theta, m)
        }
    }

    /// The forward pass through every layer, handing the output layer's logits `z` (one per
    /// example) to `output`, without keeping a [`Forward`]: each layer's activations overwrite a
    /// thread-local buffer and bias, activation (and mask) are applied in one pass. With a
    /// `hasher`, the hidden layers' kink pattern is written to it exactly as
    /// [`Forward::relu_signature`] does.
    fn run_layers(
        &self,
        theta: &[f64],
        x: ArrayView2<'_, f64>,
        mask: Option<&DropoutMask>,
        mut hasher: Option<&mut DefaultHasher>,
        output: impl FnOnce(&[f64]),
    ) {
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
                if self.hidden == Activation::Relu {
                    add_bias_relu(ping, b, m, hasher.as_deref_mut());
                } else {
                    add_bias_activate(ping, b, m, self.hidden, hasher.as_deref_mut());
                }
                if let Some(mask) = mask {
                    let factors = mask.layers()[l - 1]
                        .as_slice()
                        .expect("masks are made in standard layout");
                    for (a, &k) in ping.iter_mut().zip(factors) {
                        *a *= k;
                    }
                }
                std::mem::swap(ping, pong);
                input = pong;
            }
            let (w, b) = self.layer_slices(theta, depth);
            ping.resize(m, 0.0);
            matmul_into(w, input, ping, 1, self.sizes[depth - 1], m);
            let b = b[0];
            for z in ping.iter_mut() {
                *z += b;
            }
            output(ping);
        })
    }

    /// The hand-written backward pass: the gradient of [`Mlp::cost`], laid out like the parameters.
    pub fn gradient(
        &self,
        theta: &[f64],
        x: ArrayView2<'_, f64>,
        y: ArrayView2<'_, f64>,
    ) -> Result<Tensors> {
        self.gradient_masked(theta, x, y, None)
    }

    /// The gradient of [`Mlp::cost_masked`]: the backward pass through the same frozen mask.
    pub fn gradient_masked(
        &self,
        theta: &[f64],
        x: ArrayView2<'_, f64>,
        y: ArrayView2<'_, f64>,
        mask: Option<&DropoutMask>,
    ) -> Result<Tensors> {
        Self::expect_labels(x, y)?;
        let forward = self.forward_masked(theta, x, mask)?;
        Ok(self.backward_with_faults(theta, x, y, &forward, mask, &[]))
    }

    /// The backward pass from a forward pass's cache (made without a mask):
    /// `dZL = w ⊙ (AL − Y)` (computed without cancellation in [`CostForm::Logits`]),
    /// `dWl = (1/m)·dZl·A(l−1)ᵀ + (λ/m)·Wl`, `dbl = (1/m)·Σ dZl`,
    /// `dZ(l−1) = (Wlᵀ·dZl ⊙ mask(l−1)) ⊙ act′(Z(l−1))`.
    pub fn backward(
        &self,
        theta: &[f64],
        x: ArrayView2<'_, f64>,
        y: ArrayView2<'_, f64>,
        forward: &Forward,
    ) -> Tensors {
        self.backward_with_faults(theta, x, y, forward, None, &[])
    }

    /// [`Mlp::backward`] through a dropout `mask` (the one the forward pass used), with mistakes
    /// made on purpose inside it (see [`BackwardFault`]), for showing that a gradient check
    /// catches them. Faults naming a layer the network does not have are ignored;
    /// [`MlpProblem::with_bugs`](crate::MlpProblem::with_bugs) refuses them.
    pub fn backward_with_faults(
        &self,
        theta: &[f64],
        x: ArrayView2<'_, f64>,
        y: ArrayView2<'_, f64>,
        forward: &Forward,
        mask: Option<&DropoutMask>,
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
        if self.positive_weight != 1.0 {
            dz.zip_mut_with(&y, |d, &y| *d *= self.example_weight(y));
        }
        for l in (1..=depth).rev() {
            let input = if l == 1 {
                x
            } else {
                forward.activations[l - 2].view()
            };
            let mut dw = matmul(dz.view(), input.t()) * inv_m;
            if self.l2 != 0.0 {
                dw.scaled_add(self.l2 * inv_m, &self.layer(theta, l).0);
            }
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
                let hidden = l - 1;
                if let Some(mask) = mask
                    && !faults.contains(&BackwardFault::DropoutUnmasked { layer: hidden })
                {
                    da *= &mask.layers()[hidden - 1];
                }
                if faults.contains(&BackwardFault::SigmoidDerivative { layer: hidden }) {
                    da.zip_mut_with(&forward.activations[l - 2], |d, &a| *d *= a * (1.0 - a));
                } else if self.hidden == Activation::Relu {
                    // Zeroing rather than multiplying by 0 keeps the notebook's bits (and a
                    // NaN-free 0 where an infinite upstream gradient meets an inactive unit).
                    da.zip_mut_with(&forward.pre_activations[l - 2], |d, &z| {
                        if z <= 0.0 {
                            *d = 0.0;
                        }
                    });
                } else {
                    let activation = self.hidden;
                    da.zip_mut_with(&forward.pre_activations[l - 2], |d, &z| {
                        *d *= activation.derivative(z);
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
    /// Hidden layer `layer`'s dropout mask is applied in the forward pass but forgotten in the
    /// backward pass: `dW{layer}`, `db{layer}` and every gradient below are wrong (only with a
    /// dropout rate above 0).
    DropoutUnmasked {
        /// The hidden layer (1-based).
        layer: usize,
    },
}

/// A hidden layer's `Z = C + b` and `A = act(Z)` in place in row-major `c` (`b` broadcast along
/// each row of `m` columns), for activations other than ReLU (which has its own vectorised
/// [`add_bias_relu`]); with a `hasher`, the kink pattern `Z > 0` as [`add_bias_relu`] writes it.
fn add_bias_activate(
    c: &mut [f64],
    b: &[f64],
    m: usize,
    activation: Activation,
    hasher: Option<&mut DefaultHasher>,
) {
    for (row, &b) in c.chunks_exact_mut(m.max(1)).zip(b) {
        for v in row {
            *v += b;
        }
    }
    if let Some(hasher) = hasher {
        let mut words = c.chunks_exact(64);
        for word in &mut words {
            hasher.write_u64(positive_bits(word));
        }
        hasher.write_u64(positive_bits(words.remainder()));
    }
    for v in c.iter_mut() {
        *v = activation.apply(*v);
    }
}

/// Bit `t` set where `z[t] > 0` (at most 64 entries).
fn positive_bits(z: &[f64]) -> u64 {
    z.iter()
        .enumerate()
        .fold(0, |bits, (t, &v)| bits | u64::from(v > 0.0) << t)
}

/// One example's cost as the notebook computes it, from the sigmoid's output `a`.
#[inline(always)]
fn notebook_term(a: f64, y: f64) -> f64 {
    -a.ln() * y + -(1.0 - a).ln() * (1.0 - y)
}

/// One example's cost from its logit `z`, stably.
#[inline(always)]
pub(crate) fn logits_term(z: f64, y: f64) -> f64 {
    z.max(0.0) - z * y + (-z.abs()).exp().ln_1p()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MlpProblem;

    /// The cost from a [`Forward`] cache, as the notebook computes it: the reference that
    /// [`Mlp::cost`]'s fused pass must match bit for bit.
    fn cost_from_forward(
        mlp: &Mlp,
        theta: &[f64],
        forward: &Forward,
        y: ArrayView2<'_, f64>,
    ) -> f64 {
        let weight = |y: f64| {
            if mlp.positive_weight() == 1.0 {
                1.0
            } else {
                1.0 + (mlp.positive_weight() - 1.0) * y
            }
        };
        let (z, a) = (
            forward.pre_activations.last().unwrap(),
            forward.activations.last().unwrap(),
        );
        let sum = match mlp.cost_form() {
            CostForm::Notebook => a
                .iter()
                .zip(y.iter())
                .map(|(&a, &y)| (-a.ln() * y + -(1.0 - a).ln() * (1.0 - y)) * weight(y))
                .fold(0.0, |s, v| s + v),
            CostForm::Logits => z
                .iter()
                .zip(y.iter())
                .map(|(&z, &y)| (z.max(0.0) - z * y + (-z.abs()).exp().ln_1p()) * weight(y))
                .fold(0.0, |s, v| s + v),
        };
        let m = a.ncols() as f64;
        let cost = 1.0 / m * sum;
        if mlp.l2() == 0.0 {
            return cost;
        }
        let squares: f64 = (0..mlp.depth())
            .map(|k| {
                let range = mlp.layout().range(2 * k);
                theta[range].iter().map(|w| w * w).sum::<f64>()
            })
            .sum();
        cost + mlp.l2() / (2.0 * m) * squares
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
                        let expected = cost_from_forward(&mlp, &theta, &forward, y).to_bits();
                        let (cost, signature) = mlp.cost_with_signature(&theta, x, y).unwrap();
                        assert_eq!(cost.to_bits(), expected, "{sizes:?}, m = {m}, {form:?}");
                        assert_eq!(signature, forward.relu_signature());
                        assert_eq!(mlp.cost(&theta, x, y).unwrap().to_bits(), expected);
                        assert_eq!(mlp.cost(&theta, xt.t(), y).unwrap().to_bits(), expected);
                    }
                    // Every activation, with class weight, L2 and a dropout mask.
                    for (a, activation) in Activation::ALL.into_iter().enumerate() {
                        let mlp = problem
                            .mlp()
                            .clone()
                            .with_activation(activation)
                            .with_positive_weight(1.0 + a as f64 * 3.5)
                            .unwrap()
                            .with_l2(0.1 * a as f64)
                            .unwrap();
                        let mut rng = NumpyRng::new(a as u32);
                        let mask = DropoutMask::sample(&mlp, m, 0.3, &mut rng).unwrap();
                        for mask in [None, Some(&mask)] {
                            let forward = mlp.forward_masked(&theta, x, mask).unwrap();
                            let expected = cost_from_forward(&mlp, &theta, &forward, y).to_bits();
                            let (cost, signature) =
                                mlp.cost_with_signature_masked(&theta, x, y, mask).unwrap();
                            assert_eq!(cost.to_bits(), expected, "{sizes:?}, {activation}");
                            if activation.is_kinked() {
                                assert_eq!(signature, forward.relu_signature());
                            } else {
                                assert_eq!(signature, DefaultHasher::new().finish());
                            }
                            let p = mlp.predict(&theta, xt.t()).unwrap();
                            if mask.is_none() {
                                let last = forward.activations.last().unwrap();
                                assert_eq!(p.as_slice(), last.as_slice().unwrap());
                            }
                        }
                    }
                }
            }
        }
    }
}
