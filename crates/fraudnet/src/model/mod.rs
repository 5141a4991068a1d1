//! The multilayer perceptron with its hand-written forward and backward passes, and the bugs one
//! can inject into its gradient on purpose. Knows the gradient-checking engine only through its
//! layout type; knows nothing of files or command lines. Each scalar formula (activation, loss,
//! class weight, L2, kink signature) is written once, in `formulas` and `activation`, and used by
//! every path: the cached and the fused forward passes, the dual-number oracle (`generic`) and
//! the one-coordinate costs (`incremental`).

mod activation;
mod bugs;
mod formulas;
mod generic;
mod incremental;
mod linalg;
mod mlp;
mod sizes;
mod softplus;
#[cfg(test)]
mod test_values;

pub use activation::{Activation, DropoutMask, LEAKY_SLOPE};
pub use bugs::{Bug, LayerBug, gradient_with_bugs};
pub use formulas::Real;
pub use incremental::Incremental;
pub(crate) use mlp::{Backprop, Exact, dense_backward, dense_forward};
pub use mlp::{CostForm, Forward, Mlp};
pub use sizes::{MAX_PARAMETERS, MAX_WIDTH, parameter_count, parse_hidden, parse_layers};
pub use softplus::softplus_tails;
