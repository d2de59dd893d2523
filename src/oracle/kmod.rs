//! The test module: `kmod/` (`hotplug_fi_test.ko`) built against the exact
//! headers of the kernel the oracle boots, and loaded in the oracle's guest
//! to run a list of shell lines that drive it through debugfs. Tooling
//! around the model, not a model of a kernel file.
//!
//! Headers: `apt-get download` of `linux-headers-<abi>`, its `-common`
//! package and `linux-kbuild-<major.minor>`, pinned to the booted kernel
//! package's version, unpacked with `dpkg-deb -x` (never installed) into a
//! temporary directory of `target/oracle/` and renamed to
//! `target/oracle/headers-<abi>/` once checked, with the flavour's
//! `Makefile` pointed at the unpacked common tree. The module is built with
//! `make -C <headers> M=<a copy of kmod/> W=1 modules` by the compiler the
//! headers name (`gcc-12` on bookworm), without module BTF (it needs the
//! kernel's own build tree), and the `.ko` is cached under
//! `target/oracle/kmod-<abi>/<hash>/`, keyed on a hash of the sources, the
//! ABI, the package version and the build flags, beside the build's
//! output, so a cached module still reports its warnings. Every external
//! command runs under a time limit, in a process group of its own that is
//! killed when the limit passes; a failure gives the command's last lines.
//!
//! The guest: the oracle's busybox, kernel and QEMU command line (`-smp 4`,
//! TCG), an initramfs of its own holding the module, and an `/init` that
//! insmods it, runs the given lines one by one, each followed by the new
//! part of the module's log, then prints the kernel's messages since the
//! insmod. `kmod/README.md` describes the commands and the log format
//! parsed here.
//!
//! The suite's cases run through the module in `oracle/cases.rs`. Left
//! out: a `--kernel` whose
//! ABI is not a Debian package's (its headers cannot be found by name),
//! and module signing (Debian's kernel loads an unsigned module and taints
//! itself).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

use super::{INIT_HEAD, Plan, chroot, debian, pieces, qemu};

/// The module's name (`kmod/Kbuild`).
pub const MODULE: &str = "hotplug_fi_test";
/// Its debugfs directory in the guest.
pub const DEBUGFS: &str = "/sys/kernel/debug/hotplug_fi";
/// The make variables of every build: W=1 warnings count, and module BTF
/// (which needs the kernel's vmlinux) is off.
pub const MAKE_FLAGS: [&str; 2] = ["W=1", "CONFIG_DEBUG_INFO_BTF_MODULES="];
/// How long the module's build may take.
pub const BUILD_LIMIT: Duration = Duration::from_secs(300);
/// The output of one command kept, at most.
const OUTPUT_MAX: usize = 1 << 20;
const INSTALL: &str = "apt-get install gcc make";

/// The kernel the module is built for, and where its headers come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Abi {
    /// `6.1.0-57-amd64`: the release `uname -r` gives, which the module's
    /// `vermagic` must match.
    pub abi: String,
    /// The package version the headers are pinned to (`6.1.192-3`), if any.
    pub version: Option<String>,
    pub source: Source,
}

/// Where the headers come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// The Debian kernel's `linux-headers-<abi>` packages, through its apt.
    Debian(debian::Kernel),
    /// `--headers`: a build tree the user gave.
    Tree(PathBuf),
}

impl Abi {
    /// The kernel the oracle boots: a Debian kernel's own headers, or the
    /// `--headers` tree given with a `--kernel`.
    pub fn of(p: &pieces::Pieces) -> Result<Abi, String> {
        if let Some(tree) = &p.headers {
            let release = tree.join("include/config/kernel.release");
            let abi = std::fs::read_to_string(&release).map_err(|e| {
                format!("--headers: {}: {e} (run `make modules_prepare` in that tree)", release.display())
            })?;
            // One tree is one build, however its path was written.
            let tree = tree.canonicalize().map_err(|e| format!("--headers {}: {e}", tree.display()))?;
            return Ok(Abi { abi: abi.trim().to_string(), version: None, source: Source::Tree(tree) });
        }
        match &p.debian {
            Some(k) => {
                Ok(Abi { abi: k.abi.clone(), version: Some(k.version.clone()), source: Source::Debian(k.clone()) })
            }
            None => Err(format!(
                "the test module is built against the headers of the kernel it loads into, and {} came without \
                 them; give --headers DIR (its build tree after `make modules_prepare`)",
                p.version
            )),
        }
    }
}

