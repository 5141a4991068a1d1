//! The MLP's cost with one parameter changed, from a cache of the unperturbed forward pass:
//! what makes exhaustive gradient checks of large networks take seconds instead of minutes.
//!
//! A weight `Wl[i, j]` changes only row `i` of `Zl` (by `δ·A(l−1)[j, :]`), a bias `bl[i]` only
//! row `i` (by `δ`). That row's new activations differ from the cached ones in some examples
//! (columns) only — for a ReLU unit, none where it stays off; each changed column then goes
//! through layer `l + 1` as a rank-1 update of the cached `Z(l+1)` column and through the
//! layers further down as a matrix–vector product, and the cost is the cached per-example terms
//! with the changed ones substituted, summed in the same order as the full pass. The result
//! differs from a full recomputation only by the rounding of the updates (a few ulps of `J`).

use std::cell::RefCell;
use std::hash::{DefaultHasher, Hasher};

use ndarray::{Array2, ArrayView2};

use super::activation::{Activation, DropoutMask};
use super::linalg::matmul_into;
use super::mlp::{Forward, Mlp, logits_term};

/// A cache of the forward pass at `θ` from which `J(θ + δ·eₖ)` is computed for any `k`.
///
/// ```
/// use fraudnet::model::Incremental;
/// use fraudnet::MlpProblem;
/// let (problem, theta) = MlpProblem::random(&[6, 9, 4, 1], 20, 3)?;
/// let (mlp, x, y) = (problem.mlp(), problem.x().view(), problem.y().view());
/// let cache = Incremental::new(mlp, theta.values(), x, y, None)?;
/// let k = 17; // W1[1, 5]
/// let mut moved = theta.values().to_vec();
/// moved[k] += 1e-3;
/// let full = mlp.cost(&moved, x, y)?;
/// let fast = cache.cost(k, moved[k]).0;
/// assert!((fast - full).abs() <= 8.0 * f64::EPSILON * full.abs());
/// # Ok::<(), fraudnet::Error>(())
/// ```
#[derive(Debug)]
pub struct Incremental<'a> {
    mlp: &'a Mlp,
    theta: Vec<f64>,
    /// `X` in standard layout (a copy only when it was not).
    x: Array2<f64>,
    /// Each example's label and its weight in the cost, in example order.
    labels: Vec<f64>,
    example_weights: Vec<f64>,
    mask: Option<&'a DropoutMask>,
    forward: Forward,
    /// Each layer's `Z` transposed (example-major), so an example's column is contiguous.
    z_by_example: Vec<Array2<f64>>,
    /// Each hidden layer's dropout mask transposed likewise.
    mask_by_example: Vec<Array2<f64>>,
    /// Each layer's weights transposed (`(n_{l−1}, n_l)`), so a unit's outgoing weights are
    /// contiguous.
    w_transposed: Vec<Array2<f64>>,
    /// Each example's weighted loss term, in example order.
    terms: Vec<f64>,
    /// `Σ_l ‖Wl‖²`, for the L2 penalty.
    squares: f64,
    /// Parameter ranges of `W1, b1, W2, …`.
    ranges: Vec<std::ops::Range<usize>>,
}

