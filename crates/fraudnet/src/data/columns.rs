//! Payment rows held as Arrow columns, whoever decoded them (the Parquet reader, or a caller's
//! record batches in memory): which columns of an Arrow schema the payment schema needs and
//! whether their types can hold its values, the columns of one batch cast to the forms rows are
//! read from, and each row turned into its feature vector with the same checks and the same
//! numbers as the CSV reader. Knows nothing of files, of where the batches came from, nor of
//! models: each caller says how a fault is named (a row group, a row of a data frame).

use arrow_array::cast::AsArray;
use arrow_array::types::Float64Type;
use arrow_array::{Array, ArrayRef, Float64Array, RecordBatch, StringArray};
use arrow_schema::{ArrowError, DataType, Fields};

use super::features::{PaySimValues, card_features, paysim_features};
use super::history::Payment;
use super::schema::{PAYSIM_TYPES, Schema, paysim_type};
use super::shown::shown;
use crate::{Error, Result};

/// The account columns of PaySim, `[origin, destination]`: text, read for history features only.
pub(crate) const ACCOUNTS: [&str; 2] = ["nameOrig", "nameDest"];

/// Columns whose values must not be negative (as in the CSV reader); the others must be finite.
const NON_NEGATIVE: [&str; 4] = ["step", "amount", "Time", "Amount"];

/// What is wrong with the columns of an Arrow schema, for the caller to place and word.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ColumnFault {
    /// A required column is absent.
    Missing(&'static str),
    /// A column appears more than once.
    Duplicate(&'static str),
    /// A column's type cannot hold its values.
    WrongType {
        /// The column.
        name: &'static str,
        /// Its type.
        found: DataType,
        /// What it must be, in words.
        expected: &'static str,
    },
}

/// Where the schema's columns are in an Arrow schema's `fields`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ColumnIndices {
    /// The required columns' indices, in the schema's order.
    pub required: Vec<usize>,
    /// The label column's index, when there is one.
    pub label: Option<usize>,
}

impl ColumnIndices {
    /// Finds every required column of `schema` and the optional label among `fields`, each
    /// present once and of a type that can hold its values.
    pub fn find(fields: &Fields, schema: Schema) -> std::result::Result<Self, ColumnFault> {
        let mut required = Vec::with_capacity(schema.required_columns().len());
        for name in schema.required_columns() {
            required.push(find(fields, name, schema)?.ok_or(ColumnFault::Missing(name))?);
        }
        let label = find(fields, schema.label_column(), schema)?;
        Ok(ColumnIndices { required, label })
    }

    /// The `nameOrig` and `nameDest` columns' indices among `fields` (PaySim), each present
    /// once and text: what history features read besides the schema's columns. Looked for only
    /// then, so that a per-row reading ignores them whatever their type.
    pub fn accounts(fields: &Fields) -> std::result::Result<[usize; 2], ColumnFault> {
        let [orig, dest] = ACCOUNTS
            .map(|name| find(fields, name, Schema::PaySim)?.ok_or(ColumnFault::Missing(name)));
        Ok([orig?, dest?])
    }
}

/// The index of top-level column `name` in `fields`, checked to be there once and of a type
/// that can hold its values.
fn find(
    fields: &Fields,
    name: &'static str,
    schema: Schema,
) -> std::result::Result<Option<usize>, ColumnFault> {
    let mut hits = fields.iter().enumerate().filter(|(_, f)| f.name() == name);
    let Some((index, field)) = hits.next() else {
        return Ok(None);
    };
    if hits.next().is_some() {
        return Err(ColumnFault::Duplicate(name));
    }
    let kind = field.data_type();
    let text =
        |t: &DataType| matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View);
    let (fits, expected) =
        if ACCOUNTS.contains(&name) || (name == "type" && schema == Schema::PaySim) {
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
        Err(ColumnFault::WrongType {
            name,
            found: kind.clone(),
            expected,
        })
    }
}

/// One batch's columns in the forms rows are read from: the numeric columns as `f64`, in the
/// schema's order (the PaySim `type` left out), the transaction type as text, the label.
pub(crate) struct BatchColumns {
    schema: Schema,
    numbers: Vec<Float64Array>,
    kinds: Option<StringArray>,
    label: Option<Float64Array>,
    /// `nameOrig` and `nameDest`, when history features are computed.
    accounts: Option<[StringArray; 2]>,
    len: usize,
}

impl BatchColumns {
    /// Casts the columns of `batch` that `schema` needs (and the label, `with_label`; the account
    /// columns, `with_accounts`).
    ///
    /// # Errors
    /// `missing(name)` when the batch lacks a column its schema was checked to have;
    /// `cast_failed(name, to, error)` when a value cannot be converted (a decimal too large).
    pub fn new(
        batch: &RecordBatch,
        schema: Schema,
        with_label: bool,
        with_accounts: bool,
        missing: impl Fn(&str) -> Error,
        cast_failed: impl Fn(&str, &DataType, ArrowError) -> Error,
    ) -> Result<Self> {
        let column = |name: &str, to: &DataType| -> Result<ArrayRef> {
            let array = batch.column_by_name(name).ok_or_else(|| missing(name))?;
            arrow_cast::cast(array, to).map_err(|e| cast_failed(name, to, e))
        };
        let mut numbers = Vec::new();
        let mut kinds = None;
        for name in schema.required_columns() {
            if *name == "type" {
                kinds = Some(column(name, &DataType::Utf8)?.as_string::<i32>().clone());
            } else {
                numbers.push(column(name, &DataType::Float64)?.as_primitive().clone());
            }
        }
        let label = if with_label {
            let label = column(schema.label_column(), &DataType::Float64)?;
            Some(label.as_primitive::<Float64Type>().clone())
        } else {
            None
        };
        let text = |name: &str| -> Result<StringArray> {
            Ok(column(name, &DataType::Utf8)?.as_string::<i32>().clone())
        };
        let accounts = if with_accounts {
            Some([text(ACCOUNTS[0])?, text(ACCOUNTS[1])?])
        } else {
            None
        };
        Ok(BatchColumns {
            schema,
            numbers,
            kinds,
            label,
            accounts,
            len: batch.num_rows(),
        })
    }

