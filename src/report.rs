//! Snapshot text and CLI reports: the trace in kernel notation, the
//! operation results as errnos, the final state as sysfs shows it, and the
//! splats.
//!
//! Everything here is a pure function of a run's result: the same run gives
//! the same bytes. Trace lines follow the notation of
//! `Documentation/core-api/cpu_hotplug.rst`, one callback per line:
//! `CPU1 [197 workqueue:online]->teardown()  workqueue_offline_cpu  on cpuhp/1  = 0`.
//! Nested events (the AP's callbacks inside `bringup_cpu`) are indented.

use std::fmt::Write;

use crate::case::Case;
use crate::case::limits::OUTPUT_BYTES_MAX;
use crate::engine::RunResult;
use crate::errno;
use crate::kernel::cpuhotplug::State;
use crate::kernel::smp::{Api, Via};
use crate::kernel::stop_machine::Stage;
use crate::kernel::trace::{CbEvent, CbHow, Event, MaskName, Splat};
use crate::kernel::{KState, Wait};
use crate::sim::CpuMask;
use crate::sim::executor::RunEnd;

/// The trace, one event per line.
pub fn trace(case: &Case, res: &RunResult) -> String {
    let s = &res.state;
    let events = &s.trace.events;
    let mut out = String::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < events.len() {
        if out.len() >= OUTPUT_BYTES_MAX.max as usize {
            let _ = writeln!(
                out,
                "... {} more events not shown: the trace text reached output_bytes_max ({} bytes)",
                events.len() - i,
                OUTPUT_BYTES_MAX.max
            );
            break;
        }
        let e = &events[i];
        let pad = "  ".repeat(depth + 1);
        match e {
            Event::Op(at) => {
                depth = 0;
                match at.thread {
                    0 => writeln!(out, "# {}", op_text(case, *at)),
                    t => writeln!(out, "# {}: {}", case.threads[t as usize - 1].name, op_text(case, *at)),
                }
                .ok();
            }
            Event::OpRet(at, ret) => {
                depth = 0;
                match at.thread {
                    0 => writeln!(out, "  => {}", errno::name(*ret)),
                    t => writeln!(
                        out,
                        "  {}: {} => {}",
                        case.threads[t as usize - 1].name,
                        op_text(case, *at),
                        errno::name(*ret)
                    ),
                }
                .ok();
            }
            Event::CbEnter(ev) => {
                let head = cb_head(case, s, i, ev);
                if let Some(Event::CbExit(x, CbHow::Ran, ret)) = events.get(i + 1)
                    && x == ev
                {
                    let _ = writeln!(out, "{pad}{head}  = {}{}", errno::name(i64::from(*ret)), rb(ev));
                    i += 2;
                    continue;
                }
                let _ = writeln!(out, "{pad}{head}{}", rb(ev));
                depth += 1;
            }
            Event::CbExit(ev, how, ret) => {
                let r = errno::name(i64::from(*ret));
                match how {
                    CbHow::Ran => {
                        depth = depth.saturating_sub(1);
                        let pad = "  ".repeat(depth + 1);
                        let _ = writeln!(out, "{pad}{}  = {r}{}", cb_name(case, s, i, ev), rb(ev));
                    }
                    CbHow::Knob => {
                        let _ = writeln!(out, "{pad}{}  = {r}  (hotplug/fail knob){}", cb_name(case, s, i, ev), rb(ev));
                    }
                    CbHow::Injected => {
                        let _ = writeln!(out, "{pad}{}  = {r}  (failpoint){}", cb_name(case, s, i, ev), rb(ev));
                    }
                }
            }
            Event::Kick { cpu, state } => {
                let _ = writeln!(out, "{pad}cpuhp_kick_ap_work(CPU{cpu}) at {}", state_label(case, *state));
                depth += 1;
            }
            Event::KickRet { cpu, ret } => {
                depth = depth.saturating_sub(1);
                let pad = "  ".repeat(depth + 1);
                let _ = writeln!(out, "{pad}cpuhp_kick_ap_work(CPU{cpu})  = {}", errno::name(i64::from(*ret)));
            }
            Event::Mask { cpu, mask, set } => {
                let f = match mask {
                    MaskName::Online => "set_cpu_online",
                    MaskName::Active => "set_cpu_active",
                };
                let _ = writeln!(out, "{pad}{f}({cpu}, {set})");
            }
            Event::Reached { cpu, state } => {
                let _ = writeln!(out, "{pad}CPU{cpu} st->state = {}", state_label(case, *state));
            }
            Event::Log(m) => {
                let _ = writeln!(out, "{pad}pr_warn: {}", s.trace.texts[*m as usize]);
            }
            Event::Note(m) => {
                let _ = writeln!(out, "{pad}-- {}", s.trace.texts[*m as usize]);
            }
            Event::Step(m) => {
                let _ = writeln!(out, "{pad}{}", s.trace.texts[*m as usize]);
            }
            Event::Splat(n) => {
                let _ = writeln!(out, "{pad}!! {}", splat_line(&s.trace.splats[*n]));
            }
            Event::Stop { cpu, stage, active } => {
                if *active {
                    let _ = writeln!(out, "{pad}multi_cpu_stop: {} on CPU{cpu}: take_cpu_down()", stage.name());
                    depth += 1;
                } else {
                    // One line per stage for the CPUs that noticed it in a row.
                    let mut cpus = vec![*cpu];
                    while let Some(Event::Stop { cpu: c, stage: st, active: false }) = events.get(i + 1)
                        && st == stage
                    {
                        cpus.push(*c);
                        i += 1;
                    }
                    let list: Vec<String> = cpus.iter().map(|c| format!("CPU{c}")).collect();
                    let irqs = if *stage == Stage::DisableIrq { "  (local_irq_disable)" } else { "" };
                    let _ = writeln!(out, "{pad}multi_cpu_stop: {} on {}{irqs}", stage.name(), list.join(" "));
                }
            }
            Event::StopRet { ret, .. } => {
                depth = depth.saturating_sub(1);
                let pad = "  ".repeat(depth + 1);
                let _ = writeln!(out, "{pad}take_cpu_down()  = {}", errno::name(i64::from(*ret)));
            }
            Event::CsdQueue { name, from, to, api, sync, ipi } => {
                let f = s.smp.name(*name);
                let api = match api {
                    Api::Single => "smp_call_function_single",
                    Api::SingleAsync => "smp_call_function_single_async",
                    Api::Many => "smp_call_function_many_cond",
                };
                let wait = if *sync { ", wait" } else { "" };
                let ipi = if *ipi { "IPI sent" } else { "queue not empty, no IPI" };
                let _ = writeln!(out, "{pad}{api}({to}, {f}{wait}) from CPU{from}: queued on CPU{to}, {ipi}");
            }
            Event::CsdRun { name, cpu, via } => {
                let how = match via {
                    Via::Local => "  (local, irqs off)",
                    Via::Ipi => "",
                    Via::Dying => "  (flushed by smpcfd_dying_cpu)",
                };
                let _ = writeln!(out, "{pad}{}() on CPU{cpu}{how}", s.smp.name(*name));
            }
            Event::IpiHeld { cpu, steps } => {
                let until = match steps {
                    0 => format!("until CPU{cpu} next enables IRQs"),
                    n => format!("for {n} steps"),
                };
                let _ = writeln!(out, "{pad}failpoint smp/cpu{cpu}/ipi: the IPI to CPU{cpu} is held back {until}");
            }
            Event::IpiEnter { cpu, single } => {
                let vec = if *single { "sysvec_call_function_single" } else { "sysvec_call_function" };
                if let Some(Event::IrqExit) = events.get(i + 1) {
                    let _ = writeln!(out, "{pad}CPU{cpu} <IRQ> {vec}: nothing queued");
                    i += 2;
                    continue;
                }
                let _ = writeln!(out, "{pad}CPU{cpu} <IRQ> {vec}");
                depth += 1;
            }
            Event::IrqEnter { src, cpu } => {
                let _ = writeln!(out, "{pad}CPU{cpu} <IRQ> {}", case.irqs[*src as usize].name);
                depth += 1;
            }
            Event::IrqOp { src, op, ret } => {
                let text = &case.irqs[*src as usize].ops[*op as usize].text;
                let _ = writeln!(out, "{pad}{text}  = {}", errno::name(i64::from(*ret)));
            }
            Event::IrqExit => {
                depth = depth.saturating_sub(1);
            }
        }
        i += 1;
    }
    out
}

