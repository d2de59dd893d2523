//! `kernel/locking/lockdep.c`, as a validator over many runs: lock classes,
//! the dependency graph, and "possible circular locking dependency
//! detected".
//!
//! Each run records, per acquisition, the dependency of the taken lock's
//! class on every class already held ([`crate::sim::lock::Locks::depend`]).
//! A [`Graph`] gathers them over every scenario of a case, or over the whole
//! suite, and finds the cycles. Like lockdep, it reports a cycle even when no
//! run deadlocked: the two orders may have been seen minutes apart. Unlike
//! lockdep:
//! - it validates `device_lock`, which lockdep marks novalidate: memory
//!   hotplug's lock bugs are about it. Each device's lock is a class of its
//!   own (`device_lock(memory32)`): one `&dev->mutex` class would report
//!   cycles through two different devices, which cannot deadlock (that is
//!   why lockdep gave up on it);
//! - it knows guards: a cycle whose every dependency was always taken under
//!   one common lock held exclusively cannot deadlock, and is reported as
//!   guarded by it, not as a violation (6.1's add_memory and sysfs online
//!   orders under `device_hotplug_lock`);
//! - it reports every cycle, not only the first of a boot.
//!
//! Left out: IRQ-safety usage bits, read-lock recursion rules, subclasses and
//! nesting annotations, and the chain-hash cache.

use std::collections::{BTreeMap, BTreeSet};

use crate::sim::lock::Locks;

/// One class dependency: `A` held when `B` was taken.
#[derive(Clone, Debug)]
struct Edge {
    /// Classes held exclusively at every observation besides `A`.
    guards: BTreeSet<u16>,
    /// The first observation's chain of classes, ending with `B`.
    chain: Vec<u16>,
    /// Who took it, and in which scenario.
    by: String,
}

/// Class dependencies gathered over runs.
#[derive(Clone, Debug, Default)]
pub struct Graph {
    classes: Vec<String>,
    ids: BTreeMap<String, u16>,
    edges: BTreeMap<(u16, u16), Edge>,
}

/// A cycle of classes, with the dependency chains that make it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cycle {
    /// The classes, starting at the smallest name.
    pub classes: Vec<String>,
    /// One line per dependency: the chain that showed it and where.
    pub chains: Vec<String>,
    /// A class held exclusively along every dependency, if any.
    pub guard: Option<String>,
}

impl Cycle {
    /// `a -> b -> a`.
    pub fn path(&self) -> String {
        let mut p = self.classes.join(" -> ");
        p.push_str(" -> ");
        p.push_str(&self.classes[0]);
        p
    }

    /// The report, in the spirit of lockdep's.
    pub fn report(&self) -> String {
        let head = match &self.guard {
            None => format!("possible circular locking dependency detected: {}", self.path()),
            Some(g) => format!("guarded lock-order cycle (every dependency taken under {g}): {}", self.path()),
        };
        let mut out = head;
        for c in &self.chains {
            out.push_str("\n    ");
            out.push_str(c);
        }
        out
    }

    /// Whether `declared` (`a -> b`, any rotation) names this cycle.
    pub fn matches(&self, declared: &str) -> bool {
        let mut want: Vec<&str> = declared.split("->").map(str::trim).filter(|s| !s.is_empty()).collect();
        if want.len() > 1 && want.first() == want.last() {
            want.pop();
        }
        let mut have: Vec<&str> = self.classes.iter().map(String::as_str).collect();
        want.sort_unstable();
        have.sort_unstable();
        want == have
    }
}

impl Graph {
    fn class(&mut self, name: &str) -> u16 {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = self.classes.len() as u16;
        self.classes.push(name.to_string());
        self.ids.insert(name.to_string(), id);
        id
    }

    /// Adds a run's dependencies; `label` says which scenario it was.
    pub fn add_run(&mut self, locks: &Locks, label: &str) {
        for (&(a, b), dep) in &locks.deps {
            let ca = self.class(&locks.locks[a].class);
            let cb = self.class(&locks.locks[b].class);
            if ca == cb {
                continue;
            }
            let guards: BTreeSet<u16> = dep.guards.iter().map(|&g| self.class(&locks.locks[g].class)).collect();
            // The chain's classes are numbered whether or not the edge is
            // new, so that the numbering follows the runs alone: `merge`
            // of graphs built from consecutive runs then numbers classes as
            // one graph built from all of them would.
            let chain: Vec<u16> = dep.chain.iter().map(|&l| self.class(&locks.locks[l].class)).collect();
            match self.edges.get_mut(&(ca, cb)) {
                Some(e) => e.guards.retain(|g| guards.contains(g)),
                None => {
                    let by = if label.is_empty() { dep.by.clone() } else { format!("{} in {label}", dep.by) };
                    self.edges.insert((ca, cb), Edge { guards, chain, by });
                }
            }
        }
    }