/// A command's end: its status and its output (stdout and stderr, line
/// by line as they came, at most [`OUTPUT_MAX`] bytes).
pub(super) struct Ran {
    status: ExitStatus,
    output: String,
}

/// The last `n` lines of a command's output, indented, for an error.
fn tail(output: &str, n: usize) -> String {
    let lines: Vec<&str> = output.lines().collect();
    let from = lines.len().saturating_sub(n);
    if lines.is_empty() {
        return "(it printed nothing)".to_string();
    }
    lines[from..].iter().map(|l| format!("  {l}")).collect::<Vec<_>>().join("\n")
}

/// Runs `cmd` within `limit` ([`pieces::output_within`]: its own process
/// group, killed when the limit passes), its stdout then its stderr kept
/// as text up to [`OUTPUT_MAX`]. `what` names it in errors; a program that
/// is not there is an error naming `fix`.
fn run_limited(cmd: &mut Command, what: &str, limit: Duration, fix: &str) -> Result<Ran, String> {
    let found = on_path(&cmd.get_program().to_string_lossy()).is_some() || Path::new(cmd.get_program()).exists();
    let out = pieces::output_within(cmd, limit, what).map_err(|e| if found { e } else { format!("{e}; {fix}") })?;
    let mut output = String::from_utf8_lossy(&out.stdout).into_owned();
    output.push_str(&String::from_utf8_lossy(&out.stderr));
    if output.len() > OUTPUT_MAX {
        let mut cut = OUTPUT_MAX;
        while !output.is_char_boundary(cut) {
            cut -= 1;
        }
        output.truncate(cut);
    }
    Ok(Ran { status: out.status, output })
}

/// [`run_limited`], and a non-zero exit is an error with the last lines.
pub(super) fn run_ok(cmd: &mut Command, what: &str, limit: Duration, fix: &str) -> Result<Ran, String> {
    let ran = run_limited(cmd, what, limit, fix)?;
    if ran.status.success() {
        Ok(ran)
    } else {
        Err(format!("{what} failed ({}); its last lines:\n{}", ran.status, tail(&ran.output, 25)))
    }
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':').filter(|d| !d.is_empty()).map(|d| Path::new(d).join(name)).find(|p| p.is_file())
}

/// The tree of `abi`'s headers inside an unpacked directory.
fn tree_in(dir: &Path, abi: &str) -> PathBuf {
    dir.join("root/usr/src").join(format!("linux-headers-{abi}"))
}

/// The tree to give `make -C`: a Debian kernel's headers, downloaded and
/// unpacked into the cache once, or the `--headers` tree given.
pub fn headers(cache: &Path, abi: &Abi, log: &mut dyn FnMut(&str)) -> Result<PathBuf, String> {
    let k = match &abi.source {
        Source::Tree(t) => return given_tree(cache, t),
        Source::Debian(k) => k,
    };
    let dir = cache.join(format!("headers-{}", abi.abi));
    let tree = tree_in(&dir, &abi.abi);
    if !tree.join("Makefile").exists() {
        fetch_headers(cache, k, &dir, log)?;
    }
    check_headers(&tree, &abi.abi).map_err(|e| format!("{e}; remove {} to download it again", dir.display()))?;
    Ok(tree)
}

