//! The real-kernel oracle: the same scenarios on a real Linux under QEMU
//! (Debian's 6.1 by default), compared with the model. Tooling around the model, not a model of
//! a kernel file.
//!
//! Emulation is TCG unless `--accel kvm` asks for KVM: on the hosts this was
//! built on, `/dev/kvm` exists but KVM fails to boot the kernel
//! (docs/real-kernel.md#kvm), and trying it first would cost minutes on every run.
//!
//! One boot runs a batch: an initramfs holds a static busybox, the
//! notifier-injection modules and a generated `/init` that runs the
//! scenarios with shell builtins and prints one `@@` line per result on the
//! serial console, then powers off. The host reads the console under an
//! idle and a total limit (`oracle/qemu.rs`), runs the model on the same
//! scenarios, and prints an agreement table: real, model, verdict. Any
//! disagreement is a model bug to fix; the command then exits non-zero.
//! What the user points it at is checked first (`oracle/inputs.rs`, and
//! [`Plan::check`] before any boot); a failure shows the guest's last lines
//! and QEMU's stderr.
//!
//! Scenarios:
//! - the sticky armed-DEAD sequence and `hotplug/target` writes on cpu1;
//! - with `--smt`, a separate boot with SMT siblings (`-cpu
//!   Haswell-noTSX-IBRS`, 2 cores of 2 threads) and `nosmt`: onlining a
//!   sibling is refused until `smt/control` is `on`, and `off` takes the
//!   siblings down again;
//! - the fail knob on one CPU, in both directions, for every state the
//!   kernel names in `hotplug/states`, plus -2, an unnamed number (100) and
//!   `CPUHP_ONLINE + 1`: the `fail` write's result, the `online` write's
//!   result, and `hotplug/state`, `online` and `fail` afterwards; the CPU
//!   is brought back online with `fail` disarmed between scenarios, and
//!   that is checked;
//! - memory: offline and online of memory6 (booted with `movablecore=384M`,
//!   as docs/real-kernel.md#memory advises, so its offline does not depend on
//!   history), the online of an online block, the offline of memory7 (a
//!   hole), and `memory-notifier-error-inject` at `MEM_GOING_OFFLINE` and
//!   `MEM_GOING_ONLINE` with -12, -16 and -22.
//!
//! `--import-profile` writes the kernel's state table as probed
//! (`oracle/profile.rs`); `oracle CASE|DIR…` runs the suite's own cases in
//! the guest with the test module and compares them with the model
//! (`oracle/translate.rs`, `oracle/observe.rs`, `oracle/cases.rs`), and
//! `--print-script` prints that translation. The kernel is Debian's
//! (`oracle/debian.rs`: the 6.1 ABI the model cites unless
//! `--kernel-version` names another) or the user's (`--kernel`,
//! `--modules`, `--headers`). Left out
//! so far: the callback order from the `cpuhp` trace events (recorded once
//! in `tests/data/oracle-cpu1-seq-6.1.192.txt`), QEMU-monitor hot-add, and
//! loading an imported profile into a case.

pub mod cases;
pub mod chroot;
pub mod debian;
pub mod inputs;
pub mod kmod;
pub mod observe;
pub mod pieces;
mod profile;
pub mod qemu;
pub mod translate;

use std::path::Path;
use std::process::Command;

pub use profile::{Imported, ImportedState, check_target, import_profile, write_profile};
pub use qemu::{Console, Limits};

use crate::case::Case;
use crate::engine::{self, RunOpts};
use crate::errno;

/// The guest's CPUs (`-smp 4`, and 2 cores of 2 threads with `--smt`).
pub const GUEST_CPUS: usize = 4;

/// What to run in one boot.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    /// Sweep the fail knob on this CPU.
    pub cpu: Option<usize>,
    /// Run the memory scenarios.
    pub memory: bool,
    /// Limit the CPU sweep to the first N states (for CI's subset).
    pub limit: Option<usize>,
    /// Boot with SMT siblings (`-cpu Haswell-noTSX-IBRS`, 2 cores of 2
    /// threads) and `nosmt`, and run the SMT sequence instead.
    pub smt: bool,
    /// Use KVM instead of TCG (`--accel kvm`).
    pub kvm: bool,
}

