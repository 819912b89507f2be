//! Hypercalls that fail. [`Faulty`] wraps the host machine and fails chosen H_READ,
//! H_ENTER and H_REMOVE calls with a chosen status; everything else goes through.
//!
//! What Linux does with each (`arch/powerpc/platforms/pseries/lpar.c`,
//! `mm/hash_utils_64.c`):
//! * H_READ while looking for a bolted entry (`__pSeries_lpar_hpte_find`): reported at
//!   info level, `Failed to read hash page table at <ptex> err <status>`, and the search
//!   goes on. Linux reads four entries at a time (H_READ_4) and skips all four; the
//!   model reads one at a time. The tests keep the entries they look for out of the
//!   quad that fails, so that both find the same one.
//! * H_ENTER (`pSeries_lpar_hpte_insert`): H_PTEG_FULL is -1; any other status is
//!   reported at error level, `Failed hash pte insert with error <status>`, and is -2.
//! * H_REMOVE (`pSeries_lpar_hpte_invalidate`): H_NOT_FOUND is ignored; anything else
//!   is a BUG_ON (the model reports it and goes on).
//!
//! The vmemmap's group on the 2G machine is 0x642f8 (410360), as in the reference.

use std::format;
use std::string::ToString;
use std::vec::Vec;

use super::super::machine::Ctx;
use super::super::vmemmap::{
    Block, RemoveError, Vmemmap, count_mappings, hash_vmemmap_create_mapping, htab_remove_mapping,
};
use super::*;
use crate::mm::hash::hpte::{HPTE_R_M, HPTE_V_LARGE, HPTE_V_VALID};
use crate::mm::hash::{HStatus, HashPageTable, Hpte};

/// The primary group of vmemmap page 0 on the 2G machine (PTE index of slot 0).
const GROUP: u64 = 0x642f8;

/// The calls to fail: `(PTE index, status)`.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Faults {
    /// H_READ of exactly this entry.
    pub read: Option<(u64, HStatus)>,
    /// H_ENTER into the group of this entry.
    pub enter: Option<(u64, HStatus)>,
    /// The N-th H_ENTER through the wrapper (counted from 1), wherever it goes
    /// (`fail_hcall=H_ENTER:N` counted from the wrapper's first call).
    pub enter_nth: Option<(u64, HStatus)>,
    /// H_REMOVE of exactly this entry (nothing is removed).
    pub remove: Option<(u64, HStatus)>,
    /// H_ENTER calls seen.
    pub enters: u64,
    /// How many calls were failed.
    pub injected: u64,
}

/// The host machine with [`Faults`].
pub(super) struct Faulty<'a> {
    m: &'a mut HostMachine,
    f: &'a mut Faults,
}

impl KernelMemory for Faulty<'_> {
    fn read_u64(&mut self, ea: u64) -> u64 {
        self.m.read_u64(ea)
    }

    fn write_u64(&mut self, ea: u64, val: u64) {
        self.m.write_u64(ea, val);
    }

    fn bug(&mut self, what: core::fmt::Arguments<'_>) {
        self.m.bug(what);
    }
}

impl HashPageTable for Faulty<'_> {
    fn h_enter(&mut self, flags: u64, ptex: u64, hpte: Hpte) -> Result<u64, HStatus> {
        self.f.enters += 1;
        if let Some((n, st)) = self.f.enter_nth
            && n == self.f.enters
        {
            self.f.injected += 1;
            return Err(st);
        }
        if let Some((p, st)) = self.f.enter
            && p & !7 == ptex & !7
        {
            self.f.injected += 1;
            return Err(st);
        }
        self.m.h_enter(flags, ptex, hpte)
    }

    fn h_remove(&mut self, flags: u64, ptex: u64, avpn: u64) -> Result<Hpte, HStatus> {
        if let Some((p, st)) = self.f.remove
            && p == ptex
        {
            self.f.injected += 1;
            return Err(st);
        }
        self.m.h_remove(flags, ptex, avpn)
    }

    fn h_read(&mut self, ptex: u64) -> Result<Hpte, HStatus> {
        if let Some((p, st)) = self.f.read
            && p == ptex
        {
            self.f.injected += 1;
            return Err(st);
        }
        self.m.h_read(ptex)
    }
}

