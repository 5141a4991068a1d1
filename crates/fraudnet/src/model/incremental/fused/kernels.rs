//! The fused kernel's sums, `Σ_r w_out[r]·relu(z[r] + w_next[r]·Δa)` for a group of examples
//! and one or more moves: portable, with 256-bit vectors (four examples a vector) and with
//! 512-bit vectors (eight), every one the same bits. Part of [`super::FusedRelu`].

use super::{LANES, PAIR_LANES, WIDE_PAIR_LANES};
use crate::model::formulas::relu;

/// For each example `q`: `Σ_r w_out[r]·relu(z_q[r] + w_next[r]·Δa_q)` over the units (added to
/// 0 in order), and whether any of them crossed its kink; one scalar sum per example.
#[inline(always)]
pub(super) fn portable_sums<const L: usize>(
    w_next: &[f64],
    w_out: &[f64],
    columns: &[&[f64]; L],
    deltas: &[f64; L],
) -> ([f64; L], [bool; L]) {
    let mut sums = [0.0f64; L];
    let mut crossed = [false; L];
    continue_sums(w_next, w_out, columns, deltas, 0, &mut sums, &mut crossed);
    (sums, crossed)
}

/// Each example's sum and crossing flag carried on, one example at a time, over the units
/// from `start`.
#[inline(always)]
pub(super) fn continue_sums<const L: usize>(
    w_next: &[f64],
    w_out: &[f64],
    columns: &[&[f64]; L],
    deltas: &[f64; L],
    start: usize,
    sums: &mut [f64; L],
    crossed: &mut [bool; L],
) {
    for q in 0..L {
        let units = columns[q][start..]
            .iter()
            .zip(&w_next[start..])
            .zip(&w_out[start..]);
        for ((&z, &w), &w_out) in units {
            let moved = z + w * deltas[q];
            crossed[q] |= (moved > 0.0) != (z > 0.0);
            sums[q] += w_out * relu(moved);
        }
    }
}

/// [`portable_sums`] for [`LANES`] examples with 256-bit vectors, the examples as lanes: the
/// same operations in the same order for every example, so the same bits. Units past the last
/// multiple of four are finished one example at a time.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
pub(super) unsafe fn avx2_sums(
    w_next: &[f64],
    w_out: &[f64],
    columns: &[&[f64]; LANES],
    deltas: &[f64; LANES],
) -> [f64; LANES] {
    use std::arch::x86_64::*;
    let n = w_next.len();
    assert!(w_out.len() >= n && columns.iter().all(|c| c.len() == n));
    let zero = _mm256_setzero_pd();
    let (delta0, delta1) = (
        _mm256_setr_pd(deltas[0], deltas[1], deltas[2], deltas[3]),
        _mm256_setr_pd(deltas[4], deltas[5], deltas[6], deltas[7]),
    );
    let (mut sum0, mut sum1) = (zero, zero);
    let mut r = 0;
    while r + 4 <= n {
        let w_next: &[f64; 4] = w_next[r..r + 4].try_into().expect("4 units");
        let w_out: &[f64; 4] = w_out[r..r + 4].try_into().expect("4 units");
        let tile = |first: usize| {
            // SAFETY: r + 4 <= n = each column's length (asserted above).
            let column = |q: usize| unsafe { _mm256_loadu_pd(columns[first + q].as_ptr().add(r)) };
            units(column(0), column(1), column(2), column(3))
        };
        let (tile0, tile1) = (tile(0), tile(4));
        for k in 0..4 {
            let (w, w_out) = (_mm256_set1_pd(w_next[k]), _mm256_set1_pd(w_out[k]));
            step(tile0[k], w, w_out, delta0, &mut sum0);
            step(tile1[k], w, w_out, delta1, &mut sum1);
        }
        r += 4;
    }
    let mut sums = [0.0f64; LANES];
    // SAFETY: two vectors of four into eight values.
    unsafe {
        _mm256_storeu_pd(sums[..4].as_mut_ptr(), sum0);
        _mm256_storeu_pd(sums[4..].as_mut_ptr(), sum1);
    }
    // The last units, continuing each example's sum in order.
    continue_sums(
        w_next,
        w_out,
        columns,
        deltas,
        r,
        &mut sums,
        &mut [false; LANES],
    );
    sums
}

