//! `arch/x86/kernel/irq.c` and the interrupt routing a case's device
//! interrupt sources need.
//!
//! A source is routed to one CPU (its affinity). When that CPU leaves the
//! online mask, `fixup_irqs()` (from `cpu_disable_common()`) moves the
//! interrupt to an online CPU; the model picks the first. Firing is a
//! scheduling choice the executor offers on the routed CPU whenever its IRQs
//! are enabled, up to the source's `fires` times; the default schedule never
//! takes it, so every firing is one deviation. The handler runs in hard-IRQ
//! context (`common_interrupt`). Left out: vectors, priorities between
//! devices, threaded handlers and affinity masks of more than one CPU.

use crate::kernel::KState;

/// One device interrupt source of a case, at run time.
#[derive(Clone, Debug)]
pub struct IrqLine {
    pub name: String,
    /// The CPU its affinity names.
    pub cpu: usize,
    /// How many times it may fire, and how many it did.
    pub fires: u32,
    pub fired: u32,
}

/// Where the interrupt is delivered now: its CPU, or if that CPU is
/// offline, where `fixup_irqs` moved it.
pub fn effective_cpu(s: &KState, line: &IrqLine) -> usize {
    if s.cpu.online.test(line.cpu) { line.cpu } else { s.cpu.online.first().unwrap_or(line.cpu) }
}
