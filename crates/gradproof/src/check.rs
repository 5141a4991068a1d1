//! Exhaustive centered finite differences and the verdicts drawn from them.
//!
//! For every coordinate `i`, `ĝᵢ = (J(θ + εeᵢ) − J(θ − εeᵢ)) / 2ε`, evaluated in parallel with
//! rayon (each coordinate is independent, so the numbers do not depend on the thread count).
//! The notebook's relative difference is reported overall and per tensor, and each tensor is
//! judged against a threshold derived from the floating-point error of the difference quotient
//! at the ε in use (see [`Checker`]), not against a bare magic number. Knows nothing of neural
//! networks.

use std::time::Instant;

use rayon::prelude::*;

use crate::difference::{norm2, quotient, relative_difference};
use crate::error::{Error, Result};
use crate::layout::Tensors;
use crate::noise::estimate_noise;
use crate::problem::Problem;
use crate::report::{Report, TensorReport, Worst};

/// The notebook's step, `epsilon = 1e-7`.
pub const SEED_EPSILON: f64 = 1e-7;
/// The notebook's threshold on the relative difference, `1e-7`.
pub const SEED_THRESHOLD: f64 = 1e-7;

/// How far above the estimated roundoff of the difference quotient a tensor's error may be before
/// it is called wrong. The roundoff estimate rests on a measured noise level that varies by up to
/// ~4× with the direction it is measured along (seen on the notebook's network), and the largest
/// of n errors sits a few standard deviations out; 8 covers both. A real bug moves the relative
/// difference by orders of magnitude more (the notebook's are 0.33 and 0.6).
pub const NOISE_SAFETY_FACTOR: f64 = 8.0;

/// Compares a hand-written gradient with centered finite differences.
///
/// The defaults are the notebook's: `ε = 1e-7`, relative-difference threshold `1e-7`. The
/// threshold gives the *seed's verdict*, shown in every report; the verdict that decides
/// [`Report::passed`] is per tensor and noise-aware:
///
/// * the cost's rounding noise `σ` is measured (ECnoise, see [`estimate_noise`]);
/// * coordinate `i` of the numeric gradient then carries a roundoff error of about
///   `bᵢ = (σ + |ĝᵢ|·u·(|θᵢ| + ε)) / ε` (the noise of `J(θ±εeᵢ)` divided by the step, plus the
///   error of `θᵢ ± ε` itself, `u` = machine epsilon);
/// * tensor `t` is correct when its relative difference is at most
///   `NOISE_SAFETY_FACTOR · ‖b_t‖ / (‖g_t‖ + ‖ĝ_t‖)` — the relative difference that roundoff
///   alone can produce.
///
/// Truncation error (`ε²/6 · J‴`) is not in the bound: at the notebook's ε it is ~1e-15 and
/// negligible; a large ε is the user's call.
///
/// ```
/// use gradproof::{Checker, FnProblem, Layout, TensorSpec, Tensors};
/// // J(a, b) = a²·b, with a deliberately wrong ∂J/∂b.
/// let layout = Layout::new([TensorSpec::new("a", []), TensorSpec::new("b", [])])?;
/// let l = layout.clone();
/// let problem = FnProblem::new(
///     layout,
///     |t| Ok(t[0] * t[0] * t[1]),
///     move |t| Tensors::new(l.clone(), vec![2.0 * t[0] * t[1], 2.0 * t[0] * t[0]]),
/// );
/// let report = Checker::new().check(&problem, &[1.5, -0.5])?;
/// assert!(!report.passed());
/// assert_eq!(report.failing(), ["db"]);
/// # Ok::<(), gradproof::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Checker {
    epsilon: f64,
    threshold: f64,
}

impl Default for Checker {
    fn default() -> Self {
        Checker::new()
    }
}

impl Checker {
    /// A checker with the notebook's settings (`ε = 1e-7`, threshold `1e-7`).
    pub fn new() -> Self {
        Checker {
            epsilon: SEED_EPSILON,
            threshold: SEED_THRESHOLD,
        }
    }

    /// Sets the step ε; it must be finite and > 0.
    pub fn epsilon(mut self, epsilon: f64) -> Result<Self> {
        if !(epsilon.is_finite() && epsilon > 0.0) {
            return Err(Error::InvalidSetting {
                name: "epsilon",
                expected: "finite and > 0",
                value: epsilon,
            });
        }
        self.epsilon = epsilon;
        Ok(self)
    }

    /// Sets the seed-style threshold on the relative difference; it must be finite and > 0.
    pub fn threshold(mut self, threshold: f64) -> Result<Self> {
        if !(threshold.is_finite() && threshold > 0.0) {
            return Err(Error::InvalidSetting {
                name: "threshold",
                expected: "finite and > 0",
                value: threshold,
            });
        }
        self.threshold = threshold;
        Ok(self)
    }

    /// The step ε.
    pub fn step(&self) -> f64 {
        self.epsilon
    }

    /// The seed-style threshold on the relative difference.
    pub fn seed_threshold(&self) -> f64 {
        self.threshold
    }

