//! The reader of one chunk of a CSV file (see [`CsvChunks`](super::CsvChunks)), fast on the
//! plain rows that make up real files: a chunk without a quote, whose rows are one line each,
//! is split at its commas and its numbers converted by [`plain_line`](super::plain_line), without
//! the CSV layer, the UTF-8 check or the trimming that a field in general needs. The first row the fast path is not sure
//! of (a space, an exponent, a sign, a bad value, a long line: anything but digits with an
//! optional fraction where numbers are, an exact `type` and a `0`/`1` label) hands the rest of
//! the chunk to the exact [`RecordReader`], started at that row, which reads it or reports its
//! error as a reading of the whole file would. The rows, features, labels and errors are
//! therefore those of the exact reader, only sooner. Knows nothing of models.

use std::sync::Arc;

use super::fields::{RowInfo, schema_features};
use super::history::FeatureSet;
use super::plain_line::{plain_number, split_line};
use super::reader::{CsvLayout, RecordReader};
use super::schema::{Schema, paysim_type};
use super::source::RowSource;
use crate::{Error, Result};

/// The longest line read by the fast path: no field of it can be over the field limit
/// ([`MAX_FIELD_BYTES`](super::MAX_FIELD_BYTES)), nor the line over the line limit.
const FAST_LINE_BYTES: usize = 4096;

/// A reader of a chunk's rows, numbered and placed as in the whole file; see the module docs.
#[derive(Debug)]
pub struct ChunkReader<'a> {
    layout: &'a Arc<CsvLayout>,
    bytes: &'a [u8],
    /// Where the chunk starts in the whole file (line breaks normalised).
    offset: u64,
    /// The next byte the fast path reads, which starts a line, and that line's number.
    at: usize,
    at_line: u64,
    /// Rows of the file up to the last one read.
    rows: u64,
    /// Where each field of the current row starts and ends, reused from row to row.
    fields: Vec<(usize, usize)>,
    /// The exact reader, once the fast path has handed the rest of the chunk to it (or when the
    /// chunk is not plain: quotes, history features).
    exact: Option<RecordReader<&'a [u8]>>,
}

impl<'a> ChunkReader<'a> {
    /// The reader of `bytes`, which start at `offset` and line `line` of the file after
    /// `rows_before` rows. `exact` (for a chunk that is not plain) is its exact reader.
    pub(super) fn new(
        layout: &'a Arc<CsvLayout>,
        bytes: &'a [u8],
        (offset, line): (u64, u64),
        rows_before: u64,
        exact: Option<RecordReader<&'a [u8]>>,
    ) -> Self {
        let exact = match exact {
            None if memchr::memchr(b'"', bytes).is_some() => Some(RecordReader::continuing(
                bytes,
                Arc::clone(layout),
                (offset, line),
                rows_before,
            )),
            exact => exact,
        };
        ChunkReader {
            layout,
            bytes,
            offset,
            at: 0,
            at_line: line,
            rows: rows_before,
            fields: Vec::with_capacity(layout.header_len),
            exact,
        }
    }

    /// Reads the next row into `features`, as [`RecordReader::read_into`].
    ///
    /// # Errors
    /// As [`RecordReader::read_into`], for the same rows.
    pub fn read_into(&mut self, features: &mut [f64]) -> Result<Option<RowInfo>> {
        if let Some(exact) = &mut self.exact {
            return exact.read_into(features);
        }
        let n = self.layout.features.n_features(self.layout.schema);
        if features.len() != n {
            // The exact reader's error, word for word.
            return self.hand_over().read_into(features);
        }
        let record_start = self.at;
        let record_line = self.at_line;
        // The CSV reader skips empty lines.
        while self.bytes.get(self.at) == Some(&b'\n') {
            self.at += 1;
            self.at_line += 1;
        }
        let rest = &self.bytes[self.at..];
        // Empty lines count towards the record's length limit: a long run of them is the exact
        // reader's to measure (it may be a chunk of its own, cut there by that limit).
        let end = FAST_LINE_BYTES
            .checked_sub(self.at - record_start)
            .and_then(|limit| split_line(rest, limit, &mut self.fields));
        if end.is_some() && rest.is_empty() {
            return Ok(None);
        }
        match end.and_then(|end| self.fast_row(rest, features).map(|label| (end, label))) {
            Some((end, label)) => {
                self.rows += 1;
                let info = RowInfo {
                    row: self.rows,
                    // The CSV reader places a record where its reading started: on the first
                    // of the empty lines it skipped.
                    line: record_line,
                    label,
                };
                self.at = (self.at + end + 1).min(self.bytes.len());
                self.at_line += 1;
                Ok(Some(info))
            }
            None => {
                (self.at, self.at_line) = (record_start, record_line);
                self.hand_over().read_into(features)
            }
        }
    }

    /// The exact reader of the rest of the chunk, from the fast path's place on.
    fn hand_over(&mut self) -> &mut RecordReader<&'a [u8]> {
        let place = (self.offset + self.at as u64, self.at_line);
        let reader = RecordReader::continuing(
            &self.bytes[self.at..],
            Arc::clone(self.layout),
            place,
            self.rows,
        );
        self.exact.insert(reader)
    }

    /// The features and label of the plain row at the start of `rest`, whose fields
    /// [`split_line`] found, or `None` when the exact reader must read it.
    fn fast_row(&self, rest: &[u8], features: &mut [f64]) -> Option<Option<f64>> {
        let layout = &**self.layout;
        if self.fields.len() != layout.header_len {
            return None;
        }
        let field = |i: usize| {
            let (start, end) = self.fields[i];
            &rest[start..end]
        };
        let cols = &layout.columns;
        schema_features(
            layout.schema,
            features,
            |k, check| plain_number(field(cols[k]), check).ok_or(()),
            || paysim_type(field(cols[1])).ok_or(()),
        )
        .ok()?;
        match layout.label.map(field) {
            None | Some(b"") => Some(None),
            Some(b"0") => Some(Some(0.0)),
            Some(b"1") => Some(Some(1.0)),
            Some(_) => None,
        }
    }
}

impl RowSource for ChunkReader<'_> {
    fn schema(&self) -> Schema {
        self.layout.schema
    }

    fn file(&self) -> &str {
        &self.layout.file
    }

    fn has_labels(&self) -> bool {
        self.layout.label.is_some()
    }

    fn feature_set(&self) -> FeatureSet {
        self.layout.features
    }

    fn read_into(&mut self, features: &mut [f64]) -> Result<Option<RowInfo>> {
        ChunkReader::read_into(self, features)
    }

    fn row_error(&self, info: &RowInfo, message: String) -> Error {
        self.layout.row_error(info, message)
    }

    fn label_error(&self, info: &RowInfo, message: String) -> Error {
        self.layout.label_error(info, message)
    }

    fn columns_error(&self, message: String) -> Error {
        self.layout.columns_error(message)
    }
}
