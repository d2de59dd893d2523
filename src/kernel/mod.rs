//! The kernel model: the state every modelled kernel file shares, and the
//! primitives they are written with.
//!
//! One submodule per modelled kernel file: [`cpu`] is `kernel/cpu.c`,
//! [`cpuhotplug`] is `include/linux/cpuhotplug.h`, [`smp`] is
//! `kernel/smp.c`, [`stop_machine`] is `kernel/stop_machine.c`, [`module`]
//! stands for a loadable module with hotplug callbacks. [`world`] is what the
//! executor asks (who may run at a decision), [`regression`] the historical
//! bugs that can be switched back on. The arch side of bringup lives in
//! [`crate::arch::x86::smpboot`], the sysfs `online` attribute in
//! [`crate::drivers::base::cpu`].
//!
//! This file holds [`Kernel`], the shared state behind one `RefCell`, and the
//! primitives the model is written with: sleeping locks, completions,
//! preemption points, IRQ and preemption state, and splats. Every function
//! that can sleep in the kernel is an `async fn` here, and every `.await` is a
//! point where the executor may pick another task. A borrow of the state is
//! never held across an `.await`.
//!
//! Left out: the rest of the kernel. What is modelled is what hotplug code
//! touches.

pub mod cpu;
pub mod cpuhotplug;
pub mod locking;
pub mod module;
pub mod rcu;
pub mod regression;
pub mod sched;
pub mod smp;
pub mod smpboot;
pub mod stop_machine;
pub mod trace;
pub mod world;

use std::cell::{RefCell, RefMut};
use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as PollContext, Poll};

use crate::fault::{Armed, Failpoints, Site, SiteLog};
use crate::kernel::trace::{Event, Splat, SplatKind, Trace};
use crate::sim::lock::{CompletionId, LockId, LockKind, Locks, Mode};
use crate::sim::{Context, TaskId, TaskKind};

use cpuhotplug::Profile;
use module::ModuleState;
pub use regression::Regression;

/// The `nosmt` kernel parameter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SmtCmdline {
    #[default]
    None,
    /// `nosmt`: `CPU_SMT_DISABLED`.
    Nosmt,
    /// `nosmt=force`: `CPU_SMT_FORCE_DISABLED`.
    Force,
}

/// The machine and the kernel build a run uses.
#[derive(Clone, Debug)]
pub struct Config {
    pub cpus: usize,
    /// `smp_num_siblings`: SMT threads per core, as CPUID reports them.
    pub threads_per_core: usize,
    /// The firmware's processors in MADT order: their APIC ids
    /// (`crate::arch::x86::apic`).
    pub apic_ids: Vec<u32>,
    /// The first `present` of them are enabled at boot; the rest are
    /// possible, and can be hot-added (`crate::drivers::acpi`).
    pub present: usize,
    /// `CONFIG_HOTPLUG_CPU`.
    pub hotplug_cpu: bool,
    pub smt: SmtCmdline,
    /// `setup_max_cpus` (`maxcpus=`, `nosmp`); `None` is `NR_CPUS`.
    pub max_cpus: Option<u32>,
    pub regressions: BTreeSet<Regression>,
    /// Executor steps before the run is declared a livelock.
    pub steps_max: u64,
    /// Events and splats the trace holds before the run stops.
    pub trace_events_max: usize,
    /// Record every failpoint site the run reaches (the baseline does).
    pub record_sites: bool,
    /// The SLAB-era slab model and its hotplug callbacks.
    pub slab: bool,
    /// Preemption points between callbacks and slab steps are decisions
    /// (the explorer's strategies); the default schedule skips them.
    pub preempt_points: bool,
    /// No synchronous fast path for callbacks (tests/async_path.rs).
    pub force_async: bool,
    /// Record where each event ran and every lock operation, for the HTML
    /// timeline (`RunOpts::timeline`).
    pub timeline: bool,
    /// The case uses an RCU operation: the grace-period kthread runs, and
    /// the RCU callbacks are preemption points (`kernel/rcu/tree.rs`).
    pub rcu: bool,
}

