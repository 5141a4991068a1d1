//! How far a long check has come, told to whoever asked ([`Checker::on_progress`](crate::Checker::on_progress)): a
//! command-line progress bar, a notebook widget. The engine counts the coordinates it has
//! differenced and calls the user's function now and then, from whichever thread finished the
//! work; what is drawn is not its business. Knows nothing of the numerics.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The user's function, told `(done, total)` coordinates.
type Callback = dyn Fn(usize, usize) + Send + Sync;

/// A progress callback, or none. Two are equal when they are the same function (so that a
/// [`Checker`] keeps its `PartialEq`).
#[derive(Clone, Default)]
pub(crate) struct OnProgress(Option<Arc<Callback>>);

impl OnProgress {
    /// Wraps `callback`.
    pub(crate) fn new(callback: impl Fn(usize, usize) + Send + Sync + 'static) -> Self {
        OnProgress(Some(Arc::new(callback)))
    }

    /// A counter of `total` units of work that calls the callback about a thousand times in
    /// all, and once at the end.
    pub(crate) fn counter(&self, total: usize) -> Counter<'_> {
        Counter {
            callback: self.0.as_deref(),
            done: AtomicUsize::new(0),
            total,
            every: (total / 1000).max(1),
        }
    }
}

impl fmt::Debug for OnProgress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "Some(callback)"
        } else {
            "None"
        })
    }
}

impl PartialEq for OnProgress {
    fn eq(&self, other: &Self) -> bool {
        match (&self.0, &other.0) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

/// Counts finished units of work from any thread.
pub(crate) struct Counter<'a> {
    callback: Option<&'a Callback>,
    done: AtomicUsize,
    total: usize,
    every: usize,
}

impl Counter<'_> {
    /// One more unit done.
    pub(crate) fn tick(&self) {
        if let Some(callback) = self.callback {
            let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
            if done.is_multiple_of(self.every) || done == self.total {
                callback(done, self.total);
            }
        }
    }
}
