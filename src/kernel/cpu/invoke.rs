//! `kernel/cpu.c`, the call itself: `cpuhp_invoke_callback` and the checks
//! the model makes around every callback invocation.
//!
//! The sysfs `fail` knob first, then the context check (each section's
//! rules: STARTING/DYING on the target CPU with IRQs off, ONLINE on
//! `cpuhp/N`, PREPARE/DEAD sleepable and, in a walk, after the CPU is dead),
//! the failpoint, the trace, the body, the balance. Multi-instance states
//! walk their list with `st->last` and undo on error as 6.1.192 does.
//! Built-in callbacks that cannot sleep take a synchronous twin
//! (`invoke_callback_sync`) with the same checks, failpoint and trace.
//! Left out: the `cpuhp_enter`/`cpuhp_exit` tracepoints as such (the trace
//! stands for them).

use std::sync::Arc;

use crate::errno::*;
use crate::fault::Site;
use crate::kernel::trace::{CbEvent, CbHow, Event, SplatKind};

use super::super::cpuhotplug::{Profile, Section, State};
use super::super::{KState, Kernel};
use super::{Builtin, CPUHP_INVALID, Calling, CbBody, InstId};

/// How a callback is being invoked, which decides the checks that apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Via {
    /// Part of a CPU's state walk (up, down or rollback).
    Walk,
    /// A single invocation from state (un)registration.
    Single,
}

impl Kernel {
    /// `cpuhp_invoke_callback()`: the one place callbacks are called from.
    /// `use_last` is `lastp == &st->last` (the AP thread); `Via` says which
    /// checks apply.
    pub(crate) async fn cpuhp_invoke_callback(
        &self,
        cpu: usize,
        state: State,
        bringup: bool,
        node: Option<InstId>,
        use_last: bool,
        via: Via,
    ) -> i32 {
        let (call, list, last) = {
            if let Some(err) = self.knob_fired(cpu, state, bringup, node) {
                return err;
            }
            let s = self.s();
            let step = &s.cpu.steps[state as usize];
            let Some(cb) = step.cb(bringup) else {
                drop(s);
                self.warn_once(
                    "kernel/cpu.c:cpuhp_invoke_callback",
                    "WARN_ON_ONCE(cpuhp_step_empty(bringup, step))",
                    false,
                );
                return 0;
            };
            let balanced = step.startup.is_some() && step.teardown.is_some();
            let call = Call { cpu, state, bringup, body: cb.body, inst: None, via, balanced };
            let list = if step.multi && node.is_none() { Some(step.list.clone()) } else { None };
            let node = if step.multi { node } else { None };
            (Call { inst: node, ..call }, list, s.cpu.cpuhp[cpu].last)
        };
        let Some(list) = list else {
            if use_last && last.is_some() {
                self.warn_once("kernel/cpu.c:cpuhp_invoke_callback", "WARN_ON_ONCE(lastp && *lastp)", true);
            }
            return self.invoke_one(call).await;
        };
        for (cnt, &n) in list.iter().enumerate() {
            if use_last && Some(n) == last {
                break;
            }
            let ret = self.invoke_one(Call { inst: Some(n), ..call }).await;
            if ret != 0 {
                if !use_last {
                    return self.undo_instances(call, &list[..cnt], ret).await;
                }
                self.s().cpu.cpuhp[cpu].last = Some(n);
                return ret;
            }
        }
        if use_last {
            self.s().cpu.cpuhp[cpu].last = None;
        }
        0
    }

    /// The `err:` path of `cpuhp_invoke_callback`: undo the instances done.
    /// (6.1.192 keeps the error in `ret`; the rollback result only WARNs.)
    async fn undo_instances(&self, call: Call, done: &[InstId], ret: i32) -> i32 {
        let body = self.s().cpu.steps[call.state as usize].cb(!call.bringup).map(|c| c.body);
        let Some(body) = body else { return ret };
        for &n in done {
            let undo = Call { bringup: !call.bringup, body, inst: Some(n), ..call };
            if self.invoke_one(undo).await != 0 {
                self.warn_once("kernel/cpu.c:cpuhp_invoke_callback", "WARN_ON_ONCE(rollback_ret)", true);
            }
        }
        ret
    }

    /// The C name of a state's callback, for messages.
    fn func_name(&self, state: State, bringup: bool) -> Arc<str> {
        let s = self.s();
        s.cpu.steps[state as usize].cb(bringup).map_or_else(|| Arc::from("?"), |c| c.func.clone())
    }

