//! The model of the hypervisor's table against QEMU's rules (hw/ppc/spapr_softmmu.c
//! h_enter / h_remove / h_read; target/ppc/mmu-hash64.c for the page-size decoding).

use super::super::model::{HPTE_V_HV_DIRTY, HptModel, HptStats};
use super::super::papr::{H_ANDCOND, H_AVPN, H_EXACT, HStatus, HashPageTable, Hpte};
use super::*;

/// 2^18 bytes: 16384 entries, 2048 groups. RAM is the first 2G.
fn model(cells: &[u32]) -> HptModel {
    HptModel::new(18, &sizes(cells).segments, &[(0, 2 * G)])
}

/// A valid 4K entry for RAM page `pa` (any V will do: the model checks no AVPN).
fn e4k(tag: u64, pa: u64) -> Hpte {
    Hpte {
        v: (tag << 7) | HPTE_V_BOLTED | HPTE_V_VALID,
        r: pa | PROT_KERNEL_RW,
    }
}

/// A valid large entry with R's LP field as given.
fn large(tag: u64, r: u64) -> Hpte {
    Hpte {
        v: (tag << 7) | HPTE_V_LARGE | HPTE_V_VALID,
        r,
    }
}

#[test]
fn geometry() {
    let m = model(&QEMU_DEFAULT);
    assert_eq!(m.len(), 16384);
    assert!(!m.is_empty());
    assert_eq!(m.valid(), 0);
    assert_eq!(m.entry(0), Some(Hpte::default()));
    assert_eq!(m.entry(16383), Some(Hpte::default()));
    assert_eq!(m.entry(16384), None);
    let one_group = HptModel::new(7, &[], &[]);
    assert_eq!(one_group.len(), 8);
    assert_eq!(HptModel::new(0x18, &[], &[]).len(), 1 << 20);
}

#[test]
fn first_free_slot_then_pteg_full() {
    let mut m = model(&QEMU_DEFAULT);
    for s in 0..8 {
        assert_eq!(m.h_enter(0, 8, e4k(s, 0x1000 * s)), Ok(8 + s), "slot {s}");
    }
    assert_eq!(m.h_enter(0, 8, e4k(9, 0x9000)), Err(HStatus::PtegFull));
    // Any index in the group means the group: still full.
    assert_eq!(m.h_enter(0, 13, e4k(9, 0x9000)), Err(HStatus::PtegFull));
    assert_eq!(m.valid(), 8);
    // The neighbouring groups are untouched.
    assert_eq!(m.entry(7), Some(Hpte::default()));
    assert_eq!(m.entry(16), Some(Hpte::default()));
    // A hole is refilled first.
    m.h_remove(0, 11, 0).unwrap();
    assert_eq!(m.h_enter(0, 15, e4k(10, 0xa000)), Ok(11));
    assert_eq!(m.h_enter(0, 8, e4k(11, 0xb000)), Err(HStatus::PtegFull));
}

#[test]
fn the_slot_bits_of_ptex_are_ignored_without_h_exact() {
    let mut m = model(&QEMU_DEFAULT);
    assert_eq!(m.h_enter(0, 0x105, e4k(1, 0x1000)), Ok(0x100));
    assert_eq!(m.h_enter(0, 0x107, e4k(2, 0x2000)), Ok(0x101));
}

#[test]
fn no_duplicate_check() {
    let mut m = model(&QEMU_DEFAULT);
    let e = e4k(0x1234, 0x5000);
    for s in 0..8 {
        assert_eq!(m.h_enter(0, 0x40, e), Ok(0x40 + s));
    }
    assert_eq!(m.h_enter(0, 0x40, e), Err(HStatus::PtegFull));
    for s in 0..8 {
        assert_eq!(m.entry(0x40 + s).unwrap().r, e.r);
    }
}

#[test]
fn h_exact() {
    let mut m = model(&QEMU_DEFAULT);
    // Exactly the slot asked for, even with lower slots free.
    assert_eq!(m.h_enter(H_EXACT, 0x8 + 5, e4k(1, 0x1000)), Ok(0xd));
    assert_eq!(m.entry(0x8).unwrap().v & HPTE_V_VALID, 0);
    // Taken: H_PTEG_FULL, even with other slots free.
    assert_eq!(
        m.h_enter(H_EXACT, 0xd, e4k(2, 0x2000)),
        Err(HStatus::PtegFull)
    );
    assert_eq!(m.entry(0xd).unwrap().r, 0x1000 | PROT_KERNEL_RW);
    // Without H_EXACT the first free slot is used.
    assert_eq!(m.h_enter(0, 0xd, e4k(3, 0x3000)), Ok(0x8));
    assert_eq!(m.h_enter(H_EXACT, 0xf, e4k(4, 0x4000)), Ok(0xf));
    assert_eq!(m.h_enter(H_EXACT, 0x0, e4k(5, 0x5000)), Ok(0x0));
}

