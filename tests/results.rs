//! The machine-readable results: the JSON document round-trips, carries its
//! schema and version, has every field docs/results.md documents (and no
//! other), and KTAP's plans and totals match its tests; a violation shows
//! as `not ok` in both, with its reproduction command.

mod common;

use hotplug_fi::engine::RunOpts;
use hotplug_fi::explore;
use hotplug_fi::kernel::Regression;
use hotplug_fi::results::{self, Results};

/// Three shipped cases: a sweep, one with threads, one with a fault; and a
/// regression case with its switch on, which breaks an invariant.
fn sample() -> Results {
    let mut cases = Vec::new();
    for id in ["cpu/updown", "slab/create-vs-up", "cpu/fail-online"] {
        let case = common::case(id);
        let run = explore::run_case(&case, &RunOpts::default(), None).expect("it runs");
        cases.push(results::case_result(&case, &run));
    }
    let case = common::case("regression/smp-no-flush-on-dying");
    let run = explore::run_case(&case, &common::switched(Regression::SmpNoFlushOnDying), None).expect("it runs");
    cases.push(results::case_result(&case, &run));
    cases.push(results::error_result("bad.toml", "bad.toml:1:1: unknown field `x`".to_string()));
    Results::new("sweep", cases, Vec::new())
}

#[test]
fn the_json_document_round_trips_and_names_its_schema() {
    let r = sample();
    let text = r.to_json();
    assert_eq!(Results::from_json(&text).expect("it parses back"), r);
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["schema"], "hotplug-fi/results");
    assert_eq!(v["version"], 1);
    assert_eq!(v["totals"]["cases"], 5);
    assert_eq!(v["totals"]["errors"], 1);
    let other = text.replacen("\"version\": 1", "\"version\": 2", 1);
    assert!(Results::from_json(&other).unwrap_err().contains("expected hotplug-fi/results version 1"));
}

#[test]
fn totals_count_what_the_cases_hold() {
    let r = sample();
    let outcomes: usize = r.cases.iter().map(|c| c.outcomes.len()).sum();
    assert_eq!(r.totals.outcomes, outcomes);
    let broken: Vec<_> = r.cases.iter().flat_map(|c| &c.outcomes).flat_map(|o| &o.violations).collect();
    assert_eq!(r.totals.violations, broken.len());
    assert!(!broken.is_empty(), "the regression case with its switch on breaks something");
    for v in broken {
        assert!(v.reproduce.starts_with("HOTPLUG_REGRESSIONS=smp-no-flush-on-dying cargo run"), "{}", v.reproduce);
    }
    let updown = &r.cases[0];
    let swept: u64 = updown.outcomes.iter().filter(|o| o.kind == "sweep").map(|o| o.runs).sum();
    assert_eq!(updown.scenarios as u64, 1 + swept, "every swept scenario is in one outcome");
}

/// Every key of the document is a row of docs/results.md's field table,
/// and every row is a key.
#[test]
fn every_field_is_documented() {
    let doc = std::fs::read_to_string(common::root().join("docs/results.md")).unwrap();
    let table = &doc[..doc.find("## `run --format json`").expect("a run section")];
    let rows: std::collections::BTreeSet<String> =
        table.lines().filter_map(|l| l.strip_prefix("| `")?.split_once('`').map(|(k, _)| k.to_string())).collect();
    let mut keys = std::collections::BTreeSet::new();
    collect_keys(&serde_json::to_value(sample()).unwrap(), &mut keys);
    assert_eq!(keys, rows, "docs/results.md's table and the document's keys");
}

fn collect_keys(v: &serde_json::Value, out: &mut std::collections::BTreeSet<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                out.insert(k.clone());
                collect_keys(v, out);
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|v| collect_keys(v, out)),
        _ => {}
    }
}

