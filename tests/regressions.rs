//! The meta-test: switching a historical bug back on makes the shipped suite
//! fail, with a message that names the problem; switched off, it passes.
//! This is the evidence that the suite catches each regression.

mod common;

use std::collections::BTreeSet;

use hotplug_fi::explore::pool;
use hotplug_fi::kernel::Regression;
use hotplug_fi::snapshot;

/// What the failure must say for each regression: every one of these in
/// one failure message.
fn problem(r: Regression) -> &'static [&'static str] {
    match r {
        Regression::CpuhpDynRemoveMisfire => &["a callback of unloaded module"],
        Regression::CpuhpRollbackWithoutHotplugCpu => {
            &["called on CPU0 with IRQs enabled (STARTING/DYING callbacks run on CPU"]
        }
        Regression::SlabCreateDestroyUnlocked => &["BUG: kernel NULL pointer dereference"],
        // The callback left queued on the offline CPU, the warning, and the
        // schedule that replays it.
        Regression::SmpNoFlushOnDying => &[
            "callback __blk_mq_complete_request_remote() was still queued on CPU2 when take_cpu_down() finished",
            "IPI on offline CPU",
            "--schedule v2:",
        ],
        // The held-lock assertion with the path that reached it.
        // The held-lock assertion with the path that reached it, and the
        // explorer's overlap of two onlines with its schedule.
        Regression::MemhpOnlinePagesUnlocked => &[
            "online_pages(memory6) without mem_hotplug_lock held for write: lockdep_assert_held_write(&mem_hotplug_lock), reached from online_store → device_online",
            "online operations overlap: ",
            "--schedule v2:",
        ],
        // The cycle with both chains, and the deadlock the explorer makes of it.
        Regression::MemhpAddOnlineAbba => &[
            "possible circular locking dependency detected: device_lock(memory32) -> mem_hotplug_lock -> device_lock(memory32)",
            "mem_hotplug_lock -> device_lock(memory32): ",
            "device_lock(memory32) -> mem_hotplug_lock: ",
            "deadlock: cycle: acpi holds",
        ],
        // Synthetic switches (docs/regressions.md): each check's own message.
        Regression::SyntheticRcuPrepareNoReenable => &["is online with its RCU callback list disabled"],
        Regression::SyntheticRcuReportDeadSkipped => {
            &["RCU stall: rcu_preempt detected stalls on CPUs/tasks: {", "(dead, still counted by RCU)"]
        }
        Regression::SyntheticRcuMigrateDropsCallbacks => {
            &["call_rcu() callback(s) queued, 0 invoked and 0 still queued"]
        }
        Regression::SyntheticStopperParkDropsWorks => &["stopper work(s) queued, 0 ran and 0 still queued: 1 dropped"],
        Regression::SyntheticSchedActivateNoRqOnline => &["'s runqueue is offline but the CPU is active"],
        Regression::SyntheticSchedDeactivateUnwindSmt => {
            &["sched_smt_present is 1, was 2", "sched_smt_present counts 0 core(s) with two SMT threads up, but 1 have"]
        }
        Regression::SyntheticSmpcfdUnwindLeaks => &["'s cfd_data holds 2 allocation(s), expected 0"],
        Regression::SyntheticSmpbootParkSkipped => {
            &["is running but CPU1 is at state 0 (below CPUHP_AP_SMPBOOT_THREADS)"]
        }
        Regression::SyntheticSiblingMapKept => {
            &["topology: CPU0 (online) has cpu_smt_mask 0-1, but its online SMT siblings are 0"]
        }
        Regression::SyntheticHotRemoveKeepsDevice => {
            &["cpu-devices: CPU2 is not present but its cpu2 device is still registered"]
        }
        Regression::SyntheticOfflineKeepsManaged => &["are not managed ≤ present ≤ spanned"],
        Regression::SyntheticPcpDeadNoDrain => {
            &["mm: zone DMA32 (node 0): CPU1 is offline with 3 page(s) on its pcplist"]
        }
        Regression::SyntheticIsolateUndoSkipped => {
            &["nr_isolate_pageblock is 1, was 0", "memory1 is online with pageblock 0 still MIGRATE_ISOLATE"]
        }
        Regression::SyntheticLruEnableSkipped => &["lru_disable_count is 1, was 0", "lru_disable_count is 1 at rest"],
        Regression::SyntheticPcpEnableSkipped => {
            &["its pcplist is still disabled (zone_pcp_disable without zone_pcp_enable)"]
        }
        Regression::SyntheticUnisolateNoFreepageCount => &[
            "free pages of all zones (NR_FREE_PAGES and pcplists) is 84, was 96",
            "buddy page(s) outside isolated pageblocks",
        ],
        Regression::SyntheticDeviceOfflineOnFailure => &[
            "`echo 0 > cpu1/online` failed (",
            "did not restore what it changed: cpuN/online (dev->offline) is 1, was (none)",
        ],
    }
}

