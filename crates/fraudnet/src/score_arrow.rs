//! Scoring payments that are already in memory as Arrow record batches — a data frame's, a
//! table's, the batches a Spark task hands over — with a trained [`FraudModel`]: the columns are
//! found and checked as the Parquet reader checks a file's, each row becomes the same features,
//! and the network gives the same probabilities, to the bit, as `gradproof score` on a file
//! holding the same rows (each probability depends on its own row only: the model's products sum
//! every entry in one fixed order whatever the block). Errors name the data as the caller calls
//! it, the column and the 1-based row. The batches are a [`RowSource`] scored by the file
//! scorer's own block loop. Knows nothing of files, of Python or of Spark.

use arrow_array::RecordBatch;
use arrow_schema::Schema as ArrowSchema;

use crate::data::columns::{BatchColumns, ColumnFault, ColumnIndices};
use crate::data::{RowInfo, RowSource, Schema};
use crate::error::{Error, Result};
use crate::model_file::FraudModel;
use crate::score::for_each_block;

/// The scores of rows in memory, one entry per row in the order given.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scores {
    /// The probability of fraud.
    pub probabilities: Vec<f64>,
    /// Whether the row is flagged: its probability is at least the model's threshold.
    pub flags: Vec<bool>,
}

/// Scores every row of `batches`, whose columns are described by `schema` (the stream's or the
/// table's; each batch is checked against the payment schema too), in order. `data` names the
/// rows in errors (`DataFrame`, `partition 3`). Extra columns are ignored; the label column,
/// when present, is checked (0 or 1) but not used.
///
/// ```
/// use std::sync::Arc;
/// use arrow_array::{ArrayRef, Float64Array, RecordBatch, StringArray};
/// use fraudnet::data::{FeatureSet, Schema, Standardizer};
/// use fraudnet::model_file::FraudModel;
/// use fraudnet::score_arrow::score_batches;
/// use fraudnet::{Mlp, NumpyRng};
///
/// let mlp = Mlp::new(&[13, 4, 1])?;
/// let model = FraudModel {
///     theta: mlp.initialize(&mut NumpyRng::new(1)),
///     mlp,
///     scaler: Standardizer::new(vec![0.0; 13], vec![1.0; 13])?,
///     schema: Schema::PaySim,
///     feature_set: FeatureSet::Row,
///     threshold: 0.5,
///     training: serde_json::Value::Null,
/// };
/// let floats = |v: &[f64]| Arc::new(Float64Array::from(v.to_vec())) as ArrayRef;
/// let batch = RecordBatch::try_from_iter([
///     ("step", floats(&[1.0, 2.0])),
///     ("type", Arc::new(StringArray::from(vec!["PAYMENT", "TRANSFER"])) as ArrayRef),
///     ("amount", floats(&[9.5, -500.0])),
///     ("oldbalanceOrg", floats(&[100.0, 500.0])),
///     ("newbalanceOrig", floats(&[90.5, 0.0])),
///     ("oldbalanceDest", floats(&[0.0, 0.0])),
///     ("newbalanceDest", floats(&[0.0, 0.0])),
/// ])?;
/// let error = score_batches(&model, &batch.schema(), &[batch.clone()], "payments").unwrap_err();
/// assert_eq!(error.to_string(), "payments: column `amount`, row 2: must not be negative, found -500");
/// let fixed = batch.slice(0, 1);
/// let scores = score_batches(&model, &fixed.schema(), &[fixed], "payments")?;
/// assert_eq!(scores.probabilities.len(), 1);
/// assert_eq!(scores.flags[0], scores.probabilities[0] >= 0.5);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`Error::Arrow`] naming the column (missing, duplicated, of a type that cannot hold its
/// values) or the column and row of a bad value (null, not finite, negative, an unknown `type`,
/// a label not 0 or 1); [`Error::InvalidSetting`] when the model gives a probability that is
/// not finite (its weights or standardiser overflow), or reads account-history features
/// (batches scored without state would get features other than the model learnt from).
pub fn score_batches(
    model: &FraudModel,
    schema: &ArrowSchema,
    batches: &[RecordBatch],
    data: &str,
) -> Result<Scores> {
    if model.feature_set.has_history() {
        return Err(Error::InvalidSetting(format!(
            "{data}: the model reads account-history features, computed from the rows before each \
             payment in file order; batches scored one by one have no such state and would get \
             other features. Score the file with `gradproof score` (optionally --state), \
             or train a per-row model (--features row)"
        )));
    }
    let with_label = ColumnIndices::find(schema.fields(), model.schema)
        .map_err(|fault| column_error(data, model.schema, fault))?
        .label
        .is_some();
    let total = batches.iter().map(RecordBatch::num_rows).sum();
    let mut probabilities = Vec::with_capacity(total);
    let mut rows = BatchRows {
        data,
        schema: model.schema,
        with_label,
        batches: batches.iter(),
        columns: None,
        next: 0,
        rows: 0,
    };
    for_each_block(model, &mut rows, false, 0, |_, block, _| {
        probabilities.extend_from_slice(block);
        Ok(())
    })?;
    let flags = probabilities
        .iter()
        .map(|&p| p >= model.threshold)
        .collect();
    Ok(Scores {
        probabilities,
        flags,
    })
}

