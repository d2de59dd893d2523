//! The fuzz target's input generator: a seeded, structure-aware mutator
//! over the corpus (`tests/fuzz/corpus/`, the case files of `cases/`).
//!
//! Input `i` of seed `s` is a pure function of `(s, i)` and the corpus: its
//! own PCG64 stream picks a corpus file and applies one to eight mutations,
//! each chosen among byte flips, inserts and deletes, line splices from
//! another corpus file, numbers replaced by boundary values (every loader
//! limit, one below and one above it, and the edges of the integer types),
//! operation names swapped for other rows of `OPERATIONS`, operation strings
//! replaced by an operation's example, non-ASCII characters and TOML escapes
//! inside strings, lists grown to their limit and past it, tables
//! duplicated or spliced in, and keys the format knows inserted. Most
//! mutations keep the TOML shape, so a large share of inputs loads and runs.
//! It leaves out coverage feedback: it is blind, and deep only as far as the
//! corpus and these mutations reach.

use hotplug_fi::case::OPERATIONS;
use hotplug_fi::case::limits::{self, Limit};
use rand_core::{Rng, SeedableRng};
use rand_pcg::Pcg64;

/// The largest input, in bytes: a larger one is cut at a character.
pub const INPUT_BYTES_MAX: usize = 1024 * 1024;

/// A corpus file: a name (for the record) and its text.
pub struct Seed {
    pub name: String,
    pub text: String,
}

/// Input `index` of `seed`: which corpus file it started from, and its text.
pub fn input(corpus: &[Seed], seed: u64, index: u64) -> (usize, String) {
    let mut r = Rand(Pcg64::seed_from_u64(mix(seed ^ mix(index.wrapping_add(0x5851_f42d_4c95_7f2d)))));
    let base = r.below(corpus.len());
    let mut text = corpus[base].text.clone();
    // One mutation half the time, two a quarter of it, up to eight; two
    // inputs in five take only mutations that keep the case loading, most
    // of the time.
    let n = 1 + (r.next().trailing_ones() as usize).min(7);
    let gentle = r.below(5) < 2;
    for _ in 0..n {
        if gentle {
            keep_shape(&mut r, corpus, &mut text);
        } else {
            mutate(&mut r, corpus, &mut text);
        }
        if text.len() > INPUT_BYTES_MAX {
            let mut at = INPUT_BYTES_MAX;
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            text.truncate(at);
        }
    }
    (base, text)
}

/// splitmix64's finalizer: nearby seeds and indices give unrelated streams.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

struct Rand(Pcg64);

