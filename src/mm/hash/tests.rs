//! Host tests of the hash MMU's portable half.
//!
//! Expected values are derived independently of the code under test: from the formulas
//! of the reference (Linux's conventions, restated in the helpers below with u128
//! arithmetic and a plain `%`), or by hand (Python) for the hex constants.
//!
//! * [`arith`]: VSIDs, VPN, hash, groups, HPTE and SLB encodings;
//! * [`sizes`]: `ibm,segment-page-sizes`, the page and segment size tables;
//! * [`cpu`]: the CPU node (QEMU's blobs, synthetic trees), Linux's page-size choice;
//! * [`model`]: the model of QEMU's H_ENTER / H_REMOVE / H_READ;
//! * [`bolt`]: `bolt_mapping` against the model;
//! * [`status`]: hypercall statuses and flags;
//! * [`slb`]: the SLB's bolted entries, on-demand slots and repeat detection;
//! * [`translate`]: the model's QEMU-style translation of what `bolt_mapping` inserted.

extern crate std;

mod arith;
mod bolt;
mod cpu;
mod model;
mod sizes;
mod slb;
mod status;
mod translate;

use super::hpte::*;
use super::pagesize::*;

/// QEMU 7.2's default `ibm,segment-page-sizes` (4K and 64K base pages): what the
/// fixtures in tests/fixtures/dtb hold.
const QEMU_DEFAULT: [u32; 10] = [12, 0, 1, 12, 0, 16, 0x110, 1, 16, 1];

/// POWER9 with `cap-hpt-max-page-size=16M`: 4K, 64K and 16M base pages.
const POWER9: [u32; 21] = [
    12, 0, 3, 12, 0, 16, 7, 24, 0x38, //
    16, 0x110, 2, 16, 1, 24, 8, //
    24, 0x100, 1, 24, 0,
];

const K: u64 = 1 << 10;
const M: u64 = 1 << 20;
const G: u64 = 1 << 30;

/// The kernel linear mapping's base and the other regions.
const LINEAR: u64 = 0xc000_0000_0000_0000;
const VMALLOC: u64 = 0xd000_0000_0000_0000;
const IO: u64 = 0xe000_0000_0000_0000;
const VMEMMAP: u64 = 0xf000_0000_0000_0000;

fn sizes(cells: &[u32]) -> PageSizes {
    PageSizes::parse(cells).unwrap()
}

fn seg_bits(ssize: Ssize) -> u32 {
    match ssize {
        Ssize::S256M => 28,
        Ssize::S1T => 40,
    }
}

/// `proto * 12538073 mod (2^bits - 1)`, the plain way.
fn ref_scramble(proto: u64, bits: u32) -> u64 {
    ((proto as u128 * 12538073) % ((1u128 << bits) - 1)) as u64
}

/// The reference's kernel proto-VSID: context = (ea >> 60) - 0xb; 1T:
/// `(context << 9) | ((ea >> 40) & 0x1ff)`; 256M: `(context << 21) | ((ea >> 28) & 0x1fffff)`.
fn ref_proto(ea: u64, ssize: Ssize) -> u64 {
    let context = (ea >> 60) - 0xb;
    match ssize {
        Ssize::S1T => (context << 9) | ((ea >> 40) & 0x1ff),
        Ssize::S256M => (context << 21) | ((ea >> 28) & 0x1f_ffff),
    }
}

fn ref_vsid(ea: u64, ssize: Ssize) -> u64 {
    let bits = match ssize {
        Ssize::S1T => 28,
        Ssize::S256M => 40,
    };
    ref_scramble(ref_proto(ea, ssize), bits)
}

/// `(vsid << (segshift - 12)) | ((ea >> 12) & (2^(segshift-12) - 1))`.
fn ref_vpn(ea: u64, vsid: u64, ssize: Ssize) -> u64 {
    let s = seg_bits(ssize);
    ((vsid as u128) << (s - 12)) as u64 | ((ea >> 12) % (1 << (s - 12)))
}

/// The reference's hash, from the EA (not the VPN): 1T `vsid ^ (vsid << 25) ^ ((ea &
/// (2^40-1)) >> shift)`; 256M `vsid ^ ((ea & (2^28-1)) >> shift)`; 39 bits.
fn ref_hash(ea: u64, vsid: u64, ssize: Ssize, shift: u32) -> u64 {
    let off = ea % (1 << seg_bits(ssize));
    let h = match ssize {
        Ssize::S1T => vsid ^ (vsid << 25) ^ (off >> shift),
        Ssize::S256M => vsid ^ (off >> shift),
    };
    h % (1 << 39)
}

/// The reference's V of a bolted valid entry of `psize` (actual = base): AVPN =
/// `((vpn >> 11) & ~avpnm) << 7` with avpnm 1 for 16M, the segment size at bit 62,
/// LARGE 0x4 when not 4K, BOLTED 0x10, VALID 0x1.
fn ref_v(ea: u64, ssize: Ssize, psize: Psize) -> u64 {
    let vpn = ref_vpn(ea, ref_vsid(ea, ssize), ssize);
    let avpnm = if psize == Psize::P16M { 1 } else { 0 };
    let b = if ssize == Ssize::S1T { 1u64 << 62 } else { 0 };
    let large = if psize == Psize::P4K { 0 } else { 0x4 };
    (((vpn >> 11) & !avpnm) << 7) | b | large | 0x10 | 0x1
}

#[test]
fn test_vector_from_the_reference() {
    // 2G guest, 1T segments, 16M page, pft-size 0x18: EA 0xf000000000000000.
    let ea = 0xf000_0000_0000_0000;
    assert_eq!(proto_vsid(ea, Ssize::S1T), Some(0x800));
    let vsid = kernel_vsid(ea, Ssize::S1T).unwrap();
    assert_eq!(vsid, 0xa86c85f);
    let vpn = hpt_vpn(ea, vsid, Ssize::S1T);
    let hash = hpt_hash(vpn, 24, Ssize::S1T);
    assert_eq!(hash, 0x10b486c85f);
    assert_eq!(hpteg(hash, (1 << (0x18 - 7)) - 1, false), 0x642f8);
    let sizes = PageSizes::parse(&[
        12, 0, 3, 12, 0, 16, 7, 24, 0x38, 16, 0x110, 2, 16, 1, 24, 8, 24, 0x100, 1, 24, 0,
    ])
    .unwrap();
    let v = hpte_encode_v(vpn, Psize::P16M, Psize::P16M, Ssize::S1T, &sizes)
        | HPTE_V_BOLTED
        | HPTE_V_VALID;
    assert_eq!(v, 0x400a86c85f000015);
    let r = hpte_encode_r(0x7e000000, Psize::P16M, Psize::P16M, &sizes).unwrap() | PROT_KERNEL_RW;
    assert_eq!(r, 0x7e000194);
}

#[test]
fn reference_helpers_agree_with_the_test_vector() {
    // The helpers above are the oracle of the other tests: check them on the vector.
    let ea = VMEMMAP;
    assert_eq!(ref_proto(ea, Ssize::S1T), 0x800);
    assert_eq!(ref_vsid(ea, Ssize::S1T), 0xa86c85f);
    assert_eq!(ref_hash(ea, 0xa86c85f, Ssize::S1T, 24), 0x10b486c85f);
    assert_eq!(ref_v(ea, Ssize::S1T, Psize::P16M), 0x400a86c85f000015);
}
