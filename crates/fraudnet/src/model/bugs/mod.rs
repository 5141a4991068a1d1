//! Bugs injected into a hand-written gradient on purpose, so that a gradient check can be shown
//! to catch them and name the right tensor. The notebook's buggy backward pass is the correct one
//! with two of these (`dW2 × 2`, `db1 × 4`). Specs read like `dW2:scale=2`, `dW1:sign`,
//! `db3:zero`, `dW2[1,3]:add=1e-3`, `dW1:swap`, `notebook`, or — mistakes inside the backward
//! pass — `dW2:sigmoid-derivative` (hidden layer 2's ReLU differentiated as a sigmoid) and
//! `db2:unsummed` (the bias gradient taken from the first example instead of the sum) and
//! `dW1:dropout-unmasked` (hidden layer 1's dropout mask forgotten in the backward pass).
//!
//! This module is the only place bugs live: the one bug type ([`Bug`], written as in `spec`),
//! the faulty steps of the backward pass (an implementation of the model's `Backprop` steps),
//! one function for "the gradient with these bugs" ([`gradient_with_bugs`]) that both the
//! gradient check and training use, and the mistakes of one dense layer ([`LayerBug`]). The
//! model's production backward pass knows nothing of them.

mod spec;

use gradproof::Tensors;
use ndarray::{Array2, ArrayView2, Axis};

use super::activation::{Activation, DropoutMask};
use super::linalg::matmul;
use super::mlp::{Backprop, Exact, Forward, Mlp};
use crate::error::{Error, Result};

/// A deliberate mistake applied to a computed gradient. Tensors are named by their parameter
/// (`W2`); specs may use either the parameter or the gradient name (`dW2`).
#[derive(Clone, Debug, PartialEq)]
pub enum Bug {
    /// Multiply the whole gradient tensor by `factor`.
    Scale {
        /// The parameter whose gradient is wrong.
        tensor: String,
        /// The wrong factor.
        factor: f64,
    },
    /// Flip the sign of the whole gradient tensor.
    Sign {
        /// The parameter whose gradient is wrong.
        tensor: String,
    },
    /// Set the whole gradient tensor to zero (a forgotten term).
    Zero {
        /// The parameter whose gradient is wrong.
        tensor: String,
    },
    /// Add `delta` to one element.
    Add {
        /// The parameter whose gradient is wrong.
        tensor: String,
        /// The element's multi-index.
        index: Vec<usize>,
        /// What is added.
        delta: f64,
    },
    /// Swap the largest and the smallest element of the tensor (an index mix-up).
    Swap {
        /// The parameter whose gradient is wrong.
        tensor: String,
    },
    /// Inside the backward pass: hidden layer `layer`'s ReLU differentiated as a sigmoid.
    SigmoidDerivative {
        /// The hidden layer (1-based).
        layer: usize,
    },
    /// Inside the backward pass: `db{layer}` from the first example instead of the sum.
    BiasNotSummed {
        /// The layer (1-based).
        layer: usize,
    },
    /// Inside the backward pass: hidden layer `layer`'s dropout mask not applied.
    DropoutUnmasked {
        /// The hidden layer (1-based).
        layer: usize,
    },
}

impl Bug {
    /// `Scale` of `tensor`'s gradient by `factor`.
    pub fn scale(tensor: impl Into<String>, factor: f64) -> Self {
        Bug::Scale {
            tensor: tensor.into(),
            factor,
        }
    }

    /// The notebook's two bugs: `dW2` multiplied by 2 and `db1` by 4.
    pub fn notebook() -> Vec<Bug> {
        vec![Bug::scale("W2", 2.0), Bug::scale("b1", 4.0)]
    }

