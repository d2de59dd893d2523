//! The table of case operations (`hotplug_fi::case::OPERATIONS`): every row
//! is documented in `cases/README.md`, its example parses as that very
//! operation, its flags are what the parser enforces, and `hotplug-fi ops`
//! prints it.

use std::process::Command;

use hotplug_fi::case::{Case, OPERATIONS, OpSpec, ops_listing};

/// The case around one operation, in the context every row's example
/// assumes: 4 CPUs, `slab = true`, the module `demo` with the state
/// `demo:online`, and the task `hog`.
fn case_with(slab: &str, ops: &str, machine: &str, tail: &str) -> String {
    format!(
        "description = \"x\"\n{slab}ops = [{ops}]\n\n[machine]\ncpus = 4\n{machine}\n[[module]]\nname = \"demo\"\n\
         [[module.state]]\nname = \"demo:online\"\nat = \"CPUHP_AP_ONLINE_DYN\"\n[[task]]\nname = \"hog\"\n{tail}"
    )
}

fn parse(text: &str) -> Result<Case, String> {
    Case::parse("op.toml", "op", text).map_err(|e| e.to_string())
}

fn example(row: &OpSpec) -> String {
    format!("{:?}", row.example)
}

fn readme() -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("cases/README.md");
    std::fs::read_to_string(path).expect("cases/README.md")
}

/// The operations `cases/README.md`'s `ops` table names: the first word of
/// each backquoted form in its first column.
fn readme_operations(readme: &str) -> Vec<String> {
    let section = readme.split("\n## `ops`\n").nth(1).expect("an `ops` section").split("\n## ").next().unwrap();
    let rows = section.lines().filter(|l| l.starts_with("| `"));
    let first_columns = rows.map(|l| l.split(" | ").next().unwrap().to_string());
    let forms: Vec<String> =
        first_columns.flat_map(|c| c.split('`').skip(1).step_by(2).map(String::from).collect::<Vec<_>>()).collect();
    forms.iter().map(|f| f.split_whitespace().next().unwrap_or_default().to_string()).collect()
}

#[test]
fn every_row_is_documented_in_the_case_readme() {
    let text = readme();
    let named = readme_operations(&text);
    let missing: Vec<&str> = OPERATIONS.iter().map(|r| r.name).filter(|n| !named.iter().any(|x| x == n)).collect();
    assert!(missing.is_empty(), "cases/README.md's `ops` table does not name: {missing:?}");
    let stale: Vec<&String> = named.iter().filter(|n| OpSpec::find(n).is_none()).collect();
    assert!(stale.is_empty(), "cases/README.md's `ops` table names operations the parser does not know: {stale:?}");
}

#[test]
fn every_example_parses_as_its_own_row() {
    for row in OPERATIONS {
        let case = parse(&case_with("slab = true\n", &example(row), "", "")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(case.ops[0].spec.name, row.name, "`{}` parses as another row", row.example);
        assert_eq!(case.ops[0].text, row.example);
    }
}

#[test]
fn rows_are_consistent() {
    for (i, row) in OPERATIONS.iter().enumerate() {
        assert_eq!(row.usage.split_whitespace().next(), Some(row.name), "usage `{}`", row.usage);
        assert_eq!(row.example.split_whitespace().next(), Some(row.name), "example `{}`", row.example);
        assert!(!row.summary.is_empty() && !row.summary.contains('\n'), "summary of `{}`", row.name);
        assert!(OPERATIONS[..i].iter().all(|r| r.name != row.name), "`{}` has two rows", row.name);
        let later = OPERATIONS[i..].iter().skip_while(|r| r.group == row.group);
        assert!(later.clone().all(|r| r.group != row.group), "the rows of {:?} are not together", row.group);
    }
}

#[test]
fn an_interrupt_handler_runs_exactly_the_irq_rows() {
    for row in OPERATIONS {
        let irq = format!("[[irq]]\nname = \"d\"\ncpu = 1\nhandler = [{}]\n", example(row));
        let res = parse(&case_with("slab = true\n", "\"boot\"", "", &irq));
        match res {
            Ok(_) => assert!(row.flags.irq, "`{}` runs in a handler", row.name),
            Err(e) => {
                assert!(!row.flags.irq, "`{}` is refused in a handler: {e}", row.name);
                assert!(e.contains("cannot run in an interrupt handler"), "{e}");
            }
        }
    }
}

#[test]
fn hotplug_cpu_rows_are_not_built_without_it() {
    for row in OPERATIONS {
        let res = parse(&case_with("slab = true\n", &example(row), "hotplug_cpu = false\n", ""));
        match res {
            Ok(_) => assert!(!row.flags.hotplug_cpu, "`{}` parses without CONFIG_HOTPLUG_CPU", row.name),
            Err(e) => {
                assert!(row.flags.hotplug_cpu, "`{}` is refused without CONFIG_HOTPLUG_CPU: {e}", row.name);
                assert!(e.contains("(CONFIG_HOTPLUG_CPU=n)"), "{e}");
            }
        }
    }
}

#[test]
fn slab_rows_need_the_slab_model() {
    for row in OPERATIONS {
        match parse(&case_with("", &example(row), "", "")) {
            Ok(_) => assert!(!row.flags.slab, "`{}` parses without `slab = true`", row.name),
            Err(e) => {
                assert!(row.flags.slab, "`{}` is refused without `slab = true`: {e}", row.name);
                assert!(e.contains("need the slab model"), "{e}");
            }
        }
    }
}

#[test]
fn memory_rows_turn_the_memory_model_on() {
    for row in OPERATIONS {
        let case = parse(&case_with("slab = true\n", &example(row), "", "")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(case.memory.is_some(), row.flags.memory, "`{}`", row.example);
    }
    let echo = parse(&case_with("", "\"echo offline > memory6/state\"", "", "")).unwrap();
    assert!(echo.memory.is_some(), "a memory file's `echo` turns the memory model on");
}

#[test]
fn an_unknown_operation_lists_every_usage() {
    let err = parse(&case_with("", "\"frobnicate\"", "", "")).unwrap_err();
    for row in OPERATIONS {
        assert!(err.contains(row.usage), "the error does not list `{}`: {err}", row.usage);
    }
}

#[test]
fn the_ops_command_prints_every_row_grouped() {
    let listing = ops_listing();
    for row in OPERATIONS {
        assert!(listing.contains(row.group.title()), "{listing}");
        let line = listing.lines().find(|l| l.trim_start().starts_with(&format!("{} ", row.usage)));
        let line = line.unwrap_or_else(|| panic!("no line for `{}`:\n{listing}", row.usage));
        assert!(line.contains(row.summary), "{line}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_hotplug-fi")).arg("ops").output().expect("hotplug-fi runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8(out.stdout).unwrap(), listing);
}
