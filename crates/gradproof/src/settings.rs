//! The checker's settings: the [`Checker`] builder with its fields and defaults, the constants the
//! verdicts are tuned with, and the validation that runs once when a check starts. Every setter
//! is infallible; a bad value is reported by the check that would use it. Knows nothing of how a
//! check runs.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::layout::Layout;
use crate::method::{Method, Reference};
use crate::mode::Mode;
use crate::precision::Precision;
use crate::progress::OnProgress;
use crate::rng::SplitMix64;
use crate::step_rule::StepRule;

/// The notebook's step, `epsilon = 1e-7`.
pub const NOTEBOOK_EPSILON: f64 = 1e-7;
/// The notebook's threshold on the relative difference, `1e-7`.
pub const NOTEBOOK_THRESHOLD: f64 = 1e-7;

/// How far above the estimated roundoff of the difference quotient a tensor's error may be before
/// it is called wrong. The roundoff estimate rests on a measured noise level that varies by up to
/// ~4× with the direction it is measured along (seen on the notebook's network), and the largest
/// of n errors sits a few standard deviations out; 8 covers both. A real bug moves the relative
/// difference by orders of magnitude more (the notebook's are 0.33 and 0.6).
pub const NOISE_SAFETY_FACTOR: f64 = 8.0;

/// The largest detection floor (the smallest relative gradient error a check can catch, see
/// [`Report::detection_floor`](crate::Report::detection_floor)) at which a check may pass: one that
/// cannot see a gradient off by 1% decides nothing, and says so ([`Verdict::Inconclusive`](crate::Verdict)).
/// The default `gradproof check` has a floor of 9e-10 (6e-8 at the notebook's ε = 1e-7, 4.3e-6
/// on the notebook's own network); steps of 1e-13 and below leave floors of 5e-2 and up.
pub const MAX_DETECTION_FLOOR: f64 = 1e-2;

/// How far the extra points of [`Checker::points`] move each coordinate: uniformly up to this
/// fraction of the coordinate's scale (the larger of its magnitude and its tensor's RMS, or 1
/// for a tensor of zeros). Far enough to flip some ReLU masks and branches of a network, near
/// enough to stay in the region the user meant.
pub const POINT_SPREAD: f64 = 0.1;

/// Elements listed per tensor in [`TensorReport::top`](crate::TensorReport::top).
pub const TOP_K: usize = 5;

/// The rounding allowance of an exact check, in units of `ε_mach` times a scale of the terms.
///
/// The dual pass and the hand-written backward pass compute the same partial derivative as sums
/// of the same products, in different orders and with differently rounded factors (e.g.
/// `σ(z) − y` against the derivative of `log(1 + e^(−|z|))`). Each side's error is then at most
/// a few ulps of the *terms* of those sums, not of the result (a coordinate whose per-example
/// terms cancel to almost nothing is still off by ulps of the terms). The terms are not seen from
/// outside, so their scale is taken as the largest partial derivative of the whole gradient:
/// coordinate `i` of the oracle gets the bound
///
/// `bᵢ = DUAL_ROUNDING_ULPS · ε_mach · (|dᵢ| + ‖d‖_∞)`,
///
/// and, as for finite differences, agrees when `|gᵢ − dᵢ| ≤ NOISE_SAFETY_FACTOR · bᵢ` (128 ulps
/// of the scale in all, ≈ 2.8e-14 of it). A directional probe of a group `G` along weights `v`
/// gets `DUAL_ROUNDING_ULPS · ε_mach · (Σ_G |gᵢvᵢ| + |∇J·v| + ‖g‖_∞ · max_G |vᵢ|)`.
/// Over 200 random networks (every activation, kinks, saturated sigmoids, L2, class weights,
/// dropout, up to 64 examples) the largest error seen is 0.32 `bᵢ` (1/25 of the allowance) and
/// the largest per-tensor relative difference 9.2e-15, while the smallest bug of the meta-test
/// catalogue (one element off by 1e-4 of itself) sits ten orders of magnitude above. A
/// coordinate smaller than the allowance itself (below ~3e-14 of the largest partial) agrees but
/// is counted *unresolved*: 28 of 93,291 coordinates there. A user's [`Checker::tolerance`]
/// replaces the allowance.
pub const DUAL_ROUNDING_ULPS: f64 = 16.0;

