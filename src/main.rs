//! The `hotplug-fi` command line: run, sweep, list failpoints.

#![forbid(unsafe_code)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};

use hotplug_fi::case::{Case, CaseError};
use hotplug_fi::engine::RunOpts;
use hotplug_fi::explore;
use hotplug_fi::kernel::Regression;
use hotplug_fi::snapshot;
use hotplug_fi::verdict::{self, Scenario, ScenarioRun};

#[derive(Parser)]
#[command(name = "hotplug-fi", about = "Fault injection for a model of the Linux 6.1 hotplug engine")]
struct Cli {
    /// Switch a historical bug back on (repeatable; also HOTPLUG_REGRESSIONS=a,b).
    #[arg(long = "regression", global = true)]
    regressions: Vec<String>,
    /// Worker threads for exploring interleavings (default: one per core).
    /// The output is the same bytes whatever the number.
    #[arg(long, global = true, default_value_t = 0, value_parser = clap::value_parser!(u16).range(0..=256))]
    jobs: u16,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run one case's plain scenario, or one fault, and print the trace and final state.
    Run {
        case: PathBuf,
        /// Arm a failpoint: SITE or SITE=ACTION (default action: fail once with -EAGAIN).
        #[arg(long)]
        fault: Vec<String>,
        /// text, or json: the trace's events and the final state (docs/results.md).
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Run every case under every failpoint it asks for, and summarise.
    Sweep {
        /// Case files or directories (default: cases/).
        paths: Vec<PathBuf>,
        /// text (the summary), json (docs/results.md) or ktap (as kselftest).
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Also write one HTML page per distinct outcome, and index.html, into DIR (docs/report.md).
        #[arg(long, value_name = "DIR")]
        html: Option<PathBuf>,
    },
    /// List the failpoint sites a case's plain run reaches.
    Failpoints { case: PathBuf },
    /// List the case operations: usage and summary, one line each, grouped by kernel source.
    Ops,
    /// Explore a case's interleavings and print each distinct outcome.
    Explore {
        case: PathBuf,
        /// default, exhaustive, random or pct (default: the case's).
        #[arg(long)]
        strategy: Option<String>,
        /// Deviation bound for exhaustive (default: the case's, else 2).
        #[arg(long)]
        bound: Option<u32>,
        /// Runs for random and pct (default: the case's, else 1000).
        #[arg(long)]
        runs: Option<u64>,
        /// Seed for random and pct (default: the case's, else 1).
        #[arg(long)]
        seed: Option<u64>,
        /// Depth for pct (default: the case's, else 3).
        #[arg(long)]
        depth: Option<u32>,
        /// Run every schedule twice and compare the bytes.
        #[arg(long)]
        check_determinism: bool,
        /// text, json (docs/results.md) or ktap.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Also write one HTML page per distinct outcome, and index.html, into DIR (docs/report.md).
        #[arg(long, value_name = "DIR")]
        html: Option<PathBuf>,
    },
    /// Write one run as a self-contained HTML page: a timeline per CPU and
    /// task (docs/report.md).
    Report {
        case: PathBuf,
        /// Arm a failpoint: SITE or SITE=ACTION, as for `run`.
        #[arg(long, conflicts_with = "schedule")]
        fault: Vec<String>,
        /// Replay this schedule, as for `replay`.
        #[arg(long)]
        schedule: Option<String>,
        /// The page to write.
        #[arg(long, value_name = "FILE")]
        html: PathBuf,
    },
    /// Shrink a failing interleaving case to fewer threads and operations,
    /// pinning the failing schedule.
    Shrink {
        case: PathBuf,
        /// Write the shrunk case here (default: print it).
        #[arg(long)]
        out: Option<PathBuf>,
        /// The largest bound to search for a failure.
        #[arg(long, default_value_t = 2)]
        bound: u32,
    },
    /// Replay one schedule of a case, byte for byte.
    Replay {
        case: PathBuf,
        #[arg(long)]
        schedule: String,
    },
    /// Run scenarios on a real Linux under QEMU and compare them with the
    /// model. Without --kernel it boots a Debian kernel (6.1.0-57-amd64,
    /// 6.1.192-3, unless --kernel-version says otherwise), downloaded with
    /// `apt-get download` into target/oracle/; needs qemu-system-x86 and
    /// busybox-static installed.
    Oracle {
        /// Case files or directories: run each case's scenarios on the real
        /// kernel (with the test module) and compare them with the model.
        cases: Vec<PathBuf>,
        /// Sweep the fail knob on this CPU (1 to 3), both directions, every named state.
        #[arg(long)]
        sweep_cpu: Option<usize>,
        /// Run the memory scenarios (offline/online, a hole, notifier injection).
        #[arg(long)]
        memory: bool,
        /// Boot once more with SMT siblings and nosmt, and run the SMT sequence.
        #[arg(long)]
        smt: bool,
        /// Only the first N states of the CPU sweep (a quick subset).
        #[arg(long)]
        limit: Option<usize>,
        /// The Debian kernel to boot: a series (6.1, 6.12, 7.3: its newest
        /// ABI), a release (7.3.4, 6.12.117+deb12) or an exact ABI
        /// (6.1.0-57-amd64). Suites the system's apt sources lack are read
        /// through a private sources list in target/oracle/apt/.
        #[arg(long)]
        kernel_version: Option<String>,
        /// Boot this kernel (a vmlinux or bzImage) instead of Debian's.
        #[arg(long)]
        kernel: Option<PathBuf>,
        /// The modules tree of --kernel (for the notifier injector).
        #[arg(long)]
        modules: Option<PathBuf>,
        /// The build tree of --kernel (after `make modules_prepare`), to
        /// build the test module against.
        #[arg(long)]
        headers: Option<PathBuf>,
        /// Seconds the whole boot may take; 60 s without console output (or
        /// this, if shorter) also ends it. QEMU is killed on either.
        #[arg(long, default_value_t = 300)]
        timeout: u64,
        /// tcg (the default) or kvm.
        #[arg(long, default_value = "tcg")]
        accel: String,
        /// Print a case as the shell commands to run on a real machine, and exit.
        #[arg(long)]
        print_script: Option<PathBuf>,
        /// Write the real kernel's state table (names, numbers, probed
        /// callbacks) to this file, and compare it with the built-in profile.
        #[arg(long)]
        import_profile: Option<PathBuf>,
    },
}

/// `println!` that ends the process quietly with the conventional status,
/// 141 (killed by SIGPIPE), when stdout is a closed pipe
/// (`hotplug-fi sweep | head -1`), instead of panicking.
macro_rules! say {
    () => { emit(format_args!(""), true) };
    ($($t:tt)*) => { emit(format_args!($($t)*), true) };
}

/// `print!`, likewise.
macro_rules! say_raw {
    ($($t:tt)*) => { emit(format_args!($($t)*), false) };
}

fn emit(args: std::fmt::Arguments, newline: bool) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let r = out.write_fmt(args).and_then(|()| if newline { out.write_all(b"\n") } else { Ok(()) });
    match r {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(141),
        Err(e) => {
            eprintln!("error: writing to stdout: {e}");
            std::process::exit(1);
        }
    }
}

