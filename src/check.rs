//! The invariants checked after every scenario. Each check is named; a
//! violation names its check and what broke.
//!
//! - `at-rest`: every CPU has `state == target`, except where the kernel
//!   itself leaves one elsewhere: the boot CPU (6.1 leaves its target at 0),
//!   a CPU parked because `can_rollback_cpu` said no, the half-up CPU after a
//!   "DEAD callback error", and a CPU whose rollback failed ("up a creek").
//! - `masks`: `active ⊆ online ⊆ present ⊆ possible`; a CPU at rest is online
//!   exactly when its state is at least `CPUHP_AP_ONLINE`, and active exactly
//!   when it is at least `CPUHP_AP_ACTIVE`.
//! - `balance`: every startup is balanced by one teardown: per state,
//!   instance and CPU the count of successful startups minus teardowns is 0
//!   or 1, and it is 1 only where the CPU's state is at or above the state
//!   (so a rollback undid everything it had to).
//! - `locks`: no lock is held at rest, unless its holder died.
//! - `leaks`: an unloaded module left no per-CPU data behind, and each
//!   CPU's `cfd_data` holds its allocations exactly while it is prepared.
//! - `finished`: the run ended with every operation returned, unless a task
//!   died (a BUG or oops stops it where it was).
//! - `splats`: every splat is expected, either listed in the case's
//!   `expect.splats` or the kernel's own reaction to an error this scenario
//!   injected. In the plain run, every expected splat must happen.
//! - `results`: in the plain run, each operation with `=> RESULT` returned it.
//! - `restore`: a failed operation of the control task left what the model
//!   keeps about CPUs and states, and a failed memory `state`/`online`
//!   write the memory model's counts, as it found them (`restore.rs`), and the
//!   `balance` rule holds after every operation.
//! - `stop`: no stopper work of the case is dropped, and at rest no stopper
//!   has work left (`kernel/stop_machine.rs`).
//! - `rcu`: no RCU callback is lost, and at rest RCU's view of the CPUs is
//!   the kernel's (`kernel/rcu/tree.rs`).
//! - `sched`: at rest, each runqueue is online exactly when its CPU is
//!   active (6.1.192's one exception: a failed `sched_cpu_deactivate`
//!   leaves it offline), the root domain's online mask is the online
//!   runqueues, no active CPU keeps `balance_push`, no task of the case is
//!   on an inactive CPU's runqueue, `sched_smt_present` counts the cores
//!   with two threads up, and `num_cpus_frozen` is 0 outside a suspend
//!   (`kernel/sched/core.rs`).
//! - `smpboot`: at rest, a CPU at or above `CPUHP_CREATE_THREADS` has all
//!   its per-CPU hotplug threads, and `ksoftirqd/N` runs exactly where the
//!   CPU is at or above `CPUHP_AP_SMPBOOT_THREADS` (`kernel/smpboot.rs`).
//! - `slab`: with the slab model on, every cache on the chain has a per-CPU
//!   array for exactly the up-prepared CPUs, checked after every step where
//!   no slab operation or slab hotplug callback is in flight.
//! - `memory`: `online_pages`/`offline_pages` never overlap each other or a
//!   `get_online_mems` reader; at rest, every block's `state`, `online`
//!   and zone agree, none is left going-offline, an online block has all
//!   its pages and an offline one none, and no used page was lost.
//! - `mm`: at rest, each zone has managed ≤ present ≤ spanned pages and
//!   `NR_FREE_PAGES` ≤ managed, exactly its online blocks' present pages
//!   (an offline block contributes none), `NR_FREE_PAGES` exactly their
//!   buddy pages outside isolated pageblocks, a span that covers them and
//!   no isolated pageblock counted; no online block has an isolated
//!   pageblock; `lru_disable_count` is 0; every pageset has its zone's
//!   high and batch (pcplists enabled); and no offline CPU has pages on a
//!   pcplist (`mm/page_alloc.rs`).
//! - `ipi`: every queued cross-CPU call ran exactly once; none was still
//!   queued on a CPU when its `take_cpu_down` finished or when it reached
//!   `CPUHP_OFFLINE`; none ran from a late IPI on a CPU already offline;
//!   none is left queued at the end. A waiter spinning on a call that never
//!   runs is a deadlock (`finished`).
//! - `cpu-devices`: at rest, every present CPU has its `cpuN` device
//!   (`register_cpu`) and no CPU that is not present has one
//!   (`acpi_processor_hotadd_init` and `acpi_processor_remove` change both
//!   under `cpus_write_lock`).
//! - `topology`: at rest, each online CPU's `cpu_smt_mask` is itself and the
//!   online CPUs `match_smt` pairs it with, and an offline CPU is in no
//!   CPU's mask (`set_cpu_sibling_map` on the way up, `remove_siblinginfo`
//!   on the way down, arch/x86/kernel/smpboot.c). A CPU whose rollback
//!   failed is exempt.

