//! The fuzz target: seeded inputs made from the corpus (`tests/fuzz/corpus/`,
//! the case files of `cases/`) through the case loader and bounded runs,
//! each checked against the documented bounds, on stable Rust in the test
//! profile.
//!
//! `cargo test --release --test fuzz` runs a smoke of 1000 inputs from seed
//! 1; `HOTPLUG_FUZZ_INPUTS=N HOTPLUG_FUZZ_SEED=S` runs N inputs from seed S,
//! and `HOTPLUG_FUZZ_SECONDS=T` stops starting inputs after T seconds. The
//! inputs run in a worker process, this binary run again, under
//! `prlimit --as` ([`ADDRESS_SPACE_MAX`]): a panic is caught in the worker
//! and reported, and an abort, a crash, running out of the address space or
//! an input that runs longer than [`HANG`] ends the worker, and the driver
//! records that input and starts a new worker after it. Every failing input
//! is saved under `tests/fuzz/crashes/` (the first of each kind of failure),
//! and the `fuzz::crashes::NAME` trials replay every file there the same
//! way. `fuzz::corpus` checks the corpus against `cases/`
//! (`HOTPLUG_FUZZ_CORPUS=update` rewrites it). What one input goes through
//! is `fuzz/check.rs`; how inputs are made, `fuzz/mutate.rs`. It leaves out
//! coverage feedback and the sweep: it is a blind mutator over the loader
//! and one bounded run per scenario.

#[path = "fuzz/check.rs"]
mod check;
#[path = "fuzz/mutate.rs"]
mod mutate;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use hotplug_fi::case::limits::OUTPUT_BYTES_MAX;
use libtest_mimic::{Arguments, Failed, Trial};

/// A worker's address space (`prlimit --as`): every input runs within it.
const ADDRESS_SPACE_MAX: u64 = 1 << 30;
/// An input that runs longer than this is a hang, and a bound violation.
const HANG: Duration = Duration::from_secs(20);
/// Inputs of a plain `cargo test`.
const SMOKE_INPUTS: u64 = 1000;
/// Every so many inputs, the plain run runs twice and the bytes must agree.
const TWICE_EVERY: u64 = 8;
/// Failing inputs saved per run, at most (the first of each kind).
const SAVED_MAX: usize = 50;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn corpus_dir() -> PathBuf {
    repo().join("tests/fuzz/corpus")
}

fn crashes_dir() -> PathBuf {
    repo().join("tests/fuzz/crashes")
}

fn main() {
    if let Ok(job) = std::env::var("HOTPLUG_FUZZ_WORKER") {
        worker(&job);
        return;
    }
    let args = Arguments::from_args();
    let mut trials = vec![Trial::test("fuzz::run", run_trial), Trial::test("fuzz::corpus", corpus_trial)];
    for f in files(&crashes_dir(), "toml") {
        let name = f.file_stem().unwrap().to_string_lossy().into_owned();
        trials.push(Trial::test(format!("fuzz::crashes::{name}"), move || replay_trial(&f)));
    }
    libtest_mimic::run(&args, trials).exit();
}

/// The files in `dir` ending in `.ext`, sorted.
fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == ext)).collect())
        .unwrap_or_default();
    out.sort();
    out
}

fn load_corpus() -> Vec<mutate::Seed> {
    files(&corpus_dir(), "toml")
        .into_iter()
        .map(|p| mutate::Seed {
            name: p.file_name().unwrap().to_string_lossy().into_owned(),
            text: fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())),
        })
        .collect()
}

/// How an input is named: in its errors, and as a saved crash.
fn input_name(seed: u64, index: u64) -> String {
    format!("seed{seed}-input{index}.toml")
}

// ---- the worker: runs inputs, one report line each -------------------------

/// The last panic's message and place, as the quiet hook recorded it.
static PANIC: Mutex<Option<String>> = Mutex::new(None);
/// An input is being checked: its panic is reported on its line, not on
/// stderr.
static CHECKING: AtomicBool = AtomicBool::new(false);

