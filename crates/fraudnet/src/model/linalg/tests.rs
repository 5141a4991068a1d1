//! Tests of the matrix product and the bias-and-ReLU step: the textbook's bits at every block
//! size, vector width, thread count and panel layout.

use super::*;
use crate::model::test_values::{mixed, unit};
use ndarray::{Array2, array};
use std::hash::Hasher;

/// The textbook loop the kernel must match bit for bit.
fn reference(a: ArrayView2<'_, f64>, b: ArrayView2<'_, f64>) -> Array2<f64> {
    let mut c = Array2::zeros((a.nrows(), b.ncols()));
    for i in 0..a.nrows() {
        for j in 0..b.ncols() {
            let mut s = 0.0;
            for k in 0..a.ncols() {
                s += a[[i, k]] * b[[k, j]];
            }
            c[[i, j]] = s;
        }
    }
    c
}

/// The portable kernel and the vector ones the CPU supports.
fn kernels() -> Vec<super::Kernel> {
    let mut kernels = vec![super::Kernel::Portable];
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") {
            kernels.push(super::Kernel::Avx2);
        }
        if std::is_x86_feature_detected!("avx512f") {
            kernels.push(super::Kernel::Avx512);
        }
    }
    kernels
}

#[test]
fn multiplies_like_the_textbook() {
    let a = array![[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]];
    let b = array![[1.0, 0.5], [0.0, -1.0], [2.0, 1.0]];
    assert_eq!(matmul(a.view(), b.view()), a.dot(&b));
    assert_eq!(matmul(a.t(), a.view()), a.t().dot(&a));
}

#[test]
fn sums_in_the_textbook_order_bit_for_bit_at_every_block_size() {
    // Values of very different magnitudes, so that any other order of summation (or a fused
    // multiply-add) changes the last bits.
    let value = |s: usize| mixed(s, 7);
    // Rows and columns around every kernel's block (3 × 12, 8 × 16, 4 × 4) and its remainders.
    for n in [1, 2, 3, 4, 5, 7, 8, 9, 17] {
        for p in [0, 1, 2, 5, 17] {
            for m in [0, 1, 2, 3, 4, 5, 6, 8, 9, 14, 16, 17, 23, 33, 47] {
                let a = Array2::from_shape_fn((n, p), |(i, k)| value(i * 31 + k * 7 + 1));
                let b = Array2::from_shape_fn((p, m), |(k, j)| value(k * 13 + j * 5 + 2));
                let expected = reference(a.view(), b.view());
                let bits = |c: &Array2<f64>| c.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&matmul(a.view(), b.view())), bits(&expected));
                let at = a.t().to_owned();
                assert_eq!(bits(&matmul(at.t(), b.view())), bits(&expected));
                // Every kernel this CPU can run, not only the one picked at run time.
                let (a, b) = (a.as_slice().unwrap(), b.as_slice().unwrap());
                let expected: Vec<u64> = expected.iter().map(|v| v.to_bits()).collect();
                // Each from `b` and from its panels.
                for variant in kernels() {
                    let mut panels = Vec::new();
                    pack(b, p, m, variant.width(), &mut panels);
                    for panels in [None, Some(panels.as_slice())] {
                        let mut c = vec![f64::NAN; n * m];
                        variant.run(a, b, panels, &mut c, p, m);
                        let got: Vec<u64> = c.iter().map(|v| v.to_bits()).collect();
                        assert_eq!(got, expected, "{n} × {p} × {m}");
                    }
                }
            }
        }
    }
}

/// The inlined product of a few columns, plus its bias, against the textbook's sum then the
/// bias, bit for bit (with no inner dimension too: the empty sum, then the bias).
#[test]
fn narrow_products_are_the_textbook_sums_plus_the_bias() {
    let value = |s: usize| mixed(s, 7);
    fn check<const M: usize>(n: usize, p: usize, value: impl Fn(usize) -> f64) {
        let a = Array2::from_shape_fn((n, p), |(i, k)| value(i * 31 + k * 7 + 1));
        let b = Array2::from_shape_fn((p, M), |(k, j)| value(k * 13 + j * 5 + 2));
        let bias: Vec<f64> = (0..n).map(|i| value(i * 3 + 5)).collect();
        let expected =
            reference(a.view(), b.view()) + Array2::from_shape_fn((n, M), |(i, _)| bias[i]);
        let mut c = vec![f64::NAN; n * M];
        narrow_affine::<M>(
            a.as_slice().unwrap(),
            b.as_slice().unwrap(),
            &bias,
            &mut c,
            (n, p),
        );
        let bits = |v: &mut dyn Iterator<Item = &f64>| v.map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(
            bits(&mut c.iter()),
            bits(&mut expected.iter()),
            "{n} × {p} × {M}"
        );
    }
    for n in [1, 2, 3, 5, 16] {
        for p in [0, 1, 2, 4, 5, 13] {
            check::<1>(n, p, value);
            check::<2>(n, p, value);
            check::<3>(n, p, value);
            check::<4>(n, p, value);
        }
    }
}

