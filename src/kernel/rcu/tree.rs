//! `kernel/rcu/tree.c` (6.1.192): RCU's own view of which CPUs are up, what
//! CPU hotplug does to it, and grace periods that wait for those CPUs.
//!
//! Per CPU, `struct rcu_data`: `cpu_started`, `beenonline`, whether the
//! callback list is enabled, and the callbacks queued there. For the leaf
//! `rcu_node` (the model has one, whatever the CPU count), `qsmaskinitnext`
//! (the CPUs RCU counts online), `qsmaskinit` and `qsmask` of the grace
//! period in progress, `expmaskinitnext` and `ffmask`; `rcu_state.ncpus` and
//! `n_online_cpus`. The hotplug paths are 6.1's: `rcutree_prepare_cpu`,
//! `rcu_cpu_starting` (from `notify_cpu_starting`), `rcutree_online_cpu`,
//! `rcutree_offline_cpu`, `rcutree_dying_cpu`, `rcu_report_dead` (from
//! `cpuhp_report_idle_dead`), `rcutree_migrate_callbacks` (from
//! `takedown_cpu`) and `rcutree_dead_cpu`, each under its kernel name.
//!
//! Grace periods run in `rcu_preempt`, the grace-period kthread
//! (`rcu_gp_kthread`): `rcu_gp_init` snapshots `qsmaskinitnext` into
//! `qsmaskinit` and `qsmask`, each force-quiescent-state pass
//! (`rcu_gp_fqs`) clears the CPUs that have passed a quiescent state since
//! (a CPU passes one whenever nothing on it runs with IRQs or preemption
//! disabled: a context switch, idle), and `rcu_gp_cleanup` ends the grace
//! period and invokes the callbacks it made ready. `call_rcu` queues on the
//! calling CPU (`__call_rcu`); `synchronize_rcu` is `wait_rcu_gp`: a
//! `wakeme_after_rcu` callback queued on the calling CPU and a completion,
//! so a caller's callback migrates with its CPU's list when that CPU goes
//! down. A grace period that waits for a CPU that can never pass a quiescent
//! state (one RCU still counts after it died) never ends: the run stops
//! with the outcome "RCU stall".
//!
//! The kernel's own background `call_rcu()` users (there are always some)
//! are a flag, not callbacks: a CPU that has been online has callbacks of
//! the kernel's queued, so `rcutree_migrate_callbacks` always finds a
//! non-empty list on a CPU that was up and disables it, as on the real
//! kernel (docs/real-kernel.md). The grace-period kthread exists only in a
//! case that uses an RCU operation; elsewhere no callback of the case waits.
//!
//! Left out: the multi-level `rcu_node` tree and `rcu_cleanup_dead_rnp`,
//! expedited grace periods (`rcu_report_exp_rdp`, `sync_sched_exp_online_cleanup`),
//! preempted readers (`rcu_preempt_deferred_qs`, blocked-task lists),
//! no-CBs CPUs, boost kthreads (`rcu_boost_kthread_setaffinity`), the tick
//! dependency, `rcu_barrier`, time (jiffies, the stall timeout) and the
//! callback segments (a callback here only knows the grace period it needs).

use crate::kernel::trace::SplatKind;
use crate::kernel::{KState, Kernel, Regression, Wait};
use crate::sim::CpuMask;
use crate::sim::lock::CompletionId;

/// What a queued callback does when it is invoked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CbFunc {
    /// A `call_rcu()` of the case: counted when it runs.
    Case,
    /// `wakeme_after_rcu()`: completes a `synchronize_rcu()` caller's wait.
    Wakeme(CompletionId),
}

impl CbFunc {
    /// What the trace calls it.
    fn name(self) -> &'static str {
        match self {
            CbFunc::Case => "the case's callback",
            CbFunc::Wakeme(_) => "wakeme_after_rcu",
        }
    }
}

/// One queued `struct rcu_head`: what it runs, and the grace period that
/// must end before it may (`rcu_seq_snap`).
#[derive(Clone, Copy, Debug)]
pub struct RcuHead {
    pub func: CbFunc,
    pub need: u64,
}