/// A `--headers` tree as `make -C` can use it. An unpacked Debian headers
/// package's Makefile includes `/usr/src/<common>/Makefile`; when that is
/// not installed but the unpacked `<common>` is the tree's sibling, the
/// tree is used through a directory of links to its entries, in the cache,
/// whose Makefile includes the sibling (the user's files are not changed).
fn given_tree(cache: &Path, tree: &Path) -> Result<PathBuf, String> {
    let tree = tree.canonicalize().map_err(|e| format!("--headers {}: {e}", tree.display()))?;
    let makefile = std::fs::read_to_string(tree.join("Makefile")).map_err(|e| format!("{}: {e}", tree.display()))?;
    let inc = makefile.lines().find_map(|l| l.trim().strip_prefix("include /usr/src/")?.strip_suffix("/Makefile"));
    let Some(inc) = inc else { return Ok(tree) };
    if Path::new("/usr/src").join(inc).join("Makefile").is_file() {
        return Ok(tree);
    }
    let sibling = tree.parent().map(|p| p.join(inc)).filter(|s| s.join("Makefile").is_file()).ok_or_else(|| {
        format!(
            "--headers {}: its Makefile includes /usr/src/{inc}/Makefile, which is neither installed nor beside it",
            tree.display()
        )
    })?;
    let dir = cache.join(format!("headers-given-{:016x}", fnv(&[tree.as_os_str().as_encoded_bytes()])));
    let dir = std::path::absolute(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    for e in std::fs::read_dir(&tree).map_err(|e| format!("{}: {e}", tree.display()))?.flatten() {
        if e.file_name() != "Makefile" {
            std::os::unix::fs::symlink(e.path(), dir.join(e.file_name()))
                .map_err(|err| format!("{}: {err}", dir.display()))?;
        }
    }
    std::fs::write(dir.join("Makefile"), format!("include {}/Makefile\n", sibling.display()))
        .map_err(|e| e.to_string())?;
    Ok(dir)
}

/// What `make M=` needs of a headers tree: the configuration, the symbol
/// versions, the common tree its Makefile includes, and kbuild's tools.
fn check_headers(tree: &Path, abi: &str) -> Result<(), String> {
    for f in [".config", "Module.symvers", ".kernelvariables", "scripts/mod/modpost", "scripts/basic/fixdep"] {
        if !tree.join(f).is_file() {
            return Err(format!("the {abi} headers at {} have no {f}", tree.display()));
        }
    }
    let makefile = std::fs::read_to_string(tree.join("Makefile")).map_err(|e| format!("{}: {e}", tree.display()))?;
    let common = makefile.lines().find_map(|l| l.trim().strip_prefix("include ")).map(PathBuf::from);
    match common {
        Some(c) if c.is_absolute() && c.is_file() => Ok(()),
        _ => Err(format!("{}/Makefile does not include the unpacked common headers tree", tree.display())),
    }
}

/// Downloads and unpacks the three packages in a temporary directory of
/// the cache, points the flavour's Makefile at the common tree's final
/// place, and renames the directory to `dir` once checked.
fn fetch_headers(cache: &Path, k: &debian::Kernel, dir: &Path, log: &mut dyn FnMut(&str)) -> Result<(), String> {
    let text = dir.display().to_string();
    if text.contains([' ', ':']) {
        return Err(format!("kbuild cannot build in {text}: its path has a space or a colon"));
    }
    let h = k.headers()?;
    std::fs::create_dir_all(cache).map_err(|e| format!("cannot create {}: {e}", cache.display()))?;
    let tmp = tempfile::Builder::new()
        .prefix(".download-")
        .tempdir_in(cache)
        .map_err(|e| format!("cannot make a directory in {}: {e}", cache.display()))?;
    log(&format!("downloading {} with apt-get download into {}", h.packages.join(" "), dir.display()));
    debian::download_unpacked(&k.apt, &h.packages, tmp.path(), &tmp.path().join("root"))?;
    let makefile = tree_in(tmp.path(), &k.abi).join("Makefile");
    let old =
        std::fs::read_to_string(&makefile).map_err(|e| format!("the package has no {}: {e}", makefile.display()))?;
    let wanted = format!("include /usr/src/{}/Makefile", h.common);
    if !old.lines().any(|l| l.trim() == wanted) {
        return Err(format!("{} has no `{wanted}`: not a Debian headers package", makefile.display()));
    }
    // make reads the Makefile's paths from the tree's own directory: each
    // `/usr/src/` (the include, and from 6.16 on `KBUILD_OUTPUT`) becomes
    // the unpacked tree's absolute path.
    let dir_abs = std::path::absolute(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let src = format!("{}/", dir_abs.join("root/usr/src").display());
    std::fs::write(&makefile, old.replace("/usr/src/", &src)).map_err(|e| e.to_string())?;
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| format!("cannot replace {}: {e}", dir.display()))?;
    }
    std::fs::rename(tmp.path(), dir).map_err(|e| format!("cannot rename into {}: {e}", dir.display()))?;
    let _ = tmp.keep();
    Ok(())
}

