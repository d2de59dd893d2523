//! Every run is bounded: work that never yields to the executor (a case
//! operation in a loop) counts against `steps_max` with the scheduling
//! steps, and reaching the limit is an outcome (livelock), never a hang.

use hotplug_fi::case::Case;
use hotplug_fi::engine::RunOpts;
use hotplug_fi::verdict::{self, Scenario};

/// `echo -1 > cpu1/hotplug/fail` takes no lock and never blocks: a
/// million of them ran inside one executor step before.
const SPIN: &str = r#"
description = "a thread that spins on a write that never blocks"
ops = ["echo -1 > cpu1/hotplug/fail"]
[machine]
cpus = 2
steps_max = 300
[[thread]]
name = "spin"
ops = ["echo -1 > cpu1/hotplug/fail"]
loops = 1000
[explore]
strategy = "default"
[expect]
end = "livelock"
"#;

#[test]
fn operations_that_never_block_count_against_the_step_limit() {
    let case = Case::parse("spin.toml", "spin", SPIN).expect("the case parses");
    let opts = RunOpts::default();
    let run = verdict::run(&case, Scenario::plain(&case, &opts), &opts).expect("it runs");
    assert!(run.outcome.contains("end: livelock: step limit reached after 300 steps"), "{}", run.outcome);
    assert!(run.violations.is_empty(), "{:?}", run.violations);
    let done = run.result.thread_results()[0].len();
    assert!(done < 300, "{done} operations ran within a budget of 300");
}

/// What the kernel itself reports, the model reports: an unbalanced
/// `preempt_enable()` and unlocks of what the task does not hold are
/// splats in the trace, and the run goes on to its end.
#[test]
fn unbalanced_enables_and_unlocks_are_the_kernels_splats_not_panics() {
    let text = r#"
description = "unbalanced"
ops = ["preempt_enable", "put_online_mems", "mutex_unlock m", "cpu_down 1 => 0"]
[machine]
cpus = 2
[expect]
splats = ["DEBUG_LOCKS_WARN_ON(val > preempt_count())", "release lock (mem_hotplug_lock)", "release lock (m)"]
"#;
    let case = Case::parse("unbalanced.toml", "unbalanced", text).expect("the case parses");
    let opts = RunOpts::default();
    let run = verdict::run(&case, Scenario::plain(&case, &opts), &opts).expect("it runs");
    assert!(run.violations.is_empty(), "{:?}", run.violations);
    assert!(run.outcome.contains("end: finished"), "{}", run.outcome);
}

/// A run records at most `trace_events_max` events and splats; one that
/// would record more stops with an outcome saying so, and that outcome is a
/// violation (the run did not finish), never a silently cut trace.
#[test]
fn a_run_stops_at_its_trace_limit() {
    let text = r#"
description = "more trace than the limit"
ops = ["cpu_down 1", "cpu_up 1", "cpu_down 1", "cpu_up 1"]
[machine]
cpus = 2
trace_events_max = 50
"#;
    let case = Case::parse("trace.toml", "trace", text).expect("the case parses");
    let opts = RunOpts::default();
    let run = verdict::run(&case, Scenario::plain(&case, &opts), &opts).expect("it runs");
    assert!(
        run.outcome.contains("trace limit: the run recorded 50 events and splats (trace_events_max)"),
        "{}",
        run.outcome
    );
    let t = &run.result.state.trace;
    assert_eq!(t.events.len() + t.splats.len(), 50);
    assert!(
        run.violations.iter().any(|v| v.to_string().contains("did not finish: trace limit")),
        "{:?}",
        run.violations
    );
    assert!(run.result.results().iter().any(Option::is_none), "the operations after the limit never returned");
}

/// A step that reaches `steps_max` while an operation charges its work
/// spends the budget and does not overdraw it: at every limit the run stops
/// at the limit, never one step over (the fuzz target found "step limit
/// reached after 301 steps" with `steps_max = 300`).
#[test]
fn the_step_limit_is_never_overdrawn() {
    let opts = RunOpts::default();
    for max in 1..=400 {
        let text = format!(
            "description = \"d\"\nops = [\"cpu_down 1\", \"cpu_up 1\"]\n[machine]\ncpus = 2\nsteps_max = {max}\n\
             [[thread]]\nname = \"t\"\nops = [\"preempt_enable\", \"cpu_up 1\"]\nloops = 1000\n\
             [explore]\nstrategy = \"default\"\n"
        );
        let case = Case::parse("over.toml", "over", &text).expect("the case parses");
        let run = verdict::run(&case, Scenario::plain(&case, &opts), &opts).expect("it runs");
        let taken = run.result.steps + run.result.state.work;
        assert!(taken <= max, "steps_max {max}: the run took {taken}");
        if let hotplug_fi::sim::executor::RunEnd::StepLimit(n) = run.result.end {
            assert_eq!(n, max, "steps_max {max}: {}", run.outcome);
        }
    }
}

/// A run's outcome grows with what ran, not with what a case could run:
/// 16 threads of 1000 operations and 1000 loops each (every figure at its
/// limit) stopped after 300 steps print one line for what did not return
/// per thread, where they printed 16 million lines (a gigabyte) before.
#[test]
fn results_that_never_came_are_counted_not_listed() {
    let ops = vec!["\"echo -1 > cpu1/hotplug/fail\""; 1000].join(", ");
    let threads: String =
        (0..16).map(|i| format!("[[thread]]\nname = \"t{i}\"\nops = [{ops}]\nloops = 1000\n")).collect();
    let text = format!(
        "description = \"d\"\nops = [\"cpu_down 1\"]\n{threads}[machine]\ncpus = 2\nsteps_max = 300\n\
         [explore]\nstrategy = \"default\"\n"
    );
    let case = Case::parse("wide.toml", "wide", &text).expect("the case parses");
    let opts = RunOpts::default();
    let run = verdict::run(&case, Scenario::plain(&case, &opts), &opts).expect("it runs");
    let returned: usize = run.result.thread_results().iter().map(Vec::len).sum();
    assert!(returned < 300, "{returned} thread operations returned within 300 steps");
    assert!(run.outcome.len() < 64 * 1024, "an outcome of {} bytes", run.outcome.len());
    let t15 = run.outcome.split("thread t15:\n").nth(1).expect("thread t15 is listed");
    assert!(t15.starts_with("  echo -1 > cpu1/hotplug/fail"), "{t15}");
    assert!(t15.contains("= (did not return)\n  (999999 more did not return)\n"), "{t15}");
}
