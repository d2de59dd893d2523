//! The operation and callback-behaviour grammars of case files.
//!
//! Operations are one string each, written as a kernel developer would type
//! or call them: `cpu_down 1`, `echo 197 > cpu1/hotplug/fail`,
//! `insmod demo`, `cpuhp_setup_state demo:online`, optionally followed by
//! `=> -EAGAIN`, the result the plain run must return. Callback behaviours
//! are comma-separated effects: `alloc`, `free`, `sleep`, `cpus_read_lock`,
//! `lock NAME`, `fail -ENOMEM [on cpu N] [on call N]`, or `ok`.

use toml::Spanned;

use crate::errno;
use crate::sim::CpuMask;

use crate::kernel::module::{Behaviour, Effect, FailRule, ModuleDecl};

use super::{CaseError, Machine, OpLine, Source};

/// A case operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Boot the secondary CPUs (`bringup_nonboot_cpus`) inside the traced
    /// run; without it the machine boots untraced before the first operation.
    Boot,
    /// `cpu_up(cpu, CPUHP_ONLINE)`.
    CpuUp(usize),
    /// `cpu_down(cpu, CPUHP_OFFLINE)`.
    CpuDown(usize),
    /// `echo VALUE > FILE`.
    Write {
        file: SysfsFile,
        value: String,
    },
    /// Load a module and run its init: register each state it declares.
    Insmod(usize),
    /// Run a module's exit (remove what it registered) and unload it.
    Rmmod(usize),
    Setup {
        module: usize,
        decl: usize,
        kind: SetupKind,
    },
    Remove {
        module: usize,
        decl: usize,
        kind: RemoveKind,
    },
    AddInstance {
        module: usize,
        decl: usize,
        name: String,
        invoke: bool,
    },
    RemoveInstance {
        module: usize,
        decl: usize,
        name: String,
        invoke: bool,
    },
    CpuHotplugDisable,
    CpuHotplugEnable,
    /// `freeze_secondary_cpus(primary)`.
    Freeze(usize),
    /// `thaw_secondary_cpus()`.
    Thaw,
    /// `kmem_cache_create(NAME)` (slab model).
    CacheCreate(String),
    /// `kmem_cache_destroy(NAME)`.
    CacheDestroy(String),
    /// `kmem_cache_alloc(NAME)` and free, on the calling task's CPU.
    CacheAlloc(String),
    /// `mutex_lock(&NAME)` on a mutex of the case.
    Lock(String),
    /// `mutex_unlock(&NAME)`.
    Unlock(String),
    /// `smp_call_function_single(cpu, FUNC, NULL, wait)`.
    SmpCallSingle {
        cpu: usize,
        func: String,
        wait: bool,
    },
    /// `smp_call_function_single_async(cpu, &csd)` with the caller's CSD for
    /// FUNC.
    SmpCallAsync {
        cpu: usize,
        func: String,
    },
    /// `smp_call_function_many(mask, FUNC, NULL, wait)`; the caller must
    /// have preemption disabled.
    SmpCallMany {
        mask: CpuMask,
        func: String,
        wait: bool,
    },
    /// `smp_call_function(FUNC, NULL, wait)`.
    SmpCall {
        func: String,
        wait: bool,
    },
    /// `on_each_cpu(FUNC, NULL, wait)`.
    OnEachCpu {
        func: String,
        wait: bool,
    },
    LocalIrqDisable,
    LocalIrqEnable,
    PreemptDisable,
    PreemptEnable,
    /// `add_memory(nid, start, size)` of the block `memoryN`.
    AddMemory {
        index: u32,
        nid: u32,
    },
    /// `remove_memory(start, size)` of the block `memoryN`.
    RemoveMemory(u32),
    /// `get_online_mems()` / `put_online_mems()`.
    GetOnlineMems,
    PutOnlineMems,
}

impl Op {
    /// Whether an interrupt handler may do it: the cross-CPU calls, which
    /// the kernel itself warns about where they do not belong.
    pub fn in_irq(&self) -> bool {
        matches!(
            self,
            Op::SmpCallSingle { .. }
                | Op::SmpCallAsync { .. }
                | Op::SmpCallMany { .. }
                | Op::SmpCall { .. }
                | Op::OnEachCpu { .. }
        )
    }
}

