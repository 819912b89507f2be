//! The region arrays: sorted, non-overlapping, merged by node and flags (Linux
//! `struct memblock_type` and memblock_add_range / memblock_isolate_range / merging).

use super::*;

/// One of the two region arrays (Linux `struct memblock_type`).
#[derive(Debug)]
pub(super) struct RegionArray {
    pub(super) name: &'static str,
    pub(super) regions: Vec<Region>,
    /// Sum of the region sizes.
    pub(super) total_size: u64,
    /// Test hook: behave as if the heap could not grow the array.
    #[cfg(test)]
    pub(super) fail_growth: bool,
}

impl RegionArray {
    pub(super) fn new(name: &'static str) -> Self {
        Self {
            name,
            regions: Vec::with_capacity(INIT_MEMBLOCK_REGIONS),
            total_size: 0,
            #[cfg(test)]
            fail_growth: false,
        }
    }

    #[cfg(test)]
    pub(super) fn growth_blocked(&self) -> bool {
        self.fail_growth
    }

    #[cfg(not(test))]
    pub(super) fn growth_blocked(&self) -> bool {
        false
    }

    /// Make room for `extra` more regions, doubling the capacity as often as needed
    /// (Linux `memblock_double_array`).
    pub(super) fn ensure_room(&mut self, extra: usize, log: &Log) -> Result<(), ResizeError> {
        let need = self.regions.len() + extra;
        let from = self.regions.capacity();
        if need <= from {
            return Ok(());
        }
        let mut to = from.max(1);
        while to < need {
            to = to.saturating_mul(2);
        }
        let err = ResizeError {
            array: self.name,
            from,
            to,
        };
        if self.growth_blocked()
            || self
                .regions
                .try_reserve_exact(to - self.regions.len())
                .is_err()
        {
            log.emit(Level::Err, format_args!("{err}"));
            return Err(err);
        }
        let cap = self.regions.capacity();
        let addr = self.regions.as_ptr().addr() as u64;
        let bytes = (cap * size_of::<Region>()) as u64;
        log.dbg(format_args!(
            "memblock: {} is doubled to {} at [{:#018x}-{:#018x}]",
            self.name,
            cap,
            addr,
            addr + bytes - 1
        ));
        Ok(())
    }

    /// Insert a region at `idx`; room must have been made.
    pub(super) fn insert(&mut self, idx: usize, region: Region) {
        debug_assert!(self.regions.len() < self.regions.capacity());
        self.total_size += region.size;
        self.regions.insert(idx, region);
    }

    /// Merge touching compatible neighbours among regions `lo - 1 ..= hi` (the pairs that
    /// changes to `lo..hi` can have made mergeable).
    pub(super) fn merge(&mut self, lo: usize, hi: usize) {
        let mut i = lo.saturating_sub(1);
        let mut hi = hi;
        while i < hi && i + 1 < self.regions.len() {
            let (this, next) = (self.regions[i], self.regions[i + 1]);
            debug_assert!(this.end() <= next.base, "{} regions overlap", self.name);
            if this.end() == next.base && this.nid == next.nid && this.flags == next.flags {
                self.regions[i].size += next.size;
                self.regions.remove(i + 1);
                hi -= 1;
            } else {
                i += 1;
            }
        }
    }

    /// Add `[base, base + size)`: the parts no region covers yet become new regions with
    /// `nid` and `flags`; covered parts keep what they have (Linux `memblock_add_range`).
    pub(super) fn add_range(
        &mut self,
        base: u64,
        size: u64,
        nid: i32,
        flags: RegionFlags,
        log: &Log,
    ) -> Result<(), ResizeError> {
        let size = cap_size(base, size);
        if size == 0 {
            return Ok(());
        }
        let end = base + size;
        let nid = normalize_nid(nid);
        let piece = |base: u64, end: u64| Region {
            base,
            size: end - base,
            flags,
            nid,
        };

        // First count the uncovered pieces, so that the array grows (or fails to) before
        // anything changes.
        let mut pieces = 0;
        let mut cursor = base;
        for r in &self.regions {
            if r.base >= end {
                break;
            }
            if r.end() <= cursor {
                continue;
            }
            if r.base > cursor {
                pieces += 1;
            }
            cursor = r.end().min(end);
        }
        if cursor < end {
            pieces += 1;
        }
        if pieces == 0 {
            return Ok(());
        }
        self.ensure_room(pieces, log)?;

        let mut first = None;
        let mut last = 0;
        let mut cursor = base;
        let mut i = 0;
        while i < self.regions.len() {
            let r = self.regions[i];
            if r.base >= end {
                break;
            }
            if r.end() > cursor {
                if r.base > cursor {
                    self.insert(i, piece(cursor, r.base));
                    first.get_or_insert(i);
                    last = i + 1;
                    i += 1;
                }
                cursor = r.end().min(end);
            }
            i += 1;
        }
        if cursor < end {
            self.insert(i, piece(cursor, end));
            first.get_or_insert(i);
            last = i + 1;
        }
        self.merge(first.unwrap_or(0), last);
        Ok(())
    }

