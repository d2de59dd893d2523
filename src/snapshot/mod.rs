//! The snapshot of a case: the plain run in full, the run with the case's
//! faults, each explored interleaving outcome, the lock graph's cycles, and
//! each distinct sweep outcome with the sites that lead to it. Built from a
//! [`CaseRun`]; every line is a pure function of the case and its switches.

use std::fmt::Write;

pub mod compact;

use crate::case::Case;
use crate::engine::RunOpts;
use crate::explore::{self, CaseRun};
use crate::report::trace;
use crate::verdict::{self, ScenarioRun};

/// The scenarios of a case run with this label (`HOTPLUG_SCENARIO`); a
/// label that names none of them is an error listing what there is.
pub fn named_scenarios<'a>(case: &Case, run: &'a CaseRun, label: &str) -> Result<Vec<&'a ScenarioRun>, String> {
    let all = std::iter::once(&run.plain).chain(&run.faulted).chain(&run.runs);
    let hits: Vec<&ScenarioRun> = all.filter(|r| r.scenario.label == label).collect();
    if !hits.is_empty() {
        return Ok(hits);
    }
    let mut labels = vec![run.plain.scenario.label.clone()];
    labels.extend(run.faulted.iter().map(|f| f.scenario.label.clone()));
    Err(format!(
        "HOTPLUG_SCENARIO=`{label}` names no scenario of {}: its scenarios are {} and one per swept site \
         (`hotplug-fi failpoints {}` lists the sites)",
        case.id,
        labels.join(", "),
        case.path.display()
    ))
}

/// One scenario in full: how to reproduce it, its trace and its outcome.
pub fn scenario(case: &Case, run: &ScenarioRun, opts: &RunOpts) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "reproduce: {}", verdict::repro(case, &run.scenario, opts));
    let _ = writeln!(out, "trace:");
    out.push_str(&trace(case, &run.result));
    out.push_str(&run.outcome);
    out
}

/// One scenario as the snapshot shows it: its trace with repeats folded
/// and, unless it is the plain run, the lines it shares with the plain run's
/// start and end left out ([`compact`]).
fn compact_scenario(case: &Case, run: &ScenarioRun, opts: &RunOpts, plain: Option<&str>) -> String {
    let full = trace(case, &run.result) + &run.outcome;
    let text = plain.map_or_else(|| full.clone(), |p| compact::against_plain(&full, p));
    format!("reproduce: {}\ntrace:\n{}", verdict::repro(case, &run.scenario, opts), compact::fold_repeats(&text))
}

/// The snapshot of a case: the plain run in full, then each distinct outcome
/// with the scenarios that lead to it and the first one's trace.
pub fn case_snapshot(case: &Case, run: &CaseRun) -> String {
    let opts = &run.opts;
    let plain = trace(case, &run.plain.result) + &run.plain.outcome;
    let plain = Some(plain.as_str());
    let mut out = String::new();
    let _ = writeln!(out, "case: {}", case.id);
    let _ = writeln!(out, "description: {}", case.description.trim());
    if let Some(see) = &case.see {
        let _ = writeln!(out, "see: {see}");
    }
    let m = &case.machine;
    let _ = writeln!(
        out,
        "machine: {} CPUs, {} thread(s) per core, hotplug_cpu={}, cmdline={:?}; profile {} ({})",
        m.cpus,
        m.threads_per_core,
        if m.hotplug_cpu { "y" } else { "n" },
        m.smt,
        case.profile.name,
        case.profile.kernel
    );
    if m.present < m.cpus {
        let _ =
            writeln!(out, "machine: CPUs 0 to {} present at boot, the others possible (ACPI hot-add)", m.present - 1);
    }
    if m.apic_ids_given {
        let ids: Vec<String> = m.apic_ids.iter().map(|a| format!("{a:#x}")).collect();
        let _ = writeln!(out, "machine: APIC ids {}", ids.join(" "));
    }
    if let Some(s) = &case.explore.schedule
        && verdict::pin(case, opts).is_none()
    {
        let names: Vec<&str> = case.explore.schedule_regressions.iter().map(|r| r.name()).collect();
        let with = if names.is_empty() { "every switch off".to_string() } else { names.join(", ") };
        let _ = writeln!(out, "pinned schedule: {s}, recorded with {with}: not applied to this run's switches");
    }
    let faulted = if run.faulted.is_some() { " + 1 with the case's faults" } else { "" };
    let _ = writeln!(
        out,
        "scenarios: 1 plain{faulted} + {} swept, {} distinct sweep outcome(s)",
        run.runs.len(),
        run.outcomes.len()
    );
    let _ = writeln!(out, "\n== plain run ==");
    out.push_str(&compact_scenario(case, &run.plain, opts, None));
    if let Some(f) = &run.faulted {
        let _ = writeln!(out, "\n== with the case's faults: {} ==", f.scenario.label);
        out.push_str(&compact_scenario(case, f, opts, plain));
    }
    if let Some(inter) = &run.interleavings {
        let _ = writeln!(out, "\n== interleavings: {} ==", inter.summary);
        let n = inter.outcomes.len();
        for (k, (r, runs)) in inter.outcomes.iter().enumerate() {
            let s = r.scenario.schedule.as_ref().map(|s| s.to_string()).unwrap_or_default();
            let _ = writeln!(out, "\n-- interleaving outcome {} of {n}: {runs} run(s), shortest schedule {s}", k + 1);
            out.push_str(&compact_scenario(case, r, opts, plain));
        }
    }
    if !run.cycles.is_empty() {
        let _ = writeln!(out, "\n== lock graph: {} cycle(s) over every run of the case ==", run.cycles.len());
        for c in &run.cycles {
            let declared =
                if case.expect_lock_cycles.iter().any(|d| c.matches(d)) { "  [declared by the case]" } else { "" };
            let _ = writeln!(out, "{}", c.report().replacen('\n', &format!("{declared}\n"), 1));
        }
    }
    if !run.runs.is_empty() {
        let _ = write!(out, "\n== the swept states ==\n{}", state_legend(case, run));
    }
    for (n, o) in run.outcomes.iter().enumerate() {
        let first = &run.runs[o.runs[0]];
        let same = if first.outcome == run.plain.outcome { " (same as the plain run)" } else { "" };
        let _ =
            writeln!(out, "\n== outcome {} of {}: {} scenario(s){same} ==", n + 1, run.outcomes.len(), o.runs.len());
        let sites: Vec<Vec<String>> =
            o.runs.iter().map(|&i| run.runs[i].scenario.faults.iter().map(|(s, _)| s.to_string()).collect()).collect();
        out.push_str(&compact::fold_sites(&sites));
        out.push_str(&compact_scenario(case, first, opts, plain));
    }
    out
}

/// Every CPU hotplug state the sweep's sites name, with its step name, once,
/// wrapped at 100 columns: the outcome lists give only the numbers.
fn state_legend(case: &Case, run: &CaseRun) -> String {
    let mut states = std::collections::BTreeMap::new();
    for r in &run.runs {
        for (site, _) in &r.scenario.faults {
            if let crate::fault::Site::Cpuhp { state, .. } | crate::fault::Site::Callee { state, .. } = site {
                states.insert(*state, explore::site_label(case, *site));
            }
        }
    }
    let mut out = String::new();
    let mut line = String::from(" ");
    for (state, name) in states {
        let item = format!(" {state} {name},");
        if line.len() + item.len() > 100 {
            out.push_str(line.trim_end_matches(','));
            out.push('\n');
            line = String::from(" ");
        }
        line.push_str(&item);
    }
    out.push_str(line.trim_end_matches(','));
    out.push('\n');
    out
}