/// [`avx2_sums`] for two moves of the same four examples: the sums of the first and of the
/// second, each the same bits as [`portable_sums`] gives.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
pub(super) unsafe fn avx2_pair_sums(
    w_next: &[f64],
    w_out: &[f64],
    columns: &[&[f64]; PAIR_LANES],
    first: &[f64; PAIR_LANES],
    second: &[f64; PAIR_LANES],
) -> ([f64; PAIR_LANES], [f64; PAIR_LANES]) {
    use std::arch::x86_64::*;
    let n = w_next.len();
    assert!(w_out.len() >= n && columns.iter().all(|c| c.len() == n));
    let zero = _mm256_setzero_pd();
    let delta_first = _mm256_setr_pd(first[0], first[1], first[2], first[3]);
    let delta_second = _mm256_setr_pd(second[0], second[1], second[2], second[3]);
    let (mut sum_first, mut sum_second) = (zero, zero);
    let mut r = 0;
    while r + 4 <= n {
        let w_next: &[f64; 4] = w_next[r..r + 4].try_into().expect("4 units");
        let w_out: &[f64; 4] = w_out[r..r + 4].try_into().expect("4 units");
        // SAFETY: r + 4 <= n = each column's length (asserted above).
        let column = |q: usize| unsafe { _mm256_loadu_pd(columns[q].as_ptr().add(r)) };
        let tile = units(column(0), column(1), column(2), column(3));
        for k in 0..4 {
            let (w, w_out) = (_mm256_set1_pd(w_next[k]), _mm256_set1_pd(w_out[k]));
            step(tile[k], w, w_out, delta_first, &mut sum_first);
            step(tile[k], w, w_out, delta_second, &mut sum_second);
        }
        r += 4;
    }
    let (mut sums_first, mut sums_second) = ([0.0f64; PAIR_LANES], [0.0f64; PAIR_LANES]);
    // SAFETY: a vector of four into four values, twice.
    unsafe {
        _mm256_storeu_pd(sums_first.as_mut_ptr(), sum_first);
        _mm256_storeu_pd(sums_second.as_mut_ptr(), sum_second);
    }
    // The last units, continuing each example's sums in order.
    let mut ignored = [false; PAIR_LANES];
    continue_sums(
        w_next,
        w_out,
        columns,
        first,
        r,
        &mut sums_first,
        &mut ignored,
    );
    continue_sums(
        w_next,
        w_out,
        columns,
        second,
        r,
        &mut sums_second,
        &mut ignored,
    );
    (sums_first, sums_second)
}

/// [`avx2_pair_sums`] for eight examples and `M` moves with 512-bit vectors: an example's
/// column is read eight units at a time and each 8 × 8 tile transposed in registers (the last
/// units through a masked load, only the loaded ones stepped), so every sum is the same bits as
/// [`portable_sums`] gives.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn avx512_sums<const M: usize>(
    w_next: &[f64],
    w_out: &[f64],
    columns: &[&[f64]; WIDE_PAIR_LANES],
    deltas: [&[f64; WIDE_PAIR_LANES]; M],
) -> [[f64; WIDE_PAIR_LANES]; M] {
    use std::arch::x86_64::*;
    let n = w_next.len();
    assert!(w_out.len() >= n && columns.iter().all(|c| c.len() == n));
    // SAFETY: eight values each.
    let deltas = deltas.map(|d| unsafe { _mm512_loadu_pd(d.as_ptr()) });
    let mut sums = [_mm512_setzero_pd(); M];
    let mut r = 0;
    while r + 8 <= n {
        // SAFETY: r + 8 <= n, each column's length.
        let load = |q: usize| unsafe { _mm512_loadu_pd(columns[q].as_ptr().add(r)) };
        let units = wide_units(std::array::from_fn(load));
        wide_steps(&units, 8, &w_next[r..], &w_out[r..], &deltas, &mut sums);
        r += 8;
    }
    if r < n {
        // The last units through a masked load (nothing read past a column).
        let mask = u8::MAX >> (8 - (n - r));
        // SAFETY: the mask loads the n − r units left of each column.
        let load = |q: usize| unsafe { _mm512_maskz_loadu_pd(mask, columns[q].as_ptr().add(r)) };
        let units = wide_units(std::array::from_fn(load));
        wide_steps(&units, n - r, &w_next[r..], &w_out[r..], &deltas, &mut sums);
    }
    sums.map(|sum| {
        let mut out = [0.0f64; WIDE_PAIR_LANES];
        // SAFETY: a vector of eight into eight values.
        unsafe { _mm512_storeu_pd(out.as_mut_ptr(), sum) };
        out
    })
}

