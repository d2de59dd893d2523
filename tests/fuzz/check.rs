//! One fuzz input, checked: the case loader, then bounded runs of what
//! loads, each measured against the documented bounds.
//!
//! A rejected input's error must name the file and a line and column inside
//! the text. A loaded case has its `[machine] steps_max` and
//! `trace_events_max` lowered to [`STEPS_CLAMP`] and [`EVENTS_CLAMP`] (so
//! every input stays cheap), then runs its plain scenario, its
//! `[[fault]]`s scenario if it has one, and, with threads or interrupt
//! sources, two random schedules of the explorer. Every run must stay within
//! its steps (scheduling steps and operation work together), `tasks_max`
//! tasks, its trace events and splats, and `output_bytes_max` bytes of
//! trace text (past which the text says how many events it leaves out); a
//! run asked to be checked twice must give the same bytes both times. It
//! leaves out the sweep and exhaustive exploration (each is many such
//! runs), and memory and panics, which the driver (`tests/fuzz.rs`) catches
//! from outside the process.

use hotplug_fi::case::limits::{OUTPUT_BYTES_MAX, TASKS_MAX};
use hotplug_fi::case::{Case, CaseError, Strategy};
use hotplug_fi::engine::RunOpts;
use hotplug_fi::explore::interleave;
use hotplug_fi::report;
use hotplug_fi::sim::executor::RunEnd;
use hotplug_fi::verdict::{self, Scenario, ScenarioRun};

/// The `steps_max` a fuzzed case runs with, at most.
pub const STEPS_CLAMP: u64 = 20_000;
/// The `trace_events_max` a fuzzed case runs with, at most.
pub const EVENTS_CLAMP: usize = 20_000;

/// What became of an input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// The loader refused it (with an error at its place).
    Rejected,
    /// It loaded and ran.
    Ran,
    /// It loaded, and its run refused to start (a pinned schedule that does
    /// not fit, an action the `fail` crate refuses).
    Refused,
}

impl Status {
    pub fn word(self) -> &'static str {
        match self {
            Status::Rejected => "rejected",
            Status::Ran => "ran",
            Status::Refused => "refused",
        }
    }
}

/// A broken promise: a bound, an error's place, the loader's checks,
/// determinism.
#[derive(Clone, Debug)]
pub struct Failure {
    /// `bound`, `place`, `late` (the run refused what the loader took) or
    /// `nondeterministic`.
    pub kind: &'static str,
    pub msg: String,
}

/// An input's result and the largest figures its runs reached.
#[derive(Clone, Debug)]
pub struct Checked {
    pub status: Status,
    /// How the plain run ended: `finished`, `deadlock`, `livelock`,
    /// `tracelimit` (`-` when nothing ran).
    pub end: &'static str,
    /// Executor steps plus operation work, the most of any run.
    pub steps: u64,
    /// Trace events plus splats, the most of any run.
    pub events: usize,
    /// Bytes of the trace as text, the most of any run.
    pub output: usize,
    /// Bytes of the outcome (results, end, final state, splats), the most
    /// of any run.
    pub outcome: usize,
    pub runs: u32,
    /// The error of a rejected input or a refused run.
    pub error: Option<String>,
    pub failures: Vec<Failure>,
}

