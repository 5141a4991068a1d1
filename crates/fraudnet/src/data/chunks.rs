//! A CSV payment file cut into chunks at record boundaries, so that the chunks can be parsed on
//! several threads and their results put back in file order. The header is read once; each
//! chunk then knows where it starts (offset, line, rows before it) and parses with the same
//! [`RecordReader`] grammar, limits and `file:line:column` errors as a reading of the whole file.
//! Memory is one chunk plus the part of a record cut at its end. Knows nothing of models.

use std::io;
use std::sync::Arc;

use super::bounded::{LineBreaks, MAX_RECORD_BYTES, READ_AHEAD};
use super::chunk_reader::ChunkReader;
use super::history::{FeatureSet, History};
use super::reader::{CsvLayout, RecordReader, with_history_layout};
use super::schema::Schema;
use crate::{Error, Result};

/// The usual size of a chunk, in bytes: large enough that the per-chunk work (a thread hand-off,
/// a reader) vanishes, small enough that a few in flight stay cheap.
pub const CHUNK_BYTES: usize = 2 << 20;

/// The most read for the header: longer than any header the reader accepts (with the bytes it
/// reads ahead), so that the header is read from it exactly as from the whole file.
const HEADER_READ: usize = 1 << 20;

/// A record with no end this far from its start cannot be accepted: the reader's record limit
/// stops it within these bytes, so a chunk this long holds its error.
const UNENDED_RECORD: usize = MAX_RECORD_BYTES as usize + 3 * READ_AHEAD;

/// A CSV payment file read chunk by chunk; see the module docs.
///
/// ```
/// use fraudnet::data::{CsvChunks, Schema};
/// let text = "step,type,amount,nameOrig,oldbalanceOrg,newbalanceOrig,nameDest,oldbalanceDest,newbalanceDest,isFraud\n\
///             1,PAYMENT,9.5,C1,100,90.5,M2,0,0,0\n\
///             2,PAYMENT,1.5,C1,90.5,89,M2,0,0,0\n";
/// let mut chunks = CsvChunks::new(text.as_bytes(), "mem.csv", Schema::PaySim)?.with_chunk_bytes(1);
/// let mut rows = Vec::new();
/// while let Some(chunk) = chunks.next_chunk()? {
///     let mut reader = chunk.reader();
///     let mut features = vec![0.0; Schema::PaySim.n_features()];
///     while let Some(info) = reader.read_into(&mut features)? {
///         rows.push((info.row, info.line));
///     }
/// }
/// assert_eq!(rows, [(1, 2), (2, 3)]);
/// # Ok::<(), fraudnet::Error>(())
/// ```
#[derive(Debug)]
pub struct CsvChunks<R> {
    layout: Arc<CsvLayout>,
    input: Input<R>,
    /// Bytes read (line breaks normalised) and not yet handed out; they start at a record's end.
    pending: Vec<u8>,
    /// Offset in the normalised file, line and rows before the first pending byte.
    offset: u64,
    line: u64,
    rows: u64,
    chunk_bytes: usize,
    /// The account history after the chunks handed out, when rows get history features.
    history: Option<History>,
}

/// The file being read, its line breaks normalised on the way.
#[derive(Debug)]
struct Input<R> {
    reader: R,
    breaks: LineBreaks,
    eof: bool,
}

impl<R: io::Read> Input<R> {
    /// Reads onto `pending` until it holds `want` bytes or the file ends.
    fn fill(&mut self, pending: &mut Vec<u8>, want: usize, file: &str) -> Result<()> {
        while !self.eof && pending.len() < want {
            let start = pending.len();
            pending.resize(want.max(start + READ_AHEAD), 0);
            let n = loop {
                match self.reader.read(&mut pending[start..]) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(source) => {
                        pending.truncate(start);
                        return Err(Error::Io {
                            path: file.to_string(),
                            source,
                        });
                    }
                }
            };
            self.eof = n == 0;
            let kept = self.breaks.normalise(&mut pending[start..start + n]);
            pending.truncate(start + kept);
        }
        Ok(())
    }
}

/// A run of whole records of a CSV file, with where it starts. Parse it with
/// [`reader`](Self::reader), on any thread.
#[derive(Debug)]
pub struct CsvChunk {
    layout: Arc<CsvLayout>,
    bytes: Vec<u8>,
    offset: u64,
    line: u64,
    rows_before: u64,
    /// The history features of the chunk's rows, computed in file order by [`CsvChunks`].
    history: Option<Arc<[f64]>>,
}

