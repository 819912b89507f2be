//! A model of the hypervisor's hashed page table, faithful to what QEMU's pseries
//! machine does for H_ENTER, H_REMOVE and H_READ (hw/ppc/spapr_softmmu.c, the page-size
//! decoding of target/ppc/mmu-hash64.c), so the kernel's hash code runs on the host
//! against the same rules:
//!
//! - 8-entry groups; H_ENTER without H_EXACT takes the first invalid slot of the group
//!   and returns H_PTEG_FULL when all 8 are valid; with H_EXACT it takes exactly the
//!   given slot or returns H_PTEG_FULL;
//! - no duplicate check: the same virtual page can be entered 8 times into one group;
//! - a PTE index outside the table is H_PARAMETER;
//! - the page size is decoded from V's L bit and R's LP field against the device tree's
//!   `ibm,segment-page-sizes` (a pair not offered is H_PARAMETER);
//! - RAM must be mapped with WIMG = M only, anything else with I or I|M (else
//!   H_PARAMETER);
//! - the hypervisor's V bits 0x60 are cleared on entry and 0x40 (its "dirty" mark) set,
//!   so H_READ returns V | 0x40;
//! - H_REMOVE of an invalid entry (or one failing the H_AVPN / H_ANDCOND test) is
//!   H_NOT_FOUND.
//!
//! [`HptModel::translate`] is the other side: how QEMU's CPU (target/ppc/mmu-hash64.c,
//! `ppc_hash64_xlate` for a guest under a virtual hypervisor) finds an EA's real address
//! through given SLB entries and this table.

use alloc::vec;
use alloc::vec::Vec;

use super::hpte::{
    HPTE_R_I, HPTE_R_M, HPTE_R_RPN, HPTE_R_W, HPTE_V_HYPERVISOR_BITS, HPTE_V_LARGE,
    HPTE_V_SECONDARY, HPTE_V_VALID, HPTES_PER_GROUP, SLB_ESID_V, SLB_VSID_SHIFT, SLB_VSID_SHIFT_1T,
};
use super::pagesize::{SLB_LLP_MASK, SegmentPageSize};
use super::papr::{H_ANDCOND, H_AVPN, H_EXACT, HStatus, HashPageTable, Hpte};
use super::slb::SlbEntry;

/// QEMU's SLB_VSID_B: the segment size field of the SLB's VSID word (0b00 256M, 0b01 1T).
const SLB_VSID_B: u64 = 0xc000_0000_0000_0000;
const SLB_VSID_B_1T: u64 = 0x4000_0000_0000_0000;
/// QEMU's SLB_VSID_VSID and SLB_VSID_PTEM (the VSID and B: what an HPTE's V compares).
const SLB_VSID_VSID: u64 = 0x3fff_ffff_ffff_f000;
const SLB_VSID_PTEM: u64 = SLB_VSID_B | SLB_VSID_VSID;
/// QEMU's SLB_ESID_ESID: the ESID word's bits an entry may have besides V.
const SLB_ESID_ESID: u64 = 0xffff_ffff_f000_0000;
/// QEMU's HPTE64_V_AVPN and the bits HPTE64_V_COMPARE looks at (B, AVPN, H and V).
const HPTE_V_AVPN: u64 = 0x3fff_ffff_ffff_ff80;
const HPTE_V_COMPARE: u64 = 0xffff_ffff_ffff_ff83;
/// QEMU's SEGMENT_MASK_256M and SEGMENT_MASK_1T.
const SEGMENT_MASK_256M: u64 = !((1 << 28) - 1);
const SEGMENT_MASK_1T: u64 = !((1 << 40) - 1);

/// QEMU's `hpte_page_shift`: the actual page shift of an entry in a segment of `seg`'s
/// base size, or 0 when the entry cannot be one of its pages.
fn hpte_page_shift(seg: &SegmentPageSize, v: u64, r: u64) -> u32 {
    if v & HPTE_V_LARGE == 0 {
        // A 4K page only in a 4K segment.
        return if seg.base_shift == 12 { 12 } else { 0 };
    }
    for &(shift, penc) in &seg.enc {
        if shift == 0 {
            // QEMU's table ends at the first empty encoding.
            break;
        }
        // L set: not a 4K page. A shift of 64 or more fits no address (QEMU would
        // shift out of range).
        if shift == 12 || shift >= 64 {
            continue;
        }
        let mask = ((1u64 << shift) - 1) & HPTE_R_RPN;
        if r & mask == (penc as u64) << 12 {
            return shift;
        }
    }
    0
}

/// The mark QEMU sets in V of every entry it stores.
pub const HPTE_V_HV_DIRTY: u64 = 0x40;
/// V's bits below the AVPN (flags and software bits): H_AVPN compares the rest.
const HPTE_V_FLAGS: u64 = (1 << super::hpte::HPTE_V_AVPN_SHIFT) - 1;

