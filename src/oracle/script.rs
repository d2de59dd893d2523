//! `--print-script`: a case as the shell commands a person would run as
//! root on a real machine, with the expected results as comments. The
//! script is meant to be run, so no case text reaches it as shell syntax:
//! every value and path is one `sh` word (single-quoted where a shell would
//! act on it), values an `echo` could take as an option or an escape go
//! through `printf '%s\n'`, and text in a comment has its control
//! characters (newlines, tabs) replaced by spaces so the comment cannot
//! end early.

use crate::case::{Case, Op, OpLine, SysfsFile};
use crate::errno;
use crate::verdict::shell_word;

/// The script: a header naming the case and its kernel, one line per
/// operation.
pub fn print_script(case: &Case) -> String {
    let mut out = format!(
        "#!/bin/sh\n# {}: {}\n# as root, on a kernel built like {} ({})\n",
        comment(&case.id),
        comment(&case.description),
        comment(&case.profile.name),
        comment(&case.profile.kernel)
    );
    for line in &case.ops {
        out.push_str(&script_line(line));
        out.push('\n');
    }
    out
}

/// One operation: the shell command and its comment, or only a comment
/// for an operation without a shell equivalent.
fn script_line(line: &OpLine) -> String {
    let expect = line.expect.map(|e| format!("expect {}", if e == 0 { "success".to_string() } else { errno::name(e) }));
    let sysfs = "the sysfs path also sets dev->offline";
    let (cmd, note) = match &line.op {
        Op::Write { file, value } => (write(value, &super::translate::guest_file(*file)), None),
        Op::CpuUp(c) => {
            (write("1", &super::translate::guest_file(SysfsFile::Online(*c))), Some(format!("cpu_up: {sysfs}")))
        }
        Op::CpuDown(c) => {
            (write("0", &super::translate::guest_file(SysfsFile::Online(*c))), Some(format!("cpu_down: {sysfs}")))
        }
        _ => {
            let what = format!("# {}: a kernel-internal call, no shell equivalent", comment(&line.text));
            return match expect {
                Some(e) => format!("{what}; {e}"),
                None => what,
            };
        }
    };
    let notes: Vec<String> = expect.into_iter().chain(note).collect();
    if notes.is_empty() { cmd } else { format!("{cmd}  # {}", notes.join("; ")) }
}

/// `echo VALUE > FILE`, both quoted; `printf` for a value `echo` would
/// read as an option (`-n`) or whose backslashes it would interpret.
fn write(value: &str, path: &str) -> String {
    let option = value.starts_with('-') && value[1..].starts_with(|c: char| c.is_ascii_alphabetic());
    if option || value.contains('\\') {
        format!("printf '%s\\n' {} > {}", shell_word(value), shell_word(path))
    } else {
        format!("echo {} > {}", shell_word(value), shell_word(path))
    }
}

/// Text that stays inside one comment line.
fn comment(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_one_word_and_never_an_option() {
        assert_eq!(write("-12", "/sys/x"), "echo -12 > /sys/x");
        assert_eq!(write("$(reboot)", "/sys/x"), "echo '$(reboot)' > /sys/x");
        assert_eq!(write("-n", "/sys/x"), "printf '%s\\n' -n > /sys/x");
        assert_eq!(write("a\\c", "/sys/x"), "printf '%s\\n' 'a\\c' > /sys/x");
        assert_eq!(comment("a\nreboot\tb"), "a reboot b");
    }
}
