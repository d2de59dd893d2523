//! `drivers/base/memory.c` (6.1.192) and the generic `online` attribute and
//! `device_online`/`device_offline` of `drivers/base/core.c`, for memory
//! block devices.
//!
//! - Memory blocks `memoryN` with `mem->state` (online, offline,
//!   going-offline), the device's own `dev->offline`, `mem->zone` and
//!   `online_type`; the layout (block size, boot blocks, blocks with holes)
//!   comes from the profile.
//! - `state_store` ("online", "online_kernel", "online_movable", "offline";
//!   an already-online block is `-EINVAL`), the generic `online_store`
//!   (`kstrtobool`; already online is success), both under
//!   `lock_device_hotplug_sysfs()`.
//! - `device_online`/`device_offline` under the block's `device_lock`,
//!   `memory_subsys_online`/`_offline`, `memory_block_change_state`,
//!   `memory_block_online`/`_offline` with `mem_hotplug_begin`/`done`.
//! - The memory notifier chain (`memory_notify`, priorities, the walk stops
//!   at `NOTIFY_STOP_MASK`, `notifier_to_errno`).
//! - `valid_zones` as the oracle read it.
//!
//! Pages are abstract: per block, free, movable, pinned (movable, but
//! migration keeps failing) and unmovable pages. Left out: memory groups,
//! `memmap_on_memory`, NUMA beyond a node number, `removable`, `phys_device`,
//! the `probe` attribute, and uevents.

use crate::errno::*;
use crate::kernel::{Kernel, Regression};
use crate::mm::page_alloc::{Migratetype, PAGEBLOCKS, Zone};
use crate::sim::TaskId;
use crate::sim::lock::{LockId, LockKind, Mode};

/// `mem->state`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockState {
    Online,
    GoingOffline,
    Offline,
}

impl BlockState {
    /// What `state` reads.
    pub fn show(self) -> &'static str {
        match self {
            BlockState::Online => "online",
            BlockState::GoingOffline => "going-offline",
            BlockState::Offline => "offline",
        }
    }
}

/// `enum mmop`: how to online.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mmop {
    Offline,
    Online,
    OnlineKernel,
    OnlineMovable,
}

/// The abstract pages of a block.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pages {
    pub free: u32,
    pub movable: u32,
    /// Movable, but every migration attempt fails (a long-term pin).
    pub pinned: u32,
    /// Kernel allocations: isolation refuses the range.
    pub unmovable: u32,
}

impl Pages {
    pub fn total(self) -> u32 {
        self.free + self.movable + self.pinned + self.unmovable
    }
}

/// Pages per block in the model.
pub const BLOCK_PAGES: u32 = 16;

/// One `struct memory_block`.
#[derive(Clone, Debug)]
pub struct MemBlock {
    /// N of `memoryN`: the block's physical index.
    pub index: u32,
    pub nid: u32,
    pub state: BlockState,
    /// `dev->offline`.
    pub dev_offline: bool,
    /// `mem->zone`: set while online.
    pub zone: Option<&'static str>,
    pub online_type: Mmop,
    pub pages: Pages,
    /// Not all of its range is System RAM.
    pub holes: bool,
    /// Boot memory (below 4 GiB: DMA32), or hot-added (Normal).
    pub boot: bool,
    /// `device_lock(&mem->dev)`.
    pub dev_lock: LockId,
    /// The zone `online_pages` is moving the range to, while it runs.
    pub onlining: Option<&'static str>,
    /// Registered: its sysfs files exist.
    pub registered: bool,
    /// The zone its pages are in (`page_zone()`, an index into
    /// `MemState::zones`): set by `move_pfn_range_to_zone`, cleared by
    /// `remove_pfn_range_from_zone`; boot memory is in its zone from boot.
    pub page_zone: Option<usize>,
    /// Its pageblocks' migratetypes. Stale while the block is offline, as
    /// 6.1 leaves them.
    pub pageblocks: [Migratetype; PAGEBLOCKS],
    /// Its sections are online (`online_mem_sections` /
    /// `offline_mem_sections`): what `pfn_to_online_page` sees.
    pub online_sections: bool,
}