impl CsvChunk {
    /// A reader of the chunk's rows, numbered and placed (lines) as in the whole file: fast on
    /// plain rows, exact on all (see [`ChunkReader`]).
    pub fn reader(&self) -> ChunkReader<'_> {
        let exact = self.history.as_ref().map(|values| {
            self.exact_reader()
                .with_computed_history(Arc::clone(values))
        });
        let place = (self.offset, self.line);
        ChunkReader::new(&self.layout, &self.bytes, place, self.rows_before, exact)
    }

    /// The CSV reader of the whole chunk, without its history features.
    fn exact_reader(&self) -> RecordReader<&[u8]> {
        RecordReader::continuing(
            &self.bytes[..],
            Arc::clone(&self.layout),
            (self.offset, self.line),
            self.rows_before,
        )
    }

    /// Rows of the file before the chunk's first.
    pub fn rows_before(&self) -> u64 {
        self.rows_before
    }

    /// The chunk's length in bytes (line breaks normalised).
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether the chunk holds no byte (never for one handed out by [`CsvChunks`]).
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

impl<R: io::Read> CsvChunks<R> {
    /// Reads the header of `input` (named `name` in errors), as [`RecordReader::from_reader`].
    ///
    /// # Errors
    /// Those of [`RecordReader::from_reader`].
    pub fn new(reader: R, name: impl Into<String>, schema: Schema) -> Result<Self> {
        let name = name.into();
        let mut input = Input {
            reader,
            breaks: LineBreaks::default(),
            eof: false,
        };
        let mut pending = Vec::new();
        // Read no further than the header's end: a pipe or a FIFO may not have more yet, and
        // the run must start (stage its output, say so) before the first chunk arrives.
        while !input.eof && pending.len() < HEADER_READ && records_end(&pending, false).is_none() {
            let want = pending.len() + 1;
            input.fill(&mut pending, want, &name)?;
        }
        let header = RecordReader::from_reader(&pending[..], name, schema)?;
        let (offset, line) = header.next_position();
        let layout = Arc::clone(header.layout());
        drop(header);
        pending.drain(..offset as usize);
        Ok(CsvChunks {
            layout,
            input,
            pending,
            offset,
            line,
            rows: 0,
            chunk_bytes: CHUNK_BYTES,
            history: None,
        })
    }

    /// Adds the history features to every row (see [`RecordReader::with_history`]): each chunk
    /// is first read in file order on the calling thread, which feeds `history` and records the
    /// chunk's history features; the chunk's own reader, on any thread, then adds them to the
    /// per-row features. The features are those of a reading of the whole file.
    ///
    /// # Errors
    /// As [`RecordReader::with_history`].
    pub fn with_history(mut self, history: History) -> Result<Self> {
        self.layout = with_history_layout(&self.layout)?;
        self.history = Some(history);
        Ok(self)
    }

    /// The history state after the chunks handed out (`None` without history features).
    pub fn into_history(self) -> Option<History> {
        self.history
    }

    /// Chunks of about `bytes` bytes instead of [`CHUNK_BYTES`] (at least one record each).
    pub fn with_chunk_bytes(mut self, bytes: usize) -> Self {
        self.chunk_bytes = bytes.max(1);
        self
    }

    /// The file's name as used in error messages.
    pub fn file(&self) -> &str {
        &self.layout.file
    }

    /// The schema rows are parsed with.
    pub fn schema(&self) -> Schema {
        self.layout.schema
    }

    /// The features rows are turned into.
    pub fn feature_set(&self) -> FeatureSet {
        self.layout.features
    }

    /// Whether the file has a label column.
    pub fn has_labels(&self) -> bool {
        self.layout.label.is_some()
    }

    /// The error of [`RowSource::columns_error`](super::RowSource::columns_error).
    pub fn columns_error(&self, message: String) -> Error {
        Error::Data {
            file: self.layout.file.clone(),
            line: 1,
            column: 0,
            message,
        }
    }

    /// The next chunk, or `None` at the end of the file.
    ///
    /// # Errors
    /// [`Error::Io`] when reading fails.
    pub fn next_chunk(&mut self) -> Result<Option<CsvChunk>> {
        let mut want = self.chunk_bytes;
        let (cut, lines, rows) = loop {
            self.input
                .fill(&mut self.pending, want, &self.layout.file)?;
            if self.pending.is_empty() {
                return Ok(None);
            }
            if let Some(found) = records_end(&self.pending, self.input.eof) {
                break found;
            }
            if self.pending.len() >= UNENDED_RECORD {
                // A record too long to accept: its chunk ends in the error the reader reports.
                break (self.pending.len(), 0, 0);
            }
            want = self.pending.len() + self.chunk_bytes;
        };
        let rest = self.pending.split_off(cut);
        let mut chunk = CsvChunk {
            layout: Arc::clone(&self.layout),
            bytes: std::mem::replace(&mut self.pending, rest),
            offset: self.offset,
            line: self.line,
            rows_before: self.rows,
            history: None,
        };
        if let Some(history) = &mut self.history {
            let mut reader = chunk.exact_reader();
            let mut values = Vec::new();
            // A bad row stops the pass; the chunk's reader then reports the same error there.
            while let Ok(true) = reader.observe_next(history, &mut values) {}
            drop(reader);
            chunk.history = Some(values.into());
        }
        self.offset += cut as u64;
        self.line += lines;
        self.rows += rows;
        Ok(Some(chunk))
    }
}

