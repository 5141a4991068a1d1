//! Progress bars: drawn on standard error of a terminal (here a pseudo-terminal made by
//! util-linux's `script`) once the work has run for the delay (set to 0 here through
//! `GRADPROOF_PROGRESS_DELAY`), never on a pipe, never with `--quiet`; the bytes written are the
//! same with or without a bar.

mod common;

use std::path::Path;
use std::process::Command;

use common::{expect_code, generate, gradproof_env, s, text, train_model};

fn bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

/// Runs `gradproof args…` on a pseudo-terminal and returns what the terminal showed.
fn on_a_terminal(args: &[&str]) -> String {
    let command = std::iter::once(env!("CARGO_BIN_EXE_gradproof"))
        .chain(args.iter().copied())
        .map(|a| format!("'{a}'"))
        .collect::<Vec<_>>()
        .join(" ");
    let out = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env("GRADPROOF_PROGRESS_DELAY", "0")
        .output()
        .expect("util-linux's script runs");
    expect_code(&out, 0, &command);
    text(&out.stdout)
}

fn generate_args(out: &Path, quiet: bool) -> Vec<&str> {
    let mut args = vec!["generate", "--rows", "20000", "--seed", "5", "-o", s(out)];
    if quiet {
        args.push("--quiet");
    }
    args
}

/// CSV and Parquet alike: the bar counts the generator's rows (as they are written, or as they
/// are turned into columns).
#[test]
fn generate_draws_a_bar_on_a_terminal_only() {
    let dir = tempfile::tempdir().unwrap();
    for extension in ["csv", "parquet"] {
        let path = |name: &str| dir.path().join(format!("{name}.{extension}"));
        let (shown, quiet, piped) = (path("a"), path("b"), path("c"));
        let screen = on_a_terminal(&generate_args(&shown, false));
        assert!(
            screen.contains("generating") && screen.contains("/20001 rows"),
            "{extension}: {screen}"
        );
        let screen = on_a_terminal(&generate_args(&quiet, true));
        assert!(!screen.contains("generating"), "{screen}");
        let out = gradproof_env(
            &generate_args(&piped, false),
            &[("GRADPROOF_PROGRESS_DELAY", "0")],
        );
        expect_code(&out, 0, "generate on a pipe");
        assert!(
            !text(&out.stderr).contains("generating"),
            "{}",
            text(&out.stderr)
        );
        let written = bytes(&shown);
        assert!(
            written == bytes(&quiet) && written == bytes(&piped),
            "{extension}: same bytes with and without a bar"
        );
    }
}

#[test]
fn score_draws_a_bar_on_a_terminal_only() {
    let dir = tempfile::tempdir().unwrap();
    let data = generate(dir.path(), "data.csv", 5_000, 0.05, 3);
    let model = train_model(dir.path(), &data, "model.json");
    let args = |out: &Path, quiet: bool| {
        let mut args = vec![
            "score",
            "--model",
            s(&model),
            "--data",
            s(&data),
            "-o",
            s(out),
        ];
        if quiet {
            args.push("-q");
        }
        args.into_iter().map(str::to_string).collect::<Vec<_>>()
    };
    let (shown, quiet) = (dir.path().join("a.csv"), dir.path().join("b.csv"));
    let a = args(&shown, false);
    let screen = on_a_terminal(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(screen.contains("scoring"), "{screen}");
    let b = args(&quiet, true);
    let screen = on_a_terminal(&b.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(!screen.contains("scoring "), "{screen}");
    assert_eq!(bytes(&shown), bytes(&quiet));
}

/// A Parquet input too: its rows counted by row group (a per-row model), or one by one as they
/// are read in order (a history model, no total).
#[test]
fn score_draws_a_bar_for_a_parquet_input_as_well() {
    let dir = tempfile::tempdir().unwrap();
    let data = generate(dir.path(), "data.csv", 3_000, 0.05, 3);
    let parquet = generate(dir.path(), "data.parquet", 5_000, 0.05, 4);
    let per_row = common::train_model_with(dir.path(), &data, "row.json", &["--features", "row"]);
    let history = train_model(dir.path(), &data, "history.json");
    for (model, shown) in [(&per_row, "/5000 rows"), (&history, "scoring ")] {
        let (a, b) = (dir.path().join("a.csv"), dir.path().join("b.csv"));
        let args = |out: &Path| {
            [
                "score",
                "--model",
                s(model),
                "--data",
                s(&parquet),
                "-o",
                s(out),
            ]
            .map(str::to_string)
            .to_vec()
        };
        let with_bar = args(&a);
        let screen = on_a_terminal(&with_bar.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(
            screen.contains("scoring") && screen.contains(shown),
            "{screen}"
        );
        let mut quiet = args(&b);
        quiet.push("-q".into());
        let screen = on_a_terminal(&quiet.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(!screen.contains("scoring "), "{screen}");
        assert_eq!(bytes(&a), bytes(&b), "same bytes with and without a bar");
    }
}

#[test]
fn check_draws_a_bar_from_the_engines_progress_on_a_terminal_only() {
    let args = ["check", "--layers", "6,8,1", "--examples", "4"];
    let screen = on_a_terminal(&args);
    assert!(
        screen.contains("checking") && screen.contains("/65 coordinates"),
        "{screen}"
    );
    let quiet: Vec<&str> = args.iter().copied().chain(["--quiet"]).collect();
    assert!(!on_a_terminal(&quiet).contains("checking"));
    let out = gradproof_env(&args, &[("GRADPROOF_PROGRESS_DELAY", "0")]);
    expect_code(&out, 0, "check on a pipe");
    assert!(
        !text(&out.stderr).contains("checking"),
        "{}",
        text(&out.stderr)
    );
}
