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

use alloc::vec;
use alloc::vec::Vec;

use super::hpte::{HPTE_R_I, HPTE_R_M, HPTE_R_RPN, HPTE_R_W, HPTE_V_LARGE, HPTE_V_VALID};
use super::pagesize::SegmentPageSize;
use super::papr::{H_ANDCOND, H_AVPN, H_EXACT, HStatus, HashPageTable, Hpte};

/// The mark QEMU sets in V of every entry it stores.
pub const HPTE_V_HV_DIRTY: u64 = 0x40;

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
            for &(shift, penc) in &seg.enc {
                if shift == 12 {
                    continue;
                }
                if shift >= 64 {
                    continue;
                }
                let mask = ((1u64 << shift) - 1) & HPTE_R_RPN;
                if r & mask == (penc as u64) << 12 {
                    return Some(shift);
                }
            }
        }
        None
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
            v: (hpte.v & !0x60) | HPTE_V_HV_DIRTY,
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
            || (flags & H_AVPN != 0 && (e.v & !0x7f) != avpn)
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
