//! A case as guest shell lines: which of its scenarios (the plain run, the
//! run with its `[[fault]]`s, each sweep site) the real kernel can run, as
//! `/init` lines that drive sysfs and the test module (`kmod/`), or a skip
//! with its reason. Tooling around the model, not a model of a kernel file.
//!
//! Operations: sysfs writes are written as they are; a module's operations
//! become control-file commands, one slot per declared state
//! (`kmod/README.md`), `insmod`/`rmmod` the commands of the model's
//! `module::insmod`/`rmmod` (setups and instance adds in order, unwound on
//! the first error; instances removed newest name first, then the state).
//! Whether a module is loaded is tracked by the guest's shell, so a
//! registration on an unloaded module gives the model's `-ENOENT` there too.
//!
//! Faults: a fault at a site is injected where the real kernel can inject
//! it: `-EAGAIN` through the `hotplug/fail` knob, armed just before the
//! operation in which the model's failpoint first fires, and any errno at
//! a module's state through the module's `behave SLOT up|down fail -E on
//! cpu N on call M`, with M the model's count of that callback's calls up
//! to the fault. A translation is kept only when the model, run with the
//! knob write (or the behaviour) instead of the failpoint, shows the same
//! observables ([`super::observe`]); otherwise the scenario is skipped with
//! the first difference. Every kernel number (a named state, a dynamic
//! state) is read in the guest: `st NAME` looks a state up in
//! `hotplug/states`, `ss SLOT` reads a slot's state from the module.
//!
//! Left out (each a skip with its reason): threads and interrupt sources,
//! regression switches, `hotplug_cpu = false`, the slab model, a
//! `[memory]` table of the case's own, memory hot-add and remove, the
//! model-only operations, callbacks that would hang or
//! crash the real kernel, and IPI faults.

use crate::case::{Case, Op, RemoveKind, SetupKind, SysfsFile};
use crate::engine::RunOpts;
use crate::fault::Site;
use crate::kernel::module::{Behaviour, Effect, FailRule};
use crate::kernel::trace::{CbHow, Event};
use crate::verdict::{self, Scenario, shell_word};

use super::observe::{self, Observed};

/// The test module's slots (`NSLOTS` in `kmod/hotplug_fi_test.c`).
pub const SLOTS: usize = 16;

/// What a boot needs to be shared: CPUs, SMT threads, the command line.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct MachineKey {
    pub cpus: usize,
    pub threads_per_core: usize,
    pub cmdline: String,
    /// The CPUs present at boot; below `cpus`, or with `hotplug`, QEMU gets
    /// `-smp 1,maxcpus=cpus` with the others as `-device`s, and a QMP socket.
    pub present: usize,
    /// The case hot-adds or hot-removes CPUs (QEMU's `device_add`/`device_del`).
    pub hotplug: bool,
}

/// How a scenario's fault reaches the real kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Injection {
    None,
    /// `echo STATE > cpuN/hotplug/fail` before operation `before` (0-based).
    Knob {
        cpu: usize,
        state: String,
        before: usize,
    },
    /// Deadline bandwidth the remaining CPUs cannot hold, loaded before
    /// operation `before` and unloaded after it: its CPU offline fails in
    /// `sched_cpu_deactivate`'s `dl_bw_check_overflow`.
    DlLoad {
        before: usize,
    },
    /// The slot's behaviour in that direction, with the fail rule.
    Behave {
        slot: usize,
        up: bool,
        effects: String,
    },
}

/// One scenario as the guest runs it.
#[derive(Clone, Debug)]
pub struct Planned {
    pub label: String,
    pub injection: Injection,
    /// The guest's shell lines, in order.
    pub lines: Vec<String>,
    /// What the model shows for it.
    pub model: Observed,
    /// Set when the real kernel's own background work may add a splat the
    /// model cannot predict ([`timing_dependent`]): that splat is not
    /// counted, and this says why.
    pub background: Option<String>,
}

/// A case: its machine, the scenarios that run, the ones skipped.
#[derive(Clone, Debug)]
pub struct CasePlan {
    pub id: String,
    pub machine: MachineKey,
    pub planned: Vec<Planned>,
    /// (scenario label, reason).
    pub skipped: Vec<(String, String)>,
    /// Set when the whole case is skipped.
    pub skip: Option<String>,
    /// How the case was changed to run on the guest (on both sides).
    pub notes: Vec<String>,
}