/// Loads `text` as the file `path` and runs it (twice, comparing the bytes,
/// with `twice`).
pub fn check(path: &str, text: &str, twice: bool) -> Checked {
    let mut c = Checked {
        status: Status::Rejected,
        end: "-",
        steps: 0,
        events: 0,
        output: 0,
        outcome: 0,
        runs: 0,
        error: None,
        failures: Vec::new(),
    };
    let id = path.trim_end_matches(".toml");
    let mut case = match Case::parse(path, id, text) {
        Ok(case) => case,
        Err(e) => {
            if let Err(m) = placed(path, text, &e) {
                c.failures.push(Failure { kind: "place", msg: m });
            }
            c.error = Some(e.to_string());
            return c;
        }
    };
    case.machine.steps_max = case.machine.steps_max.min(STEPS_CLAMP);
    case.machine.trace_events_max = case.machine.trace_events_max.min(EVENTS_CLAMP);
    let opts = RunOpts::default();
    let plain = match verdict::run(&case, Scenario::plain(&case, &opts), &opts) {
        Ok(run) => run,
        Err(m) => {
            // As `run_case` reports it: at the pinned schedule.
            let e = case.explore_error(m);
            if let Err(m) = placed(path, text, &e) {
                c.failures.push(Failure { kind: "place", msg: m });
            }
            c.status = Status::Refused;
            c.error = Some(e.to_string());
            return c;
        }
    };
    c.status = Status::Ran;
    c.end = match plain.result.end {
        RunEnd::Finished => "finished",
        RunEnd::Deadlock(_) => "deadlock",
        RunEnd::StepLimit(_) => "livelock",
        RunEnd::TraceLimit(_) => "tracelimit",
    };
    let text_of_plain = measure(&case, &plain, "plain", &mut c);
    if twice {
        match verdict::run(&case, Scenario::plain(&case, &opts), &opts) {
            Ok(again) => {
                let text_again = measure(&case, &again, "plain, again", &mut c);
                if text_again != text_of_plain {
                    c.failures.push(Failure {
                        kind: "nondeterministic",
                        msg: "the plain run gave different bytes the second time".into(),
                    });
                }
            }
            Err(m) => c.failures.push(Failure {
                kind: "nondeterministic",
                msg: format!("the plain run ran, and the second time was refused: {m}"),
            }),
        }
    }
    if let Some(sc) = Scenario::faulted(&case) {
        match verdict::run(&case, sc, &opts) {
            Ok(run) => {
                measure(&case, &run, "faulted", &mut c);
            }
            // The loader checks actions in full, so that `fail` never
            // refuses what a case loaded (`fault::check_action`).
            Err(m) => c.failures.push(Failure {
                kind: "late",
                msg: format!("the loader took the case's faults, and the run refused them: {m}"),
            }),
        }
    }
    if !case.threads.is_empty() || !case.irqs.is_empty() {
        let ex = interleave::explore(&case, &opts, &Strategy::Random { runs: 2, seed: 1 });
        for r in &ex.outcomes {
            measure(&case, &r.run, "explored", &mut c);
        }
    }
    c
}

/// Measures one run against its bounds; its rendered bytes.
fn measure(case: &Case, run: &ScenarioRun, what: &str, c: &mut Checked) -> String {
    c.runs += 1;
    let res = &run.result;
    let m = &case.machine;
    let steps = res.steps_taken();
    let mut bound = |msg: String| c.failures.push(Failure { kind: "bound", msg: format!("{what} run: {msg}") });
    if steps > m.steps_max {
        bound(format!("{steps} steps (scheduling steps and operation work) over steps_max {}", m.steps_max));
    }
    if let RunEnd::StepLimit(n) | RunEnd::TraceLimit(n) = res.end
        && n != steps
    {
        bound(format!("the outcome says {n} steps, and the run took {steps}"));
    }
    if res.tasks() as u64 > TASKS_MAX.max {
        bound(format!("{} tasks over {} {}", res.tasks(), TASKS_MAX.name, TASKS_MAX.max));
    }
    let events = res.recorded();
    if events > m.trace_events_max {
        bound(format!("{events} trace events and splats over trace_events_max {}", m.trace_events_max));
    }
    // The text stops at the first event past the limit, with a line that
    // says so: one event's lines, each naming at most a few pieces of the
    // case, may go past it.
    let trace = report::trace(case, res);
    let slack = 4 * case.source.len() + 4096;
    if trace.len() > OUTPUT_BYTES_MAX.max as usize + slack {
        bound(format!(
            "{} bytes of trace text, over {} ({}) and one event's lines",
            trace.len(),
            OUTPUT_BYTES_MAX.name,
            OUTPUT_BYTES_MAX.max
        ));
    }
    if trace.len() > OUTPUT_BYTES_MAX.max as usize && !trace.contains("more events not shown") {
        bound(format!("{} bytes of trace text, past {}, and no line says so", trace.len(), OUTPUT_BYTES_MAX.name));
    }
    c.steps = c.steps.max(steps);
    c.events = c.events.max(events);
    c.output = c.output.max(trace.len());
    c.outcome = c.outcome.max(run.outcome.len());
    trace + &run.outcome
}

/// An error names the file, then a line and a column inside the text:
/// `path:LINE:COL: message`.
fn placed(path: &str, text: &str, e: &CaseError) -> Result<(), String> {
    let shown = e.to_string();
    let head = format!("{path}:{}:{}: ", e.line, e.col);
    if e.file != path || !shown.starts_with(&head) {
        return Err(format!("the error does not start with `{head}`: {shown}"));
    }
    let lines: Vec<&str> = text.split('\n').collect();
    let Some(line) = e.line.checked_sub(1).and_then(|i| lines.get(i)) else {
        return Err(format!("line {} is past the text's {} lines: {shown}", e.line, lines.len()));
    };
    let width = line.chars().count() + 1;
    if e.col == 0 || e.col > width {
        return Err(format!("column {} is outside line {} ({} characters): {shown}", e.col, e.line, width - 1));
    }
    if e.msg.trim().is_empty() {
        return Err(format!("the error has no message: {shown}"));
    }
    Ok(())
}