#[test]
fn a_product_inside_a_product_packs_its_own_panels() {
    let value = unit;
    let a = Array2::from_shape_fn((7, 9), |(i, k)| value(i * 31 + k * 7 + 1));
    let b = Array2::from_shape_fn((9, 29), |(k, j)| value(k * 13 + j * 5 + 2));
    let expected = reference(a.view(), b.view());
    // As when rayon runs another product's task on a thread waiting inside a product.
    let busy = PANELS.with(|panels| {
        let _held = panels.borrow_mut();
        matmul(a.view(), b.view())
    });
    assert_eq!(busy, expected);
    assert_eq!(matmul(a.view(), b.view()), expected);
}

#[test]
fn large_products_split_across_threads_keep_every_bit() {
    let value = unit;
    // Row counts that leave a short last band; sizes past the parallel threshold.
    for (n, p, m) in [(37, 130, 230), (64, 256, 64), (9, 1024, 120)] {
        assert!(n * p * m >= PARALLEL_WORK);
        let a = Array2::from_shape_fn((n, p), |(i, k)| value(i * 31 + k * 7 + 1));
        let b = Array2::from_shape_fn((p, m), |(k, j)| value(k * 13 + j * 5 + 2));
        let expected: Vec<u64> = reference(a.view(), b.view())
            .iter()
            .map(|v| v.to_bits())
            .collect();
        for threads in [1, 2, 3] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let c = pool.install(|| matmul(a.view(), b.view()));
            let bits: Vec<u64> = c.iter().map(|v| v.to_bits()).collect();
            assert_eq!(bits, expected, "{n}×{p}×{m} on {threads} threads");
        }
    }
}

type BiasRelu = fn(&mut [f64], &[f64], usize, Option<&mut KinkHasher>);

/// The portable bias-and-ReLU step and the vector ones the CPU supports.
fn bias_relus() -> Vec<BiasRelu> {
    let mut variants: Vec<BiasRelu> = vec![add_bias_relu_body];
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: only called on a CPU with AVX2.
            variants.push(|c, b, m, h| unsafe { add_bias_relu_avx2(c, b, m, h) });
        }
    }
    variants
}

#[test]
fn bias_relu_and_its_signature_are_the_textbook_ones_at_every_vector_width() {
    let specials = [
        0.0,
        -0.0,
        1e-300,
        -1e-300,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
    ];
    for (n, m) in [
        (1, 1),
        (3, 5),
        (5, 13),
        (2, 64),
        (1, 128),
        (7, 37),
        (0, 4),
        (3, 0),
    ] {
        let c: Vec<f64> = (0..n * m)
            .map(|k| match k % 5 {
                0 => specials[(k / 5) % specials.len()],
                _ => ((k * 37) % 11) as f64 - 5.0,
            })
            .collect();
        let b: Vec<f64> = (0..n).map(|i| [0.0, 0.5, -0.25][i % 3]).collect();
        // The textbook: Z = C + b, A = max(Z, 0), and Forward::relu_signature's bit packing.
        let mut hasher = KinkHasher::new();
        let (mut bits, mut expected) = (0u64, Vec::new());
        for (k, &v) in c.iter().enumerate() {
            let z = v + b[k / m];
            bits |= u64::from(z > 0.0) << (k % 64);
            if k % 64 == 63 {
                hasher.write_u64(bits);
                bits = 0;
            }
            expected.push(z.max(0.0));
        }
        hasher.write_u64(bits);
        let signature = hasher.finish();
        for variant in bias_relus() {
            let mut a = c.clone();
            let mut hasher = KinkHasher::new();
            variant(&mut a, &b, m, Some(&mut hasher));
            assert_eq!(a, expected);
            assert_eq!(hasher.finish(), signature, "n = {n}, m = {m}");
            let mut a = c.clone();
            variant(&mut a, &b, m, None);
            assert_eq!(a, expected);
        }
    }
}
