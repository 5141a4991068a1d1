//! The single coupling point between the model and the gradient-checking engine: an MLP on a
//! fixed data set, with an optional frozen dropout mask and optional injected bugs, is a
//! [`gradproof::Problem`].

use gradproof::problem::CoordinateCosts;
use gradproof::{Layout, Problem, Tensors};
use ndarray::Array2;

use crate::error::{Error, Result};
use crate::model::{Activation, Bug, CostForm, DropoutMask, Incremental, Mlp, gradient_with_bugs};
use crate::numpy_rng::NumpyRng;

/// An MLP's cost on fixed data `(X, Y)`, as a function of its parameters, with a hand-written
/// gradient that may carry injected bugs.
///
/// ```
/// use fraudnet::{MlpProblem, Mlp, notebook};
/// use gradproof::{Checker, Problem};
/// let case = notebook::gradient_check_n_test_case();
/// let problem = MlpProblem::new(case.mlp.clone(), case.x.clone(), case.y.clone())?;
/// let report = Checker::new().check(&problem, case.parameters.values())?;
/// assert!(report.passed());
/// # Ok::<(), fraudnet::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct MlpProblem {
    mlp: Mlp,
    x: Array2<f64>,
    y: Array2<f64>,
    mask: Option<DropoutMask>,
    bugs: Vec<Bug>,
}

/// The most values one layer's activations may hold in [`MlpProblem::random`] (800 MB of `f64`).
pub const MAX_ACTIVATIONS: usize = 100_000_000;

impl MlpProblem {
    /// The MLP's cost on `x` (`(n_0, m)`) and `y` (`(1, m)`), with its correct gradient.
    pub fn new(mlp: Mlp, x: Array2<f64>, y: Array2<f64>) -> Result<Self> {
        let theta = vec![0.0; mlp.layout().len()];
        // Validate the shapes once, up front, rather than on every evaluation.
        mlp.cost(&theta, x.view(), y.view())?;
        Ok(MlpProblem {
            mlp,
            x,
            y,
            mask: None,
            bugs: Vec::new(),
        })
    }

    /// The same problem seen through inverted dropout at `rate` on every hidden layer, with one
    /// mask drawn from `seed` and frozen: every cost evaluation and the backward pass use it, so
    /// the cost is a deterministic function of `θ` and its gradient can be checked.
    ///
    /// ```
    /// use fraudnet::MlpProblem;
    /// use gradproof::Checker;
    /// let (problem, theta) = MlpProblem::random(&[6, 8, 4, 1], 16, 5)?;
    /// let problem = problem.with_dropout(0.3, 11)?;
    /// assert!(Checker::new().check(&problem, theta.values())?.passed());
    /// # Ok::<(), fraudnet::Error>(())
    /// ```
    pub fn with_dropout(self, rate: f64, seed: u32) -> Result<Self> {
        let mask = DropoutMask::sample(&self.mlp, self.x.ncols(), rate, &mut NumpyRng::new(seed))?;
        self.with_mask(mask)
    }

    /// The same problem seen through a given dropout mask (frozen).
    pub fn with_mask(mut self, mask: DropoutMask) -> Result<Self> {
        let theta = vec![0.0; self.mlp.layout().len()];
        self.mlp
            .cost_masked(&theta, self.x.view(), self.y.view(), Some(&mask))?;
        self.mask = Some(mask);
        Ok(self)
    }

    /// The frozen dropout mask, if any.
    pub fn mask(&self) -> Option<&DropoutMask> {
        self.mask.as_ref()
    }

    /// The same problem, with `bugs` injected into its gradient (or its backward pass).
    pub fn with_bugs(mut self, bugs: Vec<Bug>) -> Result<Self> {
        let dropout = self.mask.as_ref().is_some_and(|m| m.rate() > 0.0);
        Bug::check_all(&bugs, &self.mlp, dropout)?;
        self.bugs = bugs;
        Ok(self)
    }

