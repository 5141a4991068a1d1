//! Finite-difference methods and step rules as values. A [`Method`] is a stencil — the offsets
//! (in steps) where `J` is evaluated and the weights that combine those values into a first
//! derivative — plus, for Richardson extrapolation, a second stencil that estimates its own
//! error. A step rule (`StepRule`, its own module) says how large the step is for each
//! coordinate. Both print, compare and serialise; neither knows what `J` is. Whatever the rule,
//! the checker estimates the truncation error of every coordinate (Richardson's own estimate, or
//! the same method repeated at `2h`: `|D(2h) − D(h)| / (2ᵖ − 1)`) and adds it to the roundoff
//! bound.

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A finite-difference formula for a first derivative.
///
/// ```
/// use gradproof::Method;
/// // (J(θ+h) − J(θ−h)) / 2h on J = sin at θ = 1
/// let d = Method::Central.apply(|x| x.sin(), 1.0, 1e-5);
/// assert!((d.value - 1f64.cos()).abs() < 1e-10);
/// // Richardson: an estimate and an error estimate
/// let r = Method::Richardson.apply(|x| x.sin(), 1.0, 1e-2);
/// assert!((r.value - 1f64.cos()).abs() < 1e-11);
/// assert!(r.error.unwrap() < 1e-9);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// `(J(θ+h) − J(θ)) / h`: first order, one evaluation per coordinate.
    Forward,
    /// `(J(θ+h) − J(θ−h)) / 2h`: second order, the notebook's formula.
    #[default]
    Central,
    /// `(−J(θ+2h) + 8J(θ+h) − 8J(θ−h) + J(θ−2h)) / 12h`: fourth order.
    Central4,
    /// Central differences at `h`, `h/2`, `h/4` extrapolated (Richardson) to sixth order, with
    /// the difference between the last two extrapolations as an error estimate.
    Richardson,
}

/// What a hand-written gradient is checked against: finite differences of the cost by a
/// [`Method`], or no finite difference at all.
///
/// ```
/// use gradproof::{Method, Reference};
/// assert_eq!("dual".parse::<Reference>()?, Reference::Dual);
/// assert_eq!("central4".parse::<Reference>()?, Reference::Differences(Method::Central4));
/// assert_eq!(Reference::Dual.to_string(), "dual");
/// # Ok::<(), gradproof::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Reference {
    /// Finite differences of the cost, by this method.
    Differences(Method),
    /// The exact directional derivative `∇J(θ)·v` that the problem computes itself, in one
    /// forward pass in dual numbers (see
    /// [`Problem::directional_derivative`](crate::Problem::directional_derivative)). Exact up to
    /// the rounding of that pass: no step, no truncation, no noise amplification, no kinks; the
    /// `StepRule` is not used.
    Dual,
}

impl Default for Reference {
    fn default() -> Self {
        Reference::Differences(Method::default())
    }
}

impl Reference {
    /// The name, as `--method` takes it (`central`, …, `dual`).
    pub fn name(self) -> &'static str {
        match self {
            Reference::Differences(method) => method.name(),
            Reference::Dual => "dual",
        }
    }

    /// True for [`Reference::Dual`]: the derivative comes from the problem itself, exactly.
    pub fn is_exact(self) -> bool {
        self == Reference::Dual
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Reference {
    type Err = Error;

    /// A method's name, or `dual`.
    fn from_str(text: &str) -> Result<Self> {
        if text.trim() == "dual" {
            return Ok(Reference::Dual);
        }
        text.parse()
            .map(Reference::Differences)
            .map_err(|_| Error::InvalidChoice {
                name: "method",
                value: text.to_string(),
                expected: "forward, central, central4, richardson or dual",
            })
    }
}

impl From<Reference> for String {
    fn from(reference: Reference) -> String {
        reference.name().to_string()
    }
}

impl TryFrom<String> for Reference {
    type Error = Error;

    fn try_from(text: String) -> Result<Self> {
        text.parse()
    }
}

/// One derivative estimate from [`Method::apply`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Estimate {
    /// The derivative.
    pub value: f64,
    /// The method's own estimate of its truncation error (Richardson only).
    pub error: Option<f64>,
}

/// `(offset in steps, weight)`: the derivative is `Σ weight · J(θ + offset·h) / h`.
type Stencil = Vec<(f64, f64)>;

impl Method {
    /// Every method, in order of accuracy.
    pub const ALL: [Method; 4] = [
        Method::Forward,
        Method::Central,
        Method::Central4,
        Method::Richardson,
    ];

    /// Order of the truncation error in `h`.
    pub fn order(self) -> i32 {
        match self {
            Method::Forward => 1,
            Method::Central => 2,
            Method::Central4 => 4,
            Method::Richardson => 6,
        }
    }