use std::fmt;

use crate::case::{Case, ExpectEnd};
use crate::engine::RunResult;
use crate::errno;
use crate::kernel::trace::SplatKind;
use crate::report;
use crate::sim::executor::RunEnd;

/// The checks, by the names their violations carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Check {
    AtRest,
    Masks,
    Balance,
    Locks,
    Leaks,
    Finished,
    Splats,
    Results,
    Slab,
    Memory,
    Mm,
    Ipi,
    Rcu,
    Restore,
    Stop,
    Sched,
    Smpboot,
    CpuDevices,
    Topology,
    /// The lock graph of a case.
    Lockdep,
    /// The lock graph of the whole suite.
    LockdepSuite,
    Determinism,
}

impl Check {
    pub fn name(self) -> &'static str {
        match self {
            Check::AtRest => "at-rest",
            Check::Masks => "masks",
            Check::Balance => "balance",
            Check::Locks => "locks",
            Check::Leaks => "leaks",
            Check::Finished => "finished",
            Check::Splats => "splats",
            Check::Results => "results",
            Check::Slab => "slab",
            Check::Memory => "memory",
            Check::Mm => "mm",
            Check::Ipi => "ipi",
            Check::Rcu => "rcu",
            Check::Restore => "restore",
            Check::Stop => "stop",
            Check::Sched => "sched",
            Check::Smpboot => "smpboot",
            Check::CpuDevices => "cpu-devices",
            Check::Topology => "topology",
            Check::Lockdep => "lockdep",
            Check::LockdepSuite => "lockdep (whole suite)",
            Check::Determinism => "determinism",
        }
    }
}

/// A broken invariant: which check, and what broke.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub check: Check,
    pub message: String,
}

impl Violation {
    pub fn new(check: Check, message: impl Into<String>) -> Violation {
        Violation { check, message: message.into() }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.check.name(), self.message)
    }
}

/// The invariants a run's own state breaks, whatever the case expects:
/// the slab arrays, the IPI queues, the memory blocks. The outcome lists
/// them (a callback stranded on a dead CPU leaves no splat), and
/// [`check`] counts them among the violations.
pub fn findings(res: &RunResult) -> Vec<Violation> {
    let mut v: Vec<Violation> = res.state.slab.violation.iter().map(|e| Violation::new(Check::Slab, e)).collect();
    let settled = matches!(res.end, RunEnd::Finished);
    v.extend(crate::kernel::smp::check(&res.state, settled).into_iter().map(|e| Violation::new(Check::Ipi, e)));
    let dead_error = |cpu: usize| {
        let title = format!("DEAD callback error for CPU{cpu}");
        res.state.trace.splats.iter().any(|s| s.title == title)
    };
    let rcu = crate::kernel::rcu::tree::check(&res.state, settled, res.cfg.hotplug_cpu, dead_error);
    v.extend(rcu.into_iter().map(|e| Violation::new(Check::Rcu, e)));
    let stop = crate::kernel::stop_machine::check(&res.state, settled);
    v.extend(stop.into_iter().map(|e| Violation::new(Check::Stop, e)));
    let any_dead_error = res.state.trace.splats.iter().any(|s| s.title.starts_with("DEAD callback error"));
    let sched = crate::kernel::sched::core::check(&res.state, settled, any_dead_error);
    v.extend(sched.into_iter().map(|e| Violation::new(Check::Sched, e)));
    let smpboot = crate::kernel::smpboot::check(&res.state, settled);
    v.extend(smpboot.into_iter().map(|e| Violation::new(Check::Smpboot, e)));
    let mem = crate::drivers::base::memory::check(&res.state, settled);
    v.extend(mem.into_iter().map(|e| Violation::new(Check::Memory, e)));
    let mm = crate::mm::page_alloc::check(&res.state, settled);
    v.extend(mm.into_iter().map(|e| Violation::new(Check::Mm, e)));
    v
}

