//! Debian's kernel packages: which kernel `--kernel-version` names, the
//! packages that hold it and its headers, and a private apt that reaches
//! the suites the system's sources may not have. Tooling around the model,
//! not a model of a kernel file.
//!
//! The kernel the oracle boots by default is pinned to the one the model
//! cites, [`DEFAULT_ABI`] at [`DEFAULT_VERSION`], so an update of Debian's
//! archive cannot change what CI runs. `--kernel-version 6.1` (or `6.12`,
//! `7.3`) takes the newest ABI of that series, `--kernel-version 7.3.4` the
//! newest ABI of that release, and an exact ABI (`6.12.117+deb12-amd64`)
//! pins one; the choice is printed. A series or a release is looked up in
//! the private apt, an exact ABI in the system's first.
//!
//! The private apt lives in `target/oracle/apt/`: its own sources list of
//! [`SUITES`] (signed with the system's `debian-archive-keyring`), lists,
//! cache and an empty dpkg status, passed with `-o Dir::…` on every call,
//! so the system's apt sources and state are never touched. Its lists are
//! fetched with `apt-get update` when missing or older than
//! [`LISTS_MAX_AGE`].
//!
//! Package layouts, as found in the archive: up to 6.12 a kernel is
//! `linux-image-<abi>-unsigned` (`/boot/vmlinuz-<abi>`, modules under
//! `/lib/modules/<abi>`); from 6.16 on it is `linux-binary-unsigned-<abi>`
//! (`/usr/lib/modules/<abi>/vmlinuz.unsigned`), `linux-modules-<abi>` and
//! `linux-base-<abi>` (`modules.order`, `config`). The headers are
//! `linux-headers-<abi>` and the `-common` and `linux-kbuild-` packages
//! its `Depends` names (`linux-kbuild-6.1` for 6.1,
//! `linux-kbuild-6.12.117+deb12` from 6.12 on).
//!
//! Left out: flavours other than `amd64` unless named by an exact ABI, sid
//! and experimental, and signed images (the oracle loads an unsigned test
//! module, which a signed-only kernel would refuse anyway).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::pieces::output_within;

/// The ABI the model cites, booted when no `--kernel-version` is given.
pub const DEFAULT_ABI: &str = "6.1.0-57-amd64";
/// Its package version.
pub const DEFAULT_VERSION: &str = "6.1.192-3";
/// The private sources list: (archive, suite), component `main`.
pub const SUITES: &[(&str, &str)] = &[
    ("http://deb.debian.org/debian", "bookworm"),
    ("http://deb.debian.org/debian", "bookworm-updates"),
    ("http://deb.debian.org/debian-security", "bookworm-security"),
    ("http://deb.debian.org/debian", "bookworm-backports"),
    ("http://deb.debian.org/debian", "trixie"),
    ("http://deb.debian.org/debian", "trixie-updates"),
    ("http://deb.debian.org/debian-security", "trixie-security"),
    ("http://deb.debian.org/debian", "trixie-backports"),
];
/// The keyring that signs every suite of [`SUITES`].
pub const KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";
/// Lists older than this are fetched again.
pub const LISTS_MAX_AGE: Duration = Duration::from_secs(24 * 3600);
/// How long `apt-get update` of the private lists may take.
pub const UPDATE_LIMIT: Duration = Duration::from_secs(300);
/// How long an `apt-cache` query may take.
const QUERY_LIMIT: Duration = Duration::from_secs(120);
/// The flavour a series or a release picks.
pub const FLAVOUR: &str = "amd64";

/// Which apt: the system's, or the private one rooted in a directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Apt {
    pub root: Option<PathBuf>,
}

impl Apt {
    pub fn system() -> Apt {
        Apt { root: None }
    }

    /// The private apt under `cache/apt/`, as an absolute path (apt reads
    /// a relative `Dir::Etc::SourceList` below `/etc/apt`).
    pub fn private(cache: &Path) -> Apt {
        let root = cache.join("apt");
        Apt { root: Some(std::path::absolute(&root).unwrap_or(root)) }
    }

