//! The virtual memory map on the hash MMU (Linux `arch/powerpc/mm/init_64.c`,
//! `hash__vmemmap_create_mapping`, `mm/sparse-vmemmap.c`).
//!
//! ```text
//!  0xf000_0000_0000_0000 = vmemmap: struct page of pfn n at vmemmap + 64 * n
//!  section n's memory map: [vmemmap + n * 16K, vmemmap + (n + 1) * 16K)
//!  one 16M vmemmap page = 1024 sections' maps = 16 GiB of RAM (one 64K page: 4 sections)
//! ```
//!
//! `vmemmap_populate(start, end, node)` aligns `start` down to the vmemmap page size and,
//! for each page up to `end`, skips it if `vmemmap_populated()` says a section whose map
//! lies in it is valid (`pfn_valid()`); otherwise it allocates a block of that size from
//! memblock, records it in `vmemmap_list` and bolts it into the hashed page table. Only
//! the validity of sections tells a page is already there: if sections are initialised
//! late, every section maps its page again (the 2018 failure).

use alloc::vec::Vec;

use crate::mm::PAGE_SIZE;
use crate::mm::hash::bolt::InsertError;
use crate::mm::hash::hpte::{
    HPTE_R_RPN, HPTE_V_VALID, HPTES_PER_GROUP, PROT_KERNEL_RW, hpt_hash, hpt_vpn, hpte_encode_avpn,
    hpte_v_compare, hpteg, kernel_vsid,
};
use crate::mm::hash::papr::H_AVPN;
use crate::mm::hash::{BoltError, BoltOptions, HStatus, HashPageTable, Hpte, Psize, bolt_mapping};
use crate::mm::memblock::MEMBLOCK_ALLOC_ACCESSIBLE;
use crate::prom::memory::MAX_PHYSMEM_BITS;

use super::machine::{Ctx, KernelMemory, Machine, checked_pa, va};
use super::mem_section::MemSections;
use super::section::{PAGE_SECTION_MASK, SECTION_MEMMAP_SIZE, STRUCT_PAGE_SIZE};

/// Start of the vmemmap (Linux `H_VMEMMAP_START`).
pub const VMEMMAP_BASE: u64 = 0xf000_0000_0000_0000;
/// Bytes of vmemmap for all of `2^MAX_PHYSMEM_BITS`.
pub const VMEMMAP_SIZE: u64 =
    ((1u64 << MAX_PHYSMEM_BITS) >> crate::mm::PAGE_SHIFT) * STRUCT_PAGE_SIZE;
/// End of the vmemmap.
pub const VMEMMAP_END: u64 = VMEMMAP_BASE + VMEMMAP_SIZE;

/// Linux's errno values as vmemmap_populate returns them.
pub const ENOMEM: i32 = 12;
pub const EFAULT: i32 = 14;
pub const ENOENT: i32 = 2;

/// `sizeof(struct vmemmap_backing)`: `{list, phys, virt_addr}`.
pub const VMEMMAP_BACKING_SIZE: u64 = 24;

/// `pfn_to_page()`.
pub const fn pfn_to_page(pfn: u64) -> u64 {
    VMEMMAP_BASE + pfn * STRUCT_PAGE_SIZE
}

/// `page_to_pfn()`.
pub const fn page_to_pfn(page: u64) -> u64 {
    (page - VMEMMAP_BASE) / STRUCT_PAGE_SIZE
}

/// `vmemmap_section_start()`: the first pfn of the section whose map holds vmemmap
/// address `page`.
pub const fn vmemmap_section_start(page: u64) -> u64 {
    ((page - VMEMMAP_BASE) / STRUCT_PAGE_SIZE) & PAGE_SECTION_MASK
}

/// `vmemmap_list` as read back: its `(phys, virt_addr)` entries, newest first, or, if it
/// runs on past the blocks allocated or out of its chunks, what was read until then.
pub type ListRead = Result<Vec<(u64, u64)>, Vec<(u64, u64)>>;

