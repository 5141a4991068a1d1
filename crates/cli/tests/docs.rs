//! `docs/cli.md` against the binary's own `--help`: every subcommand has a section
//! (`` ## `gradproof NAME` ``), each section's flag table lists exactly the long flags that
//! `gradproof NAME --help` declares, and every other `--flag` the page mentions exists. Only flag
//! names are compared, never descriptions, so rewording either side does not break the test;
//! adding, renaming or removing a flag without updating the page does.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{gradproof, text};

/// Flags every subcommand has; cli.md states them once, above the sections.
const EVERYWHERE: [&str; 2] = ["help", "version"];

/// Cargo's own flags, which cli.md may mention outside the sections (`cargo run --release --`).
const CARGO: [&str; 1] = ["release"];

/// The page under test, read from the workspace root.
fn cli_md() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/cli.md");
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `gradproof ARGS --help`'s standard output.
fn help(args: &[&str]) -> String {
    let args: Vec<&str> = args.iter().copied().chain(["--help"]).collect();
    let out = gradproof(&args);
    assert!(
        out.status.success(),
        "gradproof {args:?}: {}",
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// The subcommands listed under `Commands:` in the top-level help, without clap's `help`.
fn subcommands(top_help: &str) -> BTreeSet<String> {
    top_help
        .lines()
        .skip_while(|line| line.trim() != "Commands:")
        .skip(1)
        .take_while(|line| !line.trim().is_empty())
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_string)
        .collect()
}

/// Every `--name` in `text` (a dash run longer than two, as in a table rule, is not a flag).
fn mentioned_flags(text: &str) -> BTreeSet<String> {
    text.match_indices("--")
        .filter(|&(at, _)| !text[..at].ends_with('-'))
        .map(|(at, _)| {
            text[at + 2..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect::<String>()
        })
        .filter(|name| name.starts_with(|c: char| c.is_ascii_lowercase()))
        .collect()
}

/// The long flags a `--help` text declares: clap puts each declaration at the start of a line
/// indented by at most six spaces (`  -o, --out <FILE>` or `      --rows <ROWS>`), and the
/// descriptions (which may mention other flags) either after it on the same line or on lines
/// indented deeper.
fn declared_flags(help: &str) -> BTreeSet<String> {
    help.lines()
        .filter(|line| {
            let body = line.trim_start();
            line.len() - body.len() <= 6 && body.starts_with('-')
        })
        .filter_map(|line| {
            let declaration = line
                .split_whitespace()
                .find(|word| word.starts_with("--"))?;
            mentioned_flags(declaration).into_iter().next()
        })
        .filter(|name| !EVERYWHERE.contains(&name.as_str()))
        .collect()
}

/// One `` ## `gradproof NAME` `` section of cli.md: the flags its table rows list (first
/// column), and the text of everything else in it.
#[derive(Default)]
struct Section {
    listed: BTreeSet<String>,
    prose: String,
}

/// cli.md cut into the subcommands' sections (by name), and the text outside them.
fn sections(page: &str) -> (BTreeMap<String, Section>, String) {
    let mut sections = BTreeMap::<String, Section>::new();
    let mut outside = String::new();
    let mut current: Option<String> = None;
    for line in page.lines() {
        if let Some(heading) = line.strip_prefix("## ") {
            current = heading
                .strip_prefix("`gradproof ")
                .and_then(|rest| rest.strip_suffix('`'))
                .map(str::to_string);
            if let Some(name) = &current {
                assert!(
                    !sections.contains_key(name),
                    "docs/cli.md: two sections for `gradproof {name}`"
                );
                sections.entry(name.clone()).or_default();
            }
            continue;
        }
        let Some(section) = current.as_ref().and_then(|name| sections.get_mut(name)) else {
            outside.push_str(line);
            outside.push('\n');
            continue;
        };
        match line.strip_prefix("| `-") {
            Some(row) => {
                let (first_cell, rest) = row.split_once('|').unwrap_or((row, ""));
                section
                    .listed
                    .extend(mentioned_flags(&format!("-{first_cell}")));
                section.prose.push_str(rest);
            }
            None => section.prose.push_str(line),
        }
        section.prose.push('\n');
    }
    (sections, outside)
}

/// The flags of `what`, comma-separated, for a failure message.
fn names(what: &BTreeSet<String>) -> String {
    what.iter()
        .map(|f| format!("--{f}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[test]
fn the_help_parser_reads_declarations_not_descriptions() {
    let help = "\
Usage: gradproof demo [OPTIONS] --out <FILE>

Options:
      --rows <ROWS>              Rows to write, see --seed [default: 200000]
      --no-incremental
          Recompute everything; like --threads, only for comparisons
          --not-a-declaration either, however it is wrapped
  -o, --out <FILE>               The file
  -h, --help                     Print help
  -V, --version                  Print version
";
    let expected: BTreeSet<String> = ["rows", "no-incremental", "out"].map(String::from).into();
    assert_eq!(declared_flags(help), expected);
    assert_eq!(
        mentioned_flags("|---|---| `--mode sampled=K`, --l2, −−x, ---rule"),
        ["mode", "l2"].map(String::from).into()
    );
}

#[test]
fn cli_md_has_one_section_per_subcommand() {
    let commands = subcommands(&help(&[]));
    assert!(commands.contains("check"), "no subcommands found in --help");
    let (sections, _) = sections(&cli_md());
    let documented: BTreeSet<String> = sections.into_keys().collect();
    assert_eq!(
        documented, commands,
        "docs/cli.md's `gradproof NAME` sections (left) differ from the commands of `gradproof --help` (right)"
    );
}

#[test]
fn cli_md_lists_exactly_the_flags_each_subcommand_declares() {
    let (sections, _) = sections(&cli_md());
    let mut drift = Vec::new();
    for name in subcommands(&help(&[])) {
        let declared = declared_flags(&help(&[&name]));
        assert!(!declared.is_empty(), "{name}: no flags parsed from --help");
        let listed = sections
            .get(&name)
            .map(|s| s.listed.clone())
            .unwrap_or_default();
        let undocumented: BTreeSet<String> = declared.difference(&listed).cloned().collect();
        let stale: BTreeSet<String> = listed.difference(&declared).cloned().collect();
        if !undocumented.is_empty() {
            drift.push(format!(
                "`gradproof {name}`: in --help, not in docs/cli.md: {}",
                names(&undocumented)
            ));
        }
        if !stale.is_empty() {
            drift.push(format!(
                "`gradproof {name}`: in docs/cli.md, not in --help: {}",
                names(&stale)
            ));
        }
    }
    assert!(
        drift.is_empty(),
        "docs/cli.md drifted from --help:\n{}",
        drift.join("\n")
    );
}

#[test]
fn every_flag_cli_md_mentions_exists() {
    let (sections, outside) = sections(&cli_md());
    let mut declared = BTreeMap::new();
    for name in subcommands(&help(&[])) {
        declared.insert(name.clone(), declared_flags(&help(&[&name])));
    }
    let everywhere: BTreeSet<String> = EVERYWHERE.map(String::from).into();
    let any: BTreeSet<String> = declared
        .values()
        .flatten()
        .chain(&everywhere)
        .cloned()
        .collect();
    let mut unknown = Vec::new();
    for (name, section) in &sections {
        let own = declared.get(name).cloned().unwrap_or_default();
        let extra: BTreeSet<String> = mentioned_flags(&section.prose)
            .into_iter()
            .filter(|f| !own.contains(f) && !everywhere.contains(f))
            .collect();
        if !extra.is_empty() {
            unknown.push(format!(
                "section `gradproof {name}` mentions flags it does not have: {}",
                names(&extra)
            ));
        }
    }
    let extra: BTreeSet<String> = mentioned_flags(&outside)
        .into_iter()
        .filter(|f| !any.contains(f) && !CARGO.contains(&f.as_str()))
        .collect();
    if !extra.is_empty() {
        unknown.push(format!(
            "docs/cli.md mentions flags no subcommand has: {}",
            names(&extra)
        ));
    }
    assert!(unknown.is_empty(), "{}", unknown.join("\n"));
}
