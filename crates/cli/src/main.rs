//! The `gradproof` command: parse arguments, run one subcommand, print, exit with
//! 0 (success: gradients agree, model trained), 1 (a gradient is wrong, or a guardrail check
//! stopped training), 2 (usage or input error) or 3 (`check` inconclusive: nothing disagrees,
//! but the evidence cannot decide). All the work is in
//! the `gradproof` and `fraudnet` crates; this binary only parses and formats.

/// `println!` that returns the write's `io::Result` instead of panicking (a closed pipe, as in
/// `gradproof check | head`, is not a crash).
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)
    }};
}

mod cmd;
mod exec;
mod flags;
mod output;
mod partial;
mod plot;
mod progress;

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// Gradient checking for hand-written backpropagation, and the fraud-detection network it proves.
#[derive(Debug, Parser)]
#[command(name = "gradproof", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Reproduce the seed notebook step by step (the default when no command is given).
    Notebook(cmd::notebook::Args),
    /// Check the hand-written gradient of an MLP on random data, optionally with injected bugs
    /// (exit 0 pass, 1 a gradient is wrong, 3 inconclusive: the evidence cannot decide).
    Check(cmd::check::Args),
    /// Join the partial reports of `check --shard K/N` into the report of the whole check
    /// (exit codes as `check`).
    Merge(cmd::merge::Args),
    /// Write a synthetic mobile-money file (PaySim schema) with account-takeover fraud.
    Generate(cmd::generate::Args),
    /// Train the fraud MLP on a labelled payment file, with gradient checks as guardrails.
    Train(cmd::train::Args),
    /// A trained model's metrics on a labelled payment file.
    Evaluate(cmd::evaluate::Args),
    /// Score every row of a payment file with a trained model (streaming).
    Score(cmd::score::Args),
}

/// How results are printed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A table for people.
    #[default]
    Text,
    /// One JSON object for machines.
    Json,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) if !error.use_stderr() => error.exit(), // --help, --version
        Err(error) => {
            let line = one_line(&error.render().to_string());
            eprintln!("{}", fraudnet::data::escape_controls(line.chars()));
            return ExitCode::from(2);
        }
    };
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            let broken_pipe = error.chain().any(|cause| {
                cause
                    .downcast_ref::<std::io::Error>()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            });
            if broken_pipe {
                // The reader went away (`| head`): nothing left to say to anyone.
                return ExitCode::SUCCESS;
            }
            // Escaped as a whole: no path or value can split the line or reach the terminal
            // as an escape sequence.
            eprintln!(
                "error: {}",
                fraudnet::data::escape_controls(chain_line(&error).chars())
            );
            ExitCode::from(2)
        }
    }
}

/// The error and its causes on one line, joined with ": ", leaving out a cause whose text its
/// parent already ends with (an I/O error is usually printed by its wrapper too).
fn chain_line(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if line.ends_with(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

/// A usage error on one line: clap's message without the usage block and the `--help` hint,
/// its remaining lines joined with "; ".
fn one_line(rendered: &str) -> String {
    rendered
        .lines()
        .map(str::trim)
        .take_while(|line| !line.starts_with("Usage:") && !line.starts_with("For more information"))
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
        .replace(":; ", ": ")
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    if !matches!(cli.command, Some(Command::Check(_))) {
        // `check` starts its own pool (its --threads); the others honour RAYON_NUM_THREADS,
        // capped.
        flags::start_threads(None)?;
    }
    match cli.command {
        Some(Command::Notebook(args)) => cmd::notebook::run(&args),
        Some(Command::Check(args)) => cmd::check::run(&args),
        Some(Command::Merge(args)) => cmd::merge::run(&args),
        Some(Command::Generate(args)) => cmd::generate::run(&args),
        Some(Command::Train(args)) => cmd::train::run(&args),
        Some(Command::Evaluate(args)) => cmd::evaluate::run(&args),
        Some(Command::Score(args)) => cmd::score::run(&args),
        None => cmd::notebook::run(&cmd::notebook::Args::default()),
    }
}
