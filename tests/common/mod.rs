//! What the test binaries share: finding cases, running one through the
//! library's single entry point, and reading stored snapshots.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use hotplug_fi::case::Case;
use hotplug_fi::engine::RunOpts;
use hotplug_fi::explore::{self, CaseRun};
use hotplug_fi::kernel::Regression;
use hotplug_fi::verdict;

pub mod page;

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// `HOTPLUG_CASES` or `cases/`.
pub fn cases_dir() -> PathBuf {
    std::env::var_os("HOTPLUG_CASES").map_or_else(|| root().join("cases"), PathBuf::from)
}

pub fn snapshots_dir() -> PathBuf {
    root().join("snapshots")
}

/// Every case file, sorted by path.
pub fn discover(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    walk(dir, "toml", &mut out);
    out.sort();
    out
}

pub fn walk(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, ext, out);
        } else if p.extension().is_some_and(|x| x == ext) {
            out.push(p);
        }
    }
}

/// `HOTPLUG_REGRESSIONS=a,b`; an unknown name is an error that lists the
/// known ones.
pub fn regressions_from_env() -> Result<BTreeSet<Regression>, String> {
    regressions_from(&std::env::var("HOTPLUG_REGRESSIONS").unwrap_or_default())
}

/// Switch names, comma-separated, as `HOTPLUG_REGRESSIONS` takes them.
pub fn regressions_from(env: &str) -> Result<BTreeSet<Regression>, String> {
    env.split(',')
        .filter(|n| !n.trim().is_empty())
        .map(|n| {
            Regression::parse(n.trim()).ok_or_else(|| {
                let all: Vec<&str> = Regression::ALL.iter().map(|r| r.name()).collect();
                format!("HOTPLUG_REGRESSIONS: unknown regression `{n}`; known: {}", all.join(", "))
            })
        })
        .collect()
}

/// Runs a case; on any violation, a message naming each scenario with its
/// reproduction line.
pub fn run(path: &Path, regressions: &BTreeSet<Regression>) -> Result<(Case, CaseRun), String> {
    let (case, run) = run_quiet(path, regressions)?;
    match failure(&case, &run) {
        None => Ok((case, run)),
        Some(msg) => Err(msg),
    }
}

/// Runs a case and returns it whatever its violations; `Err` only when the
/// case cannot run (bad input).
pub fn run_quiet(path: &Path, regressions: &BTreeSet<Regression>) -> Result<(Case, CaseRun), String> {
    let opts = RunOpts { regressions: regressions.clone(), ..Default::default() };
    run_with_opts(path, &opts)
}

/// [`run_quiet`] with every option given.
pub fn run_with_opts(path: &Path, opts: &RunOpts) -> Result<(Case, CaseRun), String> {
    let mut case = Case::load(path, &cases_dir()).map_err(|e| e.to_string())?;
    // Snapshots name the case as a user types it from the checkout, so they
    // read the same on every machine.
    if let Ok(rel) = path.strip_prefix(root()) {
        case.path = rel.to_path_buf();
    }
    let only = std::env::var("HOTPLUG_SCENARIO").ok();
    let run = explore::run_case(&case, opts, only.as_deref()).map_err(|e| e.to_string())?;
    Ok((case, run))
}

/// Every violation of a run, each with the scenario and its reproduction
/// line; `None` when there is none.
pub fn failure(case: &Case, run: &CaseRun) -> Option<String> {
    let mut msg = String::new();
    for (sc, v) in run.violations() {
        let plain =
            sc.scenario.faults.is_empty() && sc.scenario.schedule == verdict::Scenario::plain(case, &run.opts).schedule;
        let label = if plain { "plain run".to_string() } else { format!("scenario {}", sc.scenario.label) };
        msg.push_str(&format!("{label}: {v}\n    reproduce: {}\n", verdict::repro(case, &sc.scenario, &run.opts)));
    }
    (!msg.is_empty()).then(|| format!("{}:\n{msg}", case.path.display()))
}

/// A shipped case by its id (`slab/create-vs-up`).
pub fn case(id: &str) -> Case {
    Case::load(&cases_dir().join(format!("{id}.toml")), &cases_dir()).expect("the case loads")
}

/// Options with one regression switch on.
pub fn switched(r: Regression) -> RunOpts {
    RunOpts { regressions: BTreeSet::from([r]), ..Default::default() }
}

/// The snapshot file of a case id.
pub fn snapshot_file(id: &str) -> PathBuf {
    snapshots_dir().join(format!("{id}.snap"))
}

/// The body of a stored insta snapshot (after its `---` header).
pub fn read_snapshot(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let rest = text.strip_prefix("---\n")?;
    let end = rest.find("\n---\n")?;
    Some(rest[end + 5..].to_string())
}
