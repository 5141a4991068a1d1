//! The MLP's scalar formulas, each written once and generic over the scalar type: the logistic
//! sigmoid, one example's loss in either [`CostForm`], the weighted mean with the L2 penalty, and
//! the packing of a layer's kink pattern into a signature. At `f64` they are the fast paths'
//! arithmetic to the last bit (the same operations in the same order); at a dual number they are
//! the exact-derivative oracle's. This module knows nothing of layers, buffers or data sets.

use std::hash::Hasher;

use gradproof::num_dual::DualNum;

/// How the logistic cost is evaluated. Both have the same value and gradient in exact
/// arithmetic; they differ in rounding.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CostForm {
    /// From the logits `z`: `max(z, 0) − z·y + log(1 + e^(−|z|))`. No `log(0)`, no overflow,
    /// rounding noise of a few ulps however saturated the sigmoid. The default.
    #[default]
    Logits,
    /// As the notebook computes it, from the sigmoid's output `a`:
    /// `−y·log(a) − (1 − y)·log(1 − a)`. `1 − a` cancels catastrophically once `|z|` passes ~10
    /// (the cost turns into a staircase, and into inf or NaN beyond ~37), but it is the form
    /// that reproduces the notebook's printed digits.
    Notebook,
}

/// A scalar the formulas work on: `f64` itself, or a dual number over `f64`.
pub trait Real: DualNum<f64> + Copy {}

impl<T: DualNum<f64> + Copy> Real for T {}

/// The logistic sigmoid as the notebook writes it, `1 / (1 + e^(−z))` (`recip` is `1 / x` at
/// `f64`).
#[inline(always)]
pub(crate) fn sigmoid<T: Real>(z: T) -> T {
    (T::from(1.0) + (-z).exp()).recip()
}

/// `max(z, 0)`, branching on `z > 0` (so a dual number at the kink takes the left derivative,
/// 0, as the backward pass does).
#[inline(always)]
pub(crate) fn relu<T: Real>(z: T) -> T {
    if z.re() > 0.0 { z } else { T::from(0.0) }
}

/// One example's logistic loss from its logit `z` and label `y`, in the given form:
/// [`CostForm::Logits`] `max(z, 0) − z·y + log(1 + e^(−|z|))`, or [`CostForm::Notebook`]
/// `−y·log(a) − (1 − y)·log(1 − a)` with `a = σ(z)`. In the logits form `max` and `|·|` take
/// the same branch, so that their kinks cancel exactly for dual numbers (the loss is smooth).
#[inline(always)]
pub(crate) fn example_loss<T: Real>(form: CostForm, z: T, y: f64) -> T {
    match form {
        CostForm::Logits => logits_loss(z, y, softplus_tail(z)),
        CostForm::Notebook => {
            let a = sigmoid(z);
            -a.ln() * y + -(T::from(1.0) - a).ln() * (1.0 - y)
        }
    }
}

/// `log(1 + e^(−|z|))`, the transcendental part of the [`CostForm::Logits`] loss. `|z|` branches
/// on `z > 0` like [`relu`], so that the two kinks cancel exactly for dual numbers.
#[inline(always)]
pub(crate) fn softplus_tail<T: Real>(z: T) -> T {
    let magnitude = if z.re() > 0.0 { z } else { -z };
    (-magnitude).exp().ln_1p()
}

/// The [`CostForm::Logits`] loss `max(z, 0) − z·y + tail` from its [`softplus_tail`] (computed
/// apart when many are computed at once).
#[inline(always)]
pub(crate) fn logits_loss<T: Real>(z: T, y: f64, tail: T) -> T {
    relu(z) - z * y + tail
}

/// The weight of an example with label `y` when positives weigh `positive_weight`:
/// `1 + (positive_weight − 1)·y` (exactly 1 when unweighted).
#[inline(always)]
pub(crate) fn example_weight(positive_weight: f64, y: f64) -> f64 {
    if positive_weight == 1.0 {
        1.0
    } else {
        1.0 + (positive_weight - 1.0) * y
    }
}

/// `Σᵢ wᵢ·ℓ(zᵢ, yᵢ)` over the examples' logits and labels, summed in example order from 0.
#[inline(always)]
pub(crate) fn weighted_loss_sum<T: Real>(
    form: CostForm,
    positive_weight: f64,
    logits: impl IntoIterator<Item = T>,
    labels: impl IntoIterator<Item = f64>,
) -> T {
    logits
        .into_iter()
        .zip(labels)
        .map(|(z, y)| weighted_loss(form, positive_weight, z, y))
        .fold(T::from(0.0), |sum, term| sum + term)
}

/// One example's weighted loss `wᵢ·ℓ(zᵢ, yᵢ)`: a term of [`weighted_loss_sum`].
#[inline(always)]
pub(crate) fn weighted_loss<T: Real>(form: CostForm, positive_weight: f64, z: T, y: f64) -> T {
    example_loss(form, z, y) * example_weight(positive_weight, y)
}

