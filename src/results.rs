//! Machine-readable results, for CI: one JSON document (schema
//! `hotplug-fi/results`, [`VERSION`], described in docs/results.md) and
//! KTAP, as kselftest prints it. Both are built from the same
//! [`CaseRun`]s the text summary and the snapshots come from, so they say
//! what those say: which scenarios each case ran, their distinct outcomes,
//! each violation with the command that reproduces it.
//!
//! `run --format json` is the same schema's third command: one scenario's
//! trace events as the model records them, with the texts and CSD names
//! they index, its splats, its results and its final state ([`RunDoc`]).
//!
//! Left out of `sweep` and `explore`: the traces themselves (`run` gives
//! one; the outcome text there is the grouping key: results, final state,
//! splats). Left out everywhere: JUnit, which the nextest `ci` profile
//! writes for `cargo test`.

use std::fmt::Write;

use serde::{Deserialize, Serialize};

use crate::case::Case;
use crate::check::Violation;
use crate::engine::RunOpts;
use crate::explore::CaseRun;
use crate::explore::interleave::Exploration;
use crate::verdict::{self, ScenarioRun};

/// The schema's name, the document's `schema` field.
pub const SCHEMA: &str = "hotplug-fi/results";
/// Bumped on any change a reader could notice: a field renamed, removed or
/// given another meaning. Adding a field keeps the version.
pub const VERSION: u32 = 1;

/// The whole document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Results {
    pub schema: String,
    pub version: u32,
    /// `sweep` or `explore`.
    pub command: String,
    pub cases: Vec<CaseResult>,
    /// Violations of the suite as a whole (its lock graph), in no case.
    pub suite_violations: Vec<ViolationResult>,
    pub totals: Totals,
}

/// One case file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseResult {
    /// The case id (`cpu/updown`), or the path for a file that did not load.
    pub id: String,
    pub path: String,
    /// Why the case could not run (bad input); then there are no outcomes.
    pub error: Option<String>,
    /// Scenarios run: plain, faulted and swept (interleavings not counted).
    pub scenarios: usize,
    pub outcomes: Vec<OutcomeResult>,
}

/// One distinct outcome and the scenarios or schedules that reach it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutcomeResult {
    /// `plain`, `faulted`, `sweep` or `interleaving`.
    pub kind: String,
    /// Scenario labels (sites joined by ` + `), or for an interleaving the
    /// shortest schedule that reaches it.
    pub scenarios: Vec<String>,
    /// Runs that reached it: the scenarios' count, or explored schedules.
    pub runs: u64,
    /// Results, final state and splats, as the snapshot prints them.
    pub outcome: String,
    /// The command that reproduces the first scenario.
    pub reproduce: String,
    pub violations: Vec<ViolationResult>,
}

/// A broken invariant or expectation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViolationResult {
    /// The check's name (`rollback`, `splats`, ...).
    pub check: String,
    pub message: String,
    /// The scenario it happened in, and how to reproduce that one.
    pub scenario: String,
    pub reproduce: String,
}

/// Counts over the document.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub cases: usize,
    pub scenarios: usize,
    pub outcomes: usize,
    /// Violations, the suite's included.
    pub violations: usize,
    /// Case files that could not run.
    pub errors: usize,
}

