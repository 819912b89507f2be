//! `HptModel::translate`: QEMU's translation (target/ppc/mmu-hash64.c: `slb_lookup`,
//! `ppc_hash64_htab_lookup`, `ppc_hash64_pteg_search`, `hpte_page_shift`, the real
//! address of `ppc_hash64_xlate`) through the SLB entries `mm::hash::slb` computes and
//! what `bolt_mapping` inserted: the check that the kernel's arithmetic and QEMU's agree
//! end to end.

use super::super::bolt::{BoltOptions, Bolted, GroupPolicy, HashGeometry, bolt_mapping};
use super::super::model::HptModel;
use super::super::papr::{H_EXACT, HashPageTable, Hpte};
use super::super::slb::{Slb, SlbConfig, SlbEntry, SlbRegion};
use super::*;
use std::vec::Vec;

const PFT: u32 = 0x18;
const T: u64 = 1 << 40;

fn geo() -> HashGeometry {
    HashGeometry {
        sizes: sizes(&POWER9),
        hash_mask: (1 << (PFT - 7)) - 1,
    }
}

/// A 2^0x18-byte table offering POWER9's sizes, RAM [0, 8G).
fn table(geo: &HashGeometry) -> HptModel {
    HptModel::new(PFT, &geo.sizes.segments, &[(0, 8 * G)])
}

/// The SLB with every region's segments of `psize` base pages, up to the context's end.
fn slb(geo: &HashGeometry, ssize: Ssize, psize: Psize) -> Slb {
    let region = SlbRegion {
        sllp: geo.sizes.def(psize).sllp,
        limit: 1 << 49,
    };
    let cfg = SlbConfig {
        ssize,
        regions: [region; 4],
        slb_size: 32,
    };
    Slb::new(cfg, &[LINEAR, VMEMMAP]).unwrap().0
}

/// The SLB entries covering every EA in `eas` (one per segment), as the segment-miss
/// handler would load them (the slots are irrelevant to the lookup).
fn entries(slb: &mut Slb, eas: impl IntoIterator<Item = u64>) -> Vec<SlbEntry> {
    let mut out: Vec<SlbEntry> = Vec::new();
    for ea in eas {
        let (_, esid) = slb.words(ea).unwrap();
        if !out.iter().any(|e| e.esid_word & !0xfff == esid) {
            out.push(slb.miss(ea).unwrap());
        }
    }
    out
}

fn opts(policy: GroupPolicy) -> BoltOptions {
    BoltOptions {
        policy,
        rflags: PROT_KERNEL_RW,
        ..BoltOptions::default()
    }
}

#[allow(clippy::too_many_arguments)]
fn bolt_into(
    hv: &mut HptModel,
    geo: &HashGeometry,
    start: u64,
    len: u64,
    pa: u64,
    psize: Psize,
    ssize: Ssize,
    policy: GroupPolicy,
) -> Vec<Bolted> {
    let mut seen = Vec::new();
    let n = bolt_mapping(
        hv,
        geo,
        start,
        start + len,
        pa,
        psize,
        ssize,
        &opts(policy),
        &mut |b| seen.push(*b),
    )
    .unwrap();
    assert_eq!(n, len / psize.size());
    seen
}

/// Linear-mapping length per page size (the 4K case kept small: 16384 pages).
fn linear_len(psize: Psize) -> u64 {
    match psize {
        Psize::P4K => 64 * M,
        Psize::P64K => 512 * M,
        _ => 2 * G,
    }
}

