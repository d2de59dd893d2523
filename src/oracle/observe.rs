//! What a case's scenario shows, on both sides, in one shape: each
//! operation's result, the knob write's, the final state of every CPU
//! (`hotplug/state`, `target`, `fail`, `online`), the `online`, `present`
//! and `active` masks, `smt/control`, each CPU's
//! `topology/thread_siblings_list` on an SMT machine, the module's registered slots, its
//! callbacks as (operation, direction, state, CPU, task class, result), and
//! how many WARN and BUG reports the kernel printed. [`model`] reads it off a
//! model run; [`parse`] off the guest's structured lines. Tooling around the
//! model, not a model of a kernel file.
//!
//! Tasks are compared by class (`cpuhp/N`, `swapper/N`, `migration/N`,
//! `kworker`, `writer`), since kworker numbers are not stable. Left out:
//! the callbacks' notes (the model's KASAN report is the module's
//! `free:double`), the functions cross-CPU calls ran (`@@kmod fn`), and
//! splats a Debian kernel does not print (lockdep, might_sleep without
//! `CONFIG_DEBUG_ATOMIC_SLEEP`, the model's context checks).

use crate::case::{Case, Op};
use crate::engine::RunResult;
use crate::kernel::KState;
use crate::kernel::trace::{CbHow, Event, SplatKind};
use crate::sim::{TaskKind, cpumask::CpuMask};

use super::kmod::{Entry, parse_entry};
use super::oracle_name;

/// One scenario's observables, as text lines.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Observed {
    /// `N RESULT` per operation.
    pub ops: Vec<String>,
    /// The knob write's result, when the scenario arms it.
    pub knob: Option<String>,
    /// `cpuN state target fail online`.
    pub cpus: Vec<String>,
    pub masks: String,
    pub smt: String,
    /// `cpuN LIST`: `cpuN/topology/thread_siblings_list` of each CPU that
    /// has a topology directory (from `CPUHP_TOPOLOGY_PREPARE` up), on an
    /// SMT machine.
    pub siblings: Vec<String>,
    /// `SLOT STATE NAME single|multi [instances, sorted]`.
    pub slots: Vec<String>,
    /// `opN up|down STATE cpuC CLASS RET`.
    pub callbacks: Vec<String>,
    /// `memoryN STATE` per block, when the case uses memory.
    pub memory: Vec<String>,
    /// `NAME CPULIST` per `[[task]]`: its `Cpus_allowed_list` (where it
    /// runs is the load balancer's choice on a real kernel, not compared).
    pub tasks: Vec<String>,
    /// `warn N bug M`.
    pub splats: String,
    /// The splats' own lines (the guest's `WARNING:`/`BUG` lines, the
    /// model's messages), shown when the counts differ, never compared:
    /// addresses and timestamps differ on every boot.
    pub splat_lines: Vec<String>,
    /// Of the guest's WARNs, those in `__call_rcu()` (kernel/rcu/tree.c).
    pub call_rcu_warns: usize,
}

impl Observed {
    /// Every field as (name, lines), in a fixed order.
    fn fields(&self) -> Vec<(&'static str, Vec<String>)> {
        vec![
            ("results", self.ops.clone()),
            ("knob", self.knob.iter().cloned().collect()),
            ("cpus", self.cpus.clone()),
            ("masks", vec![self.masks.clone()]),
            ("smt/control", vec![self.smt.clone()]),
            ("thread_siblings_list", self.siblings.clone()),
            ("slots", self.slots.clone()),
            ("callbacks", self.callbacks.clone()),
            ("memory", self.memory.clone()),
            ("tasks", self.tasks.clone()),
            ("splats", vec![self.splats.clone()]),
        ]
    }

    /// The first field in which two model runs differ (the knob aside).
    pub fn first_difference(&self, other: &Observed) -> Option<String> {
        for ((name, a), (_, b)) in self.fields().into_iter().zip(other.fields()) {
            if name != "knob" && a != b {
                return Some(format!("{name}: {} vs {}", a.join("; "), b.join("; ")));
            }
        }
        None
    }
}

