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

use super::formulas::softplus_tail;

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
        if !(std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")) {
            return false;
        }
        let logits = probe_logits(0, 1 << 16);
        let mut tails = Vec::with_capacity(logits.len());
        // SAFETY: the CPU has AVX2 and FMA (checked above).
        unsafe { avx2_tails(&logits, &mut tails) };
        disagreements(&logits, &tails) == 0
    })
}

/// [`kernel_agrees`] for the 512-bit kernel (AVX-512F and DQ).
#[cfg(target_arch = "x86_64")]
fn wide_kernel_agrees() -> bool {
    static AGREES: OnceLock<bool> = OnceLock::new();
    *AGREES.get_or_init(|| {
        if !(std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512dq"))
        {
            return false;
        }
        let logits = probe_logits(0, 1 << 16);
        let mut tails = Vec::with_capacity(logits.len());
        // SAFETY: the CPU has AVX-512F and DQ (checked above).
        unsafe { avx512_tails(&logits, &mut tails) };
        disagreements(&logits, &tails) == 0
    })
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

/// `2^(k/128)` for `k` in `0..128`, as glibc's `exp` tabulates it: entry `2k` is the bits of
/// `T = (2^(k/128) − H)/H` and entry `2k + 1` those of `H` (`2^(k/128)` rounded to nearest)
/// less `k << 45`, so that adding `k << 45` of the scaled argument's integer restores `H` and
/// adds the power of two. Generated with 300-bit arithmetic (mpmath): each is the exact value
/// rounded once.
#[rustfmt::skip]
const EXP_TABLE: [u64; 256] = [
    0x0000000000000000, 0x3ff0000000000000, 0x3c9b3b4f1a88bf6e, 0x3feff63da9fb3335,
    0xbc7160139cd8dc5d, 0x3fefec9a3e778061, 0xbc905e7a108766d1, 0x3fefe315e86e7f85,
    0x3c8cd2523567f613, 0x3fefd9b0d3158574, 0xbc8bce8023f98efa, 0x3fefd06b29ddf6de,
    0x3c60f74e61e6c861, 0x3fefc74518759bc8, 0x3c90a3e45b33d399, 0x3fefbe3ecac6f383,
    0x3c979aa65d837b6d, 0x3fefb5586cf9890f, 0x3c8eb51a92fdeffc, 0x3fefac922b7247f7,
    0x3c3ebe3d702f9cd1, 0x3fefa3ec32d3d1a2, 0xbc6a033489906e0b, 0x3fef9b66affed31b,
    0xbc9556522a2fbd0e, 0x3fef9301d0125b51, 0xbc5080ef8c4eea55, 0x3fef8abdc06c31cc,
    0xbc91c923b9d5f416, 0x3fef829aaea92de0, 0x3c80d3e3e95c55af, 0x3fef7a98c8a58e51,
    0xbc801b15eaa59348, 0x3fef72b83c7d517b, 0xbc8f1ff055de323d, 0x3fef6af9388c8dea,
    0x3c8b898c3f1353bf, 0x3fef635beb6fcb75, 0xbc96d99c7611eb26, 0x3fef5be084045cd4,
    0x3c9aecf73e3a2f60, 0x3fef54873168b9aa, 0xbc8fe782cb86389d, 0x3fef4d5022fcd91d,
    0x3c8a6f4144a6c38d, 0x3fef463b88628cd6, 0x3c807a05b0e4047d, 0x3fef3f49917ddc96,
    0x3c968efde3a8a894, 0x3fef387a6e756238, 0x3c875e18f274487d, 0x3fef31ce4fb2a63f,
    0x3c80472b981fe7f2, 0x3fef2b4565e27cdd, 0xbc96b87b3f71085e, 0x3fef24dfe1f56381,
    0x3c82f7e16d09ab31, 0x3fef1e9df51fdee1, 0xbc3d219b1a6fbffa, 0x3fef187fd0dad990,
    0x3c8b3782720c0ab4, 0x3fef1285a6e4030b, 0x3c6e149289cecb8f, 0x3fef0cafa93e2f56,
    0x3c834d754db0abb6, 0x3fef06fe0a31b715, 0x3c864201e2ac744c, 0x3fef0170fc4cd831,
    0x3c8fdd395dd3f84a, 0x3feefc08b26416ff, 0xbc86a3803b8e5b04, 0x3feef6c55f929ff1,
    0xbc924aedcc4b5068, 0x3feef1a7373aa9cb, 0xbc9907f81b512d8e, 0x3feeecae6d05d866,
    0xbc71d1e83e9436d2, 0x3feee7db34e59ff7, 0xbc991919b3ce1b15, 0x3feee32dc313a8e5,
    0x3c859f48a72a4c6d, 0x3feedea64c123422, 0xbc9312607a28698a, 0x3feeda4504ac801c,
    0xbc58a78f4817895b, 0x3feed60a21f72e2a, 0xbc7c2c9b67499a1b, 0x3feed1f5d950a897,
    0x3c4363ed60c2ac11, 0x3feece086061892d, 0x3c9666093b0664ef, 0x3feeca41ed1d0057,
    0x3c6ecce1daa10379, 0x3feec6a2b5c13cd0, 0x3c93ff8e3f0f1230, 0x3feec32af0d7d3de,
    0x3c7690cebb7aafb0, 0x3feebfdad5362a27, 0x3c931dbdeb54e077, 0x3feebcb299fddd0d,
    0xbc8f94340071a38e, 0x3feeb9b2769d2ca7, 0xbc87deccdc93a349, 0x3feeb6daa2cf6642,
    0xbc78dec6bd0f385f, 0x3feeb42b569d4f82, 0xbc861246ec7b5cf6, 0x3feeb1a4ca5d920f,
    0x3c93350518fdd78e, 0x3feeaf4736b527da, 0x3c7b98b72f8a9b05, 0x3feead12d497c7fd,
    0x3c9063e1e21c5409, 0x3feeab07dd485429, 0x3c34c7855019c6ea, 0x3feea9268a5946b7,
    0x3c9432e62b64c035, 0x3feea76f15ad2148, 0xbc8ce44a6199769f, 0x3feea5e1b976dc09,
    0xbc8c33c53bef4da8, 0x3feea47eb03a5585, 0xbc845378892be9ae, 0x3feea34634ccc320,
    0xbc93cedd78565858, 0x3feea23882552225, 0x3c5710aa807e1964, 0x3feea155d44ca973,
    0xbc93b3efbf5e2228, 0x3feea09e667f3bcd, 0xbc6a12ad8734b982, 0x3feea012750bdabf,
    0xbc6367efb86da9ee, 0x3fee9fb23c651a2f, 0xbc80dc3d54e08851, 0x3fee9f7df9519484,
    0xbc781f647e5a3ecf, 0x3fee9f75e8ec5f74, 0xbc86ee4ac08b7db0, 0x3fee9f9a48a58174,
    0xbc8619321e55e68a, 0x3fee9feb564267c9, 0x3c909ccb5e09d4d3, 0x3feea0694fde5d3f,
    0xbc7b32dcb94da51d, 0x3feea11473eb0187, 0x3c94ecfd5467c06b, 0x3feea1ed0130c132,
    0x3c65ebe1abd66c55, 0x3feea2f336cf4e62, 0xbc88a1c52fb3cf42, 0x3feea427543e1a12,
    0xbc9369b6f13b3734, 0x3feea589994cce13, 0xbc805e843a19ff1e, 0x3feea71a4623c7ad,
    0xbc94d450d872576e, 0x3feea8d99b4492ed, 0x3c90ad675b0e8a00, 0x3feeaac7d98a6699,
    0x3c8db72fc1f0eab4, 0x3feeace5422aa0db, 0xbc65b6609cc5e7ff, 0x3feeaf3216b5448c,
    0x3c7bf68359f35f44, 0x3feeb1ae99157736, 0xbc93091fa71e3d83, 0x3feeb45b0b91ffc6,
    0xbc5da9b88b6c1e29, 0x3feeb737b0cdc5e5, 0xbc6c23f97c90b959, 0x3feeba44cbc8520f,
    0xbc92434322f4f9aa, 0x3feebd829fde4e50, 0xbc85ca6cd7668e4b, 0x3feec0f170ca07ba,
    0x3c71affc2b91ce27, 0x3feec49182a3f090, 0x3c6dd235e10a73bb, 0x3feec86319e32323,
    0xbc87c50422622263, 0x3feecc667b5de565, 0x3c8b1c86e3e231d5, 0x3feed09bec4a2d33,
    0xbc91bbd1d3bcbb15, 0x3feed503b23e255d, 0x3c90cc319cee31d2, 0x3feed99e1330b358,
    0x3c8469846e735ab3, 0x3feede6b5579fdbf, 0xbc82dfcd978e9db4, 0x3feee36bbfd3f37a,
    0x3c8c1a7792cb3387, 0x3feee89f995ad3ad, 0xbc907b8f4ad1d9fa, 0x3feeee07298db666,
    0xbc55c3d956dcaeba, 0x3feef3a2b84f15fb, 0xbc90a40e3da6f640, 0x3feef9728de5593a,
    0xbc68d6f438ad9334, 0x3feeff76f2fb5e47, 0xbc91eee26b588a35, 0x3fef05b030a1064a,
    0x3c74ffd70a5fddcd, 0x3fef0c1e904bc1d2, 0xbc91bdfbfa9298ac, 0x3fef12c25bd71e09,
    0x3c736eae30af0cb3, 0x3fef199bdd85529c, 0x3c8ee3325c9ffd94, 0x3fef20ab5fffd07a,
    0x3c84e08fd10959ac, 0x3fef27f12e57d14b, 0x3c63cdaf384e1a67, 0x3fef2f6d9406e7b5,
    0x3c676b2c6c921968, 0x3fef3720dcef9069, 0xbc808a1883ccb5d2, 0x3fef3f0b555dc3fa,
    0xbc8fad5d3ffffa6f, 0x3fef472d4a07897c, 0xbc900dae3875a949, 0x3fef4f87080d89f2,
    0x3c74a385a63d07a7, 0x3fef5818dcfba487, 0xbc82919e2040220f, 0x3fef60e316c98398,
    0x3c8e5a50d5c192ac, 0x3fef69e603db3285, 0x3c843a59ac016b4b, 0x3fef7321f301b460,
    0xbc82d52107b43e1f, 0x3fef7c97337b9b5f, 0xbc892ab93b470dc9, 0x3fef864614f5a129,
    0x3c74b604603a88d3, 0x3fef902ee78b3ff6, 0x3c83c5ec519d7271, 0x3fef9a51fbc74c83,
    0xbc8ff7128fd391f0, 0x3fefa4afa2a490da, 0xbc8dae98e223747d, 0x3fefaf482d8e67f1,
    0x3c8ec3bc41aa2008, 0x3fefba1bee615a27, 0x3c842b94c3a9eb32, 0x3fefc52b376bba97,
    0x3c8a64a931d185ee, 0x3fefd0765b6e4540, 0xbc8e37bae43be3ed, 0x3fefdbfdad9cbe14,
    0x3c77893b4d91cd9d, 0x3fefe7c1819e90d8, 0x3c5305c14160cc89, 0x3feff3c22b8f71f1,
];

/// `ln(1 + e^(−|z|))` of four logits, and a mask of the lanes (bit `q` for lane `q`) off the
/// main path, whose values the caller must take from the scalar formula instead.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
fn four_tails(z: std::arch::x86_64::__m256d) -> (std::arch::x86_64::__m256d, i32) {
    use std::arch::x86_64::*;

    // exp: x = (k/128)·ln 2 + r, |r| ≤ ln 2/256; e^x = 2^(k/128)·(1 + r + r²·C2 + … + r⁵·C5).
    let inv_ln2_n = _mm256_set1_pd(f64::from_bits(0x4067_1547_652b_82fe)); // 128/ln 2
    let shift = _mm256_set1_pd(f64::from_bits(0x4338_0000_0000_0000)); // 1.5·2⁵²
    let neg_ln2_hi_n = _mm256_set1_pd(-f64::from_bits(0x3f76_2e42_fefa_0000)); // ln 2/128, high
    let neg_ln2_lo_n = _mm256_set1_pd(-f64::from_bits(0x3d0c_f79a_bc9e_3b3a)); // and low part
    let c2 = _mm256_set1_pd(f64::from_bits(0x3fdf_ffff_ffff_fdbd));
    let c3 = _mm256_set1_pd(f64::from_bits(0x3fc5_5555_5555_543c));
    let c4 = _mm256_set1_pd(f64::from_bits(0x3fa5_5555_cf17_2b91));
    let c5 = _mm256_set1_pd(f64::from_bits(0x3f81_1111_67a4_d017));
    // log1p: fdlibm's argument reduction and its polynomial R in s² (s = f/(2 + f)).
    let ln2_hi = _mm256_set1_pd(f64::from_bits(0x3fe6_2e42_fee0_0000));
    let ln2_lo = _mm256_set1_pd(f64::from_bits(0x3dea_39ef_3579_3c76));
    let lp = [
        0x3FE5_5555_5555_5593_u64,
        0x3FD9_9999_9997_FA04,
        0x3FD2_4924_9422_9359,
        0x3FCC_71C5_1D8E_78AF,
        0x3FC7_4664_96CB_03DE,
        0x3FC3_9A09_D078_C69F,
        0x3FC2_F112_DF3E_5244,
    ]
    .map(|bits| _mm256_set1_pd(f64::from_bits(bits)));

    let one = _mm256_set1_pd(1.0);
    let two = _mm256_set1_pd(2.0);
    let half = _mm256_set1_pd(0.5);
    let magnitude_mask = _mm256_set1_pd(f64::from_bits(0x7fff_ffff_ffff_ffff));
    let sign = _mm256_set1_pd(-0.0);
    let smallest_regular = _mm256_set1_pd(f64::from_bits(0x3c90_0000_0000_0000)); // 2⁻⁵⁴
    let largest_regular = _mm256_set1_pd(512.0);
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

/// [`four_tails`] for eight logits with 512-bit vectors: the same operations in the same order,
/// comparisons as masks.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq")]
#[inline]
fn eight_tails(z: std::arch::x86_64::__m512d) -> (std::arch::x86_64::__m512d, u8) {
    use std::arch::x86_64::*;

    // exp: x = (k/128)·ln 2 + r, |r| ≤ ln 2/256; e^x = 2^(k/128)·(1 + r + r²·C2 + … + r⁵·C5).
    let inv_ln2_n = _mm512_set1_pd(f64::from_bits(0x4067_1547_652b_82fe)); // 128/ln 2
    let shift = _mm512_set1_pd(f64::from_bits(0x4338_0000_0000_0000)); // 1.5·2⁵²
    let neg_ln2_hi_n = _mm512_set1_pd(-f64::from_bits(0x3f76_2e42_fefa_0000)); // ln 2/128, high
    let neg_ln2_lo_n = _mm512_set1_pd(-f64::from_bits(0x3d0c_f79a_bc9e_3b3a)); // and low part
    let c2 = _mm512_set1_pd(f64::from_bits(0x3fdf_ffff_ffff_fdbd));
    let c3 = _mm512_set1_pd(f64::from_bits(0x3fc5_5555_5555_543c));
    let c4 = _mm512_set1_pd(f64::from_bits(0x3fa5_5555_cf17_2b91));
    let c5 = _mm512_set1_pd(f64::from_bits(0x3f81_1111_67a4_d017));
    // log1p: fdlibm's argument reduction and its polynomial R in s² (s = f/(2 + f)).
    let ln2_hi = _mm512_set1_pd(f64::from_bits(0x3fe6_2e42_fee0_0000));
    let ln2_lo = _mm512_set1_pd(f64::from_bits(0x3dea_39ef_3579_3c76));
    let lp = [
        0x3FE5_5555_5555_5593_u64,
        0x3FD9_9999_9997_FA04,
        0x3FD2_4924_9422_9359,
        0x3FCC_71C5_1D8E_78AF,
        0x3FC7_4664_96CB_03DE,
        0x3FC3_9A09_D078_C69F,
        0x3FC2_F112_DF3E_5244,
    ]
    .map(|bits| _mm512_set1_pd(f64::from_bits(bits)));

    let one = _mm512_set1_pd(1.0);
    let two = _mm512_set1_pd(2.0);
    let half = _mm512_set1_pd(0.5);
    let magnitude_mask = _mm512_set1_pd(f64::from_bits(0x7fff_ffff_ffff_ffff));
    let sign = _mm512_set1_pd(-0.0);
    let smallest_regular = _mm512_set1_pd(f64::from_bits(0x3c90_0000_0000_0000)); // 2⁻⁵⁴
    let largest_regular = _mm512_set1_pd(512.0);
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
unsafe fn avx512_tails(logits: &[f64], tails: &mut Vec<f64>) {
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
        let mut tails = Vec::new();
        // SAFETY: the CPU has AVX2 and FMA (checked above).
        unsafe { avx2_tails(&logits, &mut tails) };
        let wrong = disagreements(&logits, &tails);
        if cfg!(all(target_os = "linux", target_env = "gnu")) {
            assert_eq!(wrong, 0, "of {} logits", logits.len());
            assert!(kernel_agrees());
        } else {
            eprintln!("{wrong} of {} logits differ from this libm", logits.len());
        }
        if !(std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512dq"))
        {
            eprintln!("no AVX-512F and DQ: the 512-bit kernel is not used on this CPU");
            return;
        }
        tails.clear();
        // SAFETY: the CPU has AVX-512F and DQ (checked above).
        unsafe { avx512_tails(&logits, &mut tails) };
        let wrong = disagreements(&logits, &tails);
        if cfg!(all(target_os = "linux", target_env = "gnu")) {
            assert_eq!(wrong, 0, "512 bits: of {} logits", logits.len());
            assert!(wide_kernel_agrees());
        } else {
            eprintln!(
                "512 bits: {wrong} of {} logits differ from this libm",
                logits.len()
            );
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