/// `enum cpuhp_smt_control`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtControl {
    Enabled,
    Disabled,
    ForceDisabled,
    NotSupported,
}

impl SmtControl {
    /// What `smt/control` reads.
    pub fn show(self) -> &'static str {
        match self {
            SmtControl::Enabled => "on",
            SmtControl::Disabled => "off",
            SmtControl::ForceDisabled => "forceoff",
            SmtControl::NotSupported => "notsupported",
        }
    }
}

/// What a sleeping task waits for. The executor re-evaluates it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// A preemption point: runnable at once.
    Yield,
    Lock(LockId, Mode),
    Completion(CompletionId),
    /// `cpuhp/N` sleeps until `should_run` and not parked.
    CpuhpWork(usize),
    /// The idle task of an offline CPU waits for `__cpu_up` to start it.
    IdleBoot(usize),
    /// The idle task of a dying CPU waits until the stopper has taken it down.
    IdleDie(usize),
    /// The stopper waits for work while it is enabled.
    StopperWork(usize),
    /// `native_cpu_up` spins until the AP has marked itself online.
    CpuOnline(usize),
    /// A stopper in `multi_cpu_stop` spins until the stage moves on from
    /// the one it saw.
    MultiStop(usize, stop_machine::Stage),
    /// `csd_lock_wait()` spins until the CSD is unlocked.
    CsdLock(smp::CsdId),
    /// A CPU's IPI task waits for a deliverable call-function vector.
    Ipi(usize),
    /// A device interrupt source waits to be fired.
    DevIrq(usize),
    /// `cpu_wait_death()`: until the CPU has reported its death from
    /// `play_dead`.
    CpuDead(usize),
    /// `lock_device_hotplug_sysfs()` found the lock taken: the write is
    /// restarted (`restart_syscall()`) once it may succeed.
    Restart(LockId),
    /// The grace-period kthread waits until it has a grace period to start
    /// or a quiescent state to report (`rcu_gp_kthread`).
    RcuGp,
    /// `balance_hotplug_wait()`: until no task of the case is left on the
    /// CPU's runqueue.
    RqEmpty(usize),
    /// A dead task.
    Never,
}

impl Wait {
    /// A busy-wait: the task keeps its CPU while it waits, as a task that
    /// stopped mid-execution does.
    pub fn spins(self) -> bool {
        matches!(self, Wait::MultiStop(..) | Wait::CsdLock(_))
    }
}

#[derive(Clone, Debug)]
pub struct Task {
    pub kind: TaskKind,
    /// Its name, if `set_task_comm` gave it one (a case's thread).
    pub comm: Option<String>,
    pub ctx: Context,
    pub wait: Option<Wait>,
    pub finished: bool,
    /// Killed by a modelled BUG or oops; its locks stay held.
    pub died: bool,
    pub held: Vec<LockId>,
    /// Lent to a `work_on_cpu` kworker.
    pub worker: bool,
}

/// What `complete_all()` sets a completion's count to (`UINT_MAX`).
const COMPLETE_ALL: u32 = u32::MAX;

/// The hotplug lock ids, created in this order by [`Kernel::new`].
#[derive(Clone, Copy, Debug)]
pub struct LockIds {
    pub cpu_add_remove_lock: LockId,
    pub cpu_hotplug_lock: LockId,
    pub cpuhp_state_mutex: LockId,
    pub device_hotplug_lock: LockId,
}

