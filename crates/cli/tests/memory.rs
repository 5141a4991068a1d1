//! Endless input stops at a documented limit within bounded memory (issue 12, class 3),
//! measured as the child's peak RSS through `wait4`. In a test binary of its own: a child started
//! with `posix_spawn` (vfork) carries its parent's peak RSS into its own, so a parent running
//! other tests at the same time made the measure flaky.

mod common;

use common::*;

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// Arguments, the bytes fed first, the bytes repeated forever, and the message expected.
type EndlessCase<'a> = (Vec<&'a str>, &'static [u8], &'static [u8], &'a str);

/// The most memory (peak resident set, KiB) a command may use on endless input.
const PEAK_KIB: i64 = 64 * 1024;

fn fixture() -> Fixture {
    Fixture::new()
}

/// Runs the binary with `args`, feeding `fifo` from `head` then endless repeats of `tail` until
/// the reader goes away; returns the exit code, stderr and the child's peak RSS in KiB.
fn endless(
    args: &[&str],
    fifo: &Path,
    head: &'static [u8],
    tail: &'static [u8],
) -> (i32, String, i64) {
    mkfifo(fifo);
    // Reaped by `wait4` below, which also gives the peak memory that `wait` does not.
    #[allow(clippy::zombie_processes)]
    let mut child = Command::new(env!("CARGO_BIN_EXE_gradproof"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let path = fifo.to_path_buf();
    let feeder = std::thread::spawn(move || {
        let mut pipe = fs::OpenOptions::new().write(true).open(path).unwrap();
        let _ = pipe.write_all(head);
        let chunk = tail.repeat(64 * 1024 / tail.len());
        // Until the reader is gone (EPIPE), or 4 GB: endless for any bounded reader.
        for _ in 0..(4u64 << 30) / chunk.len() as u64 {
            if pipe.write_all(&chunk).is_err() {
                break;
            }
        }
    });
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    let (mut status, mut usage) = (0, unsafe { std::mem::zeroed::<libc::rusage>() });
    // SAFETY: waiting for our own child, with valid out-pointers.
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as i32);
    feeder.join().unwrap();
    fs::remove_file(fifo).unwrap();
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    (code, stderr, usage.ru_maxrss)
}

#[test]
fn endless_input_stops_at_a_limit_in_bounded_memory() {
    let f = fixture();
    let fifo = f.path("endless.csv");
    let (model, input) = (s(&f.model), s(&fifo));
    let (a, b, m) = (f.path("a.csv"), f.path("b.csv"), f.path("m.json"));
    let (a_csv, b_csv, m_json) = (s(&a), s(&b), s(&m));
    let header: &'static [u8] = b"step,type,amount,nameOrig,oldbalanceOrg,newbalanceOrig,nameDest,oldbalanceDest,newbalanceDest,isFraud\n";
    // A stray quote in row 1: the rest of the file would be one field.
    let quoted: &'static [u8] = b"step,type,amount,nameOrig,oldbalanceOrg,newbalanceOrig,nameDest,oldbalanceDest,newbalanceDest,isFraud\n1,\"";
    let cases: Vec<EndlessCase<'_>> = vec![
        (
            vec!["score", "--model", model, "--data", input, "-o", a_csv],
            b"",
            b"\0",
            "endless.csv:1:65537: line longer than 65536 bytes",
        ),
        (
            vec!["evaluate", "--model", model, "--data", input],
            header,
            b"7",
            "endless.csv:2:65537: line longer",
        ),
        (
            vec!["train", "--data", input, "--quiet", "--out", m_json],
            quoted,
            b"x\n",
            "endless.csv:2:1: row longer than 65536 bytes",
        ),
        (
            vec!["score", "--model", model, "--data", input, "-o", b_csv],
            b"step,\"",
            b"x\n",
            "endless.csv:1:1: header longer than 65536 bytes",
        ),
        (
            vec!["evaluate", "--model", input, "--data", s(&f.data)],
            b"{",
            b"0",
            "larger than 67108864 bytes",
        ),
    ];
    for (args, head, tail, message) in cases {
        let (code, stderr, peak) = endless(&args, &fifo, head, tail);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        // The model limit is 64 MiB of text: it may use that, and no more than twice it.
        let bound = if args[0] == "evaluate" && args[2] == input {
            3 * PEAK_KIB
        } else {
            PEAK_KIB
        };
        assert!(peak < bound, "{args:?}: peak RSS {peak} KiB");
        eprintln!("{} on endless input: peak RSS {peak} KiB", args[0]);
    }
    assert!(!f.path("a.csv").exists() && !f.path("m.json").exists());
}