impl Plan {
    /// Whether the guest can run the plan: the swept CPU exists and can be
    /// hotplugged (CPU 0 cannot), and `limit` has a sweep to limit.
    pub fn check(&self) -> Result<(), String> {
        let last = GUEST_CPUS - 1;
        match self.cpu {
            Some(0) => Err(format!(
                "--sweep-cpu 0: CPU 0 is the boot CPU, which cannot be hotplugged; give a CPU in 1..={last}"
            )),
            Some(c) if c > last => Err(format!(
                "--sweep-cpu {c}: the guest has CPUs 0..={last} (-smp {GUEST_CPUS}); give a CPU in 1..={last}"
            )),
            _ if self.limit.is_some() && self.cpu.is_none() => {
                Err("--limit N limits the CPU sweep; give --sweep-cpu too".into())
            }
            _ => Ok(()),
        }
    }

    /// [`Plan::check`], and the memory scenarios have their modules.
    fn check_for(&self, p: &pieces::Pieces) -> Result<(), String> {
        self.check()?;
        if self.memory && p.modules.len() != inputs::INJECT_MODULES.len() {
            return Err(format!(
                "the memory scenarios load {}; give --modules with --kernel (the modules tree of that kernel)",
                inputs::INJECT_MODULES.join(" and ")
            ));
        }
        Ok(())
    }
}

/// One row of the agreement table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    pub scenario: String,
    pub real: String,
    pub model: String,
}

impl Row {
    pub fn agrees(&self) -> bool {
        self.real == self.model
    }
}

/// What a batch gave.
#[derive(Debug)]
pub struct Outcome {
    pub rows: Vec<Row>,
    /// Seconds from launch to the guest's first line, and in all.
    pub boot_secs: f64,
    pub total_secs: f64,
    pub kernel: String,
}

/// The memory scenarios: (`echo` line as the model's case writes it, the
/// block whose state is read after it).
pub const MEMORY: &[&str] = &[
    "echo offline > memory6/state",
    "echo online > memory6/state",
    "echo online > memory6/state",
    "echo offline > memory7/state",
    "echo -12 > notifier-error-inject/memory/actions/MEM_GOING_OFFLINE/error",
    "echo offline > memory6/state",
    "echo -16 > notifier-error-inject/memory/actions/MEM_GOING_OFFLINE/error",
    "echo offline > memory6/state",
    "echo -22 > notifier-error-inject/memory/actions/MEM_GOING_OFFLINE/error",
    "echo offline > memory6/state",
    "echo 0 > notifier-error-inject/memory/actions/MEM_GOING_OFFLINE/error",
    "echo offline > memory6/state",
    "echo -12 > notifier-error-inject/memory/actions/MEM_GOING_ONLINE/error",
    "echo online > memory6/state",
    "echo -16 > notifier-error-inject/memory/actions/MEM_GOING_ONLINE/error",
    "echo online > memory6/state",
    "echo -22 > notifier-error-inject/memory/actions/MEM_GOING_ONLINE/error",
    "echo online > memory6/state",
    "echo 0 > notifier-error-inject/memory/actions/MEM_GOING_ONLINE/error",
    "echo online > memory6/state",
];

/// CPU sequences, each from cpu1 online with `fail` disarmed: the sticky
/// armed-DEAD sequence (docs/real-kernel.md#the-sticky-dead-sequence) and `hotplug/target`
/// writes. After each write: its result, and cpu1's state, online, fail.
/// `ONLINE` and `TEARDOWN` stand for the numbers of `CPUHP_ONLINE` and
/// `CPUHP_TEARDOWN_CPU`, which differ between kernels: the guest reads
/// them from `hotplug/states` (`online`, `cpu:teardown`), the model from
/// its profile ([`sequence_op`]).
pub const CPU_SEQUENCES: &[&[&str]] = &[
    &["echo 0 > cpu1/online", "echo 9 > cpu1/hotplug/fail", "echo 1 > cpu1/online", "echo 0 > cpu1/online"],
    &[
        "echo 0 > cpu1/hotplug/target",
        "echo 0 > cpu1/hotplug/target",
        "echo TEARDOWN > cpu1/hotplug/target",
        "echo 100 > cpu1/hotplug/target",
        "echo x > cpu1/hotplug/target",
        "echo ONLINE > cpu1/hotplug/target",
    ],
];

