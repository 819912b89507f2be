//! `mem_section` with SPARSEMEM_EXTREME (Linux `mm/sparse.c`): a pointer array of
//! [`NR_SECTION_ROOTS`] roots, each root a page of [`SECTIONS_PER_ROOT`] 16-byte
//! [`MemSection`]s, allocated from memblock the first time a section in it is marked
//! present. All of it lives in memory and is reached through the linear mapping.
//!
//! ```text
//!  mem_section ──► [root 0][root 1] ... [root 2047]      (8 bytes each, 16 KiB)
//!                     │
//!                     └─► [ms 0][ms 1] ... [ms 4095]     (16 bytes each, one 64K page)
//!                          section n covers [mem n*16M, (n+1)*16M)
//! ```

use alloc::vec::Vec;

use crate::mm::memblock::{MEMBLOCK_ALLOC_ACCESSIBLE, SMP_CACHE_BYTES};
use crate::mm::{PAGE_SHIFT, PAGE_SIZE};

use super::machine::{Ctx, KernelMemory, Machine, pa, va};
use super::section::*;

/// `INTERNODE_CACHE_SHIFT` on ppc64: the pointer array's alignment.
const INTERNODE_CACHE_BYTES: u64 = 128;

/// A failure that leaves the section table unusable (Linux would crash on it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SectionError {
    /// The pointer array or a root could not be allocated.
    NoMemory {
        what: &'static str,
        size: u64,
        reason: alloc::string::String,
    },
}

impl core::fmt::Display for SectionError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SectionError::NoMemory { what, size, reason } => {
                write!(f, "cannot allocate {what} ({size:#x} bytes): {reason}")
            }
        }
    }
}

/// The section table and what was allocated for it.
#[derive(Debug, Default)]
pub struct MemSections {
    /// Kernel address of the pointer array; 0 until the first `memory_present`.
    array: u64,
    /// Linux `__highest_present_section_nr`.
    highest_present: Option<u64>,
    /// Physical ranges `(pa, size)` allocated for the pointer array and the roots.
    pub allocs: Vec<(u64, u64)>,
}

impl MemSections {
    pub const fn new() -> Self {
        MemSections {
            array: 0,
            highest_present: None,
            allocs: Vec::new(),
        }
    }

    /// The highest section ever marked present.
    pub fn highest_present(&self) -> Option<u64> {
        self.highest_present
    }

    /// `__nr_to_section()`: the kernel address of section `pnum`'s `struct mem_section`,
    /// or `None` if its root does not exist.
    pub fn nr_to_section<M: KernelMemory + ?Sized>(&self, m: &mut M, pnum: u64) -> Option<u64> {
        if self.array == 0 || pnum >= NR_MEM_SECTIONS {
            return None;
        }
        let root = m.read_u64(self.array + 8 * section_nr_to_root(pnum));
        (root != 0).then(|| root + MEM_SECTION_SIZE * (pnum % SECTIONS_PER_ROOT))
    }

    /// Section `pnum` as it is in memory (absent root: all zero, as Linux reads it).
    pub fn get<M: KernelMemory + ?Sized>(&self, m: &mut M, pnum: u64) -> MemSection {
        match self.nr_to_section(m, pnum) {
            Some(a) => MemSection {
                section_mem_map: m.read_u64(a),
                pageblock_flags: m.read_u64(a + 8),
            },
            None => MemSection::default(),
        }
    }

    /// Store section `pnum` (its root must exist).
    pub fn set<M: KernelMemory + ?Sized>(&self, m: &mut M, pnum: u64, ms: MemSection) {
        let a = self
            .nr_to_section(m, pnum)
            .expect("section root exists for a present section");
        m.write_u64(a, ms.section_mem_map);
        m.write_u64(a + 8, ms.pageblock_flags);
    }

    /// `present_section_nr()`.
    pub fn present<M: KernelMemory + ?Sized>(&self, m: &mut M, pnum: u64) -> bool {
        self.get(m, pnum).present()
    }

    /// `pfn_valid()`: the pfn's section has a memory map.
    pub fn pfn_valid<M: KernelMemory + ?Sized>(&self, m: &mut M, pfn: u64) -> bool {
        let pnum = pfn_to_section_nr(pfn);
        pnum < NR_MEM_SECTIONS && self.get(m, pnum).valid()
    }

    /// `next_present_section_nr()`: the first present section at or after `from`, up to
    /// the highest present one; absent roots are skipped whole.
    pub fn next_present<M: KernelMemory + ?Sized>(&self, m: &mut M, from: u64) -> Option<u64> {
        let last = self.highest_present?;
        let mut pnum = from;
        while pnum <= last {
            if self.nr_to_section(m, pnum).is_none() {
                pnum = (section_nr_to_root(pnum) + 1) * SECTIONS_PER_ROOT;
                continue;
            }
            if self.present(m, pnum) {
                return Some(pnum);
            }
            pnum += 1;
        }
        None
    }

