//! `mm/memory_hotplug.c` (6.1.192): `mem_hotplug_begin`/`done`,
//! `get_online_mems`/`put_online_mems`, `online_pages`, `offline_pages`
//! with every step in 6.1's order and its own rollback, `add_memory` /
//! `add_memory_resource` and `remove_memory`.
//!
//! 6.1.192 takes `mem_hotplug_lock` in `memory_block_online`/`_offline`
//! (drivers/base/memory.c), around `online_pages`/`offline_pages`, where
//! 6.1.0 took it inside them (mm/memory_hotplug.c): the model follows 6.1.192.
//! Both functions require it, and the model asserts it as
//! `lockdep_assert_held` would; they also record when two of them, or one
//! and a `get_online_mems` reader, overlap.
//!
//! Failpoints (`memory/memoryN/...`) sit at the steps that can fail in the
//! kernel: `MEM_GOING_ONLINE`; `isolate`, `MEM_GOING_OFFLINE`, `migrate`,
//! `dissolve`. A bare `return` is `-EBUSY`, or `NOTIFY_BAD` at a notifier
//! step (which `notifier_to_errno` makes `-EPERM`); `return(-E...)` picks the
//! errno. The migrate loop ends only on a pending signal in the kernel; the
//! model's bound (`migrate_bound`) stands for that signal: `-EINTR`.
//!
//! Left out: zones beyond a name, `memmap_on_memory`, hugetlb, memory
//! groups, the resource tree, firmware maps, and `offline_and_remove_memory`.

use crate::drivers::base::memory::{BLOCK_PAGES, BlockState, MemAction, MemBlock, Mmop, Pages};
use crate::errno::{self, *};
use crate::fault::{MemStep, Site};
use crate::kernel::trace::SplatKind;
use crate::kernel::{Kernel, Regression};
use crate::sim::lock::{LockKind, Mode};

impl Kernel {
    /// The locking before 30467e0b3be8 (4.0): `mem_hotplug_lock` let its
    /// writer in again and took no CPU hotplug lock, and `online_pages` /
    /// `offline_pages` took it themselves. The one place the
    /// `memhp-add-online-abba` switch is read in this file.
    fn mem_hotplug_lock_v4_0(&self) -> bool {
        // regression: memhp-add-online-abba
        self.cfg.has(Regression::MemhpAddOnlineAbba)
    }

    /// Memory hotplug before 4.20 (381eab4a6ee8 and the device_hotplug_lock
    /// series): `add_memory` without `device_hotplug_lock`, and an offline
    /// that failed after isolation sent `MEM_CANCEL_OFFLINE` before undoing
    /// it. Both memory switches model kernels of that time.
    fn memory_hotplug_before_4_20(&self) -> bool {
        // regression: memhp-online-pages-unlocked, memhp-add-online-abba
        self.cfg.has(Regression::MemhpOnlinePagesUnlocked) || self.cfg.has(Regression::MemhpAddOnlineAbba)
    }

    /// `mem_hotplug_begin()`: `cpus_read_lock()`, then the writer side of
    /// `mem_hotplug_lock`. Before 4.1 the lock let its writer in again.
    pub async fn mem_hotplug_begin(&self) {
        let l = self.s().mem.mem_hotplug_lock;
        if self.mem_hotplug_lock_v4_0() && self.holds(l) {
            self.s().mem.recursion += 1;
            return;
        }
        // 4.0's mem_hotplug_begin() did not take the CPU hotplug lock.
        if !self.mem_hotplug_lock_v4_0() {
            self.cpus_read_lock().await;
        }
        self.lock(l, Mode::Exclusive).await;
    }

    /// `mem_hotplug_done()`.
    pub async fn mem_hotplug_done(&self) {
        let l = self.s().mem.mem_hotplug_lock;
        if self.s().mem.recursion > 0 {
            self.s().mem.recursion -= 1;
            return;
        }
        self.unlock(l).await;
        if !self.mem_hotplug_lock_v4_0() {
            self.cpus_read_unlock().await;
        }
    }

