//! Every limit of a case and its runs, in one place, each named for what it
//! bounds with the qualifier last (`loops_max`).
//!
//! Every count and size a case file gives is checked against its limit when
//! the case loads, and the error gives the valid range and names the limit:
//! "`loops` must be 1 to 1000 (loops_max), not 0". A limit keeps a case
//! from allocating or running without bound (`boot_blocks`, `steps_max`,
//! `runs`), and keeps numbers inside the narrower types further in: the
//! trace numbers operations, threads and interrupt sources in 16 bits, and
//! a memory site names its block in 16 bits. A few bound what a case
//! cannot set directly and are checked where the count becomes known: a
//! sweep's scenarios (`scenarios_max`), a run's trace (`trace_events_max`,
//! also a `[machine]` key) and its text (`output_bytes_max`), a run's tasks
//! (`tasks_max`). `cases/README.md` lists every
//! limit in one table, and `tests/bad_input.rs` checks that table against
//! [`ALL`] and each limit just over it.

use toml::Spanned;

use super::{CaseError, Source};

/// A named limit: the largest value (or count) a case may give.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    /// How errors and `cases/README.md` name it: `loops_max`.
    pub name: &'static str,
    pub max: u64,
}

/// CPUs of `[machine]`: the model's cpumask width.
pub const CPUS_MAX: Limit = Limit { name: "cpus_max", max: crate::sim::cpumask::CPUS_MAX as u64 };
/// `[machine] steps_max`: executor steps a run may take before it counts as
/// a livelock.
pub const STEPS_MAX: Limit = Limit { name: "steps_max", max: 10_000_000 };
/// Operations in one list: `ops`, a thread's `ops`, a handler.
pub const OPS_MAX: Limit = Limit { name: "ops_max", max: 1000 };
/// `[[thread]]` tables.
pub const THREADS_MAX: Limit = Limit { name: "threads_max", max: 16 };
/// `[[task]]` tables: a case's user tasks with an affinity.
pub const USER_TASKS_MAX: Limit = Limit { name: "user_tasks_max", max: 16 };
/// `loops` of a thread.
pub const LOOPS_MAX: Limit = Limit { name: "loops_max", max: 1000 };
/// `[[irq]]` tables.
pub const IRQS_MAX: Limit = Limit { name: "irqs_max", max: 16 };
/// `fires` of an interrupt source.
pub const FIRES_MAX: Limit = Limit { name: "fires_max", max: 1000 };
/// `[explore] bound`: deviations from the default schedule.
pub const BOUND_MAX: Limit = Limit { name: "bound_max", max: 8 };
/// `[explore] runs`: the schedules of `random` and `pct`, the cap of
/// `exhaustive`.
pub const RUNS_MAX: Limit = Limit { name: "runs_max", max: 10_000_000 };
/// The `runs` of an exhaustive search that does not give its own: a cap it
/// reports reaching ("bound NOT exhausted"), not an error.
pub const EXHAUSTIVE_RUNS: u64 = 2_000_000;
/// `[explore] depth` of `pct`.
pub const DEPTH_MAX: Limit = Limit { name: "depth_max", max: 64 };
/// Memory blocks: `boot_blocks`, and every block number (0 to 4095).
pub const BLOCKS_MAX: Limit = Limit { name: "blocks_max", max: 4096 };
/// Pages of one memory block: each count of a `[[memory.block]]`, and
/// their sum (the model's block size, `BLOCK_PAGES`).
pub const PAGES_MAX: Limit = Limit { name: "pages_max", max: crate::drivers::base::memory::BLOCK_PAGES as u64 };
/// `[memory] migrate_bound`: rounds of the migrate loop.
pub const MIGRATE_BOUND_MAX: Limit = Limit { name: "migrate_bound_max", max: 1000 };
/// Kernel threads the model runs per CPU: `cpuhp/N`, the idle task,
/// `migration/N` (the stopper) and the call-function IPI handler.
pub const TASKS_PER_CPU: u64 = 4;
/// Tasks in one run: the case's control task, its threads and interrupt
/// sources, and [`TASKS_PER_CPU`] per CPU. Not a key: the other limits
/// bound it, and [`Case::tasks`](super::Case::tasks) counts a case's. Still
/// checked when a case loads ([`Limit::tasks`], at its `cpus`), so that a
/// change to the other limits cannot let a case reach a run that panics.
pub const TASKS_MAX: Limit =
    Limit { name: "tasks_max", max: 1 + THREADS_MAX.max + IRQS_MAX.max + TASKS_PER_CPU * CPUS_MAX.max };
