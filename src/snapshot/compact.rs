//! Making a snapshot reviewable without losing a line of it: a block of
//! trace lines repeated back to back prints once with its count, a trace
//! that starts or ends as the plain run's says so instead of repeating
//! those lines, and a sweep outcome's scenarios print grouped by what they
//! share. Each form expands back to the full text ([`expand_repeats`],
//! [`expand_sites`]), and tests check that it does for every shipped case.
//! The full trace of any scenario stays one `hotplug-fi run` away.
//!
//! Left out: nested repeats (a repeat inside a repeated block stays
//! expanded), and repeats that differ only in a CPU number.

use std::collections::BTreeMap;

/// The longest block a repeat may have, in lines.
const BLOCK_MAX: usize = 256;
/// A repeat is folded only if it saves at least this many lines.
const SAVES_MIN: usize = 8;

/// Lines of `text`, with every run of a block repeated back to back folded
/// into `[N times:` … `]`: the block once between the markers.
pub fn fold_repeats(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let ids = line_ids(&lines);
    let mut out = String::new();
    let mut i = 0;
    while i < lines.len() {
        match best_repeat(&ids, i) {
            Some((p, k)) => {
                out.push_str(&format!("[{k} times:\n"));
                for l in &lines[i..i + p] {
                    out.push_str(l);
                    out.push('\n');
                }
                out.push_str("]\n");
                i += p * k;
            }
            None => {
                out.push_str(lines[i]);
                out.push('\n');
                i += 1;
            }
        }
    }
    out
}

/// Each distinct line as a number, so blocks compare cheaply.
fn line_ids(lines: &[&str]) -> Vec<usize> {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    lines
        .iter()
        .map(|l| {
            let n = seen.len();
            *seen.entry(l).or_insert(n)
        })
        .collect()
}

/// The block length and count of the repeat at `i` that saves the most
/// lines (the shortest block on a tie), if one saves [`SAVES_MIN`].
fn best_repeat(ids: &[usize], i: usize) -> Option<(usize, usize)> {
    let mut best: Option<(usize, usize)> = None;
    for p in 1..=BLOCK_MAX.min((ids.len() - i) / 2) {
        let same = (i..ids.len() - p).take_while(|&x| ids[x] == ids[x + p]).count();
        let k = 1 + same / p;
        let saves = (k - 1) * p;
        if k >= 2 && saves >= SAVES_MIN + 2 && best.is_none_or(|(bp, bk)| saves > (bk - 1) * bp) {
            best = Some((p, k));
        }
    }
    best
}

/// The inverse of [`fold_repeats`].
pub fn expand_repeats(text: &str) -> String {
    let mut out = String::new();
    let mut lines = text.lines();
    while let Some(l) = lines.next() {
        let Some(k) = l.strip_prefix('[').and_then(|r| r.strip_suffix(" times:")).and_then(|n| n.parse::<usize>().ok())
        else {
            out.push_str(l);
            out.push('\n');
            continue;
        };
        let block: Vec<&str> = lines.by_ref().take_while(|l| *l != "]").collect();
        for _ in 0..k {
            for b in &block {
                out.push_str(b);
                out.push('\n');
            }
        }
    }
    out
}

/// `text` with the lines it shares with `plain` at its start and its end
/// left out and counted: "(the plain run's first 12 lines)".
pub fn against_plain(text: &str, plain: &str) -> String {
    let a: Vec<&str> = text.lines().collect();
    let b: Vec<&str> = plain.lines().collect();
    let head = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let tail = a[head..].iter().rev().zip(b[head..].iter().rev()).take_while(|(x, y)| x == y).count();
    let mut out = String::new();
    if head > 0 {
        out.push_str(&format!("(the plain run's first {head} lines)\n"));
    }
    for l in &a[head..a.len() - tail] {
        out.push_str(l);
        out.push('\n');
    }
    if tail > 0 {
        out.push_str(&format!("(the plain run's last {tail} lines)\n"));
    }
    out
}