pub fn op_text(case: &Case, at: crate::kernel::trace::OpRef) -> &str {
    match at.thread {
        0 => &case.ops[at.op as usize].text,
        t => &case.threads[t as usize - 1].ops[at.op as usize].text,
    }
}

fn rb(ev: &CbEvent) -> &'static str {
    if ev.rollback { "  [rollback]" } else { "" }
}

fn state_label(case: &Case, st: State) -> String {
    format!("{st} ({})", case.profile.enum_name(st))
}

/// A step's name and callback function as they were at event `at`: the
/// first retirement after it, or else the step as the run left it.
pub fn step_at(case: &Case, s: &KState, at: usize, ev: &CbEvent) -> (String, String) {
    let retired = s.trace.retired.iter().find(|r| r.state == ev.state && r.until > at);
    let (name, func) = match retired {
        Some(r) => (r.name.clone(), if ev.bringup { r.startup.clone() } else { r.teardown.clone() }),
        None => {
            let step = &s.cpu.steps[ev.state as usize];
            (step.name.as_deref().map(str::to_string), step.cb(ev.bringup).map(|c| c.func.to_string()))
        }
    };
    (name.unwrap_or_else(|| case.profile.enum_name(ev.state)), func.unwrap_or_else(|| "?".into()))
}

/// `CPU1 [197 workqueue:online]->teardown()/inst0`.
fn cb_name(case: &Case, s: &KState, at: usize, ev: &CbEvent) -> String {
    let (name, _) = step_at(case, s, at, ev);
    let dir = if ev.bringup { "startup" } else { "teardown" };
    let inst = ev.inst.map(|i| format!("/inst{i}")).unwrap_or_default();
    format!("CPU{} [{:>3} {}]->{dir}(){inst}", ev.cpu, ev.state, name)
}

