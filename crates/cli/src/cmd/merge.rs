//! `gradproof merge part-*.json`: the report of a check run as `check --shard K/N` in N pieces,
//! from their N partial reports: the same report as the unsharded check, printed the same way
//! (text or JSON, to standard output or to `-o FILE` whole or not at all), with the same exit
//! codes: 0 pass, 1 a gradient is wrong, 3 inconclusive, 2 when the files are not the N shards of
//! one check (`crate::partial` says which file and why).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::Format;
use crate::cmd::check::{exit_code, render};
use crate::output::Files;

/// Arguments of `gradproof merge`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The partial reports written by `gradproof check --shard K/N -o FILE`, one per shard, in
    /// any order.
    #[arg(value_name = "PART", required = true)]
    pub parts: Vec<PathBuf>,
    /// Write the report to FILE instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// Merges the partial reports and prints the whole check's report.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let mut files = Files::new();
    let (settings, parts) = crate::partial::read_all(&mut files, "merge", &args.parts)?;
    let out = match &args.out {
        Some(path) => Some(files.output("--out", path)?),
        None => None,
    };
    let report = settings.checker().merge(&parts).context("merge")?;
    let text = render(&report, args.format)?;
    match out {
        Some(out) => {
            files.write(out, format!("{text}\n").as_bytes())?;
            files.commit()?;
        }
        None => outln!("{text}")?,
    }
    Ok(exit_code(report.verdict))
}
