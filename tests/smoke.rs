//! One plain `#[test]` that runs a case pasted in as a string, so a failure
//! can be stepped through from an IDE without the case harness.

use hotplug_fi::case::Case;
use hotplug_fi::engine::RunOpts;
use hotplug_fi::explore;
use hotplug_fi::report;

const CASE: &str = r#"
description = "offline CPU 1 with the fail knob armed at workqueue:online"
ops = [
  "echo 197 > cpu1/hotplug/fail => 0",
  "echo 0 > cpu1/online => -EAGAIN",
]

[machine]
cpus = 2
"#;

#[test]
fn knob_failure_rolls_the_ap_forward_again() {
    let case = Case::parse("smoke.toml", "smoke", CASE).expect("the pasted case parses");
    let run = explore::run_case(&case, &RunOpts::default(), None).expect("the case runs");
    let v: Vec<String> = run.violations().into_iter().map(|(_, v)| v.to_string()).collect();
    assert!(v.is_empty(), "{v:?}");
    let out = &run.plain.outcome;
    assert!(out.contains("cpu1: hotplug/state 236  target 236  fail -1  online 1"), "{out}");
    let trace = report::trace(&case, &run.plain.result);
    assert!(trace.contains("CPU1 [197 workqueue:online]->teardown()  = -EAGAIN  (hotplug/fail knob)"), "{trace}");
    assert!(trace.contains("[rollback]"), "{trace}");
}