    /// `prog` (`apt-get`, `apt-cache`) with this apt's directories.
    pub fn command(&self, prog: &str) -> Command {
        let mut cmd = Command::new(prog);
        if let Some(root) = &self.root {
            let d = |p: &str| root.join(p).display().to_string();
            cmd.arg("-o").arg(format!("Dir::Etc::SourceList={}", d("sources.list")));
            cmd.args(["-o", "Dir::Etc::SourceParts=/dev/null"]);
            cmd.arg("-o").arg(format!("Dir::State::Lists={}", d("lists")));
            cmd.arg("-o").arg(format!("Dir::Cache={}", d("cache")));
            cmd.args(["-o", "Dir::State::status=/dev/null", "-o", "APT::Sandbox::User=root"]);
        }
        cmd.env("LC_ALL", "C");
        cmd
    }

    /// The private sources list's text.
    pub fn sources_list() -> String {
        SUITES.iter().map(|(uri, suite)| format!("deb [signed-by={KEYRING}] {uri} {suite} main\n")).collect()
    }

    /// Makes the private apt's lists current: writes its sources list and
    /// runs `apt-get update` if the lists are missing or stale. The
    /// system's apt needs nothing.
    pub fn update(&self, log: &mut dyn FnMut(&str)) -> Result<(), String> {
        let Some(root) = &self.root else { return Ok(()) };
        for d in ["lists/partial", "cache/archives/partial"] {
            std::fs::create_dir_all(root.join(d)).map_err(|e| format!("cannot create {}: {e}", root.display()))?;
        }
        let list = root.join("sources.list");
        let text = Apt::sources_list();
        let same = std::fs::read_to_string(&list).is_ok_and(|t| t == text);
        if same && fresh(root) {
            return Ok(());
        }
        std::fs::write(&list, &text).map_err(|e| format!("{}: {e}", list.display()))?;
        let suites: Vec<&str> = SUITES.iter().map(|(_, s)| *s).collect();
        log(&format!("apt-get update of a private sources list ({}) in {}", suites.join(", "), root.display()));
        let out = output_within(self.command("apt-get").arg("update"), UPDATE_LIMIT, "apt-get update")?;
        let err = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() || err.lines().any(|l| l.starts_with("E:") || l.starts_with("W: Failed")) {
            return Err(format!("apt-get update of {} failed: {}", list.display(), err.trim()));
        }
        if !has_lists(&root.join("lists")) {
            return Err(format!("apt-get update of {} fetched no package lists: {}", list.display(), err.trim()));
        }
        std::fs::write(root.join("updated"), "").map_err(|e| format!("{}: {e}", root.display()))
    }

    /// `apt-cache pkgnames PREFIX`.
    pub fn pkgnames(&self, prefix: &str) -> Result<Vec<String>, String> {
        let out = output_within(self.command("apt-cache").args(["pkgnames", prefix]), QUERY_LIMIT, "apt-cache")
            .map_err(|e| format!("{e}: the oracle needs a Debian machine with apt"))?;
        let mut names: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect();
        names.sort();
        Ok(names)
    }

    /// The `Version` and `Depends` of `pkg` (`name` or `name=version`),
    /// or `None` when apt does not know it.
    pub fn show(&self, pkg: &str) -> Result<Option<Control>, String> {
        let out = output_within(
            self.command("apt-cache").args(["show", "--no-all-versions", pkg]),
            QUERY_LIMIT,
            "apt-cache show",
        )?;
        if !out.status.success() {
            return Ok(None);
        }
        Ok(Control::parse(&String::from_utf8_lossy(&out.stdout)))
    }
}

/// How long `apt-get download` of a kernel's or its headers' packages may take.
pub const DOWNLOAD_LIMIT: Duration = Duration::from_secs(900);
/// How long one `dpkg-deb -x` may take.
pub const UNPACK_LIMIT: Duration = Duration::from_secs(120);