    /// A random problem for an MLP of the given sizes: `examples` inputs drawn from N(0, 1),
    /// labels 0/1 with probability ½, weights drawn He-style (`N(0, 2/fan_in)`) and biases from
    /// `N(0, 0.01)`, all from numpy's legacy generator seeded with `seed`. Returns the problem and
    /// its parameters `θ`. Same seed, same numbers.
    ///
    /// ```
    /// use fraudnet::MlpProblem;
    /// let (problem, theta) = MlpProblem::random(&[4, 5, 3, 1], 3, 7)?;
    /// assert_eq!(theta.values().len(), 47);
    /// # Ok::<(), fraudnet::Error>(())
    /// ```
    pub fn random(sizes: &[usize], examples: usize, seed: u32) -> Result<(Self, Tensors)> {
        let mlp = Mlp::new(sizes)?;
        if examples == 0 {
            return Err(Error::ShapeMismatch {
                what: "X",
                found: vec![sizes[0], 0],
                expected: "at least one example".to_string(),
            });
        }
        // Each layer's activations hold `width × examples` values: refuse what cannot be held.
        let widest = sizes.iter().copied().max().unwrap_or(1);
        if widest
            .checked_mul(examples)
            .is_none_or(|n| n > MAX_ACTIVATIONS)
        {
            return Err(Error::InvalidSetting(format!(
                "{examples} examples through a layer of width {widest} need more than the \
                 {MAX_ACTIVATIONS} activations this build accepts per layer"
            )));
        }
        let mut rng = NumpyRng::new(seed);
        let x = rng.randn_matrix(sizes[0], examples);
        let y = Array2::from_shape_fn((1, examples), |_| {
            if rng.random_sample() < 0.5 { 1.0 } else { 0.0 }
        });
        let mut values = Vec::with_capacity(mlp.layout().len());
        for spec in mlp.layout().tensors() {
            let (rows, cols) = (spec.shape[0], spec.shape[1]);
            let scale = if spec.name.starts_with('W') {
                // He's scale, whatever the activation.
                Activation::Relu.init_scale(cols, rows)
            } else {
                0.1
            };
            values.extend(rng.randn_matrix(rows, cols).iter().map(|v| v * scale));
        }
        let theta = Tensors::new(mlp.layout().clone(), values)?;
        Ok((MlpProblem::new(mlp, x, y)?, theta))
    }

    /// The inputs `X`, one example per column.
    pub fn x(&self) -> &Array2<f64> {
        &self.x
    }

    /// The labels `Y`, a `(1, m)` row.
    pub fn y(&self) -> &Array2<f64> {
        &self.y
    }

    /// The model.
    pub fn mlp(&self) -> &Mlp {
        &self.mlp
    }
}

impl Problem for MlpProblem {
    fn layout(&self) -> &Layout {
        self.mlp.layout()
    }

    fn cost(&self, theta: &[f64]) -> gradproof::Result<f64> {
        // X, Y and the mask were checked when the problem was made.
        let (x, y, mask) = (self.x.view(), self.y.view(), self.mask.as_ref());
        let (cost, _) = self
            .mlp
            .cost_of_checked_data(theta, x, y, mask, false)
            .map_err(engine_error)?;
        Ok(cost)
    }

    fn cost_with_signature(&self, theta: &[f64]) -> gradproof::Result<(f64, Option<u64>)> {
        let (x, y, mask) = (self.x.view(), self.y.view(), self.mask.as_ref());
        let (cost, signature) = self
            .mlp
            .cost_of_checked_data(theta, x, y, mask, true)
            .map_err(engine_error)?;
        // Smooth activations have no kinks to sign.
        Ok((cost, self.mlp.activation().is_kinked().then_some(signature)))
    }

    fn on_kink(&self, theta: &[f64]) -> Option<bool> {
        // A unit of the ReLU family sits on its kink where its pre-activation is exactly 0.
        let forward = self
            .mlp
            .forward_masked(theta, self.x.view(), self.mask.as_ref())
            .ok()?;
        let hidden = &forward.pre_activations[..forward.pre_activations.len() - 1];
        Some(hidden.iter().any(|z| z.iter().any(|&v| v == 0.0)))
    }

