//! Fault injection glue: failpoint site names, and the one place that talks
//! to the `fail` crate.
//!
//! A site is a place where the modelled kernel can fail: for CPU hotplug,
//! every callback invocation, in each direction, on each CPU, for each
//! instance; for IPIs, every call-function IPI sent to a CPU. Site names are
//! stable and `/`-separated, subsystem first: `cpuhp/cpu1/up/197`,
//! `cpuhp/cpu1/down/62/inst2`, `smp/cpu2/ipi`. The state is written as
//! its number because step names contain `/` and `:`; a case may write it as
//! a step name or an enum name instead, and [`crate::case`] resolves it.
//!
//! The `fail` registry is global to the process, so runs that arm sites hold
//! [`FailGuard`], which holds the registry's one lock. The
//! engine never scans the registry while it runs: [`Armed`] is read once at
//! scenario start, and `fail::eval` is called only at those sites. The
//! kernel model reaches a run's sites through [`Failpoints`], which also
//! keeps the run's [`SiteLog`] (sites reached, sites fired) for the harness.
//!
//! Left out: actions other than `return`, `N*`, `->` and `off`. `N%` needs
//! fail's random source, which cannot be seeded; `sleep`, `delay`, `pause`,
//! `yield`, `panic` and `print` act on the real thread, not on the model.
//! [`check_action`] checks the whole grammar when a case loads.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::fmt;

use crate::case::limits::STEPS_MAX;
use crate::errno;

/// Where a fault can be injected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Site {
    /// A hotplug callback invocation.
    Cpuhp { cpu: u16, bringup: bool, state: u16, inst: Option<u32> },
    /// A call-function IPI sent to a CPU: firing holds its delivery back.
    Ipi { cpu: u16 },
    /// A step of onlining or offlining memory block `block` that can fail in
    /// the kernel.
    Memory { block: u16, step: MemStep },
    /// A call that can fail inside a modelled callback's body, named after
    /// the callee: the callback's own error path runs.
    Callee { cpu: u16, bringup: bool, state: u16, callee: Callee },
    /// A step of hot-adding ACPI processor `cpu` (its MADT position) that
    /// can fail in the kernel (`acpi_processor_hotadd_init`).
    Acpi { cpu: u16, step: AcpiStep },
}

/// The calls inside modelled callback bodies that can fail in 6.1.192.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Callee {
    /// `cpuset_cpu_inactive` → `dl_bw_check_overflow` in
    /// `sched_cpu_deactivate` (kernel/sched/core.c): `-EBUSY` when the
    /// remaining CPUs cannot hold the admitted deadline bandwidth.
    DlBwCheckOverflow,
    /// `__smpboot_create_thread` → `kthread_create_on_cpu` in
    /// `smpboot_create_threads` (kernel/smpboot.c): `-ENOMEM`.
    KthreadCreateOnCpu,
    /// `zalloc_cpumask_var_node` in `smpcfd_prepare_cpu` (kernel/smp.c),
    /// twice (`cfd->cpumask`, `cfd->cpumask_ipi`): `-ENOMEM`.
    ZallocCpumaskVarNode,
    /// `alloc_percpu` of `cfd->pcpu` in `smpcfd_prepare_cpu`: `-ENOMEM`.
    AllocPercpu,
}

impl Callee {
    pub const ALL: [Callee; 4] =
        [Callee::DlBwCheckOverflow, Callee::KthreadCreateOnCpu, Callee::ZallocCpumaskVarNode, Callee::AllocPercpu];

    pub fn name(self) -> &'static str {
        match self {
            Callee::DlBwCheckOverflow => "dl_bw_check_overflow",
            Callee::KthreadCreateOnCpu => "kthread_create_on_cpu",
            Callee::ZallocCpumaskVarNode => "zalloc_cpumask_var_node",
            Callee::AllocPercpu => "alloc_percpu",
        }
    }

    /// What the callee returns when it fails in the kernel: a bare
    /// `return` injects it.
    pub fn errno(self) -> i32 {
        match self {
            Callee::DlBwCheckOverflow => -errno::EBUSY,
            Callee::KthreadCreateOnCpu | Callee::ZallocCpumaskVarNode | Callee::AllocPercpu => -errno::ENOMEM,
        }
    }
}

