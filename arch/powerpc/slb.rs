//! The SLB (segment lookaside buffer) on the CPU: the bolted kernel entries and the
//! segment-interrupt handler (vectors 0x380 / 0x480) that loads any other kernel segment
//! on demand. The bookkeeping (regions, words, slots) is the portable
//! `sparsek::mm::hash::slb`; this module executes it.
//!
//! The handler runs in real mode (interrupts turn translation off), so it never misses
//! itself. A miss on an address no kernel region covers is not handled: the caller's
//! register dump follows.

use sparsek::mm::hash::slb::{Slb, SlbConfig, SlbEntry, SlbError};
use sparsek::pr_emerg;

use super::regs::{Msr, mfmsr};

const PR_PREFIX: &str = "slb: ";

static SLB: spin::Mutex<Option<Slb>> = spin::Mutex::new(None);

/// Write one SLB entry.
///
/// # Safety
/// The entry must translate consistently with every entry already in the SLB and with
/// the hashed page table for whatever runs with translation on (a kernel segment whose
/// VSID and page size are what the HPTEs were made with), and its slot must be one the
/// CPU has.
unsafe fn slbmte(e: SlbEntry) {
    // SAFETY: the caller vouches for the entry; slbmte has no other effect.
    unsafe {
        core::arch::asm!("slbmte {0}, {1}", "isync", in(reg) e.vsid_word, in(reg) e.esid_word,
            options(nostack))
    };
}

/// Clear the SLB and load the bolted entries (one per EA in `bolted`, slots 0..).
///
/// # Safety
/// Translation must be off: the SLB is cleared, and no segment may be in use meanwhile.
pub unsafe fn init(cfg: SlbConfig, bolted: &[u64]) -> Result<(), SlbError> {
    let (slb, entries) = Slb::new(cfg, bolted)?;
    let mut guard = SLB.lock();
    // SAFETY: translation is off (the caller's contract), so clearing the SLB cannot
    // remove a translation in use; entry 0 is cleared explicitly because slbia keeps it.
    unsafe {
        core::arch::asm!("isync", "slbmte {0}, {0}", "isync", "slbia", "isync",
            in(reg) 0u64, options(nostack))
    };
    for e in entries {
        // SAFETY: kernel segments with the VSIDs and page sizes the bolted HPTEs use, in
        // slots below the SLB's size (Slb::new checked it).
        unsafe { slbmte(e) };
    }
    *guard = Some(slb);
    Ok(())
}

/// Segment interrupt: load the kernel segment of `ea`. `false` when no kernel segment
/// covers `ea`, when the segment does not stay loaded, when the SLB was never set up,
/// or when the interrupt arrived with translation on (the handler relies on real mode):
/// the access is a bug, and the caller dumps.
pub fn handle_miss(ea: u64) -> bool {
    if Msr::from_bits_retain(mfmsr()).intersects(Msr::IR | Msr::DR) {
        pr_emerg!("segment interrupt taken with translation on (LPCR[AIL]?): not handled");
        return false;
    }
    // Only this handler and init take the lock, both with interrupts off and in real
    // mode, so it is never held here; failing to get it is a bug worth a dump.
    let Some(mut guard) = SLB.try_lock() else {
        return false;
    };
    let Some(slb) = guard.as_mut() else {
        return false;
    };
    match slb.miss(ea) {
        Ok(e) => {
            // SAFETY: a kernel segment computed the same way as the bolted ones, in a
            // non-bolted slot below the SLB's size; whatever segment the slot held is
            // reloaded on its next miss.
            unsafe { slbmte(e) };
            true
        }
        Err(e @ SlbError::NotLoading { .. }) => {
            pr_emerg!("{e}");
            false
        }
        Err(_) => false,
    }
}

/// Segments loaded on demand so far.
pub fn loads() -> u64 {
    SLB.lock().as_ref().map_or(0, Slb::loads)
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
    // for the mappings, so execution continues at the same (0xc...) addresses. `pc` is
    // never r0, which addi would read as 0.
    unsafe {
        core::arch::asm!(
            "mfmsr {msr}",
            "ori {msr}, {msr}, {ir_dr}",
            "bcl 20, 31, 1f",
            "1: mflr {pc}",
            "addi {pc}, {pc}, 2f - 1b",
            "mtsrr0 {pc}",
            "mtsrr1 {msr}",
            "rfid",
            "2:",
            msr = out(reg) _,
            pc = out(reg_nonzero) _,
            ir_dr = const Msr::IR.bits() | Msr::DR.bits(),
            out("lr") _,
            options(nostack),
        )
    };
}
