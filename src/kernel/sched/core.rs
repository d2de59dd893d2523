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

use crate::fault::Callee;
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
    /// The case's user tasks.
    pub tasks: Vec<UserTask>,
    /// Per CPU: `distribute_cpu_mask_prev`.
    pub distribute_prev: Vec<usize>,
}

impl SchedState {
    /// As `sched_init` leaves it: the boot CPU's runqueue online
    /// (`rq_attach_root` puts an active CPU's runqueue online).
    pub fn new(cpus: usize) -> SchedState {
        let mut rq = vec![Rq::default(); cpus];
        rq[0].online = true;
        SchedState {
            rq,
            rd_online: CpuMask::of(0),
            smt_present: 0,
            num_cpus_frozen: 0,
            tasks: Vec::new(),
            distribute_prev: vec![0; cpus],
        }
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
    s.tasks.iter().filter(|t| on_rq(t, cpu)).count() + s.sched.tasks.iter().filter(|t| t.cpu == cpu).count()
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

    /// `sched_smt_present_inc()` / `sched_smt_present_dec()`.
    fn sched_smt_present_step(&self, cpu: usize, inc: bool) {
        // cpu_smt_mask(): x86's sibling map (arch/x86/smpboot.rs).
        if self.cpu_smt_mask(cpu).weight() != 2 {
            return;
        }
        let mut s = self.s();
        s.sched.smt_present += if inc { 1 } else { -1 };
        let negative = s.sched.smt_present < 0;
        drop(s);
        // __static_key_slow_dec_cpuslocked (kernel/jump_label.c).
        if negative {
            self.warn_once(
                "kernel/jump_label.c:__static_key_slow_dec_cpuslocked",
                "jump label: negative count!",
                false,
            );
        }
    }

    /// `sched_cpu_activate()`.
    pub(crate) fn sched_cpu_activate(&self, cpu: usize) -> i32 {
        self.balance_push_set(cpu, false);
        self.sched_smt_present_step(cpu, true);
        self.set_cpu_active(cpu, true);
        self.cpuset_cpu_active();
        // regression: synthetic-sched-activate-no-rq-online
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
        self.synchronize_rcu_pushes(cpu);
        self.set_rq_offline(cpu);
        self.sched_smt_present_step(cpu, false);
        let ret = self.cpuset_cpu_inactive(cpu, state);
        if ret != 0 {
            // regression: synthetic-sched-deactivate-unwind-smt
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

    /// What happens on the CPU while `sched_cpu_deactivate` sleeps in
    /// `synchronize_rcu()`: the CPU schedules, `balance_push` finds each
    /// user task on the runqueue and hands it to the stopper, which, as the
    /// stop task, runs before anything else there. The model runs that
    /// stopper work in place (the real kernel agrees: a CPU hog is gone
    /// from a CPU whose offline then fails at any later state).
    fn synchronize_rcu_pushes(&self, cpu: usize) {
        let on: Vec<usize> = {
            let s = self.s();
            if !s.cpu.dying.test(cpu) || !s.stop.enabled[cpu] {
                return;
            }
            s.sched.tasks.iter().enumerate().filter(|(_, t)| t.cpu == cpu).map(|(i, _)| i).collect()
        };
        for task in on {
            self.note(format!("migration/{cpu}: __balance_push_cpu_stop({})", self.s().sched.tasks[task].name));
            self.balance_push_cpu_stop(cpu, task);
        }
    }

    /// `cpuset_cpu_inactive()`: `dl_bw_check_overflow` outside a suspend.
    fn cpuset_cpu_inactive(&self, cpu: usize, state: u16) -> i32 {
        if self.s().cpu.tasks_frozen {
            self.s().sched.num_cpus_frozen += 1;
            return 0;
        }
        self.callee_fails(cpu, false, state, Callee::DlBwCheckOverflow, &format!("CPU{cpu}")).unwrap_or(0)
    }

    /// `sched_cpu_wait_empty()`: `balance_hotplug_wait()`, until only the
    /// hotplug thread is left on the runqueue. The user tasks went while
    /// `sched_cpu_deactivate` slept; a case thread still runnable here goes
    /// when it next runs (`balance_push`).
    pub(crate) async fn sched_cpu_wait_empty(&self, cpu: usize) -> i32 {
        self.block(Wait::RqEmpty(cpu)).await;
        0
    }

    /// `sched_cpu_dying()`: on the dying CPU, from its stopper.
    pub(crate) fn sched_cpu_dying(&self, cpu: usize) -> i32 {
        let left: Vec<String> = {
            let s = self.s();
            let tasks = s.tasks.iter().enumerate().filter(|(_, t)| on_rq(t, cpu)).map(|(i, _)| Kernel::comm_of(&s, i));
            let user = s.sched.tasks.iter().filter(|t| t.cpu == cpu).map(|t| t.name.clone());
            tasks.chain(user).collect()
        };
        if !left.is_empty() {
            self.splat(
                SplatKind::Warning,
                "kernel/sched/core.c:sched_cpu_dying",
                "Dying CPU not properly vacated!".into(),
                false,
            );
            // dump_rq_tasks(): the stopper itself is the one more.
            self.log(format!("CPU{cpu} enqueued tasks ({} total): {}", left.len() + 1, left.join(", ")));
        }
        0
    }
}

/// The `sched` check: at rest, the runqueues agree with the masks.
pub fn check(s: &KState, settled: bool, dead_error: bool) -> Vec<String> {
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
            v.push(format!(
                "CPU{cpu}'s runqueue online is {} but the root domain's online mask says otherwise",
                rq.online
            ));
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
        let want = cores_with_two(s);
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

/// Cores with at least two online threads, by their sibling masks
/// (`sched_smt_present` counts one per core whose mask reached two).
fn cores_with_two(s: &KState) -> i32 {
    let masks: std::collections::BTreeSet<CpuMask> =
        s.cpu.online.iter().map(|c| s.x86.sibling[c]).filter(|m| m.weight() >= 2).collect();
    masks.len() as i32
}

/// The case's tasks in the final state: where each runs, and its mask.
pub fn final_tasks(s: &KState) -> Vec<String> {
    s.sched.tasks.iter().map(|t| format!("task {}: cpu {}, cpus_allowed {}", t.name, t.cpu, t.cpus_mask)).collect()
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
            let why =
                if rq.left_offline { " (left offline by sched_cpu_deactivate's unwind, as 6.1.192 does)" } else { "" };
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

/// A user task of the case that keeps its CPU busy: always on its
/// runqueue, always the one running there (a CPU hog), so only the stopper
/// moves it (`migration_cpu_stop`, `__balance_push_cpu_stop`).
#[derive(Clone, Debug)]
pub struct UserTask {
    pub name: String,
    /// `task_cpu(p)`.
    pub cpu: usize,
    /// `p->cpus_mask`.
    pub cpus_mask: CpuMask,
    /// `p->migration_pending`.
    pub pending: Option<Pending>,
}

/// `struct set_affinity_pending`.
#[derive(Clone, Copy, Debug)]
pub struct Pending {
    /// `arg.dest_cpu`.
    pub dest: usize,
    pub stop_pending: bool,
    pub done: crate::sim::lock::CompletionId,
    pub refs: u32,
}

/// What a stopper work of the scheduler runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SchedWork {
    /// `migration_cpu_stop` for the task's pending affinity change.
    MigrationCpuStop(usize),
}

impl Kernel {
    /// The case's tasks start where their declarations say, or where
    /// `select_task_rq` puts a new task whose CPU is not active.
    pub fn sched_create_tasks(&self, decls: &[crate::case::TaskDecl]) {
        for d in decls {
            let t = UserTask { name: d.name.clone(), cpu: d.cpu, cpus_mask: d.cpus_allowed, pending: None };
            let n = {
                let mut s = self.s();
                s.sched.tasks.push(t);
                s.sched.tasks.len() - 1
            };
            if !self.is_cpu_allowed(n, d.cpu) {
                let to = self.select_fallback_rq(d.cpu, n);
                self.s().sched.tasks[n].cpu = to;
            }
        }
    }

    /// `is_cpu_allowed()` for a user task: in its mask and active.
    fn is_cpu_allowed(&self, task: usize, cpu: usize) -> bool {
        let s = self.s();
        s.sched.tasks[task].cpus_mask.test(cpu) && s.cpu.active.test(cpu)
    }

    /// `select_fallback_rq()`: an allowed CPU, or, with none left, the
    /// task's affinity widened to every possible CPU (the cpuset fallback
    /// of the root cpuset, and `task_cpu_possible_mask`, give the same),
    /// with the kernel's message.
    fn select_fallback_rq(&self, cpu: usize, task: usize) -> usize {
        let allowed = |k: &Kernel| {
            let s = k.s();
            let t = &s.sched.tasks[task];
            t.cpus_mask.iter().find(|&c| s.cpu.active.test(c))
        };
        if let Some(to) = allowed(self) {
            return to;
        }
        let possible = self.s().cpu.possible;
        self.s().sched.tasks[task].cpus_mask = possible;
        let name = self.s().sched.tasks[task].name.clone();
        self.log(format!("process {} ({name}) no longer affine to cpu{cpu}", 1000 + task));
        // With no active CPU at all the kernel BUG()s; the boot CPU stays.
        allowed(self).unwrap_or(cpu)
    }

    /// `__migrate_task()`: moves the task to `dest` if it may run there.
    fn migrate_task(&self, task: usize, dest: usize) {
        if !self.is_cpu_allowed(task, dest) {
            return;
        }
        let mut s = self.s();
        let from = std::mem::replace(&mut s.sched.tasks[task].cpu, dest);
        let name = s.sched.tasks[task].name.clone();
        s.record_text(format!("{name} migrated from CPU{from} to CPU{dest}"), Event::Note);
    }

    /// `cpumask_any_and_distribute(cpu_active_mask, mask)`: the next CPU
    /// after the last one this CPU picked, round robin.
    fn any_and_distribute(&self, mask: CpuMask) -> Option<usize> {
        let mut s = self.s();
        let here = s.tasks[s.current].ctx.cpu;
        let both: Vec<usize> = mask.and(s.cpu.active).iter().collect();
        let prev = s.sched.distribute_prev[here];
        let next = both.iter().copied().find(|&c| c > prev).or_else(|| both.first().copied())?;
        s.sched.distribute_prev[here] = next;
        Some(next)
    }

    /// `cpuset_cpus_allowed()`: the root cpuset's effective CPUs, which
    /// `cpuset_hotplug_workfn` keeps equal to `cpu_active_mask` (read as if
    /// that work had run: the window before it does is left out).
    fn cpuset_cpus_allowed(&self) -> CpuMask {
        self.s().cpu.active
    }

    /// `sched_setaffinity()` → `__sched_setaffinity()`: the mask cut to
    /// the cpuset's CPUs, `__set_cpus_allowed_ptr`, and again with the
    /// cpuset's CPUs if they changed meanwhile ("We must have raced with a
    /// concurrent cpuset update").
    pub async fn sched_setaffinity(&self, task: usize, mask: CpuMask) -> i32 {
        let mut new_mask = mask.and(self.cpuset_cpus_allowed());
        loop {
            let ret = self.set_cpus_allowed_ptr(task, new_mask).await;
            if ret != 0 {
                return ret;
            }
            let allowed = self.cpuset_cpus_allowed();
            if new_mask.is_subset_of(allowed) {
                return 0;
            }
            new_mask = allowed;
            self.charge().await;
        }
    }

    /// `__set_cpus_allowed_ptr_locked()` for a user task.
    async fn set_cpus_allowed_ptr(&self, task: usize, new_mask: CpuMask) -> i32 {
        if self.s().sched.tasks[task].cpus_mask == new_mask {
            return 0;
        }
        let Some(dest) = self.any_and_distribute(new_mask) else { return -crate::errno::EINVAL };
        self.s().sched.tasks[task].cpus_mask = new_mask;
        self.affine_move_task(task, dest).await
    }

    /// `affine_move_task()` for a task that is running on its CPU.
    async fn affine_move_task(&self, task: usize, dest: usize) -> i32 {
        let (cpu, in_mask, pending) = {
            let s = self.s();
            let t = &s.sched.tasks[task];
            (t.cpu, t.cpus_mask.test(t.cpu), t.pending)
        };
        if in_mask {
            // A pending without a stopper work queued completes now.
            if let Some(p) = pending.filter(|p| !p.stop_pending) {
                self.s().sched.tasks[task].pending = None;
                self.complete_all(p.done);
            }
            return 0;
        }
        let p = match pending {
            Some(mut p) => {
                p.refs += 1;
                p.dest = dest;
                p
            }
            None => {
                let done = self.s().locks.add_completion();
                Pending { dest, stop_pending: false, done, refs: 1 }
            }
        };
        let queue = !p.stop_pending;
        self.s().sched.tasks[task].pending = Some(Pending { stop_pending: true, ..p });
        if queue {
            super::super::stop_machine::stop_one_cpu_nowait_sched(self, cpu, SchedWork::MigrationCpuStop(task));
        }
        self.wait_for_completion(p.done).await;
        0
    }

    /// `migration_cpu_stop()`, on the stopper of `cpu`.
    pub(crate) fn migration_cpu_stop(&self, cpu: usize, task: usize) {
        let (tcpu, pending) = {
            let s = self.s();
            (s.sched.tasks[task].cpu, s.sched.tasks[task].pending)
        };
        let Some(p) = pending else { return };
        if tcpu != cpu {
            // The task moved before the stopper ran: done if it is allowed
            // where it is, else chase it to its CPU.
            if self.s().sched.tasks[task].cpus_mask.test(tcpu) {
                self.s().sched.tasks[task].pending = None;
                self.complete_all(p.done);
            } else {
                super::super::stop_machine::stop_one_cpu_nowait_sched(self, tcpu, SchedWork::MigrationCpuStop(task));
            }
            return;
        }
        self.s().sched.tasks[task].pending = None;
        if !self.s().sched.tasks[task].cpus_mask.test(tcpu) {
            // __migrate_task() can fail here (the destination went
            // inactive): the task stays where it is, as 6.1 says.
            self.migrate_task(task, p.dest);
        }
        self.complete_all(p.done);
    }

    /// `__balance_push_cpu_stop()`, on the stopper of the dying `cpu`.
    pub(crate) fn balance_push_cpu_stop(&self, cpu: usize, task: usize) {
        if self.s().sched.tasks[task].cpu != cpu {
            return;
        }
        let to = self.select_fallback_rq(cpu, task);
        self.migrate_task(task, to);
    }
}
