//! Named parameter tensors over one contiguous `f64` buffer.
//!
//! A [`Layout`] is an ordered list of `(name, shape)` entries; tensor *k* occupies a contiguous,
//! row-major (C order) slice of the flat buffer. It maps a flat index to `(tensor, multi-index)`
//! and back. This is the general form of the notebook's `dictionary_to_vector`,
//! `vector_to_dictionary` and `gradients_to_vector`: any number of tensors, any shapes, no
//! hard-coded slices. [`Tensors`] pairs a layout with its values. Nothing here knows what the
//! tensors mean.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use ndarray::{ArrayD, ArrayViewD, ArrayViewMutD, IxDyn};
use serde::{Deserialize, Serialize};

use crate::error::{Error, IndexDisplay, Result};

/// One named tensor: its name and shape (`[]` is a scalar).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TensorSpec {
    /// The tensor's name, e.g. `W1`.
    pub name: String,
    /// The tensor's shape, e.g. `[5, 4]`; empty for a scalar.
    pub shape: Vec<usize>,
}

impl TensorSpec {
    /// A tensor called `name` of the given shape.
    pub fn new(name: impl Into<String>, shape: impl Into<Vec<usize>>) -> Self {
        TensorSpec {
            name: name.into(),
            shape: shape.into(),
        }
    }

    /// Number of elements (1 for a scalar).
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// True if the tensor has no elements (some dimension is 0).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Display for TensorSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{:?}", self.name, self.shape)
    }
}

/// Where a flat index lands: the tensor's position in the layout, its name and the multi-index.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    /// Position of the tensor in the layout.
    pub tensor: usize,
    /// The tensor's name.
    pub name: String,
    /// Row-major multi-index inside the tensor (empty for a scalar).
    pub index: Vec<usize>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.name, IndexDisplay(&self.index))
    }
}

/// An ordered list of named tensors laid out one after the other in a flat `f64` buffer.
///
/// ```
/// use gradproof::{Layout, TensorSpec};
/// let layout = Layout::new([TensorSpec::new("W1", [5, 4]), TensorSpec::new("b1", [5, 1])])?;
/// assert_eq!(layout.len(), 25);
/// let at = layout.locate(21)?;                  // the second element of b1
/// assert_eq!(at.to_string(), "b1[1, 0]");
/// assert_eq!(layout.flat_index("b1", &[1, 0])?, 21);
/// # Ok::<(), gradproof::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Shared: a layout is cloned into every gradient and report made from it, and never changes.
    specs: Arc<[TensorSpec]>,
    /// `offsets[k]..offsets[k + 1]` is tensor `k`'s slice; one entry longer than `specs`.
    offsets: Arc<[usize]>,
}

impl Layout {
    /// Builds a layout; names must be non-empty and unique.
    pub fn new(specs: impl IntoIterator<Item = TensorSpec>) -> Result<Self> {
        let specs: Vec<TensorSpec> = specs.into_iter().collect();
        let mut offsets = Vec::with_capacity(specs.len() + 1);
        offsets.push(0);
        for (position, spec) in specs.iter().enumerate() {
            if spec.name.is_empty() {
                return Err(Error::EmptyName { position });
            }
            if specs[..position].iter().any(|s| s.name == spec.name) {
                return Err(Error::DuplicateName {
                    name: spec.name.clone(),
                });
            }
            let end = spec
                .shape
                .iter()
                .try_fold(1usize, |n, &d| n.checked_mul(d))
                .and_then(|len| len.checked_add(offsets[position]))
                .ok_or_else(|| Error::TooLarge {
                    name: spec.name.clone(),
                    shape: spec.shape.clone(),
                })?;
            offsets.push(end);
        }
        Ok(Layout {
            specs: specs.into(),
            offsets: offsets.into(),
        })
    }

    /// Total number of values.
    pub fn len(&self) -> usize {
        self.offsets[self.specs.len()]
    }

    /// True if the layout holds no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The tensors, in order.
    pub fn tensors(&self) -> &[TensorSpec] {
        &self.specs
    }

    /// Position of the tensor called `name`.
    pub fn tensor_index(&self, name: &str) -> Result<usize> {
        self.specs
            .iter()
            .position(|s| s.name == name)
            .ok_or_else(|| Error::UnknownTensor {
                name: name.to_string(),
                available: self.names().join(", "),
            })
    }

    /// The tensors' names, in order.
    pub fn names(&self) -> Vec<&str> {
        self.specs.iter().map(|s| s.name.as_str()).collect()
    }

