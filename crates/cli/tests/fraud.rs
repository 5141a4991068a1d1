//! End-to-end runs of the fraud pipeline through the binary: `generate` → `train` → `evaluate` →
//! `score`, determinism of training, the gradient-check guardrail refusing to save a model,
//! bad inputs (exit 2 with `file:line:column`), damaged model files, and `check`'s extras.

mod common;

use common::*;

use std::fs;
use std::path::Path;
use std::process::Output;

use serde_json::Value;

/// `gradproof train --quiet --format json` with `extra` arguments, returning the output.
fn train_raw(data: &Path, model: &Path, extra: &[&str], env: &[(&str, &str)]) -> Output {
    let mut args = vec![
        "train",
        "--data",
        s(data),
        "--out",
        s(model),
        "--quiet",
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    gradproof_env(&args, env)
}

/// A successful training run's JSON summary.
fn train(data: &Path, model: &Path, extra: &[&str], env: &[(&str, &str)]) -> Value {
    let out = train_raw(data, model, extra, env);
    expect_code(&out, 0, "train");
    serde_json::from_slice(&out.stdout).expect("train prints JSON")
}

const SMALL: [&str; 4] = ["--epochs", "3", "--hidden", "16,8"];

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&fs::read_to_string(path).unwrap()).expect("valid JSON")
}

fn f64_at(v: &Value, pointer: &str) -> f64 {
    v.pointer(pointer)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("no number at {pointer} in {v}"))
}

/// Removes column `column` (0-based) from every line of a CSV.
fn without_column(csv: &str, column: usize) -> String {
    csv.lines()
        .map(|line| {
            let mut fields: Vec<&str> = line.split(',').collect();
            fields.remove(column);
            fields.join(",") + "\n"
        })
        .collect()
}

#[test]
fn generate_writes_the_same_bytes_for_the_same_seed() {
    let dir = tempfile::tempdir().unwrap();
    let a = generate(dir.path(), "a.csv", 20_000, 0.02, 3);
    let b = generate(dir.path(), "b.csv", 20_000, 0.02, 3);
    let c = generate(dir.path(), "c.csv", 20_000, 0.02, 4);
    let (a, b, c) = (
        fs::read(a).unwrap(),
        fs::read(b).unwrap(),
        fs::read(c).unwrap(),
    );
    assert_eq!(a, b, "same seed, different bytes");
    assert_ne!(a, c, "another seed, same bytes");
    let csv = text(&a);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 20_001);
    assert_eq!(
        lines[0],
        "step,type,amount,nameOrig,oldbalanceOrg,newbalanceOrig,nameDest,oldbalanceDest,\
         newbalanceDest,isFraud,isFlaggedFraud"
    );
    let fraud = lines[1..]
        .iter()
        .filter(|l| l.split(',').nth(9) == Some("1"))
        .count();
    assert_eq!(fraud, 400, "a 2% fraud rate of 20000 rows");
}

