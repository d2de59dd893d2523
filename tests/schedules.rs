//! Schedules are strict: each way a schedule can fail to fit the run (a
//! pick past the end, a task that cannot run, a fingerprint of another
//! model, a stale pin in a case, the old unfingerprinted form) is an error
//! that says so, from the library and from the command line. Never is a
//! schedule silently taken as another.

mod common;

use std::process::Command;

use hotplug_fi::case::Case;
use hotplug_fi::engine::RunOpts;
use hotplug_fi::explore::{self, interleave};
use hotplug_fi::kernel::Regression;
use hotplug_fi::sim::executor::Schedule;

const SLAB: &str = "regression/slab-create-destroy-unlocked";

fn case(id: &str) -> Case {
    common::case(id)
}

fn unlocked() -> RunOpts {
    common::switched(Regression::SlabCreateDestroyUnlocked)
}

fn replay_err(id: &str, opts: &RunOpts, schedule: &str) -> String {
    let s = Schedule::parse(schedule).expect("the schedule parses");
    match interleave::replay(&case(id), opts, &s) {
        Err(e) => e,
        Ok(_) => panic!("{schedule} was accepted on {id}"),
    }
}

/// The pinned schedule of the slab regression case, which fits.
fn pin() -> Schedule {
    case(SLAB).explore.schedule.expect("the regression case pins a schedule")
}

#[test]
fn the_pin_fits_with_its_switch_on() {
    let run = interleave::replay(&case(SLAB), &unlocked(), &pin()).expect("the pin fits");
    assert_eq!(run.result.schedule, pin());
}

#[test]
fn a_pick_past_the_end_is_an_error() {
    let e = replay_err(SLAB, &unlocked(), "v2:99999=2@000000");
    assert!(e.contains("it picks at decision 99999, and the run ends after"), "{e}");
    assert!(e.contains("hotplug-fi explore"), "{e}");
}

#[test]
fn a_task_that_cannot_run_is_an_error() {
    let e = replay_err(SLAB, &unlocked(), "v2:3=999@000000");
    assert!(e.contains("at decision 3, task 999 cannot run (eligible: "), "{e}");
}

#[test]
fn a_fingerprint_of_another_model_is_an_error() {
    let mut stale = pin();
    stale.fingerprint ^= 1;
    let e = replay_err(SLAB, &unlocked(), &stale.to_string());
    assert!(e.contains("this schedule was recorded for a different model"), "{e}");
    // The fixed kernel decides differently: the same pin does not fit it.
    let e = replay_err(SLAB, &RunOpts::default(), &pin().to_string());
    assert!(e.contains("does not fit"), "{e}");
}

#[test]
fn a_v1_schedule_is_refused_with_what_to_do() {
    let e = Schedule::parse("v1:35=2").unwrap_err();
    assert!(e.contains("carries no fingerprint") && e.contains("re-record"), "{e}");
}

/// A case whose pin no longer fits fails to run, with the place of the
/// pin, in the harness's entry point and in `sweep` and `explore`.
#[test]
fn a_stale_pin_in_a_case_is_an_error_everywhere() {
    let text = std::fs::read_to_string(common::cases_dir().join("context/schedule-while-atomic.toml")).unwrap();
    let good = case("context/schedule-while-atomic").explore.schedule.unwrap();
    let mut stale = good.clone();
    stale.fingerprint ^= 1;
    let text = text.replace(&good.to_string(), &stale.to_string());
    let line = text.lines().position(|l| l.starts_with("schedule =")).expect("the case pins a schedule") + 1;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stale.toml");
    std::fs::write(&path, &text).unwrap();
    let c = Case::load(&path, dir.path()).expect("the stale case still parses");
    let err = explore::run_case(&c, &RunOpts::default(), None).err().expect("a stale pin is an error").to_string();
    assert!(err.starts_with(&format!("{}:{line}:12:", path.display())), "{err}");
    assert!(err.contains("recorded for a different model"), "{err}");
    for args in [&["sweep"][..], &["explore"][..]] {
        let out = Command::new(env!("CARGO_BIN_EXE_hotplug-fi")).args(args).arg(&path).output().unwrap();
        let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(!out.status.success(), "{args:?} passed a stale pin:\n{all}");
        assert!(all.contains("recorded for a different model"), "{args:?}:\n{all}");
    }
}

#[test]
fn replay_on_the_command_line_refuses_a_misfit() {
    let path = common::cases_dir().join(format!("{SLAB}.toml"));
    let out = Command::new(env!("CARGO_BIN_EXE_hotplug-fi"))
        .args(["replay", &path.display().to_string(), "--schedule", "v2:99999=2@000000"])
        .env_remove("HOTPLUG_REGRESSIONS")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("does not fit") && err.contains("99999"), "{err}");
}
