//! The oracle's inputs are checked, and its waits are bounded, without
//! booting anything: a fake `qemu-system-x86_64` (a shell script in a
//! temporary directory) stands for QEMU, fake files for busybox, the
//! kernel and the modules tree, and fake `apt-get`/`apt-cache` on `PATH`
//! show that nothing is downloaded before the inputs are known good.
//! Every test that writes or runs a program holds [`serial`]: a script
//! being written while another test forks cannot be executed ("text file
//! busy").

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use hotplug_fi::case::Case;
use hotplug_fi::oracle::{self, Limits, Plan, inputs, pieces};

fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// An executable shell script `name` in `dir`.
fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

/// The first bytes of a bzImage: the `HdrS` magic at 0x202.
fn bzimage() -> Vec<u8> {
    let mut b = vec![0u8; 0x1000];
    b[0x202..0x206].copy_from_slice(b"HdrS");
    b
}

/// An ELF64 x86-64 executable of `size` bytes with one `PT_LOAD`
/// (`PT_INTERP` too if `interp`).
fn elf(size: usize, interp: bool) -> Vec<u8> {
    let mut b = vec![0u8; size.max(64 + 2 * 56)];
    b[..7].copy_from_slice(b"\x7fELF\x02\x01\x01");
    b[0x10] = 2; // ET_EXEC
    b[0x12] = 62; // EM_X86_64
    b[0x20] = 64; // e_phoff
    b[0x36] = 56; // e_phentsize
    b[0x38] = if interp { 2 } else { 1 }; // e_phnum
    b[64] = 1; // PT_LOAD
    if interp {
        b[64 + 56] = 3; // PT_INTERP
    }
    b
}

/// `bytes` as an executable file `name` in `dir`.
fn file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

/// Pieces whose QEMU is a script with `body`; busybox and the kernel are
/// only read into the initramfs, never run.
fn fake_pieces(dir: &Path, body: &str) -> pieces::Pieces {
    pieces::Pieces {
        qemu: script(dir, "qemu-system-x86_64", body),
        busybox: file(dir, "busybox", b"busybox"),
        kernel: file(dir, "bzImage", &bzimage()),
        modules: Vec::new(),
        version: "fake".into(),
        debian: None,
        headers: None,
    }
}

fn cpu1() -> Plan {
    Plan { cpu: Some(1), ..Plan::default() }
}

/// `oracle::run` with a fake QEMU: its error, and how long it took.
fn run_fake(body: &str, limits: Limits) -> (String, Duration) {
    let _s = serial();
    let tmp = tempfile::tempdir().unwrap();
    let p = fake_pieces(tmp.path(), body);
    let start = Instant::now();
    let e = oracle::run(&p, &cpu1(), limits).expect_err("the fake QEMU does not finish a batch");
    (e, start.elapsed())
}

fn limits(total: u64, idle: u64) -> Limits {
    Limits { total: Duration::from_secs(total), idle: Duration::from_secs(idle) }
}

// 1. QEMU's stderr is drained and shown in every failure.

#[test]
fn qemu_failing_at_once_shows_its_own_error_and_exit_status() {
    let (e, _) = run_fake("echo 'qemu-system-x86_64: invalid kernel header' >&2\nexit 1", limits(10, 10));
    assert!(e.contains("QEMU exited (exit status: 1) before the guest finished"), "{e}");
    assert!(e.contains("invalid kernel header"), "{e}");
}

#[test]
fn a_flood_on_stderr_neither_blocks_qemu_nor_grows_the_message() {
    let (e, took) =
        run_fake("yes 'qemu: noise' | head -c 4000000 >&2\necho 'qemu: the end' >&2\nexit 1", limits(20, 20));
    assert!(e.contains("exit status: 1") && e.contains("qemu: the end"), "{e}");
    assert!(e.lines().filter(|l| l.contains("qemu: noise")).count() < inputs_tail_lines(), "{e}");
    assert!(e.len() < 20 << 10, "the message is bounded: {} bytes", e.len());
    assert!(took < Duration::from_secs(15), "{took:?}");
}

fn inputs_tail_lines() -> usize {
    oracle::qemu::TAIL_LINES
}

