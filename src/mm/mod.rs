//! `mm/`: the memory-management code on the hotplug paths.
pub mod slab;
