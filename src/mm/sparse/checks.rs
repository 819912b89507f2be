//! The `sparse` suite of boot self-checks (KTAP cases), run after struct pages are
//! initialised. Each compares two independent views: the kernel's own records, memory
//! read back (section table, `vmemmap_list`, struct pages through the vmemmap and
//! through the linear mapping), the hashed page table read back with H_READ, and
//! memblock.
//!
//! A sparse_init that hit allocation or mapping failures and did what Linux does
//! (dropped sections, leaked a block whose mapping failed, left a block out of
//! `vmemmap_list` after its `WARN_ON`) is checked for exactly that state: each dropped
//! section as Linux leaves it, everything else as on a clean boot for the sections that
//! survived. A drop counts only if sparse_init recorded it and its failure was a real
//! one: a vmemmap page that could not be backed *again* after a block already backed
//! it (the 2018 ordering) does not excuse the sections it cost. Every diagnostic ends
//! with what was dropped or left out, if anything.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::ktap::Check;
use crate::mm::hash::HStatus;
use crate::mm::memblock::{Memblock, RegionFlags};
use crate::mm::{PAGE_SHIFT, PAGE_SIZE};

use super::init::{DropCause, Dropped, Order, Sparse};
use super::machine::{HashParams, KernelMemory, Machine, checked_pa, va};
use super::memmap::{MemmapStats, mem_pfn_ranges, section_nids};
use super::page::Zone;
use super::section::*;
use super::vmemmap::{ENOMEM, ListRead, VMEMMAP_BASE, count_mappings, page_to_pfn, pfn_to_page};

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

    /// The check: `ok_diag` if there was no problem, else the first and how many more;
    /// either followed by `note` (what sparse_init dropped or left out).
    fn check(self, name: &'static str, ok_diag: String, note: &str) -> Check {
        match self.first {
            None => Check::new(name, true, ok_diag + note),
            Some(first) if self.count == 1 => Check::new(name, false, first + note),
            Some(first) => Check::new(
                name,
                false,
                format!("{first} (and {} more){note}", self.count - 1),
            ),
        }
    }
}

/// Hash entries of one vmemmap page, `(primary, secondary)`, or the H_READ that failed.
type Entries = Result<(u64, u64), (u64, HStatus)>;

/// What every check needs to know first: `vmemmap_list` as read back, which present
/// sections must have a memory map and which were dropped as Linux drops them, the
/// vmemmap pages that must be mapped, and the hashed page table's entries for those
/// and for every page a block was allocated for.
struct Survey<'a> {
    list: ListRead,
    /// The early node of each present section, in `present` order.
    nids: Vec<i32>,
    /// Present sections that must have a memory map: `(index in present, section)`.
    expect_valid: Vec<(usize, u64)>,
    /// Sections dropped after a failure Linux survives: `(index in present, record)`.
    dropped: Vec<(usize, &'a Dropped)>,
    /// Sections sparse_init dropped for a failure that does not excuse it, and why.
    suspect: BTreeMap<u64, String>,
    /// Drop records that name no present section or one already dropped.
    bad_records: Vec<String>,
    /// The vmemmap pages that must be mapped once: those of `expect_valid`, of dropped
    /// sections whose memory map was populated all the same, and those mapped for a
    /// dropped section before its memory map failed.
    pages: Vec<u64>,
    /// How many of `pages` are only the last kind.
    partial: usize,
    /// Blocks (indices in `vmemmap.blocks`) whose mapping failed.
    failed_blocks: BTreeSet<usize>,
    /// Of them, those whose failure was a real one (no block backed the page before).
    leaked_blocks: BTreeSet<usize>,
    /// Blocks left out of `vmemmap_list` after its warning.
    warned_blocks: BTreeSet<usize>,
    /// Hash entries per vmemmap page of `pages` and of every block.
    entries: BTreeMap<u64, Entries>,
    /// H_READ calls made for `entries`.
    reads: u64,
}

