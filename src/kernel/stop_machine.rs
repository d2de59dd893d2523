//! `kernel/stop_machine.c` (6.1.192): the per-CPU stoppers (`struct
//! cpu_stopper`: its list of works, `enabled`), their thread
//! `cpu_stopper_thread`, the completion of a caller's works
//! (`cpu_stop_done`), and every entry point 6.1 has that hotplug meets:
//! `stop_machine_cpuslocked` (`__stop_cpus` with `multi_cpu_stop` on every
//! online CPU), `stop_one_cpu`, `stop_one_cpu_nowait`, `stop_two_cpus`, and
//! `stop_machine_park`/`stop_machine_unpark`.
//!
//! `stop_machine_cpuslocked` sets MULTI_STOP_PREPARE and `queue_stop_cpus_work`
//! queues one work on each online CPU's stopper under `stop_cpus_mutex`,
//! then waits for all of them. Each stopper runs `multi_cpu_stop` with its
//! preempt count raised: it spins until the shared state moves, acts on the
//! new state (DISABLE_IRQ: `local_irq_disable`; RUN: the function, on the
//! active CPU only), and acks; the last CPU to ack a state moves everyone to
//! the next. Nothing orders the CPUs within a state: the executor picks who
//! notices first, which is how an interrupt can reach a CPU that has not
//! yet disabled its IRQs after another already has. A spinning stopper
//! keeps its CPU (no other task runs there), but takes interrupts until
//! DISABLE_IRQ. `stop_two_cpus` runs the same `multi_cpu_stop` on two CPUs
//! with its own `multi_stop_data`, the first CPU given the active one.
//!
//! A disabled stopper takes no work (`cpu_stop_queue_work` returns false:
//! `stop_one_cpu` is `-ENOENT`), but one disabled by `stop_machine_park`
//! still runs what was queued before (`cpu_stopper_thread` loops until its
//! list is empty), on a CPU already offline; the CPU dies only after.
//! A case function run by a stopper does nothing the model tracks.
//!
//! Left out: `stop_machine_from_inactive_cpu`, `stop_core_cpuslocked`, the
//! early-boot path before `stop_machine_initialized`, `stop_cpus_in_progress`
//! (queueing all CPUs' works is one step here, so `stop_two_cpus` never sees
//! it set and never retries with `-EDEADLK`), `print_stop_info`, and the NMI
//! watchdog and RCU quiescent-state reports of the spin loop.

use std::collections::VecDeque;
use std::sync::Arc;

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

/// What `multi_cpu_stop` runs on the active CPU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StopFn {
    /// `take_cpu_down` for this CPU.
    TakeCpuDown(usize),
    /// A function of the case (`stop_two_cpus`): it does nothing.
    Case(Arc<str>),
}

/// What a stopper work runs (`work->fn`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Job {
    /// `multi_cpu_stop` on the `multi_stop_data` in this slot.
    Multi(usize),
    /// A function of the case (`stop_one_cpu`, `stop_one_cpu_nowait`).
    Case(Arc<str>),
    /// The scheduler's (`migration_cpu_stop`, `__balance_push_cpu_stop`).
    Sched(super::sched::core::SchedWork),
}

/// `struct cpu_stop_work`: what it runs and whose `cpu_stop_done` it signals.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Work {
    pub job: Job,
    pub done: Option<usize>,
}

/// `struct multi_stop_data`.
#[derive(Clone, Debug)]
pub struct MultiStop {
    pub func: StopFn,
    pub active: CpuMask,
    pub num_threads: u32,
    pub state: Stage,
    pub thread_ack: u32,
}

/// `struct cpu_stop_done`: works left, the first non-zero return, and the
/// completion the caller waits on.
#[derive(Clone, Debug)]
pub struct CpuStopDone {
    pub nr_todo: u32,
    pub ret: i32,
    pub completion: CompletionId,
}