/// `apt-get download PKGS` into `dir` through `apt`, then every `.deb`
/// there unpacked into `root` ([`unpack`]): exactly one per package, or an
/// error.
pub fn download_unpacked(apt: &Apt, pkgs: &[String], dir: &Path, root: &Path) -> Result<(), String> {
    let out = output_within(
        apt.command("apt-get").arg("download").args(pkgs).current_dir(dir),
        DOWNLOAD_LIMIT,
        "apt-get download",
    )
    .map_err(|e| format!("{e}; the oracle needs a Debian machine with apt"))?;
    if !out.status.success() {
        return Err(format!("apt-get download failed: {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    let n = unpack(dir, root)?;
    if n != pkgs.len() {
        return Err(format!("apt-get download left {n} .deb files, expected {}", pkgs.len()));
    }
    Ok(())
}

/// Every `.deb` of `dir` unpacked with `dpkg-deb -x` into `root` and
/// removed, in name order but base-files first (in a root of its own it
/// holds the merged-/usr links the others' files go through); returns how
/// many there were.
pub fn unpack(dir: &Path, root: &Path) -> Result<usize, String> {
    let mut debs: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "deb"))
        .collect();
    debs.sort_by_key(|p| (!p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("base-files_")), p.clone()));
    for deb in &debs {
        let out = output_within(Command::new("dpkg-deb").arg("-x").arg(deb).arg(root), UNPACK_LIMIT, "dpkg-deb -x")?;
        if !out.status.success() {
            return Err(format!(
                "dpkg-deb -x {} failed: {}",
                deb.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        let _ = std::fs::remove_file(deb);
    }
    Ok(debs.len())
}

/// Whether the private apt's last update (its `updated` stamp: apt dates
/// the lists it fetches by the server's clock) is younger than
/// [`LISTS_MAX_AGE`] and left lists.
fn fresh(root: &Path) -> bool {
    let age = std::fs::metadata(root.join("updated")).and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok());
    age.is_some_and(|a| a < LISTS_MAX_AGE) && has_lists(&root.join("lists"))
}

/// Whether a lists directory holds a `Packages` index (compressed or not).
fn has_lists(lists: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(lists) else { return false };
    entries.flatten().any(|e| e.file_name().to_string_lossy().contains("_Packages"))
}

/// The fields of a package's control record that the oracle reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Control {
    pub version: String,
    /// Every package `Depends` names, alternatives included, in order.
    pub depends: Vec<String>,
}

impl Control {
    /// The first record of `apt-cache show`'s output.
    pub fn parse(text: &str) -> Option<Control> {
        let record = text.split("\n\n").next()?;
        let field = |name: &str| record.lines().find_map(|l| l.strip_prefix(name)).map(str::trim);
        let version = field("Version:")?.to_string();
        let depends = field("Depends:")
            .unwrap_or("")
            .split([',', '|'])
            .filter_map(|d| d.split_whitespace().next())
            .map(str::to_string)
            .collect();
        Some(Control { version, depends })
    }
}

/// How a kernel's packages hold it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Layout {
    /// `linux-image-<abi>-unsigned`: kernel and modules in one package.
    Image,
    /// `linux-binary-unsigned-<abi>`, `linux-modules-<abi>`, `linux-base-<abi>`.
    Binary,
}

/// A Debian kernel, found in apt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Kernel {
    /// The release `uname -r` gives: `6.12.117+deb12-amd64`.
    pub abi: String,
    /// The package version: `6.12.117-1~deb12u1`.
    pub version: String,
    pub layout: Layout,
    pub apt: Apt,
}

impl Kernel {
    /// [`DEFAULT_ABI`] at [`DEFAULT_VERSION`], through the system's apt.
    pub fn pinned_default() -> Kernel {
        Kernel { abi: DEFAULT_ABI.into(), version: DEFAULT_VERSION.into(), layout: Layout::Image, apt: Apt::system() }
    }

    /// The packages that hold the kernel and its modules.
    pub fn packages(&self) -> Vec<String> {
        match self.layout {
            Layout::Image => vec![format!("linux-image-{}-unsigned", self.abi)],
            Layout::Binary => ["linux-binary-unsigned", "linux-modules", "linux-base"]
                .iter()
                .map(|p| format!("{p}-{}", self.abi))
                .collect(),
        }
    }

    /// [`Kernel::packages`], each pinned to the version.
    pub fn pinned(&self) -> Vec<String> {
        self.packages().iter().map(|p| format!("{p}={}", self.version)).collect()
    }

    /// How the oracle names it: `6.12.117+deb12-amd64 (6.12.117-1~deb12u1)`.
    pub fn describe(&self) -> String {
        format!("{} ({})", self.abi, self.version)
    }

    /// The three header packages, pinned: `linux-headers-<abi>` and the
    /// common and kbuild packages its `Depends` names.
    pub fn headers(&self) -> Result<Headers, String> {
        let flavour = format!("linux-headers-{}", self.abi);
        let c = self.apt.show(&format!("{flavour}={}", self.version))?.ok_or_else(|| {
            format!("apt has no {flavour} {}: the test module cannot be built for this kernel", self.version)
        })?;
        Headers::from_depends(&flavour, &self.version, &c.depends)
    }
}

