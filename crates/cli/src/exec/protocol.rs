//! The bytes of gradproof-protocol 1 (docs/protocol.md): the model's handshake line, the
//! one-byte tags, and float frames (a little-endian `u64` count, then the floats, little-endian,
//! in the model's dtype). Pure encoding and decoding: knows nothing of processes, threads,
//! timeouts or the checking engine.

use gradproof::{Layout, Precision, TensorSpec};
use serde::Deserialize;

/// The version string a model must declare in its handshake.
pub const VERSION: &str = "gradproof-protocol 1";

/// The longest handshake line accepted, in bytes (a model declaring millions of tensors is
/// more likely writing garbage).
pub const MAX_HANDSHAKE: usize = 1 << 20;

/// The most parameter values a model may declare (1 GiB of `f64` per frame of θ).
pub const MAX_VALUES: usize = 1 << 27;

/// The longest error message a model may send, in bytes.
pub const MAX_MESSAGE: usize = 1 << 16;

/// Request: the cost `J(θ)`, answered by a frame of one float.
pub const COST: u8 = b'C';
/// Request: the gradient `∇J(θ)`, answered by a frame of as many floats as θ.
pub const GRADIENT: u8 = b'G';
/// Request: the cost and its piece signature (only to a model that declared `signatures`),
/// answered by a frame of one float and then a little-endian `u64`.
pub const SIGNATURE: u8 = b'S';
/// Answer: a result follows.
pub const RESULT: u8 = b'R';
/// Answer: the model failed; a little-endian `u32` length and a UTF-8 message follow.
pub const ERROR: u8 = b'E';

/// Bytes of a frame's count, and of a signature.
pub const WORD: usize = 8;

/// The float type of every frame, both ways.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dtype {
    /// IEEE double precision, 8 bytes.
    F64,
    /// IEEE single precision, 4 bytes.
    F32,
}

impl Dtype {
    /// Bytes per float.
    pub fn width(self) -> usize {
        match self {
            Dtype::F64 => 8,
            Dtype::F32 => 4,
        }
    }

    /// The precision a cost computed in this type has.
    pub fn precision(self) -> Precision {
        match self {
            Dtype::F64 => Precision::F64,
            Dtype::F32 => Precision::F32,
        }
    }

    /// Appends `values` in this type, little-endian (an `f32` model gets each value rounded to
    /// the nearest `f32`; the engine's steps for an `f32` cost are exact in `f32`).
    pub fn encode(self, values: &[f64], out: &mut Vec<u8>) {
        out.reserve(values.len() * self.width());
        for &v in values {
            match self {
                Dtype::F64 => out.extend_from_slice(&v.to_le_bytes()),
                Dtype::F32 => out.extend_from_slice(&(v as f32).to_le_bytes()),
            }
        }
    }

    /// The floats of `bytes` (a whole number of this type's width), widened to `f64`.
    pub fn decode(self, bytes: &[u8]) -> Vec<f64> {
        match self {
            Dtype::F64 => bytes
                .chunks_exact(8)
                .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")))
                .collect(),
            Dtype::F32 => bytes
                .chunks_exact(4)
                .map(|b| f64::from(f32::from_le_bytes(b.try_into().expect("4 bytes"))))
                .collect(),
        }
    }
}

/// One tensor as the handshake declares it.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct Tensor {
    name: String,
    shape: Vec<usize>,
}

/// The handshake line, as written.
#[derive(Debug, Deserialize)]
struct Line {
    protocol: String,
    dtype: Dtype,
    tensors: Vec<Tensor>,
    #[serde(default)]
    signatures: bool,
}

/// What a model declares in its handshake line.
#[derive(Clone, Debug, PartialEq)]
pub struct Handshake {
    /// The float type of every frame.
    pub dtype: Dtype,
    /// The parameter tensors, in the order of every frame of θ and of the gradient.
    pub layout: Layout,
    /// Whether the model answers [`SIGNATURE`] requests.
    pub signatures: bool,
}

