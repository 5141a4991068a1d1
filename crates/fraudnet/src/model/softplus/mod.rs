//! `ln(1 + e^(−|z|))`, the transcendental part of the logistic loss, for many logits at once:
//! eight at a time with AVX-512 (F and DQ), four with AVX2 and FMA, to the same bits as
//! `(−|z|).exp().ln_1p()` through the platform's libm, so that no reported digit depends on
//! which path computed a term.
//!
//! The vector kernel follows the two algorithms of glibc (the one this was measured on is 2.36,
//! whose `exp` runs its FMA build on CPUs that have FMA): `exp` as `2^(k/128)·(1 + p(r))` with
//! a 128-entry table and a degree-5 polynomial, fused multiply-adds where that build has them;
//! `log1p` as fdlibm's `f − (hfsq − s·(hfsq + R(s²)))`, unfused except in `R`'s polynomial.
//! Each operation is the scalar code's, in its order and with its rounding; lanes off the main
//! path (|z| below 2⁻⁵⁴ or above 512, NaN, the rare inputs where fdlibm takes another branch)
//! are recomputed by the scalar formula. Because another libm may round differently, each
//! kernel is used only after it agreed bit for bit with the scalar formula on a fixed set of
//! 65 536 logits in this process (about 1 ms, once); otherwise every term is scalar.

use std::sync::OnceLock;

#[cfg(target_arch = "x86_64")]
mod eight;
mod glibc;

use super::formulas::softplus_tail;
#[cfg(target_arch = "x86_64")]
use eight::avx512_tails;
use glibc::{
    EXP_POLY, EXP_TABLE, INV_LN2_N, LARGEST_REGULAR, LN2_HI, LN2_HI_N, LN2_LO, LN2_LO_N,
    LOG1P_POLY, SHIFT, SMALLEST_REGULAR,
};

/// Appends `ln(1 + e^(−|z|))` of each logit to `tails`, each the same bits as
/// `(-z.abs()).exp().ln_1p()` gives (eight or four at a time where the CPU and its libm allow).
///
/// ```
/// let logits = [0.5, -3.0, 12.0, 0.0, -40.0, 700.0];
/// let mut tails = Vec::new();
/// fraudnet::model::softplus_tails(&logits, &mut tails);
/// for (&z, &tail) in logits.iter().zip(&tails) {
///     assert_eq!(tail.to_bits(), (-z.abs()).exp().ln_1p().to_bits());
/// }
/// ```
pub fn softplus_tails(logits: &[f64], tails: &mut Vec<f64>) {
    #[cfg(target_arch = "x86_64")]
    {
        if logits.len() >= 8 && wide_kernel_agrees() {
            // SAFETY: `wide_kernel_agrees` is true only where the CPU has AVX-512F and DQ.
            unsafe { avx512_tails(logits, tails) };
            return;
        }
        if logits.len() >= 4 && kernel_agrees() {
            // SAFETY: `kernel_agrees` is true only where the CPU has AVX2 and FMA.
            unsafe { avx2_tails(logits, tails) };
            return;
        }
    }
    tails.extend(logits.iter().map(|&z| softplus_tail(z)));
}

/// Whether the CPU has the kernel's features and the kernel gives the scalar formula's bits on
/// [`probe_logits`] (decided once per process).
#[cfg(target_arch = "x86_64")]
fn kernel_agrees() -> bool {
    static AGREES: OnceLock<bool> = OnceLock::new();
    *AGREES.get_or_init(|| {
        // SAFETY: `agrees` runs the kernel only on a CPU with AVX2 and FMA (checked first).
        std::is_x86_feature_detected!("avx2")
            && std::is_x86_feature_detected!("fma")
            && unsafe { agrees(avx2_tails) }
    })
}

/// [`kernel_agrees`] for the 512-bit kernel (AVX-512F and DQ).
#[cfg(target_arch = "x86_64")]
fn wide_kernel_agrees() -> bool {
    static AGREES: OnceLock<bool> = OnceLock::new();
    *AGREES.get_or_init(|| {
        // SAFETY: `agrees` runs the kernel only on a CPU with AVX-512F and DQ (checked first).
        std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512dq")
            && unsafe { agrees(avx512_tails) }
    })
}

/// Whether `kernel` gives the scalar formula's bits on [`probe_logits`].
///
/// # Safety
/// The CPU must have the kernel's features.
#[cfg(target_arch = "x86_64")]
unsafe fn agrees(kernel: unsafe fn(&[f64], &mut Vec<f64>)) -> bool {
    let logits = probe_logits(0, 1 << 16);
    let mut tails = Vec::with_capacity(logits.len());
    // SAFETY: the caller's promise.
    unsafe { kernel(&logits, &mut tails) };
    disagreements(&logits, &tails) == 0
}

