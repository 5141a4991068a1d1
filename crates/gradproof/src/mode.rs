//! Which coordinates a check looks at: all of them (`exhaustive`), a seeded sample of each tensor
//! (`sampled`), or random directions followed by bisection (`directional`). Also the private
//! random generator behind the last two: seeded by the caller, never touching any global state,
//! and the same on every platform.

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

/// SplitMix64 (Steele, Lea & Flood 2014): a tiny, well-mixed generator, private to each check so
/// that a check never disturbs (or depends on) anybody else's random state.
#[derive(Clone, Debug)]
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator for `seed`, decorrelated by `stream` (e.g. the tensor's position).
    pub(crate) fn new(seed: u64, stream: u64) -> Self {
        let mut rng = SplitMix64(seed ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03));
        rng.next_u64();
        rng
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n ≥ 1), by Lemire's multiply-shift (bias below 2⁻³²·n, irrelevant
    /// here).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// ±1 with equal probability.
    pub(crate) fn sign(&mut self) -> f64 {
        if self.next_u64() >> 63 == 0 {
            1.0
        } else {
            -1.0
        }
    }

    /// `k` distinct indices from `0..n`, sorted (all of them when `k ≥ n`).
    pub(crate) fn sample(&mut self, n: usize, k: usize) -> Vec<usize> {
        let mut pool: Vec<usize> = (0..n).collect();
        let k = k.min(n);
        for i in 0..k {
            let j = i + self.below(n - i);
            pool.swap(i, j);
        }
        pool.truncate(k);
        pool.sort_unstable();
        pool
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

    #[test]
    fn samples_are_distinct_sorted_and_reproducible() {
        let a = SplitMix64::new(7, 2).sample(1000, 10);
        let b = SplitMix64::new(7, 2).sample(1000, 10);
        assert_eq!(a, b);
        assert_eq!(a.len(), 10);
        assert!(a.windows(2).all(|w| w[0] < w[1]));
        assert_ne!(a, SplitMix64::new(8, 2).sample(1000, 10));
        assert_eq!(SplitMix64::new(1, 0).sample(4, 10), [0, 1, 2, 3]);
    }

    #[test]
    fn signs_are_balanced() {
        let mut rng = SplitMix64::new(3, 0);
        let sum: f64 = (0..10_000).map(|_| rng.sign()).sum();
        assert!(sum.abs() < 400.0, "{sum}");
    }
}
