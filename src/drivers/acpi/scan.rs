//! `drivers/acpi/scan.c`: `acpi_device_hotplug` for a processor object, its
//! `ACPI_NOTIFY_DEVICE_CHECK` (`acpi_scan_device_check` → `acpi_bus_scan` →
//! the scan handler's attach, `acpi_processor_add`) and
//! `ACPI_NOTIFY_EJECT_REQUEST` (`acpi_generic_hotplug_event` →
//! `acpi_scan_hot_remove`: `acpi_scan_try_to_offline` with its two
//! `acpi_bus_offline` passes and `acpi_bus_online` undo, then `acpi_bus_trim`
//! → `acpi_processor_remove`, then `_EJ0`).
//!
//! `acpi_device_hotplug` takes `device_hotplug_lock` (`lock_device_hotplug`,
//! sleeping, not the sysfs trylock) then `acpi_scan_lock`;
//! `acpi_bus_offline` takes the ACPI device's `physical_node_lock` around
//! `device_offline`. `acpi_bus_attach` ignores the attach's error
//! (`acpi_scan_attach_handler` < 0 returns 0), so a failed hot-add reports
//! success to `_OST`; the operation's result is what
//! `acpi_generic_hotplug_event` returned, the value `_OST`'s code is made
//! from. Left out: `acpi_hotplug_schedule` (the event runs on the caller),
//! `dock_notify`, `adev->hp` notify handlers, `demand_offline` (the
//! processor handler does not set it), and the namespace walk over
//! descendants (a processor object has none here).

use crate::drivers::base::cpu::{device_offline, device_online};
use crate::errno::*;
use crate::kernel::Kernel;
use crate::sim::lock::{LockId, LockKind, Mode};

use super::processor;

/// A lock of the ACPI layer by name, created on first use.
pub(crate) fn named_lock(k: &Kernel, name: &str) -> LockId {
    let mut s = k.s();
    if let Some(l) = s.locks.locks.iter().position(|l| l.name == name) {
        return l;
    }
    s.locks.add(name, LockKind::Mutex)
}

/// What QEMU's `device_add` of processor `slot` does: the firmware marks it
/// present and notifies `ACPI_NOTIFY_DEVICE_CHECK`.
pub async fn acpi_cpu_hot_add(k: &Kernel, slot: usize) -> i32 {
    if k.s().x86.slot_present[slot] {
        k.note(format!("device_add: QEMU has processor {slot} already (-EEXIST); no ACPI event"));
        return -EEXIST;
    }
    k.s().x86.slot_present[slot] = true;
    acpi_device_hotplug(k, slot, false).await
}

/// What QEMU's `device_del` of processor `slot` does: an
/// `ACPI_NOTIFY_EJECT_REQUEST`; the processor goes once `_EJ0` ran.
pub async fn acpi_cpu_hot_remove(k: &Kernel, slot: usize) -> i32 {
    if !k.s().x86.slot_present[slot] {
        k.note(format!("device_del: QEMU has no processor {slot} (-ENODEV); no ACPI event"));
        return -ENODEV;
    }
    if slot == 0 {
        k.note("device_del: QEMU refuses, \"Boot CPU is unpluggable\" (-EPERM); no ACPI event".to_string());
        return -EPERM;
    }
    acpi_device_hotplug(k, slot, true).await
}

/// `acpi_device_hotplug()` for processor object `slot`.
async fn acpi_device_hotplug(k: &Kernel, slot: usize, eject: bool) -> i32 {
    let src = if eject { "ACPI_NOTIFY_EJECT_REQUEST" } else { "ACPI_NOTIFY_DEVICE_CHECK" };
    k.step(format!("acpi_device_hotplug(\\_SB.CPUS.C{slot:03X}, {src})"));
    k.lock_device_hotplug().await;
    let scan_lock = named_lock(k, "acpi_scan_lock");
    k.lock(scan_lock, Mode::Exclusive).await;
    let error = if eject { acpi_scan_hot_remove(k, slot).await } else { acpi_scan_device_check(k, slot).await };
    k.unlock(scan_lock).await;
    k.unlock_device_hotplug().await;
    error
}