#[test]
fn train_evaluate_and_score_agree_with_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let data = generate(dir.path(), "pay.csv", 20_000, 0.02, 3);
    let model = dir.path().join("model.json");
    let summary = train(&data, &model, &SMALL, &[]);

    // The training summary.
    assert!(model.is_file());
    assert_eq!(summary["model"], s(&model));
    // 13 per-row and 6 history features: the default for PaySim CSV.
    assert_eq!(summary["architecture"], serde_json::json!([19, 16, 8, 1]));
    assert_eq!(summary["activation"], "relu");
    let split: Vec<u64> = summary["split"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(split.iter().sum::<u64>(), 20_000);
    assert_eq!(summary["history"].as_array().unwrap().len(), 3);
    let checks = summary["gradient_checks"].as_array().unwrap();
    let epochs: Vec<u64> = checks
        .iter()
        .map(|c| c["epoch"].as_u64().unwrap())
        .collect();
    assert_eq!(
        epochs,
        [1, 2, 3],
        "--check-every 1 checks before every epoch"
    );
    for check in checks {
        assert_eq!(check["passed"], true);
        assert!(f64_at(check, "/max_difference") < 1e-6, "{check}");
    }
    for key in [
        "pr_auc",
        "roc_auc",
        "precision",
        "recall",
        "f1",
        "threshold",
    ] {
        let v = f64_at(&summary, &format!("/test/{key}"));
        assert!((0.0..=1.0).contains(&v), "test.{key} = {v}");
    }
    assert_eq!(summary["test"]["rows"].as_u64(), Some(split[2]));
    // Better than flagging at random (the PR-AUC of a random score is the fraud rate).
    assert!(
        f64_at(&summary, "/test/pr_auc") > 0.1,
        "{}",
        summary["test"]
    );
    assert!(
        f64_at(&summary, "/test/roc_auc") > 0.7,
        "{}",
        summary["test"]
    );

    let file = read_json(&model);
    assert_eq!(file["format"], "gradproof-fraud-model");
    assert_eq!(file["version"], 1);
    let threshold = f64_at(&file, "/content/threshold");
    assert_eq!(threshold, f64_at(&summary, "/threshold"));

    // evaluate on the whole file, at the model's threshold.
    let out = gradproof(&[
        "evaluate",
        "--model",
        s(&model),
        "--data",
        s(&data),
        "--format",
        "json",
    ]);
    expect_code(&out, 0, "evaluate");
    let metrics: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(metrics["rows"], 20_000);
    assert_eq!(metrics["positives"], 400);
    assert_eq!(f64_at(&metrics, "/threshold"), threshold);
    for key in ["pr_auc", "roc_auc", "precision", "recall", "f1"] {
        let v = f64_at(&metrics, &format!("/{key}"));
        assert!((0.0..=1.0).contains(&v), "{key} = {v}");
    }
    let confusion = &metrics["confusion"];
    let count = |k: &str| confusion[k].as_u64().unwrap();
    assert_eq!(
        count("tp") + count("fp") + count("tn") + count("fn"),
        20_000
    );
    assert_eq!(count("tp") + count("fn"), 400);
    let precision = count("tp") as f64 / (count("tp") + count("fp")) as f64;
    assert!((f64_at(&metrics, "/precision") - precision).abs() < 1e-12);

    // score: one line per row, flags at the model's threshold, the same flags as evaluate's.
    let scores = dir.path().join("scores.csv");
    let out = gradproof(&[
        "score",
        "--model",
        s(&model),
        "--data",
        s(&data),
        "-o",
        s(&scores),
    ]);
    expect_code(&out, 0, "score");
    let stdout = text(&out.stdout);
    assert!(stdout.contains("scored 20000 rows"), "{stdout}");
    assert!(stdout.contains("rows/s"), "{stdout}");
    let written = fs::read_to_string(&scores).unwrap();
    let mut lines = written.lines();
    assert_eq!(lines.next(), Some("row,probability,flag"));
    let mut flagged = 0;
    let mut distinct = std::collections::BTreeSet::new();
    for (k, line) in lines.enumerate() {
        let fields: Vec<&str> = line.split(',').collect();
        assert_eq!(fields.len(), 3, "{line}");
        assert_eq!(fields[0].parse::<usize>().unwrap(), k + 1, "{line}");
        let p: f64 = fields[1].parse().unwrap();
        assert!((0.0..=1.0).contains(&p), "{line}");
        let flag = fields[2];
        assert_eq!(flag, if p >= threshold { "1" } else { "0" }, "{line}");
        flagged += usize::from(flag == "1");
        distinct.insert(fields[1].to_string());
        assert!(k < 20_000, "more lines than rows");
    }
    assert_eq!(written.lines().count(), 20_001);
    assert!(distinct.len() > 1000, "the scores hardly vary");
    assert_eq!(flagged as u64, count("tp") + count("fp"));
    assert!(
        stdout.contains(&format!("({flagged} flagged")),
        "{stdout} vs {flagged}"
    );
}