/// Where the last whole record of `bytes` (which start at a record's end) ends, with the line
/// breaks and records before that point; at the end of the file (`eof`), all of `bytes`.
/// `None` when no record ends in them.
fn records_end(bytes: &[u8], eof: bool) -> Option<(usize, u64, u64)> {
    if memchr::memchr(b'"', bytes).is_some() {
        return quoted_records_end(bytes, eof);
    }
    // Without quotes every line break ends a line, and every line that is not empty a record
    // (the CSV reader skips empty lines). Counted with vector instructions rather than visited
    // line by line: this runs on the thread that hands chunks out, ahead of all the others.
    let Some(last) = memchr::memrchr(b'\n', bytes) else {
        return eof.then_some((bytes.len(), 0, u64::from(!bytes.is_empty())));
    };
    let lines = memchr::memchr_iter(b'\n', bytes).count() as u64;
    let rows = lines - empty_lines(bytes);
    if eof {
        let unended = u64::from(last + 1 < bytes.len());
        return Some((bytes.len(), lines, rows + unended));
    }
    // The chunk ends after the last line that is not empty: the empty lines after it (the
    // last run of line breaks but its first) go to the next chunk.
    let run_start = bytes[..last]
        .iter()
        .rposition(|&byte| byte != b'\n')
        .map_or(0, |i| i + 1);
    let trailing_empty = (last - run_start) as u64;
    (rows > 0).then_some((run_start + 1, lines - trailing_empty, rows))
}

/// The empty lines of `bytes`, which start at a line's start: line breaks at the very start or
/// right after another.
fn empty_lines(bytes: &[u8]) -> u64 {
    let mut empty = u64::from(bytes.first() == Some(&b'\n'));
    let mut at = 0;
    while let Some(found) = memchr::memmem::find(&bytes[at..], b"\n\n") {
        // A run of n line breaks holds n − 1 empty lines after its first.
        let run = bytes[at + found..]
            .iter()
            .take_while(|&&byte| byte == b'\n')
            .count();
        empty += run as u64 - 1;
        at += found + run;
    }
    empty
}

/// [`records_end`] for bytes with quotes: the CSV reader's own parser finds the records.
fn quoted_records_end(bytes: &[u8], eof: bool) -> Option<(usize, u64, u64)> {
    use csv_core::ReadRecordResult;
    let mut parser = csv_core::Reader::new();
    let (mut fields, mut ends) = (vec![0; READ_AHEAD], vec![0; 64]);
    let (mut at, mut end, mut rows) = (0, 0, 0);
    loop {
        let input = &bytes[at..];
        let (result, read, _, _) = parser.read_record(input, &mut fields, &mut ends);
        at += read;
        match result {
            ReadRecordResult::Record => {
                rows += 1;
                end = at;
            }
            // At the end of the file, the next call (with no input left) says so to the parser,
            // which then hands out a last unterminated record.
            ReadRecordResult::InputEmpty if eof => {}
            ReadRecordResult::InputEmpty | ReadRecordResult::End => break,
            // The fields themselves are not needed: their buffers are overwritten.
            ReadRecordResult::OutputFull | ReadRecordResult::OutputEndsFull => {}
        }
    }
    let end = if eof { bytes.len() } else { end };
    let lines = memchr::memchr_iter(b'\n', &bytes[..end]).count() as u64;
    (eof || rows > 0).then_some((end, lines, rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `records_end` of unquoted bytes against a walk over their lines, one at a time (the
    /// reading it replaced), on random bytes of line breaks (alone and in runs) and other bytes,
    /// before and at the end of a file.
    #[test]
    fn records_end_as_a_walk_over_the_lines_finds_it() {
        use rand::{RngExt, SeedableRng};
        fn walk(bytes: &[u8], eof: bool) -> Option<(usize, u64, u64)> {
            let (mut end, mut lines, mut rows, mut line_start) = (0, 0, 0, 0);
            let mut lines_at_end = 0;
            for (i, _) in bytes.iter().enumerate().filter(|(_, b)| **b == b'\n') {
                lines += 1;
                if i > line_start {
                    rows += 1;
                    end = i + 1;
                    lines_at_end = lines;
                }
                line_start = i + 1;
            }
            if eof {
                let last = u64::from(line_start < bytes.len());
                return Some((bytes.len(), lines, rows + last));
            }
            (rows > 0).then_some((end, lines_at_end, rows))
        }
        let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(18);
        for round in 0..100_000 {
            // Mostly short, some past the 32 bytes of a vector.
            let len = rng.random_range(0..if round % 10 == 0 { 200 } else { 30 });
            let bytes: Vec<u8> = (0..len)
                .map(|_| match rng.random_range(0..4) {
                    0 | 1 => b'\n',
                    2 => b',',
                    _ => b'7',
                })
                .collect();
            for eof in [false, true] {
                assert_eq!(
                    records_end(&bytes, eof),
                    walk(&bytes, eof),
                    "{:?} eof {eof}",
                    String::from_utf8_lossy(&bytes)
                );
            }
        }
    }
}
