//! The trait a model implements to be checked: its parameter layout, its cost `J(θ)` and its
//! hand-written gradient `∇J(θ)`, both on the flat parameter buffer. It says nothing about how
//! the model computes them.

use crate::error::Result;
use crate::layout::{Layout, Tensors};

/// A differentiable scalar cost over named parameter tensors.
///
/// `theta` is always a flat buffer of [`Layout::len`] values laid out as
/// [`Problem::layout`] says; use [`Layout::view`] to see one tensor of it. Implementations must be
/// pure (same `theta`, same answer) and `Sync`: the checker evaluates the cost from several
/// threads at once, and may compute the gradient on one thread while it evaluates the cost on
/// another.
pub trait Problem: Sync {
    /// The parameter tensors, in order.
    fn layout(&self) -> &Layout;

    /// The cost `J(θ)`.
    fn cost(&self, theta: &[f64]) -> Result<f64>;

    /// The analytic gradient `∇J(θ)`, laid out like the parameters.
    fn gradient(&self, theta: &[f64]) -> Result<Tensors>;

    /// The cost and, for a piecewise-smooth cost (ReLU, max, abs, …), a signature of the piece
    /// `θ` lies on (for an MLP: a hash of which ReLUs are active, `z > 0`). When the points of
    /// a difference have different signatures, it straddles a kink: the checker shrinks the
    /// step, and if it still straddles one, checks the analytic value against the interval
    /// between the one-sided derivatives from points on one piece each (any valid subgradient
    /// passes). A point exactly on a kink should get the signature of one of the pieces it
    /// bounds (as `z > 0` does): a `θ` whose signature differs from both sides' is taken for
    /// kinks of opposite orientation meeting there, which no interval bounds (*unresolved*).
    /// The default has no signature (the checker then tests one-sided slopes).
    fn cost_with_signature(&self, theta: &[f64]) -> Result<(f64, Option<u64>)> {
        Ok((self.cost(theta)?, None))
    }

    /// The exact directional derivative `∇J(θ)·v` along `direction` (laid out like `θ`), or
    /// `None` (the default) if the model cannot compute it. It is what
    /// [`Reference::Dual`](crate::Reference::Dual) checks the gradient against, with no step at all.
    ///
    /// A model whose cost is written generically over its scalar type gets it from one forward
    /// pass in dual numbers: evaluate the cost at `θᵢ + vᵢ·ε` with `ε² = 0` (with num-dual,
    /// `Dual64::new(θᵢ, vᵢ)` for every parameter); the result is `J(θ) + (∇J(θ)·v)·ε`, exact up
    /// to the rounding of that pass. At a kink (a ReLU at exactly 0) the derivative is whichever
    /// one-sided derivative the model's branches pick; a cost written with the helpers of
    /// [`kink`](crate::kink) records such ties, and the checker then falls back to the interval
    /// of the one-sided finite differences there, so that any valid convention passes. The
    /// direction must be finite; errors are the model's.
    ///
    /// ```
    /// use gradproof::{Checker, Layout, Method, Problem, Result, TensorSpec, Tensors};
    ///
    /// /// J(w) = Σ wᵢ³ with ∇J = 3w², and ∇J·v = Σ 3wᵢ²vᵢ computed exactly.
    /// struct Cubes(Layout);
    /// impl Problem for Cubes {
    ///     fn layout(&self) -> &Layout { &self.0 }
    ///     fn cost(&self, w: &[f64]) -> Result<f64> { Ok(w.iter().map(|x| x.powi(3)).sum()) }
    ///     fn gradient(&self, w: &[f64]) -> Result<Tensors> {
    ///         Tensors::new(self.0.clone(), w.iter().map(|x| 3.0 * x * x).collect())
    ///     }
    ///     fn directional_derivative(&self, w: &[f64], v: &[f64]) -> Option<Result<f64>> {
    ///         Some(Ok(w.iter().zip(v).map(|(x, v)| 3.0 * x * x * v).sum()))
    ///     }
    /// }
    /// let problem = Cubes(Layout::new([TensorSpec::new("w", [3])])?);
    /// let report = Checker::new().dual().check(&problem, &[1.0, -2.0, 0.5])?;
    /// assert!(report.passed());
    /// assert_eq!(report.tensors[0].kink, 0);
    /// # Ok::<(), gradproof::Error>(())
    /// ```
    fn directional_derivative(&self, theta: &[f64], direction: &[f64]) -> Option<Result<f64>> {
        let _ = (theta, direction);
        None
    }

    /// Whether `θ` itself sits on a kink of the cost (a ReLU pre-activation exactly 0, a tie of
    /// a max-pool, `|x|` at 0), if the problem can tell cheaply; `None` (the default) if it
    /// cannot. Consulted once per check, for costs with signatures only: a one-sided difference
    /// (forward) that agrees with the analytic value at once has seen one side of `θ`, so
    /// where `θ` may sit on a kink it looks at `θ − h`'s piece too (one more evaluation per
    /// coordinate); `Some(false)` spares it.
    fn on_kink(&self, theta: &[f64]) -> Option<bool> {
        let _ = theta;
        None
    }

