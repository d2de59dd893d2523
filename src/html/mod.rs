//! Reports for people: one run as a self-contained HTML page, a per-CPU
//! timeline (`hotplug-fi report CASE --html FILE`), and a directory of
//! them with an index, one page per distinct outcome (`sweep --html DIR`,
//! `explore --html DIR`). docs/report.md says what each mark means.
//!
//! A page is built from a [`ScenarioRun`], the same run the snapshot and
//! `run --format json` come from: [`timeline`] lays the trace out (a lane
//! per CPU and per task on it, a row per step), [`svg`] draws it, and this
//! module adds the header (case, scenario, outcome, the reproduction
//! command `verdict::repro` prints everywhere) and the index. One file, no
//! network: the CSS is inline, the drawing is SVG, there is no script.
//! The bytes are a pure function of the run: no clock, no hash order.
//! Left out: events past `page_events_max` (the page says so and gives the
//! `run` command that prints them), zooming and filtering (a browser's
//! find and zoom do), and the sweep's scenarios beyond the first
//! [`SCENARIOS_SHOWN`] of an outcome (the index gives their count).

pub mod svg;
pub mod timeline;

use std::fmt::Write;
use std::path::Path;

use crate::case::Case;
use crate::case::limits::PAGE_EVENTS_MAX;
use crate::engine::RunOpts;
use crate::explore::CaseRun;
use crate::explore::interleave::Exploration;
use crate::verdict::{self, ScenarioRun};

pub use timeline::Timeline;

/// Scenario labels a page or an index row lists for one outcome.
pub const SCENARIOS_SHOWN: usize = 20;

/// What a page is about besides its run: which kind of outcome, the
/// scenarios or schedules that reach it, and how many runs did.
#[derive(Clone, Debug)]
pub struct About {
    /// `run`, `plain`, `faulted`, `sweep` or `interleaving`.
    pub kind: String,
    pub scenarios: Vec<String>,
    pub runs: u64,
}

impl About {
    /// A single run, as `report` shows it.
    pub fn single(run: &ScenarioRun) -> About {
        About { kind: "run".into(), scenarios: vec![run.scenario.label.clone()], runs: 1 }
    }
}

/// One page of a directory, and its row in the index.
#[derive(Clone, Debug)]
pub struct Page {
    pub file: String,
    pub case: String,
    pub about: About,
    pub violations: usize,
    pub html: String,
}

/// The page of one run.
pub fn page(case: &Case, run: &ScenarioRun, opts: &RunOpts, about: &About) -> String {
    render(case, run, opts, about, &Timeline::new(case, run))
}

