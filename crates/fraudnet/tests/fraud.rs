//! The fraud model end to end through the library: training with guardrails (which stop a wrong
//! backward pass before the first step), determinism across runs and thread counts, the model
//! file's validation (truncation, tampering, versions, schema), and streaming scoring.

use std::fs;
use std::path::Path;

use fraudnet::data::{Dataset, Schema, generate};
use fraudnet::fit::{FitConfig, Fitted, fit};
use fraudnet::model_file::FraudModel;
use fraudnet::train::TrainConfig;
use fraudnet::{Activation, Bug, Error, Mlp};
use rand::SeedableRng;
use sha2::{Digest, Sha256};

/// A generated PaySim file of `rows` rows in `dir`.
fn payments(dir: &Path, rows: u64, seed: u64) -> std::path::PathBuf {
    let path = dir.join(format!("pay-{rows}-{seed}.csv"));
    let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(seed);
    let file = fs::File::create(&path).unwrap();
    generate(rows, 0.03, &mut rng, std::io::BufWriter::new(file)).unwrap();
    path
}

fn quick(hidden: &[usize]) -> FitConfig {
    FitConfig {
        train: TrainConfig {
            hidden: hidden.to_vec(),
            epochs: 3,
            batch_size: 128,
            learning_rate: 3e-3,
            check_every: 1,
            seed: 5,
            ..TrainConfig::default()
        },
        ..FitConfig::default()
    }
}

fn fit_file(path: &Path, config: &FitConfig) -> fraudnet::Result<Fitted> {
    let data = Dataset::load(path, Schema::PaySim)?;
    fit(&data, config, "test", |_| {})
}

#[test]
fn a_fitted_model_learns_passes_its_checks_and_survives_a_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = payments(dir.path(), 12_000, 1);
    let fitted = fit_file(&path, &quick(&[16, 8])).unwrap();
    assert_eq!(fitted.trained.checks.len(), 3);
    assert!(fitted.trained.checks.iter().all(|c| c.passed));
    let pr_auc = fitted.test.pr_auc.unwrap();
    // Learnable (far above the 3% base rate), not trivial.
    assert!(pr_auc > 0.15 && pr_auc < 0.99, "{pr_auc}");
    assert_eq!(fitted.split_sizes.iter().sum::<usize>(), 12_000);

    let file = dir.path().join("model.json");
    fitted.model.save(&file).unwrap();
    let loaded = FraudModel::load(&file).unwrap();
    assert_eq!(loaded, fitted.model);
    // Scores from the loaded model equal the fitted one's, and evaluate agrees with fit's
    // figures on the same rows (here: all of them, so just consistent and complete).
    let metrics = fraudnet::score::evaluate_file(&loaded, &path).unwrap();
    assert_eq!(metrics.rows, 12_000);
    assert_eq!(metrics.threshold, fitted.model.threshold);
    let out = dir.path().join("scores.csv");
    let summary = fraudnet::score::score_file(&loaded, &path, &out).unwrap();
    assert_eq!(summary.rows, 12_000);
    let text = fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "row,probability,flag");
    assert_eq!(lines.len(), 12_001);
    let flagged = lines[1..]
        .iter()
        .filter(|l| {
            let fields: Vec<&str> = l.split(',').collect();
            let p: f64 = fields[1].parse().unwrap();
            assert!((0.0..=1.0).contains(&p));
            assert_eq!(fields[2] == "1", p >= loaded.threshold, "{l}");
            fields[2] == "1"
        })
        .count() as u64;
    assert_eq!(flagged, summary.flagged);
    assert_eq!(
        flagged,
        metrics.confusion.tp + metrics.confusion.fp,
        "score and evaluate flag the same rows"
    );
}

#[test]
fn training_is_the_same_whatever_the_thread_count_and_run() {
    let dir = tempfile::tempdir().unwrap();
    let path = payments(dir.path(), 4_000, 2);
    let mut config = quick(&[8]);
    config.train.dropout = 0.2;
    let run = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| fit_file(&path, &config).unwrap())
    };
    let (one, two, again) = (run(1), run(2), run(2));
    let bits =
        |f: &Fitted| -> Vec<u64> { f.model.theta.values().iter().map(|v| v.to_bits()).collect() };
    assert_eq!(bits(&one), bits(&two));
    assert_eq!(bits(&two), bits(&again));
    assert_eq!(one.model.threshold.to_bits(), two.model.threshold.to_bits());
    config.train.seed += 1;
    let other = fit_file(&path, &config).unwrap();
    assert_ne!(bits(&other), bits(&one));
}