/// A model file with the fields that legitimately vary between identical runs (wall times and
/// rates, and the checksum that covers them) blanked out.
fn without_wall_times(mut v: Value) -> Value {
    fn strip(v: &mut Value) {
        match v {
            Value::Object(map) => {
                for key in ["seconds", "examples_per_second"] {
                    if let Some(x) = map.get_mut(key) {
                        *x = Value::Null;
                    }
                }
                map.values_mut().for_each(strip);
            }
            Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    strip(&mut v);
    v["sha256"] = Value::Null;
    v
}

fn assert_same_model(a_path: &Path, b_path: &Path, what: &str) {
    let (a, b) = (read_json(a_path), read_json(b_path));
    for part in ["parameters", "threshold", "scaler", "architecture"] {
        assert_eq!(a["content"][part], b["content"][part], "{what}: {part}");
    }
    assert!(!a["content"]["parameters"].as_array().unwrap().is_empty());
    assert_eq!(without_wall_times(a), without_wall_times(b), "{what}");
    // Byte for byte, but for the wall times and the checksum that covers them.
    let bytes = |path: &Path| -> Vec<String> {
        fs::read_to_string(path)
            .unwrap()
            .lines()
            .filter(|l| {
                !["\"seconds\":", "\"examples_per_second\":", "\"sha256\":"]
                    .iter()
                    .any(|key| l.trim_start().starts_with(key))
            })
            .map(str::to_string)
            .collect()
    };
    assert_eq!(bytes(a_path), bytes(b_path), "{what}: bytes");
}

#[test]
fn training_is_deterministic_whatever_the_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let data = generate(dir.path(), "pay.csv", 20_000, 0.02, 3);
    let model = |name: &str| dir.path().join(name);
    let args = [&SMALL[..], &["--dropout", "0.1", "--seed", "7"]].concat();
    train(&data, &model("a.json"), &args, &[]);
    train(&data, &model("b.json"), &args, &[]);
    assert_same_model(&model("a.json"), &model("b.json"), "same command twice");
    train(
        &data,
        &model("one.json"),
        &args,
        &[("RAYON_NUM_THREADS", "1")],
    );
    train(
        &data,
        &model("two.json"),
        &args,
        &[("RAYON_NUM_THREADS", "2")],
    );
    assert_same_model(&model("one.json"), &model("two.json"), "1 vs 2 threads");
    assert_same_model(&model("a.json"), &model("one.json"), "default vs 1 thread");
    // Another seed gives another model: the comparison above can fail.
    let other = [&SMALL[..], &["--dropout", "0.1", "--seed", "8"]].concat();
    train(&data, &model("c.json"), &other, &[]);
    let (a, c) = (read_json(&model("a.json")), read_json(&model("c.json")));
    assert_ne!(a["content"]["parameters"], c["content"]["parameters"]);
}

#[test]
fn the_mlp_beats_the_logistic_regression_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let data = generate(dir.path(), "pay.csv", 50_000, 0.02, 3);
    // Per-row features, as when this was measured (with history both score far higher).
    let common = ["--epochs", "3", "--seed", "1", "--features", "row"];
    let mlp = train(
        &data,
        &dir.path().join("mlp.json"),
        &[&common[..], &["--hidden", "16,8"]].concat(),
        &[],
    );
    let baseline = train(
        &data,
        &dir.path().join("lr.json"),
        &[&common[..], &["--hidden", ""]].concat(),
        &[],
    );
    assert_eq!(baseline["architecture"], serde_json::json!([13, 1]));
    let lr_params = read_json(&dir.path().join("lr.json"))["content"]["parameters"].clone();
    let names: Vec<&str> = lr_params
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["W1", "b1"]);
    let (m, b) = (
        f64_at(&mlp, "/test/pr_auc"),
        f64_at(&baseline, "/test/pr_auc"),
    );
    // Measured: 0.40 against 0.04 (the baseline barely leaves the 0.02 base rate in 3 epochs).
    assert!(m > 0.25, "MLP test PR-AUC {m}");
    assert!(
        m > 2.0 * b,
        "MLP test PR-AUC {m} vs logistic regression {b}"
    );
}

