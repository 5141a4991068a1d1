//! `gradproof generate`: a synthetic mobile-money file in the PaySim schema, with account-takeover
//! fraud. Same seed, same bytes.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use fraudnet::data::{FileFormat, LineCounting, shown_path};
use rand::SeedableRng;

use crate::flags;
use crate::output::Files;
use crate::progress::Delayed;

/// A generous upper estimate of one generated row's bytes, for the free-space check.
const BYTES_PER_ROW: u64 = 128;

/// Arguments of `gradproof generate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Number of transactions (rows) to write, at most 1 000 000 000; the output's file system
    /// must have about 128 bytes per row free.
    #[arg(long, default_value_t = 200_000, value_parser = flags::rows)]
    pub rows: u64,
    /// Fraction of fraudulent rows, in (0, 0.5).
    #[arg(long, default_value_t = 0.01, value_parser = flags::fraud_rate)]
    pub fraud_rate: f64,
    /// Seed of the generator.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The file to write (CSV, or Parquet for a `.parquet` or `.pq` name or `--out-format
    /// parquet`): replaced atomically (a regular file keeps its permissions; a
    /// symbolic link's target is replaced), or written straight through (a FIFO, a device, or
    /// `-` for standard output).
    #[arg(short, long, value_name = "FILE")]
    pub out: PathBuf,
    /// The output's format, csv or parquet; by default Parquet for a `.parquet` or `.pq` file,
    /// CSV otherwise (and for `-`).
    #[arg(long, value_name = "FORMAT", value_parser = flags::file_format)]
    pub out_format: Option<FileFormat>,
    /// No progress bar (one is drawn on a terminal when generating runs for over 2 s).
    #[arg(short, long)]
    pub quiet: bool,
}

/// Writes the file and prints what it holds.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let mut files = Files::new();
    let out = files.output("--out", &args.out)?;
    files.ensure_space(out, args.rows.saturating_mul(BYTES_PER_ROW))?;
    let started = Instant::now();
    let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(args.seed);
    let out_name = shown_path(&args.out);
    let (rows, rate) = (args.rows, args.fraud_rate);
    let sink = files.create(out)?;
    // The bar counts the generator's CSV lines, the header and one per row, whether they are
    // written as they are or turned into Parquet columns.
    let progress = Delayed::new(
        rows + 1,
        "generating {pos}/{len} rows [{bar:30}] {rate}, {eta} left",
        args.quiet,
    );
    let (summary, sink) = match FileFormat::or_from_path(args.out_format, &args.out) {
        FileFormat::Csv => {
            let mut sink = LineCounting::new(sink, |lines| progress.advance(lines));
            let summary = fraudnet::data::generate(rows, rate, &mut rng, &mut sink);
            progress.finish();
            summary.map(|summary| (summary, sink.into_inner()))
        }
        FileFormat::Parquet => {
            let written = fraudnet::data::generate_parquet_counting(
                rows,
                rate,
                &mut rng,
                sink,
                &out_name,
                |lines| progress.advance(lines),
            );
            progress.finish();
            written
        }
    }
    .with_context(|| format!("--out {out_name}"))?;
    files.finish(out, sink)?;
    files.commit()?;
    let seconds = started.elapsed().as_secs_f64();
    // With `-o -` the rows went to standard output: the summary goes to standard error.
    let line = format!(
        "wrote {} rows ({} fraudulent, {:.3}%) to {} in {seconds:.2} s ({:.0} rows/s)",
        summary.rows,
        summary.fraud_rows,
        100.0 * summary.fraud_rate(),
        shown_path(&args.out),
        summary.rows as f64 / seconds.max(1e-9)
    );
    if args.out.as_os_str() == "-" {
        eprintln!("{line}");
    } else {
        outln!("{line}")?;
    }
    Ok(ExitCode::SUCCESS)
}
