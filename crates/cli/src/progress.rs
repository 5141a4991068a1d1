//! Progress bars for long work: a bar on standard error that appears only once the work has run
//! for [`DELAY`] (short commands stay silent), only on a terminal (indicatif draws nothing on a
//! pipe or a file), and never with `--quiet`. The reader and the row source here advance a bar by
//! the bytes or the rows they read (a generator's lines are counted by
//! `fraudnet::data::LineCounting`), so the work itself knows nothing of it.

use std::io::{self, Read};
use std::time::{Duration, Instant};

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use fraudnet::data::{FeatureSet, History, RowInfo, RowSource, Schema};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

/// Work shorter than this shows no bar.
pub const DELAY: Duration = Duration::from_secs(2);

/// Overrides [`DELAY`], in seconds (for the tests, which draw a bar at once on a pseudo-terminal).
pub const DELAY_VARIABLE: &str = "GRADPROOF_PROGRESS_DELAY";

/// [`DELAY`], or the delay set in [`DELAY_VARIABLE`] when it is a number of seconds ≥ 0.
fn delay() -> Duration {
    std::env::var(DELAY_VARIABLE)
        .ok()
        .and_then(|text| text.parse::<f64>().ok())
        .and_then(|seconds| Duration::try_from_secs_f64(seconds).ok())
        .unwrap_or(DELAY)
}

/// A bar that stays hidden for its first [`DELAY`].
pub struct Delayed {
    bar: ProgressBar,
    started: Instant,
    delay: Duration,
    quiet: bool,
    shown: AtomicBool,
}

impl Delayed {
    /// A bar of `len` units (0: unknown, no estimate of the time left) drawn with the indicatif
    /// `template` (hidden for good when `quiet`).
    pub fn new(len: u64, template: &str, quiet: bool) -> Self {
        let len = (len > 0).then_some(len);
        let bar = ProgressBar::with_draw_target(len, ProgressDrawTarget::hidden());
        bar.set_style(
            ProgressStyle::with_template(template)
                .expect("a valid template")
                // `{rate}`: units per second, whole (indicatif's `{per_sec}` prints 4 decimals).
                .with_key("rate", |state: &ProgressState, w: &mut dyn fmt::Write| {
                    let _ = write!(w, "{:.0}/s", state.per_sec());
                })
                .progress_chars("=> "),
        );
        Delayed {
            bar,
            started: Instant::now(),
            delay: delay(),
            quiet,
            shown: AtomicBool::new(false),
        }
    }

    /// Advances the bar by `units`, showing it once the work has run for [`DELAY`].
    pub fn advance(&self, units: u64) {
        // Shown first, so that the step that makes it due is drawn (a file of one row group
        // advances once).
        self.show_when_due();
        self.bar.inc(units);
    }

    /// Sets the bar's position and length (work counted by someone else, from any thread).
    pub fn set(&self, position: u64, len: u64) {
        self.show_when_due();
        self.bar.set_length(len);
        self.bar.set_position(position);
    }

    fn show_when_due(&self) {
        if !self.quiet
            && !self.shown.load(Ordering::Relaxed)
            && self.started.elapsed() >= self.delay
            && !self.shown.swap(true, Ordering::Relaxed)
        {
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
        }
    }

    /// Removes the bar (the command then prints its own summary line).
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// A reader that advances a bar by the bytes it reads.
pub struct CountingReader<R> {
    inner: R,
    progress: Delayed,
}

impl<R> CountingReader<R> {
    /// Wraps `inner`.
    pub fn new(inner: R, progress: Delayed) -> Self {
        CountingReader { inner, progress }
    }
}

impl<R> Drop for CountingReader<R> {
    fn drop(&mut self) {
        self.progress.finish();
    }
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.advance(n as u64);
        Ok(n)
    }
}

/// A source of payment rows that advances a bar by the rows read (a Parquet file read in order,
/// with history features); the bar is removed when the source is dropped or its history taken.
pub struct CountingRows<'a> {
    inner: Box<dyn RowSource + 'a>,
    progress: Cleared,
}

/// A bar removed when dropped (when the work ends, or fails).
pub struct Cleared(pub Arc<Delayed>);

impl Drop for Cleared {
    fn drop(&mut self) {
        self.0.finish();
    }
}

impl<'a> CountingRows<'a> {
    /// Wraps `inner`.
    pub fn new(inner: Box<dyn RowSource + 'a>, progress: Delayed) -> Self {
        CountingRows {
            inner,
            progress: Cleared(Arc::new(progress)),
        }
    }
}

impl RowSource for CountingRows<'_> {
    fn schema(&self) -> Schema {
        self.inner.schema()
    }

    fn file(&self) -> &str {
        self.inner.file()
    }

    fn has_labels(&self) -> bool {
        self.inner.has_labels()
    }

    fn feature_set(&self) -> FeatureSet {
        self.inner.feature_set()
    }

    fn into_history(self: Box<Self>) -> Option<History> {
        let CountingRows { inner, progress } = *self;
        drop(progress);
        inner.into_history()
    }

    fn read_into(&mut self, features: &mut [f64]) -> fraudnet::Result<Option<RowInfo>> {
        let row = self.inner.read_into(features)?;
        if row.is_some() {
            self.progress.0.advance(1);
        }
        Ok(row)
    }

    fn row_error(&self, info: &RowInfo, message: String) -> fraudnet::Error {
        self.inner.row_error(info, message)
    }

    fn label_error(&self, info: &RowInfo, message: String) -> fraudnet::Error {
        self.inner.label_error(info, message)
    }

    fn columns_error(&self, message: String) -> fraudnet::Error {
        self.inner.columns_error(message)
    }
}