/// `struct rcu_data`, per CPU: the parts hotplug touches.
#[derive(Clone, Debug, Default)]
pub struct RcuData {
    /// `rdp->cpu_started`: between `rcu_cpu_starting` and `rcu_report_dead`.
    pub cpu_started: bool,
    /// `rdp->beenonline`.
    pub beenonline: bool,
    /// `rcu_segcblist_is_enabled(&rdp->cblist)`.
    pub cblist_enabled: bool,
    /// The kernel's own callbacks are queued here (module doc).
    pub kernel_cbs: bool,
    /// The case's callbacks queued here, oldest first.
    pub cbs: Vec<RcuHead>,
}

/// A grace period in progress.
#[derive(Clone, Debug)]
pub struct Gp {
    /// `rnp->qsmaskinit` as `rcu_gp_init` set it.
    pub qsmaskinit: CpuMask,
    /// `rnp->qsmask`: the CPUs it still waits for.
    pub qsmask: CpuMask,
}

/// RCU's hotplug-facing state.
#[derive(Clone, Debug)]
pub struct RcuState {
    pub rda: Vec<RcuData>,
    /// `rnp->qsmaskinitnext`: the CPUs grace periods will wait for.
    pub qsmaskinitnext: CpuMask,
    /// `rnp->expmaskinitnext`: every CPU that ever started.
    pub expmaskinitnext: CpuMask,
    /// `rnp->ffmask`: the CPUs past `rcutree_online_cpu`.
    pub ffmask: CpuMask,
    /// `rcu_state.ncpus`.
    pub ncpus: u32,
    /// `rcu_state.n_online_cpus`: CPUs between `rcutree_prepare_cpu` and
    /// `rcutree_dead_cpu`.
    pub n_online_cpus: u32,
    /// Grace periods completed (`rcu_seq_ctr(rcu_state.gp_seq)`).
    pub completed: u64,
    pub gp: Option<Gp>,
    /// The case's callbacks queued and invoked, for "no callback is lost".
    pub queued: u64,
    pub invoked: u64,
}

impl RcuState {
    /// `rcu_init()`: the boot CPU is prepared, started and online
    /// (`rcutree_prepare_cpu`, `rcu_cpu_starting`, `rcutree_online_cpu` for
    /// `smp_processor_id()`); every other CPU's list is not set up yet.
    pub fn new(cpus: usize) -> RcuState {
        let mut rda = vec![RcuData::default(); cpus];
        rda[0] =
            RcuData { cpu_started: true, beenonline: true, cblist_enabled: true, kernel_cbs: true, cbs: Vec::new() };
        RcuState {
            rda,
            qsmaskinitnext: CpuMask::of(0),
            expmaskinitnext: CpuMask::of(0),
            ffmask: CpuMask::of(0),
            ncpus: 1,
            n_online_cpus: 1,
            completed: 0,
            gp: None,
            queued: 0,
            invoked: 0,
        }
    }

    /// The grace period a callback queued now needs: one that starts after
    /// it (`rcu_seq_snap`).
    fn snap(&self) -> u64 {
        self.completed + 1 + u64::from(self.gp.is_some())
    }

    /// An online CPU holds a callback whose grace period has ended: its
    /// `rcu_core()` (RCU_SOFTIRQ) has work.
    fn ready(&self, online: CpuMask) -> bool {
        online.iter().any(|c| self.rda[c].cbs.iter().any(|h| h.need <= self.completed))
    }

    /// Some queued callback needs a grace period that has not started.
    fn gp_needed(&self) -> bool {
        let started = self.completed + u64::from(self.gp.is_some());
        self.rda.iter().flat_map(|r| &r.cbs).any(|h| h.need > started)
    }

    /// Whether the final state prints it: in a case that uses RCU (`used`),
    /// or where it differs from what the online mask alone implies.
    pub fn remarkable(&self, used: bool, online: CpuMask) -> bool {
        used || self.qsmaskinitnext != online
            || online.iter().any(|c| !self.rda[c].cblist_enabled)
            || self.rda.iter().any(|r| !r.cbs.is_empty())
    }
}

