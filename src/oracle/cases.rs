//! `hotplug-fi oracle CASE|DIR…`: the suite's own cases on the real kernel.
//! Each case is translated ([`super::translate`]); the cases that need the
//! same machine (CPUs, SMT, command line) share one boot, whose `/init`
//! loads the test module and runs every scenario of every such case, each
//! between `@@scn` and `@@reset` markers, then restores the boot state
//! (`reset`, every `fail` knob at -1, every CPU as it booted,
//! `smt/control` as it booted) and checks it. A scenario that leaves the
//! guest elsewhere, or a guest that stalls, ends the boot; the remaining
//! scenarios run in a new one. The guest's lines are parsed
//! ([`super::observe::parse`]) and compared with the model's observables.
//! Tooling around the model, not a model of a kernel file.
//!
//! Left out: KVM (the cases run under TCG, as the rest of the oracle).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use crate::case::Case;

use super::observe::{self, Observed};
use super::translate::{self, CasePlan, MachineKey};
use super::{INIT_HEAD, kmod, pieces, qemu};

/// How long a boot may take: this much, plus [`PER_SCENARIO`] per scenario.
const BOOT_SECS: u64 = 90;
const PER_SCENARIO: u64 = 6;

/// One scenario's end on the real kernel.
#[derive(Clone, Debug)]
pub enum RealEnd {
    Observed(Box<Observed>),
    /// The guest could not run it: a stall, a parse error, a bad reset.
    Failed(String),
}

/// A case after the real kernel and the model ran it.
#[derive(Debug)]
pub struct CaseResult {
    pub plan: CasePlan,
    /// One per planned scenario.
    pub real: Vec<RealEnd>,
}

impl CaseResult {
    /// (label, diffs) of each planned scenario that does not agree.
    pub fn disagreements(&self) -> Vec<(String, Vec<String>)> {
        let mut out = Vec::new();
        for (p, r) in self.plan.planned.iter().zip(&self.real) {
            match r {
                RealEnd::Observed(o) => {
                    let o = if p.background.is_some() { observe::without_background_rcu(o) } else { (**o).clone() };
                    let d = observe::diff(&o, &p.model);
                    if !d.is_empty() {
                        out.push((p.label.clone(), d));
                    }
                }
                RealEnd::Failed(e) => out.push((p.label.clone(), vec![format!("the guest failed: {e}\n")])),
            }
        }
        out
    }
}

