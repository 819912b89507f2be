//! The `sparse` suite of boot self-checks (KTAP cases), run after struct pages are
//! initialised. Each compares two independent views: the kernel's own records, memory
//! read back (section table, `vmemmap_list`, struct pages through the vmemmap and
//! through the linear mapping), the hashed page table read back with H_READ, and
//! memblock.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::ktap::Check;
use crate::mm::memblock::{Memblock, RegionFlags};
use crate::mm::{PAGE_SHIFT, PAGE_SIZE};

use super::init::Sparse;
use super::machine::{HashParams, Machine, checked_pa, va};
use super::memmap::{MemmapStats, mem_pfn_ranges, section_nids};
use super::page::Zone;
use super::section::*;
use super::vmemmap::{ListRead, VMEMMAP_BASE, count_mappings, page_to_pfn, pfn_to_page};

/// What the checks need besides the machine.
pub struct Inputs<'a> {
    pub mb: &'a Memblock,
    pub sparse: &'a Sparse,
    pub hash: HashParams<'a>,
    /// memblock's reservations just before sparse init allocated anything.
    pub reserved_before: &'a [(u64, u64)],
    pub memmap: MemmapStats,
}

/// The first problem and how many there were, for a diagnostic.
struct Problems {
    first: Option<String>,
    count: u64,
}

impl Problems {
    fn new() -> Self {
        Problems {
            first: None,
            count: 0,
        }
    }

    fn add(&mut self, f: impl FnOnce() -> String) {
        if self.first.is_none() {
            self.first = Some(f());
        }
        self.count += 1;
    }

    fn check(self, name: &'static str, ok_diag: String) -> Check {
        match self.first {
            None => Check::new(name, true, ok_diag),
            Some(first) if self.count == 1 => Check::new(name, false, first),
            Some(first) => Check::new(
                name,
                false,
                format!("{first} (and {} more)", self.count - 1),
            ),
        }
    }
}

fn section_range(pnum: u64) -> String {
    let b = section_nr_to_pfn(pnum) << PAGE_SHIFT;
    format!(
        "section {pnum} [mem {b:#018x}-{:#018x}]",
        b + (PAGES_PER_SECTION << PAGE_SHIFT) - 1
    )
}

/// Every check of the suite, in order.
pub fn sparse_selftests<M: Machine + ?Sized>(m: &mut M, inp: &Inputs<'_>) -> Vec<Check> {
    let list = inp.sparse.vmemmap.list(m);
    alloc::vec![
        sections_valid(m, inp),
        mapped_once(m, inp, &list),
        backings(inp, &list),
        usemaps(m, inp),
        round_trip(m, inp, &list),
        memmap_size(inp),
        struct_pages(m, inp),
    ]
}

/// Every present section is valid, with the vmemmap's encoded map.
fn sections_valid<M: Machine + ?Sized>(m: &mut M, inp: &Inputs<'_>) -> Check {
    let want = VMEMMAP_BASE | SECTION_MARKED_PRESENT | SECTION_HAS_MEM_MAP | SECTION_IS_ONLINE;
    let mut p = Problems::new();
    for &pnum in &inp.sparse.present {
        let ms = inp.sparse.sections.get(m, pnum);
        if ms.section_mem_map != want || !inp.sparse.pfn_valid(m, section_nr_to_pfn(pnum)) {
            p.add(|| {
                format!(
                    "{}: section_mem_map {:#x}, want {want:#x}{}",
                    section_range(pnum),
                    ms.section_mem_map,
                    if ms.valid() { "" } else { " (no memory map)" }
                )
            });
        }
    }
    let n = inp.sparse.present.len();
    p.check(
        "sparse_sections_valid",
        format!("{n} of {n} present sections valid, section_mem_map {want:#x}"),
    )
}

/// The vmemmap pages the present sections' maps lie in, ascending.
fn needed_pages(inp: &Inputs<'_>) -> Vec<u64> {
    inp.sparse.vmemmap_pages_needed()
}

