//! `kernel/smp.c` (6.1.192): cross-CPU function calls.
//!
//! - Per-CPU `call_single_queue`, and call-single-data (CSDs) with a lock
//!   flag and a type, sync or async (`include/linux/smp_types.h`).
//! - `smp_call_function_single` (on-stack sync CSD, or the per-CPU
//!   `csd_data` when not waiting), `smp_call_function_single_async`
//!   (caller-owned CSD, `-EBUSY` while it is in flight),
//!   `smp_call_function_many_cond` with its wrappers `smp_call_function_many`,
//!   `smp_call_function` and `on_each_cpu`, using the sender's per-CPU
//!   `cfd_data`.
//! - `generic_exec_single`: run locally on this CPU, `-ENXIO` for an offline
//!   target, else queue, with an IPI only if the queue was empty (IPIs
//!   coalesce).
//! - `__flush_smp_call_function_queue`: SYNC entries run then unlock, the
//!   others unlock then run; "IPI on offline CPU" warns once, only when an
//!   offline CPU finds callbacks pending (9e949a388635's test of the
//!   detached list, as 6.1 has it).
//! - The cpuhp callbacks `smpcfd_prepare_cpu`/`smpcfd_dead_cpu` (the
//!   sender-side `cfd_data`) and `smpcfd_dying_cpu`, which flushes the
//!   outgoing CPU's queue without warning (8d056c48e486).
//!
//! `smp-no-flush-on-dying` switches back to before 3.16: `smpcfd_dying_cpu`
//! does not flush, and the IPI handler has its old
//! `WARN_ON_ONCE(!cpu_online(smp_processor_id()))`. Only those two change;
//! the SYNC/ASYNC split of the flush (2015) stays as 6.1 has it.
//!
//! What a callback does is modelled where hotplug can see it:
//! `cpuhp_complete_idle_dead` completes `st->done_down`, SLAB's `do_drain`
//! touches the CPU's array; a case's own function only counts as run. The
//! IPI itself (vectors, delivery, the `smp/cpuN/ipi` failpoint) is
//! [`crate::arch::x86::smp`]. Left out: irq_work and TTWU entries on the
//! queue, `CONFIG_CSD_LOCK_WAIT_DEBUG`, the idle-polling shortcut that
//! skips the IPI (QEMU's `hlt` idle does not poll), and
//! `smp_call_function_any`.

use std::sync::Arc;

use crate::errno::*;
use crate::kernel::trace::{Event, SplatKind};
use crate::sim::CpuMask;

use super::{Kernel, Regression, Wait};

/// Index into [`SmpState::csds`].
pub type CsdId = usize;

/// `CSD_TYPE_ASYNC` or `CSD_TYPE_SYNC`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CsdType {
    Async,
    Sync,
}

/// What a queued function does, as far as the model tracks it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CsdFunc {
    /// `cpuhp_complete_idle_dead(st)`: completes CPU N's `st->done_down`.
    CompleteIdleDead(usize),
    /// SLAB's `do_drain(cachep)` on the CPU it runs on.
    SlabDrain(usize),
    /// A function of the case: it only counts as run.
    Case(Arc<str>),
}

/// Which API queued a CSD, for the trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Api {
    Single,
    SingleAsync,
    Many,
}

/// Where a callback ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Via {
    /// On the calling CPU, IRQs off (`generic_exec_single` to self, or the
    /// local part of `on_each_cpu`).
    Local,
    /// From the call-function IPI.
    Ipi,
    /// From `smpcfd_dying_cpu` on the outgoing CPU.
    Dying,
}

/// One `call_single_data_t`.
#[derive(Clone, Debug)]
pub struct Csd {
    pub func: CsdFunc,
    /// Interned name of `func`, for events.
    pub name: u16,
    pub kind: CsdType,
    /// `CSD_FLAG_LOCK`: queued or running.
    pub locked: bool,
    /// Times queued, and times its function ran from a queue.
    pub queued: u32,
    pub ran: u32,
    /// The CPU it is queued on.
    pub on: Option<usize>,
}

/// How a held-back IPI (failpoint `smp/cpuN/ipi`) waits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HeldBack {
    #[default]
    No,
    /// Until the target next enables IRQs, or goes idle.
    UntilIrqEnable,
    /// Until the executor has taken this many steps in all.
    UntilStep(u64),
}