/// An allclose-style tolerance set by the user (see [`Checker::tolerance`]).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tolerance {
    /// Relative tolerance.
    pub rtol: f64,
    /// Absolute tolerance.
    pub atol: f64,
}

/// Compares a hand-written gradient with centered finite differences.
///
/// The defaults: central differences with the scaled step rule (the CLI's default), the
/// notebook's threshold `1e-7` for the seed-style verdict shown in every report. The verdict that
/// decides [`Report::passed`](crate::Report::passed) is per tensor and noise-aware:
///
/// * the cost's rounding noise `σ` is measured (ECnoise, see
///   [`estimate_noise`](crate::noise::estimate_noise));
/// * coordinate `i` of the numeric gradient then carries a roundoff error of about
///   `bᵢ = (σ + |ĝᵢ|·u·(|θᵢ| + ε)) / ε` (the noise of `J(θ±εeᵢ)` divided by the step, plus the
///   error of `θᵢ ± ε` itself, `u` = machine epsilon);
/// * tensor `t` is correct when its relative difference is at most
///   `NOISE_SAFETY_FACTOR · ‖b_t‖ / (‖g_t‖ + ‖ĝ_t‖)` — the relative difference that roundoff
///   alone can produce.
///
/// To that roundoff bound the checker adds each coordinate's estimated truncation error
/// (see [`StepRule`]), so a large step or a low-order method does not raise false alarms.
///
/// Every setter returns the checker; the settings are validated when a check runs.
///
/// ```
/// use gradproof::{Checker, Method};
/// // J(a, b) = a²·b, with a deliberately wrong ∂J/∂b.
/// let cost = |t: &[f64]| t[0] * t[0] * t[1];
/// let grad = |t: &[f64]| vec![2.0 * t[0] * t[1], 2.0 * t[0] * t[0]];
/// let report = Checker::new()
///     .method(Method::Central4)
///     .epsilon(1e-4)
///     .check_fn(cost, grad, &[1.5, -0.5])?;
/// assert!(!report.passed());
/// assert_eq!(report.failing(), ["dtheta"]);
/// # Ok::<(), gradproof::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Checker {
    /// The finite-difference method (not used when `exact`).
    pub(crate) method: Method,
    /// Checks against the problem's exact directional derivatives instead of differences.
    pub(crate) exact: bool,
    pub(crate) step: StepRule,
    pub(crate) threshold: f64,
    pub(crate) mode: Mode,
    pub(crate) seed: u64,
    pub(crate) tolerance: Option<Tolerance>,
    pub(crate) incremental: bool,
    /// The cost's precision, when the user knows it (else recognised by the noise probe).
    pub(crate) precision: Option<Precision>,
    /// How many points are checked: θ, then `points − 1` random points near it.
    pub(crate) points: usize,
    /// Told how far the coordinates have come.
    pub(crate) progress: OnProgress,
}

impl Default for Checker {
    fn default() -> Self {
        Checker::new()
    }
}

impl Checker {
    /// A checker with the default settings: central differences, [`StepRule::Scaled`]`(1.0)`,
    /// exhaustive, the notebook's threshold `1e-7`.
    pub fn new() -> Self {
        Checker {
            incremental: true,
            method: Method::Central,
            exact: false,
            step: StepRule::Scaled(1.0),
            threshold: NOTEBOOK_THRESHOLD,
            mode: Mode::Exhaustive,
            seed: 0,
            tolerance: None,
            precision: None,
            points: 1,
            progress: OnProgress::default(),
        }
    }

