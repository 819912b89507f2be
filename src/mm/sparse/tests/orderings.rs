//! What each ordering does when something goes wrong, and the 2018 failure itself.
//!
//! mmotm-2018-07-10 on the 2018 machine (2G, one node, 16M vmemmap pages, pft 0x18):
//! no section is valid while the memory maps are populated, so every section allocates
//! a new 16M block (memblock top-down: 0x7e000000, 0x7d000000, ...) and bolts another
//! HPTE for 0xf000000000000000 into its primary group 0x642f8. Inserts 1-8 fill the
//! group; the 9th gets H_PTEG_FULL (-1) and `htab_remove_mapping` takes out the first
//! entry it finds, so the 10th fits again: failures alternate. The 126 16M blocks from
//! 0x7e000000 down to 0x01000000 are all used (block 0 holds the kernel and starts
//! below 64K; the top one holds RTAS and the table), then the last two sections get
//! -ENOMEM.
//!
//! mmotm's temporary pointer arrays (8 bytes per present section, 1K here) sit in the
//! top block: `usemap_map` 0x7ffdbc00 right below the root, the usemaps 0x7ffdb800,
//! `map_map` 0x7ffdb400; both arrays are freed at the end, `map_map` first. v4.18's
//! `usemap_map` has a pointer for every possible section: 32M, which moves everything
//! it allocates after it 32M down.

use std::collections::BTreeSet;
use std::format;
use std::string::String;
use std::vec::Vec;

use super::super::DropCause;
use super::super::machine::va;
use super::super::vmemmap::count_mappings;
use super::*;
use crate::mm::hash::hpte::{
    HPTE_R_M, HPTE_V_LARGE, HPTE_V_VALID, hpt_hash, hpt_vpn, hpteg, kernel_vsid,
};
use crate::mm::hash::{HStatus, HashPageTable, Hpte};

const MMOTM_BACKING_FAILED: &str = "sparse_mem_maps_populate_node: sparsemem memory map backing \
                                    failed some memory will not be available";
const V418_BACKING_FAILED: &str = "sparse_early_mem_map_alloc: sparsemem memory map backing \
                                   failed some memory will not be available";
const UNABLE: &str = "vmemmap_populate: Unable to create vmemmap mapping: -1";
const FAILED_1: &str = "hash__vmemmap_create_mapping: failed -1";

fn v419_backing_failed(nid: i32) -> String {
    format!(
        "sparse_init_nid: node[{nid}] memory map backing failed. Some memory will not be \
         available."
    )
}

fn create_line(phys: u64) -> String {
    format!("hash__vmemmap_create_mapping: start 0xf000000000000000 size 0x1000000 phys {phys:#x}")
}

/// The primary group (PTE index of slot 0) of vmemmap page `ea`.
fn primary_group(w: &World, ea: u64) -> u64 {
    let vsid = kernel_vsid(ea, w.ssize).unwrap();
    let vpn = hpt_vpn(ea, vsid, w.ssize);
    hpteg(
        hpt_hash(vpn, w.vmemmap.shift(), w.ssize),
        w.geo.hash_mask,
        false,
    )
}

/// Fill the primary group of vmemmap page `ea` with entries for other pages (valid 64K
/// entries of RAM, as another mapping would leave them). Returns the group.
fn fill_group(w: &mut World, ea: u64) -> u64 {
    let group = primary_group(w, ea);
    let mut tag = 0x1234;
    loop {
        let e = Hpte {
            v: (tag << 7) | HPTE_V_LARGE | HPTE_V_VALID,
            r: 0x1_0000 | 0x1000 | HPTE_R_M,
        };
        match w.m.h_enter(0, group, e) {
            Ok(_) => tag += 1,
            Err(HStatus::PtegFull) => return group,
            Err(st) => panic!("{st}"),
        }
    }
}

/// Reserve every byte of memory except the `keep` ranges.
fn reserve_all_but(w: &mut World, keep: &[(u64, u64)]) {
    let mut keep = keep.to_vec();
    keep.sort_unstable();
    let mut from = w.mb.start_of_dram();
    for (b, s) in keep {
        if b > from {
            w.mb.reserve(from, b - from, "test").unwrap();
        }
        from = b + s;
    }
    let end = w.mb.end_of_dram();
    if end > from {
        w.mb.reserve(from, end - from, "test").unwrap();
    }
}