    /// `get_online_mems()`: a reader, such as slab cache creation in 4.19.
    pub async fn get_online_mems(&self) {
        let l = self.s().mem.mem_hotplug_lock;
        self.lock(l, Mode::Shared).await;
        let mut s = self.s();
        let cur = s.current;
        if let Some(&(w, func, index)) = s.mem.writers.first() {
            let (me, them) = (Kernel::comm_of(&s, cur), Kernel::comm_of(&s, w));
            s.mem.violations.push(format!(
                "memory hotplug overlaps a reader: {me} entered a get_online_mems() section while {them} is in {func}(memory{index})"
            ));
        }
        s.mem.readers.push(cur);
    }

    /// `put_online_mems()`.
    pub async fn put_online_mems(&self) {
        let l = self.s().mem.mem_hotplug_lock;
        {
            let mut s = self.s();
            let cur = s.current;
            s.mem.readers.retain(|&r| r != cur);
        }
        // Without a matching get_online_mems() this is lockdep's bad
        // unlock balance, which unlock() reports.
        self.unlock(l).await;
    }

    /// The lock `online_pages`/`offline_pages` require, asserted as
    /// `lockdep_assert_held_write(&mem_hotplug_lock)` would, and the overlap
    /// check (`leave_pages` ends it).
    fn enter_pages(&self, func: &'static str, b: usize) {
        let l = self.s().mem.mem_hotplug_lock;
        let held = {
            let s = self.s();
            s.locks.locks[l].owner == Some(s.current)
        };
        if !held {
            let index = self.s().mem.blocks[b].index;
            let path = self.mem_path(func);
            let title = format!(
                "{func}(memory{index}) without mem_hotplug_lock held for write: lockdep_assert_held_write(&mem_hotplug_lock), reached from {path} (a model assertion of the documented requirement; the kernel has none)"
            );
            let site = if func == "online_pages" {
                "mm/memory_hotplug.c:online_pages"
            } else {
                "mm/memory_hotplug.c:offline_pages"
            };
            if self.s().warned_once.insert((site, "mem_hotplug_lock")) {
                self.splat(SplatKind::Lockdep, site, title, false);
            }
        }
        let mut s = self.s();
        let cur = s.current;
        let index = s.mem.blocks[b].index;
        let mut others: Vec<String> =
            s.mem.writers.iter().map(|&(t, f, i)| format!("{} is in {f}(memory{i})", Kernel::comm_of(&s, t))).collect();
        others.extend(
            s.mem.readers.iter().map(|&t| format!("{} is in a get_online_mems() section", Kernel::comm_of(&s, t))),
        );
        if !others.is_empty() {
            let me = Kernel::comm_of(&s, cur);
            let what = if func == "online_pages" && s.mem.writers.iter().any(|w| w.1 == "online_pages") {
                "online operations overlap"
            } else {
                "memory hotplug sections overlap"
            };
            s.mem.violations.push(format!("{what}: {me} entered {func}(memory{index}) while {}", others.join(", ")));
        }
        s.mem.writers.push((cur, func, index));
    }

    fn leave_pages(&self) {
        let mut s = self.s();
        let cur = s.current;
        if let Some(i) = s.mem.writers.iter().position(|w| w.0 == cur) {
            s.mem.writers.remove(i);
        }
    }

    /// A memory failpoint of a step that is not a notifier: `Some(errno)`
    /// when it fires, `-EBUSY` for a bare `return`.
    fn mem_failpoint(&self, b: usize, step: MemStep) -> Option<i32> {
        let block = self.s().mem.blocks[b].index as u16;
        let site = Site::Memory { block, step };
        let fired = self.failpoint_raw(site)?;
        let err = fired.and_then(|a| errno::parse(a.trim())).unwrap_or(-EBUSY);
        self.step(format!("{} fails: {}  (failpoint {site})", step.name(), errno::name(i64::from(err))));
        Some(err)
    }

