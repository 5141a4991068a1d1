//! Streaming reader of payment CSV files: finds the schema's columns by header name, then parses,
//! validates and turns one row at a time into its feature vector, in constant memory. Every bad
//! row becomes an [`Error::Data`] with the file, physical line and 1-based column. Lines,
//! records, the header and fields are bounded ([`MAX_LINE_BYTES`], [`MAX_RECORD_BYTES`],
//! [`MAX_HEADER_BYTES`], [`MAX_FIELD_BYTES`]) while they are read, so memory stays under about
//! 200 kB per reader whatever the input (an endless file, a stray quote). Knows nothing of
//! models or training.

use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::Arc;

use csv::ByteRecord;

use super::bounded::{BoundedInput, RecordBounds};
pub use super::bounded::{MAX_FIELD_BYTES, MAX_HEADER_BYTES, MAX_LINE_BYTES, MAX_RECORD_BYTES};
use super::fields::{Check, Row, csv_error, csv_reader, field_too_long, schema_features};
pub use super::fields::{Record, RowInfo};
use super::history::{FeatureSet, HISTORY_FEATURES, History};
use super::open::open_named;
use super::schema::Schema;
use super::shown::shown_bytes;
use crate::{Error, Result};

/// Reads a payment CSV file row by row.
///
/// Use [`read_into`](Self::read_into) to fill a caller's buffer without allocating, or iterate
/// for owned [`Record`]s.
///
/// ```
/// use fraudnet::data::{RecordReader, Schema};
/// let text = "step,type,amount,nameOrig,oldbalanceOrg,newbalanceOrig,nameDest,oldbalanceDest,newbalanceDest,isFraud\n\
///             1,PAYMENT,9.5,C1,100,90.5,M2,0,0,0\n";
/// let mut reader = RecordReader::from_reader(text.as_bytes(), "mem.csv", Schema::PaySim)?;
/// let mut features = vec![0.0; Schema::PaySim.n_features()];
/// let info = reader.read_into(&mut features)?.expect("one row");
/// assert_eq!((info.row, info.line, info.label), (1, 2, Some(0.0)));
/// assert_eq!(features[3], 1.0); // type_PAYMENT
/// assert!(reader.read_into(&mut features)?.is_none());
/// # Ok::<(), fraudnet::Error>(())
/// ```
#[derive(Debug)]
pub struct RecordReader<R: io::Read> {
    layout: Arc<CsvLayout>,
    csv: csv::Reader<BoundedInput<R>>,
    /// Where the record being read starts, for the bounded input under `csv`.
    bounds: Arc<RecordBounds>,
    record: ByteRecord,
    /// Lines of the file before the first byte `csv` reads (0 unless the reader continues a file
    /// split in chunks).
    lines_before: u64,
    rows: u64,
    /// Set after an error the CSV layer cannot resume from (I/O); iteration then stops.
    broken: bool,
    /// Where the history features come from, when the layout asks for them.
    history: HistoryInput,
}

/// The source of a reader's history features.
#[derive(Debug)]
enum HistoryInput {
    /// None are read (per-row features).
    Off,
    /// Computed row by row from a state this reader owns (a whole file, read in order).
    Live(Box<History>),
    /// Computed beforehand in file order (a chunk's first pass): `values[k·H..(k+1)·H]` for
    /// the chunk's row k; `next` is the next row's k.
    Computed { values: Arc<[f64]>, next: usize },
}

/// What the header of a CSV file says: where the schema's columns are. Shared by the readers of
/// the chunks of one file.
#[derive(Debug, Clone)]
pub(crate) struct CsvLayout {
    /// The file's name as used in error messages.
    pub file: String,
    pub schema: Schema,
    /// Fields in the header.
    pub header_len: usize,
    /// Row index of each of the schema's required columns, in their order.
    pub columns: Vec<usize>,
    pub label: Option<usize>,
    /// Row index of `nameOrig` and `nameDest`, when the header has them.
    pub accounts: Option<[usize; 2]>,
    /// The features rows are turned into.
    pub features: FeatureSet,
}

impl CsvLayout {
    /// An error at `column` (1-based; 0 for the whole line) of `line` of this file.
    fn error_at(&self, line: u64, column: u64, message: String) -> Error {
        Error::Data {
            file: self.file.clone(),
            line,
            column,
            message,
        }
    }

    /// [`RowSource::row_error`](super::RowSource::row_error) of a reader of this file: the
    /// row's line, first column.
    pub(crate) fn row_error(&self, info: &RowInfo, message: String) -> Error {
        self.error_at(info.line, 1, message)
    }

