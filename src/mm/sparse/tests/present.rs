//! `memory_present()` and `memblocks_present()`: the SPARSEMEM_EXTREME pointer array and
//! roots allocated from memblock on first use, the early node in each section, the
//! highest present section, holes, and memory beyond `MAX_PHYSMEM_BITS`.
//!
//! Allocations on the 2G machine, top-down below RTAS at 0x7fff0000: the 16K pointer
//! array (align 128) at 0x7ffec000, the first 64K root (align 128) at 0x7ffdc000.

use std::string::ToString;
use std::vec::Vec;

use super::super::machine::va;
use super::super::mem_section::{MemSections, SectionError};
use super::super::section::*;
use super::*;
use crate::mm::memblock::NUMA_NO_NODE;

fn two_gig() -> World {
    World::new(&Layout::one_node(2 * G))
}

fn present_range(w: &mut World, s: &mut MemSections, nid: i32, start: u64, end: u64) {
    w.with_ctx(|ctx| s.memory_present(ctx, nid, start, end))
        .unwrap();
}

/// `(pnum, section_mem_map)` of every present section.
fn present_maps(w: &mut World, s: &MemSections) -> Vec<(u64, u64)> {
    s.present_sections(&mut w.m)
        .into_iter()
        .map(|p| (p, s.get(&mut w.m, p).section_mem_map))
        .collect()
}

#[test]
fn nothing_before_the_first_memory_present() {
    let mut w = two_gig();
    let s = MemSections::new();
    assert_eq!(s.array_pa(), None);
    assert_eq!(s.highest_present(), None);
    assert!(s.allocs.is_empty());
    assert_eq!(s.nr_to_section(&mut w.m, 0), None);
    assert_eq!(s.get(&mut w.m, 0), MemSection::default());
    assert!(!s.present(&mut w.m, 0));
    assert!(!s.pfn_valid(&mut w.m, 0));
    assert_eq!(s.next_present(&mut w.m, 0), None);
    assert!(s.present_sections(&mut w.m).is_empty());
    // Nothing was read: there is no table to read.
    assert_eq!(w.m.accesses, 0);
}

#[test]
fn pointer_array_once_and_roots_on_first_use() {
    let mut w = two_gig();
    let mut s = MemSections::new();
    present_range(&mut w, &mut s, 0, 0, 0x100);
    assert_eq!(s.array_pa(), Some(0x7ffe_c000));
    assert_eq!(s.allocs, [(0x7ffe_c000, 0x4000), (0x7ffd_c000, 0x1_0000)]);
    assert_eq!(s.highest_present(), Some(0));
    // Root 0's pointer, the other 2047 zeroed (fresh memory is poison).
    assert_eq!(w.m.read_u64(va(0x7ffe_c000)), 0xc000_0000_7ffd_c000);
    for root in 1..NR_SECTION_ROOTS {
        assert_eq!(w.m.read_u64(va(0x7ffe_c000) + 8 * root), 0, "root {root}");
    }
    assert_eq!(s.nr_to_section(&mut w.m, 0), Some(0xc000_0000_7ffd_c000));
    assert_eq!(s.nr_to_section(&mut w.m, 1), Some(0xc000_0000_7ffd_c010));
    assert_eq!(s.nr_to_section(&mut w.m, 4095), Some(0xc000_0000_7ffe_bff0));
    assert_eq!(s.nr_to_section(&mut w.m, 4096), None);
    assert_eq!(s.nr_to_section(&mut w.m, NR_MEM_SECTIONS), None);
    // Section 0: node 0, online, present; the rest of the root zeroed.
    assert_eq!(s.get(&mut w.m, 0).section_mem_map, 0x5);
    assert_eq!(s.get(&mut w.m, 0).pageblock_flags, 0);
    assert_eq!(s.get(&mut w.m, 1), MemSection::default());
    assert_eq!(s.get(&mut w.m, 4095), MemSection::default());
    // Both allocations are reserved.
    assert!(w.mb.is_reserved(0x7ffe_c000, 0x4000));
    assert!(w.mb.is_reserved(0x7ffd_c000, 0x1_0000));
    let within = |pa: u64, len: u64| s.allocs.iter().any(|&(b, n)| b <= pa && pa + len <= b + n);
    assert!(within(0x7ffd_c000, 0x1_0000));
    assert!(!within(0x7ffd_b000, 0x1000));

    // More sections of root 0: nothing allocated.
    present_range(&mut w, &mut s, 0, 0x100, 0x400);
    assert_eq!(s.allocs.len(), 2);
    assert_eq!(s.highest_present(), Some(3));

    // Section 4096 (64G) is in root 1: allocated now, on top of the others.
    present_range(&mut w, &mut s, 0, 0x10_0000, 0x10_0100);
    assert_eq!(s.allocs.len(), 3);
    assert_eq!(s.allocs[2], (0x7ffc_c000, 0x1_0000));
    assert_eq!(w.m.read_u64(va(0x7ffe_c000) + 8), 0xc000_0000_7ffc_c000);
    assert_eq!(s.highest_present(), Some(4096));
    assert_eq!(s.present_sections(&mut w.m), [0, 1, 2, 3, 4096]);
    assert_eq!(s.next_present(&mut w.m, 4), Some(4096));
    assert_eq!(s.next_present(&mut w.m, 4097), None);
    // A lower section later does not lower the highest.
    present_range(&mut w, &mut s, 0, 0x800, 0x900);
    assert_eq!(s.highest_present(), Some(4096));
}

