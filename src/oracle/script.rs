//! `--print-script`: a case as the shell commands a person would run as
//! root on a real machine, with the expected results as comments.

use super::guest_path;
use crate::case::Case;
use crate::errno;

/// `--print-script`: a case as the shell commands a person would run on a
/// real machine, with the expected results as comments.
pub fn print_script(case: &Case) -> String {
    use crate::case::Op;
    let mut out = format!(
        "#!/bin/sh\n# {}: {}\n# as root, on a kernel built like {} ({})\n",
        case.id, case.description, case.profile.name, case.profile.kernel
    );
    for line in &case.ops {
        let expect = line
            .expect
            .map(|e| format!("  # expect {}", if e == 0 { "success".to_string() } else { errno::name(e) }))
            .unwrap_or_default();
        match &line.op {
            Op::Write { value, .. } => {
                let (_, file) = line.text.split_once(" > ").expect("an echo line");
                out.push_str(&format!("echo {value} > {}{expect}\n", guest_path(file.trim())));
            }
            Op::CpuUp(c) => out.push_str(&format!("echo 1 > /sys/devices/system/cpu/cpu{c}/online{expect}  (cpu_up: the sysfs path also sets dev->offline)\n")),
            Op::CpuDown(c) => out.push_str(&format!("echo 0 > /sys/devices/system/cpu/cpu{c}/online{expect}  (cpu_down: the sysfs path also sets dev->offline)\n")),
            _ => out.push_str(&format!("# {}: a kernel-internal call, no shell equivalent{expect}\n", line.text)),
        }
    }
    out
}
