//! End-to-end runs of `gradproof check --exec`: models in other processes speaking
//! gradproof-protocol 1. The notebook's network through the Python client (numpy: a python with
//! it is looked for, see [`python_with_numpy`]) and through the C header (built with the
//! machine's `cc`) gives the notebook's numbers; a standard-library
//! model (tests/exec/model.py) that breaks on purpose — crash, hang, garbage, early close, wrong
//! size, an error it reports — stops the check with exit 2 naming the worker, the request and
//! what came back, with every model process gone afterwards.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{build_c, expect_code, gradproof, gradproof_env, root, skip, text};

/// The notebook's overall relative difference for its buggy backward pass at step 1e-7.
const NOTEBOOK_DIFFERENCE: f64 = 0.285093156781;

/// `python3 tests/exec/model.py MODE`, as an --exec command.
fn model(mode: &str) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/exec/model.py");
    format!("python3 {} {mode}", script.display())
}

/// A python that imports numpy: $GRADPROOF_TEST_PYTHON, else the repository's .venv/bin/python
/// (which `make test` builds), else `python3` if it has numpy. None (the test is skipped, saying
/// why) when there is none, unless GRADPROOF_REQUIRE_EXEC_TOOLS=1 (`make test` sets it), which
/// makes that a failure.
fn python_with_numpy() -> Option<String> {
    let venv = root().join(".venv/bin/python");
    let candidates = std::env::var("GRADPROOF_TEST_PYTHON")
        .ok()
        .into_iter()
        .chain(venv.exists().then(|| venv.display().to_string()))
        .chain(["python3".to_string()]);
    for python in candidates {
        let imports = Command::new(&python)
            .args(["-c", "import numpy"])
            .output()
            .is_ok_and(|out| out.status.success());
        if imports {
            return Some(python);
        }
    }
    skip("no python with numpy ($GRADPROOF_TEST_PYTHON, .venv/bin/python, python3)")
}

/// `gradproof check --format json ARGS`: the exit code and the report.
fn check_json(args: &[&str]) -> (Option<i32>, serde_json::Value) {
    let out = gradproof(&[&["check", "--format", "json", "-q"], args].concat());
    let value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", text(&out.stderr)));
    (out.status.code(), value)
}

fn failing(report: &serde_json::Value) -> Vec<&str> {
    let mut names: Vec<&str> = report["failing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    names.sort();
    names
}

/// A report without its timings (`seconds`, at any depth).
fn without_seconds(mut value: serde_json::Value) -> serde_json::Value {
    match &mut value {
        serde_json::Value::Object(map) => {
            map.remove("seconds");
            for v in map.values_mut() {
                *v = without_seconds(v.take());
            }
        }
        serde_json::Value::Array(items) => {
            for v in items {
                *v = without_seconds(v.take());
            }
        }
        _ => {}
    }
    value
}

/// Checks the notebook's network served by `command` (buggy) and `command --fixed` at the
/// notebook's step, with `extra` flags: the buggy pass fails naming dW2 and db1 with the
/// notebook's difference, the corrected one passes with the Rust reproduction's figure.
fn expect_the_notebooks_numbers(command: &str, extra: &[&str]) {
    let (code, report) = check_json(&[&["--exec", command, "--step", "1e-7"], extra].concat());
    assert_eq!(code, Some(1), "{report}");
    assert_eq!(failing(&report), ["dW2", "db1"]);
    let difference = report["difference"].as_f64().unwrap();
    assert!(
        (difference - NOTEBOOK_DIFFERENCE).abs() < 1e-9,
        "{difference}"
    );
    // The report names the model's own tensors, in its order.
    let names: Vec<&str> = report["tensors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["gradient_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["dW1", "db1", "dW2", "db2", "dW3", "db3"]);

    let fixed = format!("{command} --fixed");
    let (code, report) = check_json(&[&["--exec", &fixed, "--step", "1e-7"], extra].concat());
    assert_eq!(code, Some(0), "{report}");
    let difference = report["difference"].as_f64().unwrap();
    assert!((difference / 1.189e-7 - 1.0).abs() < 1e-3, "{difference}");
}

#[test]
fn the_notebooks_network_in_python_gives_the_notebooks_numbers() {
    let Some(python) = python_with_numpy() else {
        return;
    };
    let script = root().join("examples/protocol/notebook_model.py");
    expect_the_notebooks_numbers(&format!("{python} {}", script.display()), &[]);
}

#[test]
fn the_notebooks_network_in_c_gives_the_notebooks_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let Some(binary) = build_c("notebook", dir.path()) else {
        return;
    };
    expect_the_notebooks_numbers(&binary.display().to_string(), &["--workers", "2"]);

    let Some(squares) = build_c("squares", dir.path()) else {
        return;
    };
    let (code, report) = check_json(&["--exec", &format!("{} 50", squares.display())]);
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["report"]["parameters"], 50);
}

#[test]
fn the_report_is_the_same_for_any_number_of_workers() {
    let command = model("ok");
    for mode in ["exhaustive", "sampled=2", "directional"] {
        let reports: Vec<_> = ["1", "2", "4"]
            .iter()
            .map(|workers| {
                let args = ["--exec", &command, "--workers", workers, "--mode", mode];
                let (code, report) = check_json(&args);
                assert_eq!(code, Some(0), "{report}");
                without_seconds(report)
            })
            .collect();
        assert_eq!(reports[0], reports[1], "{mode}");
        assert_eq!(reports[0], reports[2], "{mode}");
    }
}

