//! Worker threads for the explorer: runs jobs that may spawn more jobs (a
//! search tree) on every core, and hands their results to one consumer in
//! the order a single thread would have produced them (preorder: a job,
//! then each of its children's subtrees in turn).
//!
//! The consumer alone sees results, one at a time and in that order, so
//! whatever it builds (outcome numbers, "first at run N", the lock graph)
//! is the same bytes whatever the thread count. Workers take the newest
//! pending job first, which is the one the consumer needs next, so few
//! results wait for their turn. A job whose result the consumer will never
//! take (it stopped at its run cap) may still have run: only its result is
//! dropped.
//!
//! Only runs that arm no failpoint come here: the `fail` crate's registry
//! is process-wide, so fault scenarios serialise on `FailGuard` anyway.

use std::collections::BTreeMap;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

/// The worker threads to use for `jobs` (0: one per core).
pub fn threads(jobs: usize) -> usize {
    if jobs > 0 { jobs } else { std::thread::available_parallelism().map_or(1, usize::from) }
}

struct Shared<J, R> {
    /// Jobs not started, newest last.
    pending: Vec<(usize, J)>,
    /// Finished jobs: the result and the ids of the children it spawned.
    done: BTreeMap<usize, (R, Vec<usize>)>,
    next_id: usize,
    /// Jobs being run now, by workers or the consumer.
    running: usize,
    /// The job the consumer waits for a worker to finish.
    awaited: Option<usize>,
    /// The consumer has what it wants, or a worker panicked.
    stop: bool,
    panicked: bool,
}

impl<J, R> Shared<J, R> {
    /// Files a finished job; `true` if the consumer waits for it.
    fn finish(&mut self, id: usize, result: R, children: Vec<J>) -> bool {
        self.running -= 1;
        let first = self.next_id;
        self.next_id += children.len();
        let ids: Vec<usize> = (first..first + children.len()).collect();
        // The first child on top: it is the next the consumer needs.
        self.pending.extend(ids.iter().copied().zip(children).rev());
        self.done.insert(id, (result, ids));
        self.awaited == Some(id)
    }
}

struct Pool<J, R> {
    shared: Mutex<Shared<J, R>>,
    /// Signalled when there are jobs to take, or nothing is left.
    work: Condvar,
    /// Signalled when the job the consumer waits for is done.
    result: Condvar,
}

impl<J, R> Pool<J, R> {
    fn lock(&self) -> MutexGuard<'_, Shared<J, R>> {
        // A worker that panicked holds no half-made change: it only ever
        // mutates the state under the lock in whole steps.
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wait<'a>(&self, on: &Condvar, g: MutexGuard<'a, Shared<J, R>>) -> MutexGuard<'a, Shared<J, R>> {
        on.wait(g).unwrap_or_else(PoisonError::into_inner)
    }

    fn stop(&self, panicked: bool) {
        let mut g = self.lock();
        g.stop = true;
        g.panicked |= panicked;
        drop(g);
        self.work.notify_all();
        self.result.notify_all();
    }
}

/// Stops the pool if the thread holding it unwinds: the consumer hears a
/// worker is gone, and workers hear the consumer is.
struct PanicFlag<'a, J, R>(&'a Pool<J, R>);

impl<J, R> Drop for PanicFlag<'_, J, R> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.stop(true);
        }
    }
}

/// Runs `roots` and every job they spawn with `work` on `threads` threads
/// (the calling one included); `consume` gets each result in preorder and
/// returns `false` to stop. Returns whether every job's result was
/// consumed. A worker's panic is raised again here, after the others stop.
///
/// The caller consumes, and runs itself each job it needs next that no
/// worker has started, so one thread is the plain sequential loop, with no
/// hand-off between threads.
pub fn preorder<J, R>(
    threads: usize,
    roots: Vec<J>,
    work: impl Fn(J) -> (R, Vec<J>) + Sync,
    mut consume: impl FnMut(R) -> bool,
) -> bool
where
    J: Send,
    R: Send,
{
    let n = roots.len();
    let pending = roots.into_iter().enumerate().rev().collect();
    let shared =
        Shared { pending, done: BTreeMap::new(), next_id: n, running: 0, awaited: None, stop: false, panicked: false };
    let pool = Pool { shared: Mutex::new(shared), work: Condvar::new(), result: Condvar::new() };
    std::thread::scope(|s| {
        let workers: Vec<_> = (1..threads.max(1)).map(|_| s.spawn(|| worker(&pool, &work))).collect();
        let mut order: Vec<usize> = (0..n).rev().collect();
        let all = consume_in_order(&pool, &work, &mut order, &mut consume);
        pool.stop(false);
        for w in workers {
            if let Err(payload) = w.join() {
                std::panic::resume_unwind(payload);
            }
        }
        all
    })
}