#[test]
fn mmotm_2g_16m_reproduces_the_2018_report() {
    let l = Layout::one_node(2 * G);
    assert_eq!(l.pft, 0x18);
    let mut w = World::new(&l);
    let group = primary_group(&w, VMEMMAP);
    assert_eq!(group, 0x642f8);
    // The linear mapping left the group empty.
    for ptex in group..group + 8 {
        assert_eq!(w.m.hpt.entry(ptex).unwrap().v & HPTE_V_VALID, 0);
    }
    let (s, report) = w.init(Order::Mmotm20180710);

    // The report's sequence: 8 mappings at descending 16M blocks, the 9th fails.
    let creates: Vec<&str> = w.starting("hash__vmemmap_create_mapping:");
    for (i, line) in creates[..8].iter().enumerate() {
        assert_eq!(
            *line,
            create_line(0x7e00_0000 - i as u64 * 0x100_0000),
            "{i}"
        );
    }
    assert_eq!(creates[8], create_line(0x7600_0000));
    assert_eq!(creates[9], FAILED_1);
    // In the whole log: the populate and allocation debug lines before each mapping.
    let all: Vec<&str> = w.log.iter().map(|(_, s)| s.as_str()).collect();
    assert_eq!(
        all[..3],
        [
            "vmemmap_populate f000000000000000..f000000000004000, node 0",
            "      * f000000000000000..f000000001000000 allocated at c00000007e000000",
            "hash__vmemmap_create_mapping: start 0xf000000000000000 size 0x1000000 phys 0x7e000000",
        ]
    );
    assert_eq!(
        all[24..31],
        [
            "vmemmap_populate f000000000000000..f000000000024000, node 0",
            "      * f000000000000000..f000000001000000 allocated at c000000076000000",
            "hash__vmemmap_create_mapping: start 0xf000000000000000 size 0x1000000 phys 0x76000000",
            FAILED_1,
            "htab_remove_mapping: removed 0xf000000000000000 from ptex 0x642f8 (phys 0x7e000000)",
            UNABLE,
            MMOTM_BACKING_FAILED,
        ]
    );
    let idx = all.iter().position(|s| *s == FAILED_1).unwrap();
    assert_eq!(w.log[idx].0, Level::Debug);
    assert_eq!(w.log[idx + 1].0, Level::Debug);
    assert_eq!(w.log[idx + 2].0, Level::Warning);
    assert_eq!(w.log[idx + 3].0, Level::Err);

    // Every section populated once, its end growing by 0x4000 (16K of struct pages).
    let populates = w.starting("vmemmap_populate f");
    assert_eq!(populates.len(), 128);
    for (i, line) in populates.iter().enumerate() {
        let end = VMEMMAP + (i as u64 + 1) * 0x4000;
        assert_eq!(
            *line,
            format!("vmemmap_populate f000000000000000..{end:x}, node 0")
        );
    }
    // What follows: each failure removes one entry, so the next insert fits again.
    let mut outcome = Vec::new();
    for (i, line) in creates.iter().enumerate() {
        if line.starts_with("hash__vmemmap_create_mapping: start") {
            outcome.push(creates.get(i + 1) != Some(&FAILED_1));
        }
    }
    assert_eq!(outcome.len(), 126);
    for (k, ok) in outcome.iter().enumerate() {
        let want = k < 8 || (k - 8) % 2 == 1;
        assert_eq!(*ok, want, "mapping {k}");
    }
    let allocated = w.starting("      * ");
    assert_eq!(allocated.len(), 126);
    assert_eq!(
        allocated[125],
        "      * f000000000000000..f000000001000000 allocated at c000000001000000"
    );
    assert_eq!(w.count(Level::Warning, UNABLE), 59);
    assert_eq!(w.starting(FAILED_1).len(), 59);
    // 59 mapping failures and the last two sections out of memory: 61 sections lost.
    assert_eq!(w.count(Level::Err, MMOTM_BACKING_FAILED), 61);
    let oom = "memblock_alloc_try_nid: Failed to allocate 0x0000000001000000 bytes \
               align=0x1000000 nid=0 from=0x0000000000000000 max_addr=0x0000000000000000 \
               vmemmap_alloc_block: largest free block in \
               [0x0000000000010000-0x000000007fffffff] is 0xfc0000 bytes \
               (current_limit=0xffffffffffffffff)";
    assert_eq!(w.count(Level::Debug, oom), 2);
    // Nothing else was said above debug level.
    let loud = w.log.iter().filter(|(l, _)| *l < Level::Debug).count();
    assert_eq!(loud, 59 + 61);

    assert_eq!(
        report.to_string(),
        "sparse_init: order=mmotm-2018-07-10 sections=128 nodes=1 vmemmap_pages=126 psize=16M \
         mappings=67 map_failures=59 unbacked_sections=61 memmap=2064384K usemap=1024B time=0us"
    );
    // 126 blocks leaked or not, all recorded; 67 were mapped, and each failure took
    // the entry in slot 0 out again: the first block's, then each time the one that
    // had just refilled it. Still mapped: blocks 1-7 and the last one.
    let vm = &s.vmemmap;
    assert_eq!(vm.blocks.len(), 126);
    for (k, blk) in vm.blocks.iter().enumerate() {
        assert_eq!(blk.virt, VMEMMAP);
        assert_eq!(blk.phys, 0x7e00_0000 - k as u64 * 0x100_0000);
        assert_eq!(blk.node, 0);
        assert!(blk.recorded);
        assert_eq!(blk.mapped, (1..8).contains(&k) || k == 125, "{k}");
    }
    assert_eq!((vm.mappings, vm.map_failures, vm.removed), (67, 59, 59));
    assert_eq!(w.bolts.len(), 67);
    assert!(w.bolts.iter().all(|b| b.ea == VMEMMAP && b.hpteg == group));
    assert_eq!(w.m.hpt.stats.removes, 59);
    assert_eq!(w.m.hpt.stats.enters, 128 + 126);
    // Memory ran out: not one 16M block is left.
    assert!(w.mb.alloc_try_nid(16 * M, 16 * M, 0, 0, 0, "test").is_err());
    // The group: 8 entries for the same page. Slot 0 was refilled after each failure
    // and holds the last block; slots 1-7 the second to eighth.
    let hash = w.hash();
    let geo = hash.geo.clone();
    let hash = HashParams { geo: &geo, ..hash };
    assert_eq!(count_mappings(&mut w.m, &hash, VMEMMAP), Ok((8, 0)));
    let rpn: Vec<u64> = (group..group + 8)
        .map(|p| w.m.hpt.entry(p).unwrap().r & !0xfff)
        .collect();
    assert_eq!(
        rpn,
        [
            0x0100_0000,
            0x7d00_0000,
            0x7c00_0000,
            0x7b00_0000,
            0x7a00_0000,
            0x7900_0000,
            0x7800_0000,
            0x7700_0000
        ]
    );
    // The kernel's own record agrees: the blocks still mapped are exactly those whose
    // entries are in the group.
    let mapped: BTreeSet<u64> = vm
        .blocks
        .iter()
        .filter(|b| b.mapped)
        .map(|b| b.phys)
        .collect();
    assert_eq!(mapped, rpn.iter().copied().collect::<BTreeSet<u64>>());
    assert_eq!(mapped.len(), 8);
    // QEMU's lookup takes the first match: the vmemmap now reads the last block.
    assert_eq!(w.m.translate(VMEMMAP), Some(0x0100_0000));
    // The temporary arrays, freed again; the usemaps between them stay.
    assert_eq!(
        s.temporaries,
        [
            (0x7ffd_bc00, 0x400, "usemap_map"),
            (0x7ffd_b400, 0x400, "map_map")
        ]
    );
    assert!(!w.mb.is_reserved(0x7ffd_bc00, 0x400));
    assert!(!w.mb.is_reserved(0x7ffd_b400, 0x400));
    assert_eq!(s.usemaps[0].pa, 0x7ffd_b800);
    assert!(w.mb.is_reserved(0x7ffd_b800, 0x400));
    // Sections 0-7 and the odd ones from 9 to 125 are valid; the others were dropped.
    for p in 0..128u64 {
        let ms = s.sections.get(&mut w.m, p);
        let valid = p < 8 || (p < 126 && p % 2 == 1);
        if valid {
            assert_eq!(ms.section_mem_map, 0xf000_0000_0000_0007, "{p}");
            assert_eq!(ms.pageblock_flags, va(0x7ffd_b800 + 8 * p), "{p}");
        } else {
            assert_eq!(ms, Default::default(), "{p}");
        }
    }

    // The kernel carries on: struct pages of the valid sections, then the checks.
    let (st, checks) = w.finish(&s);
    assert_eq!(
        st.to_string(),
        "memmap_init: 17152 struct pages in 67 sections initialised through the vmemmap: 224 \
         free, 16928 reserved (0 of them holes)"
    );
    assert_eq!(
        failed(&checks),
        [
            "sparse_sections_valid",
            "sparse_vmemmap_mapped_once",
            "sparse_usemaps",
            "sparse_pfn_round_trip",
            "sparse_memmap_size"
        ]
    );
    let diag = |n| check(&checks, n).diag.as_str();
    assert_eq!(
        diag("sparse_sections_valid"),
        "section 8 [mem 0x0000000008000000-0x0000000008ffffff]: section_mem_map 0x0, want \
         0xf000000000000007 (no memory map): dropped after vmemmap page 0xf000000000000000 \
         could not be backed again (mapping failed), though the block at 0x7e000000 already \
         backed it (and 60 more)"
    );
    assert_eq!(
        diag("sparse_vmemmap_mapped_once"),
        "vmemmap page 0xf000000000000000: 126 backings in vmemmap_list, 8 entries in the hash \
         table (8 primary, 0 secondary)"
    );
    assert_eq!(
        diag("sparse_vmemmap_backings"),
        "126 blocks of 16M in vmemmap_list, reserved, overlapping nothing else"
    );
    assert_eq!(
        diag("sparse_usemaps"),
        "section 8 [mem 0x0000000008000000-0x0000000008ffffff]: no usemap (and 60 more)"
    );
    assert_eq!(
        diag("sparse_pfn_round_trip"),
        "pfn 0x0: vmemmap page 0xf000000000000000 has 126 backings in vmemmap_list (59 of them \
         failed to map) (and 194 more)"
    );
    assert_eq!(
        diag("sparse_memmap_size"),
        "memmap 2064384 KiB in 126 blocks; 128 sections x 16 KiB = 2048 KiB rounded up to 1 \
         vmemmap pages of 16M = 16384 KiB"
    );
    assert_eq!(
        diag("sparse_struct_pages"),
        "17152 struct pages read through the vmemmap for 67 valid sections (want 17152): 224 \
         free (memblock: 224, memmap_init: 224), 16928 reserved (memmap_init: 16928)"
    );
}