    /// Every present section, ascending (`for_each_present_section_nr`).
    pub fn present_sections<M: KernelMemory + ?Sized>(&self, m: &mut M) -> Vec<u64> {
        let mut out = Vec::new();
        let mut next = self.next_present(m, 0);
        while let Some(p) = next {
            out.push(p);
            next = self.next_present(m, p + 1);
        }
        out
    }

    /// Allocate zeroed memory for the table (`memblock_alloc_try_nid` + memset).
    fn alloc<M: Machine + ?Sized>(
        &mut self,
        ctx: &mut Ctx<'_, M>,
        size: u64,
        align: u64,
        nid: i32,
        what: &'static str,
    ) -> Result<u64, SectionError> {
        let p = ctx
            .mb
            .alloc_try_nid(size, align, 0, MEMBLOCK_ALLOC_ACCESSIBLE, nid, what)
            .map_err(|e| SectionError::NoMemory {
                what,
                size,
                reason: alloc::format!("{e}"),
            })?;
        ctx.m.zero(va(p), size);
        self.allocs.push((p, size));
        Ok(va(p))
    }

    /// `sparse_index_init()`: make sure section `pnum`'s root exists, allocating it on
    /// node `nid`.
    fn index_init<M: Machine + ?Sized>(
        &mut self,
        ctx: &mut Ctx<'_, M>,
        pnum: u64,
        nid: i32,
    ) -> Result<(), SectionError> {
        let slot = self.array + 8 * section_nr_to_root(pnum);
        if ctx.m.read_u64(slot) != 0 {
            return Ok(());
        }
        let root = self.alloc(
            ctx,
            SECTIONS_PER_ROOT * MEM_SECTION_SIZE,
            SMP_CACHE_BYTES,
            nid,
            "sparse_index_alloc",
        )?;
        ctx.m.write_u64(slot, root);
        Ok(())
    }

    /// `memory_present()`: mark the sections of pfns `[start, end)` present on node
    /// `nid`, allocating the pointer array and roots as needed. Pfns beyond the sparse
    /// model's limit are left out with a warning (Linux `mminit_validate_memmodel_limits`).
    pub fn memory_present<M: Machine + ?Sized>(
        &mut self,
        ctx: &mut Ctx<'_, M>,
        nid: i32,
        start: u64,
        end: u64,
    ) -> Result<(), SectionError> {
        if self.array == 0 {
            self.array = self.alloc(
                ctx,
                8 * NR_SECTION_ROOTS,
                INTERNODE_CACHE_BYTES,
                crate::mm::memblock::NUMA_NO_NODE,
                "memory_present",
            )?;
        }
        let max_pfn = NR_MEM_SECTIONS * PAGES_PER_SECTION;
        let mut end = end;
        if end > max_pfn {
            ctx.warn(format_args!(
                "memory_present: pfns {:#x}-{:#x} exceed SPARSEMEM max {max_pfn:#x}, left out",
                start.max(max_pfn),
                end
            ));
            end = max_pfn;
        }
        let mut pfn = start & PAGE_SECTION_MASK;
        while pfn < end {
            let pnum = pfn_to_section_nr(pfn);
            self.index_init(ctx, pnum, nid)?;
            let mut ms = self.get(ctx.m, pnum);
            if ms.section_mem_map == 0 {
                ms.section_mem_map =
                    encode_early_nid(nid) | SECTION_IS_ONLINE | SECTION_MARKED_PRESENT;
                self.set(ctx.m, pnum, ms);
                self.highest_present = Some(self.highest_present.map_or(pnum, |h| h.max(pnum)));
            }
            pfn += PAGES_PER_SECTION;
        }
        Ok(())
    }

    /// `memblocks_present()`: every memblock memory region, with its node (a region
    /// without one counts as node 0), from its first whole page to its last.
    pub fn memblocks_present<M: Machine + ?Sized>(
        &mut self,
        ctx: &mut Ctx<'_, M>,
    ) -> Result<(), SectionError> {
        let regions: Vec<(i32, u64, u64)> = ctx
            .mb
            .memory()
            .iter()
            .map(|r| {
                (
                    r.nid.max(0),
                    r.base.div_ceil(PAGE_SIZE),
                    r.end() >> PAGE_SHIFT,
                )
            })
            .filter(|&(_, s, e)| s < e)
            .collect();
        for (nid, start, end) in regions {
            self.memory_present(ctx, nid, start, end)?;
        }
        Ok(())
    }

    /// The physical address of the table's pointer array, if allocated.
    pub fn array_pa(&self) -> Option<u64> {
        (self.array != 0).then(|| pa(self.array))
    }
}
