//! The SLB's bookkeeping (`mm::hash::slb`): the bolted entries, the words of each
//! region's segments, the round-robin replacement of on-demand slots and the
//! "segment not loading" report.

use super::super::slb::{
    MAX_REPEATS, MIN_FREE_SLOTS, SLB_SIZE_MAX, Slb, SlbConfig, SlbEntry, SlbError, SlbRegion,
};
use super::*;
use std::collections::BTreeSet;
use std::string::ToString;
use std::vec::Vec;

/// Each region with its own base page size and limit: linear 16M pages over 2G,
/// vmalloc 64K over the whole context (2^49), io 4K over 1G, vmemmap 64K over 16G.
const REGIONS: [SlbRegion; 4] = [
    SlbRegion {
        sllp: 0x100,
        limit: 2 * G,
    },
    SlbRegion {
        sllp: 0x110,
        limit: 1 << 49,
    },
    SlbRegion { sllp: 0, limit: G },
    SlbRegion {
        sllp: 0x110,
        limit: 16 * G,
    },
];

fn cfg(ssize: Ssize, slb_size: u32) -> SlbConfig {
    SlbConfig {
        ssize,
        regions: REGIONS,
        slb_size,
    }
}

/// An SLB of `slb_size` entries with the linear and vmemmap segments bolted.
fn slb(ssize: Ssize, slb_size: u32) -> Slb {
    Slb::new(cfg(ssize, slb_size), &[LINEAR, VMEMMAP])
        .unwrap()
        .0
}

/// The reference's words: VSID word = (VSID << 12 for 256M, << 24 for 1T) | B << 62 |
/// Kp 0x400 | L||LP; ESID word = (ea & segment mask) | V 0x08000000 (no slot).
fn ref_words(ea: u64, ssize: Ssize, sllp: u64) -> (u64, u64) {
    let (shift, b) = match ssize {
        Ssize::S256M => (12, 0),
        Ssize::S1T => (24, 1u64 << 62),
    };
    let seg = seg_bits(ssize);
    let vsid_word = (ref_vsid(ea, ssize) << shift) | b | 0x400 | sllp;
    let esid_word = ((ea >> seg) << seg) | 0x0800_0000;
    (vsid_word, esid_word)
}

fn slot(e: &SlbEntry) -> u64 {
    e.esid_word & 0xfff
}

/// Distinct vmalloc segments: the i-th one's base.
fn vmalloc_segment(ssize: Ssize, i: u64) -> u64 {
    VMALLOC + (i << seg_bits(ssize))
}

#[test]
fn constants() {
    assert_eq!((SLB_SIZE_MAX, MIN_FREE_SLOTS, MAX_REPEATS), (64, 3, 8));
}

#[test]
fn bolted_entries_in_slots_0_and_1() {
    for ssize in [Ssize::S1T, Ssize::S256M] {
        let (slb, entries) = Slb::new(cfg(ssize, 32), &[LINEAR, VMEMMAP]).unwrap();
        assert_eq!(entries.len(), 2);
        let (lv, le) = ref_words(LINEAR, ssize, 0x100);
        let (vv, ve) = ref_words(VMEMMAP, ssize, 0x110);
        assert_eq!(
            entries[0],
            SlbEntry {
                vsid_word: lv,
                esid_word: le
            },
            "{}",
            ssize.name()
        );
        assert_eq!(
            entries[1],
            SlbEntry {
                vsid_word: vv,
                esid_word: ve | 1
            },
            "{}",
            ssize.name()
        );
        // The same as hpte.rs's encoders with kernel_vsid.
        for (i, (ea, sllp)) in [(LINEAR, 0x100), (VMEMMAP, 0x110)].into_iter().enumerate() {
            let vsid = kernel_vsid(ea, ssize).unwrap();
            assert_eq!(entries[i].vsid_word, slb_vsid(vsid, ssize, sllp));
            assert_eq!(entries[i].esid_word, slb_esid(ea, ssize, i as u64));
        }
        assert_eq!((slb.size(), slb.bolted(), slb.loads()), (32, 2, 0));
        assert_eq!(slb.config(), &cfg(ssize, 32));
    }
    // By hand (1T): VSIDs 0xea1b217 (linear) and 0xa86c85f (vmemmap).
    let (_, entries) = Slb::new(cfg(Ssize::S1T, 32), &[LINEAR, VMEMMAP]).unwrap();
    assert_eq!(entries[0].vsid_word, 0x400e_a1b2_1700_0500);
    assert_eq!(entries[0].esid_word, 0xc000_0000_0800_0000);
    assert_eq!(entries[1].vsid_word, 0x400a_86c8_5f00_0510);
    assert_eq!(entries[1].esid_word, 0xf000_0000_0800_0001);
    // 256M: the linear mapping's first segment, VSID 0xea_1b20_0017.
    let (_, entries) = Slb::new(cfg(Ssize::S256M, 32), &[LINEAR]).unwrap();
    assert_eq!(entries[0].vsid_word, 0x000e_a1b2_0001_7500);
    assert_eq!(entries[0].esid_word, 0xc000_0000_0800_0000);
}

