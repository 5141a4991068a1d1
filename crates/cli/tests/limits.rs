//! Bounded work on hostile input (issue 12, classes 5, 6, 7, 8, 9 and 12; class 3, endless input
//! in bounded memory, is tests/memory.rs): every numeric flag has an upper bound and one set of
//! rules naming the flag, a step too small for the parameters is refused, no NaN is ever written or saved, a deep model
//! is refused fast with a short message, messages escape and cut what the user handed in, and
//! errors name the right place.

mod common;

use common::*;

use std::fs;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;

fn fixture() -> Fixture {
    Fixture::new()
}

#[test]
fn every_numeric_flag_is_bounded_and_named() {
    let f = fixture();
    let data = s(&f.data);
    let never = f.dir.path().join("never.json");
    let out = s(&never);
    let train = |extra: &[&'static str]| -> Vec<String> {
        let mut args = vec!["train", "--data", data, "--quiet", "--out", out];
        args.extend(extra);
        args.into_iter().map(String::from).collect()
    };
    let rows: Vec<(Vec<String>, &str)> = vec![
        (train(&["--batch-size", "4294967296"]), "--batch-size"),
        (
            train(&["--batch-size", "18446744073709551615"]),
            "--batch-size",
        ),
        (train(&["--batch-size", "0"]), "--batch-size"),
        (train(&["--epochs", "0"]), "--epochs"),
        (train(&["--epochs", "1000000"]), "--epochs"),
        (train(&["--lr", "nan"]), "--lr"),
        (train(&["--lr", "0"]), "--lr"),
        (train(&["--momentum", "1"]), "--momentum"),
        (train(&["--dropout", "nan"]), "--dropout"),
        (train(&["--l2", "-1"]), "--l2"),
        (train(&["--target-recall", "0"]), "--target-recall"),
        (train(&["--check-examples", "0"]), "--check-examples"),
        (train(&["--patience", "18446744073709551615"]), "--patience"),
        (
            vec!["check".into(), "--threads".into(), "10000".into()],
            "--threads",
        ),
        (
            vec![
                "check".into(),
                "--threads".into(),
                "18446744073709551615".into(),
            ],
            "--threads",
        ),
        (
            vec!["check".into(), "--dropout".into(), "nan".into()],
            "--dropout",
        ),
        (vec!["check".into(), "--l2".into(), "inf".into()], "--l2"),
        (
            vec!["check".into(), "--examples".into(), "0".into()],
            "--examples",
        ),
        (
            vec!["check".into(), "--rtol".into(), "nan".into()],
            "--rtol",
        ),
        (
            vec![
                "generate".into(),
                "--rows".into(),
                "18446744073709551615".into(),
                "-o".into(),
                out.into(),
            ],
            "--rows",
        ),
        (
            vec![
                "generate".into(),
                "--rows".into(),
                "0".into(),
                "-o".into(),
                out.into(),
            ],
            "--rows",
        ),
        (
            vec![
                "generate".into(),
                "--fraud-rate".into(),
                "nan".into(),
                "-o".into(),
                out.into(),
            ],
            "--fraud-rate",
        ),
    ];
    for (args, flag) in rows {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let started = Instant::now();
        let result = gradproof(&args);
        expect_refusal(&result, &[flag, "expected"], &format!("{args:?}"));
        assert!(started.elapsed() < Duration::from_secs(5), "{args:?}");
    }
    assert!(!f.dir.path().join("never.json").exists());
    // A step the parameters cannot represent makes an empty check: refused, not passed.
    let result = gradproof(&["check", "--step", "1e-16", "--bug", "notebook"]);
    expect_refusal(
        &result,
        &["--step", "too small for the parameters' precision"],
        "step",
    );
    // A file larger than the free space is refused before a byte is written (only where the
    // folder's file system really is smaller than 128 GB: otherwise it would be written).
    let c_dir = std::ffi::CString::new(s(f.dir.path())).unwrap();
    let mut stats = unsafe { std::mem::zeroed::<libc::statvfs>() };
    // SAFETY: a NUL-terminated path and a writable statvfs.
    assert_eq!(unsafe { libc::statvfs(c_dir.as_ptr(), &mut stats) }, 0);
    if (stats.f_bavail as u128) * (stats.f_frsize as u128) < 128_000_000_000 {
        let big = f.path("big.csv");
        let result = gradproof(&["generate", "--rows", "1000000000", "-o", s(&big)]);
        expect_refusal(&result, &["--out", "big.csv", "free"], "no room");
        assert!(!big.exists());
    }
    // An absurd RAYON_NUM_THREADS is capped: the run stays quick.
    let started = Instant::now();
    let scores = f.dir.path().join("scores.csv");
    let result = gradproof_env(
        &[
            "score",
            "--model",
            s(&f.model),
            "--data",
            data,
            "-o",
            s(&scores),
        ],
        &[("RAYON_NUM_THREADS", "20000")],
    );
    expect_code(&result, 0, "RAYON_NUM_THREADS=20000");
    assert!(started.elapsed() < Duration::from_secs(20));
}

