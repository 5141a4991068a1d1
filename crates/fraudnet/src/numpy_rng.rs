//! numpy's legacy random generator (`np.random.seed`, `random_sample`, `randn`), bit for bit, so
//! that the notebook's seeded test case has exactly the notebook's numbers.
//!
//! numpy's legacy `RandomState` is MT19937 seeded with `init_genrand` (what `rand_mt`'s
//! `Mt::new` does), builds a double from two 32-bit draws (27 + 26 bits), and draws normals with
//! the polar Box–Muller method, caching the second value of each pair for the next call. Nothing
//! here knows about models.

use ndarray::Array2;
use rand_mt::Mt;

/// A port of numpy's legacy `RandomState` for the draws the notebook uses.
///
/// ```
/// use fraudnet::NumpyRng;
/// let mut rng = NumpyRng::new(1);          // np.random.seed(1)
/// assert_eq!(rng.randn(), 1.6243453636632417); // np.random.randn()
/// ```
#[derive(Clone, Debug)]
pub struct NumpyRng {
    mt: Mt,
    /// The second normal of the last polar pair, returned by the next [`NumpyRng::randn`].
    cached_gauss: Option<f64>,
}

impl NumpyRng {
    /// The state after `np.random.seed(seed)`.
    pub fn new(seed: u32) -> Self {
        NumpyRng {
            mt: Mt::new(seed),
            cached_gauss: None,
        }
    }

    /// `np.random.random_sample()`: uniform in `[0, 1)` with 53 random bits.
    pub fn random_sample(&mut self) -> f64 {
        let a = self.mt.next_u32() >> 5;
        let b = self.mt.next_u32() >> 6;
        (f64::from(a) * 67_108_864.0 + f64::from(b)) / 9_007_199_254_740_992.0
    }

    /// `np.random.randn()`: a standard normal by the polar method, with numpy's cached pair.
    pub fn randn(&mut self) -> f64 {
        if let Some(gauss) = self.cached_gauss.take() {
            return gauss;
        }
        loop {
            let x1 = 2.0 * self.random_sample() - 1.0;
            let x2 = 2.0 * self.random_sample() - 1.0;
            let r2 = x1 * x1 + x2 * x2;
            if r2 < 1.0 && r2 != 0.0 {
                let f = (-2.0 * r2.ln() / r2).sqrt();
                self.cached_gauss = Some(f * x1);
                return f * x2;
            }
        }
    }

    /// `np.random.randn(rows, cols)`: filled in row-major order.
    pub fn randn_matrix(&mut self, rows: usize, cols: usize) -> Array2<f64> {
        let values = (0..rows * cols).map(|_| self.randn()).collect();
        Array2::from_shape_vec((rows, cols), values).expect("rows * cols values")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Reference values printed by numpy 2.4.6 (legacy RandomState) in a throwaway venv:
    //   np.random.seed(1); np.random.random_sample(3)
    //   np.random.seed(1); np.random.randn(5)
    //   np.random.seed(42); randn(3); random_sample(2); randn(3)
    //   np.random.seed(4294967295); randn(4)
    //   np.random.seed(0); z = randn(1000000); z[-3:], z.sum()

    #[test]
    fn random_sample_matches_numpy() {
        let mut rng = NumpyRng::new(1);
        let got: Vec<f64> = (0..3).map(|_| rng.random_sample()).collect();
        assert_eq!(
            got,
            [
                0.417022004702574,
                0.7203244934421581,
                0.00011437481734488664
            ]
        );
    }

    #[test]
    fn randn_matches_numpy() {
        let mut rng = NumpyRng::new(1);
        let got: Vec<f64> = (0..5).map(|_| rng.randn()).collect();
        assert_eq!(
            got,
            [
                1.6243453636632417,
                -0.6117564136500754,
                -0.5281717522634557,
                -1.0729686221561705,
                0.8654076293246785
            ]
        );
    }

    #[test]
    fn the_gauss_cache_survives_other_draws() {
        // randn(3) leaves a cached normal; random_sample does not touch it; the next randn
        // returns it first.
        let mut rng = NumpyRng::new(42);
        let a: Vec<f64> = (0..3).map(|_| rng.randn()).collect();
        let b: Vec<f64> = (0..2).map(|_| rng.random_sample()).collect();
        let c: Vec<f64> = (0..3).map(|_| rng.randn()).collect();
        assert_eq!(
            a,
            [0.4967141530112327, -0.13826430117118466, 0.6476885381006925]
        );
        assert_eq!(b, [0.15601864044243652, 0.15599452033620265]);
        assert_eq!(
            c,
            [1.5230298564080254, 1.5792128155073915, 0.7674347291529088]
        );
    }

    #[test]
    fn the_largest_seed_matches_numpy() {
        let mut rng = NumpyRng::new(u32::MAX);
        let got: Vec<f64> = (0..4).map(|_| rng.randn()).collect();
        assert_eq!(
            got,
            [
                0.6484086742306527,
                0.6693235306338161,
                -1.0805437227474493,
                0.2845010447986309
            ]
        );
    }

    #[test]
    fn a_million_draws_match_numpy() {
        let mut rng = NumpyRng::new(0);
        let z: Vec<f64> = (0..1_000_000).map(|_| rng.randn()).collect();
        assert_eq!(
            &z[z.len() - 3..],
            [-0.7972826395696444, 0.8747560931181503, 1.37183066026284]
        );
        // numpy's sum is pairwise, ours sequential: equal to rounding, not bit for bit.
        let sum: f64 = z.iter().sum();
        assert!((sum - 1512.1465155362314).abs() < 1e-9, "{sum}");
    }

    #[test]
    fn matrices_fill_in_row_major_order() {
        let mut a = NumpyRng::new(1);
        let mut b = NumpyRng::new(1);
        let m = a.randn_matrix(2, 3);
        for v in m.iter() {
            assert_eq!(*v, b.randn());
        }
    }
}
