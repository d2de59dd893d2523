//! `kernel/cpu.c`, the sysfs side: `cpuN/hotplug/{state,target,fail}`,
//! `cpu/hotplug/states`, `cpu/smt/control`, and the SMT switches
//! `cpuhp_smt_disable`/`cpuhp_smt_enable` behind it.
//!
//! These files exist only with `CONFIG_SYSFS && CONFIG_HOTPLUG_CPU`; without
//! hotplug the model reports `-ENOENT`, which is what a shell writing to a
//! missing file sees. `CPU_HOTPLUG_STATE_CONTROL` is off, as on Debian: a
//! `target` write takes only 0 and `CPUHP_ONLINE`. Left out: the sysfs
//! restart of `lock_device_hotplug_sysfs` (the model waits until the lock
//! is free and tries again, where the kernel restarts the write), and
//! uevents.

use crate::errno::*;
use crate::sim::lock::Mode;

use super::super::cpuhotplug::State;
use super::super::{Kernel, SmtControl};
use super::CPUHP_INVALID;

/// `kstrtoint(buf, 10, ...)`: what the sysfs stores parse with.
pub fn kstrtoint(buf: &str) -> Result<i32, i32> {
    // `_kstrtoull` takes one trailing newline, no more.
    let t = buf.strip_suffix('\n').unwrap_or(buf);
    let digits = t.strip_prefix(['-', '+']).unwrap_or(t);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(-EINVAL);
    }
    t.parse::<i32>().map_err(|_| -ERANGE)
}

impl Kernel {
    /// `lock_device_hotplug_sysfs()`: a trylock (no lock-order dependency);
    /// when the lock is taken, the kernel sleeps 5 ms and restarts the
    /// write (`restart_syscall()`), which the model shows as waiting until
    /// the lock is free and trying again.
    pub async fn lock_device_hotplug_sysfs(&self) {
        let l = self.lock_ids.device_hotplug_lock;
        self.yield_now().await;
        while !self.trylock(l) {
            self.note("lock_device_hotplug_sysfs: device_hotplug_lock is taken: restart_syscall()".into());
            self.block(crate::kernel::Wait::Restart(l)).await;
        }
    }

    /// `lock_device_hotplug()`.
    pub async fn lock_device_hotplug(&self) {
        self.lock(self.lock_ids.device_hotplug_lock, Mode::Exclusive).await;
    }

    pub async fn unlock_device_hotplug(&self) {
        self.unlock(self.lock_ids.device_hotplug_lock).await;
    }

    /// `target_store()`.
    pub async fn target_store(&self, cpu: usize, buf: &str) -> i32 {
        if !self.cfg.hotplug_cpu || !self.s().cpu.hotplug_dir.test(cpu) {
            return -ENOENT;
        }
        let target = match kstrtoint(buf) {
            Ok(t) => t,
            Err(e) => return e,
        };
        let a = self.profile.a;
        if target != a.offline as i32 && target != a.online as i32 {
            return -EINVAL;
        }
        let target = target as State;
        self.lock_device_hotplug_sysfs().await;
        let mutex = self.lock_ids.cpuhp_state_mutex;
        self.lock(mutex, Mode::Exclusive).await;
        let refused = {
            let s = self.s();
            let sp = &s.cpu.steps[target as usize];
            sp.name.is_none() || sp.cant_stop
        };
        self.unlock(mutex).await;
        let mut ret = if refused { -EINVAL } else { 0 };
        if ret == 0 {
            let state = self.s().cpu.cpuhp[cpu].state;
            if state < target {
                ret = self.cpu_up(cpu, target).await;
            } else if state > target {
                ret = self.cpu_down(cpu, target).await;
            } else if self.s().cpu.cpuhp[cpu].target != target {
                self.splat(
                    crate::kernel::trace::SplatKind::Warning,
                    "kernel/cpu.c:target_store",
                    "WARN_ON(st->target != target)".into(),
                    false,
                );
                self.s().cpu.cpuhp[cpu].target = target;
            }
        }
        self.unlock_device_hotplug().await;
        ret
    }

    /// `fail_store()`, with its checks in the kernel's order.
    pub async fn fail_store(&self, cpu: usize, buf: &str) -> i32 {
        if !self.cfg.hotplug_cpu || !self.s().cpu.hotplug_dir.test(cpu) {
            return -ENOENT;
        }
        let fail = match kstrtoint(buf) {
            Ok(f) => f,
            Err(e) => return e,
        };
        let a = self.profile.a;
        if fail == CPUHP_INVALID {
            self.s().cpu.cpuhp[cpu].fail = fail;
            return 0;
        }
        if fail < a.offline as i32 || fail > a.online as i32 {
            return -EINVAL;
        }
        let f = fail as State;
        // Cannot fail STARTING/DYING callbacks.
        if self.profile.is_atomic(f) {
            return -EINVAL;
        }
        // DEAD callbacks cannot fail, nor BRINGUP_CPU during hot-unplug.
        if f <= a.bringup_cpu && self.s().cpu.cpuhp[cpu].state > a.bringup_cpu {
            return -EINVAL;
        }
        let mutex = self.lock_ids.cpuhp_state_mutex;
        self.lock(mutex, Mode::Exclusive).await;
        let empty = {
            let s = self.s();
            let sp = &s.cpu.steps[f as usize];
            sp.startup.is_none() && sp.teardown.is_none()
        };
        self.unlock(mutex).await;
        if empty {
            return -EINVAL;
        }
        self.s().cpu.cpuhp[cpu].fail = fail;
        0
    }

