//! The Parquet reader of payment files: checks the file's schema against the payment schema
//! (every needed column present, once, of a usable type), reads only those columns, a batch of
//! rows at a time, and turns each row into its feature vector with the same checks and the same
//! numbers as the CSV reader. Knows nothing of models.

use std::fs::File;
use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::types::Float64Type;
use arrow_array::{Array, ArrayRef, Float64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Schema as ArrowSchema};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};

use super::super::features::{PaySimValues, card_features, paysim_features};
use super::super::open::open_named;
use super::super::reader::RowInfo;
use super::super::schema::{PAYSIM_TYPES, Schema};
use super::super::shown::shown;
use super::super::source::RowSource;
use super::{place, whole_file};
use crate::{Error, Result};

/// Rows decoded together: a few hundred kB of columns, whatever the file's row groups.
const BATCH_ROWS: usize = 8192;

/// Columns whose values must not be negative (as in the CSV reader); the others must be finite.
const NON_NEGATIVE: [&str; 4] = ["step", "amount", "Time", "Amount"];

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
    batch: Option<Columns>,
    next: usize,
    /// Rows read so far, and the row group of the last one.
    rows: u64,
    group: usize,
    /// Set after a decoding error: the reader cannot resume, iteration stops.
    broken: bool,
}

/// One decoded batch: the numeric columns as `f64`, in the schema's order (the PaySim `type`
/// left out), the transaction type, the label.
struct Columns {
    numbers: Vec<Float64Array>,
    kinds: Option<StringArray>,
    label: Option<Float64Array>,
    len: usize,
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
        let name = name.into();
        let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| {
            whole_file(
                &name,
                format!("not a readable Parquet file (truncated, corrupt or another format): {e}"),
            )
        })?;
        let fields = builder.schema().clone();
        let mut roots = Vec::new();
        for column in schema.required_columns() {
            roots.push(find(&name, &fields, column, schema)?.ok_or_else(|| {
                whole_file(
                    &name,
                    format!("missing column `{column}` (schema {schema})"),
                )
            })?);
        }
        let label = find(&name, &fields, schema.label_column(), schema)?;
        roots.extend(label);
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
        let batches = builder
            .with_projection(mask)
            .with_batch_size(BATCH_ROWS)
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
            rows: 0,
            group: 0,
            broken: false,
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
    fn columns(&self, batch: &RecordBatch, group: usize) -> Result<Columns> {
        let column = |name: &str, to: &DataType| -> Result<ArrayRef> {
            let array = batch.column_by_name(name).ok_or_else(|| {
                whole_file(&self.file, format!("column `{name}` missing from a batch"))
            })?;
            arrow_cast::cast(array, to).map_err(|e| Error::Parquet {
                file: self.file.clone(),
                place: place(group, name, None),
                message: format!("cannot be converted to {to}: {e}"),
            })
        };
        let mut numbers = Vec::new();
        let mut kinds = None;
        for name in self.schema.required_columns() {
            if *name == "type" {
                kinds = Some(column(name, &DataType::Utf8)?.as_string::<i32>().clone());
            } else {
                numbers.push(column(name, &DataType::Float64)?.as_primitive().clone());
            }
        }
        let label = if self.has_labels {
            let label = column(self.schema.label_column(), &DataType::Float64)?;
            Some(label.as_primitive::<Float64Type>().clone())
        } else {
            None
        };
        Ok(Columns {
            numbers,
            kinds,
            label,
            len: batch.num_rows(),
        })
    }

    /// An error about column `name` of the row just read.
    fn value_error(&self, name: &str, message: String) -> Error {
        Error::Parquet {
            file: self.file.clone(),
            place: place(self.group, name, Some(self.rows)),
            message,
        }
    }

    /// Value `k` of the schema's numeric columns at `i`, checked as the CSV reader checks it.
    fn number(&self, columns: &Columns, k: usize, name: &str, i: usize) -> Result<f64> {
        let array = &columns.numbers[k];
        if array.is_null(i) {
            return Err(self.value_error(name, "is empty (null)".into()));
        }
        let value = array.value(i);
        if !value.is_finite() {
            return Err(self.value_error(name, format!("must be finite, found {value}")));
        }
        if value < 0.0 && NON_NEGATIVE.contains(&name) {
            return Err(self.value_error(name, format!("must not be negative, found {value}")));
        }
        Ok(value)
    }

    fn kind(&self, columns: &Columns, i: usize) -> Result<usize> {
        let kinds = columns.kinds.as_ref().expect("PaySim batches have a type");
        let text = if kinds.is_null(i) {
            ""
        } else {
            kinds.value(i).trim()
        };
        PAYSIM_TYPES
            .iter()
            .position(|t| t.eq_ignore_ascii_case(text))
            .ok_or_else(|| {
                self.value_error(
                    "type",
                    format!(
                        "is \"{}\", expected one of {}",
                        shown(text),
                        PAYSIM_TYPES.join(", ")
                    ),
                )
            })
    }

    fn label(&self, columns: &Columns, i: usize) -> Result<Option<f64>> {
        let Some(labels) = &columns.label else {
            return Ok(None);
        };
        if labels.is_null(i) {
            return Ok(None);
        }
        match labels.value(i) {
            y @ (0.0 | 1.0) => Ok(Some(y)),
            y => Err(self.value_error(
                self.schema.label_column(),
                format!("must be 0 or 1, found {y}"),
            )),
        }
    }
}