/// One block allocated for the vmemmap, as the kernel itself saw it (independent of the
/// in-memory `vmemmap_list`, so that the two can be compared).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Block {
    /// The vmemmap page it backs.
    pub virt: u64,
    pub phys: u64,
    pub node: i32,
    /// Recorded in `vmemmap_list`.
    pub recorded: bool,
    /// The hash mapping was created (it may have failed: the block then stays allocated
    /// and recorded, as in Linux).
    pub mapped: bool,
}

/// A vmemmap page [`vmemmap_populate`] could not back: Linux says so
/// (`vmemmap_populate: Unable to create vmemmap mapping`, or nothing for `-ENOMEM`) and
/// its caller drops the section(s) concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PopulateFailure {
    /// The vmemmap page.
    pub page: u64,
    /// `-ENOMEM`: no block could be allocated; `-EFAULT`: the block, `blocks[block]`,
    /// could not be mapped (it stays allocated and recorded, as in Linux).
    pub rc: i32,
    /// Blocks allocated before this attempt: the failed block, if any, is the one at
    /// this index.
    pub block: usize,
}

impl PopulateFailure {
    /// The index of the block whose mapping failed, if that was the failure.
    pub fn failed_block(&self) -> Option<usize> {
        (self.rc == -EFAULT).then_some(self.block)
    }
}

/// The vmemmap's state: `vmemmap_list` in memory and the kernel's own counts.
#[derive(Debug)]
pub struct Vmemmap {
    /// The vmemmap page size (16M or 64K on QEMU; whatever the device tree offers).
    pub psize: Psize,
    /// Its size in bytes.
    pub page_size: u64,
    /// Kernel address of the newest `vmemmap_backing` (Linux `vmemmap_list`), 0 if none.
    list_head: u64,
    /// The next free `vmemmap_backing` in the current chunk and how many are left.
    list_next: u64,
    list_left: u64,
    /// Every block allocated, oldest first.
    pub blocks: Vec<Block>,
    /// The 64K chunks `vmemmap_backing`s are carved from `(pa, size)`.
    pub list_chunks: Vec<(u64, u64)>,
    /// Successful and failed `hash__vmemmap_create_mapping` calls.
    pub mappings: u64,
    pub map_failures: u64,
    /// Entries removed again after a failed mapping (`htab_remove_mapping`).
    pub removed: u64,
    /// Every vmemmap page that could not be backed, in order.
    pub failures: Vec<PopulateFailure>,
    /// Blocks left out of `vmemmap_list` because no chunk for their entry could be
    /// allocated (Linux's `WARN_ON` in `vmemmap_list_populate`), `(virt, phys)`, as
    /// warned.
    pub list_warnings: Vec<(u64, u64)>,
}

impl Vmemmap {
    pub fn new(psize: Psize) -> Self {
        Vmemmap {
            psize,
            page_size: psize.size(),
            list_head: 0,
            list_next: 0,
            list_left: 0,
            blocks: Vec::new(),
            list_chunks: Vec::new(),
            mappings: 0,
            map_failures: 0,
            removed: 0,
            failures: Vec::new(),
            list_warnings: Vec::new(),
        }
    }

    /// `vmemmap_list` read back from memory, newest first: `(phys, virt_addr)`. A list
    /// longer than the blocks allocated (a loop or a stray pointer) is cut there and
    /// reported as `Err` with what was read.
    pub fn list<M: KernelMemory + ?Sized>(&self, m: &mut M) -> ListRead {
        let mut out = Vec::new();
        let mut p = self.list_head;
        while p != 0 {
            if out.len() >= self.blocks.len() || !self.in_chunks(p) {
                return Err(out);
            }
            out.push((m.read_u64(p + 8), m.read_u64(p + 16)));
            p = m.read_u64(p);
        }
        Ok(out)
    }

    fn in_chunks(&self, ea: u64) -> bool {
        let Some(p) = checked_pa(ea) else {
            return false;
        };
        self.list_chunks
            .iter()
            .any(|&(b, s)| b <= p && p.saturating_add(VMEMMAP_BACKING_SIZE) <= b + s)
    }