fn machine(case: &Case) -> MachineKey {
    let m = &case.machine;
    let smt = match m.smt {
        crate::kernel::SmtCmdline::None => None,
        crate::kernel::SmtCmdline::Nosmt => Some("nosmt".to_string()),
        crate::kernel::SmtCmdline::Force => Some("nosmt=force".to_string()),
    };
    let words: Vec<String> = smt.into_iter().chain(m.max_cpus.map(|n| format!("maxcpus={n}"))).collect();
    let cmdline = words.join(" ");
    let hotplug = case.ops.iter().any(|o| matches!(o.op, Op::AcpiCpuHotAdd(_) | Op::AcpiCpuHotRemove(_)));
    MachineKey { cpus: m.cpus, threads_per_core: m.threads_per_core, cmdline, present: m.present, hotplug }
}

/// Why the whole case cannot run on a real kernel, if it cannot.
pub fn case_skip(case: &Case) -> Option<String> {
    if !case.threads.is_empty() {
        return Some("threads at chosen interleavings: a real kernel cannot be made to take a schedule".into());
    }
    if !case.irqs.is_empty() {
        return Some("device interrupt sources fired at chosen points: the guest has no such device".into());
    }
    if case.id.starts_with("regression/") {
        return Some("a regression case: it needs a regression switch, and the real kernel has the fix".into());
    }
    if !case.machine.hotplug_cpu {
        return Some("hotplug_cpu = false: Debian's kernel is built with CONFIG_HOTPLUG_CPU=y".into());
    }
    if case.slab {
        return Some("slab = true is the SLAB-era slab model; Debian's kernel uses SLUB".into());
    }
    if let Some(d) = &case.memory {
        let l = &case.profile.memory;
        let layout = d.boot_blocks == l.boot_blocks
            && d.holes == l.holes
            && d.auto_online == (l.auto_online_blocks == "online")
            && d.migrate_bound == 8
            && d.blocks.is_empty();
        if !layout {
            return Some(
                "a [memory] table: the guest's memory is the profile's layout, with its own page contents".into(),
            );
        }
    }
    if case.machine.cpus < 2 {
        return Some("one CPU: nothing to hotplug, and the oracle's guest needs a CPU to write from".into());
    }
    let removed = case.ops.iter().position(|o| matches!(o.op, Op::AcpiCpuHotRemove(_)));
    if let Some(r) = removed
        && case.ops[r..].iter().any(|o| matches!(o.op, Op::AcpiCpuHotAdd(_)))
    {
        return Some("a CPU hot-add after a hot-remove: QEMU 7.2 under TCG crashes (SIGSEGV, SIGABRT) adding a CPU once it unplugged one".into());
    }
    let hotplug = case.ops.iter().any(|o| matches!(o.op, Op::AcpiCpuHotAdd(_) | Op::AcpiCpuHotRemove(_)));
    if (case.machine.present < case.machine.cpus || hotplug) && case.machine.threads_per_core > 1 {
        return Some("CPU hot-add on an SMT guest: the oracle's device_add names cores of one thread".into());
    }
    if case.machine.apic_ids_given {
        return Some("APIC ids of the case's own: QEMU numbers them from its -smp topology, in CPU order".into());
    }
    if case.machine.threads_per_core > 1 && case.machine.threads_per_core != 2 {
        return Some("QEMU's SMT guest has 2 threads per core".into());
    }
    let nslots: usize = case.modules.iter().map(|m| m.states.len()).sum();
    if nslots > SLOTS {
        return Some(format!("{nslots} declared states: the test module has {SLOTS} slots"));
    }
    for m in &case.modules {
        for d in &m.states {
            if !safe(&d.name) {
                return Some(format!("state name `{}` is not one shell word for the module", d.name));
            }
            for b in [&d.startup, &d.teardown].into_iter().flatten() {
                if b.effects.contains(&Effect::CpusReadLock) {
                    return Some("a callback taking cpus_read_lock deadlocks the real kernel (kmod/README.md)".into());
                }
                if d.at >= case.profile.a.bringup_cpu
                    && d.at < case.profile.a.ap_online
                    && b.effects.contains(&Effect::Sleep)
                {
                    return Some("a callback sleeping in a STARTING/DYING state: a real kernel BUGs or hangs".into());
                }
            }
            if d.teardown.as_ref().is_some_and(|b| b.fail.is_some()) {
                return Some(
                    "a failing teardown reached through remove or a rollback hits BUG_ON(ret && !bringup) in cpuhp_issue_call (kmod/README.md)".into(),
                );
            }
        }
    }
    for l in &case.ops {
        if let Some(why) = op_skip(&l.op) {
            return Some(format!("`{}`: {why}", l.text));
        }
    }
    if let Some(why) = multiple_registrations(case) {
        return Some(why);
    }
    None
}