/// The differences of the real kernel (`real`) from the model, one
/// `-model`/`+real` block per field that differs; empty when they agree.
/// A callback of a dynamic setup that failed shows `?` for its state in
/// the guest (the module is never told the number), and the model's is
/// compared as `?` there too.
pub fn diff(real: &Observed, model: &Observed) -> Vec<String> {
    let mut model = model.clone();
    for (m, r) in model.callbacks.iter_mut().zip(&real.callbacks) {
        let rf: Vec<&str> = r.split(' ').collect();
        let mut mf: Vec<String> = m.split(' ').map(str::to_string).collect();
        if rf.get(2) == Some(&"?") && mf.len() > 2 {
            mf[2] = "?".into();
            *m = mf.join(" ");
        }
    }
    if real.masks.ends_with(" active -")
        && let Some((head, _)) = model.masks.rsplit_once(" active ")
    {
        model.masks = format!("{head} active -");
    }
    let mut out = Vec::new();
    for ((name, m), (_, r)) in model.fields().into_iter().zip(real.fields()) {
        if m != r {
            let mut d = format!("{name}:\n");
            for l in &m {
                if !r.contains(l) {
                    d.push_str(&format!("  - model {l}\n"));
                }
            }
            for l in &r {
                if !m.contains(l) {
                    d.push_str(&format!("  + real  {l}\n"));
                }
            }
            if d.lines().count() == 1 {
                d.push_str(&format!("  model: {}\n  real:  {}\n", m.join("; "), r.join("; ")));
            }
            if name == "splats" {
                for l in &model.splat_lines {
                    d.push_str(&format!("    model's: {l}\n"));
                }
                for l in &real.splat_lines {
                    d.push_str(&format!("    real's:  {l}\n"));
                }
            }
            out.push(d);
        }
    }
    out
}

/// The guest's observation without its `__call_rcu()` WARNs, for a
/// scenario where the kernel's background work may or may not hit one
/// (`translate::timing_dependent`).
pub fn without_background_rcu(real: &Observed) -> Observed {
    let mut o = real.clone();
    let count = |k: &str| {
        let f: Vec<&str> = o.splats.split(' ').collect();
        f.iter().position(|w| *w == k).and_then(|i| f.get(i + 1)).and_then(|n| n.parse::<usize>().ok()).unwrap_or(0)
    };
    let (warn, bug) = (count("warn").saturating_sub(o.call_rcu_warns), count("bug"));
    o.splats = format!("warn {warn} bug {bug}");
    o.splat_lines.retain(|l| !(l.contains("kernel/rcu/tree.c") && l.contains("call_rcu")));
    o.call_rcu_warns = 0;
    o
}

/// `0-3`, `0,2-3`: a mask as the kernel's cpulist files print it.
pub fn cpulist(mask: CpuMask) -> String {
    let cpus: Vec<usize> = mask.iter().collect();
    let mut parts = Vec::new();
    let mut i = 0;
    while i < cpus.len() {
        let mut j = i;
        while j + 1 < cpus.len() && cpus[j + 1] == cpus[j] + 1 {
            j += 1;
        }
        parts.push(if i == j { cpus[i].to_string() } else { format!("{}-{}", cpus[i], cpus[j]) });
        i = j + 1;
    }
    parts.join(",")
}

/// A step's name at event `at` (`report.rs`'s rule: the first retirement
/// after it, else the step as the run left it).
fn step_name_at(s: &KState, at: usize, state: u16) -> Option<String> {
    match s.trace.retired.iter().find(|r| r.state == state && r.until > at) {
        Some(r) => r.name.clone(),
        None => s.cpu.steps[state as usize].name.as_deref().map(str::to_string),
    }
}

/// The module declaration whose callback event `at` is, if any: the step
/// then had the declaration's name.
pub fn module_of(case: &Case, s: &KState, at: usize, state: u16, _bringup: bool) -> Option<(usize, usize)> {
    let name = step_name_at(s, at, state)?;
    case.modules.iter().enumerate().find_map(|(m, md)| md.states.iter().position(|d| d.name == name).map(|d| (m, d)))
}

/// Calls of a declaration's callback in one direction before event `at`,
/// counted as the module counts them (every call that ran).
pub fn module_calls(case: &Case, s: &KState, at: usize, m: usize, d: usize, bringup: bool) -> u32 {
    s.trace.events[..at]
        .iter()
        .enumerate()
        .filter(|(i, e)| {
            matches!(e, Event::CbEnter(ev) if ev.bringup == bringup
                && module_of(case, s, *i, ev.state, ev.bringup) == Some((m, d)))
        })
        .count() as u32
}

