//! Host tests of the sparse memory model: `memory_present`, `sparse_init` in its three
//! orderings, struct page initialisation and the `sparse` self-checks, run against
//! memblock and [`HostMachine`] (the model of QEMU's hashed page table and of RAM filled
//! with poison).
//!
//! The fixture builds a synthetic pseries guest the way the kernel finds it when
//! sparse init starts: memory ranges with node ids, the kernel image reserved at
//! 0x400000 and firmware's RTAS in the top 64K of the lowest range (so that, with 2G,
//! the first 16M vmemmap block lands at 0x7e000000 as in the 2018 report), an HPT of
//! the size QEMU picks (1/128 of RAM rounded up to a power of two, at least 2^18), 1T
//! segments, and the linear mapping already bolted (16M pages when offered) so that
//! the table is as full as it is in the kernel.
//!
//! Expected values come from the reference (Linux's formulas and messages, QEMU's
//! rules) and from working the allocations out by hand (memblock is top-down), not from
//! the code under test.
//!
//! * [`section`]: constants, `struct mem_section` / `struct page` encodings, `Order`;
//! * [`present`]: `memory_present`, `memblocks_present`, the EXTREME roots;
//! * [`layout`]: v4.19 and v4.18 on 2G, 64G, holes, NUMA layouts, 16M and 64K pages;
//! * [`orderings`]: the 2018 failure (mmotm) and what each ordering does on failures;
//! * [`checks`]: struct pages and the self-checks, also on corrupted state;
//! * [`growth`]: the work per section stays bounded as memory grows;
//! * [`model`]: the vmemmap's hash helpers and the host machine model;
//! * [`faults`]: hypercalls that fail (H_READ, H_ENTER, H_REMOVE), injected by a wrapper
//!   around the host machine;
//! * [`fault_sweeps`]: every memblock allocation and every vmemmap H_ENTER of sparse init
//!   failed in turn, in each ordering: Linux's degraded boot checked as such, or a
//!   documented stop, never a crash.

extern crate std;

mod checks;
mod fault_sweeps;
mod faults;
mod growth;
mod layout;
mod model;
mod orderings;
mod present;
mod section;

use core::fmt;
use std::boxed::Box;
use std::string::{String, ToString};
use std::vec::Vec;

use crate::ktap::Check;
use crate::mm::hash::hpte::PROT_KERNEL_RW;
use crate::mm::hash::{
    BoltOptions, Bolted, GroupPolicy, HashGeometry, PageSizes, Psize, Ssize, bolt_mapping,
};
use crate::mm::memblock::{MEMBLOCK_ALLOC_ANYWHERE, Memblock, RegionFlags};
use crate::printk::Level;

use super::checks::{Inputs, sparse_selftests};
use super::machine::{Ctx, HashParams, KernelMemory, va};
use super::memmap::{MemmapStats, memmap_init};
use super::model::HostMachine;
use super::{Order, Report, Sparse, TempAllocError};

pub(super) const K: u64 = 1 << 10;
pub(super) const M: u64 = 1 << 20;
pub(super) const G: u64 = 1 << 30;

/// QEMU 7.2's default `ibm,segment-page-sizes` without 16M (4K and 64K base pages).
pub(super) const CELLS_64K: [u32; 10] = [12, 0, 1, 12, 0, 16, 0x110, 1, 16, 1];

/// QEMU's cells with 16M pages offered (`cap-hpt-max-page-size=16M`): 4K, 64K, 16M.
pub(super) const CELLS_16M: [u32; 21] = [
    12, 0, 3, 12, 0, 16, 7, 24, 0x38, //
    16, 0x110, 2, 16, 1, 24, 8, //
    24, 0x100, 1, 24, 0,
];

/// The kernel image as the fixture reserves it.
pub(super) const KERNEL: (u64, u64) = (0x40_0000, 0x20_0000);
/// Firmware's RTAS: the top 64K of the lowest memory range.
pub(super) const RTAS_SIZE: u64 = 64 * K;

