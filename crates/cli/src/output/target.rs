//! What writing a path means: a regular file (existing, through links, or new) replaced through
//! a staged temporary beside it, a FIFO or character device written through, standard output
//! for `-`, or a refusal naming the flag. Knows nothing of staging or committing.

use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use fraudnet::data::shown_path;

use super::TEMPORARY_PREFIX;

/// How an output is written.
#[derive(Debug)]
pub(super) enum Target {
    /// A regular file, existing or new, replaced through a staged temporary beside it.
    Replace {
        /// The file replaced (links resolved).
        dest: PathBuf,
        /// Its staged temporary beside it.
        temporary: PathBuf,
        /// The replaced file's permissions, for the new one.
        permissions: Option<fs::Permissions>,
    },
    /// A FIFO or a character device, written straight through.
    Through {
        /// The FIFO or device.
        dest: PathBuf,
    },
    /// Standard output (`-`).
    Stdout,
}

/// What writing `path` means, and its (device, inode) when it exists.
pub(super) fn classify(
    flag: &str,
    path: &Path,
    shown: &str,
) -> anyhow::Result<(Target, Option<(u64, u64)>)> {
    if path.as_os_str() == "-" {
        return Ok((Target::Stdout, None));
    }
    match fs::metadata(path) {
        Ok(meta) => {
            let id = Some((meta.dev(), meta.ino()));
            let kind = meta.file_type();
            if kind.is_file() {
                // Through any symbolic links: the target is replaced, the links stay.
                let dest = fs::canonicalize(path).with_context(|| format!("{flag} {shown}"))?;
                let temporary = temporary_beside(&dest, flag, shown)?;
                let permissions = Some(meta.permissions());
                Ok((
                    Target::Replace {
                        dest,
                        temporary,
                        permissions,
                    },
                    id,
                ))
            } else if kind.is_fifo() || kind.is_char_device() {
                Ok((
                    Target::Through {
                        dest: path.to_path_buf(),
                    },
                    id,
                ))
            } else if kind.is_dir() {
                bail!("{flag} {shown}: is a folder, expected a file name")
            } else {
                bail!(
                    "{flag} {shown}: is a {}, not a file, FIFO or character device gradproof can \
                     write",
                    if kind.is_socket() {
                        "socket"
                    } else {
                        "block device"
                    }
                )
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if fs::symlink_metadata(path).is_ok() {
                bail!("{flag} {shown}: is a symbolic link to nothing; expected a file name");
            }
            let folder = folder_of(path);
            if !folder.is_dir() {
                bail!(
                    "{flag} {shown}: the folder {} does not exist",
                    shown_path(folder)
                );
            }
            let folder = fs::canonicalize(folder).with_context(|| format!("{flag} {shown}"))?;
            let Some(name) = path.file_name() else {
                bail!("{flag} {shown}: expected a file name");
            };
            let dest = folder.join(name);
            let temporary = temporary_beside(&dest, flag, shown)?;
            Ok((
                Target::Replace {
                    dest,
                    temporary,
                    permissions: None,
                },
                None,
            ))
        }
        Err(e) => Err(e).with_context(|| format!("{flag} {shown}")),
    }
}

/// `dir/.gradproof-tmp.NAME` for `dir/NAME` (same folder, so the rename cannot cross file
/// systems; the name's extension kept).
fn temporary_beside(dest: &Path, flag: &str, shown: &str) -> anyhow::Result<PathBuf> {
    let Some(name) = dest.file_name() else {
        bail!("{flag} {shown}: expected a file name");
    };
    let mut temporary = std::ffi::OsString::from(TEMPORARY_PREFIX);
    temporary.push(name);
    Ok(dest.with_file_name(temporary))
}

/// The folder a file is written into (`.` for a bare file name).
pub(super) fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

pub(super) fn remove_if_present(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}
