//! `mm/page_alloc.c` (6.1.192), the part memory hotplug reaches: zones and
//! their page counts (`zone_start_pfn`, `spanned_pages`, `present_pages`,
//! `managed_pages`, the `NR_FREE_PAGES` vmstat, `nr_isolate_pageblock`),
//! the per-CPU page lists (`struct per_cpu_pages`: its pages, `high`,
//! `batch`, `free_factor`) with `free_unref_page`, `free_unref_page_commit`,
//! `nr_pcp_free`, `free_pcppages_bulk`, `__free_one_page`'s accounting,
//! `drain_pages_zone`, `drain_pages`, `__drain_all_pages` under
//! `pcpu_drain_mutex`, `zone_pcp_disable`/`zone_pcp_enable` under
//! `pcp_batch_high_lock`, `setup_zone_pageset`,
//! `zone_set_pageset_high_and_batch`, `zone_pcp_update`, `zone_pcp_reset`,
//! `page_alloc_cpu_dead` (`CPUHP_PAGE_ALLOC`), `adjust_managed_page_count`
//! and `__offline_isolated_pages`; and the `mm` invariants (`check`).
//!
//! Pages are abstract (a block's pages as `drivers/base/memory.rs` counts
//! them). A page on a pcplist is one of its block's free pages that is not
//! in the buddy allocator. Within a block the buddy pages come first, then
//! the pcplist pages, then the used ones, so a pageblock's share of the
//! buddy pages follows from its position (`pageblock_buddy`).
//!
//! 6.1 drains remotely (`drain_pages_zone` takes the CPU's `pcp->lock`
//! from the draining CPU), so there is no per-CPU work: the drainer reads
//! `cpu_online_mask` and drains each CPU itself; `page_alloc_cpu_dead`
//! drains a CPU that died after that read. Left out: page orders (every
//! page is order 0: no merging, splitting or high-order pcplists),
//! migratetypes other than MOVABLE and ISOLATE, watermarks (the abstract
//! low watermark `zone_highsize` splits is half the zone's managed pages,
//! across no CPUs; `zone_batchsize` is 1, as for any zone this small),
//! `ZONE_RECLAIM_ACTIVE`, vm events and stat folding, `totalram_pages`,
//! zonelists, and allocation (migration takes its target pages from the
//! buddy lists directly).

use crate::drivers::base::memory::{BLOCK_PAGES, BlockState, MemState};
use crate::kernel::Kernel;
use crate::kernel::trace::SplatKind;
use crate::sim::lock::Mode;

/// Pages per pageblock in the model (`pageblock_nr_pages`).
pub const PAGEBLOCK_NR_PAGES: u32 = 4;
/// Pageblocks per memory block.
pub const PAGEBLOCKS: usize = (BLOCK_PAGES / PAGEBLOCK_NR_PAGES) as usize;
/// `BOOT_PAGESET_HIGH`, `BOOT_PAGESET_BATCH`: what `per_cpu_pages_init`
/// gives a pageset before `zone_set_pageset_high_and_batch`.
const BOOT_PAGESET_HIGH: u32 = 0;
const BOOT_PAGESET_BATCH: u32 = 1;
/// `CONFIG_PCP_BATCH_SCALE_MAX` (its default).
const PCP_BATCH_SCALE_MAX: u32 = 5;

/// A pageblock's migratetype (`get_pageblock_migratetype`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Migratetype {
    Movable,
    Isolate,
}

impl Migratetype {
    pub fn name(self) -> &'static str {
        match self {
            Migratetype::Movable => "MOVABLE",
            Migratetype::Isolate => "ISOLATE",
        }
    }
}

/// `struct per_cpu_pages`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PerCpuPages {
    pub high: u32,
    pub batch: u32,
    pub free_factor: u32,
    /// The pages on the list, newest first, each as its block (an index
    /// into `MemState::blocks`); `pcp->count` is its length.
    pub list: Vec<usize>,
}