impl<'a> Survey<'a> {
    fn new<M: Machine + ?Sized>(m: &mut M, inp: &Inputs<'a>) -> Self {
        let sp = inp.sparse;
        let vm = &sp.vmemmap;
        let list = vm.list(m);
        let nids = section_nids(sp);
        let failed_blocks: BTreeSet<usize> = vm
            .failures
            .iter()
            .filter_map(|f| f.failed_block())
            .filter(|&b| b < vm.blocks.len())
            .collect();
        // A failure is real if no block allocated before it backs its page and was
        // mapped: otherwise the page was there already and populating it again was the
        // mistake.
        let duplicate = |i: usize| -> Option<String> {
            let Some(f) = vm.failures.get(i) else {
                return Some(format!("its vmemmap failure #{i} was never recorded"));
            };
            let end = f.block.min(vm.blocks.len());
            vm.blocks[..end]
                .iter()
                .enumerate()
                .find(|&(j, b)| b.virt == f.page && !failed_blocks.contains(&j))
                .map(|(_, b)| {
                    format!(
                        "dropped after vmemmap page {:#x} could not be backed again ({}), though the block at {:#x} already backed it",
                        f.page,
                        if f.rc == -ENOMEM {
                            "no memory"
                        } else {
                            "mapping failed"
                        },
                        b.phys
                    )
                })
        };
        let leaked_blocks: BTreeSet<usize> = vm
            .failures
            .iter()
            .enumerate()
            .filter(|&(i, _)| duplicate(i).is_none())
            .filter_map(|(_, f)| f.failed_block())
            .filter(|b| failed_blocks.contains(b))
            .collect();
        let warned_blocks: BTreeSet<usize> = vm
            .blocks
            .iter()
            .enumerate()
            .filter(|(_, b)| !b.recorded && vm.list_warnings.contains(&(b.virt, b.phys)))
            .map(|(i, _)| i)
            .collect();
        let index: BTreeMap<u64, usize> = sp
            .present
            .iter()
            .enumerate()
            .map(|(k, &p)| (p, k))
            .collect();
        let mut dropped: BTreeMap<usize, &Dropped> = BTreeMap::new();
        let mut suspect = BTreeMap::new();
        let mut bad_records = Vec::new();
        for d in &sp.dropped {
            let Some(&k) = index.get(&d.section) else {
                bad_records.push(format!(
                    "sparse_init recorded dropping {}, which is not present",
                    section_range(d.section)
                ));
                continue;
            };
            if dropped.contains_key(&k) || suspect.contains_key(&d.section) {
                bad_records.push(format!(
                    "sparse_init recorded dropping {} twice",
                    section_range(d.section)
                ));
                continue;
            }
            match d.cause {
                DropCause::Usemap => {
                    dropped.insert(k, d);
                }
                DropCause::MemMap(i) => match duplicate(i) {
                    None => {
                        dropped.insert(k, d);
                    }
                    Some(why) => {
                        suspect.insert(d.section, why);
                    }
                },
            }
        }
        let expect_valid: Vec<(usize, u64)> = sp
            .present
            .iter()
            .copied()
            .enumerate()
            .filter(|(k, _)| !dropped.contains_key(k))
            .collect();
        let size = vm.page_size;
        let mut pages: Vec<u64> = expect_valid
            .iter()
            .map(|&(_, p)| p)
            .chain(dropped.values().filter(|d| d.populated).map(|d| d.section))
            .flat_map(|p| map_pages(p, size))
            .collect();
        pages.sort_unstable();
        pages.dedup();
        // With vmemmap pages smaller than a section's map, a section whose memory map
        // failed part of the way keeps the pages mapped before the failure (Linux does
        // not undo them): those must be mapped once too.
        let dropped_maps: BTreeSet<u64> = dropped
            .values()
            .flat_map(|d| map_pages(d.section, size))
            .collect();
        let partial: BTreeSet<u64> = vm
            .blocks
            .iter()
            .enumerate()
            .filter(|(i, b)| {
                !failed_blocks.contains(i)
                    && dropped_maps.contains(&b.virt)
                    && pages.binary_search(&b.virt).is_err()
            })
            .map(|(_, b)| b.virt)
            .collect();
        pages.extend(partial.iter().copied());
        pages.sort_unstable();
        let mut entries = BTreeMap::new();
        let mut reads = 0;
        for page in pages
            .iter()
            .copied()
            .chain(vm.blocks.iter().map(|b| b.virt))
        {
            if let alloc::collections::btree_map::Entry::Vacant(e) = entries.entry(page) {
                let r = count_mappings(m, &inp.hash, page);
                reads += if r.is_ok() { 16 } else { 0 };
                e.insert(r);
            }
        }
        Survey {
            list,
            nids,
            expect_valid,
            dropped: dropped.into_iter().collect(),
            suspect,
            bad_records,
            pages,
            partial: partial.len(),
            failed_blocks,
            leaked_blocks,
            warned_blocks,
            entries,
            reads,
        }
    }

