//! The chunks of a CSV file worked on rayon's pool and their results taken back in file order:
//! a few chunks per pool thread are in flight, so memory is bounded by their size, not the
//! file's; the first error in file order ends the run, whatever thread finished first. Knows
//! nothing of what the work is (scoring, evaluating).

use std::collections::VecDeque;
use std::io;
use std::sync::mpsc;

use crate::data::{CsvChunk, CsvChunks};
use crate::{Error, Result};

/// Chunks in flight per pool thread: one being worked, one waiting, so no thread idles while the
/// results before its own are written.
const IN_FLIGHT_PER_THREAD: usize = 2;

/// Runs `work` on each chunk of `chunks` on rayon's pool and hands the results to `take` in file
/// order. On a pool thread already (scoring inside parallel work), runs the chunks one after
/// the other on it instead: waiting there for the pool could wait for itself.
///
/// # Errors
/// The first in file order of: a chunk's error, a reading error, an error of `take`.
pub(super) fn in_file_order<R, T, W>(
    chunks: &mut CsvChunks<R>,
    work: W,
    mut take: impl FnMut(T) -> Result<()>,
) -> Result<()>
where
    R: io::Read,
    T: Send + 'static,
    W: Fn(CsvChunk) -> Result<T> + Clone + Send + 'static,
{
    if rayon::current_thread_index().is_some() {
        while let Some(chunk) = chunks.next_chunk()? {
            take(work(chunk)?)?;
        }
        return Ok(());
    }
    let limit = rayon::current_num_threads() * IN_FLIGHT_PER_THREAD;
    let mut in_flight = VecDeque::with_capacity(limit);
    let mut reading = true;
    loop {
        while reading && in_flight.len() < limit {
            match chunks.next_chunk() {
                Ok(Some(chunk)) => {
                    let (done, result) = mpsc::sync_channel(1);
                    let work = work.clone();
                    rayon::spawn(move || {
                        // The receiver is gone only when an earlier chunk failed.
                        let _ = done.send(work(chunk));
                    });
                    in_flight.push_back(result);
                }
                Ok(None) => reading = false,
                Err(error) => {
                    // The chunks before the unreadable part come first.
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

/// The result of a chunk's work, once done.
fn received<T>(result: &mpsc::Receiver<Result<T>>) -> Result<T> {
    result.recv().map_err(|_| {
        Error::InvalidSetting("a chunk's worker stopped without a result (it panicked)".into())
    })?
}