#[test]
fn mmotm_64k_duplicates_without_a_full_group() {
    // 2G with QEMU's default cells (64K everywhere) and 512M with 16M offered (Linux
    // still picks 64K for the vmemmap below 1G): four sections per 64K vmemmap page,
    // each section backs and maps its page again. Four entries fit in a group: no
    // failure at all, only the checks see it.
    for (l, pages) in [
        (Layout::one_node(2 * G).only_64k(), 32u64),
        (Layout::one_node(512 * M).vmemmap_64k(), 8),
    ] {
        let mut b = boot(&l, Order::Mmotm20180710);
        let n = pages * 4;
        let r = b.report;
        assert_eq!(
            (
                r.sections,
                r.vmemmap_pages,
                r.mappings,
                r.map_failures,
                r.unbacked_sections
            ),
            (n, n, n, 0, 0)
        );
        assert_eq!(r.memmap_bytes, n * 64 * K);
        assert!(b.w.lines(Level::Warning).is_empty());
        assert!(b.w.lines(Level::Err).is_empty());
        assert!(b.w.starting(FAILED_1).is_empty());
        // Every page four times in the table and in the list.
        let hash = b.w.hash();
        let geo = hash.geo.clone();
        let hash = HashParams { geo: &geo, ..hash };
        for page in 0..pages {
            let ea = VMEMMAP + page * 0x1_0000;
            assert_eq!(count_mappings(&mut b.w.m, &hash, ea), Ok((4, 0)), "{ea:#x}");
            let backed = b.s.vmemmap.blocks.iter().filter(|b| b.virt == ea).count();
            assert_eq!(backed, 4);
        }
        assert_eq!(
            failed(&b.checks),
            [
                "sparse_vmemmap_mapped_once",
                "sparse_pfn_round_trip",
                "sparse_memmap_size"
            ]
        );
        assert_eq!(
            check(&b.checks, "sparse_vmemmap_mapped_once").diag,
            format!(
                "vmemmap page 0xf000000000000000: 4 backings in vmemmap_list, 4 entries in the \
                 hash table (4 primary, 0 secondary) (and {} more)",
                pages - 1
            )
        );
        assert_eq!(
            check(&b.checks, "sparse_memmap_size").diag,
            format!(
                "memmap {} KiB in {n} blocks; {n} sections x 16 KiB = {} KiB rounded up to \
                 {pages} vmemmap pages of 64K = {} KiB",
                n * 64,
                n * 16,
                pages * 64
            )
        );
        assert!(check(&b.checks, "sparse_sections_valid").ok);
    }
}

