//! The one matrix product the model uses, and the hidden layers' bias-and-ReLU step.
//! Large products run on rayon's pool, split into bands of rows that each entry never straddles.
//!
//! Each entry of a product is summed over `k` in order, starting from zero, with separate
//! multiplies and adds (no fused multiply-add): the result is the same on every CPU, whatever SIMD
//! it has, which keeps runs bit-reproducible and reproduces the notebook's reference digits (its
//! costs were computed this way). ndarray's `dot` picks FMA kernels at run time and so would not.
//!
//! The kernel keeps a block of `c` in registers and vectorises across columns `j`: every entry
//! still goes through exactly `c[i, j] = ((0 + a[i,0]·b[0,j]) + a[i,1]·b[1,j]) + …`, each
//! multiply and add rounded on its own (IEEE 754 multiplies and adds are exact to the last bit
//! whatever the vector width, and Rust never contracts `x * y + z` into an FMA). 512-bit vectors
//! (AVX-512F) for products at least a block wide, else 256-bit ones (AVX2), are used when the
//! CPU has them, chosen at run time; they change the speed, not a single bit of the result.

use ndarray::{Array2, ArrayView2};
use rayon::prelude::*;

use super::formulas::{KinkHasher, relu, write_kink_pattern};

/// `a · b` for row-major `a` (`n × p`) and `b` (`p × m`), written into row-major `c` (`n × m`),
/// every entry summed over `k = 0, 1, …` from `0.0`.
///
/// Panics if a slice's length does not match its shape.
pub(crate) fn matmul_into(a: &[f64], b: &[f64], c: &mut [f64], n: usize, p: usize, m: usize) {
    matmul_into_split(a, b, c, (n, p, m), true);
}

/// [`matmul_into`], split across threads only when `parallel`: a caller that is one of many
/// parallel tasks already (scoring a chunk of a file) passes `false`, where splitting each
/// product again would only hand work back and forth between threads that are all busy.
pub(crate) fn matmul_into_split(
    a: &[f64],
    b: &[f64],
    c: &mut [f64],
    (n, p, m): (usize, usize, usize),
    parallel: bool,
) {
    assert_eq!(a.len(), n * p, "a is not n × p");
    assert_eq!(b.len(), p * m, "b is not p × m");
    assert_eq!(c.len(), n * m, "c is not n × m");
    let kernel = Kernel::for_product(m);
    // With several blocks of rows, each strip of `W` columns of `b` is copied once into a
    // contiguous panel: the blocks then read `p × W` values in order instead of `p` rows `m`
    // apart (which, for `m` a power of two, all fall into the same few cache sets).
    if n > kernel.rows() && m >= kernel.width() && p > 0 {
        PANELS.with(|cell| {
            // Busy when this thread is already inside a product (rayon ran another task while
            // it waited): this one then gets its own buffer.
            let mut borrowed = cell.try_borrow_mut();
            let mut own = Vec::new();
            let panels = borrowed.as_deref_mut().unwrap_or(&mut own);
            pack(b, p, m, kernel.width(), panels);
            split(kernel, a, b, Some(panels), c, (n, p, m), parallel);
        });
    } else {
        split(kernel, a, b, None, c, (n, p, m), parallel);
    }
}

/// `c = a · b + bias` for a product only `M` columns wide (`a` is `n × p`, `b` is `p × M`, `c` is
/// `n × M`, `bias` one value per row), inlined into its caller with no kernel to choose: each
/// row of `c` summed by the kernels' own block, its `M` sums in registers, then its bias
/// added — the values of [`matmul_into`] followed by adding the bias. A tiny network's layer on
/// a few examples is a few dozen multiply-adds, for which choosing and entering a kernel cost as
/// much as the sums.
#[inline(always)]
pub(crate) fn narrow_affine<const M: usize>(
    a: &[f64],
    b: &[f64],
    bias: &[f64],
    c: &mut [f64],
    (n, p): (usize, usize),
) {
    assert!(
        a.len() == n * p && b.len() == p * M && c.len() == n * M && bias.len() == n,
        "a, b, c, bias are n × p, p × M, n × M, n"
    );
    if p == 0 {
        // The empty sums, then the bias.
        for (c_row, &bias) in c.chunks_exact_mut(M).zip(bias) {
            c_row.iter_mut().for_each(|v| *v = 0.0 + bias);
        }
        return;
    }
    for ((a_row, c_row), &bias) in a.chunks_exact(p).zip(c.chunks_exact_mut(M)).zip(bias) {
        block::<1, M>(a_row, (b, M, 0), c_row, p, M, 0);
        c_row.iter_mut().for_each(|v| *v += bias);
    }
}

