//! After sparse_init: Linux's `free_area_init` report (zones, node ranges) and the
//! initialisation of every struct page of every valid section, through the vmemmap
//! (`memmap_init_zone`, `reserve_bootmem_region`, and for pfns of a valid section that
//! are not memory, `init_unavailable_range`).
//!
//! A page is *reserved* (`PG_reserved`) if a memblock reservation or NOMAP memory touches
//! it (Linux rounds both out to whole pages), *free* if it is memory and not reserved,
//! and a *hole* (also reserved) if its section is valid but the page is not memory.

use alloc::vec::Vec;
use core::fmt;

use crate::mm::memblock::{Memblock, RegionFlags};
use crate::mm::{PAGE_SHIFT, PAGE_SIZE};

use super::init::Sparse;
use super::machine::KernelMemory;
use super::page::{Page, Zone};
use super::section::{PAGES_PER_SECTION, section_nr_to_pfn};
use super::vmemmap::pfn_to_page;

/// The memory regions as pfn ranges `[start, end)` with their node, as Linux's
/// `for_each_mem_pfn_range` sees them (partial pages left out; regions without a node
/// count as node 0).
pub fn mem_pfn_ranges(mb: &Memblock) -> Vec<(u64, u64, i32)> {
    mb.memory()
        .iter()
        .map(|r| {
            (
                r.base.div_ceil(PAGE_SIZE),
                r.end() >> PAGE_SHIFT,
                r.nid.max(0),
            )
        })
        .filter(|&(s, e, _)| s < e)
        .collect()
}

/// `free_area_init_nodes()`'s lines: zone ranges, movable zone starts (none: all
/// memory is in ZONE_NORMAL), early node ranges, one `Initmem setup` per node.
pub fn free_area_init_report(mb: &Memblock, out: &mut dyn FnMut(fmt::Arguments<'_>)) {
    let ranges = mem_pfn_ranges(mb);
    out(format_args!("Zone ranges:"));
    match (
        ranges.iter().map(|r| r.0).min(),
        ranges.iter().map(|r| r.1).max(),
    ) {
        (Some(lo), Some(hi)) => out(format_args!(
            "  {:<8} [mem {:#018x}-{:#018x}]",
            Zone::Normal.name(),
            lo << PAGE_SHIFT,
            (hi << PAGE_SHIFT) - 1
        )),
        _ => out(format_args!("  {:<8} empty", Zone::Normal.name())),
    }
    out(format_args!("Movable zone start for each node"));
    out(format_args!("Early memory node ranges"));
    for &(s, e, nid) in &ranges {
        out(format_args!(
            "  node {nid:3}: [mem {:#018x}-{:#018x}]",
            s << PAGE_SHIFT,
            (e << PAGE_SHIFT) - 1
        ));
    }
    let mut nids: Vec<i32> = ranges.iter().map(|r| r.2).collect();
    nids.sort_unstable();
    nids.dedup();
    for nid in nids {
        let s = ranges
            .iter()
            .filter(|r| r.2 == nid)
            .map(|r| r.0)
            .min()
            .unwrap_or(0);
        let e = ranges
            .iter()
            .filter(|r| r.2 == nid)
            .map(|r| r.1)
            .max()
            .unwrap_or(0);
        out(format_args!(
            "Initmem setup node {nid} [mem {:#018x}-{:#018x}]",
            s << PAGE_SHIFT,
            (e << PAGE_SHIFT) - 1
        ));
    }
}

/// What struct page initialisation did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemmapStats {
    /// Valid sections whose pages were initialised.
    pub sections: u64,
    /// Struct pages written.
    pub pages: u64,
    /// Of them, reserved (holes included).
    pub reserved: u64,
    /// Of the reserved, pfns that are not memory.
    pub holes: u64,
    /// Memory pages not reserved.
    pub free: u64,
}

impl fmt::Display for MemmapStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "memmap_init: {} struct pages in {} sections initialised through the vmemmap: {} free, {} reserved ({} of them holes)",
            self.pages, self.sections, self.free, self.reserved, self.holes
        )
    }
}

/// Initialise every struct page of every valid section through the vmemmap.
pub fn memmap_init<M: KernelMemory + ?Sized>(
    m: &mut M,
    mb: &Memblock,
    sparse: &Sparse,
) -> MemmapStats {
    let mem = mem_pfn_ranges(mb);
    // Reservations rounded out to whole pages (Linux reserve_bootmem_region).
    let res: Vec<(u64, u64)> = mb
        .reserved()
        .iter()
        .map(|r| (r.base >> PAGE_SHIFT, r.end().div_ceil(PAGE_SIZE)))
        .collect();
    // NOMAP memory is never freed: its pages stay reserved (Linux
    // memmap_init_reserved_pages), rounded out like reservations.
    let nomap: Vec<(u64, u64)> = mb
        .memory()
        .iter()
        .filter(|r| r.flags.contains(RegionFlags::NOMAP))
        .map(|r| (r.base >> PAGE_SHIFT, r.end().div_ceil(PAGE_SIZE)))
        .collect();
    let nids = section_nids(sparse);
    let mut st = MemmapStats::default();
    let (mut mi, mut ri, mut ni) = (0usize, 0usize, 0usize);
    for (k, &pnum) in sparse.present.iter().enumerate() {
        if !sparse.sections.get(m, pnum).valid() {
            continue;
        }
        st.sections += 1;
        let first = section_nr_to_pfn(pnum);
        for pfn in first..first + PAGES_PER_SECTION {
            while mi < mem.len() && mem[mi].1 <= pfn {
                mi += 1;
            }
            while ri < res.len() && res[ri].1 <= pfn {
                ri += 1;
            }
            let in_mem = mi < mem.len() && mem[mi].0 <= pfn;
            while ni < nomap.len() && nomap[ni].1 <= pfn {
                ni += 1;
            }
            let reserved =
                (ri < res.len() && res[ri].0 <= pfn) || (ni < nomap.len() && nomap[ni].0 <= pfn);
            let nid = if in_mem { mem[mi].2 } else { nids[k] };
            let ea = pfn_to_page(pfn);
            let mut page = Page::new(ea, Zone::Normal, nid);
            if !in_mem {
                st.holes += 1;
            }
            if reserved || !in_mem {
                page.set_reserved();
                st.reserved += 1;
            } else {
                st.free += 1;
            }
            m.write_page(ea, &page);
            st.pages += 1;
        }
    }
    st
}

/// The early node of each present section, in `sparse.present` order.
pub fn section_nids(sparse: &Sparse) -> Vec<i32> {
    sparse
        .runs
        .iter()
        .flat_map(|r| core::iter::repeat_n(r.nid, r.sections.len()))
        .collect()
}
