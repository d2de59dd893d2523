//! The HTML report page, read without a browser: a four-CPU page has a
//! lane per CPU and a span per callback of its trace (and the check says so
//! when one is missing); rollback, stop_machine stages, a late IPI, lock
//! waits and splats are drawn; the page is the same bytes every time, needs
//! no network, says when it truncated, and every shipped case gets one.

mod common;

use common::page::{self, Expected};
use hotplug_fi::case::Case;
use hotplug_fi::case::limits::PAGE_EVENTS_MAX;
use hotplug_fi::engine::RunOpts;
use hotplug_fi::explore;
use hotplug_fi::html::{self, About, Timeline};
use hotplug_fi::verdict::{self, Scenario, ScenarioRun};

/// Runs that keep what a page draws (where each event ran, the locks).
fn opts() -> RunOpts {
    RunOpts { timeline: true, ..Default::default() }
}

fn plain(case: &Case, opts: &RunOpts) -> ScenarioRun {
    verdict::run(case, Scenario::plain(case, opts), opts).expect("the plain run runs")
}

fn page_of(id: &str) -> (Case, ScenarioRun, String) {
    let case = common::case(id);
    let opts = opts();
    let run = plain(&case, &opts);
    let html = html::page(&case, &run, &opts, &About::single(&run));
    (case, run, html)
}

#[test]
fn a_four_cpu_page_has_every_cpu_lane_and_every_callback() {
    let (case, run, html) = page_of("stop_machine/four-cpus");
    let want = page::expected(&case, &run, &opts());
    assert_eq!(want.cpus, 4);
    assert!(want.total() > 50, "the case runs a full down and up: {}", want.total());
    assert_eq!(page::missing(&html, &want), Vec::<String>::new());
    let shown = page::shown(&html);
    assert_eq!(shown.cpus, vec![0, 1, 2, 3]);
    // Not more spans than callbacks either: each is drawn once.
    assert_eq!(shown.callbacks.values().sum::<usize>(), want.total());
    assert!(html.contains("sched_cpu_deactivate") && html.contains("takedown_cpu"), "functions are named");
}

