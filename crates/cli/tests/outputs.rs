//! Outputs never destroy what is not theirs (issue 12, classes 1, 2, 4, 10, 11 and 13): a device,
//! FIFO or `-` is written straight through, a symbolic link's target is replaced and the link
//! kept, an output that is an input is refused before any work, a replaced file keeps its
//! permissions, all outputs of a command are written or none, a kill at any moment leaves the old
//! output whole and no temporary survives the next run, and the same seed gives the same bytes.

mod common;

use common::*;

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt, symlink};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn fixture() -> Fixture {
    Fixture::new()
}

/// Reads a FIFO to its end on another thread.
fn drain(fifo: &Path) -> std::thread::JoinHandle<Vec<u8>> {
    let fifo = fifo.to_path_buf();
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        fs::File::open(fifo)
            .unwrap()
            .read_to_end(&mut bytes)
            .unwrap();
        bytes
    })
}

#[test]
fn devices_fifos_and_standard_output_are_written_through_and_links_followed() {
    let f = fixture();
    // A symbolic link to a device (never the real one renamed over): written through.
    let null = f.path("null");
    symlink("/dev/null", &null).unwrap();
    expect_code(&f.score(&f.model, &null), 0, "score -o a link to /dev/null");
    assert_eq!(fs::read_link(&null).unwrap(), Path::new("/dev/null"));
    assert!(
        fs::metadata("/dev/null")
            .unwrap()
            .file_type()
            .is_char_device()
    );
    for args in [
        vec!["generate", "--rows", "50", "-o"],
        vec!["check", "--plot"],
    ] {
        let mut args = args.clone();
        args.push(s(&null));
        expect_code(&gradproof(&args), 0, &format!("{args:?}"));
        assert_eq!(fs::read_link(&null).unwrap(), Path::new("/dev/null"));
    }
    // A FIFO: its reader gets the bytes, and it stays a FIFO.
    let fifo = f.path("scores.fifo");
    mkfifo(&fifo);
    let reader = drain(&fifo);
    expect_code(&f.score(&f.model, &fifo), 0, "score -o a FIFO");
    assert!(
        reader
            .join()
            .unwrap()
            .starts_with(b"row,probability,flag\n")
    );
    let reader = drain(&fifo);
    let out = f.train(&fifo, &["--epochs", "1"]);
    expect_code(&out, 0, "train --out a FIFO");
    assert!(reader.join().unwrap().starts_with(b"{"));
    assert!(fs::metadata(&fifo).unwrap().file_type().is_fifo());
    // `-`: the rows on standard output, the summary on standard error.
    let out = gradproof(&["generate", "--rows", "20", "-o", "-"]);
    expect_code(&out, 0, "generate -o -");
    assert_eq!(text(&out.stdout).lines().count(), 21);
    assert!(text(&out.stderr).contains("wrote 20 rows"));
    // A link to a regular file: the target is replaced, the link stays a link.
    let target = f.path("real.csv");
    fs::write(&target, "old").unwrap();
    let link = f.path("link.csv");
    symlink(&target, &link).unwrap();
    expect_code(&f.score(&f.model, &link), 0, "score -o a link to a file");
    assert!(
        fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(fs::read_to_string(&target).unwrap().starts_with("row,"));
    // What cannot be written is refused, naming the flag.
    let dangling = f.path("dangling.csv");
    symlink(f.path("nowhere/x.csv"), &dangling).unwrap();
    expect_refusal(
        &f.score(&f.model, &dangling),
        &["--out", "symbolic link to nothing"],
        "dangling",
    );
    expect_refusal(
        &f.score(&f.model, f.dir.path()),
        &["--out", "is a folder"],
        "a folder",
    );
    let names = names_in(f.dir.path());
    assert!(
        !names.iter().any(|n| n.contains("gradproof-tmp")),
        "{names:?}"
    );
}

#[test]
fn an_output_that_is_an_input_is_refused_before_any_work() {
    let f = fixture();
    let data_bytes = fs::read(&f.data).unwrap();
    let model_bytes = fs::read(&f.model).unwrap();
    let hard = f.path("hard.csv");
    fs::hard_link(&f.data, &hard).unwrap();
    let soft = f.path("soft.json");
    symlink(&f.model, &soft).unwrap();
    let (data, model) = (s(&f.data), s(&f.model));
    let cases: Vec<(Vec<&str>, [&str; 2])> = vec![
        (
            vec!["score", "--model", model, "--data", data, "-o", data],
            ["--out", "--data"],
        ),
        (
            vec!["score", "--model", model, "--data", data, "-o", model],
            ["--out", "--model"],
        ),
        (
            vec!["score", "--model", model, "--data", data, "-o", s(&hard)],
            ["--out", "--data"],
        ),
        (
            vec!["score", "--model", model, "--data", data, "-o", s(&soft)],
            ["--out", "--model"],
        ),
        (vec!["evaluate", "--model", model, "--data", data], ["", ""]),
        (
            vec!["train", "--data", data, "--out", data, "--quiet"],
            ["--out", "--data"],
        ),
        (
            vec!["train", "--data", s(&hard), "--out", data, "--quiet"],
            ["--out", "--data"],
        ),
    ];
    for (args, flags) in cases {
        let out = gradproof(&args);
        if args[0] == "evaluate" {
            expect_code(&out, 0, "evaluate reads, writes nothing");
            continue;
        }
        expect_refusal(
            &out,
            &[
                flags[0],
                flags[1],
                "same file",
                "refusing to overwrite an input",
            ],
            &format!("{args:?}"),
        );
        assert_eq!(fs::read(&f.data).unwrap(), data_bytes);
        assert_eq!(fs::read(&f.model).unwrap(), model_bytes);
    }
}

/// The process's umask, without changing it.
fn umask() -> u32 {
    // SAFETY: umask only swaps the mask; it is put back at once.
    unsafe {
        let mask = libc::umask(0o022);
        libc::umask(mask);
        mask as u32
    }
}

#[test]
fn a_replaced_output_keeps_its_permissions_and_a_new_one_follows_the_umask() {
    let f = fixture();
    let scores = f.path("scores.csv");
    fs::write(&scores, "old").unwrap();
    fs::set_permissions(&scores, fs::Permissions::from_mode(0o600)).unwrap();
    expect_code(&f.score(&f.model, &scores), 0, "score over a 0600 file");
    assert_eq!(
        fs::metadata(&scores).unwrap().permissions().mode() & 0o777,
        0o600
    );
    fs::set_permissions(&f.model, fs::Permissions::from_mode(0o640)).unwrap();
    let out = f.train(&f.model, &["--epochs", "1"]);
    expect_code(&out, 0, "train over a 0640 model");
    assert_eq!(
        fs::metadata(&f.model).unwrap().permissions().mode() & 0o777,
        0o640
    );
    let fresh = f.path("fresh.csv");
    expect_code(&f.score(&f.model, &fresh), 0, "score into a new file");
    assert_eq!(
        fs::metadata(&fresh).unwrap().permissions().mode() & 0o777,
        0o666 & !umask()
    );
}

#[test]
fn outputs_are_all_written_or_none() {
    let f = fixture();
    let model_bytes = fs::read(&f.model).unwrap();
    let plots = f.path("plots");
    fs::create_dir(&plots).unwrap();
    // A picture that cannot be written: refused before training, the model untouched.
    fs::create_dir(plots.join("pr_curve.png")).unwrap();
    let out = f.train(&f.model, &["--plots", s(&plots)]);
    expect_refusal(&out, &["--plots", "pr_curve.png", "is a folder"], "plots");
    assert_eq!(fs::read(&f.model).unwrap(), model_bytes);
    // Into a new folder: the model and the three pictures, nothing else.
    fs::remove_dir(plots.join("pr_curve.png")).unwrap();
    let fresh = f.path("fresh-plots");
    let out = f.train(&f.model, &["--plots", s(&fresh), "--epochs", "1"]);
    expect_code(&out, 0, "train with plots");
    assert_eq!(names_in(&fresh), ["loss.png", "pr_auc.png", "pr_curve.png"]);
    // A failed run whose pictures would go into a new folder leaves no folder.
    let never = f.path("never");
    let out = f.train(&f.model, &["--plots", s(&never), "--lr", "1e308"]);
    expect_refusal(&out, &["diverged", "--lr"], "diverging training");
    assert!(!never.exists());
}

#[test]
fn the_same_seed_gives_the_same_model_bytes() {
    let f = fixture();
    let again = train_model(f.dir.path(), &f.data, "again.json");
    assert_eq!(fs::read(&f.model).unwrap(), fs::read(again).unwrap());
}

/// Starts the binary with `args`, its output streams discarded.
fn spawn(args: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_gradproof"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Sends `signal` to `child` and waits for it; true unless it exited successfully.
fn signal_and_wait(child: &mut std::process::Child, signal: i32) -> bool {
    // SAFETY: signalling our own child, which has not been waited for yet.
    assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
    !child.wait().unwrap().success()
}

/// Waits until `path` exists, or panics after 60 s.
fn wait_for(path: &Path) {
    let started = Instant::now();
    while fs::symlink_metadata(path).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{path:?} never appeared"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn temporaries(dir: &Path) -> Vec<String> {
    names_in(dir)
        .into_iter()
        .filter(|n| n.contains("gradproof-tmp"))
        .collect()
}

#[test]
fn a_kill_leaves_the_old_output_whole_and_no_temporary_survives_the_next_run() {
    let f = fixture();
    let out = f.path("out.csv");
    let temporary = f.path(".gradproof-tmp.out.csv");
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGKILL] {
        fs::write(&out, "old").unwrap();
        // `score` reading a FIFO that is never closed: it waits with its output staged.
        let input = f.path("in.fifo");
        mkfifo(&input);
        let mut child = spawn(&[
            "score",
            "--model",
            s(&f.model),
            "--data",
            s(&input),
            "-o",
            s(&out),
        ]);
        let mut writer = fs::OpenOptions::new().write(true).open(&input).unwrap();
        writer
            .write_all(fs::read_to_string(&f.data).unwrap().as_bytes())
            .unwrap();
        writer.flush().unwrap();
        wait_for(&temporary);
        assert!(signal_and_wait(&mut child, signal), "signal {signal}");
        drop(writer);
        fs::remove_file(&input).unwrap();
        assert_eq!(fs::read_to_string(&out).unwrap(), "old", "signal {signal}");
        if signal != libc::SIGKILL {
            assert_eq!(
                temporaries(f.dir.path()),
                Vec::<String>::new(),
                "signal {signal}"
            );
        }
        // The next run reclaims whatever a SIGKILL left.
        expect_code(&f.score(&f.model, &out), 0, "the next run");
        assert!(fs::read_to_string(&out).unwrap().starts_with("row,"));
        assert_eq!(
            temporaries(f.dir.path()),
            Vec::<String>::new(),
            "signal {signal}"
        );
    }
    // `generate` killed midway through a large file: the old file stays. (5M rows: long enough
    // to be caught writing, and its free-space check asks only ≈ 640 MB of the disk.)
    let big = f.path("big.csv");
    fs::write(&big, "old").unwrap();
    let mut child = spawn(&["generate", "--rows", "5000000", "-o", s(&big)]);
    wait_for(&f.path(".gradproof-tmp.big.csv"));
    signal_and_wait(&mut child, libc::SIGTERM);
    assert_eq!(fs::read_to_string(&big).unwrap(), "old");
    assert_eq!(temporaries(f.dir.path()), Vec::<String>::new());
    // A FIFO input is opened before any output is created: nothing staged while it waits.
    let input = f.path("late.fifo");
    mkfifo(&input);
    let mut child = spawn(&[
        "train",
        "--data",
        s(&input),
        "--out",
        s(&f.path("late.json")),
        "--quiet",
    ]);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(temporaries(f.dir.path()), Vec::<String>::new());
    signal_and_wait(&mut child, libc::SIGINT);
    assert!(!f.path("late.json").exists());
}