/// The rows of record batches, one after the other, as the file scorer reads a file's.
struct BatchRows<'a> {
    /// The data's name in errors.
    data: &'a str,
    schema: Schema,
    with_label: bool,
    batches: std::slice::Iter<'a, RecordBatch>,
    /// The batch being read and the index of its next row.
    columns: Option<BatchColumns>,
    next: usize,
    /// Rows read so far.
    rows: u64,
}

impl BatchRows<'_> {
    /// An error at `place` of the data.
    fn error(&self, place: String, message: String) -> Error {
        Error::Arrow {
            data: self.data.to_string(),
            place,
            message,
        }
    }

    /// The next batch's columns, checked; `None` after the last batch.
    fn next_columns(&mut self) -> Result<Option<BatchColumns>> {
        let Some(batch) = self.batches.next() else {
            return Ok(None);
        };
        ColumnIndices::find(batch.schema().fields(), self.schema)
            .map_err(|fault| column_error(self.data, self.schema, fault))?;
        let columns = BatchColumns::new(
            batch,
            self.schema,
            self.with_label,
            false,
            |name| self.error(String::new(), format!("missing column `{name}` in a batch")),
            |name, to, e| {
                self.error(
                    format!("column `{name}`: "),
                    format!("cannot be converted to {to}: {e}"),
                )
            },
        )?;
        Ok(Some(columns))
    }
}

/// A fault of the columns as the error of the data named `data`.
fn column_error(data: &str, payment: Schema, fault: ColumnFault) -> Error {
    let error = |place: String, message: String| Error::Arrow {
        data: data.to_string(),
        place,
        message,
    };
    match fault {
        ColumnFault::Missing(name) => error(
            String::new(),
            format!("missing column `{name}` (schema {payment})"),
        ),
        ColumnFault::Duplicate(name) => error(String::new(), format!("duplicate column `{name}`")),
        ColumnFault::WrongType {
            name,
            found,
            expected,
        } => error(
            format!("column `{name}`: "),
            format!("has type {found}, expected {expected}"),
        ),
    }
}

impl RowSource for BatchRows<'_> {
    fn schema(&self) -> Schema {
        self.schema
    }

    fn file(&self) -> &str {
        self.data
    }

    fn has_labels(&self) -> bool {
        self.with_label
    }

    fn read_into(&mut self, features: &mut [f64]) -> Result<Option<RowInfo>> {
        while self.columns.as_ref().is_none_or(|c| self.next >= c.len()) {
            match self.next_columns()? {
                Some(columns) => (self.columns, self.next) = (Some(columns), 0),
                None => return Ok(None),
            }
        }
        let columns = self.columns.as_ref().expect("a batch with rows left");
        let row = self.rows + 1;
        let label = columns.row(self.next, features, |name, message| {
            self.error(format!("column `{name}`, row {row}: "), message)
        })?;
        self.next += 1;
        self.rows = row;
        Ok(Some(RowInfo {
            row,
            line: 0,
            label,
        }))
    }

    fn row_error(&self, info: &RowInfo, message: String) -> Error {
        self.error(format!("row {}: ", info.row), message)
    }

    fn label_error(&self, info: &RowInfo, message: String) -> Error {
        let label = self.schema.label_column();
        self.error(format!("column `{label}`, row {}: ", info.row), message)
    }

    fn columns_error(&self, message: String) -> Error {
        self.error(String::new(), message)
    }
}