/// `smpcfd_prepare_cpu`'s allocations for one CPU.
pub const CFD_ALLOCS: i32 = 3;

/// The state of `kernel/smp.c` and of the IPI hardware.
#[derive(Clone, Debug)]
pub struct SmpState {
    pub csds: Vec<Csd>,
    /// `call_single_queue`, per CPU, in the order the flush runs them.
    pub queue: Vec<Vec<CsdId>>,
    /// Pending call-function vectors per CPU: bit 0 CALL_FUNCTION_SINGLE,
    /// bit 1 CALL_FUNCTION.
    pub pending: Vec<u8>,
    pub held: Vec<HeldBack>,
    /// CPUs executing instructions: not before `start_secondary`, nor after
    /// `play_dead`.
    pub powered: CpuMask,
    /// CPUs whose `take_cpu_down` finished: offline for good, until they
    /// boot again.
    pub gone: CpuMask,
    /// CPUs whose `cfd_data` is allocated (`smpcfd_prepare_cpu`).
    pub cfd: CpuMask,
    /// Per CPU: `cfd_data`'s live allocations (`cpumask`, `cpumask_ipi`,
    /// `pcpu`), for "a failed prepare frees what it allocated".
    pub cfd_allocs: Vec<i32>,
    /// Each CPU's `csd_data`, for `smp_call_function_single(..., 0)`.
    csd_data: Vec<Option<CsdId>>,
    /// `cfd_data.pcpu[target].csd` of each sender.
    cfd_csd: Vec<Vec<Option<CsdId>>>,
    /// Caller-owned CSDs of `smp_call_function_single_async`, by function.
    owned: Vec<(Arc<str>, CsdId)>,
    /// Interned function names.
    pub names: Vec<Arc<str>>,
    /// `static bool warned` of the flush.
    warned: bool,
    /// Broken invariants, first seen first.
    pub violations: Vec<String>,
}

impl SmpState {
    pub fn new(cpus: usize) -> SmpState {
        let mut boot = CpuMask::empty();
        boot.set(0);
        SmpState {
            csds: Vec::new(),
            queue: vec![Vec::new(); cpus],
            pending: vec![0; cpus],
            held: vec![HeldBack::No; cpus],
            powered: boot,
            gone: CpuMask::empty(),
            // call_function_init() prepares the boot CPU.
            cfd: boot,
            cfd_allocs: (0..cpus).map(|c| if c == 0 { CFD_ALLOCS } else { 0 }).collect(),
            csd_data: vec![None; cpus],
            cfd_csd: vec![vec![None; cpus]; cpus],
            owned: Vec::new(),
            names: Vec::new(),
            warned: false,
            violations: Vec::new(),
        }
    }

    fn intern(&mut self, name: &str) -> u16 {
        if let Some(i) = self.names.iter().position(|n| &**n == name) {
            return i as u16;
        }
        self.names.push(Arc::from(name));
        (self.names.len() - 1) as u16
    }

    fn new_csd(&mut self, func: CsdFunc, kind: CsdType) -> CsdId {
        let name = self.intern(&func_name(&func));
        self.csds.push(Csd { func, name, kind, locked: false, queued: 0, ran: 0, on: None });
        self.csds.len() - 1
    }

    fn set_func(&mut self, csd: CsdId, func: CsdFunc, kind: CsdType) {
        let name = self.intern(&func_name(&func));
        let c = &mut self.csds[csd];
        c.func = func;
        c.name = name;
        c.kind = kind;
    }

    pub fn any_pending(&self) -> bool {
        self.pending.iter().any(|&p| p != 0)
    }

    pub fn name(&self, id: u16) -> &str {
        &self.names[id as usize]
    }
}

/// The function's name as `%pS` would print it (without the offset).
pub fn func_name(f: &CsdFunc) -> String {
    match f {
        CsdFunc::CompleteIdleDead(_) => "cpuhp_complete_idle_dead".into(),
        CsdFunc::SlabDrain(_) => "do_drain".into(),
        CsdFunc::Case(n) => n.to_string(),
    }
}