#[test]
fn the_guardrail_stops_training_on_a_wrong_backward_pass_and_names_the_tensor() {
    let dir = tempfile::tempdir().unwrap();
    let path = payments(dir.path(), 3_000, 3);
    let cases: [(&str, f64, &str); 4] = [
        ("dW1:scale=2", 0.0, "dW1"),
        ("db2:zero", 0.0, "db2"),
        ("dW2[0,1]:add=0.05", 0.0, "dW2"),
        ("dW1:dropout-unmasked", 0.3, "dW1"),
    ];
    for (spec, dropout, tensor) in cases {
        let mut config = quick(&[8, 4]);
        config.train.dropout = dropout;
        config.train.bugs = Bug::parse_all([spec]).unwrap();
        match fit_file(&path, &config) {
            Err(Error::GradientCheckFailed { epoch, report }) => {
                assert_eq!(epoch, 1, "{spec}: caught before the first step");
                assert!(report.failing().contains(&tensor), "{spec}: {report}");
            }
            other => panic!("{spec}: expected a failed check, got {other:?}"),
        }
    }
}

#[test]
fn every_activation_trains_with_l2_dropout_and_class_weights_under_its_checks() {
    let dir = tempfile::tempdir().unwrap();
    let path = payments(dir.path(), 3_000, 4);
    for activation in Activation::ALL {
        let mut config = quick(&[8, 6]);
        config.train.activation = activation;
        config.train.l2 = 0.5;
        config.train.dropout = 0.25;
        config.train.positive_weight = None; // balanced
        config.train.epochs = 2;
        let fitted = fit_file(&path, &config).unwrap();
        assert!(
            fitted.trained.checks.iter().all(|c| c.passed),
            "{activation}"
        );
        assert!(
            fitted.trained.positive_weight > 10.0,
            "balanced weight for 3% fraud"
        );
        assert!(
            fitted.test.roc_auc.unwrap() > 0.6,
            "{activation}: {:?}",
            fitted.test
        );
    }
}

/// An edit of a model file's JSON.
type Edit = Box<dyn Fn(&mut serde_json::Value)>;

/// The model file's JSON with its content edited by `edit`, re-signed when `resign`.
fn edited(text: &str, resign: bool, edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let mut envelope: serde_json::Value = serde_json::from_str(text).unwrap();
    edit(&mut envelope);
    if resign {
        let content = serde_json::to_vec(&envelope["content"]).unwrap();
        let digest: String = Sha256::digest(&content)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        envelope["sha256"] = digest.into();
    }
    serde_json::to_string(&envelope).unwrap()
}

#[test]
fn a_damaged_tampered_or_foreign_model_file_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let path = payments(dir.path(), 3_000, 6);
    let mut config = quick(&[4]);
    config.train.epochs = 1;
    let text = fit_file(&path, &config).unwrap().model.to_json().unwrap();
    let refused = |text: &str| {
        FraudModel::from_json(text, "m.json")
            .unwrap_err()
            .to_string()
    };

    let error = refused(&text[..text.len() / 2]);
    assert!(
        error.contains("m.json") && error.contains("truncated"),
        "{error}"
    );
    let error = refused("{\"hello\": 1}");
    assert!(error.contains("not a model file"), "{error}");

    // One weight changed, checksum left alone: tampering.
    let tampered = edited(&text, false, |e| {
        let w = &mut e["content"]["parameters"][0]["values"][0];
        *w = (w.as_f64().unwrap() + 1e-9).into();
    });
    let error = refused(&tampered);
    assert!(error.contains("checksum mismatch"), "{error}");

    let error = refused(&edited(&text, false, |e| e["version"] = 99.into()));
    assert!(
        error.contains("version 99") && error.contains("newer"),
        "{error}"
    );
    let error = refused(&edited(&text, false, |e| e["format"] = "other".into()));
    assert!(error.contains("'other'"), "{error}");

    // Consistent checksums but inconsistent content: each named.
    let cases: [(&str, Edit); 5] = [
        (
            "other data",
            Box::new(|e| e["content"]["features"][0] = "V1".into()),
        ),
        (
            "the card schema's",
            Box::new(|e| e["content"]["schema"] = "card".into()),
        ),
        (
            "W1 has shape",
            Box::new(|e| e["content"]["parameters"][0]["shape"] = serde_json::json!([3, 13])),
        ),
        (
            "threshold must be a probability",
            Box::new(|e| e["content"]["threshold"] = 1.5.into()),
        ),
        (
            "standardiser",
            Box::new(|e| e["content"]["scaler"]["std"][2] = (-1.0).into()),
        ),
    ];
    for (expected, edit) in cases {
        let error = refused(&edited(&text, true, |e| edit(e)));
        assert!(
            error.to_lowercase().contains(&expected.to_lowercase()),
            "{expected}: {error}"
        );
    }
    // And an untouched file loads.
    FraudModel::from_json(&text, "m.json").unwrap();
}

