//! `arch/x86/kernel/apic/apic.c`: how a processor's local APIC id becomes a
//! logical CPU number (`generic_processor_info`, `allocate_logical_cpuid`),
//! and which ids are primary SMT threads (`apic_id_is_primary_thread`); with
//! the per-CPU `x86_cpu_to_apicid` and `smp_num_siblings`
//! (arch/x86/kernel/cpu/topology.c `detect_extended_topology`, CPUID leaf
//! 0xb's SMT level) they rely on.
//!
//! The firmware's side is data: the machine's processors in MADT order, each
//! with its APIC id, the first `present` of them enabled at boot. Left out:
//! `disabled_cpu_apicid=`, the boot-CPU slot reservation (the boot CPU is
//! always the MADT's first entry here), APIC version checks,
//! `max_physical_apicid`, `phys_cpu_present_map`, x2APIC cluster ids and
//! NUMA (`acpi_map_cpu2node`: one node).

use crate::errno::*;
use crate::kernel::Kernel;
use crate::sim::CpuMask;

/// `MAX_LOCAL_APIC` on x86-64 (arch/x86/include/asm/apicdef.h): an APIC
/// id at or above it is skipped (`acpi_register_lapic`).
pub const MAX_LOCAL_APIC: u32 = 32768;

/// The x86 topology half of the kernel's state: APIC ids and SMT siblings.
#[derive(Clone, Debug)]
pub struct X86State {
    /// `smp_num_siblings`.
    pub smp_num_siblings: u32,
    /// The firmware's processors (MADT order): their APIC ids.
    pub madt: Vec<u32>,
    /// Which of them the firmware reports present (`_STA`): QEMU's view.
    pub slot_present: Vec<bool>,
    /// `per_cpu(x86_cpu_to_apicid, cpu)`; `None` is `BAD_APICID`.
    pub cpu_to_apicid: Vec<Option<u32>>,
    /// `cpuid_to_apicid[]`, `nr_logical_cpuids` entries: the logical id of
    /// an APIC id, kept once allocated ("cpuid <-> apicid mapping is
    /// persistent").
    pub cpuid_to_apicid: Vec<u32>,
    /// `num_processors`.
    pub num_processors: u32,
    /// `disabled_cpus`: MADT entries not enabled at boot.
    pub disabled_cpus: u32,
    /// `topology_sibling_cpumask(cpu)` (`cpu_sibling_map`), per CPU.
    pub sibling: Vec<CpuMask>,
    /// `cpu_sibling_setup_mask`.
    pub sibling_setup: CpuMask,
}

/// `count_order()`: the bits `n` values take (ceil(log2 n)).
pub fn count_order(n: u32) -> u32 {
    if n <= 1 { 0 } else { 32 - (n - 1).leading_zeros() }
}

/// `fls()`: the position of the highest set bit, 1-based (0 for 0).
fn fls(n: u32) -> u32 {
    32 - n.leading_zeros()
}

impl X86State {
    /// The boot-time enumeration: `acpi_parse_lapic` → `acpi_register_lapic`
    /// for every MADT entry, in order; the disabled ones only count in
    /// `disabled_cpus`, which `prefill_possible_map` adds to the possible
    /// CPUs (arch/x86/kernel/smpboot.c).
    pub fn new(apic_ids: &[u32], present: usize, smp_num_siblings: u32) -> X86State {
        let cpus = apic_ids.len();
        let mut x = X86State {
            smp_num_siblings: smp_num_siblings.max(1),
            madt: apic_ids.to_vec(),
            slot_present: (0..cpus).map(|i| i < present).collect(),
            cpu_to_apicid: vec![None; cpus],
            cpuid_to_apicid: Vec::with_capacity(cpus),
            num_processors: 0,
            disabled_cpus: 0,
            sibling: vec![CpuMask::empty(); cpus],
            sibling_setup: CpuMask::empty(),
        };
        for (slot, &id) in apic_ids.iter().enumerate() {
            if slot < present {
                let cpu = x.generic_processor_info(id, cpus).expect("the boot CPUs fit nr_cpu_ids");
                debug_assert_eq!(cpu, slot);
            } else {
                x.disabled_cpus += 1;
            }
        }
        // smp_prepare_cpus_common() → set_cpu_sibling_map(0)
        // (arch/x86/kernel/smpboot.c): the boot CPU alone so far.
        x.sibling_setup.set(0);
        x.sibling[0].set(0);
        x
    }