    /// `states_show()`: `"%3d: %s"` per named state.
    pub fn states_show(&self) -> String {
        let s = self.s();
        let mut out = String::new();
        for (nr, sp) in s.cpu.steps.iter().enumerate() {
            if let Some(name) = &sp.name {
                out.push_str(&format!("{nr:3}: {name}\n"));
            }
        }
        out
    }

    /// `__store_smt_control()`.
    pub async fn smt_control_store(&self, buf: &str) -> i32 {
        if !self.cfg.hotplug_cpu {
            return -ENOENT;
        }
        // `sysfs_streq`: equal but for one trailing newline.
        let ctrlval = match buf.strip_suffix('\n').unwrap_or(buf) {
            "on" => SmtControl::Enabled,
            "off" => SmtControl::Disabled,
            "forceoff" => SmtControl::ForceDisabled,
            _ => return -EINVAL,
        };
        match self.s().cpu.smt_control {
            SmtControl::ForceDisabled => return -EPERM,
            SmtControl::NotSupported => return -ENODEV,
            _ => {}
        }
        self.lock_device_hotplug_sysfs().await;
        let mut ret = 0;
        if ctrlval != self.s().cpu.smt_control {
            ret = match ctrlval {
                SmtControl::Enabled => self.cpuhp_smt_enable().await,
                _ => self.cpuhp_smt_disable(ctrlval).await,
            };
        }
        self.unlock_device_hotplug().await;
        ret
    }

    /// `cpuhp_smt_disable()`: offline every online secondary thread.
    async fn cpuhp_smt_disable(&self, ctrlval: SmtControl) -> i32 {
        self.cpu_maps_update_begin().await;
        let mut ret = 0;
        let online = self.s().cpu.online;
        for cpu in online.iter() {
            if self.topology_is_primary_thread(cpu) {
                continue;
            }
            ret = self.cpu_down_maps_locked(cpu, self.profile.a.offline).await;
            if ret != 0 {
                break;
            }
            self.s().cpu.dev_offline.set(cpu);
        }
        if ret == 0 {
            self.s().cpu.smt_control = ctrlval;
        }
        self.cpu_maps_update_done().await;
        ret
    }

    /// `cpuhp_smt_enable()`: every present offline CPU, not only siblings.
    async fn cpuhp_smt_enable(&self) -> i32 {
        self.cpu_maps_update_begin().await;
        self.s().cpu.smt_control = SmtControl::Enabled;
        let mut ret = 0;
        let present = self.s().cpu.present;
        for cpu in present.iter() {
            if self.s().cpu.online.test(cpu) {
                continue;
            }
            ret = self._cpu_up(cpu, false, self.profile.a.online).await;
            if ret != 0 {
                break;
            }
            self.s().cpu.dev_offline.clear(cpu);
        }
        self.cpu_maps_update_done().await;
        ret
    }
}

#[cfg(test)]
mod tests {
    use super::kstrtoint;
    use crate::fault::Armed;
    use crate::kernel::cpuhotplug::Profile;
    use crate::kernel::{Config, Kernel, SmtCmdline};

    #[test]
    fn states_show_lists_named_states_like_the_real_kernel() {
        let cfg = Config {
            cpus: 2,
            threads_per_core: 1,
            apic_ids: vec![0, 1],
            present: 2,
            hotplug_cpu: true,
            smt: SmtCmdline::None,
            max_cpus: None,
            regressions: Default::default(),
            steps_max: 1000,
            trace_events_max: 1000,
            record_sites: false,
            slab: false,
            preempt_points: false,
            force_async: false,
            timeline: false,
            rcu: false,
        };
        let k = Kernel::new(std::sync::Arc::new(Profile::builtin("debian-6.1").unwrap()), cfg, Armed::default());
        let out = k.states_show();
        assert!(out.starts_with("  0: offline\n  1: threads:prepare\n  2: perf:prepare\n  9: x86/mce:dead\n"), "{out}");
        assert!(out.contains(" 91: cpu:bringup\n 92: idle:dead\n"), "{out}");
        assert!(out.ends_with("210: printk:online\n235: sched:active\n236: online\n"), "{out}");
        assert_eq!(out.lines().count(), 65);
    }

    #[test]
    fn kstrtoint_like_the_kernel() {
        assert_eq!(kstrtoint("197\n"), Ok(197));
        assert_eq!(kstrtoint("-1"), Ok(-1));
        assert_eq!(kstrtoint("+3"), Ok(3));
        assert_eq!(kstrtoint("1x"), Err(-22));
        assert_eq!(kstrtoint(""), Err(-22));
        assert_eq!(kstrtoint("99999999999"), Err(-34));
        assert_eq!(kstrtoint("236\n\n"), Err(-22));
    }
}
