//! v4.19 (the default) and v4.18 on synthetic layouts: every vmemmap page backed and
//! mapped exactly once, no failures, every section valid, every check `ok`.
//!
//! Placement worked out by hand (memblock top-down, aligned to the request):
//! 2G, one node: RTAS 0x7fff0000, pointer array 0x7ffec000 (16K), root 0x7ffdc000
//! (64K), usemaps 0x7ffdbc00 (128 x 8 bytes), the 16M block 0x7e000000, the
//! `vmemmap_list` chunk 0x7ffc0000 (64K, below the usemaps, aligned to 64K).
//!
//! v4.18 first takes its `usemap_map`, a pointer for each of its 2^22 possible sections
//! (32 MiB, aligned to 128 bytes, any node) right below the root: 0x7dfdc000. Everything
//! after it lands 32 MiB lower: usemaps 0x7dfdbc00, the block 0x7c000000 (0x7d000000
//! would reach past the usemaps), the chunk 0x7dfc0000. The array is freed again when
//! sparse_init returns.

use std::collections::BTreeSet;
use std::string::ToString;
use std::vec::Vec;

use super::super::init::UsemapAlloc;
use super::super::machine::va;
use super::super::memmap::MemmapStats;
use super::super::page::Zone;
use super::super::section::PAGES_PER_SECTION;
use super::super::vmemmap::{Block, count_mappings, pfn_to_page};
use super::*;
use crate::mm::hash::HashPageTable;
use crate::mm::hash::hpte::HPTE_V_VALID;

/// The vmemmap pages the present sections' maps lie in, from the addresses alone.
fn pages_for(sections: &[u64], psize: u64) -> BTreeSet<u64> {
    let mut s = BTreeSet::new();
    for &p in sections {
        s.insert((VMEMMAP + p * 0x4000) & !(psize - 1));
        s.insert((VMEMMAP + p * 0x4000 + 0x3fff) & !(psize - 1));
    }
    s
}

/// What v4.19 and v4.18 guarantee on any layout with enough memory.
pub(super) fn assert_once(b: &mut Boot, what: &str) {
    let vm = &b.s.vmemmap;
    let r = b.report;
    let psize = b.w.vmemmap.size();
    let n = b.s.present.len() as u64;
    assert_eq!(vm.page_size, psize, "{what}");
    assert_eq!(r.psize, b.w.vmemmap, "{what}");
    assert_eq!(r.sections, n, "{what}");
    assert_eq!((r.map_failures, r.unbacked_sections), (0, 0), "{what}");
    assert_eq!(vm.removed, 0, "{what}");
    let blocks = vm.blocks.len() as u64;
    assert_eq!(r.vmemmap_pages, blocks, "{what}");
    assert_eq!(r.mappings, blocks, "{what}");
    assert_eq!(r.memmap_bytes, blocks * psize, "{what}");
    assert_eq!(r.usemap_bytes, 8 * n, "{what}");
    // Distinct pages, exactly the ones the sections need.
    let virts: BTreeSet<u64> = vm.blocks.iter().map(|b| b.virt).collect();
    assert_eq!(virts.len() as u64, blocks, "{what}: a page backed twice");
    assert_eq!(virts, pages_for(&b.s.present, psize), "{what}");
    // Blocks: aligned, recorded, mapped, distinct.
    let phys: BTreeSet<u64> = vm.blocks.iter().map(|b| b.phys).collect();
    assert_eq!(phys.len() as u64, blocks, "{what}");
    for blk in &vm.blocks {
        assert!(blk.recorded && blk.mapped, "{what}: {blk:?}");
        assert_eq!(blk.phys % psize, 0, "{what}: {blk:?}");
        assert!(b.w.mb.is_reserved(blk.phys, psize), "{what}: {blk:?}");
    }
    // One bolt per block, in order, each the block's.
    assert_eq!(b.w.bolts.len() as u64, blocks, "{what}");
    for (bolt, blk) in b.w.bolts.iter().zip(&vm.blocks) {
        assert_eq!((bolt.ea, bolt.pa), (blk.virt, blk.phys), "{what}");
        assert_eq!((bolt.psize, bolt.ssize), (b.w.vmemmap, b.w.ssize), "{what}");
        assert!(!bolt.secondary, "{what}");
    }
    // vmemmap_list read back: newest first.
    let list = vm.list(&mut b.w.m).unwrap();
    let want: Vec<(u64, u64)> = vm.blocks.iter().rev().map(|b| (b.phys, b.virt)).collect();
    assert_eq!(list, want, "{what}");
    // The table holds each page once, in its primary group, and translates it.
    let hash = b.w.hash();
    let geo = hash.geo.clone();
    let hash = HashParams { geo: &geo, ..hash };
    for blk in &vm.blocks {
        assert_eq!(
            count_mappings(&mut b.w.m, &hash, blk.virt),
            Ok((1, 0)),
            "{what}: {:#x}",
            blk.virt
        );
        assert_eq!(b.w.m.translate(blk.virt), Some(blk.phys), "{what}");
        assert_eq!(
            b.w.m.translate(blk.virt + psize - 8),
            Some(blk.phys + psize - 8),
            "{what}"
        );
    }
    assert_eq!(
        b.w.m.hpt.valid() as u64,
        b.w.linear_entries + blocks,
        "{what}"
    );
    // Every present section initialised with its own usemap.
    for &p in &b.s.present {
        let ms = b.s.sections.get(&mut b.w.m, p);
        assert_eq!(ms.section_mem_map, 0xf000_0000_0000_0007, "{what}: {p}");
        assert_ne!(ms.pageblock_flags, 0, "{what}: {p}");
        assert!(b.s.pfn_valid(&mut b.w.m, p << 8), "{what}: {p}");
    }
    // Struct pages, unless the test skipped them (64G: a million struct pages).
    let st = b.memmap;
    if st == MemmapStats::default() {
        assert_eq!(
            failed(&b.checks),
            ["sparse_pfn_round_trip", "sparse_struct_pages"],
            "{what}"
        );
    } else {
        assert_eq!(st.sections, n, "{what}");
        assert_eq!(st.pages, n * PAGES_PER_SECTION, "{what}");
        assert_eq!(st.free + st.reserved, st.pages, "{what}");
        assert_all_ok(&b.checks, what);
    }
    // No warnings or errors.
    let bad: Vec<_> =
        b.w.log
            .iter()
            .filter(|(l, _)| *l <= Level::Warning)
            .collect();
    assert!(bad.is_empty(), "{what}: {bad:?}");
}