/// Why an operation has no guest equivalent.
fn op_skip(op: &Op) -> Option<&'static str> {
    match op {
        Op::Boot => Some("a model-only op: the guest has booted before /init runs"),
        Op::CpuUp(_) | Op::CpuDown(_) => {
            Some("cpu_up/cpu_down are not exported; the sysfs path also sets dev->offline, which they do not")
        }
        Op::Freeze(_) | Op::Thaw => Some("a model-only op: freeze/thaw_secondary_cpus are not exported"),
        Op::CacheCreate(_) | Op::CacheDestroy(_) | Op::CacheAlloc(_) => {
            Some("slab operations belong to the SLAB model")
        }
        Op::Lock(_) | Op::Unlock(_) => Some("a case mutex held across operations cannot cross a write()"),
        Op::LocalIrqDisable | Op::LocalIrqEnable | Op::PreemptDisable | Op::PreemptEnable => {
            Some("IRQs or preemption off across operations cannot return to user space")
        }
        Op::GetOnlineMems | Op::PutOnlineMems => Some("get_online_mems/put_online_mems are not exported"),
        Op::AcpiCpuHotRemove(0) => Some(
            "QEMU's boot CPU has no device id for device_del to name (QEMU refuses it: \"Boot CPU is unpluggable\")",
        ),
        Op::FreePages(..) | Op::DrainAllPages => {
            Some("a model-only op: free_unref_page and drain_all_pages have no interface a test can drive page by page")
        }
        Op::AddMemory { .. } | Op::RemoveMemory(_) => Some(
            "add_memory/remove_memory need a physical range the guest does not have (QEMU's pc-dimm hot-add is not driven)",
        ),
        Op::SmpCallSingle { .. }
        | Op::SmpCallAsync { .. }
        | Op::SmpCallMany { .. }
        | Op::SmpCall { .. }
        | Op::OnEachCpu { .. } => None,
        Op::StopOneCpu { .. } | Op::StopOneCpuNowait { .. } | Op::StopTwoCpus { .. } => {
            Some("stop_one_cpu, stop_one_cpu_nowait and stop_two_cpus are not exported to modules in 6.1")
        }
        Op::SynchronizeRcu | Op::CallRcu | Op::SchedSetaffinity { .. } => None,
        _ => None,
    }
}

/// The translation keeps one slot per declared state: a state registered
/// twice at once (a second setup before the remove) needs two.
fn multiple_registrations(case: &Case) -> Option<String> {
    let mut count: Vec<Vec<usize>> = case.modules.iter().map(|m| vec![0; m.states.len()]).collect();
    for l in &case.ops {
        match &l.op {
            Op::Insmod(m) => count[*m].iter_mut().for_each(|c| *c += 1),
            Op::Rmmod(m) => count[*m].iter_mut().for_each(|c| *c = 0),
            Op::Setup { module, decl, .. } => count[*module][*decl] += 1,
            Op::Remove { module, decl, .. } => count[*module][*decl] = count[*module][*decl].saturating_sub(1),
            _ => {}
        }
        for (m, cs) in count.iter().enumerate() {
            if let Some(d) = cs.iter().position(|c| *c > 1) {
                return Some(format!(
                    "`{}` registers `{}` a second time while it is registered: the translation has one module slot per declared state",
                    l.text, case.modules[m].states[d].name
                ));
            }
        }
    }
    None
}

fn safe(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || ":_./-".contains(c))
}

fn dynamic(case: &Case, at: u16) -> bool {
    at == case.profile.a.ap_online_dyn || at == case.profile.a.bp_prepare_dyn
}

/// A built-in step's name in the profile.
fn step_name(case: &Case, state: u16) -> Option<String> {
    case.profile.steps.iter().find(|p| p.nr == state).map(|p| p.name.clone())
}

/// The slot of module `m`'s declaration `d`.
pub fn slot(case: &Case, m: usize, d: usize) -> usize {
    case.modules[..m].iter().map(|x| x.states.len()).sum::<usize>() + d
}

/// A behaviour in the module's `behave` syntax.
pub fn effects(b: &Behaviour) -> String {
    let mut parts: Vec<String> = b
        .effects
        .iter()
        .map(|e| match e {
            Effect::Alloc => "alloc".to_string(),
            Effect::Free => "free".to_string(),
            Effect::Lock(n) => format!("lock {n}"),
            Effect::Sleep => "sleep".to_string(),
            Effect::CpusReadLock => "cpus_read_lock".to_string(),
        })
        .collect();
    if let Some(f) = &b.fail {
        parts.push(fail_rule(f));
    }
    if parts.is_empty() { "ok".into() } else { parts.join(",") }
}

