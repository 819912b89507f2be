//! Random-operation checking of [`Memblock`] against a simple model, shared by the host
//! property test and a libFuzzer target.
//!
//! [`run`] decodes operations from bytes, applies each to a [`Memblock`] and to a model of
//! the first [`SPACE`] bytes of the address space kept at [`UNIT`] granularity (per unit:
//! memory or not, with node and flags, and reserved or not), then checks that the two agree.
//! The region arrays must be exactly the maximal runs of the model, which covers sorting,
//! overlap and merging at once; totals, free ranges (both directions), queries and every
//! allocation (address, alignment, bounds, against a brute-force search) are checked too.
//! Any disagreement panics, naming the operation.

use alloc::vec::Vec;
use core::fmt;

use super::{
    AllocFailure, FreeRange, MAX_NUMNODES, MEMBLOCK_ALLOC_ACCESSIBLE, MEMBLOCK_ALLOC_ANYWHERE,
    Memblock, NUMA_NO_NODE, PAGE_SIZE, Region, RegionFlags, SMP_CACHE_BYTES, normalize_nid,
    numa_valid_node,
};
use crate::printk::Level;

/// The model's granularity: every address and size the operations use is a multiple.
pub const UNIT: u64 = 0x1000;
/// Units modelled.
pub const UNITS: usize = 256;
/// Bytes modelled: operations stay inside `[0, SPACE)`.
pub const SPACE: u64 = UNIT * UNITS as u64;

/// One operation, as decoded from the input.
#[derive(Clone, Copy, Debug)]
pub enum Op {
    AddNode {
        base: u64,
        size: u64,
        nid: i32,
        flags: RegionFlags,
    },
    Add {
        base: u64,
        size: u64,
    },
    Remove {
        base: u64,
        size: u64,
    },
    Reserve {
        base: u64,
        size: u64,
    },
    Free {
        base: u64,
        size: u64,
    },
    SetFlag {
        base: u64,
        size: u64,
        flag: RegionFlags,
        on: bool,
    },
    SetNode {
        base: u64,
        size: u64,
        nid: i32,
    },
    SetLimit(u64),
    MovableNode(bool),
    AllocTryNid {
        size: u64,
        align: u64,
        min_addr: u64,
        max_addr: u64,
        nid: i32,
    },
    AllocRange {
        size: u64,
        align: u64,
        start: u64,
        end: u64,
    },
    Query {
        base: u64,
        size: u64,
    },
}

