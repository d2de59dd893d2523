//! Runs one scenario: a case's operations on a fresh machine, under a fault
//! plan, on the deterministic executor. The single entry point tests and the
//! CLI share (through [`crate::explore`]).
//!
//! The tasks are created in a fixed order: the control task, the case's
//! threads, then for each CPU its `cpuhp/N` thread, its idle task and its
//! stopper, then each CPU's IPI task, then the case's interrupt sources. Without a `boot`
//! operation the machine boots the secondary CPUs untraced, with no
//! failpoint consulted, before the first operation.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use crate::arch::x86::irq::IrqLine;
use crate::arch::x86::smpboot;
use crate::case::{Case, Op, OpLine, RemoveKind, SetupKind, SysfsFile};
use crate::drivers::base::cpu as cpu_dev;
use crate::fault::{Armed, FailGuard, Site, SiteLog};
use crate::kernel::module::{self, ModuleState};
use crate::kernel::smp::CsdFunc;
use crate::kernel::stop_machine;
use crate::kernel::trace::{Event, OpRef};
use crate::kernel::{Config, KState, Kernel, Regression};
use crate::restore::{OpCheck, Restorable};
use crate::sim::TaskKind;
use crate::sim::executor::{DefaultStrategy, Executor, RunEnd, Schedule, Strategy};
use crate::sim::lock::{CompletionId, LockId, LockKind};

/// How to run: which regressions are switched on, and whether to record the
/// sites reached.
#[derive(Clone, Debug, Default)]
pub struct RunOpts {
    pub regressions: BTreeSet<Regression>,
    pub record_sites: bool,
    /// Every callback through the asynchronous path of
    /// `cpuhp_invoke_callback`, never its synchronous twin: only
    /// tests/async_path.rs sets it, to prove the two agree.
    pub force_async: bool,
    /// Record where each event ran and every lock operation: what the HTML
    /// report draws (`report`, `--html`). It changes no outcome or trace
    /// text; off, runs skip the cost (about 6% of the explorer's time).
    pub timeline: bool,
    /// Worker threads for exploration (`--jobs`; 0: one per core). Output
    /// is the same bytes whatever the number.
    pub jobs: usize,
}

/// Everything a run leaves behind.
pub struct RunResult {
    pub state: KState,
    pub cfg: Config,
    pub end: RunEnd,
    pub steps: u64,
    /// The schedule that reproduces this run.
    pub schedule: Schedule,
    /// Decisions taken, and how many preempted a task.
    pub decisions: u32,
    pub preemptions: u32,
    /// Whether every failpoint of the plan fired at least once.
    pub fired: BTreeSet<Site>,
    op_results: Vec<Option<i64>>,
    thread_results: Vec<Vec<i64>>,
    /// After each operation of the control task: what a failed one left
    /// changed, and the balance then.
    pub op_checks: Vec<OpCheck>,
    reached: Vec<Site>,
    reached_in_rollback: Vec<Site>,
}

impl RunResult {
    /// Tasks the run had, at most `tasks_max`.
    pub fn tasks(&self) -> usize {
        self.state.tasks.len()
    }

    /// Trace events and splats recorded, at most `trace_events_max`.
    pub fn recorded(&self) -> usize {
        self.state.trace.events.len() + self.state.trace.splats.len()
    }

    /// Executor steps and the work charged to operations together, at most
    /// `steps_max`: what a step limit's outcome counts.
    pub fn steps_taken(&self) -> u64 {
        self.steps + self.state.work
    }

    /// The operations' results; `None` for one that never returned.
    pub fn results(&self) -> &[Option<i64>] {
        &self.op_results
    }

    /// Each thread's results, operation by operation and loop by loop, as
    /// far as it got: the operation that never returned and those after it
    /// have none (so a thread of 1000 operations and 1000 loops stopped at
    /// its first holds nothing, not a million empty results).
    pub fn thread_results(&self) -> &[Vec<i64>] {
        &self.thread_results
    }

