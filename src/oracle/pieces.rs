//! Finding and preparing what the oracle boots: `qemu-system-x86_64`, a
//! static busybox, and a Debian kernel with its modules.
//!
//! The kernel is the one `--kernel-version` names (`oracle/debian.rs`;
//! by default the 6.1 ABI the model cites), fetched with `apt-get
//! download` of its packages, unpacked with `dpkg-deb -x` into a cache
//! under `target/oracle/kernel-<abi>/`, never committed. The bzImage's
//! payload (found through its setup header's `payload_offset`) is
//! extracted to an uncompressed `vmlinux` (`xz -d` up to 6.1, `zstd -d`
//! from 6.12 on), which QEMU boots through PVH about 3 s faster than the
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

use super::{debian, inputs};

/// The pieces, found.
#[derive(Clone, Debug)]
pub struct Pieces {
    pub qemu: PathBuf,
    pub busybox: PathBuf,
    /// What QEMU's `-kernel` boots (vmlinux, or the bzImage given).
    pub kernel: PathBuf,
    /// The `notifier-error-inject.ko` and `memory-notifier-error-inject.ko`.
    pub modules: Vec<PathBuf>,
    /// The kernel, as the oracle prints it: the ABI and package version,
    /// or the `--kernel` path.
    pub version: String,
    /// The Debian kernel booted, if it is one (not a `--kernel`).
    pub debian: Option<debian::Kernel>,
    /// `--headers`: the build tree of a `--kernel` of the user's.
    pub headers: Option<PathBuf>,
}

/// Where to look, and what the user pointed at.
#[derive(Clone, Debug, Default)]
pub struct Where {
    pub cache: PathBuf,
    pub kernel: Option<PathBuf>,
    pub modules: Option<PathBuf>,
    /// `--headers`, with `--kernel`.
    pub headers: Option<PathBuf>,
    /// `--kernel-version`, when no `--kernel` is given.
    pub want: debian::Want,
    /// `HOTPLUG_ORACLE_QEMU`/`HOTPLUG_ORACLE_BUSYBOX` override the lookups.
    pub qemu: Option<PathBuf>,
    pub busybox: Option<PathBuf>,
    /// The directories to search (`PATH` when `None`).
    pub path: Option<String>,
}