#[test]
fn every_bolted_page_translates_to_its_pa() {
    let geo = geo();
    for ssize in [Ssize::S256M, Ssize::S1T] {
        for psize in [Psize::P4K, Psize::P64K, Psize::P16M] {
            let what = std::format!("{} segments, {} pages", ssize.name(), psize.name());
            let mut hv = table(&geo);
            let step = psize.size();
            let pr = GroupPolicy::PrimaryOnly;
            let mut bolted = bolt_into(
                &mut hv,
                &geo,
                LINEAR,
                linear_len(psize),
                0,
                psize,
                ssize,
                pr,
            );
            // Across a 1T boundary (and so many 256M ones), to pa 5G.
            bolted.extend(bolt_into(
                &mut hv,
                &geo,
                LINEAR + T - 32 * M,
                64 * M,
                5 * G,
                psize,
                ssize,
                pr,
            ));
            // The vmemmap at 7G.
            bolted.extend(bolt_into(
                &mut hv,
                &geo,
                VMEMMAP,
                32 * M,
                7 * G,
                psize,
                ssize,
                pr,
            ));
            assert_eq!(hv.valid(), bolted.len(), "{what}");
            let mut slb = slb(&geo, ssize, psize);
            let segs = entries(&mut slb, bolted.iter().map(|b| b.ea));
            for b in &bolted {
                assert_eq!(
                    hv.lookup(&segs, b.ea),
                    Some((b.ptex(), psize.shift())),
                    "{what}: {b}"
                );
                for off in [0, 8, step / 2 + 0x10, step - 1] {
                    assert_eq!(
                        hv.translate(&segs, b.ea + off),
                        Some(b.pa + off),
                        "{what}: {b} + 0x{off:x}"
                    );
                }
            }
            // Unmapped: just past each mapping, just before the one across 1T, in a
            // segment with no SLB entry, in user space; and with no SLB entry at all.
            for ea in [
                LINEAR + linear_len(psize),
                LINEAR + linear_len(psize) + step + 5,
                LINEAR + T - 32 * M - 1,
                LINEAR + T + 32 * M,
                VMEMMAP + 32 * M,
                VMALLOC,
                0x1000,
            ] {
                assert_eq!(hv.translate(&segs, ea), None, "{what}: 0x{ea:x}");
            }
            assert_eq!(hv.translate(&[], LINEAR), None);
            // The other segment size's entries do not translate (other ESID masks or
            // VSIDs, and the B field is compared).
            let other = match ssize {
                Ssize::S256M => Ssize::S1T,
                Ssize::S1T => Ssize::S256M,
            };
            let mut slb2 = self::slb(&geo, other, psize);
            let segs2 = entries(&mut slb2, [LINEAR, VMEMMAP]);
            assert_eq!(hv.translate(&segs2, LINEAR), None, "{what}");
            assert_eq!(hv.translate(&segs2, VMEMMAP + 8), None, "{what}");
        }
    }
}

#[test]
fn the_reference_vector_translates() {
    // 1T, 16M, the vector's EA 0xf000000000000000 -> pa 0x7e000000 at PTE index 0x642f8,
    // through the SLB entry computed by hand (VSID 0xa86c85f, L||LP 0x100).
    let geo = geo();
    let mut hv = table(&geo);
    let b = bolt_into(
        &mut hv,
        &geo,
        VMEMMAP,
        16 * M,
        0x7e00_0000,
        Psize::P16M,
        Ssize::S1T,
        GroupPolicy::PrimaryOnly,
    );
    assert_eq!(b[0].ptex(), 0x642f8);
    let e = SlbEntry {
        vsid_word: 0x400a_86c8_5f00_0500,
        esid_word: 0xf000_0000_0800_0001,
    };
    assert_eq!(hv.lookup(&[e], VMEMMAP), Some((0x642f8, 24)));
    assert_eq!(hv.translate(&[e], VMEMMAP + 0xab_cdef), Some(0x7eab_cdef));
    // The ESID word's slot bits are ignored; V and the ESID are not.
    let slot63 = SlbEntry {
        esid_word: e.esid_word | 63,
        ..e
    };
    assert_eq!(hv.translate(&[slot63], VMEMMAP), Some(0x7e00_0000));
    for bad in [
        SlbEntry {
            esid_word: e.esid_word & !0x0800_0000,
            ..e
        },
        // Reserved ESID bits (QEMU's slbmte refuses the entry).
        SlbEntry {
            esid_word: e.esid_word | 0x1000,
            ..e
        },
        // An L||LP no segment size has (16G's 0x120 is not offered here).
        SlbEntry {
            vsid_word: (e.vsid_word & !0x130) | 0x120,
            ..e
        },
        // B = 0b11.
        SlbEntry {
            vsid_word: e.vsid_word | (1 << 63),
            ..e
        },
    ] {
        assert_eq!(hv.translate(&[bad], VMEMMAP), None, "{bad:x?}");
        // An entry slbmte would refuse, or one for no segment, is no match: the good
        // entry after it is used.
        assert_eq!(hv.translate(&[bad, e], VMEMMAP), Some(0x7e00_0000));
    }
    // A valid entry for the same segment with another VSID: the first match is used
    // (as QEMU's slb_lookup does), and nothing is mapped through it.
    let other = SlbEntry {
        vsid_word: e.vsid_word ^ (1 << 24),
        ..e
    };
    assert_eq!(hv.translate(&[other], VMEMMAP), None);
    assert_eq!(hv.translate(&[other, e], VMEMMAP), None);
    assert_eq!(hv.translate(&[e, other], VMEMMAP), Some(0x7e00_0000));
    // The same VSID as a 256M segment: B differs, no match.
    let s256 = SlbEntry {
        vsid_word: e.vsid_word & !(1 << 62),
        ..e
    };
    assert_eq!(hv.translate(&[s256], VMEMMAP), None);
    // A 64K base-size entry for the segment: the 16M entry is not one of its pages.
    let k64 = SlbEntry {
        vsid_word: (e.vsid_word & !0x130) | 0x110,
        ..e
    };
    assert_eq!(hv.lookup(&[k64], VMEMMAP), None);
}

