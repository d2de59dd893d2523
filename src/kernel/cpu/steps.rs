//! `kernel/cpu.c`, the data: `cpuhp_hp_states[]` (the step table, built
//! from the profile once per build), the per-CPU `struct cpuhp_cpu_state`,
//! the CPU masks, and the model's startup/teardown balance.
//!
//! The step table names each built-in callback's C function; [`Builtin`]
//! says which of them the model gives an effect (the rest succeed and touch
//! nothing). Left out: the `cpuhp_ap_states`/`cpuhp_bp_states` split of
//! older kernels (6.1 has one array) and the `CPU_HOTPLUG_STATE_CONTROL`
//! fields.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::sim::CpuMask;
use crate::sim::lock::{CompletionId, Locks};

use super::super::cpuhotplug::{Profile, State, StepTable};
use super::super::{Config, SmtCmdline, SmtControl};

/// `CPUHP_INVALID`.
pub const CPUHP_INVALID: i32 = -1;

/// Index into [`CpuState::instances`]: a `struct hlist_node` of a
/// multi-instance state.
pub type InstId = usize;

/// `struct cpuhp_cpu_state`.
#[derive(Clone, Debug)]
pub struct CpuhpCpuState {
    pub state: State,
    pub target: State,
    pub fail: i32,
    pub should_run: bool,
    pub rollback: bool,
    pub single: bool,
    pub bringup: bool,
    pub node: Option<InstId>,
    pub last: Option<InstId>,
    pub cb_state: State,
    pub result: i32,
    pub done_up: CompletionId,
    pub done_down: CompletionId,
    /// `kthread_park(st->thread)`.
    pub thread_parked: bool,
}

/// What a built-in callback does when it runs. Adding one (CONTRIBUTING.md,
/// "Where things go"): a variant here, its C name in [`builtin_of`], its
/// [`Calling`], and its body in `invoke.rs` (`run_builtin`, or
/// `invoke_one` for one that sleeps).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Builtin {
    BringupCpu,
    FinishCpu,
    TakedownCpu,
    SchedCpuActivate,
    SchedCpuDeactivate,
    SchedCpuWaitEmpty,
    SchedCpuDying,
    /// `kernel/smpboot.c`: `smpboot_create_threads`,
    /// `smpboot_unpark_threads`, `smpboot_park_threads`.
    SmpbootCreateThreads,
    SmpbootUnparkThreads,
    SmpbootParkThreads,
    /// The SLAB-era `CPUHP_SLAB_PREPARE` callbacks of the slab model.
    SlabPrepare,
    SlabDead,
    /// `kernel/smp.c`: `smpcfd_prepare_cpu`, `smpcfd_dead_cpu`,
    /// `smpcfd_dying_cpu`.
    SmpcfdPrepare,
    SmpcfdDead,
    SmpcfdDying,
    /// `kernel/rcu/tree.c`: `rcutree_prepare_cpu`, `rcutree_dead_cpu`,
    /// `rcutree_online_cpu`, `rcutree_offline_cpu`, `rcutree_dying_cpu`.
    RcutreePrepare,
    RcutreeDead,
    RcutreeOnline,
    RcutreeOffline,
    RcutreeDying,
    /// `mm/page_alloc.c`: `page_alloc_cpu_dead` (`CPUHP_PAGE_ALLOC`
    /// teardown). Its startup, `page_alloc_cpu_online`, recomputes the
    /// same pcp sizes in the model (they do not depend on the CPUs) and is
    /// left a `Nop`.
    PageAllocCpuDead,
    /// Any other built-in callback: it succeeds and touches nothing the
    /// model tracks.
    Nop,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CbBody {
    Builtin(Builtin),
    /// A callback of a loaded module: its behaviour is in the module's
    /// declaration.
    Module {
        module: usize,
        decl: usize,
    },
}

/// A startup or teardown function pointer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cb {
    /// The C function name, for the trace.
    pub func: Arc<str>,
    pub body: CbBody,
}

/// `struct cpuhp_step`.
#[derive(Clone, Debug, Default)]
pub struct CpuhpStep {
    pub name: Option<Arc<str>>,
    pub startup: Option<Cb>,
    pub teardown: Option<Cb>,
    pub cant_stop: bool,
    pub multi: bool,
    /// The instance list, head first (`hlist_add_head`: newest first).
    pub list: Vec<InstId>,
}

