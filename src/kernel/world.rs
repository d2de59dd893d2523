//! The scheduler-facing side of the kernel model: `impl World for Kernel`,
//! which tells the executor who may run at each decision, and the rules
//! behind it (`Occupancy`).
//!
//! Stands for the parts of `kernel/sched/core.c` and the x86 interrupt
//! entry that decide what runs on a CPU: a task that stopped with IRQs off
//! or preemption disabled keeps its CPU, a deliverable IPI is taken before
//! anything else, `balance_push` moves a case task off an inactive CPU.
//! Left out: priorities, load balancing and time.

use crate::kernel::trace::Event;
use crate::sim::executor::World;
use crate::sim::{TaskId, TaskKind};

use super::{KState, Kernel, Task, Wait, smp};

impl World for Kernel {
    fn task_count(&self) -> usize {
        self.s().tasks.len()
    }

    fn eligible(&self, out: &mut Vec<TaskId>) {
        out.clear();
        let s = self.s();
        let occ = Occupancy::of(&s);
        // A CPU with IRQs on takes a deliverable IPI before it runs anything
        // else: the vector is taken as soon as IRQs allow.
        let mut ipi_now = 0u64;
        if s.smp.any_pending() {
            for cpu in 0..self.cfg.cpus {
                if s.smp.held[cpu] == smp::HeldBack::No && occ.takes_irq(&s, cpu) && ipi_ready(&s, cpu, &occ, false) {
                    ipi_now |= 1 << cpu;
                }
            }
        }
        let mut ordinary = 0;
        for (i, t) in s.tasks.iter().enumerate() {
            if t.finished || t.died {
                continue;
            }
            let ok = match t.kind {
                // A handler that spins (a WARNed smp call from hard-IRQ
                // context) goes on where it is.
                _ if t.kind.is_irq() && t.wait.is_some_and(Wait::spins) => self.ready(&s, t.wait.expect("spinning")),
                TaskKind::Ipi(cpu) => occ.takes_irq(&s, cpu) && ipi_ready(&s, cpu, &occ, false),
                TaskKind::Irq(n) => {
                    let line = &s.irqs[n];
                    let cpu = crate::arch::x86::irq::effective_cpu(&s, line);
                    s.trace.enabled && line.fired < line.fires && occ.takes_irq(&s, cpu)
                }
                _ => {
                    ipi_now & (1 << t.ctx.cpu) == 0
                        && t.wait.is_none_or(|w| self.ready(&s, w))
                        && occ.free_for(&s, i, t)
                }
            };
            if ok {
                out.push(i);
                ordinary += usize::from(!matches!(t.kind, TaskKind::Irq(_)));
            }
        }
        if ordinary == 0 && s.smp.any_pending() {
            // Nothing else can run: time passes, and held-back IPIs arrive.
            for (i, t) in s.tasks.iter().enumerate() {
                if let TaskKind::Ipi(cpu) = t.kind
                    && !t.died
                    && occ.takes_irq(&s, cpu)
                    && ipi_ready(&s, cpu, &occ, true)
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
        s.current = task;
        s.tasks[task].wait = None;
        s.steps += 1;
        migrate_off_inactive(&mut s, task);
    }

    fn end_poll(&self, task: TaskId, done: bool) {
        if done {
            self.s().tasks[task].finished = true;
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

/// `balance_push()`: once a CPU is no longer active, a task of the case (not a
/// per-CPU kthread) that runs there again is pushed to an active CPU, unless
/// it is in an atomic section (it cannot be migrated then, and keeps the CPU
/// from its stopper).
fn migrate_off_inactive(s: &mut KState, task: TaskId) {
    let t = &s.tasks[task];
    let cpu = t.ctx.cpu;
    if !matches!(t.kind, TaskKind::Control(_)) || s.cpu.active.test(cpu) || !t.ctx.sleepable() {
        return;
    }
    let Some(to) = s.cpu.active.first() else { return };
    s.tasks[task].ctx.cpu = to;
    let comm = Kernel::comm_of(s, task);
    s.record_text(format!("{comm} pushed from CPU{cpu} to CPU{to}: CPU{cpu} is not active"), Event::Note);
}

/// Who occupies each CPU at a decision. A task that stopped mid-execution
/// or spins, with IRQs off or preemption disabled, keeps its CPU: nothing
/// else runs there until it goes on. With IRQs off, no interrupt comes in
/// either. An interrupt handler runs to its end in one step, unless it spins
/// (a call the kernel warns about in hard-IRQ context); then it keeps its
/// CPU from the task it interrupted.
struct Occupancy {
    /// CPUs kept by a task.
    held: u64,
    /// CPUs where the task on it has IRQs disabled.
    irqs_off: u64,
    /// CPUs with a task on them (not idle).
    busy: u64,
    /// CPUs in the middle of an interrupt handler.
    in_irq: u64,
    /// The tasks keeping a CPU: few at a time, so a short list.
    holders: [(usize, TaskId); 8],
    n: usize,
}

impl Occupancy {
    fn of(s: &KState) -> Occupancy {
        let mut o = Occupancy { held: 0, irqs_off: 0, busy: 0, in_irq: 0, holders: [(0, 0); 8], n: 0 };
        for (i, t) in s.tasks.iter().enumerate() {
            if t.finished || t.died || !t.wait.is_none_or(|w| w == Wait::Yield || w.spins()) {
                continue;
            }
            let bit = 1u64 << t.ctx.cpu;
            if t.kind.is_irq() {
                // A handler in the middle of its work: the interrupted task
                // waits for it.
                o.in_irq |= bit;
            }
            o.busy |= bit;
            if t.ctx.irqs_disabled {
                o.irqs_off |= bit;
            }
            if t.ctx.irqs_disabled || t.ctx.preempt_count > 0 {
                o.held |= bit;
                if o.n < o.holders.len() {
                    o.holders[o.n] = (t.ctx.cpu, i);
                }
                o.n += 1;
            }
        }
        o
    }

    /// Whether task `i` may have its CPU.
    fn free_for(&self, s: &KState, i: TaskId, t: &Task) -> bool {
        let cpu = t.ctx.cpu;
        if self.in_irq & (1 << cpu) != 0 {
            return false;
        }
        if self.held & (1 << cpu) == 0 {
            return true;
        }
        if self.n <= self.holders.len() {
            return self.holders[..self.n].contains(&(cpu, i));
        }
        // More holders than the short list: ask each task.
        !s.tasks.iter().enumerate().any(|(j, u)| {
            j != i
                && u.ctx.cpu == cpu
                && !u.finished
                && !u.died
                && u.wait.is_none_or(|w| w == Wait::Yield || w.spins())
                && (u.ctx.irqs_disabled || u.ctx.preempt_count > 0)
        })
    }

    /// Whether `cpu` takes an interrupt now: it runs and has IRQs enabled.
    fn takes_irq(&self, s: &KState, cpu: usize) -> bool {
        s.smp.powered.test(cpu) && self.irqs_off & (1 << cpu) == 0
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
            smp::HeldBack::UntilIrqEnable => occ.busy & (1 << cpu) == 0,
            smp::HeldBack::UntilStep(at) => s.steps >= at,
        }
}
