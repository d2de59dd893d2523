//! `kernel/cpu.c`, registration: `__cpuhp_setup_state`,
//! `__cpuhp_remove_state`, `__cpuhp_state_add_instance`,
//! `__cpuhp_state_remove_instance`, and their helpers
//! `cpuhp_reserve_state`, `cpuhp_store_callbacks`, `cpuhp_issue_call` and
//! `cpuhp_rollback_install`.
//!
//! 6.1.192 carries 932d8476399f, so a registration on `CPUHP_BP_PREPARE_DYN`
//! runs its startups like one on `CPUHP_AP_ONLINE_DYN`. The switch
//! `cpuhp-dyn-remove-misfire` brings back the 4.10–4.12
//! `cpuhp_store_callbacks`, which reserved a slot on removal too. Left out:
//! the `_cpuslocked` entry points as separate operations (the model's callers
//! always use the locking wrappers).

use std::sync::Arc;

use crate::errno::*;
use crate::kernel::trace::SplatKind;
use crate::sim::lock::Mode;

use super::super::cpuhotplug::State;
use super::super::{Kernel, Regression};
use super::{Cb, InstId, Via};

impl Kernel {
    /// `cpuhp_cb_check()`.
    fn cpuhp_cb_check(&self, state: i32) -> bool {
        state > self.profile.a.offline as i32 && state < self.profile.a.online as i32
    }

    /// `cpuhp_reserve_state()`: the lowest unnamed slot of a dynamic range.
    fn cpuhp_reserve_state(&self, state: State) -> i32 {
        let a = self.profile.a;
        let end = if state == a.ap_online_dyn {
            a.ap_online_dyn_end
        } else if state == a.bp_prepare_dyn {
            a.bp_prepare_dyn_end
        } else {
            return -EINVAL;
        };
        let free = (state..=end).find(|&i| self.s().cpu.steps[i as usize].name.is_none());
        match free {
            Some(i) => i as i32,
            None => {
                self.splat(
                    SplatKind::Warning,
                    "kernel/cpu.c:cpuhp_reserve_state",
                    "No more dynamic states available for CPU hotplug".into(),
                    false,
                );
                -ENOSPC
            }
        }
    }

    /// `cpuhp_store_callbacks()`: install, or remove when `name` is `None`.
    fn cpuhp_store_callbacks(
        &self,
        mut state: State,
        name: Option<&str>,
        startup: Option<Cb>,
        teardown: Option<Cb>,
        multi: bool,
    ) -> i32 {
        let a = self.profile.a;
        let dyn_base = state == a.ap_online_dyn || state == a.bp_prepare_dyn;
        // cpuhp-dyn-remove-misfire: 4.10–4.12 reserved here on removal too,
        // and so cleared the next free slot instead of this one.
        let reserve = dyn_base && (name.is_some() || self.cfg.has(Regression::CpuhpDynRemoveMisfire));
        let mut ret = 0;
        if reserve {
            ret = self.cpuhp_reserve_state(state);
            if ret < 0 {
                return ret;
            }
            state = ret as State;
        }
        let mut s = self.s();
        if name.is_some() && s.cpu.steps[state as usize].name.is_some() {
            return -EBUSY;
        }
        let old = &s.cpu.steps[state as usize];
        let func = |c: &Option<Cb>| c.as_ref().map(|c| c.func.to_string());
        let retired = crate::kernel::trace::Retired {
            until: s.trace.events.len(),
            state,
            name: old.name.as_deref().map(str::to_string),
            startup: func(&old.startup),
            teardown: func(&old.teardown),
        };
        s.trace.retired.push(retired);
        let sp = &mut s.cpu.steps_mut()[state as usize];
        sp.startup = startup;
        sp.teardown = teardown;
        sp.name = name.map(Arc::from);
        sp.multi = multi;
        sp.list.clear();
        s.cpu.refresh_nonempty();
        ret
    }

    /// `cpuhp_issue_call()`: AP states go through `cpuhp/N`, the others run
    /// here. A failing teardown is a `BUG()`.
    async fn cpuhp_issue_call(&self, cpu: usize, state: State, bringup: bool, node: Option<InstId>) -> i32 {
        if self.s().cpu.steps[state as usize].empty(bringup) {
            return 0;
        }
        let ret = if self.profile.is_ap(state) {
            self.cpuhp_invoke_ap_callback(cpu, state, bringup, node).await
        } else {
            self.cpuhp_invoke_callback(cpu, state, bringup, node, false, Via::Single).await
        };
        if ret != 0 && !bringup {
            self.splat(
                SplatKind::Bug,
                "kernel/cpu.c:cpuhp_issue_call",
                format!("kernel BUG: BUG_ON(ret && !bringup): teardown of state {state} for CPU{cpu} returned {ret}"),
                true,
            );
            self.die().await;
        }
        ret
    }

