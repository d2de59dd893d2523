//! `kernel/smpboot.c` (6.1.192): the per-CPU hotplug threads registered
//! with `smpboot_register_percpu_thread`, and the hotplug callbacks that
//! create, unpark and park them: `smpboot_create_threads`
//! (`CPUHP_CREATE_THREADS`), `smpboot_unpark_threads` and
//! `smpboot_park_threads` (`CPUHP_AP_SMPBOOT_THREADS`).
//!
//! The registered threads are Debian 6.1's, in `hotplug_threads` order
//! (`list_add` puts the newest first): `cpuhp/%u` (kernel/cpu.c
//! `cpuhp_threads`, registered last, from `smp_init`), `migration/%u`
//! (kernel/stop_machine.c `cpu_stop_threads`, an `early_initcall`) and
//! `ksoftirqd/%u` (kernel/softirq.c `softirq_threads`, an `early_initcall`
//! linked before stop_machine.o). `rcuc/%u` is registered only without
//! `use_softirq`, and `irq_work/%u` only on PREEMPT_RT: neither in Debian's
//! build. `cpuhp` and `migration` park themselves (`selfparking`): their
//! park state is the cpuhp thread's (`kernel/cpu.rs`) and the stopper's
//! (`kernel/stop_machine.rs`); smpboot parks and unparks only `ksoftirqd`.
//!
//! A thread, once created, stays for good (`__smpboot_create_thread`
//! returns at once for an existing one): a `smpboot_create_threads` that
//! fails keeps the threads it made before the failure, and a later bringup
//! creates only the rest. That is 6.1's rule, not a leak, and the
//! `restore` check leaves `created` out.
//!
//! `smpboot_threads_lock` is taken and released inside each callback with
//! nothing else able to take it (no case operation registers a thread), so
//! the model records its lock order without a scheduling point.
//!
//! Left out: the threads' own loop (`smpboot_thread_fn`: `ksoftirqd` has no
//! softirq work here, so it parks as soon as it is asked, and
//! `kthread_park` does not wait), `smpboot_register_percpu_thread` and
//! `smpboot_unregister_percpu_thread` at run time, the `kzalloc_node`
//! failure of `__smpboot_create_thread` (the same unwind as
//! `kthread_create_on_cpu`'s), and `cpu_report_state`/`cpu_check_up_prepare`.

use crate::fault::Callee;
use crate::sim::lock::{LockId, LockKind, Locks};

use super::cpuhotplug::Profile;
use super::{KState, Kernel, Regression};

/// `struct smp_hotplug_thread`, as much as hotplug reads.
#[derive(Clone, Copy, Debug)]
pub struct HotplugThread {
    /// `thread_comm` without its `/%u`.
    pub comm: &'static str,
    pub selfparking: bool,
}

/// `hotplug_threads`, head first.
pub const HOTPLUG_THREADS: [HotplugThread; 3] = [
    HotplugThread { comm: "cpuhp", selfparking: true },
    HotplugThread { comm: "migration", selfparking: true },
    HotplugThread { comm: "ksoftirqd", selfparking: false },
];

/// The index of `ksoftirqd` in [`HOTPLUG_THREADS`].
const KSOFTIRQD: usize = 2;

/// Per CPU: which threads exist, and whether `ksoftirqd` is parked.
#[derive(Clone, Debug)]
pub struct SmpbootState {
    /// `*per_cpu_ptr(ht->store, cpu) != NULL`, per thread.
    pub created: Vec<[bool; 3]>,
    /// `kthread_park(ksoftirqd/N)` in effect.
    pub ksoftirqd_parked: Vec<bool>,
    pub smpboot_threads_lock: LockId,
    /// `CPUHP_CREATE_THREADS` and `CPUHP_AP_SMPBOOT_THREADS` in the profile.
    pub states: Option<(u16, u16)>,
}

impl SmpbootState {
    /// As boot leaves it before SMP bringup: the boot CPU's threads made
    /// and running (`smpboot_register_percpu_thread` unparks them).
    pub fn new(cpus: usize, locks: &mut Locks, profile: &Profile) -> SmpbootState {
        let mut created = vec![[false; 3]; cpus];
        created[0] = [true; 3];
        let mut ksoftirqd_parked = vec![true; cpus];
        ksoftirqd_parked[0] = false;
        let smpboot_threads_lock = locks.add("smpboot_threads_lock", LockKind::Mutex);
        let state = |n: &str| profile.enums.get(n).copied();
        let states = state("CPUHP_CREATE_THREADS").zip(state("CPUHP_AP_SMPBOOT_THREADS"));
        SmpbootState { created, ksoftirqd_parked, smpboot_threads_lock, states }
    }
}