/// Per-thread work buffers, reused across calls.
#[derive(Default)]
struct Scratch {
    row: Vec<f64>,
    changed: Vec<(usize, f64)>,
    column: Vec<f64>,
    next: Vec<f64>,
    flips: Vec<(usize, usize, usize)>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

impl<'a> Incremental<'a> {
    /// Runs the forward pass at `theta` (through `mask`, if any) and keeps what later
    /// perturbations need.
    pub fn new(
        mlp: &'a Mlp,
        theta: &[f64],
        x: ArrayView2<'a, f64>,
        y: ArrayView2<'a, f64>,
        mask: Option<&'a DropoutMask>,
    ) -> crate::Result<Self> {
        // The forward pass checks θ, X and the mask; the labels are checked here.
        Mlp::expect_labels(x, y)?;
        let forward = mlp.forward_masked(theta, x, mask)?;
        let logits = forward
            .pre_activations
            .last()
            .expect("a network has a layer");
        let terms = logits
            .iter()
            .zip(y.iter())
            .map(|(&z, &y)| logits_term(z, y) * mlp.example_weight(y))
            .collect();
        let ranges: Vec<_> = (0..mlp.layout().tensors().len())
            .map(|k| mlp.layout().range(k))
            .collect();
        let by_example = |a: &Array2<f64>| a.t().as_standard_layout().into_owned();
        let z_by_example = forward.pre_activations.iter().map(by_example).collect();
        let mask_by_example =
            mask.map_or_else(Vec::new, |m| m.layers().iter().map(by_example).collect());
        let w_transposed = (0..mlp.depth())
            .map(|l| {
                let (rows, cols) = (mlp.sizes()[l + 1], mlp.sizes()[l]);
                let w = ArrayView2::from_shape((rows, cols), &theta[ranges[2 * l].clone()])
                    .expect("the layout's shape");
                by_example(&w.to_owned())
            })
            .collect();
        let squares = (0..mlp.depth())
            .map(|l| {
                theta[ranges[2 * l].clone()]
                    .iter()
                    .map(|w| w * w)
                    .sum::<f64>()
            })
            .sum();
        Ok(Incremental {
            mlp,
            theta: theta.to_vec(),
            x: x.as_standard_layout().into_owned(),
            labels: y.iter().copied().collect(),
            example_weights: y.iter().map(|&y| mlp.example_weight(y)).collect(),
            mask,
            forward,
            z_by_example,
            mask_by_example,
            w_transposed,
            terms,
            squares,
            ranges,
        })
    }

    /// The signature of the unperturbed parameters: no unit has crossed its kink.
    pub fn base_signature(&self) -> u64 {
        DefaultHasher::new().finish()
    }

    /// `J` at `θ` with parameter `k` set to `value`, and a signature of the units whose kink
    /// side changed (layer, unit, example) — equal for points on the same smooth piece, and
    /// [`Incremental::base_signature`] when none changed.
    ///
    /// # Panics
    /// If `k` is not a parameter index (the engine only asks for those).
    pub fn cost(&self, k: usize, value: f64) -> (f64, u64) {
        SCRATCH.with_borrow_mut(|scratch| {
            #[cfg(target_arch = "x86_64")]
            {
                if std::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU has AVX2, the only feature `cost_avx2` is compiled for.
                    return unsafe { self.cost_avx2(k, value, scratch) };
                }
            }
            self.cost_body(k, value, scratch)
        })
    }