    /// Declares the precision the cost is computed in (e.g. [`Precision::F32`] for a cost
    /// computed in `f32` and returned as `f64`). The cost's noise is then floored at that
    /// precision's rounding and the scaled and adaptive steps are sized for it. Without it, the
    /// noise probe recognises the precision from the values the cost returns.
    pub fn precision(mut self, precision: Precision) -> Self {
        self.precision = Some(precision);
        self
    }

    /// Checks at `n` points: θ, then `n − 1` random points near it, each coordinate moved by up
    /// to [`POINT_SPREAD`] of its scale (reproducibly from the [`Checker::seed`]). A gradient
    /// wrong only in some regime (a mask, a branch, a clamp) may be right at θ and wrong nearby.
    /// The report is the first failing point's ([`Report::point`](crate::Report::point) names
    /// it), else the first inconclusive one's, else θ's; it counts the evaluations of all. `n`
    /// must be at least 1 (the default); more than 1 needs the problem's own gradient
    /// ([`Checker::check`]), since a gradient handed over is known at θ only.
    ///
    /// ```
    /// use gradproof::Checker;
    /// // J = Σ relu(θ)², whose gradient 2·relu(θ) is written wrong for θ > 1 only.
    /// let cost = |t: &[f64]| t.iter().map(|x| x.max(0.0).powi(2)).sum::<f64>();
    /// let grad = |t: &[f64]| {
    ///     t.iter().map(|&x| if x > 1.0 { 3.0 * x } else { 2.0 * x.max(0.0) }).collect::<Vec<_>>()
    /// };
    /// let theta = [0.95, -0.3, 0.5];
    /// assert!(Checker::new().check_fn(cost, grad, &theta)?.passed());
    /// let report = Checker::new().points(8).check_fn(cost, grad, &theta)?;
    /// assert!(!report.passed() && report.point > 0, "{report}");
    /// # Ok::<(), gradproof::Error>(())
    /// ```
    pub fn points(mut self, n: usize) -> Self {
        self.points = n;
        self
    }

    /// Calls `callback(done, total)` as the coordinates of a check are differenced (about a
    /// thousand times in all, and at the end), from the engine's worker threads: for a progress
    /// bar on a long check. It must be cheap and must not panic; it does not change any number.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let log = Arc::clone(&seen);
    /// let report = gradproof::Checker::new()
    ///     .on_progress(move |done, total| log.lock().unwrap().push((done, total)))
    ///     .check_fn(|t| t.iter().map(|x| x * x).sum(), |t| t.iter().map(|x| 2.0 * x).collect(), &[1.0, 2.0, 3.0])?;
    /// assert!(report.passed());
    /// assert_eq!(seen.lock().unwrap().last(), Some(&(3, 3)));
    /// # Ok::<(), gradproof::Error>(())
    /// ```
    pub fn on_progress(mut self, callback: impl Fn(usize, usize) + Send + Sync + 'static) -> Self {
        self.progress = OnProgress::new(callback);
        self
    }

    /// Sets a fixed step ε (the notebook's rule); it must be finite and > 0.
    pub fn epsilon(self, epsilon: f64) -> Self {
        self.step_rule(StepRule::Fixed(epsilon))
    }

    /// Sets the step rule; its number must be finite and > 0.
    pub fn step_rule(mut self, step: StepRule) -> Self {
        self.step = step;
        self
    }

    /// Sets the mode (exhaustive, sampled, directional); counts must be ≥ 1.
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// Judges coordinates allclose-style instead of by their error bound: coordinate `i` agrees
    /// when `|gᵢ − ĝᵢ| ≤ atol + rtol·|ĝᵢ|`, and a tensor passes when all its coordinates agree.
    /// Both must be finite and ≥ 0, not both 0. (The directional mode always judges by error
    /// bounds: a directional derivative has no per-element value to hold a tolerance against.)
    pub fn tolerance(mut self, rtol: f64, atol: f64) -> Self {
        self.tolerance = Some(Tolerance { rtol, atol });
        self
    }

