//! A unit of the last hidden layer moved (ReLU, no dropout): the commonest coordinate of an
//! exhaustive check (`W2` and `b2` of a 30-256-128-1 network are 80 % of its parameters), done
//! eight examples at a time with AVX-512. Its moved row changes some examples' activations;
//! each of those moves its logit by the output weight × `Δa`; their loss terms are recomputed
//! and the cost sums every example's term in example order. Part of [`Incremental`].
//!
//! Every value is the generic path's, operation for operation: the changed examples are found
//! with a vector comparison and packed with `compress` instead of one by one, and the sum reads
//! each block's cached terms with the new ones `expand`ed into the changed lanes instead of
//! substituting them into a copy.

use super::{Incremental, Scratch, Target, contiguous};
use crate::model::formulas::{example_weight, logits_loss};
use crate::model::softplus::softplus_tails;

impl Incremental<'_> {
    /// Whether moves of hidden layer `layer` take [`Incremental::last_hidden_costs`]: the last
    /// hidden layer, ReLU without dropout, on a CPU with AVX-512F.
    #[inline(always)]
    pub(super) fn last_hidden_applies(&self, layer: usize) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            layer + 1 == self.mlp.depth()
                && super::fused_applies(self.mlp, self.mask)
                && std::is_x86_feature_detected!("avx512f")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = layer;
            false
        }
    }

    /// [`Incremental::cost`] at each of `moves`, `(target, value)`, targets of one unit of the
    /// last hidden layer (one work buffer per move), the same bits as the generic path gives.
    ///
    /// # Safety
    /// The CPU must have AVX-512F, and [`Incremental::last_hidden_applies`] must hold for the
    /// targets' layer.
    ///
    /// # Panics
    /// If the targets are not of one unit.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn last_hidden_costs<const N: usize>(
        &self,
        moves: [(&Target, f64); N],
        scratch: [&mut Scratch; N],
    ) -> [(f64, u64); N] {
        use std::arch::x86_64::*;
        let (l, unit) = (moves[0].0.layer, moves[0].0.unit);
        assert!(
            moves.iter().all(|(t, _)| (t.layer, t.unit) == (l, unit)),
            "one unit"
        );
        let depth = self.mlp.depth();
        let m = self.terms.len();
        let cached_z = contiguous(self.forward.pre_activations[l - 1].row(unit));
        let cached_a = contiguous(self.forward.activations[l - 1].row(unit));
        let logits = contiguous(self.forward.pre_activations[depth - 1].row(0));
        let inputs = moves.map(|(target, _)| self.input_row(target));
        let w = _mm512_set1_pd(contiguous(self.w_transposed[l].row(unit))[0]);
        let deltas = moves.map(|(target, value)| value - self.theta[target.k]);
        let blocks = m.div_ceil(8);
        let zero = _mm512_setzero_pd();
        let mut s = scratch;
        for s in s.iter_mut() {
            s.flips.clear();
            // Eight places past the last changed example: a block's packed values are stored
            // whole.
            s.logits.resize(m + 8, 0.0);
            s.labels.resize(m + 8, 0.0);
            s.masks.resize(blocks, 0);
        }
        // The changed examples of each move: their new logits and labels packed, which lanes
        // of each block they were.
        let mut counts = [0usize; N];
        for b in 0..blocks {
            let at = 8 * b;
            let valid = u8::MAX >> (8 - (m - at).min(8));
            // SAFETY: the mask loads only examples below m, each row's length.
            let load = |row: &[f64]| unsafe { _mm512_maskz_loadu_pd(valid, row.as_ptr().add(at)) };
            let (z, a, logit) = (load(cached_z), load(cached_a), load(logits));
            let label = load(&self.labels);
            let positive = _mm512_cmp_pd_mask::<_CMP_GT_OQ>(z, zero);
            for (i, s) in s.iter_mut().enumerate() {
                let delta = _mm512_set1_pd(deltas[i]);
                // `z + δ·a` for a weight (as `move_row`), `z + δ` for a bias.
                let moved = match inputs[i].map(load) {
                    Some(x) => _mm512_add_pd(z, _mm512_mul_pd(delta, x)),
                    None => _mm512_add_pd(z, delta),
                };
                // `relu`: `max(x, 0)` is `x` when `x > 0`, else 0 (NaN included).
                let activated = _mm512_max_pd(moved, zero);
                let changed = _mm512_cmp_pd_mask::<_CMP_NEQ_UQ>(activated, a) & valid;
                let mut crossed =
                    (_mm512_cmp_pd_mask::<_CMP_GT_OQ>(moved, zero) ^ positive) & valid;
                while crossed != 0 {
                    s.flips
                        .push((l, unit, at + crossed.trailing_zeros() as usize));
                    crossed &= crossed - 1;
                }
                let new_logit = _mm512_add_pd(logit, _mm512_mul_pd(w, _mm512_sub_pd(activated, a)));
                let count = counts[i];
                // SAFETY: count + 8 <= m + 8, each buffer's length.
                unsafe {
                    let packed = _mm512_maskz_compress_pd(changed, new_logit);
                    _mm512_storeu_pd(s.logits.as_mut_ptr().add(count), packed);
                    let packed = _mm512_maskz_compress_pd(changed, label);
                    _mm512_storeu_pd(s.labels.as_mut_ptr().add(count), packed);
                }
                s.masks[b] = changed;
                counts[i] += changed.count_ones() as usize;
            }
        }
        // Their loss terms (as `substitute_terms` computes them), into `tails` (eight places
        // past the last, read whole below).
        let positive_weight = self.mlp.positive_weight();
        for (s, &count) in s.iter_mut().zip(&counts) {
            s.tails.clear();
            softplus_tails(&s.logits[..count], &mut s.tails);
            for ((tail, &z), &y) in s.tails.iter_mut().zip(&s.logits).zip(&s.labels) {
                *tail = logits_loss(z, y, *tail) * example_weight(positive_weight, y);
            }
            s.tails.resize(count + 8, 0.0);
        }
        // Each move's sum over every example in order: the cached terms, the new ones in the
        // changed lanes. The moves' chains of adds side by side.
        let mut sums = [0.0f64; N];
        let mut read = [0usize; N];
        for b in 0..blocks {
            let at = 8 * b;
            let lanes = (m - at).min(8);
            let valid = u8::MAX >> (8 - lanes);
            // SAFETY: the mask loads only examples below m.
            let cached = unsafe { _mm512_maskz_loadu_pd(valid, self.terms.as_ptr().add(at)) };
            let block: [[f64; 8]; N] = std::array::from_fn(|i| {
                let changed = s[i].masks[b];
                // SAFETY: read[i] + 8 <= count + 8, the length of `tails`.
                let new = unsafe { _mm512_loadu_pd(s[i].tails.as_ptr().add(read[i])) };
                read[i] += changed.count_ones() as usize;
                let mut out = [0.0f64; 8];
                // SAFETY: eight values into eight.
                unsafe {
                    _mm512_storeu_pd(
                        out.as_mut_ptr(),
                        _mm512_mask_expand_pd(cached, changed, new),
                    )
                };
                out
            });
            // Lane by lane, the moves' sums interleaved (independent chains).
            for lane in 0..lanes {
                for (sum, block) in sums.iter_mut().zip(&block) {
                    *sum += block[lane];
                }
            }
        }
        std::array::from_fn(|i| self.finish(moves[i].0, moves[i].1, sums[i], &*s[i]))
    }
}