    /// [`Incremental::cost`] compiled for 256-bit vectors. Without fused multiply-adds (Rust
    /// never contracts `x * y + z`), every value is the same bit for bit as with SSE2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn cost_avx2(&self, k: usize, value: f64, scratch: &mut Scratch) -> (f64, u64) {
        self.cost_body(k, value, scratch)
    }

    /// The body of [`Incremental::cost`], with the calling thread's work buffers (kept apart
    /// from the thread-local access so that it is compiled with the caller's vector width).
    #[inline(always)]
    fn cost_body(&self, k: usize, value: f64, s: &mut Scratch) -> (f64, u64) {
        let tensor = self
            .ranges
            .iter()
            .position(|r| r.contains(&k))
            .expect("k indexes a parameter");
        let l = tensor / 2 + 1;
        let local = k - self.ranges[tensor].start;
        let fan_in = self.mlp.sizes()[l - 1];
        let (unit, source) = if tensor % 2 == 0 {
            (local / fan_in, Some(local % fan_in))
        } else {
            (local, None)
        };
        let delta = value - self.theta[k];
        let m = self.x.ncols();
        s.flips.clear();
        s.changed.clear();
        // Row `unit` of Zl, moved.
        let z = contiguous(self.forward.pre_activations[l - 1].row(unit));
        s.row.clear();
        s.row.resize(m, 0.0);
        match source {
            Some(j) => {
                let input = contiguous(if l == 1 {
                    self.x.row(j)
                } else {
                    self.forward.activations[l - 2].row(j)
                });
                for ((moved, &z), &a) in s.row.iter_mut().zip(z).zip(input) {
                    *moved = z + delta * a;
                }
            }
            None => {
                for (moved, &z) in s.row.iter_mut().zip(z) {
                    *moved = z + delta;
                }
            }
        }
        let depth = self.mlp.depth();
        if l == depth {
            // The output row itself: every example's term may change.
            s.changed
                .extend(s.row.iter().enumerate().map(|(c, &z)| (c, z)));
        } else {
            self.propagate_row(l, unit, s);
        }
        // The cached terms with the changed ones substituted, summed in example order (as
        // the full pass sums them).
        let mut sum = 0.0;
        let mut next = 0;
        for &(c, z) in &s.changed {
            for &term in &self.terms[next..c] {
                sum += term;
            }
            sum += logits_term(z, self.labels[c]) * self.example_weights[c];
            next = c + 1;
        }
        for &term in &self.terms[next..] {
            sum += term;
        }
        let mut cost = 1.0 / m as f64 * sum;
        if self.mlp.l2() != 0.0 {
            let squares = match source {
                Some(_) => self.squares - self.theta[k] * self.theta[k] + value * value,
                None => self.squares,
            };
            cost += self.mlp.l2() / (2.0 * m as f64) * squares;
        }
        let mut hasher = DefaultHasher::new();
        for &(layer, unit, example) in &s.flips {
            hasher.write_usize(layer);
            hasher.write_usize(unit);
            hasher.write_usize(example);
        }
        (cost, hasher.finish())
    }

    /// From the moved row `s.row` of hidden layer `l`'s `Z`: the examples whose activation
    /// changed, carried down together as a block of columns to their output logits, into
    /// `s.changed` (in example order).
    #[inline(always)]
    fn propagate_row(&self, l: usize, unit: usize, s: &mut Scratch) {
        let activation = self.mlp.activation();
        let depth = self.mlp.depth();
        let sizes = self.mlp.sizes();
        let cached_z = contiguous(self.forward.pre_activations[l - 1].row(unit));
        let cached_a = contiguous(self.forward.activations[l - 1].row(unit));
        let mask = self.mask.map(|m| contiguous(m.layers()[l - 1].row(unit)));
        let Scratch {
            row,
            changed,
            column: block,
            next,
            flips,
        } = s;
        if activation.is_kinked() {
            record_flips(row, cached_z, |c| (l, unit, c), flips);
        }
        // The examples whose activation moved, with how much (`changed` holds (c, Δa) here).
        match (activation, mask) {
            (Activation::Relu, None) => {
                for (c, (&z, &was)) in row.iter().zip(cached_a).enumerate() {
                    let a = z.max(0.0);
                    if a != was {
                        changed.push((c, a - was));
                    }
                }
            }
            _ => {
                for (c, (&z, &was)) in row.iter().zip(cached_a).enumerate() {
                    let mut a = activation.apply(z);
                    if let Some(mask) = mask {
                        a *= mask[c];
                    }
                    if a != was {
                        changed.push((c, a - was));
                    }
                }
            }
        }
        let count = changed.len();
        if count == 0 {
            return;
        }
        // Layer l + 1 for those examples: the cached Z column plus unit's weights × Δa, then its
        // activation (and mask), as a row-major (n, count) block. (Unless l + 1 is the output
        // layer: then its pre-activations.)
        let w_next = contiguous(self.w_transposed[l].row(unit));
        let n = sizes[l + 1];
        let hidden_next = l + 1 < depth;
        // Built example by example (contiguous: example-major, `count × n`).
        next.clear();
        for &(c, delta) in changed.iter() {
            let cached = contiguous(self.z_by_example[l].row(c));
            let start = next.len();
            next.resize(start + n, 0.0);
            let values = &mut next[start..];
            if activation == Activation::Relu && hidden_next {
                // Moved, checked for crossings and activated in one pass (the common case).
                let mut crossed = false;
                for ((v, &z), &w) in values.iter_mut().zip(cached).zip(w_next) {
                    let moved = z + w * delta;
                    crossed |= (moved > 0.0) != (z > 0.0);
                    *v = moved.max(0.0);
                }
                if crossed {
                    for (r, (&z, &w)) in cached.iter().zip(w_next).enumerate() {
                        if (z + w * delta > 0.0) != (z > 0.0) {
                            flips.push((l + 1, r, c));
                        }
                    }
                }
            } else {
                for ((v, &z), &w) in values.iter_mut().zip(cached).zip(w_next) {
                    *v = z + w * delta;
                }
                if !hidden_next {
                    continue;
                }
                if activation.is_kinked() {
                    record_flips(values, cached, |r| (l + 1, r, c), flips);
                }
                values.iter_mut().for_each(|v| *v = activation.apply(*v));
            }
            if self.mask.is_some() {
                let mask = contiguous(self.mask_by_example[l].row(c));
                for (v, &k) in values.iter_mut().zip(mask) {
                    *v *= k;
                }
            }
        }
        if !hidden_next {
            // `next` is the (count × 1) column of logits.
            for ((_, value), &z) in changed.iter_mut().zip(next.iter()) {
                *value = z;
            }
            return;
        }
        if l + 2 == depth {
            // The output layer right below: one dot product per example, in the full pass's
            // order.
            let (w, b) = self.weights(depth);
            dots(w, next, n, block);
            for ((_, value), &z) in changed.iter_mut().zip(block.iter()) {
                *value = z + b[0];
            }
            return;
        }
        block.resize(n * count, 0.0);
        transpose(next, block, count, n);
        // The layers below: a product with the full pass's kernel and summation order, then
        // (for hidden layers past l + 1) activation and mask.
        for k in l + 1..depth {
            let cached = &self.forward.pre_activations[k - 1];
            for (r, values) in block.chunks_exact_mut(count).enumerate() {
                if k == l + 1 {
                    break; // activated as the block was made
                }
                if activation.is_kinked() {
                    next.clear();
                    next.extend(changed.iter().map(|&(c, _)| cached[[r, c]]));
                    record_flips(values, next, |t| (k, r, changed[t].0), flips);
                }
                for v in values.iter_mut() {
                    *v = activation.apply(*v);
                }
                if let Some(mask) = self.mask {
                    let mask = &mask.layers()[k - 1];
                    for (v, &(c, _)) in values.iter_mut().zip(changed.iter()) {
                        *v *= mask[[r, c]];
                    }
                }
            }
            let (w, b) = self.weights(k + 1);
            let rows = sizes[k + 1];
            next.resize(rows * count, 0.0);
            matmul_into(w, block, next, rows, sizes[k], count);
            for (values, &b) in next.chunks_exact_mut(count).zip(b) {
                for v in values {
                    *v += b;
                }
            }
            std::mem::swap(block, next);
        }
        // `block` is now the (1, count) row of logits.
        for ((_, value), &z) in changed.iter_mut().zip(block.iter()) {
            *value = z;
        }
    }

    /// Layer `l`'s (1-based) weights and bias at the unperturbed `θ`.
    fn weights(&self, l: usize) -> (&[f64], &[f64]) {
        (
            &self.theta[self.ranges[2 * (l - 1)].clone()],
            &self.theta[self.ranges[2 * (l - 1) + 1].clone()],
        )
    }
}