/// Scenarios one case's sweep makes. Checked when the sweep is made (the
/// count depends on the sites the plain run reaches): before any runs for
/// `single` and `pairs`, as they are made for `rollback`.
pub const SCENARIOS_MAX: Limit = Limit { name: "scenarios_max", max: 100_000 };
/// Bytes of one run's trace as text (`hotplug-fi run`, a snapshot): past
/// it the text says how many events it leaves out.
pub const OUTPUT_BYTES_MAX: Limit = Limit { name: "output_bytes_max", max: 16 << 20 };
/// `[machine] trace_events_max`: events and splats one run records;
/// reaching it ends the run with the outcome "trace limit".
pub const TRACE_EVENTS_MAX: Limit = Limit { name: "trace_events_max", max: crate::kernel::trace::EVENTS_MAX as u64 };
/// Trace events one HTML report page draws (`hotplug-fi report`,
/// `--html`): past it the page says how many it leaves out, and `run`
/// prints the whole trace.
pub const PAGE_EVENTS_MAX: Limit = Limit { name: "page_events_max", max: 10_000 };

/// Every limit, in the order `cases/README.md` lists them.
pub const ALL: &[Limit] = &[
    CPUS_MAX,
    STEPS_MAX,
    OPS_MAX,
    THREADS_MAX,
    USER_TASKS_MAX,
    LOOPS_MAX,
    IRQS_MAX,
    FIRES_MAX,
    BOUND_MAX,
    RUNS_MAX,
    DEPTH_MAX,
    BLOCKS_MAX,
    PAGES_MAX,
    MIGRATE_BOUND_MAX,
    TASKS_MAX,
    SCENARIOS_MAX,
    TRACE_EVENTS_MAX,
    OUTPUT_BYTES_MAX,
    PAGE_EVENTS_MAX,
];

// The trace numbers operations (from 0), threads (from 1) and interrupt
// sources in 16 bits, and a memory site its block: the limits keep them
// there.
const _: () = assert!(OPS_MAX.max <= 1 << 16 && THREADS_MAX.max < 1 << 16 && IRQS_MAX.max <= 1 << 16);
const _: () = assert!(BLOCKS_MAX.max <= 1 << 16 && CPUS_MAX.max <= 1 << 16);
// The trace names a task in 16 bits.
const _: () = assert!(TASKS_MAX.max <= 1 << 16);

impl Limit {
    /// The value of `key`, if it is `min` to the limit; else an error at it
    /// that gives the range and names the limit.
    pub(super) fn check(self, src: &Source, key: &str, v: &Spanned<i64>, min: u64) -> Result<u64, CaseError> {
        self.range(key, *v.get_ref(), min).map_err(|m| src.error(v.span().start, m))
    }

    /// `v` as a `u64` if it is `min` to the limit; else the message.
    pub(super) fn range(self, key: &str, v: i64, min: u64) -> Result<u64, String> {
        match u64::try_from(v) {
            Ok(n) if (min..=self.max).contains(&n) => Ok(n),
            _ => Err(format!("{key} must be {min} to {} ({}), not {v}", self.max, self.name)),
        }
    }

    /// `v` as an index below the limit (0 to the limit less one), such as a
    /// block number; else the message.
    pub(super) fn below(self, key: &str, v: u64) -> Result<u64, String> {
        if v < self.max {
            return Ok(v);
        }
        Err(format!("{key} must be 0 to {} (below {} = {}), not {v}", self.max - 1, self.name, self.max))
    }

    /// A case's `tasks` (its control task, threads, interrupt sources and
    /// per-CPU kernel threads), at most the limit; else an error at `at`
    /// (the case's `cpus`).
    pub(super) fn tasks(self, src: &Source, tasks: usize, at: usize) -> Result<(), CaseError> {
        if tasks as u64 <= self.max {
            return Ok(());
        }
        Err(src.error(
            at,
            format!(
                "the case needs {tasks} tasks (1 control task, its threads and interrupt sources, {TASKS_PER_CPU} per CPU), more than {} ({})",
                self.max, self.name
            ),
        ))
    }

    /// A list of `count` items, at most the limit; else an error at the
    /// first one over (`at` gives its place).
    pub(super) fn count(
        self,
        src: &Source,
        what: &str,
        count: usize,
        at: impl Fn(usize) -> usize,
    ) -> Result<(), CaseError> {
        if count as u64 <= self.max {
            return Ok(());
        }
        Err(src.error(at(self.max as usize), format!("at most {} {what} ({}), not {count}", self.max, self.name)))
    }
}
