//! The trace of a run: what ran, where, in which context, and what it
//! returned, plus the splats. Stands for the kernel's tracepoints
//! (`cpuhp_enter`/`cpuhp_exit`, `csd_queue_cpu`, `ipi_entry`) and its log
//! (`printk`, `WARN`, `BUG`), in the model's own vocabulary: hotplug
//! callbacks, masks, stop_machine stages, CSDs, IPIs, memory steps.
//!
//! Events are small and pushed in execution order; names are resolved only
//! when a report renders them, so tracing stays on in every run. A splat is
//! the model of a kernel `WARN`, `BUG` or oops: data in the trace, never a
//! Rust panic. Left out: timestamps (there is no clock) and `printk` levels
//! other than the ones a report shows.

use crate::sim::lock::{LockId, Mode};
use crate::sim::{Context, TaskId};

use super::smp::{Api, Via};
use super::stop_machine::Stage;

/// Index into [`Trace::texts`].
pub type TextId = u32;

/// How a hotplug callback invocation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum CbHow {
    /// The callback ran and returned this value.
    Ran,
    /// The sysfs `fail` knob fired: `cpuhp_invoke_callback` returned
    /// `-EAGAIN` without calling anything.
    Knob,
    /// A `fail` crate failpoint fired: the callback was not called.
    Injected,
}

/// One hotplug callback invocation, or its refusal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CbEvent {
    /// The CPU the callback is for (not necessarily the one it runs on).
    pub cpu: u16,
    pub state: u16,
    /// The instance id for multi-instance states.
    pub inst: Option<u32>,
    pub bringup: bool,
    /// `st->rollback` was set, or an install was being rolled back.
    pub rollback: bool,
    /// The task it ran on, and that task's CPU and IRQ state.
    pub task: u16,
    pub on_cpu: u16,
    pub irqs_off: bool,
    /// The task was lent to a `work_on_cpu` kworker.
    pub worker: bool,
}

/// Events are `Copy` (texts live beside them), so a long trace is cheap to
/// build and to drop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Event {
    /// A case operation starts.
    Op(OpRef),
    /// A case operation returned.
    OpRet(OpRef, i64),
    /// A callback is entered.
    CbEnter(CbEvent),
    /// A callback returned, or was failed without being called.
    CbExit(CbEvent, CbHow, i32),
    /// `cpuhp_kick_ap_work` entered with the AP at `state` (the `K` of the
    /// oracle's notation), and returned.
    Kick {
        cpu: u16,
        state: u16,
    },
    KickRet {
        cpu: u16,
        ret: i32,
    },
    /// A mask changed.
    Mask {
        cpu: u16,
        mask: MaskName,
        set: bool,
    },
    /// A CPU reached a state outside the callback walk (AP_ONLINE_IDLE, AP_IDLE_DEAD).
    Reached {
        cpu: u16,
        state: u16,
    },
    /// A kernel log line that is not a splat (`pr_warn`, `pr_info`).
    Log(TextId),
    /// A result the kernel drops on the floor, shown for the reader
    /// (`bringup_nonboot_cpus` ignores each `cpu_up`'s).
    Note(TextId),
    /// Index into the run's splats.
    Splat(usize),
    /// A step of memory hotplug (text).
    Step(TextId),
    /// A stopper noticed a new `multi_cpu_stop` stage; `active` when it runs
    /// the function there.
    Stop {
        cpu: u16,
        stage: Stage,
        active: bool,
    },
    /// The function stop_machine ran on the active CPU returned.
    StopRet {
        cpu: u16,
        ret: i32,
    },
    /// A CSD was queued on `to`'s `call_single_queue` (function `name`,
    /// interned in `SmpState::names`); `ipi` when the queue was empty.
    CsdQueue {
        name: u16,
        from: u16,
        to: u16,
        api: Api,
        sync: bool,
        ipi: bool,
    },
    /// A CSD's function ran on `cpu`.
    CsdRun {
        name: u16,
        cpu: u16,
        via: Via,
    },
    /// The `smp/cpuN/ipi` failpoint held an IPI back (`steps` 0: until the
    /// target next enables IRQs).
    IpiHeld {
        cpu: u16,
        steps: u32,
    },
    /// A CPU takes a call-function IPI.
    IpiEnter {
        cpu: u16,
        single: bool,
    },
    /// A device interrupt source fires on `cpu`.
    IrqEnter {
        src: u16,
        cpu: u16,
    },
    /// One action of a device interrupt handler returned.
    IrqOp {
        src: u16,
        op: u16,
        ret: i32,
    },
    /// The interrupt handler returned.
    IrqExit,
}

/// Which case operation: `thread` 0 is the case's `ops`, `thread` N its
/// Nth `[[thread]]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct OpRef {
    pub thread: u16,
    pub op: u16,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum MaskName {
    Online,
    Active,
}

/// What kind of kernel report a splat models.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SplatKind {
    /// `WARN()`, `WARN_ON()`, `WARN_ON_ONCE()`.
    Warning,
    /// `BUG()` / `BUG_ON()`: the task dies.
    Bug,
    /// A page fault in kernel mode: the task dies.
    Oops,
    /// `might_sleep()` in atomic context.
    SleepInAtomic,
    /// A lockdep report (`lockdep_assert_held`, recursive locking).
    Lockdep,
    /// A KASAN report (double free).
    Kasan,
    /// A callback invoked in a context its section forbids. The kernel does
    /// not check this itself; the model does, because running there corrupts
    /// state (this is what the rollback before 206b92353c83 looked like).
    Context,
}

