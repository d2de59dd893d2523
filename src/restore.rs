//! What a case operation must leave as it found it when it fails: the
//! modelled state every subsystem keeps about CPUs and hotplug states,
//! taken before and after each operation of the control task, and the
//! differences between two of them.
//!
//! Not a kernel file: the kernel states the rule ("a failed operation
//! restores what it changed": `cpuhp_up_callbacks` and
//! `cpuhp_down_callbacks` roll back, `__cpuhp_setup_state_cpuslocked`
//! unwinds with `cpuhp_rollback_install`, module init failures unload) but
//! keeps no such record. `check.rs` decides which operations the rule
//! applies to and which 6.1 exceptions excuse a difference.
//! Left out: `cpu_dying_mask`, which says which way a CPU last walked, not
//! where it is (`cpuhp_reset_state` sets it for the rollback of a failed
//! bringup, so a CPU that never booted is left in it); of memory hotplug,
//! the blocks (`memory` checks them) and where pages are: a failed offline
//! keeps the pages it migrated where they went, so each zone's
//! `NR_FREE_PAGES` may move, and the pcplists `zone_pcp_disable` drained
//! stay drained, so only the free pages of all zones together (buddy and
//! pcplists) are compared; RCU's callback-list
//! flag (6.1's `rcutree_dead_cpu` does not undo what `rcutree_prepare_cpu`
//! enabled), the fail knob (one-shot by design) and `cpus_booted_once_mask`
//! (sticky by design), the threads `smpboot_create_threads` made before it
//! failed (6.1 keeps them for the next bringup), and where the case's
//! tasks run and their masks (a task pushed off a CPU whose down then
//! fails is not moved back). A runqueue 6.1.192's `sched_cpu_deactivate` leaves
//! offline after a `dl_bw_check_overflow` failure counts as online here
//! (fixed by fe7a11c78d2a in 6.10; `kernel/sched/core.rs`).

use crate::kernel::KState;
use crate::kernel::cpuhotplug::State;
use std::sync::Arc;

use crate::kernel::cpu::{Balance, Cb, CpuhpStep};
use crate::kernel::module::ModuleState;
use crate::sim::CpuMask;

/// A mask as the final state prints it.
fn mask(m: CpuMask) -> String {
    if m.is_empty() { "(none)".to_string() } else { m.to_string() }
}

/// One operation of the control task, as the checks after it need it.
#[derive(Clone, Debug)]
pub struct OpCheck {
    /// Its index in the case's `ops`.
    pub op: usize,
    pub ret: i64,
    /// The splats it raised: indices into the trace's splats.
    pub splats: std::ops::Range<usize>,
    /// For a failed operation: what it left changed (`Restorable::diff`).
    pub changed: Vec<String>,
    /// The startup/teardown counts that are off right after it
    /// ([`unbalanced`]).
    pub unbalanced: Vec<String>,
}

/// The `balance` rule on the state as it is: per state, instance and CPU,
/// startups minus teardowns is 0 or 1, and 1 only at or below the CPU's
/// state. A CPU whose rollback failed, and a STARTING/DYING callback that
/// failed (the kernel carries on without it), are exempt.
pub fn unbalanced(c: &crate::kernel::cpu::CpuState) -> Vec<String> {
    let mut v = Vec::new();
    for ((state, inst, cpu), n) in c.balance.nonzero() {
        if c.creek.test(cpu) || c.nofail_failed.contains(&(state, cpu)) {
            continue;
        }
        let inst = inst.map(|i| format!("/{}", c.instances[i].name)).unwrap_or_default();
        let name = c.steps[state as usize].name.as_deref().unwrap_or("(removed)").to_string();
        if !(0..=1).contains(&n) {
            v.push(format!("state {state} {name}{inst} on CPU{cpu}: {n} more startups than teardowns"));
        } else if n == 1 && c.cpuhp[cpu].state < state && c.steps[state as usize].name.is_some() {
            v.push(format!(
                "state {state} {name}{inst} was started on CPU{cpu} and never torn down, but the CPU is at state {}",
                c.cpuhp[cpu].state
            ));
        }
    }
    v
}