    /// Seeds the private random generator of the sampled and directional modes.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Checks against finite differences by `method`.
    pub fn method(self, method: Method) -> Self {
        self.reference(Reference::Differences(method))
    }

    /// Checks against the problem's exact directional derivatives, in dual numbers
    /// ([`Reference::Dual`]): no step, so the step rule is not used.
    pub fn dual(self) -> Self {
        self.reference(Reference::Dual)
    }

    /// Sets what the gradient is checked against: finite differences by a method, or dual
    /// numbers.
    pub fn reference(mut self, reference: Reference) -> Self {
        match reference {
            Reference::Differences(method) => {
                self.method = method;
                self.exact = false;
            }
            Reference::Dual => self.exact = true,
        }
        self
    }

    /// What the gradient is checked against.
    pub fn checked_against(&self) -> Reference {
        if self.exact {
            Reference::Dual
        } else {
            Reference::Differences(self.method)
        }
    }

    /// Sets the seed-style threshold on the relative difference; it must be finite and > 0.
    pub fn threshold(mut self, threshold: f64) -> Self {
        self.threshold = threshold;
        self
    }

    /// Whether coordinate checks may use the problem's fast path for `J(θ ± h·eₖ)`
    /// ([`Problem::coordinate_costs`](crate::Problem::coordinate_costs)) when it has one (the
    /// default), or must recompute the whole cost every time (for comparisons and benchmarks).
    pub fn incremental(mut self, incremental: bool) -> Self {
        self.incremental = incremental;
        self
    }

    /// The nominal step: the fixed ε, or for the other rules the step at `|θᵢ| ≤ 1`.
    pub fn step(&self) -> f64 {
        self.step.step(self.method, 0.0)
    }

    /// The seed-style threshold on the relative difference.
    pub fn notebook_threshold(&self) -> f64 {
        self.threshold
    }

    /// Fails with [`Error::InvalidSetting`] naming the first setting out of range. Every check
    /// calls it once before it evaluates anything.
    pub fn validate(&self) -> Result<()> {
        self.step.validated()?;
        if matches!(
            self.mode,
            Mode::Sampled { per_tensor: 0 } | Mode::Directional { top: 0 }
        ) {
            return Err(Error::InvalidSetting {
                name: "mode count",
                expected: "at least 1",
                value: 0.0,
            });
        }
        if self.points == 0 {
            return Err(Error::InvalidSetting {
                name: "points",
                expected: "at least 1",
                value: 0.0,
            });
        }
        if !(self.threshold.is_finite() && self.threshold > 0.0) {
            return Err(Error::InvalidSetting {
                name: "threshold",
                expected: "finite and > 0",
                value: self.threshold,
            });
        }
        if let Some(Tolerance { rtol, atol }) = self.tolerance {
            for (name, value) in [("rtol", rtol), ("atol", atol)] {
                if !(value.is_finite() && value >= 0.0) {
                    return Err(Error::InvalidSetting {
                        name,
                        expected: "finite and >= 0",
                        value,
                    });
                }
            }
            if rtol == 0.0 && atol == 0.0 {
                return Err(Error::InvalidSetting {
                    name: "rtol + atol",
                    expected: "> 0 (one of them at least)",
                    value: 0.0,
                });
            }
        }
        Ok(())
    }

    /// The coordinates the mode checks, in layout order.
    pub(crate) fn coordinates(&self, layout: &Layout) -> Vec<usize> {
        match self.mode {
            Mode::Sampled { per_tensor } => (0..layout.tensors().len())
                .flat_map(|k| {
                    let range = layout.range(k);
                    SplitMix64::new(self.seed, k as u64)
                        .sample(range.len(), per_tensor)
                        .into_iter()
                        .map(move |i| range.start + i)
                })
                .collect(),
            Mode::Exhaustive | Mode::Directional { .. } => (0..layout.len()).collect(),
        }
    }
}