/// `struct zone`, the fields memory hotplug changes.
#[derive(Clone, Debug)]
pub struct Zone {
    pub nid: u32,
    /// `zone->name`: `DMA32`, `Normal` or `Movable`.
    pub name: &'static str,
    pub zone_start_pfn: u64,
    pub spanned_pages: u64,
    pub present_pages: u64,
    pub managed_pages: u64,
    /// `zone_page_state(zone, NR_FREE_PAGES)`.
    pub nr_free_pages: i64,
    pub nr_isolate_pageblock: i64,
    /// `zone->pageset_high`, `zone->pageset_batch`.
    pub pageset_high: u32,
    pub pageset_batch: u32,
    /// `zone->per_cpu_pageset`, per possible CPU; empty while the zone has
    /// the shared `boot_pageset` (`zone_pcp_reset`, never populated).
    pub pageset: Vec<PerCpuPages>,
}

impl Zone {
    pub fn new(nid: u32, name: &'static str) -> Zone {
        Zone {
            nid,
            name,
            zone_start_pfn: 0,
            spanned_pages: 0,
            present_pages: 0,
            managed_pages: 0,
            nr_free_pages: 0,
            nr_isolate_pageblock: 0,
            pageset_high: 0,
            pageset_batch: 0,
            pageset: Vec::new(),
        }
    }

    /// `zone_end_pfn()`.
    pub fn end_pfn(&self) -> u64 {
        self.zone_start_pfn + self.spanned_pages
    }

    /// `populated_zone()`.
    pub fn populated(&self) -> bool {
        self.present_pages > 0
    }

    /// `zone_is_empty()`.
    pub fn is_empty(&self) -> bool {
        self.spanned_pages == 0
    }

    /// How the final state and the checks name it.
    pub fn label(&self) -> String {
        format!("zone {} (node {})", self.name, self.nid)
    }

    /// Pages on the pcplist of `cpu`.
    pub fn pcp_count(&self, cpu: usize) -> usize {
        self.pageset.get(cpu).map_or(0, |p| p.list.len())
    }
}

/// The first pfn of block `index`.
pub fn block_pfn(index: u32) -> u64 {
    u64::from(index) * u64::from(BLOCK_PAGES)
}

/// Whether `cpu` has pages on a pcplist: what makes `page_alloc_cpu_dead`
/// change anything another task reads.
pub fn has_pcp_pages(m: &MemState, cpu: usize) -> bool {
    m.enabled && m.zones.iter().any(|z| z.pcp_count(cpu) > 0)
}

/// Pages of block `b` on any pcplist.
pub fn pcp_pages(m: &MemState, b: usize) -> u32 {
    let lists = m.zones.iter().flat_map(|z| z.pageset.iter());
    lists.map(|p| p.list.iter().filter(|&&x| x == b).count() as u32).sum()
}

/// Free pages of block `b` in the buddy allocator (not on a pcplist).
pub fn buddy_pages(m: &MemState, b: usize) -> u32 {
    m.blocks[b].pages.free.saturating_sub(pcp_pages(m, b))
}

/// The pageblock holding a block's page at position `pos` (0 to
/// `BLOCK_PAGES` less one).
pub fn pageblock_at(pos: u32) -> usize {
    ((pos / PAGEBLOCK_NR_PAGES) as usize).min(PAGEBLOCKS - 1)
}

/// The buddy pages of pageblock `pb` of block `b`: the buddy pages lie
/// first in the block.
pub fn pageblock_buddy(m: &MemState, b: usize, pb: usize) -> u32 {
    let buddy = buddy_pages(m, b);
    let (lo, hi) = (pb as u32 * PAGEBLOCK_NR_PAGES, (pb as u32 + 1) * PAGEBLOCK_NR_PAGES);
    buddy.clamp(lo, hi) - lo
}

/// `zone_batchsize()`: 1 for a zone of the model's size.
fn zone_batchsize(_z: &Zone) -> u32 {
    1
}

/// `zone_highsize()`: the abstract low watermark (half the managed pages),
/// at least `batch << 2`.
fn zone_highsize(z: &Zone, batch: u32) -> u32 {
    ((z.managed_pages / 2) as u32).max(batch << 2)
}

