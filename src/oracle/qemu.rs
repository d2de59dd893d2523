//! Running QEMU with every wait bounded. Its console (stdout) is read line
//! by line in one thread and its stderr drained in another for the whole
//! run, keeping the last lines (at most [`TAIL_LINES`] lines and
//! [`TAIL_BYTES`] bytes), so QEMU never blocks on a full pipe and its own
//! error (`invalid kernel header`, a missing PVH note) is in every failure
//! message. Two limits hold on every wait, including the wait for QEMU to
//! exit after it closed its console: the idle limit (no console line for
//! that long) and the total limit (`--timeout`). QEMU is killed when one
//! passes, and the message names the limit.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

/// The last lines of QEMU's stderr kept, at most.
pub const TAIL_LINES: usize = 64;
/// The bytes of QEMU's stderr kept, at most.
pub const TAIL_BYTES: usize = 16 << 10;
/// A console or stderr line longer than this is cut into pieces.
const MAX_LINE: u64 = 4 << 10;
/// The console output kept, at most: past it the run is an error.
pub const MAX_CONSOLE: usize = 16 << 20;
/// How often a wait for QEMU's exit looks again.
const POLL: Duration = Duration::from_millis(20);
/// How long to wait for the stderr thread once QEMU is gone, and for a
/// killed QEMU to be reaped.
const GRACE: Duration = Duration::from_secs(2);

/// The two limits on a boot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// From launch to `@@DONE` (`--timeout`).
    pub total: Duration,
    /// Between two console lines, and from the last line to QEMU's exit.
    pub idle: Duration,
}

impl Limits {
    /// The idle limit when none is given: a TCG boot of the Debian kernel
    /// prints its first line well within it.
    pub const IDLE: Duration = Duration::from_secs(60);

    /// `total` in all, and [`Limits::IDLE`] (or `total`, if shorter)
    /// between lines.
    pub fn total(total: Duration) -> Limits {
        Limits { total, idle: total.min(Limits::IDLE) }
    }
}

/// The last lines of a stream, bounded in lines and bytes.
#[derive(Clone, Debug, Default)]
pub struct Tail {
    lines: VecDeque<String>,
    bytes: usize,
    dropped: usize,
}

impl Tail {
    pub fn push(&mut self, line: &str) {
        let mut end = line.len().min(TAIL_BYTES);
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        self.bytes += end;
        self.lines.push_back(line[..end].to_string());
        while self.lines.len() > TAIL_LINES || self.bytes > TAIL_BYTES {
            let old = self.lines.pop_front().expect("a line to drop");
            self.bytes -= old.len();
            self.dropped += 1;
        }
    }

    pub fn lines(&self) -> impl Iterator<Item = &str> {
        self.lines.iter().map(String::as_str)
    }

    /// `QEMU's stderr: …`, for a failure message.
    pub fn render(&self) -> String {
        if self.lines.is_empty() {
            return "QEMU's stderr was empty".to_string();
        }
        let earlier =
            if self.dropped > 0 { format!(", {} earlier lines dropped", self.dropped) } else { String::new() };
        let body: Vec<String> = self.lines.iter().map(|l| format!("  {l}")).collect();
        format!("QEMU's stderr (its last {} lines{earlier}):\n{}", self.lines.len(), body.join("\n"))
    }
}

/// What a boot printed, up to `@@DONE`.
#[derive(Debug)]
pub struct Console {
    pub lines: Vec<String>,
    pub stderr: Tail,
    /// Seconds from launch to the first `@@` line, and in all.
    pub boot_secs: f64,
    pub total_secs: f64,
}

impl Console {
    /// `what`, with the guest's last lines and QEMU's stderr.
    pub fn failure(&self, what: &str) -> String {
        failure(what, &self.lines, &self.stderr)
    }
}

fn failure(what: &str, lines: &[String], stderr: &Tail) -> String {
    let last: Vec<&str> = lines.iter().rev().take(15).rev().map(String::as_str).collect();
    let guest = if last.is_empty() {
        "the guest printed nothing".to_string()
    } else {
        format!("the guest's last lines:\n{}", last.join("\n"))
    };
    format!("{what}; {guest}\n{}", stderr.render())
}

/// Runs `cmd` (QEMU) until its console prints `@@DONE`, then kills it.
pub fn run(cmd: Command, limits: Limits) -> Result<Console, String> {
    run_keeping(cmd, limits).map_err(|(what, _)| what)
}