/// The compiler the headers build with (`CC = ... gcc-12` in a Debian
/// tree's `.kernelvariables`; kbuild's default `gcc` in a tree without
/// one), found on `PATH`.
fn compiler(tree: &Path, abi: &str) -> Result<String, String> {
    let Ok(vars) = std::fs::read_to_string(tree.join(".kernelvariables")) else {
        return on_path("gcc")
            .map(|_| "gcc".to_string())
            .ok_or_else(|| format!("gcc is not installed; install it with: {INSTALL}"));
    };
    let cc = vars
        .lines()
        .find_map(|l| l.strip_prefix("CC = ").or_else(|| l.strip_prefix("CC := ")))
        .and_then(|l| l.split_whitespace().last())
        .map(|w| w.trim_start_matches("$(CROSS_COMPILE)").to_string())
        .ok_or_else(|| format!("{}/.kernelvariables names no CC", tree.display()))?;
    if on_path(&cc).is_none() {
        return Err(format!(
            "{cc} is not installed: the {abi} headers build with it; install it with: {INSTALL} \
             (gcc is {cc} on the Debian release of that kernel)"
        ));
    }
    Ok(cc)
}

/// Where the module is built: on this machine with the compiler its
/// headers name, or in a root of the kernel's Debian release
/// (`oracle/chroot.rs`) when that compiler is not here.
enum Place {
    Host { tree: PathBuf, cc: String },
    Root { root: PathBuf, cc: String },
}

/// The build root of a Debian kernel whose compiler (`missing`, the error
/// saying so) is not on this machine; any other kernel keeps the error.
fn in_release_root(cache: &Path, abi: &Abi, missing: String, log: &mut dyn FnMut(&str)) -> Result<Place, String> {
    let Source::Debian(k) = &abi.source else { return Err(missing) };
    let root =
        chroot::root(cache, k, log).map_err(|e| format!("{missing}; the build root of its Debian release: {e}"))?;
    let cc = k.headers()?.compiler.unwrap_or_else(|| "its gcc".into());
    Ok(Place::Root { root, cc })
}

/// `make -C <headers> M=<m> W=1 … modules`, on this machine or in the
/// release's root (with `/proc` bound in: objtool reads
/// `/proc/self/maps`).
fn make_modules(place: &Place, m: &Path, key: &str, abi: &Abi, log: &mut dyn FnMut(&str)) -> Result<Ran, String> {
    match place {
        Place::Host { tree, cc } => {
            let make = on_path("make").ok_or_else(|| format!("make is not installed; install it with: {INSTALL}"))?;
            log(&format!("building {MODULE}.ko against the {} headers with {cc}", abi.abi));
            let mut cmd = Command::new(make);
            cmd.arg("-C").arg(tree).arg(format!("M={}", m.display())).args(MAKE_FLAGS).arg("modules");
            run_ok(cmd.env("LC_ALL", "C"), "make modules", BUILD_LIMIT, INSTALL)
        }
        Place::Root { root, cc } => {
            log(&format!("building {MODULE}.ko against the {} headers with {cc} in {}", abi.abi, root.display()));
            let _proc = chroot::Proc::bind(root)?;
            let mut args = vec!["make".to_string(), "-C".into(), format!("/usr/src/linux-headers-{}", abi.abi)];
            args.push(format!("M=/build/{key}"));
            args.extend(MAKE_FLAGS.iter().map(|f| f.to_string()));
            args.push("modules".into());
            run_ok(&mut chroot::command(root, &args), "make modules (in the build root)", BUILD_LIMIT, INSTALL)
        }
    }
}

/// The files of `kmod/` that go into the build (`*.c` but not kbuild's
/// `*.mod.c`, `*.h`, `Kbuild`, `Makefile`), sorted by name, with their
/// contents.
pub fn sources(src: &Path) -> Result<Vec<(String, Vec<u8>)>, String> {
    let entries = std::fs::read_dir(src).map_err(|e| format!("the module's sources {}: {e}", src.display()))?;
    let mut files = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        // A build by hand in kmod/ leaves `*.mod.c` and dot files beside them.
        let source = (name.ends_with(".c") && !name.ends_with(".mod.c")) || name.ends_with(".h");
        let wanted = !name.starts_with('.') && (name == "Kbuild" || name == "Makefile" || source);
        if wanted && e.file_type().is_ok_and(|t| t.is_file()) {
            let data = std::fs::read(e.path()).map_err(|err| format!("{}: {err}", e.path().display()))?;
            files.push((name, data));
        }
    }
    files.sort();
    if !files.iter().any(|(n, _)| n == "Kbuild") {
        return Err(format!("{} has no Kbuild: not the module's sources", src.display()));
    }
    Ok(files)
}