/// The fixture's model with `edit` applied to its content, re-signed, at `dir/name`.
fn edited(f: &Fixture, name: &str, edit: impl FnOnce(&mut Value)) -> PathBuf {
    let mut v: Value = serde_json::from_str(&fs::read_to_string(&f.model).unwrap()).unwrap();
    edit(&mut v["content"]);
    v["sha256"] = checksum(&v["content"]).into();
    let path = f.path(name);
    fs::write(&path, serde_json::to_string(&v).unwrap()).unwrap();
    path
}

#[test]
fn no_nan_is_written_or_saved() {
    let f = fixture();
    let huge = edited(&f, "huge.json", |c| {
        for value in c["parameters"][0]["values"].as_array_mut().unwrap() {
            *value = 1e308.into();
        }
    });
    let scores = f.path("scores.csv");
    let result = f.score(&huge, &scores);
    expect_refusal(
        &result,
        &["huge.json", "overflow"],
        "score with 1e308 weights",
    );
    assert!(!scores.exists());
    let result = gradproof(&["evaluate", "--model", s(&huge), "--data", s(&f.data)]);
    expect_refusal(
        &result,
        &["the model", "huge.json", "overflow"],
        "evaluate with 1e308 weights",
    );
    let tiny = edited(&f, "tiny.json", |c| c["scaler"]["std"][2] = 1e-320.into());
    let result = f.score(&tiny, &scores);
    expect_refusal(
        &result,
        &["tiny.json", "standard deviation 2"],
        "std 1e-320",
    );
    let model = f.path("diverged.json");
    let result = f.train(&model, &["--lr", "1e308"]);
    expect_refusal(
        &result,
        &["diverged in epoch 1", "no model saved"],
        "--lr 1e308",
    );
    assert!(!model.exists());
}

#[test]
fn a_deep_model_is_refused_fast_with_a_short_message() {
    let f = fixture();
    let deep = edited(&f, "deep.json", |c| {
        let mut sizes = vec![Value::from(13)];
        sizes.extend(std::iter::repeat_n(Value::from(1), 100_000));
        c["architecture"]["sizes"] = sizes.into();
        c["parameters"] = (0..200_000)
            .map(|k| serde_json::json!({"name": format!("W{k}"), "shape": [1, 1], "values": [0.5]}))
            .collect::<Vec<_>>()
            .into();
    });
    let started = Instant::now();
    let result = gradproof(&["evaluate", "--model", s(&deep), "--data", s(&f.data)]);
    let line = expect_refusal(&result, &["deep.json", "100000 layers", "limit"], "deep");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(line.len() < 300, "{} bytes", line.len());
    // Names that do not match: a few shown, the rest counted.
    let renamed = edited(&f, "renamed.json", |c| {
        for p in c["parameters"].as_array_mut().unwrap() {
            p["name"] = "X".into();
        }
    });
    let result = gradproof(&["evaluate", "--model", s(&renamed), "--data", s(&f.data)]);
    expect_refusal(&result, &["renamed.json", "do not match"], "renamed");
}