impl CpuhpStep {
    pub fn cb(&self, bringup: bool) -> Option<&Cb> {
        if bringup { self.startup.as_ref() } else { self.teardown.as_ref() }
    }

    /// `cpuhp_step_empty`.
    pub fn empty(&self, bringup: bool) -> bool {
        self.cb(bringup).is_none()
    }
}

/// A node on a multi-instance state's list.
#[derive(Clone, Debug)]
pub struct Instance {
    pub state: State,
    /// Its number within the state, for site names (`/inst2`).
    pub no: u32,
    pub name: String,
    /// The module that added it; `None` for built-in instances.
    pub module: Option<usize>,
}

/// The CPU hotplug half of the kernel's state.
#[derive(Clone, Debug)]
pub struct CpuState {
    pub cpuhp: Vec<CpuhpCpuState>,
    /// `cpuhp_hp_states[]`, indexed by state number. Shared with the
    /// profile's template until a registration writes to it.
    pub steps: Arc<Vec<CpuhpStep>>,
    pub instances: Vec<Instance>,
    pub possible: CpuMask,
    pub present: CpuMask,
    pub online: CpuMask,
    pub active: CpuMask,
    pub dying: CpuMask,
    /// `cpus_booted_once_mask`.
    pub booted_once: CpuMask,
    pub cpu_hotplug_disabled: u32,
    pub tasks_frozen: bool,
    pub smt_control: SmtControl,
    pub frozen_cpus: CpuMask,
    /// `dev->offline` of each CPU device: what `cpuN/online` reads.
    pub dev_offline: CpuMask,
    /// `per_cpu(cpu_sys_devices, cpu)` is set: the CPU's device is
    /// registered (`register_cpu`, drivers/base/cpu.c), so `cpuN` exists.
    /// `topology_init` registers every present CPU at boot.
    pub devices: CpuMask,
    /// `cpuN/hotplug/` exists: `cpuhp_sysfs_init` (a device_initcall,
    /// kernel/cpu.c) creates it for the CPU devices there are at boot, and
    /// nothing creates it for a device `register_cpu` adds later.
    pub hotplug_dir: CpuMask,
    /// `__cpu_up` asked the AP's idle task to start.
    pub boot_requested: CpuMask,
    /// Successful startups minus teardowns, per (state, instance, CPU), for
    /// states that have both.
    pub balance: Balance,
    /// Which states have a startup (`[1]`) or a teardown (`[0]`): a bitmap
    /// `cpuhp_next_state` can skip empty steps with.
    nonempty: [Vec<u64>; 2],
    /// A callback returned an error while its state machine was rolling back
    /// ("up a creek"): the kernel leaves such a CPU where it stopped.
    pub creek: CpuMask,
    /// STARTING/DYING callbacks that failed: the kernel carries on, so their
    /// startups and teardowns no longer pair up.
    pub nofail_failed: std::collections::BTreeSet<(State, usize)>,
}

