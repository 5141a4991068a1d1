//! How noisy is the cost? Floating-point evaluation of `J` is not exact: each evaluation carries
//! a rounding error whose size depends on the model (cancellation in `1 − sigmoid`, long sums,
//! ...), often tens or hundreds of ulps of `J`. That error, divided by the step, is the floor
//! below which no finite difference can resolve a gradient. We *measure* it with Moré & Wild's
//! ECnoise (SIAM J. Sci. Comput. 33(3), 2011): evaluate `J` on a few closely spaced points along
//! one direction and read the noise off the higher-order differences, where the smooth part of
//! `J` has vanished and only the rounding noise is left. A cost computed in a coarser precision
//! than `f64` (`f32`, `f16`, `bf16`, widened on return) looks constant at `f64`-sized spacings:
//! the probe then widens its spacing until the cost changes, and recognises the precision from
//! the values' significands (or takes the one declared), so that the noise it reports is the
//! noise the cost really has. Knows nothing of what `J` computes.

use std::time::Instant;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::precision::Precision;

/// Below this much work in all, the probe's points are evaluated on the calling thread.
const PARALLEL_SECONDS: f64 = 2e-3;

/// Points evaluated along the direction (Moré & Wild's `m + 1` with `m = 8`).
const POINTS: usize = 9;

/// Spacing of the points, relative to `max(1, max|θᵢ|)`. Small enough that the smooth part of a
/// cost with moderate derivatives leaves no trace in the 2nd and higher differences, large enough
/// that every coordinate really moves.
const RELATIVE_SPACING: f64 = 1e-9;

/// While the cost stays (mostly) constant along the probe, the spacing is widened by this
/// factor, up to [`MAX_RELATIVE_SPACING`]: 1e-9, 1e-7, 1e-5, 1e-3.
const WIDENING: f64 = 100.0;

/// The widest spacing tried. A cost still constant there is reported [`NoiseStatus::Constant`].
const MAX_RELATIVE_SPACING: f64 = 1e-3;

/// A probe whose consecutive values are equal in more than this fraction of the steps sees the
/// staircase of a coarse precision rather than its noise, and is widened.
const MAX_FLAT_FRACTION: f64 = 0.25;

/// Consecutive difference levels whose noise estimates must agree within this factor for the
/// estimate to be trusted (Moré & Wild's test).
const AGREEMENT: f64 = 4.0;

/// The measured noise of a cost function.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NoiseEstimate {
    /// Standard deviation of the rounding noise of one evaluation of `J`, in units of `J`.
    pub sigma: f64,
    /// How it was obtained.
    pub status: NoiseStatus,
    /// Cost evaluations spent.
    pub evaluations: usize,
    /// The precision the cost is computed in: the one declared, or the coarsest that holds every
    /// value the probe saw. `sigma` is at least half its unit roundoff times `|J(θ)|`.
    pub precision: Precision,
    /// The spacing of the probe's points relative to `max(1, max|θᵢ|)`: 1e-9, wider when the
    /// cost did not change at it.
    pub spacing: f64,
}

/// How a [`NoiseEstimate`] came about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoiseStatus {
    /// Difference levels `level..level + 2` agreed and level `level` changes sign: the textbook case.
    Measured {
        /// The difference level read (1 to 6).
        level: usize,
    },
    /// `J` gave the same value at every point, even at the widest spacing tried: no noise could
    /// be seen, only its own rounding is assumed, and no finite difference can decide anything.
    Constant,
    /// No level passed the agreement test; the smallest estimate among the levels that change
    /// sign was taken (the smooth part of `J` can only inflate an estimate, never shrink it).
    Unsettled,
    /// Not measured: an exact ([`Reference::Dual`](crate::Reference::Dual)) check differences nothing,
    /// so the cost's noise does not enter it (reported as 0).
    NotNeeded,
}

/// How much louder one side of θ must be than the other to be taken for a kink rather than for
/// the spread of two noise estimates (which stay within ~4× of each other).
const KINK_CONTRAST: f64 = 16.0;

/// Independent directions measured. One direction's 9 points give an estimate that varies by up
/// to ~4× from direction to direction (seen on the notebook's network); the largest of three is a
/// steadier, cautious figure.
const DIRECTIONS: u64 = 3;