impl Handshake {
    /// Parses and validates the handshake line (without its `\n`); the error says what was
    /// expected.
    pub fn parse(line: &[u8]) -> Result<Self, String> {
        let line: Line = serde_json::from_slice(line).map_err(|e| {
            format!(
                "expected a JSON object {{\"protocol\": \"{VERSION}\", \"dtype\": \"f64\" or \
                 \"f32\", \"tensors\": [{{\"name\": …, \"shape\": […]}}, …]}}: {e}"
            )
        })?;
        if line.protocol != VERSION {
            return Err(format!(
                "the model speaks \"{}\", gradproof speaks \"{VERSION}\"",
                line.protocol
            ));
        }
        if line.tensors.is_empty() {
            return Err("the model declares no tensors: there is nothing to check".into());
        }
        let layout = Layout::new(
            line.tensors
                .into_iter()
                .map(|t| TensorSpec::new(t.name, t.shape)),
        )
        .map_err(|e| e.to_string())?;
        if layout.is_empty() {
            return Err(format!(
                "the tensors {layout} hold no values: nothing to check"
            ));
        }
        if layout.len() > MAX_VALUES {
            return Err(format!(
                "the tensors hold {} values, at most {MAX_VALUES} are accepted",
                layout.len()
            ));
        }
        Ok(Handshake {
            dtype: line.dtype,
            layout,
            signatures: line.signatures,
        })
    }
}

/// A request: its tag, then the frame of `theta`.
pub fn request(tag: u8, dtype: Dtype, theta: &[f64]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(1 + WORD + theta.len() * dtype.width());
    bytes.push(tag);
    bytes.extend_from_slice(&(theta.len() as u64).to_le_bytes());
    dtype.encode(theta, &mut bytes);
    bytes
}

/// The name of a request, as errors say it.
pub fn request_name(tag: u8) -> &'static str {
    match tag {
        COST => "cost",
        GRADIENT => "gradient",
        SIGNATURE => "cost-with-signature",
        _ => "unknown",
    }
}

/// Up to 64 bytes of what a model wrote, escaped as a Rust byte string (`"hello\n"`), with
/// how many there were in all when there were more.
pub fn shown(bytes: &[u8]) -> String {
    const SHOWN: usize = 64;
    let head = bytes[..bytes.len().min(SHOWN)].escape_ascii();
    if bytes.len() > SHOWN {
        format!("\"{head}\"… ({} bytes)", bytes.len())
    } else {
        format!("\"{head}\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_handshake_declares_the_layout() {
        let line = br#"{"protocol": "gradproof-protocol 1", "dtype": "f32",
            "tensors": [{"name": "W", "shape": [2, 3]}, {"name": "b", "shape": []}]}"#;
        let handshake = Handshake::parse(line).unwrap();
        assert_eq!(handshake.dtype, Dtype::F32);
        assert_eq!(handshake.layout.names(), ["W", "b"]);
        assert_eq!(handshake.layout.len(), 7);
        assert!(!handshake.signatures);
    }

    #[test]
    fn a_bad_handshake_says_what_was_expected() {
        let cases: [(&[u8], &str); 6] = [
            (b"hello", "expected a JSON object"),
            (
                br#"{"protocol": "gradproof-protocol 2", "dtype": "f64", "tensors": []}"#,
                "the model speaks \"gradproof-protocol 2\"",
            ),
            (
                br#"{"protocol": "gradproof-protocol 1", "dtype": "f16", "tensors": []}"#,
                "unknown variant `f16`",
            ),
            (
                br#"{"protocol": "gradproof-protocol 1", "dtype": "f64", "tensors": []}"#,
                "declares no tensors",
            ),
            (
                br#"{"protocol": "gradproof-protocol 1", "dtype": "f64",
                    "tensors": [{"name": "W", "shape": [1]}, {"name": "W", "shape": [2]}]}"#,
                "appears twice",
            ),
            (
                br#"{"protocol": "gradproof-protocol 1", "dtype": "f64",
                    "tensors": [{"name": "W", "shape": [100000, 100000]}]}"#,
                "at most 134217728",
            ),
        ];
        for (line, expected) in cases {
            let error = Handshake::parse(line).unwrap_err();
            assert!(error.contains(expected), "{error}");
        }
    }

    #[test]
    fn frames_are_a_count_and_little_endian_floats() {
        let bytes = request(COST, Dtype::F64, &[1.0, -0.5]);
        assert_eq!(bytes[0], b'C');
        assert_eq!(bytes[1..9], 2u64.to_le_bytes());
        assert_eq!(Dtype::F64.decode(&bytes[9..]), [1.0, -0.5]);
        let bytes = request(GRADIENT, Dtype::F32, &[0.1]);
        assert_eq!(bytes.len(), 1 + 8 + 4);
        assert_eq!(Dtype::F32.decode(&bytes[9..]), [f64::from(0.1f32)]);
    }

    #[test]
    fn garbage_is_shown_escaped_and_cut() {
        assert_eq!(shown(b"hi\n\x00"), r#""hi\n\x00""#);
        assert!(shown(&[b'x'; 100]).ends_with("… (100 bytes)"));
    }
}
