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
//! kernel package download, which the oracle says it does.

use std::path::{Path, PathBuf};
use std::process::Command;

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

/// Finds every piece, downloading the kernel package into the cache if
/// needed.
pub fn find(w: &Where, log: &mut dyn FnMut(&str)) -> Result<Pieces, String> {
    let path = w.path.clone().or_else(|| std::env::var("PATH").ok()).unwrap_or_default();
    let qemu = match &w.qemu {
        Some(q) => existing(q, "qemu-system-x86_64")?,
        None => on_path(&path, "qemu-system-x86_64")
            .ok_or_else(|| format!("qemu-system-x86_64 is not installed; install it with: {INSTALL}"))?,
    };
    let busybox = match &w.busybox {
        Some(b) => existing(b, "busybox")?,
        None => on_path(&path, "busybox")
            .ok_or_else(|| format!("busybox is not installed; install the static one with: {INSTALL}"))?,
    };
    if !is_static(&busybox)? {
        return Err(format!("{} is dynamically linked; the guest needs busybox-static: {INSTALL}", busybox.display()));
    }
    match &w.kernel {
        Some(k) => {
            let k = existing(k, "kernel")?;
            let modules = match &w.modules {
                Some(m) => inject_modules(m)?,
                None => Vec::new(),
            };
            Ok(Pieces { qemu, busybox, kernel: k.clone(), modules, version: k.display().to_string() })
        }
        None => debian_kernel(&w.cache, log).map(|(kernel, modules, version)| Pieces {
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

fn on_path(path: &str, name: &str) -> Option<PathBuf> {
    path.split(':').filter(|d| !d.is_empty()).map(|d| Path::new(d).join(name)).find(|p| p.exists())
}

/// An ELF without a `PT_INTERP` program header is statically linked.
fn is_static(p: &Path) -> Result<bool, String> {
    let b = std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?;
    if b.len() < 64 || &b[..4] != b"\x7fELF" || b[4] != 2 {
        return Err(format!("{} is not a 64-bit ELF executable", p.display()));
    }
    let u = |o: usize, n: usize| b[o..o + n].iter().rev().fold(0u64, |a, &x| a << 8 | u64::from(x));
    let (phoff, phentsize, phnum) = (u(0x20, 8) as usize, u(0x36, 2) as usize, u(0x38, 2) as usize);
    Ok((0..phnum).all(|i| {
        let at = phoff + i * phentsize;
        at + 4 > b.len() || u(at, 4) != 3
    }))
}

/// The two notifier-injection modules under a modules tree.
fn inject_modules(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut found = Vec::new();
    for name in ["notifier-error-inject.ko", "memory-notifier-error-inject.ko"] {
        let p = walk_find(dir, name).ok_or_else(|| format!("{name} not found under {}", dir.display()))?;
        found.push(p);
    }
    Ok(found)
}

fn walk_find(dir: &Path, name: &str) -> Option<PathBuf> {
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        let p = e.path();
        if p.is_dir() {
            if let Some(f) = walk_find(&p, name) {
                return Some(f);
            }
        } else if p.file_name().is_some_and(|n| n == name) {
            return Some(p);
        }
    }
    None
}

/// The newest `linux-image-6.1.0-N-amd64-unsigned`, downloaded and unpacked
/// into the cache once; returns (vmlinux, modules, package version).
fn debian_kernel(cache: &Path, log: &mut dyn FnMut(&str)) -> Result<(PathBuf, Vec<PathBuf>, String), String> {
    let pkg = newest_package()?;
    let dir = cache.join(&pkg);
    let vmlinux = dir.join("vmlinux");
    if !vmlinux.exists() {
        std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        log(&format!("downloading {pkg} with apt-get download into {}", dir.display()));
        run(Command::new("apt-get").arg("download").arg(&pkg).current_dir(&dir), "apt-get download")?;
        let deb = std::fs::read_dir(&dir)
            .map_err(|e| e.to_string())?
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "deb"))
            .ok_or("apt-get download left no .deb")?;
        run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(dir.join("root")), "dpkg-deb -x")?;
        let _ = std::fs::remove_file(&deb);
        let boot = dir.join("root/boot");
        let vmlinuz = std::fs::read_dir(&boot)
            .map_err(|e| format!("{}: {e}", boot.display()))?
            .flatten()
            .map(|e| e.path())
            .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-")))
            .ok_or("the package has no /boot/vmlinuz-*")?;
        extract_vmlinux(&vmlinuz, &vmlinux)?;
    }
    let modules = inject_modules(&dir.join("root/lib/modules"))?;
    let version = version_of(&pkg)?;
    Ok((vmlinux, modules, format!("{pkg} {version}")))
}

/// `apt-cache pkgnames linux-image-6.1.0-`, the highest ABI number.
fn newest_package() -> Result<String, String> {
    let out = Command::new("apt-cache")
        .args(["pkgnames", "linux-image-6.1.0-"])
        .output()
        .map_err(|e| format!("apt-cache is not available ({e}): the oracle needs a Debian machine with apt"))?;
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
    let out = Command::new("apt-cache").args(["show", "--no-all-versions", pkg]).output().map_err(|e| e.to_string())?;
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
    let res = Command::new("xz")
        .args(["--decompress", "--stdout", "--single-stream"])
        .arg(&tail)
        .output()
        .map_err(|e| format!("xz is not available ({e}); install it with: {INSTALL}"))?;
    let _ = std::fs::remove_file(&tail);
    if res.stdout.len() < 1 << 20 {
        return Err(format!("xz gave no kernel: {}", String::from_utf8_lossy(&res.stderr)));
    }
    std::fs::write(out, &res.stdout).map_err(|e| e.to_string())
}

fn run(cmd: &mut Command, what: &str) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("{what}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("{what} failed: {}", String::from_utf8_lossy(&out.stderr).trim()))
    }
}