    fn coordinate_costs(
        &self,
        theta: &[f64],
    ) -> Option<gradproof::Result<Box<dyn CoordinateCosts + '_>>> {
        // The notebook's cost form is kept for its exact digits: full recomputation only.
        if self.mlp.cost_form() != CostForm::Logits {
            return None;
        }
        let cache = Incremental::new(
            &self.mlp,
            theta,
            self.x.view(),
            self.y.view(),
            self.mask.as_ref(),
        );
        Some(
            cache
                .map(|cache| {
                    Box::new(FastCosts {
                        cache,
                        kinked: self.mlp.activation().is_kinked(),
                    }) as Box<dyn CoordinateCosts>
                })
                .map_err(engine_error),
        )
    }

    /// One forward pass in dual numbers through the same frozen dropout mask as the cost
    /// ([`Mlp::cost_and_derivative`]): the exact `∇J(θ)·v` of the cost, whatever bugs the
    /// hand-written gradient carries.
    fn directional_derivative(
        &self,
        theta: &[f64],
        direction: &[f64],
    ) -> Option<gradproof::Result<f64>> {
        Some(
            self.mlp
                .cost_and_derivative(
                    theta,
                    direction,
                    self.x.view(),
                    self.y.view(),
                    self.mask.as_ref(),
                )
                .map(|(_, derivative)| derivative)
                .map_err(engine_error),
        )
    }

    fn gradient(&self, theta: &[f64]) -> gradproof::Result<Tensors> {
        let (x, y) = (self.x.view(), self.y.view());
        gradient_with_bugs(&self.mlp, theta, x, y, self.mask.as_ref(), &self.bugs)
            .map(|(_, gradient)| gradient)
            .map_err(engine_error)
    }
}

/// The MLP's incremental costs as the engine's fast path.
struct FastCosts<'a> {
    cache: Incremental<'a>,
    kinked: bool,
}

impl CoordinateCosts for FastCosts<'_> {
    fn cost(&self, coordinate: usize, value: f64) -> gradproof::Result<(f64, Option<u64>)> {
        let (cost, signature) = self.cache.cost(coordinate, value);
        Ok((cost, self.kinked.then_some(signature)))
    }

    /// Two values (a central difference's points) in one pass; others one at a time.
    fn costs(
        &self,
        coordinate: usize,
        values: &[f64],
        out: &mut Vec<(f64, Option<u64>)>,
    ) -> gradproof::Result<()> {
        let signature = |(cost, signature): (f64, u64)| (cost, self.kinked.then_some(signature));
        match *values {
            [first, second] => out.extend(
                self.cache
                    .cost_pair(coordinate, [first, second])
                    .map(signature),
            ),
            _ => out.extend(
                values
                    .iter()
                    .map(|&v| signature(self.cache.cost(coordinate, v))),
            ),
        }
        Ok(())
    }

    /// Two coordinates' central differences in one pass (the model shares work between two
    /// weights of one unit); anything else as `costs` answers it.
    fn costs_of_two(
        &self,
        requests: [(usize, &[f64]); 2],
        out: [&mut Vec<(f64, Option<u64>)>; 2],
    ) -> [gradproof::Result<()>; 2] {
        let [(a, &[a0, a1]), (b, &[b0, b1])] = requests else {
            let [(a, first), (b, second)] = requests;
            let [first_out, second_out] = out;
            return [
                self.costs(a, first, first_out),
                self.costs(b, second, second_out),
            ];
        };
        let signature = |(cost, signature): (f64, u64)| (cost, self.kinked.then_some(signature));
        let results = self.cache.cost_two_pairs((a, [a0, a1]), (b, [b0, b1]));
        for (out, pair) in out.into_iter().zip(results) {
            out.extend(pair.map(signature));
        }
        [Ok(()), Ok(())]
    }

    fn base_signature(&self) -> Option<u64> {
        self.kinked.then(|| self.cache.base_signature())
    }
}

/// The engine's own errors pass through unchanged; the model's are wrapped.
fn engine_error(error: Error) -> gradproof::Error {
    match error {
        Error::Engine(e) => e,
        other => gradproof::Error::model(other),
    }
}
