//! `kernel/cpu.c`: the CPU hotplug state machine, with the semantics of
//! Debian's 6.1.192.
//!
//! The functions keep the kernel's names and order. Bringup: `cpu_up` →
//! `_cpu_up` → `cpuhp_up_callbacks` (PREPARE on the control task) →
//! `bringup_cpu` wakes the AP, whose idle task runs the STARTING callbacks
//! with IRQs off (`notify_cpu_starting`) and reaches `CPUHP_AP_ONLINE_IDLE` →
//! `bringup_wait_for_ap` kicks `cpuhp/N`, which runs the ONLINE section one
//! state per invocation (`cpuhp_thread_fun`). Teardown mirrors it through
//! `_cpu_down`, `takedown_cpu` and `take_cpu_down`. Rollback is the kernel's:
//! `cpuhp_set_state`/`cpuhp_reset_state`, `cpuhp_next_state` skipping empty
//! steps, `st->last` for partial multi-instance rollback, `can_rollback_cpu`.
//!
//! Registration is in [`register`], the sysfs knobs and SMT control in
//! [`sysfs`]. Left out: `CPU_HOTPLUG_STATE_CONTROL` (off on Debian),
//! `try_online_node` (one node), `cpu_up_down_serialize_trainwrecks` (cpusets
//! are not modelled), hibernation's `bringup_hibernate_cpu`, and
//! `smp_shutdown_nonboot_cpus`.

pub mod register;
pub mod sysfs;

use std::collections::BTreeMap;
use std::rc::Rc;

use crate::arch::x86::smpboot;
use crate::errno::*;
use crate::fault::Site;
use crate::sim::CpuMask;
use crate::sim::lock::{CompletionId, Locks, Mode};
use crate::sim::trace::{CbEvent, CbHow, Event, MaskName, SplatKind};

use super::cpuhotplug::{Profile, Section, State, StepTable};
use super::smp::CsdFunc;
use super::{Config, Kernel, Regression, SmtCmdline, SmtControl, stop_machine};

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

/// What a callback does when it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Builtin {
    BringupCpu,
    FinishCpu,
    TakedownCpu,
    SchedCpuActivate,
    SchedCpuDeactivate,
    /// The SLAB-era `CPUHP_SLAB_PREPARE` callbacks of the slab model.
    SlabPrepare,
    SlabDead,
    /// `kernel/smp.c`: `smpcfd_prepare_cpu`, `smpcfd_dead_cpu`,
    /// `smpcfd_dying_cpu`.
    SmpcfdPrepare,
    SmpcfdDead,
    SmpcfdDying,
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
    pub func: Rc<str>,
    pub body: CbBody,
}

/// `struct cpuhp_step`.
#[derive(Clone, Debug, Default)]
pub struct CpuhpStep {
    pub name: Option<Rc<str>>,
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
    pub no: u16,
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
    pub steps: Rc<Vec<CpuhpStep>>,
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
        let all = CpuMask::first_n(cfg.cpus);
        let smt_control = if cfg.threads_per_core < 2 {
            SmtControl::NotSupported
        } else {
            match cfg.smt {
                SmtCmdline::None => SmtControl::Enabled,
                SmtCmdline::Nosmt => SmtControl::Disabled,
                SmtCmdline::Force => SmtControl::ForceDisabled,
            }
        };
        let mut s = CpuState {
            cpuhp,
            steps,
            instances,
            possible: all,
            present: all,
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
        Rc::make_mut(&mut self.steps)
    }