#[test]
fn a_malformed_result_line_shows_the_console_and_qemu_stderr() {
    let (e, _) = run_fake("echo 'qemu: warning: a note' >&2\necho '@@R garbage'\necho @@DONE", limits(10, 10));
    assert!(e.contains("malformed result line `@@R garbage`"), "{e}");
    assert!(e.contains("the guest's last lines:\n@@R garbage\n@@DONE"), "{e}");
    assert!(e.contains("qemu: warning: a note"), "{e}");
}

#[test]
fn a_guest_that_stops_printing_hits_the_idle_limit_with_qemu_stderr() {
    let (e, took) = run_fake("echo 'qemu: stuck' >&2\necho booting\nexec sleep 30", limits(20, 1));
    assert!(e.contains("the guest printed nothing for 1 s (the idle limit; the total limit is 20 s)"), "{e}");
    assert!(e.contains("QEMU was killed") && e.contains("booting") && e.contains("qemu: stuck"), "{e}");
    assert!(took < Duration::from_secs(5), "{took:?}");
}

#[test]
fn a_guest_that_keeps_printing_hits_the_total_limit() {
    let (e, took) = run_fake("while :; do echo tick; sleep 0.1; done", limits(1, 10));
    assert!(e.contains("the guest did not finish within the total limit of 1 s (--timeout)"), "{e}");
    assert!(took < Duration::from_secs(5), "{took:?}");
}

// 2. A QEMU that closes its console and keeps running is killed in time.

#[test]
fn qemu_closing_stdout_but_running_is_killed_at_the_total_limit() {
    let (e, took) =
        run_fake("echo 'qemu: closing' >&2\nexec >&-\nexec sleep 30", Limits::total(Duration::from_secs(2)));
    assert!(e.contains("QEMU closed its console but kept running"), "{e}");
    assert!(e.contains("within the total limit of 2 s (--timeout); QEMU was killed"), "{e}");
    assert!(e.contains("qemu: closing"), "{e}");
    assert!(took < Duration::from_secs(6), "{took:?}");
}

#[test]
fn qemu_closing_stdout_but_running_is_killed_at_the_idle_limit() {
    let (e, took) = run_fake("echo line\nexec >&-\nexec sleep 30", limits(30, 1));
    assert!(e.contains("QEMU closed its console but kept running, and printed nothing for 1 s (the idle limit"), "{e}");
    assert!(took < Duration::from_secs(5), "{took:?}");
}

#[test]
fn the_default_idle_limit_is_a_minute_or_the_total_if_shorter() {
    assert_eq!(Limits::total(Duration::from_secs(300)).idle, Duration::from_secs(60));
    assert_eq!(Limits::total(Duration::from_secs(5)).idle, Duration::from_secs(5));
}

// 3. The modules walk is bounded and refuses what is no modules tree.

fn find_with_modules(modules: &Path) -> Result<pieces::Pieces, String> {
    let tmp = tempfile::tempdir().unwrap();
    let w = pieces::Where {
        qemu: Some("/bin/sh".into()),
        busybox: Some(file(tmp.path(), "busybox", &elf(200 << 10, false))),
        kernel: Some(file(tmp.path(), "bzImage", &bzimage())),
        modules: Some(modules.to_path_buf()),
        ..Default::default()
    };
    pieces::find(&w, &mut |m| panic!("nothing to log: {m}"))
}

/// A modules tree with the two injector modules under `kernel/lib/`.
fn modules_tree(root: &Path) {
    std::fs::create_dir_all(root.join("kernel/lib")).unwrap();
    std::fs::write(root.join("modules.order"), "").unwrap();
    for m in inputs::INJECT_MODULES {
        std::fs::write(root.join("kernel/lib").join(m), "ko").unwrap();
    }
}

#[test]
fn a_directory_that_is_no_modules_tree_is_refused() {
    let _s = serial();
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("notifier-error-inject.ko"), "ko").unwrap();
    let e = find_with_modules(tmp.path()).unwrap_err();
    assert!(e.contains("does not look like a kernel modules tree"), "{e}");
    assert!(e.contains("kernel/ directory and one of modules.dep, modules.order, modules.builtin"), "{e}");
    // Its parent, as `/lib/modules` is, names the trees below it.
    modules_tree(&tmp.path().join("6.1.0-99-amd64"));
    let e = find_with_modules(tmp.path()).unwrap_err();
    assert!(e.contains(&format!("give one release's tree: {}", tmp.path().join("6.1.0-99-amd64").display())), "{e}");
}