/// A sequence's operation with the model's numbers for `ONLINE` and
/// `TEARDOWN` (the default profile's `CPUHP_ONLINE`, `CPUHP_TEARDOWN_CPU`).
pub fn sequence_op(op: &str) -> String {
    let p = crate::kernel::cpuhotplug::Profile::builtin("debian-6.1").expect("the default profile is built in");
    op.replace("ONLINE", &p.a.online.to_string()).replace("TEARDOWN", &p.a.teardown_cpu.to_string())
}

/// A sequence's value as the guest writes it: its own numbers, read at
/// boot (`$ONL`, `$TDN` in [`INIT_HEAD`]).
fn guest_value(value: &str) -> &str {
    match value {
        "ONLINE" => "$ONL",
        "TEARDOWN" => "$TDN",
        v => v,
    }
}

/// Boots once with the plan's `/init` (once the plan is checked).
fn run_raw(p: &pieces::Pieces, plan: &Plan, limits: Limits) -> Result<Console, String> {
    plan.check_for(p)?;
    let cpio = initramfs(p, plan)?;
    let dir = tempfile::tempdir().map_err(|e| format!("cannot make a temporary directory: {e}"))?;
    let initrd = dir.path().join("initrd.cpio");
    std::fs::write(&initrd, cpio).map_err(|e| format!("{}: {e}", initrd.display()))?;
    qemu::run(qemu_command(p, &initrd, plan)?, limits)
}

/// The SMT sequence on a `nosmt` boot: after each write, its result,
/// `smt/control`, and `online` of cpu1 and cpu3 (the siblings).
pub const SMT_SEQUENCE: &[&str] = &[
    "echo 1 > cpu1/online",
    "echo 1 > cpu3/online",
    "echo on > smt/control",
    "echo 1 > cpu1/online",
    "echo 0 > cpu1/online",
    "echo off > smt/control",
    "echo 1 > cpu3/online",
];

/// Runs a batch on the real kernel and the model, row by row. The plan is
/// checked before anything boots; an error shows the guest's last lines
/// and QEMU's stderr.
pub fn run(p: &pieces::Pieces, plan: &Plan, limits: Limits) -> Result<Outcome, String> {
    let con = run_raw(p, plan, limits)?;
    let rows = rows(plan, &con.lines).map_err(|e| con.failure(&e))?;
    Ok(Outcome { rows, boot_secs: con.boot_secs, total_secs: con.total_secs, kernel: p.version.clone() })
}

/// The agreement rows of a boot's console lines.
fn rows(plan: &Plan, lines: &[String]) -> Result<Vec<Row>, String> {
    let mut rows = Vec::new();
    for l in lines {
        if let Some(r) = l.strip_prefix("@@R ") {
            rows.push(cpu_row(plan.cpu.unwrap_or(1), r)?);
        }
    }
    if plan.cpu.is_some() {
        rows.extend(sequence_rows(lines)?);
    }
    if plan.memory {
        rows.extend(memory_rows(lines)?);
    }
    if plan.smt {
        rows.extend(smt_rows(lines)?);
    }
    if let Some(bad) = lines.iter().find(|l| l.starts_with("@@RECOVER-FAILED")) {
        return Err(format!("the guest could not bring the CPU back between scenarios: {bad}"));
    }
    if rows.is_empty() {
        return Err("the guest reported no scenario".into());
    }
    Ok(rows)
}

