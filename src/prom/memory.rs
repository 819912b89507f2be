//! Memory discovery from a flattened device tree, as Linux's early_init_dt_scan_memory,
//! drmem.c and numa.c do it on pseries:
//!
//! ```text
//!   /                      #address-cells, #size-cells (IEEE 1275 defaults 2 and 1)
//!   /memory@<addr>         device_type = "memory"; reg = (addr, size)...;
//!                          ibm,associativity = <n d1 d2 ... dn>
//!   /ibm,dynamic-reconfiguration-memory          (after CAS with DR memory, -m ...,maxmem=)
//!       ibm,lmb-size                             one LMB (256 MiB under QEMU)
//!       ibm,dynamic-memory     <n> {addr, drc-index, reserved, aa-index, flags} x n
//!       ibm,dynamic-memory-v2  <n> {count, addr, drc-index, aa-index, flags} x n
//!       ibm,associativity-lookup-arrays <arrays, cells-per-array, cells...>
//!   /rtas ibm,associativity-reference-points   FORM1: the first names the NUMA depth
//! ```
//!
//! Only LMBs that are ASSIGNED and not RESERVED are memory; HOTREMOVABLE ones are flagged
//! hot-pluggable. A node id comes from the associativity at the FORM1 depth; node 0 when
//! there is none or it is out of range. Every range is page aligned (64 KiB) and cut at
//! `MAX_PHYSMEM_BITS`; whatever is left out is reported as a [`Note`], never dropped
//! silently. Structural faults (absurd cell counts, a property shorter than it claims,
//! no memory at all) are a [`MemoryError`].

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::fdt::{Fdt, FdtError, Node, Property};

/// Physical address bits of the sparse memory model (v4.19, ppc64 hash with vmemmap).
pub const MAX_PHYSMEM_BITS: u32 = 47;
/// Highest usable physical address + 1.
pub const MAX_PHYS_ADDR: u64 = 1 << MAX_PHYSMEM_BITS;
/// Memory is managed in 64 KiB pages.
pub const PAGE_SIZE: u64 = 0x10000;
/// Node ids at or above this are out of range (Linux ppc64: NODES_SHIFT 8).
pub const MAX_NUMNODES: u32 = 256;

/// An associativity domain of 0xffff means "no node" (Linux's check in numa.c).
pub const ASSOC_NO_NODE: u32 = 0xffff;

/// A node id read from an associativity domain; "no node" becomes node 0.
fn domain_nid(domain: u32) -> u32 {
    if domain == ASSOC_NO_NODE { 0 } else { domain }
}

pub const DRCONF_MEM_ASSIGNED: u32 = 0x0000_0008;
pub const DRCONF_MEM_DRC_INVALID: u32 = 0x0000_0020;
pub const DRCONF_MEM_AI_INVALID: u32 = 0x0000_0040;
pub const DRCONF_MEM_RESERVED: u32 = 0x0000_0080;
pub const DRCONF_MEM_HOTREMOVABLE: u32 = 0x0000_0100;

/// One usable range of RAM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemRange {
    pub base: u64,
    pub size: u64,
    pub nid: u32,
    pub hotplug: bool,
}

impl MemRange {
    pub fn end(&self) -> u64 {
        self.base + self.size
    }
}

/// Something left out or corrected, for the boot log (Linux's wording where it has one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Note {
    /// A whole range is unusable (beyond MAX_PHYSMEM_BITS, or smaller than a page once
    /// aligned). `end` is exclusive, as Linux prints it.
    IgnoredBlock { base: u64, end: u64 },
    /// The part of a range beyond MAX_PHYSMEM_BITS.
    IgnoredRange { base: u64, end: u64 },
    /// `reg` (or a DR property) ends with a partial entry.
    TrailingBytes {
        path: String,
        prop: &'static str,
        bytes: usize,
    },
    /// A node id at or above MAX_NUMNODES; the memory goes to node 0.
    NodeOutOfRange { base: u64, nid: u32 },
    /// No usable `ibm,associativity-reference-points`: all memory on node 0.
    NoNuma(&'static str),
    /// Two ranges overlap (memblock keeps the first node's claim).
    Overlap { a: (u64, u64), b: (u64, u64) },
    /// A memory node with status other than "okay".
    Disabled { path: String },
}

