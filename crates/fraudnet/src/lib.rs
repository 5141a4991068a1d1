//! # fraudnet
//!
//! The fraud-detection network that gradproof proves correct: a multilayer perceptron with a
//! hand-written backward pass ([`Mlp`]), the seed notebook's exact cases ([`notebook`]), numpy's
//! legacy random generator so those cases have the notebook's very numbers ([`NumpyRng`]),
//! the bridge to the gradient-checking engine ([`MlpProblem`], and one layer's vector–Jacobian
//! product as a [`DenseLayer`]), payment data to train it on (CSV
//! schemas, a streaming reader, features, splits and a synthetic generator: [`data`]), training
//! with gradient-check guardrails ([`train`], [`fit`]), the model file ([`model_file`]),
//! streaming scoring ([`score`]), scoring of rows already in memory as Arrow record batches
//! ([`score_arrow`]) and the classification metrics a fraud team judges its scores
//! by ([`metrics`]).
//!
//! ```
//! let run = fraudnet::notebook::run()?;
//! assert_eq!(run.one_d.j, 8.0);
//! assert_eq!(run.n_dim.buggy.failing(), ["db1", "dW2"]);
//! assert!(run.n_dim.fixed.passed());
//! # Ok::<(), fraudnet::Error>(())
//! ```

mod check;
pub mod data;
mod error;
pub mod fit;
mod layer;
pub mod metrics;
pub mod model;
pub mod model_file;
pub mod notebook;
mod numpy_rng;
pub mod optim;
pub mod score;
pub mod score_arrow;
pub mod train;

pub use check::MlpProblem;
pub use error::{Error, Result};
pub use layer::DenseLayer;
pub use model::{Activation, Bug, CostForm, DropoutMask, Forward, LayerBug, Mlp};
pub use numpy_rng::NumpyRng;
