//! Worker threads for the explorer and the sweep: runs a list of jobs on
//! every core and hands their results to one consumer in list order.
//!
//! The consumer alone sees results, one at a time and in that order, so
//! whatever it builds (outcome numbers, "first at run N", the lock graph)
//! is the same bytes whatever the thread count. The consumer also runs
//! each job it needs next that no worker has started, so one thread is the
//! plain sequential loop with no hand-off. Jobs are coarse (a subtree of
//! the search, a stretch of runs, a case): a hand-off per run cost a fifth
//! of the time in futex wake-ups. A job whose result the consumer will
//! never take (it stopped early) may still have run: only its result is
//! dropped.
//!
//! Only runs that arm no failpoint run in parallel: the `fail` crate's
//! registry is process-wide, so fault scenarios serialise on `FailGuard`.

use std::collections::BTreeMap;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

/// The threads to use for `jobs` (0: one per core).
pub fn threads(jobs: usize) -> usize {
    if jobs > 0 { jobs } else { std::thread::available_parallelism().map_or(1, usize::from) }
}

struct Shared<J, R> {
    /// Jobs not started, by position, the first last.
    pending: Vec<(usize, J)>,
    /// Finished jobs' results, by position.
    done: BTreeMap<usize, R>,
    /// The job the consumer waits for a worker to finish.
    awaited: Option<usize>,
    /// The consumer has what it wants, or a thread panicked.
    stop: bool,
    panicked: bool,
}

struct Pool<J, R> {
    shared: Mutex<Shared<J, R>>,
    /// Signalled when the pool stops.
    stopped: Condvar,
    /// Signalled when the job the consumer waits for is done.
    result: Condvar,
}

impl<J, R> Pool<J, R> {
    fn lock(&self) -> MutexGuard<'_, Shared<J, R>> {
        // A thread that panicked holds no half-made change: the state is
        // only ever changed under the lock in whole steps.
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn stop(&self, panicked: bool) {
        let mut g = self.lock();
        g.stop = true;
        g.panicked |= panicked;
        drop(g);
        self.stopped.notify_all();
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

/// Runs `jobs` with `work` on `threads` threads (the calling one
/// included); `consume` gets each result in the jobs' order and returns
/// `false` to stop. Returns whether every result was consumed. A worker's
/// panic is raised again here, after the others stop.
pub fn ordered<J, R>(
    threads: usize,
    jobs: Vec<J>,
    work: impl Fn(J) -> R + Sync,
    mut consume: impl FnMut(R) -> bool,
) -> bool
where
    J: Send,
    R: Send,
{
    let n = jobs.len();
    let pending = jobs.into_iter().enumerate().rev().collect();
    let shared = Shared { pending, done: BTreeMap::new(), awaited: None, stop: false, panicked: false };
    let pool = Pool { shared: Mutex::new(shared), stopped: Condvar::new(), result: Condvar::new() };
    std::thread::scope(|s| {
        let workers: Vec<_> = (1..threads.clamp(1, n.max(1))).map(|_| s.spawn(|| worker(&pool, &work))).collect();
        let all = consume_in_order(&pool, &work, n, &mut consume);
        pool.stop(false);
        for w in workers {
            if let Err(payload) = w.join() {
                std::panic::resume_unwind(payload);
            }
        }
        all
    })
}

fn worker<J, R>(pool: &Pool<J, R>, work: &(impl Fn(J) -> R + Sync)) {
    let _flag = PanicFlag(pool);
    let mut g = pool.lock();
    while !g.stop {
        let Some((at, job)) = g.pending.pop() else {
            // Nothing left to start: the consumer may still want the
            // results, so wait for it to say it is done.
            g = pool.stopped.wait(g).unwrap_or_else(PoisonError::into_inner);
            continue;
        };
        drop(g);
        let result = work(job);
        g = pool.lock();
        g.done.insert(at, result);
        if g.awaited == Some(at) {
            pool.result.notify_one();
        }
    }
}

/// Hands the `n` results to `consume` in order, running a needed job itself
/// when no worker has taken it; `false` if it stopped early or a worker
/// panicked.
fn consume_in_order<J, R>(
    pool: &Pool<J, R>,
    work: &impl Fn(J) -> R,
    n: usize,
    consume: &mut impl FnMut(R) -> bool,
) -> bool {
    // A job run here that panics must stop the workers too, or the scope
    // would wait for them for ever.
    let _flag = PanicFlag(pool);
    for at in 0..n {
        let mut g = pool.lock();
        let result = loop {
            if g.panicked {
                return false;
            }
            if let Some(r) = g.done.remove(&at) {
                break r;
            }
            // Jobs are started first to last, so the one needed is either
            // on top of the pending list or already running. While a worker
            // runs it, run the next one here rather than wait: a consumer
            // that only waited would find each next job taken by the
            // worker that just finished, and the pool would use one core.
            if let Some((i, job)) = g.pending.pop() {
                drop(g);
                let result = work(job);
                if i == at {
                    break result;
                }
                g = pool.lock();
                g.done.insert(i, result);
                continue;
            }
            g.awaited = Some(at);
            g = pool.result.wait(g).unwrap_or_else(PoisonError::into_inner);
            g.awaited = None;
        };
        if !consume(result) {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_in_order_on_any_number_of_threads() {
        for threads in [1, 2, 3, 8] {
            let mut seen = Vec::new();
            let all = ordered(
                threads,
                (0..200u32).collect(),
                |i| i * 3,
                |r| {
                    seen.push(r);
                    true
                },
            );
            assert!(all);
            assert_eq!(seen, (0..200).map(|i| i * 3).collect::<Vec<_>>(), "{threads} threads");
        }
    }

    /// Both threads take a fair part of the jobs: a consumer that waited
    /// for each job a worker holds would find the next one taken by that
    /// worker each time, and run almost none itself.
    #[test]
    fn every_thread_takes_a_share_of_the_jobs() {
        let caller = std::thread::current().id();
        let work = |_: u32| {
            std::thread::sleep(std::time::Duration::from_millis(2));
            std::thread::current().id() == caller
        };
        let mut here = 0;
        ordered(2, (0..64).collect(), work, |mine| {
            here += usize::from(mine);
            true
        });
        assert!((16..=48).contains(&here), "the calling thread ran {here} of 64 jobs");
    }

    #[test]
    fn the_consumer_stops_the_pool() {
        let mut seen = 0;
        let all = ordered(
            2,
            (0..1000).collect(),
            |i: u32| i,
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
        ordered(2, (0..10).collect(), |i: u32| if i == 3 { panic!("job 3") } else { i }, |_| true);
    }

    #[test]
    fn no_jobs_no_results() {
        assert!(ordered(4, Vec::<u32>::new(), |i| i, |_: u32| panic!("no result expected")));
    }
}