    /// The method's name, as `--method` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Method::Forward => "forward",
            Method::Central => "central",
            Method::Central4 => "central4",
            Method::Richardson => "richardson",
        }
    }

    /// Whether the method's stencil lies on one side of θ (forward differences).
    pub(crate) fn is_one_sided(self) -> bool {
        !self.stencil().iter().any(|&(o, _)| o < 0.0)
    }

    /// The stencil of the derivative, sorted by offset. Built once (every line asks for it).
    pub(crate) fn stencil(self) -> &'static [(f64, f64)] {
        match self {
            Method::Forward => &[(0.0, -1.0), (1.0, 1.0)],
            Method::Central => &[(-1.0, -0.5), (1.0, 0.5)],
            Method::Central4 => &[
                (-2.0, 1.0 / 12.0),
                (-1.0, -8.0 / 12.0),
                (1.0, 8.0 / 12.0),
                (2.0, -1.0 / 12.0),
            ],
            Method::Richardson => &richardson().0,
        }
    }

    /// The stencil of the method's error estimate, if it has one.
    pub(crate) fn error_stencil(self) -> Option<&'static [(f64, f64)]> {
        (self == Method::Richardson).then(|| richardson().1.as_slice())
    }

    /// Every multiple of the step at which a difference (with its truncation estimate: the
    /// error stencil, or the stencil again at twice the step) evaluates the cost.
    pub(crate) fn sampled_offsets(self) -> Vec<f64> {
        let stencil = self.stencil();
        let mut offsets: Vec<f64> = match self.error_stencil() {
            Some(error) => stencil.iter().chain(error).map(|(o, _)| *o).collect(),
            None => stencil.iter().flat_map(|(o, _)| [*o, 2.0 * o]).collect(),
        };
        offsets.retain(|o| *o != 0.0);
        offsets.sort_by(f64::total_cmp);
        offsets.dedup();
        offsets
    }

    /// How much the method amplifies noise in `J`: `Σ |weight|` (an error `δ` in every value
    /// becomes at most `gain · δ / h` in the derivative).
    pub fn noise_gain(self) -> f64 {
        self.stencil().iter().map(|(_, w)| w.abs()).sum()
    }

    /// How far from the interval between the one-sided slopes of a kink at `θ` the method's
    /// difference can lie, as a share of the jump: the stencil weighs the right slope by
    /// `A = Σ_{o>0} weight·o` and the left by `1 − A`, so its value is `max(A, 1 − A)` of the
    /// jump from the farther end (½ for the symmetric stencils, 1 for forward differences).
    pub(crate) fn kink_share(self) -> f64 {
        let right: f64 = self
            .stencil()
            .iter()
            .filter(|(o, _)| *o > 0.0)
            .map(|(o, w)| o * w)
            .sum();
        right.max(1.0 - right)
    }

    /// The step that balances truncation against roundoff for a smooth function of unit scale,
    /// `ε_mach^(1/(order+1))` (6.1e-6 for central differences).
    pub fn natural_step(self) -> f64 {
        self.natural_step_for(f64::EPSILON)
    }

    /// [`Method::natural_step`] for a cost computed with unit roundoff `u` (the machine epsilon
    /// of its [`Precision`](crate::Precision)): `u^(1/(order+1))`, 4.9e-3 for central
    /// differences of an `f32` cost.
    pub fn natural_step_for(self, u: f64) -> f64 {
        u.powf(1.0 / f64::from(self.order() + 1))
    }

    /// Applies the method to a scalar function `f` at `x` with step `h`.
    pub fn apply(self, f: impl Fn(f64) -> f64, x: f64, h: f64) -> Estimate {
        let combine = |stencil: &[(f64, f64)]| {
            stencil
                .iter()
                .map(|&(offset, weight)| weight * f(x + offset * h))
                .sum::<f64>()
                / h
        };
        Estimate {
            value: combine(self.stencil()),
            error: self.error_stencil().map(|s| combine(s).abs()),
        }
    }
}

/// `(J(θ+sh) − J(θ−sh)) / 2sh` as a stencil in units of `h`.
fn central(s: f64) -> Stencil {
    vec![(-s, -0.5 / s), (s, 0.5 / s)]
}

/// Adds `factor · b` into `a`, merging equal offsets.
fn axpy(a: &mut Stencil, factor: f64, b: &Stencil) {
    for &(offset, weight) in b {
        match a.iter_mut().find(|(o, _)| *o == offset) {
            Some((_, w)) => *w += factor * weight,
            None => a.push((offset, factor * weight)),
        }
    }
    a.sort_by(|x, y| x.0.total_cmp(&y.0));
}

/// The Richardson stencil and its error stencil (built once).
fn richardson() -> &'static (Stencil, Stencil) {
    static STENCILS: OnceLock<(Stencil, Stencil)> = OnceLock::new();
    STENCILS.get_or_init(build_richardson)
}