/// Checks one scenario; `plain` says whether it is the primary run, the
/// one the case's expectations describe. `findings` are the run's own
/// [`findings`].
pub fn check(case: &Case, res: &RunResult, plain: bool, findings: &[Violation]) -> Vec<Violation> {
    let mut v = Vec::new();
    let injected = !res.fired.is_empty();
    let died = res.state.tasks.iter().any(|t| t.died);
    let reacted = injected && res.state.trace.splats.iter().any(|s| s.reaction);
    let threads = !case.threads.is_empty();
    if plain && !threads && case.expect_end != ExpectEnd::Finished {
        expected_end(case, res, &mut v);
    } else {
        // With threads, the explorer must reach the declared end somewhere
        // (explore checks that); any run may end that way.
        finished(res, died || reacted || (threads && ends_as_expected(case, res)), &mut v);
    }
    let settled = matches!(res.end, RunEnd::Finished) && !died;
    // `cpuhp_cpu_state` of a stuck run is mid-operation; the at-rest checks
    // do not apply to it.
    if settled {
        at_rest(case, res, &mut v);
        masks(case, res, &mut v);
        cpu_devices(res, &mut v);
        topology(res, &mut v);
        balance(res, &mut v);
        locks(res, &mut v);
    }
    leaks(res, &mut v);
    if !died {
        after_each_op(case, res, &mut v);
    }
    // A task that died mid-flush leaves its callbacks unrun: that is the
    // oops's outcome, not a lost IPI.
    v.extend(findings.iter().filter(|f| f.check == Check::Slab || !died).cloned());
    splats(case, res, injected, plain, &mut v);
    if plain {
        results(case, res, &mut v);
    }
    v
}

/// A run may stop short when a task died, or when the kernel's own reaction
/// to an injected error left it stuck: that is the outcome, not a model bug.
fn finished(res: &RunResult, excused: bool, v: &mut Vec<Violation>) {
    match &res.end {
        RunEnd::Finished => {}
        _ if excused => {}
        RunEnd::Deadlock(_) | RunEnd::StepLimit(_) | RunEnd::TraceLimit(_) => {
            let end = report::outcome_end(res);
            v.push(Violation::new(Check::Finished, format!("the run did not finish: {end}")));
        }
    }
}

/// Whether the run ended as the case declares (`expect.end`).
pub fn ends_as_expected(case: &Case, res: &RunResult) -> bool {
    matches!(
        (case.expect_end, &res.end),
        (ExpectEnd::Deadlock, RunEnd::Deadlock(_)) | (ExpectEnd::Livelock, RunEnd::StepLimit(_))
    )
}

/// A case that exists to show a deadlock or livelock declares it.
fn expected_end(case: &Case, res: &RunResult, v: &mut Vec<Violation>) {
    if !ends_as_expected(case, res) {
        v.push(Violation::new(
            Check::Finished,
            format!("expected the run to end in {:?}, it ended: {}", case.expect_end, report::outcome_end(res)),
        ));
    }
}