/// The line of an entered callback: name, function and context.
fn cb_head(case: &Case, s: &KState, at: usize, ev: &CbEvent) -> String {
    let (_, func) = step_at(case, s, at, ev);
    let comm = if ev.worker {
        format!("kworker/{}:1", ev.on_cpu)
    } else {
        crate::kernel::Kernel::task_name(s, s.tasks[ev.task as usize].kind)
    };
    let irqs = if ev.irqs_off { ", irqs off" } else { "" };
    format!("{}  {func}  on {comm} CPU{}{irqs}", cb_name(case, s, at, ev), ev.on_cpu)
}

/// One line per splat, as the kernel would title it.
pub fn splat_line(sp: &Splat) -> String {
    let comm = &sp.comm;
    let why = if sp.reaction { " [in the kernel's error path]" } else { "" };
    format!("{} [{}] (CPU: {} Comm: {comm} at {}){why}", sp.title, sp.kind.label(), sp.ctx.cpu, sp.site)
}

/// The operation results, the run's end, the final state and the splats:
/// what identifies an outcome.
pub fn outcome(case: &Case, res: &RunResult, broken: &[impl std::fmt::Display]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "results:");
    for (line, r) in case.ops.iter().zip(res.results()) {
        let r = r.map_or("(did not return)".to_string(), errno::name);
        let _ = writeln!(out, "  {:<40} = {r}", line.text);
    }
    // A thread's operations run in order, so those after the first that did
    // not return did not either: one line says how many, where a thread of
    // 1000 operations and 1000 loops would print a million.
    for (t, results) in case.threads.iter().zip(res.thread_results()) {
        let _ = writeln!(out, "thread {}:", t.name);
        for (i, r) in results.iter().enumerate() {
            let _ = writeln!(out, "  {:<40} = {}", t.ops[i % t.ops.len()].text, errno::name(*r));
        }
        let total = t.ops.len() * t.loops as usize;
        if results.len() < total {
            let _ = writeln!(out, "  {:<40} = (did not return)", t.ops[results.len() % t.ops.len()].text);
        }
        if results.len() + 1 < total {
            let _ = writeln!(out, "  ({} more did not return)", total - results.len() - 1);
        }
    }
    let _ = writeln!(out, "end: {}", outcome_end(res));
    out.push_str(&final_state(case, res));
    let _ = writeln!(out, "splats:");
    if res.state.trace.splats.is_empty() {
        let _ = writeln!(out, "  (none)");
    }
    for sp in &res.state.trace.splats {
        let _ = writeln!(out, "  {}", splat_line(sp));
    }
    // Broken invariants that the final state may not show (a callback
    // stranded on a dead CPU leaves no splat).
    if !broken.is_empty() {
        let _ = writeln!(out, "broken invariants:");
        for b in broken {
            let _ = writeln!(out, "  {b}");
        }
    }
    out
}

