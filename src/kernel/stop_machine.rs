//! `kernel/stop_machine.c`, the part CPU hotplug needs: per-CPU stopper
//! threads, `stop_machine_cpuslocked()` for `take_cpu_down`, and
//! `stop_machine_park`/`stop_machine_unpark`.
//!
//! For now stop_machine runs its function on the one CPU in the mask, on
//! that CPU's stopper thread with IRQs disabled, and the control task waits
//! for it. Left out until the IPI model lands: `multi_cpu_stop` on every
//! online CPU with its MULTI_STOP_PREPARE → DISABLE_IRQ → RUN → EXIT stages,
//! and `stop_one_cpu`.

use crate::sim::lock::{CompletionId, Locks};

use super::{Kernel, Wait};

/// What a stopper was asked to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopFn {
    TakeCpuDown,
}

/// `struct cpu_stopper`, per CPU.
#[derive(Clone, Debug)]
pub struct StopState {
    pub work: Vec<Option<StopFn>>,
    /// `stopper->enabled`: cleared by `stop_machine_park`.
    pub enabled: Vec<bool>,
    /// The stopper is running its work.
    pub busy: Vec<bool>,
    pub result: Vec<i32>,
    pub done: Vec<CompletionId>,
}

impl StopState {
    pub fn new(cpus: usize, locks: &mut Locks) -> StopState {
        let mut enabled = vec![false; cpus];
        enabled[0] = true;
        StopState {
            work: vec![None; cpus],
            enabled,
            busy: vec![false; cpus],
            result: vec![0; cpus],
            done: (0..cpus).map(|_| locks.add_completion()).collect(),
        }
    }

    pub fn has_work(&self, cpu: usize) -> bool {
        self.enabled[cpu] && self.work[cpu].is_some()
    }

    /// Nothing queued and nothing running.
    pub fn idle(&self, cpu: usize) -> bool {
        self.work[cpu].is_none() && !self.busy[cpu]
    }
}

/// `stop_machine_park()`: called by `take_cpu_down` on the dying CPU.
pub fn stop_machine_park(k: &Kernel, cpu: usize) {
    k.s().stop.enabled[cpu] = false;
}

/// `stop_machine_unpark()`: called by `cpuhp_online_idle` on the new CPU.
pub fn stop_machine_unpark(k: &Kernel, cpu: usize) {
    k.s().stop.enabled[cpu] = true;
}

/// `stop_machine_cpuslocked(take_cpu_down, NULL, cpumask_of(cpu))`.
pub async fn stop_machine_cpuslocked(k: &Kernel, cpu: usize) -> i32 {
    let done = {
        let mut s = k.s();
        if !s.stop.enabled[cpu] {
            return -crate::errno::ENOENT;
        }
        s.stop.work[cpu] = Some(StopFn::TakeCpuDown);
        s.stop.done[cpu]
    };
    k.wait_for_completion(done).await;
    k.s().stop.result[cpu]
}

/// The stopper thread `migration/N`: `cpu_stopper_thread` running
/// `multi_cpu_stop`, which disables IRQs around the function.
pub async fn cpu_stopper_thread(k: &Kernel, cpu: usize) {
    loop {
        k.block(Wait::StopperWork(cpu)).await;
        let work = {
            let mut s = k.s();
            s.stop.busy[cpu] = true;
            s.stop.work[cpu].take()
        };
        k.local_irq_disable();
        let ret = match work {
            Some(StopFn::TakeCpuDown) => k.take_cpu_down(cpu).await,
            None => 0,
        };
        k.local_irq_enable();
        let done = {
            let mut s = k.s();
            s.stop.result[cpu] = ret;
            s.stop.busy[cpu] = false;
            s.stop.done[cpu]
        };
        k.complete(done);
    }
}