    /// Adds another graph's dependencies. Merging the graphs of consecutive
    /// shares of runs, in order, gives the graph of all the runs: classes
    /// new here are numbered in the order `other` first saw them, each edge
    /// keeps its first chain and observer, and its guards are what every
    /// share held.
    pub fn merge(&mut self, other: &Graph) {
        for c in &other.classes {
            self.class(c);
        }
        for (&(a, b), e) in &other.edges {
            let ca = self.class(&other.classes[a as usize]);
            let cb = self.class(&other.classes[b as usize]);
            let guards: BTreeSet<u16> = e.guards.iter().map(|&g| self.class(&other.classes[g as usize])).collect();
            match self.edges.get_mut(&(ca, cb)) {
                Some(mine) => mine.guards.retain(|g| guards.contains(g)),
                None => {
                    let chain = e.chain.iter().map(|&c| self.class(&other.classes[c as usize])).collect();
                    self.edges.insert((ca, cb), Edge { guards, chain, by: e.by.clone() });
                }
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.edges.is_empty()
    }

    /// Every elementary cycle through some dependency, shortest path first,
    /// each once.
    pub fn cycles(&self) -> Vec<Cycle> {
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for &(a, b) in self.edges.keys() {
            let Some(path) = self.path(b, a) else { continue };
            let mut ring: Vec<u16> = std::iter::once(a).chain(path.iter().copied().take(path.len() - 1)).collect();
            let start = (0..ring.len()).min_by_key(|&i| &self.classes[ring[i] as usize]).unwrap_or(0);
            ring.rotate_left(start);
            if seen.insert(ring.clone()) {
                out.push(self.cycle(&ring));
            }
        }
        out
    }

    /// The shortest dependency path from `from` to `to` (both included).
    fn path(&self, from: u16, to: u16) -> Option<Vec<u16>> {
        let mut prev: BTreeMap<u16, u16> = BTreeMap::new();
        let mut queue = std::collections::VecDeque::from([from]);
        let mut visited = BTreeSet::from([from]);
        while let Some(n) = queue.pop_front() {
            if n == to {
                let mut p = vec![to];
                let mut cur = to;
                while cur != from {
                    cur = prev[&cur];
                    p.push(cur);
                }
                p.reverse();
                return Some(p);
            }
            for &(x, y) in self.edges.keys() {
                if x == n && visited.insert(y) {
                    prev.insert(y, n);
                    queue.push_back(y);
                }
            }
        }
        None
    }

    fn cycle(&self, ring: &[u16]) -> Cycle {
        let name = |c: u16| self.classes[c as usize].clone();
        let mut guards: Option<BTreeSet<u16>> = None;
        let mut chains = Vec::new();
        for i in 0..ring.len() {
            let (a, b) = (ring[i], ring[(i + 1) % ring.len()]);
            let e = &self.edges[&(a, b)];
            guards = Some(match guards {
                None => e.guards.clone(),
                Some(g) => g.intersection(&e.guards).copied().collect(),
            });
            let chain: Vec<String> = e.chain.iter().map(|&c| name(c)).collect();
            chains.push(format!("{} -> {}: {} (by {})", name(a), name(b), chain.join(", "), e.by));
        }
        let guard = guards.and_then(|g| g.into_iter().next()).map(name);
        Cycle { classes: ring.iter().map(|&c| name(c)).collect(), chains, guard }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::lock::{LockKind, Mode};

    fn run(order: &[&[&str]], guard: Option<&str>) -> Locks {
        let mut locks = Locks::default();
        let mut ids = BTreeMap::new();
        for name in ["g", "a", "b"] {
            ids.insert(name, locks.add(name, LockKind::Mutex));
        }
        for path in order {
            let mut held = Vec::new();
            if let Some(g) = guard {
                locks.take(ids[g], Mode::Exclusive, 0);
                held.push(ids[g]);
            }
            for n in *path {
                locks.depend(ids[n], &held, 0, "t");
                locks.take(ids[n], Mode::Exclusive, 0);
                held.push(ids[n]);
            }
            for &h in &held {
                locks.release(h, 0);
            }
        }
        locks
    }

    #[test]
    fn an_abba_is_a_cycle_and_a_common_outer_lock_guards_it() {
        let mut open = Graph::default();
        open.add_run(&run(&[&["a", "b"]], None), "one");
        open.add_run(&run(&[&["b", "a"]], None), "two");
        let c = open.cycles();
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].path(), "a -> b -> a");
        assert_eq!(c[0].guard, None);
        assert!(c[0].report().contains("possible circular locking dependency detected"));
        assert!(c[0].report().contains("b -> a: b, a (by t in two)"), "{}", c[0].report());
        assert!(c[0].matches("b -> a"));
        let mut guarded = Graph::default();
        guarded.add_run(&run(&[&["a", "b"], &["b", "a"]], Some("g")), "");
        let c = guarded.cycles();
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].guard.as_deref(), Some("g"));
        // One path without the outer lock is enough to lose the guard.
        guarded.add_run(&run(&[&["b", "a"]], None), "bare");
        assert_eq!(guarded.cycles()[0].guard, None);
    }
}