#[test]
fn absent_roots_are_skipped_whole() {
    let mut w = two_gig();
    let mut s = MemSections::new();
    present_range(&mut w, &mut s, 0, 0, 0x100);
    // Section 8192 (128G): root 2; root 1 stays absent.
    present_range(&mut w, &mut s, 0, 0x20_0000, 0x20_0100);
    assert_eq!(s.allocs.len(), 3);
    assert_eq!(s.present_sections(&mut w.m), [0, 8192]);
    let before = w.m.accesses;
    assert_eq!(s.next_present(&mut w.m, 4096), Some(8192));
    // One read of root 1's pointer, not 4096 sections.
    assert!(w.m.accesses - before <= 8, "{}", w.m.accesses - before);
}

#[test]
fn first_node_wins_and_partial_ranges() {
    let mut w = two_gig();
    let mut s = MemSections::new();
    present_range(&mut w, &mut s, 3, 0xa00, 0xb00);
    assert_eq!(s.get(&mut w.m, 10).section_mem_map, 0x1d);
    assert_eq!(s.get(&mut w.m, 10).early_nid(), 3);
    // Linux only fills a section whose section_mem_map is 0.
    present_range(&mut w, &mut s, 7, 0xa00, 0xb00);
    assert_eq!(s.get(&mut w.m, 10).early_nid(), 3);
    // The start is rounded down to its section, the end is exclusive.
    present_range(&mut w, &mut s, 1, 0x1f0, 0x210);
    present_range(&mut w, &mut s, 1, 0x300, 0x300);
    present_range(&mut w, &mut s, 2, 0x4ff, 0x500);
    assert_eq!(
        present_maps(&mut w, &s),
        [(1, 0xd), (2, 0xd), (4, 0x15), (10, 0x1d)]
    );
    assert_eq!(s.highest_present(), Some(10));
    // Nothing is valid before sparse_init.
    for pfn in [0x100, 0x2ff, 0x400, 0xa00] {
        assert!(!s.pfn_valid(&mut w.m, pfn), "{pfn:#x}");
    }
    // A pfn beyond the model is not valid, and reading it does not fault.
    assert!(!s.pfn_valid(&mut w.m, 0x8000_0000));
    assert!(!s.pfn_valid(&mut w.m, u64::MAX));
}

#[test]
fn beyond_max_physmem_bits_warns() {
    let mut w = two_gig();
    let mut s = MemSections::new();
    present_range(&mut w, &mut s, 0, 0x7fff_fe00, 0x8000_0100);
    assert_eq!(
        w.lines(Level::Warning),
        ["memory_present: pfns 0x80000000-0x80000100 exceed SPARSEMEM max 0x80000000, left out"]
    );
    // The last two sections are present, in the last root.
    assert_eq!(s.present_sections(&mut w.m), [0x7f_fffe, 0x7f_ffff]);
    assert_eq!(s.highest_present(), Some(NR_MEM_SECTIONS - 1));
    assert_eq!(
        w.m.read_u64(va(0x7ffe_c000) + 8 * 2047),
        0xc000_0000_7ffd_c000
    );
    // Wholly beyond: a warning, nothing present.
    present_range(&mut w, &mut s, 0, 0x9000_0000, 0x9000_0100);
    assert_eq!(
        w.lines(Level::Warning)[1],
        "memory_present: pfns 0x90000000-0x90000100 exceed SPARSEMEM max 0x80000000, left out"
    );
    assert_eq!(s.present_sections(&mut w.m).len(), 2);
    assert_eq!(s.allocs.len(), 2);
}

#[test]
fn pointer_array_allocation_failure() {
    let mut w = two_gig();
    w.mb.reserve(0, 2 * G, "test").unwrap();
    let mut s = MemSections::new();
    let e = w
        .with_ctx(|ctx| s.memory_present(ctx, 0, 0, 0x100))
        .unwrap_err();
    let SectionError::NoMemory { what, size, .. } = &e;
    assert_eq!((*what, *size), ("memory_present", 0x4000));
    assert_eq!(
        e.to_string(),
        "cannot allocate memory_present (0x4000 bytes): memblock_alloc_try_nid: Failed to \
         allocate 0x0000000000004000 bytes align=0x80 nid=-1 from=0x0000000000000000 \
         max_addr=0x0000000000000000 memory_present: largest free block in \
         [0x0000000000010000-0x000000007fffffff] is 0x0 bytes \
         (current_limit=0xffffffffffffffff)"
    );
    assert_eq!(s.array_pa(), None);
}

