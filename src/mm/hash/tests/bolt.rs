//! `bolt_mapping` (Linux's `htab_bolt_mapping` over the pSeries insert path) against the
//! model of QEMU's table.

use super::super::bolt::{
    BoltError, BoltOptions, Bolted, GroupPolicy, HashGeometry, InsertError, PHYS_LIMIT,
    bolt_mapping, hpte_insert,
};
use super::super::model::HptModel;
use super::super::papr::{HStatus, HashPageTable, Hpte};
use super::*;
use std::string::ToString;
use std::vec::Vec;

const PFT: u32 = 0x18;
const MASK: u64 = 0x1ffff;

fn geo(cells: &[u32]) -> HashGeometry {
    HashGeometry {
        sizes: sizes(cells),
        hash_mask: MASK,
    }
}

/// A 2^0x18-byte table offering `geo`'s sizes, with RAM `[0, ram)`.
fn table(geo: &HashGeometry, ram: u64) -> HptModel {
    HptModel::new(PFT, &geo.sizes.segments, &[(0, ram)])
}

fn rw() -> BoltOptions {
    BoltOptions {
        rflags: PROT_KERNEL_RW,
        ..BoltOptions::default()
    }
}

/// Run `bolt_mapping`, collecting what `each` saw.
#[allow(clippy::too_many_arguments)]
fn bolt(
    hv: &mut HptModel,
    geo: &HashGeometry,
    start: u64,
    end: u64,
    pa: u64,
    psize: Psize,
    ssize: Ssize,
    opts: &BoltOptions,
) -> (Result<u64, BoltError>, Vec<Bolted>) {
    let mut seen = Vec::new();
    let r = bolt_mapping(hv, geo, start, end, pa, psize, ssize, opts, &mut |b| {
        seen.push(*b)
    });
    (r, seen)
}

/// The primary group of a page, from the reference's formulas.
fn ref_group(ea: u64, ssize: Ssize, psize: Psize) -> u64 {
    (ref_hash(ea, ref_vsid(ea, ssize), ssize, psize.shift()) & MASK) * 8
}

/// Check every reported entry against the reference and against the table: found at
/// its group + slot with the expected V (ignoring the hypervisor's bits 0x60) and R.
fn check_entries(hv: &mut HptModel, seen: &[Bolted], rflags: impl Fn(&Bolted) -> u64) {
    for b in seen {
        let v = ref_v(b.ea, b.ssize, b.psize);
        let penc = match b.psize {
            Psize::P4K => 0,
            Psize::P64K => 0x1000,
            Psize::P16M => 0,
            p => panic!("{p:?}"),
        };
        let r = b.pa | penc | rflags(b);
        assert_eq!(b.vsid, ref_vsid(b.ea, b.ssize), "{b}");
        assert!(!b.secondary, "{b}");
        assert_eq!(b.hpteg, ref_group(b.ea, b.ssize, b.psize), "{b}");
        assert!(b.slot < 8);
        assert_eq!(b.ptex(), b.hpteg + b.slot);
        assert_eq!(b.hpte, Hpte { v, r }, "{b}");
        let e = hv.h_read(b.ptex()).unwrap();
        assert_eq!(e.v & !HPTE_V_HYPERVISOR_BITS, v, "{b}");
        assert_eq!(e.v & HPTE_V_HYPERVISOR_BITS, 0x40, "{b}");
        assert_eq!(e.r, r, "{b}");
    }
}