    /// [`RowSource::label_error`](super::RowSource::label_error): the row's line, the label's
    /// column.
    pub(crate) fn label_error(&self, info: &RowInfo, message: String) -> Error {
        let column = self.label.map_or(0, |i| i as u64 + 1);
        self.error_at(info.line, column, message)
    }

    /// [`RowSource::columns_error`](super::RowSource::columns_error): the header line.
    pub(crate) fn columns_error(&self, message: String) -> Error {
        self.error_at(1, 0, message)
    }
}

impl RecordReader<File> {
    /// Opens a file and reads its header.
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be opened or read; [`Error::Data`] (line 1) when the
    /// header lacks a required column.
    pub fn open(path: impl AsRef<Path>, schema: Schema) -> Result<Self> {
        let (file, name) = open_named(path.as_ref())?;
        Self::from_reader(file, name, schema)
    }
}

impl<R: io::Read> RecordReader<R> {
    /// Reads the header from any reader; `name` stands for the file in error messages.
    ///
    /// # Errors
    /// As [`RecordReader::open`].
    pub fn from_reader(reader: R, name: impl Into<String>, schema: Schema) -> Result<Self> {
        let file = name.into();
        let bounds = Arc::new(RecordBounds::default());
        bounds.begin(0, 1, true);
        let mut csv = csv_reader(reader, &bounds, (0, 1), true);
        let at_header = |column: usize, message: String| Error::Data {
            file: file.clone(),
            line: 1,
            column: column as u64,
            message,
        };
        let mut header = Vec::new();
        for (i, raw) in csv
            .byte_headers()
            .map_err(|e| csv_error(&file, e, 0))?
            .iter()
            .enumerate()
        {
            let Ok(name) = std::str::from_utf8(raw) else {
                return Err(at_header(
                    i + 1,
                    format!("the header is not valid UTF-8: \"{}\"", shown_bytes(raw)),
                ));
            };
            if raw.len() as u64 > MAX_FIELD_BYTES {
                return Err(at_header(i + 1, field_too_long(raw.len())));
            }
            header.push(name.trim_start_matches('\u{feff}').trim().to_string());
        }
        if header.iter().all(String::is_empty) {
            return Err(at_header(0, "no header: the file is empty".into()));
        }
        let find = |name: &str| -> Result<Option<usize>> {
            let mut hits = header.iter().enumerate().filter(|(_, h)| *h == name);
            let first = hits.next().map(|(i, _)| i);
            if let Some((i, _)) = hits.next() {
                return Err(at_header(i + 1, format!("duplicate column `{name}`")));
            }
            Ok(first)
        };
        let mut columns = Vec::with_capacity(schema.required_columns().len());
        for name in schema.required_columns() {
            match find(name)? {
                Some(i) => columns.push(i),
                None => {
                    return Err(at_header(
                        0,
                        format!("missing column `{name}` (schema {schema})"),
                    ));
                }
            }
        }
        let label = find(schema.label_column())?;
        let accounts = match (find("nameOrig")?, find("nameDest")?) {
            (Some(orig), Some(dest)) => Some([orig, dest]),
            _ => None,
        };
        let layout = CsvLayout {
            header_len: header.len(),
            file,
            schema,
            columns,
            label,
            accounts,
            features: FeatureSet::Row,
        };
        Ok(RecordReader {
            layout: Arc::new(layout),
            csv,
            bounds,
            record: ByteRecord::new(),
            lines_before: 0,
            rows: 0,
            broken: false,
            history: HistoryInput::Off,
        })
    }

    /// Adds the history features ([`FeatureSet::History`]) to every row, computed in file order
    /// from `history` (empty for a cold start; see [`History`] for the ordering rule); take the
    /// state back with [`into_history`](Self::into_history).
    ///
    /// ```
    /// use fraudnet::data::{History, RecordReader, Schema};
    /// let text = "step,type,amount,nameOrig,oldbalanceOrg,newbalanceOrig,nameDest,oldbalanceDest,newbalanceDest\n\
    ///             1,TRANSFER,50,C1,50,0,C2,0,50\n\
    ///             1,CASH_OUT,50,C2,50,0,C3,0,50\n";
    /// let reader = RecordReader::from_reader(text.as_bytes(), "mem.csv", Schema::PaySim)?
    ///     .with_history(History::new())?;
    /// assert_eq!(reader.n_features(), 19);
    /// let rows: Vec<_> = reader.collect::<Result<_, _>>()?;
    /// assert_eq!(rows[1].features[13], 1.0); // C2 just received a TRANSFER of 50
    /// # Ok::<(), fraudnet::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidSetting`] for the card schema (no account ids); [`Error::Data`] (line 1)
    /// when the header lacks `nameOrig` or `nameDest`.
    pub fn with_history(mut self, history: History) -> Result<Self> {
        self.layout = with_history_layout(&self.layout)?;
        self.history = HistoryInput::Live(Box::new(history));
        Ok(self)
    }