    /// `vmemmap_list_populate()`: record a block in `vmemmap_list`, carving the entry
    /// from a 64K chunk allocated on `node` when the last one is used up. Returns false
    /// (after a warning, Linux's `WARN_ON`) if no chunk can be allocated.
    fn list_populate<M: Machine + ?Sized>(
        &mut self,
        ctx: &mut Ctx<'_, M>,
        phys: u64,
        start: u64,
        node: i32,
    ) -> bool {
        if self.list_left == 0 {
            match ctx.mb.alloc_try_nid(
                PAGE_SIZE,
                PAGE_SIZE,
                0,
                MEMBLOCK_ALLOC_ACCESSIBLE,
                node,
                "vmemmap_list_alloc",
            ) {
                Ok(p) => {
                    self.list_chunks.push((p, PAGE_SIZE));
                    self.list_next = va(p);
                    self.list_left = PAGE_SIZE / VMEMMAP_BACKING_SIZE;
                }
                Err(e) => {
                    ctx.warn(format_args!(
                        "WARNING: vmemmap_list_populate: no vmemmap_backing for {start:#x} (phys {phys:#x}): {e}"
                    ));
                    self.list_warnings.push((start, phys));
                    return false;
                }
            }
        }
        let entry = self.list_next;
        self.list_next += VMEMMAP_BACKING_SIZE;
        self.list_left -= 1;
        ctx.m.write_u64(entry, self.list_head);
        ctx.m.write_u64(entry + 8, phys);
        ctx.m.write_u64(entry + 16, start);
        self.list_head = entry;
        true
    }
}

/// `vmemmap_populated()`: is any section whose memory map lies in the vmemmap page
/// `[start, start + page_size)` valid? (Linux asks `pfn_valid()` for the first pfn of
/// each.)
pub fn vmemmap_populated<M: KernelMemory + ?Sized>(
    sections: &MemSections,
    m: &mut M,
    start: u64,
    page_size: u64,
) -> bool {
    let end = start + page_size;
    let mut p = pfn_to_page(vmemmap_section_start(start));
    while p < end {
        if sections.pfn_valid(m, page_to_pfn(p)) {
            return true;
        }
        p += SECTION_MEMMAP_SIZE;
    }
    false
}

/// `vmemmap_populate()`: back and map the vmemmap pages of `[start, end)` for `node`.
/// `Err(-ENOMEM)` when a block cannot be allocated, `Err(-EFAULT)` when it cannot be
/// mapped (the block stays allocated and recorded, as in Linux); either is also kept in
/// [`Vmemmap::failures`].
pub fn vmemmap_populate<M: Machine + ?Sized>(
    ctx: &mut Ctx<'_, M>,
    sections: &MemSections,
    vm: &mut Vmemmap,
    start: u64,
    end: u64,
    node: i32,
) -> Result<(), i32> {
    let page_size = vm.page_size;
    let mut start = start & !(page_size - 1);
    ctx.debug(format_args!(
        "vmemmap_populate {start:x}..{end:x}, node {node}"
    ));
    while start < end {
        if vmemmap_populated(sections, ctx.m, start, page_size) {
            start += page_size;
            continue;
        }
        // vmemmap_alloc_block_buf(): node first, then any node, top-down, aligned to
        // its size; not zeroed (every struct page is initialised later).
        let phys = match ctx.mb.alloc_try_nid(
            page_size,
            page_size,
            0,
            MEMBLOCK_ALLOC_ACCESSIBLE,
            node,
            "vmemmap_alloc_block",
        ) {
            Ok(p) => p,
            Err(e) => {
                ctx.debug(format_args!("{e}"));
                vm.failures.push(PopulateFailure {
                    page: start,
                    rc: -ENOMEM,
                    block: vm.blocks.len(),
                });
                return Err(-ENOMEM);
            }
        };
        let recorded = vm.list_populate(ctx, phys, start, node);
        ctx.debug(format_args!(
            "      * {start:016x}..{:016x} allocated at {:016x}",
            start + page_size,
            va(phys)
        ));
        let rc = hash_vmemmap_create_mapping(ctx, vm, start, page_size, phys);
        if rc.is_err() {
            vm.failures.push(PopulateFailure {
                page: start,
                rc: -EFAULT,
                block: vm.blocks.len(),
            });
        }
        vm.blocks.push(Block {
            virt: start,
            phys,
            node,
            recorded,
            mapped: rc.is_ok(),
        });
        if let Err(rc) = rc {
            ctx.warn(format_args!(
                "vmemmap_populate: Unable to create vmemmap mapping: {rc}"
            ));
            return Err(-EFAULT);
        }
        start += page_size;
    }
    Ok(())
}