fn fail_rule(f: &FailRule) -> String {
    let mut s = format!("fail {}", f.errno);
    if let Some(c) = f.on_cpu {
        s.push_str(&format!(" on cpu {c}"));
    }
    if let Some(n) = f.on_call {
        s.push_str(&format!(" on call {n}"));
    }
    s
}

/// `kq 'COMMAND'`: one control-file write.
fn kq(cmd: &str) -> String {
    format!("kq {}", shell_word(cmd))
}

/// The module's `rmmod` as the model's `module::rmmod` does it.
fn rmmod_lines(case: &Case, m: usize) -> String {
    let mut s = String::new();
    for (d, decl) in case.modules[m].states.iter().enumerate().rev() {
        let n = slot(case, m, d);
        s.push_str(&format!("for i in $(insts {n}); do kq \"del {n} $i\"; done; "));
        let rm = if decl.multi { format!("remove_multi {n}") } else { format!("remove {n}") };
        s.push_str(&format!("has {n} && {}; ", kq(&rm)));
    }
    s.push_str(&format!("L{m}=0"));
    s
}

/// The guest command of one operation (after its `@@op` marker).
fn op_command(case: &Case, op: &Op) -> String {
    let loaded = |m: usize, cmd: String| format!("if [ \"$L{m}\" = 1 ]; then {cmd}; else echo '@@ret -ENOENT'; fi");
    match op {
        // The host answers `@@qmp` on QMP and puts the `@@ret` it made of
        // QEMU's reply and the guest's _OST in the transcript (qemu.rs);
        // the guest waits for cpuN to appear or go (processor N is logical
        // CPU N when processors come and go in order).
        Op::AcpiCpuHotAdd(n) => format!("echo '@@qmp device_add {n}'; wt {n} 1"),
        // QEMU 7.2 under TCG crashes adding a CPU after it unplugged one,
        // so a scenario that unplugged one ends its boot (HPDEL).
        Op::AcpiCpuHotRemove(n) => format!("HPDEL=1; echo '@@qmp device_del {n}'; wt {n} 0"),
        Op::Write { file, value } => {
            format!("echo \"@@ret $(w {} {})\"", shell_word(value), shell_word(&guest_file(*file)))
        }
        Op::Insmod(m) => {
            let mut cmds = Vec::new();
            for (d, decl) in case.modules[*m].states.iter().enumerate() {
                cmds.push(kq(&setup_cmd(case, *m, d, if decl.multi { SetupKind::Multi } else { SetupKind::Calls })));
                for i in &decl.instances {
                    cmds.push(kq(&format!("add {} {i}", slot(case, *m, d))));
                }
            }
            format!("L{m}=1; {{ {}; }} || {{ echo '@@unwind'; {}; }}", cmds.join(" && "), rmmod_lines(case, *m))
        }
        Op::Rmmod(m) => rmmod_lines(case, *m),
        Op::Setup { module, decl, kind } => loaded(*module, kq(&setup_cmd(case, *module, *decl, *kind))),
        Op::Remove { module, decl, kind } => {
            let n = slot(case, *module, *decl);
            let c = match kind {
                RemoveKind::Calls => format!("remove {n}"),
                RemoveKind::Nocalls => format!("remove {n} nocalls"),
                RemoveKind::Multi => format!("remove_multi {n}"),
            };
            loaded(*module, kq(&c))
        }
        Op::AddInstance { module, decl, name, invoke } => {
            let n = slot(case, *module, *decl);
            loaded(*module, kq(&format!("add {n} {name}{}", if *invoke { "" } else { " nocalls" })))
        }
        Op::RemoveInstance { module, decl, name, invoke } => {
            let n = slot(case, *module, *decl);
            loaded(*module, kq(&format!("del {n} {name}{}", if *invoke { "" } else { " nocalls" })))
        }
        Op::CpuHotplugDisable => kq("cpu_hotplug_disable"),
        Op::CpuHotplugEnable => kq("cpu_hotplug_enable"),
        Op::SmpCallSingle { cpu, func, wait } => {
            kq(&format!("smp_call_function_single {cpu} {func} {}", u8::from(*wait)))
        }
        Op::SmpCallAsync { cpu, func } => kq(&format!("smp_call_function_single_async {cpu} {func}")),
        Op::SmpCallMany { mask, func, wait } => {
            let list: Vec<String> = mask.iter().map(|c| c.to_string()).collect();
            kq(&format!("smp_call_function_many {} {func} {}", list.join(","), u8::from(*wait)))
        }
        Op::SmpCall { func, wait } => kq(&format!("smp_call_function {func} {}", u8::from(*wait))),
        Op::OnEachCpu { func, wait } => kq(&format!("on_each_cpu {func} {}", u8::from(*wait))),
        Op::SynchronizeRcu => kq("synchronize_rcu"),
        Op::CallRcu => kq("call_rcu"),
        Op::SchedSetaffinity { task, mask } => {
            format!("echo \"@@ret $(ta {} $(echo $HOGS | cut -d' ' -f{}))\"", mask, task + 1)
        }
        other => unreachable!("case_skip refuses {other:?}"),
    }
}

