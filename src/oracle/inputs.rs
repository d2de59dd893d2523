//! What the user points the oracle at, checked before anything is booted
//! or downloaded: the busybox (a complete static x86-64 ELF executable of
//! a plausible size), the `--kernel` image (a bzImage or an x86-64 ELF
//! vmlinux) and the `--modules` tree (it looks like `/lib/modules/<release>`;
//! the walk for the two injector modules is bounded in depth and entries
//! and follows no symlink). Each error names the file, what is wrong and
//! what would do.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// A busybox smaller than this is not one (busybox-static is about 2 MiB).
pub const BUSYBOX_MIN: u64 = 100 << 10;
/// Nor one larger than this.
pub const BUSYBOX_MAX: u64 = 64 << 20;
/// The modules the memory scenarios load.
pub const INJECT_MODULES: [&str; 2] = ["notifier-error-inject.ko", "memory-notifier-error-inject.ko"];
/// How deep the modules walk goes below the tree (`kernel/lib/x.ko` is 2).
pub const MAX_DEPTH: usize = 8;
/// How many entries the modules walk reads at most (Debian's 6.1 tree
/// has about 4,500).
pub const MAX_ENTRIES: usize = 100_000;

/// A modules tree has `kernel/` and one of these.
pub const TREE_FILES: [&str; 3] = ["modules.dep", "modules.order", "modules.builtin"];

const BUSYBOX_FIX: &str =
    "the guest needs a static x86-64 busybox: apt-get install busybox-static (or point HOTPLUG_ORACLE_BUSYBOX at one)";
const KERNEL_FIX: &str =
    "--kernel takes what QEMU's -kernel boots: a bzImage (/boot/vmlinuz-*) or an x86-64 ELF vmlinux";
const PT_LOAD: u32 = 1;
const PT_INTERP: u32 = 3;
const EM_X86_64: u16 = 62;

/// An ELF64 header and its program header types.
struct Elf {
    etype: u16,
    phdrs: Vec<u32>,
}

/// The file's size, if it is a regular file.
fn regular(p: &Path, what: &str) -> Result<std::fs::Metadata, String> {
    let m = std::fs::metadata(p).map_err(|e| format!("{what} `{}`: {e}", p.display()))?;
    if m.is_file() { Ok(m) } else { Err(format!("{what} `{}` is not a regular file", p.display())) }
}

/// Little-endian `n` bytes at `o`.
fn le(b: &[u8], o: usize, n: usize) -> u64 {
    b[o..o + n].iter().rev().fold(0u64, |a, &x| a << 8 | u64::from(x))
}

/// The ELF64 x86-64 header and program headers of `f` (`len` bytes), or
/// what is wrong with them.
fn elf(f: &mut (impl Read + Seek), len: u64) -> Result<Elf, String> {
    let mut h = Vec::new();
    f.by_ref().take(64).read_to_end(&mut h).map_err(|e| e.to_string())?;
    if !h.starts_with(b"\x7fELF") {
        return Err("not a 64-bit ELF executable (it does not begin with \\x7fELF)".into());
    }
    if h.len() < 64 || len < 64 {
        return Err(format!("a truncated ELF: {len} bytes, shorter than the 64-byte ELF64 header"));
    }
    if h[4] != 2 || h[5] != 1 {
        return Err(format!("not a 64-bit little-endian ELF (class {}, data {})", h[4], h[5]));
    }
    let machine = le(&h, 0x12, 2) as u16;
    if machine != EM_X86_64 {
        return Err(format!("an ELF for machine {machine}, not x86-64 ({EM_X86_64})"));
    }
    let etype = le(&h, 0x10, 2) as u16;
    if etype != 2 && etype != 3 {
        return Err(format!("an ELF of type {etype}, not an executable (ET_EXEC 2 or ET_DYN 3; a module is 1)"));
    }
    let (phoff, phentsize, phnum) = (le(&h, 0x20, 8), le(&h, 0x36, 2), le(&h, 0x38, 2));
    if phnum == 0 || phentsize != 56 {
        return Err(format!("an ELF without a usable program header table ({phnum} entries of {phentsize} bytes)"));
    }
    let end = phoff.checked_add(phnum * 56).filter(|&e| e <= len);
    if phoff < 64 || end.is_none() {
        return Err(format!("a truncated ELF: its {phnum} program headers at {phoff} lie outside its {len} bytes"));
    }
    let mut t = vec![0u8; (phnum * 56) as usize];
    f.seek(SeekFrom::Start(phoff))
        .and_then(|_| f.read_exact(&mut t))
        .map_err(|e| format!("its program headers: {e}"))?;
    let phdrs = t.chunks(56).map(|c| le(c, 0, 4) as u32).collect::<Vec<_>>();
    if !phdrs.contains(&PT_LOAD) {
        return Err("an ELF with nothing to load (no PT_LOAD program header)".into());
    }
    Ok(Elf { etype, phdrs })
}

