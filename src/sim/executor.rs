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
}

/// A run's schedule: the decisions that differed from the default choice.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Schedule {
    /// (decision index, task chosen), ascending.
    pub picks: Vec<(u32, TaskId)>,
}

impl Schedule {
    /// Parses `v1:12=5,40=2` (`v1:` alone is the default schedule).
    pub fn parse(s: &str) -> Result<Schedule, String> {
        const FORM: &str = "expected `v1:` followed by DECISION=TASK pairs, such as v1:12=5,40=2";
        let body = s.trim().strip_prefix("v1:").ok_or_else(|| format!("schedule `{s}`: {FORM}"))?;
        let mut picks = Vec::new();
        for pair in body.split(',').filter(|p| !p.is_empty()) {
            let (d, t) = pair.split_once('=').ok_or_else(|| format!("schedule `{s}`: `{pair}`: {FORM}"))?;
            let d: u32 = d.parse().map_err(|_| format!("schedule `{s}`: `{d}` is not a decision number"))?;
            let t: TaskId = t.parse().map_err(|_| format!("schedule `{s}`: `{t}` is not a task number"))?;
            if picks.last().is_some_and(|&(last, _)| last >= d) {
                return Err(format!("schedule `{s}`: decisions must ascend"));
            }
            picks.push((d, t));
        }
        Ok(Schedule { picks })
    }

    /// How many decisions deviate from the default.
    pub fn len(&self) -> usize {
        self.picks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.picks.is_empty()
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("v1:")?;
        for (i, (d, t)) in self.picks.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{d}={t}")?;
        }
        Ok(())
    }
}

/// Replays a schedule; where a pick does not fit (the task is not eligible
/// there), it takes the default and remembers that it did not fit.
#[derive(Debug)]
pub struct ReplayStrategy {
    picks: Vec<(u32, TaskId)>,
    next: usize,
    /// A pick that was not eligible at its decision.
    pub misfit: Option<(u32, TaskId)>,
}

impl ReplayStrategy {
    pub fn new(s: &Schedule) -> Self {
        ReplayStrategy { picks: s.picks.clone(), next: 0, misfit: None }
    }
}

impl Strategy for ReplayStrategy {
    fn pick(&mut self, d: &Decision) -> TaskId {
        match self.picks.get(self.next) {
            Some(&(i, t)) if i == d.index => {
                self.next += 1;
                if d.eligible.contains(&t) {
                    return t;
                }
                self.misfit.get_or_insert((i, t));
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
        Schedule { picks: self.deviations.clone() }
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
                        0 => return self.stuck(world),
                        1 if spontaneous.is_empty() => eligible[0],
                        _ => self.decide(world, &eligible, &spontaneous, current),
                    }
                }
            };
            if self.steps >= self.steps_max {
                return RunEnd::StepLimit(self.steps);
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
        if pick != d.default_choice() {
            self.deviations.push((d.index, pick));
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
        let s = Schedule::parse("v1:12=5,40=2").unwrap();
        assert_eq!(s.picks, vec![(12, 5), (40, 2)]);
        assert_eq!(s.to_string(), "v1:12=5,40=2");
        assert_eq!(Schedule::parse("v1:").unwrap(), Schedule::default());
        assert!(Schedule::parse("12=5").is_err());
        assert!(Schedule::parse("v1:5=1,3=2").unwrap_err().contains("ascend"));
    }
}