    /// `cpuhp_rollback_install()`: tear down on the CPUs before `failedcpu`.
    async fn cpuhp_rollback_install(&self, failedcpu: usize, state: State, node: Option<InstId>) {
        let present = self.s().cpu.present;
        for cpu in present.iter().take_while(|&c| c < failedcpu) {
            if self.s().cpu.cpuhp[cpu].state >= state {
                self.cpuhp_issue_call(cpu, state, false, node).await;
            }
        }
    }

    /// Calls the startup on every present CPU at or above `state`. Returns
    /// the failing CPU and its error.
    async fn install_on_present(&self, state: State, node: Option<InstId>) -> Option<(usize, i32)> {
        let present = self.s().cpu.present;
        for cpu in present.iter() {
            if self.s().cpu.cpuhp[cpu].state < state {
                continue;
            }
            let ret = self.cpuhp_issue_call(cpu, state, true, node).await;
            if ret != 0 {
                return Some((cpu, ret));
            }
        }
        None
    }

    /// `__cpuhp_setup_state()`: returns the slot for a dynamic request, 0, or
    /// an error.
    pub async fn __cpuhp_setup_state(
        &self,
        state: i32,
        name: &str,
        invoke: bool,
        startup: Option<Cb>,
        teardown: Option<Cb>,
        multi: bool,
    ) -> i32 {
        self.cpus_read_lock().await;
        let ret = self.__cpuhp_setup_state_cpuslocked(state, name, invoke, startup, teardown, multi).await;
        self.cpus_read_unlock().await;
        ret
    }

    async fn __cpuhp_setup_state_cpuslocked(
        &self,
        state: i32,
        name: &str,
        invoke: bool,
        startup: Option<Cb>,
        teardown: Option<Cb>,
        multi: bool,
    ) -> i32 {
        self.lockdep_assert_cpus_held("__cpuhp_setup_state_cpuslocked");
        if !self.cpuhp_cb_check(state) {
            return -EINVAL;
        }
        let a = self.profile.a;
        let mut state = state as State;
        let mutex = self.lock_ids.cpuhp_state_mutex;
        self.lock(mutex, Mode::Exclusive).await;
        let has_startup = startup.is_some();
        let has_teardown = teardown.is_some();
        let mut ret = self.cpuhp_store_callbacks(state, Some(name), startup, teardown, multi);
        let dynstate = state == a.ap_online_dyn || state == a.bp_prepare_dyn;
        if ret > 0 && dynstate {
            state = ret as State;
            ret = 0;
        }
        if ret == 0
            && invoke
            && has_startup
            && let Some((cpu, err)) = self.install_on_present(state, None).await
        {
            if has_teardown {
                self.cpuhp_rollback_install(cpu, state, None).await;
            }
            self.cpuhp_store_callbacks(state, None, None, None, false);
            ret = err;
        }
        if ret == 0 && !invoke {
            self.nocalls_balance(state, None, true);
        }
        self.unlock(mutex).await;
        if ret == 0 && dynstate { state as i32 } else { ret }
    }

    /// The balance after a `_nocalls` registration (`set`) or removal: the
    /// kernel calls nothing, and the caller is taken at its word that it
    /// set up (or tore down) its per-CPU state itself on every CPU at or
    /// above the state, as `cpuhp_setup_state_nocalls` callers do.
    fn nocalls_balance(&self, state: State, inst: Option<InstId>, set: bool) {
        let mut s = self.s();
        let sp = &s.cpu.steps[state as usize];
        // A multi-instance state is set up without calls by design; its
        // instances carry the counts.
        if sp.startup.is_none() || sp.teardown.is_none() || (sp.multi && inst.is_none()) {
            return;
        }
        for cpu in 0..s.cpu.cpuhp.len() {
            let up = s.cpu.cpuhp[cpu].state >= state;
            s.cpu.balance.set(state, inst, cpu, i32::from(set && up));
        }
    }

