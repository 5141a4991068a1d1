//! One module per subcommand.

pub mod check;
pub mod evaluate;
pub mod generate;
pub mod merge;
pub mod notebook;
pub mod score;
pub mod train;