/// The vmemmap's base.
pub(super) const VMEMMAP: u64 = 0xf000_0000_0000_0000;

/// QEMU's `spapr_hpt_shift_for_ramsize`: 1/128 of RAM rounded up to a power of two,
/// between 2^18 and 2^46.
pub(super) fn qemu_pft(ram: u64) -> u32 {
    (ram.next_power_of_two().trailing_zeros() - 7).clamp(18, 46)
}

/// memblock's messages are not what these tests look at.
fn quiet(_: Level, _: fmt::Arguments<'_>) {}

std::thread_local! {
    /// memblock's lines when a test asks for them: per thread (tests run in parallel),
    /// emptied by [`World::capture_memblock`].
    static MEMBLOCK_LOG: core::cell::RefCell<Vec<String>> = const {
        core::cell::RefCell::new(Vec::new())
    };
}

fn memblock_capture(_: Level, a: fmt::Arguments<'_>) {
    MEMBLOCK_LOG.with(|l| l.borrow_mut().push(a.to_string()));
}

/// A synthetic machine.
#[derive(Clone, Debug)]
pub(super) struct Layout {
    /// Memory ranges `(base, size, nid)`.
    pub ram: Vec<(u64, u64, i32)>,
    /// memblock reservations made before sparse init `(base, size)`.
    pub reserve: Vec<(u64, u64)>,
    pub cells: &'static [u32],
    pub vmemmap: Psize,
    pub ssize: Ssize,
    pub pft: u32,
}

impl Layout {
    /// `ram` with the kernel and RTAS reserved, 16M pages offered and used for the
    /// vmemmap, 1T segments, QEMU's HPT size for the total.
    pub fn new(ram: &[(u64, u64, i32)]) -> Self {
        let low = ram.iter().min_by_key(|r| r.0).unwrap();
        let total: u64 = ram.iter().map(|r| r.1).sum();
        Layout {
            ram: ram.to_vec(),
            reserve: std::vec![KERNEL, (low.0 + low.1 - RTAS_SIZE, RTAS_SIZE)],
            cells: &CELLS_16M,
            vmemmap: Psize::P16M,
            ssize: Ssize::S1T,
            pft: qemu_pft(total),
        }
    }

    /// `size` bytes from 0 on node 0.
    pub fn one_node(size: u64) -> Self {
        Self::new(&[(0, size, 0)])
    }

    /// The vmemmap with 64K pages (16M still offered: the linear mapping keeps them).
    pub fn vmemmap_64k(mut self) -> Self {
        self.vmemmap = Psize::P64K;
        self
    }

    /// Only 4K and 64K offered: everything in 64K pages.
    pub fn only_64k(mut self) -> Self {
        self.cells = &CELLS_64K;
        self.vmemmap = Psize::P64K;
        self
    }
}

/// The machine, memblock and what sparse init printed and bolted.
pub(super) struct World {
    pub m: HostMachine,
    pub mb: Memblock,
    pub geo: HashGeometry,
    pub ssize: Ssize,
    pub vmemmap: Psize,
    pub log: Vec<(Level, String)>,
    pub bolts: Vec<Bolted>,
    /// memblock's reservations just before `memblocks_present`.
    pub reserved_before: Vec<(u64, u64)>,
    /// Entries the linear mapping took.
    pub linear_entries: u64,
}

impl World {
    pub fn new(l: &Layout) -> Self {
        let mut mb = Memblock::new();
        mb.set_log_sink(quiet);
        for &(base, size, nid) in &l.ram {
            mb.add_node(base, size, nid, RegionFlags::empty(), "test")
                .unwrap();
        }
        for &(base, size) in &l.reserve {
            mb.reserve(base, size, "test").unwrap();
        }
        mb.set_current_limit(MEMBLOCK_ALLOC_ANYWHERE);
        let geo = HashGeometry {
            sizes: PageSizes::parse(l.cells).unwrap(),
            hash_mask: (1 << (l.pft - 7)) - 1,
        };
        let base_size: Vec<(u64, u64)> = l.ram.iter().map(|r| (r.0, r.1)).collect();
        let mut m = HostMachine::new(l.pft, &geo.sizes, &base_size, l.ssize, l.vmemmap);
        // The linear mapping, bolted before sparse init as the kernel does.
        let linear = if geo.sizes.usable(Psize::P16M) {
            Psize::P16M
        } else {
            Psize::P64K
        };
        let opts = BoltOptions {
            policy: GroupPolicy::PrimaryOnly,
            text: (0, 0),
            rflags: PROT_KERNEL_RW,
        };
        let mut linear_entries = 0;
        for &(base, size, _) in &l.ram {
            linear_entries += bolt_mapping(
                &mut m,
                &geo,
                va(base),
                va(base + size),
                base,
                linear,
                l.ssize,
                &opts,
                &mut |_| {},
            )
            .unwrap();
        }
        let reserved_before = mb.reserved().iter().map(|r| (r.base, r.size)).collect();
        World {
            m,
            mb,
            geo,
            ssize: l.ssize,
            vmemmap: l.vmemmap,
            log: Vec::new(),
            bolts: Vec::new(),
            reserved_before,
            linear_entries,
        }
    }

    pub fn hash(&self) -> HashParams<'_> {
        HashParams {
            geo: &self.geo,
            ssize: self.ssize,
            vmemmap_psize: self.vmemmap,
            policy: GroupPolicy::PrimaryOnly,
        }
    }

    /// Run `f` with a sparse-init context on this machine, capturing its log lines and
    /// bolts.
    pub fn with_ctx<R>(&mut self, f: impl FnOnce(&mut Ctx<'_, HostMachine>) -> R) -> R {
        let log = &mut self.log;
        let bolts = &mut self.bolts;
        let mut logf = |l: Level, a: fmt::Arguments<'_>| log.push((l, a.to_string()));
        let mut boltf = |b: &Bolted| bolts.push(*b);
        let mut ctx = Ctx {
            m: &mut self.m,
            mb: &mut self.mb,
            hash: HashParams {
                geo: &self.geo,
                ssize: self.ssize,
                vmemmap_psize: self.vmemmap,
                policy: GroupPolicy::PrimaryOnly,
            },
            log: &mut logf,
            on_bolt: &mut boltf,
        };
        f(&mut ctx)
    }

    /// `memblocks_present`, then `before` (to change the machine), then `sparse_init`,
    /// whose only error (a temporary pointer array that cannot be allocated: Linux
    /// panics) is returned as it is.
    pub fn try_init_with(
        &mut self,
        order: Order,
        before: impl FnOnce(&mut World),
    ) -> (Sparse, Result<Report, TempAllocError>) {
        let mut s = Sparse::new(order, self.vmemmap);
        self.with_ctx(|ctx| s.memblocks_present(ctx)).unwrap();
        before(self);
        // Boxed through the closure: the error is large (clippy's result_large_err).
        let r = self.with_ctx(|ctx| s.sparse_init(ctx).map_err(Box::new));
        (s, r.map_err(|e| *e))
    }

    /// [`Self::try_init_with`] where sparse_init must succeed.
    pub fn init_with(&mut self, order: Order, before: impl FnOnce(&mut World)) -> (Sparse, Report) {
        let (s, r) = self.try_init_with(order, before);
        (s, r.unwrap_or_else(|e| panic!("{}: {e}", order.name())))
    }

    pub fn init(&mut self, order: Order) -> (Sparse, Report) {
        self.init_with(order, |_| {})
    }

    /// Struct pages, then the self-checks.
    pub fn finish(&mut self, s: &Sparse) -> (MemmapStats, Vec<Check>) {
        let st = memmap_init(&mut self.m, &self.mb, s);
        let checks = self.checks(s, st);
        (st, checks)
    }

    /// The self-checks with the given struct page statistics.
    pub fn checks(&mut self, s: &Sparse, st: MemmapStats) -> Vec<Check> {
        let hash = HashParams {
            geo: &self.geo,
            ssize: self.ssize,
            vmemmap_psize: self.vmemmap,
            policy: GroupPolicy::PrimaryOnly,
        };
        let inp = Inputs {
            mb: &self.mb,
            sparse: s,
            hash,
            reserved_before: &self.reserved_before,
            memmap: st,
        };
        sparse_selftests(&mut self.m, &inp)
    }

    /// From now on memblock runs with `memblock=debug` and its lines are kept for
    /// [`Self::memblock_lines`].
    pub fn capture_memblock(&mut self) {
        MEMBLOCK_LOG.with(|l| l.borrow_mut().clear());
        self.mb.set_debug(true);
        self.mb.set_log_sink(memblock_capture);
    }

    /// memblock's lines since [`Self::capture_memblock`].
    pub fn memblock_lines(&self) -> Vec<String> {
        MEMBLOCK_LOG.with(|l| l.borrow().clone())
    }

    /// The captured lines of `level`.
    pub fn lines(&self, level: Level) -> Vec<&str> {
        self.log
            .iter()
            .filter(|(l, _)| *l == level)
            .map(|(_, s)| s.as_str())
            .collect()
    }

    /// The captured lines starting with `prefix`, any level.
    pub fn starting(&self, prefix: &str) -> Vec<&str> {
        self.log
            .iter()
            .map(|(_, s)| s.as_str())
            .filter(|s| s.starts_with(prefix))
            .collect()
    }

    /// How many captured lines are exactly `line` at `level`.
    pub fn count(&self, level: Level, line: &str) -> usize {
        self.log
            .iter()
            .filter(|(l, s)| *l == level && s == line)
            .count()
    }
}

/// Everything a whole run produced.
pub(super) struct Boot {
    pub w: World,
    pub s: Sparse,
    pub report: Report,
    pub memmap: MemmapStats,
    pub checks: Vec<Check>,
}

/// memblocks_present, sparse_init, struct pages and the checks on `l` in `order`.
pub(super) fn boot(l: &Layout, order: Order) -> Boot {
    let mut w = World::new(l);
    let (s, report) = w.init(order);
    let (memmap, checks) = w.finish(&s);
    Boot {
        w,
        s,
        report,
        memmap,
        checks,
    }
}

/// memblocks_present, sparse_init and the checks on `l` in `order`, without
/// initialising struct pages (the checks get empty statistics).
pub(super) fn boot_without_pages(l: &Layout, order: Order) -> Boot {
    let mut w = World::new(l);
    let (s, report) = w.init(order);
    let memmap = MemmapStats::default();
    let checks = w.checks(&s, memmap);
    Boot {
        w,
        s,
        report,
        memmap,
        checks,
    }
}

/// The names of the checks, in order: the suite's contract.
pub(super) const CHECK_NAMES: [&str; 7] = [
    "sparse_sections_valid",
    "sparse_vmemmap_mapped_once",
    "sparse_vmemmap_backings",
    "sparse_usemaps",
    "sparse_pfn_round_trip",
    "sparse_memmap_size",
    "sparse_struct_pages",
];

pub(super) fn check<'a>(checks: &'a [Check], name: &str) -> &'a Check {
    checks
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no check {name}"))
}

/// The names of the failed checks.
pub(super) fn failed(checks: &[Check]) -> Vec<&'static str> {
    checks.iter().filter(|c| !c.ok).map(|c| c.name).collect()
}

/// Assert every check passed, showing the failures otherwise.
pub(super) fn assert_all_ok(checks: &[Check], what: &str) {
    let names: Vec<&str> = checks.iter().map(|c| c.name).collect();
    assert_eq!(names, CHECK_NAMES, "{what}");
    for c in checks {
        assert!(c.ok, "{what}: {} not ok: {}", c.name, c.diag);
    }
}