/// FNV-1a, 64 bits: a value-stable hash of the build's inputs.
fn fnv(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for &b in (p.len() as u64).to_le_bytes().iter().chain(p.iter()) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// The cache key of a build: sources, ABI, package version and flags.
pub fn key(abi: &Abi, files: &[(String, Vec<u8>)]) -> String {
    let version = abi.version.clone().unwrap_or_default();
    let flags = MAKE_FLAGS.join(" ");
    let tree = match &abi.source {
        Source::Tree(t) => t.display().to_string(),
        Source::Debian(_) => String::new(),
    };
    let mut parts: Vec<&[u8]> =
        vec![b"hotplug-fi kmod 2", abi.abi.as_bytes(), version.as_bytes(), flags.as_bytes(), tree.as_bytes()];
    for (name, data) in files {
        parts.push(name.as_bytes());
        parts.push(data);
    }
    format!("{:016x}", fnv(&parts))
}

/// A built module.
#[derive(Clone, Debug)]
pub struct Built {
    pub ko: PathBuf,
    /// make's output, of this build or of the one that filled the cache.
    pub output: String,
    /// Its lines that warn (a compiler `warning:`, modpost's `WARNING:`).
    pub warnings: Vec<String>,
    pub cached: bool,
    /// Seconds of this call (the headers download and the build).
    pub secs: f64,
    pub key: String,
}

fn warnings(output: &str) -> Vec<String> {
    output.lines().filter(|l| l.to_ascii_lowercase().contains("warning")).map(str::to_string).collect()
}

/// Builds `kmod/` (at `src`) against `abi`'s headers, downloading them
/// first if needed, or takes the cached module of the same sources.
pub fn build(cache: &Path, abi: &Abi, src: &Path, log: &mut dyn FnMut(&str)) -> Result<Built, String> {
    let start = Instant::now();
    let files = sources(src)?;
    let key = key(abi, &files);
    let base = cache.join(format!("kmod-{}", abi.abi));
    let out = base.join(&key);
    let ko = out.join(format!("{MODULE}.ko"));
    let done = |output: String, cached: bool| {
        let warnings = warnings(&output);
        Built { ko: ko.clone(), output, warnings, cached, secs: start.elapsed().as_secs_f64(), key: key.clone() }
    };
    if ko.is_file()
        && let Ok(output) = std::fs::read_to_string(out.join("build.log"))
    {
        return Ok(done(output, true));
    }
    let tree = headers(cache, abi, log)?;
    let place = match compiler(&tree, &abi.abi) {
        Ok(cc) => Place::Host { tree, cc },
        Err(e) => in_release_root(cache, abi, e, log)?,
    };
    std::fs::create_dir_all(&base).map_err(|e| format!("cannot create {}: {e}", base.display()))?;
    let tmp = tempfile::Builder::new()
        .prefix(".build-")
        .tempdir_in(&base)
        .map_err(|e| format!("cannot make a directory in {}: {e}", base.display()))?;
    let m = match &place {
        Place::Host { .. } => tmp.path().join("src"),
        Place::Root { root, .. } => root.join("build").join(&key),
    };
    let _ = std::fs::remove_dir_all(&m);
    std::fs::create_dir_all(&m).map_err(|e| e.to_string())?;
    for (name, data) in &files {
        std::fs::write(m.join(name), data).map_err(|e| format!("{}: {e}", m.join(name).display()))?;
    }
    if m.display().to_string().contains([' ', ':']) {
        return Err(format!("kbuild cannot build in {}: its path has a space or a colon", m.display()));
    }
    let ran = make_modules(&place, &m, &key, abi, log)?;
    let built = m.join(format!("{MODULE}.ko"));
    let data = std::fs::read(&built).map_err(|e| format!("make modules gave no {}: {e}", built.display()))?;
    let magic = format!("vermagic={} ", abi.abi);
    if !data.windows(magic.len()).any(|w| w == magic.as_bytes()) {
        return Err(format!("{} was not built for {} (no `{magic}`)", built.display(), abi.abi));
    }
    let stage = tmp.path().join("out");
    std::fs::create_dir(&stage).map_err(|e| e.to_string())?;
    std::fs::write(stage.join(format!("{MODULE}.ko")), &data).map_err(|e| e.to_string())?;
    std::fs::write(stage.join("build.log"), &ran.output).map_err(|e| e.to_string())?;
    if out.exists() {
        std::fs::remove_dir_all(&out).map_err(|e| format!("cannot replace {}: {e}", out.display()))?;
    }
    std::fs::rename(&stage, &out).map_err(|e| format!("cannot rename into {}: {e}", out.display()))?;
    Ok(done(ran.output, false))
}

/// What `/init` runs after [`INIT_HEAD`]: the module loaded (or the
/// reason it was not), `kl` printing the log's new part, `kc` writing one
/// command and printing how the write ended as the shell saw it.
pub(crate) const KMOD_HEAD: &str = r#"K=/sys/kernel/debug/hotplug_fi
if ! insmod /lib/modules/hotplug_fi_test.ko 2>/tmp/insmod || [ ! -w $K/ctl ]; then
  echo "@@kmod-insmod-failed $(cat /tmp/insmod)"; echo @@DONE; poweroff -f
fi
d0=$(dmesg | wc -l)
o=0
kl() { tail -c +$((o + 1)) $K/log > /tmp/kl; cat /tmp/kl; o=$((o + $(wc -c < /tmp/kl))); }
kc() { if { echo "$1" > $K/ctl; } 2>/tmp/e; then echo "@@kc OK $1"; else echo "@@kc $(errname "$(cat /tmp/e)") $1"; fi; }
"#;

const KMOD_TAIL: &str = "dmesg | tail -n +$((d0 + 1)) | sed 's/^/@@dmesg /'\necho @@DONE\npoweroff -f\n";

/// The guest's `/init`: the oracle's head (mounts, `w`, `errname`), the
/// module loaded, then each line after an `@@line N` marker and followed
/// by the log's new part. A line is one shell line.
pub fn init_script(lines: &[String]) -> Result<String, String> {
    let mut s = format!("{INIT_HEAD}{KMOD_HEAD}");
    for (i, l) in lines.iter().enumerate() {
        if l.contains(['\n', '\r']) || l.trim().is_empty() {
            return Err(format!("line {} for the guest is not one shell line: {l:?}", i + 1));
        }
        s.push_str(&format!("echo '@@line {}'\n{l}\nkl\n", i + 1));
    }
    s.push_str(KMOD_TAIL);
    Ok(s)
}

/// Boots the oracle's kernel once with the module and `lines`, and parses
/// what the guest printed.
pub fn boot(p: &pieces::Pieces, ko: &Path, lines: &[String], limits: qemu::Limits) -> Result<Guest, String> {
    let init = init_script(lines)?;
    let mut c = super::guest_root(p)?;
    let module = std::fs::read(ko).map_err(|e| format!("{}: {e}", ko.display()))?;
    c.file(&format!("lib/modules/{MODULE}.ko"), 0o100644, &module);
    c.file("init", 0o100755, init.as_bytes());
    let dir = tempfile::tempdir().map_err(|e| format!("cannot make a temporary directory: {e}"))?;
    let initrd = dir.path().join("initrd.cpio");
    std::fs::write(&initrd, c.finish()).map_err(|e| format!("{}: {e}", initrd.display()))?;
    let console = qemu::run(super::qemu_command(p, &initrd, &Plan::default())?, limits)?;
    if let Some(l) = console.lines.iter().find(|l| l.starts_with("@@kmod-insmod-failed")) {
        return Err(console.failure(&format!("the guest could not load {MODULE}.ko: {l}")));
    }
    let (steps, dmesg) = steps(&console.lines, lines).map_err(|e| console.failure(&e))?;
    Ok(Guest { console, steps, dmesg })
}

/// One boot with the module.
#[derive(Debug)]
pub struct Guest {
    pub console: qemu::Console,
    /// One per line, in order.
    pub steps: Vec<Step>,
    /// The kernel's messages after the insmod.
    pub dmesg: Vec<String>,
}

/// A line and what it printed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub line: String,
    /// The module's log lines it produced.
    pub log: Vec<Entry>,
    /// Everything else it printed (`@@kc` results, the shell's output).
    pub shell: Vec<String>,
}