/// Where the 2G machine's allocations land in each ordering (see the module comment).
struct TwoGig {
    block: u64,
    usemaps: u64,
    chunk: u64,
    temporaries: &'static [(u64, u64, &'static str)],
    /// Struct pages: free and reserved.
    free: u64,
    reserved: u64,
}

fn two_gig_golden(order: Order, want: TwoGig) {
    let mut b = boot(&Layout::one_node(2 * G), order);
    assert_once(&mut b, order.name());
    assert_eq!(
        b.report.to_string(),
        std::format!(
            "sparse_init: order={} sections=128 nodes=1 vmemmap_pages=1 psize=16M mappings=1 \
             map_failures=0 unbacked_sections=0 memmap=16384K usemap=1024B time=0us",
            order.name()
        )
    );
    assert_eq!(
        b.s.vmemmap.blocks,
        [Block {
            virt: VMEMMAP,
            phys: want.block,
            node: 0,
            recorded: true,
            mapped: true
        }]
    );
    assert_eq!(
        b.s.usemaps,
        [UsemapAlloc {
            pa: want.usemaps,
            size: 0x400,
            nid: 0
        }]
    );
    assert_eq!(b.s.vmemmap.list_chunks, [(want.chunk, 0x1_0000)]);
    assert_eq!(
        b.s.sections.allocs,
        [(0x7ffe_c000, 0x4000), (0x7ffd_c000, 0x1_0000)]
    );
    assert_eq!(b.s.temporaries, want.temporaries);
    // The temporary arrays are free again.
    for &(pa, size, _) in want.temporaries {
        assert!(!b.w.mb.is_reserved(pa, size), "{pa:#x}");
    }
    for p in 0..128 {
        let ms = b.s.sections.get(&mut b.w.m, p);
        assert_eq!(ms.pageblock_flags, va(want.usemaps + 8 * p), "{p}");
    }
    // The reference's test vector: group 0x642f8, V 0x400a86c85f000015, R 0x7e000194
    // (v4.18's block is 32M lower: R 0x7c000194).
    let bolt = b.w.bolts[0];
    assert_eq!(
        bolt.to_string(),
        std::format!(
            "bolt ea=0xf000000000000000 pa={:#018x} psize=16M ssize=1T vsid=0xa86c85f \
             hpteg=0x642f8 slot=0",
            want.block
        )
    );
    assert_eq!(bolt.hpte.v, 0x400a_86c8_5f00_0015);
    assert_eq!(bolt.hpte.r, want.block | 0x194);
    assert_eq!(b.w.m.h_read(0x642f8).unwrap().v & HPTE_V_VALID, 1);
    // The debug lines, in the 2018 report's formats.
    let debug = b.w.lines(Level::Debug);
    assert_eq!(
        debug[..4],
        [
            "vmemmap_populate f000000000000000..f000000000004000, node 0",
            &std::format!(
                "      * f000000000000000..f000000001000000 allocated at {:016x}",
                va(want.block)
            ),
            &std::format!(
                "hash__vmemmap_create_mapping: start 0xf000000000000000 size 0x1000000 phys \
                 {:#x}",
                want.block
            ),
            "vmemmap_populate f000000000000000..f000000000008000, node 0",
        ]
    );
    assert_eq!(debug.len(), 130);
    assert_eq!(
        debug[129],
        "vmemmap_populate f000000000000000..f000000000200000, node 0"
    );
    assert_eq!(b.w.starting("vmemmap_populate ").len(), 128);
    assert_eq!(b.memmap.free + b.memmap.reserved, 32768);
    assert_eq!(
        b.memmap.to_string(),
        std::format!(
            "memmap_init: 32768 struct pages in 128 sections initialised through the vmemmap: \
             {} free, {} reserved (0 of them holes)",
            want.free,
            want.reserved
        )
    );
    let diags: Vec<&str> = b.checks.iter().map(|c| c.diag.as_str()).collect();
    assert_eq!(
        diags,
        [
            "128 of 128 present sections valid, section_mem_map 0xf000000000000007",
            "1 vmemmap pages of 16M: each once in vmemmap_list and once in the hash table (16 \
             entries read with H_READ)",
            "1 blocks of 16M in vmemmap_list, reserved, overlapping nothing else",
            "128 sections with their own 8-byte usemap in 1 allocations",
            "256 pfns (first and last of each section): pfn -> page -> pfn, struct page through \
             the vmemmap equal to its backing",
            "memmap 16384 KiB in 1 blocks; 128 sections x 16 KiB = 2048 KiB rounded up to 1 \
             vmemmap pages of 16M = 16384 KiB",
            &std::format!(
                "32768 struct pages read through the vmemmap for 128 valid sections (want \
                 32768): {0} free (memblock: {0}, memmap_init: {0}), {1} reserved (memmap_init: \
                 {1})",
                want.free,
                want.reserved
            ),
        ]
    );
    // The struct page of pfn 0x100 lives in the block at offset 0x4000.
    let page = b.w.m.read_page(pfn_to_page(0x100));
    assert_eq!(b.w.m.read_u64(va(want.block + 0x4000)), page.flags);
    assert_eq!(page.zone(), Some(Zone::Normal));
}