    /// The lowest state in `lo..=hi` with a callback for the direction.
    fn next_nonempty(&self, bringup: bool, lo: usize, hi: usize) -> Option<usize> {
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
    fn prev_nonempty(&self, bringup: bool, lo: usize, hi: usize) -> Option<usize> {
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

impl Builtin {
    /// Whether it can sleep, and so needs the `async` call path.
    fn sleeps(self) -> bool {
        matches!(
            self,
            Builtin::BringupCpu
                | Builtin::TakedownCpu
                | Builtin::SlabPrepare
                | Builtin::SlabDead
                | Builtin::SmpcfdDying
        )
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
            f.as_ref().map(|f| Cb { func: Rc::from(f.as_str()), body: CbBody::Builtin(builtin_of(f)) })
        };
        let st = &mut steps[p.nr as usize];
        st.name = Some(Rc::from(p.name.as_str()));
        st.startup = builtin(&p.startup);
        st.teardown = builtin(&p.teardown);
        st.cant_stop = p.cant_stop;
        st.multi = p.multi;
        for no in 0..p.instances {
            instances.push(Instance { state: p.nr, no, name: format!("inst{no}"), module: None });
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
            st.name.get_or_insert_with(|| Rc::from("slab:prepare"));
            st.startup = Some(Cb { func: Rc::from("slab_prepare_cpu"), body: CbBody::Builtin(Builtin::SlabPrepare) });
            st.teardown = Some(Cb { func: Rc::from("slab_dead_cpu"), body: CbBody::Builtin(Builtin::SlabDead) });
        }
    }
    let nonempty = nonempty_bitmaps(&steps);
    (Rc::new(steps), instances, nonempty)
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

fn builtin_of(func: &str) -> Builtin {
    match func {
        "bringup_cpu" => Builtin::BringupCpu,
        "finish_cpu" => Builtin::FinishCpu,
        "takedown_cpu" => Builtin::TakedownCpu,
        "sched_cpu_activate" => Builtin::SchedCpuActivate,
        "sched_cpu_deactivate" => Builtin::SchedCpuDeactivate,
        "smpcfd_prepare_cpu" => Builtin::SmpcfdPrepare,
        "smpcfd_dead_cpu" => Builtin::SmpcfdDead,
        "smpcfd_dying_cpu" => Builtin::SmpcfdDying,
        _ => Builtin::Nop,
    }
}

/// How a callback is being invoked, which decides the checks that apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Via {
    /// Part of a CPU's state walk (up, down or rollback).
    Walk,
    /// A single invocation from state (un)registration.
    Single,
}

impl Kernel {
    /// `cpus_read_lock()`; an empty stub without `CONFIG_HOTPLUG_CPU`.
    pub async fn cpus_read_lock(&self) {
        if self.cfg.hotplug_cpu {
            self.lock(self.lock_ids.cpu_hotplug_lock, Mode::Shared).await;
        }
    }

    pub async fn cpus_read_unlock(&self) {
        if self.cfg.hotplug_cpu {
            self.unlock(self.lock_ids.cpu_hotplug_lock).await;
        }
    }

    async fn cpus_write_lock(&self) {
        if self.cfg.hotplug_cpu {
            self.lock(self.lock_ids.cpu_hotplug_lock, Mode::Exclusive).await;
        }
    }

    async fn cpus_write_unlock(&self) {
        if self.cfg.hotplug_cpu {
            self.unlock(self.lock_ids.cpu_hotplug_lock).await;
        }
    }

    /// `cpu_maps_update_begin()`.
    pub async fn cpu_maps_update_begin(&self) {
        self.lock(self.lock_ids.cpu_add_remove_lock, Mode::Exclusive).await;
    }

    pub async fn cpu_maps_update_done(&self) {
        self.unlock(self.lock_ids.cpu_add_remove_lock).await;
    }

    /// `set_cpu_online()`.
    pub fn set_cpu_online(&self, cpu: usize, on: bool) {
        let mut s = self.s();
        if s.cpu.online.test(cpu) != on {
            s.cpu.online.assign(cpu, on);
            s.trace.push(Event::Mask { cpu: cpu as u16, mask: MaskName::Online, set: on });
        }
    }

    fn set_cpu_active(&self, cpu: usize, on: bool) {
        let mut s = self.s();
        if s.cpu.active.test(cpu) != on {
            s.cpu.active.assign(cpu, on);
            s.trace.push(Event::Mask { cpu: cpu as u16, mask: MaskName::Active, set: on });
        }
    }

    /// `cpu_bootable()` (6.1.192's name for `cpu_smt_allowed()`).
    pub fn cpu_bootable(&self, cpu: usize) -> bool {
        let s = self.s();
        match s.cpu.smt_control {
            SmtControl::Enabled | SmtControl::NotSupported => true,
            _ => self.topology_is_primary_thread(cpu) || !s.cpu.booted_once.test(cpu),
        }
    }

    pub fn topology_is_primary_thread(&self, cpu: usize) -> bool {
        cpu.is_multiple_of(self.cfg.threads_per_core.max(1))
    }

    /// `cpuhp_set_state()`: returns the previous state.
    fn cpuhp_set_state(&self, cpu: usize, target: State) -> State {
        let mut s = self.s();
        let st = &mut s.cpu.cpuhp[cpu];
        let prev = st.state;
        let bringup = st.state < target;
        st.rollback = false;
        st.last = None;
        st.target = target;
        st.single = false;
        st.bringup = bringup;
        s.cpu.dying.assign(cpu, !bringup);
        prev
    }

    /// `cpuhp_reset_state()`: turn around, starting at the neighbour unless a
    /// multi-instance state was left half done (`st->last`).
    fn cpuhp_reset_state(&self, cpu: usize, prev_state: State) {
        let mut s = self.s();
        let st = &mut s.cpu.cpuhp[cpu];
        let bringup = !st.bringup;
        st.target = prev_state;
        if st.rollback {
            return;
        }
        st.rollback = true;
        if st.last.is_none() {
            if st.bringup {
                st.state -= 1;
            } else {
                st.state += 1;
            }
        }
        st.bringup = bringup;
        s.cpu.dying.assign(cpu, !bringup);
    }

    /// `__cpuhp_kick_ap()`: hand the work to `cpuhp/N` and wait for it.
    async fn __cpuhp_kick_ap(&self, cpu: usize) {
        let (done, bringup) = {
            let mut s = self.s();
            let st = &mut s.cpu.cpuhp[cpu];
            if !st.single && st.state == st.target {
                return;
            }
            st.result = 0;
            st.should_run = true;
            (if st.bringup { st.done_up } else { st.done_down }, st.bringup)
        };
        let _ = bringup;
        self.wait_for_completion(done).await;
    }

    /// `cpuhp_kick_ap()`: the AP rolls itself back to where it was on error.
    async fn cpuhp_kick_ap(&self, cpu: usize, target: State) -> i32 {
        let prev_state = self.cpuhp_set_state(cpu, target);
        self.__cpuhp_kick_ap(cpu).await;
        let ret = self.s().cpu.cpuhp[cpu].result;
        if ret != 0 {
            self.cpuhp_reset_state(cpu, prev_state);
            self.__cpuhp_kick_ap(cpu).await;
        }
        ret
    }

    /// `bringup_wait_for_ap()`.
    async fn bringup_wait_for_ap(&self, cpu: usize) -> i32 {
        let done = self.s().cpu.cpuhp[cpu].done_up;
        self.wait_for_completion(done).await;
        if !self.s().cpu.online.test(cpu) {
            self.warn_once("kernel/cpu.c:bringup_wait_for_ap", "WARN_ON_ONCE(!cpu_online(cpu))", true);
            return -ECANCELED;
        }
        self.s().cpu.cpuhp[cpu].thread_parked = false;
        if !self.cpu_bootable(cpu) {
            return -ECANCELED;
        }
        let target = self.s().cpu.cpuhp[cpu].target;
        if target <= self.profile.a.ap_online_idle {
            return 0;
        }
        self.cpuhp_kick_ap(cpu, target).await
    }

    /// `bringup_cpu()`: the `CPUHP_BRINGUP_CPU` startup.
    async fn bringup_cpu(&self, cpu: usize) -> i32 {
        let ret = smpboot::native_cpu_up(self, cpu).await;
        if ret != 0 {
            return ret;
        }
        self.bringup_wait_for_ap(cpu).await
    }

    /// `cpuhp_next_state()`: the next state with a callback for the
    /// direction, moving `st->state` ahead of time as if it had run. (The
    /// kernel steps one state at a time; the bitmap finds the same state.)
    fn cpuhp_next_state(&self, bringup: bool, cpu: usize, target: State) -> Option<State> {
        let mut s = self.s();
        let cs = &mut s.cpu;
        let state = cs.cpuhp[cpu].state as usize;
        let target = target as usize;
        if bringup {
            if state >= target {
                return None;
            }
            let run = cs.next_nonempty(true, state + 1, target);
            cs.cpuhp[cpu].state = run.unwrap_or(target) as State;
            run.map(|r| r as State)
        } else {
            if state <= target {
                return None;
            }
            let run = cs.prev_nonempty(false, target + 1, state);
            cs.cpuhp[cpu].state = run.map_or(target, |r| r - 1) as State;
            run.map(|r| r as State)
        }
    }

    /// `__cpuhp_invoke_callback_range()`; `nofail` for STARTING/DYING.
    async fn cpuhp_invoke_callback_range(&self, bringup: bool, cpu: usize, target: State, nofail: bool) -> i32 {
        let mut ret = 0;
        while let Some(state) = self.cpuhp_next_state(bringup, cpu, target) {
            if self.cfg.preempt_points {
                self.callback_preemption_point(state, bringup).await;
            }
            let err = match self.invoke_callback_sync(cpu, state, bringup, None, false, Via::Walk) {
                Some(err) => err,
                None => self.cpuhp_invoke_callback(cpu, state, bringup, None, false, Via::Walk).await,
            };
            if err == 0 {
                continue;
            }
            if nofail {
                self.s().cpu.nofail_failed.insert((state, cpu));
                // The kernel names the step at st->state, which going down is
                // already one below the state that failed.
                let at = self.s().cpu.cpuhp[cpu].state;
                let name = self.s().cpu.steps[at as usize].name.clone();
                let name = name.as_deref().unwrap_or("(null)").to_string();
                let dir = if bringup { "UP" } else { "DOWN" };
                self.log(format!("CPU {cpu} {dir} state {name} ({at}) failed ({err})"));
                ret = -1;
            } else {
                ret = err;
                break;
            }
        }
        ret
    }

    /// The preemption point before a callback. Built-in callbacks the model
    /// gives no effect (most of the profile's) change nothing another task
    /// can see, so preempting before them gives no schedule that preempting
    /// at the next visible step does not: the explorer skips them.
    async fn callback_preemption_point(&self, state: State, bringup: bool) {
        if !self.cfg.preempt_points {
            return;
        }
        let visible = {
            let s = self.s();
            let body = s.cpu.steps[state as usize].cb(bringup).map(|c| c.body);
            !matches!(body, None | Some(CbBody::Builtin(Builtin::Nop | Builtin::FinishCpu)))
        };
        if visible {
            self.yield_now().await;
        }
    }

    /// `can_rollback_cpu()`.
    fn can_rollback_cpu(&self, cpu: usize) -> bool {
        if self.cfg.hotplug_cpu || self.cfg.has(Regression::CpuhpRollbackWithoutHotplugCpu) {
            // cpuhp-rollback-without-hotplug-cpu: before 206b92353c83 there
            // was no such check, and the rollback always ran.
            return true;
        }
        self.s().cpu.cpuhp[cpu].state <= self.profile.a.bringup_cpu
    }

    /// `cpuhp_up_callbacks()`: the BP walk up to `CPUHP_BRINGUP_CPU`.
    async fn cpuhp_up_callbacks(&self, cpu: usize, target: State) -> i32 {
        let prev_state = self.s().cpu.cpuhp[cpu].state;
        let ret = self.cpuhp_invoke_callback_range(true, cpu, target, false).await;
        if ret != 0 {
            self.cpuhp_reset_state(cpu, prev_state);
            if self.can_rollback_cpu(cpu) && self.cpuhp_invoke_callback_range(false, cpu, prev_state, false).await != 0
            {
                // The rollback itself failed: the CPU stays where it stopped.
                self.s().cpu.creek.set(cpu);
                self.warn_reaction(
                    "kernel/cpu.c:cpuhp_up_callbacks",
                    "WARN_ON(cpuhp_invoke_callback_range(false, ...))".into(),
                );
            }
        }
        ret
    }

    /// The `cpuhp/N` smpboot thread: sleep until kicked, run one step.
    pub async fn cpuhp_thread(&self, cpu: usize) {
        loop {
            self.block(super::Wait::CpuhpWork(cpu)).await;
            self.cpuhp_thread_fun(cpu).await;
        }
    }

    /// `cpuhp_thread_fun()`: one callback per invocation.
    async fn cpuhp_thread_fun(&self, cpu: usize) {
        let (bringup, single) = {
            let s = self.s();
            (s.cpu.cpuhp[cpu].bringup, s.cpu.cpuhp[cpu].single)
        };
        let state = if single {
            let mut s = self.s();
            s.cpu.cpuhp[cpu].should_run = false;
            Some(s.cpu.cpuhp[cpu].cb_state)
        } else {
            let target = self.s().cpu.cpuhp[cpu].target;
            let next = self.cpuhp_next_state(bringup, cpu, target);
            self.s().cpu.cpuhp[cpu].should_run = next.is_some();
            next
        };
        if let Some(state) = state {
            if self.cfg.preempt_points {
                self.callback_preemption_point(state, bringup).await;
            }
            let node = self.s().cpu.cpuhp[cpu].node;
            let atomic = self.profile.is_atomic(state);
            if atomic {
                self.local_irq_disable();
            }
            let result = match self.invoke_callback_sync(cpu, state, bringup, node, true, Via::Walk) {
                Some(r) => r,
                None => self.cpuhp_invoke_callback(cpu, state, bringup, node, true, Via::Walk).await,
            };
            if atomic {
                self.local_irq_enable();
                if result != 0 {
                    self.warn_once("kernel/cpu.c:cpuhp_thread_fun", "WARN_ON_ONCE(st->result)", true);
                }
            }
            self.s().cpu.cpuhp[cpu].result = result;
            if result != 0 {
                if self.s().cpu.cpuhp[cpu].rollback {
                    // "If we fail on a rollback, we're up a creek without no paddle"
                    self.s().cpu.creek.set(cpu);
                    self.warn_once("kernel/cpu.c:cpuhp_thread_fun", "WARN_ON_ONCE(st->rollback)", true);
                }
                self.s().cpu.cpuhp[cpu].should_run = false;
            }
        }
        let mut s = self.s();
        let st = &s.cpu.cpuhp[cpu];
        if !st.should_run {
            let done = if bringup { st.done_up } else { st.done_down };
            s.locks.completions[done] += 1;
        }
    }

    /// `cpuhp_invoke_ap_callback()`: one callback on `cpuhp/N`, for
    /// (un)registration.
    async fn cpuhp_invoke_ap_callback(&self, cpu: usize, state: State, bringup: bool, node: Option<InstId>) -> i32 {
        if !self.s().cpu.online.test(cpu) {
            return 0;
        }
        {
            let mut s = self.s();
            let st = &mut s.cpu.cpuhp[cpu];
            st.rollback = false;
            st.last = None;
            st.node = node;
            st.bringup = bringup;
            st.cb_state = state;
            st.single = true;
        }
        self.__cpuhp_kick_ap(cpu).await;
        let (ret, last) = {
            let s = self.s();
            (s.cpu.cpuhp[cpu].result, s.cpu.cpuhp[cpu].last)
        };
        if ret != 0 && last.is_some() {
            {
                let mut s = self.s();
                let st = &mut s.cpu.cpuhp[cpu];
                st.rollback = true;
                st.bringup = !bringup;
            }
            self.__cpuhp_kick_ap(cpu).await;
        }
        let mut s = self.s();
        s.cpu.cpuhp[cpu].node = None;
        s.cpu.cpuhp[cpu].last = None;
        ret
    }

    /// `cpuhp_kick_ap_work()`.
    async fn cpuhp_kick_ap_work(&self, cpu: usize) -> i32 {
        let (prev_state, target) = {
            let s = self.s();
            (s.cpu.cpuhp[cpu].state, s.cpu.cpuhp[cpu].target)
        };
        self.trace(Event::Kick { cpu: cpu as u16, state: prev_state });
        let ret = self.cpuhp_kick_ap(cpu, target).await;
        self.trace(Event::KickRet { cpu: cpu as u16, ret });
        ret
    }

    /// `take_cpu_down()`: runs on the dying CPU's stopper, in
    /// MULTI_STOP_RUN, with IRQs off on every CPU. A failpoint armed at
    /// `CPUHP_TEARDOWN_CPU` fails it here, as `__cpu_disable()` would (x86's
    /// `lapic_can_unplug_cpu` refusing), and the error comes back through
    /// stop_machine to `takedown_cpu`.
    pub async fn take_cpu_down(&self, cpu: usize) -> i32 {
        let target = self.s().cpu.cpuhp[cpu].target.max(self.profile.a.ap_offline);
        let site = Site::Cpuhp { cpu: cpu as u16, bringup: false, state: self.profile.a.teardown_cpu, inst: None };
        let rollback = self.s().cpu.cpuhp[cpu].rollback;
        if let Some(err) = self.failpoint(site, rollback) {
            self.note(format!("__cpu_disable() = {}  (failpoint {site})", crate::errno::name(i64::from(err))));
            return err;
        }
        let err = smpboot::native_cpu_disable(self, cpu);
        if err < 0 {
            return err;
        }
        let state = self.s().cpu.cpuhp[cpu].state;
        if state != self.profile.a.teardown_cpu - 1 {
            self.splat(
                SplatKind::Warning,
                "kernel/cpu.c:take_cpu_down",
                format!("WARN_ON(st->state != (CPUHP_TEARDOWN_CPU - 1)): state is {state}"),
                false,
            );
        }
        self.cpuhp_invoke_callback_range(false, cpu, target, true).await;
        stop_machine::stop_machine_park(self, cpu);
        self.smp_cpu_gone(cpu);
        0
    }

    /// `takedown_cpu()`: the `CPUHP_TEARDOWN_CPU` teardown.
    async fn takedown_cpu(&self, cpu: usize) -> i32 {
        self.s().cpu.cpuhp[cpu].thread_parked = true;
        let take = stop_machine::StopFn::TakeCpuDown(cpu);
        let err = stop_machine::stop_machine_cpuslocked(self, take, crate::sim::CpuMask::of(cpu)).await;
        if err != 0 {
            self.s().cpu.cpuhp[cpu].thread_parked = false;
            return err;
        }
        if self.s().cpu.online.test(cpu) {
            self.splat(
                SplatKind::Bug,
                "kernel/cpu.c:takedown_cpu",
                "kernel BUG: BUG_ON(cpu_online(cpu))".into(),
                false,
            );
            self.die().await;
        }
        let done = self.s().cpu.cpuhp[cpu].done_down;
        self.wait_for_completion(done).await;
        let state = self.s().cpu.cpuhp[cpu].state;
        if state != self.profile.a.ap_idle_dead {
            self.splat(
                SplatKind::Bug,
                "kernel/cpu.c:takedown_cpu",
                format!("kernel BUG: BUG_ON(st->state != CPUHP_AP_IDLE_DEAD): state is {state}"),
                false,
            );
            self.die().await;
        }
        smpboot::native_cpu_die(self, cpu).await;
        0
    }

    /// `cpuhp_report_idle_dead()`: the dying CPU's idle task reports in, and
    /// delegates the completion of `done_down` to the first online CPU with
    /// `smp_call_function_single(..., cpuhp_complete_idle_dead, st, 0)`.
    pub async fn cpuhp_report_idle_dead(&self, cpu: usize) {
        let state = self.s().cpu.cpuhp[cpu].state;
        if state != self.profile.a.ap_offline {
            self.splat(
                SplatKind::Bug,
                "kernel/cpu.c:cpuhp_report_idle_dead",
                format!("kernel BUG: BUG_ON(st->state != CPUHP_AP_OFFLINE): state is {state}"),
                false,
            );
            self.die().await;
        }
        let first = {
            let mut s = self.s();
            s.cpu.cpuhp[cpu].state = self.profile.a.ap_idle_dead;
            s.trace.push(Event::Reached { cpu: cpu as u16, state: self.profile.a.ap_idle_dead });
            s.cpu.online.first().unwrap_or(0)
        };
        self.smp_call_function_single(first, CsdFunc::CompleteIdleDead(cpu), false).await;
    }

    /// `cpuhp_down_callbacks()`: the BP walk down from `CPUHP_TEARDOWN_CPU`.
    async fn cpuhp_down_callbacks(&self, cpu: usize, target: State) -> i32 {
        let prev_state = self.s().cpu.cpuhp[cpu].state;
        let ret = self.cpuhp_invoke_callback_range(false, cpu, target, false).await;
        if ret != 0 {
            self.cpuhp_reset_state(cpu, prev_state);
            let state = self.s().cpu.cpuhp[cpu].state;
            if state < prev_state && self.cpuhp_invoke_callback_range(true, cpu, prev_state, false).await != 0 {
                self.s().cpu.creek.set(cpu);
                self.warn_reaction(
                    "kernel/cpu.c:cpuhp_down_callbacks",
                    "WARN_ON(cpuhp_invoke_callback_range(true, ...))".into(),
                );
            }
        }
        ret
    }

    /// `_cpu_down()`. Requires `cpu_add_remove_lock`.
    pub async fn _cpu_down(&self, cpu: usize, tasks_frozen: bool, target: State) -> i32 {
        debug_assert!(self.holds(self.lock_ids.cpu_add_remove_lock));
        if self.s().cpu.online.weight() == 1 {
            return -EBUSY;
        }
        if !self.s().cpu.present.test(cpu) {
            return -EINVAL;
        }
        self.cpus_write_lock().await;
        self.s().cpu.tasks_frozen = tasks_frozen;
        let prev_state = self.cpuhp_set_state(cpu, target);
        let ret = self.cpu_down_walk(cpu, target, prev_state).await;
        self.cpus_write_unlock().await;
        ret
    }

    /// The part of `_cpu_down()` under `cpus_write_lock()`.
    async fn cpu_down_walk(&self, cpu: usize, target: State, prev_state: State) -> i32 {
        let a = self.profile.a;
        if self.s().cpu.cpuhp[cpu].state > a.teardown_cpu {
            self.s().cpu.cpuhp[cpu].target = target.max(a.teardown_cpu);
            let ret = self.cpuhp_kick_ap_work(cpu).await;
            if ret != 0 {
                return ret;
            }
            if self.s().cpu.cpuhp[cpu].state > a.teardown_cpu {
                return 0;
            }
            self.s().cpu.cpuhp[cpu].target = target;
        }
        let ret = self.cpuhp_down_callbacks(cpu, target).await;
        let state = self.s().cpu.cpuhp[cpu].state;
        if state == a.offline {
            self.smp_check_offline(cpu);
        }
        if ret != 0 && state < prev_state {
            if state == a.teardown_cpu {
                self.cpuhp_reset_state(cpu, prev_state);
                self.__cpuhp_kick_ap(cpu).await;
            } else {
                self.warn_reaction("kernel/cpu.c:_cpu_down", format!("DEAD callback error for CPU{cpu}"));
            }
        }
        ret
    }

    /// `cpu_down_maps_locked()`: runs `_cpu_down` on another online CPU
    /// (`work_on_cpu`), so the control task never offlines its own CPU.
    pub async fn cpu_down_maps_locked(&self, cpu: usize, target: State) -> i32 {
        if self.s().cpu.cpu_hotplug_disabled > 0 {
            return -EBUSY;
        }
        let other = self.s().cpu.online.iter().find(|&c| c != cpu);
        let Some(other) = other else { return -EBUSY };
        let home = self.work_on_cpu_begin(other);
        let ret = self._cpu_down(cpu, false, target).await;
        self.work_on_cpu_end(home);
        ret
    }

    /// `cpu_down()`; only built with `CONFIG_HOTPLUG_CPU`.
    pub async fn cpu_down(&self, cpu: usize, target: State) -> i32 {
        self.cpu_maps_update_begin().await;
        let ret = self.cpu_down_maps_locked(cpu, target).await;
        self.cpu_maps_update_done().await;
        ret
    }

    /// `notify_cpu_starting()`: on the AP, IRQs off, before it is online.
    pub async fn notify_cpu_starting(&self, cpu: usize) {
        let target = self.s().cpu.cpuhp[cpu].target.min(self.profile.a.ap_online);
        self.s().cpu.booted_once.set(cpu);
        self.cpuhp_invoke_callback_range(true, cpu, target, true).await;
    }

    /// `cpuhp_online_idle()`: the AP's idle task reached
    /// `CPUHP_AP_ONLINE_IDLE` and wakes the control task.
    pub fn cpuhp_online_idle(&self, cpu: usize) {
        stop_machine::stop_machine_unpark(self, cpu);
        let done = {
            let mut s = self.s();
            s.cpu.cpuhp[cpu].state = self.profile.a.ap_online_idle;
            s.trace.push(Event::Reached { cpu: cpu as u16, state: self.profile.a.ap_online_idle });
            s.cpu.cpuhp[cpu].done_up
        };
        self.complete(done);
    }

    /// `_cpu_up()`. Requires `cpu_add_remove_lock`.
    pub async fn _cpu_up(&self, cpu: usize, tasks_frozen: bool, target: State) -> i32 {
        debug_assert!(self.holds(self.lock_ids.cpu_add_remove_lock));
        self.cpus_write_lock().await;
        let ret = self.cpu_up_walk(cpu, tasks_frozen, target).await;
        self.cpus_write_unlock().await;
        ret
    }

    async fn cpu_up_walk(&self, cpu: usize, tasks_frozen: bool, target: State) -> i32 {
        if !self.s().cpu.present.test(cpu) {
            return -EINVAL;
        }
        if self.s().cpu.cpuhp[cpu].state >= target {
            return 0;
        }
        self.s().cpu.tasks_frozen = tasks_frozen;
        self.cpuhp_set_state(cpu, target);
        if self.s().cpu.cpuhp[cpu].state > self.profile.a.bringup_cpu {
            let ret = self.cpuhp_kick_ap_work(cpu).await;
            if ret != 0 {
                return ret;
            }
        }
        self.cpuhp_up_callbacks(cpu, target.min(self.profile.a.bringup_cpu)).await
    }

    /// `cpu_up()`.
    pub async fn cpu_up(&self, cpu: usize, target: State) -> i32 {
        if !self.s().cpu.possible.test(cpu) {
            return -EINVAL;
        }
        self.cpu_maps_update_begin().await;
        let ret = if self.s().cpu.cpu_hotplug_disabled > 0 {
            -EBUSY
        } else if !self.cpu_bootable(cpu) {
            -EPERM
        } else {
            self._cpu_up(cpu, false, target).await
        };
        self.cpu_maps_update_done().await;
        ret
    }

    /// `bringup_nonboot_cpus()`: boot every present CPU; errors are ignored.
    pub async fn bringup_nonboot_cpus(&self) {
        let present = self.s().cpu.present;
        for cpu in present.iter() {
            if !self.s().cpu.online.test(cpu) {
                let ret = self.cpu_up(cpu, self.profile.a.online).await;
                let ret = crate::errno::name(i64::from(ret));
                self.note(format!("bringup_nonboot_cpus: cpu_up({cpu}, CPUHP_ONLINE) = {ret}"));
            }
        }
    }

    /// `cpu_hotplug_disable()`; an empty stub without `CONFIG_HOTPLUG_CPU`.
    pub async fn cpu_hotplug_disable(&self) {
        if !self.cfg.hotplug_cpu {
            return;
        }
        self.cpu_maps_update_begin().await;
        self.s().cpu.cpu_hotplug_disabled += 1;
        self.cpu_maps_update_done().await;
    }

    /// `cpu_hotplug_enable()`; an empty stub without `CONFIG_HOTPLUG_CPU`.
    pub async fn cpu_hotplug_enable(&self) {
        if !self.cfg.hotplug_cpu {
            return;
        }
        self.cpu_maps_update_begin().await;
        self.__cpu_hotplug_enable();
        self.cpu_maps_update_done().await;
    }

    fn __cpu_hotplug_enable(&self) {
        if self.s().cpu.cpu_hotplug_disabled == 0 {
            self.warn_once("kernel/cpu.c:__cpu_hotplug_enable", "Unbalanced cpu hotplug enable", false);
            return;
        }
        self.s().cpu.cpu_hotplug_disabled -= 1;
    }

    /// `freeze_secondary_cpus()`: down every online CPU but `primary`, then
    /// disable hotplug, even on failure.
    pub async fn freeze_secondary_cpus(&self, primary: usize) -> i32 {
        self.cpu_maps_update_begin().await;
        let primary =
            if self.s().cpu.online.test(primary) { primary } else { self.s().cpu.online.first().unwrap_or(0) };
        self.s().cpu.frozen_cpus = CpuMask::empty();
        let mut error = 0;
        let online = self.s().cpu.online;
        for cpu in online.iter().filter(|&c| c != primary) {
            error = self._cpu_down(cpu, true, self.profile.a.offline).await;
            if error != 0 {
                self.log(format!("Error taking CPU{cpu} down: {error}"));
                break;
            }
            self.s().cpu.frozen_cpus.set(cpu);
        }
        if error == 0 && self.s().cpu.online.weight() > 1 {
            self.splat(
                SplatKind::Bug,
                "kernel/cpu.c:freeze_secondary_cpus",
                "kernel BUG: BUG_ON(num_online_cpus() > 1)".into(),
                false,
            );
            self.die().await;
        }
        self.s().cpu.cpu_hotplug_disabled += 1;
        self.cpu_maps_update_done().await;
        error
    }

    /// `thaw_secondary_cpus()`.
    pub async fn thaw_secondary_cpus(&self) {
        self.cpu_maps_update_begin().await;
        self.__cpu_hotplug_enable();
        let frozen = self.s().cpu.frozen_cpus;
        for cpu in frozen.iter() {
            let error = self._cpu_up(cpu, true, self.profile.a.online).await;
            if error != 0 {
                self.log(format!("Error taking CPU{cpu} up: {error}"));
            }
        }
        self.s().cpu.frozen_cpus = CpuMask::empty();
        self.cpu_maps_update_done().await;
    }

    /// `cpuhp_invoke_callback()`: the one place callbacks are called from.
    /// `use_last` is `lastp == &st->last` (the AP thread); `Via` says which
    /// checks apply.
    pub(crate) async fn cpuhp_invoke_callback(
        &self,
        cpu: usize,
        state: State,
        bringup: bool,
        node: Option<InstId>,
        use_last: bool,
        via: Via,
    ) -> i32 {
        let (call, list, last) = {
            if let Some(err) = self.knob_fired(cpu, state, bringup, node) {
                return err;
            }
            let s = self.s();
            let step = &s.cpu.steps[state as usize];
            let Some(cb) = step.cb(bringup) else {
                drop(s);
                self.warn_once(
                    "kernel/cpu.c:cpuhp_invoke_callback",
                    "WARN_ON_ONCE(cpuhp_step_empty(bringup, step))",
                    false,
                );
                return 0;
            };
            let balanced = step.startup.is_some() && step.teardown.is_some();
            let call = Call { cpu, state, bringup, body: cb.body, inst: None, via, balanced };
            let list = if step.multi && node.is_none() { Some(step.list.clone()) } else { None };
            let node = if step.multi { node } else { None };
            (Call { inst: node, ..call }, list, s.cpu.cpuhp[cpu].last)
        };
        let Some(list) = list else {
            if use_last && last.is_some() {
                self.warn_once("kernel/cpu.c:cpuhp_invoke_callback", "WARN_ON_ONCE(lastp && *lastp)", true);
            }
            return self.invoke_one(call).await;
        };
        for (cnt, &n) in list.iter().enumerate() {
            if use_last && Some(n) == last {
                break;
            }
            let ret = self.invoke_one(Call { inst: Some(n), ..call }).await;
            if ret != 0 {
                if !use_last {
                    return self.undo_instances(call, &list[..cnt], ret).await;
                }
                self.s().cpu.cpuhp[cpu].last = Some(n);
                return ret;
            }
        }
        if use_last {
            self.s().cpu.cpuhp[cpu].last = None;
        }
        0
    }

    /// The `err:` path of `cpuhp_invoke_callback`: undo the instances done.
    /// (6.1.192 keeps the error in `ret`; the rollback result only WARNs.)
    async fn undo_instances(&self, call: Call, done: &[InstId], ret: i32) -> i32 {
        let body = self.s().cpu.steps[call.state as usize].cb(!call.bringup).map(|c| c.body);
        let Some(body) = body else { return ret };
        for &n in done {
            let undo = Call { bringup: !call.bringup, body, inst: Some(n), ..call };
            if self.invoke_one(undo).await != 0 {
                self.warn_once("kernel/cpu.c:cpuhp_invoke_callback", "WARN_ON_ONCE(rollback_ret)", true);
            }
        }
        ret
    }

    /// The C name of a state's callback, for messages.
    fn func_name(&self, state: State, bringup: bool) -> Rc<str> {
        let s = self.s();
        s.cpu.steps[state as usize].cb(bringup).map_or_else(|| Rc::from("?"), |c| c.func.clone())
    }

    /// `cpuhp_invoke_callback()` for the common case, without an `async`
    /// frame: a single-instance built-in callback that cannot sleep. `None`
    /// when the call needs the full path (nothing has happened then).
    fn invoke_callback_sync(
        &self,
        cpu: usize,
        state: State,
        bringup: bool,
        node: Option<InstId>,
        use_last: bool,
        via: Via,
    ) -> Option<i32> {
        // One borrow for the checks, the knob, the context and the trace:
        // this is the hot path of every hotplug operation.
        let quiet = !self.cfg.record_sites && self.armed.is_empty();
        let (call, ev, wrong) = {
            let mut s = self.s();
            let step = &s.cpu.steps[state as usize];
            let body = step.cb(bringup)?.body;
            let sync = matches!(body, CbBody::Builtin(b) if !b.sleeps());
            if !sync || step.multi || (use_last && s.cpu.cpuhp[cpu].last.is_some()) {
                return None;
            }
            let balanced = step.startup.is_some() && step.teardown.is_some();
            let _ = node;
            let call = Call { cpu, state, bringup, body, inst: None, via, balanced };
            let ev = cb_event(&s, cpu, state, bringup, None);
            if let Some(err) = knob(&mut s, cpu, ev) {
                return Some(err);
            }
            let wrong = context_problem(&self.profile, &s, &call);
            if quiet && wrong.is_none() {
                s.trace.push(Event::CbEnter(ev));
            }
            (call, ev, wrong)
        };
        if !quiet || wrong.is_some() {
            if let Some(problem) = wrong {
                self.report_context(&call, problem, &ev);
            }
            if let Err(err) = self.enter_failpoint(&call, ev) {
                return Some(err);
            }
        }
        let CbBody::Builtin(b) = call.body else { unreachable!("checked above") };
        let ret = self.run_builtin(b, cpu);
        self.exit(&call, ev, ret);
        Some(ret)
    }

    /// The sysfs fail knob: `-EAGAIN` without calling anything, once.
    fn knob_fired(&self, cpu: usize, state: State, bringup: bool, node: Option<InstId>) -> Option<i32> {
        let mut s = self.s();
        let ev = cb_event(&s, cpu, state, bringup, node);
        knob(&mut s, cpu, ev)
    }

    /// Everything before a callback's body runs: the context check, the
    /// failpoint, the trace. `Err` carries an injected error.
    fn enter(&self, call: &Call) -> Result<CbEvent, i32> {
        let ev = self.enter_context(call);
        self.enter_failpoint(call, ev)?;
        Ok(ev)
    }

    /// The failpoint and the trace of a call whose context is checked.
    fn enter_failpoint(&self, call: &Call, ev: CbEvent) -> Result<(), i32> {
        if self.cfg.record_sites || !self.armed.is_empty() {
            let site = Site::Cpuhp { cpu: call.cpu as u16, bringup: call.bringup, state: call.state, inst: ev.inst };
            if let Some(err) = self.failpoint(site, ev.rollback) {
                self.trace(Event::CbExit(ev, CbHow::Injected, err));
                return Err(err);
            }
        }
        self.trace(Event::CbEnter(ev));
        Ok(())
    }

    /// Everything after a callback's body: the balance and the trace.
    fn exit(&self, call: &Call, ev: CbEvent, ret: i32) {
        let mut s = self.s();
        // Startups against teardowns, for states that have both. A failed
        // startup counts when the CPU moved past the state anyway:
        // `bringup_cpu` failing after the AP reached AP_ONLINE_IDLE, whose
        // teardown (`finish_cpu`) the rollback then runs.
        if call.balanced && (ret == 0 || (call.bringup && s.cpu.cpuhp[call.cpu].state > call.state)) {
            s.cpu.balance.add(call.state, call.inst, call.cpu, if call.bringup { 1 } else { -1 });
        }
        s.trace.push(Event::CbExit(ev, CbHow::Ran, ret));
    }

    /// Calls one callback function (one instance), with every check the
    /// model makes around it.
    async fn invoke_one(&self, call: Call) -> i32 {
        let Call { cpu, state, bringup, body, inst, .. } = call;
        if let CbBody::Module { module, .. } = body
            && !self.s().modules[module].loaded
        {
            // The context check comes first: the call happens, then faults.
            self.enter_context(&call);
            self.unloaded_callback(cpu, state, bringup, module).await;
        }
        let ev = if body == CbBody::Builtin(Builtin::TakedownCpu) {
            // takedown_cpu fails only where the kernel's can: __cpu_disable()
            // inside stop_machine, where take_cpu_down consults the failpoint.
            let ev = self.enter_context(&call);
            self.trace(Event::CbEnter(ev));
            ev
        } else {
            match self.enter(&call) {
                Ok(ev) => ev,
                Err(err) => return err,
            }
        };
        // The bodies that sleep are boxed: their futures are large, and
        // keeping them out of this one keeps every other call cheap.
        let ret = match body {
            CbBody::Builtin(Builtin::BringupCpu) => Box::pin(self.bringup_cpu(cpu)).await,
            CbBody::Builtin(Builtin::TakedownCpu) => Box::pin(self.takedown_cpu(cpu)).await,
            CbBody::Builtin(Builtin::SlabPrepare) => Box::pin(self.slab_prepare_cpu(cpu)).await,
            CbBody::Builtin(Builtin::SlabDead) => Box::pin(self.slab_dead_cpu(cpu)).await,
            CbBody::Builtin(Builtin::SmpcfdDying) => Box::pin(self.smpcfd_dying_cpu(cpu)).await,
            CbBody::Builtin(b) => self.run_builtin(b, cpu),
            CbBody::Module { module, decl } => {
                let func = self.func_name(state, bringup);
                Box::pin(self.run_module_cb(module, decl, bringup, cpu, inst, &func)).await
            }
        };
        self.exit(&call, ev, ret);
        ret
    }

    /// The trace event of a call, after checking its context.
    fn enter_context(&self, call: &Call) -> CbEvent {
        let (ev, wrong) = {
            let s = self.s();
            (cb_event(&s, call.cpu, call.state, call.bringup, call.inst), context_problem(&self.profile, &s, call))
        };
        if let Some(problem) = wrong {
            self.report_context(call, problem, &ev);
        }
        ev
    }

    /// A callback whose module is gone: its text is unmapped, so the call
    /// faults and the calling task dies.
    async fn unloaded_callback(&self, cpu: usize, state: State, bringup: bool, module: usize) {
        let name = self.s().modules[module].name.clone();
        let func = self.func_name(state, bringup);
        let title = format!(
            "BUG: unable to handle page fault for address {} (RIP: {func}+0x0/0x40 [{name}], a callback of unloaded module {name}, state {state} for CPU{cpu})",
            fake_address(&func),
        );
        self.splat(SplatKind::Oops, "arch/x86/mm/fault.c:page_fault_oops", title, false);
        self.die().await;
    }

    /// The built-in callbacks that do not sleep.
    fn run_builtin(&self, b: Builtin, cpu: usize) -> i32 {
        match b {
            Builtin::SchedCpuActivate => self.set_cpu_active(cpu, true),
            Builtin::SchedCpuDeactivate => self.set_cpu_active(cpu, false),
            Builtin::SmpcfdPrepare => return self.smpcfd_prepare_cpu(cpu),
            Builtin::SmpcfdDead => return self.smpcfd_dead_cpu(cpu),
            Builtin::BringupCpu
            | Builtin::SmpcfdDying
            | Builtin::TakedownCpu
            | Builtin::SlabPrepare
            | Builtin::SlabDead
            | Builtin::FinishCpu
            | Builtin::Nop => {}
        }
        0
    }

    /// Records a callback invoked in a context its section forbids. Inside a
    /// rollback, the wrong context is where the kernel's own error handling
    /// took the CPU (a failure where it "cannot fail").
    fn report_context(&self, call: &Call, problem: ContextProblem, ev: &CbEvent) {
        let cpu = call.cpu;
        let func = self.func_name(call.state, call.bringup);
        let irqs = if ev.irqs_off { "disabled" } else { "enabled" };
        let on = ev.on_cpu;
        let title = match problem {
            ContextProblem::Atomic => format!(
                "BUG: {func}() for CPU{cpu} called on CPU{on} with IRQs {irqs} (STARTING/DYING callbacks run on CPU{cpu} with IRQs disabled)"
            ),
            ContextProblem::Online => {
                let comm = Kernel::comm_of(&self.s(), ev.task as usize);
                format!(
                    "BUG: {func}() for CPU{cpu} called from {comm} on CPU{on} with IRQs {irqs} (ONLINE callbacks run on cpuhp/{cpu})"
                )
            }
            ContextProblem::NotSleepable(preempt) => format!(
                "BUG: {func}() for CPU{cpu} called with IRQs {irqs}, preempt_count {preempt} (PREPARE/DEAD callbacks may sleep)"
            ),
            ContextProblem::StillOnline => format!(
                "BUG: {func}() for CPU{cpu} called while CPU{cpu} is still online (DEAD callbacks run after the CPU is dead)"
            ),
        };
        let rollback = self.s().cpu.cpuhp[cpu].rollback;
        self.splat(SplatKind::Context, "kernel/cpu.c:cpuhp_invoke_callback", title, rollback);
    }
}

/// One callback invocation: what `cpuhp_invoke_callback` hands down.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Call {
    cpu: usize,
    state: State,
    bringup: bool,
    body: CbBody,
    inst: Option<InstId>,
    via: Via,
    /// The state has both a startup and a teardown, so they must pair up.
    balanced: bool,
}

/// How an invocation breaks the rules of its section.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ContextProblem {
    /// STARTING/DYING off the target CPU, or with IRQs on.
    Atomic,
    /// ONLINE not on the target's `cpuhp/N`, or not sleepable.
    Online,
    /// PREPARE/DEAD or BRINGUP/TEARDOWN in atomic context (preempt count).
    NotSleepable(u32),
    /// A DEAD teardown of the state walk while the CPU is still online.
    StillOnline,
}

