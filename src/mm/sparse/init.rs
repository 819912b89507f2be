//! `sparse_init()` in the three orderings this kernel can run (`sparse_init=`), each
//! the behaviour of a real kernel:
//!
//! | name               | usemaps                 | memory maps and section init        |
//! |--------------------|-------------------------|-------------------------------------|
//! | `v4.19` (default)  | per node run, then ...  | ... per section: populate, init now |
//! | `v4.18`            | all node runs first     | per section: populate, init now     |
//! | `mmotm-2018-07-10` | all node runs first     | populate all; then init all         |
//!
//! A section must be initialised right after its memory map is populated: on the hash
//! MMU `vmemmap_populated()` learns that a vmemmap page exists only from `pfn_valid()`
//! of a section in it. `mmotm-2018-07-10` populates every map before any section is
//! valid, so each section allocates and bolts its vmemmap page again.

use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use crate::mm::hash::Psize;
use crate::mm::memblock::{MEMBLOCK_ALLOC_ACCESSIBLE, Memblock, SMP_CACHE_BYTES};

use super::machine::{Ctx, KernelMemory, Machine, va};
use super::mem_section::{MemSections, SectionError};
use super::section::*;
use super::vmemmap::{Vmemmap, pfn_to_page, vmemmap_populate};

/// v4.18's `NR_MEM_SECTIONS` (its MAX_PHYSMEM_BITS was 46): the length of its
/// `usemap_map`, one pointer per possible section (32 MiB).
pub const V418_NR_MEM_SECTIONS: u64 = 1 << (46 - SECTION_SIZE_BITS);

/// The orderings; their names are a contract (`sparse_init=`, the `sparse_init:` line).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Order {
    /// Linux v4.19 `sparse_init_nid()`: the fix.
    #[default]
    V419,
    /// Linux v4.18 with `CONFIG_SPARSEMEM_ALLOC_MEM_MAP_TOGETHER` off (ppc64).
    V418,
    /// mmotm 2018-07-10: "mm/sparse: Remove CONFIG_SPARSEMEM_ALLOC_MEM_MAP_TOGETHER".
    Mmotm20180710,
}

impl Order {
    pub const ALL: [Order; 3] = [Order::V419, Order::V418, Order::Mmotm20180710];

    pub const fn name(self) -> &'static str {
        match self {
            Order::V419 => "v4.19",
            Order::V418 => "v4.18",
            Order::Mmotm20180710 => "mmotm-2018-07-10",
        }
    }

    pub fn parse(s: &str) -> Option<Order> {
        Order::ALL.into_iter().find(|o| o.name() == s)
    }

    /// The valid names, space-separated, for error messages.
    pub fn names() -> impl fmt::Display {
        struct Names;
        impl fmt::Display for Names {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                for (i, o) in Order::ALL.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    f.write_str(o.name())?;
                }
                Ok(())
            }
        }
        Names
    }
}

/// A run of present sections on one node (`sparse_init()`'s grouping).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeRun {
    pub nid: i32,
    pub sections: Vec<u64>,
}

/// One usemap allocation: `(pa, size, nid)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UsemapAlloc {
    pub pa: u64,
    pub size: u64,
    pub nid: i32,
}

/// Why sparse_init gave up on a present section (Linux survives each: the section's
/// memory is simply not available).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropCause {
    /// Its node run's usemap could not be allocated.
    Usemap,
    /// `vmemmap.failures[i]`: a vmemmap page of its memory map, or (v4.19) of an
    /// earlier section of its node run, could not be backed.
    MemMap(usize),
}

/// A present section sparse_init left without a memory map, and why. What Linux leaves
/// in it follows from the ordering: cleared (`section_mem_map = 0`, no usemap), except
/// v4.18 after a usemap failure, which only skips the section (still present, with its
/// early node, no memory map).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dropped {
    pub section: u64,
    /// Its node run's node.
    pub nid: i32,
    pub cause: DropCause,
    /// Its memory map was populated all the same before it was dropped (mmotm populates
    /// every section, usemap or not).
    pub populated: bool,
}

