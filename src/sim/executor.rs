//! The deterministic executor that runs kernel tasks.
//!
//! Every kernel task (the control tasks, `cpuhp/N`, the idle tasks, the
//! stoppers) is an `async` block. A task runs until it reaches an `.await`
//! that is not ready: a lock, a completion, a preemption point. The executor
//! then asks a [`Strategy`] which eligible task takes the next step. Kernel
//! rules decide who is eligible: a task that stopped with IRQs off or
//! preemption disabled keeps its CPU, so no other task of that CPU may run.
//!
//! Every decision with more than one eligible task is numbered. A run is
//! reproduced by its [`Schedule`]: the decisions where the choice differed
//! from the default one (keep the current task if it may go on, else a
//! woken kernel thread, else the lowest-numbered eligible task). The same model and schedule give the
//! same run, byte for byte.
//!
//! The executor does not know what a task waits for: the [`World`] (the
//! kernel model) answers which tasks are eligible. Left out: wakers. Waits
//! are conditions re-evaluated at each decision, which for tens of tasks is
//! cheap.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context as PollContext, Waker};

use super::TaskId;

/// A task body.
pub type TaskFuture = Pin<Box<dyn Future<Output = ()>>>;

/// What the executor needs from the model it runs.
pub trait World {
    fn task_count(&self) -> usize;
    /// Fills `out` with the tasks that may take a step now, ascending: not
    /// finished, not waiting, and not shut out of their CPU by a task that
    /// stopped with IRQs off or preemption disabled.
    fn eligible(&self, out: &mut Vec<TaskId>);
    /// The task finished or died: it will never be polled again.
    fn finished(&self, task: TaskId) -> bool;
    /// Work done inside steps that counts against the step limit too (each
    /// case operation), so a task that never yields is still bounded.
    fn work(&self) -> u64 {
        0
    }
    /// The run's record is full (the trace's `trace_events_max`): the run
    /// stops there, as it does at the step limit.
    fn full(&self) -> bool {
        false
    }
    /// Kernel threads that sleep in their loop do not keep a run alive.
    fn daemon(&self, task: TaskId) -> bool;
    /// Called before a poll: makes `task` current.
    fn begin_poll(&self, task: TaskId);
    /// Called after a poll; `done` when the future completed.
    fn end_poll(&self, task: TaskId, done: bool);
    /// The task stopped at a preemption point, not at a wait.
    fn yielded(&self, task: TaskId) -> bool;
    /// A pending interrupt's handler: when eligible, the default schedule
    /// runs it before anything else, as hardware delivers an IPI at once.
    fn urgent(&self, _task: TaskId) -> bool {
        false
    }
    /// An event the environment may cause at any time (a device interrupt
    /// firing): never the default choice, so taking it is always one
    /// deviation, and on its own it keeps no run going.
    fn spontaneous(&self, _task: TaskId) -> bool {
        false
    }
    /// Whether any task can ever be spontaneous (saves asking each one).
    fn has_spontaneous(&self) -> bool {
        false
    }
    /// Some interrupt is pending somewhere, so a preemption point is a
    /// decision even for the default schedule. Cheap: called at every
    /// preemption point.
    fn interrupt_pending(&self) -> bool {
        false
    }
}

/// One decision: who may run, and who just stopped.
#[derive(Debug)]
pub struct Decision<'a> {
    /// Its number in the run.
    pub index: u32,
    /// The eligible tasks, ascending; at least two.
    pub eligible: &'a [TaskId],
    /// The task that just stopped, if it is eligible.
    pub current: Option<TaskId>,
    /// `current` stopped at a preemption point (so switching away from it
    /// preempts it).
    pub yielded: bool,
    /// The default schedule's choice: a pending IPI's handler, else the
    /// current task if it may go on, else the lowest-numbered kernel thread
    /// (it was woken to finish the work the blocked task waits for, on its
    /// own CPU), else the lowest task. Never a spontaneous event.
    pub default: TaskId,
    /// The eligible tasks that are spontaneous events (device interrupts).
    pub spontaneous: &'a [TaskId],
}

