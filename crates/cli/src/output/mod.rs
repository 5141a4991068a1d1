//! Every file a command reads or writes, in one place, so that no run destroys what is not its
//! own. Inputs are opened first; then each output is classified before any work: a regular file
//! (or a new one) is replaced through a staged temporary beside it (`.gradproof-tmp.NAME`, one
//! well-known name per output, so that a killed run's leftover is reclaimed by the next run),
//! which keeps the replaced file's permission bits, is flushed to disk and renamed into place
//! with its folder synced; a symbolic link is followed and its target replaced; a FIFO, a
//! character device or `-` (standard output) is written straight through; anything else is
//! refused with the flag named. An output that is the same file as an input (same device and
//! inode, through links too) is refused before any work. All staged outputs of a command are
//! renamed into place together at the end ([`Files::commit`]), or none: a failure, or SIGINT,
//! SIGTERM or SIGHUP, removes the temporaries. Knows nothing of what the files hold.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use fraudnet::data::shown_path;

mod system;
mod target;

use system::{free_bytes, install_signal_cleanup};
use target::{Target, classify, folder_of, remove_if_present};

/// The prefix of a staged output's temporary name, beside its destination.
pub const TEMPORARY_PREFIX: &str = ".gradproof-tmp.";

/// An output declared with [`Files::output`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutputId(usize);

/// The inputs opened and the outputs declared by one command.
#[derive(Debug, Default)]
pub struct Files {
    inputs: Vec<Input>,
    outputs: Vec<Output>,
    /// Folders this run created (for pictures), removed again if they stay empty.
    created_folders: Vec<PathBuf>,
}

#[derive(Debug)]
struct Input {
    flag: &'static str,
    path: PathBuf,
    id: (u64, u64),
}

#[derive(Debug)]
struct Output {
    flag: &'static str,
    path: PathBuf,
    target: Target,
    /// The (device, inode) of the destination when it exists.
    id: Option<(u64, u64)>,
    state: State,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Declared,
    Staged,
    Finished,
}

/// Where an output's bytes go while it is written: [`Files::finish`] it when done.
pub enum Sink {
    /// A staged temporary, a FIFO or a device.
    File(BufWriter<File>),
    /// Standard output.
    Stdout(io::Stdout),
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sink::File(file) => file.write(buf),
            Sink::Stdout(out) => out.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::File(file) => file.flush(),
            Sink::Stdout(out) => out.flush(),
        }
    }
}

impl Files {
    /// No files yet; installs the signal handler that removes staged temporaries.
    pub fn new() -> Self {
        install_signal_cleanup();
        Files::default()
    }

    /// Opens the input `path`, given as `flag`. Open every input before declaring an output.
    pub fn input(&mut self, flag: &'static str, path: &Path) -> anyhow::Result<File> {
        let shown = shown_path(path);
        let file = File::open(path).with_context(|| format!("{flag} {shown}"))?;
        let meta = file.metadata().with_context(|| format!("{flag} {shown}"))?;
        if meta.is_dir() {
            bail!("{flag} {shown}: is a folder, expected a file");
        }
        self.inputs.push(Input {
            flag,
            path: path.to_path_buf(),
            id: (meta.dev(), meta.ino()),
        });
        Ok(file)
    }

    /// Declares the output `path`, given as `flag`: classifies it, refuses it when it is an
    /// input or another output, or cannot be written, and creates nothing yet.
    pub fn output(&mut self, flag: &'static str, path: &Path) -> anyhow::Result<OutputId> {
        let shown = shown_path(path);
        let (target, id) = classify(flag, path, &shown)?;
        if let Some(id) = id
            && let Some(input) = self.inputs.iter().find(|i| i.id == id)
        {
            bail!(
                "{flag} {shown} is the same file as {} {}: refusing to overwrite an input",
                input.flag,
                shown_path(&input.path)
            );
        }
        let dest = match &target {
            Target::Replace { dest, .. } | Target::Through { dest } => Some(dest),
            Target::Stdout => None,
        };
        if let Some(other) = self
            .outputs
            .iter()
            .find(|o| (id.is_some() && o.id == id) || (dest.is_some() && o.target_dest() == dest))
        {
            bail!(
                "{flag} {shown} is the same file as {} {}: each output needs its own file",
                other.flag,
                shown_path(&other.path)
            );
        }
        if let Target::Replace { temporary, .. } = &target {
            // Reclaims a temporary a killed run left behind, and proves the folder writable
            // (with a probe of its own name, so that the temporary appears only when written).
            let mut probe = temporary.clone().into_os_string();
            probe.push(".probe");
            remove_if_present(temporary)
                .and_then(|()| File::create(&probe).map(drop))
                .and_then(|()| fs::remove_file(&probe))
                .with_context(|| format!("{flag} {shown}: cannot write into its folder"))?;
        }
        self.outputs.push(Output {
            flag,
            path: path.to_path_buf(),
            target,
            id,
            state: State::Declared,
        });
        Ok(OutputId(self.outputs.len() - 1))
    }