impl CpuState {
    pub fn new(profile: &Profile, cfg: &Config, locks: &mut Locks) -> CpuState {
        let a = profile.a;
        let variant = usize::from(cfg.hotplug_cpu) | usize::from(cfg.slab) << 1;
        let (steps, instances, nonempty) =
            profile.step_table(variant, |p| build_steps(p, cfg.hotplug_cpu, cfg.slab)).clone();
        let cpuhp = (0..cfg.cpus)
            .map(|_| CpuhpCpuState {
                state: a.offline,
                target: a.offline,
                fail: CPUHP_INVALID,
                should_run: false,
                rollback: false,
                single: false,
                bringup: false,
                node: None,
                last: None,
                cb_state: 0,
                result: 0,
                done_up: locks.add_completion(),
                done_down: locks.add_completion(),
                thread_parked: true,
            })
            .collect();
        // `nosmp`/`maxcpus=0`: arch_disable_smp_support() leaves the APIC in
        // APIC_SYMMETRIC_IO_NO_ROUTING, so native_smp_prepare_cpus calls
        // disable_smp(): present and possible are CPU 0 alone
        // (arch/x86/kernel/smpboot.c).
        // Possible: the MADT's enabled and disabled entries
        // (`prefill_possible_map`); present: the enabled ones
        // (`generic_processor_info`, arch/x86/kernel/apic/apic.c).
        let (possible, present) = if cfg.max_cpus == Some(0) {
            (CpuMask::of(0), CpuMask::of(0))
        } else {
            (CpuMask::first_n(cfg.cpus), CpuMask::first_n(cfg.present.min(cfg.cpus)))
        };
        // `cpu_smt_control` starts CPU_SMT_ENABLED; the `nosmt` early
        // parameter runs `cpu_smt_disable()`, then `identify_boot_cpu()` →
        // `cpu_smt_check_topology()` makes it CPU_SMT_NOT_SUPPORTED unless
        // `topology_smt_supported()` (`smp_num_siblings > 1`) (kernel/cpu.c).
        let mut smt_control = match cfg.smt {
            SmtCmdline::None => SmtControl::Enabled,
            SmtCmdline::Nosmt => SmtControl::Disabled,
            SmtCmdline::Force => SmtControl::ForceDisabled,
        };
        if cfg.threads_per_core < 2 {
            smt_control = SmtControl::NotSupported;
        }
        let mut s = CpuState {
            cpuhp,
            steps,
            instances,
            possible,
            present,
            devices: present,
            hotplug_dir: present,
            online: CpuMask::empty(),
            active: CpuMask::empty(),
            dying: CpuMask::empty(),
            booted_once: CpuMask::empty(),
            cpu_hotplug_disabled: 0,
            tasks_frozen: false,
            smt_control,
            frozen_cpus: CpuMask::empty(),
            dev_offline: CpuMask::empty(),
            boot_requested: CpuMask::empty(),
            balance: Balance::new(cfg.cpus, a.online as usize + 1),
            nonempty,
            creek: CpuMask::empty(),
            nofail_failed: Default::default(),
        };
        s.boot_cpu_init(profile);
        s
    }

    /// Recomputes the empty-step bitmaps after callbacks changed.
    pub fn refresh_nonempty(&mut self) {
        self.nonempty = nonempty_bitmaps(&self.steps);
    }

    /// The step table for writing: copied from the template on first write.
    pub fn steps_mut(&mut self) -> &mut Vec<CpuhpStep> {
        Arc::make_mut(&mut self.steps)
    }

    /// The lowest state in `lo..=hi` with a callback for the direction.
    pub(super) fn next_nonempty(&self, bringup: bool, lo: usize, hi: usize) -> Option<usize> {
        let bits = &self.nonempty[usize::from(bringup)];
        let mut w = lo / 64;
        let mut word = bits[w] & (!0u64 << (lo % 64));
        loop {
            if word != 0 {
                let nr = w * 64 + word.trailing_zeros() as usize;
                return (nr <= hi).then_some(nr);
            }
            w += 1;
            if w * 64 > hi {
                return None;
            }
            word = bits[w];
        }
    }

    /// The highest state in `lo..=hi` with a callback for the direction.
    pub(super) fn prev_nonempty(&self, bringup: bool, lo: usize, hi: usize) -> Option<usize> {
        let bits = &self.nonempty[usize::from(bringup)];
        let mut w = hi / 64;
        let mut word = bits[w] & (!0u64 >> (63 - hi % 64));
        loop {
            if word != 0 {
                let nr = w * 64 + 63 - word.leading_zeros() as usize;
                return (nr >= lo).then_some(nr);
            }
            if w == 0 || w * 64 <= lo {
                return None;
            }
            w -= 1;
            word = bits[w];
        }
    }

    /// `boot_cpu_init` and `boot_cpu_hotplug_init`: CPU 0 is online and at
    /// `CPUHP_ONLINE`, with `target` left at 0 as in 6.1. Its startups never
    /// ran, so the balance starts at one for every state below ONLINE.
    fn boot_cpu_init(&mut self, profile: &Profile) {
        self.online.set(0);
        self.active.set(0);
        self.booted_once.set(0);
        self.cpuhp[0].state = profile.a.online;
        self.cpuhp[0].thread_parked = false;
        for nr in 0..self.steps.len() {
            let st = &self.steps[nr];
            if st.startup.is_none() || st.teardown.is_none() {
                continue;
            }
            if st.multi {
                for &i in &st.list {
                    self.balance.add(nr as State, Some(i), 0, 1);
                }
            } else {
                self.balance.add(nr as State, None, 0, 1);
            }
        }
    }

