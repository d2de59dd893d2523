//! Case files: the TOML format, strict parsing, and errors that point at the
//! file, line and column.
//!
//! A case is a machine, the modules it loads, a list of operations, the
//! faults to inject (explicit sites, or a sweep filter over the sites the
//! plain run reaches) and what to expect. `cases/README.md` documents every
//! field. Parsing is two steps: serde with `deny_unknown_fields` checks the
//! shape, then [`Case::load`] resolves every name (states, modules, CPUs,
//! sites) against the profile, so a typo is an error here and never an empty
//! or surprising run.

pub mod limits;
mod memory;
mod ops;
mod site;
mod source;

use std::collections::BTreeSet;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use regex::Regex;
use serde::Deserialize;

use crate::sim::CpuMask;
use toml::Spanned;

use crate::arch::x86::apic::MAX_LOCAL_APIC;
use crate::fault::{self, Site};
use crate::kernel::SmtCmdline;
use crate::kernel::cpuhotplug::{PROFILES, Profile, State};
use crate::kernel::module::{ModuleDecl, StateDecl};

pub use ops::{Flags, Group, OPERATIONS, Op, OpSpec, RemoveKind, SetupKind, SysfsFile, ops_listing};
pub use site::{parse_site, resolve_state};
pub use source::Source;

use limits::Limit;

/// A case error: where, and what would have been valid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaseError {
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub msg: String,
}

impl fmt::Display for CaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: {}", self.file, self.line, self.col, self.msg)
    }
}

impl std::error::Error for CaseError {}

/// The machine a case runs on.
#[derive(Clone, Debug)]
pub struct Machine {
    pub cpus: usize,
    /// `smp_num_siblings`: the SMT threads per core CPUID reports.
    pub threads_per_core: usize,
    /// The APIC id of each processor the firmware (ACPI's MADT) lists, in
    /// its order: `apic_ids`, or derived from `threads_per_core` (thread
    /// `t` of core `c` has `c << count_order(threads_per_core) | t`).
    pub apic_ids: Vec<u32>,
    /// Whether the case wrote `apic_ids` (the snapshot header names them).
    pub apic_ids_given: bool,
    /// The processors present (enabled in the MADT) at boot: the first
    /// `present` of the `cpus` possible ones; the others can be hot-added.
    pub present: usize,
    pub hotplug_cpu: bool,
    pub smt: SmtCmdline,
    /// `setup_max_cpus` from `maxcpus=N` (`nosmp` is 0); `None` boots every
    /// present CPU.
    pub max_cpus: Option<u32>,
    pub steps_max: u64,
    /// Events and splats a run may record before it stops (`trace limit`).
    pub trace_events_max: usize,
}

/// One operation, as written and as resolved.
#[derive(Clone, Debug)]
pub struct OpLine {
    pub op: Op,
    /// Its row of [`OPERATIONS`].
    pub spec: &'static OpSpec,
    /// The operation as written, without its expectation.
    pub text: String,
    /// `=> -EAGAIN`: the result the plain run must return.
    pub expect: Option<i64>,
    pub span: Range<usize>,
}

/// An explicit fault: a site and a `fail` action.
#[derive(Clone, Debug)]
pub struct FaultLine {
    pub site: Site,
    pub action: String,
    pub span: Range<usize>,
}

/// The sweep: a mode and a filter (a regex over site names).
#[derive(Clone, Debug)]
pub struct Sweep {
    pub mode: SweepMode,
    pub regex: Regex,
    pub span: Range<usize>,
}

/// A loaded, resolved case.
#[derive(Clone, Debug)]
pub struct Case {
    /// The file as the caller named it.
    pub path: PathBuf,
    /// The path under `cases/` without `.toml`: the case's identity.
    pub id: String,
    pub source: String,
    pub description: String,
    pub see: Option<String>,
    pub profile: Arc<Profile>,
    pub machine: Machine,
    pub modules: Vec<ModuleDecl>,
    pub ops: Vec<OpLine>,
    pub sweep: Option<Sweep>,
    pub faults: Vec<FaultLine>,
    pub expect_splats: Vec<String>,
    pub expect_end: ExpectEnd,
    /// Lock-order cycles the case exists to show (`a -> b`).
    pub expect_lock_cycles: Vec<String>,
    /// The SLAB-era slab model is on (`slab = true`).
    pub slab: bool,
    /// Threads that run concurrently after `ops`.
    pub threads: Vec<ThreadDecl>,
    /// Device interrupt sources.
    pub irqs: Vec<IrqDecl>,
    /// User tasks with an affinity, running from the first operation on.
    pub tasks: Vec<TaskDecl>,
    /// The memory model, when the case uses memory hotplug.
    pub memory: Option<MemoryDecl>,
    /// An operation of the case (or of a thread or handler) uses RCU: the
    /// grace-period kthread is one more task.
    pub rcu: bool,
    pub explore: Explore,
}