/// `setup SLOT AT NAME [nocalls|multi]`, AT a keyword or looked up.
fn setup_cmd(case: &Case, m: usize, d: usize, kind: SetupKind) -> String {
    let decl = &case.modules[m].states[d];
    let at = if decl.at == case.profile.a.ap_online_dyn {
        "online".to_string()
    } else if decl.at == case.profile.a.bp_prepare_dyn {
        "prepare".to_string()
    } else {
        // A named state is looked up by name, so a kernel that numbers it
        // otherwise gets its own number; a free number has no name, and is
        // given as it is (noted in the plan, [`static_notes`]).
        step_name(case, decl.at).map_or_else(|| decl.at.to_string(), |n| format!("$(st {n})"))
    };
    let tail = match kind {
        SetupKind::Calls => "",
        SetupKind::Nocalls => " nocalls",
        SetupKind::Multi => " multi",
    };
    format!("setup {} {at} {}{tail}", slot(case, m, d), decl.name)
}

/// A case's file in the guest's tree (and on a real machine).
pub(super) fn guest_file(file: SysfsFile) -> String {
    let cpu = "/sys/devices/system/cpu";
    match file {
        SysfsFile::Online(c) => format!("{cpu}/cpu{c}/online"),
        SysfsFile::Fail(c) => format!("{cpu}/cpu{c}/hotplug/fail"),
        SysfsFile::Target(c) => format!("{cpu}/cpu{c}/hotplug/target"),
        SysfsFile::SmtControl => format!("{cpu}/smt/control"),
        SysfsFile::MemState(b) => format!("/sys/devices/system/memory/memory{b}/state"),
        SysfsFile::MemOnline(b) => format!("/sys/devices/system/memory/memory{b}/online"),
        SysfsFile::MemInject(up) => format!(
            "/sys/kernel/debug/notifier-error-inject/memory/actions/{}/error",
            if up { "MEM_GOING_ONLINE" } else { "MEM_GOING_OFFLINE" }
        ),
    }
}

/// The scenario's lines: the slots' behaviours, then each operation after
/// its marker (the knob armed where it goes), each followed by the log.
fn lines(case: &Case, inj: &Injection) -> Vec<String> {
    let mut out = Vec::new();
    for (m, module) in case.modules.iter().enumerate() {
        out.push(format!("L{m}=0"));
        for (d, decl) in module.states.iter().enumerate() {
            let n = slot(case, m, d);
            for (up, b) in [(true, &decl.startup), (false, &decl.teardown)] {
                let dir = if up { "up" } else { "down" };
                let own = match inj {
                    Injection::Behave { slot, up: u, effects } if *slot == n && *u == up => Some(effects.clone()),
                    _ => None,
                };
                match (b, own) {
                    (_, Some(e)) => out.push(kq(&format!("behave {n} {dir} {e}"))),
                    (Some(b), None) => out.push(kq(&format!("behave {n} {dir} {}", effects(b)))),
                    (None, None) => out.push(kq(&format!("no{} {n}", if up { "startup" } else { "teardown" }))),
                }
            }
        }
    }
    out.push("kl >/dev/null".into());
    // The case's tasks: a busy loop started on its CPU, then given its
    // mask (widening an affinity does not move a running task).
    for t in &case.tasks {
        out.push(format!("hog {} {}", t.cpu, t.cpus_allowed));
    }
    for (i, l) in case.ops.iter().enumerate() {
        if let Injection::Knob { cpu, state, before } = inj
            && *before == i
        {
            out.push(format!("echo \"@@knob $(w {state} $C/cpu{cpu}/hotplug/fail)\""));
        }
        let dl = matches!(inj, Injection::DlLoad { before } if *before == i);
        if dl {
            // One task per online CPU, together 0.95 × (CPUs − ½): more
            // than one CPU fewer holds (sched_rt_runtime_us 95%), no more
            // than all of them admit.
            out.push(
                "A=$(grep -c ^processor /proc/cpuinfo); kq \"dl_load $A $((9500 * (2 * A - 1) / (2 * A))) 10000\""
                    .into(),
            );
        }
        out.push(format!("echo '@@op {}'; {}; kl", i + 1, op_command(case, &l.op)));
        if dl {
            out.push("kq dl_unload".into());
        }
    }
    out
}