/// Measures the noise of `cost` around `theta` along a few fixed pseudo-random ±1 directions (on
/// each, the quieter of the two sides of `θ`) and keeps the largest estimate. While the cost is
/// (mostly) constant along the probe, the spacing is widened (by `WIDENING`). The estimate is
/// floored at half a unit roundoff of `J(θ)` in the cost's precision (`J` is at least rounded
/// once): `declared`, or else the coarsest precision that holds every value seen.
pub fn estimate_noise<F>(
    cost: F,
    theta: &[f64],
    cost_at_theta: f64,
    declared: Option<Precision>,
) -> Result<NoiseEstimate>
where
    F: Fn(&[f64]) -> Result<f64> + Sync,
{
    let scale = theta.iter().fold(1.0_f64, |m, v| m.max(v.abs()));
    let mut spacing = RELATIVE_SPACING;
    let mut evaluations = 0;
    let mut narrower: Option<(Vec<f64>, f64)> = None;
    let (all, spacing) = loop {
        let h = spacing * scale / (theta.len().max(1) as f64).sqrt();
        let (values, evaluated) = probe(&cost, theta, cost_at_theta, h);
        evaluations += evaluated;
        let all = match values {
            Ok(all) => all,
            // Widening is a best effort: a cost that fails (is not finite, say) farther from θ
            // is read at the last spacing where it did not.
            Err(error) => match narrower {
                Some(previous) => break previous,
                None => return Err(error),
            },
        };
        if flat_fraction(&all) <= MAX_FLAT_FRACTION || spacing >= MAX_RELATIVE_SPACING {
            break (all, spacing);
        }
        narrower = Some((all, spacing));
        spacing *= WIDENING;
    };
    let constant = flat_fraction(&all) == 1.0;
    let precision = declared.unwrap_or_else(|| {
        if constant {
            Precision::F64
        } else {
            Precision::of_values(&all)
        }
    });
    let floor = precision.unit_roundoff() / 2.0 * cost_at_theta.abs();
    let (sigma, status) = if constant {
        (0.0, NoiseStatus::Constant)
    } else {
        read_noise(&all)
    };
    Ok(NoiseEstimate {
        sigma: sigma.max(floor),
        status,
        evaluations,
        precision,
        spacing,
    })
}

/// The fraction of consecutive values, within each series of the probe, that are equal.
fn flat_fraction(all: &[f64]) -> f64 {
    let pairs = || {
        all.chunks_exact(2 * POINTS - 1)
            .flat_map(|series| series.windows(2))
    };
    let flat = pairs().filter(|pair| pair[0] == pair[1]).count();
    flat as f64 / pairs().count().max(1) as f64
}

/// `J` on `2·POINTS − 1` points spaced `h` apart along each of the [`DIRECTIONS`], `θ` in the
/// middle of each series (its value not evaluated again), and the number of evaluations spent
/// (every point is evaluated even when one fails, unless the first does).
fn probe<F>(cost: &F, theta: &[f64], cost_at_theta: f64, h: f64) -> (Result<Vec<f64>>, usize)
where
    F: Fn(&[f64]) -> Result<f64> + Sync,
{
    // Each direction's signs, drawn once rather than once per point, one direction after another.
    let n = theta.len();
    let signs: Vec<f64> = (0..DIRECTIONS)
        .flat_map(|d| (0..n).map(move |i| direction_sign(d, i)))
        .collect();
    // Point `s` of the probe: point `s % SERIES` of direction `s / SERIES`.
    const SERIES: usize = 2 * POINTS - 1;
    let evaluate = |point: &mut Vec<f64>, s: usize| -> Result<f64> {
        let (direction, k) = (s / SERIES, s % SERIES);
        let offset = (k as f64 - (POINTS - 1) as f64) * h;
        if offset == 0.0 {
            return Ok(cost_at_theta);
        }
        point.clear();
        point.extend(
            theta
                .iter()
                .zip(&signs[direction * n..(direction + 1) * n])
                .map(|(t, sign)| t + offset * sign),
        );
        cost(point)
    };
    let count = DIRECTIONS as usize * SERIES;
    // The first point, timed: an expensive cost has its other points evaluated in parallel (the
    // values, hence the estimate, are the same either way; the first error in series order is
    // the one reported).
    let started = Instant::now();
    let mut point = Vec::with_capacity(n);
    let first = match evaluate(&mut point, 0) {
        Ok(first) => first,
        Err(error) => return (Err(error), 1),
    };
    let expensive = started.elapsed().as_secs_f64() * count as f64 > PARALLEL_SECONDS;
    let mut values = Vec::with_capacity(count);
    values.push(first);
    let mut failed = None;
    let mut keep = |result: Result<f64>| match result {
        Ok(value) => values.push(value),
        Err(error) => {
            failed.get_or_insert(error);
        }
    };
    if expensive {
        let rest: Vec<Result<f64>> = (1..count)
            .into_par_iter()
            .map_init(Vec::new, |point, s| evaluate(point, s))
            .collect();
        rest.into_iter().for_each(keep);
    } else {
        // One point after another into the same buffers: no allocation per point.
        (1..count).for_each(|s| keep(evaluate(&mut point, s)));
    }
    // θ's own value sits in the middle of every series, not evaluated again.
    let evaluated = count - DIRECTIONS as usize;
    (failed.map_or(Ok(values), Err), evaluated)
}