    /// `online_pages()`.
    pub async fn online_pages(&self, b: usize, zone: &'static str) -> i32 {
        // Before 4.1, online_pages/offline_pages took the lock themselves.
        if self.mem_hotplug_lock_v4_0() {
            self.mem_hotplug_begin().await;
        }
        self.enter_pages("online_pages", b);
        let index = self.s().mem.blocks[b].index;
        self.step(format!("online_pages(memory{index}): move_pfn_range_to_zone({zone}, MIGRATE_ISOLATE)"));
        self.s().mem.blocks[b].onlining = Some(zone);
        let mut ret = self.memory_notify(MemAction::GoingOnline, b);
        if ret == 0 {
            self.preemption_point().await;
            let nid = self.s().mem.blocks[b].nid;
            let new_node = self.s().mem.nodes_with_memory.insert(nid);
            if zone != "Movable" {
                self.s().mem.nodes_with_normal.insert(nid);
            }
            {
                let mut s = self.s();
                let blk = &mut s.mem.blocks[b];
                blk.pages = Pages { free: BLOCK_PAGES, ..Pages::default() };
            }
            let node = if new_node { format!(", node_states_set_node({nid})") } else { String::new() };
            self.step(format!("online_pages(memory{index}): online_pages_range{node}, undo_isolate_page_range"));
            self.memory_notify(MemAction::Online, b);
            self.s().mem.blocks[b].onlining = None;
        } else {
            self.memory_notify(MemAction::CancelOnline, b);
            self.step(format!("online_pages(memory{index}): remove_pfn_range_from_zone"));
            self.s().mem.blocks[b].onlining = None;
            if ret > 0 {
                ret = -EINVAL;
            }
        }
        self.leave_pages();
        if self.mem_hotplug_lock_v4_0() {
            self.mem_hotplug_done().await;
        }
        ret
    }

    /// `offline_pages()`, 6.1.192's order and rollback.
    pub async fn offline_pages(&self, b: usize) -> i32 {
        // Before 4.1, online_pages/offline_pages took the lock themselves.
        if self.mem_hotplug_lock_v4_0() {
            self.mem_hotplug_begin().await;
        }
        self.enter_pages("offline_pages", b);
        let ret = self.offline_pages_locked(b).await;
        self.leave_pages();
        if self.mem_hotplug_lock_v4_0() {
            self.mem_hotplug_done().await;
        }
        ret
    }

    async fn offline_pages_locked(&self, b: usize) -> i32 {
        let index = self.s().mem.blocks[b].index;
        let at = |what: &str| format!("offline_pages(memory{index}): {what}");
        if self.s().mem.blocks[b].holes {
            self.step(at("memory offlining failed due to memory holes"));
            return -EINVAL;
        }
        self.step(at("zone_pcp_disable, lru_cache_disable"));
        let unmovable = self.s().mem.blocks[b].pages.unmovable;
        let isolated = match self.mem_failpoint(b, MemStep::Isolate) {
            Some(err) => Err(err),
            None if unmovable > 0 => Err(-EBUSY),
            None => Ok(()),
        };
        if let Err(err) = isolated {
            self.step(at("failure to isolate range: lru_cache_enable, zone_pcp_enable"));
            return err;
        }
        self.step(at("start_isolate_page_range(MIGRATE_MOVABLE)"));
        let notified = self.memory_notify(MemAction::GoingOffline, b);
        if notified != 0 {
            return self.failed_removal_isolated(b, notified, "notifier failure").await;
        }
        if let Err((err, reason)) = self.migrate_loop(b).await {
            return self.failed_removal_isolated(b, err, reason).await;
        }
        if let Some(err) = self.mem_failpoint(b, MemStep::Dissolve) {
            return self.failed_removal_isolated(b, err, "failure to dissolve huge pages").await;
        }
        {
            let mut s = self.s();
            s.mem.blocks[b].pages = Pages::default();
        }
        self.step(at("test_pages_isolated = 0, __offline_isolated_pages, lru_cache_enable, zone_pcp_enable"));
        let nid = self.s().mem.blocks[b].nid;
        let last = !self
            .s()
            .mem
            .blocks
            .iter()
            .enumerate()
            .any(|(i, o)| i != b && o.nid == nid && o.state == BlockState::Online);
        if last {
            self.s().mem.nodes_with_memory.remove(&nid);
            self.step(at(&format!("node_states_clear_node({nid}), kcompactd_stop, kswapd_stop")));
        }
        self.memory_notify(MemAction::Offline, b);
        self.step(at("remove_pfn_range_from_zone"));
        0
    }

