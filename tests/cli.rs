//! The command line and the harness environment never panic on what a user
//! can hand them: a closed pipe, a `FAILPOINTS` variable, an unknown
//! regression name, a case file that cannot run in a sweep.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

fn cli() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_hotplug-fi"));
    c.current_dir(common::root()).env_remove("HOTPLUG_REGRESSIONS").env_remove("FAILPOINTS");
    c
}

/// `hotplug-fi run … | head -1`: the reader goes away after one line, with
/// most of the output (200 KB, more than a pipe holds) unwritten.
#[test]
fn a_closed_pipe_ends_the_cli_quietly_with_the_sigpipe_status() {
    let mut child = cli()
        .args(["run", "cases/context/step-limit.toml"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("piped")).read_line(&mut first).expect("one line");
    assert!(first.starts_with("reproduce: "), "{first}");
    // The pipe's reader is dropped here, with most of the output unread.
    let out = child.wait_with_output().expect("the binary ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(141), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn failpoints_in_the_environment_are_ignored_with_a_note() {
    let out = cli()
        .args(["run", "cases/cpu/fail-online.toml", "--fault", "cpuhp/cpu1/up/197=return(-ENOMEM)"])
        .env("FAILPOINTS", "garbage")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("FAILPOINTS is ignored"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("= -ENOMEM  (failpoint)"));
}

#[test]
fn an_unknown_regression_is_an_error_that_lists_the_known_ones() {
    let out = cli().args(["run", "cases/cpu/updown.toml"]).env("HOTPLUG_REGRESSIONS", "no-such-bug").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("unknown regression `no-such-bug`") && stderr.contains("smp-no-flush-on-dying"),
        "{stderr}"
    );
    // The harness reads the same variable, and says the same.
    let e = common::regressions_from("slab-create-destroy-unlocked,no-such-bug").unwrap_err();
    assert!(e.contains("unknown regression `no-such-bug`") && e.contains("memhp-add-online-abba"), "{e}");
    assert_eq!(common::regressions_from(" smp-no-flush-on-dying ").unwrap().len(), 1);
}

/// A case file with an error is counted in the summary, not only listed,
/// and the sweep fails.
#[test]
fn a_sweep_counts_the_case_files_that_could_not_run() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.toml"), "description = \"x\"\nops = [\"cpu_donw 1\"]\n[machine]\ncpus = 2\n")
        .unwrap();
    let out = cli().arg("sweep").arg(dir.path()).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("errors:     1 case file(s) could not run"), "{stdout}");
    assert!(stdout.contains("bad.toml:2:9: unknown operation `cpu_donw`"), "{stdout}");
}

/// `explore`'s options apply to the case's own strategy, and one that the
/// strategy does not take is an error, not silently dropped; so are values
/// past the explorer's limits.
#[test]
fn explore_options_apply_or_are_refused() {
    let run = |args: &[&str]| {
        let out = cli().arg("explore").arg("cases/slab/create-vs-up.toml").args(args).output().unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out.status.code(), text)
    };
    let (code, text) = run(&["--bound", "1"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.starts_with("exhaustive, bound 1 "), "{text}");
    let (code, text) = run(&["--depth", "3"]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("--depth applies to pct; the strategy here is exhaustive (the case's"), "{text}");
    let (code, text) = run(&["--strategy", "pct", "--runs", "0"]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("--runs must be 1 to 10000000 (runs_max)"), "{text}");
    let (_, text) = run(&["--strategy", "random", "--runs", "1000000000000"]);
    assert!(text.contains("(runs_max)"), "{text}");
    // `--runs` caps an exhaustive search, which says it stopped short.
    let (code, text) = run(&["--runs", "3"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.starts_with("exhaustive, bound 2 "), "{text}");
    assert!(
        text.contains("3 schedules executed, 0 pruned, bound NOT exhausted: stopped at its cap of 3 runs"),
        "{text}"
    );
    let (code, text) = run(&["--seed", "3"]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("--seed applies to random and pct; the strategy here is exhaustive"), "{text}");
    let (_, text) = run(&["--strategy", "pct", "--depth", "4294967295"]);
    assert!(text.contains("(depth_max)"), "{text}");
}

/// A swept directory with a link back to itself runs each case once, and a
/// FIFO named like a case is an error, not a read that never ends.
#[test]
fn a_sweep_walks_each_directory_once_and_reads_only_regular_files() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read_to_string(common::cases_dir().join("cpu/updown.toml")).unwrap();
    std::fs::write(dir.path().join("one.toml"), good).unwrap();
    std::os::unix::fs::symlink(dir.path(), dir.path().join("loop")).unwrap();
    let out = cli().arg("sweep").arg(dir.path()).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.starts_with("cases:      1\n"), "{stdout}");
    let fifo = dir.path().join("pipe.toml");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let out = cli().arg("sweep").arg(dir.path()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("pipe.toml: not a regular file"), "{stderr}");
}