/// A CPU row: `X dir setfail write state online fail`, and the model's.
fn cpu_row(cpu: usize, r: &str) -> Result<Row, String> {
    let f: Vec<&str> = r.split_whitespace().collect();
    if f.len() != 7 {
        return Err(format!("malformed result line `@@R {r}`"));
    }
    let x: i64 = f[0].parse().map_err(|_| format!("malformed state in `@@R {r}`"))?;
    let up = f[1] == "up";
    let real = f[2..].join(" ");
    Ok(Row { scenario: format!("cpu{cpu} {} fail={x}", f[1]), real, model: model_cpu(cpu, x, up) })
}

/// The oracle's procedure in the model: bring the CPU to the precondition,
/// write `fail`, and only if that was accepted write `online`.
pub fn model_cpu(cpu: usize, x: i64, up: bool) -> String {
    let mut ops = Vec::new();
    if up {
        ops.push(format!("echo 0 > cpu{cpu}/online"));
    }
    ops.push(format!("echo {x} > cpu{cpu}/hotplug/fail"));
    let armed = model_run(&ops, 4);
    let setfail = oracle_name(*armed.results().last().expect("an op ran"));
    if setfail != "OK" {
        let st = &armed.state.cpu.cpuhp[cpu];
        let online = u8::from(!armed.state.cpu.dev_offline.test(cpu));
        return format!("{setfail} - {} {online} -", st.state);
    }
    ops.push(format!("echo {} > cpu{cpu}/online", if up { 1 } else { 0 }));
    let res = model_run(&ops, 4);
    let write = oracle_name(*res.results().last().expect("an op ran"));
    let st = &res.state.cpu.cpuhp[cpu];
    let online = u8::from(!res.state.cpu.dev_offline.test(cpu));
    format!("{setfail} {write} {} {online} {}", st.state, st.fail)
}

/// Rows of a sequence: the guest's `tag` lines against the model's answers,
/// one per scenario name.
fn paired_rows(lines: &[String], tag: &str, names: Vec<String>, model: Vec<String>) -> Result<Vec<Row>, String> {
    let real: Vec<&str> = lines.iter().filter_map(|l| l.strip_prefix(tag)).collect();
    if real.len() != names.len() {
        return Err(format!("the guest reported {} of {} `{}` results", real.len(), names.len(), tag.trim()));
    }
    Ok(names
        .into_iter()
        .zip(real)
        .zip(model)
        .map(|((scenario, r), m)| Row { scenario, real: r.trim().to_string(), model: m })
        .collect())
}

/// The CPU sequence rows.
fn sequence_rows(lines: &[String]) -> Result<Vec<Row>, String> {
    let names = CPU_SEQUENCES
        .iter()
        .enumerate()
        .flat_map(|(i, seq)| seq.iter().map(move |op| format!("sequence {}: {}", i + 1, sequence_op(op))))
        .collect();
    paired_rows(lines, "@@S ", names, model_sequences())
}

/// The CPU sequences in the model: each write's result, then cpu1's state,
/// online and fail.
pub fn model_sequences() -> Vec<String> {
    let mut out = Vec::new();
    for seq in CPU_SEQUENCES {
        for n in 1..=seq.len() {
            let ops: Vec<String> = seq[..n].iter().map(|s| sequence_op(s)).collect();
            let res = model_run(&ops, 4);
            let r = oracle_name(*res.results().last().expect("an op ran"));
            let st = &res.state.cpu.cpuhp[1];
            let online = u8::from(!res.state.cpu.dev_offline.test(1));
            out.push(format!("{r} {} {online} {}", st.state, st.fail));
        }
    }
    out
}

/// The SMT rows.
fn smt_rows(lines: &[String]) -> Result<Vec<Row>, String> {
    let names = SMT_SEQUENCE.iter().map(|op| format!("nosmt: {op}")).collect();
    paired_rows(lines, "@@T ", names, model_smt())
}