/// Everything the model mutates.
pub struct KState {
    pub tasks: Vec<Task>,
    pub current: TaskId,
    pub locks: Locks,
    pub trace: Trace,
    pub cpu: cpu::CpuState,
    pub modules: Vec<ModuleState>,
    pub stop: stop_machine::StopState,
    pub smp: smp::SmpState,
    /// Memory blocks and memory hotplug (when the case uses them).
    pub mem: crate::drivers::base::memory::MemState,
    /// The case's device interrupt sources.
    pub irqs: Vec<crate::arch::x86::irq::IrqLine>,
    /// The `WARN_ON_ONCE` sites that fired already.
    pub warned_once: BTreeSet<(&'static str, &'static str)>,
    pub slab: crate::mm::slab::SlabState,
    /// RCU's view of the CPUs, its callbacks and grace periods.
    pub rcu: rcu::tree::RcuState,
    /// The runqueues' hotplug state.
    pub sched: sched::core::SchedState,
    /// The per-CPU hotplug threads.
    pub smpboot: smpboot::SmpbootState,
    /// x86's APIC ids and SMT sibling maps.
    pub x86: crate::arch::x86::apic::X86State,
    /// ACPI's processor devices (hot-add and hot-remove).
    pub acpi: crate::drivers::acpi::AcpiState,
    /// Executor steps so far.
    pub steps: u64,
    /// Work charged that did not yield to the executor (each case
    /// operation): it counts against `steps_max` with the steps.
    pub work: u64,
    /// Who keeps which CPU, kept as tasks stop and go on.
    pub occ: world::Occupancy,
}

impl KState {
    /// Where the current task is: what an event records beside it.
    pub fn here(&self) -> trace::Where {
        trace::Where::of(self.current, self.tasks[self.current].ctx)
    }

    /// Where the current task is, if the trace keeps it.
    fn here_if_kept(&self) -> trace::Where {
        if self.trace.timeline { self.here() } else { trace::Where::default() }
    }

    /// Records an event where the current task is.
    pub fn record(&mut self, e: Event) {
        let at = self.here_if_kept();
        self.trace.push(e, at);
    }

    /// Records a text event (`Note`, `Log`, `Step`) where the current task is.
    pub fn record_text(&mut self, text: String, make: fn(trace::TextId) -> Event) {
        let at = self.here_if_kept();
        self.trace.text(text, make, at);
    }

    /// Records a lock operation of the current task.
    fn record_lock(&mut self, lock: LockId, what: trace::LockWhat) {
        if !self.trace.timeline {
            return;
        }
        let at = self.here();
        self.trace.lock(lock, what, at);
    }
}

/// "No work is dropped": of `queued` items, `done` ran and `pending` still
/// wait, or the message says how many went missing.
pub fn unaccounted(what: &str, ran: &str, lost: &str, queued: u64, done: u64, pending: u64) -> Option<String> {
    (queued != done + pending).then(|| {
        let gone = queued.saturating_sub(done + pending);
        format!("{queued} {what} queued, {done} {ran} and {pending} still queued: {gone} {lost}")
    })
}

/// One modelled machine running one kernel.
pub struct Kernel {
    s: RefCell<KState>,
    pub profile: Arc<Profile>,
    pub cfg: Config,
    pub lock_ids: LockIds,
    /// The run's failpoints: the one handle to fault injection.
    pub faults: Failpoints,
}

