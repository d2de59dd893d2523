//! `mm/slab.c` in its 2.6 design, on purpose: per-CPU arrays exist only for
//! the CPUs that are up-prepared and not yet dead-processed.
//!
//! Modern SLUB allocates for every possible CPU, which removes the race by
//! design; this model keeps the old one because the race is what the explorer
//! must find (docs/regressions.md#slab-create-destroy-unlocked). A case
//! turns it on with `slab = true`; that registers the SLAB-era callbacks on
//! `CPUHP_SLAB_PREPARE` (`slab_prepare_cpu` / `slab_dead_cpu`), which the
//! Debian SLUB kernel leaves empty.
//!
//! - `kmem_cache_create`: (a) allocate arrays for the online CPUs, then (b)
//!   link the cache into the chain under `slab_mutex` (`cache_chain_sem`).
//! - `kmem_cache_destroy`: (a) unlink under `slab_mutex`, then (b) drain
//!   every online CPU's array with `on_each_cpu`, then free the arrays.
//! - The fix, 2.6.5-rc3: both take the CPU hotplug lock for read around the
//!   whole operation. `slab-create-destroy-unlocked` takes it away again.
//!
//! Touching a missing array is a NULL dereference. The drain goes through
//! `on_each_cpu`, so `do_drain` runs on each other CPU from its IPI, in
//! hard-IRQ context. Left out: objects, slabs and pages (an array is present
//! or not), the alien caches, NUMA, and the `do_ccupdate_local` IPIs of
//! `do_tune_cpucache` (create allocates the online CPUs' arrays directly).

use crate::errno::*;
use crate::kernel::trace::SplatKind;
use crate::sim::CpuMask;
use crate::sim::lock::{LockId, LockKind, Locks, Mode};

use crate::kernel::smp::CsdFunc;
use crate::kernel::{Kernel, Regression};

/// One `struct kmem_cache`.
#[derive(Clone, Debug)]
pub struct Cache {
    pub name: String,
    /// The CPUs that have a per-CPU array (`cachep->array[cpu] != NULL`).
    pub arrays: CpuMask,
    /// Created and not destroyed.
    pub alive: bool,
}

/// The allocator's state.
#[derive(Clone, Debug)]
pub struct SlabState {
    pub enabled: bool,
    pub caches: Vec<Cache>,
    /// The cache chain, in link order (ids into `caches`).
    pub chain: Vec<usize>,
    /// CPUs that `slab_prepare_cpu` ran for and `slab_dead_cpu` did not yet.
    pub up_prepared: CpuMask,
    /// Slab operations and slab hotplug callbacks in flight.
    pub busy: u32,
    pub slab_mutex: LockId,
    /// The first time the per-CPU array invariant broke, with the step.
    pub violation: Option<String>,
}

impl SlabState {
    pub fn new(enabled: bool, locks: &mut Locks) -> SlabState {
        let mut up_prepared = CpuMask::empty();
        // The boot CPU's arrays come from kmem_cache_init.
        up_prepared.set(0);
        SlabState {
            enabled,
            caches: Vec::new(),
            chain: Vec::new(),
            up_prepared,
            busy: 0,
            slab_mutex: locks.add("slab_mutex", LockKind::Mutex),
            violation: None,
        }
    }

    /// "Every cache on the chain has an array for exactly the CPUs that are
    /// up-prepared and not yet dead-processed."
    pub fn invariant(&self) -> Result<(), String> {
        for &id in &self.chain {
            let c = &self.caches[id];
            if c.arrays != self.up_prepared {
                return Err(format!(
                    "cache {} on the chain has per-CPU arrays for CPUs {} but the up-prepared CPUs are {}",
                    c.name,
                    show(c.arrays),
                    show(self.up_prepared)
                ));
            }
        }
        Ok(())
    }

    fn by_name(&self, name: &str) -> Option<usize> {
        self.caches.iter().rposition(|c| c.name == name && c.alive)
    }
}

fn show(m: CpuMask) -> String {
    if m.is_empty() { "(none)".into() } else { m.to_string() }
}

impl Kernel {
    /// Whether the fix (CPU hotplug lock around create/destroy) is in.
    fn slab_locked(&self) -> bool {
        // regression: slab-create-destroy-unlocked
        !self.cfg.has(Regression::SlabCreateDestroyUnlocked)
    }