/// A row of an array in standard layout, as a slice.
#[inline(always)]
fn contiguous(row: ndarray::ArrayView1<'_, f64>) -> &[f64] {
    row.to_slice()
        .expect("rows of standard-layout arrays are contiguous")
}

/// `out[t] = Σ_r w[r]·rows[t][r]` for each `n`-long row of `rows`, summed over `r` in increasing
/// order from 0 (as the full pass's product sums), four rows at a time.
#[inline(always)]
fn dots(w: &[f64], rows: &[f64], n: usize, out: &mut Vec<f64>) {
    let count = rows.len() / n;
    out.clear();
    let mut quads = rows.chunks_exact(4 * n);
    for quad in &mut quads {
        let (a, rest) = quad.split_at(n);
        let (b, rest) = rest.split_at(n);
        let (c, d) = rest.split_at(n);
        let mut sums = [0.0f64; 4];
        for r in 0..n {
            let w = w[r];
            sums[0] += w * a[r];
            sums[1] += w * b[r];
            sums[2] += w * c[r];
            sums[3] += w * d[r];
        }
        out.extend(sums);
    }
    for row in quads.remainder().chunks_exact(n) {
        let mut sum = 0.0;
        for (&w, &v) in w.iter().zip(row) {
            sum += w * v;
        }
        out.push(sum);
    }
    debug_assert_eq!(out.len(), count);
}

/// `to = fromᵀ` for a row-major `rows × cols` `from`, by tiles (so neither side is walked with
/// a large stride for long).
#[inline(always)]
fn transpose(from: &[f64], to: &mut [f64], rows: usize, cols: usize) {
    const TILE: usize = 16;
    for r0 in (0..rows).step_by(TILE) {
        for c0 in (0..cols).step_by(TILE) {
            for r in r0..(r0 + TILE).min(rows) {
                for c in c0..(c0 + TILE).min(cols) {
                    to[c * rows + r] = from[r * cols + c];
                }
            }
        }
    }
}