/// The per-CPU `struct cpu_stopper`s, and the `multi_stop_data` and
/// `cpu_stop_done` of the calls in flight.
#[derive(Clone, Debug)]
pub struct StopState {
    /// `stopper->works`.
    pub works: Vec<VecDeque<Work>>,
    /// `stopper->enabled`: cleared by `stop_machine_park`.
    pub enabled: Vec<bool>,
    /// The stopper is running a work.
    pub busy: Vec<bool>,
    /// `multi_stop_data` of each `stop_machine`/`stop_two_cpus` in flight.
    pub ms: Vec<Option<MultiStop>>,
    /// `cpu_stop_done` of each call in flight; slot 0 is `__stop_cpus`'s
    /// (`stop_cpus_mutex` allows one at a time).
    pub dones: Vec<Option<CpuStopDone>>,
    pub stop_cpus_mutex: LockId,
    /// Works of the case queued and run, for "no work is dropped".
    pub queued: u64,
    pub ran: u64,
}

/// The `multi_stop_data` slot of `stop_machine` (one at a time).
const MACHINE: usize = 0;

impl StopState {
    pub fn new(cpus: usize, locks: &mut Locks) -> StopState {
        let mut enabled = vec![false; cpus];
        enabled[0] = true;
        let done = CpuStopDone { nr_todo: 0, ret: 0, completion: locks.add_completion() };
        StopState {
            works: vec![VecDeque::new(); cpus],
            enabled,
            busy: vec![false; cpus],
            ms: vec![None],
            dones: vec![Some(done)],
            stop_cpus_mutex: locks.add("stop_cpus_mutex", LockKind::Mutex),
            queued: 0,
            ran: 0,
        }
    }

    /// `cpu_stop_should_run`: the stopper has works.
    pub fn has_work(&self, cpu: usize) -> bool {
        !self.works[cpu].is_empty()
    }

    /// Nothing queued and nothing running.
    pub fn idle(&self, cpu: usize) -> bool {
        self.works[cpu].is_empty() && !self.busy[cpu]
    }

    /// The stage a spinning stopper waits to leave has moved on.
    pub fn moved(&self, ms: usize, seen: Stage) -> bool {
        self.ms[ms].as_ref().is_some_and(|m| m.state != seen)
    }

    /// The first free slot of `v`, grown by one if none is.
    fn slot<T>(v: &mut Vec<Option<T>>, from: usize) -> usize {
        match v.iter().skip(from).position(Option::is_none) {
            Some(i) => i + from,
            None => {
                v.push(None);
                v.len() - 1
            }
        }
    }
}

/// `stop_machine_park()`: called by `take_cpu_down` on the dying CPU.
pub fn stop_machine_park(k: &Kernel, cpu: usize) {
    let mut s = k.s();
    s.stop.enabled[cpu] = false;
    // regression: synthetic-stopper-park-drops-works
    if k.cfg.has(super::Regression::SyntheticStopperParkDropsWorks) {
        s.stop.works[cpu].retain(|w| matches!(w.job, Job::Multi(_)));
    }
}

/// `stop_machine_unpark()`: called by `cpuhp_online_idle` on the new CPU.
pub fn stop_machine_unpark(k: &Kernel, cpu: usize) {
    k.s().stop.enabled[cpu] = true;
}

/// `cpu_stop_queue_work()`: queues on an enabled stopper; on a disabled
/// one the work's done is signalled at once. Whether it was queued.
fn cpu_stop_queue_work(k: &Kernel, cpu: usize, work: Work) -> bool {
    let enabled = k.s().stop.enabled[cpu];
    if enabled {
        let mut s = k.s();
        s.stop.queued += u64::from(!matches!(work.job, Job::Multi(_)));
        s.stop.works[cpu].push_back(work);
    } else if let Some(d) = work.done {
        cpu_stop_signal_done(k, d, 0);
    }
    enabled
}

/// `stop_machine_cpuslocked(fn, NULL, cpumask_of(cpu))`: the caller holds
/// `cpu_hotplug_lock`.
pub async fn stop_machine_cpuslocked(k: &Kernel, func: StopFn, active: CpuMask) -> i32 {
    let online = k.s().cpu.online;
    let n = online.weight() as u32;
    let ms = MultiStop { func, active, num_threads: n, state: Stage::Prepare, thread_ack: n };
    let mutex = k.s().stop.stop_cpus_mutex;
    k.lock(mutex, Mode::Exclusive).await;
    {
        let mut s = k.s();
        s.stop.ms[MACHINE] = Some(ms);
        let d = s.stop.dones[MACHINE].as_mut().expect("__stop_cpus's done is always there");
        (d.nr_todo, d.ret) = (n, 0);
    }
    let ret = if queue_stop_cpus_work(k, online) {
        let done = k.s().stop.dones[MACHINE].as_ref().expect("__stop_cpus's done").completion;
        k.wait_for_completion(done).await;
        k.s().stop.dones[MACHINE].as_ref().map_or(0, |d| d.ret)
    } else {
        -ENOENT
    };
    k.s().stop.ms[MACHINE] = None;
    k.unlock(mutex).await;
    ret
}

