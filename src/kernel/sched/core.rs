//! `kernel/sched/core.c` (6.1.192), the hotplug side: each runqueue's
//! `online` flag and `balance_callback` (`balance_push`), the root
//! domain's `online` mask, the `sched_smt_present` static key's count,
//! `num_cpus_frozen`, and the callbacks `sched_cpu_activate`,
//! `sched_cpu_deactivate` (with its `dl_bw_check_overflow` failure and
//! unwind), `sched_cpu_wait_empty` (`balance_hotplug_wait`) and
//! `sched_cpu_dying` ("Dying CPU not properly vacated!").
//!
//! Which tasks are on a runqueue: a case's task on the CPU that is
//! runnable and has not slept since it last ran (a task that sleeps is
//! off the runqueue, and its wakeup picks an allowed CPU). `balance_push`
//! moves such a task off a dying CPU when it next runs there
//! (`kernel/world.rs`, `migrate_off_inactive`), which is what
//! `sched_cpu_wait_empty` waits for.
//!
//! 6.1.192's `sched_cpu_deactivate` undoes a `cpuset_cpu_inactive` failure
//! only in part: the active bit, `balance_push` and `sched_smt_present`
//! come back, the runqueue stays offline (`set_rq_offline` ran, nothing
//! calls `set_rq_online`), until the next `sched_cpu_activate`. Mainline
//! fixed it in fe7a11c78d2a ("sched/core: Fix unbalance
//! set_rq_online/offline() in sched_cpu_deactivate()", 6.10), which 6.1 did
//! not take. The model keeps the 6.1 behaviour and marks such a runqueue
//! (`Rq::left_offline`), the one exception the `sched` and `restore`
//! checks make for it.
//!
//! Left out: the scheduling classes' `rq_online`/`rq_offline` hooks,
//! `nohz_balance_exit_idle`, NUMA (`sched_update_numa`,
//! `sched_domains_numa_masks_*`), core scheduling (`sched_core_cpu_*`),
//! the tick (`sched_tick_start`/`sched_tick_stop`), load accounting
//! (`calc_load_migrate`), `hrtick_clear`, and cpusets: 6.1's
//! `cpuset_update_active_cpus` only schedules `cpuset_hotplug_work`, and the
//! model keeps one root domain whose span is every possible CPU, so
//! `BUG_ON(!cpumask_test_cpu(cpu, rq->rd->span))` cannot fire.
//! `synchronize_rcu()` in `sched_cpu_deactivate` waits for readers of
//! `cpu_active_mask` the model does not have.

use crate::fault::{Callee, Site};
use crate::kernel::trace::{Event, SplatKind};
use crate::sim::{CpuMask, TaskKind};

use super::super::{KState, Kernel, Regression, Task, Wait};

/// The hotplug side of `struct rq`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rq {
    /// `rq->online`.
    pub online: bool,
    /// `rq->balance_callback == &balance_push_callback`.
    pub balance_push: bool,
    /// Left offline by 6.1.192's unwind of a failed `sched_cpu_deactivate`
    /// (see the module's doc).
    pub left_offline: bool,
}

/// The scheduler's hotplug state.
#[derive(Clone, Debug)]
pub struct SchedState {
    pub rq: Vec<Rq>,
    /// `def_root_domain.online`.
    pub rd_online: CpuMask,
    /// `sched_smt_present`'s count (`static_branch_inc_cpuslocked`).
    pub smt_present: i32,
    /// `num_cpus_frozen`.
    pub num_cpus_frozen: i32,
}

impl SchedState {
    /// As `sched_init` leaves it: the boot CPU's runqueue online
    /// (`rq_attach_root` puts an active CPU's runqueue online).
    pub fn new(cpus: usize) -> SchedState {
        let mut rq = vec![Rq::default(); cpus];
        rq[0].online = true;
        SchedState { rq, rd_online: CpuMask::of(0), smt_present: 0, num_cpus_frozen: 0 }
    }
}

/// Whether `t` is one of the case's tasks on `cpu`'s runqueue: runnable
/// there and not asleep since it last ran. A task that never ran has no
/// wait yet; it is not on a runqueue until its first wakeup places it
/// (`wake_up_new_task`).
fn on_rq(t: &Task, cpu: usize) -> bool {
    let runnable = t.wait.is_some_and(|w| w == Wait::Yield || w.spins());
    matches!(t.kind, TaskKind::Control(_)) && !t.finished && !t.died && t.ctx.cpu == cpu && runnable
}

/// `rq->nr_running` less the hotplug thread or stopper that asks.
pub fn nr_running(s: &KState, cpu: usize) -> usize {
    s.tasks.iter().filter(|t| on_rq(t, cpu)).count()
}

