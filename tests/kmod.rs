//! The test module (`kmod/`) on the real kernel: it builds against the
//! headers of the kernel the oracle boots (today Debian's 6.1.0-57-amd64,
//! 6.1.192-3) with no warnings under `W=1`, and one boot of that kernel
//! under QEMU (4 vCPUs, TCG) shows what the real kernel does with a
//! module's states: which task runs a callback for which CPU, what a failed
//! setup or instance add rolls back and in which order, how an offline
//! orders the teardowns, and that `reset` leaves nothing registered.
//!
//! It needs apt-get, dpkg-deb, gcc, make, QEMU and a static busybox, and
//! downloads the headers (and the kernel, if not cached) into
//! `target/oracle/`. Without them it says what is missing and passes,
//! unless `HOTPLUG_KMOD_REQUIRED` is set (as `.ci/run` does), when a
//! missing piece fails it; `HOTPLUG_KMOD_DUMP` prints the guest's console.
//! Running the suite's cases through the module is
//! `tests/oracle_cases.rs`.

mod common;

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use hotplug_fi::oracle::kmod::{self, Abi, Built, Callback, Entry, Guest, Step};
use hotplug_fi::oracle::{Limits, pieces};

/// What both tests share: the pieces, the ABI, the build (made once).
struct Setup {
    pieces: pieces::Pieces,
    abi: Abi,
    built: Built,
}

fn missing() -> Option<String> {
    let path = std::env::var("PATH").unwrap_or_default();
    let have = |n: &str| path.split(':').any(|d| !d.is_empty() && std::path::Path::new(d).join(n).is_file());
    let need = [
        ("apt-get", "a Debian machine with apt"),
        ("dpkg-deb", "a Debian machine with apt"),
        ("gcc", "apt-get install gcc make"),
        ("make", "apt-get install gcc make"),
        ("qemu-system-x86_64", "apt-get install qemu-system-x86 busybox-static xz-utils zstd"),
        ("busybox", "apt-get install qemu-system-x86 busybox-static xz-utils zstd"),
    ];
    let gone: Vec<String> =
        need.iter().filter(|(n, _)| !have(n)).map(|(n, fix)| format!("{n} is not installed ({fix})")).collect();
    (!gone.is_empty()).then(|| gone.join("; "))
}

/// The shared setup, or `None` (with the reason printed) when a piece is
/// missing and `HOTPLUG_KMOD_REQUIRED` is not set.
fn setup() -> Option<&'static Setup> {
    static SETUP: OnceLock<Result<Setup, String>> = OnceLock::new();
    let s = SETUP.get_or_init(|| {
        if let Some(why) = missing() {
            return Err(why);
        }
        let cache = common::root().join("target/oracle");
        let w = pieces::Where { cache: cache.clone(), ..Default::default() };
        let pieces = pieces::find(&w, &mut |m| eprintln!("kmod test: {m}")).unwrap_or_else(|e| panic!("{e}"));
        let abi = Abi::of(&pieces).unwrap_or_else(|e| panic!("{e}"));
        let built = kmod::build(&cache, &abi, &common::root().join("kmod"), &mut |m| eprintln!("kmod test: {m}"))
            .unwrap_or_else(|e| panic!("{e}"));
        Ok(Setup { pieces, abi, built })
    });
    match s {
        Ok(s) => Some(s),
        Err(why) if std::env::var_os("HOTPLUG_KMOD_REQUIRED").is_some() => {
            panic!("HOTPLUG_KMOD_REQUIRED is set and the test module cannot be tested: {why}")
        }
        Err(why) => {
            eprintln!("kmod test skipped: {why}");
            None
        }
    }
}

#[test]
fn the_module_builds_against_the_booted_kernels_headers_without_warnings() {
    let Some(s) = setup() else { return };
    eprintln!(
        "kmod test: {}.ko for {} ({}) in {:.1} s{}",
        kmod::MODULE,
        s.abi.abi,
        s.abi.version.as_deref().unwrap_or("?"),
        s.built.secs,
        if s.built.cached { ", cached" } else { "" }
    );
    assert!(
        s.built.warnings.is_empty(),
        "the module's build warned:\n{}\n\nmake said:\n{}",
        s.built.warnings.join("\n"),
        s.built.output
    );
    assert!(s.built.output.contains("LD [M]  "), "make did not link the module:\n{}", s.built.output);
    assert!(s.built.ko.is_file());
}