/// A busybox the guest can run as `/init`'s shell: a regular executable
/// file of [`BUSYBOX_MIN`] to [`BUSYBOX_MAX`] bytes, a complete x86-64
/// ELF64 executable without `PT_INTERP` (statically linked).
pub fn busybox(p: &Path) -> Result<(), String> {
    let m = regular(p, "busybox")?;
    let bad = |what: String| format!("{}: {what}; {BUSYBOX_FIX}", p.display());
    let mut f = File::open(p).map_err(|e| bad(format!("cannot open it: {e}")))?;
    let e = elf(&mut f, m.len()).map_err(bad)?;
    if e.phdrs.contains(&PT_INTERP) {
        return Err(format!(
            "{} is dynamically linked; the guest needs busybox-static: apt-get install busybox-static",
            p.display()
        ));
    }
    if m.permissions().mode() & 0o111 == 0 {
        return Err(bad("not executable (chmod +x it)".into()));
    }
    if !(BUSYBOX_MIN..=BUSYBOX_MAX).contains(&m.len()) {
        return Err(bad(format!(
            "{} bytes, not a busybox (expected {} KiB to {} MiB)",
            m.len(),
            BUSYBOX_MIN >> 10,
            BUSYBOX_MAX >> 20
        )));
    }
    Ok(())
}

/// A kernel QEMU can boot with `-kernel`: a bzImage (`HdrS` at 0x202) or
/// an ELF64 x86-64 executable (a vmlinux).
pub fn kernel(p: &Path) -> Result<(), String> {
    let m = regular(p, "kernel")?;
    let mut f = File::open(p).map_err(|e| format!("kernel `{}`: {e}", p.display()))?;
    kernel_image(&mut f, m.len()).map_err(|e| format!("kernel `{}`: {e}; {KERNEL_FIX}", p.display()))
}

/// [`kernel`] on the image's bytes, from `f` of `len` bytes.
pub fn kernel_image(f: &mut (impl Read + Seek), len: u64) -> Result<(), String> {
    let mut head = Vec::new();
    f.by_ref().take(0x206).read_to_end(&mut head).map_err(|e| e.to_string())?;
    if head.get(0x202..0x206) == Some(b"HdrS") {
        return Ok(());
    }
    if !head.starts_with(b"\x7fELF") {
        return Err(format!("neither a bzImage (no \"HdrS\" at 0x202) nor an ELF vmlinux ({len} bytes)"));
    }
    f.seek(SeekFrom::Start(0)).map_err(|e| e.to_string())?;
    match elf(f, len)? {
        Elf { etype: 2, .. } => Ok(()),
        Elf { etype, .. } => Err(format!("an ELF of type {etype} (position-independent), not a vmlinux (ET_EXEC 2)")),
    }
}

/// The two injector modules in a modules tree (`/lib/modules/<release>`):
/// refused unless the directory has `kernel/` and `modules.dep`,
/// `modules.order` or `modules.builtin`; the walk
/// reads at most [`MAX_ENTRIES`] entries, [`MAX_DEPTH`] deep, and follows
/// no symlink.
pub fn modules_tree(dir: &Path) -> Result<Vec<PathBuf>, String> {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(format!("--modules `{}` is not a directory", dir.display())),
        Err(e) => return Err(format!("--modules `{}`: {e}", dir.display())),
    }
    if !looks_like_tree(dir) {
        return Err(not_a_tree(dir));
    }
    let found = walk(dir)?;
    INJECT_MODULES
        .iter()
        .zip(found)
        .map(|(name, p)| {
            p.ok_or_else(|| {
                format!(
                    "{name} is not under {} (searched {MAX_DEPTH} levels deep); the memory scenarios need a kernel \
                     built with CONFIG_NOTIFIER_ERROR_INJECTION=m and CONFIG_MEMORY_NOTIFIER_ERROR_INJECT=m",
                    dir.display()
                )
            })
        })
        .collect()
}

