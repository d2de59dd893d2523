//! `kernel/stop_machine.c` (6.1.192): per-CPU stopper threads,
//! `stop_machine_cpuslocked()` with `multi_cpu_stop` on every online CPU,
//! and `stop_machine_park`/`stop_machine_unpark`.
//!
//! `stop_machine_cpuslocked` sets MULTI_STOP_PREPARE and `stop_cpus` queues
//! one work on each online CPU's stopper under `stop_cpus_mutex`, then waits
//! for all of them (`cpu_stop_done`). Each stopper runs `multi_cpu_stop`
//! with its preempt count raised: it spins until the shared state moves,
//! acts on the new state (DISABLE_IRQ: `local_irq_disable`; RUN: the
//! function, on the active CPU only), and acks; the last CPU to ack a state
//! moves everyone to the next. Nothing orders the CPUs within a state: the
//! executor picks who notices first, which is how an interrupt can reach a
//! CPU that has not yet disabled its IRQs after another already has.
//! A spinning stopper keeps its CPU (no other task runs there), but takes
//! interrupts until DISABLE_IRQ.
//!
//! Left out: `stop_one_cpu` and its `_nowait` form, `stop_two_cpus`,
//! `stop_machine_from_inactive_cpu`, the early-boot path before
//! `stop_machine_initialized`, and the NMI watchdog and RCU quiescent-state
//! reports of the spin loop.

use crate::errno::ENOENT;
use crate::kernel::trace::Event;
use crate::sim::CpuMask;
use crate::sim::lock::{CompletionId, LockId, LockKind, Locks, Mode};

use super::{Kernel, Wait};

/// `enum multi_stop_state`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum Stage {
    None,
    Prepare,
    DisableIrq,
    Run,
    Exit,
    /// What the last EXIT ack sets (`EXIT + 1`, harmless in the kernel).
    Past,
}

impl Stage {
    fn next(self) -> Stage {
        match self {
            Stage::None => Stage::Prepare,
            Stage::Prepare => Stage::DisableIrq,
            Stage::DisableIrq => Stage::Run,
            Stage::Run => Stage::Exit,
            Stage::Exit | Stage::Past => Stage::Past,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Stage::None => "MULTI_STOP_NONE",
            Stage::Prepare => "MULTI_STOP_PREPARE",
            Stage::DisableIrq => "MULTI_STOP_DISABLE_IRQ",
            Stage::Run => "MULTI_STOP_RUN",
            Stage::Exit => "MULTI_STOP_EXIT",
            Stage::Past => "MULTI_STOP_EXIT+1",
        }
    }
}

/// What stop_machine runs on the active CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopFn {
    /// `take_cpu_down` for this CPU.
    TakeCpuDown(usize),
}

/// `struct multi_stop_data` plus the `cpu_stop_done` of its `stop_cpus`.
#[derive(Clone, Debug)]
pub struct MultiStop {
    pub func: StopFn,
    pub active: CpuMask,
    pub num_threads: u32,
    pub state: Stage,
    pub thread_ack: u32,
    /// `cpu_stop_done`: works left, and the first non-zero return.
    pub nr_todo: u32,
    pub ret: i32,
}

/// `struct cpu_stopper`, per CPU, and the one stop_machine in flight
/// (`stop_cpus_mutex` allows only one).
#[derive(Clone, Debug)]
pub struct StopState {
    /// A `multi_cpu_stop` work is queued.
    pub work: Vec<bool>,
    /// `stopper->enabled`: cleared by `stop_machine_park`.
    pub enabled: Vec<bool>,
    /// The stopper is running its work.
    pub busy: Vec<bool>,
    pub ms: Option<MultiStop>,
    /// `done.completion` of `__stop_cpus`.
    pub done: CompletionId,
    pub stop_cpus_mutex: LockId,
}

impl StopState {
    pub fn new(cpus: usize, locks: &mut Locks) -> StopState {
        let mut enabled = vec![false; cpus];
        enabled[0] = true;
        StopState {
            work: vec![false; cpus],
            enabled,
            busy: vec![false; cpus],
            ms: None,
            done: locks.add_completion(),
            stop_cpus_mutex: locks.add("stop_cpus_mutex", LockKind::Mutex),
        }
    }

    pub fn has_work(&self, cpu: usize) -> bool {
        self.enabled[cpu] && self.work[cpu]
    }

    /// Nothing queued and nothing running.
    pub fn idle(&self, cpu: usize) -> bool {
        !self.work[cpu] && !self.busy[cpu]
    }

    /// The stage a spinning stopper waits to leave has moved on.
    pub fn moved(&self, seen: Stage) -> bool {
        self.ms.as_ref().is_some_and(|m| m.state != seen)
    }
}