    /// The migrate loop: until no movable page is left, migrate what can be
    /// migrated; each round a preemption point (`cond_resched`). Pinned
    /// pages never migrate, so only the "signal" (the bound) ends it.
    async fn migrate_loop(&self, b: usize) -> Result<(), (i32, &'static str)> {
        let bound = self.s().mem.migrate_bound;
        let mut round = 0;
        loop {
            if round >= bound {
                return Err((-EINTR, "signal backoff"));
            }
            round += 1;
            self.preemption_point().await;
            if let Some(err) = self.mem_failpoint(b, MemStep::Migrate) {
                return Err((err, "unmovable page"));
            }
            let (movable, pinned) = {
                let p = self.s().mem.blocks[b].pages;
                (p.movable, p.pinned)
            };
            if movable == 0 && pinned == 0 {
                return Ok(());
            }
            if movable > 0 {
                self.migrate_pages(b, movable);
            }
            if pinned > 0 && movable == 0 {
                let index = self.s().mem.blocks[b].index;
                self.step(format!("offline_pages(memory{index}): do_migrate_range: {pinned} pinned page(s) failed to migrate, round {round}"));
            }
        }
    }

    /// `do_migrate_range()`: movable pages move to another online block with
    /// free pages; they stay if there is none.
    fn migrate_pages(&self, b: usize, n: u32) {
        let mut s = self.s();
        let target = (0..s.mem.blocks.len())
            .find(|&t| t != b && s.mem.blocks[t].state == BlockState::Online && s.mem.blocks[t].pages.free >= n);
        let index = s.mem.blocks[b].index;
        let text = match target {
            Some(t) => {
                s.mem.blocks[t].pages.free -= n;
                s.mem.blocks[t].pages.movable += n;
                s.mem.blocks[b].pages.movable -= n;
                s.mem.blocks[b].pages.free += n;
                format!(
                    "offline_pages(memory{index}): do_migrate_range: {n} page(s) to memory{}",
                    s.mem.blocks[t].index
                )
            }
            None => format!("offline_pages(memory{index}): do_migrate_range: no room for {n} page(s)"),
        };
        s.record_text(text, crate::kernel::trace::Event::Step);
    }

    /// `failed_removal_isolated` (6.1 order): undo the isolation, then
    /// `MEM_CANCEL_OFFLINE`, then re-enable the LRU cache and the pcplists
    /// (the 4.19 order under the memory regression switches).
    async fn failed_removal_isolated(&self, b: usize, err: i32, reason: &str) -> i32 {
        let index = self.s().mem.blocks[b].index;
        // 4.19 and before sent MEM_CANCEL_OFFLINE first, then undid the
        // isolation; 6.1 undoes it first.
        if self.memory_hotplug_before_4_20() {
            self.memory_notify(MemAction::CancelOffline, b);
            self.step(format!("offline_pages(memory{index}): {reason}: undo_isolate_page_range"));
        } else {
            self.step(format!("offline_pages(memory{index}): {reason}: undo_isolate_page_range"));
            self.memory_notify(MemAction::CancelOffline, b);
        }
        self.step(format!(
            "offline_pages(memory{index}): lru_cache_enable, zone_pcp_enable: memory offlining failed due to {reason}"
        ));
        err
    }

    /// `add_memory(nid, start, size)` of one block at `index`, with its
    /// `device_hotplug_lock` (6.1; not before 4.20).
    pub async fn add_memory(&self, index: u32, nid: u32) -> i32 {
        self.mem_entry("add_memory");
        let old = self.memory_hotplug_before_4_20();
        if !old {
            self.lock_device_hotplug().await;
        }
        let ret = self.add_memory_resource(index, nid).await;
        if !old {
            self.unlock_device_hotplug().await;
        }
        ret
    }