/// Whether `cpu` passes a quiescent state now: it is running, and nothing on
/// it stopped mid-execution with IRQs or preemption disabled.
fn quiescent_now(s: &KState, cpu: usize) -> bool {
    s.smp.powered.test(cpu)
        && !s.tasks.iter().any(|t| {
            t.ctx.cpu == cpu
                && !t.finished
                && !t.died
                && t.wait.is_none_or(|w| w == Wait::Yield || w.spins())
                && !t.ctx.sleepable()
        })
}

/// Whether the grace-period kthread has something to do.
pub fn gp_work(s: &KState) -> bool {
    let r = &s.rcu;
    if r.ready(s.cpu.online) {
        return true;
    }
    match &r.gp {
        None => r.gp_needed(),
        Some(gp) => {
            gp.qsmask.is_empty()
                || !gp.qsmask.is_subset_of(r.qsmaskinitnext)
                || gp.qsmask.iter().any(|c| quiescent_now(s, c))
        }
    }
}

/// The CPUs a grace period in progress waits for and that cannot pass a
/// quiescent state now, for the stall report.
pub fn stalled_on(s: &KState) -> Option<String> {
    let gp = s.rcu.gp.as_ref()?;
    let cpus: Vec<String> = gp
        .qsmask
        .iter()
        .map(|c| if s.smp.powered.test(c) { format!("{c}") } else { format!("{c} (dead, still counted by RCU)") })
        .collect();
    Some(format!(
        "RCU stall: rcu_preempt detected stalls on CPUs/tasks: {{ {} }} (grace period {})",
        cpus.join(" "),
        s.rcu.completed + 1
    ))
}

impl Kernel {
    /// `rcutree_prepare_cpu()`: the `CPUHP_RCUTREE_PREP` startup.
    pub fn rcutree_prepare_cpu(&self, cpu: usize) -> i32 {
        let mut s = self.s();
        let rdp = &mut s.rcu.rda[cpu];
        // "Only non-NOCB CPUs that didn't have early-boot callbacks need to
        // be (re-)initialized."
        // regression: synthetic-rcu-prepare-no-reenable
        if !rdp.cblist_enabled && !self.cfg.has(Regression::SyntheticRcuPrepareNoReenable) {
            rdp.cblist_enabled = true;
        }
        s.rcu.n_online_cpus += 1;
        0
    }

    /// `rcutree_dead_cpu()`: the `CPUHP_RCUTREE_PREP` teardown.
    pub fn rcutree_dead_cpu(&self, _cpu: usize) -> i32 {
        if !self.cfg.hotplug_cpu {
            return 0; // !IS_ENABLED(CONFIG_HOTPLUG_CPU)
        }
        let mut s = self.s();
        s.rcu.n_online_cpus -= 1;
        0
    }

    /// `rcutree_online_cpu()`: the `CPUHP_AP_RCUTREE_ONLINE` startup.
    pub fn rcutree_online_cpu(&self, cpu: usize) -> i32 {
        let mut s = self.s();
        s.rcu.ffmask.set(cpu);
        // From here the kernel's own call_rcu() users queue work on it.
        let rdp = &mut s.rcu.rda[cpu];
        rdp.kernel_cbs = rdp.cblist_enabled;
        0
    }

    /// `rcutree_offline_cpu()`: the `CPUHP_AP_RCUTREE_ONLINE` teardown.
    pub fn rcutree_offline_cpu(&self, cpu: usize) -> i32 {
        self.s().rcu.ffmask.clear(cpu);
        0
    }

    /// `rcutree_dying_cpu()`: the `CPUHP_AP_RCUTREE_DYING` teardown, on the
    /// dying CPU; in 6.1 it only traces whether a grace period waits for it.
    pub fn rcutree_dying_cpu(&self, _cpu: usize) -> i32 {
        0
    }