/// The restorable state at one moment. Taken before every operation, so it
/// copies and formats nothing it does not have to: the step table is the
/// shared `Arc` (copied on write), and the counts, steps and modules are
/// only rendered by [`Restorable::diff`], for an operation that failed.
#[derive(Clone, Debug)]
pub struct Restorable {
    masks: [(&'static str, CpuMask); 14],
    /// Per CPU: `hotplug/state`, `hotplug/target`, `cpuhp/N` parked, stopper
    /// enabled.
    cpus: Vec<(State, State, bool, bool)>,
    balance: Balance,
    steps: Arc<Vec<CpuhpStep>>,
    counters: [(&'static str, u64); 5],
    modules: Vec<ModuleState>,
    /// The memory model's counts (`mm_counts`), nonzero ones only, and the
    /// zones they name.
    mm: Vec<(MmKey, i64)>,
    zones: Vec<(u32, &'static str)>,
}

/// What one `mm` count is about: a zone (by its index) and a field, or
/// the whole memory model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum MmKey {
    Zone(usize, &'static str),
    Block(u32),
    Global(&'static str),
}

impl Restorable {
    pub fn of(s: &KState) -> Restorable {
        let c = &s.cpu;
        let masks = [
            ("cpu_online_mask", c.online),
            ("cpu_active_mask", c.active),
            ("cpu_present_mask", c.present),
            ("CPU devices (per_cpu cpu_sys_devices)", c.devices),
            ("cpuN/hotplug/ directories", c.hotplug_dir),
            ("cpu_sibling_setup_mask", s.x86.sibling_setup),
            ("cpuN/online (dev->offline)", c.dev_offline),
            ("smp cfd_data (smpcfd_prepare_cpu)", s.smp.cfd),
            ("CPUs running (smp powered)", s.smp.powered),
            ("rcu qsmaskinitnext", s.rcu.qsmaskinitnext),
            ("rcu ffmask", s.rcu.ffmask),
            ("root domain online (rq->online)", rd_online(s)),
            ("runqueues with balance_push", balance_push(s)),
            ("ksoftirqd running", ksoftirqd_running(s)),
        ];
        let cpus = (0..c.cpuhp.len())
            .map(|i| (c.cpuhp[i].state, c.cpuhp[i].target, c.cpuhp[i].thread_parked, s.stop.enabled[i]))
            .collect();
        let counters = [
            ("rcu_state.n_online_cpus", u64::from(s.rcu.n_online_cpus)),
            ("cpu_hotplug_disabled", u64::from(c.cpu_hotplug_disabled)),
            ("sched_smt_present", s.sched.smt_present as u64),
            ("num_cpus_frozen", s.sched.num_cpus_frozen as u64),
            ("num_processors", u64::from(s.x86.num_processors)),
        ];
        Restorable {
            masks,
            cpus,
            balance: c.balance.clone(),
            steps: c.steps.clone(),
            counters,
            modules: s.modules.clone(),
            mm: mm_counts(s),
            zones: s.mem.zones.iter().map(|z| (z.nid, z.name)).collect(),
        }
    }

    /// How a diff line names an `mm` count.
    fn mm_name(&self, key: MmKey) -> String {
        match key {
            MmKey::Zone(z, field) => {
                let (nid, name) = self.zones[z];
                format!("zone {name} (node {nid}) {field}")
            }
            MmKey::Block(index) => format!("isolated pageblocks of online memory{index}"),
            MmKey::Global(field) => field.to_string(),
        }
    }

    /// Registered step names and callbacks, by state.
    fn steps(&self) -> Vec<(State, String)> {
        let cb = |cb: Option<&Cb>| cb.map_or("NULL", |c| &*c.func).to_string();
        let named = self.steps.iter().enumerate().filter_map(|(nr, st)| Some((nr, st, st.name.as_deref()?)));
        named
            .map(|(nr, st, name)| {
                let inst = if st.multi { format!(" instances {:?}", st.list) } else { String::new() };
                (nr as State, format!("{name} ({}, {}){inst}", cb(st.startup.as_ref()), cb(st.teardown.as_ref())))
            })
            .collect()
    }

    /// Modules: loaded, slots held, per-CPU data allocated.
    fn modules(&self) -> Vec<String> {
        let show = |m: &ModuleState| {
            format!("{}: loaded {}, slots {:?}, per-CPU data {:?}", m.name, m.loaded, m.registered, m.percpu)
        };
        self.modules.iter().map(show).collect()
    }

    /// What differs from `before`, one line each, in a fixed order.
    pub fn diff(&self, before: &Restorable) -> Vec<String> {
        let mut out = Vec::new();
        for ((name, now), (_, was)) in self.masks.iter().zip(&before.masks) {
            if now != was {
                out.push(format!("{name} is {}, was {}", mask(*now), mask(*was)));
            }
        }
        for (cpu, (now, was)) in self.cpus.iter().zip(&before.cpus).enumerate() {
            let fields = [("hotplug/state", now.0, was.0), ("hotplug/target", now.1, was.1)];
            for (name, n, w) in fields {
                if n != w {
                    out.push(format!("cpu{cpu} {name} is {n}, was {w}"));
                }
            }
            if now.2 != was.2 {
                out.push(format!("cpuhp/{cpu} parked is {}, was {}", now.2, was.2));
            }
            if now.3 != was.3 {
                out.push(format!("migration/{cpu} (stopper) enabled is {}, was {}", now.3, was.3));
            }
        }
        let (now, was): (Vec<_>, Vec<_>) = (self.balance.nonzero().collect(), before.balance.nonzero().collect());
        let counts = changed(&now, &was);
        if !counts.is_empty() {
            let parts: Vec<String> = counts
                .iter()
                .map(|((state, inst, cpu), now, was)| {
                    let inst = inst.map(|i| format!(" instance #{i}")).unwrap_or_default();
                    format!("state {state}{inst} on CPU{cpu}: {}, was {}", now.unwrap_or(0), was.unwrap_or(0))
                })
                .collect();
            out.push(format!("startups minus teardowns changed: {}", parts.join("; ")));
        }
        let same_steps = Arc::ptr_eq(&self.steps, &before.steps);
        let steps = if same_steps { Vec::new() } else { changed(&self.steps(), &before.steps()) };
        for (nr, now, was) in steps {
            out.push(format!(
                "hotplug/states {nr} is {}, was {}",
                now.as_deref().unwrap_or("empty"),
                was.as_deref().unwrap_or("empty")
            ));
        }
        for ((name, now), (_, was)) in self.counters.iter().zip(&before.counters) {
            if now != was {
                out.push(format!("{name} is {now}, was {was}"));
            }
        }
        for (now, was) in self.modules().iter().zip(&before.modules()) {
            if now != was {
                out.push(format!("module {now}; was {was}"));
            }
        }
        for (key, now, was) in changed(&self.mm, &before.mm) {
            let show = |v: Option<i64>| v.unwrap_or(0).to_string();
            out.push(format!("{} is {}, was {}", self.mm_name(key), show(now), show(was)));
        }
        out
    }
}

/// The memory model's restorable counts, nonzero ones only (a zone a
/// failed online made is all zeros, as if it had not been touched): per
/// zone its span, present and managed pages, isolated pageblocks and pcp
/// sizes; per online block the pageblocks it has isolated (as a bit mask);
/// `lru_disable_count`, and the free pages of all zones together.
fn mm_counts(s: &KState) -> Vec<(MmKey, i64)> {
    let m = &s.mem;
    if !m.enabled {
        return Vec::new();
    }
    let mut v = Vec::new();
    let mut free = 0;
    for (z, zone) in m.zones.iter().enumerate() {
        let pcp = zone.pageset.first();
        let fields = [
            ("zone_start_pfn", zone.zone_start_pfn as i64),
            ("spanned_pages", zone.spanned_pages as i64),
            ("present_pages", zone.present_pages as i64),
            ("managed_pages", zone.managed_pages as i64),
            ("nr_isolate_pageblock", zone.nr_isolate_pageblock),
            ("pcp high", pcp.map_or(0, |p| i64::from(p.high))),
            ("pcp batch", pcp.map_or(0, |p| i64::from(p.batch))),
        ];
        v.extend(fields.into_iter().filter(|f| f.1 != 0).map(|(f, n)| (MmKey::Zone(z, f), n)));
        free += zone.nr_free_pages + zone.pageset.iter().map(|p| p.list.len() as i64).sum::<i64>();
    }
    for b in m.blocks.iter().filter(|b| b.registered && b.state == crate::drivers::base::memory::BlockState::Online) {
        let isolated =
            b.pageblocks.iter().enumerate().filter(|(_, mt)| **mt == crate::mm::page_alloc::Migratetype::Isolate);
        let bits = isolated.fold(0, |acc, (pb, _)| acc | (1 << pb));
        if bits != 0 {
            v.push((MmKey::Block(b.index), bits));
        }
    }
    let globals = [
        ("lru_disable_count", i64::from(m.lru_disable_count)),
        ("free pages of all zones (NR_FREE_PAGES and pcplists)", free),
    ];
    v.extend(globals.into_iter().filter(|g| g.1 != 0).map(|(g, n)| (MmKey::Global(g), n)));
    v
}

/// The root domain's online mask, with the runqueues 6.1.192's
/// `sched_cpu_deactivate` unwind leaves offline counted as online (its
/// documented exception, `kernel/sched/core.rs`).
fn rd_online(s: &KState) -> CpuMask {
    let mut m = s.sched.rd_online;
    for (cpu, rq) in s.sched.rq.iter().enumerate() {
        if rq.left_offline {
            m.set(cpu);
        }
    }
    m
}

/// The CPUs whose `ksoftirqd` exists and is not parked.
fn ksoftirqd_running(s: &KState) -> CpuMask {
    let mut m = CpuMask::empty();
    for (cpu, made) in s.smpboot.created.iter().enumerate() {
        m.assign(cpu, made[2] && !s.smpboot.ksoftirqd_parked[cpu]);
    }
    m
}

/// The CPUs whose runqueue has `balance_push` installed.
fn balance_push(s: &KState) -> CpuMask {
    let mut m = CpuMask::empty();
    for (cpu, rq) in s.sched.rq.iter().enumerate() {
        m.assign(cpu, rq.balance_push);
    }
    m
}

/// The keys whose values differ between two lists, with the value now and
/// before (`None` where a list has no entry), in key order.
fn changed<K: Ord + Copy, V: PartialEq + Clone>(now: &[(K, V)], was: &[(K, V)]) -> Vec<(K, Option<V>, Option<V>)> {
    use std::collections::BTreeMap;
    let mut all: BTreeMap<K, (Option<V>, Option<V>)> = BTreeMap::new();
    for (k, v) in now {
        all.entry(*k).or_insert((None, None)).0 = Some(v.clone());
    }
    for (k, v) in was {
        all.entry(*k).or_insert((None, None)).1 = Some(v.clone());
    }
    all.into_iter().filter(|(_, (n, w))| n != w).map(|(k, (n, w))| (k, n, w)).collect()
}
