//! Interleavings: the strategies that choose schedules, and the loop that
//! runs them and groups the runs by outcome.
//!
//! - `exhaustive`: depth-first over every schedule with at most `bound`
//!   deviations from the default schedule (delay bounding, Emmi, Qadeer and
//!   Rakamaric 2011): preempting a task that could go on is one deviation,
//!   and so is picking a task other than the default one where the current
//!   task blocked. Plain preemption bounding (CHESS) leaves the choices at
//!   blocking points free, and with a dozen kernel threads waking each other
//!   those alone explode. Each run replays the prefix of choices the search
//!   is at and takes the default after it; every decision point records what
//!   else was eligible. No pruning yet: every schedule within the bound is
//!   executed, and the report says so (`pruned 0`).
//! - `random`: each decision uniform among the eligible tasks, one seeded
//!   PCG stream per run.
//! - `pct`: probabilistic concurrency testing (Burckhardt et al., 2010):
//!   random task priorities and `depth - 1` priority change points. A
//!   device interrupt fires only at a change point (the strategy picks among
//!   demoting the running task and firing each interrupt that may fire
//!   there), so a firing counts as one of the depth's events.
//!
//! Kernel rules constrain every choice through the executor's eligibility
//! (a task that stopped with IRQs off or preemption disabled keeps its CPU).
//! Runs are grouped by outcome (results, final state, splats): each outcome
//! keeps its shortest schedule (fewest deviations from the default) and how
//! many runs reached it.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use rand_core::{Rng, SeedableRng};
use rand_pcg::Pcg64;

use crate::case::{Case, Strategy as Choice};
use crate::engine::{self, RunOpts, RunResult};
use crate::kernel::locking::lockdep::Graph;
use crate::sim::TaskId;
use crate::sim::executor::{Decision, Schedule, Strategy};
use crate::verdict::{self, Scenario, ScenarioRun};

/// One distinct outcome of an exploration.
pub struct Reached {
    /// The run of the shortest schedule that reaches it (fewest
    /// deviations, then the lowest string), checked.
    pub run: ScenarioRun,
    /// How many executed runs reached it.
    pub runs: u64,
    /// The number of the run (from 1) that reached it first.
    pub first_run: u64,
}

impl Reached {
    /// The shortest schedule that reaches it.
    pub fn schedule(&self) -> &Schedule {
        self.run.scenario.schedule.as_ref().expect("an explored run has a schedule")
    }
}

/// An exploration's totals and outcomes.
pub struct Exploration {
    pub strategy: Choice,
    pub executed: u64,
    pub pruned: u64,
    /// The search covered every schedule within its bound.
    pub exhausted: bool,
    /// Distinct outcomes, by first reach.
    pub outcomes: Vec<Reached>,
    /// Schedules that gave different bytes when run again (with
    /// `--check-determinism`).
    pub nondeterministic: Vec<Schedule>,
    /// The lock dependencies of every run.
    pub locks: Graph,
}

impl Exploration {
    /// The strategy as a line of text.
    pub fn describe(&self) -> String {
        let s = match &self.strategy {
            Choice::Default => "default".to_string(),
            Choice::Exhaustive { bound, .. } => {
                format!("exhaustive, bound {bound} (deviations from the default schedule)")
            }
            Choice::Random { runs, seed } => format!("random, {runs} runs from seed {seed}"),
            Choice::Pct { runs, seed, depth } => format!("pct, depth {depth}, {runs} runs from seed {seed}"),
        };
        let exhausted = match self.strategy {
            Choice::Exhaustive { .. } if self.exhausted => ", bound exhausted".to_string(),
            Choice::Exhaustive { runs, .. } => format!(", bound NOT exhausted: stopped at its cap of {runs} runs"),
            _ => String::new(),
        };
        format!("{s}: {} schedules executed, {} pruned{exhausted}", self.executed, self.pruned)
    }
}

/// Groups runs by outcome as they come.
struct Collector<'a> {
    by_key: BTreeMap<String, usize>,
    outcomes: Vec<Reached>,
    /// `--check-determinism`: replay every run and compare.
    check: Option<&'a RunOpts>,
    /// Schedules whose replay differed.
    pub nondeterministic: Vec<Schedule>,
    locks: Graph,
    /// Runs so far, and who hears of each.
    runs: u64,
    progress: &'a mut dyn FnMut(u64, usize),
}

