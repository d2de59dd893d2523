//! A [`Timeline`] drawn as inline SVG: the lane heads (a sticky strip of
//! CPU and task names) and the body, with time flowing down one row per
//! step. Every drawn thing carries a class and `data-` attributes naming
//! what it stands for (`data-cpu`, `data-state`, `data-dir`), so a test can
//! read the page without a browser. Long labels are cut to the lane's
//! width; the whole text is in each element's `<title>` (the tooltip).

use std::fmt::Write;

use super::esc;
use super::timeline::{Band, Callback, Ctx, Ipi, Mark, Span, Strip, Timeline};

/// Pixels: a row, the left gutter, a task lane, the gap between CPUs.
const ROW: usize = 16;
const GUTTER: usize = 190;
const LANE: usize = 180;
const GAP: usize = 12;
const HEAD: usize = 44;
/// Characters of a label that fit beside a span in a lane (9px monospace).
const LABEL_CHARS: usize = 29;

/// Where each lane and CPU group sits across the page.
pub struct Layout {
    /// Per task lane: its left edge.
    lane_x: Vec<usize>,
    /// Per CPU: its left edge and width (a CPU with no task gets one
    /// empty lane).
    cpu_x: Vec<(usize, usize)>,
    pub width: usize,
    pub height: usize,
}

impl Layout {
    pub fn new(t: &Timeline) -> Layout {
        let mut lane_x = vec![0; t.lanes.len()];
        let mut cpu_x = Vec::with_capacity(t.cpus);
        let mut x = GUTTER;
        for cpu in 0..t.cpus {
            let start = x;
            for i in (0..t.lanes.len()).filter(|&i| t.lanes[i].cpu as usize == cpu) {
                lane_x[i] = x;
                x += LANE;
            }
            if x == start {
                x += LANE / 2;
            }
            cpu_x.push((start, x - start));
            x += GAP;
        }
        Layout { lane_x, cpu_x, width: x, height: t.rows.max(1) * ROW + ROW }
    }

    fn y(&self, row: usize) -> usize {
        row * ROW + 4
    }
}

