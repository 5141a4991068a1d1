//! Training: the one place where data meets the model. Mini-batch descent with a seeded shuffle
//! and seeded dropout masks, the gradient-checking engine as a guardrail (a directional and
//! per-tensor check on a small batch, with the batch's dropout mask frozen, before the first step
//! and every K epochs: a failed check stops training with its report), and early stopping on the
//! validation PR-AUC. Knows nothing of files or terminals: progress goes to a callback.

use std::time::Instant;

use gradproof::{Checker, Mode, Tensors, Verdict};
use ndarray::{Array2, ArrayView2};
use serde::{Deserialize, Serialize};

use crate::check::MlpProblem;
use crate::error::{Error, Result};
use crate::metrics;
use crate::model::{Activation, Bug, DropoutMask, Mlp, gradient_with_bugs};
use crate::numpy_rng::NumpyRng;
use crate::optim::{Optimizer, OptimizerKind};

/// Everything that decides a training run. Same settings and data, same model, bit for bit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Hidden layer widths (empty: logistic regression).
    pub hidden: Vec<usize>,
    /// The hidden layers' activation.
    pub activation: Activation,
    /// The most epochs to run.
    pub epochs: usize,
    /// Examples per mini-batch.
    pub batch_size: usize,
    /// The optimiser's learning rate.
    pub learning_rate: f64,
    /// The optimiser.
    pub optimizer: OptimizerKind,
    /// L2 strength λ.
    pub l2: f64,
    /// Dropout rate on hidden layers during training, in `[0, 1)`.
    pub dropout: f64,
    /// Weight of positive (fraud) examples in the cost; `None` balances the classes of the
    /// training data (`negatives / positives`).
    pub positive_weight: Option<f64>,
    /// Run the gradient check before epoch 1 and then before every K-th epoch; 0 never.
    pub check_every: usize,
    /// Examples in the gradient check's batch.
    pub check_examples: usize,
    /// Stop after this many epochs without a better validation PR-AUC; 0 never stops early.
    pub patience: usize,
    /// Seed of the initialisation, the shuffles, the dropout masks and the checks.
    pub seed: u32,
    /// Mistakes injected into the training gradient, to show the guardrail stopping training.
    #[serde(skip)]
    pub bugs: Vec<Bug>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            hidden: vec![32, 16],
            activation: Activation::Relu,
            epochs: 10,
            batch_size: 256,
            learning_rate: 1e-3,
            optimizer: OptimizerKind::ADAM,
            l2: 0.0,
            dropout: 0.0,
            positive_weight: Some(1.0),
            check_every: 1,
            check_examples: 64,
            patience: 3,
            seed: 0,
            bugs: Vec::new(),
        }
    }
}

impl TrainConfig {
    fn validate(&self) -> Result<()> {
        let invalid = |what: String| Err(Error::InvalidSetting(what));
        if self.epochs == 0 {
            return invalid("epochs must be at least 1".into());
        }
        if self.batch_size == 0 {
            return invalid("the batch size must be at least 1".into());
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return invalid(format!("dropout must be in [0, 1), got {}", self.dropout));
        }
        if self.check_every > 0 && self.check_examples == 0 {
            return invalid("a gradient check needs at least 1 example".into());
        }
        Ok(())
    }
}

/// Examples one per column (`x`: `(features, m)`) and their 0/1 labels.
#[derive(Clone, Copy, Debug)]
pub struct Examples<'a> {
    /// Standardised features, one example per column.
    pub x: ArrayView2<'a, f64>,
    /// Labels, one per column of `x`.
    pub y: &'a [f64],
}

impl Examples<'_> {
    fn expect_consistent(&self, what: &str) -> Result<()> {
        if self.x.ncols() != self.y.len() {
            return Err(Error::InvalidSetting(format!(
                "{what}: {} examples but {} labels",
                self.x.ncols(),
                self.y.len()
            )));
        }
        if self.y.is_empty() {
            return Err(Error::InvalidSetting(format!("{what}: no examples")));
        }
        if let Some(k) = self.y.iter().position(|&y| y != 0.0 && y != 1.0) {
            return Err(Error::InvalidSetting(format!(
                "{what}: label {k} is {}, not 0 or 1",
                self.y[k]
            )));
        }
        if let Some((k, v)) = self.x.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            let (feature, example) = (k / self.x.ncols(), k % self.x.ncols());
            return Err(Error::InvalidSetting(format!(
                "{what}: feature {feature} of example {example} is {v}"
            )));
        }
        Ok(())
    }
}