/// Helpers every case scenario uses, after the module is loaded.
const CASES_HEAD: &str = r#"w() { if [ ! -e "$2" ]; then echo ENOENT; elif { put "$1" > "$2"; } 2>/tmp/e; then echo OK; else errname "$(cat /tmp/e)"; fi; }
kq() { { echo "$1" > $K/ctl; } 2>/dev/null; }
ta() { if taskset -pc "$1" "$2" >/dev/null 2>/tmp/e; then echo OK; else errname "$(cat /tmp/e)"; fi; }
hog() { taskset -c "$1" sh -c 'while :; do :; done' & HOGS="$HOGS $!"; taskset -pc "$2" $! >/dev/null; }
st() { awk -v n="$1" '{ s = $1; sub(/:$/, "", s); $1 = ""; sub(/^ /, ""); if ($0 == n) { print s; exit } }' $C/hotplug/states; }
ss() { awk -v n="$1" '$1 == n { print $2 }' $K/slots; }
insts() { awk -v n="$1" '$1 == n { for (i = 5; i <= NF; i++) print $i }' $K/slots | sort -r; }
has() { awk -v n="$1" '$1 == n { f = 1 } END { exit !f }' $K/slots; }
cpus() { seq 0 $((NCPU - 1)); }
wt() { i=0; while [ $i -lt 200 ]; do if [ -e $C/cpu$1 ]; then [ $2 = 1 ] && return; else [ $2 = 0 ] && return; fi; sleep 0.1; i=$((i + 1)); done; }
snap() { for c in $(cpus); do echo "$c $(cat $C/cpu$c/hotplug/state) $(cat $C/cpu$c/hotplug/fail) $(cat $C/cpu$c/online 2>/dev/null || echo -)"; done; cat $C/smt/control; }
mems() { for d in $M/memory[0-9]*; do echo "${d##*/} $(cat $d/state)"; done; }
MI=/sys/kernel/debug/notifier-error-inject/memory/actions
final() {
  echo @@final
  for c in $(cpus); do [ -e $C/cpu$c ] || { echo "@@cpu $c absent"; continue; }; [ -e $C/cpu$c/hotplug ] || { echo "@@cpu $c nohotplug $(cat $C/cpu$c/online)"; continue; }; echo "@@cpu $c $(cat $C/cpu$c/hotplug/state) $(cat $C/cpu$c/hotplug/target) $(cat $C/cpu$c/hotplug/fail) $(cat $C/cpu$c/online 2>/dev/null || echo -)"; done
  echo "@@mask $(cat $C/online) $(cat $C/present) $(cat $C/active 2>/dev/null || echo -)"
  echo "@@smt $(cat $C/smt/control) active $(cat $C/smt/active)"
  i=0; for p in $HOGS; do echo "@@task $i $(awk '/^Cpus_allowed_list/ { print $2 }' /proc/$p/status)"; i=$((i + 1)); done
  if [ "$(cat $C/smt/control)" != notsupported ]; then for c in $(cpus); do f=$C/cpu$c/topology/thread_siblings_list; [ -e $f ] && echo "@@sib $c $(cat $f)"; done; fi
  mems | sed 's/^/@@mem /'
  sed 's/^/@@slot /' $K/slots
  dmesg | tail -n +$((dm + 1)) | grep -E 'WARNING:|BUG' | sed 's/^/@@splat /'
}
restore() {
  for p in $HOGS; do kill $p 2>/dev/null; done; HOGS=
  kq reset; kl > /dev/null
  [ "$(cat $C/smt/control)" = "$SMT0" ] || echo "$SMT0" > $C/smt/control 2>/dev/null
  for c in $(cpus); do echo -1 > $C/cpu$c/hotplug/fail; done
  for a in MEM_GOING_ONLINE MEM_GOING_OFFLINE; do [ -e $MI/$a/error ] && echo 0 > $MI/$a/error; done
  echo "$MEM0" | while read b st; do [ "$(cat $M/$b/state)" = "$st" ] || echo "$st" > $M/$b/state 2>/dev/null; done
  for i in 1 2 3; do
    echo "$BOOT" | while read c s f o; do
      case "$c" in *[!0-9]*) continue;; esac
      [ "$o" = - ] && continue
      if [ "$(cat $C/cpu$c/hotplug/state)" != "$s" ] && [ "$o" = 1 ]; then echo 0 > $C/cpu$c/online 2>/dev/null; fi
      [ "$(cat $C/cpu$c/online)" = "$o" ] || echo "$o" > $C/cpu$c/online 2>/dev/null
    done
  done
  if [ -z "$HPDEL" ] && [ "$(snap)" = "$BOOT" ] && [ "$(mems)" = "$MEM0" ] && [ -z "$(cat $K/slots)" ]; then echo '@@reset ok'; else
    echo "@@reset bad: $(snap | tr '\n' ' ') slots: $(cat $K/slots | tr '\n' ' ')"; echo @@DONE; poweroff -f
  fi
  dm=$(dmesg | wc -l)
}
"#;

/// The head of a boot without the test module (it could not be built for
/// the kernel): the module's files are empty files in a tmpfs directory,
/// so `kq`, `kl`, `reset` and the reset check have nothing to act on. Only
/// cases that use no module operation run so ([`without_module`]).
const NO_KMOD_HEAD: &str = r#"K=/tmp/no-test-module
mkdir -p $K; : > $K/log; : > $K/slots; : > $K/ctl
o=0
kl() { :; }
"#;

/// The `/init` of one boot: the scenarios `(global index, lines)` of one
/// machine's cases, with the test module loaded if there is one.
pub fn init_script(machine: &MachineKey, scenarios: &[(usize, &[String])], module: bool) -> String {
    let head = if module { kmod_head() } else { NO_KMOD_HEAD };
    let mut s = format!("{INIT_HEAD}{head}");
    s.push_str(&format!("NCPU={}\n{CASES_HEAD}", machine.cpus));
    s.push_str("for m in /lib/modules/notifier-error-inject.ko /lib/modules/memory-notifier-error-inject.ko; do [ -e $m ] && insmod $m; done\n");
    s.push_str("SMT0=$(cat $C/smt/control)\nBOOT=$(snap)\nMEM0=$(mems)\ndm=$(dmesg | wc -l)\nkl > /dev/null\n");
    for (i, lines) in scenarios {
        s.push_str(&format!("echo '@@scn {i}'\n"));
        for l in *lines {
            s.push_str(l);
            s.push('\n');
        }
        s.push_str("final\necho '@@reset'\nrestore\n");
    }
    s.push_str("echo @@DONE\npoweroff -f\n");
    s
}