/// The operations an interrupt handler may run.
pub const IRQ_OPS: &str = "smp_call_function_single CPU FUNC WAIT, smp_call_function_single_async CPU FUNC, \
smp_call_function_many CPULIST FUNC WAIT, smp_call_function FUNC WAIT, on_each_cpu FUNC WAIT";

/// Which `cpuhp_setup_state*` variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetupKind {
    Calls,
    Nocalls,
    Multi,
}

/// Which `cpuhp_remove_state*` variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RemoveKind {
    Calls,
    Nocalls,
    Multi,
}

/// A sysfs file under `/sys/devices/system/cpu/` or `/sys/devices/system/memory/`,
/// or a debugfs file of the memory notifier error injector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SysfsFile {
    Online(usize),
    Fail(usize),
    Target(usize),
    SmtControl,
    /// `memoryN/state`.
    MemState(u32),
    /// `memoryN/online`.
    MemOnline(u32),
    /// `notifier-error-inject/memory/actions/<ACTION>/error`; true for
    /// `MEM_GOING_ONLINE`.
    MemInject(bool),
}

impl Op {
    /// Whether it needs the memory model.
    pub fn memory(&self) -> bool {
        matches!(
            self,
            Op::AddMemory { .. }
                | Op::RemoveMemory(_)
                | Op::GetOnlineMems
                | Op::PutOnlineMems
                | Op::Write { file: SysfsFile::MemState(_) | SysfsFile::MemOnline(_) | SysfsFile::MemInject(_), .. }
        )
    }
}

const OPS: &str = "boot, cpu_up N, cpu_down N, echo V > FILE, insmod M, rmmod M, cpuhp_setup_state[_nocalls|_multi] S, \
cpuhp_remove_state[_nocalls] S, cpuhp_remove_multi_state S, cpuhp_state_add_instance[_nocalls] S I, \
cpuhp_state_remove_instance[_nocalls] S I, cpu_hotplug_disable, cpu_hotplug_enable, freeze_secondary_cpus N, thaw_secondary_cpus, \
kmem_cache_create C, kmem_cache_destroy C, kmem_cache_alloc C, mutex_lock M, mutex_unlock M, \
smp_call_function_single CPU FUNC WAIT, smp_call_function_single_async CPU FUNC, smp_call_function_many CPULIST FUNC WAIT, \
smp_call_function FUNC WAIT, on_each_cpu FUNC WAIT, local_irq_disable, local_irq_enable, preempt_disable, preempt_enable, \
add_memory N [NID], remove_memory N, get_online_mems, put_online_mems";

const FILES: &str = "cpuN/online, cpuN/hotplug/fail, cpuN/hotplug/target, smt/control, memoryN/state, memoryN/online, \
notifier-error-inject/memory/actions/MEM_GOING_ONLINE/error, notifier-error-inject/memory/actions/MEM_GOING_OFFLINE/error";

/// What op parsing needs to resolve names.
pub(super) struct Env<'a> {
    pub src: &'a Source<'a>,
    pub machine: &'a Machine,
    pub modules: &'a [ModuleDecl],
}

/// A word of an operation and its character offset in the string.
struct Word<'a> {
    text: &'a str,
    at: usize,
}

fn words(s: &str) -> Vec<Word<'_>> {
    let mut out = Vec::new();
    let mut start: Option<(usize, usize)> = None;
    for (ci, (b, c)) in s.char_indices().enumerate() {
        if c.is_whitespace() {
            if let Some((sc, sb)) = start.take() {
                out.push(Word { text: &s[sb..b], at: sc });
            }
        } else if start.is_none() {
            start = Some((ci, b));
        }
    }
    if let Some((sc, sb)) = start {
        out.push(Word { text: &s[sb..], at: sc });
    }
    out
}