/// The script: each line is one step; `kc` writes one command.
const LINES: &[&str] = &[
    "kc 'setup 0 online hpfi:online'",
    "kc 'setup 1 prepare hpfi:prepare'",
    "kc 'behave 2 up fail -12 on cpu 2'",
    "kc 'setup 2 online hpfi:fail'",
    "kc 'setup 3 online hpfi:multi multi'",
    "kc 'behave 3 up fail -EBUSY on cpu 1'",
    "kc 'add 3 a'",
    "kc 'behave 3 up alloc'",
    "kc 'behave 3 down free'",
    "kc 'add 3 b'",
    "echo \"@@S $(w 0 $C/cpu1/online)\"",
    "echo \"@@S $(w 1 $C/cpu1/online)\"",
    "kc 'cpu_hotplug_disable'",
    "echo \"@@S $(w 0 $C/cpu1/online)\"",
    "kc 'cpu_hotplug_enable'",
    "kc 'behave 4 up cpus_read_lock'",
    "taskset 1 sh -c \"echo 'smp_call_function_single 2 probe 1' > $K/ctl\"",
    "kc 'remove 0'",
    "grep hpfi $C/hotplug/states",
    "kc reset",
    "grep -c hpfi $C/hotplug/states; cat $K/slots",
];

fn guest() -> Option<&'static (Guest, f64)> {
    static GUEST: OnceLock<(Guest, f64)> = OnceLock::new();
    let s = setup()?;
    Some(GUEST.get_or_init(|| {
        let lines: Vec<String> = LINES.iter().map(|l| l.to_string()).collect();
        let start = Instant::now();
        let g = kmod::boot(&s.pieces, &s.built.ko, &lines, Limits::total(Duration::from_secs(240)))
            .unwrap_or_else(|e| panic!("{e}"));
        (g, start.elapsed().as_secs_f64())
    }))
}

/// The step of `LINES[i]`.
fn step(g: &Guest, i: usize) -> &Step {
    let s = &g.steps[i];
    assert_eq!(s.line, LINES[i]);
    s
}

fn callbacks(s: &Step) -> Vec<&Callback> {
    s.log
        .iter()
        .filter_map(|e| match e {
            Entry::Cb(c) => Some(c),
            _ => None,
        })
        .collect()
}

/// The command's logged result, and that the shell's write saw the same.
fn result(s: &Step) -> i64 {
    let ret = s
        .log
        .iter()
        .find_map(|e| match e {
            Entry::Cmd { ret, .. } => Some(*ret),
            _ => None,
        })
        .unwrap_or_else(|| panic!("`{}` logged no command line: {:?}", s.line, s.log));
    let shell = s.shell.iter().find_map(|l| l.strip_prefix("@@kc ")).unwrap_or_else(|| panic!("no @@kc: {s:?}"));
    let want = match ret {
        r if r >= 0 => "OK",
        -12 => "ENOMEM",
        -16 => "EBUSY",
        -95 => "UNKNOWN",
        r => panic!("unexpected result {r}"),
    };
    assert!(shell.starts_with(want), "`{}`: the module logged {ret}, the shell saw {shell}", s.line);
    ret
}

fn slot_state(s: &Step, slot: usize) -> u32 {
    s.log
        .iter()
        .find_map(|e| match e {
            Entry::Slot { slot: n, state, .. } if *n == slot => Some(*state),
            _ => None,
        })
        .unwrap_or_else(|| panic!("`{}` logged no state for slot {slot}: {:?}", s.line, s.log))
}

/// (direction, slot, instance, CPU, result) of each callback, in order.
fn order(s: &Step) -> Vec<(&'static str, usize, Option<&str>, usize, i32)> {
    callbacks(s).iter().map(|c| (if c.up { "up" } else { "down" }, c.slot, c.inst.as_deref(), c.cpu, c.ret)).collect()
}

