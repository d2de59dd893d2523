//! Finding and preparing what the oracle boots: `qemu-system-x86_64`, a
//! static busybox, and a Debian 6.1 kernel with its modules.
//!
//! The kernel comes from `apt-get download` of the newest
//! `linux-image-6.1.0-*-amd64-unsigned`, unpacked with `dpkg-deb -x` into a
//! cache under `target/oracle/`, never committed. The bzImage's payload is
//! extracted to an uncompressed `vmlinux` (`xz -d` of the stream after the
//! xz magic), which QEMU boots through PVH about 3 s faster than the
//! bzImage under TCG. A missing piece is an error that gives the exact
//! install command; nothing is installed behind the user's back except the
//! kernel package download, which the oracle says it does. That download
//! starts only once everything else is checked (`oracle/inputs.rs`), goes
//! to a temporary directory of the cache, and is renamed into place only
//! when its vmlinux and modules pass the same checks.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::inputs;

/// The pieces, found.
#[derive(Clone, Debug)]
pub struct Pieces {
    pub qemu: PathBuf,
    pub busybox: PathBuf,
    /// What QEMU's `-kernel` boots (vmlinux, or the bzImage given).
    pub kernel: PathBuf,
    /// The `notifier-error-inject.ko` and `memory-notifier-error-inject.ko`.
    pub modules: Vec<PathBuf>,
    /// The kernel release, as the package names it.
    pub version: String,
}

/// Where to look, and what the user pointed at.
#[derive(Clone, Debug, Default)]
pub struct Where {
    pub cache: PathBuf,
    pub kernel: Option<PathBuf>,
    pub modules: Option<PathBuf>,
    /// `HOTPLUG_ORACLE_QEMU`/`HOTPLUG_ORACLE_BUSYBOX` override the lookups.
    pub qemu: Option<PathBuf>,
    pub busybox: Option<PathBuf>,
    /// The directories to search (`PATH` when `None`).
    pub path: Option<String>,
}

const INSTALL: &str = "apt-get install qemu-system-x86 busybox-static xz-utils";

/// Finds every piece and checks what the user pointed at ([`inputs`]),
/// then downloads the kernel package into the cache if needed: nothing is
/// downloaded before the rest is known to be good.
pub fn find(w: &Where, log: &mut dyn FnMut(&str)) -> Result<Pieces, String> {
    let path = w.path.clone().or_else(|| std::env::var("PATH").ok()).unwrap_or_default();
    let qemu = match &w.qemu {
        Some(q) => executable(q, "qemu-system-x86_64 (HOTPLUG_ORACLE_QEMU)")?,
        None => on_path(&path, "qemu-system-x86_64")
            .ok_or_else(|| format!("qemu-system-x86_64 is not installed; install it with: {INSTALL}"))?,
    };
    let busybox = match &w.busybox {
        Some(b) => existing(b, "busybox")?,
        None => on_path(&path, "busybox")
            .ok_or_else(|| format!("busybox is not installed; install the static one with: {INSTALL}"))?,
    };
    inputs::busybox(&busybox)?;
    match (&w.kernel, &w.modules) {
        (Some(k), m) => {
            inputs::kernel(k)?;
            let modules = m.as_deref().map(inputs::modules_tree).transpose()?.unwrap_or_default();
            Ok(Pieces { qemu, busybox, kernel: k.clone(), modules, version: k.display().to_string() })
        }
        (None, Some(m)) => Err(format!(
            "--modules {} names the modules of --kernel; give --kernel too (Debian's kernel brings its own)",
            m.display()
        )),
        (None, None) => debian_kernel(&w.cache, log).map(|(kernel, modules, version)| Pieces {
            qemu,
            busybox,
            kernel,
            modules,
            version,
        }),
    }
}

fn existing(p: &Path, what: &str) -> Result<PathBuf, String> {
    if p.exists() { Ok(p.to_path_buf()) } else { Err(format!("{what} `{}` does not exist", p.display())) }
}

/// An existing regular file with an execute bit.
fn executable(p: &Path, what: &str) -> Result<PathBuf, String> {
    use std::os::unix::fs::PermissionsExt;
    let m = std::fs::metadata(p).map_err(|e| format!("{what} `{}`: {e}", p.display()))?;
    if m.is_file() && m.permissions().mode() & 0o111 != 0 {
        Ok(p.to_path_buf())
    } else {
        Err(format!("{what} `{}` is not an executable file", p.display()))
    }
}