/// A callback's log line (`@@kmod cb`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Callback {
    pub up: bool,
    /// `None` for a dynamic state whose setup failed (`?`).
    pub state: Option<u32>,
    pub slot: usize,
    pub inst: Option<String>,
    /// The CPU the callback is for, and the one it ran on.
    pub cpu: usize,
    pub ran: usize,
    pub irqs_off: bool,
    pub preempt: u32,
    pub pid: u32,
    pub comm: String,
    pub ret: i32,
    pub notes: Vec<String>,
}

/// A function run by a cross-CPU call, stop_machine or kmem_cache_alloc
/// (`@@kmod fn`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Func {
    pub label: String,
    pub ran: usize,
    pub irqs_off: bool,
    pub preempt: u32,
    pub pid: u32,
    pub comm: String,
}

/// A line of the module's log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    Cb(Callback),
    /// A control command: its sequence number, writer, result and text.
    Cmd {
        seq: u32,
        pid: u32,
        comm: String,
        ret: i64,
        text: String,
    },
    /// A setup that returned: the slot's state number and name.
    Slot {
        slot: usize,
        state: u32,
        name: String,
    },
    Fn(Func),
    /// Per-CPU data a callback left, freed by the module.
    Leftover {
        slot: usize,
        inst: Option<String>,
        cpu: usize,
    },
    /// Lines the module could not keep.
    Lost(u64),
}

