//! Every printed command reproduces. Each `reproduce:` line of every stored
//! snapshot runs through `sh -c` with the built binary in place of
//! `cargo run --release --`, and must exit 0 and print the same section:
//! its own reproduction line, then the trace and outcome the snapshot holds.
//! `hotplug-fi run CASE` passes for every shipped case.

mod common;

use hotplug_fi::snapshot::compact::{expand_against, expand_repeats};

use std::path::Path;
use std::process::Command;

const CARGO_RUN: &str = "cargo run --release --";

fn binary() -> String {
    hotplug_fi::verdict::shell_word(env!("CARGO_BIN_EXE_hotplug-fi"))
}

/// Runs a command line as a user would paste it, from the checkout.
fn sh(line: &str) -> (i32, String, String) {
    let out = Command::new("sh")
        .arg("-c")
        .arg(line.replacen(CARGO_RUN, &binary(), 1))
        .current_dir(common::root())
        .env_remove("HOTPLUG_REGRESSIONS")
        .env_remove("FAILPOINTS")
        .output()
        .expect("sh runs");
    let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
    (out.status.code().unwrap_or(-1), text(out.stdout), text(out.stderr))
}

/// (command, the section it reproduces): each `reproduce:` line with the
/// lines after it, up to the blank line that ends the section.
fn sections(body: &str) -> Vec<(String, String)> {
    let lines: Vec<&str> = body.lines().collect();
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let Some(cmd) = l.strip_prefix("reproduce: ") else { continue };
        let rest = lines[i + 1..].iter().take_while(|l| !l.is_empty());
        let section: String = rest.map(|l| format!("{l}\n")).collect();
        out.push((cmd.to_string(), section));
    }
    out
}

fn check_snapshot(path: &Path, failures: &mut Vec<String>) -> usize {
    let body = common::read_snapshot(path).unwrap_or_else(|| panic!("{} is not a snapshot", path.display()));
    let secs = sections(&body);
    // The first section is the plain run, folded only where it repeats;
    // the others leave out what they share with it (snapshot::compact).
    let full = |s: &str| expand_repeats(s.strip_prefix("trace:\n").unwrap_or(s));
    let plain = secs.first().map(|(_, s)| full(s)).unwrap_or_default();
    for (n, (cmd, section)) in secs.iter().enumerate() {
        assert!(cmd.starts_with(CARGO_RUN), "{}: `{cmd}` does not start with `{CARGO_RUN}`", path.display());
        let (code, stdout, stderr) = sh(cmd);
        let body = if n == 0 { full(section) } else { expand_against(&full(section), &plain) };
        let want = format!("reproduce: {cmd}\ntrace:\n{body}");
        if code != 0 || !stdout.starts_with(&want) {
            let got: String = stdout.lines().take(3).map(|l| format!("    {l}\n")).collect();
            failures.push(format!("{}: `{cmd}` exited {code}{stderr}, printed:\n{got}", path.display()));
        }
    }
    secs.len()
}

#[test]
fn every_reproduction_line_of_every_snapshot_reproduces_its_section() {
    let mut snaps = Vec::new();
    common::walk(&common::snapshots_dir(), "snap", &mut snaps);
    snaps.sort();
    assert!(!snaps.is_empty(), "no snapshots found");
    let mut failures = Vec::new();
    let lines: usize = snaps.iter().map(|s| check_snapshot(s, &mut failures)).sum();
    assert!(lines >= snaps.len(), "{lines} reproduction lines in {} snapshots", snaps.len());
    assert!(failures.is_empty(), "{} of {lines} lines do not reproduce:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn run_passes_for_every_shipped_case() {
    let mut failures = Vec::new();
    for f in common::discover(&common::cases_dir()) {
        let rel = f.strip_prefix(common::root()).unwrap_or(&f);
        let word = hotplug_fi::verdict::shell_word(&rel.display().to_string());
        let (code, stdout, stderr) = sh(&format!("{CARGO_RUN} run {word}"));
        if code != 0 {
            let tail: String = stdout.lines().rev().take(4).map(|l| format!("    {l}\n")).collect();
            failures.push(format!("run {}: exit {code}{stderr}\n{tail}", rel.display()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A reproduction line survives a shell: an action with parentheses and a
/// star is quoted, and the run it names is the one that is printed.
#[test]
fn a_quoted_fault_action_reaches_the_binary_intact() {
    let line = format!("{CARGO_RUN} run cases/cpu/fail-online.toml --fault 'cpuhp/cpu1/up/197=return(-ENOMEM)'");
    let (code, stdout, stderr) = sh(&line);
    assert_eq!(code, 0, "{stderr}{stdout}");
    assert!(stdout.starts_with(&format!("reproduce: {line}\n")), "{stdout}");
    assert!(stdout.contains("= -ENOMEM  (failpoint)"), "{stdout}");
}
