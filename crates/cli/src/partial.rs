//! The partial report of one shard of `gradproof check --shard K/N`, as a JSON file: the check's
//! settings (enough to rebuild its checker), the model's kind, and the engine's
//! [`gradproof::Partial`] (tensors, fingerprints of θ and of the gradient, per-coordinate
//! numbers). Reads a set of them back for `gradproof merge` and refuses, naming the file, one
//! that is not JSON or truncated, not a partial report, of another version, model, seed,
//! setting or shard count, a shard given twice, and a shard missing. Knows nothing of how a
//! check is computed or a report printed.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use fraudnet::Activation;
use fraudnet::data::shown_path;
use gradproof::{Checker, Mode, Partial, Precision, Reference, StepRule};
use serde::{Deserialize, Serialize};

use crate::output::Files;

/// The `format` field that says a JSON file is a partial report.
pub const FORMAT: &str = "gradproof-partial-report";

/// The version of the file's shape this build writes and reads.
pub const VERSION: u32 = 1;

/// The settings of a check that decide its numbers: every shard of one check has the same, and
/// [`Settings::checker`] builds from them the checker that both `check` and `merge` use.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// `--method`.
    pub method: Reference,
    /// `--seed`.
    pub seed: u32,
    /// `--mode`.
    pub mode: Mode,
    /// `--step`.
    pub step: StepRule,
    /// `--threshold`.
    pub threshold: f64,
    /// `--points`.
    pub points: usize,
    /// `--rtol` and `--atol`, when either is given (the other then 0).
    pub tolerance: Option<(f64, f64)>,
    /// The precision declared: `--precision`, or an `--exec` model's f32.
    pub precision: Option<Precision>,
    /// Not `--no-incremental`.
    pub incremental: bool,
    /// Which model is checked.
    pub model: Model,
}

/// The model of a check, as far as the settings say (the tensors, θ and gradient are
/// fingerprinted in the engine's partial).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Model {
    /// The built-in MLP on random data.
    BuiltIn {
        /// `--layers`.
        layers: Vec<usize>,
        /// `--examples`.
        examples: usize,
        /// `--activation`.
        activation: Activation,
        /// `--l2`.
        l2: f64,
        /// `--dropout`.
        dropout: f64,
        /// `--bug`, as given.
        bugs: Vec<String>,
    },
    /// A model process (`--exec`); its command line may differ from machine to machine.
    Exec,
}

impl Settings {
    /// The checker these settings describe (without a progress callback).
    pub fn checker(&self) -> Checker {
        let checker = Checker::new()
            .reference(self.method)
            .seed(u64::from(self.seed))
            .mode(self.mode)
            .step_rule(self.step)
            .threshold(self.threshold)
            .points(self.points)
            .incremental(self.incremental);
        let checker = match self.precision {
            Some(precision) => checker.precision(precision),
            None => checker,
        };
        match self.tolerance {
            Some((rtol, atol)) => checker.tolerance(rtol, atol),
            None => checker,
        }
    }
}

/// A partial report file's contents.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartialFile {
    /// Always [`FORMAT`].
    pub format: String,
    /// Always [`VERSION`] when written by this build.
    pub version: u32,
    /// The check's settings.
    pub settings: Settings,
    /// What the shard computed.
    pub partial: Partial,
}

impl PartialFile {
    /// The file of one shard.
    pub fn new(settings: Settings, partial: Partial) -> PartialFile {
        PartialFile {
            format: FORMAT.to_string(),
            version: VERSION,
            settings,
            partial,
        }
    }

    /// Its JSON text (floats written shortest-exact, read back to the bit).
    pub fn to_json(&self) -> anyhow::Result<String> {
        Ok(serde_json::to_string(self)? + "\n")
    }
}

/// Reads the partial reports at `paths` (each given to `flag`), and fails, naming the file,
/// unless they are the `N` shards of one check, each once.
pub fn read_all(
    files: &mut Files,
    flag: &'static str,
    paths: &[PathBuf],
) -> anyhow::Result<(Settings, Vec<Partial>)> {
    let mut read = Vec::with_capacity(paths.len());
    for path in paths {
        let mut text = String::new();
        files
            .input(flag, path)?
            .read_to_string(&mut text)
            .with_context(|| format!("{flag} {}", shown_path(path)))?;
        let file = parse(&text).with_context(|| shown_path(path))?;
        read.push((path.as_path(), file));
    }
    let Some((first_path, first)) = read.first() else {
        bail!("{flag}: no partial report given");
    };
    for (path, file) in &read[1..] {
        expect_same_check(first_path, first, path, file)?;
    }
    expect_every_shard_once(&read)?;
    let settings = first.settings.clone();
    Ok((settings, read.into_iter().map(|(_, f)| f.partial).collect()))
}