    /// The history state after the rows read so far, when the reader computes history features.
    pub fn into_history(self) -> Option<History> {
        match self.history {
            HistoryInput::Live(history) => Some(*history),
            _ => None,
        }
    }

    /// A reader of the rows of a file whose header was read elsewhere (`layout`): `reader`
    /// starts, with line breaks already normalised, right after the end of a record, at offset
    /// `first_offset` of the normalised file and the start of its line `first_line`; its first
    /// record is row `rows_before + 1`.
    pub(crate) fn continuing(
        reader: R,
        layout: Arc<CsvLayout>,
        (first_offset, first_line): (u64, u64),
        rows_before: u64,
    ) -> Self {
        let bounds = Arc::new(RecordBounds::default());
        bounds.begin(0, first_line, false);
        RecordReader {
            csv: csv_reader(reader, &bounds, (first_offset, first_line), false),
            layout,
            bounds,
            record: ByteRecord::new(),
            lines_before: first_line - 1,
            rows: rows_before,
            broken: false,
            history: HistoryInput::Off,
        }
    }

    /// This chunk reader with the history features its file's first pass computed (see
    /// [`observe_next`](Self::observe_next)).
    pub(crate) fn with_computed_history(mut self, values: Arc<[f64]>) -> Self {
        self.history = HistoryInput::Computed { values, next: 0 };
        self
    }

    /// The first pass over a chunk: reads the next record, feeds its payment to `history` and
    /// appends its history features to `out`. `Ok(false)` at the end. Parses only what the
    /// history features need, with the same checks (and so the same errors) as
    /// [`read_into`](Self::read_into).
    pub(crate) fn observe_next(
        &mut self,
        history: &mut History,
        out: &mut Vec<f64>,
    ) -> Result<bool> {
        if !self.next_record()? {
            return Ok(false);
        }
        let layout = &*self.layout;
        let row = self.row();
        row.check_width(layout.header_len)?;
        let cols = &layout.columns;
        let names = layout.schema.required_columns();
        let step = row.number(cols[0], names[0], Check::NonNegative)?;
        let kind = row.kind(cols[1])?;
        let amount = row.number(cols[2], names[2], Check::NonNegative)?;
        let payment = row.payment(accounts_of(layout), step, kind, amount)?;
        let start = out.len();
        out.resize(start + HISTORY_FEATURES.len(), 0.0);
        history.observe(&payment, &mut out[start..]);
        Ok(true)
    }

    /// What the header said, to share with readers of the file's later chunks.
    pub(crate) fn layout(&self) -> &Arc<CsvLayout> {
        &self.layout
    }

    /// The offset (in the stream with line breaks normalised) and the 1-based line where the
    /// next record starts.
    pub(crate) fn next_position(&self) -> (u64, u64) {
        let next = self.csv.position();
        (next.byte(), self.lines_before + next.line())
    }

    /// The schema rows are parsed with.
    pub fn schema(&self) -> Schema {
        self.layout.schema
    }

    /// The file's name as used in error messages.
    pub fn file(&self) -> &str {
        &self.layout.file
    }

    /// The 1-based column of the label, when the file has one.
    pub fn label_column_number(&self) -> Option<u64> {
        self.layout.label.map(|i| i as u64 + 1)
    }

    /// Whether the file has a label column.
    pub fn has_labels(&self) -> bool {
        self.layout.label.is_some()
    }

    /// The length of a feature vector: `schema().n_features()`, and the history features when
    /// [`with_history`](Self::with_history) added them.
    pub fn n_features(&self) -> usize {
        self.layout.features.n_features(self.layout.schema)
    }

    /// The features rows are turned into.
    pub fn feature_set(&self) -> FeatureSet {
        self.layout.features
    }

