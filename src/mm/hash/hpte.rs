//! The hash MMU's arithmetic, as Linux's book3s64 code does it for a 68-bit virtual
//! address space: kernel VSIDs, the virtual page number, the hash, the pre-ISA-3.0 HPTE
//! encoding and the SLB entry encoding.
//!
//! ```text
//!  EA  0xc... linear map   context 1 \
//!      0xd... vmalloc      context 2  |  proto-VSID = context << ESID_BITS | ESID
//!      0xe... io           context 3  |  VSID = scramble(proto-VSID)
//!      0xf... vmemmap      context 4 /   VA = VSID << segment shift | offset (68 bits)
//! ```
//! Each kernel region gives 2^49 bytes of EA a context (ESID_BITS = 21 segments of 256M,
//! or ESID_BITS_1T = 9 of 1T); the top 4 EA bits pick the context.

use super::pagesize::{PageSizes, Psize, Ssize};

/// Bits of virtual address the MMU implements (Linux: VA_BITS).
pub const VA_BITS: u32 = 68;
/// Bits of context id (Linux: CONTEXT_BITS).
pub const CONTEXT_BITS: u32 = 19;
pub const SID_SHIFT: u32 = 28;
pub const SID_SHIFT_1T: u32 = 40;
/// Segment-number bits per context: 2^49 bytes of EA.
pub const ESID_BITS: u32 = VA_BITS - (SID_SHIFT + CONTEXT_BITS);
pub const ESID_BITS_1T: u32 = VA_BITS - (SID_SHIFT_1T + CONTEXT_BITS);
pub const VSID_BITS_256M: u32 = VA_BITS - SID_SHIFT;
pub const VSID_BITS_1T: u32 = VA_BITS - SID_SHIFT_1T;
/// Linux's VSID_MULTIPLIER_256M and VSID_MULTIPLIER_1T (the same prime).
pub const VSID_MULTIPLIER: u64 = 12538073;
/// EA bits a kernel context covers.
pub const EA_BITS_PER_CONTEXT: u32 = ESID_BITS + SID_SHIFT;
/// The first kernel region (top EA nibble) and its context.
pub const KERNEL_REGION_FIRST: u64 = 0xc;
pub const KERNEL_CONTEXT_OFFSET: u64 = KERNEL_REGION_FIRST - 1;

/// HPTE first doubleword (V) bits.
pub const HPTE_V_SSIZE_SHIFT: u32 = 62;
pub const HPTE_V_AVPN_SHIFT: u32 = 7;
pub const HPTE_V_BOLTED: u64 = 0x10;
pub const HPTE_V_LARGE: u64 = 0x4;
pub const HPTE_V_SECONDARY: u64 = 0x2;
pub const HPTE_V_VALID: u64 = 0x1;
/// Bits the hypervisor keeps for itself (QEMU clears them on H_ENTER, sets 0x40).
pub const HPTE_V_HYPERVISOR_BITS: u64 = 0x60;

/// Linux's `HPTE_V_COMPARE(x, y)`: two V words name the same page if they agree above
/// the low 7 bits (valid, H, large, bolted and the hypervisor's bits).
pub const fn hpte_v_compare(x: u64, y: u64) -> bool {
    (x ^ y) >> HPTE_V_AVPN_SHIFT == 0
}

/// HPTE second doubleword (R) bits.
pub const HPTE_R_PP0: u64 = 0x8000_0000_0000_0000;
pub const HPTE_R_RPN: u64 = 0x0fff_ffff_ffff_f000;
pub const HPTE_R_LP_SHIFT: u32 = 12;
pub const HPTE_R_R: u64 = 0x100;
pub const HPTE_R_C: u64 = 0x80;
pub const HPTE_R_W: u64 = 0x40;
pub const HPTE_R_I: u64 = 0x20;
pub const HPTE_R_M: u64 = 0x10;
pub const HPTE_R_G: u64 = 0x8;
pub const HPTE_R_N: u64 = 0x4;
pub const HPTE_R_PP: u64 = 0x3;
pub const HPTE_R_WIMG: u64 = HPTE_R_W | HPTE_R_I | HPTE_R_M | HPTE_R_G;
/// Kernel read-write data, not executable: R | C | M | N (PP = 0 with Kp = 1).
pub const PROT_KERNEL_RW: u64 = HPTE_R_R | HPTE_R_C | HPTE_R_M | HPTE_R_N;
/// Kernel text: the same, executable.
pub const PROT_KERNEL_RWX: u64 = PROT_KERNEL_RW & !HPTE_R_N;

/// 8 entries of 16 bytes per group.
pub const HPTES_PER_GROUP: u64 = 8;
pub const HPTE_SIZE: u64 = 16;

/// SLB encodings.
pub const SLB_ESID_V: u64 = 0x0800_0000;
pub const SLB_VSID_SHIFT: u32 = 12;
pub const SLB_VSID_SHIFT_1T: u32 = 24;
pub const SLB_VSID_SSIZE_SHIFT: u32 = 62;
pub const SLB_VSID_KS: u64 = 0x800;
pub const SLB_VSID_KP: u64 = 0x400;
pub const SLB_VSID_N: u64 = 0x200;
/// Linux's SLB_VSID_KERNEL.
pub const SLB_VSID_KERNEL: u64 = SLB_VSID_KP;

/// Linux's vsid_scramble: `proto * multiplier mod (2^bits - 1)`, without a division.
pub const fn vsid_scramble(proto: u64, bits: u32) -> u64 {
    let modulus = (1u64 << bits) - 1;
    // proto < 2^bits and the multiplier < 2^24: the product fits in 64 bits.
    let x = proto * VSID_MULTIPLIER;
    // 2^bits = 1 (mod 2^bits - 1): fold the high part onto the low part, then add the
    // final carry, as Linux does.
    let x = (x >> bits) + (x & modulus);
    (x + ((x + 1) >> bits)) & modulus
}