#[test]
fn proc_is_refused_at_once() {
    let _s = serial();
    let start = Instant::now();
    let e = find_with_modules(Path::new("/proc")).unwrap_err();
    assert!(e.contains("`/proc` does not look like a kernel modules tree"), "{e}");
    assert!(start.elapsed() < Duration::from_secs(2));
}

#[test]
fn a_modules_tree_is_walked_without_following_symlinks_and_to_a_bounded_depth() {
    let _s = serial();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("6.1.0-99-amd64");
    modules_tree(&root);
    std::os::unix::fs::symlink(&root, root.join("kernel/loop")).unwrap();
    std::os::unix::fs::symlink("/", root.join("build")).unwrap();
    let p = find_with_modules(&root).unwrap();
    assert_eq!(p.modules, inputs::INJECT_MODULES.map(|m| root.join("kernel/lib").join(m)));
    // Too deep to be found: a clear error, not a long walk.
    let deep = tmp.path().join("deep");
    std::fs::create_dir_all(deep.join("kernel")).unwrap();
    std::fs::write(deep.join("modules.dep"), "").unwrap();
    let far = (0..inputs::MAX_DEPTH + 2).fold(deep.join("kernel"), |p, i| p.join(format!("d{i}")));
    std::fs::create_dir_all(&far).unwrap();
    std::fs::write(far.join("notifier-error-inject.ko"), "ko").unwrap();
    let e = find_with_modules(&deep).unwrap_err();
    assert!(
        e.contains("notifier-error-inject.ko is not under") && e.contains("CONFIG_NOTIFIER_ERROR_INJECTION=m"),
        "{e}"
    );
}

#[test]
fn modules_without_kernel_and_memory_without_modules_are_errors() {
    let _s = serial();
    let tmp = tempfile::tempdir().unwrap();
    let w = pieces::Where {
        qemu: Some("/bin/sh".into()),
        busybox: Some(file(tmp.path(), "busybox", &elf(200 << 10, false))),
        modules: Some(tmp.path().to_path_buf()),
        ..Default::default()
    };
    let e = pieces::find(&w, &mut |_| {}).unwrap_err();
    assert!(e.contains("names a piece of --kernel; give --kernel too"), "{e}");
    let p = fake_pieces(tmp.path(), ": > \"$0.ran\"");
    let e = oracle::run(&p, &Plan { memory: true, ..Plan::default() }, limits(5, 5)).unwrap_err();
    assert!(
        e.contains("the memory scenarios load notifier-error-inject.ko and memory-notifier-error-inject.ko"),
        "{e}"
    );
    assert!(!tmp.path().join("qemu-system-x86_64.ran").exists(), "nothing booted");
}

// 4. Busybox and the kernel are validated before use and before a download.

fn busybox_error(bytes: &[u8]) -> String {
    let tmp = tempfile::tempdir().unwrap();
    inputs::busybox(&file(tmp.path(), "busybox", bytes)).unwrap_err()
}

#[test]
fn a_busybox_must_be_a_complete_static_x86_64_elf_of_plausible_size() {
    let good = elf(200 << 10, false);
    let tmp = tempfile::tempdir().unwrap();
    assert_eq!(inputs::busybox(&file(tmp.path(), "busybox", &good)), Ok(()));
    let e = busybox_error(&good[..64]);
    assert!(e.contains("a truncated ELF: its 1 program headers at 64 lie outside its 64 bytes"), "{e}");
    assert!(e.contains("apt-get install busybox-static"), "{e}");
    assert!(busybox_error(&good[..40]).contains("shorter than the 64-byte ELF64 header"));
    let mut none = good.clone();
    none[0x38] = 0;
    assert!(busybox_error(&none).contains("without a usable program header table"));
    let mut rel = good.clone();
    rel[0x10] = 1;
    assert!(busybox_error(&rel).contains("an ELF of type 1, not an executable"));
    let mut arm = good.clone();
    arm[0x12] = 183;
    assert!(busybox_error(&arm).contains("an ELF for machine 183, not x86-64"));
    let mut elf32 = good.clone();
    elf32[4] = 1;
    assert!(busybox_error(&elf32).contains("not a 64-bit little-endian ELF"));
    let mut far = good.clone();
    far[0x20..0x28].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(busybox_error(&far).contains("lie outside"));
    assert!(busybox_error(&elf(200 << 10, true)).contains("is dynamically linked"));
    assert!(busybox_error(&elf(50 << 10, false)).contains("not a busybox (expected 100 KiB to 64 MiB)"));
    assert!(busybox_error(b"#!/bin/sh\n").contains("not a 64-bit ELF executable"));
    let p = tmp.path().join("plain");
    std::fs::write(&p, &good).unwrap();
    assert!(inputs::busybox(&p).unwrap_err().contains("not executable (chmod +x it)"));
    assert!(inputs::busybox(tmp.path()).unwrap_err().contains("is not a regular file"));
}

