//! Free ranges: memory minus reserved, walked in either direction (Linux
//! `for_each_free_mem_range` / `_reverse`).

use super::*;

/// Which memory regions a free-range walk looks at (Linux `should_skip_region` with
/// `MEMBLOCK_NONE`).
#[derive(Clone, Copy, Debug)]
pub(super) struct Filter {
    /// Only regions of this node, unless it is not a valid node.
    pub(super) nid: i32,
    /// Skip hot-removable regions.
    pub(super) movable_node: bool,
    /// Skip nothing (for [`Memblock::free_size`]).
    pub(super) all: bool,
}

impl Filter {
    pub(super) fn skips(&self, r: &Region) -> bool {
        if self.all {
            return false;
        }
        (numa_valid_node(self.nid) && r.nid != self.nid)
            || (self.movable_node && r.flags.contains(RegionFlags::HOTPLUG))
            || r.flags.contains(RegionFlags::NOMAP)
    }
}

/// A free range: part of one memory region that no reserved region covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FreeRange {
    pub start: u64,
    /// Exclusive.
    pub end: u64,
    /// The node of the memory region it lies in.
    pub nid: i32,
}

/// The free ranges in ascending or descending order (Linux `for_each_free_mem_range` and
/// `for_each_free_mem_range_reverse`): each memory region intersected with each gap between
/// reserved regions, in one merge-like pass over both sorted arrays. NOMAP regions, regions
/// of other nodes (when a node was given) and, with `movable_node`, hot-removable regions
/// are left out.
#[derive(Clone, Debug)]
pub struct FreeRanges<'a> {
    pub(super) memory: &'a [Region],
    pub(super) reserved: &'a [Region],
    pub(super) filter: Filter,
    /// Ascending: the index of the current memory region. Descending: one past it.
    pub(super) mem: usize,
    /// The current gap: gap `i` runs from the end of reserved region `i - 1` (or 0) to the
    /// start of reserved region `i` (or the top of the address space).
    pub(super) gap: usize,
    pub(super) descending: bool,
}

impl FreeRanges<'_> {
    pub(super) fn gap(&self, i: usize) -> Option<(u64, u64)> {
        if i > self.reserved.len() {
            return None;
        }
        let start = match i {
            0 => 0,
            _ => self.reserved[i - 1].end(),
        };
        let end = self.reserved.get(i).map_or(PHYS_ADDR_MAX, |r| r.base);
        Some((start, end))
    }

    pub(super) fn next_up(&mut self) -> Option<FreeRange> {
        loop {
            let m = *self.memory.get(self.mem)?;
            if self.filter.skips(&m) {
                self.mem += 1;
                continue;
            }
            let (gap_start, gap_end) = self.gap(self.gap)?;
            if gap_start >= m.end() {
                self.mem += 1;
                continue;
            }
            if gap_end <= m.base {
                self.gap += 1;
                continue;
            }
            let range = FreeRange {
                start: m.base.max(gap_start),
                end: m.end().min(gap_end),
                nid: m.nid,
            };
            // Whichever ends first is done with.
            if m.end() <= gap_end {
                self.mem += 1;
            } else {
                self.gap += 1;
            }
            if range.start < range.end {
                return Some(range);
            }
        }
    }

    pub(super) fn next_down(&mut self) -> Option<FreeRange> {
        loop {
            let m = *self.memory.get(self.mem.checked_sub(1)?)?;
            if self.filter.skips(&m) {
                self.mem -= 1;
                continue;
            }
            let (gap_start, gap_end) = self.gap(self.gap)?;
            if gap_end <= m.base {
                self.mem -= 1;
                continue;
            }
            if gap_start >= m.end() {
                self.gap = self.gap.checked_sub(1)?;
                continue;
            }
            let range = FreeRange {
                start: m.base.max(gap_start),
                end: m.end().min(gap_end),
                nid: m.nid,
            };
            // Whichever starts last is done with.
            if m.base >= gap_start {
                self.mem -= 1;
            } else {
                self.gap = self.gap.checked_sub(1)?;
            }
            if range.start < range.end {
                return Some(range);
            }
        }
    }
}

impl Iterator for FreeRanges<'_> {
    type Item = FreeRange;

    fn next(&mut self) -> Option<FreeRange> {
        if self.descending {
            self.next_down()
        } else {
            self.next_up()
        }
    }
}
