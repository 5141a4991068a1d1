//! `gradproof score`: the fraud probability and flag of every row of a payment file, streamed in
//! constant memory (a CSV file in chunks, a Parquet file in row groups, scored on all cores).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use fraudnet::data::{CsvChunks, FileFormat, History, shown_path};
use fraudnet::model_file::FraudModel;
use fraudnet::score::Rows;

use crate::flags;
use crate::output::Files;
use crate::progress::{Cleared, CountingReader, CountingRows, Delayed};

/// The bar of a Parquet file's rows scored in row groups (its length the file's rows).
const ROWS_BAR: &str = "scoring {pos}/{len} rows [{bar:30}] {rate}, {eta} left";

/// Arguments of `gradproof score`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The model file written by `gradproof train` (at most 64 MiB).
    #[arg(long, value_name = "MODEL")]
    pub model: PathBuf,
    /// A CSV or Parquet file in the model's schema (the label column may be absent); CSV
    /// lines, rows and the header at most 64 KiB, fields at most 4 KiB. Of a Parquet file only
    /// the columns the model needs are read.
    #[arg(long, value_name = "FILE")]
    pub data: PathBuf,
    /// The data's format, csv or parquet; by default Parquet for a `.parquet` or `.pq` file,
    /// CSV otherwise.
    #[arg(long, value_name = "FORMAT", value_parser = flags::file_format)]
    pub data_format: Option<FileFormat>,
    /// Where to write `row,probability,flag`: replaced atomically when scoring succeeds (a
    /// regular file keeps its permissions; a symbolic link's target is replaced), or written
    /// straight through (a FIFO, a device, or `-` for standard output). Never an input.
    #[arg(short, long, value_name = "OUT")]
    pub out: PathBuf,
    /// The output's format, csv or parquet; by default Parquet for a `.parquet` or `.pq` file,
    /// CSV otherwise (and for `-`).
    #[arg(long, value_name = "FORMAT", value_parser = flags::file_format)]
    pub out_format: Option<FileFormat>,
    /// Account-history state of a history model: read from FILE when it exists (else scoring
    /// starts cold, every account new, and says so), and replaced atomically with the state
    /// after this file once scoring succeeds, so the next file continues where this one ended.
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// No progress bar (one is drawn on a terminal when scoring runs for over 2 s).
    #[arg(short, long)]
    pub quiet: bool,
}

/// Scores the file and prints the throughput.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let mut files = Files::new();
    let model_file = files.input("--model", &args.model)?;
    let data_file = files.input("--data", &args.data)?;
    let out = files.output("--out", &args.out)?;
    let model = FraudModel::read_from(model_file, &shown_path(&args.model))?;
    let data_name = shown_path(&args.data);
    let mut state = load_state(&model, args.state.as_deref())?;
    // The bar of a Parquet file's row groups, removed once they are scored (or on an error).
    let mut bar: Option<Cleared> = None;
    let rows = match FileFormat::or_from_path(args.data_format, &args.data) {
        FileFormat::Csv => {
            // A FIFO or a device has no size: the bar then counts bytes without an estimate.
            let size = data_file.metadata().map_or(0, |m| m.len());
            let progress = Delayed::new(
                size,
                "scoring {bytes}/{total_bytes} [{bar:30}] {bytes_per_sec}, {eta} left",
                args.quiet,
            );
            let counted = CountingReader::new(data_file, progress);
            Rows::Chunks(CsvChunks::new(counted, data_name.as_str(), model.schema)?)
        }
        // A Parquet file's history features are computed as it is read: its state goes in now.
        // The bar counts rows: those of each row group as it is handed to a thread, or each
        // row as it is read in order (for history features, without a total).
        FileFormat::Parquet => match Rows::parquet(data_file, &data_name, &model, state.take())? {
            Rows::Groups(groups) => {
                let progress = Arc::new(Delayed::new(groups.rows(), ROWS_BAR, args.quiet));
                bar = Some(Cleared(Arc::clone(&progress)));
                Rows::Groups(groups.with_progress(move |rows| progress.advance(rows)))
            }
            Rows::Source(source) => {
                let progress = Delayed::new(0, "scoring {pos} rows, {rate}", args.quiet);
                Rows::Source(Box::new(CountingRows::new(source, progress)))
            }
            chunks => chunks,
        },
    };
    let mut rows = rows.for_model(&model, state)?;
    let out_name = shown_path(&args.out);
    let sink = files.create(out)?;
    let (summary, sink) = match FileFormat::or_from_path(args.out_format, &args.out) {
        FileFormat::Csv => {
            let mut sink = sink;
            let summary = fraudnet::score::score_to_csv(&model, &mut rows, &mut sink, &out_name);
            summary.map(|summary| (summary, sink))
        }
        FileFormat::Parquet => {
            fraudnet::score::score_to_parquet(&model, &mut rows, sink, &out_name)
        }
    }
    .with_context(|| {
        format!(
            "scoring {data_name} with the model {}",
            shown_path(&args.model)
        )
    })?;
    drop(bar);
    files.finish(out, sink)?;
    files.commit()?;
    if let (Some(path), Some(history)) = (&args.state, rows.into_history()) {
        history
            .save(path)
            .with_context(|| format!("--state {}", shown_path(path)))?;
    }
    let line = format!(
        "scored {} rows ({} flagged at threshold {:.4}) into {} in {:.2} s: {:.0} rows/s{}",
        summary.rows,
        summary.flagged,
        model.threshold,
        shown_path(&args.out),
        summary.seconds,
        summary.rows_per_second,
        match (model.feature_set.has_history(), &args.state) {
            (false, _) => String::new(),
            (true, None) => "; account history started cold (no --state)".into(),
            (true, Some(path)) => format!("; account history saved to {}", shown_path(path)),
        }
    );
    if args.out.as_os_str() == "-" {
        eprintln!("{line}");
    } else {
        outln!("{line}")?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The history state `--state` names: `None` (a cold start, said on stderr) when the file does
/// not exist yet; refused for a model without history features.
fn load_state(model: &FraudModel, path: Option<&Path>) -> anyhow::Result<Option<History>> {
    let Some(path) = path else {
        return Ok(None);
    };
    let shown = shown_path(path);
    if !model.feature_set.has_history() {
        anyhow::bail!(
            "--state {shown}: the model reads {} features, which keep no account history",
            model.feature_set
        );
    }
    match History::load(path).with_context(|| format!("--state {shown}"))? {
        Some(history) => {
            eprintln!(
                "account history: continuing from {shown} ({} accounts)",
                history.accounts()
            );
            Ok(Some(history))
        }
        None => {
            eprintln!("account history: starting cold ({shown} does not exist yet)");
            Ok(None)
        }
    }
}