impl Kernel {
    /// The zone `nid`/`name`, made (empty, with the boot pageset) the first
    /// time memory is moved into it: every node's zones exist from boot.
    pub fn zone_index(&self, nid: u32, name: &'static str) -> usize {
        let mut s = self.s();
        let zones = &mut s.mem.zones;
        if let Some(z) = zones.iter().position(|z| z.nid == nid && z.name == name) {
            return z;
        }
        zones.push(Zone::new(nid, name));
        zones.len() - 1
    }

    /// `__zone_set_pageset_high_and_batch()`: every possible CPU's pageset.
    fn zone_set_pcp(&self, z: usize, high: u32, batch: u32) {
        let mut s = self.s();
        for pcp in &mut s.mem.zones[z].pageset {
            pcp.high = high;
            pcp.batch = batch;
        }
    }

    /// `zone_set_pageset_high_and_batch()`: nothing changes if the zone's
    /// values do not.
    fn zone_set_pageset_high_and_batch(&self, z: usize) {
        let (high, batch) = {
            let s = self.s();
            let zone = &s.mem.zones[z];
            let batch = zone_batchsize(zone).max(1);
            let high = zone_highsize(zone, batch);
            if zone.pageset_high == high && zone.pageset_batch == batch {
                return;
            }
            (high, batch)
        };
        {
            let mut s = self.s();
            s.mem.zones[z].pageset_high = high;
            s.mem.zones[z].pageset_batch = batch;
        }
        self.zone_set_pcp(z, high, batch);
    }

    /// `setup_zone_pageset()`: a pageset per possible CPU, initialised by
    /// `per_cpu_pages_init` to the boot values, then sized.
    pub fn setup_zone_pageset(&self, z: usize) {
        let cpus = self.cfg.cpus;
        let init = PerCpuPages { high: BOOT_PAGESET_HIGH, batch: BOOT_PAGESET_BATCH, ..PerCpuPages::default() };
        self.s().mem.zones[z].pageset = vec![init; cpus];
        self.zone_set_pageset_high_and_batch(z);
    }

    /// `zone_pcp_reset()`: back to the shared boot pageset.
    pub fn zone_pcp_reset(&self, z: usize) {
        self.s().mem.zones[z].pageset = Vec::new();
    }

    /// `zone_pcp_update()` from a context that cannot sleep in the model:
    /// `pcp_batch_high_lock` is free whenever the kernel gets here (CPU
    /// hotplug excludes memory hotplug through `cpu_hotplug_lock`), so the
    /// model takes it without a scheduling point, or only records the order
    /// if a regression switch let someone hold it.
    fn zone_pcp_update(&self, z: usize) {
        let l = self.s().mem.pcp_batch_high_lock;
        let free = self.s().locks.locks[l].can_take(Mode::Exclusive);
        if free {
            self.lock_private(l);
        } else {
            let mut s = self.s();
            let cur = s.current;
            let held = s.tasks[cur].held.clone();
            let by = Kernel::comm_of(&s, cur);
            s.locks.depend(l, &held, cur, &by);
        }
        self.zone_set_pageset_high_and_batch(z);
        if free {
            self.unlock_private(l);
        }
    }

    /// `init_per_zone_wmark_min()` → `setup_per_zone_wmarks()`: every
    /// zone's pcp sizes follow its new size (`zone_pcp_update(zone, 0)`).
    pub fn init_per_zone_wmark_min(&self) {
        let n = self.s().mem.zones.len();
        for z in 0..n {
            if !self.s().mem.zones[z].pageset.is_empty() {
                self.zone_pcp_update(z);
            }
        }
    }

    /// `adjust_managed_page_count()`.
    pub fn adjust_managed_page_count(&self, z: usize, count: i64) {
        let mut s = self.s();
        let zone = &mut s.mem.zones[z];
        zone.managed_pages = zone.managed_pages.saturating_add_signed(count);
    }

    /// `__free_one_page()`'s accounting for a page of block `b` that joins
    /// the buddy lists: `NR_FREE_PAGES` counts it unless `mt` is ISOLATE.
    /// The caller moves the page itself.
    fn free_one_page_account(&self, z: usize, mt: Migratetype) {
        if mt != Migratetype::Isolate {
            self.s().mem.zones[z].nr_free_pages += 1;
        }
    }

