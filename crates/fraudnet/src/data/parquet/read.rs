//! The Parquet reader of payment files: checks the file's schema against the payment schema
//! (every needed column present, once, of a usable type), reads only those columns, a batch of
//! rows at a time, and turns each row into its feature vector with the same checks and the same
//! numbers as the CSV reader. Knows nothing of models.

use std::fs::File;
use std::path::Path;

use arrow_array::RecordBatch;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReader,
    ParquetRecordBatchReaderBuilder,
};
use parquet::file::reader::ChunkReader;

use super::super::columns::{BatchColumns, ColumnFault, ColumnIndices};
use super::super::history::{FeatureSet, History};
use super::super::open::open_named;
use super::super::reader::RowInfo;
use super::super::schema::Schema;
use super::super::source::RowSource;
use super::{place, whole_file};
use crate::{Error, Result};

/// Rows decoded together: a few hundred kB of columns, whatever the file's row groups.
const BATCH_ROWS: usize = 8192;

/// Reads a payment Parquet file row by row, decoding only the schema's columns and the label.
///
/// ```
/// use fraudnet::data::{ParquetReader, RowSource, Schema, generate_parquet};
/// use rand::SeedableRng;
/// let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(1);
/// let (_, file) = generate_parquet(100, 0.05, &mut rng, tempfile::tempfile()?, "mem.parquet")?;
/// let mut reader = ParquetReader::new(file, "mem.parquet", Schema::PaySim)?;
/// let mut features = vec![0.0; Schema::PaySim.n_features()];
/// let info = reader.read_into(&mut features)?.expect("a row");
/// assert_eq!(info.row, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ParquetReader {
    file: String,
    schema: Schema,
    batches: ParquetRecordBatchReader,
    /// Rows up to the end of each row group, cumulated.
    group_ends: Vec<u64>,
    has_labels: bool,
    /// The batch being read and the index of its next row.
    batch: Option<BatchColumns>,
    next: usize,
    /// Rows read so far, and the row group of the last one.
    rows: u64,
    group: usize,
    /// Set after a decoding error: the reader cannot resume, iteration stops.
    broken: bool,
    /// The account history the rows' history features come from, when they are computed.
    history: Option<Box<History>>,
}

impl ParquetReader {
    /// Opens a Parquet file.
    ///
    /// # Errors
    /// [`Error::Io`] when it cannot be opened; as [`ParquetReader::new`].
    pub fn open(path: impl AsRef<Path>, schema: Schema) -> Result<Self> {
        let (file, name) = open_named(path.as_ref())?;
        Self::new(file, name, schema)
    }

    /// Reads the footer of `file` (named `name` in errors) and checks its columns.
    ///
    /// # Errors
    /// [`Error::Parquet`] when the file is not Parquet, is truncated or its footer is corrupt,
    /// a needed column is missing, appears twice or has a type that cannot hold its values.
    pub fn new(file: File, name: impl Into<String>, schema: Schema) -> Result<Self> {
        Self::build(file, name.into(), schema, None)
    }

    /// [`ParquetReader::new`] whose rows also get the history features
    /// ([`FeatureSet::History`]), computed in file order from `history` (empty for a cold start;
    /// see [`History`] for the ordering rule), as a CSV reader computes them: the same rows give
    /// the same features in either format. Reads the `nameOrig` and `nameDest` columns too.
    ///
    /// ```
    /// use fraudnet::data::{History, ParquetReader, RowSource, Schema, generate_parquet};
    /// let mut rng = <rand::rngs::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(1);
    /// let (_, file) = generate_parquet(100, 0.05, &mut rng, tempfile::tempfile()?, "mem.parquet")?;
    /// let mut reader = ParquetReader::with_history(file, "mem.parquet", Schema::PaySim, History::new())?;
    /// let mut features = vec![0.0; reader.n_features()];
    /// while reader.read_into(&mut features)?.is_some() {}
    /// assert!(reader.into_history().expect("history computed").accounts() > 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`ParquetReader::new`]; [`Error::InvalidSetting`] for the card schema (no account ids);
    /// [`Error::Parquet`] when `nameOrig` or `nameDest` is missing or is not text.
    pub fn with_history(
        file: File,
        name: impl Into<String>,
        schema: Schema,
        history: History,
    ) -> Result<Self> {
        FeatureSet::History.check(schema)?;
        Self::build(file, name.into(), schema, Some(Box::new(history)))
    }

    /// The history state after the rows read so far, when the reader computes history features.
    pub fn into_history(self) -> Option<History> {
        self.history.map(|history| *history)
    }

    fn build(
        file: File,
        name: String,
        schema: Schema,
        history: Option<Box<History>>,
    ) -> Result<Self> {
        let metadata = load_metadata(&file, &name)?;
        Self::from_metadata(file, metadata, name, schema, history, None)
    }