/// [`World::with_ctx`] on the machine with `faults`.
pub(super) fn with_faults<R>(
    w: &mut World,
    faults: &mut Faults,
    run: impl FnOnce(&mut Ctx<'_, Faulty<'_>>) -> R,
) -> R {
    let mut m = Faulty {
        m: &mut w.m,
        f: faults,
    };
    let log = &mut w.log;
    let bolts = &mut w.bolts;
    let mut logf = |l: Level, a: fmt::Arguments<'_>| log.push((l, a.to_string()));
    let mut boltf = |b: &Bolted| bolts.push(*b);
    let mut ctx = Ctx {
        m: &mut m,
        mb: &mut w.mb,
        hash: HashParams {
            geo: &w.geo,
            ssize: w.ssize,
            vmemmap_psize: w.vmemmap,
            policy: GroupPolicy::PrimaryOnly,
        },
        log: &mut logf,
        on_bolt: &mut boltf,
    };
    run(&mut ctx)
}

fn two_gig() -> World {
    World::new(&Layout::one_node(2 * G))
}

/// Valid entries in the group.
fn valid_in(w: &World, group: u64) -> usize {
    (group..group + 8)
        .filter(|&p| w.m.hpt.entry(p).unwrap().v & HPTE_V_VALID != 0)
        .count()
}

/// Put `n` valid entries for other pages (64K pages of RAM) into the empty group.
fn foreign_entries(w: &mut World, group: u64, n: u64) {
    assert_eq!(valid_in(w, group), 0);
    for tag in 0..n {
        let e = Hpte {
            v: ((0x1234 + tag) << 7) | HPTE_V_LARGE | HPTE_V_VALID,
            r: 0x1_0000 | 0x1000 | HPTE_R_M,
        };
        assert_eq!(w.m.h_enter(0, group, e), Ok(group + tag));
    }
}

/// Map vmemmap page 0 to `phys` (no faults) and record the block as vmemmap_populate
/// would.
fn map_block(w: &mut World, vm: &mut Vmemmap, phys: u64) {
    let size = vm.page_size;
    let rc = w.with_ctx(|ctx| hash_vmemmap_create_mapping(ctx, vm, VMEMMAP, size, phys));
    assert_eq!(rc, Ok(()));
    vm.blocks.push(Block {
        virt: VMEMMAP,
        phys,
        node: 0,
        recorded: true,
        mapped: true,
    });
}

/// The physical pages of the vmemmap's entries in the group, slot by slot (0 where the
/// slot holds none).
fn vmemmap_slots(w: &mut World) -> Vec<u64> {
    (GROUP..GROUP + 8)
        .map(|p| {
            let e = w.m.hpt.entry(p).unwrap();
            if e.v & HPTE_V_VALID != 0 && e.r & 0x1000 == 0 {
                e.r & !0xfff
            } else {
                0
            }
        })
        .collect()
}

fn count(w: &mut World) -> (u64, u64) {
    let geo = w.geo.clone();
    let hash = HashParams {
        geo: &geo,
        ..w.hash()
    };
    count_mappings(&mut w.m, &hash, VMEMMAP).unwrap()
}