impl Kernel {
    /// Builds the machine as `start_kernel` leaves it before SMP bringup:
    /// only the boot CPU online, every task created, no failpoint armed.
    pub fn new(profile: Arc<Profile>, cfg: Config, armed: Armed) -> Kernel {
        let mut locks = Locks::default();
        let lock_ids = LockIds {
            cpu_add_remove_lock: locks.add("cpu_add_remove_lock", LockKind::Mutex),
            cpu_hotplug_lock: locks.add("cpu_hotplug_lock", LockKind::RwSem),
            cpuhp_state_mutex: locks.add("cpuhp_state_mutex", LockKind::Mutex),
            device_hotplug_lock: locks.add("device_hotplug_lock", LockKind::Mutex),
        };
        let cpu = cpu::CpuState::new(&profile, &cfg, &mut locks);
        let present = cpu.present;
        let stop = stop_machine::StopState::new(cfg.cpus, &mut locks);
        let smp = smp::SmpState::new(cfg.cpus);
        let slab = crate::mm::slab::SlabState::new(cfg.slab, &mut locks);
        let smpboot = smpboot::SmpbootState::new(cfg.cpus, &mut locks, &profile);
        let s = KState {
            tasks: Vec::new(),
            current: 0,
            locks,
            trace: Trace {
                events: Vec::with_capacity(512),
                max: cfg.trace_events_max,
                timeline: cfg.timeline,
                ..Trace::default()
            },
            cpu,
            modules: Vec::new(),
            stop,
            smp,
            mem: crate::drivers::base::memory::MemState::default(),
            irqs: Vec::new(),
            warned_once: BTreeSet::new(),
            slab,
            rcu: rcu::tree::RcuState::new(cfg.cpus),
            sched: sched::core::SchedState::new(cfg.cpus),
            smpboot,
            x86: crate::arch::x86::apic::X86State::new(&cfg.apic_ids, cfg.present, cfg.threads_per_core as u32),
            acpi: crate::drivers::acpi::AcpiState::new(cfg.cpus, present),
            steps: 0,
            work: 0,
            occ: world::Occupancy::default(),
        };
        let faults = Failpoints::new(armed, cfg.record_sites);
        Kernel { s: RefCell::new(s), profile, cfg, lock_ids, faults }
    }