    /// `kmem_cache_create()`.
    pub async fn kmem_cache_create(&self, name: &str) -> i32 {
        self.s().slab.busy += 1;
        if self.slab_locked() {
            self.cpus_read_lock().await;
        }
        // (a) the per-CPU arrays, for the CPUs online now.
        let id = {
            let mut s = self.s();
            let arrays = s.cpu.online;
            s.slab.caches.push(Cache { name: name.to_string(), arrays, alive: true });
            s.slab.caches.len() - 1
        };
        self.preemption_point().await;
        // (b) link it into the chain.
        let mutex = self.s().slab.slab_mutex;
        self.lock(mutex, Mode::Exclusive).await;
        self.s().slab.chain.push(id);
        self.unlock(mutex).await;
        if self.slab_locked() {
            self.cpus_read_unlock().await;
        }
        self.s().slab.busy -= 1;
        0
    }

    /// `kmem_cache_destroy()`: unlink, drain every online CPU, free.
    pub async fn kmem_cache_destroy(&self, name: &str) -> i32 {
        let Some(id) = self.s().slab.by_name(name) else { return -EINVAL };
        self.s().slab.busy += 1;
        if self.slab_locked() {
            self.cpus_read_lock().await;
        }
        let mutex = self.s().slab.slab_mutex;
        self.lock(mutex, Mode::Exclusive).await;
        self.s().slab.chain.retain(|&c| c != id);
        self.unlock(mutex).await;
        self.preemption_point().await;
        // drain_cpu_caches() -> on_each_cpu(do_drain, cachep, 1): an IPI to
        // every other online CPU, and the local CPU with IRQs off.
        self.on_each_cpu(CsdFunc::SlabDrain(id), true).await;
        {
            let mut s = self.s();
            s.slab.caches[id].arrays = CpuMask::empty();
            s.slab.caches[id].alive = false;
        }
        if self.slab_locked() {
            self.cpus_read_unlock().await;
        }
        self.s().slab.busy -= 1;
        0
    }

    /// `kmem_cache_alloc()` + `kmem_cache_free()` on the current CPU.
    pub async fn kmem_cache_alloc(&self, name: &str) -> i32 {
        let Some(id) = self.s().slab.by_name(name) else { return -EINVAL };
        self.s().slab.busy += 1;
        self.preempt_disable();
        let cpu = self.ctx().cpu;
        self.touch_array(id, cpu, "kmem_cache_alloc").await;
        self.preempt_enable();
        self.s().slab.busy -= 1;
        0
    }

    /// `do_drain(cachep)` on `cpu`, from the drain IPI or locally.
    pub async fn do_drain(&self, id: usize, cpu: usize) {
        self.touch_array(id, cpu, "do_drain").await;
    }

    /// `cachep->array[cpu]->avail`: a NULL dereference if there is no array.
    async fn touch_array(&self, id: usize, cpu: usize, func: &str) {
        let (present, name) = {
            let s = self.s();
            (s.slab.caches[id].arrays.test(cpu), s.slab.caches[id].name.clone())
        };
        if !present {
            let title = format!(
                "BUG: kernel NULL pointer dereference, address: 0000000000000000 (RIP: {func}: cache {name} has no per-CPU array for CPU{cpu})"
            );
            self.splat(SplatKind::Oops, "mm/slab.c", title, false);
            self.die().await;
        }
    }

    /// `slab_prepare_cpu()` (the 2.6 `CPU_UP_PREPARE`): an array for `cpu`
    /// in every cache on the chain.
    pub async fn slab_prepare_cpu(&self, cpu: usize) -> i32 {
        self.s().slab.busy += 1;
        let mutex = self.s().slab.slab_mutex;
        self.lock(mutex, Mode::Exclusive).await;
        {
            let mut s = self.s();
            let chain = s.slab.chain.clone();
            for id in chain {
                s.slab.caches[id].arrays.set(cpu);
            }
            s.slab.up_prepared.set(cpu);
        }
        self.unlock(mutex).await;
        self.s().slab.busy -= 1;
        0
    }

    /// `slab_dead_cpu()` (the 2.6 `CPU_DEAD`): free `cpu`'s array in every
    /// cache on the chain.
    pub async fn slab_dead_cpu(&self, cpu: usize) -> i32 {
        self.s().slab.busy += 1;
        let mutex = self.s().slab.slab_mutex;
        self.lock(mutex, Mode::Exclusive).await;
        let chain = self.s().slab.chain.clone();
        for id in chain {
            self.touch_array(id, cpu, "slab_dead_cpu").await;
            self.s().slab.caches[id].arrays.clear(cpu);
        }
        self.s().slab.up_prepared.clear(cpu);
        self.unlock(mutex).await;
        self.s().slab.busy -= 1;
        0
    }

    /// Checks the per-CPU array invariant when nothing slab is in flight.
    pub fn slab_check(&self) {
        let mut s = self.s();
        if !s.slab.enabled || s.slab.busy > 0 || s.slab.violation.is_some() {
            return;
        }
        if let Err(e) = s.slab.invariant() {
            s.slab.violation = Some(e);
        }
    }
}