/// `HOTPLUG_FUZZ_WORKER` is `gen SEED FROM TO` (inputs FROM to TO less one
/// of SEED) or `file PATH`: one line per input on stdout, then `end`. `show
/// SEED INDEX` prints that input's text instead (to read one).
fn worker(job: &str) {
    panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(no message)".into());
        let at = info.location().map_or(String::new(), |l| format!(" at {}:{}:{}", l.file(), l.line(), l.column()));
        if !CHECKING.load(Ordering::Relaxed) {
            eprintln!("the fuzz worker panicked: {msg}{at}");
        }
        *PANIC.lock().unwrap_or_else(|e| e.into_inner()) = Some(format!("{msg}{at}"));
    }));
    let words: Vec<&str> = job.split(' ').collect();
    let mut out = std::io::stdout().lock();
    match words.as_slice() {
        ["gen", seed, from, to] => {
            let num = |w: &str| w.parse::<u64>().expect("a number in HOTPLUG_FUZZ_WORKER");
            let (seed, from, to) = (num(seed), num(from), num(to));
            let corpus = load_corpus();
            for i in from..to {
                let (_, text) = mutate::input(&corpus, seed, i);
                let line = one(&input_name(seed, i), &text, i, i % TWICE_EVERY == 0);
                writeln!(out, "{line}").expect("stdout");
            }
        }
        ["show", seed, index] => {
            let num = |w: &str| w.parse::<u64>().expect("a number in HOTPLUG_FUZZ_WORKER");
            let corpus = load_corpus();
            let (base, text) = mutate::input(&corpus, num(seed), num(index));
            eprintln!("{} (made from {})", input_name(num(seed), num(index)), corpus[base].name);
            write!(out, "{text}").expect("stdout");
            return;
        }
        ["file", path] => {
            let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
            let rel = Path::new(path).strip_prefix(repo()).map_or(path.to_string(), |p| p.display().to_string());
            let line = one(&rel, &text, 0, true);
            writeln!(out, "{line}").expect("stdout");
        }
        _ => panic!("HOTPLUG_FUZZ_WORKER is `gen SEED FROM TO`, `file PATH` or `show SEED INDEX`, not `{job}`"),
    }
    writeln!(out, "end").expect("stdout");
}

/// Checks one input: its report line.
fn one(path: &str, text: &str, index: u64, twice: bool) -> String {
    let t0 = Instant::now();
    CHECKING.store(true, Ordering::Relaxed);
    let r = panic::catch_unwind(AssertUnwindSafe(|| check::check(path, text, twice)));
    CHECKING.store(false, Ordering::Relaxed);
    let micros = t0.elapsed().as_micros();
    let (hwm, vm) = (status_kb("VmHWM:"), status_kb("VmPeak:"));
    let (status, end, steps, events, (output, outcome), failures) = match r {
        Ok(c) => {
            let f: Vec<String> = c.failures.iter().map(|f| format!("{}: {}", f.kind, f.msg)).collect();
            (c.status.word(), c.end, c.steps, c.events, (c.output, c.outcome), f)
        }
        Err(_) => {
            let msg = PANIC.lock().unwrap_or_else(|e| e.into_inner()).take().unwrap_or_default();
            ("panic", "-", 0, 0, (0, 0), vec![format!("panic: {msg}")])
        }
    };
    let failures: Vec<String> = failures.iter().map(|f| one_line(f)).collect();
    format!(
        "in\t{index}\t{status}\t{end}\t{steps}\t{events}\t{output}\t{outcome}\t{micros}\t{hwm}\t{vm}\t{}",
        failures.join("\t")
    )
}