/// The sparse memory model: section table, vmemmap, usemaps, and what sparse_init did.
#[derive(Debug)]
pub struct Sparse {
    pub order: Order,
    pub sections: MemSections,
    pub vmemmap: Vmemmap,
    pub usemaps: Vec<UsemapAlloc>,
    /// Sections present when sparse_init started.
    pub present: Vec<u64>,
    /// Node of each run, in order (for `nodes=`).
    pub runs: Vec<NodeRun>,
    /// The orderings' temporary arrays `(pa, size, name)`, in allocation order; freed
    /// again before sparse_init returns.
    pub temporaries: Vec<(u64, u64, &'static str)>,
    /// The present sections sparse_init dropped after a failure, in the order it did.
    pub dropped: Vec<Dropped>,
}

/// An ordering's temporary pointer array could not be allocated: Linux panics with
/// `can not allocate <what>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TempAllocError {
    pub what: &'static str,
    pub error: alloc::boxed::Box<crate::mm::memblock::AllocError>,
}

impl fmt::Display for TempAllocError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "can not allocate {} ({})", self.what, self.error)
    }
}

/// The summary of one sparse_init, printed as the `sparse_init:` line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Report {
    pub order: Order,
    pub sections: u64,
    pub nodes: u64,
    pub vmemmap_pages: u64,
    pub psize: Psize,
    pub mappings: u64,
    pub map_failures: u64,
    pub unbacked_sections: u64,
    pub memmap_bytes: u64,
    pub usemap_bytes: u64,
    /// Filled in by the caller, who owns the clock.
    pub time_us: u64,
}

impl Report {
    /// Boot cannot go on from this sparse_init: sections are present but not one has a
    /// memory map (Linux would crash at the first struct page it touches).
    pub fn no_memory_map(&self) -> Option<NoMemoryMap> {
        (self.sections > 0 && self.unbacked_sections >= self.sections).then_some(NoMemoryMap {
            sections: self.sections,
            unbacked: self.unbacked_sections,
        })
    }
}

/// [`Report::no_memory_map`]: the kernel's last words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NoMemoryMap {
    pub sections: u64,
    pub unbacked: u64,
}

impl fmt::Display for NoMemoryMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "sparse_init: no memory section has a memory map ({} of {} dropped after allocation \
             or mapping failures)",
            self.unbacked, self.sections
        )
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "sparse_init: order={} sections={} nodes={} vmemmap_pages={} psize={} mappings={} \
             map_failures={} unbacked_sections={} memmap={}K usemap={}B time={}us",
            self.order.name(),
            self.sections,
            self.nodes,
            self.vmemmap_pages,
            self.psize.name(),
            self.mappings,
            self.map_failures,
            self.unbacked_sections,
            self.memmap_bytes / 1024,
            self.usemap_bytes,
            self.time_us
        )
    }
}

impl Sparse {
    pub fn new(order: Order, vmemmap_psize: Psize) -> Self {
        Sparse {
            order,
            sections: MemSections::new(),
            vmemmap: Vmemmap::new(vmemmap_psize),
            usemaps: Vec::new(),
            present: Vec::new(),
            runs: Vec::new(),
            temporaries: Vec::new(),
            dropped: Vec::new(),
        }
    }

    /// `memblocks_present()`: mark every section with memory present.
    pub fn memblocks_present<M: Machine + ?Sized>(
        &mut self,
        ctx: &mut Ctx<'_, M>,
    ) -> Result<(), SectionError> {
        self.sections.memblocks_present(ctx)
    }

    /// Run sparse_init in this model's ordering and summarise it. The only error is
    /// the one Linux panics on: an ordering's temporary pointer array that cannot be
    /// allocated (`can not allocate usemap_map`); everything else is reported in the
    /// log and the summary.
    pub fn sparse_init<M: Machine + ?Sized>(
        &mut self,
        ctx: &mut Ctx<'_, M>,
    ) -> Result<Report, TempAllocError> {
        self.present = self.sections.present_sections(ctx.m);
        self.runs = node_runs(&self.sections, ctx.m, &self.present);
        match self.order {
            Order::V419 => self.init_v419(ctx),
            Order::V418 => self.init_v418(ctx)?,
            Order::Mmotm20180710 => self.init_mmotm(ctx)?,
        }
        Ok(self.report(ctx.m))
    }