/// Hypercall counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HptStats {
    pub enters: u64,
    pub removes: u64,
    pub reads: u64,
}

/// The model hashed page table.
pub struct HptModel {
    entries: Vec<Hpte>,
    segments: Vec<SegmentPageSize>,
    /// Guest RAM ranges `[start, end)`.
    ram: Vec<(u64, u64)>,
    pub stats: HptStats,
}

impl HptModel {
    /// A table of 2^`pft_size` bytes, validating page sizes against `segments` and WIMG
    /// against `ram`.
    pub fn new(pft_size: u32, segments: &[SegmentPageSize], ram: &[(u64, u64)]) -> Self {
        assert!((7..=40).contains(&pft_size), "model HPT size 2^{pft_size}");
        HptModel {
            entries: vec![Hpte::default(); 1 << (pft_size - 4)],
            segments: segments.to_vec(),
            ram: ram.to_vec(),
            stats: HptStats::default(),
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry at `ptex` without counting an H_READ.
    pub fn entry(&self, ptex: u64) -> Option<Hpte> {
        self.entries.get(ptex as usize).copied()
    }

    /// Valid entries.
    pub fn valid(&self) -> usize {
        self.entries
            .iter()
            .filter(|e| e.v & HPTE_V_VALID != 0)
            .count()
    }

    fn valid_ptex(&self, ptex: u64) -> bool {
        (ptex as usize) < self.entries.len()
    }

    fn is_ram(&self, addr: u64) -> bool {
        self.ram.iter().any(|&(s, e)| addr >= s && addr < e)
    }

    /// QEMU's `ppc_hash64_hpte_page_shift_noslb`: the page shift encoded in an entry,
    /// or `None` for an encoding no offered segment size has.
    pub fn page_shift(&self, v: u64, r: u64) -> Option<u32> {
        if v & HPTE_V_LARGE == 0 {
            return Some(12);
        }
        for seg in &self.segments {
            if seg.base_shift == 0 {
                // QEMU's table ends at the first empty segment size.
                break;
            }
            let shift = hpte_page_shift(seg, v, r);
            if shift != 0 {
                return Some(shift);
            }
        }
        None
    }

    /// Groups - 1 (QEMU's `ppc_hash64_hpt_mask`).
    pub fn hash_mask(&self) -> u64 {
        (self.entries.len() as u64 / HPTES_PER_GROUP) - 1
    }

    /// QEMU's `slb_lookup` over `slb` (first match), keeping only entries its
    /// `ppc_store_slb` would have accepted from `slbmte` (the ESID word's low 12 bits are
    /// the slot and ignored), with the segment page size its L||LP selects.
    fn slb_lookup<'a>(&'a self, slb: &[SlbEntry], ea: u64) -> Option<(u64, &'a SegmentPageSize)> {
        let esid_256m = (ea & SEGMENT_MASK_256M) | SLB_ESID_V;
        let esid_1t = (ea & SEGMENT_MASK_1T) | SLB_ESID_V;
        for e in slb {
            let esid = e.esid_word & !0xfff;
            let vsid = e.vsid_word;
            // ppc_store_slb: reserved ESID bits, a B of 0b1x, an L||LP no segment size has.
            if esid & !(SLB_ESID_ESID | SLB_ESID_V) != 0
                || vsid & (SLB_VSID_B & !SLB_VSID_B_1T) != 0
            {
                continue;
            }
            let Some(sps) = self
                .segments
                .iter()
                .take_while(|s| s.base_shift != 0)
                .find(|s| vsid & SLB_LLP_MASK == s.slb_enc as u64)
            else {
                continue;
            };
            let b = vsid & SLB_VSID_B;
            if (esid == esid_256m && b == 0) || (esid == esid_1t && b == SLB_VSID_B_1T) {
                return Some((vsid, sps));
            }
        }
        None
    }

    /// QEMU's `ppc_hash64_pteg_search`: the first entry of the group of `hash` whose V
    /// compares equal to `ptem` (B, AVPN, H, V) and that is a page of the segment's base
    /// size; its PTE index and actual page shift.
    fn pteg_search(&self, hash: u64, sps: &SegmentPageSize, ptem: u64) -> Option<(u64, u32)> {
        let group = (hash & self.hash_mask()) * HPTES_PER_GROUP;
        (group..group + HPTES_PER_GROUP).find_map(|ptex| {
            let e = self.entries[ptex as usize];
            if (e.v ^ ptem) & HPTE_V_COMPARE != 0 {
                return None;
            }
            // An entry for another base page size is not a match (QEMU: "it could
            // simply be for a different segment size encoding").
            match hpte_page_shift(sps, e.v, e.r) {
                0 => None,
                shift => Some((ptex, shift)),
            }
        })
    }

    /// QEMU's `ppc_hash64_htab_lookup` after `slb_lookup`: the PTE index and the actual
    /// page shift of the entry translating `ea` through the SLB entries `slb`, searching
    /// the primary group, then the secondary one. `None` when no SLB entry covers `ea` (a
    /// segment interrupt) or no entry maps it (a storage interrupt).
    pub fn lookup(&self, slb: &[SlbEntry], ea: u64) -> Option<(u64, u32)> {
        let (slb_vsid, sps) = self.slb_lookup(slb, ea)?;
        let base = sps.base_shift;
        if !(12..64).contains(&base) {
            return None;
        }
        let epnmask = !((1u64 << base) - 1);
        let (epn, hash) = if slb_vsid & SLB_VSID_B != 0 {
            let vsid = (slb_vsid & SLB_VSID_VSID) >> SLB_VSID_SHIFT_1T;
            let epn = ea & !SEGMENT_MASK_1T & epnmask;
            (epn, vsid ^ (vsid << 25) ^ (epn >> base))
        } else {
            let vsid = (slb_vsid & SLB_VSID_VSID) >> SLB_VSID_SHIFT;
            let epn = ea & !SEGMENT_MASK_256M & epnmask;
            (epn, vsid ^ (epn >> base))
        };
        let ptem = (slb_vsid & SLB_VSID_PTEM) | ((epn >> 16) & HPTE_V_AVPN) | HPTE_V_VALID;
        self.pteg_search(hash, sps, ptem)
            .or_else(|| self.pteg_search(!hash, sps, ptem | HPTE_V_SECONDARY))
    }

    /// The real address of `ea` through the SLB entries `slb` and this table, as QEMU's
    /// `ppc_hash64_xlate` computes it with translation on under a virtual hypervisor
    /// (protection not checked): the entry's RPN with the EA's offset within the page
    /// (of the size the entry encodes).
    pub fn translate(&self, slb: &[SlbEntry], ea: u64) -> Option<u64> {
        let (ptex, shift) = self.lookup(slb, ea)?;
        let mask = (1u64 << shift) - 1;
        Some((self.entries[ptex as usize].r & HPTE_R_RPN & !mask) | (ea & mask))
    }
}

impl HashPageTable for HptModel {
    fn h_enter(&mut self, flags: u64, ptex: u64, hpte: Hpte) -> Result<u64, HStatus> {
        self.stats.enters += 1;
        let shift = self.page_shift(hpte.v, hpte.r).ok_or(HStatus::Parameter)?;
        let raddr = (hpte.r & HPTE_R_RPN) & !((1u64 << shift) - 1);
        let wimg = hpte.r & (HPTE_R_W | HPTE_R_I | HPTE_R_M | super::hpte::HPTE_R_G);
        if self.is_ram(raddr) {
            if wimg != HPTE_R_M {
                return Err(HStatus::Parameter);
            }
        } else {
            let wim = hpte.r & (HPTE_R_W | HPTE_R_I | HPTE_R_M);
            if wim != HPTE_R_I && wim != (HPTE_R_I | HPTE_R_M) {
                return Err(HStatus::Parameter);
            }
        }
        if !self.valid_ptex(ptex) {
            return Err(HStatus::Parameter);
        }
        let group = ptex & !7;
        let slot = if flags & H_EXACT == 0 {
            (0..8)
                .find(|&s| self.entries[(group + s) as usize].v & HPTE_V_VALID == 0)
                .ok_or(HStatus::PtegFull)?
        } else {
            let s = ptex & 7;
            if self.entries[(group + s) as usize].v & HPTE_V_VALID != 0 {
                return Err(HStatus::PtegFull);
            }
            s
        };
        self.entries[(group + slot) as usize] = Hpte {
            v: (hpte.v & !HPTE_V_HYPERVISOR_BITS) | HPTE_V_HV_DIRTY,
            r: hpte.r,
        };
        Ok(group + slot)
    }

    fn h_remove(&mut self, flags: u64, ptex: u64, avpn: u64) -> Result<Hpte, HStatus> {
        self.stats.removes += 1;
        if !self.valid_ptex(ptex) {
            return Err(HStatus::Parameter);
        }
        let e = self.entries[ptex as usize];
        if e.v & HPTE_V_VALID == 0
            || (flags & H_AVPN != 0 && (e.v & !HPTE_V_FLAGS) != avpn)
            || (flags & H_ANDCOND != 0 && (e.v & avpn) != 0)
        {
            return Err(HStatus::NotFound);
        }
        self.entries[ptex as usize] = Hpte {
            v: HPTE_V_HV_DIRTY,
            r: 0,
        };
        Ok(e)
    }

    fn h_read(&mut self, ptex: u64) -> Result<Hpte, HStatus> {
        self.stats.reads += 1;
        if !self.valid_ptex(ptex) {
            return Err(HStatus::Parameter);
        }
        Ok(self.entries[ptex as usize])
    }
}