#[test]
fn out_of_memory_v419_drops_the_rest_of_the_node() {
    // Only 0x7ff00000-0x7fff0000 is free: room for the table, the usemaps, the list chunk
    // and twelve 64K blocks (48 sections of 128).
    let l = {
        let mut l = Layout::one_node(2 * G).vmemmap_64k();
        l.reserve.push((0, 0x7ff0_0000));
        l
    };
    let mut w = World::new(&l);
    let (s, r) = w.init(Order::V419);
    assert_eq!(
        r.to_string(),
        "sparse_init: order=v4.19 sections=128 nodes=1 vmemmap_pages=12 psize=64K mappings=12 \
         map_failures=0 unbacked_sections=80 memmap=768K usemap=1024B time=0us"
    );
    let phys: Vec<u64> = s.vmemmap.blocks.iter().map(|b| b.phys).collect();
    let mut want = std::vec![0x7ffc_0000];
    want.extend((0..11).map(|i| 0x7ffa_0000 - i * 0x1_0000));
    assert_eq!(phys, want);
    assert_eq!(s.vmemmap.list_chunks, [(0x7ffb_0000, 0x1_0000)]);
    // One message, then sections 48-127 dropped without another attempt.
    assert_eq!(w.lines(Level::Err), [v419_backing_failed(0)]);
    assert_eq!(w.starting("vmemmap_populate f").len(), 49);
    for p in 0..128 {
        assert_eq!(s.pfn_valid(&mut w.m, p << 8), p < 48, "{p}");
    }
    assert_eq!(s.sections.get(&mut w.m, 48), Default::default());
    let (st, checks) = w.finish(&s);
    assert_eq!((st.sections, st.pages), (48, 48 * 256));
    // Linux's degraded state, checked as such: the survivors as on a clean boot, the
    // dropped sections as Linux leaves them.
    assert_all_ok(&checks, "v4.19 out of memory");
    let dropped = "; degraded: 80 of 128 present sections dropped (80 after memory map failures)";
    assert_eq!(
        check(&checks, "sparse_sections_valid").diag,
        std::string::String::from(
            "48 of 128 present sections valid, section_mem_map 0xf000000000000007; the 80 \
             dropped as Linux leaves them (no memory map, pfn_valid false, memory still in \
             memblock)"
        ) + dropped
    );
    assert_eq!(
        check(&checks, "sparse_memmap_size").diag,
        std::string::String::from(
            "memmap 768 KiB in 12 blocks; 48 sections x 16 KiB = 768 KiB rounded up to 12 \
             vmemmap pages of 64K = 768 KiB"
        ) + dropped
    );
    assert!(check(&checks, "sparse_struct_pages").diag.ends_with(
        "; none initialised for the 80 dropped (0 of their first and last struct pages mapped \
         and read back); degraded: 80 of 128 present sections dropped (80 after memory map \
         failures)"
    ));
    // All 48 sections' and their 12 pages' worth of every check.
    assert!(check(&checks, "sparse_usemaps").diag.starts_with(
        "48 sections with their own 8-byte usemap in 1 allocations, the 80 dropped without one;"
    ));
    // The records: the section that failed and the rest of its run, one failure.
    assert_eq!(s.dropped.len(), 80);
    assert!(
        s.dropped
            .iter()
            .enumerate()
            .all(|(i, d)| d.section == 48 + i as u64
                && d.nid == 0
                && d.cause == DropCause::MemMap(0)
                && !d.populated)
    );
    assert_eq!(s.vmemmap.failures.len(), 1);
    assert_eq!(
        (s.vmemmap.failures[0].page, s.vmemmap.failures[0].rc),
        (VMEMMAP + 12 * 0x1_0000, -12)
    );
}