#[test]
fn linear_2g_with_16m_pages_and_1t_segments() {
    let geo = geo(&POWER9);
    let mut hv = table(&geo, 2 * G);
    let (r, seen) = bolt(
        &mut hv,
        &geo,
        LINEAR,
        LINEAR + 2 * G,
        0,
        Psize::P16M,
        Ssize::S1T,
        &rw(),
    );
    assert_eq!(r, Ok(128));
    assert_eq!(seen.len(), 128);
    for (i, b) in seen.iter().enumerate() {
        let off = i as u64 * 16 * M;
        assert_eq!((b.ea, b.pa), (LINEAR + off, off));
        assert_eq!((b.psize, b.ssize), (Psize::P16M, Ssize::S1T));
        // One 1T segment: one VSID, and 128 different groups (the page number is
        // XORed into the hash), so every entry is alone in slot 0.
        assert_eq!(b.vsid, 0xea1b217);
        assert_eq!(b.slot, 0);
    }
    check_entries(&mut hv, &seen, |_| PROT_KERNEL_RW);
    assert_eq!(hv.valid(), 128);
    assert_eq!(hv.stats.enters, 128);
    // By hand: the first page and the one at 256M (hash 0x6420a1b207).
    assert_eq!(
        seen[0].to_string(),
        "bolt ea=0xc000000000000000 pa=0x0000000000000000 psize=16M ssize=1T \
         vsid=0xea1b217 hpteg=0xd90b8 slot=0"
    );
    assert_eq!(seen[16].hpteg, 0xd9038);
    assert_eq!(seen[0].hpte.v, 0x400ea1b217000015);
    assert_eq!(seen[127].hpte.r, 0x7f00_0194);
}

#[test]
fn linear_512m_with_64k_pages() {
    let geo = geo(&QEMU_DEFAULT);
    for ssize in [Ssize::S1T, Ssize::S256M] {
        let mut hv = table(&geo, 2 * G);
        let (r, seen) = bolt(
            &mut hv,
            &geo,
            LINEAR,
            LINEAR + 512 * M,
            0,
            Psize::P64K,
            ssize,
            &rw(),
        );
        assert_eq!(r, Ok(8192), "{}", ssize.name());
        assert_eq!(seen.len(), 8192);
        for (i, b) in seen.iter().enumerate() {
            assert_eq!(b.ea, LINEAR + i as u64 * 64 * K);
            assert_eq!(b.pa, i as u64 * 64 * K);
        }
        check_entries(&mut hv, &seen, |_| PROT_KERNEL_RW);
        assert_eq!(hv.valid(), 8192);
        assert_eq!(hv.stats.enters, 8192);
        if ssize == Ssize::S256M {
            // Two segments, two VSIDs (hand-computed).
            assert_eq!(seen[4095].vsid, 0xea_1b20_0017);
            assert_eq!(seen[4096].vsid, 0xea_1bdf_50f0);
        }
    }
}

#[test]
fn vmalloc_4k_pages_across_a_256m_boundary() {
    let geo = geo(&QEMU_DEFAULT);
    let mut hv = table(&geo, 2 * G);
    let start = VMALLOC + 0x0fff_0000;
    let (r, seen) = bolt(
        &mut hv,
        &geo,
        start,
        start + M,
        0x30_0000,
        Psize::P4K,
        Ssize::S256M,
        &rw(),
    );
    assert_eq!(r, Ok(256));
    assert_eq!(seen[15].vsid, ref_vsid(VMALLOC, Ssize::S256M));
    assert_eq!(seen[16].vsid, ref_vsid(VMALLOC + 0x1000_0000, Ssize::S256M));
    assert_ne!(seen[15].vsid, seen[16].vsid);
    assert!(seen.iter().all(|b| b.hpte.v & HPTE_V_LARGE == 0));
    check_entries(&mut hv, &seen, |_| PROT_KERNEL_RW);
}

