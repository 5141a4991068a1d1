//! # fraudnet
//!
//! The fraud-detection network that gradproof proves correct: a multilayer perceptron with a
//! hand-written backward pass ([`Mlp`]), the seed notebook's exact cases ([`notebook`]), numpy's
//! legacy random generator so those cases have the notebook's very numbers ([`NumpyRng`]),
//! the bridge to the gradient-checking engine ([`MlpProblem`]), and the classification metrics a
//! fraud team judges its scores by ([`metrics`]).
//!
//! ```
//! let run = fraudnet::notebook::run()?;
//! assert_eq!(run.one_d.j, 8.0);
//! assert_eq!(run.n_dim.buggy.failing(), ["db1", "dW2"]);
//! assert!(run.n_dim.fixed.passed());
//! # Ok::<(), fraudnet::Error>(())
//! ```

mod check;
mod error;
pub mod metrics;
pub mod model;
pub mod notebook;
mod numpy_rng;

pub use check::MlpProblem;
pub use error::{Error, Result};
pub use model::{BackwardFault, Bug, CostForm, Forward, Mlp};
pub use numpy_rng::NumpyRng;