impl Kernel {
    /// `smp_call_function_single(cpu, func, info, wait)`.
    pub async fn smp_call_function_single(&self, cpu: usize, func: CsdFunc, wait: bool) -> i32 {
        self.preempt_disable();
        self.smp_call_checks();
        let csd = if wait {
            let mut s = self.s();
            let csd = s.smp.new_csd(func, CsdType::Sync);
            s.smp.csds[csd].locked = true;
            csd
        } else {
            let this = self.ctx().cpu;
            let csd = {
                let mut s = self.s();
                match s.smp.csd_data[this] {
                    Some(c) => c,
                    None => {
                        let c = s.smp.new_csd(func.clone(), CsdType::Async);
                        s.smp.csd_data[this] = Some(c);
                        c
                    }
                }
            };
            self.csd_lock(csd).await;
            self.s().smp.set_func(csd, func, CsdType::Async);
            csd
        };
        let err = self.generic_exec_single(cpu, csd, Api::Single).await;
        if wait {
            self.csd_lock_wait(csd).await;
        }
        self.preempt_enable();
        self.preemption_point().await;
        err
    }

    /// `smp_call_function_single_async(cpu, csd)` with the caller-owned CSD
    /// of `func` (one per function name).
    pub async fn smp_call_function_single_async(&self, cpu: usize, func: &str) -> i32 {
        self.preempt_disable();
        let csd = {
            let mut s = self.s();
            match s.smp.owned.iter().find(|(n, _)| &**n == func) {
                Some(&(_, c)) => c,
                None => {
                    let c = s.smp.new_csd(CsdFunc::Case(Arc::from(func)), CsdType::Async);
                    s.smp.owned.push((Arc::from(func), c));
                    c
                }
            }
        };
        let err = if self.s().smp.csds[csd].locked {
            -EBUSY
        } else {
            self.s().smp.csds[csd].locked = true;
            self.generic_exec_single(cpu, csd, Api::SingleAsync).await
        };
        self.preempt_enable();
        if !self.ctx().hardirq {
            self.preemption_point().await;
        }
        err
    }

    /// `on_each_cpu(func, info, wait)`: `smp_call_function_many_cond` over
    /// the online CPUs, the local CPU included, with preemption disabled.
    pub async fn on_each_cpu(&self, func: CsdFunc, wait: bool) {
        self.preempt_disable();
        let online = self.s().cpu.online;
        self.smp_call_function_many_cond(online, func, wait, true).await;
        self.preempt_enable();
        self.preemption_point().await;
    }

    /// `smp_call_function(func, info, wait)`: every other online CPU.
    pub async fn smp_call_function(&self, func: CsdFunc, wait: bool) {
        self.preempt_disable();
        let online = self.s().cpu.online;
        self.smp_call_function_many_cond(online, func, wait, false).await;
        self.preempt_enable();
        self.preemption_point().await;
    }

    /// `smp_call_function_many(mask, func, info, wait)`: the caller must
    /// have preemption disabled.
    pub async fn smp_call_function_many(&self, mask: CpuMask, func: CsdFunc, wait: bool) {
        self.smp_call_function_many_cond(mask, func, wait, false).await;
    }

    /// `smp_call_function_many_cond()` without a condition function.
    async fn smp_call_function_many_cond(&self, mask: CpuMask, func: CsdFunc, wait: bool, run_local: bool) {
        let ctx = self.ctx();
        let this = ctx.cpu;
        const SITE: &str = "kernel/smp.c:smp_call_function_many_cond";
        if ctx.preempt_count == 0 {
            self.splat_once(SplatKind::Lockdep, SITE, "lockdep_assert_preemption_disabled() (CONFIG_PROVE_LOCKING)");
        }
        if self.s().cpu.online.test(this) && ctx.irqs_disabled {
            self.splat_once(SplatKind::Lockdep, SITE, "lockdep_assert_irqs_enabled() (CONFIG_PROVE_LOCKING)");
        }
        if ctx.hardirq {
            self.warn_once("kernel/smp.c:smp_call_function_many_cond", "WARN_ON_ONCE(!in_task())", false);
        }
        let mut targets = mask & self.s().cpu.online;
        targets.clear(this);
        if !targets.is_empty() {
            if !self.s().smp.cfd.test(this) {
                let title = format!(
                    "BUG: kernel NULL pointer dereference, address: 0000000000000000 (RIP: smp_call_function_many_cond: cfd_data of CPU{this} is not allocated)"
                );
                self.splat(SplatKind::Oops, "kernel/smp.c", title, false);
                self.die().await;
            }
            self.queue_many(this, targets, &func, wait).await;
        }
        if run_local && mask.test(this) {
            let saved = self.local_irq_save();
            let csd = {
                let mut s = self.s();
                s.smp.new_csd(func.clone(), CsdType::Sync)
            };
            self.run_csd(csd, Via::Local).await;
            self.local_irq_restore(saved);
        }
        if wait {
            for cpu in targets.iter() {
                let csd = self.s().smp.cfd_csd[this][cpu];
                if let Some(csd) = csd {
                    self.csd_lock_wait(csd).await;
                }
            }
        }
    }

