//! Output paths, checked before any work is done: a run that would end by failing to write its
//! result (a folder that does not exist, or one it may not write into) is refused at once with
//! the argument named, instead of after minutes of training, and leaves nothing behind.

use std::fs;
use std::path::Path;

use anyhow::bail;

/// Checks that the file `path`, given as `flag`, can be created: its folder exists and is
/// writable.
pub fn check_file(path: &Path, flag: &str) -> anyhow::Result<()> {
    if path.is_dir() {
        bail!(
            "{flag} {}: is a folder, expected a file name",
            path.display()
        );
    }
    let dir = folder_of(path);
    if !dir.is_dir() {
        bail!(
            "{flag} {}: the folder {} does not exist",
            path.display(),
            dir.display()
        );
    }
    probe(dir, path, flag)
}

/// Checks that pictures can be written into the folder `dir`, given as `flag`: it exists and is
/// writable, or it does not exist yet and its parent folder does (it is created when written).
pub fn check_folder(dir: &Path, flag: &str) -> anyhow::Result<()> {
    if dir.is_dir() {
        return probe(dir, dir, flag);
    }
    if dir.exists() {
        bail!("{flag} {}: exists and is not a folder", dir.display());
    }
    check_file(dir, flag)
}

/// The folder a file is written into (`.` for a bare file name).
fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// Creates and removes an empty file in `dir`.
fn probe(dir: &Path, path: &Path, flag: &str) -> anyhow::Result<()> {
    let probe = dir.join(format!(".gradproof-write-probe-{}", std::process::id()));
    match fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
    {
        Ok(_) => {
            let _ = fs::remove_file(&probe);
            Ok(())
        }
        Err(e) => bail!(
            "{flag} {}: cannot write into the folder {}: {e}",
            path.display(),
            dir.display()
        ),
    }
}
