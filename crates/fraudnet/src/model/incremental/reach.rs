//! How far a hidden unit's activation may move before some unit of the next layer crosses its
//! kink, for each example: what lets the fused kernel skip testing every unit for a crossing.
//! Part of [`super::Incremental`], for the layer the fused kernel carries.
//!
//! Unit `r` of the next layer crosses when `z + w·Δa` lands on the other side of 0 than `z`
//! (both rounded as the kernel rounds them, `fl(z + fl(w·Δa))`), which takes `|Δa| ≥ |z|/|w|`
//! in the direction that points `z` at 0. The smallest such distance over the units, in each
//! direction, shrunk by a margin that covers every rounding involved, gives a bound below
//! which no unit crosses; at or above it the kernel's exact test decides (so a crossing is
//! never missed, and a bound that is too cautious only costs a re-scan).

use ndarray::{Array2, Axis};
use rayon::prelude::*;

use super::contiguous;

/// For each unit `i` of the moved layer (rows) and example `c` (columns): `up[i, c]`, a
/// `Δa > 0` below which no unit of the next layer crosses its kink, and `down[i, c]`, the
/// same for `−Δa` when `Δa < 0`.
#[derive(Debug)]
pub(super) struct Reach {
    /// `up[i·m + c]` (row-major, `m` examples).
    up: Vec<f64>,
    down: Vec<f64>,
    m: usize,
}

/// Pre-activations this close to 0 get no bound (every move is tested): below it the
/// rounding of `|z|/|w|` is no longer relative.
const TINY: f64 = 1e-270;

/// The margin: `fl(fl(|z| · fl(1/|w|)) · (1 − 16ε)) < |z| / (|w|·(1 + ε))`, so a `|Δa|` below
/// the bound gives `|fl(w·Δa)| < |z|`, which leaves `z + fl(w·Δa)` (and its rounding) on the
/// side of 0 that `z` is on.
const SHRINK: f64 = 1.0 - 16.0 * f64::EPSILON;

impl Reach {
    /// From the next layer's pre-activations, example-major (`m × n`), and the moved layer's
    /// outgoing weights, one row per unit (`units × n`).
    pub(super) fn new(z_next: &Array2<f64>, w_out_of: &Array2<f64>) -> Reach {
        let (units, m) = (w_out_of.nrows(), z_next.nrows());
        let mut up = vec![0.0; units * m];
        let mut down = vec![0.0; units * m];
        if m == 0 {
            return Reach { up, down, m };
        }
        up.par_chunks_mut(m)
            .zip(down.par_chunks_mut(m))
            .enumerate()
            .for_each(|(i, (up, down))| {
                let w = contiguous(w_out_of.row(i));
                let n = w.len();
                let inverse: Vec<f64> = w.iter().map(|w| 1.0 / w.abs()).collect();
                for (c, z) in z_next.axis_iter(Axis(0)).enumerate() {
                    let (u, d) = nearest_kinks(&contiguous(z)[..n], w, &inverse);
                    up[c] = (u * SHRINK).max(0.0);
                    down[c] = (d * SHRINK).max(0.0);
                }
            });
        Reach { up, down, m }
    }

    /// Whether moving unit `unit`'s activation by `delta` in example `c` may make a unit of the
    /// next layer cross its kink (`false` guarantees that none does).
    #[inline(always)]
    pub(super) fn may_cross(&self, unit: usize, c: usize, delta: f64) -> bool {
        let at = unit * self.m + c;
        // Without branches (the sign of Δa is random from example to example). A zero move
        // crosses nothing: `z + w·0` is `z`, or `+0` for `z = −0`, on the same side.
        let bound = if delta > 0.0 {
            self.up[at]
        } else {
            self.down[at]
        };
        (delta != 0.0) & (delta.abs() >= bound)
    }
}

/// The smallest `|z|/|w|` (as `|z| · (1/|w|)`) over the units whose kink an increase of the
/// activation approaches (`w > 0` below it, `w < 0` above it), and over the others; `+∞` where
/// there is none, `0` for a pre-activation within [`TINY`] of 0. A unit with `w = 0` never
/// crosses: its quotient is `∞` (no NaN: a `z` that small is taken as 0 first).
#[inline(always)]
fn nearest_kinks(z: &[f64], w: &[f64], inverse: &[f64]) -> (f64, f64) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, the only feature `avx2_nearest_kinks` is compiled for.
            return unsafe { avx2_nearest_kinks(z, w, inverse) };
        }
    }
    portable_nearest_kinks(z, w, inverse, (f64::INFINITY, f64::INFINITY))
}