/// Runs every case with `regressions` on; returns each failing case's
/// message, then the whole suite's lock-graph violations. With `wanted`,
/// it stops at the first failure that names every one of those texts: the
/// suite has failed for the right reason, and the rest of it cannot change
/// that verdict.
fn suite(regressions: &BTreeSet<Regression>, wanted: Option<&[&str]>) -> Vec<String> {
    let files = common::discover(&common::cases_dir());
    assert!(!files.is_empty(), "no cases found");
    let names_it = |f: &String| wanted.is_some_and(|w| w.iter().all(|p| f.contains(p)));
    let mut failures = Vec::new();
    let mut runs = Vec::new();
    let names: Vec<&str> = regressions.iter().map(|r| r.name()).collect();
    let prefix = format!("HOTPLUG_REGRESSIONS={} ", names.join(","));
    for f in &files {
        let failure = match common::run_quiet(f, regressions) {
            Err(msg) => Some(msg),
            Ok((case, run)) => {
                let failure = common::failure(&case, &run).or_else(|| {
                    // The reproduction lines name the switches; the stored
                    // snapshot is of the fixed kernel.
                    let text = snapshot::case_snapshot(&case, &run).replace(&prefix, "");
                    let stored = common::read_snapshot(&common::snapshot_file(&case.id));
                    (stored.as_deref().map(str::trim_end) != Some(text.trim_end()))
                        .then(|| format!("{}: snapshot differs", case.id))
                });
                runs.push((case, run));
                failure
            }
        };
        if let Some(msg) = failure {
            let done = names_it(&msg);
            failures.push(msg);
            if done {
                return failures;
            }
        }
    }
    let suite = hotplug_fi::explore::suite_lock_violations(runs.iter().map(|(c, r)| (c, r)));
    failures.extend(suite.iter().map(ToString::to_string));
    failures
}

#[test]
fn every_regression_is_caught_and_the_fixed_kernel_passes() {
    // Job 0 is the fixed kernel; job i + 1 is Regression::ALL[i] on. The
    // suites run on every core and come back in that order.
    let jobs: Vec<Option<Regression>> =
        std::iter::once(None).chain(Regression::ALL.iter().copied().map(Some)).collect();
    let mut results = Vec::new();
    let suite_of = |r: Option<Regression>| match r {
        None => suite(&BTreeSet::new(), None),
        Some(r) => suite(&BTreeSet::from([r]), Some(problem(r))),
    };
    pool::ordered(pool::threads(0), jobs, suite_of, |failures| {
        results.push(failures);
        true
    });
    let off = &results[0];
    assert!(off.is_empty(), "with every regression off the suite must pass:\n{}", off.join("\n"));
    for (&r, failures) in Regression::ALL.iter().zip(&results[1..]) {
        assert!(!failures.is_empty(), "{}: the suite passes with the regression on", r.name());
        let named = failures.iter().any(|f| problem(r).iter().all(|p| f.contains(p)));
        assert!(named, "{}: no failure names the problem {:?}:\n{}", r.name(), problem(r), failures.join("\n"));
    }
}

/// A case that pins a schedule for regression switches reproduces their
/// bug on that schedule, with the switches on, in its plain run.
#[test]
fn every_regression_pin_reproduces_its_bug() {
    let mut pins = 0;
    for f in common::discover(&common::cases_dir()) {
        let case = hotplug_fi::case::Case::load(&f, &common::cases_dir()).expect("the case loads");
        let switches = case.explore.schedule_regressions.clone();
        if switches.is_empty() {
            continue;
        }
        pins += 1;
        let opts =
            hotplug_fi::engine::RunOpts { regressions: switches.clone(), record_sites: false, ..Default::default() };
        let plain = hotplug_fi::verdict::Scenario::plain(&case, &opts);
        assert_eq!(plain.schedule, case.explore.schedule, "{}: the pin applies with its switches", case.id);
        let run = hotplug_fi::verdict::run(&case, plain, &opts).unwrap_or_else(|e| panic!("{}: {e}", case.id));
        let text: Vec<String> = run.violations.iter().map(ToString::to_string).collect();
        for r in &switches {
            let hit =
                text.iter().any(|v| problem(*r).iter().filter(|p| !p.starts_with("--schedule")).all(|p| v.contains(p)));
            assert!(hit, "{}: the pinned run with {} on does not show {:?}: {text:?}", case.id, r.name(), problem(*r));
        }
    }
    assert!(pins >= 1, "no case pins a schedule for a regression");
}
