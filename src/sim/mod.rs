//! The simulator: the machine the modelled kernel runs on.
//!
//! It owns what the kernel model asks it for: CPUs and their contexts, kernel
//! tasks on a deterministic executor ([`executor`]), sleeping locks and
//! completions ([`lock`]), CPU masks ([`cpumask`]). It imports nothing from
//! the kernel model and knows nothing about hotplug states, traces, case
//! files or snapshots (the trace is the kernel's, in `kernel::trace`). It is
//! not the CPU scheduler: there is no load balancing, no priorities and no time, only the
//! order in which runnable tasks take their next step.
//!
//! Interrupts are tasks too: each CPU has one that takes its call-function
//! IPIs, and each device interrupt source of a case has one. They run in
//! hard-IRQ context, only on a CPU whose IRQs are enabled. Left out: NUMA,
//! and any notion of elapsed time. A "step" is one poll of one task.

pub mod cpumask;
pub mod executor;
pub mod lock;

pub use cpumask::CpuMask;

/// Index of a task in the executor's task table.
pub type TaskId = usize;

/// What a kernel task is, which decides the CPU it may run on and how it is
/// named in the trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum TaskKind {
    /// The task running a case's operations (a user writing to sysfs, or a
    /// module's init). It runs on the boot CPU unless `work_on_cpu` moved it.
    Control(usize),
    /// The per-CPU hotplug thread `cpuhp/N`, bound to CPU N.
    Cpuhp(usize),
    /// The idle task of CPU N, which runs `start_secondary` on bringup and
    /// reports the CPU dead on teardown.
    Idle(usize),
    /// The stopper thread of CPU N (`migration/N`), which runs stop_machine work.
    Stopper(usize),
    /// The call-function IPI vectors of CPU N (`sysvec_call_function_single`,
    /// `sysvec_call_function`), in hard-IRQ context.
    Ipi(usize),
    /// The handler of the case's Nth device interrupt source, in hard-IRQ
    /// context on whichever CPU the interrupt is routed to.
    Irq(usize),
    /// RCU's grace-period kthread (`rcu_gp_kthread`, named `rcu_preempt`).
    RcuGp,
}

impl TaskKind {
    /// Kernel threads loop forever; a run ends when every other task is done.
    pub fn is_daemon(self) -> bool {
        !matches!(self, TaskKind::Control(_))
    }

    /// An interrupt handler rather than a task: it runs only where IRQs are
    /// enabled, and never keeps a CPU from other tasks.
    pub fn is_irq(self) -> bool {
        matches!(self, TaskKind::Ipi(_) | TaskKind::Irq(_))
    }

    /// The name the kernel would show in `ps`, as the trace prints it.
    pub fn comm(self) -> String {
        match self {
            TaskKind::Control(0) => "control".to_string(),
            TaskKind::Control(n) => format!("control{n}"),
            TaskKind::Cpuhp(n) => format!("cpuhp/{n}"),
            TaskKind::Idle(n) => format!("swapper/{n}"),
            TaskKind::Stopper(n) => format!("migration/{n}"),
            TaskKind::Ipi(n) => format!("<IRQ>/{n}"),
            TaskKind::Irq(n) => format!("<IRQ> source {n}"),
            TaskKind::RcuGp => "rcu_preempt".to_string(),
        }
    }
}

/// The execution context of a task: the CPU it is on, and whether it may be
/// interrupted or preempted. Callbacks are checked against it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Context {
    pub cpu: usize,
    pub irqs_disabled: bool,
    pub preempt_count: u32,
    /// Hard-IRQ context (`in_hardirq()`); `in_task()` is its negation here.
    pub hardirq: bool,
}

impl Context {
    /// Whether the context may sleep (`might_sleep()` would not complain).
    pub fn sleepable(self) -> bool {
        !self.irqs_disabled && self.preempt_count == 0
    }
}