impl Decision<'_> {
    /// The default schedule's choice.
    pub fn default_choice(&self) -> TaskId {
        self.default
    }

    /// Whether choosing `task` preempts a task that could have gone on.
    pub fn preempts(&self, task: TaskId) -> bool {
        self.yielded && self.current.is_some_and(|c| c != task)
    }
}

/// Chooses the next task. Strategies differ in where they preempt and whom
/// they pick; the explorer plugs in its own.
pub trait Strategy {
    /// Picks one of `d.eligible`.
    fn pick(&mut self, d: &Decision) -> TaskId;
    /// Whether a preemption point is a decision at all. The default schedule
    /// runs a task until it blocks, as a non-preemptible kernel would.
    fn decides_at_yield(&self) -> bool {
        false
    }
}

/// The single deterministic schedule: run the current task until it blocks,
/// then a woken kernel thread, then the lowest-numbered eligible task.
#[derive(Debug, Default)]
pub struct DefaultStrategy;

impl Strategy for DefaultStrategy {
    fn pick(&mut self, d: &Decision) -> TaskId {
        d.default_choice()
    }
}

/// Why a run stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunEnd {
    /// Every non-daemon task finished or died.
    Finished,
    /// No task can move, but some non-daemon task is still waiting.
    Deadlock(Vec<TaskId>),
    /// The step limit was reached.
    StepLimit(u64),
    /// The world's record filled up (`World::full`) after this many steps.
    TraceLimit(u64),
}

/// A run's schedule: the decisions that differed from the default choice,
/// and a fingerprint of the decision points up to the last of them.
///
/// Written `v2:12=5,40=2@3fa9c1`: decision 12 picks task 5, decision 40
/// task 2, and the eligible tasks at every decision up to 40 hash to
/// `3fa9c1`. The fingerprint is what makes a schedule strict: a model that
/// decides differently (a new preemption point, a renumbered task) gives
/// another fingerprint, and a replay says so instead of running something
/// else. `v2:` alone is the default schedule.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Schedule {
    /// (decision index, task chosen), ascending.
    pub picks: Vec<(u32, TaskId)>,
    /// [`Fingerprint`] of the decisions up to the last pick; 0 without picks.
    pub fingerprint: u32,
}

/// The schedule grammar's version: `v2` added the fingerprint.
const SCHEDULE_PREFIX: &str = "v2:";

impl Schedule {
    /// Parses `v2:12=5,40=2@3fa9c1` (`v2:` alone is the default schedule).
    pub fn parse(s: &str) -> Result<Schedule, String> {
        const FORM: &str =
            "expected `v2:` followed by DECISION=TASK pairs and `@` with the fingerprint, such as v2:12=5,40=2@3fa9c1";
        let t = s.trim();
        if t.starts_with("v1:") {
            return Err(format!(
                "schedule `{s}` is a v1 schedule, which carries no fingerprint and cannot be checked against this model; re-record it: `hotplug-fi explore CASE` prints each outcome's shortest schedule"
            ));
        }
        let body = t.strip_prefix(SCHEDULE_PREFIX).ok_or_else(|| format!("schedule `{s}`: {FORM}"))?;
        let (pairs, fp) = match body.split_once('@') {
            Some((p, f)) => (p, Some(f)),
            None => (body, None),
        };
        let mut picks = Vec::new();
        for pair in pairs.split(',').filter(|p| !p.is_empty()) {
            let (d, t) = pair.split_once('=').ok_or_else(|| format!("schedule `{s}`: `{pair}`: {FORM}"))?;
            let d: u32 = d.parse().map_err(|_| format!("schedule `{s}`: `{d}` is not a decision number"))?;
            let t: TaskId = t.parse().map_err(|_| format!("schedule `{s}`: `{t}` is not a task number"))?;
            if picks.last().is_some_and(|&(last, _)| last >= d) {
                return Err(format!("schedule `{s}`: decisions must ascend"));
            }
            picks.push((d, t));
        }
        let fingerprint = match (fp, picks.is_empty()) {
            (None, true) => 0,
            (None, false) => return Err(format!("schedule `{s}`: the fingerprint is missing: {FORM}")),
            (Some(_), true) => {
                return Err(format!("schedule `{s}`: the default schedule has no fingerprint: write `v2:`"));
            }
            (Some(f), false) => parse_fingerprint(f)
                .ok_or_else(|| format!("schedule `{s}`: `{f}` is not a fingerprint (six hexadecimal digits)"))?,
        };
        Ok(Schedule { picks, fingerprint })
    }

