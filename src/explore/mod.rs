//! Turns a case into scenarios, runs them, checks each, and groups them by
//! outcome.
//!
//! The plain scenario runs first and records every failpoint site it
//! reaches. Then come the case's explicit faults, one scenario each, and its
//! sweep: one scenario per reached site that matches the filter, with the
//! site failing once (`1*return`, an `-EAGAIN`, as the kernel's own knob
//! does). Scenarios with the same outcome (results, final state, splats)
//! form one group; a change in behaviour shows up as a site moving between
//! groups.

use std::collections::BTreeMap;

use crate::case::limits::SCENARIOS_MAX;
use crate::case::{Case, CaseError, SweepMode};
use crate::check::{self, Check, Violation};
use crate::engine::{self, RunOpts};
use crate::fault::{MemStep, Site};
use crate::kernel::locking::lockdep::{Cycle, Graph};
use crate::verdict::{self};
pub use crate::verdict::{SWEEP_ACTION, Scenario, ScenarioRun};

pub mod interleave;
pub mod pool;
pub mod shrink;

/// Scenarios with one outcome.
pub struct Outcome {
    /// Indexes into [`CaseRun::runs`], in scenario order.
    pub runs: Vec<usize>,
}

/// A whole case after it ran.
pub struct CaseRun {
    /// The switches it ran with.
    pub opts: RunOpts,
    /// No fault armed.
    pub plain: ScenarioRun,
    /// Every explicit `[[fault]]` armed together, if the case has any.
    pub faulted: Option<ScenarioRun>,
    /// The sweep, one scenario per matching site.
    pub runs: Vec<ScenarioRun>,
    pub outcomes: Vec<Outcome>,
    /// The interleavings explored, one run per distinct outcome (its
    /// shortest schedule), if the case has threads or a strategy.
    pub interleavings: Option<Interleavings>,
    /// The lock dependencies of every run of the case.
    pub locks: Graph,
    /// The lock-order cycles in them.
    pub cycles: Vec<Cycle>,
}

/// What exploring a case's interleavings found.
pub struct Interleavings {
    /// Strategy and totals, as a line.
    pub summary: String,
    /// One run per distinct outcome, with how many runs reached it.
    pub outcomes: Vec<(ScenarioRun, u64)>,
    /// The lock dependencies of every explored run.
    pub locks: Graph,
}

impl CaseRun {
    /// Every violation, each with the scenario it happened in.
    pub fn violations(&self) -> Vec<(&ScenarioRun, &Violation)> {
        let inter = self.interleavings.iter().flat_map(|i| i.outcomes.iter().map(|(r, _)| r));
        std::iter::once(&self.plain)
            .chain(&self.faulted)
            .chain(&self.runs)
            .chain(inter)
            .flat_map(|r| r.violations.iter().map(move |v| (r, v)))
            .collect()
    }

    /// The scenario the case's expectations describe.
    pub fn primary(&self) -> &ScenarioRun {
        self.faulted.as_ref().unwrap_or(&self.plain)
    }
}

/// Runs a case: the plain scenario, its explicit faults, then its sweep.
/// The case's expectations (`=> RESULT`, `expect`) describe the faulted
/// scenario if there is one, else the plain one. `only` narrows the sweep to
/// the scenario with that label (`HOTPLUG_SCENARIO`).
pub fn run_case(case: &Case, opts: &RunOpts, only: Option<&str>) -> Result<CaseRun, CaseError> {
    let mut plain = verdict::run(case, Scenario::plain(case, opts), opts).map_err(|m| case.explore_error(m))?;
    let faulted = match Scenario::faulted(case) {
        Some(sc) => Some(run_faulted(case, sc, opts)?),
        None => None,
    };
    // Each sweep scenario runs as it is generated; only the first run of
    // each outcome keeps its trace, so memory grows with the outcomes, not
    // with the scenarios.
    let mut runs: Vec<ScenarioRun> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    sweep(case, plain.result.reached(), opts, &mut |sc| {
        if only.is_some_and(|o| sc.label != o) {
            return Ok(());
        }
        let mut run = run_one(case, sc, opts)?;
        if !seen.insert(run.outcome.clone()) {
            run.slim();
        }
        runs.push(run);
        Ok(())
    })?;
    let outcomes = group(&runs);
    let interleavings = (!case.threads.is_empty() || case.explore.strategy != crate::case::Strategy::Default)
        .then(|| interleavings(case, opts));
    let mut locks = Graph::default();
    let here = |label: &str| format!("{} {label}", case.id);
    locks.add_run(&plain.result.state.locks, &here(&plain.scenario.label));
    for r in faulted.iter().chain(&runs) {
        locks.add_run(&r.result.state.locks, &here(&r.scenario.label));
    }
    if let Some(inter) = &interleavings {
        locks.merge(&inter.locks);
    }
    let cycles = locks.cycles();
    plain.violations.extend(lock_cycle_violations(case, &cycles));
    if let Some(inter) = &interleavings {
        let reached = inter.outcomes.iter().any(|(r, _)| check::ends_as_expected(case, &r.result));
        if case.expect_end != crate::case::ExpectEnd::Finished && !reached {
            plain.violations.push(Violation::new(
                Check::Finished,
                format!(
                    "the case expects a {:?}, and no explored schedule reached one ({})",
                    case.expect_end, inter.summary
                ),
            ));
        }
    }
    Ok(CaseRun { opts: opts.clone(), plain, faulted, runs, outcomes, interleavings, locks, cycles })
}

