//! `gradproof evaluate`: a trained model's metrics on a labelled payment file, at the model's
//! threshold.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use fraudnet::metrics::Metrics;
use fraudnet::model_file::FraudModel;

use crate::Format;

/// Arguments of `gradproof evaluate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The model file written by `gradproof train`.
    #[arg(long, value_name = "MODEL")]
    pub model: PathBuf,
    /// A labelled CSV file in the model's schema.
    #[arg(long, value_name = "FILE")]
    pub data: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// Scores the file and prints the metrics.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let model = FraudModel::load(&args.model)?;
    let metrics = fraudnet::score::evaluate_file(&model, &args.data)
        .with_context(|| format!("evaluating {}", args.data.display()))?;
    match args.format {
        Format::Json => outln!("{}", serde_json::to_string_pretty(&metrics)?)?,
        Format::Text => {
            outln!("{}: {}", args.data.display(), one_line(&metrics))?;
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