#[test]
fn an_f32_model_is_checked_in_f32_and_signatures_tell_a_kink() {
    let (code, report) = check_json(&["--exec", &model("f32")]);
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["report"]["precision"], "f32");
    // --precision still decides when given.
    let (_, report) = check_json(&["--exec", &model("f32"), "--precision", "f16"]);
    assert_eq!(report["report"]["precision"], "f16");

    let (code, report) = check_json(&["--exec", &model("relu")]);
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["report"]["tensors"][0]["kink"], 1);
}

#[test]
fn the_built_in_models_flags_are_refused_with_exec() {
    let command = model("ok");
    for flag in [
        ["--layers", "3,1"],
        ["--examples", "2"],
        ["--bug", "dW1:sign"],
        ["--activation", "tanh"],
        ["--l2", "0.1"],
        ["--dropout", "0.1"],
    ] {
        let out = gradproof(&[&["check", "--exec", &command], &flag[..]].concat());
        expect_code(&out, 2, flag[0]);
        let error = text(&out.stderr);
        assert!(
            error.contains("--exec") && error.contains(flag[0]),
            "{error}"
        );
        assert_eq!(error.lines().count(), 1, "{error}");
    }
}

#[test]
fn bad_commands_and_settings_exit_2_with_a_clear_line() {
    let cases: [(&[&str], &str); 6] = [
        (&["--workers", "2"], "--exec"),
        (&["--timeout", "5"], "--exec"),
        (
            &["--exec", "python3 x.py", "--workers", "65"],
            "from 1 to 64",
        ),
        (&["--exec", "python3 x.py", "--timeout", "0"], "--timeout"),
        (&["--exec", "'unbalanced"], "unbalanced quotes"),
        (
            &["--exec", "/nonexistent/model --flag"],
            "--exec: cannot start '/nonexistent/model'",
        ),
    ];
    for (args, expected) in cases {
        let out = gradproof(&[&["check"], args].concat());
        expect_code(&out, 2, expected);
        let error = text(&out.stderr);
        assert!(error.contains(expected), "{args:?}: {error}");
        assert_eq!(error.lines().count(), 1, "{error}");
    }
}

/// Runs `check` on `model.py MODE` with `workers` copies, recording their pids; asserts exit 2
/// within `seconds`, and that no model process outlives it. The timeout is 1 s for the modes that
/// hang, 10 s for the others (a busy machine must not turn their answers into timeouts).
fn failing_run(mode: &str, workers: usize, seconds: u64) -> String {
    let timeout = if mode.starts_with("hang") { "1" } else { "10" };
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let out: Output = gradproof_env(
        &[
            "check",
            "-q",
            "--exec",
            &model(mode),
            "--workers",
            &workers.to_string(),
            "--timeout",
            timeout,
        ],
        &[("MODEL_DIR", dir.path().to_str().unwrap())],
    );
    let took = started.elapsed();
    expect_code(&out, 2, mode);
    assert!(took < Duration::from_secs(seconds), "{mode}: {took:?}");
    let pids: Vec<i32> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|entry| {
            entry
                .unwrap()
                .file_name()
                .to_str()?
                .strip_prefix("pid-")?
                .parse()
                .ok()
        })
        .collect();
    let error = text(&out.stderr);
    assert_eq!(pids.len(), workers, "{mode}: every copy started; {error}");
    for pid in pids {
        // SAFETY: signal 0 only asks whether the process exists.
        let alive = unsafe { libc::kill(pid, 0) } == 0;
        assert!(!alive, "{mode}: model process {pid} outlived gradproof");
    }
    let error = text(&out.stderr);
    assert_eq!(error.lines().count(), 1, "{error}");
    error
}

#[test]
fn a_failing_model_stops_the_check_naming_the_worker_the_request_and_what_came_back() {
    let cases = [
        (
            "crash 2",
            "gradient request 2: the model closed its output (it exited with exit status: 3): \
             expected an answer tag (1 byte), got nothing",
        ),
        (
            "hang 2",
            "gradient request 2: no answer within 1 s: expected an answer tag \
             (1 byte), got nothing",
        ),
        (
            "garbage 2",
            "gradient request 2: expected an answer tag 'R' or 'E', got \"hello from the model\\n\"",
        ),
        (
            "close 2",
            "gradient request 2: the model closed its output (it is still running)",
        ),
        (
            "wrong-size",
            "gradient request 2: answered a frame of 2 values, expected 3",
        ),
        (
            "error 3",
            "cost request 3: the model reported an error: the cost blew up",
        ),
        (
            "handshake",
            "handshake: expected a JSON object {\"protocol\": \"gradproof-protocol 1\"",
        ),
    ];
    for (mode, expected) in cases {
        let error = failing_run(mode, 1, 10);
        assert!(
            error.starts_with("error: --exec: worker 0 (pid "),
            "{mode}: {error}"
        );
        assert!(error.contains(expected), "{mode}: {error}");
    }
}

#[test]
fn a_hanging_worker_stops_its_siblings() {
    // One of three copies hangs on its first request; the others answer. The check stops at
    // the timeout, names the hanging one, and kills all three.
    let error = failing_run("hang-first", 3, 10);
    assert!(error.contains("no answer within 1 s"), "{error}");
    // Every copy crashing at once: one error, not three.
    let error = failing_run("crash 4", 3, 10);
    assert!(error.contains("exit status: 3"), "{error}");
}
