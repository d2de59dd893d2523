//! `drivers/base`: the device core and the CPU subsystem's sysfs files.
pub mod cpu;
