//! # gradproof
//!
//! Gradient checking for people who write backpropagation by hand. Give the checker a model that
//! implements [`Problem`] (a [`Layout`] of named parameter tensors, a cost `J(θ)` and the
//! hand-written gradient); it compares every coordinate of the gradient with the centered finite
//! difference `(J(θ+εeᵢ) − J(θ−εeᵢ)) / 2ε`, and reports the notebook's relative difference
//! `‖g − ĝ‖₂ / (‖g‖₂ + ‖ĝ‖₂)` overall and per tensor, the worst element of each tensor, and a
//! verdict judged against the roundoff the difference quotient really has (measured from the
//! cost's floating-point noise) rather than a magic number.
//!
//! The engine knows nothing of neural networks: anything with named `f64` tensors fits.
//!
//! ## Quick start
//!
//! A model of named tensors: hand them over with their names, read them back by name inside the
//! cost and the gradient (no offsets, no layout to build):
//!
//! ```
//! fn main() -> gradproof::Result<()> {
//!     // J(W, b) = ½‖W‖² + Σ sin(bᵢ), so ∂J/∂W = W and ∂J/∂b = cos(b).
//!     let w = gradproof::ndarray::array![[0.5, -1.0], [2.0, 0.25]];
//!     let b = gradproof::ndarray::array![0.1, -0.3];
//!     let report = gradproof::check_named(
//!         [("W", w.view().into_dyn()), ("b", b.view().into_dyn())],
//!         |p| Ok(0.5 * p.view2("W")?.pow2().sum() + p.view1("b")?.sin().sum()),
//!         |p, g| { g.set("W", &p.view2("W")?)?; g.set("b", &p.view1("b")?.cos()) },
//!     )?;
//!     assert!(report.passed(), "{report}");
//!     Ok(())
//! }
//! ```
//!
//! A cost over a flat `&[f64]`:
//!
//! ```
//! fn main() -> gradproof::Result<()> {
//!     // J(θ) = Σ θᵢ³, so ∇J = 3θ².
//!     let cost = |t: &[f64]| t.iter().map(|x| x.powi(3)).sum::<f64>();
//!     let grad = |t: &[f64]| t.iter().map(|x| 3.0 * x * x).collect::<Vec<f64>>();
//!     let report = gradproof::check_fn(cost, grad, &[0.5, -1.0, 2.0])?;
//!     assert!(report.passed(), "{report}");
//!     Ok(())
//! }
//! ```
//!
//! Settings go on a [`Checker`] (`Checker::new().epsilon(1e-7).check_fn(cost, grad, θ)`); a
//! model of your own implements [`Problem`] (with a fast path for single-coordinate costs, exact
//! directional derivatives, kink signatures) and is checked with [`Checker::check`].
//!
//! At a kink (a ReLU at exactly 0, `|w|` at `w = 0`, a max with a tie) the hand-written value is
//! checked against the interval between the one-sided derivatives: any valid subgradient
//! passes, anything outside it is wrong. Costs written over dual numbers mark their kinks with
//! the helpers of [`kink`].

// Each module uses only those before it in this chain (rustfmt sorts the list below):
// error → kink, layout → difference, method, mode, precision, problem, rng → generic → settings →
// derivative, verdict → report → noise → line → crossing → oracle → bisection → directional, dual → jacobian, sweep →
// check → shard, named → assert.
mod assert;
mod base;
mod bisection;
mod check;
mod crossing;
mod derivative;
pub mod difference;
mod directional;
mod dual;
mod error;
mod generic;
pub mod jacobian;
pub mod kink;
pub mod layout;
mod line;
pub mod method;
mod mode;
mod named;
pub mod noise;
pub mod oracle;
mod points;
pub mod precision;
pub mod problem;
mod progress;
mod report;
mod rng;
pub mod settings;
pub mod shard;
pub mod step_rule;
mod steps;
pub mod sweep;
mod verdict;

pub use assert::{assert_gradient, assert_gradient_with};
pub use check::check_fn;
pub use error::{Error, Result};
pub use generic::{DualCost, DualProblem};
pub use layout::{Layout, TensorSpec, Tensors};
pub use method::{Method, Reference};
pub use mode::Mode;
pub use named::{Gradient, Params, check_named};
/// The ndarray this crate's named tensors are built on, so that its version need not be pinned.
pub use ndarray;
/// num-dual, whose [`DualNum`](num_dual::DualNum) a [`DualCost`] is written over, so that its
/// version need not be pinned.
pub use num_dual;
pub use precision::Precision;
pub use problem::{FnProblem, Problem};
pub use report::{Report, TensorReport, Worst};
pub use settings::Checker;
pub use shard::{Partial, Shard};
pub use step_rule::StepRule;
pub use verdict::Verdict;

/// The workspace README's code blocks, compiled and run as doctests, so that its library quick
/// start is a whole program that works as written.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
