//! The incremental check's hottest loop, fused: for the examples whose activation a hidden
//! unit's move changed, the next layer (ReLU, no dropout, the last hidden one) moved by a rank-1
//! update and activated, and the output's dot product — without storing the next layer. Part of
//! [`super::Incremental`]; knows nothing of the cost or of which parameter moved.
//!
//! Each sum is the full pass's: `((0 + w₀·a₀) + w₁·a₁) + …` over the units in order, every
//! multiply and add rounded on its own, so the logits are the same bits as the unfused path's.
//! The examples are the vector lanes (independent sums side by side, where vectorising along
//! the units would reorder a sum); an example's cached column is read four units at a time and
//! each 4 × 4 tile of (example, unit) transposed in registers.

use ndarray::Array2;

mod kernels;

use super::contiguous;
use super::reach::Reach;
use kernels::portable_sums;
#[cfg(target_arch = "x86_64")]
use kernels::{avx2_pair_sums, avx2_sums, avx512_sums};

/// The next layer's cached pre-activations and weights, and the output layer's.
pub(super) struct FusedRelu<'a> {
    /// The next layer's cached `Z`, example-major (an example's column is a row).
    pub(super) z_next: &'a Array2<f64>,
    /// The moved unit's outgoing weights (one per unit of the next layer).
    pub(super) w_next: &'a [f64],
    /// The output layer's weights (one per unit of the next layer).
    pub(super) w_out: &'a [f64],
    /// The output layer's bias.
    pub(super) b_out: f64,
    /// The next layer's number, for the kink crossings recorded.
    pub(super) layer: usize,
    /// Which examples' moves may make a unit of the next layer cross (only those are
    /// re-scanned for their crossings), and the moved unit.
    pub(super) reach: &'a Reach,
    pub(super) unit: usize,
}

/// Examples carried side by side: two vectors of four, enough independent sums to hide an
/// add's latency.
const LANES: usize = 8;

/// Examples carried side by side for a pair of moves: one vector of four, two sums each (what
/// the 16 vector registers hold without spilling).
const PAIR_LANES: usize = 4;

/// The same with 512-bit vectors: one vector of eight (the 32 registers hold an 8 × 8 tile,
/// its transpose and the two sums).
const WIDE_PAIR_LANES: usize = 8;