fn list_diag(list: &ListRead) -> Option<String> {
    match list {
        Ok(_) => None,
        Err(read) => Some(format!(
            "vmemmap_list is corrupt: it goes on past {} entries or out of its chunks",
            read.len()
        )),
    }
}

/// Each vmemmap page is in `vmemmap_list` once and in the hashed page table once.
fn mapped_once<M: Machine + ?Sized>(m: &mut M, inp: &Inputs<'_>, list: &ListRead) -> Check {
    let name = "sparse_vmemmap_mapped_once";
    if let Some(d) = list_diag(list) {
        return Check::new(name, false, d);
    }
    let entries = list.as_ref().map_or(&[][..], |v| v.as_slice());
    let mut per_virt: BTreeMap<u64, u64> = BTreeMap::new();
    for &(_, virt) in entries {
        *per_virt.entry(virt).or_default() += 1;
    }
    let pages = needed_pages(inp);
    let mut p = Problems::new();
    let mut reads = 0;
    for &page in &pages {
        let listed = per_virt.get(&page).copied().unwrap_or(0);
        match count_mappings(m, &inp.hash, page) {
            Ok((prim, sec)) => {
                reads += 16;
                if listed != 1 || prim + sec != 1 {
                    p.add(|| {
                        format!(
                            "vmemmap page {page:#x}: {listed} backings in vmemmap_list, {} entries in the hash table ({prim} primary, {sec} secondary)",
                            prim + sec
                        )
                    });
                }
            }
            Err((ptex, st)) => {
                p.add(|| format!("vmemmap page {page:#x}: H_READ of ptex {ptex:#x}: {st}"))
            }
        }
    }
    p.check(
        name,
        format!(
            "{} vmemmap pages of {}: each once in vmemmap_list and once in the hash table ({reads} entries read with H_READ)",
            pages.len(),
            inp.hash.vmemmap_psize.name()
        ),
    )
}

/// Is `[b, b + len)` inside one memblock reservation?
fn reserved_whole(mb: &Memblock, b: u64, len: u64) -> bool {
    mb.reserved()
        .iter()
        .any(|r| r.base <= b && b + len <= r.end())
}

fn overlaps(a: (u64, u64), b: (u64, u64)) -> bool {
    a.0 < b.0 + b.1 && b.0 < a.0 + a.1
}

/// Every block the kernel allocated is in `vmemmap_list` with its page, is reserved,
/// and overlaps no other block, no earlier reservation and no other sparse allocation.
fn backings(inp: &Inputs<'_>, list: &ListRead) -> Check {
    let name = "sparse_vmemmap_backings";
    if let Some(d) = list_diag(list) {
        return Check::new(name, false, d);
    }
    let entries = list.as_ref().map_or(&[][..], |v| v.as_slice());
    let vm = &inp.sparse.vmemmap;
    let size = vm.page_size;
    let mut p = Problems::new();
    let mut listed: Vec<(u64, u64)> = entries.to_vec();
    listed.sort_unstable();
    let mut blocks: Vec<(u64, u64)> = vm.blocks.iter().map(|b| (b.phys, b.virt)).collect();
    blocks.sort_unstable();
    for b in &blocks {
        if listed.binary_search(b).is_err() {
            p.add(|| format!("block at {:#x} for {:#x} is not in vmemmap_list", b.0, b.1));
        }
    }
    for e in &listed {
        if blocks.binary_search(e).is_err() {
            p.add(|| {
                format!(
                    "vmemmap_list entry {:#x} -> {:#x} was never allocated",
                    e.1, e.0
                )
            });
        }
    }
    for &(phys, _) in &blocks {
        if !reserved_whole(inp.mb, phys, size) {
            p.add(|| {
                format!(
                    "block [mem {phys:#018x}-{:#018x}] is not reserved in memblock",
                    phys + size - 1
                )
            });
        }
    }
    for w in blocks.windows(2) {
        if w[1].0 < w[0].0 + size {
            p.add(|| format!("blocks at {:#x} and {:#x} overlap", w[0].0, w[1].0));
        }
    }
    let others: Vec<(u64, u64)> = inp
        .reserved_before
        .iter()
        .copied()
        .chain(inp.sparse.metadata_allocs())
        .collect();
    for &(phys, _) in &blocks {
        if let Some(o) = others.iter().find(|&&o| overlaps((phys, size), o)) {
            p.add(|| {
                format!(
                    "block [mem {phys:#018x}-{:#018x}] overlaps reservation [mem {:#018x}-{:#018x}]",
                    phys + size - 1,
                    o.0,
                    o.0 + o.1 - 1
                )
            });
        }
    }
    p.check(
        name,
        format!(
            "{} blocks of {} in vmemmap_list, reserved, overlapping nothing else",
            blocks.len(),
            inp.hash.vmemmap_psize.name()
        ),
    )
}