/// A message on one line: control characters as spaces.
fn one_line(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// A `/proc/self/status` figure in KiB (0 where there is none).
fn status_kb(key: &str) -> u64 {
    let s = fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

// ---- the driver: workers under prlimit, and what they report ---------------

/// One input's report line, parsed.
struct Report {
    index: u64,
    status: String,
    end: String,
    steps: u64,
    events: u64,
    /// Bytes of trace text.
    output: u64,
    /// Bytes of outcome.
    outcome: u64,
    micros: u64,
    hwm_kb: u64,
    vm_kb: u64,
    /// `kind: message` each.
    failures: Vec<String>,
}

fn parse_report(line: &str) -> Option<Report> {
    let f: Vec<&str> = line.split('\t').collect();
    if f.len() < 11 || f[0] != "in" {
        return None;
    }
    let n = |i: usize| f[i].parse::<u64>().ok();
    Some(Report {
        index: n(1)?,
        status: f[2].to_string(),
        end: f[3].to_string(),
        steps: n(4)?,
        events: n(5)?,
        output: n(6)?,
        outcome: n(7)?,
        micros: n(8)?,
        hwm_kb: n(9)?,
        vm_kb: n(10)?,
        failures: f[11..].iter().filter(|s| !s.is_empty()).map(|s| s.to_string()).collect(),
    })
}

/// A worker process and the threads that read its output.
struct Worker {
    child: Child,
    lines: Receiver<String>,
    stderr: Option<JoinHandle<String>>,
}

/// What a worker said next.
enum Next {
    Line(String),
    /// It closed its output: it ended or died.
    Closed,
    /// Nothing within the wait.
    Silent,
}

impl Worker {
    fn spawn(job: &str) -> Result<Worker, String> {
        let exe = std::env::current_exe().map_err(|e| format!("cannot find the test binary: {e}"))?;
        let mut child = Command::new("prlimit")
            .arg(format!("--as={ADDRESS_SPACE_MAX}"))
            .arg(&exe)
            .env("HOTPLUG_FUZZ_WORKER", job)
            .env("RUST_BACKTRACE", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run `prlimit --as={ADDRESS_SPACE_MAX} {}`: {e}", exe.display()))?;
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().expect("piped");
        thread::spawn(move || {
            for l in BufReader::new(stdout).lines() {
                let Ok(l) = l else { break };
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        let mut err = child.stderr.take().expect("piped");
        let stderr = thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = err.read_to_end(&mut buf);
            let text = String::from_utf8_lossy(&buf).into_owned();
            // Std's own line for an allocation that failed, wherever it is,
            // then the last lines.
            let tail: Vec<&str> = text.lines().rev().take(4).collect();
            let oom = text.lines().find(|l| l.starts_with("memory allocation of")).filter(|l| !tail.contains(l));
            oom.into_iter().chain(tail.into_iter().rev()).collect::<Vec<_>>().join(" / ")
        });
        Ok(Worker { child, lines, stderr: Some(stderr) })
    }

    fn next(&self, wait: Duration) -> Next {
        match self.lines.recv_timeout(wait) {
            Ok(l) => Next::Line(l),
            Err(RecvTimeoutError::Disconnected) => Next::Closed,
            Err(RecvTimeoutError::Timeout) => Next::Silent,
        }
    }

    /// Ends the worker (if it still runs) and says how it ended: `None` for
    /// a clean exit.
    fn finish(mut self, kill: bool) -> Option<String> {
        if kill {
            let _ = self.child.kill();
        }
        let status = self.child.wait().ok();
        let tail = self.stderr.take().and_then(|h| h.join().ok()).unwrap_or_default();
        match status {
            Some(s) if s.success() && !kill => None,
            s => Some(format!("{}; its last stderr: {}", died(s), if tail.is_empty() { "(none)" } else { &tail })),
        }
    }
}

fn died(s: Option<std::process::ExitStatus>) -> String {
    use std::os::unix::process::ExitStatusExt;
    match s {
        Some(s) if s.signal().is_some() => format!("the worker died of signal {}", s.signal().unwrap()),
        Some(s) => format!("the worker exited with {s}"),
        None => "the worker could not be waited for".into(),
    }
}

/// A worker's death as a failure: running out of the address space is a
/// bound violation, anything else a crash.
fn death_failure(how: &str) -> String {
    if how.contains("memory allocation of") {
        format!("bound: memory: over the address space limit (prlimit --as={ADDRESS_SPACE_MAX}): {how}")
    } else {
        format!("crash: {how}")
    }
}

/// Whether `prlimit` runs here.
fn have_prlimit() -> Result<(), String> {
    match Command::new("prlimit").arg("--version").output() {
        Ok(o) if o.status.success() => Ok(()),
        _ => Err("the fuzz target runs its inputs under `prlimit --as` to bound their memory, and `prlimit` \
                  did not run; install util-linux (`apt-get install util-linux`)"
            .into()),
    }
}

/// The figures of a fuzz run.
#[derive(Default)]
struct Stats {
    inputs: u64,
    by_status: BTreeMap<String, u64>,
    ends: BTreeMap<String, u64>,
    /// The largest figure and the input that reached it first.
    steps: (u64, u64),
    events: (u64, u64),
    output: (u64, u64),
    outcome: (u64, u64),
    micros: (u64, u64),
    hwm_kb: (u64, u64),
    vm_kb: (u64, u64),
    /// (input, `kind: message`).
    failures: Vec<(u64, String)>,
    saved: Vec<PathBuf>,
    seen: BTreeSet<String>,
    stopped_early: bool,
}

fn bump(max: &mut (u64, u64), v: u64, index: u64) {
    if v > max.0 {
        *max = (v, index);
    }
}

impl Stats {
    fn add(&mut self, r: &Report) {
        self.inputs += 1;
        *self.by_status.entry(r.status.clone()).or_default() += 1;
        if r.end != "-" {
            *self.ends.entry(r.end.clone()).or_default() += 1;
        }
        bump(&mut self.steps, r.steps, r.index);
        bump(&mut self.events, r.events, r.index);
        bump(&mut self.output, r.output, r.index);
        bump(&mut self.outcome, r.outcome, r.index);
        bump(&mut self.micros, r.micros, r.index);
        bump(&mut self.hwm_kb, r.hwm_kb, r.index);
        bump(&mut self.vm_kb, r.vm_kb, r.index);
    }

    fn count(&self, kind: &str) -> usize {
        self.failures.iter().filter(|(_, f)| f.starts_with(kind)).count()
    }

    fn share(&self, statuses: &[&str]) -> String {
        let n: u64 = statuses.iter().map(|s| self.by_status.get(*s).copied().unwrap_or(0)).sum();
        format!("{:.1}%", 100.0 * n as f64 / self.inputs.max(1) as f64)
    }
}

/// Records a failing input: each failure counted and printed, and the input
/// saved if one of its failures is the first of its kind.
fn failed(stats: &mut Stats, seed: u64, index: u64, failures: Vec<String>, (from, text): (&str, &str)) {
    let kind = |f: &String| f.chars().filter(|c| !c.is_ascii_digit()).take(120).collect::<String>();
    // Every kind is recorded (no short cut): a later input of one seen here
    // is not new.
    let new = failures.iter().filter(|f| stats.seen.insert(kind(f))).count() > 0;
    let mut line = format!("fuzz: {} (made from {from}) failed:", input_name(seed, index));
    for f in &failures {
        let _ = write!(line, "\n  {f}");
    }
    if new && stats.saved.len() < SAVED_MAX {
        let path = crashes_dir().join(input_name(seed, index));
        match fs::create_dir_all(crashes_dir()).and_then(|()| fs::write(&path, text)) {
            Ok(()) => {
                let _ = write!(line, "\n  saved as {}", path.strip_prefix(repo()).unwrap_or(&path).display());
                stats.saved.push(path);
            }
            Err(e) => {
                let _ = write!(line, "\n  could not be saved: {e}");
            }
        }
    }
    println!("{line}");
    stats.failures.extend(failures.into_iter().map(|f| (index, f)));
}

/// Runs `count` inputs of `seed`, in workers, for at most `budget`.
fn fuzz(seed: u64, count: u64, budget: Option<Duration>) -> Result<Stats, String> {
    have_prlimit()?;
    let corpus = load_corpus();
    if corpus.is_empty() {
        return Err(format!("the corpus {} is empty", corpus_dir().display()));
    }
    let start = Instant::now();
    let mut stats = Stats::default();
    let mut next = 0;
    'workers: while next < count {
        let w = Worker::spawn(&format!("gen {seed} {next} {count}"))?;
        let mut ended = false;
        loop {
            let wait = match budget {
                Some(b) if start.elapsed() >= b => {
                    stats.stopped_early = true;
                    w.finish(true);
                    break 'workers;
                }
                Some(b) => HANG.min(b - start.elapsed() + Duration::from_millis(10)),
                None => HANG,
            };
            match w.next(wait) {
                Next::Line(l) if l == "end" => {
                    ended = true;
                    break;
                }
                Next::Line(l) => {
                    let r = parse_report(&l).ok_or_else(|| format!("the worker said `{l}`"))?;
                    stats.add(&r);
                    next = r.index + 1;
                    if !r.failures.is_empty() {
                        let (base, text) = mutate::input(&corpus, seed, r.index);
                        failed(&mut stats, seed, r.index, r.failures, (&corpus[base].name, &text));
                    }
                }
                Next::Closed => break,
                Next::Silent if budget.is_some_and(|b| start.elapsed() >= b) => continue,
                Next::Silent => {
                    let how = w.finish(true).unwrap_or_default();
                    let (base, text) = mutate::input(&corpus, seed, next);
                    stats.add(&Report::dead(next));
                    let f = format!("bound: time: no result within {} s; {how}", HANG.as_secs());
                    failed(&mut stats, seed, next, vec![f], (&corpus[base].name, &text));
                    next += 1;
                    continue 'workers;
                }
            }
        }
        match w.finish(false) {
            None if ended => {}
            how => {
                // The worker died on input `next`.
                let how = how.unwrap_or_else(|| "the worker stopped without saying `end`".into());
                let (base, text) = mutate::input(&corpus, seed, next);
                stats.add(&Report::dead(next));
                failed(&mut stats, seed, next, vec![death_failure(&how)], (&corpus[base].name, &text));
                next += 1;
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!("{}", summary(&stats, seed, count, secs));
    Ok(stats)
}

impl Report {
    /// The report of an input its worker did not survive.
    fn dead(index: u64) -> Report {
        Report {
            index,
            status: "died".into(),
            end: "-".into(),
            steps: 0,
            events: 0,
            output: 0,
            outcome: 0,
            micros: 0,
            hwm_kb: 0,
            vm_kb: 0,
            failures: vec![],
        }
    }
}

fn summary(s: &Stats, seed: u64, count: u64, secs: f64) -> String {
    let mib = |kb: u64| kb as f64 / 1024.0;
    let ends: Vec<String> = s.ends.iter().map(|(e, n)| format!("{n} {e}")).collect();
    let mut line = format!(
        "fuzz: {} inputs from seed {seed} in {secs:.1} s: {} loaded, {} ran ({}); \
         {} panics or crashes, {} bound violations, {} misplaced errors, {} late refusals, {} nondeterministic; \
         largest: {} steps (input {}; steps_max clamped to {}), {} trace events and splats (input {}; \
         trace_events_max clamped to {}), {} bytes of trace text (input {}; {} {}), {} bytes of outcome (input {}), \
         peak RSS {:.1} MiB (input {}), \
         peak address space {:.1} MiB (input {}; prlimit --as {} MiB), slowest input {:.1} ms (input {})",
        s.inputs,
        s.share(&["ran", "refused"]),
        s.share(&["ran"]),
        ends.join(", "),
        s.count("panic") + s.count("crash"),
        s.count("bound"),
        s.count("place"),
        s.count("late"),
        s.count("nondeterministic"),
        s.steps.0,
        s.steps.1,
        check::STEPS_CLAMP,
        s.events.0,
        s.events.1,
        check::EVENTS_CLAMP,
        s.output.0,
        s.output.1,
        OUTPUT_BYTES_MAX.name,
        OUTPUT_BYTES_MAX.max,
        s.outcome.0,
        s.outcome.1,
        mib(s.hwm_kb.0),
        s.hwm_kb.1,
        mib(s.vm_kb.0),
        s.vm_kb.1,
        ADDRESS_SPACE_MAX >> 20,
        s.micros.0 as f64 / 1000.0,
        s.micros.1,
    );
    if s.stopped_early {
        let _ =
            write!(line, "; stopped at the time budget (HOTPLUG_FUZZ_SECONDS) after {} of {count} inputs", s.inputs);
    }
    line
}

/// A number from the environment, or `default`.
fn env_u64(name: &str, default: Option<u64>) -> Result<Option<u64>, String> {
    match std::env::var(name) {
        Err(_) => Ok(default),
        Ok(v) => v.trim().parse().map(Some).map_err(|_| format!("{name} must be a whole number, not `{v}`")),
    }
}

fn run_trial() -> Result<(), Failed> {
    let count = env_u64("HOTPLUG_FUZZ_INPUTS", Some(SMOKE_INPUTS))?.unwrap_or(SMOKE_INPUTS);
    let seed = env_u64("HOTPLUG_FUZZ_SEED", Some(1))?.unwrap_or(1);
    let budget = env_u64("HOTPLUG_FUZZ_SECONDS", None)?.map(Duration::from_secs);
    let stats = fuzz(seed, count, budget)?;
    if stats.failures.is_empty() {
        return Ok(());
    }
    let list: Vec<String> =
        stats.failures.iter().take(20).map(|(i, f)| format!("  {}: {f}", input_name(seed, *i))).collect();
    Err(format!(
        "{} of {} inputs failed (the first 20 below; saved: {}):\n{}",
        stats.failures.len(),
        stats.inputs,
        stats.saved.len(),
        list.join("\n")
    )
    .into())
}

/// Replays a saved crash in a worker: it must load or be rejected, run
/// within its bounds, and not kill the worker.
fn replay_trial(path: &Path) -> Result<(), Failed> {
    have_prlimit()?;
    let w = Worker::spawn(&format!("file {}", path.display()))?;
    let mut report = None;
    while let Next::Line(l) = w.next(HANG) {
        if l == "end" {
            break;
        }
        report = parse_report(&l);
    }
    let how = w.finish(false);
    let mut failures = report.map(|r| r.failures).unwrap_or_default();
    if let Some(how) = how {
        failures.push(death_failure(&how));
    }
    if failures.is_empty() { Ok(()) } else { Err(failures.join("\n").into()) }
}

/// The corpus file of a case: `cpu/updown` is `cpu.updown.toml`. Files
/// named `fuzz.*.toml` are the corpus's own.
fn corpus_name(id: &str) -> String {
    format!("{}.toml", id.replace('/', "."))
}

/// Every case of `cases/` has its copy in the corpus, and every corpus file
/// but the `fuzz.*` ones is a case's copy; `HOTPLUG_FUZZ_CORPUS=update`
/// makes it so.
fn corpus_trial() -> Result<(), Failed> {
    let cases = repo().join("cases");
    let mut want = BTreeMap::new();
    let mut stack = vec![cases.clone()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).map_err(|e| format!("{}: {e}", d.display()))?.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "toml") {
                let id = hotplug_fi::case::case_id(&p, &cases);
                want.insert(corpus_name(&id), fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?);
            }
        }
    }
    let have: BTreeMap<String, String> = files(&corpus_dir(), "toml")
        .into_iter()
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), fs::read_to_string(&p).unwrap_or_default()))
        .filter(|(n, _)| !n.starts_with("fuzz."))
        .collect();
    let mut bad = Vec::new();
    for (name, text) in &want {
        match have.get(name) {
            Some(t) if t == text => {}
            Some(_) => bad.push(format!("{name} differs from its case")),
            None => bad.push(format!("{name} is missing")),
        }
    }
    bad.extend(have.keys().filter(|n| !want.contains_key(*n)).map(|n| format!("{n} is no case's copy")));
    if bad.is_empty() {
        return Ok(());
    }
    if std::env::var("HOTPLUG_FUZZ_CORPUS").is_ok_and(|v| v == "update") {
        for n in have.keys().filter(|n| !want.contains_key(*n)) {
            fs::remove_file(corpus_dir().join(n)).map_err(|e| format!("{n}: {e}"))?;
        }
        fs::create_dir_all(corpus_dir()).map_err(|e| e.to_string())?;
        for (n, text) in &want {
            fs::write(corpus_dir().join(n), text).map_err(|e| format!("{n}: {e}"))?;
        }
        println!("fuzz: the corpus was updated ({} files)", bad.len());
        return Ok(());
    }
    Err(format!(
        "tests/fuzz/corpus/ is out of step with cases/: {}; \
         refresh it with `HOTPLUG_FUZZ_CORPUS=update cargo test --release --test fuzz -- fuzz::corpus`",
        bad.join(", ")
    )
    .into())
}
