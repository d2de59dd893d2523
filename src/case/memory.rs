//! The `[memory]` table of a case: the profile's memory layout, with the
//! case's changes (boot blocks, holes, `auto_online_blocks`, the migrate
//! bound, and each boot block's pages), checked against its limits
//! (`blocks_max`, `pages_max`, `migrate_bound_max`).

use std::collections::BTreeSet;

use serde::Deserialize;
use toml::Spanned;

use crate::drivers::base::memory::{BlockPages, Pages};
use crate::kernel::cpuhotplug::Profile;

use super::limits::{BLOCKS_MAX, MIGRATE_BOUND_MAX, PAGES_MAX};
use super::{CaseError, MemoryDecl, Source};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MemoryFile {
    boot_blocks: Option<Spanned<i64>>,
    holes: Option<Vec<Spanned<i64>>>,
    auto_online_blocks: Option<Spanned<String>>,
    migrate_bound: Option<Spanned<i64>>,
    #[serde(default)]
    block: Vec<BlockFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BlockFile {
    index: Spanned<i64>,
    free: Option<Spanned<i64>>,
    movable: Option<Spanned<i64>>,
    pinned: Option<Spanned<i64>>,
    unmovable: Option<Spanned<i64>>,
}

/// The memory model, if the case has a `[memory]` table or a memory
/// operation.
pub(super) fn load(
    src: &Source,
    profile: &Profile,
    m: Option<&MemoryFile>,
    used: bool,
) -> Result<Option<MemoryDecl>, CaseError> {
    if m.is_none() && !used {
        return Ok(None);
    }
    let layout = &profile.memory;
    let mut d = MemoryDecl {
        boot_blocks: layout.boot_blocks,
        holes: layout.holes.clone(),
        auto_online: layout.auto_online_blocks == "online",
        migrate_bound: 8,
        blocks: Vec::new(),
    };
    let Some(m) = m else { return Ok(Some(d)) };
    if let Some(b) = &m.boot_blocks {
        d.boot_blocks = BLOCKS_MAX.check(src, "`boot_blocks`", b, 1)? as u32;
    }
    if let Some(b) = &m.migrate_bound {
        d.migrate_bound = MIGRATE_BOUND_MAX.check(src, "`migrate_bound`", b, 1)? as u32;
    }
    if let Some(holes) = &m.holes {
        d.holes = holes.iter().map(|h| boot_block(src, &d, h)).collect::<Result<_, _>>()?;
    }
    if let Some(a) = &m.auto_online_blocks {
        d.auto_online = match a.get_ref().as_str() {
            "online" => true,
            "offline" => false,
            other => {
                return Err(src.error(
                    a.span().start,
                    format!("`auto_online_blocks = \"{other}\"`: expected \"online\" or \"offline\""),
                ));
            }
        };
    }
    let mut seen = BTreeSet::new();
    for b in &m.block {
        let block = load_block(src, &d, b)?;
        if !seen.insert(block.index) {
            return Err(
                src.error(b.index.span().start, format!("memory{} has a second `[[memory.block]]`", block.index))
            );
        }
        d.blocks.push(block);
    }
    Ok(Some(d))
}

/// A boot block's number: 0 to `boot_blocks` less one.
fn boot_block(src: &Source, d: &MemoryDecl, index: &Spanned<i64>) -> Result<u32, CaseError> {
    let at = index.span().start;
    let n = *index.get_ref();
    let n = BLOCKS_MAX.range("a block number", n, 0).map_err(|m| src.error(at, m))?;
    if n >= u64::from(d.boot_blocks) {
        return Err(src.error(
            at,
            format!("memory{n} is not a boot block; boot blocks are memory0 to memory{}", d.boot_blocks - 1),
        ));
    }
    Ok(n as u32)
}

/// One `[[memory.block]]`: each page count 0 to `pages_max`, all of them
/// adding up to the block's pages.
fn load_block(src: &Source, d: &MemoryDecl, b: &BlockFile) -> Result<BlockPages, CaseError> {
    let index = boot_block(src, d, &b.index)?;
    let count = |key: &str, v: &Option<Spanned<i64>>| -> Result<Option<u32>, CaseError> {
        v.as_ref().map(|v| PAGES_MAX.check(src, key, v, 0).map(|n| n as u32)).transpose()
    };
    let movable = count("`movable`", &b.movable)?.unwrap_or(0);
    let pinned = count("`pinned`", &b.pinned)?.unwrap_or(0);
    let unmovable = count("`unmovable`", &b.unmovable)?.unwrap_or(0);
    let used = movable + pinned + unmovable;
    let all = PAGES_MAX.max as u32;
    let free = count("`free`", &b.free)?.unwrap_or(all.saturating_sub(used));
    if used + free != all {
        return Err(src.error(
            b.index.span().start,
            format!(
                "memory{index}: free + movable + pinned + unmovable must be {all} pages, got {}; a block has {all} pages (pages_max)",
                used + free
            ),
        ));
    }
    Ok(BlockPages { index, pages: Pages { free, movable, pinned, unmovable } })
}