    /// The queueing loop of `smp_call_function_many_cond`, then one IPI to a
    /// single CPU or one to the mask of CPUs whose queue was empty.
    async fn queue_many(&self, this: usize, targets: CpuMask, func: &CsdFunc, wait: bool) {
        let mut ipi = CpuMask::empty();
        for cpu in targets.iter() {
            let csd = {
                let mut s = self.s();
                match s.smp.cfd_csd[this][cpu] {
                    Some(c) => c,
                    None => {
                        let c = s.smp.new_csd(func.clone(), CsdType::Async);
                        s.smp.cfd_csd[this][cpu] = Some(c);
                        c
                    }
                }
            };
            self.csd_lock(csd).await;
            let kind = if wait { CsdType::Sync } else { CsdType::Async };
            self.s().smp.set_func(csd, func.clone(), kind);
            if self.llist_add(cpu, csd, Api::Many) {
                ipi.set(cpu);
            }
        }
        match ipi.weight() {
            0 => {}
            1 => crate::arch::x86::smp::send_call_function_single_ipi(self, ipi.first().expect("one CPU")),
            _ => crate::arch::x86::smp::send_call_function_ipi_mask(self, ipi),
        }
    }

    /// The `WARN_ON_ONCE`s at the top of `smp_call_function_single`.
    fn smp_call_checks(&self) {
        let ctx = self.ctx();
        let online = self.s().cpu.online.test(ctx.cpu);
        if online && ctx.irqs_disabled {
            self.warn_once(
                "kernel/smp.c:smp_call_function_single",
                "WARN_ON_ONCE(cpu_online(this_cpu) && irqs_disabled() && !oops_in_progress)",
                false,
            );
        }
        if ctx.hardirq {
            self.warn_once("kernel/smp.c:smp_call_function_single", "WARN_ON_ONCE(!in_task())", false);
        }
    }

    /// `generic_exec_single()`.
    async fn generic_exec_single(&self, cpu: usize, csd: CsdId, api: Api) -> i32 {
        let this = self.ctx().cpu;
        if cpu == this {
            self.csd_unlock(csd);
            let saved = self.local_irq_save();
            self.run_csd(csd, Via::Local).await;
            self.local_irq_restore(saved);
            return 0;
        }
        if cpu >= self.cfg.cpus || !self.s().cpu.online.test(cpu) {
            self.csd_unlock(csd);
            return -ENXIO;
        }
        if self.llist_add(cpu, csd, api) {
            crate::arch::x86::smp::send_call_function_single_ipi(self, cpu);
        }
        0
    }

    /// `llist_add(&csd->node.llist, &per_cpu(call_single_queue, cpu))`:
    /// whether the queue was empty, which is whether an IPI must go.
    fn llist_add(&self, cpu: usize, csd: CsdId, api: Api) -> bool {
        let mut s = self.s();
        let first = s.smp.queue[cpu].is_empty();
        s.smp.queue[cpu].push(csd);
        let c = &mut s.smp.csds[csd];
        c.queued += 1;
        c.on = Some(cpu);
        let (name, sync) = (c.name, c.kind == CsdType::Sync);
        let from = s.tasks[s.current].ctx.cpu as u16;
        s.record(Event::CsdQueue { name, from, to: cpu as u16, api, sync, ipi: first });
        first
    }

    /// `csd_lock()`: spins while the CSD is in flight, then takes it.
    async fn csd_lock(&self, csd: CsdId) {
        self.csd_lock_wait(csd).await;
        self.s().smp.csds[csd].locked = true;
    }