    /// The failpoint sites reached, in first-reach order (when recording).
    pub fn reached(&self) -> &[Site] {
        &self.reached
    }

    /// The sites first reached during a rollback, after a failpoint fired.
    pub fn reached_in_rollback(&self) -> &[Site] {
        &self.reached_in_rollback
    }
}

/// The harness's side of a run, which the kernel model never sees: what
/// the case's operations returned, the mutexes they take by name, and the
/// completion the case's threads start at.
struct Harness {
    /// Each case operation's result; `None` until it returns.
    op_results: Vec<Option<i64>>,
    /// Each thread's results, per operation and loop, as far as it got.
    thread_results: Vec<Vec<i64>>,
    /// Mutexes a case's operations take by name, created on first use.
    case_locks: BTreeMap<String, LockId>,
    /// Completed for all once the case's setup operations are done.
    setup_done: CompletionId,
    /// The checks after each operation of the control task.
    op_checks: Vec<OpCheck>,
}

/// What every task body of a run shares.
type Shared = (Rc<Kernel>, Rc<RefCell<Harness>>);

/// Runs `case` with `faults` armed (site, `fail` action), on the default
/// schedule.
pub fn run(case: &Case, faults: &[(Site, String)], opts: &RunOpts) -> Result<RunResult, String> {
    run_strategy(case, faults, opts, Box::new(DefaultStrategy))
}

/// Runs `case` with `faults` armed, under `strategy`.
pub fn run_strategy(
    case: &Case,
    faults: &[(Site, String)],
    opts: &RunOpts,
    strategy: Box<dyn Strategy>,
) -> Result<RunResult, String> {
    let guard = (!faults.is_empty()).then(FailGuard::take);
    let armed = match &guard {
        Some(g) => g.arm(faults)?,
        None => Armed::default(),
    };
    let cfg = config(case, opts, strategy.decides_at_yield());
    let result = run_with(case, cfg, armed, strategy);
    drop(guard);
    Ok(result)
}

/// The machine and kernel build of a case.
pub fn config(case: &Case, opts: &RunOpts, preempt_points: bool) -> Config {
    Config {
        cpus: case.machine.cpus,
        threads_per_core: case.machine.threads_per_core,
        apic_ids: case.machine.apic_ids.clone(),
        present: case.machine.present,
        hotplug_cpu: case.machine.hotplug_cpu,
        smt: case.machine.smt,
        max_cpus: case.machine.max_cpus,
        regressions: opts.regressions.clone(),
        steps_max: case.machine.steps_max,
        trace_events_max: case.machine.trace_events_max,
        record_sites: opts.record_sites,
        slab: case.slab,
        preempt_points,
        force_async: opts.force_async,
        timeline: opts.timeline,
        rcu: case.rcu,
    }
}

