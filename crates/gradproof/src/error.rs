//! The engine's error type. Every variant carries what a user needs to fix the input: tensor
//! names, shapes, indices, the offending value. It knows nothing of files or command lines.

use std::fmt;

/// Everything that can go wrong while laying out tensors or checking a gradient.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A tensor name was empty.
    #[error("tensor #{position} has an empty name")]
    EmptyName {
        /// Position of the tensor in the layout (0-based).
        position: usize,
    },
    /// Two tensors of one layout share a name.
    #[error("tensor name '{name}' appears twice in the layout")]
    DuplicateName {
        /// The repeated name.
        name: String,
    },
    /// A flat buffer does not have as many values as its layout holds.
    #[error("{what} has {found} values but the layout holds {expected} ({layout})")]
    LengthMismatch {
        /// What the buffer is ("parameters", "gradient", ...).
        what: String,
        /// Values the layout holds.
        expected: usize,
        /// Values found.
        found: usize,
        /// The layout, as `name[shape], ...`.
        layout: String,
    },
    /// A gradient's tensors do not match the parameters' tensors.
    #[error("gradient does not match the parameters: {detail}")]
    LayoutMismatch {
        /// Which tensor mismatches first, with both names and shapes.
        detail: String,
    },
    /// A tensor name that the layout does not have.
    #[error("no tensor named '{name}' (the layout has: {available})")]
    UnknownTensor {
        /// The name asked for.
        name: String,
        /// The names the layout has, comma separated.
        available: String,
    },
    /// A multi-index outside a tensor's shape, or of the wrong rank.
    #[error("index {index:?} is out of range for tensor '{name}' of shape {shape:?}")]
    IndexOutOfRange {
        /// The tensor.
        name: String,
        /// The index asked for.
        index: Vec<usize>,
        /// The tensor's shape.
        shape: Vec<usize>,
    },
    /// A named tensor asked for (or given) with a rank or shape it does not have.
    #[error("tensor '{name}' has shape {shape:?}, but {expected}")]
    ShapeMismatch {
        /// The tensor.
        name: String,
        /// Its shape in the layout.
        shape: Vec<usize>,
        /// What the caller asked for or gave, in words.
        expected: String,
    },
    /// A flat index past the end of the layout.
    #[error("flat index {index} is out of range for a layout of {len} values")]
    FlatIndexOutOfRange {
        /// The index asked for.
        index: usize,
        /// The layout's length.
        len: usize,
    },
    /// A layout whose element count does not fit in a `usize`.
    #[error("tensor '{name}' of shape {shape:?} makes the layout larger than a usize can count")]
    TooLarge {
        /// The tensor whose size overflowed the count.
        name: String,
        /// Its shape.
        shape: Vec<usize>,
    },
    /// A setting outside its allowed range (step size, threshold, ...).
    #[error("{name} must be {expected}, got {value}")]
    InvalidSetting {
        /// The setting.
        name: &'static str,
        /// The allowed range, in words.
        expected: &'static str,
        /// The value given.
        value: f64,
    },
    /// A named choice that is not one of the allowed ones.
    #[error("{name} must be one of {expected}, got '{value}'")]
    InvalidChoice {
        /// The setting.
        name: &'static str,
        /// The value given.
        value: String,
        /// The allowed values, in words.
        expected: &'static str,
    },
    /// The model produced NaN or an infinity.
    #[error("{what} is {value} {location}")]
    NonFinite {
        /// What was not finite ("cost", "gradient W2[1, 3]", "parameter b1[0, 0]", ...).
        what: String,
        /// The value (NaN, inf or -inf).
        value: f64,
        /// Where it appeared ("at the unperturbed parameters", "at W1[2, 0] + ε", ...).
        location: String,
    },
    /// What was asked needs something the model or the method does not provide (e.g.
    /// [`Reference::Dual`](crate::Reference::Dual) on a model without exact directional derivatives).
    #[error("{what}: {reason}")]
    Unsupported {
        /// What was asked.
        what: &'static str,
        /// Why it cannot be done, and what would make it possible.
        reason: &'static str,
    },
    /// Partial results of a sharded check that do not make one whole check: a shard missing
    /// or given twice, or shards of another model, point or setting.
    #[error("the shards do not make one check: {detail}")]
    Shards {
        /// What does not fit, naming the shards (`shard 2 of 3 is missing`).
        detail: String,
    },
    /// The model failed with its own error.
    #[error("the model failed: {0}")]
    Model(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl Error {
    /// Wraps a model's own error, for [`Problem`](crate::Problem) implementations.
    ///
    /// ```
    /// let err = gradproof::Error::model("weights not loaded");
    /// assert_eq!(err.to_string(), "the model failed: weights not loaded");
    /// ```
    pub fn model<E>(error: E) -> Self
    where
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        Error::Model(error.into())
    }
}

/// The engine's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Formats a multi-index the way people write it: `[1, 3]`, or nothing for a scalar.
pub(crate) struct IndexDisplay<'a>(pub &'a [usize]);

impl fmt::Display for IndexDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return Ok(());
        }
        f.write_str("[")?;
        for (k, i) in self.0.iter().enumerate() {
            if k > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{i}")?;
        }
        f.write_str("]")
    }
}