    /// Is the vmemmap page that holds `ea` in the hashed page table (so that reading
    /// it cannot fault)?
    fn mapped(&self, ea: u64, page_size: u64) -> bool {
        matches!(self.entries.get(&(ea & !(page_size - 1))), Some(Ok((p, s))) if p + s > 0)
    }

    /// Is all of section `pnum`'s memory map in the hashed page table?
    fn map_mapped(&self, pnum: u64, page_size: u64) -> bool {
        map_pages(pnum, page_size).all(|page| self.mapped(page, page_size))
    }

    /// Why the vmemmap page holding `ea` does not count as mapped: not in the table, or
    /// its lookup failed (a failed H_READ must not read as a missing entry).
    fn unmapped_why(&self, ea: u64, page_size: u64) -> String {
        match self.entries.get(&(ea & !(page_size - 1))) {
            Some(Err((ptex, st))) => {
                format!("could not be looked up in the hash table (H_READ of ptex {ptex:#x}: {st})")
            }
            _ => "is not in the hash table".into(),
        }
    }

    /// [`Self::unmapped_why`] for the first page of section `pnum`'s map not mapped.
    fn map_unmapped_why(&self, pnum: u64, page_size: u64) -> String {
        map_pages(pnum, page_size)
            .find(|&page| !self.mapped(page, page_size))
            .map_or_else(String::new, |page| self.unmapped_why(page, page_size))
    }