/// A concurrent thread of operations.
#[derive(Clone, Debug)]
pub struct ThreadDecl {
    pub name: String,
    pub ops: Vec<OpLine>,
    /// The CPU it starts on.
    pub cpu: usize,
    /// How many times it runs its operations.
    pub loops: u32,
}

/// A user task that keeps its CPU busy (a CPU hog), with an affinity.
#[derive(Clone, Debug)]
pub struct TaskDecl {
    pub name: String,
    /// The CPU it runs on when the case starts.
    pub cpu: usize,
    /// `p->cpus_mask` when the case starts.
    pub cpus_allowed: CpuMask,
}

/// A device interrupt source: where it is routed, what its handler does,
/// and how many times it may fire.
#[derive(Clone, Debug)]
pub struct IrqDecl {
    pub name: String,
    pub cpu: usize,
    pub ops: Vec<OpLine>,
    pub fires: u32,
}

/// The machine's memory: the profile's layout, with the case's changes.
#[derive(Clone, Debug)]
pub struct MemoryDecl {
    pub boot_blocks: u32,
    pub holes: Vec<u32>,
    /// `auto_online_blocks`.
    pub auto_online: bool,
    pub migrate_bound: u32,
    pub blocks: Vec<crate::drivers::base::memory::BlockPages>,
}

/// How the case's interleavings are explored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// The single deterministic schedule.
    Default,
    /// Depth-first over every schedule with at most `bound` preemptions,
    /// stopping after `runs` schedules if the bound is not exhausted by then.
    Exhaustive { bound: u32, runs: u64 },
    /// `runs` schedules, each decision uniform at random, from `seed`.
    Random { runs: u64, seed: u64 },
    /// Probabilistic concurrency testing: `runs` schedules of depth `depth`.
    Pct { runs: u64, seed: u64, depth: u32 },
}

/// The `[explore]` table, resolved.
#[derive(Clone, Debug)]
pub struct Explore {
    pub strategy: Strategy,
    /// A pinned schedule: the plain run replays it, strictly.
    pub schedule: Option<crate::sim::executor::Schedule>,
    /// The regression switches the pin was recorded with: it applies only
    /// when exactly these are on.
    pub schedule_regressions: std::collections::BTreeSet<crate::kernel::Regression>,
    /// Where `schedule` is written (0 without one).
    pub schedule_at: usize,
}