#[test]
fn h_read_failure_is_reported_and_the_search_goes_on() {
    // Slots 0-3 hold other pages' entries; the vmemmap page is in slots 4 and 5.
    let mut w = two_gig();
    let mut vm = Vmemmap::new(Psize::P16M);
    foreign_entries(&mut w, GROUP, 4);
    map_block(&mut w, &mut vm, 0x7e00_0000);
    map_block(&mut w, &mut vm, 0x7d00_0000);
    assert_eq!(
        vmemmap_slots(&mut w),
        [0, 0, 0, 0, 0x7e00_0000, 0x7d00_0000, 0, 0]
    );
    w.log.clear();
    // H_READ of slot 0 fails: said once, at info level, and the first of the page's
    // entries after it is the one removed.
    let mut f = Faults {
        read: Some((GROUP, HStatus::Parameter)),
        ..Faults::default()
    };
    let r = with_faults(&mut w, &mut f, |ctx| {
        htab_remove_mapping(ctx, VMEMMAP, VMEMMAP + 0x100_0000)
    });
    assert_eq!(r, Ok(std::vec![0x7e00_0000]));
    assert_eq!(f.injected, 1);
    assert_eq!(
        w.log,
        [
            (
                Level::Info,
                "Failed to read hash page table at 410360 err -4".to_string()
            ),
            (
                Level::Debug,
                "htab_remove_mapping: removed 0xf000000000000000 from ptex 0x642fc (phys \
                 0x7e000000)"
                    .to_string()
            ),
        ]
    );
    assert_eq!(vmemmap_slots(&mut w), [0, 0, 0, 0, 0, 0x7d00_0000, 0, 0]);
    // The other pages' entries are untouched.
    assert_eq!(valid_in(&w, GROUP), 5);
}

#[test]
fn h_read_failure_while_undoing_a_failed_mapping() {
    // The group full: four other entries, then four blocks for vmemmap page 0. The next
    // block's insert gets H_PTEG_FULL (-1, no error line: Linux says nothing for a full
    // group); the undo cannot read slot 0, removes the first block's entry (slot 4) and
    // that block is no longer mapped.
    let mut w = two_gig();
    let mut vm = Vmemmap::new(Psize::P16M);
    foreign_entries(&mut w, GROUP, 4);
    for k in 0..4 {
        map_block(&mut w, &mut vm, 0x7e00_0000 - k * 0x100_0000);
    }
    w.log.clear();
    let mut f = Faults {
        read: Some((GROUP, HStatus::Hardware)),
        ..Faults::default()
    };
    let rc = with_faults(&mut w, &mut f, |ctx| {
        hash_vmemmap_create_mapping(ctx, &mut vm, VMEMMAP, 0x100_0000, 0x7a00_0000)
    });
    assert_eq!(rc, Err(-1));
    assert_eq!(
        w.log,
        [
            (
                Level::Debug,
                "hash__vmemmap_create_mapping: start 0xf000000000000000 size 0x1000000 phys \
                 0x7a000000"
                    .to_string()
            ),
            (
                Level::Debug,
                "hash__vmemmap_create_mapping: failed -1".to_string()
            ),
            (
                Level::Info,
                "Failed to read hash page table at 410360 err -1".to_string()
            ),
            (
                Level::Debug,
                "htab_remove_mapping: removed 0xf000000000000000 from ptex 0x642fc (phys \
                 0x7e000000)"
                    .to_string()
            ),
        ]
    );
    assert_eq!((vm.mappings, vm.map_failures, vm.removed), (4, 1, 1));
    let mapped: Vec<bool> = vm.blocks.iter().map(|b| b.mapped).collect();
    assert_eq!(mapped, [false, true, true, true]);
    assert_eq!(
        vmemmap_slots(&mut w),
        [0, 0, 0, 0, 0, 0x7d00_0000, 0x7c00_0000, 0x7b00_0000]
    );
    assert_eq!(count(&mut w), (3, 0));
}

#[test]
fn h_remove_not_found_is_ignored() {
    // The entry is found but H_REMOVE says H_NOT_FOUND (someone else took it out in the
    // meantime): Linux's invalidate returns quietly and the page counts as done.
    let mut w = two_gig();
    let mut vm = Vmemmap::new(Psize::P16M);
    map_block(&mut w, &mut vm, 0x7e00_0000);
    w.log.clear();
    let mut f = Faults {
        remove: Some((GROUP, HStatus::NotFound)),
        ..Faults::default()
    };
    let r = with_faults(&mut w, &mut f, |ctx| {
        htab_remove_mapping(ctx, VMEMMAP, VMEMMAP + 0x100_0000)
    });
    assert_eq!(r, Ok(std::vec![]));
    assert_eq!(f.injected, 1);
    assert!(w.log.is_empty(), "{:?}", w.log);
    assert_eq!(count(&mut w), (1, 0));
}