    /// The distinct vmemmap pages (their kernel addresses, ascending) the present
    /// sections' memory maps lie in: what a correct ordering allocates and maps, once each.
    pub fn vmemmap_pages_needed(&self) -> Vec<u64> {
        let size = self.vmemmap.page_size;
        let mut v: Vec<u64> = Vec::new();
        for &pnum in &self.present {
            let map = pfn_to_page(section_nr_to_pfn(pnum));
            let mut page = map & !(size - 1);
            while page < map + SECTION_MEMMAP_SIZE {
                if v.last() != Some(&page) {
                    v.push(page);
                }
                page += size;
            }
        }
        v.sort_unstable();
        v.dedup();
        v
    }

    /// The counts of the `sparse_init:` line, from the kernel's records and the table.
    pub fn report<M: KernelMemory + ?Sized>(&self, m: &mut M) -> Report {
        let mut nodes: Vec<i32> = self.runs.iter().map(|r| r.nid).collect();
        nodes.sort_unstable();
        nodes.dedup();
        let unbacked = self
            .present
            .iter()
            .filter(|&&p| !self.sections.get(m, p).valid())
            .count() as u64;
        Report {
            order: self.order,
            sections: self.present.len() as u64,
            nodes: nodes.len() as u64,
            vmemmap_pages: self.vmemmap.blocks.len() as u64,
            psize: self.vmemmap.psize,
            mappings: self.vmemmap.mappings,
            map_failures: self.vmemmap.map_failures,
            unbacked_sections: unbacked,
            memmap_bytes: self.vmemmap.blocks.len() as u64 * self.vmemmap.page_size,
            usemap_bytes: self.usemaps.iter().map(|u| u.size).sum(),
            time_us: 0,
        }
    }

    /// `sparse_early_usemaps_alloc_pgdat_section()`: one zeroed usemap block for a
    /// node run; the kernel address of each section's usemap.
    fn alloc_usemaps<M: Machine + ?Sized>(
        &mut self,
        ctx: &mut Ctx<'_, M>,
        run: &NodeRun,
    ) -> Option<Vec<u64>> {
        let size = usemap_size() * run.sections.len() as u64;
        let p = ctx
            .mb
            .alloc_try_nid(
                size,
                SMP_CACHE_BYTES,
                0,
                MEMBLOCK_ALLOC_ACCESSIBLE,
                run.nid,
                "sparse_early_usemaps_alloc_pgdat_section",
            )
            .inspect_err(|e| ctx.debug(format_args!("{e}")))
            .ok()?;
        ctx.m.zero(va(p), size);
        self.usemaps.push(UsemapAlloc {
            pa: p,
            size,
            nid: run.nid,
        });
        Some(
            (0..run.sections.len() as u64)
                .map(|i| va(p) + i * usemap_size())
                .collect(),
        )
    }

    /// `sparse_mem_map_populate()`: the section's memory map through the vmemmap, or
    /// the index of the failure in `vmemmap.failures`.
    fn populate<M: Machine + ?Sized>(
        &mut self,
        ctx: &mut Ctx<'_, M>,
        pnum: u64,
        nid: i32,
    ) -> Result<u64, usize> {
        let map = pfn_to_page(section_nr_to_pfn(pnum));
        vmemmap_populate(
            ctx,
            &self.sections,
            &mut self.vmemmap,
            map,
            map + SECTION_MEMMAP_SIZE,
            nid,
        )
        .map(|()| map)
        .map_err(|_| self.vmemmap.failures.len() - 1)
    }

    /// Record that `section` was dropped.
    fn drop_section(&mut self, section: u64, nid: i32, cause: DropCause, populated: bool) {
        self.dropped.push(Dropped {
            section,
            nid,
            cause,
            populated,
        });
    }

    /// `sparse_init_one_section()`: the encoded map and HAS_MEM_MAP (the early node
    /// bits are replaced), and the usemap.
    fn init_one_section<M: Machine + ?Sized>(
        &self,
        ctx: &mut Ctx<'_, M>,
        pnum: u64,
        map: u64,
        usemap: u64,
    ) {
        let mut ms = self.sections.get(ctx.m, pnum);
        ms.section_mem_map &= !SECTION_MAP_MASK;
        ms.section_mem_map |= encode_mem_map(map, pnum) | SECTION_HAS_MEM_MAP;
        ms.pageblock_flags = usemap;
        self.sections.set(ctx.m, pnum, ms);
    }

    /// Drop a section: `ms->section_mem_map = 0`.
    fn clear_section<M: Machine + ?Sized>(&self, ctx: &mut Ctx<'_, M>, pnum: u64) {
        self.sections.set(ctx.m, pnum, MemSection::default());
    }

