//! Predictions for blocks of rows: the scoring hot path. A file's rows arrive one example per
//! row (example-major); rather than transposing them into the network's one-example-per-column
//! layout, the layers run on the transposed problem `Aₗᵀ = Aₗ₋₁ᵀ · Wₗᵀ`, whose right factor is
//! the small `Wₗᵀ` (a few kilobytes, in the nearest cache) instead of a block of activations
//! that would have to be copied into panels. Every entry is the same sum, in the same order, of
//! the same products (a product of two floats does not depend on their order) as the
//! column-major pass, so the probabilities are the same to the last bit. Knows nothing of files.

use std::cell::RefCell;

use ndarray::ArrayView2;

use super::Mlp;
use crate::error::{Error, Result};
use crate::model::activation::Activation;
use crate::model::formulas::{relu, sigmoid};
use crate::model::linalg::matmul_into_split;

impl Mlp {
    /// The predicted probability of the positive class for each example (column) of `x`.
    pub fn predict(&self, theta: &[f64], x: ArrayView2<'_, f64>) -> Result<Vec<f64>> {
        let mut out = vec![0.0; x.ncols()];
        self.predict_into(theta, x, &mut out)?;
        Ok(out)
    }

    /// [`Mlp::predict`] into a caller's buffer of one value per example, without allocating
    /// (buffers are reused per thread): the scoring hot path. An `x` that is the transpose of a
    /// row-major block (one example per row, as files are read) is used where it lies.
    pub fn predict_into(
        &self,
        theta: &[f64],
        x: ArrayView2<'_, f64>,
        out: &mut [f64],
    ) -> Result<()> {
        self.expect_data(theta, x)?;
        if out.len() != x.ncols() {
            return Err(Error::ShapeMismatch {
                what: "predictions",
                found: vec![out.len()],
                expected: format!("{}: one per example", x.ncols()),
            });
        }
        match x.t().as_slice() {
            Some(rows) => self.predict_rows(theta, rows, out),
            None => self.run_layers(theta, x, None, None, |logits| {
                for (p, &z) in out.iter_mut().zip(logits) {
                    *p = sigmoid(z);
                }
            }),
        }
        Ok(())
    }

    /// The probabilities of the `out.len()` examples whose inputs are the rows of row-major
    /// `rows`, layer by layer on the transposed problem (see the module docs).
    fn predict_rows(&self, theta: &[f64], rows: &[f64], out: &mut [f64]) {
        thread_local! {
            // Wₗᵀ, and two activation buffers (examples × units).
            static SCRATCH: RefCell<[Vec<f64>; 3]> =
                const { RefCell::new([Vec::new(), Vec::new(), Vec::new()]) };
        }
        let m = out.len();
        let depth = self.depth();
        // Blocks scored in parallel already (on the pool's threads): each block's products
        // stay on its thread.
        let on_pool = rayon::current_thread_index().is_some();
        SCRATCH.with(|cell| {
            // Not borrowed already in practice (a product on a pool thread is not split, so no
            // other prediction runs inside it on this thread); fresh buffers if it ever is.
            let mut borrowed = cell.try_borrow_mut();
            let mut fresh: [Vec<f64>; 3] = Default::default();
            let [w_t, ping, pong] = match borrowed.as_deref_mut() {
                Ok(scratch) => scratch,
                Err(_) => &mut fresh,
            };
            let widest = self.sizes[1..].iter().max().copied().unwrap_or(0) * m;
            for buffer in [&mut *ping, &mut *pong] {
                // Grown once: shrinking and regrowing would zero the buffers block after block.
                if buffer.len() < widest {
                    buffer.resize(widest, 0.0);
                }
            }
            let mut input = rows;
            for l in 1..=depth {
                let (w, b) = self.layer_slices(theta, l);
                let (units, inputs) = (self.sizes[l], self.sizes[l - 1]);
                w_t.clear();
                w_t.extend((0..inputs).flat_map(|k| (0..units).map(move |u| w[u * inputs + k])));
                let z = &mut ping[..m * units];
                matmul_into_split(input, w_t, z, (m, inputs, units), !on_pool);
                if l == depth {
                    for (p, &z) in out.iter_mut().zip(z.iter()) {
                        *p = sigmoid(z + b[0]);
                    }
                    return;
                }
                add_bias_activate_rows(z, b, self.hidden);
                std::mem::swap(ping, pong);
                input = &pong[..m * units];
            }
        });
    }
}

