//! The SLB (segment lookaside buffer): bolted kernel entries and the segment interrupt
//! handler (vectors 0x380 / 0x480) that loads any other kernel segment on demand.
//!
//! ```text
//!  slot 0            linear mapping, first segment (kernel image, stacks, heap)   bolted
//!  slot 1            vmemmap, first segment (0xf000000000000000)                  bolted
//!  slots 2..slb_size loaded on a segment miss, replaced round-robin
//! ```
//! The handler runs in real mode (interrupts turn translation off), so it never misses
//! itself. A miss on an address no kernel region covers is not handled: the caller's
//! register dump follows.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use sparsek::mm::hash::Ssize;
use sparsek::mm::hash::hpte::{kernel_vsid, slb_esid, slb_vsid};

/// Kernel regions by top EA nibble 0xc..0xf: the base page size of their segments and
/// the EA offset (within the region) below which segments may be loaded.
#[derive(Clone, Copy, Debug)]
pub struct Region {
    pub sllp: u64,
    pub limit: u64,
}

#[derive(Clone, Copy, Debug)]
pub struct SlbConfig {
    pub ssize: Ssize,
    /// 0xc linear, 0xd vmalloc, 0xe io, 0xf vmemmap.
    pub regions: [Region; 4],
    /// Entries the CPU has (`ibm,slb-size`).
    pub slb_size: u32,
}

static CONFIG: spin::Once<SlbConfig> = spin::Once::new();
/// Number of bolted entries (slots 0..BOLTED never replaced).
static BOLTED: AtomicU32 = AtomicU32::new(0);
/// Next slot the miss handler replaces.
static NEXT: AtomicU32 = AtomicU32::new(0);
/// Segments loaded on demand.
static LOADS: AtomicU64 = AtomicU64::new(0);

/// Write one SLB entry.
///
/// # Safety
/// The entry must translate consistently with every entry already in the SLB and with
/// the hashed page table for whatever runs with translation on (a kernel segment whose
/// VSID and page size are what the HPTEs were made with).
unsafe fn slbmte(vsid_word: u64, esid_word: u64) {
    // SAFETY: the caller vouches for the entry; slbmte has no other effect.
    unsafe {
        core::arch::asm!("slbmte {0}, {1}", "isync", in(reg) vsid_word, in(reg) esid_word,
            options(nostack))
    };
}

/// The region description of a kernel EA (top nibble 0xc..0xf).
fn region_of(cfg: &SlbConfig, ea: u64) -> Option<&Region> {
    let nibble = ea >> 60;
    if nibble < 0xc {
        return None;
    }
    let r = &cfg.regions[(nibble - 0xc) as usize];
    ((ea & 0x0fff_ffff_ffff_ffff) < r.limit).then_some(r)
}

/// The SLB words (VSID word, ESID word without the slot) for a kernel EA.
fn entry_for(cfg: &SlbConfig, ea: u64) -> Option<(u64, u64)> {
    let r = region_of(cfg, ea)?;
    let vsid = kernel_vsid(ea, cfg.ssize)?;
    Some((
        slb_vsid(vsid, cfg.ssize, r.sllp),
        slb_esid(ea, cfg.ssize, 0),
    ))
}

/// Clear the SLB and load the bolted entries (one per EA in `bolted`, slots 0..).
/// Must run in real mode, before translation is switched on.
pub fn init(cfg: SlbConfig, bolted: &[u64]) -> Result<(), &'static str> {
    if bolted.len() + 1 > cfg.slb_size as usize {
        return Err("more bolted segments than SLB entries");
    }
    let cfg = *CONFIG.call_once(|| cfg);
    let mut words = [(0u64, 0u64); 4];
    if bolted.len() > words.len() {
        return Err("too many bolted segments");
    }
    for (i, &ea) in bolted.iter().enumerate() {
        let (v, e) = entry_for(&cfg, ea).ok_or("a bolted segment is not a kernel address")?;
        words[i] = (v, e | i as u64);
    }
    // SAFETY: translation is off (the caller's contract), so clearing the SLB cannot
    // remove a translation in use; entry 0 is cleared explicitly because slbia keeps it.
    unsafe {
        core::arch::asm!("isync", "slbmte {0}, {0}", "isync", "slbia", "isync",
            in(reg) 0u64, options(nostack))
    };
    for &(v, e) in &words[..bolted.len()] {
        // SAFETY: kernel segments with the VSIDs and page sizes the bolted HPTEs use.
        unsafe { slbmte(v, e) };
    }
    BOLTED.store(bolted.len() as u32, Ordering::Release);
    NEXT.store(bolted.len() as u32, Ordering::Release);
    Ok(())
}

/// Segment interrupt: load the kernel segment of `ea`. `false` when `ea` is not in a
/// kernel region (or the SLB was never set up): the access is a bug, the caller dumps.
pub fn handle_miss(ea: u64) -> bool {
    let Some(cfg) = CONFIG.get() else {
        return false;
    };
    let Some((v, e)) = entry_for(cfg, ea) else {
        return false;
    };
    let bolted = BOLTED.load(Ordering::Acquire);
    let mut slot = NEXT.load(Ordering::Relaxed);
    if slot >= cfg.slb_size || slot < bolted {
        slot = bolted;
    }
    NEXT.store(slot + 1, Ordering::Relaxed);
    // SAFETY: a kernel segment computed the same way as the bolted ones; the slot is not
    // a bolted one, and whatever segment it held is reloaded on its next miss.
    unsafe { slbmte(v, e | slot as u64) };
    LOADS.fetch_add(1, Ordering::Relaxed);
    true
}

/// Segments loaded on demand so far.
pub fn loads() -> u64 {
    LOADS.load(Ordering::Relaxed)
}

/// Switch instruction and data translation on and return to the caller with it on.
///
/// # Safety
/// The SLB and the hashed page table must map everything the kernel touches from here
/// on (its image, stacks and heap at least) at the addresses it uses, executable where
/// it runs code.
#[inline(never)]
pub unsafe fn mmu_on() {
    // SAFETY: rfid to the label right after it with MSR[IR,DR] set; the caller vouches
    // for the mappings, so execution continues at the same (0xc...) addresses.
    unsafe {
        core::arch::asm!(
            "mfmsr {msr}",
            "ori {msr}, {msr}, 0x30",
            "bcl 20, 31, 1f",
            "1: mflr {pc}",
            "addi {pc}, {pc}, 2f - 1b",
            "mtsrr0 {pc}",
            "mtsrr1 {msr}",
            "rfid",
            "2:",
            msr = out(reg) _,
            pc = out(reg) _,
            out("lr") _,
            options(nostack),
        )
    };
}
