//! Host tests for memblock, in the spirit of Linux's tools/testing/memblock.

use super::*;
use std::cell::RefCell;
use std::format;
use std::string::String;
use std::vec::Vec;

const C: &str = "test";
const NONE: RegionFlags = RegionFlags::empty();

thread_local! {
    static LOG: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// A [`LogSink`] that keeps the lines: info lines as they are, others behind `<level>`.
fn capture(level: Level, args: fmt::Arguments<'_>) {
    let line = match level {
        Level::Info => format!("{args}"),
        other => format!("<{}>{args}", other as u8),
    };
    LOG.with(|log| log.borrow_mut().push(line));
}

fn take_log() -> Vec<String> {
    LOG.with(|log| core::mem::take(&mut *log.borrow_mut()))
}

/// A memblock whose messages are captured (never printed: printk's own test owns the
/// console).
fn mb() -> Memblock {
    take_log();
    let mut m = Memblock::new();
    m.set_log_sink(capture);
    m
}

fn rg(base: u64, size: u64) -> Region {
    Region {
        base,
        size,
        flags: NONE,
        nid: NUMA_NO_NODE,
    }
}

fn rgn(base: u64, size: u64, nid: i32, flags: RegionFlags) -> Region {
    Region {
        base,
        size,
        flags,
        nid,
    }
}

fn free(m: &Memblock, nid: i32) -> Vec<(u64, u64, i32)> {
    m.free_ranges(nid)
        .map(|r| (r.start, r.end, r.nid))
        .collect()
}

// ---- add ----

#[test]
fn add_simple() {
    let mut m = mb();
    m.add(0x1000_0000, 0x4000_0000, C).unwrap();
    assert_eq!(m.memory(), &[rg(0x1000_0000, 0x4000_0000)]);
    assert_eq!(m.phys_mem_size(), 0x4000_0000);
    assert_eq!(m.start_of_dram(), 0x1000_0000);
    assert_eq!(m.end_of_dram(), 0x5000_0000);
    assert!(m.reserved().is_empty());
    assert_eq!(m.reserved_size(), 0);
    assert!(take_log().is_empty(), "debug is off");
}

#[test]
fn empty_memblock() {
    let m = mb();
    assert_eq!((m.start_of_dram(), m.end_of_dram()), (0, 0));
    assert_eq!((m.phys_mem_size(), m.free_size()), (0, 0));
    assert_eq!(m.current_limit(), MEMBLOCK_ALLOC_ANYWHERE);
    assert_eq!(m.free_ranges(NUMA_NO_NODE).count(), 0);
    assert_eq!(m.free_ranges_rev(NUMA_NO_NODE).count(), 0);
}

#[test]
fn add_node_keeps_nid_and_flags() {
    let mut m = mb();
    m.add_node(0x4000_0000, 0x1000_0000, 1, RegionFlags::HOTPLUG, C)
        .unwrap();
    assert_eq!(
        m.memory(),
        &[rgn(0x4000_0000, 0x1000_0000, 1, RegionFlags::HOTPLUG)]
    );
}

#[test]
fn add_invalid_node_means_no_node() {
    let mut m = mb();
    m.add_node(0, 0x1000, MAX_NUMNODES as i32, NONE, C).unwrap();
    m.add_node(0x1000, 0x1000, -7, NONE, C).unwrap();
    m.add(0x2000, 0x1000, C).unwrap();
    assert_eq!(m.memory(), &[rg(0, 0x3000)]);
}

#[test]
fn add_disjoint_keeps_order() {
    let mut m = mb();
    m.add(0x8000_0000, 0x1000_0000, C).unwrap();
    m.add(0x1000_0000, 0x1000_0000, C).unwrap();
    m.add(0x4000_0000, 0x0100_0000, C).unwrap();
    assert_eq!(
        m.memory(),
        &[
            rg(0x1000_0000, 0x1000_0000),
            rg(0x4000_0000, 0x0100_0000),
            rg(0x8000_0000, 0x1000_0000)
        ]
    );
    assert_eq!(m.phys_mem_size(), 0x2100_0000);
}

#[test]
fn add_adjacent_same_node_and_flags_merge() {
    let mut m = mb();
    m.add_node(0x1000_0000, 0x1000_0000, 0, NONE, C).unwrap();
    m.add_node(0x2000_0000, 0x1000_0000, 0, NONE, C).unwrap();
    m.add_node(0x0800_0000, 0x0800_0000, 0, NONE, C).unwrap();
    assert_eq!(m.memory(), &[rgn(0x0800_0000, 0x2800_0000, 0, NONE)]);
    assert_eq!(m.phys_mem_size(), 0x2800_0000);
}

#[test]
fn add_adjacent_different_node_or_flags_stay_apart() {
    let mut m = mb();
    m.add_node(0x0, 0x1000_0000, 0, NONE, C).unwrap();
    m.add_node(0x1000_0000, 0x1000_0000, 1, NONE, C).unwrap();
    m.add_node(0x2000_0000, 0x1000_0000, 1, RegionFlags::HOTPLUG, C)
        .unwrap();
    assert_eq!(
        m.memory(),
        &[
            rgn(0x0, 0x1000_0000, 0, NONE),
            rgn(0x1000_0000, 0x1000_0000, 1, NONE),
            rgn(0x2000_0000, 0x1000_0000, 1, RegionFlags::HOTPLUG)
        ]
    );
}

#[test]
fn add_overlapping_top() {
    let mut m = mb();
    m.add(0x1000_0000, 0x1000_0000, C).unwrap();
    m.add(0x1800_0000, 0x1000_0000, C).unwrap();
    assert_eq!(m.memory(), &[rg(0x1000_0000, 0x1800_0000)]);
    assert_eq!(m.phys_mem_size(), 0x1800_0000);
}

#[test]
fn add_overlapping_bottom() {
    let mut m = mb();
    m.add(0x1000_0000, 0x1000_0000, C).unwrap();
    m.add(0x0800_0000, 0x1000_0000, C).unwrap();
    assert_eq!(m.memory(), &[rg(0x0800_0000, 0x1800_0000)]);
    assert_eq!(m.phys_mem_size(), 0x1800_0000);
}

#[test]
fn add_within_and_twice_change_nothing() {
    let mut m = mb();
    m.add(0x1000_0000, 0x1000_0000, C).unwrap();
    m.add(0x1400_0000, 0x0100_0000, C).unwrap();
    m.add(0x1000_0000, 0x1000_0000, C).unwrap();
    assert_eq!(m.memory(), &[rg(0x1000_0000, 0x1000_0000)]);
    assert_eq!(m.phys_mem_size(), 0x1000_0000);
}

#[test]
fn add_spanning_several_fills_the_gaps() {
    let mut m = mb();
    m.add(0x1000_0000, 0x1000, C).unwrap();
    m.add(0x1000_3000, 0x1000, C).unwrap();
    m.add(0x1000_6000, 0x1000, C).unwrap();
    m.add(0x0fff_f000, 0x9000, C).unwrap();
    assert_eq!(m.memory(), &[rg(0x0fff_f000, 0x9000)]);
    assert_eq!(m.phys_mem_size(), 0x9000);
}

#[test]
fn add_exactly_the_gap_merges_three() {
    let mut m = mb();
    m.add(0x1000_0000, 0x1000_0000, C).unwrap();
    m.add(0x3000_0000, 0x1000_0000, C).unwrap();
    m.add(0x2000_0000, 0x1000_0000, C).unwrap();
    assert_eq!(m.memory(), &[rg(0x1000_0000, 0x3000_0000)]);
}

#[test]
fn add_overlapping_only_adds_uncovered_parts() {
    let mut m = mb();
    m.add_node(0x1000_0000, 0x1000_0000, 0, NONE, C).unwrap();
    m.add_node(0x0800_0000, 0x2000_0000, 1, RegionFlags::HOTPLUG, C)
        .unwrap();
    assert_eq!(
        m.memory(),
        &[
            rgn(0x0800_0000, 0x0800_0000, 1, RegionFlags::HOTPLUG),
            rgn(0x1000_0000, 0x1000_0000, 0, NONE),
            rgn(0x2000_0000, 0x0800_0000, 1, RegionFlags::HOTPLUG)
        ]
    );
    assert_eq!(m.phys_mem_size(), 0x2000_0000);
}

#[test]
fn add_beyond_initial_capacity_grows() {
    let mut m = mb();
    m.set_debug(true);
    for i in 0..1000u64 {
        m.add(i * 0x2000, 0x1000, C).unwrap();
        m.reserve(i * 0x2000, 0x800, C).unwrap();
    }
    assert_eq!(m.memory().len(), 1000);
    assert_eq!(m.reserved().len(), 1000);
    assert_eq!(m.phys_mem_size(), 1000 * 0x1000);
    assert_eq!(m.reserved_size(), 1000 * 0x800);
    assert_eq!(m.memory()[999], rg(999 * 0x2000, 0x1000));
    assert_eq!(m.free_size(), 1000 * 0x800);
    assert_eq!(m.free_ranges(NUMA_NO_NODE).count(), 1000);
    let doubled: Vec<String> = take_log()
        .into_iter()
        .filter(|l| l.starts_with("memblock: "))
        .collect();
    // 128 -> 256 -> 512 -> 1024, for each array.
    assert_eq!(doubled.len(), 6, "{doubled:?}");
    assert!(doubled[0].starts_with("memblock: memory is doubled to 256 at [0x"));
    assert!(doubled[1].starts_with("memblock: reserved is doubled to 256 at [0x"));
    assert!(doubled[5].starts_with("memblock: reserved is doubled to 1024 at [0x"));
    // Taking the middle out of each splits nothing further than it can hold.
    for i in 0..1000u64 {
        m.remove(i * 0x2000 + 0x400, 0x400, C).unwrap();
    }
    assert_eq!(m.memory().len(), 2000);
    assert_eq!(m.phys_mem_size(), 1000 * 0xc00);
}

/// Fill the memory array to its initial capacity with disjoint regions.
fn full_memory() -> Memblock {
    let mut m = mb();
    for i in 0..INIT_MEMBLOCK_REGIONS as u64 {
        m.add(0x1_0000 + i * 0x2_0000, 0x1_0000, C).unwrap();
    }
    assert_eq!(m.memory.regions.capacity(), INIT_MEMBLOCK_REGIONS);
    m.memory.fail_growth = true;
    m
}

#[test]
fn growth_failure_is_an_error_and_changes_nothing() {
    let mut m = full_memory();
    let before = m.memory().to_vec();
    let err = m.add(0x1_0000_0000, 0x1000, C).unwrap_err();
    assert_eq!(
        err,
        ResizeError {
            array: "memory",
            from: 128,
            to: 256
        }
    );
    assert_eq!(
        format!("{err}"),
        "memblock: Failed to double memory array from 128 to 256 entries !"
    );
    assert_eq!(
        take_log(),
        ["<3>memblock: Failed to double memory array from 128 to 256 entries !"]
    );
    // Splitting needs room too (Linux asks for two spare entries).
    assert!(m.remove(0x1_8000, 0x1000, C).is_err());
    assert!(m.set_node(0x1_0000, 0x1000, 1).is_err());
    assert!(m.mark_hotplug(0x1_0000, 0x1000).is_err());
    assert_eq!(m.memory(), &before[..]);
    assert_eq!(m.phys_mem_size(), 128 * 0x1_0000);
    // What needs no new entry still works.
    m.add(0x1_0000, 0x1_0000, C).unwrap();
    assert_eq!(m.memory(), &before[..]);
}

#[test]
fn reserved_growth_failure_fails_the_allocation() {
    let mut m = mb();
    m.add(0, 0x1000_0000, C).unwrap();
    for i in 0..INIT_MEMBLOCK_REGIONS as u64 {
        m.reserve(0x1_0000 + i * 0x2_0000, 0x1_0000, C).unwrap();
    }
    m.reserved.fail_growth = true;
    let before = m.reserved().to_vec();
    let err = m.alloc(0x1000, 0x1000, "setup_paca").unwrap_err();
    assert_eq!(
        err.reason,
        AllocFailure::Resize(ResizeError {
            array: "reserved",
            from: 128,
            to: 256
        })
    );
    assert_eq!(
        format!("{err}"),
        "memblock_alloc_try_nid: Failed to allocate 0x0000000000001000 bytes align=0x1000 \
         nid=-1 from=0x0000000000000000 max_addr=0x0000000000000000 setup_paca: \
         memblock: Failed to double reserved array from 128 to 256 entries !"
    );
    assert_eq!(m.reserved(), &before[..]);
}

#[test]
fn sizes_are_capped_at_the_top_of_the_address_space() {
    let mut m = mb();
    m.add(u64::MAX - 0xfff, 0x1_0000, C).unwrap();
    assert_eq!(m.memory(), &[rg(0xffff_ffff_ffff_f000, 0xfff)]);
    assert_eq!(m.end_of_dram(), u64::MAX);
    m.add(0, u64::MAX, C).unwrap();
    assert_eq!(m.memory(), &[rg(0, u64::MAX)]);
    assert_eq!(m.phys_mem_size(), u64::MAX);
    m.reserve(0xffff_0000, u64::MAX, C).unwrap();
    assert_eq!(m.reserved(), &[rg(0xffff_0000, u64::MAX - 0xffff_0000)]);
    assert!(m.is_reserved(0xffff_ffff_ffff_f000, u64::MAX));
    assert!(m.is_memory(0x1000, u64::MAX));
    m.remove(0x1000, u64::MAX, C).unwrap();
    assert_eq!(m.memory(), &[rg(0, 0x1000)]);
    m.free(0xffff_8000, u64::MAX, C).unwrap();
    assert_eq!(m.reserved(), &[rg(0xffff_0000, 0x8000)]);
}

#[test]
fn size_zero_is_a_no_op() {
    let mut m = mb();
    m.set_debug(true);
    m.add(0x1000, 0, C).unwrap();
    m.reserve(0x1000, 0, C).unwrap();
    assert!(m.memory().is_empty() && m.reserved().is_empty());
    m.add(0x1000, 0x3000, C).unwrap();
    m.reserve(0x1000, 0x3000, C).unwrap();
    m.remove(0x2000, 0, C).unwrap();
    m.free(0x2000, 0, C).unwrap();
    m.set_node(0x2000, 0, 1).unwrap();
    m.mark_hotplug(0x2000, 0).unwrap();
    assert_eq!(m.memory(), &[rg(0x1000, 0x3000)]);
    assert_eq!(m.reserved(), &[rg(0x1000, 0x3000)]);
    // Linux prints the (wrapped) inclusive end as computed.
    assert_eq!(
        take_log()[0],
        "memblock_add: [0x0000000000001000-0x0000000000000fff] test"
    );
}

// ---- remove ----

fn one_region() -> Memblock {
    let mut m = mb();
    m.add_node(0x1000_0000, 0x1000_0000, 0, RegionFlags::HOTPLUG, C)
        .unwrap();
    m
}

#[test]
fn remove_exactly() {
    let mut m = one_region();
    m.remove(0x1000_0000, 0x1000_0000, C).unwrap();
    assert!(m.memory().is_empty());
    assert_eq!(m.phys_mem_size(), 0);
}

#[test]
fn remove_middle_splits() {
    let mut m = one_region();
    m.remove(0x1400_0000, 0x0400_0000, C).unwrap();
    let h = RegionFlags::HOTPLUG;
    assert_eq!(
        m.memory(),
        &[
            rgn(0x1000_0000, 0x0400_0000, 0, h),
            rgn(0x1800_0000, 0x0800_0000, 0, h)
        ]
    );
    assert_eq!(m.phys_mem_size(), 0x0c00_0000);
}

#[test]
fn remove_across_bottom_and_top_edges() {
    let mut m = one_region();
    let h = RegionFlags::HOTPLUG;
    m.remove(0x0800_0000, 0x1000_0000, C).unwrap();
    assert_eq!(m.memory(), &[rgn(0x1800_0000, 0x0800_0000, 0, h)]);
    m.remove(0x1c00_0000, 0x1000_0000, C).unwrap();
    assert_eq!(m.memory(), &[rgn(0x1800_0000, 0x0400_0000, 0, h)]);
    assert_eq!(m.phys_mem_size(), 0x0400_0000);
}

#[test]
fn remove_spanning_several() {
    let mut m = mb();
    m.add_node(0x1000_0000, 0x1000_0000, 0, NONE, C).unwrap();
    m.add_node(0x3000_0000, 0x1000_0000, 1, NONE, C).unwrap();
    m.add_node(0x5000_0000, 0x1000_0000, 2, RegionFlags::NOMAP, C)
        .unwrap();
    m.remove(0x1800_0000, 0x4000_0000, C).unwrap();
    assert_eq!(
        m.memory(),
        &[
            rgn(0x1000_0000, 0x0800_0000, 0, NONE),
            rgn(0x5800_0000, 0x0800_0000, 2, RegionFlags::NOMAP)
        ]
    );
    assert_eq!(m.phys_mem_size(), 0x1000_0000);
}

#[test]
fn remove_hole_changes_nothing_and_leaves_reserved_alone() {
    let mut m = one_region();
    m.reserve(0x1000_0000, 0x1000, C).unwrap();
    m.remove(0x3000_0000, 0x1000_0000, C).unwrap();
    assert_eq!(m.memory().len(), 1);
    m.remove(0x1000_0000, 0x1000_0000, C).unwrap();
    assert_eq!(m.reserved(), &[rg(0x1000_0000, 0x1000)]);
}

// ---- reserve and free ----

#[test]
fn reserve_merges_overlaps_and_need_not_be_memory() {
    let mut m = mb();
    m.reserve(0x1000_0000, 0x1000, C).unwrap();
    m.reserve(0x1000_1000, 0x1000, C).unwrap();
    m.reserve(0x0fff_f800, 0x1000, C).unwrap();
    m.reserve(0x1000_1800, 0x1000, C).unwrap();
    m.reserve(0x2000_0000, 0x1000, C).unwrap();
    m.reserve(0x1000_0000, 0x1000, C).unwrap();
    assert_eq!(
        m.reserved(),
        &[rg(0x0fff_f800, 0x3000), rg(0x2000_0000, 0x1000)]
    );
    assert_eq!(m.reserved_size(), 0x4000);
    assert!(m.memory().is_empty());
}

#[test]
fn free_middle_edges_and_spanning() {
    let mut m = mb();
    m.reserve(0x1000_0000, 0x1000_0000, C).unwrap();
    m.reserve(0x3000_0000, 0x1000_0000, C).unwrap();
    m.free(0x1400_0000, 0x0400_0000, C).unwrap();
    assert_eq!(
        m.reserved(),
        &[
            rg(0x1000_0000, 0x0400_0000),
            rg(0x1800_0000, 0x0800_0000),
            rg(0x3000_0000, 0x1000_0000)
        ]
    );
    m.free(0x1c00_0000, 0x1800_0000, C).unwrap();
    assert_eq!(
        m.reserved(),
        &[
            rg(0x1000_0000, 0x0400_0000),
            rg(0x1800_0000, 0x0400_0000),
            rg(0x3400_0000, 0x0c00_0000)
        ]
    );
    m.free(0x0, 0x1000_0000, C).unwrap();
    assert_eq!(m.reserved().len(), 3);
    m.free(0x1000_0000, 0x3000_0000, C).unwrap();
    assert!(m.reserved().is_empty());
    assert_eq!(m.reserved_size(), 0);
}

// ---- node and flags ----

#[test]
fn set_node_splits_and_merges_back() {
    let mut m = mb();
    m.add(0x0, 0x3000_0000, C).unwrap();
    m.set_node(0x1000_0000, 0x1000_0000, 1).unwrap();
    assert_eq!(
        m.memory(),
        &[
            rg(0x0, 0x1000_0000),
            rgn(0x1000_0000, 0x1000_0000, 1, NONE),
            rg(0x2000_0000, 0x1000_0000)
        ]
    );
    m.set_node(0x0, 0x3000_0000, 0).unwrap();
    assert_eq!(m.memory(), &[rgn(0x0, 0x3000_0000, 0, NONE)]);
    m.set_node(0x2000_0000, 0x1000_0000, MAX_NUMNODES as i32)
        .unwrap();
    assert_eq!(
        m.memory(),
        &[rgn(0x0, 0x2000_0000, 0, NONE), rg(0x2000_0000, 0x1000_0000)]
    );
    assert_eq!(m.phys_mem_size(), 0x3000_0000);
}

#[test]
fn set_node_across_a_hole_does_not_bridge_it() {
    let mut m = mb();
    m.add(0x1000_0000, 0x1000_0000, C).unwrap();
    m.add(0x3000_0000, 0x1000_0000, C).unwrap();
    m.set_node(0x1800_0000, 0x2000_0000, 2).unwrap();
    assert_eq!(
        m.memory(),
        &[
            rg(0x1000_0000, 0x0800_0000),
            rgn(0x1800_0000, 0x0800_0000, 2, NONE),
            rgn(0x3000_0000, 0x0800_0000, 2, NONE),
            rg(0x3800_0000, 0x0800_0000)
        ]
    );
}

#[test]
fn hotplug_and_nomap_split_and_merge_back() {
    let mut m = mb();
    m.add_node(0x0, 0x1000_0000, 0, NONE, C).unwrap();
    m.mark_hotplug(0x0400_0000, 0x0400_0000).unwrap();
    let h = RegionFlags::HOTPLUG;
    assert_eq!(
        m.memory(),
        &[
            rgn(0x0, 0x0400_0000, 0, NONE),
            rgn(0x0400_0000, 0x0400_0000, 0, h),
            rgn(0x0800_0000, 0x0800_0000, 0, NONE)
        ]
    );
    m.mark_nomap(0x0600_0000, 0x0400_0000).unwrap();
    assert_eq!(
        m.memory()[1..4],
        [
            rgn(0x0400_0000, 0x0200_0000, 0, h),
            rgn(0x0600_0000, 0x0200_0000, 0, h | RegionFlags::NOMAP),
            rgn(0x0800_0000, 0x0200_0000, 0, RegionFlags::NOMAP)
        ]
    );
    m.clear_nomap(0x0, 0x1000_0000).unwrap();
    m.clear_hotplug(0x0, 0x1000_0000).unwrap();
    assert_eq!(m.memory(), &[rgn(0x0, 0x1000_0000, 0, NONE)]);
}

// ---- queries and free ranges ----

fn two_nodes() -> Memblock {
    let mut m = mb();
    m.add_node(0x1000_0000, 0x1000_0000, 0, NONE, C).unwrap();
    m.add_node(0x2000_0000, 0x1000_0000, 1, NONE, C).unwrap();
    m
}

#[test]
fn free_ranges_both_directions_and_by_node() {
    let mut m = two_nodes();
    m.reserve(0x0, 0x1000, C).unwrap();
    m.reserve(0x1800_0000, 0x1000_0000, C).unwrap();
    m.reserve(0x4000_0000, 0x1000, C).unwrap();
    let want = [(0x1000_0000, 0x1800_0000, 0), (0x2800_0000, 0x3000_0000, 1)];
    assert_eq!(free(&m, NUMA_NO_NODE), want);
    let down: Vec<_> = m
        .free_ranges_rev(NUMA_NO_NODE)
        .map(|r| (r.start, r.end, r.nid))
        .collect();
    assert_eq!(down, [want[1], want[0]]);
    assert_eq!(free(&m, 1), [want[1]]);
    assert_eq!(free(&m, 5), []);
    assert_eq!(free(&m, MAX_NUMNODES as i32), want, "not a node: any node");
    assert_eq!(m.free_size(), 0x1000_0000);
}

#[test]
fn free_ranges_several_reservations_in_one_region() {
    let mut m = mb();
    m.add(0x0, 0x10_0000, C).unwrap();
    for base in [0x1_0000, 0x3_0000, 0x5_0000] {
        m.reserve(base, 0x1_0000, C).unwrap();
    }
    let want = [
        (0x0, 0x1_0000, -1),
        (0x2_0000, 0x3_0000, -1),
        (0x4_0000, 0x5_0000, -1),
        (0x6_0000, 0x10_0000, -1),
    ];
    assert_eq!(free(&m, NUMA_NO_NODE), want);
    let mut down: Vec<_> = m
        .free_ranges_rev(NUMA_NO_NODE)
        .map(|r| (r.start, r.end, r.nid))
        .collect();
    down.reverse();
    assert_eq!(down, want);
}

#[test]
fn free_ranges_skip_nomap_and_movable_hotplug() {
    let mut m = mb();
    m.add(0x0, 0x3000_0000, C).unwrap();
    m.mark_nomap(0x0, 0x1000_0000).unwrap();
    m.mark_hotplug(0x2000_0000, 0x1000_0000).unwrap();
    assert_eq!(
        free(&m, NUMA_NO_NODE),
        [
            (0x1000_0000, 0x2000_0000, -1),
            (0x2000_0000, 0x3000_0000, -1)
        ]
    );
    m.set_movable_node(true);
    assert_eq!(free(&m, NUMA_NO_NODE), [(0x1000_0000, 0x2000_0000, -1)]);
    // free_size counts them all.
    assert_eq!(m.free_size(), 0x3000_0000);
}

#[test]
fn is_memory_and_is_reserved() {
    let mut m = two_nodes();
    assert!(m.is_memory(0x1000_0000, 0x1000_0000));
    assert!(m.is_memory(0x2fff_f000, 0x1000));
    assert!(m.is_memory(0x2fff_f000, 0));
    assert!(!m.is_memory(0x2fff_f000, 0x2000));
    assert!(!m.is_memory(0x0, 0x1000));
    assert!(!m.is_memory(0x3000_0000, 0));
    // Linux checks one region: crossing into the next node's region does not count.
    assert!(!m.is_memory(0x1800_0000, 0x1000_0000));

    m.reserve(0x1800_0000, 0x1000, C).unwrap();
    assert!(m.is_reserved(0x1800_0000, 1));
    assert!(m.is_reserved(0x17ff_f000, 0x1001));
    assert!(!m.is_reserved(0x17ff_f000, 0x1000));
    assert!(!m.is_reserved(0x1800_1000, 0x1000));
    // An empty range intersects only a reservation strictly around it (Linux).
    assert!(m.is_reserved(0x1800_0800, 0));
    assert!(!m.is_reserved(0x1800_0000, 0));
    assert!(m.is_reserved(0x1000, u64::MAX));
}

// ---- allocation ----

#[test]
fn alloc_is_top_down_and_merges_reservations() {
    let mut m = mb();
    m.add(0x0, 0x4000_0000, C).unwrap();
    assert_eq!(m.alloc(0x1_0000, 0x1_0000, C), Ok(0x3fff_0000));
    assert_eq!(m.alloc(0x1_0000, 0x1_0000, C), Ok(0x3ffe_0000));
    assert_eq!(m.reserved(), &[rg(0x3ffe_0000, 0x2_0000)]);
    assert_eq!(m.reserved_size(), 0x2_0000);
    assert_eq!(m.free_size(), 0x3ffe_0000);
}

#[test]
fn alloc_rounds_down_to_the_alignment() {
    let mut m = mb();
    m.add(0x1000_0000, 0x0234_5000, C).unwrap();
    assert_eq!(m.alloc(0x10_0000, 0x100_0000, C), Ok(0x1200_0000));
}

#[test]
fn alloc_alignment_can_push_into_a_lower_range() {
    let mut m = mb();
    m.add(0x0100_0000, 0x0200_0000, C).unwrap();
    // 16M long, but holds no 16M-aligned 16M block.
    m.add(0x0380_0000, 0x0100_0000, C).unwrap();
    assert_eq!(m.alloc(0x0100_0000, 0x0100_0000, C), Ok(0x0200_0000));
    assert_eq!(m.alloc(0x0080_0000, 0x0080_0000, C), Ok(0x0400_0000));
}

#[test]
fn alloc_goes_around_reservations() {
    let mut m = mb();
    m.add(0x0, 0x100_0000, C).unwrap();
    m.reserve(0xf0_0000, 0x10_0000, C).unwrap();
    assert_eq!(m.alloc(0x1_0000, 0x1_0000, C), Ok(0xef_0000));
    m.reserve(0x80_0000, 0x10_0000, C).unwrap();
    // [0x90_0000, 0xef_0000) is 0x5f_0000 bytes: too small.
    assert_eq!(m.alloc(0x60_0000, 0x1_0000, C), Ok(0x20_0000));
    assert_eq!(
        m.reserved(),
        &[rg(0x20_0000, 0x70_0000), rg(0xef_0000, 0x11_0000)]
    );
}

#[test]
fn alloc_try_nid_respects_min_and_max() {
    let mut m = mb();
    m.add(0x0, 0x4000_0000, C).unwrap();
    let a = m.alloc_try_nid(0x1000, 0x1000, 0x0200_0000, 0x0300_0000, NUMA_NO_NODE, C);
    assert_eq!(a, Ok(0x02ff_f000));
    // Exactly the window.
    let a = m.alloc_try_nid(0x1000, 0x1000, 0x0100_0000, 0x0100_1000, NUMA_NO_NODE, C);
    assert_eq!(a, Ok(0x0100_0000));
    // max_addr beyond memory: the top of memory.
    let a = m.alloc_try_nid(0x1000, 0x1000, 0x3000_0000, 0x5000_0000, NUMA_NO_NODE, C);
    assert_eq!(a, Ok(0x3fff_f000));
    // A misaligned max_addr: the block ends below it.
    let a = m.alloc_try_nid(0x1000, 0x1000, 0x0, 0x0200_0800, NUMA_NO_NODE, C);
    assert_eq!(a, Ok(0x01ff_f000));
}

#[test]
fn alloc_stays_under_the_current_limit() {
    let mut m = mb();
    m.add(0x0, 0x4000_0000, C).unwrap();
    m.set_current_limit(0x0800_0000);
    assert_eq!(m.current_limit(), 0x0800_0000);
    assert_eq!(m.alloc(0x1_0000, 0x1_0000, C), Ok(0x07ff_0000));
    let a = m.alloc_try_nid(
        0x1_0000,
        0x1_0000,
        0,
        MEMBLOCK_ALLOC_ANYWHERE,
        NUMA_NO_NODE,
        C,
    );
    assert_eq!(a, Ok(0x07fe_0000));
    // memblock_phys_alloc_range keeps an explicit end...
    let a = m.alloc_range(0x1_0000, 0x1_0000, 0, MEMBLOCK_ALLOC_ANYWHERE, C);
    assert_eq!(a, Ok(0x3fff_0000));
    // ...but ACCESSIBLE means the current limit.
    let a = m.alloc_range(0x1_0000, 0x1_0000, 0, MEMBLOCK_ALLOC_ACCESSIBLE, C);
    assert_eq!(a, Ok(0x07fd_0000));
    m.set_current_limit(MEMBLOCK_ALLOC_ANYWHERE);
    assert_eq!(m.alloc(0x1_0000, 0x1_0000, C), Ok(0x3ffe_0000));
}

#[test]
fn alloc_never_below_page_size() {
    let mut m = mb();
    m.add(0x0, 0x2_0000, C).unwrap();
    assert_eq!(m.alloc(0x1_0000, 0x1_0000, C), Ok(PAGE_SIZE));
    let err = m.alloc(0x1000, 0x1000, C).unwrap_err();
    assert_eq!(
        format!("{err}"),
        "memblock_alloc_try_nid: Failed to allocate 0x0000000000001000 bytes align=0x1000 \
         nid=-1 from=0x0000000000000000 max_addr=0x0000000000000000 test: largest free \
         block in [0x0000000000010000-0x000000000001ffff] is 0x0 bytes \
         (current_limit=0xffffffffffffffff)"
    );
    assert_eq!(
        m.alloc_range(0x1000, 0x1000, 0, 0x1_0000, C)
            .map_err(|e| e.reason),
        {
            Err(AllocFailure::NoSpace {
                window_start: PAGE_SIZE,
                window_end: PAGE_SIZE,
                largest_free: 0,
                current_limit: MEMBLOCK_ALLOC_ANYWHERE,
            })
        }
    );
    assert_eq!(m.reserved(), &[rg(PAGE_SIZE, 0x1_0000)]);
}

#[test]
fn alloc_prefers_the_node_asked_for() {
    let mut m = two_nodes();
    let acc = MEMBLOCK_ALLOC_ACCESSIBLE;
    assert_eq!(
        m.alloc_try_nid(0x1000, 0x1000, 0, acc, 0, C),
        Ok(0x1fff_f000)
    );
    assert_eq!(
        m.alloc_try_nid(0x1000, 0x1000, 0, acc, 1, C),
        Ok(0x2fff_f000)
    );
    assert_eq!(
        m.alloc_try_nid(0x1000, 0x1000, 0, acc, NUMA_NO_NODE, C),
        Ok(0x2fff_e000)
    );
}

#[test]
fn alloc_falls_back_to_any_node() {
    let mut m = two_nodes();
    let acc = MEMBLOCK_ALLOC_ACCESSIBLE;
    m.reserve(0x1000_0000, 0x1000_0000, C).unwrap();
    assert_eq!(
        m.alloc_try_nid(0x1000, 0x1000, 0, acc, 0, C),
        Ok(0x2fff_f000)
    );
    assert_eq!(
        m.alloc_try_nid(0x1000, 0x1000, 0, acc, 5, C),
        Ok(0x2fff_e000)
    );
    let not_a_node = MAX_NUMNODES as i32;
    let a = m.alloc_try_nid(0x1000, 0x1000, 0, acc, not_a_node, C);
    assert_eq!(a, Ok(0x2fff_d000));
    // Node 0 in a window where only node 1 has room.
    let a = m.alloc_try_nid(0x1000, 0x1000, 0x2000_0000, 0x2000_1000, 0, C);
    assert_eq!(a, Ok(0x2000_0000));
}

#[test]
fn alloc_drops_min_addr_when_it_must() {
    let mut m = mb();
    m.add(0x0, 0x4000_0000, C).unwrap();
    m.reserve(0x2000_0000, 0x2000_0000, C).unwrap();
    let acc = MEMBLOCK_ALLOC_ACCESSIBLE;
    let a = m.alloc_try_nid(0x1000, 0x1000, 0x3000_0000, acc, NUMA_NO_NODE, C);
    assert_eq!(a, Ok(0x1fff_f000));
    // memblock_phys_alloc_range does not.
    let err = m.alloc_range(0x1000, 0x1000, 0x3000_0000, acc, C);
    assert!(matches!(
        err.map_err(|e| e.reason),
        Err(AllocFailure::NoSpace { .. })
    ));
}

#[test]
fn alloc_failure_says_what_was_asked_and_what_was_there() {
    let mut m = mb();
    m.add(0x0, 0x100_0000, C).unwrap();
    m.set_current_limit(0x80_0000);
    let before = (m.reserved().to_vec(), m.memory().to_vec());
    let err = m
        .alloc_try_nid(
            0x100_0000,
            0x1_0000,
            0x10_0000,
            MEMBLOCK_ALLOC_ANYWHERE,
            0,
            "emergency_stack_init",
        )
        .unwrap_err();
    assert_eq!(
        format!("{err}"),
        "memblock_alloc_try_nid: Failed to allocate 0x0000000001000000 bytes align=0x10000 \
         nid=0 from=0x0000000000100000 max_addr=0xffffffffffffffff emergency_stack_init: \
         largest free block in [0x0000000000010000-0x00000000007fffff] is 0x7f0000 bytes \
         (current_limit=0x0000000000800000)"
    );
    let err = m
        .alloc_range(0x1000, 0x1000, 0x90_0000, 0x80_0000, "htab_initialize")
        .unwrap_err();
    assert_eq!(
        format!("{err}"),
        "memblock_phys_alloc_range: Failed to allocate 0x0000000000001000 bytes align=0x1000 \
         from=0x0000000000900000 max_addr=0x0000000000800000 htab_initialize: empty search \
         window at 0x0000000000900000 (current_limit=0x0000000000800000)"
    );
    assert_eq!((m.reserved().to_vec(), m.memory().to_vec()), before);
}

#[test]
fn alloc_skips_nomap_and_movable_hotplug() {
    let mut m = mb();
    m.add(0x0, 0x300_0000, C).unwrap();
    m.mark_nomap(0x200_0000, 0x100_0000).unwrap();
    assert_eq!(m.alloc(0x1_0000, 0x1_0000, C), Ok(0x1ff_0000));
    m.mark_hotplug(0x100_0000, 0x100_0000).unwrap();
    assert_eq!(m.alloc(0x1_0000, 0x1_0000, C), Ok(0x1fe_0000));
    m.set_movable_node(true);
    assert!(m.movable_node());
    assert_eq!(m.alloc(0x1_0000, 0x1_0000, C), Ok(0xff_0000));
}

#[test]
fn alloc_align_zero_warns_and_uses_cache_line() {
    let mut m = mb();
    m.add(0x0, 0x100_0000, C).unwrap();
    assert_eq!(m.alloc(0x100, 0, "early_init"), Ok(0xff_ff00));
    assert_eq!(m.alloc(0x40, 0, "early_init"), Ok(0xff_fe80));
    assert_eq!(
        take_log(),
        [
            "<4>memblock_alloc_range_nid: align=0 from early_init, using SMP_CACHE_BYTES (0x80)",
            "<4>memblock_alloc_range_nid: align=0 from early_init, using SMP_CACHE_BYTES (0x80)"
        ]
    );
}

#[test]
fn alloc_align_must_be_a_power_of_two() {
    let mut m = mb();
    m.add(0x0, 0x100_0000, C).unwrap();
    let err = m.alloc(0x1000, 0x3000, C).unwrap_err();
    assert_eq!(err.reason, AllocFailure::BadAlign);
    assert_eq!(
        format!("{err}"),
        "memblock_alloc_try_nid: Failed to allocate 0x0000000000001000 bytes align=0x3000 \
         nid=-1 from=0x0000000000000000 max_addr=0x0000000000000000 test: align is not a \
         power of two"
    );
    assert!(m.reserved().is_empty());
}

#[test]
fn alloc_of_zero_bytes_reserves_nothing_as_in_linux() {
    let mut m = mb();
    m.add(0x0, 0x100_0000, C).unwrap();
    // Linux returns the aligned top of the highest free range and reserves nothing.
    assert_eq!(m.alloc(0, 0x1000, C), Ok(0x100_0000));
    assert!(m.reserved().is_empty());
}

// ---- logging ----

#[test]
fn debug_lines_match_linux() {
    let mut m = mb();
    m.set_debug(true);
    assert!(m.debug());
    m.add_node(0x0, 0x4000_0000, 0, RegionFlags::HOTPLUG, "setup_arch")
        .unwrap();
    m.add(0x4000_0000, 0x4000_0000, "setup_arch").unwrap();
    m.remove(0x7000_0000, 0x1000_0000, "setup_arch").unwrap();
    m.reserve(0x0, 0x100_0000, "early_reserve_mem").unwrap();
    m.free(0x80_0000, 0x80_0000, "free_initrd_mem").unwrap();
    m.alloc(0x1000, 0x1000, "alloc_paca_data").unwrap();
    m.alloc_range(0x1_0000, 0x1_0000, 0x0, 0x1000_0000, "htab_initialize")
        .unwrap();
    assert_eq!(
        take_log(),
        [
            "memblock_add_node: [0x0000000000000000-0x000000003fffffff] nid=0 flags=1 setup_arch",
            "memblock_add: [0x0000000040000000-0x000000007fffffff] setup_arch",
            "memblock_remove: [0x0000000070000000-0x000000007fffffff] setup_arch",
            "memblock_reserve: [0x0000000000000000-0x0000000000ffffff] early_reserve_mem",
            "memblock_phys_free: [0x0000000000800000-0x0000000000ffffff] free_initrd_mem",
            "memblock_alloc_try_nid: 4096 bytes align=0x1000 nid=-1 from=0x0000000000000000 \
             max_addr=0x0000000000000000 alloc_paca_data",
            "memblock_reserve: [0x000000006ffff000-0x000000006fffffff] memblock_alloc_range_nid",
            "memblock_phys_alloc_range: 65536 bytes align=0x10000 from=0x0000000000000000 \
             max_addr=0x0000000010000000 htab_initialize",
            "memblock_reserve: [0x000000000fff0000-0x000000000fffffff] memblock_alloc_range_nid",
        ]
    );
    m.set_debug(false);
    m.add(0x8000_0000, 0x1000, C).unwrap();
    m.alloc(0x1000, 0x1000, C).unwrap();
    assert!(take_log().is_empty());
}

fn dump_config() -> Memblock {
    let mut m = mb();
    m.add_node(0x0, 0x1000_0000, 0, NONE, C).unwrap();
    m.add_node(0x1000_0000, 0x1000_0000, 1, RegionFlags::HOTPLUG, C)
        .unwrap();
    m.add(0x4000_0000, 0x1000, C).unwrap();
    m.reserve(0x0, 0x200_0000, C).unwrap();
    m.reserve(0x1ff0_0000, 0x10_0000, C).unwrap();
    m
}

const DUMP: &str = "MEMBLOCK configuration:
 memory size = 0x0000000020001000 reserved size = 0x0000000002100000
 memory.cnt  = 0x3
 memory[0x0]\t[0x0000000000000000-0x000000000fffffff], 0x0000000010000000 bytes on node 0 flags: 0x0
 memory[0x1]\t[0x0000000010000000-0x000000001fffffff], 0x0000000010000000 bytes on node 1 flags: 0x1
 memory[0x2]\t[0x0000000040000000-0x0000000040000fff], 0x0000000000001000 bytes flags: 0x0
 reserved.cnt  = 0x2
 reserved[0x0]\t[0x0000000000000000-0x0000000001ffffff], 0x0000000002000000 bytes flags: 0x0
 reserved[0x1]\t[0x000000001ff00000-0x000000001fffffff], 0x0000000000100000 bytes flags: 0x0
";

#[test]
fn dump_text_matches_linux() {
    let m = dump_config();
    let mut s = String::new();
    m.write_dump(&mut s).unwrap();
    assert_eq!(s, DUMP);
}

#[test]
fn dump_of_nothing() {
    let m = mb();
    let mut s = String::new();
    m.write_dump(&mut s).unwrap();
    assert_eq!(
        s,
        "MEMBLOCK configuration:\n memory size = 0x0000000000000000 reserved size = \
         0x0000000000000000\n memory.cnt  = 0x0\n reserved.cnt  = 0x0\n"
    );
}

#[test]
fn dump_prints_one_line_per_row() {
    let mut m = dump_config();
    take_log();
    m.dump();
    let want: Vec<&str> = DUMP.lines().collect();
    assert_eq!(take_log(), want);
    // memblock_dump_all prints only with memblock=debug.
    m.dump_all();
    assert!(take_log().is_empty());
    m.set_debug(true);
    m.dump_all();
    assert_eq!(take_log(), want);
}

// ---- the property test ----

fn xorshift(state: &mut u64) -> u64 {
    let mut x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    x
}

#[test]
fn random_operations_keep_memblock_consistent_with_a_model() {
    let mut seed = 0x5eed_1234_abcd_0001_u64;
    let mut ops = 0;
    while ops < 20_000 {
        // Short runs from a fresh state, so that many shapes of map get exercised.
        let len = 200 + (xorshift(&mut seed) % 3000) as usize;
        let bytes: Vec<u8> = (0..len).map(|_| xorshift(&mut seed) as u8).collect();
        ops += fuzzing::run(&bytes);
    }
}

#[test]
fn fuzzing_entry_takes_any_bytes() {
    assert_eq!(fuzzing::run(&[]), 0);
    assert!(fuzzing::run(&[0xff; 64]) > 0);
    assert!(fuzzing::run(&[0x00; 64]) > 0);
    // A truncated operation reads zeros.
    assert_eq!(fuzzing::run(&[10]), 1);
}

#[test]
fn injected_failure_hits_exactly_the_nth_allocation() {
    let mut m = mb();
    m.add(0, 1 << 30, "t").unwrap();
    m.inject_failure(3).unwrap();
    assert_eq!(m.injection_pending(), Some(3));
    let a = m.alloc(0x1000, 0x1000, "first").unwrap();
    let b = m.alloc_range(0x1000, 0x1000, 0, 1 << 20, "second").unwrap();
    let reserved = m.reserved_size();
    let e = m
        .alloc_try_nid(0x2000, 0x1000, 0, MEMBLOCK_ALLOC_ACCESSIBLE, 0, "third")
        .unwrap_err();
    assert_eq!(e.reason, AllocFailure::Injected { nth: 3 });
    assert_eq!((e.size, e.caller, e.nid), (0x2000, "third", Some(0)));
    assert_eq!(
        m.reserved_size(),
        reserved,
        "nothing reserved by the failed call"
    );
    assert!(
        e.to_string()
            .ends_with("third: fault injected (fail_memblock=3)"),
        "{e}"
    );
    let log = take_log();
    assert_eq!(
        log,
        [format!("<5>FAULT_INJECTION: forcing a failure: {e}")],
        "one notice, at the failing call"
    );
    // Later allocations succeed again, and the counter goes on.
    let c = m.alloc(0x1000, 0x1000, "fourth").unwrap();
    assert!(a != b && b != c && a != c);
    assert_eq!(m.alloc_calls(), 4);
    assert_eq!(m.injection_pending(), None);
    // Arming a call that already happened is refused with the count.
    assert_eq!(m.inject_failure(4), Err(4));
    assert_eq!(m.inject_failure(5), Ok(()));
    assert_eq!(m.injection_pending(), Some(5));
}

#[test]
fn free_size_in_a_window() {
    let mut m = mb();
    m.add(0, 0x10_0000, "t").unwrap();
    m.add(0x20_0000, 0x10_0000, "t").unwrap();
    m.reserve(0x8_0000, 0x1_0000, "t").unwrap();
    assert_eq!(m.free_size_in(0, u64::MAX), m.free_size());
    assert_eq!(m.free_size_in(0, 0x10_0000), 0xf_0000);
    assert_eq!(m.free_size_in(0x7_0000, 0x9_0000), 0x1_0000);
    assert_eq!(m.free_size_in(0x10_0000, 0x20_0000), 0);
    assert_eq!(m.free_size_in(0x28_0000, 0x40_0000), 0x8_0000);
}
