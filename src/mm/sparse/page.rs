//! `struct page` (64 bytes) and how Linux packs node and zone into `page->flags` for
//! this configuration: 64-bit, SPARSEMEM_VMEMMAP (so no section bits: the vmemmap gives
//! the pfn), `NODES_SHIFT` 8, two zones (Normal, Movable), no NUMA balancing (no
//! last-cpupid field).
//!
//! ```text
//!  63      56 55 54                                  12 11  ...  0
//! +----------+--+--------------------------------------+-----------+
//! |   node   |Z |               (unused)               | PG_* bits |
//! +----------+--+--------------------------------------+-----------+
//! ```

use static_assertions::const_assert_eq;

/// `NODES_SHIFT`: up to 256 nodes.
pub const NODES_SHIFT: u32 = 8;
/// `ZONES_SHIFT` for two zones.
pub const ZONES_SHIFT: u32 = 1;
/// With SPARSEMEM_VMEMMAP the section is not kept in the flags.
pub const SECTIONS_WIDTH: u32 = 0;
pub const SECTIONS_PGOFF: u32 = 64 - SECTIONS_WIDTH;
pub const NODES_PGOFF: u32 = SECTIONS_PGOFF - NODES_SHIFT;
pub const ZONES_PGOFF: u32 = NODES_PGOFF - ZONES_SHIFT;
pub const NODES_MASK: u64 = (1 << NODES_SHIFT) - 1;
pub const ZONES_MASK: u64 = (1 << ZONES_SHIFT) - 1;

/// `PG_reserved` (Linux 4.19's `enum pageflags`).
pub const PG_RESERVED: u32 = 11;

/// The zones of this configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Zone {
    Normal = 0,
    Movable = 1,
}

impl Zone {
    /// Linux's zone names as `free_area_init` prints them.
    pub const fn name(self) -> &'static str {
        match self {
            Zone::Normal => "Normal",
            Zone::Movable => "Movable",
        }
    }

    pub const fn from_index(i: u64) -> Option<Zone> {
        match i {
            0 => Some(Zone::Normal),
            1 => Some(Zone::Movable),
            _ => None,
        }
    }
}

/// Linux's `struct page`, the fields this kernel sets (the unions reduced to the
/// members `__init_single_page` touches).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Page {
    pub flags: u64,
    /// `lru`: a list head, pointing at itself when empty.
    pub lru: [u64; 2],
    pub mapping: u64,
    pub index: u64,
    pub private: u64,
    pub mapcount: i32,
    pub refcount: i32,
    pub mem_cgroup: u64,
}

const_assert_eq!(
    core::mem::size_of::<Page>() as u64,
    super::section::STRUCT_PAGE_SIZE
);

/// Byte offset of `lru` in the page.
pub const LRU_OFFSET: u64 = 8;
/// Byte offset of the word holding `_mapcount` (low half) and `_refcount` (high half).
pub const COUNTS_OFFSET: u64 = 48;
const_assert_eq!(core::mem::offset_of!(Page, mapcount) as u64, COUNTS_OFFSET);
const_assert_eq!(
    core::mem::offset_of!(Page, refcount) as u64,
    COUNTS_OFFSET + 4
);

impl Page {
    /// `__init_single_page()` for the struct page at kernel address `ea`: zeroed, node
    /// and zone in the flags, refcount 1, mapcount -1, empty lru.
    pub const fn new(ea: u64, zone: Zone, nid: i32) -> Page {
        Page {
            flags: page_links(zone, nid),
            lru: [ea + LRU_OFFSET, ea + LRU_OFFSET],
            mapping: 0,
            index: 0,
            private: 0,
            mapcount: -1,
            refcount: 1,
            mem_cgroup: 0,
        }
    }

    pub const fn reserved(&self) -> bool {
        self.flags & (1 << PG_RESERVED) != 0
    }

    /// `__SetPageReserved()`.
    pub const fn set_reserved(&mut self) {
        self.flags |= 1 << PG_RESERVED;
    }

    /// `page_to_nid()`.
    pub const fn nid(&self) -> i32 {
        ((self.flags >> NODES_PGOFF) & NODES_MASK) as i32
    }

    /// `page_zonenum()`.
    pub const fn zone(&self) -> Option<Zone> {
        Zone::from_index((self.flags >> ZONES_PGOFF) & ZONES_MASK)
    }

    /// The page as eight words, in memory order.
    pub fn words(&self) -> [u64; 8] {
        [
            self.flags,
            self.lru[0],
            self.lru[1],
            self.mapping,
            self.index,
            self.private,
            (self.mapcount as u32 as u64) | ((self.refcount as u32 as u64) << 32),
            self.mem_cgroup,
        ]
    }

    /// The page from eight words in memory order (little-endian layout of the two
    /// 32-bit counters).
    pub fn from_words(w: [u64; 8]) -> Page {
        Page {
            flags: w[0],
            lru: [w[1], w[2]],
            mapping: w[3],
            index: w[4],
            private: w[5],
            mapcount: w[6] as u32 as i32,
            refcount: (w[6] >> 32) as u32 as i32,
            mem_cgroup: w[7],
        }
    }
}

/// `set_page_links()` without a section (SPARSEMEM_VMEMMAP): node and zone.
pub const fn page_links(zone: Zone, nid: i32) -> u64 {
    (((nid as u64) & NODES_MASK) << NODES_PGOFF) | (((zone as u64) & ZONES_MASK) << ZONES_PGOFF)
}
