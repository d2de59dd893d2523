//! The same case gives the same bytes: twice in a row, and whatever the
//! number of threads running cases at the same time.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use hotplug_fi::snapshot;

fn render(f: &Path) -> String {
    let (case, run) = common::run(f, &BTreeSet::new()).unwrap_or_else(|e| panic!("{e}"));
    snapshot::case_snapshot(&case, &run)
}

/// Every shipped case rendered once, sequentially: the reference the other
/// runs are compared with.
fn sequential() -> &'static [(PathBuf, String)] {
    static FIRST: OnceLock<Vec<(PathBuf, String)>> = OnceLock::new();
    FIRST.get_or_init(|| {
        let files = common::discover(&common::cases_dir());
        assert!(files.len() >= 25, "expected the shipped cases, found {}", files.len());
        files.into_iter().map(|f| (f.clone(), render(&f))).collect()
    })
}

/// Each case is rendered again on 1, 2 and 4 threads, after the sequential
/// run: a second run in the same process (state left behind by the first)
/// and runs beside other cases (state shared between threads) must both
/// give the same bytes.
#[test]
fn snapshots_are_byte_identical_across_runs_and_thread_counts() {
    let first = sequential();
    for threads in [1usize, 2, 4] {
        let chunks: Vec<Vec<(usize, PathBuf)>> = (0..threads)
            .map(|t| first.iter().map(|(f, _)| f.clone()).enumerate().filter(|(i, _)| i % threads == t).collect())
            .collect();
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| std::thread::spawn(move || chunk.iter().map(|(i, f)| (*i, render(f))).collect::<Vec<_>>()))
            .collect();
        for h in handles {
            for (i, text) in h.join().expect("a rendering thread panicked") {
                assert_eq!(text, first[i].1, "{} differs with {threads} threads", first[i].0.display());
            }
        }
    }
}

/// A snapshot reads the same in any checkout: no absolute path leaks in.
#[test]
fn snapshots_do_not_depend_on_the_checkout_path() {
    let root = common::root().display().to_string();
    for (f, text) in sequential() {
        assert!(!text.contains(&root), "{} mentions {root}", f.display());
    }
}

/// A trace names each step as it was when the callback ran, even if the
/// run removed it later (the module unloads at the end of this case).
#[test]
fn traces_name_removed_states_as_they_were() {
    let text = render(&common::cases_dir().join("dynstate/ap-register-remove.toml"));
    assert!(text.contains("CPU1 [211 demo:online]->startup()  demo_online_startup  on cpuhp/1 CPU1  = 0"), "{text}");
    assert!(!text.contains("()  ?  on"), "a callback printed without its function:\n{text}");
}