/// The kernel context of an EA (0xc -> 1 ... 0xf -> 4), or `None` outside the kernel
/// regions or beyond the 2^49 bytes a context covers.
pub const fn kernel_context(ea: u64) -> Option<u64> {
    let region = ea >> 60;
    if region < KERNEL_REGION_FIRST {
        return None;
    }
    if (ea & 0x0fff_ffff_ffff_ffff) >> EA_BITS_PER_CONTEXT != 0 {
        return None;
    }
    Some(region - KERNEL_CONTEXT_OFFSET)
}

/// The proto-VSID of a kernel EA.
pub const fn proto_vsid(ea: u64, ssize: Ssize) -> Option<u64> {
    let Some(context) = kernel_context(ea) else {
        return None;
    };
    Some(match ssize {
        Ssize::S256M => (context << ESID_BITS) | ((ea >> SID_SHIFT) & ((1 << ESID_BITS) - 1)),
        Ssize::S1T => {
            (context << ESID_BITS_1T) | ((ea >> SID_SHIFT_1T) & ((1 << ESID_BITS_1T) - 1))
        }
    })
}

/// Linux's get_kernel_vsid (which returns 0 where this returns `None`).
pub const fn kernel_vsid(ea: u64, ssize: Ssize) -> Option<u64> {
    let Some(proto) = proto_vsid(ea, ssize) else {
        return None;
    };
    Some(match ssize {
        Ssize::S256M => vsid_scramble(proto, VSID_BITS_256M),
        Ssize::S1T => vsid_scramble(proto, VSID_BITS_1T),
    })
}

/// Virtual page number in 4K units (Linux's hpt_vpn, VPN_SHIFT = 12).
pub const fn hpt_vpn(ea: u64, vsid: u64, ssize: Ssize) -> u64 {
    let s = ssize.shift();
    (vsid << (s - 12)) | ((ea >> 12) & ((1 << (s - 12)) - 1))
}

/// Linux's hpt_hash: the primary hash of a VPN for a page of 2^shift bytes (39 bits).
pub const fn hpt_hash(vpn: u64, shift: u32, ssize: Ssize) -> u64 {
    let hash = match ssize {
        Ssize::S256M => {
            let mask = (1u64 << (SID_SHIFT - 12)) - 1;
            (vpn >> (SID_SHIFT - 12)) ^ ((vpn & mask) >> (shift - 12))
        }
        Ssize::S1T => {
            let mask = (1u64 << (SID_SHIFT_1T - 12)) - 1;
            let vsid = vpn >> (SID_SHIFT_1T - 12);
            vsid ^ (vsid << 25) ^ ((vpn & mask) >> (shift - 12))
        }
    };
    hash & 0x7f_ffff_ffff
}

/// PTE index of slot 0 of the primary (or, with `secondary`, the secondary) group.
pub const fn hpteg(hash: u64, hash_mask: u64, secondary: bool) -> u64 {
    let h = if secondary { !hash } else { hash };
    (h & hash_mask) * HPTES_PER_GROUP
}

/// Linux's hpte_encode_avpn: the AVPN field and the segment size, for a segment of
/// `base` page size.
pub fn hpte_encode_avpn(vpn: u64, base: Psize, ssize: Ssize, sizes: &PageSizes) -> u64 {
    let avpnm = sizes.def(base).avpnm;
    (((vpn >> (23 - 12)) & !avpnm) << HPTE_V_AVPN_SHIFT) | (ssize.bits() << HPTE_V_SSIZE_SHIFT)
}

/// Linux's hpte_encode_v (without VALID and the caller's flags).
pub fn hpte_encode_v(vpn: u64, base: Psize, actual: Psize, ssize: Ssize, sizes: &PageSizes) -> u64 {
    let mut v = hpte_encode_avpn(vpn, base, ssize, sizes);
    if actual != Psize::P4K {
        v |= HPTE_V_LARGE;
    }
    v
}

/// Linux's hpte_encode_r (without the protection flags): the real page number and the
/// LP encoding of `actual` in a `base` segment. `None` when the pair is not offered.
pub fn hpte_encode_r(pa: u64, base: Psize, actual: Psize, sizes: &PageSizes) -> Option<u64> {
    if actual == Psize::P4K {
        return Some(pa & HPTE_R_RPN);
    }
    let penc = sizes.penc(base, actual)? as u64;
    Some(((pa & !((1u64 << actual.shift()) - 1)) & HPTE_R_RPN) | (penc << HPTE_R_LP_SHIFT))
}

/// The segment mask of an EA.
pub const fn esid_mask(ssize: Ssize) -> u64 {
    !((1u64 << ssize.shift()) - 1)
}

/// SLB entry, ESID word (RB of slbmte): ESID, valid, slot index.
pub const fn slb_esid(ea: u64, ssize: Ssize, slot: u64) -> u64 {
    (ea & esid_mask(ssize)) | SLB_ESID_V | slot
}

/// SLB entry, VSID word (RS of slbmte): VSID, segment size, Kp, the base page size's L||LP.
pub const fn slb_vsid(vsid: u64, ssize: Ssize, sllp: u64) -> u64 {
    let shift = match ssize {
        Ssize::S256M => SLB_VSID_SHIFT,
        Ssize::S1T => SLB_VSID_SHIFT_1T,
    };
    (vsid << shift) | (ssize.bits() << SLB_VSID_SSIZE_SHIFT) | SLB_VSID_KERNEL | sllp
}