impl Results {
    /// The document over `cases`, with its totals.
    pub fn new(command: &str, cases: Vec<CaseResult>, suite_violations: Vec<ViolationResult>) -> Results {
        let totals = Totals {
            cases: cases.len(),
            scenarios: cases.iter().map(|c| c.scenarios).sum(),
            outcomes: cases.iter().map(|c| c.outcomes.len()).sum(),
            violations: suite_violations.len()
                + cases.iter().flat_map(|c| &c.outcomes).map(|o| o.violations.len()).sum::<usize>(),
            errors: cases.iter().filter(|c| c.error.is_some()).count(),
        };
        Results {
            schema: SCHEMA.to_string(),
            version: VERSION,
            command: command.to_string(),
            cases,
            suite_violations,
            totals,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("results serialise")
    }

    /// A document read back; one of another schema or version is an error.
    pub fn from_json(text: &str) -> Result<Results, String> {
        let r: Results = serde_json::from_str(text).map_err(|e| format!("not a results document: {e}"))?;
        if r.schema != SCHEMA || r.version != VERSION {
            return Err(format!("schema {} version {}, expected {SCHEMA} version {VERSION}", r.schema, r.version));
        }
        Ok(r)
    }
}

fn violation(case: &Case, run: &ScenarioRun, v: &Violation, opts: &RunOpts) -> ViolationResult {
    ViolationResult {
        check: v.check.name().to_string(),
        message: v.message.clone(),
        scenario: run.scenario.label.clone(),
        reproduce: verdict::repro(case, &run.scenario, opts),
    }
}

/// An outcome reached by `runs`, all with the first one's outcome text.
fn outcome(case: &Case, kind: &str, runs: &[&ScenarioRun], count: u64, opts: &RunOpts) -> OutcomeResult {
    let first = runs[0];
    OutcomeResult {
        kind: kind.to_string(),
        scenarios: runs.iter().map(|r| r.scenario.label.clone()).collect(),
        runs: count,
        outcome: first.outcome.clone(),
        reproduce: verdict::repro(case, &first.scenario, opts),
        violations: runs.iter().flat_map(|r| r.violations.iter().map(|v| violation(case, r, v, opts))).collect(),
    }
}

/// A case that ran: its plain run, its faults, each sweep outcome and each
/// interleaving outcome.
pub fn case_result(case: &Case, run: &CaseRun) -> CaseResult {
    let opts = &run.opts;
    let mut outcomes = vec![outcome(case, "plain", &[&run.plain], 1, opts)];
    outcomes.extend(run.faulted.iter().map(|f| outcome(case, "faulted", &[f], 1, opts)));
    for o in &run.outcomes {
        let runs: Vec<&ScenarioRun> = o.runs.iter().map(|&i| &run.runs[i]).collect();
        outcomes.push(outcome(case, "sweep", &runs, runs.len() as u64, opts));
    }
    for (r, n) in run.interleavings.iter().flat_map(|i| &i.outcomes) {
        outcomes.push(interleaving(case, r, *n, opts));
    }
    CaseResult {
        id: case.id.clone(),
        path: case.path.display().to_string(),
        error: None,
        scenarios: 1 + usize::from(run.faulted.is_some()) + run.runs.len(),
        outcomes,
    }
}

fn interleaving(case: &Case, r: &ScenarioRun, runs: u64, opts: &RunOpts) -> OutcomeResult {
    let mut o = outcome(case, "interleaving", &[r], runs, opts);
    o.scenarios = vec![r.scenario.schedule.as_ref().map(ToString::to_string).unwrap_or_default()];
    o
}

/// `explore CASE`: one outcome per distinct interleaving outcome.
pub fn exploration_result(case: &Case, ex: &Exploration, opts: &RunOpts) -> CaseResult {
    CaseResult {
        id: case.id.clone(),
        path: case.path.display().to_string(),
        error: None,
        scenarios: 0,
        outcomes: ex.outcomes.iter().map(|r| interleaving(case, &r.run, r.runs, opts)).collect(),
    }
}

/// A case file that could not run.
pub fn error_result(path: &str, error: String) -> CaseResult {
    CaseResult { id: path.to_string(), path: path.to_string(), error: Some(error), scenarios: 0, outcomes: Vec::new() }
}

/// A suite-level violation (the suite's lock graph).
pub fn suite_violation(v: &Violation) -> ViolationResult {
    ViolationResult {
        check: v.check.name().to_string(),
        message: v.message.clone(),
        scenario: String::new(),
        reproduce: "cargo run --release -- sweep".to_string(),
    }
}

/// KTAP version 1: a test per case and a subtest per outcome, `ok` when it
/// has no violation; a case that could not run is `not ok` with its error
/// as a diagnostic; the suite's own violations are one last test.
pub fn ktap(r: &Results) -> String {
    let mut out = String::from("KTAP version 1\n");
    let suite = usize::from(!r.suite_violations.is_empty());
    let _ = writeln!(out, "1..{}", r.cases.len() + suite);
    for (n, c) in r.cases.iter().enumerate() {
        let _ = writeln!(out, "    KTAP version 1\n    # Subtest: {}\n    1..{}", c.id, c.outcomes.len());
        for (k, o) in c.outcomes.iter().enumerate() {
            let status = if o.violations.is_empty() { "ok" } else { "not ok" };
            let what = o.scenarios.first().map_or(String::new(), |s| format!(": {}", one_line(s)));
            let _ = writeln!(out, "    {status} {} {}{what} ({} run(s))", k + 1, o.kind, o.runs);
            for v in &o.violations {
                let _ = writeln!(out, "    # {}: {}", v.check, one_line(&v.message));
                let _ = writeln!(out, "    # reproduce: {}", v.reproduce);
            }
        }
        let failed = c.error.is_some() || c.outcomes.iter().any(|o| !o.violations.is_empty());
        if let Some(e) = &c.error {
            let _ = writeln!(out, "# error: {}", one_line(e));
        }
        let _ = writeln!(out, "{} {} {}", if failed { "not ok" } else { "ok" }, n + 1, c.id);
    }
    if suite == 1 {
        for v in &r.suite_violations {
            let _ = writeln!(out, "# {}: {}", v.check, one_line(&v.message));
        }
        let _ = writeln!(out, "not ok {} suite lock graph", r.cases.len() + 1);
    }
    let failed = r.cases.iter().filter(|c| c.error.is_some() || c.outcomes.iter().any(|o| !o.violations.is_empty()));
    let failed = failed.count() + suite;
    let _ =
        writeln!(out, "# Totals: pass:{} fail:{failed} xfail:0 xpass:0 skip:0 error:0", r.cases.len() + suite - failed);
    out
}

/// KTAP lines are lines: a multi-line message is joined with ` / `.
fn one_line(s: &str) -> String {
    s.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" / ")
}