impl Collector<'_> {
    fn add(&mut self, case: &Case, opts: &RunOpts, result: RunResult) {
        self.record(case, opts, result);
        self.runs += 1;
        (self.progress)(self.runs, self.outcomes.len());
    }

    fn record(&mut self, case: &Case, opts: &RunOpts, result: RunResult) {
        let schedule = result.schedule.clone();
        let label = schedule.to_string();
        // The schedule as text once: the scenario's label, the lock graph's
        // observer, and the tie-break between schedules of one length.
        let observer = if result.state.locks.deps.is_empty() { String::new() } else { format!("{} {label}", case.id) };
        let scenario = Scenario { label, faults: vec![], schedule: Some(schedule.clone()) };
        let run = ScenarioRun::new(case, scenario, result, opts);
        if self.check.is_some() && crate::explore::determinism(case, opts, &run).is_some() {
            self.nondeterministic.push(schedule.clone());
        }
        self.locks.add_run(&run.result.state.locks, &observer);
        match self.by_key.get(&run.outcome) {
            Some(&i) => {
                let r = &mut self.outcomes[i];
                r.runs += 1;
                // Fewer deviations, then the lower string; the strings are
                // compared only between schedules of one length.
                let (mine, kept) = (schedule.len(), r.schedule().len());
                if mine < kept || (mine == kept && run.scenario.label < r.run.scenario.label) {
                    r.run = run;
                }
            }
            None => {
                self.by_key.insert(run.outcome.clone(), self.outcomes.len());
                let first_run = self.outcomes.iter().map(|r| r.runs).sum::<u64>() + 1;
                self.outcomes.push(Reached { run, runs: 1, first_run });
            }
        }
    }
}

/// Explores `case` with `strategy`.
pub fn explore(case: &Case, opts: &RunOpts, strategy: &Choice) -> Exploration {
    explore_with(case, opts, strategy, false)
}

/// Explores `case`; with `check_determinism`, every schedule runs twice and
/// any difference is reported in `nondeterministic`.
pub fn explore_with(case: &Case, opts: &RunOpts, strategy: &Choice, check_determinism: bool) -> Exploration {
    explore_watched(case, opts, strategy, check_determinism, &mut |_, _| {})
}

/// [`explore_with`], telling `progress` the runs done and the outcomes
/// found after each run (the CLI's progress bar).
pub fn explore_watched(
    case: &Case,
    opts: &RunOpts,
    strategy: &Choice,
    check_determinism: bool,
    progress: &mut dyn FnMut(u64, usize),
) -> Exploration {
    let mut c = Collector {
        by_key: BTreeMap::new(),
        outcomes: Vec::new(),
        check: check_determinism.then_some(opts),
        nondeterministic: Vec::new(),
        locks: Graph::default(),
        runs: 0,
        progress,
    };
    let (executed, exhausted) = match strategy {
        Choice::Default => {
            c.add(case, opts, run(case, opts, Box::new(DfsRun::default())));
            (1, true)
        }
        Choice::Exhaustive { bound, runs } => exhaustive(case, opts, *bound, *runs, &mut c),
        Choice::Random { runs, seed } => {
            for i in 0..*runs {
                c.add(case, opts, run(case, opts, Box::new(RandomStrategy::new(*seed, i))));
            }
            (*runs, false)
        }
        Choice::Pct { runs, seed, depth } => {
            let steps = run(case, opts, Box::new(DfsRun::default())).decisions.max(1);
            for i in 0..*runs {
                c.add(case, opts, run(case, opts, Box::new(PctStrategy::new(*seed, i, *depth, steps))));
            }
            (*runs, false)
        }
    };
    Exploration {
        strategy: strategy.clone(),
        executed,
        pruned: 0,
        exhausted,
        outcomes: c.outcomes,
        nondeterministic: c.nondeterministic,
        locks: c.locks,
    }
}

/// Replays one schedule strictly; `Err` if it does not fit the case.
pub fn replay(case: &Case, opts: &RunOpts, schedule: &Schedule) -> Result<ScenarioRun, String> {
    let scenario = Scenario { label: schedule.to_string(), faults: vec![], schedule: Some(schedule.clone()) };
    verdict::run(case, scenario, opts)
}

fn run(case: &Case, opts: &RunOpts, strategy: Box<dyn Strategy>) -> RunResult {
    engine::run_strategy(case, &[], opts, strategy).expect("a run without faults arms nothing")
}

/// A decision point the depth-first search can come back to. Its eligible
/// tasks live in the search's shared arena (no allocation per frame, and
/// no bound on the number of tasks).
#[derive(Clone, Copy, Debug)]
struct Frame {
    /// `arena[start..start + len]`: the eligible tasks, ascending.
    start: u32,
    len: u32,
    default: TaskId,
    chosen: TaskId,
    /// The next eligible task to try after the default, by position.
    cursor: u32,
    /// Deviations taken before this decision.
    deviations_before: u32,
}

/// The search's frames and the eligible tasks they refer to.
#[derive(Default)]
struct Stack {
    frames: Vec<Frame>,
    arena: Vec<TaskId>,
}

impl Stack {
    /// The next choice at the deepest frame that has one within `bound`,
    /// dropping the frames that have none; `false` when the search is done.
    fn advance(&mut self, bound: u32) -> bool {
        while let Some(f) = self.frames.last_mut() {
            let eligible = &self.arena[f.start as usize..(f.start + f.len) as usize];
            // Every choice but the default costs one deviation.
            let next = if f.deviations_before < bound {
                let rest = &eligible[f.cursor as usize..];
                rest.iter().position(|&t| t != f.default).map(|k| (k, rest[k]))
            } else {
                None
            };
            match next {
                Some((k, t)) => {
                    f.cursor += k as u32 + 1;
                    f.chosen = t;
                    return true;
                }
                None => {
                    self.arena.truncate(f.start as usize);
                    self.frames.pop();
                }
            }
        }
        false
    }
}