/// Fill the primary group of the 16M page at `ea` (1T) with 8 valid 4K entries that
/// translate nothing there (other AVPNs), through H_ENTER with H_EXACT.
fn fill_primary(hv: &mut HptModel, ea: u64) -> u64 {
    let vsid = ref_vsid(ea, Ssize::S1T);
    let group = (ref_hash(ea, vsid, Ssize::S1T, 24) & ((1 << (PFT - 7)) - 1)) * 8;
    for i in 0..8 {
        let junk = Hpte {
            v: ((0x1234 + i) << 7) | HPTE_V_VALID,
            r: (0x10_0000 + i * 0x1000) | PROT_KERNEL_RW,
        };
        assert_eq!(hv.h_enter(H_EXACT, group + i, junk), Ok(group + i));
    }
    group
}

#[test]
fn an_entry_in_the_secondary_group_is_found() {
    let geo = geo();
    let mut hv = table(&geo);
    let ea = VMEMMAP + 16 * M;
    let primary = fill_primary(&mut hv, ea);
    let mut s = slb(&geo, Ssize::S1T, Psize::P16M);
    let segs = entries(&mut s, [ea]);
    assert_eq!(hv.translate(&segs, ea), None);
    let b = bolt_into(
        &mut hv,
        &geo,
        ea,
        16 * M,
        0x4000_0000,
        Psize::P16M,
        Ssize::S1T,
        GroupPolicy::SecondaryFallback,
    );
    assert!(b[0].secondary);
    assert_eq!(b[0].hpteg, (!(primary / 8) & ((1 << (PFT - 7)) - 1)) * 8);
    assert_eq!(hv.lookup(&segs, ea), Some((b[0].ptex(), 24)));
    assert_eq!(hv.translate(&segs, ea + 0x12_3456), Some(0x4012_3456));
    // Neighbours in the same segment are not mapped.
    assert_eq!(hv.translate(&segs, ea - 1), None);
    assert_eq!(hv.translate(&segs, ea + 16 * M), None);

    // A whole range with the fallback: every page whose primary group is full goes to
    // its secondary group and is found there, the others in their primary group.
    let mut hv = table(&geo);
    let start = LINEAR + 256 * M;
    let fulls: Vec<u64> = (0..4).map(|i| start + i * 32 * M).collect();
    for &ea in &fulls {
        fill_primary(&mut hv, ea);
    }
    let b = bolt_into(
        &mut hv,
        &geo,
        start,
        256 * M,
        256 * M,
        Psize::P16M,
        Ssize::S1T,
        GroupPolicy::SecondaryFallback,
    );
    let mut s = slb(&geo, Ssize::S1T, Psize::P16M);
    let segs = entries(&mut s, [start]);
    for x in &b {
        assert_eq!(x.secondary, fulls.contains(&x.ea), "{x}");
        assert_eq!(hv.lookup(&segs, x.ea), Some((x.ptex(), 24)), "{x}");
        assert_eq!(hv.translate(&segs, x.ea + 0x77), Some(x.pa + 0x77), "{x}");
    }
}