/// `Σ_l ‖Wl‖²`: each layer's squares summed in order, then the layers' sums.
pub(crate) fn squared_weights<'a, T: Real>(layers: impl IntoIterator<Item = &'a [T]>) -> T {
    layers
        .into_iter()
        .map(|w| w.iter().fold(T::from(-0.0), |sum, &w| sum + w * w))
        .fold(T::from(-0.0), |sum, layer| sum + layer)
}

/// The cost `(1/m)·Σ wᵢ·ℓᵢ + (λ/2m)·Σ‖Wl‖²` from the weighted sum of `m` examples' losses and
/// (asked only when `λ ≠ 0`) the squared weights.
#[inline(always)]
pub(crate) fn mean_cost<T: Real>(sum: T, m: usize, l2: f64, squares: impl FnOnce() -> T) -> T {
    let m = m as f64;
    let cost = sum * (1.0 / m);
    if l2 == 0.0 {
        cost
    } else {
        cost + squares() * (l2 / (2.0 * m))
    }
}

/// The hasher that signs a kink pattern: a few nanoseconds per word where the standard
/// library's SipHash takes tens (a few per cent of the notebook's 47-parameter check). Each
/// word goes through `h ← mix((h + φ) ⊕ w)`, with `mix` SplitMix64's finaliser: a bijection, so
/// that the update is one of `h` for a fixed word and of the word for a fixed `h`. Two patterns
/// of the same length that differ in one word (one unit crossing its kink, the common case)
/// therefore never collide; otherwise a collision needs the later words to cancel a
/// well-mixed difference exactly. Not for untrusted input: it has no key.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct KinkHasher(u64);

impl KinkHasher {
    /// A hasher that has seen nothing.
    pub(crate) const fn new() -> Self {
        Self(0)
    }
}

impl Hasher for KinkHasher {
    #[inline(always)]
    fn write_u64(&mut self, word: u64) {
        let mut z = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15) ^ word;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        self.0 = z ^ (z >> 31);
    }

    #[inline(always)]
    fn write_usize(&mut self, word: usize) {
        self.write_u64(word as u64);
    }

    /// Bytes in words of eight, little-endian, the last one zero-padded, then the length.
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
        self.write_usize(bytes.len());
    }

    #[inline(always)]
    fn finish(&self) -> u64 {
        self.0
    }
}

/// Writes one layer's kink pattern (which pre-activations `z` are `> 0`, in row-major order) to
/// `hasher`: one `u64` per 64 entries (entry `k` at bit `k % 64`), then one for the rest (0 if
/// none). Every path that signs the piece of the cost a point lies on packs it this way.
#[inline(always)]
pub(crate) fn write_kink_pattern(hasher: &mut KinkHasher, z: &[f64]) {
    let mut words = z.chunks_exact(64);
    for word in &mut words {
        hasher.write_u64(positive_bits(word));
    }
    hasher.write_u64(positive_bits(words.remainder()));
}

/// Bit `t` set where `z[t] > 0` (at most 64 entries).
#[inline(always)]
fn positive_bits(z: &[f64]) -> u64 {
    z.iter()
        .enumerate()
        .fold(0, |bits, (t, &v)| bits | u64::from(v > 0.0) << t)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn sign(words: &[u64]) -> u64 {
        let mut hasher = KinkHasher::new();
        words.iter().for_each(|&w| hasher.write_u64(w));
        hasher.finish()
    }

    #[test]
    fn kink_patterns_that_differ_sign_differently() {
        // Sparse and dense three-word patterns (three layers, or one layer of 129–192 units),
        // every one-bit change of each and a fifth of the two-bit ones: no two distinct patterns
        // share a signature. (An FxHash-like `(rotl(h) ⊕ w)·K` has such collisions: a
        // product's high bits never reach its low ones, so two flips can cancel.)
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut seen = HashMap::new();
        for base in 0..100 {
            let sparse = base % 2 == 0;
            let word = |r: u64| if sparse { r & (r >> 7) & (r >> 19) } else { r };
            let base = [word(next()), word(next()), word(next())];
            for i in 0..192 {
                for j in (i..192).step_by(5) {
                    let mut p = base;
                    p[i / 64] ^= 1 << (i % 64);
                    if j != i {
                        p[j / 64] ^= 1 << (j % 64);
                    }
                    if let Some(q) = seen.insert(sign(&p), p) {
                        assert_eq!(p, q, "two patterns share a signature");
                    }
                }
            }
        }
        assert!(seen.len() > 300_000, "{} patterns", seen.len());
        // The empty pattern and a run of zero words are told apart by their length.
        assert_ne!(sign(&[]), sign(&[0]));
        assert_ne!(sign(&[0]), sign(&[0, 0]));
    }
}