#[test]
fn bad_ptex_is_h_parameter() {
    let mut m = model(&QEMU_DEFAULT);
    let n = m.len() as u64;
    assert_eq!(m.h_enter(0, n - 1, e4k(1, 0x1000)), Ok(n - 8));
    assert_eq!(m.h_enter(H_EXACT, n - 1, e4k(1, 0x1000)), Ok(n - 1));
    for ptex in [n, n + 7, n * 2, u64::MAX] {
        assert_eq!(
            m.h_enter(0, ptex, e4k(1, 0x1000)),
            Err(HStatus::Parameter),
            "0x{ptex:x}"
        );
        assert_eq!(m.h_remove(0, ptex, 0), Err(HStatus::Parameter));
        assert_eq!(m.h_read(ptex), Err(HStatus::Parameter));
    }
    assert_eq!(m.valid(), 2);
}

#[test]
fn wimg_for_ram() {
    let mut m = model(&QEMU_DEFAULT);
    let r = |flags: u64| Hpte {
        v: HPTE_V_VALID,
        r: 0x4000_0000 | HPTE_R_R | HPTE_R_C | flags,
    };
    assert_eq!(m.h_enter(0, 0, r(HPTE_R_M)), Ok(0));
    assert_eq!(m.h_enter(0, 0, r(HPTE_R_M | HPTE_R_N | 0x3)), Ok(1));
    for flags in [
        0,
        HPTE_R_I,
        HPTE_R_G,
        HPTE_R_W,
        HPTE_R_M | HPTE_R_I,
        HPTE_R_M | HPTE_R_G,
        HPTE_R_M | HPTE_R_W,
        HPTE_R_I | HPTE_R_G,
        HPTE_R_WIMG,
    ] {
        assert_eq!(
            m.h_enter(0, 0, r(flags)),
            Err(HStatus::Parameter),
            "WIMG 0x{flags:x}"
        );
    }
    assert_eq!(m.valid(), 2);
    // The last RAM page and the first beyond: RAM ends at 2G.
    assert_eq!(
        m.h_enter(0, 8, e4k(0, 2 * G - 0x1000)),
        Ok(8),
        "last RAM page"
    );
    assert_eq!(
        m.h_enter(0, 8, e4k(0, 2 * G)),
        Err(HStatus::Parameter),
        "M-only beyond RAM"
    );
}

#[test]
fn wimg_for_io() {
    let mut m = model(&QEMU_DEFAULT);
    let io = |flags: u64| Hpte {
        v: HPTE_V_VALID,
        r: 0x2_0000_0000 | flags,
    };
    for flags in [HPTE_R_I, HPTE_R_I | HPTE_R_M, HPTE_R_I | HPTE_R_G] {
        assert!(m.h_enter(0, 0, io(flags)).is_ok(), "WIMG 0x{flags:x}");
    }
    for flags in [
        0,
        HPTE_R_M,
        HPTE_R_G,
        HPTE_R_W,
        HPTE_R_W | HPTE_R_I,
        HPTE_R_W | HPTE_R_I | HPTE_R_M,
        HPTE_R_M | HPTE_R_G,
    ] {
        assert_eq!(
            m.h_enter(0, 0, io(flags)),
            Err(HStatus::Parameter),
            "WIMG 0x{flags:x}"
        );
    }
    // With no RAM at all, every address is I/O.
    let mut m = HptModel::new(18, &sizes(&QEMU_DEFAULT).segments, &[]);
    assert_eq!(m.h_enter(0, 0, e4k(0, 0)), Err(HStatus::Parameter));
}

#[test]
fn page_size_decoding() {
    let qemu = model(&QEMU_DEFAULT);
    let p9 = model(&POWER9);
    // No L bit: 4K, whatever R says.
    assert_eq!(qemu.page_shift(0, 0xffff_f000), Some(12));
    // L: R's LP field against the offered encodings, in device-tree order.
    assert_eq!(qemu.page_shift(HPTE_V_LARGE, 0x1000), Some(16));
    assert_eq!(qemu.page_shift(HPTE_V_LARGE, 0x1234_1000), Some(16));
    assert_eq!(qemu.page_shift(HPTE_V_LARGE, 0), None);
    assert_eq!(qemu.page_shift(HPTE_V_LARGE, 0x7000), None);
    assert_eq!(p9.page_shift(HPTE_V_LARGE, 0x7000), Some(16)); // 64K in a 4K segment
    assert_eq!(p9.page_shift(HPTE_V_LARGE, 0x1000), Some(16));
    assert_eq!(p9.page_shift(HPTE_V_LARGE, 0x3_8000), Some(24)); // 16M in 4K
    assert_eq!(p9.page_shift(HPTE_V_LARGE, 0x8000), Some(24)); // 16M in 64K
    assert_eq!(p9.page_shift(HPTE_V_LARGE, 0x7e00_0000), Some(24)); // 16M in 16M
    assert_eq!(p9.page_shift(HPTE_V_LARGE, 0x1_0000), None);
    assert_eq!(p9.page_shift(HPTE_V_LARGE, 0x2000), None);
}