#[test]
fn the_real_kernel_runs_module_callbacks_where_and_in_the_order_it_does() {
    let Some((g, secs)) = guest() else { return };
    eprintln!(
        "kmod test: the guest reported after {:.1} s, {:.1} s in all ({secs:.1} s with the initramfs)",
        g.console.boot_secs, g.console.total_secs
    );
    let text = || g.console.lines.join("\n");
    if std::env::var_os("HOTPLUG_KMOD_DUMP").is_some() {
        eprintln!("{}", text());
    }

    // An online-dyn state gets the first free slot from 211 (201 to 210
    // are taken at boot); its startups run on cpuhp/N of each CPU, IRQs on.
    let s = step(g, 0);
    let online = slot_state(s, 0);
    assert_eq!(result(s), i64::from(online));
    assert!((211..=231).contains(&online), "{online}\n{}", text());
    let cbs = callbacks(s);
    assert_eq!(cbs.iter().map(|c| c.cpu).collect::<Vec<_>>(), [0, 1, 2, 3], "{}", text());
    for c in &cbs {
        assert!(c.up && c.state == Some(online) && c.ret == 0, "{c:?}");
        assert_eq!(
            (c.ran, c.comm.clone(), c.irqs_off, c.preempt),
            (c.cpu, format!("cpuhp/{}", c.cpu), false, 0),
            "{c:?}"
        );
    }

    // A prepare-dyn state's startups run on the writing task, for every
    // CPU, wherever it happens to run.
    let s = step(g, 1);
    let prepare = slot_state(s, 1);
    assert!((71..=90).contains(&prepare), "{prepare}");
    let Some(Entry::Cmd { pid, comm, .. }) = s.log.iter().find(|e| matches!(e, Entry::Cmd { .. })) else { panic!() };
    let cbs = callbacks(s);
    assert_eq!(cbs.iter().map(|c| c.cpu).collect::<Vec<_>>(), [0, 1, 2, 3]);
    for c in &cbs {
        assert_eq!((c.pid, &c.comm, c.irqs_off, c.state), (*pid, comm, false, Some(prepare)), "{c:?}");
    }

    // A startup failing with -ENOMEM on CPU 2: setup returns it, and the
    // CPUs already done are torn down in ascending order
    // (cpuhp_rollback_install walks the present CPUs below the failed one).
    // The dynamic slot is given back: the next setup gets the number after
    // the first one.
    let s = step(g, 3);
    assert_eq!(result(s), -12);
    assert_eq!(
        order(s),
        [
            ("up", 2, None, 0, 0),
            ("up", 2, None, 1, 0),
            ("up", 2, None, 2, -12),
            ("down", 2, None, 0, 0),
            ("down", 2, None, 1, 0)
        ],
        "{}",
        text()
    );
    assert!(callbacks(s).iter().all(|c| c.state.is_none()), "a failed dynamic setup's state is never known");
    let multi = slot_state(step(g, 4), 3);
    assert_eq!(multi, online + 1, "the failed setup's slot was released");
    assert!(callbacks(step(g, 4)).is_empty(), "cpuhp_setup_state_multi calls nothing");

    // A multi-instance add whose startup fails on CPU 1 rolls back CPU 0
    // and returns the error; the next add runs on every CPU.
    let s = step(g, 6);
    assert_eq!(result(s), -16);
    assert_eq!(order(s), [("up", 3, Some("a"), 0, 0), ("up", 3, Some("a"), 1, -16), ("down", 3, Some("a"), 0, 0)]);
    let s = step(g, 9);
    assert_eq!(result(s), 0);
    assert_eq!(
        callbacks(s).iter().map(|c| (c.cpu, c.notes.join(","))).collect::<Vec<_>>(),
        [(0, "alloc".to_string()), (1, "alloc".to_string()), (2, "alloc".to_string()), (3, "alloc".to_string())]
    );

    // cpu1 offline: teardowns from the highest state down, the AP ones on
    // cpuhp/1, the PREPARE one (the DEAD side) on the kworker that
    // cpu_down_maps_locked's work_on_cpu lends; online, the reverse.
    let s = step(g, 10);
    assert_eq!(s.shell, ["@@S OK"]);
    let down: Vec<(usize, Option<u32>, String)> =
        callbacks(s).iter().map(|c| (c.slot, c.state, c.comm.clone())).collect();
    assert_eq!(down[..2], [(3, Some(multi), "cpuhp/1".into()), (0, Some(online), "cpuhp/1".into())]);
    assert_eq!((down[2].0, down[2].1), (1, Some(prepare)));
    assert!(down[2].2.starts_with("kworker/"), "{down:?}");
    assert!(callbacks(s).iter().all(|c| c.cpu == 1 && !c.up));
    assert_eq!(callbacks(s)[0].notes, ["free"]);
    let s = step(g, 11);
    assert_eq!(s.shell, ["@@S OK"]);
    assert_eq!(callbacks(s).iter().map(|c| c.slot).collect::<Vec<_>>(), [1, 0, 3]);
    assert_eq!(callbacks(s)[0].comm, "init", "the PREPARE startup runs on the writer");

    // cpu_hotplug_disable() makes an offline EBUSY.
    assert_eq!(step(g, 13).shell, ["@@S EBUSY"]);
    // cpus_read_lock in a callback would deadlock a real kernel: refused.
    assert_eq!(result(step(g, 15)), -95);

    // An IPI's function runs on its CPU in hard-IRQ context (the writer is
    // pinned to CPU 0: a call to its own CPU would run locally).
    let s = step(g, 16);
    assert!(s.log.iter().any(|e| matches!(e, Entry::Cmd { ret: 0, comm, .. } if comm == "sh")), "{:?}", s.log);
    let f = s.log.iter().find_map(|e| if let Entry::Fn(f) = e { Some(f) } else { None }).expect("the function ran");
    assert_eq!((f.label.as_str(), f.ran, f.irqs_off), ("probe", 2, true), "{f:?}");
    assert_ne!(f.preempt & 0xf_0000, 0, "in hard-IRQ context: {f:?}");

    // cpuhp_remove_state() runs the teardowns on every CPU.
    let s = step(g, 17);
    assert_eq!(
        order(s).iter().map(|o| (o.0, o.3)).collect::<Vec<_>>(),
        [("down", 0), ("down", 1), ("down", 2), ("down", 3)]
    );

    // The states are in the kernel's table under their names until reset
    // removes them, and reset leaves no slot.
    let s = step(g, 18);
    assert!(s.shell.iter().any(|l| l.trim() == format!("{prepare}: hpfi:prepare")), "{:?}", s.shell);
    assert!(s.shell.iter().any(|l| l.trim() == format!("{multi}: hpfi:multi")), "{:?}", s.shell);
    assert_eq!(result(step(g, 19)), 0);
    assert_eq!(step(g, 20).shell, ["0"], "reset left states or slots");

    // Nothing warned.
    let splats: Vec<&String> =
        g.dmesg.iter().filter(|l| ["WARNING", "BUG", "Oops", "Call Trace"].iter().any(|w| l.contains(w))).collect();
    assert!(splats.is_empty(), "{}", g.dmesg.join("\n"));
}

