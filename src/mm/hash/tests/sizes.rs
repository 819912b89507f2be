//! `ibm,segment-page-sizes` and the page and segment size tables.

use super::*;
use alloc::string::String;
use std::string::ToString;
use std::vec::Vec;

fn lines(ps: &PageSizes) -> Vec<String> {
    ps.lines.iter().map(|l| l.to_string()).collect()
}

#[test]
fn parse_qemu_default() {
    let ps = sizes(&QEMU_DEFAULT);
    assert_eq!(
        lines(&ps),
        [
            "base_shift=12: shift=12, sllp=0x0000, avpnm=0x00000000, tlbiel=1, penc=0",
            "base_shift=16: shift=16, sllp=0x0110, avpnm=0x00000000, tlbiel=1, penc=1",
        ]
    );
    assert!(ps.has_base(Psize::P4K));
    assert!(ps.has_base(Psize::P64K));
    assert!(!ps.has_base(Psize::P1M));
    assert!(!ps.has_base(Psize::P16M));
    assert!(!ps.has_base(Psize::P16G));
    let d4 = ps.def(Psize::P4K);
    assert_eq!((d4.shift, d4.sllp, d4.avpnm, d4.tlbiel), (12, 0, 0, true));
    assert_eq!(d4.penc, [Some(0), None, None, None, None]);
    let d64 = ps.def(Psize::P64K);
    assert_eq!(
        (d64.shift, d64.sllp, d64.avpnm, d64.tlbiel),
        (16, 0x110, 0, true)
    );
    assert_eq!(d64.penc, [None, Some(1), None, None, None]);
    assert_eq!(ps.def(Psize::P16M).shift, 0);
    assert_eq!(ps.penc(Psize::P64K, Psize::P64K), Some(1));
    assert_eq!(ps.penc(Psize::P4K, Psize::P64K), None);
    assert_eq!(ps.penc(Psize::P16M, Psize::P16M), None);
    assert_eq!(
        ps.segments,
        [
            SegmentPageSize {
                base_shift: 12,
                slb_enc: 0,
                enc: std::vec![(12, 0)],
            },
            SegmentPageSize {
                base_shift: 16,
                slb_enc: 0x110,
                enc: std::vec![(16, 1)],
            },
        ]
    );
    assert!(ps.skipped.is_empty());
}

#[test]
fn parse_power9_with_16m() {
    let ps = sizes(&POWER9);
    assert_eq!(
        lines(&ps),
        [
            "base_shift=12: shift=12, sllp=0x0000, avpnm=0x00000000, tlbiel=1, penc=0",
            "base_shift=12: shift=16, sllp=0x0000, avpnm=0x00000000, tlbiel=1, penc=7",
            "base_shift=12: shift=24, sllp=0x0000, avpnm=0x00000000, tlbiel=1, penc=56",
            "base_shift=16: shift=16, sllp=0x0110, avpnm=0x00000000, tlbiel=1, penc=1",
            "base_shift=16: shift=24, sllp=0x0110, avpnm=0x00000000, tlbiel=1, penc=8",
            "base_shift=24: shift=24, sllp=0x0100, avpnm=0x00000001, tlbiel=0, penc=0",
        ]
    );
    let d16 = ps.def(Psize::P16M);
    assert_eq!(
        (d16.shift, d16.sllp, d16.avpnm, d16.tlbiel),
        (24, 0x100, 1, false)
    );
    assert_eq!(d16.penc, [None, None, None, Some(0), None]);
    assert_eq!(ps.penc(Psize::P4K, Psize::P16M), Some(0x38));
    assert_eq!(ps.penc(Psize::P64K, Psize::P16M), Some(8));
    assert_eq!(ps.segments.len(), 3);
    assert_eq!(ps.segments[0].enc, [(12, 0), (16, 7), (24, 0x38)]);
    assert!(ps.skipped.is_empty());
}