/// The first `width` units of a transposed tile (unit `k` across the eight examples in
/// `units[k]`), each move's sum carried on: `moved = z + w·Δa`, `sum += w_out·max(moved, 0)`
/// (`max(x, 0)` is `x` when `x > 0`, else 0, NaN included: [`relu`] to the bit).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
fn wide_steps<const M: usize>(
    units: &[std::arch::x86_64::__m512d; 8],
    width: usize,
    w_next: &[f64],
    w_out: &[f64],
    deltas: &[std::arch::x86_64::__m512d; M],
    sums: &mut [std::arch::x86_64::__m512d; M],
) {
    use std::arch::x86_64::*;
    let zero = _mm512_setzero_pd();
    for (k, &unit) in units.iter().enumerate().take(width) {
        let (w, w_out) = (_mm512_set1_pd(w_next[k]), _mm512_set1_pd(w_out[k]));
        for (sum, &delta) in sums.iter_mut().zip(deltas) {
            let moved = _mm512_add_pd(unit, _mm512_mul_pd(w, delta));
            *sum = _mm512_add_pd(*sum, _mm512_mul_pd(w_out, _mm512_max_pd(moved, zero)));
        }
    }
}

/// Eight examples' columns, eight units each, as eight vectors of one unit across the
/// examples (an 8 × 8 transpose: pairs, then 128-bit lanes, twice).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
fn wide_units(rows: [std::arch::x86_64::__m512d; 8]) -> [std::arch::x86_64::__m512d; 8] {
    use std::arch::x86_64::*;
    // Lanes of a 512-bit vector, 128 bits each: [a0, a2, b0, b2] and [a1, a3, b1, b3].
    const EVEN: i32 = 0b10_00_10_00;
    const ODD: i32 = 0b11_01_11_01;
    let t: [__m512d; 8] = std::array::from_fn(|p| {
        let (a, b) = (rows[p & !1], rows[p | 1]);
        if p % 2 == 0 {
            _mm512_unpacklo_pd(a, b)
        } else {
            _mm512_unpackhi_pd(a, b)
        }
    });
    // t[0] = units 0, 2, 4, 6 of rows 0 and 1 interleaved; t[1] units 1, 3, 5, 7; likewise
    // t[2], t[3] for rows 2 and 3, and so on.
    let u = [
        _mm512_shuffle_f64x2::<EVEN>(t[0], t[2]), // units 0, 4 of rows 0–3
        _mm512_shuffle_f64x2::<ODD>(t[0], t[2]),  // units 2, 6
        _mm512_shuffle_f64x2::<EVEN>(t[1], t[3]), // units 1, 5
        _mm512_shuffle_f64x2::<ODD>(t[1], t[3]),  // units 3, 7
        _mm512_shuffle_f64x2::<EVEN>(t[4], t[6]), // the same of rows 4–7
        _mm512_shuffle_f64x2::<ODD>(t[4], t[6]),
        _mm512_shuffle_f64x2::<EVEN>(t[5], t[7]),
        _mm512_shuffle_f64x2::<ODD>(t[5], t[7]),
    ];
    [
        _mm512_shuffle_f64x2::<EVEN>(u[0], u[4]),
        _mm512_shuffle_f64x2::<EVEN>(u[2], u[6]),
        _mm512_shuffle_f64x2::<EVEN>(u[1], u[5]),
        _mm512_shuffle_f64x2::<EVEN>(u[3], u[7]),
        _mm512_shuffle_f64x2::<ODD>(u[0], u[4]),
        _mm512_shuffle_f64x2::<ODD>(u[2], u[6]),
        _mm512_shuffle_f64x2::<ODD>(u[1], u[5]),
        _mm512_shuffle_f64x2::<ODD>(u[3], u[7]),
    ]
}

/// Four examples' columns, four units each, as four vectors of one unit across the examples.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
fn units(
    v0: std::arch::x86_64::__m256d,
    v1: std::arch::x86_64::__m256d,
    v2: std::arch::x86_64::__m256d,
    v3: std::arch::x86_64::__m256d,
) -> [std::arch::x86_64::__m256d; 4] {
    use std::arch::x86_64::*;
    let (t0, t1) = (_mm256_unpacklo_pd(v0, v1), _mm256_unpackhi_pd(v0, v1));
    let (t2, t3) = (_mm256_unpacklo_pd(v2, v3), _mm256_unpackhi_pd(v2, v3));
    [
        _mm256_permute2f128_pd::<0x20>(t0, t2),
        _mm256_permute2f128_pd::<0x20>(t1, t3),
        _mm256_permute2f128_pd::<0x31>(t0, t2),
        _mm256_permute2f128_pd::<0x31>(t1, t3),
    ]
}