thread_local! {
    /// A thread's buffer for the panels of `b`, reused from product to product.
    static PANELS: std::cell::RefCell<Vec<f64>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// `b`'s strips of `width` columns (the last `m % width` left out), each copied as a
/// contiguous `p × width` panel, one after the other, into `panels`.
fn pack(b: &[f64], p: usize, m: usize, width: usize, panels: &mut Vec<f64>) {
    panels.clear();
    panels.reserve(p * (m - m % width));
    for j in (0..m - m % width).step_by(width) {
        for row in b.chunks_exact(m) {
            panels.extend_from_slice(&row[j..j + width]);
        }
    }
}

/// [`matmul_into`] split into bands of rows of `c` on rayon's pool when large and `parallel`:
/// every entry is still summed by the same kernel in the same order, so the bits do not depend
/// on the split. The size first: a small product (most of a small network's) skips the pool
/// lookup.
#[inline(always)]
fn split(
    kernel: Kernel,
    a: &[f64],
    b: &[f64],
    panels: Option<&[f64]>,
    c: &mut [f64],
    (n, p, m): (usize, usize, usize),
    parallel: bool,
) {
    if parallel
        && n.saturating_mul(p).saturating_mul(m) >= PARALLEL_WORK
        && p > 0
        && m > 0
        && n >= 8
        && rayon::current_num_threads() > 1
    {
        let threads = rayon::current_num_threads();
        // A whole number of the kernel's row blocks, so that no band leaves rows over.
        let rows = kernel.rows();
        let band = (n / (4 * threads)).max(rows).next_multiple_of(rows);
        c.par_chunks_mut(band * m)
            .zip(a.par_chunks(band * p))
            .for_each(|(c, a)| kernel.run(a, b, panels, c, p, m));
        return;
    }
    kernel.run(a, b, panels, c, p, m);
}

/// Multiply-adds from which a product is worth splitting across threads (≈ 0.3 ms of work).
const PARALLEL_WORK: usize = 1 << 20;

/// The matrix kernel this CPU runs.
#[derive(Clone, Copy)]
enum Kernel {
    /// 256-bit vectors: 3 rows × 12 columns of `c` per block (9 of the 16 registers for the
    /// sums, 3 for `b`'s row, one for `a`'s value and one for a product: none spills to the
    /// stack, which 4 × 12 did).
    #[cfg(target_arch = "x86_64")]
    Avx2,
    /// 512-bit vectors: 8 rows × 16 columns of `c` per block (16 of the 32 registers for the
    /// sums, 2 for `b`'s row).
    #[cfg(target_arch = "x86_64")]
    Avx512,
    /// 4 rows × 4 columns, whatever the CPU.
    Portable,
}

impl Kernel {
    /// The kernel this CPU runs for a product with `m` columns: 512-bit vectors only when a
    /// row holds a whole block's width (a narrow product, like the notebook's 3 examples, is
    /// all remainder there, and the 256-bit kernel's blocks of 3 rows keep more sums going).
    #[inline(always)]
    fn for_product(m: usize) -> Kernel {
        #[cfg(target_arch = "x86_64")]
        {
            if m >= Kernel::Avx512.width() && std::is_x86_feature_detected!("avx512f") {
                return Kernel::Avx512;
            }
            if std::is_x86_feature_detected!("avx2") {
                return Kernel::Avx2;
            }
        }
        Kernel::Portable
    }

    /// Rows of `c` per block.
    fn rows(self) -> usize {
        match self {
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => 3,
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => 8,
            Kernel::Portable => 4,
        }
    }

    /// Columns of `c` per block (and of `b` per panel).
    fn width(self) -> usize {
        match self {
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => 12,
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => 16,
            Kernel::Portable => 4,
        }
    }

    /// `c = a · b` on the calling thread, `c` having `c.len() / m` rows.
    #[inline(always)]
    fn run(self, a: &[f64], b: &[f64], panels: Option<&[f64]>, c: &mut [f64], p: usize, m: usize) {
        match self {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `Avx2` is chosen only on a CPU with AVX2, the only feature
            // `kernel_avx2` is compiled for.
            Kernel::Avx2 => unsafe { kernel_avx2(a, b, panels, c, p, m) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `Avx512` is chosen only on a CPU with AVX-512F, the only feature
            // `kernel_avx512` is compiled for.
            Kernel::Avx512 => unsafe { kernel_avx512(a, b, panels, c, p, m) },
            Kernel::Portable => kernel::<4, 4>(a, b, panels, c, p, m),
        }
    }
}

/// [`kernel`] with 256-bit vectors (see [`Kernel::Avx2`]).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn kernel_avx2(
    a: &[f64],
    b: &[f64],
    panels: Option<&[f64]>,
    c: &mut [f64],
    p: usize,
    m: usize,
) {
    kernel::<3, 12>(a, b, panels, c, p, m);
}

/// [`kernel`] with 512-bit vectors (see [`Kernel::Avx512`]).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn kernel_avx512(
    a: &[f64],
    b: &[f64],
    panels: Option<&[f64]>,
    c: &mut [f64],
    p: usize,
    m: usize,
) {
    kernel::<8, 16>(a, b, panels, c, p, m);
}

