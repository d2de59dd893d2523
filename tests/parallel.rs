//! Trials that arm failpoints never see each other's: the `fail` registry is
//! global, and `FailGuard` serialises the runs that use it. Each thread here
//! sweeps a different set of sites at the same time; every result must be
//! the one a sequential run gives.

mod common;

use std::sync::Arc;

use hotplug_fi::case::Case;
use hotplug_fi::engine::RunOpts;
use hotplug_fi::fault::Site;
use hotplug_fi::report;
use hotplug_fi::verdict::{self, SWEEP_ACTION, Scenario};

fn case() -> Case {
    Case::load(&common::cases_dir().join("cpu/updown.toml"), &common::cases_dir()).expect("cpu/updown loads")
}

fn outcome(site: Site) -> String {
    let case = case();
    let sc = Scenario { label: site.to_string(), faults: vec![(site, SWEEP_ACTION.to_string())], schedule: None };
    let run = verdict::run(&case, sc, &RunOpts::default()).expect("runs");
    assert!(verdict::unfired(&run).is_empty(), "{site} did not fire");
    format!("{}{}", report::trace(&case, &run.result), run.outcome)
}

#[test]
fn concurrent_fault_runs_do_not_interfere() {
    let (case, opts) = (case(), RunOpts::default());
    let plain = verdict::run(&case, Scenario::plain(&case, &opts), &opts).expect("runs");
    let sites: Vec<Site> = plain.result.reached().to_vec();
    assert!(sites.len() > 50, "the plain run reaches {} sites", sites.len());
    let sequential: Vec<String> = sites.iter().map(|s| outcome(*s)).collect();
    let sites = Arc::new(sites);
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let sites = Arc::clone(&sites);
            std::thread::spawn(move || {
                sites.iter().enumerate().filter(|(i, _)| i % 4 == t).map(|(i, s)| (i, outcome(*s))).collect::<Vec<_>>()
            })
        })
        .collect();
    for h in handles {
        for (i, text) in h.join().expect("a thread panicked") {
            assert_eq!(text, sequential[i], "{} differs when run concurrently", sites[i]);
        }
    }
}