/// The steps of `acpi_processor_hotadd_init` (6.1) that can fail, each
/// named after its callee.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AcpiStep {
    /// `acpi_map_cpu()`: no logical CPU for the APIC id.
    MapCpu,
    /// `arch_register_cpu()` → `register_cpu()`: `device_register` failed.
    RegisterCpu,
}

impl AcpiStep {
    pub const ALL: [AcpiStep; 2] = [AcpiStep::MapCpu, AcpiStep::RegisterCpu];

    pub fn name(self) -> &'static str {
        match self {
            AcpiStep::MapCpu => "acpi_map_cpu",
            AcpiStep::RegisterCpu => "register_cpu",
        }
    }
}

/// The steps of `online_pages`/`offline_pages` (6.1) that can fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MemStep {
    /// `memory_notify(MEM_GOING_ONLINE)`.
    GoingOnline,
    /// `start_isolate_page_range()`.
    Isolate,
    /// `memory_notify(MEM_GOING_OFFLINE)`.
    GoingOffline,
    /// The migrate loop: `scan_movable_pages()`/`do_migrate_range()`.
    Migrate,
    /// `dissolve_free_huge_pages()`.
    Dissolve,
}

impl MemStep {
    pub const ALL: [MemStep; 5] =
        [MemStep::GoingOnline, MemStep::Isolate, MemStep::GoingOffline, MemStep::Migrate, MemStep::Dissolve];

    pub fn online(self) -> bool {
        self == MemStep::GoingOnline
    }

    pub fn name(self) -> &'static str {
        match self {
            MemStep::GoingOnline => "MEM_GOING_ONLINE",
            MemStep::Isolate => "isolate",
            MemStep::GoingOffline => "MEM_GOING_OFFLINE",
            MemStep::Migrate => "migrate",
            MemStep::Dissolve => "dissolve",
        }
    }

    /// A notifier step: a bare `return` is `NOTIFY_BAD`.
    pub fn notifier(self) -> bool {
        matches!(self, MemStep::GoingOnline | MemStep::GoingOffline)
    }
}

impl fmt::Display for Site {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Site::Cpuhp { cpu, bringup, state, inst } => {
                let dir = if bringup { "up" } else { "down" };
                write!(f, "cpuhp/cpu{cpu}/{dir}/{state}")?;
                if let Some(i) = inst {
                    write!(f, "/inst{i}")?;
                }
                Ok(())
            }
            Site::Ipi { cpu } => write!(f, "smp/cpu{cpu}/ipi"),
            Site::Callee { cpu, bringup, state, callee } => {
                let dir = if bringup { "up" } else { "down" };
                write!(f, "cpuhp/cpu{cpu}/{dir}/{state}/{}", callee.name())
            }
            Site::Memory { block, step } => {
                let dir = if step.online() { "online" } else { "offline" };
                write!(f, "memory/memory{block}/{dir}/{}", step.name())
            }
            Site::Acpi { cpu, step } => write!(f, "acpi/cpu{cpu}/hot_add/{}", step.name()),
        }
    }
}

/// The sites one run consults, with their registry names precomputed.
#[derive(Clone, Debug, Default)]
pub struct Armed {
    sites: Vec<(Site, String)>,
}

impl Armed {
    pub fn new(sites: &[Site]) -> Self {
        Armed { sites: sites.iter().map(|s| (*s, s.to_string())).collect() }
    }

    pub fn is_empty(&self) -> bool {
        self.sites.is_empty()
    }

