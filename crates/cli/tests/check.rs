//! End-to-end runs of `gradproof check`: verdicts, names, exit codes, usage errors.

mod common;

use std::process::Command;

use common::gradproof;

fn check_json(extra: &[&str]) -> (Option<i32>, serde_json::Value) {
    let mut args = vec!["check", "--format", "json"];
    args.extend_from_slice(extra);
    let out = gradproof(&args);
    let value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code(), value)
}

fn failing(v: &serde_json::Value) -> Vec<String> {
    let mut names: Vec<String> = v["failing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

#[test]
fn a_correct_gradient_passes_with_exit_0() {
    let (code, v) = check_json(&["--layers", "3,4,1", "--examples", "5", "--seed", "9"]);
    assert_eq!(code, Some(0));
    assert_eq!(v["verdict"], "pass");
    assert!(failing(&v).is_empty());
    assert_eq!(v["tensors"].as_array().unwrap().len(), 4);
    assert_eq!(v["tensors"][0]["gradient_name"], "dW1");
    assert_eq!(v["tensors"][0]["verdict"], "pass");
    assert!(v["evaluations"].as_u64().unwrap() > 2 * 21);
    assert!(v["seconds"].as_f64().unwrap() >= 0.0);
}

#[test]
fn each_bug_kind_is_caught_and_named_with_exit_1() {
    let cases: [(&[&str], &[&str]); 6] = [
        (&["--bug", "notebook"], &["dW2", "db1"]),
        (&["--bug", "dW1:sign"], &["dW1"]),
        (&["--bug", "db3:zero"], &["db3"]),
        (&["--bug", "dW2[1,3]:add=1e-3"], &["dW2"]),
        (&["--bug", "dW1:swap"], &["dW1"]),
        (
            &["--bug", "W3:scale=1.001", "--bug", "db2:scale=4"],
            &["dW3", "db2"],
        ),
    ];
    for (args, expected) in cases {
        let (code, v) = check_json(args);
        assert_eq!(code, Some(1), "{args:?}");
        assert_eq!(v["verdict"], "fail", "{args:?}");
        let mut expected: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
        expected.sort();
        assert_eq!(failing(&v), expected, "{args:?}");
    }
}

#[test]
fn the_worst_element_of_an_added_bug_is_the_element() {
    let (_, v) = check_json(&["--bug", "dW2[1,3]:add=1e-3"]);
    let dw2 = v["tensors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["gradient_name"] == "dW2")
        .unwrap();
    assert_eq!(dw2["worst"]["index"], serde_json::json!([1, 3]));
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    let strip = |mut v: serde_json::Value| {
        v["seconds"] = 0.into();
        v["report"]["seconds"] = 0.into();
        v
    };
    let (_, one) = check_json(&["--layers", "6,8,4,1", "--examples", "16", "--threads", "1"]);
    let (_, two) = check_json(&["--layers", "6,8,4,1", "--examples", "16", "--threads", "2"]);
    assert_eq!(strip(one), strip(two));
}

/// The report's bytes with the wall-time lines (`"seconds": …`) taken out.
fn without_seconds(stdout: &[u8]) -> String {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter(|line| !line.trim_start().starts_with("\"seconds\":"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn json_reports_are_byte_identical_with_1_and_2_threads_in_every_mode() {
    for (mode, bug) in [
        ("exhaustive", "dW2:scale=2"),
        ("sampled=3", "dW1:sign"),
        ("directional=2", "dW2[1,3]:add=1e-3"),
    ] {
        let run = |threads: &str, seed: &str| {
            let out = gradproof(&[
                "check",
                "--format",
                "json",
                "--layers",
                "6,8,4,1",
                "--examples",
                "16",
                "--mode",
                mode,
                "--bug",
                bug,
                "--seed",
                seed,
                "--threads",
                threads,
            ]);
            assert_eq!(out.status.code(), Some(1), "{mode}: the bug is caught");
            without_seconds(&out.stdout)
        };
        let one = run("1", "4");
        assert!(one.contains("\"verdict\": \"fail\""), "{one}");
        assert_eq!(one, run("2", "4"), "{mode}: 1 vs 2 threads");
        assert_ne!(one, run("1", "5"), "{mode}: another seed, another report");
    }
}

#[test]
fn bad_arguments_exit_2_with_a_clear_line() {
    let cases: [(&[&str], &str); 8] = [
        (&["--layers", "4,0,1"], "at least 1"),
        (&["--layers", "4,x,1"], "'x' is not a width"),
        (&["--layers", "4,3,2"], "width 1"),
        (&["--step", "0"], "epsilon must be finite and > 0"),
        (&["--step", "-1e-7"], "epsilon must be finite and > 0"),
        (&["--step", "NaN"], "epsilon must be finite and > 0"),
        (&["--bug", "dW9:zero"], "W9"),
        (&["--bug", "dW2[7,7]:add=1"], "out of range"),
    ];
    for (args, needle) in cases {
        let mut full = vec!["check"];
        full.extend_from_slice(args);
        let out = gradproof(&full);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    let out = gradproof(&["check", "--threads", "0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--threads"));
}

#[test]
fn every_method_and_step_rule_passes_the_correct_gradient_and_catches_the_notebook_bugs() {
    for method in ["forward", "central", "central4", "richardson"] {
        for step in ["scaled", "auto", "1e-7", "1e-3"] {
            let base = [
                "--layers",
                "5,6,4,1",
                "--examples",
                "8",
                "--method",
                method,
                "--step",
                step,
            ];
            let (code, v) = check_json(&base);
            assert_eq!(code, Some(0), "{method} {step}: {v}");
            let mut buggy = base.to_vec();
            buggy.extend(["--bug", "notebook"]);
            let (code, v) = check_json(&buggy);
            assert_eq!(code, Some(1), "{method} {step}");
            assert_eq!(failing(&v), ["dW2", "db1"], "{method} {step}");
            assert_eq!(v["report"]["reference"], method);
        }
    }
}

#[test]
fn unknown_methods_and_step_rules_exit_2() {
    for (args, needle) in [
        (["--method", "simpson"], "richardson"),
        (["--step", "tiny"], "auto, scaled"),
        (["--step", "scaled=-1"], "step scale must be finite and > 0"),
    ] {
        let mut full = vec!["check"];
        full.extend_from_slice(&args);
        let out = gradproof(&full);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}

#[test]
fn directional_mode_names_the_element_with_far_fewer_evaluations() {
    let net = ["--layers", "20,64,32,1", "--examples", "64"];
    let with = |extra: &[&str]| {
        let mut args = net.to_vec();
        args.extend_from_slice(extra);
        check_json(&args)
    };
    let (code, clean) = with(&["--mode", "directional"]);
    assert_eq!(code, Some(0), "{clean}");
    let (code, v) = with(&["--mode", "directional", "--bug", "dW2[1,3]:add=1e-3"]);
    assert_eq!(code, Some(1));
    assert_eq!(failing(&v), ["dW2"]);
    let dw2 = &v["tensors"][2];
    assert_eq!(dw2["gradient_name"], "dW2");
    assert_eq!(dw2["worst"]["index"], serde_json::json!([1, 3]));
    let (_, exhaustive) = with(&["--bug", "dW2[1,3]:add=1e-3"]);
    let (d, e) = (
        v["evaluations"].as_u64().unwrap(),
        exhaustive["evaluations"].as_u64().unwrap(),
    );
    assert!(d * 20 < e, "directional {d} vs exhaustive {e} evaluations");
}

#[test]
fn sampled_mode_covers_every_tensor() {
    let (code, v) = check_json(&[
        "--layers",
        "20,64,32,1",
        "--mode",
        "sampled=4",
        "--bug",
        "db3:zero",
    ]);
    assert_eq!(code, Some(1));
    assert_eq!(failing(&v), ["db3"]);
    let checked: Vec<u64> = v["report"]["tensors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["checked"].as_u64().unwrap())
        .collect();
    assert_eq!(checked, [4, 4, 4, 4, 4, 1]);
    let out = gradproof(&["check", "--mode", "sampled=0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("mode must be one of"));
}

#[test]
fn allclose_tolerances_replace_the_error_bounds() {
    // A loose tolerance lets a 1e-3 relative error through; the error bound does not.
    let bug = ["--bug", "dW2:scale=1.001"];
    let (code, _) = check_json(&bug);
    assert_eq!(code, Some(1));
    let mut loose = bug.to_vec();
    loose.extend(["--rtol", "1e-2", "--atol", "1e-8"]);
    let (code, v) = check_json(&loose);
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["report"]["tolerance"]["rtol"], 1e-2);
    // A tolerance tighter than the noise allows is the user's call: it fails a correct gradient.
    let (code, _) = check_json(&["--step", "1e-7", "--rtol", "1e-12"]);
    assert_eq!(code, Some(1));
    for bad in [["--rtol", "-1"], ["--atol", "NaN"], ["--rtol", "0"]] {
        let mut args = vec!["check"];
        args.extend_from_slice(&bad);
        let out = gradproof(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {err}");
        assert!(err.contains("tol"), "{bad:?}: {err}");
    }
}

#[test]
fn mistakes_inside_the_backward_pass_are_caught() {
    let (code, v) = check_json(&["--examples", "8", "--bug", "db2:unsummed"]);
    assert_eq!(code, Some(1));
    assert_eq!(failing(&v), ["db2"]);
    // Layer 2's ReLU differentiated as a sigmoid spoils layers 2 and 1, never layer 3.
    let (code, v) = check_json(&["--examples", "8", "--bug", "dW2:sigmoid-derivative"]);
    assert_eq!(code, Some(1));
    let wrong = failing(&v);
    assert!(wrong.iter().any(|g| g == "dW2" || g == "db2"), "{wrong:?}");
    assert!(wrong.iter().all(|g| !g.ends_with('3')), "{wrong:?}");
    let out = gradproof(&["check", "--bug", "dW3:sigmoid-derivative"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a hidden layer"));
}

#[test]
fn a_reader_that_goes_away_is_not_a_crash() {
    use std::io::Read;
    use std::process::Stdio;
    // A report much longer than the pipe's buffer (80 layers: 160 tensors, ≈ 240 kB of JSON),
    // its reader gone after a few bytes.
    let layers = format!("{}1", "3,".repeat(80));
    let mut child = Command::new(env!("CARGO_BIN_EXE_gradproof"))
        .args(["check", "--layers", &layers, "--format", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 8];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}

#[test]
fn method_dual_checks_exactly_in_both_modes() {
    for mode in ["exhaustive", "directional"] {
        let base = [
            "--method",
            "dual",
            "--mode",
            mode,
            "--layers",
            "4,5,3,1",
            "--examples",
            "7",
        ];
        let (code, v) = check_json(&base);
        assert_eq!(code, Some(0), "{mode}: {v}");
        assert_eq!(v["report"]["reference"], "dual");
        assert_eq!(v["report"]["epsilon"], 0.0);
        assert_eq!(v["report"]["noise_status"], "not_needed");
        for t in v["report"]["tensors"].as_array().unwrap() {
            assert_eq!(t["kink"], 0, "{mode}: {t}");
            assert!(t["difference"].as_f64().unwrap() < 1e-13, "{mode}: {t}");
        }
        let mut buggy = base.to_vec();
        buggy.extend(["--bug", "dW2[1,3]:add=1e-6", "--bug", "db1:unsummed"]);
        let (code, v) = check_json(&buggy);
        assert_eq!(code, Some(1), "{mode}: {v}");
        assert_eq!(failing(&v), ["dW2", "db1"], "{mode}");
        let dw2 = v["tensors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["gradient_name"] == "dW2")
            .unwrap();
        assert_eq!(dw2["worst"]["index"], serde_json::json!([1, 3]), "{mode}");
    }
    // Exhaustive: one dual pass per parameter (47) plus J once.
    let (_, v) = check_json(&["--method", "dual"]);
    assert_eq!(v["evaluations"], 48);
    let text = gradproof(&["check", "--method", "dual"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("exact directional derivatives (dual numbers, no step)"),
        "{text}"
    );
    // A step sweep needs a step: a clear refusal, not a panic.
    let out = gradproof(&[
        "check",
        "--method",
        "dual",
        "--plot",
        "/tmp/never-written.png",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("takes no step"), "{err}");
}

/// The JSON row of the tensor with gradient `name`, and its full report row.
fn row<'v>(v: &'v serde_json::Value, name: &str) -> (&'v serde_json::Value, &'v serde_json::Value) {
    let find = |list: &'v serde_json::Value| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|t| t["gradient_name"] == name)
            .unwrap()
    };
    (find(&v["tensors"]), find(&v["report"]["tensors"]))
}

/// `(examined, wrong, probes, summary)` of a JSON row.
type Measured<'a> = (u64, u64, u64, &'a str);

/// The [`Measured`] counts of a JSON row.
fn measured(t: &serde_json::Value) -> Measured<'_> {
    (
        t["examined"].as_u64().unwrap(),
        t["wrong"].as_u64().unwrap(),
        t["probes"].as_u64().unwrap(),
        t["summary"].as_str().unwrap(),
    )
}

/// The notebook's bug doubles dW2 (10 of its 15 elements are nonzero, so wrong) and quadruples
/// db1 (all 5 wrong); dW1 is right. Every mode and method reports what it measured of each.
#[test]
fn every_mode_reports_the_counts_it_measured_in_json_and_text() {
    for method in ["central", "dual"] {
        let args = |mode: &'static str| ["--mode", mode, "--method", method, "--bug", "notebook"];
        let text = |mode: &'static str| {
            let mut all = vec!["check"];
            all.extend(args(mode));
            String::from_utf8_lossy(&gradproof(&all).stdout).into_owned()
        };

        let expect = |v: &serde_json::Value, rows: [(&str, Measured<'_>); 2]| {
            for (name, counts) in rows {
                assert_eq!(measured(row(v, name).0), counts, "{method} {name}");
            }
        };
        let (code, v) = check_json(&args("exhaustive"));
        assert_eq!(code, Some(1), "{method}");
        expect(
            &v,
            [
                ("db1", (5, 5, 0, "5 examined, 5 wrong")),
                ("dW1", (20, 0, 0, "20 examined, 0 wrong")),
            ],
        );
        assert_eq!(
            measured(row(&v, "dW2").0),
            (15, 10, 0, "15 examined, 10 wrong")
        );
        assert!(
            text("exhaustive").contains("15 examined, 10 wrong"),
            "{method}"
        );

        let (_, v) = check_json(&args("sampled=4"));
        expect(
            &v,
            [
                ("db1", (4, 4, 0, "4 of 5 sampled, 4 wrong")),
                ("dW1", (4, 0, 0, "4 of 20 sampled, 0 wrong")),
            ],
        );
        // dW2: the 4 sampled elements are all in the report's top list; those it counts wrong
        // are the ones outside their bound, each one doubled.
        let (json, full) = row(&v, "dW2");
        let sample = full["top"].as_array().unwrap();
        assert_eq!(sample.len(), 4);
        let outside: Vec<&serde_json::Value> = sample
            .iter()
            .filter(|e| e["ratio"].as_f64().unwrap() > 1.0)
            .collect();
        assert_eq!(json["wrong"].as_u64().unwrap(), outside.len() as u64);
        assert!(!outside.is_empty(), "{method}: {json}");
        for e in outside {
            let (a, n) = (
                e["analytic"].as_f64().unwrap(),
                e["numeric"].as_f64().unwrap(),
            );
            assert!((a - 2.0 * n).abs() < 1e-6, "{method}: {e}");
        }

        let (_, v) = check_json(&args("directional"));
        expect(
            &v,
            [
                (
                    "db1",
                    (
                        3,
                        3,
                        7,
                        "7 probes: 3 wrong found by bisection; 2 not examined singly",
                    ),
                ),
                (
                    "dW2",
                    (
                        3,
                        3,
                        11,
                        "11 probes: 3 wrong found by bisection; 12 not examined singly",
                    ),
                ),
            ],
        );
        let (dw1, full) = row(&v, "dW1");
        assert_eq!(
            measured(dw1),
            (0, 0, 2, "2 probes: 20 not examined singly"),
            "{method}"
        );
        assert_eq!(
            (&dw1["worst"], &full["max_abs_error"], &full["agree"]),
            (
                &serde_json::Value::Null,
                &serde_json::Value::Null,
                &serde_json::json!(0)
            )
        );
        let table = text("directional");
        assert!(
            table.contains("7 probes: 3 wrong found by bisection; 2 not examined singly"),
            "{method}: {table}"
        );
        assert!(
            !table.contains("0/5") && !table.contains("20/20"),
            "{table}"
        );
    }
}

#[test]
fn one_wrong_element_is_counted_once_in_every_mode() {
    for mode in ["exhaustive", "sampled=15", "directional"] {
        let (_, v) = check_json(&["--mode", mode, "--bug", "dW2[1,3]:add=1e-3"]);
        assert_eq!(failing(&v), ["dW2"], "{mode}");
        let (dw2, _) = row(&v, "dW2");
        assert_eq!(dw2["wrong"], 1, "{mode}: {dw2}");
        assert_eq!(dw2["worst"]["index"], serde_json::json!([1, 3]), "{mode}");
        assert!(dw2["worst"]["ratio"].as_f64().unwrap() > 1.0, "{mode}");
        assert_eq!(total(&v, "wrong"), 1, "{mode}");
    }
}

/// The sum of a count over the JSON rows.
fn total(v: &serde_json::Value, count: &str) -> u64 {
    v["tensors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t[count].as_u64().unwrap())
        .sum()
}

#[test]
fn a_correct_gradient_has_nothing_wrong_and_directional_mode_examines_only_small_tensors_singly() {
    let (_, v) = check_json(&["--mode", "exhaustive"]);
    assert_eq!((total(&v, "examined"), total(&v, "wrong")), (47, 0));
    let (_, v) = check_json(&["--mode", "sampled=4"]);
    assert_eq!(
        (total(&v, "examined"), total(&v, "wrong")),
        (4 + 4 + 4 + 3 + 3 + 1, 0)
    );
    // Two probes per tensor of more than 3 elements (the second confirms the first along
    // another direction); db3 (one element), db2 and dW3 (three each) are examined element by
    // element, one probe per element.
    let (_, v) = check_json(&["--mode", "directional"]);
    assert_eq!((total(&v, "examined"), total(&v, "wrong")), (1 + 3 + 3, 0));
    assert_eq!(total(&v, "probes"), 2 + 2 + 2 + 3 + 3 + 1);
}

#[test]
fn tiny_steps_never_pass_a_correct_or_a_buggy_gradient() {
    // 1e-16 is refused outright (θ ± h rounds to θ for some parameter); the representable steps
    // below ~1e-12 leave the differences unable to resolve the gradient: inconclusive (exit 3),
    // or, where the bug still shows, wrong (exit 1). Never a pass.
    for step in ["1e-13", "1e-14", "1e-15", "4e-16", "1e-16"] {
        for bug in [&[][..], &["--bug", "notebook"][..]] {
            let mut args = vec!["check", "--format", "json", "--step", step];
            args.extend_from_slice(bug);
            let out = gradproof(&args);
            let code = out.status.code();
            assert_ne!(code, Some(0), "--step {step} {bug:?}");
            if code == Some(2) {
                continue;
            }
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            match code {
                Some(3) => {
                    assert_eq!(v["verdict"], "inconclusive", "--step {step} {bug:?}");
                    let reason = v["reason"].as_str().unwrap();
                    assert!(reason.contains("too small"), "{reason}");
                }
                Some(1) => assert_eq!(v["verdict"], "fail", "--step {step} {bug:?}"),
                other => panic!("--step {step} {bug:?}: exit {other:?}"),
            }
        }
    }
    let out = gradproof(&["check", "--step", "1e-15"]);
    assert_eq!(out.status.code(), Some(3));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("INCONCLUSIVE"), "{text}");
}

#[test]
fn huge_steps_never_fail_a_correct_gradient_nor_pass_a_buggy_one() {
    // At steps far above the natural one the logistic cost saturates: linear on each side of θ,
    // it fooled the truncation estimate (dW3 and db3 "wrong" at 1e3) and looked kinked. Every
    // disagreement and every interval is corroborated at the natural step: a correct gradient is
    // inconclusive (exit 3, "too large") or passes, the buggy one still fails naming its tensors.
    for step in ["1e-1", "1e3", "1e10", "scaled=1e5"] {
        for mode in ["exhaustive", "directional", "sampled=4"] {
            let out = gradproof(&["check", "--format", "json", "--step", step, "--mode", mode]);
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            match out.status.code() {
                Some(0) => assert_eq!(v["verdict"], "pass", "--step {step} {mode}"),
                Some(3) => {
                    let reason = v["reason"].as_str().unwrap();
                    assert!(
                        reason.contains("too large"),
                        "--step {step} {mode}: {reason}"
                    );
                }
                other => panic!("--step {step} {mode}: exit {other:?}\n{v}"),
            }
            let args = [
                "check", "--format", "json", "--step", step, "--mode", mode, "--bug", "notebook",
            ];
            let out = gradproof(&args);
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(
                out.status.code(),
                Some(1),
                "--step {step} {mode} --bug\n{v}"
            );
            assert_eq!(
                v["failing"],
                serde_json::json!(["db1", "dW2"]),
                "--step {step} {mode}"
            );
        }
    }
}

#[test]
fn the_json_states_the_detection_floor() {
    let (code, v) = check_json(&[]);
    assert_eq!(code, Some(0));
    let floor = v["detection_floor"].as_f64().unwrap();
    assert!(floor > 0.0 && floor < 1e-6, "{floor}");
    assert_eq!(v["report"]["precision"], "f64");
    assert!(v["reason"].is_null());
}

#[test]
fn points_and_precision_reach_the_checker() {
    let (code, v) = check_json(&["--points", "3", "--precision", "f64"]);
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["points"], 3);
    assert_eq!(v["point"], 0);
    assert_eq!(v["report"]["precision"], "f64");
    let (single, one) = check_json(&[]);
    assert_eq!(single, Some(0));
    assert_eq!(one["points"], 1);
    assert!(v["evaluations"].as_u64().unwrap() > 2 * one["evaluations"].as_u64().unwrap());
    // A bug at θ stops the check at the first point.
    let (code, v) = check_json(&["--points", "4", "--bug", "db3:zero"]);
    assert_eq!(
        (code, &v["point"], &v["points"]),
        (Some(1), &0.into(), &1.into())
    );
    // Declared f32 on this f64 cost: steps and noise sized for f32, a coarser floor.
    let (_, f32_report) = check_json(&["--precision", "f32"]);
    assert_eq!(f32_report["report"]["precision"], "f32");
    assert!(
        f32_report["detection_floor"].as_f64().unwrap()
            > 100.0 * one["detection_floor"].as_f64().unwrap()
    );
    for (flag, value, expected) in [
        ("--points", "0", "--points"),
        ("--points", "many", "--points"),
        ("--precision", "f8", "f64, f32, f16 or bf16"),
    ] {
        let out = gradproof(&["check", flag, value]);
        common::expect_code(&out, 2, flag);
        let stderr = common::text(&out.stderr);
        assert!(stderr.contains(expected), "{flag} {value}: {stderr}");
    }
}
