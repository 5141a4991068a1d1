//! The byte stream under the CSV reader, bounded: every line break (`\n`, `\r\n` or a lone `\r`)
//! becomes `\n`, so that positions count lines the way an editor does, and a line or a record
//! longer than its limit stops the reading with an error naming where it started, instead of
//! growing a buffer without end (an endless file, a stray quote). Knows nothing of CSV fields or
//! of the schema: the record reader tells it where each record starts.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The longest physical line accepted, in bytes (a PaySim row is about 100 bytes, a card row
/// about 700).
pub const MAX_LINE_BYTES: u64 = 64 * 1024;
/// The longest header accepted, in bytes.
pub const MAX_HEADER_BYTES: u64 = 64 * 1024;
/// The longest record (a row, possibly over several lines inside quotes) accepted, in bytes.
pub const MAX_RECORD_BYTES: u64 = 64 * 1024;
/// The longest single field accepted, in bytes.
pub const MAX_FIELD_BYTES: u64 = 4 * 1024;
/// The CSV reader's own buffer: the most bytes read ahead of the record being parsed.
pub(crate) const READ_AHEAD: usize = 8 * 1024;

/// Where the record being read started and how long it may grow, shared between the record
/// reader (which sets it before each record) and [`BoundedInput`] (which enforces it).
#[derive(Debug, Default)]
pub(crate) struct RecordBounds {
    /// Offset in the normalised stream of the record's first byte.
    pub start: AtomicU64,
    /// 1-based line of the record's first byte.
    pub line: AtomicU64,
    /// The record's limit in bytes.
    pub limit: AtomicU64,
    /// `"row"` or `"header"`, as a flag: 1 while the header is read.
    pub header: AtomicU64,
}

impl RecordBounds {
    /// Bounds for a record starting at `start` (offset) on `line`.
    pub fn begin(&self, start: u64, line: u64, header: bool) {
        self.start.store(start, Ordering::Relaxed);
        self.line.store(line, Ordering::Relaxed);
        self.header.store(u64::from(header), Ordering::Relaxed);
        let limit = if header {
            MAX_HEADER_BYTES
        } else {
            MAX_RECORD_BYTES
        };
        self.limit.store(limit, Ordering::Relaxed);
    }
}

/// A limit exceeded, carried inside an [`io::Error`] to the CSV layer and back.
#[derive(Debug)]
pub(crate) struct LimitExceeded {
    /// 1-based line of the place.
    pub line: u64,
    /// 1-based byte column of the place.
    pub column: u64,
    /// What went over which limit.
    pub message: String,
}

impl std::fmt::Display for LimitExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for LimitExceeded {}

/// Turns every line break (`\n`, `\r\n` or a lone `\r`) into one `\n`, across the pieces of a
/// stream handed to it in order.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct LineBreaks {
    /// The last byte seen was a `\r` (already turned into `\n`): a `\n` right after it is dropped.
    after_cr: bool,
}

impl LineBreaks {
    /// Normalises `buf` in place and returns its new length; calls `on_byte` with each byte kept
    /// (it may stop the work with an error).
    #[inline]
    pub fn normalise_with(
        &mut self,
        buf: &mut [u8],
        mut on_byte: impl FnMut(u8) -> io::Result<()>,
    ) -> io::Result<usize> {
        let mut kept = 0;
        for i in 0..buf.len() {
            let mut byte = buf[i];
            if std::mem::take(&mut self.after_cr) && byte == b'\n' {
                continue;
            }
            if byte == b'\r' {
                byte = b'\n';
                self.after_cr = true;
            }
            buf[kept] = byte;
            kept += 1;
            on_byte(byte)?;
        }
        Ok(kept)
    }

    /// Normalises `buf` in place and returns its new length; a buffer without `\r` (after one
    /// that ended on a `\r`, a first `\n` is still dropped) is left as it is, at memchr speed.
    pub fn normalise(&mut self, buf: &mut [u8]) -> usize {
        if !self.after_cr && memchr::memchr(b'\r', buf).is_none() {
            return buf.len();
        }
        self.normalise_with(buf, |_| Ok(()))
            .expect("no byte is refused")
    }
}