    /// Parses a list of specs (each may be `notebook`, which stands for two bugs).
    ///
    /// ```
    /// use fraudnet::Bug;
    /// let bugs = Bug::parse_all(["dW2[1,3]:add=1e-3", "notebook"])?;
    /// assert_eq!(bugs.len(), 3);
    /// assert_eq!(bugs[0].to_string(), "dW2[1,3]:add=0.001");
    /// # Ok::<(), fraudnet::Error>(())
    /// ```
    pub fn parse_all<'a>(specs: impl IntoIterator<Item = &'a str>) -> Result<Vec<Bug>> {
        let mut bugs = Vec::new();
        for spec in specs {
            if spec.trim() == "notebook" {
                bugs.extend(Bug::notebook());
            } else {
                bugs.push(spec.parse()?);
            }
        }
        Ok(bugs)
    }

    /// The parameter whose gradient the bug changes (first, for a mistake inside the backward
    /// pass, which spoils the layers below too).
    pub fn tensor(&self) -> String {
        match self {
            Bug::Scale { tensor, .. }
            | Bug::Sign { tensor }
            | Bug::Zero { tensor }
            | Bug::Add { tensor, .. }
            | Bug::Swap { tensor } => tensor.clone(),
            Bug::SigmoidDerivative { layer } | Bug::DropoutUnmasked { layer } => {
                format!("W{layer}")
            }
            Bug::BiasNotSummed { layer } => format!("b{layer}"),
        }
    }

    /// Whether the bug is a mistake inside the backward pass (rather than one applied to the
    /// gradient it computes).
    pub fn is_in_backward_pass(&self) -> bool {
        matches!(
            self,
            Bug::SigmoidDerivative { .. } | Bug::BiasNotSummed { .. } | Bug::DropoutUnmasked { .. }
        )
    }

    /// Checks that every bug can happen in `mlp` (with `dropout` or without): each layer it names
    /// exists, a forgotten mask has a mask to forget, and each tensor and element exists.
    pub fn check_all(bugs: &[Bug], mlp: &Mlp, dropout: bool) -> Result<()> {
        let mut probe = Tensors::zeros(mlp.layout().clone());
        let depth = mlp.depth();
        let not_hidden = |bug: &Bug, layer: usize| {
            Error::InvalidBug(format!(
                "{bug}: layer {layer} is not a hidden layer (this network has hidden layers 1 to {})",
                depth - 1
            ))
        };
        for bug in bugs {
            match *bug {
                Bug::SigmoidDerivative { layer } | Bug::DropoutUnmasked { layer }
                    if !(1..depth).contains(&layer) =>
                {
                    return Err(not_hidden(bug, layer));
                }
                Bug::DropoutUnmasked { .. } if !dropout => {
                    return Err(Error::InvalidBug(format!(
                        "{bug}: the problem has no dropout, so there is no mask to forget (set a dropout rate first)"
                    )));
                }
                Bug::BiasNotSummed { layer } if !(1..=depth).contains(&layer) => {
                    return Err(Error::InvalidBug(format!(
                        "{bug}: no layer {layer} (this network has layers 1 to {depth})"
                    )));
                }
                _ if bug.is_in_backward_pass() => {}
                _ => bug.apply(&mut probe)?,
            }
        }
        Ok(())
    }

    /// Applies the bug to `gradient`; fails if the tensor or index does not exist.
    pub fn apply(&self, gradient: &mut Tensors) -> Result<()> {
        let invalid = |e: gradproof::Error| Error::InvalidBug(format!("{self}: {e}"));
        if self.is_in_backward_pass() {
            return Err(Error::InvalidBug(format!(
                "{self} happens inside the backward pass and cannot be applied to a computed gradient"
            )));
        }
        if let Bug::Add {
            tensor,
            index,
            delta,
        } = self
        {
            let flat = gradient
                .layout()
                .flat_index(tensor, index)
                .map_err(invalid)?;
            gradient.values_mut()[flat] += delta;
            return Ok(());
        }
        let mut view = gradient.get_mut(&self.tensor()).map_err(invalid)?;
        match self {
            Bug::Scale { factor, .. } => view.mapv_inplace(|g| g * factor),
            Bug::Sign { .. } => view.mapv_inplace(|g| -g),
            Bug::Zero { .. } => view.fill(0.0),
            Bug::Swap { .. } => {
                let values = view.as_slice_mut().expect("a layout view is contiguous");
                let by_value = |a: &(usize, &f64), b: &(usize, &f64)| a.1.total_cmp(b.1);
                let hi = values.iter().enumerate().max_by(by_value).map(|(i, _)| i);
                let lo = values.iter().enumerate().min_by(by_value).map(|(i, _)| i);
                if let (Some(hi), Some(lo)) = (hi, lo) {
                    values.swap(hi, lo);
                }
            }
            Bug::Add { .. }
            | Bug::SigmoidDerivative { .. }
            | Bug::BiasNotSummed { .. }
            | Bug::DropoutUnmasked { .. } => {
                unreachable!("handled above")
            }
        }
        Ok(())
    }
}

/// The gradient of `mlp`'s cost at `theta` on `(x, y)` through `mask` with `bugs` in it: the
/// forward pass, the backward pass with the bugs that happen inside it, then the others applied
/// to its result. Returns the forward pass too (training reports the loss from it). The bugs
/// should have passed [`Bug::check_all`]; a tensor or element that does not exist is an error.
pub fn gradient_with_bugs(
    mlp: &Mlp,
    theta: &[f64],
    x: ArrayView2<'_, f64>,
    y: ArrayView2<'_, f64>,
    mask: Option<&DropoutMask>,
    bugs: &[Bug],
) -> Result<(Forward, Tensors)> {
    Mlp::expect_labels(x, y)?;
    let forward = mlp.forward_masked(theta, x, mask)?;
    let mut gradient = mlp.backward_with(&Faulty(bugs), theta, x, y, &forward, mask);
    for bug in bugs.iter().filter(|b| !b.is_in_backward_pass()) {
        bug.apply(&mut gradient)?;
    }
    Ok((forward, gradient))
}

