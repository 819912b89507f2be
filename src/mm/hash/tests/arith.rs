//! VSIDs, VPN, hash, groups, HPTE and SLB encodings against the reference's formulas and
//! hand-computed values.

use super::*;
use std::vec::Vec;

/// A small deterministic generator (xorshift64*), for sweeps.
fn rng(seed: u64) -> impl FnMut() -> u64 {
    let mut x = seed | 1;
    move || {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[test]
fn constants_match_linux() {
    assert_eq!(ESID_BITS, 21);
    assert_eq!(ESID_BITS_1T, 9);
    assert_eq!(VSID_BITS_256M, 40);
    assert_eq!(VSID_BITS_1T, 28);
    assert_eq!(EA_BITS_PER_CONTEXT, 49);
    assert_eq!(VSID_MULTIPLIER, 12538073);
    assert_eq!(PROT_KERNEL_RW, 0x194);
    assert_eq!(PROT_KERNEL_RWX, 0x190);
    assert_eq!(HPTE_R_WIMG, 0x78);
    assert_eq!(HPTE_R_RPN, 0x0fff_ffff_ffff_f000);
    assert_eq!(SLB_VSID_KERNEL, 0x400);
    assert_eq!(SLB_ESID_V, 0x0800_0000);
}

fn scramble_protos(bits: u32) -> Vec<u64> {
    let max = (1u64 << bits) - 1;
    let mut protos = std::vec![
        0,
        1,
        2,
        3,
        0x1ff,
        0x200,
        0x201,
        0x3ff,
        0x800,
        0x9ff,
        0x20_0000,
        0x3f_ffff,
        0x80_0000,
        0x9f_ffff,
        max / VSID_MULTIPLIER,
        max / VSID_MULTIPLIER + 1,
        max / 2,
        max / 2 + 1,
        max - 2,
        max - 1, // the largest proto below the modulus
        max,     // the modulus itself: 0
    ];
    for k in 0..bits {
        protos.push(1 << k);
        protos.push((1 << k) - 1);
        protos.push(max ^ (1 << k));
    }
    let mut r = rng(bits as u64);
    for _ in 0..20_000 {
        protos.push(r() & max);
    }
    protos.retain(|&p| p <= max);
    protos
}

#[test]
fn vsid_scramble_is_the_modulus() {
    for bits in [VSID_BITS_1T, VSID_BITS_256M] {
        let modulus = (1u64 << bits) - 1;
        for proto in scramble_protos(bits) {
            let got = vsid_scramble(proto, bits);
            assert_eq!(
                got,
                ref_scramble(proto, bits),
                "proto 0x{proto:x}, {bits} bits"
            );
            assert!(got < modulus, "proto 0x{proto:x}: 0x{got:x} not reduced");
        }
        assert_eq!(vsid_scramble(0, bits), 0);
        assert_eq!(vsid_scramble(1, bits), VSID_MULTIPLIER);
        assert_eq!(vsid_scramble(modulus, bits), 0);
    }
    // Hand-computed: 0x200 * 12538073 = 0x17_ea1b_2000 mod 0x0fff_ffff.
    assert_eq!(vsid_scramble(0x200, 28), 0xea1b217);
    assert_eq!(vsid_scramble(0x20_0000, 40), 0xea_1b20_0017);
    // The largest proto: (2^bits - 2) * m = -m (mod 2^bits - 1).
    assert_eq!(
        vsid_scramble((1 << 28) - 2, 28),
        (1 << 28) - 1 - VSID_MULTIPLIER
    );
    assert_eq!(
        vsid_scramble((1 << 40) - 2, 40),
        (1 << 40) - 1 - VSID_MULTIPLIER
    );
}

#[test]
fn kernel_context_of_each_region() {
    for (region, ctx) in [(0xc, 1), (0xd, 2), (0xe, 3), (0xf, 4)] {
        let base = region << 60;
        assert_eq!(kernel_context(base), Some(ctx), "0x{base:x}");
        // The last byte of the context's 2^49 bytes, then the first beyond it.
        assert_eq!(kernel_context(base + (1 << 49) - 1), Some(ctx));
        assert_eq!(kernel_context(base + (1 << 49)), None, "0x{base:x} + 2^49");
        assert_eq!(kernel_context(base | 0x0fff_ffff_ffff_ffff), None);
        assert_eq!(kernel_context(base | 0x0800_0000_0000_0000), None);
    }
    // User and the regions below 0xc.
    for ea in [
        0,
        0x1000,
        0x0000_7fff_ffff_ffff,
        0x0fff_ffff_ffff_ffff,
        0x1000_0000_0000_0000,
        0x8000_0000_0000_0000,
        0xb000_0000_0000_0000,
        0xbfff_ffff_ffff_ffff,
    ] {
        assert_eq!(kernel_context(ea), None, "0x{ea:x}");
        assert_eq!(proto_vsid(ea, Ssize::S256M), None);
        assert_eq!(kernel_vsid(ea, Ssize::S1T), None);
    }
    for region in 0x0..=0xbu64 {
        assert_eq!(kernel_context(region << 60), None);
        assert_eq!(kernel_context((region << 60) | 0x1_0000_0000), None);
    }
    assert_eq!(kernel_vsid(LINEAR + (1 << 49), Ssize::S1T), None);
    assert_eq!(kernel_vsid(LINEAR + (1 << 49), Ssize::S256M), None);
}

#[test]
fn proto_vsid_at_segment_boundaries() {
    let s256 = Ssize::S256M;
    let s1t = Ssize::S1T;
    for (ea, ssize, proto) in [
        (LINEAR, s256, 0x20_0000),
        (LINEAR + 0x0fff_ffff, s256, 0x20_0000),
        (LINEAR + 0x1000_0000, s256, 0x20_0001),
        (LINEAR + 0x1_0000_0000, s256, 0x20_0010),
        (LINEAR + 0x100_0000_0000, s256, 0x20_1000),
        (LINEAR + (1 << 49) - 1, s256, 0x3f_ffff),
        (VMALLOC, s256, 0x40_0000),
        (IO, s256, 0x60_0000),
        (VMEMMAP, s256, 0x80_0000),
        (VMEMMAP + (1 << 49) - 1, s256, 0x9f_ffff),
        (LINEAR, s1t, 0x200),
        (LINEAR + 0xff_ffff_ffff, s1t, 0x200),
        (LINEAR + 0x100_0000_0000, s1t, 0x201),
        (LINEAR + (1 << 49) - 1, s1t, 0x3ff),
        (VMALLOC, s1t, 0x400),
        (IO, s1t, 0x600),
        (VMEMMAP, s1t, 0x800),
        (VMEMMAP + (1 << 49) - 1, s1t, 0x9ff),
    ] {
        assert_eq!(
            proto_vsid(ea, ssize),
            Some(proto),
            "0x{ea:x} {}",
            ssize.name()
        );
        assert_eq!(ref_proto(ea, ssize), proto, "oracle at 0x{ea:x}");
        assert_eq!(kernel_vsid(ea, ssize), Some(ref_vsid(ea, ssize)));
    }
}

#[test]
fn kernel_vsid_sweep_matches_the_reference() {
    let mut r = rng(7);
    for _ in 0..20_000 {
        let x = r();
        let ea = ((0xc + (x >> 62)) << 60) | (r() & ((1 << 49) - 1));
        for ssize in [Ssize::S256M, Ssize::S1T] {
            let vsid = kernel_vsid(ea, ssize).unwrap();
            assert_eq!(vsid, ref_vsid(ea, ssize), "0x{ea:x} {}", ssize.name());
            // Linux's get_kernel_vsid returns 0 for "no VSID": a kernel VSID never is 0.
            assert_ne!(vsid, 0);
        }
    }
}

#[test]
fn hpt_vpn_keeps_the_segment_offset_only() {
    let v1t = 0xea1b217;
    assert_eq!(hpt_vpn(LINEAR, v1t, Ssize::S1T), 0x00ea_1b21_7000_0000);
    // 1T: offset 0x12_3456_78ab -> page 0x123_4567 within the segment.
    let ea = LINEAR + 0x12_3456_78ab;
    assert_eq!(hpt_vpn(ea, v1t, Ssize::S1T), (v1t << 28) | 0x123_4567);
    // The same EA in a 256M segment: offset 0x456_78ab -> page 0x4567 (the ESID bits
    // above the segment are the VSID's business, not the VPN's).
    let v256 = 0xf6_102d_9017;
    assert_eq!(hpt_vpn(ea, v256, Ssize::S256M), (v256 << 16) | 0x4567);
    assert_eq!(
        hpt_vpn(LINEAR + 0x0fff_ffff, v256, Ssize::S256M),
        (v256 << 16) | 0xffff
    );
    assert_eq!(
        hpt_vpn(LINEAR + 0xff_ffff_ffff, v1t, Ssize::S1T),
        (v1t << 28) | 0xfff_ffff
    );
    let mut r = rng(11);
    for _ in 0..5000 {
        let ea = LINEAR | (r() & ((1 << 49) - 1));
        for ssize in [Ssize::S256M, Ssize::S1T] {
            let vsid = ref_vsid(ea, ssize);
            assert_eq!(hpt_vpn(ea, vsid, ssize), ref_vpn(ea, vsid, ssize));
        }
    }
}

#[test]
fn hpt_hash_matches_the_reference_formulas() {
    let mut r = rng(13);
    for _ in 0..20_000 {
        let x = r();
        let ea = ((0xc + (x >> 62)) << 60) | (r() & ((1 << 49) - 1));
        for ssize in [Ssize::S256M, Ssize::S1T] {
            let vsid = ref_vsid(ea, ssize);
            let vpn = ref_vpn(ea, vsid, ssize);
            for shift in [12, 16, 20, 24] {
                let h = hpt_hash(vpn, shift, ssize);
                assert_eq!(h, ref_hash(ea, vsid, ssize, shift), "0x{ea:x} {shift}");
                assert!(h < 1 << 39);
            }
        }
    }
}

#[test]
fn hpt_hash_is_masked_to_39_bits() {
    // 256M at the linear base: VSID 0xea1b200017 has bit 39 set; the hash drops it.
    let vsid = 0xea_1b20_0017;
    let vpn = vsid << 16;
    assert_eq!(hpt_hash(vpn, 12, Ssize::S256M), 0x6a_1b20_0017);
    // 1T: vsid << 25 reaches bit 52; everything from bit 39 up goes.
    let vsid = 0xfff_ffff;
    let h = hpt_hash(vsid << 28, 24, Ssize::S1T);
    assert_eq!(h, (vsid ^ (vsid << 25)) & 0x7f_ffff_ffff);
    assert_eq!(h, 0x7f_f1ff_ffff);
}

#[test]
fn hpteg_primary_and_secondary() {
    let mask = (1 << (0x18 - 7)) - 1;
    assert_eq!(mask, 0x1ffff);
    assert_eq!(hpteg(0x10b486c85f, mask, false), 0x642f8);
    assert_eq!(hpteg(0x10b486c85f, mask, true), 0x9bd00);
    // Secondary = (~hash & mask) * 8: the primary's complement within the table.
    let mut r = rng(17);
    for _ in 0..1000 {
        let hash = r() & 0x7f_ffff_ffff;
        for pft in [18u32, 24, 25, 30, 46] {
            let mask = (1u64 << (pft - 7)) - 1;
            let p = hpteg(hash, mask, false);
            let s = hpteg(hash, mask, true);
            assert_eq!(p, (hash & mask) * 8);
            assert_eq!(s, ((hash ^ u64::MAX) & mask) * 8);
            assert_eq!(p / 8 + s / 8, mask);
            assert_eq!(p % 8, 0);
        }
    }
    // A one-group table: both are group 0.
    assert_eq!(hpteg(0x1234, 0, false), 0);
    assert_eq!(hpteg(0x1234, 0, true), 0);
}

#[test]
fn linear_map_eas_by_hand() {
    // (ea, ssize, proto, vsid, hash for 16M pages, primary, secondary with pft 0x18);
    // computed by hand (Python) from the reference's formulas.
    let mask = 0x1ffff;
    for (ea, ssize, proto, vsid, hash, pg, sg) in [
        (
            LINEAR,
            Ssize::S256M,
            0x20_0000,
            0xea_1b20_0017,
            0x6a_1b20_0017,
            0xb8,
            0xfff40,
        ),
        (
            LINEAR,
            Ssize::S1T,
            0x200,
            0xea1b217,
            0x64_20a1_b217,
            0xd90b8,
            0x26f40,
        ),
        (
            LINEAR + 0x1000_0000, // second 256M segment
            Ssize::S256M,
            0x20_0001,
            0xea_1bdf_50f0,
            0x6a_1bdf_50f0,
            0xa8780,
            0x57878,
        ),
        (
            LINEAR + 0x1000_0000, // still the first 1T segment
            Ssize::S1T,
            0x200,
            0xea1b217,
            0x64_20a1_b207,
            0xd9038,
            0x26fc0,
        ),
        (
            LINEAR + 0x100_0000_0000, // second 1T segment
            Ssize::S1T,
            0x201,
            0xf6102f0,
            0x5_ef61_02f0,
            0x81780,
            0x7e878,
        ),
        (
            LINEAR + 0x100_0000_0000,
            Ssize::S256M,
            0x20_1000,
            0xf6_102d_9017,
            0x76_102d_9017,
            0xc80b8,
            0x37f40,
        ),
    ] {
        let what = std::format!("0x{ea:x} {}", ssize.name());
        assert_eq!(proto_vsid(ea, ssize), Some(proto), "{what}");
        assert_eq!(kernel_vsid(ea, ssize), Some(vsid), "{what}");
        let vpn = hpt_vpn(ea, vsid, ssize);
        let h = hpt_hash(vpn, 24, ssize);
        assert_eq!(h, hash, "{what}");
        assert_eq!(hpteg(h, mask, false), pg, "{what}");
        assert_eq!(hpteg(h, mask, true), sg, "{what}");
    }
    // 0xc000000010000000 in a 1T segment: the page size changes the hash.
    let vpn = hpt_vpn(LINEAR + 0x1000_0000, 0xea1b217, Ssize::S1T);
    assert_eq!(hpt_hash(vpn, 12, Ssize::S1T), 0x64_20a0_b217);
    assert_eq!(hpt_hash(vpn, 16, Ssize::S1T), 0x64_20a1_a217);
}

#[test]
fn hpte_v_and_r_for_4k_64k_16m() {
    let qemu = sizes(&QEMU_DEFAULT);
    let p9 = sizes(&POWER9);

    // 4K, 256M segment: no LARGE, no segment-size bit; R is the page number only.
    let ea = LINEAR + 0x1234_5000;
    let vsid = 0xea_1bdf_50f0;
    let vpn = hpt_vpn(ea, vsid, Ssize::S256M);
    let v = hpte_encode_v(vpn, Psize::P4K, Psize::P4K, Ssize::S256M, &qemu);
    assert_eq!(v | HPTE_V_BOLTED | HPTE_V_VALID, 0xea1bdf50f0211);
    assert_eq!(v, ((vpn >> 11) << 7));
    assert_eq!(v & HPTE_V_LARGE, 0);
    assert_eq!(
        hpte_encode_r(0x1234_5fff, Psize::P4K, Psize::P4K, &qemu),
        Some(0x1234_5000)
    );
    // Bits above the RPN field are not the entry's.
    assert_eq!(
        hpte_encode_r(0xf000_0000_1234_5000, Psize::P4K, Psize::P4K, &qemu),
        Some(0x1234_5000)
    );
    // A 4K page needs no encoding, even with an empty table of sizes.
    assert_eq!(
        hpte_encode_r(0x5000, Psize::P4K, Psize::P4K, &sizes(&[])),
        Some(0x5000)
    );

    // 64K in a 64K segment: LARGE, penc 1 -> LP 0x1000, the low 16 bits of pa cleared.
    let vpn = hpt_vpn(LINEAR, 0xea_1b20_0017, Ssize::S256M);
    let v = hpte_encode_v(vpn, Psize::P64K, Psize::P64K, Ssize::S256M, &qemu);
    assert_eq!(v | HPTE_V_BOLTED | HPTE_V_VALID, 0xea1b200017015);
    assert_eq!(
        hpte_encode_r(0x7fff_ffff, Psize::P64K, Psize::P64K, &qemu),
        Some(0x7fff_1000)
    );
    assert_eq!(
        hpte_encode_r(0x1_0000, Psize::P64K, Psize::P64K, &qemu),
        Some(0x1_1000)
    );
    let vpn = hpt_vpn(LINEAR + 0x100_0000_0000, 0xf6102f0, Ssize::S1T);
    assert_eq!(
        hpte_encode_v(vpn, Psize::P64K, Psize::P64K, Ssize::S1T, &qemu) | 0x11,
        0x400f6102f0000015
    );

    // 16M in a 16M segment: avpnm 1 clears the lowest AVPN bit (V bit 7); penc 0.
    let vpn = 0xa_bcde_f800; // (vpn >> 11) is odd
    let v16 = hpte_encode_v(vpn, Psize::P16M, Psize::P16M, Ssize::S256M, &p9);
    assert_eq!(v16, 0xabcdef00 | HPTE_V_LARGE);
    let v64 = hpte_encode_v(vpn, Psize::P64K, Psize::P64K, Ssize::S256M, &p9);
    assert_eq!(v64, 0xabcdef80 | HPTE_V_LARGE);
    // A real EA with bit 23 set (16M pages are aligned, so this only shows the mask).
    let ea = LINEAR + 0x180_0000;
    let vsid = kernel_vsid(ea, Ssize::S1T).unwrap();
    let vpn = hpt_vpn(ea, vsid, Ssize::S1T);
    let v = hpte_encode_v(vpn, Psize::P16M, Psize::P16M, Ssize::S1T, &p9) | 0x11;
    assert_eq!(v, 0x400ea1b217000115);
    assert_eq!(v, ref_v(ea, Ssize::S1T, Psize::P16M));
    assert_eq!(
        hpte_encode_r(0x7eff_ffff, Psize::P16M, Psize::P16M, &p9),
        Some(0x7e00_0000)
    );
    // 16M pages in 4K and 64K segments use those segments' encodings (0x38, 8), and
    // the base size's avpnm (0).
    assert_eq!(
        hpte_encode_r(0x7e00_0000, Psize::P4K, Psize::P16M, &p9),
        Some(0x7e03_8000)
    );
    assert_eq!(
        hpte_encode_r(0x7e00_0000, Psize::P64K, Psize::P16M, &p9),
        Some(0x7e00_8000)
    );
    assert_eq!(
        hpte_encode_r(0x7e00_0000, Psize::P4K, Psize::P64K, &p9),
        Some(0x7e00_7000)
    );
    assert_eq!(
        hpte_encode_v(vpn, Psize::P64K, Psize::P16M, Ssize::S256M, &p9),
        ((vpn >> 11) << 7) | HPTE_V_LARGE
    );
    // Pairs not offered have no encoding.
    assert_eq!(
        hpte_encode_r(0x7e00_0000, Psize::P16M, Psize::P16M, &qemu),
        None
    );
    assert_eq!(
        hpte_encode_r(0x7e00_0000, Psize::P64K, Psize::P16M, &qemu),
        None
    );
    assert_eq!(hpte_encode_r(0, Psize::P16M, Psize::P64K, &p9), None);
    assert_eq!(hpte_encode_r(0, Psize::P1M, Psize::P1M, &p9), None);
}

#[test]
fn hpte_v_sweep_matches_the_reference() {
    let p9 = sizes(&POWER9);
    let mut r = rng(19);
    for _ in 0..5000 {
        let x = r();
        let ea = ((0xc + (x >> 62)) << 60) | (r() & ((1 << 49) - 1));
        for ssize in [Ssize::S256M, Ssize::S1T] {
            for psize in [Psize::P4K, Psize::P64K, Psize::P16M] {
                let ea = ea & !(psize.size() - 1);
                let vsid = kernel_vsid(ea, ssize).unwrap();
                let vpn = hpt_vpn(ea, vsid, ssize);
                let v = hpte_encode_v(vpn, psize, psize, ssize, &p9) | HPTE_V_BOLTED | 1;
                assert_eq!(v, ref_v(ea, ssize, psize), "0x{ea:x}");
                assert_eq!(hpte_encode_avpn(vpn, psize, ssize, &p9) >> 62, ssize.bits());
            }
        }
    }
}

#[test]
fn slb_words() {
    // 1T: ESID = the top 24 bits of the EA.
    let ea = LINEAR + 0x1234_5678;
    assert_eq!(slb_esid(ea, Ssize::S1T, 0), 0xc000_0000_0800_0000);
    assert_eq!(slb_esid(ea, Ssize::S1T, 5), 0xc000_0000_0800_0005);
    assert_eq!(
        slb_esid(LINEAR + 0x1ab_cdef_0123, Ssize::S1T, 1),
        0xc000_0100_0800_0001
    );
    // 256M: the top 36 bits.
    assert_eq!(slb_esid(ea, Ssize::S256M, 0), 0xc000_0000_1800_0000);
    assert_eq!(slb_esid(ea, Ssize::S256M, 63), 0xc000_0000_1800_003f);
    assert_eq!(esid_mask(Ssize::S1T), 0xffff_ff00_0000_0000);
    assert_eq!(esid_mask(Ssize::S256M), 0xffff_ffff_f000_0000);

    // VSID words: 1T `vsid << 24 | 1 << 62 | Kp | sllp`; 256M `vsid << 12 | Kp | sllp`.
    assert_eq!(
        slb_vsid(0xea1b217, Ssize::S1T, 0x100),
        0x400e_a1b2_1700_0000 | 0x400 | 0x100
    );
    assert_eq!(
        slb_vsid(0xa86c85f, Ssize::S1T, 0x100),
        0x400a_86c8_5f00_0500
    );
    assert_eq!(
        slb_vsid(0xea_1b20_0017, Ssize::S256M, 0x110),
        0x000e_a1b2_0001_7510
    );
    assert_eq!(slb_vsid(0xf6102f0, Ssize::S1T, 0), 0x400f_6102_f000_0400);
    // The largest VSIDs fill the field exactly (bits 12..51 / 24..51).
    assert_eq!(
        slb_vsid((1 << 40) - 1, Ssize::S256M, 0),
        0x000f_ffff_ffff_f400
    );
    assert_eq!(
        slb_vsid((1 << 28) - 1, Ssize::S1T, 0),
        0x400f_ffff_ff00_0400
    );
}

#[test]
fn slb_words_for_the_linear_map_by_hand() {
    let p9 = sizes(&POWER9);
    let qemu = sizes(&QEMU_DEFAULT);
    let l16m = p9.def(Psize::P16M).sllp;
    let l64k = qemu.def(Psize::P64K).sllp;
    assert_eq!((l16m, l64k), (0x100, 0x110));
    for (ea, ssize, sllp, esid, vsid) in [
        (
            LINEAR,
            Ssize::S1T,
            l16m,
            0xc000_0000_0800_0000,
            0x400e_a1b2_1700_0500,
        ),
        (
            LINEAR + 0x1000_0000,
            Ssize::S256M,
            l64k,
            0xc000_0000_1800_0000,
            0x000e_a1bd_f50f_0510,
        ),
        (
            LINEAR + 0x100_0000_0000,
            Ssize::S1T,
            l16m,
            0xc000_0100_0800_0000,
            0x400f_6102_f000_0500,
        ),
    ] {
        let v = kernel_vsid(ea, ssize).unwrap();
        assert_eq!(slb_esid(ea, ssize, 0), esid, "0x{ea:x}");
        assert_eq!(slb_vsid(v, ssize, sllp), vsid, "0x{ea:x}");
    }
}