#[test]
fn v419_2g_16m() {
    // Struct pages: the kernel (32 pages), the block (256), the list chunk (1) and the
    // pages from the usemaps up to the top (3: 0x7ffd-0x7fff) are reserved.
    two_gig_golden(
        Order::V419,
        TwoGig {
            block: 0x7e00_0000,
            usemaps: 0x7ffd_bc00,
            chunk: 0x7ffc_0000,
            temporaries: &[],
            free: 32476,
            reserved: 292,
        },
    );
}

#[test]
fn v418_2g_16m() {
    // The 32M usemap_map is free again, so the chunk (0x7dfc) and the usemaps' page
    // (0x7dfd) are reserved on their own, and the root's page 0x7ffd alone: one more.
    two_gig_golden(
        Order::V418,
        TwoGig {
            block: 0x7c00_0000,
            usemaps: 0x7dfd_bc00,
            chunk: 0x7dfc_0000,
            temporaries: &[(0x7dfd_c000, 0x200_0000, "usemap_map")],
            free: 32475,
            reserved: 293,
        },
    );
}

#[test]
fn sixty_four_gig_16m() {
    // QEMU gives 64G a 2^0x1d-byte table; the model's would take 512M of host memory
    // and seconds to build, so these runs use a 2^0x18-byte one (a fuller table, the
    // harder case). The million struct pages are left out too: too slow on the host.
    for order in [Order::V419, Order::V418] {
        let mut l = Layout::one_node(64 * G);
        assert_eq!(l.pft, 0x1d);
        l.pft = 0x18;
        let mut b = boot_without_pages(&l, order);
        assert_once(&mut b, order.name());
        // 4096 sections: four 16M vmemmap pages of 1024 sections each, top-down. RTAS
        // 0xfffff0000, pointer array 0xffffec000, root 0xffffdc000; v4.19's usemaps
        // (4096 x 8 bytes) right below. v4.18's 32M usemap_map comes first
        // (0xffdfdc000), its usemaps below it (0xffdfd4000); its first block cannot be
        // 0xffd000000 (it would reach the usemaps), and once the list chunk is at
        // 0xffdfc0000 the others go below 0xffc000000.
        let (usemaps, blocks) = match order {
            Order::V419 => (
                0xf_fffd_4000,
                [0xf_fe00_0000, 0xf_fd00_0000, 0xf_fc00_0000, 0xf_fb00_0000],
            ),
            _ => (
                0xf_fdfd_4000,
                [0xf_fc00_0000, 0xf_fb00_0000, 0xf_fa00_0000, 0xf_f900_0000],
            ),
        };
        let got: Vec<(u64, u64)> =
            b.s.vmemmap
                .blocks
                .iter()
                .map(|b| (b.virt, b.phys))
                .collect();
        assert_eq!(
            got,
            [
                (VMEMMAP, blocks[0]),
                (VMEMMAP + 0x100_0000, blocks[1]),
                (VMEMMAP + 0x200_0000, blocks[2]),
                (VMEMMAP + 0x300_0000, blocks[3]),
            ],
            "{}",
            order.name()
        );
        assert_eq!(b.s.usemaps[0].pa, usemaps, "{}", order.name());
        assert_eq!(b.s.usemaps[0].size, 0x8000);
        let chunk = match order {
            Order::V419 => 0xf_fffc_0000,
            _ => 0xf_fdfc_0000,
        };
        assert_eq!(
            b.s.vmemmap.list_chunks,
            [(chunk, 0x1_0000)],
            "{}",
            order.name()
        );
        assert_eq!(
            b.report.to_string(),
            std::format!(
                "sparse_init: order={} sections=4096 nodes=1 vmemmap_pages=4 psize=16M \
                 mappings=4 map_failures=0 unbacked_sections=0 memmap=65536K usemap=32768B \
                 time=0us",
                order.name()
            )
        );
    }
}