/// `run --format json`: one scenario in full.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunDoc {
    pub schema: String,
    pub version: u32,
    /// `run`.
    pub command: String,
    pub case: String,
    pub scenario: String,
    pub reproduce: String,
    /// The trace, in execution order, as `src/kernel/trace.rs` defines
    /// each event; `Log`, `Note` and `Step` index `texts`, `Splat` indexes
    /// `splats`, a CSD's `name` indexes `csd_names`.
    pub events: Vec<crate::kernel::trace::Event>,
    pub texts: Vec<String>,
    pub csd_names: Vec<String>,
    pub splats: Vec<SplatDoc>,
    /// Each top-level operation's result; `null` for one that never returned.
    pub results: Vec<Option<i64>>,
    /// How the run ended, as the outcome says it.
    pub end: String,
    pub final_state: FinalState,
    pub violations: Vec<ViolationResult>,
    /// The outcome text, as the snapshot prints it.
    pub outcome: String,
}

/// A splat as the kernel would print it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplatDoc {
    /// `WARN`, `BUG`, `lockdep`, ... (the outcome's label).
    pub kind: String,
    pub title: String,
    pub site: String,
    pub comm: String,
}

/// The machine after the run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FinalState {
    /// Masks in the kernel's list form (`0-3`, `0,2-3`).
    pub possible: String,
    pub present: String,
    pub online: String,
    pub active: String,
    pub cpus: Vec<CpuDoc>,
}

/// One CPU's hotplug state (`/sys/devices/system/cpu/cpuN/hotplug/*`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuDoc {
    pub cpu: usize,
    pub state: u16,
    pub target: u16,
    pub fail: i32,
    pub rollback: bool,
}

impl RunDoc {
    /// The document of one scenario run.
    pub fn new(case: &Case, run: &ScenarioRun, opts: &RunOpts) -> RunDoc {
        let s = &run.result.state;
        let c = &s.cpu;
        let cpus = c
            .cpuhp
            .iter()
            .enumerate()
            .map(|(cpu, st)| CpuDoc { cpu, state: st.state, target: st.target, fail: st.fail, rollback: st.rollback })
            .collect();
        let splats = s
            .trace
            .splats
            .iter()
            .map(|sp| SplatDoc {
                kind: sp.kind.label().to_string(),
                title: sp.title.clone(),
                site: sp.site.to_string(),
                comm: sp.comm.clone(),
            })
            .collect();
        RunDoc {
            schema: SCHEMA.to_string(),
            version: VERSION,
            command: "run".to_string(),
            case: case.id.clone(),
            scenario: run.scenario.label.clone(),
            reproduce: verdict::repro(case, &run.scenario, opts),
            events: s.trace.events.clone(),
            texts: s.trace.texts.clone(),
            csd_names: s.smp.names.iter().map(|n| n.to_string()).collect(),
            splats,
            results: run.result.results().to_vec(),
            end: crate::report::outcome_end(&run.result),
            final_state: FinalState {
                possible: c.possible.to_string(),
                present: c.present.to_string(),
                online: crate::report::mask(c.online),
                active: crate::report::mask(c.active),
                cpus,
            },
            violations: run.violations.iter().map(|v| violation(case, run, v, opts)).collect(),
            outcome: run.outcome.clone(),
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a run serialises")
    }
}
