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
use std::sync::atomic::{AtomicBool, Ordering};

use rand_core::{Rng, SeedableRng};
use rand_pcg::Pcg64;

use crate::case::{Case, Strategy as Choice};
use crate::engine::{self, RunOpts, RunResult};
use crate::kernel::locking::lockdep::Graph;
use crate::sim::TaskId;
use crate::sim::executor::{Decision, Schedule, Strategy};
use crate::verdict::{self, Scenario, ScenarioRun};

use super::pool;

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

/// Runs grouped by outcome, in the order they ran: the whole search's, or
/// one share of it that a worker thread ran. Shares merge in search order
/// into exactly what one thread taking every run in turn would have built.
#[derive(Default)]
struct Partial {
    by_key: BTreeMap<String, usize>,
    /// By first reach; `first_run` counts from this share's first run.
    outcomes: Vec<Reached>,
    /// Schedules whose replay differed.
    nondeterministic: Vec<Schedule>,
    locks: Graph,
    runs: u64,
}

impl Partial {
    /// Takes one checked run, in search order.
    fn add(&mut self, case_id: &str, prepared: Prepared) {
        let Prepared { run, nondeterministic } = prepared;
        if nondeterministic {
            self.nondeterministic.push(run.scenario.schedule.clone().expect("an explored run has a schedule"));
        }
        // The schedule as text once: the scenario's label, the lock graph's
        // observer, and the tie-break between schedules of one length.
        let label = &run.scenario.label;
        let observer =
            if run.result.state.locks.deps.is_empty() { String::new() } else { format!("{case_id} {label}") };
        self.locks.add_run(&run.result.state.locks, &observer);
        self.runs += 1;
        let first_run = self.runs;
        self.reach(Reached { run, runs: 1, first_run });
    }

    /// Counts `r`'s runs under its outcome, keeping the shorter schedule.
    fn reach(&mut self, r: Reached) {
        match self.by_key.get(&r.run.outcome) {
            Some(&i) => {
                let kept = &mut self.outcomes[i];
                kept.runs += r.runs;
                // Fewer deviations, then the lower string; the strings are
                // compared only between schedules of one length. A strict
                // order, so the shortest of a set does not depend on the
                // order its runs came in.
                let (mine, theirs) = (r.schedule().len(), kept.schedule().len());
                if mine < theirs || (mine == theirs && r.run.scenario.label < kept.run.scenario.label) {
                    kept.run = r.run;
                }
            }
            None => {
                self.by_key.insert(r.run.outcome.clone(), self.outcomes.len());
                self.outcomes.push(r);
            }
        }
    }

    /// Appends the share that ran next in search order.
    fn merge(&mut self, next: Partial) {
        let before = self.runs;
        for mut r in next.outcomes {
            r.first_run += before;
            self.reach(r);
        }
        self.runs += next.runs;
        self.nondeterministic.extend(next.nondeterministic);
        self.locks.merge(&next.locks);
    }
}

/// A run checked on a worker thread, ready for the collector.
struct Prepared {
    run: ScenarioRun,
    /// `--check-determinism`: its replay gave different bytes.
    nondeterministic: bool,
}