    /// The flat range of tensor `tensor` (by position). Panics if `tensor` is out of range.
    pub fn range(&self, tensor: usize) -> Range<usize> {
        self.offsets[tensor]..self.offsets[tensor + 1]
    }

    /// Which tensor and multi-index a flat index falls on.
    pub fn locate(&self, flat: usize) -> Result<Location> {
        if flat >= self.len() {
            return Err(Error::FlatIndexOutOfRange {
                index: flat,
                len: self.len(),
            });
        }
        let (tensor, index) = self.tensor_and_index(flat);
        Ok(Location {
            tensor,
            name: self.specs[tensor].name.clone(),
            index,
        })
    }

    /// The tensor holding flat index `flat` (within the layout) and the element's index in it.
    pub(crate) fn tensor_and_index(&self, flat: usize) -> (usize, Vec<usize>) {
        // The last tensor whose offset is <= flat and that is not empty.
        let tensor = self.offsets[1..].partition_point(|&end| end <= flat);
        let spec = &self.specs[tensor];
        let mut rest = flat - self.offsets[tensor];
        let mut index = vec![0; spec.shape.len()];
        for (slot, &dim) in index.iter_mut().zip(&spec.shape).rev() {
            *slot = rest % dim;
            rest /= dim;
        }
        (tensor, index)
    }

    /// The flat index of element `index` of tensor `name`.
    pub fn flat_index(&self, name: &str, index: &[usize]) -> Result<usize> {
        let tensor = self.tensor_index(name)?;
        let spec = &self.specs[tensor];
        if index.len() != spec.shape.len() || index.iter().zip(&spec.shape).any(|(i, d)| i >= d) {
            return Err(Error::IndexOutOfRange {
                name: name.to_string(),
                index: index.to_vec(),
                shape: spec.shape.clone(),
            });
        }
        let within = index
            .iter()
            .zip(&spec.shape)
            .fold(0, |acc, (&i, &d)| acc * d + i);
        Ok(self.offsets[tensor] + within)
    }

    /// Fails with [`Error::LengthMismatch`] unless `len` equals [`Layout::len`].
    pub fn expect_len(&self, what: &str, len: usize) -> Result<()> {
        if len == self.len() {
            Ok(())
        } else {
            Err(Error::LengthMismatch {
                what: what.to_string(),
                expected: self.len(),
                found: len,
                layout: self.to_string(),
            })
        }
    }

    /// Fails with [`Error::LayoutMismatch`], naming the first tensor that differs and both
    /// shapes, unless `gradient` has the same tensors (names and shapes, in order) as `self`.
    pub fn expect_same(&self, gradient: &Layout) -> Result<()> {
        // A gradient laid out from this very layout (the usual case) is the same at once.
        if Arc::ptr_eq(&self.specs, &gradient.specs) {
            return Ok(());
        }
        for (position, (p, g)) in self.specs.iter().zip(gradient.specs.iter()).enumerate() {
            if p.name != g.name {
                return Err(Error::LayoutMismatch {
                    detail: format!(
                        "tensor #{position} of the gradient is '{}' {:?}, the parameters have '{}' {:?} there",
                        g.name, g.shape, p.name, p.shape
                    ),
                });
            }
            if p.shape != g.shape {
                return Err(Error::LayoutMismatch {
                    detail: format!(
                        "gradient of '{}' has shape {:?}, the parameter has shape {:?}",
                        p.name, g.shape, p.shape
                    ),
                });
            }
        }
        match self.specs.len().cmp(&gradient.specs.len()) {
            std::cmp::Ordering::Equal => Ok(()),
            std::cmp::Ordering::Greater => {
                let missing = &self.specs[gradient.specs.len()];
                Err(Error::LayoutMismatch {
                    detail: format!(
                        "the gradient has no tensor for '{}' {:?} ({} tensors, the parameters have {})",
                        missing.name,
                        missing.shape,
                        gradient.specs.len(),
                        self.specs.len()
                    ),
                })
            }
            std::cmp::Ordering::Less => {
                let extra = &gradient.specs[self.specs.len()];
                Err(Error::LayoutMismatch {
                    detail: format!(
                        "the gradient has an extra tensor '{}' {:?} ({} tensors, the parameters have {})",
                        extra.name,
                        extra.shape,
                        gradient.specs.len(),
                        self.specs.len()
                    ),
                })
            }
        }
    }