/// Translates a case: every scenario the real kernel can run, the others
/// skipped with their reasons.
pub fn translate(case: &Case) -> CasePlan {
    let (rewritten, mut notes) = as_the_guest_runs(case);
    let mut plan = translate_as_is(&rewritten);
    notes.extend(static_notes(case));
    plan.notes = notes;
    plan
}

/// A note for each module state at a static number no built-in state
/// names: the guest sets it up at that number, which means the same state
/// only on the kernel the profile models.
fn static_notes(case: &Case) -> Vec<String> {
    let p = &case.profile;
    let mut notes = Vec::new();
    for d in case.modules.iter().flat_map(|m| &m.states) {
        let fixed = d.at != p.a.ap_online_dyn && d.at != p.a.bp_prepare_dyn && !dynamic(case, d.at);
        if fixed && step_name(case, d.at).is_none() {
            notes.push(format!(
                "`{}` is set up at the free number {} ({}) as it is: another kernel may number its sections otherwise",
                d.name,
                d.at,
                p.enum_name(d.at)
            ));
        }
    }
    notes
}

/// The case as the guest can run it, on both sides: `cpu_up N`/`cpu_down
/// N` (not exported) as the writes to `cpuN/online` that call them, and a
/// leading `boot` dropped (the guest has booted before `/init`, as the
/// model boots untraced without it). Each change is a note of the plan.
pub fn as_the_guest_runs(case: &Case) -> (Case, Vec<String>) {
    let mut v = case.clone();
    let mut notes = Vec::new();
    if matches!(v.ops.first().map(|l| &l.op), Some(Op::Boot)) && v.ops.len() > 1 {
        v.ops.remove(0);
        notes.push("`boot` dropped on both sides: the guest has booted before /init runs".into());
    }
    let echo = crate::case::OpSpec::find("echo").expect("echo is an operation");
    for l in &mut v.ops {
        let (cpu, value) = match l.op {
            Op::CpuUp(c) => (c, "1"),
            Op::CpuDown(c) => (c, "0"),
            _ => continue,
        };
        notes.push(format!(
            "`{}` runs as `echo {value} > cpu{cpu}/online` on both sides (cpu_up/cpu_down are not exported)",
            l.text
        ));
        l.op = Op::Write { file: SysfsFile::Online(cpu), value: value.into() };
        l.spec = echo;
        l.text = format!("echo {value} > cpu{cpu}/online");
    }
    (v, notes)
}

fn translate_as_is(case: &Case) -> CasePlan {
    let id = case.id.clone();
    let machine = machine(case);
    let mut plan = CasePlan { id, machine, planned: Vec::new(), skipped: Vec::new(), skip: None, notes: Vec::new() };
    if let Some(why) = case_skip(case) {
        plan.skip = Some(why);
        return plan;
    }
    let opts = RunOpts::default();
    let plain = match verdict::run(case, Scenario::plain(case, &opts), &opts) {
        Ok(r) => r,
        Err(e) => {
            plan.skip = Some(format!("the model cannot run the plain scenario: {e}"));
            return plan;
        }
    };
    plan.planned.push(Planned {
        label: "plain".into(),
        injection: Injection::None,
        lines: lines(case, &Injection::None),
        model: observe::model(case, &plain.result, None, true),
        background: timing_dependent(&plain.result),
    });
    let mut scenarios: Vec<Scenario> = Scenario::faulted(case).into_iter().collect();
    if let Some(sw) = &case.sweep {
        let reached = plain.result.reached();
        scenarios.extend(
            reached
                .iter()
                .filter(|s| sw.regex.is_match(&s.to_string()) || sw.regex.is_match(&crate::explore::named(case, **s)))
                .map(|s| Scenario {
                    label: s.to_string(),
                    faults: vec![(*s, verdict::SWEEP_ACTION.to_string())],
                    schedule: None,
                }),
        );
        if sw.mode != crate::case::SweepMode::Single {
            plan.skipped.push((
                "sweep".into(),
                "a pairs/rollback sweep fails two sites: the knob injects one failure at a time".into(),
            ));
            scenarios.retain(|s| Scenario::faulted(case).is_some_and(|f| f.label == s.label));
        }
    }
    for sc in scenarios {
        let label = sc.label.clone();
        match plan_fault(case, sc, &opts) {
            Ok(p) => plan.planned.push(p),
            Err(why) => plan.skipped.push((label, why)),
        }
    }
    plan
}