    /// v4.19 `sparse_init_nid()` per node run: usemaps, then populate + init each
    /// section at once. A failure drops the section and the rest of the run.
    fn init_v419<M: Machine + ?Sized>(&mut self, ctx: &mut Ctx<'_, M>) {
        let runs = self.runs.clone();
        for run in &runs {
            let Some(usemaps) = self.alloc_usemaps(ctx, run) else {
                ctx.err(format_args!(
                    "sparse_init_nid: node[{}] usemap allocation failed",
                    run.nid
                ));
                for &p in &run.sections {
                    self.clear_section(ctx, p);
                    self.drop_section(p, run.nid, DropCause::Usemap, false);
                }
                continue;
            };
            for (i, &pnum) in run.sections.iter().enumerate() {
                let map = match self.populate(ctx, pnum, run.nid) {
                    Ok(map) => map,
                    Err(failure) => {
                        ctx.err(format_args!(
                            "sparse_init_nid: node[{}] memory map backing failed. Some memory will not be available.",
                            run.nid
                        ));
                        for &p in &run.sections[i..] {
                            self.clear_section(ctx, p);
                            self.drop_section(p, run.nid, DropCause::MemMap(failure), false);
                        }
                        break;
                    }
                };
                self.init_one_section(ctx, pnum, map, usemaps[i]);
            }
        }
    }

    /// All node runs' usemaps (v4.18 and mmotm `alloc_usemap_and_memmap` with
    /// `sparse_early_usemaps_alloc_node`), one entry per present section.
    fn all_usemaps<M: Machine + ?Sized>(&mut self, ctx: &mut Ctx<'_, M>) -> Vec<Option<u64>> {
        let runs = self.runs.clone();
        let mut out = Vec::with_capacity(self.present.len());
        for run in &runs {
            match self.alloc_usemaps(ctx, run) {
                Some(u) => out.extend(u.into_iter().map(Some)),
                None => {
                    ctx.warn(format_args!(
                        "sparse_early_usemaps_alloc_node: allocation failed"
                    ));
                    out.extend(core::iter::repeat_n(None, run.sections.len()));
                }
            }
        }
        out
    }

    /// v4.18: its `usemap_map` (a pointer per possible section), all usemaps, then per
    /// present section populate + init at once. A section whose usemap failed is skipped
    /// and stays present without a memory map; one whose memory map failed is cleared
    /// (by `sparse_early_mem_map_alloc`).
    fn init_v418<M: Machine + ?Sized>(
        &mut self,
        ctx: &mut Ctx<'_, M>,
    ) -> Result<(), TempAllocError> {
        let map_size = 8 * V418_NR_MEM_SECTIONS;
        let usemap_map = self.temp_alloc(ctx, map_size, "usemap_map")?;
        let usemaps = self.all_usemaps(ctx);
        let present = self.present.clone();
        let nids = super::memmap::section_nids(self);
        for (i, &pnum) in present.iter().enumerate() {
            let Some(usemap) = usemaps[i] else {
                self.drop_section(pnum, nids[i], DropCause::Usemap, false);
                continue;
            };
            let map = match self.populate(ctx, pnum, nids[i]) {
                Ok(map) => map,
                Err(failure) => {
                    // sparse_early_mem_map_alloc() clears the section itself.
                    ctx.err(format_args!(
                        "sparse_early_mem_map_alloc: sparsemem memory map backing failed some memory will not be available"
                    ));
                    self.clear_section(ctx, pnum);
                    self.drop_section(pnum, nids[i], DropCause::MemMap(failure), false);
                    continue;
                }
            };
            self.init_one_section(ctx, pnum, map, usemap);
        }
        self.temp_free(ctx, usemap_map, map_size, "usemap_map");
        Ok(())
    }

