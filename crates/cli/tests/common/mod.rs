//! Helpers shared by the end-to-end test files: running the binary, reading its output, and
//! editing small CSV texts. Each test file uses some of them.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use sha2::Digest;
use std::process::{Command, Output};

/// Runs `gradproof` with `args` and extra environment variables.
pub fn gradproof_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gradproof"))
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("the binary runs")
}

/// Runs `gradproof` with `args`.
pub fn gradproof(args: &[&str]) -> Output {
    gradproof_env(args, &[])
}

/// A stream's bytes as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A temporary path as an argument.
pub fn s(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 temporary path")
}

/// Asserts the exit code, showing both streams when it is not the expected one.
pub fn expect_code(out: &Output, code: i32, what: &str) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{what}\nstdout:\n{}\nstderr:\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// Replaces field `column` (0-based) of line `line` (0-based; the header is line 0, so data row
/// `r` is line `r`) of a CSV.
pub fn with_field(csv: &str, line: usize, column: usize, value: &str) -> String {
    let mut lines: Vec<String> = csv.lines().map(str::to_string).collect();
    let mut fields: Vec<&str> = lines[line].split(',').collect();
    fields[column] = value;
    lines[line] = fields.join(",");
    lines.join("\n") + "\n"
}

/// The first `n` lines (header included) of a CSV.
pub fn head(csv: &str, n: usize) -> String {
    csv.lines().take(n).map(|l| format!("{l}\n")).collect()
}

/// `gradproof generate` into `dir/name`, which must succeed.
pub fn generate(dir: &Path, name: &str, rows: u64, fraud_rate: f64, seed: u64) -> PathBuf {
    let path = dir.join(name);
    let out = gradproof(&[
        "generate",
        "--rows",
        &rows.to_string(),
        "--fraud-rate",
        &fraud_rate.to_string(),
        "--seed",
        &seed.to_string(),
        "-o",
        s(&path),
    ]);
    expect_code(&out, 0, "generate");
    path
}

/// `gradproof train` (one epoch, one hidden layer of 4) on `data` into `dir/name`, which must
/// succeed.
pub fn train_model(dir: &Path, data: &Path, name: &str) -> PathBuf {
    train_model_with(dir, data, name, &[])
}

/// [`train_model`] with `extra` arguments (e.g. `--features row`).
pub fn train_model_with(dir: &Path, data: &Path, name: &str, extra: &[&str]) -> PathBuf {
    let path = dir.join(name);
    let mut args = vec![
        "train",
        "--data",
        s(data),
        "--out",
        s(&path),
        "--quiet",
        "--epochs",
        "1",
        "--hidden",
        "4",
    ];
    args.extend_from_slice(extra);
    let out = gradproof(&args);
    expect_code(&out, 0, "train");
    path
}

/// Names in `dir` (not recursive), sorted.
pub fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Makes a FIFO at `path`.
pub fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(s(path)).unwrap();
    // SAFETY: a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
}

/// Asserts exit code 2 and one line on stderr containing every fragment; returns the line.
pub fn expect_refusal(out: &Output, fragments: &[&str], what: &str) -> String {
    expect_code(out, 2, what);
    let stderr = text(&out.stderr);
    assert_eq!(stderr.trim_end().lines().count(), 1, "{what}: {stderr}");
    for fragment in fragments {
        assert!(
            stderr.contains(fragment),
            "{what}: {stderr:?} lacks {fragment:?}"
        );
    }
    stderr
}

/// A generated data file and a model trained on it, in a fresh folder.
pub struct Fixture {
    /// The folder (removed when dropped).
    pub dir: tempfile::TempDir,
    /// `pay.csv`: 2000 PaySim rows, 5 % fraud.
    pub data: PathBuf,
    /// `model.json`, trained on `data`.
    pub model: PathBuf,
}

impl Fixture {
    /// Generates the data and trains the model.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let data = generate(dir.path(), "pay.csv", 2000, 0.05, 5);
        let model = train_model(dir.path(), &data, "model.json");
        Fixture { dir, data, model }
    }

    /// `name` in the fixture's folder.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `score --model model --data (the data) -o out`.
    pub fn score(&self, model: &Path, out: &Path) -> Output {
        gradproof(&[
            "score",
            "--model",
            s(model),
            "--data",
            s(&self.data),
            "-o",
            s(out),
        ])
    }

    /// `train --data (the data) --out out --quiet` and `extra`.
    pub fn train(&self, out: &Path, extra: &[&str]) -> Output {
        let mut args = vec!["train", "--data", s(&self.data), "--out", s(out), "--quiet"];
        args.extend(extra);
        gradproof(&args)
    }
}

/// Every path under `dir` (recursively), sorted: a failed run must leave nothing behind.
pub fn listing(dir: &Path) -> Vec<String> {
    let mut names = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path.clone());
            }
            names.push(path.strip_prefix(dir).unwrap().display().to_string());
        }
    }
    names.sort();
    names
}

/// The hex SHA-256 of the compact JSON of `content`, as the model file stores it.
pub fn checksum(content: &serde_json::Value) -> String {
    sha2::Sha256::digest(serde_json::to_vec(content).unwrap())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The repository's root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Says why a test is skipped; fails instead when GRADPROOF_REQUIRE_EXEC_TOOLS=1.
pub fn skip<T>(reason: &str) -> Option<T> {
    assert!(
        std::env::var("GRADPROOF_REQUIRE_EXEC_TOOLS").as_deref() != Ok("1"),
        "{reason}, and GRADPROOF_REQUIRE_EXEC_TOOLS=1"
    );
    eprintln!("skipped: {reason}; `make test` runs it");
    None
}

/// clients/c/examples/NAME.c built with `cc` (C99, every warning an error) into `dir`; None
/// (skipped, see [`skip`]) without a `cc`.
pub fn build_c(name: &str, dir: &Path) -> Option<PathBuf> {
    let clients = root().join("clients/c");
    let binary = dir.join(name);
    let built = Command::new("cc")
        .args([
            "-std=c99",
            "-pedantic",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-O2",
            "-I",
        ])
        .arg(&clients)
        .arg(clients.join(format!("examples/{name}.c")))
        .arg("-o")
        .arg(&binary)
        .arg("-lm")
        .output();
    match built {
        Err(e) => skip(&format!("no C compiler `cc`: {e}")),
        Ok(out) => {
            assert!(out.status.success(), "cc {name}.c: {}", text(&out.stderr));
            Some(binary)
        }
    }
}
