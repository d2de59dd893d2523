//! The operation and callback-behaviour grammars of case files.
//!
//! Operations are one string each, written as a kernel developer would type
//! or call them: `cpu_down 1`, `echo 197 > cpu1/hotplug/fail`,
//! `insmod demo`, `cpuhp_setup_state demo:online`, optionally followed by
//! `=> -EAGAIN`, the result the plain run must return. Each operation is one
//! row of [`OPERATIONS`]: its name, usage, summary, example, flags and
//! argument parser; the parser, its errors and `hotplug-fi ops` all read
//! that table. Callback behaviours are comma-separated effects: `alloc`,
//! `free`, `sleep`, `cpus_read_lock`, `lock NAME`,
//! `fail -ENOMEM [on cpu N] [on call N]`, or `ok`.

use std::ops::Range;

use toml::Spanned;

use crate::errno;
use crate::sim::CpuMask;

use crate::kernel::module::{Behaviour, Effect, FailRule, ModuleDecl};

use super::limits::{BLOCKS_MAX, OPS_MAX};
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
    /// `free_unref_page()` of N used pages of `memoryBLOCK`; `drain_all_pages(NULL)`.
    FreePages(u32, u32),
    DrainAllPages,
    /// QEMU's `device_add` of ACPI processor N (its MADT position):
    /// `acpi_device_hotplug(ACPI_NOTIFY_DEVICE_CHECK)`.
    AcpiCpuHotAdd(usize),
    /// QEMU's `device_del` of ACPI processor N:
    /// `acpi_device_hotplug(ACPI_NOTIFY_EJECT_REQUEST)`.
    AcpiCpuHotRemove(usize),
    /// `get_online_mems()` / `put_online_mems()`.
    GetOnlineMems,
    PutOnlineMems,
    /// `stop_one_cpu(CPU, FUNC, NULL)`.
    StopOneCpu {
        cpu: usize,
        func: String,
    },
    /// `stop_one_cpu_nowait(CPU, FUNC, NULL, &work)`: 1 if it was queued.
    StopOneCpuNowait {
        cpu: usize,
        func: String,
    },
    /// `sched_setaffinity(pid of TASK, CPULIST)`.
    SchedSetaffinity {
        task: usize,
        mask: CpuMask,
    },
    /// `stop_two_cpus(CPU1, CPU2, FUNC, NULL)`.
    StopTwoCpus {
        cpu1: usize,
        cpu2: usize,
        func: String,
    },
    /// `synchronize_rcu()`.
    SynchronizeRcu,
    /// `call_rcu()` of a callback of the case, on the calling CPU.
    CallRcu,
}

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

impl SysfsFile {
    /// Whether it is a memory block's file or the memory notifier injector's.
    pub fn memory(self) -> bool {
        matches!(self, SysfsFile::MemState(_) | SysfsFile::MemOnline(_) | SysfsFile::MemInject(_))
    }
}

const FILES: &str = "cpuN/online, cpuN/hotplug/fail, cpuN/hotplug/target, smt/control, memoryN/state, memoryN/online, \
notifier-error-inject/memory/actions/MEM_GOING_ONLINE/error, notifier-error-inject/memory/actions/MEM_GOING_OFFLINE/error";

/// What an operation needs of its case, or may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flags {
    /// An interrupt handler (`[[irq]]`) may run it.
    pub irq: bool,
    /// It turns the memory model on (`echo` does when it writes a memory file).
    pub memory: bool,
    /// It is not built with `hotplug_cpu = false` (`CONFIG_HOTPLUG_CPU=n`).
    pub hotplug_cpu: bool,
    /// It needs the slab model (`slab = true`).
    pub slab: bool,
    /// It starts RCU's grace-period kthread (an RCU operation).
    pub rcu: bool,
}

const PLAIN: Flags = Flags { irq: false, memory: false, hotplug_cpu: false, slab: false, rcu: false };
const IRQ: Flags = Flags { irq: true, ..PLAIN };
const MEMORY: Flags = Flags { memory: true, ..PLAIN };
const HOTPLUG_CPU: Flags = Flags { hotplug_cpu: true, ..PLAIN };
const SLAB: Flags = Flags { slab: true, ..PLAIN };
const RCU: Flags = Flags { rcu: true, ..PLAIN };
const RCU_IRQ: Flags = Flags { rcu: true, irq: true, ..PLAIN };

impl Flags {
    /// The flags in words, for `hotplug-fi ops`: `; needs CONFIG_HOTPLUG_CPU`.
    fn note(self) -> String {
        let words = [
            (self.irq, "may run in an interrupt handler"),
            (self.memory, "turns the memory model on"),
            (self.hotplug_cpu, "needs CONFIG_HOTPLUG_CPU"),
            (self.slab, "needs slab = true"),
            (self.rcu, "starts RCU's grace-period kthread, rcu_preempt"),
        ];
        words.iter().filter(|(on, _)| *on).map(|(_, w)| format!("; {w}")).collect()
    }
}

/// Where an operation's kernel code lives: how `hotplug-fi ops` groups them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    Cpu,
    Smp,
    Slab,
    Memory,
    Acpi,
    Locking,
    Stop,
    Sched,
    Rcu,
    Context,
    Modules,
    Sysfs,
}

