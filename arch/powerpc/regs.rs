//! Special-purpose register access (MSR, timebase, PVR).

use bitflags::bitflags;

bitflags! {
    /// Machine State Register bits (Power ISA, 64-bit; bit values, not IBM bit numbers).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Msr: u64 {
        const SF = 1 << 63;
        const HV = 1 << 60;
        const VEC = 1 << 25;
        const VSX = 1 << 23;
        const EE = 1 << 15;
        const PR = 1 << 14;
        const FP = 1 << 13;
        const ME = 1 << 12;
        const FE0 = 1 << 11;
        const SE = 1 << 10;
        const BE = 1 << 9;
        const FE1 = 1 << 8;
        const IR = 1 << 5;
        const DR = 1 << 4;
        const PMM = 1 << 2;
        const RI = 1 << 1;
        const LE = 1 << 0;
    }
}

/// Names in the order Linux's `printbits` shows them (`<SF,ME,RI,LE>`).
pub const MSR_NAMES: &[(Msr, &str)] = &[
    (Msr::SF, "SF"),
    (Msr::HV, "HV"),
    (Msr::VEC, "VEC"),
    (Msr::VSX, "VSX"),
    (Msr::EE, "EE"),
    (Msr::PR, "PR"),
    (Msr::FP, "FP"),
    (Msr::ME, "ME"),
    (Msr::FE0, "FE0"),
    (Msr::SE, "SE"),
    (Msr::BE, "BE"),
    (Msr::FE1, "FE1"),
    (Msr::IR, "IR"),
    (Msr::DR, "DR"),
    (Msr::PMM, "PMM"),
    (Msr::RI, "RI"),
    (Msr::LE, "LE"),
];

/// Writes `<SF,ME,RI,LE>` for an MSR value.
pub struct MsrBits(pub u64);

impl core::fmt::Display for MsrBits {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("<")?;
        let mut first = true;
        for &(bit, name) in MSR_NAMES {
            if self.0 & bit.bits() != 0 {
                if !first {
                    f.write_str(",")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        f.write_str(">")
    }
}

/// The timebase (SPR 268).
#[inline]
pub fn mftb() -> u64 {
    let v: u64;
    // SAFETY: reading the timebase has no side effects.
    unsafe {
        core::arch::asm!("mfspr {0}, 268", out(reg) v, options(nomem, nostack, preserves_flags))
    };
    v
}

/// The Machine State Register.
pub fn mfmsr() -> u64 {
    let v: u64;
    // SAFETY: reading the MSR has no side effects.
    unsafe { core::arch::asm!("mfmsr {0}", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}

/// Load a doubleword at physical address `pa` with data translation off (instruction
/// translation, if on, stays on: this code is mapped). External interrupts are masked
/// for the duration.
///
/// # Safety
/// `pa` must be 8-byte aligned RAM that real mode reaches: all of RAM under QEMU's
/// pseries (its virtual hypervisor does not bound real mode); on PowerVM or KVM-HV only
/// the real-mode area.
pub unsafe fn load_real_mode(pa: u64) -> u64 {
    let v: u64;
    // SAFETY: MSR[DR] and MSR[EE] are cleared around one load and restored, so nothing
    // runs in between. The caller vouches for the address.
    unsafe {
        core::arch::asm!(
            "mfmsr {saved}",
            "li {tmp}, {dr}",
            "ori {tmp}, {tmp}, {ee}",
            "andc {tmp}, {saved}, {tmp}",
            "mtmsrd {tmp}",
            "isync",
            "ld {v}, 0({pa})",
            "mtmsrd {saved}",
            "isync",
            saved = out(reg) _,
            tmp = out(reg) _,
            v = out(reg) v,
            pa = in(reg_nonzero) pa,
            dr = const Msr::DR.bits(),
            ee = const Msr::EE.bits(),
            options(nostack, readonly),
        )
    };
    v
}

/// Processor Version Register (SPR 287).
pub fn mfpvr() -> u32 {
    let v: u64;
    // SAFETY: reading the PVR has no side effects.
    unsafe {
        core::arch::asm!("mfspr {0}, 287", out(reg) v, options(nomem, nostack, preserves_flags))
    };
    v as u32
}

/// CPU family name for a PVR, as Linux's cputable names them.
pub fn pvr_name(pvr: u32) -> &'static str {
    match pvr >> 16 {
        0x003f => "POWER7",
        0x004a => "POWER7+",
        0x004b => "POWER8E",
        0x004c => "POWER8NVL",
        0x004d => "POWER8",
        0x004e => "POWER9",
        0x0080 => "POWER10",
        0x0082 => "POWER11",
        _ => "unknown",
    }
}

/// Make instructions just written as data visible to instruction fetch.
///
/// # Safety
/// `start..end` must be RAM the kernel may access (dcbst/icbi on an address without
/// memory behind it is not guaranteed to be harmless).
pub unsafe fn flush_icache_range(start: usize, end: usize) {
    const LINE: usize = 128;
    let first = start & !(LINE - 1);
    for a in (first..end).step_by(LINE) {
        // SAFETY: writes back one data cache block of RAM (caller's contract).
        unsafe { core::arch::asm!("dcbst 0, {0}", in(reg) a, options(nostack)) };
    }
    // SAFETY: sync orders the write-backs before the invalidations.
    unsafe { core::arch::asm!("sync", options(nostack)) };
    for a in (first..end).step_by(LINE) {
        // SAFETY: invalidates one instruction cache block of RAM (caller's contract).
        unsafe { core::arch::asm!("icbi 0, {0}", in(reg) a, options(nostack)) };
    }
    // SAFETY: context synchronisation so that later fetches see the new instructions.
    unsafe { core::arch::asm!("sync", "isync", options(nostack)) };
}