    /// `cpuhp_invoke_callback()` for the common case, without an `async`
    /// frame: a single-instance built-in callback that cannot sleep. `None`
    /// when the call needs the full path (nothing has happened then).
    pub(super) fn invoke_callback_sync(
        &self,
        cpu: usize,
        state: State,
        bringup: bool,
        node: Option<InstId>,
        use_last: bool,
        via: Via,
    ) -> Option<i32> {
        if self.cfg.force_async {
            return None;
        }
        // One borrow for the checks, the knob, the context and the trace:
        // this is the hot path of every hotplug operation.
        let quiet = self.faults.quiet();
        let (call, ev, wrong) = {
            let mut s = self.s();
            let step = &s.cpu.steps[state as usize];
            let body = step.cb(bringup)?.body;
            let sync = matches!(body, CbBody::Builtin(b) if b.calling() != Calling::Sleeps);
            if !sync || step.multi || (use_last && s.cpu.cpuhp[cpu].last.is_some()) {
                return None;
            }
            let balanced = step.startup.is_some() && step.teardown.is_some();
            let _ = node;
            let call = Call { cpu, state, bringup, body, inst: None, via, balanced };
            let ev = cb_event(&s, cpu, state, bringup, None);
            if let Some(err) = knob(&mut s, cpu, ev) {
                return Some(err);
            }
            let wrong = context_problem(&self.profile, &s, &call);
            if quiet && wrong.is_none() {
                s.record(Event::CbEnter(ev));
            }
            (call, ev, wrong)
        };
        if !quiet || wrong.is_some() {
            if let Some(problem) = wrong {
                self.report_context(&call, problem, &ev);
            }
            if let Err(err) = self.enter_failpoint(&call, ev) {
                return Some(err);
            }
        }
        let CbBody::Builtin(b) = call.body else { unreachable!("checked above") };
        let ret = self.run_builtin(b, cpu);
        self.exit(&call, ev, ret);
        Some(ret)
    }

    /// The sysfs fail knob: `-EAGAIN` without calling anything, once.
    fn knob_fired(&self, cpu: usize, state: State, bringup: bool, node: Option<InstId>) -> Option<i32> {
        let mut s = self.s();
        let ev = cb_event(&s, cpu, state, bringup, node);
        knob(&mut s, cpu, ev)
    }

    /// Everything before a callback's body runs: the context check, the
    /// failpoint, the trace. `Err` carries an injected error.
    fn enter(&self, call: &Call) -> Result<CbEvent, i32> {
        let ev = self.enter_context(call);
        self.enter_failpoint(call, ev)?;
        Ok(ev)
    }

    /// The failpoint and the trace of a call whose context is checked.
    fn enter_failpoint(&self, call: &Call, ev: CbEvent) -> Result<(), i32> {
        if !self.faults.quiet() {
            let site = Site::Cpuhp { cpu: call.cpu as u16, bringup: call.bringup, state: call.state, inst: ev.inst };
            if let Some(err) = self.failpoint(site, ev.rollback) {
                self.trace(Event::CbExit(ev, CbHow::Injected, err));
                return Err(err);
            }
        }
        self.trace(Event::CbEnter(ev));
        Ok(())
    }

    /// Everything after a callback's body: the balance and the trace.
    fn exit(&self, call: &Call, ev: CbEvent, ret: i32) {
        let mut s = self.s();
        // Startups against teardowns, for states that have both. A failed
        // startup counts when the CPU moved past the state anyway:
        // `bringup_cpu` failing after the AP reached AP_ONLINE_IDLE, whose
        // teardown (`finish_cpu`) the rollback then runs.
        if call.balanced
            && (ret == 0 || (call.bringup && call.via == Via::Walk && s.cpu.cpuhp[call.cpu].state > call.state))
        {
            s.cpu.balance.add(call.state, call.inst, call.cpu, if call.bringup { 1 } else { -1 });
        }
        s.record(Event::CbExit(ev, CbHow::Ran, ret));
    }

