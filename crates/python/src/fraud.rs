//! The fraud model in Python: `gradproof._core.FraudModel`, a model file of `gradproof train`
//! loaded once (a file that cannot be read or is not a valid model is the Python exception
//! naming it), and scoring rows handed over as an Arrow C stream (the `__arrow_c_stream__`
//! capsule of a pyarrow table, which the pure-Python side makes of a data frame, a record batch
//! or numpy columns) with the GIL released; probabilities and flags come back as numpy arrays.
//! Which Python objects become a stream is the Python side's job; the features, the checks and
//! the numbers are fraudnet's, so they are the CLI's.

use std::path::PathBuf;

use arrow_array::ffi_stream::{FFI_ArrowArrayStream, RecordBatchStreamReader};
use arrow_array::{RecordBatch, RecordBatchReader};
use arrow_schema::ArrowError;
use fraudnet::model_file::FraudModel as Model;
use fraudnet::score_arrow::{Scores, score_batches};
use numpy::PyArray1;
use pyo3::exceptions::{PyFileNotFoundError, PyOSError, PyPermissionError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyCapsule;

/// Probabilities (float64) and flags (bool), one per row.
type ScoreArrays<'py> = (Bound<'py, PyArray1<f64>>, Bound<'py, PyArray1<bool>>);

/// A trained fraud model (see the module docs); immutable, so one object may score from
/// several Python threads at once.
#[pyclass(module = "gradproof._core", name = "FraudModel", frozen)]
pub(crate) struct FraudModel {
    model: Model,
    path: String,
}

#[pymethods]
impl FraudModel {
    /// Reads and validates the model file at `path` (the GIL released while it is read).
    #[staticmethod]
    fn load(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        let model = py.detach(|| Model::load(&path)).map_err(model_error)?;
        Ok(FraudModel {
            model,
            path: path.display().to_string(),
        })
    }

    /// The path the model was loaded from.
    #[getter]
    fn path(&self) -> &str {
        &self.path
    }

    /// The payment schema it reads: `"paysim"` or `"card"`.
    #[getter]
    fn schema(&self) -> String {
        self.model.schema.to_string()
    }

    /// A row is flagged when its probability is at least this.
    #[getter]
    fn threshold(&self) -> f64 {
        self.model.threshold
    }

    /// The columns a row must have, as in the schema's files.
    #[getter]
    fn columns(&self) -> Vec<&'static str> {
        self.model.schema.required_columns().to_vec()
    }

    /// The optional label column (`isFraud` or `Class`): checked when present, never used.
    #[getter]
    fn label_column(&self) -> &'static str {
        self.model.schema.label_column()
    }

    /// The engineered features the network reads, in order.
    #[getter]
    fn features(&self) -> Vec<&'static str> {
        self.model.feature_set.feature_names(self.model.schema)
    }

    /// The network's layer sizes, input first.
    #[getter]
    fn sizes(&self) -> Vec<usize> {
        self.model.mlp.sizes().to_vec()
    }

    /// The training metadata of the model file, as its JSON text.
    #[getter]
    fn training(&self) -> String {
        self.model.training.to_string()
    }

    /// Scores the rows of `stream`, an `arrow_array_stream` capsule (which it consumes), named
    /// `data` in errors. Returns the probabilities (float64) and the flags (bool), one per row in
    /// order. The batches are imported with the GIL held (no copy), then scored without it.
    fn score_stream<'py>(
        &self,
        py: Python<'py>,
        stream: &Bound<'py, PyCapsule>,
        data: &str,
    ) -> PyResult<ScoreArrays<'py>> {
        let pointer = stream.pointer_checked(Some(c"arrow_array_stream"))?;
        // SAFETY: a capsule named `arrow_array_stream` holds an `ArrowArrayStream` (the Arrow
        // PyCapsule interface). `from_raw` moves it out and leaves a released, empty stream in
        // the capsule, so the capsule's destructor frees nothing twice.
        let stream = unsafe { FFI_ArrowArrayStream::from_raw(pointer.cast().as_ptr()) };
        let unreadable = |e: ArrowError| {
            PyValueError::new_err(format!("{data}: cannot be read as Arrow data: {e}"))
        };
        let reader = RecordBatchStreamReader::try_new(stream).map_err(unreadable)?;
        let schema = reader.schema();
        let batches: Vec<RecordBatch> = reader.collect::<Result<_, _>>().map_err(unreadable)?;
        let Scores {
            probabilities,
            flags,
        } = py
            .detach(|| score_batches(&self.model, &schema, &batches, data))
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok((
            PyArray1::from_vec(py, probabilities),
            PyArray1::from_vec(py, flags),
        ))
    }

    fn __repr__(&self) -> String {
        format!(
            "FraudModel(path={:?}, schema={:?}, sizes={:?}, threshold={})",
            self.path,
            self.schema(),
            self.sizes(),
            self.model.threshold
        )
    }
}

/// A model file's error as the Python exception for it: the file missing, unreadable, or not a
/// valid model (`ValueError`); each message names the file.
fn model_error(error: fraudnet::Error) -> PyErr {
    let message = error.to_string();
    match error {
        fraudnet::Error::Io { source, .. } => match source.kind() {
            std::io::ErrorKind::NotFound => PyFileNotFoundError::new_err(message),
            std::io::ErrorKind::PermissionDenied => PyPermissionError::new_err(message),
            _ => PyOSError::new_err(message),
        },
        _ => PyValueError::new_err(message),
    }
}