#[test]
fn hole_between_ranges() {
    // 0-1G and 4G-5G: sections 0-63 and 256-319, all in vmemmap page 0.
    let l = Layout::new(&[(0, G, 0), (4 * G, G, 0)]);
    for order in [Order::V419, Order::V418] {
        let mut b = boot(&l, order);
        assert_once(&mut b, order.name());
        let mut want: Vec<u64> = (0..64).collect();
        want.extend(256..320);
        assert_eq!(b.s.present, want);
        // Top-down over both ranges: the metadata and the block go to 4G-5G (pointer
        // array 0x13fffc000, root 0x13ffec000). v4.18's 32M usemap_map takes
        // [0x13dfec000, 0x13ffec000) first and everything else goes below it.
        assert_eq!(b.s.sections.array_pa(), Some(0x1_3fff_c000));
        let (usemaps, block, chunk) = match order {
            Order::V419 => (0x1_3ffe_bc00, 0x1_3e00_0000, 0x1_3ffd_0000),
            _ => (0x1_3dfe_bc00, 0x1_3c00_0000, 0x1_3dfd_0000),
        };
        assert_eq!(b.s.usemaps[0].pa, usemaps, "{}", order.name());
        assert_eq!(b.s.vmemmap.blocks[0].phys, block, "{}", order.name());
        assert_eq!(
            b.s.vmemmap.list_chunks,
            [(chunk, 0x1_0000)],
            "{}",
            order.name()
        );
        if order == Order::V418 {
            assert_eq!(b.s.temporaries, [(0x1_3dfe_c000, 0x200_0000, "usemap_map")]);
            assert!(!b.w.mb.is_reserved(0x1_3dfe_c000, 0x200_0000));
        }
        assert_eq!(b.memmap.holes, 0);
        // The hole has no valid sections.
        assert!(!b.s.pfn_valid(&mut b.w.m, 64 << 8));
        assert!(!b.s.pfn_valid(&mut b.w.m, (256 << 8) - 1));
    }
}

