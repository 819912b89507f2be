//! The vmemmap's hash helpers (`hash__vmemmap_create_mapping`, `htab_remove_mapping`,
//! `vmemmap_populated`, `vmemmap_populate`) called directly, and the host machine model
//! they run on.

use super::super::machine::va;
use super::super::mem_section::MemSections;
use super::super::vmemmap::{
    RemoveError, VMEMMAP_END, Vmemmap, count_mappings, hash_vmemmap_create_mapping,
    htab_remove_mapping, vmemmap_populate, vmemmap_populated,
};
use super::*;
use crate::mm::hash::hpte::PROT_KERNEL_RW;
use crate::mm::hash::{HashPageTable, Hpte};

fn two_gig() -> World {
    World::new(&Layout::one_node(2 * G))
}

fn create(w: &mut World, vm: &mut Vmemmap, start: u64, phys: u64) -> Result<(), i32> {
    let size = vm.page_size;
    w.with_ctx(|ctx| hash_vmemmap_create_mapping(ctx, vm, start, size, phys))
}

fn count(w: &mut World, ea: u64) -> (u64, u64) {
    let geo = w.geo.clone();
    let hash = HashParams {
        geo: &geo,
        ..w.hash()
    };
    count_mappings(&mut w.m, &hash, ea).unwrap()
}

#[test]
fn create_mapping_and_its_debug_line() {
    let mut w = two_gig();
    let mut vm = Vmemmap::new(Psize::P16M);
    assert_eq!(create(&mut w, &mut vm, VMEMMAP, 0x7e00_0000), Ok(()));
    assert_eq!(
        w.lines(Level::Debug),
        ["hash__vmemmap_create_mapping: start 0xf000000000000000 size 0x1000000 phys 0x7e000000"]
    );
    assert_eq!((vm.mappings, vm.map_failures), (1, 0));
    assert_eq!(w.bolts.len(), 1);
    assert_eq!(w.bolts[0].hpte.r, 0x7e00_0000 | PROT_KERNEL_RW);
    assert_eq!(count(&mut w, VMEMMAP), (1, 0));
    assert_eq!(w.m.translate(VMEMMAP + 0x12_3458), Some(0x7e12_3458));
}

#[test]
fn create_mapping_outside_the_vmemmap() {
    let mut w = two_gig();
    let mut vm = Vmemmap::new(Psize::P16M);
    let enters = w.m.hpt.stats.enters;
    assert_eq!(create(&mut w, &mut vm, VMEMMAP_END, 0x7e00_0000), Err(-1));
    assert_eq!(w.lines(Level::Warning), ["Outside the supported range"]);
    assert_eq!((vm.mappings, vm.map_failures), (0, 1));
    assert_eq!(w.m.hpt.stats.enters, enters);
    // A page below the end is fine.
    assert_eq!(
        create(&mut w, &mut vm, VMEMMAP_END - 0x200_0000, 0x7e00_0000),
        Ok(())
    );
}

#[test]
fn full_group_then_remove_takes_the_first_entry() {
    let mut w = two_gig();
    let mut vm = Vmemmap::new(Psize::P16M);
    for i in 0..8 {
        assert_eq!(
            create(&mut w, &mut vm, VMEMMAP, 0x7e00_0000 - i * 0x100_0000),
            Ok(()),
            "{i}"
        );
    }
    assert_eq!(count(&mut w, VMEMMAP), (8, 0));
    // The 9th: H_PTEG_FULL, -1; one entry (slot 0, the first) removed.
    assert_eq!(create(&mut w, &mut vm, VMEMMAP, 0x7600_0000), Err(-1));
    assert_eq!(
        w.lines(Level::Debug)[8..],
        [
            "hash__vmemmap_create_mapping: start 0xf000000000000000 size 0x1000000 phys 0x76000000",
            "hash__vmemmap_create_mapping: failed -1",
            // The reference's group 0x642f8: slot 0 held the first block.
            "htab_remove_mapping: removed 0xf000000000000000 from ptex 0x642f8 (phys 0x7e000000)",
        ]
    );
    assert_eq!((vm.mappings, vm.map_failures, vm.removed), (8, 1, 1));
    assert_eq!(count(&mut w, VMEMMAP), (7, 0));
    assert_eq!(w.m.hpt.entry(0x642f8).unwrap().v & 1, 0);
    assert_eq!(w.m.translate(VMEMMAP), Some(0x7d00_0000));
    // The 10th fits in slot 0 again.
    assert_eq!(create(&mut w, &mut vm, VMEMMAP, 0x7500_0000), Ok(()));
    assert_eq!(w.m.hpt.entry(0x642f8).unwrap().r & !0xfff, 0x7500_0000);
    assert_eq!(w.m.translate(VMEMMAP), Some(0x7500_0000));
}

