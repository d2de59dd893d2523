//! `drivers/base/cpu.c` and the `online` attribute of `drivers/base/core.c`:
//! `cpuN/online`, through `device_online`/`device_offline` and
//! `cpu_subsys_online`/`cpu_subsys_offline`.
//!
//! `cpuN/online` reads `!dev->offline`, a flag of the device that only
//! `device_online`/`device_offline` and SMT control update, not the online
//! mask: a CPU the kernel left half up reads as online. On x86 6.1 without
//! `BOOTPARAM_HOTPLUG_CPU0` the boot CPU has no `online` file, and without
//! `CONFIG_HOTPLUG_CPU` no CPU has one. `device_online`/`device_offline`
//! take the CPU device's `device_lock`. Left out: uevents, and NUMA node
//! changes.

use crate::errno::*;
use crate::kernel::Kernel;
use crate::sim::lock::{LockId, LockKind, Mode};

/// `kstrtobool()`.
pub fn kstrtobool(buf: &str) -> Result<bool, i32> {
    match buf.as_bytes().first() {
        Some(b'1' | b'y' | b'Y' | b't' | b'T') => Ok(true),
        Some(b'0' | b'n' | b'N' | b'f' | b'F') => Ok(false),
        Some(b'o' | b'O') => match buf.as_bytes().get(1) {
            Some(b'n' | b'N') => Ok(true),
            Some(b'f' | b'F') => Ok(false),
            _ => Err(-EINVAL),
        },
        _ => Err(-EINVAL),
    }
}

/// Whether `cpuN/online` exists: x86's `topology_init` registers a device
/// for each present CPU, and CPU 0's cannot go offline.
pub fn has_online_file(k: &Kernel, cpu: usize) -> bool {
    k.cfg.hotplug_cpu && cpu != 0 && k.s().cpu.present.test(cpu)
}

/// `online_show()`.
pub fn online_show(k: &Kernel, cpu: usize) -> Option<bool> {
    has_online_file(k, cpu).then(|| !k.s().cpu.dev_offline.test(cpu))
}

/// `online_store()`.
pub async fn online_store(k: &Kernel, cpu: usize, buf: &str) -> i32 {
    if !has_online_file(k, cpu) {
        return -ENOENT;
    }
    let val = match kstrtobool(buf) {
        Ok(v) => v,
        Err(e) => return e,
    };
    k.lock_device_hotplug_sysfs().await;
    let ret = if val { device_online(k, cpu).await } else { device_offline(k, cpu).await };
    k.unlock_device_hotplug().await;
    ret.min(0)
}

/// `device_offline()`, under the CPU device's `device_lock`: 1 if it
/// already was.
pub async fn device_offline(k: &Kernel, cpu: usize) -> i32 {
    let lock = dev_lock(k, cpu);
    k.lock(lock, Mode::Exclusive).await;
    let ret = if k.s().cpu.dev_offline.test(cpu) {
        1
    } else {
        let ret = k.cpu_down(cpu, k.profile.a.offline).await;
        // regression: synthetic-device-offline-on-failure
        if ret == 0 || k.cfg.has(crate::kernel::Regression::SyntheticDeviceOfflineOnFailure) {
            k.s().cpu.dev_offline.set(cpu);
        }
        ret
    };
    k.unlock(lock).await;
    ret
}

/// `device_online()`, under the CPU device's `device_lock`: 1 if it
/// already was.
pub async fn device_online(k: &Kernel, cpu: usize) -> i32 {
    let lock = dev_lock(k, cpu);
    k.lock(lock, Mode::Exclusive).await;
    let ret = if !k.s().cpu.dev_offline.test(cpu) {
        1
    } else {
        let ret = k.cpu_up(cpu, k.profile.a.online).await;
        if ret == 0 {
            k.s().cpu.dev_offline.clear(cpu);
        }
        ret
    };
    k.unlock(lock).await;
    ret
}

/// `device_lock(get_cpu_device(cpu))`, created on first use; a class of its
/// own (see `kernel::locking::lockdep`).
fn dev_lock(k: &Kernel, cpu: usize) -> LockId {
    let name = format!("device_lock(cpu{cpu})");
    let mut s = k.s();
    if let Some(l) = s.locks.locks.iter().position(|l| l.name == name) {
        return l;
    }
    s.locks.add(&name, LockKind::Mutex)
}

#[cfg(test)]
mod tests {
    #[test]
    fn kstrtobool() {
        assert_eq!(super::kstrtobool("1\n"), Ok(true));
        assert_eq!(super::kstrtobool("off"), Ok(false));
        assert_eq!(super::kstrtobool("2"), Err(-22));
        assert_eq!(super::kstrtobool("true"), Ok(true));
        assert_eq!(super::kstrtobool("F"), Ok(false));
    }
}
