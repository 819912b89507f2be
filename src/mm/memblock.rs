//! memblock: the boot-time physical memory map and allocator (Linux `mm/memblock.c`).
//!
//! Until a page allocator exists, physical memory is described by two arrays of
//! [`Region`]s:
//!
//! * `memory`: the RAM the firmware reported, each region optionally tagged with a NUMA
//!   node and [`RegionFlags`];
//! * `reserved`: what is in use: the kernel image, the device tree, the initrd, firmware
//!   areas, and every block this allocator has handed out.
//!
//! Free memory is `memory` minus `reserved`. Both arrays are kept sorted by address, their
//! regions never overlap, and neighbours that touch and have the same node and flags are
//! merged, so each array is the shortest description of its set. Adding a range that
//! overlaps existing regions adds only the parts not yet covered (the existing regions keep
//! their node and flags); removing, freeing, or changing the node or flags of a range first
//! splits the regions it cuts.
//!
//! The arrays start with room for [`INIT_MEMBLOCK_REGIONS`] regions and double when full.
//! Linux carves its grown arrays out of memblock memory; here they live on the kernel heap,
//! which is part of the kernel image and so already reserved. A failed growth is a
//! [`ResizeError`], never a panic.
//!
//! The allocator is Linux's top-down first fit: it walks the free ranges from the highest
//! address down and takes the highest suitably aligned block that fits inside one of them.
//! [`Memblock::alloc_try_nid`] describes the search order and its fallbacks. It only keeps
//! the books: it reserves the block and returns its physical address, and the caller
//! zeroes the memory if it needs to.
//!
//! No allocation goes above the *current limit* ([`Memblock::set_current_limit`]). On the
//! pseries hash MMU the kernel runs with translation off until the hash page table and the
//! linear mapping exist, and in real mode only the real-mode area (RMA) at the bottom of
//! memory can be reached. So early boot sets the limit to the end of the RMA and lifts it
//! to [`MEMBLOCK_ALLOC_ANYWHERE`] once translation is on.
//!
//! Logging follows Linux: with `memblock=debug` ([`Memblock::set_debug`]) every operation
//! prints one line naming its caller, and [`Memblock::dump`] prints the `MEMBLOCK
//! configuration:` table. These lines have no prefix, as in Linux.

extern crate alloc;

use alloc::vec::Vec;
use core::fmt::{self, Write};

use bitflags::bitflags;

use crate::fault::Countdown;
use crate::printk::{self, Level, StackString};

pub use super::PAGE_SIZE;

#[doc(hidden)]
mod free;
pub mod fuzzing;
mod region;

use free::Filter;
pub use free::{FreeRange, FreeRanges};
use region::RegionArray;
#[cfg(test)]
mod tests;

/// memblock's messages have no prefix (Linux's memblock.c defines no `pr_fmt`).
const PR_PREFIX: &str = "";

/// "No node": a region that belongs to no NUMA node, or a request for any node.
pub const NUMA_NO_NODE: i32 = -1;
/// Node ids run from 0 to `MAX_NUMNODES - 1`.
pub const MAX_NUMNODES: usize = 256;
/// Regions each array has room for before it first grows.
pub const INIT_MEMBLOCK_REGIONS: usize = 128;
/// The alignment used when an allocation asks for 0 (Linux `SMP_CACHE_BYTES`, the ppc64
/// cache line).
pub const SMP_CACHE_BYTES: u64 = 128;
/// The highest physical address.
pub const PHYS_ADDR_MAX: u64 = u64::MAX;
/// A limit that does not limit: the initial current limit, and a `max_addr` that leaves
/// only the current limit in force.
pub const MEMBLOCK_ALLOC_ANYWHERE: u64 = u64::MAX;
/// A `max_addr` meaning "up to the current limit" (Linux's value, 0).
pub const MEMBLOCK_ALLOC_ACCESSIBLE: u64 = 0;