impl Kernel {
    /// `set_rq_online()`.
    fn set_rq_online(&self, cpu: usize) {
        let mut s = self.s();
        if !s.sched.rq[cpu].online {
            s.sched.rq[cpu].online = true;
            s.sched.rq[cpu].left_offline = false;
            s.sched.rd_online.set(cpu);
        }
    }

    /// `set_rq_offline()`.
    fn set_rq_offline(&self, cpu: usize) {
        let mut s = self.s();
        if s.sched.rq[cpu].online {
            s.sched.rq[cpu].online = false;
            s.sched.rd_online.clear(cpu);
        }
    }

    /// `balance_push_set()`.
    fn balance_push_set(&self, cpu: usize, on: bool) {
        let was = self.s().sched.rq[cpu].balance_push;
        if on && was {
            self.warn_once("kernel/sched/core.c:balance_push_set", "WARN_ON_ONCE(rq->balance_callback)", false);
        }
        self.s().sched.rq[cpu].balance_push = on;
    }

    /// `cpu_smt_mask(cpu)`: the CPU's SMT siblings that are online.
    fn smt_mask_online(&self, s: &KState, cpu: usize) -> CpuMask {
        let tpc = self.cfg.threads_per_core.max(1);
        let first = cpu - cpu % tpc;
        let mut m = CpuMask::empty();
        for c in first..(first + tpc).min(self.cfg.cpus) {
            if s.cpu.online.test(c) {
                m.set(c);
            }
        }
        m
    }

    /// `sched_smt_present_inc()` / `sched_smt_present_dec()`.
    fn sched_smt_present_step(&self, cpu: usize, inc: bool) {
        let mut s = self.s();
        if self.smt_mask_online(&s, cpu).weight() != 2 {
            return;
        }
        s.sched.smt_present += if inc { 1 } else { -1 };
        let negative = s.sched.smt_present < 0;
        drop(s);
        // __static_key_slow_dec_cpuslocked (kernel/jump_label.c).
        if negative {
            self.warn_once("kernel/jump_label.c:__static_key_slow_dec_cpuslocked", "jump label: negative count!", false);
        }
    }

    /// `sched_cpu_activate()`.
    pub(crate) fn sched_cpu_activate(&self, cpu: usize) -> i32 {
        self.balance_push_set(cpu, false);
        self.sched_smt_present_step(cpu, true);
        self.set_cpu_active(cpu, true);
        self.cpuset_cpu_active();
        if !self.cfg.has(Regression::SyntheticSchedActivateNoRqOnline) {
            self.set_rq_online(cpu);
        }
        0
    }

    /// `cpuset_cpu_active()`: the count of a suspend's frozen CPUs.
    fn cpuset_cpu_active(&self) {
        let mut s = self.s();
        if s.cpu.tasks_frozen {
            s.sched.num_cpus_frozen -= 1;
        }
    }

    /// `sched_cpu_deactivate()`, with 6.1.192's unwind.
    pub(crate) fn sched_cpu_deactivate(&self, cpu: usize, state: u16) -> i32 {
        self.set_cpu_active(cpu, false);
        self.balance_push_set(cpu, true);
        self.set_rq_offline(cpu);
        self.sched_smt_present_step(cpu, false);
        let ret = self.cpuset_cpu_inactive(cpu, state);
        if ret != 0 {
            if !self.cfg.has(Regression::SyntheticSchedDeactivateUnwindSmt) {
                self.sched_smt_present_step(cpu, true);
            }
            self.balance_push_set(cpu, false);
            self.set_cpu_active(cpu, true);
            // set_rq_online() is missing here in 6.1.192 (fe7a11c78d2a).
            let mut s = self.s();
            s.sched.rq[cpu].left_offline = !s.sched.rq[cpu].online;
            return ret;
        }
        0
    }

    /// `cpuset_cpu_inactive()`: `dl_bw_check_overflow` outside a suspend.
    fn cpuset_cpu_inactive(&self, cpu: usize, state: u16) -> i32 {
        if self.s().cpu.tasks_frozen {
            self.s().sched.num_cpus_frozen += 1;
            return 0;
        }
        let site = Site::Callee { cpu: cpu as u16, bringup: false, state, callee: Callee::DlBwCheckOverflow };
        let rollback = self.s().cpu.cpuhp[cpu].rollback;
        match self.failpoint(site, rollback) {
            Some(err) => {
                self.note(format!("dl_bw_check_overflow(CPU{cpu}) fails ({})", crate::errno::name(err.into())));
                err
            }
            None => 0,
        }
    }

