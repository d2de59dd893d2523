//! A build root of another Debian release, for a kernel whose headers
//! want a compiler this machine cannot run (7.3's headers, from
//! trixie-backports, want trixie's gcc-14, which needs trixie's glibc):
//! the header packages, that compiler and a minimal userland are fetched
//! with `apt-get install --download-only` through the private apt (an
//! empty dpkg status, so the whole dependency closure comes), unpacked
//! with `dpkg-deb -x` into `target/oracle/buildroot-<abi>/root/`, never
//! installed, and the module is built there with `chroot` (root only), with
//! `/proc` bound in for objtool. Tooling around the model.
//!
//! What the packages' maintainer scripts would do is done by hand where
//! kbuild needs it: `awk` (mawk's alternative) and a `/dev/null` node.
//! Left out: any tool kbuild would want for options the oracle turns off
//! (module BTF, signing, compression), and machines where the oracle is
//! not root (it says so: the compiler must then be installed).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::{debian, kmod};

/// The userland kbuild needs besides the compiler and the headers.
pub const USERLAND: [&str; 13] = [
    "make",
    "libc6-dev",
    "base-files",
    "dash",
    "bash",
    "coreutils",
    "sed",
    "grep",
    "mawk",
    "findutils",
    "diffutils",
    "perl-base",
    "binutils",
];
/// How long the closure's download may take.
pub const DOWNLOAD_LIMIT: Duration = Duration::from_secs(600);

/// The Debian release of a kernel built for it: `+deb13` is trixie,
/// `+deb12` bookworm.
pub fn release_of(abi: &str) -> Option<&'static str> {
    let (release, _) = debian::split_abi(abi)?;
    match release.rsplit_once("+deb")?.1 {
        "12" => Some("bookworm"),
        "13" => Some("trixie"),
        _ => None,
    }
}

/// Whether this process runs as root (`chroot` and `mount` need it).
pub fn is_root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix("Uid:")).and_then(|u| u.split_whitespace().next()) == Some("0")
}

/// The packages of the build root: the headers (pinned), the compiler
/// they depend on, and [`USERLAND`].
pub fn packages(h: &debian::Headers) -> Result<Vec<String>, String> {
    let cc = h.compiler.clone().ok_or("the headers name no gcc package to build with")?;
    let mut pkgs = h.packages.clone();
    pkgs.push(cc);
    pkgs.extend(USERLAND.iter().map(|p| p.to_string()));
    Ok(pkgs)
}

/// The build root of `k`'s release, made once; returns its directory.
pub fn root(cache: &Path, k: &debian::Kernel, log: &mut dyn FnMut(&str)) -> Result<PathBuf, String> {
    // apt reads a relative Dir::Cache::Archives below its Dir::Cache.
    let dir = cache.join(format!("buildroot-{}", k.abi));
    let dir = std::path::absolute(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let root = dir.join("root");
    if dir.join("done").is_file() {
        return Ok(root);
    }
    let release = release_of(&k.abi).ok_or_else(|| format!("{} names no Debian release to build in", k.abi))?;
    if !is_root() {
        return Err("building in a chroot of that release needs root".into());
    }
    let apt = debian::Apt::private(cache);
    apt.update(log)?;
    let pkgs = packages(&k.headers()?)?;
    unmount(&root);
    let _ = std::fs::remove_dir_all(&dir);
    let debs = dir.join("debs");
    std::fs::create_dir_all(debs.join("archives/partial")).map_err(|e| format!("{}: {e}", dir.display()))?;
    log(&format!("fetching a {release} build root ({}) into {}", pkgs.join(" "), dir.display()));
    let mut cmd = apt.command("apt-get");
    cmd.arg("-o").arg(format!("Dir::Cache::Archives={}", debs.join("archives").display()));
    cmd.args(["-t", release, "install", "--download-only", "-y", "--no-install-recommends"]).args(&pkgs);
    ok(&mut cmd, "apt-get install --download-only", DOWNLOAD_LIMIT)?;
    if debian::unpack(&debs.join("archives"), &root)? == 0 {
        return Err(format!("apt-get install --download-only left no .deb in {}", debs.display()));
    }
    std::fs::remove_dir_all(&debs).map_err(|e| format!("{}: {e}", debs.display()))?;
    finish(&root)?;
    std::fs::write(dir.join("done"), "").map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(root)
}

/// What the maintainer scripts would have done that kbuild needs.
fn finish(root: &Path) -> Result<(), String> {
    let awk = root.join("usr/bin/awk");
    if !awk.exists() {
        std::os::unix::fs::symlink("mawk", &awk).map_err(|e| format!("{}: {e}", awk.display()))?;
    }
    let null = root.join("dev/null");
    let _ = std::fs::remove_file(&null);
    std::fs::create_dir_all(root.join("dev")).map_err(|e| format!("{}: {e}", root.display()))?;
    ok(Command::new("mknod").args(["-m", "666"]).arg(&null).args(["c", "1", "3"]), "mknod", Duration::from_secs(10))?;
    std::fs::create_dir_all(root.join("build")).map_err(|e| format!("{}: {e}", root.display()))
}

/// `/proc` bound into a root for as long as this lives.
pub struct Proc(PathBuf);

impl Proc {
    pub fn bind(root: &Path) -> Result<Proc, String> {
        let at = root.join("proc");
        std::fs::create_dir_all(&at).map_err(|e| format!("{}: {e}", at.display()))?;
        ok(Command::new("mount").args(["--bind", "/proc"]).arg(&at), "mount --bind /proc", Duration::from_secs(10))?;
        Ok(Proc(root.to_path_buf()))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        unmount(&self.0);
    }
}

/// Unmounts a root's `/proc` if it is mounted (a killed run may have left it).
fn unmount(root: &Path) {
    let at = root.join("proc");
    let mounted = Command::new("mountpoint").arg("-q").arg(&at).status().is_ok_and(|s| s.success());
    if mounted {
        let _ = Command::new("umount").arg(&at).status();
    }
}

/// `chroot ROOT env -i PATH=… LC_ALL=C ARGS…`: a command in the root with
/// a clean environment.
pub fn command(root: &Path, args: &[String]) -> Command {
    let mut cmd = Command::new("chroot");
    cmd.arg(root).args(["/usr/bin/env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "LC_ALL=C"]);
    cmd.args(args);
    cmd
}

/// [`kmod::run_ok`], its output dropped.
fn ok(cmd: &mut Command, what: &str, limit: Duration) -> Result<(), String> {
    kmod::run_ok(cmd, what, limit, "a Debian machine has it").map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kernel_names_its_release_and_the_root_its_packages() {
        assert_eq!(release_of("7.3.4+deb13-amd64"), Some("trixie"));
        assert_eq!(release_of("6.12.117+deb12-amd64"), Some("bookworm"));
        assert_eq!(release_of("6.1.0-57-amd64"), None);
        let h = debian::Headers {
            common: "linux-headers-7.3.4+deb13-common".into(),
            packages: vec!["linux-headers-7.3.4+deb13-amd64=1".into()],
            compiler: Some("gcc-14-for-host".into()),
        };
        let p = packages(&h).unwrap();
        assert_eq!(&p[..2], ["linux-headers-7.3.4+deb13-amd64=1", "gcc-14-for-host"]);
        assert!(p.iter().any(|x| x == "make") && p.iter().any(|x| x == "mawk"));
        let e = packages(&debian::Headers { compiler: None, ..h }).unwrap_err();
        assert!(e.contains("no gcc package"), "{e}");
    }
}
