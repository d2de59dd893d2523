//! `hotplug-fi oracle CASE|DIR…` without a guest: every shipped case
//! translates into guest lines or is skipped with its reason (nothing is
//! dropped silently), a few translations are checked line by line, the
//! guest's structured output parses (and malformed lines are errors that
//! name them), and the parsed observables of an agreeing run match the
//! model's. Then, with QEMU and gcc present, a handful of cases run for real
//! in one boot and must agree (skipped with a printed reason otherwise,
//! failing instead under `HOTPLUG_KMOD_REQUIRED`).

mod common;

use hotplug_fi::case::Case;
use hotplug_fi::oracle::cases;
use hotplug_fi::oracle::observe;
use hotplug_fi::oracle::translate::{self, Injection};

fn load(id: &str) -> Case {
    let root = common::cases_dir();
    Case::load(&root.join(format!("{id}.toml")), &root).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn every_shipped_case_translates_or_says_why_not() {
    let root = common::cases_dir();
    let (mut run, mut skipped) = (0, 0);
    for p in common::discover(&root) {
        let case = Case::load(&p, &root).unwrap_or_else(|e| panic!("{e}"));
        let plan = translate::translate(&case);
        match &plan.skip {
            Some(why) => {
                assert!(why.len() > 10, "{}: a skip without a reason: {why:?}", case.id);
                assert!(plan.planned.is_empty(), "{}: skipped and planned", case.id);
                skipped += 1;
            }
            None => {
                assert_eq!(plan.planned[0].label, "plain", "{}: the plain run comes first", case.id);
                for p in &plan.planned {
                    assert!(!p.lines.is_empty(), "{} [{}]: no lines", case.id, p.label);
                    let ops = p.lines.iter().filter(|l| l.starts_with("echo '@@op ")).count();
                    assert_eq!(ops, case.ops.len() - usize::from(plan.notes.iter().any(|n| n.contains("`boot`"))));
                    assert!(p.lines.iter().all(|l| !l.contains('\n')), "{}: a line is not one line", case.id);
                    // Case text is written as written; nothing else names a number.
                    let own = |l: &&String| !l.contains("@@ret $(w ");
                    assert!(
                        !p.lines.iter().filter(own).any(|l| l.contains("236")),
                        "{}: a hard-coded CPUHP_ONLINE",
                        case.id
                    );
                }
                for (label, why) in &plan.skipped {
                    assert!(!why.is_empty(), "{} [{label}]: a skipped scenario without a reason", case.id);
                }
                run += 1;
            }
        }
        let text = cases::print_translation(&case);
        assert!(text.starts_with(&format!("# {}:", case.id)), "{text}");
    }
    let head = cases::init_script(
        &translate::MachineKey { cpus: 4, threads_per_core: 1, cmdline: String::new(), present: 4, hotplug: false },
        &[],
        true,
    );
    assert!(!head.contains("236"), "the guest script hard-codes CPUHP_ONLINE:\n{head}");
    assert!(run >= 30, "only {run} cases translate ({skipped} skipped)");
}

#[test]
fn a_module_case_becomes_control_commands_with_its_unwinding() {
    let plan = translate::translate(&load("dynstate/ap-register-remove"));
    let plain = &plan.planned[0];
    assert_eq!(plain.lines[..3], ["L0=0", "kq 'behave 0 up alloc'", "kq 'behave 0 down free'"]);
    assert_eq!(
        plain.lines[4],
        "echo '@@op 1'; L0=1; { kq 'setup 0 online demo:online'; } || { echo '@@unwind'; \
         for i in $(insts 0); do kq \"del 0 $i\"; done; has 0 && kq 'remove 0'; L0=0; }; kl"
    );
    assert_eq!(plain.lines[5], "echo '@@op 2'; echo \"@@ret $(w 0 /sys/devices/system/cpu/cpu1/online)\"; kl");
    assert_eq!(
        plain.lines[7],
        "echo '@@op 4'; if [ \"$L0\" = 1 ]; then kq 'remove 0'; else echo '@@ret -ENOENT'; fi; kl"
    );
    // The sweep at the module's state fails through its behaviour, on the
    // call the model's failpoint hit.
    let up = plan.planned.iter().find(|p| p.label == "cpuhp/cpu1/up/211").expect("the up site runs");
    assert_eq!(
        up.injection,
        Injection::Behave { slot: 0, up: true, effects: "alloc,fail -11 on cpu 1 on call 2".into() }
    );
}

#[test]
fn a_built_in_site_is_armed_through_the_knob_looked_up_by_name() {
    let plan = translate::translate(&load("cpu/updown"));
    let p = plan.planned.iter().find(|p| p.label == "cpuhp/cpu1/down/197").expect("workqueue:online down runs");
    assert_eq!(p.injection, Injection::Knob { cpu: 1, state: "$(st workqueue:online)".into(), before: 0 });
    assert!(p.lines.iter().any(|l| l == "echo \"@@knob $(w $(st workqueue:online) $C/cpu1/hotplug/fail)\""));
    // A PREPARE state cannot be armed on an online CPU: skipped, saying so.
    let why = plan.skipped.iter().find(|(l, _)| l == "cpuhp/cpu1/down/70").map(|(_, w)| w.as_str());
    assert!(why.is_some_and(|w| w.contains("the fail knob refuses state 70")), "{why:?}");
    // -ENOMEM at a built-in state is skipped, never converted.
    let plan = translate::translate(&load("cpu/fail-online"));
    assert!(plan.skipped.iter().any(|(_, w)| w.contains("-ENOMEM at a built-in state")), "{:?}", plan.skipped);
}

#[test]
fn skips_name_their_reason() {
    let why = |id: &str| translate::translate(&load(id)).skip.unwrap_or_default();
    assert!(why("dynstate/register-vs-hotplug").contains("threads"));
    assert!(why("regression/cpuhp-dyn-remove-misfire").contains("regression"));
    assert!(why("smt/nosmt-no-hotplug").contains("hotplug_cpu = false"));
    assert!(why("context/cpus-read-lock-in-callback").contains("cpus_read_lock"));
    assert!(why("cpu/freeze-thaw").contains("model-only"));
}

const GUEST: &[&str] = &[
    "@@scn 0",
    "@@op 1",
    "@@unwind",
    "@@kmod cb up ? 0 - 0 0 0 0x0 18 cpuhp/0 0 alloc",
    "@@kmod cb up ? 0 - 1 1 0 0x0 19 cpuhp/1 -11 fail",
    "@@kmod cb down ? 0 - 0 0 0 0x0 18 cpuhp/0 0 free",
    "@@kmod cmd 10 1 init -11 setup 0 online demo:online",
    "@@op 2",
    "@@ret OK",
    "@@op 3",
    "@@ret OK",
    "@@op 4",
    "@@ret -ENOENT",
    "@@op 5",
    "@@ret -ENOENT",
    "@@op 6",
    "@@final",
    "@@cpu 0 236 0 -1 -",
    "@@cpu 1 236 236 -1 1",
    "@@mask 0-1 0-1 -",
    "@@smt notsupported active 0",
    "@@reset",
    "@@reset ok",
    "@@DONE",
];

#[test]
fn the_guests_output_parses_and_agrees_with_the_model() {
    let lines: Vec<String> = GUEST.iter().map(|s| s.to_string()).collect();
    let (done, open) = cases::split(&lines).expect("the markers nest");
    assert_eq!(open, None);
    assert_eq!(done.len(), 1);
    let (i, body, ok) = &done[0];
    assert_eq!((*i, *ok), (0, true));
    let case = load("dynstate/ap-register-remove");
    let real = observe::parse(&case, body).expect("it parses");
    assert_eq!(real.ops, ["1 EAGAIN", "2 OK", "3 OK", "4 ENOENT", "5 ENOENT", "6 OK"]);
    assert_eq!(real.callbacks[1], "op1 up ? cpu1 cpuhp/1 -11");
    let plan = translate::translate(&case);
    let model = &plan.planned.iter().find(|p| p.label == "cpuhp/cpu1/up/211").expect("planned").model;
    assert_eq!(observe::diff(&real, model), Vec::<String>::new());
    // A different result is a diff naming the field.
    let mut other = real.clone();
    other.ops[1] = "2 EBUSY".into();
    let d = observe::diff(&other, model).concat();
    assert!(d.contains("results:") && d.contains("+ real  2 EBUSY") && d.contains("- model 2 OK"), "{d}");
}

/// A scenario whose DEAD-section teardown fails is planned with a note,
/// and only the real kernel's `__call_rcu()` WARN is left out of its
/// count: any other extra WARN still disagrees.
#[test]
fn a_background_call_rcu_warn_is_not_counted_and_another_warn_is() {
    let case = load("dynstate/bp-register-remove");
    let plan = translate::translate(&case);
    let p = plan.planned.iter().find(|p| p.label == "cpuhp/cpu1/down/71").expect("planned");
    assert!(p.background.as_deref().is_some_and(|w| w.contains("__call_rcu()")), "{:?}", p.background);
    assert!(plan.planned.iter().find(|p| p.label == "plain").is_some_and(|p| p.background.is_none()));
    let mut real = p.model.clone();
    real.splats = "warn 2 bug 0".into();
    real.splat_lines = vec![
        "[ 8.57] WARNING: CPU: 0 PID: 17 at kernel/cpu.c:1224 _cpu_down+0x1ca/0x380".into(),
        "[ 8.58] WARNING: CPU: 1 PID: 35 at kernel/rcu/tree.c:2856 call_rcu+0x5bd/0x650".into(),
    ];
    real.call_rcu_warns = 1;
    assert_eq!(observe::diff(&observe::without_background_rcu(&real), &p.model), Vec::<String>::new());
    assert!(observe::diff(&real, &p.model).concat().contains("real's:  [ 8.58] WARNING"), "the lines are shown");
    real.call_rcu_warns = 0;
    real.splat_lines[1] = "[ 8.58] WARNING: CPU: 1 PID: 35 at kernel/workqueue.c:2000 x+0x1/0x2".into();
    let d = observe::diff(&observe::without_background_rcu(&real), &p.model).concat();
    assert!(d.contains("+ real  warn 2 bug 0"), "{d}");
}

#[test]
fn malformed_guest_lines_are_errors_that_name_them() {
    let case = load("dynstate/ap-register-remove");
    let bad = |edit: &dyn Fn(&mut Vec<String>)| {
        let mut lines: Vec<String> = GUEST[1..GUEST.len() - 3].iter().map(|s| s.to_string()).collect();
        edit(&mut lines);
        observe::parse(&case, &lines).unwrap_err()
    };
    let e = bad(&|l| l[3] = "@@kmod cb up 211 0 -".into());
    assert!(e.contains("5 fields, not 13"), "{e}");
    let e = bad(&|l| l[6] = "@@op 3".into());
    assert!(e.contains("`@@op 3` where operation 2 was due"), "{e}");
    let e = bad(&|l| l.truncate(12));
    assert!(e.contains("the guest ran 4 of the case's 6 operations"), "{e}");
    let e = bad(&|l| l[16] = "@@cpu 0 236".into());
    assert!(e.contains("malformed CPU line"), "{e}");
    let lines: Vec<String> = ["@@scn 0", "@@scn 1"].iter().map(|s| s.to_string()).collect();
    assert!(cases::split(&lines).unwrap_err().contains("inside another scenario"));
    let lines: Vec<String> = ["@@scn 3", "@@op 1"].iter().map(|s| s.to_string()).collect();
    assert_eq!(cases::split(&lines).unwrap().1, Some(3));
}

fn missing() -> Option<String> {
    let path = std::env::var("PATH").unwrap_or_default();
    let have = |n: &str| path.split(':').any(|d| !d.is_empty() && std::path::Path::new(d).join(n).is_file());
    let gone: Vec<&str> = ["apt-get", "dpkg-deb", "gcc", "make", "qemu-system-x86_64", "busybox"]
        .into_iter()
        .filter(|n| !have(n))
        .collect();
    (!gone.is_empty()).then(|| format!("not installed: {}", gone.join(", ")))
}

/// A handful of 2-CPU cases (a module's unwinding, multi-instance states,
/// the knob, the sysfs files, a cross-CPU call) in one boot of the real
/// kernel: every scenario agrees with the model.
#[test]
fn a_few_cases_agree_on_the_real_kernel() {
    if let Some(why) = missing() {
        if std::env::var_os("HOTPLUG_KMOD_REQUIRED").is_some() {
            panic!("HOTPLUG_KMOD_REQUIRED is set and the cases cannot run for real: {why}");
        }
        eprintln!("oracle_cases: the real-kernel run is skipped: {why}");
        return;
    }
    use hotplug_fi::oracle::{kmod, pieces};
    let cache = common::root().join("target/oracle");
    let w = pieces::Where { cache: cache.clone(), ..Default::default() };
    let p = pieces::find(&w, &mut |m| eprintln!("oracle_cases: {m}")).unwrap_or_else(|e| panic!("{e}"));
    let abi = kmod::Abi::of(&p).unwrap_or_else(|e| panic!("{e}"));
    let built = kmod::build(&cache, &abi, &common::root().join("kmod"), &mut |m| eprintln!("oracle_cases: {m}"))
        .unwrap_or_else(|e| panic!("{e}"));
    let ids = [
        "dynstate/bp-register-remove",
        "multi/add-remove",
        "sysfs/fail-knob-online",
        "sysfs/online-file",
        "smp/call-async-ebusy",
    ];
    let cs: Vec<Case> = ids.iter().map(|id| load(id)).collect();
    let plans = cases::plan(&cs);
    let machines: std::collections::BTreeSet<_> = plans.iter().map(|p| p.machine.clone()).collect();
    assert_eq!(machines.len(), 1, "the cases share one machine, so one boot");
    let results = cases::run(&p, Some(&built.ko), &cs, plans, &mut |m| eprintln!("oracle_cases: {m}"));
    let mut out = String::new();
    let ok = cases::report(&results, &mut |l| {
        out.push_str(l);
        out.push('\n');
    });
    eprintln!("{out}");
    assert!(ok, "the real kernel and the model disagree:\n{out}");
    assert!(results.iter().all(|r| r.plan.skip.is_none() && !r.real.is_empty()), "{out}");
}