/// `hash__vmemmap_create_mapping()`: bolt `[start, start + page_size)` to `phys`.
/// On failure the pages of the range are removed again (`htab_remove_mapping`, which
/// takes out the first entry it finds for each page) and the bolt result is returned.
pub fn hash_vmemmap_create_mapping<M: Machine + ?Sized>(
    ctx: &mut Ctx<'_, M>,
    vm: &mut Vmemmap,
    start: u64,
    page_size: u64,
    phys: u64,
) -> Result<(), i32> {
    ctx.debug(format_args!(
        "hash__vmemmap_create_mapping: start {start:#x} size {page_size:#x} phys {phys:#x}"
    ));
    if start + page_size > VMEMMAP_END {
        ctx.warn(format_args!("Outside the supported range"));
        vm.map_failures += 1;
        return Err(-1);
    }
    let opts = BoltOptions {
        policy: ctx.hash.policy,
        text: (0, 0),
        rflags: PROT_KERNEL_RW,
    };
    let hash = ctx.hash;
    let res = bolt_mapping(
        ctx.m,
        hash.geo,
        start,
        start + page_size,
        phys,
        hash.vmemmap_psize,
        hash.ssize,
        &opts,
        ctx.on_bolt,
    );
    match res {
        Ok(_) => {
            vm.mappings += 1;
            Ok(())
        }
        Err(e) => {
            let rc = e.code();
            if let BoltError::Insert {
                error: InsertError::Hypervisor(st),
                ..
            } = e
            {
                // pSeries_lpar_hpte_insert's own message for anything but a full group.
                ctx.err(format_args!(
                    "Failed hash pte insert with error {}",
                    st.code()
                ));
            }
            vm.map_failures += 1;
            ctx.debug(format_args!("hash__vmemmap_create_mapping: failed {rc}"));
            match htab_remove_mapping(ctx, start, start + page_size) {
                Ok(removed) | Err((removed, RemoveError::NotFound)) => {
                    for phys in removed {
                        vm.removed += 1;
                        // The block whose entry went is no longer mapped (the newest
                        // such block: an older duplicate may still be in the group).
                        if let Some(b) = vm
                            .blocks
                            .iter_mut()
                            .rev()
                            .find(|b| b.virt == start && b.phys == phys && b.mapped)
                        {
                            b.mapped = false;
                        }
                    }
                }
                Err((_, RemoveError::Hypervisor { ptex, status })) => {
                    ctx.err(format_args!(
                        "htab_remove_mapping: H_REMOVE of ptex {ptex:#x} ({start:#x}) failed: {status}"
                    ));
                    // Linux: BUG_ON(rc2 && (rc2 != -ENOENT)).
                    ctx.m.bug(format_args!(
                        "hash__vmemmap_create_mapping: H_REMOVE of ptex {ptex:#x} failed: {status}"
                    ));
                }
            }
            Err(rc)
        }
    }
}

/// Why `htab_remove_mapping` did not remove an entry for every page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RemoveError {
    /// Some page had no entry (Linux `-ENOENT`); the others were removed.
    NotFound,
    /// H_REMOVE failed with a status other than H_NOT_FOUND (Linux `BUG_ON`).
    Hypervisor { ptex: u64, status: HStatus },
}