#[test]
fn a_wrong_training_gradient_stops_training_and_saves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = generate(dir.path(), "pay.csv", 5_000, 0.02, 3);
    let model = dir.path().join("model.json");
    train(&data, &model, &SMALL, &[]);
    let good = fs::read(&model).unwrap();
    let before = listing(dir.path());
    let cases: [(&[&str], &[&str]); 3] = [
        (&["--bug", "dW1:scale=2"], &["dW1"]),
        (&["--bug", "db2:zero"], &["db2"]),
        (
            &["--dropout", "0.3", "--bug", "dW1:dropout-unmasked"],
            &["dW1"],
        ),
    ];
    for (bug, names) in cases {
        let args = [&SMALL[..], bug].concat();
        // Over an existing model: it stays as it was.
        let out = train_raw(&data, &model, &args, &[]);
        expect_code(&out, 1, &format!("{bug:?}"));
        let stdout = text(&out.stdout);
        assert!(
            stdout.contains("gradient check failed before epoch 1"),
            "{stdout}"
        );
        assert!(stdout.contains("no model saved"), "{stdout}");
        let verdict = stdout
            .lines()
            .find(|l| l.starts_with("the gradient is WRONG in"))
            .unwrap_or_else(|| panic!("no verdict line: {stdout}"));
        for name in names {
            assert!(verdict.contains(name), "{bug:?}: {verdict}");
            let row = stdout
                .lines()
                .find(|l| l.trim_start().starts_with(&format!("{name} ")))
                .unwrap_or_else(|| panic!("no row for {name}: {stdout}"));
            assert!(row.contains("WRONG"), "{row}");
        }
        assert!(!verdict.contains("dW3"), "{bug:?}: {verdict}");
        assert_eq!(fs::read(&model).unwrap(), good, "{bug:?} changed the model");
        assert_eq!(listing(dir.path()), before, "{bug:?} left a file behind");
        // To a new path: nothing is created.
        let fresh = dir.path().join("fresh.json");
        let out = train_raw(&data, &fresh, &args, &[]);
        expect_code(&out, 1, &format!("{bug:?}"));
        assert!(!fresh.exists(), "{bug:?} saved a model");
        assert_eq!(listing(dir.path()), before, "{bug:?} left a file behind");
    }
}

#[test]
fn bad_rows_and_headers_exit_2_naming_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let data = generate(dir.path(), "pay.csv", 3_000, 0.05, 5);
    let model = dir.path().join("model.json");
    train(&data, &model, &["--epochs", "1", "--hidden", "4"], &[]);
    let trained = fs::read(&model).unwrap();
    let csv = fs::read_to_string(&data).unwrap();
    let write = |name: &str, content: String| {
        let path = dir.path().join(name);
        fs::write(&path, content).unwrap();
        path
    };
    // Data row 4 is physical line 5; `amount` is the third column.
    let amount = write("amount.csv", with_field(&head(&csv, 10), 4, 2, "12x.5"));
    // `oldbalanceDest` is the eighth column.
    let missing = write("missing.csv", without_column(&head(&csv, 10), 7));
    let kind = write("kind.csv", with_field(&head(&csv, 10), 3, 1, "WIRE"));
    let cases = [
        (&amount, ":5:3:", "`amount` is not a number: \"12x.5\""),
        (&missing, ":1:", "missing column `oldbalanceDest`"),
        (&kind, ":4:2:", "`type` is \"WIRE\""),
    ];
    let scores = dir.path().join("scores.csv");
    for (path, place, message) in cases {
        let runs: [Vec<&str>; 3] = [
            vec!["train", "--data", s(path), "--quiet", "--out", s(&model)],
            vec!["evaluate", "--model", s(&model), "--data", s(path)],
            vec![
                "score",
                "--model",
                s(&model),
                "--data",
                s(path),
                "-o",
                s(&scores),
            ],
        ];
        for args in runs {
            let out = gradproof(&args);
            expect_code(&out, 2, &format!("{args:?}"));
            let stderr = text(&out.stderr);
            let located = format!("{}{place}", s(path));
            assert!(stderr.contains(&located), "{args:?}: {stderr}");
            assert!(stderr.contains(message), "{args:?}: {stderr}");
            assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        }
    }
    assert!(!scores.exists());
    assert_eq!(
        fs::read(&model).unwrap(),
        trained,
        "a failed train touched the model"
    );
}