fn worker<J, R>(pool: &Pool<J, R>, work: &(impl Fn(J) -> (R, Vec<J>) + Sync)) {
    let _flag = PanicFlag(pool);
    let mut g = pool.lock();
    loop {
        if g.stop {
            return;
        }
        let Some((id, job)) = g.pending.pop() else {
            if g.running == 0 {
                // Nothing runs that could spawn more: the tree is done.
                drop(g);
                pool.work.notify_all();
                return;
            }
            g = pool.wait(&pool.work, g);
            continue;
        };
        g.running += 1;
        drop(g);
        let (result, children) = work(job);
        g = pool.lock();
        let more = !children.is_empty();
        if g.finish(id, result, children) {
            pool.result.notify_one();
        }
        if more {
            pool.work.notify_all();
        }
    }
}

/// Hands results to `consume` in preorder, running a needed job itself when
/// no worker has taken it; `false` if it stopped early or a worker
/// panicked.
fn consume_in_order<J, R>(
    pool: &Pool<J, R>,
    work: &impl Fn(J) -> (R, Vec<J>),
    order: &mut Vec<usize>,
    consume: &mut impl FnMut(R) -> bool,
) -> bool {
    // A job run here that panics must stop the workers too, or the scope
    // would wait for them for ever.
    let _flag = PanicFlag(pool);
    while let Some(id) = order.pop() {
        let mut g = pool.lock();
        let (result, children) = loop {
            if g.panicked {
                return false;
            }
            if let Some(r) = g.done.remove(&id) {
                break r;
            }
            if let Some(at) = g.pending.iter().rposition(|(i, _)| *i == id) {
                let (_, job) = g.pending.remove(at);
                g.running += 1;
                drop(g);
                let (result, children) = work(job);
                g = pool.lock();
                if !children.is_empty() {
                    pool.work.notify_all();
                }
                g.finish(id, result, children);
                continue;
            }
            g.awaited = Some(id);
            g = pool.wait(&pool.result, g);
            g.awaited = None;
        };
        drop(g);
        order.extend(children.into_iter().rev());
        if !consume(result) {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A binary tree of depth 4 numbered in preorder comes back in order on
    /// any number of threads.
    #[test]
    fn results_come_in_preorder() {
        fn spawn(depth: u32) -> Vec<u32> {
            if depth < 4 { vec![depth + 1, depth + 1] } else { vec![] }
        }
        for threads in [1, 2, 3, 8] {
            let mut seen = Vec::new();
            let all = preorder(
                threads,
                vec![0u32],
                |d| (d, spawn(d)),
                |d| {
                    seen.push(d);
                    true
                },
            );
            assert!(all);
            let mut want = Vec::new();
            fn walk(d: u32, out: &mut Vec<u32>) {
                out.push(d);
                for c in spawn(d) {
                    walk(c, out);
                }
            }
            walk(0, &mut want);
            assert_eq!(seen, want, "{threads} threads");
        }
    }

    #[test]
    fn the_consumer_stops_the_pool() {
        let mut seen = 0;
        let all = preorder(
            2,
            (0..1000).collect(),
            |i: u32| (i, vec![]),
            |_| {
                seen += 1;
                seen < 10
            },
        );
        assert!(!all);
        assert_eq!(seen, 10);
    }

    #[test]
    #[should_panic(expected = "job 3")]
    fn a_workers_panic_reaches_the_caller() {
        preorder(2, (0..10).collect(), |i: u32| if i == 3 { panic!("job 3") } else { (i, vec![]) }, |_| true);
    }
}
