//! The sparse memory model's constants and `struct mem_section` (Linux
//! `include/linux/mmzone.h`, ppc64 with 64K pages, SPARSEMEM_EXTREME and
//! SPARSEMEM_VMEMMAP).
//!
//! `section_mem_map` holds flags in its low bits and, once the section is initialised,
//! the *encoded* memory map: the address of the section's first `struct page` minus its
//! first pfn (times the size of a struct page), which with the vmemmap is the vmemmap's
//! base for every section. Before initialisation the bits above the flags hold the
//! section's node (`nid << 3`).

use static_assertions::const_assert_eq;

use crate::mm::PAGE_SHIFT;
use crate::prom::memory::MAX_PHYSMEM_BITS;

/// log2 of the section size: 16 MiB sections.
pub const SECTION_SIZE_BITS: u32 = 24;
/// log2 of the pages in a section.
pub const PFN_SECTION_SHIFT: u32 = SECTION_SIZE_BITS - PAGE_SHIFT;
/// 64K pages per 16M section.
pub const PAGES_PER_SECTION: u64 = 1 << PFN_SECTION_SHIFT;
/// Masks a pfn down to the first pfn of its section.
pub const PAGE_SECTION_MASK: u64 = !(PAGES_PER_SECTION - 1);
/// log2 of the number of sections that cover `2^MAX_PHYSMEM_BITS`.
pub const SECTIONS_SHIFT: u32 = MAX_PHYSMEM_BITS - SECTION_SIZE_BITS;
/// Sections in the whole physical address space.
pub const NR_MEM_SECTIONS: u64 = 1 << SECTIONS_SHIFT;
/// Sections per root: one page of `struct mem_section`s (SPARSEMEM_EXTREME).
pub const SECTIONS_PER_ROOT: u64 = crate::mm::PAGE_SIZE / MEM_SECTION_SIZE;
/// Roots: the length of the `mem_section` pointer array.
pub const NR_SECTION_ROOTS: u64 = NR_MEM_SECTIONS / SECTIONS_PER_ROOT;

/// `sizeof(struct mem_section)`.
pub const MEM_SECTION_SIZE: u64 = 16;
/// `sizeof(struct page)`.
pub const STRUCT_PAGE_SIZE: u64 = 64;
/// Bytes of memory map per section: 256 struct pages = 16 KiB.
pub const SECTION_MEMMAP_SIZE: u64 = PAGES_PER_SECTION * STRUCT_PAGE_SIZE;

/// The section has memory (set by `memory_present`).
pub const SECTION_MARKED_PRESENT: u64 = 1 << 0;
/// The section's memory map exists (set by `sparse_init_one_section`); `pfn_valid()`.
pub const SECTION_HAS_MEM_MAP: u64 = 1 << 1;
/// The section's memory is online.
pub const SECTION_IS_ONLINE: u64 = 1 << 2;
/// The first bit not used by flags.
pub const SECTION_MAP_LAST_BIT: u64 = 1 << 3;
/// The encoded map (or the early node) lives in these bits.
pub const SECTION_MAP_MASK: u64 = !(SECTION_MAP_LAST_BIT - 1);
/// Where the early node id sits before the section is initialised.
pub const SECTION_NID_SHIFT: u32 = 3;

/// log2 of the pages in a pageblock (ppc64 64K: 16M pageblocks, one per section).
pub const PAGEBLOCK_ORDER: u32 = 8;
/// Bits of usemap per pageblock (`NR_PAGEBLOCK_BITS`).
pub const NR_PAGEBLOCK_BITS: u64 = 4;
/// Usemap bits per section.
pub const SECTION_BLOCKFLAGS_BITS: u64 =
    (1 << (PFN_SECTION_SHIFT - PAGEBLOCK_ORDER)) * NR_PAGEBLOCK_BITS;

/// Linux `struct mem_section`: what the `mem_section` roots hold, 16 bytes each.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemSection {
    /// Flags, plus the early node or the encoded memory map.
    pub section_mem_map: u64,
    /// Kernel address of the section's usemap (pageblock flags), 0 if none.
    pub pageblock_flags: u64,
}

const_assert_eq!(core::mem::size_of::<MemSection>() as u64, MEM_SECTION_SIZE);
const_assert_eq!(SECTIONS_PER_ROOT, 4096);
const_assert_eq!(PAGES_PER_SECTION, 256);
const_assert_eq!(SECTION_MEMMAP_SIZE, 0x4000);

impl MemSection {
    /// `present_section()`.
    pub const fn present(&self) -> bool {
        self.section_mem_map & SECTION_MARKED_PRESENT != 0
    }

    /// `valid_section()`: the memory map exists.
    pub const fn valid(&self) -> bool {
        self.section_mem_map & SECTION_HAS_MEM_MAP != 0
    }

    pub const fn online(&self) -> bool {
        self.section_mem_map & SECTION_IS_ONLINE != 0
    }

    /// `sparse_early_nid()`: only meaningful before the section is initialised.
    pub const fn early_nid(&self) -> i32 {
        (self.section_mem_map >> SECTION_NID_SHIFT) as i32
    }

    /// `__section_mem_map_addr()`: the encoded map with the flags masked off.
    pub const fn encoded_map(&self) -> u64 {
        self.section_mem_map & SECTION_MAP_MASK
    }
}

/// `sparse_encode_early_nid()`.
pub const fn encode_early_nid(nid: i32) -> u64 {
    (nid as u64) << SECTION_NID_SHIFT
}

/// `sparse_encode_mem_map()`: the address of section `pnum`'s first struct page minus
/// its first pfn's worth of struct pages.
pub const fn encode_mem_map(map: u64, pnum: u64) -> u64 {
    map.wrapping_sub(section_nr_to_pfn(pnum) * STRUCT_PAGE_SIZE)
}

/// `sparse_decode_mem_map()`: the section's first struct page from the encoded map.
pub const fn decode_mem_map(encoded: u64, pnum: u64) -> u64 {
    (encoded & SECTION_MAP_MASK).wrapping_add(section_nr_to_pfn(pnum) * STRUCT_PAGE_SIZE)
}

pub const fn pfn_to_section_nr(pfn: u64) -> u64 {
    pfn >> PFN_SECTION_SHIFT
}

pub const fn section_nr_to_pfn(pnum: u64) -> u64 {
    pnum << PFN_SECTION_SHIFT
}

/// `SECTION_NR_TO_ROOT()`.
pub const fn section_nr_to_root(pnum: u64) -> u64 {
    pnum / SECTIONS_PER_ROOT
}

/// `usemap_size()`: bytes of usemap per section, rounded up to whole longs.
pub const fn usemap_size() -> u64 {
    SECTION_BLOCKFLAGS_BITS.div_ceil(64) * 8
}

const_assert_eq!(usemap_size(), 8);
