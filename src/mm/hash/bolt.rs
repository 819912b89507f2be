//! Bolted kernel mappings: Linux's `htab_bolt_mapping` over the pSeries insert path
//! (`pSeries_lpar_hpte_insert`), on any [`HashPageTable`].
//!
//! Linux puts bolted entries in the PRIMARY group only, in its first free slot, and gives
//! up when that group is full: the insert path turns H_PTEG_FULL into -1 and every other
//! failure into -2, and `htab_bolt_mapping` returns that code. That is the default here.
//! [`GroupPolicy::SecondaryFallback`] also tries the secondary group (as FreeBSD's
//! moea64 does) before giving up; it is an explicit option, never the default.

use core::fmt;

use super::hpte::{
    HPTE_R_N, HPTE_V_BOLTED, HPTE_V_SECONDARY, HPTE_V_VALID, hpt_hash, hpt_vpn, hpte_encode_r,
    hpte_encode_v, hpteg, kernel_vsid,
};
use super::pagesize::{PageSizes, Psize, Ssize};
use super::papr::{HStatus, HashPageTable, Hpte};

/// Which groups a bolted insert may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum GroupPolicy {
    /// Linux: the primary group, first free slot, or fail.
    #[default]
    PrimaryOnly,
    /// FreeBSD style: the primary group, then the secondary group, then fail.
    SecondaryFallback,
}

/// Why an insert failed, with Linux's return code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InsertError {
    /// H_PTEG_FULL: every slot of the group(s) tried is valid. Linux: -1.
    GroupFull,
    /// Any other hypervisor status. Linux: -2.
    Hypervisor(HStatus),
}

impl InsertError {
    /// The value Linux's pSeries insert path returns.
    pub const fn code(self) -> i32 {
        match self {
            InsertError::GroupFull => -1,
            InsertError::Hypervisor(_) => -2,
        }
    }
}

/// What the hash MMU needs to compute and place entries.
#[derive(Clone, Debug)]
pub struct HashGeometry {
    pub sizes: PageSizes,
    /// Groups - 1 (Linux's `htab_hash_mask`).
    pub hash_mask: u64,
}

/// One successful bolted insert, as the `hash_debug` line reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bolted {
    pub ea: u64,
    pub pa: u64,
    pub psize: Psize,
    pub ssize: Ssize,
    pub vsid: u64,
    /// PTE index of slot 0 of the group the entry went into.
    pub hpteg: u64,
    /// Slot (0-7) the hypervisor chose.
    pub slot: u64,
    pub secondary: bool,
    /// The entry as inserted.
    pub hpte: Hpte,
}

impl Bolted {
    /// The PTE index of the entry.
    pub const fn ptex(&self) -> u64 {
        self.hpteg + self.slot
    }
}

impl fmt::Display for Bolted {
    /// The `hash_debug` line without its `hash-mmu: ` prefix (a CI contract).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "bolt ea=0x{:016x} pa=0x{:016x} psize={} ssize={} vsid=0x{:x} hpteg=0x{:x} slot={}",
            self.ea,
            self.pa,
            self.psize.name(),
            self.ssize.name(),
            self.vsid,
            self.hpteg,
            self.slot
        )
    }
}

/// Why a bolted mapping stopped, with Linux's return code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BoltError {
    /// The EA has no kernel VSID (Linux: `if (!vsid) return -1`).
    BadAddress { ea: u64 },
    /// The page size cannot be used in this segment size's base pages.
    PageSizeNotOffered { psize: Psize },
    /// `ea_start` and `pa` are at different offsets within a page: no page could map
    /// one to the other.
    Misaligned { ea: u64, pa: u64 },
    /// The physical range does not fit the HPTE's real page number (2^60 bytes).
    BadPhysical { pa: u64, len: u64 },
    /// The insert of the page at `ea` failed: into the primary group `hpteg`, and with
    /// the fallback also into the `secondary` group.
    Insert {
        ea: u64,
        hpteg: u64,
        secondary: Option<u64>,
        error: InsertError,
    },
}

/// Physical addresses an HPTE can hold (its RPN field ends at bit 59).
pub const PHYS_LIMIT: u64 = 1 << 60;

impl BoltError {
    /// The value Linux's `htab_bolt_mapping` returns: -1 for a bad address or a full
    /// group, -2 for any other failure.
    pub const fn code(self) -> i32 {
        match self {
            BoltError::BadAddress { .. } => -1,
            BoltError::PageSizeNotOffered { .. }
            | BoltError::Misaligned { .. }
            | BoltError::BadPhysical { .. } => -2,
            BoltError::Insert { error, .. } => error.code(),
        }
    }
}

impl fmt::Display for BoltError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BoltError::BadAddress { ea } => write!(f, "no kernel VSID for ea 0x{ea:016x}"),
            BoltError::PageSizeNotOffered { psize } => {
                write!(
                    f,
                    "{} pages are not offered as a base page size",
                    psize.name()
                )
            }
            BoltError::Misaligned { ea, pa } => write!(
                f,
                "ea 0x{ea:016x} and pa 0x{pa:016x} are at different offsets within a page"
            ),
            BoltError::BadPhysical { pa, len } => write!(
                f,
                "pa 0x{pa:016x} + 0x{len:x} is beyond what an HPTE can map (2^60)"
            ),
            BoltError::Insert {
                ea,
                hpteg,
                secondary,
                error,
            } => {
                write!(f, "ea 0x{ea:016x}: ")?;
                let groups = match secondary {
                    Some(s) => alloc::format!("groups 0x{hpteg:x} and 0x{s:x}"),
                    None => alloc::format!("group 0x{hpteg:x}"),
                };
                match error {
                    InsertError::GroupFull => {
                        let verb = if secondary.is_some() { "are" } else { "is" };
                        write!(f, "hash {groups} {verb} full (H_PTEG_FULL)")
                    }
                    InsertError::Hypervisor(st) => {
                        write!(f, "H_ENTER into {groups} failed: {st}")
                    }
                }
            }
        }
    }
}