/// The inverse of [`against_plain`].
pub fn expand_against(text: &str, plain: &str) -> String {
    let b: Vec<&str> = plain.lines().collect();
    let mut out = String::new();
    for l in text.lines() {
        let first = l.strip_prefix("(the plain run's first ").and_then(|r| r.strip_suffix(" lines)"));
        let last = l.strip_prefix("(the plain run's last ").and_then(|r| r.strip_suffix(" lines)"));
        let range = match (first.and_then(|n| n.parse::<usize>().ok()), last.and_then(|n| n.parse::<usize>().ok())) {
            (Some(n), _) => &b[..n],
            (_, Some(n)) => &b[b.len() - n..],
            _ => {
                out.push_str(l);
                out.push('\n');
                continue;
            }
        };
        for x in range {
            out.push_str(x);
            out.push('\n');
        }
    }
    out
}

/// A sweep outcome's scenarios, each a list of sites, grouped by all their
/// sites but one, the varying one, written `<stem>/*`: a header line per
/// group, `  cpuhp/cpu1/down/235 + cpuhp/cpu1/up/* (N):`, then the varying
/// site's leaves, `    209, 208, ...`, wrapped at 100 columns. The varying
/// position is the one that makes the fewest groups. Every scenario is in
/// exactly one group, in the order they first appear. (The snapshot names
/// each state once, in its legend.)
pub fn fold_sites(scenarios: &[Vec<String>]) -> String {
    let width = scenarios.iter().map(Vec::len).max().unwrap_or(0);
    let Some(groups) = (0..width).map(|v| group_sites(scenarios, v)).min_by_key(Vec::len) else {
        return String::new();
    };
    let mut out = String::new();
    for (key, items) in groups {
        out.push_str(&format!("  {key} ({}):\n", items.len()));
        let mut line = String::from("   ");
        for (n, item) in items.iter().enumerate() {
            let sep = if n + 1 < items.len() { "," } else { "" };
            if line.len() > 3 && line.len() + item.len() + 2 > 100 {
                out.push_str(&line);
                out.push('\n');
                line = String::from("   ");
            }
            line.push(' ');
            line.push_str(item);
            line.push_str(sep);
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// The groups of [`fold_sites`] with the site at `vary` (or the last, in a
/// shorter scenario) as the varying one.
fn group_sites(scenarios: &[Vec<String>], vary: usize) -> Vec<(String, Vec<String>)> {
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for sc in scenarios.iter().filter(|sc| !sc.is_empty()) {
        let v = vary.min(sc.len() - 1);
        let site = &sc[v];
        let (stem, leaf) = site.rsplit_once('/').unwrap_or(("", site.as_str()));
        let parts: Vec<String> =
            sc.iter().enumerate().map(|(i, s)| if i == v { format!("{stem}/*") } else { s.clone() }).collect();
        let key = parts.join(" + ");
        let item = leaf.to_string();
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, items)) => items.push(item),
            None => groups.push((key, vec![item])),
        }
    }
    groups
}

/// The scenario labels (sites joined by ` + `) a [`fold_sites`] text
/// lists, in its order.
pub fn expand_sites(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut parts: Vec<String> = Vec::new();
    for line in text.lines() {
        if let Some(items) = line.strip_prefix("    ") {
            for leaf in items.split(',').map(str::trim).filter(|l| !l.is_empty()) {
                let sites: Vec<String> = parts
                    .iter()
                    .map(|p| match p.strip_suffix('*') {
                        Some(stem) => format!("{stem}{leaf}"),
                        None => p.clone(),
                    })
                    .collect();
                out.push(sites.join(" + "));
            }
        } else if let Some((key, _)) = line.trim_start().rsplit_once(" (") {
            parts = key.split(" + ").map(str::to_string).collect();
        }
    }
    out
}