bitflags! {
    /// Region attributes (Linux `enum memblock_flags`, with its values).
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct RegionFlags: u32 {
        /// Hot-removable memory: not allocated from while `movable_node` is set.
        const HOTPLUG = 0x1;
        /// Mirrored (more reliable) memory.
        const MIRROR = 0x2;
        /// Not to be mapped by the kernel: never allocated from.
        const NOMAP = 0x4;
    }
}

/// One region: `[base, base + size)`, its flags and its NUMA node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    pub base: u64,
    pub size: u64,
    pub flags: RegionFlags,
    /// The node, or [`NUMA_NO_NODE`].
    pub nid: i32,
}

impl Region {
    /// The first address after the region.
    pub const fn end(&self) -> u64 {
        self.base.saturating_add(self.size)
    }
}

/// Is `nid` a real node id (not [`NUMA_NO_NODE`] nor out of range)?
pub const fn numa_valid_node(nid: i32) -> bool {
    nid >= 0 && (nid as usize) < MAX_NUMNODES
}

/// Node ids that name no node are all stored as [`NUMA_NO_NODE`].
const fn normalize_nid(nid: i32) -> i32 {
    if numa_valid_node(nid) {
        nid
    } else {
        NUMA_NO_NODE
    }
}

/// Shrink `size` so that `base + size` does not overflow (Linux `memblock_cap_size`).
const fn cap_size(base: u64, size: u64) -> u64 {
    let room = PHYS_ADDR_MAX - base;
    if size < room { size } else { room }
}

/// A region array was full and could not grow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResizeError {
    /// `"memory"` or `"reserved"`.
    pub array: &'static str,
    /// Entries the array had room for.
    pub from: usize,
    /// Entries it needed room for.
    pub to: usize,
}

impl fmt::Display for ResizeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "memblock: Failed to double {} array from {} to {} entries !",
            self.array, self.from, self.to
        )
    }
}

/// Why an allocation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AllocFailure {
    /// No free range, after every fallback, holds the block. The last search covered
    /// `[window_start, window_end)`, whose largest free block (any node, alignment
    /// ignored) is `largest_free` bytes.
    NoSpace {
        window_start: u64,
        window_end: u64,
        largest_free: u64,
        current_limit: u64,
    },
    /// The alignment is not a power of two.
    BadAlign,
    /// A block was found but the reserved array could not grow to record it.
    Resize(ResizeError),
    /// `fail_memblock=N`: this, the N-th allocation, was made to fail.
    Injected { nth: u64 },
}

/// A failed allocation: the request as the caller made it, and why it failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AllocError {
    /// The Linux function this stands for: `memblock_alloc_try_nid` or
    /// `memblock_phys_alloc_range`.
    pub func: &'static str,
    pub size: u64,
    pub align: u64,
    /// The node asked for (`None` for `memblock_phys_alloc_range`, which takes none).
    pub nid: Option<i32>,
    pub min_addr: u64,
    pub max_addr: u64,
    pub caller: &'static str,
    pub reason: AllocFailure,
}

impl fmt::Display for AllocError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: Failed to allocate {:#018x} bytes align={:#x}",
            self.func, self.size, self.align
        )?;
        if let Some(nid) = self.nid {
            write!(f, " nid={nid}")?;
        }
        write!(
            f,
            " from={:#018x} max_addr={:#018x} {}: ",
            self.min_addr, self.max_addr, self.caller
        )?;
        match self.reason {
            AllocFailure::NoSpace {
                window_start,
                window_end,
                largest_free,
                current_limit,
            } => {
                if window_start < window_end {
                    write!(
                        f,
                        "largest free block in [{:#018x}-{:#018x}] is {:#x} bytes",
                        window_start,
                        window_end - 1,
                        largest_free
                    )?;
                } else {
                    write!(f, "empty search window at {window_start:#018x}")?;
                }
                write!(f, " (current_limit={current_limit:#018x})")
            }
            AllocFailure::BadAlign => write!(f, "align is not a power of two"),
            AllocFailure::Resize(e) => write!(f, "{e}"),
            AllocFailure::Injected { nth } => {
                write!(f, "fault injected (fail_memblock={nth})")
            }
        }
    }
}

