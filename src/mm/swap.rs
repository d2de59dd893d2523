//! `mm/swap.c` (6.1.192) and `include/linux/swap.h`, the part memory
//! offlining reaches: `lru_disable_count`, `lru_cache_disable`,
//! `lru_cache_enable`, and `__lru_add_drain_all` with its mutex and
//! `lru_drain_gen`.
//!
//! The model keeps no per-CPU folio batches, so `cpu_needs_drain` is false
//! on every CPU and `__lru_add_drain_all` queues no `lru_add_drain_per_cpu`
//! work (there is no workqueue model either). Left out:
//! `synchronize_rcu_expedited` in `lru_cache_disable` (no LRU readers and
//! no expedited grace periods in the model), the `WARN_ON(!mm_percpu_wq)`
//! of a caller before `init_mm_internals` (boot only).

use crate::kernel::Kernel;
use crate::sim::lock::Mode;

impl Kernel {
    /// `lru_cache_disable()`: `lru_disable_count` up, then a forced drain.
    pub async fn lru_cache_disable(&self) {
        self.s().mem.lru_disable_count += 1;
        self.__lru_add_drain_all(true).await;
    }

    /// `lru_cache_enable()`: `atomic_dec(&lru_disable_count)`.
    pub fn lru_cache_enable(&self) {
        self.s().mem.lru_disable_count -= 1;
    }

    /// `__lru_add_drain_all()`: its static mutex, a new `lru_drain_gen`,
    /// and no work, as no CPU needs a drain. Only memory offlining calls
    /// it in the model, under `mem_hotplug_lock`, so the mutex is free
    /// (no scheduling point) unless a regression switch let two overlap.
    async fn __lru_add_drain_all(&self, _force_all_cpus: bool) {
        let l = self.s().mem.lru_add_drain_all_lock;
        if self.s().locks.locks[l].can_take(Mode::Exclusive) {
            self.lock_private(l);
        } else {
            self.lock(l, Mode::Exclusive).await;
        }
        // (C), a newer generation scheduled meanwhile, cannot happen with
        // the mutex uncontended; a forced drain goes on regardless.
        self.s().mem.lru_drain_gen += 1;
        self.unlock_private(l);
    }
}
