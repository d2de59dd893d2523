//! Bad input gets a clear error with the file, line and column and what
//! would have been valid; never a panic, never a silently empty run.

use hotplug_fi::case::Case;
use hotplug_fi::case::limits;
use hotplug_fi::engine::RunOpts;
use hotplug_fi::explore;
use rstest::rstest;

const MACHINE: &str = "\n[machine]\ncpus = 2\n";

/// A case whose top-level `ops` is `ops`, on 2 CPUs, with `rest` after `[machine]`.
fn case(ops: &str, rest: &str) -> String {
    format!("description = \"x\"\nops = [{ops}]\n{MACHINE}{rest}")
}

/// A case with `n` threads, each named `t<i>` (line 4 + 3i names the i-th).
fn threads(n: usize) -> String {
    let t: String = (0..n).map(|i| format!("[[thread]]\nname = \"t{i}\"\nops = [\"cpu_up 1\"]\n")).collect();
    format!("description = \"x\"\nops = [\"cpu_down 1\"]\n{t}{MACHINE}")
}

/// A case with `n` interrupt sources, each named `d<i>` (line 4 + 4i names the i-th).
fn irqs(n: usize) -> String {
    let d: String = (0..n)
        .map(|i| format!("[[irq]]\nname = \"d{i}\"\ncpu = 1\nhandler = [\"smp_call_function_single_async 0 f\"]\n"))
        .collect();
    format!("description = \"x\"\nops = [\"cpu_down 1\"]\n{d}{MACHINE}")
}

/// A case with a `[memory]` table and one `[[memory.block]]` for memory6:
/// `[memory]` is line 6, its `rest` line 7 on; the block's `index` follows.
fn block(rest: &str, pages: &str) -> String {
    case("\"echo offline > memory6/state\"", &format!("[memory]\n{rest}[[memory.block]]\nindex = 6\n{pages}"))
}

/// A case with a thread whose `loops` is given (line 6).
fn looping(loops: &str) -> String {
    format!(
        "description = \"x\"\nops = [\"cpu_down 1\"]\n[[thread]]\nname = \"t\"\nops = [\"cpu_up 1\"]\nloops = {loops}\n{MACHINE}"
    )
}

/// A case with a thread and an `[explore]` table (line 7 on).
fn explore(table: &str) -> String {
    format!(
        "description = \"x\"\nops = [\"cpu_down 1\"]\n[[thread]]\nname = \"t\"\nops = [\"cpu_up 1\"]\n{MACHINE}[explore]\n{table}"
    )
}

/// A case with one fault at cpuhp/cpu1/down/197 and its `action` (line 5).
fn action(a: &str) -> String {
    format!(
        "description = \"x\"\nops = [\"cpu_down 1\"]\n[[fault]]\nsite = \"cpuhp/cpu1/down/197\"\naction = \"{a}\"\n{MACHINE}"
    )
}

fn error_of(text: &str) -> String {
    let case = match Case::parse("bad.toml", "bad", text) {
        Err(e) => return e.to_string(),
        Ok(c) => c,
    };
    match explore::run_case(&case, &RunOpts::default(), None) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("expected an error for:\n{text}"),
    }
}