/// `kernel/` is a directory and one of [`TREE_FILES`] a file (`make
/// modules_install` writes `modules.order` and `modules.builtin`, depmod
/// `modules.dep`), none a symlink.
fn looks_like_tree(dir: &Path) -> bool {
    let is = |name: &str, f: fn(&std::fs::FileType) -> bool| {
        std::fs::symlink_metadata(dir.join(name)).is_ok_and(|m| f(&m.file_type()))
    };
    is("kernel", std::fs::FileType::is_dir) && TREE_FILES.iter().any(|n| is(n, std::fs::FileType::is_file))
}

/// The error for a directory that is no modules tree, naming the trees
/// right below it if it holds some (as `/lib/modules` does).
fn not_a_tree(dir: &Path) -> String {
    let mut below: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .take(1000)
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()) && looks_like_tree(&e.path()))
        .map(|e| e.path().display().to_string())
        .collect();
    below.sort();
    let hint = if below.is_empty() {
        "give the modules tree of the kernel you boot, /lib/modules/<release>".to_string()
    } else {
        format!("give one release's tree: {}", below.join(", "))
    };
    format!(
        "--modules `{}` does not look like a kernel modules tree (it needs a kernel/ directory and one of {}); {hint}",
        dir.display(),
        TREE_FILES.join(", ")
    )
}

/// Whether `file` is the module `name` (`x.ko`), plain or compressed as
/// Debian ships it from 6.12 on (`x.ko.xz`, `x.ko.zst`).
pub fn is_module(file: &str, name: &str) -> bool {
    file.strip_prefix(name).is_some_and(|rest| ["", ".xz", ".zst"].contains(&rest))
}

/// A `--headers` tree: what `make -C <tree> M=<dir> modules` needs of a
/// kernel's build (`.config`, `Module.symvers`, a `Makefile` and kbuild's
/// `scripts/`), as `make modules_prepare` leaves it or a Debian headers
/// package unpacks.
pub fn headers_tree(dir: &Path) -> Result<PathBuf, String> {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(format!("--headers `{}` is not a directory", dir.display())),
        Err(e) => return Err(format!("--headers `{}`: {e}", dir.display())),
    }
    let missing: Vec<&str> = HEADER_FILES.iter().copied().filter(|f| !dir.join(f).exists()).collect();
    if !missing.is_empty() {
        return Err(format!(
            "--headers `{}` has no {}: give the kernel's build tree after `make modules_prepare` (or an unpacked \
             linux-headers package), the directory `make -C` takes to build an out-of-tree module",
            dir.display(),
            missing.join(", ")
        ));
    }
    Ok(dir.to_path_buf())
}

/// What [`headers_tree`] needs in a tree.
pub const HEADER_FILES: [&str; 4] = ["Makefile", ".config", "Module.symvers", "scripts"];

/// The first of each [`INJECT_MODULES`] in name order, breadth first.
fn walk(root: &Path) -> Result<[Option<PathBuf>; 2], String> {
    let mut found: [Option<PathBuf>; 2] = [None, None];
    let mut queue = std::collections::VecDeque::from([(root.to_path_buf(), 0usize)]);
    let mut seen = 0usize;
    while let Some((dir, depth)) = queue.pop_front() {
        let mut entries: Vec<_> = std::fs::read_dir(&dir)
            .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
            .collect::<Result<_, _>>()
            .map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
        seen += entries.len();
        if seen > MAX_ENTRIES {
            return Err(format!(
                "--modules `{}` has more than {MAX_ENTRIES} entries: not a kernel modules tree",
                root.display()
            ));
        }
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let t = e.file_type().map_err(|err| format!("{}: {err}", e.path().display()))?;
            if t.is_dir() && depth + 1 < MAX_DEPTH {
                queue.push_back((e.path(), depth + 1));
            } else if t.is_file()
                && let Some(i) = INJECT_MODULES.iter().position(|n| is_module(&e.file_name().to_string_lossy(), n))
            {
                found[i].get_or_insert(e.path());
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bzimage_header_is_a_kernel_and_garbage_is_not() {
        let mut b = vec![0u8; 0x300];
        b[0x202..0x206].copy_from_slice(b"HdrS");
        assert_eq!(kernel_image(&mut std::io::Cursor::new(&b), b.len() as u64), Ok(()));
        let g = vec![7u8; 0x300];
        let e = kernel_image(&mut std::io::Cursor::new(&g), g.len() as u64).unwrap_err();
        assert!(e.contains("neither a bzImage"), "{e}");
    }
}
