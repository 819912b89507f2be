//! Early memory setup from the device tree (Linux's early_init_devtree and its callees):
//! memory ranges into memblock with their nodes, then every reservation, then the
//! current limit. Also the end-of-boot memory report and the initrd check.
//!
//! Ordering constraints written where they are relied on:
//! - every reservation happens before the first allocation (nothing allocates from
//!   memblock before [`early_init_devtree`] returns);
//! - the firmware's own memory stays reserved while its client interface may be called,
//!   and is released by [`leave_firmware`] only after the interface is shut.

use alloc::vec::Vec;

use sparsek::bootparam::BootParams;
use sparsek::boottime::Phase;
use sparsek::crc32;
use sparsek::mm::PAGE_SIZE;
use sparsek::mm::memblock::{Memblock, RegionFlags};
use sparsek::printk::{self, Level};
use sparsek::prom::{memory, reserve};
use sparsek::{pr_err, pr_info, pr_warn};

use crate::arch::{self, BootInfo, DeviceTree};
use crate::phase;

const PR_PREFIX: &str = "";

/// The first 64 KiB page: the kernel's exception vectors live at 0x100.. (the kernel
/// itself is at 0x400000, so its image reservation does not cover them).
pub const VECTORS: (u64, u64) = (0, 0x10000);
/// Linux clamps the real-mode area of a hash-MMU LPAR to 1 GiB.
const RMA_MAX: u64 = 1 << 30;

/// What early setup found and must remember until the end of boot.
pub struct EarlyMem {
    pub memblock: Memblock,
    pub initrd: Option<(u64, u64)>,
    /// Firmware memory reserved while the client interface is callable.
    firmware: Vec<(u64, u64)>,
    /// Every other reservation made here, so releasing the firmware's memory can never
    /// free a part of one of them (memblock merges touching reservations).
    kept: Vec<(u64, u64)>,
    pub kernel: (u64, u64),
}

fn fail(what: &str, e: impl core::fmt::Display) -> ! {
    arch::fatal_fmt(format_args!("{what}: {e}"))
}

/// Discover memory, fill memblock, reserve, set the limit. Any fault is fatal: without
/// a memory map nothing later can run.
pub fn early_init_devtree(dt: &DeviceTree, boot: &BootInfo, params: &BootParams) -> EarlyMem {
    let fdt = &dt.fdt;
    {
        const PR_PREFIX: &str = "OF: fdt: ";
        pr_info!(
            "device tree {} at {:#x}, {} bytes, version {}",
            dt.source.describe(),
            dt.phys,
            dt.size,
            fdt.header().version
        );
    }
    let map = memory::discover(fdt).unwrap_or_else(|e| fail("early_init_devtree", e));
    for note in &map.notes {
        printk::printk(Level::Warning, note.subsystem(), format_args!("{note}"));
    }
    phase::end(Phase::Parse);

    let mut mb = Memblock::new();
    mb.set_debug(params.memblock_debug);
    arch::arm_memblock_fault(&params.faults, &mut mb);
    for r in &map.ranges {
        let flags = if r.hotplug {
            RegionFlags::HOTPLUG
        } else {
            RegionFlags::empty()
        };
        mb.add_node(
            r.base,
            r.size,
            r.nid as i32,
            flags,
            "early_init_dt_add_memory_arch",
        )
        .unwrap_or_else(|e| fail("early_init_devtree", e));
    }
    numa_report(&mb);

    // Reservations, all before the first allocation.
    let mut kept: Vec<(u64, u64)> = Vec::new();
    let mut reserve = |mb: &mut Memblock, base: u64, size: u64, caller: &'static str| {
        mb.reserve(base, size, caller)
            .unwrap_or_else(|e| fail("early_init_devtree", e));
        kept.push((base, size));
    };
    let (kstart, kend) = arch::kernel_image();
    reserve(&mut mb, VECTORS.0, VECTORS.1, "early_reserve_vectors");
    reserve(&mut mb, kstart, kend - kstart, "early_init_devtree");
    if !dt.in_image {
        reserve(&mut mb, dt.phys, dt.size, "early_init_fdt_reserve_self");
    }
    let (mut rsv, unhonoured) =
        reserve::reservations(fdt).unwrap_or_else(|e| fail("early_init_devtree", e));
    if let Some(entry) = &dt.entry_fdt {
        let (more, _) =
            reserve::reservations(entry).unwrap_or_else(|e| fail("early_init_devtree", e));
        rsv.extend(
            more.into_iter()
                .filter(|r| r.source == reserve::Source::RsvMap),
        );
    }
    for r in &rsv {
        let caller = match r.source {
            reserve::Source::RsvMap => "early_reserve_mem",
            reserve::Source::ReservedMemory(_) => "__reserved_mem_reserve_reg",
        };
        reserve(&mut mb, r.base, r.size, caller);
    }
    for u in &unhonoured {
        const PR_PREFIX: &str = "OF: reserved mem: ";
        pr_warn!("{}: {}", u.name, u.why);
    }
    let mut initrd = initrd_range(boot, dt);
    if let Some((s, e)) = initrd
        && !mb.is_memory(s, e - s)
    {
        // Linux: "initrd extends beyond end of memory ... - disabling initrd".
        const PR_PREFIX: &str = "initrd: ";
        pr_err!(
            "[mem {s:#018x}-{:#018x}] is not inside memory - disabling initrd",
            e - 1
        );
        initrd = None;
    }
    if let Some((s, e)) = initrd {
        // Whole pages, as Linux reserves it.
        let start = s & !(PAGE_SIZE - 1);
        let end = e.checked_next_multiple_of(PAGE_SIZE).unwrap_or(u64::MAX);
        reserve(&mut mb, start, end - start, "reserve_initrd");
    }
    // The firmware keeps what it claimed while its client interface may still be called;
    // only the part nothing else reserves is tracked, so releasing it frees nothing else.
    let mut firmware = Vec::new();
    if boot.path.has_client_interface() {
        let claimed =
            reserve::firmware_claimed(fdt).unwrap_or_else(|e| fail("early_init_devtree", e));
        firmware = reserve::subtract(&claimed, &kept);
        for &(b, s) in &firmware {
            mb.reserve(b, s, "prom_firmware_claimed")
                .unwrap_or_else(|e| fail("early_init_devtree", e));
        }
    }

    // The real-mode area (the block at 0 as the tree describes it, at most 1 GiB as Linux
    // clamps it on hash) bounds allocations until translation is on.
    let Some(first) = map.first_block else {
        fail(
            "early_init_devtree",
            "no memory block at address 0 (the real-mode area)",
        )
    };
    let rma = first.size.min(RMA_MAX);
    mb.set_current_limit(rma);
    pr_info!(
        "{} MiB of memory in {} memblock region(s); real-mode area 0x{:x} bounds allocations until translation is on",
        mb.phys_mem_size() >> 20,
        mb.memory().len(),
        rma
    );
    mb.dump_all();
    EarlyMem {
        memblock: mb,
        initrd,
        firmware,
        kept,
        kernel: (kstart, kend),
    }
}