impl Group {
    /// The heading `hotplug-fi ops` prints.
    pub fn title(self) -> &'static str {
        match self {
            Group::Cpu => "kernel/cpu.c: CPU hotplug",
            Group::Smp => "kernel/smp.c: cross-CPU function calls",
            Group::Slab => "mm/slab.c: the SLAB-era slab model",
            Group::Memory => "mm/memory_hotplug.c: memory hotplug",
            Group::Acpi => "drivers/acpi/scan.c, acpi_processor.c: CPU hot-add and hot-remove",
            Group::Locking => "kernel/locking/mutex.c: the case's mutexes",
            Group::Stop => "kernel/stop_machine.c: the per-CPU stoppers",
            Group::Sched => "kernel/sched/core.c: task affinity and migration",
            Group::Rcu => "kernel/rcu/tree.c: RCU grace periods and callbacks",
            Group::Context => "include/linux/irqflags.h, preempt.h: the calling task's context",
            Group::Modules => "kernel/module/, kernel/cpu.c: modules and cpuhp state registration",
            Group::Sysfs => "sysfs and debugfs writes",
        }
    }
}

/// Parses an operation's words (the name first) into an [`Op`].
type Parse = fn(&Env, &Range<usize>, &[Word]) -> Result<Op, CaseError>;

/// One case operation: a row of [`OPERATIONS`].
#[derive(Debug)]
pub struct OpSpec {
    /// The name a case writes: `cpu_down`.
    pub name: &'static str,
    /// Its arguments: `cpu_down CPU`.
    pub usage: &'static str,
    /// What it runs, naming the kernel function.
    pub summary: &'static str,
    /// A use that parses in a case with 4 CPUs, `slab = true` and the module
    /// `demo` declaring the state `demo:online`.
    pub example: &'static str,
    pub group: Group,
    pub flags: Flags,
    parse: Parse,
}

