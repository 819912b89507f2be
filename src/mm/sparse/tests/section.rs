//! Constants and encodings: the section size and table, `struct mem_section`'s
//! `section_mem_map`, the usemap, `struct page` and its flags, the vmemmap's address
//! arithmetic, and the ordering names.

use std::string::ToString;

use super::super::init::Order;
use super::super::machine::{PAGE_OFFSET, pa, va};
use super::super::page::*;
use super::super::section::*;
use super::super::vmemmap::{
    VMEMMAP_BACKING_SIZE, VMEMMAP_BASE, VMEMMAP_END, VMEMMAP_SIZE, page_to_pfn, pfn_to_page,
    vmemmap_section_start,
};
use super::*;
use crate::mm::{PAGE_SHIFT, PAGE_SIZE};
use crate::prom::memory::MAX_PHYSMEM_BITS;

#[test]
fn section_constants() {
    assert_eq!(PAGE_SHIFT, 16);
    assert_eq!(PAGE_SIZE, 0x10000);
    assert_eq!(MAX_PHYSMEM_BITS, 47);
    assert_eq!(SECTION_SIZE_BITS, 24);
    assert_eq!(PFN_SECTION_SHIFT, 8);
    assert_eq!(PAGES_PER_SECTION, 256);
    assert_eq!(PAGE_SECTION_MASK, 0xffff_ffff_ffff_ff00);
    assert_eq!(SECTIONS_SHIFT, 23);
    assert_eq!(NR_MEM_SECTIONS, 0x80_0000);
    assert_eq!(SECTIONS_PER_ROOT, 4096);
    assert_eq!(NR_SECTION_ROOTS, 2048);
    assert_eq!(MEM_SECTION_SIZE, 16);
    assert_eq!(STRUCT_PAGE_SIZE, 64);
    assert_eq!(SECTION_MEMMAP_SIZE, 0x4000);
    // One root is one 64K page of sections and covers 64G of memory.
    assert_eq!(SECTIONS_PER_ROOT * MEM_SECTION_SIZE, PAGE_SIZE);
    assert_eq!(SECTIONS_PER_ROOT << SECTION_SIZE_BITS, 64 * G);
    // The pointer array covers 2^47 bytes.
    assert_eq!(
        (NR_SECTION_ROOTS * SECTIONS_PER_ROOT) << SECTION_SIZE_BITS,
        1 << 47
    );
}

#[test]
fn section_flag_bits() {
    assert_eq!(SECTION_MARKED_PRESENT, 0x1);
    assert_eq!(SECTION_HAS_MEM_MAP, 0x2);
    assert_eq!(SECTION_IS_ONLINE, 0x4);
    assert_eq!(SECTION_MAP_LAST_BIT, 0x8);
    assert_eq!(SECTION_MAP_MASK, 0xffff_ffff_ffff_fff8);
    assert_eq!(SECTION_NID_SHIFT, 3);
}

#[test]
fn usemap_is_one_long_per_section() {
    assert_eq!(PAGEBLOCK_ORDER, 8);
    assert_eq!(NR_PAGEBLOCK_BITS, 4);
    // One 16M pageblock per section: 4 bits, rounded up to one unsigned long.
    assert_eq!(SECTION_BLOCKFLAGS_BITS, 4);
    assert_eq!(usemap_size(), 8);
}

#[test]
fn struct_sizes() {
    assert_eq!(core::mem::size_of::<MemSection>(), 16);
    assert_eq!(core::mem::size_of::<Page>(), 64);
    assert_eq!(VMEMMAP_BACKING_SIZE, 24);
    assert_eq!(MemSection::default().section_mem_map, 0);
}

#[test]
fn section_numbers() {
    assert_eq!(pfn_to_section_nr(0), 0);
    assert_eq!(pfn_to_section_nr(0xff), 0);
    assert_eq!(pfn_to_section_nr(0x100), 1);
    assert_eq!(pfn_to_section_nr(0x7fff), 0x7f);
    assert_eq!(section_nr_to_pfn(0x7f), 0x7f00);
    assert_eq!(section_nr_to_pfn(NR_MEM_SECTIONS), 0x8000_0000);
    assert_eq!(section_nr_to_root(4095), 0);
    assert_eq!(section_nr_to_root(4096), 1);
    assert_eq!(section_nr_to_root(NR_MEM_SECTIONS - 1), 2047);
}

#[test]
fn early_nid_encoding() {
    assert_eq!(encode_early_nid(0), 0);
    assert_eq!(encode_early_nid(1), 0x8);
    assert_eq!(encode_early_nid(5), 0x28);
    assert_eq!(encode_early_nid(255), 0x7f8);
    // What memory_present stores: node, online, present.
    for nid in [0, 1, 3, 200, 255] {
        let ms = MemSection {
            section_mem_map: encode_early_nid(nid) | SECTION_IS_ONLINE | SECTION_MARKED_PRESENT,
            pageblock_flags: 0,
        };
        assert!(ms.present() && ms.online() && !ms.valid(), "{nid}");
        assert_eq!(ms.early_nid(), nid);
        assert_eq!(ms.encoded_map(), (nid as u64) << 3);
    }
    assert_eq!(
        encode_early_nid(3) | SECTION_IS_ONLINE | SECTION_MARKED_PRESENT,
        0x1d
    );
}