#[test]
fn evaluate_needs_labels_but_score_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let data = generate(dir.path(), "pay.csv", 3_000, 0.05, 5);
    let model = dir.path().join("model.json");
    train(&data, &model, &["--epochs", "1", "--hidden", "4"], &[]);
    // Drop `isFraud` and `isFlaggedFraud`.
    let csv = fs::read_to_string(&data).unwrap();
    let unlabelled = dir.path().join("unlabelled.csv");
    fs::write(&unlabelled, without_column(&without_column(&csv, 10), 9)).unwrap();
    let out = gradproof(&["evaluate", "--model", s(&model), "--data", s(&unlabelled)]);
    expect_code(&out, 2, "evaluate without labels");
    let stderr = text(&out.stderr);
    assert!(stderr.contains("no 'isFraud' column"), "{stderr}");
    assert!(stderr.contains("needs labelled rows"), "{stderr}");
    let scores = dir.path().join("scores.csv");
    let out = gradproof(&[
        "score",
        "--model",
        s(&model),
        "--data",
        s(&unlabelled),
        "-o",
        s(&scores),
    ]);
    expect_code(&out, 0, "score without labels");
    // The labels were never an input to the scores.
    let labelled = dir.path().join("labelled.csv");
    let out = gradproof(&[
        "score",
        "--model",
        s(&model),
        "--data",
        s(&data),
        "-o",
        s(&labelled),
    ]);
    expect_code(&out, 0, "score with labels");
    let written = fs::read_to_string(&scores).unwrap();
    assert_eq!(written.lines().count(), 3_001);
    assert_eq!(written, fs::read_to_string(&labelled).unwrap());
}

#[test]
fn damaged_model_files_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let data = generate(dir.path(), "pay.csv", 3_000, 0.05, 5);
    let model = dir.path().join("model.json");
    train(&data, &model, &["--epochs", "1", "--hidden", "4"], &[]);
    let original = fs::read_to_string(&model).unwrap();

    let truncated = original[..original.len() / 2].to_string();
    // One digit of the first weight changes: the first non-zero digit, so the value changes.
    let start = original.find("\"values\": [").unwrap() + "\"values\": [".len();
    let offset = original[start..]
        .find(|c: char| c.is_ascii_digit() && c != '0')
        .unwrap();
    let at = start + offset;
    let digit = &original[at..=at];
    let replacement = if digit == "1" { "2" } else { "1" };
    let tampered = format!("{}{replacement}{}", &original[..at], &original[at + 1..]);
    assert_ne!(tampered, original);
    assert!(original.contains("\"version\": 1,"));
    let future = original.replacen("\"version\": 1,", "\"version\": 99,", 1);

    let scores = dir.path().join("scores.csv");
    fs::write(&scores, "an earlier run's scores\n").unwrap();
    for (name, content, message) in [
        ("truncated.json", truncated, "truncated"),
        ("tampered.json", tampered, "checksum mismatch"),
        ("future.json", future, "format version 99 is not supported"),
    ] {
        let path = dir.path().join(name);
        fs::write(&path, content).unwrap();
        let runs = [
            vec!["evaluate", "--model", s(&path), "--data", s(&data)],
            vec![
                "score",
                "--model",
                s(&path),
                "--data",
                s(&data),
                "-o",
                s(&scores),
            ],
        ];
        for args in runs {
            let out = gradproof(&args);
            expect_code(&out, 2, &format!("{args:?}"));
            let stderr = text(&out.stderr);
            assert!(stderr.contains(s(&path)), "{args:?}: {stderr}");
            assert!(stderr.contains(message), "{args:?}: {stderr}");
            assert!(out.stdout.is_empty(), "{args:?}");
        }
    }
    assert_eq!(
        fs::read_to_string(&scores).unwrap(),
        "an earlier run's scores\n"
    );
    // The untouched model still loads.
    let out = gradproof(&["evaluate", "--model", s(&model), "--data", s(&data)]);
    expect_code(&out, 0, "evaluate with the original model");
}