#[test]
fn text_pages_are_executable() {
    let geo = geo(&POWER9);
    let mut hv = table(&geo, 2 * G);
    // Text from 24M to 32M + 1: the 16M pages at 16M and 32M overlap it.
    let opts = BoltOptions {
        text: (LINEAR + 0x180_0000, LINEAR + 0x200_0001),
        ..rw()
    };
    let (r, seen) = bolt(
        &mut hv,
        &geo,
        LINEAR,
        LINEAR + 128 * M,
        0,
        Psize::P16M,
        Ssize::S1T,
        &opts,
    );
    assert_eq!(r, Ok(8));
    let exec: Vec<bool> = seen.iter().map(|b| b.hpte.r & HPTE_R_N == 0).collect();
    assert_eq!(exec, [false, true, true, false, false, false, false, false]);
    check_entries(&mut hv, &seen, |b| {
        if (1..=2).contains(&(b.pa >> 24)) {
            PROT_KERNEL_RWX
        } else {
            PROT_KERNEL_RW
        }
    });

    // 64K pages: [64K, 128K) is exactly page 1; its neighbours only touch it.
    let geo = self::geo(&QEMU_DEFAULT);
    let mut hv = table(&geo, 2 * G);
    let opts = BoltOptions {
        text: (LINEAR + 0x1_0000, LINEAR + 0x2_0000),
        ..rw()
    };
    let (r, seen) = bolt(
        &mut hv,
        &geo,
        LINEAR,
        LINEAR + 0x4_0000,
        0,
        Psize::P64K,
        Ssize::S1T,
        &opts,
    );
    assert_eq!(r, Ok(4));
    let exec: Vec<bool> = seen.iter().map(|b| b.hpte.r & HPTE_R_N == 0).collect();
    assert_eq!(exec, [false, true, false, false]);
    // An empty text range makes nothing executable.
    let mut hv = table(&geo, 2 * G);
    let (_, seen) = bolt(
        &mut hv,
        &geo,
        LINEAR,
        LINEAR + 0x4_0000,
        0,
        Psize::P64K,
        Ssize::S1T,
        &rw(),
    );
    assert!(seen.iter().all(|b| b.hpte.r & HPTE_R_N != 0));
}

#[test]
fn start_rounds_up_end_rounds_down() {
    let geo = geo(&POWER9);
    let mut hv = table(&geo, 2 * G);
    let (r, seen) = bolt(
        &mut hv,
        &geo,
        LINEAR + 0x1000,
        LINEAR + 0x200_0001,
        0x1000,
        Psize::P16M,
        Ssize::S1T,
        &rw(),
    );
    assert_eq!(r, Ok(1));
    assert_eq!((seen[0].ea, seen[0].pa), (LINEAR + 0x100_0000, 0x100_0000));
    assert_eq!(hv.valid(), 1);
    // A pa at another offset within a page than the ea: refused (-2), nothing mapped
    // (Linux rounds both up on their own and would map ea to the wrong pa).
    let (r, seen) = bolt(
        &mut hv,
        &geo,
        LINEAR + 0x200_0000,
        LINEAR + 0x300_0000,
        0x1000,
        Psize::P16M,
        Ssize::S1T,
        &rw(),
    );
    let e = r.unwrap_err();
    assert_eq!(
        e,
        BoltError::Misaligned {
            ea: LINEAR + 0x200_0000,
            pa: 0x1000
        }
    );
    assert_eq!(e.code(), -2);
    assert!(seen.is_empty());
    assert_eq!(hv.valid(), 1);
    // The same offset: both round up together.
    let (r, seen) = bolt(
        &mut hv,
        &geo,
        LINEAR + 0x200_1000,
        LINEAR + 0x400_0000,
        0x1000,
        Psize::P16M,
        Ssize::S1T,
        &rw(),
    );
    assert_eq!(r, Ok(1));
    assert_eq!((seen[0].ea, seen[0].pa), (LINEAR + 0x300_0000, 0x100_0000));
    // Ranges with no whole page: nothing, and no hypercall.
    let enters = hv.stats.enters;
    for (s, e) in [
        (LINEAR, LINEAR + 16 * M - 1),
        (LINEAR + 1, LINEAR + 16 * M),
        (LINEAR, LINEAR),
        (LINEAR + 32 * M, LINEAR),
    ] {
        let pa = s - LINEAR;
        let (r, seen) = bolt(&mut hv, &geo, s, e, pa, Psize::P16M, Ssize::S1T, &rw());
        assert_eq!(r, Ok(0), "[0x{s:x}, 0x{e:x})");
        assert!(seen.is_empty());
    }
    assert_eq!(hv.stats.enters, enters);
    // In user space the rounded-up start is the bad address.
    let (r, _) = bolt(
        &mut hv,
        &geo,
        0x1000,
        0x200_0001,
        0x1000,
        Psize::P16M,
        Ssize::S1T,
        &rw(),
    );
    assert_eq!(r, Err(BoltError::BadAddress { ea: 0x100_0000 }));
}