/// The SMT sequence in the model: 4 CPUs, 2 threads per core, `nosmt`.
pub fn model_smt() -> Vec<String> {
    let mut out = Vec::new();
    for n in 1..=SMT_SEQUENCE.len() {
        let ops: Vec<String> = SMT_SEQUENCE[..n].iter().map(|o| format!("\"{o}\"")).collect();
        let text = format!(
            "description = \"oracle\"\nops = [{}]\n[machine]\ncpus = 4\nthreads_per_core = 2\ncmdline = \"nosmt\"\n",
            ops.join(", ")
        );
        let res = model_case(&text);
        let r = oracle_name(*res.results().last().expect("an op ran"));
        let c = &res.state.cpu;
        let online = |cpu: usize| u8::from(!c.dev_offline.test(cpu));
        // smt/active: active_show() reads sched_smt_active().
        let active = u8::from(res.state.sched.smt_present > 0);
        out.push(format!("{r} {} {} {} {active}", c.smt_control.show(), online(1), online(3)));
    }
    out
}

/// The memory rows: each write's result and memory6's state after it.
fn memory_rows(lines: &[String]) -> Result<Vec<Row>, String> {
    paired_rows(lines, "@@M ", MEMORY.iter().map(|op| op.to_string()).collect(), model_memory())
}

/// The memory scenarios in the model, one run: each result and memory6's
/// state after it.
pub fn model_memory() -> Vec<String> {
    let mut out = Vec::new();
    for n in 1..=MEMORY.len() {
        let ops: Vec<String> = MEMORY[..n].iter().map(|s| s.to_string()).collect();
        let res = model_run(&ops, 4);
        let r = oracle_name(*res.results().last().expect("an op ran"));
        let b = res.state.mem.block(6).map(|b| res.state.mem.blocks[b].state.show()).unwrap_or("?");
        out.push(format!("{r} {b}"));
    }
    out
}

fn model_run(ops: &[String], cpus: usize) -> engine::RunResult {
    let ops: Vec<String> = ops.iter().map(|o| format!("\"{o}\"")).collect();
    model_case(&format!("description = \"oracle\"\nops = [{}]\n[machine]\ncpus = {cpus}\n", ops.join(", ")))
}

/// The plain run of a generated case, through the one run-to-verdict path.
fn model_case(text: &str) -> engine::RunResult {
    let case = Case::parse("oracle.toml", "oracle", text).expect("an oracle scenario parses");
    let opts = RunOpts::default();
    crate::verdict::run(&case, crate::verdict::Scenario::plain(&case, &opts), &opts)
        .expect("a run without faults")
        .result
}

/// The model's trace of `ops` on a 4-CPU machine, from operation `from`
/// on, in the notation of the kernel's `cpuhp` tracepoints for `cpu`
/// (`197` entered, `m211` an instance, `K154` a kick, `!197=-11` a failure):
/// only what runs on an online CPU is traced, so STARTING/DYING callbacks
/// are left out, and so is the knob's injected failure.
pub fn model_tracepoints(ops: &[String], from: usize, cpu: u16) -> String {
    use crate::kernel::trace::{CbHow, Event};
    let res = model_run(ops, 4);
    let profile = &crate::kernel::cpuhotplug::Profile::builtin("debian-6.1").expect("the default profile is built in");
    let events = &res.state.trace.events;
    let start =
        events.iter().position(|e| matches!(e, Event::Op(at) if at.op as usize == from)).unwrap_or(events.len());
    let mut toks = Vec::new();
    let mut kicks = Vec::new();
    for e in &events[start..] {
        match e {
            Event::CbEnter(ev) if ev.cpu == cpu && !profile.is_atomic(ev.state) => {
                let m = if ev.inst.is_some() { "m" } else { "" };
                toks.push(format!("{m}{}", ev.state));
            }
            Event::CbExit(ev, CbHow::Ran, ret) if ev.cpu == cpu && *ret != 0 && !profile.is_atomic(ev.state) => {
                toks.push(format!("!{}={ret}", ev.state));
            }
            Event::Kick { cpu: c, state } if *c == cpu => {
                kicks.push(*state);
                toks.push(format!("K{state}"));
            }
            Event::KickRet { cpu: c, ret } if *c == cpu => {
                let state = kicks.pop().expect("a kick returns after it started");
                if *ret != 0 {
                    toks.push(format!("!{state}={ret}"));
                }
            }
            _ => {}
        }
    }
    if toks.is_empty() { "-".to_string() } else { toks.join(",") }
}