/// How many of `tails` differ in any bit from [`softplus_tail`] of the matching logit.
fn disagreements(logits: &[f64], tails: &[f64]) -> usize {
    logits
        .iter()
        .zip(tails)
        .filter(|&(&z, &tail)| tail.to_bits() != softplus_tail(z).to_bits())
        .count()
}

/// `n` logits of both signs that reach every branch and table entry of the kernel: magnitudes
/// spread evenly over `[0, 40)` (where a network's logits lie) and spread over the binary
/// exponents from 2⁻⁶⁰ to 2¹⁰ (the tiny and the huge ones the kernel hands to the scalar
/// formula), from the pseudo-random sequence `seed` starts.
fn probe_logits(seed: u64, n: usize) -> Vec<f64> {
    let mut state = 0x9E37_79B9_7F4A_7C15_u64 ^ seed;
    let mut next = move || {
        // xorshift64: a fixed sequence, no dependency for a probe.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..n)
        .map(|i| {
            let bits = next();
            let unit = (bits >> 11) as f64 / (1u64 << 53) as f64;
            let magnitude = if i % 4 == 3 {
                (unit * 70.0 - 60.0).exp2()
            } else {
                unit * 40.0
            };
            if bits & 1 == 0 { magnitude } else { -magnitude }
        })
        .collect()
}

/// `ln(1 + e^(−|z|))` of four logits, and a mask of the lanes (bit `q` for lane `q`) off the
/// main path, whose values the caller must take from the scalar formula instead.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
fn four_tails(z: std::arch::x86_64::__m256d) -> (std::arch::x86_64::__m256d, i32) {
    use std::arch::x86_64::*;

    // exp: x = (k/128)·ln 2 + r, |r| ≤ ln 2/256; e^x = 2^(k/128)·(1 + r + r²·C2 + … + r⁵·C5).
    // log1p: fdlibm's argument reduction and its polynomial R in s² (s = f/(2 + f)).
    let splat = |bits: u64| _mm256_set1_pd(f64::from_bits(bits));
    let (inv_ln2_n, shift) = (splat(INV_LN2_N), splat(SHIFT));
    let neg_ln2_hi_n = _mm256_set1_pd(-f64::from_bits(LN2_HI_N));
    let neg_ln2_lo_n = _mm256_set1_pd(-f64::from_bits(LN2_LO_N));
    let [c2, c3, c4, c5] = EXP_POLY.map(splat);
    let (ln2_hi, ln2_lo) = (splat(LN2_HI), splat(LN2_LO));
    let lp = LOG1P_POLY.map(splat);

    let one = _mm256_set1_pd(1.0);
    let two = _mm256_set1_pd(2.0);
    let half = _mm256_set1_pd(0.5);
    let magnitude_mask = _mm256_set1_pd(f64::from_bits(0x7fff_ffff_ffff_ffff));
    let sign = _mm256_set1_pd(-0.0);
    let smallest_regular = splat(SMALLEST_REGULAR);
    let largest_regular = _mm256_set1_pd(LARGEST_REGULAR);
    let index_mask = _mm256_set1_epi64x(127);
    let high = |v: __m256d| _mm256_srli_epi64::<32>(_mm256_castpd_si256(v));
    let below = |v: __m256i, bound: i64| _mm256_cmpgt_epi64(_mm256_set1_epi64x(bound), v);

    let m = _mm256_and_pd(z, magnitude_mask);
    // Ordered comparisons: a NaN lane is not regular.
    let regular = _mm256_and_pd(
        _mm256_cmp_pd::<_CMP_GE_OQ>(m, smallest_regular),
        _mm256_cmp_pd::<_CMP_LT_OQ>(m, largest_regular),
    );
    let x = _mm256_xor_pd(m, sign);

    // e = exp(x).
    let kd = _mm256_fmadd_pd(inv_ln2_n, x, shift);
    let ki = _mm256_castpd_si256(kd);
    let kd = _mm256_sub_pd(kd, shift);
    let r = _mm256_fmadd_pd(kd, neg_ln2_lo_n, _mm256_fmadd_pd(kd, neg_ln2_hi_n, x));
    let index = _mm256_slli_epi64::<1>(_mm256_and_si256(ki, index_mask));
    // SAFETY: every index is at most 2·127, and 2·127 + 1 < 256.
    let (tail, scale_bits) = unsafe {
        (
            _mm256_i64gather_pd::<8>(EXP_TABLE.as_ptr().cast(), index),
            _mm256_i64gather_epi64::<8>(EXP_TABLE.as_ptr().add(1).cast(), index),
        )
    };
    let scale = _mm256_castsi256_pd(_mm256_add_epi64(scale_bits, _mm256_slli_epi64::<45>(ki)));
    let r2 = _mm256_mul_pd(r, r);
    let low = _mm256_fmadd_pd(r2, _mm256_fmadd_pd(r, c3, c2), _mm256_add_pd(tail, r));
    let poly = _mm256_fmadd_pd(_mm256_mul_pd(r2, r2), _mm256_fmadd_pd(r, c5, c4), low);
    let e = _mm256_fmadd_pd(scale, poly, scale);

    // log1p(e), e in (0, 1].
    let hx = high(e);
    let tiny = below(hx, 0x3e20_0000); // e < 2⁻²⁹: e − e²/2, or e below 2⁻⁵⁴
    let tiny_value = _mm256_blendv_pd(
        _mm256_sub_pd(e, _mm256_mul_pd(_mm256_mul_pd(e, e), half)),
        e,
        _mm256_castsi256_pd(below(hx, 0x3c90_0000)),
    );
    let reduced = _mm256_castsi256_pd(_mm256_xor_si256(
        below(hx, 0x3FDA_827A),
        _mm256_set1_epi64x(-1),
    )); // e ≥ 0.41422: k = 1, f = (1 + e)/2 − 1 with its correction c
    let u = _mm256_add_pd(one, e);
    let hu = high(u);
    let c = _mm256_div_pd(_mm256_sub_pd(e, _mm256_sub_pd(u, one)), u);
    let hu_low = _mm256_and_si256(hu, _mm256_set1_epi64x(0x000f_ffff));
    let halved = _mm256_castsi256_pd(_mm256_or_si256(
        _mm256_and_si256(_mm256_castpd_si256(u), _mm256_set1_epi64x(0xffff_ffff)),
        _mm256_slli_epi64::<32>(_mm256_or_si256(hu_low, _mm256_set1_epi64x(0x3fe0_0000))),
    ));
    let hu_after =
        _mm256_srli_epi64::<2>(_mm256_sub_epi64(_mm256_set1_epi64x(0x0010_0000), hu_low));
    // fdlibm's other branches: u = 2 (exponent 1), u below √2 after all, |f| < 2⁻²⁰.
    let odd = _mm256_and_pd(
        reduced,
        _mm256_castsi256_pd(_mm256_or_si256(
            _mm256_xor_si256(below(hu, 0x4000_0000), _mm256_set1_epi64x(-1)),
            _mm256_or_si256(
                below(hu_low, 0x6a09e),
                _mm256_cmpeq_epi64(hu_after, _mm256_setzero_si256()),
            ),
        )),
    );
    let f = _mm256_blendv_pd(e, _mm256_sub_pd(halved, one), reduced);
    let hfsq = _mm256_mul_pd(_mm256_mul_pd(half, f), f);
    let s = _mm256_div_pd(f, _mm256_add_pd(two, f));
    let z1 = _mm256_mul_pd(s, s);
    let z2 = _mm256_mul_pd(z1, z1);
    let z4 = _mm256_mul_pd(z2, z2);
    let z6 = _mm256_mul_pd(z4, z2);
    let r2 = _mm256_fmadd_pd(z1, lp[2], lp[1]);
    let r3 = _mm256_fmadd_pd(z1, lp[4], lp[3]);
    let r4 = _mm256_fmadd_pd(z1, lp[6], lp[5]);
    let big_r = _mm256_fmadd_pd(
        z6,
        r4,
        _mm256_fmadd_pd(z4, r3, _mm256_fmadd_pd(z1, lp[0], _mm256_mul_pd(z2, r2))),
    );
    let s_term = _mm256_mul_pd(s, _mm256_add_pd(hfsq, big_r));
    let unreduced_value = _mm256_sub_pd(f, _mm256_sub_pd(hfsq, s_term));
    let reduced_value = _mm256_sub_pd(
        ln2_hi,
        _mm256_sub_pd(
            _mm256_sub_pd(hfsq, _mm256_add_pd(s_term, _mm256_add_pd(ln2_lo, c))),
            f,
        ),
    );
    let value = _mm256_blendv_pd(
        _mm256_blendv_pd(unreduced_value, tiny_value, _mm256_castsi256_pd(tiny)),
        reduced_value,
        reduced,
    );

    let scalar = _mm256_movemask_pd(_mm256_or_pd(
        _mm256_xor_pd(regular, _mm256_castsi256_pd(_mm256_set1_epi64x(-1))),
        odd,
    ));
    (value, scalar)
}

/// `ln(1 + e^(−|z|))` of `logits` four at a time (the last `len % 4`, and the lanes off the
/// main path, by the scalar formula), appended to `tails`. (Two groups of four side by side
/// were slower: the registers ran out and values went to the stack.)
///
/// # Safety
/// The CPU must have AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn avx2_tails(logits: &[f64], tails: &mut Vec<f64>) {
    use std::arch::x86_64::*;
    let mut quads = logits.chunks_exact(4);
    for quad in &mut quads {
        // SAFETY: four values in bounds.
        let (values, scalar) = four_tails(unsafe { _mm256_loadu_pd(quad.as_ptr()) });
        let mut out = [0.0f64; 4];
        // SAFETY: four values into four.
        unsafe { _mm256_storeu_pd(out.as_mut_ptr(), values) };
        if scalar != 0 {
            for (q, value) in out.iter_mut().enumerate() {
                if scalar & (1 << q) != 0 {
                    *value = softplus_tail(quad[q]);
                }
            }
        }
        tails.extend_from_slice(&out);
    }
    tails.extend(quads.remainder().iter().map(|&z| softplus_tail(z)));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Logits that sit on the kernel's branch points: exp's special range, fdlibm's 2⁻⁵⁴,
    /// 2⁻²⁹ and 0.41422 thresholds (|z| near −ln of each), e = 1, non-finite values.
    fn edges() -> Vec<f64> {
        let mut edges = vec![
            0.0,
            -0.0,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MIN_POSITIVE,
            5e-324,
            512.0,
            511.999_999_999_999_9,
            708.0,
            745.2,
            800.0,
        ];
        for centre in [
            2f64.powi(-54),
            2f64.powi(-53),
            -(2f64.powi(-29)).ln(),
            -(2f64.powi(-54)).ln(),
            -(0.414_213_538_169_860_84f64).ln(),
            20.0,
        ] {
            let mut v = centre;
            for _ in 0..64 {
                edges.extend([v, -v]);
                v = v.next_up();
            }
            let mut v = centre;
            for _ in 0..64 {
                v = v.next_down();
                edges.extend([v, -v]);
            }
        }
        edges
    }

    #[test]
    fn the_batch_gives_the_scalar_formulas_bits() {
        let mut logits = probe_logits(1, 1 << 20);
        logits.extend(edges());
        for len in [0, 1, 3, 4, 5, 7, 8, 9, 15, 16, 17, logits.len()] {
            let mut tails = vec![f64::NAN; 2];
            softplus_tails(&logits[..len], &mut tails);
            assert_eq!(tails.len(), len + 2, "appended, not replaced");
            assert_eq!(disagreements(&logits[..len], &tails[2..]), 0);
        }
    }

    /// The kernel itself, not the guarded entry point (which falls back to the scalar formula
    /// wherever the kernel disagrees): on the platform it was written against it must give
    /// libm's bits, so that the fast path is in use there. Elsewhere its count is printed.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_kernel_gives_glibcs_bits() {
        if !(std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")) {
            eprintln!("no AVX2 and FMA: the kernel is not used on this CPU");
            return;
        }
        let mut logits = probe_logits(2, 1 << 21);
        logits.extend(edges());
        // Each kernel's count of differing tails; on glibc none, and the kernel in use.
        let judge = |what: &str, kernel: unsafe fn(&[f64], &mut Vec<f64>), in_use: fn() -> bool| {
            let mut tails = Vec::new();
            // SAFETY: only kernels whose features the CPU has (checked by the caller).
            unsafe { kernel(&logits, &mut tails) };
            let wrong = disagreements(&logits, &tails);
            if cfg!(all(target_os = "linux", target_env = "gnu")) {
                assert_eq!(wrong, 0, "{what}: of {} logits", logits.len());
                assert!(in_use(), "{what}");
            } else {
                eprintln!(
                    "{what}: {wrong} of {} logits differ from this libm",
                    logits.len()
                );
            }
        };
        judge("256 bits", avx2_tails, kernel_agrees);
        if std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512dq") {
            judge("512 bits", avx512_tails, wide_kernel_agrees);
        } else {
            eprintln!("no AVX-512F and DQ: the 512-bit kernel is not used on this CPU");
        }
    }

    /// The same on 2²⁸ other logits (ten seconds in release):
    /// `cargo test --release -p fraudnet --lib softplus -- --ignored`.
    #[cfg(target_arch = "x86_64")]
    #[test]
    #[ignore = "ten seconds in release: run by hand after touching the kernel"]
    fn the_kernel_gives_glibcs_bits_on_many_more_logits() {
        if !(std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")) {
            return;
        }
        let (mut wrong, mut total) = (0, 0);
        let mut tails = Vec::new();
        for block in 0..64 {
            let logits = probe_logits(3 + block, 1 << 22);
            tails.clear();
            // SAFETY: the CPU has AVX2 and FMA (checked above).
            unsafe { avx2_tails(&logits, &mut tails) };
            wrong += disagreements(&logits, &tails);
            total += logits.len();
            if std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512dq")
            {
                tails.clear();
                // SAFETY: the CPU has AVX-512F and DQ (checked above).
                unsafe { avx512_tails(&logits, &mut tails) };
                wrong += disagreements(&logits, &tails);
                total += logits.len();
            }
        }
        assert_eq!(wrong, 0, "of {total} logits");
    }
}
