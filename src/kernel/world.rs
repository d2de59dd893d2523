//! The scheduler-facing side of the kernel model: `impl World for Kernel`,
//! which tells the executor who may run at each decision, and the rules
//! behind it (`Occupancy`).
//!
//! Stands for the parts of `kernel/sched/core.c` and the x86 interrupt
//! entry that decide what runs on a CPU: a task that stopped with IRQs off
//! or preemption disabled keeps its CPU, a deliverable IPI is taken before
//! anything else, `balance_push` moves a case task off an inactive CPU.
//! Left out: priorities, load balancing and time.

use crate::sim::executor::World;
use crate::sim::{TaskId, TaskKind};

use super::{KState, Kernel, Task, Wait, smp};

impl World for Kernel {
    fn task_count(&self) -> usize {
        self.s().tasks.len()
    }

    fn eligible(&self, out: &mut Vec<TaskId>) {
        out.clear();
        let mut st = self.s();
        if !st.occ.valid {
            let fresh = Occupancy::of(&st);
            st.occ = fresh;
        }
        #[cfg(debug_assertions)]
        {
            let fresh = Occupancy::of(&st);
            assert!(st.occ == fresh, "the kept occupancy drifted from the tasks' state");
        }
        let s = &*st;
        let occ = &s.occ;
        let any_pending = s.smp.any_pending();
        // A CPU with IRQs on takes a deliverable IPI before it runs anything
        // else: the vector is taken as soon as IRQs allow.
        let ipi_now = |cpu: usize| {
            any_pending
                && s.smp.held[cpu] == smp::HeldBack::No
                && occ.takes_irq(s, cpu)
                && ipi_ready(s, cpu, occ, false)
        };
        let mut ordinary = 0;
        for (i, t) in s.tasks.iter().enumerate() {
            if t.finished || t.died {
                continue;
            }
            let ok = match t.kind {
                // A handler that spins (a WARNed smp call from hard-IRQ
                // context) goes on where it is.
                _ if t.kind.is_irq() && t.wait.is_some_and(Wait::spins) => self.ready(s, t.wait.expect("spinning")),
                TaskKind::Ipi(cpu) => occ.takes_irq(s, cpu) && ipi_ready(s, cpu, occ, false),
                TaskKind::Irq(n) => {
                    let line = &s.irqs[n];
                    let cpu = crate::arch::x86::irq::effective_cpu(s, line);
                    s.trace.enabled && line.fired < line.fires && occ.takes_irq(s, cpu)
                }
                _ => t.wait.is_none_or(|w| self.ready(s, w)) && occ.free_for(t) && !ipi_now(t.ctx.cpu),
            };
            if ok {
                out.push(i);
                ordinary += usize::from(!matches!(t.kind, TaskKind::Irq(_)));
            }
        }
        if ordinary == 0 && any_pending {
            // Nothing else can run: time passes, and held-back IPIs arrive.
            for (i, t) in s.tasks.iter().enumerate() {
                if let TaskKind::Ipi(cpu) = t.kind
                    && !t.died
                    && occ.takes_irq(s, cpu)
                    && ipi_ready(s, cpu, occ, true)
                    && !out.contains(&i)
                {
                    out.push(i);
                }
            }
            out.sort_unstable();
        }
    }

    fn finished(&self, task: TaskId) -> bool {
        let s = self.s();
        s.tasks[task].finished || s.tasks[task].died
    }

    fn work(&self) -> u64 {
        self.s().work
    }

    fn full(&self) -> bool {
        self.s().trace.full
    }

    fn daemon(&self, task: TaskId) -> bool {
        self.s().tasks[task].kind.is_daemon()
    }

    fn begin_poll(&self, task: TaskId) {
        let mut s = self.s();
        // Only the polled task changes its own state (its wait, context,
        // death): its share of the occupancy comes off now and goes back
        // in `end_poll`.
        let KState { occ, tasks, .. } = &mut *s;
        occ.count(&tasks[task], false);
        s.current = task;
        let was = s.tasks[task].wait.take();
        s.steps += 1;
        migrate_off_inactive(&mut s, task, was);
    }

    fn end_poll(&self, task: TaskId, done: bool) {
        {
            let mut s = self.s();
            if done {
                s.tasks[task].finished = true;
            }
            let KState { occ, tasks, .. } = &mut *s;
            occ.count(&tasks[task], true);
        }
        if self.cfg.slab {
            self.slab_check();
        }
    }

    fn yielded(&self, task: TaskId) -> bool {
        let s = self.s();
        s.tasks[task].wait == Some(Wait::Yield) && !s.tasks[task].died
    }

    fn urgent(&self, task: TaskId) -> bool {
        matches!(self.s().tasks[task].kind, TaskKind::Ipi(_))
    }

    fn spontaneous(&self, task: TaskId) -> bool {
        matches!(self.s().tasks[task].kind, TaskKind::Irq(_))
    }

    fn interrupt_pending(&self) -> bool {
        self.s().smp.any_pending()
    }

    fn has_spontaneous(&self) -> bool {
        !self.s().irqs.is_empty()
    }
}

