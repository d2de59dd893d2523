//! Sleeping locks and completions: the data behind `mutex_lock`,
//! `percpu_down_read`/`percpu_down_write` and `wait_for_completion`.
//!
//! Models `struct mutex`, `struct percpu_rw_semaphore` (writer preference: a
//! waiting writer holds off new readers, as `percpu_down_write` does through
//! `rcu_sync`), and `struct completion`. Every blocking acquisition records
//! a dependency from each lock class the task already holds, with the other
//! classes held at the time (its guards) and the first chain that showed it:
//! the raw material of the lock validator (`kernel::locking::lockdep`). A
//! trylock records none, as in lockdep ("trylock can be done in any order").
//! Left out: spinlocks (the model has no true parallelism inside one step),
//! lock stealing, optimistic spinning, and lockdep's subclasses.

use std::collections::BTreeMap;

use super::TaskId;

pub type LockId = usize;
pub type CompletionId = usize;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockKind {
    Mutex,
    RwSem,
}

/// How a lock is held.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Mode {
    Exclusive,
    Shared,
}

#[derive(Clone, Debug)]
pub struct Lock {
    pub name: String,
    /// The lock class: what the validator reasons about (the name, unless
    /// the lock was made in a shared class).
    pub class: String,
    pub kind: LockKind,
    pub owner: Option<TaskId>,
    pub readers: Vec<TaskId>,
    /// Writers waiting; they hold off new readers.
    pub writers_waiting: u32,
}

impl Lock {
    pub fn new(name: &str, kind: LockKind) -> Self {
        Lock {
            name: name.to_string(),
            class: name.to_string(),
            kind,
            owner: None,
            readers: Vec::new(),
            writers_waiting: 0,
        }
    }

    pub fn can_take(&self, mode: Mode) -> bool {
        match mode {
            Mode::Exclusive => self.owner.is_none() && self.readers.is_empty(),
            Mode::Shared => self.owner.is_none() && self.writers_waiting == 0,
        }
    }

    pub fn held_by(&self, task: TaskId) -> bool {
        self.owner == Some(task) || self.readers.contains(&task)
    }

    /// Who a waiter is waiting for: the writer, or else the readers.
    pub fn holders(&self) -> Vec<TaskId> {
        match self.owner {
            Some(o) => vec![o],
            None => self.readers.clone(),
        }
    }
}

/// One observed dependency between two locks of a run: `A` held when `B`
/// was taken. The validator turns these into class dependencies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawDep {
    /// The locks held at every observation besides `A` (the intersection),
    /// sorted.
    pub guards: Vec<LockId>,
    /// The first observation: the locks held, in order, then the taken one.
    pub chain: Vec<LockId>,
    /// Who took it then (the task's name).
    pub by: String,
}

/// Every lock, every completion, and the dependencies seen.
#[derive(Clone, Debug, Default)]
pub struct Locks {
    pub locks: Vec<Lock>,
    /// `wait_for_completion` consumes one `complete`.
    pub completions: Vec<u32>,
    pub deps: BTreeMap<(LockId, LockId), RawDep>,
}

impl Locks {
    pub fn add(&mut self, name: &str, kind: LockKind) -> LockId {
        self.locks.push(Lock::new(name, kind));
        self.locks.len() - 1
    }

    /// A lock of a shared class, such as every instance of one lock in a
    /// structure.
    pub fn add_in_class(&mut self, name: &str, class: &str, kind: LockKind) -> LockId {
        let id = self.add(name, kind);
        self.locks[id].class = class.to_string();
        id
    }

    pub fn add_completion(&mut self) -> CompletionId {
        self.completions.push(0);
        self.completions.len() - 1
    }

    /// Records the dependencies of taking `lock` while `task` holds `held`.
    /// Only locks `task` holds exclusively can guard (two readers of an
    /// rwsem do not exclude each other). Cheap when seen before: the guards
    /// only shrink, in place.
    pub fn depend(&mut self, lock: LockId, held: &[LockId], task: TaskId, by: &str) {
        for &a in held {
            if a == lock {
                continue;
            }
            let locks = &self.locks;
            let guarding = |g: LockId| g != a && locks[g].owner == Some(task) && held.contains(&g);
            match self.deps.get_mut(&(a, lock)) {
                Some(d) => d.guards.retain(|&g| guarding(g)),
                None => {
                    let mut guards: Vec<LockId> = held.iter().copied().filter(|&g| guarding(g)).collect();
                    guards.sort_unstable();
                    let mut chain = held.to_vec();
                    chain.push(lock);
                    self.deps.insert((a, lock), RawDep { guards, chain, by: by.to_string() });
                }
            }
        }
    }

    /// Takes `lock` for `task`, which must be possible (the caller records
    /// the dependencies).
    pub fn take(&mut self, lock: LockId, mode: Mode, task: TaskId) {
        let l = &mut self.locks[lock];
        assert!(l.can_take(mode), "took {} while it was not free", l.name);
        match mode {
            Mode::Exclusive => l.owner = Some(task),
            Mode::Shared => l.readers.push(task),
        }
    }

    /// Releases `lock` held by `task`. Returns false if `task` did not hold it.
    pub fn release(&mut self, lock: LockId, task: TaskId) -> bool {
        let l = &mut self.locks[lock];
        if l.owner == Some(task) {
            l.owner = None;
            return true;
        }
        match l.readers.iter().position(|&r| r == task) {
            Some(i) => {
                l.readers.remove(i);
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiting_writer_holds_off_readers() {
        let mut locks = Locks::default();
        let l = locks.add("cpu_hotplug_lock", LockKind::RwSem);
        locks.take(l, Mode::Shared, 1);
        assert!(!locks.locks[l].can_take(Mode::Exclusive));
        locks.locks[l].writers_waiting = 1;
        assert!(!locks.locks[l].can_take(Mode::Shared));
        assert!(locks.release(l, 1));
        assert!(locks.locks[l].can_take(Mode::Exclusive));
        assert!(!locks.release(l, 1));
    }

    #[test]
    fn dependencies_keep_the_guards_every_observation_shared() {
        let mut locks = Locks::default();
        let g = locks.add("g", LockKind::Mutex);
        let h = locks.add("h", LockKind::Mutex);
        let a = locks.add("a", LockKind::Mutex);
        let b = locks.add_in_class("b1", "&b", LockKind::Mutex);
        for l in [g, h, a] {
            locks.take(l, Mode::Exclusive, 0);
        }
        locks.depend(b, &[g, h, a], 0, "t1");
        locks.depend(b, &[a, g], 0, "t2");
        let d = &locks.deps[&(a, b)];
        assert_eq!(d.guards, vec![g]);
        assert_eq!(d.chain, vec![g, h, a, b]);
        assert_eq!(d.by, "t1");
        assert!(!locks.deps.contains_key(&(b, a)));
    }
}
