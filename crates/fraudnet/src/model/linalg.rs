//! The one matrix product the model uses. Each entry is summed over `k` in order, starting from
//! zero, with separate multiplies and adds (no fused multiply-add): the result is the same on
//! every CPU, whatever SIMD it has, which keeps runs bit-reproducible and reproduces the
//! notebook's reference digits (its costs were computed this way). ndarray's `dot` picks FMA
//! kernels at run time and so would not.

use ndarray::{Array2, ArrayView2, Axis};

/// `a · b`, row by row: `c[i, :] += a[i, k] · b[k, :]` for `k = 0, 1, …`.
pub(crate) fn matmul(a: ArrayView2<'_, f64>, b: ArrayView2<'_, f64>) -> Array2<f64> {
    assert_eq!(a.ncols(), b.nrows(), "inner dimensions differ");
    let mut c = Array2::zeros((a.nrows(), b.ncols()));
    for (a_row, mut c_row) in a.axis_iter(Axis(0)).zip(c.axis_iter_mut(Axis(0))) {
        for (&a_ik, b_row) in a_row.iter().zip(b.axis_iter(Axis(0))) {
            c_row.zip_mut_with(&b_row, |c, &b| *c += a_ik * b);
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn multiplies_like_the_textbook() {
        let a = array![[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]];
        let b = array![[1.0, 0.5], [0.0, -1.0], [2.0, 1.0]];
        assert_eq!(matmul(a.view(), b.view()), a.dot(&b));
        assert_eq!(matmul(a.t(), a.view()), a.t().dot(&a));
    }
}