#[test]
fn hole_between_ranges_64k() {
    let l = Layout::new(&[(0, G, 0), (4 * G, G, 0)]).vmemmap_64k();
    let mut b = boot(&l, Order::V419);
    assert_once(&mut b, "64K");
    // 64 + 64 sections, 4 per 64K page: 32 pages, none for the hole.
    assert_eq!(b.s.vmemmap.blocks.len(), 32);
    assert_eq!(b.s.vmemmap.blocks[15].virt, VMEMMAP + 15 * 0x1_0000);
    assert_eq!(b.s.vmemmap.blocks[16].virt, VMEMMAP + 64 * 0x1_0000);
}

#[test]
fn roots_far_apart() {
    // 0-1G (root 0) and 128G-129G (root 2): root 1 never allocated, two 16M vmemmap pages.
    let l = Layout::new(&[(0, G, 0), (128 * G, G, 0)]);
    for order in [Order::V419, Order::V418] {
        let mut b = boot(&l, order);
        assert_once(&mut b, order.name());
        assert_eq!(b.s.sections.allocs.len(), 3, "pointer array and two roots");
        let virts: Vec<u64> = b.s.vmemmap.blocks.iter().map(|b| b.virt).collect();
        assert_eq!(virts, [VMEMMAP, VMEMMAP + 0x800_0000]);
        assert_eq!(b.s.present.len(), 128);
        assert_eq!(b.s.present[64], 8192);
    }
}

#[test]
fn partial_last_section_has_holes() {
    // 1G + 8M: section 64 is half memory; its other 128 struct pages are reserved holes.
    let mut b = boot(&Layout::one_node(G + 8 * M), Order::V419);
    assert_once(&mut b, "1G+8M");
    assert_eq!(b.s.present.len(), 65);
    assert_eq!(b.memmap.pages, 65 * 256);
    assert_eq!(b.memmap.holes, 128);
    let last_mem = b.w.m.read_page(pfn_to_page(0x407f));
    let first_hole = b.w.m.read_page(pfn_to_page(0x4080));
    let last_hole = b.w.m.read_page(pfn_to_page(0x40ff));
    // RTAS is the top 64K of memory: reserved.
    assert!(last_mem.reserved());
    assert!(first_hole.reserved() && last_hole.reserved());
    assert_eq!(first_hole.nid(), 0);
    assert!(!b.w.m.read_page(pfn_to_page(0x4000)).reserved());
}

#[test]
fn two_nodes_16m() {
    let l = Layout::new(&[(0, G, 0), (G, G, 1)]);
    for order in [Order::V419, Order::V418] {
        let mut b = boot(&l, order);
        assert_once(&mut b, order.name());
        assert_eq!(b.report.nodes, 2);
        assert_eq!(b.s.runs.len(), 2);
        assert_eq!(b.s.runs[1].sections[0], 64);
        // The pointer array (any node) on top of node 1; the root, the usemaps of node 0
        // and the block on node 0 below RTAS (0x3fff0000); node 1's usemaps on node 1:
        // right below the pointer array, or in v4.18 below its 32M usemap_map (any
        // node, so on top of node 1: [0x7dffc000, 0x7fffc000)).
        assert_eq!(
            b.s.sections.allocs,
            [(0x7fff_c000, 0x4000), (0x3ffe_0000, 0x1_0000)]
        );
        let node1 = match order {
            Order::V419 => 0x7fff_be00,
            _ => 0x7dff_be00,
        };
        assert_eq!(
            b.s.usemaps,
            [
                UsemapAlloc {
                    pa: 0x3ffd_fe00,
                    size: 0x200,
                    nid: 0
                },
                UsemapAlloc {
                    pa: node1,
                    size: 0x200,
                    nid: 1
                },
            ],
            "{}",
            order.name()
        );
        if order == Order::V418 {
            assert_eq!(b.s.temporaries, [(0x7dff_c000, 0x200_0000, "usemap_map")]);
        }
        assert_eq!(b.s.vmemmap.blocks.len(), 1);
        assert_eq!(b.s.vmemmap.blocks[0].phys, 0x3e00_0000);
        assert_eq!(b.s.vmemmap.blocks[0].node, 0);
        assert_eq!(b.s.vmemmap.list_chunks, [(0x3ffc_0000, 0x1_0000)]);
        // Struct pages carry their node.
        assert_eq!(b.w.m.read_page(pfn_to_page(0x3fff)).nid(), 0);
        assert_eq!(b.w.m.read_page(pfn_to_page(0x4000)).nid(), 1);
        assert_eq!(
            b.w.m.read_page(pfn_to_page(0x4000)).flags,
            0x0100_0000_0000_0000
        );
    }
}