#[test]
fn a_kernel_must_be_a_bzimage_or_an_elf_vmlinux() {
    let tmp = tempfile::tempdir().unwrap();
    assert_eq!(inputs::kernel(&file(tmp.path(), "bzImage", &bzimage())), Ok(()));
    assert_eq!(inputs::kernel(&file(tmp.path(), "vmlinux", &elf(4096, false))), Ok(()));
    let garbage = file(tmp.path(), "garbage", &[0x55; 8192]);
    let e = inputs::kernel(&garbage).unwrap_err();
    assert!(e.contains(&format!("kernel `{}`", garbage.display())), "{e}");
    assert!(e.contains("neither a bzImage (no \"HdrS\" at 0x202) nor an ELF vmlinux"), "{e}");
    assert!(e.contains("--kernel takes what QEMU's -kernel boots"), "{e}");
    let truncated = file(tmp.path(), "truncated", &elf(4096, false)[..100]);
    assert!(inputs::kernel(&truncated).unwrap_err().contains("a truncated ELF"));
    let short = file(tmp.path(), "short", &bzimage()[..0x204]);
    assert!(inputs::kernel(&short).unwrap_err().contains("neither a bzImage"));
    let mut rel = elf(4096, false);
    rel[0x10] = 1;
    let rel = file(tmp.path(), "module.ko", &rel);
    assert!(
        inputs::kernel(&rel)
            .unwrap_err()
            .contains("an ELF of type 1, not an executable (ET_EXEC 2 or ET_DYN 3; a module is 1)")
    );
    let mut dyn_ = elf(4096, false);
    dyn_[0x10] = 3;
    let dyn_ = file(tmp.path(), "pie", &dyn_);
    assert!(inputs::kernel(&dyn_).unwrap_err().contains("an ELF of type 3 (position-independent), not a vmlinux"));
}

/// The CLI with fake `apt-get`/`apt-cache` and QEMU on `PATH`, in `dir`;
/// (exit code, stderr).
fn cli(dir: &Path, env: &[(&str, &Path)], args: &[&str]) -> (i32, String) {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    script(&bin, "apt-cache", &format!(": > {}/apt-cache.ran", dir.display()));
    script(&bin, "apt-get", &format!(": > {}/apt-get.ran", dir.display()));
    script(&bin, "qemu-system-x86_64", &format!(": > {}/qemu.ran", dir.display()));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hotplug-fi"));
    cmd.arg("oracle").args(args).current_dir(dir).env("PATH", &bin);
    cmd.env_remove("HOTPLUG_ORACLE_QEMU").env_remove("HOTPLUG_ORACLE_BUSYBOX");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn a_truncated_busybox_is_refused_before_any_download() {
    let _s = serial();
    let tmp = tempfile::tempdir().unwrap();
    let bb = file(tmp.path(), "busybox", &elf(200 << 10, false)[..64]);
    let (code, err) = cli(tmp.path(), &[("HOTPLUG_ORACLE_BUSYBOX", &bb)], &["--sweep-cpu", "1"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("a truncated ELF"), "{err}");
    for ran in ["apt-cache.ran", "apt-get.ran", "qemu.ran"] {
        assert!(!tmp.path().join(ran).exists(), "{ran}: {err}");
    }
    assert!(!tmp.path().join("target").exists(), "nothing written");
    // With a good busybox the same run asks apt-cache: the fakes would see a
    // download. The fake apt knows no kernel, so the private apt is tried,
    // and its fake update fetches no lists: an error, and no kernel written.
    let bb = file(tmp.path(), "busybox", &elf(200 << 10, false));
    let (code, err) = cli(tmp.path(), &[("HOTPLUG_ORACLE_BUSYBOX", &bb)], &["--sweep-cpu", "1"]);
    assert_eq!(code, 2, "{err}");
    assert!(tmp.path().join("apt-cache.ran").exists(), "{err}");
    assert!(err.contains("target/oracle/apt/sources.list fetched no package lists"), "{err}");
    let cache: Vec<_> =
        std::fs::read_dir(tmp.path().join("target/oracle")).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(cache, ["apt"], "only the private apt is written");
}

// 5. An import writes only a profile that parses, and never a partial file.

#[test]
fn an_import_that_does_not_parse_leaves_the_target_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("imported.toml");
    let e = oracle::write_profile(&target, "name = \"imported\"\n[[state]\nnr = 0\n").unwrap_err();
    assert!(e.contains("the imported profile does not parse, not written"), "{e}");
    assert!(!target.exists());
    std::fs::write(&target, "the old file").unwrap();
    let e = oracle::write_profile(&target, "name = \"imported\"\nkernel = \"k\"\nstate = []\n").unwrap_err();
    assert!(e.contains("is not a state table, not written: it lists no state"), "{e}");
    let two = "name = \"i\"\nkernel = \"k\"\n[[state]]\nnr = 5\nname = \"a\"\nstartup = true\nteardown = true\nsource = \"probed\"\n";
    let e = oracle::write_profile(&target, &format!("{two}{}", two.replace("name = \"i\"\nkernel = \"k\"\n", "")))
        .unwrap_err();
    assert!(e.contains("state 5 follows state 5: the numbers must rise"), "{e}");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "the old file");
    let names: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, ["imported.toml"], "no temporary file is left");
}

