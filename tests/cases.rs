//! The case harness: one trial per file under `cases/`, each running the
//! plain scenario and every scenario the case asks for, checking the
//! invariants after each, and comparing one snapshot per case. One more
//! trial, `lockdep::suite`, checks the lock graph of the whole suite.
//!
//! Environment: `HOTPLUG_CASES` (another cases directory),
//! `HOTPLUG_SCENARIO` (run one scenario of each case, print it, skip the
//! snapshot), `HOTPLUG_REGRESSIONS` (switch historical bugs back on),
//! `INSTA_UPDATE` (insta's own).

mod common;

use std::path::{Path, PathBuf};

use libtest_mimic::{Arguments, Failed, Trial};

fn main() {
    let args = Arguments::from_args();
    if let Err(e) = common::regressions_from_env() {
        eprintln!("error: {e}");
        std::process::exit(2);
    }
    let dir = common::cases_dir();
    let files = common::discover(&dir);
    if files.is_empty() {
        eprintln!("error: no case files under {}", dir.display());
        std::process::exit(101);
    }
    let mut trials: Vec<Trial> = files.iter().map(|f| trial(&dir, f)).collect();
    let all = files.clone();
    trials.push(Trial::test("lockdep::suite", move || suite_lock_graph(&all)));
    trials.push(Trial::test("snapshots::no_orphans", move || orphans(&files)));
    trials.push(Trial::test("snapshots::size", snapshot_sizes));
    libtest_mimic::run(&args, trials).exit();
}

fn trial(dir: &Path, file: &Path) -> Trial {
    let id = hotplug_fi::case::case_id(file, dir);
    let name = id.replace('/', "::");
    let file = file.to_path_buf();
    Trial::test(name, move || run_trial(&file, &id))
}

fn run_trial(file: &Path, id: &str) -> Result<(), Failed> {
    let regressions = common::regressions_from_env()?;
    let (case, run) = common::run(file, &regressions).map_err(Failed::from)?;
    if let Ok(only) = std::env::var("HOTPLUG_SCENARIO") {
        return print_scenario(&case, &run, &only);
    }
    compact_loses_nothing(&case, &run)?;
    let text = hotplug_fi::snapshot::case_snapshot(&case, &run);
    let snap = common::snapshot_file(id);
    let dir = snap.parent().expect("a snapshot has a directory").to_path_buf();
    let name = snap.file_stem().expect("a snapshot has a name").to_string_lossy().to_string();
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(dir);
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.set_input_file(file);
    settings.bind(|| insta::assert_snapshot!(name, text));
    Ok(())
}

/// `HOTPLUG_SCENARIO=LABEL`: prints the scenario with that label instead of
/// comparing the snapshot; a label that names none of the case's scenarios
/// fails the trial (narrow the trials with a filter to the case you mean).
fn print_scenario(case: &hotplug_fi::case::Case, run: &hotplug_fi::explore::CaseRun, only: &str) -> Result<(), Failed> {
    for r in hotplug_fi::snapshot::named_scenarios(case, run, only)? {
        println!("{}", hotplug_fi::snapshot::scenario(case, r, &run.opts));
    }
    Ok(())
}

/// Every case's lock dependencies, gathered in path order into one graph:
/// no unguarded cycle, except in cases that declare theirs.
fn suite_lock_graph(files: &[PathBuf]) -> Result<(), Failed> {
    let regressions = common::regressions_from_env()?;
    let mut runs = Vec::new();
    for f in files {
        runs.push(common::run_quiet(f, &regressions).map_err(Failed::from)?);
    }
    let v = hotplug_fi::explore::suite_lock_violations(runs.iter().map(|(c, r)| (c, r)));
    let v: Vec<String> = v.iter().map(ToString::to_string).collect();
    if v.is_empty() { Ok(()) } else { Err(v.join("\n").into()) }
}

/// A snapshot whose case is gone is a failure, not clutter.
fn orphans(files: &[PathBuf]) -> Result<(), Failed> {
    let dir = common::cases_dir();
    let ids: Vec<String> = files.iter().map(|f| hotplug_fi::case::case_id(f, &dir)).collect();
    let mut snaps = Vec::new();
    common::walk(&common::snapshots_dir(), "snap", &mut snaps);
    let orphans: Vec<String> = snaps
        .iter()
        .map(|s| hotplug_fi::case::case_id(s, &common::snapshots_dir()))
        .filter(|id| !ids.contains(id))
        .collect();
    if orphans.is_empty() {
        Ok(())
    } else {
        Err(format!("snapshots without a case (delete them or restore the case): {}", orphans.join(", ")).into())
    }
}

/// The snapshot's compact forms expand back to the full texts: every
/// trace with its repeats and its lines shared with the plain run, and
/// every sweep outcome's list of scenarios.
fn compact_loses_nothing(case: &hotplug_fi::case::Case, run: &hotplug_fi::explore::CaseRun) -> Result<(), Failed> {
    use hotplug_fi::report::trace;
    use hotplug_fi::snapshot::compact::{
        against_plain, expand_against, expand_repeats, expand_sites, fold_repeats, fold_sites,
    };
    let plain = trace(case, &run.plain.result) + &run.plain.outcome;
    if expand_repeats(&fold_repeats(&plain)) != plain {
        return Err(format!("{}: the plain run does not expand back from its folded form", case.id).into());
    }
    let firsts = run.outcomes.iter().map(|o| &run.runs[o.runs[0]]);
    let inter = run.interleavings.iter().flat_map(|i| i.outcomes.iter().map(|(r, _)| r));
    for r in run.faulted.iter().chain(firsts).chain(inter) {
        let full = trace(case, &r.result) + &r.outcome;
        let folded = fold_repeats(&against_plain(&full, &plain));
        if expand_against(&expand_repeats(&folded), &plain) != full {
            return Err(format!(
                "{}: {}'s trace does not expand back from its compact form",
                case.id, r.scenario.label
            )
            .into());
        }
    }
    for o in &run.outcomes {
        let sites: Vec<Vec<String>> =
            o.runs.iter().map(|&i| run.runs[i].scenario.faults.iter().map(|(s, _)| s.to_string()).collect()).collect();
        let mut want: Vec<String> = o.runs.iter().map(|&i| run.runs[i].scenario.label.clone()).collect();
        let mut got = expand_sites(&fold_sites(&sites));
        want.sort();
        got.sort();
        if got != want {
            return Err(format!(
                "{}: a sweep outcome's folded scenario list lost or changed scenarios: {got:?} for {want:?}",
                case.id
            )
            .into());
        }
    }
    Ok(())
}

/// No snapshot is over 64 KiB: one a reviewer cannot read is one they
/// accept unread. (The compact forms keep every line; `run` prints a
/// scenario in full.)
fn snapshot_sizes() -> Result<(), Failed> {
    let mut snaps = Vec::new();
    common::walk(&common::snapshots_dir(), "snap", &mut snaps);
    let big: Vec<String> = snaps
        .iter()
        .filter_map(|p| {
            let len = std::fs::metadata(p).ok()?.len();
            (len > 64 << 10).then(|| format!("{} ({len} bytes)", p.display()))
        })
        .collect();
    if big.is_empty() { Ok(()) } else { Err(format!("snapshots over 64 KiB: {}", big.join(", ")).into()) }
}