/// Appends `at(t)` for every `t` where `now[t]` and `was[t]` lie on different sides of 0 (a
/// unit that crossed its kink). Looks for any first: crossings are rare.
#[inline(always)]
fn record_flips(
    now: &[f64],
    was: &[f64],
    at: impl Fn(usize) -> (usize, usize, usize),
    flips: &mut Vec<(usize, usize, usize)>,
) {
    let side = |v: f64| v > 0.0;
    // A branch-free pass the compiler vectorises; the rare crossings are then found one by one.
    let any = now
        .iter()
        .zip(was)
        .fold(false, |any, (&a, &b)| any | (side(a) != side(b)));
    if !any {
        return;
    }
    for (t, (&a, &b)) in now.iter().zip(was).enumerate() {
        if side(a) != side(b) {
            flips.push(at(t));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MlpProblem;
    use crate::numpy_rng::NumpyRng;

    #[test]
    fn the_vector_build_gives_the_portable_build_s_bits() {
        for activation in Activation::ALL {
            for sizes in [&[5, 8, 7, 3, 1][..], &[6, 9, 1]] {
                let (problem, theta) = MlpProblem::random(sizes, 21, 4).unwrap();
                let mlp = problem.mlp().clone().with_activation(activation);
                let (x, y) = (problem.x().view(), problem.y().view());
                let cache = Incremental::new(&mlp, theta.values(), x, y, None).unwrap();
                let mut scratch = Scratch::default();
                for k in 0..theta.values().len() {
                    for delta in [1e-7, -0.7] {
                        let value = theta.values()[k] + delta;
                        let (fast, a) = cache.cost(k, value);
                        let (portable, b) = cache.cost_body(k, value, &mut scratch);
                        assert_eq!((fast.to_bits(), a), (portable.to_bits(), b), "k={k}");
                    }
                }
            }
        }
    }

    #[test]
    fn every_perturbed_cost_matches_the_full_recomputation_within_a_few_ulps() {
        let shapes: [&[usize]; 5] = [
            &[3, 1],
            &[4, 5, 3, 1],
            &[6, 9, 1],
            &[5, 8, 7, 3, 1],
            &[2, 4, 4, 4, 1],
        ];
        for (s, sizes) in shapes.into_iter().enumerate() {
            for activation in Activation::ALL {
                for (scale, l2, dropout) in [
                    (1.0, 0.0, 0.0),
                    (1.0, 0.3, 0.4),
                    (0.0, 0.0, 0.0),
                    (30.0, 0.0, 0.0),
                ] {
                    let (problem, theta) = MlpProblem::random(sizes, 13, s as u32).unwrap();
                    let theta: Vec<f64> = theta.values().iter().map(|v| v * scale).collect();
                    let mlp = problem
                        .mlp()
                        .clone()
                        .with_activation(activation)
                        .with_l2(l2)
                        .unwrap()
                        .with_positive_weight(3.0)
                        .unwrap();
                    let (x, y) = (problem.x().view(), problem.y().view());
                    let mask = (dropout > 0.0).then(|| {
                        DropoutMask::sample(&mlp, 13, dropout, &mut NumpyRng::new(2)).unwrap()
                    });
                    let cache = Incremental::new(&mlp, &theta, x, y, mask.as_ref()).unwrap();
                    let (j0, _) = mlp
                        .cost_with_signature_masked(&theta, x, y, mask.as_ref())
                        .unwrap();
                    for k in 0..theta.len() {
                        for delta in [1e-7, -1e-7, 0.3, -2.0] {
                            let mut moved = theta.clone();
                            moved[k] += delta;
                            let full = mlp.cost_masked(&moved, x, y, mask.as_ref()).unwrap();
                            let (fast, signature) = cache.cost(k, moved[k]);
                            let ulps =
                                (fast - full).abs() / (f64::EPSILON * full.abs().max(j0.abs()));
                            assert!(
                                ulps <= 16.0,
                                "{sizes:?} {activation} k={k} δ={delta}: {fast} vs {full} ({ulps} ulps)"
                            );
                            // Same piece as θ ⇔ the base signature (for kinked activations).
                            if activation.is_kinked() {
                                let (_, a) = mlp
                                    .cost_with_signature_masked(&theta, x, y, mask.as_ref())
                                    .unwrap();
                                let (_, b) = mlp
                                    .cost_with_signature_masked(&moved, x, y, mask.as_ref())
                                    .unwrap();
                                assert_eq!(
                                    a == b,
                                    signature == cache.base_signature(),
                                    "{sizes:?} k={k} δ={delta}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}
