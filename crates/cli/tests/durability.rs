//! Nothing is lost: a run killed with SIGKILL at any moment — in the middle of saving a large
//! model, or of writing scores — leaves the previous file whole (or the new one complete), never
//! a mixture.

mod common;

use common::*;

use std::fs;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Starts `args` and SIGKILLs it after `delay` (if it is still running); true if it was killed.
fn run_and_kill(args: &[&str], delay: Duration) -> bool {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gradproof"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts");
    let started = Instant::now();
    while started.elapsed() < delay {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    // `Child::kill` is SIGKILL on Unix: no handler, no cleanup.
    let killed = child.kill().is_ok();
    let status = child.wait().unwrap();
    killed && !status.success()
}

#[test]
fn a_training_run_killed_while_saving_leaves_a_whole_model() {
    let dir = tempfile::tempdir().unwrap();
    let data = generate(dir.path(), "pay.csv", 2000, 0.05, 9);
    let model = dir.path().join("model.json");
    let small = [
        "--quiet",
        "--epochs",
        "1",
        "--hidden",
        "3",
        "--check-every",
        "0",
    ];
    let mut args = vec!["train", "--data", s(&data), "--out", s(&model)];
    args.extend(small);
    expect_code(&gradproof(&args), 0, "train the old model");
    let old = fs::read(&model).unwrap();
    // A large model (13·30000 + 30000 + 30001 parameters, ≈ 10 MB of JSON): its save takes long
    // enough to be interrupted.
    let big: Vec<&str> = vec![
        "train",
        "--data",
        s(&data),
        "--out",
        s(&model),
        "--quiet",
        "--epochs",
        "1",
        "--hidden",
        "30000",
        "--check-every",
        "0",
        "--batch-size",
        "2000",
    ];
    expect_code(&gradproof(&big), 0, "train the big model once");
    let new = fs::read(&model).unwrap();
    assert!(new.len() > 5_000_000, "{} bytes", new.len());
    fs::write(&model, &old).unwrap();
    let mut outcomes = [0usize; 3]; // old model, new model, run finished before the kill
    let mut mid_save = 0; // kills that found the save's temporary file still there
    for k in 0..10u32 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_gradproof"))
            .args(&big)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the binary starts");
        // The save writes `.gradproof-tmp.model.json` and renames it: wait for it to appear,
        // then kill after 0, 3, 6, … ms, while it is being written (or just after).
        let temporary = dir.path().join(".gradproof-tmp.model.json");
        let started = Instant::now();
        while !temporary.exists()
            && child.try_wait().unwrap().is_none()
            && started.elapsed() < Duration::from_secs(120)
        {
            std::thread::sleep(Duration::from_micros(200));
        }
        std::thread::sleep(Duration::from_millis(3 * u64::from(k)));
        let killed = child.kill().is_ok() && !child.wait().unwrap().success();
        if temporary.exists() {
            mid_save += 1;
            fs::remove_file(&temporary).unwrap();
        }
        let now = fs::read(&model).unwrap();
        let out = gradproof(&["evaluate", "--model", s(&model), "--data", s(&data)]);
        expect_code(&out, 0, &format!("evaluate after kill {k}"));
        if !killed {
            outcomes[2] += 1;
            // Same data and seed: the same bytes.
            assert_eq!(now, new, "a finished run saved the big model");
        } else if now == old {
            outcomes[0] += 1;
        } else {
            outcomes[1] += 1;
            // The big model, whole (evaluate succeeded above, so the checksum holds).
            assert_eq!(now, new, "kill {k}: a partial model");
        }
        fs::write(&model, &old).unwrap();
    }
    eprintln!(
        "kills leaving the old model, the new one, runs that finished: {outcomes:?}; \
         {mid_save} kills landed while the temporary file was being written"
    );
    assert!(mid_save > 0, "no kill landed during the save: {outcomes:?}");
    assert_eq!(outcomes.iter().sum::<usize>(), 10);
}

#[test]
fn a_scoring_run_killed_midway_leaves_the_old_scores() {
    let dir = tempfile::tempdir().unwrap();
    let data = generate(dir.path(), "pay.csv", 300000, 0.02, 9);
    let model = dir.path().join("model.json");
    expect_code(
        &gradproof(&[
            "train",
            "--data",
            s(&data),
            "--out",
            s(&model),
            "--quiet",
            "--epochs",
            "1",
            "--hidden",
            "4",
            "--check-every",
            "0",
        ]),
        0,
        "train",
    );
    let scores = dir.path().join("scores.csv");
    fs::write(&scores, "an earlier run's scores\n").unwrap();
    let args = [
        "score",
        "--model",
        s(&model),
        "--data",
        s(&data),
        "-o",
        s(&scores),
    ];
    let started = Instant::now();
    let out = gradproof(&args);
    expect_code(&out, 0, "score once, to time it");
    let full = started.elapsed();
    let complete = fs::read_to_string(&scores).unwrap();
    assert_eq!(complete.lines().count(), 300_001);
    let mut killed_runs = 0;
    for k in 1..8 {
        fs::write(&scores, "an earlier run's scores\n").unwrap();
        let delay = full.mul_f64(k as f64 / 8.0);
        let killed = run_and_kill(&args, delay);
        let now = fs::read_to_string(&scores).unwrap();
        if killed {
            killed_runs += 1;
            assert!(
                now == "an earlier run's scores\n" || now == complete,
                "killed at {delay:?}: {} lines",
                now.lines().count()
            );
        } else {
            assert_eq!(now, complete);
        }
    }
    assert!(killed_runs > 0, "every run finished before its kill");
}
