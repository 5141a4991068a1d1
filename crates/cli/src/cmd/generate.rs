//! `gradproof generate`: a synthetic mobile-money file in the PaySim schema, with account-takeover
//! fraud. Same seed, same bytes.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use rand::SeedableRng;

/// Arguments of `gradproof generate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Number of transactions (rows) to write.
    #[arg(long, default_value_t = 200_000)]
    pub rows: u64,
    /// Fraction of fraudulent rows, in (0, 0.5).
    #[arg(long, default_value_t = 0.01)]
    pub fraud_rate: f64,
    /// Seed of the generator.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The CSV file to write.
    #[arg(short, long, value_name = "FILE")]
    pub out: PathBuf,
}

/// Writes the file and prints what it holds.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    crate::outputs::check_file(&args.out, "--out")?;
    let started = Instant::now();
    let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(args.seed);
    let summary = fraudnet::data::generate_to_path(&args.out, args.rows, args.fraud_rate, &mut rng)
        .with_context(|| format!("generating {}", args.out.display()))?;
    let seconds = started.elapsed().as_secs_f64();
    outln!(
        "wrote {} rows ({} fraudulent, {:.3}%) to {} in {seconds:.2} s ({:.0} rows/s)",
        summary.rows,
        summary.fraud_rows,
        100.0 * summary.fraud_rate(),
        args.out.display(),
        summary.rows as f64 / seconds.max(1e-9)
    )?;
    Ok(ExitCode::SUCCESS)
}
