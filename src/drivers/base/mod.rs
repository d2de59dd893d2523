//! `drivers/base`: the device core, the CPU subsystem's sysfs files and
//! memory blocks.
pub mod cpu;
pub mod memory;
