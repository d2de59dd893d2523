//! `mm/`: the memory-management code on the hotplug paths.
pub mod memory_hotplug;
pub mod slab;
pub mod slub;