    /// `sched_cpu_wait_empty()`: `balance_hotplug_wait()`, until only the
    /// hotplug thread is left on the runqueue.
    pub(crate) async fn sched_cpu_wait_empty(&self, cpu: usize) -> i32 {
        self.block(Wait::RqEmpty(cpu)).await;
        0
    }

    /// `sched_cpu_dying()`: on the dying CPU, from its stopper.
    pub(crate) fn sched_cpu_dying(&self, cpu: usize) -> i32 {
        let left: Vec<String> = {
            let s = self.s();
            s.tasks.iter().enumerate().filter(|(_, t)| on_rq(t, cpu)).map(|(i, _)| Kernel::comm_of(&s, i)).collect()
        };
        if !left.is_empty() {
            self.splat(SplatKind::Warning, "kernel/sched/core.c:sched_cpu_dying", "Dying CPU not properly vacated!".into(), false);
            // dump_rq_tasks(): the stopper itself is the one more.
            self.log(format!("CPU{cpu} enqueued tasks ({} total): {}", left.len() + 1, left.join(", ")));
        }
        0
    }
}

/// The `sched` check: at rest, the runqueues agree with the masks.
pub fn check(s: &KState, settled: bool, threads_per_core: usize, dead_error: bool) -> Vec<String> {
    let mut v = Vec::new();
    if !settled {
        return v;
    }
    let active = s.cpu.active;
    for (cpu, rq) in s.sched.rq.iter().enumerate() {
        if rq.online != active.test(cpu) && !rq.left_offline {
            v.push(format!(
                "CPU{cpu}'s runqueue is {} but the CPU is {}active (set_rq_online/set_rq_offline follow cpu_active_mask)",
                if rq.online { "online" } else { "offline" },
                if active.test(cpu) { "" } else { "not " }
            ));
        }
        if rq.online != s.sched.rd_online.test(cpu) {
            v.push(format!("CPU{cpu}'s runqueue online is {} but the root domain's online mask says otherwise", rq.online));
        }
        if rq.balance_push && active.test(cpu) {
            v.push(format!("CPU{cpu} is active with balance_push still set: its tasks would be pushed away"));
        }
        let n = nr_running(s, cpu);
        if n > 0 && !active.test(cpu) {
            v.push(format!("{n} task(s) left on the runqueue of CPU{cpu}, which is not active"));
        }
    }
    if s.cpu.online == active {
        let want = cores_with_two(s.cpu.online, threads_per_core, s.sched.rq.len());
        if s.sched.smt_present != want {
            v.push(format!(
                "sched_smt_present counts {} core(s) with two SMT threads up, but {want} have",
                s.sched.smt_present
            ));
        }
    }
    // A "DEAD callback error" in a freeze leaves its CPU deactivated for
    // good, still counted in num_cpus_frozen, as 6.1 does.
    if !s.cpu.tasks_frozen && s.cpu.frozen_cpus.is_empty() && s.sched.num_cpus_frozen != 0 && !dead_error {
        v.push(format!("num_cpus_frozen is {} with no suspend in progress", s.sched.num_cpus_frozen));
    }
    v
}

/// Cores with at least two online threads (`sched_smt_present` counts one
/// per core whose sibling mask reached two).
fn cores_with_two(online: CpuMask, tpc: usize, cpus: usize) -> i32 {
    let tpc = tpc.max(1);
    let cores = (0..cpus).step_by(tpc);
    cores.filter(|&c| (c..(c + tpc).min(cpus)).filter(|&t| online.test(t)).count() >= 2).count() as i32
}

/// The runqueue lines of the final state, when one differs from what the
/// masks alone say.
pub fn final_state(s: &KState) -> Option<String> {
    let odd: Vec<String> = s
        .sched
        .rq
        .iter()
        .enumerate()
        .filter(|(cpu, rq)| rq.online != s.cpu.active.test(*cpu) || (rq.balance_push && s.cpu.active.test(*cpu)))
        .map(|(cpu, rq)| {
            let why = if rq.left_offline { " (left offline by sched_cpu_deactivate's unwind, as 6.1.192 does)" } else { "" };
            format!("cpu{cpu} rq online {}, balance_push {}{why}", u8::from(rq.online), u8::from(rq.balance_push))
        })
        .collect();
    (!odd.is_empty()).then(|| format!("sched: {}", odd.join("; ")))
}

/// What the trace says of a pushed task.
pub fn pushed(s: &mut KState, task: usize, from: usize, to: usize) {
    let comm = Kernel::comm_of(s, task);
    s.record_text(format!("{comm} pushed from CPU{from} to CPU{to}: CPU{from} is not active"), Event::Note);
}