/// Where memblock's messages go: a level and one line of text (no newline).
pub type LogSink = fn(Level, fmt::Arguments<'_>);

/// The default [`LogSink`]: printk, with no prefix.
pub fn printk_sink(level: Level, args: fmt::Arguments<'_>) {
    printk::printk(level, PR_PREFIX, args);
}

#[derive(Clone, Copy, Debug)]
struct Log {
    /// `memblock=debug`.
    debug: bool,
    sink: LogSink,
}

impl Log {
    fn emit(&self, level: Level, args: fmt::Arguments<'_>) {
        (self.sink)(level, args);
    }

    /// Linux `memblock_dbg`: an info line, only with `memblock=debug`.
    fn dbg(&self, args: fmt::Arguments<'_>) {
        if self.debug {
            self.emit(Level::Info, args);
        }
    }

    /// The line Linux's add/remove/reserve/free functions print: the range with an
    /// inclusive end (computed as Linux does, wrapping for size 0).
    fn dbg_range(&self, func: &str, base: u64, size: u64, caller: &str) {
        let end = base.wrapping_add(size).wrapping_sub(1);
        self.dbg(format_args!("{func}: [{base:#018x}-{end:#018x}] {caller}"));
    }
}

/// Sends the lines of a multi-line text to the log one by one.
struct LineWriter<'a> {
    log: &'a Log,
    line: StackString<256>,
}

impl Write for LineWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for (i, part) in s.split('\n').enumerate() {
            if i > 0 {
                self.log
                    .emit(Level::Info, format_args!("{}", self.line.as_str()));
                self.line = StackString::new();
            }
            // A line longer than the buffer is cut short rather than lost.
            let _ = self.line.write_str(part);
        }
        Ok(())
    }
}

/// The physical memory map and allocator (Linux `struct memblock` and its functions).
///
/// The `caller` arguments stand for Linux's `%pS` of the return address: the name of the
/// function asking, printed at the end of the `memblock=debug` lines.
#[derive(Debug)]
pub struct Memblock {
    memory: RegionArray,
    reserved: RegionArray,
    current_limit: u64,
    movable_node: bool,
    log: Log,
    /// Allocations counted for `fail_memblock=N`.
    inject: Countdown,
}

impl Default for Memblock {
    fn default() -> Self {
        Self::new()
    }
}

impl Memblock {
    /// Empty arrays with room for [`INIT_MEMBLOCK_REGIONS`] regions each, no current limit,
    /// debug off, messages to printk.
    pub fn new() -> Self {
        Self {
            memory: RegionArray::new("memory"),
            reserved: RegionArray::new("reserved"),
            current_limit: MEMBLOCK_ALLOC_ANYWHERE,
            movable_node: false,
            log: Log {
                debug: false,
                sink: printk_sink,
            },
            inject: Countdown::new(),
        }
    }

    /// `fail_memblock=N`: the N-th allocation (counted from the first one this memblock
    /// served, by [`Self::alloc_try_nid`] or [`Self::alloc_range`]) fails with
    /// [`AllocFailure::Injected`]. `Err(count)` when that many allocations were already
    /// made, so the N-th is past.
    pub fn inject_failure(&mut self, nth: u64) -> Result<(), u64> {
        self.inject.arm(nth)
    }

    /// Allocations made so far (successful or not).
    pub fn alloc_calls(&self) -> u64 {
        self.inject.seen()
    }

    /// The injected failure that has not happened yet, if one is armed.
    pub fn injection_pending(&self) -> Option<u64> {
        self.inject.pending()
    }

    /// Count an allocation; the armed one fails here, with Linux's fault-injection
    /// notice.
    fn injected(&self, request: &AllocError) -> Result<(), AllocError> {
        match self.inject.tick() {
            None => Ok(()),
            Some(nth) => {
                let e = AllocError {
                    reason: AllocFailure::Injected { nth },
                    ..*request
                };
                self.log.emit(
                    Level::Notice,
                    format_args!("FAULT_INJECTION: forcing a failure: {e}"),
                );
                Err(e)
            }
        }
    }