    /// Evaluates the failpoint at `site` if this run armed it: `Some(errno)`
    /// when it fires. A bare `return` is `-EAGAIN`, the error the kernel's own
    /// fail knob injects; `return(-ENOMEM)` picks another.
    pub fn eval(&self, site: Site) -> Option<i32> {
        let default = match site {
            Site::Callee { callee, .. } => callee.errno(),
            _ => -errno::EAGAIN,
        };
        let (_, name) = self.sites.iter().find(|(s, _)| *s == site)?;
        fail::eval(name, |arg| arg.and_then(|a| errno::parse(&a)).unwrap_or(default))
    }

    /// Evaluates the failpoint at `site`: `Some(arg)` when it fires, with
    /// the argument of `return(...)` if there is one.
    pub fn eval_arg(&self, site: Site) -> Option<Option<String>> {
        let (_, name) = self.sites.iter().find(|(s, _)| *s == site)?;
        fail::eval(name, |arg| arg)
    }
}

/// What one run saw of its failpoint sites: the sites reached (when the run
/// records them, as the plain run does for the sweep), in first-reach
/// order, and the sites that fired. Harness bookkeeping, not kernel state.
#[derive(Clone, Debug, Default)]
pub struct SiteLog {
    /// Sites reached, in first-reach order.
    pub reached: Vec<Site>,
    reached_set: BTreeSet<Site>,
    /// Sites first reached during a rollback, after a failpoint fired.
    pub reached_in_rollback: Vec<Site>,
    /// Sites that fired.
    pub fired: BTreeSet<Site>,
}

/// The failpoints of one run: the sites it armed, and its [`SiteLog`]. The
/// kernel model reaches them through this one handle; it checks only
/// whether a run is quiet (records nothing, armed nothing) to skip the work.
#[derive(Debug, Default)]
pub struct Failpoints {
    armed: Armed,
    record: bool,
    log: RefCell<SiteLog>,
}

impl Failpoints {
    /// `record`: log every site reached, not only those that fire.
    pub fn new(armed: Armed, record: bool) -> Self {
        Failpoints { armed, record, log: RefCell::default() }
    }

    /// Neither recording nor armed: no site needs to be told anything.
    pub fn quiet(&self) -> bool {
        !self.record && self.armed.is_empty()
    }

    /// The run reached `site`; `rollback` when the kernel is rolling back.
    pub fn reach(&self, site: Site, rollback: bool) {
        if !self.record {
            return;
        }
        let mut log = self.log.borrow_mut();
        if log.reached_set.insert(site) {
            log.reached.push(site);
            if rollback && !log.fired.is_empty() {
                log.reached_in_rollback.push(site);
            }
        }
    }

    /// [`Armed::eval`], remembering a site that fired.
    pub fn eval(&self, site: Site) -> Option<i32> {
        if self.armed.is_empty() {
            return None;
        }
        let fired = self.armed.eval(site);
        if fired.is_some() {
            self.log.borrow_mut().fired.insert(site);
        }
        fired
    }

    /// [`Armed::eval_arg`], remembering a site that fired.
    pub fn eval_arg(&self, site: Site) -> Option<Option<String>> {
        if self.armed.is_empty() {
            return None;
        }
        let fired = self.armed.eval_arg(site)?;
        self.log.borrow_mut().fired.insert(site);
        Some(fired)
    }

    /// The log, once the run is over.
    pub fn into_log(self) -> SiteLog {
        self.log.into_inner()
    }
}

/// Why an action string is refused at `site`. The grammar is the `fail` crate's (0.5.1):
/// terms `[N%][N*]TASK[(ARG)]` joined by `->`, TASK one of `off`, `return`,
/// `sleep`, `panic`, `print`, `pause`, `yield`, `delay`. A case may use the
/// deterministic part: `return`, `N*` and `off`, joined by `->`. A cpuhp or
/// memory site returns an errno; an IPI site holds the IPI back, `return`
/// until the target next enables IRQs, `return(N)` for N steps. Checked in
/// full here, so `fail::cfg` never refuses what a case loaded.
pub fn check_action(site: &Site, action: &str) -> Result<(), String> {
    check_action_at(site, action).map_err(|(_, m)| m)
}

