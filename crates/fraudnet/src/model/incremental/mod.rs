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

mod batch;
mod fused;
mod last_hidden;
mod propagate;
mod reach;

use std::cell::RefCell;
use std::hash::Hasher;

use ndarray::{Array2, ArrayView2};

use super::activation::DropoutMask;
use super::formulas::{KinkHasher, example_weight, logits_loss, mean_cost, weighted_loss};
use super::mlp::{CostForm, Forward, Mlp};
use super::softplus::softplus_tails;
use reach::Reach;

/// A cache of the forward pass at `θ` from which `J(θ + δ·eₖ)` is computed for any `k`.
///
/// ```
/// use fraudnet::model::Incremental;
/// use fraudnet::MlpProblem;
/// let (problem, theta) = MlpProblem::random(&[6, 9, 4, 1], 20, 3)?;
/// let (mlp, x, y) = (problem.mlp(), problem.x().view(), problem.y().view());
/// let cache = Incremental::new(mlp, theta.values(), x, y, None)?;
/// let k = 17; // W1[2, 5]
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
    /// Each example's label, in example order.
    labels: Vec<f64>,
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
    /// How far each unit of the layer the fused kernel carries may move before the next
    /// layer crosses a kink, when that kernel applies.
    reach: Option<Reach>,
    /// Parameter ranges of `W1, b1, W2, …`.
    ranges: Vec<std::ops::Range<usize>>,
    /// This cache's number in the process, so that a thread's copy of `terms` is known to be
    /// this cache's.
    id: u64,
}

/// Per-thread work buffers, reused across calls.
#[derive(Default)]
struct Scratch {
    row: Vec<f64>,
    changed: Vec<(usize, f64)>,
    column: Vec<f64>,
    next: Vec<f64>,
    flips: Vec<(usize, usize, usize)>,
    /// The changed examples' logits, and their `log(1 + e^(−|z|))`.
    logits: Vec<f64>,
    tails: Vec<f64>,
    /// Each example's weighted loss term at the moved point: a copy of the cache's of
    /// [`Incremental`] number `terms_of` (`None`: none, or left with substituted terms),
    /// substituted for one cost and restored after it.
    terms: Vec<f64>,
    terms_of: Option<u64>,
    /// The changed examples' labels, packed, and which of each block of eight changed (the
    /// last hidden layer's path).
    labels: Vec<f64>,
    masks: Vec<u8>,
}

/// The number the next [`Incremental`] gets.
static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