    /// Calls one callback function (one instance), with every check the
    /// model makes around it.
    async fn invoke_one(&self, call: Call) -> i32 {
        let Call { cpu, state, bringup, body, inst, .. } = call;
        if let CbBody::Module { module, .. } = body
            && !self.s().modules[module].loaded
        {
            // The context check comes first: the call happens, then faults.
            self.enter_context(&call);
            self.unloaded_callback(cpu, state, bringup, module).await;
        }
        let ev = if body == CbBody::Builtin(Builtin::TakedownCpu) {
            // takedown_cpu fails only where the kernel's can: __cpu_disable()
            // inside stop_machine, where take_cpu_down consults the failpoint.
            let ev = self.enter_context(&call);
            self.trace(Event::CbEnter(ev));
            ev
        } else {
            match self.enter(&call) {
                Ok(ev) => ev,
                Err(err) => return err,
            }
        };
        // The bodies that sleep are boxed: their futures are large, and
        // keeping them out of this one keeps every other call cheap.
        let ret = match body {
            CbBody::Builtin(Builtin::BringupCpu) => Box::pin(self.bringup_cpu(cpu)).await,
            CbBody::Builtin(Builtin::TakedownCpu) => Box::pin(self.takedown_cpu(cpu)).await,
            CbBody::Builtin(Builtin::SlabPrepare) => Box::pin(self.slab_prepare_cpu(cpu)).await,
            CbBody::Builtin(Builtin::SlabDead) => Box::pin(self.slab_dead_cpu(cpu)).await,
            CbBody::Builtin(Builtin::SmpcfdDying) => Box::pin(self.smpcfd_dying_cpu(cpu)).await,
            CbBody::Builtin(Builtin::SchedCpuWaitEmpty) => self.sched_cpu_wait_empty(cpu).await,
            CbBody::Builtin(b) => self.run_builtin(b, cpu),
            CbBody::Module { module, decl } => {
                let func = self.func_name(state, bringup);
                Box::pin(self.run_module_cb(module, decl, bringup, cpu, inst, &func)).await
            }
        };
        self.exit(&call, ev, ret);
        ret
    }

    /// The trace event of a call, after checking its context.
    fn enter_context(&self, call: &Call) -> CbEvent {
        let (ev, wrong) = {
            let s = self.s();
            (cb_event(&s, call.cpu, call.state, call.bringup, call.inst), context_problem(&self.profile, &s, call))
        };
        if let Some(problem) = wrong {
            self.report_context(call, problem, &ev);
        }
        ev
    }

    /// A callback whose module is gone: its text is unmapped, so the call
    /// faults and the calling task dies.
    async fn unloaded_callback(&self, cpu: usize, state: State, bringup: bool, module: usize) {
        let name = self.s().modules[module].name.clone();
        let func = self.func_name(state, bringup);
        let title = format!(
            "BUG: unable to handle page fault for address {} (RIP: {func}+0x0/0x40 [{name}], a callback of unloaded module {name}, state {state} for CPU{cpu})",
            fake_address(&func),
        );
        self.splat(SplatKind::Oops, "arch/x86/mm/fault.c:page_fault_oops", title, false);
        self.die().await;
    }

    /// The built-in callbacks that do not sleep (`Calling::Sync` and
    /// `Calling::Inert`); `invoke_one` runs the ones that sleep.
    fn run_builtin(&self, b: Builtin, cpu: usize) -> i32 {
        match b {
            Builtin::SchedCpuActivate => return self.sched_cpu_activate(cpu),
            Builtin::SchedCpuDeactivate => return self.sched_cpu_deactivate(cpu, self.profile.a.ap_active),
            Builtin::SchedCpuDying => return self.sched_cpu_dying(cpu),
            Builtin::SmpbootCreateThreads => return self.smpboot_create_threads(cpu),
            Builtin::SmpbootUnparkThreads => return self.smpboot_unpark_threads(cpu),
            Builtin::SmpbootParkThreads => return self.smpboot_park_threads(cpu),
            Builtin::SmpcfdPrepare => return self.smpcfd_prepare_cpu(cpu),
            Builtin::SmpcfdDead => return self.smpcfd_dead_cpu(cpu),
            Builtin::RcutreePrepare => return self.rcutree_prepare_cpu(cpu),
            Builtin::RcutreeDead => return self.rcutree_dead_cpu(cpu),
            Builtin::RcutreeOnline => return self.rcutree_online_cpu(cpu),
            Builtin::RcutreeOffline => return self.rcutree_offline_cpu(cpu),
            Builtin::RcutreeDying => return self.rcutree_dying_cpu(cpu),
            Builtin::PageAllocCpuDead => return self.page_alloc_cpu_dead(cpu),
            Builtin::FinishCpu | Builtin::Nop => {}
            Builtin::BringupCpu
            | Builtin::SmpcfdDying
            | Builtin::SchedCpuWaitEmpty
            | Builtin::TakedownCpu
            | Builtin::SlabPrepare
            | Builtin::SlabDead => unreachable!("model bug: {b:?} sleeps, and only invoke_one runs it"),
        }
        0
    }