/// Bolt the test vector's page (EA 0xf000000000000000, 16M, 1T) to `pa`.
fn bolt_vector(
    hv: &mut HptModel,
    geo: &HashGeometry,
    pa: u64,
    policy: GroupPolicy,
) -> (Result<u64, BoltError>, Vec<Bolted>) {
    let opts = BoltOptions { policy, ..rw() };
    bolt(
        hv,
        geo,
        VMEMMAP,
        VMEMMAP + 16 * M,
        pa,
        Psize::P16M,
        Ssize::S1T,
        &opts,
    )
}

const VECTOR_V: u64 = 0x400a86c85f000015;

#[test]
fn the_2018_failure_primary_group_full() {
    let geo = geo(&POWER9);
    let mut hv = table(&geo, 2 * G);
    assert_eq!(GroupPolicy::default(), GroupPolicy::PrimaryOnly);
    for i in 0..8 {
        let pa = 0x7e00_0000 - i * 16 * M;
        let (r, seen) = bolt_vector(&mut hv, &geo, pa, GroupPolicy::default());
        assert_eq!(r, Ok(1), "insert {i}");
        let b = seen[0];
        assert_eq!((b.hpteg, b.slot, b.secondary), (0x642f8, i, false));
        assert_eq!(b.vsid, 0xa86c85f);
        assert_eq!(hv.entry(0x642f8 + i).unwrap().v & !0x60, VECTOR_V);
        assert_eq!(hv.entry(0x642f8 + i).unwrap().r, pa | 0x194);
        if i == 0 {
            assert_eq!(
                b.to_string(),
                "bolt ea=0xf000000000000000 pa=0x000000007e000000 psize=16M ssize=1T \
                 vsid=0xa86c85f hpteg=0x642f8 slot=0"
            );
        }
    }
    let (r, seen) = bolt_vector(&mut hv, &geo, 0x7000_0000, GroupPolicy::PrimaryOnly);
    let e = r.unwrap_err();
    assert_eq!(
        e,
        BoltError::Insert {
            ea: VMEMMAP,
            hpteg: 0x642f8,
            secondary: None,
            error: InsertError::GroupFull
        }
    );
    assert_eq!(e.code(), -1);
    assert_eq!(
        e.to_string(),
        "ea 0xf000000000000000: hash group 0x642f8 is full (H_PTEG_FULL)"
    );
    assert!(seen.is_empty());
    assert_eq!(hv.valid(), 8);
    // The secondary group was not touched.
    assert_eq!(hv.entry(0x9bd00), Some(Hpte::default()));
}