const INSTALL: &str = "apt-get install qemu-system-x86 busybox-static xz-utils zstd";

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
    if w.want != debian::Want::Pinned && w.kernel.is_some() {
        return Err("give --kernel-version or --kernel, not both".into());
    }
    match (&w.kernel, &w.modules, &w.headers) {
        (Some(k), m, h) => {
            inputs::kernel(k)?;
            let modules = m.as_deref().map(inputs::modules_tree).transpose()?.unwrap_or_default();
            let headers = h.as_deref().map(inputs::headers_tree).transpose()?;
            let version = k.display().to_string();
            Ok(Pieces { qemu, busybox, kernel: k.clone(), modules, version, debian: None, headers })
        }
        (None, Some(given), _) | (None, None, Some(given)) => Err(format!(
            "{} names a piece of --kernel; give --kernel too (Debian's kernel brings its own modules and headers)",
            given.display()
        )),
        (None, None, None) => debian_kernel(&w.cache, &w.want, log).map(|(kernel, modules, k)| Pieces {
            qemu,
            busybox,
            kernel,
            modules,
            version: k.describe(),
            debian: Some(k),
            headers: None,
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

/// The kernel `want` names, downloaded and unpacked into the cache once;
/// returns (vmlinux, the injector modules, the kernel). The pinned default
/// in the cache is used without asking apt.
fn debian_kernel(
    cache: &Path,
    want: &debian::Want,
    log: &mut dyn FnMut(&str),
) -> Result<(PathBuf, Vec<PathBuf>, debian::Kernel), String> {
    let cached = |abi: &str, version: &str| {
        let dir = cache.join(format!("kernel-{abi}"));
        let stamp = std::fs::read_to_string(dir.join("version")).unwrap_or_default();
        (stamp.trim() == version && dir.join("vmlinux").is_file()).then_some(dir)
    };
    let k = match (want, cached(debian::DEFAULT_ABI, debian::DEFAULT_VERSION)) {
        (debian::Want::Pinned, Some(_)) => debian::Kernel::pinned_default(),
        _ => debian::resolve(want, cache, log)?,
    };
    let dir = match cached(&k.abi, &k.version) {
        Some(dir) => dir,
        None => fetch(cache, &k, log)?,
    };
    let vmlinux = dir.join("vmlinux");
    inputs::kernel(&vmlinux).map_err(|e| format!("{e}; remove {} to download it again", dir.display()))?;
    let modules = inputs::modules_tree(&release_dir(&dir, &k.abi)?)?;
    Ok((vmlinux, modules, k))
}

/// Downloads and unpacks `k`'s packages in a temporary directory of the
/// cache, and renames it to `kernel-<abi>` once its vmlinux and modules
/// are known good.
fn fetch(cache: &Path, k: &debian::Kernel, log: &mut dyn FnMut(&str)) -> Result<PathBuf, String> {
    let dir = cache.join(format!("kernel-{}", k.abi));
    std::fs::create_dir_all(cache).map_err(|e| format!("cannot create {}: {e}", cache.display()))?;
    let tmp = tempfile::Builder::new()
        .prefix(".download-")
        .tempdir_in(cache)
        .map_err(|e| format!("cannot make a directory in {}: {e}", cache.display()))?;
    let pkgs = k.pinned();
    log(&format!("downloading {} with apt-get download into {}", pkgs.join(" "), dir.display()));
    debian::download_unpacked(&k.apt, &pkgs, tmp.path(), &tmp.path().join("root"))?;
    let image = kernel_image_in(tmp.path(), &k.abi)?;
    extract_vmlinux(&image, &tmp.path().join("vmlinux"))?;
    inputs::modules_tree(&release_dir(tmp.path(), &k.abi)?)?;
    std::fs::write(tmp.path().join("version"), format!("{}\n", k.version)).map_err(|e| e.to_string())?;
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| format!("cannot replace {}: {e}", dir.display()))?;
    }
    std::fs::rename(tmp.path(), &dir).map_err(|e| format!("cannot rename into {}: {e}", dir.display()))?;
    let _ = tmp.keep();
    Ok(dir)
}

/// The bzImage of an unpacked kernel: `/boot/vmlinuz-<abi>` (up to 6.12)
/// or `/usr/lib/modules/<abi>/vmlinuz.unsigned` (from 6.16 on).
fn kernel_image_in(pkg: &Path, abi: &str) -> Result<PathBuf, String> {
    let places = [
        pkg.join(format!("root/boot/vmlinuz-{abi}")),
        pkg.join(format!("root/usr/lib/modules/{abi}/vmlinuz.unsigned")),
        pkg.join(format!("root/usr/lib/modules/{abi}/vmlinuz")),
    ];
    places.iter().find(|p| p.is_file()).cloned().ok_or_else(|| {
        let list: Vec<String> = places.iter().map(|p| p.display().to_string()).collect();
        format!("the kernel's packages hold no bzImage (looked for {})", list.join(", "))
    })
}

/// The `lib/modules/<abi>` (or `usr/lib/modules/<abi>`) of an unpacked kernel.
fn release_dir(pkg: &Path, abi: &str) -> Result<PathBuf, String> {
    let places = [pkg.join("root/lib/modules").join(abi), pkg.join("root/usr/lib/modules").join(abi)];
    places.iter().find(|p| p.join("kernel").is_dir()).cloned().ok_or_else(|| {
        format!("the kernel's packages hold no modules tree ({} or {})", places[0].display(), places[1].display())
    })
}

/// The uncompressed kernel from a bzImage: its payload (the setup
/// header's `payload_offset` and `payload_length`), decompressed by `xz`
/// or `zstd` as its magic says.
fn extract_vmlinux(bzimage: &Path, out: &Path) -> Result<(), String> {
    let b = std::fs::read(bzimage).map_err(|e| format!("{}: {e}", bzimage.display()))?;
    let (payload, tool) = payload(&b).map_err(|e| format!("{}: {e}", bzimage.display()))?;
    let tail = out.with_extension("payload");
    std::fs::write(&tail, payload).map_err(|e| e.to_string())?;
    let mut cmd = Command::new(tool);
    match tool {
        "xz" => cmd.args(["--decompress", "--stdout", "--single-stream"]),
        _ => cmd.args(["--decompress", "--stdout", "--quiet"]),
    };
    let res = output_within(cmd.arg(&tail), QUICK_TIMEOUT, &format!("{tool} --decompress"))
        .map_err(|e| format!("{e}; {tool} comes with: {INSTALL}"))?;
    let _ = std::fs::remove_file(&tail);
    if res.stdout.len() < 1 << 20 {
        return Err(format!("{tool} gave no kernel: {}", String::from_utf8_lossy(&res.stderr)));
    }
    let len = res.stdout.len() as u64;
    inputs::kernel_image(&mut std::io::Cursor::new(&res.stdout), len)
        .map_err(|e| format!("the kernel unpacked from {}: {e}", bzimage.display()))?;
    std::fs::write(out, &res.stdout).map_err(|e| e.to_string())
}

/// A bzImage's compressed payload and the tool that decompresses it. The
/// protected-mode code starts after `setup_sects + 1` sectors (0 means 4),
/// and the payload is `payload_length` bytes at `payload_offset` in it
/// (Documentation/arch/x86/boot.rst). The zstd payload ends with the
/// 4-byte size the kernel's build appends, which zstd would read as a
/// broken frame, so it is cut.
pub fn payload(b: &[u8]) -> Result<(&[u8], &'static str), String> {
    let u32_at = |o: usize| b.get(o..o + 4).map(|x| u32::from_le_bytes([x[0], x[1], x[2], x[3]]) as usize);
    if b.get(0x202..0x206) != Some(b"HdrS") {
        return Err("not a bzImage (no HdrS setup header)".into());
    }
    let sects = match b.get(0x1f1) {
        Some(0) | None => 4,
        Some(&n) => usize::from(n),
    };
    let (off, len) = (u32_at(0x248).unwrap_or(0), u32_at(0x24c).unwrap_or(0));
    let start = (sects + 1) * 512 + off;
    let p = b.get(start..start + len).filter(|p| p.len() > 8).ok_or("its setup header points at no payload")?;
    if p.starts_with(b"\xfd7zXZ\x00") {
        Ok((p, "xz"))
    } else if p.starts_with(b"\x28\xb5\x2f\xfd") {
        Ok((&p[..p.len() - 4], "zstd"))
    } else {
        Err(format!("its payload is neither xz nor zstd (it begins {:02x?})", &p[..4]))
    }
}

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
