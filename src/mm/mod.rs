//! `mm/`: the memory-management code on the hotplug paths.
pub mod memory_hotplug;
pub mod page_alloc;
pub mod page_isolation;
pub mod slab;
pub mod slub;
pub mod swap;