/// One run of the depth-first search: the prefix, then default choices,
/// recording every decision after the prefix. With no prefix, the default
/// schedule with preemption points.
#[derive(Default)]
struct DfsRun {
    prefix: Vec<TaskId>,
    stack: Rc<RefCell<Stack>>,
    deviations: u32,
}

impl Strategy for DfsRun {
    fn pick(&mut self, d: &Decision) -> TaskId {
        let i = d.index as usize;
        let choice = match self.prefix.get(i) {
            Some(&t) => {
                assert!(d.eligible.contains(&t), "model bug: a replayed prefix diverged at decision {i}");
                t
            }
            None => {
                let t = d.default_choice();
                let mut st = self.stack.borrow_mut();
                let start = st.arena.len() as u32;
                st.arena.extend_from_slice(d.eligible);
                let len = d.eligible.len() as u32;
                let deviations_before = self.deviations;
                st.frames.push(Frame { start, len, default: d.default, chosen: t, cursor: 0, deviations_before });
                t
            }
        };
        if choice != d.default_choice() {
            self.deviations += 1;
        }
        choice
    }

    fn decides_at_yield(&self) -> bool {
        true
    }
}

/// Delay-bounded depth-first search: returns (runs executed, bound
/// exhausted).
fn exhaustive(case: &Case, opts: &RunOpts, bound: u32, runs: u64, c: &mut Collector<'_>) -> (u64, bool) {
    let stack = Rc::new(RefCell::new(Stack::default()));
    let mut executed = 0u64;
    loop {
        let prefix: Vec<TaskId> = stack.borrow().frames.iter().map(|f| f.chosen).collect();
        let strat = DfsRun { prefix, stack: Rc::clone(&stack), deviations: 0 };
        c.add(case, opts, run(case, opts, Box::new(strat)));
        executed += 1;
        if executed >= runs {
            return (executed, false);
        }
        if !stack.borrow_mut().advance(bound) {
            return (executed, true);
        }
    }
}

/// Uniform random choices from one seeded stream per run.
struct RandomStrategy {
    rng: Pcg64,
}

impl RandomStrategy {
    fn new(seed: u64, run: u64) -> Self {
        RandomStrategy { rng: Pcg64::seed_from_u64(seed ^ run.wrapping_mul(0x9e37_79b9_7f4a_7c15)) }
    }
}

impl Strategy for RandomStrategy {
    fn pick(&mut self, d: &Decision) -> TaskId {
        d.eligible[(self.rng.next_u64() % d.eligible.len() as u64) as usize]
    }

    fn decides_at_yield(&self) -> bool {
        true
    }
}

/// PCT: the highest-priority eligible task runs; at `depth - 1` random
/// decisions the running task drops below every initial priority.
struct PctStrategy {
    rng: Pcg64,
    priority: BTreeMap<TaskId, u64>,
    change_points: Vec<u32>,
    next_low: u64,
}

impl PctStrategy {
    fn new(seed: u64, run: u64, depth: u32, steps: u32) -> Self {
        let mut rng = Pcg64::seed_from_u64(seed ^ run.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let mut change_points: Vec<u32> = (1..depth).map(|_| (rng.next_u64() % u64::from(steps)) as u32).collect();
        change_points.sort_unstable();
        PctStrategy { rng, priority: BTreeMap::new(), change_points, next_low: u64::from(depth) }
    }

    fn priority(&mut self, t: TaskId) -> u64 {
        let rng = &mut self.rng;
        // Initial priorities sit above every change-point priority.
        *self.priority.entry(t).or_insert_with(|| 1_000 + (rng.next_u64() >> 16))
    }
}

impl Strategy for PctStrategy {
    fn pick(&mut self, d: &Decision) -> TaskId {
        if self.change_points.contains(&d.index) {
            // A change point: demote the running task, or, where a device
            // interrupt could fire, fire one instead (each is one event of
            // the depth, as each is one deviation for `exhaustive`).
            let choices = 1 + d.spontaneous.len() as u64;
            let k = (self.rng.next_u64() % choices) as usize;
            if k > 0 {
                return d.spontaneous[k - 1];
            }
            let best = self.pick_again(d);
            self.next_low = self.next_low.saturating_sub(1);
            self.priority.insert(best, self.next_low);
        }
        self.pick_again(d)
    }

    fn decides_at_yield(&self) -> bool {
        true
    }
}

impl PctStrategy {
    /// The highest-priority eligible task that is not a spontaneous event
    /// (those fire only at change points).
    fn pick_again(&mut self, d: &Decision) -> TaskId {
        let mut best: Option<(u64, TaskId)> = None;
        for &t in d.eligible {
            if d.spontaneous.contains(&t) {
                continue;
            }
            let p = self.priority(t);
            if best.is_none_or(|(bp, _)| p > bp) {
                best = Some((p, t));
            }
        }
        best.map_or(d.default, |(_, t)| t)
    }
}