/// `OK` for 0, `EAGAIN` for -11: how the guest spells results.
pub fn oracle_name(ret: Option<i64>) -> String {
    match ret {
        Some(0) => "OK".to_string(),
        Some(r) => errno::name(r).trim_start_matches('-').to_string(),
        None => "(did not return)".to_string(),
    }
}

/// The initramfs: busybox, the modules, `/init`, as a newc cpio.
fn initramfs(p: &pieces::Pieces, plan: &Plan) -> Result<Vec<u8>, String> {
    let mut c = guest_root(p)?;
    add_modules(&mut c, p)?;
    c.file("init", 0o100755, init_script(plan).as_bytes());
    Ok(c.finish())
}

/// Every guest's root: its directories, the console node and busybox.
fn guest_root(p: &pieces::Pieces) -> Result<Cpio, String> {
    let mut c = Cpio::default();
    for d in ["bin", "dev", "proc", "sys", "tmp", "lib", "lib/modules"] {
        c.dir(d);
    }
    c.node("dev/console", 0o020600, (5, 1));
    let bb = std::fs::read(&p.busybox).map_err(|e| format!("{}: {e}", p.busybox.display()))?;
    c.file("bin/busybox", 0o100755, &bb);
    Ok(c)
}

/// The kernel's own modules the oracle loads (the notifier injectors), in
/// `lib/modules/` as plain `.ko` (busybox's insmod may not decompress).
fn add_modules(c: &mut Cpio, p: &pieces::Pieces) -> Result<(), String> {
    for (m, name) in p.modules.iter().zip(inputs::INJECT_MODULES) {
        let data = plain_module(m)?;
        c.file(&format!("lib/modules/{name}"), 0o100644, &data);
    }
    Ok(())
}