/// One file's text as a partial report, or why it is not one.
fn parse(text: &str) -> anyhow::Result<PartialFile> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        anyhow::anyhow!(
            "truncated or not JSON (line {}, column {}): {}",
            e.line(),
            e.column(),
            e
        )
    })?;
    if value.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
        bail!("not a partial report of `gradproof check --shard` (no \"format\": \"{FORMAT}\")");
    }
    match value.get("version").and_then(|v| v.as_u64()) {
        Some(v) if v == u64::from(VERSION) => {}
        other => bail!(
            "a partial report of version {}, this gradproof reads version {VERSION}",
            other.map_or_else(|| "(none)".to_string(), |v| v.to_string())
        ),
    }
    serde_json::from_str(text).map_err(|e| anyhow::anyhow!("a malformed partial report: {e}"))
}

/// Fails, naming both files and what differs, unless `file` is a shard of the same check as
/// `first`.
fn expect_same_check(
    first_path: &Path,
    first: &PartialFile,
    path: &Path,
    file: &PartialFile,
) -> anyhow::Result<()> {
    let (here, there) = (shown_path(path), shown_path(first_path));
    if let Some((key, mine, theirs)) = first_difference(&file.settings, &first.settings)? {
        bail!("{here}: a shard of another check: its {key} is {mine}, {there}'s is {theirs}");
    }
    let (mine, theirs) = (&file.partial, &first.partial);
    if mine.shard.count() != theirs.shard.count() {
        bail!(
            "{here}: shard {} of a check split in {}, {there} is shard {} of {}",
            mine.shard,
            mine.shard.count(),
            theirs.shard,
            theirs.shard.count()
        );
    }
    let differs = if mine.tensors != theirs.tensors {
        Some("tensors (names or shapes)")
    } else if mine.points.first().map(|p| &p.theta_sha256)
        != theirs.points.first().map(|p| &p.theta_sha256)
    {
        Some("parameters θ")
    } else if mine.points.first().map(|p| &p.gradient_sha256)
        != theirs.points.first().map(|p| &p.gradient_sha256)
    {
        Some("gradient")
    } else {
        None
    };
    match differs {
        Some(what) => bail!("{here}: a shard of another model: its {what} differ from {there}'s"),
        None => Ok(()),
    }
}

/// The first setting (by its JSON path) in which `mine` differs from `theirs`, with both values.
fn first_difference(
    mine: &Settings,
    theirs: &Settings,
) -> anyhow::Result<Option<(String, String, String)>> {
    let flatten = |s: &Settings| -> anyhow::Result<BTreeMap<String, String>> {
        let mut out = BTreeMap::new();
        flat("", &serde_json::to_value(s)?, &mut out);
        Ok(out)
    };
    let (mine, theirs) = (flatten(mine)?, flatten(theirs)?);
    let keys = mine.keys().chain(theirs.keys());
    let none = || "(none)".to_string();
    Ok(keys
        .filter(|k| mine.get(*k) != theirs.get(*k))
        .min()
        .map(|k| {
            let value = |m: &BTreeMap<String, String>| m.get(k).cloned().unwrap_or_else(none);
            (k.clone(), value(&mine), value(&theirs))
        }))
}

/// `value`'s leaves as `settings.path = json` pairs (`model.built_in.layers`).
fn flat(prefix: &str, value: &serde_json::Value, out: &mut BTreeMap<String, String>) {
    match value {
        serde_json::Value::Object(map) if !map.is_empty() => {
            for (key, inner) in map {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flat(&path, inner, out);
            }
        }
        leaf => {
            out.insert(prefix.to_string(), leaf.to_string());
        }
    }
}

/// Fails, naming the files, when a shard is given twice or one is missing.
fn expect_every_shard_once(read: &[(&Path, PartialFile)]) -> anyhow::Result<()> {
    let count = read[0].1.partial.shard.count();
    let mut holder: Vec<Option<&Path>> = vec![None; count];
    for (path, file) in read {
        let shard = file.partial.shard;
        if let Some(other) = holder[shard.index()].replace(path) {
            let also = if other == *path {
                String::new()
            } else {
                format!(" ({} is shard {shard} too)", shown_path(other))
            };
            bail!("{}: shard {shard} given twice{also}", shown_path(path));
        }
    }
    if let Some(missing) = holder.iter().position(Option::is_none) {
        bail!(
            "shard {missing}/{count} is missing: {} of the {count} partial reports given",
            read.len()
        );
    }
    Ok(())
}
