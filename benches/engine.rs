//! Benchmarks, reported as medians (`cargo bench`):
//!
//! - (a) one full `cpu_down` + `cpu_up` of one CPU through the default
//!   profile, tracing on: a run of many cycles on one machine, divided.
//! - (b) the sweep on an 8-CPU machine: every site the plain `cpu_down` +
//!   `cpu_up` of each CPU reaches, in both directions, each as its own
//!   scenario.
//! - (c) the explorer on the slab race case.
//! - (d) the explorer on the stranded-IPI race case, exhaustive and PCT.
//! - (e) the sweep of every memory failpoint of a 16-block machine.
//! - (f) CPU scaling: one `cpu_down 1` + `cpu_up 1` cycle, as (a), on 2, 8,
//!   16, 32, 64 and 256 CPUs. `BENCH_ONLY_SCALE=N BENCH_CYCLES=K` runs one
//!   machine of N CPUs through K cycles and nothing else, for callgrind:
//!   the instructions of K=11 less those of K=1, divided by 10, are one
//!   cycle's.
//!
//! A plain harness rather than criterion: the figures the issues ask for are
//! medians of a few runs, and criterion's dependency tree would double the
//! test build on 2 cores.

use std::time::Instant;

use hotplug_fi::case::Case;
use hotplug_fi::engine::{self, RunOpts};
use hotplug_fi::explore::{self, SWEEP_ACTION};

const CYCLES: usize = 200;
const RUNS: usize = 51;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).expect("timings are numbers"));
    v[v.len() / 2]
}

fn cycle_case(cycles: usize) -> Case {
    cycle_case_on(2, cycles)
}

fn cycle_case_on(cpus: usize, cycles: usize) -> Case {
    let ops: Vec<String> =
        (0..cycles).flat_map(|_| ["\"cpu_down 1\"".to_string(), "\"cpu_up 1\"".to_string()]).collect();
    let text = format!("description = \"bench\"\nops = [{}]\n[machine]\ncpus = {cpus}\n", ops.join(", "));
    Case::parse("bench-a.toml", "bench-a", &text).expect("the bench case parses")
}

fn bench_a() {
    let one = cycle_case(1);
    let many = cycle_case(CYCLES);
    let opts = RunOpts::default();
    let mut per_cycle = Vec::new();
    for _ in 0..RUNS {
        let t = Instant::now();
        let base = engine::run(&one, &[], &opts).expect("runs");
        let t_one = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let res = engine::run(&many, &[], &opts).expect("runs");
        let t_many = t.elapsed().as_secs_f64();
        assert!(res.results().iter().all(|r| *r == Some(0)), "a cycle failed");
        assert!(res.state.trace.events.len() > base.state.trace.events.len() * (CYCLES / 2));
        per_cycle.push((t_many - t_one) / (CYCLES - 1) as f64);
    }
    println!(
        "bench (a) cpu_down+cpu_up of one CPU, debian-6.1, tracing on: median {:.2} us/cycle ({RUNS} runs of {CYCLES} cycles)",
        median(per_cycle) * 1e6
    );
}

/// Runs a sweep case `RUNS` times: the times, and how many scenarios it
/// swept. Every scenario fails once with the sweep action, and the case
/// must pass.
fn time_sweep(case: &Case) -> (Vec<f64>, usize) {
    let opts = RunOpts::default();
    let mut times = Vec::new();
    let mut scenarios = 0;
    for _ in 0..RUNS {
        let t = Instant::now();
        let run = explore::run_case(case, &opts, None).expect("the sweep runs");
        times.push(t.elapsed().as_secs_f64());
        scenarios = run.runs.len();
        assert!(run.runs.iter().all(|r| r.scenario.faults[0].1 == SWEEP_ACTION));
        assert!(run.violations().is_empty(), "the bench case must pass");
    }
    (times, scenarios)
}

fn bench_b() {
    let ops: Vec<String> = (1..8).flat_map(|c| [format!("\"cpu_down {c}\""), format!("\"cpu_up {c}\"")]).collect();
    let text = format!("description = \"bench\"\nops = [{}]\nsweep = \".*\"\n[machine]\ncpus = 8\n", ops.join(", "));
    let case = Case::parse("bench-b.toml", "bench-b", &text).expect("the bench case parses");
    let (times, scenarios) = time_sweep(&case);
    println!(
        "bench (b) 8-CPU sweep, every site of cpu_down+cpu_up of CPUs 1-7: {scenarios} scenarios, median {:.3} s total ({:.1} us/scenario)",
        median(times.clone()),
        median(times) / scenarios as f64 * 1e6
    );
}

/// (c) the explorer on the slab race case: schedules per second, and the
/// time for exhaustive search with bound 2 to find both races.
fn bench_c() {
    use std::collections::BTreeSet;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("cases");
    let case = Case::load(&root.join("slab/create-destroy-vs-hotplug.toml"), &root).expect("the slab case loads");
    let opts = RunOpts {
        regressions: BTreeSet::from([hotplug_fi::kernel::Regression::SlabCreateDestroyUnlocked]),
        record_sites: false,
        ..Default::default()
    };
    let strategy = hotplug_fi::case::Strategy::Exhaustive { bound: 2, runs: hotplug_fi::case::limits::EXHAUSTIVE_RUNS };
    let mut times = Vec::new();
    let mut executed = 0;
    for _ in 0..7 {
        let t = Instant::now();
        let ex = hotplug_fi::explore::interleave::explore(&case, &opts, &strategy);
        times.push(t.elapsed().as_secs_f64());
        executed = ex.executed;
        let races =
            ex.outcomes.iter().filter(|r| r.run.violations.iter().any(|v| v.message.contains("NULL pointer"))).count();
        assert!(races >= 2, "both races found");
    }
    let t = median(times);
    println!(
        "bench (c) slab race case, exhaustive bound 2, both races found: {executed} schedules, median {t:.3} s ({:.0} schedules/s)",
        executed as f64 / t
    );
}

