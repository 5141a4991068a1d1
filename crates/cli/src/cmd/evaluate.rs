//! `gradproof evaluate`: a trained model's metrics on a labelled payment file, at the model's
//! threshold.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use fraudnet::data::{CsvChunks, FileFormat, shown_path};
use fraudnet::metrics::Metrics;
use fraudnet::model_file::FraudModel;
use fraudnet::score::Rows;

use crate::Format;
use crate::flags;
use crate::output::Files;

/// Arguments of `gradproof evaluate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The model file written by `gradproof train` (at most 64 MiB).
    #[arg(long, value_name = "MODEL")]
    pub model: PathBuf,
    /// A labelled CSV or Parquet file in the model's schema (at most 10 000 000 rows; CSV
    /// lines, rows and the header at most 64 KiB, fields at most 4 KiB).
    #[arg(long, value_name = "FILE")]
    pub data: PathBuf,
    /// The data's format, csv or parquet; by default Parquet for a `.parquet` or `.pq` file,
    /// CSV otherwise.
    #[arg(long, value_name = "FORMAT", value_parser = flags::file_format)]
    pub data_format: Option<FileFormat>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// Scores the file and prints the metrics.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let mut files = Files::new();
    let model_file = files.input("--model", &args.model)?;
    let data_file = files.input("--data", &args.data)?;
    let model = FraudModel::read_from(model_file, &shown_path(&args.model))?;
    let data_name = shown_path(&args.data);
    let format = FileFormat::or_from_path(args.data_format, &args.data);
    let rows = match format {
        FileFormat::Csv => {
            Rows::Chunks(CsvChunks::new(data_file, data_name.as_str(), model.schema)?)
        }
        FileFormat::Parquet => Rows::parquet(data_file, &data_name, &model, None)?,
    }
    .for_model(&model, None)?;
    let metrics = fraudnet::score::evaluate_rows(&model, rows).with_context(|| {
        format!(
            "evaluating {data_name} with the model {}",
            shown_path(&args.model)
        )
    })?;
    match args.format {
        Format::Json => outln!("{}", serde_json::to_string_pretty(&metrics)?)?,
        Format::Text => {
            outln!("{data_name}: {}", one_line(&metrics))?;
            let c = &metrics.confusion;
            outln!(
                "confusion at threshold {:.4}: {} true positives, {} false positives, {} true negatives, {} false negatives",
                metrics.threshold,
                c.tp,
                c.fp,
                c.tn,
                c.fn_
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The headline metrics on one line.
pub fn one_line(metrics: &Metrics) -> String {
    let auc = |v: Option<f64>| v.map_or_else(|| "n/a".to_string(), |v| format!("{v:.4}"));
    format!(
        "{} rows ({} fraud): PR-AUC {}, ROC-AUC {}, precision {:.4}, recall {:.4}, F1 {:.4}",
        metrics.rows,
        metrics.positives,
        auc(metrics.pr_auc),
        auc(metrics.roc_auc),
        metrics.precision,
        metrics.recall,
        metrics.f1
    )
}