    /// mmotm-2018-07-10: `usemap_map` and all usemaps; `map_map` and the memory maps of
    /// all present sections; only then every section initialised (failures cleared);
    /// both pointer arrays freed.
    fn init_mmotm<M: Machine + ?Sized>(
        &mut self,
        ctx: &mut Ctx<'_, M>,
    ) -> Result<(), TempAllocError> {
        let map_size = 8 * self.present.len() as u64;
        let usemap_map = self.temp_alloc(ctx, map_size, "usemap_map")?;
        let usemaps = self.all_usemaps(ctx);
        let map_map = self.temp_alloc(ctx, map_size, "map_map")?;
        let present = self.present.clone();
        let nids = super::memmap::section_nids(self);
        let mut maps = vec![Err(0); present.len()];
        for (i, &pnum) in present.iter().enumerate() {
            maps[i] = self.populate(ctx, pnum, nids[i]);
            if maps[i].is_err() {
                ctx.err(format_args!(
                    "sparse_mem_maps_populate_node: sparsemem memory map backing failed some memory will not be available"
                ));
            }
        }
        for (i, &pnum) in present.iter().enumerate() {
            match (usemaps[i], maps[i]) {
                (Some(usemap), Ok(map)) => self.init_one_section(ctx, pnum, map, usemap),
                (None, map) => {
                    self.clear_section(ctx, pnum);
                    self.drop_section(pnum, nids[i], DropCause::Usemap, map.is_ok());
                }
                (Some(_), Err(failure)) => {
                    self.clear_section(ctx, pnum);
                    self.drop_section(pnum, nids[i], DropCause::MemMap(failure), false);
                }
            }
        }
        self.temp_free(ctx, map_map, map_size, "map_map");
        self.temp_free(ctx, usemap_map, map_size, "usemap_map");
        Ok(())
    }

    /// One of the orderings' temporary pointer arrays (`memblock_virt_alloc`): reserved
    /// where Linux reserved it, so that everything after it lands where it did in
    /// Linux, but not written (the pointers are kept on the heap).
    fn temp_alloc<M: Machine + ?Sized>(
        &mut self,
        ctx: &mut Ctx<'_, M>,
        size: u64,
        what: &'static str,
    ) -> Result<u64, TempAllocError> {
        let p = ctx
            .mb
            .alloc_try_nid(
                size,
                SMP_CACHE_BYTES,
                0,
                MEMBLOCK_ALLOC_ACCESSIBLE,
                crate::mm::memblock::NUMA_NO_NODE,
                what,
            )
            .map_err(|error| TempAllocError {
                what,
                error: alloc::boxed::Box::new(error),
            })?;
        self.temporaries.push((p, size, what));
        Ok(p)
    }

    /// `memblock_free_early()` of a temporary array.
    fn temp_free<M: Machine + ?Sized>(
        &mut self,
        ctx: &mut Ctx<'_, M>,
        p: u64,
        size: u64,
        what: &'static str,
    ) {
        if let Err(e) = ctx.mb.free(p, size, what) {
            ctx.err(format_args!("sparse_init: cannot free {what}: {e}"));
        }
    }

    /// The physical range of the section table's allocations, the usemaps and the
    /// vmemmap list chunks: everything sparse_init reserved besides the blocks.
    pub fn metadata_allocs(&self) -> Vec<(u64, u64)> {
        let mut v: Vec<(u64, u64)> = self.sections.allocs.clone();
        v.extend(self.usemaps.iter().map(|u| (u.pa, u.size)));
        v.extend(self.vmemmap.list_chunks.iter().copied());
        v
    }

    /// Free memory (memblock's) in sections dropped after a failure: memory Linux never
    /// hands to the page allocator, since it has no struct pages.
    pub fn dropped_free_bytes(&self, mb: &Memblock) -> u64 {
        let mut sections: Vec<u64> = self.dropped.iter().map(|d| d.section).collect();
        sections.sort_unstable();
        sections.dedup();
        sections
            .into_iter()
            .map(|s| {
                let base = s << SECTION_SIZE_BITS;
                mb.free_size_in(base, base + (1 << SECTION_SIZE_BITS))
            })
            .sum()
    }

    /// `pfn_valid()`.
    pub fn pfn_valid<M: KernelMemory + ?Sized>(&self, m: &mut M, pfn: u64) -> bool {
        self.sections.pfn_valid(m, pfn)
    }
}

/// Group the present sections into runs of the same early node, as sparse_init does.
pub fn node_runs<M: KernelMemory + ?Sized>(
    sections: &MemSections,
    m: &mut M,
    present: &[u64],
) -> Vec<NodeRun> {
    let mut runs: Vec<NodeRun> = Vec::new();
    for &p in present {
        let nid = sections.get(m, p).early_nid();
        match runs.last_mut() {
            Some(r) if r.nid == nid => r.sections.push(p),
            _ => runs.push(NodeRun {
                nid,
                sections: vec![p],
            }),
        }
    }
    runs
}