#[test]
fn secondary_fallback() {
    let geo = geo(&POWER9);
    let mut hv = table(&geo, 2 * G);
    let fb = GroupPolicy::SecondaryFallback;
    for i in 0..8 {
        let (r, seen) = bolt_vector(&mut hv, &geo, 0x7e00_0000 - i * 16 * M, fb);
        assert_eq!(r, Ok(1));
        assert_eq!(
            (seen[0].hpteg, seen[0].slot, seen[0].secondary),
            (0x642f8, i, false)
        );
        assert_eq!(seen[0].hpte.v & HPTE_V_SECONDARY, 0);
    }
    // The 9th: the secondary group (~hash & mask) * 8, V with HPTE_V_SECONDARY.
    for i in 0..8 {
        let pa = 0x6000_0000 + i * 16 * M;
        let (r, seen) = bolt_vector(&mut hv, &geo, pa, fb);
        assert_eq!(r, Ok(1), "secondary insert {i}");
        let b = seen[0];
        assert_eq!((b.hpteg, b.slot, b.secondary), (0x9bd00, i, true));
        assert_eq!(b.hpte.v, VECTOR_V | HPTE_V_SECONDARY);
        assert_eq!(
            b.to_string(),
            std::format!(
                "bolt ea=0xf000000000000000 pa=0x{pa:016x} psize=16M ssize=1T \
                 vsid=0xa86c85f hpteg=0x9bd00 slot={i}"
            )
        );
        let e = hv.entry(0x9bd00 + i).unwrap();
        assert_eq!(e.v & !0x60, VECTOR_V | HPTE_V_SECONDARY);
        assert_eq!(e.r, pa | 0x194);
    }
    // Both full: -1, both groups named.
    let (r, _) = bolt_vector(&mut hv, &geo, 0x5000_0000, fb);
    let e = r.unwrap_err();
    assert_eq!(
        e,
        BoltError::Insert {
            ea: VMEMMAP,
            hpteg: 0x642f8,
            secondary: Some(0x9bd00),
            error: InsertError::GroupFull
        }
    );
    assert_eq!(e.code(), -1);
    assert_eq!(
        e.to_string(),
        "ea 0xf000000000000000: hash groups 0x642f8 and 0x9bd00 are full (H_PTEG_FULL)"
    );
    assert_eq!(hv.valid(), 16);
}

#[test]
fn hypervisor_error_is_minus_2_and_earlier_pages_stay() {
    // The table's RAM ends at 1G: the page at 1G is "I/O" to QEMU, and M-only WIMG there
    // is H_PARAMETER.
    let geo = geo(&POWER9);
    let mut hv = table(&geo, G);
    let (r, seen) = bolt(
        &mut hv,
        &geo,
        LINEAR,
        LINEAR + 2 * G,
        0,
        Psize::P16M,
        Ssize::S1T,
        &rw(),
    );
    let ea = LINEAR + G;
    let group = ref_group(ea, Ssize::S1T, Psize::P16M);
    let e = r.unwrap_err();
    assert_eq!(
        e,
        BoltError::Insert {
            ea,
            hpteg: group,
            secondary: None,
            error: InsertError::Hypervisor(HStatus::Parameter)
        }
    );
    assert_eq!(e.code(), -2);
    assert_eq!(
        e.to_string(),
        std::format!(
            "ea 0xc000000040000000: H_ENTER into group 0x{group:x} failed: H_PARAMETER (-4)"
        )
    );
    // The 64 pages below 1G are mapped and were reported; the count is in the Err only.
    assert_eq!(seen.len(), 64);
    assert_eq!(hv.valid(), 64);
    assert_eq!(hv.stats.enters, 65);
    check_entries(&mut hv, &seen, |_| PROT_KERNEL_RW);
}

