//! The work sparse init does grows linearly with memory: counted as the host machine's
//! loads and stores and the hypercalls made, per present section.

use std::vec::Vec;

use super::*;

/// `(sections, accesses, enters, reads, removes)` of memblocks_present + sparse_init.
fn work(size: u64, order: Order) -> (u64, u64, u64, u64, u64) {
    let mut l = Layout::one_node(size);
    // The table's size does not change the work per section; at most 2^24 bytes keeps
    // the test fast (QEMU would give 64G a 2^29-byte table).
    l.pft = l.pft.min(0x18);
    let mut w = World::new(&l);
    let (a0, s0) = (w.m.accesses, w.m.hpt.stats);
    let (s, r) = w.init(order);
    let st = w.m.hpt.stats;
    assert_eq!(r.sections, s.present.len() as u64);
    (
        r.sections,
        w.m.accesses - a0,
        st.enters - s0.enters,
        st.reads - s0.reads,
        st.removes - s0.removes,
    )
}

#[test]
fn v419_work_per_section_is_bounded() {
    let sizes = [512 * M, 2 * G, 16 * G, 64 * G];
    let runs: Vec<_> = sizes.iter().map(|&s| work(s, Order::V419)).collect();
    let sections: Vec<u64> = runs.iter().map(|r| r.0).collect();
    assert_eq!(sections, [32, 128, 1024, 4096]);
    // One H_ENTER per 16M vmemmap page (16G each), no H_READ, no H_REMOVE.
    let enters: Vec<u64> = runs.iter().map(|r| r.2).collect();
    assert_eq!(enters, [1, 1, 1, 4]);
    assert!(runs.iter().all(|r| r.3 == 0 && r.4 == 0));
    // Loads and stores: once, zeroing the 16K pointer array and the 64K root (one root
    // covers 64G); once per 16M vmemmap page, vmemmap_populated() asking pfn_valid()
    // of the page's 1024 sections (3 loads each: root pointer, mem_section); the rest
    // is the same small cost for every section, whatever the size.
    let per: Vec<f64> = runs
        .iter()
        .map(|&(n, acc, pages, _, _)| (acc - ONE_OFF - 3 * 1024 * pages) as f64 / n as f64)
        .collect();
    for p in &per {
        assert!((16.0..=32.0).contains(p), "{per:?}");
    }
    let (lo, hi) = per
        .iter()
        .fold((f64::MAX, 0f64), |(l, h), &p| (l.min(p), h.max(p)));
    assert!(hi <= lo * 1.02, "{per:?}");
    // And in total: 128x the sections of 512M for at most 128x its work.
    assert!(runs[3].1 <= 128 * runs[0].1, "{runs:?}");
}

/// Zeroing the pointer array (16K) and one root (64K): 8-byte stores.
const ONE_OFF: u64 = (0x4000 + 0x1_0000) / 8;

#[test]
fn v419_64k_work_per_section_is_constant() {
    // With 64K vmemmap pages every fourth section backs a page: the same cost per
    // section whatever the size.
    let run = |size| {
        let mut l = Layout::one_node(size).vmemmap_64k();
        l.pft = l.pft.min(0x18);
        let mut w = World::new(&l);
        let a0 = w.m.accesses;
        let e0 = w.m.hpt.stats.enters;
        let (_, r) = w.init(Order::V419);
        (r.sections, w.m.accesses - a0, w.m.hpt.stats.enters - e0)
    };
    let small = run(512 * M);
    let large = run(16 * G);
    assert_eq!((small.0, small.2), (32, 8));
    assert_eq!((large.0, large.2), (1024, 256));
    let ps = (small.1 - ONE_OFF) as f64 / small.0 as f64;
    let pl = (large.1 - ONE_OFF) as f64 / large.0 as f64;
    assert!(pl <= ps * 1.02 && ps <= pl * 1.02, "{ps} {pl}");
    assert!(pl <= 40.0, "{pl}");
}

#[test]
fn mmotm_rescans_the_page_for_every_section() {
    // The contrast that shows the counts see redundant work: every mmotm section asks
    // pfn_valid() of all 1024 sections of its 16M page before backing it again.
    let v419 = work(2 * G, Order::V419);
    let mmotm = work(2 * G, Order::Mmotm20180710);
    assert_eq!(mmotm.2, 126);
    assert_eq!(mmotm.4, 59);
    let per = |r: (u64, u64, u64, u64, u64)| (r.1 - ONE_OFF) / r.0;
    assert!(per(mmotm) > 3 * 1024, "{mmotm:?}");
    assert!(per(mmotm) > 50 * per(v419), "{v419:?} {mmotm:?}");
}
