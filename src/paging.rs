//! paging_init: the sparse memory model on top of the hash MMU (Linux: `initmem_init`'s
//! `memblocks_present`, then `sparse_init`, then `free_area_init_nodes` and the struct
//! page initialisation), and the `sparse` self-checks.
//!
//! Ordering constraints written where they are relied on:
//! - memblock is final (every reservation made) before sparse_init: the vmemmap's
//!   blocks come from it and must not land on anything in use;
//! - translation is on: struct pages are written through the vmemmap;
//! - sections are initialised right after their memory map is populated (in the
//!   default ordering), because `vmemmap_populated()` asks `pfn_valid()`;
//! - at least one present section has a memory map before struct pages are touched
//!   (sparse_init may drop sections after allocation or mapping failures, as Linux
//!   does; if it dropped them all, boot stops right after the `sparse_init:` line).

use alloc::vec::Vec;

use sparsek::boottime::{Footprint, Phase};
use sparsek::ktap::Check;
use sparsek::mm::memblock::Memblock;
use sparsek::mm::sparse::checks::{Inputs, sparse_selftests};
use sparsek::mm::sparse::memmap::{free_area_init_report, memmap_init};
use sparsek::mm::sparse::{Ctx, HashParams, Order, Sparse};
use sparsek::pr_info;
use sparsek::printk::{self, Level};

use crate::{arch, phase};

const PR_PREFIX: &str = "";

/// Run sparse init in `order`, report it, initialise the struct pages, and return the
/// `sparse` self-checks, what sparse init built (the footprint's sparse fields) and the
/// free memory left without struct pages in sections dropped after a failure.
pub fn paging_init(mb: &mut Memblock, order: Order) -> (Vec<Check>, Footprint, u64) {
    let mmu = arch::mmu().unwrap_or_else(|| arch::fatal_fmt(format_args!("paging_init: no MMU")));
    let hash = HashParams {
        geo: &mmu.geo,
        ssize: mmu.choice.ssize,
        vmemmap_psize: mmu.choice.vmemmap,
        policy: mmu.policy,
    };
    let reserved_before: Vec<(u64, u64)> = mb.reserved().iter().map(|r| (r.base, r.size)).collect();
    // SAFETY: translation is on with the linear mapping bolted (early_init_mmu); sparse
    // init only touches memory it allocates from memblock, through the linear mapping or
    // the vmemmap it bolts itself, and only enters vmemmap translations to such memory.
    let mut m = unsafe { arch::PaprMachine::new() };
    let debug = mmu.debug;
    let mut log = |level: Level, args: core::fmt::Arguments<'_>| printk::printk(level, "", args);
    let mut on_bolt = |b: &sparsek::mm::hash::Bolted| {
        if debug {
            arch::print_bolted(b);
        }
    };
    let mut sparse = Sparse::new(order, hash.vmemmap_psize);
    let t0 = arch::now_ns();
    let entered0 = arch::h_entered_count();
    let mut report = {
        let mut ctx = Ctx {
            m: &mut m,
            mb,
            hash,
            log: &mut log,
            on_bolt: &mut on_bolt,
        };
        sparse
            .memblocks_present(&mut ctx)
            .unwrap_or_else(|e| arch::fatal_fmt(format_args!("memblocks_present: {e}")));
        sparse
            .sparse_init(&mut ctx)
            .unwrap_or_else(|e| arch::fatal_fmt(format_args!("{e}")))
    };
    report.time_us = (arch::now_ns() - t0) / 1000;
    let footprint = Footprint {
        sections: report.sections,
        vmemmap_pages: report.vmemmap_pages,
        vmemmap_distinct: sparse.vmemmap_pages_needed().len() as u64,
        // Every hash entry sparse init inserts is a vmemmap page's.
        h_enter_vmemmap: arch::h_entered_count() - entered0,
        memmap: report.memmap_bytes,
        usemap: report.usemap_bytes,
        ..Footprint::default()
    };
    pr_info!("{report}");
    // Sections present and not one with a memory map (every node's usemap or memory map
    // failed): Linux would crash at the first struct page it touched; stop here instead.
    if let Some(none) = report.no_memory_map() {
        arch::fatal_fmt(format_args!("{none}"));
    }
    phase::end(Phase::SparseInit);

    let mb = &*mb;
    free_area_init_report(mb, &mut |args| printk::printk(Level::Info, "", args));
    let t1 = arch::now_ns();
    let stats = memmap_init(&mut m, mb, &sparse);
    pr_info!("{stats} in {}us", (arch::now_ns() - t1) / 1000);
    phase::end(Phase::MemmapInit);

    let checks = sparse_selftests(
        &mut m,
        &Inputs {
            mb,
            sparse: &sparse,
            hash,
            reserved_before: &reserved_before,
            memmap: stats,
        },
    );
    let no_memmap = sparse.dropped_free_bytes(mb);
    (checks, footprint, no_memmap)
}