/// `A = act(Z + b)` in place in example-major `z` (one row of `b.len()` units per example), the
/// formulas of the column-major pass; with the widest vectors the CPU has (the same bits).
fn add_bias_activate_rows(z: &mut [f64], b: &[f64], activation: Activation) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F, the only feature `rows_avx512` is compiled for.
            return unsafe { rows_avx512(z, b, activation) };
        }
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, the only feature `rows_avx2` is compiled for.
            return unsafe { rows_avx2(z, b, activation) };
        }
    }
    add_bias_activate_body(z, b, activation);
}

/// [`add_bias_activate_rows`] with 512-bit vectors.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn rows_avx512(z: &mut [f64], b: &[f64], activation: Activation) {
    add_bias_activate_body(z, b, activation);
}

/// [`add_bias_activate_rows`] with 256-bit vectors.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn rows_avx2(z: &mut [f64], b: &[f64], activation: Activation) {
    add_bias_activate_body(z, b, activation);
}

#[inline(always)]
fn add_bias_activate_body(z: &mut [f64], b: &[f64], activation: Activation) {
    if activation == Activation::Relu {
        for row in z.chunks_exact_mut(b.len()) {
            for (v, &b) in row.iter_mut().zip(b) {
                *v = relu(*v + b);
            }
        }
        return;
    }
    for row in z.chunks_exact_mut(b.len()) {
        for (v, &b) in row.iter_mut().zip(b) {
            *v = activation.apply(*v + b);
        }
    }
}

#[cfg(test)]
mod tests {
    use ndarray::Array2;

    use super::*;
    use crate::numpy_rng::NumpyRng;

    /// Each vector build of the bias-and-activation pass gives the portable body's bits.
    #[test]
    fn every_vector_build_of_the_bias_and_activation_gives_the_same_bits() {
        let mut rng = NumpyRng::new(3);
        for activation in Activation::ALL {
            for units in [1, 3, 16, 17, 32] {
                let b: Vec<f64> = (0..units).map(|_| rng.randn()).collect();
                let mut z: Vec<f64> = (0..units * 9).map(|_| 2.0 * rng.randn()).collect();
                z[0] = -0.0;
                let mut expected = z.clone();
                add_bias_activate_body(&mut expected, &b, activation);
                let bits = |v: &[f64]| v.iter().map(|p| p.to_bits()).collect::<Vec<_>>();
                #[cfg(target_arch = "x86_64")]
                {
                    if std::is_x86_feature_detected!("avx2") {
                        let mut got = z.clone();
                        // SAFETY: only on a CPU with AVX2.
                        unsafe { rows_avx2(&mut got, &b, activation) };
                        assert_eq!(bits(&got), bits(&expected), "{activation:?} {units}");
                    }
                    if std::is_x86_feature_detected!("avx512f") {
                        let mut got = z.clone();
                        // SAFETY: only on a CPU with AVX-512F.
                        unsafe { rows_avx512(&mut got, &b, activation) };
                        assert_eq!(bits(&got), bits(&expected), "{activation:?} {units}");
                    }
                }
            }
        }
    }

    /// Probabilities from row-major blocks (the transposed problem) and from a column-major
    /// copy (the cost's pass) are the same bits, for every activation and several widths.
    #[test]
    fn rows_and_columns_give_the_same_bits() {
        let mut rng = NumpyRng::new(7);
        for activation in [
            Activation::Relu,
            Activation::LeakyRelu,
            Activation::Tanh,
            Activation::Sigmoid,
        ] {
            for (sizes, m) in [
                (vec![13, 32, 16, 1], 4096),
                (vec![4, 5, 3, 1], 3),
                (vec![7, 1], 10),
                (vec![30, 25, 1], 101),
            ] {
                let mlp = Mlp::new(&sizes).unwrap().with_activation(activation);
                let theta: Vec<f64> = (0..mlp.layout().len()).map(|_| rng.randn()).collect();
                let rows = Array2::from_shape_fn((m, sizes[0]), |_| 3.0 * rng.randn());
                let columns = rows.t().as_standard_layout().into_owned();
                let mut from_rows = vec![0.0; m];
                mlp.predict_into(&theta, rows.t(), &mut from_rows).unwrap();
                let mut from_columns = vec![0.0; m];
                mlp.predict_into(&theta, columns.view(), &mut from_columns)
                    .unwrap();
                let bits = |v: &[f64]| v.iter().map(|p| p.to_bits()).collect::<Vec<_>>();
                assert_eq!(
                    bits(&from_rows),
                    bits(&from_columns),
                    "{activation:?} {sizes:?}"
                );
            }
        }
    }
}