/// The page of one run with its timeline given (a test removes a callback
/// from it to see the structural check fail).
pub fn render(case: &Case, run: &ScenarioRun, opts: &RunOpts, about: &About, t: &Timeline) -> String {
    let layout = svg::Layout::new(t);
    let title = format!("{} \u{2014} {}", case.id, run.scenario.label);
    let mut out = String::with_capacity(4096 + 300 * t.rows);
    let _ = write!(out, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    let _ = write!(out, "<title>hotplug-fi: {}</title><style>{CSS}</style></head><body>", esc(&title));
    header(&mut out, case, run, opts, about);
    truncation(&mut out, case, run, opts, t);
    out.push_str("<main>");
    out.push_str(&svg::heads(t, &layout));
    out.push_str(&svg::body(t, &layout));
    out.push_str("</main></body></html>\n");
    out
}

fn header(out: &mut String, case: &Case, run: &ScenarioRun, opts: &RunOpts, about: &About) {
    let r = &run.result;
    let _ =
        write!(out, "<header><h1>{} <span class=\"scenario\">{}</span></h1>", esc(&case.id), esc(&run.scenario.label));
    let _ = write!(out, "<p class=\"desc\">{}</p><table class=\"facts\">", esc(&case.description));
    let repro = verdict::repro(case, &run.scenario, opts);
    fact(out, "reproduce", &format!("<code class=\"repro\">{}</code>", esc(&repro)));
    let n = about.scenarios.len();
    let shown: Vec<String> = about.scenarios.iter().take(SCENARIOS_SHOWN).map(|s| esc(s)).collect();
    let more = if n > SCENARIOS_SHOWN { format!(" and {} more", n - SCENARIOS_SHOWN) } else { String::new() };
    let list = format!("<code>{}</code>{more}", shown.join("</code> <code>"));
    let what = match about.kind.as_str() {
        "run" => format!("the one scenario {list}"),
        kind => format!("{} outcome, reached by {} run(s): {list}", esc(kind), about.runs),
    };
    fact(out, "outcome of", &what);
    fact(out, "end", &esc(&crate::report::outcome_end(r)));
    let cpus = format!(
        "{} CPUs; {} steps, {} decisions, {} preemptions",
        case.machine.cpus, r.steps, r.decisions, r.preemptions
    );
    fact(out, "run", &esc(&cpus));
    let splats: Vec<String> = r.state.trace.splats.iter().map(|s| esc(&crate::report::splat_line(s))).collect();
    fact(out, "splats", &if splats.is_empty() { "none".into() } else { splats.join("<br>") });
    let v: Vec<String> = run.violations.iter().map(|v| esc(&v.to_string())).collect();
    let class = if v.is_empty() { "ok" } else { "bad" };
    let v = if v.is_empty() { "none".into() } else { v.join("<br>") };
    fact(out, "violations", &format!("<span class=\"{class}\">{v}</span>"));
    out.push_str("</table>");
    let _ = write!(out, "<details><summary>outcome text</summary><pre>{}</pre></details>", esc(&run.outcome));
    out.push_str(LEGEND);
    out.push_str("</header>");
}

fn fact(out: &mut String, name: &str, html: &str) {
    let _ = write!(out, "<tr><th>{name}</th><td>{html}</td></tr>");
}

/// What the page left out, if anything.
fn truncation(out: &mut String, case: &Case, run: &ScenarioRun, opts: &RunOpts, t: &Timeline) {
    let mut lines = Vec::new();
    if t.drawn < t.events {
        lines.push(format!(
            "This page draws the first {} of the trace's {} events ({} is {}).",
            t.drawn, t.events, PAGE_EVENTS_MAX.name, PAGE_EVENTS_MAX.max
        ));
    }
    if t.locks_full {
        lines.push("Some lock operations were not recorded (the trace's cap, trace_events_max).".into());
    }
    if lines.is_empty() {
        return;
    }
    let mut cmd = verdict::repro(case, &run.scenario, opts);
    if !cmd.contains(" replay ") {
        cmd.push_str(" --format json");
    }
    let _ =
        write!(out, "<p class=\"truncated\">{} The whole trace: <code>{}</code></p>", esc(&lines.join(" ")), esc(&cmd));
}

/// One page per distinct outcome of a case's sweep: the plain run, the
/// faulted run, each sweep outcome (its first scenario's run, the one that
/// keeps its trace) and each interleaving outcome.
pub fn case_pages(case: &Case, run: &CaseRun) -> Vec<Page> {
    let opts = &run.opts;
    let mut pages = Vec::new();
    let mut add = |r: &ScenarioRun, about: About| {
        let k = pages.len() + 1;
        pages.push(one(case, r, opts, about, k));
    };
    add(&run.plain, About { kind: "plain".into(), scenarios: vec![run.plain.scenario.label.clone()], runs: 1 });
    if let Some(f) = &run.faulted {
        add(f, About { kind: "faulted".into(), scenarios: vec![f.scenario.label.clone()], runs: 1 });
    }
    for o in &run.outcomes {
        let labels: Vec<String> = o.runs.iter().map(|&i| run.runs[i].scenario.label.clone()).collect();
        let runs = labels.len() as u64;
        add(&run.runs[o.runs[0]], About { kind: "sweep".into(), scenarios: labels, runs });
    }
    for (r, n) in run.interleavings.iter().flat_map(|i| &i.outcomes) {
        add(r, interleaving(r, *n));
    }
    pages
}

/// One page per distinct outcome of an exploration.
pub fn exploration_pages(case: &Case, ex: &Exploration, opts: &RunOpts) -> Vec<Page> {
    ex.outcomes.iter().enumerate().map(|(k, r)| one(case, &r.run, opts, interleaving(&r.run, r.runs), k + 1)).collect()
}

fn interleaving(r: &ScenarioRun, runs: u64) -> About {
    let schedule = r.scenario.schedule.as_ref().map(ToString::to_string).unwrap_or_default();
    About { kind: "interleaving".into(), scenarios: vec![schedule], runs }
}

fn one(case: &Case, r: &ScenarioRun, opts: &RunOpts, about: About, k: usize) -> Page {
    let html = page(case, r, opts, &about);
    let file = format!("{}.{k}.html", case.id.replace('/', "."));
    Page { file, case: case.id.clone(), violations: r.violations.len(), about, html }
}

/// The index: every page, with its case, kind, scenarios and counts.
pub fn index(title: &str, pages: &[Page]) -> String {
    let mut out = String::new();
    let _ = write!(out, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    let _ = write!(out, "<title>hotplug-fi: {}</title><style>{CSS}</style></head><body><header>", esc(title));
    let _ = write!(out, "<h1>{}</h1><p>{} page(s), one per distinct outcome.</p></header>", esc(title), pages.len());
    out.push_str("<table class=\"index\"><tr><th>case</th><th>outcome</th><th>kind</th><th>runs</th><th>violations</th><th>sites or schedules</th></tr>");
    for (k, p) in pages.iter().enumerate() {
        let n = p.about.scenarios.len();
        let shown: Vec<String> = p.about.scenarios.iter().take(SCENARIOS_SHOWN).map(|s| esc(s)).collect();
        let more = if n > SCENARIOS_SHOWN { format!(" and {} more", n - SCENARIOS_SHOWN) } else { String::new() };
        let class = if p.violations == 0 { "ok" } else { "bad" };
        let _ = write!(
            out,
            "<tr><td>{}</td><td><a href=\"{}\">{}</a></td><td>{}</td><td>{}</td><td class=\"{class}\">{}</td><td><code>{}</code>{more}</td></tr>",
            esc(&p.case),
            esc(&p.file),
            k + 1,
            esc(&p.about.kind),
            p.about.runs,
            p.violations,
            shown.join("</code> <code>")
        );
    }
    out.push_str("</table></body></html>\n");
    out
}

/// Writes the pages and `index.html` into `dir` (created if missing).
pub fn write_dir(dir: &Path, title: &str, pages: &[Page]) -> Result<(), String> {
    let err = |p: &Path, e: std::io::Error| format!("{}: {e}", p.display());
    std::fs::create_dir_all(dir).map_err(|e| err(dir, e))?;
    for p in pages {
        let path = dir.join(&p.file);
        std::fs::write(&path, &p.html).map_err(|e| err(&path, e))?;
    }
    let path = dir.join("index.html");
    std::fs::write(&path, index(title, pages)).map_err(|e| err(&path, e))
}

/// `text` with HTML's special characters escaped, for text and attributes.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const LEGEND: &str = r##"<div class="legend"><svg width="860" height="22" xmlns="http://www.w3.org/2000/svg"><rect x="2" y="5" width="8" height="12" fill="#2e7d32"/><text x="14" y="15">startup (up)</text><rect x="96" y="5" width="8" height="12" fill="#1565c0"/><text x="108" y="15">teardown (down)</text><rect x="210" y="5" width="8" height="12" fill="#c62828" fill-opacity="0.55" stroke="#c62828"/><text x="222" y="15">&#8634; rollback</text><rect x="290" y="5" width="4" height="12" fill="#d32f2f"/><text x="298" y="15">IRQs off</text><rect x="356" y="5" width="4" height="12" fill="#fb8c00"/><text x="364" y="15">preempt off</text><rect x="440" y="3" width="30" height="16" fill="#fbc02d" fill-opacity="0.3"/><text x="474" y="15">stop_machine stage</text><path d="M590,11 L620,11" stroke="#6a1b9a" stroke-width="1.5"/><text x="624" y="15">IPI</text><path d="M650,11 L680,11" stroke="#c62828" stroke-width="2" stroke-dasharray="6 3"/><text x="684" y="15">late IPI</text><rect x="740" y="4" width="7" height="14" fill="#ef6c00"/><text x="750" y="15">lock wait</text><path d="M812,5 l6,6 l-6,6 l-6,-6z" fill="#c62828"/><text x="822" y="15">splat</text></svg></div>"##;

const CSS: &str = "body{font:13px/1.4 system-ui,sans-serif;margin:0;color:#222;background:#fff}\
header{padding:10px 16px;border-bottom:1px solid #ccc}h1{font-size:18px;margin:0 0 4px}\
h1 .scenario{font-weight:normal;color:#555;font-family:ui-monospace,monospace;font-size:14px}\
.desc{margin:0 0 6px;color:#444;max-width:70em}code,pre{font-family:ui-monospace,monospace;font-size:12px}\
.facts th{text-align:left;padding-right:12px;vertical-align:top;color:#555;font-weight:600}\
code.repro{background:#f1f3f4;padding:2px 6px;user-select:all}.ok{color:#2e7d32}.bad{color:#c62828;font-weight:bold}\
details pre{background:#f8f8f8;padding:6px;max-height:20em;overflow:auto}.legend text{font:11px system-ui,sans-serif}\
.truncated{margin:0;padding:6px 16px;background:#fff3e0;border-bottom:1px solid #ffb74d}\
main{overflow-x:auto}svg.heads{position:sticky;top:0;background:#fff;display:block;z-index:1}\
svg.timeline{display:block}svg text{font:9px ui-monospace,monospace}\
.cpu-lane>rect{fill:#fafafa;stroke:#d5d5d5}.cpu-lane:nth-of-type(2n)>rect{fill:#f3f6fa}.task-lane line{stroke:#e4e4e4}\
.cpu-head rect{fill:#37474f}.cpu-head text{fill:#fff;font:bold 11px system-ui,sans-serif}\
.task-head rect{fill:#eceff1;stroke:#cfd8dc}.task-head text{font-size:10px}\
.stop rect{fill-opacity:.18}.stop text{text-anchor:end;fill:#6d4c41;font-size:8px}\
.stage-prepare rect{fill:#fbc02d}.stage-disable_irq rect{fill:#ef5350}.stage-run rect{fill:#ab47bc}\
.stage-exit rect,.stage-exit-past rect,.stage-none rect{fill:#8d6e63}\
.grid line{stroke:#eee}.grid text{text-anchor:end;fill:#999}\
.op line{stroke:#78909c;stroke-dasharray:4 3}.op text{font:bold 10px ui-monospace,monospace;fill:#263238}\
.opret line{stroke:#cfd8dc}.opret text{fill:#546e7a}\
.cb.up rect{fill:#2e7d32}.cb.down rect{fill:#1565c0}.cb.up text{fill:#1b5e20}.cb.down text{fill:#0d47a1}\
.cb.rollback rect{fill:url(#hatch);stroke:#c62828;stroke-width:1.5}.cb.failed text{fill:#c62828;font-weight:bold}\
.ctx.irqs-off{fill:#d32f2f}.ctx.preempt-off{fill:#fb8c00}.lock-hold{fill:#7e57c2;fill-opacity:.55}\
.lock-wait{fill:url(#wait);stroke:#ef6c00}.mark circle{fill:#90a4ae}.mark text{fill:#546e7a}\
.mark.mask circle{fill:#00897b}.mark.lock-take circle,.mark.lock-release circle{fill:#7e57c2}\
.mark.lock-wait-start circle{fill:#ef6c00}.ipi path{fill:none;stroke:#6a1b9a;stroke-width:1.3}\
.ipi.coalesced path{stroke-dasharray:2 2}.ipi.late path{stroke:#c62828;stroke-width:2;stroke-dasharray:6 3}\
.ipi text{fill:#c62828;font-weight:bold}.splat path{fill:#c62828}.splat text{fill:#b71c1c;font:bold 10px ui-monospace,monospace}\
table.index{border-collapse:collapse;margin:12px 16px}table.index td,table.index th{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}";