#[test]
fn bolted_ea_inside_a_segment_gives_the_segment() {
    // A bolted EA need not be a segment's base: the entry is its segment's.
    let ea = LINEAR + 0x1234_5678;
    for ssize in [Ssize::S1T, Ssize::S256M] {
        let (_, entries) = Slb::new(cfg(ssize, 32), &[ea]).unwrap();
        let (v, e) = ref_words(ea, ssize, 0x100);
        assert_eq!((entries[0].vsid_word, entries[0].esid_word), (v, e));
    }
    let (_, e) = Slb::new(cfg(Ssize::S256M, 32), &[ea]).unwrap();
    assert_eq!(e[0].esid_word, 0xc000_0000_1800_0000);
}

#[test]
fn too_few_entries() {
    let bolted = [LINEAR, VMEMMAP];
    for ssize in [Ssize::S1T, Ssize::S256M] {
        // bolted + MIN_FREE_SLOTS = 5 is the least.
        for slb_size in 0..5 {
            let e = Slb::new(cfg(ssize, slb_size), &bolted).unwrap_err();
            assert_eq!(
                e,
                SlbError::TooFewEntries {
                    slb_size,
                    bolted: 2
                }
            );
        }
        let (s, entries) = Slb::new(cfg(ssize, 5), &bolted).unwrap();
        assert_eq!((s.size(), s.bolted(), entries.len()), (5, 2, 2));
    }
    assert_eq!(
        Slb::new(cfg(Ssize::S1T, 4), &bolted)
            .unwrap_err()
            .to_string(),
        "4 SLB entries cannot hold 2 bolted ones and 3 for segments loaded on demand"
    );
    // Nothing bolted: 3 entries are enough.
    assert!(Slb::new(cfg(Ssize::S1T, 3), &[]).is_ok());
    assert_eq!(
        Slb::new(cfg(Ssize::S1T, 2), &[]).unwrap_err(),
        SlbError::TooFewEntries {
            slb_size: 2,
            bolted: 0
        }
    );
    // The check counts the clamped size, and reports the CPU's.
    let many: Vec<u64> = (0..62).map(|i| vmalloc_segment(Ssize::S1T, i)).collect();
    assert_eq!(
        Slb::new(cfg(Ssize::S1T, 1000), &many).unwrap_err(),
        SlbError::TooFewEntries {
            slb_size: 1000,
            bolted: 62
        }
    );
    let (s, entries) = Slb::new(cfg(Ssize::S1T, 1000), &many[..61]).unwrap();
    assert_eq!((s.size(), s.bolted()), (64, 61));
    let slots: Vec<u64> = entries.iter().map(slot).collect();
    assert_eq!(slots, (0..61).collect::<Vec<u64>>());
}

#[test]
fn slb_size_is_clamped_to_64() {
    for (slb_size, size) in [
        (5, 5),
        (32, 32),
        (63, 63),
        (64, 64),
        (65, 64),
        (u32::MAX, 64),
    ] {
        let s = slb(Ssize::S1T, slb_size);
        assert_eq!(s.size(), size, "ibm,slb-size {slb_size}");
        assert_eq!(s.config().slb_size, slb_size);
    }
    // The on-demand slots end at 63 with 65 entries.
    let mut s = slb(Ssize::S1T, 65);
    let slots: Vec<u64> = (0..63)
        .map(|i| slot(&s.miss(vmalloc_segment(Ssize::S1T, i)).unwrap()))
        .collect();
    assert_eq!(slots[..62], (2..64).collect::<Vec<u64>>()[..]);
    assert_eq!(slots[62], 2);
}

#[test]
fn bolted_ea_not_in_a_kernel_segment() {
    for ea in [
        0,
        0x1000,
        0x0000_7fff_ffff_0000,
        0xbfff_ffff_ffff_ffff,
        // Beyond the linear region's limit (2G) and beyond the io region's (1G).
        LINEAR + 2 * G,
        IO + G,
        // Beyond a context's 2^49 bytes, although vmalloc's limit is 2^49 exactly.
        VMALLOC + (1 << 49),
    ] {
        for ssize in [Ssize::S1T, Ssize::S256M] {
            let e = Slb::new(cfg(ssize, 32), &[LINEAR, ea]).unwrap_err();
            assert_eq!(e, SlbError::NotKernel { ea }, "0x{ea:x}");
        }
    }
    assert_eq!(
        Slb::new(cfg(Ssize::S1T, 32), &[0x1000])
            .unwrap_err()
            .to_string(),
        "no kernel segment covers ea 0x0000000000001000"
    );
}

