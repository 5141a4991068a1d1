//! The private random generator of the sampled and directional modes, the noise probe and the
//! step sweep: seeded by the caller, never touching any global state, and the same on every
//! platform. Knows nothing of gradients.

/// SplitMix64 (Steele, Lea & Flood 2014): a tiny, well-mixed generator, private to each check so
/// that a check never disturbs (or depends on) anybody else's random state.
#[derive(Clone, Debug)]
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator for `seed`, decorrelated by `stream` (e.g. the tensor's position).
    pub(crate) fn new(seed: u64, stream: u64) -> Self {
        let mut rng = SplitMix64(seed ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03));
        rng.next_u64();
        rng
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n ≥ 1), by Lemire's multiply-shift (bias below 2⁻³²·n, irrelevant
    /// here).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// ±1 with equal probability.
    pub(crate) fn sign(&mut self) -> f64 {
        if self.next_u64() >> 63 == 0 {
            1.0
        } else {
            -1.0
        }
    }

    /// `k` distinct indices from `0..n`, sorted (all of them when `k ≥ n`).
    pub(crate) fn sample(&mut self, n: usize, k: usize) -> Vec<usize> {
        let mut pool: Vec<usize> = (0..n).collect();
        let k = k.min(n);
        for i in 0..k {
            let j = i + self.below(n - i);
            pool.swap(i, j);
        }
        pool.truncate(k);
        pool.sort_unstable();
        pool
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_distinct_sorted_and_reproducible() {
        let a = SplitMix64::new(7, 2).sample(1000, 10);
        let b = SplitMix64::new(7, 2).sample(1000, 10);
        assert_eq!(a, b);
        assert_eq!(a.len(), 10);
        assert!(a.windows(2).all(|w| w[0] < w[1]));
        assert_ne!(a, SplitMix64::new(8, 2).sample(1000, 10));
        assert_eq!(SplitMix64::new(1, 0).sample(4, 10), [0, 1, 2, 3]);
    }

    #[test]
    fn signs_are_balanced() {
        let mut rng = SplitMix64::new(3, 0);
        let sum: f64 = (0..10_000).map(|_| rng.sign()).sum();
        assert!(sum.abs() < 400.0, "{sum}");
    }
}
