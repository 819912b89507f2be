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