#[test]
fn out_of_memory_v418_and_mmotm_try_every_section() {
    let layout = |free_from| {
        let mut l = Layout::one_node(2 * G).vmemmap_64k();
        l.reserve.push((0, free_from));
        l
    };
    // v4.18: 32M more free for its usemap_map, which takes [0x7dfdc000, 0x7ffdc000):
    // below it the same 880K as v4.19 has, 32M lower. The same twelve blocks, then each
    // of the 80 remaining sections tries alone.
    let mut w = World::new(&layout(0x7df0_0000));
    let (s, r) = w.init(Order::V418);
    assert_eq!(s.temporaries, [(0x7dfd_c000, 0x200_0000, "usemap_map")]);
    assert_eq!(s.usemaps[0].pa, 0x7dfd_bc00);
    assert_eq!(
        (r.vmemmap_pages, r.mappings, r.unbacked_sections),
        (12, 12, 80)
    );
    assert_eq!(w.count(Level::Err, V418_BACKING_FAILED), 80);
    assert_eq!(w.lines(Level::Err).len(), 80);
    assert_eq!(w.starting("vmemmap_populate f").len(), 128);
    let phys: Vec<u64> = s.vmemmap.blocks.iter().map(|b| b.phys).collect();
    let mut want = std::vec![0x7dfc_0000];
    want.extend((0..11).map(|i| 0x7dfa_0000 - i * 0x1_0000));
    assert_eq!(phys, want);
    assert_eq!(s.vmemmap.list_chunks, [(0x7dfb_0000, 0x1_0000)]);
    // Its usemap_map is free again once sparse_init is done (too late for the
    // sections that ran out of memory while it was reserved).
    assert!(!w.mb.is_reserved(0x7dfd_c000, 0x200_0000));
    for p in 0..128 {
        assert_eq!(s.pfn_valid(&mut w.m, p << 8), p < 48, "{p}");
    }
    // The failed sections are cleared: v4.18's sparse_early_mem_map_alloc() sets
    // section_mem_map to 0 after a memory map failure (only a usemap failure leaves the
    // section present).
    let ms = s.sections.get(&mut w.m, 48);
    assert_eq!((ms.section_mem_map, ms.pageblock_flags), (0, 0));
    // Nothing crashes afterwards, and the checks find Linux's degraded state: each of
    // the 80 sections dropped after its own failure.
    let (st, checks) = w.finish(&s);
    assert_eq!(st.sections, 48);
    assert_all_ok(&checks, "v4.18 out of memory");
    assert!(
        check(&checks, "sparse_sections_valid")
            .diag
            .starts_with("48 of 128 present sections valid,")
    );
    assert_eq!(s.vmemmap.failures.len(), 80);
    assert!(
        s.dropped
            .iter()
            .enumerate()
            .all(|(i, d)| d.section == 48 + i as u64 && d.cause == DropCause::MemMap(i))
    );

    // mmotm: its arrays are 1K each and fit above the blocks (usemap_map 0x7ffdbc00,
    // usemaps 0x7ffdb800, map_map 0x7ffdb400): the same room as v4.19 for 64K blocks.
    // Every section backs its own page: twelve blocks serve sections 0-11 only.
    let mut w = World::new(&layout(0x7ff0_0000));
    let (s, r) = w.init(Order::Mmotm20180710);
    assert_eq!(
        (r.vmemmap_pages, r.mappings, r.unbacked_sections),
        (12, 12, 116)
    );
    assert_eq!(w.count(Level::Err, MMOTM_BACKING_FAILED), 116);
    let virts: Vec<u64> = s.vmemmap.blocks.iter().map(|b| b.virt).collect();
    assert_eq!(
        virts,
        [
            VMEMMAP,
            VMEMMAP,
            VMEMMAP,
            VMEMMAP,
            VMEMMAP + 0x1_0000,
            VMEMMAP + 0x1_0000,
            VMEMMAP + 0x1_0000,
            VMEMMAP + 0x1_0000,
            VMEMMAP + 0x2_0000,
            VMEMMAP + 0x2_0000,
            VMEMMAP + 0x2_0000,
            VMEMMAP + 0x2_0000
        ]
    );
    assert_eq!(
        s.temporaries,
        [
            (0x7ffd_bc00, 0x400, "usemap_map"),
            (0x7ffd_b400, 0x400, "map_map")
        ]
    );
    // mmotm clears what failed.
    assert_eq!(s.sections.get(&mut w.m, 12), Default::default());
    // Nothing crashes afterwards. The sections that found no memory were dropped for a
    // real failure (their pages were never backed), but the twelve that got a map
    // each backed their page again: the 2018 bug, caught as on a clean mmotm boot.
    let (st, checks) = w.finish(&s);
    assert_eq!(st.sections, 12);
    assert_eq!(
        failed(&checks),
        [
            "sparse_vmemmap_mapped_once",
            "sparse_pfn_round_trip",
            "sparse_memmap_size"
        ]
    );
    assert!(check(&checks, "sparse_sections_valid").diag.starts_with(
        "12 of 128 present sections valid, section_mem_map 0xf000000000000007; the 116 dropped"
    ));
}

#[test]
fn full_group_v419_drops_the_rest_v418_only_the_failing_sections() {
    // The primary group of the 64K vmemmap page of sections 8-11 is full before sparse
    // init: mapping it fails with -1 (H_PTEG_FULL).
    let l = Layout::one_node(2 * G).vmemmap_64k();
    let page2 = VMEMMAP + 0x2_0000;

    let mut w = World::new(&l);
    let group = fill_group(&mut w, page2);
    let (s, r) = w.init(Order::V419);
    assert_eq!(
        (
            r.vmemmap_pages,
            r.mappings,
            r.map_failures,
            r.unbacked_sections
        ),
        (3, 2, 1, 120)
    );
    // The failed block stays allocated and recorded (Linux frees nothing).
    let b2 = s.vmemmap.blocks[2];
    assert_eq!((b2.virt, b2.recorded, b2.mapped), (page2, true, false));
    assert!(w.mb.is_reserved(b2.phys, 64 * K));
    // Nothing of ours to remove: the group still holds the 8 foreign entries.
    assert_eq!(s.vmemmap.removed, 0);
    assert_eq!(w.m.hpt.stats.removes, 0);
    assert!((group..group + 8).all(|p| w.m.hpt.entry(p).unwrap().v & HPTE_V_VALID != 0));
    assert_eq!(w.starting(FAILED_1).len(), 1);
    assert_eq!(w.lines(Level::Warning), [UNABLE]);
    assert_eq!(w.lines(Level::Err), [v419_backing_failed(0)]);
    for p in 0..128 {
        assert_eq!(s.pfn_valid(&mut w.m, p << 8), p < 8, "{p}");
    }
    let (st, checks) = w.finish(&s);
    assert_eq!(st.sections, 8);
    assert_all_ok(&checks, "v4.19, full group");

    let mut w = World::new(&l);
    fill_group(&mut w, page2);
    let (s, r) = w.init(Order::V418);
    // Sections 8-11 each try (and leak a block); 12-127 carry on.
    assert_eq!(
        (
            r.vmemmap_pages,
            r.mappings,
            r.map_failures,
            r.unbacked_sections
        ),
        (35, 31, 4, 4)
    );
    assert_eq!(w.count(Level::Warning, UNABLE), 4);
    assert_eq!(w.lines(Level::Err), [V418_BACKING_FAILED; 4]);
    for p in 0..128 {
        assert_eq!(s.pfn_valid(&mut w.m, p << 8), !(8..12).contains(&p), "{p}");
    }
    let (st, checks) = w.finish(&s);
    assert_eq!(st.sections, 124);
    // What Linux leaves: four sections dropped, four blocks leaked (recorded, reserved,
    // not mapped), the page they were for not in the hash table.
    assert_all_ok(&checks, "v4.18, full group");
    assert_eq!(
        check(&checks, "sparse_vmemmap_mapped_once").diag,
        "31 vmemmap pages of 64K: each mapped by one block, once in the hash table, in \
         vmemmap_list once per block recorded there (0 left out after the list's warning, 4 \
         whose mapping failed); 1 pages with only failed blocks, not mapped (512 entries read \
         with H_READ); degraded: 4 of 128 present sections dropped (4 after memory map \
         failures), 4 blocks left unmapped after failed mappings"
    );
    assert!(check(&checks, "sparse_memmap_size").diag.starts_with(
        "memmap 2240 KiB in 35 blocks; 124 sections x 16 KiB = 1984 KiB rounded up to 31 \
         vmemmap pages of 64K, plus 4 blocks whose mapping failed = 2240 KiB;"
    ));
    // The leaked blocks are still accounted for: recorded and reserved.
    assert!(
        check(&checks, "sparse_vmemmap_backings")
            .diag
            .starts_with("35 blocks of 64K in vmemmap_list, reserved, overlapping nothing else;")
    );

    let mut w = World::new(&l);
    fill_group(&mut w, page2);
    let (_, r) = w.init(Order::Mmotm20180710);
    assert_eq!(
        (
            r.vmemmap_pages,
            r.mappings,
            r.map_failures,
            r.unbacked_sections
        ),
        (128, 124, 4, 4)
    );
}