fn at_rest(case: &Case, res: &RunResult, v: &mut Vec<Violation>) {
    let a = case.profile.a;
    let c = &res.state.cpu;
    for (cpu, st) in c.cpuhp.iter().enumerate() {
        if st.state == st.target || c.creek.test(cpu) {
            continue;
        }
        let boot_cpu = cpu == 0 && st.state == a.online && st.target == a.offline;
        let parked = !res.cfg.hotplug_cpu && st.rollback && st.state > a.bringup_cpu;
        let dead_error = st.state == a.ap_online_idle
            && st.target == a.teardown_cpu
            && res.state.trace.splats.iter().any(|s| s.title == format!("DEAD callback error for CPU{cpu}"));
        if !(boot_cpu || parked || dead_error) {
            v.push(Violation::new(
                Check::AtRest,
                format!("CPU{cpu} is at state {} with target {}", st.state, st.target),
            ));
        }
    }
}

fn cpu_devices(res: &RunResult, v: &mut Vec<Violation>) {
    let c = &res.state.cpu;
    for cpu in c.possible.iter() {
        match (c.present.test(cpu), c.devices.test(cpu)) {
            (true, false) => {
                v.push(Violation::new(Check::CpuDevices, format!("CPU{cpu} is present but has no cpu{cpu} device")))
            }
            (false, true) => v.push(Violation::new(
                Check::CpuDevices,
                format!("CPU{cpu} is not present but its cpu{cpu} device is still registered"),
            )),
            _ => {}
        }
    }
}

fn topology(res: &RunResult, v: &mut Vec<Violation>) {
    let c = &res.state.cpu;
    let x = &res.state.x86;
    for cpu in c.possible.iter() {
        if c.creek.test(cpu) {
            continue;
        }
        let mut want = crate::sim::CpuMask::empty();
        if c.online.test(cpu) {
            for j in c.online.iter().filter(|&j| !c.creek.test(j)) {
                if j == cpu || (x.smp_num_siblings > 1 && x.match_smt(cpu, j)) {
                    want.set(j);
                }
            }
        }
        let have =
            x.sibling[cpu].iter().filter(|&j| !c.creek.test(j)).fold(crate::sim::CpuMask::empty(), |mut m, j| {
                m.set(j);
                m
            });
        if have != want {
            let show = |m: crate::sim::CpuMask| if m.is_empty() { "(none)".to_string() } else { m.to_string() };
            v.push(Violation::new(
                Check::Topology,
                format!(
                    "CPU{cpu} ({}) has cpu_smt_mask {}, but its online SMT siblings are {}",
                    if c.online.test(cpu) { "online" } else { "offline" },
                    show(have),
                    show(want)
                ),
            ));
        }
    }
}

fn masks(case: &Case, res: &RunResult, v: &mut Vec<Violation>) {
    let a = case.profile.a;
    let c = &res.state.cpu;
    if !(c.active.is_subset_of(c.online) && c.online.is_subset_of(c.present) && c.present.is_subset_of(c.possible)) {
        v.push(Violation::new(
            Check::Masks,
            format!(
                "active {} / online {} / present {} / possible {} are not nested",
                c.active, c.online, c.present, c.possible
            ),
        ));
    }
    for (cpu, st) in c.cpuhp.iter().enumerate() {
        if c.creek.test(cpu) {
            continue;
        }
        if c.online.test(cpu) != (st.state >= a.ap_online) {
            v.push(Violation::new(
                Check::Masks,
                format!("CPU{cpu} online={} at state {}", u8::from(c.online.test(cpu)), st.state),
            ));
        }
        if c.active.test(cpu) != (st.state >= a.ap_active) {
            v.push(Violation::new(
                Check::Masks,
                format!("CPU{cpu} active={} at state {}", u8::from(c.active.test(cpu)), st.state),
            ));
        }
    }
}

fn balance(res: &RunResult, v: &mut Vec<Violation>) {
    v.extend(crate::restore::unbalanced(&res.state.cpu).into_iter().map(|m| Violation::new(Check::Balance, m)));
}