/// [`run`], and a failure keeps every line the guest printed, so the
/// caller can say where the guest was.
pub fn run_keeping(cmd: Command, limits: Limits) -> Result<Console, (String, Vec<String>)> {
    run_keeping_qmp(cmd, limits, None)
}

/// [`run_keeping`] for a guest that asks for CPU hot-add and hot-remove:
/// QEMU listens for QMP at `qmp`, and each console line `@@qmp device_add N`
/// or `@@qmp device_del N` is answered there ([`qmp_request`]), its
/// `@@ret` put in the transcript right after it.
pub fn run_keeping_qmp(
    mut cmd: Command,
    limits: Limits,
    qmp: Option<&std::path::Path>,
) -> Result<Console, (String, Vec<String>)> {
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| (format!("cannot start {}: {e}", cmd.get_program().to_string_lossy()), Vec::new()))?;
    let console = lines_of(child.stdout.take().expect("piped stdout"));
    let (stderr, stderr_done) = drain(child.stderr.take().expect("piped stderr"));
    let qmp = qmp.map(std::path::Path::to_path_buf);
    let mut watch = Watch { child, start, limits, last: start, lines: Vec::new(), bytes: 0, first: None, qmp };
    let res = watch.read(&console);
    let reaped = reap(&mut watch.child);
    let _ = stderr_done.recv_timeout(GRACE);
    let tail = stderr.lock().unwrap_or_else(|e| e.into_inner()).clone();
    match (res, reaped) {
        (Err(what), _) | (Ok(()), Err(what)) => Err((failure(&what, &watch.lines, &tail), watch.lines)),
        (Ok(()), Ok(())) => Ok(Console {
            boot_secs: watch.first.unwrap_or(0.0),
            total_secs: start.elapsed().as_secs_f64(),
            lines: watch.lines,
            stderr: tail,
        }),
    }
}

/// The console's lines, read in a thread until its end.
fn lines_of(out: impl Read + Send + 'static) -> mpsc::Receiver<Result<String, String>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || each_line(out, |l| tx.send(l).is_ok()));
    rx
}

/// Stderr drained in a thread into a bounded tail; the receiver hears when
/// it ended.
fn drain(err: impl Read + Send + 'static) -> (Arc<Mutex<Tail>>, mpsc::Receiver<()>) {
    let tail = Arc::new(Mutex::new(Tail::default()));
    let (tx, rx) = mpsc::channel();
    let keep = Arc::clone(&tail);
    std::thread::spawn(move || {
        each_line(err, |l| {
            let l = l.unwrap_or_else(|e| format!("(reading QEMU's stderr failed: {e})"));
            keep.lock().unwrap_or_else(|e| e.into_inner()).push(&l);
            true
        });
        let _ = tx.send(());
    });
    (tail, rx)
}

/// Calls `f` with each line (lossy UTF-8, at most [`MAX_LINE`] bytes, no
/// line end) until the end, a read error (passed on) or `f` says stop.
fn each_line(out: impl Read, mut f: impl FnMut(Result<String, String>) -> bool) {
    let mut r = BufReader::new(out);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match (&mut r).take(MAX_LINE).read_until(b'\n', &mut buf) {
            Ok(0) => return,
            Ok(_) => {
                let line = String::from_utf8_lossy(&buf).trim_end_matches(['\n', '\r']).to_string();
                if !f(Ok(line)) {
                    return;
                }
            }
            Err(e) => {
                f(Err(e.to_string()));
                return;
            }
        }
    }
}

/// A running QEMU and what it printed so far.
struct Watch {
    child: Child,
    start: Instant,
    limits: Limits,
    /// When the last console line came.
    last: Instant,
    lines: Vec<String>,
    bytes: usize,
    first: Option<f64>,
    /// QEMU's QMP socket, for a guest that hot-adds and removes CPUs.
    qmp: Option<std::path::PathBuf>,
}

