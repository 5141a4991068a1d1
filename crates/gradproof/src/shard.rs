//! Checks sharded across processes or machines: [`Checker::check_shard`] checks the `K`-th of
//! `N` deterministic slices of the coordinates a check examines and returns a [`Partial`]
//! (per-coordinate numbers, serialisable), and [`Checker::merge`] turns the `N` partials back
//! into the [`Report`] of the unsharded check, to the bit. Every shard evaluates `J(θ)` and
//! measures the cost's noise at θ itself (a deterministic probe, so every shard measures the
//! same), then differences only its own coordinates; the merge lays the coordinates out again and
//! judges them with the very function an unsharded check uses, so the norms are summed in the
//! same order. Owns the slicing and the consistency of the shards; knows nothing of files,
//! command lines or how the partials travel.

use std::fmt;
use std::str::FromStr;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::derivative::{Derivative, Kink};
use crate::error::{Error, Result};
use crate::layout::{Layout, TensorSpec, Tensors};
use crate::line::expect_parameters;
use crate::mode::Mode;
use crate::noise::NoiseEstimate;
use crate::oracle::Oracle;
use crate::points::{self, Decision};
use crate::problem::Problem;
use crate::report::Report;
use crate::settings::Checker;

/// One of `count` deterministic slices of the coordinates a check examines: the coordinates at
/// positions `index`, `index + count`, `index + 2·count`, ... of the list the mode checks (every
/// coordinate in layout order, or the seeded sample of [`Mode::Sampled`]). Round robin rather
/// than blocks, so that every shard gets its share of every tensor. Written `K/N` with
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

    /// The coordinates of `all` (the list a check examines) that fall to this shard.
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
    /// This shard's coordinates, in the order the check examines them.
    pub coordinates: Vec<Coordinate>,
    /// Wall time this shard spent on the point, in seconds.
    pub seconds: f64,
}

/// One coordinate's numbers in a [`PartialPoint`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Coordinate {
    /// Flat index in the layout.
    pub index: usize,
    /// The problem's (hand-written) gradient.
    pub analytic: f64,
    /// The finite difference (at a kink, the midpoint of the one-sided derivatives).
    pub numeric: f64,
    /// Its error bound, before the safety factor.
    pub bound: f64,
    /// Whether the perturbation crossed a kink even at the smallest step.
    pub kink: bool,
    /// At a resolved kink: the one-sided derivatives `[left, right]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<[f64; 2]>,
    /// Cost evaluations spent on it.
    pub evaluations: usize,
}