    /// `memblock=debug`: print a line for every operation.
    pub fn set_debug(&mut self, on: bool) {
        self.log.debug = on;
    }

    pub fn debug(&self) -> bool {
        self.log.debug
    }

    /// Send messages somewhere other than printk (tests capture them this way).
    pub fn set_log_sink(&mut self, sink: LogSink) {
        self.log.sink = sink;
    }

    /// Linux `movable_node`: keep allocations out of hot-removable memory.
    pub fn set_movable_node(&mut self, on: bool) {
        self.movable_node = on;
    }

    pub fn movable_node(&self) -> bool {
        self.movable_node
    }

    /// Add memory of node `nid` (Linux `memblock_add_node`).
    pub fn add_node(
        &mut self,
        base: u64,
        size: u64,
        nid: i32,
        flags: RegionFlags,
        caller: &'static str,
    ) -> Result<(), ResizeError> {
        let end = base.wrapping_add(size).wrapping_sub(1);
        self.log.dbg(format_args!(
            "memblock_add_node: [{base:#018x}-{end:#018x}] nid={nid} flags={:x} {caller}",
            flags.bits()
        ));
        self.memory.add_range(base, size, nid, flags, &self.log)
    }

    /// Add memory that belongs to no node (Linux `memblock_add`).
    pub fn add(&mut self, base: u64, size: u64, caller: &'static str) -> Result<(), ResizeError> {
        self.log.dbg_range("memblock_add", base, size, caller);
        self.memory
            .add_range(base, size, NUMA_NO_NODE, RegionFlags::empty(), &self.log)
    }

    /// Take a range out of memory (Linux `memblock_remove`). Reservations are untouched.
    pub fn remove(
        &mut self,
        base: u64,
        size: u64,
        caller: &'static str,
    ) -> Result<(), ResizeError> {
        self.log.dbg_range("memblock_remove", base, size, caller);
        self.memory.remove_range(base, size, &self.log)
    }

    /// Mark a range in use (Linux `memblock_reserve`). It need not be memory.
    pub fn reserve(
        &mut self,
        base: u64,
        size: u64,
        caller: &'static str,
    ) -> Result<(), ResizeError> {
        self.log.dbg_range("memblock_reserve", base, size, caller);
        self.reserved
            .add_range(base, size, NUMA_NO_NODE, RegionFlags::empty(), &self.log)
    }

    /// Release a reserved range (Linux `memblock_phys_free`).
    pub fn free(&mut self, base: u64, size: u64, caller: &'static str) -> Result<(), ResizeError> {
        self.log.dbg_range("memblock_phys_free", base, size, caller);
        self.reserved.remove_range(base, size, &self.log)
    }

    fn set_memory_flag(
        &mut self,
        base: u64,
        size: u64,
        flag: RegionFlags,
        on: bool,
    ) -> Result<(), ResizeError> {
        self.memory
            .modify(base, size, &self.log, |r| r.flags.set(flag, on))
    }

    /// Flag memory as hot-removable (Linux `memblock_mark_hotplug`).
    pub fn mark_hotplug(&mut self, base: u64, size: u64) -> Result<(), ResizeError> {
        self.set_memory_flag(base, size, RegionFlags::HOTPLUG, true)
    }

    /// Linux `memblock_clear_hotplug`.
    pub fn clear_hotplug(&mut self, base: u64, size: u64) -> Result<(), ResizeError> {
        self.set_memory_flag(base, size, RegionFlags::HOTPLUG, false)
    }

    /// Keep memory out of the kernel's mappings and the allocator (Linux
    /// `memblock_mark_nomap`).
    pub fn mark_nomap(&mut self, base: u64, size: u64) -> Result<(), ResizeError> {
        self.set_memory_flag(base, size, RegionFlags::NOMAP, true)
    }

    /// Linux `memblock_clear_nomap`.
    pub fn clear_nomap(&mut self, base: u64, size: u64) -> Result<(), ResizeError> {
        self.set_memory_flag(base, size, RegionFlags::NOMAP, false)
    }