    /// The reader of `file`, whose footer is `metadata`: of all its row groups, or of the one
    /// `(group, rows before it)`, its rows numbered as in the whole file.
    pub(super) fn from_metadata<T: ChunkReader + 'static>(
        file: T,
        metadata: ArrowReaderMetadata,
        name: String,
        schema: Schema,
        history: Option<Box<History>>,
        group: Option<(usize, u64)>,
    ) -> Result<Self> {
        let builder = ParquetRecordBatchReaderBuilder::new_with_metadata(file, metadata);
        let columns = ColumnIndices::find(builder.schema().fields(), schema)
            .map_err(|fault| column_error(&name, fault, schema))?;
        let label = columns.label;
        let mut roots = columns.required;
        roots.extend(label);
        if history.is_some() {
            let accounts = ColumnIndices::accounts(builder.schema().fields())
                .map_err(|fault| column_error(&name, fault, schema))?;
            roots.extend(accounts);
        }
        let group_ends = builder
            .metadata()
            .row_groups()
            .iter()
            .scan(0u64, |end, group| {
                *end += u64::try_from(group.num_rows()).unwrap_or(0);
                Some(*end)
            })
            .collect();
        let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
        let mut builder = builder.with_projection(mask).with_batch_size(BATCH_ROWS);
        let (group, rows) = match group {
            Some((group, rows_before)) => {
                builder = builder.with_row_groups(vec![group]);
                (group, rows_before)
            }
            None => (0, 0),
        };
        let batches = builder
            .build()
            .map_err(|e| whole_file(&name, format!("cannot be read: {e}")))?;
        Ok(ParquetReader {
            file: name,
            schema,
            batches,
            group_ends,
            has_labels: label.is_some(),
            batch: None,
            next: 0,
            rows,
            group,
            broken: false,
            history,
        })
    }

    /// The row group holding 1-based row `row`.
    fn group_of(&self, row: u64) -> usize {
        self.group_ends.partition_point(|&end| end < row)
    }

    /// Decodes the next batch; `false` at the end of the file.
    fn next_batch(&mut self) -> Result<bool> {
        let group = self.group_of(self.rows + 1);
        let Some(batch) = self.batches.next() else {
            return Ok(false);
        };
        let batch = batch.map_err(|e| {
            self.broken = true;
            Error::Parquet {
                file: self.file.clone(),
                place: format!("row group {group}: "),
                message: format!("cannot be read (truncated or corrupt): {e}"),
            }
        })?;
        self.batch = Some(self.columns(&batch, group)?);
        self.next = 0;
        Ok(true)
    }

    /// The batch's columns in the forms rows are read from.
    fn columns(&self, batch: &RecordBatch, group: usize) -> Result<BatchColumns> {
        BatchColumns::new(
            batch,
            self.schema,
            self.has_labels,
            self.history.is_some(),
            |name| whole_file(&self.file, format!("column `{name}` missing from a batch")),
            |name, to, e| Error::Parquet {
                file: self.file.clone(),
                place: place(group, name, None),
                message: format!("cannot be converted to {to}: {e}"),
            },
        )
    }
}

/// The footer of `file`, named `name` in errors.
pub(super) fn load_metadata(file: &impl ChunkReader, name: &str) -> Result<ArrowReaderMetadata> {
    ArrowReaderMetadata::load(file, ArrowReaderOptions::default()).map_err(|e| {
        whole_file(
            name,
            format!("not a readable Parquet file (truncated, corrupt or another format): {e}"),
        )
    })
}

/// A fault of the file's columns as the reader's error.
fn column_error(file: &str, fault: ColumnFault, schema: Schema) -> Error {
    match fault {
        ColumnFault::Missing(name) => {
            whole_file(file, format!("missing column `{name}` (schema {schema})"))
        }
        ColumnFault::Duplicate(name) => whole_file(file, format!("duplicate column `{name}`")),
        ColumnFault::WrongType {
            name,
            found,
            expected,
        } => Error::Parquet {
            file: file.to_string(),
            place: format!("column `{name}`: "),
            message: format!(
                "has type {found} in every row group (the file's schema), expected {expected}"
            ),
        },
    }
}

impl RowSource for ParquetReader {
    fn schema(&self) -> Schema {
        self.schema
    }

    fn file(&self) -> &str {
        &self.file
    }

    fn has_labels(&self) -> bool {
        self.has_labels
    }

    fn feature_set(&self) -> FeatureSet {
        if self.history.is_some() {
            FeatureSet::History
        } else {
            FeatureSet::Row
        }
    }

    fn into_history(self: Box<Self>) -> Option<History> {
        ParquetReader::into_history(*self)
    }

    fn read_into(&mut self, features: &mut [f64]) -> Result<Option<RowInfo>> {
        if features.len() != self.n_features() {
            return Err(Error::ShapeMismatch {
                what: "feature buffer",
                found: vec![features.len()],
                expected: format!(
                    "{} features ({}, {} features)",
                    self.n_features(),
                    self.schema,
                    self.feature_set()
                ),
            });
        }
        while self.batch.as_ref().is_none_or(|b| self.next >= b.len()) {
            if self.broken || !self.next_batch()? {
                return Ok(None);
            }
        }
        let i = self.next;
        self.next += 1;
        self.rows += 1;
        self.group = self.group_of(self.rows);
        let own = self.schema.n_features();
        // The batch is borrowed field by field, not moved out and back: it is a few hundred
        // bytes, and copying it twice a row was 5 % of scoring a Parquet file.
        let columns = self.batch.as_ref().expect("a batch with rows left");
        let (file, group, row) = (&self.file, self.group, self.rows);
        let result = columns.row(i, &mut features[..own], |name, message| Error::Parquet {
            file: file.clone(),
            place: place(group, name, Some(row)),
            message,
        });
        if let (Ok(_), Some(history)) = (&result, self.history.as_mut()) {
            history.observe(&columns.payment(i), &mut features[own..]);
        }
        result.map(|label| {
            Some(RowInfo {
                row: self.rows,
                line: 0,
                label,
            })
        })
    }

    fn row_error(&self, info: &RowInfo, message: String) -> Error {
        Error::Parquet {
            file: self.file.clone(),
            place: format!("row group {}, row {}: ", self.group_of(info.row), info.row),
            message,
        }
    }

    fn label_error(&self, info: &RowInfo, message: String) -> Error {
        Error::Parquet {
            file: self.file.clone(),
            place: place(
                self.group_of(info.row),
                self.schema.label_column(),
                Some(info.row),
            ),
            message,
        }
    }

    fn columns_error(&self, message: String) -> Error {
        whole_file(&self.file, message)
    }
}
