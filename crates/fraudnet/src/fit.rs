//! From a labelled payment data set to a [`FraudModel`], as a story: a stratified
//! train/validation/test split, a standardiser fitted on the training split only, training with
//! gradient-check guardrails, a decision threshold chosen on the validation split, and the
//! model's metrics on the test split, which nothing before has looked at.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::data::{Dataset, Standardizer, stratified_split};
use crate::error::{Error, Result};
use crate::metrics::{self, Metrics};
use crate::model_file::FraudModel;
use crate::train::{Examples, Progress, TrainConfig, Trained, train};

/// How to split the data and choose the threshold, on top of the training settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FitConfig {
    /// The training settings (its seed also seeds the split).
    pub train: TrainConfig,
    /// Fraction of rows for validation (early stopping, threshold).
    pub validation_fraction: f64,
    /// Fraction of rows for the final test.
    pub test_fraction: f64,
    /// Choose the highest threshold reaching this recall on validation; `None` maximises F1.
    pub target_recall: Option<f64>,
}

impl Default for FitConfig {
    fn default() -> Self {
        FitConfig {
            train: TrainConfig::default(),
            validation_fraction: 0.15,
            test_fraction: 0.15,
            target_recall: None,
        }
    }
}

/// A fitted model with the evidence of how good it is.
#[derive(Clone, Debug)]
pub struct Fitted {
    /// The model, ready to save and score with.
    pub model: FraudModel,
    /// The training run (history, checks, best epoch).
    pub trained: Trained,
    /// Metrics on the validation split at the chosen threshold.
    pub validation: Metrics,
    /// Metrics on the test split at the chosen threshold.
    pub test: Metrics,
    /// Rows in the train, validation and test splits.
    pub split_sizes: [usize; 3],
    /// The test split's precision–recall curve.
    pub test_curve: Vec<metrics::PrPoint>,
}

/// Splits, standardises, trains, chooses the threshold and tests. `source` names the data in the
/// model's metadata.
pub fn fit(
    data: &Dataset,
    config: &FitConfig,
    source: &str,
    progress: impl FnMut(&Progress),
) -> Result<Fitted> {
    let train_fraction = 1.0 - config.validation_fraction - config.test_fraction;
    let split = stratified_split(
        &data.labels,
        train_fraction,
        config.validation_fraction,
        u64::from(config.train.seed),
    )?;
    let mut train_set = data.select(&split.train)?;
    let mut validation_set = data.select(&split.validation)?;
    let mut test_set = data.select(&split.test)?;
    for (set, name) in [
        (&train_set, "training"),
        (&validation_set, "validation"),
        (&test_set, "test"),
    ] {
        if set.is_empty() {
            return Err(Error::InvalidSetting(format!(
                "the {name} split is empty: {} rows are too few for these fractions",
                data.len()
            )));
        }
    }
    let scaler = Standardizer::fit(train_set.features.view())?;
    for set in [&mut train_set, &mut validation_set, &mut test_set] {
        scaler.transform_in_place(set.features.view_mut())?;
    }
    fn examples(set: &Dataset) -> Examples<'_> {
        Examples {
            x: set.features.view(),
            y: &set.labels,
        }
    }
    let trained = train(
        &config.train,
        examples(&train_set),
        examples(&validation_set),
        progress,
    )?;
    let validation_scores = trained
        .mlp
        .predict(trained.theta.values(), validation_set.features.view())?;
    let threshold = match config.target_recall {
        Some(recall) => {
            metrics::threshold_for_recall(&validation_scores, &validation_set.labels, recall)?
        }
        None => metrics::threshold_max_f1(&validation_scores, &validation_set.labels)?,
    }
    .ok_or_else(|| {
        Error::InvalidSetting(
            "the validation split has no fraud example: no threshold can be chosen".to_string(),
        )
    })?;
    let validation = Metrics::compute(&validation_scores, &validation_set.labels, threshold)?;
    let test_scores = trained
        .mlp
        .predict(trained.theta.values(), test_set.features.view())?;
    let test = Metrics::compute(&test_scores, &test_set.labels, threshold)?;
    let test_curve = metrics::pr_curve(&test_scores, &test_set.labels)?;
    let split_sizes = [train_set.len(), validation_set.len(), test_set.len()];
    let training = json!({
        "source": source,
        "rows": data.len(),
        "fraud_rate": data.fraud_rate(),
        "split": { "train": split_sizes[0], "validation": split_sizes[1], "test": split_sizes[2] },
        "config": config,
        "positive_weight": trained.positive_weight,
        "best_epoch": trained.best_epoch,
        "stopped_early": trained.stopped_early,
        // Without wall times: same data and seed, same model file bytes.
        "history": without_timings(&trained.history)?,
        "gradient_checks": without_timings(&trained.checks)?,
        "validation": validation,
        "test": test,
        "gradproof_version": env!("CARGO_PKG_VERSION"),
    });
    let model = FraudModel {
        mlp: trained.mlp.clone(),
        theta: trained.theta.clone(),
        scaler,
        schema: data.schema,
        feature_set: data.feature_set,
        threshold,
        training,
    };
    model.validate()?;
    Ok(Fitted {
        model,
        trained,
        validation,
        test,
        split_sizes,
        test_curve,
    })
}

/// `items` as JSON without the run-time measurements (`seconds`, `examples_per_second`), which
/// differ from run to run and so must stay out of a model file's bytes and checksum.
fn without_timings<T: serde::Serialize>(items: &[T]) -> Result<serde_json::Value> {
    let mut value =
        serde_json::to_value(items).map_err(|e| Error::InvalidSetting(e.to_string()))?;
    if let Some(items) = value.as_array_mut() {
        for item in items
            .iter_mut()
            .filter_map(serde_json::Value::as_object_mut)
        {
            item.remove("seconds");
            item.remove("examples_per_second");
        }
    }
    Ok(value)
}
