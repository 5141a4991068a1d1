//! What every reader of payment rows offers, whatever the file's format: the [`RowSource`]
//! trait that data sets, scoring and evaluation read through, and [`FileFormat`], the choice
//! between CSV and Parquet (by a file's extension or by name). Knows nothing of how either
//! format is parsed, nor of models.

use std::fmt;
use std::fs::File;
use std::io;
use std::path::Path;
use std::str::FromStr;

use super::history::{FeatureSet, History};
use super::parquet::ParquetReader;
use super::reader::{RecordReader, RowInfo};
use super::schema::Schema;
use crate::{Error, Result};

/// A stream of payment rows turned into feature vectors, one at a time: a CSV
/// [`RecordReader`] or a [`ParquetReader`](super::ParquetReader).
///
/// Errors about a row already read are built by the source ([`row_error`](Self::row_error),
/// [`label_error`](Self::label_error)), so that each names the place its own way: `file:line:column`
/// for CSV, the row group, column and row for Parquet.
pub trait RowSource {
    /// The schema rows are parsed with.
    fn schema(&self) -> Schema;
    /// The file's name as used in error messages.
    fn file(&self) -> &str;
    /// Whether the file has a label column.
    fn has_labels(&self) -> bool;
    /// The features rows are turned into (per-row unless the source computes history).
    fn feature_set(&self) -> FeatureSet {
        FeatureSet::Row
    }
    /// The length of a feature vector.
    fn n_features(&self) -> usize {
        self.feature_set().n_features(self.schema())
    }
    /// The account history after the rows read so far, for a source that computes history
    /// features (else `None`).
    fn into_history(self: Box<Self>) -> Option<History> {
        None
    }
    /// Reads the next row into `features` (length [`n_features`](Self::n_features)), returning its
    /// position and label, or `None` at the end.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] for a buffer of the wrong length; [`Error::Data`] or
    /// [`Error::Parquet`] for a bad row or file; [`Error::Io`] when reading fails.
    fn read_into(&mut self, features: &mut [f64]) -> Result<Option<RowInfo>>;
    /// An error about the row `info`, just read, as a whole.
    fn row_error(&self, info: &RowInfo, message: String) -> Error;
    /// An error about the label of the row `info`, just read.
    fn label_error(&self, info: &RowInfo, message: String) -> Error;
    /// An error about the file's columns (a label column that is missing).
    fn columns_error(&self, message: String) -> Error;
}

impl<R: io::Read> RowSource for RecordReader<R> {
    fn schema(&self) -> Schema {
        RecordReader::schema(self)
    }

    fn file(&self) -> &str {
        RecordReader::file(self)
    }

    fn has_labels(&self) -> bool {
        RecordReader::has_labels(self)
    }

    fn feature_set(&self) -> FeatureSet {
        RecordReader::feature_set(self)
    }

    fn into_history(self: Box<Self>) -> Option<History> {
        RecordReader::into_history(*self)
    }

    fn read_into(&mut self, features: &mut [f64]) -> Result<Option<RowInfo>> {
        RecordReader::read_into(self, features)
    }

    fn row_error(&self, info: &RowInfo, message: String) -> Error {
        self.layout().row_error(info, message)
    }

    fn label_error(&self, info: &RowInfo, message: String) -> Error {
        self.layout().label_error(info, message)
    }

    fn columns_error(&self, message: String) -> Error {
        self.layout().columns_error(message)
    }
}

impl<S: RowSource + ?Sized> RowSource for Box<S> {
    fn schema(&self) -> Schema {
        (**self).schema()
    }

    fn file(&self) -> &str {
        (**self).file()
    }

    fn has_labels(&self) -> bool {
        (**self).has_labels()
    }

    fn feature_set(&self) -> FeatureSet {
        (**self).feature_set()
    }

    fn into_history(self: Box<Self>) -> Option<History> {
        (*self).into_history()
    }

    fn read_into(&mut self, features: &mut [f64]) -> Result<Option<RowInfo>> {
        (**self).read_into(features)
    }

    fn row_error(&self, info: &RowInfo, message: String) -> Error {
        (**self).row_error(info, message)
    }

    fn label_error(&self, info: &RowInfo, message: String) -> Error {
        (**self).label_error(info, message)
    }

    fn columns_error(&self, message: String) -> Error {
        (**self).columns_error(message)
    }
}

/// The rows of the open `file` (named `name` in errors) in `format`.
///
/// # Errors
/// Those of [`RecordReader::from_reader`] or [`ParquetReader::new`].
pub fn open_rows(
    file: File,
    name: &str,
    schema: Schema,
    format: FileFormat,
) -> Result<Box<dyn RowSource>> {
    Ok(match format {
        FileFormat::Csv => Box::new(RecordReader::from_reader(file, name, schema)?),
        FileFormat::Parquet => Box::new(ParquetReader::new(file, name, schema)?),
    })
}

/// [`open_rows`] with the features `features`: history features are computed from the file
/// read in order, CSV or Parquet alike, starting from `state` (`None`: a cold start, every
/// account new); refused for the card schema.
///
/// # Errors
/// Those of [`open_rows`], [`RecordReader::with_history`] and [`ParquetReader::with_history`].
pub fn open_rows_with(
    file: File,
    name: &str,
    schema: Schema,
    format: FileFormat,
    features: FeatureSet,
    state: Option<History>,
) -> Result<Box<dyn RowSource>> {
    if !features.has_history() {
        return open_rows(file, name, schema, format);
    }
    features.check(schema)?;
    let history = state.unwrap_or_default();
    match format {
        FileFormat::Csv => Ok(Box::new(
            RecordReader::from_reader(file, name, schema)?.with_history(history)?,
        )),
        FileFormat::Parquet => Ok(Box::new(ParquetReader::with_history(
            file, name, schema, history,
        )?)),
    }
}

/// The format of a payment or scores file.
///
/// ```
/// use fraudnet::data::FileFormat;
/// assert_eq!(FileFormat::from_path("payments.parquet"), FileFormat::Parquet);
/// assert_eq!(FileFormat::from_path("payments.PQ"), FileFormat::Parquet);
/// assert_eq!(FileFormat::from_path("payments.csv"), FileFormat::Csv);
/// assert_eq!("parquet".parse::<FileFormat>()?, FileFormat::Parquet);
/// # Ok::<(), fraudnet::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileFormat {
    /// Comma-separated text with a header.
    Csv,
    /// Apache Parquet.
    Parquet,
}

impl FileFormat {
    /// Parquet for a `.parquet` or `.pq` extension (any case), CSV for anything else
    /// (including `-`, standard input or output).
    pub fn from_path(path: impl AsRef<Path>) -> FileFormat {
        match path.as_ref().extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("parquet") || e.eq_ignore_ascii_case("pq") => {
                FileFormat::Parquet
            }
            _ => FileFormat::Csv,
        }
    }

    /// `chosen` when given (a flag), else the format of `path`'s extension.
    pub fn or_from_path(chosen: Option<FileFormat>, path: impl AsRef<Path>) -> FileFormat {
        chosen.unwrap_or_else(|| FileFormat::from_path(path))
    }
}

impl fmt::Display for FileFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FileFormat::Csv => "csv",
            FileFormat::Parquet => "parquet",
        })
    }
}

impl FromStr for FileFormat {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "csv" => Ok(FileFormat::Csv),
            "parquet" | "pq" => Ok(FileFormat::Parquet),
            _ => Err(Error::InvalidSetting(format!(
                "unknown file format {s:?}: expected \"csv\" or \"parquet\""
            ))),
        }
    }
}
