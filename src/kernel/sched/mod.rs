//! `kernel/sched/`: the scheduler's side of CPU hotplug. [`core`] is
//! `kernel/sched/core.c`: the runqueues' hotplug state and the callbacks
//! `sched_cpu_activate`, `sched_cpu_deactivate`, `sched_cpu_wait_empty`
//! and `sched_cpu_dying`.
//!
//! Left out: every scheduling class, load balancing, time; see [`core`].

pub mod core;
