//! The interleaving explorer: it finds both slab races on its own within
//! two deviations, finds none on the fixed kernel, replays what it found
//! byte for byte, shrinks a failure, and reports a deadlock's cycle.

mod common;

use std::collections::BTreeSet;

use hotplug_fi::case::limits::EXHAUSTIVE_RUNS;
use hotplug_fi::case::{Case, Strategy};
use hotplug_fi::engine::RunOpts;
use hotplug_fi::explore::{interleave, shrink};
use hotplug_fi::kernel::Regression;
use hotplug_fi::report;

fn case(id: &str) -> Case {
    common::case(id)
}

fn unlocked() -> RunOpts {
    common::switched(Regression::SlabCreateDestroyUnlocked)
}

#[test]
fn exhaustive_bound_2_finds_both_slab_races_and_none_when_fixed() {
    let c = case("slab/create-destroy-vs-hotplug");
    let ex = interleave::explore(&c, &unlocked(), &Strategy::Exhaustive { bound: 2, runs: EXHAUSTIVE_RUNS });
    assert!(ex.exhausted);
    let failures: Vec<String> = ex.outcomes.iter().flat_map(|r| &r.run.violations).map(ToString::to_string).collect();
    let found = |rip: &str| failures.iter().any(|v| v.contains("NULL pointer dereference") && v.contains(rip));
    assert!(found("RIP: slab_dead_cpu: cache foo has no per-CPU array for CPU1"), "create vs down: {failures:?}");
    assert!(found("RIP: do_drain: cache foo has no per-CPU array for CPU1"), "destroy vs up: {failures:?}");
    let fixed = interleave::explore(&c, &RunOpts::default(), &Strategy::Exhaustive { bound: 2, runs: EXHAUSTIVE_RUNS });
    assert!(fixed.exhausted);
    assert!(fixed.outcomes.iter().all(|r| r.run.violations.is_empty()));
}

#[test]
fn the_create_race_against_a_cpu_coming_up_breaks_the_invariant() {
    let c = case("slab/create-vs-up");
    let ex = interleave::explore(&c, &unlocked(), &Strategy::Exhaustive { bound: 2, runs: EXHAUSTIVE_RUNS });
    let v: Vec<String> = ex.outcomes.iter().flat_map(|r| &r.run.violations).map(ToString::to_string).collect();
    assert!(
        v.iter().any(
            |v| v.contains("cache foo on the chain has per-CPU arrays for CPUs 0 but the up-prepared CPUs are 0-1")
        ),
        "{v:?}"
    );
}

#[test]
fn replay_reproduces_each_failing_schedule_byte_for_byte() {
    let c = case("slab/create-destroy-vs-hotplug");
    let ex = interleave::explore(&c, &unlocked(), &Strategy::Exhaustive { bound: 2, runs: EXHAUSTIVE_RUNS });
    let failing: Vec<_> = ex.outcomes.iter().filter(|r| !r.run.violations.is_empty()).collect();
    assert!(failing.len() >= 2);
    for r in failing {
        let again = interleave::replay(&c, &unlocked(), r.schedule()).expect("the schedule fits");
        let a = format!("{}{}", report::trace(&c, &r.run.result), r.run.outcome);
        let b = format!("{}{}", report::trace(&c, &again.result), again.outcome);
        assert_eq!(a, b, "replaying {} differs", r.schedule());
        assert_eq!(&again.result.schedule, r.schedule());
    }
}

#[test]
fn shrink_keeps_the_failure_in_two_threads_and_six_operations() {
    let c = case("slab/create-destroy-vs-hotplug");
    let s = shrink::shrink(&c, &unlocked(), 2).expect("the case fails with the switch on");
    assert!(s.threads <= 2 && s.ops <= 6, "{} threads, {} ops", s.threads, s.ops);
    let shrunk = Case::parse("shrunk.toml", "shrunk", &s.text).expect("the shrunk case parses");
    let again = interleave::replay(&shrunk, &unlocked(), &s.schedule).expect("the pinned schedule fits");
    assert!(again.violations.iter().any(|v| v.message.contains("NULL pointer dereference")), "{:?}", again.violations);
}

#[test]
fn a_deadlock_reports_its_cycle_with_both_tasks_and_locks() {
    let c = case("context/abba-deadlock");
    let ex = interleave::explore(&c, &RunOpts::default(), &Strategy::Exhaustive { bound: 2, runs: EXHAUSTIVE_RUNS });
    let ends: Vec<String> = ex.outcomes.iter().map(|r| report::outcome_end(&r.run.result)).collect();
    let cycle = "cycle: alpha holds a and waits for b, which beta holds b and waits for a";
    assert!(ends.iter().any(|e| e.contains(cycle)), "{ends:?}");
}