/// Whether any callback ran (or was failed) as part of a rollback.
pub fn rolled_back(res: &RunResult) -> bool {
    res.state.trace.events.iter().any(|e| matches!(e, Event::CbExit(ev, _, _) | Event::CbEnter(ev) if ev.rollback))
}

/// How the run ended, as a line: finished, or who is stuck on what.
pub fn outcome_end(res: &RunResult) -> String {
    let s = &res.state;
    match &res.end {
        RunEnd::Finished => "finished".to_string(),
        RunEnd::StepLimit(n) => format!("livelock: step limit reached after {n} steps"),
        RunEnd::TraceLimit(n) => format!(
            "trace limit: the run recorded {} events and splats (trace_events_max) after {n} steps, and stopped",
            res.cfg.trace_events_max
        ),
        RunEnd::Deadlock(tasks) => {
            let mut out = String::from("deadlock: ");
            if let Some(stall) = crate::kernel::rcu::tree::stalled_on(s) {
                out = format!("{stall}; ");
            }
            if let Some(cycle) = wait_cycle(s, tasks) {
                out.push_str(&cycle);
                out.push_str("; ");
            }
            let who: Vec<String> = tasks.iter().map(|&t| blocked_line(s, t)).collect();
            out.push_str(&who.join("; "));
            out
        }
    }
}

/// The first wait-for cycle among blocked tasks: each waits for a lock the
/// next one holds.
fn wait_cycle(s: &KState, tasks: &[usize]) -> Option<String> {
    let waits_on = |t: usize| match s.tasks[t].wait {
        Some(Wait::Lock(l, _)) if !s.tasks[t].died => Some(l),
        _ => None,
    };
    for &start in tasks {
        let mut path = vec![start];
        let mut t = start;
        while let Some(l) = waits_on(t) {
            let Some(&h) = s.locks.locks[l].holders().first() else { break };
            if let Some(pos) = path.iter().position(|&p| p == h) {
                let cycle = &path[pos..];
                let parts: Vec<String> = cycle
                    .iter()
                    .map(|&c| {
                        let l = waits_on(c).expect("every task on the cycle waits");
                        let held: Vec<&str> = s.tasks[c].held.iter().map(|&h| s.locks.locks[h].name.as_str()).collect();
                        format!(
                            "{} holds {} and waits for {}",
                            crate::kernel::Kernel::comm_of(s, c),
                            held.join(", "),
                            s.locks.locks[l].name
                        )
                    })
                    .collect();
                return Some(format!("cycle: {}", parts.join(", which ")));
            }
            path.push(h);
            t = h;
        }
    }
    None
}

fn blocked_line(s: &KState, t: usize) -> String {
    let task = &s.tasks[t];
    let comm = crate::kernel::Kernel::comm_of(s, t);
    if task.died {
        return format!("{comm} died");
    }
    let what = match task.wait {
        Some(Wait::Lock(l, _)) => {
            let lock = &s.locks.locks[l];
            let holders: Vec<String> = lock.holders().iter().map(|&h| crate::kernel::Kernel::comm_of(s, h)).collect();
            format!("{} held by {}", lock.name, holders.join(", "))
        }
        Some(Wait::Completion(c)) => completion_name(s, c),
        Some(Wait::CsdLock(c)) => {
            let csd = &s.smp.csds[c];
            let f = crate::kernel::smp::func_name(&csd.func);
            let on = match csd.on {
                Some(cpu) if !s.smp.powered.test(cpu) => format!("queued on CPU{cpu}, which is dead"),
                Some(cpu) if irqs_off_on(s, cpu) => format!("queued on CPU{cpu}, which spins with IRQs disabled"),
                Some(cpu) => format!("queued on CPU{cpu}, which has not run it"),
                None => "in flight".to_string(),
            };
            format!("csd_lock_wait() (spinning) for {f}(), {on}")
        }
        Some(Wait::MultiStop(_, stage)) => format!("multi_cpu_stop() (spinning) in {}", stage.name()),
        Some(w) => format!("{w:?}"),
        None => "nothing".to_string(),
    };
    format!("{comm} blocked on {what}")
}

