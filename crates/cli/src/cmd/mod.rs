//! One module per subcommand.

pub mod notebook;