/// Checks an invocation against the rules of its state's section. The
/// kernel does not check this itself; a callback in the wrong context is how
/// the rollback before 206b92353c83 corrupted state (docs/regressions.md).
fn context_problem(profile: &Profile, s: &super::KState, call: &Call) -> Option<ContextProblem> {
    let t = &s.tasks[s.current];
    let ctx = t.ctx;
    match profile.section(call.state) {
        Section::Atomic if ctx.cpu != call.cpu || !ctx.irqs_disabled => Some(ContextProblem::Atomic),
        Section::Online if t.kind != crate::sim::TaskKind::Cpuhp(call.cpu) || !ctx.sleepable() => {
            Some(ContextProblem::Online)
        }
        Section::Prepare | Section::Bp if !ctx.sleepable() => Some(ContextProblem::NotSleepable(ctx.preempt_count)),
        Section::Prepare if call.via == Via::Walk && !call.bringup && s.cpu.online.test(call.cpu) => {
            Some(ContextProblem::StillOnline)
        }
        _ => None,
    }
}

/// The sysfs fail knob, checked before anything else: if it is armed at
/// `ev`'s state it fires once, `-EAGAIN`, and nothing is called.
fn knob(s: &mut super::KState, cpu: usize, ev: CbEvent) -> Option<i32> {
    if s.cpu.cpuhp[cpu].fail != ev.state as i32 {
        return None;
    }
    s.cpu.cpuhp[cpu].fail = CPUHP_INVALID;
    s.trace.push(Event::CbExit(ev, CbHow::Knob, -EAGAIN));
    Some(-EAGAIN)
}

fn cb_event(s: &super::KState, cpu: usize, state: State, bringup: bool, inst: Option<InstId>) -> CbEvent {
    let task = s.current;
    let t = &s.tasks[task];
    CbEvent {
        cpu: cpu as u16,
        state,
        inst: inst.map(|i| s.cpu.instances[i].no),
        bringup,
        rollback: s.cpu.cpuhp[cpu].rollback,
        task: task as u16,
        on_cpu: t.ctx.cpu as u16,
        irqs_off: t.ctx.irqs_disabled,
        worker: t.worker,
    }
}

/// A stable, made-up address for a function of an unloaded module.
fn fake_address(func: &str) -> String {
    let h = func.bytes().fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(b as u32));
    format!("ffffffffc0{:06x}", h & 0xff_ffff)
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

    fn add(&mut self, state: State, inst: Option<InstId>, cpu: usize, d: i32) {
        match inst {
            None => self.single[state as usize * self.cpus + cpu] += d,
            Some(i) => *self.inst.entry((state, i, cpu)).or_insert(0) += d,
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