fn class(s: &KState, task: u16, worker: bool) -> String {
    if worker {
        return "kworker".into();
    }
    match s.tasks[task as usize].kind {
        TaskKind::Control(_) => "writer".into(),
        TaskKind::Cpuhp(n) => format!("cpuhp/{n}"),
        TaskKind::Idle(n) => format!("swapper/{n}"),
        TaskKind::Stopper(n) => format!("migration/{n}"),
        TaskKind::Ipi(_) | TaskKind::Irq(_) => "irq".into(),
        TaskKind::RcuGp => "rcu_preempt".into(),
    }
}

/// A real task's class from its comm.
pub fn real_class(comm: &str) -> String {
    for k in ["cpuhp/", "swapper/", "migration/"] {
        if comm.starts_with(k) {
            return comm.to_string();
        }
    }
    if comm.starts_with("kworker/") { "kworker".into() } else { "writer".into() }
}

/// The model's observables of a run. `knob` is the index of an operation
/// the translation inserted to arm the knob (its result is the knob's);
/// `injected` keeps a failpoint's refusal as a callback that returned the
/// error (as the module's own fail rule shows it), else drops it (the knob
/// fails before the module's callback is called).
pub fn model(case: &Case, res: &RunResult, knob: Option<usize>, injected: bool) -> Observed {
    let s = &res.state;
    let mut o = Observed::default();
    let case_op = |i: usize| match knob {
        Some(k) if i == k => None,
        Some(k) if i > k => Some(i - 1),
        _ => Some(i),
    };
    for (i, r) in res.results().iter().enumerate() {
        match case_op(i) {
            None => o.knob = Some(oracle_name(*r)),
            Some(c) => o.ops.push(format!("{} {}", c + 1, oracle_name(*r))),
        }
    }
    let c = &s.cpu;
    for cpu in 0..case.machine.cpus {
        if !c.devices.test(cpu) {
            o.cpus.push(format!("cpu{cpu} absent"));
            continue;
        }
        let st = &c.cpuhp[cpu];
        let online = if cpu == 0 { "-".to_string() } else { u8::from(!c.dev_offline.test(cpu)).to_string() };
        if !c.hotplug_dir.test(cpu) {
            o.cpus.push(format!("cpu{cpu} nohotplug {online}"));
            continue;
        }
        o.cpus.push(format!("cpu{cpu} {} {} {} {online}", st.state, st.target, st.fail));
    }
    o.masks = format!("online {} present {} active {}", cpulist(c.online), cpulist(c.present), cpulist(c.active));
    // smt/active: active_show() reads sched_smt_active().
    o.smt = format!("{} active {}", c.smt_control.show(), u8::from(s.sched.smt_present > 0));
    o.tasks = s.sched.tasks.iter().map(|t| format!("{} {}", t.name, cpulist(t.cpus_mask))).collect();
    if case.machine.threads_per_core > 1 {
        // topology_add_dev/topology_remove_dev (drivers/base/topology.c) at
        // CPUHP_TOPOLOGY_PREPARE make and remove cpuN/topology.
        let topology = case.profile.steps.iter().find(|p| p.name == "base/topology:prepare").map(|p| p.nr);
        for cpu in 0..case.machine.cpus {
            if topology.is_some_and(|t| c.cpuhp[cpu].state >= t) {
                let m = s.x86.sibling[cpu];
                o.siblings.push(
                    format!("cpu{cpu} {}", if m.is_empty() { String::new() } else { m.to_string() })
                        .trim_end()
                        .to_string(),
                );
            }
        }
    }
    for (m, ms) in s.modules.iter().enumerate() {
        for (d, reg) in ms.registered.iter().enumerate() {
            if let Some(state) = reg.last() {
                let decl = &ms.decls[d];
                let mut insts: Vec<&str> =
                    ms.instances.keys().filter(|(di, _)| *di == d).map(|(_, n)| n.as_str()).collect();
                insts.sort();
                let kind = if decl.multi { "multi" } else { "single" };
                let mut line = format!("{} {state} {} {kind}", super::translate::slot(case, m, d), decl.name);
                for i in insts {
                    line.push(' ');
                    line.push_str(i);
                }
                o.slots.push(line);
            }
        }
    }
    o.slots.sort();
    let mut op = 0usize;
    for (i, e) in s.trace.events.iter().enumerate() {
        match e {
            Event::Op(r) => op = r.op as usize,
            Event::CbExit(ev, how, ret) if *how == CbHow::Ran || (*how == CbHow::Injected && injected) => {
                if module_of(case, s, i, ev.state, ev.bringup).is_none() {
                    continue;
                }
                let Some(at) = case_op(op) else { continue };
                let dir = if ev.bringup { "up" } else { "down" };
                let who = if *how == CbHow::Injected { class_of_failed(s, i) } else { class(s, ev.task, ev.worker) };
                o.callbacks.push(format!("op{} {dir} {} cpu{} {who} {ret}", at + 1, ev.state, ev.cpu));
            }
            _ => {}
        }
    }
    if case.memory.is_some() {
        let mut blocks: Vec<(u32, String)> =
            s.mem.blocks.iter().map(|b| (b.index, format!("memory{} {}", b.index, b.state.show()))).collect();
        blocks.sort();
        o.memory = blocks.into_iter().map(|(_, l)| l).collect();
    }
    let warn = s.trace.splats.iter().filter(|sp| sp.kind == SplatKind::Warning).count();
    let bug = s.trace.splats.iter().filter(|sp| matches!(sp.kind, SplatKind::Bug | SplatKind::Oops)).count();
    o.splats = format!("warn {warn} bug {bug}");
    o.splat_lines = s.trace.splats.iter().take(SPLAT_LINES).map(|sp| format!("{} at {}", sp.title, sp.site)).collect();
    o
}

