//! PAPR's hashed-page-table hypercalls as the kernel sees them: their status codes as a
//! Rust enum, their flags, and the [`HashPageTable`] trait that both the real hypercalls
//! (the arch layer) and the host model ([`super::model::HptModel`]) implement.

use core::fmt;

/// Hypercall opcodes (PAPR; Linux `asm/hvcall.h`).
pub const H_REMOVE: u64 = 0x04;
pub const H_ENTER: u64 = 0x08;
pub const H_READ: u64 = 0x0c;
pub const H_PROTECT: u64 = 0x18;

/// Flag bits are numbered from the most significant bit, as PAPR numbers them.
const fn h_bit(n: u32) -> u64 {
    1 << (63 - n)
}
/// H_ENTER: use exactly the slot given in the PTE index, or fail with H_PTEG_FULL.
pub const H_EXACT: u64 = h_bit(24);
/// H_READ: return four entries starting at the index rounded down to a multiple of 4.
pub const H_READ_4: u64 = h_bit(26);
/// H_REMOVE: the entry must match the given AVPN.
pub const H_AVPN: u64 = h_bit(32);
/// H_REMOVE: remove only if `V & avpn == 0`.
pub const H_ANDCOND: u64 = h_bit(33);

/// A PAPR hypercall status (r3 on return).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HStatus {
    Success,
    Busy,
    Closed,
    NotAvailable,
    Constrained,
    Partial,
    InProgress,
    PageRegistered,
    PartialStore,
    Pending,
    Continue,
    Hardware,
    Function,
    Privilege,
    Parameter,
    BadMode,
    PtegFull,
    NotFound,
    ReservedDabr,
    NoMem,
    Authority,
    Permission,
    Dropped,
    Resource,
    /// H_P1 .. H_P9: parameter N was bad.
    Pn(u8),
    Unsupported,
    Overlap,
    /// One of PAPR's H_UNSUPPORTED_FLAG_* codes (-256 ..= -511).
    UnsupportedFlag(i64),
    /// Any code PAPR does not define.
    Other(i64),
}

impl HStatus {
    /// The status for a raw r3 value.
    pub const fn from_code(code: i64) -> Self {
        match code {
            0 => HStatus::Success,
            1 => HStatus::Busy,
            2 => HStatus::Closed,
            3 => HStatus::NotAvailable,
            4 => HStatus::Constrained,
            5 => HStatus::Partial,
            14 => HStatus::InProgress,
            15 => HStatus::PageRegistered,
            16 => HStatus::PartialStore,
            17 => HStatus::Pending,
            18 => HStatus::Continue,
            -1 => HStatus::Hardware,
            -2 => HStatus::Function,
            -3 => HStatus::Privilege,
            -4 => HStatus::Parameter,
            -5 => HStatus::BadMode,
            -6 => HStatus::PtegFull,
            -7 => HStatus::NotFound,
            -8 => HStatus::ReservedDabr,
            -9 => HStatus::NoMem,
            -10 => HStatus::Authority,
            -11 => HStatus::Permission,
            -12 => HStatus::Dropped,
            -16 => HStatus::Resource,
            -62..=-54 => HStatus::Pn((-53 - code) as u8),
            // Linux's hvcall.h: -64 is H_TOO_BIG, H_UNSUPPORTED is -67.
            -67 => HStatus::Unsupported,
            -68 => HStatus::Overlap,
            -511..=-256 => HStatus::UnsupportedFlag(code),
            _ => HStatus::Other(code),
        }
    }