fn on_path(path: &str, name: &str) -> Option<PathBuf> {
    path.split(':').filter(|d| !d.is_empty()).map(|d| Path::new(d).join(name)).find(|p| p.exists())
}

/// The newest `linux-image-6.1.0-N-amd64-unsigned`, downloaded and unpacked
/// into the cache once; returns (vmlinux, modules, package version).
fn debian_kernel(cache: &Path, log: &mut dyn FnMut(&str)) -> Result<(PathBuf, Vec<PathBuf>, String), String> {
    let pkg = newest_package()?;
    let dir = cache.join(&pkg);
    let vmlinux = dir.join("vmlinux");
    if !vmlinux.exists() {
        fetch(cache, &pkg, &dir, log)?;
    }
    inputs::kernel(&vmlinux).map_err(|e| format!("{e}; remove {} to download it again", dir.display()))?;
    let modules = inputs::modules_tree(&release_dir(&dir)?)?;
    let version = version_of(&pkg)?;
    Ok((vmlinux, modules, format!("{pkg} {version}")))
}

/// Downloads and unpacks `pkg` in a temporary directory of the cache, and
/// renames it to `dir` once its vmlinux and modules are known good.
fn fetch(cache: &Path, pkg: &str, dir: &Path, log: &mut dyn FnMut(&str)) -> Result<(), String> {
    std::fs::create_dir_all(cache).map_err(|e| format!("cannot create {}: {e}", cache.display()))?;
    let tmp = tempfile::Builder::new()
        .prefix(".download-")
        .tempdir_in(cache)
        .map_err(|e| format!("cannot make a directory in {}: {e}", cache.display()))?;
    log(&format!("downloading {pkg} with apt-get download into {}", dir.display()));
    run(Command::new("apt-get").arg("download").arg(pkg).current_dir(tmp.path()), "apt-get download")?;
    let deb = std::fs::read_dir(tmp.path())
        .map_err(|e| e.to_string())?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .ok_or("apt-get download left no .deb")?;
    run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(tmp.path().join("root")), "dpkg-deb -x")?;
    let _ = std::fs::remove_file(&deb);
    let boot = tmp.path().join("root/boot");
    let vmlinuz = std::fs::read_dir(&boot)
        .map_err(|e| format!("{}: {e}", boot.display()))?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-")))
        .ok_or("the package has no /boot/vmlinuz-*")?;
    extract_vmlinux(&vmlinuz, &tmp.path().join("vmlinux"))?;
    inputs::modules_tree(&release_dir(tmp.path())?)?;
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| format!("cannot replace {}: {e}", dir.display()))?;
    }
    std::fs::rename(tmp.path(), dir).map_err(|e| format!("cannot rename into {}: {e}", dir.display()))?;
    let _ = tmp.keep();
    Ok(())
}

/// The one `root/lib/modules/<release>` of an unpacked package.
fn release_dir(pkg: &Path) -> Result<PathBuf, String> {
    let lib = pkg.join("root/lib/modules");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&lib)
        .map_err(|e| format!("{}: {e}", lib.display()))?
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect();
    match dirs.len() {
        1 => Ok(dirs.remove(0)),
        n => Err(format!("{} holds {n} module trees, expected one", lib.display())),
    }
}

/// `apt-cache pkgnames linux-image-6.1.0-`, the highest ABI number.
fn newest_package() -> Result<String, String> {
    let out = output_within(
        Command::new("apt-cache").args(["pkgnames", "linux-image-6.1.0-"]),
        QUICK_TIMEOUT,
        "apt-cache pkgnames",
    )
    .map_err(|e| format!("{e}: the oracle needs a Debian machine with apt"))?;
    let names = String::from_utf8_lossy(&out.stdout);
    names
        .lines()
        .filter_map(|n| {
            let abi = n.strip_prefix("linux-image-6.1.0-")?.strip_suffix("-amd64-unsigned")?;
            abi.parse::<u32>().ok().map(|a| (a, n.to_string()))
        })
        .max()
        .map(|(_, n)| n)
        .ok_or_else(|| "no linux-image-6.1.0-*-amd64-unsigned in apt's lists; run: apt-get update".to_string())
}