impl Note {
    /// The log prefix Linux uses for this kind of message.
    pub fn subsystem(&self) -> &'static str {
        match self {
            Note::NodeOutOfRange { .. } | Note::NoNuma(_) => "numa: ",
            _ => "OF: fdt: ",
        }
    }
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Note::IgnoredBlock { base, end } => {
                write!(f, "Ignoring memory block 0x{base:x} - 0x{end:x}")
            }
            Note::IgnoredRange { base, end } => {
                write!(f, "Ignoring memory range 0x{base:x} - 0x{end:x}")
            }
            Note::TrailingBytes { path, prop, bytes } => {
                write!(
                    f,
                    "{path}: {prop} ends with a partial entry ({bytes} bytes), ignored"
                )
            }
            Note::NodeOutOfRange { base, nid } => write!(
                f,
                "node id {nid} of memory at 0x{base:x} is not below {MAX_NUMNODES}, using node 0"
            ),
            Note::NoNuma(why) => write!(f, "{why}, all memory on node 0"),
            Note::Overlap { a, b } => write!(
                f,
                "memory [mem 0x{:016x}-0x{:016x}] overlaps [mem 0x{:016x}-0x{:016x}]",
                a.0,
                a.1 - 1,
                b.0,
                b.1 - 1
            ),
            Note::Disabled { path } => write!(f, "{path}: status is not \"okay\", skipped"),
        }
    }
}

/// A device tree this kernel cannot take memory from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MemoryError {
    /// The blob itself is malformed; `path` is the node containing the fault.
    Fdt { error: FdtError, path: String },
    /// `#address-cells` / `#size-cells` outside what a 64-bit address can hold.
    BadCells {
        path: String,
        name: &'static str,
        value: u32,
    },
    /// A property is too short for what it declares.
    BadProperty {
        path: String,
        prop: &'static str,
        why: String,
    },
    /// Not one byte of usable memory.
    NoMemory,
}

impl fmt::Display for MemoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MemoryError::Fdt { error, path } => {
                write!(f, "malformed device tree: {error} (in {path})")
            }
            MemoryError::BadCells { path, name, value } => {
                write!(
                    f,
                    "{path}: {name} = {value} is not usable (1 or 2 expected)"
                )
            }
            MemoryError::BadProperty { path, prop, why } => write!(f, "{path}: {prop}: {why}"),
            MemoryError::NoMemory => write!(f, "no usable memory in the device tree"),
        }
    }
}

/// Everything discovery found.
#[derive(Clone, Debug, Default)]
pub struct MemoryMap {
    /// Usable ranges, sorted by base, adjacent LMBs of one node merged.
    pub ranges: Vec<MemRange>,
    pub notes: Vec<Note>,
    /// The FORM1 NUMA depth, when NUMA information is usable.
    pub numa_depth: Option<u32>,
    /// `ibm,lmb-size` when dynamic-reconfiguration memory is described.
    pub lmb_size: Option<u64>,
    /// LMBs that became memory.
    pub lmbs_assigned: u64,
    /// The block at address 0 as the tree describes it (before merging): the real-mode
    /// area on pseries.
    pub first_block: Option<MemRange>,
}

impl MemoryMap {
    pub fn total(&self) -> u64 {
        self.ranges.iter().map(|r| r.size).sum()
    }
}

pub(crate) fn fdt_err(fdt: &Fdt, error: FdtError) -> MemoryError {
    MemoryError::Fdt {
        path: fdt.path_at(error.offset),
        error,
    }
}

/// Read a node's property, turning reader errors into [`MemoryError`].
pub(crate) fn prop<'a>(
    fdt: &Fdt<'a>,
    node: &Node<'a>,
    name: &str,
) -> Result<Option<Property<'a>>, MemoryError> {
    node.property(name).map_err(|e| fdt_err(fdt, e))
}

/// `#address-cells` / `#size-cells` of a node, checked to be 1 or 2.
pub(crate) fn cells(
    fdt: &Fdt,
    node: &Node,
    path: &str,
    name: &'static str,
    default: u32,
) -> Result<u32, MemoryError> {
    let value = match prop(fdt, node, name)? {
        None => default,
        Some(p) => p.as_u32().ok_or_else(|| MemoryError::BadProperty {
            path: path.into(),
            prop: name,
            why: alloc::format!("{} bytes, one cell expected", p.value.len()),
        })?,
    };
    if value == 0 || value > 2 {
        return Err(MemoryError::BadCells {
            path: path.into(),
            name,
            value,
        });
    }
    Ok(value)
}

/// Big-endian cells of a property value (a trailing partial cell is not returned).
pub(crate) fn be_cells(v: &[u8]) -> impl Iterator<Item = u32> + '_ {
    v.chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
}

