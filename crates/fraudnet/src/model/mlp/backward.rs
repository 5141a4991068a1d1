//! The MLP's hand-written backward pass, written as a chain of dense-layer steps
//! ([`dense_backward`]) that [`crate::DenseLayer`] also uses, so that the Jacobian check of one
//! layer checks the very code the model trains with. The steps where a mistake can be made on
//! purpose go through the [`Backprop`] trait: production uses [`Exact`], the correct steps;
//! `crate::model::bugs` supplies the faulty ones. Knows nothing of which bugs exist.

use gradproof::Tensors;
use ndarray::{Array2, ArrayView2, Axis};

use super::{CostForm, Forward, Mlp};
use crate::error::Result;
use crate::model::activation::{Activation, DropoutMask};
use crate::model::formulas::sigmoid;
use crate::model::linalg::matmul;

/// The steps of a dense layer's backward pass that a deliberate mistake may replace. Every
/// method's default is the correct step; [`Exact`] keeps them all.
pub(crate) trait Backprop {
    /// `Σ_examples dZ` for layer `layer` (1-based): one `(n_l, 1)` column.
    fn bias_gradient(&self, layer: usize, dz: &Array2<f64>) -> Array2<f64> {
        let _ = layer;
        dz.sum_axis(Axis(1)).insert_axis(Axis(1))
    }

    /// `Wᵀ·dZ`: the gradient with respect to layer `layer`'s input.
    fn input_gradient(
        &self,
        layer: usize,
        w: ArrayView2<'_, f64>,
        dz: &Array2<f64>,
    ) -> Array2<f64> {
        let _ = layer;
        matmul(w.t(), dz.view())
    }

    /// `dA ⊙ mask` through hidden layer `hidden`'s dropout mask.
    fn through_mask(&self, hidden: usize, da: &mut Array2<f64>, mask: &Array2<f64>) {
        let _ = hidden;
        *da *= mask;
    }

    /// `dA ⊙ act′(Z)` through hidden layer `hidden`'s activation, whose pre-activations are `z`
    /// and activations (after any mask) `a`.
    fn through_activation(
        &self,
        hidden: usize,
        activation: Activation,
        da: &mut Array2<f64>,
        z: &Array2<f64>,
        a: &Array2<f64>,
    ) {
        let _ = (hidden, a);
        activation.backpropagate(da, z);
    }
}

/// The correct backward pass: every [`Backprop`] step as written.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Exact;

impl Backprop for Exact {}

/// One dense layer's backward step from its `dZ` and its input `A`: `scale·dZ·Aᵀ` (the weights'
/// gradient), `scale·Σ dZ` (the bias's) and, when `want_input`, `Wᵀ·dZ` (the input's).
pub(crate) fn dense_backward(
    steps: &impl Backprop,
    layer: usize,
    w: ArrayView2<'_, f64>,
    input: ArrayView2<'_, f64>,
    dz: &Array2<f64>,
    scale: f64,
    want_input: bool,
) -> (Array2<f64>, Array2<f64>, Option<Array2<f64>>) {
    let dw = matmul(dz.view(), input.t()) * scale;
    let db = steps.bias_gradient(layer, dz) * scale;
    let da = want_input.then(|| steps.input_gradient(layer, w, dz));
    (dw, db, da)
}

impl Mlp {
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
        Ok(self.backward_with(&Exact, theta, x, y, &forward, mask))
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
        self.backward_with(&Exact, theta, x, y, forward, None)
    }

    /// [`Mlp::backward`] through a dropout `mask` (the one the forward pass used), each
    /// mistakable step taken by `steps`.
    pub(crate) fn backward_with(
        &self,
        steps: &impl Backprop,
        theta: &[f64],
        x: ArrayView2<'_, f64>,
        y: ArrayView2<'_, f64>,
        forward: &Forward,
        mask: Option<&DropoutMask>,
    ) -> Tensors {
        let inv_m = 1.0 / x.ncols() as f64;
        let mut gradient = Tensors::zeros(self.layout.clone());
        let mut dz = self.output_delta(forward, y);
        for l in (1..=self.depth()).rev() {
            let input = if l == 1 {
                x
            } else {
                forward.activations[l - 2].view()
            };
            let (w, _) = self.layer(theta, l);
            let (mut dw, db, da) = dense_backward(steps, l, w, input, &dz, inv_m, l > 1);
            if self.l2 != 0.0 {
                dw.scaled_add(self.l2 * inv_m, &w);
            }
            let values = gradient.values_mut();
            values[self.layout.range(2 * (l - 1))]
                .copy_from_slice(dw.as_slice().expect("a fresh array is contiguous"));
            values[self.layout.range(2 * (l - 1) + 1)]
                .copy_from_slice(db.as_slice().expect("a fresh array is contiguous"));
            if let Some(mut da) = da {
                let hidden = l - 1;
                if let Some(mask) = mask {
                    steps.through_mask(hidden, &mut da, &mask.layers()[hidden - 1]);
                }
                let (z, a) = (
                    &forward.pre_activations[hidden - 1],
                    &forward.activations[hidden - 1],
                );
                steps.through_activation(hidden, self.hidden, &mut da, z, a);
                dz = da;
            }
        }
        gradient
    }

    /// The output layer's `dZL = w ⊙ (AL − Y)`: the notebook's `A − Y` (which cancels to 0 when
    /// the sigmoid saturates), or in [`CostForm::Logits`] `σ(z) − y` without cancellation.
    fn output_delta(&self, forward: &Forward, y: ArrayView2<'_, f64>) -> Array2<f64> {
        let depth = self.depth();
        let mut dz = match self.cost_form {
            CostForm::Notebook => &forward.activations[depth - 1] - &y,
            // `−σ(−z)` for y = 1, `σ(z)` for y = 0.
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
        dz
    }
}
