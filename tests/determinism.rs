//! The same case gives the same bytes: twice in a row, and whatever the
//! number of threads running cases at the same time.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use hotplug_fi::snapshot;

fn render(f: &Path) -> String {
    let (case, run) = common::run(f, &BTreeSet::new()).unwrap_or_else(|e| panic!("{e}"));
    snapshot::case_snapshot(&case, &run)
}

#[test]
fn snapshots_are_byte_identical_across_runs_and_thread_counts() {
    let files = common::discover(&common::cases_dir());
    assert!(files.len() >= 25, "expected the shipped cases, found {}", files.len());
    let first: Vec<String> = files.iter().map(|f| render(f)).collect();
    let second: Vec<String> = files.iter().map(|f| render(f)).collect();
    assert_eq!(first, second, "two sequential runs differ");
    for threads in [2usize, 4] {
        let chunks: Vec<Vec<(usize, PathBuf)>> = (0..threads)
            .map(|t| files.iter().cloned().enumerate().filter(|(i, _)| i % threads == t).collect())
            .collect();
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| std::thread::spawn(move || chunk.iter().map(|(i, f)| (*i, render(f))).collect::<Vec<_>>()))
            .collect();
        for h in handles {
            for (i, text) in h.join().expect("a rendering thread panicked") {
                assert_eq!(text, first[i], "{} differs with {threads} threads", files[i].display());
            }
        }
    }
}

/// A snapshot reads the same in any checkout: no absolute path leaks in.
#[test]
fn snapshots_do_not_depend_on_the_checkout_path() {
    let root = common::root().display().to_string();
    for f in common::discover(&common::cases_dir()) {
        let text = render(&f);
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