/// The splat lines an observation keeps for a diff, at most.
const SPLAT_LINES: usize = 8;

/// The task a failpoint refused a callback on: the event's own.
fn class_of_failed(s: &KState, at: usize) -> String {
    match s.trace.events[at] {
        Event::CbExit(ev, _, _) => class(s, ev.task, ev.worker),
        _ => "?".into(),
    }
}

/// What an operation's result is, read from the guest's lines.
fn op_result(op: &Op, lines: &[String]) -> Result<String, String> {
    if let Some(r) = lines.iter().find_map(|l| l.strip_prefix("@@ret ")) {
        return Ok(r.trim().trim_start_matches('-').to_string());
    }
    let mut rets = Vec::new();
    for l in lines {
        // An insmod's unwinding (del, remove) follows its setups and adds.
        if let Some(Entry::Cmd { ret, text, .. }) = l.starts_with("@@kmod cmd ").then(|| parse_entry(l)).transpose()?
            && (!matches!(op, Op::Insmod(_)) || text.starts_with("setup ") || text.starts_with("add "))
        {
            rets.push(ret);
        }
    }
    let r = match op {
        Op::Insmod(_) => rets.iter().copied().find(|r| *r < 0).unwrap_or(0),
        Op::Rmmod(_) => 0,
        _ => *rets.last().ok_or("the module logged no command for it")?,
    };
    Ok(oracle_name(Some(r)))
}