/// Every present section has its own usemap, inside a reserved usemap allocation.
fn usemaps<M: Machine + ?Sized>(m: &mut M, inp: &Inputs<'_>) -> Check {
    let mut p = Problems::new();
    let allocs = &inp.sparse.usemaps;
    let mut seen: Vec<u64> = Vec::with_capacity(inp.sparse.present.len());
    for &pnum in &inp.sparse.present {
        let u = inp.sparse.sections.get(m, pnum).pageblock_flags;
        if u == 0 {
            p.add(|| format!("{}: no usemap", section_range(pnum)));
            continue;
        }
        let up = checked_pa(u).unwrap_or(u64::MAX);
        if !allocs
            .iter()
            .any(|a| a.pa <= up && up.saturating_add(usemap_size()) <= a.pa + a.size)
        {
            p.add(|| {
                format!(
                    "{}: usemap {u:#x} is outside every usemap allocation",
                    section_range(pnum)
                )
            });
        }
        seen.push(up);
    }
    seen.sort_unstable();
    for w in seen.windows(2) {
        if w[0] == w[1] {
            p.add(|| format!("two sections share the usemap at {:#x}", va(w[0])));
        }
    }
    for a in allocs {
        if !reserved_whole(inp.mb, a.pa, a.size) {
            p.add(|| {
                format!(
                    "usemap allocation [mem {:#018x}-{:#018x}] is not reserved",
                    a.pa,
                    a.pa + a.size - 1
                )
            });
        }
    }
    p.check(
        "sparse_usemaps",
        format!(
            "{} sections with their own {}-byte usemap in {} allocations",
            inp.sparse.present.len(),
            usemap_size(),
            allocs.len()
        ),
    )
}

