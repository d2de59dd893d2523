//! `arch/x86`: the parts of CPU bringup and teardown that are arch code, the
//! call-function IPIs, and device interrupt routing.
pub mod irq;
pub mod smp;
pub mod smpboot;