#[test]
fn root_allocation_failure() {
    let mut w = two_gig();
    // Only the 16K below RTAS is free: the pointer array fits, a root does not.
    w.mb.reserve(0, 0x7ffe_c000, "test").unwrap();
    let mut s = MemSections::new();
    let e = w
        .with_ctx(|ctx| s.memory_present(ctx, 0, 0, 0x100))
        .unwrap_err();
    let SectionError::NoMemory { what, size, .. } = &e;
    assert_eq!((*what, *size), ("sparse_index_alloc", 0x1_0000));
    assert!(
        e.to_string()
            .starts_with("cannot allocate sparse_index_alloc (0x10000 bytes): "),
        "{e}"
    );
    assert_eq!(s.array_pa(), Some(0x7ffe_c000));
    assert_eq!(s.present_sections(&mut w.m), []);
}

#[test]
fn memblocks_present_one_node() {
    let mut w = two_gig();
    let mut s = Sparse::new(Order::V419, Psize::P16M);
    w.with_ctx(|ctx| s.memblocks_present(ctx)).unwrap();
    let present = s.sections.present_sections(&mut w.m);
    assert_eq!(present, (0..128).collect::<Vec<u64>>());
    assert_eq!(s.sections.highest_present(), Some(127));
    for p in present {
        assert_eq!(s.sections.get(&mut w.m, p).section_mem_map, 0x5, "{p}");
    }
    assert_eq!(s.sections.allocs.len(), 2);
    assert!(w.log.is_empty(), "{:?}", w.log);
}

#[test]
fn memblocks_present_nodes_and_holes() {
    // Node 1 at 0-1G, node 0 at 1G-1.5G, a hole, node 2 at 4G-4.25G, node 1 at 16G-16.5G.
    let l = Layout::new(&[
        (0, G, 1),
        (G, 512 * M, 0),
        (4 * G, 256 * M, 2),
        (16 * G, 512 * M, 1),
    ]);
    let mut w = World::new(&l);
    let mut s = Sparse::new(Order::V419, Psize::P16M);
    w.with_ctx(|ctx| s.memblocks_present(ctx)).unwrap();
    let mut want: Vec<(u64, u64)> = Vec::new();
    want.extend((0..64).map(|p| (p, 0xd)));
    want.extend((64..96).map(|p| (p, 0x5)));
    want.extend((256..272).map(|p| (p, 0x15)));
    want.extend((1024..1056).map(|p| (p, 0xd)));
    assert_eq!(present_maps(&mut w, &s.sections), want);
    assert_eq!(s.sections.highest_present(), Some(1055));
    assert_eq!(s.sections.next_present(&mut w.m, 96), Some(256));
    assert_eq!(s.sections.next_present(&mut w.m, 272), Some(1024));
    assert_eq!(s.sections.next_present(&mut w.m, 1056), None);
}

#[test]
fn memblocks_present_without_node_and_partial_pages() {
    let mut w = World::new(&Layout::new(&[(0, G, 1)]));
    // Memory of no node counts as node 0. (The memory added here is reserved: the
    // host machine has no RAM behind it to allocate from.)
    w.mb.add(4 * G, 32 * M, "test").unwrap();
    w.mb.reserve(4 * G, 32 * M, "test").unwrap();
    assert_eq!(w.mb.memory()[1].nid, NUMA_NO_NODE);
    // Less than a page: nothing.
    w.mb.add_node(8 * G + 0x8000, 0x4000, 2, RegionFlags::empty(), "test")
        .unwrap();
    // A range starting 0x100 into the last page of section 768 and ending 0x100 into
    // the second page of section 769: only its whole page counts (section 769).
    let base = 12 * G + 16 * M - 64 * K + 0x100;
    w.mb.add_node(base, 128 * K, 3, RegionFlags::empty(), "test")
        .unwrap();
    w.mb.reserve(8 * G, 8 * G, "test").unwrap();
    let mut s = Sparse::new(Order::V419, Psize::P16M);
    w.with_ctx(|ctx| s.memblocks_present(ctx)).unwrap();
    let maps = present_maps(&mut w, &s.sections);
    assert_eq!(maps.len(), 64 + 2 + 1);
    assert_eq!(maps[63], (63, 0xd));
    assert_eq!(&maps[64..], [(256, 0x5), (257, 0x5), (769, 0x1d)]);
}

#[test]
fn memblocks_present_beyond_max_physmem_bits() {
    let mut w = two_gig();
    w.mb.add_node((1 << 47) - 32 * M, 64 * M, 0, RegionFlags::empty(), "test")
        .unwrap();
    w.mb.reserve((1 << 47) - 32 * M, 64 * M, "test").unwrap();
    let mut s = Sparse::new(Order::V419, Psize::P16M);
    w.with_ctx(|ctx| s.memblocks_present(ctx)).unwrap();
    assert_eq!(
        w.lines(Level::Warning),
        ["memory_present: pfns 0x80000000-0x80000200 exceed SPARSEMEM max 0x80000000, left out"]
    );
    let present = s.sections.present_sections(&mut w.m);
    assert_eq!(present.len(), 130);
    assert_eq!(present[127..], [127, 0x7f_fffe, 0x7f_ffff]);
    // Roots 0 and 2047 and the pointer array.
    assert_eq!(s.sections.allocs.len(), 3);
}