/// `c = a · b` by blocks of `R` rows × `W` columns of `c` held in registers over the whole sum;
/// the rows and columns left over go through narrower blocks. The order of every sum is the
/// textbook one whatever the block.
///
/// The blocks go strip by strip of columns, each strip read from its panel when `panels`
/// holds `b`'s strips of `W` columns (see [`pack`]) and from `b` itself otherwise: a strip
/// (`p × W` values, 24 KiB for `p = 256`) is read by every block of rows while it is still in
/// the nearest cache, where going row block by row block would read all of `b` again for each.
#[inline(always)]
fn kernel<const R: usize, const W: usize>(
    a: &[f64],
    b: &[f64],
    panels: Option<&[f64]>,
    c: &mut [f64],
    p: usize,
    m: usize,
) {
    if m == 0 {
        return;
    }
    let mut j = 0;
    while j + W <= m {
        match panels {
            Some(panels) => {
                let panel = &panels[j * p..(j + W) * p];
                strip::<R, W>(a, (panel, W, 0), c, p, m, j);
            }
            None => strip::<R, W>(a, (b, m, j), c, p, m, j),
        }
        j += W;
    }
    if W > 4 {
        while j + 4 <= m {
            strip::<R, 4>(a, (b, m, j), c, p, m, j);
            j += 4;
        }
    }
    // The last 1 to 3 columns in one strip: a network's narrow products (3 examples, one
    // output unit) are mostly these, and one strip keeps R × (m − j) sums going side by side
    // where a strip per column would run R dependent chains at a time.
    match m - j {
        0 => {}
        1 => strip::<R, 1>(a, (b, m, j), c, p, m, j),
        2 => strip::<R, 2>(a, (b, m, j), c, p, m, j),
        3 => strip::<R, 3>(a, (b, m, j), c, p, m, j),
        _ => unreachable!("at most 3 columns are left after the 4-wide strips"),
    }
}

