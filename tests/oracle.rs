//! The real-kernel oracle without booting anything: its missing-piece
//! errors say what to install, `--print-script` exports a case for a real
//! machine, and the model agrees with the memory answers a real 6.1.192
//! kernel gave (`tests/data/oracle-memory-6.1.192.txt`, recorded with
//! `hotplug-fi oracle --memory`). `hotplug-fi oracle` itself runs in CI
//! (`.ci/run`) against the real kernel.

mod common;

use std::path::PathBuf;

use hotplug_fi::case::Case;
use hotplug_fi::oracle::{self, pieces};

fn find(w: pieces::Where) -> String {
    pieces::find(&w, &mut |_| {}).expect_err("a piece is missing")
}

#[test]
fn a_missing_qemu_names_the_install_command() {
    let e = find(pieces::Where { path: Some("/nonexistent".into()), ..Default::default() });
    assert!(e.contains("qemu-system-x86_64 is not installed"), "{e}");
    assert!(e.contains("apt-get install qemu-system-x86 busybox-static"), "{e}");
}

#[test]
fn a_missing_or_dynamic_busybox_names_the_install_command() {
    let sh = PathBuf::from("/bin/sh");
    let e = find(pieces::Where { qemu: Some(sh.clone()), path: Some("/nonexistent".into()), ..Default::default() });
    assert!(e.contains("busybox is not installed") && e.contains("busybox-static"), "{e}");
    let e = find(pieces::Where { qemu: Some(sh.clone()), busybox: Some(sh), ..Default::default() });
    assert!(e.contains("dynamically linked") && e.contains("busybox-static"), "{e}");
}

#[test]
fn a_busybox_that_is_not_an_elf_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let fake = tmp.path().join("busybox");
    std::fs::write(&fake, b"not an elf").unwrap();
    let e = find(pieces::Where { qemu: Some("/bin/sh".into()), busybox: Some(fake), ..Default::default() });
    assert!(e.contains("not a 64-bit ELF executable"), "{e}");
}

#[test]
fn print_script_gives_the_guests_writes_in_the_real_trees() {
    let dir = common::cases_dir();
    let case = Case::load(&dir.join("memory/notifier-error-inject.toml"), &dir).unwrap();
    let s = oracle::cases::print_translation(&case);
    assert!(
        s.contains("$(w -12 /sys/kernel/debug/notifier-error-inject/memory/actions/MEM_GOING_OFFLINE/error)"),
        "{s}"
    );
    assert!(s.contains("$(w offline /sys/devices/system/memory/memory6/state)"), "{s}");
    let case = Case::load(&dir.join("sysfs/fail-knob-online.toml"), &dir).unwrap();
    let s = oracle::cases::print_translation(&case);
    assert!(s.contains("/sys/devices/system/cpu/cpu1/hotplug/fail"), "{s}");
}

#[test]
fn the_guest_script_runs_every_memory_scenario_and_powers_off() {
    let s = oracle::init_script(&oracle::Plan { cpu: Some(1), memory: true, limit: Some(8), ..Default::default() });
    assert!(s.contains("head -n 8"));
    assert_eq!(s.matches("echo \"@@M ").count(), oracle::MEMORY.len());
    assert!(s.trim_end().ends_with("poweroff -f"));
}

/// Recorded `OP | RESULT` lines against the oracle's scenarios and the
/// model's answers.
fn agree(data: &str, scenarios: &[&str], model: Vec<String>) {
    let real: Vec<(&str, &str)> = data
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split_once(" | ").expect("OP | RESULT"))
        .collect();
    let ops: Vec<&str> = real.iter().map(|(op, _)| *op).collect();
    assert_eq!(ops, scenarios, "the recorded scenarios are the oracle's");
    let disagree: Vec<String> = real
        .iter()
        .zip(&model)
        .filter(|((_, r), m)| r != m)
        .map(|((op, r), m)| format!("{op}: real {r}, model {m}"))
        .collect();
    assert!(disagree.is_empty(), "{}", disagree.join("\n"));
}

#[test]
fn the_model_agrees_with_the_real_kernel_on_the_memory_scenarios() {
    agree(include_str!("data/oracle-memory-6.1.192.txt"), oracle::MEMORY, oracle::model_memory());
}

/// `oracle --import-profile` on the real 6.1.192 kernel wrote
/// `tests/data/imported-profile-6.1.192.toml`: the default profile has the
/// same states, names and (where the knob could probe them) callbacks.
#[test]
fn the_default_profile_matches_the_one_imported_from_the_real_kernel() {
    let imported = oracle::Imported::parse(include_str!("data/imported-profile-6.1.192.toml")).unwrap();
    assert!(imported.kernel.contains("6.1.192"), "{}", imported.kernel);
    let probed = imported.state.iter().filter(|s| s.source != "built-in").count();
    assert!(probed >= 50, "the knob probed {probed} of {} states", imported.state.len());
    let builtin = hotplug_fi::kernel::cpuhotplug::Profile::builtin("debian-6.1").unwrap();
    let diff = imported.differences(&builtin);
    assert!(diff.is_empty(), "{}", diff.join("\n"));
    // A difference is found when there is one.
    let mut other = imported.clone();
    other.state[3].startup = !other.state[3].startup;
    assert_eq!(other.differences(&builtin).len(), 1);
}

/// The model agrees with what the real kernel did with SMT siblings and
/// `nosmt` (`tests/data/oracle-smt-6.1.192.txt`, from `oracle --smt`).
#[test]
fn the_model_agrees_with_the_real_kernel_on_the_smt_sequence() {
    agree(include_str!("data/oracle-smt-6.1.192.txt"), oracle::SMT_SEQUENCE, oracle::model_smt());
}
