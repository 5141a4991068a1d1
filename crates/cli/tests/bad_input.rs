//! The bad-input catalogue, end to end through the binary: every way a user can hand gradproof a
//! bad file, argument, model or output path, one row each. Every row must exit with code 2,
//! print ONE line on stderr that names the place (`file:line:column`, the argument or the model
//! file) and what was expected, never panic, and leave the directory as it found it. Inputs that
//! look odd but are valid (a UTF-8 BOM, CRLF line endings, quoted fields) are read correctly.

mod common;

use common::*;

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// A model file edited by `edit` (on its `content`), re-signed when `sign`.
fn edited_model(original: &str, sign: bool, edit: impl FnOnce(&mut Value)) -> String {
    let mut v: Value = serde_json::from_str(original).unwrap();
    edit(&mut v["content"]);
    if sign {
        v["sha256"] = checksum(&v["content"]).into();
    }
    serde_json::to_string_pretty(&v).unwrap()
}

/// A small card-schema file (`Time, V1..V28, Amount, Class`), one fraud in five.
fn card_csv(rows: usize) -> String {
    let mut out = String::from("Time");
    for k in 1..=28 {
        out += &format!(",V{k}");
    }
    out += ",Amount,Class\n";
    for r in 0..rows {
        let fraud = r % 5 == 0;
        out += &format!("{}", r * 37);
        for k in 1..=28 {
            let v = ((r * 31 + k * 17) % 23) as f64 / 7.0 - 1.5 + if fraud { 2.0 } else { 0.0 };
            out += &format!(",{v}");
        }
        out += &format!(",{}.25,{}\n", (r * 13) % 500, u8::from(fraud));
    }
    out
}

/// What every catalogue row runs against: a valid PaySim file and models trained on it and on a
/// card file, in `dir`.
struct Fixture {
    dir: tempfile::TempDir,
    csv: String,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let data = generate(dir.path(), "pay.csv", 3000, 0.05, 5);
        train_model(dir.path(), &data, "model.json");
        let card = dir.path().join("card.csv");
        fs::write(&card, card_csv(400)).unwrap();
        let card_model = dir.path().join("card.json");
        let out = gradproof(&[
            "train",
            "--data",
            s(&card),
            "--schema",
            "card",
            "--out",
            s(&card_model),
            "--quiet",
            "--epochs",
            "1",
            "--hidden",
            "4",
        ]);
        expect_code(&out, 0, "train on cards");
        let csv = fs::read_to_string(&data).unwrap();
        Fixture { dir, csv }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn model_text(&self) -> String {
        fs::read_to_string(self.path("model.json")).unwrap()
    }
}

/// One row of the catalogue: files to create (name, content), the arguments (`@name` stands for
/// the path of `name` in the fixture's directory), and fragments stderr must contain.
struct Case {
    name: String,
    files: Vec<(String, Vec<u8>)>,
    args: Vec<String>,
    fragments: Vec<String>,
}

fn case(name: &str, files: Vec<(&str, Vec<u8>)>, args: &[&str], fragments: &[&str]) -> Case {
    Case {
        name: name.to_string(),
        files: files.into_iter().map(|(n, c)| (n.to_string(), c)).collect(),
        args: args.iter().map(|a| a.to_string()).collect(),
        fragments: fragments.iter().map(|f| f.to_string()).collect(),
    }
}

/// A bad data file, run through train, evaluate and score: each must name `file:place` and say
/// `message`.
fn data_cases(name: &str, content: impl Into<Vec<u8>>, place: &str, message: &str) -> Vec<Case> {
    let file = format!("{}.csv", name.replace(' ', "_"));
    let content = content.into();
    let at = format!("@{file}");
    let located = format!("{file}{place}");
    [
        vec!["train", "--data", &at, "--quiet", "--out", "@new.json"],
        vec!["evaluate", "--model", "@model.json", "--data", &at],
        vec![
            "score",
            "--model",
            "@model.json",
            "--data",
            &at,
            "-o",
            "@scores.csv",
        ],
    ]
    .into_iter()
    .map(|args| {
        case(
            &format!("{name} ({})", args[0]),
            vec![(&file, content.clone())],
            &args,
            &[&located, message],
        )
    })
    .collect()
}