/// The outcome of one guardrail gradient check.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckSummary {
    /// The epoch about to start when the check ran (1-based).
    pub epoch: usize,
    /// Whether the hand-written gradient agreed with the numerical one.
    pub passed: bool,
    /// The largest per-tensor relative difference (the notebook's measure).
    pub max_difference: f64,
    /// Cost evaluations the check took.
    pub evaluations: usize,
    /// Its wall time.
    pub seconds: f64,
}

/// One epoch's figures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochSummary {
    /// 1-based.
    pub epoch: usize,
    /// Mean training cost over the epoch's batches (with dropout, as trained).
    pub train_loss: f64,
    /// Cost on the validation examples (no dropout).
    pub validation_loss: f64,
    /// Average precision on the validation examples.
    pub validation_pr_auc: f64,
    /// Training examples per second of this epoch (descent only).
    pub examples_per_second: f64,
    /// Wall time of the epoch, validation included.
    pub seconds: f64,
}

/// What training reports as it goes.
#[derive(Clone, Debug, PartialEq)]
pub enum Progress {
    /// A mini-batch was done.
    Batch {
        /// 1-based epoch.
        epoch: usize,
        /// Batches done in this epoch.
        done: usize,
        /// Batches in an epoch.
        batches: usize,
        /// This batch's cost.
        loss: f64,
    },
    /// A guardrail check passed (a failure ends training with an error instead).
    Check(CheckSummary),
    /// An epoch ended.
    Epoch(EpochSummary),
}

/// A trained network: its architecture, its best parameters, and how it got there.
#[derive(Clone, Debug)]
pub struct Trained {
    /// The architecture (with its activation, class weight and L2).
    pub mlp: Mlp,
    /// The parameters of the epoch with the best validation PR-AUC.
    pub theta: Tensors,
    /// Every epoch run.
    pub history: Vec<EpochSummary>,
    /// Every guardrail check run.
    pub checks: Vec<CheckSummary>,
    /// The epoch whose parameters were kept.
    pub best_epoch: usize,
    /// Whether early stopping ended training before `epochs`.
    pub stopped_early: bool,
    /// The positive-class weight used.
    pub positive_weight: f64,
}