    /// The batch's number of rows.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Row `i` into `features` (the schema's length, checked by the caller); returns its label.
    ///
    /// # Errors
    /// `bad_value(column, message)` for a value the CSV reader would refuse: a null, a number
    /// that is not finite or negative where it must not be, an unknown type, a label not 0 or 1.
    pub fn row(
        &self,
        i: usize,
        features: &mut [f64],
        bad_value: impl Fn(&str, String) -> Error,
    ) -> Result<Option<f64>> {
        let names = self.schema.required_columns();
        let number = |k: usize, name: &str| self.number(k, name, i, &bad_value);
        match self.schema {
            Schema::PaySim => {
                // `type` is required column 1 and has no numeric slot: numeric slot k holds
                // required column k, or k + 1 past it.
                let at = |k: usize| number(k, names[if k == 0 { 0 } else { k + 1 }]);
                let values = PaySimValues {
                    step: at(0)?,
                    kind: self.kind(i, &bad_value)?,
                    amount: at(1)?,
                    old_orig: at(2)?,
                    new_orig: at(3)?,
                    old_dest: at(4)?,
                    new_dest: at(5)?,
                };
                paysim_features(&values, features);
            }
            Schema::Card => {
                let time = number(0, names[0])?;
                for (k, slot) in features[..28].iter_mut().enumerate() {
                    *slot = number(k + 1, names[k + 1])?;
                }
                let amount = number(29, names[29])?;
                card_features(time, amount, features);
            }
        }
        self.label(i, &bad_value)
    }

    /// What history features read of row `i`, once [`row`](Self::row) has accepted it (a
    /// PaySim batch cast `with_accounts`): `step` and `amount` are numeric slots 0 and 1. A null
    /// account name reads as the empty name, as an empty CSV field does.
    pub fn payment(&self, i: usize) -> Payment<'_> {
        fn name(names: &StringArray, i: usize) -> &str {
            if names.is_null(i) { "" } else { names.value(i) }
        }
        let [orig, dest] = self
            .accounts
            .as_ref()
            .expect("a batch cast with its account columns");
        let kind = self.kind_index(i).expect("a type `row` accepted");
        Payment::new(
            self.numbers[0].value(i),
            kind,
            self.numbers[1].value(i),
            name(orig, i),
            name(dest, i),
        )
    }

    /// Value `i` of numeric column `k` (named `name`), checked as the CSV reader checks it.
    fn number(
        &self,
        k: usize,
        name: &str,
        i: usize,
        bad_value: &impl Fn(&str, String) -> Error,
    ) -> Result<f64> {
        let array = &self.numbers[k];
        if array.is_null(i) {
            return Err(bad_value(name, "is empty (null)".into()));
        }
        let value = array.value(i);
        if !value.is_finite() {
            return Err(bad_value(name, format!("must be finite, found {value}")));
        }
        if value < 0.0 && NON_NEGATIVE.contains(&name) {
            return Err(bad_value(
                name,
                format!("must not be negative, found {value}"),
            ));
        }
        Ok(value)
    }

    /// The transaction type of row `i` as text (empty for a null).
    fn kind_text(&self, i: usize) -> &str {
        let kinds = self.kinds.as_ref().expect("PaySim batches have a type");
        if kinds.is_null(i) {
            ""
        } else {
            kinds.value(i).trim()
        }
    }

    /// The index in [`PAYSIM_TYPES`] of row `i`'s type, if it is one.
    fn kind_index(&self, i: usize) -> Option<usize> {
        paysim_type(self.kind_text(i).as_bytes())
    }

    fn kind(&self, i: usize, bad_value: &impl Fn(&str, String) -> Error) -> Result<usize> {
        let text = self.kind_text(i);
        self.kind_index(i).ok_or_else(|| {
            bad_value(
                "type",
                format!(
                    "is \"{}\", expected one of {}",
                    shown(text),
                    PAYSIM_TYPES.join(", ")
                ),
            )
        })
    }

    fn label(&self, i: usize, bad_value: &impl Fn(&str, String) -> Error) -> Result<Option<f64>> {
        let Some(labels) = &self.label else {
            return Ok(None);
        };
        if labels.is_null(i) {
            return Ok(None);
        }
        match labels.value(i) {
            y @ (0.0 | 1.0) => Ok(Some(y)),
            y => Err(bad_value(
                self.schema.label_column(),
                format!("must be 0 or 1, found {y}"),
            )),
        }
    }
}