    /// What sparse_init dropped or left out, for the end of every diagnostic: empty
    /// after a clean sparse_init.
    fn note(&self, present: usize) -> String {
        let mut parts: Vec<String> = Vec::new();
        if !self.dropped.is_empty() {
            let usemap = self
                .dropped
                .iter()
                .filter(|(_, d)| d.cause == DropCause::Usemap)
                .count();
            let memmap = self.dropped.len() - usemap;
            let mut why: Vec<String> = Vec::new();
            if usemap > 0 {
                why.push(format!("{usemap} after usemap failures"));
            }
            if memmap > 0 {
                why.push(format!("{memmap} after memory map failures"));
            }
            parts.push(format!(
                "{} of {present} present sections dropped ({})",
                self.dropped.len(),
                why.join(", ")
            ));
        }
        if !self.warned_blocks.is_empty() {
            parts.push(format!(
                "{} blocks not in vmemmap_list after vmemmap_list_populate's WARN",
                self.warned_blocks.len()
            ));
        }
        if !self.leaked_blocks.is_empty() {
            parts.push(format!(
                "{} blocks left unmapped after failed mappings",
                self.leaked_blocks.len()
            ));
        }
        if parts.is_empty() {
            String::new()
        } else {
            format!("; degraded: {}", parts.join(", "))
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

/// The vmemmap pages section `pnum`'s 16 KiB memory map lies in (one, unless the pages
/// are smaller than 16 KiB).
fn map_pages(pnum: u64, page_size: u64) -> impl Iterator<Item = u64> {
    let map = pfn_to_page(section_nr_to_pfn(pnum));
    (map & !(page_size - 1)..map + SECTION_MEMMAP_SIZE).step_by(page_size as usize)
}

/// Every check of the suite, in order.
pub fn sparse_selftests<M: Machine + ?Sized>(m: &mut M, inp: &Inputs<'_>) -> Vec<Check> {
    let sv = Survey::new(m, inp);
    let note = sv.note(inp.sparse.present.len());
    alloc::vec![
        sections_valid(m, inp, &sv, &note),
        mapped_once(inp, &sv, &note),
        backings(inp, &sv, &note),
        usemaps(m, inp, &sv, &note),
        round_trip(m, inp, &sv, &note),
        memmap_size(inp, &sv, &note),
        struct_pages(m, inp, &sv, &note),
    ]
}

/// What Linux leaves in a section it dropped in `order`: cleared, except v4.18 after a
/// usemap failure, which skips the section (present, online, its early node, no map).
fn dropped_state(order: Order, cause: DropCause, nid: i32) -> u64 {
    match (order, cause) {
        (Order::V418, DropCause::Usemap) => {
            encode_early_nid(nid) | SECTION_IS_ONLINE | SECTION_MARKED_PRESENT
        }
        _ => 0,
    }
}

fn cause_name(cause: DropCause) -> &'static str {
    match cause {
        DropCause::Usemap => "its usemap allocation failed",
        DropCause::MemMap(_) => "its memory map could not be backed",
    }
}

/// Every present section is valid, with the vmemmap's encoded map, except those dropped
/// after a failure: each as Linux leaves it, `pfn_valid()` false for its pfns, and its
/// memory still in memblock.
fn sections_valid<M: Machine + ?Sized>(
    m: &mut M,
    inp: &Inputs<'_>,
    sv: &Survey<'_>,
    note: &str,
) -> Check {
    let want = VMEMMAP_BASE | SECTION_MARKED_PRESENT | SECTION_HAS_MEM_MAP | SECTION_IS_ONLINE;
    let sp = inp.sparse;
    let mut p = Problems::new();
    for r in &sv.bad_records {
        p.add(|| r.clone());
    }
    for &(_, pnum) in &sv.expect_valid {
        let ms = sp.sections.get(m, pnum);
        if ms.section_mem_map != want || !sp.pfn_valid(m, section_nr_to_pfn(pnum)) {
            p.add(|| {
                format!(
                    "{}: section_mem_map {:#x}, want {want:#x}{}{}",
                    section_range(pnum),
                    ms.section_mem_map,
                    if ms.valid() { "" } else { " (no memory map)" },
                    sv.suspect
                        .get(&pnum)
                        .map_or(String::new(), |why| format!(": {why}"))
                )
            });
        }
    }
    for &(k, d) in &sv.dropped {
        let pnum = d.section;
        let ms = sp.sections.get(m, pnum);
        let state = dropped_state(sp.order, d.cause, sv.nids[k]);
        if ms.section_mem_map != state {
            p.add(|| {
                format!(
                    "{}: dropped ({}), but section_mem_map {:#x}, want {state:#x}",
                    section_range(pnum),
                    cause_name(d.cause),
                    ms.section_mem_map
                )
            });
        }
        let first = section_nr_to_pfn(pnum);
        for pfn in [first, first + PAGES_PER_SECTION - 1] {
            if sp.pfn_valid(m, pfn) {
                p.add(|| {
                    format!(
                        "{}: dropped, but pfn {pfn:#x} is valid",
                        section_range(pnum)
                    )
                });
            }
        }
        let (b, e) = (
            first << PAGE_SHIFT,
            (first + PAGES_PER_SECTION) << PAGE_SHIFT,
        );
        if !inp.mb.memory().iter().any(|r| r.base < e && b < r.end()) {
            p.add(|| {
                format!(
                    "{}: dropped, and its memory is no longer in memblock",
                    section_range(pnum)
                )
            });
        }
    }
    let n = sp.present.len();
    let v = sv.expect_valid.len();
    let ok = if sv.dropped.is_empty() {
        format!("{v} of {n} present sections valid, section_mem_map {want:#x}")
    } else {
        format!(
            "{v} of {n} present sections valid, section_mem_map {want:#x}; the {} dropped as Linux leaves them (no memory map, pfn_valid false, memory still in memblock)",
            sv.dropped.len()
        )
    };
    p.check("sparse_sections_valid", ok, note)
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

/// Each vmemmap page the sections with a memory map need has one block that was
/// mapped, one entry in the hashed page table, and in `vmemmap_list` an entry for each
/// of its blocks but those left out after the list's warning (so once, unless a block's
/// mapping failed before). A page no such section needs is not mapped at all.
fn mapped_once(inp: &Inputs<'_>, sv: &Survey<'_>, note: &str) -> Check {
    let name = "sparse_vmemmap_mapped_once";
    if let Some(d) = list_diag(&sv.list) {
        return Check::new(name, false, d + note);
    }
    let entries = sv.list.as_ref().map_or(&[][..], |v| v.as_slice());
    let mut per_virt: BTreeMap<u64, u64> = BTreeMap::new();
    for &(_, virt) in entries {
        *per_virt.entry(virt).or_default() += 1;
    }
    // Per vmemmap page: blocks the kernel recorded in the list, and blocks that were
    // mapped (their mapping did not fail).
    let mut blocks: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
    for (i, b) in inp.sparse.vmemmap.blocks.iter().enumerate() {
        let e = blocks.entry(b.virt).or_default();
        e.0 += u64::from(b.recorded);
        e.1 += u64::from(!sv.failed_blocks.contains(&i));
    }
    let mut p = Problems::new();
    for &page in &sv.pages {
        let listed = per_virt.get(&page).copied().unwrap_or(0);
        let (recorded, mapped) = blocks.get(&page).copied().unwrap_or((0, 0));
        match sv.entries[&page] {
            Ok((prim, sec)) => {
                if listed != recorded || mapped != 1 || prim + sec != 1 {
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
    for (&page, &(_, mapped)) in &blocks {
        if sv.pages.binary_search(&page).is_ok() {
            continue;
        }
        match sv.entries[&page] {
            Ok((prim, sec)) if mapped == 0 && prim + sec == 0 => {}
            Ok((prim, sec)) => p.add(|| {
                format!(
                    "vmemmap page {page:#x}: no section with a memory map needs it, but {mapped} blocks were mapped and it has {} entries in the hash table",
                    prim + sec
                )
            }),
            Err((ptex, st)) => {
                p.add(|| format!("vmemmap page {page:#x}: H_READ of ptex {ptex:#x}: {st}"))
            }
        }
    }
    let psize = inp.hash.vmemmap_psize.name();
    let ok = if sv.failed_blocks.is_empty() && sv.warned_blocks.is_empty() {
        format!(
            "{} vmemmap pages of {psize}: each once in vmemmap_list and once in the hash table ({} entries read with H_READ)",
            sv.pages.len(),
            sv.reads
        )
    } else {
        format!(
            "{} vmemmap pages of {psize}: each mapped by one block, once in the hash table, in vmemmap_list once per block recorded there ({} left out after the list's warning, {} whose mapping failed); {} pages with only failed blocks, not mapped ({} entries read with H_READ)",
            sv.pages.len(),
            sv.warned_blocks.len(),
            sv.failed_blocks.len(),
            sv.entries.len() - sv.pages.len(),
            sv.reads
        )
    };
    p.check(name, ok, note)
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

/// Every block the kernel allocated is in `vmemmap_list` with its page (unless it was
/// left out after the list's warning), is reserved, and overlaps no other block, no
/// earlier reservation and no other sparse allocation.
fn backings(inp: &Inputs<'_>, sv: &Survey<'_>, note: &str) -> Check {
    let name = "sparse_vmemmap_backings";
    if let Some(d) = list_diag(&sv.list) {
        return Check::new(name, false, d + note);
    }
    let entries = sv.list.as_ref().map_or(&[][..], |v| v.as_slice());
    let vm = &inp.sparse.vmemmap;
    let size = vm.page_size;
    let mut p = Problems::new();
    let mut listed: Vec<(u64, u64)> = entries.to_vec();
    listed.sort_unstable();
    // In address order, as the diagnostic names the first.
    let mut order: Vec<usize> = (0..vm.blocks.len()).collect();
    order.sort_unstable_by_key(|&i| (vm.blocks[i].phys, vm.blocks[i].virt));
    for i in order {
        let b = vm.blocks[i];
        let found = listed.binary_search(&(b.phys, b.virt)).is_ok();
        if !found && !sv.warned_blocks.contains(&i) {
            p.add(|| {
                format!(
                    "block at {:#x} for {:#x} is not in vmemmap_list",
                    b.phys, b.virt
                )
            });
        } else if found && !b.recorded {
            p.add(|| {
                format!(
                    "block at {:#x} for {:#x} is in vmemmap_list, though left out after its warning",
                    b.phys, b.virt
                )
            });
        }
    }
    let mut blocks: Vec<(u64, u64)> = vm.blocks.iter().map(|b| (b.phys, b.virt)).collect();
    blocks.sort_unstable();
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
    let ok = if sv.warned_blocks.is_empty() {
        format!(
            "{} blocks of {} in vmemmap_list, reserved, overlapping nothing else",
            blocks.len(),
            inp.hash.vmemmap_psize.name()
        )
    } else {
        format!(
            "{} blocks of {} reserved, overlapping nothing else, in vmemmap_list but the {} left out after its warning",
            blocks.len(),
            inp.hash.vmemmap_psize.name(),
            sv.warned_blocks.len()
        )
    };
    p.check(name, ok, note)
}

/// Every present section but the dropped ones has its own usemap, inside a reserved
/// usemap allocation; the dropped ones have none.
fn usemaps<M: Machine + ?Sized>(m: &mut M, inp: &Inputs<'_>, sv: &Survey<'_>, note: &str) -> Check {
    let mut p = Problems::new();
    let allocs = &inp.sparse.usemaps;
    for &(_, d) in &sv.dropped {
        let u = inp.sparse.sections.get(m, d.section).pageblock_flags;
        if u != 0 {
            p.add(|| {
                format!(
                    "{}: dropped ({}), but has usemap {u:#x}",
                    section_range(d.section),
                    cause_name(d.cause)
                )
            });
        }
    }
    let mut seen: Vec<u64> = Vec::with_capacity(sv.expect_valid.len());
    for &(_, pnum) in &sv.expect_valid {
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
    let mut ok = format!(
        "{} sections with their own {}-byte usemap in {} allocations",
        sv.expect_valid.len(),
        usemap_size(),
        allocs.len()
    );
    if !sv.dropped.is_empty() {
        ok += &format!(", the {} dropped without one", sv.dropped.len());
    }
    p.check("sparse_usemaps", ok, note)
}

/// For the first and last pfn of every section with a memory map: pfn -> page -> pfn;
/// the section's decoded map is the vmemmap's; the struct page read through the
/// vmemmap has the node, zone, refcount and list head it was given; and the same words
/// are at the block `vmemmap_list` records for that page (leaving out blocks whose
/// mapping failed; the kernel's record for a block left out of the list after its
/// warning), read through the linear mapping.
fn round_trip<M: Machine + ?Sized>(
    m: &mut M,
    inp: &Inputs<'_>,
    sv: &Survey<'_>,
    note: &str,
) -> Check {
    let name = "sparse_pfn_round_trip";
    if let Some(d) = list_diag(&sv.list) {
        return Check::new(name, false, d + note);
    }
    let entries = sv.list.as_ref().map_or(&[][..], |v| v.as_slice());
    let vm = &inp.sparse.vmemmap;
    let size = vm.page_size;
    let failed: BTreeSet<(u64, u64)> = sv
        .failed_blocks
        .iter()
        .map(|&i| (vm.blocks[i].phys, vm.blocks[i].virt))
        .collect();
    // Per vmemmap page: the entries the list has for it, how many of them are blocks
    // whose mapping failed, and the blocks that back it (the list's others, and any
    // left out of the list after its warning).
    let mut backing: BTreeMap<u64, (u64, u64, Vec<u64>)> = BTreeMap::new();
    for &(phys, virt) in entries {
        let e = backing.entry(virt).or_default();
        e.0 += 1;
        if failed.contains(&(phys, virt)) {
            e.1 += 1;
        } else {
            e.2.push(phys);
        }
    }
    for &i in &sv.warned_blocks {
        let b = vm.blocks[i];
        if !failed.contains(&(b.phys, b.virt)) {
            backing.entry(b.virt).or_default().2.push(b.phys);
        }
    }
    let known: BTreeSet<(u64, u64)> = vm.blocks.iter().map(|b| (b.phys, b.virt)).collect();
    let mem = mem_pfn_ranges(inp.mb);
    let nids = &sv.nids;
    let mut p = Problems::new();
    let mut checked = 0u64;
    for &(k, pnum) in &sv.expect_valid {
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
            if !sv.mapped(ea, size) {
                p.add(|| {
                    format!(
                        "pfn {pfn:#x}: vmemmap page of {ea:#x} {}",
                        sv.unmapped_why(ea, size)
                    )
                });
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
            match backing.get(&virt).map(|v| (v.0, v.1, v.2.as_slice())) {
                Some((_, _, &[phys])) if !known.contains(&(phys, virt)) => p.add(|| {
                    format!("pfn {pfn:#x}: vmemmap_list names {phys:#x} for {virt:#x}, a block never allocated")
                }),
                Some((_, _, &[phys])) => {
                    let linear = va(phys + (ea - virt));
                    let w = m.read_u64(linear);
                    if w != page.flags {
                        p.add(|| format!("pfn {pfn:#x}: flags {:#x} through the vmemmap, {w:#x} at its backing {linear:#x}", page.flags));
                    }
                }
                other => p.add(|| {
                    let (all, failed) = other.map_or((0, 0), |v| (v.0, v.1));
                    format!(
                        "pfn {pfn:#x}: vmemmap page {virt:#x} has {all} backings in vmemmap_list{}",
                        if failed == 0 {
                            String::new()
                        } else {
                            format!(" ({failed} of them failed to map)")
                        }
                    )
                }),
            }
        }
    }
    let ok = if note.is_empty() {
        format!(
            "{checked} pfns (first and last of each section): pfn -> page -> pfn, struct page through the vmemmap equal to its backing"
        )
    } else {
        format!(
            "{checked} pfns (first and last of each of {} sections with a memory map): pfn -> page -> pfn, struct page through the vmemmap equal to its backing",
            sv.expect_valid.len()
        )
    };
    p.check(name, ok, note)
}

/// Memory map bytes = the 16 KiB maps of the sections with a memory map rounded up to
/// vmemmap pages, plus the blocks whose mapping failed (Linux leaks them).
fn memmap_size(inp: &Inputs<'_>, sv: &Survey<'_>, note: &str) -> Check {
    let vm = &inp.sparse.vmemmap;
    let got = vm.blocks.len() as u64 * vm.page_size;
    let pages = (sv.pages.len() - sv.partial) as u64;
    let partial = sv.partial as u64;
    let leaked = sv.leaked_blocks.len() as u64;
    let want = (pages + partial + leaked) * vm.page_size;
    let n = (sv.expect_valid.len() + sv.dropped.iter().filter(|(_, d)| d.populated).count()) as u64;
    let diag = format!(
        "memmap {} KiB in {} blocks; {n} sections x 16 KiB = {} KiB rounded up to {pages} vmemmap pages of {}{}{} = {} KiB{note}",
        got / 1024,
        vm.blocks.len(),
        n * SECTION_MEMMAP_SIZE / 1024,
        inp.hash.vmemmap_psize.name(),
        if partial == 0 {
            String::new()
        } else {
            format!(", plus {partial} pages mapped for dropped sections before their failure")
        },
        if leaked == 0 {
            String::new()
        } else {
            format!(", plus {leaked} blocks whose mapping failed")
        },
        want / 1024
    );
    Check::new("sparse_memmap_size", got == want, diag)
}

/// Does the struct page at `ea` look like one memmap_init initialised (refcount 1,
/// mapcount -1, an empty list pointing at itself)? Memory never written reads as
/// whatever was there, which is not that.
fn initialised<M: KernelMemory + ?Sized>(m: &mut M, ea: u64) -> bool {
    let page = m.read_page(ea);
    page.refcount == 1 && page.mapcount == -1 && page.lru == [ea + 8, ea + 8]
}

/// Struct pages: one per pfn of every valid section; the free ones are exactly
/// memblock's free memory in whole pages within those sections. A dropped section's
/// struct pages, where its vmemmap page is mapped at all, were not initialised.
fn struct_pages<M: Machine + ?Sized>(
    m: &mut M,
    inp: &Inputs<'_>,
    sv: &Survey<'_>,
    note: &str,
) -> Check {
    let st = inp.memmap;
    let size = inp.sparse.vmemmap.page_size;
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
        if !sv.map_mapped(pnum, size) {
            p.add(|| {
                format!(
                    "{}: valid, but its vmemmap page {} (struct pages not read)",
                    section_range(pnum),
                    sv.map_unmapped_why(pnum, size)
                )
            });
            continue;
        }
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
    let mut dropped_read = 0u64;
    for &(_, d) in &sv.dropped {
        let first = section_nr_to_pfn(d.section);
        for pfn in [first, first + PAGES_PER_SECTION - 1] {
            let ea = pfn_to_page(pfn);
            if !sv.mapped(ea, size) {
                continue;
            }
            dropped_read += 1;
            if initialised(m, ea) {
                p.add(|| {
                    format!(
                        "pfn {pfn:#x}: {} was dropped, but its struct page is initialised",
                        section_range(d.section)
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
    let mut summary = format!(
        "{} struct pages read through the vmemmap for {} valid sections (want {want_pages}): {read_free} free (memblock: {free}, memmap_init: {}), {read_reserved} reserved (memmap_init: {})",
        read_free + read_reserved,
        valid.len(),
        st.free,
        st.reserved
    );
    if !sv.dropped.is_empty() {
        summary += &format!(
            "; none initialised for the {} dropped ({dropped_read} of their first and last struct pages mapped and read back)",
            sv.dropped.len()
        );
    }
    match p.first {
        None => Check::new("sparse_struct_pages", true, summary + note),
        Some(first) => Check::new(
            "sparse_struct_pages",
            false,
            format!("{summary}; {first} ({} problems){note}", p.count),
        ),
    }
}