/// The noise read off the probe's series (one per direction): the largest estimate.
fn read_noise(all: &[f64]) -> (f64, NoiseStatus) {
    let mut best: Option<(f64, NoiseStatus)> = None;
    for values in all.chunks_exact(2 * POINTS - 1) {
        // Points on both sides of θ, read whole and side by side. A kink's jump in slope would
        // pass for noise: if the whole series is far louder than either side, the kink is at θ
        // itself (a ReLU exactly at 0, say) and the sides are read; if one side is far louder
        // than the other, the kink is on it and the quieter side is read.
        let (l, r) = (ecnoise(&values[..POINTS]), ecnoise(&values[POINTS - 1..]));
        let (quiet, loud) = if r.0 < l.0 { (r, l) } else { (l, r) };
        let full = ecnoise(values);
        let estimate = if full.0 > KINK_CONTRAST * loud.0 {
            // Both sides quiet, the whole loud: the kink is at θ.
            loud
        } else if loud.0 > KINK_CONTRAST * quiet.0 {
            quiet
        } else {
            full
        };
        if best.is_none_or(|(s, _)| estimate.0 > s) {
            best = Some(estimate);
        }
    }
    best.expect("at least one direction")
}

/// `γ_k = (k!)² / (2k)! = Π_{j ≤ k} j / (k + j)` for `k < POINTS` (multiplied in that order): the
/// variance of a `k`-th difference of white noise is `σ²/γ_k`.
const GAMMA: [f64; POINTS] = {
    let mut gamma = [1.0; POINTS];
    let mut k = 1;
    while k < POINTS {
        let mut product = 1.0;
        let mut j = 1;
        while j <= k {
            product *= j as f64 / (k + j) as f64;
            j += 1;
        }
        gamma[k] = product;
        k += 1;
    }
    gamma
};

/// ECnoise on equally spaced values (4 to `2·POINTS − 1` of them, one of the probe's series or
/// a side of it): the noise level and how it was found.
fn ecnoise(values: &[f64]) -> (f64, NoiseStatus) {
    if values.iter().all(|&v| v == values[0]) {
        return (0.0, NoiseStatus::Constant);
    }
    let levels = (POINTS - 1).min(values.len() - 1);
    // On the stack: a probe's series holds at most `2·POINTS − 1` values.
    let mut all = [0.0; 2 * POINTS - 1];
    let mut diffs = &mut all[..values.len()];
    diffs.copy_from_slice(values);
    let mut sigma = [0.0; POINTS];
    let mut changes_sign = [false; POINTS];
    for k in 1..=levels {
        // The next differences, their sum of squares (in order) and their signs, in one pass.
        let (mut sum_of_squares, mut negative, mut positive) = (0.0, false, false);
        for i in 0..diffs.len() - 1 {
            let d = diffs[i + 1] - diffs[i];
            diffs[i] = d;
            sum_of_squares += d * d;
            negative |= d < 0.0;
            positive |= d > 0.0;
        }
        let shorter = diffs.len() - 1;
        diffs = &mut diffs[..shorter];
        sigma[k] = (GAMMA[k] * (sum_of_squares / diffs.len() as f64)).sqrt();
        changes_sign[k] = negative && positive;
    }
    for k in 1..=levels - 2 {
        let window = &sigma[k..=k + 2];
        let lo = window.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = window.iter().copied().fold(0.0_f64, f64::max);
        if changes_sign[k] && hi <= AGREEMENT * lo {
            return (sigma[k], NoiseStatus::Measured { level: k });
        }
    }
    let fallback = (2..=levels)
        .filter(|&k| changes_sign[k])
        .map(|k| sigma[k])
        .fold(f64::INFINITY, f64::min);
    let fallback = if fallback.is_finite() {
        fallback
    } else {
        sigma[levels]
    };
    (fallback, NoiseStatus::Unsettled)
}