impl Watch {
    /// Reads the console until `@@DONE`; an error says what went wrong.
    fn read(&mut self, console: &mpsc::Receiver<Result<String, String>>) -> Result<(), String> {
        loop {
            let wait = self.until().saturating_duration_since(Instant::now());
            match console.recv_timeout(wait) {
                Ok(Ok(line)) => {
                    if self.take(line)? {
                        return Ok(());
                    }
                }
                Ok(Err(e)) => return Err(format!("reading QEMU's console failed: {e}")),
                Err(mpsc::RecvTimeoutError::Timeout) => return Err(self.limit_hit("the guest")),
                Err(mpsc::RecvTimeoutError::Disconnected) => return Err(self.closed()),
            }
        }
    }

    /// Keeps a console line; whether it was `@@DONE`.
    fn take(&mut self, line: String) -> Result<bool, String> {
        self.last = Instant::now();
        if line.starts_with("@@") && self.first.is_none() {
            self.first = Some(self.start.elapsed().as_secs_f64());
        }
        self.bytes += line.len() + 1;
        if self.bytes > MAX_CONSOLE {
            return Err(format!("the guest printed more than {} MiB on its console", MAX_CONSOLE >> 20));
        }
        let done = line == "@@DONE";
        let request = line.strip_prefix("@@qmp ").map(str::to_string);
        self.lines.push(line);
        if let (Some(req), Some(path)) = (request, &self.qmp) {
            let ret = qmp_request(path, &req);
            self.lines.push(format!("@@ret {ret}"));
            self.last = Instant::now();
        }
        Ok(done)
    }

    /// The earlier of the total deadline and the idle deadline.
    fn until(&self) -> Instant {
        (self.start + self.limits.total).min(self.last + self.limits.idle)
    }

    /// Which limit passed: `who` then the limit and its length.
    fn limit_hit(&self, who: &str) -> String {
        let (total, idle) = (self.limits.total.as_secs_f64(), self.limits.idle.as_secs_f64());
        if Instant::now() >= self.start + self.limits.total {
            format!("{who} did not finish within the total limit of {total} s (--timeout); QEMU was killed")
        } else {
            format!(
                "{who} printed nothing for {idle} s (the idle limit; the total limit is {total} s); QEMU was killed"
            )
        }
    }

    /// The console ended before `@@DONE`: QEMU's exit status, or the limit
    /// that passed while it kept running.
    fn closed(&mut self) -> String {
        let until = self.until();
        match wait_until(&mut self.child, until) {
            Ok(Some(status)) => format!("QEMU exited ({status}) before the guest finished"),
            Ok(None) => self.limit_hit("QEMU closed its console but kept running, and"),
            Err(e) => format!("cannot wait for QEMU: {e}"),
        }
    }
}

/// The child's exit status if it exits before `until`.
fn wait_until(child: &mut Child, until: Instant) -> std::io::Result<Option<ExitStatus>> {
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        let now = Instant::now();
        if now >= until {
            return Ok(None);
        }
        std::thread::sleep(POLL.min(until - now));
    }
}

/// Kills the child (it may have exited already) and reaps it, within
/// [`GRACE`].
fn reap(child: &mut Child) -> Result<(), String> {
    let _ = child.kill();
    match wait_until(child, Instant::now() + GRACE) {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(format!("QEMU (pid {}) did not die within {} s of SIGKILL", child.id(), GRACE.as_secs())),
        Err(e) => Err(format!("cannot wait for QEMU: {e}")),
    }
}

/// How long a QMP request may take, the guest's `_OST` answer included.
const QMP_WAIT: Duration = Duration::from_secs(15);

/// The `-device` of QEMU's CPU `n` (APIC id `n`: one socket, one thread
/// per core), with the id `device_del` names it by.
pub fn cpu_device(n: usize) -> String {
    format!("qemu64-x86_64-cpu,socket-id=0,core-id={n},thread-id=0,id=cpu{n}")
}

/// Answers a guest's `device_add N` or `device_del N` on QMP: QEMU's own
/// refusal as an errno name (`EEXIST`, `ENODEV`, `EPERM`), else the final
/// status the guest's `_OST` reported for the processor's slot
/// (`ACPI_DEVICE_OST`: 0 is `OK`, 0x80 `EPERM`, 0x82 `EBUSY`, anything else
/// `EIO`), which is what `acpi_device_hotplug` made of its error.
/// `ETIMEDOUT` (with what QMP said) if nothing came within [`QMP_WAIT`];
/// `EQMP` if QMP could not be spoken.
pub fn qmp_request(path: &std::path::Path, req: &str) -> String {
    match qmp_exchange(path, req) {
        Ok(r) => r,
        Err(e) => format!("EQMP({e})"),
    }
}