/// The whole suite's lock graph: every case's dependencies, in path order,
/// except those of cases that exist to show a cycle. Any unguarded cycle in
/// it is a violation, even if each case's own graph had none: two cases may
/// each show one half of an ABBA.
pub fn suite_lock_violations<'a>(runs: impl Iterator<Item = (&'a Case, &'a CaseRun)>) -> Vec<Violation> {
    let mut g = Graph::default();
    for (case, run) in runs {
        if case.expect_lock_cycles.is_empty() {
            g.merge(&run.locks);
        }
    }
    g.cycles().iter().filter(|c| c.guard.is_none()).map(|c| Violation::new(Check::LockdepSuite, c.report())).collect()
}

/// An unguarded cycle the case does not declare is a violation; so is a
/// declared one that no run showed.
pub fn lock_cycle_violations(case: &Case, cycles: &[Cycle]) -> Vec<Violation> {
    let mut v = Vec::new();
    for c in cycles.iter().filter(|c| c.guard.is_none()) {
        if !case.expect_lock_cycles.iter().any(|d| c.matches(d)) {
            v.push(Violation::new(Check::Lockdep, c.report()));
        }
    }
    for d in &case.expect_lock_cycles {
        if !cycles.iter().any(|c| c.guard.is_none() && c.matches(d)) {
            v.push(Violation::new(
                Check::Lockdep,
                format!("the case declares the lock-order cycle `{d}`, and no run showed it unguarded"),
            ));
        }
    }
    v
}

/// Explores the interleavings, then replays each outcome's shortest schedule
/// to check the run is deterministic.
fn interleavings(case: &Case, opts: &RunOpts) -> Interleavings {
    let ex = interleave::explore(case, opts, &case.explore.strategy);
    let summary = ex.describe();
    let outcomes = ex
        .outcomes
        .into_iter()
        .map(|r| {
            let mut run = r.run;
            if let Some(v) = determinism(case, opts, &run) {
                run.violations.push(v);
            }
            (run, r.runs)
        })
        .collect();
    Interleavings { summary, outcomes, locks: ex.locks }
}

/// `--check-determinism`: the same schedule must give the same bytes.
pub fn determinism(case: &Case, opts: &RunOpts, first: &ScenarioRun) -> Option<Violation> {
    let Some(schedule) = &first.scenario.schedule else { return None };
    let again = match verdict::run(case, first.scenario.clone(), opts) {
        Ok(r) => r,
        Err(e) => return Some(Violation::new(Check::Determinism, e)),
    };
    let a = format!("{}{}", crate::report::trace(case, &first.result), first.outcome);
    let b = format!("{}{}", crate::report::trace(case, &again.result), again.outcome);
    (a != b).then(|| Violation::new(Check::Determinism, format!("replaying {schedule} gave a different run")))
}

/// Runs the explicit faults; a fault that never fired is an error in the case.
fn run_faulted(case: &Case, sc: Scenario, opts: &RunOpts) -> Result<ScenarioRun, CaseError> {
    let run = run_one(case, sc, opts)?;
    if let Some(&site) = verdict::unfired(&run).first() {
        let idx = case.faults.iter().position(|f| f.site == site).unwrap_or(0);
        let msg = format!(
            "failpoint `{}` ({}) was armed but never fired: this run does not reach it; `hotplug-fi failpoints {}` lists the sites the plain run reaches",
            site,
            site_label(case, site),
            case.path.display()
        );
        return Err(case.fault_error(idx, msg));
    }
    Ok(run)
}

fn run_one(case: &Case, scenario: Scenario, opts: &RunOpts) -> Result<ScenarioRun, CaseError> {
    verdict::run(case, scenario, opts).map_err(|m| case.fault_error(0, m))
}