    /// How many decisions deviate from the default.
    pub fn len(&self) -> usize {
        self.picks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.picks.is_empty()
    }
}

fn parse_fingerprint(f: &str) -> Option<u32> {
    let ok = f.len() == 6 && f.bytes().all(|b| b.is_ascii_hexdigit());
    ok.then(|| u32::from_str_radix(f, 16).ok()).flatten()
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(SCHEDULE_PREFIX)?;
        for (i, (d, t)) in self.picks.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{d}={t}")?;
        }
        if !self.picks.is_empty() {
            write!(f, "@{:06x}", self.fingerprint)?;
        }
        Ok(())
    }
}

/// FNV-1a over the eligible tasks of each decision, folded to 24 bits: a
/// short, stable digest of where a run could have gone differently.
#[derive(Clone, Copy, Debug)]
pub struct Fingerprint(u64);

impl Default for Fingerprint {
    fn default() -> Self {
        Fingerprint(0xcbf2_9ce4_8422_2325)
    }
}

impl Fingerprint {
    fn add(&mut self, eligible: &[TaskId]) {
        for &t in eligible {
            self.byte_word(t as u32);
        }
        // A separator, so that [1,2][3] and [1][2,3] differ.
        self.byte_word(u32::MAX);
    }

    fn byte_word(&mut self, w: u32) {
        for b in w.to_le_bytes() {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    /// The 24-bit value a schedule string carries.
    pub fn value(self) -> u32 {
        let x = self.0 ^ (self.0 >> 24) ^ (self.0 >> 48);
        (x & 0x00ff_ffff) as u32
    }
}

/// Why a schedule cannot be replayed on this case and model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Misfit {
    /// At this decision the pick is not among the eligible tasks.
    NotEligible { decision: u32, task: TaskId, eligible: Vec<TaskId> },
    /// The run ended before this decision.
    PastTheEnd { decision: u32, decisions: u32 },
    /// Every pick fitted, but the run decided differently on the way: the
    /// schedule was recorded on another model (or another case).
    Stale { recorded: Schedule, here: Schedule },
}

impl fmt::Display for Misfit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Misfit::NotEligible { decision, task, eligible } => {
                let list: Vec<String> = eligible.iter().map(TaskId::to_string).collect();
                write!(f, "at decision {decision}, task {task} cannot run (eligible: {})", list.join(", "))
            }
            Misfit::PastTheEnd { decision, decisions } => {
                write!(f, "it picks at decision {decision}, and the run ends after {decisions} decision(s)")
            }
            Misfit::Stale { recorded, here } => write!(
                f,
                "this schedule was recorded for a different model: its fingerprint is {:06x}, and here the same picks give {here}",
                recorded.fingerprint
            ),
        }
    }
}

/// Replays a schedule strictly. Where a pick does not fit, it takes the
/// default and remembers why; [`ReplayCheck::verdict`] then rejects the
/// run, so a schedule is never silently reinterpreted.
#[derive(Debug)]
pub struct ReplayStrategy {
    picks: Vec<(u32, TaskId)>,
    state: std::rc::Rc<std::cell::RefCell<ReplayState>>,
}

#[derive(Debug, Default)]
struct ReplayState {
    next: usize,
    misfit: Option<Misfit>,
}

/// What a replay leaves to check once its run ended.
#[derive(Debug)]
pub struct ReplayCheck {
    wanted: Schedule,
    state: std::rc::Rc<std::cell::RefCell<ReplayState>>,
}

impl ReplayStrategy {
    /// The strategy, and the handle that judges the run it drove.
    pub fn new(s: &Schedule) -> (Self, ReplayCheck) {
        let state = std::rc::Rc::default();
        let check = ReplayCheck { wanted: s.clone(), state: std::rc::Rc::clone(&state) };
        (ReplayStrategy { picks: s.picks.clone(), state }, check)
    }
}

