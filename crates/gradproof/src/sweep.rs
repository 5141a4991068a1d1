//! The error-versus-step curve of a finite-difference method: along one seeded random unit
//! direction `v`, the analytic directional derivative `∇J(θ)·v` is computed once and compared
//! with the method's difference quotient of `t ↦ J(θ + t·v)` for each step `h` of a
//! (log-spaced) range. Plotted on log-log axes the error draws a "V": truncation error falling
//! like `hᵖ` for large steps, roundoff rising like `1/h` for small ones, and a best step in
//! between (near `ε_mach^(1/3)` for central differences). Nothing here decides pass or fail, and
//! nothing knows what the model is.

use std::fmt;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::base::finite_cost;
use crate::difference::quotient;
use crate::error::{Error, Result};
use crate::layout::Tensors;
use crate::method::Method;
use crate::problem::Problem;
use crate::rng::SplitMix64;

/// The smallest step of the default range.
pub const SWEEP_FROM: f64 = 1e-16;
/// The largest step of the default range.
pub const SWEEP_TO: f64 = 1e-1;
/// Steps in the default range: four per decade, both ends included.
pub const SWEEP_POINTS: usize = 61;

/// `points` steps spaced evenly in `log₁₀ h` from `from` to `to`, both included.
///
/// `from` and `to` must be finite and positive with `from < to`, and `points ≥ 2`.
///
/// ```
/// let steps = gradproof::sweep::log_steps(1e-3, 1e-1, 3)?;
/// assert_eq!(steps.len(), 3);
/// assert!((steps[1] - 1e-2).abs() < 1e-17);
/// assert!(gradproof::sweep::log_steps(1e-1, 1e-3, 3).is_err());
/// # Ok::<(), gradproof::Error>(())
/// ```
pub fn log_steps(from: f64, to: f64, points: usize) -> Result<Vec<f64>> {
    positive_step("smallest sweep step", from)?;
    positive_step("largest sweep step", to)?;
    if to <= from {
        return Err(Error::InvalidSetting {
            name: "largest sweep step",
            expected: "greater than the smallest step",
            value: to,
        });
    }
    if points < 2 {
        return Err(Error::InvalidSetting {
            name: "number of sweep steps",
            expected: "at least 2",
            value: points as f64,
        });
    }
    Ok(spaced(from, to, points))
}

/// The default range: [`SWEEP_POINTS`] steps from [`SWEEP_FROM`] to [`SWEEP_TO`].
///
/// ```
/// let steps = gradproof::sweep::default_steps();
/// assert_eq!((steps.len(), steps[0], steps[60]), (61, 1e-16, 1e-1));
/// ```
pub fn default_steps() -> Vec<f64> {
    spaced(SWEEP_FROM, SWEEP_TO, SWEEP_POINTS)
}

/// `points ≥ 2` steps log-spaced from `from` to `to` (unchecked), the ends exact.
fn spaced(from: f64, to: f64, points: usize) -> Vec<f64> {
    let (lo, hi) = (from.log10(), to.log10());
    let last = (points - 1) as f64;
    (0..points)
        .map(|k| match k {
            0 => from,
            k if k == points - 1 => to,
            k => 10f64.powf(lo + (hi - lo) * k as f64 / last),
        })
        .collect()
}

/// One step of a sweep.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepPoint {
    /// The step `h` along the unit direction.
    pub h: f64,
    /// The method's directional derivative at step `h`.
    pub numeric: f64,
    /// `|numeric − analytic|`.
    pub abs_error: f64,
    /// The notebook's relative difference `|numeric − analytic| / (|numeric| + |analytic|)`,
    /// in `[0, 1]` (0 when both are 0).
    pub rel_error: f64,
}

/// The error of a finite-difference method as a function of its step, along one direction.
///
/// ```
/// use gradproof::{FnProblem, Layout, Method, TensorSpec, Tensors};
/// use gradproof::sweep::{default_steps, step_sweep};
/// // J(θ) = θ³ at θ = 1: the central difference is off by exactly h².
/// let layout = Layout::new([TensorSpec::new("theta", [])])?;
/// let l = layout.clone();
/// let problem = FnProblem::new(
///     layout,
///     |t| Ok(t[0].powi(3)),
///     move |t| Tensors::new(l.clone(), vec![3.0 * t[0] * t[0]]),
/// );
/// let sweep = step_sweep(&problem, &[1.0], Method::Central, &default_steps(), 7)?;
/// assert_eq!(sweep.points.len(), 61);
/// assert!((sweep.analytic.abs() - 3.0).abs() < 1e-15);
/// let last = sweep.points[60]; // h = 0.1
/// assert!((last.abs_error - 1e-2).abs() < 1e-12);
/// assert!(sweep.best.h > 1e-7 && sweep.best.h < 1e-4, "{sweep}");
/// # Ok::<(), gradproof::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sweep {
    /// The finite-difference method swept.
    pub method: Method,
    /// The seed of the direction.
    pub seed: u64,
    /// `J(θ)`.
    pub cost: f64,
    /// The unit direction `v`, laid out like the parameters.
    pub direction: Vec<f64>,
    /// The analytic directional derivative `∇J(θ)·v`.
    pub analytic: f64,
    /// One point per step, in the order the steps were given.
    pub points: Vec<SweepPoint>,
    /// The point with the smallest absolute error (the first of equals).
    pub best: SweepPoint,
}

