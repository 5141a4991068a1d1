//! The trained fraud model as a file: versioned JSON holding the architecture, the weights, the
//! standardiser, the feature schema, the decision threshold and how the model was trained, with
//! a SHA-256 checksum of its content. Saving is atomic (a temporary file in the same directory,
//! flushed to disk, then renamed over the old one), so an interrupted save never leaves a
//! half-written model; loading validates everything and says precisely what is wrong.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use gradproof::{TensorSpec, Tensors};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::data::{FeatureSet, HISTORY_VERSION, Schema, Standardizer};
use crate::error::{Error, Result};
use crate::model::{Activation, Mlp};

/// What the file says it is, so that another JSON file is refused at once.
pub const FORMAT: &str = "gradproof-fraud-model";
/// The format version this build writes and reads.
pub const VERSION: u32 = 1;
/// The largest model file read, in bytes (about 2.5 million parameters): a larger file, or an
/// endless stream, is refused after reading this much.
pub const MAX_MODEL_BYTES: u64 = 64 * 1024 * 1024;
/// The most layers (hidden and output) a model file may have.
pub const MAX_LAYERS: usize = 64;
/// How many names an error message lists before counting the rest.
const NAMES_SHOWN: usize = 4;

/// A trained fraud model: everything needed to score a raw payment row.
#[derive(Clone, Debug, PartialEq)]
pub struct FraudModel {
    /// The network (architecture, activation, class weight, L2).
    pub mlp: Mlp,
    /// Its trained parameters.
    pub theta: Tensors,
    /// The feature standardiser fitted on the training split.
    pub scaler: Standardizer,
    /// The data schema the model reads.
    pub schema: Schema,
    /// The features it reads: per-row, or followed by account history (recorded in the file
    /// with [`HISTORY_VERSION`]; a file without them is per-row).
    pub feature_set: FeatureSet,
    /// Flag a payment when its probability is at least this.
    pub threshold: f64,
    /// How the model was made (free-form JSON: settings, history, metrics).
    pub training: serde_json::Value,
}

/// Whether `set` is the per-row set, which files leave out (as they did before history).
fn is_per_row(set: &FeatureSet) -> bool {
    *set == FeatureSet::Row
}