/// `queue_stop_cpus_work()`: each CPU's `stop_work`. Whether any was queued.
fn queue_stop_cpus_work(k: &Kernel, cpus: CpuMask) -> bool {
    let mut queued = false;
    for cpu in cpus.iter() {
        queued |= cpu_stop_queue_work(k, cpu, Work { job: Job::Multi(MACHINE), done: Some(MACHINE) });
    }
    queued
}

/// A new `cpu_stop_done` for `n` works, with its own completion.
fn new_done(k: &Kernel, n: u32) -> usize {
    let mut s = k.s();
    let completion = s.locks.add_completion();
    let d = StopState::slot(&mut s.stop.dones, 1);
    s.stop.dones[d] = Some(CpuStopDone { nr_todo: n, ret: 0, completion });
    d
}

/// Waits for a `cpu_stop_done` and frees its slot: `done.ret`.
async fn wait_done(k: &Kernel, d: usize) -> i32 {
    let c = k.s().stop.dones[d].as_ref().expect("a done in flight").completion;
    k.wait_for_completion(c).await;
    k.s().stop.dones[d].take().map_or(0, |d| d.ret)
}

/// `stop_one_cpu()`: runs `func` on `cpu`'s stopper and waits for it;
/// `-ENOENT` if that stopper is disabled (the CPU is offline or going).
pub async fn stop_one_cpu(k: &Kernel, cpu: usize, func: Arc<str>) -> i32 {
    let d = new_done(k, 1);
    if !cpu_stop_queue_work(k, cpu, Work { job: Job::Case(func), done: Some(d) }) {
        k.s().stop.dones[d] = None;
        return -ENOENT;
    }
    // "In case @cpu == smp_proccessor_id() we can avoid a sleep+wakeup cycle
    // by doing a preemption": cond_resched().
    k.yield_now().await;
    wait_done(k, d).await
}

/// `stop_one_cpu_nowait()`: queues and returns whether it could.
pub fn stop_one_cpu_nowait(k: &Kernel, cpu: usize, func: Arc<str>) -> bool {
    cpu_stop_queue_work(k, cpu, Work { job: Job::Case(func), done: None })
}

/// `stop_one_cpu_nowait()` of a scheduler work.
pub fn stop_one_cpu_nowait_sched(k: &Kernel, cpu: usize, work: super::sched::core::SchedWork) -> bool {
    cpu_stop_queue_work(k, cpu, Work { job: Job::Sched(work), done: None })
}

/// `stop_two_cpus()`: `multi_cpu_stop` on both, `func` on `cpu1`; `-ENOENT`
/// unless both stoppers are enabled (`cpu_stop_queue_two_works`).
pub async fn stop_two_cpus(k: &Kernel, cpu1: usize, cpu2: usize, func: Arc<str>) -> i32 {
    let ms = MultiStop {
        func: StopFn::Case(func),
        active: CpuMask::of(cpu1),
        num_threads: 2,
        state: Stage::Prepare,
        thread_ack: 2,
    };
    let (lo, hi) = (cpu1.min(cpu2), cpu1.max(cpu2));
    let (m, d) = {
        let both = {
            let s = k.s();
            s.stop.enabled[lo] && s.stop.enabled[hi]
        };
        if !both {
            return -ENOENT;
        }
        let d = new_done(k, 2);
        let mut s = k.s();
        let m = StopState::slot(&mut s.stop.ms, 1);
        s.stop.ms[m] = Some(ms);
        let work = Work { job: Job::Multi(m), done: Some(d) };
        s.stop.works[lo].push_back(work.clone());
        s.stop.works[hi].push_back(work);
        (m, d)
    };
    let ret = wait_done(k, d).await;
    k.s().stop.ms[m] = None;
    ret
}

