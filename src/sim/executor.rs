//! The deterministic executor that runs kernel tasks.
//!
//! Every kernel task (the control task, `cpuhp/N`, the idle tasks, the
//! stoppers) is an `async` block. A task runs until it reaches an `.await` that
//! is not ready: a lock, a completion, a preemption point. The executor then
//! asks a [`Strategy`] which runnable task takes the next step, and records
//! every decision where there was a choice. The same strategy state and the
//! same model give the same run, byte for byte.
//!
//! The executor does not know what a task waits for: the [`World`] (the kernel
//! model) answers whether a task is runnable. Left out: wakers. Waits are
//! conditions re-evaluated at each decision, which is simple and, for tens of
//! tasks, cheap.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as PollContext, Waker};

use super::TaskId;

/// A task body.
pub type TaskFuture = Pin<Box<dyn Future<Output = ()>>>;

/// What the executor needs from the model it runs.
pub trait World {
    fn task_count(&self) -> usize;
    /// The task has neither finished nor died, and what it waits for is there.
    fn runnable(&self, task: TaskId) -> bool;
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
}

/// Chooses the next task. Strategies differ in where they preempt and whom
/// they pick; the interleaving explorer plugs in its own.
pub trait Strategy {
    /// Pick one of `runnable` (ascending, at least two entries). `current`
    /// is the task that just stopped, if it is among them.
    fn pick(&mut self, runnable: &[TaskId], current: Option<TaskId>) -> TaskId;
    /// Whether a preemption point is a decision at all. The default schedule
    /// runs a task until it blocks, as a non-preemptible kernel would.
    fn decides_at_yield(&self) -> bool {
        false
    }
}

/// The single deterministic schedule: run the current task until it blocks,
/// then the lowest-numbered runnable task.
#[derive(Debug, Default)]
pub struct DefaultStrategy;

impl Strategy for DefaultStrategy {
    fn pick(&mut self, runnable: &[TaskId], current: Option<TaskId>) -> TaskId {
        match current {
            Some(c) if runnable.contains(&c) => c,
            _ => runnable[0],
        }
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

/// The executor: the task bodies, the strategy, and the record of decisions.
pub struct Executor {
    futures: Vec<Option<TaskFuture>>,
    strategy: Box<dyn Strategy>,
    steps_max: u64,
    steps: u64,
    /// The index picked at each decision with more than one runnable task.
    pub decisions: Vec<u32>,
}

impl Executor {
    pub fn new(strategy: Box<dyn Strategy>, steps_max: u64) -> Self {
        Executor { futures: Vec::new(), strategy, steps_max, steps: 0, decisions: Vec::new() }
    }

    /// Adds a task body; its id is its position, which the world must match.
    pub fn spawn(&mut self, fut: TaskFuture) -> TaskId {
        self.futures.push(Some(fut));
        self.futures.len() - 1
    }

    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Runs until every non-daemon task is done, nothing can move, or the
    /// step limit is reached.
    pub fn run(&mut self, world: &dyn World) -> RunEnd {
        let waker = noop_waker();
        let mut cx = PollContext::from_waker(&waker);
        let mut current: Option<TaskId> = None;
        let mut runnable = Vec::with_capacity(world.task_count());
        loop {
            let next = match current {
                Some(c) if world.yielded(c) && !self.strategy.decides_at_yield() => c,
                _ => {
                    runnable.clear();
                    runnable.extend((0..world.task_count()).filter(|&t| world.runnable(t)));
                    match runnable.len() {
                        0 => return self.stuck(world),
                        1 => runnable[0],
                        _ => {
                            let cur = current.filter(|c| runnable.contains(c));
                            let pick = self.strategy.pick(&runnable, cur);
                            let idx = runnable.iter().position(|&t| t == pick);
                            let idx = idx.expect("strategy picked a task that is not runnable");
                            self.decisions.push(idx as u32);
                            pick
                        }
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

    fn stuck(&self, world: &dyn World) -> RunEnd {
        let blocked: Vec<TaskId> =
            (0..world.task_count()).filter(|&t| !world.finished(t) && !world.daemon(t)).collect();
        if blocked.is_empty() { RunEnd::Finished } else { RunEnd::Deadlock(blocked) }
    }
}

fn noop_waker() -> Waker {
    Waker::noop().clone()
}