/// The kernel a user's own build stands for: Debian's 6.12.117+deb12,
/// whose packages the test unpacks as a user would (`dpkg-deb -x` into one
/// directory, nothing installed, the headers' Makefile still including
/// `/usr/src/linux-headers-6.12.117+deb12-common/Makefile`).
const GIVEN_ABI: &str = "6.12.117+deb12-amd64";

/// The unpacked package set, made once in `target/oracle/given-<abi>/`.
fn given_tree() -> std::path::PathBuf {
    use hotplug_fi::oracle::debian;
    let cache = common::root().join("target/oracle");
    let dir = cache.join(format!("given-{GIVEN_ABI}"));
    if dir.join("done").is_file() {
        return dir.join("root");
    }
    let mut log = |m: &str| eprintln!("kmod test: {m}");
    let k =
        debian::resolve(&debian::Want::Version(GIVEN_ABI.into()), &cache, &mut log).unwrap_or_else(|e| panic!("{e}"));
    let mut pkgs = k.pinned();
    pkgs.extend(k.headers().unwrap_or_else(|e| panic!("{e}")).packages);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let ok = k.apt.command("apt-get").arg("download").args(&pkgs).current_dir(&dir).status().unwrap();
    assert!(ok.success(), "apt-get download {}", pkgs.join(" "));
    for deb in std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.path()) {
        let ok = std::process::Command::new("dpkg-deb").arg("-x").arg(&deb).arg(dir.join("root")).status().unwrap();
        assert!(ok.success(), "dpkg-deb -x {}", deb.display());
        std::fs::remove_file(&deb).unwrap();
    }
    std::fs::write(dir.join("done"), "").unwrap();
    dir.join("root")
}

#[test]
fn a_kernel_given_by_path_with_its_modules_and_headers_runs_a_case() {
    if setup().is_none() {
        return;
    }
    let root = given_tree();
    let kernel = root.join(format!("boot/vmlinuz-{GIVEN_ABI}"));
    let modules = root.join(format!("lib/modules/{GIVEN_ABI}"));
    let headers = root.join(format!("usr/src/linux-headers-{GIVEN_ABI}"));
    let makefile = std::fs::read_to_string(headers.join("Makefile")).unwrap();
    assert!(makefile.starts_with("include /usr/src/"), "the tree is as the package left it: {makefile}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hotplug-fi"))
        .arg("oracle")
        .arg("--kernel")
        .arg(&kernel)
        .arg("--modules")
        .arg(&modules)
        .arg("--headers")
        .arg(&headers)
        .arg("cases/dynstate/ap-register-remove.toml")
        .current_dir(common::root())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    eprintln!("{text}{err}");
    assert!(text.contains(&format!("kernel: {}", kernel.display())), "{text}");
    assert!(!text.contains("test module: not built"), "the module built against --headers: {text}");
    let row = text.lines().find(|l| l.starts_with("dynstate/ap-register-remove")).unwrap_or_else(|| panic!("{text}"));
    let f: Vec<&str> = row.split_whitespace().collect();
    assert!(f[2].parse::<usize>().unwrap() > 0, "the case ran on the given kernel: {row}");
    // The case needs the module: it ran only because the module loaded.
    assert!(text.contains("cases: 1 run, 0 skipped"), "{text}");
}