impl Env<'_> {
    fn err(&self, span: &std::ops::Range<usize>, at: usize, msg: impl Into<String>) -> CaseError {
        self.src.error_in(span, at, msg)
    }

    pub fn op_line(&self, line: &Spanned<String>) -> Result<OpLine, CaseError> {
        let span = line.span();
        let full = line.get_ref();
        let (text, expect) = match full.split_once("=>") {
            Some((t, e)) => {
                let at = t.chars().count() + 2 + e.chars().take_while(|c| c.is_whitespace()).count();
                let e = e.trim();
                let v = errno::parse(e).map(i64::from).or_else(|| e.parse::<i64>().ok()).ok_or_else(|| {
                    self.err(&span, at, format!("expected result `{e}` is not a number or an errno such as -EAGAIN"))
                })?;
                (t, Some(v))
            }
            None => (full.as_str(), None),
        };
        let w = words(text);
        let op = self.op(&span, &w)?;
        Ok(OpLine { op, text: text.trim().to_string(), expect, span })
    }

    fn op(&self, span: &std::ops::Range<usize>, w: &[Word]) -> Result<Op, CaseError> {
        let Some(first) = w.first() else {
            return Err(self.err(span, 0, format!("empty operation; expected one of: {OPS}")));
        };
        let arity = |n: usize| -> Result<(), CaseError> {
            if w.len() == n + 1 {
                return Ok(());
            }
            let at = w.get(n + 1).map_or(first.at, |x| x.at);
            Err(self.err(span, at, format!("`{}` takes {n} argument(s), got {}", first.text, w.len() - 1)))
        };
        let op = match first.text {
            "boot" => {
                arity(0)?;
                Op::Boot
            }
            "cpu_up" | "cpu_down" | "freeze_secondary_cpus" => {
                arity(1)?;
                let cpu = self.cpu(span, &w[1])?;
                match first.text {
                    "cpu_up" => Op::CpuUp(cpu),
                    "cpu_down" => Op::CpuDown(cpu),
                    _ => Op::Freeze(cpu),
                }
            }
            "thaw_secondary_cpus" => {
                arity(0)?;
                Op::Thaw
            }
            "cpu_hotplug_disable" => {
                arity(0)?;
                Op::CpuHotplugDisable
            }
            "cpu_hotplug_enable" => {
                arity(0)?;
                Op::CpuHotplugEnable
            }
            "echo" => self.echo(span, w)?,
            "kmem_cache_create" | "kmem_cache_destroy" | "kmem_cache_alloc" => {
                arity(1)?;
                let name = w[1].text.to_string();
                match first.text {
                    "kmem_cache_create" => Op::CacheCreate(name),
                    "kmem_cache_destroy" => Op::CacheDestroy(name),
                    _ => Op::CacheAlloc(name),
                }
            }
            "mutex_lock" | "mutex_unlock" => {
                arity(1)?;
                let name = w[1].text.to_string();
                if first.text == "mutex_lock" { Op::Lock(name) } else { Op::Unlock(name) }
            }
            "insmod" | "rmmod" => {
                arity(1)?;
                let m = self.module(span, &w[1])?;
                if first.text == "insmod" { Op::Insmod(m) } else { Op::Rmmod(m) }
            }
            "local_irq_disable" | "local_irq_enable" | "preempt_disable" | "preempt_enable" => {
                arity(0)?;
                match first.text {
                    "local_irq_disable" => Op::LocalIrqDisable,
                    "local_irq_enable" => Op::LocalIrqEnable,
                    "preempt_disable" => Op::PreemptDisable,
                    _ => Op::PreemptEnable,
                }
            }
            "smp_call_function_single" => {
                arity(3)?;
                Op::SmpCallSingle {
                    cpu: self.cpu(span, &w[1])?,
                    func: self.func(span, &w[2])?,
                    wait: self.wait(span, &w[3])?,
                }
            }
            "smp_call_function_single_async" => {
                arity(2)?;
                Op::SmpCallAsync { cpu: self.cpu(span, &w[1])?, func: self.func(span, &w[2])? }
            }
            "smp_call_function_many" => {
                arity(3)?;
                Op::SmpCallMany {
                    mask: self.cpulist(span, &w[1])?,
                    func: self.func(span, &w[2])?,
                    wait: self.wait(span, &w[3])?,
                }
            }
            "add_memory" => {
                if !(2..=3).contains(&w.len()) {
                    return Err(self.err(
                        span,
                        first.at,
                        "`add_memory` takes a block number and optionally a node: add_memory 32 [0]",
                    ));
                }
                let index = self.number(span, &w[1], "a memory block number")?;
                let nid = match w.get(2) {
                    Some(n) => self.number(span, n, "a node number")?,
                    None => 0,
                };
                Op::AddMemory { index, nid }
            }
            "remove_memory" => {
                arity(1)?;
                Op::RemoveMemory(self.number(span, &w[1], "a memory block number")?)
            }
            "get_online_mems" | "put_online_mems" => {
                arity(0)?;
                if first.text == "get_online_mems" { Op::GetOnlineMems } else { Op::PutOnlineMems }
            }
            "smp_call_function" | "on_each_cpu" => {
                arity(2)?;
                let (func, wait) = (self.func(span, &w[1])?, self.wait(span, &w[2])?);
                if first.text == "on_each_cpu" { Op::OnEachCpu { func, wait } } else { Op::SmpCall { func, wait } }
            }
            other => return self.registration(span, w, other),
        };
        self.check_built(span, first, &op)?;
        Ok(op)
    }

    /// Functions that do not exist without `CONFIG_HOTPLUG_CPU`.
    fn check_built(&self, span: &std::ops::Range<usize>, first: &Word, op: &Op) -> Result<(), CaseError> {
        let needs_hotplug = matches!(op, Op::CpuDown(_) | Op::Freeze(_) | Op::Thaw);
        if needs_hotplug && !self.machine.hotplug_cpu {
            return Err(self.err(
                span,
                first.at,
                format!("`{}` is not built with `hotplug_cpu = false` (CONFIG_HOTPLUG_CPU=n)", first.text),
            ));
        }
        Ok(())
    }

    fn registration(&self, span: &std::ops::Range<usize>, w: &[Word], name: &str) -> Result<Op, CaseError> {
        let first = &w[0];
        let want = if name.starts_with("cpuhp_state_") { 2 } else { 1 };
        let known = [
            "cpuhp_setup_state",
            "cpuhp_setup_state_nocalls",
            "cpuhp_setup_state_multi",
            "cpuhp_remove_state",
            "cpuhp_remove_state_nocalls",
            "cpuhp_remove_multi_state",
            "cpuhp_state_add_instance",
            "cpuhp_state_add_instance_nocalls",
            "cpuhp_state_remove_instance",
            "cpuhp_state_remove_instance_nocalls",
        ];
        if !known.contains(&name) {
            let mut msg = format!("unknown operation `{name}`; expected one of: {OPS}");
            let all = [
                "boot",
                "cpu_up",
                "cpu_down",
                "echo",
                "insmod",
                "rmmod",
                "cpu_hotplug_disable",
                "cpu_hotplug_enable",
                "freeze_secondary_cpus",
                "thaw_secondary_cpus",
                "kmem_cache_create",
                "kmem_cache_destroy",
                "kmem_cache_alloc",
                "mutex_lock",
                "mutex_unlock",
                "smp_call_function_single",
                "smp_call_function_single_async",
                "smp_call_function_many",
                "smp_call_function",
                "on_each_cpu",
                "local_irq_disable",
                "local_irq_enable",
                "preempt_disable",
                "preempt_enable",
                "add_memory",
                "remove_memory",
                "get_online_mems",
                "put_online_mems",
            ];
            if let Some(n) = super::site::nearest(name, known.iter().chain(all.iter()).copied()) {
                msg = format!("unknown operation `{name}`; did you mean `{n}`? Operations: {OPS}");
            }
            return Err(self.err(span, first.at, msg));
        }
        if w.len() != want + 1 {
            return Err(self.err(span, first.at, format!("`{name}` takes {want} argument(s), got {}", w.len() - 1)));
        }
        let (module, decl) = self.state_decl(span, &w[1])?;
        let op = match name {
            "cpuhp_setup_state" => Op::Setup { module, decl, kind: SetupKind::Calls },
            "cpuhp_setup_state_nocalls" => Op::Setup { module, decl, kind: SetupKind::Nocalls },
            "cpuhp_setup_state_multi" => Op::Setup { module, decl, kind: SetupKind::Multi },
            "cpuhp_remove_state" => Op::Remove { module, decl, kind: RemoveKind::Calls },
            "cpuhp_remove_state_nocalls" => Op::Remove { module, decl, kind: RemoveKind::Nocalls },
            "cpuhp_remove_multi_state" => Op::Remove { module, decl, kind: RemoveKind::Multi },
            _ => {
                let inst = w[2].text.to_string();
                let invoke = !name.ends_with("_nocalls");
                if name.starts_with("cpuhp_state_add") {
                    Op::AddInstance { module, decl, name: inst, invoke }
                } else {
                    Op::RemoveInstance { module, decl, name: inst, invoke }
                }
            }
        };
        Ok(op)
    }

    fn echo(&self, span: &std::ops::Range<usize>, w: &[Word]) -> Result<Op, CaseError> {
        if w.len() != 4 || w[2].text != ">" {
            return Err(self.err(span, w[0].at, format!("expected `echo VALUE > FILE` with FILE one of {FILES}")));
        }
        let path = w[3].text.trim_start_matches("/sys/devices/system/cpu/");
        let bad = || self.err(span, w[3].at, format!("unknown file `{}`; expected one of {FILES}", w[3].text));
        if let Some(file) = self.memory_file(path) {
            return Ok(Op::Write { file, value: w[1].text.to_string() });
        }
        let file = if path == "smt/control" {
            SysfsFile::SmtControl
        } else {
            let (cpu, rest) = path.split_once('/').ok_or_else(bad)?;
            let cpu = cpu.strip_prefix("cpu").and_then(|c| c.parse::<usize>().ok()).ok_or_else(bad)?;
            if cpu >= self.machine.cpus {
                return Err(self.err(span, w[3].at, format!("the machine has CPUs 0 to {}", self.machine.cpus - 1)));
            }
            match rest {
                "online" => SysfsFile::Online(cpu),
                "hotplug/fail" => SysfsFile::Fail(cpu),
                "hotplug/target" => SysfsFile::Target(cpu),
                _ => return Err(bad()),
            }
        };
        Ok(Op::Write { file, value: w[1].text.to_string() })
    }

    /// `memoryN/state`, `memoryN/online` (under `/sys/devices/system/memory/`)
    /// and the injector's files (under `/sys/kernel/debug/`).
    fn memory_file(&self, path: &str) -> Option<SysfsFile> {
        let path = path.trim_start_matches("/sys/devices/system/memory/").trim_start_matches("/sys/kernel/debug/");
        match path {
            "notifier-error-inject/memory/actions/MEM_GOING_ONLINE/error" => return Some(SysfsFile::MemInject(true)),
            "notifier-error-inject/memory/actions/MEM_GOING_OFFLINE/error" => return Some(SysfsFile::MemInject(false)),
            _ => {}
        }
        let (block, file) = path.strip_prefix("memory")?.split_once('/')?;
        let block: u32 = block.parse().ok()?;
        match file {
            "state" => Some(SysfsFile::MemState(block)),
            "online" => Some(SysfsFile::MemOnline(block)),
            _ => None,
        }
    }

    fn number(&self, span: &std::ops::Range<usize>, w: &Word, what: &str) -> Result<u32, CaseError> {
        w.text.parse().map_err(|_| self.err(span, w.at, format!("`{}` is not {what}", w.text)))
    }

    fn cpu(&self, span: &std::ops::Range<usize>, w: &Word) -> Result<usize, CaseError> {
        match w.text.parse::<usize>() {
            Ok(c) if c < self.machine.cpus => Ok(c),
            _ => Err(self.err(
                span,
                w.at,
                format!("`{}` is not a CPU; the machine has CPUs 0 to {}", w.text, self.machine.cpus - 1),
            )),
        }
    }

    /// A function name, as C would spell it.
    fn func(&self, span: &std::ops::Range<usize>, w: &Word) -> Result<String, CaseError> {
        let ok = w.text.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && w.text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok {
            return Err(self.err(span, w.at, format!("`{}` is not a C function name", w.text)));
        }
        Ok(w.text.to_string())
    }

    /// The `wait` argument: 0 or 1.
    fn wait(&self, span: &std::ops::Range<usize>, w: &Word) -> Result<bool, CaseError> {
        match w.text {
            "0" => Ok(false),
            "1" => Ok(true),
            _ => Err(self.err(span, w.at, format!("`{}` is not a `wait` argument; expected 0 or 1", w.text))),
        }
    }

    /// A cpulist such as `1-3,5`.
    fn cpulist(&self, span: &std::ops::Range<usize>, w: &Word) -> Result<CpuMask, CaseError> {
        let bad = || {
            self.err(
                span,
                w.at,
                format!("`{}` is not a cpulist of CPUs 0 to {}, such as 1-3", w.text, self.machine.cpus - 1),
            )
        };
        let mut m = CpuMask::empty();
        for part in w.text.split(',') {
            let (a, b) = part.split_once('-').unwrap_or((part, part));
            let (a, b): (usize, usize) = (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
            if a > b || b >= self.machine.cpus {
                return Err(bad());
            }
            (a..=b).for_each(|c| m.set(c));
        }
        Ok(m)
    }

    fn module(&self, span: &std::ops::Range<usize>, w: &Word) -> Result<usize, CaseError> {
        self.modules.iter().position(|m| m.name == w.text).ok_or_else(|| {
            let names: Vec<&str> = self.modules.iter().map(|m| m.name.as_str()).collect();
            self.err(span, w.at, format!("unknown module `{}`; declared modules: {}", w.text, list(&names)))
        })
    }

    fn state_decl(&self, span: &std::ops::Range<usize>, w: &Word) -> Result<(usize, usize), CaseError> {
        for (mi, m) in self.modules.iter().enumerate() {
            if let Some(di) = m.states.iter().position(|s| s.name == w.text) {
                return Ok((mi, di));
            }
        }
        let names: Vec<&str> = self.modules.iter().flat_map(|m| m.states.iter().map(|s| s.name.as_str())).collect();
        Err(self.err(span, w.at, format!("unknown module state `{}`; declared states: {}", w.text, list(&names))))
    }
}