/// Every case operation, grouped as the kernel's sources are. The parser,
/// its "did you mean", the help in its errors and `hotplug-fi ops` all read
/// this table.
#[rustfmt::skip]
pub const OPERATIONS: &[OpSpec] = &[
    // kernel/cpu.c
    OpSpec { name: "boot", usage: "boot",
        summary: "bringup_nonboot_cpus(), traced and swept; only as the first operation",
        example: "boot", group: Group::Cpu, flags: PLAIN,
        parse: |e, s, w| e.bare(s, w, Op::Boot) },
    OpSpec { name: "cpu_up", usage: "cpu_up CPU",
        summary: "cpu_up(CPU, CPUHP_ONLINE)",
        example: "cpu_up 1", group: Group::Cpu, flags: PLAIN,
        parse: |e, s, w| e.one_cpu(s, w).map(Op::CpuUp) },
    OpSpec { name: "cpu_down", usage: "cpu_down CPU",
        summary: "cpu_down(CPU, CPUHP_OFFLINE)",
        example: "cpu_down 1", group: Group::Cpu, flags: HOTPLUG_CPU,
        parse: |e, s, w| e.one_cpu(s, w).map(Op::CpuDown) },
    OpSpec { name: "cpu_hotplug_disable", usage: "cpu_hotplug_disable",
        summary: "cpu_hotplug_disable(): hotplug is refused until it is enabled again",
        example: "cpu_hotplug_disable", group: Group::Cpu, flags: PLAIN,
        parse: |e, s, w| e.bare(s, w, Op::CpuHotplugDisable) },
    OpSpec { name: "cpu_hotplug_enable", usage: "cpu_hotplug_enable",
        summary: "cpu_hotplug_enable()",
        example: "cpu_hotplug_enable", group: Group::Cpu, flags: PLAIN,
        parse: |e, s, w| e.bare(s, w, Op::CpuHotplugEnable) },
    OpSpec { name: "freeze_secondary_cpus", usage: "freeze_secondary_cpus CPU",
        summary: "freeze_secondary_cpus(CPU): suspend's CPU freeze, with CPU the primary",
        example: "freeze_secondary_cpus 0", group: Group::Cpu, flags: HOTPLUG_CPU,
        parse: |e, s, w| e.one_cpu(s, w).map(Op::Freeze) },
    OpSpec { name: "thaw_secondary_cpus", usage: "thaw_secondary_cpus",
        summary: "thaw_secondary_cpus(): resume's CPU thaw",
        example: "thaw_secondary_cpus", group: Group::Cpu, flags: HOTPLUG_CPU,
        parse: |e, s, w| e.bare(s, w, Op::Thaw) },
    // kernel/smp.c
    OpSpec { name: "smp_call_function_single", usage: "smp_call_function_single CPU FUNC WAIT",
        summary: "smp_call_function_single(CPU, FUNC, NULL, WAIT): -ENXIO for an offline CPU",
        example: "smp_call_function_single 1 f 1", group: Group::Smp, flags: IRQ,
        parse: |e, s, w| e.smp_single(s, w) },
    OpSpec { name: "smp_call_function_single_async", usage: "smp_call_function_single_async CPU FUNC",
        summary: "smp_call_function_single_async(CPU, &csd), FUNC's own CSD: -EBUSY while in flight",
        example: "smp_call_function_single_async 1 f", group: Group::Smp, flags: IRQ,
        parse: |e, s, w| e.smp_async(s, w) },
    OpSpec { name: "smp_call_function_many", usage: "smp_call_function_many CPULIST FUNC WAIT",
        summary: "smp_call_function_many(CPULIST, FUNC, NULL, WAIT), with preemption disabled",
        example: "smp_call_function_many 0-1 f 0", group: Group::Smp, flags: IRQ,
        parse: |e, s, w| e.smp_many(s, w) },
    OpSpec { name: "smp_call_function", usage: "smp_call_function FUNC WAIT",
        summary: "smp_call_function(FUNC, NULL, WAIT): every other online CPU",
        example: "smp_call_function f 1", group: Group::Smp, flags: IRQ,
        parse: |e, s, w| e.func_wait(s, w).map(|(func, wait)| Op::SmpCall { func, wait }) },
    OpSpec { name: "on_each_cpu", usage: "on_each_cpu FUNC WAIT",
        summary: "on_each_cpu(FUNC, NULL, WAIT): every online CPU, this one with IRQs off",
        example: "on_each_cpu f 0", group: Group::Smp, flags: IRQ,
        parse: |e, s, w| e.func_wait(s, w).map(|(func, wait)| Op::OnEachCpu { func, wait }) },
    // mm/slab.c
    OpSpec { name: "kmem_cache_create", usage: "kmem_cache_create CACHE",
        summary: "kmem_cache_create(CACHE)",
        example: "kmem_cache_create foo", group: Group::Slab, flags: SLAB,
        parse: |e, s, w| e.one_word(s, w).map(Op::CacheCreate) },
    OpSpec { name: "kmem_cache_destroy", usage: "kmem_cache_destroy CACHE",
        summary: "kmem_cache_destroy(CACHE)",
        example: "kmem_cache_destroy foo", group: Group::Slab, flags: SLAB,
        parse: |e, s, w| e.one_word(s, w).map(Op::CacheDestroy) },
    OpSpec { name: "kmem_cache_alloc", usage: "kmem_cache_alloc CACHE",
        summary: "kmem_cache_alloc(CACHE) and kmem_cache_free(), on the calling task's CPU",
        example: "kmem_cache_alloc foo", group: Group::Slab, flags: SLAB,
        parse: |e, s, w| e.one_word(s, w).map(Op::CacheAlloc) },
    // mm/memory_hotplug.c
    OpSpec { name: "add_memory", usage: "add_memory BLOCK [NID]",
        summary: "add_memory(NID, start, size): hot-add memoryBLOCK (node 0 by default)",
        example: "add_memory 32", group: Group::Memory, flags: MEMORY,
        parse: |e, s, w| e.add_memory(s, w) },
    OpSpec { name: "remove_memory", usage: "remove_memory BLOCK",
        summary: "remove_memory(start, size) of memoryBLOCK: -EBUSY unless it is offline",
        example: "remove_memory 32", group: Group::Memory, flags: MEMORY,
        parse: |e, s, w| e.remove_memory(s, w) },
    OpSpec { name: "free_pages", usage: "free_pages BLOCK N",
        summary: "free_unref_page() of N used movable pages of memoryBLOCK on the calling CPU (a process exiting): onto its pcplist, or the buddy lists for an isolated pageblock or a disabled pageset; -EINVAL if fewer are left",
        example: "free_pages 6 2", group: Group::Memory, flags: MEMORY,
        parse: |e, s, w| e.arity(s, w, 2).and_then(|()| Ok(Op::FreePages(e.block(s, &w[1])?, e.number(s, &w[2], "a page count")?))) },
    OpSpec { name: "drain_all_pages", usage: "drain_all_pages",
        summary: "drain_all_pages(NULL) (direct reclaim): under pcpu_drain_mutex (nothing if another drain holds it), each online CPU with pcplist pages drained",
        example: "drain_all_pages", group: Group::Memory, flags: MEMORY,
        parse: |e, s, w| e.bare(s, w, Op::DrainAllPages) },
    OpSpec { name: "get_online_mems", usage: "get_online_mems",
        summary: "get_online_mems(): take mem_hotplug_lock for read",
        example: "get_online_mems", group: Group::Memory, flags: MEMORY,
        parse: |e, s, w| e.bare(s, w, Op::GetOnlineMems) },
    OpSpec { name: "put_online_mems", usage: "put_online_mems",
        summary: "put_online_mems(): release it",
        example: "put_online_mems", group: Group::Memory, flags: MEMORY,
        parse: |e, s, w| e.bare(s, w, Op::PutOnlineMems) },
    // drivers/acpi/scan.c, drivers/acpi/acpi_processor.c
    OpSpec { name: "acpi_cpu_hot_add", usage: "acpi_cpu_hot_add CPU",
        summary: "QEMU's device_add of processor CPU: acpi_device_hotplug(ACPI_NOTIFY_DEVICE_CHECK) → acpi_processor_add → acpi_processor_hotadd_init (acpi_map_cpu, arch_register_cpu)",
        example: "acpi_cpu_hot_add 3", group: Group::Acpi, flags: HOTPLUG_CPU,
        parse: |e, s, w| e.one_cpu(s, w).map(Op::AcpiCpuHotAdd) },
    OpSpec { name: "acpi_cpu_hot_remove", usage: "acpi_cpu_hot_remove CPU",
        summary: "QEMU's device_del of processor CPU: acpi_device_hotplug(ACPI_NOTIFY_EJECT_REQUEST) → acpi_scan_hot_remove (device_offline, acpi_processor_remove, _EJ0)",
        example: "acpi_cpu_hot_remove 3", group: Group::Acpi, flags: HOTPLUG_CPU,
        parse: |e, s, w| e.one_cpu(s, w).map(Op::AcpiCpuHotRemove) },
    // kernel/locking/mutex.c
    OpSpec { name: "mutex_lock", usage: "mutex_lock MUTEX",
        summary: "mutex_lock(&MUTEX), a mutex of the case by name",
        example: "mutex_lock m", group: Group::Locking, flags: PLAIN,
        parse: |e, s, w| e.one_word(s, w).map(Op::Lock) },
    OpSpec { name: "mutex_unlock", usage: "mutex_unlock MUTEX",
        summary: "mutex_unlock(&MUTEX): -EPERM if it is not held",
        example: "mutex_unlock m", group: Group::Locking, flags: PLAIN,
        parse: |e, s, w| e.one_word(s, w).map(Op::Unlock) },
    // kernel/stop_machine.c
    OpSpec { name: "stop_one_cpu", usage: "stop_one_cpu CPU FUNC",
        summary: "stop_one_cpu(CPU, FUNC, NULL): run FUNC on CPU's stopper and wait; -ENOENT if it is disabled",
        example: "stop_one_cpu 1 f", group: Group::Stop, flags: PLAIN,
        parse: |e, s, w| e.stop_one(s, w, false) },
    OpSpec { name: "stop_one_cpu_nowait", usage: "stop_one_cpu_nowait CPU FUNC",
        summary: "stop_one_cpu_nowait(CPU, FUNC, NULL, &work): queue FUNC on CPU's stopper; 1 if queued, 0 if disabled",
        example: "stop_one_cpu_nowait 1 f", group: Group::Stop, flags: IRQ,
        parse: |e, s, w| e.stop_one(s, w, true) },
    OpSpec { name: "stop_two_cpus", usage: "stop_two_cpus CPU1 CPU2 FUNC",
        summary: "stop_two_cpus(CPU1, CPU2, FUNC, NULL): multi_cpu_stop on both, FUNC on CPU1; -ENOENT unless both stoppers are enabled",
        example: "stop_two_cpus 0 1 f", group: Group::Stop, flags: PLAIN,
        parse: |e, s, w| e.stop_two(s, w) },
    // kernel/sched/core.c
    OpSpec { name: "sched_setaffinity", usage: "sched_setaffinity TASK CPULIST",
        summary: "sched_setaffinity(TASK, CPULIST) on a [[task]] of the case: -EINVAL unless an active CPU is in it; a task on a CPU outside it is moved by migration_cpu_stop on its stopper, and the caller waits for that",
        example: "sched_setaffinity hog 0", group: Group::Sched, flags: PLAIN,
        parse: |e, s, w| e.setaffinity(s, w) },
    // kernel/rcu/tree.c
    OpSpec { name: "synchronize_rcu", usage: "synchronize_rcu",
        summary: "synchronize_rcu(): queue wakeme_after_rcu on this CPU and wait until a grace period has ended and it ran",
        example: "synchronize_rcu", group: Group::Rcu, flags: RCU,
        parse: |e, s, w| e.bare(s, w, Op::SynchronizeRcu) },
    OpSpec { name: "call_rcu", usage: "call_rcu",
        summary: "call_rcu() of a callback of the case on the calling CPU; it runs after a later grace period ends",
        example: "call_rcu", group: Group::Rcu, flags: RCU_IRQ,
        parse: |e, s, w| e.bare(s, w, Op::CallRcu) },
    // include/linux/irqflags.h, include/linux/preempt.h
    OpSpec { name: "local_irq_disable", usage: "local_irq_disable",
        summary: "local_irq_disable() on the calling task",
        example: "local_irq_disable", group: Group::Context, flags: PLAIN,
        parse: |e, s, w| e.bare(s, w, Op::LocalIrqDisable) },
    OpSpec { name: "local_irq_enable", usage: "local_irq_enable",
        summary: "local_irq_enable()",
        example: "local_irq_enable", group: Group::Context, flags: PLAIN,
        parse: |e, s, w| e.bare(s, w, Op::LocalIrqEnable) },
    OpSpec { name: "preempt_disable", usage: "preempt_disable",
        summary: "preempt_disable() on the calling task",
        example: "preempt_disable", group: Group::Context, flags: PLAIN,
        parse: |e, s, w| e.bare(s, w, Op::PreemptDisable) },
    OpSpec { name: "preempt_enable", usage: "preempt_enable",
        summary: "preempt_enable()",
        example: "preempt_enable", group: Group::Context, flags: PLAIN,
        parse: |e, s, w| e.bare(s, w, Op::PreemptEnable) },
    // kernel/module/, and the cpuhp_* registration of kernel/cpu.c
    OpSpec { name: "insmod", usage: "insmod MODULE",
        summary: "load MODULE and run its init: cpuhp_setup_state*() of each declared state, then its instances",
        example: "insmod demo", group: Group::Modules, flags: PLAIN,
        parse: |e, s, w| e.one_module(s, w).map(Op::Insmod) },
    OpSpec { name: "rmmod", usage: "rmmod MODULE",
        summary: "run MODULE's exit: remove its instances and states, newest first, then unload it",
        example: "rmmod demo", group: Group::Modules, flags: PLAIN,
        parse: |e, s, w| e.one_module(s, w).map(Op::Rmmod) },
    OpSpec { name: "cpuhp_setup_state", usage: "cpuhp_setup_state STATE",
        summary: "cpuhp_setup_state(): register the declared STATE, running its startup on the online CPUs",
        example: "cpuhp_setup_state demo:online", group: Group::Modules, flags: PLAIN,
        parse: |e, s, w| e.setup(s, w, SetupKind::Calls) },
    OpSpec { name: "cpuhp_setup_state_nocalls", usage: "cpuhp_setup_state_nocalls STATE",
        summary: "cpuhp_setup_state_nocalls(): register STATE without calling its startup",
        example: "cpuhp_setup_state_nocalls demo:online", group: Group::Modules, flags: PLAIN,
        parse: |e, s, w| e.setup(s, w, SetupKind::Nocalls) },
    OpSpec { name: "cpuhp_setup_state_multi", usage: "cpuhp_setup_state_multi STATE",
        summary: "cpuhp_setup_state_multi(): register the multi-instance STATE",
        example: "cpuhp_setup_state_multi demo:online", group: Group::Modules, flags: PLAIN,
        parse: |e, s, w| e.setup(s, w, SetupKind::Multi) },
    OpSpec { name: "cpuhp_remove_state", usage: "cpuhp_remove_state STATE",
        summary: "cpuhp_remove_state(): remove STATE's latest registration, running its teardown",
        example: "cpuhp_remove_state demo:online", group: Group::Modules, flags: PLAIN,
        parse: |e, s, w| e.remove(s, w, RemoveKind::Calls) },
    OpSpec { name: "cpuhp_remove_state_nocalls", usage: "cpuhp_remove_state_nocalls STATE",
        summary: "cpuhp_remove_state_nocalls(): remove it without calling its teardown",
        example: "cpuhp_remove_state_nocalls demo:online", group: Group::Modules, flags: PLAIN,
        parse: |e, s, w| e.remove(s, w, RemoveKind::Nocalls) },
    OpSpec { name: "cpuhp_remove_multi_state", usage: "cpuhp_remove_multi_state STATE",
        summary: "cpuhp_remove_multi_state(): remove the multi-instance STATE",
        example: "cpuhp_remove_multi_state demo:online", group: Group::Modules, flags: PLAIN,
        parse: |e, s, w| e.remove(s, w, RemoveKind::Multi) },
    OpSpec { name: "cpuhp_state_add_instance", usage: "cpuhp_state_add_instance STATE INSTANCE",
        summary: "cpuhp_state_add_instance(): add INSTANCE to STATE, running its startup",
        example: "cpuhp_state_add_instance demo:online a", group: Group::Modules, flags: PLAIN,
        parse: |e, s, w| e.instance(s, w, true, true) },
    OpSpec { name: "cpuhp_state_add_instance_nocalls", usage: "cpuhp_state_add_instance_nocalls STATE INSTANCE",
        summary: "cpuhp_state_add_instance_nocalls(): add it without calling the startup",
        example: "cpuhp_state_add_instance_nocalls demo:online a", group: Group::Modules, flags: PLAIN,
        parse: |e, s, w| e.instance(s, w, true, false) },
    OpSpec { name: "cpuhp_state_remove_instance", usage: "cpuhp_state_remove_instance STATE INSTANCE",
        summary: "cpuhp_state_remove_instance(): remove INSTANCE from STATE, running its teardown",
        example: "cpuhp_state_remove_instance demo:online a", group: Group::Modules, flags: PLAIN,
        parse: |e, s, w| e.instance(s, w, false, true) },
    OpSpec { name: "cpuhp_state_remove_instance_nocalls", usage: "cpuhp_state_remove_instance_nocalls STATE INSTANCE",
        summary: "cpuhp_state_remove_instance_nocalls(): remove it without calling the teardown",
        example: "cpuhp_state_remove_instance_nocalls demo:online a", group: Group::Modules, flags: PLAIN,
        parse: |e, s, w| e.instance(s, w, false, false) },
    // drivers/base/cpu.c, drivers/base/memory.c, lib/notifier-error-inject.c
    OpSpec { name: "echo", usage: "echo VALUE > FILE",
        summary: "write VALUE to FILE: online_store(), fail_store(), target_store(), state_store(), ...",
        example: "echo 0 > cpu1/online", group: Group::Sysfs, flags: PLAIN,
        parse: |e, s, w| e.echo(s, w) },
];