/// `--version`: the crate, and the kernel the default profile models.
fn version() -> String {
    let p = hotplug_fi::kernel::cpuhotplug::Profile::builtin("debian-6.1").expect("the default profile is built in");
    format!("{} (default profile {}: Linux {})", env!("CARGO_PKG_VERSION"), p.name, p.kernel)
}

fn main() -> ExitCode {
    use clap::{CommandFactory, FromArgMatches};
    let matches = Cli::command().version(version()).get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    let regressions = match regressions(&cli.regressions) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if std::env::var_os("FAILPOINTS").is_some() {
        eprintln!("note: FAILPOINTS is ignored: hotplug-fi arms failpoints only from --fault and a case's [[fault]]");
    }
    let opts = RunOpts { regressions, record_sites: false, jobs: usize::from(cli.jobs), ..Default::default() };
    let res = match &cli.cmd {
        Cmd::Run { case, fault, format } => cmd_run(case, fault, *format, &opts),
        Cmd::Sweep { paths, format, html } => cmd_sweep(paths, (*format, html.as_deref()), &opts),
        Cmd::Report { case, fault, schedule, html } => cmd_report(case, fault, schedule.as_deref(), html, &opts),
        Cmd::Oracle {
            cases,
            sweep_cpu,
            memory,
            smt,
            limit,
            kernel_version,
            kernel,
            modules,
            headers,
            timeout,
            accel,
            print_script,
            import_profile,
        } => {
            if accel != "kvm" && accel != "tcg" {
                eprintln!("error: --accel {accel}: expected tcg or kvm");
                return ExitCode::from(2);
            }
            let given = Given {
                kernel_version: kernel_version.clone(),
                kernel: kernel.clone(),
                modules: modules.clone(),
                headers: headers.clone(),
            };
            let what = OracleWhat {
                cpu: *sweep_cpu,
                memory: *memory,
                smt: *smt,
                kvm: accel == "kvm",
                limit: *limit,
                import: import_profile.clone(),
            };
            if !cases.is_empty() {
                if sweep_cpu.is_some() || *memory || *smt || import_profile.is_some() || print_script.is_some() {
                    eprintln!(
                        "error: give case files or --sweep-cpu/--memory/--smt/--import-profile/--print-script, not both"
                    );
                    return ExitCode::from(2);
                }
                cmd_oracle_cases(cases, &given)
            } else {
                cmd_oracle(&what, &given, *timeout, print_script.as_deref())
            }
        }
        Cmd::Failpoints { case } => cmd_failpoints(case, &opts),
        Cmd::Ops => {
            say_raw!("{}", hotplug_fi::case::ops_listing());
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Explore { case, strategy, bound, runs, seed, depth, check_determinism, format, html } => {
            let k = (*bound, *runs, *seed, *depth);
            cmd_explore(case, strategy.as_deref(), k, (*check_determinism, *format, html.as_deref()), &opts)
        }
        Cmd::Replay { case, schedule } => cmd_replay(case, schedule, &opts),
        Cmd::Shrink { case, out, bound } => cmd_shrink(case, out.as_deref(), *bound, &opts),
    };
    match res {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn regressions(args: &[String]) -> Result<BTreeSet<Regression>, String> {
    let env = std::env::var("HOTPLUG_REGRESSIONS").unwrap_or_default();
    let mut set = BTreeSet::new();
    for name in args.iter().map(String::as_str).chain(env.split(',')).filter(|n| !n.is_empty()) {
        let r = Regression::parse(name.trim()).ok_or_else(|| {
            let all: Vec<&str> = Regression::ALL.iter().map(|r| r.name()).collect();
            format!("unknown regression `{name}`; known: {}", all.join(", "))
        })?;
        set.insert(r);
    }
    Ok(set)
}

fn load(path: &Path) -> Result<Case, CaseError> {
    let root = path.ancestors().find(|a| a.file_name().is_some_and(|n| n == "cases")).unwrap_or(Path::new(""));
    Case::load(path, root)
}

/// `run CASE`: the plain scenario (on the case's pinned schedule where it
/// applies); `run CASE --fault …`: those faults armed. The case's `=>`
/// expectations are checked where they describe the run (the case's own
/// faults, or no faults for a case without any).
fn cmd_run(path: &Path, faults: &[String], format: Format, opts: &RunOpts) -> Result<ExitCode, String> {
    if format == Format::Ktap {
        return Err("run prints text or json; ktap is for sweep and explore".to_string());
    }
    let case = load(path).map_err(|e| e.to_string())?;
    let scenario = fault_scenario(&case, faults, opts)?;
    let run = verdict::run(&case, scenario, opts)?;
    let unfired = verdict::unfired(&run);
    // The case's own faults must fire (the harness says so too); a sweep's
    // second fault may lie beyond where the first one's rollback goes.
    if let Some(site) = unfired.first()
        && run.scenario.is_primary(&case, opts)
    {
        return Err(format!("failpoint `{site}` was armed but never fired: the run does not reach it"));
    }
    if format == Format::Json {
        say!("{}", hotplug_fi::results::RunDoc::new(&case, &run, opts).to_json());
        return Ok(if run.violations.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE });
    }
    let code = print_run(&case, &run, opts);
    for site in unfired {
        say!("note: failpoint `{site}` was armed but never fired: the run does not reach it");
    }
    Ok(code)
}

/// `report CASE --html FILE`: the plain scenario, the faults given (as
/// `run` takes them) or the schedule given (as `replay` takes it), as one
/// HTML page.
fn cmd_report(
    path: &Path,
    faults: &[String],
    schedule: Option<&str>,
    out: &Path,
    opts: &RunOpts,
) -> Result<ExitCode, String> {
    let case = load(path).map_err(|e| e.to_string())?;
    let opts = &RunOpts { timeline: true, ..opts.clone() };
    let run = match schedule {
        Some(s) => {
            let schedule = hotplug_fi::sim::executor::Schedule::parse(s)?;
            explore::interleave::replay(&case, opts, &schedule)?
        }
        None => verdict::run(&case, fault_scenario(&case, faults, opts)?, opts)?,
    };
    let page = hotplug_fi::html::page(&case, &run, opts, &hotplug_fi::html::About::single(&run));
    std::fs::write(out, page).map_err(|e| format!("{}: {e}", out.display()))?;
    Ok(ExitCode::SUCCESS)
}

/// The scenario of `--fault SITE[=ACTION]…` (`run` and `report`): the
/// plain run without any, else those faults armed together.
fn fault_scenario(case: &Case, faults: &[String], opts: &RunOpts) -> Result<Scenario, String> {
    if faults.is_empty() {
        return Ok(Scenario::plain(case, opts));
    }
    let mut plan = Vec::new();
    for f in faults {
        let (site, action) = f.split_once('=').unwrap_or((f.as_str(), verdict::SWEEP_ACTION));
        let site = hotplug_fi::case::parse_site(&case.profile, case.machine.cpus, site)?;
        hotplug_fi::fault::check_action(&site, action)?;
        plan.push((site, action.to_string()));
    }
    let label = plan.iter().map(|(s, _)| s.to_string()).collect::<Vec<_>>().join(" + ");
    Ok(Scenario { label, faults: plan, schedule: None })
}

/// The strategy `explore` runs: the named one (or the case's), with the
/// options given on the command line; an option the strategy does not take
/// is an error, not silently dropped.
fn explore_strategy(
    case: &Case,
    name: Option<&str>,
    k: (Option<u32>, Option<u64>, Option<u64>, Option<u32>),
) -> Result<hotplug_fi::case::Strategy, String> {
    use hotplug_fi::case::Strategy as S;
    let (bound, runs, seed, depth) = k;
    // The case's own values where it uses the same kind of strategy.
    let (cb, cr, cs, cd) = match case.explore.strategy {
        S::Exhaustive { bound, runs } => (bound, runs, 1, 3),
        S::Random { runs, seed } => (2, runs, seed, 3),
        S::Pct { runs, seed, depth } => (2, runs, seed, depth),
        S::Default => (2, 1000, 1, 3),
    };
    let base = match name {
        None => case.explore.strategy.clone(),
        Some("default") => S::Default,
        Some("exhaustive") => S::Exhaustive { bound: cb, runs: hotplug_fi::case::limits::EXHAUSTIVE_RUNS },
        Some("random") => S::Random { runs: cr, seed: cs },
        Some("pct") => S::Pct { runs: cr, seed: cs, depth: cd },
        Some(other) => return Err(format!("unknown strategy `{other}`; expected default, exhaustive, random or pct")),
    };
    let kind = match base {
        S::Default => "default",
        S::Exhaustive { .. } => "exhaustive",
        S::Random { .. } => "random",
        S::Pct { .. } => "pct",
    };
    let refuse = |opt: &str, takes: &str| {
        let whose = if name.is_some() { "" } else { " (the case's; name another with --strategy)" };
        Err(format!("{opt} applies to {takes}; the strategy here is {kind}{whose}"))
    };
    let s = match base.clone() {
        S::Exhaustive { bound: b, runs: r } if seed.is_none() && depth.is_none() => {
            S::Exhaustive { bound: bound.unwrap_or(b), runs: runs.unwrap_or(r) }
        }
        S::Random { runs: r, seed: sd } if bound.is_none() && depth.is_none() => {
            S::Random { runs: runs.unwrap_or(r), seed: seed.unwrap_or(sd) }
        }
        S::Pct { runs: r, seed: sd, depth: d } if bound.is_none() => {
            S::Pct { runs: runs.unwrap_or(r), seed: seed.unwrap_or(sd), depth: depth.unwrap_or(d) }
        }
        S::Default if bound.is_none() && runs.is_none() && seed.is_none() && depth.is_none() => S::Default,
        _ if bound.is_some() => return refuse("--bound", "exhaustive"),
        _ if depth.is_some() => return refuse("--depth", "pct"),
        _ if seed.is_some() => return refuse("--seed", "random and pct"),
        _ => return refuse("--runs", "exhaustive, random and pct"),
    };
    check_strategy(&s)?;
    Ok(s)
}

/// The explorer's limits, the same as a case file's (`case::limits`).
fn check_strategy(s: &hotplug_fi::case::Strategy) -> Result<(), String> {
    use hotplug_fi::case::Strategy as S;
    use hotplug_fi::case::limits::{BOUND_MAX, DEPTH_MAX, Limit, RUNS_MAX};
    let over = |opt: &str, l: Limit, min: u64| Err(format!("{opt} must be {min} to {} ({})", l.max, l.name));
    match *s {
        S::Exhaustive { bound, .. } if u64::from(bound) > BOUND_MAX.max => over("--bound", BOUND_MAX, 0),
        S::Exhaustive { runs, .. } | S::Random { runs, .. } | S::Pct { runs, .. }
            if runs == 0 || runs > RUNS_MAX.max =>
        {
            over("--runs", RUNS_MAX, 1)
        }
        S::Pct { depth, .. } if depth == 0 || u64::from(depth) > DEPTH_MAX.max => over("--depth", DEPTH_MAX, 1),
        _ => Ok(()),
    }
}

fn cmd_explore(
    path: &Path,
    name: Option<&str>,
    k: (Option<u32>, Option<u64>, Option<u64>, Option<u32>),
    (check_determinism, format, html): (bool, Format, Option<&Path>),
    opts: &RunOpts,
) -> Result<ExitCode, String> {
    let case = load(path).map_err(|e| e.to_string())?;
    let opts = &RunOpts { timeline: html.is_some(), ..opts.clone() };
    let strategy = explore_strategy(&case, name, k)?;
    if let Some(pin) = verdict::pin(&case, opts) {
        explore::interleave::replay(&case, opts, pin).map_err(|e| format!("{}: {e}", case.path.display()))?;
    }
    let start = Instant::now();
    let bar = watch(match strategy {
        hotplug_fi::case::Strategy::Exhaustive { .. } => None,
        hotplug_fi::case::Strategy::Random { runs, .. } | hotplug_fi::case::Strategy::Pct { runs, .. } => Some(runs),
        hotplug_fi::case::Strategy::Default => Some(1),
    });
    let ex = explore::interleave::explore_watched(&case, opts, &strategy, check_determinism, &mut |runs, outcomes| {
        bar.set_position(runs);
        if runs % 64 == 1 {
            bar.set_message(format!("schedules, {outcomes} outcome(s)"));
        }
    });
    bar.finish_and_clear();
    let secs = start.elapsed().as_secs_f64();
    if let Some(dir) = html {
        let pages = hotplug_fi::html::exploration_pages(&case, &ex, opts);
        hotplug_fi::html::write_dir(dir, &format!("explore {}", case.id), &pages)?;
    }
    if format != Format::Text {
        let one = hotplug_fi::results::exploration_result(&case, &ex, opts);
        let failed = !ex.nondeterministic.is_empty() || one.outcomes.iter().any(|o| !o.violations.is_empty());
        print_results(&hotplug_fi::results::Results::new("explore", vec![one], Vec::new()), format);
        return Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS });
    }
    say!("{}", ex.describe());
    let mut failed = !ex.nondeterministic.is_empty();
    if check_determinism {
        say!("determinism: {} of {} schedules differed when run again", ex.nondeterministic.len(), ex.executed);
    }
    for s in &ex.nondeterministic {
        say!("  nondeterministic: {s}");
    }
    for (k, r) in ex.outcomes.iter().enumerate() {
        say!("outcome {}: {} run(s), first at run {}, shortest schedule {}", k + 1, r.runs, r.first_run, r.schedule());
        for v in &r.run.violations {
            failed = true;
            say!("  {v}");
            say!("  reproduce: {}", verdict::repro(&case, &r.run.scenario, opts));
        }
    }
    say!("time: {secs:.3} s ({:.0} schedules/s)", ex.executed as f64 / secs.max(1e-9));
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

fn cmd_shrink(path: &Path, out: Option<&Path>, bound: u32, opts: &RunOpts) -> Result<ExitCode, String> {
    // The shrunk case pins its bound: it must load again.
    check_strategy(&hotplug_fi::case::Strategy::Exhaustive { bound, runs: hotplug_fi::case::limits::EXHAUSTIVE_RUNS })?;
    let case = load(path).map_err(|e| e.to_string())?;
    let bar = watch(None);
    let shrunk = explore::shrink::shrink_watched(&case, opts, bound, &mut |tried, threads, ops| {
        bar.set_position(tried);
        bar.set_message(format!("candidates tried; smallest failing: {threads} thread(s), {ops} operation(s)"));
    });
    bar.finish_and_clear();
    let shrunk = shrunk?;
    eprintln!(
        "shrunk to {} thread(s), {} operation(s); schedule {}; failure: {}",
        shrunk.threads, shrunk.ops, shrunk.schedule, shrunk.failure
    );
    match out {
        Some(p) => std::fs::write(p, &shrunk.text).map_err(|e| format!("{}: {e}", p.display()))?,
        None => say_raw!("{}", shrunk.text),
    }
    Ok(ExitCode::SUCCESS)
}

fn cmd_replay(path: &Path, schedule: &str, opts: &RunOpts) -> Result<ExitCode, String> {
    let case = load(path).map_err(|e| e.to_string())?;
    let schedule = hotplug_fi::sim::executor::Schedule::parse(schedule)?;
    let run = explore::interleave::replay(&case, opts, &schedule)?;
    Ok(print_run(&case, &run, opts))
}

/// Prints one run in full, with its violations; fails if it has any.
fn print_run(case: &Case, run: &ScenarioRun, opts: &RunOpts) -> ExitCode {
    say_raw!("{}", snapshot::scenario(case, run, opts));
    let r = &run.result;
    say!("steps: {}, decisions: {}, preemptions: {}", r.steps, r.decisions, r.preemptions);
    if run.violations.is_empty() {
        return ExitCode::SUCCESS;
    }
    say!("violations:");
    for v in &run.violations {
        say!("  {v}");
    }
    ExitCode::FAILURE
}

fn cmd_failpoints(path: &Path, opts: &RunOpts) -> Result<ExitCode, String> {
    let case = load(path).map_err(|e| e.to_string())?;
    let result = verdict::run(&case, Scenario::plain(&case, opts), opts)?.result;
    for site in result.reached() {
        say!("{:<28} {}", site.to_string(), explore::site_label(&case, *site));
    }
    say!("{} sites", result.reached().len());
    Ok(ExitCode::SUCCESS)
}

/// Every `.toml` under the paths, sorted. A directory is walked once
/// however many links lead to it (a symlink loop cannot repeat a case), and
/// only regular files are cases: a FIFO or a device named `*.toml` would
/// block the read.
pub fn discover(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for p in paths {
        if p.is_dir() {
            walk(p, &mut out, &mut seen).map_err(|e| format!("{}: {e}", p.display()))?;
        } else if p.exists() {
            out.push(regular(p)?);
        } else {
            return Err(format!("{}: no such file or directory", p.display()));
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn regular(p: &Path) -> Result<PathBuf, String> {
    match std::fs::metadata(p) {
        Ok(m) if m.is_file() => Ok(p.to_path_buf()),
        Ok(_) => Err(format!("{}: not a regular file; a case is a TOML file", p.display())),
        Err(e) => Err(format!("{}: {e}", p.display())),
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>, seen: &mut BTreeSet<PathBuf>) -> std::io::Result<()> {
    if !seen.insert(std::fs::canonicalize(dir)?) {
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>()?;
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out, seen)?;
        } else if p.extension().is_some_and(|x| x == "toml") {
            out.push(regular(&p).map_err(std::io::Error::other)?);
        }
    }
    Ok(())
}

/// What `oracle` runs.
struct OracleWhat {
    cpu: Option<usize>,
    memory: bool,
    smt: bool,
    kvm: bool,
    limit: Option<usize>,
    import: Option<PathBuf>,
}

/// The kernel the user named: `--kernel-version`, or `--kernel` with its
/// `--modules` and `--headers`.
struct Given {
    kernel_version: Option<String>,
    kernel: Option<PathBuf>,
    modules: Option<PathBuf>,
    headers: Option<PathBuf>,
}

fn cmd_oracle(what: &OracleWhat, given: &Given, timeout: u64, print_script: Option<&Path>) -> Result<ExitCode, String> {
    use hotplug_fi::oracle;
    if let Some(case) = print_script {
        let case = load(case).map_err(|e| e.to_string())?;
        say_raw!("{}", oracle::cases::print_translation(&case));
        return Ok(ExitCode::SUCCESS);
    }
    let OracleWhat { cpu, memory, smt, limit, import, kvm } = what;
    let (cpu, memory, smt, limit, kvm) = (*cpu, *memory, *smt, *limit, *kvm);
    if cpu.is_none() && !memory && !smt && import.is_none() {
        return Err(
            "nothing to run: give --sweep-cpu N, --memory, --smt or --import-profile FILE (or --print-script CASE)"
                .into(),
        );
    }
    if timeout == 0 {
        return Err("--timeout 0: give the seconds the guest may take, at least 1".into());
    }
    let plan = oracle::Plan { cpu, memory, limit, smt: false, kvm };
    plan.check()?;
    if let Some(file) = import {
        oracle::check_target(file)?;
    }
    let (_, pieces) = oracle_pieces(given)?;
    let limits = oracle::Limits::total(std::time::Duration::from_secs(timeout));
    if let Some(file) = import {
        let text = oracle::import_profile(&pieces, limits)?;
        let imported = oracle::write_profile(file, &text)?;
        let builtin = hotplug_fi::kernel::cpuhotplug::Profile::builtin("debian-6.1").expect("built in");
        let diff = imported.differences(&builtin);
        say!("wrote {} ({} states); differences from debian-6.1: {}", file.display(), imported.state.len(), diff.len());
        for d in &diff {
            say!("  {d}");
        }
        if cpu.is_none() && !memory && !smt {
            return Ok(ExitCode::SUCCESS);
        }
    }
    let mut out = if cpu.is_some() || memory {
        oracle::run(&pieces, &plan, limits)?
    } else {
        oracle::Outcome { rows: Vec::new(), boot_secs: 0.0, total_secs: 0.0, kernel: pieces.version.clone() }
    };
    if smt {
        let s = oracle::run(&pieces, &oracle::Plan { smt: true, kvm, ..Default::default() }, limits)?;
        out.rows.extend(s.rows);
        out.total_secs += s.total_secs;
        if out.boot_secs == 0.0 {
            out.boot_secs = s.boot_secs;
        }
    }
    say!("{:<64} {:<24} {:<24} verdict", "scenario", "real", "model");
    for r in &out.rows {
        let verdict = if r.agrees() { "agree" } else { "DISAGREE" };
        say!("{:<64} {:<24} {:<24} {verdict}", r.scenario, r.real, r.model);
    }
    let agree = out.rows.iter().filter(|r| r.agrees()).count();
    say!(
        "agreement: {agree}/{} ({:.1}%), boot {:.2} s to /init, {:.2} s in all",
        out.rows.len(),
        100.0 * agree as f64 / out.rows.len() as f64,
        out.boot_secs,
        out.total_secs
    );
    Ok(if agree == out.rows.len() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Where the oracle's pieces are (the kernel given, the cache and the
/// environment's overrides), and the pieces found there, the kernel said.
fn oracle_pieces(
    given: &Given,
) -> Result<(hotplug_fi::oracle::pieces::Where, hotplug_fi::oracle::pieces::Pieces), String> {
    use hotplug_fi::oracle::{debian, pieces};
    let w = pieces::Where {
        cache: PathBuf::from("target/oracle"),
        kernel: given.kernel.clone(),
        modules: given.modules.clone(),
        headers: given.headers.clone(),
        want: debian::Want::parse(given.kernel_version.as_deref())?,
        qemu: std::env::var_os("HOTPLUG_ORACLE_QEMU").map(PathBuf::from),
        busybox: std::env::var_os("HOTPLUG_ORACLE_BUSYBOX").map(PathBuf::from),
        path: None,
    };
    let pieces = pieces::find(&w, &mut |m| eprintln!("oracle: {m}"))?;
    say!("kernel: {}", pieces.version);
    Ok((w, pieces))
}

/// `oracle CASE|DIR...`: the cases on the real kernel, against the model.
fn cmd_oracle_cases(paths: &[PathBuf], given: &Given) -> Result<ExitCode, String> {
    use hotplug_fi::oracle;
    let start = Instant::now();
    let files = discover(paths)?;
    if files.is_empty() {
        return Err("no case files found".into());
    }
    let cases = files.iter().map(|f| load(f).map_err(|e| e.to_string())).collect::<Result<Vec<_>, _>>()?;
    let (w, pieces) = oracle_pieces(given)?;
    let built = oracle::kmod::Abi::of(&pieces)
        .and_then(|abi| oracle::kmod::build(&w.cache, &abi, Path::new("kmod"), &mut |m| eprintln!("oracle: {m}")));
    let mut plans = oracle::cases::plan(&cases);
    // The default kernel must build the module (CI runs it); another
    // Debian kernel may not (its headers may want a compiler this machine
    // lacks), and then only the cases that need the module are skipped.
    let default = pieces.debian.as_ref().is_some_and(|k| k.abi == oracle::debian::DEFAULT_ABI);
    let ko = match built {
        Ok(b) => Some(b.ko),
        Err(e) if pieces.debian.is_some() && !default => {
            say!("test module: not built, the cases that need it are skipped: {e}");
            oracle::cases::without_module(&mut plans, &e);
            None
        }
        Err(e) => return Err(e),
    };
    let results = oracle::cases::run(&pieces, ko.as_deref(), &cases, plans, &mut |m| eprintln!("oracle: {m}"));
    let ok = oracle::cases::report(&results, &mut |l| say!("{l}"));
    say!("wall time: {:.1} s", start.elapsed().as_secs_f64());
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// How `sweep` and `explore` print their results.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Text,
    Json,
    Ktap,
}

/// Prints a results document as JSON or KTAP.
fn print_results(r: &hotplug_fi::results::Results, format: Format) {
    match format {
        Format::Json => say!("{}", r.to_json()),
        Format::Ktap => say_raw!("{}", hotplug_fi::results::ktap(r)),
        Format::Text => {}
    }
}

fn cmd_sweep(paths: &[PathBuf], (format, html): (Format, Option<&Path>), opts: &RunOpts) -> Result<ExitCode, String> {
    let opts = &RunOpts { timeline: html.is_some(), ..opts.clone() };
    let paths = if paths.is_empty() { vec![PathBuf::from("cases")] } else { paths.to_vec() };
    let files = discover(&paths)?;
    if files.is_empty() {
        return Err("no case files found".into());
    }
    let start = Instant::now();
    let bar = progress(files.len() as u64);
    let mut summary = Summary::default();
    let mut pages = Vec::new();
    // Cases run on every core, each exploring on its own thread, and come
    // back in file order: the summary is the same bytes on any number.
    let inner = RunOpts { jobs: 1, ..opts.clone() };
    let work = |i: usize| {
        let f = &files[i];
        let run = load(f)
            .map_err(|e| e.to_string())
            .and_then(|c| explore::run_case(&c, &inner, None).map(|r| (c, r)).map_err(|e| e.to_string()));
        (f, run)
    };
    explore::pool::ordered(explore::pool::threads(opts.jobs), (0..files.len()).collect(), work, |(f, run)| {
        // The bar appears only once the sweep has run for a second.
        if bar.is_hidden() && start.elapsed().as_secs() >= 1 {
            bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        }
        bar.set_message(f.display().to_string());
        match run {
            Ok((case, run)) => {
                if html.is_some() {
                    pages.extend(hotplug_fi::html::case_pages(&case, &run));
                }
                summary.add(&case, &run, opts);
                summary.results.push(hotplug_fi::results::case_result(&case, &run));
            }
            Err(e) => {
                summary.results.push(hotplug_fi::results::error_result(&f.display().to_string(), e.clone()));
                summary.errors.push(e);
            }
        }
        bar.inc(1);
        true
    });
    bar.finish_and_clear();
    if let Some(dir) = html {
        hotplug_fi::html::write_dir(dir, "sweep", &pages)?;
    }
    let suite = summary.lock_graph();
    if format == Format::Text {
        summary.print(files.len(), start.elapsed().as_secs_f64());
    } else {
        print_results(&hotplug_fi::results::Results::new("sweep", std::mem::take(&mut summary.results), suite), format);
    }
    Ok(if summary.failures.is_empty() && summary.errors.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// A progress line on stderr for `explore` and `shrink`: a bar when the
/// total is known, a count when it is not. Drawn only on a terminal
/// (indicatif draws nothing to a pipe), so piped output stays clean.
fn watch(total: Option<u64>) -> indicatif::ProgressBar {
    let (bar, template) = match total {
        Some(n) => (indicatif::ProgressBar::new(n), "{elapsed} [{bar:30}] {pos}/{len} {msg} ({per_sec})"),
        None => (indicatif::ProgressBar::no_length(), "{elapsed} {spinner} {pos} {msg} ({per_sec})"),
    };
    bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    bar.set_style(
        indicatif::ProgressStyle::with_template(template).expect("the template is valid").progress_chars("=> "),
    );
    bar
}

fn progress(n: u64) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::with_draw_target(Some(n), indicatif::ProgressDrawTarget::hidden());
    bar.set_style(
        indicatif::ProgressStyle::with_template("{elapsed} [{bar:30}] {pos}/{len} {msg}")
            .expect("the template is valid")
            .progress_chars("=> "),
    );
    bar
}

#[derive(Default)]
struct Summary {
    scenarios: usize,
    outcomes: usize,
    /// Interleaving cases: distinct outcomes over all explored schedules.
    interleaving_outcomes: usize,
    rollbacks: usize,
    splats: std::collections::BTreeMap<&'static str, usize>,
    failures: Vec<String>,
    errors: Vec<String>,
    interleavings: Vec<String>,
    /// Every case's lock dependencies (but those declaring a cycle), in
    /// path order: the suite's lock graph.
    locks: hotplug_fi::kernel::locking::lockdep::Graph,
    guarded: Vec<String>,
    /// Each case as `--format json` and `ktap` give it.
    results: Vec<hotplug_fi::results::CaseResult>,
}

impl Summary {
    fn add(&mut self, case: &Case, run: &explore::CaseRun, opts: &RunOpts) {
        self.scenarios += 1 + usize::from(run.faulted.is_some()) + run.runs.len();
        self.outcomes += run.outcomes.len();
        if let Some(inter) = &run.interleavings {
            self.interleaving_outcomes += inter.outcomes.len();
            self.interleavings.push(format!("{}: {}", case.id, inter.summary));
        }
        for r in std::iter::once(&run.plain).chain(&run.faulted).chain(&run.runs) {
            self.rollbacks += usize::from(r.rolled_back);
            for sp in &r.result.state.trace.splats {
                *self.splats.entry(sp.kind.label()).or_default() += 1;
            }
        }
        if case.expect_lock_cycles.is_empty() {
            self.locks.merge(&run.locks);
        }
        for (r, v) in run.violations() {
            self.failures.push(format!("{}: {v}\n    reproduce: {}", case.id, verdict::repro(case, &r.scenario, opts)));
        }
    }

    /// The suite's lock graph: unguarded cycles are failures, returned as
    /// the results document's suite violations.
    fn lock_graph(&mut self) -> Vec<hotplug_fi::results::ViolationResult> {
        let mut suite = Vec::new();
        for c in self.locks.cycles() {
            match &c.guard {
                None => {
                    let v = hotplug_fi::check::Violation::new(hotplug_fi::check::Check::LockdepSuite, c.report());
                    suite.push(hotplug_fi::results::suite_violation(&v));
                    self.failures.push(v.to_string());
                }
                Some(g) => self.guarded.push(format!("{} (under {g})", c.path())),
            }
        }
        suite
    }

    fn print(&self, cases: usize, secs: f64) {
        say!("cases:      {cases}");
        say!("scenarios:  {}", self.scenarios);
        say!("outcomes:   {}", self.outcomes);
        if !self.interleavings.is_empty() {
            say!(
                "interleavings: {} distinct outcome(s) over {} case(s)",
                self.interleaving_outcomes,
                self.interleavings.len()
            );
            for i in &self.interleavings {
                say!("  {i}");
            }
        }
        say!("rollbacks:  {} scenarios rolled back", self.rollbacks);
        say!("lock graph: {} guarded cycle(s) over the suite", self.guarded.len());
        for g in &self.guarded {
            say!("  {g}");
        }
        let splats: Vec<String> = self.splats.iter().map(|(k, n)| format!("{k} {n}")).collect();
        say!("splats:     {}", if splats.is_empty() { "none".into() } else { splats.join(", ") });
        say!("failures:   {}", self.failures.len());
        for f in &self.failures {
            say!("  {f}");
        }
        // A case that cannot run is counted, not only listed: the exit
        // status says the sweep failed, and so does the summary.
        say!("errors:     {} case file(s) could not run", self.errors.len());
        for e in &self.errors {
            say!("  error: {e}");
        }
        say!("time:       {secs:.2} s");
    }
}