#[test]
fn remove_mapping_one_entry_per_page_then_not_found() {
    let mut w = two_gig();
    let mut vm = Vmemmap::new(Psize::P16M);
    create(&mut w, &mut vm, VMEMMAP, 0x7e00_0000).unwrap();
    create(&mut w, &mut vm, VMEMMAP, 0x7d00_0000).unwrap();
    create(&mut w, &mut vm, VMEMMAP + 0x100_0000, 0x7c00_0000).unwrap();
    let remove = |w: &mut World, s, e| w.with_ctx(|ctx| htab_remove_mapping(ctx, s, e));
    // Two pages, one entry each: the first one found in each group goes.
    assert_eq!(
        remove(&mut w, VMEMMAP, VMEMMAP + 0x200_0000),
        Ok(vec![0x7e00_0000, 0x7c00_0000])
    );
    assert_eq!(count(&mut w, VMEMMAP), (1, 0));
    assert_eq!(count(&mut w, VMEMMAP + 0x100_0000), (0, 0));
    // The second page has none left: -ENOENT, after the first page's entry is gone.
    assert_eq!(
        remove(&mut w, VMEMMAP, VMEMMAP + 0x200_0000),
        Err((vec![0x7d00_0000], RemoveError::NotFound))
    );
    assert_eq!(count(&mut w, VMEMMAP), (0, 0));
    assert_eq!(
        remove(&mut w, VMEMMAP, VMEMMAP + 0x100_0000),
        Err((vec![], RemoveError::NotFound))
    );
    // The linear mapping's entries are never taken for the vmemmap's.
    assert_eq!(w.m.hpt.valid() as u64, w.linear_entries);
}

#[test]
fn populated_asks_pfn_valid_of_each_section_in_the_page() {
    let l = Layout::one_node(2 * G).vmemmap_64k();
    let mut w = World::new(&l);
    let (s, _) = w.init(Order::V419);
    // 64K pages: four sections each.
    assert!(vmemmap_populated(&s.sections, &mut w.m, VMEMMAP, 0x1_0000));
    assert!(vmemmap_populated(
        &s.sections,
        &mut w.m,
        VMEMMAP + 31 * 0x1_0000,
        0x1_0000
    ));
    assert!(!vmemmap_populated(
        &s.sections,
        &mut w.m,
        VMEMMAP + 32 * 0x1_0000,
        0x1_0000
    ));
    // One valid section is enough: only section 7 of page 1 (sections 4-7) left valid.
    for p in 4..7 {
        let a = s.sections.nr_to_section(&mut w.m, p).unwrap();
        w.m.write_u64(a, 0x5);
    }
    assert!(vmemmap_populated(
        &s.sections,
        &mut w.m,
        VMEMMAP + 0x1_0000,
        0x1_0000
    ));
    let a = s.sections.nr_to_section(&mut w.m, 7).unwrap();
    w.m.write_u64(a, 0x5);
    assert!(!vmemmap_populated(
        &s.sections,
        &mut w.m,
        VMEMMAP + 0x1_0000,
        0x1_0000
    ));
    // A start inside a page's first section map counts from that section.
    assert!(vmemmap_populated(
        &s.sections,
        &mut w.m,
        VMEMMAP + 0x2_0040,
        0x1_0000
    ));
}

#[test]
fn populate_aligns_down_and_skips_populated_pages() {
    let mut w = two_gig();
    let mut s = Sparse::new(Order::V419, Psize::P16M);
    w.with_ctx(|ctx| s.memblocks_present(ctx)).unwrap();
    let mut vm = Vmemmap::new(Psize::P16M);
    let sections: &MemSections = &s.sections;
    // Section 3's map: [0xf00000000000c000, 0xf000000000010000).
    let r = w.with_ctx(|ctx| {
        vmemmap_populate(
            ctx,
            sections,
            &mut vm,
            VMEMMAP + 0xc000,
            VMEMMAP + 0x1_0000,
            0,
        )
    });
    assert_eq!(r, Ok(()));
    assert_eq!(
        w.lines(Level::Debug),
        [
            "vmemmap_populate f000000000000000..f000000000010000, node 0",
            "      * f000000000000000..f000000001000000 allocated at c00000007e000000",
            "hash__vmemmap_create_mapping: start 0xf000000000000000 size 0x1000000 phys 0x7e000000",
        ]
    );
    // No section is valid: asked again, it backs the page again (the 2018 failure).
    let r = w.with_ctx(|ctx| {
        vmemmap_populate(
            ctx,
            sections,
            &mut vm,
            VMEMMAP + 0x4000,
            VMEMMAP + 0x8000,
            0,
        )
    });
    assert_eq!(r, Ok(()));
    assert_eq!(vm.blocks.len(), 2);
    assert_eq!(vm.blocks[1].phys, 0x7d00_0000);
    // A range across two pages backs both.
    let r = w.with_ctx(|ctx| {
        vmemmap_populate(
            ctx,
            sections,
            &mut vm,
            VMEMMAP + 0xff_c000,
            VMEMMAP + 0x100_4000,
            0,
        )
    });
    assert_eq!(r, Ok(()));
    let virts: std::vec::Vec<u64> = vm.blocks.iter().map(|b| b.virt).collect();
    assert_eq!(virts, [VMEMMAP, VMEMMAP, VMEMMAP, VMEMMAP + 0x100_0000]);
    assert_eq!(vm.list(&mut w.m).unwrap().len(), 4);
    assert_eq!(vm.list_chunks.len(), 1);
}