impl ReplayCheck {
    /// Whether the run (its recorded schedule and decision count) is the
    /// one the schedule describes.
    pub fn verdict(&self, ran: &Schedule, decisions: u32) -> Result<(), Misfit> {
        let st = self.state.borrow();
        if let Some(m) = &st.misfit {
            return Err(m.clone());
        }
        if let Some(&(decision, _)) = self.wanted.picks.get(st.next) {
            return Err(Misfit::PastTheEnd { decision, decisions });
        }
        if *ran != self.wanted {
            return Err(Misfit::Stale { recorded: self.wanted.clone(), here: ran.clone() });
        }
        Ok(())
    }
}

impl Strategy for ReplayStrategy {
    fn pick(&mut self, d: &Decision) -> TaskId {
        let mut st = self.state.borrow_mut();
        match self.picks.get(st.next) {
            Some(&(i, t)) if i == d.index => {
                st.next += 1;
                if d.eligible.contains(&t) {
                    return t;
                }
                let m = Misfit::NotEligible { decision: i, task: t, eligible: d.eligible.to_vec() };
                st.misfit.get_or_insert(m);
                d.default_choice()
            }
            _ => d.default_choice(),
        }
    }

    fn decides_at_yield(&self) -> bool {
        true
    }
}

/// The executor: the task bodies, the strategy, and the record of decisions.
pub struct Executor {
    futures: Vec<Option<TaskFuture>>,
    strategy: Box<dyn Strategy>,
    steps_max: u64,
    steps: u64,
    decisions: u32,
    /// Decisions where the pick differed from the default.
    deviations: Vec<(u32, TaskId)>,
    /// The decision points so far, and their digest at the last deviation.
    fingerprint: Fingerprint,
    fingerprint_at_deviation: u32,
    preemptions: u32,
}

impl Executor {
    pub fn new(strategy: Box<dyn Strategy>, steps_max: u64) -> Self {
        Executor {
            futures: Vec::new(),
            strategy,
            steps_max,
            steps: 0,
            decisions: 0,
            deviations: Vec::new(),
            fingerprint: Fingerprint::default(),
            fingerprint_at_deviation: 0,
            preemptions: 0,
        }
    }

    /// Adds a task body; its id is its position, which the world must match.
    pub fn spawn(&mut self, fut: TaskFuture) -> TaskId {
        self.futures.push(Some(fut));
        self.futures.len() - 1
    }

    /// Polls a task once before the run, outside the schedule: a task whose
    /// body starts by waiting for an event (an interrupt handler) then sits
    /// in that wait, so that being picked later is the event itself.
    pub fn start(&mut self, world: &dyn World, task: TaskId) {
        let waker = Waker::noop().clone();
        let mut cx = PollContext::from_waker(&waker);
        let mut fut = self.futures[task].take().expect("started a finished task");
        world.begin_poll(task);
        let done = fut.as_mut().poll(&mut cx).is_ready();
        world.end_poll(task, done);
        assert!(!done, "a started task must wait for its event");
        self.futures[task] = Some(fut);
    }

    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// The run's schedule so far.
    pub fn schedule(&self) -> Schedule {
        Schedule { picks: self.deviations.clone(), fingerprint: self.fingerprint_at_deviation }
    }

    /// Decisions taken, and how many of them preempted a task.
    pub fn decisions(&self) -> (u32, u32) {
        (self.decisions, self.preemptions)
    }