impl Coordinate {
    fn new(index: usize, analytic: f64, d: &Derivative) -> Coordinate {
        Coordinate {
            index,
            analytic,
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
    /// Checks the problem's own gradient at `theta` over `shard`'s slice of the coordinates, at
    /// every point the checker asks for (a shard cannot stop at a failing point: the merge
    /// does). The cost's noise is measured at each point in full, as an unsharded check does.
    /// Exhaustive and sampled modes only (the sample is drawn once from the seed, then
    /// sliced); see [`Checker::merge`].
    pub fn check_shard<P: Problem + ?Sized>(
        &self,
        problem: &P,
        theta: &[f64],
        shard: Shard,
    ) -> Result<Partial> {
        self.validate()?;
        self.expect_shardable()?;
        expect_parameters(problem.layout(), theta)?;
        let layout = problem.layout();
        let points = (0..self.points)
            .map(|k| {
                let at = points::point(layout, theta, self.seed, k);
                self.shard_at(problem, &at, shard)
            })
            .collect::<Result<_>>()?;
        Ok(Partial {
            shard,
            tensors: layout.tensors().to_vec(),
            points,
        })
    }

    /// [`Checker::check_shard`] at one point.
    fn shard_at<P: Problem + ?Sized>(
        &self,
        problem: &P,
        theta: &[f64],
        shard: Shard,
    ) -> Result<PartialPoint> {
        let started = Instant::now();
        let (analytic, prepared) = self.gradient_and_preparation(problem, theta)?;
        let hints = self.tolerance.is_none().then_some(analytic.values());
        let mine = shard.slice(self.coordinates(problem.layout()));
        let (cost, noise, derivatives) =
            self.derivatives_of(problem, theta, prepared, &mine, hints)?;
        let g = analytic.values();
        Ok(PartialPoint {
            theta_sha256: sha256(theta),
            gradient_sha256: sha256(g),
            cost,
            noise,
            coordinates: mine
                .iter()
                .zip(&derivatives)
                .map(|(&i, d)| Coordinate::new(i, g[i], d))
                .collect(),
            seconds: started.elapsed().as_secs_f64(),
        })
    }

    /// The report of the unsharded check from the partials of all its shards, in any order:
    /// the same verdict, counts, differences and worst elements, to the bit (its `seconds` are
    /// the shards' sum; its `evaluations` those of the unsharded check, which the shards exceed
    /// by `J(θ)` and the noise probe, repeated in each). The checker must have the shards'
    /// settings. Fails, naming the shard, when one is missing or given twice, when the shards
    /// disagree on the count, the tensors, θ, the gradient, `J(θ)` or the noise, or when their
    /// coordinates are not the ones this checker examines.
    pub fn merge(&self, parts: &[Partial]) -> Result<Report> {
        self.validate()?;
        self.expect_shardable()?;
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
            let report = self.merge_point(&layout, parts, k)?;
            if decision.push(report) {
                break;
            }
        }
        Ok(decision.report())
    }

    /// Point `k`'s report from every shard's part of it.
    fn merge_point(&self, layout: &Layout, parts: &[Partial], k: usize) -> Result<Report> {
        let reference = &parts[0].points[k];
        let mut found: Vec<Option<&Coordinate>> = vec![None; layout.len()];
        let mut seconds = 0.0;
        for part in parts {
            let point = &part.points[k];
            expect_same_point(reference, point, part.shard, parts[0].shard, k)?;
            seconds += point.seconds;
            for c in &point.coordinates {
                let slot = found.get_mut(c.index).ok_or_else(|| {
                    shards(format!(
                        "shard {} has coordinate {}, past the layout's {}",
                        part.shard,
                        c.index,
                        layout.len()
                    ))
                })?;
                if slot.replace(c).is_some() {
                    return Err(shards(format!(
                        "coordinate {} appears in two shards (the last: {})",
                        c.index, part.shard
                    )));
                }
            }
        }
        let coordinates = self.coordinates(layout);
        let expected = coordinates.len();
        let given = found.iter().flatten().count();
        let mut analytic = vec![0.0; layout.len()];
        let mut derivatives = Vec::with_capacity(expected);
        for &i in &coordinates {
            let c = found[i].ok_or_else(|| {
                shards(format!(
                    "no shard has coordinate {i}, which these settings check"
                ))
            })?;
            analytic[i] = c.analytic;
            derivatives.push(c.derivative());
        }
        if given != expected {
            return Err(shards(format!(
                "the shards hold {given} coordinates, these settings check {expected}"
            )));
        }
        let oracle = Oracle::new(
            self,
            layout,
            reference.cost,
            reference.noise.clone(),
            &coordinates,
            &derivatives,
            Instant::now(),
        );
        oracle
            .taking(seconds)
            .judge(&Tensors::new(layout.clone(), analytic)?)
    }

    /// Only the coordinate modes of finite differences are sliced honestly: a directional
    /// check's bisection chooses each probe from the ones before, over whole tensors, and an
    /// exact (dual) check is not sharded yet.
    fn expect_shardable(&self) -> Result<()> {
        if self.exact {
            return Err(Error::Unsupported {
                what: "sharding",
                reason: "method dual is not sharded: use a finite-difference method \
                         (forward, central, central4 or richardson)",
            });
        }
        if let Mode::Directional { .. } = self.mode {
            return Err(Error::Unsupported {
                what: "sharding",
                reason: "directional mode cannot be sharded: its bisection picks each probe \
                         from the results of the ones before, over whole tensors, so there is \
                         no slice of coordinates to hand out; use exhaustive or sampled mode",
            });
        }
        Ok(())
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