fn num<T: std::str::FromStr>(f: &str, line: &str) -> Result<T, String> {
    f.parse().map_err(|_| format!("malformed module log line `{line}`: `{f}` is not a number"))
}

fn hex(f: &str, line: &str) -> Result<u32, String> {
    let h = f.strip_prefix("0x").ok_or_else(|| format!("malformed module log line `{line}`: `{f}` is not 0x…"))?;
    u32::from_str_radix(h, 16).map_err(|_| format!("malformed module log line `{line}`: `{f}` is not hex"))
}

fn flag(f: &str, line: &str) -> Result<bool, String> {
    match f {
        "0" => Ok(false),
        "1" => Ok(true),
        _ => Err(format!("malformed module log line `{line}`: `{f}` is not 0 or 1")),
    }
}

fn inst(f: &str) -> Option<String> {
    (f != "-").then(|| f.to_string())
}

/// One `@@kmod ` line (kmod/README.md's format).
pub fn parse_entry(line: &str) -> Result<Entry, String> {
    let body = line.strip_prefix("@@kmod ").ok_or_else(|| format!("not a module log line: `{line}`"))?;
    let f: Vec<&str> = body.split(' ').collect();
    let want = |n: usize| {
        if f.len() == n {
            Ok(())
        } else {
            Err(format!("malformed module log line `{line}`: {} fields, not {n}", f.len()))
        }
    };
    match f[0] {
        "cb" => {
            want(13)?;
            let up = match f[1] {
                "up" => true,
                "down" => false,
                d => return Err(format!("malformed module log line `{line}`: direction `{d}`")),
            };
            Ok(Entry::Cb(Callback {
                up,
                state: if f[2] == "?" { None } else { Some(num(f[2], line)?) },
                slot: num(f[3], line)?,
                inst: inst(f[4]),
                cpu: num(f[5], line)?,
                ran: num(f[6], line)?,
                irqs_off: flag(f[7], line)?,
                preempt: hex(f[8], line)?,
                pid: num(f[9], line)?,
                comm: f[10].to_string(),
                ret: num(f[11], line)?,
                notes: if f[12] == "-" { Vec::new() } else { f[12].split(',').map(str::to_string).collect() },
            }))
        }
        "cmd" if f.len() >= 6 => Ok(Entry::Cmd {
            seq: num(f[1], line)?,
            pid: num(f[2], line)?,
            comm: f[3].to_string(),
            ret: num(f[4], line)?,
            text: f[5..].join(" "),
        }),
        "slot" => {
            want(4)?;
            Ok(Entry::Slot { slot: num(f[1], line)?, state: num(f[2], line)?, name: f[3].to_string() })
        }
        "fn" => {
            want(7)?;
            Ok(Entry::Fn(Func {
                label: f[1].to_string(),
                ran: num(f[2], line)?,
                irqs_off: flag(f[3], line)?,
                preempt: hex(f[4], line)?,
                pid: num(f[5], line)?,
                comm: f[6].to_string(),
            }))
        }
        "leftover" => {
            want(4)?;
            Ok(Entry::Leftover { slot: num(f[1], line)?, inst: inst(f[2]), cpu: num(f[3], line)? })
        }
        "lost" => {
            want(2)?;
            Ok(Entry::Lost(num(f[1], line)?))
        }
        _ => Err(format!("malformed module log line `{line}`: unknown kind `{}`", f[0])),
    }
}

