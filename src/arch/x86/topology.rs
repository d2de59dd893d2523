//! `arch/x86/kernel/topology.c`: `arch_register_cpu` (a CPU's device is
//! hotpluggable, so it has an `online` file, unless it is CPU 0 without
//! `cpu0_hotplug`) → `register_cpu`, and `arch_unregister_cpu` →
//! `unregister_cpu`. `topology_init` registers every present CPU at boot
//! (the model starts with their devices there). Left out:
//! `CONFIG_BOOTPARAM_HOTPLUG_CPU0`/`cpu0_hotplug` (off on Debian) and its
//! vendor and PIC-interrupt checks.

use crate::drivers::base::cpu;
use crate::kernel::Kernel;

/// `arch_register_cpu(num)`; `slot` names the failpoint.
pub fn arch_register_cpu(k: &Kernel, slot: usize, num: usize) -> i32 {
    cpu::register_cpu(k, slot, num)
}

/// `arch_unregister_cpu(num)`.
pub fn arch_unregister_cpu(k: &Kernel, num: usize) {
    cpu::unregister_cpu(k, num);
}