#[test]
fn pct_and_random_reach_the_slab_race() {
    let c = case("slab/create-destroy-vs-hotplug");
    for strategy in [Strategy::Pct { runs: 2000, seed: 1, depth: 3 }, Strategy::Random { runs: 2000, seed: 1 }] {
        let ex = interleave::explore(&c, &unlocked(), &strategy);
        let hit =
            ex.outcomes.iter().any(|r| r.run.violations.iter().any(|v| v.message.contains("NULL pointer dereference")));
        assert!(hit, "{} found no race", ex.describe());
    }
}

fn no_flush() -> RunOpts {
    RunOpts { regressions: BTreeSet::from([Regression::SmpNoFlushOnDying]), record_sites: false, ..Default::default() }
}

/// The stranded-IPI race: the case only declares the interrupt source; the
/// explorer finds the window (a device interrupt firing is one deviation)
/// with exhaustive search and with PCT, and nothing on the fixed kernel.
#[test]
fn the_stranded_ipi_race_is_found_by_exhaustive_and_pct_and_not_when_fixed() {
    let c = case("regression/smp-no-flush-on-dying");
    let stranded = "callback __blk_mq_complete_request_remote() was still queued on CPU2 when take_cpu_down() finished";
    let strategies =
        [Strategy::Exhaustive { bound: 2, runs: EXHAUSTIVE_RUNS }, Strategy::Pct { runs: 10_000, seed: 1, depth: 3 }];
    for s in &strategies {
        let ex = interleave::explore(&c, &no_flush(), s);
        let hit = ex.outcomes.iter().find(|r| r.run.violations.iter().any(|v| v.message.contains(stranded)));
        let hit = hit.unwrap_or_else(|| panic!("{s:?} did not find the race"));
        let v = &hit.run.violations;
        assert!(v.iter().any(|v| v.message.contains("IPI on offline CPU")), "{v:?}");
        let again = interleave::replay(&c, &no_flush(), hit.schedule()).expect("the schedule fits");
        assert_eq!(again.outcome, hit.run.outcome, "{s:?}: replaying {} differs", hit.schedule());
    }
    // A firing counts as one deviation: one is enough.
    let one = interleave::explore(&c, &no_flush(), &Strategy::Exhaustive { bound: 1, runs: EXHAUSTIVE_RUNS });
    assert!(one.outcomes.iter().any(|r| r.run.violations.iter().any(|v| v.message.contains(stranded))));
    let fixed = interleave::explore(&c, &RunOpts::default(), &Strategy::Exhaustive { bound: 2, runs: EXHAUSTIVE_RUNS });
    assert!(fixed.exhausted);
    assert!(fixed.outcomes.iter().all(|r| r.run.violations.is_empty()), "fixed kernel: a violation");
}

/// Everything an exploration reports, as text: what the CLI prints and the
/// snapshot holds depends on nothing else.
fn exploration_text(ex: &interleave::Exploration) -> String {
    let mut out = format!("{}\n", ex.describe());
    for r in &ex.outcomes {
        out.push_str(&format!("{} runs, first {}, {}\n{}", r.runs, r.first_run, r.run.scenario.label, r.run.outcome));
    }
    out.push_str(&format!("{:?}\n", ex.nondeterministic));
    out
}

/// The explorer's worker threads change no byte of what it reports, for
/// each strategy, and for a search stopped at its run cap.
#[test]
fn exploration_is_the_same_on_any_number_of_threads() {
    let c = case("slab/create-destroy-vs-hotplug");
    let strategies = [
        Strategy::Exhaustive { bound: 2, runs: EXHAUSTIVE_RUNS },
        Strategy::Exhaustive { bound: 2, runs: 777 },
        Strategy::Random { runs: 300, seed: 7 },
        Strategy::Pct { runs: 300, seed: 7, depth: 3 },
    ];
    for s in &strategies {
        let with = |jobs| exploration_text(&interleave::explore(&c, &RunOpts { jobs, ..unlocked() }, s));
        let one = with(1);
        assert!(one.contains("NULL pointer dereference") || matches!(s, Strategy::Exhaustive { runs: 777, .. }));
        for jobs in [2, 3] {
            assert_eq!(with(jobs), one, "{s:?} on {jobs} threads");
        }
    }
    let capped = interleave::explore(&c, &RunOpts { jobs: 3, ..unlocked() }, &strategies[1]);
    assert_eq!((capped.executed, capped.exhausted), (777, false));
}