/// [`check_action`], with the character offset of the term at fault.
pub fn check_action_at(site: &Site, action: &str) -> Result<(), (usize, String)> {
    let ipi = matches!(site, Site::Ipi { .. });
    let mut at = 0;
    for term in action.split("->") {
        let lead = term.len() - term.trim_start().len();
        if let Err(m) = check_term(ipi, term.trim()) {
            let offset = action[..at + lead].chars().count();
            return Err((offset, format!("{m}; {}", action_forms(ipi))));
        }
        at += term.len() + "->".len();
    }
    Ok(())
}

/// The actions a case may write at a site, for errors.
fn action_forms(ipi: bool) -> String {
    let ret = if ipi {
        format!("`return(N)` (hold it back N steps, N 1 to {})", STEPS_MAX.max)
    } else {
        "`return(-ERRNO)`".to_string()
    };
    format!(
        "an action is `return`, {ret} or `off`, each optionally `N*` first (N times, N at least 1), joined by `->` without spaces inside a term: `1*return->off`"
    )
}

/// One term of an action: `[N*]TASK[(ARG)]`.
fn check_term(ipi: bool, term: &str) -> Result<(), String> {
    if term.is_empty() {
        return Err("an empty term (a `->` with nothing on one side)".to_string());
    }
    if term.contains(char::is_whitespace) {
        return Err(format!("`{term}` has a space inside; the fail crate reads `N*return(ARG)` with none"));
    }
    let (head, arg) = match term.split_once('(') {
        Some((h, rest)) => {
            let arg = rest.strip_suffix(')').ok_or_else(|| format!("`{term}`: the parentheses do not match"))?;
            (h, Some(arg))
        }
        None => (term, None),
    };
    if let Some((pct, _)) = head.split_once('%') {
        return Err(format!(
            "`{pct}%` is refused: fail's random source cannot be seeded, so the run would not be deterministic"
        ));
    }
    let task = match head.split_once('*') {
        Some((n, task)) if n.bytes().all(|b| b.is_ascii_digit()) && n.parse::<u64>().is_ok_and(|n| n > 0) => task,
        Some((n, _)) => return Err(format!("`{n}*` needs a whole number of times, at least 1")),
        None => head,
    };
    check_task(ipi, task, arg)
}

/// A term's task and its argument.
fn check_task(ipi: bool, task: &str, arg: Option<&str>) -> Result<(), String> {
    match (task, arg) {
        ("off", None) | ("return", None) => Ok(()),
        ("off", Some(_)) => Err("`off` takes no argument".to_string()),
        // No run takes more than steps_max steps, so no hold is longer; the
        // limit keeps `steps + N` and the trace's step count in range.
        ("return", Some(arg)) if ipi => match arg.parse::<u64>() {
            Ok(n) if (1..=STEPS_MAX.max).contains(&n) => Ok(()),
            _ => Err(format!(
                "`{arg}`: at an IPI site, `return(N)` holds the IPI back for N steps, N a whole number from 1 to {} ({}); bare `return` holds it until the target next enables IRQs",
                STEPS_MAX.max, STEPS_MAX.name
            )),
        },
        ("return", Some(arg)) => match errno::parse(arg) {
            Some(_) => Ok(()),
            None => Err(format!("`{arg}` is not an errno; use one of {}", errno::known())),
        },
        ("sleep" | "delay" | "pause" | "yield" | "panic" | "print", _) => {
            Err(format!("`{task}` is refused: it acts on the real thread, not on the model"))
        }
        _ => Err(format!("`{task}` is not an action the fail crate knows")),
    }
}

/// Holds the `fail` registry for one thread of runs. Dropping it clears every
/// failpoint it configured.
///
/// It serialises on its own lock instead of `fail::FailScenario`, whose
/// setup reads `FAILPOINTS` from the environment and panics on a value it
/// cannot parse: hotplug-fi arms sites only from `--fault` and `[[fault]]`,
/// so the environment variable is never read (the CLI says so when it is
/// set).
pub struct FailGuard {
    _lock: std::sync::MutexGuard<'static, ()>,
}

