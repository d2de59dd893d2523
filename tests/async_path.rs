//! The synchronous fast path of `cpuhp_invoke_callback` (built-in callbacks
//! that cannot sleep run without an `async` frame) must not drift from the
//! asynchronous path: with every callback forced through the async path,
//! every case gives its stored snapshot byte for byte.

mod common;

use hotplug_fi::engine::RunOpts;

#[test]
fn every_snapshot_is_the_same_through_the_async_path() {
    let opts = RunOpts { force_async: true, ..Default::default() };
    let files = common::discover(&common::cases_dir());
    assert!(files.len() >= 25, "expected the shipped cases, found {}", files.len());
    let mut differ = Vec::new();
    for f in &files {
        let (case, run) = common::run_with_opts(f, &opts).unwrap_or_else(|e| panic!("{e}"));
        if let Some(msg) = common::failure(&case, &run) {
            differ.push(format!("{}: violations through the async path:\n{msg}", case.id));
            continue;
        }
        let text = hotplug_fi::snapshot::case_snapshot(&case, &run);
        let stored = common::read_snapshot(&common::snapshot_file(&case.id)).expect("every case has a snapshot");
        if text.trim_end() != stored.trim_end() {
            let at = text.lines().zip(stored.lines()).position(|(a, b)| a != b).unwrap_or(0);
            let line = |s: &str| s.lines().nth(at).unwrap_or("").to_string();
            differ.push(format!("{}: line {}: async `{}`, stored `{}`", case.id, at + 1, line(&text), line(&stored)));
        }
    }
    assert!(differ.is_empty(), "{} of {} cases differ:\n{}", differ.len(), files.len(), differ.join("\n"));
}