/// Two nodes of 1G: sections 0-63 on node 0, 64-127 on node 1.
fn two_nodes() -> Layout {
    Layout::new(&[(0, G, 0), (G, G, 1)])
}

/// memblock's message on 2G when no free block holds `size` bytes asked by `caller` (any
/// node, 128-byte aligned, as the temporary arrays are asked for); `largest` is the
/// largest free block there is.
fn no_room(size: u64, caller: &str, largest: u64) -> String {
    format!(
        "memblock_alloc_try_nid: Failed to allocate {size:#018x} bytes align=0x80 nid=-1 \
         from=0x0000000000000000 max_addr=0x0000000000000000 {caller}: largest free block in \
         [0x0000000000010000-0x000000007fffffff] is {largest:#x} bytes \
         (current_limit=0xffffffffffffffff)"
    )
}

#[test]
fn usemap_allocation_failure_messages() {
    // Two nodes, all memory reserved once the sections are marked present but what the
    // ordering's temporary array needs.
    let l = two_nodes();
    let usemap_failed = "sparse_early_usemaps_alloc_node: allocation failed";
    let alloc_failed = "memblock_alloc_try_nid: Failed to allocate 0x0000000000000200 bytes";

    // v4.19 has no temporary array.
    let mut w = World::new(&l);
    let (s, r) = w.init_with(Order::V419, |w| reserve_all_but(w, &[]));
    assert_eq!((r.sections, r.unbacked_sections), (128, 128));
    assert!(s.usemaps.is_empty() && s.temporaries.is_empty());
    assert_eq!(
        w.lines(Level::Err),
        [
            "sparse_init_nid: node[0] usemap allocation failed",
            "sparse_init_nid: node[1] usemap allocation failed"
        ]
    );
    assert!(w.lines(Level::Warning).is_empty());
    assert!(w.starting("vmemmap_populate").is_empty());
    assert_eq!(r.vmemmap_pages, 0);
    // The allocation failure itself, at debug level.
    assert_eq!(w.starting(alloc_failed).len(), 2);
    // v4.19 clears the sections it could not initialise.
    assert_eq!(s.sections.get(&mut w.m, 0), Default::default());
    // No section has a memory map: the kernel stops right after the sparse_init: line.
    assert_eq!(
        r.no_memory_map().unwrap().to_string(),
        "sparse_init: no memory section has a memory map (128 of 128 dropped after \
         allocation or mapping failures)"
    );
    // (Were it to go on, nothing would be wrong with what Linux left.)
    let (st, checks) = w.finish(&s);
    assert_eq!(st.pages, 0);
    assert_all_ok(&checks, "v4.19, no usemaps");
    assert_eq!(
        check(&checks, "sparse_sections_valid").diag,
        "0 of 128 present sections valid, section_mem_map 0xf000000000000007; the 128 dropped \
         as Linux leaves them (no memory map, pfn_valid false, memory still in memblock); \
         degraded: 128 of 128 present sections dropped (128 after usemap failures)"
    );

    // v4.18 with exactly its 32M usemap_map free: then no usemap fits.
    let mut w = World::new(&l);
    let keep = (0x2000_0000, 32 * M);
    let (s, r) = w.init_with(Order::V418, |w| reserve_all_but(w, &[keep]));
    assert_eq!((r.sections, r.unbacked_sections), (128, 128));
    assert_eq!(s.temporaries, [(keep.0, keep.1, "usemap_map")]);
    assert!(s.usemaps.is_empty());
    assert_eq!(w.lines(Level::Warning), [usemap_failed; 2]);
    assert!(w.lines(Level::Err).is_empty());
    assert_eq!(w.starting(alloc_failed).len(), 2);
    // No memory map is even tried.
    assert!(w.starting("vmemmap_populate").is_empty());
    assert_eq!(r.vmemmap_pages, 0);
    // Free again afterwards.
    assert!(!w.mb.is_reserved(keep.0, keep.1));
    // v4.18 `continue`d past a section without a usemap: still present, with its early
    // node, and without a memory map (node 1: 1 << 3 | ONLINE | PRESENT).
    for p in 0..128u64 {
        let ms = s.sections.get(&mut w.m, p);
        let want = if p < 64 { 0x5 } else { 0xd };
        assert_eq!((ms.section_mem_map, ms.pageblock_flags), (want, 0), "{p}");
        assert!(ms.present() && !ms.valid(), "{p}");
        assert_eq!(ms.early_nid(), i32::from(p >= 64), "{p}");
    }
    assert!(r.no_memory_map().is_some());
    let (st, checks) = w.finish(&s);
    assert_eq!(st.pages, 0);
    assert_all_ok(&checks, "v4.18, no usemaps");
    // Left present is what v4.18 leaves; cleared would not be.
    let a0 = s.sections.nr_to_section(&mut w.m, 0).unwrap();
    w.m.write_u64(a0, 0);
    let checks = w.checks(&s, st);
    assert_eq!(failed(&checks), ["sparse_sections_valid"]);
    assert_eq!(
        check(&checks, "sparse_sections_valid").diag,
        "section 0 [mem 0x0000000000000000-0x0000000000ffffff]: dropped (its usemap allocation \
         failed), but section_mem_map 0x0, want 0x5; degraded: 128 of 128 present sections \
         dropped (128 after usemap failures)"
    );

    // mmotm with exactly its 1K usemap_map free: the usemaps fail, and map_map (as large
    // as both nodes' usemaps together) cannot be allocated either. Linux panics before
    // any memory map is populated.
    let mut w = World::new(&l);
    let keep = (0x2000_0000, 0x400);
    let (s, r) = w.try_init_with(Order::Mmotm20180710, |w| reserve_all_but(w, &[keep]));
    let e = r.unwrap_err();
    assert_eq!(e.what, "map_map");
    assert_eq!(
        e.to_string(),
        format!(
            "can not allocate map_map ({})",
            no_room(0x400, "map_map", 0)
        )
    );
    assert_eq!(s.temporaries, [(keep.0, keep.1, "usemap_map")]);
    assert!(s.usemaps.is_empty());
    assert_eq!(w.lines(Level::Warning), [usemap_failed; 2]);
    assert!(w.lines(Level::Err).is_empty());
    assert!(w.starting("vmemmap_populate").is_empty());
    assert!(s.vmemmap.blocks.is_empty());
}