    /// `rcu_cpu_starting()`: on the incoming CPU, IRQs off, from
    /// `notify_cpu_starting` before the STARTING callbacks.
    pub fn rcu_cpu_starting(&self, cpu: usize) {
        if !self.ctx().irqs_disabled {
            self.splat_once(
                SplatKind::Lockdep,
                "kernel/rcu/tree.c:rcu_cpu_starting",
                "lockdep_assert_irqs_disabled() (CONFIG_PROVE_LOCKING)",
            );
        }
        let blocking = {
            let mut s = self.s();
            if s.rcu.rda[cpu].cpu_started {
                return;
            }
            s.rcu.rda[cpu].cpu_started = true;
            s.rcu.qsmaskinitnext.set(cpu);
            let newcpu = !s.rcu.expmaskinitnext.test(cpu);
            s.rcu.expmaskinitnext.set(cpu);
            s.rcu.ncpus += u32::from(newcpu);
            s.rcu.rda[cpu].beenonline = true;
            s.rcu.gp.as_ref().is_some_and(|gp| gp.qsmask.test(cpu))
        };
        if blocking {
            // "An incoming CPU should never be blocking a grace period."
            self.warn_once("kernel/rcu/tree.c:rcu_cpu_starting", "WARN_ON_ONCE(rnp->qsmask & mask)", false);
            self.rcu_report_qs(cpu);
        }
    }

    /// `rcu_report_dead()`: the outgoing CPU's idle task, from
    /// `cpuhp_report_idle_dead`, takes itself out of RCU's view.
    pub fn rcu_report_dead(&self, cpu: usize) {
        // regression: synthetic-rcu-report-dead-skipped
        if self.cfg.has(Regression::SyntheticRcuReportDeadSkipped) {
            return;
        }
        // "Report quiescent state -before- changing ->qsmaskinitnext!"
        self.rcu_report_qs(cpu);
        let mut s = self.s();
        s.rcu.qsmaskinitnext.clear(cpu);
        s.rcu.rda[cpu].cpu_started = false;
    }

    /// `rcutree_migrate_callbacks()`: from `takedown_cpu` on the CPU running
    /// the offline, after the CPU is dead: its callbacks move to this CPU's
    /// list, and its own list is disabled until `rcutree_prepare_cpu`.
    pub fn rcutree_migrate_callbacks(&self, cpu: usize) {
        let here = self.ctx().cpu;
        let online = {
            let s = self.s();
            let rdp = &s.rcu.rda[cpu];
            if rdp.cbs.is_empty() && !rdp.kernel_cbs {
                return; // "No callbacks to migrate."
            }
            s.rcu.qsmaskinitnext.test(cpu)
        };
        if online {
            self.warn_once(
                "kernel/rcu/tree.c:rcutree_migrate_callbacks",
                "WARN_ON_ONCE(rcu_rdp_cpu_online(rdp))",
                false,
            );
        }
        let mut s = self.s();
        let moved = std::mem::take(&mut s.rcu.rda[cpu].cbs);
        // regression: synthetic-rcu-migrate-drops-callbacks
        if !self.cfg.has(Regression::SyntheticRcuMigrateDropsCallbacks) {
            s.rcu.rda[here].cbs.extend(moved);
        }
        s.rcu.rda[here].kernel_cbs |= s.rcu.rda[cpu].kernel_cbs;
        s.rcu.rda[cpu].kernel_cbs = false;
        s.rcu.rda[cpu].cblist_enabled = false;
    }

    /// `__call_rcu()` on the calling CPU.
    pub fn call_rcu(&self, func: CbFunc) {
        let cpu = self.ctx().cpu;
        let enabled = self.s().rcu.rda[cpu].cblist_enabled;
        if !enabled {
            // "This can trigger due to call_rcu() from offline CPU."
            self.warn_once(
                "kernel/rcu/tree.c:__call_rcu",
                "WARN_ON_ONCE(rcu_scheduler_active != RCU_SCHEDULER_INACTIVE) (call_rcu() on a CPU whose callback list is disabled)",
                false,
            );
        }
        let mut s = self.s();
        let need = s.rcu.snap();
        let rdp = &mut s.rcu.rda[cpu];
        if !rdp.cblist_enabled && rdp.cbs.is_empty() && !rdp.kernel_cbs {
            rdp.cblist_enabled = true; // rcu_segcblist_init()
        }
        rdp.cbs.push(RcuHead { func, need });
        if func == CbFunc::Case {
            s.rcu.queued += 1;
        }
    }