/// [`nearest_kinks`] one unit at a time, continuing from `(up, down)`.
fn portable_nearest_kinks(
    z: &[f64],
    w: &[f64],
    inverse: &[f64],
    (mut up, mut down): (f64, f64),
) -> (f64, f64) {
    for ((&z, &w), &inverse) in z.iter().zip(w).zip(inverse) {
        let magnitude = z.abs();
        let distance = if magnitude < TINY {
            0.0
        } else {
            magnitude * inverse
        };
        if (w > 0.0) != (z > 0.0) {
            up = up.min(distance);
        } else {
            down = down.min(distance);
        }
    }
    (up, down)
}

/// [`nearest_kinks`] four units at a time.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn avx2_nearest_kinks(z: &[f64], w: &[f64], inverse: &[f64]) -> (f64, f64) {
    use std::arch::x86_64::*;
    let n = z.len();
    assert!(w.len() == n && inverse.len() == n);
    let zero = _mm256_setzero_pd();
    let infinity = _mm256_set1_pd(f64::INFINITY);
    let tiny = _mm256_set1_pd(TINY);
    let magnitude_mask = _mm256_set1_pd(f64::from_bits(0x7fff_ffff_ffff_ffff));
    let (mut up, mut down) = (infinity, infinity);
    let mut r = 0;
    while r + 4 <= n {
        // SAFETY: r + 4 <= n, each slice's length (asserted above).
        let (zv, wv, iv) = unsafe {
            (
                _mm256_loadu_pd(z.as_ptr().add(r)),
                _mm256_loadu_pd(w.as_ptr().add(r)),
                _mm256_loadu_pd(inverse.as_ptr().add(r)),
            )
        };
        let magnitude = _mm256_and_pd(zv, magnitude_mask);
        let near = _mm256_cmp_pd::<_CMP_LT_OQ>(magnitude, tiny);
        let distance = _mm256_andnot_pd(near, _mm256_mul_pd(magnitude, iv));
        let toward = _mm256_xor_pd(
            _mm256_cmp_pd::<_CMP_GT_OQ>(wv, zero),
            _mm256_cmp_pd::<_CMP_GT_OQ>(zv, zero),
        );
        up = _mm256_min_pd(up, _mm256_blendv_pd(infinity, distance, toward));
        down = _mm256_min_pd(down, _mm256_blendv_pd(distance, infinity, toward));
        r += 4;
    }
    let (mut ups, mut downs) = ([0.0f64; 4], [0.0f64; 4]);
    // SAFETY: a vector of four into four values, twice.
    unsafe {
        _mm256_storeu_pd(ups.as_mut_ptr(), up);
        _mm256_storeu_pd(downs.as_mut_ptr(), down);
    }
    let least = |v: [f64; 4]| v.into_iter().fold(f64::INFINITY, f64::min);
    portable_nearest_kinks(&z[r..], &w[r..], &inverse[r..], (least(ups), least(downs)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::test_values::mixed;

    /// Below the bound no unit crosses; the bound is tight to within the margin (a move a
    /// little above the nearest kink does cross) — checked with the kernel's own rounding on
    /// random units, kinks at 0 and zero weights.
    #[test]
    fn below_the_bound_no_unit_crosses_and_above_the_nearest_kink_one_does() {
        let value = |s: usize| mixed(s, 5);
        let (units, m, n) = (5, 40, 19);
        let mut z = Array2::from_shape_fn((m, n), |(c, r)| value(c * 97 + r * 13 + 1));
        let mut w = Array2::from_shape_fn((units, n), |(i, r)| value(i * 31 + r * 7 + 3));
        z[[3, 4]] = 0.0;
        z[[5, 6]] = -0.0;
        w[[1, 2]] = 0.0;
        let reach = Reach::new(&z, &w);
        let crosses = |i: usize, c: usize, delta: f64| {
            (0..n).any(|r| {
                let (z, w) = (z[[c, r]], w[[i, r]]);
                (z + w * delta > 0.0) != (z > 0.0)
            })
        };
        for i in 0..units {
            for c in 0..m {
                for (sign, bound) in [(1.0, reach.up[i * m + c]), (-1.0, reach.down[i * m + c])] {
                    if bound > 0.0 {
                        let below = bound.next_down();
                        assert!(
                            !crosses(i, c, sign * below),
                            "i={i} c={c} Δ={}",
                            sign * below
                        );
                        assert!(!reach.may_cross(i, c, sign * below));
                    }
                    if bound.is_finite() {
                        let above = bound * (1.0 + 64.0 * f64::EPSILON) + f64::MIN_POSITIVE;
                        assert!(
                            crosses(i, c, sign * above),
                            "i={i} c={c} Δ={}",
                            sign * above
                        );
                        assert!(reach.may_cross(i, c, sign * above));
                    }
                }
                assert!(!reach.may_cross(i, c, 0.0));
            }
        }
        // The kinks at ±0 give no bound toward them.
        assert_eq!(reach.up[3].min(reach.down[3]), 0.0);
    }
}
