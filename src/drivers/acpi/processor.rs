//! `drivers/acpi/acpi_processor.c`: the processor scan handler.
//! `acpi_processor_add` (its attach) → `acpi_processor_get_info`, which for
//! a processor without a present logical CPU runs
//! `acpi_processor_hotadd_init` under `cpu_maps_update_begin` and
//! `cpus_write_lock`: `acpi_map_cpu` (a logical CPU, present), then
//! `arch_register_cpu` (its `cpuN` device), undoing the first when the
//! second fails. `acpi_processor_remove` (its detach, on eject) →
//! `arch_unregister_cpu` and `acpi_unmap_cpu` under the same locks.
//!
//! Failpoints: `acpi/cpuN/hot_add/acpi_map_cpu` and
//! `acpi/cpuN/hot_add/register_cpu`, N the processor's MADT position; each
//! unwinds as 6.1 does. Left out: `acpi_processor_errata`, `_UID`/processor
//! id evaluation and `acpi_duplicate_processor_id`, PBLK and throttling,
//! `_SUN`, the `processor_device_array` "BIOS reported wrong ACPI id" check
//! (one object per CPU here), `acpi_bind_one`/`device_attach` (they cannot
//! fail in the model; in 6.1 a failure there does not undo
//! `acpi_processor_hotadd_init`), `acpi_processor_set_pdc`, and the
//! `need_hotplug_init` flag the processor driver reads when the CPU first
//! comes online.

use crate::arch::x86::{acpi, topology};
use crate::errno::*;
use crate::kernel::Kernel;

/// `acpi_processor_add()`: 1 once the handler is attached, or the error.
pub async fn acpi_processor_add(k: &Kernel, slot: usize) -> i32 {
    let id = match acpi_processor_get_info(k, slot).await {
        Ok(id) => id,
        Err(e) => return e,
    };
    if id >= k.cfg.cpus {
        k.splat(
            crate::kernel::trace::SplatKind::Bug,
            "drivers/acpi/acpi_processor.c:acpi_processor_add",
            format!("kernel BUG: BUG_ON(pr->id >= nr_cpu_ids): CPU{id}"),
            false,
        );
        k.die().await;
        return -EINVAL;
    }
    // get_cpu_device(pr->id), acpi_bind_one(), device_attach()
    if !k.s().cpu.devices.test(id) {
        return -ENODEV;
    }
    k.s().acpi.pr[slot] = Some(id);
    1
}

/// `acpi_processor_get_info()`, the part that finds the logical CPU:
/// `acpi_map_cpuid()` finds the possible CPU whose `x86_cpu_to_apicid` is
/// the processor's; without one, or not present, `acpi_processor_hotadd_init`.
async fn acpi_processor_get_info(k: &Kernel, slot: usize) -> Result<usize, i32> {
    let apicid = k.s().x86.madt[slot];
    let id = {
        let s = k.s();
        s.cpu.possible.iter().find(|&c| s.x86.cpu_to_apicid[c] == Some(apicid))
    };
    match id {
        Some(id) if k.s().cpu.present.test(id) => Ok(id),
        _ => acpi_processor_hotadd_init(k, slot, apicid).await,
    }
}

/// `acpi_processor_hotadd_init()`.
async fn acpi_processor_hotadd_init(k: &Kernel, slot: usize, apicid: u32) -> Result<usize, i32> {
    // _STA: the firmware marked it present before notifying.
    if !k.s().x86.slot_present[slot] {
        return Err(-ENODEV);
    }
    k.cpu_maps_update_begin().await;
    k.cpus_write_lock().await;
    let ret = match acpi::acpi_map_cpu(k, slot, apicid) {
        Err(e) => Err(e),
        Ok(cpu) => match topology::arch_register_cpu(k, slot, cpu) {
            0 => {
                k.step(format!("pr_info: CPU{cpu} has been hot-added"));
                Ok(cpu)
            }
            e => {
                acpi::acpi_unmap_cpu(k, cpu);
                Err(e)
            }
        },
    };
    k.cpus_write_unlock().await;
    k.cpu_maps_update_done().await;
    ret
}

/// `acpi_processor_remove()`: the CPU is offline already (the eject's
/// offline passes took it down, and `acpi_scan_lock` keeps it so).
pub async fn acpi_processor_remove(k: &Kernel, slot: usize) {
    let Some(id) = k.s().acpi.pr[slot].take() else {
        return;
    };
    // device_release_driver(), acpi_unbind_one(); per_cpu(processors) = NULL
    k.cpu_maps_update_begin().await;
    k.cpus_write_lock().await;
    // regression: synthetic-hot-remove-keeps-device
    if !k.cfg.has(crate::kernel::Regression::SyntheticHotRemoveKeepsDevice) {
        topology::arch_unregister_cpu(k, id);
    }
    acpi::acpi_unmap_cpu(k, id);
    k.cpus_write_unlock().await;
    k.cpu_maps_update_done().await;
}