#[test]
fn words_per_region() {
    for ssize in [Ssize::S1T, Ssize::S256M] {
        let s = slb(ssize, 32);
        for (i, base) in [LINEAR, VMALLOC, IO, VMEMMAP].into_iter().enumerate() {
            let r = REGIONS[i];
            for off in [0, 0x1000, r.limit / 2, r.limit - 1] {
                let ea = base + off;
                assert_eq!(
                    s.words(ea),
                    Some(ref_words(ea, ssize, r.sllp)),
                    "0x{ea:x} {}",
                    ssize.name()
                );
            }
            assert_eq!(s.words(base + r.limit), None, "0x{base:x} + limit");
            assert_eq!(s.words(base + r.limit + 0x1000), None);
            assert_eq!(s.words(base | 0x0fff_ffff_ffff_ffff), None);
        }
        for ea in [0, 0x1000, 0x7fff_ffff_ffff_ffff, 0xbfff_ffff_ffff_ffff] {
            assert_eq!(s.words(ea), None, "0x{ea:x}");
        }
    }
    // A limit above 2^49 still stops at the context's end.
    let mut c = cfg(Ssize::S1T, 32);
    c.regions[0].limit = u64::MAX;
    let s = Slb::new(c, &[]).unwrap().0;
    assert!(s.words(LINEAR + (1 << 49) - 1).is_some());
    assert_eq!(s.words(LINEAR + (1 << 49)), None);
    // A limit of 0: nothing in the region.
    c.regions[2].limit = 0;
    let s = Slb::new(c, &[]).unwrap().0;
    assert_eq!(s.words(IO), None);
}

#[test]
fn miss_round_robin_over_the_free_slots() {
    for ssize in [Ssize::S1T, Ssize::S256M] {
        let mut s = slb(ssize, 32);
        let mut seen = BTreeSet::new();
        for i in 0..200u64 {
            let ea = vmalloc_segment(ssize, i) + 0x1_2000;
            let e = s.miss(ea).unwrap();
            let (v, es) = ref_words(ea, ssize, 0x110);
            assert_eq!(e.vsid_word, v);
            assert_eq!(e.esid_word & !0xfff, es);
            // Slots 2..31, in order, then again from 2: never a bolted one.
            assert_eq!(slot(&e), 2 + i % 30, "miss {i} {}", ssize.name());
            seen.insert(slot(&e));
            assert_eq!(s.loads(), i + 1);
        }
        assert_eq!(seen, (2..32).collect());
    }
    // Misses in every region, slots continuing across them.
    let mut s = slb(Ssize::S256M, 8);
    let eas = [
        LINEAR + G,
        VMALLOC,
        IO + 0x1000_0000,
        VMEMMAP + 15 * G,
        LINEAR,
        IO,
        VMALLOC + 0x1000_0000,
    ];
    let slots: Vec<u64> = eas.iter().map(|&ea| slot(&s.miss(ea).unwrap())).collect();
    assert_eq!(slots, [2, 3, 4, 5, 6, 7, 2]);
    for (i, &ea) in eas.iter().enumerate() {
        let r = REGIONS[((ea >> 60) - 0xc) as usize];
        assert_eq!(
            s.words(ea),
            Some(ref_words(ea, Ssize::S256M, r.sllp)),
            "{i}"
        );
    }
    // No bolted entry at all: the whole SLB turns.
    let (mut s, _) = Slb::new(cfg(Ssize::S1T, 3), &[]).unwrap();
    let slots: Vec<u64> = (0..7)
        .map(|i| slot(&s.miss(vmalloc_segment(Ssize::S1T, i)).unwrap()))
        .collect();
    assert_eq!(slots, [0, 1, 2, 0, 1, 2, 0]);
}

#[test]
fn miss_outside_the_kernel_segments() {
    for ssize in [Ssize::S1T, Ssize::S256M] {
        let mut s = slb(ssize, 32);
        for ea in [
            0,
            0x1000,
            0x0000_7fff_ffff_ffff,
            0xbfff_ffff_ffff_ffff,
            LINEAR + 2 * G,
            IO + G,
            VMEMMAP + 16 * G,
            VMALLOC + (1 << 49),
            u64::MAX,
        ] {
            assert_eq!(s.miss(ea), Err(SlbError::NotKernel { ea }), "0x{ea:x}");
        }
        assert_eq!(s.loads(), 0);
        // The last byte below each limit loads.
        for ea in [LINEAR + 2 * G - 1, IO + G - 1, VMEMMAP + 16 * G - 1] {
            assert!(s.miss(ea).is_ok(), "0x{ea:x}");
        }
        assert_eq!(s.loads(), 3);
        // The refusals took no slot.
        assert_eq!(slot(&s.miss(VMALLOC).unwrap()), 5);
    }
}