#[test]
fn mem_map_encoding() {
    // With the vmemmap every section's encoded map is the vmemmap base.
    for pnum in [0, 1, 0x7f, 4096, NR_MEM_SECTIONS - 1] {
        let map = pfn_to_page(section_nr_to_pfn(pnum));
        assert_eq!(encode_mem_map(map, pnum), VMEMMAP_BASE, "{pnum}");
        assert_eq!(decode_mem_map(VMEMMAP_BASE | 0x7, pnum), map, "{pnum}");
    }
    // The section_mem_map of an initialised section.
    let ms = MemSection {
        section_mem_map: encode_mem_map(pfn_to_page(0x500), 5)
            | SECTION_HAS_MEM_MAP
            | SECTION_IS_ONLINE
            | SECTION_MARKED_PRESENT,
        pageblock_flags: 0,
    };
    assert_eq!(ms.section_mem_map, 0xf000_0000_0000_0007);
    assert!(ms.present() && ms.valid() && ms.online());
    assert_eq!(ms.encoded_map(), 0xf000_0000_0000_0000);
    // Any map: the section's first pfn's worth of struct pages comes off and back.
    let map = 0xc000_0000_0123_0000;
    assert_eq!(encode_mem_map(map, 3), 0xc000_0000_0122_4000);
    assert_eq!(decode_mem_map(0xc000_0000_0122_4000, 3), map);
    // Flags are masked off when decoding.
    assert_eq!(decode_mem_map(0xc000_0000_0122_4007, 3), map);
    // Section 0: the map itself.
    assert_eq!(encode_mem_map(map, 0), map);
}

#[test]
fn page_flags_layout() {
    assert_eq!(NODES_SHIFT, 8);
    assert_eq!(ZONES_SHIFT, 1);
    assert_eq!(SECTIONS_WIDTH, 0);
    assert_eq!(SECTIONS_PGOFF, 64);
    assert_eq!(NODES_PGOFF, 56);
    assert_eq!(ZONES_PGOFF, 55);
    assert_eq!(NODES_MASK, 0xff);
    assert_eq!(ZONES_MASK, 1);
    assert_eq!(PG_RESERVED, 11);
    assert_eq!(page_links(Zone::Normal, 0), 0);
    assert_eq!(page_links(Zone::Normal, 1), 0x0100_0000_0000_0000);
    assert_eq!(page_links(Zone::Movable, 0), 0x0080_0000_0000_0000);
    assert_eq!(page_links(Zone::Movable, 3), 0x0380_0000_0000_0000);
    assert_eq!(page_links(Zone::Normal, 255), 0xff00_0000_0000_0000);
    // A node id beyond NODES_SHIFT bits is masked, never spilling into other fields.
    assert_eq!(page_links(Zone::Normal, 0x1ff), 0xff00_0000_0000_0000);
    assert_eq!(Zone::Normal.name(), "Normal");
    assert_eq!(Zone::Movable.name(), "Movable");
    assert_eq!(Zone::from_index(0), Some(Zone::Normal));
    assert_eq!(Zone::from_index(1), Some(Zone::Movable));
    assert_eq!(Zone::from_index(2), None);
}

#[test]
fn init_single_page() {
    let ea = pfn_to_page(0x1234);
    assert_eq!(ea, 0xf000_0000_0004_8d00);
    let mut p = Page::new(ea, Zone::Normal, 2);
    assert_eq!(p.flags, 0x0200_0000_0000_0000);
    assert_eq!(p.lru, [ea + 8, ea + 8]);
    assert_eq!((p.mapping, p.index, p.private, p.mem_cgroup), (0, 0, 0, 0));
    assert_eq!((p.mapcount, p.refcount), (-1, 1));
    assert_eq!(p.nid(), 2);
    assert_eq!(p.zone(), Some(Zone::Normal));
    assert!(!p.reserved());
    p.set_reserved();
    assert!(p.reserved());
    assert_eq!(p.flags, 0x0200_0000_0000_0800);
    // Setting it twice changes nothing.
    p.set_reserved();
    assert_eq!(p.flags, 0x0200_0000_0000_0800);
    let mv = Page::new(ea, Zone::Movable, 255);
    assert_eq!(mv.flags, 0xff80_0000_0000_0000);
    assert_eq!(mv.nid(), 255);
    assert_eq!(mv.zone(), Some(Zone::Movable));
}