/// Whether a task on `cpu` is stuck there with IRQs disabled.
fn irqs_off_on(s: &KState, cpu: usize) -> bool {
    s.tasks.iter().any(|t| {
        t.ctx.cpu == cpu
            && t.ctx.irqs_disabled
            && !t.finished
            && !t.died
            && !t.kind.is_irq()
            && t.wait.is_none_or(|w| w == Wait::Yield || w.spins())
    })
}

fn completion_name(s: &KState, c: usize) -> String {
    for (cpu, st) in s.cpu.cpuhp.iter().enumerate() {
        if st.done_up == c {
            return format!("CPU{cpu} st->done_up");
        }
        if st.done_down == c {
            return format!("CPU{cpu} st->done_down");
        }
    }
    let wakeme = s.rcu.rda.iter().enumerate().find_map(|(cpu, d)| {
        d.cbs.iter().any(|h| h.func == crate::kernel::rcu::tree::CbFunc::Wakeme(c)).then_some(cpu)
    });
    match wakeme {
        Some(cpu) => format!("synchronize_rcu()'s wakeme_after_rcu callback, queued on CPU{cpu}"),
        None => format!("completion {c}"),
    }
}

/// The final state, as sysfs (or, without hotplug sysfs, the model) shows it.
pub fn final_state(case: &Case, res: &RunResult) -> String {
    let s = &res.state;
    let c = &s.cpu;
    let mut out = String::new();
    let _ = writeln!(out, "final state:");
    let _ = writeln!(out, "  possible: {}", c.possible);
    let _ = writeln!(out, "  present:  {}", c.present);
    let _ = writeln!(out, "  online:   {}", mask(c.online));
    let _ = writeln!(out, "  active:   {}", mask(c.active));
    let _ = writeln!(out, "  dying:    {}", mask(c.dying));
    for (cpu, st) in c.cpuhp.iter().enumerate() {
        if !c.possible.test(cpu) {
            let _ = writeln!(out, "  cpu{cpu}: not possible (no device)");
            continue;
        }
        if !c.present.test(cpu) && !c.devices.test(cpu) {
            let _ = writeln!(out, "  cpu{cpu}: not present (no device)");
            continue;
        }
        if c.present.test(cpu) != c.devices.test(cpu) {
            let has = if c.devices.test(cpu) { "a device, not present" } else { "present, no device" };
            let _ = writeln!(out, "  cpu{cpu}: {has}");
        }
        let online = if res.cfg.hotplug_cpu && cpu != 0 {
            format!("  online {}", u8::from(!c.dev_offline.test(cpu)))
        } else {
            String::new()
        };
        if res.cfg.hotplug_cpu && !c.hotplug_dir.test(cpu) {
            let _ = writeln!(out, "  cpu{cpu}: no hotplug/ directory (state {}){online}", st.state);
        } else if res.cfg.hotplug_cpu {
            let _ =
                writeln!(out, "  cpu{cpu}: hotplug/state {}  target {}  fail {}{online}", st.state, st.target, st.fail);
        } else {
            let _ = writeln!(
                out,
                "  cpu{cpu}: cpuhp_cpu_state {{ state {} ({}), target {}, rollback {} }} (no hotplug sysfs)",
                st.state,
                case.profile.enum_name(st.state),
                st.target,
                u8::from(st.rollback)
            );
        }
    }
    // cpuN/topology/thread_siblings_list of each online CPU, on a machine
    // with SMT or APIC ids of its own (elsewhere every CPU is its own).
    if res.cfg.threads_per_core > 1 || case.machine.apic_ids_given {
        let lists: Vec<String> = c.online.iter().map(|cpu| format!("cpu{cpu} {}", s.x86.sibling[cpu])).collect();
        let _ = writeln!(out, "  thread_siblings_list: {}", lists.join(", "));
    }
    if res.cfg.hotplug_cpu {
        let _ = writeln!(out, "  smt/control: {}", c.smt_control.show());
        if res.cfg.threads_per_core > 1 {
            // active_show(): sched_smt_active(), the static key's count > 0.
            let _ = writeln!(out, "  smt/active: {}", u8::from(s.sched.smt_present > 0));
        }
    } else {
        let _ = writeln!(out, "  cpu_smt_control: {} (no smt sysfs)", c.smt_control.show());
    }
    if c.cpu_hotplug_disabled > 0 {
        let _ = writeln!(out, "  cpu_hotplug_disabled: {}", c.cpu_hotplug_disabled);
    }
    out.push_str(&rcu(s, res.cfg.rcu));
    if let Some(line) = crate::kernel::sched::core::final_state(s) {
        let _ = writeln!(out, "  {line}");
    }
    if let Some(line) = crate::kernel::smpboot::final_state(s) {
        let _ = writeln!(out, "  {line}");
    }
    for line in crate::kernel::sched::core::final_tasks(s) {
        let _ = writeln!(out, "  {line}");
    }
    out.push_str(&states_diff(case, s));
    out.push_str(&memory(s));
    out.push_str(&slab(s));
    out.push_str(&modules(s));
    out.push_str(&held_locks(s));
    out
}

