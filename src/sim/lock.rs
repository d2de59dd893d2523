//! Sleeping locks and completions: the data behind `mutex_lock`,
//! `percpu_down_read`/`percpu_down_write` and `wait_for_completion`.
//!
//! Models `struct mutex`, `struct percpu_rw_semaphore` (writer preference: a
//! waiting writer holds off new readers, as `percpu_down_write` does through
//! `rcu_sync`), and `struct completion`. Every acquisition records an edge from
//! each lock the task already holds, which is the raw material of a
//! lockdep-like validator. Left out: spinlocks (the model has no true
//! parallelism inside one step), lock stealing, optimistic spinning, and
//! lockdep's subclasses.

use std::collections::BTreeSet;

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
    pub kind: LockKind,
    pub owner: Option<TaskId>,
    pub readers: Vec<TaskId>,
    /// Writers waiting; they hold off new readers.
    pub writers_waiting: u32,
}

impl Lock {
    pub fn new(name: &str, kind: LockKind) -> Self {
        Lock { name: name.to_string(), kind, owner: None, readers: Vec::new(), writers_waiting: 0 }
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

/// Every lock, every completion, and the order locks were taken in.
#[derive(Clone, Debug, Default)]
pub struct Locks {
    pub locks: Vec<Lock>,
    /// `wait_for_completion` consumes one `complete`.
    pub completions: Vec<u32>,
    /// (held, then taken) pairs, by lock id.
    pub order: BTreeSet<(LockId, LockId)>,
}

impl Locks {
    pub fn add(&mut self, name: &str, kind: LockKind) -> LockId {
        self.locks.push(Lock::new(name, kind));
        self.locks.len() - 1
    }

    pub fn add_completion(&mut self) -> CompletionId {
        self.completions.push(0);
        self.completions.len() - 1
    }

    /// Takes `lock` for `task`, which must be possible, and records the order.
    pub fn take(&mut self, lock: LockId, mode: Mode, task: TaskId, held: &[LockId]) {
        for &h in held {
            if h != lock {
                self.order.insert((h, lock));
            }
        }
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
        locks.take(l, Mode::Shared, 1, &[]);
        assert!(!locks.locks[l].can_take(Mode::Exclusive));
        locks.locks[l].writers_waiting = 1;
        assert!(!locks.locks[l].can_take(Mode::Shared));
        assert!(locks.release(l, 1));
        assert!(locks.locks[l].can_take(Mode::Exclusive));
        assert!(!locks.release(l, 1));
    }

    #[test]
    fn order_is_recorded_from_held_locks() {
        let mut locks = Locks::default();
        let a = locks.add("a", LockKind::Mutex);
        let b = locks.add("b", LockKind::Mutex);
        locks.take(a, Mode::Exclusive, 0, &[]);
        locks.take(b, Mode::Exclusive, 0, &[a]);
        assert!(locks.order.contains(&(a, b)));
        assert!(!locks.order.contains(&(b, a)));
    }
}