    /// The migratetype of the pageblock a page of block `b` joins when it
    /// becomes a buddy page (the end of the block's buddy pages).
    fn buddy_slot_mt(&self, b: usize) -> Migratetype {
        let s = self.s();
        let pos = buddy_pages(&s.mem, b);
        s.mem.blocks[b].pageblocks[pageblock_at(pos)]
    }

    /// `free_pcppages_bulk()`: `count` pages from the tail of `cpu`'s
    /// pcplist (the oldest) back to the buddy lists. A page's migratetype
    /// is the one cached when it was listed (never ISOLATE), unless the
    /// zone has isolated pageblocks: then its pageblock's.
    fn free_pcppages_bulk(&self, z: usize, cpu: usize, count: usize) -> usize {
        let mut freed = 0;
        while freed < count {
            let Some(&b) = self.s().mem.zones[z].pageset[cpu].list.last() else { break };
            let isolated_pageblocks = self.s().mem.zones[z].nr_isolate_pageblock != 0;
            // The pageblock the page joins, read before it leaves the list.
            let mt = if isolated_pageblocks { self.buddy_slot_mt(b) } else { Migratetype::Movable };
            self.s().mem.zones[z].pageset[cpu].list.pop();
            self.free_one_page_account(z, mt);
            freed += 1;
        }
        freed
    }

    /// `drain_pages_zone()`: the whole list, in `batch << SCALE_MAX` chunks
    /// under `pcp->lock` (one step here).
    fn drain_pages_zone(&self, cpu: usize, z: usize) {
        let count = self.s().mem.zones[z].pcp_count(cpu);
        if count == 0 {
            return;
        }
        self.free_pcppages_bulk(z, cpu, count);
        let label = self.s().mem.zones[z].name;
        self.step(format!(
            "drain_pages_zone(cpu{cpu}, {label}): free_pcppages_bulk: {count} page(s) to the buddy lists"
        ));
    }

    /// `drain_pages()`: every populated zone.
    fn drain_pages(&self, cpu: usize) {
        let n = self.s().mem.zones.len();
        for z in 0..n {
            if self.s().mem.zones[z].populated() && !self.s().mem.zones[z].pageset.is_empty() {
                self.drain_pages_zone(cpu, z);
            }
        }
    }

    /// Whether `cpu` has pages on a pcplist of `zone` (or of any zone).
    fn has_pcps(&self, zone: Option<usize>, cpu: usize) -> bool {
        let s = self.s();
        match zone {
            Some(z) => s.mem.zones[z].pcp_count(cpu) > 0,
            None => s.mem.zones.iter().any(|z| z.populated() && z.pcp_count(cpu) > 0),
        }
    }

    /// `__drain_all_pages()`: under `pcpu_drain_mutex` (a caller with no
    /// zone gives up if another drain holds it), the CPUs with pages (every
    /// online CPU when forced), read from `cpu_online_mask` once, then each
    /// drained from here. Preempting between two CPUs matters only when a
    /// list has pages.
    pub async fn __drain_all_pages(&self, zone: Option<usize>, force_all_cpus: bool) {
        let l = self.s().mem.pcpu_drain_mutex;
        if !self.trylock(l) {
            if zone.is_none() {
                self.step("__drain_all_pages: pcpu_drain_mutex is taken: a drain is in progress".into());
                return;
            }
            self.lock(l, Mode::Exclusive).await;
        }
        let online = self.s().cpu.online;
        let cpus: Vec<usize> = online.iter().filter(|&c| force_all_cpus || self.has_pcps(zone, c)).collect();
        for cpu in cpus {
            if self.has_pcps(zone, cpu) {
                self.preemption_point().await;
            }
            match zone {
                Some(z) => self.drain_pages_zone(cpu, z),
                None => self.drain_pages(cpu),
            }
        }
        self.unlock_private(l);
    }