/// Where a task of the case (not a per-CPU kthread) runs when it goes on
/// (`kernel/sched/core.c`). One that slept and is woken on a CPU that is
/// not active is placed on an active one (`select_task_rq` finds the CPU
/// not allowed, `select_fallback_rq` picks another). One that stayed on
/// the runqueue is pushed off a dying CPU by `balance_push`, which
/// `sched_cpu_deactivate` installed. Neither moves a task in an atomic
/// section: it cannot be migrated then, and keeps the CPU from its stopper.
fn migrate_off_inactive(s: &mut KState, task: TaskId, was: Option<Wait>) {
    let t = &s.tasks[task];
    let cpu = t.ctx.cpu;
    if !matches!(t.kind, TaskKind::Control(_)) || s.cpu.active.test(cpu) || !t.ctx.sleepable() {
        return;
    }
    // A task's first run is a wakeup too (`wake_up_new_task`).
    let slept = was.is_none_or(|w| w != Wait::Yield && !w.spins());
    let pushed = s.sched.rq[cpu].balance_push && s.cpu.dying.test(cpu);
    if !(slept || pushed) {
        return;
    }
    let Some(to) = s.cpu.active.first() else { return };
    s.tasks[task].ctx.cpu = to;
    super::sched::core::pushed(s, task, cpu, to);
}

/// Who occupies each CPU at a decision. A task that stopped mid-execution
/// or spins, with IRQs off or preemption disabled, keeps its CPU: nothing
/// else runs there until it goes on. With IRQs off, no interrupt comes in
/// either. An interrupt handler runs to its end in one step, unless it spins
/// (a call the kernel warns about in hard-IRQ context); then it keeps its
/// CPU from the task it interrupted.
///
/// Kept in the model's state as the tasks stop and go on (`begin_poll`
/// takes the polled task's share out, `end_poll` puts it back), so a
/// decision reads it in constant time per CPU instead of scanning every
/// task; per-CPU counts rather than bits, as several tasks may share a CPU.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Occupancy {
    /// Built for the current task list (a task added since makes it stale).
    pub(crate) valid: bool,
    /// Per CPU: tasks on it that are not waiting (stopped mid-execution or
    /// spinning).
    busy: Vec<u32>,
    /// Per CPU: of those, the ones with IRQs disabled.
    irqs_off: Vec<u32>,
    /// Per CPU: of those, interrupt handlers in the middle of their work.
    in_irq: Vec<u32>,
    /// Per CPU: of those, the ones keeping the CPU (IRQs off or preemption
    /// disabled).
    held: Vec<u32>,
    /// Tasks keeping a CPU, over every CPU.
    holders: u32,
}

/// What task `t` counts for: its CPU, and whether it keeps it, has IRQs
/// off, is a handler mid-work; `None` when it waits or is gone.
fn share(t: &Task) -> Option<(usize, bool, bool, bool)> {
    if t.finished || t.died || !t.wait.is_none_or(|w| w == Wait::Yield || w.spins()) {
        return None;
    }
    let keeps = t.ctx.irqs_disabled || t.ctx.preempt_count > 0;
    Some((t.ctx.cpu, keeps, t.ctx.irqs_disabled, t.kind.is_irq()))
}

impl Occupancy {
    /// Built from every task (the first decision, or after a task was added).
    fn of(s: &KState) -> Occupancy {
        let cpus = s.smp.pending.len();
        let mut o = Occupancy {
            valid: true,
            busy: vec![0; cpus],
            irqs_off: vec![0; cpus],
            in_irq: vec![0; cpus],
            held: vec![0; cpus],
            holders: 0,
        };
        for t in &s.tasks {
            o.count(t, true);
        }
        o
    }

    /// Adds (`add`) or takes out task `t`'s share.
    fn count(&mut self, t: &Task, add: bool) {
        if !self.valid {
            return;
        }
        let Some((cpu, keeps, irqs_off, irq)) = share(t) else { return };
        let step = |n: &mut u32| {
            if add {
                *n += 1;
            } else {
                *n -= 1;
            }
        };
        step(&mut self.busy[cpu]);
        if irqs_off {
            step(&mut self.irqs_off[cpu]);
        }
        if irq {
            step(&mut self.in_irq[cpu]);
        }
        if keeps {
            step(&mut self.held[cpu]);
            step(&mut self.holders);
        }
    }

    /// Whether task `t` may have its CPU.
    fn free_for(&self, t: &Task) -> bool {
        let cpu = t.ctx.cpu;
        if self.in_irq[cpu] != 0 {
            return false;
        }
        if self.held[cpu] == 0 {
            return true;
        }
        let own = share(t).is_some_and(|(_, keeps, _, _)| keeps);
        // Up to eight holders (the short list the model kept before), a
        // task that keeps its CPU may go on even where another task keeps
        // it too; past eight, only where no other task keeps it. Both rules
        // are kept as they were, so every schedule stays the same.
        if self.holders <= 8 { own } else { self.held[cpu] == u32::from(own) }
    }

    /// Whether `cpu` takes an interrupt now: it runs and has IRQs enabled.
    fn takes_irq(&self, s: &KState, cpu: usize) -> bool {
        s.smp.powered.test(cpu) && self.irqs_off[cpu] == 0
    }
}

/// Whether `cpu` has a call-function vector it may take now; `force` when
/// nothing else can run, so a held-back IPI arrives anyway.
fn ipi_ready(s: &KState, cpu: usize, occ: &Occupancy, force: bool) -> bool {
    if s.smp.pending[cpu] == 0 {
        return false;
    }
    force
        || match s.smp.held[cpu] {
            smp::HeldBack::No => true,
            smp::HeldBack::UntilIrqEnable => occ.busy[cpu] == 0,
            smp::HeldBack::UntilStep(at) => s.steps >= at,
        }
}