/// `stop_machine_park()`: called by `take_cpu_down` on the dying CPU.
pub fn stop_machine_park(k: &Kernel, cpu: usize) {
    k.s().stop.enabled[cpu] = false;
}

/// `stop_machine_unpark()`: called by `cpuhp_online_idle` on the new CPU.
pub fn stop_machine_unpark(k: &Kernel, cpu: usize) {
    k.s().stop.enabled[cpu] = true;
}

/// `stop_machine_cpuslocked(fn, NULL, cpumask_of(cpu))`: the caller holds
/// `cpu_hotplug_lock`.
pub async fn stop_machine_cpuslocked(k: &Kernel, func: StopFn, active: CpuMask) -> i32 {
    let online = k.s().cpu.online;
    let n = online.weight() as u32;
    let ms = MultiStop { func, active, num_threads: n, state: Stage::Prepare, thread_ack: n, nr_todo: n, ret: 0 };
    let mutex = k.s().stop.stop_cpus_mutex;
    k.lock(mutex, Mode::Exclusive).await;
    k.s().stop.ms = Some(ms);
    let ret = if queue_stop_cpus_work(k, online) {
        let done = k.s().stop.done;
        k.wait_for_completion(done).await;
        k.s().stop.ms.as_ref().map_or(0, |m| m.ret)
    } else {
        -ENOENT
    };
    k.s().stop.ms = None;
    k.unlock(mutex).await;
    ret
}

/// `queue_stop_cpus_work()`: one work per CPU whose stopper is enabled; a
/// disabled one counts as done at once. Whether any was queued.
fn queue_stop_cpus_work(k: &Kernel, cpus: CpuMask) -> bool {
    let mut queued = false;
    for cpu in cpus.iter() {
        let enabled = k.s().stop.enabled[cpu];
        if enabled {
            k.s().stop.work[cpu] = true;
            queued = true;
        } else {
            cpu_stop_signal_done(k, 0);
        }
    }
    queued
}

/// `cpu_stop_signal_done()`.
fn cpu_stop_signal_done(k: &Kernel, ret: i32) {
    let done = {
        let mut s = k.s();
        let done = s.stop.done;
        let ms = s.stop.ms.as_mut().expect("a stop_machine is in flight");
        if ret != 0 {
            ms.ret = ret;
        }
        ms.nr_todo -= 1;
        (ms.nr_todo == 0).then_some(done)
    };
    if let Some(done) = done {
        k.complete(done);
    }
}

/// The stopper thread `migration/N`: `cpu_stopper_thread`.
pub async fn cpu_stopper_thread(k: &Kernel, cpu: usize) {
    loop {
        k.block(Wait::StopperWork(cpu)).await;
        {
            let mut s = k.s();
            s.stop.busy[cpu] = true;
            s.stop.work[cpu] = false;
        }
        // "cpu stop callbacks must not sleep, make in_atomic() == T"
        k.preempt_disable();
        let ret = multi_cpu_stop(k, cpu).await;
        cpu_stop_signal_done(k, ret);
        k.preempt_enable();
        k.s().stop.busy[cpu] = false;
    }
}

/// `multi_cpu_stop()` on one CPU.
async fn multi_cpu_stop(k: &Kernel, cpu: usize) -> i32 {
    let irqs_were_off = k.ctx().irqs_disabled;
    let (func, is_active) = {
        let s = k.s();
        let ms = s.stop.ms.as_ref().expect("a stop_machine is in flight");
        (ms.func, ms.active.test(cpu))
    };
    let mut cur = Stage::None;
    let mut err = 0;
    loop {
        k.block(Wait::MultiStop(cur)).await;
        cur = k.s().stop.ms.as_ref().expect("a stop_machine is in flight").state;
        k.trace(Event::Stop { cpu: cpu as u16, stage: cur, active: is_active && cur == Stage::Run });
        match cur {
            Stage::DisableIrq => k.local_irq_disable(),
            Stage::Run if is_active => {
                err = match func {
                    StopFn::TakeCpuDown(dying) => Box::pin(k.take_cpu_down(dying)).await,
                };
                k.trace(Event::StopRet { cpu: cpu as u16, ret: err });
            }
            _ => {}
        }
        ack_state(k);
        if cur == Stage::Exit {
            break;
        }
    }
    if !irqs_were_off {
        k.local_irq_enable();
    }
    err
}

/// `ack_state()`: the last CPU to ack moves everyone on (`set_state`).
fn ack_state(k: &Kernel) {
    let mut s = k.s();
    let ms = s.stop.ms.as_mut().expect("a stop_machine is in flight");
    ms.thread_ack -= 1;
    if ms.thread_ack == 0 {
        ms.thread_ack = ms.num_threads;
        ms.state = ms.state.next();
    }
}
