//! The model against the real kernel: every fail-knob scenario the real
//! Debian 6.1.192 kernel was run through on cpu1 (every named state, plus
//! -2, an unnamed number and CPUHP_ONLINE+1; down from 236 and up from 0),
//! with its observed answers in `tests/data/oracle-cpu1-6.1.192.txt`. The
//! model must give the same result of the `fail` write, the same result of
//! the `online` write, and the same `hotplug/state`, `online` and `fail`.

use hotplug_fi::case::Case;
use hotplug_fi::engine::{self, RunOpts};

const DATA: &str = include_str!("data/oracle-cpu1-6.1.192.txt");

struct Row<'a> {
    x: &'a str,
    up: bool,
    setfail: &'a str,
    write: &'a str,
    state: &'a str,
    online: &'a str,
    fail: &'a str,
}

fn rows() -> Vec<Row<'static>> {
    DATA.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            Row { x: f[0], up: f[1] == "up", setfail: f[2], write: f[3], state: f[4], online: f[5], fail: f[6] }
        })
        .collect()
}

/// Runs `ops` on a fresh 4-CPU machine.
fn run(ops: &[String]) -> engine::RunResult {
    let ops: Vec<String> = ops.iter().map(|o| format!("\"{o}\"")).collect();
    let text = format!("description = \"oracle\"\nops = [{}]\n[machine]\ncpus = 4\n", ops.join(", "));
    let case = Case::parse("oracle.toml", "oracle", &text).expect("the scenario parses");
    engine::run(&case, &[], &RunOpts::default()).expect("runs")
}

/// The oracle's procedure in the model (`hotplug_fi::oracle::model_cpu`).
fn model(row: &Row) -> String {
    hotplug_fi::oracle::model_cpu(1, row.x.parse().expect("a state number"), row.up)
}

#[test]
fn the_model_agrees_with_the_real_kernel_on_every_fail_knob_scenario() {
    let rows = rows();
    assert_eq!(rows.len(), 138, "the oracle's sweep has 138 scenarios");
    let mut disagree = Vec::new();
    for row in &rows {
        let real = format!("{} {} {} {} {}", row.setfail, row.write, row.state, row.online, row.fail);
        let got = model(row);
        if got != real {
            let dir = if row.up { "up" } else { "down" };
            disagree.push(format!("X={} {dir}: real `{real}`, model `{got}`", row.x));
        }
    }
    assert!(disagree.is_empty(), "{} of {} disagree:\n{}", disagree.len(), rows.len(), disagree.join("\n"));
}

const SEQ: &str = include_str!("data/oracle-cpu1-seq-6.1.192.txt");

/// The model's trace in the notation of the kernel's `cpuhp` tracepoints:
/// only what runs on an online CPU is traced, so STARTING/DYING callbacks
/// are left out, and so is the knob's injected failure.
fn tracepoints(res: &engine::RunResult, profile: &hotplug_fi::kernel::cpuhotplug::Profile) -> String {
    use hotplug_fi::kernel::trace::{CbHow, Event};
    let mut toks = Vec::new();
    let mut kicks = Vec::new();
    for e in &res.state.trace.events {
        match e {
            Event::CbEnter(ev) if ev.cpu == 1 && !profile.is_atomic(ev.state) => {
                let m = if ev.inst.is_some() { "m" } else { "" };
                toks.push(format!("{m}{}", ev.state));
            }
            Event::CbExit(ev, CbHow::Ran, ret) if ev.cpu == 1 && *ret != 0 && !profile.is_atomic(ev.state) => {
                toks.push(format!("!{}={ret}", ev.state));
            }
            Event::Kick { cpu: 1, state } => {
                kicks.push(*state);
                toks.push(format!("K{state}"));
            }
            Event::KickRet { cpu: 1, ret } => {
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

#[test]
fn the_model_calls_callbacks_in_the_real_kernels_order() {
    let profile = hotplug_fi::kernel::cpuhotplug::Profile::builtin("debian-6.1").expect("the default profile");
    let mut disagree = Vec::new();
    let mut n = 0;
    for l in SEQ.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let f: Vec<&str> = l.splitn(3, ' ').collect();
        let (dir, x, real) = (f[0], f[1], f[2]);
        let up = dir == "up";
        let mut ops = Vec::new();
        if up {
            ops.push("echo 0 > cpu1/online".to_string());
        }
        ops.push(format!("echo {x} > cpu1/hotplug/fail"));
        let n_before = ops.len();
        ops.push(format!("echo {} > cpu1/online", if up { 1 } else { 0 }));
        let res = run(&ops);
        // Only the events of the last operation: the oracle clears its buffer before it.
        let start = res
            .state
            .trace
            .events
            .iter()
            .position(|e| matches!(e, hotplug_fi::kernel::trace::Event::Op(at) if at.op as usize == n_before))
            .expect("the online write is traced");
        let mut tail = res;
        tail.state.trace.events.drain(..start);
        let got = tracepoints(&tail, &profile);
        n += 1;
        if got != real {
            disagree.push(format!("{dir} X={x}:\n  real  {real}\n  model {got}"));
        }
    }
    assert_eq!(n, 77, "the oracle traced 77 accepted faults");
    assert!(disagree.is_empty(), "{} of {n} callback orders disagree:\n{}", disagree.len(), disagree.join("\n"));
}
