//! A Parquet payment file cut at its row groups, so that the groups can be decoded on several
//! threads and their results put back in file order (as [`CsvChunks`](crate::data::CsvChunks)
//! cut a CSV file): the footer is read and the columns checked once; each
//! [`ParquetGroup`] then reads its own rows with a [`ParquetReader`] of its group alone, its rows
//! numbered, checked and refused as in a reading of the whole file. The file is shared by
//! positional reads, which no thread's reading disturbs. Per-row features only: history features
//! need the rows in order, on one thread. Knows nothing of models.

use std::fs::File;
use std::io;
use std::sync::Arc;

use bytes::Bytes;
use parquet::arrow::arrow_reader::ArrowReaderMetadata;
use parquet::errors::ParquetError;
use parquet::file::reader::{ChunkReader, Length};

use super::super::schema::Schema;
use super::read::{ParquetReader, load_metadata};
use super::whole_file;
use crate::{Error, Result};

/// A Parquet payment file read row group by row group; see the module docs.
///
/// ```
/// use fraudnet::data::{ParquetGroups, RowSource, Schema, generate_parquet};
/// let mut rng = <rand::rngs::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(1);
/// let (_, file) = generate_parquet(100, 0.05, &mut rng, tempfile::tempfile()?, "mem.parquet")?;
/// let mut groups = ParquetGroups::new(file, "mem.parquet", Schema::PaySim)?;
/// let mut features = vec![0.0; Schema::PaySim.n_features()];
/// let mut rows = 0;
/// while let Some(group) = groups.next_group() {
///     let mut reader = group.reader()?;
///     while let Some(info) = reader.read_into(&mut features)? {
///         rows += 1;
///         assert_eq!(info.row, rows);
///     }
/// }
/// assert_eq!(rows, 100);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ParquetGroups {
    shared: Arc<Shared>,
    /// The next group handed out, and the rows before it.
    next: usize,
    rows_before: u64,
    /// Told each group's rows as it is handed out (see [`ParquetGroups::with_progress`]).
    progress: Option<Box<dyn FnMut(u64) + Send>>,
}

/// What the groups of one file share.
struct Shared {
    file: SharedFile,
    metadata: ArrowReaderMetadata,
    name: String,
    schema: Schema,
    has_labels: bool,
}

/// One row group of a [`ParquetGroups`] file, to read on any thread.
pub struct ParquetGroup {
    shared: Arc<Shared>,
    group: usize,
    rows_before: u64,
}

impl ParquetGroups {
    /// Reads the footer of `file` (named `name` in errors) and checks its columns, as
    /// [`ParquetReader::new`].
    ///
    /// # Errors
    /// Those of [`ParquetReader::new`].
    pub fn new(file: File, name: impl Into<String>, schema: Schema) -> Result<Self> {
        let name = name.into();
        let file = SharedFile(Arc::new(file));
        let metadata = load_metadata(&file, &name)?;
        // A reader of the whole file checks the columns (and finds the label) as a reading of
        // the whole file would; it decodes nothing until asked.
        let whole = ParquetReader::from_metadata(
            file.clone(),
            metadata.clone(),
            name.clone(),
            schema,
            None,
            None,
        )?;
        let has_labels = super::super::source::RowSource::has_labels(&whole);
        Ok(ParquetGroups {
            shared: Arc::new(Shared {
                file,
                metadata,
                name,
                schema,
                has_labels,
            }),
            next: 0,
            rows_before: 0,
            progress: None,
        })
    }

    /// The groups, telling `rows(n)` the `n` rows of each group as it is handed out (at most a
    /// few groups per thread ahead of the work done on them): a caller's progress.
    pub fn with_progress(self, rows: impl FnMut(u64) + Send + 'static) -> Self {
        ParquetGroups {
            progress: Some(Box::new(rows)),
            ..self
        }
    }

    /// The file's number of rows, from its footer.
    pub fn rows(&self) -> u64 {
        u64::try_from(self.shared.metadata.metadata().file_metadata().num_rows()).unwrap_or(0)
    }

    /// The file's name as used in error messages.
    pub fn file(&self) -> &str {
        &self.shared.name
    }

    /// The schema rows are parsed with.
    pub fn schema(&self) -> Schema {
        self.shared.schema
    }

    /// Whether the file has a label column.
    pub fn has_labels(&self) -> bool {
        self.shared.has_labels
    }

    /// An error about the file's columns (a label column that is missing), as
    /// [`ParquetReader`]'s.
    pub fn columns_error(&self, message: String) -> Error {
        whole_file(&self.shared.name, message)
    }

    /// The next row group, or `None` after the last.
    pub fn next_group(&mut self) -> Option<ParquetGroup> {
        let groups = self.shared.metadata.metadata().row_groups();
        let group = groups.get(self.next)?;
        let part = ParquetGroup {
            shared: Arc::clone(&self.shared),
            group: self.next,
            rows_before: self.rows_before,
        };
        self.next += 1;
        let rows = u64::try_from(group.num_rows()).unwrap_or(0);
        self.rows_before += rows;
        if let Some(progress) = &mut self.progress {
            progress(rows);
        }
        Some(part)
    }
}

impl ParquetGroup {
    /// A reader of the group's rows, numbered as in the whole file.
    ///
    /// # Errors
    /// [`Error::Parquet`](crate::Error::Parquet) when the group cannot be read.
    pub fn reader(&self) -> Result<ParquetReader> {
        let shared = &*self.shared;
        ParquetReader::from_metadata(
            shared.file.clone(),
            shared.metadata.clone(),
            shared.name.clone(),
            shared.schema,
            None,
            Some((self.group, self.rows_before)),
        )
    }

    /// Rows of the file before the group's first.
    pub fn rows_before(&self) -> u64 {
        self.rows_before
    }
}

/// A file read at given offsets (`pread`), so that readers on several threads share it without
/// sharing a position, as `File`'s own [`ChunkReader`] (a clone that seeks) would.
#[derive(Clone)]
struct SharedFile(Arc<File>);

/// A reader of a [`SharedFile`] from an offset on.
struct SharedFileReader {
    file: Arc<File>,
    offset: u64,
}

impl Length for SharedFile {
    fn len(&self) -> u64 {
        self.0.metadata().map_or(0, |m| m.len())
    }
}

impl ChunkReader for SharedFile {
    type T = io::BufReader<SharedFileReader>;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        Ok(io::BufReader::new(SharedFileReader {
            file: Arc::clone(&self.0),
            offset: start,
        }))
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        let mut buffer = vec![0; length];
        let read = read_fully_at(&self.0, &mut buffer, start)?;
        if read != length {
            // The words of `File`'s own reader.
            return Err(ParquetError::EOF(format!(
                "Expected to read {length} bytes, read only {read}"
            )));
        }
        Ok(buffer.into())
    }
}

impl io::Read for SharedFileReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = read_at(&self.file, buf, self.offset)?;
        self.offset += n as u64;
        Ok(n)
    }
}

#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, offset)
}

#[cfg(windows)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(file, buf, offset)
}

/// Reads into `buf` from `offset` on until it is full or the file ends; the bytes read.
fn read_fully_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut read = 0;
    while read < buf.len() {
        match read_at(file, &mut buf[read..], offset + read as u64) {
            Ok(0) => break,
            Ok(n) => read += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(read)
}