#[test]
fn an_import_that_parses_replaces_the_target() {
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("imported.toml");
    std::fs::write(&target, "the old file").unwrap();
    let text = include_str!("data/imported-profile-6.1.192.toml");
    let imported = oracle::write_profile(&target, text).unwrap();
    assert_eq!(std::fs::read_to_string(&target).unwrap(), text);
    assert!(imported.state.len() > 50, "{}", imported.state.len());
    let fresh = tmp.path().join("fresh.toml");
    oracle::write_profile(&fresh, text).unwrap();
    std::fs::write(tmp.path().join("plain.toml"), text).unwrap();
    let mode = |name: &str| {
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(tmp.path().join(name)).unwrap().permissions())
    };
    assert_eq!(mode("fresh.toml"), mode("plain.toml"), "created as fs::write creates a file");
    let e = oracle::check_target(&tmp.path().join("no/such/dir/x.toml")).unwrap_err();
    assert!(e.contains("is not a directory to write it in"), "{e}");
    assert_eq!(oracle::check_target(Path::new("relative.toml")), Ok(()));
}

// 6. `--print-script` (the oracle's translation) quotes every piece of case text.

fn script_of(ops: &[&str], description: &str) -> String {
    let ops: Vec<String> = ops.iter().map(|o| format!("{o:?}")).collect();
    let text = format!("description = {description:?}\nops = [{}]\n[machine]\ncpus = 4\n", ops.join(", "));
    oracle::cases::print_translation(&Case::parse("x.toml", "x", &text).expect("the case parses"))
}

/// `sh -n` on a script: whether it parses.
fn sh_parses(script: &str) -> Result<(), String> {
    let _s = serial();
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("script.sh");
    std::fs::write(&p, script).unwrap();
    let out = Command::new("sh").arg("-n").arg(&p).output().unwrap();
    if out.status.success() { Ok(()) } else { Err(String::from_utf8_lossy(&out.stderr).into_owned()) }
}

#[test]
fn print_script_quotes_case_text_and_parses_with_sh() {
    let s = script_of(
        &[
            "echo $(reboot) > cpu1/online",
            "echo `reboot` > cpu1/hotplug/fail",
            "echo a'b > cpu1/hotplug/target",
            "cpu_down 2",
        ],
        "first line\nreboot",
    );
    assert!(s.contains("$(w '$(reboot)' /sys/devices/system/cpu/cpu1/online)"), "{s}");
    assert!(s.contains("$(w '`reboot`' /sys/devices/system/cpu/cpu1/hotplug/fail)"), "{s}");
    assert!(s.contains("$(w 'a'\\''b' /sys/devices/system/cpu/cpu1/hotplug/target)"), "{s}");
    assert!(s.contains("# note: `cpu_down 2` runs as `echo 0 > cpu2/online` on both sides"), "{s}");
    assert!(!s.contains("reboot\n") && !s.lines().any(|l| l.trim_start().starts_with("reboot")), "{s}");
    sh_parses(&s).unwrap();
}