/// Why the real kernel's splats in a run would depend on when its own
/// background work runs, if they would. A teardown failing after the
/// CPU died ("DEAD callback error", kernel/cpu.c:_cpu_down) leaves the
/// CPU's RCU callback list disabled by rcutree_migrate_callbacks(), and
/// CPUHP_RCUTREE_PREP is neither torn down nor set up again, so once the
/// CPU is back the first call_rcu() anything makes on it hits
/// WARN_ON_ONCE(rcu_scheduler_active != RCU_SCHEDULER_INACTIVE) in
/// __call_rcu() (kernel/rcu/tree.c), at a time of the kernel's choosing
/// and once per boot (seen on 6.1.192 in dynstate/bp-register-remove,
/// cpuhp/cpu1/down/71). The model has no background caller of call_rcu(),
/// so that WARN is left out of the real kernel's count
/// ([`observe::without_background_rcu`]); everything else is compared.
fn timing_dependent(r: &crate::engine::RunResult) -> Option<String> {
    let s = &r.state;
    let off: Vec<usize> = s.cpu.online.iter().filter(|&c| !s.rcu.rda[c].cblist_enabled).collect();
    let cpu = off.first()?;
    Some(format!(
        "the model ends with CPU{cpu} online and its RCU callback list disabled (a teardown failed after the CPU \
         died, above CPUHP_RCUTREE_PREP); the real kernel then WARNs in __call_rcu() when its own background work \
         first calls call_rcu() there (once per boot, at a time of its choosing), which the model's case does not \
         do, so that WARN is not counted"
    ))
}

/// A faulted scenario: how the kernel can inject it, checked against the
/// model's failpoint run.
fn plan_fault(case: &Case, sc: Scenario, opts: &RunOpts) -> Result<Planned, String> {
    if sc.faults.len() != 1 {
        return Err("more than one fault at once: the knob holds one state per CPU".into());
    }
    let (site, action) = sc.faults[0].clone();
    if let Site::Callee { cpu, bringup: false, callee: crate::fault::Callee::DlBwCheckOverflow, .. } = site {
        return plan_dl_overflow(case, sc, opts, cpu as usize, &action);
    }
    let Site::Cpuhp { cpu, bringup, state, inst } = site else {
        return Err(format!(
            "{site}: the real kernel has no way to hold back or fail this (only the fail knob and the module's behaviours)"
        ));
    };
    let run = verdict::run(case, sc.clone(), opts)?;
    let background = timing_dependent(&run.result);
    let events = &run.result.state.trace.events;
    let fired: Vec<usize> = events
        .iter()
        .enumerate()
        .filter(|(_, e)| {
            matches!(e, Event::CbExit(ev, CbHow::Injected, _)
                if ev.cpu as usize == cpu as usize && ev.bringup == bringup && ev.state == state && ev.inst == inst)
        })
        .map(|(i, _)| i)
        .collect();
    let Some(&at) = fired.first() else {
        return Err("the model's failpoint never fires".into());
    };
    if fired.len() > 1 {
        return Err(format!("the failpoint fires {} times; the knob and the module fail once", fired.len()));
    }
    let Event::CbExit(_, _, err) = events[at] else { unreachable!() };
    let op = op_before(events, at);
    let Some(op) = op else { return Err("the failpoint fires before the first operation".into()) };
    let module = observe::module_of(case, &run.result.state, at, state, bringup);
    if !bringup && !matches!(case.ops[op].op, Op::Write { .. } | Op::AcpiCpuHotRemove(_)) {
        return Err(format!(
            "a teardown failing in `{}` hits BUG_ON(ret && !bringup) in cpuhp_issue_call (kmod/README.md)",
            case.ops[op].text
        ));
    }
    // A module's state fails through its behaviour (its slot's number is
    // not known before the setup); a built-in one through the knob.
    let via_knob =
        module.is_none() && err == -crate::errno::EAGAIN && (inst.is_none() || first_instance(&run.result, at));
    let (inj, variant, knob_model) = if via_knob {
        let name = match module {
            Some((m, d)) => format!("$(ss {})", slot(case, m, d)),
            None => match step_name(case, state) {
                Some(n) => format!("$(st {n})"),
                None => return Err(format!("state {state} has no name in hotplug/states")),
            },
        };
        let mut v = case.clone();
        let file = SysfsFile::Fail(cpu as usize);
        let value = state.to_string();
        let mut line = case.ops[0].clone();
        line.op = Op::Write { file, value: value.clone() };
        line.spec = crate::case::OpSpec::find("echo").expect("echo is an operation");
        line.text = format!("echo {value} > cpu{cpu}/hotplug/fail");
        line.expect = None;
        v.ops.insert(op, line);
        (Injection::Knob { cpu: cpu as usize, state: name, before: op }, v, Some(op))
    } else if let Some((m, d)) = module {
        let decl = &case.modules[m].states[d];
        let own = if bringup { &decl.startup } else { &decl.teardown };
        let Some(own) = own else { return Err("the module registered no callback there".into()) };
        if own.fail.is_some() {
            return Err("the callback has a fail rule of its own; the module holds one per callback".into());
        }
        let calls = observe::module_calls(case, &run.result.state, at, m, d, bringup);
        let rule = FailRule { errno: err, on_cpu: Some(cpu as usize), on_call: Some(calls + 1) };
        let b = Behaviour { effects: own.effects.clone(), fail: Some(rule) };
        let mut v = case.clone();
        let target = &mut v.modules[m].states[d];
        if bringup {
            target.startup = Some(b.clone())
        } else {
            target.teardown = Some(b.clone())
        }
        (Injection::Behave { slot: slot(case, m, d), up: bringup, effects: effects(&b) }, v, None)
    } else if err != -crate::errno::EAGAIN {
        return Err(format!(
            "{} at a built-in state: the fail knob injects only -EAGAIN",
            crate::errno::name(i64::from(err))
        ));
    } else {
        return Err("an instance after the first of a built-in multi-instance state: the knob fails the state before any instance".into());
    };
    let model = observe::model(case, &run.result, None, !via_knob);
    let alt = verdict::run(&variant, Scenario::plain(&variant, opts), opts)?;
    let alt_model = observe::model(&variant, &alt.result, knob_model, true);
    if let Some(k) = alt_model.knob.as_deref().filter(|k| *k != "OK") {
        return Err(format!("the fail knob refuses state {state} on cpu{cpu} there ({k})"));
    }
    if let Some(diff) = model.first_difference(&alt_model) {
        return Err(format!("injected as the kernel can ({inj:?}), the model differs from its failpoint: {diff}"));
    }
    let mut model = model;
    model.knob = alt_model.knob.clone();
    Ok(Planned { label: sc.label, lines: lines(case, &inj), injection: inj, model, background })
}