#[test]
fn a_failed_score_leaves_no_partial_output_and_keeps_the_old_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = payments(dir.path(), 3_000, 7);
    let mut config = quick(&[4]);
    config.train.epochs = 1;
    let model = fit_file(&path, &config).unwrap().model;
    let out = dir.path().join("scores.csv");
    fs::write(&out, "previous scores\n").unwrap();
    // A good file with a bad row far down (line 2501).
    let text = fs::read_to_string(&path).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    lines[2500] = lines[2500].replacen(",PAYMENT,", ",PAYMNT,", 1);
    lines[2500] = lines[2500].replacen(",CASH_OUT,", ",PAYMNT,", 1);
    lines[2500] = lines[2500].replacen(",CASH_IN,", ",PAYMNT,", 1);
    lines[2500] = lines[2500].replacen(",TRANSFER,", ",PAYMNT,", 1);
    lines[2500] = lines[2500].replacen(",DEBIT,", ",PAYMNT,", 1);
    let bad = dir.path().join("bad.csv");
    fs::write(&bad, lines.join("\n")).unwrap();
    let error = fraudnet::score::score_file(&model, &bad, &out)
        .unwrap_err()
        .to_string();
    assert!(error.contains("bad.csv:2501:2"), "{error}");
    assert_eq!(fs::read_to_string(&out).unwrap(), "previous scores\n");
    let leftovers: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn the_cost_and_gradient_stay_finite_for_logits_up_to_1e4() {
    let mlp = Mlp::new(&[2, 1]).unwrap();
    let x = ndarray::array![[1.0, 1.0, -1.0, -1.0], [0.0, 0.0, 0.0, 0.0]];
    let y = ndarray::array![[1.0, 0.0, 1.0, 0.0]];
    for w in [1e2, 1e3, 1e4] {
        let theta = [w, 0.0, 0.0];
        let cost = mlp.cost(&theta, x.view(), y.view()).unwrap();
        // Two examples are right with certainty (cost ~0), two wrong by |z| = w: 2w / 4.
        assert!((cost - w / 2.0).abs() <= 1e-9 * w, "{w}: {cost}");
        let gradient = mlp.gradient(&theta, x.view(), y.view()).unwrap();
        assert!(gradient.values().iter().all(|g| g.is_finite()), "{w}");
        // dJ/dw = (1/4)·Σ (σ(z) − y)·x = (1/4)·(0 + 1 + 1 + 0) = 0.5.
        assert!((gradient.values()[0] - 0.5).abs() < 1e-12);
    }
}

#[test]
fn checking_or_not_trains_the_same_model() {
    let dir = tempfile::tempdir().unwrap();
    let path = payments(dir.path(), 3_000, 8);
    let mut config = quick(&[8]);
    config.train.dropout = 0.2;
    let models: Vec<Vec<u64>> = [0, 1, 2]
        .into_iter()
        .map(|every| {
            config.train.check_every = every;
            let fitted = fit_file(&path, &config).unwrap();
            assert_eq!(fitted.trained.checks.len(), [0, 3, 2][every]);
            fitted
                .model
                .theta
                .values()
                .iter()
                .map(|v| v.to_bits())
                .collect()
        })
        .collect();
    assert_eq!(models[0], models[1]);
    assert_eq!(models[0], models[2]);
}