    /// `add_memory_resource()`: "The caller must call lock_device_hotplug()"
    /// (asserted from 4.20 on).
    async fn add_memory_resource(&self, index: u32, nid: u32) -> i32 {
        let fixed = !self.memory_hotplug_before_4_20();
        if fixed && !self.holds(self.lock_ids.device_hotplug_lock) {
            self.splat(
                SplatKind::Lockdep,
                "mm/memory_hotplug.c:add_memory_resource",
                "lockdep_assert_held(&device_hotplug_lock)".into(),
                false,
            );
        }
        if self.s().mem.blocks.iter().any(|b| b.index == index && b.registered) {
            return -EEXIST;
        }
        self.mem_hotplug_begin().await;
        self.step(format!("add_memory_resource(memory{index}): arch_add_memory, create_memory_block_devices"));
        let b = self.create_memory_block_device(index, nid);
        // The device is visible in sysfs before its probe takes device_lock:
        // udev may already be writing to it.
        self.preemption_point().await;
        let lock = self.s().mem.blocks[b].dev_lock;
        self.lock(lock, Mode::Exclusive).await;
        self.unlock(lock).await;
        let online = self.s().mem.auto_online;
        // 4.19 and before onlined under mem_hotplug_lock; 6.1 drops it first
        // ("device_online() will take the lock when calling online_pages()").
        if fixed {
            self.mem_hotplug_done().await;
        }
        if online {
            self.step(format!("add_memory_resource(memory{index}): walk_memory_blocks(online_memory_block)"));
            // online_memory_block(): mem->online_type = mhp_default_online_type
            self.s().mem.blocks[b].online_type = Mmop::Online;
            self.device_online_mem(b).await;
        }
        if !fixed {
            self.mem_hotplug_done().await;
        }
        0
    }

    /// `create_memory_block_devices()` for one block: offline, registered.
    fn create_memory_block_device(&self, index: u32, nid: u32) -> usize {
        let mut s = self.s();
        if let Some(b) = s.mem.blocks.iter().position(|b| b.index == index) {
            // A new struct memory_block (kzalloc): only the lock is reused.
            let blk = &mut s.mem.blocks[b];
            blk.registered = true;
            blk.state = BlockState::Offline;
            blk.dev_offline = true;
            blk.nid = nid;
            blk.zone = None;
            blk.online_type = Mmop::Offline;
            blk.pages = Pages::default();
            blk.onlining = None;
            return b;
        }
        let dev_lock = s.locks.add(&format!("device_lock(memory{index})"), LockKind::Mutex);
        s.mem.blocks.push(MemBlock {
            index,
            nid,
            state: BlockState::Offline,
            dev_offline: true,
            zone: None,
            online_type: Mmop::Offline,
            pages: Pages::default(),
            holes: false,
            boot: false,
            dev_lock,
            onlining: None,
            registered: true,
        });
        s.mem.blocks.len() - 1
    }

    /// `remove_memory()`: `-EBUSY` unless every block is offline.
    pub async fn remove_memory(&self, index: u32) -> i32 {
        let Some(b) = self.s().mem.block(index) else { return -EINVAL };
        self.lock_device_hotplug().await;
        let ret = if self.s().mem.blocks[b].state != BlockState::Offline {
            self.step(format!("try_remove_memory(memory{index}): the block is online"));
            -EBUSY
        } else {
            self.step(format!("try_remove_memory(memory{index}): remove_memory_block_devices"));
            let lock = self.s().mem.blocks[b].dev_lock;
            self.lock(lock, Mode::Exclusive).await;
            self.s().mem.blocks[b].registered = false;
            self.unlock(lock).await;
            self.mem_hotplug_begin().await;
            self.step(format!("try_remove_memory(memory{index}): arch_remove_memory, try_offline_node"));
            self.mem_hotplug_done().await;
            0
        };
        self.unlock_device_hotplug().await;
        ret
    }
}