/// Runs `case` on a machine built from `cfg`, with a given strategy.
pub fn run_with(case: &Case, cfg: Config, armed: Armed, strategy: Box<dyn Strategy>) -> RunResult {
    let k = Rc::new(Kernel::new(case.profile.clone(), cfg.clone(), armed));
    {
        let mut s = k.s();
        s.modules = case.modules.iter().map(ModuleState::new).collect();
        s.irqs =
            case.irqs.iter().map(|i| IrqLine { name: i.name.clone(), cpu: i.cpu, fires: i.fires, fired: 0 }).collect();
    }
    if let Some(m) = &case.memory {
        k.memory_init(m.boot_blocks, &m.holes, &m.blocks, m.auto_online, m.migrate_bound);
    }
    let h = Rc::new(RefCell::new(Harness {
        op_results: vec![None; case.ops.len()],
        thread_results: vec![Vec::new(); case.threads.len()],
        case_locks: BTreeMap::new(),
        setup_done: k.s().locks.add_completion(),
        op_checks: Vec::new(),
    }));
    let mut ex = Executor::new(strategy, cfg.steps_max);
    let shared = || (k.clone(), h.clone());
    spawn(&k, &mut ex, TaskKind::Control(0), 0, control(shared(), case.ops.clone(), case.tasks.clone()));
    for (i, t) in case.threads.iter().enumerate() {
        let body = thread(shared(), i, t.ops.clone(), t.loops);
        let task = spawn(&k, &mut ex, TaskKind::Control(i + 1), t.cpu, body);
        k.set_task_comm(task, &t.name);
    }
    for cpu in 0..cfg.cpus {
        spawn(&k, &mut ex, TaskKind::Cpuhp(cpu), cpu, cpuhp_thread(k.clone(), cpu));
        spawn(&k, &mut ex, TaskKind::Idle(cpu), cpu, idle(k.clone(), cpu));
        spawn(&k, &mut ex, TaskKind::Stopper(cpu), cpu, stopper(k.clone(), cpu));
    }
    for cpu in 0..cfg.cpus {
        let t = spawn(&k, &mut ex, TaskKind::Ipi(cpu), cpu, ipi(k.clone(), cpu));
        ex.start(&*k, t);
    }
    for (n, line) in case.irqs.iter().enumerate() {
        let t = spawn(&k, &mut ex, TaskKind::Irq(n), line.cpu, device_irq(shared(), n, line.ops.clone()));
        ex.start(&*k, t);
    }
    if case.rcu {
        // Last, so every other task keeps its number in schedules.
        spawn(&k, &mut ex, TaskKind::RcuGp, 0, rcu_gp_kthread(k.clone()));
    }
    assert_eq!(k.s().tasks.len(), case.tasks(), "model bug: the run's tasks are not the case's count (tasks_max)");
    k.s().steps = 0;
    let end = ex.run(&*k);
    let steps = ex.steps();
    let schedule = ex.schedule();
    let (decisions, preemptions) = ex.decisions();
    drop(ex);
    let k = Rc::try_unwrap(k).unwrap_or_else(|_| panic!("model bug: a task outlived the executor"));
    let h = Rc::try_unwrap(h).unwrap_or_else(|_| panic!("model bug: a task outlived the executor")).into_inner();
    let (state, sites) = k.into_parts();
    let SiteLog { reached, reached_in_rollback, fired, .. } = sites;
    let (op_results, thread_results, op_checks) = (h.op_results, h.thread_results, h.op_checks);
    RunResult {
        state,
        cfg,
        end,
        steps,
        schedule,
        decisions,
        preemptions,
        fired,
        op_results,
        thread_results,
        op_checks,
        reached,
        reached_in_rollback,
    }
}

fn spawn<F: std::future::Future<Output = ()> + 'static>(
    k: &Kernel,
    ex: &mut Executor,
    kind: TaskKind,
    cpu: usize,
    f: F,
) -> crate::sim::TaskId {
    let id = k.add_task(kind, cpu);
    let spawned = ex.spawn(Box::pin(f));
    assert_eq!(id, spawned, "task table and executor out of step");
    id
}

async fn cpuhp_thread(k: Rc<Kernel>, cpu: usize) {
    k.cpuhp_thread(cpu).await;
}

async fn idle(k: Rc<Kernel>, cpu: usize) {
    // The idle task runs with preemption disabled.
    k.preempt_disable();
    if cpu == 0 {
        // The boot CPU is already up: its idle task waits in the idle loop.
        k.block(crate::kernel::Wait::IdleDie(0)).await;
        smpboot::play_dead(&k, 0).await;
    }
    smpboot::idle_task(&k, cpu).await;
}

async fn stopper(k: Rc<Kernel>, cpu: usize) {
    stop_machine::cpu_stopper_thread(&k, cpu).await;
}

async fn rcu_gp_kthread(k: Rc<Kernel>) {
    k.rcu_gp_kthread().await;
}

