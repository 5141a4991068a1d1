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
    /// A bad row or value in a data file, with where it is (1-based line and column; column 0
    /// when the fault is the row as a whole, shown as `file:line:` without a column) and what is
    /// wrong.
    #[error("{file}:{line}{}: {message}", column_suffix(*column))]
    Data {
        /// The file's path as given.
        file: String,
        /// 1-based line number.
        line: u64,
        /// 1-based column (field) number, 0 for the whole row.
        column: u64,
        /// What is wrong, naming the field and the value found.
        message: String,
    },
    /// A file that cannot be opened, read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file's path.
        path: String,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// A Parquet file that is not Parquet, is truncated or corrupt, lacks a column, holds a
    /// column of the wrong type, or a bad value; `place` says where (row group, column, row).
    #[error("{file}: {place}{message}")]
    Parquet {
        /// The file's path as given.
        file: String,
        /// Where in the file, ending in ": " (`row group 2, column `amount`, row 8193: `), or
        /// empty for the file as a whole.
        place: String,
        /// What is wrong.
        message: String,
    },
    /// Payment rows in memory as Arrow columns (a record batch, a table, a data frame) with a
    /// missing, duplicated or wrongly typed column or a bad value; `place` says where (column,
    /// row).
    #[error("{data}: {place}{message}")]
    Arrow {
        /// What the rows are, as the caller named them (`DataFrame`, `partition 3`).
        data: String,
        /// Where in them, ending in ": " (``column `amount`, row 17: ``), or empty for the
        /// columns as a whole.
        place: String,
        /// What is wrong.
        message: String,
    },
    /// A model file that is truncated, corrupt, tampered with, of an unknown format version, or
    /// made for other data than it is used on.
    #[error("model file {path}: {reason}")]
    ModelFile {
        /// The file's path.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A setting out of its allowed range, with the range.
    #[error("invalid setting: {0}")]
    InvalidSetting(String),
    /// Training stopped: the hand-written gradient disagreed with the numerical one.
    #[error("gradient check failed before epoch {epoch}; training stopped\n{report}")]
    GradientCheckFailed {
        /// The epoch that was about to start (1-based).
        epoch: usize,
        /// The engine's full report.
        report: Box<gradproof::Report>,
    },
    /// An error of the gradient-checking engine.
    #[error(transparent)]
    Engine(#[from] gradproof::Error),
}

/// The model crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `:column` for a fault in one field; nothing for a fault of the whole row (column 0), so that
/// no message names a column that does not exist.
fn column_suffix(column: u64) -> String {
    if column == 0 {
        String::new()
    } else {
        format!(":{column}")
    }
}