#[test]
fn bad_addresses() {
    let geo = geo(&POWER9);
    let mut hv = table(&geo, 2 * G);
    // User space.
    let (r, seen) = bolt(
        &mut hv,
        &geo,
        0x1000,
        0x3000,
        0,
        Psize::P4K,
        Ssize::S256M,
        &rw(),
    );
    let e = r.unwrap_err();
    assert_eq!(e, BoltError::BadAddress { ea: 0x1000 });
    assert_eq!(e.code(), -1);
    assert_eq!(e.to_string(), "no kernel VSID for ea 0x0000000000001000");
    assert!(seen.is_empty());
    assert_eq!(hv.stats.enters, 0);

    // Across the end of the linear context: the first page maps, the second has no VSID.
    let start = LINEAR + (1 << 49) - 16 * M;
    let (r, seen) = bolt(
        &mut hv,
        &geo,
        start,
        start + 32 * M,
        0,
        Psize::P16M,
        Ssize::S1T,
        &rw(),
    );
    assert_eq!(
        r,
        Err(BoltError::BadAddress {
            ea: 0xc002_0000_0000_0000
        })
    );
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].ea, 0xc001_ffff_ff00_0000);
    assert_eq!(hv.valid(), 1);
    check_entries(&mut hv, &seen, |_| PROT_KERNEL_RW);

    // A start or pa that cannot be rounded up.
    let top = 0xffff_ffff_ffff_f001;
    let (r, _) = bolt(
        &mut hv,
        &geo,
        top,
        u64::MAX,
        0xf001,
        Psize::P64K,
        Ssize::S1T,
        &rw(),
    );
    assert_eq!(r, Err(BoltError::BadAddress { ea: top }));
    let (r, _) = bolt(
        &mut hv,
        &geo,
        VMALLOC,
        VMALLOC + 64 * K,
        u64::MAX - 5,
        Psize::P64K,
        Ssize::S1T,
        &rw(),
    );
    assert_eq!(
        r,
        Err(BoltError::Misaligned {
            ea: VMALLOC,
            pa: u64::MAX - 5
        })
    );
    // A pa whose pages would wrap past 2^64, or reach beyond the HPTE's 2^60.
    for pa in [u64::MAX - 0xffff, 1 << 60, (1 << 60) - 64 * K] {
        let (r, seen) = bolt(
            &mut hv,
            &geo,
            VMALLOC,
            VMALLOC + 128 * K,
            pa,
            Psize::P64K,
            Ssize::S1T,
            &rw(),
        );
        let e = r.unwrap_err();
        assert!(matches!(e, BoltError::BadPhysical { .. }), "{pa:#x}: {e:?}");
        assert_eq!(e.code(), -2);
        assert!(seen.is_empty());
    }
    // The last two pages below 2^60 are fine.
    let (r, _) = bolt(
        &mut hv,
        &geo,
        VMALLOC,
        VMALLOC + 128 * K,
        (1 << 60) - 128 * K,
        Psize::P64K,
        Ssize::S1T,
        &rw(),
    );
    assert!(!matches!(r, Err(BoltError::BadPhysical { .. })), "{r:?}");
    assert!(hv.valid() >= 1);
}

#[test]
fn page_size_not_offered() {
    let geo16 = geo(&QEMU_DEFAULT);
    let mut hv = table(&geo16, 2 * G);
    let (r, seen) = bolt(
        &mut hv,
        &geo16,
        LINEAR,
        LINEAR + 2 * G,
        0,
        Psize::P16M,
        Ssize::S1T,
        &rw(),
    );
    let e = r.unwrap_err();
    assert_eq!(e, BoltError::PageSizeNotOffered { psize: Psize::P16M });
    assert_eq!(e.code(), -2);
    assert_eq!(
        e.to_string(),
        "16M pages are not offered as a base page size"
    );
    assert!(seen.is_empty());
    assert_eq!(hv.stats.enters, 0);
    // A base size without an encoding for itself, and 1M on POWER9.
    let g = geo(&[12, 0, 1, 12, 0, 16, 0x110, 0]);
    let r = bolt(
        &mut hv,
        &g,
        LINEAR,
        LINEAR + M,
        0,
        Psize::P64K,
        Ssize::S1T,
        &rw(),
    )
    .0;
    assert_eq!(r, Err(BoltError::PageSizeNotOffered { psize: Psize::P64K }));
    let g = geo(&POWER9);
    let r = bolt(
        &mut hv,
        &g,
        LINEAR,
        LINEAR + M,
        0,
        Psize::P1M,
        Ssize::S1T,
        &rw(),
    )
    .0;
    assert_eq!(r.unwrap_err().code(), -2);
    assert_eq!(hv.stats.enters, 0);
}

