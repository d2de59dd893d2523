//! One path from a run to a verdict. A [`Scenario`] (what is armed, which
//! schedule) runs through [`run`], and [`ScenarioRun::new`], the only place
//! a scenario run is built, checks it and renders its outcome. The harness,
//! `sweep`, `run`, `replay`, `explore`, `shrink` and the oracle all come
//! through here, so a printed reproduction command means what the harness
//! meant.
//!
//! Which expectations apply follows from the scenario itself: the case's
//! `=> RESULT` lines and `expect` table describe its primary scenario (the
//! run with the case's `[[fault]]`s, or without faults on the pinned or
//! default schedule when it has none), wherever that scenario is run from.

use std::fmt::Write;

use crate::case::Case;
use crate::check::{self, Violation};
use crate::engine::{self, RunOpts, RunResult};
use crate::fault::Site;
use crate::report;
use crate::sim::executor::{ReplayStrategy, Schedule};

/// The sweep action: fail once, with `-EAGAIN`.
pub const SWEEP_ACTION: &str = "1*return";

/// One scenario: what is armed, the schedule it runs on, and a label that
/// names it.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub label: String,
    pub faults: Vec<(Site, String)>,
    /// `None` for the default schedule without preemption points.
    pub schedule: Option<Schedule>,
}

impl Scenario {
    /// The case's plain scenario: no fault, on its pinned schedule where
    /// the pin applies to these switches.
    pub fn plain(case: &Case, opts: &RunOpts) -> Scenario {
        match pin(case, opts) {
            Some(s) => Scenario { label: "pinned".into(), faults: vec![], schedule: Some(s.clone()) },
            None => Scenario { label: "plain".into(), faults: vec![], schedule: None },
        }
    }

    /// The case's `[[fault]]`s armed together, if it has any.
    pub fn faulted(case: &Case) -> Option<Scenario> {
        if case.faults.is_empty() {
            return None;
        }
        let faults: Vec<(Site, String)> = case.faults.iter().map(|f| (f.site, f.action.clone())).collect();
        let label = faults.iter().map(|(s, a)| format!("{s}={a}")).collect::<Vec<_>>().join(" ");
        Some(Scenario { label, faults, schedule: None })
    }

    /// Whether the case's expectations describe this scenario.
    pub fn is_primary(&self, case: &Case, opts: &RunOpts) -> bool {
        if case.faults.is_empty() {
            return self.is_plain(case, opts);
        }
        let same = |(s, a): (&(Site, String), &crate::case::FaultLine)| s.0 == a.site && s.1 == a.action;
        self.schedule.is_none()
            && self.faults.len() == case.faults.len()
            && self.faults.iter().zip(&case.faults).all(same)
    }

    /// Whether this is the case's plain scenario: no fault, on the pin that
    /// applies (or the default schedule).
    fn is_plain(&self, case: &Case, opts: &RunOpts) -> bool {
        self.faults.is_empty() && self.schedule.as_ref() == pin(case, opts)
    }
}

/// The case's pinned schedule, if the switches on are the ones it was
/// recorded with (`[explore] schedule_regressions`); with others, the
/// kernel decides differently and the pin means nothing.
pub fn pin<'a>(case: &'a Case, opts: &RunOpts) -> Option<&'a Schedule> {
    let e = &case.explore;
    e.schedule.as_ref().filter(|_| e.schedule_regressions == opts.regressions)
}

/// A scenario after it ran.
pub struct ScenarioRun {
    pub scenario: Scenario,
    pub result: RunResult,
    pub violations: Vec<Violation>,
    /// The outcome text, which is the grouping key.
    pub outcome: String,
    /// Some callback ran in rollback (read from the trace before
    /// [`ScenarioRun::slim`] can drop it).
    pub rolled_back: bool,
}

impl ScenarioRun {
    /// Checks a run of `scenario` and renders its outcome.
    pub fn new(case: &Case, scenario: Scenario, result: RunResult, opts: &RunOpts) -> ScenarioRun {
        let primary = scenario.is_primary(case, opts);
        let findings = check::findings(&result);
        let violations = check::check(case, &result, primary, &findings);
        let outcome = report::outcome(case, &result, &findings);
        let rolled_back = report::rolled_back(&result);
        ScenarioRun { scenario, result, violations, outcome, rolled_back }
    }

