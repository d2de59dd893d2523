//! `arch/x86`: the parts of CPU bringup and teardown that are arch code.
pub mod smpboot;