async fn ipi(k: Rc<Kernel>, cpu: usize) {
    crate::arch::x86::smp::ipi_task(&k, cpu).await;
}

/// A device interrupt source: each time the executor fires it, the handler
/// runs its actions in hard-IRQ context on the CPU the interrupt is routed to.
async fn device_irq((k, h): Shared, n: usize, ops: Vec<OpLine>) {
    loop {
        k.block(crate::kernel::Wait::DevIrq(n)).await;
        let cpu = {
            let mut s = k.s();
            let cpu = crate::arch::x86::irq::effective_cpu(&s, &s.irqs[n]);
            s.irqs[n].fired += 1;
            let cur = s.current;
            s.tasks[cur].ctx.cpu = cpu;
            cpu
        };
        k.trace(Event::IrqEnter { src: n as u16, cpu: cpu as u16 });
        for (i, line) in ops.iter().enumerate() {
            let ret = Box::pin(exec(&k, &h, &line.op)).await;
            k.trace(Event::IrqOp { src: n as u16, op: i as u16, ret: ret as i32 });
        }
        k.trace(Event::IrqExit);
    }
}

/// The control task: boot, then each operation in order; then the case's
/// threads may start.
async fn control((k, h): Shared, ops: Vec<OpLine>, tasks: Vec<crate::case::TaskDecl>) {
    let traced_boot = matches!(ops.first().map(|o| &o.op), Some(Op::Boot));
    if !traced_boot {
        boot(&k).await;
        k.sched_create_tasks(&tasks);
    }
    k.s().trace.enabled = true;
    for (i, line) in ops.iter().enumerate() {
        // The case's tasks start once the machine is up.
        if i == 1 && traced_boot {
            k.sched_create_tasks(&tasks);
        }
        k.charge().await;
        let at = OpRef { thread: 0, op: i as u16 };
        k.trace(Event::Op(at));
        let (before, splats) = {
            let s = k.s();
            (Restorable::of(&s), s.trace.splats.len())
        };
        let ret = exec(&k, &h, &line.op).await;
        h.borrow_mut().op_results[i] = Some(ret);
        k.trace(Event::OpRet(at, ret));
        let check = {
            let s = k.s();
            // A hot-add whose acpi_processor_add failed reports success
            // (acpi_bus_attach drops the error), but must unwind too.
            let attach_failed = matches!(line.op, Op::AcpiCpuHotAdd(slot) if ret == 0 && s.acpi.pr[slot].is_none());
            let changed = if ret < 0 || attach_failed { Restorable::of(&s).diff(&before) } else { Vec::new() };
            let unbalanced = crate::restore::unbalanced(&s.cpu);
            OpCheck { op: i, ret, splats: splats..s.trace.splats.len(), changed, unbalanced }
        };
        h.borrow_mut().op_checks.push(check);
    }
    if traced_boot && ops.len() == 1 {
        k.sched_create_tasks(&tasks);
    }
    let setup_done = h.borrow().setup_done;
    k.complete_all(setup_done);
}

/// A case thread: waits for the setup, then runs its operations `loops`
/// times.
async fn thread((k, h): Shared, idx: usize, ops: Vec<OpLine>, loops: u32) {
    let setup_done = h.borrow().setup_done;
    k.wait_for_completion(setup_done).await;
    for _ in 0..loops {
        for (i, line) in ops.iter().enumerate() {
            k.charge().await;
            let at = OpRef { thread: idx as u16 + 1, op: i as u16 };
            k.trace(Event::Op(at));
            let ret = exec(&k, &h, &line.op).await;
            h.borrow_mut().thread_results[idx].push(ret);
            k.trace(Event::OpRet(at, ret));
        }
    }
}