/// For the first and last pfn of every present section: pfn -> page -> pfn; the
/// section's decoded map is the vmemmap's; the struct page read through the vmemmap
/// has the node, zone, refcount and list head it was given; and the same words are at
/// the block `vmemmap_list` records for that page, read through the linear mapping.
fn round_trip<M: Machine + ?Sized>(m: &mut M, inp: &Inputs<'_>, list: &ListRead) -> Check {
    let name = "sparse_pfn_round_trip";
    if let Some(d) = list_diag(list) {
        return Check::new(name, false, d);
    }
    let entries = list.as_ref().map_or(&[][..], |v| v.as_slice());
    let size = inp.sparse.vmemmap.page_size;
    let mut backing: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for &(phys, virt) in entries {
        backing.entry(virt).or_default().push(phys);
    }
    let known: alloc::collections::BTreeSet<(u64, u64)> = inp
        .sparse
        .vmemmap
        .blocks
        .iter()
        .map(|b| (b.phys, b.virt))
        .collect();
    let mem = mem_pfn_ranges(inp.mb);
    let nids = section_nids(inp.sparse);
    let mut p = Problems::new();
    let mut checked = 0u64;
    for (k, &pnum) in inp.sparse.present.iter().enumerate() {
        let ms = inp.sparse.sections.get(m, pnum);
        if !ms.valid() {
            p.add(|| format!("{}: no memory map to look up", section_range(pnum)));
            continue;
        }
        let first = section_nr_to_pfn(pnum);
        if decode_mem_map(ms.section_mem_map, pnum) != pfn_to_page(first) {
            p.add(|| {
                format!(
                    "{}: decoded map {:#x}, vmemmap has {:#x}",
                    section_range(pnum),
                    decode_mem_map(ms.section_mem_map, pnum),
                    pfn_to_page(first)
                )
            });
            continue;
        }
        for pfn in [first, first + PAGES_PER_SECTION - 1] {
            checked += 1;
            let ea = pfn_to_page(pfn);
            if page_to_pfn(ea) != pfn {
                p.add(|| format!("pfn {pfn:#x} -> page {ea:#x} -> pfn {:#x}", page_to_pfn(ea)));
                continue;
            }
            let nid = mem
                .iter()
                .find(|r| r.0 <= pfn && pfn < r.1)
                .map_or(nids[k], |r| r.2);
            let page = m.read_page(ea);
            if page.nid() != nid
                || page.zone() != Some(Zone::Normal)
                || page.refcount != 1
                || page.lru != [ea + 8, ea + 8]
            {
                p.add(|| {
                    format!(
                        "pfn {pfn:#x}: struct page at {ea:#x} reads flags {:#x} refcount {} lru {:#x}, want node {nid} zone Normal refcount 1 lru {:#x}",
                        page.flags,
                        page.refcount,
                        page.lru[0],
                        ea + 8
                    )
                });
                continue;
            }
            let virt = ea & !(size - 1);
            match backing.get(&virt).map(|v| v.as_slice()) {
                Some(&[phys]) if !known.contains(&(phys, virt)) => p.add(|| {
                    format!("pfn {pfn:#x}: vmemmap_list names {phys:#x} for {virt:#x}, a block never allocated")
                }),
                Some(&[phys]) => {
                    let linear = va(phys + (ea - virt));
                    let w = m.read_u64(linear);
                    if w != page.flags {
                        p.add(|| format!("pfn {pfn:#x}: flags {:#x} through the vmemmap, {w:#x} at its backing {linear:#x}", page.flags));
                    }
                }
                other => p.add(|| {
                    format!(
                        "pfn {pfn:#x}: vmemmap page {virt:#x} has {} backings in vmemmap_list",
                        other.map_or(0, |v| v.len())
                    )
                }),
            }
        }
    }
    p.check(
        name,
        format!("{checked} pfns (first and last of each section): pfn -> page -> pfn, struct page through the vmemmap equal to its backing"),
    )
}

/// Memory map bytes = the present sections' 16 KiB maps rounded up to vmemmap pages.
fn memmap_size(inp: &Inputs<'_>) -> Check {
    let vm = &inp.sparse.vmemmap;
    let got = vm.blocks.len() as u64 * vm.page_size;
    let pages = needed_pages(inp).len() as u64;
    let want = pages * vm.page_size;
    let n = inp.sparse.present.len() as u64;
    let diag = format!(
        "memmap {} KiB in {} blocks; {n} sections x 16 KiB = {} KiB rounded up to {pages} vmemmap pages of {} = {} KiB",
        got / 1024,
        vm.blocks.len(),
        n * SECTION_MEMMAP_SIZE / 1024,
        inp.hash.vmemmap_psize.name(),
        want / 1024
    );
    Check::new("sparse_memmap_size", got == want, diag)
}