/// Trains an MLP on `train`, validating on `validation` after each epoch.
///
/// ```
/// use fraudnet::train::{train, Examples, TrainConfig};
/// use ndarray::Array2;
/// // A separable toy: the label is the sign of the first feature.
/// let x = Array2::from_shape_fn((2, 200), |(i, j)| ((j * 7 + i * 3) % 11) as f64 - 5.0);
/// let y: Vec<f64> = (0..200).map(|j| f64::from(x[[0, j]] > 0.0)).collect();
/// let data = Examples { x: x.view(), y: &y };
/// let config = TrainConfig { hidden: vec![4], epochs: 5, learning_rate: 0.05, ..Default::default() };
/// let trained = train(&config, data, data, |_| {})?;
/// assert!(trained.checks.iter().all(|c| c.passed));
/// assert!(trained.history.last().unwrap().validation_pr_auc > 0.95);
/// # Ok::<(), fraudnet::Error>(())
/// ```
pub fn train(
    config: &TrainConfig,
    train: Examples<'_>,
    validation: Examples<'_>,
    mut progress: impl FnMut(&Progress),
) -> Result<Trained> {
    config.validate()?;
    train.expect_consistent("training data")?;
    validation.expect_consistent("validation data")?;
    if validation.x.nrows() != train.x.nrows() {
        return Err(Error::InvalidSetting(format!(
            "validation data has {} features, training data {}",
            validation.x.nrows(),
            train.x.nrows()
        )));
    }
    let positive_weight = match config.positive_weight {
        Some(weight) => weight,
        None => {
            let positives = train.y.iter().filter(|&&y| y == 1.0).count();
            let negatives = train.y.len() - positives;
            if positives == 0 {
                1.0
            } else {
                (negatives as f64 / positives as f64).max(1.0)
            }
        }
    };
    let mut sizes = vec![train.x.nrows()];
    sizes.extend(&config.hidden);
    sizes.push(1);
    let mlp = Mlp::new(&sizes)?
        .with_activation(config.activation)
        .with_positive_weight(positive_weight)?
        .with_l2(config.l2)?;
    let mut rng = NumpyRng::new(config.seed);
    let mut theta = mlp.initialize(&mut rng);
    let mut optimizer =
        Optimizer::new(config.optimizer, config.learning_rate, theta.values().len())?;
    // Refuse bugs the network cannot have before spending any time.
    Bug::check_all(&config.bugs, &mlp, config.dropout > 0.0)?;

    let m = train.y.len();
    let batches = m.div_ceil(config.batch_size);
    let mut order: Vec<usize> = (0..m).collect();
    // A batch larger than the split is the split: allocate no more than that.
    let mut x_batch = Vec::with_capacity(sizes[0] * config.batch_size.min(m));
    let mut history = Vec::new();
    let mut checks = Vec::new();
    let (mut best_pr_auc, mut best_epoch, mut best_theta) = (f64::NEG_INFINITY, 0, theta.clone());
    let mut stopped_early = false;
    for epoch in 1..=config.epochs {
        if config.check_every > 0 && (epoch - 1) % config.check_every == 0 {
            // The check draws from its own generator, so that checking (or not, or how
            // often) never changes the model that is trained.
            let mut check_rng = NumpyRng::new(
                config.seed.wrapping_mul(31).wrapping_add(epoch as u32) ^ 0x5eed_c4ec,
            );
            let summary = guard(config, &mlp, &theta, train, epoch, &mut check_rng)?;
            progress(&Progress::Check(summary.clone()));
            checks.push(summary);
        }
        let started = Instant::now();
        shuffle(&mut order, &mut rng);
        let mut loss_sum = 0.0;
        for (b, chunk) in order.chunks(config.batch_size).enumerate() {
            gather(train.x, chunk, &mut x_batch);
            let x = ArrayView2::from_shape((sizes[0], chunk.len()), &x_batch)
                .expect("the batch buffer holds features × examples");
            let y = Array2::from_shape_fn((1, chunk.len()), |(_, j)| train.y[chunk[j]]);
            let mask = if config.dropout > 0.0 {
                Some(DropoutMask::sample(
                    &mlp,
                    chunk.len(),
                    config.dropout,
                    &mut rng,
                )?)
            } else {
                None
            };
            let (forward, gradient) = gradient_with_bugs(
                &mlp,
                theta.values(),
                x,
                y.view(),
                mask.as_ref(),
                &config.bugs,
            )?;
            let loss = mlp.cost_from_forward(theta.values(), &forward, y.view());
            optimizer
                .step(theta.values_mut(), gradient.values())
                .map_err(|e| {
                    let reason = match e {
                        Error::InvalidSetting(reason) => reason,
                        other => other.to_string(),
                    };
                    Error::InvalidSetting(format!(
                        "training diverged in epoch {epoch}, batch {}: {reason}; no model saved",
                        b + 1
                    ))
                })?;
            loss_sum += loss;
            progress(&Progress::Batch {
                epoch,
                done: b + 1,
                batches,
                loss,
            });
        }
        let descent = started.elapsed().as_secs_f64();
        let scores = mlp.predict(theta.values(), validation.x)?;
        let labels = Array2::from_shape_vec((1, validation.y.len()), validation.y.to_vec())
            .expect("one row of labels");
        let validation_loss = mlp.cost(theta.values(), validation.x, labels.view())?;
        let validation_pr_auc = metrics::average_precision(&scores, validation.y)?.unwrap_or(0.0);
        diverged(epoch, loss_sum, validation_loss, theta.values())?;
        let summary = EpochSummary {
            epoch,
            train_loss: loss_sum / batches as f64,
            validation_loss,
            validation_pr_auc,
            examples_per_second: m as f64 / descent.max(1e-9),
            seconds: started.elapsed().as_secs_f64(),
        };
        progress(&Progress::Epoch(summary.clone()));
        history.push(summary);
        if validation_pr_auc > best_pr_auc {
            (best_pr_auc, best_epoch, best_theta) = (validation_pr_auc, epoch, theta.clone());
        } else if config.patience > 0 && epoch - best_epoch >= config.patience {
            stopped_early = epoch < config.epochs;
            break;
        }
    }
    Ok(Trained {
        mlp,
        theta: best_theta,
        history,
        checks,
        best_epoch,
        stopped_early,
        positive_weight,
    })
}

