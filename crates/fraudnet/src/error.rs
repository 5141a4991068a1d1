//! The model crate's error type: architecture, data shapes, bug specifications, and the engine's
//! own errors passed through.

/// Everything that can go wrong in the model crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An MLP needs an input size and at least one layer, all of positive width.
    #[error("invalid layer sizes {sizes:?}: {reason}")]
    InvalidArchitecture {
        /// The sizes given.
        sizes: Vec<usize>,
        /// What is wrong with them.
        reason: String,
    },
    /// Data whose shape does not fit the model.
    #[error("{what} has shape {found:?}, expected {expected}")]
    ShapeMismatch {
        /// Which array.
        what: &'static str,
        /// Its shape.
        found: Vec<usize>,
        /// What the model needs, in words.
        expected: String,
    },
    /// A bug injection that names a tensor the model does not have, or is otherwise invalid.
    #[error("invalid bug: {0}")]
    InvalidBug(String),
    /// An error of the gradient-checking engine.
    #[error(transparent)]
    Engine(#[from] gradproof::Error),
}

/// The model crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