/// The Richardson stencil and its error stencil: `D(h)`, `D(h/2)`, `D(h/4)` central;
/// `R1 = (4D(h/2) − D(h))/3`, `R2 = (4D(h/4) − D(h/2))/3`, `R = (16R2 − R1)/15`, error `R − R2`.
fn build_richardson() -> (Stencil, Stencil) {
    let (d1, d2, d4) = (central(1.0), central(0.5), central(0.25));
    let mut r1 = Stencil::new();
    axpy(&mut r1, 4.0 / 3.0, &d2);
    axpy(&mut r1, -1.0 / 3.0, &d1);
    let mut r2 = Stencil::new();
    axpy(&mut r2, 4.0 / 3.0, &d4);
    axpy(&mut r2, -1.0 / 3.0, &d2);
    let mut r = Stencil::new();
    axpy(&mut r, 16.0 / 15.0, &r2);
    axpy(&mut r, -1.0 / 15.0, &r1);
    let mut error = r.clone();
    axpy(&mut error, -1.0, &r2);
    (r, error)
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Method {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        Method::ALL
            .into_iter()
            .find(|m| m.name() == text.trim())
            .ok_or_else(|| Error::InvalidChoice {
                name: "method",
                value: text.to_string(),
                expected: "forward, central, central4 or richardson",
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every stencil differentiates polynomials up to its order exactly (to rounding).
    #[test]
    fn stencils_are_exact_on_polynomials_of_their_order() {
        for method in Method::ALL {
            for degree in 0..=method.order() {
                let f = |x: f64| x.powi(degree);
                let exact = if degree == 0 {
                    0.0
                } else {
                    f64::from(degree) * 0.7f64.powi(degree - 1)
                };
                let got = method.apply(f, 0.7, 0.01).value;
                assert!(
                    (got - exact).abs() < 1e-9,
                    "{method} degree {degree}: {got} vs {exact}"
                );
            }
        }
    }

    /// Halving the step divides the error by about 2^order.
    #[test]
    fn errors_shrink_with_the_order() {
        for method in [Method::Forward, Method::Central, Method::Central4] {
            let err = |h: f64| (method.apply(f64::exp, 0.3, h).value - 0.3f64.exp()).abs();
            let ratio = err(0.02) / err(0.01);
            let expected = 2f64.powi(method.order());
            assert!(
                (ratio / expected - 1.0).abs() < 0.1,
                "{method}: {ratio} vs {expected}"
            );
        }
    }

    #[test]
    fn richardson_error_estimate_covers_the_error() {
        for h in [0.2, 0.1, 0.05] {
            let e = Method::Richardson.apply(f64::exp, 0.3, h);
            let actual = (e.value - 0.3f64.exp()).abs();
            assert!(
                actual <= e.error.unwrap(),
                "h = {h}: {actual} > {:?}",
                e.error
            );
        }
    }

    #[test]
    fn dual_is_a_reference_not_a_method() {
        assert!(Reference::Dual.is_exact());
        assert!(!Reference::Differences(Method::Central).is_exact());
        assert_eq!(
            Reference::default(),
            Reference::Differences(Method::Central)
        );
        let err = "dual".parse::<Method>().unwrap_err().to_string();
        assert!(err.contains("central4 or richardson"), "{err}");
        let json = serde_json::to_string(&Reference::Dual).unwrap();
        assert_eq!(json, "\"dual\"");
        let back: Reference = serde_json::from_str("\"richardson\"").unwrap();
        assert_eq!(back, Reference::Differences(Method::Richardson));
    }

    #[test]
    fn noise_gains() {
        assert_eq!(Method::Forward.noise_gain(), 2.0);
        assert_eq!(Method::Central.noise_gain(), 1.0);
        assert!((Method::Central4.noise_gain() - 18.0 / 12.0).abs() < 1e-15);
    }

    #[test]
    fn kink_shares() {
        assert_eq!(Method::Forward.kink_share(), 1.0);
        for method in [Method::Central, Method::Central4, Method::Richardson] {
            assert!((method.kink_share() - 0.5).abs() < 1e-12, "{method}");
        }
    }

    #[test]
    fn names_round_trip_and_bad_ones_say_what_is_expected() {
        for method in Method::ALL {
            assert_eq!(method.name().parse::<Method>().unwrap(), method);
            assert_eq!(method.to_string(), method.name());
            let reference = Reference::Differences(method);
            assert_eq!(method.name().parse::<Reference>().unwrap(), reference);
        }
        assert_eq!("dual".parse::<Reference>().unwrap(), Reference::Dual);
        let err = "dualz".parse::<Reference>().unwrap_err().to_string();
        assert!(err.contains("or dual"), "{err}");
        let err = "simpson".parse::<Method>().unwrap_err().to_string();
        assert!(
            err.contains("simpson") && err.contains("richardson"),
            "{err}"
        );
    }
}
