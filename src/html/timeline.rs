//! A run laid out for drawing: lanes (one per CPU, split per task that ran
//! there), a row per trace event or lock operation (the shared step axis),
//! and the things drawn on them: callback spans, stop_machine stage bands,
//! IPI arrows, lock waits and holds, context strips and point marks.
//!
//! A pure function of the run's trace, each event's [`Where`] and its lock
//! operations; it renders nothing (`html::svg` does) and checks nothing.
//! Left out: events past `page_events_max` (the page says how many), and
//! time between events (there is no clock: a row is one step of the trace).

use std::collections::BTreeMap;

use crate::case::Case;
use crate::case::limits::PAGE_EVENTS_MAX;
use crate::errno;
use crate::kernel::KState;
use crate::kernel::smp::Via;
use crate::kernel::stop_machine::Stage;
use crate::kernel::trace::{CbEvent, CbHow, Event, LockWhat, MaskName, Where};
use crate::report;
use crate::sim::lock::Mode;
use crate::verdict::ScenarioRun;

/// Everything the page draws.
#[derive(Clone, Debug, Default)]
pub struct Timeline {
    /// CPUs of the machine: each gets a lane even when nothing ran there.
    pub cpus: usize,
    /// Task lanes, by CPU then task id.
    pub lanes: Vec<Lane>,
    pub rows: usize,
    pub callbacks: Vec<Callback>,
    pub bands: Vec<Band>,
    pub ipis: Vec<Ipi>,
    pub waits: Vec<Span>,
    pub holds: Vec<Span>,
    pub strips: Vec<Strip>,
    pub marks: Vec<Mark>,
    /// Operation starts and returns, drawn across the page.
    pub ops: Vec<Mark>,
    /// Events drawn, and in the trace.
    pub drawn: usize,
    pub events: usize,
    /// Some lock operations were not recorded (the trace's cap).
    pub locks_full: bool,
}

/// One task on one CPU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lane {
    pub cpu: u16,
    pub task: u16,
    pub name: String,
}

/// A hotplug callback invocation, from entry to return.
#[derive(Clone, Debug)]
pub struct Callback {
    pub lane: usize,
    pub from: usize,
    pub to: usize,
    /// Nesting on its task.
    pub depth: usize,
    pub ev: CbEvent,
    /// `197 workqueue:online`.
    pub step: String,
    pub func: String,
    /// `= 0`, `= -EAGAIN (failpoint)`, or `did not return`.
    pub ret: String,
    pub failed: bool,
}

/// A CPU in a stop_machine stage.
#[derive(Clone, Debug)]
pub struct Band {
    pub cpu: u16,
    pub stage: Stage,
    pub from: usize,
    pub to: usize,
}

/// A cross-CPU call: queued on one lane, run on another.
#[derive(Clone, Debug)]
pub struct Ipi {
    pub from_lane: usize,
    pub from: usize,
    /// Where it ran; `None` when it never did.
    pub to: Option<(usize, usize)>,
    pub target: u16,
    pub func: String,
    /// Held back, flushed at DYING, run on a CPU already offline, or never
    /// run.
    pub late: Option<&'static str>,
    /// Queued behind another CSD: no IPI of its own.
    pub coalesced: bool,
}

/// A stretch of a lane: a lock wait or hold.
#[derive(Clone, Debug)]
pub struct Span {
    pub lane: usize,
    pub from: usize,
    pub to: usize,
    pub label: String,
}

/// A lane's context over a stretch of its events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Strip {
    pub lane: usize,
    pub from: usize,
    pub to: usize,
    pub what: Ctx,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Ctx {
    IrqsOff,
    PreemptOff,
}

/// One point: its lane and row, a CSS class, a label and the full text.
#[derive(Clone, Debug)]
pub struct Mark {
    pub lane: usize,
    pub row: usize,
    pub class: &'static str,
    pub label: String,
}

impl Timeline {
    /// The timeline of a run, at most `page_events_max` events of it. The
    /// run must have been made with `RunOpts::timeline`.
    pub fn new(case: &Case, run: &ScenarioRun) -> Timeline {
        assert!(run.result.cfg.timeline, "a page is drawn from a run made with RunOpts::timeline");
        Builder::new(case, &run.result.state).build()
    }
}

/// One open callback on a task.
struct Open {
    idx: usize,
    ev: CbEvent,
}

/// A CSD queued and not run yet.
struct Pending {
    name: u16,
    to: u16,
    lane: usize,
    row: usize,
    held: bool,
    coalesced: bool,
}