    /// `csd_lock_wait()`: spins until the CSD is unlocked.
    async fn csd_lock_wait(&self, csd: CsdId) {
        self.block(Wait::CsdLock(csd)).await;
    }

    /// `csd_unlock()`.
    fn csd_unlock(&self, csd: CsdId) {
        let locked = std::mem::replace(&mut self.s().smp.csds[csd].locked, false);
        if !locked {
            self.splat(
                SplatKind::Warning,
                "kernel/smp.c:csd_unlock",
                "WARN_ON(!(csd->node.u_flags & CSD_FLAG_LOCK))".into(),
                false,
            );
        }
    }

    /// `__flush_smp_call_function_queue(warn_cpu_offline)`.
    pub async fn flush_smp_call_function_queue(&self, warn_cpu_offline: bool, via: Via) {
        let ctx = self.ctx();
        let cpu = ctx.cpu;
        if !ctx.irqs_disabled {
            self.splat(
                SplatKind::Lockdep,
                "kernel/smp.c:__flush_smp_call_function_queue",
                "lockdep_assert_irqs_disabled() (CONFIG_PROVE_LOCKING)".into(),
                false,
            );
        }
        let entries = std::mem::take(&mut self.s().smp.queue[cpu]);
        let offline = !self.s().cpu.online.test(cpu);
        // regression: smp-no-flush-on-dying (its warning replaces this one)
        let old_warning = self.cfg.has(Regression::SmpNoFlushOnDying);
        if warn_cpu_offline && offline && !entries.is_empty() && !old_warning && !self.s().smp.warned {
            self.s().smp.warned = true;
            self.splat(
                SplatKind::Warning,
                "kernel/smp.c:__flush_smp_call_function_queue",
                format!("IPI on offline CPU {cpu}"),
                false,
            );
            for &c in &entries {
                let name = func_name(&self.s().smp.csds[c].func);
                self.log(format!("IPI callback {name} sent to offline CPU"));
            }
        }
        for pass in [CsdType::Sync, CsdType::Async] {
            for &c in &entries {
                if self.s().smp.csds[c].kind != pass {
                    continue;
                }
                if pass == CsdType::Async {
                    self.csd_unlock(c);
                }
                self.s().smp.csds[c].on = None;
                self.s().smp.csds[c].ran += 1;
                self.run_csd(c, via).await;
                if pass == CsdType::Sync {
                    self.csd_unlock(c);
                }
            }
        }
    }

    /// Runs a CSD's function on the current CPU.
    async fn run_csd(&self, csd: CsdId, via: Via) {
        let cpu = self.ctx().cpu;
        let (func, name) = {
            let s = self.s();
            (s.smp.csds[csd].func.clone(), s.smp.csds[csd].name)
        };
        self.trace(Event::CsdRun { name, cpu: cpu as u16, via });
        let gone = self.s().smp.gone.test(cpu);
        if gone && via != Via::Dying {
            let n = func_name(&func);
            let how = if via == Via::Ipi { "from a late IPI" } else { "locally" };
            let v = format!("callback {n}() ran on CPU{cpu} {how}, after CPU{cpu} went offline");
            self.s().smp.violations.push(v);
        }
        match func {
            CsdFunc::CompleteIdleDead(c) => {
                let done = self.s().cpu.cpuhp[c].done_down;
                self.complete(done);
            }
            CsdFunc::SlabDrain(cache) => self.do_drain(cache, cpu).await,
            CsdFunc::Case(_) => {}
        }
    }

    /// The IPI handler's body: `generic_smp_call_function_single_interrupt()`.
    pub async fn generic_smp_call_function_single_interrupt(&self) {
        let cpu = self.ctx().cpu;
        // regression: smp-no-flush-on-dying
        if self.cfg.has(Regression::SmpNoFlushOnDying) && !self.s().cpu.online.test(cpu) {
            // Before 3.16: any IPI on an offline CPU warns, once.
            self.warn_once(
                "kernel/smp.c:generic_smp_call_function_single_interrupt",
                "WARN_ON_ONCE(!cpu_online(smp_processor_id())): IPI on offline CPU",
                false,
            );
        }
        self.flush_smp_call_function_queue(true, Via::Ipi).await;
    }

