//! End-to-end runs of sharded checks: N `gradproof check --shard K/N` processes at once (as a job
//! runner would start them), then `gradproof merge`, whose report must be the unsharded check's
//! to the byte (JSON, timings aside) with the same exit code, for the notebook's check, the fraud
//! network's and a model process (`--exec`), N ∈ {1, 2, 3, 7}; and partial reports that do not
//! make one check refused by name with exit 2.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{build_c, expect_code, gradproof, s, text};

/// The notebook's overall relative difference for its buggy backward pass at step 1e-7.
const NOTEBOOK_DIFFERENCE: f64 = 0.285093156781;

/// `python3 tests/exec/model.py MODE`, as an --exec command.
fn model(mode: &str) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/exec/model.py");
    format!("python3 {} {mode}", script.display())
}

/// Runs the N shards of `gradproof check ARGS` side by side into `dir/part-K.json`, each of
/// which must succeed, and returns the files.
fn run_shards(args: &[&str], n: usize, dir: &Path) -> Vec<PathBuf> {
    let parts: Vec<PathBuf> = (0..n).map(|k| dir.join(format!("part-{k}.json"))).collect();
    let children: Vec<_> = parts
        .iter()
        .enumerate()
        .map(|(k, part)| {
            let shard = format!("{k}/{n}");
            Command::new(env!("CARGO_BIN_EXE_gradproof"))
                .arg("check")
                .args(args)
                .args(["--shard", &shard, "-o", s(part), "--threads", "1"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("the binary starts")
        })
        .collect();
    for (k, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().expect("the shard ends");
        expect_code(&out, 0, &format!("shard {k}/{n} of {args:?}"));
    }
    parts
}

/// The JSON text without its timing lines (`"seconds": …`), which differ from run to run.
fn without_timings(json: &str) -> String {
    json.lines()
        .filter(|line| !line.trim_start().starts_with("\"seconds\""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The unsharded check's JSON and exit code.
fn whole(args: &[&str]) -> (String, i32) {
    let out = gradproof(&[&["check", "--format", "json"], args].concat());
    let code = out.status.code().expect("an exit code");
    assert!([0, 1, 3].contains(&code), "{}", text(&out.stderr));
    (text(&out.stdout), code)
}

/// For N ∈ {1, 2, 3, 7}: the merged shards give the unsharded report (to the byte, timings
/// aside) and exit code, on standard output and through `-o`. Returns the unsharded JSON.
fn merged_is_whole(args: &[&str]) -> serde_json::Value {
    let (expected, code) = whole(args);
    for n in [1, 2, 3, 7] {
        let dir = tempfile::tempdir().unwrap();
        let mut parts = run_shards(args, n, dir.path());
        parts.reverse(); // any order
        let names: Vec<&str> = parts.iter().map(|p| s(p)).collect();
        let merged = gradproof(&[&["merge", "--format", "json"], &names[..]].concat());
        expect_code(&merged, code, &format!("merge of {n} shards of {args:?}"));
        assert_eq!(
            without_timings(&text(&merged.stdout)),
            without_timings(&expected),
            "{n} shards of {args:?}"
        );
        let file = dir.path().join("report.json");
        let written =
            gradproof(&[&["merge", "--format", "json", "-o", s(&file)], &names[..]].concat());
        expect_code(&written, code, "merge -o");
        assert_eq!(
            without_timings(&std::fs::read_to_string(&file).unwrap()),
            without_timings(&expected)
        );
    }
    serde_json::from_str(&expected).unwrap()
}

#[test]
fn the_notebooks_check_merges_into_the_unsharded_report() {
    // The notebook's exact case: its network, data and buggy backward pass, in C over the
    // protocol, at its step.
    let dir = tempfile::tempdir().unwrap();
    let Some(notebook) = build_c("notebook", dir.path()) else {
        return;
    };
    let report = merged_is_whole(&["--exec", s(&notebook), "--step", "1e-7"]);
    assert_eq!(report["verdict"], "fail");
    let difference = report["difference"].as_f64().unwrap();
    assert!(
        (difference - NOTEBOOK_DIFFERENCE).abs() < 1e-9,
        "{difference}"
    );
    assert_eq!(report["failing"], serde_json::json!(["db1", "dW2"]));
    // The built-in MLP with the notebook's two bugs.
    assert_eq!(merged_is_whole(&["--bug", "notebook"])["verdict"], "fail");
}

#[test]
fn the_fraud_networks_check_merges_into_the_unsharded_report() {
    let fraud = ["--layers", "20,64,32,1", "--examples", "64", "--seed", "7"];
    assert_eq!(merged_is_whole(&fraud)["verdict"], "pass");
    // Sampled (the sample drawn once from the seed, then sliced), at several points, with a
    // bug on one element and a tolerance.
    let sampled = [
        &fraud[..],
        &[
            "--mode",
            "sampled=40",
            "--points",
            "3",
            "--bug",
            "dW2[1,3]:add=1e-3",
        ],
    ]
    .concat();
    merged_is_whole(&sampled);
    let tolerance = [
        &fraud[..],
        &["--rtol", "1e-5", "--atol", "1e-9", "--method", "central4"],
    ]
    .concat();
    assert_eq!(merged_is_whole(&tolerance)["verdict"], "pass");
}

#[test]
fn a_model_process_merges_into_the_unsharded_report() {
    // A kink at one coordinate (judged by its interval), and an f32 model.
    let relu = model("relu");
    assert_eq!(merged_is_whole(&["--exec", &relu])["verdict"], "pass");
    let f32 = model("f32");
    merged_is_whole(&["--exec", &f32, "--workers", "2"]);
}

/// `gradproof merge FILES`, which must fail with exit 2 and one line containing `expected`.
fn refused(files: &[&Path], expected: &str) {
    let names: Vec<&str> = files.iter().map(|p| s(p)).collect();
    let out = gradproof(&[&["merge"], &names[..]].concat());
    expect_code(&out, 2, expected);
    let stderr = text(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(expected),
        "expected {expected:?} in {stderr}"
    );
}

#[test]
fn partial_reports_of_no_one_check_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let (a, b, c) = (dir.join("a"), dir.join("b"), dir.join("c"));
    for d in [&a, &b, &c] {
        std::fs::create_dir(d).unwrap();
    }
    let parts = run_shards(&["--bug", "notebook"], 3, &a);
    let (p0, p1, p2) = (parts[0].as_path(), parts[1].as_path(), parts[2].as_path());
    refused(&[p0, p2], "shard 1/3 is missing");
    refused(&[p0, p1, p1, p2], "part-1.json: shard 1/3 given twice");
    let seed = run_shards(&["--bug", "notebook", "--seed", "2"], 3, &b);
    refused(
        &[p0, p1, &seed[2]],
        "part-2.json: a shard of another check: its seed is 2",
    );
    let halves = run_shards(&["--bug", "notebook"], 2, &c);
    refused(&[p0, p1, &halves[1]], "shard 1/2 of a check split in 2");
    // Another model the settings cannot tell apart: a model process's other θ.
    let relu = run_shards(&["--exec", &model("relu")], 2, &b);
    let ok = run_shards(&["--exec", &model("ok")], 2, &c);
    refused(
        &[&relu[0], &ok[1]],
        "a shard of another model: its parameters θ differ",
    );
    let truncated = dir.join("truncated.json");
    let full = std::fs::read_to_string(p2).unwrap();
    std::fs::write(&truncated, &full[..full.len() / 2]).unwrap();
    refused(
        &[p0, p1, &truncated],
        "truncated.json: truncated or not JSON",
    );
    let report = dir.join("report.json");
    std::fs::write(&report, whole(&["--bug", "notebook"]).0).unwrap();
    refused(&[p0, p1, &report], "report.json: not a partial report");
    let later = dir.join("later.json");
    std::fs::write(&later, full.replace("\"version\":1", "\"version\":2")).unwrap();
    refused(
        &[p0, p1, &later],
        "later.json: a partial report of version 2",
    );
}

#[test]
fn directional_and_exact_checks_merge_into_the_unsharded_report() {
    // Directional mode shards by tensor (the notebook's network has six), with the notebook's
    // bugs found by bisection; exact dual passes shard by coordinate, in every mode.
    let directional = merged_is_whole(&["--mode", "directional=2", "--bug", "notebook"]);
    assert_eq!(directional["verdict"], "fail");
    assert_eq!(directional["failing"], serde_json::json!(["db1", "dW2"]));
    let dual = merged_is_whole(&["--method", "dual", "--bug", "notebook"]);
    assert_eq!(dual["failing"], serde_json::json!(["db1", "dW2"]));
    let fraud = ["--layers", "20,64,32,1", "--examples", "64", "--seed", "7"];
    assert_eq!(
        merged_is_whole(&[&fraud[..], &["--method", "dual", "--mode", "directional"]].concat())["verdict"],
        "pass"
    );
    merged_is_whole(&[&fraud[..], &["--method", "dual", "--mode", "sampled=9"]].concat());
}

#[test]
fn bad_shards_are_refused_before_any_file() {
    let dir = tempfile::tempdir().unwrap();
    let part = dir.path().join("part.json");
    let out = gradproof(&["check", "--shard", "2/2", "-o", s(&part)]);
    expect_code(&out, 2, "shard 2/2");
    assert!(
        text(&out.stderr).contains("--shard"),
        "{}",
        text(&out.stderr)
    );
    let out = gradproof(&["check", "--shard", "0/2"]);
    expect_code(&out, 2, "no --out");
}