/// Hands each sweep scenario to `visit` as it is made, at most
/// `scenarios_max` of them; a sweep that would make more is an error at
/// its `sweep` key, raised before any scenario runs where the count is
/// known in advance (`single`, `pairs`).
fn sweep(
    case: &Case,
    reached: &[Site],
    opts: &RunOpts,
    visit: &mut dyn FnMut(Scenario) -> Result<(), CaseError>,
) -> Result<(), CaseError> {
    let Some(sw) = &case.sweep else { return Ok(()) };
    let matches = |s: &Site| sw.regex.is_match(&s.to_string()) || sw.regex.is_match(&named(case, *s));
    let matched: Vec<Site> = reached.iter().copied().filter(matches).collect();
    if matched.is_empty() {
        let examples: Vec<String> = reached.iter().take(4).map(|s| format!("{s} ({})", site_label(case, *s))).collect();
        let msg = if reached.is_empty() {
            "`sweep` matches no site: the plain run reaches no failpoint site at all".to_string()
        } else {
            format!(
                "`sweep` matches none of the {} sites the plain run reaches, for example {}",
                reached.len(),
                examples.join(", ")
            )
        };
        return Err(case.sweep_error(msg));
    }
    let one = |sites: &[Site]| {
        let faults: Vec<(Site, String)> = sites.iter().map(|s| (*s, SWEEP_ACTION.to_string())).collect();
        let label = sites.iter().map(Site::to_string).collect::<Vec<_>>().join(" + ");
        Scenario { label, faults, schedule: None }
    };
    let n = matched.len() as u64;
    let too_many = |count: u64, known: &str| {
        let narrow = match sw.mode {
            SweepMode::Single => "narrow the `sweep` regex",
            _ => "narrow `sweep_filter`, or sweep single sites with a regex in `sweep`",
        };
        case.sweep_error(format!(
            "this sweep {known} {count} scenarios, over scenarios_max ({}): {narrow}",
            SCENARIOS_MAX.max
        ))
    };
    match sw.mode {
        SweepMode::Single if n > SCENARIOS_MAX.max => return Err(too_many(n, "makes")),
        SweepMode::Pairs if n * n.saturating_sub(1) / 2 > SCENARIOS_MAX.max => {
            return Err(too_many(n * (n - 1) / 2, "makes"));
        }
        _ => {}
    }
    match sw.mode {
        SweepMode::Single => matched.iter().try_for_each(|s| visit(one(&[*s]))),
        SweepMode::Pairs => {
            for (i, a) in matched.iter().enumerate() {
                matched[i + 1..].iter().try_for_each(|b| visit(one(&[*a, *b])))?;
            }
            Ok(())
        }
        SweepMode::Rollback => {
            // For each first failure, the sites its rollback reaches first.
            let rec = RunOpts { record_sites: true, ..opts.clone() };
            let mut made = 0u64;
            for a in &matched {
                let first =
                    engine::run(case, &[(*a, SWEEP_ACTION.to_string())], &rec).map_err(|m| case.sweep_error(m))?;
                for b in first.reached_in_rollback().iter().filter(|b| matches(b)) {
                    made += 1;
                    if made > SCENARIOS_MAX.max {
                        return Err(too_many(made, "makes more than"));
                    }
                    visit(one(&[*a, *b]))?;
                }
            }
            Ok(())
        }
    }
}

/// The site with its step name in place of the number.
pub fn named(case: &Case, site: Site) -> String {
    if let Site::Callee { cpu, bringup, callee, .. } = site {
        let dir = if bringup { "up" } else { "down" };
        return format!("cpuhp/cpu{cpu}/{dir}/{}/{}", site_label(case, site), callee.name());
    }
    let Site::Cpuhp { cpu, bringup, inst, .. } = site else {
        return site.to_string();
    };
    let dir = if bringup { "up" } else { "down" };
    let inst = inst.map(|i| format!("/inst{i}")).unwrap_or_default();
    format!("cpuhp/cpu{cpu}/{dir}/{}{inst}", site_label(case, site))
}

/// The step name of a site's state as the profile (or the enum) knows it.
pub fn site_label(case: &Case, site: Site) -> String {
    let state = match site {
        Site::Cpuhp { state, .. } | Site::Callee { state, .. } => state,
        Site::Ipi { .. } => return "call-function IPI".to_string(),
        Site::Acpi { step, .. } => return step.name().to_string(),
        Site::Memory { step, .. } => {
            return match step {
                MemStep::GoingOnline | MemStep::GoingOffline => format!("memory_notify({})", step.name()),
                MemStep::Isolate => "start_isolate_page_range".to_string(),
                MemStep::Migrate => "scan_movable_pages/do_migrate_range".to_string(),
                MemStep::Dissolve => "dissolve_free_huge_pages".to_string(),
            };
        }
    };
    case.profile.steps.iter().find(|p| p.nr == state).map_or_else(|| case.profile.enum_name(state), |p| p.name.clone())
}

fn group(runs: &[ScenarioRun]) -> Vec<Outcome> {
    let mut by_key: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, r) in runs.iter().enumerate() {
        by_key.entry(r.outcome.as_str()).or_default().push(i);
    }
    let mut outcomes: Vec<Outcome> = by_key.into_values().map(|runs| Outcome { runs }).collect();
    outcomes.sort_by_key(|o| o.runs[0]);
    outcomes
}