    /// `smpcfd_prepare_cpu()`: the CPU's `cfd_data`.
    /// Each allocation can fail (`-ENOMEM`, a failpoint inside the body);
    /// the error path frees what it had.
    pub fn smpcfd_prepare_cpu(&self, cpu: usize) -> i32 {
        use crate::fault::Callee::{AllocPercpu, ZallocCpumaskVarNode};
        let state = self.profile.enums.get("CPUHP_SMPCFD_PREPARE").copied().unwrap_or(0);
        for (had, callee) in [ZallocCpumaskVarNode, ZallocCpumaskVarNode, AllocPercpu].into_iter().enumerate() {
            if let Some(err) = self.callee_fails(cpu, true, state, callee, &format!("CPU{cpu}")) {
                // free_cpumask_var() of what this call allocated.
                // regression: synthetic-smpcfd-unwind-leaks
                if !self.cfg.has(Regression::SyntheticSmpcfdUnwindLeaks) {
                    self.s().smp.cfd_allocs[cpu] -= had as i32;
                }
                return err;
            }
            self.s().smp.cfd_allocs[cpu] += 1;
        }
        self.s().smp.cfd.set(cpu);
        0
    }

    /// `smpcfd_dead_cpu()`.
    pub fn smpcfd_dead_cpu(&self, cpu: usize) -> i32 {
        let mut s = self.s();
        s.smp.cfd.clear(cpu);
        // free_cpumask_var() twice, free_percpu().
        s.smp.cfd_allocs[cpu] -= CFD_ALLOCS;
        0
    }

    /// `smpcfd_dying_cpu()`: run whatever other CPUs queued here, without
    /// waiting for their IPIs, which may arrive only after this CPU is dead.
    pub async fn smpcfd_dying_cpu(&self, _cpu: usize) -> i32 {
        // regression: smp-no-flush-on-dying
        if !self.cfg.has(Regression::SmpNoFlushOnDying) {
            self.flush_smp_call_function_queue(false, Via::Dying).await;
        }
        0
    }

    /// After `take_cpu_down`: the CPU is offline and nothing will run its
    /// queue before it dies.
    pub fn smp_cpu_gone(&self, cpu: usize) {
        let mut s = self.s();
        s.smp.gone.set(cpu);
        let left: Vec<String> = s.smp.queue[cpu].iter().map(|&c| func_name(&s.smp.csds[c].func)).collect();
        for f in left {
            let v = format!(
                "callback {f}() was still queued on CPU{cpu} when take_cpu_down() finished: CPU{cpu} is offline and no flush will run it"
            );
            s.smp.violations.push(v);
        }
    }

    /// When a CPU reaches `CPUHP_OFFLINE`, its queue must be empty.
    pub fn smp_check_offline(&self, cpu: usize) {
        let mut s = self.s();
        let left: Vec<String> = s.smp.queue[cpu].iter().map(|&c| func_name(&s.smp.csds[c].func)).collect();
        for f in left {
            let v = format!("CPU{cpu} reached CPUHP_OFFLINE with callback {f}() still queued");
            if !s.smp.violations.contains(&v) {
                s.smp.violations.push(v);
            }
        }
    }
}

/// The IPI invariants of a run: what broke while it ran, and, if `settled`
/// (it finished), that every queued callback ran exactly once and nothing
/// is left queued. In a deadlocked run the calls the deadlock holds up are
/// its consequence, not a second finding.
pub fn check(s: &super::KState, settled: bool) -> Vec<String> {
    let mut v = s.smp.violations.clone();
    if !settled {
        return v;
    }
    for (cpu, q) in s.smp.queue.iter().enumerate() {
        for &c in q {
            let f = func_name(&s.smp.csds[c].func);
            let state = if s.smp.powered.test(cpu) { "" } else { " (the CPU is dead)" };
            v.push(format!("callback {f}() queued on CPU{cpu} never ran{state}"));
        }
    }
    for c in &s.smp.csds {
        let queued_now = u32::from(c.on.is_some());
        if c.ran + queued_now != c.queued {
            v.push(format!(
                "callback {}() was queued {} time(s) but ran {} time(s)",
                func_name(&c.func),
                c.queued,
                c.ran
            ));
        }
    }
    v
}
