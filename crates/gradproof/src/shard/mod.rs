//! Checks sharded across processes or machines: [`Checker::check_shard`] checks the `K`-th of
//! `N` deterministic slices of a check and returns a [`Partial`] (serialisable), and
//! [`Checker::merge`] turns the `N` partials back into the [`Report`] of the unsharded check, to
//! the bit. Every shard evaluates `J(θ)` and measures the cost's noise at θ itself (a
//! deterministic probe, so every shard measures the same), then does only its share:
//!
//! * the coordinate modes (exhaustive, sampled; finite differences or exact dual passes) slice
//!   the coordinates (`shard::coordinates`); the merge lays them out again and judges them with the
//!   very function an unsharded check uses, so the norms are summed in the same order;
//! * the directional mode slices the tensors (`shard::tensors`): a tensor's probe and bisection
//!   depend on that tensor alone, so its row is computed whole by one shard, and the probe along
//!   the whole direction by shard 0. (Its parallelism is the number of tensors.)
//!
//! Owns the slicing and the consistency of the shards; knows nothing of files, command lines or
//! how the partials travel.

mod coordinates;
mod tensors;

use std::fmt;
use std::str::FromStr;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::base::expect_parameters;
pub use crate::bisection::TensorRow;
use crate::derivative::{Derivative, Kink};
use crate::error::{Error, Result};
use crate::layout::{Layout, TensorSpec};
use crate::mode::Mode;
use crate::noise::NoiseEstimate;
use crate::points::{self, Decision};
use crate::problem::Problem;
use crate::report::Report;
use crate::settings::Checker;

/// One of `count` deterministic slices of a check: the coordinates at positions `index`,
/// `index + count`, `index + 2·count`, ... of the list the mode checks (every coordinate in
/// layout order, or the seeded sample of [`Mode::Sampled`]), or in directional mode the tensors
/// at those positions of the layout. Round robin rather than blocks, so that every shard gets
/// its share of every tensor. Written `K/N` with
/// `0 ≤ K < N` (a Kubernetes `JOB_COMPLETION_INDEX` as it comes).
///
/// ```
/// let shard: gradproof::Shard = "1/3".parse()?;
/// assert_eq!((shard.index(), shard.count()), (1, 3));
/// assert!("3/3".parse::<gradproof::Shard>().is_err());
/// # Ok::<(), gradproof::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "ShardFields")]
pub struct Shard {
    index: usize,
    count: usize,
}

/// A [`Shard`] as read, validated by [`Shard::new`] before it becomes one.
#[derive(Deserialize)]
struct ShardFields {
    index: usize,
    count: usize,
}

impl TryFrom<ShardFields> for Shard {
    type Error = Error;

    fn try_from(fields: ShardFields) -> Result<Shard> {
        Shard::new(fields.index, fields.count)
    }
}

impl Shard {
    /// Shard `index` of `count`: `count ≥ 1` and `index < count`.
    pub fn new(index: usize, count: usize) -> Result<Shard> {
        if count == 0 {
            return Err(Error::InvalidSetting {
                name: "shard count",
                expected: "at least 1",
                value: 0.0,
            });
        }
        if index >= count {
            return Err(Error::InvalidSetting {
                name: "shard index",
                expected: "below the shard count (shards are numbered from 0)",
                value: index as f64,
            });
        }
        Ok(Shard { index, count })
    }

    /// The whole check as one shard (`0/1`).
    pub fn whole() -> Shard {
        Shard { index: 0, count: 1 }
    }

    /// Which shard this is, from 0.
    pub fn index(&self) -> usize {
        self.index
    }

    /// How many shards the check is split into.
    pub fn count(&self) -> usize {
        self.count
    }

    /// The items of `all` (the coordinates or tensors a check examines) that fall to this shard.
    fn slice(&self, all: Vec<usize>) -> Vec<usize> {
        all.into_iter()
            .skip(self.index)
            .step_by(self.count)
            .collect()
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = Error;

    /// `K/N`, e.g. `0/4`.
    fn from_str(text: &str) -> Result<Shard> {
        let invalid = || Error::InvalidChoice {
            name: "shard",
            value: text.to_string(),
            expected: "K/N with whole numbers 0 ≤ K < N (e.g. 0/4)",
        };
        let (k, n) = text.trim().split_once('/').ok_or_else(invalid)?;
        let k = k.trim().parse().map_err(|_| invalid())?;
        let n = n.trim().parse().map_err(|_| invalid())?;
        Shard::new(k, n).map_err(|_| invalid())
    }
}

/// What one shard of a check computed: its slice of every point's coordinates, with everything
/// [`Checker::merge`] needs to rebuild the whole report, and the fingerprints that tell it from a
/// shard of another check. Serialisable (serde), so that it can travel as a file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Partial {
    /// Which shard this is.
    pub shard: Shard,
    /// The model's parameter tensors (names and shapes), in layout order.
    pub tensors: Vec<TensorSpec>,
    /// One entry per point checked (θ first; see [`Checker::points`]).
    pub points: Vec<PartialPoint>,
}