    /// `drain_all_pages(NULL)`, as direct reclaim calls it.
    pub async fn drain_all_pages(&self) -> i32 {
        self.__drain_all_pages(None, false).await;
        0
    }

    /// `zone_pcp_disable()`: `pcp_batch_high_lock`, then high 0 and batch 1
    /// on every CPU (a free now goes straight to the buddy lists), then a
    /// drain of every online CPU.
    pub async fn zone_pcp_disable(&self, z: usize) {
        let l = self.s().mem.pcp_batch_high_lock;
        // Nothing else takes it while memory hotplug runs (the CPU hotplug
        // side is excluded by cpu_hotplug_lock): no scheduling point unless
        // a regression switch let two offlines overlap.
        if self.s().locks.locks[l].can_take(Mode::Exclusive) {
            self.lock_private(l);
        } else {
            self.lock(l, Mode::Exclusive).await;
        }
        self.zone_set_pcp(z, 0, 1);
        self.__drain_all_pages(Some(z), true).await;
    }

    /// `zone_pcp_enable()`: the zone's high and batch back on every CPU,
    /// and `pcp_batch_high_lock` released.
    pub async fn zone_pcp_enable(&self, z: usize) {
        let (high, batch) = {
            let s = self.s();
            (s.mem.zones[z].pageset_high, s.mem.zones[z].pageset_batch)
        };
        // regression: synthetic-pcp-enable-skipped
        if !self.cfg.has(crate::kernel::Regression::SyntheticPcpEnableSkipped) {
            self.zone_set_pcp(z, high, batch);
        }
        let l = self.s().mem.pcp_batch_high_lock;
        if self.holds(l) {
            self.unlock_private(l);
        } else {
            self.unlock(l).await;
        }
    }

    /// `nr_pcp_free()` for an order-0 free: 1 when the pageset is disabled
    /// (high below batch), else batch doubled by `free_factor`, leaving at
    /// least `batch` pages.
    fn nr_pcp_free(pcp: &mut PerCpuPages, high: u32) -> usize {
        let batch = pcp.batch;
        if high < batch {
            return 1;
        }
        let (min_nr_free, max_nr_free) = (batch, high - batch);
        let scaled = batch << pcp.free_factor;
        if scaled < max_nr_free && pcp.free_factor < PCP_BATCH_SCALE_MAX {
            pcp.free_factor += 1;
        }
        scaled.clamp(min_nr_free, max_nr_free.max(min_nr_free)) as usize
    }

    /// `free_unref_page()` of one used (movable) page of block `b`, on the
    /// calling CPU: a page of an isolated pageblock goes to the buddy lists
    /// (`free_one_page`), any other onto this CPU's pcplist
    /// (`free_unref_page_commit`), which frees a batch once it reaches
    /// `high` (0 while `zone_pcp_disable` holds it: at once). Returns where
    /// the page went, for the trace.
    pub fn free_unref_page(&self, b: usize, cpu: usize) -> String {
        let Some(z) = self.s().mem.blocks[b].page_zone else { return "nowhere: the block has no zone".into() };
        self.s().mem.pages_freed += 1;
        let mt = {
            let s = self.s();
            let pos = buddy_pages(&s.mem, b) + pcp_pages(&s.mem, b);
            s.mem.blocks[b].pageblocks[pageblock_at(pos)]
        };
        let has_pageset = !self.s().mem.zones[z].pageset.is_empty();
        if mt == Migratetype::Isolate || !has_pageset {
            let mt = self.buddy_slot_mt(b);
            self.free_one_page_account(z, mt);
            let mut s = self.s();
            s.mem.blocks[b].pages.movable -= 1;
            s.mem.blocks[b].pages.free += 1;
            return if mt == Migratetype::Isolate {
                "the isolated freelist (free_one_page: its pageblock is MIGRATE_ISOLATE)".into()
            } else {
                "the buddy lists (free_one_page: the zone has the boot pageset)".into()
            };
        }
        let bulk = {
            let mut s = self.s();
            s.mem.blocks[b].pages.movable -= 1;
            s.mem.blocks[b].pages.free += 1;
            let pcp = &mut s.mem.zones[z].pageset[cpu];
            pcp.list.insert(0, b);
            let high = pcp.high;
            (pcp.list.len() as u32 >= high).then(|| Kernel::nr_pcp_free(pcp, high))
        };
        match bulk {
            Some(n) => {
                let high = self.s().mem.zones[z].pageset[cpu].high;
                let n = self.free_pcppages_bulk(z, cpu, n);
                format!("cpu{cpu}'s pcplist, at high {high}: free_pcppages_bulk of {n} page(s) to the buddy lists")
            }
            None => format!("cpu{cpu}'s pcplist"),
        }
    }