/// Each block on the node of the sections that needed it, inside that node's memory.
fn assert_node_local(b: &Boot, l: &Layout) {
    for blk in &b.s.vmemmap.blocks {
        let inside = l.ram.iter().any(|&(base, size, nid)| {
            nid == blk.node && base <= blk.phys && blk.phys < base + size
        });
        assert!(inside, "{blk:?}");
    }
    for u in &b.s.usemaps {
        let inside = l
            .ram
            .iter()
            .any(|&(base, size, nid)| nid == u.nid && base <= u.pa && u.pa < base + size);
        assert!(inside, "{u:?}");
    }
}

#[test]
fn two_nodes_64k() {
    let l = Layout::new(&[(0, G, 0), (G, G, 1)]).vmemmap_64k();
    for order in [Order::V419, Order::V418] {
        let mut b = boot(&l, order);
        assert_once(&mut b, order.name());
        assert_eq!(b.s.vmemmap.blocks.len(), 32);
        let nodes: Vec<i32> = b.s.vmemmap.blocks.iter().map(|b| b.node).collect();
        assert_eq!(nodes[..16], [0; 16]);
        assert_eq!(nodes[16..], [1; 16]);
        assert_node_local(&b, &l);
    }
}

#[test]
fn four_nodes_64k() {
    let l = Layout::new(&[
        (0, 512 * M, 0),
        (512 * M, 512 * M, 1),
        (G, 512 * M, 2),
        (3 * 512 * M, 512 * M, 3),
    ])
    .vmemmap_64k();
    for order in [Order::V419, Order::V418] {
        let mut b = boot(&l, order);
        assert_once(&mut b, order.name());
        assert_eq!(b.report.nodes, 4);
        let runs: Vec<(i32, usize)> = b.s.runs.iter().map(|r| (r.nid, r.sections.len())).collect();
        assert_eq!(runs, [(0, 32), (1, 32), (2, 32), (3, 32)]);
        assert_node_local(&b, &l);
        for nid in 0..4 {
            let pfn = (nid as u64) * 0x2000 + 0x10;
            assert_eq!(b.w.m.read_page(pfn_to_page(pfn)).nid(), nid, "{pfn:#x}");
        }
    }
}

#[test]
fn four_nodes_16m() {
    let l = Layout::new(&[(0, G, 0), (G, G, 1), (2 * G, G, 2), (3 * G, G, 3)]);
    for order in [Order::V419, Order::V418] {
        let mut b = boot(&l, order);
        assert_once(&mut b, order.name());
        // One 16M page covers all 256 sections: node 0 backs it.
        assert_eq!(b.s.vmemmap.blocks.len(), 1);
        assert_eq!(b.s.vmemmap.blocks[0].node, 0);
        assert_eq!(b.s.usemaps.len(), 4);
        assert_node_local(&b, &l);
    }
}