/// A number of `n` cells (n is 1 or 2).
pub(crate) fn read_number(cells: &[u32]) -> u64 {
    cells.iter().fold(0u64, |acc, &c| (acc << 32) | c as u64)
}

/// Decode `(address, size)` pairs of a `reg`-like property. Returns the pairs and the
/// number of trailing bytes that do not form a whole pair.
pub(crate) fn reg_pairs(v: &[u8], ac: u32, sc: u32) -> (Vec<(u64, u64)>, usize) {
    let entry = ((ac + sc) * 4) as usize;
    let cells: Vec<u32> = be_cells(v).collect();
    let pairs = cells
        .chunks_exact((ac + sc) as usize)
        .map(|c| {
            (
                read_number(&c[..ac as usize]),
                read_number(&c[ac as usize..]),
            )
        })
        .collect();
    (pairs, v.len() % entry)
}

fn node_path(parent: &str, name: &str) -> String {
    let mut p = String::from(parent.trim_end_matches('/'));
    p.push('/');
    p.push_str(name);
    p
}

struct Discovery {
    map: MemoryMap,
}

impl Discovery {
    /// Add one range the way Linux's early_init_dt_add_memory_arch does: page-align,
    /// cut at MAX_PHYSMEM_BITS, report what is left out.
    fn add(&mut self, base: u64, size: u64, nid: u32, hotplug: bool) {
        if size == 0 {
            return;
        }
        // A range running past the top of the address space ends there.
        let size = size.min(u64::MAX - base);
        let orig_end = base + size;
        let ignored = Note::IgnoredBlock {
            base,
            end: orig_end,
        };
        // Page-align: the start up, the end down.
        let Some(start) = base.checked_next_multiple_of(PAGE_SIZE) else {
            self.map.notes.push(ignored);
            return;
        };
        let end = orig_end & !(PAGE_SIZE - 1);
        if end <= start {
            self.map.notes.push(ignored);
            return;
        }
        let (base, mut size) = (start, end - start);
        if base >= MAX_PHYS_ADDR {
            self.map.notes.push(ignored);
            return;
        }
        if end > MAX_PHYS_ADDR {
            self.map.notes.push(Note::IgnoredRange {
                base: MAX_PHYS_ADDR,
                end,
            });
            size = MAX_PHYS_ADDR - base;
        }
        let nid = if nid >= MAX_NUMNODES {
            self.map.notes.push(Note::NodeOutOfRange { base, nid });
            0
        } else {
            nid
        };
        // Merge with the previous range when it continues it (consecutive LMBs).
        if let Some(last) = self.map.ranges.last_mut()
            && last.end() == base
            && last.nid == nid
            && last.hotplug == hotplug
        {
            last.size += size;
            return;
        }
        self.map.ranges.push(MemRange {
            base,
            size,
            nid,
            hotplug,
        });
    }

    /// The node id named by an associativity list `<n d1 ... dn>` at the FORM1 depth.
    fn nid_of(&self, assoc: Option<Property>) -> u32 {
        let (Some(depth), Some(p)) = (self.map.numa_depth, assoc) else {
            return 0;
        };
        let cells: Vec<u32> = be_cells(p.value).collect();
        match cells.first() {
            Some(&n) if n >= depth && (depth as usize) < cells.len() => {
                domain_nid(cells[depth as usize])
            }
            _ => 0,
        }
    }
}

