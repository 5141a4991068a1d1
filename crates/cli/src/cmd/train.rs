//! `gradproof train`: fit the fraud MLP on a labelled payment file, with gradient-check
//! guardrails, and save the model. Exit code 0: trained and saved; 1: a gradient check failed
//! and stopped training (the report is printed, nothing is saved); 2: usage or input error.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use fraudnet::data::{Dataset, Schema};
use fraudnet::fit::{FitConfig, Fitted, fit};
use fraudnet::optim::OptimizerKind;
use fraudnet::train::{Progress, TrainConfig};
use fraudnet::{Activation, Bug};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::Format;

/// Arguments of `gradproof train`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Labelled training data (CSV).
    #[arg(long, value_name = "FILE")]
    pub data: PathBuf,
    /// The data's schema: paysim (mobile money) or card (card transactions).
    #[arg(long, default_value = "paysim", value_parser = parse_schema)]
    pub schema: Schema,
    /// Hidden layer widths, e.g. 32,16; empty ("") trains a logistic regression.
    #[arg(long, default_value = "32,16", value_parser = parse_hidden)]
    pub hidden: Hidden,
    /// Hidden activation: relu, leaky_relu, tanh or sigmoid.
    #[arg(long, default_value = "relu", value_parser = parse_activation)]
    pub activation: Activation,
    /// The most epochs to run.
    #[arg(long, default_value_t = 20)]
    pub epochs: usize,
    /// Examples per mini-batch.
    #[arg(long, default_value_t = 256)]
    pub batch_size: usize,
    /// Learning rate.
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    /// Optimiser: adam or sgd (with --momentum).
    #[arg(long, default_value = "adam", value_parser = ["adam", "sgd"])]
    pub optimizer: String,
    /// SGD momentum, in [0, 1).
    #[arg(long, default_value_t = 0.9)]
    pub momentum: f64,
    /// L2 strength λ (the cost gains (λ/2m)·Σ‖W‖²).
    #[arg(long, default_value_t = 0.0)]
    pub l2: f64,
    /// Dropout rate on hidden layers, in [0, 1).
    #[arg(long, default_value_t = 0.0)]
    pub dropout: f64,
    /// Weight of fraud examples in the cost: a number, or `balanced` (negatives / positives).
    #[arg(long, default_value = "1", value_parser = parse_weight)]
    pub positive_weight: Weight,
    /// Gradient-check the backward pass before epoch 1 and then every K epochs (0: never).
    #[arg(long, default_value_t = 1)]
    pub check_every: usize,
    /// Examples in each gradient check.
    #[arg(long, default_value_t = 64)]
    pub check_examples: usize,
    /// Stop after this many epochs without a better validation PR-AUC (0: never).
    #[arg(long, default_value_t = 3)]
    pub patience: usize,
    /// Choose the threshold reaching this recall on validation (default: maximise F1).
    #[arg(long)]
    pub target_recall: Option<f64>,
    /// Seed of the split, initialisation, shuffles, dropout masks and checks.
    #[arg(long, default_value_t = 1)]
    pub seed: u32,
    /// Where to save the model (written atomically).
    #[arg(long, value_name = "MODEL", default_value = "model.json")]
    pub out: PathBuf,
    /// Write PNG pictures (loss curves, PR curve) into this directory.
    #[arg(long, value_name = "DIR")]
    pub plots: Option<PathBuf>,
    /// Inject a bug into the training gradient (repeatable, as in `check --bug`): the guardrail
    /// check must stop training before the first step.
    #[arg(long = "bug", value_name = "SPEC")]
    pub bugs: Vec<String>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// Output format of the summary.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// Parsed `--hidden`.
#[derive(Clone, Debug)]
pub struct Hidden(pub Vec<usize>);

/// Parsed `--positive-weight`.
#[derive(Clone, Copy, Debug)]
pub enum Weight {
    /// `negatives / positives` of the training split.
    Balanced,
    /// A given weight.
    Fixed(f64),
}

fn parse_schema(text: &str) -> Result<Schema, String> {
    text.parse().map_err(|e: fraudnet::Error| e.to_string())
}

fn parse_activation(text: &str) -> Result<Activation, String> {
    text.parse().map_err(|e: fraudnet::Error| e.to_string())
}

fn parse_weight(text: &str) -> Result<Weight, String> {
    if text.trim() == "balanced" {
        return Ok(Weight::Balanced);
    }
    match text.trim().parse::<f64>() {
        Ok(w) if w.is_finite() && w > 0.0 => Ok(Weight::Fixed(w)),
        _ => Err(format!("'{text}' is not a positive number or 'balanced'")),
    }
}

fn parse_hidden(text: &str) -> Result<Hidden, String> {
    fraudnet::model::parse_hidden(text).map(Hidden)
}