/// A reader with line breaks normalised and lines and records bounded; see the module docs.
#[derive(Debug)]
pub(crate) struct BoundedInput<R> {
    inner: R,
    bounds: Arc<RecordBounds>,
    /// Bytes handed out so far.
    offset: u64,
    /// Where the stream starts in the whole (normalised) file: reads end on the file's multiples
    /// of [`READ_AHEAD`], so that a record is measured at the same points whether the file is
    /// read whole or in chunks.
    first_offset: u64,
    /// 1-based line of the next byte handed out.
    line: u64,
    /// Bytes of the current line handed out so far.
    column: u64,
    breaks: LineBreaks,
}

impl<R: io::Read> BoundedInput<R> {
    /// Wraps `inner`, whose first byte starts line `first_line` of the file, at `first_offset`
    /// in the file with its line breaks normalised; `bounds` is shared with the record reader.
    pub fn new(inner: R, bounds: Arc<RecordBounds>, first_line: u64, first_offset: u64) -> Self {
        BoundedInput {
            inner,
            bounds,
            offset: 0,
            first_offset,
            line: first_line,
            column: 0,
            breaks: LineBreaks::default(),
        }
    }

    fn exceeded(line: u64, column: u64, message: String) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidData,
            LimitExceeded {
                line,
                column,
                message,
            },
        )
    }

    /// Normalises the line breaks of `buf` in place and returns its new length.
    fn normalise(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let (line, column) = (&mut self.line, &mut self.column);
        self.breaks.normalise_with(buf, |byte| {
            if byte == b'\n' {
                *line += 1;
                *column = 0;
            } else {
                *column += 1;
                if *column > MAX_LINE_BYTES {
                    return Err(Self::exceeded(
                        *line,
                        MAX_LINE_BYTES + 1,
                        format!("line longer than {MAX_LINE_BYTES} bytes (the limit)"),
                    ));
                }
            }
            Ok(())
        })
    }
}

impl<R: io::Read> io::Read for BoundedInput<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read_ahead = READ_AHEAD as u64;
        let room = read_ahead - (self.first_offset + self.offset) % read_ahead;
        let mut want = buf.len().min(room as usize);
        if self.offset == 0 && self.first_offset > 0 {
            // The CSV parser drops a UTF-8 byte order mark at the start of its first read of 3
            // bytes or more: only the file's first record may lose one, not a chunk's.
            want = want.min(1);
        }
        let mut filled = 0;
        while filled < want {
            let n = match self.inner.read(&mut buf[filled..want]) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            filled += self.normalise(&mut buf[filled..filled + n])?;
        }
        self.offset += filled as u64;
        let bounds = &self.bounds;
        let start = bounds.start.load(Ordering::Relaxed);
        let limit = bounds.limit.load(Ordering::Relaxed);
        // What was read ahead of the record (at most the CSV buffer) does not count.
        if self.offset.saturating_sub(start) > limit + read_ahead {
            let what = if bounds.header.load(Ordering::Relaxed) == 1 {
                "header"
            } else {
                "row"
            };
            return Err(Self::exceeded(
                bounds.line.load(Ordering::Relaxed),
                1,
                format!(
                    "{what} longer than {limit} bytes (the limit); an unclosed quote makes \
                     one field of the rest of the file"
                ),
            ));
        }
        Ok(filled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn normalised(text: &[u8], chunk: usize) -> Vec<u8> {
        struct Chunks<'a>(&'a [u8], usize);
        impl io::Read for Chunks<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = self.0.len().min(self.1).min(buf.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let bounds = Arc::new(RecordBounds::default());
        bounds.begin(0, 1, false);
        let mut out = Vec::new();
        BoundedInput::new(Chunks(text, chunk), bounds, 1, 0)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    #[test]
    fn every_line_break_becomes_one_newline_whatever_the_chunks() {
        for chunk in [1, 2, 3, 1024] {
            assert_eq!(normalised(b"a\rb\r\nc\n\rd\r", chunk), b"a\nb\nc\n\nd\n");
            assert_eq!(normalised(b"\r\n\r\n", chunk), b"\n\n");
        }
    }

    #[test]
    fn an_endless_line_stops_at_the_limit_having_read_little() {
        let bounds = Arc::new(RecordBounds::default());
        bounds.begin(0, 1, false);
        let mut counted = io::repeat(b'7').take(u64::MAX);
        let mut input = BoundedInput::new(&mut counted, bounds, 1, 0);
        let mut sink = Vec::new();
        let error = input.read_to_end(&mut sink).unwrap_err();
        assert!(
            error.to_string().contains("line longer than 65536"),
            "{error}"
        );
        assert!(sink.len() < 2 * MAX_LINE_BYTES as usize, "{}", sink.len());
    }
}