fn list(names: &[&str]) -> String {
    if names.is_empty() { "(none)".to_string() } else { names.join(", ") }
}

/// Parses a behaviour; errors carry the character offset in the string.
pub fn parse_behaviour(s: &str) -> Result<Behaviour, (usize, String)> {
    const FORMS: &str = "ok, alloc, free, sleep, cpus_read_lock, lock NAME, fail -ERRNO [on cpu N] [on call N]";
    let mut b = Behaviour::default();
    let mut offset = 0;
    for part in s.split(',') {
        let lead = part.chars().take_while(|c| c.is_whitespace()).count();
        let w = words(part);
        let at = offset + lead;
        match w.first().map(|x| x.text) {
            Some("ok") if w.len() == 1 => {}
            Some("alloc") if w.len() == 1 => b.effects.push(Effect::Alloc),
            Some("free") if w.len() == 1 => b.effects.push(Effect::Free),
            Some("sleep") if w.len() == 1 => b.effects.push(Effect::Sleep),
            Some("cpus_read_lock") if w.len() == 1 => b.effects.push(Effect::CpusReadLock),
            Some("lock") if w.len() == 2 => b.effects.push(Effect::Lock(w[1].text.to_string())),
            Some("fail") if w.len() >= 2 => b.fail = Some(parse_fail(&w, offset)?),
            _ => {
                return Err((at, format!("unknown behaviour `{}`; expected comma-separated {FORMS}", part.trim())));
            }
        }
        offset += part.chars().count() + 1;
    }
    Ok(b)
}