#[test]
fn a_segment_that_does_not_stay_loaded() {
    for ssize in [Ssize::S1T, Ssize::S256M] {
        let mut s = slb(ssize, 32);
        let seg = vmalloc_segment(ssize, 3);
        // MAX_REPEATS loads of the same segment (at different offsets in it) ...
        for i in 0..MAX_REPEATS as u64 {
            let ea = seg + i * 0x1_0000 + 8;
            assert!(s.miss(ea).is_ok(), "miss {i}");
        }
        assert_eq!(s.loads(), MAX_REPEATS as u64);
        // ... then it is reported, and no slot is taken.
        let ea = seg + 0xfff_0000;
        let e = s.miss(ea).unwrap_err();
        assert_eq!(
            e,
            SlbError::NotLoading {
                ea,
                repeats: MAX_REPEATS
            }
        );
        assert_eq!(s.loads(), MAX_REPEATS as u64);
        assert_eq!(
            e.to_string(),
            std::format!(
                "the segment of ea 0x{ea:016x} missed 8 times in a row right after being loaded"
            )
        );
        // Still reported while it keeps missing.
        assert!(matches!(
            s.miss(seg),
            Err(SlbError::NotLoading { repeats: 9, .. })
        ));
        // Another segment in between starts the count again.
        let slot_other = slot(&s.miss(vmalloc_segment(ssize, 4)).unwrap());
        assert_eq!(slot_other, 2 + MAX_REPEATS as u64);
        for i in 0..MAX_REPEATS {
            assert!(s.miss(seg).is_ok(), "after another segment: miss {i}");
        }
        assert!(s.miss(seg).is_err());
    }
}

#[test]
fn a_different_segment_resets_the_count() {
    let mut s = slb(Ssize::S256M, 32);
    let a = VMALLOC;
    let b = VMALLOC + 0x1000_0000;
    // 7 misses of a, one of b, 8 of a: never 8 repeats in a row.
    for _ in 0..MAX_REPEATS - 1 {
        s.miss(a).unwrap();
    }
    s.miss(b).unwrap();
    for i in 0..MAX_REPEATS {
        assert!(s.miss(a + 0x100).is_ok(), "{i}");
    }
    assert_eq!(s.loads(), 2 * MAX_REPEATS as u64);
    // Alternating segments forever is not "not loading".
    let mut s = slb(Ssize::S256M, 32);
    for i in 0..100 {
        let ea = if i % 2 == 0 { a } else { b };
        assert!(s.miss(ea).is_ok(), "{i}");
    }
}

#[test]
fn segment_size_decides_what_is_the_same_segment() {
    // Two EAs in one 1T segment, in different 256M segments.
    let x = VMALLOC + 0x10_0000;
    let y = VMALLOC + 0x3_2000_0000;
    let s1t = slb(Ssize::S1T, 32);
    let s256 = slb(Ssize::S256M, 32);
    assert_eq!(s1t.words(x), s1t.words(y));
    assert_ne!(s256.words(x), s256.words(y));
    assert_eq!(s1t.words(x).unwrap().1, 0xd000_0000_0800_0000);
    assert_eq!(s256.words(x).unwrap().1, 0xd000_0000_0800_0000);
    assert_eq!(s256.words(y).unwrap().1, 0xd000_0003_2800_0000);
    // The VSIDs: one for both with 1T, the 256M ones differ (ESIDs 0 and 0x32).
    assert_eq!(
        s1t.words(y).unwrap().0 >> 24 & 0xfff_ffff,
        ref_vsid(y, Ssize::S1T)
    );
    assert_eq!(s256.words(y).unwrap().0 >> 12, ref_vsid(y, Ssize::S256M));
    assert_ne!(ref_vsid(x, Ssize::S256M), ref_vsid(y, Ssize::S256M));
    // A 1T boundary separates both.
    let z = VMALLOC + (1 << 40);
    assert_ne!(s1t.words(x), s1t.words(z));
    // For the repeat count, x and y are one segment with 1T segments, two with 256M.
    for (ssize, reported) in [(Ssize::S1T, true), (Ssize::S256M, false)] {
        let mut s = slb(ssize, 32);
        for i in 0..MAX_REPEATS {
            let ea = if i % 2 == 0 { x } else { y };
            s.miss(ea).unwrap();
        }
        let r = s.miss(x);
        assert_eq!(r.is_err(), reported, "{}: {r:?}", ssize.name());
    }
}