fn catalogue(f: &Fixture) -> Vec<Case> {
    let csv = &f.csv;
    let header = head(csv, 1);
    let small = head(csv, 8);
    let mut cases = Vec::new();

    // --- Data files. Data line k is physical line k + 1; columns are 1-based.
    cases.extend(data_cases(
        "empty",
        "",
        ":1:",
        "no header: the file is empty",
    ));
    cases.extend(data_cases(
        "wrong header",
        "a,b,c\n1,2,3\n",
        ":1:",
        "missing column `step` (schema paysim)",
    ));
    cases.extend(data_cases(
        "missing header",
        small
            .lines()
            .skip(1)
            .map(|l| format!("{l}\n"))
            .collect::<String>(),
        ":1:",
        "missing column `step`",
    ));
    let mut extra = small.clone();
    extra.insert_str(extra.len() - 1, ",7");
    cases.extend(data_cases(
        "extra column",
        extra,
        ":8:12:",
        "extra field: the row has 12 fields, the header has 11",
    ));
    let short: String = small
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i == 3 {
                l.rsplit_once(',').unwrap().0.to_string() + "\n"
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    cases.extend(data_cases(
        "missing column in a row",
        short,
        ":4:11:",
        "missing field: the row has 10 fields, the header has 11",
    ));
    for (name, value, message) in [
        (
            "non-numeric",
            "12x.5",
            "`amount` is not a number: \"12x.5\"",
        ),
        ("NaN", "NaN", "`amount` must be finite, found \"NaN\""),
        ("inf", "inf", "`amount` must be finite, found \"inf\""),
        ("1e400", "1e400", "`amount` must be finite, found \"1e400\""),
        (
            "negative amount",
            "-5",
            "`amount` must not be negative, found \"-5\"",
        ),
        ("empty field", "", "`amount` is empty"),
    ] {
        cases.extend(data_cases(
            name,
            with_field(&small, 5, 2, value),
            ":6:3:",
            message,
        ));
    }
    cases.extend(data_cases(
        "unknown type",
        with_field(&small, 3, 1, "WIRE"),
        ":4:2:",
        "`type` is \"WIRE\", expected one of CASH_IN, CASH_OUT, DEBIT, PAYMENT, TRANSFER",
    ));
    cases.extend(data_cases(
        "label not 0 or 1",
        with_field(&small, 2, 9, "2"),
        ":3:10:",
        "`isFraud` must be 0 or 1, found \"2\"",
    ));
    let latin1: Vec<u8> = with_field(&small, 2, 4, "1\u{1}")
        .into_bytes()
        .into_iter()
        .map(|b| if b == 1 { 0xff } else { b })
        .collect();
    cases.extend(data_cases(
        "invalid UTF-8",
        latin1,
        ":3:5:",
        "`oldbalanceOrg` is not valid UTF-8",
    ));
    // Zero examples: train and evaluate need rows (score writes an empty result: tested below).
    cases.push(case(
        "header only (train)",
        vec![("header.csv", header.clone().into_bytes())],
        &[
            "train",
            "--data",
            "@header.csv",
            "--quiet",
            "--out",
            "@new.json",
        ],
        &["header.csv: no rows to train on"],
    ));
    cases.push(case(
        "header only (evaluate)",
        vec![("header.csv", header.clone().into_bytes())],
        &[
            "evaluate",
            "--model",
            "@model.json",
            "--data",
            "@header.csv",
        ],
        &["header.csv", "no rows to evaluate"],
    ));
    // One class only: PR-AUC and the threshold are undefined.
    let honest: String = csv
        .lines()
        .take(1500)
        .map(|l| {
            with_field(
                l,
                0,
                9,
                if l.starts_with("step") {
                    "isFraud"
                } else {
                    "0"
                },
            )
        })
        .collect();
    cases.push(case(
        "a single class (train)",
        vec![("honest.csv", honest.into_bytes())],
        &[
            "train",
            "--data",
            "@honest.csv",
            "--quiet",
            "--out",
            "@new.json",
        ],
        &["honest.csv: every row has isFraud = 0: training needs both classes"],
    ));
    cases.push(case(
        "a file that does not exist",
        vec![],
        &[
            "evaluate",
            "--model",
            "@model.json",
            "--data",
            "@nothing.csv",
        ],
        &["nothing.csv", "No such file"],
    ));

    // --- Arguments.
    for (name, args, fragments) in [
        (
            "--layers zero width",
            vec!["check", "--layers", "4,0,1"],
            vec!["--layers", "every width must be at least 1"],
        ),
        (
            "--layers junk",
            vec!["check", "--layers", "4,x,1"],
            vec!["--layers", "'x' is not a width"],
        ),
        (
            "--layers one size",
            vec!["check", "--layers", "4"],
            vec!["--layers", "need an input size"],
        ),
        (
            "--layers output not 1",
            vec!["check", "--layers", "4,3"],
            vec!["--layers", "must have width 1"],
        ),
        (
            "--layers absurd width",
            vec!["check", "--layers", "4,1000000000000,1"],
            vec!["--layers", "more than the 100000"],
        ),
        (
            "--layers overflowing",
            vec!["check", "--layers", "99999999999999999999999,1"],
            vec!["--layers", "is not a width"],
        ),
        (
            "--layers too many parameters",
            vec!["check", "--layers", "100000,100000,1"],
            vec!["--layers", "parameters is more than the 100000000"],
        ),
        (
            "--examples absurd",
            vec![
                "check",
                "--layers",
                "4,100000,1",
                "--examples",
                "1000000000",
            ],
            vec![
                "invalid value '1000000000' for '--examples",
                "expected a whole number from 1 to 100000",
            ],
        ),
        (
            "--hidden zero width",
            vec!["train", "--data", "@pay.csv", "--hidden", "8,0"],
            vec!["--hidden", "every width must be at least 1"],
        ),
        (
            "--hidden junk",
            vec!["train", "--data", "@pay.csv", "--hidden", "8;4"],
            vec!["--hidden", "'8;4' is not a width"],
        ),
        (
            "--hidden absurd",
            vec!["train", "--data", "@pay.csv", "--hidden", "50000,50000"],
            vec!["--hidden", "parameters"],
        ),
        (
            "--step 0",
            vec!["check", "--step", "0"],
            vec!["--step", "step"],
        ),
        (
            "--step negative",
            vec!["check", "--step", "-1e-7"],
            vec!["--step", "step"],
        ),
        (
            "--step NaN",
            vec!["check", "--step", "NaN"],
            vec!["--step", "step"],
        ),
        (
            "--threads 0",
            vec!["check", "--threads", "0"],
            vec![
                "invalid value '0' for '--threads",
                "expected a whole number from 1 to 256",
            ],
        ),
        (
            "--bug unknown tensor",
            vec!["check", "--bug", "dW9:sign"],
            vec!["--bug", "no tensor named 'W9'"],
        ),
        (
            "--bug index out of range",
            vec!["check", "--bug", "dW2[7,7]:add=1"],
            vec![
                "--bug",
                "index [7, 7] is out of range for tensor 'W2' of shape [3, 5]",
            ],
        ),
        (
            "--bug junk",
            vec!["check", "--bug", "dW2"],
            vec!["--bug", "missing ':KIND'"],
        ),
        (
            "train --bug unknown tensor",
            vec![
                "train",
                "--data",
                "@pay.csv",
                "--quiet",
                "--out",
                "@new.json",
                "--hidden",
                "4",
                "--bug",
                "dW7:zero",
            ],
            vec!["--bug", "no tensor named 'W7'"],
        ),
        (
            "unknown argument",
            vec!["check", "--bogus"],
            vec!["unexpected argument '--bogus'"],
        ),
        (
            "missing argument",
            vec!["evaluate", "--data", "@pay.csv"],
            vec!["--model <MODEL>"],
        ),
    ] {
        cases.push(case(name, vec![], &args, &fragments));
    }

    // --- Model files.
    let original = f.model_text();
    let model_cases: Vec<(&str, String, &str)> = vec![
        (
            "truncated",
            original[..original.len() / 2].to_string(),
            "truncated: the JSON ends early",
        ),
        ("not JSON", "hello".to_string(), "not a model file"),
        (
            "weights of the wrong length, re-signed",
            edited_model(&original, true, |c| {
                c["parameters"][0]["values"].as_array_mut().unwrap().pop();
            }),
            // The fixture trains with the default features for PaySim CSV: 13 per-row + 6 history.
            "W1 has shape [4, 19] and 75 values; the architecture needs [4, 19]",
        ),
        (
            "weights of the wrong length, not re-signed",
            edited_model(&original, false, |c| {
                c["parameters"][0]["values"].as_array_mut().unwrap().pop();
            }),
            "checksum mismatch",
        ),
        (
            "future version",
            original.replacen("\"version\": 1,", "\"version\": 99,", 1),
            "format version 99 is not supported (this build reads version 1: the file was written by a newer gradproof)",
        ),
        (
            "absurd layer sizes, re-signed",
            edited_model(&original, true, |c| {
                c["architecture"]["sizes"] =
                    serde_json::json!([13, 1_000_000_000u64, 1_000_000_000u64, 1]);
            }),
            "more than the 100000 this build accepts",
        ),
        (
            "overflowing layer sizes, re-signed",
            edited_model(&original, true, |c| {
                c["architecture"]["sizes"] = serde_json::json!([u64::MAX, u64::MAX, 1]);
            }),
            "invalid layer sizes",
        ),
        (
            "threshold out of range, re-signed",
            edited_model(&original, true, |c| {
                c["threshold"] = serde_json::json!(1.5);
            }),
            "threshold must be a probability in [0, 1], got 1.5",
        ),
    ];
    for (name, content, message) in model_cases {
        let file = format!("{}.json", name.replace([' ', ','], "_"));
        let at = format!("@{file}");
        for args in [
            vec!["evaluate", "--model", &at, "--data", "@pay.csv"],
            vec![
                "score",
                "--model",
                &at,
                "--data",
                "@pay.csv",
                "-o",
                "@scores.csv",
            ],
        ] {
            cases.push(case(
                &format!("model: {name} ({})", args[0]),
                vec![(&file, content.clone().into_bytes())],
                &args,
                &[&format!("model file {}", s(&f.path(&file))), message],
            ));
        }
    }
    cases.push(case(
        "model: a card model on a PaySim file",
        vec![],
        &["evaluate", "--model", "@card.json", "--data", "@pay.csv"],
        &["pay.csv:1:", "missing column `Time` (schema card)"],
    ));

    // --- Output paths in a folder that does not exist.
    for (name, args) in [
        (
            "generate -o",
            vec!["generate", "--rows", "10", "-o", "@missing/x.csv"],
        ),
        (
            "train --out",
            vec![
                "train",
                "--data",
                "@pay.csv",
                "--quiet",
                "--out",
                "@missing/m.json",
            ],
        ),
        (
            "train --plots",
            vec![
                "train",
                "--data",
                "@pay.csv",
                "--quiet",
                "--out",
                "@new.json",
                "--plots",
                "@missing/deeper/plots",
            ],
        ),
        (
            "score -o",
            vec![
                "score",
                "--model",
                "@model.json",
                "--data",
                "@pay.csv",
                "-o",
                "@missing/s.csv",
            ],
        ),
        ("check --plot", vec!["check", "--plot", "@missing/p.png"]),
    ] {
        let flag = match args[0] {
            "check" => "--plot",
            _ if name.ends_with("--plots") => "--plots",
            _ => "--out",
        };
        cases.push(case(
            &format!("missing folder: {name}"),
            vec![],
            &args,
            &[flag, "missing", "does not exist"],
        ));
    }
    cases
}

/// Runs one row; returns what went wrong, if anything.
fn run_case(f: &Fixture, case: &Case) -> Option<String> {
    for (name, content) in &case.files {
        fs::write(f.path(name), content).unwrap();
    }
    let before = listing(f.dir.path());
    let dir = s(f.dir.path()).to_string();
    let args: Vec<String> = case
        .args
        .iter()
        .map(|a| match a.strip_prefix('@') {
            Some(name) => format!("{dir}/{name}"),
            None => a.clone(),
        })
        .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = gradproof(&args);
    let stderr = text(&out.stderr);
    let mut problems = Vec::new();
    if out.status.code() != Some(2) {
        problems.push(format!("exit code {:?}, expected 2", out.status.code()));
    }
    if stderr.contains("panicked") {
        problems.push("panicked".to_string());
    }
    if stderr.trim_end().lines().count() != 1 {
        problems.push("stderr is not one line".to_string());
    }
    if stderr.matches("(os error").count() > 1 {
        problems.push("the operating system's message is repeated".to_string());
    }
    for fragment in &case.fragments {
        if !stderr.contains(fragment.as_str()) {
            problems.push(format!("stderr lacks {fragment:?}"));
        }
    }
    let after = listing(f.dir.path());
    if after != before {
        problems.push(format!("the directory changed: {before:?} -> {after:?}"));
    }
    for (name, _) in &case.files {
        fs::remove_file(f.path(name)).unwrap();
    }
    (!problems.is_empty()).then(|| {
        format!(
            "{}: {}\n  args: {args:?}\n  stderr: {stderr}  stdout: {}",
            case.name,
            problems.join("; "),
            text(&out.stdout)
        )
    })
}

#[test]
fn every_bad_input_exits_2_with_one_line_naming_the_place_and_leaves_nothing_behind() {
    let f = Fixture::new();
    let cases = catalogue(&f);
    assert!(cases.len() > 80, "{} cases", cases.len());
    let failures: Vec<String> = cases.iter().filter_map(|c| run_case(&f, c)).collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// `score` and `evaluate --format json` on `path`.
fn score_and_evaluate(f: &Fixture, path: &Path, scores: &Path) -> (String, Value) {
    let model = f.path("model.json");
    let out = gradproof(&[
        "score",
        "--model",
        s(&model),
        "--data",
        s(path),
        "-o",
        s(scores),
    ]);
    expect_code(&out, 0, &format!("score {}", path.display()));
    let out = gradproof(&[
        "evaluate",
        "--model",
        s(&model),
        "--data",
        s(path),
        "--format",
        "json",
    ]);
    expect_code(&out, 0, &format!("evaluate {}", path.display()));
    let metrics = serde_json::from_slice(&out.stdout).unwrap();
    (fs::read_to_string(scores).unwrap(), metrics)
}

#[test]
fn a_bom_crlf_line_endings_and_quoted_fields_are_read_as_the_plain_file() {
    let f = Fixture::new();
    let plain = head(&f.csv, 1501);
    let quote = |line: &str| -> String {
        line.split(',')
            .map(|v| format!("\"{v}\""))
            .collect::<Vec<_>>()
            .join(",")
            + "\n"
    };
    let variants: [(&str, Vec<u8>); 4] = [
        ("bom.csv", [&b"\xef\xbb\xbf"[..], plain.as_bytes()].concat()),
        ("crlf.csv", plain.replace('\n', "\r\n").into_bytes()),
        (
            "quoted.csv",
            plain.lines().map(quote).collect::<String>().into_bytes(),
        ),
        (
            "all-three.csv",
            [
                &b"\xef\xbb\xbf"[..],
                plain
                    .lines()
                    .map(quote)
                    .collect::<String>()
                    .replace('\n', "\r\n")
                    .as_bytes(),
            ]
            .concat(),
        ),
    ];
    let reference = f.path("plain.csv");
    fs::write(&reference, &plain).unwrap();
    let (scores, metrics) = score_and_evaluate(&f, &reference, &f.path("plain-scores.csv"));
    assert_eq!(scores.lines().count(), 1501, "a header and 1500 rows");
    assert_eq!(metrics["rows"], 1500);
    for (name, bytes) in variants {
        let path = f.path(name);
        fs::write(&path, bytes).unwrap();
        let (got_scores, got_metrics) = score_and_evaluate(&f, &path, &f.path("scores.csv"));
        assert_eq!(
            got_scores, scores,
            "{name}: other scores than the plain file's"
        );
        assert_eq!(
            got_metrics, metrics,
            "{name}: other metrics than the plain file's"
        );
    }
    // Training reads the BOM'd header too (its first column is `step`).
    let out = gradproof(&[
        "train",
        "--data",
        s(&f.path("bom.csv")),
        "--quiet",
        "--out",
        s(&f.path("bom.json")),
        "--epochs",
        "1",
        "--hidden",
        "2",
        "--check-every",
        "0",
    ]);
    expect_code(&out, 0, "train on the BOM'd file");
}

#[test]
fn a_file_with_only_a_header_scores_to_an_empty_result() {
    let f = Fixture::new();
    let header = f.path("header.csv");
    fs::write(&header, head(&f.csv, 1)).unwrap();
    let scores = f.path("scores.csv");
    let out = gradproof(&[
        "score",
        "--model",
        s(&f.path("model.json")),
        "--data",
        s(&header),
        "-o",
        s(&scores),
    ]);
    expect_code(&out, 0, "score of a header-only file");
    assert_eq!(
        fs::read_to_string(&scores).unwrap(),
        "row,probability,flag\n"
    );
    assert!(
        text(&out.stdout).starts_with("scored 0 rows (0 flagged"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn evaluating_a_single_class_file_reports_undefined_aucs_as_null() {
    let f = Fixture::new();
    let honest: String = f
        .csv
        .lines()
        .take(500)
        .map(|l| {
            with_field(
                l,
                0,
                9,
                if l.starts_with("step") {
                    "isFraud"
                } else {
                    "0"
                },
            )
        })
        .collect();
    let path = f.path("honest.csv");
    fs::write(&path, honest).unwrap();
    let model = f.path("model.json");
    let out = gradproof(&[
        "evaluate",
        "--model",
        s(&model),
        "--data",
        s(&path),
        "--format",
        "json",
    ]);
    expect_code(&out, 0, "evaluate on one class");
    let metrics: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(metrics["rows"], 499);
    assert_eq!(metrics["positives"], 0);
    assert_eq!(metrics["pr_auc"], Value::Null);
    assert_eq!(metrics["roc_auc"], Value::Null);
    let out = gradproof(&["evaluate", "--model", s(&model), "--data", s(&path)]);
    expect_code(&out, 0, "evaluate on one class, as text");
    let line = text(&out.stdout);
    assert!(
        line.contains("499 rows (0 fraud): PR-AUC n/a, ROC-AUC n/a"),
        "{line}"
    );
}

#[test]
fn outputs_into_a_read_only_folder_are_refused_before_any_work() {
    let f = Fixture::new();
    let locked = f.path("locked");
    fs::create_dir(&locked).unwrap();
    let mut permissions = fs::metadata(&locked).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o555);
    fs::set_permissions(&locked, permissions).unwrap();
    if fs::write(locked.join("probe"), "x").is_ok() {
        // Root writes anywhere: there is no read-only folder to test with.
        eprintln!("skipped: this user can write into a read-only folder (running as root?)");
        return;
    }
    let runs: [(&str, Vec<&str>); 5] = [
        (
            "--out",
            vec!["generate", "--rows", "10", "-o", "@locked/x.csv"],
        ),
        (
            "--out",
            vec![
                "train",
                "--data",
                "@pay.csv",
                "--quiet",
                "--out",
                "@locked/m.json",
            ],
        ),
        (
            "--plots",
            vec![
                "train",
                "--data",
                "@pay.csv",
                "--quiet",
                "--out",
                "@new.json",
                "--plots",
                "@locked/plots",
            ],
        ),
        (
            "--out",
            vec![
                "score",
                "--model",
                "@model.json",
                "--data",
                "@pay.csv",
                "-o",
                "@locked/s.csv",
            ],
        ),
        ("--plot", vec!["check", "--plot", "@locked/p.png"]),
    ];
    let failures: Vec<String> = runs
        .iter()
        .filter_map(|(flag, args)| {
            run_case(
                &f,
                &case(
                    &format!("read-only folder: {args:?}"),
                    vec![],
                    args,
                    &[flag, "locked", "cannot write into the folder"],
                ),
            )
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
