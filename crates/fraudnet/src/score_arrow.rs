//! Scoring payments that are already in memory as Arrow record batches — a data frame's, a
//! table's, the batches a Spark task hands over — with a trained [`FraudModel`]: the columns are
//! found and checked as the Parquet reader checks a file's, each row becomes the same features,
//! and the network gives the same probabilities, to the bit, as `gradproof score` on a file
//! holding the same rows (each probability depends on its own row only: the model's products sum
//! every entry in one fixed order whatever the block). Errors name the data as the caller calls
//! it, the column and the 1-based row. Knows nothing of files, of Python or of Spark.

use arrow_array::RecordBatch;
use arrow_schema::Schema as ArrowSchema;
use ndarray::ArrayView2;

use crate::data::columns::{BatchColumns, ColumnFault, ColumnIndices};
use crate::error::{Error, Result};
use crate::model_file::FraudModel;
use crate::score::BLOCK_ROWS;

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
    let payment = model.schema;
    let error = |place: String, message: String| Error::Arrow {
        data: data.to_string(),
        place,
        message,
    };
    let column_error = |fault| match fault {
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
    };
    let with_label = ColumnIndices::find(schema.fields(), payment)
        .map_err(column_error)?
        .label
        .is_some();
    let total = batches.iter().map(RecordBatch::num_rows).sum();
    let n = payment.n_features();
    let mut probabilities = vec![0.0; total];
    // Example-major blocks, as the file scorer's: row k's features at [k·n, (k+1)·n).
    let mut features = vec![0.0; n * BLOCK_ROWS.min(total)];
    let mut done = 0;
    for batch in batches {
        ColumnIndices::find(batch.schema().fields(), payment).map_err(column_error)?;
        let columns = BatchColumns::new(
            batch,
            payment,
            with_label,
            false,
            |name| error(String::new(), format!("missing column `{name}` in a batch")),
            |name, to, e| {
                error(
                    format!("column `{name}`: "),
                    format!("cannot be converted to {to}: {e}"),
                )
            },
        )?;
        for start in (0..columns.len()).step_by(BLOCK_ROWS) {
            let k = BLOCK_ROWS.min(columns.len() - start);
            for (i, slot) in features.chunks_exact_mut(n).take(k).enumerate() {
                let row = done + i + 1;
                columns.row(start + i, slot, |name, message| {
                    error(format!("column `{name}`, row {row}: "), message)
                })?;
                model.scaler.transform_row(slot)?;
            }
            let block = ArrayView2::from_shape((k, n), &features[..k * n])
                .expect("the block holds k rows of n features");
            let out = &mut probabilities[done..done + k];
            // The network reads one example per column.
            model
                .mlp
                .predict_into(model.theta.values(), block.t(), out)?;
            if let Some(j) = out.iter().position(|p| !p.is_finite()) {
                return Err(Error::InvalidSetting(format!(
                    "the model gives a probability of {} to row {} of {data}: its weights or \
                     standardiser overflow; it cannot score",
                    out[j],
                    done + j + 1
                )));
            }
            done += k;
        }
    }
    let flags = probabilities
        .iter()
        .map(|&p| p >= model.threshold)
        .collect();
    Ok(Scores {
        probabilities,
        flags,
    })
}