/// Loads the data, trains, prints the summary and saves the model.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    crate::outputs::check_file(&args.out, "--out")?;
    if let Some(dir) = &args.plots {
        crate::outputs::check_folder(dir, "--plots")?;
    }
    let optimizer = match args.optimizer.as_str() {
        "sgd" => OptimizerKind::Sgd {
            momentum: args.momentum,
        },
        _ => OptimizerKind::ADAM,
    };
    let config = FitConfig {
        train: TrainConfig {
            hidden: args.hidden.0.clone(),
            activation: args.activation,
            epochs: args.epochs,
            batch_size: args.batch_size,
            learning_rate: args.lr,
            optimizer,
            l2: args.l2,
            dropout: args.dropout,
            positive_weight: match args.positive_weight {
                Weight::Balanced => None,
                Weight::Fixed(w) => Some(w),
            },
            check_every: args.check_every,
            check_examples: args.check_examples,
            patience: args.patience,
            seed: args.seed,
            bugs: Bug::parse_all(args.bugs.iter().map(String::as_str)).context("--bug")?,
        },
        target_recall: args.target_recall,
        ..FitConfig::default()
    };
    let data = Dataset::load(&args.data, args.schema)
        .with_context(|| format!("loading {}", args.data.display()))?;
    let label = args.schema.label_column();
    match (data.len(), data.positives()) {
        (0, _) => anyhow::bail!("{}: no rows to train on", args.data.display()),
        (n, p) if p == 0 || p == n => anyhow::bail!(
            "{}: every row has {label} = {}: training needs both classes (without fraud in the \
             validation split, PR-AUC and the threshold are undefined)",
            args.data.display(),
            u8::from(p == n)
        ),
        _ => {}
    }
    if !args.quiet {
        eprintln!(
            "{}: {} rows, {} fraudulent ({:.3}%), {} features",
            args.data.display(),
            data.len(),
            data.positives(),
            100.0 * data.fraud_rate(),
            data.n_features()
        );
    }
    let bar = progress_bar(args.quiet);
    let source = args.data.display().to_string();
    let fitted = match fit(&data, &config, &source, |p| report_progress(&bar, p)) {
        Ok(fitted) => fitted,
        Err(fraudnet::Error::GradientCheckFailed { epoch, report }) => {
            bar.finish_and_clear();
            outln!("gradient check failed before epoch {epoch}: training stopped, no model saved")?;
            outln!("{report}")?;
            return Ok(ExitCode::from(1));
        }
        Err(error @ fraudnet::Error::InvalidBug(_)) => {
            return Err(anyhow::Error::from(error).context("--bug"));
        }
        Err(error) => return Err(error.into()),
    };
    bar.finish_and_clear();
    fitted.model.save(&args.out)?;
    if let Some(dir) = &args.plots {
        crate::plot::training_plots(dir, &fitted.trained.history, &fitted.test_curve)
            .with_context(|| format!("writing plots into {}", dir.display()))?;
    }
    match args.format {
        Format::Text => print_summary(args, &fitted)?,
        Format::Json => outln!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "model": args.out.display().to_string(),
                "architecture": fitted.model.mlp.sizes(),
                "activation": fitted.model.mlp.activation(),
                "split": fitted.split_sizes,
                "best_epoch": fitted.trained.best_epoch,
                "stopped_early": fitted.trained.stopped_early,
                "threshold": fitted.model.threshold,
                "history": fitted.trained.history,
                "gradient_checks": fitted.trained.checks,
                "validation": fitted.validation,
                "test": fitted.test,
            }))?
        )?,
    }
    Ok(ExitCode::SUCCESS)
}

fn progress_bar(quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "epoch {prefix:>3} [{bar:30}] {pos}/{len} batches, {per_sec}, {msg} ({eta})",
        )
        .expect("a valid template")
        .progress_chars("=> "),
    );
    bar
}

fn report_progress(bar: &ProgressBar, progress: &Progress) {
    match progress {
        Progress::Batch {
            epoch,
            done,
            batches,
            loss,
        } => {
            if *done == 1 {
                bar.reset();
                bar.set_length(*batches as u64);
                bar.set_prefix(epoch.to_string());
            }
            bar.set_position(*done as u64);
            if *done % 16 == 0 || done == batches {
                bar.set_message(format!("loss {loss:.4}"));
            }
        }
        Progress::Check(check) => bar.println(format!(
            "epoch {:>3}: gradient check passed (max relative difference {:.2e}, {} evaluations, {:.3} s)",
            check.epoch, check.max_difference, check.evaluations, check.seconds
        )),
        Progress::Epoch(e) => bar.println(format!(
            "epoch {:>3}: train loss {:.5}, validation loss {:.5}, validation PR-AUC {:.4}, {:.0} examples/s",
            e.epoch, e.train_loss, e.validation_loss, e.validation_pr_auc, e.examples_per_second
        )),
    }
}

fn print_summary(args: &Args, fitted: &Fitted) -> std::io::Result<()> {
    let trained = &fitted.trained;
    outln!(
        "model {:?} ({}), trained {} epochs{}, kept epoch {}; {} gradient checks passed",
        fitted.model.mlp.sizes(),
        if fitted.model.mlp.depth() == 1 {
            "logistic regression".to_string()
        } else {
            fitted.model.mlp.activation().to_string()
        },
        trained.history.len(),
        if trained.stopped_early {
            " (early stop)"
        } else {
            ""
        },
        trained.best_epoch,
        trained.checks.len()
    )?;
    outln!(
        "split: {} train, {} validation, {} test; threshold {:.4} ({})",
        fitted.split_sizes[0],
        fitted.split_sizes[1],
        fitted.split_sizes[2],
        fitted.model.threshold,
        match args.target_recall {
            Some(r) => format!("recall ≥ {r} on validation"),
            None => "max F1 on validation".to_string(),
        }
    )?;
    outln!(
        "validation: {}",
        crate::cmd::evaluate::one_line(&fitted.validation)
    )?;
    outln!(
        "test:       {}",
        crate::cmd::evaluate::one_line(&fitted.test)
    )?;
    outln!("saved {}", args.out.display())
}
