//! One dense layer, `Z = W·X + b` then `A = act(Z)`, as a vector-valued function whose value
//! and vector–Jacobian product are the MLP's own code for one layer (its forward step, its
//! backward step and its activation's backward step), so that [`gradproof::jacobian::JacobianChecker`]
//! checks the code the model trains with, on its own, and names the wrong (output, input) pair.
//! Mistakes can be injected on purpose ([`LayerBug`], from the model's bugs module). Owns only
//! the layer's layouts and its input generator.

use gradproof::jacobian::VectorProblem;
use gradproof::{Layout, TensorSpec, Tensors};
use ndarray::{Array2, ArrayView2};

use crate::error::{Error, Result};
use crate::model::{Activation, Backprop, Exact, LayerBug, dense_backward, dense_forward};
use crate::numpy_rng::NumpyRng;

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

    /// Views of `W`, `b` and `X` inside the flat inputs `x`.
    fn split<'a>(
        &self,
        x: &'a [f64],
    ) -> (
        ArrayView2<'a, f64>,
        ArrayView2<'a, f64>,
        ArrayView2<'a, f64>,
    ) {
        let (n_in, n_out, m) = self.sizes;
        let (w, rest) = x.split_at(n_out * n_in);
        let (b, input) = rest.split_at(n_out);
        let view =
            |shape, values| ArrayView2::from_shape(shape, values).expect("the layout's shape");
        (
            view((n_out, n_in), w),
            view((n_out, 1), b),
            view((n_in, m), input),
        )
    }

    /// The VJP with the backward steps of `steps` (the model's exact ones, or a bug's).
    fn vjp_with(
        &self,
        steps: &impl Backprop,
        x: &[f64],
        cotangent: &Tensors,
    ) -> gradproof::Result<Tensors> {
        let (w, b, input) = self.split(x);
        let z = dense_forward(w, b, input);
        let (n_out, m) = z.dim();
        let (uz, ua) = cotangent.values().split_at(n_out * m);
        let as_array = |u: &[f64]| Array2::from_shape_vec((n_out, m), u.to_vec());
        let (uz, mut dz) = (
            as_array(uz).expect("n_out × m"),
            as_array(ua).expect("n_out × m"),
        );
        let a = z.mapv(|v| self.activation.apply(v));
        // The same step as the MLP's hidden layers take: `dA ⊙ act′(Z)`.
        steps.through_activation(1, self.activation, &mut dz, &z, &a);
        dz += &uz;
        let (dw, db, dx) = dense_backward(steps, 1, w, input, &dz, 1.0, true);
        let dx = dx.expect("asked for");
        let values = dw.iter().chain(&db).chain(&dx).copied().collect();
        Tensors::new(self.inputs.clone(), values)
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
        let (w, b, input) = self.split(x);
        let z = dense_forward(w, b, input);
        let a = z.mapv(|v| self.activation.apply(v));
        Tensors::new(self.outputs.clone(), z.iter().chain(&a).copied().collect())
    }

    /// `dZ = u_Z + u_A ⊙ act′(Z)`, `∂W = dZ·Xᵀ`, `∂b = Σ_examples dZ`, `∂X = Wᵀ·dZ`: the MLP's
    /// backward step for one layer.
    fn vjp(&self, x: &[f64], cotangent: &Tensors) -> gradproof::Result<Tensors> {
        self.inputs.expect_len("layer inputs", x.len())?;
        self.outputs.expect_same(cotangent.layout())?;
        match self.bug {
            Some(bug) => self.vjp_with(&bug, x, cotangent),
            None => self.vjp_with(&Exact, x, cotangent),
        }
    }
}