    /// `synchronize_rcu()` as 6.1 runs it once the scheduler is up:
    /// `wait_rcu_gp(call_rcu_hurry)`.
    pub async fn synchronize_rcu(&self) {
        let done = self.s().locks.add_completion();
        self.call_rcu(CbFunc::Wakeme(done));
        self.wait_for_completion(done).await;
    }

    /// The grace-period kthread, `rcu_preempt` (`rcu_gp_kthread`).
    pub async fn rcu_gp_kthread(&self) {
        loop {
            self.block(Wait::RcuGp).await;
            self.follow_online();
            if self.rcu_core() {
                continue;
            }
            let started = self.s().rcu.gp.is_some();
            if started {
                self.rcu_gp_fqs();
            } else {
                self.rcu_gp_init();
            }
        }
    }

    /// The kthread is not bound: it runs on an online CPU.
    fn follow_online(&self) {
        let mut s = self.s();
        let cur = s.current;
        let cpu = s.tasks[cur].ctx.cpu;
        if !s.cpu.online.test(cpu)
            && let Some(to) = s.cpu.online.first()
        {
            s.tasks[cur].ctx.cpu = to;
        }
    }

    /// `rcu_gp_init()`: the new grace period waits for the CPUs RCU counts
    /// now.
    fn rcu_gp_init(&self) {
        let (n, waits) = {
            let mut s = self.s();
            let next = s.rcu.qsmaskinitnext;
            s.rcu.gp = Some(Gp { qsmaskinit: next, qsmask: next });
            (s.rcu.completed + 1, next)
        };
        self.note(format!("rcu_preempt: grace period {n} starts, waiting for CPUs {waits}"));
    }

    /// `rcu_gp_fqs()`: the CPUs that passed a quiescent state report it,
    /// and one RCU counts offline is complained about and let go
    /// (`rcu_implicit_dynticks_qs`). The last report ends the grace period.
    fn rcu_gp_fqs(&self) {
        let (quiet, gone) = {
            let s = self.s();
            let gp = s.rcu.gp.as_ref().expect("a grace period is in progress");
            let quiet: Vec<usize> = gp.qsmask.iter().filter(|&c| quiescent_now(&s, c)).collect();
            let gone: Vec<usize> = gp.qsmask.iter().filter(|&c| !s.rcu.qsmaskinitnext.test(c)).collect();
            (quiet, gone)
        };
        if !gone.is_empty() {
            self.warn_once(
                "kernel/rcu/tree.c:rcu_implicit_dynticks_qs",
                "WARN_ON_ONCE(!rcu_rdp_cpu_online(rdp)) (a grace period waits for a CPU RCU counts offline)",
                false,
            );
        }
        for c in quiet.into_iter().chain(gone) {
            self.rcu_report_qs(c);
        }
    }

    /// `rcu_report_qs_rnp()` for one CPU: clears its bit, and the last one
    /// ends the grace period.
    fn rcu_report_qs(&self, cpu: usize) {
        let empty = {
            let mut s = self.s();
            let Some(gp) = s.rcu.gp.as_mut() else { return };
            gp.qsmask.clear(cpu);
            gp.qsmask.is_empty()
        };
        if empty {
            self.rcu_gp_cleanup();
        }
    }

    /// `rcu_gp_cleanup()`: the grace period ends.
    fn rcu_gp_cleanup(&self) {
        let n = {
            let mut s = self.s();
            s.rcu.gp = None;
            s.rcu.completed += 1;
            s.rcu.completed
        };
        self.note(format!("rcu_preempt: grace period {n} ends"));
    }