/// RCU's view of the CPUs, when a case uses RCU or the view differs from
/// what the online mask implies.
fn rcu(s: &KState, used: bool) -> String {
    let r = &s.rcu;
    if !r.remarkable(used, s.cpu.online) {
        return String::new();
    }
    let mut enabled = CpuMask::empty();
    for (c, d) in r.rda.iter().enumerate() {
        enabled.assign(c, d.cblist_enabled);
    }
    let queued = per_cpu_counts(r.rda.iter().map(|d| d.cbs.len()), "none");
    let gp =
        r.gp.as_ref()
            .map_or(String::new(), |g| format!(", grace period {} waits for {}", r.completed + 1, mask(g.qsmask)));
    format!(
        "  rcu: qsmaskinitnext {}  callbacks enabled {}  queued {queued}  call_rcu {} invoked {}  grace periods {}{gp}\n",
        mask(r.qsmaskinitnext),
        mask(enabled),
        r.queued,
        r.invoked,
        r.completed
    )
}

/// `hotplug/states` lines that differ from the profile.
fn states_diff(case: &Case, s: &KState) -> String {
    let mut out = String::new();
    let mut profile: Vec<Option<&str>> = vec![None; s.cpu.steps.len()];
    for p in &case.profile.steps {
        profile[p.nr as usize] = Some(p.name.as_str());
    }
    for (nr, step) in s.cpu.steps.iter().enumerate() {
        let now = step.name.as_deref();
        let was = profile[nr];
        if now == was {
            continue;
        }
        if let Some(w) = was {
            let _ = writeln!(out, "    -{nr:3}: {w}");
        }
        if let Some(n) = now {
            let _ = writeln!(out, "    +{nr:3}: {n}");
        }
    }
    if out.is_empty() {
        "  hotplug/states: as the profile\n".to_string()
    } else {
        format!("  hotplug/states, changes from the profile:\n{out}")
    }
}

fn modules(s: &KState) -> String {
    let mut out = String::new();
    for m in &s.modules {
        let loaded = if m.loaded { "loaded" } else { "not loaded" };
        let _ = write!(out, "  module {}: {loaded}", m.name);
        for (d, slots) in m.registered.iter().enumerate() {
            for slot in slots {
                let _ = write!(out, ", {}@{slot}", m.decls[d].name);
            }
        }
        let _ = writeln!(out);
        for ((d, name), &id) in &m.instances {
            let on: Vec<String> = s
                .cpu
                .steps
                .iter()
                .enumerate()
                .filter(|(_, st)| st.list.contains(&id))
                .map(|(n, _)| n.to_string())
                .collect();
            let _ = writeln!(
                out,
                "    instance {}/{name}: on state {}",
                m.decls[*d].name,
                if on.is_empty() { "none".into() } else { on.join(",") }
            );
        }
        let mut per: Vec<String> = Vec::new();
        for ((d, inst, cpu), n) in &m.percpu {
            let inst = inst.map(|i| format!("/{}", s.cpu.instances[i].name)).unwrap_or_default();
            let times = if *n > 1 { format!(" x{n}") } else { String::new() };
            per.push(format!("{}{inst}@cpu{cpu}{times}", m.decls[*d].name));
        }
        if !per.is_empty() {
            let _ = writeln!(out, "    per-CPU data: {}", per.join(" "));
        }
    }
    out
}