#[test]
fn temporary_arrays_that_do_not_fit_are_errors() {
    let l = two_nodes();
    // v4.18 with less than 32M free: its usemap_map is the first thing it asks for.
    for keep in [std::vec![], std::vec![(0x2000_0000, 32 * M - 64 * K)]] {
        let largest = keep.first().map_or(0, |k| k.1);
        let mut w = World::new(&l);
        let (s, r) = w.try_init_with(Order::V418, |w| reserve_all_but(w, &keep));
        let e = r.unwrap_err();
        assert_eq!(e.what, "usemap_map");
        assert_eq!(e.error.size, 32 * M);
        assert_eq!(
            e.to_string(),
            format!(
                "can not allocate usemap_map ({})",
                no_room(0x200_0000, "usemap_map", largest)
            )
        );
        // Nothing else was tried, nothing said, the sections left as they were.
        assert!(s.temporaries.is_empty() && s.usemaps.is_empty());
        assert!(w.log.is_empty(), "{:?}", w.log);
        assert_eq!(s.sections.get(&mut w.m, 64).section_mem_map, 0xd);
    }
    // 32M free, but not 128-byte aligned at either end: no room either.
    let mut w = World::new(&l);
    let (_, r) = w.try_init_with(Order::V418, |w| {
        reserve_all_but(w, &[(0x2000_0040, 32 * M)])
    });
    assert_eq!(r.unwrap_err().what, "usemap_map");

    // mmotm with nothing free: its 1K usemap_map (8 bytes x 128 present sections).
    let mut w = World::new(&l);
    let (s, r) = w.try_init_with(Order::Mmotm20180710, |w| reserve_all_but(w, &[]));
    let e = r.unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "can not allocate usemap_map ({})",
            no_room(0x400, "usemap_map", 0)
        )
    );
    assert!(s.temporaries.is_empty());
    assert!(w.log.is_empty());
}

#[test]
fn usemap_failure_of_one_node() {
    // After memblocks_present only a 16M block and 0x10200 bytes of node 0 are free:
    // v4.19 takes node 0's usemaps (512 bytes), its vmemmap block and the list chunk
    // before it asks for node 1's usemaps, which fit nowhere.
    let l = Layout::new(&[(0, G, 0), (G, G, 1)]);
    {
        let order = Order::V419;
        let mut w = World::new(&l);
        let (s, r) = w.init_with(order, |w| {
            reserve_all_but(w, &[(0x3e00_0000, 16 * M), (0x3ff0_0000, 0x1_0200)])
        });
        assert_eq!(s.usemaps.len(), 1, "{}", order.name());
        assert_eq!(s.usemaps[0].pa, 0x3ff1_0000);
        assert_eq!(s.vmemmap.blocks[0].phys, 0x3e00_0000);
        assert_eq!(s.vmemmap.list_chunks, [(0x3ff0_0000, 0x1_0000)]);
        assert_eq!((r.mappings, r.unbacked_sections), (1, 64));
        assert_eq!(
            w.lines(Level::Err),
            ["sparse_init_nid: node[1] usemap allocation failed"]
        );
        for p in 0..128 {
            assert_eq!(s.pfn_valid(&mut w.m, p << 8), p < 64, "{p}");
        }
    }
}