    /// `__cpuhp_remove_state()`: teardowns never fail here.
    pub async fn __cpuhp_remove_state(&self, state: i32, invoke: bool) {
        self.cpus_read_lock().await;
        if !self.cpuhp_cb_check(state) {
            // The BUG hits inside the _cpuslocked body: the task dies holding
            // cpu_hotplug_lock for read.
            let title = "kernel BUG: BUG_ON(cpuhp_cb_check(state))".to_string();
            self.splat(SplatKind::Bug, "kernel/cpu.c:__cpuhp_remove_state_cpuslocked", title, false);
            self.die().await;
        }
        let state = state as State;
        self.lockdep_assert_cpus_held("__cpuhp_remove_state_cpuslocked");
        let mutex = self.lock_ids.cpuhp_state_mutex;
        self.lock(mutex, Mode::Exclusive).await;
        let (multi, left, has_teardown) = {
            let s = self.s();
            let sp = &s.cpu.steps[state as usize];
            (sp.multi, !sp.list.is_empty(), sp.teardown.is_some())
        };
        if multi {
            if left {
                self.splat(
                    SplatKind::Warning,
                    "kernel/cpu.c:__cpuhp_remove_state_cpuslocked",
                    format!("Error: Removing state {state} which has instances left."),
                    false,
                );
            }
        } else if invoke && has_teardown {
            let present = self.s().cpu.present;
            for cpu in present.iter() {
                if self.s().cpu.cpuhp[cpu].state >= state {
                    self.cpuhp_issue_call(cpu, state, false, None).await;
                }
            }
        } else if !invoke {
            self.nocalls_balance(state, None, false);
        }
        self.cpuhp_store_callbacks(state, None, None, None, false);
        self.unlock(mutex).await;
        self.cpus_read_unlock().await;
    }

    /// `__cpuhp_state_add_instance()`: a failed add does not add the node.
    pub async fn __cpuhp_state_add_instance(&self, state: State, node: InstId, invoke: bool) -> i32 {
        self.cpus_read_lock().await;
        let ret = self.add_instance_cpuslocked(state, node, invoke).await;
        self.cpus_read_unlock().await;
        ret
    }

    async fn add_instance_cpuslocked(&self, state: State, node: InstId, invoke: bool) -> i32 {
        self.lockdep_assert_cpus_held("__cpuhp_state_add_instance_cpuslocked");
        let (multi, has_startup, has_teardown) = {
            let s = self.s();
            let sp = &s.cpu.steps[state as usize];
            (sp.multi, sp.startup.is_some(), sp.teardown.is_some())
        };
        if !multi {
            return -EINVAL;
        }
        let mutex = self.lock_ids.cpuhp_state_mutex;
        self.lock(mutex, Mode::Exclusive).await;
        let mut ret = 0;
        if invoke
            && has_startup
            && let Some((cpu, err)) = self.install_on_present(state, Some(node)).await
        {
            if has_teardown {
                self.cpuhp_rollback_install(cpu, state, Some(node)).await;
            }
            ret = err;
        }
        if ret == 0 {
            self.s().cpu.steps_mut()[state as usize].list.insert(0, node);
            if !invoke {
                self.nocalls_balance(state, Some(node), true);
            }
        }
        self.unlock(mutex).await;
        ret
    }

    /// `__cpuhp_state_remove_instance()`.
    pub async fn __cpuhp_state_remove_instance(&self, state: State, node: InstId, invoke: bool) -> i32 {
        if !self.cpuhp_cb_check(state as i32) {
            self.splat(
                SplatKind::Bug,
                "kernel/cpu.c:__cpuhp_state_remove_instance",
                "kernel BUG: BUG_ON(cpuhp_cb_check(state))".into(),
                false,
            );
            self.die().await;
        }
        if !self.s().cpu.steps[state as usize].multi {
            return -EINVAL;
        }
        self.cpus_read_lock().await;
        let mutex = self.lock_ids.cpuhp_state_mutex;
        self.lock(mutex, Mode::Exclusive).await;
        if invoke && self.s().cpu.steps[state as usize].teardown.is_some() {
            let present = self.s().cpu.present;
            for cpu in present.iter() {
                if self.s().cpu.cpuhp[cpu].state >= state {
                    self.cpuhp_issue_call(cpu, state, false, Some(node)).await;
                }
            }
        } else if !invoke {
            self.nocalls_balance(state, Some(node), false);
        }
        self.s().cpu.steps_mut()[state as usize].list.retain(|&n| n != node);
        self.unlock(mutex).await;
        self.cpus_read_unlock().await;
        0
    }

    /// `lockdep_assert_cpus_held()`: a splat if the hotplug lock is not held
    /// (always quiet without `CONFIG_HOTPLUG_CPU`, where it is a stub).
    fn lockdep_assert_cpus_held(&self, func: &'static str) {
        if self.cfg.hotplug_cpu && !self.holds(self.lock_ids.cpu_hotplug_lock) {
            self.splat(
                SplatKind::Lockdep,
                "kernel/cpu.c:lockdep_assert_cpus_held",
                format!("WARNING: {func}() called without cpu_hotplug_lock held"),
                false,
            );
        }
    }
}