    /// Runs until every non-daemon task is done, nothing can move, or the
    /// step limit is reached.
    pub fn run(&mut self, world: &dyn World) -> RunEnd {
        let waker = Waker::noop().clone();
        let mut cx = PollContext::from_waker(&waker);
        let mut current: Option<TaskId> = None;
        let mut eligible = Vec::with_capacity(world.task_count());
        let mut spontaneous = Vec::new();
        let any_spontaneous = world.has_spontaneous();
        let at_yield = self.strategy.decides_at_yield();
        loop {
            let next = match current {
                Some(c) if !at_yield && world.yielded(c) && !world.interrupt_pending() => c,
                _ => {
                    world.eligible(&mut eligible);
                    spontaneous.clear();
                    if any_spontaneous {
                        spontaneous.extend(eligible.iter().copied().filter(|&t| world.spontaneous(t)));
                    }
                    match eligible.len() - spontaneous.len() {
                        0 if self.steps + world.work() >= self.steps_max => {
                            return RunEnd::StepLimit(self.steps + world.work());
                        }
                        0 if world.full() => return RunEnd::TraceLimit(self.steps + world.work()),
                        0 => return self.stuck(world),
                        1 if spontaneous.is_empty() => eligible[0],
                        _ => self.decide(world, &eligible, &spontaneous, current),
                    }
                }
            };
            if self.steps + world.work() >= self.steps_max {
                return RunEnd::StepLimit(self.steps + world.work());
            }
            if world.full() {
                return RunEnd::TraceLimit(self.steps + world.work());
            }
            self.steps += 1;
            current = Some(next);
            let mut fut = self.futures[next].take().expect("polled a finished task");
            world.begin_poll(next);
            let done = fut.as_mut().poll(&mut cx).is_ready();
            world.end_poll(next, done);
            if !done {
                self.futures[next] = Some(fut);
            }
        }
    }

    fn decide(
        &mut self,
        world: &dyn World,
        eligible: &[TaskId],
        spontaneous: &[TaskId],
        current: Option<TaskId>,
    ) -> TaskId {
        let cur = current.filter(|c| eligible.contains(c) && !spontaneous.contains(c));
        let ordinary = || eligible.iter().copied().filter(|t| !spontaneous.contains(t));
        let urgent = if world.interrupt_pending() { ordinary().find(|&t| world.urgent(t)) } else { None };
        let default = urgent
            .or(cur)
            .or_else(|| ordinary().find(|&t| world.daemon(t)))
            .or_else(|| ordinary().next())
            .expect("a decision has an ordinary task");
        let yielded = cur.is_some_and(|c| world.yielded(c));
        let d = Decision { index: self.decisions, eligible, current: cur, yielded, default, spontaneous };
        let pick = self.strategy.pick(&d);
        assert!(eligible.contains(&pick), "strategy picked a task that is not eligible");
        self.fingerprint.add(eligible);
        if pick != d.default_choice() {
            self.deviations.push((d.index, pick));
            self.fingerprint_at_deviation = self.fingerprint.value();
        }
        if d.preempts(pick) {
            self.preemptions += 1;
        }
        self.decisions += 1;
        pick
    }

    fn stuck(&self, world: &dyn World) -> RunEnd {
        let blocked: Vec<TaskId> =
            (0..world.task_count()).filter(|&t| !world.finished(t) && !world.daemon(t)).collect();
        if blocked.is_empty() { RunEnd::Finished } else { RunEnd::Deadlock(blocked) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_strings_round_trip() {
        let s = Schedule::parse("v2:12=5,40=2@03fa9c").unwrap();
        assert_eq!(s.picks, vec![(12, 5), (40, 2)]);
        assert_eq!(s.fingerprint, 0x03fa9c);
        assert_eq!(s.to_string(), "v2:12=5,40=2@03fa9c");
        assert_eq!(Schedule::parse("v2:").unwrap(), Schedule::default());
        assert!(Schedule::parse("12=5").is_err());
        assert!(Schedule::parse("v2:5=1,3=2@000000").unwrap_err().contains("ascend"));
        assert!(Schedule::parse("v2:5=1").unwrap_err().contains("fingerprint is missing"));
        assert!(Schedule::parse("v2:@000000").unwrap_err().contains("no fingerprint"));
        assert!(Schedule::parse("v2:5=1@xyz").unwrap_err().contains("not a fingerprint"));
        assert!(Schedule::parse("v1:5=1").unwrap_err().contains("re-record"));
    }

    #[test]
    fn fingerprints_tell_decision_sets_apart() {
        let of = |sets: &[&[TaskId]]| {
            let mut f = Fingerprint::default();
            sets.iter().for_each(|s| f.add(s));
            f.value()
        };
        assert_ne!(of(&[&[1, 2], &[3]]), of(&[&[1], &[2, 3]]));
        assert_ne!(of(&[&[0, 1]]), of(&[&[0, 2]]));
        assert_eq!(of(&[&[0, 1], &[1, 5]]), of(&[&[0, 1], &[1, 5]]));
    }
}