#[test]
fn h_remove_failure_while_undoing_a_failed_mapping() {
    // Eight blocks fill the group; the ninth insert fails (-1) and the undo's H_REMOVE
    // of slot 0 fails with H_HARDWARE (Linux: BUG_ON). Reported; nothing removed, every
    // block still mapped.
    let mut w = two_gig();
    let mut vm = Vmemmap::new(Psize::P16M);
    for k in 0..8 {
        map_block(&mut w, &mut vm, 0x7e00_0000 - k * 0x100_0000);
    }
    w.log.clear();
    let mut f = Faults {
        remove: Some((GROUP, HStatus::Hardware)),
        ..Faults::default()
    };
    let rc = with_faults(&mut w, &mut f, |ctx| {
        hash_vmemmap_create_mapping(ctx, &mut vm, VMEMMAP, 0x100_0000, 0x7600_0000)
    });
    assert_eq!(rc, Err(-1));
    assert_eq!(
        w.lines(Level::Err),
        [
            "htab_remove_mapping: H_REMOVE of ptex 0x642f8 (0xf000000000000000) failed: H_HARDWARE \
          (-1)"
        ]
    );
    assert_eq!((vm.map_failures, vm.removed), (1, 0));
    assert!(vm.blocks.iter().all(|b| b.mapped));
    // Linux's BUG_ON: the kernel stops there.
    assert_eq!(
        w.m.bugs,
        ["hash__vmemmap_create_mapping: H_REMOVE of ptex 0x642f8 failed: H_HARDWARE (-1)"]
    );
    assert_eq!(count(&mut w), (8, 0));
    // What htab_remove_mapping itself returns.
    let r = with_faults(&mut w, &mut f, |ctx| {
        htab_remove_mapping(ctx, VMEMMAP, VMEMMAP + 0x100_0000)
    });
    assert_eq!(
        r,
        Err((
            std::vec![],
            RemoveError::Hypervisor {
                ptex: GROUP,
                status: HStatus::Hardware
            }
        ))
    );
}

#[test]
fn h_enter_failure_other_than_a_full_group() {
    // H_HARDWARE is -1 as a status (PAPR), but not a full group: Linux prints the status
    // and returns -2.
    assert_eq!(HStatus::Hardware.code(), -1);
    for (status, line, rc) in [
        (
            HStatus::Hardware,
            Some("Failed hash pte insert with error -1"),
            -2,
        ),
        (
            HStatus::Parameter,
            Some("Failed hash pte insert with error -4"),
            -2,
        ),
        (HStatus::PtegFull, None, -1),
    ] {
        let mut w = two_gig();
        let mut vm = Vmemmap::new(Psize::P16M);
        let mut f = Faults {
            enter: Some((GROUP, status)),
            ..Faults::default()
        };
        let got = with_faults(&mut w, &mut f, |ctx| {
            hash_vmemmap_create_mapping(ctx, &mut vm, VMEMMAP, 0x100_0000, 0x7e00_0000)
        });
        assert_eq!(got, Err(rc), "{status}");
        assert_eq!(f.injected, 1);
        let mut want = std::vec![(
            Level::Debug,
            "hash__vmemmap_create_mapping: start 0xf000000000000000 size 0x1000000 phys \
             0x7e000000"
                .to_string()
        )];
        if let Some(line) = line {
            want.push((Level::Err, line.to_string()));
        }
        // Nothing of ours in the group to remove: -ENOENT, which Linux accepts quietly.
        want.push((
            Level::Debug,
            format!("hash__vmemmap_create_mapping: failed {rc}"),
        ));
        assert_eq!(w.log, want, "{status}");
        assert_eq!(
            (vm.mappings, vm.map_failures, vm.removed),
            (0, 1, 0),
            "{status}"
        );
        assert_eq!(count(&mut w), (0, 0));
    }
}

