//! The parts of a file (the chunks of a CSV file, the row groups of a Parquet file) worked on
//! rayon's pool and their results taken back in file order: a few parts per pool thread are in
//! flight, so memory is bounded by their size, not the file's; the first error in file order
//! ends the run, whatever thread finished first. Knows nothing of what the work is (scoring,
//! evaluating).

use std::collections::VecDeque;
use std::io;
use std::sync::mpsc;

use crate::data::{CsvChunk, CsvChunks, ParquetGroup, ParquetGroups, RowSource};
use crate::{Error, Result};

/// A file cut into parts whose rows can be read on any thread, handed out in file order.
pub(super) trait Parts {
    /// One part.
    type Part: Part;
    /// The next part, or `None` at the end of the file.
    fn next_part(&mut self) -> Result<Option<Self::Part>>;
    /// Whether the file has a label column.
    fn has_labels(&self) -> bool;
    /// An error about the file's columns.
    fn columns_error(&self, message: String) -> Error;
}

/// One part of a file: its rows, numbered as in the whole file.
pub(super) trait Part: Send + 'static {
    /// Rows of the file before the part's first.
    fn rows_before(&self) -> u64;
    /// A reader of the part's rows.
    fn rows(&self) -> Result<Box<dyn RowSource + '_>>;
}

impl<R: io::Read> Parts for CsvChunks<R> {
    type Part = CsvChunk;

    fn next_part(&mut self) -> Result<Option<CsvChunk>> {
        self.next_chunk()
    }

    fn has_labels(&self) -> bool {
        CsvChunks::has_labels(self)
    }

    fn columns_error(&self, message: String) -> Error {
        CsvChunks::columns_error(self, message)
    }
}

impl Part for CsvChunk {
    fn rows_before(&self) -> u64 {
        CsvChunk::rows_before(self)
    }

    fn rows(&self) -> Result<Box<dyn RowSource + '_>> {
        Ok(Box::new(self.reader()))
    }
}

impl Parts for ParquetGroups {
    type Part = ParquetGroup;

    fn next_part(&mut self) -> Result<Option<ParquetGroup>> {
        Ok(self.next_group())
    }

    fn has_labels(&self) -> bool {
        ParquetGroups::has_labels(self)
    }

    fn columns_error(&self, message: String) -> Error {
        ParquetGroups::columns_error(self, message)
    }
}

impl Part for ParquetGroup {
    fn rows_before(&self) -> u64 {
        ParquetGroup::rows_before(self)
    }

    fn rows(&self) -> Result<Box<dyn RowSource + '_>> {
        Ok(Box::new(self.reader()?))
    }
}

/// Chunks in flight per pool thread: one being worked, one waiting, so no thread idles while the
/// results before its own are written.
const IN_FLIGHT_PER_THREAD: usize = 2;

/// Runs `work` on each part of `parts` on rayon's pool and hands the results to `take` in file
/// order. On a pool thread already (scoring inside parallel work), runs the parts one after
/// the other on it instead: waiting there for the pool could wait for itself.
///
/// # Errors
/// The first in file order of: a part's error, a reading error, an error of `take`.
pub(super) fn in_file_order<P, T, W>(
    parts: &mut P,
    work: W,
    mut take: impl FnMut(T) -> Result<()>,
) -> Result<()>
where
    P: Parts,
    T: Send + 'static,
    W: Fn(P::Part) -> Result<T> + Clone + Send + 'static,
{
    if rayon::current_thread_index().is_some() {
        while let Some(part) = parts.next_part()? {
            take(work(part)?)?;
        }
        return Ok(());
    }
    let limit = rayon::current_num_threads() * IN_FLIGHT_PER_THREAD;
    let mut in_flight = VecDeque::with_capacity(limit);
    let mut reading = true;
    loop {
        while reading && in_flight.len() < limit {
            match parts.next_part() {
                Ok(Some(part)) => {
                    let (done, result) = mpsc::sync_channel(1);
                    let work = work.clone();
                    rayon::spawn(move || {
                        // The receiver is gone only when an earlier part failed.
                        let _ = done.send(work(part));
                    });
                    in_flight.push_back(result);
                }
                Ok(None) => reading = false,
                Err(error) => {
                    // The parts before the unreadable part come first.
                    for result in in_flight {
                        take(received(&result)?)?;
                    }
                    return Err(error);
                }
            }
        }
        let Some(result) = in_flight.pop_front() else {
            return Ok(());
        };
        take(received(&result)?)?;
    }
}

/// The result of a part's work, once done.
fn received<T>(result: &mpsc::Receiver<Result<T>>) -> Result<T> {
    result.recv().map_err(|_| {
        Error::InvalidSetting("a part's worker stopped without a result (it panicked)".into())
    })?
}