impl Kernel {
    /// `smpboot_create_threads()`: `__smpboot_create_thread` for each
    /// registered thread the CPU does not have yet, stopping at the first
    /// failure.
    pub(crate) fn smpboot_create_threads(&self, cpu: usize) -> i32 {
        let lock = self.s().smpboot.smpboot_threads_lock;
        self.lock_private(lock);
        let mut ret = 0;
        let state = self.s().smpboot.states.map_or(1, |(c, _)| c);
        for (i, ht) in HOTPLUG_THREADS.iter().enumerate() {
            if self.s().smpboot.created[cpu][i] {
                continue;
            }
            let thread = format!("{}/{cpu}", ht.comm);
            if let Some(err) = self.callee_fails(cpu, true, state, Callee::KthreadCreateOnCpu, &thread) {
                ret = err;
                break;
            }
            // kthread_park(tsk): every new thread starts parked.
            let mut s = self.s();
            s.smpboot.created[cpu][i] = true;
            if i == KSOFTIRQD {
                s.smpboot.ksoftirqd_parked[cpu] = true;
            }
        }
        self.unlock_private(lock);
        ret
    }

    /// `smpboot_unpark_threads()`: `kthread_unpark` of each thread that
    /// does not park itself.
    pub(crate) fn smpboot_unpark_threads(&self, cpu: usize) -> i32 {
        let lock = self.s().smpboot.smpboot_threads_lock;
        self.lock_private(lock);
        self.s().smpboot.ksoftirqd_parked[cpu] = false;
        self.unlock_private(lock);
        0
    }

    /// `smpboot_park_threads()`: `kthread_park` of each existing thread that
    /// does not park itself, newest registration last.
    pub(crate) fn smpboot_park_threads(&self, cpu: usize) -> i32 {
        let lock = self.s().smpboot.smpboot_threads_lock;
        self.lock_private(lock);
        // regression: synthetic-smpboot-park-skipped
        if self.s().smpboot.created[cpu][KSOFTIRQD] && !self.cfg.has(Regression::SyntheticSmpbootParkSkipped) {
            self.s().smpboot.ksoftirqd_parked[cpu] = true;
        }
        self.unlock_private(lock);
        0
    }
}

/// The `smpboot` check: at rest, a CPU that went past
/// `CPUHP_CREATE_THREADS` has every thread, and `ksoftirqd/N` runs exactly
/// on the CPUs at or above `CPUHP_AP_SMPBOOT_THREADS`.
pub fn check(s: &KState, settled: bool) -> Vec<String> {
    let mut v = Vec::new();
    let Some((create, smpboot)) = s.smpboot.states.filter(|_| settled) else { return v };
    for (cpu, st) in s.cpu.cpuhp.iter().enumerate() {
        if s.cpu.creek.test(cpu) {
            continue;
        }
        let made = &s.smpboot.created[cpu];
        if st.state >= create && !made.iter().all(|&c| c) {
            let missing: Vec<&str> =
                HOTPLUG_THREADS.iter().zip(made).filter(|(_, c)| !**c).map(|(h, _)| h.comm).collect();
            v.push(format!("CPU{cpu} is at state {} but has no {}/{cpu} thread", st.state, missing.join(", ")));
        }
        let running = made[KSOFTIRQD] && !s.smpboot.ksoftirqd_parked[cpu];
        let want = st.state >= smpboot;
        if running != want {
            v.push(format!(
                "ksoftirqd/{cpu} is {} but CPU{cpu} is at state {} ({} CPUHP_AP_SMPBOOT_THREADS)",
                if running { "running" } else { "parked" },
                st.state,
                if want { "at or above" } else { "below" }
            ));
        }
    }
    v
}

/// The final state's line for CPUs with only some of their threads made
/// (a `smpboot_create_threads` that failed part way).
pub fn final_state(s: &KState) -> Option<String> {
    let partial: Vec<String> = s
        .smpboot
        .created
        .iter()
        .enumerate()
        .filter(|(_, made)| made.iter().any(|&c| c) && !made.iter().all(|&c| c))
        .map(|(cpu, made)| {
            let have: Vec<String> = HOTPLUG_THREADS
                .iter()
                .zip(made)
                .filter(|(_, c)| **c)
                .map(|(h, _)| format!("{}/{cpu}", h.comm))
                .collect();
            format!("cpu{cpu} has only {}", have.join(", "))
        })
        .collect();
    (!partial.is_empty()).then(|| format!("smpboot threads: {}", partial.join("; ")))
}