fn qmp_exchange(path: &std::path::Path, req: &str) -> Result<String, String> {
    use std::io::{BufRead, BufReader, Write};
    let (verb, n) = req.split_once(' ').ok_or("a QMP request is `device_add N` or `device_del N`")?;
    let n: usize = n.trim().parse().map_err(|_| format!("`{n}` is not a CPU number"))?;
    let deadline = Instant::now() + QMP_WAIT;
    let mut stream = std::os::unix::net::UnixStream::connect(path).map_err(|e| format!("connect: {e}"))?;
    stream.set_read_timeout(Some(Duration::from_millis(200))).map_err(|e| e.to_string())?;
    let mut reader = BufReader::new(stream.try_clone().map_err(|e| e.to_string())?);
    let next = |reader: &mut BufReader<std::os::unix::net::UnixStream>| -> Result<serde_json::Value, String> {
        let mut line = String::new();
        loop {
            if Instant::now() >= deadline {
                return Err("timeout".into());
            }
            match reader.read_line(&mut line) {
                Ok(0) => return Err("QMP closed".into()),
                Ok(_) if line.ends_with('\n') => {
                    return serde_json::from_str(&line).map_err(|e| format!("QMP sent `{}`: {e}", line.trim()));
                }
                Ok(_) => {}
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                Err(e) => return Err(e.to_string()),
            }
        }
    };
    let mut send = |v: serde_json::Value| writeln!(stream, "{v}").map_err(|e| e.to_string());
    next(&mut reader)?; // the greeting
    send(serde_json::json!({"execute": "qmp_capabilities"}))?;
    while next(&mut reader)?.get("return").is_none() {}
    let id = format!("cpu{n}");
    let cmd = match verb {
        "device_add" => serde_json::json!({"execute": "device_add", "arguments": {
            "driver": "qemu64-x86_64-cpu", "id": id, "socket-id": 0, "core-id": n, "thread-id": 0}}),
        "device_del" => serde_json::json!({"execute": "device_del", "arguments": {"id": id}}),
        other => return Err(format!("unknown QMP request `{other}`")),
    };
    send(cmd)?;
    let mut seen: Vec<String> = Vec::new();
    loop {
        let v = match next(&mut reader) {
            Ok(v) => v,
            Err(e) if e == "timeout" => return Ok(format!("ETIMEDOUT({})", seen.join(" "))),
            Err(e) => return Err(e),
        };
        seen.push(v.to_string());
        if let Some(err) = v.get("error") {
            let desc = err.get("desc").and_then(|d| d.as_str()).unwrap_or("").to_string();
            return Ok(if desc.contains("exists") || desc.contains("Duplicate") {
                "EEXIST".into()
            } else if desc.contains("not found") {
                "ENODEV".into()
            } else if desc.contains("unpluggable") {
                "EPERM".into()
            } else {
                format!("EIO({desc})")
            });
        }
        // The guest's _OST for the processor's slot: 0x84 (eject in
        // progress) first on a removal, then the final status, whose
        // `device` is gone once the CPU is.
        let info = &v["data"]["info"];
        let slot = n.to_string();
        if v.get("event").and_then(|e| e.as_str()) == Some("ACPI_DEVICE_OST")
            && info["slot-type"].as_str() == Some("CPU")
            && info["slot"].as_str() == Some(slot.as_str())
        {
            match info["status"].as_u64() {
                Some(0x84) => {}
                Some(0) => return Ok("OK".into()),
                Some(0x80) => return Ok("EPERM".into()),
                Some(0x82) => return Ok("EBUSY".into()),
                s => return Ok(format!("EIO(_OST status {s:?})")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_keeps_the_last_lines_within_both_bounds() {
        let mut t = Tail::default();
        for i in 0..100 {
            t.push(&format!("line {i}"));
        }
        assert_eq!(t.lines().count(), TAIL_LINES);
        assert_eq!(t.lines().last(), Some("line 99"));
        assert!(t.render().contains("36 earlier lines dropped"), "{}", t.render());
        let mut t = Tail::default();
        t.push(&"é".repeat(TAIL_BYTES));
        t.push("last");
        assert!(t.bytes <= TAIL_BYTES);
        assert_eq!(t.lines().collect::<Vec<_>>(), ["last"]);
    }
}