/// `bringup_nonboot_cpus`, then the CPU devices register with `offline` set
/// for every CPU that did not come up (`register_cpu` runs after SMP init).
async fn boot(k: &Kernel) {
    k.bringup_nonboot_cpus().await;
    let mut s = k.s();
    let offline = s.cpu.devices.iter().filter(|&c| !s.cpu.online.test(c)).collect::<Vec<_>>();
    for c in offline {
        s.cpu.dev_offline.set(c);
    }
}

async fn exec(k: &Kernel, h: &RefCell<Harness>, op: &Op) -> i64 {
    let a = k.profile.a;
    let ret = match op {
        Op::Boot => {
            boot(k).await;
            0
        }
        Op::CpuUp(c) => k.cpu_up(*c, a.online).await,
        Op::CpuDown(c) => k.cpu_down(*c, a.offline).await,
        Op::Write { file, value } => write(k, *file, value).await,
        Op::Insmod(m) => module::insmod(k, *m).await,
        Op::Rmmod(m) => module::rmmod(k, *m).await,
        Op::Setup { module, .. }
        | Op::Remove { module, .. }
        | Op::AddInstance { module, .. }
        | Op::RemoveInstance { module, .. }
            if !k.s().modules[*module].loaded =>
        {
            module::not_loaded(k, *module)
        }
        Op::Setup { module, decl, kind } => {
            let (invoke, multi) = match kind {
                SetupKind::Calls => (true, false),
                SetupKind::Nocalls => (false, false),
                SetupKind::Multi => (false, true),
            };
            module::setup(k, *module, *decl, invoke, multi).await
        }
        Op::Remove { module, decl, kind } => module::remove(k, *module, *decl, *kind == RemoveKind::Calls).await,
        Op::AddInstance { module, decl, name, invoke } => module::add_instance(k, *module, *decl, name, *invoke).await,
        Op::RemoveInstance { module, decl, name, invoke } => {
            module::remove_instance(k, *module, *decl, name, *invoke).await
        }
        Op::CpuHotplugDisable => {
            k.cpu_hotplug_disable().await;
            0
        }
        Op::CpuHotplugEnable => {
            k.cpu_hotplug_enable().await;
            0
        }
        Op::Freeze(primary) => k.freeze_secondary_cpus(*primary).await,
        Op::Thaw => {
            k.thaw_secondary_cpus().await;
            0
        }
        Op::CacheCreate(name) => k.kmem_cache_create(name).await,
        Op::CacheDestroy(name) => k.kmem_cache_destroy(name).await,
        Op::CacheAlloc(name) => k.kmem_cache_alloc(name).await,
        Op::Lock(name) => {
            let l = case_lock(k, h, name);
            k.lock(l, crate::sim::lock::Mode::Exclusive).await;
            // The caller goes on holding it: other tasks may run meanwhile.
            k.preemption_point().await;
            0
        }
        Op::Unlock(name) => {
            // mutex_unlock() returns nothing; one not held is lockdep's bad
            // unlock balance, which unlock() reports.
            let l = case_lock(k, h, name);
            k.unlock(l).await;
            0
        }
        Op::SmpCallSingle { cpu, func, wait } => k.smp_call_function_single(*cpu, case_func(func), *wait).await,
        Op::SmpCallAsync { cpu, func } => {
            let ret = k.smp_call_function_single_async(*cpu, func).await;
            // A case operation is a write() that returns to user space
            // before the next one: far longer than the APIC takes to
            // deliver the IPI to an idle CPU, whose handler (preferred by
            // the default schedule) runs first. kernel/smp.c:
            // smp_call_function_single_async -> generic_exec_single ->
            // send_call_function_single_ipi; seen on 6.1.192 under QEMU
            // (two calls in a row both return 0, docs/real-kernel.md).
            if !k.ctx().hardirq {
                k.yield_now().await;
            }
            ret
        }
        Op::SmpCallMany { mask, func, wait } => {
            k.smp_call_function_many(*mask, case_func(func), *wait).await;
            0
        }
        Op::SmpCall { func, wait } => {
            k.smp_call_function(case_func(func), *wait).await;
            0
        }
        Op::OnEachCpu { func, wait } => {
            k.on_each_cpu(case_func(func), *wait).await;
            0
        }
        // The caller goes on with the next operation; other CPUs may run in
        // between (the task keeps its own CPU if it is now atomic).
        Op::LocalIrqDisable => {
            k.local_irq_disable();
            k.preemption_point().await;
            0
        }
        Op::LocalIrqEnable => {
            k.local_irq_enable();
            k.preemption_point().await;
            0
        }
        Op::PreemptDisable => {
            k.preempt_disable();
            k.preemption_point().await;
            0
        }
        Op::PreemptEnable => {
            k.preempt_enable();
            k.preemption_point().await;
            0
        }
        Op::AddMemory { index, nid } => k.add_memory(*index, *nid).await,
        Op::RemoveMemory(index) => k.remove_memory(*index).await,
        Op::FreePages(index, n) => k.free_pages(*index, *n).await,
        Op::DrainAllPages => k.drain_all_pages().await,
        Op::AcpiCpuHotAdd(slot) => crate::drivers::acpi::scan::acpi_cpu_hot_add(k, *slot).await,
        Op::AcpiCpuHotRemove(slot) => crate::drivers::acpi::scan::acpi_cpu_hot_remove(k, *slot).await,
        Op::GetOnlineMems => {
            k.get_online_mems().await;
            k.preemption_point().await;
            0
        }
        Op::PutOnlineMems => {
            k.put_online_mems().await;
            0
        }
        Op::StopOneCpu { cpu, func } => stop_machine::stop_one_cpu(k, *cpu, func.as_str().into()).await,
        Op::StopOneCpuNowait { cpu, func } => {
            i32::from(stop_machine::stop_one_cpu_nowait(k, *cpu, func.as_str().into()))
        }
        Op::StopTwoCpus { cpu1, cpu2, func } => {
            stop_machine::stop_two_cpus(k, *cpu1, *cpu2, func.as_str().into()).await
        }
        Op::SchedSetaffinity { task, mask } => {
            k.might_sleep("kernel/sched/completion.c:__wait_for_common");
            k.sched_setaffinity(*task, *mask).await
        }
        Op::SynchronizeRcu => {
            k.might_sleep("kernel/sched/completion.c:__wait_for_common");
            k.synchronize_rcu().await;
            0
        }
        Op::CallRcu => {
            k.call_rcu(crate::kernel::rcu::tree::CbFunc::Case);
            0
        }
    };
    i64::from(ret)
}

/// The case mutex `name`, created on first use.
fn case_lock(k: &Kernel, h: &RefCell<Harness>, name: &str) -> LockId {
    let mut h = h.borrow_mut();
    *h.case_locks.entry(name.to_string()).or_insert_with(|| k.s().locks.add(name, LockKind::Mutex))
}

fn case_func(name: &str) -> CsdFunc {
    CsdFunc::Case(std::sync::Arc::from(name))
}

async fn write(k: &Kernel, file: SysfsFile, value: &str) -> i32 {
    match file {
        SysfsFile::Online(c) => cpu_dev::online_store(k, c, value).await,
        SysfsFile::Fail(c) => k.fail_store(c, value).await,
        SysfsFile::Target(c) => k.target_store(c, value).await,
        SysfsFile::SmtControl => k.smt_control_store(value).await,
        SysfsFile::MemState(b) => k.memory_state_store(b, value).await,
        SysfsFile::MemOnline(b) => k.memory_online_store(b, value).await,
        SysfsFile::MemInject(online) => {
            use crate::drivers::base::memory::MemAction;
            let action = if online { MemAction::GoingOnline } else { MemAction::GoingOffline };
            k.notifier_error_inject_store(action, value)
        }
    }
}