    /// Checks the problem's own gradient at `theta`.
    pub fn check<P: Problem + ?Sized>(&self, problem: &P, theta: &[f64]) -> Result<Report> {
        problem.layout().expect_len("parameters θ", theta.len())?;
        let analytic = problem.gradient(theta)?;
        self.check_gradient(problem, theta, &analytic)
    }

    /// Checks a given `analytic` gradient (e.g. from another backward pass) against the
    /// problem's cost at `theta`.
    pub fn check_gradient<P: Problem + ?Sized>(
        &self,
        problem: &P,
        theta: &[f64],
        analytic: &Tensors,
    ) -> Result<Report> {
        let start = Instant::now();
        let layout = problem.layout();
        layout.expect_len("parameters θ", theta.len())?;
        if let Some(i) = theta.iter().position(|v| !v.is_finite()) {
            return Err(Error::NonFinite {
                what: format!("parameter {}", layout.locate(i)?),
                value: theta[i],
                location: "in the parameters given to the checker".to_string(),
            });
        }
        layout.expect_same(analytic.layout())?;
        analytic.expect_finite("gradient")?;

        let eps = self.epsilon;
        let cost = finite_cost(problem.cost(theta)?, || {
            "at the unperturbed parameters".to_string()
        })?;
        let numeric = self.numeric_gradient(problem, theta)?;
        let noise = estimate_noise(
            |point| {
                finite_cost(problem.cost(point)?, || {
                    "near the parameters (while measuring its noise)".to_string()
                })
            },
            theta,
            cost,
        )?;

        let g = analytic.values();
        let bound: Vec<f64> = numeric
            .iter()
            .zip(theta)
            .map(|(n, t)| (noise.sigma + n.abs() * f64::EPSILON * (t.abs() + eps)) / eps)
            .collect();
        let noise_threshold = |range: std::ops::Range<usize>| {
            let denominator = norm2(&g[range.clone()]) + norm2(&numeric[range.clone()]);
            quotient(NOISE_SAFETY_FACTOR * norm2(&bound[range]), denominator)
        };

        let tensors = layout
            .tensors()
            .iter()
            .enumerate()
            .map(|(k, spec)| {
                let range = layout.range(k);
                let (a, n) = (&g[range.clone()], &numeric[range.clone()]);
                let difference = relative_difference(a, n);
                let threshold = noise_threshold(range.clone());
                let worst = (0..a.len())
                    .max_by(|&i, &j| (a[i] - n[i]).abs().total_cmp(&(a[j] - n[j]).abs()))
                    .map(|i| Worst {
                        index: layout
                            .locate(range.start + i)
                            .expect("inside the layout")
                            .index,
                        analytic: a[i],
                        numeric: n[i],
                        bound: bound[range.start + i],
                    });
                TensorReport {
                    name: spec.name.clone(),
                    gradient: format!("d{}", spec.name),
                    shape: spec.shape.clone(),
                    difference,
                    threshold,
                    max_abs_error: worst
                        .as_ref()
                        .map_or(0.0, |w| (w.analytic - w.numeric).abs()),
                    passed: difference <= threshold,
                    worst,
                }
            })
            .collect();

        Ok(Report {
            method: "central".to_string(),
            epsilon: eps,
            parameters: layout.len(),
            cost,
            noise: noise.sigma,
            noise_status: noise.status,
            difference: relative_difference(g, &numeric),
            noise_threshold: noise_threshold(0..layout.len()),
            seed_threshold: self.threshold,
            tensors,
            evaluations: 1 + 2 * layout.len() + noise.evaluations,
            seconds: start.elapsed().as_secs_f64(),
        })
    }

    /// `(J(θ + εeᵢ) − J(θ − εeᵢ)) / 2ε` for every coordinate, in parallel. The first failing
    /// coordinate (in layout order, whatever the thread count) is the one reported.
    pub fn numeric_gradient<P: Problem + ?Sized>(
        &self,
        problem: &P,
        theta: &[f64],
    ) -> Result<Vec<f64>> {
        let layout = problem.layout();
        layout.expect_len("parameters θ", theta.len())?;
        let eps = self.epsilon;
        let results: Vec<Result<f64>> = (0..theta.len())
            .into_par_iter()
            .map_init(
                || theta.to_vec(),
                |point, i| {
                    let at = |sign: &str| {
                        let loc = layout.locate(i).map(|l| l.to_string()).unwrap_or_default();
                        format!("at {loc} {sign} ε (ε = {eps:e})")
                    };
                    let original = point[i];
                    point[i] = original + eps;
                    let plus = problem.cost(point);
                    point[i] = original - eps;
                    let minus = problem.cost(point);
                    point[i] = original;
                    let plus = finite_cost(plus?, || at("+"))?;
                    let minus = finite_cost(minus?, || at("−"))?;
                    Ok((plus - minus) / (2.0 * eps))
                },
            )
            .collect();
        results.into_iter().collect()
    }
}

/// Passes a finite cost through; NaN or ±inf becomes [`Error::NonFinite`] saying where.
fn finite_cost(value: f64, location: impl FnOnce() -> String) -> Result<f64> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(Error::NonFinite {
            what: "cost".to_string(),
            value,
            location: location(),
        })
    }
}