    /// An optional fast path for the costs an exhaustive check needs, `J(θ + δ·eₖ)`: prepared
    /// once at `θ` (e.g. by caching the unperturbed forward pass), then asked for one coordinate
    /// at a time from several threads. A model where one parameter touches only part of the
    /// computation (a weight of an MLP changes one row of one layer, then what lies downstream)
    /// can answer far faster than a full evaluation. The default, `None`, means full
    /// recomputation through [`Problem::cost_with_signature`].
    ///
    /// The fast path must agree with the full cost to within a few ulps of `J` (it is allowed
    /// to round differently), and its signatures must follow one convention among themselves
    /// (see [`CoordinateCosts`]).
    fn coordinate_costs(&self, theta: &[f64]) -> Option<Result<Box<dyn CoordinateCosts + '_>>> {
        let _ = theta;
        None
    }
}

/// The costs of a model at `θ` with one coordinate changed, from a cache of the unperturbed
/// computation (see [`Problem::coordinate_costs`]). Shared by the checker's threads, and built
/// on one while the analytic gradient is computed on another, hence `Send + Sync`.
pub trait CoordinateCosts: Send + Sync {
    /// `J` and the piece signature at `θ` with coordinate `coordinate` set to `value`.
    /// Signatures need not equal those of [`Problem::cost_with_signature`], but two points on
    /// the same smooth piece must get equal signatures, and [`CoordinateCosts::base_signature`]
    /// is the unperturbed point's.
    fn cost(&self, coordinate: usize, value: f64) -> Result<(f64, Option<u64>)>;

    /// [`CoordinateCosts::cost`] at each of `values` of one coordinate (the points of one
    /// difference, e.g. `θₖ ± h`), appended to `out` in order, stopping at the first error. A
    /// fast path that can share work between points of one coordinate overrides it; each
    /// result must be what `cost` gives for that value, so that no verdict depends on how the
    /// points were asked for. The default asks `cost` for each.
    fn costs(
        &self,
        coordinate: usize,
        values: &[f64],
        out: &mut Vec<(f64, Option<u64>)>,
    ) -> Result<()> {
        for &value in values {
            out.push(self.cost(coordinate, value)?);
        }
        Ok(())
    }

    /// [`CoordinateCosts::costs`] for two coordinates at once: the first points of two lines,
    /// asked together so that a fast path can share work between coordinates (two weights of
    /// one unit read the same cached rows). Each request `(coordinate, values)` is answered into
    /// its own `out` as `costs` answers it, with the error that stopped it; each result must be
    /// what `cost` gives. The default asks `costs` for each.
    fn costs_of_two(
        &self,
        requests: [(usize, &[f64]); 2],
        out: [&mut Vec<(f64, Option<u64>)>; 2],
    ) -> [Result<()>; 2] {
        let [(first, first_values), (second, second_values)] = requests;
        let [first_out, second_out] = out;
        [
            self.costs(first, first_values, first_out),
            self.costs(second, second_values, second_out),
        ]
    }

    /// The signature of the unperturbed `θ` in this fast path's convention.
    fn base_signature(&self) -> Option<u64>;
}

/// A [`Problem`] made of two closures: handy for tests, examples and small functions.
///
/// ```
/// use gradproof::{Checker, FnProblem, Layout, TensorSpec, Tensors};
/// // J(θ) = θx with x = 2, the notebook's 1-D case.
/// let layout = Layout::new([TensorSpec::new("theta", [])])?;
/// let problem = FnProblem::new(
///     layout.clone(),
///     |theta| Ok(theta[0] * 2.0),
///     move |_theta| Tensors::new(layout.clone(), vec![2.0]),
/// );
/// let report = Checker::new().check(&problem, &[4.0])?;
/// assert!(report.passed());
/// # Ok::<(), gradproof::Error>(())
/// ```
pub struct FnProblem<C, G> {
    layout: Layout,
    cost: C,
    gradient: G,
}

impl<C, G> FnProblem<C, G>
where
    C: Fn(&[f64]) -> Result<f64> + Sync,
    G: Fn(&[f64]) -> Result<Tensors> + Sync,
{
    /// A problem over `layout` with the given cost and gradient.
    pub fn new(layout: Layout, cost: C, gradient: G) -> Self {
        FnProblem {
            layout,
            cost,
            gradient,
        }
    }
}

impl<C, G> Problem for FnProblem<C, G>
where
    C: Fn(&[f64]) -> Result<f64> + Sync,
    G: Fn(&[f64]) -> Result<Tensors> + Sync,
{
    fn layout(&self) -> &Layout {
        &self.layout
    }

    fn cost(&self, theta: &[f64]) -> Result<f64> {
        (self.cost)(theta)
    }

    fn gradient(&self, theta: &[f64]) -> Result<Tensors> {
        (self.gradient)(theta)
    }
}