impl FusedRelu<'_> {
    /// Replaces each `(c, Δa)` of `changed` by `(c, logit)`, and appends the next layer's kink
    /// crossings `(layer, unit, c)`, example by example and unit by unit (the order the unfused
    /// path records them in).
    #[inline(always)]
    pub(super) fn logits(
        &self,
        changed: &mut [(usize, f64)],
        flips: &mut Vec<(usize, usize, usize)>,
    ) {
        let mut groups = changed.chunks_exact_mut(LANES);
        for group in &mut groups {
            let group: &mut [(usize, f64); LANES] = group.try_into().expect("LANES examples");
            let columns = group.map(|(c, _)| self.column(c));
            let deltas = group.map(|(_, delta)| delta);
            let sums = self.sums(&columns, &deltas);
            let mut crossed = [false; LANES];
            for (crossed, &(c, delta)) in crossed.iter_mut().zip(group.iter()) {
                *crossed = self.reach.may_cross(self.unit, c, delta);
            }
            self.finish(group, &columns, &deltas, &sums, &crossed, flips);
        }
        for one in groups.into_remainder() {
            let columns = [self.column(one.0)];
            let deltas = [one.1];
            let (sums, crossed) = portable_sums(self.w_next, self.w_out, &columns, &deltas);
            self.finish(
                std::slice::from_mut(one),
                &columns,
                &deltas,
                &sums,
                &crossed,
                flips,
            );
        }
    }

    /// [`FusedRelu::logits`] for two moves of the same unit (the two points of a central
    /// difference) whose activations changed in the same examples: each tile of the cached
    /// columns is loaded and transposed once for both. Each logit and crossing is the one
    /// [`FusedRelu::logits`] gives, bit for bit.
    ///
    /// # Panics
    /// If the two lists do not name the same examples in the same order.
    #[inline(always)]
    pub(super) fn logits_pair(
        &self,
        changed: [&mut [(usize, f64)]; 2],
        flips: [&mut Vec<(usize, usize, usize)>; 2],
    ) {
        let [first, second] = changed;
        assert!(same_examples(&[first, second]), "the same examples");
        let [flips_first, flips_second] = flips;
        let mut done = 0;
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx512f") {
                // SAFETY: the CPU has AVX-512F.
                unsafe { self.wide_logits([first, second], [flips_first, flips_second]) };
                return;
            }
            if std::is_x86_feature_detected!("avx2") {
                done = self.groups::<PAIR_LANES, 2>(
                    [first, second],
                    [flips_first, flips_second],
                    // SAFETY: the CPU has AVX2, the only feature `avx2_pair_sums` is compiled
                    // for.
                    |columns, [a, b]| {
                        let (a, b) =
                            unsafe { avx2_pair_sums(self.w_next, self.w_out, columns, a, b) };
                        [a, b]
                    },
                );
            }
        }
        self.logits(&mut first[done..], flips_first);
        self.logits(&mut second[done..], flips_second);
    }

    /// [`FusedRelu::logits_pair`] for `M` moves of the same unit (two coordinates' central
    /// differences) with 512-bit vectors: each tile loaded and transposed once for all `M`.
    ///
    /// # Safety
    /// The CPU must have AVX-512F.
    ///
    /// # Panics
    /// If the lists do not name the same examples in the same order.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    pub(super) unsafe fn wide_logits<const M: usize>(
        &self,
        mut changed: [&mut [(usize, f64)]; M],
        mut flips: [&mut Vec<(usize, usize, usize)>; M],
    ) {
        assert!(same_examples(&changed), "the same examples");
        // SAFETY: the CPU has AVX-512F (the caller's promise), the only feature
        // `avx512_sums` is compiled for.
        let sums = |columns: &[&[f64]; WIDE_PAIR_LANES], deltas: [&[f64; WIDE_PAIR_LANES]; M]| unsafe {
            avx512_sums(self.w_next, self.w_out, columns, deltas)
        };
        let len = changed[0].len();
        let done = self.groups::<WIDE_PAIR_LANES, M>(
            changed.each_mut().map(|c| &mut **c),
            flips.each_mut().map(|f| &mut **f),
            sums,
        );
        let rest = len - done;
        if rest > 0 {
            // The last few as one more group, its free lanes the first of them again with no
            // move (which crosses nothing, so records nothing); only the first `rest` results
            // are kept.
            let mut padded: [[(usize, f64); WIDE_PAIR_LANES]; M] = changed.each_ref().map(|part| {
                let part = &part[done..];
                std::array::from_fn(|q| part.get(q).copied().unwrap_or((part[0].0, 0.0)))
            });
            self.groups::<WIDE_PAIR_LANES, M>(
                padded.each_mut().map(|p| &mut p[..]),
                flips.each_mut().map(|f| &mut **f),
                sums,
            );
            for (changed, padded) in changed.iter_mut().zip(&padded) {
                changed[done..].copy_from_slice(&padded[..rest]);
            }
        }
    }

    /// The `M` moves' logits and crossings for the first whole groups of `L` examples, their
    /// sums by `sums`; returns how many examples that was.
    #[inline(always)]
    fn groups<const L: usize, const M: usize>(
        &self,
        changed: [&mut [(usize, f64)]; M],
        flips: [&mut Vec<(usize, usize, usize)>; M],
        sums: impl Fn(&[&[f64]; L], [&[f64; L]; M]) -> [[f64; L]; M],
    ) -> usize {
        let len = changed[0].len();
        let mut changed = changed;
        for start in (0..len / L * L).step_by(L) {
            let groups: [&mut [(usize, f64)]; M] =
                changed.each_mut().map(|c| &mut c[start..start + L]);
            let columns: [&[f64]; L] = std::array::from_fn(|q| self.column(groups[0][q].0));
            let deltas: [[f64; L]; M] =
                std::array::from_fn(|i| std::array::from_fn(|q| groups[i][q].1));
            let results = sums(&columns, deltas.each_ref());
            let mut crossed = [false; L];
            for (q, crossed) in crossed.iter_mut().enumerate() {
                let c = groups[0][q].0;
                *crossed = deltas
                    .iter()
                    .any(|deltas| self.reach.may_cross(self.unit, c, deltas[q]));
            }
            // A crossing of any move sends all to the exact re-scan, which records only each
            // move's own.
            for (i, group) in groups.into_iter().enumerate() {
                self.finish(group, &columns, &deltas[i], &results[i], &crossed, flips[i]);
            }
        }
        len / L * L
    }

    /// Example `c`'s cached column of the next layer.
    #[inline(always)]
    fn column(&self, c: usize) -> &[f64] {
        &contiguous(self.z_next.row(c))[..self.w_next.len()]
    }

    /// The dot products of [`LANES`] examples, with 256-bit vectors when the CPU has them.
    #[inline(always)]
    fn sums(&self, columns: &[&[f64]; LANES], deltas: &[f64; LANES]) -> [f64; LANES] {
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU has AVX2, the only feature `avx2_sums` is compiled for.
                return unsafe { avx2_sums(self.w_next, self.w_out, columns, deltas) };
            }
        }
        portable_sums(self.w_next, self.w_out, columns, deltas).0
    }

    /// Writes each example's logit over its `Δa` and records its crossings, if any.
    #[inline(always)]
    fn finish(
        &self,
        group: &mut [(usize, f64)],
        columns: &[&[f64]],
        deltas: &[f64],
        sums: &[f64],
        crossed: &[bool],
        flips: &mut Vec<(usize, usize, usize)>,
    ) {
        for (q, (c, value)) in group.iter_mut().enumerate() {
            if crossed[q] {
                for (r, (&z, &w)) in columns[q].iter().zip(self.w_next).enumerate() {
                    if (z + w * deltas[q] > 0.0) != (z > 0.0) {
                        flips.push((self.layer, r, *c));
                    }
                }
            }
            *value = sums[q] + self.b_out;
        }
    }
}

/// Whether every list names the same examples in the same order.
fn same_examples(lists: &[&mut [(usize, f64)]]) -> bool {
    lists.windows(2).all(|pair| {
        pair[0].len() == pair[1].len() && pair[0].iter().zip(&*pair[1]).all(|(a, b)| a.0 == b.0)
    })
}