fn version_of(pkg: &str) -> Result<String, String> {
    let out = output_within(
        Command::new("apt-cache").args(["show", "--no-all-versions", pkg]),
        QUICK_TIMEOUT,
        "apt-cache show",
    )?;
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text.lines().find_map(|l| l.strip_prefix("Version: ")).unwrap_or("?").to_string())
}

/// The uncompressed kernel from a bzImage: the xz stream after its magic.
fn extract_vmlinux(bzimage: &Path, out: &Path) -> Result<(), String> {
    let b = std::fs::read(bzimage).map_err(|e| format!("{}: {e}", bzimage.display()))?;
    const XZ: &[u8] = b"\xfd7zXZ\x00";
    let at = b.windows(XZ.len()).position(|w| w == XZ).ok_or("no xz stream in the bzImage")?;
    let tail = out.with_extension("xz");
    std::fs::write(&tail, &b[at..]).map_err(|e| e.to_string())?;
    let res = output_within(
        Command::new("xz").args(["--decompress", "--stdout", "--single-stream"]).arg(&tail),
        QUICK_TIMEOUT,
        "xz --decompress",
    )
    .map_err(|e| format!("{e}; xz comes with: {INSTALL}"))?;
    let _ = std::fs::remove_file(&tail);
    if res.stdout.len() < 1 << 20 {
        return Err(format!("xz gave no kernel: {}", String::from_utf8_lossy(&res.stderr)));
    }
    let len = res.stdout.len() as u64;
    inputs::kernel_image(&mut std::io::Cursor::new(&res.stdout), len)
        .map_err(|e| format!("the kernel unpacked from {}: {e}", bzimage.display()))?;
    std::fs::write(out, &res.stdout).map_err(|e| e.to_string())
}

fn run(cmd: &mut Command, what: &str) -> Result<(), String> {
    let out = output_within(cmd, DOWNLOAD_TIMEOUT, what)?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("{what} failed: {}", String::from_utf8_lossy(&out.stderr).trim()))
    }
}

/// How long a download or an unpack may take before it is killed.
pub const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(900);
/// How long an apt query or a decompression may take.
pub const QUICK_TIMEOUT: Duration = Duration::from_secs(120);

/// Bytes kept of each of a command's streams; past it the rest is read
/// and dropped (a kernel image, the largest output wanted, is ~40 MB).
pub const STREAM_MAX: u64 = 256 << 20;

/// `cmd.output()`, in a process group of its own that is killed after
/// `limit`: a stalled mirror or a wedged tool (and whatever it started) is
/// an error naming the command and the limit, not a hang. Its output is
/// drained as it comes, so a chatty command cannot block on a full pipe,
/// and kept up to [`STREAM_MAX`] a stream.
pub fn output_within(cmd: &mut Command, limit: Duration, what: &str) -> Result<Output, String> {
    use std::os::unix::process::CommandExt;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("{what}: cannot start {} ({e})", cmd.get_program().to_string_lossy()))?;
    let drain = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(r) = r {
                let mut r = r.take(STREAM_MAX);
                let _ = r.read_to_end(&mut buf);
                let _ = std::io::copy(&mut r.into_inner(), &mut std::io::sink());
            }
            buf
        })
    };
    let out = drain(child.stdout.take().map(|r| Box::new(r) as Box<dyn Read + Send>));
    let err = drain(child.stderr.take().map(|r| Box::new(r) as Box<dyn Read + Send>));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| format!("{what}: {e}"))? {
            break status;
        }
        if start.elapsed() >= limit {
            let _ = Command::new("kill").arg("-KILL").arg("--").arg(format!("-{}", child.id())).status();
            let _ = child.kill();
            let _ = child.wait();
            let mut said = out.join().unwrap_or_default();
            said.extend(err.join().unwrap_or_default());
            let said = String::from_utf8_lossy(&said);
            let lines: Vec<&str> = said.lines().collect();
            let last: Vec<String> = lines[lines.len().saturating_sub(15)..].iter().map(|l| format!("  {l}")).collect();
            let said = if last.is_empty() { String::new() } else { format!("; its last lines:\n{}", last.join("\n")) };
            let secs = limit.as_secs_f64();
            let secs = if secs.fract() == 0.0 { format!("{secs:.0}") } else { format!("{secs:.1}") };
            return Err(format!("{what} did not finish within {secs} s and was killed{said}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    Ok(Output { status, stdout, stderr })
}
