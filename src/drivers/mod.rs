//! Device-model code on the hotplug paths: the device core's CPU and
//! memory devices, and ACPI's processor hot-add and hot-remove.
pub mod acpi;
pub mod base;