    /// Records a callback invoked in a context its section forbids. Inside a
    /// rollback, the wrong context is where the kernel's own error handling
    /// took the CPU (a failure where it "cannot fail").
    fn report_context(&self, call: &Call, problem: ContextProblem, ev: &CbEvent) {
        let cpu = call.cpu;
        let func = self.func_name(call.state, call.bringup);
        let irqs = if ev.irqs_off { "disabled" } else { "enabled" };
        let on = ev.on_cpu;
        let title = match problem {
            ContextProblem::Atomic => format!(
                "BUG: {func}() for CPU{cpu} called on CPU{on} with IRQs {irqs} (STARTING/DYING callbacks run on CPU{cpu} with IRQs disabled)"
            ),
            ContextProblem::Online => {
                let comm = Kernel::comm_of(&self.s(), ev.task as usize);
                format!(
                    "BUG: {func}() for CPU{cpu} called from {comm} on CPU{on} with IRQs {irqs} (ONLINE callbacks run on cpuhp/{cpu})"
                )
            }
            ContextProblem::NotSleepable(preempt) => format!(
                "BUG: {func}() for CPU{cpu} called with IRQs {irqs}, preempt_count {preempt} (PREPARE/DEAD callbacks may sleep)"
            ),
            ContextProblem::StillOnline => format!(
                "BUG: {func}() for CPU{cpu} called while CPU{cpu} is still online (DEAD callbacks run after the CPU is dead)"
            ),
        };
        let rollback = self.s().cpu.cpuhp[cpu].rollback;
        self.splat(SplatKind::Context, "kernel/cpu.c:cpuhp_invoke_callback", title, rollback);
    }
}

/// One callback invocation: what `cpuhp_invoke_callback` hands down.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Call {
    cpu: usize,
    state: State,
    bringup: bool,
    body: CbBody,
    inst: Option<InstId>,
    via: Via,
    /// The state has both a startup and a teardown, so they must pair up.
    balanced: bool,
}

/// How an invocation breaks the rules of its section.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ContextProblem {
    /// STARTING/DYING off the target CPU, or with IRQs on.
    Atomic,
    /// ONLINE not on the target's `cpuhp/N`, or not sleepable.
    Online,
    /// PREPARE/DEAD or BRINGUP/TEARDOWN in atomic context (preempt count).
    NotSleepable(u32),
    /// A DEAD teardown of the state walk while the CPU is still online.
    StillOnline,
}

/// Checks an invocation against the rules of its state's section. The
/// kernel does not check this itself; a callback in the wrong context is how
/// the rollback before 206b92353c83 corrupted state (docs/regressions.md).
fn context_problem(profile: &Profile, s: &KState, call: &Call) -> Option<ContextProblem> {
    let t = &s.tasks[s.current];
    let ctx = t.ctx;
    match profile.section(call.state) {
        Section::Atomic if ctx.cpu != call.cpu || !ctx.irqs_disabled => Some(ContextProblem::Atomic),
        Section::Online if t.kind != crate::sim::TaskKind::Cpuhp(call.cpu) || !ctx.sleepable() => {
            Some(ContextProblem::Online)
        }
        Section::Prepare | Section::Bp if !ctx.sleepable() => Some(ContextProblem::NotSleepable(ctx.preempt_count)),
        Section::Prepare if call.via == Via::Walk && !call.bringup && s.cpu.online.test(call.cpu) => {
            Some(ContextProblem::StillOnline)
        }
        _ => None,
    }
}

/// The sysfs fail knob, checked before anything else: if it is armed at
/// `ev`'s state it fires once, `-EAGAIN`, and nothing is called.
fn knob(s: &mut KState, cpu: usize, ev: CbEvent) -> Option<i32> {
    if s.cpu.cpuhp[cpu].fail != ev.state as i32 {
        return None;
    }
    s.cpu.cpuhp[cpu].fail = CPUHP_INVALID;
    s.record(Event::CbExit(ev, CbHow::Knob, -EAGAIN));
    Some(-EAGAIN)
}

fn cb_event(s: &KState, cpu: usize, state: State, bringup: bool, inst: Option<InstId>) -> CbEvent {
    let task = s.current;
    let t = &s.tasks[task];
    CbEvent {
        cpu: cpu as u16,
        state,
        inst: inst.map(|i| s.cpu.instances[i].no),
        bringup,
        rollback: s.cpu.cpuhp[cpu].rollback,
        task: task as u16,
        on_cpu: t.ctx.cpu as u16,
        irqs_off: t.ctx.irqs_disabled,
        worker: t.worker,
    }
}

/// A stable, made-up address for a function of an unloaded module.
fn fake_address(func: &str) -> String {
    let h = func.bytes().fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(b as u32));
    format!("ffffffffc0{:06x}", h & 0xff_ffff)
}