impl MemBlock {
    /// `valid_zones`, as the oracle read it: the block's zone while online,
    /// the zones it could go to while offline, `none` with holes.
    pub fn valid_zones(&self) -> String {
        match (self.state, self.zone) {
            (BlockState::Offline, _) => format!("{} Movable", self.kernel_zone()),
            (_, Some(z)) => z.to_string(),
            (_, None) => "none".into(),
        }
    }

    fn kernel_zone(&self) -> &'static str {
        if self.boot { "DMA32" } else { "Normal" }
    }
}

/// The memory notifiers the model knows, by priority (higher first).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notifier {
    /// `slab_memory_callback`, at `SLAB_CALLBACK_PRI` (1).
    Slab,
    /// `lib/memory-notifier-error-inject.c`, at its `priority` parameter (0).
    ErrorInject,
}

impl Notifier {
    pub fn name(self) -> &'static str {
        match self {
            Notifier::Slab => "slab_memory_callback",
            Notifier::ErrorInject => "memory_notifier_error_inject",
        }
    }
}

/// A memory notifier action (`include/linux/memory.h`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemAction {
    GoingOnline,
    Online,
    CancelOnline,
    GoingOffline,
    Offline,
    CancelOffline,
}

impl MemAction {
    pub fn name(self) -> &'static str {
        match self {
            MemAction::GoingOnline => "MEM_GOING_ONLINE",
            MemAction::Online => "MEM_ONLINE",
            MemAction::CancelOnline => "MEM_CANCEL_ONLINE",
            MemAction::GoingOffline => "MEM_GOING_OFFLINE",
            MemAction::Offline => "MEM_OFFLINE",
            MemAction::CancelOffline => "MEM_CANCEL_OFFLINE",
        }
    }
}