fn parse_fail(w: &[Word], offset: usize) -> Result<FailRule, (usize, String)> {
    let errno = errno::parse(w[1].text)
        .ok_or_else(|| (offset + w[1].at, format!("`{}` is not an errno; use one of {}", w[1].text, errno::known())))?;
    let mut rule = FailRule { errno, on_cpu: None, on_call: None };
    let mut rest = &w[2..];
    while !rest.is_empty() {
        let bad = || (offset + rest[0].at, "after `fail -ERRNO`, expected `on cpu N` or `on call N`".to_string());
        if rest.len() < 3 || rest[0].text != "on" {
            return Err(bad());
        }
        let n: u32 = rest[2].text.parse().map_err(|_| bad())?;
        match rest[1].text {
            "cpu" => rule.on_cpu = Some(n as usize),
            "call" if n > 0 => rule.on_call = Some(n),
            _ => return Err(bad()),
        }
        rest = &rest[3..];
    }
    Ok(rule)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaviours() {
        let b = parse_behaviour("alloc, fail -ENOMEM on cpu 2 on call 3").unwrap();
        assert_eq!(b.effects, vec![Effect::Alloc]);
        assert_eq!(b.fail, Some(FailRule { errno: -12, on_cpu: Some(2), on_call: Some(3) }));
        let (at, msg) = parse_behaviour("alloc, frée").unwrap_err();
        assert_eq!(at, 7);
        assert!(msg.contains("unknown behaviour"));
        assert!(parse_behaviour("fail -EWHAT").is_err());
    }

    #[test]
    fn word_offsets() {
        let w = words("  echo 1 >  cpu1/online");
        let at: Vec<usize> = w.iter().map(|x| x.at).collect();
        assert_eq!(at, vec![2, 7, 9, 12]);
    }
}