    /// Assign the memory in a range to node `nid` (Linux `memblock_set_node` on
    /// `memblock.memory`).
    pub fn set_node(&mut self, base: u64, size: u64, nid: i32) -> Result<(), ResizeError> {
        let nid = normalize_nid(nid);
        self.memory.modify(base, size, &self.log, |r| r.nid = nid)
    }

    /// Allocate nothing above `limit` (Linux `memblock_set_current_limit`).
    pub fn set_current_limit(&mut self, limit: u64) {
        self.current_limit = limit;
    }

    pub fn current_limit(&self) -> u64 {
        self.current_limit
    }

    /// Bytes of memory (Linux `memblock_phys_mem_size`).
    pub fn phys_mem_size(&self) -> u64 {
        self.memory.total_size
    }

    /// Bytes reserved, whether memory or not (Linux `memblock_reserved_size`).
    pub fn reserved_size(&self) -> u64 {
        self.reserved.total_size
    }

    /// Bytes of memory that no reservation covers, NOMAP and hot-removable memory
    /// included.
    pub fn free_size(&self) -> u64 {
        let mut all = self.free_ranges(NUMA_NO_NODE);
        all.filter.all = true;
        all.map(|r| r.end - r.start).sum()
    }

    /// Bytes of [`Self::free_size`] inside `[base, end)`.
    pub fn free_size_in(&self, base: u64, end: u64) -> u64 {
        let mut all = self.free_ranges(NUMA_NO_NODE);
        all.filter.all = true;
        all.map(|r| r.end.min(end).saturating_sub(r.start.max(base)))
            .sum()
    }

    /// The lowest memory address, 0 without memory (Linux `memblock_start_of_DRAM`).
    pub fn start_of_dram(&self) -> u64 {
        self.memory.regions.first().map_or(0, |r| r.base)
    }

    /// The end of the highest memory region, 0 without memory (Linux
    /// `memblock_end_of_DRAM`).
    pub fn end_of_dram(&self) -> u64 {
        self.memory.regions.last().map_or(0, Region::end)
    }

    /// Does one memory region hold all of `[base, base + size)` (Linux
    /// `memblock_is_region_memory`)? A range crossing from one region into a touching
    /// one of another node or other flags does not count.
    pub fn is_memory(&self, base: u64, size: u64) -> bool {
        let end = base + cap_size(base, size);
        self.memory
            .search(base)
            .is_some_and(|i| self.memory.regions[i].end() >= end)
    }

    /// Does any reservation intersect `[base, base + size)` (Linux
    /// `memblock_is_region_reserved`)?
    pub fn is_reserved(&self, base: u64, size: u64) -> bool {
        self.reserved.overlaps(base, size)
    }

    pub fn memory(&self) -> &[Region] {
        &self.memory.regions
    }

    pub fn reserved(&self) -> &[Region] {
        &self.reserved.regions
    }