fn kmod_head() -> &'static str {
    kmod::KMOD_HEAD
}

/// Whether a scenario's guest lines use the test module.
fn uses_module(lines: &[String]) -> bool {
    lines.iter().any(|l| l.contains("kq ") || l.contains("kc ") || l.contains("$(ss ") || l.contains("$K/"))
}

/// Skips every case that needs the test module, giving `why` (the build's
/// error), for a kernel the module could not be built for.
pub fn without_module(plans: &mut [CasePlan], why: &str) {
    let first = why.lines().next().unwrap_or(why);
    for p in plans.iter_mut().filter(|p| p.skip.is_none()) {
        if p.planned.iter().any(|s| uses_module(&s.lines)) {
            p.skip = Some(format!("needs the test module, which could not be built for this kernel: {first}"));
        }
    }
}

/// QEMU for a machine: `-smp N` (2 threads per core on an Intel model for
/// SMT, docs/real-kernel.md#smt), the case's command line.
fn qemu_command(p: &pieces::Pieces, initrd: &Path, m: &MachineKey, qmp: &Path) -> Command {
    let hotplug = m.hotplug || m.present < m.cpus;
    let (cpu, smp) = if hotplug {
        // CPU 0 from -smp, the other present ones as -device with an id
        // device_del can name (one socket, one thread per core: core-id N
        // is APIC id N).
        ("qemu64", format!("1,maxcpus={},sockets=1,cores={},threads=1", m.cpus, m.cpus))
    } else if m.threads_per_core == 2 {
        ("Haswell-noTSX-IBRS", format!("{},sockets=1,cores={},threads=2", m.cpus, m.cpus / 2))
    } else {
        ("qemu64", m.cpus.to_string())
    };
    let mut append = super::APPEND.to_string();
    if !m.cmdline.is_empty() {
        append.push(' ');
        append.push_str(&m.cmdline);
    }
    let mut cmd = super::qemu_line(p, "tcg", cpu, &smp, initrd, &append);
    if hotplug {
        for n in 1..m.present {
            cmd.arg("-device").arg(qemu::cpu_device(n));
        }
        cmd.arg("-qmp").arg(format!("unix:{},server=on,wait=off", qmp.display()));
    }
    cmd
}

/// The scenarios that reached `@@reset` (index, lines, reset ok), and the
/// one that started and did not.
pub type Split = (Vec<(usize, Vec<String>, bool)>, Option<usize>);

/// Splits a boot's console into each scenario's lines and its reset.
/// Returns (index, lines, reset ok) for each scenario that reached its
/// `@@reset`, and the index of one that started and did not.
pub fn split(console: &[String]) -> Result<Split, String> {
    let mut done = Vec::new();
    let mut cur: Option<(usize, Vec<String>)> = None;
    let mut waiting: Option<(usize, Vec<String>)> = None;
    for l in console {
        if let Some(n) = l.strip_prefix("@@scn ") {
            let i: usize = n.trim().parse().map_err(|_| format!("malformed scenario marker `{l}`"))?;
            if cur.is_some() || waiting.is_some() {
                return Err(format!("scenario marker `{l}` inside another scenario"));
            }
            cur = Some((i, Vec::new()));
        } else if l == "@@reset" {
            waiting = Some(cur.take().ok_or("`@@reset` outside a scenario")?);
        } else if let Some(r) = l.strip_prefix("@@reset ") {
            let (i, lines) = waiting.take().ok_or_else(|| format!("`{l}` without its scenario"))?;
            done.push((i, lines, r == "ok"));
        } else if let Some((_, lines)) = cur.as_mut() {
            lines.push(l.clone());
        }
    }
    let open = cur.or(waiting).map(|(i, _)| i);
    Ok((done, open))
}

/// Where a guest that stopped was: its last scenario and operation
/// markers and its last structured line.
fn whereabouts(lines: &[String], names: &BTreeMap<usize, String>) -> String {
    let scn = lines.iter().rev().find_map(|l| l.strip_prefix("@@scn ")).and_then(|n| n.trim().parse::<usize>().ok());
    let op = lines.iter().rev().take_while(|l| !l.starts_with("@@scn ")).find_map(|l| l.strip_prefix("@@op "));
    let last = lines.iter().rev().find(|l| l.starts_with("@@")).cloned().unwrap_or_else(|| "(none)".into());
    format!(
        "in {}, operation {}; last structured line `{last}`",
        scn.and_then(|i| names.get(&i)).cloned().unwrap_or_else(|| "no scenario yet".into()),
        op.unwrap_or("none yet")
    )
}

