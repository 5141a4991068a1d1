//! A multilayer perceptron `LINEAR → ACT → … → LINEAR → SIGMOID` with the logistic cost, over a
//! flat parameter buffer laid out as `W1, b1, W2, b2, …` (`Wl` of shape `(n_l, n_{l−1})`, `bl` of
//! shape `(n_l, 1)`): its architecture and settings, the validation of its inputs and the slicing
//! of `θ` into layers. Hidden activations are ReLU (the notebook's), leaky ReLU, tanh or sigmoid;
//! the cost may weight the positive class, add an L2 penalty, and see the hidden layers through a
//! frozen inverted-dropout mask. Data is stored one example per column, as in the notebook: `X`
//! is `(n_0, m)`, `Y` is `(1, m)`. The passes live in the submodules (`forward`: the forward
//! pass and the fused cost; `predict`: probabilities for blocks of rows; `backward`: the
//! hand-written backward pass); the scalar formulas in `super::formulas`. Knows nothing of bugs,
//! files or the checking engine beyond its layout.

mod backward;
mod forward;
mod predict;

pub(crate) use backward::{Backprop, Exact, dense_backward};
pub use forward::Forward;
pub(crate) use forward::dense_forward;

use gradproof::{Layout, TensorSpec, Tensors};
use ndarray::ArrayView2;

use super::activation::{Activation, DropoutMask};
pub use super::formulas::CostForm;
use super::formulas::{self, squared_weights};
use crate::error::{Error, Result};
use crate::numpy_rng::NumpyRng;

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

    /// The weight of an example with label `y` in the cost (see
    /// [`Mlp::with_positive_weight`]).
    #[inline(always)]
    pub(crate) fn example_weight(&self, y: f64) -> f64 {
        formulas::example_weight(self.positive_weight, y)
    }

    /// `Σ_l ‖Wl‖²` of the weights in `theta`.
    pub(crate) fn squared_weights(&self, theta: &[f64]) -> f64 {
        squared_weights((1..=self.depth()).map(|l| self.layer_slices(theta, l).0))
    }

    /// The cost `(1/m)·Σ wᵢ·ℓᵢ + (λ/2m)·Σ‖Wl‖²` from the weighted sum of `m` examples' losses.
    pub(crate) fn mean_cost(&self, sum: f64, m: usize, theta: &[f64]) -> f64 {
        formulas::mean_cost(sum, m, self.l2, || self.squared_weights(theta))
    }

    /// Checks that `mask`, if any, has one `(n_l, m)` array per hidden layer.
    pub(crate) fn expect_mask(&self, mask: Option<&DropoutMask>, m: usize) -> Result<()> {
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

    /// Views of layer `l`'s (1-based) weights `(n_l, n_{l−1})` and bias `(n_l, 1)` inside `theta`.
    pub(crate) fn layer<'a, T>(
        &self,
        theta: &'a [T],
        l: usize,
    ) -> (ArrayView2<'a, T>, ArrayView2<'a, T>) {
        let (w, b) = self.layer_slices(theta, l);
        let (rows, cols) = (self.sizes[l], self.sizes[l - 1]);
        (
            ArrayView2::from_shape((rows, cols), w).expect("the layout's shape"),
            ArrayView2::from_shape((rows, 1), b).expect("the layout's shape"),
        )
    }

    /// Layer `l`'s (1-based) weights (row-major `n_l × n_{l−1}`) and bias inside `theta`: the
    /// one place that knows where a layer lies in the flat parameters.
    pub(crate) fn layer_slices<'a, T>(&self, theta: &'a [T], l: usize) -> (&'a [T], &'a [T]) {
        (
            &theta[self.layout.range(2 * (l - 1))],
            &theta[self.layout.range(2 * (l - 1) + 1)],
        )
    }

    /// Checks `θ`'s length and that `X` has one row per input.
    pub(crate) fn expect_data(&self, theta: &[f64], x: ArrayView2<'_, f64>) -> Result<()> {
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

    /// Checks that `Y` is a `(1, m)` row for `m` examples of `X`.
    pub(crate) fn expect_labels(x: ArrayView2<'_, f64>, y: ArrayView2<'_, f64>) -> Result<()> {
        if y.shape() != [1, x.ncols()] {
            return Err(Error::ShapeMismatch {
                what: "Y",
                found: y.shape().to_vec(),
                expected: format!("(1, {}): one label per example", x.ncols()),
            });
        }
        Ok(())
    }
}