/// A module's bytes, decompressed with `xz` or `zstd` if its name says so.
fn plain_module(m: &Path) -> Result<Vec<u8>, String> {
    let tool = match m.extension().and_then(|x| x.to_str()) {
        Some("xz") => "xz",
        Some("zst") => "zstd",
        _ => return std::fs::read(m).map_err(|e| format!("{}: {e}", m.display())),
    };
    let what = format!("{tool} --decompress {}", m.display());
    let out = pieces::output_within(
        Command::new(tool).args(["--decompress", "--stdout"]).arg(m),
        pieces::QUICK_TIMEOUT,
        &what,
    )?;
    if !out.status.success() || out.stdout.is_empty() {
        return Err(format!("{what} failed: {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(out.stdout)
}

/// The guest's `/init`: shell builtins only, one `@@` line per result.
pub fn init_script(plan: &Plan) -> String {
    let mut s = String::from(INIT_HEAD);
    if let Some(cpu) = plan.cpu {
        let limit = plan.limit.map_or(String::new(), |n| format!(" | head -n {n}"));
        s.push_str("sed -n 's/^ *\\([0-9]*\\): \\(.*\\)/@@STATE \\1 \\2/p' $C/hotplug/states\n");
        s.push_str(&format!(
            "xs=\"-2 $(sed -n 's/^ *\\([0-9]*\\):.*/\\1/p' $C/hotplug/states{limit}) 100 $((ONL + 1))\"\nfor x in $xs; do scn {cpu} down $x; scn {cpu} up $x; done\n"
        ));
        for seq in CPU_SEQUENCES {
            s.push_str("recover 1\n");
            for op in *seq {
                let (value, file) = op.trim_start_matches("echo ").split_once(" > ").expect("an echo line");
                let value = guest_value(value);
                s.push_str(&format!(
                    "r=$(w {value} {}); echo \"@@S $r $(cat $C/cpu1/hotplug/state) $(cat $C/cpu1/online) $(cat $C/cpu1/hotplug/fail)\"\n",
                    guest_path(file)
                ));
            }
        }
        s.push_str("recover 1\n");
    }
    if plan.memory {
        s.push_str(
            "insmod /lib/modules/notifier-error-inject.ko; insmod /lib/modules/memory-notifier-error-inject.ko\n",
        );
        for op in MEMORY {
            let (value, file) = op.trim_start_matches("echo ").split_once(" > ").expect("an echo line");
            s.push_str(&format!("r=$(w {value} {}); echo \"@@M $r $(cat $M/memory6/state)\"\n", guest_path(file)));
        }
    }
    if plan.smt {
        for op in SMT_SEQUENCE {
            let (value, file) = op.trim_start_matches("echo ").split_once(" > ").expect("an echo line");
            s.push_str(&format!(
                "r=$(w {value} {}); echo \"@@T $r $(cat $C/smt/control) $(cat $C/cpu1/online) $(cat $C/cpu3/online) $(cat $C/smt/active)\"\n",
                guest_path(file)
            ));
        }
    }
    s.push_str("echo @@DONE\npoweroff -f\n");
    s
}

/// A file of a case's `echo` in the guest's tree.
pub fn guest_path(file: &str) -> String {
    if file.starts_with("memory") {
        format!("/sys/devices/system/memory/{file}")
    } else if file.starts_with("notifier-error-inject") {
        format!("/sys/kernel/debug/{file}")
    } else {
        format!("/sys/devices/system/cpu/{file}")
    }
}

const INIT_HEAD: &str = r#"#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t debugfs debugfs /sys/kernel/debug
echo "@@BOOT $(cut -d' ' -f1 /proc/uptime)"
C=/sys/devices/system/cpu
M=/sys/devices/system/memory
ONL=$(sed -n 's/^ *\([0-9]*\): online$/\1/p' $C/hotplug/states)
TDN=$(sed -n 's/^ *\([0-9]*\): cpu:teardown$/\1/p' $C/hotplug/states)
errname() {
  case "$1" in
    *"Resource temporarily unavailable"*) echo EAGAIN;;
    *"Invalid argument"*) echo EINVAL;;
    *"Operation not permitted"*) echo EPERM;;
    *"Device or resource busy"*) echo EBUSY;;
    *"Cannot allocate memory"*) echo ENOMEM;;
    *"Interrupted system call"*) echo EINTR;;
    *"No such device"*) echo ENODEV;;
    *"No such file or directory"*) echo ENOENT;;
    *"Operation canceled"*) echo ECANCELED;;
    *"Numerical result out of range"*) echo ERANGE;;
    *) echo "UNKNOWN";;
  esac
}
# The shell's own echo writes a value, so the writer is this shell (`init`)
# as it is for a user's `echo`; a value echo would take as its option
# (`-n`) goes through printf and cat, since busybox's printf does not say
# why a write failed.
put() { case "$1" in -|-*[!0-9]*) printf '%s\n' "$1" | cat;; *) echo "$1";; esac; }
w() { if { put "$1" > "$2"; } 2>/tmp/e; then echo OK; else errname "$(cat /tmp/e)"; fi; }
recover() {
  echo -1 > $C/cpu$1/hotplug/fail
  for i in 1 2 3; do
    [ "$(cat $C/cpu$1/hotplug/state)" = "$ONL" ] && [ "$(cat $C/cpu$1/online)" = 1 ] && return 0
    echo 0 > $C/cpu$1/online 2>/dev/null; echo 1 > $C/cpu$1/online 2>/dev/null
  done
  echo "@@RECOVER-FAILED cpu$1 state $(cat $C/cpu$1/hotplug/state) online $(cat $C/cpu$1/online)"
}
scn() {
  cpu=$1; dir=$2; x=$3; F=$C/cpu$cpu/hotplug/fail
  recover $cpu
  [ $dir = up ] && echo 0 > $C/cpu$cpu/online
  sf=$(w $x $F); wr=-; fa=-
  if [ $sf = OK ]; then
    if [ $dir = down ]; then wr=$(w 0 $C/cpu$cpu/online); else wr=$(w 1 $C/cpu$cpu/online); fi
    fa=$(cat $F)
  fi
  echo "@@R $x $dir $sf $wr $(cat $C/cpu$cpu/hotplug/state) $(cat $C/cpu$cpu/online) $fa"
  recover $cpu
}
"#;