#[test]
fn page_words_round_trip() {
    let ea = 0xf000_0000_0000_4000;
    let mut p = Page::new(ea, Zone::Normal, 1);
    p.set_reserved();
    let w = p.words();
    assert_eq!(
        w,
        [
            0x0100_0000_0000_0800,
            0xf000_0000_0000_4008,
            0xf000_0000_0000_4008,
            0,
            0,
            0,
            // mapcount -1 in the low half, refcount 1 in the high half (little-endian).
            0x0000_0001_ffff_ffff,
            0,
        ]
    );
    assert_eq!(Page::from_words(w), p);
    // Every field survives, negative counters included.
    let q = Page {
        flags: 0x1122_3344_5566_7788,
        lru: [1, 2],
        mapping: 3,
        index: 4,
        private: 5,
        mapcount: i32::MIN,
        refcount: -7,
        mem_cgroup: 0xdead_beef,
    };
    assert_eq!(q.words()[6], 0xffff_fff9_8000_0000);
    assert_eq!(Page::from_words(q.words()), q);
    assert_eq!(Page::from_words([0; 8]), Page::default());
}

#[test]
fn vmemmap_addresses() {
    assert_eq!(VMEMMAP_BASE, 0xf000_0000_0000_0000);
    assert_eq!(VMEMMAP_SIZE, 0x20_0000_0000);
    assert_eq!(VMEMMAP_END, 0xf000_0020_0000_0000);
    assert_eq!(pfn_to_page(0), VMEMMAP_BASE);
    assert_eq!(pfn_to_page(1), 0xf000_0000_0000_0040);
    assert_eq!(pfn_to_page(0x100), 0xf000_0000_0000_4000);
    assert_eq!(pfn_to_page(0x12345), 0xf000_0000_0048_d140);
    // The last pfn of 2G and of 64G.
    assert_eq!(pfn_to_page(0x7fff), 0xf000_0000_001f_ffc0);
    assert_eq!(pfn_to_page(0xf_ffff), 0xf000_0000_03ff_ffc0);
    for pfn in [0, 1, 0xff, 0x100, 0x12345, 0x7fff_ffff] {
        assert_eq!(page_to_pfn(pfn_to_page(pfn)), pfn);
    }
    // An address inside a struct page belongs to that page.
    assert_eq!(page_to_pfn(0xf000_0000_0000_007f), 1);
    // The last struct page ends at the vmemmap's end.
    assert_eq!(
        pfn_to_page(NR_MEM_SECTIONS * PAGES_PER_SECTION - 1) + 64,
        VMEMMAP_END
    );
}

#[test]
fn vmemmap_section_start_boundaries() {
    assert_eq!(vmemmap_section_start(0xf000_0000_0000_0000), 0);
    assert_eq!(vmemmap_section_start(0xf000_0000_0000_3fc0), 0);
    assert_eq!(vmemmap_section_start(0xf000_0000_0000_3fff), 0);
    assert_eq!(vmemmap_section_start(0xf000_0000_0000_4000), 0x100);
    assert_eq!(vmemmap_section_start(0xf000_0000_0000_7fc0), 0x100);
    // One 64K vmemmap page: 4 sections; one 16M page: 1024 sections = 16G.
    assert_eq!(vmemmap_section_start(0xf000_0000_0001_0000), 0x400);
    assert_eq!(vmemmap_section_start(0xf000_0000_0100_0000), 0x4_0000);
    assert_eq!(0x4_0000u64 << PAGE_SHIFT, 16 * G);
    assert_eq!(vmemmap_section_start(0xf000_0000_00ff_ffc0), 0x3_ff00);
}

#[test]
fn linear_map_addresses() {
    assert_eq!(PAGE_OFFSET, 0xc000_0000_0000_0000);
    assert_eq!(va(0x7e00_0000), 0xc000_0000_7e00_0000);
    assert_eq!(pa(0xc000_0000_7e00_0000), 0x7e00_0000);
    assert_eq!(pa(va(0x1234_5678)), 0x1234_5678);
}

#[test]
fn order_names_are_a_contract() {
    assert_eq!(Order::ALL, [Order::V419, Order::V418, Order::Mmotm20180710]);
    assert_eq!(Order::V419.name(), "v4.19");
    assert_eq!(Order::V418.name(), "v4.18");
    assert_eq!(Order::Mmotm20180710.name(), "mmotm-2018-07-10");
    for o in Order::ALL {
        assert_eq!(Order::parse(o.name()), Some(o));
    }
    assert_eq!(Order::default(), Order::V419);
    assert_eq!(Order::names().to_string(), "v4.19 v4.18 mmotm-2018-07-10");
}

#[test]
fn unknown_order_names() {
    for s in [
        "",
        "v4.20",
        "V4.19",
        "4.19",
        "v4.19 ",
        " v4.18",
        "mmotm",
        "mmotm-2018-07-11",
        "MMOTM-2018-07-10",
        "v4.19,v4.18",
    ] {
        assert_eq!(Order::parse(s), None, "{s:?}");
    }
}