    /// The model's state. Never hold the borrow across an `.await`.
    pub fn s(&self) -> RefMut<'_, KState> {
        self.s.borrow_mut()
    }

    /// Consumes the kernel after a run, for reporting: its state, and what
    /// the run saw of its failpoint sites.
    pub fn into_parts(self) -> (KState, SiteLog) {
        (self.s.into_inner(), self.faults.into_log())
    }

    /// Adds a task; the executor must spawn its body at the same index.
    pub fn add_task(&self, kind: TaskKind, cpu: usize) -> TaskId {
        let mut s = self.s();
        // Interrupt handlers run in hard-IRQ context, IRQs off.
        let irq = kind.is_irq();
        let ctx = Context { cpu, irqs_disabled: irq, preempt_count: u32::from(irq), hardirq: irq };
        s.occ.valid = false;
        s.tasks.push(Task {
            kind,
            comm: None,
            ctx,
            wait: None,
            finished: false,
            died: false,
            held: Vec::new(),
            worker: false,
        });
        s.tasks.len() - 1
    }

    /// `set_task_comm()`: the task's own name, instead of its kind's.
    pub fn set_task_comm(&self, task: TaskId, comm: &str) {
        self.s().tasks[task].comm = Some(comm.to_string());
    }

    pub fn ctx(&self) -> Context {
        let s = self.s();
        s.tasks[s.current].ctx
    }

    /// `work_on_cpu(cpu, ...)` starts: the work runs on a kworker bound to
    /// `cpu`, which the model shows by lending the current task to it.
    /// Returns the CPU to come back to.
    pub fn work_on_cpu_begin(&self, cpu: usize) -> usize {
        let mut s = self.s();
        let cur = s.current;
        let home = s.tasks[cur].ctx.cpu;
        s.tasks[cur].ctx.cpu = cpu;
        s.tasks[cur].worker = true;
        home
    }

    /// The work is done and the caller runs again, on `home` or, if that CPU
    /// went offline meanwhile, wherever the scheduler migrated it.
    pub fn work_on_cpu_end(&self, home: usize) {
        let mut s = self.s();
        let cur = s.current;
        let cpu = if s.cpu.online.test(home) { home } else { s.cpu.online.first().unwrap_or(home) };
        s.tasks[cur].ctx.cpu = cpu;
        s.tasks[cur].worker = false;
    }

    /// The name of a task as the trace shows it.
    pub fn comm_of(s: &KState, task: TaskId) -> String {
        let t = &s.tasks[task];
        if t.worker {
            return format!("kworker/{}:1", t.ctx.cpu);
        }
        t.comm.clone().unwrap_or_else(|| t.kind.comm())
    }

    /// A task's own name: the one `set_task_comm` gave it, or its kind's.
    pub fn task_name(s: &KState, kind: TaskKind) -> String {
        let named = s.tasks.iter().find(|t| t.kind == kind).and_then(|t| t.comm.clone());
        named.unwrap_or_else(|| kind.comm())
    }

    pub fn trace(&self, e: Event) {
        self.s().record(e);
    }

    /// Charges one unit of the run's step budget for work that does not
    /// yield to the executor (a case operation). Past the budget the task
    /// stops here for good, and the executor ends the run at its step
    /// limit: an operation that never blocks cannot run for ever inside
    /// one step. The budget is spent, never overdrawn: a charge in the step
    /// that reached the limit leaves steps and work at `steps_max`, not one
    /// over it.
    pub async fn charge(&self) {
        let over = {
            let mut s = self.s();
            s.work = (s.work + 1).min(self.cfg.steps_max.saturating_sub(s.steps));
            s.steps + s.work >= self.cfg.steps_max || s.trace.full
        };
        if over {
            self.block(Wait::Never).await;
        }
    }

    /// A note for the reader of the trace, not a kernel message.
    pub fn note(&self, msg: String) {
        self.s().record_text(msg, Event::Note);
    }

    pub fn log(&self, msg: String) {
        self.s().record_text(msg, Event::Log);
    }

    /// `local_irq_disable()`.
    pub fn local_irq_disable(&self) {
        let mut s = self.s();
        let cur = s.current;
        s.tasks[cur].ctx.irqs_disabled = true;
    }

    /// `local_irq_enable()`. An IPI held back until this CPU next enables
    /// IRQs may come now.
    pub fn local_irq_enable(&self) {
        let mut s = self.s();
        let cur = s.current;
        s.tasks[cur].ctx.irqs_disabled = false;
        let cpu = s.tasks[cur].ctx.cpu;
        if s.smp.held[cpu] == smp::HeldBack::UntilIrqEnable {
            s.smp.held[cpu] = smp::HeldBack::No;
        }
    }

    /// `local_irq_save()`: disables IRQs and returns whether they were.
    pub fn local_irq_save(&self) -> bool {
        let was = self.ctx().irqs_disabled;
        self.local_irq_disable();
        was
    }

    /// `local_irq_restore()`.
    pub fn local_irq_restore(&self, was_disabled: bool) {
        if !was_disabled {
            self.local_irq_enable();
        }
    }

    pub fn preempt_disable(&self) {
        let mut s = self.s();
        let cur = s.current;
        s.tasks[cur].ctx.preempt_count += 1;
    }

    pub fn preempt_enable(&self) {
        let underflow = {
            let mut s = self.s();
            let cur = s.current;
            let c = &mut s.tasks[cur].ctx.preempt_count;
            let under = *c == 0;
            *c = c.saturating_sub(1);
            under
        };
        // preempt_count_sub() refuses to go below zero, and says so.
        if underflow {
            let title = "DEBUG_LOCKS_WARN_ON(val > preempt_count()) (CONFIG_DEBUG_PREEMPT)".to_string();
            self.splat(SplatKind::Warning, "kernel/sched/core.c:preempt_count_sub", title, false);
        }
    }

    /// A point where the kernel could be preempted: a decision for the
    /// explorer, free in the default schedule.
    pub async fn preemption_point(&self) {
        // An interrupt handler is never preempted: it runs to its end in one
        // step (a simplification: other CPUs do not interleave inside it).
        if self.cfg.preempt_points && !self.ctx().hardirq {
            self.yield_now().await;
        }
    }

    /// Records a splat in the current context. Returns whether it kills the
    /// task; the caller then awaits [`Kernel::die`].
    pub fn splat(&self, kind: SplatKind, site: &'static str, title: String, reaction: bool) -> bool {
        let mut s = self.s();
        let task = s.current;
        let ctx = s.tasks[task].ctx;
        let comm = Kernel::comm_of(&s, task);
        s.trace.splat(Splat { kind, title, site, task, comm, ctx, reaction });
        kind.kills()
    }

    /// `WARN(cond, ...)` as the kernel's reaction to a failed callback.
    pub fn warn_reaction(&self, site: &'static str, title: String) {
        self.splat(SplatKind::Warning, site, title, true);
    }

    /// `WARN_ON_ONCE()`/`WARN_ONCE()`: only the first hit of each call site
    /// in a boot prints.
    pub fn warn_once(&self, site: &'static str, title: &'static str, reaction: bool) {
        if self.s().warned_once.insert((site, title)) {
            self.splat(SplatKind::Warning, site, title.to_string(), reaction);
        }
    }

    /// `__schedule_bug()`: a task about to sleep in an atomic section.
    fn schedule_check(&self, site: &'static str) {
        let ctx = self.ctx();
        if ctx.sleepable() {
            return;
        }
        let comm = {
            let s = self.s();
            Kernel::comm_of(&s, s.current)
        };
        let count = ctx.preempt_count + if ctx.hardirq { 0x10000 } else { 0 };
        let title = format!("BUG: scheduling while atomic: {comm}/0x{count:08x}");
        if self.s().warned_once.insert((site, "scheduling while atomic")) {
            self.splat(SplatKind::SleepInAtomic, site, title, false);
        }
    }

    /// A splat that, like `WARN_ON_ONCE` or lockdep, reports each call
    /// site once per boot.
    pub fn splat_once(&self, kind: SplatKind, site: &'static str, title: &'static str) {
        if self.s().warned_once.insert((site, title)) {
            self.splat(kind, site, title.to_string(), false);
        }
    }

    /// The current task dies, as after an oops: it never runs again and keeps
    /// whatever locks it holds.
    pub async fn die(&self) {
        {
            let mut s = self.s();
            let cur = s.current;
            s.tasks[cur].died = true;
        }
        self.block(Wait::Never).await;
    }

    /// A preemption point.
    pub async fn yield_now(&self) {
        self.block(Wait::Yield).await;
    }

    /// Sleeps until `wait` is satisfied (at once if it already is, except a
    /// `Yield`, which always gives the executor a choice).
    pub fn block(&self, wait: Wait) -> Block<'_> {
        Block { k: self, wait, slept: false }
    }

    /// Whether `wait` is over.
    fn ready(&self, s: &KState, wait: Wait) -> bool {
        match wait {
            Wait::Yield => true,
            Wait::Never => false,
            Wait::Lock(l, mode) => s.locks.locks[l].can_take(mode),
            Wait::Completion(c) => s.locks.completions[c] > 0,
            Wait::CpuhpWork(cpu) => s.cpu.threads_ready(cpu),
            Wait::IdleBoot(cpu) => s.cpu.boot_requested.test(cpu),
            Wait::IdleDie(cpu) => !s.cpu.online.test(cpu) && s.stop.idle(cpu),
            Wait::StopperWork(cpu) => s.stop.has_work(cpu),
            Wait::CpuOnline(cpu) => s.cpu.online.test(cpu),
            Wait::MultiStop(m, seen) => s.stop.moved(m, seen),
            Wait::CsdLock(c) => !s.smp.csds[c].locked,
            Wait::CpuDead(cpu) => !s.smp.powered.test(cpu),
            Wait::Restart(l) => s.locks.locks[l].can_take(Mode::Exclusive),
            Wait::RcuGp => rcu::tree::gp_work(s),
            Wait::RqEmpty(cpu) => sched::core::nr_running(s, cpu) == 0,
            // Interrupts are offered by `eligible`, never taken inside a poll.
            Wait::Ipi(_) | Wait::DevIrq(_) => false,
        }
    }

    /// `mutex_lock()` / `percpu_down_read()` / `percpu_down_write()`.
    pub async fn lock(&self, lock: LockId, mode: Mode) {
        self.yield_now().await;
        let free = self.s().locks.locks[lock].can_take(mode);
        if !free {
            self.schedule_check("kernel/locking/mutex.c:__mutex_lock");
            let writer = mode == Mode::Exclusive && self.s().locks.locks[lock].kind == LockKind::RwSem;
            if writer {
                self.s().locks.locks[lock].writers_waiting += 1;
            }
            self.s().record_lock(lock, trace::LockWhat::Wait(mode));
            self.block(Wait::Lock(lock, mode)).await;
            if writer {
                self.s().locks.locks[lock].writers_waiting -= 1;
            }
        }
        self.take_lock(lock, mode);
    }

    /// The current task takes a free `lock`: its dependencies on the locks
    /// it holds are recorded, then it holds it too.
    fn take_lock(&self, lock: LockId, mode: Mode) {
        let mut s = self.s();
        let cur = s.current;
        let held = std::mem::take(&mut s.tasks[cur].held);
        if !held.is_empty() {
            // The task's name is needed only for a dependency seen first now.
            let new = held.iter().any(|&a| a != lock && !s.locks.deps.contains_key(&(a, lock)));
            let by = if new { Kernel::comm_of(&s, cur) } else { String::new() };
            s.locks.depend(lock, &held, cur, &by);
        }
        s.locks.take(lock, mode, cur);
        s.tasks[cur].held = held;
        s.tasks[cur].held.push(lock);
        s.record_lock(lock, trace::LockWhat::Take(mode));
    }

    /// Takes a lock nothing else can hold now (no case operation can reach
    /// it), recording its order but making no scheduling point.
    pub fn lock_private(&self, lock: LockId) {
        debug_assert!(self.s().locks.locks[lock].can_take(Mode::Exclusive), "model bug: a private lock is taken");
        self.take_lock(lock, Mode::Exclusive);
    }

    /// Releases a lock taken with [`Kernel::lock_private`].
    pub fn unlock_private(&self, lock: LockId) {
        let mut s = self.s();
        let cur = s.current;
        if s.locks.release(lock, cur) {
            s.record_lock(lock, trace::LockWhat::Release);
        }
        let held = &mut s.tasks[cur].held;
        if let Some(i) = held.iter().rposition(|&h| h == lock) {
            held.remove(i);
        }
    }

    /// `mutex_trylock()`: takes the lock if it is free, recording no
    /// dependency (lockdep: a trylock can be done in any order).
    pub fn trylock(&self, lock: LockId) -> bool {
        let mut s = self.s();
        if !s.locks.locks[lock].can_take(Mode::Exclusive) {
            return false;
        }
        let cur = s.current;
        s.locks.take(lock, Mode::Exclusive, cur);
        s.tasks[cur].held.push(lock);
        s.record_lock(lock, trace::LockWhat::Trylock);
        true
    }

    /// `mutex_unlock()` / `percpu_up_read()` / `percpu_up_write()`.
    pub async fn unlock(&self, lock: LockId) {
        let unheld = {
            let mut s = self.s();
            let cur = s.current;
            let released = s.locks.release(lock, cur);
            if released {
                s.record_lock(lock, trace::LockWhat::Release);
            }
            let held = &mut s.tasks[cur].held;
            if let Some(i) = held.iter().rposition(|&h| h == lock) {
                held.remove(i);
            }
            (!released).then(|| s.locks.locks[lock].name.clone())
        };
        // Releasing a lock the task does not hold is the caller's bug, and
        // lockdep reports it; the lock stays as it was.
        if let Some(name) = unheld {
            let comm = {
                let s = self.s();
                Kernel::comm_of(&s, s.current)
            };
            let title = format!(
                "WARNING: bad unlock balance detected! {comm} is trying to release lock ({name}) but there are no more locks to release! (CONFIG_PROVE_LOCKING)"
            );
            self.splat(SplatKind::Lockdep, "kernel/locking/lockdep.c:print_unlock_imbalance_bug", title, false);
            return;
        }
        self.yield_now().await;
    }

    /// Whether the current task holds `lock`.
    pub fn holds(&self, lock: LockId) -> bool {
        let s = self.s();
        s.locks.locks[lock].held_by(s.current)
    }

    /// `complete()`.
    pub fn complete(&self, c: CompletionId) {
        let done = &mut self.s().locks.completions[c];
        if *done != COMPLETE_ALL {
            *done += 1;
        }
    }

    /// `complete_all()`: every waiter, now and later, goes on.
    pub fn complete_all(&self, c: CompletionId) {
        self.s().locks.completions[c] = COMPLETE_ALL;
    }

    /// `wait_for_completion()`.
    pub async fn wait_for_completion(&self, c: CompletionId) {
        if self.s().locks.completions[c] == 0 {
            self.schedule_check("kernel/sched/completion.c:wait_for_completion");
        }
        self.block(Wait::Completion(c)).await;
        let done = &mut self.s().locks.completions[c];
        if *done != COMPLETE_ALL {
            *done -= 1;
        }
    }

    /// Records that the run reached `site`, and fires it if it is armed.
    /// `rollback` says whether the state machine is rolling back.
    pub fn failpoint(&self, site: Site, rollback: bool) -> Option<i32> {
        if !self.failpoints_live() {
            return None;
        }
        self.faults.reach(site, rollback);
        self.faults.eval(site)
    }

    /// The failpoint of a call inside a callback's body (`Site::Callee`):
    /// the callee's own error when it fires, with a note naming what it was
    /// called for (`arg`).
    pub fn callee_fails(
        &self,
        cpu: usize,
        bringup: bool,
        state: u16,
        callee: crate::fault::Callee,
        arg: &str,
    ) -> Option<i32> {
        let site = Site::Callee { cpu: cpu as u16, bringup, state, callee };
        let rollback = self.s().cpu.cpuhp[cpu].rollback;
        let err = self.failpoint(site, rollback)?;
        self.note(format!("{}({arg}) fails ({})", callee.name(), crate::errno::name(err.into())));
        Some(err)
    }

    /// A failpoint whose action's argument is a count: `Some(None)` for a
    /// bare `return`, `Some(Some(n))` for `return(n)`.
    pub fn failpoint_arg(&self, site: Site) -> Option<Option<u64>> {
        self.failpoint_raw(site).map(|a| a.and_then(|a| a.trim().parse().ok()))
    }

    /// A failpoint with its action's raw argument: `Some(None)` for a bare
    /// `return`.
    pub fn failpoint_raw(&self, site: Site) -> Option<Option<String>> {
        if !self.failpoints_live() {
            return None;
        }
        self.faults.reach(site, false);
        self.faults.eval_arg(site)
    }

    /// Whether failpoints are consulted now: the run records or armed
    /// some, and the silent boot is over.
    fn failpoints_live(&self) -> bool {
        !self.faults.quiet() && self.s().trace.enabled
    }
}

/// The future behind [`Kernel::block`].
pub struct Block<'a> {
    k: &'a Kernel,
    wait: Wait,
    slept: bool,
}

impl Future for Block<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, _cx: &mut PollContext<'_>) -> Poll<()> {
        if self.slept {
            return Poll::Ready(());
        }
        let mut s = self.k.s();
        if self.wait != Wait::Yield && self.k.ready(&s, self.wait) {
            return Poll::Ready(());
        }
        let cur = s.current;
        s.tasks[cur].wait = Some(self.wait);
        drop(s);
        self.slept = true;
        Poll::Pending
    }
}