/// Find all usable memory in `fdt`.
pub fn discover(fdt: &Fdt) -> Result<MemoryMap, MemoryError> {
    fdt.validate().map_err(|e| fdt_err(fdt, e))?;
    let root = fdt.root();
    let ac = cells(fdt, &root, "/", "#address-cells", 2)?;
    let sc = cells(fdt, &root, "/", "#size-cells", 1)?;
    let mut d = Discovery {
        map: MemoryMap::default(),
    };
    d.map.numa_depth = numa_depth(fdt, &mut d.map.notes)?;

    for child in root.children() {
        let node = child.map_err(|e| fdt_err(fdt, e))?;
        let is_memory = prop(fdt, &node, "device_type")?.and_then(|p| p.as_str()) == Some("memory");
        if !is_memory {
            continue;
        }
        let path = node_path("/", node.name);
        if let Some(status) = prop(fdt, &node, "status")?
            && !matches!(status.as_str(), Some("okay") | Some("ok"))
        {
            d.map.notes.push(Note::Disabled { path });
            continue;
        }
        // kexec's linux,usable-memory takes precedence over reg, as in Linux.
        let (reg, pname) = match prop(fdt, &node, "linux,usable-memory")? {
            Some(p) => (Some(p), "linux,usable-memory"),
            None => (prop(fdt, &node, "reg")?, "reg"),
        };
        let Some(reg) = reg else { continue };
        let (pairs, trailing) = reg_pairs(reg.value, ac, sc);
        if trailing != 0 {
            d.map.notes.push(Note::TrailingBytes {
                path: path.clone(),
                prop: pname,
                bytes: trailing,
            });
        }
        let nid = d.nid_of(prop(fdt, &node, "ibm,associativity")?);
        for (base, size) in pairs {
            if base == 0 && size != 0 && d.map.first_block.is_none() {
                d.map.first_block = Some(MemRange {
                    base,
                    size,
                    nid,
                    hotplug: false,
                });
            }
            d.add(base, size, nid, false);
        }
    }

    if let Some(dr) = fdt
        .find_node("/ibm,dynamic-reconfiguration-memory")
        .map_err(|e| fdt_err(fdt, e))?
    {
        dynamic_memory(fdt, &dr, ac, sc, &mut d)?;
    }

    d.map.ranges.sort_by_key(|r| r.base);
    // QEMU lists memory nodes from the top down: merge what now touches.
    d.map.ranges.dedup_by(|next, prev| {
        let joins = prev.end() == next.base && prev.nid == next.nid && prev.hotplug == next.hotplug;
        if joins {
            prev.size += next.size;
        }
        joins
    });
    // Sorted by base: a range overlaps an earlier one iff it starts below the furthest
    // end seen so far.
    let mut reach: Option<MemRange> = None;
    for r in &d.map.ranges {
        if let Some(prev) = reach {
            if prev.end() > r.base {
                d.map.notes.push(Note::Overlap {
                    a: (prev.base, prev.end()),
                    b: (r.base, r.end()),
                });
            }
            if r.end() <= prev.end() {
                continue;
            }
        }
        reach = Some(*r);
    }
    if d.map.ranges.is_empty() {
        return Err(MemoryError::NoMemory);
    }
    Ok(d.map)
}

/// The FORM1 NUMA depth: the first `ibm,associativity-reference-points` cell.
fn numa_depth(fdt: &Fdt, notes: &mut Vec<Note>) -> Result<Option<u32>, MemoryError> {
    let Some(rtas) = fdt.find_node("/rtas").map_err(|e| fdt_err(fdt, e))? else {
        notes.push(Note::NoNuma("no /rtas node"));
        return Ok(None);
    };
    let Some(p) = prop(fdt, &rtas, "ibm,associativity-reference-points")? else {
        notes.push(Note::NoNuma("missing ibm,associativity-reference-points"));
        return Ok(None);
    };
    match be_cells(p.value).next() {
        Some(depth) if depth > 0 => Ok(Some(depth)),
        _ => {
            notes.push(Note::NoNuma("unusable ibm,associativity-reference-points"));
            Ok(None)
        }
    }
}