    /// A read-only view of tensor `tensor` (by position) inside `values`.
    ///
    /// Panics if `values` is not of length [`Layout::len`] or `tensor` is out of range.
    pub fn view<'a>(&self, values: &'a [f64], tensor: usize) -> ArrayViewD<'a, f64> {
        assert_eq!(values.len(), self.len(), "buffer length != layout length");
        ArrayViewD::from_shape(
            IxDyn(&self.specs[tensor].shape),
            &values[self.range(tensor)],
        )
        .expect("a layout's range always matches its shape")
    }

    /// A mutable view of tensor `tensor` (by position) inside `values`.
    ///
    /// Panics if `values` is not of length [`Layout::len`] or `tensor` is out of range.
    pub fn view_mut<'a>(&self, values: &'a mut [f64], tensor: usize) -> ArrayViewMutD<'a, f64> {
        assert_eq!(values.len(), self.len(), "buffer length != layout length");
        let range = self.range(tensor);
        ArrayViewMutD::from_shape(IxDyn(&self.specs[tensor].shape), &mut values[range])
            .expect("a layout's range always matches its shape")
    }
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (k, spec) in self.specs.iter().enumerate() {
            if k > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{spec}")?;
        }
        Ok(())
    }
}

/// A layout with its values: the flat form of a dictionary of named arrays.
///
/// ```
/// use gradproof::Tensors;
/// use ndarray::array;
/// // dictionary_to_vector
/// let params = Tensors::from_arrays([
///     ("W1", array![[1.0, 2.0], [3.0, 4.0]].into_dyn()),
///     ("b1", array![[5.0], [6.0]].into_dyn()),
/// ])?;
/// assert_eq!(params.values(), &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
/// // vector_to_dictionary
/// assert_eq!(params.get("b1")?[[1, 0]], 6.0);
/// # Ok::<(), gradproof::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Tensors {
    layout: Layout,
    values: Vec<f64>,
}

impl Tensors {
    /// Pairs `values` with `layout`; the lengths must agree.
    pub fn new(layout: Layout, values: Vec<f64>) -> Result<Self> {
        layout.expect_len("the buffer", values.len())?;
        Ok(Tensors { layout, values })
    }

    /// All zeros in `layout`.
    pub fn zeros(layout: Layout) -> Self {
        let values = vec![0.0; layout.len()];
        Tensors { layout, values }
    }

    /// Flattens named arrays, in the order given, each in row-major order.
    pub fn from_arrays<S, I>(arrays: I) -> Result<Self>
    where
        S: Into<String>,
        I: IntoIterator<Item = (S, ArrayD<f64>)>,
    {
        let mut specs = Vec::new();
        let mut values = Vec::new();
        for (name, array) in arrays {
            specs.push(TensorSpec::new(name, array.shape()));
            values.extend(array.iter().copied());
        }
        Tensors::new(Layout::new(specs)?, values)
    }

    /// The layout.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The flat values.
    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// The flat values, mutably.
    pub fn values_mut(&mut self) -> &mut [f64] {
        &mut self.values
    }

    /// Gives up the flat values.
    pub fn into_values(self) -> Vec<f64> {
        self.values
    }

    /// A view of the tensor called `name`.
    pub fn get(&self, name: &str) -> Result<ArrayViewD<'_, f64>> {
        let tensor = self.layout.tensor_index(name)?;
        Ok(self.layout.view(&self.values, tensor))
    }

    /// A mutable view of the tensor called `name`.
    pub fn get_mut(&mut self, name: &str) -> Result<ArrayViewMutD<'_, f64>> {
        let tensor = self.layout.tensor_index(name)?;
        Ok(self.layout.view_mut(&mut self.values, tensor))
    }

    /// The value at element `index` of tensor `name`.
    pub fn at(&self, name: &str, index: &[usize]) -> Result<f64> {
        Ok(self.values[self.layout.flat_index(name, index)?])
    }

    /// Back to named arrays (owned copies), in layout order.
    pub fn to_arrays(&self) -> Vec<(String, ArrayD<f64>)> {
        (0..self.layout.tensors().len())
            .map(|k| {
                (
                    self.layout.tensors()[k].name.clone(),
                    self.layout.view(&self.values, k).to_owned(),
                )
            })
            .collect()
    }

    /// Fails with [`Error::NonFinite`], naming the first element that is NaN or infinite.
    /// `what` describes the tensors ("gradient", "parameters") for the message.
    pub fn expect_finite(&self, what: &str) -> Result<()> {
        match self.values.iter().position(|v| !v.is_finite()) {
            None => Ok(()),
            Some(flat) => {
                let at = self.layout.locate(flat)?;
                Err(Error::NonFinite {
                    what: format!("{what} {at}"),
                    value: self.values[flat],
                    location: "as returned by the model".to_string(),
                })
            }
        }
    }
}