#[test]
fn nothing_present() {
    // sparse_init before any memory_present: nothing to do, nothing to fail.
    for order in Order::ALL {
        let mut w = World::new(&Layout::one_node(2 * G));
        let mut s = Sparse::new(order, Psize::P16M);
        let r = w
            .with_ctx(|ctx| s.sparse_init(ctx).map_err(|e| e.to_string()))
            .unwrap();
        assert_eq!(
            r.to_string(),
            format!(
                "sparse_init: order={} sections=0 nodes=0 vmemmap_pages=0 psize=16M mappings=0 \
                 map_failures=0 unbacked_sections=0 memmap=0K usemap=0B time=0us",
                order.name()
            )
        );
        assert!(w.log.is_empty());
        let (st, checks) = w.finish(&s);
        assert_eq!(st, Default::default());
        assert_all_ok(&checks, order.name());
    }
}

#[test]
fn v418_usemap_map_first_and_freed_at_the_end() {
    // The whole of v4.18's memblock traffic on 2G: the 32M usemap_map before anything
    // else (any node, right below the root at 0x7ffdc000), the usemaps, the block and
    // the list chunk below it, and the usemap_map freed last.
    let mut w = World::new(&Layout::one_node(2 * G));
    let (s, _) = w.init_with(Order::V418, |w| w.capture_memblock());
    assert_eq!(
        w.memblock_lines(),
        [
            "memblock_alloc_try_nid: 33554432 bytes align=0x80 nid=-1 from=0x0000000000000000 \
             max_addr=0x0000000000000000 usemap_map",
            "memblock_reserve: [0x000000007dfdc000-0x000000007ffdbfff] memblock_alloc_range_nid",
            "memblock_alloc_try_nid: 1024 bytes align=0x80 nid=0 from=0x0000000000000000 \
             max_addr=0x0000000000000000 sparse_early_usemaps_alloc_pgdat_section",
            "memblock_reserve: [0x000000007dfdbc00-0x000000007dfdbfff] memblock_alloc_range_nid",
            "memblock_alloc_try_nid: 16777216 bytes align=0x1000000 nid=0 \
             from=0x0000000000000000 max_addr=0x0000000000000000 vmemmap_alloc_block",
            "memblock_reserve: [0x000000007c000000-0x000000007cffffff] memblock_alloc_range_nid",
            "memblock_alloc_try_nid: 65536 bytes align=0x10000 nid=0 from=0x0000000000000000 \
             max_addr=0x0000000000000000 vmemmap_list_alloc",
            "memblock_reserve: [0x000000007dfc0000-0x000000007dfcffff] memblock_alloc_range_nid",
            "memblock_phys_free: [0x000000007dfdc000-0x000000007ffdbfff] usemap_map",
        ]
    );
    assert_eq!(s.temporaries, [(0x7dfd_c000, 0x200_0000, "usemap_map")]);
    // memblock's reservations afterwards: the kernel, the block, the chunk, the usemaps
    // and the top (root, pointer array, RTAS); no trace of the usemap_map.
    let reserved: Vec<(u64, u64)> = w.mb.reserved().iter().map(|r| (r.base, r.size)).collect();
    assert_eq!(
        reserved,
        [
            KERNEL,
            (0x7c00_0000, 0x100_0000),
            (0x7dfc_0000, 0x1_0000),
            (0x7dfd_bc00, 0x400),
            (0x7ffd_c000, 0x2_4000)
        ]
    );
}

#[test]
fn mmotm_temporary_arrays_in_order() {
    // usemap_map, the usemaps, map_map, then the memory maps; at the end map_map is
    // freed first, then usemap_map (the 2018 machine: its 126 blocks in between).
    let mut w = World::new(&Layout::one_node(2 * G));
    let (s, _) = w.init_with(Order::Mmotm20180710, |w| w.capture_memblock());
    let lines = w.memblock_lines();
    assert_eq!(
        lines[..7],
        [
            "memblock_alloc_try_nid: 1024 bytes align=0x80 nid=-1 from=0x0000000000000000 \
             max_addr=0x0000000000000000 usemap_map",
            "memblock_reserve: [0x000000007ffdbc00-0x000000007ffdbfff] memblock_alloc_range_nid",
            "memblock_alloc_try_nid: 1024 bytes align=0x80 nid=0 from=0x0000000000000000 \
             max_addr=0x0000000000000000 sparse_early_usemaps_alloc_pgdat_section",
            "memblock_reserve: [0x000000007ffdb800-0x000000007ffdbbff] memblock_alloc_range_nid",
            "memblock_alloc_try_nid: 1024 bytes align=0x80 nid=-1 from=0x0000000000000000 \
             max_addr=0x0000000000000000 map_map",
            "memblock_reserve: [0x000000007ffdb400-0x000000007ffdb7ff] memblock_alloc_range_nid",
            "memblock_alloc_try_nid: 16777216 bytes align=0x1000000 nid=0 \
             from=0x0000000000000000 max_addr=0x0000000000000000 vmemmap_alloc_block",
        ]
    );
    assert_eq!(
        lines[lines.len() - 2..],
        [
            "memblock_phys_free: [0x000000007ffdb400-0x000000007ffdb7ff] map_map",
            "memblock_phys_free: [0x000000007ffdbc00-0x000000007ffdbfff] usemap_map",
        ]
    );
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.starts_with("memblock_phys_free"))
            .count(),
        2
    );
    assert_eq!(
        s.temporaries,
        [
            (0x7ffd_bc00, 0x400, "usemap_map"),
            (0x7ffd_b400, 0x400, "map_map")
        ]
    );
    // Sized by the present sections, not the possible ones: 64K pages on 512M (32
    // sections) give 256-byte arrays.
    let mut w = World::new(&Layout::one_node(512 * M).vmemmap_64k());
    let (s, _) = w.init(Order::Mmotm20180710);
    let sizes: Vec<(u64, &str)> = s.temporaries.iter().map(|t| (t.1, t.2)).collect();
    assert_eq!(sizes, [(0x100, "usemap_map"), (0x100, "map_map")]);
}