#[test]
fn h_enter_failure_in_v419_sparse_init() {
    // The whole of sparse_init on the 2G machine with every insert into the vmemmap's
    // group failing with H_HARDWARE: the block is allocated and recorded, not mapped,
    // and v4.19 gives up on the node.
    let mut w = two_gig();
    let mut f = Faults {
        enter: Some((GROUP, HStatus::Hardware)),
        ..Faults::default()
    };
    let mut s = Sparse::new(Order::V419, Psize::P16M);
    let r = with_faults(&mut w, &mut f, |ctx| {
        s.memblocks_present(ctx).unwrap();
        s.sparse_init(ctx).map_err(|e| e.to_string())
    })
    .unwrap();
    assert_eq!(f.injected, 1);
    assert_eq!(
        r.to_string(),
        "sparse_init: order=v4.19 sections=128 nodes=1 vmemmap_pages=1 psize=16M mappings=0 \
         map_failures=1 unbacked_sections=128 memmap=16384K usemap=1024B time=0us"
    );
    assert_eq!(
        s.vmemmap.blocks,
        [Block {
            virt: VMEMMAP,
            phys: 0x7e00_0000,
            node: 0,
            recorded: true,
            mapped: false
        }]
    );
    let log: Vec<(Level, &str)> = w.log.iter().map(|(l, s)| (*l, s.as_str())).collect();
    assert_eq!(
        log,
        [
            (
                Level::Debug,
                "vmemmap_populate f000000000000000..f000000000004000, node 0"
            ),
            (
                Level::Debug,
                "      * f000000000000000..f000000001000000 allocated at c00000007e000000"
            ),
            (
                Level::Debug,
                "hash__vmemmap_create_mapping: start 0xf000000000000000 size 0x1000000 phys \
                 0x7e000000"
            ),
            (Level::Err, "Failed hash pte insert with error -1"),
            (Level::Debug, "hash__vmemmap_create_mapping: failed -2"),
            (
                Level::Warning,
                "vmemmap_populate: Unable to create vmemmap mapping: -2"
            ),
            (
                Level::Err,
                "sparse_init_nid: node[0] memory map backing failed. Some memory will not be \
                 available."
            ),
        ]
    );
    assert!(w.bolts.is_empty());
    for p in 0..128 {
        assert_eq!(s.sections.get(&mut w.m, p), Default::default(), "{p}");
    }
}

#[test]
fn a_failed_h_read_in_the_checks_is_named_not_taken_for_a_missing_entry() {
    // The vmemmap page's group cannot be read while the checks survey it: the lookup
    // failure is what every check that needs the page reports.
    let mut w = two_gig();
    let (s, _) = w.init(Order::V419);
    let st = memmap_init(&mut w.m, &w.mb, &s);
    let mut f = Faults {
        read: Some((GROUP, HStatus::Hardware)),
        ..Faults::default()
    };
    let hash = HashParams {
        geo: &w.geo,
        ssize: w.ssize,
        vmemmap_psize: w.vmemmap,
        policy: GroupPolicy::PrimaryOnly,
    };
    let inp = super::super::checks::Inputs {
        mb: &w.mb,
        sparse: &s,
        hash,
        reserved_before: &w.reserved_before,
        memmap: st,
    };
    let mut m = Faulty {
        m: &mut w.m,
        f: &mut f,
    };
    let checks = super::super::checks::sparse_selftests(&mut m, &inp);
    assert!(f.injected > 0);
    let lookup = "H_READ of ptex 0x642f8: H_HARDWARE (-1)";
    for name in [
        "sparse_vmemmap_mapped_once",
        "sparse_pfn_round_trip",
        "sparse_struct_pages",
    ] {
        let c = check(&checks, name);
        assert!(!c.ok, "{name}");
        assert!(c.diag.contains(lookup), "{name}: {}", c.diag);
        assert!(
            !c.diag.contains("is not in the hash table"),
            "{name}: {}",
            c.diag
        );
    }
}
