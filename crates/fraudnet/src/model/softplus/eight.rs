//! The logistic tails eight at a time with AVX-512 (F and DQ): [`super`]'s four-wide kernel's
//! operations, in the same order, with comparisons as masks.

use super::glibc::{
    EXP_POLY, EXP_TABLE, INV_LN2_N, LARGEST_REGULAR, LN2_HI, LN2_HI_N, LN2_LO, LN2_LO_N,
    LOG1P_POLY, SHIFT, SMALLEST_REGULAR,
};
use crate::model::formulas::softplus_tail;

/// [`super::four_tails`] for eight logits with 512-bit vectors: the same operations in the same order,
/// comparisons as masks.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq")]
#[inline]
fn eight_tails(z: std::arch::x86_64::__m512d) -> (std::arch::x86_64::__m512d, u8) {
    use std::arch::x86_64::*;

    // exp: x = (k/128)·ln 2 + r, |r| ≤ ln 2/256; e^x = 2^(k/128)·(1 + r + r²·C2 + … + r⁵·C5).
    // log1p: fdlibm's argument reduction and its polynomial R in s² (s = f/(2 + f)).
    let splat = |bits: u64| _mm512_set1_pd(f64::from_bits(bits));
    let (inv_ln2_n, shift) = (splat(INV_LN2_N), splat(SHIFT));
    let neg_ln2_hi_n = _mm512_set1_pd(-f64::from_bits(LN2_HI_N));
    let neg_ln2_lo_n = _mm512_set1_pd(-f64::from_bits(LN2_LO_N));
    let [c2, c3, c4, c5] = EXP_POLY.map(splat);
    let (ln2_hi, ln2_lo) = (splat(LN2_HI), splat(LN2_LO));
    let lp = LOG1P_POLY.map(splat);

    let one = _mm512_set1_pd(1.0);
    let two = _mm512_set1_pd(2.0);
    let half = _mm512_set1_pd(0.5);
    let magnitude_mask = _mm512_set1_pd(f64::from_bits(0x7fff_ffff_ffff_ffff));
    let sign = _mm512_set1_pd(-0.0);
    let smallest_regular = splat(SMALLEST_REGULAR);
    let largest_regular = _mm512_set1_pd(LARGEST_REGULAR);
    let index_mask = _mm512_set1_epi64(127);
    let high = |v: __m512d| _mm512_srli_epi64::<32>(_mm512_castpd_si512(v));
    let below = |v: __m512i, bound: i64| _mm512_cmplt_epi64_mask(v, _mm512_set1_epi64(bound));

    let m = _mm512_and_pd(z, magnitude_mask);
    // Ordered comparisons: a NaN lane is not regular.
    let regular = _mm512_cmp_pd_mask::<_CMP_GE_OQ>(m, smallest_regular)
        & _mm512_cmp_pd_mask::<_CMP_LT_OQ>(m, largest_regular);
    let x = _mm512_xor_pd(m, sign);

    // e = exp(x).
    let kd = _mm512_fmadd_pd(inv_ln2_n, x, shift);
    let ki = _mm512_castpd_si512(kd);
    let kd = _mm512_sub_pd(kd, shift);
    let r = _mm512_fmadd_pd(kd, neg_ln2_lo_n, _mm512_fmadd_pd(kd, neg_ln2_hi_n, x));
    let index = _mm512_slli_epi64::<1>(_mm512_and_si512(ki, index_mask));
    // SAFETY: every index is at most 2·127, and 2·127 + 1 < 256.
    let (tail, scale_bits) = unsafe {
        (
            _mm512_i64gather_pd::<8>(index, EXP_TABLE.as_ptr().cast()),
            _mm512_i64gather_epi64::<8>(index, EXP_TABLE.as_ptr().add(1).cast()),
        )
    };
    let scale = _mm512_castsi512_pd(_mm512_add_epi64(scale_bits, _mm512_slli_epi64::<45>(ki)));
    let r2 = _mm512_mul_pd(r, r);
    let low = _mm512_fmadd_pd(r2, _mm512_fmadd_pd(r, c3, c2), _mm512_add_pd(tail, r));
    let poly = _mm512_fmadd_pd(_mm512_mul_pd(r2, r2), _mm512_fmadd_pd(r, c5, c4), low);
    let e = _mm512_fmadd_pd(scale, poly, scale);

    // log1p(e), e in (0, 1].
    let hx = high(e);
    let tiny = below(hx, 0x3e20_0000); // e < 2⁻²⁹: e − e²/2, or e below 2⁻⁵⁴
    let tiny_value = _mm512_mask_blend_pd(
        below(hx, 0x3c90_0000),
        _mm512_sub_pd(e, _mm512_mul_pd(_mm512_mul_pd(e, e), half)),
        e,
    );
    let reduced = !below(hx, 0x3FDA_827A); // e ≥ 0.41422: k = 1, f = (1 + e)/2 − 1 with its correction c
    let u = _mm512_add_pd(one, e);
    let hu = high(u);
    let c = _mm512_div_pd(_mm512_sub_pd(e, _mm512_sub_pd(u, one)), u);
    let hu_low = _mm512_and_si512(hu, _mm512_set1_epi64(0x000f_ffff));
    let halved = _mm512_castsi512_pd(_mm512_or_si512(
        _mm512_and_si512(_mm512_castpd_si512(u), _mm512_set1_epi64(0xffff_ffff)),
        _mm512_slli_epi64::<32>(_mm512_or_si512(hu_low, _mm512_set1_epi64(0x3fe0_0000))),
    ));
    let hu_after = _mm512_srli_epi64::<2>(_mm512_sub_epi64(_mm512_set1_epi64(0x0010_0000), hu_low));
    // fdlibm's other branches: u = 2 (exponent 1), u below √2 after all, |f| < 2⁻²⁰.
    let odd = reduced
        & (!below(hu, 0x4000_0000)
            | below(hu_low, 0x6a09e)
            | _mm512_cmpeq_epi64_mask(hu_after, _mm512_setzero_si512()));
    let f = _mm512_mask_blend_pd(reduced, e, _mm512_sub_pd(halved, one));
    let hfsq = _mm512_mul_pd(_mm512_mul_pd(half, f), f);
    let s = _mm512_div_pd(f, _mm512_add_pd(two, f));
    let z1 = _mm512_mul_pd(s, s);
    let z2 = _mm512_mul_pd(z1, z1);
    let z4 = _mm512_mul_pd(z2, z2);
    let z6 = _mm512_mul_pd(z4, z2);
    let r2 = _mm512_fmadd_pd(z1, lp[2], lp[1]);
    let r3 = _mm512_fmadd_pd(z1, lp[4], lp[3]);
    let r4 = _mm512_fmadd_pd(z1, lp[6], lp[5]);
    let big_r = _mm512_fmadd_pd(
        z6,
        r4,
        _mm512_fmadd_pd(z4, r3, _mm512_fmadd_pd(z1, lp[0], _mm512_mul_pd(z2, r2))),
    );
    let s_term = _mm512_mul_pd(s, _mm512_add_pd(hfsq, big_r));
    let unreduced_value = _mm512_sub_pd(f, _mm512_sub_pd(hfsq, s_term));
    let reduced_value = _mm512_sub_pd(
        ln2_hi,
        _mm512_sub_pd(
            _mm512_sub_pd(hfsq, _mm512_add_pd(s_term, _mm512_add_pd(ln2_lo, c))),
            f,
        ),
    );
    let value = _mm512_mask_blend_pd(
        reduced,
        _mm512_mask_blend_pd(tiny, unreduced_value, tiny_value),
        reduced_value,
    );
    (value, !regular | odd)
}

/// `ln(1 + e^(−|z|))` of `logits` eight at a time (the last `len % 8` through a masked load,
/// and the lanes off the main path, by the scalar formula), appended to `tails`.
///
/// # Safety
/// The CPU must have AVX-512F and AVX-512DQ.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq")]
pub(super) unsafe fn avx512_tails(logits: &[f64], tails: &mut Vec<f64>) {
    use std::arch::x86_64::*;
    tails.reserve(logits.len());
    for group in logits.chunks(8) {
        let valid = u8::MAX >> (8 - group.len());
        // SAFETY: the mask loads group.len() values, all in bounds.
        let z = unsafe { _mm512_maskz_loadu_pd(valid, group.as_ptr()) };
        let (values, scalar) = eight_tails(z);
        let mut out = [0.0f64; 8];
        // SAFETY: eight values into eight.
        unsafe { _mm512_storeu_pd(out.as_mut_ptr(), values) };
        let mut scalar = scalar & valid;
        while scalar != 0 {
            let q = scalar.trailing_zeros() as usize;
            out[q] = softplus_tail(group[q]);
            scalar &= scalar - 1;
        }
        tails.extend_from_slice(&out[..group.len()]);
    }
}
