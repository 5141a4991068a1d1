//! One CSV record of a payment file, parsed field by field with the checks of its column
//! (a number, finite, not negative, a known `type`, a 0/1 label, UTF-8 account names), every
//! failure an [`Error::Data`] at its `file:line:column`; the order in which a row's fields are
//! checked and handed to the feature functions ([`schema_features`], for every CSV reader); and
//! the CSV layer under the readers, bounded, with its errors turned into the crate's. Knows
//! nothing of models.

use std::io;
use std::sync::Arc;

use csv::ByteRecord;

use super::bounded::{BoundedInput, LimitExceeded, MAX_FIELD_BYTES, READ_AHEAD, RecordBounds};
use super::features::{PaySimValues, card_features, paysim_features};
use super::history::Payment;
use super::schema::{PAYSIM_TYPES, Schema, paysim_type};
use super::shown::shown;
use crate::Error;
use crate::Result;

/// Where a row came from and its label, as returned by [`RecordReader::read_into`](super::RecordReader::read_into) and
/// [`RowSource::read_into`](super::RowSource::read_into).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RowInfo {
    /// 1-based data row number (the header is not counted): the row's id when scoring.
    pub row: u64,
    /// 1-based physical line where the row starts (the header is line 1); 0 for a Parquet row.
    pub line: u64,
    /// The label, 0 or 1, or `None` when the file has no label column or the field is empty.
    pub label: Option<f64>,
}

/// One parsed row: its position, engineered features and label.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// 1-based data row number (the header is not counted).
    pub row: u64,
    /// 1-based physical line where the row starts.
    pub line: u64,
    /// The engineered features, named by [`FeatureSet::feature_names`](super::FeatureSet::feature_names).
    pub features: Vec<f64>,
    /// The label, 0 or 1, if known.
    pub label: Option<f64>,
}

/// What a numeric field must satisfy besides being a number.
#[derive(Clone, Copy)]
pub(super) enum Check {
    Finite,
    NonNegative,
}

/// One raw row with its place in the file, for parsing fields and building errors.
pub(super) struct Row<'a> {
    pub file: &'a str,
    pub line: u64,
    pub record: &'a ByteRecord,
}

impl Row<'_> {
    /// Refuses a field over the limit, and a row with fewer or more fields than the header.
    pub(super) fn check_width(&self, header_len: usize) -> Result<()> {
        if let Some(i) = self
            .record
            .iter()
            .position(|f| f.len() as u64 > MAX_FIELD_BYTES)
        {
            return Err(self.error(i + 1, field_too_long(self.record[i].len())));
        }
        let n = self.record.len();
        if n < header_len {
            return Err(self.error(
                n + 1,
                format!("missing field: the row has {n} fields, the header has {header_len}"),
            ));
        }
        if n > header_len {
            return Err(self.error(
                header_len + 1,
                format!("extra field: the row has {n} fields, the header has {header_len}"),
            ));
        }
        Ok(())
    }

    /// The payment the history features of this row are made from: `step`, `kind` and
    /// `amount` already parsed, the account names read from columns `[orig, dest]`.
    pub(super) fn payment(
        &self,
        [orig, dest]: [usize; 2],
        step: f64,
        kind: usize,
        amount: f64,
    ) -> Result<Payment<'_>> {
        let name = |i: usize, column: &str| {
            self.text(i).map_err(|raw| {
                self.error(
                    i + 1,
                    format!("`{column}` is not valid UTF-8: {}", quoted(&raw)),
                )
            })
        };
        Ok(Payment::new(
            step,
            kind,
            amount,
            name(orig, "nameOrig")?,
            name(dest, "nameDest")?,
        ))
    }

    pub(super) fn error(&self, column: usize, message: String) -> Error {
        Error::Data {
            file: self.file.to_string(),
            line: self.line,
            column: column as u64,
            message,
        }
    }

    /// The trimmed text of field `i`; `None` when it is not UTF-8.
    pub(super) fn text(&self, i: usize) -> std::result::Result<&str, String> {
        let bytes = self.record.get(i).unwrap_or_default();
        std::str::from_utf8(bytes)
            .map(str::trim)
            .map_err(|_| String::from_utf8_lossy(bytes).into_owned())
    }

    pub(super) fn number(&self, i: usize, name: &str, check: Check) -> Result<f64> {
        let text = self.text(i).map_err(|raw| {
            self.error(
                i + 1,
                format!("`{name}` is not valid UTF-8: {}", quoted(&raw)),
            )
        })?;
        if text.is_empty() {
            return Err(self.error(i + 1, format!("`{name}` is empty")));
        }
        let value: f64 = text.parse().map_err(|_| {
            self.error(i + 1, format!("`{name}` is not a number: {}", quoted(text)))
        })?;
        if !value.is_finite() {
            return Err(self.error(
                i + 1,
                format!("`{name}` must be finite, found {}", quoted(text)),
            ));
        }
        if matches!(check, Check::NonNegative) && value < 0.0 {
            return Err(self.error(
                i + 1,
                format!("`{name}` must not be negative, found {}", quoted(text)),
            ));
        }
        Ok(value)
    }

    pub(super) fn kind(&self, i: usize) -> Result<usize> {
        paysim_type(self.text(i).unwrap_or_default().as_bytes()).ok_or_else(|| {
            let raw = self.text(i).map_or_else(|raw| raw, str::to_string);
            self.error(
                i + 1,
                format!(
                    "`type` is {}, expected one of {}",
                    quoted(&raw),
                    PAYSIM_TYPES.join(", ")
                ),
            )
        })
    }

    pub(super) fn label(&self, i: usize, name: &str) -> Result<Option<f64>> {
        if matches!(self.text(i), Ok("")) {
            return Ok(None);
        }
        let value = self.number(i, name, Check::Finite)?;
        if value == 0.0 || value == 1.0 {
            Ok(Some(value))
        } else {
            let text = self.text(i).unwrap_or_default();
            Err(self.error(
                i + 1,
                format!("`{name}` must be 0 or 1, found {}", quoted(text)),
            ))
        }
    }
}