struct Builder<'a> {
    case: &'a Case,
    s: &'a KState,
    t: Timeline,
    lanes: BTreeMap<(u16, u16), usize>,
    stacks: BTreeMap<u16, Vec<Open>>,
    pending: Vec<Pending>,
    stages: BTreeMap<u16, (Stage, usize)>,
    offline: Vec<bool>,
    /// Lock waits open, by task and lock: their lane and row.
    waiting: BTreeMap<(u16, u32), (usize, usize)>,
    held: BTreeMap<(u16, u32), (usize, usize)>,
    /// Each lane's context at its last event: flags and the row.
    ctx: BTreeMap<usize, (Where, usize, [Option<usize>; 2])>,
}

impl<'a> Builder<'a> {
    fn new(case: &'a Case, s: &'a KState) -> Builder<'a> {
        let events = s.trace.events.len();
        let drawn = events.min(PAGE_EVENTS_MAX.max as usize);
        let cpus = case.machine.cpus;
        let t = Timeline { cpus, drawn, events, locks_full: s.trace.locks_full, ..Timeline::default() };
        let b = BTreeMap::new();
        Builder {
            case,
            s,
            t,
            lanes: b.clone(),
            stacks: BTreeMap::new(),
            pending: Vec::new(),
            stages: BTreeMap::new(),
            offline: vec![false; cpus],
            waiting: BTreeMap::new(),
            held: BTreeMap::new(),
            ctx: BTreeMap::new(),
        }
    }

    fn build(mut self) -> Timeline {
        self.make_lanes();
        let marks = &self.s.trace.locks;
        let mut m = 0;
        let mut row = 0;
        for i in 0..self.t.drawn {
            let before = m;
            while m < marks.len() && marks[m].at as usize <= i {
                self.lock(m, row);
                row += 1;
                m += 1;
            }
            // A callback that returns at once shares its entry's row.
            let merged = m == before
                && matches!(
                    (i.checked_sub(1).map(|p| &self.s.trace.events[p]), &self.s.trace.events[i]),
                    (Some(Event::CbEnter(a)), Event::CbExit(b, CbHow::Ran, _)) if a == b
                );
            if merged {
                row -= 1;
            }
            self.event(i, row);
            row += 1;
        }
        self.finish(row);
        self.t
    }

    /// Lanes in CPU then task order, named as the trace names the task.
    fn make_lanes(&mut self) {
        let w = &self.s.trace.wheres;
        let mut keys: Vec<(u16, u16)> = w[..self.t.drawn.min(w.len())].iter().map(|w| (w.cpu, w.task)).collect();
        keys.extend(
            self.s.trace.locks.iter().filter(|l| (l.at as usize) < self.t.drawn).map(|l| (l.by.cpu, l.by.task)),
        );
        keys.sort_unstable();
        keys.dedup();
        for (cpu, task) in keys {
            let name = crate::kernel::Kernel::task_name(self.s, self.s.tasks[task as usize].kind);
            self.lanes.insert((cpu, task), self.t.lanes.len());
            self.t.lanes.push(Lane { cpu, task, name });
        }
    }

    fn lane_of(&self, w: Where) -> usize {
        self.lanes[&(w.cpu, w.task)]
    }

    fn mark(&mut self, lane: usize, row: usize, class: &'static str, label: String) {
        self.t.marks.push(Mark { lane, row, class, label });
    }

    fn event(&mut self, i: usize, row: usize) {
        let w = self.s.trace.wheres[i];
        let lane = self.lane_of(w);
        self.context(lane, w, row);
        match self.s.trace.events[i] {
            Event::Op(at) => self.op(lane, row, at, None),
            Event::OpRet(at, ret) => self.op(lane, row, at, Some(ret)),
            Event::CbEnter(ev) => self.enter(i, lane, row, ev),
            Event::CbExit(ev, how, ret) => self.exit(i, lane, row, (ev, how, ret)),
            Event::Stop { cpu, stage, active } => self.stop(lane, row, (cpu, stage, active)),
            Event::CsdQueue { name, to, ipi, .. } => {
                self.pending.push(Pending { name, to, lane, row, held: false, coalesced: !ipi })
            }
            Event::CsdRun { name, cpu, via } => self.csd_run(lane, row, (name, cpu, via)),
            Event::IpiHeld { cpu, .. } => {
                self.pending.iter_mut().filter(|p| p.to == cpu).for_each(|p| p.held = true);
                self.mark(lane, row, "note", format!("failpoint smp/cpu{cpu}/ipi holds the IPI to CPU{cpu} back"));
            }
            Event::Mask { cpu, mask, set } => {
                if mask == MaskName::Online && (cpu as usize) < self.offline.len() {
                    self.offline[cpu as usize] = !set;
                }
                let f = if mask == MaskName::Online { "set_cpu_online" } else { "set_cpu_active" };
                self.mark(lane, row, "mask", format!("{f}({cpu}, {set})"));
            }
            Event::Splat(n) => {
                let line = report::splat_line(&self.s.trace.splats[n]);
                self.mark(lane, row, "splat", line);
            }
            e => {
                let label = self.other(e);
                self.mark(lane, row, "note", label);
            }
        }
    }

    /// The label of an event drawn as a plain mark.
    fn other(&self, e: Event) -> String {
        let s = self.s;
        let name = |r: i32| errno::name(i64::from(r));
        match e {
            Event::Kick { cpu, state } => format!("cpuhp_kick_ap_work(CPU{cpu}) at {state}"),
            Event::KickRet { cpu, ret } => format!("cpuhp_kick_ap_work(CPU{cpu}) = {}", name(ret)),
            Event::Reached { cpu, state } => {
                format!("CPU{cpu} st->state = {state} ({})", self.case.profile.enum_name(state))
            }
            Event::Log(m) => format!("pr_warn: {}", s.trace.texts[m as usize]),
            Event::Note(m) | Event::Step(m) => s.trace.texts[m as usize].clone(),
            Event::StopRet { ret, .. } => format!("take_cpu_down() = {}", name(ret)),
            Event::IpiEnter { cpu, single } => {
                let v = if single { "sysvec_call_function_single" } else { "sysvec_call_function" };
                format!("CPU{cpu} <IRQ> {v}")
            }
            Event::IrqEnter { src, cpu } => format!("CPU{cpu} <IRQ> {}", self.case.irqs[src as usize].name),
            Event::IrqOp { src, op, ret } => {
                format!("{} = {}", self.case.irqs[src as usize].ops[op as usize].text, name(ret))
            }
            Event::IrqExit => "irq exit".to_string(),
            _ => String::new(),
        }
    }

    fn op(&mut self, lane: usize, row: usize, at: crate::kernel::trace::OpRef, ret: Option<i64>) {
        let who = match at.thread {
            0 => String::new(),
            t => format!("{}: ", self.case.threads[t as usize - 1].name),
        };
        let text = report::op_text(self.case, at);
        let label = match ret {
            None => format!("# {who}{text}"),
            Some(r) => format!("{who}{text} => {}", errno::name(r)),
        };
        let class = if ret.is_none() { "op" } else { "opret" };
        self.t.ops.push(Mark { lane, row, class, label });
    }

    fn enter(&mut self, i: usize, lane: usize, row: usize, ev: CbEvent) {
        let (step, func) = report::step_at(self.case, self.s, i, &ev);
        let stack = self.stacks.entry(ev.task).or_default();
        let depth = stack.len();
        let idx = self.t.callbacks.len();
        stack.push(Open { idx, ev });
        self.t.callbacks.push(Callback {
            lane,
            from: row,
            to: row,
            depth,
            ev,
            step: format!("{} {step}", ev.state),
            func,
            ret: "did not return".to_string(),
            failed: false,
        });
    }

    fn exit(&mut self, i: usize, lane: usize, row: usize, (ev, how, ret): (CbEvent, CbHow, i32)) {
        let stack = self.stacks.entry(ev.task).or_default();
        let open = (how == CbHow::Ran && stack.last().is_some_and(|o| o.ev == ev)).then(|| stack.pop()).flatten();
        let why = match how {
            CbHow::Ran => "",
            CbHow::Knob => " (hotplug/fail knob)",
            CbHow::Injected => " (failpoint)",
        };
        let ret_text = format!("= {}{why}", errno::name(i64::from(ret)));
        let idx = match open {
            Some(o) => o.idx,
            None => {
                self.enter(i, lane, row, ev);
                self.stacks.entry(ev.task).or_default().pop();
                self.t.callbacks.len() - 1
            }
        };
        let cb = &mut self.t.callbacks[idx];
        cb.to = row;
        cb.ret = ret_text;
        cb.failed = ret != 0;
    }

    fn stop(&mut self, lane: usize, row: usize, (cpu, stage, active): (u16, Stage, bool)) {
        if let Some((was, from)) = self.stages.remove(&cpu) {
            self.t.bands.push(Band { cpu, stage: was, from, to: row.saturating_sub(1).max(from) });
        }
        self.stages.insert(cpu, (stage, row));
        if active {
            self.mark(lane, row, "note", format!("{} on CPU{cpu}: take_cpu_down()", stage.name()));
        }
        // The rendezvous is over once every CPU in it has reached EXIT.
        if self.stages.values().all(|(st, _)| *st >= Stage::Exit) {
            let done = std::mem::take(&mut self.stages);
            for (c, (st, from)) in done {
                self.t.bands.push(Band { cpu: c, stage: st, from, to: row });
            }
        }
    }

    fn csd_run(&mut self, lane: usize, row: usize, (name, cpu, via): (u16, u16, Via)) {
        let func = self.s.smp.name(name).to_string();
        let Some(p) = self.pending.iter().position(|p| p.name == name && p.to == cpu) else {
            self.mark(lane, row, "note", format!("{func}() on CPU{cpu}"));
            return;
        };
        let p = self.pending.remove(p);
        let offline = self.offline.get(cpu as usize).copied().unwrap_or(false);
        let late = match via {
            Via::Dying => Some("flushed by smpcfd_dying_cpu"),
            _ if offline => Some("run on a CPU already offline"),
            _ if p.held => Some("held back by the smp/cpuN/ipi failpoint"),
            _ => None,
        };
        let coalesced = p.coalesced;
        self.t.ipis.push(Ipi {
            from_lane: p.lane,
            from: p.row,
            to: Some((lane, row)),
            target: cpu,
            func,
            late,
            coalesced,
        });
    }

    fn lock(&mut self, m: usize, row: usize) {
        let mark = self.s.trace.locks[m];
        let lane = self.lane_of(mark.by);
        let name = self.s.locks.locks[mark.lock as usize].name.clone();
        let key = (mark.by.task, mark.lock);
        match mark.what {
            LockWhat::Wait(mode) => {
                self.waiting.insert(key, (lane, row));
                self.mark(lane, row, "lock-wait-start", format!("waits for {name}{}", mode_text(mode)));
            }
            LockWhat::Take(_) | LockWhat::Trylock => {
                if let Some((_, from)) = self.waiting.remove(&key) {
                    self.t.waits.push(Span { lane, from, to: row, label: format!("waited for {name}") });
                }
                let how = match mark.what {
                    LockWhat::Take(mode) => mode_text(mode),
                    _ => " (trylock)",
                };
                self.held.insert(key, (lane, row));
                self.mark(lane, row, "lock-take", format!("takes {name}{how}"));
            }
            LockWhat::Release => {
                if let Some((l, from)) = self.held.remove(&key) {
                    self.t.holds.push(Span { lane: l, from, to: row, label: format!("holds {name}") });
                }
                self.mark(lane, row, "lock-release", format!("releases {name}"));
            }
        }
    }

    /// Extends or ends the lane's context strips with this event's context.
    fn context(&mut self, lane: usize, w: Where, row: usize) {
        let on = [w.irqs_off, w.preempt_off && !w.irqs_off];
        let entry = self.ctx.entry(lane).or_insert((w, row, [None, None]));
        let mut closed = Vec::new();
        for (k, &now) in on.iter().enumerate() {
            match (entry.2[k], now) {
                (None, true) => entry.2[k] = Some(row),
                (Some(from), false) => {
                    closed.push((k, from, entry.1));
                    entry.2[k] = None;
                }
                _ => {}
            }
        }
        entry.0 = w;
        entry.1 = row;
        for (k, from, to) in closed {
            self.t.strips.push(Strip { lane, from, to, what: [Ctx::IrqsOff, Ctx::PreemptOff][k] });
        }
    }

    /// Closes what is still open at the last row.
    fn finish(&mut self, rows: usize) {
        let last = rows.saturating_sub(1);
        self.t.rows = rows;
        for (cpu, (stage, from)) in std::mem::take(&mut self.stages) {
            self.t.bands.push(Band { cpu, stage, from, to: last });
        }
        for (lane, (_, at, open)) in std::mem::take(&mut self.ctx) {
            for (k, from) in open.iter().enumerate() {
                if let Some(from) = from {
                    self.t.strips.push(Strip { lane, from: *from, to: at, what: [Ctx::IrqsOff, Ctx::PreemptOff][k] });
                }
            }
        }
        for p in std::mem::take(&mut self.pending) {
            let func = self.s.smp.name(p.name).to_string();
            let late = Some("never run");
            self.t.ipis.push(Ipi {
                from_lane: p.lane,
                from: p.row,
                to: None,
                target: p.to,
                func,
                late,
                coalesced: p.coalesced,
            });
        }
        for ((_, lock), (lane, from)) in std::mem::take(&mut self.held) {
            let name = &self.s.locks.locks[lock as usize].name;
            self.t.holds.push(Span { lane, from, to: last, label: format!("holds {name} (to the end)") });
        }
        for ((_, lock), (lane, from)) in std::mem::take(&mut self.waiting) {
            let name = &self.s.locks.locks[lock as usize].name;
            self.t.waits.push(Span { lane, from, to: last, label: format!("waits for {name} (to the end)") });
        }
        self.t.bands.sort_by_key(|b| (b.from, b.cpu));
        self.t.strips.sort_by_key(|s| (s.lane, s.from, s.what));
    }
}

fn mode_text(mode: Mode) -> &'static str {
    match mode {
        Mode::Exclusive => "",
        Mode::Shared => " (read)",
    }
}