#[test]
fn print_script_takes_an_echo_written_with_tabs_and_writes_an_option_like_value() {
    let s =
        script_of(&["echo\t1\t>\tcpu1/online => 0", "echo\t-n\t>\t/sys/devices/system/cpu/cpu1/hotplug/fail"], "tabs");
    assert!(s.contains("$(w 1 /sys/devices/system/cpu/cpu1/online)"), "{s}");
    assert!(s.contains("$(w -n /sys/devices/system/cpu/cpu1/hotplug/fail)"), "{s}");
    sh_parses(&s).unwrap();
    // `w` writes with the shell's echo, except a value echo would take as
    // its option, which goes through printf and cat.
    let head = oracle::cases::init_script(
        &oracle::translate::MachineKey {
            cpus: 2,
            threads_per_core: 1,
            cmdline: String::new(),
            present: 2,
            hotplug: false,
        },
        &[],
        true,
    );
    let put = head.lines().find(|l| l.starts_with("put() {")).unwrap_or_else(|| panic!("{head}"));
    assert!(put.contains("-|-*[!0-9]*) printf '%s\\n' \"$1\" | cat;; *) echo \"$1\";;"), "{put}");
    assert!(head.lines().filter(|l| l.starts_with("w() {")).all(|l| l.contains("{ put \"$1\" > \"$2\"; }")), "{head}");
    // And the shell agrees: -n and -12 are written as they are.
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("f");
    for v in ["-n", "-12", "x"] {
        let script = format!("{put}\nput {v} > {}", f.display());
        let ok = Command::new("busybox").args(["sh", "-c", &script]).status().unwrap();
        assert!(ok.success());
        assert_eq!(std::fs::read_to_string(&f).unwrap(), format!("{v}\n"));
    }
}

#[test]
fn every_shipped_case_prints_a_script_sh_parses() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("cases");
    let mut stack = vec![root.clone()];
    let mut n = 0;
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "toml") {
                let s = oracle::cases::print_translation(&Case::load(&p, &root).unwrap());
                sh_parses(&s).unwrap_or_else(|e| panic!("{}: {e}\n{s}", p.display()));
                n += 1;
            }
        }
    }
    assert!(n > 50, "{n} cases");
}

// 7. A CPU the guest lacks, or CPU 0, is refused before booting.

#[test]
fn the_swept_cpu_must_be_one_the_guest_can_hotplug() {
    for cpu in 1..oracle::GUEST_CPUS {
        assert_eq!(Plan { cpu: Some(cpu), ..Plan::default() }.check(), Ok(()));
    }
    let e = Plan { cpu: Some(4), ..Plan::default() }.check().unwrap_err();
    assert!(e.contains("--sweep-cpu 4: the guest has CPUs 0..=3 (-smp 4); give a CPU in 1..=3"), "{e}");
    let e = Plan { cpu: Some(0), ..Plan::default() }.check().unwrap_err();
    assert!(e.contains("CPU 0 is the boot CPU, which cannot be hotplugged; give a CPU in 1..=3"), "{e}");
    let e = Plan { limit: Some(8), memory: true, ..Plan::default() }.check().unwrap_err();
    assert!(e.contains("--limit N limits the CPU sweep"), "{e}");
}

#[test]
fn a_bad_cpu_fails_before_qemu_starts() {
    let _s = serial();
    let tmp = tempfile::tempdir().unwrap();
    let p = fake_pieces(tmp.path(), ": > \"$0.ran\"");
    for cpu in [0, 4, 64] {
        let e = oracle::run(&p, &Plan { cpu: Some(cpu), ..Plan::default() }, limits(5, 5)).unwrap_err();
        assert!(e.contains("give a CPU in 1..=3"), "{e}");
    }
    assert!(!tmp.path().join("qemu-system-x86_64.ran").exists(), "nothing booted");
}