/// One scenario's observables from the guest's lines, between its
/// `@@scn` and `@@reset` markers: `@@op N` opens an operation, `@@final`
/// the final state. A line out of place is an error naming it.
pub fn parse(case: &Case, lines: &[String]) -> Result<Observed, String> {
    let mut o = Observed::default();
    let mut ops: Vec<Vec<String>> = Vec::new();
    let mut fin = false;
    let (mut warn, mut bug) = (0, 0);
    for l in lines {
        if let Some(n) = l.strip_prefix("@@op ") {
            let want = ops.len() + 1;
            if n.trim() != want.to_string() {
                return Err(format!("the guest printed `{l}` where operation {want} was due"));
            }
            ops.push(Vec::new());
        } else if l == "@@final" {
            fin = true;
        } else if let Some(k) = l.strip_prefix("@@knob ") {
            o.knob = Some(k.trim().to_string());
        } else if let Some(c) = l.strip_prefix("@@cpu ") {
            let f: Vec<&str> = c.split_whitespace().collect();
            if f.len() == 2 && f[1] == "absent" {
                o.cpus.push(format!("cpu{} absent", f[0]));
                continue;
            }
            if f.len() == 3 && f[1] == "nohotplug" {
                o.cpus.push(format!("cpu{} nohotplug {}", f[0], f[2]));
                continue;
            }
            if f.len() != 5 {
                return Err(format!("malformed CPU line `{l}`"));
            }
            o.cpus.push(format!("cpu{} {} {} {} {}", f[0], f[1], f[2], f[3], f[4]));
        } else if let Some(m) = l.strip_prefix("@@mask ") {
            let f: Vec<&str> = m.split_whitespace().collect();
            if f.len() != 3 {
                return Err(format!("malformed mask line `{l}`"));
            }
            o.masks = format!("online {} present {} active {}", f[0], f[1], f[2]);
        } else if let Some(m) = l.strip_prefix("@@mem ") {
            let f: Vec<&str> = m.split_whitespace().collect();
            if f.len() != 2 {
                return Err(format!("malformed memory line `{l}`"));
            }
            if case.memory.is_some() {
                o.memory.push(format!("{} {}", f[0], f[1]));
            }
        } else if let Some(m) = l.strip_prefix("@@task ") {
            let f: Vec<&str> = m.split_whitespace().collect();
            let Some(name) = f.first().and_then(|i| i.parse::<usize>().ok()).and_then(|i| case.tasks.get(i)) else {
                return Err(format!("malformed task line `{l}`"));
            };
            o.tasks.push(format!("{} {}", name.name, f.get(1).unwrap_or(&"-")));
        } else if let Some(m) = l.strip_prefix("@@smt ") {
            o.smt = m.trim().to_string();
        } else if let Some(m) = l.strip_prefix("@@sib ") {
            let (cpu, list) = m.split_once(' ').unwrap_or((m, ""));
            if case.machine.threads_per_core > 1 {
                o.siblings.push(format!("cpu{} {}", cpu.trim(), list.trim()).trim_end().to_string());
            }
        } else if let Some(m) = l.strip_prefix("@@slot ") {
            let mut f: Vec<&str> = m.split_whitespace().collect();
            if f.len() < 4 {
                return Err(format!("malformed slot line `{l}`"));
            }
            f[4..].sort();
            o.slots.push(f.join(" "));
        } else if let Some(m) = l.strip_prefix("@@splat ") {
            o.splat_lines.push(m.to_string());
            if m.contains("WARNING:") && m.contains("kernel/rcu/tree.c") && m.contains("call_rcu") {
                o.call_rcu_warns += 1;
            }
            if m.contains("WARNING:") {
                warn += 1;
            } else if m.contains("BUG") {
                bug += 1;
            }
        } else if l.starts_with("@@kmod ") {
            let e = parse_entry(l)?;
            if fin {
                continue;
            }
            let at = ops.len();
            if let Entry::Cb(c) = &e {
                if at == 0 {
                    return Err(format!("a callback before the first operation: `{l}`"));
                }
                let state = c.state.map_or("?".to_string(), |s| s.to_string());
                let dir = if c.up { "up" } else { "down" };
                o.callbacks.push(format!("op{at} {dir} {state} cpu{} {} {}", c.cpu, real_class(&c.comm), c.ret));
            }
            if let Some(cur) = ops.last_mut() {
                cur.push(l.clone());
            }
        } else if let Some(cur) = ops.last_mut()
            && !fin
        {
            cur.push(l.clone());
        }
    }
    if ops.len() != case.ops.len() {
        return Err(format!("the guest ran {} of the case's {} operations", ops.len(), case.ops.len()));
    }
    if !fin || o.cpus.len() != case.machine.cpus {
        return Err(format!("the guest printed no final state for the case's {} CPUs", case.machine.cpus));
    }
    for (i, (line, got)) in case.ops.iter().zip(&ops).enumerate() {
        let r = op_result(&line.op, got).map_err(|e| format!("operation {} (`{}`): {e}", i + 1, line.text))?;
        o.ops.push(format!("{} {r}", i + 1));
    }
    o.slots.sort();
    let index = |l: &String| l.trim_start_matches("memory").split(' ').next().and_then(|n| n.parse::<u32>().ok());
    o.memory.sort_by_key(index);
    o.splats = format!("warn {warn} bug {bug}");
    o.splat_lines.truncate(SPLAT_LINES);
    Ok(o)
}