/// The initrd: r3/r4 from the firmware entry, else `/chosen linux,initrd-*`. An unusable
/// `/chosen` description is reported and ignored, as Linux does.
fn initrd_range(boot: &BootInfo, dt: &DeviceTree) -> Option<(u64, u64)> {
    if let Some(r) = boot.initrd() {
        return Some(r);
    }
    let chosen = |fdt: &sparsek::fdt::Fdt| match reserve::chosen_initrd(fdt) {
        Ok(r) => r,
        Err(e) => {
            const PR_PREFIX: &str = "initrd: ";
            pr_warn!("{e}; no initrd");
            None
        }
    };
    chosen(&dt.fdt).or_else(|| dt.entry_fdt.as_ref().and_then(chosen))
}

/// Linux's `numa: Initmem setup node N [mem 0x...-0x...]`, one line per node.
fn numa_report(mb: &Memblock) {
    const PR_PREFIX: &str = "numa: ";
    let mut nodes: Vec<(i32, u64, u64)> = Vec::new();
    for r in mb.memory() {
        match nodes.iter_mut().find(|n| n.0 == r.nid) {
            Some(n) => {
                n.1 = n.1.min(r.base);
                n.2 = n.2.max(r.end());
            }
            None => nodes.push((r.nid, r.base, r.end())),
        }
    }
    nodes.sort_unstable();
    for (nid, start, end) in nodes {
        pr_info!(
            "Initmem setup node {nid} [mem {start:#010x}-{:#010x}]",
            end - 1
        );
    }
}

/// Shut the client interface, then release the firmware's memory.
pub fn leave_firmware(mem: &mut EarlyMem, boot: &BootInfo) {
    if !boot.path.has_client_interface() {
        return;
    }
    arch::leave_firmware();
    const PR_PREFIX: &str = "prom: ";
    let mut total = 0;
    // Recomputed against every other reservation, so nothing else is freed even if a
    // reservation overlapping the firmware's memory was made since.
    for (b, s) in reserve::subtract(&mem.firmware, &mem.kept) {
        mem.memblock
            .free(b, s, "prom_leave_firmware")
            .unwrap_or_else(|e| fail("prom_leave_firmware", e));
        total += s;
    }
    pr_info!(
        "left the firmware behind after {} client calls; {} KiB of its memory released",
        arch::of_calls(),
        total >> 10
    );
    mem.firmware.clear();
}

/// The end-of-boot report: Linux's `Memory:` line, the memblock dump again. Free memory
/// in sections sparse init dropped after a failure (`no_memmap` bytes) has no struct pages,
/// so Linux would never hand it out: it is not counted as available, and is named.
pub fn mem_init_print_info(mem: &EarlyMem, no_memmap: u64) {
    let mb = &mem.memblock;
    let total = mb.phys_mem_size();
    let free = mb.free_size();
    let available = free - no_memmap.min(free);
    let lost = if no_memmap > 0 {
        alloc::format!(", {}K without a memory map", no_memmap >> 10)
    } else {
        alloc::string::String::new()
    };
    pr_info!(
        "Memory: {}K/{}K available ({}K kernel, {}K reserved{lost})",
        available >> 10,
        total >> 10,
        (mem.kernel.1 - mem.kernel.0) >> 10,
        (total - free) >> 10
    );
    mb.dump_all();
}

/// The last action before the final status: a CRC of the initrd as it is now, so a
/// corrupted initrd (memory handed out twice) shows.
pub fn initrd_check(mem: &EarlyMem) {
    let Some((start, end)) = mem.initrd else {
        return;
    };
    // SAFETY: the initrd is reserved in memblock and nothing writes it.
    let bytes = unsafe { arch::phys_slice(start, (end - start) as usize) };
    const PR_PREFIX: &str = "initrd: ";
    pr_info!(
        "[mem {start:#018x}-{:#018x}] crc32 {:#010x}",
        end - 1,
        crc32::crc32(bytes)
    );
}
