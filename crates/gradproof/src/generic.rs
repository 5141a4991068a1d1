//! A [`Problem`] from a cost written once, generically over num-dual's [`DualNum`]: at `f64` it is
//! the cost, in dual numbers (`θᵢ + vᵢ·ε`, `ε² = 0`) it gives the exact directional derivative
//! `∇J(θ)·v` that [`Reference::Dual`](crate::Reference::Dual) checks against. Knows nothing of how a
//! check runs.

use num_dual::{Dual64, DualNum};

use crate::error::Result;
use crate::layout::{Layout, Tensors};
use crate::problem::Problem;

/// A cost written once over any scalar type num-dual differentiates.
///
/// Rust closures cannot be generic, hence a trait: implement it on a small struct holding the
/// model's data.
pub trait DualCost: Sync {
    /// `J(θ)`, with the same arithmetic whatever the scalar type `D`.
    fn cost<D: DualNum<f64> + Copy>(&self, theta: &[D]) -> D;

    /// `∇J(θ)·v` for `v = direction`, exactly: one pass of [`DualCost::cost`] in dual numbers
    /// seeded with `θᵢ + vᵢ·ε`.
    fn directional_derivative(&self, theta: &[f64], direction: &[f64]) -> f64 {
        let seeded: Vec<Dual64> = theta
            .iter()
            .zip(direction)
            .map(|(&t, &v)| Dual64::new(t, v))
            .collect();
        self.cost(&seeded).eps
    }
}

/// A [`Problem`] made of a [`DualCost`] and a hand-written gradient: its
/// [`Problem::directional_derivative`] is one forward pass in dual numbers.
///
/// ```
/// use gradproof::num_dual::DualNum;
/// use gradproof::{Checker, DualCost, DualProblem, Layout, Method, TensorSpec, Tensors};
///
/// /// J(w) = Σ wᵢ·sin(wᵢ), so ∂J/∂wᵢ = sin(wᵢ) + wᵢ·cos(wᵢ).
/// struct WSinW;
/// impl DualCost for WSinW {
///     fn cost<D: DualNum<f64> + Copy>(&self, w: &[D]) -> D {
///         w.iter().fold(D::from(0.0), |sum, &x| sum + x * x.sin())
///     }
/// }
/// let layout = Layout::new([TensorSpec::new("w", [3])])?;
/// let gradient = |w: &[f64]| -> gradproof::Result<Tensors> {
///     let g = w.iter().map(|x| x.sin() + x * x.cos()).collect();
///     Tensors::new(Layout::new([TensorSpec::new("w", [3])])?, g)
/// };
/// let problem = DualProblem::new(layout, WSinW, gradient);
/// let report = Checker::new().dual().check(&problem, &[0.3, -1.0, 2.0])?;
/// assert!(report.passed(), "{report}");
/// # Ok::<(), gradproof::Error>(())
/// ```
pub struct DualProblem<C, G> {
    layout: Layout,
    cost: C,
    gradient: G,
}

impl<C, G> DualProblem<C, G>
where
    C: DualCost,
    G: Fn(&[f64]) -> Result<Tensors> + Sync,
{
    /// A problem over `layout` with the generic `cost` and the hand-written `gradient`.
    pub fn new(layout: Layout, cost: C, gradient: G) -> Self {
        DualProblem {
            layout,
            cost,
            gradient,
        }
    }
}

impl<C, G> Problem for DualProblem<C, G>
where
    C: DualCost,
    G: Fn(&[f64]) -> Result<Tensors> + Sync,
{
    fn layout(&self) -> &Layout {
        &self.layout
    }

    fn cost(&self, theta: &[f64]) -> Result<f64> {
        Ok(self.cost.cost(theta))
    }

    fn gradient(&self, theta: &[f64]) -> Result<Tensors> {
        (self.gradient)(theta)
    }

    fn directional_derivative(&self, theta: &[f64], direction: &[f64]) -> Option<Result<f64>> {
        Some(Ok(self.cost.directional_derivative(theta, direction)))
    }
}