/// A fixed pseudo-random sign for coordinate `i` of direction `direction` (a SplitMix64 hash):
/// the same directions for every run and every thread count, and no shared RNG state to disturb.
fn direction_sign(direction: u64, i: usize) -> f64 {
    let mut z = (i as u64 ^ direction.rotate_right(17)).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    if z & 1 == 0 { 1.0 } else { -1.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gamma_matches_factorials() {
        // (k!)²/(2k)! for k = 3 is 36/720.
        assert!((GAMMA[3] - 36.0 / 720.0).abs() < 1e-15);
        // The table holds, to the bit, the product as written at run time.
        for (k, gamma) in GAMMA.iter().enumerate().skip(1) {
            let product: f64 = (1..=k).map(|j| j as f64 / (k + j) as f64).product();
            assert_eq!(gamma.to_bits(), product.to_bits(), "k = {k}");
        }
    }

    #[test]
    fn white_noise_is_measured_to_within_a_factor_of_two() {
        // A smooth function plus deterministic pseudo-noise of standard deviation 1e-10: uniform
        // on ±√3·1e-10, a well-mixed hash of the point.
        let noisy = |x: &[f64]| -> Result<f64> {
            let key = x.iter().fold(0u64, |h, v| h.rotate_left(17) ^ v.to_bits());
            let u = crate::rng::SplitMix64::new(key, 0).unit();
            let smooth: f64 = x.iter().map(|v| v.sin()).sum();
            Ok(smooth + 1e-10 * 3f64.sqrt() * (2.0 * u - 1.0))
        };
        let theta = [0.3, -1.2, 0.8, 2.0];
        let est = estimate_noise(noisy, &theta, noisy(&theta).unwrap(), None).unwrap();
        assert!(est.sigma > 0.5e-10 && est.sigma < 2e-10, "{est:?}");
    }

    #[test]
    fn a_constant_cost_has_only_its_own_rounding() {
        let est = estimate_noise(|_x: &[f64]| Ok(8.0), &[4.0], 8.0, None).unwrap();
        assert_eq!(est.status, NoiseStatus::Constant);
        assert_eq!(est.sigma, f64::EPSILON / 2.0 * 8.0);
    }

    #[test]
    fn a_float32_cost_is_measured_at_its_own_precision() {
        // Σ sin(θᵢ) computed in f32: constant at f64-sized spacings, noisy at ulps of f32.
        let cost = |x: &[f64]| -> Result<f64> {
            Ok(x.iter().map(|&v| (v as f32).sin()).sum::<f32>() as f64)
        };
        let theta = [0.3, -1.2, 0.8, 2.0];
        let est = estimate_noise(cost, &theta, cost(&theta).unwrap(), None).unwrap();
        assert_eq!(est.precision, Precision::F32, "{est:?}");
        assert!(est.spacing > RELATIVE_SPACING, "{est:?}");
        let ulp = f64::from(f32::EPSILON) * cost(&theta).unwrap().abs();
        assert!(est.sigma >= ulp / 2.0 && est.sigma < 8.0 * ulp, "{est:?}");
    }

    #[test]
    fn a_cost_that_fails_farther_out_is_read_at_the_last_spacing_that_worked() {
        // Constant in f64 at 1e-9 (an f32 staircase), an error beyond 1e-6 of θ.
        let theta = [0.3, -1.2];
        let cost = |x: &[f64]| -> Result<f64> {
            if x.iter().zip(&theta).any(|(a, b)| (a - b).abs() > 1e-6) {
                return Err(crate::error::Error::model("too far"));
            }
            Ok(x.iter().map(|&v| (v as f32).sin()).sum::<f32>() as f64)
        };
        let est = estimate_noise(cost, &theta, cost(&theta).unwrap(), None).unwrap();
        assert!(
            est.spacing > RELATIVE_SPACING && est.spacing < 1e-5,
            "{est:?}"
        );
    }
}