#[test]
fn the_check_fails_when_a_callback_is_missing_from_the_page() {
    let (case, run, _) = page_of("stop_machine/four-cpus");
    let opts = opts();
    let want: Expected = page::expected(&case, &run, &opts);
    let mut t = Timeline::new(&case, &run);
    let gone = t.callbacks.remove(t.callbacks.len() / 2);
    let html = html::render(&case, &run, &opts, &About::single(&run), &t);
    let missing = page::missing(&html, &want);
    assert_eq!(missing.len(), 1, "{missing:?}");
    assert!(missing[0].contains(&format!("state: {}", gone.ev.state)), "{missing:?} names {gone:?}");
    // And a lane: a page without CPU3's lane fails too.
    let html = html::page(&case, &run, &opts, &About::single(&run)).replace(r#"class="cpu-lane" data-cpu="3""#, "");
    assert_eq!(page::missing(&html, &want), vec!["no lane for CPU3".to_string()]);
}

#[test]
fn rollback_stop_machine_stages_and_a_late_ipi_are_marked() {
    let case = common::case("cpu/rollback-fails");
    let opts = opts();
    let run = verdict::run(&case, Scenario::faulted(&case).expect("it has faults"), &opts).expect("it runs");
    let html = html::page(&case, &run, &opts, &About::single(&run));
    assert!(
        html.contains(r#"data-rollback="1""#) && html.contains("cb down rollback"),
        "rollback spans: the failed up undone"
    );
    let (_, _, html) = page_of("stop_machine/four-cpus");
    for stage in ["MULTI_STOP_PREPARE", "MULTI_STOP_DISABLE_IRQ", "MULTI_STOP_RUN", "MULTI_STOP_EXIT"] {
        let bands = html.matches(&format!(r#"data-stage="{stage}""#)).count();
        assert_eq!(bands, 4, "{stage}: one band per CPU");
    }
    assert!(html.contains(r#"class="ctx irqs-off""#), "IRQs-off context is drawn");
    assert!(html.contains(r#"class="ctx preempt-off""#), "preempt-off context is drawn");
    let (_, _, html) = page_of("smp/dying-flush");
    assert!(html.contains(r#"<g class="ipi late" data-to="2">"#), "the stranded IPI is late");
    assert!(html.contains("late, flushed by smpcfd_dying_cpu"));
    assert!(html.contains(r#"<g class="ipi" data-to="0">"#), "an on-time IPI is not marked late");
}

#[test]
fn lock_waits_and_splats_are_drawn() {
    let (_, _, html) = page_of("context/sleep-in-starting");
    assert!(html.contains(r#"<g class="splat">"#), "a splat marker");
    assert!(html.contains("BUG: sleeping function called from invalid context"), "with its message");
    assert!(html.contains(r#"<rect id="first-splat""#), "an anchor at the first splat");
    let case = common::case("context/abba-deadlock");
    let run = explore::run_case(&case, &opts(), None).expect("it runs");
    let pages = html::case_pages(&case, &run);
    let deadlock = pages.iter().find(|p| p.html.contains("deadlock: cycle")).expect("a deadlock outcome");
    assert!(deadlock.html.contains(r#"class="lock-wait""#), "a waiter's wait is a span");
    assert!(deadlock.html.contains("(to the end)"), "a wait that never ends is drawn to the last row");
    assert!(deadlock.html.contains("mark lock-take") && deadlock.html.contains("mark lock-release"));
    let (_, _, html) = page_of("smp/dying-flush");
    assert!(html.contains(r#"<rect id="first-late-ipi""#), "an anchor at the first late IPI");
}

#[test]
fn a_page_is_the_same_bytes_every_time_and_needs_no_network() {
    let (_, _, a) = page_of("smp/dying-flush");
    let (_, _, b) = page_of("smp/dying-flush");
    assert_eq!(a, b);
    let outside: Vec<&str> =
        a.split('"').filter(|s| s.starts_with("http") && *s != "http://www.w3.org/2000/svg").collect();
    assert!(outside.is_empty(), "no external references: {outside:?}");
    for banned in ["<script", "<link", "@import", "@font-face", "<img", "<iframe"] {
        assert!(!a.contains(banned), "the page has {banned}");
    }
    assert!(!a.contains("url(http"), "url() only names the page's own patterns and markers");
}

#[test]
fn the_header_gives_the_reproduction_command_the_tool_prints() {
    let case = common::case("cpu/updown");
    let opts = opts();
    let run = explore::run_case(&case, &opts, None).expect("it runs");
    let pages = html::case_pages(&case, &run);
    assert_eq!(pages.len(), 1 + run.outcomes.len(), "one page per distinct outcome");
    let o = &run.outcomes[0];
    let first = &run.runs[o.runs[0]];
    let repro = verdict::repro(&case, &first.scenario, &opts);
    assert!(pages[1].html.contains(&html::esc(&repro)), "{repro}");
    assert_eq!(pages[1].about.runs, o.runs.len() as u64);
    let index = html::index("sweep", &pages);
    for p in &pages {
        assert!(index.contains(&format!(r#"href="{}""#, p.file)), "the index links {}", p.file);
    }
    assert!(index.contains(&html::esc(&first.scenario.label)), "the index lists the sites");
}

#[test]
fn a_long_trace_is_cut_at_page_events_max_and_the_page_says_so() {
    let ops: Vec<String> = (0..200).map(|i| format!("\"cpu_{} 1\"", if i % 2 == 0 { "down" } else { "up" })).collect();
    let text = format!("description = \"many cycles\"\nops = [{}]\n\n[machine]\ncpus = 2\n", ops.join(", "));
    let case = Case::parse("long.toml", "long", &text).expect("it parses");
    let opts = opts();
    let run = plain(&case, &opts);
    let t = Timeline::new(&case, &run);
    assert!(t.events > PAGE_EVENTS_MAX.max as usize, "the run is long enough: {}", t.events);
    assert_eq!(t.drawn, PAGE_EVENTS_MAX.max as usize);
    let html = html::page(&case, &run, &opts, &About::single(&run));
    let note = format!("draws the first {} of the trace&#39;s {} events (page_events_max", t.drawn, t.events);
    assert!(html.contains(&note), "the page says it truncated");
    assert!(html.len() < 8 << 20, "the page stays bounded: {} bytes", html.len());
}

#[test]
fn every_shipped_case_has_a_page() {
    let opts = opts();
    let files = common::discover(&common::cases_dir());
    assert!(files.len() > 50, "the cases are found");
    for f in files {
        let case = Case::load(&f, &common::cases_dir()).expect("a shipped case loads");
        let run = plain(&case, &opts);
        let html = html::page(&case, &run, &opts, &About::single(&run));
        assert!(html.starts_with("<!DOCTYPE html>") && html.ends_with("</html>\n"), "{}", case.id);
        let want = page::expected(&case, &run, &opts);
        assert_eq!(page::missing(&html, &want), Vec::<String>::new(), "{}", case.id);
        // Keeping the timeline changes nothing the text shows.
        let off = plain(&case, &RunOpts::default());
        let text = |r: &ScenarioRun| hotplug_fi::snapshot::scenario(&case, r, &opts);
        assert_eq!(text(&off), text(&run), "{}: the run with RunOpts::timeline is the same run", case.id);
    }
}
