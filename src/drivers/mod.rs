//! Device-model code on the hotplug paths.
pub mod base;
