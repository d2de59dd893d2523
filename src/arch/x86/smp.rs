//! `arch/x86/kernel/smp.c` and the local APIC as far as IPIs go: sending the
//! call-function vectors, and taking them.
//!
//! An IPI sets a pending vector on the target CPU. The target takes it when
//! its IRQs are enabled and the executor runs its IPI task; the default
//! schedule does that at the first decision after the IPI became
//! deliverable, as hardware would. `CALL_FUNCTION_VECTOR` (0xfc) is taken
//! before `CALL_FUNCTION_SINGLE_VECTOR` (0xfb), higher vectors first. Both
//! handlers run `generic_smp_call_function_single_interrupt`
//! (`sysvec_call_function`, `sysvec_call_function_single`).
//!
//! The failpoint `smp/cpuN/ipi` is evaluated at each send to CPU N. It holds
//! the IPI back: with `return`, until CPU N next enables IRQs (or goes idle,
//! whose loop does); with `return(N)`, for N executor steps. A held-back IPI
//! is never lost: when nothing else can run, it is delivered.
//!
//! Booting a CPU (INIT/SIPI) resets its APIC, so pending vectors of a dead
//! CPU are dropped when it starts again; its `call_single_queue` is not.
//! Left out: NMIs, the reschedule and other vectors, x2APIC details.

use crate::fault::Site;
use crate::kernel::smp::HeldBack;
use crate::kernel::trace::Event;
use crate::kernel::{Kernel, Wait};
use crate::sim::CpuMask;

/// `CALL_FUNCTION_SINGLE_VECTOR`, as a pending bit.
pub const SINGLE: u8 = 1;
/// `CALL_FUNCTION_VECTOR`, as a pending bit.
pub const MANY: u8 = 2;

/// `arch_send_call_function_single_ipi(cpu)`.
pub fn send_call_function_single_ipi(k: &Kernel, cpu: usize) {
    send(k, cpu, SINGLE);
}

/// `arch_send_call_function_ipi_mask(mask)`.
pub fn send_call_function_ipi_mask(k: &Kernel, mask: CpuMask) {
    for cpu in mask.iter() {
        send(k, cpu, MANY);
    }
}

fn send(k: &Kernel, cpu: usize, vector: u8) {
    let held = match k.failpoint_arg(Site::Ipi { cpu: cpu as u16 }) {
        None => HeldBack::No,
        Some(None) => HeldBack::UntilIrqEnable,
        Some(Some(n)) => HeldBack::UntilStep(k.s().steps + n),
    };
    let mut s = k.s();
    s.smp.pending[cpu] |= vector;
    if held != HeldBack::No {
        s.smp.held[cpu] = held;
        let steps = match held {
            HeldBack::UntilStep(at) => (at - s.steps) as u32,
            _ => 0,
        };
        s.record(Event::IpiHeld { cpu: cpu as u16, steps });
    }
}

/// The CPU's IPI task: takes one pending vector at a time.
pub async fn ipi_task(k: &Kernel, cpu: usize) {
    loop {
        k.block(Wait::Ipi(cpu)).await;
        let vector = {
            let mut s = k.s();
            let v = if s.smp.pending[cpu] & MANY != 0 { MANY } else { SINGLE };
            s.smp.pending[cpu] &= !v;
            s.smp.held[cpu] = HeldBack::No;
            v
        };
        k.trace(Event::IpiEnter { cpu: cpu as u16, single: vector == SINGLE });
        k.generic_smp_call_function_single_interrupt().await;
        k.trace(Event::IrqExit);
    }
}

/// INIT/SIPI reset the APIC of a CPU that boots: nothing stays pending.
pub fn apic_reset(k: &Kernel, cpu: usize) {
    let mut s = k.s();
    s.smp.pending[cpu] = 0;
    s.smp.held[cpu] = HeldBack::No;
}
