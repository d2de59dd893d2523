//! Reading a report page without a browser: what it must show of a run
//! (every CPU lane, every callback of the trace), taken from the run's
//! `run --format json` events rather than from the page's own builder, and
//! what a page (its source, or the DOM Chromium dumps) actually shows.

use std::collections::BTreeMap;

use hotplug_fi::case::Case;
use hotplug_fi::engine::RunOpts;
use hotplug_fi::results::RunDoc;
use hotplug_fi::verdict::ScenarioRun;
use regex::Regex;

/// A callback as the page must label it: for which CPU, which state, which
/// direction, which instance, in rollback or not.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct CbKey {
    pub cpu: u64,
    pub state: u64,
    pub up: bool,
    pub inst: Option<u64>,
    pub rollback: bool,
}

/// What a page of a run must show.
#[derive(Debug)]
pub struct Expected {
    pub cpus: usize,
    /// Each kind of callback and how many times the trace has it.
    pub callbacks: BTreeMap<CbKey, usize>,
}

impl Expected {
    pub fn total(&self) -> usize {
        self.callbacks.values().sum()
    }
}

fn key(ev: &serde_json::Value) -> CbKey {
    CbKey {
        cpu: ev["cpu"].as_u64().expect("cpu"),
        state: ev["state"].as_u64().expect("state"),
        up: ev["bringup"].as_bool().expect("bringup"),
        inst: ev["inst"].as_u64(),
        rollback: ev["rollback"].as_bool().expect("rollback"),
    }
}

/// The callbacks of a run, from its JSON events: every `CbExit` is one, and
/// so is every `CbEnter` that never returned.
pub fn expected(case: &Case, run: &ScenarioRun, opts: &RunOpts) -> Expected {
    let doc: serde_json::Value = serde_json::from_str(&RunDoc::new(case, run, opts).to_json()).expect("json");
    let mut exits: BTreeMap<CbKey, usize> = BTreeMap::new();
    let mut ran: BTreeMap<CbKey, usize> = BTreeMap::new();
    let mut enters: BTreeMap<CbKey, usize> = BTreeMap::new();
    for e in doc["events"].as_array().expect("events") {
        if let Some(ev) = e.get("CbEnter") {
            *enters.entry(key(ev)).or_default() += 1;
        }
        if let Some(x) = e.get("CbExit") {
            let k = key(&x[0]);
            *exits.entry(k.clone()).or_default() += 1;
            if x[1] == "Ran" {
                *ran.entry(k).or_default() += 1;
            }
        }
    }
    let mut callbacks = exits;
    for (k, n) in enters {
        let open = n.saturating_sub(ran.get(&k).copied().unwrap_or(0));
        if open > 0 {
            *callbacks.entry(k).or_default() += open;
        }
    }
    Expected { cpus: case.machine.cpus, callbacks }
}

/// What a page shows: its CPU lanes, and its callback spans with their
/// labels.
#[derive(Debug, Default)]
pub struct Shown {
    pub cpus: Vec<u64>,
    pub callbacks: BTreeMap<CbKey, usize>,
    /// Spans whose label does not name their state.
    pub unlabelled: Vec<String>,
}

/// Reads a page's source or a dumped DOM: `<g class="cpu-lane" data-cpu=N>`
/// and `<g class="cb …" data-…>` with the `<text>` label inside.
pub fn shown(html: &str) -> Shown {
    let attr = Regex::new(r#"data-([a-z]+)="([^"]*)""#).unwrap();
    let attrs = |tag: &str| -> BTreeMap<String, String> {
        attr.captures_iter(tag).map(|c| (c[1].to_string(), c[2].to_string())).collect()
    };
    let mut s = Shown::default();
    for m in Regex::new(r#"<g class="cpu-lane"[^>]*>"#).unwrap().find_iter(html) {
        s.cpus.push(attrs(m.as_str())["cpu"].parse().expect("a CPU number"));
    }
    let cb = Regex::new(r#"<g class="cb (?:up|down)[^"]*"[^>]*>(?s:.*?)<text[^>]*>([^<]*)</text>"#).unwrap();
    for c in cb.captures_iter(html) {
        let a = attrs(c.get(0).unwrap().as_str().split('>').next().unwrap());
        let num = |k: &str| a.get(k).map(|v| v.parse::<u64>().expect("a number"));
        let k = CbKey {
            cpu: num("cpu").expect("data-cpu"),
            state: num("state").expect("data-state"),
            up: a["dir"] == "up",
            inst: num("inst"),
            rollback: a["rollback"] == "1",
        };
        if !c[1].contains(&format!("{} ", k.state)) {
            s.unlabelled.push(c[1].to_string());
        }
        *s.callbacks.entry(k).or_default() += 1;
    }
    s
}

/// Everything the page should show and does not, one line each.
pub fn missing(html: &str, want: &Expected) -> Vec<String> {
    let s = shown(html);
    let mut out = Vec::new();
    for cpu in 0..want.cpus as u64 {
        if !s.cpus.contains(&cpu) {
            out.push(format!("no lane for CPU{cpu}"));
        }
    }
    for (k, &n) in &want.callbacks {
        let have = s.callbacks.get(k).copied().unwrap_or(0);
        if have < n {
            out.push(format!("{} of {n} span(s) for {k:?}", have));
        }
    }
    out.extend(s.unlabelled.iter().map(|l| format!("a span labelled `{l}` does not name its state")));
    out
}
