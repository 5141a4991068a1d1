//! What the operating system is asked on behalf of the outputs: the free space of a folder,
//! and the removal of the staged temporaries when SIGINT, SIGTERM or SIGHUP arrives (the
//! registry of those temporaries lives here). Knows nothing of what the files are.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, Once};

/// The temporaries staged by this process, removed if a termination signal arrives.
static STAGED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// The registry of staged temporaries (still usable after a panic elsewhere).
pub(super) fn staged() -> MutexGuard<'static, Vec<PathBuf>> {
    STAGED.lock().unwrap_or_else(|e| e.into_inner())
}

/// Bytes available to this user on the file system of `folder`, when it can be told.
pub(super) fn free_bytes(folder: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(folder.as_os_str().as_bytes()).ok()?;
    let mut stats: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `path` is a NUL-terminated string and `stats` a writable statvfs.
    let status = unsafe { libc::statvfs(path.as_ptr(), &mut stats) };
    // The fields are u64 here but narrower on 32-bit targets.
    #[allow(clippy::useless_conversion)]
    let free = u64::from(stats.f_bavail).saturating_mul(u64::from(stats.f_frsize));
    (status == 0).then_some(free)
}

/// On SIGINT, SIGTERM or SIGHUP: removes the staged temporaries, then dies of the signal as it
/// would have without a handler.
pub(super) fn install_signal_cleanup() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) else {
            return;
        };
        std::thread::spawn(move || {
            if let Some(signal) = signals.forever().next() {
                let staged = staged();
                for path in staged.iter() {
                    let _ = fs::remove_file(path);
                }
                let _ = signal_hook::low_level::emulate_default_handler(signal);
                std::process::exit(128 + signal);
            }
        });
    });
}
