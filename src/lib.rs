//! hotplug-fi: a deterministic model of the Linux 6.1 hotplug engine, and a
//! fault-injection regression harness around it.
//!
//! The layers, from the bottom: [`sim`] (machine, tasks, executor, locks),
//! the kernel model ([`kernel`] with its trace, [`arch`], [`drivers`]),
//! [`fault`] (failpoint sites), [`case`] (the case file format), [`engine`]
//! (runs one scenario), [`check`] (invariants), [`explore`] (scenario lists
//! and outcome grouping) and [`report`] (snapshot text). Tests and the CLI go through
//! [`explore`] and [`engine`] only.

pub mod arch;
pub mod case;
pub mod check;
pub mod drivers;
pub mod engine;
pub mod errno;
pub mod explore;
pub mod fault;
pub mod kernel;
pub mod klib;
pub mod mm;
pub mod oracle;
pub mod report;
pub mod sim;
