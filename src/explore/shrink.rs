//! Shrinking a failing interleaving case: first the schedule with the
//! fewest deviations (exhaustive search with a growing bound), then fewer
//! threads and operations while the same failure remains. The result is a
//! case file that pins the failing schedule, with the regression switches
//! it was found with, fit for `cases/regression/`.
//!
//! The case is edited as a TOML table, so what survives keeps its modules,
//! machine and expectations. Left out: shrinking modules, faults and the
//! machine itself.

use crate::case::{Case, Strategy};
use crate::engine::RunOpts;
use crate::sim::executor::Schedule;

use super::interleave;

/// A shrunk case.
pub struct Shrunk {
    /// The new case file.
    pub text: String,
    pub schedule: Schedule,
    /// The failure it keeps.
    pub failure: String,
    pub threads: usize,
    pub ops: usize,
}

/// The first failure within `bound_max` deviations: (bound, schedule,
/// violation).
fn failure(case: &Case, opts: &RunOpts, bound_max: u32) -> Option<(u32, Schedule, String)> {
    for bound in 0..=bound_max {
        let ex = interleave::explore(
            case,
            opts,
            &Strategy::Exhaustive { bound, runs: crate::case::limits::EXHAUSTIVE_RUNS },
        );
        let mut failing: Vec<_> = ex.outcomes.iter().filter(|r| !r.run.violations.is_empty()).collect();
        failing.sort_by_key(|r| (r.schedule().len(), r.schedule().to_string()));
        if let Some(r) = failing.first() {
            return Some((bound, r.schedule().clone(), r.run.violations[0].to_string()));
        }
    }
    None
}

/// What makes two failures the same: the violation up to its context.
fn signature(v: &str) -> &str {
    v.split(" [").next().unwrap_or(v)
}

fn ops_of(t: &toml::Table) -> usize {
    let top = t.get("ops").and_then(|o| o.as_array()).map_or(0, Vec::len);
    let threads = t
        .get("thread")
        .and_then(|x| x.as_array())
        .map_or(0, |ths| ths.iter().filter_map(|th| th.get("ops").and_then(|o| o.as_array())).map(Vec::len).sum());
    top + threads
}

fn threads_of(t: &toml::Table) -> usize {
    t.get("thread").and_then(|x| x.as_array()).map_or(0, Vec::len)
}

/// Every table with one thread or one operation less.
fn smaller(t: &toml::Table) -> Vec<toml::Table> {
    let mut out = Vec::new();
    if let Some(ths) = t.get("thread").and_then(|x| x.as_array()) {
        for i in 0..ths.len() {
            if ths.len() > 1 {
                let mut c = t.clone();
                c["thread"].as_array_mut().expect("threads are an array").remove(i);
                out.push(c);
            }
            let n = ths[i].get("ops").and_then(|o| o.as_array()).map_or(0, Vec::len);
            for j in 0..n {
                let mut c = t.clone();
                let th = &mut c["thread"].as_array_mut().expect("threads are an array")[i];
                let ops = th.get_mut("ops").and_then(|o| o.as_array_mut()).expect("a thread has ops");
                if ops.len() > 1 {
                    ops.remove(j);
                    out.push(c);
                }
            }
        }
    }
    let n = t.get("ops").and_then(|o| o.as_array()).map_or(0, Vec::len);
    for j in 0..n {
        let mut c = t.clone();
        let ops = c.get_mut("ops").and_then(|o| o.as_array_mut()).expect("ops are an array");
        if ops.len() > 1 {
            ops.remove(j);
            out.push(c);
        }
    }
    out
}

/// Shrinks `case`, which must fail within `bound_max` deviations.
pub fn shrink(case: &Case, opts: &RunOpts, bound_max: u32) -> Result<Shrunk, String> {
    shrink_watched(case, opts, bound_max, &mut |_, _, _| {})
}

/// [`shrink`], telling `progress` the candidates tried and the threads and
/// operations of the smallest failing case so far, before each candidate
/// (the CLI's progress line).
pub fn shrink_watched(
    case: &Case,
    opts: &RunOpts,
    bound_max: u32,
    progress: &mut dyn FnMut(u64, usize, usize),
) -> Result<Shrunk, String> {
    let (mut bound, mut schedule, first) =
        failure(case, opts, bound_max).ok_or_else(|| format!("{} does not fail within bound {bound_max}", case.id))?;
    let sig = signature(&first).to_string();
    let mut table: toml::Table = toml::from_str(&case.source).map_err(|e| e.to_string())?;
    let mut tried = 0u64;
    'outer: loop {
        for cand in smaller(&table) {
            progress(tried, threads_of(&table), ops_of(&table));
            tried += 1;
            let text = toml::to_string(&cand).map_err(|e| e.to_string())?;
            let Ok(c) = Case::parse(&case.path.display().to_string(), &case.id, &text) else { continue };
            if let Some((b, s, v)) = failure(&c, opts, bound_max)
                && signature(&v) == sig
            {
                table = cand;
                bound = b;
                schedule = s;
                continue 'outer;
            }
        }
        break;
    }
    let desc = table.get("description").and_then(|d| d.as_str()).unwrap_or("").to_string();
    table.insert("description".into(), format!("Shrunk from {}: {desc}", case.id).into());
    let mut explore = toml::Table::new();
    explore.insert("strategy".into(), "exhaustive".into());
    explore.insert("bound".into(), i64::from(bound.max(2)).into());
    explore.insert("schedule".into(), schedule.to_string().into());
    // The pin holds for the switches it was found with, and only for them.
    if !opts.regressions.is_empty() {
        let names: Vec<toml::Value> = opts.regressions.iter().map(|r| r.name().into()).collect();
        explore.insert("schedule_regressions".into(), names.into());
    }
    table.insert("explore".into(), explore.into());
    let mut text = toml::to_string(&table).map_err(|e| e.to_string())?;
    if !text.ends_with('\n') {
        text.push('\n');
    }
    Ok(Shrunk { threads: threads_of(&table), ops: ops_of(&table), text, schedule, failure: sig })
}