impl Sweep {
    /// The least-squares slope of `log₁₀ abs_error` against `log₁₀ h` over the points with
    /// `lo ≤ h ≤ hi` and a positive error: about the method's order on the truncation side and
    /// about −1 on the roundoff side. `None` with fewer than two such points.
    pub fn slope(&self, lo: f64, hi: f64) -> Option<f64> {
        let xy: Vec<(f64, f64)> = self
            .points
            .iter()
            .filter(|p| p.h >= lo && p.h <= hi && p.abs_error > 0.0)
            .map(|p| (p.h.log10(), p.abs_error.log10()))
            .collect();
        if xy.len() < 2 {
            return None;
        }
        let n = xy.len() as f64;
        let mx = xy.iter().map(|p| p.0).sum::<f64>() / n;
        let my = xy.iter().map(|p| p.1).sum::<f64>() / n;
        let sxy: f64 = xy.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
        let sxx: f64 = xy.iter().map(|p| (p.0 - mx) * (p.0 - mx)).sum();
        (sxx > 0.0).then(|| sxy / sxx)
    }
}

impl fmt::Display for Sweep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} differences along a random unit direction (seed {}): ∇J·v = {:e}",
            self.method, self.seed, self.analytic
        )?;
        writeln!(
            f,
            "{:>10}  {:>23}  {:>10}  {:>10}",
            "h", "numeric", "abs error", "rel error"
        )?;
        for p in &self.points {
            let mark = if p == &self.best { "  <- best" } else { "" };
            writeln!(
                f,
                "{:>10.2e}  {:>23.16e}  {:>10.3e}  {:>10.3e}{mark}",
                p.h, p.numeric, p.abs_error, p.rel_error
            )?;
        }
        Ok(())
    }
}

/// Sweeps the step of `method` along a random unit direction drawn from `seed` (weights
/// `±U(0.5, 1.5)`, normalised; a private generator, so no other random state is touched).
///
/// Fails if `theta` does not fit the problem's layout or is not finite, if a step is not finite
/// and positive (or there are none), if the gradient is not finite or does not match the layout,
/// or if the cost is not finite at `θ` or at any point the stencils visit (the error names the
/// step and the offset).
/// ([`Error::Unsupported`]).
pub fn step_sweep<P: Problem + ?Sized>(
    problem: &P,
    theta: &[f64],
    method: Method,
    steps: &[f64],
    seed: u64,
) -> Result<Sweep> {
    let layout = problem.layout();
    Tensors::new(layout.clone(), theta.to_vec())?.expect_finite("parameter")?;
    if steps.is_empty() {
        return Err(Error::InvalidSetting {
            name: "number of sweep steps",
            expected: "at least 1",
            value: 0.0,
        });
    }
    for &h in steps {
        positive_step("sweep step", h)?;
    }
    let gradient = problem.gradient(theta)?;
    layout.expect_same(gradient.layout())?;
    gradient.expect_finite("gradient")?;
    let cost = finite_cost(problem.cost(theta)?, || {
        "at the unperturbed parameters".to_string()
    })?;

    let direction = unit_direction(layout.len(), seed);
    let analytic: f64 = gradient
        .values()
        .iter()
        .zip(&direction)
        .map(|(g, v)| g * v)
        .sum();

    let stencil = method.stencil();
    let points = steps
        .par_iter()
        .map(|&h| {
            let mut point = theta.to_vec();
            let mut sum = 0.0;
            for &(offset, weight) in stencil {
                let value = if offset == 0.0 {
                    cost
                } else {
                    for ((p, &t), &v) in point.iter_mut().zip(theta).zip(&direction) {
                        *p = t + offset * h * v;
                    }
                    finite_cost(problem.cost(&point)?, || {
                        let sign = if offset > 0.0 { "+" } else { "−" };
                        format!(
                            "at θ {sign} {}·h·v along the sweep direction (h = {h:e})",
                            offset.abs()
                        )
                    })?
                };
                sum += weight * value;
            }
            let numeric = sum / h;
            let abs_error = (numeric - analytic).abs();
            Ok(SweepPoint {
                h,
                numeric,
                abs_error,
                rel_error: quotient(abs_error, numeric.abs() + analytic.abs()),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let best = points
        .iter()
        .copied()
        .reduce(|best, p| {
            if p.abs_error < best.abs_error {
                p
            } else {
                best
            }
        })
        .expect("steps is not empty");
    Ok(Sweep {
        method,
        seed,
        cost,
        direction,
        analytic,
        points,
        best,
    })
}

/// A unit vector of `n` weights `±U(0.5, 1.5)` from the private generator.
fn unit_direction(n: usize, seed: u64) -> Vec<f64> {
    let mut rng = SplitMix64::new(seed, 0x5EE9);
    let mut v: Vec<f64> = (0..n).map(|_| rng.sign() * (0.5 + rng.unit())).collect();
    let norm = crate::difference::norm2(&v);
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

/// Fails unless `h` is finite and positive.
fn positive_step(name: &'static str, h: f64) -> Result<()> {
    if h.is_finite() && h > 0.0 {
        Ok(())
    } else {
        Err(Error::InvalidSetting {
            name,
            expected: "finite and > 0",
            value: h,
        })
    }
}