thread_local! {
    /// Two pairs of sets: the first for the two moves of [`Incremental::cost_pair`] (`cost`
    /// uses its first), both for the four of [`Incremental::cost_two_pairs`].
    static SCRATCH: RefCell<[[Scratch; 2]; 2]> = RefCell::new(Default::default());
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
            .map(|(&z, &y)| weighted_loss(CostForm::Logits, mlp.positive_weight(), z, y))
            .collect();
        let ranges: Vec<_> = (0..mlp.layout().tensors().len())
            .map(|k| mlp.layout().range(k))
            .collect();
        let by_example = |a: ArrayView2<'_, f64>| a.t().as_standard_layout().into_owned();
        let z_by_example: Vec<Array2<f64>> = forward
            .pre_activations
            .iter()
            .map(|z| by_example(z.view()))
            .collect();
        let mask_by_example = mask.map_or_else(Vec::new, |m| {
            m.layers().iter().map(|k| by_example(k.view())).collect()
        });
        let w_transposed: Vec<Array2<f64>> = (1..=mlp.depth())
            .map(|l| by_example(mlp.layer(theta, l).0))
            .collect();
        let depth = mlp.depth();
        let reach = (depth >= 3 && fused_applies(mlp, mask))
            .then(|| Reach::new(&z_by_example[depth - 2], &w_transposed[depth - 2]));
        Ok(Incremental {
            mlp,
            theta: theta.to_vec(),
            x: x.as_standard_layout().into_owned(),
            labels: y.iter().copied().collect(),
            mask,
            forward,
            z_by_example,
            mask_by_example,
            w_transposed,
            terms,
            squares: mlp.squared_weights(theta),
            ranges,
            reach,
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        })
    }

    /// The signature of the unperturbed parameters: no unit has crossed its kink.
    pub fn base_signature(&self) -> u64 {
        KinkHasher::new().finish()
    }

    /// `J` at `θ` with parameter `k` set to `value`, and a signature of the units whose kink
    /// side changed (layer, unit, example) — equal for points on the same smooth piece, and
    /// [`Incremental::base_signature`] when none changed.
    ///
    /// # Panics
    /// If `k` is not a parameter index (the engine only asks for those).
    pub fn cost(&self, k: usize, value: f64) -> (f64, u64) {
        SCRATCH.with_borrow_mut(|[[scratch, _], _]| {
            #[cfg(target_arch = "x86_64")]
            {
                let target = self.target(k);
                if self.last_hidden_applies(target.layer) {
                    // SAFETY: the CPU has AVX-512F and the target is in the last hidden layer
                    // (`last_hidden_applies`).
                    return unsafe { self.last_hidden_costs([(&target, value)], [scratch]) }[0];
                }
                if std::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the CPU has AVX-512F, the only feature `cost_avx512` is compiled
                    // for.
                    return unsafe { self.cost_avx512(k, value, scratch) };
                }
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

    /// [`Incremental::cost`] compiled for 512-bit vectors (the same bits; AVX-512F implies
    /// AVX2, so the hand-written 256-bit kernels inside run as well).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn cost_avx512(&self, k: usize, value: f64, scratch: &mut Scratch) -> (f64, u64) {
        self.cost_body(k, value, scratch)
    }

    /// The body of [`Incremental::cost`], with the calling thread's work buffers (kept apart
    /// from the thread-local access so that it is compiled with the caller's vector width).
    #[inline(always)]
    fn cost_body(&self, k: usize, value: f64, s: &mut Scratch) -> (f64, u64) {
        let target = self.target(k);
        self.move_row(&target, value, s);
        let count = self.logits(&target, s);
        self.substitute_terms(count, s);
        let sum = s.terms.iter().fold(0.0, |sum, &term| sum + term);
        self.restore_terms(count, s);
        self.finish(&target, value, sum, s)
    }

    /// Where parameter `k` sits.
    #[inline(always)]
    fn target(&self, k: usize) -> Target {
        let tensor = self
            .ranges
            .iter()
            .position(|r| r.contains(&k))
            .expect("k indexes a parameter");
        let layer = tensor / 2 + 1;
        let local = k - self.ranges[tensor].start;
        let fan_in = self.mlp.sizes()[layer - 1];
        let (unit, source) = if tensor % 2 == 0 {
            (local / fan_in, Some(local % fan_in))
        } else {
            (local, None)
        };
        Target {
            k,
            layer,
            unit,
            source,
        }
    }

    /// Row `unit` of `Zl` with the parameter at `value`, into `s.row` (and `s.flips` emptied).
    #[inline(always)]
    fn move_row(&self, target: &Target, value: f64, s: &mut Scratch) {
        let delta = value - self.theta[target.k];
        let l = target.layer;
        s.flips.clear();
        let z = contiguous(self.forward.pre_activations[l - 1].row(target.unit));
        s.row.clear();
        match self.input_row(target) {
            Some(input) => s
                .row
                .extend(z.iter().zip(input).map(|(&z, &a)| z + delta * a)),
            None => s.row.extend(z.iter().map(|&z| z + delta)),
        }
    }

    /// The input row a weight multiplies (`X`'s or the layer above's activations, one value per
    /// example); none for a bias.
    #[inline(always)]
    fn input_row(&self, target: &Target) -> Option<&[f64]> {
        let l = target.layer;
        target.source.map(|j| {
            contiguous(if l == 1 {
                self.x.row(j)
            } else {
                self.forward.activations[l - 2].row(j)
            })
        })
    }

    /// The moved row's changed examples and their new logits into the first places of
    /// `s.changed`; returns how many.
    #[inline(always)]
    fn logits(&self, target: &Target, s: &mut Scratch) -> usize {
        if target.layer == self.mlp.depth() {
            // The output row itself: every example's term may change.
            s.changed.clear();
            s.changed
                .extend(s.row.iter().enumerate().map(|(c, &z)| (c, z)));
            s.row.len()
        } else {
            self.propagate_row(target.layer, target.unit, s)
        }
    }

    /// `s.terms`: the cached terms with those of the `count` changed examples replaced (until
    /// [`Incremental::restore_terms`]).
    #[inline(always)]
    fn substitute_terms(&self, count: usize, s: &mut Scratch) {
        // The logistic terms' `exp` and `log1p` go eight or four at a time (the same bits).
        let changed = &s.changed[..count];
        s.logits.clear();
        s.logits.extend(changed.iter().map(|&(_, z)| z));
        s.tails.clear();
        softplus_tails(&s.logits, &mut s.tails);
        // Substituted in the thread's copy, so that the sum is one branch-free pass in example
        // order (as the full pass sums them; changed and unchanged examples alternate at
        // random). The copy is made once per thread and cache, and restored after each cost.
        if s.terms_of.take() != Some(self.id) {
            s.terms.clear();
            s.terms.extend_from_slice(&self.terms);
        }
        for (&(c, z), &tail) in changed.iter().zip(&s.tails) {
            let y = self.labels[c];
            s.terms[c] = logits_loss(z, y, tail) * example_weight(self.mlp.positive_weight(), y);
        }
    }

    /// Puts the cached terms of the `count` changed examples back into `s.terms`.
    #[inline(always)]
    fn restore_terms(&self, count: usize, s: &mut Scratch) {
        for &(c, _) in &s.changed[..count] {
            s.terms[c] = self.terms[c];
        }
        s.terms_of = Some(self.id);
    }

    /// The cost from the terms' `sum`, with the parameter at `value`, and the signature of the
    /// kink crossings in `s.flips`.
    #[inline(always)]
    fn finish(&self, target: &Target, value: f64, sum: f64, s: &Scratch) -> (f64, u64) {
        let k = target.k;
        let squares = || match target.source {
            Some(_) => self.squares - self.theta[k] * self.theta[k] + value * value,
            None => self.squares,
        };
        let cost = mean_cost(sum, self.x.ncols(), self.mlp.l2(), squares);
        let mut hasher = KinkHasher::new();
        for &(layer, unit, example) in &s.flips {
            hasher.write_usize(layer);
            hasher.write_usize(unit);
            hasher.write_usize(example);
        }
        (cost, hasher.finish())
    }
}

/// A parameter's place in the network: `Wl[unit, source]`, or `bl[unit]` (no source).
struct Target {
    k: usize,
    layer: usize,
    unit: usize,
    source: Option<usize>,
}

/// Whether the fused kernel carries the last hidden layer's moves (ReLU, no dropout).
fn fused_applies(mlp: &Mlp, mask: Option<&DropoutMask>) -> bool {
    mlp.activation() == super::activation::Activation::Relu && mask.is_none()
}

/// A row of an array in standard layout, as a slice.
#[inline(always)]
fn contiguous(row: ndarray::ArrayView1<'_, f64>) -> &[f64] {
    row.to_slice()
        .expect("rows of standard-layout arrays are contiguous")
}

#[cfg(test)]
mod tests;