    /// Declares the file `name` inside the folder `dir` (given as `flag`), which may not exist
    /// yet when its parent does: it is created when the file is staged.
    pub fn output_in(
        &mut self,
        flag: &'static str,
        dir: &Path,
        name: &str,
    ) -> anyhow::Result<OutputId> {
        let shown = shown_path(dir);
        match fs::metadata(dir) {
            Ok(meta) if meta.is_dir() => self.output(flag, &dir.join(name)),
            Ok(_) => bail!("{flag} {shown}: exists and is not a folder"),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let parent = folder_of(dir);
                if !parent.is_dir() {
                    bail!(
                        "{flag} {shown}: the folder {} does not exist",
                        shown_path(parent)
                    );
                }
                // A file in a folder still to be made is no input and no other output.
                self.outputs.push(Output {
                    flag,
                    path: dir.join(name),
                    target: Target::Replace {
                        dest: dir.join(name),
                        temporary: dir.join(format!("{TEMPORARY_PREFIX}{name}")),
                        permissions: None,
                    },
                    id: None,
                    state: State::Declared,
                });
                Ok(OutputId(self.outputs.len() - 1))
            }
            Err(e) => Err(e).with_context(|| format!("{flag} {shown}")),
        }
    }

    /// Fails unless the folder of `id` has `bytes` free (when it is staged beside its file).
    pub fn ensure_space(&self, id: OutputId, bytes: u64) -> anyhow::Result<()> {
        let output = &self.outputs[id.0];
        let Target::Replace { dest, .. } = &output.target else {
            return Ok(());
        };
        let Some(free) = free_bytes(folder_of(dest)) else {
            return Ok(());
        };
        if free < bytes {
            bail!(
                "{} {}: needs about {bytes} bytes but its file system has {free} free",
                output.flag,
                shown_path(&output.path)
            );
        }
        Ok(())
    }

    /// Starts writing `id`: creates its staged temporary (with the replaced file's permission
    /// bits, or the umask's for a new file), or opens the FIFO or device.
    pub fn create(&mut self, id: OutputId) -> anyhow::Result<Sink> {
        let output = &mut self.outputs[id.0];
        let shown = shown_path(&output.path);
        let flag = output.flag;
        let sink = match &output.target {
            Target::Stdout => Sink::Stdout(io::stdout()),
            Target::Through { dest } => {
                let file = fs::OpenOptions::new()
                    .write(true)
                    .open(dest)
                    .with_context(|| format!("{flag} {shown}"))?;
                Sink::File(BufWriter::with_capacity(1 << 16, file))
            }
            Target::Replace {
                dest,
                temporary,
                permissions,
            } => {
                let folder = folder_of(dest);
                if !folder.exists() {
                    fs::create_dir(folder).with_context(|| format!("{flag} {shown}"))?;
                    self.created_folders.push(folder.to_path_buf());
                }
                remove_if_present(temporary).with_context(|| format!("{flag} {shown}"))?;
                system::staged().push(temporary.clone());
                let file = fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(temporary)
                    .with_context(|| format!("{flag} {shown}: cannot create its temporary"))?;
                if let Some(permissions) = permissions {
                    file.set_permissions(permissions.clone())
                        .with_context(|| format!("{flag} {shown}"))?;
                }
                Sink::File(BufWriter::with_capacity(1 << 16, file))
            }
        };
        output.state = State::Staged;
        Ok(sink)
    }

    /// Ends writing `id`: flushes `sink`, and a staged temporary to disk.
    pub fn finish(&mut self, id: OutputId, sink: Sink) -> anyhow::Result<()> {
        let output = &mut self.outputs[id.0];
        let context = || format!("{} {}", output.flag, shown_path(&output.path));
        match sink {
            Sink::Stdout(mut out) => out.flush().with_context(context)?,
            Sink::File(file) => {
                let file = file
                    .into_inner()
                    .map_err(|e| e.into_error())
                    .with_context(context)?;
                if matches!(output.target, Target::Replace { .. }) {
                    file.sync_all().with_context(context)?;
                }
            }
        }
        output.state = State::Finished;
        Ok(())
    }

    /// Writes the whole of `id` from `bytes`.
    pub fn write(&mut self, id: OutputId, bytes: &[u8]) -> anyhow::Result<()> {
        let mut sink = self.create(id)?;
        let output = &self.outputs[id.0];
        sink.write_all(bytes)
            .with_context(|| format!("{} {}", output.flag, shown_path(&output.path)))?;
        self.finish(id, sink)
    }

    /// Renames every staged output into place and syncs their folders. Every declared output
    /// must be finished.
    pub fn commit(mut self) -> anyhow::Result<()> {
        if let Some(output) = self.outputs.iter().find(|o| o.state != State::Finished) {
            bail!(
                "{} {}: not written (an internal error)",
                output.flag,
                shown_path(&output.path)
            );
        }
        let mut folders = HashSet::new();
        for output in &self.outputs {
            if let Target::Replace {
                dest, temporary, ..
            } = &output.target
            {
                fs::rename(temporary, dest)
                    .with_context(|| format!("{} {}", output.flag, shown_path(&output.path)))?;
                folders.insert(folder_of(dest).to_path_buf());
            }
        }
        // The renames themselves made durable.
        for folder in folders {
            if let Ok(dir) = File::open(&folder) {
                let _ = dir.sync_all();
            }
        }
        self.release(false);
        Ok(())
    }

    /// Forgets the staged temporaries, removing them (and folders made for them) when
    /// `remove`.
    fn release(&mut self, remove: bool) {
        let mut staged = system::staged();
        for output in &mut self.outputs {
            if let Target::Replace { temporary, .. } = &output.target {
                if remove && output.state != State::Declared {
                    let _ = fs::remove_file(temporary);
                }
                staged.retain(|p| p != temporary);
            }
            output.state = State::Declared;
        }
        for folder in self.created_folders.drain(..) {
            if remove {
                // Only when empty: nothing but this run's temporaries was in it.
                let _ = fs::remove_dir(folder);
            }
        }
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        self.release(true);
    }
}