#[test]
fn hpte_insert_codes() {
    assert_eq!(InsertError::GroupFull.code(), -1);
    for st in [HStatus::Parameter, HStatus::Hardware, HStatus::Other(-99)] {
        assert_eq!(InsertError::Hypervisor(st).code(), -2);
    }
    let geo = geo(&POWER9);
    let mut hv = table(&geo, 2 * G);
    let vsid = 0xa86c85f;
    let vpn = hpt_vpn(VMEMMAP, vsid, Ssize::S1T);
    let ins = |hv: &mut HptModel, group, rflags| {
        hpte_insert(
            hv,
            &geo,
            group,
            vpn,
            0x7e00_0000,
            rflags,
            HPTE_V_BOLTED,
            Psize::P16M,
            Ssize::S1T,
        )
    };
    let (slot, hpte) = ins(&mut hv, 0x642f8, PROT_KERNEL_RW).unwrap();
    assert_eq!(slot, 0);
    assert_eq!(
        hpte,
        Hpte {
            v: VECTOR_V,
            r: 0x7e00_0194
        }
    );
    // A group given with slot bits: the model uses the group, the slot comes back.
    assert_eq!(ins(&mut hv, 0x642f8 + 3, PROT_KERNEL_RW).unwrap().0, 1);
    // WIMG I on RAM: H_PARAMETER, -2.
    assert_eq!(
        ins(&mut hv, 0x642f8, PROT_KERNEL_RW | HPTE_R_I),
        Err(InsertError::Hypervisor(HStatus::Parameter))
    );
    // Bad group index.
    assert_eq!(
        ins(&mut hv, 1 << 20, PROT_KERNEL_RW),
        Err(InsertError::Hypervisor(HStatus::Parameter))
    );
    for _ in 2..8 {
        ins(&mut hv, 0x642f8, PROT_KERNEL_RW).unwrap();
    }
    assert_eq!(
        ins(&mut hv, 0x642f8, PROT_KERNEL_RW),
        Err(InsertError::GroupFull)
    );
    // A size pair with no encoding fails before any hypercall.
    let enters = hv.stats.enters;
    let qemu = self::geo(&QEMU_DEFAULT);
    let r = hpte_insert(
        &mut hv,
        &qemu,
        0,
        vpn,
        0,
        PROT_KERNEL_RW,
        0,
        Psize::P16M,
        Ssize::S1T,
    );
    assert_eq!(r, Err(InsertError::Hypervisor(HStatus::Parameter)));
    assert_eq!(hv.stats.enters, enters);
}

#[test]
fn through_a_trait_object() {
    let geo = geo(&POWER9);
    let mut model = table(&geo, 2 * G);
    let hv: &mut dyn HashPageTable = &mut model;
    let mut n = 0;
    let r = bolt_mapping(
        hv,
        &geo,
        LINEAR,
        LINEAR + 64 * M,
        0,
        Psize::P16M,
        Ssize::S1T,
        &rw(),
        &mut |_| n += 1,
    );
    assert_eq!(r, Ok(4));
    assert_eq!(n, 4);
    assert_eq!(model.valid(), 4);
}

#[test]
fn misaligned_in_detail() {
    let geo = geo(&POWER9);
    let mut hv = table(&geo, 2 * G);
    // ea and pa at 4K-aligned but different offsets within a 64K and a 16M page: only
    // 4K pages can map one to the other.
    let (ea, pa) = (LINEAR + 0x1000, 0x2000);
    for psize in [Psize::P64K, Psize::P16M] {
        let (r, seen) = bolt(&mut hv, &geo, ea, ea + G, pa, psize, Ssize::S1T, &rw());
        let e = r.unwrap_err();
        assert_eq!(e, BoltError::Misaligned { ea, pa }, "{psize:?}");
        assert_eq!(e.code(), -2);
        assert_eq!(
            e.to_string(),
            "ea 0xc000000000001000 and pa 0x0000000000002000 are at different offsets \
             within a page"
        );
        assert!(seen.is_empty());
    }
    assert_eq!((hv.stats.enters, hv.valid()), (0, 0));
    let (r, seen) = bolt(
        &mut hv,
        &geo,
        ea,
        ea + 0x2000,
        pa,
        Psize::P4K,
        Ssize::S256M,
        &rw(),
    );
    assert_eq!(r, Ok(2));
    assert_eq!((seen[1].ea, seen[1].pa), (ea + 0x1000, pa + 0x1000));
    // An offset below 4K: refused for every size, even when no whole page is in range.
    for psize in [Psize::P4K, Psize::P64K, Psize::P16M] {
        let (r, _) = bolt(
            &mut hv,
            &geo,
            LINEAR + 0x800,
            LINEAR + 0x900,
            0,
            psize,
            Ssize::S1T,
            &rw(),
        );
        assert_eq!(
            r,
            Err(BoltError::Misaligned {
                ea: LINEAR + 0x800,
                pa: 0
            })
        );
    }
    // A size not offered is reported first.
    let (r, _) = bolt(&mut hv, &geo, ea, ea + G, pa, Psize::P1M, Ssize::S1T, &rw());
    assert_eq!(r, Err(BoltError::PageSizeNotOffered { psize: Psize::P1M }));
    assert_eq!(hv.stats.enters, 2);
}