#[test]
fn a_failed_score_leaves_no_partial_output() {
    let dir = tempfile::tempdir().unwrap();
    let data = generate(dir.path(), "pay.csv", 12_000, 0.05, 5);
    let model = dir.path().join("model.json");
    train(&data, &model, &["--epochs", "1", "--hidden", "4"], &[]);
    // Row 9000 is bad: two blocks of 4096 rows were scored (and written) before it.
    let csv = fs::read_to_string(&data).unwrap();
    let bad = dir.path().join("bad.csv");
    fs::write(&bad, with_field(&csv, 9_000, 4, "-")).unwrap();
    let scores = dir.path().join("scores.csv");
    fs::write(&scores, "an earlier run's scores\n").unwrap();
    let before = listing(dir.path());
    let fresh = dir.path().join("fresh.csv");
    for out_path in [&scores, &fresh] {
        let out = gradproof(&[
            "score",
            "--model",
            s(&model),
            "--data",
            s(&bad),
            "-o",
            s(out_path),
        ]);
        expect_code(&out, 2, "score of a bad file");
        let stderr = text(&out.stderr);
        assert!(stderr.contains(&format!("{}:9001:5:", s(&bad))), "{stderr}");
        assert!(
            stderr.contains("`oldbalanceOrg` is not a number"),
            "{stderr}"
        );
        assert_eq!(listing(dir.path()), before, "a partial output was left");
    }
    assert_eq!(
        fs::read_to_string(&scores).unwrap(),
        "an earlier run's scores\n"
    );
    assert!(!fresh.exists());
    // The same command on the good file replaces the old output.
    let out = gradproof(&[
        "score",
        "--model",
        s(&model),
        "--data",
        s(&data),
        "-o",
        s(&scores),
    ]);
    expect_code(&out, 0, "score of the good file");
    assert_eq!(fs::read_to_string(&scores).unwrap().lines().count(), 12_001);
}

#[test]
fn check_plot_writes_a_png() {
    let dir = tempfile::tempdir().unwrap();
    let plot = dir.path().join("steps.png");
    let out = gradproof(&["check", "--plot", s(&plot)]);
    expect_code(&out, 0, "check --plot");
    let bytes = fs::read(&plot).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    assert_eq!(&bytes[12..16], b"IHDR");
    let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    assert!(width >= 200 && height >= 100, "{width}×{height}");
    assert!(bytes.len() > 2_000, "a {} byte picture", bytes.len());
    assert!(text(&out.stderr).contains("smallest error"));
}

#[test]
fn check_handles_tanh_dropout_and_l2_and_catches_an_unmasked_dropout_gradient() {
    let run = |extra: &[&str]| {
        let mut args = vec!["check", "--format", "json"];
        args.extend_from_slice(extra);
        let out = gradproof(&args);
        let v: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", text(&out.stderr)));
        (out.status.code(), v)
    };
    let (code, v) = run(&["--activation", "tanh", "--dropout", "0.3", "--l2", "0.1"]);
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["verdict"], "pass");
    let (code, v) = run(&["--dropout", "0.3", "--bug", "dW1:dropout-unmasked"]);
    assert_eq!(code, Some(1), "{v}");
    assert_eq!(v["verdict"], "fail");
    let failing: Vec<&str> = v["failing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert!(failing.contains(&"dW1"), "{failing:?}");
    assert!(!failing.iter().any(|g| g.ends_with('3')), "{failing:?}");
}

/// The probability column of a `row,probability,flag` CSV.
fn probabilities(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap().to_string())
        .collect()
}