/// After each operation of the control task: the balance holds, and a
/// failed operation left the state as it found it (`restore.rs`), except
/// where 6.1 itself does not restore: an SMT control write or
/// `freeze_secondary_cpus` keeps the CPUs it took down before the one that
/// failed; memory hot-add and remove are not compared here (a failed
/// `online_pages`/`offline_pages` is: `restore.rs` says what of it); an operation during which
/// the kernel's own error path WARNed (a rollback that failed, "up a
/// creek"; a "DEAD callback error") leaves the CPU where that WARN says.
fn after_each_op(case: &Case, res: &RunResult, v: &mut Vec<Violation>) {
    for oc in &res.op_checks {
        let text = &case.ops[oc.op].text;
        for m in &oc.unbalanced {
            v.push(Violation::new(Check::Balance, format!("after `{text}`: {m}")));
        }
        if oc.changed.is_empty() || !restores(&case.ops[oc.op].op) {
            continue;
        }
        // The kernel's own error path WARNed (a failed rollback, a DEAD
        // callback error): it says itself what it left behind.
        if res.state.trace.splats[oc.splats.clone()].iter().any(|s| s.reaction) {
            continue;
        }
        let ret = if oc.ret < 0 {
            errno::name(oc.ret)
        } else {
            "in acpi_processor_add, which acpi_bus_attach reports as success".to_string()
        };
        v.push(Violation::new(
            Check::Restore,
            format!("`{text}` failed ({ret}) and did not restore what it changed: {}", oc.changed.join("; ")),
        ));
    }
}

/// Whether 6.1 undoes a failed operation of this kind.
fn restores(op: &crate::case::Op) -> bool {
    use crate::case::{Op, SysfsFile};
    !matches!(
        op,
        Op::Write { file: SysfsFile::SmtControl, .. } | Op::Freeze(_) | Op::AddMemory { .. } | Op::RemoveMemory(_)
    )
}

fn locks(res: &RunResult, v: &mut Vec<Violation>) {
    for l in &res.state.locks.locks {
        for h in l.holders() {
            v.push(Violation::new(
                Check::Locks,
                format!("{} is still held by {} at rest", l.name, crate::kernel::Kernel::comm_of(&res.state, h)),
            ));
        }
    }
}

fn leaks(res: &RunResult, v: &mut Vec<Violation>) {
    let smp = &res.state.smp;
    for (cpu, &n) in smp.cfd_allocs.iter().enumerate() {
        let want = if smp.cfd.test(cpu) { crate::kernel::smp::CFD_ALLOCS } else { 0 };
        if n != want {
            v.push(Violation::new(
                Check::Leaks,
                format!("kmemleak: CPU{cpu}'s cfd_data holds {n} allocation(s), expected {want} (smpcfd_prepare_cpu/smpcfd_dead_cpu)"),
            ));
        }
    }
    for m in res.state.modules.iter().filter(|m| !m.loaded) {
        for &(d, _, cpu) in m.percpu.keys() {
            v.push(Violation::new(
                Check::Leaks,
                format!("kmemleak: per-CPU data of {} on CPU{cpu} outlived module {}", m.decls[d].name, m.name),
            ));
        }
    }
}

fn splats(case: &Case, res: &RunResult, injected: bool, plain: bool, v: &mut Vec<Violation>) {
    let s = &res.state;
    for sp in &s.trace.splats {
        let listed = case.expect_splats.iter().any(|e| sp.title.contains(e.as_str()));
        let reaction = injected && sp.reaction;
        if !listed && !reaction {
            let what = if sp.kind == SplatKind::Warning { "unexpected warning" } else { "unexpected splat" };
            v.push(Violation::new(Check::Splats, format!("{what}: {}", report::splat_line(sp))));
        }
    }
    if plain {
        for e in &case.expect_splats {
            if !s.trace.splats.iter().any(|sp| sp.title.contains(e.as_str())) {
                v.push(Violation::new(Check::Splats, format!("expected splat `{e}` did not happen")));
            }
        }
    }
}

fn results(case: &Case, res: &RunResult, v: &mut Vec<Violation>) {
    for (line, got) in case.ops.iter().zip(res.results()) {
        let Some(want) = line.expect else { continue };
        if *got != Some(want) {
            let got = got.map_or("nothing (it did not return)".to_string(), errno::name);
            v.push(Violation::new(
                Check::Results,
                format!("`{}` returned {got}, expected {}", line.text, errno::name(want)),
            ));
        }
    }
}