/// Struct pages: one per pfn of every valid section; the free ones are exactly
/// memblock's free memory in whole pages within those sections.
fn struct_pages<M: Machine + ?Sized>(m: &mut M, inp: &Inputs<'_>) -> Check {
    let st = inp.memmap;
    let valid: Vec<u64> = inp
        .sparse
        .present
        .iter()
        .copied()
        .filter(|&p| inp.sparse.sections.get(m, p).valid())
        .collect();
    let want_pages = valid.len() as u64 * PAGES_PER_SECTION;
    // Free whole pages computed here from memblock's arrays (not its iterators): each
    // memory region that is not NOMAP, minus every reservation, rounded in to whole
    // pages; as sorted pfn ranges.
    let reserved = inp.mb.reserved();
    let mut free_pfns: Vec<(u64, u64)> = Vec::new();
    for r in inp.mb.memory() {
        if r.flags.contains(RegionFlags::NOMAP) {
            continue;
        }
        let mut cur = r.base;
        let mut piece = |s: u64, e: u64| {
            let (s, e) = (s.div_ceil(PAGE_SIZE), e >> PAGE_SHIFT);
            if s < e {
                free_pfns.push((s, e));
            }
        };
        for x in reserved
            .iter()
            .filter(|x| x.end() > r.base && x.base < r.end())
        {
            if x.base > cur {
                piece(cur, x.base);
            }
            cur = cur.max(x.end());
        }
        if cur < r.end() {
            piece(cur, r.end());
        }
    }
    free_pfns.sort_unstable();
    // Every struct page, read back through the vmemmap: initialised (refcount 1,
    // mapcount -1, zone Normal), and PG_reserved exactly where memblock has no free page.
    let (mut read_reserved, mut read_free, mut free) = (0u64, 0u64, 0u64);
    let mut p = Problems::new();
    let mut fi = 0;
    for &pnum in &valid {
        let first = section_nr_to_pfn(pnum);
        for pfn in first..first + PAGES_PER_SECTION {
            while fi < free_pfns.len() && free_pfns[fi].1 <= pfn {
                fi += 1;
            }
            let memblock_free = fi < free_pfns.len() && free_pfns[fi].0 <= pfn;
            free += u64::from(memblock_free);
            let ea = pfn_to_page(pfn);
            let flags = m.read_u64(ea);
            let counts = m.read_u64(ea + super::page::COUNTS_OFFSET);
            let page = super::page::Page::from_words([flags, 0, 0, 0, 0, 0, counts, 0]);
            if page.refcount != 1 || page.mapcount != -1 || page.zone() != Some(Zone::Normal) {
                p.add(|| {
                    format!("pfn {pfn:#x}: not initialised (flags {flags:#x}, counts {counts:#x})")
                });
                continue;
            }
            if page.reserved() {
                read_reserved += 1;
            } else {
                read_free += 1;
            }
            if page.reserved() == memblock_free {
                p.add(|| {
                    format!(
                        "pfn {pfn:#x}: PG_reserved {} but memblock has it {}",
                        if page.reserved() { "set" } else { "clear" },
                        if memblock_free {
                            "free"
                        } else {
                            "reserved or not memory"
                        }
                    )
                });
            }
        }
    }
    if (valid.len() as u64, read_free, read_reserved) != (st.sections, st.free, st.reserved) {
        p.add(|| {
            format!(
                "memmap_init reported {} sections, {} free, {} reserved",
                st.sections, st.free, st.reserved
            )
        });
    }
    let summary = format!(
        "{} struct pages read through the vmemmap for {} valid sections (want {want_pages}): {read_free} free (memblock: {free}, memmap_init: {}), {read_reserved} reserved (memmap_init: {})",
        read_free + read_reserved,
        valid.len(),
        st.free,
        st.reserved
    );
    match p.first {
        None => Check::new("sparse_struct_pages", true, summary),
        Some(first) => Check::new(
            "sparse_struct_pages",
            false,
            format!("{summary}; {first} ({} problems)", p.count),
        ),
    }
}