/// The file as stored: a header, a checksum and the content it covers.
#[derive(Serialize, Deserialize)]
struct Envelope {
    format: String,
    version: u32,
    /// Hex SHA-256 of the compact JSON of `content`.
    sha256: String,
    content: serde_json::Value,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Content {
    architecture: Architecture,
    parameters: Vec<Parameter>,
    scaler: ScalerFields,
    schema: Schema,
    /// Absent (per-row) in files written before history features existed.
    #[serde(default, skip_serializing_if = "is_per_row")]
    feature_set: FeatureSet,
    /// The version of the history features' definitions, for a history model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    history_version: Option<u32>,
    features: Vec<String>,
    threshold: f64,
    training: serde_json::Value,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Architecture {
    sizes: Vec<usize>,
    activation: Activation,
    positive_weight: f64,
    l2: f64,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Parameter {
    name: String,
    shape: Vec<usize>,
    values: Vec<f64>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScalerFields {
    mean: Vec<f64>,
    std: Vec<f64>,
}

impl FraudModel {
    /// Checks that the parts fit together: the network reads the schema's features, the scaler
    /// has one entry per feature, the weights are finite, the threshold is a probability.
    pub fn validate(&self) -> Result<()> {
        let invalid = |reason: String| Err(Error::InvalidSetting(reason));
        self.feature_set.check(self.schema)?;
        let features = self.n_features();
        let set = self.feature_set;
        if self.mlp.sizes()[0] != features {
            return invalid(format!(
                "the network reads {} features but the {} schema has {features} ({set} features)",
                self.mlp.sizes()[0],
                self.schema
            ));
        }
        if self.scaler.n_features() != features {
            return invalid(format!(
                "the standardiser has {} features but the {} schema has {features} ({set} \
                 features)",
                self.scaler.n_features(),
                self.schema
            ));
        }
        self.mlp.layout().expect_same(self.theta.layout())?;
        self.theta.expect_finite("model parameters")?;
        if !(0.0..=1.0).contains(&self.threshold) {
            return invalid(format!(
                "the threshold must be a probability in [0, 1], got {}",
                self.threshold
            ));
        }
        Ok(())
    }

    /// The length of the feature vector the model reads.
    pub fn n_features(&self) -> usize {
        self.feature_set.n_features(self.schema)
    }

    /// The model as the JSON text of a model file.
    pub fn to_json(&self) -> Result<String> {
        self.validate()?;
        let parameters = self
            .mlp
            .layout()
            .tensors()
            .iter()
            .enumerate()
            .map(|(k, spec)| Parameter {
                name: spec.name.clone(),
                shape: spec.shape.clone(),
                values: self.theta.values()[self.mlp.layout().range(k)].to_vec(),
            })
            .collect();
        let content = Content {
            architecture: Architecture {
                sizes: self.mlp.sizes().to_vec(),
                activation: self.mlp.activation(),
                positive_weight: self.mlp.positive_weight(),
                l2: self.mlp.l2(),
            },
            parameters,
            scaler: ScalerFields {
                mean: self.scaler.mean().to_vec(),
                std: self.scaler.std().to_vec(),
            },
            schema: self.schema,
            feature_set: self.feature_set,
            history_version: self.feature_set.has_history().then_some(HISTORY_VERSION),
            features: self
                .feature_set
                .feature_names(self.schema)
                .iter()
                .map(|s| s.to_string())
                .collect(),
            threshold: self.threshold,
            training: self.training.clone(),
        };
        let content = serde_json::to_value(content).map_err(|e| model_error("<memory>", e))?;
        let envelope = Envelope {
            format: FORMAT.to_string(),
            version: VERSION,
            sha256: checksum(&content),
            content,
        };
        serde_json::to_string_pretty(&envelope).map_err(|e| model_error("<memory>", e))
    }

    /// Reads a model from the JSON text of a model file; `path` names it in errors.
    pub fn from_json(text: &str, path: &str) -> Result<Self> {
        let refuse = |reason: String| Error::ModelFile {
            path: path.to_string(),
            reason,
        };
        let envelope: Envelope = serde_json::from_str(text).map_err(|e| {
            refuse(if e.is_eof() {
                format!("truncated: the JSON ends early ({e})")
            } else {
                format!("not a model file: {e}")
            })
        })?;
        if envelope.format != FORMAT {
            return Err(refuse(format!(
                "format is '{}', expected '{FORMAT}'",
                envelope.format
            )));
        }
        if envelope.version != VERSION {
            return Err(refuse(format!(
                "format version {} is not supported (this build reads version {VERSION}{})",
                envelope.version,
                if envelope.version > VERSION {
                    ": the file was written by a newer gradproof"
                } else {
                    ""
                }
            )));
        }
        let found = checksum(&envelope.content);
        if found != envelope.sha256 {
            return Err(refuse(format!(
                "checksum mismatch: the content hashes to {found} but the file says {}; it was \
                 edited or damaged after it was written",
                envelope.sha256
            )));
        }
        let content: Content = serde_json::from_value(envelope.content)
            .map_err(|e| refuse(format!("bad content: {e}")))?;
        let a = content.architecture;
        if a.sizes.len() > MAX_LAYERS + 1 {
            return Err(refuse(format!(
                "{} layers, more than {MAX_LAYERS} (the limit)",
                a.sizes.len().saturating_sub(1)
            )));
        }
        let mlp = Mlp::new(&a.sizes)
            .and_then(|m| m.with_positive_weight(a.positive_weight))
            .and_then(|m| m.with_l2(a.l2))
            .map_err(|e| refuse(e.to_string()))?
            .with_activation(a.activation);
        let layout = mlp.layout();
        let names: Vec<&str> = content.parameters.iter().map(|p| p.name.as_str()).collect();
        if names != layout.names() {
            return Err(refuse(format!(
                "parameters {} do not match the architecture's {}",
                few(&names),
                few(&layout.names())
            )));
        }
        let mut values = Vec::with_capacity(layout.len());
        for (p, spec) in content.parameters.iter().zip(layout.tensors()) {
            let expected = TensorSpec::new(spec.name.clone(), spec.shape.clone());
            if p.shape != expected.shape || p.values.len() != spec.shape.iter().product::<usize>() {
                return Err(refuse(format!(
                    "{} has shape {:?} and {} values; the architecture needs {:?}",
                    p.name,
                    p.shape,
                    p.values.len(),
                    spec.shape
                )));
            }
            if let Some(i) = p.values.iter().position(|v| !v.is_finite()) {
                return Err(refuse(format!("{} value {i} is not finite", p.name)));
            }
            values.extend(&p.values);
        }
        let theta = Tensors::new(layout.clone(), values).map_err(|e| refuse(e.to_string()))?;
        if content.feature_set.has_history() && content.history_version != Some(HISTORY_VERSION) {
            return Err(refuse(format!(
                "its history features are version {}, this build computes version \
                 {HISTORY_VERSION}: they would be computed differently",
                content
                    .history_version
                    .map_or_else(|| "(none)".to_string(), |v| v.to_string())
            )));
        }
        let expected: Vec<&str> = content.feature_set.feature_names(content.schema);
        if content.features != expected {
            return Err(refuse(format!(
                "features {} are not the {} schema's {}: the model was made for other data",
                few(&content
                    .features
                    .iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>()),
                content.schema,
                few(&expected)
            )));
        }
        let scaler = Standardizer::new(content.scaler.mean, content.scaler.std)
            .map_err(|e| refuse(e.to_string()))?;
        let model = FraudModel {
            mlp,
            theta,
            scaler,
            schema: content.schema,
            feature_set: content.feature_set,
            threshold: content.threshold,
            training: content.training,
        };
        model.validate().map_err(|e| refuse(e.to_string()))?;
        Ok(model)
    }

    /// Writes the model to `path` atomically: a reader of `path` sees the old model or the new
    /// one, whole, never a mixture, even if the process dies midway.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let text = self.to_json()?;
        write_atomically(path.as_ref(), text.as_bytes(), || Ok(()))
    }

    /// Reads and validates a model file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let file = fs::File::open(path).map_err(|source| Error::Io {
            path: name.clone(),
            source,
        })?;
        Self::read_from(file, &name)
    }