/// The header packages of one kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Headers {
    /// `linux-headers-6.1.0-57-common`: the tree the flavour's Makefile includes.
    pub common: String,
    /// The three packages, pinned.
    pub packages: Vec<String>,
    /// The compiler package the headers depend on (`gcc-12`,
    /// `gcc-14-for-host`), if named.
    pub compiler: Option<String>,
}

impl Headers {
    /// From `linux-headers-<abi>`'s `Depends`.
    pub fn from_depends(flavour: &str, version: &str, depends: &[String]) -> Result<Headers, String> {
        let find = |pred: &dyn Fn(&str) -> bool, what: &str| {
            depends
                .iter()
                .find(|d| pred(d))
                .cloned()
                .ok_or_else(|| format!("{flavour} {version} depends on no {what} package ({})", depends.join(", ")))
        };
        let common = find(&|d| d.starts_with("linux-headers-") && d.contains("-common"), "linux-headers-*-common")?;
        let kbuild = find(&|d| d.starts_with("linux-kbuild-"), "linux-kbuild-*")?;
        let compiler = depends.iter().find(|d| d.starts_with("gcc-")).cloned();
        let packages = [flavour, &common, &kbuild].iter().map(|p| format!("{p}={version}")).collect();
        Ok(Headers { common, packages, compiler })
    }
}

/// What `--kernel-version` asks for, checked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Want {
    /// No `--kernel-version`: [`DEFAULT_ABI`] at [`DEFAULT_VERSION`].
    #[default]
    Pinned,
    /// A series (`6.12`), a release (`7.3.4`, `6.12.117+deb12`) or an ABI.
    Version(String),
}

impl Want {
    pub fn parse(v: Option<&str>) -> Result<Want, String> {
        let Some(v) = v else { return Ok(Want::Pinned) };
        let ok = v.len() <= 64
            && v.starts_with(|c: char| c.is_ascii_digit())
            && v.split('.').count() >= 2
            && v.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b".+~-".contains(&b));
        if ok {
            Ok(Want::Version(v.to_string()))
        } else {
            Err(format!(
                "--kernel-version `{v}`: give a series (6.1, 6.12, 7.3), a release (7.3.4, 6.12.117+deb12) \
                 or a Debian ABI (6.1.0-57-amd64)"
            ))
        }
    }
}

/// An ABI's release (`6.12.117+deb12`) and flavour (`amd64`).
pub fn split_abi(abi: &str) -> Option<(&str, &str)> {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re = RE.get_or_init(|| {
        regex::Regex::new(r"^(\d+\.\d+\.\d+(?:-\d+)?(?:\+[a-z0-9]+)?)-([a-z][a-z0-9-]*)$").expect("a valid regex")
    });
    let c = re.captures(abi)?;
    Some((c.get(1)?.as_str(), c.get(2)?.as_str()))
}

/// The numbers of a release, for ordering: `6.12.117+deb12` is
/// `[6, 12, 117, 12]`.
fn order_key(release: &str) -> Vec<u64> {
    release.split(|c: char| !c.is_ascii_digit()).filter(|s| !s.is_empty()).filter_map(|s| s.parse().ok()).collect()
}

/// Whether `release` is of the series or release `want`.
fn within(release: &str, want: &str) -> bool {
    release == want || release.strip_prefix(want).is_some_and(|rest| rest.starts_with(['.', '-', '+']))
}

/// The ABIs apt has kernels of, with their layout, sorted.
pub fn abis(apt: &Apt) -> Result<Vec<(String, Layout)>, String> {
    let mut out = Vec::new();
    for name in apt.pkgnames("linux-image-")? {
        if let Some(abi) = name.strip_prefix("linux-image-").and_then(|n| n.strip_suffix("-unsigned")) {
            out.push((abi.to_string(), Layout::Image));
        }
    }
    for name in apt.pkgnames("linux-binary-unsigned-")? {
        if let Some(abi) = name.strip_prefix("linux-binary-unsigned-") {
            out.push((abi.to_string(), Layout::Binary));
        }
    }
    out.retain(|(abi, _)| split_abi(abi).is_some());
    out.sort();
    Ok(out)
}

