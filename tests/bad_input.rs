//! Bad input gets a clear error with the file, line and column and what
//! would have been valid; never a panic, never a silently empty run.

use hotplug_fi::case::Case;
use hotplug_fi::engine::RunOpts;
use hotplug_fi::explore;
use rstest::rstest;

const MACHINE: &str = "\n[machine]\ncpus = 2\n";

/// A case whose top-level `ops` is `ops`, on 2 CPUs, with `rest` after `[machine]`.
fn case(ops: &str, rest: &str) -> String {
    format!("description = \"x\"\nops = [{ops}]\n{MACHINE}{rest}")
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
