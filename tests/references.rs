//! Every reference in the repository can be opened: a `*.md` file named in a
//! case, a source file, a doc, a test's data, a tool, a profile or a snapshot
//! exists in the repository, and no text points at notes that are not in it
//! (the phrases in `banned_phrases`). Plain std: it reads the files.

use std::fs;
use std::path::{Path, PathBuf};

/// Where references are looked for, relative to the repository root.
const ROOTS: &[&str] = &[
    "cases",
    "src",
    "docs",
    "tests",
    "tools",
    "profiles",
    "snapshots",
    "benches",
    ".ci",
    "kmod",
    "README.md",
    "CONTRIBUTING.md",
    "ARCHITECTURE.md",
];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Phrases that name documents outside the repository; built from pieces so
/// that this file does not contain them.
fn banned_phrases() -> Vec<String> {
    [["fact", "sheet"], ["oracle", "report"], ["seed", "bug"]].iter().map(|p| p.join(" ")).collect()
}

/// Every file under `path` (or `path` itself), skipping `target/` and `.git/`.
fn walk(path: &Path, out: &mut Vec<PathBuf>) {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if name == "target" || name == ".git" {
        return;
    }
    if path.is_dir() {
        let mut entries: Vec<PathBuf> =
            fs::read_dir(path).expect("readable directory").map(|e| e.unwrap().path()).collect();
        entries.sort();
        for e in entries {
            walk(&e, out);
        }
    } else if path.is_file() {
        out.push(path.to_path_buf());
    }
}

/// The text files to check (UTF-8 only), with their paths relative to the root.
fn text_files(root: &Path) -> Vec<(String, String)> {
    let mut files = Vec::new();
    for r in ROOTS {
        walk(&root.join(r), &mut files);
    }
    files.sort();
    files.dedup();
    let this = Path::new(file!()).file_name().unwrap();
    // The fuzz target's crashes are mutated case text, kept as found; they
    // point at nothing.
    let crashes = root.join("tests/fuzz/crashes");
    files
        .into_iter()
        .filter(|f| !(f.parent() == Some(&root.join("tests")) && f.file_name() == Some(this)))
        .filter(|f| !f.starts_with(&crashes))
        .filter_map(|f| {
            let text = fs::read_to_string(&f).ok()?;
            Some((f.strip_prefix(root).unwrap().to_string_lossy().into_owned(), text))
        })
        .collect()
}

/// The line with every URL (`http://...`, `https://...`) blanked out.
fn without_urls(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(i) = rest.find("http") {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if tail.starts_with("http://") || tail.starts_with("https://") {
            let end = tail.find(|c: char| c.is_whitespace() || "()<>\"'`".contains(c)).unwrap_or(tail.len());
            rest = &tail[end..];
        } else {
            out.push_str("http");
            rest = &tail[4..];
        }
    }
    out.push_str(rest);
    out
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_-./".contains(c)
}

/// The `*.md` file names in a line (anchors dropped).
fn md_names(line: &str) -> Vec<String> {
    let line = without_urls(line);
    let mut names = Vec::new();
    for (i, _) in line.match_indices(".md") {
        let after = line[i + 3..].chars().next();
        if after.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        let start = line[..i].rfind(|c: char| !is_name_char(c)).map_or(0, |j| j + 1);
        let stem = &line[start..i];
        if stem.trim_matches(|c| c == '.' || c == '/').is_empty() {
            continue;
        }
        names.push(format!("{stem}.md"));
    }
    names
}

/// Whether `name`, found in the file `from`, names a file of the repository:
/// relative to `from`'s directory, to the root, or (a bare name) anywhere.
fn exists(root: &Path, from: &str, name: &str, all: &[PathBuf]) -> bool {
    let dir = root.join(from).parent().unwrap().to_path_buf();
    if dir.join(name).is_file() || root.join(name).is_file() {
        return true;
    }
    !name.contains('/') && all.iter().any(|f| f.file_name().is_some_and(|n| n == name))
}

#[test]
fn every_md_file_named_exists() {
    let root = repo();
    let mut all = Vec::new();
    walk(&root, &mut all);
    let mut bad = Vec::new();
    for (path, text) in text_files(&root) {
        for (n, line) in text.lines().enumerate() {
            for name in md_names(line) {
                if !exists(&root, &path, &name, &all) {
                    bad.push(format!("{path}:{}: {name} (in: {})", n + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        bad.is_empty(),
        "these name a .md file that is not in the repository; point at a kernel commit, a kernel \
         source file and function, or a document under docs/ instead:\n{}",
        bad.join("\n")
    );
}

/// A line with its leading comment marker (`//!`, `///`, `//`, `#`, `*`) removed.
fn uncommented(line: &str) -> &str {
    let t = line.trim_start();
    let t = t.trim_start_matches("//!").trim_start_matches("///").trim_start_matches("//");
    t.trim_start_matches(['#', '*']).trim()
}

#[test]
fn no_text_points_at_notes_outside_the_repository() {
    let phrases = banned_phrases();
    let mut bad = Vec::new();
    for (path, text) in text_files(&repo()) {
        let lines: Vec<String> = text.lines().map(str::to_lowercase).collect();
        for (n, line) in lines.iter().enumerate() {
            let next = lines.get(n + 1).map_or("", |l| uncommented(l));
            let joined = format!("{} {next}", line.trim_end());
            for p in &phrases {
                // A phrase on this line, or one that starts here and ends on the next.
                if line.contains(p.as_str()) || (joined.contains(p.as_str()) && !next.contains(p.as_str())) {
                    bad.push(format!("{path}:{}: \"{p}\" (in: {})", n + 1, text.lines().nth(n).unwrap().trim()));
                }
            }
        }
    }
    assert!(
        bad.is_empty(),
        "these point at notes that are not in the repository; name the kernel commit, source file \
         and function, or a document under docs/ instead:\n{}",
        bad.join("\n")
    );
}