/// (d) the explorer on the stranded-IPI race (`smp-no-flush-on-dying` on):
/// how many schedules exhaustive (bound 2) and PCT (seed 1, depth 3, 10,000
/// runs) need before the first violating one, and their total times.
fn bench_d() {
    use std::collections::BTreeSet;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("cases");
    let case = Case::load(&root.join("regression/smp-no-flush-on-dying.toml"), &root).expect("the race case loads");
    let opts = RunOpts {
        regressions: BTreeSet::from([hotplug_fi::kernel::Regression::SmpNoFlushOnDying]),
        record_sites: false,
        ..Default::default()
    };
    let strategies = [
        hotplug_fi::case::Strategy::Exhaustive { bound: 2, runs: hotplug_fi::case::limits::EXHAUSTIVE_RUNS },
        hotplug_fi::case::Strategy::Pct { runs: 10_000, seed: 1, depth: 3 },
    ];
    for strategy in strategies {
        let mut times = Vec::new();
        let (mut executed, mut first) = (0, 0);
        for _ in 0..7 {
            let t = Instant::now();
            let ex = hotplug_fi::explore::interleave::explore(&case, &opts, &strategy);
            times.push(t.elapsed().as_secs_f64());
            executed = ex.executed;
            first = ex
                .outcomes
                .iter()
                .filter(|r| r.run.violations.iter().any(|v| v.message.contains("still queued on CPU2")))
                .map(|r| r.first_run)
                .min()
                .expect("the race is found");
        }
        let t = median(times);
        println!(
            "bench (d) IPI race case, {strategy:?}: first violation at schedule {first} of {executed}, median {t:.3} s total ({:.0} schedules/s, ~{:.1} ms to the first)",
            executed as f64 / t,
            t * first as f64 / executed as f64 * 1e3
        );
    }
}

/// (e) every memory failpoint of a 16-block machine: offline and online
/// each block without holes, sweeping `memory/.*` (each site its own
/// scenario).
fn bench_e() {
    let ops: Vec<String> = (1..15)
        .flat_map(|b| [format!("\"echo offline > memory{b}/state\""), format!("\"echo online > memory{b}/state\"")])
        .collect();
    let text = format!(
        "description = \"bench\"\nops = [{}]\nsweep = \"memory/.*\"\n[machine]\ncpus = 2\n[memory]\nboot_blocks = 16\nholes = [0, 15]\n",
        ops.join(", ")
    );
    let case = Case::parse("bench-e.toml", "bench-e", &text).expect("the bench case parses");
    let (times, scenarios) = time_sweep(&case);
    println!(
        "bench (e) 16-block memory sweep, every memory failpoint of offline+online of memory1-14: {scenarios} scenarios, median {:.3} s total ({:.1} us/scenario)",
        median(times.clone()),
        median(times) / scenarios as f64 * 1e6
    );
}

/// (f) one cycle as (a) on machines of 2 to 256 CPUs: fewer cycles and runs
/// than (a), as a cycle on many CPUs costs more.
fn bench_f() {
    const SCALE_CYCLES: usize = 21;
    const SCALE_RUNS: usize = 7;
    let opts = RunOpts::default();
    let mut row = Vec::new();
    for cpus in [2, 8, 16, 32, 64, 256] {
        let one = cycle_case_on(cpus, 1);
        let many = cycle_case_on(cpus, SCALE_CYCLES);
        let mut per_cycle = Vec::new();
        for _ in 0..SCALE_RUNS {
            let t = Instant::now();
            engine::run(&one, &[], &opts).expect("runs");
            let t_one = t.elapsed().as_secs_f64();
            let t = Instant::now();
            let res = engine::run(&many, &[], &opts).expect("runs");
            let t_many = t.elapsed().as_secs_f64();
            assert!(res.results().iter().all(|r| *r == Some(0)), "a cycle failed");
            per_cycle.push((t_many - t_one) / (SCALE_CYCLES - 1) as f64);
        }
        row.push(format!("{cpus} CPUs {:.1} us", median(per_cycle) * 1e6));
    }
    println!(
        "bench (f) CPU scaling, cpu_down+cpu_up of CPU1, tracing on, median us/cycle ({SCALE_RUNS} runs of {SCALE_CYCLES} cycles): {}",
        row.join(", ")
    );
}

/// `BENCH_ONLY_SCALE=N BENCH_CYCLES=K`: one run of K cycles on N CPUs.
fn scale_once(cpus: &str) {
    let cpus: usize = cpus.parse().expect("BENCH_ONLY_SCALE is a CPU count");
    let cycles: usize = std::env::var("BENCH_CYCLES").map_or(1, |k| k.parse().expect("BENCH_CYCLES is a cycle count"));
    let res = engine::run(&cycle_case_on(cpus, cycles), &[], &RunOpts::default()).expect("runs");
    assert!(res.results().iter().all(|r| *r == Some(0)), "a cycle failed");
}

fn main() {
    if let Ok(cpus) = std::env::var("BENCH_ONLY_SCALE") {
        scale_once(&cpus);
        return;
    }
    if std::env::var_os("BENCH_ONLY_A").is_some() {
        bench_a();
        return;
    }
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    bench_a();
    bench_b();
    bench_c();
    bench_d();
    bench_e();
    bench_f();
}
