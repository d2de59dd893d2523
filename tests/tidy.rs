//! Tidy: what ARCHITECTURE.md claims about the code, checked on the source
//! text (in the manner of rust-analyzer's `tidy.rs`). One test per rule; a
//! failure lists every offending `file:line` and says what the rule is and
//! why it holds. Plain std: it reads the files.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// A source file: its path relative to the repository root and its lines.
struct Source {
    path: String,
    lines: Vec<String>,
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for e in entries {
        let p = e.expect("readable directory").path();
        if p.is_dir() {
            walk(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The `.rs` files under the given directories, sorted by path.
fn sources(dirs: &[&str]) -> Vec<Source> {
    let root = repo();
    let mut files = Vec::new();
    for d in dirs {
        walk(&root.join(d), &mut files);
    }
    files.sort();
    files
        .into_iter()
        .map(|f| {
            let text = fs::read_to_string(&f).expect("a UTF-8 source file");
            let path = f.strip_prefix(&root).unwrap().to_string_lossy().replace('\\', "/");
            Source { path, lines: text.lines().map(String::from).collect() }
        })
        .collect()
}

/// Where the `//` comment of a line starts, ignoring `//` inside a `"..."`
/// pair (approximately: escaped quotes are skipped, char literals are not).
fn comment_start(line: &str) -> Option<usize> {
    let b = line.as_bytes();
    let mut in_str = false;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' if in_str => i += 1,
            b'"' => in_str = !in_str,
            b'/' if !in_str && b.get(i + 1) == Some(&b'/') => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

/// The code part of a line: everything before its `//` comment, with the
/// contents of string literals dropped (so `"unsafe"` is not the keyword).
fn code(line: &str) -> String {
    let mut out = String::new();
    let mut in_str = false;
    let mut escaped = false;
    for c in line[..comment_start(line).unwrap_or(line.len())].chars() {
        if c == '"' && !escaped {
            in_str = !in_str;
            out.push(c);
        } else if !in_str {
            out.push(c);
        }
        escaped = in_str && c == '\\' && !escaped;
    }
    out
}

/// The comment part of a line, or "".
fn comment(line: &str) -> &str {
    comment_start(line).map_or("", |i| &line[i..])
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Whether `word` occurs in `text` with no identifier character right before it
/// (and, if `whole`, none right after it either).
fn has_word(text: &str, word: &str, whole: bool) -> bool {
    text.match_indices(word).any(|(i, _)| {
        let before = text[..i].chars().next_back().is_some_and(is_ident);
        let after = text[i + word.len()..].chars().next().is_some_and(is_ident);
        !before && (!whole || !after)
    })
}

/// Fails with the rule, its reason and the offending places, if any.
fn report(rule: &str, why: &str, bad: &[String]) {
    assert!(bad.is_empty(), "tidy: {rule}\nwhy: {why}\n{} place(s):\n{}", bad.len(), bad.join("\n"));
}

#[test]
fn every_file_opens_with_a_doc_comment() {
    let mut bad = Vec::new();
    for s in sources(&["src", "tests", "benches"]) {
        match s.lines.iter().position(|l| !l.trim().is_empty()) {
            Some(i) if s.lines[i].trim_start().starts_with("//!") => {}
            Some(i) => bad.push(format!("{}:{}: {}", s.path, i + 1, s.lines[i].trim())),
            None => bad.push(format!("{}:1: empty file", s.path)),
        }
    }
    report(
        "every .rs file under src/, tests/ and benches/ opens with a `//!` doc comment",
        "the codemap stays navigable: each file says what it is before any code",
        &bad,
    );
}

/// The model and the simulator (ARCHITECTURE.md: a run is a pure function).
const MODEL: &[&str] = &["src/kernel", "src/mm", "src/drivers", "src/arch", "src/klib", "src/sim"];

#[test]
fn the_model_touches_no_files_clock_environment_threads_or_hash_maps() {
    let banned = ["std::fs", "std::env", "std::time", "std::thread", "HashMap", "HashSet"];
    let mut bad = Vec::new();
    for s in sources(MODEL) {
        for (n, line) in s.lines.iter().enumerate() {
            let c = code(line);
            let mut found: Vec<&str> = banned.iter().copied().filter(|w| has_word(&c, w, true)).collect();
            // `use std::{fs, time::Instant}` names them without the `std::` prefix.
            if c.trim_start().starts_with("use std::{") {
                found.extend(
                    ["fs", "env", "time", "thread"].iter().filter(|w| has_word(&c[c.find('{').unwrap()..], w, true)),
                );
            }
            if !found.is_empty() {
                bad.push(format!("{}:{}: {}: {}", s.path, n + 1, found.join(", "), line.trim()));
            }
        }
    }
    report(
        "no std::fs, std::env, std::time, std::thread, HashMap or HashSet in src/kernel/, src/mm/, \
         src/drivers/, src/arch/, src/klib/ or src/sim/",
        "a run is a pure function of (case, fault plan, strategy, regression switches), and a \
         snapshot of the case alone: no files, clock, environment, threads or hash-order iteration",
        &bad,
    );
}

#[test]
fn the_simulator_knows_nothing_of_the_kernel_model() {
    let banned = ["crate::kernel", "kernel::", "crate::mm", "crate::drivers", "crate::arch"];
    let mut bad = Vec::new();
    for s in sources(&["src/sim"]) {
        for (n, line) in s.lines.iter().enumerate() {
            let found: Vec<&str> = banned.iter().copied().filter(|w| has_word(&code(line), w, false)).collect();
            if !found.is_empty() {
                bad.push(format!("{}:{}: {}: {}", s.path, n + 1, found.join(", "), line.trim()));
            }
        }
    }
    report(
        "src/sim/ does not import or name crate::kernel, kernel::, crate::mm, crate::drivers or crate::arch",
        "the simulator knows nothing of hotplug states, cases or files; the kernel model builds on it, \
         never the other way round",
        &bad,
    );
}

#[test]
fn only_fault_rs_talks_to_the_fail_crate() {
    let mut bad = Vec::new();
    for s in sources(&["src"]).into_iter().filter(|s| s.path != "src/fault.rs") {
        for (n, line) in s.lines.iter().enumerate() {
            if has_word(&code(line), "fail::", false) {
                bad.push(format!("{}:{}: {}", s.path, n + 1, line.trim()));
            }
        }
    }
    report(
        "`fail::` appears only in src/fault.rs",
        "runs that arm sites hold FailGuard (the crate's global lock); one module owns the registry \
         so that no run sees another's failpoints",
        &bad,
    );
}

#[test]
fn no_unsafe() {
    let mut bad = Vec::new();
    for f in ["src/lib.rs", "src/main.rs"] {
        let text = fs::read_to_string(repo().join(f)).expect("readable");
        if !text.lines().any(|l| code(l).contains("#![forbid(unsafe_code)]")) {
            bad.push(format!("{f}:1: no #![forbid(unsafe_code)]"));
        }
    }
    for s in sources(&["src", "tests", "benches"]) {
        for (n, line) in s.lines.iter().enumerate() {
            if has_word(&code(line), "unsafe", true) {
                bad.push(format!("{}:{}: {}", s.path, n + 1, line.trim()));
            }
        }
    }
    report(
        "src/lib.rs and src/main.rs forbid unsafe code, and no `unsafe` appears under src/, tests/, benches/",
        "ARCHITECTURE.md promises no unsafe: the model's state lives behind one RefCell, and nothing \
         needs more",
        &bad,
    );
}

/// `CpuhpDynRemoveMisfire` -> `cpuhp-dyn-remove-misfire`, as `Regression::name()` spells it.
fn kebab(variant: &str) -> String {
    let mut out = String::new();
    for (i, c) in variant.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('-');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// The CamelCase variants named as `Regression::Variant` in a code line.
fn switches(line: &str) -> Vec<String> {
    let line = &code(line);
    let mut out = Vec::new();
    for (i, _) in line.match_indices("Regression::") {
        if line[..i].chars().next_back().is_some_and(is_ident) {
            continue;
        }
        let rest = &line[i + "Regression::".len()..];
        let v: String = rest.chars().take_while(|&c| is_ident(c)).collect();
        let camel = v.starts_with(|c: char| c.is_ascii_uppercase()) && v.chars().any(|c| c.is_ascii_lowercase());
        if camel {
            out.push(v);
        }
    }
    out
}

#[test]
fn each_regression_switch_is_consulted_only_where_marked() {
    let all = sources(&["src"]);
    let def = all.iter().find(|s| s.lines.iter().any(|l| has_word(&code(l), "pub enum Regression", true)));
    let def = def.expect("a file defines `pub enum Regression`").path.clone();
    let mut bad = Vec::new();
    let mut count: BTreeMap<String, usize> = BTreeMap::new();
    for s in all.iter().filter(|s| s.path != def) {
        for (n, line) in s.lines.iter().enumerate() {
            for v in switches(line) {
                let name = kebab(&v);
                *count.entry(name.clone()).or_default() += 1;
                let above = s.lines[n.saturating_sub(3)..n].iter().any(|l| comment(l).contains(&name));
                if !line.contains(&name) && !above {
                    bad.push(format!("{}:{}: Regression::{v} without `{name}`: {}", s.path, n + 1, line.trim()));
                }
            }
        }
    }
    if !bad.is_empty() {
        bad.extend(count.iter().map(|(k, v)| format!("  ({k} is consulted at {v} place(s))")));
    }
    report(
        &format!(
            "every `Regression::<Variant>` outside {def} has the switch's name on its line or in a \
             comment within the 3 lines above"
        ),
        "a switch is consulted only where the historical change was, marked with its name, so that \
         `grep NAME` shows every place that restores the old behaviour",
        &bad,
    );
}

/// The enclosing function of line `n`: the nearest `fn name` at or above it.
fn enclosing_fn(lines: &[String], n: usize) -> String {
    for l in lines[..=n].iter().rev() {
        let c = code(l);
        if let Some(i) = c.find("fn ").filter(|&i| !c[..i].chars().next_back().is_some_and(is_ident)) {
            return c[i + 3..].chars().take_while(|&c| is_ident(c)).collect();
        }
    }
    "(top level)".into()
}

/// Whether a code line builds a `ScenarioRun` with a struct literal (not the
/// definition, an `impl`, or a type in a signature such as `-> ScenarioRun {`).
fn builds_scenario_run(line: &str) -> bool {
    let c = code(line);
    c.match_indices("ScenarioRun {").any(|(i, _)| {
        let before = c[..i].trim_end();
        // After a keyword (`struct`, `impl`, `for`, `mut`) or `->`/`&` it is a type.
        let typed = before.ends_with("->") || before.ends_with('&');
        !before.chars().next_back().is_some_and(is_ident) && !typed
    })
}

#[test]
fn scenario_run_is_built_in_one_function() {
    let mut places: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for s in sources(&["src"]) {
        for (n, line) in s.lines.iter().enumerate().filter(|(_, l)| builds_scenario_run(l)) {
            let f = format!("{}: fn {}", s.path, enclosing_fn(&s.lines, n));
            places.entry(f).or_default().push(format!("{}:{}: {}", s.path, n + 1, line.trim()));
        }
    }
    let bad: Vec<String> = if places.len() == 1 {
        Vec::new()
    } else {
        places.iter().map(|(f, ls)| format!("in {f}:\n  {}", ls.join("\n  "))).collect()
    };
    report(
        &format!("`ScenarioRun {{ .. }}` is built in exactly one function in src/ (found {})", places.len()),
        "a scenario's result, its invariant violations and its outcome are put together in one \
         place, so every caller (tests, CLI, explorer) reports a run the same way",
        &bad,
    );
}

#[test]
fn no_source_file_is_over_1000_lines() {
    let mut bad = Vec::new();
    for s in sources(&["src", "tests", "benches"]) {
        if s.lines.len() > 1000 {
            bad.push(format!("{}:{}: {} lines", s.path, s.lines.len(), s.lines.len()));
        }
    }
    report(
        "no source file under src/, tests/ or benches/ is over 1,000 lines",
        "a file is one kernel file or one concern; past 1,000 lines it is several, and should be split",
        &bad,
    );
}

/// Whether `text` mentions `what` as a path of its own: not inside a longer
/// name, and either at a boundary or right after `src/`.
fn mentions(text: &str, what: &str) -> bool {
    let path_char = |c: char| is_ident(c) || "-./".contains(c);
    text.match_indices(what).any(|(i, _)| {
        let start = !text[..i].chars().next_back().is_some_and(path_char) || text[..i].ends_with("src/");
        let end = !text[i + what.len()..].chars().next().is_some_and(|c| is_ident(c) || "-/".contains(c));
        start && end
    })
}

#[test]
fn every_source_file_is_in_the_codemap() {
    let arch = fs::read_to_string(repo().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let mut bad = Vec::new();
    for s in sources(&["src"]) {
        let rel = s.path.strip_prefix("src/").unwrap();
        let dir = rel.rfind('/').map(|i| &rel[..=i]);
        if !mentions(&arch, rel) && !dir.is_some_and(|d| mentions(&arch, d)) {
            let want = dir.map_or(format!("`{rel}`"), |d| format!("`{rel}` or `{d}`"));
            bad.push(format!("{}:1: not in ARCHITECTURE.md's codemap (mention {want})", s.path));
        }
    }
    report(
        "every file under src/ appears in ARCHITECTURE.md's codemap, by its path relative to src/ or by its directory",
        "the codemap is how a newcomer finds code; a file it does not name is a file nobody finds",
        &bad,
    );
}

/// Lines of `files` (paths under src/) whose code names any of `banned`.
fn naming(files: &[&str], banned: &[&str]) -> Vec<String> {
    let mut bad = Vec::new();
    let all = sources(&["src", "tests"]);
    // A rule about a file that moved must fail, not pass on nothing.
    for f in files {
        let found = all.iter().any(|s| s.path == *f || (f.ends_with('/') && s.path.starts_with(f)));
        assert!(found, "tidy names {f}, which is not a source file or directory any more");
    }
    for s in all {
        if !files.iter().any(|f| s.path == *f || (f.ends_with('/') && s.path.starts_with(f))) {
            continue;
        }
        for (n, line) in s.lines.iter().enumerate() {
            let found: Vec<&str> = banned.iter().copied().filter(|w| has_word(&code(line), w, false)).collect();
            if !found.is_empty() {
                bad.push(format!("{}:{}: {}: {}", s.path, n + 1, found.join(", "), line.trim()));
            }
        }
    }
    bad
}

#[test]
fn report_renders_and_never_checks() {
    let bad = naming(&["src/report.rs", "src/snapshot/", "src/html/"], &["check::", "smp::check", "memory::check"]);
    report(
        "src/report.rs, src/snapshot/ and src/html/ call no check",
        "a run is checked once, in ScenarioRun::new; the outcome's broken invariants are the findings it computed",
        &bad,
    );
}

#[test]
fn modules_depend_downwards_only() {
    let mut bad = naming(&["src/report.rs", "src/check.rs"], &["explore::", "verdict::", "snapshot::"]);
    bad.extend(naming(&["src/verdict.rs"], &["explore::", "snapshot::"]));
    bad.extend(naming(&["src/explore/"], &["snapshot::", "results::", "html::"]));
    bad.extend(naming(&["src/engine.rs"], &["report::", "check::", "verdict::", "explore::"]));
    report(
        "report and check import neither explore, verdict nor snapshot; verdict imports neither explore nor \
         snapshot; explore imports neither snapshot, results nor html; engine imports none of them",
        "ARCHITECTURE.md's order (engine <- report <- check <- verdict <- explore <- snapshot): no cycles",
        &bad,
    );
}

#[test]
fn tests_and_the_cli_reach_runs_only_through_verdict_and_explore() {
    let banned = ["engine::run", "engine::run_strategy", "kernel::trace", "trace.events", "KState"];
    let mut files: Vec<String> = Vec::new();
    for s in sources(&["tests"]) {
        if s.path != "tests/tidy.rs" {
            files.push(s.path);
        }
    }
    files.push("src/main.rs".into());
    let refs: Vec<&str> = files.iter().map(String::as_str).collect();
    report(
        "tests/ and src/main.rs run scenarios through verdict::run or explore (not engine::run) and read \
         results through ScenarioRun, report and snapshot (not trace events or KState)",
        "the engine can be rewritten without touching a test or the CLI",
        &naming(&refs, &banned),
    );
}