/// What the sweep injects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SweepMode {
    /// One failure per matching site.
    Single,
    /// Two failures: every pair of matching sites.
    Pairs,
    /// A failure, then a second one during the rollback it causes.
    Rollback,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseFile {
    description: String,
    see: Option<String>,
    profile: Option<Spanned<String>>,
    machine: MachineFile,
    #[serde(default)]
    module: Vec<ModuleFile>,
    ops: Vec<Spanned<String>>,
    sweep: Option<Spanned<String>>,
    sweep_filter: Option<Spanned<String>>,
    #[serde(default)]
    slab: bool,
    #[serde(default)]
    thread: Vec<ThreadFile>,
    #[serde(default)]
    irq: Vec<IrqFile>,
    #[serde(default)]
    task: Vec<TaskFile>,
    memory: Option<memory::MemoryFile>,
    explore: Option<ExploreFile>,
    #[serde(default)]
    fault: Vec<FaultFile>,
    #[serde(default)]
    expect: ExpectFile,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ThreadFile {
    name: Spanned<String>,
    ops: Vec<Spanned<String>>,
    cpu: Option<Spanned<usize>>,
    loops: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TaskFile {
    name: Spanned<String>,
    cpu: Option<Spanned<usize>>,
    cpus_allowed: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IrqFile {
    name: Spanned<String>,
    cpu: Spanned<usize>,
    handler: Vec<Spanned<String>>,
    fires: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExploreFile {
    strategy: Spanned<String>,
    bound: Option<Spanned<i64>>,
    runs: Option<Spanned<i64>>,
    seed: Option<Spanned<u64>>,
    depth: Option<Spanned<i64>>,
    schedule: Option<Spanned<String>>,
    schedule_regressions: Option<Spanned<Vec<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MachineFile {
    cpus: Spanned<i64>,
    threads_per_core: Option<Spanned<usize>>,
    apic_ids: Option<Spanned<Vec<Spanned<i64>>>>,
    present: Option<Spanned<i64>>,
    hotplug_cpu: Option<bool>,
    cmdline: Option<Spanned<String>>,
    steps_max: Option<Spanned<i64>>,
    trace_events_max: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModuleFile {
    name: Spanned<String>,
    #[serde(default)]
    state: Vec<StateFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateFile {
    name: Spanned<String>,
    at: Spanned<toml::Value>,
    startup: Option<Spanned<String>>,
    teardown: Option<Spanned<String>>,
    startup_fn: Option<String>,
    teardown_fn: Option<String>,
    #[serde(default)]
    multi: bool,
    #[serde(default)]
    instances: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultFile {
    site: Spanned<String>,
    action: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectFile {
    #[serde(default)]
    splats: Vec<String>,
    end: Option<Spanned<String>>,
    #[serde(default)]
    lock_cycles: Vec<String>,
}

/// How the plain run must end.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ExpectEnd {
    #[default]
    Finished,
    Deadlock,
    Livelock,
}

impl Case {
    /// The tasks a run of this case has, at most `tasks_max`: its control
    /// task, threads and interrupt sources, and the per-CPU kernel threads.
    pub fn tasks(&self) -> usize {
        1 + self.threads.len()
            + self.irqs.len()
            + usize::from(self.rcu)
            + limits::TASKS_PER_CPU as usize * self.machine.cpus
    }

    /// Loads and resolves a case file. `root` is the `cases/` directory its
    /// identity is relative to.
    pub fn load(path: &Path, root: &Path) -> Result<Case, CaseError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| CaseError {
            file: file.clone(),
            line: 1,
            col: 1,
            msg: format!("cannot read: {e}"),
        })?;
        let id = case_id(path, root);
        Case::parse(&file, &id, &text)
    }

    /// Parses case text; `file` names it in errors.
    pub fn parse(file: &str, id: &str, text: &str) -> Result<Case, CaseError> {
        let src = Source { file, text };
        let f: CaseFile = toml::from_str(text).map_err(|e| {
            let at = e.span().map_or(0, |s| s.start);
            src.error(at, e.message().trim().to_string())
        })?;
        let profile = load_profile(&src, f.profile.as_ref())?;
        let machine = load_machine(&src, &f.machine)?;
        let modules =
            f.module.iter().map(|m| load_module(&src, &profile, machine.cpus, m)).collect::<Result<Vec<_>, _>>()?;
        check_unique_names(&src, &f.module)?;
        let user_tasks = load_tasks(&src, &machine, &f.task)?;
        let env = ops::Env { src: &src, machine: &machine, modules: &modules, tasks: &user_tasks };
        let ops = env.op_list(&f.ops, "operations in `ops`")?;
        if ops.is_empty() {
            return Err(src.error(0, "`ops` is empty: a case needs at least one operation, such as \"cpu_down 1\""));
        }
        if let Some(o) = ops.iter().skip(1).find(|o| o.op == Op::Boot) {
            return Err(src.error(o.span.start, "`boot` runs only as the first of the case's `ops`"));
        }
        let faults = f.fault.iter().map(|x| load_fault(&src, &profile, &machine, x)).collect::<Result<Vec<_>, _>>()?;
        let sweep = f.sweep.as_ref().map(|s| load_sweep(&src, s, f.sweep_filter.as_ref())).transpose()?;
        if let (None, Some(flt)) = (&f.sweep, &f.sweep_filter) {
            return Err(
                src.error(flt.span().start, "`sweep_filter` needs `sweep = \"pairs\"` or `sweep = \"rollback\"`")
            );
        }
        let threads = load_threads(&env, &f.thread)?;
        let irqs = load_irqs(&env, &f.irq)?;
        let tasks = 1 + threads.len() + irqs.len() + limits::TASKS_PER_CPU as usize * machine.cpus;
        limits::TASKS_MAX.tasks(&src, tasks, f.machine.cpus.span().start)?;
        check_slab_ops(&src, f.slab, &ops, &threads)?;
        let rcu = ops
            .iter()
            .chain(threads.iter().flat_map(|t| t.ops.iter()))
            .chain(irqs.iter().flat_map(|i| i.ops.iter()))
            .any(OpLine::rcu);
        let uses_memory = ops.iter().chain(threads.iter().flat_map(|t| t.ops.iter())).any(|o| o.memory());
        let memory = memory::load(&src, &profile, f.memory.as_ref(), uses_memory)?;
        let explore = load_explore(&src, f.explore.as_ref(), !threads.is_empty() || !irqs.is_empty())?;
        let expect_end = match &f.expect.end {
            None => ExpectEnd::Finished,
            Some(e) => match e.get_ref().as_str() {
                "finished" => ExpectEnd::Finished,
                "deadlock" => ExpectEnd::Deadlock,
                "livelock" => ExpectEnd::Livelock,
                other => {
                    return Err(src.error(
                        e.span().start,
                        format!("unknown end `{other}`; expected finished, deadlock or livelock"),
                    ));
                }
            },
        };
        Ok(Case {
            path: PathBuf::from(file),
            id: id.to_string(),
            source: text.to_string(),
            description: f.description,
            see: f.see,
            profile: Arc::new(profile),
            machine,
            modules,
            ops,
            sweep,
            faults,
            expect_splats: f.expect.splats,
            expect_end,
            expect_lock_cycles: f.expect.lock_cycles,
            slab: f.slab,
            threads,
            irqs,
            tasks: user_tasks,
            memory,
            rcu,
            explore,
        })
    }

    /// An error at the sweep filter (for a filter that matches no site).
    pub fn sweep_error(&self, msg: String) -> CaseError {
        let src = Source { file: &self.path.display().to_string(), text: &self.source };
        let at = self.sweep.as_ref().map_or(0, |s| s.span.start);
        src.error(at, msg)
    }

    /// An error at the pinned schedule (for one that does not fit).
    pub fn explore_error(&self, msg: String) -> CaseError {
        let src = Source { file: &self.path.display().to_string(), text: &self.source };
        src.error(self.explore.schedule_at, msg)
    }

    /// An error at an explicit fault (for one that never fired); at the
    /// sweep for a swept scenario of a case without `[[fault]]`s.
    pub fn fault_error(&self, idx: usize, msg: String) -> CaseError {
        let Some(f) = self.faults.get(idx) else { return self.sweep_error(msg) };
        let src = Source { file: &self.path.display().to_string(), text: &self.source };
        src.error(f.span.start, msg)
    }
}

/// `cases/cpu/updown.toml` under `cases/` is `cpu/updown`.
pub fn case_id(path: &Path, root: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    let s = rel.with_extension("").to_string_lossy().replace('\\', "/");
    s.trim_start_matches("./").to_string()
}

fn load_profile(src: &Source, p: Option<&Spanned<String>>) -> Result<Profile, CaseError> {
    let Some(p) = p else {
        return Ok(Profile::builtin("debian-6.1").expect("the default profile exists"));
    };
    Profile::builtin(p.get_ref()).ok_or_else(|| {
        src.error(p.span().start, format!("unknown profile `{}`; expected one of {}", p.get_ref(), PROFILES.join(", ")))
    })
}

fn load_machine(src: &Source, m: &MachineFile) -> Result<Machine, CaseError> {
    let cpus = limits::CPUS_MAX.check(src, "`cpus`", &m.cpus, 1)? as usize;
    let tpc = m.threads_per_core.as_ref().map_or(1, |t| *t.get_ref());
    if tpc == 0 || !cpus.is_multiple_of(tpc) {
        let at = m.threads_per_core.as_ref().map_or(0, |t| t.span().start);
        return Err(src.error(at, format!("`threads_per_core = {tpc}` must be at least 1 and divide `cpus = {cpus}`")));
    }
    let (smt, max_cpus) = match &m.cmdline {
        None => (SmtCmdline::None, None),
        Some(c) => parse_cmdline(src, c)?,
    };
    let apic_ids = load_apic_ids(src, m, cpus, tpc)?;
    let present = match &m.present {
        None => cpus,
        Some(p) => match *p.get_ref() {
            n if (1..=cpus as i64).contains(&n) => n as usize,
            n => {
                return Err(src.error(
                    p.span().start,
                    format!(
                        "`present = {n}` must be 1 to `cpus = {cpus}`: the processors enabled at boot, CPU 0 first"
                    ),
                ));
            }
        },
    };
    let hotplug_cpu = m.hotplug_cpu.unwrap_or(true);
    if present < cpus && !hotplug_cpu {
        let at = m.present.as_ref().map_or(0, |p| p.span().start);
        return Err(
            src.error(at, "`present` below `cpus` needs `hotplug_cpu = true` (CONFIG_ACPI_HOTPLUG_CPU depends on it)")
        );
    }
    Ok(Machine {
        cpus,
        threads_per_core: tpc,
        apic_ids,
        apic_ids_given: m.apic_ids.is_some(),
        present,
        hotplug_cpu,
        smt,
        max_cpus,
        steps_max: m.steps_max.as_ref().map_or(Ok(1_000_000), |s| limits::STEPS_MAX.check(src, "`steps_max`", s, 1))?,
        trace_events_max: m.trace_events_max.as_ref().map_or(Ok(limits::TRACE_EVENTS_MAX.max), |s| {
            limits::TRACE_EVENTS_MAX.check(src, "`trace_events_max`", s, 1)
        })? as usize,
    })
}

/// `apic_ids = [...]`: one distinct APIC id below `MAX_LOCAL_APIC` per CPU;
/// without it, thread `t` of core `c` has `c << count_order(tpc) | t`, as
/// CPUID leaf 0xb lays the ids out (`BITS_SHIFT_NEXT_LEVEL` of the SMT level
/// is the bits the threads take).
fn load_apic_ids(src: &Source, m: &MachineFile, cpus: usize, tpc: usize) -> Result<Vec<u32>, CaseError> {
    let Some(list) = &m.apic_ids else {
        let width = crate::arch::x86::apic::count_order(tpc as u32);
        return Ok((0..cpus).map(|c| (((c / tpc) << width) | (c % tpc)) as u32).collect());
    };
    let ids = list.get_ref();
    if ids.len() != cpus {
        return Err(src.error(
            list.span().start,
            format!("`apic_ids` lists {} APIC id(s); it needs one per CPU, {cpus} for `cpus = {cpus}`", ids.len()),
        ));
    }
    let mut out: Vec<u32> = Vec::with_capacity(cpus);
    for (i, id) in ids.iter().enumerate() {
        let v = *id.get_ref();
        if !(0..i64::from(MAX_LOCAL_APIC)).contains(&v) {
            return Err(src.error(
                id.span().start,
                format!("APIC id {v} of CPU {i} must be 0 to {} (below MAX_LOCAL_APIC)", MAX_LOCAL_APIC - 1),
            ));
        }
        if let Some(j) = out.iter().position(|&o| i64::from(o) == v) {
            return Err(src.error(
                id.span().start,
                format!("APIC id {v} of CPU {i} is CPU {j}'s already; each CPU needs its own APIC id"),
            ));
        }
        out.push(v as u32);
    }
    Ok(out)
}

/// The kernel parameters the model knows: `nosmt`, `nosmt=force`,
/// `maxcpus=N` and `nosmp` (kernel/smp.c `maxcpus`, `nosmp`: both set
/// `setup_max_cpus`, 0 for `nosmp`).
fn parse_cmdline(src: &Source, c: &Spanned<String>) -> Result<(SmtCmdline, Option<u32>), CaseError> {
    let mut smt = SmtCmdline::None;
    let mut max_cpus = None;
    let mut offset = 0;
    for word in c.get_ref().split(' ') {
        match word {
            "" => {}
            "nosmt" => smt = SmtCmdline::Nosmt,
            "nosmt=force" => smt = SmtCmdline::Force,
            "nosmp" => max_cpus = Some(0),
            w if w.starts_with("maxcpus=") => {
                let n = w["maxcpus=".len()..].parse::<u32>().map_err(|_| {
                    src.error_in(&c.span(), offset, format!("`{w}`: maxcpus takes a number of CPUs, as in `maxcpus=2`"))
                })?;
                max_cpus = Some(n);
            }
            other => {
                return Err(src.error_in(
                    &c.span(),
                    offset,
                    format!(
                        "unknown kernel parameter `{other}`; the model knows `nosmt`, `nosmt=force`, `maxcpus=N` and `nosmp`"
                    ),
                ));
            }
        }
        offset += word.chars().count() + 1;
    }
    Ok((smt, max_cpus))
}

fn load_module(src: &Source, profile: &Profile, cpus: usize, m: &ModuleFile) -> Result<ModuleDecl, CaseError> {
    let states = m.state.iter().map(|s| load_state_decl(src, profile, cpus, s)).collect::<Result<Vec<_>, _>>()?;
    Ok(ModuleDecl { name: m.name.get_ref().clone(), states })
}

fn load_state_decl(src: &Source, profile: &Profile, cpus: usize, s: &StateFile) -> Result<StateDecl, CaseError> {
    let at = match s.at.get_ref() {
        toml::Value::Integer(n) => i64::to_string(n),
        toml::Value::String(t) => t.clone(),
        _ => return Err(src.error(s.at.span().start, "`at` is a state number or name")),
    };
    let at = resolve_state(profile, &at).map_err(|m| src.error(s.at.span().start, m))?;
    let behaviour = |b: &Option<Spanned<String>>| {
        b.as_ref()
            .map(|b| ops::parse_behaviour(b.get_ref(), cpus).map_err(|(o, m)| src.error_in(&b.span(), o, m)))
            .transpose()
    };
    let slug: String = s.name.get_ref().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    Ok(StateDecl {
        name: s.name.get_ref().clone(),
        at,
        startup: behaviour(&s.startup)?,
        teardown: behaviour(&s.teardown)?,
        startup_fn: s.startup_fn.clone().unwrap_or_else(|| format!("{slug}_startup")),
        teardown_fn: s.teardown_fn.clone().unwrap_or_else(|| format!("{slug}_teardown")),
        multi: s.multi,
        instances: s.instances.clone(),
    })
}

fn check_unique_names(src: &Source, modules: &[ModuleFile]) -> Result<(), CaseError> {
    let mut mods = BTreeSet::new();
    let mut states = BTreeSet::new();
    for m in modules {
        if !mods.insert(m.name.get_ref()) {
            return Err(src.error(m.name.span().start, format!("module `{}` is declared twice", m.name.get_ref())));
        }
        for s in &m.state {
            if !states.insert(s.name.get_ref()) {
                return Err(src.error(
                    s.name.span().start,
                    format!("state `{}` is declared twice; operations name states by it", s.name.get_ref()),
                ));
            }
        }
    }
    Ok(())
}

fn load_fault(src: &Source, profile: &Profile, machine: &Machine, f: &FaultFile) -> Result<FaultLine, CaseError> {
    let site =
        site::parse_site(profile, machine.cpus, f.site.get_ref()).map_err(|m| src.error(f.site.span().start, m))?;
    let Some(a) = &f.action else {
        return Ok(FaultLine { site, action: "return".to_string(), span: f.site.span() });
    };
    let action = a.get_ref().clone();
    fault::check_action_at(&site, &action).map_err(|(at, m)| src.error_in(&a.span(), at, m))?;
    Ok(FaultLine { site, action, span: f.site.span() })
}

fn load_sweep(src: &Source, s: &Spanned<String>, filter: Option<&Spanned<String>>) -> Result<Sweep, CaseError> {
    let (mode, pattern, span) = match (s.get_ref().as_str(), filter) {
        ("pairs", f) => (SweepMode::Pairs, f.map_or(".*", |f| f.get_ref().as_str()), f.map_or(s.span(), |f| f.span())),
        ("rollback", f) => {
            (SweepMode::Rollback, f.map_or(".*", |f| f.get_ref().as_str()), f.map_or(s.span(), |f| f.span()))
        }
        (_, Some(f)) => {
            return Err(src.error(f.span().start, "`sweep_filter` goes with `sweep = \"pairs\"` or `\"rollback\"`; a single-fault sweep is its own filter"));
        }
        (re, None) => (SweepMode::Single, re, s.span()),
    };
    let regex = Regex::new(&format!("^(?:{pattern})$"))
        .map_err(|e| src.error(span.start, format!("`{pattern}` is not a valid regex: {e}")))?;
    Ok(Sweep { mode, regex, span })
}

/// The `[[thread]]` tables: at most `threads_max`, each named once.
fn load_threads(env: &ops::Env, threads: &[ThreadFile]) -> Result<Vec<ThreadDecl>, CaseError> {
    let names: Vec<&Spanned<String>> = threads.iter().map(|t| &t.name).collect();
    limits::THREADS_MAX.count(env.src, "`[[thread]]` tables", names.len(), |i| names[i].span().start)?;
    check_names(env.src, "thread", &names)?;
    threads.iter().map(|t| load_thread(env, t)).collect()
}

/// The `[[task]]` tables: at most `user_tasks_max`, each named once, each
/// starting on a CPU its affinity allows.
fn load_tasks(src: &Source, machine: &Machine, tasks: &[TaskFile]) -> Result<Vec<TaskDecl>, CaseError> {
    let names: Vec<&Spanned<String>> = tasks.iter().map(|t| &t.name).collect();
    limits::USER_TASKS_MAX.count(src, "`[[task]]` tables", names.len(), |i| names[i].span().start)?;
    check_names(src, "task", &names)?;
    tasks.iter().map(|t| load_task(src, machine, t)).collect()
}

fn load_task(src: &Source, machine: &Machine, t: &TaskFile) -> Result<TaskDecl, CaseError> {
    let last = machine.cpus - 1;
    let cpus_allowed = match &t.cpus_allowed {
        None => CpuMask::first_n(machine.cpus),
        Some(l) => CpuMask::parse_list(l.get_ref(), machine.cpus).ok_or_else(|| {
            let msg =
                format!("`cpus_allowed = \"{}\"` is not a cpulist of CPUs 0 to {last}, such as \"1-3\"", l.get_ref());
            src.error(l.span().start, msg)
        })?,
    };
    let cpu = match &t.cpu {
        None => cpus_allowed.first().unwrap_or(0),
        Some(c) if *c.get_ref() > last || !cpus_allowed.test(*c.get_ref()) => {
            let msg = format!(
                "task `{}` cannot start on CPU {}: its `cpus_allowed` is {cpus_allowed} (CPUs 0 to {last})",
                t.name.get_ref(),
                c.get_ref()
            );
            return Err(src.error(c.span().start, msg));
        }
        Some(c) => *c.get_ref(),
    };
    Ok(TaskDecl { name: t.name.get_ref().clone(), cpu, cpus_allowed })
}

/// The `[[irq]]` tables: at most `irqs_max`, each named once.
fn load_irqs(env: &ops::Env, irqs: &[IrqFile]) -> Result<Vec<IrqDecl>, CaseError> {
    let names: Vec<&Spanned<String>> = irqs.iter().map(|i| &i.name).collect();
    limits::IRQS_MAX.count(env.src, "`[[irq]]` tables", names.len(), |i| names[i].span().start)?;
    check_names(env.src, "interrupt source", &names)?;
    irqs.iter().map(|i| load_irq(env, i)).collect()
}

/// No name twice: the trace and the outcomes tell them apart by it.
fn check_names(src: &Source, what: &str, names: &[&Spanned<String>]) -> Result<(), CaseError> {
    let mut seen = BTreeSet::new();
    match names.iter().find(|n| !seen.insert(n.get_ref())) {
        Some(n) => Err(src.error(
            n.span().start,
            format!("a second {what} named `{}`; the trace and the outcomes tell them apart by name", n.get_ref()),
        )),
        None => Ok(()),
    }
}

fn load_thread(env: &ops::Env, t: &ThreadFile) -> Result<ThreadDecl, CaseError> {
    let ops = env.op_list(&t.ops, "operations in a thread's `ops`")?;
    if ops.is_empty() {
        let msg = format!("thread `{}` has an empty `ops`; give it at least one operation", t.name.get_ref());
        return Err(env.src.error(t.name.span().start, msg));
    }
    if let Some(o) = ops.iter().find(|o| o.op == Op::Boot) {
        return Err(env.src.error(o.span.start, "`boot` runs only as the first of the case's `ops`, not in a thread"));
    }
    let cpu = match &t.cpu {
        Some(c) if *c.get_ref() >= env.machine.cpus => {
            return Err(env.src.error(
                c.span().start,
                format!("CPU {} does not exist; the machine has CPUs 0 to {}", c.get_ref(), env.machine.cpus - 1),
            ));
        }
        Some(c) => *c.get_ref(),
        None => 0,
    };
    let loops = t.loops.as_ref().map_or(Ok(1), |l| limits::LOOPS_MAX.check(env.src, "`loops`", l, 1))? as u32;
    Ok(ThreadDecl { name: t.name.get_ref().clone(), ops, cpu, loops })
}

fn load_irq(env: &ops::Env, i: &IrqFile) -> Result<IrqDecl, CaseError> {
    let ops = env.op_list(&i.handler, "operations in a `handler`")?;
    if let Some(o) = ops.iter().find(|o| !o.in_irq()) {
        return Err(env.src.error(
            o.span.start,
            format!("`{}` cannot run in an interrupt handler; a handler may run: {}", o.text, ops::irq_ops()),
        ));
    }
    if let Some(o) = ops.iter().find(|o| o.expect.is_some()) {
        return Err(env
            .src
            .error(o.span.start, "a handler's action has no `=> RESULT`: when it fires is the explorer's choice"));
    }
    if ops.is_empty() {
        return Err(env
            .src
            .error(i.name.span().start, format!("interrupt `{}` has an empty `handler`", i.name.get_ref())));
    }
    let cpu = *i.cpu.get_ref();
    if cpu >= env.machine.cpus {
        return Err(env.src.error(
            i.cpu.span().start,
            format!("CPU {cpu} does not exist; the machine has CPUs 0 to {}", env.machine.cpus - 1),
        ));
    }
    let fires = i.fires.as_ref().map_or(Ok(1), |f| limits::FIRES_MAX.check(env.src, "`fires`", f, 1))? as u32;
    Ok(IrqDecl { name: i.name.get_ref().clone(), cpu, ops, fires })
}

/// Slab operations need the slab model.
fn check_slab_ops(src: &Source, slab: bool, ops: &[OpLine], threads: &[ThreadDecl]) -> Result<(), CaseError> {
    let all = ops.iter().chain(threads.iter().flat_map(|t| t.ops.iter()));
    for o in all {
        if !slab && o.spec.flags.slab {
            return Err(
                src.error(o.span.start, "slab operations need the slab model: add `slab = true` before `[machine]`")
            );
        }
    }
    Ok(())
}

fn load_explore(src: &Source, e: Option<&ExploreFile>, threads: bool) -> Result<Explore, CaseError> {
    let Some(e) = e else {
        let strategy =
            if threads { Strategy::Exhaustive { bound: 2, runs: limits::EXHAUSTIVE_RUNS } } else { Strategy::Default };
        return Ok(Explore { strategy, schedule: None, schedule_regressions: Default::default(), schedule_at: 0 });
    };
    let strategy = load_strategy(src, e)?;
    let schedule = e
        .schedule
        .as_ref()
        .map(|sch| crate::sim::executor::Schedule::parse(sch.get_ref()).map_err(|m| src.error(sch.span().start, m)))
        .transpose()?;
    let schedule_at = e.schedule.as_ref().map_or(0, |s| s.span().start);
    let mut schedule_regressions = std::collections::BTreeSet::new();
    if let Some(names) = &e.schedule_regressions {
        if schedule.is_none() {
            return Err(src.error(names.span().start, "`schedule_regressions` goes with a pinned `schedule`"));
        }
        for n in names.get_ref() {
            let r = crate::kernel::Regression::parse(n).ok_or_else(|| {
                let all: Vec<&str> = crate::kernel::Regression::ALL.iter().map(|r| r.name()).collect();
                src.error(names.span().start, format!("unknown regression `{n}`; known: {}", all.join(", ")))
            })?;
            schedule_regressions.insert(r);
        }
    }
    Ok(Explore { strategy, schedule, schedule_regressions, schedule_at })
}

/// The strategy and its parameters, each within its limit; a parameter of
/// another strategy is an error, not ignored.
fn load_strategy(src: &Source, e: &ExploreFile) -> Result<Strategy, CaseError> {
    let name = e.strategy.get_ref().as_str();
    let takes: &[&str] = match name {
        "default" => &[],
        "exhaustive" => &["bound"],
        "random" => &["runs", "seed"],
        "pct" => &["runs", "seed", "depth"],
        other => {
            return Err(src.error(
                e.strategy.span().start,
                format!("unknown strategy `{other}`; expected default, exhaustive, random or pct"),
            ));
        }
    };
    check_strategy_keys(src, e, takes)?;
    let param = |v: &Option<Spanned<i64>>, key: &str, limit: Limit, min: u64, default: u64| {
        v.as_ref().map_or(Ok(default), |v| limit.check(src, key, v, min))
    };
    let default_runs = if name == "exhaustive" { limits::EXHAUSTIVE_RUNS } else { 1000 };
    let runs = param(&e.runs, "`runs`", limits::RUNS_MAX, 1, default_runs)?;
    let seed = e.seed.as_ref().map_or(1, |s| *s.get_ref());
    Ok(match name {
        "exhaustive" => {
            Strategy::Exhaustive { bound: param(&e.bound, "`bound`", limits::BOUND_MAX, 0, 2)? as u32, runs }
        }
        "random" => Strategy::Random { runs, seed },
        "pct" => Strategy::Pct { runs, seed, depth: param(&e.depth, "`depth`", limits::DEPTH_MAX, 1, 3)? as u32 },
        _ => Strategy::Default,
    })
}

/// Each of `bound`, `runs`, `seed` and `depth` given is one the strategy
/// `takes`.
fn check_strategy_keys(src: &Source, e: &ExploreFile, takes: &[&str]) -> Result<(), CaseError> {
    let given = [
        ("bound", "`exhaustive`", e.bound.as_ref().map(Spanned::span)),
        ("runs", "`exhaustive`, `random` and `pct`", e.runs.as_ref().map(Spanned::span)),
        ("seed", "`random` and `pct`", e.seed.as_ref().map(Spanned::span)),
        ("depth", "`pct`", e.depth.as_ref().map(Spanned::span)),
    ];
    for (key, with, span) in given {
        if let Some(span) = span.filter(|_| !takes.contains(&key)) {
            let msg = format!("`{key}` goes with strategy {with}, not `{}`", e.strategy.get_ref());
            return Err(src.error(span.start, msg));
        }
    }
    Ok(())
}

/// Whether a state number is known by some name to the profile, for
/// messages.
pub fn state_label(profile: &Profile, s: State) -> String {
    match profile.steps.iter().find(|p| p.nr == s) {
        Some(p) => format!("{s} ({})", p.name),
        None => s.to_string(),
    }
}
