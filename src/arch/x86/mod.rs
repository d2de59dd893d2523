//! `arch/x86`: the parts of CPU bringup and teardown that are arch code, the
//! call-function IPIs, device interrupt routing, APIC ids and the SMT
//! topology, and the arch side of ACPI CPU hot-add and hot-remove.
pub mod acpi;
pub mod apic;
pub mod irq;
pub mod smp;
pub mod smpboot;
pub mod topology;