/// The console's lines as steps (one per line given) and the kernel's
/// messages after the insmod.
pub fn steps(console: &[String], lines: &[String]) -> Result<(Vec<Step>, Vec<String>), String> {
    let mut steps: Vec<Step> = Vec::new();
    let mut dmesg = Vec::new();
    for l in console {
        if let Some(n) = l.strip_prefix("@@line ") {
            let want = steps.len() + 1;
            if n.trim() != want.to_string() {
                return Err(format!("the guest printed `{l}` where line {want} was due"));
            }
            steps.push(Step { line: lines[want - 1].clone(), log: Vec::new(), shell: Vec::new() });
        } else if let Some(m) = l.strip_prefix("@@dmesg ") {
            dmesg.push(m.to_string());
        } else if l.starts_with("@@kmod ") {
            let step = steps.last_mut().ok_or_else(|| format!("a module log line before the first line ran: `{l}`"))?;
            step.log.push(parse_entry(l)?);
        } else if let Some(step) = steps.last_mut()
            && l != "@@DONE"
        {
            step.shell.push(l.clone());
        }
    }
    if steps.len() != lines.len() {
        return Err(format!("the guest ran {} of the {} lines", steps.len(), lines.len()));
    }
    Ok((steps, dmesg))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn abi() -> Abi {
        let k = debian::Kernel::pinned_default();
        Abi { abi: k.abi.clone(), version: Some(k.version.clone()), source: Source::Debian(k) }
    }

    #[test]
    fn log_lines_parse_and_malformed_ones_say_why() {
        let cb = parse_entry("@@kmod cb up 211 0 - 1 1 0 0x0 19 cpuhp/1 0 alloc,sleep").unwrap();
        let Entry::Cb(c) = cb else { panic!("a callback") };
        assert_eq!((c.up, c.state, c.cpu, c.comm.as_str(), c.notes.len()), (true, Some(211), 1, "cpuhp/1", 2));
        let cmd = parse_entry("@@kmod cmd 4 1 init -12 setup 2 online hpfi:fail").unwrap();
        assert!(matches!(cmd, Entry::Cmd { ret: -12, ref text, .. } if text == "setup 2 online hpfi:fail"));
        assert!(parse_entry("@@kmod cb up ? 2 - 2 2 0 0x0 24 cpuhp/2 -12 fail").is_ok());
        let e = parse_entry("@@kmod cb up 211 0 -").unwrap_err();
        assert!(e.contains("5 fields, not 13"), "{e}");
        assert!(parse_entry("@@kmod fn f 1 2 0x0 0 swapper/1").unwrap_err().contains("not 0 or 1"));
    }

    #[test]
    fn a_command_past_its_limit_is_killed_with_its_group() {
        let start = Instant::now();
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo started; sleep 30 & sleep 30"]);
        let e = run_limited(&mut cmd, "the sleeper", Duration::from_secs(1), "-").map(|_| ()).unwrap_err();
        assert!(e.contains("the sleeper did not finish within 1 s and was killed") && e.contains("started"), "{e}");
        assert!(start.elapsed() < Duration::from_secs(10), "{:?}", start.elapsed());
        let e = run_ok(Command::new("sh").args(["-c", "echo oops >&2; exit 3"]), "sh", Duration::from_secs(5), "-")
            .map(|_| ())
            .unwrap_err();
        assert!(e.contains("sh failed (exit status: 3)") && e.contains("oops"), "{e}");
        let e = run_ok(&mut Command::new("/nonexistent/apt-get"), "apt-get download", Duration::from_secs(5), "fix")
            .map(|_| ())
            .unwrap_err();
        assert!(e.starts_with("apt-get download: cannot start /nonexistent/apt-get") && e.ends_with("; fix"), "{e}");
    }

    #[test]
    fn a_missing_compiler_names_the_install_command() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join(".kernelvariables"), "CC = $(CROSS_COMPILE)gcc-nonexistent-99\n").unwrap();
        let e = compiler(tmp.path(), "6.1.0-57-amd64").unwrap_err();
        assert!(e.starts_with("gcc-nonexistent-99 is not installed") && e.contains("apt-get install gcc make"), "{e}");
    }

    #[test]
    fn the_key_follows_every_source_byte() {
        let a = abi();
        let files = vec![("Kbuild".to_string(), b"obj-m := x.o\n".to_vec())];
        let mut other = files.clone();
        other[0].1.push(b' ');
        assert_ne!(key(&a, &files), key(&a, &other));
        assert_eq!(key(&a, &files), key(&a, &files.clone()));
        let given = Abi { source: Source::Tree(PathBuf::from("/src/linux")), ..a.clone() };
        assert_ne!(key(&a, &files), key(&given, &files), "a --headers tree is another build");
    }
}