/// Linux's pSeries `hpte_insert`: build the entry for `vpn` -> `pa` (a page of `psize`
/// in a segment of the same base size) and H_ENTER it into the group at `group` (PTE
/// index of slot 0), first free slot. Returns the slot.
#[allow(clippy::too_many_arguments)]
pub fn hpte_insert<H: HashPageTable + ?Sized>(
    hv: &mut H,
    geo: &HashGeometry,
    group: u64,
    vpn: u64,
    pa: u64,
    rflags: u64,
    vflags: u64,
    psize: Psize,
    ssize: Ssize,
) -> Result<(u64, Hpte), InsertError> {
    let v = hpte_encode_v(vpn, psize, psize, ssize, &geo.sizes) | vflags | HPTE_V_VALID;
    let r = hpte_encode_r(pa, psize, psize, &geo.sizes)
        .ok_or(InsertError::Hypervisor(HStatus::Parameter))?
        | rflags;
    let hpte = Hpte { v, r };
    match hv.h_enter(0, group, hpte) {
        Ok(ptex) => Ok((ptex & 7, hpte)),
        Err(HStatus::PtegFull) => Err(InsertError::GroupFull),
        Err(st) => Err(InsertError::Hypervisor(st)),
    }
}

/// Options of a bolted mapping.
#[derive(Clone, Copy, Debug, Default)]
pub struct BoltOptions {
    pub policy: GroupPolicy,
    /// EA range `[start, end)` of kernel text: pages overlapping it are executable.
    pub text: (u64, u64),
    /// Protection bits (R doubleword flags); pages overlapping `text` lose N.
    pub rflags: u64,
}

/// Linux's `htab_bolt_mapping(vstart, vend, pstart, prot, psize, ssize)`: map
/// `[ea_start, ea_end)` to `pa` with bolted entries of `psize`, the start rounded up and
/// the end rounded down to whole pages. Calls `each` after every successful insert.
/// Returns the number of pages mapped; on failure, the pages before the failing one stay
/// mapped (as in Linux) and the error carries Linux's code.
#[allow(clippy::too_many_arguments)]
pub fn bolt_mapping<H: HashPageTable + ?Sized>(
    hv: &mut H,
    geo: &HashGeometry,
    ea_start: u64,
    ea_end: u64,
    pa: u64,
    psize: Psize,
    ssize: Ssize,
    opts: &BoltOptions,
    each: &mut dyn FnMut(&Bolted),
) -> Result<u64, BoltError> {
    if !geo.sizes.usable(psize) {
        return Err(BoltError::PageSizeNotOffered { psize });
    }
    let shift = psize.shift();
    let step = psize.size();
    if (ea_start ^ pa) & (step - 1) != 0 {
        return Err(BoltError::Misaligned { ea: ea_start, pa });
    }
    let end = ea_end & !(step - 1);
    let Some(mut ea) = ea_start.checked_next_multiple_of(step) else {
        return Err(BoltError::BadAddress { ea: ea_start });
    };
    let len = end.saturating_sub(ea);
    // pa has ea's offset within a page (checked above): it rounds up with ea.
    let Some(mut pa) = pa.checked_add(ea - ea_start) else {
        return Err(BoltError::BadPhysical { pa, len });
    };
    if pa.checked_add(len).is_none_or(|e| e > PHYS_LIMIT) {
        return Err(BoltError::BadPhysical { pa, len });
    }
    let mut count = 0;
    while ea < end {
        let vsid = kernel_vsid(ea, ssize).ok_or(BoltError::BadAddress { ea })?;
        let vpn = hpt_vpn(ea, vsid, ssize);
        let mut rflags = opts.rflags;
        if ea < opts.text.1 && ea + step > opts.text.0 {
            rflags &= !HPTE_R_N;
        }
        let hash = hpt_hash(vpn, shift, ssize);
        let primary = hpteg(hash, geo.hash_mask, false);
        let mut result = hpte_insert(
            hv,
            geo,
            primary,
            vpn,
            pa,
            rflags,
            HPTE_V_BOLTED,
            psize,
            ssize,
        )
        .map(|(slot, hpte)| (primary, slot, false, hpte));
        let mut tried_secondary = None;
        if result == Err(InsertError::GroupFull) && opts.policy == GroupPolicy::SecondaryFallback {
            let secondary = hpteg(hash, geo.hash_mask, true);
            tried_secondary = Some(secondary);
            result = hpte_insert(
                hv,
                geo,
                secondary,
                vpn,
                pa,
                rflags,
                HPTE_V_BOLTED | HPTE_V_SECONDARY,
                psize,
                ssize,
            )
            .map(|(slot, hpte)| (secondary, slot, true, hpte));
        }
        let (group, slot, secondary, hpte) = result.map_err(|error| BoltError::Insert {
            ea,
            hpteg: primary,
            secondary: tried_secondary,
            error,
        })?;
        each(&Bolted {
            ea,
            pa,
            psize,
            ssize,
            vsid,
            hpteg: group,
            slot,
            secondary,
            hpte,
        });
        count += 1;
        ea += step;
        pa += step;
    }
    Ok(count)
}