/// The ABI `want` picks among `abis`: the exact one, or the newest
/// [`FLAVOUR`] ABI of the series or release.
pub fn pick(abis: &[(String, Layout)], want: &str) -> Option<(String, Layout)> {
    if let Some(exact) = abis.iter().find(|(a, _)| a == want) {
        return Some(exact.clone());
    }
    abis.iter()
        .filter(|(a, _)| split_abi(a).is_some_and(|(r, f)| f == FLAVOUR && within(r, want)))
        .max_by_key(|(a, _)| split_abi(a).map(|(r, _)| order_key(r)))
        .cloned()
}

/// The kernel `want` names, with the apt that has it.
pub fn resolve(want: &Want, cache: &Path, log: &mut dyn FnMut(&str)) -> Result<Kernel, String> {
    match want {
        Want::Pinned => pinned(cache, log),
        Want::Version(v) => {
            let system = Apt::system();
            if split_abi(v).is_some()
                && let Some(k) = find_in(&system, v)?
            {
                return Ok(k);
            }
            let private = Apt::private(cache);
            private.update(log)?;
            find_in(&private, v)?.ok_or_else(|| {
                let suites: Vec<&str> = SUITES.iter().map(|(_, s)| *s).collect();
                format!(
                    "--kernel-version {v}: no Debian kernel of that version in {} (searched linux-image-*-unsigned \
                     and linux-binary-unsigned-*); `apt-cache pkgnames linux-image-` lists what the system has",
                    suites.join(", ")
                )
            })
        }
    }
}

/// The kernel of `want` in `apt`, at its candidate version.
fn find_in(apt: &Apt, want: &str) -> Result<Option<Kernel>, String> {
    let Some((abi, layout)) = pick(&abis(apt)?, want) else { return Ok(None) };
    let mut k = Kernel { abi, version: String::new(), layout, apt: apt.clone() };
    let pkg = k.packages().remove(0);
    let Some(c) = apt.show(&pkg)? else { return Ok(None) };
    k.version = c.version;
    Ok(Some(k))
}