#[test]
fn page_size_line_format_is_linux_s() {
    let line = PageSizeLine {
        base_shift: 16,
        shift: 16,
        sllp: 0x110,
        avpnm: 0,
        tlbiel: true,
        penc: 1,
    };
    assert_eq!(
        line.to_string(),
        "base_shift=16: shift=16, sllp=0x0110, avpnm=0x00000000, tlbiel=1, penc=1"
    );
    let line = PageSizeLine {
        base_shift: 24,
        shift: 24,
        sllp: 0x100,
        avpnm: 1,
        tlbiel: false,
        penc: 0,
    };
    assert_eq!(
        line.to_string(),
        "base_shift=24: shift=24, sllp=0x0100, avpnm=0x00000001, tlbiel=0, penc=0"
    );
    // Linux prints penc with %d: an all-ones encoding is -1.
    let line = PageSizeLine {
        penc: u32::MAX,
        ..line
    };
    assert!(line.to_string().ends_with("penc=-1"), "{line}");
}

#[test]
fn parse_16g_and_1m_bases() {
    // 16G: avpnm = 2^(34-23) - 1; 1M: base_shift <= 23, avpnm 0. Neither gets tlbiel.
    let ps = sizes(&[20, 0x130, 1, 20, 2, 34, 0x120, 1, 34, 3]);
    let d1m = ps.def(Psize::P1M);
    assert_eq!(
        (d1m.shift, d1m.sllp, d1m.avpnm, d1m.tlbiel),
        (20, 0x130, 0, false)
    );
    let d16g = ps.def(Psize::P16G);
    assert_eq!(
        (d16g.shift, d16g.sllp, d16g.avpnm, d16g.tlbiel),
        (34, 0x120, 0x7ff, false)
    );
    assert_eq!(
        lines(&ps)[1],
        "base_shift=34: shift=34, sllp=0x0120, avpnm=0x000007ff, tlbiel=0, penc=3"
    );
}

#[test]
fn unknown_shifts_are_skipped_and_recorded() {
    // A base of 2^13 (unknown: skipped with its encodings), a 64K base with an unknown
    // actual size 2^21 between two known ones.
    let ps = sizes(&[
        13, 0x55, 2, 13, 0, 16, 9, //
        16, 0x110, 3, 16, 1, 21, 5, 24, 8, //
        12, 0, 1, 12, 0,
    ]);
    assert_eq!(ps.skipped, ["base_shift=13", "base_shift=16: shift=21"]);
    assert!(ps.has_base(Psize::P64K));
    assert!(ps.has_base(Psize::P4K));
    assert_eq!(ps.penc(Psize::P64K, Psize::P16M), Some(8));
    assert_eq!(ps.def(Psize::P64K).penc[Psize::P1M.index()], None);
    // The unknown base's encodings did not leak into any known size.
    assert_eq!(ps.penc(Psize::P4K, Psize::P64K), None);
    assert_eq!(
        lines(&ps),
        [
            "base_shift=16: shift=16, sllp=0x0110, avpnm=0x00000000, tlbiel=1, penc=1",
            "base_shift=16: shift=24, sllp=0x0110, avpnm=0x00000000, tlbiel=1, penc=8",
            "base_shift=12: shift=12, sllp=0x0000, avpnm=0x00000000, tlbiel=1, penc=0",
        ]
    );
    // The raw records keep everything, in order.
    assert_eq!(ps.segments.len(), 3);
    assert_eq!(ps.segments[0].base_shift, 13);
    assert_eq!(ps.segments[1].enc, [(16, 1), (21, 5), (24, 8)]);
}