    /// `rcu_core()` → `rcu_do_batch()` of every online CPU with callbacks
    /// whose grace period has ended (the model runs each CPU's RCU_SOFTIRQ
    /// work from the grace-period kthread). Whether any ran.
    fn rcu_core(&self) -> bool {
        let ready = {
            let mut s = self.s();
            let done = s.rcu.completed;
            let online = s.cpu.online;
            let mut ready = Vec::new();
            for c in online.iter() {
                let cbs = &mut s.rcu.rda[c].cbs;
                ready.extend(cbs.iter().filter(|h| h.need <= done).map(|h| (c, h.func)));
                cbs.retain(|h| h.need > done);
            }
            ready
        };
        for &(cpu, f) in &ready {
            self.note(format!("rcu_do_batch on CPU{cpu}: {}", f.name()));
            match f {
                CbFunc::Case => self.s().rcu.invoked += 1,
                CbFunc::Wakeme(done) => self.complete(done),
            }
        }
        !ready.is_empty()
    }
}

/// The `rcu` invariants of a run: no callback of the case is lost, and, at
/// rest, RCU's view of the CPUs is the kernel's. `dead_error` says whether a
/// CPU had a "DEAD callback error": 6.1 then leaves `CPUHP_RCUTREE_PREP`
/// done while `rcutree_migrate_callbacks` disabled the list, and the CPU
/// comes back online with it disabled (seen on the real kernel as the
/// `__call_rcu` warning). Without `CONFIG_HOTPLUG_CPU`, `rcutree_dead_cpu`
/// does not count a rolled-back CPU out of `n_online_cpus`.
pub fn check(s: &KState, settled: bool, hotplug_cpu: bool, dead_error: impl Fn(usize) -> bool) -> Vec<String> {
    let mut v = Vec::new();
    let r = &s.rcu;
    let pending = r.rda.iter().flat_map(|d| &d.cbs).filter(|h| h.func == CbFunc::Case).count() as u64;
    v.extend(crate::kernel::unaccounted("call_rcu() callback(s)", "invoked", "lost", r.queued, r.invoked, pending));
    if !settled {
        return v;
    }
    // A CPU whose rollback failed is wherever it stopped.
    let settled_cpus = |mut m: CpuMask| {
        s.cpu.creek.iter().for_each(|c| m.clear(c));
        m
    };
    let online = settled_cpus(s.cpu.online);
    if settled_cpus(r.qsmaskinitnext) != online {
        v.push(format!(
            "RCU counts CPUs {} online (qsmaskinitnext), the kernel {} (cpu_online_mask)",
            r.qsmaskinitnext, online
        ));
    }
    if let Some(prep) = s.cpu.state_named("RCU/tree:prepare")
        && hotplug_cpu
        && s.cpu.creek.is_empty()
    {
        let prepared = s.cpu.cpuhp.iter().filter(|st| st.state >= prep).count() as u32;
        if prepared != r.n_online_cpus {
            v.push(format!(
                "rcu_state.n_online_cpus is {}, but {prepared} CPU(s) are at or above CPUHP_RCUTREE_PREP",
                r.n_online_cpus
            ));
        }
    }
    if let Some(on) = s.cpu.state_named("RCU/tree:online") {
        let mut past = CpuMask::empty();
        for (c, st) in s.cpu.cpuhp.iter().enumerate() {
            past.assign(c, st.state >= on);
        }
        let past = settled_cpus(past);
        if settled_cpus(r.ffmask) != past {
            v.push(format!(
                "rnp->ffmask is {}, but the CPUs at or above CPUHP_AP_RCUTREE_ONLINE are {}",
                crate::report::mask(r.ffmask),
                crate::report::mask(past)
            ));
        }
    }
    for c in online.iter().filter(|&c| !r.rda[c].cblist_enabled && !dead_error(c)) {
        v.push(format!("CPU{c} is online with its RCU callback list disabled"));
    }
    for (c, d) in r.rda.iter().enumerate() {
        if !d.cbs.is_empty() && !online.test(c) {
            v.push(format!(
                "rcu_cleanup_dead_cpu: Callbacks on offline CPU {c}: qlen={} (never migrated)",
                d.cbs.len()
            ));
        }
    }
    v
}
