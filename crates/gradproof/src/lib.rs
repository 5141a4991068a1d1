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
//! ```
//! use gradproof::{Checker, FnProblem, Layout, TensorSpec, Tensors};
//!
//! // J(w) = ½‖w‖², so ∇J = w.
//! let layout = Layout::new([TensorSpec::new("w", [2, 2])])?;
//! let l = layout.clone();
//! let problem = FnProblem::new(
//!     layout,
//!     |w| Ok(0.5 * w.iter().map(|x| x * x).sum::<f64>()),
//!     move |w| Tensors::new(l.clone(), w.to_vec()),
//! );
//! let report = Checker::new().check(&problem, &[0.5, -1.0, 2.0, 0.25])?;
//! assert!(report.passed(), "{report}");
//! assert_eq!(report.tensors[0].gradient_name, "dw");
//! # Ok::<(), gradproof::Error>(())
//! ```

// The engine, in the order its modules depend on each other (each uses only those above it).
mod assert;
mod bisection;
mod check;
pub mod difference;
mod directional;
mod dual;
mod error;
pub mod jacobian;
pub mod layout;
mod line;
pub mod method;
mod mode;
pub mod noise;
pub mod oracle;
pub mod problem;
mod report;
mod rng;
pub mod settings;
pub mod sweep;

pub use assert::{assert_gradient, assert_gradient_with};
pub use error::{Error, Result};
pub use layout::{Layout, TensorSpec, Tensors};
pub use method::{Method, StepRule};
pub use mode::Mode;
pub use problem::{FnProblem, Problem};
pub use report::{Report, TensorReport, Worst};
pub use settings::Checker;
