//! `gradproof score`: the fraud probability and flag of every row of a payment file, streamed in
//! constant memory.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use fraudnet::model_file::FraudModel;

/// Arguments of `gradproof score`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The model file written by `gradproof train`.
    #[arg(long, value_name = "MODEL")]
    pub model: PathBuf,
    /// A CSV file in the model's schema (the label column may be absent).
    #[arg(long, value_name = "FILE")]
    pub data: PathBuf,
    /// Where to write `row,probability,flag` (replaced atomically when scoring succeeds).
    #[arg(short, long, value_name = "OUT")]
    pub out: PathBuf,
}

/// Scores the file and prints the throughput.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    crate::outputs::check_file(&args.out, "--out")?;
    let model = FraudModel::load(&args.model)?;
    let summary = fraudnet::score::score_file(&model, &args.data, &args.out)
        .with_context(|| format!("scoring {}", args.data.display()))?;
    outln!(
        "scored {} rows ({} flagged at threshold {:.4}) into {} in {:.2} s: {:.0} rows/s",
        summary.rows,
        summary.flagged,
        model.threshold,
        args.out.display(),
        summary.seconds,
        summary.rows_per_second
    )?;
    Ok(ExitCode::SUCCESS)
}
