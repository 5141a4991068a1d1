//! Bugs injected into a hand-written gradient on purpose, so that a gradient check can be shown
//! to catch them (the notebook's buggy backward pass is the correct one with two of these).

use gradproof::Tensors;

use crate::error::{Error, Result};

/// A deliberate mistake applied to a computed gradient.
#[derive(Clone, Debug, PartialEq)]
pub enum Bug {
    /// Multiply the gradient of parameter `tensor` (e.g. `W2`) by `factor`.
    Scale {
        /// The parameter whose gradient is wrong.
        tensor: String,
        /// The wrong factor.
        factor: f64,
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

    /// Applies the bug to `gradient`.
    pub fn apply(&self, gradient: &mut Tensors) -> Result<()> {
        match self {
            Bug::Scale { tensor, factor } => {
                let mut view = gradient
                    .get_mut(tensor)
                    .map_err(|e| Error::InvalidBug(e.to_string()))?;
                view.mapv_inplace(|g| g * factor);
                Ok(())
            }
        }
    }
}