#[test]
fn interleaved_nodes() {
    // Nodes 0, 1, 0, 1: four runs, two nodes; one usemap allocation per run.
    let l = Layout::new(&[
        (0, 512 * M, 0),
        (512 * M, 512 * M, 1),
        (G, 512 * M, 0),
        (3 * 512 * M, 512 * M, 1),
    ])
    .vmemmap_64k();
    for order in [Order::V419, Order::V418] {
        let mut b = boot(&l, order);
        assert_once(&mut b, order.name());
        assert_eq!(b.report.nodes, 2);
        let runs: Vec<(i32, u64)> = b.s.runs.iter().map(|r| (r.nid, r.sections[0])).collect();
        assert_eq!(runs, [(0, 0), (1, 32), (0, 64), (1, 96)]);
        let nids: Vec<(i32, u64)> = b.s.usemaps.iter().map(|u| (u.nid, u.size)).collect();
        assert_eq!(nids, [(0, 256), (1, 256), (0, 256), (1, 256)]);
        assert_node_local(&b, &l);
    }
}

#[test]
fn node_boundary_inside_a_vmemmap_page() {
    // Node 0 has sections 0-4, node 1 from 5: the 64K page of sections 4-7 is shared.
    // Node 0 (section 4) backs it; node 1's sections 5-7 find it populated.
    let l = Layout::new(&[(0, 80 * M, 0), (80 * M, 2 * G - 80 * M, 1)]).vmemmap_64k();
    for order in [Order::V419, Order::V418] {
        let mut b = boot(&l, order);
        assert_once(&mut b, order.name());
        let first: Vec<(u64, i32)> = b.s.vmemmap.blocks[..3]
            .iter()
            .map(|b| (b.virt, b.node))
            .collect();
        assert_eq!(
            first,
            [
                (VMEMMAP, 0),
                (VMEMMAP + 0x1_0000, 0),
                (VMEMMAP + 0x2_0000, 1)
            ]
        );
        assert_eq!(b.s.vmemmap.blocks.len(), 32);
    }
}

#[test]
fn high_node_ids() {
    let l = Layout::new(&[(0, G, 7), (G, G, 200)]).vmemmap_64k();
    let mut b = boot(&l, Order::V419);
    assert_once(&mut b, "nodes 7 and 200");
    let runs: Vec<i32> = b.s.runs.iter().map(|r| r.nid).collect();
    assert_eq!(runs, [7, 200]);
    assert_eq!(
        b.s.sections.get(&mut b.w.m, 64).section_mem_map,
        0xf000_0000_0000_0007
    );
    assert_eq!(
        b.w.m.read_page(pfn_to_page(0x4000)).flags,
        0xc800_0000_0000_0000
    );
    assert_eq!(b.w.m.read_page(pfn_to_page(0x3fff)).nid(), 7);
}

#[test]
fn only_64k_pages_offered() {
    // QEMU's default cells: the linear mapping in 64K pages too (32768 entries).
    let l = Layout::one_node(2 * G).only_64k();
    for order in [Order::V419, Order::V418] {
        let mut b = boot(&l, order);
        assert_eq!(b.w.linear_entries, 32768);
        assert_once(&mut b, order.name());
        assert_eq!(b.s.vmemmap.blocks.len(), 32);
        assert_eq!(
            b.report.to_string(),
            std::format!(
                "sparse_init: order={} sections=128 nodes=1 vmemmap_pages=32 psize=64K \
                 mappings=32 map_failures=0 unbacked_sections=0 memmap=2048K usemap=1024B \
                 time=0us",
                order.name()
            )
        );
    }
}

#[test]
fn small_guest_64k_vmemmap() {
    // 512M: Linux backs the vmemmap with 64K pages below 1G of RAM.
    let l = Layout::one_node(512 * M).vmemmap_64k();
    assert_eq!(l.pft, 22);
    let mut b = boot(&l, Order::V419);
    assert_once(&mut b, "512M");
    assert_eq!(b.s.vmemmap.blocks.len(), 8);
    // Top-down below the usemaps at 0x1ffdbf00: the first block, the list chunk, then
    // the other blocks.
    let phys: Vec<u64> = b.s.vmemmap.blocks.iter().map(|b| b.phys).collect();
    assert_eq!(
        phys,
        [
            0x1ffc_0000,
            0x1ffa_0000,
            0x1ff9_0000,
            0x1ff8_0000,
            0x1ff7_0000,
            0x1ff6_0000,
            0x1ff5_0000,
            0x1ff4_0000
        ]
    );
    assert_eq!(b.s.usemaps[0].pa, 0x1ffd_bf00);
    assert_eq!(b.s.vmemmap.list_chunks, [(0x1ffb_0000, 0x1_0000)]);
}
