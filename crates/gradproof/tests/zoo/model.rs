//! What every family of the zoo provides ([`Model`]: a random instance, its cost written once
//! over any [`Scalar`], and its hand-written gradients, correct and buggy), the [`Problem`] the
//! checker sees ([`ZooProblem`]: the cost in `f64` or in `f32`, with or without kink signatures,
//! exact directional derivatives from one `Dual64` pass), and the seeded generator the instances
//! are drawn with. Knows nothing of how a check is judged or counted.

use gradproof::num_dual::Dual64;
use gradproof::{Layout, Precision, Problem, TensorSpec, Tensors};

use super::kinkops::{Scalar, with_signature};

/// One hand-written gradient of a model at its `θ`.
pub struct Candidate {
    /// What it is (`correct`, `relu'(0) = 1`, `transposed dW`, …).
    pub name: String,
    /// A correct gradient (any valid convention at kinks) that must never be called wrong.
    pub correct: bool,
    /// The gradient, laid out like `θ`.
    pub values: Vec<f64>,
}

impl Candidate {
    /// A correct gradient.
    pub fn correct(name: &str, values: Vec<f64>) -> Candidate {
        Candidate {
            name: name.to_string(),
            correct: true,
            values,
        }
    }

    /// A wrong gradient.
    pub fn bug(name: &str, values: Vec<f64>) -> Candidate {
        Candidate {
            name: name.to_string(),
            correct: false,
            values,
        }
    }
}

/// The parameter tensors of an instance and the point `θ` its checks run at.
pub struct Parameters {
    /// The parameter tensors.
    pub layout: Layout,
    /// The parameters the checks run at.
    pub theta: Vec<f64>,
}

impl Parameters {
    /// The tensors `(name, shape)` in order, at `theta` (laid out like them).
    pub fn new<const N: usize>(tensors: [(&str, &[usize]); N], theta: Vec<f64>) -> Parameters {
        let layout = Layout::new(tensors.map(|(name, shape)| TensorSpec::new(name, shape)))
            .expect("a valid layout");
        assert_eq!(layout.len(), theta.len(), "θ laid out like the tensors");
        Parameters { layout, theta }
    }
}

/// A family of models: random instances with a generic cost and hand-written gradients.
pub trait Model: Sync + Sized {
    /// The family's name in the tables.
    const FAMILY: &'static str;
    /// Whether instances have parameters exactly on kinks (the cost is not differentiable at θ).
    const KINKS_AT_THETA: bool;

    /// The instance drawn from `seed`.
    fn random(seed: u64) -> Self;
    /// The parameter tensors and `θ`.
    fn parameters(&self) -> &Parameters;
    /// The parameter tensors.
    fn layout(&self) -> &Layout {
        &self.parameters().layout
    }
    /// The parameters the checks run at.
    fn theta(&self) -> &[f64] {
        &self.parameters().theta
    }
    /// `J(θ)`, with the same arithmetic whatever the scalar (kinks through `kinkops`).
    fn cost<S: Scalar>(&self, theta: &[S]) -> S;
    /// The hand-written gradients at `theta`: the canonical correct one first, then any other
    /// correct convention, then the family's bug catalogue.
    fn gradients(&self, theta: &[f64]) -> Vec<Candidate>;
}

/// The precision a [`ZooProblem`]'s cost is computed in.
pub fn cost_in<M: Model>(model: &M, theta: &[f64], precision: Precision) -> f64 {
    match precision {
        Precision::F32 => {
            let narrow: Vec<f32> = theta.iter().map(|&v| v as f32).collect();
            f64::from(model.cost(&narrow))
        }
        _ => model.cost(theta),
    }
}

/// `∇J(θ)·v` from one `Dual64` pass of the model's cost (plain tie conventions, as the
/// engine's dual oracle sees them).
pub fn dual_derivative<M: Model>(model: &M, theta: &[f64], direction: &[f64]) -> f64 {
    let seeded: Vec<Dual64> = theta
        .iter()
        .zip(direction)
        .map(|(&t, &v)| Dual64::new(t, v))
        .collect();
    model.cost(&seeded).eps
}

/// A model as the checker sees it.
pub struct ZooProblem<'m, M> {
    /// The model.
    pub model: &'m M,
    /// `F64`, or `F32` for a cost computed in `f32` and returned as `f64`.
    pub precision: Precision,
    /// Whether `cost_with_signature` reports the branches the kinks took.
    pub signature: bool,
}

impl<M: Model> Problem for ZooProblem<'_, M> {
    fn layout(&self) -> &Layout {
        self.model.layout()
    }

    fn cost(&self, theta: &[f64]) -> gradproof::Result<f64> {
        Ok(cost_in(self.model, theta, self.precision))
    }

    fn cost_with_signature(&self, theta: &[f64]) -> gradproof::Result<(f64, Option<u64>)> {
        if !self.signature {
            return Ok((self.cost(theta)?, None));
        }
        let (cost, signature) = with_signature(|| cost_in(self.model, theta, self.precision));
        Ok((cost, Some(signature)))
    }

    fn gradient(&self, theta: &[f64]) -> gradproof::Result<Tensors> {
        let canonical = self.model.gradients(theta).swap_remove(0).values;
        Tensors::new(self.model.layout().clone(), canonical)
    }

    fn directional_derivative(
        &self,
        theta: &[f64],
        direction: &[f64],
    ) -> Option<gradproof::Result<f64>> {
        Some(Ok(dual_derivative(self.model, theta, direction)))
    }
}

/// A small seeded generator (SplitMix64), so that every instance is the same everywhere.
pub struct Rng(u64);

impl Rng {
    /// The generator for `seed` and a family's `stream`.
    pub fn new(seed: u64, stream: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ stream.rotate_left(32))
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A standard normal draw (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let radius = (-2.0 * (1.0 - self.unit()).ln()).sqrt();
        radius * (std::f64::consts::TAU * self.unit()).cos()
    }

    /// `n` standard normal draws times `scale`.
    pub fn normals(&mut self, n: usize, scale: f64) -> Vec<f64> {
        (0..n).map(|_| scale * self.normal()).collect()
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.unit() * n as f64) as usize
    }

    /// `k / denominator` for `k` uniform in `−reach..=reach`, `k ≠ 0`: a value every precision
    /// down to f32 holds exactly, with exact sums and products of a few of them.
    pub fn dyadic(&mut self, reach: i32, denominator: f64) -> f64 {
        let k = 1 + self.below(reach as usize) as i32;
        let sign = if self.unit() < 0.5 { -1 } else { 1 };
        f64::from(sign * k) / denominator
    }

    /// `±1`.
    pub fn sign(&mut self) -> f64 {
        if self.unit() < 0.5 { -1.0 } else { 1.0 }
    }
}

/// `Σ aᵢ·xᵢ` with the data `x` rounded to the scalar's precision, summed in order.
pub fn dot<S: Scalar>(weights: &[S], data: &[f64]) -> S {
    weights
        .iter()
        .zip(data)
        .fold(S::zero(), |sum, (&w, &x)| sum + w * S::lit(x))
}

/// `Σ aᵢ·bᵢ` of two scalar vectors, summed in order.
pub fn dot_scalars<S: Scalar>(a: &[S], b: &[S]) -> S {
    a.iter().zip(b).fold(S::zero(), |sum, (&x, &y)| sum + x * y)
}