/// The backward pass's steps with the bugs that happen inside it.
struct Faulty<'a>(&'a [Bug]);

impl Backprop for Faulty<'_> {
    fn bias_gradient(&self, layer: usize, dz: &Array2<f64>) -> Array2<f64> {
        if self.0.contains(&Bug::BiasNotSummed { layer }) {
            first_example(dz)
        } else {
            Exact.bias_gradient(layer, dz)
        }
    }

    fn through_mask(&self, hidden: usize, da: &mut Array2<f64>, mask: &Array2<f64>) {
        if !self.0.contains(&Bug::DropoutUnmasked { layer: hidden }) {
            Exact.through_mask(hidden, da, mask);
        }
    }

    fn through_activation(
        &self,
        hidden: usize,
        activation: Activation,
        da: &mut Array2<f64>,
        z: &Array2<f64>,
        a: &Array2<f64>,
    ) {
        if self.0.contains(&Bug::SigmoidDerivative { layer: hidden }) {
            // The sigmoid's derivative from its output, `a·(1 − a)`, whatever the activation.
            da.zip_mut_with(a, |d, &a| *d *= a * (1.0 - a));
        } else {
            Exact.through_activation(hidden, activation, da, z, a);
        }
    }
}

/// A mistake in [`crate::DenseLayer`]'s vector–Jacobian product, made on purpose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayerBug {
    /// `∂/∂b` from the first example's `dZ` instead of the sum over examples.
    BiasNotSummed,
    /// `∂/∂X` reads `W`'s buffer as if it were `Wᵀ` (`W[k·n_out + i]` for `W[i, k]`): a
    /// transposition done wrongly, which every shape accepts.
    InputGradientTransposedWrongly,
}

impl Backprop for LayerBug {
    fn bias_gradient(&self, layer: usize, dz: &Array2<f64>) -> Array2<f64> {
        match self {
            LayerBug::BiasNotSummed => first_example(dz),
            _ => Exact.bias_gradient(layer, dz),
        }
    }

    fn input_gradient(
        &self,
        layer: usize,
        w: ArrayView2<'_, f64>,
        dz: &Array2<f64>,
    ) -> Array2<f64> {
        match self {
            LayerBug::InputGradientTransposedWrongly => {
                let (n_out, n_in) = w.dim();
                let buffer = w.as_standard_layout();
                let misread = ArrayView2::from_shape(
                    (n_in, n_out),
                    buffer.as_slice().expect("standard layout"),
                )
                .expect("the same number of weights");
                matmul(misread, dz.view())
            }
            _ => Exact.input_gradient(layer, w, dz),
        }
    }
}

/// The first example's column of `dZ`, as a wrong bias gradient takes it instead of the sum.
fn first_example(dz: &Array2<f64>) -> Array2<f64> {
    dz.column(0).to_owned().insert_axis(Axis(1))
}

#[cfg(test)]
mod structural_tests {
    use super::*;

    #[test]
    fn backward_pass_bugs_parse_round_trip_and_refuse_to_be_applied_afterwards() {
        let bug: Bug = "dW2:sigmoid-derivative".parse().unwrap();
        assert_eq!(bug, Bug::SigmoidDerivative { layer: 2 });
        assert_eq!(bug.to_string().parse::<Bug>().unwrap(), bug);
        let bug: Bug = "db3:unsummed".parse().unwrap();
        assert_eq!(bug, Bug::BiasNotSummed { layer: 3 });
        assert!(bug.is_in_backward_pass());
        assert_eq!(bug.to_string(), "db3:unsummed");
        for bad in [
            "db2:sigmoid-derivative",
            "dW2:unsummed",
            "dW0:sigmoid-derivative",
            "db2:unsummed=1",
        ] {
            let err = bad.parse::<Bug>().unwrap_err().to_string();
            assert!(err.contains(bad), "{bad}: {err}");
        }
        let layout = gradproof::Layout::new([gradproof::TensorSpec::new("b3", [1, 1])]).unwrap();
        let mut g = Tensors::zeros(layout);
        assert!(
            bug.apply(&mut g)
                .unwrap_err()
                .to_string()
                .contains("inside the backward pass")
        );
    }
}