    /// The raw r3 value.
    pub const fn code(self) -> i64 {
        match self {
            HStatus::Success => 0,
            HStatus::Busy => 1,
            HStatus::Closed => 2,
            HStatus::NotAvailable => 3,
            HStatus::Constrained => 4,
            HStatus::Partial => 5,
            HStatus::InProgress => 14,
            HStatus::PageRegistered => 15,
            HStatus::PartialStore => 16,
            HStatus::Pending => 17,
            HStatus::Continue => 18,
            HStatus::Hardware => -1,
            HStatus::Function => -2,
            HStatus::Privilege => -3,
            HStatus::Parameter => -4,
            HStatus::BadMode => -5,
            HStatus::PtegFull => -6,
            HStatus::NotFound => -7,
            HStatus::ReservedDabr => -8,
            HStatus::NoMem => -9,
            HStatus::Authority => -10,
            HStatus::Permission => -11,
            HStatus::Dropped => -12,
            HStatus::Resource => -16,
            HStatus::Pn(n) => -53 - n as i64,
            HStatus::Unsupported => -67,
            HStatus::Overlap => -68,
            HStatus::UnsupportedFlag(c) | HStatus::Other(c) => c,
        }
    }

    /// PAPR's name for the status (`H_P<n>` statuses are all named "H_Pn" here; Display
    /// writes the number).
    pub const fn name(self) -> &'static str {
        match self {
            HStatus::Success => "H_SUCCESS",
            HStatus::Busy => "H_BUSY",
            HStatus::Closed => "H_CLOSED",
            HStatus::NotAvailable => "H_NOT_AVAILABLE",
            HStatus::Constrained => "H_CONSTRAINED",
            HStatus::Partial => "H_PARTIAL",
            HStatus::InProgress => "H_IN_PROGRESS",
            HStatus::PageRegistered => "H_PAGE_REGISTERED",
            HStatus::PartialStore => "H_PARTIAL_STORE",
            HStatus::Pending => "H_PENDING",
            HStatus::Continue => "H_CONTINUE",
            HStatus::Hardware => "H_HARDWARE",
            HStatus::Function => "H_FUNCTION",
            HStatus::Privilege => "H_PRIVILEGE",
            HStatus::Parameter => "H_PARAMETER",
            HStatus::BadMode => "H_BAD_MODE",
            HStatus::PtegFull => "H_PTEG_FULL",
            HStatus::NotFound => "H_NOT_FOUND",
            HStatus::ReservedDabr => "H_RESERVED_DABR",
            HStatus::NoMem => "H_NO_MEM",
            HStatus::Authority => "H_AUTHORITY",
            HStatus::Permission => "H_PERMISSION",
            HStatus::Dropped => "H_DROPPED",
            HStatus::Resource => "H_RESOURCE",
            HStatus::Pn(_) => "H_Pn",
            HStatus::Unsupported => "H_UNSUPPORTED",
            HStatus::Overlap => "H_OVERLAP",
            HStatus::UnsupportedFlag(_) => "H_UNSUPPORTED_FLAG",
            HStatus::Other(_) => "H_UNKNOWN",
        }
    }

    /// `Ok(())` for H_SUCCESS, the status as the error otherwise.
    pub fn ok(self) -> Result<(), HStatus> {
        if self == HStatus::Success {
            Ok(())
        } else {
            Err(self)
        }
    }
}

impl fmt::Display for HStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HStatus::Pn(n) => write!(f, "H_P{n} ({})", self.code()),
            s => write!(f, "{} ({})", s.name(), s.code()),
        }
    }
}

/// One hashed page table entry: the first (V) and second (R) doublewords.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Hpte {
    pub v: u64,
    pub r: u64,
}

/// The hypervisor's hashed page table, as PAPR exposes it to a partition. Implemented by
/// the real hypercalls in the arch layer and by [`super::model::HptModel`] on the host.
pub trait HashPageTable {
    /// H_ENTER: insert `hpte` into the group of `ptex` (its first free slot, or exactly
    /// slot `ptex & 7` with [`H_EXACT`]). Returns the PTE index used.
    fn h_enter(&mut self, flags: u64, ptex: u64, hpte: Hpte) -> Result<u64, HStatus>;
    /// H_REMOVE: invalidate entry `ptex` (subject to [`H_AVPN`] / [`H_ANDCOND`] with
    /// `avpn`); returns the entry as it was.
    fn h_remove(&mut self, flags: u64, ptex: u64, avpn: u64) -> Result<Hpte, HStatus>;
    /// H_READ of one entry.
    fn h_read(&mut self, ptex: u64) -> Result<Hpte, HStatus>;
}