/// The index of top-level column `name` in `fields`, checked to be there once and of a type
/// that can hold its values.
fn find(file: &str, fields: &ArrowSchema, name: &str, schema: Schema) -> Result<Option<usize>> {
    let mut hits = fields
        .fields()
        .iter()
        .enumerate()
        .filter(|(_, f)| f.name() == name);
    let Some((index, field)) = hits.next() else {
        return Ok(None);
    };
    if hits.next().is_some() {
        return Err(whole_file(file, format!("duplicate column `{name}`")));
    }
    let kind = field.data_type();
    let text =
        |t: &DataType| matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View);
    let (fits, expected) = if name == "type" && schema == Schema::PaySim {
        let fits = text(kind) || matches!(kind, DataType::Dictionary(_, v) if text(v));
        (fits, "text (a string column)")
    } else if name == schema.label_column() {
        (
            kind.is_numeric() || *kind == DataType::Boolean,
            "numbers 0 and 1 or booleans",
        )
    } else {
        (
            kind.is_numeric(),
            "numbers (integer, floating point or decimal)",
        )
    };
    if fits {
        Ok(Some(index))
    } else {
        Err(Error::Parquet {
            file: file.to_string(),
            place: format!("column `{name}`: "),
            message: format!(
                "has type {kind} in every row group (the file's schema), expected {expected}"
            ),
        })
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

    fn read_into(&mut self, features: &mut [f64]) -> Result<Option<RowInfo>> {
        if features.len() != self.schema.n_features() {
            return Err(Error::ShapeMismatch {
                what: "feature buffer",
                found: vec![features.len()],
                expected: format!("{} features ({})", self.schema.n_features(), self.schema),
            });
        }
        while self.batch.as_ref().is_none_or(|b| self.next >= b.len) {
            if self.broken || !self.next_batch()? {
                return Ok(None);
            }
        }
        let columns = self.batch.take().expect("a batch with rows left");
        let i = self.next;
        self.next += 1;
        self.rows += 1;
        self.group = self.group_of(self.rows);
        let result = self.row(&columns, i, features);
        self.batch = Some(columns);
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

impl ParquetReader {
    /// Row `i` of `columns` into `features`; its label.
    fn row(&self, columns: &Columns, i: usize, features: &mut [f64]) -> Result<Option<f64>> {
        let names = self.schema.required_columns();
        match self.schema {
            Schema::PaySim => {
                // `type` is required column 1 and has no numeric slot: numeric slot k holds
                // required column k, or k + 1 past it.
                let at = |k: usize| {
                    let name = names[if k == 0 { 0 } else { k + 1 }];
                    self.number(columns, k, name, i)
                };
                let values = PaySimValues {
                    step: at(0)?,
                    kind: self.kind(columns, i)?,
                    amount: at(1)?,
                    old_orig: at(2)?,
                    new_orig: at(3)?,
                    old_dest: at(4)?,
                    new_dest: at(5)?,
                };
                paysim_features(&values, features);
            }
            Schema::Card => {
                let time = self.number(columns, 0, names[0], i)?;
                for (k, slot) in features[..28].iter_mut().enumerate() {
                    *slot = self.number(columns, k + 1, names[k + 1], i)?;
                }
                let amount = self.number(columns, 29, names[29], i)?;
                card_features(time, amount, features);
            }
        }
        self.label(columns, i)
    }
}