#[rstest]
#[case::mistyped_key(
    "description = \"x\"\nops = [\"cpu_down 1\"]\n\n[machine]\ncpu = 2\n",
    "bad.toml:5:1:",
    &["unknown field `cpu`", "`cpus`"]
)]
#[case::unknown_top_level_key(
    "description = \"x\"\nopps = [\"cpu_down 1\"]\n[machine]\ncpus = 2\n",
    "bad.toml:2:1:",
    &["unknown field `opps`", "`ops`"]
)]
#[case::unknown_state_name(
    &format!("description = \"x\"\nops = [\"cpu_down 1\"]\n[[fault]]\nsite = \"cpuhp/cpu1/down/workqueue:onlin\"\n{MACHINE}"),
    "bad.toml:4:8:",
    &["unknown state `workqueue:onlin`", "did you mean `workqueue:online`", "CPUHP_AP_WORKQUEUE_ONLINE"]
)]
#[case::unknown_op(
    &format!("description = \"x\"\nops = [\"cpu_donw 1\"]\n{MACHINE}"),
    "bad.toml:2:9:",
    &["unknown operation `cpu_donw`", "did you mean `cpu_down`"]
)]
#[case::unknown_op_without_a_near_name(
    &format!("description = \"x\"\nops = [\"frobnicate\"]\n{MACHINE}"),
    "bad.toml:2:9:",
    &["unknown operation `frobnicate`; expected one of: boot, cpu_up"]
)]
#[case::empty_op(
    &format!("description = \"x\"\nops = [\"  \"]\n{MACHINE}"),
    "bad.toml:2:9:",
    &["empty operation; expected one of: boot, cpu_up"]
)]
#[case::extra_argument(
    &format!("description = \"x\"\nops = [\"cpu_down 1 2\"]\n{MACHINE}"),
    "bad.toml:2:20:",
    &["`cpu_down` takes 1 argument(s), got 2"]
)]
#[case::missing_argument(
    &format!("description = \"x\"\nops = [\"smp_call_function_single 1 f\"]\n{MACHINE}"),
    "bad.toml:2:9:",
    &["`smp_call_function_single` takes 3 argument(s), got 2"]
)]
#[case::registration_arity_is_reported_at_the_name(
    &format!("description = \"x\"\nops = [\"cpuhp_state_add_instance s i j\"]\n{MACHINE}"),
    "bad.toml:2:9:",
    &["`cpuhp_state_add_instance` takes 2 argument(s), got 3"]
)]
#[case::add_memory_arity(
    &format!("description = \"x\"\nops = [\"add_memory 32 0 1\"]\n{MACHINE}"),
    "bad.toml:2:9:",
    &["`add_memory` takes a block number and optionally a node"]
)]
#[case::slab_op_without_the_slab_model(
    &format!("description = \"x\"\nops = [\"cpu_up 1\", \"kmem_cache_create c\"]\n{MACHINE}"),
    "bad.toml:2:20:",
    &["slab operations need the slab model"]
)]
#[case::cpu_out_of_range(
    &format!("description = \"x\"\nops = [\"cpu_down 7\"]\n{MACHINE}"),
    "bad.toml:2:18:",
    &["`7` is not a CPU", "CPUs 0 to 1"]
)]
#[case::percent_action(
    &format!("description = \"x\"\nops = [\"cpu_down 1\"]\n[[fault]]\nsite = \"cpuhp/cpu1/down/197\"\naction = \"50%return\"\n{MACHINE}"),
    "bad.toml:5:11:",
    &["`50%` is refused", "cannot be seeded"]
)]
#[case::sweep_matches_no_site(
    &format!("description = \"x\"\nops = [\"cpu_down 1\"]\nsweep = \"cpuhp/cpu7/.*\"\n{MACHINE}"),
    "bad.toml:3:9:",
    &["`sweep` matches none of the", "sites the plain run reaches", "cpuhp/cpu1/down/235 (sched:active)"]
)]
#[case::failpoint_never_fired(
    &format!("description = \"x\"\nops = [\"cpu_down 1\"]\n[[fault]]\nsite = \"cpuhp/cpu1/up/197\"\n{MACHINE}"),
    "bad.toml:4:8:",
    &["`cpuhp/cpu1/up/197` (workqueue:online) was armed but never fired", "hotplug-fi failpoints"]
)]
#[case::bad_behaviour(
    &format!("description = \"x\"\nops = [\"insmod m\"]\n{MACHINE}\n[[module]]\nname = \"m\"\n[[module.state]]\nname = \"m:online\"\nat = \"CPUHP_AP_ONLINE_DYN\"\nstartup = \"alloc, sleeep\"\n"),
    "bad.toml:12:19:",
    &["unknown behaviour `sleeep`", "alloc, free, sleep"]
)]
#[case::cpu_down_without_hotplug(
    "description = \"x\"\nops = [\"cpu_down 1\"]\n[machine]\ncpus = 2\nhotplug_cpu = false\n",
    "bad.toml:2:9:",
    &["`cpu_down` is not built with `hotplug_cpu = false`"]
)]
#[case::unknown_cmdline(
    "description = \"x\"\nops = [\"boot\"]\n[machine]\ncpus = 2\ncmdline = \"nosmt nohz=off\"\n",
    "bad.toml:5:18:",
    &["unknown kernel parameter `nohz=off`", "`nosmt`"]
)]
#[case::apic_ids_wrong_length(
    "description = \"x\"\nops = [\"boot\"]\n[machine]\ncpus = 2\napic_ids = [0, 1, 2]\n",
    "bad.toml:5:12:",
    &["`apic_ids` lists 3 APIC id(s); it needs one per CPU, 2 for `cpus = 2`"]
)]
#[case::apic_ids_duplicate(
    "description = \"x\"\nops = [\"boot\"]\n[machine]\ncpus = 3\napic_ids = [0, 4, 4]\n",
    "bad.toml:5:19:",
    &["APIC id 4 of CPU 2 is CPU 1's already; each CPU needs its own APIC id"]
)]
#[case::apic_id_too_big(
    "description = \"x\"\nops = [\"boot\"]\n[machine]\ncpus = 2\napic_ids = [0, 32768]\n",
    "bad.toml:5:16:",
    &["APIC id 32768 of CPU 1 must be 0 to 32767 (below MAX_LOCAL_APIC)"]
)]
#[case::present_above_cpus(
    "description = \"x\"\nops = [\"boot\"]\n[machine]\ncpus = 2\npresent = 3\n",
    "bad.toml:5:11:",
    &["`present = 3` must be 1 to `cpus = 2`"]
)]
#[case::bad_acpi_site(
    &format!("description = \"x\"\nops = [\"acpi_cpu_hot_add 1\"]\n[[fault]]\nsite = \"acpi/cpu1/hot_add/register_cpus\"\n{MACHINE}"),
    "bad.toml:4:8:",
    &["unknown ACPI hot-add step `register_cpus`", "did you mean `register_cpu`"]
)]
#[case::bad_expectation(
    &format!("description = \"x\"\nops = [\"cpu_down 1 => -EWHAT\"]\n{MACHINE}"),
    "bad.toml:2:23:",
    &["expected result `-EWHAT`"]
)]
#[case::ipi_site_typo(
    &format!("description = \"x\"\nops = [\"cpu_down 1\"]\n[[fault]]\nsite = \"smp/cpu1/ipo\"\n{MACHINE}"),
    "bad.toml:4:8:",
    &["unknown site `smp/cpu1/ipo`", "smp/cpu<N>/ipi"]
)]
#[case::ipi_action_is_not_an_errno(
    &format!("description = \"x\"\nops = [\"cpu_down 1\"]\n[[fault]]\nsite = \"smp/cpu0/ipi\"\naction = \"return(-ENOMEM)\"\n{MACHINE}"),
    "bad.toml:5:11:",
    &["holds the IPI back for N steps", "bare `return`"]
)]
#[case::ipi_failpoint_never_fired(
    &format!("description = \"x\"\nops = [\"cpu_down 1\"]\n[[fault]]\nsite = \"smp/cpu1/ipi\"\n{MACHINE}"),
    "bad.toml:4:8:",
    &["`smp/cpu1/ipi` (call-function IPI) was armed but never fired"]
)]
#[case::irq_handler_runs_a_sleeping_op(
    &format!("description = \"x\"\nops = [\"cpu_down 1\"]\n[[irq]]\nname = \"d\"\ncpu = 1\nhandler = [\"cpu_down 1\"]\n{MACHINE}"),
    "bad.toml:6:12:",
    &["`cpu_down 1` cannot run in an interrupt handler", "smp_call_function_single_async CPU FUNC"]
)]
#[case::irq_on_a_missing_cpu(
    &format!("description = \"x\"\nops = [\"cpu_down 1\"]\n[[irq]]\nname = \"d\"\ncpu = 5\nhandler = [\"smp_call_function_single_async 0 f\"]\n{MACHINE}"),
    "bad.toml:5:7:",
    &["CPU 5 does not exist", "CPUs 0 to 1"]
)]
#[case::bad_wait_argument(
    &format!("description = \"x\"\nops = [\"smp_call_function_single 1 f 2\"]\n{MACHINE}"),
    "bad.toml:2:38:",
    &["`2` is not a `wait` argument", "0 or 1"]
)]
#[case::memory_step_typo(
    &format!("description = \"x\"\nops = [\"echo offline > memory6/state\"]\n[[fault]]\nsite = \"memory/memory6/offline/migrat\"\n{MACHINE}"),
    "bad.toml:4:8:",
    &["unknown memory step `offline/migrat`", "did you mean `offline/migrate`", "offline/MEM_GOING_OFFLINE"]
)]
#[case::memory_failpoint_never_fired(
    &format!("description = \"x\"\nops = [\"echo offline > memory6/state\"]\n[[fault]]\nsite = \"memory/memory5/offline/migrate\"\n{MACHINE}"),
    "bad.toml:4:8:",
    &["`memory/memory5/offline/migrate`", "was armed but never fired"]
)]
#[case::memory_block_pages_do_not_add_up(
    &format!("description = \"x\"\nops = [\"echo offline > memory6/state\"]\n{MACHINE}[memory]\n[[memory.block]]\nindex = 6\nfree = 3\nmovable = 2\n"),
    "bad.toml:8:9:",
    &["memory6: free + movable + pinned + unmovable must be 16 pages, got 5"]
)]
#[case::auto_online_typo(
    &format!("description = \"x\"\nops = [\"add_memory 32\"]\n{MACHINE}[memory]\nauto_online_blocks = \"onlin\"\n"),
    "bad.toml:7:22:",
    &["expected \"online\" or \"offline\""]
)]
#[case::non_ascii_before_the_error(
    &case("\"cpu_up € x\"", ""),
    "bad.toml:2:18:",
    &["`cpu_up` takes 1 argument(s), got 2"]
)]
#[case::escape_before_the_error(
    &case("\"cpu_up\\t1 x\"", ""),
    "bad.toml:2:19:",
    &["`cpu_up` takes 1 argument(s), got 2"]
)]
#[case::unicode_escape_before_the_error(
    &case("\"cpu_up \\u00e9 x\"", ""),
    "bad.toml:2:23:",
    &["`cpu_up` takes 1 argument(s), got 2"]
)]
#[case::multi_line_string_error_on_its_second_line(
    &case("\"\"\"\ncpu_up 1\n  x\"\"\"", ""),
    "bad.toml:4:3:",
    &["`cpu_up` takes 1 argument(s), got 2"]
)]
#[case::escape_before_a_behaviour_error(
    &format!("description = \"x\"\nops = [\"insmod m\"]\n{MACHINE}\n[[module]]\nname = \"m\"\n[[module.state]]\nname = \"m:online\"\nat = \"CPUHP_AP_ONLINE_DYN\"\nstartup = \"alloc,\\tsleeep\"\n"),
    "bad.toml:12:20:",
    &["unknown behaviour `sleeep`"]
)]
#[case::behaviour_fails_on_a_missing_cpu(
    &format!("description = \"x\"\nops = [\"insmod m\"]\n{MACHINE}\n[[module]]\nname = \"m\"\n[[module.state]]\nname = \"m:online\"\nat = \"CPUHP_AP_ONLINE_DYN\"\nstartup = \"fail -ENOMEM on cpu 2\"\n"),
    "bad.toml:12:32:",
    &["CPU 2 does not exist", "CPUs 0 to 1"]
)]
#[case::loops_zero(&looping("0"), "bad.toml:6:9:", &["`loops` must be 1 to 1000 (loops_max), not 0"])]
#[case::loops_max(&looping("1001"), "bad.toml:6:9:", &["`loops` must be 1 to 1000 (loops_max), not 1001"])]
#[case::migrate_bound_zero(
    &case("\"echo offline > memory6/state\"", "[memory]\nmigrate_bound = 0\n"),
    "bad.toml:7:17:",
    &["`migrate_bound` must be 1 to 1000 (migrate_bound_max), not 0"]
)]
#[case::migrate_bound_max(
    &case("\"echo offline > memory6/state\"", "[memory]\nmigrate_bound = 1001\n"),
    "bad.toml:7:17:",
    &["`migrate_bound` must be 1 to 1000 (migrate_bound_max), not 1001"]
)]
#[case::boot_as_a_later_operation(
    &case("\"cpu_down 1\", \"boot\"", ""),
    "bad.toml:2:22:",
    &["`boot` runs only as the first of the case's `ops`"]
)]
#[case::boot_in_a_thread(
    &format!("description = \"x\"\nops = [\"cpu_down 1\"]\n[[thread]]\nname = \"t\"\nops = [\"boot\"]\n{MACHINE}"),
    "bad.toml:5:8:",
    &["`boot` runs only as the first of the case's `ops`, not in a thread"]
)]
#[case::two_threads_with_one_name(
    &format!("description = \"x\"\nops = [\"cpu_down 1\"]\n[[thread]]\nname = \"t\"\nops = [\"cpu_up 1\"]\n[[thread]]\nname = \"t\"\nops = [\"cpu_up 1\"]\n{MACHINE}"),
    "bad.toml:7:8:",
    &["a second thread named `t`"]
)]
#[case::two_interrupt_sources_with_one_name(
    &irqs(2).replace("\"d1\"", "\"d0\""),
    "bad.toml:8:8:",
    &["a second interrupt source named `d0`"]
)]
#[case::a_thread_without_operations(
    &format!("description = \"x\"\nops = [\"cpu_down 1\"]\n[[thread]]\nname = \"t\"\nops = []\n{MACHINE}"),
    "bad.toml:4:8:",
    &["thread `t` has an empty `ops`"]
)]
#[case::action_space_before_the_star(&action("1 *return"), "bad.toml:5:11:", &["`1 *return` has a space inside", "an action is `return`, `return(-ERRNO)` or `off`"])]
#[case::action_space_after_the_star(&action("1* return"), "bad.toml:5:11:", &["`1* return` has a space inside", "`N*` first"])]
#[case::action_second_term(&action("return->0*off"), "bad.toml:5:19:", &["`0*` needs a whole number of times, at least 1", "joined by `->`"])]
#[case::action_sleep(&action("sleep(10)"), "bad.toml:5:11:", &["`sleep` is refused", "real thread"])]
#[case::action_unknown_task(&action("retrun"), "bad.toml:5:11:", &["`retrun` is not an action", "`return(-ERRNO)`"])]
#[case::action_of_the_second_fault(
    &format!("description = \"x\"\nops = [\"cpu_down 1\"]\n[[fault]]\nsite = \"cpuhp/cpu1/down/197\"\n[[fault]]\nsite = \"cpuhp/cpu1/down/196\"\naction = \"return->1 *return\"\n{MACHINE}"),
    "bad.toml:7:19:",
    &["`1 *return` has a space inside"]
)]
#[case::add_memory_past_16_bits(
    &case("\"add_memory 65536\"", ""),
    "bad.toml:2:20:",
    &["a memory block number must be 0 to 4095 (below blocks_max = 4096), not 65536"]
)]
#[case::blocks_max_add_memory(
    &case("\"add_memory 4096\"", ""),
    "bad.toml:2:20:",
    &["must be 0 to 4095 (below blocks_max = 4096), not 4096"]
)]
#[case::blocks_max_remove_memory(&case("\"remove_memory 4096\"", ""), "bad.toml:2:23:", &["(below blocks_max = 4096), not 4096"])]
#[case::blocks_max_memory_file(
    &case("\"echo offline > memory4096/state\"", ""),
    "bad.toml:2:24:",
    &["(below blocks_max = 4096), not 4096"]
)]
#[case::blocks_max_memory_site(
    &format!("description = \"x\"\nops = [\"echo offline > memory6/state\"]\n[[fault]]\nsite = \"memory/memory65536/offline/migrate\"\n{MACHINE}"),
    "bad.toml:4:8:",
    &["(below blocks_max = 4096), not 65536"]
)]
#[case::blocks_max_boot_blocks(
    &case("\"add_memory 32\"", "[memory]\nboot_blocks = 4097\n"),
    "bad.toml:7:15:",
    &["`boot_blocks` must be 1 to 4096 (blocks_max), not 4097"]
)]
#[case::boot_blocks_zero(
    &case("\"add_memory 32\"", "[memory]\nboot_blocks = 0\n"),
    "bad.toml:7:15:",
    &["`boot_blocks` must be 1 to 4096 (blocks_max), not 0"]
)]
#[case::a_hole_past_the_boot_blocks(
    &case("\"add_memory 32\"", "[memory]\nholes = [0, 8]\n"),
    "bad.toml:7:13:",
    &["memory8 is not a boot block; boot blocks are memory0 to memory7"]
)]
#[case::pages_overflow(&block("", "movable = 4294967295\n"), "bad.toml:9:11:", &["`movable` must be 0 to 16 (pages_max), not 4294967295"])]
#[case::pages_max(&block("", "pinned = 17\n"), "bad.toml:9:10:", &["`pinned` must be 0 to 16 (pages_max), not 17"])]
#[case::pages_negative(&block("", "free = -1\n"), "bad.toml:9:8:", &["`free` must be 0 to 16 (pages_max), not -1"])]
#[case::pages_sum_over(
    &block("", "movable = 16\nunmovable = 16\n"),
    "bad.toml:8:9:",
    &["must be 16 pages, got 32", "(pages_max)"]
)]
#[case::a_block_described_twice(
    &block("", "[[memory.block]]\nindex = 6\n"),
    "bad.toml:10:9:",
    &["memory6 has a second `[[memory.block]]`"]
)]
#[case::cpus_max(
    "description = \"x\"\nops = [\"cpu_down 1\"]\n[machine]\ncpus = 257\n",
    "bad.toml:4:8:",
    &["`cpus` must be 1 to 256 (cpus_max), not 257"]
)]
#[case::steps_max(
    &case("\"cpu_down 1\"", "steps_max = 10000001\n"),
    "bad.toml:6:13:",
    &["`steps_max` must be 1 to 10000000 (steps_max), not 10000001"]
)]
#[case::ops_max(
    &case(&vec!["\"cpu_up 1\""; 1001].join(", "), ""),
    "bad.toml:2:12008:",
    &["at most 1000 operations in `ops` (ops_max), not 1001"]
)]
#[case::threads_max(&threads(17), "bad.toml:52:8:", &["at most 16 `[[thread]]` tables (threads_max), not 17"])]
#[case::irqs_max(&irqs(17), "bad.toml:68:8:", &["at most 16 `[[irq]]` tables (irqs_max), not 17"])]
#[case::fires_max(
    &irqs(1).replace("[[irq]]\n", "[[irq]]\nfires = 1001\n"),
    "bad.toml:4:9:",
    &["`fires` must be 1 to 1000 (fires_max), not 1001"]
)]
#[case::bound_max(&explore("strategy = \"exhaustive\"\nbound = 9\n"), "bad.toml:11:9:", &["`bound` must be 0 to 8 (bound_max), not 9"])]
#[case::runs_max(&explore("strategy = \"random\"\nruns = 10000001\n"), "bad.toml:11:8:", &["`runs` must be 1 to 10000000 (runs_max), not 10000001"])]
#[case::runs_zero(&explore("strategy = \"pct\"\nruns = 0\n"), "bad.toml:11:8:", &["`runs` must be 1 to 10000000 (runs_max), not 0"])]
#[case::depth_max(&explore("strategy = \"pct\"\ndepth = 65\n"), "bad.toml:11:9:", &["`depth` must be 1 to 64 (depth_max), not 65"])]
#[case::a_key_of_another_strategy(
    &explore("strategy = \"exhaustive\"\nseed = 5\n"),
    "bad.toml:11:8:",
    &["`seed` goes with strategy `random` and `pct`, not `exhaustive`"]
)]
fn bad_input_is_reported_with_its_place(#[case] text: &str, #[case] place: &str, #[case] says: &[&str]) {
    let err = error_of(text);
    assert!(err.starts_with(place), "error should start with {place}: {err}");
    for s in says {
        assert!(err.contains(s), "error should say `{s}`: {err}");
    }
}

