//! `arch/x86/kernel/irq.c` and the interrupt routing a case's device
//! interrupt sources need.
//!
//! A source is routed to one CPU (its affinity). When that CPU leaves the
//! online mask, `fixup_irqs()` (from `cpu_disable_common()`) →
//! `migrate_one_irq()` breaks the affinity (`brokeaff`): the interrupt may go
//! to any online CPU from then on, and stays there when the CPU comes back;
//! the model routes it to the first online CPU. Firing is a
//! scheduling choice the executor offers on the routed CPU whenever its IRQs
//! are enabled, up to the source's `fires` times; the default schedule never
//! takes it, so every firing is one deviation. The handler runs in hard-IRQ
//! context (`common_interrupt`). Left out: vectors, priorities between
//! devices, threaded handlers, affinity masks of more than one CPU, and
//! managed interrupts (blk-mq's), which are shut down with their last CPU
//! instead of moving.

use crate::kernel::trace::Event;
use crate::kernel::{KState, Kernel};

/// One device interrupt source of a case, at run time.
#[derive(Clone, Debug)]
pub struct IrqLine {
    pub name: String,
    /// The CPU it is routed to: the case's, until `fixup_irqs` moves it.
    pub cpu: usize,
    /// How many times it may fire, and how many it did.
    pub fires: u32,
    pub fired: u32,
}

/// Where the interrupt is delivered now.
pub fn effective_cpu(_s: &KState, line: &IrqLine) -> usize {
    line.cpu
}

/// `fixup_irqs()` on the CPU leaving the online mask: every interrupt routed
/// only there breaks its affinity and moves to an online CPU.
pub fn fixup_irqs(k: &Kernel, cpu: usize) {
    let mut s = k.s();
    let Some(to) = s.cpu.online.first() else { return };
    let moved: Vec<usize> = (0..s.irqs.len()).filter(|&n| s.irqs[n].cpu == cpu).collect();
    for n in moved {
        s.irqs[n].cpu = to;
        let name = s.irqs[n].name.clone();
        s.record_text(format!("fixup_irqs: {name} no longer affine to CPU{cpu}, now on CPU{to}"), Event::Note);
    }
}
