//! `drivers/base/cpu.c` and the `online` attribute of `drivers/base/core.c`:
//! `cpuN/online`, through `device_online`/`device_offline` and
//! `cpu_subsys_online`/`cpu_subsys_offline`.
//!
//! `cpuN/online` reads `!dev->offline`, a flag of the device that only
//! `device_online`/`device_offline` and SMT control update, not the online
//! mask: a CPU the kernel left half up reads as online. On x86 6.1 without
//! `BOOTPARAM_HOTPLUG_CPU0` the boot CPU has no `online` file, and without
//! `CONFIG_HOTPLUG_CPU` no CPU has one. `device_online`/`device_offline`
//! take the CPU device's `device_lock`. `register_cpu` (a hot-added CPU's
//! device: `dev->offline = !cpu_online()`) and `unregister_cpu` (a
//! hot-removed one's) make `cpuN` appear and go; `device_register` can
//! fail there (the failpoint `acpi/cpuN/hot_add/register_cpu`). Left out:
//! uevents, NUMA node links (`register_cpu_under_node`), the PM QoS latency
//! attribute, and the `probe`/`release` files (`CONFIG_ARCH_CPU_PROBE_RELEASE`
//! is off on x86).

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

/// Whether `cpuN/online` exists: the CPU's device is registered (x86's
/// `topology_init` registers one for each present CPU, hot-add another),
/// and CPU 0's cannot go offline.
pub fn has_online_file(k: &Kernel, cpu: usize) -> bool {
    k.cfg.hotplug_cpu && cpu != 0 && k.s().cpu.devices.test(cpu)
}

/// `register_cpu()`: the device, offline unless the CPU is online; `slot`
/// names the failpoint (`device_register` failing). A device registered
/// after boot has no `hotplug/` directory (`cpuhp_sysfs_init` ran once).
pub fn register_cpu(k: &Kernel, slot: usize, num: usize) -> i32 {
    let site = crate::fault::Site::Acpi { cpu: slot as u16, step: crate::fault::AcpiStep::RegisterCpu };
    if let Some(err) = k.failpoint(site, false) {
        k.step(format!("register_cpu({num}) = {}  (failpoint {site})", name(i64::from(err))));
        return err;
    }
    let mut s = k.s();
    let online = s.cpu.online.test(num);
    s.cpu.dev_offline.assign(num, !online);
    s.cpu.devices.set(num);
    drop(s);
    k.step(format!("register_cpu({num}): /sys/devices/system/cpu/cpu{num} appears"));
    0
}

/// `unregister_cpu()`: `device_unregister`, `per_cpu(cpu_sys_devices) = NULL`.
pub fn unregister_cpu(k: &Kernel, num: usize) {
    let mut s = k.s();
    s.cpu.devices.clear(num);
    s.cpu.hotplug_dir.clear(num);
    s.cpu.dev_offline.clear(num);
    drop(s);
    k.step(format!("unregister_cpu({num}): /sys/devices/system/cpu/cpu{num} goes"));
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