#[test]
fn an_empty_ops_list_is_an_error() {
    let err = error_of(&format!("description = \"x\"\nops = []\n{MACHINE}"));
    assert!(err.contains("`ops` is empty"), "{err}");
}

/// The kernel refusing a write is an outcome, not bad input.
#[test]
fn a_kernel_refusal_is_an_outcome() {
    let text = format!("description = \"x\"\nops = [\"echo 92 > cpu1/hotplug/fail => -EINVAL\"]\n{MACHINE}");
    let case = Case::parse("ok.toml", "ok", &text).unwrap();
    let run = explore::run_case(&case, &RunOpts::default(), None).unwrap();
    assert!(run.violations().is_empty());
}

/// Errors name the file as given, whatever directory it sits in.
#[test]
fn a_case_file_error_names_its_path() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("typo.toml");
    std::fs::write(&path, "description = \"x\"\nops = [\"cpu_up 1\"]\n[machine]\ncpus = 2\nthreads = 2\n").unwrap();
    let err = Case::load(&path, dir.path()).unwrap_err().to_string();
    assert!(err.starts_with(&format!("{}:5:1:", path.display())), "{err}");
    assert!(err.contains("unknown field `threads`"), "{err}");
}

/// Every limit of `src/case/limits.rs` is a row of the table in
/// cases/README.md, with its value.
#[test]
fn every_limit_is_in_the_readme_table() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("cases/README.md");
    let readme = std::fs::read_to_string(path).expect("cases/README.md");
    let table = &readme[readme.find("## Limits").expect("a Limits section")..];
    for l in limits::ALL {
        let row = format!("| `{}` | {} |", l.name, l.max);
        assert!(table.contains(&row), "cases/README.md's limits table lacks `{row}`");
    }
    let rows = table.lines().filter(|l| l.starts_with("| `")).count();
    assert_eq!(rows, limits::ALL.len(), "the table has a row for each limit and no other");
}
