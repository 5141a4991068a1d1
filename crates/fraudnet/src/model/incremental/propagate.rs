//! How one moved row of a hidden layer's `Z` reaches the output: the examples whose activation
//! changed, carried down together as a block of columns (a rank-1 update of the next layer, then
//! products with the full pass's kernel and summation order), with the units that crossed their
//! kink recorded for the signature (the common case, a ReLU layer right above the output, goes
//! through [`super::fused`]). Part of [`Incremental`]; knows nothing of the cost.

use super::fused::FusedRelu;
use super::{Incremental, Scratch, contiguous};
use crate::model::activation::Activation;
use crate::model::formulas::relu;
use crate::model::linalg::matmul_into;

impl Incremental<'_> {
    /// From the moved row `s.row` of hidden layer `l`'s `Z`: the examples whose activation
    /// changed, carried down together as a block of columns to their output logits, into the
    /// first `count` places of `s.changed` (in example order); returns `count`.
    #[inline(always)]
    pub(super) fn propagate_row(&self, l: usize, unit: usize, s: &mut Scratch) -> usize {
        let count = self.activation_changes(l, unit, s);
        if count > 0 {
            match self.fused_below(l, unit) {
                Some(fused) => fused.logits(&mut s.changed[..count], &mut s.flips),
                None => self.carry_down(l, unit, count, s),
            }
        }
        count
    }

    /// The fused kernel for the layer below hidden layer `l`'s unit `unit`, when that layer is
    /// the last hidden one, ReLU and without dropout (the common case).
    #[inline(always)]
    pub(super) fn fused_below(&self, l: usize, unit: usize) -> Option<FusedRelu<'_>> {
        let depth = self.mlp.depth();
        let reach = self.reach.as_ref()?;
        if l + 2 != depth {
            return None;
        }
        let (w_out, b_out) = self.mlp.layer_slices(&self.theta, depth);
        Some(FusedRelu {
            z_next: &self.z_by_example[l],
            w_next: contiguous(self.w_transposed[l].row(unit)),
            w_out,
            b_out: b_out[0],
            layer: l + 1,
            reach,
            unit,
        })
    }

    /// From the moved row `s.row` of hidden layer `l`'s `Z`: the examples whose activation
    /// changed, with how much, `(c, Δa)`, into the first places of `s.changed` (in example
    /// order), and this layer's kink crossings into `s.flips`; returns how many changed.
    #[inline(always)]
    pub(super) fn activation_changes(&self, l: usize, unit: usize, s: &mut Scratch) -> usize {
        let activation = self.mlp.activation();
        let cached_z = contiguous(self.forward.pre_activations[l - 1].row(unit));
        let cached_a = contiguous(self.forward.activations[l - 1].row(unit));
        let mask = self.mask.map(|m| contiguous(m.layers()[l - 1].row(unit)));
        let Scratch {
            row,
            changed,
            flips,
            ..
        } = s;
        if activation.is_kinked() {
            record_flips(row, cached_z, |c| (l, unit, c), flips);
        }
        // The examples whose activation moved, with how much (`changed` holds (c, Δa) here),
        // compacted without a branch: every example is written at the next free place, which
        // advances only when its activation moved (about half of them move for a ReLU unit, at
        // random: a branch there would be mispredicted every other example).
        // (Never shrunk: zeroing it again for every cost would take longer than filling it.)
        if changed.len() < row.len() {
            changed.resize(row.len(), (0, 0.0));
        }
        let mut count = 0;
        match (activation, mask) {
            (Activation::Relu, None) => {
                // 64 examples at a time: which moved, as the bits of a word (a vectorised
                // pass), then only those visited.
                let words = row.chunks(64).zip(cached_a.chunks(64));
                for (word, (z, was)) in words.enumerate() {
                    let mut moved = z
                        .iter()
                        .zip(was)
                        .enumerate()
                        .fold(0u64, |bits, (t, (&z, &was))| {
                            bits | u64::from(relu(z) != was) << t
                        });
                    while moved != 0 {
                        let t = moved.trailing_zeros() as usize;
                        changed[count] = (64 * word + t, relu(z[t]) - was[t]);
                        count += 1;
                        moved &= moved - 1;
                    }
                }
            }
            _ => {
                for (c, (&z, &was)) in row.iter().zip(cached_a).enumerate() {
                    let mut a = activation.apply(z);
                    if let Some(mask) = mask {
                        a *= mask[c];
                    }
                    changed[count] = (c, a - was);
                    count += usize::from(a != was);
                }
            }
        }
        count
    }

    /// The `count` changed examples' `(c, Δa)` of hidden layer `l`'s unit `unit` carried down
    /// to their output logits, `(c, logit)`, in place, without the fused kernel.
    #[inline(always)]
    fn carry_down(&self, l: usize, unit: usize, count: usize, s: &mut Scratch) {
        let activation = self.mlp.activation();
        let depth = self.mlp.depth();
        let sizes = self.mlp.sizes();
        let Scratch {
            changed,
            column: block,
            next,
            flips,
            ..
        } = s;
        let changed = &mut changed[..count];
        let w_next = contiguous(self.w_transposed[l].row(unit));
        if l + 1 == depth {
            // The output layer right below (width 1): each changed example's logit moves by the
            // unit's weight × Δa.
            let logits = contiguous(self.forward.pre_activations[l].row(0));
            let w = w_next[0];
            for (c, value) in changed.iter_mut() {
                *value = logits[*c] + w * *value;
            }
            return;
        }
        // Hidden layer l + 1 for those examples: the cached Z column plus unit's weights × Δa,
        // then its activation (and mask), built example by example (contiguous: example-major,
        // `count × n`).
        let n = sizes[l + 1];
        if next.len() < count * n {
            next.resize(count * n, 0.0);
        }
        for (&(c, delta), values) in changed.iter().zip(next.chunks_exact_mut(n)) {
            let cached = contiguous(self.z_by_example[l].row(c));
            if activation == Activation::Relu {
                // Moved, checked for crossings and activated in one pass (the common case).
                let mut crossed = false;
                for ((v, &z), &w) in values.iter_mut().zip(cached).zip(w_next) {
                    let moved = z + w * delta;
                    crossed |= (moved > 0.0) != (z > 0.0);
                    *v = relu(moved);
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
        if l + 2 == depth {
            // The output layer right below: one dot product per example, in the full pass's
            // order.
            let (w, b) = self.mlp.layer_slices(&self.theta, depth);
            dots(w, &next[..count * n], n, block);
            for ((_, value), &z) in changed.iter_mut().zip(block.iter()) {
                *value = z + b[0];
            }
            return;
        }
        block.resize(n * count, 0.0);
        transpose(&next[..count * n], block, count, n);
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
            let (w, b) = self.mlp.layer_slices(&self.theta, k + 1);
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
}

/// `out[t] = Σ_r w[r]·rows[t][r]` for each `n`-long row of `rows`, summed over `r` in increasing
/// order from 0 (as the full pass's product sums). Each sum is a chain of dependent adds, so
/// [`DOT_LANES`] rows are summed side by side (one chain per row, vectorised across rows), then
/// the rest four and one at a time.
#[inline(always)]
fn dots(w: &[f64], rows: &[f64], n: usize, out: &mut Vec<f64>) {
    let count = rows.len() / n;
    out.clear();
    let mut wide = rows.chunks_exact(DOT_LANES * n);
    for rows in &mut wide {
        out.extend(dot_lanes::<DOT_LANES>(w, rows, n));
    }
    let mut quads = wide.remainder().chunks_exact(4 * n);
    for rows in &mut quads {
        out.extend(dot_lanes::<4>(w, rows, n));
    }
    for row in quads.remainder().chunks_exact(n) {
        out.extend(dot_lanes::<1>(w, row, n));
    }
    debug_assert_eq!(out.len(), count);
}

/// Rows whose dot products [`dots`] sums side by side: enough independent chains of adds to
/// hide an add's latency (four 4-wide chains).
const DOT_LANES: usize = 16;

/// The dot products of `w` with the `L` consecutive `n`-long rows of `rows`, each summed over
/// `r = 0, 1, …` from 0.
#[inline(always)]
fn dot_lanes<const L: usize>(w: &[f64], rows: &[f64], n: usize) -> [f64; L] {
    let rows: [&[f64]; L] = std::array::from_fn(|q| &rows[q * n..(q + 1) * n]);
    let mut sums = [0.0f64; L];
    for (r, &w) in w[..n].iter().enumerate() {
        for (sum, row) in sums.iter_mut().zip(&rows) {
            *sum += w * row[r];
        }
    }
    sums
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
