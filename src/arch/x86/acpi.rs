//! `arch/x86/kernel/acpi/boot.c`, the CPU hotplug part
//! (`CONFIG_ACPI_HOTPLUG_CPU`): `acpi_map_cpu` → `acpi_register_lapic` →
//! `generic_processor_info` (a logical CPU for the APIC id, possible and
//! present), and `acpi_unmap_cpu` (`x86_cpu_to_apicid` = -1, not present,
//! `num_processors--`). Left out: `acpi_processor_set_pdc`, and
//! `acpi_map_cpu2node`/`set_apicid_to_node` (one NUMA node).

use crate::errno::*;
use crate::fault::{AcpiStep, Site};
use crate::kernel::Kernel;

use super::apic::MAX_LOCAL_APIC;

/// `acpi_map_cpu()` for processor `slot` (its MADT position, for the
/// failpoint's name): the logical CPU, now present.
pub fn acpi_map_cpu(k: &Kernel, slot: usize, physid: u32) -> Result<usize, i32> {
    let site = Site::Acpi { cpu: slot as u16, step: AcpiStep::MapCpu };
    if let Some(err) = k.failpoint(site, false) {
        k.step(format!("acpi_map_cpu() = {}  (failpoint {site})", name(i64::from(err))));
        k.step("pr_info: Unable to map lapic to logical cpu number".to_string());
        return Err(err);
    }
    match acpi_register_lapic(k, physid) {
        Ok(cpu) => Ok(cpu),
        Err(e) => {
            k.step("pr_info: Unable to map lapic to logical cpu number".to_string());
            Err(e)
        }
    }
}

/// `acpi_register_lapic(id, acpiid, ACPI_MADT_ENABLED)`.
fn acpi_register_lapic(k: &Kernel, id: u32) -> Result<usize, i32> {
    if id >= MAX_LOCAL_APIC {
        k.step("pr_info: skipped apicid that is too big".to_string());
        return Err(-EINVAL);
    }
    let nr_cpu_ids = k.s().cpu.possible.weight();
    let cpu = {
        let mut s = k.s();
        s.x86.generic_processor_info(id, nr_cpu_ids)
    };
    match cpu {
        Ok(cpu) => {
            // generic_processor_info(): set_cpu_possible(), set_cpu_present()
            let mut s = k.s();
            s.cpu.possible.set(cpu);
            s.cpu.present.set(cpu);
            drop(s);
            k.step(format!("generic_processor_info(apicid {id:#x}) = CPU{cpu}: set_cpu_present({cpu}, true)"));
            Ok(cpu)
        }
        Err(e) => {
            if k.s().x86.cpuid_to_apicid.len() >= nr_cpu_ids {
                k.warn_once(
                    "arch/x86/kernel/apic/apic.c:allocate_logical_cpuid",
                    "APIC: NR_CPUS/possible_cpus limit reached",
                    false,
                );
            }
            Err(e)
        }
    }
}

/// `acpi_unmap_cpu()`.
pub fn acpi_unmap_cpu(k: &Kernel, cpu: usize) {
    let mut s = k.s();
    s.x86.cpu_to_apicid[cpu] = None;
    s.cpu.present.clear(cpu);
    s.x86.num_processors -= 1;
    drop(s);
    k.step(format!("acpi_unmap_cpu({cpu}): set_cpu_present({cpu}, false)"));
}
