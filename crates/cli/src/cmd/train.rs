//! `gradproof train`: fit the fraud MLP on a labelled payment file, with gradient-check
//! guardrails, and save the model. Exit code 0: trained and saved; 1: a gradient check failed
//! and stopped training (the report is printed, nothing is saved); 2: usage or input error.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use fraudnet::data::{Dataset, FeatureSet, FileFormat, Schema, open_rows_with, shown_path};
use fraudnet::fit::{FitConfig, Fitted, fit};
use fraudnet::optim::OptimizerKind;
use fraudnet::train::{Progress, TrainConfig};
use fraudnet::{Activation, Bug};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::Format;
use crate::flags;
use crate::output::Files;

/// Arguments of `gradproof train`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Labelled training data (CSV or Parquet; at most 10 000 000 rows; lines, rows and the header at most
    /// 64 KiB, fields at most 4 KiB).
    #[arg(long, value_name = "FILE")]
    pub data: PathBuf,
    /// The data's schema: paysim (mobile money) or card (card transactions).
    #[arg(long, default_value = "paysim", value_parser = parse_schema)]
    pub schema: Schema,
    /// The data's format, csv or parquet; by default Parquet for a `.parquet` or `.pq` file,
    /// CSV otherwise.
    #[arg(long, value_name = "FORMAT", value_parser = flags::file_format)]
    pub data_format: Option<FileFormat>,
    /// The features: `history` (each row's own, then its accounts' history computed in file
    /// order; PaySim data, CSV or Parquet) or `row` (each row alone). Default: history for PaySim
    /// CSV data, row otherwise (a Parquet-trained default model is scored from Python and Spark,
    /// which score per-row models only).
    #[arg(long, value_name = "SET", value_parser = parse_features)]
    pub features: Option<FeatureSet>,
    /// Hidden layer widths, e.g. 32,16; empty ("") trains a logistic regression.
    #[arg(long, default_value = "32,16", value_parser = parse_hidden)]
    pub hidden: Hidden,
    /// Hidden activation: relu, leaky_relu, tanh or sigmoid.
    #[arg(long, default_value = "relu", value_parser = parse_activation)]
    pub activation: Activation,
    /// The most epochs to run, 1 to 100 000.
    #[arg(long, default_value_t = 20, value_parser = flags::count::<1, { flags::MAX_EPOCHS }>)]
    pub epochs: usize,
    /// Examples per mini-batch, 1 to 10 000 000 (a batch larger than the training split is the
    /// whole split).
    #[arg(long, default_value_t = 256, value_parser = flags::count::<1, { flags::MAX_BATCH }>)]
    pub batch_size: usize,
    /// Learning rate, a finite number > 0 (training that diverges is stopped, nothing saved).
    #[arg(long, default_value_t = 1e-3, value_parser = flags::positive, allow_hyphen_values = true)]
    pub lr: f64,
    /// Optimiser: adam or sgd (with --momentum).
    #[arg(long, default_value = "adam", value_parser = ["adam", "sgd"])]
    pub optimizer: String,
    /// SGD momentum, in [0, 1).
    #[arg(long, default_value_t = 0.9, value_parser = flags::rate, allow_hyphen_values = true)]
    pub momentum: f64,
    /// L2 strength λ ≥ 0 (the cost gains (λ/2m)·Σ‖W‖²).
    #[arg(long, default_value_t = 0.0, value_parser = flags::non_negative, allow_hyphen_values = true)]
    pub l2: f64,
    /// Dropout rate on hidden layers, in [0, 1).
    #[arg(long, default_value_t = 0.0, value_parser = flags::rate, allow_hyphen_values = true)]
    pub dropout: f64,
    /// Weight of fraud examples in the cost: a number, or `balanced` (negatives / positives).
    #[arg(long, default_value = "1", value_parser = parse_weight, allow_hyphen_values = true)]
    pub positive_weight: Weight,
    /// Gradient-check the backward pass before epoch 1 and then every K epochs (0: never; at
    /// most 100 000).
    #[arg(long, default_value_t = 1, value_parser = flags::count::<0, { flags::MAX_EPOCHS }>)]
    pub check_every: usize,
    /// Examples in each gradient check, 1 to 100 000.
    #[arg(long, default_value_t = 64, value_parser = flags::count::<1, { flags::MAX_CHECK_EXAMPLES }>)]
    pub check_examples: usize,
    /// Stop after this many epochs without a better validation PR-AUC (0: never; at most
    /// 100 000).
    #[arg(long, default_value_t = 3, value_parser = flags::count::<0, { flags::MAX_EPOCHS }>)]
    pub patience: usize,
    /// Choose the threshold reaching this recall, in (0, 1], on validation (default: maximise
    /// F1).
    #[arg(long, value_parser = flags::fraction, allow_hyphen_values = true)]
    pub target_recall: Option<f64>,
    /// Seed of the split, initialisation, shuffles, dropout masks and checks.
    #[arg(long, default_value_t = 1)]
    pub seed: u32,
    /// Where to save the model: replaced atomically, with the pictures, only when everything
    /// succeeded (a regular file keeps its permissions; a symbolic link's target is replaced; a
    /// FIFO or a device is written straight through). Same data and seed, same bytes.
    #[arg(long, value_name = "MODEL", default_value = "model.json")]
    pub out: PathBuf,
    /// Write PNG pictures (loss.png, pr_auc.png, pr_curve.png) into this directory (created if
    /// its parent exists).
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