impl SplatKind {
    /// Whether the task that hit it dies, as after a kernel oops.
    pub fn kills(self) -> bool {
        matches!(self, SplatKind::Bug | SplatKind::Oops)
    }

    pub fn label(self) -> &'static str {
        match self {
            SplatKind::Warning => "warning",
            SplatKind::Bug => "bug",
            SplatKind::Oops => "oops",
            SplatKind::SleepInAtomic => "sleep-in-atomic",
            SplatKind::Lockdep => "lockdep",
            SplatKind::Kasan => "kasan",
            SplatKind::Context => "context",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Splat {
    pub kind: SplatKind,
    /// The first line, in the kernel's words.
    pub title: String,
    /// Where: `kernel/cpu.c:_cpu_down`.
    pub site: &'static str,
    pub task: TaskId,
    /// The task's name when it hit the splat.
    pub comm: String,
    pub ctx: Context,
    /// The kernel's own reaction to a callback that returned an error (a
    /// rollback WARN, "DEAD callback error"). Such a splat is expected in a
    /// scenario that injected the error; any other splat is not.
    pub reaction: bool,
}

/// A step as it was until a registration changed it. Events name states by
/// number; these let a report name them as they were when the event
/// happened, not as the run left them.
#[derive(Clone, Debug)]
pub struct Retired {
    /// `events.len()` when the step changed: events before it saw this.
    pub until: usize,
    pub state: u16,
    pub name: Option<String>,
    pub startup: Option<String>,
    pub teardown: Option<String>,
}

/// Events and splats one run may record (`trace_events_max`), the largest
/// `[machine] trace_events_max` and its default. A run that would record
/// more stops with [`RunEnd::TraceLimit`], as at the step limit: a bounded
/// record, never a silently cut one.
///
/// [`RunEnd::TraceLimit`]: crate::sim::executor::RunEnd::TraceLimit
pub const EVENTS_MAX: usize = 1_000_000;

/// Where an event happened: the task that was running, its CPU and its
/// context. Kept beside each event (not in it) so the text trace and the
/// JSON events stay as they are; the HTML timeline reads it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Where {
    pub task: u16,
    pub cpu: u16,
    pub irqs_off: bool,
    pub preempt_off: bool,
    pub hardirq: bool,
}

impl Where {
    pub fn of(task: TaskId, ctx: Context) -> Where {
        Where {
            task: task as u16,
            cpu: ctx.cpu as u16,
            irqs_off: ctx.irqs_disabled,
            preempt_off: ctx.preempt_count > 0,
            hardirq: ctx.hardirq,
        }
    }
}

/// What a task did with a sleeping lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockWhat {
    /// Found it taken and went to sleep on it.
    Wait(Mode),
    /// Took it (after waiting, or at once).
    Take(Mode),
    /// `mutex_trylock()` took it.
    Trylock,
    Release,
}

/// A lock operation, recorded before event `at` (`events.len()` then).
/// Lock operations are not events: the text trace never showed them, and
/// counting them against `trace_events_max` would end long runs earlier
/// than they end now. They have their own cap, `max`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LockMark {
    pub at: u32,
    pub by: Where,
    pub lock: u32,
    pub what: LockWhat,
}

/// Events and splats of one run.
#[derive(Clone, Debug, Default)]
pub struct Trace {
    pub enabled: bool,
    /// What the trace may hold, at most [`EVENTS_MAX`] (`[machine]
    /// trace_events_max`).
    pub max: usize,
    /// `max` was reached: nothing more is recorded, and the run stops at
    /// its next step.
    pub full: bool,
    pub events: Vec<Event>,
    /// Keep `wheres` and `locks` (for the HTML timeline; off in the
    /// sweep's and the explorer's runs, which never draw them).
    pub timeline: bool,
    /// Where each event happened, one per event (with `timeline`).
    pub wheres: Vec<Where>,
    /// Lock operations (with `timeline`), at most `max`; `locks_full` when
    /// some were not recorded.
    pub locks: Vec<LockMark>,
    pub locks_full: bool,
    pub splats: Vec<Splat>,
    pub texts: Vec<String>,
    /// Steps replaced during the run, oldest first.
    pub retired: Vec<Retired>,
}

impl Trace {
    pub fn push(&mut self, e: Event, at: Where) {
        if self.enabled && self.room() {
            self.events.push(e);
            if self.timeline {
                self.wheres.push(at);
            }
        }
    }

    /// Records a lock operation, while tracing and under `max`.
    pub fn lock(&mut self, lock: LockId, what: LockWhat, by: Where) {
        if !self.enabled || !self.timeline {
            return;
        }
        if self.locks.len() >= self.max {
            self.locks_full = true;
            return;
        }
        self.locks.push(LockMark { at: self.events.len() as u32, by, lock: lock as u32, what });
    }

    /// Whether one more record fits under `max`; marks the trace full when
    /// it does not.
    fn room(&mut self) -> bool {
        self.full |= self.events.len() + self.splats.len() >= self.max;
        !self.full
    }

    /// Records a text for a `Log` or `Note` event.
    pub fn text(&mut self, t: String, make: fn(TextId) -> Event, at: Where) {
        if self.enabled && self.room() {
            self.texts.push(t);
            let id = (self.texts.len() - 1) as TextId;
            self.events.push(make(id));
            if self.timeline {
                self.wheres.push(at);
            }
        }
    }

    /// Splats are recorded even while tracing is off (during a silent boot).
    pub fn splat(&mut self, s: Splat) {
        if !self.room() {
            return;
        }
        let at = Where::of(s.task, s.ctx);
        self.splats.push(s);
        let idx = self.splats.len() - 1;
        self.push(Event::Splat(idx), at);
    }
}