    /// `cpuhp/N` has work and is not parked.
    pub fn threads_ready(&self, cpu: usize) -> bool {
        let st = &self.cpuhp[cpu];
        st.should_run && !st.thread_parked
    }

    /// The state number of a step name, if it is registered.
    pub fn state_named(&self, name: &str) -> Option<State> {
        self.steps.iter().position(|s| s.name.as_deref() == Some(name)).map(|p| p as State)
    }
}

/// How the model calls a built-in callback.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Calling {
    /// It succeeds and touches nothing another task can see: the synchronous
    /// twin calls nothing, and the explorer puts no preemption point before it.
    Inert,
    /// It cannot sleep and changes only what no other task reads (the
    /// checks read it at rest): the synchronous twin runs it, and, as for
    /// `Inert`, the explorer puts no preemption point before it.
    Private,
    /// It cannot sleep: the synchronous twin runs it (`run_builtin`).
    Sync,
    /// Like `Sync`, but what it changes only the case's RCU operations read:
    /// it is a preemption point only in a case that has them.
    Rcu,
    /// Like `Sync`, but what it changes is the memory model's pcplists: it
    /// is a preemption point only when the CPU has pages on one.
    Mem,
    /// It can sleep: only the `async` path runs it (`invoke_one`).
    Sleeps,
}

impl Builtin {
    /// How it is called. Exhaustive, so a new callback must say.
    pub fn calling(self) -> Calling {
        match self {
            Builtin::FinishCpu | Builtin::Nop => Calling::Inert,
            Builtin::SchedCpuActivate
            | Builtin::SchedCpuDeactivate
            | Builtin::SchedCpuDying
            | Builtin::SmpcfdPrepare
            | Builtin::SmpcfdDead => Calling::Sync,
            // rcutree_dying_cpu() only traces in 6.1.
            Builtin::RcutreeDying => Calling::Inert,
            Builtin::SmpbootCreateThreads | Builtin::SmpbootUnparkThreads | Builtin::SmpbootParkThreads => {
                Calling::Private
            }
            Builtin::RcutreePrepare | Builtin::RcutreeDead | Builtin::RcutreeOnline | Builtin::RcutreeOffline => {
                Calling::Rcu
            }
            Builtin::PageAllocCpuDead => Calling::Mem,
            Builtin::BringupCpu
            | Builtin::TakedownCpu
            | Builtin::SlabPrepare
            | Builtin::SlabDead
            | Builtin::SchedCpuWaitEmpty
            | Builtin::SmpcfdDying => Calling::Sleeps,
        }
    }
}

/// `cpuhp_hp_states[]` as the profile's kernel has it after boot, for one
/// build (`CONFIG_HOTPLUG_CPU`, the slab model), with the built-in instances
/// and the empty-step bitmaps. Built once per profile and build: every run
/// starts from a copy.
fn build_steps(profile: &Profile, hotplug_cpu: bool, slab: bool) -> StepTable {
    let mut steps = vec![CpuhpStep::default(); profile.a.online as usize + 1];
    let mut instances = Vec::new();
    for p in &profile.steps {
        let builtin = |f: &Option<String>| {
            f.as_ref().map(|f| Cb { func: Arc::from(f.as_str()), body: CbBody::Builtin(builtin_of(f)) })
        };
        let st = &mut steps[p.nr as usize];
        st.name = Some(Arc::from(p.name.as_str()));
        st.startup = builtin(&p.startup);
        st.teardown = builtin(&p.teardown);
        st.cant_stop = p.cant_stop;
        st.multi = p.multi;
        for no in 0..p.instances {
            instances.push(Instance { state: p.nr, no: no.into(), name: format!("inst{no}"), module: None });
            st.list.insert(0, instances.len() - 1);
        }
    }
    if !hotplug_cpu {
        // `#define takedown_cpu NULL` without CONFIG_HOTPLUG_CPU.
        steps[profile.a.teardown_cpu as usize].teardown = None;
    }
    if slab {
        // The slab model brings back the SLAB callbacks SLUB leaves NULL.
        if let Some(&nr) = profile.enums.get("CPUHP_SLAB_PREPARE") {
            let st = &mut steps[nr as usize];
            st.name.get_or_insert_with(|| Arc::from("slab:prepare"));
            st.startup = Some(Cb { func: Arc::from("slab_prepare_cpu"), body: CbBody::Builtin(Builtin::SlabPrepare) });
            st.teardown = Some(Cb { func: Arc::from("slab_dead_cpu"), body: CbBody::Builtin(Builtin::SlabDead) });
        }
    }
    let nonempty = nonempty_bitmaps(&steps);
    (Arc::new(steps), instances, nonempty)
}

