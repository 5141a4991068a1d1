//! Parquet through the binary: the same seed generated to CSV and to Parquet trains, evaluates
//! and scores to the same numbers (scores identical to the bit); the format follows the
//! extension or `--data-format`/`--out-format`; truncated, random and damaged files are refused
//! on one line naming the file, exit 2, with nothing written and nothing of the user's lost.

mod common;

use common::*;

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// `gradproof ARGS` that must succeed; its standard output.
fn run(args: &[&str]) -> String {
    let out = gradproof(args);
    expect_code(&out, 0, &format!("{args:?}"));
    text(&out.stdout)
}

/// The JSON printed by `train --format json`, less what names the data file.
fn train_json(data: &Path, model: &Path) -> Value {
    let out = run(&[
        "train",
        "--data",
        s(data),
        "--out",
        s(model),
        "--quiet",
        "--format",
        "json",
        "--epochs",
        "2",
        "--hidden",
        "8",
        // Parquet data has per-row features only: the same set for both files.
        "--features",
        "row",
    ]);
    let mut json: Value = serde_json::from_str(&out).unwrap();
    strip_names(&mut json);
    json
}

/// Removes the fields that hold a file's name (and the checksum over them) or a timing.
fn strip_names(json: &mut Value) {
    match json {
        Value::Object(map) => {
            for key in [
                "data",
                "source",
                "model",
                "out",
                "sha256",
                "seconds",
                "file",
                "examples_per_second",
            ] {
                map.remove(key);
            }
            map.values_mut().for_each(strip_names);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_names),
        _ => {}
    }
}

/// The pair of generated files, `pay.csv` and `pay.parquet`, from the same seed.
fn both(dir: &Path) -> (PathBuf, PathBuf) {
    (
        generate(dir, "pay.csv", 3000, 0.05, 11),
        generate(dir, "pay.parquet", 3000, 0.05, 11),
    )
}

#[test]
fn csv_and_parquet_of_one_seed_give_the_same_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let (csv, parquet) = both(dir.path());
    let bytes = fs::read(&parquet).unwrap();
    assert!(bytes.starts_with(b"PAR1") && bytes.ends_with(b"PAR1"));
    assert!(bytes.len() < fs::metadata(&csv).unwrap().len() as usize);

    let (model_csv, model_parquet) = (dir.path().join("m1.json"), dir.path().join("m2.json"));
    assert_eq!(
        train_json(&csv, &model_csv),
        train_json(&parquet, &model_parquet)
    );

    let evaluate = |data: &Path| {
        let out = run(&[
            "evaluate",
            "--model",
            s(&model_csv),
            "--data",
            s(data),
            "--format",
            "json",
        ]);
        serde_json::from_str::<Value>(&out).unwrap()
    };
    assert_eq!(evaluate(&csv), evaluate(&parquet));

    let score = |data: &Path, out: &str| {
        let path = dir.path().join(out);
        run(&[
            "score",
            "--model",
            s(&model_csv),
            "--data",
            s(data),
            "-o",
            s(&path),
            "--quiet",
        ]);
        fs::read(path).unwrap()
    };
    let from_csv = score(&csv, "a.csv");
    assert_eq!(from_csv, score(&parquet, "b.csv"));
    assert_eq!(from_csv.iter().filter(|&&b| b == b'\n').count(), 3001);
    let scores = score(&csv, "a.parquet");
    assert!(scores.starts_with(b"PAR1"));
    assert_eq!(scores, score(&parquet, "b.parquet"));
}

#[test]
fn generating_parquet_twice_gives_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let a = generate(dir.path(), "a.pq", 1000, 0.05, 3);
    let b = generate(dir.path(), "b.parquet", 1000, 0.05, 3);
    assert_eq!(fs::read(a).unwrap(), fs::read(b).unwrap());
}

