//! Opening an input file by path, with the name its errors will carry. The readers (CSV and
//! Parquet) share it; it knows nothing of their formats.

use std::fs::File;
use std::path::Path;

use crate::error::{Error, Result};

/// Opens `path` for reading; returns it with its name for error messages.
pub(crate) fn open_named(path: &Path) -> Result<(File, String)> {
    let name = path.display().to_string();
    match File::open(path) {
        Ok(file) => Ok((file, name)),
        Err(source) => Err(Error::Io { path: name, source }),
    }
}