/// `cpu_stop_signal_done()`.
fn cpu_stop_signal_done(k: &Kernel, d: usize, ret: i32) {
    let done = {
        let mut s = k.s();
        let done = s.stop.dones[d].as_mut().expect("a done in flight");
        if ret != 0 {
            done.ret = ret;
        }
        done.nr_todo -= 1;
        (done.nr_todo == 0).then_some(done.completion)
    };
    if let Some(done) = done {
        k.complete(done);
    }
}

/// The stopper thread `migration/N`: `cpu_stopper_thread`, one work at a
/// time, oldest first.
pub async fn cpu_stopper_thread(k: &Kernel, cpu: usize) {
    loop {
        k.block(Wait::StopperWork(cpu)).await;
        let work = {
            let mut s = k.s();
            s.stop.busy[cpu] = true;
            s.stop.works[cpu].pop_front().expect("woken with a work")
        };
        // "cpu stop callbacks must not sleep, make in_atomic() == T"
        k.preempt_disable();
        let ret = match &work.job {
            Job::Multi(m) => multi_cpu_stop(k, cpu, *m).await,
            Job::Case(func) => {
                k.note(format!("migration/{cpu}: {func}()"));
                k.s().stop.ran += 1;
                0
            }
            Job::Sched(w) => {
                k.s().stop.ran += 1;
                run_sched_work(k, cpu, *w);
                0
            }
        };
        if let Some(d) = work.done {
            cpu_stop_signal_done(k, d, ret);
        }
        k.preempt_enable();
        k.s().stop.busy[cpu] = false;
    }
}

/// A scheduler work, on the stopper of `cpu`.
fn run_sched_work(k: &Kernel, cpu: usize, w: super::sched::core::SchedWork) {
    use super::sched::core::SchedWork;
    match w {
        SchedWork::MigrationCpuStop(t) => {
            k.note(format!("migration/{cpu}: migration_cpu_stop({})", k.s().sched.tasks[t].name));
            k.migration_cpu_stop(cpu, t);
        }
    }
}

/// `multi_cpu_stop()` on one CPU.
async fn multi_cpu_stop(k: &Kernel, cpu: usize, m: usize) -> i32 {
    let irqs_were_off = k.ctx().irqs_disabled;
    let (func, is_active) = {
        let s = k.s();
        let ms = s.stop.ms[m].as_ref().expect("a stop_machine is in flight");
        (ms.func.clone(), ms.active.test(cpu))
    };
    let mut cur = Stage::None;
    let mut err = 0;
    loop {
        k.block(Wait::MultiStop(m, cur)).await;
        cur = k.s().stop.ms[m].as_ref().expect("a stop_machine is in flight").state;
        k.trace(Event::Stop { cpu: cpu as u16, stage: cur, active: is_active && cur == Stage::Run });
        match cur {
            Stage::DisableIrq => k.local_irq_disable(),
            Stage::Run if is_active => {
                err = match func {
                    StopFn::TakeCpuDown(dying) => Box::pin(k.take_cpu_down(dying)).await,
                    StopFn::Case(_) => 0,
                };
                k.trace(Event::StopRet { cpu: cpu as u16, ret: err });
            }
            _ => {}
        }
        ack_state(k, m);
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
fn ack_state(k: &Kernel, m: usize) {
    let mut s = k.s();
    let ms = s.stop.ms[m].as_mut().expect("a stop_machine is in flight");
    ms.thread_ack -= 1;
    if ms.thread_ack == 0 {
        ms.thread_ack = ms.num_threads;
        ms.state = ms.state.next();
    }
}

/// The `stop` invariants: no work of the case is dropped (each queued one
/// ran, or is still queued), and at rest no stopper has work left.
pub fn check(s: &super::KState, settled: bool) -> Vec<String> {
    let st = &s.stop;
    let pending = st.works.iter().flatten().filter(|w| !matches!(w.job, Job::Multi(_))).count() as u64;
    let mut v: Vec<String> =
        super::unaccounted("stopper work(s)", "ran", "dropped", st.queued, st.ran, pending).into_iter().collect();
    if settled {
        for (cpu, works) in st.works.iter().enumerate().filter(|(_, w)| !w.is_empty()) {
            let dead = if s.smp.powered.test(cpu) { "" } else { " (the CPU is dead)" };
            v.push(format!("{} work(s) left on migration/{cpu}'s list{dead}", works.len()));
        }
    }
    v
}