/// [`DEFAULT_ABI`] at [`DEFAULT_VERSION`], from the system's apt or else
/// the private one.
fn pinned(cache: &Path, log: &mut dyn FnMut(&str)) -> Result<Kernel, String> {
    let system = Kernel::pinned_default();
    let pkg = system.pinned().remove(0);
    if system.apt.show(&pkg)?.is_some() {
        return Ok(system);
    }
    let private = Kernel { apt: Apt::private(cache), ..system };
    private.apt.update(log)?;
    if private.apt.show(&pkg)?.is_some() {
        return Ok(private);
    }
    Err(format!(
        "{pkg}, the kernel the model cites and the oracle's default, is no longer in Debian's archive; \
         give --kernel-version 6.1 for the newest 6.1 (and expect disagreements where it differs)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(names: &[(&str, Layout)]) -> Vec<(String, Layout)> {
        names.iter().map(|(n, l)| (n.to_string(), *l)).collect()
    }

    #[test]
    fn abis_split_into_release_and_flavour() {
        assert_eq!(split_abi("6.1.0-57-amd64"), Some(("6.1.0-57", "amd64")));
        assert_eq!(split_abi("6.12.117+deb12-cloud-amd64"), Some(("6.12.117+deb12", "cloud-amd64")));
        assert_eq!(split_abi("7.3.4+deb13-amd64"), Some(("7.3.4+deb13", "amd64")));
        for bad in ["6.1", "amd64", "6.1.0-57", "6.1.0-57-", "6.1.0-57-a;b"] {
            assert_eq!(split_abi(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_series_picks_its_newest_amd64_abi_and_an_abi_picks_itself() {
        let abis = list(&[
            ("6.1.0-9-amd64", Layout::Image),
            ("6.1.0-57-amd64", Layout::Image),
            ("6.1.0-57-rt-amd64", Layout::Image),
            ("6.12.117+deb12-amd64", Layout::Image),
            ("6.12.118+deb13-amd64", Layout::Image),
            ("6.12.117+deb13-amd64", Layout::Image),
            ("7.3.4+deb13-amd64", Layout::Binary),
            ("7.3.12+deb13-cloud-amd64", Layout::Binary),
        ]);
        let abi = |w: &str| pick(&abis, w).map(|(a, _)| a);
        assert_eq!(abi("6.1").as_deref(), Some("6.1.0-57-amd64"));
        assert_eq!(abi("6.12").as_deref(), Some("6.12.118+deb13-amd64"));
        assert_eq!(abi("6.12.117").as_deref(), Some("6.12.117+deb13-amd64"));
        assert_eq!(abi("6.12.117+deb12").as_deref(), Some("6.12.117+deb12-amd64"));
        assert_eq!(abi("7.3").as_deref(), Some("7.3.4+deb13-amd64"));
        assert_eq!(abi("6.1.0-57-rt-amd64").as_deref(), Some("6.1.0-57-rt-amd64"));
        assert_eq!(pick(&abis, "7.3.4").map(|(_, l)| l), Some(Layout::Binary));
        assert_eq!(abi("6.2"), None);
        assert_eq!(abi("7.3.1"), None);
    }

    #[test]
    fn each_layout_names_its_packages() {
        let k = Kernel {
            abi: "7.3.4+deb13-amd64".into(),
            version: "7.3.4-1".into(),
            layout: Layout::Binary,
            apt: Apt::system(),
        };
        assert_eq!(
            k.pinned(),
            [
                "linux-binary-unsigned-7.3.4+deb13-amd64=7.3.4-1",
                "linux-modules-7.3.4+deb13-amd64=7.3.4-1",
                "linux-base-7.3.4+deb13-amd64=7.3.4-1"
            ]
        );
        let k = Kernel { layout: Layout::Image, abi: DEFAULT_ABI.into(), ..k };
        assert_eq!(k.packages(), ["linux-image-6.1.0-57-amd64-unsigned"]);
    }

    #[test]
    fn the_headers_are_what_the_flavour_package_depends_on() {
        let text = "Package: linux-headers-6.12.117+deb12-amd64\nVersion: 6.12.117-1~deb12u1\n\
                    Depends: linux-base (>= 4.12~), linux-headers-6.12.117+deb12-common (= 6.12.117-1~deb12u1), \
                    linux-image-6.12.117+deb12-amd64 (= 6.12.117-1~deb12u1) | linux-image-6.12.117+deb12-amd64-unsigned \
                    (= 6.12.117-1~deb12u1), linux-kbuild-6.12.117+deb12, gcc-12\n\nPackage: other\nVersion: 1\n";
        let c = Control::parse(text).unwrap();
        assert_eq!(c.version, "6.12.117-1~deb12u1");
        let h = Headers::from_depends("linux-headers-6.12.117+deb12-amd64", &c.version, &c.depends).unwrap();
        assert_eq!(h.common, "linux-headers-6.12.117+deb12-common");
        assert_eq!(h.compiler.as_deref(), Some("gcc-12"));
        assert_eq!(h.packages[2], "linux-kbuild-6.12.117+deb12=6.12.117-1~deb12u1");
        let e = Headers::from_depends("linux-headers-x", "1", &["gcc-12".to_string()]).unwrap_err();
        assert!(e.contains("depends on no linux-headers-*-common package"), "{e}");
    }

    #[test]
    fn a_bad_kernel_version_says_what_would_do() {
        assert_eq!(Want::parse(None), Ok(Want::Pinned));
        assert_eq!(Want::parse(Some("6.12")), Ok(Want::Version("6.12".into())));
        for bad in ["", "6", "latest", "6.1;rm", "-6.1", "6.1 "] {
            let e = Want::parse(Some(bad)).unwrap_err();
            assert!(e.contains("give a series (6.1, 6.12, 7.3)"), "{bad}: {e}");
        }
    }

    #[test]
    fn the_private_apt_never_reads_the_systems_sources() {
        let apt = Apt::private(Path::new("/c"));
        let args: Vec<String> = apt.command("apt-get").get_args().map(|a| a.to_string_lossy().to_string()).collect();
        let args = args.join(" ");
        for want in [
            "Dir::Etc::SourceList=/c/apt/sources.list",
            "Dir::Etc::SourceParts=/dev/null",
            "Dir::State::Lists=/c/apt/lists",
        ] {
            assert!(args.contains(want), "{args}");
        }
        assert!(Apt::sources_list().lines().all(|l| l.starts_with(&format!("deb [signed-by={KEYRING}] http"))));
        assert_eq!(Apt::system().command("apt-get").get_args().count(), 0);
    }
}