    /// The free ranges of node `nid` ([`NUMA_NO_NODE`]: of every node), lowest first.
    pub fn free_ranges(&self, nid: i32) -> FreeRanges<'_> {
        FreeRanges {
            memory: &self.memory.regions,
            reserved: &self.reserved.regions,
            filter: Filter {
                nid,
                movable_node: self.movable_node,
                all: false,
            },
            mem: 0,
            gap: 0,
            descending: false,
        }
    }

    /// The free ranges of node `nid`, highest first.
    pub fn free_ranges_rev(&self, nid: i32) -> FreeRanges<'_> {
        FreeRanges {
            mem: self.memory.regions.len(),
            gap: self.reserved.regions.len(),
            descending: true,
            ..self.free_ranges(nid)
        }
    }

    /// Allocate `size` bytes aligned to `align`, preferably in node `nid` and between
    /// `min_addr` and `max_addr` (Linux `memblock_alloc_try_nid`, which also zeroes the
    /// block: the caller does that here). Returns the physical address, now reserved.
    ///
    /// `max_addr` is lowered to the current limit; [`MEMBLOCK_ALLOC_ACCESSIBLE`] means the
    /// current limit itself. Nothing is allocated below [`PAGE_SIZE`]. Within
    /// `[min_addr, max_addr)` the highest block that fits is taken, first in node `nid`,
    /// then, if `nid` is a node, in any node; if both fail and `min_addr` is not 0, both
    /// are tried again from address 0. An `align` of 0 is taken as [`SMP_CACHE_BYTES`]
    /// with a warning, as in Linux; one that is not a power of two is an error.
    pub fn alloc_try_nid(
        &mut self,
        size: u64,
        align: u64,
        min_addr: u64,
        max_addr: u64,
        nid: i32,
        caller: &'static str,
    ) -> Result<u64, AllocError> {
        self.log.dbg(format_args!(
            "memblock_alloc_try_nid: {size} bytes align={align:#x} nid={nid} \
             from={min_addr:#018x} max_addr={max_addr:#018x} {caller}"
        ));
        // The request as made, to report a failure; each failure sets its own reason.
        let request = AllocError {
            func: "memblock_alloc_try_nid",
            size,
            align,
            nid: Some(nid),
            min_addr,
            max_addr,
            caller,
            reason: AllocFailure::BadAlign,
        };
        self.injected(&request)?;
        let align = self.alloc_align(&request)?;
        let max_addr = max_addr.min(self.current_limit);
        let mut found = self.alloc_range_nid(size, align, min_addr, max_addr, nid, &request)?;
        if found.is_none() && min_addr != 0 {
            found = self.alloc_range_nid(size, align, 0, max_addr, nid, &request)?;
        }
        found.ok_or_else(|| self.no_space(&request, 0, max_addr))
    }

    /// `alloc_try_nid(size, align, 0, MEMBLOCK_ALLOC_ACCESSIBLE, NUMA_NO_NODE)` (Linux
    /// `memblock_alloc`).
    pub fn alloc(
        &mut self,
        size: u64,
        align: u64,
        caller: &'static str,
    ) -> Result<u64, AllocError> {
        self.alloc_try_nid(
            size,
            align,
            0,
            MEMBLOCK_ALLOC_ACCESSIBLE,
            NUMA_NO_NODE,
            caller,
        )
    }

    /// Allocate `size` bytes aligned to `align` between `start` and `end`, any node
    /// (Linux `memblock_phys_alloc_range`). Unlike [`Self::alloc_try_nid`] the bounds are
    /// kept as given: `end` is not lowered to the current limit (except that
    /// [`MEMBLOCK_ALLOC_ACCESSIBLE`] means the current limit) and there is no retry from 0.
    pub fn alloc_range(
        &mut self,
        size: u64,
        align: u64,
        start: u64,
        end: u64,
        caller: &'static str,
    ) -> Result<u64, AllocError> {
        self.log.dbg(format_args!(
            "memblock_phys_alloc_range: {size} bytes align={align:#x} \
             from={start:#018x} max_addr={end:#018x} {caller}"
        ));
        // The request as made, to report a failure; each failure sets its own reason.
        let request = AllocError {
            func: "memblock_phys_alloc_range",
            size,
            align,
            nid: None,
            min_addr: start,
            max_addr: end,
            caller,
            reason: AllocFailure::BadAlign,
        };
        self.injected(&request)?;
        let align = self.alloc_align(&request)?;
        self.alloc_range_nid(size, align, start, end, NUMA_NO_NODE, &request)?
            .ok_or_else(|| self.no_space(&request, start, end))
    }

    /// The alignment to use: 0 becomes [`SMP_CACHE_BYTES`] with a warning (Linux dumps
    /// the stack there); anything else must be a power of two.
    fn alloc_align(&self, request: &AllocError) -> Result<u64, AllocError> {
        match request.align {
            0 => {
                self.log.emit(
                    Level::Warning,
                    format_args!(
                        "memblock_alloc_range_nid: align=0 from {}, using SMP_CACHE_BYTES ({:#x})",
                        request.caller, SMP_CACHE_BYTES
                    ),
                );
                Ok(SMP_CACHE_BYTES)
            }
            a if a.is_power_of_two() => Ok(a),
            _ => Err(AllocError {
                reason: AllocFailure::BadAlign,
                ..*request
            }),
        }
    }

    /// Find and reserve a block in `[start, end)`, in node `nid` first and then, if `nid`
    /// is a node, in any node (Linux `memblock_alloc_range_nid`).
    fn alloc_range_nid(
        &mut self,
        size: u64,
        align: u64,
        start: u64,
        end: u64,
        nid: i32,
        request: &AllocError,
    ) -> Result<Option<u64>, AllocError> {
        let nid = normalize_nid(nid);
        let mut found = self.find_in_range_node(size, align, start, end, nid);
        if found.is_none() && nid != NUMA_NO_NODE {
            found = self.find_in_range_node(size, align, start, end, NUMA_NO_NODE);
        }
        let Some(base) = found else {
            return Ok(None);
        };
        self.log
            .dbg_range("memblock_reserve", base, size, "memblock_alloc_range_nid");
        self.reserved
            .add_range(base, size, NUMA_NO_NODE, RegionFlags::empty(), &self.log)
            .map_err(|e| AllocError {
                reason: AllocFailure::Resize(e),
                ..*request
            })?;
        Ok(Some(base))
    }

    /// The search window Linux's `memblock_find_in_range_node` uses for `[start, end)`.
    fn window(&self, start: u64, end: u64) -> (u64, u64) {
        let end = match end {
            MEMBLOCK_ALLOC_ACCESSIBLE => self.current_limit,
            end => end,
        };
        let start = start.max(PAGE_SIZE);
        (start, end.max(start))
    }

    /// The highest `align`ed block of `size` bytes inside one free range of node `nid`
    /// and inside the window for `[start, end)` (Linux `memblock_find_in_range_node`,
    /// top-down).
    fn find_in_range_node(
        &self,
        size: u64,
        align: u64,
        start: u64,
        end: u64,
        nid: i32,
    ) -> Option<u64> {
        let (start, end) = self.window(start, end);
        self.free_ranges_rev(nid).find_map(|r| {
            let lo = r.start.clamp(start, end);
            let hi = r.end.clamp(start, end);
            let candidate = hi.checked_sub(size)? & !(align - 1);
            (candidate >= lo).then_some(candidate)
        })
    }

    fn no_space(&self, request: &AllocError, start: u64, end: u64) -> AllocError {
        let (window_start, window_end) = self.window(start, end);
        // The window as far as memory goes: with the limit lifted it would otherwise
        // end at 2^64 - 1, which says nothing.
        let window_end = window_end.min(self.end_of_dram().max(window_start));
        let largest_free = self
            .free_ranges(NUMA_NO_NODE)
            .map(|r| {
                let hi = r.end.clamp(window_start, window_end);
                hi - r.start.clamp(window_start, window_end)
            })
            .max()
            .unwrap_or(0);
        AllocError {
            reason: AllocFailure::NoSpace {
                window_start,
                window_end,
                largest_free,
                current_limit: self.current_limit,
            },
            ..*request
        }
    }

    /// Write Linux's `MEMBLOCK configuration:` table, one `\n`-ended line per row.
    pub fn write_dump(&self, w: &mut impl Write) -> fmt::Result {
        writeln!(w, "MEMBLOCK configuration:")?;
        writeln!(
            w,
            " memory size = {:#018x} reserved size = {:#018x}",
            self.memory.total_size, self.reserved.total_size
        )?;
        self.memory.write_dump(w)?;
        self.reserved.write_dump(w)
    }

    /// Print the configuration table, an info line per row (Linux `__memblock_dump_all`).
    pub fn dump(&self) {
        let mut w = LineWriter {
            log: &self.log,
            line: StackString::new(),
        };
        // LineWriter never fails.
        let _ = self.write_dump(&mut w);
    }

    /// Print the table only with `memblock=debug` (Linux `memblock_dump_all`).
    pub fn dump_all(&self) {
        if self.log.debug {
            self.dump();
        }
    }
}