fn held_locks(s: &KState) -> String {
    let mut out = String::new();
    for l in &s.locks.locks {
        for h in l.holders() {
            let t = &s.tasks[h];
            let died = if t.died { " (died)" } else { "" };
            let _ = writeln!(out, "  lock held: {} by {}{died}", l.name, crate::kernel::Kernel::comm_of(s, h));
        }
    }
    out
}

/// The memory blocks as `/sys/devices/system/memory` shows them, with the
/// model's page counts.
fn memory(s: &KState) -> String {
    let m = &s.mem;
    if !m.enabled {
        return String::new();
    }
    let mut out = String::new();
    let auto = if m.auto_online { "online" } else { "offline" };
    let _ = writeln!(
        out,
        "  memory: auto_online_blocks {auto}, nodes with memory {:?}, slab nodes {:?}, lru_disable_count {}",
        m.nodes_with_memory, m.slab_nodes, m.lru_disable_count
    );
    for z in &m.zones {
        let _ = writeln!(out, "  {}", zone(z));
    }
    for b in m.blocks.iter().filter(|b| b.registered) {
        let p = b.pages;
        let _ = writeln!(
            out,
            "  memory{}: state {}  online {}  valid_zones {}  node {}  pages free {} movable {} pinned {} unmovable {}  pageblocks {}",
            b.index,
            b.state.show(),
            u8::from(!b.dev_offline),
            b.valid_zones(),
            b.nid,
            p.free,
            p.movable,
            p.pinned,
            p.unmovable,
            pageblocks(&b.pageblocks)
        );
    }
    if m.inject_going_online != 0 || m.inject_going_offline != 0 {
        let _ = writeln!(
            out,
            "  notifier-error-inject: MEM_GOING_ONLINE {}, MEM_GOING_OFFLINE {}",
            m.inject_going_online, m.inject_going_offline
        );
    }
    out
}

/// `cpuN count` for each CPU with a non-zero count, or `none` when every
/// count is zero.
fn per_cpu_counts(counts: impl Iterator<Item = usize>, none: &str) -> String {
    let listed: Vec<String> = counts.enumerate().filter(|&(_, n)| n > 0).map(|(c, n)| format!("cpu{c} {n}")).collect();
    if listed.is_empty() { none.to_string() } else { listed.join(", ") }
}

/// A zone's counts and pagesets, as `/proc/zoneinfo` names them.
fn zone(z: &crate::mm::page_alloc::Zone) -> String {
    let pcp = match z.pageset.first() {
        None => "boot_pageset".to_string(),
        Some(p) => {
            let lists = per_cpu_counts(z.pageset.iter().map(|p| p.list.len()), "empty");
            format!("pcp high {} batch {}, pcplists {lists}", p.high, p.batch)
        }
    };
    format!(
        "{}: start_pfn {}  spanned {}  present {}  managed {}  NR_FREE_PAGES {}  nr_isolate_pageblock {}  {pcp}",
        z.label(),
        z.zone_start_pfn,
        z.spanned_pages,
        z.present_pages,
        z.managed_pages,
        z.nr_free_pages,
        z.nr_isolate_pageblock
    )
}

/// A block's pageblock migratetypes: one name when they agree.
fn pageblocks(mts: &[crate::mm::page_alloc::Migratetype]) -> String {
    if mts.iter().all(|&m| m == mts[0]) {
        return format!("{}×{}", mts.len(), mts[0].name());
    }
    mts.iter().map(|m| m.name()).collect::<Vec<_>>().join(",")
}

/// A cpulist, with `(none)` for an empty mask.
pub fn mask(m: crate::sim::CpuMask) -> String {
    if m.is_empty() { "(none)".to_string() } else { m.to_string() }
}

/// The slab model's caches and per-CPU arrays.
fn slab(s: &KState) -> String {
    let sl = &s.slab;
    if !sl.enabled {
        return String::new();
    }
    let mut out = format!("  slab: up-prepared CPUs {}\n", mask(sl.up_prepared));
    for &id in &sl.chain {
        let c = &sl.caches[id];
        let _ = writeln!(out, "    cache {} on the chain: per-CPU arrays {}", c.name, mask(c.arrays));
    }
    if let Some(v) = &sl.violation {
        let _ = writeln!(out, "    invariant broken: {v}");
    }
    out
}