impl OpSpec {
    /// The row of an operation name.
    pub fn find(name: &str) -> Option<&'static OpSpec> {
        OPERATIONS.iter().find(|s| s.name == name)
    }
}

/// The usages of the rows `keep` selects, comma-separated: the help in
/// parse errors.
fn usages(keep: fn(&OpSpec) -> bool) -> String {
    OPERATIONS.iter().filter(|s| keep(s)).map(|s| s.usage).collect::<Vec<_>>().join(", ")
}

/// The operations an interrupt handler may run.
pub fn irq_ops() -> String {
    usages(|s| s.flags.irq)
}

/// The table as `hotplug-fi ops` prints it: a heading per group, then each
/// operation's usage and summary on one line.
pub fn ops_listing() -> String {
    let width = OPERATIONS.iter().map(|s| s.usage.len()).max().unwrap_or(0);
    let mut out = String::new();
    for (i, s) in OPERATIONS.iter().enumerate() {
        if i == 0 || OPERATIONS[i - 1].group != s.group {
            let gap = if i == 0 { "" } else { "\n" };
            out += &format!("{gap}{}\n", s.group.title());
        }
        out += &format!("  {:<width$}  {}{}\n", s.usage, s.summary, s.flags.note());
    }
    out + &format!("\nFILE: {FILES}\n")
}

