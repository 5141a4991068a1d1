//! The multilayer perceptron with its hand-written forward and backward passes, and the bugs one
//! can inject into its gradient on purpose. Knows the gradient-checking engine only through its
//! layout type; knows nothing of files or command lines.

mod activation;
mod bugs;
mod generic;
mod incremental;
mod linalg;
mod mlp;
mod sizes;

pub use activation::{Activation, DropoutMask, LEAKY_SLOPE};
pub use bugs::Bug;
pub use incremental::Incremental;
pub use mlp::{BackwardFault, CostForm, Forward, Mlp};
pub use sizes::{MAX_PARAMETERS, MAX_WIDTH, parameter_count, parse_hidden, parse_layers};