/// `htab_remove_mapping()` for vmemmap pages: for each page of `[start, end)` find the
/// first valid entry for it in its primary group (Linux's `pSeries_lpar_hpte_find`;
/// bolted entries live there) and remove it with `H_REMOVE(H_AVPN)`. A group slot that
/// cannot be read is reported and skipped, and H_NOT_FOUND from H_REMOVE is ignored, as
/// in Linux. Returns the physical page of every entry removed, with the error if a page
/// had none or H_REMOVE failed otherwise.
pub fn htab_remove_mapping<M: Machine + ?Sized>(
    ctx: &mut Ctx<'_, M>,
    start: u64,
    end: u64,
) -> Result<Vec<u64>, (Vec<u64>, RemoveError)> {
    let psize = ctx.hash.vmemmap_psize;
    let ssize = ctx.hash.ssize;
    let geo = ctx.hash.geo;
    let mut removed = Vec::new();
    let mut missing = false;
    let mut ea = start;
    while ea < end {
        let Some(vsid) = kernel_vsid(ea, ssize) else {
            missing = true;
            ea += psize.size();
            continue;
        };
        let vpn = hpt_vpn(ea, vsid, ssize);
        let want = hpte_encode_avpn(vpn, psize, ssize, &geo.sizes);
        let group = hpteg(hpt_hash(vpn, psize.shift(), ssize), geo.hash_mask, false);
        // Linux reads the group four entries at a time (H_READ_4); a quad that cannot be
        // read is reported by its first index and skipped whole.
        let mut found = None;
        'quads: for quad in (group..group + HPTES_PER_GROUP).step_by(4) {
            let mut entries = [Hpte::default(); 4];
            for (k, e) in entries.iter_mut().enumerate() {
                match ctx.m.h_read(quad + k as u64) {
                    Ok(x) => *e = x,
                    Err(status) => {
                        ctx.info(format_args!(
                            "Failed to read hash page table at {quad} err {}",
                            status.code()
                        ));
                        continue 'quads;
                    }
                }
            }
            if let Some(k) = entries
                .iter()
                .position(|e| e.v & HPTE_V_VALID != 0 && hpte_v_compare(e.v, want))
            {
                found = Some(quad + k as u64);
                break;
            }
        }
        match found {
            None => missing = true,
            Some(ptex) => match ctx.m.h_remove(H_AVPN, ptex, want) {
                Ok(e) => {
                    let phys = e.r & HPTE_R_RPN & !(psize.size() - 1);
                    removed.push(phys);
                    ctx.debug(format_args!(
                        "htab_remove_mapping: removed {ea:#x} from ptex {ptex:#x} (phys {phys:#x})"
                    ));
                }
                Err(HStatus::NotFound) => {}
                Err(status) => return Err((removed, RemoveError::Hypervisor { ptex, status })),
            },
        }
        ea += psize.size();
    }
    if missing {
        Err((removed, RemoveError::NotFound))
    } else {
        Ok(removed)
    }
}

/// Valid entries for the vmemmap page at `ea` in its primary and secondary groups, read
/// back with H_READ: `(primary, secondary)`.
pub fn count_mappings<H: HashPageTable + ?Sized>(
    hv: &mut H,
    hash: &super::machine::HashParams<'_>,
    ea: u64,
) -> Result<(u64, u64), (u64, HStatus)> {
    let psize = hash.vmemmap_psize;
    let Some(vsid) = kernel_vsid(ea, hash.ssize) else {
        return Ok((0, 0));
    };
    let vpn = hpt_vpn(ea, vsid, hash.ssize);
    let want = hpte_encode_avpn(vpn, psize, hash.ssize, &hash.geo.sizes);
    let h = hpt_hash(vpn, psize.shift(), hash.ssize);
    let mut counts = [0u64; 2];
    for (i, secondary) in [false, true].into_iter().enumerate() {
        let group = hpteg(h, hash.geo.hash_mask, secondary);
        for ptex in group..group + HPTES_PER_GROUP {
            let e = hv.h_read(ptex).map_err(|st| (ptex, st))?;
            let h_bit = crate::mm::hash::hpte::HPTE_V_SECONDARY;
            if e.v & HPTE_V_VALID != 0
                && hpte_v_compare(e.v, want)
                && (e.v & h_bit != 0) == secondary
            {
                counts[i] += 1;
            }
        }
    }
    Ok((counts[0], counts[1]))
}
