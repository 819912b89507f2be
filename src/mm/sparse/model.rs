//! The host model of the machine sparse init runs on: the hypervisor's hashed page
//! table ([`HptModel`]) and RAM, with kernel addresses translated as the hardware does:
//! the linear mapping directly (it is bolted before sparse init runs), the vmemmap
//! through the SLB entry for its segment and a search of the hash groups (QEMU's
//! lookup: the first matching entry wins). Memory starts filled with a poison pattern,
//! as real memory holds garbage: code that relies on zeroed memory it did not zero
//! shows up.
//!
//! An access the MMU could not translate, or one outside RAM, panics: in the kernel it
//! is a fault that stops the boot, so a test that must "never crash" catches it.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use crate::mm::PAGE_SHIFT;
use crate::mm::hash::hpte::{kernel_vsid, slb_esid, slb_vsid};
use crate::mm::hash::model::HptModel;
use crate::mm::hash::slb::SlbEntry;
use crate::mm::hash::{HStatus, HashPageTable, Hpte, PageSizes, Psize, Ssize};

use super::machine::{KernelMemory, PAGE_OFFSET};
use super::vmemmap::VMEMMAP_BASE;

/// What fresh host-model memory holds.
pub const POISON: u64 = 0x6b6b_6b6b_6b6b_6b6b;

const WORDS_PER_PAGE: usize = 1 << (PAGE_SHIFT - 3);

/// RAM plus the hashed page table.
pub struct HostMachine {
    pub hpt: HptModel,
    ram: Vec<(u64, u64)>,
    /// RAM touched so far: page frame number -> index in `frames`.
    pages: BTreeMap<u64, usize>,
    frames: Vec<Box<[u64]>>,
    /// The last pages accessed `(pfn, index in frames)`, newest first: most accesses
    /// go to a few pages at a time (a section root, a list chunk, struct pages).
    recent: [(u64, usize); 4],
    ssize: Ssize,
    /// SLB VSID word for the vmemmap's segments (its base page size's L||LP).
    vmemmap_sllp: u64,
    /// The last vmemmap translation: (page EA, page PA, page size).
    cache: Option<(u64, u64, u64)>,
    /// Loads and stores made, for tests that bound the work done.
    pub accesses: u64,
    /// What [`KernelMemory::bug`] was told (the kernel would have stopped at the first).
    pub bugs: Vec<alloc::string::String>,
}

impl HostMachine {
    /// A machine with RAM `ram` (`(base, size)`), a table of 2^`pft_size` bytes, and
    /// the vmemmap's segments using base page size `vmemmap` from `sizes`.
    pub fn new(
        pft_size: u32,
        sizes: &PageSizes,
        ram: &[(u64, u64)],
        ssize: Ssize,
        vmemmap: Psize,
    ) -> Self {
        HostMachine {
            // The table model takes [start, end) ranges.
            hpt: HptModel::new(
                pft_size,
                &sizes.segments,
                &ram.iter().map(|&(b, s)| (b, b + s)).collect::<Vec<_>>(),
            ),
            ram: ram.to_vec(),
            pages: BTreeMap::new(),
            frames: Vec::new(),
            recent: [(u64::MAX, 0); 4],
            ssize,
            vmemmap_sllp: sizes.def(vmemmap).sllp,
            cache: None,
            accesses: 0,
            bugs: Vec::new(),
        }
    }

    fn check_ram(&self, pa: u64, ea: u64) {
        if !self.ram.iter().any(|&(b, s)| b <= pa && pa + 8 <= b + s) {
            panic!("host model: access to {ea:#x} (pa {pa:#x}) is outside RAM");
        }
    }

    /// The physical address of kernel address `ea`, as the MMU would find it.
    pub fn translate(&mut self, ea: u64) -> Option<u64> {
        match ea >> 60 {
            0xc => Some(ea - PAGE_OFFSET),
            0xf => {
                if let Some((page, pa, size)) = self.cache
                    && ea >= page
                    && ea - page < size
                {
                    return Some(pa + (ea - page));
                }
                let vsid = kernel_vsid(ea, self.ssize)?;
                let slb = [SlbEntry {
                    vsid_word: slb_vsid(vsid, self.ssize, self.vmemmap_sllp),
                    esid_word: slb_esid(ea, self.ssize, 0),
                }];
                let (ptex, shift) = self.hpt.lookup(&slb, ea)?;
                let size = 1u64 << shift;
                let r = self.hpt.entry(ptex)?.r;
                let pa_page = r & crate::mm::hash::hpte::HPTE_R_RPN & !(size - 1);
                self.cache = Some((ea & !(size - 1), pa_page, size));
                Some(pa_page + (ea & (size - 1)))
            }
            _ => None,
        }
    }

    fn word(&mut self, ea: u64) -> &mut u64 {
        assert!(
            ea.is_multiple_of(8),
            "host model: unaligned access at {ea:#x}"
        );
        self.accesses += 1;
        let Some(pa) = self.translate(ea) else {
            panic!(
                "host model: data storage interrupt at {ea:#x}: no translation{}",
                if ea >= VMEMMAP_BASE {
                    " (vmemmap page not in the hash table)"
                } else {
                    ""
                }
            );
        };
        self.check_ram(pa, ea);
        let pfn = pa >> PAGE_SHIFT;
        let frame = match self.recent.iter().position(|r| r.0 == pfn) {
            Some(i) => {
                self.recent[..=i].rotate_right(1);
                self.recent[0].1
            }
            None => {
                let next = self.frames.len();
                let f = *self.pages.entry(pfn).or_insert(next);
                if f == next {
                    self.frames
                        .push(alloc::vec![POISON; WORDS_PER_PAGE].into_boxed_slice());
                }
                self.recent.rotate_right(1);
                self.recent[0] = (pfn, f);
                f
            }
        };
        &mut self.frames[frame][((pa >> 3) as usize) & (WORDS_PER_PAGE - 1)]
    }

    /// 64K pages of RAM touched so far.
    pub fn pages_touched(&self) -> usize {
        self.pages.len()
    }
}

impl KernelMemory for HostMachine {
    fn read_u64(&mut self, ea: u64) -> u64 {
        *self.word(ea)
    }

    fn write_u64(&mut self, ea: u64, val: u64) {
        *self.word(ea) = val;
    }

    fn bug(&mut self, what: core::fmt::Arguments<'_>) {
        self.bugs.push(alloc::format!("{what}"));
    }
}

impl HashPageTable for HostMachine {
    fn h_enter(&mut self, flags: u64, ptex: u64, hpte: Hpte) -> Result<u64, HStatus> {
        self.cache = None;
        self.hpt.h_enter(flags, ptex, hpte)
    }

    fn h_remove(&mut self, flags: u64, ptex: u64, avpn: u64) -> Result<Hpte, HStatus> {
        self.cache = None;
        self.hpt.h_remove(flags, ptex, avpn)
    }

    fn h_read(&mut self, ptex: u64) -> Result<Hpte, HStatus> {
        self.hpt.h_read(ptex)
    }
}