#[test]
fn the_h_bit_must_match_the_group() {
    // The vector's V in the wrong group for its H bit is not a match.
    let geo = geo();
    let e = SlbEntry {
        vsid_word: 0x400a_86c8_5f00_0500,
        esid_word: 0xf000_0000_0800_0000,
    };
    let v = 0x400a86c85f000015;
    let r = 0x7e00_0194;
    let (primary, secondary) = (0x642f8, 0x9bd00);
    for (ptex, v, found) in [
        (primary, v, true),
        (primary + 7, v, true),
        (primary, v | HPTE_V_SECONDARY, false),
        (secondary, v | HPTE_V_SECONDARY, true),
        (secondary + 3, v | HPTE_V_SECONDARY, true),
        (secondary, v, false),
        // Invalid entries never match.
        (primary, v & !HPTE_V_VALID, false),
        // The L bit is not compared, but a 4K entry is not a page of a 16M segment.
        (primary, v & !HPTE_V_LARGE, false),
        // Another AVPN (va bit 24).
        (primary, v ^ (1 << 8), false),
        // The software and hypervisor bits are not compared.
        (primary, v & !HPTE_V_BOLTED, true),
    ] {
        let mut hv = table(&geo);
        hv.h_enter(H_EXACT, ptex, Hpte { v, r }).unwrap();
        let want = found.then_some(0x7e00_0100);
        assert_eq!(
            hv.translate(&[e], VMEMMAP + 0x100),
            want,
            "V 0x{v:x} at 0x{ptex:x}"
        );
    }
}

#[test]
fn the_page_size_comes_from_the_entry() {
    // A 16M page in a 64K segment (POWER9: LP 8): the hash uses the base (64K) page
    // number, the real address the 16M page's offset. One entry per 64K subpage, as
    // Linux's THP code inserts them; only the subpage with an entry translates.
    let geo = geo();
    let mut hv = table(&geo);
    let sizes = &geo.sizes;
    for ssize in [Ssize::S1T, Ssize::S256M] {
        let page = LINEAR + 48 * M;
        let ea = page + 5 * 64 * K;
        let vsid = kernel_vsid(ea, ssize).unwrap();
        let vpn = hpt_vpn(ea, vsid, ssize);
        let hash = hpt_hash(vpn, 16, ssize);
        let group = hpteg(hash, geo.hash_mask, false);
        let v = hpte_encode_v(vpn, Psize::P64K, Psize::P16M, ssize, sizes) | HPTE_V_VALID;
        let r =
            hpte_encode_r(0x3000_0000, Psize::P64K, Psize::P16M, sizes).unwrap() | PROT_KERNEL_RW;
        assert_eq!(r & 0xff000, 0x8000);
        let ptex = hv.h_enter(0, group, Hpte { v, r }).unwrap();
        let mut s = slb(&geo, ssize, Psize::P64K);
        let segs = entries(&mut s, [ea]);
        assert_eq!(hv.lookup(&segs, ea), Some((ptex, 24)));
        for off in [0, 0x1234, 64 * K - 1] {
            assert_eq!(
                hv.translate(&segs, ea + off),
                Some(0x3000_0000 + (ea + off - page)),
                "{} + 0x{off:x}",
                ssize.name()
            );
        }
        // Other 64K subpages of the same 16M page hash elsewhere: not mapped.
        assert_eq!(hv.translate(&segs, ea - 1), None);
        assert_eq!(hv.translate(&segs, ea + 64 * K), None);
        // A 16M-segment SLB entry does not find it (its hash uses the 16M page number).
        let mut s16 = slb(&geo, ssize, Psize::P16M);
        assert_eq!(hv.translate(&entries(&mut s16, [ea]), ea), None);
    }
}