#[test]
fn page_size_not_offered_is_h_parameter() {
    // A 16M entry (L, LP 0) when only 4K and 64K are offered.
    let mut m = model(&QEMU_DEFAULT);
    let e = large(1, 0x7e00_0000 | PROT_KERNEL_RW);
    assert_eq!(m.h_enter(0, 0, e), Err(HStatus::Parameter));
    assert_eq!(m.valid(), 0);
    let mut m = model(&POWER9);
    assert_eq!(m.h_enter(0, 0, e), Ok(0));
    // A 64K encoding in a table offering 4K only.
    let mut m = model(&[12, 0, 1, 12, 0]);
    assert_eq!(
        m.h_enter(0, 0, large(1, 0x1_1000 | PROT_KERNEL_RW)),
        Err(HStatus::Parameter)
    );
}

#[test]
fn a_16m_page_not_16m_aligned() {
    let mut m = model(&POWER9);
    // pa 0x1001000: R's bits 12..23 are 0x001, which the 64K segment's 64K encoding
    // (LP 0x1) matches first: QEMU takes it for a 64K page at 0x1000000, and accepts it.
    let e = large(1, 0x100_1000 | PROT_KERNEL_RW);
    assert_eq!(m.page_shift(e.v, e.r), Some(16));
    assert_eq!(m.h_enter(0, 0, e), Ok(0));
    // pa 0x1010000: bits 12..23 are 0x010, no encoding: H_PARAMETER.
    let e = large(2, 0x101_0000 | PROT_KERNEL_RW);
    assert_eq!(m.page_shift(e.v, e.r), None);
    assert_eq!(m.h_enter(0, 0, e), Err(HStatus::Parameter));
    // Linux's encoding never produces either: it clears the low bits of a 16M pa.
    let sz = sizes(&POWER9);
    assert_eq!(
        hpte_encode_r(0x101_0000, Psize::P16M, Psize::P16M, &sz),
        Some(0x100_0000)
    );
}

#[test]
fn the_ram_check_uses_the_decoded_page_base() {
    // A 16M page whose base is the last 16M of RAM is RAM; the next one is not.
    let mut m = model(&POWER9);
    let e = |pa| large(1, pa | PROT_KERNEL_RW);
    assert_eq!(m.h_enter(0, 0, e(2 * G - 16 * M)), Ok(0));
    assert_eq!(m.h_enter(0, 0, e(2 * G)), Err(HStatus::Parameter));
    // The same address with I (and no M) is a valid I/O mapping.
    assert_eq!(
        m.h_enter(0, 0, large(1, (2 * G) | HPTE_R_I | HPTE_R_G)),
        Ok(1)
    );
}

#[test]
fn hypervisor_bits_and_h_read() {
    let mut m = model(&QEMU_DEFAULT);
    let e = Hpte {
        v: 0x4000_0000_1234_5000 | 0x60 | HPTE_V_BOLTED | HPTE_V_VALID,
        r: 0x5000 | PROT_KERNEL_RW,
    };
    let ptex = m.h_enter(0, 0x800, e).unwrap();
    let read = m.h_read(ptex).unwrap();
    assert_eq!(read.v, (e.v & !0x20) | 0x40);
    assert_eq!(read.v & HPTE_V_HYPERVISOR_BITS, HPTE_V_HV_DIRTY);
    assert_eq!(read.r, e.r);
    // Without the bits: V | 0x40.
    let e = e4k(5, 0x6000);
    let ptex = m.h_enter(0, 0x800, e).unwrap();
    assert_eq!(m.h_read(ptex).unwrap(), Hpte { v: e.v | 0x40, ..e });
    // Never written: all zero.
    assert_eq!(m.h_read(0x10).unwrap(), Hpte::default());
}