#[test]
fn ktap_plans_and_totals_match_its_tests() {
    let r = sample();
    let text = results::ktap(&r);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "KTAP version 1");
    assert_eq!(lines[1], format!("1..{}", r.cases.len()));
    let top: Vec<&&str> = lines.iter().filter(|l| l.starts_with("ok ") || l.starts_with("not ok ")).collect();
    assert_eq!(top.len(), r.cases.len());
    for (n, (line, case)) in top.iter().zip(&r.cases).enumerate() {
        let failed = case.error.is_some() || case.outcomes.iter().any(|o| !o.violations.is_empty());
        let want = format!("{} {} {}", if failed { "not ok" } else { "ok" }, n + 1, case.id);
        assert_eq!(**line, want);
    }
    // Each subtest plan counts its subtests.
    let mut i = 0;
    while i < lines.len() {
        if let Some(n) = lines[i].strip_prefix("    1..") {
            let n: usize = n.parse().unwrap();
            let subs = lines[i + 1..]
                .iter()
                .take_while(|l| l.starts_with("    "))
                .filter(|l| l.starts_with("    ok ") || l.starts_with("    not ok "))
                .count();
            assert_eq!(subs, n, "subtest plan at line {}", i + 1);
        }
        i += 1;
    }
    let fails = top.iter().filter(|l| l.starts_with("not ok")).count();
    assert_eq!(fails, 2, "the regression case and the bad file");
    let want = format!("# Totals: pass:{} fail:{fails} xfail:0 xpass:0 skip:0 error:0", r.cases.len() - fails);
    assert_eq!(*lines.last().unwrap(), want);
    assert!(
        text.contains("    # reproduce: HOTPLUG_REGRESSIONS=smp-no-flush-on-dying cargo run --release -- "),
        "{text}"
    );
    assert!(text.contains("# error: bad.toml:1:1: unknown field `x`"), "{text}");
}

/// The CLI prints the document alone on stdout, and exits as the text
/// summary does.
#[test]
fn sweep_format_json_prints_the_document() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hotplug-fi"))
        .args(["sweep", "--format", "json", "cases/cpu/updown.toml", "cases/smp/call-self.toml"])
        .current_dir(common::root())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let r = Results::from_json(&String::from_utf8_lossy(&out.stdout)).expect("stdout is the document");
    assert_eq!(r.totals.cases, 2);
    assert_eq!(r.cases[0].id, "cpu/updown");
    assert_eq!(r.totals.violations, 0);
}

/// `run --format json`: the trace's events as the model records them (one
/// `CbEnter` per callback the text shows), the texts and names they index,
/// the results and the final state; it reads back as the same document.
#[test]
fn run_format_json_gives_the_events_and_the_final_state() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hotplug-fi"))
        .args(["run", "--format", "json", "cases/cpu/updown.toml", "--fault", "cpuhp/cpu1/up/197"])
        .current_dir(common::root())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let doc: results::RunDoc = serde_json::from_str(&text).expect("a run document");
    assert_eq!((doc.schema.as_str(), doc.version, doc.command.as_str()), ("hotplug-fi/results", 1, "run"));
    let case = common::case("cpu/updown");
    let faults =
        vec![(hotplug_fi::case::parse_site(&case.profile, 4, "cpuhp/cpu1/up/197").unwrap(), "1*return".to_string())];
    let sc = hotplug_fi::verdict::Scenario { label: String::new(), faults, schedule: None };
    let run = hotplug_fi::verdict::run(&case, sc, &RunOpts::default()).unwrap();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    let events = value["events"].as_array().expect("events");
    let entered = events.iter().filter(|e| e.get("CbEnter").is_some()).count();
    let shown = hotplug_fi::report::trace(&case, &run.result)
        .lines()
        .filter(|l| l.contains("->startup()") || l.contains("->teardown()"))
        .count();
    assert!(entered > 0 && entered <= shown, "{entered} entered, {shown} lines");
    assert_eq!(doc.results, vec![Some(0), Some(-11)]);
    assert_eq!(doc.final_state.online, "0,2-3");
    let cpu1 = &doc.final_state.cpus[1];
    assert_eq!((cpu1.state, cpu1.target), (0, 0), "a failed bringup rolls back to CPUHP_OFFLINE");
    assert!(doc.outcome.contains("cpu1: hotplug/state 0  target 0  fail -1"), "{}", doc.outcome);
    assert_eq!(doc.outcome, run.outcome);
    assert_eq!(serde_json::to_string_pretty(&doc).unwrap(), text.trim_end());
    assert_eq!(doc.scenario, "cpuhp/cpu1/up/197");
    // Every field but an event's own is in docs/results.md.
    let docs = std::fs::read_to_string(common::root().join("docs/results.md")).unwrap();
    let mut value: serde_json::Value = serde_json::from_str(&text).unwrap();
    value["events"] = serde_json::Value::Array(Vec::new());
    let mut keys = std::collections::BTreeSet::new();
    collect_keys(&value, &mut keys);
    for k in keys {
        assert!(docs.contains(&format!("`{k}`")), "docs/results.md does not name `{k}`");
    }
}