/// Runs the plans on the real kernel: one boot per machine (more if a
/// scenario leaves the guest where reset cannot bring it back).
pub fn run(
    p: &pieces::Pieces,
    ko: Option<&Path>,
    cases: &[Case],
    plans: Vec<CasePlan>,
    log: &mut dyn FnMut(&str),
) -> Vec<CaseResult> {
    let mut all: Vec<(usize, usize)> = Vec::new(); // (case, scenario) by global index
    let mut names = BTreeMap::new();
    for (c, plan) in plans.iter().enumerate() {
        for (s, sc) in plan.planned.iter().enumerate() {
            names.insert(all.len(), format!("{} [{}]", plan.id, sc.label));
            all.push((c, s));
        }
    }
    let mut real: BTreeMap<usize, RealEnd> = BTreeMap::new();
    let mut by_machine: BTreeMap<MachineKey, Vec<usize>> = BTreeMap::new();
    for (g, (c, _)) in all.iter().enumerate() {
        by_machine.entry(plans[*c].machine.clone()).or_default().push(g);
    }
    let module = ko.map(|k| std::fs::read(k).unwrap_or_default());
    for (machine, mut todo) in by_machine {
        while !todo.is_empty() {
            let scen: Vec<(usize, &[String])> =
                todo.iter().map(|g| (*g, plans[all[*g].0].planned[all[*g].1].lines.as_slice())).collect();
            let init = init_script(&machine, &scen, module.is_some());
            log(&format!(
                "booting {} CPUs{}{} for {} scenarios",
                machine.cpus,
                if machine.threads_per_core > 1 { ", SMT" } else { "" },
                if machine.cmdline.is_empty() { String::new() } else { format!(", {}", machine.cmdline) },
                todo.len()
            ));
            let limits =
                qemu::Limits::total(std::time::Duration::from_secs(BOOT_SECS + PER_SCENARIO * todo.len() as u64));
            let console = boot(p, module.as_deref(), &init, &machine, limits);
            if std::env::var_os("HOTPLUG_ORACLE_DUMP").is_some() {
                let text = match &console {
                    Ok(c) => c.lines.join("\n"),
                    Err((_, l)) => l.join("\n"),
                };
                eprintln!("{text}");
            }
            let (lines, err) = match console {
                Ok(c) => (c.lines, None),
                Err((e, lines)) => (lines, Some(e)),
            };
            let (done, open) = match split(&lines) {
                Ok(x) => x,
                Err(e) => (Vec::new(), Some(todo[0]).filter(|_| !e.is_empty())),
            };
            let mut last_done = None;
            for (g, sl, ok) in done {
                let (c, _) = all[g];
                let end = match observe::parse(&translate::as_the_guest_runs(&cases[c]).0, &sl) {
                    Ok(o) if ok => RealEnd::Observed(Box::new(o)),
                    Ok(o) => {
                        real.insert(g, RealEnd::Observed(Box::new(o)));
                        last_done = Some(g);
                        continue;
                    }
                    Err(e) => RealEnd::Failed(e),
                };
                real.insert(g, end);
                last_done = Some(g);
            }
            if let Some(g) = open {
                let why = err.clone().unwrap_or_else(|| "the guest stopped".into());
                real.insert(g, RealEnd::Failed(format!("{}: {why}", whereabouts(&lines, &names))));
                last_done = Some(g);
            } else if let Some(e) = &err
                && last_done.is_none()
            {
                real.insert(todo[0], RealEnd::Failed(e.clone()));
                last_done = Some(todo[0]);
            }
            let Some(last) = last_done else { break };
            todo.retain(|g| *g > last);
        }
    }
    plans
        .into_iter()
        .enumerate()
        .map(|(c, plan)| {
            let base = all.iter().position(|(ci, _)| *ci == c).unwrap_or(0);
            let real = (0..plan.planned.len())
                .map(|s| real.remove(&(base + s)).unwrap_or_else(|| RealEnd::Failed("never ran".into())))
                .collect();
            CaseResult { plan, real }
        })
        .collect()
}

/// Translates the cases, in order.
pub fn plan(cases: &[Case]) -> Vec<CasePlan> {
    cases.iter().map(translate::translate).collect()
}