/// One unit for four examples: `moved = z + w·Δa`, `sum += w_out·max(moved, 0)` (`max(x, 0)`
/// is `x` when `x > 0`, else 0, NaN included: [`relu`] to the bit). Kink crossings are not
/// tested here: [`super::Reach`] says which examples to re-scan.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
fn step(
    z: std::arch::x86_64::__m256d,
    w: std::arch::x86_64::__m256d,
    w_out: std::arch::x86_64::__m256d,
    delta: std::arch::x86_64::__m256d,
    sum: &mut std::arch::x86_64::__m256d,
) {
    use std::arch::x86_64::*;
    let moved = _mm256_add_pd(z, _mm256_mul_pd(w, delta));
    *sum = _mm256_add_pd(
        *sum,
        _mm256_mul_pd(w_out, _mm256_max_pd(moved, _mm256_setzero_pd())),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::test_values::mixed;

    /// The vector kernel against the portable one, bit for bit, at widths that leave every
    /// remainder, with values that cross the kink and special values.
    #[test]
    fn vectors_and_scalars_agree_to_the_bit() {
        let value = |s: usize| mixed(s, 5);
        for n in [1, 3, 4, 5, 7, 8, 9, 13, 16, 23, 128] {
            let z: Vec<Vec<f64>> = (0..LANES)
                .map(|q| (0..n).map(|r| value(q * 97 + r * 13 + 1)).collect())
                .collect();
            let columns: [&[f64]; LANES] = std::array::from_fn(|q| z[q].as_slice());
            let w_next: Vec<f64> = (0..n).map(|r| value(r * 7 + 3)).collect();
            let w_out: Vec<f64> = (0..n).map(|r| value(r * 11 + 5)).collect();
            let mut deltas: [f64; LANES] = std::array::from_fn(|q| value(q * 31 + 2) * 3.0);
            deltas[LANES - 1] = -0.0;
            let expected = portable_sums(&w_next, &w_out, &columns, &deltas);
            let bits = |s: &[f64; LANES]| s.map(f64::to_bits);
            #[cfg(target_arch = "x86_64")]
            {
                if std::is_x86_feature_detected!("avx2") {
                    // SAFETY: only on a CPU with AVX2.
                    let got = unsafe { avx2_sums(&w_next, &w_out, &columns, &deltas) };
                    assert_eq!(bits(&got), bits(&expected.0), "n = {n}");
                }
            }
            assert!(
                n < 8 || expected.1.iter().any(|&c| c),
                "some example crosses"
            );
            // Two moves of the first four examples side by side, against each alone.
            let pair_columns: [&[f64]; PAIR_LANES] = std::array::from_fn(|q| columns[q]);
            let first: [f64; PAIR_LANES] = std::array::from_fn(|q| deltas[q]);
            let second: [f64; PAIR_LANES] = std::array::from_fn(|q| -deltas[q + 4] * 0.5);
            let alone = [first, second].map(|d| portable_sums(&w_next, &w_out, &pair_columns, &d));
            #[cfg(target_arch = "x86_64")]
            {
                if std::is_x86_feature_detected!("avx2") {
                    // SAFETY: only on a CPU with AVX2.
                    let (a, b) =
                        unsafe { avx2_pair_sums(&w_next, &w_out, &pair_columns, &first, &second) };
                    let bits = |s: &[f64; PAIR_LANES]| s.map(f64::to_bits);
                    assert_eq!(bits(&a), bits(&alone[0].0), "n = {n}");
                    assert_eq!(bits(&b), bits(&alone[1].0), "n = {n}");
                }
            }
            // Two moves of all eight side by side with 512-bit vectors, against each alone.
            let second: [f64; WIDE_PAIR_LANES] = std::array::from_fn(|q| -deltas[7 - q] * 0.5);
            let alone = [deltas, second].map(|d| portable_sums(&w_next, &w_out, &columns, &d));
            #[cfg(target_arch = "x86_64")]
            {
                if std::is_x86_feature_detected!("avx512f") {
                    // SAFETY: only on a CPU with AVX-512F.
                    let [a, b] =
                        unsafe { avx512_sums(&w_next, &w_out, &columns, [&deltas, &second]) };
                    assert_eq!(bits(&a), bits(&alone[0].0), "n = {n}");
                    assert_eq!(bits(&b), bits(&alone[1].0), "n = {n}");
                }
            }
        }
    }
}