    /// The `free_pages BLOCK N` operation: `free_unref_page()` of N used
    /// movable pages of the block on the calling CPU (a task exiting, say),
    /// each a preemption point. `-EINVAL` when the block has fewer.
    pub async fn free_pages(&self, index: u32, n: u32) -> i32 {
        let Some(b) = self.s().mem.block(index) else { return -crate::errno::ENOENT };
        for _ in 0..n {
            self.preemption_point().await;
            let movable = self.s().mem.blocks[b].pages.movable;
            if movable == 0 {
                return -crate::errno::EINVAL;
            }
            let to = self.free_unref_page(b, self.ctx().cpu);
            self.step(format!("free_unref_page(memory{index}): to {to}"));
        }
        0
    }

    /// `page_alloc_cpu_dead()` (`CPUHP_PAGE_ALLOC` teardown): the dead CPU's
    /// pcplists drained (`drain_pages`), then every populated zone's pcp
    /// sizes updated. `lru_add_drain_cpu`, `mlock_page_drain_remote` and
    /// the vm stat folding touch nothing the model keeps.
    pub fn page_alloc_cpu_dead(&self, cpu: usize) -> i32 {
        if !self.s().mem.enabled {
            return 0;
        }
        // regression: synthetic-pcp-dead-no-drain
        if !self.cfg.has(crate::kernel::Regression::SyntheticPcpDeadNoDrain) {
            self.drain_pages(cpu);
        }
        let n = self.s().mem.zones.len();
        for z in 0..n {
            if self.s().mem.zones[z].populated() {
                self.zone_pcp_update(z);
            }
        }
        0
    }

    /// `__offline_isolated_pages()`: the block's sections go offline and its
    /// free pages leave the buddy lists (isolated, so `NR_FREE_PAGES` never
    /// counted them). Every page must be a free buddy page:
    /// `BUG_ON(!PageBuddy(page))` otherwise. Returns whether it BUGged.
    pub fn __offline_isolated_pages(&self, b: usize) -> bool {
        let (index, left) = {
            let s = self.s();
            let p = s.mem.blocks[b].pages;
            (s.mem.blocks[b].index, p.total() - buddy_pages(&s.mem, b))
        };
        if left > 0 {
            let title = format!(
                "kernel BUG at mm/page_alloc.c:__offline_isolated_pages: BUG_ON(!PageBuddy(page)): memory{index} has {left} page(s) that are not free buddy pages"
            );
            return self.splat(SplatKind::Bug, "mm/page_alloc.c:__offline_isolated_pages", title, false);
        }
        self.s().mem.blocks[b].pages = crate::drivers::base::memory::Pages::default();
        false
    }
}

/// The `mm` invariants at rest: each zone's counts between themselves and
/// against its blocks, no isolated pageblock left, the LRU cache and every
/// pageset enabled, and no pages on a pcplist of an offline CPU.
pub fn check(s: &crate::kernel::KState, settled: bool) -> Vec<String> {
    let m = &s.mem;
    if !m.enabled || !settled {
        return Vec::new();
    }
    let mut v = Vec::new();
    for (z, zone) in m.zones.iter().enumerate() {
        zone_counts(m, z, zone, &mut v);
        zone_pcp(s, zone, &mut v);
    }
    for b in m.blocks.iter().filter(|b| b.registered && b.state == BlockState::Online) {
        if let Some(pb) = b.pageblocks.iter().position(|&mt| mt == Migratetype::Isolate) {
            v.push(format!("memory{} is online with pageblock {pb} still MIGRATE_ISOLATE", b.index));
        }
    }
    if m.lru_disable_count != 0 {
        v.push(format!(
            "lru_disable_count is {} at rest: lru_cache_disable() without lru_cache_enable()",
            m.lru_disable_count
        ));
    }
    v
}

