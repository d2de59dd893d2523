//! `lib/`: kernel library code (named `klib` here, `lib` being the crate
//! root's name).
pub mod memory_notifier_error_inject;