    /// Split the regions that cross the boundaries of `[base, base + size)`, so that every
    /// region is either inside or outside it, and return the index range of the regions
    /// inside (Linux `memblock_isolate_range`).
    pub(super) fn isolate(
        &mut self,
        base: u64,
        size: u64,
        log: &Log,
    ) -> Result<core::ops::Range<usize>, ResizeError> {
        let size = cap_size(base, size);
        if size == 0 {
            return Ok(0..0);
        }
        let end = base + size;
        // Only the regions holding `base` and `end` are split: two more at most.
        self.ensure_room(2, log)?;
        let mut inside: Option<core::ops::Range<usize>> = None;
        let mut i = 0;
        while i < self.regions.len() {
            let r = self.regions[i];
            if r.base >= end {
                break;
            }
            if r.end() <= base {
                i += 1;
                continue;
            }
            if r.base < base {
                // Crosses `base`: the part below stays outside; look at the rest next.
                self.regions[i].base = base;
                self.regions[i].size = r.end() - base;
                self.regions.insert(
                    i,
                    Region {
                        size: base - r.base,
                        ..r
                    },
                );
                i += 1;
            } else if r.end() > end {
                // Crosses `end`: the part below it is inside; look at it again.
                self.regions[i].base = end;
                self.regions[i].size = r.end() - end;
                self.regions.insert(
                    i,
                    Region {
                        size: end - r.base,
                        ..r
                    },
                );
            } else {
                inside = Some(inside.map_or(i..i + 1, |range| range.start..i + 1));
                i += 1;
            }
        }
        Ok(inside.unwrap_or(0..0))
    }

    /// Take `[base, base + size)` out of the array (Linux `memblock_remove_range`).
    pub(super) fn remove_range(
        &mut self,
        base: u64,
        size: u64,
        log: &Log,
    ) -> Result<(), ResizeError> {
        let inside = self.isolate(base, size, log)?;
        let removed: u64 = self.regions[inside.clone()].iter().map(|r| r.size).sum();
        self.regions.drain(inside);
        self.total_size -= removed;
        Ok(())
    }

    /// Apply `change` to every region inside `[base, base + size)`, splitting and merging
    /// as needed (Linux `memblock_setclr_flag` and `memblock_set_node`).
    pub(super) fn modify(
        &mut self,
        base: u64,
        size: u64,
        log: &Log,
        change: impl Fn(&mut Region),
    ) -> Result<(), ResizeError> {
        let inside = self.isolate(base, size, log)?;
        self.regions[inside.clone()].iter_mut().for_each(change);
        self.merge(inside.start, inside.end);
        Ok(())
    }

    /// The index of the region holding `addr` (Linux `memblock_search`).
    pub(super) fn search(&self, addr: u64) -> Option<usize> {
        let i = self.regions.partition_point(|r| r.end() <= addr);
        self.regions.get(i).filter(|r| r.base <= addr).map(|_| i)
    }

    /// Does any region intersect `[base, base + size)` (Linux `memblock_overlaps_region`)?
    pub(super) fn overlaps(&self, base: u64, size: u64) -> bool {
        let end = base + cap_size(base, size);
        let i = self.regions.partition_point(|r| r.end() <= base);
        self.regions.get(i).is_some_and(|r| r.base < end)
    }

    pub(super) fn write_dump(&self, w: &mut impl Write) -> fmt::Result {
        writeln!(w, " {}.cnt  = {:#x}", self.name, self.regions.len())?;
        for (i, r) in self.regions.iter().enumerate() {
            let end = r.base.wrapping_add(r.size).wrapping_sub(1);
            write!(
                w,
                " {}[{:#x}]\t[{:#018x}-{:#018x}], {:#018x} bytes",
                self.name, i, r.base, end, r.size
            )?;
            if numa_valid_node(r.nid) {
                write!(w, " on node {}", r.nid)?;
            }
            writeln!(w, " flags: {:#x}", r.flags.bits())?;
        }
        Ok(())
    }
}