/// Columns `j..j + W` of `c`: blocks of `R` rows, then the rows left over one at a time, from
/// the strip `b` gives as its values, the distance between its rows and where the strip
/// starts in a row.
#[inline(always)]
fn strip<const R: usize, const W: usize>(
    a: &[f64],
    b: (&[f64], usize, usize),
    c: &mut [f64],
    p: usize,
    m: usize,
    j: usize,
) {
    let n = c.len() / m;
    let mut i = 0;
    while i + R <= n {
        block::<R, W>(
            &a[i * p..(i + R) * p],
            b,
            &mut c[i * m..(i + R) * m],
            p,
            m,
            j,
        );
        i += R;
    }
    while i < n {
        block::<1, W>(
            &a[i * p..(i + 1) * p],
            b,
            &mut c[i * m..(i + 1) * m],
            p,
            m,
            j,
        );
        i += 1;
    }
}

/// `c[r, j..j + W] = Σ_k a[r, k] · b[k, j..j + W]` for the `R` rows, `k` in increasing order
/// from `0.0`, the `R × W` partial sums kept in registers (`b` as in [`strip`]). (With
/// `p = 0`, the empty sum `0`.)
#[inline(always)]
fn block<const R: usize, const W: usize>(
    a: &[f64],
    (b, b_stride, b_offset): (&[f64], usize, usize),
    c: &mut [f64],
    p: usize,
    m: usize,
    j: usize,
) {
    let mut acc = [[0.0f64; W]; R];
    for (k, b_row) in b.chunks_exact(b_stride).enumerate() {
        let bk: &[f64; W] = b_row[b_offset..b_offset + W].try_into().expect("W columns");
        for (r, acc_r) in acc.iter_mut().enumerate() {
            let a_rk = a[r * p + k];
            for (s, &b_kj) in acc_r.iter_mut().zip(bk) {
                *s += a_rk * b_kj;
            }
        }
    }
    for (r, acc_r) in acc.iter().enumerate() {
        c[r * m + j..r * m + j + W].copy_from_slice(acc_r);
    }
}

/// `a · b`, every entry summed over `k = 0, 1, …` from `0.0` (see [`matmul_into`]).
pub(crate) fn matmul(a: ArrayView2<'_, f64>, b: ArrayView2<'_, f64>) -> Array2<f64> {
    assert_eq!(a.ncols(), b.nrows(), "inner dimensions differ");
    let (n, p, m) = (a.nrows(), a.ncols(), b.ncols());
    // Row-major copies of transposed or strided operands: copying changes no value.
    let (a, b) = (a.as_standard_layout(), b.as_standard_layout());
    let mut c = vec![0.0; n * m];
    matmul_into(
        a.as_slice().expect("standard layout"),
        b.as_slice().expect("standard layout"),
        &mut c,
        n,
        p,
        m,
    );
    Array2::from_shape_vec((n, m), c).expect("n × m values")
}

/// A hidden layer's `Z = C + b` (`b` broadcast along each row of `m` columns) and `A = max(Z, 0)`,
/// in place in row-major `c`; with a `hasher`, the pattern `Z > 0` is written to it by
/// [`write_kink_pattern`], as every signature of the model is.
/// Each value is the same whatever vector width the CPU offers.
pub(crate) fn add_bias_relu(c: &mut [f64], b: &[f64], m: usize, hasher: Option<&mut KinkHasher>) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, the only feature this function is compiled for.
            unsafe { add_bias_relu_avx2(c, b, m, hasher) };
            return;
        }
    }
    add_bias_relu_body(c, b, m, hasher);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn add_bias_relu_avx2(c: &mut [f64], b: &[f64], m: usize, hasher: Option<&mut KinkHasher>) {
    add_bias_relu_body(c, b, m, hasher);
}

#[inline(always)]
fn add_bias_relu_body(c: &mut [f64], b: &[f64], m: usize, hasher: Option<&mut KinkHasher>) {
    let rows = c.chunks_exact_mut(m.max(1)).zip(b);
    let Some(hasher) = hasher else {
        for (row, &b) in rows {
            for v in row {
                *v = relu(*v + b);
            }
        }
        return;
    };
    for (row, &b) in rows {
        for v in row {
            *v += b;
        }
    }
    write_kink_pattern(hasher, c);
    for v in c.iter_mut() {
        *v = relu(*v);
    }
}

#[cfg(test)]
mod tests;