/// A `dl_bw_check_overflow` failure, injected as the kernel can: enough
/// `SCHED_DEADLINE` bandwidth that one CPU fewer cannot hold it, loaded
/// just before the single-CPU offline the model's failpoint fails and
/// unloaded after it.
fn plan_dl_overflow(case: &Case, sc: Scenario, opts: &RunOpts, cpu: usize, action: &str) -> Result<Planned, String> {
    if action != "1*return" && action != "return" {
        return Err(format!(
            "`{action}`: the deadline load fails every offline while it is there; only a single `return` matches it"
        ));
    }
    let run = verdict::run(case, sc.clone(), opts)?;
    let s = &run.result.state;
    let note = format!("dl_bw_check_overflow(CPU{cpu}) fails");
    let at = s
        .trace
        .events
        .iter()
        .position(|e| matches!(e, Event::Note(t) if s.trace.texts[*t as usize].starts_with(&note)));
    let Some(at) = at else { return Err("the model's failpoint never fires".into()) };
    let op = op_before(&s.trace.events, at);
    let Some(op) = op else { return Err("the failpoint fires before the first operation".into()) };
    let single =
        matches!(&case.ops[op].op, Op::Write { file: SysfsFile::Online(c), value } if *c == cpu && value.trim() == "0");
    if !single {
        return Err(format!(
            "`{}`: the deadline load is injected around one `echo 0 > cpu{cpu}/online`",
            case.ops[op].text
        ));
    }
    let inj = Injection::DlLoad { before: op };
    let model = observe::model(case, &run.result, None, true);
    let background = timing_dependent(&run.result);
    Ok(Planned { label: sc.label, lines: lines(case, &inj), injection: inj, model, background })
}

/// The case operation (index in `ops`) that was running at event `at`.
fn op_before(events: &[Event], at: usize) -> Option<usize> {
    events[..at].iter().rev().find_map(|e| if let Event::Op(r) = e { Some(r.op as usize) } else { None })
}

/// Whether the failed instance was the first the kernel called for that
/// state and CPU in this invocation (the knob fails before any instance).
fn first_instance(res: &crate::engine::RunResult, at: usize) -> bool {
    let Event::CbExit(ev, _, _) = res.state.trace.events[at] else { return false };
    match res.state.trace.events[..at].last() {
        Some(Event::CbExit(p, CbHow::Ran, _)) | Some(Event::CbEnter(p)) => {
            !(p.cpu == ev.cpu && p.state == ev.state && p.bringup == ev.bringup)
        }
        _ => true,
    }
}