/// Which states have a teardown (`[0]`) or a startup (`[1]`).
fn nonempty_bitmaps(steps: &[CpuhpStep]) -> [Vec<u64>; 2] {
    let mut out = [vec![0u64; steps.len().div_ceil(64)], vec![0u64; steps.len().div_ceil(64)]];
    for (dir, bits) in out.iter_mut().enumerate() {
        for (nr, step) in steps.iter().enumerate() {
            if !step.empty(dir == 1) {
                bits[nr / 64] |= 1 << (nr % 64);
            }
        }
    }
    out
}

/// The profile's callback mapping: which C function is which [`Builtin`];
/// every function not named here is [`Builtin::Nop`].
fn builtin_of(func: &str) -> Builtin {
    match func {
        "bringup_cpu" => Builtin::BringupCpu,
        "finish_cpu" => Builtin::FinishCpu,
        "takedown_cpu" => Builtin::TakedownCpu,
        "sched_cpu_activate" => Builtin::SchedCpuActivate,
        "sched_cpu_deactivate" => Builtin::SchedCpuDeactivate,
        "sched_cpu_wait_empty" => Builtin::SchedCpuWaitEmpty,
        "sched_cpu_dying" => Builtin::SchedCpuDying,
        "smpboot_create_threads" => Builtin::SmpbootCreateThreads,
        "smpboot_unpark_threads" => Builtin::SmpbootUnparkThreads,
        "smpboot_park_threads" => Builtin::SmpbootParkThreads,
        "smpcfd_prepare_cpu" => Builtin::SmpcfdPrepare,
        "smpcfd_dead_cpu" => Builtin::SmpcfdDead,
        "smpcfd_dying_cpu" => Builtin::SmpcfdDying,
        "rcutree_prepare_cpu" => Builtin::RcutreePrepare,
        "rcutree_dead_cpu" => Builtin::RcutreeDead,
        "rcutree_online_cpu" => Builtin::RcutreeOnline,
        "rcutree_offline_cpu" => Builtin::RcutreeOffline,
        "rcutree_dying_cpu" => Builtin::RcutreeDying,
        "page_alloc_cpu_dead" => Builtin::PageAllocCpuDead,
        _ => Builtin::Nop,
    }
}
/// Startups minus teardowns per (state, instance, CPU).
#[derive(Clone, Debug)]
pub struct Balance {
    cpus: usize,
    single: Vec<i32>,
    inst: BTreeMap<(State, InstId, usize), i32>,
}

impl Balance {
    fn new(cpus: usize, states: usize) -> Balance {
        Balance { cpus, single: vec![0; cpus * states], inst: BTreeMap::new() }
    }

    pub(super) fn add(&mut self, state: State, inst: Option<InstId>, cpu: usize, d: i32) {
        match inst {
            None => self.single[state as usize * self.cpus + cpu] += d,
            Some(i) => *self.inst.entry((state, i, cpu)).or_insert(0) += d,
        }
    }

    /// Sets one count: what a `_nocalls` registration or removal says the
    /// caller did itself.
    pub(super) fn set(&mut self, state: State, inst: Option<InstId>, cpu: usize, n: i32) {
        match inst {
            None => self.single[state as usize * self.cpus + cpu] = n,
            Some(i) if n == 0 => {
                self.inst.remove(&(state, i, cpu));
            }
            Some(i) => {
                self.inst.insert((state, i, cpu), n);
            }
        }
    }

    /// Every non-zero count, single-instance states first, in order.
    pub fn nonzero(&self) -> impl Iterator<Item = ((State, Option<InstId>, usize), i32)> + '_ {
        let singles = self
            .single
            .iter()
            .enumerate()
            .filter(|(_, n)| **n != 0)
            .map(|(i, &n)| (((i / self.cpus) as State, None, i % self.cpus), n));
        let insts = self.inst.iter().filter(|(_, n)| **n != 0).map(|(&(s, i, c), &n)| ((s, Some(i), c), n));
        singles.chain(insts)
    }
}