    /// Reads and validates a model from `reader`, named `name` in errors, reading at most
    /// [`MAX_MODEL_BYTES`] (+1 to tell a larger file).
    pub fn read_from(reader: impl io::Read, name: &str) -> Result<Self> {
        let mut bytes = Vec::new();
        reader
            .take(MAX_MODEL_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|source| Error::Io {
                path: name.to_string(),
                source,
            })?;
        let refuse = |reason: String| Error::ModelFile {
            path: name.to_string(),
            reason,
        };
        if bytes.len() as u64 > MAX_MODEL_BYTES {
            return Err(refuse(format!(
                "larger than {MAX_MODEL_BYTES} bytes (the limit of a model file)"
            )));
        }
        let text = String::from_utf8(bytes).map_err(|e| {
            refuse(format!(
                "not a model file: not UTF-8 text (byte {})",
                e.utf8_error().valid_up_to()
            ))
        })?;
        Self::from_json(&text, name)
    }

    /// The probability of fraud for each example (column) of already standardised features.
    pub fn predict(&self, x: ndarray::ArrayView2<'_, f64>) -> Result<Vec<f64>> {
        self.mlp.predict(self.theta.values(), x)
    }
}

/// The first few of `names` and how many more, for a short message.
fn few(names: &[&str]) -> String {
    let shown: Vec<&str> = names.iter().take(NAMES_SHOWN).copied().collect();
    match names.len().saturating_sub(NAMES_SHOWN) {
        0 => format!("{shown:?}"),
        more => format!("{shown:?} and {more} more"),
    }
}

/// The hex SHA-256 of the compact JSON of `content`.
fn checksum(content: &serde_json::Value) -> String {
    let bytes = serde_json::to_vec(content).expect("a JSON value serialises");
    Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn model_error(path: &str, error: serde_json::Error) -> Error {
    Error::ModelFile {
        path: path.to_string(),
        reason: error.to_string(),
    }
}

/// Writes `bytes` to `path` as [`write_atomically_with`] does.
pub(crate) fn write_atomically(
    path: &Path,
    bytes: &[u8],
    before_rename: impl FnOnce() -> std::io::Result<()>,
) -> Result<()> {
    let shown = path.display().to_string();
    write_atomically_with(
        path,
        |out| {
            out.write_all(bytes).map_err(|source| Error::Io {
                path: shown.clone(),
                source,
            })
        },
        before_rename,
    )
}

/// The library's one atomic writer (the command line has its own output module): `write`
/// fills a temporary file next to `path`, which is flushed to disk, then `before_rename` runs (a
/// test hook: an error there is an interrupted save), then the temporary is renamed over `path`
/// and the folder synced. On any failure the temporary file is removed and `path` is untouched.
pub(crate) fn write_atomically_with<T>(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> Result<T>,
    before_rename: impl FnOnce() -> std::io::Result<()>,
) -> Result<T> {
    let io_error = |source| Error::Io {
        path: path.display().to_string(),
        source,
    };
    let temporary = temporary_path(path);
    let result = (|| {
        let file = fs::File::create(&temporary).map_err(io_error)?;
        let mut out = io::BufWriter::with_capacity(1 << 16, file);
        let value = write(&mut out)?;
        let file = out.into_inner().map_err(|e| io_error(e.into_error()))?;
        file.sync_all().map_err(io_error)?;
        before_rename().map_err(io_error)?;
        fs::rename(&temporary, path).map_err(io_error)?;
        // Make the rename itself durable where directories can be synced.
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
            && let Ok(dir) = fs::File::open(dir)
        {
            let _ = dir.sync_all();
        }
        Ok(value)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    result
}

/// `dir/.gradproof-tmp.NAME`: in the same directory, so the rename cannot cross file systems,
/// and one well-known name per output (the command line's too), so that the temporary of a
/// killed run is reclaimed by the next write instead of piling up.
fn temporary_path(path: &Path) -> PathBuf {
    let mut name = std::ffi::OsString::from(".gradproof-tmp.");
    name.push(path.file_name().unwrap_or_else(|| "model".as_ref()));
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_interrupted_save_leaves_the_previous_file_whole_and_no_temporary_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.json");
        write_atomically(&path, b"old model", || Ok(())).unwrap();
        let crash = || Err(std::io::Error::other("simulated crash before the rename"));
        let error = write_atomically(&path, b"new model, half", crash).unwrap_err();
        assert!(error.to_string().contains("simulated crash"), "{error}");
        assert_eq!(fs::read(&path).unwrap(), b"old model");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["model.json"]);
        // A directory that does not exist: an I/O error naming the path, nothing written.
        let missing = dir.path().join("no/such/dir/model.json");
        let error = write_atomically(&missing, b"x", || Ok(())).unwrap_err();
        assert!(
            error.to_string().contains("no/such/dir/model.json"),
            "{error}"
        );
    }
}