impl Rand {
    fn next(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// 0 to `n` less one (0 for an empty range).
    fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { (self.next() % n as u64) as usize }
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn chance(&mut self, one_in: u64) -> bool {
        self.next().is_multiple_of(one_in)
    }
}

/// Pieces of TOML syntax and awkward characters, inserted anywhere.
const TOKENS: &[&str] = &[
    "\"",
    "'",
    "\\",
    "[",
    "]",
    "[[",
    "]]",
    "=",
    "\n",
    "#",
    ",",
    "{",
    "}",
    " ",
    "0",
    "-",
    ".",
    "\"\"\"",
    "'''",
    "\t",
    "\r\n",
    "\r",
    "é",
    "€",
    "𝄞",
    "\u{0}",
    "\u{7f}",
    "\u{200b}",
    "\u{202e}",
    "\u{fffd}",
    "e\u{301}",
    "\u{feff}",
    "inf",
    "nan",
    "true",
    "1979-05-27",
    "0x10",
    "1_000",
    "+",
    "=>",
    ">",
    " => -EAGAIN",
    " => 0",
    "cpu",
    "memory",
    "/",
];

/// Escape sequences (valid, TOML 1.1 and invalid) and characters for the
/// inside of a string.
const IN_STRING: &[&str] = &[
    "\\t",
    "\\n",
    "\\r",
    "\\\\",
    "\\\"",
    "\\u00e9",
    "\\U0001F600",
    "\\x41",
    "\\xe9",
    "\\e",
    "\\q",
    "\\u",
    "\\u12",
    "\\uD800",
    "\\U00110000",
    "\\u0000",
    "\\ud7ff",
    "\\\n  ",
    "\\ ",
    "é",
    "€",
    "𝄞",
    "\u{200b}",
    "\u{202e}",
    "e\u{301}",
    "\u{fffd}",
    "\t",
    "  ",
    "'",
    "`",
    "$(x)",
    ";",
    "|",
    ">",
    "=>",
    "%",
    "*",
    "(",
    ")",
    "->",
    "\\U0000001F",
];

/// The keys the format knows, each with a value at or past an edge.
const KEYS: &[&str] = &[
    "steps_max = 1",
    "steps_max = 10000000",
    "trace_events_max = 1",
    "trace_events_max = 7",
    "trace_events_max = 1000000",
    "cpus = 1",
    "cpus = 64",
    "cpus = 65",
    "threads_per_core = 2",
    "threads_per_core = 0",
    "hotplug_cpu = false",
    "cmdline = \"nosmt\"",
    "cmdline = \"nosmt=force\"",
    "cmdline = \"nosmt=forc\"",
    "slab = true",
    "profile = \"minimal\"",
    "profile = \"debian-6.1\"",
    "sweep = \".*\"",
    "sweep = \"pairs\"",
    "sweep = \"rollback\"",
    "sweep_filter = \"cpuhp/cpu1/.*\"",
    "sweep = \"(\"",
    "loops = 1000",
    "loops = 0",
    "fires = 1000",
    "cpu = 1",
    "cpu = 63",
    "name = \"t\"",
    "strategy = \"exhaustive\"",
    "strategy = \"random\"",
    "strategy = \"pct\"",
    "bound = 8",
    "runs = 3",
    "seed = 18446744073709551615",
    "depth = 64",
    "schedule = \"v2:\"",
    "schedule = \"v2:1=1@000000\"",
    "schedule = \"v2:99999999=99999999@ffffff\"",
    "schedule_regressions = [\"smp-no-flush-on-dying\"]",
    "boot_blocks = 4096",
    "boot_blocks = 1",
    "holes = [0, 4095]",
    "auto_online_blocks = \"online\"",
    "migrate_bound = 1",
    "migrate_bound = 1000",
    "index = 6",
    "movable = 16",
    "pinned = 16",
    "unmovable = 1",
    "free = 0",
    "multi = true",
    "instances = [\"a\", \"b\", \"a\"]",
    "startup = \"alloc, sleep, lock m, cpus_read_lock\"",
    "teardown = \"free, free\"",
    "startup = \"fail -ENOMEM on cpu 1 on call 2\"",
    "at = \"CPUHP_AP_ONLINE_DYN\"",
    "at = \"CPUHP_BP_PREPARE_DYN\"",
    "at = 237",
    "at = -1",
    "site = \"smp/cpu1/ipi\"",
    "site = \"cpuhp/cpu1/down/153\"",
    "site = \"memory/memory6/offline/migrate\"",
    "action = \"return(5)\"",
    "action = \"1*return(-ENOMEM)->off\"",
    "action = \"2*return->return(-EBUSY)\"",
    "action = \"50%return\"",
    "end = \"deadlock\"",
    "end = \"livelock\"",
    "splats = [\"WARNING\"]",
    "lock_cycles = [\"a -> b\"]",
];

/// Table headers, each with a body that loads in many cases.
const TABLES: &[&str] = &[
    "[[thread]]\nname = \"fz\"\nops = [\"cpu_down 1\", \"cpu_up 1\"]\n",
    "[[thread]]\nname = \"fz2\"\nops = [\"echo -1 > cpu1/hotplug/fail\"]\nloops = 1000\n",
    "[[irq]]\nname = \"fzirq\"\ncpu = 1\nhandler = [\"smp_call_function_single_async 0 f\"]\nfires = 3\n",
    "[[fault]]\nsite = \"cpuhp/cpu1/down/197\"\n",
    "[[fault]]\nsite = \"smp/cpu0/ipi\"\naction = \"return(3)\"\n",
    "[explore]\nstrategy = \"random\"\nruns = 2\nseed = 7\n",
    "[explore]\nstrategy = \"pct\"\nruns = 2\ndepth = 3\n",
    "[memory]\nboot_blocks = 4096\n",
    "[[memory.block]]\nindex = 6\npinned = 1\n",
    "[[module]]\nname = \"demo\"\n[[module.state]]\nname = \"demo:online\"\nat = \"CPUHP_AP_ONLINE_DYN\"\nstartup = \"alloc\"\nteardown = \"free\"\n",
    "[expect]\nend = \"deadlock\"\n",
    "[machine]\ncpus = 4\n",
];

/// Each limit with the keys it bounds.
fn limit_of(key: &str) -> Option<Limit> {
    Some(match key {
        "cpus" | "cpu" => limits::CPUS_MAX,
        "steps_max" => limits::STEPS_MAX,
        "loops" => limits::LOOPS_MAX,
        "fires" => limits::FIRES_MAX,
        "bound" => limits::BOUND_MAX,
        "runs" => limits::RUNS_MAX,
        "depth" => limits::DEPTH_MAX,
        "boot_blocks" | "index" | "holes" => limits::BLOCKS_MAX,
        "free" | "movable" | "pinned" | "unmovable" => limits::PAGES_MAX,
        "migrate_bound" => limits::MIGRATE_BOUND_MAX,
        "trace_events_max" => limits::TRACE_EVENTS_MAX,
        _ => return None,
    })
}

/// A number at an edge: of a limit (the key's own, when it has one), or of
/// an integer type.
fn boundary(r: &mut Rand, key: Option<Limit>) -> String {
    const EDGES: &[&str] = &[
        "0",
        "-1",
        "1",
        "2",
        "3",
        "7",
        "255",
        "256",
        "65535",
        "65536",
        "2147483647",
        "2147483648",
        "4294967295",
        "4294967296",
        "9223372036854775807",
        "-9223372036854775808",
        "9223372036854775808",
        "18446744073709551615",
        "18446744073709551616",
        "99999999999999999999999999",
        "1e3",
        "0.5",
    ];
    let limit = match key {
        Some(l) if r.chance(2) => Some(l),
        _ if r.chance(2) => Some(*r.pick(limits::ALL)),
        _ => None,
    };
    match limit {
        Some(l) => match r.below(3) {
            0 => l.max.saturating_sub(1).to_string(),
            1 => l.max.to_string(),
            _ => (l.max + 1).to_string(),
        },
        None => r.pick(EDGES).to_string(),
    }
}

fn mutate(r: &mut Rand, corpus: &[Seed], text: &mut String) {
    match r.below(16) {
        0 => flip_byte(r, text),
        1 => {
            let t = *r.pick(TOKENS);
            insert_at(text, char_at(r, text), t);
        }
        2 => delete_range(r, text),
        3 => duplicate_range(r, text),
        4 | 5 => lines(r, corpus, text),
        6 | 7 => number(r, text),
        8 | 9 => operation(r, text),
        10 => in_string(r, text),
        11 => grow_list(r, text),
        12 | 13 => table(r, corpus, text),
        14 => key(r, text),
        _ => {
            // Two corpus files' halves, cut at lines.
            let other = &r.pick(corpus).text;
            let a: Vec<&str> = text.split_inclusive('\n').collect();
            let b: Vec<&str> = other.split_inclusive('\n').collect();
            let (i, j) = (r.below(a.len() + 1), r.below(b.len() + 1));
            *text = a[..i].concat() + &b[j..].concat();
        }
    }
}

/// A random character boundary of `text` (its end included).
fn char_at(r: &mut Rand, text: &str) -> usize {
    let mut at = r.below(text.len() + 1);
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn insert_at(text: &mut String, at: usize, what: &str) {
    text.insert_str(at, what);
}

fn flip_byte(r: &mut Rand, text: &mut String) {
    if text.is_empty() {
        return;
    }
    let mut bytes = std::mem::take(text).into_bytes();
    let i = r.below(bytes.len());
    bytes[i] ^= 1 << r.below(8);
    *text = String::from_utf8_lossy(&bytes).into_owned();
}

fn delete_range(r: &mut Rand, text: &mut String) {
    let start = char_at(r, text);
    let mut end = (start + 1 + r.below(24)).min(text.len());
    while !text.is_char_boundary(end) {
        end += 1;
    }
    text.replace_range(start..end, "");
}

fn duplicate_range(r: &mut Rand, text: &mut String) {
    let start = char_at(r, text);
    let mut end = (start + 1 + r.below(40)).min(text.len());
    while !text.is_char_boundary(end) {
        end += 1;
    }
    let piece = text[start..end].to_string();
    text.insert_str(end, &piece);
}

/// Deletes, duplicates or swaps lines, or splices in a line of another
/// corpus file.
fn lines(r: &mut Rand, corpus: &[Seed], text: &mut String) {
    let mut ls: Vec<String> = text.split_inclusive('\n').map(String::from).collect();
    if ls.is_empty() {
        ls.push(String::new());
    }
    let i = r.below(ls.len());
    match r.below(5) {
        0 => {
            ls.remove(i);
        }
        1 => {
            let l = ls[i].clone();
            ls.insert(i, l);
        }
        2 => {
            let j = r.below(ls.len());
            ls.swap(i, j);
        }
        3 => {
            let other: Vec<&str> = r.pick(corpus).text.split_inclusive('\n').collect();
            let l = r.pick(&other).to_string();
            ls.insert(i, with_newline(l));
        }
        _ => {
            let other: Vec<&str> = r.pick(corpus).text.split_inclusive('\n').collect();
            ls[i] = with_newline(r.pick(&other).to_string());
        }
    }
    *text = ls.concat();
}

fn with_newline(mut l: String) -> String {
    if !l.ends_with('\n') {
        l.push('\n');
    }
    l
}

/// The key of the line holding byte `at` (`loops` of `loops = 3`), if any.
fn key_at(text: &str, at: usize) -> Option<&str> {
    let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let line = &text[start..];
    let (k, _) = line.split_once('=')?;
    Some(k.trim()).filter(|k| k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
}

/// Replaces a run of digits (with its sign) with a boundary value.
fn number(r: &mut Rand, text: &mut String) {
    let b = text.as_bytes();
    let mut runs = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit() {
            let start = if i > 0 && (b[i - 1] == b'-' || b[i - 1] == b'+') { i - 1 } else { i };
            let mut end = i;
            while end < b.len() && b[end].is_ascii_digit() {
                end += 1;
            }
            runs.push((start, end));
            i = end;
        } else {
            i += 1;
        }
    }
    if runs.is_empty() {
        return;
    }
    let (start, end) = *r.pick(&runs);
    let limit = key_at(text, start).and_then(limit_of);
    let v = boundary(r, limit);
    text.replace_range(start..end, &v);
}

/// Swaps an operation name for another one, or a whole operation string for
/// another operation's example.
fn operation(r: &mut Rand, text: &mut String) {
    if r.chance(2) {
        let mut found = Vec::new();
        for op in OPERATIONS {
            for (at, _) in text.match_indices(op.name) {
                let before = text[..at].chars().next_back();
                let after = text[at + op.name.len()..].chars().next();
                let word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
                if !word(before) && !word(after) {
                    found.push((at, op.name.len()));
                }
            }
        }
        if let Some(&(at, len)) = (!found.is_empty()).then(|| r.pick(&found)) {
            let other = r.pick(OPERATIONS).name;
            text.replace_range(at..at + len, other);
            return;
        }
    }
    // A quoted string on an `ops` line or inside a multi-line list.
    let strings = quoted(text);
    let in_list: Vec<(usize, usize)> = strings
        .iter()
        .copied()
        .filter(|&(s, _)| {
            let line_start = text[..s].rfind('\n').map_or(0, |i| i + 1);
            let line = &text[line_start..];
            line.trim_start().starts_with('"') || line.starts_with("ops") || line.starts_with("handler")
        })
        .collect();
    if in_list.is_empty() {
        return;
    }
    let (s, e) = *r.pick(&in_list);
    let op = r.pick(OPERATIONS);
    let mut new = op.example.to_string();
    if r.chance(3) {
        new.push_str(r.pick::<&str>(&[" => 0", " => -EINVAL", " => -EBUSY", " => -ENOENT", " => 1"]));
    }
    text.replace_range(s + 1..e - 1, &new);
}

/// The byte ranges of `"..."` strings on single lines, quotes included.
fn quoted(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = None;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        match (c, start) {
            ('\n', _) => start = None,
            ('\\', Some(_)) if !escaped => {
                escaped = true;
                continue;
            }
            ('"', None) => start = Some(i),
            ('"', Some(s)) if !escaped => {
                out.push((s, i + 1));
                start = None;
            }
            _ => {}
        }
        escaped = false;
    }
    out
}

/// Puts an escape sequence or an awkward character inside a string, or
/// turns a string into a multi-line or literal one.
fn in_string(r: &mut Rand, text: &mut String) {
    let strings = quoted(text);
    if strings.is_empty() {
        return;
    }
    let (s, e) = *r.pick(&strings);
    match r.below(6) {
        0 => {
            let body = text[s + 1..e - 1].to_string();
            text.replace_range(s..e, &format!("\"\"\"\n{body}\"\"\""));
        }
        1 => {
            let body = text[s + 1..e - 1].to_string();
            text.replace_range(s..e, &format!("'{body}'"));
        }
        _ => {
            let mut at = s + 1 + r.below(e - s - 1);
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            let piece = *r.pick(IN_STRING);
            text.insert_str(at, piece);
        }
    }
}

/// Repeats a quoted string of a list up to its limit and past it.
fn grow_list(r: &mut Rand, text: &mut String) {
    let strings = quoted(text);
    if strings.is_empty() {
        return;
    }
    let (s, e) = *r.pick(&strings);
    let limit = limits::OPS_MAX.max as usize;
    let n = *r.pick(&[2, 3, 10, 100, limit / 2, limit - 1, limit, limit + 1]);
    let item = text[s..e].to_string();
    let grown = vec![item; n].join(", ");
    text.replace_range(s..e, &grown);
}

/// The byte ranges of the tables: from a `[` header line to the next one.
fn tables(text: &str) -> Vec<(usize, usize)> {
    let mut heads: Vec<usize> = Vec::new();
    let mut at = 0;
    for l in text.split_inclusive('\n') {
        if l.starts_with('[') {
            heads.push(at);
        }
        at += l.len();
    }
    let mut out = Vec::new();
    for (k, &h) in heads.iter().enumerate() {
        out.push((h, heads.get(k + 1).copied().unwrap_or(text.len())));
    }
    out
}

/// Duplicates a table, splices in one of another corpus file, appends a
/// known one, or drops one.
fn table(r: &mut Rand, corpus: &[Seed], text: &mut String) {
    let mine = tables(text);
    match r.below(4) {
        0 if !mine.is_empty() => {
            let (s, e) = *r.pick(&mine);
            let t = with_newline(text[s..e].to_string());
            text.insert_str(if r.chance(2) { e } else { text.len() }, &t);
        }
        1 => {
            let other = &r.pick(corpus).text;
            let theirs = tables(other);
            if theirs.is_empty() {
                return;
            }
            let (s, e) = *r.pick(&theirs);
            let t = with_newline(other[s..e].to_string());
            if !text.ends_with('\n') {
                text.push('\n');
            }
            text.push_str(&t);
        }
        2 if !mine.is_empty() => {
            let (s, e) = *r.pick(&mine);
            text.replace_range(s..e, "");
        }
        _ => {
            if !text.ends_with('\n') {
                text.push('\n');
            }
            text.push_str(r.pick::<&str>(TABLES));
        }
    }
}

/// Inserts a key the format knows: at the top, or under a table header.
fn key(r: &mut Rand, text: &mut String) {
    let line = with_newline(r.pick(KEYS).to_string());
    let heads: Vec<usize> = tables(text).into_iter().map(|(s, _)| s).collect();
    if heads.is_empty() || r.chance(3) {
        text.insert_str(0, &line);
        return;
    }
    let h = *r.pick(&heads);
    let after = text[h..].find('\n').map_or(text.len(), |i| h + i + 1);
    if after == text.len() && !text.ends_with('\n') {
        text.push('\n');
    }
    let at = after.min(text.len());
    text.insert_str(at, &line);
}

/// A mutation that mostly keeps the case loading: a number within its
/// limit, an operation taken from another list, a list element duplicated,
/// dropped or moved, a list grown to its limit, a table added.
fn keep_shape(r: &mut Rand, corpus: &[Seed], text: &mut String) {
    let elements = list_lines(text);
    match r.below(8) {
        0 => {
            // A number at most its key's limit.
            let b = text.as_bytes();
            let runs: Vec<(usize, usize)> = (0..b.len())
                .filter(|&i| b[i].is_ascii_digit() && (i == 0 || !b[i - 1].is_ascii_digit()))
                .map(|i| (i, (i..b.len()).find(|&j| !b[j].is_ascii_digit()).unwrap_or(b.len())))
                .collect();
            if runs.is_empty() {
                return;
            }
            let (s, e) = *r.pick(&runs);
            let max = key_at(text, s).and_then(limit_of).map_or(4, |l| l.max);
            let v = match r.below(3) {
                0 => max,
                1 => r.below(4) as u64,
                _ => r.next() % (max + 1),
            };
            text.replace_range(s..e, &v.to_string());
        }
        1 | 2 if !elements.is_empty() => {
            // An element of another case's list (an operation, mostly).
            let other = &r.pick(corpus).text;
            let theirs = list_lines(other);
            if theirs.is_empty() {
                return;
            }
            let (s, e) = *r.pick(&theirs);
            let piece = other[s..e].to_string();
            let (ms, me) = *r.pick(&elements);
            if r.chance(2) {
                text.replace_range(ms..me, &piece);
            } else {
                text.insert_str(ms, &piece);
            }
        }
        3 if !elements.is_empty() => {
            let (s, e) = *r.pick(&elements);
            let piece = text[s..e].to_string();
            text.insert_str(e, &piece);
        }
        4 if elements.len() > 1 => {
            let (s, e) = *r.pick(&elements);
            text.replace_range(s..e, "");
        }
        5 if elements.len() > 1 => {
            let (a, b) = (*r.pick(&elements), *r.pick(&elements));
            let (first, second) = if a.0 < b.0 { (a, b) } else { (b, a) };
            if first == second {
                return;
            }
            let (x, y) = (text[first.0..first.1].to_string(), text[second.0..second.1].to_string());
            text.replace_range(second.0..second.1, &x);
            text.replace_range(first.0..first.1, &y);
        }
        6 if !elements.is_empty() => {
            let (s, e) = *r.pick(&elements);
            let n = *r.pick(&[2, 10, 100, limits::OPS_MAX.max as usize - 10]);
            let piece = text[s..e].to_string();
            text.insert_str(e, &piece.repeat(n));
        }
        _ => {
            // A thread, an interrupt source or a fault, named apart.
            let n = r.below(1000);
            let t = match r.below(4) {
                0 => format!("[[thread]]\nname = \"fz{n}\"\nops = [\"cpu_down 1\", \"cpu_up 1\"]\n"),
                1 => format!(
                    "[[thread]]\nname = \"fz{n}\"\nops = [\"echo 0 > cpu1/online\", \"echo 1 > cpu1/online\"]\nloops = {}\n",
                    1 + r.below(3)
                ),
                2 => format!(
                    "[[irq]]\nname = \"fz{n}\"\ncpu = 1\nhandler = [\"smp_call_function_single_async 0 fz{n}\"]\n"
                ),
                _ => "[[fault]]\nsite = \"cpuhp/cpu1/down/197\"\naction = \"1*return(-ENOMEM)->off\"\n".to_string(),
            };
            if !text.ends_with('\n') {
                text.push('\n');
            }
            text.push_str(&t);
        }
    }
}

/// The lines of multi-line lists, each one quoted element and its comma:
/// `  "cpu_down 1",` with its line break.
fn list_lines(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut at = 0;
    for l in text.split_inclusive('\n') {
        let t = l.trim();
        if t.starts_with('"') && t.ends_with("\",") && t.matches('"').count() == 2 {
            out.push((at, at + l.len()));
        }
        at += l.len();
    }
    out
}