    /// Reads the next record into `self.record`; `false` at the end of the input.
    fn next_record(&mut self) -> Result<bool> {
        if self.broken {
            return Ok(false);
        }
        let (start, line) = self.next_position();
        self.bounds.begin(start, line, false);
        match self.csv.read_byte_record(&mut self.record) {
            Ok(true) => {}
            Ok(false) => return Ok(false),
            Err(e) => {
                if matches!(e.kind(), csv::ErrorKind::Io(_)) {
                    self.broken = true;
                }
                return Err(csv_error(&self.layout.file, e, self.lines_before));
            }
        }
        self.rows += 1;
        Ok(true)
    }

    /// The record just read, with its place in the file.
    fn row(&self) -> Row<'_> {
        Row {
            file: &self.layout.file,
            line: self
                .record
                .position()
                .map_or(0, |p| self.lines_before + p.line()),
            record: &self.record,
        }
    }

    /// Reads the next row into `features` (length [`n_features`](Self::n_features)), returning
    /// its position and label, or `None` at the end of the file. Allocates nothing per row.
    ///
    /// After a [`Error::Data`] for a bad row, the next call reads the following row.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] for a buffer of the wrong length; [`Error::Data`] for a bad row
    /// (too few or too many fields, a value that is not a number, not finite, negative where
    /// that is impossible, an unknown transaction type, a label other than 0 or 1);
    /// [`Error::Io`] when reading fails.
    pub fn read_into(&mut self, features: &mut [f64]) -> Result<Option<RowInfo>> {
        if features.len() != self.n_features() {
            return Err(Error::ShapeMismatch {
                what: "feature buffer",
                found: vec![features.len()],
                expected: format!("{} features ({})", self.n_features(), self.schema()),
            });
        }
        if !self.next_record()? {
            return Ok(None);
        }
        let layout = &*self.layout;
        let row = Row {
            file: &layout.file,
            line: self
                .record
                .position()
                .map_or(0, |p| self.lines_before + p.line()),
            record: &self.record,
        };
        row.check_width(layout.header_len)?;
        let cols = &layout.columns;
        let names = layout.schema.required_columns();
        let values = schema_features(
            layout.schema,
            features,
            |k, check| row.number(cols[k], names[k], check),
            || row.kind(cols[1]),
        )?;
        if let (Some(values), true) = (values, layout.features.has_history()) {
            let out = &mut features[Schema::PaySim.n_features()..];
            match &mut self.history {
                HistoryInput::Live(history) => {
                    let accounts = accounts_of(layout);
                    let payment = row.payment(accounts, values.step, values.kind, values.amount)?;
                    history.observe(&payment, out);
                }
                // The chunk's first pass parsed the accounts and computed these.
                HistoryInput::Computed { values, next } => {
                    let at = *next * out.len();
                    let Some(computed) = values.get(at..at + out.len()) else {
                        return Err(
                            row.error(0, "no history features were computed for this row".into())
                        );
                    };
                    out.copy_from_slice(computed);
                    *next += 1;
                }
                HistoryInput::Off => unreachable!("a history layout is set with its input"),
            }
        }
        let label = match layout.label {
            None => None,
            Some(i) => row.label(i, layout.schema.label_column())?,
        };
        Ok(Some(RowInfo {
            row: self.rows,
            line: row.line,
            label,
        }))
    }
}

impl<R: io::Read> Iterator for RecordReader<R> {
    type Item = Result<Record>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut features = vec![0.0; self.n_features()];
        match self.read_into(&mut features) {
            Ok(Some(info)) => Some(Ok(Record {
                row: info.row,
                line: info.line,
                features,
                label: info.label,
            })),
            Ok(None) => None,
            Err(e) => Some(Err(e)),
        }
    }
}

/// The `nameOrig` and `nameDest` columns of a layout with history features.
fn accounts_of(layout: &CsvLayout) -> [usize; 2] {
    layout
        .accounts
        .expect("a history layout has account columns (with_history_layout)")
}

/// `layout` with history features: refused for a schema without account ids or a header
/// without them.
pub(crate) fn with_history_layout(layout: &Arc<CsvLayout>) -> Result<Arc<CsvLayout>> {
    FeatureSet::History.check(layout.schema)?;
    if layout.accounts.is_none() {
        return Err(Error::Data {
            file: layout.file.clone(),
            line: 1,
            column: 0,
            message: "missing column `nameOrig` or `nameDest`: history features need both".into(),
        });
    }
    let mut with = CsvLayout::clone(layout);
    with.features = FeatureSet::History;
    Ok(Arc::new(with))
}
