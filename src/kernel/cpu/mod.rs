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
//! This file is the state machine. The step table and per-CPU state are in
//! [`steps`], the callback invocation with its checks in [`invoke`],
//! registration in [`register`], the sysfs knobs and SMT control in
//! [`sysfs`]. Left out: `CPU_HOTPLUG_STATE_CONTROL` (off on Debian),
//! `try_online_node` (one node), `cpu_up_down_serialize_trainwrecks` (cpusets
//! are not modelled), hibernation's `bringup_hibernate_cpu`, and
//! `smp_shutdown_nonboot_cpus`.

pub mod invoke;
pub mod register;
pub mod steps;
pub mod sysfs;

use crate::arch::x86::smpboot;
use crate::errno::*;
use crate::fault::Site;
use crate::kernel::trace::{Event, MaskName, SplatKind};
use crate::sim::CpuMask;
use crate::sim::lock::Mode;

use super::cpuhotplug::State;
use super::smp::CsdFunc;
use super::{Kernel, Regression, SmtControl, stop_machine};

pub(crate) use invoke::Via;
pub use steps::{
    Balance, Builtin, CPUHP_INVALID, Calling, Cb, CbBody, CpuState, CpuhpCpuState, CpuhpStep, InstId, Instance,
};

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

    pub(crate) async fn cpus_write_lock(&self) {
        if self.cfg.hotplug_cpu {
            self.lock(self.lock_ids.cpu_hotplug_lock, Mode::Exclusive).await;
        }
    }

    pub(crate) async fn cpus_write_unlock(&self) {
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
            s.record(Event::Mask { cpu: cpu as u16, mask: MaskName::Online, set: on });
        }
    }

    pub(crate) fn set_cpu_active(&self, cpu: usize, on: bool) {
        let mut s = self.s();
        if s.cpu.active.test(cpu) != on {
            s.cpu.active.assign(cpu, on);
            s.record(Event::Mask { cpu: cpu as u16, mask: MaskName::Active, set: on });
        }
    }

    /// `cpu_bootable()` (6.1.192's name for `cpu_smt_allowed()`).
    pub fn cpu_bootable(&self, cpu: usize) -> bool {
        let s = self.s();
        match s.cpu.smt_control {
            SmtControl::Enabled | SmtControl::NotSupported => true,
            _ => s.x86.topology_is_primary_thread(cpu) || !s.cpu.booted_once.test(cpu),
        }
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
                self.callback_preemption_point(cpu, state, bringup).await;
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
    async fn callback_preemption_point(&self, cpu: usize, state: State, bringup: bool) {
        if !self.cfg.preempt_points {
            return;
        }
        let visible = {
            let s = self.s();
            match s.cpu.steps[state as usize].cb(bringup).map(|c| c.body) {
                None => false,
                Some(CbBody::Builtin(b)) => match b.calling() {
                    Calling::Inert | Calling::Private => false,
                    Calling::Rcu => self.cfg.rcu,
                    Calling::Mem => crate::mm::page_alloc::has_pcp_pages(&s.mem, cpu),
                    Calling::Sync | Calling::Sleeps => true,
                },
                Some(CbBody::Module { .. }) => true,
            }
        };
        if visible {
            self.yield_now().await;
        }
    }

    /// `can_rollback_cpu()`.
    fn can_rollback_cpu(&self, cpu: usize) -> bool {
        // regression: cpuhp-rollback-without-hotplug-cpu
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
                self.callback_preemption_point(cpu, state, bringup).await;
            }
            let node = self.s().cpu.cpuhp[cpu].node;
            let atomic = self.profile.is_atomic(state);
            if atomic {
                self.local_irq_disable();
            }
            // `st->single`: one callback for registration, not a walk.
            let via = if self.s().cpu.cpuhp[cpu].single { Via::Single } else { Via::Walk };
            let result = match self.invoke_callback_sync(cpu, state, bringup, node, true, via) {
                Some(r) => r,
                None => self.cpuhp_invoke_callback(cpu, state, bringup, node, true, via).await,
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
        self.rcutree_migrate_callbacks(cpu);
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
        self.rcu_report_dead(cpu);
        let first = {
            let mut s = self.s();
            s.cpu.cpuhp[cpu].state = self.profile.a.ap_idle_dead;
            s.record(Event::Reached { cpu: cpu as u16, state: self.profile.a.ap_idle_dead });
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
        self.rcu_cpu_starting(cpu); // "Enables RCU usage on this CPU."
        self.cpuhp_invoke_callback_range(true, cpu, target, true).await;
    }

    /// `cpuhp_online_idle()`: the AP's idle task reached
    /// `CPUHP_AP_ONLINE_IDLE` and wakes the control task.
    pub fn cpuhp_online_idle(&self, cpu: usize) {
        stop_machine::stop_machine_unpark(self, cpu);
        let done = {
            let mut s = self.s();
            s.cpu.cpuhp[cpu].state = self.profile.a.ap_online_idle;
            s.record(Event::Reached { cpu: cpu as u16, state: self.profile.a.ap_online_idle });
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

    /// `bringup_nonboot_cpus(setup_max_cpus)`: boot the present CPUs until
    /// `setup_max_cpus` are online; errors are ignored.
    pub async fn bringup_nonboot_cpus(&self) {
        let present = self.s().cpu.present;
        for cpu in present.iter() {
            if self.cfg.max_cpus.is_some_and(|m| self.s().cpu.online.weight() >= m as usize) {
                break;
            }
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
}
