//! Which coordinates a check looks at: all of them (`exhaustive`), a seeded sample of each tensor
//! (`sampled`), or random directions followed by bisection (`directional`). Only the choice and
//! its text form; the random generator behind the last two lives in `rng`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How much of the gradient a check evaluates.
///
/// ```
/// use gradproof::Mode;
/// assert_eq!("sampled=8".parse::<Mode>()?, Mode::Sampled { per_tensor: 8 });
/// assert_eq!("directional".parse::<Mode>()?, Mode::Directional { top: 3 });
/// # Ok::<(), gradproof::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Every coordinate: two or more cost evaluations each.
    #[default]
    Exhaustive,
    /// `per_tensor` coordinates drawn at random from each tensor (all of a smaller tensor), so
    /// every tensor is always covered.
    Sampled {
        /// Coordinates per tensor.
        per_tensor: usize,
    },
    /// One directional derivative `∇J·v` along a random direction for the whole model, one
    /// per tensor to name the failing tensors, then bisection inside each failing tensor to name
    /// its `top` worst elements: O(T + top·log n) directional derivatives instead of O(n).
    Directional {
        /// Elements to localise per failing tensor.
        top: usize,
    },
}

impl Mode {
    /// The mode's name.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Exhaustive => "exhaustive",
            Mode::Sampled { .. } => "sampled",
            Mode::Directional { .. } => "directional",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mode::Exhaustive => f.write_str("exhaustive"),
            Mode::Sampled { per_tensor } => write!(f, "sampled ({per_tensor} per tensor)"),
            Mode::Directional { top } => write!(f, "directional (top {top})"),
        }
    }
}

impl FromStr for Mode {
    type Err = Error;

    /// `exhaustive`, `sampled` (16 per tensor), `sampled=K`, `directional` (top 3) or
    /// `directional=K`; K ≥ 1.
    fn from_str(text: &str) -> Result<Self> {
        let text = text.trim();
        let invalid = || Error::InvalidChoice {
            name: "mode",
            value: text.to_string(),
            expected: "exhaustive, sampled, sampled=K, directional or directional=K (K ≥ 1)",
        };
        let (name, count) = match text.split_once('=') {
            Some((name, k)) => (name, Some(k.parse::<usize>().map_err(|_| invalid())?)),
            None => (text, None),
        };
        if count == Some(0) {
            return Err(invalid());
        }
        match name {
            "exhaustive" if count.is_none() => Ok(Mode::Exhaustive),
            "sampled" => Ok(Mode::Sampled {
                per_tensor: count.unwrap_or(16),
            }),
            "directional" => Ok(Mode::Directional {
                top: count.unwrap_or(3),
            }),
            _ => Err(invalid()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_and_refuse_junk() {
        assert_eq!("exhaustive".parse::<Mode>().unwrap(), Mode::Exhaustive);
        assert_eq!(
            "directional=5".parse::<Mode>().unwrap(),
            Mode::Directional { top: 5 }
        );
        for bad in ["sampled=0", "sampled=x", "exhaustive=3", "random", ""] {
            let err = bad.parse::<Mode>().unwrap_err().to_string();
            assert!(err.contains("mode must be one of"), "{bad}: {err}");
        }
    }
}