#[test]
fn h_remove() {
    let mut m = model(&QEMU_DEFAULT);
    let e = e4k(0x2345, 0x7000);
    let ptex = m.h_enter(0, 0x20, e).unwrap();
    let stored = m.entry(ptex).unwrap();
    assert_eq!(m.valid(), 1);
    assert_eq!(m.h_remove(0, ptex, 0), Ok(stored));
    assert_eq!(m.valid(), 0);
    // QEMU leaves V = its dirty mark, R = 0.
    assert_eq!(m.h_read(ptex).unwrap(), Hpte { v: 0x40, r: 0 });
    assert_eq!(m.h_remove(0, ptex, 0), Err(HStatus::NotFound));
    // Never valid.
    assert_eq!(m.h_remove(0, 0x30, 0), Err(HStatus::NotFound));
    assert_eq!(m.h_remove(H_AVPN, 0x30, 0), Err(HStatus::NotFound));
}

#[test]
fn h_remove_with_h_avpn_and_h_andcond() {
    let mut m = model(&QEMU_DEFAULT);
    let e = e4k(0x2345, 0x7000);
    let ptex = m.h_enter(0, 0x20, e).unwrap();
    let avpn = e.v & !0x7f;
    // A different AVPN: not found, and the entry stays.
    assert_eq!(
        m.h_remove(H_AVPN, ptex, avpn ^ 0x80),
        Err(HStatus::NotFound)
    );
    // The low 7 bits of the given AVPN are compared too (V's are masked off).
    assert_eq!(m.h_remove(H_AVPN, ptex, avpn | 1), Err(HStatus::NotFound));
    assert_eq!(m.valid(), 1);
    // H_ANDCOND: refused when V & avpn != 0.
    assert_eq!(
        m.h_remove(H_ANDCOND, ptex, HPTE_V_BOLTED),
        Err(HStatus::NotFound)
    );
    assert_eq!(m.valid(), 1);
    let stored = m.entry(ptex).unwrap();
    assert_eq!(m.h_remove(H_ANDCOND, ptex, HPTE_V_SECONDARY), Ok(stored));
    let ptex = m.h_enter(0, 0x20, e).unwrap();
    let stored = m.entry(ptex).unwrap();
    assert_eq!(m.h_remove(H_AVPN, ptex, avpn), Ok(stored));
    assert_eq!(m.valid(), 0);
}

#[test]
fn stats_count_every_call() {
    let mut m = model(&QEMU_DEFAULT);
    assert_eq!(m.stats, HptStats::default());
    for s in 0..9 {
        let _ = m.h_enter(0, 0, e4k(s, 0x1000));
    }
    let _ = m.h_enter(0, u64::MAX, e4k(0, 0));
    let _ = m.h_enter(0, 0, Hpte { v: 1, r: 0 }); // WIMG 0 on RAM
    for p in 0..3 {
        let _ = m.h_read(p);
    }
    let _ = m.h_remove(0, 0, 0);
    let _ = m.h_remove(0, 0, 0); // not found, still counted
    assert_eq!(
        m.stats,
        HptStats {
            enters: 11,
            removes: 2,
            reads: 3
        }
    );
}

#[test]
fn works_through_the_trait_object() {
    let mut m = model(&QEMU_DEFAULT);
    let hv: &mut dyn HashPageTable = &mut m;
    let ptex = hv.h_enter(0, 0x18, e4k(1, 0x1000)).unwrap();
    assert_eq!(hv.h_read(ptex).unwrap().r, 0x1000 | PROT_KERNEL_RW);
    assert!(hv.h_remove(0, ptex, 0).is_ok());
}

#[test]
fn an_empty_size_ends_qemu_s_tables() {
    // QEMU's size tables end at the first empty entry (page_shift 0): a device tree
    // made from them never has one, but the model stops there too rather than taking
    // shift 0 as a match for any LP field (mask 0).
    let segs = |cells: &[u32]| HptModel::new(18, &sizes(cells).segments, &[(0, 2 * G)]);
    let m = segs(&[12, 0, 1, 12, 0, 16, 0x110, 2, 0, 0, 16, 1]);
    assert_eq!(m.page_shift(HPTE_V_LARGE, 0x1000), None);
    assert_eq!(m.page_shift(HPTE_V_LARGE, 0x7e00_0000), None);
    assert_eq!(m.page_shift(0, 0x1000), Some(12));
    // A segment size of shift 0 ends the list of segment sizes.
    let m = segs(&[12, 0, 1, 12, 0, 0, 0, 1, 16, 7, 16, 0x110, 1, 16, 1]);
    assert_eq!(m.page_shift(HPTE_V_LARGE, 0x1000), None);
    assert_eq!(m.page_shift(HPTE_V_LARGE, 0x7000), None);
    let mut m = m;
    assert_eq!(
        m.h_enter(0, 0, large(1, 0x1_1000 | PROT_KERNEL_RW)),
        Err(HStatus::Parameter)
    );
}