/// One point of a [`Partial`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PartialPoint {
    /// SHA-256 of the point's parameters (little-endian `f64` bytes), in hex.
    pub theta_sha256: String,
    /// SHA-256 of the problem's gradient there (little-endian `f64` bytes), in hex.
    pub gradient_sha256: String,
    /// `J` at the point.
    pub cost: f64,
    /// The cost's noise there, as this shard measured it (the same in every shard).
    pub noise: NoiseEstimate,
    /// This shard's coordinates, in the order the check examines them (the coordinate modes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub coordinates: Vec<Coordinate>,
    /// This shard's tensors' rows, in layout order (directional mode).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rows: Vec<TensorRow>,
    /// The probe along the whole direction (directional mode, shard 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub whole: Option<WholeDirection>,
    /// Evaluations spent besides `J(θ)` and the coordinates or probes: an exact check's
    /// fallback at ties measuring the cost's noise (the same in every shard that met a tie).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub measured: usize,
    /// Wall time this shard spent on the point, in seconds.
    pub seconds: f64,
}

impl PartialPoint {
    /// A point at `theta` with the problem's `gradient`, `J(θ)`, the noise and the evaluations
    /// spent besides the coordinates or probes, holding nothing of its own yet.
    fn at(
        theta: &[f64],
        gradient: &[f64],
        cost: f64,
        noise: NoiseEstimate,
        measured: usize,
    ) -> PartialPoint {
        PartialPoint {
            theta_sha256: sha256(theta),
            gradient_sha256: sha256(gradient),
            cost,
            noise,
            coordinates: Vec::new(),
            rows: Vec::new(),
            whole: None,
            measured,
            seconds: 0.0,
        }
    }
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// One coordinate's numbers in a [`PartialPoint`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Coordinate {
    /// Flat index in the layout.
    pub index: usize,
    /// The problem's (hand-written) gradient.
    pub analytic: f64,
    /// The oracle's numbers.
    #[serde(flatten)]
    pub numbers: Numbers,
    /// In an exact (dual) check, the coordinate's dual pass: its error bound scales with the
    /// largest partial of every shard, so the merge computes it (`bound` is then 0), unless
    /// the pass met a tie and the numbers are its finite-difference fallback's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exact: Option<ExactPass>,
}

/// An exact (dual-number) pass of one coordinate.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExactPass {
    /// The exact partial derivative the pass gave.
    pub value: f64,
    /// Whether it met a tie at a kink (then the coordinate is judged by its fallback).
    pub tie: bool,
}

/// The probe along the whole direction of a directional check.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WholeDirection {
    /// The hand-written gradient's side, `Σ gᵢvᵢ`.
    pub analytic: f64,
    /// The oracle's derivative along the direction.
    #[serde(flatten)]
    pub numbers: Numbers,
}

/// An oracle's derivative, as it travels: along a coordinate or a direction.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Numbers {
    /// The finite difference or exact derivative (at a kink, the midpoint of the one-sided
    /// derivatives).
    pub numeric: f64,
    /// Its error bound, before the safety factor.
    pub bound: f64,
    /// Whether the perturbation crossed a kink even at the smallest step.
    pub kink: bool,
    /// At a resolved kink: the one-sided derivatives `[left, right]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<[f64; 2]>,
    /// Cost evaluations (or dual passes) spent on it.
    pub evaluations: usize,
}

impl Numbers {
    fn new(d: &Derivative) -> Numbers {
        Numbers {
            numeric: d.value,
            bound: d.bound,
            kink: d.kink != Kink::None,
            interval: d.interval(),
            evaluations: d.evaluations,
        }
    }

    fn derivative(&self) -> Derivative {
        let kink = match (self.kink, self.interval) {
            (_, Some([left, right])) => Kink::Interval { left, right },
            (true, None) => Kink::Unresolved,
            (false, None) => Kink::None,
        };
        Derivative {
            value: self.numeric,
            bound: self.bound,
            kink,
            evaluations: self.evaluations,
        }
    }
}