#[test]
fn flags_override_the_extension() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("pay.dat");
    run(&[
        "generate",
        "--rows",
        "800",
        "--seed",
        "2",
        "-o",
        s(&data),
        "--out-format",
        "parquet",
    ]);
    assert!(fs::read(&data).unwrap().starts_with(b"PAR1"));
    let csv = generate(dir.path(), "pay.csv", 800, 0.05, 2);
    // Parquet data has no account history: a per-row model.
    let model = train_model_with(dir.path(), &csv, "m.json", &["--features", "row"]);
    let scored = dir.path().join("scores.txt");
    run(&[
        "score",
        "--model",
        s(&model),
        "--data",
        s(&data),
        "--data-format",
        "parquet",
        "-o",
        s(&scored),
    ]);
    assert!(
        fs::read_to_string(&scored)
            .unwrap()
            .starts_with("row,probability,flag\n")
    );
    let out = gradproof(&[
        "score",
        "--model",
        s(&model),
        "--data",
        s(&data),
        "-o",
        s(&scored),
        "--data-format",
        "xml",
    ]);
    expect_refusal(
        &out,
        &["--data-format", "expected \"csv\" or \"parquet\""],
        "bad format",
    );
    // A CSV file named .parquet is refused as Parquet; the flag reads it as CSV.
    let misnamed = dir.path().join("really-csv.parquet");
    fs::copy(&csv, &misnamed).unwrap();
    let out = gradproof(&["evaluate", "--model", s(&model), "--data", s(&misnamed)]);
    expect_refusal(
        &out,
        &["really-csv.parquet: not a readable Parquet file"],
        "misnamed",
    );
    run(&[
        "evaluate",
        "--model",
        s(&model),
        "--data",
        s(&misnamed),
        "--data-format",
        "csv",
    ]);
}

#[test]
fn damaged_parquet_is_refused_on_one_line_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let (csv, parquet) = both(dir.path());
    // Parquet data has no account history: a per-row model.
    let model = train_model_with(dir.path(), &csv, "m.json", &["--features", "row"]);
    let bytes = fs::read(&parquet).unwrap();
    let mut footer_flipped = bytes.clone();
    // A byte of the footer's length, just before the closing magic.
    let at = bytes.len() - 6;
    footer_flipped[at] ^= 0xff;
    let cases = [
        ("truncated", bytes[..bytes.len() * 2 / 3].to_vec()),
        (
            "random",
            (0..5000u32)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
                .collect(),
        ),
        ("footer byte flipped", footer_flipped),
        ("empty", Vec::new()),
    ];
    let kept = dir.path().join("kept.csv");
    fs::write(&kept, "precious\n").unwrap();
    for (what, damaged) in cases {
        let bad = dir.path().join("bad.parquet");
        fs::write(&bad, &damaged).unwrap();
        let before = listing(dir.path());
        for out in [&kept, &dir.path().join("new.parquet")] {
            let result = gradproof(&[
                "score",
                "--model",
                s(&model),
                "--data",
                s(&bad),
                "-o",
                s(out),
            ]);
            let line = expect_refusal(&result, &["bad.parquet"], what);
            assert!(!line.contains("panicked"), "{what}: {line}");
            let result = gradproof(&["train", "--data", s(&bad), "--out", s(out), "--quiet"]);
            expect_refusal(&result, &["bad.parquet"], what);
        }
        assert_eq!(listing(dir.path()), before, "{what}");
        assert_eq!(fs::read_to_string(&kept).unwrap(), "precious\n", "{what}");
    }
}

#[test]
fn parquet_row_groups_score_the_same_bytes_on_one_thread_and_two() {
    let dir = tempfile::tempdir().unwrap();
    let (small, _) = both(dir.path());
    // 150 000 rows: three row groups of at most 65 536, read in parallel.
    let csv = generate(dir.path(), "big.csv", 150_000, 0.05, 12);
    let parquet = generate(dir.path(), "big.parquet", 150_000, 0.05, 12);
    let model = dir.path().join("m.json");
    train_json(&small, &model);
    let score = |data: &Path, threads: &str| {
        let path = dir.path().join(format!("scores-{threads}.csv"));
        let args = [
            "score",
            "--model",
            s(&model),
            "--data",
            s(data),
            "-o",
            s(&path),
            "--quiet",
        ];
        let out = gradproof_env(&args, &[("RAYON_NUM_THREADS", threads)]);
        expect_code(&out, 0, "score");
        fs::read(path).unwrap()
    };
    let expected = score(&csv, "1");
    assert_eq!(expected.iter().filter(|&&b| b == b'\n').count(), 150_001);
    for threads in ["1", "2"] {
        assert!(score(&parquet, threads) == expected, "{threads} threads");
    }
}
