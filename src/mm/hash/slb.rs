//! The SLB's bookkeeping (portable; the arch layer executes `slbmte` with the words
//! computed here): which kernel region an EA is in, the words of its segment's entry, the
//! bolted entries, and the slot a segment loaded on demand replaces.
//!
//! ```text
//!  slot 0 .. bolted-1        bolted: never replaced (the linear mapping's first segment,
//!                            the vmemmap's first segment)
//!  slot bolted .. size-1     loaded on a segment interrupt, replaced round-robin
//! ```
//! At least [`MIN_FREE_SLOTS`] slots stay free for on-demand segments, so an instruction
//! that needs two segments at once (its own and its operand's, or an operand that
//! straddles two) always finds both loaded; a segment that misses again right after being
//! loaded [`MAX_REPEATS`] times in a row is reported instead of being reloaded forever.

use core::fmt;

use super::hpte::{kernel_vsid, slb_esid, slb_vsid};
use super::pagesize::Ssize;

/// SLB entries this kernel uses at most (Linux's limit for hash64; QEMU has 32).
pub const SLB_SIZE_MAX: u32 = 64;
/// Slots kept for segments loaded on demand.
pub const MIN_FREE_SLOTS: u32 = 3;
/// Consecutive misses on one segment before it is reported as not loading.
pub const MAX_REPEATS: u32 = 8;

/// A kernel region (EA top nibble 0xc..0xf): its segments' base page size encoding and
/// the EA offset below which segments may be loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlbRegion {
    pub sllp: u64,
    pub limit: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlbConfig {
    pub ssize: Ssize,
    /// 0xc linear, 0xd vmalloc, 0xe io, 0xf vmemmap.
    pub regions: [SlbRegion; 4],
    /// Entries the CPU has (`ibm,slb-size`); more than [`SLB_SIZE_MAX`] are not used.
    pub slb_size: u32,
}

/// Why the SLB cannot be set up, or a segment not loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlbError {
    /// Too few entries for the bolted ones and [`MIN_FREE_SLOTS`].
    TooFewEntries { slb_size: u32, bolted: u32 },
    /// No kernel segment covers this EA.
    NotKernel { ea: u64 },
    /// The segment of `ea` missed again right after being loaded, `repeats` times.
    NotLoading { ea: u64, repeats: u32 },
}

impl fmt::Display for SlbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SlbError::TooFewEntries { slb_size, bolted } => write!(
                f,
                "{slb_size} SLB entries cannot hold {bolted} bolted ones and {MIN_FREE_SLOTS} for segments loaded on demand"
            ),
            SlbError::NotKernel { ea } => write!(f, "no kernel segment covers ea 0x{ea:016x}"),
            SlbError::NotLoading { ea, repeats } => write!(
                f,
                "the segment of ea 0x{ea:016x} missed {repeats} times in a row right after being loaded"
            ),
        }
    }
}

/// The SLB as the kernel manages it.
#[derive(Clone, Debug)]
pub struct Slb {
    cfg: SlbConfig,
    size: u32,
    bolted: u32,
    next: u32,
    loads: u64,
    /// ESID word (without slot) of the last segment loaded on demand, and how many times
    /// in a row it was.
    last: u64,
    repeats: u32,
}

/// An SLB entry: the two `slbmte` operands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlbEntry {
    /// RS: VSID, B, Ks/Kp/N, L||LP.
    pub vsid_word: u64,
    /// RB: ESID, V, slot.
    pub esid_word: u64,
}

impl Slb {
    /// The SLB for `cfg`, and the entries to load for the `bolted` EAs (slots 0..).
    pub fn new(
        cfg: SlbConfig,
        bolted: &[u64],
    ) -> Result<(Slb, alloc::vec::Vec<SlbEntry>), SlbError> {
        let size = cfg.slb_size.min(SLB_SIZE_MAX);
        let n = bolted.len() as u32;
        if size < n.saturating_add(MIN_FREE_SLOTS) {
            return Err(SlbError::TooFewEntries {
                slb_size: cfg.slb_size,
                bolted: n,
            });
        }
        let slb = Slb {
            cfg,
            size,
            bolted: n,
            next: n,
            loads: 0,
            last: 0,
            repeats: 0,
        };
        let entries = bolted
            .iter()
            .enumerate()
            .map(|(i, &ea)| {
                let (v, e) = slb.words(ea).ok_or(SlbError::NotKernel { ea })?;
                Ok(SlbEntry {
                    vsid_word: v,
                    esid_word: e | i as u64,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok((slb, entries))
    }

    /// The entry words (ESID word without a slot) of the kernel segment holding `ea`.
    pub fn words(&self, ea: u64) -> Option<(u64, u64)> {
        let nibble = ea >> 60;
        if nibble < 0xc {
            return None;
        }
        let r = &self.cfg.regions[(nibble - 0xc) as usize];
        if ea & 0x0fff_ffff_ffff_ffff >= r.limit {
            return None;
        }
        let vsid = kernel_vsid(ea, self.cfg.ssize)?;
        Some((
            slb_vsid(vsid, self.cfg.ssize, r.sllp),
            slb_esid(ea, self.cfg.ssize, 0),
        ))
    }

    /// A segment interrupt for `ea`: the entry to load (into a non-bolted slot).
    pub fn miss(&mut self, ea: u64) -> Result<SlbEntry, SlbError> {
        let (v, e) = self.words(ea).ok_or(SlbError::NotKernel { ea })?;
        if e == self.last {
            self.repeats += 1;
            if self.repeats >= MAX_REPEATS {
                return Err(SlbError::NotLoading {
                    ea,
                    repeats: self.repeats,
                });
            }
        } else {
            self.last = e;
            self.repeats = 0;
        }
        let slot = if self.next >= self.size || self.next < self.bolted {
            self.bolted
        } else {
            self.next
        };
        self.next = slot + 1;
        self.loads += 1;
        Ok(SlbEntry {
            vsid_word: v,
            esid_word: e | slot as u64,
        })
    }

    /// Segments loaded on demand so far.
    pub fn loads(&self) -> u64 {
        self.loads
    }

    /// Entries in use (the CPU's, at most [`SLB_SIZE_MAX`]).
    pub fn size(&self) -> u32 {
        self.size
    }

    pub fn bolted(&self) -> u32 {
        self.bolted
    }

    pub fn config(&self) -> &SlbConfig {
        &self.cfg
    }
}
