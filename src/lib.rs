//! hotplug-fi: a deterministic model of the Linux 6.1 hotplug engine, and a
//! fault-injection regression harness around it.
//!
//! The layers, from the bottom: [`sim`] (machine, tasks, executor, locks),
//! the kernel model ([`kernel`] with its trace, [`arch`], [`drivers`]), [`fault`]
//! (failpoint sites), [`case`] (the case file format), [`engine`] (runs one
//! run), [`report`] (a run rendered: trace, outcome), [`check`] (invariants),
//! [`verdict`] (one scenario from run to verdict), [`explore`] (scenario
//! lists, outcome grouping, interleavings, shrink) and [`snapshot`] (a case's
//! snapshot text). Tests and the CLI reach runs through [`verdict`] and
//! [`explore`] only.

#![forbid(unsafe_code)]

pub mod arch;
pub mod case;
pub mod check;
pub mod drivers;
pub mod engine;
pub mod errno;
pub mod explore;
pub mod fault;
pub mod html;
pub mod kernel;
pub mod klib;
pub mod mm;
pub mod oracle;
pub mod report;
pub mod restore;
pub mod results;
pub mod sim;
pub mod snapshot;
pub mod verdict;