/// The guardrail: a directional and per-tensor check of the training gradient (bugs and all) on
/// `check_examples` training examples drawn with `rng`, through a frozen dropout mask.
fn guard(
    config: &TrainConfig,
    mlp: &Mlp,
    theta: &Tensors,
    train: Examples<'_>,
    epoch: usize,
    rng: &mut NumpyRng,
) -> Result<CheckSummary> {
    let m = train.y.len();
    let picks: Vec<usize> = (0..config.check_examples.min(m))
        .map(|_| ((rng.random_sample() * m as f64) as usize).min(m - 1))
        .collect();
    let x = Array2::from_shape_fn((train.x.nrows(), picks.len()), |(i, j)| {
        train.x[[i, picks[j]]]
    });
    let y = Array2::from_shape_fn((1, picks.len()), |(_, j)| train.y[picks[j]]);
    let mut problem = MlpProblem::new(mlp.clone(), x, y)?;
    if config.dropout > 0.0 {
        let mask_seed = (rng.random_sample() * f64::from(u32::MAX)) as u32;
        problem = problem.with_dropout(config.dropout, mask_seed)?;
    }
    let problem = problem.with_bugs(config.bugs.clone())?;
    let checker = Checker::new()
        .mode(Mode::Directional { top: 3 })
        .seed(u64::from(config.seed) ^ epoch as u64);
    let report = checker.check(&problem, theta.values())?;
    let summary = CheckSummary {
        epoch,
        // Training stops on evidence of a wrong gradient only: an inconclusive guardrail check
        // (e.g. a saturated network whose differences resolve nothing) is not such evidence.
        passed: report.verdict != Verdict::Fail,
        max_difference: report
            .tensors
            .iter()
            .map(|t| t.difference)
            .fold(0.0, f64::max),
        evaluations: report.evaluations,
        seconds: report.seconds,
    };
    if !summary.passed {
        return Err(Error::GradientCheckFailed {
            epoch,
            report: Box::new(report),
        });
    }
    Ok(summary)
}

/// Fisher–Yates with numpy's generator: same seed, same order.
fn shuffle(order: &mut [usize], rng: &mut NumpyRng) {
    for i in (1..order.len()).rev() {
        let j = ((rng.random_sample() * (i + 1) as f64) as usize).min(i);
        order.swap(i, j);
    }
}

/// Copies the columns `picks` of `x` into `out` as a row-major `(features, picks)` block.
fn gather(x: ArrayView2<'_, f64>, picks: &[usize], out: &mut Vec<f64>) {
    out.clear();
    for row in x.rows() {
        out.extend(picks.iter().map(|&j| row[j]));
    }
}

/// An error when training has diverged by the end of `epoch`: a loss or a weight is no longer
/// finite (a learning rate far too large), so that no model is saved from it.
fn diverged(epoch: usize, train_loss: f64, validation_loss: f64, theta: &[f64]) -> Result<()> {
    let what = if !train_loss.is_finite() {
        "the training loss"
    } else if !validation_loss.is_finite() {
        "the validation loss"
    } else if theta.iter().any(|v| !v.is_finite()) {
        "a weight"
    } else {
        return Ok(());
    };
    Err(Error::InvalidSetting(format!(
        "training diverged in epoch {epoch}: {what} is not finite; no model saved (lower the \
         learning rate)"
    )))
}