fn parse_features(text: &str) -> Result<FeatureSet, String> {
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
    let mut files = Files::new();
    let data_file = files.input("--data", &args.data)?;
    let out = files.output("--out", &args.out)?;
    let plots = match &args.plots {
        Some(dir) => crate::plot::TRAINING_PLOTS
            .iter()
            .map(|name| files.output_in("--plots", dir, name))
            .collect::<anyhow::Result<Vec<_>>>()?,
        None => Vec::new(),
    };
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
    let data_name = shown_path(&args.data);
    let format = FileFormat::or_from_path(args.data_format, &args.data);
    let features = args.features.unwrap_or(
        if args.schema == Schema::PaySim && format == FileFormat::Csv {
            FeatureSet::History
        } else {
            FeatureSet::Row
        },
    );
    let reader = open_rows_with(data_file, &data_name, args.schema, format, features, None)?;
    let data = Dataset::from_records(reader).with_context(|| format!("loading {data_name}"))?;
    let label = args.schema.label_column();
    match (data.len(), data.positives()) {
        (0, _) => anyhow::bail!("{data_name}: no rows to train on"),
        (n, p) if p == 0 || p == n => anyhow::bail!(
            "{data_name}: every row has {label} = {}: training needs both classes (without fraud \
             in the validation split, PR-AUC and the threshold are undefined)",
            u8::from(p == n)
        ),
        _ => {}
    }
    if !args.quiet {
        eprintln!(
            "{data_name}: {} rows, {} fraudulent ({:.3}%), {} features",
            data.len(),
            data.positives(),
            100.0 * data.fraud_rate(),
            data.n_features()
        );
    }
    let bar = progress_bar(args.quiet);
    let fitted = match fit(&data, &config, &data_name, |p| report_progress(&bar, p)) {
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
        Err(error) => {
            // A divergence is the learning rate's doing: name the flag.
            let context = if error.to_string().contains("training diverged") {
                format!("training on {data_name} with --lr {:e}", args.lr)
            } else {
                format!("training on {data_name}")
            };
            return Err(anyhow::Error::from(error).context(context));
        }
    };
    bar.finish_and_clear();
    // Everything staged first, then renamed into place together: all the outputs, or none.
    files.write(out, fitted.model.to_json()?.as_bytes())?;
    if let Some(dir) = &args.plots {
        let pictures = crate::plot::training_plots(&fitted.trained.history, &fitted.test_curve)
            .with_context(|| format!("drawing the pictures for {}", shown_path(dir)))?;
        for (id, png) in plots.into_iter().zip(pictures) {
            files.write(id, &png)?;
        }
    }
    files.commit()?;
    match args.format {
        Format::Text => print_summary(args, &fitted)?,
        Format::Json => outln!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "model": shown_path(&args.out),
                "architecture": fitted.model.mlp.sizes(),
                "features": fitted.model.feature_set,
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
        "features: {}{}",
        fitted.model.feature_set,
        match (args.features, fitted.model.feature_set) {
            (Some(_), _) => "",
            (None, FeatureSet::History) => {
                " (each row's own, then its accounts' history; the default for PaySim CSV data, \
                 --features row for each row alone)"
            }
            (None, FeatureSet::Row) => " (each row alone; the default for this data)",
        }
    )?;
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
    outln!("saved {}", shown_path(&args.out))
}