/// Writes the schema's own features of one row into `features` from its values, asked for in
/// the order of the file's checks (so the first bad field is the one reported):
/// `number(k, check)` for the `k`-th required column, `kind()` for PaySim's `type`. Returns the
/// PaySim values the history features are made from. Shared by the exact reader and the fast
/// reader of plain chunks, which differ only in how they get a field's value.
pub(super) fn schema_features<E>(
    schema: Schema,
    features: &mut [f64],
    mut number: impl FnMut(usize, Check) -> std::result::Result<f64, E>,
    kind: impl FnOnce() -> std::result::Result<usize, E>,
) -> std::result::Result<Option<PaySimValues>, E> {
    match schema {
        Schema::PaySim => {
            let values = PaySimValues {
                step: number(0, Check::NonNegative)?,
                kind: kind()?,
                amount: number(2, Check::NonNegative)?,
                old_orig: number(3, Check::Finite)?,
                new_orig: number(4, Check::Finite)?,
                old_dest: number(5, Check::Finite)?,
                new_dest: number(6, Check::Finite)?,
            };
            paysim_features(&values, features);
            Ok(Some(values))
        }
        Schema::Card => {
            let time = number(0, Check::NonNegative)?;
            for (k, slot) in features[..28].iter_mut().enumerate() {
                *slot = number(k + 1, Check::Finite)?;
            }
            let amount = number(29, Check::NonNegative)?;
            card_features(time, amount, features);
            Ok(None)
        }
    }
}

/// A value in a message: quoted, escaped and cut (see [`shown`]).
pub(super) fn quoted(text: &str) -> String {
    format!("\"{}\"", shown(text))
}

pub(super) fn field_too_long(len: usize) -> String {
    format!("field of {len} bytes, longer than {MAX_FIELD_BYTES} bytes (the limit)")
}

/// The CSV parser over the bounded, normalised `reader`, whose first byte is at `first_offset`
/// of the normalised file, on its line `first_line`.
pub(super) fn csv_reader<R: io::Read>(
    reader: R,
    bounds: &Arc<RecordBounds>,
    (first_offset, first_line): (u64, u64),
    has_headers: bool,
) -> csv::Reader<BoundedInput<R>> {
    let input = BoundedInput::new(reader, Arc::clone(bounds), first_line, first_offset);
    csv::ReaderBuilder::new()
        .has_headers(has_headers)
        .flexible(true)
        .buffer_capacity(READ_AHEAD)
        .from_reader(input)
}

/// Turns an error of the CSV layer into the crate's error, with the line where known (counted
/// from the reader's start, after `lines_before` lines of the file).
pub(crate) fn csv_error(file: &str, e: csv::Error, lines_before: u64) -> Error {
    let line = e.position().map_or(0, |p| lines_before + p.line());
    let message = e.to_string();
    match e.into_kind() {
        csv::ErrorKind::Io(source) => match source
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<LimitExceeded>())
        {
            Some(limit) => Error::Data {
                file: file.to_string(),
                line: limit.line,
                column: limit.column,
                message: limit.message.clone(),
            },
            None => Error::Io {
                path: file.to_string(),
                source,
            },
        },
        _ => Error::Data {
            file: file.to_string(),
            line,
            column: 0,
            message,
        },
    }
}