/// One zone's page counts: managed ≤ present ≤ spanned, free ≤ managed,
/// present pages exactly its online blocks', `NR_FREE_PAGES` exactly their
/// buddy pages outside isolated pageblocks, its span covering them, and no
/// isolated pageblock counted.
fn zone_counts(m: &MemState, z: usize, zone: &Zone, v: &mut Vec<String>) {
    let name = zone.label();
    if !(zone.managed_pages <= zone.present_pages && zone.present_pages <= zone.spanned_pages) {
        v.push(format!(
            "{name}: managed_pages {} / present_pages {} / spanned_pages {} are not managed ≤ present ≤ spanned",
            zone.managed_pages, zone.present_pages, zone.spanned_pages
        ));
    }
    if zone.nr_free_pages < 0 || zone.nr_free_pages as u64 > zone.managed_pages {
        v.push(format!(
            "{name}: NR_FREE_PAGES {} is not within 0 to managed_pages {}",
            zone.nr_free_pages, zone.managed_pages
        ));
    }
    let mine = || m.blocks.iter().enumerate().filter(|(_, b)| b.registered && b.page_zone == Some(z));
    let online: Vec<usize> = mine().filter(|(_, b)| b.state == BlockState::Online).map(|(i, _)| i).collect();
    let present: u64 = online.iter().map(|_| u64::from(BLOCK_PAGES)).sum();
    if zone.present_pages != present {
        v.push(format!(
            "{name}: present_pages {}, but its online blocks have {present} (an offline block contributes none)",
            zone.present_pages
        ));
    }
    let buddy: i64 = online
        .iter()
        .map(|&b| {
            let counted = (0..PAGEBLOCKS).filter(|&pb| m.blocks[b].pageblocks[pb] != Migratetype::Isolate);
            counted.map(|pb| i64::from(pageblock_buddy(m, b, pb))).sum::<i64>()
        })
        .sum();
    if zone.nr_free_pages != buddy {
        v.push(format!(
            "{name}: NR_FREE_PAGES {}, but its blocks have {buddy} buddy page(s) outside isolated pageblocks",
            zone.nr_free_pages
        ));
    }
    for &b in &online {
        let pfn = block_pfn(m.blocks[b].index);
        if pfn < zone.zone_start_pfn || pfn + u64::from(BLOCK_PAGES) > zone.end_pfn() {
            v.push(format!(
                "{name}: spans pfns {} to {}, but its online memory{} starts at pfn {pfn}",
                zone.zone_start_pfn,
                zone.end_pfn(),
                m.blocks[b].index
            ));
        }
    }
    if zone.nr_isolate_pageblock != 0 {
        v.push(format!("{name}: nr_isolate_pageblock is {} at rest", zone.nr_isolate_pageblock));
    }
}

/// One zone's pagesets: enabled (high and batch the zone's own), and empty
/// on every CPU that is not online.
fn zone_pcp(s: &crate::kernel::KState, zone: &Zone, v: &mut Vec<String>) {
    let name = zone.label();
    for (cpu, pcp) in zone.pageset.iter().enumerate() {
        if pcp.high != zone.pageset_high || pcp.batch != zone.pageset_batch {
            v.push(format!(
                "{name}: CPU{cpu}'s pageset has high {} batch {}, the zone's are {} and {}: its pcplist is still disabled (zone_pcp_disable without zone_pcp_enable)",
                pcp.high, pcp.batch, zone.pageset_high, zone.pageset_batch
            ));
            break;
        }
    }
    for (cpu, pcp) in zone.pageset.iter().enumerate() {
        if !pcp.list.is_empty() && !s.cpu.online.test(cpu) {
            v.push(format!("{name}: CPU{cpu} is offline with {} page(s) on its pcplist", pcp.list.len()));
        }
    }
}
