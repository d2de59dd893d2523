//! `arch/x86/kernel/smpboot.c`: the AP side of bringup (`start_secondary`),
//! the BP side (`native_cpu_up`), and `native_cpu_disable`/`native_cpu_die`.
//!
//! The AP's idle task is a task of its own. `native_cpu_up` asks it to start
//! and spins until the AP has set itself online; the idle task then runs
//! `start_secondary` with IRQs off: `notify_cpu_starting` (the STARTING
//! callbacks, called from `smp_callin`), `set_cpu_online`, IRQs on, and
//! `cpu_startup_entry(CPUHP_AP_ONLINE_IDLE)`. When the CPU has been taken
//! down, the idle loop notices it is offline and calls
//! `cpuhp_report_idle_dead` before `play_dead`.
//!
//! The SMT sibling map: `set_cpu_sibling_map` (from `smp_callin` on the AP,
//! before the STARTING callbacks, and for CPU 0 from
//! `smp_prepare_cpus_common`) links the CPU with every CPU already set up
//! that `match_smt` pairs it with; `remove_siblinginfo` (from
//! `cpu_disable_common`, before the CPU leaves the online mask) unlinks it.
//! `cpu_smt_mask()` is `topology_sibling_cpumask()` (include/linux/topology.h
//! with `CONFIG_SCHED_SMT`). Left out: INIT/SIPI, TSC sync, microcode, MCE
//! setup, the `cpu_callin_mask` handshake, and of the topology maps all but
//! the sibling map (`cpu_core_map`, `cpu_die_map`, the LLC and L2 maps,
//! `booted_cores`, `smt_active`, `__max_smt_threads`/`recompute_smt_state`,
//! `x86_has_numa_in_package`): nothing the model runs reads them.

use crate::kernel::{Kernel, Wait};
use crate::sim::CpuMask;

impl Kernel {
    /// `cpu_smt_mask(cpu)`: the CPU's current SMT siblings, itself included,
    /// as `set_cpu_sibling_map`/`remove_siblinginfo` keep them (empty for a
    /// CPU that is not set up: offline, or not yet through `smp_callin`).
    pub fn cpu_smt_mask(&self, cpu: usize) -> CpuMask {
        self.s().x86.sibling.get(cpu).copied().unwrap_or_default()
    }
}

/// `set_cpu_sibling_map()`, the sibling map part.
pub fn set_cpu_sibling_map(k: &Kernel, cpu: usize) {
    let mut s = k.s();
    let x = &mut s.x86;
    let has_smt = x.smp_num_siblings > 1;
    x.sibling_setup.set(cpu);
    for i in x.sibling_setup.iter() {
        if i == cpu || (has_smt && x.match_smt(cpu, i)) {
            // link_mask(topology_sibling_cpumask, cpu, i)
            x.sibling[cpu].set(i);
            x.sibling[i].set(cpu);
        }
    }
}

/// `remove_siblinginfo()`, the sibling map part.
pub fn remove_siblinginfo(k: &Kernel, cpu: usize) {
    let mut s = k.s();
    let x = &mut s.x86;
    // regression: synthetic-sibling-map-kept
    if k.cfg.has(crate::kernel::Regression::SyntheticSiblingMapKept) {
        return;
    }
    for sibling in x.sibling[cpu].iter() {
        x.sibling[sibling].clear(cpu);
    }
    x.sibling[cpu] = CpuMask::empty();
    x.sibling_setup.clear(cpu);
}

/// `native_cpu_up()`: start the AP and wait until it is online.
pub async fn native_cpu_up(k: &Kernel, cpu: usize) -> i32 {
    k.s().cpu.boot_requested.set(cpu);
    k.block(Wait::CpuOnline(cpu)).await;
    0
}

/// `native_cpu_disable()` → `cpu_disable_common()`: the CPU leaves the
/// online mask and its device interrupts move (`fixup_irqs`). (The vector
/// check `lapic_can_unplug_cpu`, which can refuse with `-ENOSPC`, is where
/// a failpoint at `CPUHP_TEARDOWN_CPU` fails, in `take_cpu_down`.)
pub fn native_cpu_disable(k: &Kernel, cpu: usize) -> i32 {
    remove_siblinginfo(k, cpu);
    k.set_cpu_online(cpu, false);
    super::irq::fixup_irqs(k, cpu);
    0
}

/// `native_cpu_die()` → `common_cpu_die()` → `cpu_wait_death()`: waits
/// until the CPU has reported its death from `play_dead_common()`.
pub async fn native_cpu_die(k: &Kernel, cpu: usize) {
    k.block(Wait::CpuDead(cpu)).await;
}

/// The idle task of an AP, from power-on to `play_dead` and back.
pub async fn idle_task(k: &Kernel, cpu: usize) {
    loop {
        k.block(Wait::IdleBoot(cpu)).await;
        k.s().cpu.boot_requested.clear(cpu);
        start_secondary(k, cpu).await;
        k.block(Wait::IdleDie(cpu)).await;
        play_dead(k, cpu).await;
    }
}

/// `do_idle()` finding the CPU offline: with IRQs off,
/// `cpuhp_report_idle_dead()`, then `arch_cpu_idle_dead()` → `play_dead()`,
/// whose `play_dead_common()` reports the death (`cpu_report_death()`): the
/// CPU stops executing until it is booted again.
pub async fn play_dead(k: &Kernel, cpu: usize) {
    k.local_irq_disable();
    k.cpuhp_report_idle_dead(cpu).await;
    k.s().smp.powered.clear(cpu);
}

/// `start_secondary()`: runs on the AP with IRQs disabled until the end.
async fn start_secondary(k: &Kernel, cpu: usize) {
    k.local_irq_disable();
    super::smp::apic_reset(k, cpu);
    {
        let mut s = k.s();
        s.smp.powered.set(cpu);
        s.smp.gone.clear(cpu);
    }
    // smp_callin()
    set_cpu_sibling_map(k, cpu);
    k.notify_cpu_starting(cpu).await;
    k.set_cpu_online(cpu, true);
    k.local_irq_enable();
    k.cpuhp_online_idle(cpu);
}