/// The process-wide lock on the `fail` registry.
static REGISTRY: std::sync::Mutex<()> = std::sync::Mutex::new(());

impl FailGuard {
    /// Takes the process-wide failpoint lock; waits while another run holds it.
    pub fn take() -> Self {
        // A run that panicked while holding the lock left nothing that
        // clearing the registry does not undo.
        let lock = REGISTRY.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        clear();
        FailGuard { _lock: lock }
    }

    /// Configures `actions` for this run and returns what the engine consults.
    pub fn arm(&self, actions: &[(Site, String)]) -> Result<Armed, String> {
        for (site, action) in actions {
            check_action(site, action)?;
            fail::cfg(site.to_string(), action)?;
        }
        let listed: Vec<String> = fail::list().into_iter().map(|(n, _)| n).collect();
        let sites: Vec<Site> = actions.iter().map(|(s, _)| *s).filter(|s| listed.contains(&s.to_string())).collect();
        Ok(Armed::new(&sites))
    }
}

impl Drop for FailGuard {
    fn drop(&mut self) {
        clear();
    }
}

/// Removes every configured failpoint.
fn clear() {
    for (name, _) in fail::list() {
        fail::remove(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions() {
        let cb = Site::Cpuhp { cpu: 1, bringup: true, state: 1, inst: None };
        let err = |a: &str| check_action_at(&cb, a).unwrap_err();
        assert!(check_action(&cb, "return").is_ok());
        assert!(check_action(&cb, "1*return(-ENOMEM)->off").is_ok());
        assert!(check_action(&cb, " 2*return -> off ").is_ok());
        assert!(check_action(&cb, "off").is_ok());
        assert!(err("50%return").1.contains("refused"));
        assert!(err("sleep(10)").1.contains("real thread"));
        assert!(err("return(-EWHAT)").1.contains("not an errno"));
        assert!(check_action(&cb, "return(5)").is_err());
        assert_eq!(err("1 *return").0, 0);
        assert!(err("1 *return").1.contains("has a space inside"));
        assert!(err("1* return").1.contains("has a space inside"));
        assert_eq!(err("return->0*return").0, 8);
        assert!(err("return->0*return").1.contains("at least 1"));
        assert_eq!(err("return-> é").0, 9);
        assert!(err("return->").1.contains("empty term"));
        assert!(err("return(-EIO").1.contains("parentheses"));
        assert!(err("off(1)").1.contains("no argument"));
        assert!(err("retrun").1.contains("`return(-ERRNO)`"));
        let ipi = Site::Ipi { cpu: 2 };
        assert!(check_action(&ipi, "return(5)").is_ok());
        assert!(check_action(&ipi, "1*return").is_ok());
        assert!(check_action(&ipi, "return(-ENOMEM)").unwrap_err().contains("N steps"));
        assert!(check_action(&ipi, "return(0)").is_err());
        assert!(check_action(&ipi, "return(10000000)").is_ok());
        assert!(check_action(&ipi, "return(10000001)").unwrap_err().contains("1 to 10000000 (steps_max)"));
        assert!(check_action(&ipi, "return(18446744073709551615)").is_err());
    }

    #[test]
    fn site_names() {
        let s = Site::Cpuhp { cpu: 1, bringup: false, state: 62, inst: Some(2) };
        assert_eq!(s.to_string(), "cpuhp/cpu1/down/62/inst2");
        assert_eq!(Site::Ipi { cpu: 2 }.to_string(), "smp/cpu2/ipi");
        let c = Site::Callee { cpu: 1, bringup: false, state: 218, callee: Callee::DlBwCheckOverflow };
        assert_eq!(c.to_string(), "cpuhp/cpu1/down/218/dl_bw_check_overflow");
    }
}
