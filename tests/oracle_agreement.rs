//! The model against the real kernel: every fail-knob scenario the real
//! Debian 6.1.192 kernel was run through on cpu1 (every named state, plus
//! -2, an unnamed number and CPUHP_ONLINE+1; down from 236 and up from 0),
//! with its observed answers in `tests/data/oracle-cpu1-6.1.192.txt`. The
//! model must give the same result of the `fail` write, the same result of
//! the `online` write, and the same `hotplug/state`, `online` and `fail`.

const DATA: &str = include_str!("data/oracle-cpu1-6.1.192.txt");

struct Row<'a> {
    x: &'a str,
    up: bool,
    setfail: &'a str,
    write: &'a str,
    state: &'a str,
    online: &'a str,
    fail: &'a str,
}

fn rows() -> Vec<Row<'static>> {
    DATA.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            Row { x: f[0], up: f[1] == "up", setfail: f[2], write: f[3], state: f[4], online: f[5], fail: f[6] }
        })
        .collect()
}

/// The oracle's procedure in the model (`hotplug_fi::oracle::model_cpu`).
fn model(row: &Row) -> String {
    hotplug_fi::oracle::model_cpu(1, row.x.parse().expect("a state number"), row.up)
}

#[test]
fn the_model_agrees_with_the_real_kernel_on_every_fail_knob_scenario() {
    let rows = rows();
    assert_eq!(rows.len(), 138, "the oracle's sweep has 138 scenarios");
    let mut disagree = Vec::new();
    for row in &rows {
        let real = format!("{} {} {} {} {}", row.setfail, row.write, row.state, row.online, row.fail);
        let got = model(row);
        if got != real {
            let dir = if row.up { "up" } else { "down" };
            disagree.push(format!("X={} {dir}: real `{real}`, model `{got}`", row.x));
        }
    }
    assert!(disagree.is_empty(), "{} of {} disagree:\n{}", disagree.len(), rows.len(), disagree.join("\n"));
}

const SEQ: &str = include_str!("data/oracle-cpu1-seq-6.1.192.txt");

#[test]
fn the_model_calls_callbacks_in_the_real_kernels_order() {
    let mut disagree = Vec::new();
    let mut n = 0;
    for l in SEQ.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let f: Vec<&str> = l.splitn(3, ' ').collect();
        let (dir, x, real) = (f[0], f[1], f[2]);
        let up = dir == "up";
        let mut ops = Vec::new();
        if up {
            ops.push("echo 0 > cpu1/online".to_string());
        }
        ops.push(format!("echo {x} > cpu1/hotplug/fail"));
        let n_before = ops.len();
        ops.push(format!("echo {} > cpu1/online", if up { 1 } else { 0 }));
        // Only the events of the last operation: the oracle clears its buffer before it.
        let got = hotplug_fi::oracle::model_tracepoints(&ops, n_before, 1);
        n += 1;
        if got != real {
            disagree.push(format!("{dir} X={x}:\n  real  {real}\n  model {got}"));
        }
    }
    assert_eq!(n, 77, "the oracle traced 77 accepted faults");
    assert!(disagree.is_empty(), "{} of {n} callback orders disagree:\n{}", disagree.len(), disagree.join("\n"));
}