/// The input bytes; reads past the end give 0.
struct Input<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    /// A range inside the modelled space (possibly empty): mostly short, so that maps get
    /// fragmented, sometimes long.
    fn range(&mut self) -> (u64, u64) {
        let base = u64::from(self.byte());
        let room = UNITS as u64 - base;
        let size = match u64::from(self.byte()) {
            b @ 0..0xc0 => (b % 16).min(room),
            b => b % (room + 1),
        };
        (base * UNIT, size * UNIT)
    }

    fn nid(&mut self) -> i32 {
        // MAX_NUMNODES is not a node: memblock stores it as NUMA_NO_NODE.
        [NUMA_NO_NODE, 0, 1, 2, MAX_NUMNODES as i32][usize::from(self.byte()) % 5]
    }

    fn align(&mut self) -> u64 {
        // 0 means SMP_CACHE_BYTES; 3 is refused.
        [0, 1, 128, 0x1000, 0x2000, 0x10000, 0x40000, 3][usize::from(self.byte()) % 8]
    }

    /// A lower bound: often 0.
    fn min_addr(&mut self) -> u64 {
        match self.byte() {
            0..0x80 => 0,
            b => u64::from(b - 0x80) * 2 * UNIT,
        }
    }

    /// An upper bound or limit: often one that does not limit.
    fn max_addr(&mut self) -> u64 {
        match self.byte() {
            0..0x40 => MEMBLOCK_ALLOC_ACCESSIBLE,
            0x40..0x80 => MEMBLOCK_ALLOC_ANYWHERE,
            b => u64::from(b - 0x80) * 2 * UNIT,
        }
    }

    /// Flags for new memory: NOMAP (never allocatable) only now and then.
    fn flags(&mut self) -> RegionFlags {
        let b = self.byte();
        let nomap = if b >= 0xe0 {
            RegionFlags::NOMAP
        } else {
            RegionFlags::empty()
        };
        RegionFlags::from_bits_truncate(u32::from(b) & 0x3) | nomap
    }

    fn alloc_size(&mut self) -> u64 {
        let units = match self.byte() {
            b @ 0..0xe0 => u64::from(b % 16) + 1,
            b => u64::from(b - 0xe0) * 8 + 1,
        };
        units * UNIT
    }

    fn op(&mut self) -> Op {
        match self.byte() % 14 {
            0 => {
                let (base, size) = self.range();
                Op::AddNode {
                    base,
                    size,
                    nid: self.nid(),
                    flags: self.flags(),
                }
            }
            1 => {
                let (base, size) = self.range();
                Op::Add { base, size }
            }
            2 => {
                let (base, size) = self.range();
                Op::Remove { base, size }
            }
            3 => {
                let (base, size) = self.range();
                Op::Reserve { base, size }
            }
            4 => {
                let (base, size) = self.range();
                Op::Free { base, size }
            }
            5 | 6 => {
                let (base, size) = self.range();
                let b = self.byte();
                Op::SetFlag {
                    base,
                    size,
                    flag: if b & 1 == 0 {
                        RegionFlags::HOTPLUG
                    } else {
                        RegionFlags::NOMAP
                    },
                    on: b & 2 == 0,
                }
            }
            7 => {
                let (base, size) = self.range();
                Op::SetNode {
                    base,
                    size,
                    nid: self.nid(),
                }
            }
            8 => Op::SetLimit(match self.max_addr() {
                // A limit of 0 would stop every allocation: make it "none".
                MEMBLOCK_ALLOC_ACCESSIBLE => MEMBLOCK_ALLOC_ANYWHERE,
                limit => limit,
            }),
            9 => Op::MovableNode(self.byte() & 1 == 1),
            10 | 11 => Op::AllocTryNid {
                size: self.alloc_size(),
                align: self.align(),
                min_addr: self.min_addr(),
                max_addr: self.max_addr(),
                nid: self.nid(),
            },
            12 => Op::AllocRange {
                size: self.alloc_size(),
                align: self.align(),
                start: self.min_addr(),
                end: self.max_addr(),
            },
            _ => {
                let (base, size) = self.range();
                Op::Query { base, size }
            }
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Unit {
    /// Node and flags, if the unit is memory.
    memory: Option<(i32, RegionFlags)>,
    reserved: bool,
}

/// What memblock should hold, unit by unit.
struct Model {
    units: [Unit; UNITS],
    limit: u64,
    movable_node: bool,
}

fn units(base: u64, size: u64) -> core::ops::Range<usize> {
    (base / UNIT) as usize..((base + size) / UNIT) as usize
}

/// Maximal runs of units with equal `key` (units with `None` belong to no run).
fn runs<K: PartialEq + Copy>(key: impl Fn(usize) -> Option<K>) -> Vec<(usize, usize, K)> {
    let mut out: Vec<(usize, usize, K)> = Vec::new();
    for u in 0..UNITS {
        let Some(k) = key(u) else { continue };
        match out.last_mut() {
            Some((_, end, last)) if *end == u && *last == k => *end = u + 1,
            _ => out.push((u, u + 1, k)),
        }
    }
    out
}

impl Model {
    fn new() -> Self {
        Self {
            units: [Unit::default(); UNITS],
            limit: MEMBLOCK_ALLOC_ANYWHERE,
            movable_node: false,
        }
    }

    fn memory_regions(&self) -> Vec<Region> {
        runs(|u| self.units[u].memory)
            .into_iter()
            .map(|(s, e, (nid, flags))| region(s, e, nid, flags))
            .collect()
    }

    fn reserved_regions(&self) -> Vec<Region> {
        runs(|u| self.units[u].reserved.then_some(()))
            .into_iter()
            .map(|(s, e, ())| region(s, e, NUMA_NO_NODE, RegionFlags::empty()))
            .collect()
    }

    /// Can the allocator use this unit when searching node `nid`? Returns its key (node,
    /// flags): a block must not cross from one key to another (a region boundary).
    fn usable(&self, u: usize, nid: i32) -> Option<(i32, RegionFlags)> {
        let unit = self.units[u];
        let (n, flags) = unit.memory?;
        let skip = unit.reserved
            || (numa_valid_node(nid) && n != nid)
            || (self.movable_node && flags.contains(RegionFlags::HOTPLUG))
            || flags.contains(RegionFlags::NOMAP);
        (!skip).then_some((n, flags))
    }

    fn free_ranges(&self, nid: i32) -> Vec<FreeRange> {
        runs(|u| self.usable(u, nid))
            .into_iter()
            .map(|(s, e, (n, _))| FreeRange {
                start: s as u64 * UNIT,
                end: e as u64 * UNIT,
                nid: n,
            })
            .collect()
    }

    /// Brute force: the highest multiple of `align` where `size` usable bytes of one
    /// region lie inside the window Linux derives from `[start, end)`.
    fn find(&self, size: u64, align: u64, start: u64, end: u64, nid: i32) -> Option<u64> {
        let end = if end == MEMBLOCK_ALLOC_ACCESSIBLE {
            self.limit
        } else {
            end
        };
        let start = start.max(PAGE_SIZE);
        let end = end.max(start).min(SPACE);
        // run[u]: how many usable units with the key of unit u start at u.
        let mut run = [0usize; UNITS + 1];
        for u in (0..UNITS).rev() {
            if let Some(key) = self.usable(u, nid) {
                let same = u + 1 < UNITS && self.usable(u + 1, nid) == Some(key);
                run[u] = if same { run[u + 1] + 1 } else { 1 };
            }
        }
        // Sizes and bounds are whole units, so the best address is too.
        let step = align.max(UNIT);
        let mut a = end.checked_sub(size)? / step * step;
        loop {
            if a < start {
                return None;
            }
            if run[(a / UNIT) as usize] as u64 * UNIT >= size {
                return Some(a);
            }
            a = a.checked_sub(step)?;
        }
    }

    /// Linux's node fallback: node `nid`, then any node.
    fn find_node_then_any(
        &self,
        size: u64,
        align: u64,
        start: u64,
        end: u64,
        nid: i32,
    ) -> Option<u64> {
        let nid = normalize_nid(nid);
        self.find(size, align, start, end, nid).or_else(|| {
            (nid != NUMA_NO_NODE)
                .then(|| self.find(size, align, start, end, NUMA_NO_NODE))
                .flatten()
        })
    }

    fn set(&mut self, base: u64, size: u64, f: impl Fn(&mut Unit)) {
        self.units[units(base, size)].iter_mut().for_each(f);
    }

    fn is_memory(&self, base: u64, size: u64) -> bool {
        let first = (base / UNIT) as usize;
        let Some(key) = self.units.get(first).and_then(|u| u.memory) else {
            return false;
        };
        let last = ((base + size) / UNIT) as usize;
        (first..last).all(|u| self.units[u].memory == Some(key))
    }

    fn is_reserved(&self, base: u64, size: u64) -> bool {
        let u = (base / UNIT) as usize;
        if size == 0 {
            // Only a reservation strictly around `base` intersects an empty range.
            return u > 0 && u < UNITS && self.units[u - 1].reserved && self.units[u].reserved;
        }
        self.units[units(base, size)].iter().any(|u| u.reserved)
    }
}

fn region(start: usize, end: usize, nid: i32, flags: RegionFlags) -> Region {
    Region {
        base: start as u64 * UNIT,
        size: (end - start) as u64 * UNIT,
        flags,
        nid,
    }
}

fn discard(_: Level, _: fmt::Arguments<'_>) {}

/// What an allocation should do.
#[derive(Debug, PartialEq, Eq)]
enum Expect {
    At(u64),
    NoSpace,
    BadAlign,
}

fn effective_align(align: u64) -> Option<u64> {
    match align {
        0 => Some(SMP_CACHE_BYTES),
        a if a.is_power_of_two() => Some(a),
        _ => None,
    }
}

/// Check an allocation's outcome against the model, then record it there.
fn check_alloc(
    model: &mut Model,
    expect: Expect,
    got: Result<u64, super::AllocError>,
    size: u64,
    align: u64,
    end: u64,
) {
    match (expect, got) {
        (Expect::At(want), Ok(got)) => {
            assert_eq!(got, want, "allocated at {got:#x}, expected {want:#x}");
            assert_eq!(got % align.max(1), 0, "misaligned allocation");
            assert!(got >= PAGE_SIZE, "allocation below PAGE_SIZE");
            assert!(got + size <= end, "allocation above its bound {end:#x}");
            assert!(
                model.units[units(got, size)]
                    .iter()
                    .all(|u| u.memory.is_some() && !u.reserved),
                "allocation outside free memory"
            );
            model.set(got, size, |u| u.reserved = true);
        }
        (Expect::NoSpace, Err(e)) => {
            assert!(matches!(e.reason, AllocFailure::NoSpace { .. }), "{e}")
        }
        (Expect::BadAlign, Err(e)) => assert_eq!(e.reason, AllocFailure::BadAlign, "{e}"),
        (expect, got) => panic!("expected {expect:?}, got {got:?}"),
    }
}

fn apply(mb: &mut Memblock, model: &mut Model, op: Op) {
    const CALLER: &str = "fuzz";
    match op {
        Op::AddNode {
            base,
            size,
            nid,
            flags,
        } => {
            mb.add_node(base, size, nid, flags, CALLER).unwrap();
            let key = (normalize_nid(nid), flags);
            model.set(base, size, |u| {
                u.memory.get_or_insert(key);
            });
        }
        Op::Add { base, size } => {
            mb.add(base, size, CALLER).unwrap();
            let key = (NUMA_NO_NODE, RegionFlags::empty());
            model.set(base, size, |u| {
                u.memory.get_or_insert(key);
            });
        }
        Op::Remove { base, size } => {
            mb.remove(base, size, CALLER).unwrap();
            model.set(base, size, |u| u.memory = None);
        }
        Op::Reserve { base, size } => {
            mb.reserve(base, size, CALLER).unwrap();
            model.set(base, size, |u| u.reserved = true);
        }
        Op::Free { base, size } => {
            mb.free(base, size, CALLER).unwrap();
            model.set(base, size, |u| u.reserved = false);
        }
        Op::SetFlag {
            base,
            size,
            flag,
            on,
        } => {
            match (flag == RegionFlags::HOTPLUG, on) {
                (true, true) => mb.mark_hotplug(base, size),
                (true, false) => mb.clear_hotplug(base, size),
                (false, true) => mb.mark_nomap(base, size),
                (false, false) => mb.clear_nomap(base, size),
            }
            .unwrap();
            model.set(base, size, |u| {
                if let Some((_, flags)) = &mut u.memory {
                    flags.set(flag, on);
                }
            });
        }
        Op::SetNode { base, size, nid } => {
            mb.set_node(base, size, nid).unwrap();
            model.set(base, size, |u| {
                if let Some((n, _)) = &mut u.memory {
                    *n = normalize_nid(nid);
                }
            });
        }
        Op::SetLimit(limit) => {
            mb.set_current_limit(limit);
            model.limit = limit;
        }
        Op::MovableNode(on) => {
            mb.set_movable_node(on);
            model.movable_node = on;
        }
        Op::AllocTryNid {
            size,
            align,
            min_addr,
            max_addr,
            nid,
        } => {
            let max = max_addr.min(model.limit);
            let expect = match effective_align(align) {
                None => Expect::BadAlign,
                Some(a) => model
                    .find_node_then_any(size, a, min_addr, max, nid)
                    .or_else(|| {
                        (min_addr != 0)
                            .then(|| model.find_node_then_any(size, a, 0, max, nid))
                            .flatten()
                    })
                    .map_or(Expect::NoSpace, Expect::At),
            };
            let bound = if max == MEMBLOCK_ALLOC_ACCESSIBLE {
                model.limit
            } else {
                max
            };
            let got = mb.alloc_try_nid(size, align, min_addr, max_addr, nid, CALLER);
            check_alloc(
                model,
                expect,
                got,
                size,
                effective_align(align).unwrap_or(1),
                bound,
            );
        }
        Op::AllocRange {
            size,
            align,
            start,
            end,
        } => {
            let expect = match effective_align(align) {
                None => Expect::BadAlign,
                Some(a) => model
                    .find(size, a, start, end, NUMA_NO_NODE)
                    .map_or(Expect::NoSpace, Expect::At),
            };
            let bound = if end == MEMBLOCK_ALLOC_ACCESSIBLE {
                model.limit
            } else {
                end
            };
            let got = mb.alloc_range(size, align, start, end, CALLER);
            if let Ok(a) = got {
                assert!(a >= start, "alloc_range went below start");
            }
            check_alloc(
                model,
                expect,
                got,
                size,
                effective_align(align).unwrap_or(1),
                bound,
            );
        }
        Op::Query { base, size } => {
            assert_eq!(
                mb.is_memory(base, size),
                model.is_memory(base, size),
                "is_memory"
            );
            assert_eq!(
                mb.is_reserved(base, size),
                model.is_reserved(base, size),
                "is_reserved"
            );
        }
    }
}

/// The structural invariants of one array, checked directly.
fn check_array(name: &str, regions: &[Region]) {
    for r in regions {
        assert!(r.size > 0, "{name}: empty region {r:?}");
    }
    for pair in regions.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        assert!(
            a.end() <= b.base,
            "{name}: unsorted or overlapping {a:?} {b:?}"
        );
        assert!(
            a.end() < b.base || a.nid != b.nid || a.flags != b.flags,
            "{name}: mergeable neighbours {a:?} {b:?}"
        );
    }
}

fn check(mb: &Memblock, model: &Model) {
    check_array("memory", mb.memory());
    check_array("reserved", mb.reserved());
    let memory = model.memory_regions();
    let reserved = model.reserved_regions();
    assert_eq!(mb.memory(), &memory[..], "memory array");
    assert_eq!(mb.reserved(), &reserved[..], "reserved array");
    assert_eq!(
        mb.phys_mem_size(),
        memory.iter().map(|r| r.size).sum::<u64>()
    );
    assert_eq!(
        mb.reserved_size(),
        reserved.iter().map(|r| r.size).sum::<u64>()
    );
    let free_units = model
        .units
        .iter()
        .filter(|u| u.memory.is_some() && !u.reserved)
        .count();
    assert_eq!(mb.free_size(), free_units as u64 * UNIT, "free_size");
    assert_eq!(mb.start_of_dram(), memory.first().map_or(0, |r| r.base));
    assert_eq!(mb.end_of_dram(), memory.last().map_or(0, |r| r.end()));
    for nid in [NUMA_NO_NODE, 1] {
        let want = model.free_ranges(nid);
        let up: Vec<FreeRange> = mb.free_ranges(nid).collect();
        assert_eq!(up, want, "free ranges of node {nid}");
        let mut down: Vec<FreeRange> = mb.free_ranges_rev(nid).collect();
        down.reverse();
        assert_eq!(down, want, "descending free ranges of node {nid}");
    }
}

/// Apply the operations encoded in `data` to a fresh [`Memblock`], checking it against
/// the model after each; panics at the first disagreement. Returns the number of
/// operations applied.
pub fn run(data: &[u8]) -> usize {
    let mut mb = Memblock::new();
    mb.set_log_sink(discard);
    let mut model = Model::new();
    let mut input = Input { data, pos: 0 };
    let mut count = 0;
    while input.pos < input.data.len() {
        let op = input.op();
        // Name the operation if a check below panics.
        #[cfg(not(target_os = "none"))]
        let guard = OpGuard { count, op };
        apply(&mut mb, &mut model, op);
        check(&mb, &model);
        #[cfg(not(target_os = "none"))]
        core::mem::forget(guard);
        count += 1;
    }
    count
}

/// Reports the operation being checked when a check panics and unwinds (host test runs
/// and fuzzers, which are hosted; the kernel target has no stderr).
#[cfg(not(target_os = "none"))]
struct OpGuard {
    count: usize,
    op: Op,
}

#[cfg(not(target_os = "none"))]
impl Drop for OpGuard {
    fn drop(&mut self) {
        std::eprintln!(
            "memblock fuzzing: operation {} failed: {:?}",
            self.count,
            self.op
        );
    }
}