/// `acpi_scan_device_check()`: the device is present (the firmware says
/// so); with its handler attached already it is "Already enumerated",
/// else `acpi_bus_scan()` attaches the processor handler, whose error
/// `acpi_bus_attach` drops.
async fn acpi_scan_device_check(k: &Kernel, slot: usize) -> i32 {
    if k.s().acpi.pr[slot].is_some() {
        k.step("dev_dbg: Already enumerated".to_string());
        return 0;
    }
    let ret = processor::acpi_processor_add(k, slot).await;
    if ret < 0 {
        k.step(format!("acpi_processor_add() = {}: acpi_bus_attach() ignores it", name(i64::from(ret))));
    }
    0
}

/// `acpi_scan_hot_remove()` without `demand_offline`.
async fn acpi_scan_hot_remove(k: &Kernel, slot: usize) -> i32 {
    let error = acpi_scan_try_to_offline(k, slot).await;
    if error != 0 {
        return error;
    }
    // acpi_bus_trim() → acpi_bus_trim_one() → handler->detach()
    if k.s().acpi.pr[slot].is_some() {
        processor::acpi_processor_remove(k, slot).await;
    }
    // acpi_evaluate_ej0(): QEMU removes the processor.
    k.step(format!("_EJ0: the firmware ejects processor {slot}"));
    k.s().x86.slot_present[slot] = false;
    0
}

/// `acpi_scan_try_to_offline()`: a first `acpi_bus_offline` pass whose
/// errors are ignored, a second one if it failed, and on a second failure
/// "Offline failed.", `acpi_bus_online` and `-EBUSY`.
async fn acpi_scan_try_to_offline(k: &Kernel, slot: usize) -> i32 {
    let mut put_online = false;
    let mut errdev = acpi_bus_offline(k, slot, false, &mut put_online).await;
    if errdev {
        errdev = acpi_bus_offline(k, slot, true, &mut put_online).await;
        if errdev {
            k.step("dev_warn: Offline failed.".to_string());
            acpi_bus_online(k, slot, &mut put_online).await;
            return -EBUSY;
        }
    }
    0
}

/// `acpi_bus_offline()` on the processor object's physical node (`cpuN`,
/// when the handler bound one): `device_offline`, remembering whether it
/// went offline here (`pn->put_online`). True when it failed (`*ret_p`).
async fn acpi_bus_offline(k: &Kernel, slot: usize, second_pass: bool, put_online: &mut bool) -> bool {
    let Some(cpu) = k.s().acpi.pr[slot] else {
        return false;
    };
    let lock = named_lock(k, &format!("physical_node_lock(\\_SB.CPUS.C{slot:03X})"));
    k.lock(lock, Mode::Exclusive).await;
    let mut failed = false;
    if !(second_pass && *put_online) {
        if !second_pass {
            *put_online = false;
        }
        let ret = device_offline(k, cpu).await;
        k.step(format!("device_offline(cpu{cpu}) = {}", name(i64::from(ret))));
        if ret >= 0 {
            *put_online = ret == 0;
        } else {
            failed = true;
        }
    }
    k.unlock(lock).await;
    failed
}

/// `acpi_bus_online()`: bring back what the first pass took offline.
async fn acpi_bus_online(k: &Kernel, slot: usize, put_online: &mut bool) {
    let Some(cpu) = k.s().acpi.pr[slot] else {
        return;
    };
    let lock = named_lock(k, &format!("physical_node_lock(\\_SB.CPUS.C{slot:03X})"));
    k.lock(lock, Mode::Exclusive).await;
    if *put_online {
        let ret = device_online(k, cpu).await;
        k.step(format!("device_online(cpu{cpu}) = {}", name(i64::from(ret))));
        *put_online = false;
    }
    k.unlock(lock).await;
}