/// Memory hotplug state.
#[derive(Clone, Debug, Default)]
pub struct MemState {
    pub enabled: bool,
    pub blocks: Vec<MemBlock>,
    pub mem_hotplug_lock: LockId,
    /// `auto_online_blocks` / `mhp_default_online_type`.
    pub auto_online: bool,
    /// The migrate loop's bound: reaching it stands for a pending signal.
    pub migrate_bound: u32,
    /// `notifier-error-inject/memory/actions/{MEM_GOING_ONLINE,MEM_GOING_OFFLINE}/error`.
    pub inject_going_online: i32,
    pub inject_going_offline: i32,
    /// Nodes with memory (`N_MEMORY`), and the nodes whose slab per-node
    /// structures exist.
    pub nodes_with_memory: std::collections::BTreeSet<u32>,
    /// Nodes with memory in a kernel zone (`N_NORMAL_MEMORY`): what
    /// `status_change_nid_normal` and so the slab callback look at.
    pub nodes_with_normal: std::collections::BTreeSet<u32>,
    pub slab_nodes: std::collections::BTreeSet<u32>,
    /// Tasks inside `online_pages`/`offline_pages`, and `get_online_mems`
    /// readers inside their section: `mem_hotplug_lock` should make them
    /// exclusive.
    pub writers: Vec<(TaskId, &'static str, u32)>,
    pub readers: Vec<TaskId>,
    /// Broken invariants, first seen first.
    pub violations: Vec<String>,
    /// Re-entries of `mem_hotplug_begin` by its writer (before 4.1).
    pub recursion: u32,
    /// The entry point each task came through (`state_store`,
    /// `online_store`, `add_memory`), to name the path of a report.
    pub entry: Vec<(TaskId, &'static str)>,
    /// Movable, pinned and unmovable pages at boot: migration moves them,
    /// nothing loses them.
    pub used_at_boot: u32,
    /// Used pages freed since (`free_pages`).
    pub pages_freed: u32,
    /// The zones memory has been in, by first use (`mm/page_alloc.rs`).
    pub zones: Vec<Zone>,
    /// `mm/swap.c`: `lru_disable_count` and `lru_drain_gen`.
    pub lru_disable_count: i32,
    pub lru_drain_gen: u32,
    /// `mm/page_alloc.c`'s `pcp_batch_high_lock` and `pcpu_drain_mutex`,
    /// `mm/swap.c`'s `__lru_add_drain_all` mutex.
    pub pcp_batch_high_lock: LockId,
    pub pcpu_drain_mutex: LockId,
    pub lru_add_drain_all_lock: LockId,
}

impl MemState {
    pub fn block(&self, index: u32) -> Option<usize> {
        self.blocks.iter().position(|b| b.index == index && b.registered)
    }
}

/// A block description from the case.
#[derive(Clone, Debug, Default)]
pub struct BlockPages {
    pub index: u32,
    pub pages: Pages,
}

impl Kernel {
    /// Boots the memory: the profile's boot blocks, online, as the firmware
    /// and `memory_dev_init` leave them.
    pub fn memory_init(&self, boot_blocks: u32, holes: &[u32], pages: &[BlockPages], auto_online: bool, bound: u32) {
        let mut s = self.s();
        let lock = s.locks.add("mem_hotplug_lock", LockKind::RwSem);
        let pcp_batch_high_lock = s.locks.add("pcp_batch_high_lock", LockKind::Mutex);
        let pcpu_drain_mutex = s.locks.add("pcpu_drain_mutex", LockKind::Mutex);
        let lru_add_drain_all_lock = s.locks.add("lru_add_drain_all lock (mm/swap.c)", LockKind::Mutex);
        s.mem = MemState {
            enabled: true,
            mem_hotplug_lock: lock,
            pcp_batch_high_lock,
            pcpu_drain_mutex,
            lru_add_drain_all_lock,
            auto_online,
            migrate_bound: bound,
            ..MemState::default()
        };
        s.mem.nodes_with_memory.insert(0);
        s.mem.nodes_with_normal.insert(0);
        s.mem.slab_nodes.insert(0);
        for index in 0..boot_blocks {
            let dev_lock = s.locks.add(&format!("device_lock(memory{index})"), LockKind::Mutex);
            let p = pages.iter().find(|p| p.index == index).map_or(default_pages(), |p| p.pages);
            s.mem.blocks.push(MemBlock {
                index,
                nid: 0,
                state: BlockState::Online,
                dev_offline: false,
                online_type: Mmop::Offline,
                pages: p,
                holes: holes.contains(&index),
                // early_node_zone_for_memory_block(): no zone for a range
                // with holes.
                zone: if holes.contains(&index) { None } else { Some("DMA32") },
                boot: true,
                dev_lock,
                onlining: None,
                registered: true,
                page_zone: Some(0),
                pageblocks: [Migratetype::Movable; PAGEBLOCKS],
                online_sections: true,
            });
        }
        s.mem.used_at_boot = s.mem.blocks.iter().map(|b| b.pages.total() - b.pages.free).sum();
        drop(s);
        self.boot_zone(boot_blocks);
    }

    /// The boot zone (`free_area_init`, `memblock_free_all`,
    /// `setup_per_cpu_pageset`): every boot block in node 0's DMA32, all
    /// present and managed, its free pages in the buddy lists.
    fn boot_zone(&self, boot_blocks: u32) {
        let z = self.zone_index(0, "DMA32");
        {
            let mut s = self.s();
            let free: u32 = s.mem.blocks.iter().map(|b| b.pages.free).sum();
            let zone = &mut s.mem.zones[z];
            zone.spanned_pages = u64::from(boot_blocks) * u64::from(BLOCK_PAGES);
            zone.present_pages = zone.spanned_pages;
            zone.managed_pages = zone.spanned_pages;
            zone.nr_free_pages = i64::from(free);
        }
        self.setup_zone_pageset(z);
    }

    /// `state_store()`: 0 for success (the write's count).
    pub async fn memory_state_store(&self, index: u32, buf: &str) -> i32 {
        let online_type = match buf.strip_suffix('\n').unwrap_or(buf) {
            "online" => Mmop::Online,
            "online_kernel" => Mmop::OnlineKernel,
            "online_movable" => Mmop::OnlineMovable,
            "offline" => Mmop::Offline,
            _ => return -EINVAL,
        };
        let Some(b) = self.s().mem.block(index) else { return -ENOENT };
        self.mem_entry("state_store");
        self.lock_device_hotplug_sysfs().await;
        // A restarted write finds the device again, or not (-ENODEV).
        if self.s().mem.block(index) != Some(b) {
            self.unlock_device_hotplug().await;
            return -ENODEV;
        }
        // regression: memhp-online-pages-unlocked. 4.19: the `state` store
        // alone took mem_hotplug_lock, around the whole
        // device_online/offline (30467e0b3be8).
        let old = self.cfg.has(Regression::MemhpOnlinePagesUnlocked);
        if old {
            self.mem_hotplug_begin().await;
        }
        let ret = if online_type == Mmop::Offline {
            self.device_offline_mem(b).await
        } else {
            self.s().mem.blocks[b].online_type = online_type;
            self.device_online_mem(b).await
        };
        if old {
            self.mem_hotplug_done().await;
        }
        self.unlock_device_hotplug().await;
        match ret {
            r if r < 0 => r,
            0 => 0,
            _ => -EINVAL,
        }
    }

    /// The generic `online_store()` of `drivers/base/core.c` on a memory
    /// block: already in that state is success.
    pub async fn memory_online_store(&self, index: u32, buf: &str) -> i32 {
        let val = match crate::drivers::base::cpu::kstrtobool(buf) {
            Ok(v) => v,
            Err(e) => return e,
        };
        let Some(b) = self.s().mem.block(index) else { return -ENOENT };
        self.mem_entry("online_store");
        self.lock_device_hotplug_sysfs().await;
        if self.s().mem.block(index) != Some(b) {
            self.unlock_device_hotplug().await;
            return -ENODEV;
        }
        let ret = if val { self.device_online_mem(b).await } else { self.device_offline_mem(b).await };
        self.unlock_device_hotplug().await;
        ret.min(0)
    }

    /// `device_online()`: 1 if it already was.
    pub async fn device_online_mem(&self, b: usize) -> i32 {
        let lock = self.s().mem.blocks[b].dev_lock;
        self.lock(lock, Mode::Exclusive).await;
        let ret = if self.s().mem.blocks[b].dev_offline {
            let ret = self.memory_subsys_online(b).await;
            if ret == 0 {
                self.s().mem.blocks[b].dev_offline = false;
            }
            ret
        } else {
            1
        };
        self.unlock(lock).await;
        ret
    }

    /// `device_offline()`: 1 if it already was.
    pub async fn device_offline_mem(&self, b: usize) -> i32 {
        let lock = self.s().mem.blocks[b].dev_lock;
        self.lock(lock, Mode::Exclusive).await;
        let ret = if !self.s().mem.blocks[b].dev_offline {
            let ret = self.memory_subsys_offline(b).await;
            if ret == 0 {
                self.s().mem.blocks[b].dev_offline = true;
            }
            ret
        } else {
            1
        };
        self.unlock(lock).await;
        ret
    }

    /// `memory_subsys_online()`.
    async fn memory_subsys_online(&self, b: usize) -> i32 {
        if self.s().mem.blocks[b].state == BlockState::Online {
            return 0;
        }
        if self.s().mem.blocks[b].online_type == Mmop::Offline {
            self.s().mem.blocks[b].online_type = Mmop::Online;
        }
        let ret = self.memory_block_change_state(b, BlockState::Online, BlockState::Offline).await;
        self.s().mem.blocks[b].online_type = Mmop::Offline;
        ret
    }

    /// `memory_subsys_offline()`.
    async fn memory_subsys_offline(&self, b: usize) -> i32 {
        if self.s().mem.blocks[b].state == BlockState::Offline {
            return 0;
        }
        self.memory_block_change_state(b, BlockState::Offline, BlockState::Online).await
    }

    /// `memory_block_change_state()`.
    async fn memory_block_change_state(&self, b: usize, to: BlockState, from: BlockState) -> i32 {
        if self.s().mem.blocks[b].state != from {
            return -EINVAL;
        }
        if to == BlockState::Offline {
            self.s().mem.blocks[b].state = BlockState::GoingOffline;
        }
        let ret = match to {
            BlockState::Online => Box::pin(self.memory_block_online(b)).await,
            _ => Box::pin(self.memory_block_offline(b)).await,
        };
        self.s().mem.blocks[b].state = if ret != 0 { from } else { to };
        ret
    }

    /// `memory_block_online()`: "Must acquire mem_hotplug_lock in write
    /// mode" (6.1.192 takes it here, around `online_pages`).
    async fn memory_block_online(&self, b: usize) -> i32 {
        let zone = {
            let blk = &self.s().mem.blocks[b];
            match blk.online_type {
                Mmop::OnlineMovable => "Movable",
                _ => blk.kernel_zone(),
            }
        };
        let here = self.locks_at_online();
        if here {
            self.mem_hotplug_begin().await;
        }
        let ret = self.online_pages(b, zone).await;
        if ret == 0 {
            self.s().mem.blocks[b].zone = Some(zone);
        }
        if here {
            self.mem_hotplug_done().await;
        }
        ret
    }

    /// `memory_block_offline()`.
    async fn memory_block_offline(&self, b: usize) -> i32 {
        if self.s().mem.blocks[b].zone.is_none() {
            return -EINVAL;
        }
        let here = self.locks_at_online();
        if here {
            self.mem_hotplug_begin().await;
        }
        let ret = self.offline_pages(b).await;
        if ret == 0 {
            self.s().mem.blocks[b].zone = None;
        }
        if here {
            self.mem_hotplug_done().await;
        }
        ret
    }

    /// Where `mem_hotplug_lock` is taken around onlining: here in 6.1; in
    /// `online_pages` itself before 30467e0b3be8; only by the `state` store
    /// in 4.19.
    fn locks_at_online(&self) -> bool {
        // regression: memhp-online-pages-unlocked, memhp-add-online-abba
        !self.cfg.has(Regression::MemhpOnlinePagesUnlocked) && !self.cfg.has(Regression::MemhpAddOnlineAbba)
    }

    /// `memory_notify(action)`: the chain by priority; a notifier's error
    /// stops the walk. Returns `notifier_to_errno()` of the last result. A
    /// failpoint at a `MEM_GOING_*` step vetoes where the error injector
    /// sits (priority 0, after `slab_memory_callback`).
    pub fn memory_notify(&self, action: MemAction, b: usize) -> i32 {
        let mut results = Vec::new();
        let mut ret = 0;
        for n in [Notifier::Slab, Notifier::ErrorInject] {
            let (r, by) = match n {
                Notifier::Slab => (self.slab_memory_callback(action, b), None),
                Notifier::ErrorInject => match self.going_failpoint(action, b) {
                    Some((err, site)) => (err, Some(site)),
                    None => (self.memory_notifier_error_inject(action), None),
                },
            };
            let what = match (r, &by) {
                (0, _) => "NOTIFY_OK".to_string(),
                (_, Some(site)) => format!("{}  (failpoint {site})", crate::errno::name(i64::from(r))),
                _ => format!("notifier_from_errno({})", crate::errno::name(i64::from(r))),
            };
            let name = if by.is_some() { "the failpoint's notifier" } else { n.name() };
            results.push(format!("{name} {what}"));
            if r != 0 {
                ret = r;
                break;
            }
        }
        let index = self.s().mem.blocks[b].index;
        self.step(format!("memory_notify({}) for memory{index}: {}", action.name(), results.join(", ")));
        ret
    }

    /// The failpoint of a `MEM_GOING_*` action: a bare `return` is
    /// `NOTIFY_BAD` (`-EPERM` through `notifier_to_errno`).
    fn going_failpoint(&self, action: MemAction, b: usize) -> Option<(i32, crate::fault::Site)> {
        let step = match action {
            MemAction::GoingOnline => crate::fault::MemStep::GoingOnline,
            MemAction::GoingOffline => crate::fault::MemStep::GoingOffline,
            _ => return None,
        };
        let block = self.s().mem.blocks[b].index as u16;
        let site = crate::fault::Site::Memory { block, step };
        let fired = self.failpoint_raw(site)?;
        let err = fired.and_then(|a| crate::errno::parse(a.trim())).unwrap_or(-EPERM);
        Some((err, site))
    }

    /// Records how the current task entered memory hotplug.
    pub fn mem_entry(&self, how: &'static str) {
        let mut s = self.s();
        let cur = s.current;
        s.mem.entry.retain(|(t, _)| *t != cur);
        s.mem.entry.push((cur, how));
    }

    /// The call path from the current task's entry point to `func`.
    pub fn mem_path(&self, func: &str) -> String {
        let s = self.s();
        let cur = s.current;
        let entry = s.mem.entry.iter().find(|(t, _)| *t == cur).map_or("?", |(_, e)| e);
        let (dev, subsys, block) = if func == "online_pages" {
            ("device_online", "memory_subsys_online", "memory_block_online")
        } else {
            ("device_offline", "memory_subsys_offline", "memory_block_offline")
        };
        let head =
            if entry == "add_memory" { "add_memory → add_memory_resource → online_memory_block" } else { entry };
        format!("{head} → {dev} → {subsys} → {block} → {func}")
    }

    /// A step of memory hotplug, for the trace.
    pub fn step(&self, text: String) {
        self.s().record_text(text, crate::kernel::trace::Event::Step);
    }
}

/// The memory invariants of a run: what broke while it ran (overlaps), and,
/// if it `settled`, the state of every block.
pub fn check(s: &crate::kernel::KState, settled: bool) -> Vec<String> {
    let m = &s.mem;
    if !m.enabled {
        return Vec::new();
    }
    let mut v = m.violations.clone();
    if !settled {
        return v;
    }
    let mut used = 0;
    for b in m.blocks.iter().filter(|b| b.registered) {
        let online = b.state == BlockState::Online;
        if b.state == BlockState::GoingOffline {
            v.push(format!("memory{} is left going-offline", b.index));
        }
        if online == b.dev_offline || (online != b.zone.is_some() && !b.holes) {
            v.push(format!(
                "memory{}: state {} but online {} and zone {:?}",
                b.index,
                b.state.show(),
                u8::from(!b.dev_offline),
                b.zone
            ));
        }
        let want = if online { BLOCK_PAGES } else { 0 };
        if b.pages.total() != want {
            v.push(format!("memory{}: {} pages while {}", b.index, b.pages.total(), b.state.show()));
        }
        used += b.pages.total() - b.pages.free;
    }
    if used + m.pages_freed != m.used_at_boot {
        v.push(format!(
            "{} used pages at boot, {} freed since, {used} now: pages were lost or made up",
            m.used_at_boot, m.pages_freed
        ));
    }
    v
}

/// The pages of a block nobody described: mostly free, some movable.
pub fn default_pages() -> Pages {
    Pages { free: 12, movable: 4, pinned: 0, unmovable: 0 }
}