#[test]
fn score_state_carries_history_across_files_and_formats_and_history_is_refused_without_accounts() {
    let dir = tempfile::tempdir().unwrap();
    let data = generate(dir.path(), "pay.csv", 6_000, 0.05, 4);
    let out = train_raw(&data, &dir.path().join("m.json"), &SMALL, &[]);
    expect_code(&out, 0, "train");
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["features"], "history", "the default for PaySim CSV");
    assert_eq!(summary["architecture"][0], 19);
    let model = dir.path().join("m.json");
    let csv = fs::read_to_string(&data).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    let half = lines.len() / 2;
    let first = format!("{}\n", lines[..half].join("\n"));
    let second = format!("{}\n{}\n", lines[0], lines[half..].join("\n"));
    fs::write(dir.path().join("a.csv"), first).unwrap();
    fs::write(dir.path().join("b.csv"), second).unwrap();
    let state = dir.path().join("state.json");
    let score = |input: &str, output: &str, with_state: bool| {
        let (input, output) = (dir.path().join(input), dir.path().join(output));
        let mut args = vec![
            "score",
            "--model",
            s(&model),
            "--data",
            s(&input),
            "-o",
            s(&output),
        ];
        if with_state {
            args.extend(["--state", s(&state)]);
        }
        let out = gradproof(&args);
        expect_code(&out, 0, "score");
        (text(&out.stdout), text(&out.stderr))
    };
    let (stdout, _) = score("pay.csv", "whole.csv", false);
    assert!(
        stdout.contains("account history started cold (no --state)"),
        "{stdout}"
    );
    let (_, stderr) = score("a.csv", "a_out.csv", true);
    assert!(stderr.contains("starting cold"), "{stderr}");
    assert!(state.exists());
    let (stdout, stderr) = score("b.csv", "b_out.csv", true);
    assert!(stderr.contains("continuing from"), "{stderr}");
    assert!(stdout.contains("account history saved to"), "{stdout}");
    let mut halves = probabilities(&dir.path().join("a_out.csv"));
    halves.extend(probabilities(&dir.path().join("b_out.csv")));
    assert_eq!(halves, probabilities(&dir.path().join("whole.csv")));

    // The same rows in Parquet: the same history, the same scores, the same saved state.
    let parquet = generate(dir.path(), "pay.parquet", 6_000, 0.05, 4);
    let csv_state = fs::read(&state).unwrap();
    fs::remove_file(&state).unwrap();
    let (_, stderr) = score("pay.parquet", "whole_parquet.csv", true);
    assert!(stderr.contains("starting cold"), "{stderr}");
    assert_eq!(
        probabilities(&dir.path().join("whole_parquet.csv")),
        probabilities(&dir.path().join("whole.csv"))
    );
    assert_eq!(
        fs::read(&state).unwrap(),
        csv_state,
        "the state after the same rows"
    );
    // A history model trains from Parquet as from CSV (per-row by default there: asked for).
    let out = train_raw(
        &parquet,
        &dir.path().join("p.json"),
        &[&SMALL[..], &["--features", "history"]].concat(),
        &[],
    );
    expect_code(&out, 0, "train parquet with history");
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["features"], "history");
    // Card data has no accounts.
    let out = train_raw(
        &data,
        &dir.path().join("c.json"),
        &["--schema", "card", "--features", "history"],
        &[],
    );
    expect_refusal(&out, &["the card schema has none"], "train card");
    // A per-row model keeps no state.
    let row_model = dir.path().join("row.json");
    let out = train_raw(
        &data,
        &row_model,
        &["--features", "row", "--epochs", "1"],
        &[],
    );
    expect_code(&out, 0, "train row");
    let scores = dir.path().join("row_scores.csv");
    let out = gradproof(&[
        "score",
        "--model",
        s(&row_model),
        "--data",
        s(&data),
        "-o",
        s(&scores),
        "--state",
        s(&state),
    ]);
    expect_refusal(
        &out,
        &["--state", "keep no account history"],
        "state for a row model",
    );
}