#[test]
fn truncated_and_overlong_records_are_errors() {
    let err = |cells: &[u32]| PageSizes::parse(cells).unwrap_err();
    let sps = |cell, what| MmuDtError::SegmentPageSizes { cell, what };
    const HEADER: &str = "record header (base_shift, slb_enc, count) cut short";
    const COUNT: &str = "more page encodings announced than the property holds";
    assert_eq!(err(&[12]), sps(0, HEADER));
    assert_eq!(err(&[12, 0]), sps(0, HEADER));
    // A whole first record, then a cut header.
    assert_eq!(err(&[12, 0, 1, 12, 0, 16]), sps(5, HEADER));
    assert_eq!(err(&[12, 0, 1, 12, 0, 16, 0x110]), sps(5, HEADER));
    // Counts larger than what follows: the count's cell is named.
    assert_eq!(err(&[12, 0, 1]), sps(2, COUNT));
    assert_eq!(err(&[12, 0, 1, 12]), sps(2, COUNT));
    assert_eq!(err(&[12, 0, 2, 12, 0, 16]), sps(2, COUNT));
    assert_eq!(err(&[12, 0, 1, 12, 0, 16, 0x110, 2, 16, 1]), sps(7, COUNT));
    assert_eq!(err(&[12, 0, u32::MAX, 12, 0]), sps(2, COUNT));
    assert_eq!(err(&[12, 0, 0x8000_0000, 12, 0]), sps(2, COUNT));
    assert_eq!(
        err(&[12, 0, 2, 12, 0, 16]).to_string(),
        "ibm,segment-page-sizes: cell 2: more page encodings announced than the property holds"
    );
    // Every truncation of a valid list is an error or a shorter valid list, never a
    // panic; cutting inside a record is always an error.
    for n in 0..POWER9.len() {
        let r = PageSizes::parse(&POWER9[..n]);
        let record_ends = [0, 9, 16];
        assert_eq!(r.is_ok(), record_ends.contains(&n), "{n} cells: {r:?}");
    }
}

#[test]
fn empty_list_and_empty_records() {
    let ps = sizes(&[]);
    assert!(ps.lines.is_empty() && ps.segments.is_empty() && ps.skipped.is_empty());
    for p in Psize::ALL {
        assert!(!ps.has_base(p), "{p:?}");
    }
    // A base with no encodings is a base size, but no page can be placed in it.
    let ps = sizes(&[16, 0x110, 0]);
    assert!(ps.has_base(Psize::P64K));
    assert_eq!(ps.penc(Psize::P64K, Psize::P64K), None);
    assert!(ps.lines.is_empty());
    // Linux's defaults: 4K only.
    let d = PageSizes::defaults();
    assert_eq!(d, sizes(&[12, 0, 1, 12, 0]));
    assert!(d.has_base(Psize::P4K) && !d.has_base(Psize::P64K));
}

#[test]
fn psize_and_ssize_tables() {
    for p in Psize::ALL {
        assert_eq!(Psize::from_shift(p.shift()), Some(p));
        assert_eq!(p.size(), 1 << p.shift());
        assert_eq!(Psize::ALL[p.index()], p);
    }
    let names: Vec<_> = Psize::ALL.iter().map(|p| p.name()).collect();
    assert_eq!(names, ["4K", "64K", "1M", "16M", "16G"]);
    for shift in [0, 11, 13, 15, 17, 21, 23, 25, 30, 33, 35, 64, u32::MAX] {
        assert_eq!(Psize::from_shift(shift), None, "{shift}");
    }
    assert_eq!((Ssize::S256M.shift(), Ssize::S1T.shift()), (28, 40));
    assert_eq!((Ssize::S256M.bits(), Ssize::S1T.bits()), (0, 1));
    assert_eq!((Ssize::S256M.name(), Ssize::S1T.name()), ("256M", "1T"));
}

const SLB_ENC: &str = "slb_enc has bits outside the SLB entry's L||LP field (0x130)";

#[test]
fn slb_enc_outside_the_llp_field_is_an_error() {
    let sps = |cell| MmuDtError::SegmentPageSizes {
        cell,
        what: SLB_ENC,
    };
    assert_eq!(SLB_LLP_MASK, 0x130);
    // Every value inside L||LP is accepted as the sllp.
    for enc in [0, 0x10, 0x20, 0x30, 0x100, 0x110, 0x120, 0x130] {
        let ps = sizes(&[16, enc, 1, 16, 1]);
        assert_eq!(ps.def(Psize::P64K).sllp, enc as u64, "0x{enc:x}");
    }
    // Known bases with a bit outside: the slb_enc cell is named. The first record's
    // is cell 1, the second's (after a 9-cell record) cell 10, the third's cell 17.
    for bad in [
        0x1,
        0x8,
        0x40,
        0x80,
        0x200,
        0x400,
        0x800,
        0x1000,
        0x111,
        u32::MAX,
    ] {
        assert_eq!(
            PageSizes::parse(&[12, bad, 1, 12, 0]),
            Err(sps(1)),
            "0x{bad:x}"
        );
        let mut cells = POWER9;
        cells[10] = bad;
        assert_eq!(PageSizes::parse(&cells), Err(sps(10)), "0x{bad:x}");
        let mut cells = POWER9;
        cells[17] = bad;
        assert_eq!(PageSizes::parse(&cells), Err(sps(17)), "0x{bad:x}");
    }
    // 1M and 16G bases too.
    assert_eq!(PageSizes::parse(&[20, 0x400, 1, 20, 2]), Err(sps(1)));
    assert_eq!(
        PageSizes::parse(&[12, 0, 1, 12, 0, 34, 0x1120, 1, 34, 3]),
        Err(sps(6))
    );
    assert_eq!(
        PageSizes::parse(&[12, 0x400, 1, 12, 0])
            .unwrap_err()
            .to_string(),
        "ibm,segment-page-sizes: cell 1: slb_enc has bits outside the SLB entry's L||LP \
         field (0x130)"
    );
    // A bad slb_enc in a record with no encodings is still an error: the base is known.
    assert_eq!(PageSizes::parse(&[16, 0x111, 0]), Err(sps(1)));
    // A truncated record is reported as such, before its slb_enc is looked at.
    assert!(matches!(
        PageSizes::parse(&[16, 0x111, 2, 16, 1]),
        Err(MmuDtError::SegmentPageSizes { cell: 2, .. })
    ));
}