#[test]
fn bad_physical_in_detail() {
    let geo = geo(&QEMU_DEFAULT);
    // RAM up to 2^60, so the last pages below it are accepted by the model too.
    let mut hv = HptModel::new(PFT, &geo.sizes.segments, &[(0, PHYS_LIMIT)]);
    assert_eq!(PHYS_LIMIT, 1 << 60);
    let go = |hv: &mut HptModel, start: u64, end: u64, pa: u64| {
        bolt(hv, &geo, start, end, pa, Psize::P64K, Ssize::S1T, &rw())
    };
    // Two pages from 2^60 - 64K: the second reaches past 2^60.
    let (r, seen) = go(&mut hv, VMALLOC, VMALLOC + 128 * K, PHYS_LIMIT - 64 * K);
    let e = r.unwrap_err();
    assert_eq!(
        e,
        BoltError::BadPhysical {
            pa: PHYS_LIMIT - 64 * K,
            len: 128 * K
        }
    );
    assert_eq!(e.code(), -2);
    assert_eq!(
        e.to_string(),
        "pa 0x0fffffffffff0000 + 0x20000 is beyond what an HPTE can map (2^60)"
    );
    assert!(seen.is_empty());
    assert_eq!((hv.stats.enters, hv.valid()), (0, 0));
    // Rounding the start up wraps the pa: the pa as given is reported, with the
    // length of whole pages.
    let pa = 0xffff_ffff_ffff_0001;
    let (r, seen) = go(&mut hv, VMALLOC + 1, VMALLOC + 0x3_0000, pa);
    assert_eq!(r, Err(BoltError::BadPhysical { pa, len: 128 * K }));
    assert!(seen.is_empty());
    // The pages wrap past 2^64.
    let (r, _) = go(&mut hv, VMALLOC, VMALLOC + 128 * K, u64::MAX - 0xffff);
    assert_eq!(
        r,
        Err(BoltError::BadPhysical {
            pa: u64::MAX - 0xffff,
            len: 128 * K
        })
    );
    assert_eq!(hv.stats.enters, 0);
    // Ending exactly at 2^60 is fine: both pages are mapped.
    let (r, seen) = go(&mut hv, VMALLOC, VMALLOC + 128 * K, PHYS_LIMIT - 128 * K);
    assert_eq!(r, Ok(2));
    assert_eq!(seen[1].pa, PHYS_LIMIT - 64 * K);
    assert_eq!(
        seen[1].hpte.r,
        (PHYS_LIMIT - 64 * K) | 0x1000 | PROT_KERNEL_RW
    );
    check_entries(&mut hv, &seen, |_| PROT_KERNEL_RW);
    // The start rounded up, the end within 2^60: fine as well.
    let (r, seen) = go(
        &mut hv,
        VMALLOC + 0x40_0001,
        VMALLOC + 0x42_0000,
        PHYS_LIMIT - 0x2_ffff,
    );
    assert_eq!(r, Ok(1));
    assert_eq!(seen[0].pa, PHYS_LIMIT - 0x2_0000);
}