/// The sticky strip of lane names above the body.
pub fn heads(t: &Timeline, l: &Layout) -> String {
    let mut out = String::new();
    let _ =
        write!(out, r#"<svg class="heads" width="{}" height="{HEAD}" xmlns="http://www.w3.org/2000/svg">"#, l.width);
    let _ = write!(out, r#"<text x="8" y="16" class="gutter-head">step</text>"#);
    for (cpu, &(x, w)) in l.cpu_x.iter().enumerate() {
        let _ = write!(
            out,
            r#"<g class="cpu-head" data-cpu="{cpu}"><rect x="{x}" y="0" width="{w}" height="20"/><text x="{}" y="15">CPU{cpu}</text></g>"#,
            x + 6
        );
    }
    for (i, lane) in t.lanes.iter().enumerate() {
        let x = l.lane_x[i];
        let _ = write!(
            out,
            r#"<g class="task-head" data-cpu="{}" data-task="{}"><rect x="{x}" y="22" width="{LANE}" height="20"/><text x="{}" y="36">{}</text></g>"#,
            lane.cpu,
            lane.task,
            x + 6,
            esc(&lane.name)
        );
    }
    out.push_str("</svg>");
    out
}

/// The body: backgrounds, bands, grid, then what happened, arrows on top.
pub fn body(t: &Timeline, l: &Layout) -> String {
    let mut out = String::with_capacity(256 * (t.rows + 1));
    let _ = write!(
        out,
        r#"<svg class="timeline" width="{}" height="{}" xmlns="http://www.w3.org/2000/svg">"#,
        l.width, l.height
    );
    out.push_str(DEFS);
    lanes(&mut out, t, l);
    t.bands.iter().for_each(|b| band(&mut out, b, l));
    grid(&mut out, t, l);
    t.ops.iter().for_each(|m| op(&mut out, m, l));
    t.strips.iter().for_each(|s| strip(&mut out, s, l));
    t.holds.iter().for_each(|s| span(&mut out, s, l, "lock-hold"));
    t.waits.iter().for_each(|s| span(&mut out, s, l, "lock-wait"));
    t.callbacks.iter().for_each(|c| callback(&mut out, c, l));
    t.marks.iter().filter(|m| m.class != "splat").for_each(|m| mark(&mut out, m, l));
    t.ipis.iter().for_each(|i| ipi(&mut out, i, t, l));
    t.marks.iter().filter(|m| m.class == "splat").for_each(|m| splat(&mut out, m, l));
    anchors(&mut out, t, l);
    out.push_str("</svg>");
    out
}

const DEFS: &str = r##"<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0L10,5L0,10z" fill="#6a1b9a"/></marker><marker id="arrow-late" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M0,0L10,5L0,10z" fill="#c62828"/></marker><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="3" height="6" fill="#c62828" fill-opacity="0.55"/></pattern><pattern id="wait" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(-45)"><rect width="2" height="6" fill="#ef6c00"/></pattern></defs>"##;

fn lanes(out: &mut String, t: &Timeline, l: &Layout) {
    for (cpu, &(x, w)) in l.cpu_x.iter().enumerate() {
        let _ = write!(
            out,
            r#"<g class="cpu-lane" data-cpu="{cpu}"><rect x="{x}" y="0" width="{w}" height="{}"/>"#,
            l.height
        );
        for (i, lane) in t.lanes.iter().enumerate().filter(|(_, ln)| ln.cpu as usize == cpu) {
            let _ = write!(
                out,
                r#"<g class="task-lane" data-cpu="{cpu}" data-task="{}" data-name="{}"><line x1="{x}" y1="0" x2="{x}" y2="{}"/></g>"#,
                lane.task,
                esc(&lane.name),
                l.height,
                x = l.lane_x[i]
            );
        }
        out.push_str("</g>");
    }
}

fn band(out: &mut String, b: &Band, l: &Layout) {
    let (x, w) = l.cpu_x[b.cpu as usize];
    let (y, h) = (l.y(b.from), (b.to + 1 - b.from) * ROW);
    let name = b.stage.name();
    let short = name.trim_start_matches("MULTI_STOP_");
    let _ = write!(
        out,
        r#"<g class="stop stage-{}" data-cpu="{}" data-stage="{name}"><title>CPU{} in {name}</title><rect x="{x}" y="{y}" width="{w}" height="{h}"/><text x="{}" y="{}">{short}</text></g>"#,
        short.to_ascii_lowercase().replace('+', "-past"),
        b.cpu,
        b.cpu,
        x + w - 4,
        y + 11
    );
}

/// A line and a step number every ten rows.
fn grid(out: &mut String, t: &Timeline, l: &Layout) {
    for row in (0..t.rows).step_by(10) {
        let y = l.y(row);
        let _ = write!(
            out,
            r#"<g class="grid"><line x1="{GUTTER}" y1="{y}" x2="{}" y2="{y}"/><text x="{}" y="{}">{row}</text></g>"#,
            l.width,
            GUTTER - 6,
            y + 11
        );
    }
}

fn op(out: &mut String, m: &Mark, l: &Layout) {
    let y = l.y(m.row);
    let _ = write!(
        out,
        r#"<g class="{}"><title>{}</title><line x1="8" y1="{y}" x2="{}" y2="{y}"/><text x="8" y="{}">{}</text></g>"#,
        m.class,
        esc(&m.label),
        l.width,
        y + 11,
        esc(&cut(&m.label, 30))
    );
}

fn strip(out: &mut String, s: &Strip, l: &Layout) {
    let (class, title, dx) = match s.what {
        Ctx::IrqsOff => ("ctx irqs-off", "IRQs off", 1),
        Ctx::PreemptOff => ("ctx preempt-off", "preemption disabled", 1),
    };
    let _ = write!(
        out,
        r#"<rect class="{class}" x="{}" y="{}" width="4" height="{}"><title>{title}</title></rect>"#,
        l.lane_x[s.lane] + dx,
        l.y(s.from),
        (s.to + 1 - s.from) * ROW
    );
}

fn span(out: &mut String, s: &Span, l: &Layout, class: &str) {
    let (x, w) = match class {
        "lock-hold" => (l.lane_x[s.lane] + LANE - 8, 3),
        _ => (l.lane_x[s.lane] + LANE - 16, 7),
    };
    let _ = write!(
        out,
        r#"<rect class="{class}" x="{x}" y="{}" width="{w}" height="{}"><title>{}</title></rect>"#,
        l.y(s.from),
        (s.to + 1 - s.from) * ROW,
        esc(&s.label)
    );
}

fn callback(out: &mut String, c: &Callback, l: &Layout) {
    let ev = &c.ev;
    let dir = if ev.bringup { "up" } else { "down" };
    let mut class = format!("cb {dir}");
    if ev.rollback {
        class.push_str(" rollback");
    }
    if c.failed {
        class.push_str(" failed");
    }
    let inst = ev.inst.map(|i| format!(r#" data-inst="{i}""#)).unwrap_or_default();
    let cb = if ev.bringup { "startup" } else { "teardown" };
    let rb = if ev.rollback { " [rollback]" } else { "" };
    let title = format!("CPU{} [{}]->{cb}() {} {}{rb}", ev.cpu, c.step, c.func, c.ret);
    let x = l.lane_x[c.lane] + 8 + 5 * c.depth;
    let (y, h) = (l.y(c.from) + 1, (c.to + 1 - c.from) * ROW - 2);
    let arrow = if ev.bringup { "\u{2191}" } else { "\u{2193}" };
    let mark = if ev.rollback { "\u{21ba} " } else { "" };
    let label = cut(&format!("{mark}{arrow}{} {} {}", c.step, c.func, c.ret), LABEL_CHARS - c.depth);
    let _ = write!(
        out,
        r#"<g class="{class}" data-cpu="{}" data-state="{}" data-dir="{dir}"{inst} data-rollback="{}"><title>{}</title><rect x="{x}" y="{y}" width="8" height="{h}"/><text x="{}" y="{}">{}</text></g>"#,
        ev.cpu,
        ev.state,
        u8::from(ev.rollback),
        esc(&title),
        x + 11,
        l.y(c.from) + 11,
        esc(&label)
    );
}

fn mark(out: &mut String, m: &Mark, l: &Layout) {
    let x = l.lane_x[m.lane] + 12;
    let y = l.y(m.row) + 8;
    let _ = write!(
        out,
        r#"<g class="mark {}"><title>{}</title><circle cx="{x}" cy="{y}" r="3"/><text x="{}" y="{}">{}</text></g>"#,
        m.class,
        esc(&m.label),
        x + 8,
        y + 3,
        esc(&cut(&m.label, LABEL_CHARS))
    );
}

fn splat(out: &mut String, m: &Mark, l: &Layout) {
    let x = l.lane_x[m.lane] + 12;
    let y = l.y(m.row) + 8;
    let title = m.label.split(" [").next().unwrap_or(&m.label);
    let _ = write!(
        out,
        r#"<g class="splat"><title>{}</title><path d="M{x},{} l6,6 l-6,6 l-6,-6z"/><text x="{}" y="{}">{}</text></g>"#,
        esc(&m.label),
        y - 6,
        x + 9,
        y + 4,
        esc(&cut(title, 70))
    );
}

fn ipi(out: &mut String, i: &Ipi, t: &Timeline, l: &Layout) {
    let x1 = l.lane_x[i.from_lane] + LANE / 2;
    let y1 = l.y(i.from) + 8;
    let (x2, y2) = match i.to {
        Some((lane, row)) => (l.lane_x[lane] + 10, l.y(row) + 8),
        None => (l.cpu_x[i.target as usize].0 + 10, l.y(t.rows.saturating_sub(1)) + 8),
    };
    let mut class = String::from("ipi");
    if i.late.is_some() {
        class.push_str(" late");
    }
    if i.coalesced {
        class.push_str(" coalesced");
    }
    let marker = if i.late.is_some() { "arrow-late" } else { "arrow" };
    let late = i.late.map(|w| format!(": late, {w}")).unwrap_or_default();
    let how = if i.coalesced { " (queued behind another CSD, no IPI of its own)" } else { "" };
    let title = format!("{}() to CPU{}{how}{late}", i.func, i.target);
    let _ = write!(
        out,
        r#"<g class="{class}" data-to="{}"><title>{}</title><path d="M{x1},{y1} C{},{y1} {},{y2} {x2},{y2}" marker-end="url(#{marker})"/>"#,
        i.target,
        esc(&title),
        x1 + 30,
        x2.saturating_sub(30)
    );
    if let Some(w) = i.late {
        let _ = write!(out, r#"<text x="{}" y="{}">late: {}</text>"#, x2 + 4, y2 + 14, esc(w));
    }
    out.push_str("</g>");
}

/// Fragment targets a link (or a screenshot) can open the page at: the
/// first rollback, late IPI and splat, a few rows above each.
fn anchors(out: &mut String, t: &Timeline, l: &Layout) {
    let rollback = t.callbacks.iter().find(|c| c.ev.rollback).map(|c| c.from);
    let late = t.ipis.iter().find(|i| i.late.is_some()).map(|i| i.from);
    let splat = t.marks.iter().find(|m| m.class == "splat").map(|m| m.row);
    for (id, row) in [("first-rollback", rollback), ("first-late-ipi", late), ("first-splat", splat)] {
        if let Some(row) = row {
            let y = l.y(row.saturating_sub(8));
            let _ = write!(out, r#"<rect id="{id}" x="0" y="{y}" width="1" height="1" fill="none"/>"#);
        }
    }
}

/// `text` cut to `n` characters, with an ellipsis when cut.
fn cut(text: &str, n: usize) -> String {
    if text.chars().count() <= n {
        return text.to_string();
    }
    let mut s: String = text.chars().take(n.saturating_sub(1)).collect();
    s.push('\u{2026}');
    s
}