fn boot(
    p: &pieces::Pieces,
    module: Option<&[u8]>,
    init: &str,
    m: &MachineKey,
    limits: qemu::Limits,
) -> Result<qemu::Console, (String, Vec<String>)> {
    let mut c = super::guest_root(p).map_err(|e| (e, Vec::new()))?;
    if let Some(module) = module {
        c.file(&format!("lib/modules/{}.ko", kmod::MODULE), 0o100644, module);
    }
    super::add_modules(&mut c, p).map_err(|e| (e, Vec::new()))?;
    c.file("init", 0o100755, init.as_bytes());
    let dir = tempfile::tempdir().map_err(|e| (format!("cannot make a temporary directory: {e}"), Vec::new()))?;
    let initrd = dir.path().join("initrd.cpio");
    std::fs::write(&initrd, c.finish()).map_err(|e| (format!("{}: {e}", initrd.display()), Vec::new()))?;
    let qmp = dir.path().join("qmp.sock");
    let hotplug = m.hotplug || m.present < m.cpus;
    qemu::run_keeping_qmp(qemu_command(p, &initrd, m, &qmp), limits, hotplug.then_some(qmp.as_path()))
}

/// The table and the diffs; true when every scenario that ran agrees.
pub fn report(results: &[CaseResult], say: &mut dyn FnMut(&str)) -> bool {
    say(&format!("{:<44} {:>9} {:>6} {:>7}  skipped", "case", "scenarios", "run", "agreed"));
    let (mut cases_run, mut scen, mut agreed, mut skipped_cases, mut skipped_scen) = (0, 0, 0, 0, 0);
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    let mut diffs = Vec::new();
    for r in results {
        let p = &r.plan;
        if let Some(why) = &p.skip {
            skipped_cases += 1;
            say(&format!("{:<44} {:>9} {:>6} {:>7}  case: {why}", p.id, "-", 0, 0));
            *reasons.entry(reason_class(why)).or_default() += 1;
            continue;
        }
        cases_run += 1;
        let bad = r.disagreements();
        let n = p.planned.len();
        scen += n;
        agreed += n - bad.len();
        skipped_scen += p.skipped.len();
        let skip = if p.skipped.is_empty() { String::new() } else { format!("{} scenarios", p.skipped.len()) };
        say(&format!("{:<44} {:>9} {:>6} {:>7}  {skip}", p.id, n + p.skipped.len(), n, n - bad.len()));
        for (label, why) in &p.skipped {
            say(&format!("    skipped {label}: {why}"));
        }
        for (label, d) in bad {
            diffs.push(format!("DISAGREE {} [{label}]\n{}", p.id, d.concat()));
        }
    }
    for d in &diffs {
        say(d);
    }
    say(&format!(
        "cases: {cases_run} run, {skipped_cases} skipped; scenarios: {scen} run, {agreed} agreed ({:.1}%), {skipped_scen} skipped",
        if scen == 0 { 100.0 } else { 100.0 * agreed as f64 / scen as f64 }
    ));
    for (why, n) in &reasons {
        say(&format!("  skipped cases: {n} × {why}"));
    }
    diffs.is_empty()
}

/// A skip reason without its case-specific part (the quoted operation).
fn reason_class(why: &str) -> String {
    match why.split_once("`: ") {
        Some((_, rest)) if why.starts_with('`') => rest.to_string(),
        _ => why.to_string(),
    }
}

/// `--print-script CASE`: the translation the oracle runs, scenario by
/// scenario, with every skip as a comment that says why.
pub fn print_translation(case: &Case) -> String {
    let plan = translate::translate(case);
    let m = &plan.machine;
    let mut out = format!(
        "# {}: the oracle's guest lines (helpers: src/oracle/cases.rs CASES_HEAD, kmod.rs KMOD_HEAD)\n# machine: {} CPUs, {} threads per core, cmdline `{}`\n",
        plan.id, m.cpus, m.threads_per_core, m.cmdline
    );
    if let Some(why) = &plan.skip {
        out.push_str(&format!("# skipped: {why}\n"));
        return out;
    }
    for n in &plan.notes {
        out.push_str(&format!("# note: {n}\n"));
    }
    for p in &plan.planned {
        out.push_str(&format!("# scenario {} ({:?})\n", p.label, p.injection));
        if let Some(why) = &p.background {
            out.push_str(&format!("# note: {why}\n"));
        }
        for l in &p.lines {
            out.push_str(l);
            out.push('\n');
        }
    }
    for (label, why) in &plan.skipped {
        out.push_str(&format!("# skipped scenario {label}: {}\n", why.replace('\n', " ")));
    }
    out
}