#[test]
fn slb_enc_of_an_unknown_base_is_not_checked() {
    // 2^13 and 2^40 bases are skipped whole, whatever their slb_enc.
    for bad in [0x1, 0x400, 0xffff, u32::MAX] {
        let ps = sizes(&[13, bad, 1, 13, 0, 12, 0, 1, 12, 0, 40, bad, 0]);
        assert_eq!(ps.skipped, ["base_shift=13", "base_shift=40"]);
        assert_eq!(ps.segments.len(), 3);
        assert_eq!(ps.segments[0].slb_enc, bad);
        assert!(ps.usable(Psize::P4K));
        assert_eq!(
            ps.lines.len(),
            1,
            "only the 4K record is reported: {:?}",
            ps.lines
        );
    }
}

#[test]
fn penc_above_0xff_is_not_offered() {
    // Linux's -1 (0xffffffff) as the 16M self-encoding: a base size without a usable
    // encoding for itself; the report line still shows it (penc=-1).
    let cells = [
        12,
        0,
        2,
        12,
        0,
        24,
        0x38, //
        16,
        0x110,
        1,
        16,
        1, //
        24,
        0x100,
        1,
        24,
        0xffff_ffff,
    ];
    let ps = sizes(&cells);
    assert!(ps.has_base(Psize::P16M));
    assert_eq!(ps.penc(Psize::P16M, Psize::P16M), None);
    assert!(!ps.usable(Psize::P16M));
    assert!(ps.usable(Psize::P4K) && ps.usable(Psize::P64K));
    // The other encodings of 16M pages are unaffected.
    assert_eq!(ps.penc(Psize::P4K, Psize::P16M), Some(0x38));
    assert_eq!(
        lines(&ps)[3],
        "base_shift=24: shift=24, sllp=0x0100, avpnm=0x00000001, tlbiel=0, penc=-1"
    );
    // The raw record keeps the value (what the hypervisor validates against).
    assert_eq!(ps.segments[2].enc, [(24, 0xffff_ffff)]);
    // The boundary: 0xff fits the LP field, 0x100 does not (printed as is).
    let ps = sizes(&[16, 0x110, 2, 16, 0xff, 24, 0x100]);
    assert_eq!(ps.penc(Psize::P64K, Psize::P64K), Some(0xff));
    assert_eq!(ps.penc(Psize::P64K, Psize::P16M), None);
    assert!(ps.usable(Psize::P64K));
    assert!(lines(&ps)[1].ends_with("penc=256"), "{:?}", lines(&ps));
    assert_eq!(PENC_MAX, 0xff);
    // The base size itself stays known (has_base) but unusable; hpte_encode_r refuses
    // the pair.
    let ps = sizes(&cells);
    assert_eq!(hpte_encode_r(0, Psize::P16M, Psize::P16M, &ps), None);
    assert_eq!(
        hpte_encode_r(0x100_0000, Psize::P4K, Psize::P16M, &ps),
        Some(0x100_0000 | (0x38 << 12))
    );
}