impl Output {
    fn target_dest(&self) -> Option<&PathBuf> {
        match &self.target {
            Target::Replace { dest, .. } | Target::Through { dest } => Some(dest),
            Target::Stdout => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn staged_outputs_are_committed_together_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.json"), dir.path().join("b.png"));
        fs::write(&a, "old a").unwrap();
        // A failure after one output is written: neither is replaced, nothing is left.
        let mut files = Files::new();
        let (id_a, _id_b) = (
            files.output("--out", &a).unwrap(),
            files.output("--plot", &b).unwrap(),
        );
        files.write(id_a, b"new a").unwrap();
        assert!(files.commit().is_err(), "b was never written");
        assert_eq!(fs::read(&a).unwrap(), b"old a");
        assert_eq!(names(dir.path()), ["a.json"]);
        // Both written: both replaced, no temporary left.
        let mut files = Files::new();
        let (id_a, id_b) = (
            files.output("--out", &a).unwrap(),
            files.output("--plot", &b).unwrap(),
        );
        files.write(id_a, b"new a").unwrap();
        files.write(id_b, b"new b").unwrap();
        files.commit().unwrap();
        assert_eq!(fs::read(&a).unwrap(), b"new a");
        assert_eq!(names(dir.path()), ["a.json", "b.png"]);
        // The same file twice is refused.
        let mut files = Files::new();
        files.output("--out", &a).unwrap();
        let error = files.output("--plot", &a).unwrap_err().to_string();
        assert!(error.contains("each output needs its own file"), "{error}");
    }

    #[test]
    fn a_stale_temporary_is_reclaimed() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("scores.csv");
        fs::write(
            dir.path().join(".gradproof-tmp.scores.csv"),
            "left by a kill",
        )
        .unwrap();
        let mut files = Files::new();
        let id = files.output("--out", &out).unwrap();
        assert_eq!(names(dir.path()), Vec::<String>::new());
        files.write(id, b"scores").unwrap();
        files.commit().unwrap();
        assert_eq!(names(dir.path()), ["scores.csv"]);
    }
}