#[test]
fn populate_out_of_memory() {
    let mut w = two_gig();
    let mut s = Sparse::new(Order::V419, Psize::P16M);
    w.with_ctx(|ctx| s.memblocks_present(ctx)).unwrap();
    w.mb.reserve(0, 2 * G, "test").unwrap();
    let mut vm = Vmemmap::new(Psize::P16M);
    let sections = &s.sections;
    let r =
        w.with_ctx(|ctx| vmemmap_populate(ctx, sections, &mut vm, VMEMMAP, VMEMMAP + 0x4000, 0));
    assert_eq!(r, Err(-12));
    assert!(vm.blocks.is_empty());
    assert_eq!(vm.list(&mut w.m), Ok(std::vec![]));
}

#[test]
fn populate_without_room_for_the_list_warns_and_carries_on() {
    // Exactly one 16M block free and nothing else: the block is allocated, the 64K
    // chunk for its vmemmap_backing is not (Linux's WARN_ON), the mapping still made.
    let mut w = two_gig();
    let mut s = Sparse::new(Order::V419, Psize::P16M);
    w.with_ctx(|ctx| s.memblocks_present(ctx)).unwrap();
    w.mb.reserve(0, 0x7e00_0000, "test").unwrap();
    w.mb.reserve(0x7f00_0000, 0x100_0000, "test").unwrap();
    let mut vm = Vmemmap::new(Psize::P16M);
    let sections = &s.sections;
    let r =
        w.with_ctx(|ctx| vmemmap_populate(ctx, sections, &mut vm, VMEMMAP, VMEMMAP + 0x4000, 0));
    assert_eq!(r, Ok(()));
    assert_eq!(vm.blocks.len(), 1);
    assert!(!vm.blocks[0].recorded && vm.blocks[0].mapped);
    let warn = w.lines(Level::Warning);
    assert_eq!(warn.len(), 1);
    assert!(
        warn[0].starts_with(
            "WARNING: vmemmap_list_populate: no vmemmap_backing for 0xf000000000000000 (phys \
             0x7e000000): "
        ),
        "{}",
        warn[0]
    );
    assert_eq!(vm.list(&mut w.m), Ok(std::vec![]));
}

#[test]
fn host_machine_translates_and_counts() {
    let mut w = two_gig();
    let before = w.m.accesses;
    w.m.write_u64(va(0x1000), 0x1234);
    assert_eq!(w.m.read_u64(va(0x1000)), 0x1234);
    assert_eq!(w.m.accesses - before, 2);
    assert_eq!(w.m.translate(va(0x1000)), Some(0x1000));
    // Nothing mapped in the vmemmap yet, nothing outside the kernel's regions.
    assert_eq!(w.m.translate(VMEMMAP), None);
    assert_eq!(w.m.translate(0xd000_0000_0000_0000), None);
    assert_eq!(w.m.translate(0x1000), None);
    assert_eq!(w.m.pages_touched(), 1);
}

#[test]
#[should_panic(expected = "data storage interrupt at 0xf000000000000000")]
fn host_machine_faults_on_an_unmapped_vmemmap_page() {
    let mut w = two_gig();
    w.m.read_u64(VMEMMAP);
}

#[test]
#[should_panic(expected = "is outside RAM")]
fn host_machine_faults_outside_ram() {
    let mut w = two_gig();
    w.m.read_u64(va(2 * G));
}

#[test]
fn host_machine_ram_above_0_is_ram_for_h_enter() {
    let l = Layout::new(&[(0, G, 0), (4 * G, G, 0)]);
    let geo = HashGeometry {
        sizes: PageSizes::parse(l.cells).unwrap(),
        hash_mask: (1 << (l.pft - 7)) - 1,
    };
    let mut m = HostMachine::new(l.pft, &geo.sizes, &[(0, G), (4 * G, G)], l.ssize, l.vmemmap);
    // A bolted kernel RW entry for the 16M page at 4G.
    let hpte = Hpte {
        v: 0x4000_0000_0000_0015,
        r: 0x1_0000_0000 | PROT_KERNEL_RW,
    };
    assert!(m.h_enter(0, 0, hpte).is_ok());
    // What it means for sparse init: v4.19 on this layout without the fixture's fix.
    let mut w = World::new(&l);
    w.m = HostMachine::new(l.pft, &geo.sizes, &[(0, G), (4 * G, G)], l.ssize, l.vmemmap);
    let (_, r) = w.init(Order::V419);
    assert_eq!((r.map_failures, r.unbacked_sections), (0, 0));
}