    /// Drops the trace's events and texts, keeping the splats, the checks'
    /// verdict and the outcome: for a sweep run whose outcome an earlier run
    /// already shows in full.
    pub fn slim(&mut self) {
        let t = &mut self.result.state.trace;
        t.events = Vec::new();
        t.wheres = Vec::new();
        t.locks = Vec::new();
        t.texts = Vec::new();
    }
}

/// Runs one scenario: its faults armed, on its schedule (replayed
/// strictly). `Err` when the scenario cannot run as written: an action the
/// `fail` crate refuses, or a schedule that does not fit.
pub fn run(case: &Case, scenario: Scenario, opts: &RunOpts) -> Result<ScenarioRun, String> {
    let opts_here = RunOpts { record_sites: opts.record_sites || scenario.is_plain(case, opts), ..opts.clone() };
    let result = match &scenario.schedule {
        None => engine::run(case, &scenario.faults, &opts_here)?,
        Some(s) => replay(case, &scenario.faults, &opts_here, s)?,
    };
    Ok(ScenarioRun::new(case, scenario, result, opts))
}

/// Runs `schedule` strictly: a pick that cannot run, a pick past the end
/// of the run, or a run that decided differently on the way is an error.
pub fn replay(
    case: &Case,
    faults: &[(Site, String)],
    opts: &RunOpts,
    schedule: &Schedule,
) -> Result<RunResult, String> {
    let (strategy, verdict) = ReplayStrategy::new(schedule);
    let r = engine::run_strategy(case, faults, opts, Box::new(strategy))?;
    verdict.verdict(&r.schedule, r.decisions).map_err(|m| {
        format!(
            "schedule {schedule} does not fit {}: {m}; re-record it: `hotplug-fi explore {}` prints each outcome's shortest schedule",
            case.path.display(),
            case.path.display()
        )
    })?;
    Ok(r)
}

/// The explicitly armed faults of a run that never fired.
pub fn unfired(run: &ScenarioRun) -> Vec<Site> {
    run.scenario.faults.iter().map(|(s, _)| *s).filter(|s| !run.result.fired.contains(s)).collect()
}

/// The one-line command that reproduces a scenario, quoted for `sh`.
pub fn repro(case: &Case, sc: &Scenario, opts: &RunOpts) -> String {
    let mut cmd = String::new();
    if !opts.regressions.is_empty() {
        let names: Vec<&str> = opts.regressions.iter().map(|r| r.name()).collect();
        let _ = write!(cmd, "HOTPLUG_REGRESSIONS={} ", shell_word(&names.join(",")));
    }
    let path = shell_word(&case.path.display().to_string());
    match &sc.schedule {
        Some(s) if !sc.is_plain(case, opts) => {
            let _ = write!(cmd, "cargo run --release -- replay {path} --schedule {}", shell_word(&s.to_string()));
        }
        _ => {
            let _ = write!(cmd, "cargo run --release -- run {path}");
        }
    }
    for (site, action) in &sc.faults {
        let arg = if action == SWEEP_ACTION { site.to_string() } else { format!("{site}={action}") };
        let _ = write!(cmd, " --fault {}", shell_word(&arg));
    }
    cmd
}

/// `word` as one `sh` word: bare when every character is safe, else in
/// single quotes (a quote inside written `'\''`).
pub fn shell_word(word: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_./:=,+@%^".contains(c);
    if !word.is_empty() && word.chars().all(safe) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::shell_word;

    #[test]
    fn shell_words_are_quoted_where_a_shell_would_act_on_them() {
        assert_eq!(shell_word("cpuhp/cpu1/down/197"), "cpuhp/cpu1/down/197");
        assert_eq!(shell_word("v2:31=2,32=1@0a1b2c"), "v2:31=2,32=1@0a1b2c");
        assert_eq!(shell_word("cpuhp/cpu1/down/199=return(-EBUSY)"), "'cpuhp/cpu1/down/199=return(-EBUSY)'");
        assert_eq!(shell_word("a*b>c"), "'a*b>c'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(shell_word(""), "''");
    }
}