/// Checks one run (its invariants and outcome text): the costly part of
/// taking it, done where it ran.
fn prepare(case: &Case, opts: &RunOpts, check: bool, result: RunResult) -> Prepared {
    let schedule = result.schedule.clone();
    let scenario = Scenario { label: schedule.to_string(), faults: vec![], schedule: Some(schedule) };
    let run = ScenarioRun::new(case, scenario, result, opts);
    let nondeterministic = check && crate::explore::determinism(case, opts, &run).is_some();
    Prepared { run, nondeterministic }
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

/// Random and PCT runs per share of the work.
const SHARE_RUNS: u64 = 64;

/// [`explore_with`], telling `progress` the runs done and the outcomes
/// found as the search goes (the CLI's progress bar).
///
/// The search runs on `opts.jobs` threads in shares (a subtree of the
/// exhaustive search, or a stretch of random or PCT runs), each grouped on
/// its own thread and merged in search order: the result is the same on
/// any number of threads.
pub fn explore_watched(
    case: &Case,
    opts: &RunOpts,
    strategy: &Choice,
    check_determinism: bool,
    progress: &mut dyn FnMut(u64, usize),
) -> Exploration {
    let threads = pool::threads(opts.jobs);
    let take = |strategy: Box<dyn Strategy>| prepare(case, opts, check_determinism, run(case, opts, strategy));
    let mut all = Partial::default();
    let id = case.id.as_str();
    let mut merge = |all: &mut Partial, share: Partial| {
        all.merge(share);
        progress(all.runs, all.outcomes.len());
    };
    let (executed, exhausted) = match strategy {
        Choice::Default => {
            all.add(id, take(Box::<DfsRun>::default()));
            (1, true)
        }
        Choice::Exhaustive { bound, runs } => exhaustive(id, threads, (*bound, *runs), &take, &mut all, &mut merge),
        Choice::Random { runs, seed } => {
            let one = |i| take(Box::new(RandomStrategy::new(*seed, i)));
            stretches(id, threads, *runs, &one, &mut all, &mut merge);
            (*runs, false)
        }
        Choice::Pct { runs, seed, depth } => {
            let steps = run(case, opts, Box::new(DfsRun::default())).decisions.max(1);
            let one = |i| take(Box::new(PctStrategy::new(*seed, i, *depth, steps)));
            stretches(id, threads, *runs, &one, &mut all, &mut merge);
            (*runs, false)
        }
    };
    Exploration {
        strategy: strategy.clone(),
        executed,
        pruned: 0,
        exhausted,
        outcomes: all.outcomes,
        nondeterministic: all.nondeterministic,
        locks: all.locks,
    }
}

/// Runs `one(0..runs)` in stretches of [`SHARE_RUNS`] on `threads` threads.
fn stretches(
    id: &str,
    threads: usize,
    runs: u64,
    one: &(impl Fn(u64) -> Prepared + Sync),
    all: &mut Partial,
    merge: &mut impl FnMut(&mut Partial, Partial),
) {
    let starts: Vec<u64> = (0..runs).step_by(SHARE_RUNS as usize).collect();
    let work = |start: u64| {
        let mut share = Partial::default();
        for i in start..(start + SHARE_RUNS).min(runs) {
            share.add(id, one(i));
        }
        share
    };
    pool::ordered(threads, starts, work, |share| {
        merge(all, share);
        true
    });
}

/// Replays one schedule strictly; `Err` if it does not fit the case.
pub fn replay(case: &Case, opts: &RunOpts, schedule: &Schedule) -> Result<ScenarioRun, String> {
    let scenario = Scenario { label: schedule.to_string(), faults: vec![], schedule: Some(schedule.clone()) };
    verdict::run(case, scenario, opts)
}

fn run(case: &Case, opts: &RunOpts, strategy: Box<dyn Strategy>) -> RunResult {
    engine::run_strategy(case, &[], opts, strategy).expect("a run without faults arms nothing")
}

/// A decision a run took after its prefix, where it took the default. Its
/// eligible tasks live in the run's arena (no allocation per frame, and no
/// bound on the number of tasks).
#[derive(Clone, Copy, Debug)]
struct Frame {
    /// `arena[start..start + len]`: the eligible tasks, ascending.
    start: u32,
    len: u32,
    default: TaskId,
    /// Deviations taken before this decision.
    deviations_before: u32,
}

/// One run's decisions after its prefix and the eligible tasks they refer to.
#[derive(Default)]
struct Stack {
    frames: Vec<Frame>,
    arena: Vec<TaskId>,
}

impl Stack {
    /// The prefixes of the runs that branch off this run within `bound`,
    /// in the order the search takes them: the deepest decision first, and
    /// at each decision its eligible tasks in order, the default left out.
    fn alternatives(&self, prefix: &[TaskId], bound: u32) -> Vec<Vec<TaskId>> {
        let mut out = Vec::new();
        for (j, f) in self.frames.iter().enumerate().rev() {
            // Every choice but the default costs one deviation.
            if f.deviations_before >= bound {
                continue;
            }
            let eligible = &self.arena[f.start as usize..(f.start + f.len) as usize];
            for &t in eligible.iter().filter(|&&t| t != f.default) {
                let mut p = Vec::with_capacity(prefix.len() + j + 1);
                p.extend_from_slice(prefix);
                p.extend(self.frames[..j].iter().map(|f| f.default));
                p.push(t);
                out.push(p);
            }
        }
        out
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
                st.frames.push(Frame { start, len, default: d.default, deviations_before });
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
///
/// The first run takes the default schedule; every decision where another
/// choice stays within the bound roots a subtree. Each subtree is one
/// share, searched depth-first on a worker thread, and the shares merge in
/// the order one thread's search takes them. At the run cap, the share that
/// crosses it is searched again on its own, stopping exactly at the cap.
fn exhaustive(
    id: &str,
    threads: usize,
    (bound, runs): (u32, u64),
    take: &(impl Fn(Box<dyn Strategy>) -> Prepared + Sync),
    all: &mut Partial,
    merge: &mut impl FnMut(&mut Partial, Partial),
) -> (u64, bool) {
    let mut root = Partial::default();
    let subtrees = search_one(id, &[], bound, take, &mut root);
    merge(all, root);
    if all.runs >= runs {
        return (all.runs, false);
    }
    let stop = AtomicBool::new(false);
    let work = |prefix: Vec<TaskId>| {
        let mut share = Partial::default();
        search(id, &prefix, bound, (runs - 1, &stop), take, &mut share);
        (share, prefix)
    };
    let mut crossing = None;
    pool::ordered(threads, subtrees, work, |(share, prefix): (Partial, Vec<TaskId>)| {
        if all.runs + share.runs >= runs {
            crossing = Some(prefix);
            stop.store(true, Ordering::Relaxed);
            return false;
        }
        merge(all, share);
        true
    });
    // The pool stops early only where the consumer said so: at the cap.
    match crossing {
        None => (all.runs, true),
        Some(prefix) => {
            let mut share = Partial::default();
            search(id, &prefix, bound, (runs - all.runs, &AtomicBool::new(false)), take, &mut share);
            merge(all, share);
            (all.runs, false)
        }
    }
}

/// Runs the schedule that replays `prefix` and takes the default after it;
/// returns the prefixes of the runs that branch off it within `bound`.
fn search_one(
    id: &str,
    prefix: &[TaskId],
    bound: u32,
    take: &impl Fn(Box<dyn Strategy>) -> Prepared,
    share: &mut Partial,
) -> Vec<Vec<TaskId>> {
    let stack = Rc::new(RefCell::new(Stack::default()));
    let strat = DfsRun { prefix: prefix.to_vec(), stack: Rc::clone(&stack), deviations: 0 };
    share.add(id, take(Box::new(strat)));
    stack.borrow().alternatives(prefix, bound)
}

/// The subtree of the run that replays `prefix`, depth-first: the run, then
/// each alternative's subtree in turn (the deepest decision's first). Each
/// level is one more deviation, so the recursion is at most `bound` deep.
/// Stops after `cap` runs in `share`, or when `stop` is set; `false` then.
fn search(
    id: &str,
    prefix: &[TaskId],
    bound: u32,
    (cap, stop): (u64, &AtomicBool),
    take: &impl Fn(Box<dyn Strategy>) -> Prepared,
    share: &mut Partial,
) -> bool {
    let alternatives = search_one(id, prefix, bound, take, share);
    if share.runs >= cap || stop.load(Ordering::Relaxed) {
        return false;
    }
    alternatives.iter().all(|alt| search(id, alt, bound, (cap, stop), take, share))
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