impl Checker {
    /// Checks the problem's own gradient at `theta` over `shard`'s slice of the check, at every
    /// point the checker asks for (a shard cannot stop at a failing point: the merge does).
    /// The cost's noise is measured at each point in full, as an unsharded check does. Every
    /// mode and method: the sample of [`Mode::Sampled`] is drawn once from the seed, then
    /// sliced; directional mode slices the tensors. See [`Checker::merge`].
    pub fn check_shard<P: Problem + ?Sized>(
        &self,
        problem: &P,
        theta: &[f64],
        shard: Shard,
    ) -> Result<Partial> {
        self.validate()?;
        expect_parameters(problem.layout(), theta)?;
        let layout = problem.layout();
        let points = (0..self.points)
            .map(|k| {
                let at = points::point(layout, theta, self.seed, k);
                let started = Instant::now();
                let mut point = match self.mode {
                    Mode::Directional { top } => tensors::shard_at(self, problem, &at, shard, top)?,
                    Mode::Exhaustive | Mode::Sampled { .. } => {
                        coordinates::shard_at(self, problem, &at, shard)?
                    }
                };
                point.seconds = started.elapsed().as_secs_f64();
                Ok(point)
            })
            .collect::<Result<_>>()?;
        Ok(Partial {
            shard,
            tensors: layout.tensors().to_vec(),
            points,
        })
    }

    /// The report of the unsharded check from the partials of all its shards, in any order:
    /// the same verdict, counts, differences and worst elements, to the bit (its `seconds` are
    /// the shards' sum; its `evaluations` those of the unsharded check, which the shards exceed
    /// by `J(θ)` and the noise probe, repeated in each). The checker must have the shards'
    /// settings. Fails, naming the shard, when one is missing or given twice, when the shards
    /// disagree on the count, the tensors, θ, the gradient, `J(θ)` or the noise, or when their
    /// coordinates (tensors) are not the ones this checker examines.
    pub fn merge(&self, parts: &[Partial]) -> Result<Report> {
        self.validate()?;
        let first = expect_complete(parts)?;
        let layout = Layout::new(first.tensors.clone())?;
        for part in parts {
            if part.tensors != first.tensors {
                return Err(shards(format!(
                    "shard {} has other tensors than shard {}",
                    part.shard, first.shard
                )));
            }
            if part.points.len() != self.points {
                return Err(shards(format!(
                    "shard {} checked {} point(s), the settings ask for {}",
                    part.shard,
                    part.points.len(),
                    self.points
                )));
            }
        }
        let mut decision = Decision::default();
        for k in 0..self.points {
            let reference = &parts[0].points[k];
            let mut seconds = 0.0;
            for part in parts {
                let point = &part.points[k];
                expect_same_point(reference, point, part.shard, parts[0].shard, k)?;
                seconds += point.seconds;
            }
            let points: Vec<(Shard, &PartialPoint)> = parts
                .iter()
                .map(|part| (part.shard, &part.points[k]))
                .collect();
            let measured = points.iter().map(|(_, p)| p.measured).max().unwrap_or(0);
            let report = match self.mode {
                Mode::Directional { .. } => {
                    tensors::merge_point(self, &layout, &points, measured, seconds)?
                }
                Mode::Exhaustive | Mode::Sampled { .. } => {
                    coordinates::merge_point(self, &layout, &points, measured, seconds)?
                }
            };
            if decision.push(report) {
                break;
            }
        }
        Ok(decision.report())
    }
}

/// The first partial, once every shard `0..N` is there exactly once and all say the same `N`.
fn expect_complete(parts: &[Partial]) -> Result<&Partial> {
    let first = parts
        .first()
        .ok_or_else(|| shards("no shard given".to_string()))?;
    let count = first.shard.count;
    let mut seen = vec![false; count];
    for part in parts {
        if part.shard.count != count {
            return Err(shards(format!(
                "shard {} and shard {} split the check differently",
                part.shard, first.shard
            )));
        }
        if std::mem::replace(&mut seen[part.shard.index], true) {
            return Err(shards(format!("shard {} is given twice", part.shard)));
        }
    }
    match seen.iter().position(|&s| !s) {
        Some(missing) => Err(shards(format!("shard {missing}/{count} is missing"))),
        None => Ok(first),
    }
}

/// Fails unless `point` (of shard `this`) was taken at the same parameters, with the same
/// gradient, cost and noise as `reference` (of shard `that`).
fn expect_same_point(
    reference: &PartialPoint,
    point: &PartialPoint,
    this: Shard,
    that: Shard,
    k: usize,
) -> Result<()> {
    let differs = if point.theta_sha256 != reference.theta_sha256 {
        Some("parameters θ")
    } else if point.gradient_sha256 != reference.gradient_sha256 {
        Some("gradient")
    } else if point.cost.to_bits() != reference.cost.to_bits() {
        Some("cost J(θ)")
    } else if point.noise != reference.noise {
        Some("measured noise")
    } else {
        None
    };
    match differs {
        Some(what) => Err(shards(format!(
            "shard {this} has another {what} than shard {that} at point {k}: not the same model"
        ))),
        None => Ok(()),
    }
}

fn shards(detail: String) -> Error {
    Error::Shards { detail }
}

/// SHA-256 of `values` as little-endian bytes, in hex.
fn sha256(values: &[f64]) -> String {
    let mut hasher = Sha256::new();
    for v in values {
        hasher.update(v.to_le_bytes());
    }
    format!("{:x}", hasher.finalize())
}