impl OpLine {
    /// Whether an interrupt handler may run it.
    pub fn in_irq(&self) -> bool {
        self.spec.flags.irq
    }

    /// Whether it starts RCU's grace-period kthread.
    pub fn rcu(&self) -> bool {
        self.spec.flags.rcu
    }

    /// Whether it needs the memory model.
    pub fn memory(&self) -> bool {
        self.spec.flags.memory || matches!(self.op, Op::Write { file, .. } if file.memory())
    }
}

/// What op parsing needs to resolve names.
pub(super) struct Env<'a> {
    pub src: &'a Source<'a>,
    pub machine: &'a Machine,
    pub modules: &'a [ModuleDecl],
    pub tasks: &'a [super::TaskDecl],
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
    fn err(&self, span: &Range<usize>, at: usize, msg: impl Into<String>) -> CaseError {
        self.src.error_in(span, at, msg)
    }

    /// A list of operations (`ops`, a thread's, a handler's): at most
    /// `ops_max`, each parsed.
    pub fn op_list(&self, lines: &[Spanned<String>], what: &str) -> Result<Vec<OpLine>, CaseError> {
        OPS_MAX.count(self.src, what, lines.len(), |i| lines[i].span().start)?;
        lines.iter().map(|o| self.op_line(o)).collect()
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
        let (spec, op) = self.op(&span, &w)?;
        Ok(OpLine { op, spec, text: text.trim().to_string(), expect, span })
    }

    /// Looks the operation up in [`OPERATIONS`] and parses its arguments.
    fn op(&self, span: &Range<usize>, w: &[Word]) -> Result<(&'static OpSpec, Op), CaseError> {
        let Some(first) = w.first() else {
            return Err(self.err(span, 0, format!("empty operation; expected one of: {}", usages(|_| true))));
        };
        let spec = OpSpec::find(first.text).ok_or_else(|| self.unknown(span, first))?;
        let op = (spec.parse)(self, span, w)?;
        if spec.flags.hotplug_cpu && !self.machine.hotplug_cpu {
            return Err(self.err(
                span,
                first.at,
                format!("`{}` is not built with `hotplug_cpu = false` (CONFIG_HOTPLUG_CPU=n)", first.text),
            ));
        }
        Ok((spec, op))
    }

    /// An unknown operation: the nearest name, and every usage.
    fn unknown(&self, span: &Range<usize>, first: &Word) -> CaseError {
        let (name, all) = (first.text, usages(|_| true));
        let msg = match super::site::nearest(name, OPERATIONS.iter().map(|s| s.name)) {
            Some(n) => format!("unknown operation `{name}`; did you mean `{n}`? Operations: {all}"),
            None => format!("unknown operation `{name}`; expected one of: {all}"),
        };
        self.err(span, first.at, msg)
    }

    /// Exactly `n` arguments; else an error at the first extra one, or at
    /// the name when some are missing.
    fn arity(&self, span: &Range<usize>, w: &[Word], n: usize) -> Result<(), CaseError> {
        if w.len() == n + 1 {
            return Ok(());
        }
        let at = w.get(n + 1).map_or(w[0].at, |x| x.at);
        Err(self.err(span, at, format!("`{}` takes {n} argument(s), got {}", w[0].text, w.len() - 1)))
    }

    /// An operation without arguments.
    fn bare(&self, span: &Range<usize>, w: &[Word], op: Op) -> Result<Op, CaseError> {
        self.arity(span, w, 0).map(|()| op)
    }

    /// The one argument, a CPU.
    fn one_cpu(&self, span: &Range<usize>, w: &[Word]) -> Result<usize, CaseError> {
        self.arity(span, w, 1)?;
        self.cpu(span, &w[1])
    }

    /// The one argument, a name (a cache, a mutex).
    fn one_word(&self, span: &Range<usize>, w: &[Word]) -> Result<String, CaseError> {
        self.arity(span, w, 1)?;
        Ok(w[1].text.to_string())
    }

    /// The one argument, a declared module.
    fn one_module(&self, span: &Range<usize>, w: &[Word]) -> Result<usize, CaseError> {
        self.arity(span, w, 1)?;
        self.module(span, &w[1])
    }

    /// `FUNC WAIT`.
    fn func_wait(&self, span: &Range<usize>, w: &[Word]) -> Result<(String, bool), CaseError> {
        self.arity(span, w, 2)?;
        Ok((self.func(span, &w[1])?, self.wait(span, &w[2])?))
    }

    /// `CPU FUNC WAIT`.
    fn smp_single(&self, span: &Range<usize>, w: &[Word]) -> Result<Op, CaseError> {
        self.arity(span, w, 3)?;
        Ok(Op::SmpCallSingle {
            cpu: self.cpu(span, &w[1])?,
            func: self.func(span, &w[2])?,
            wait: self.wait(span, &w[3])?,
        })
    }

    /// `CPU FUNC`, for `stop_one_cpu` and its `_nowait` form.
    fn stop_one(&self, span: &Range<usize>, w: &[Word], nowait: bool) -> Result<Op, CaseError> {
        self.arity(span, w, 2)?;
        let (cpu, func) = (self.cpu(span, &w[1])?, self.func(span, &w[2])?);
        Ok(if nowait { Op::StopOneCpuNowait { cpu, func } } else { Op::StopOneCpu { cpu, func } })
    }

    /// `CPU1 CPU2 FUNC`. The kernel takes two distinct CPUs.
    fn stop_two(&self, span: &Range<usize>, w: &[Word]) -> Result<Op, CaseError> {
        self.arity(span, w, 3)?;
        let (cpu1, cpu2) = (self.cpu(span, &w[1])?, self.cpu(span, &w[2])?);
        if cpu1 == cpu2 {
            return Err(self.err(span, w[2].at, "`stop_two_cpus` takes two different CPUs: stop_two_cpus 0 1 f"));
        }
        Ok(Op::StopTwoCpus { cpu1, cpu2, func: self.func(span, &w[3])? })
    }

    /// `CPU FUNC`.
    fn smp_async(&self, span: &Range<usize>, w: &[Word]) -> Result<Op, CaseError> {
        self.arity(span, w, 2)?;
        Ok(Op::SmpCallAsync { cpu: self.cpu(span, &w[1])?, func: self.func(span, &w[2])? })
    }

    /// `CPULIST FUNC WAIT`.
    fn smp_many(&self, span: &Range<usize>, w: &[Word]) -> Result<Op, CaseError> {
        self.arity(span, w, 3)?;
        let mask = self.cpulist(span, &w[1])?;
        Ok(Op::SmpCallMany { mask, func: self.func(span, &w[2])?, wait: self.wait(span, &w[3])? })
    }

    /// `BLOCK [NID]`.
    fn add_memory(&self, span: &Range<usize>, w: &[Word]) -> Result<Op, CaseError> {
        if !(2..=3).contains(&w.len()) {
            return Err(self.err(
                span,
                w[0].at,
                "`add_memory` takes a block number and optionally a node: add_memory 32 [0]",
            ));
        }
        let index = self.block(span, &w[1])?;
        let nid = match w.get(2) {
            Some(n) => self.number(span, n, "a node number")?,
            None => 0,
        };
        Ok(Op::AddMemory { index, nid })
    }

    /// `BLOCK`.
    fn remove_memory(&self, span: &Range<usize>, w: &[Word]) -> Result<Op, CaseError> {
        self.arity(span, w, 1)?;
        Ok(Op::RemoveMemory(self.block(span, &w[1])?))
    }

    /// A registration's `STATE` (and `INSTANCE` when `n` is 2): a wrong
    /// count is an error at the name.
    fn state_args(&self, span: &Range<usize>, w: &[Word], n: usize) -> Result<(usize, usize), CaseError> {
        if w.len() != n + 1 {
            return Err(self.err(span, w[0].at, format!("`{}` takes {n} argument(s), got {}", w[0].text, w.len() - 1)));
        }
        self.state_decl(span, &w[1])
    }

    fn setup(&self, span: &Range<usize>, w: &[Word], kind: SetupKind) -> Result<Op, CaseError> {
        let (module, decl) = self.state_args(span, w, 1)?;
        Ok(Op::Setup { module, decl, kind })
    }

    fn remove(&self, span: &Range<usize>, w: &[Word], kind: RemoveKind) -> Result<Op, CaseError> {
        let (module, decl) = self.state_args(span, w, 1)?;
        Ok(Op::Remove { module, decl, kind })
    }

    /// `cpuhp_state_{add,remove}_instance[_nocalls] STATE INSTANCE`.
    fn instance(&self, span: &Range<usize>, w: &[Word], add: bool, invoke: bool) -> Result<Op, CaseError> {
        let (module, decl) = self.state_args(span, w, 2)?;
        let name = w[2].text.to_string();
        Ok(if add {
            Op::AddInstance { module, decl, name, invoke }
        } else {
            Op::RemoveInstance { module, decl, name, invoke }
        })
    }

    fn echo(&self, span: &Range<usize>, w: &[Word]) -> Result<Op, CaseError> {
        if w.len() != 4 || w[2].text != ">" {
            return Err(self.err(span, w[0].at, format!("expected `echo VALUE > FILE` with FILE one of {FILES}")));
        }
        let path = w[3].text.trim_start_matches("/sys/devices/system/cpu/");
        let bad = || self.err(span, w[3].at, format!("unknown file `{}`; expected one of {FILES}", w[3].text));
        if let Some(file) = self.memory_file(span, &w[3], path)? {
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
    /// and the injector's files (under `/sys/kernel/debug/`); `None` for
    /// another file, an error for a block number past `blocks_max`.
    fn memory_file(&self, span: &Range<usize>, w: &Word, path: &str) -> Result<Option<SysfsFile>, CaseError> {
        let path = path.trim_start_matches("/sys/devices/system/memory/").trim_start_matches("/sys/kernel/debug/");
        match path {
            "notifier-error-inject/memory/actions/MEM_GOING_ONLINE/error" => {
                return Ok(Some(SysfsFile::MemInject(true)));
            }
            "notifier-error-inject/memory/actions/MEM_GOING_OFFLINE/error" => {
                return Ok(Some(SysfsFile::MemInject(false)));
            }
            _ => {}
        }
        let Some((block, file)) = path.strip_prefix("memory").and_then(|p| p.split_once('/')) else { return Ok(None) };
        let Ok(block) = block.parse::<u64>() else { return Ok(None) };
        let block = BLOCKS_MAX.below("a memory block number", block).map_err(|m| self.err(span, w.at, m))? as u32;
        Ok(match file {
            "state" => Some(SysfsFile::MemState(block)),
            "online" => Some(SysfsFile::MemOnline(block)),
            _ => None,
        })
    }

    /// A memory block number, below `blocks_max`.
    fn block(&self, span: &Range<usize>, w: &Word) -> Result<u32, CaseError> {
        let n = w
            .text
            .parse::<u64>()
            .map_err(|_| self.err(span, w.at, format!("`{}` is not a memory block number", w.text)))?;
        Ok(BLOCKS_MAX.below("a memory block number", n).map_err(|m| self.err(span, w.at, m))? as u32)
    }

    fn number(&self, span: &Range<usize>, w: &Word, what: &str) -> Result<u32, CaseError> {
        w.text.parse().map_err(|_| self.err(span, w.at, format!("`{}` is not {what}", w.text)))
    }

    fn cpu(&self, span: &Range<usize>, w: &Word) -> Result<usize, CaseError> {
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
    fn func(&self, span: &Range<usize>, w: &Word) -> Result<String, CaseError> {
        let ok = w.text.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && w.text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok {
            return Err(self.err(span, w.at, format!("`{}` is not a C function name", w.text)));
        }
        Ok(w.text.to_string())
    }

    /// The `wait` argument: 0 or 1.
    fn wait(&self, span: &Range<usize>, w: &Word) -> Result<bool, CaseError> {
        match w.text {
            "0" => Ok(false),
            "1" => Ok(true),
            _ => Err(self.err(span, w.at, format!("`{}` is not a `wait` argument; expected 0 or 1", w.text))),
        }
    }

    /// A cpulist such as `1-3,5`.
    fn cpulist(&self, span: &Range<usize>, w: &Word) -> Result<CpuMask, CaseError> {
        CpuMask::parse_list(w.text, self.machine.cpus).ok_or_else(|| {
            self.err(
                span,
                w.at,
                format!("`{}` is not a cpulist of CPUs 0 to {}, such as 1-3", w.text, self.machine.cpus - 1),
            )
        })
    }

    /// `sched_setaffinity TASK CPULIST`.
    fn setaffinity(&self, span: &Range<usize>, w: &[Word]) -> Result<Op, CaseError> {
        self.arity(span, w, 2)?;
        let task = self.tasks.iter().position(|t| t.name == w[1].text).ok_or_else(|| {
            let names: Vec<&str> = self.tasks.iter().map(|t| t.name.as_str()).collect();
            self.err(
                span,
                w[1].at,
                format!("unknown task `{}`; the case's `[[task]]` tables: {}", w[1].text, list(&names)),
            )
        })?;
        Ok(Op::SchedSetaffinity { task, mask: self.cpulist(span, &w[2])? })
    }

    fn module(&self, span: &Range<usize>, w: &Word) -> Result<usize, CaseError> {
        self.modules.iter().position(|m| m.name == w.text).ok_or_else(|| {
            let names: Vec<&str> = self.modules.iter().map(|m| m.name.as_str()).collect();
            self.err(span, w.at, format!("unknown module `{}`; declared modules: {}", w.text, list(&names)))
        })
    }

    fn state_decl(&self, span: &Range<usize>, w: &Word) -> Result<(usize, usize), CaseError> {
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

/// Parses a behaviour of a callback on a machine with `cpus` CPUs; errors
/// carry the character offset in the string.
pub fn parse_behaviour(s: &str, cpus: usize) -> Result<Behaviour, (usize, String)> {
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
            Some("fail") if w.len() >= 2 => b.fail = Some(parse_fail(&w, offset, cpus)?),
            _ => {
                return Err((at, format!("unknown behaviour `{}`; expected comma-separated {FORMS}", part.trim())));
            }
        }
        offset += part.chars().count() + 1;
    }
    Ok(b)
}

fn parse_fail(w: &[Word], offset: usize, cpus: usize) -> Result<FailRule, (usize, String)> {
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
            "cpu" if (n as usize) < cpus => rule.on_cpu = Some(n as usize),
            "cpu" => {
                return Err((
                    offset + rest[2].at,
                    format!("CPU {n} does not exist; the machine has CPUs 0 to {}", cpus - 1),
                ));
            }
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
        let b = parse_behaviour("alloc, fail -ENOMEM on cpu 2 on call 3", 4).unwrap();
        assert_eq!(b.effects, vec![Effect::Alloc]);
        assert_eq!(b.fail, Some(FailRule { errno: -12, on_cpu: Some(2), on_call: Some(3) }));
        let (at, msg) = parse_behaviour("alloc, frée", 4).unwrap_err();
        assert_eq!(at, 7);
        assert!(msg.contains("unknown behaviour"));
        assert!(parse_behaviour("fail -EWHAT", 4).is_err());
        let (at, msg) = parse_behaviour("fail -ENOMEM on cpu 4", 4).unwrap_err();
        assert_eq!(at, 20);
        assert!(msg.contains("CPUs 0 to 3"), "{msg}");
    }

    #[test]
    fn word_offsets() {
        let w = words("  echo 1 >  cpu1/online");
        let at: Vec<usize> = w.iter().map(|x| x.at).collect();
        assert_eq!(at, vec![2, 7, 9, 12]);
    }
}