/// QEMU's command line for one boot of the plan.
fn qemu_command(p: &pieces::Pieces, initrd: &Path, plan: &Plan) -> Result<Command, String> {
    // SMT siblings need a CPU model with HT (docs/real-kernel.md#smt).
    let smp = GUEST_CPUS.to_string();
    let (cpu, smp, extra) = if plan.smt {
        ("Haswell-noTSX-IBRS", format!("{smp},sockets=1,cores=2,threads=2"), " nosmt")
    } else {
        ("qemu64", smp, "")
    };
    if plan.kvm && !Path::new("/dev/kvm").exists() {
        return Err("--accel kvm: /dev/kvm does not exist; use the default, --accel tcg".into());
    }
    let (accel, cpu) = if plan.kvm { ("kvm", "host") } else { ("tcg", cpu) };
    let append = format!("{APPEND}{extra}");
    Ok(qemu_line(p, accel, cpu, &smp, initrd, &append))
}

/// The kernel command line every boot starts from.
const APPEND: &str = "console=ttyS0 panic=-1 quiet movablecore=384M";

/// QEMU booting `p`'s kernel with `initrd` on the serial console: the one
/// command line of every boot, with its accelerator, CPU model, `-smp` and
/// kernel command line.
fn qemu_line(p: &pieces::Pieces, accel: &str, cpu: &str, smp: &str, initrd: &Path, append: &str) -> Command {
    let mut cmd = Command::new(&p.qemu);
    cmd.args(["-accel", accel, "-cpu", cpu, "-smp", smp, "-m", "1G,slots=4,maxmem=4G"])
        .args(["-nographic", "-no-reboot", "-monitor", "none", "-serial", "stdio"])
        .arg("-kernel")
        .arg(&p.kernel)
        .arg("-initrd")
        .arg(initrd)
        .arg("-append")
        .arg(append);
    cmd
}

/// A newc cpio archive.
#[derive(Default)]
struct Cpio {
    out: Vec<u8>,
    ino: u32,
}

impl Cpio {
    fn entry(&mut self, name: &str, mode: u32, rdev: (u32, u32), data: &[u8]) {
        self.ino += 1;
        let fields = [self.ino, mode, 0, 0, 1, 0, data.len() as u32, 0, 0, rdev.0, rdev.1, name.len() as u32 + 1, 0];
        self.out.extend_from_slice(b"070701");
        for f in fields {
            self.out.extend_from_slice(format!("{f:08x}").as_bytes());
        }
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(0);
        self.pad();
        self.out.extend_from_slice(data);
        self.pad();
    }

    fn pad(&mut self) {
        while !self.out.len().is_multiple_of(4) {
            self.out.push(0);
        }
    }

    fn dir(&mut self, name: &str) {
        self.entry(name, 0o040755, (0, 0), &[]);
    }

    fn file(&mut self, name: &str, mode: u32, data: &[u8]) {
        self.entry(name, mode, (0, 0), data);
    }

    fn node(&mut self, name: &str, mode: u32, rdev: (u32, u32)) {
        self.entry(name, mode, rdev, &[]);
    }

    fn finish(mut self) -> Vec<u8> {
        self.entry("TRAILER!!!", 0, (0, 0), &[]);
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpio_entries_are_aligned_and_end_with_the_trailer() {
        let mut c = Cpio::default();
        c.dir("bin");
        c.file("init", 0o100755, b"#!/bin/sh\n");
        let out = c.finish();
        assert!(out.starts_with(b"070701"));
        assert_eq!(out.len() % 4, 0);
        assert!(out.windows(10).any(|w| w == b"TRAILER!!!"));
    }
}
