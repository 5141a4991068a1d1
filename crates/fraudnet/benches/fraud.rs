//! Throughput of the fraud pipeline, each against a baseline measured in the same run:
//!
//! * `train epoch`: one epoch of [`fraudnet::train::train`] (Adam, batch 256, no guardrail check)
//!   on 50 000 generated, standardised rows, for the `13 → 32 → 16 → 1` MLP and, as the baseline,
//!   a logistic regression (`13 → 1`, hidden `[]`). The epoch includes scoring a 2 000-row
//!   validation set and its PR-AUC, as every epoch of training does.
//! * `score 200k rows`: [`fraudnet::score::score_file`] of a generated 200 000-row file (read,
//!   standardise, predict, write `row,probability,flag`), against just reading the file with
//!   [`RecordReader::read_into`] (parsing and feature engineering, no model, no output), so the
//!   ratio is the model's and the writer's cost on top of parsing. Scoring reads the file in
//!   chunks on rayon's pool and the baseline on the calling thread alone, so the ratio depends
//!   on the thread count (`benches/score.rs` compares scoring with a plain parse).
//!
//! ```sh
//! cargo bench -p fraudnet --bench fraud
//! ```

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

mod common;

use common::{generated, small_model};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fraudnet::data::{RecordReader, Schema, Standardizer, generate_to_path};
use fraudnet::train::{Examples, TrainConfig, train};
use ndarray::{Array2, s};
use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;

const TRAIN_ROWS: usize = 50_000;
const VALIDATION_ROWS: usize = 2_000;
const SCORE_ROWS: u64 = 200_000;

fn train_epoch(c: &mut Criterion) {
    let data = generated(TRAIN_ROWS + VALIDATION_ROWS, 11);
    let mut x_train: Array2<f64> = data.features.slice(s![.., ..TRAIN_ROWS]).to_owned();
    let mut x_validation: Array2<f64> = data.features.slice(s![.., TRAIN_ROWS..]).to_owned();
    let scaler = Standardizer::fit(x_train.view()).expect("a scaler");
    scaler
        .transform_in_place(x_train.view_mut())
        .expect("standardising");
    scaler
        .transform_in_place(x_validation.view_mut())
        .expect("standardising");
    let (y_train, y_validation) = data.labels.split_at(TRAIN_ROWS);
    let training = Examples {
        x: x_train.view(),
        y: y_train,
    };
    let validation = Examples {
        x: x_validation.view(),
        y: y_validation,
    };
    let config = |hidden: Vec<usize>| TrainConfig {
        hidden,
        epochs: 1,
        batch_size: 256,
        check_every: 0,
        seed: 1,
        ..TrainConfig::default()
    };

    let mut group = c.benchmark_group("train epoch (50k rows, batch 256)");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .throughput(Throughput::Elements(TRAIN_ROWS as u64));
    for (name, hidden) in [
        ("mlp 13-32-16-1", vec![32, 16]),
        ("logistic regression 13-1 (baseline)", vec![]),
    ] {
        let config = config(hidden);
        let trained = train(&config, training, validation, |_| {}).expect("training");
        eprintln!(
            "{name}: one epoch, validation PR-AUC {:.4}, {:.0} examples/s (descent only)",
            trained.history[0].validation_pr_auc, trained.history[0].examples_per_second
        );
        group.bench_function(name, |b| {
            b.iter(|| train(&config, black_box(training), validation, |_| {}).expect("training"))
        });
    }
    group.finish();
}

/// Reads every row's features, as scoring does, without a model: the parsing baseline.
fn read_only(path: &Path) -> u64 {
    let mut reader = RecordReader::open(path, Schema::PaySim).expect("opening");
    let mut features = vec![0.0; reader.n_features()];
    let mut rows = 0;
    while let Some(info) = reader.read_into(&mut features).expect("a good row") {
        rows += 1;
        black_box((&features, info));
    }
    rows
}

fn score(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let input = dir.path().join("payments.csv");
    let output = dir.path().join("scores.csv");
    let mut rng = ChaCha8Rng::seed_from_u64(13);
    generate_to_path(&input, SCORE_ROWS, 0.01, &mut rng).expect("generating the file");
    let model = small_model();
    let summary = fraudnet::score::score_file(&model, &input, &output).expect("scoring");
    assert_eq!(summary.rows, SCORE_ROWS);
    assert_eq!(read_only(&input), SCORE_ROWS);
    eprintln!(
        "score_file: {} rows, {} flagged, {:.0} rows/s (first run)",
        summary.rows, summary.flagged, summary.rows_per_second
    );

    let mut group = c.benchmark_group("score 200k rows");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(9))
        .throughput(Throughput::Elements(SCORE_ROWS));
    group.bench_function("score_file", |b| {
        b.iter(|| fraudnet::score::score_file(&model, black_box(&input), &output).expect("scoring"))
    });
    group.bench_function("read_into only (baseline)", |b| {
        b.iter(|| read_only(black_box(&input)))
    });
    group.finish();
}

criterion_group!(benches, train_epoch, score);
criterion_main!(benches);
