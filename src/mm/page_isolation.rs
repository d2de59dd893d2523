//! `mm/page_isolation.c` (6.1.192): `has_unmovable_pages`,
//! `set_migratetype_isolate`, `unset_migratetype_isolate`,
//! `isolate_single_pageblock`, `start_isolate_page_range`,
//! `undo_isolate_page_range` and `test_pages_isolated`, on the model's
//! pageblocks (`PAGEBLOCKS` per memory block, `mm/page_alloc.rs`).
//!
//! A block's unmovable pages lie last in it, so they sit in its last
//! pageblocks: an offline of such a block isolates pageblock 0, fails at
//! the last one and undoes the first, as 6.1's error path does. Left out:
//! the free and compound pages that cross a pageblock boundary
//! (`isolate_single_pageblock`'s scan, `split_free_page`, the migration of
//! a compound page there): every model page is order 0; CMA; the
//! `PageHWPoison` and `PageOffline` pages `MEMORY_OFFLINE` skips; the
//! high-order buddy `unset_migratetype_isolate` re-isolates (and its
//! `VM_WARN_ON`); and `dump_page`'s text, which the trace names.

use crate::drivers::base::memory::BLOCK_PAGES;
use crate::errno::EBUSY;
use crate::kernel::{Kernel, Regression};
use crate::mm::page_alloc::{Migratetype, PAGEBLOCK_NR_PAGES, PAGEBLOCKS, buddy_pages, pageblock_buddy};

impl Kernel {
    /// `has_unmovable_pages()` on pageblock `pb` of block `b`: a page that
    /// is neither free, LRU nor movable. `ZONE_MOVABLE` counts any page
    /// that is not `PageReserved` as movable.
    fn has_unmovable_pages(&self, b: usize, pb: usize) -> bool {
        let s = self.s();
        let blk = &s.mem.blocks[b];
        let movable_zone = blk.page_zone.is_some_and(|z| s.mem.zones[z].name == "Movable");
        let first_unmovable = BLOCK_PAGES - blk.pages.unmovable;
        let end = (pb as u32 + 1) * PAGEBLOCK_NR_PAGES;
        !movable_zone && blk.pages.unmovable > 0 && end > first_unmovable
    }

    /// `set_migratetype_isolate()`: under `zone->lock`, `-EBUSY` if the
    /// pageblock is isolated already ("someone else must have raced") or
    /// holds an unmovable page; else MIGRATE_ISOLATE, one more
    /// `nr_isolate_pageblock`, and its free pages moved to the isolated
    /// freelist (`move_freepages_block`), out of `NR_FREE_PAGES`.
    fn set_migratetype_isolate(&self, b: usize, pb: usize) -> Result<(), String> {
        if self.s().mem.blocks[b].pageblocks[pb] == Migratetype::Isolate {
            return Err(format!("set_migratetype_isolate(pageblock {pb}): already MIGRATE_ISOLATE: -EBUSY"));
        }
        if self.has_unmovable_pages(b, pb) {
            return Err(format!("set_migratetype_isolate(pageblock {pb}): dump_page: unmovable page: -EBUSY"));
        }
        let mut s = self.s();
        let nr_pages = pageblock_buddy(&s.mem, b, pb);
        let Some(z) = s.mem.blocks[b].page_zone else { return Ok(()) };
        s.mem.blocks[b].pageblocks[pb] = Migratetype::Isolate;
        let zone = &mut s.mem.zones[z];
        zone.nr_isolate_pageblock += 1;
        zone.nr_free_pages -= i64::from(nr_pages);
        Ok(())
    }

    /// `unset_migratetype_isolate()`: nothing for a pageblock that is not
    /// isolated; else its free pages back to `mt`'s freelist and into
    /// `NR_FREE_PAGES`, the pageblock `mt`, one less `nr_isolate_pageblock`.
    pub fn unset_migratetype_isolate(&self, b: usize, pb: usize, mt: Migratetype) {
        let mut s = self.s();
        if s.mem.blocks[b].pageblocks[pb] != Migratetype::Isolate {
            return;
        }
        let nr_pages = pageblock_buddy(&s.mem, b, pb);
        let Some(z) = s.mem.blocks[b].page_zone else { return };
        s.mem.blocks[b].pageblocks[pb] = mt;
        let zone = &mut s.mem.zones[z];
        // regression: synthetic-unisolate-no-freepage-count
        if !self.cfg.has(Regression::SyntheticUnisolateNoFreepageCount) {
            zone.nr_free_pages += i64::from(nr_pages);
        }
        zone.nr_isolate_pageblock -= 1;
    }

    /// `start_isolate_page_range()` over block `b`, `MEMORY_OFFLINE |
    /// REPORT_FAILURE`: the first pageblock and the last
    /// (`isolate_single_pageblock`), then those between; a failure undoes
    /// what it isolated. `Err` carries the trace's account of the failure.
    pub fn start_isolate_page_range(&self, b: usize, mt: Migratetype) -> Result<(), String> {
        let last = PAGEBLOCKS - 1;
        self.set_migratetype_isolate(b, 0)?;
        if let Err(why) = self.set_migratetype_isolate(b, last) {
            // regression: synthetic-isolate-undo-skipped
            if self.cfg.has(Regression::SyntheticIsolateUndoSkipped) {
                return Err(why);
            }
            self.unset_migratetype_isolate(b, 0, mt);
            return Err(format!("{why}; unset_migratetype_isolate(pageblock 0)"));
        }
        for pb in 1..last {
            if let Err(why) = self.set_migratetype_isolate(b, pb) {
                self.undo_isolate_page_range(b, 0..pb, mt);
                self.unset_migratetype_isolate(b, last, mt);
                return Err(format!(
                    "{why}; undo_isolate_page_range(pageblocks 0 to {}), unset_migratetype_isolate(pageblock {last})",
                    pb - 1
                ));
            }
        }
        Ok(())
    }

    /// `undo_isolate_page_range()`: every isolated pageblock of `pbs` back
    /// to `mt`.
    pub fn undo_isolate_page_range(&self, b: usize, pbs: std::ops::Range<usize>, mt: Migratetype) {
        for pb in pbs {
            self.unset_migratetype_isolate(b, pb, mt);
        }
    }

    /// `test_pages_isolated()`: every pageblock isolated and every page a
    /// free buddy page (one on a pcplist is not), else `-EBUSY`.
    pub fn test_pages_isolated(&self, b: usize) -> i32 {
        let s = self.s();
        let blk = &s.mem.blocks[b];
        let isolated = blk.pageblocks.iter().all(|&mt| mt == Migratetype::Isolate);
        if isolated && buddy_pages(&s.mem, b) == blk.pages.total() { 0 } else { -EBUSY }
    }
}
