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
use crate::mm::page_alloc::{Migratetype, PAGEBLOCKS, block_pfn, buddy_pages};
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
        let z = self.move_pfn_range_to_zone(b, zone, Migratetype::Isolate);
        self.s().mem.blocks[b].onlining = Some(zone);
        let mut ret = self.memory_notify(MemAction::GoingOnline, b);
        if ret == 0 {
            self.preemption_point().await;
            let node = self.online_pages_locked(b, z, zone);
            self.step(format!("online_pages(memory{index}): online_pages_range{node}, undo_isolate_page_range"));
            self.memory_notify(MemAction::Online, b);
            self.s().mem.blocks[b].onlining = None;
        } else {
            self.memory_notify(MemAction::CancelOnline, b);
            self.step(format!("online_pages(memory{index}): remove_pfn_range_from_zone"));
            self.remove_pfn_range_from_zone(b, z);
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

    /// `online_pages()` after `MEM_GOING_ONLINE`: the isolated pageblocks
    /// counted, the zone's pageset made if it was unpopulated,
    /// `online_pages_range` (`generic_online_page` → `__free_pages_core`:
    /// managed pages up, every page freed into its isolated pageblock),
    /// `adjust_present_page_count`, `node_states_set_node`,
    /// `undo_isolate_page_range(MIGRATE_MOVABLE)` (the free pages into
    /// `NR_FREE_PAGES`) and `init_per_zone_wmark_min`. Returns the node
    /// note for the trace.
    fn online_pages_locked(&self, b: usize, z: usize, zone: &'static str) -> String {
        self.s().mem.zones[z].nr_isolate_pageblock += PAGEBLOCKS as i64;
        if !self.s().mem.zones[z].populated() {
            self.setup_zone_pageset(z);
        }
        {
            let mut s = self.s();
            s.mem.blocks[b].pages = Pages { free: BLOCK_PAGES, ..Pages::default() };
            s.mem.blocks[b].online_sections = true;
        }
        self.adjust_managed_page_count(z, i64::from(BLOCK_PAGES));
        self.adjust_present_page_count(z, i64::from(BLOCK_PAGES));
        let nid = self.s().mem.blocks[b].nid;
        let new_node = self.s().mem.nodes_with_memory.insert(nid);
        if zone != "Movable" {
            self.s().mem.nodes_with_normal.insert(nid);
        }
        self.undo_isolate_page_range(b, 0..PAGEBLOCKS, Migratetype::Movable);
        self.init_per_zone_wmark_min();
        if new_node { format!(", node_states_set_node({nid})") } else { String::new() }
    }

    /// `adjust_present_page_count()`.
    fn adjust_present_page_count(&self, z: usize, nr_pages: i64) {
        let mut s = self.s();
        let zone = &mut s.mem.zones[z];
        zone.present_pages = zone.present_pages.saturating_add_signed(nr_pages);
    }

    /// `move_pfn_range_to_zone()`: the zone (made if this node never had
    /// it) grows to span the block (`init_currently_empty_zone`,
    /// `resize_zone_range`), and `memmap_init_range` links the block's
    /// pages to it with every pageblock `mt`; no zone count changes.
    fn move_pfn_range_to_zone(&self, b: usize, zone: &'static str, mt: Migratetype) -> usize {
        let nid = self.s().mem.blocks[b].nid;
        let z = self.zone_index(nid, zone);
        let mut s = self.s();
        let pfn = block_pfn(s.mem.blocks[b].index);
        let nr = u64::from(BLOCK_PAGES);
        let zn = &mut s.mem.zones[z];
        let old_end = zn.end_pfn();
        if zn.is_empty() || pfn < zn.zone_start_pfn {
            zn.zone_start_pfn = pfn;
        }
        zn.spanned_pages = (pfn + nr).max(old_end) - zn.zone_start_pfn;
        let blk = &mut s.mem.blocks[b];
        blk.page_zone = Some(z);
        blk.pageblocks = [mt; PAGEBLOCKS];
        z
    }

    /// `remove_pfn_range_from_zone()`: the block's pages leave the zone
    /// (poisoned), and `shrink_zone_span` cuts the zone at an edge.
    fn remove_pfn_range_from_zone(&self, b: usize, z: usize) {
        let start = block_pfn(self.s().mem.blocks[b].index);
        self.s().mem.blocks[b].page_zone = None;
        self.shrink_zone_span(z, start, start + u64::from(BLOCK_PAGES));
    }

    /// `shrink_zone_span()`: a range at the zone's start moves the start to
    /// the next online block of the zone, one at its end moves the end back
    /// to the last; none left empties it. A range in the middle changes
    /// nothing.
    fn shrink_zone_span(&self, z: usize, start: u64, end: u64) {
        let mut s = self.s();
        let nr = u64::from(BLOCK_PAGES);
        let online: Vec<u64> = s
            .mem
            .blocks
            .iter()
            .filter(|o| o.registered && o.online_sections && o.page_zone == Some(z))
            .map(|o| block_pfn(o.index))
            .collect();
        let zone = &mut s.mem.zones[z];
        let zone_end = zone.end_pfn();
        let found = if zone.zone_start_pfn == start {
            // find_smallest_section_pfn(end, zone_end)
            online.iter().copied().filter(|&p| p >= end && p < zone_end).min().map(|p| (p, zone_end - p))
        } else if zone_end == end {
            // find_biggest_section_pfn(zone_start, start)
            let first = zone.zone_start_pfn;
            online.iter().copied().filter(|&p| p >= first && p < start).max().map(|p| (first, p + nr - first))
        } else {
            return;
        };
        let (start_pfn, spanned) = found.unwrap_or((0, 0));
        (zone.zone_start_pfn, zone.spanned_pages) = (start_pfn, spanned);
        let name = zone.name;
        drop(s);
        self.step(format!("shrink_zone_span({name}): zone_start_pfn {start_pfn}, spanned_pages {spanned}"));
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
        let Some(z) = self.s().mem.blocks[b].page_zone else { return -EINVAL };
        self.step(at("zone_pcp_disable, lru_cache_disable"));
        self.zone_pcp_disable(z).await;
        self.lru_cache_disable().await;
        let isolated = match self.mem_failpoint(b, MemStep::Isolate) {
            Some(err) => Err(err),
            None => self.start_isolate_page_range(b, Migratetype::Movable).map_err(|why| {
                self.step(at(&format!("start_isolate_page_range: {why}")));
                -EBUSY
            }),
        };
        if let Err(err) = isolated {
            self.step(at("failure to isolate range: lru_cache_enable, zone_pcp_enable"));
            self.failed_removal_pcplists_disabled(z).await;
            return err;
        }
        self.step(at("start_isolate_page_range(MIGRATE_MOVABLE)"));
        let notified = self.memory_notify(MemAction::GoingOffline, b);
        if notified != 0 {
            return self.failed_removal_isolated(b, notified, "notifier failure").await;
        }
        if let Err((err, reason)) = self.isolated_pages_loop(b).await {
            return self.failed_removal_isolated(b, err, reason).await;
        }
        if self.__offline_isolated_pages(b) {
            self.die().await;
        }
        self.offlined(b, z).await;
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
        self.remove_pfn_range_from_zone(b, z);
        0
    }

    /// `offline_pages()` once the pages are gone: the sections offline, the
    /// isolated pageblocks no longer counted (their flags stale), the LRU
    /// cache and pcplists enabled, managed and present pages down, the
    /// watermarks and pcp sizes redone, the pageset dropped if the zone is
    /// now unpopulated.
    async fn offlined(&self, b: usize, z: usize) {
        let nr = i64::from(BLOCK_PAGES);
        self.s().mem.blocks[b].online_sections = false;
        self.s().mem.zones[z].nr_isolate_pageblock -= PAGEBLOCKS as i64;
        self.lru_cache_enable();
        self.zone_pcp_enable(z).await;
        // regression: synthetic-offline-keeps-managed
        if !self.cfg.has(Regression::SyntheticOfflineKeepsManaged) {
            self.adjust_managed_page_count(z, -nr);
        }
        self.adjust_present_page_count(z, -nr);
        self.init_per_zone_wmark_min();
        if !self.s().mem.zones[z].populated() {
            self.zone_pcp_reset(z);
        }
    }

    /// The `do { ... } while (test_pages_isolated())` loop of
    /// `offline_pages`: migrate until no movable page is left, dissolve
    /// huge pages, and start again while a page of the range is not a free
    /// buddy page (one left on a pcplist, say). The signal the model's
    /// bound stands for ends it.
    async fn isolated_pages_loop(&self, b: usize) -> Result<(), (i32, &'static str)> {
        let mut round = 0;
        loop {
            self.migrate_loop(b, &mut round).await?;
            if let Some(err) = self.mem_failpoint(b, MemStep::Dissolve) {
                return Err((err, "failure to dissolve huge pages"));
            }
            if self.test_pages_isolated(b) == 0 {
                return Ok(());
            }
            let index = self.s().mem.blocks[b].index;
            self.step(format!("offline_pages(memory{index}): test_pages_isolated = -EBUSY: again"));
        }
    }

    /// The migrate loop: until no movable page is left, migrate what can be
    /// migrated; each round a preemption point (`cond_resched`). Pinned
    /// pages never migrate, so only the "signal" (the bound) ends it.
    async fn migrate_loop(&self, b: usize, round: &mut u32) -> Result<(), (i32, &'static str)> {
        let bound = self.s().mem.migrate_bound;
        loop {
            if *round >= bound {
                return Err((-EINTR, "signal backoff"));
            }
            *round += 1;
            let round = *round;
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
    /// free buddy pages (allocated from its zone's buddy lists, so out of
    /// `NR_FREE_PAGES` there); they stay if there is none. The source pages
    /// are freed into their isolated pageblocks, which `NR_FREE_PAGES` does
    /// not count.
    fn migrate_pages(&self, b: usize, n: u32) {
        let mut s = self.s();
        let target = (0..s.mem.blocks.len())
            .find(|&t| t != b && s.mem.blocks[t].state == BlockState::Online && buddy_pages(&s.mem, t) >= n);
        let index = s.mem.blocks[b].index;
        let text = match target {
            Some(t) => {
                if let Some(tz) = s.mem.blocks[t].page_zone {
                    s.mem.zones[tz].nr_free_pages -= i64::from(n);
                }
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
            self.undo_isolate_page_range(b, 0..PAGEBLOCKS, Migratetype::Movable);
        } else {
            self.step(format!("offline_pages(memory{index}): {reason}: undo_isolate_page_range"));
            self.undo_isolate_page_range(b, 0..PAGEBLOCKS, Migratetype::Movable);
            self.memory_notify(MemAction::CancelOffline, b);
        }
        self.step(format!(
            "offline_pages(memory{index}): lru_cache_enable, zone_pcp_enable: memory offlining failed due to {reason}"
        ));
        let zone = self.s().mem.blocks[b].page_zone;
        if let Some(z) = zone {
            self.failed_removal_pcplists_disabled(z).await;
        }
        err
    }

    /// `offline_pages()`'s `failed_removal_pcplists_disabled` label:
    /// `lru_cache_enable`, `zone_pcp_enable`.
    async fn failed_removal_pcplists_disabled(&self, z: usize) {
        // regression: synthetic-lru-enable-skipped
        if !self.cfg.has(Regression::SyntheticLruEnableSkipped) {
            self.lru_cache_enable();
        }
        self.zone_pcp_enable(z).await;
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
            blk.page_zone = None;
            blk.online_sections = false;
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
            page_zone: None,
            pageblocks: [Migratetype::Movable; PAGEBLOCKS],
            online_sections: false,
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