/// `ibm,dynamic-reconfiguration-memory`: LMBs from `ibm,dynamic-memory` (v1, preferred
/// when present, as Linux does) or `ibm,dynamic-memory-v2`.
fn dynamic_memory(
    fdt: &Fdt,
    dr: &Node,
    ac: u32,
    sc: u32,
    d: &mut Discovery,
) -> Result<(), MemoryError> {
    let path = "/ibm,dynamic-reconfiguration-memory";
    let bad = |prop: &'static str, why: String| MemoryError::BadProperty {
        path: path.into(),
        prop,
        why,
    };
    let lmb =
        prop(fdt, dr, "ibm,lmb-size")?.ok_or_else(|| bad("ibm,lmb-size", "missing".into()))?;
    let lmb_cells: Vec<u32> = be_cells(lmb.value).collect();
    if lmb_cells.len() != sc as usize || lmb.value.len() % 4 != 0 {
        return Err(bad(
            "ibm,lmb-size",
            alloc::format!("{} bytes, {} cell(s) expected", lmb.value.len(), sc),
        ));
    }
    let lmb_size = read_number(&lmb_cells);
    if lmb_size == 0 || !lmb_size.is_power_of_two() {
        return Err(bad(
            "ibm,lmb-size",
            alloc::format!("0x{lmb_size:x} is not a power of two"),
        ));
    }
    d.map.lmb_size = Some(lmb_size);

    // Lookup arrays: <n, cells per array, cells...>, indexed by an LMB's aa-index.
    let arrays: Vec<u32> = match prop(fdt, dr, "ibm,associativity-lookup-arrays")? {
        Some(p) => be_cells(p.value).collect(),
        None => Vec::new(),
    };
    let (n_arrays, array_sz) = match arrays.as_slice() {
        [n, sz, rest @ ..] => {
            let (n, sz) = (*n as usize, *sz as usize);
            if n.checked_mul(sz).is_none_or(|c| c > rest.len()) {
                return Err(bad(
                    "ibm,associativity-lookup-arrays",
                    alloc::format!(
                        "{n} arrays of {sz} cells claimed, {} cells present",
                        rest.len()
                    ),
                ));
            }
            (n, sz)
        }
        _ => (0, 0),
    };
    let nid_of = |aa_index: u32| -> u32 {
        let Some(depth) = d.map.numa_depth else {
            return 0;
        };
        let (aa, depth) = (aa_index as usize, depth as usize);
        if aa < n_arrays && depth <= array_sz {
            domain_nid(arrays[2 + aa * array_sz + depth - 1])
        } else {
            0
        }
    };

    let a = ac as usize;
    // An LMB (or a v2 set of `count` LMBs) becomes memory when ASSIGNED and not RESERVED.
    let usable = |flags: u32| flags & DRCONF_MEM_ASSIGNED != 0 && flags & DRCONF_MEM_RESERVED == 0;
    let lmb_nid = |aa: u32, flags: u32| {
        if flags & DRCONF_MEM_AI_INVALID != 0 {
            0
        } else {
            nid_of(aa)
        }
    };
    let hotplug = |flags: u32| flags & DRCONF_MEM_HOTREMOVABLE != 0;
    let mut found: Vec<(u64, u64, u32, bool)> = Vec::new();
    if let Some(p) = prop(fdt, dr, "ibm,dynamic-memory")? {
        let per = a + 4;
        let n = entry_count(p.value, per, "LMBs").map_err(|why| bad("ibm,dynamic-memory", why))?;
        for i in 0..n {
            let e = |k: usize| cell(p.value, 1 + i * per + k);
            let flags = e(a + 3);
            if usable(flags) {
                let base = if a == 2 {
                    (e(0) as u64) << 32 | e(1) as u64
                } else {
                    e(0) as u64
                };
                found.push((base, lmb_size, lmb_nid(e(a + 2), flags), hotplug(flags)));
                d.map.lmbs_assigned += 1;
            }
        }
    } else if let Some(p) = prop(fdt, dr, "ibm,dynamic-memory-v2")? {
        let per = 1 + a + 3;
        let n = entry_count(p.value, per, "LMB sets")
            .map_err(|why| bad("ibm,dynamic-memory-v2", why))?;
        for i in 0..n {
            let e = |k: usize| cell(p.value, 1 + i * per + k);
            let (count, flags) = (e(0) as u64, e(a + 3));
            if usable(flags) && count != 0 {
                let base = if a == 2 {
                    (e(1) as u64) << 32 | e(2) as u64
                } else {
                    e(1) as u64
                };
                // One range per set (never expanded per LMB: a set may claim 2^32 LMBs);
                // add() cuts what lies beyond the address space or MAX_PHYSMEM_BITS.
                let len = count.saturating_mul(lmb_size);
                found.push((base, len, lmb_nid(e(a + 2), flags), hotplug(flags)));
                d.map.lmbs_assigned += count;
            }
        }
    }
    for (base, size, nid, hotplug) in found {
        d.add(base, size, nid, hotplug);
    }
    Ok(())
}

/// Big-endian cell `i` of a property value (the caller has checked the length).
fn cell(v: &[u8], i: usize) -> u32 {
    u32::from_be_bytes([v[4 * i], v[4 * i + 1], v[4 * i + 2], v[4 * i + 3]])
}

/// The entry count a DR property starts with, checked against the number of entries of
/// `per` cells the property actually holds after it.
fn entry_count(v: &[u8], per: usize, what: &str) -> Result<usize, String> {
    if v.len() < 4 {
        return Err("empty".into());
    }
    let (n, room) = (cell(v, 0) as usize, (v.len() / 4 - 1) / per);
    if n > room {
        return Err(alloc::format!("{n} {what} claimed, room for {room}"));
    }
    Ok(n)
}

#[cfg(test)]
mod tests;