    /// `allocate_logical_cpuid()`: the logical id `apicid` had, or the next
    /// free one; `-EINVAL` once `nr_cpu_ids` are taken (after a
    /// `WARN_ONCE`, which the caller raises).
    fn allocate_logical_cpuid(&mut self, apicid: u32, nr_cpu_ids: usize) -> Result<usize, i32> {
        if let Some(i) = self.cpuid_to_apicid.iter().position(|&a| a == apicid) {
            return Ok(i);
        }
        if self.cpuid_to_apicid.len() >= nr_cpu_ids {
            return Err(-EINVAL);
        }
        self.cpuid_to_apicid.push(apicid);
        Ok(self.cpuid_to_apicid.len() - 1)
    }

    /// `generic_processor_info()` up to `set_cpu_present` (which the caller
    /// does on the kernel's masks): the logical CPU for `apicid`.
    pub fn generic_processor_info(&mut self, apicid: u32, nr_cpu_ids: usize) -> Result<usize, i32> {
        if self.num_processors as usize >= nr_cpu_ids {
            self.disabled_cpus += 1;
            return Err(-EINVAL);
        }
        let cpu = if self.num_processors == 0 && self.cpuid_to_apicid.is_empty() {
            // apicid == boot_cpu_physical_apicid: logical CPU 0.
            self.cpuid_to_apicid.push(apicid);
            0
        } else {
            match self.allocate_logical_cpuid(apicid, nr_cpu_ids) {
                Ok(c) => c,
                Err(e) => {
                    self.disabled_cpus += 1;
                    return Err(e);
                }
            }
        };
        self.cpu_to_apicid[cpu] = Some(apicid);
        self.num_processors += 1;
        Ok(cpu)
    }

    /// `apic_id_is_primary_thread()`: the SMT bits of the id are 0. With a
    /// sibling count that is not a power of two, 6.1 masks only
    /// `fls(smp_num_siblings) - 1` bits, as written.
    pub fn apic_id_is_primary_thread(&self, apicid: u32) -> bool {
        if self.smp_num_siblings == 1 {
            return true;
        }
        let mask = (1u32 << (fls(self.smp_num_siblings) - 1)) - 1;
        apicid & mask == 0
    }

    /// `match_smt()` without `X86_FEATURE_TOPOEXT` (arch/x86/kernel/smpboot.c):
    /// the same package, die and core, that is the same APIC id above the
    /// SMT bits (`detect_extended_topology`: `cpu_core_id` and
    /// `phys_proc_id` are the id shifted by `ht_mask_width`, masked).
    pub fn match_smt(&self, a: usize, b: usize) -> bool {
        let width = count_order(self.smp_num_siblings);
        match (self.cpu_to_apicid[a], self.cpu_to_apicid[b]) {
            (Some(x), Some(y)) => x >> width == y >> width,
            _ => false,
        }
    }
}

/// `BAD_APICID`: what `x86_cpu_to_apicid` holds for a CPU without one
/// (`acpi_unmap_cpu` writes -1 to the `u16`).
pub const BAD_APICID: u32 = 0xFFFF;

impl X86State {
    /// `topology_is_primary_thread()` (arch/x86/kernel/smpboot.c):
    /// `apic_id_is_primary_thread(per_cpu(x86_cpu_to_apicid, cpu))`.
    pub fn topology_is_primary_thread(&self, cpu: usize) -> bool {
        self.apic_id_is_primary_thread(self.cpu_to_apicid.get(cpu).copied().flatten().unwrap_or(BAD_APICID))
    }

    /// `topology_smt_supported()` (arch/x86/kernel/smpboot.c).
    pub fn topology_smt_supported(&self) -> bool {
        self.smp_num_siblings > 1
    }
}

impl Kernel {
    /// `topology_is_primary_thread()`.
    pub fn topology_is_primary_thread(&self, cpu: usize) -> bool {
        self.s().x86.topology_is_primary_thread(cpu)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primary_threads() {
        let x = X86State::new(&[0, 1, 2, 3], 4, 2);
        assert!(x.apic_id_is_primary_thread(0) && !x.apic_id_is_primary_thread(1) && x.apic_id_is_primary_thread(2));
        // Three siblings: 6.1 masks one bit only, so APIC id 2 counts as primary.
        let x = X86State::new(&[0, 1, 2, 4, 5, 6], 6, 3);
        assert!(x.apic_id_is_primary_thread(2) && !x.apic_id_is_primary_thread(5));
        assert_eq!((count_order(1), count_order(2), count_order(3), count_order(4)), (0, 1, 2, 2));
    }

    #[test]
    fn logical_ids_are_persistent() {
        let mut x = X86State::new(&[0, 1, 2, 3], 2, 1);
        assert_eq!(x.generic_processor_info(3, 4), Ok(2));
        x.cpu_to_apicid[2] = None;
        x.num_processors -= 1;
        assert_eq!(x.generic_processor_info(3, 4), Ok(2));
        assert_eq!(x.generic_processor_info(2, 4), Ok(3));
    }
}