#[test]
fn messages_escape_and_cut_what_the_user_handed_in() {
    let f = fixture();
    let nasty = f.path("bad\nname\u{1b}[31m.csv");
    let result = gradproof(&["evaluate", "--model", s(&f.model), "--data", s(&nasty)]);
    let line = expect_refusal(&result, &["bad\\nname\\u{1b}[31m.csv"], "nasty name");
    assert!(!line.contains('\u{1b}'));
    let csv = fs::read_to_string(&f.data).unwrap();
    let mut lines: Vec<String> = csv.lines().take(5).map(String::from).collect();
    let mut fields: Vec<String> = lines[3].split(',').map(String::from).collect();
    fields[2] = "9".repeat(3000) + "x";
    lines[3] = fields.join(",");
    let long = f.path("long.csv");
    fs::write(&long, lines.join("\n") + "\n").unwrap();
    let result = gradproof(&["evaluate", "--model", s(&f.model), "--data", s(&long)]);
    let line = expect_refusal(&result, &["long.csv:4:3", "(3001 bytes)"], "long value");
    assert!(line.len() < 400, "{line}");
    fields[2] = "9".repeat(5000);
    lines[3] = fields.join(",");
    fs::write(&long, lines.join("\n") + "\n").unwrap();
    let result = gradproof(&["evaluate", "--model", s(&f.model), "--data", s(&long)]);
    expect_refusal(
        &result,
        &["long.csv:4:3", "field of 5000 bytes", "4096"],
        "long field",
    );
}

#[test]
fn errors_name_the_right_place() {
    let f = fixture();
    let m = f.path("m.json");
    let m_json = s(&m);
    let csv = fs::read_to_string(&f.data).unwrap();
    let bad = with_field(&head(&csv, 8), 5, 2, "oops");
    let cr = f.path("cr.csv");
    fs::write(&cr, bad.replace('\n', "\r")).unwrap();
    let result = gradproof(&["evaluate", "--model", s(&f.model), "--data", s(&cr)]);
    expect_refusal(&result, &["cr.csv:6:3", "not a number"], "CR-only lines");
    let empty = f.path("empty.csv");
    fs::write(&empty, with_field(&head(&csv, 8), 3, 9, "")).unwrap();
    let result = gradproof(&["train", "--data", s(&empty), "--quiet", "--out", m_json]);
    expect_refusal(
        &result,
        &["empty.csv:4:10", "`isFraud` is empty"],
        "empty label",
    );
    // One fraud only: the message names the file.
    let mut one: Vec<String> = head(&csv, 1).lines().map(String::from).collect();
    for r in 0..40 {
        one.push(format!(
            "1,PAYMENT,{r}.5,C1,100,90.5,M2,0,0,{},0",
            u8::from(r == 0)
        ));
    }
    let single = f.path("single.csv");
    fs::write(&single, one.join("\n") + "\n").unwrap();
    let result = gradproof(&["train", "--data", s(&single), "--quiet", "--out", m_json]);
    expect_refusal(
        &result,
        &["single.csv", "only 1 positive examples"],
        "one positive",
    );
    let header = f.path("header.csv");
    let mut bytes = b"step,ty\xffpe".to_vec();
    bytes.extend_from_slice(&csv.as_bytes()[csv.find(",amount").unwrap()..]);
    fs::write(&header, bytes).unwrap();
    let result = gradproof(&["evaluate", "--model", s(&f.model), "--data", s(&header)]);
    expect_refusal(
        &result,
        &["header.csv:1:2", "not valid UTF-8"],
        "UTF-8 header",
    );
    assert!(!f.path("m.json").exists());
}