/// `HOTPLUG_SCENARIO` names one scenario of a case; a label that names
/// none is an error that lists what there is, never a silent pass.
#[test]
fn a_scenario_label_that_names_nothing_is_an_error() {
    let case = common::case("cpu/updown");
    let opts = hotplug_fi::engine::RunOpts::default();
    let only = Some("cpuhp/cpu1/down/197");
    let run = hotplug_fi::explore::run_case(&case, &opts, only).expect("the case runs");
    let hits = hotplug_fi::snapshot::named_scenarios(&case, &run, "cpuhp/cpu1/down/197").expect("the site is swept");
    assert_eq!(hits.len(), 1);
    let Err(e) = hotplug_fi::snapshot::named_scenarios(&case, &run, "cpuhp/cpu1/down/9999") else {
        panic!("a label that names nothing was accepted");
    };
    assert!(e.contains("names no scenario of cpu/updown: its scenarios are plain and one per swept site"), "{e}");
}

/// `explore` shows a progress line on a terminal (here a pseudo-terminal
/// from util-linux `script`), and none when its output is piped.
#[test]
fn progress_shows_on_a_terminal_and_never_in_a_pipe() {
    let bin = env!("CARGO_BIN_EXE_hotplug-fi");
    let cmd = format!("{bin} explore cases/slab/create-vs-up.toml");
    let tty = std::process::Command::new("script")
        .args(["-qfec", &cmd, "/dev/null"])
        .current_dir(common::root())
        .output()
        .expect("util-linux script runs");
    let seen = String::from_utf8_lossy(&tty.stdout);
    assert!(seen.contains(" schedules, 1 outcome(s)"), "no progress line on the terminal: {seen}");
    let piped = cli().args(["explore", "cases/slab/create-vs-up.toml"]).output().unwrap();
    let err = String::from_utf8_lossy(&piped.stderr);
    let out = String::from_utf8_lossy(&piped.stdout);
    assert!(!err.contains("schedules, ") && !out.contains("schedules, "), "{err}{out}");
    assert!(!out.contains('\r') && !out.contains('\u{1b}'), "control characters in piped output: {out:?}");
    let shrink = cli()
        .args(["--regression", "slab-create-destroy-unlocked", "shrink", "cases/slab/create-destroy-vs-hotplug.toml"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&shrink.stderr);
    assert!(err.starts_with("shrunk to ") && !err.contains("candidates tried"), "{err}");
}

/// `report` writes one page; `sweep --html` and `explore --html` write a
/// page per distinct outcome and an index that links each; `--fault` and
/// `--schedule` do not go together.
#[test]
fn report_and_the_html_flags_write_pages_and_an_index() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let page = dir.path().join("page.html");
    let out = cli()
        .args(["report", "cases/cpu/fail-online.toml", "--fault", "cpuhp/cpu1/up/197", "--html"])
        .arg(&page)
        .output()
        .expect("the binary runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let html = std::fs::read_to_string(&page).expect("the page is written");
    assert!(html.contains("cargo run --release -- run cases/cpu/fail-online.toml --fault cpuhp/cpu1/up/197"), "repro");
    let both = ["report", "cases/cpu/fail-online.toml", "--fault", "x", "--schedule", "v2:", "--html", "p"];
    let out = cli().args(both).output().expect("the binary runs");
    assert_eq!(out.status.code(), Some(2), "--fault with --schedule is bad usage");

    for (cmd, case) in [("sweep", "cases/cpu/fail-online.toml"), ("explore", "cases/context/abba-deadlock.toml")] {
        let site = dir.path().join(cmd);
        let out = cli().args([cmd, case, "--format", "json", "--html"]).arg(&site).output().expect("the binary runs");
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("the JSON still goes to stdout");
        let outcomes = doc["cases"][0]["outcomes"].as_array().expect("outcomes").len();
        let index = std::fs::read_to_string(site.join("index.html")).expect("an index");
        let files: Vec<_> = std::fs::read_dir(&site).expect("the directory").flatten().collect();
        assert_eq!(files.len(), outcomes + 1, "{cmd}: a page per outcome and the index");
        assert!(outcomes > 1, "{cmd}: {outcomes} outcomes");
        for f in files.iter().map(|f| f.file_name().into_string().unwrap()).filter(|f| f != "index.html") {
            assert!(index.contains(&format!("href=\"{f}\"")), "{cmd}: the index links {f}");
        }
    }
}