#[test]
fn the_cli_refuses_a_bad_cpu_limit_or_timeout_before_looking_for_qemu() {
    let _s = serial();
    let tmp = tempfile::tempdir().unwrap();
    for (args, expect) in [
        (&["--sweep-cpu", "4"][..], "give a CPU in 1..=3"),
        (&["--sweep-cpu", "0"][..], "CPU 0 is the boot CPU"),
        (&["--memory", "--limit", "8"][..], "--limit N limits the CPU sweep"),
        (&["--memory", "--timeout", "0"][..], "--timeout 0"),
        (&["--import-profile", "no/such/dir/p.toml"][..], "is not a directory to write it in"),
    ] {
        let (code, err) = cli(tmp.path(), &[], args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(expect), "{args:?}: {err}");
    }
    assert!(!tmp.path().join("apt-cache.ran").exists() && !tmp.path().join("qemu.ran").exists());
}

/// Every external command of the oracle's setup runs under a time limit:
/// one that stalls is killed and named; one that writes a lot is drained
/// while it runs, so it cannot stall on a full pipe.
#[test]
fn setup_commands_are_killed_at_their_time_limit_and_drained_as_they_run() {
    use std::process::Command;
    use std::time::{Duration, Instant};
    let start = Instant::now();
    let err = hotplug_fi::oracle::pieces::output_within(
        Command::new("sleep").arg("30"),
        Duration::from_millis(200),
        "sleep 30",
    )
    .unwrap_err();
    assert_eq!(err, "sleep 30 did not finish within 0.2 s and was killed");
    assert!(start.elapsed() < Duration::from_secs(10), "{:?}", start.elapsed());
    let out = hotplug_fi::oracle::pieces::output_within(
        Command::new("head").args(["-c", "4000000", "/dev/zero"]),
        Duration::from_secs(60),
        "head",
    )
    .expect("it runs");
    assert!(out.status.success());
    assert_eq!(out.stdout.len(), 4_000_000);
}

/// `--kernel-version` that apt has no kernel of is an error naming what
/// was searched and how to list what there is; a malformed one says what
/// would do; with `--kernel` it is refused. The fake `apt-get update`
/// leaves a package list in the private apt's lists, the fake `apt-cache`
/// knows no package: nothing is downloaded and no kernel is written.
#[test]
fn a_kernel_version_apt_cannot_find_is_an_error_that_says_where_it_looked() {
    let _s = serial();
    let tmp = tempfile::tempdir().unwrap();
    let bin = tmp.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    // PATH holds only the fakes: they name every other program by its path.
    let d = tmp.path().display();
    script(&bin, "apt-cache", &format!(": > {d}/apt-cache.ran"));
    script(
        &bin,
        "apt-get",
        &format!(
            "for a in \"$@\"; do case \"$a\" in Dir::State::Lists=*) l=${{a#Dir::State::Lists=}}; /bin/mkdir -p \"$l\"; \
             : > \"$l/deb_dists_trixie_main_binary-amd64_Packages\";; esac; done\n\
             case \" $* \" in *\" download \"*) : > {d}/download.ran;; esac"
        ),
    );
    script(&bin, "qemu-system-x86_64", "exit 0");
    let bb = file(tmp.path(), "busybox", &elf(200 << 10, false));
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_hotplug-fi"))
            .arg("oracle")
            .args(args)
            .current_dir(tmp.path())
            .env("PATH", &bin)
            .env("HOTPLUG_ORACLE_BUSYBOX", &bb)
            .env_remove("HOTPLUG_ORACLE_QEMU")
            .output()
            .unwrap();
        (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (code, err) = run(&["--kernel-version", "9.9", "--sweep-cpu", "1"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--kernel-version 9.9: no Debian kernel of that version in bookworm,"), "{err}");
    assert!(err.contains("trixie-backports") && err.contains("`apt-cache pkgnames linux-image-`"), "{err}");
    assert!(tmp.path().join("apt-cache.ran").exists() && !tmp.path().join("download.ran").exists(), "{err}");
    assert!(!tmp.path().join("target/oracle").read_dir().unwrap().flatten().any(|e| e.file_name() != "apt"));
    let (code, err) = run(&["--kernel-version", "latest", "--sweep-cpu", "1"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("give a series (6.1, 6.12, 7.3), a release (7.3.4, 6.12.117+deb12)"), "{err}");
    let k = file(tmp.path(), "bzImage", &bzimage());
    let (code, err) = run(&["--kernel-version", "6.12", "--kernel", k.to_str().unwrap(), "--sweep-cpu", "1"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("give --kernel-version or --kernel, not both"), "{err}");
}
