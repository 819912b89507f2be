//! Memory discovery on QEMU-dumped blobs (tests/fixtures/dtb, see make.sh there) and on
//! synthetic ones for dynamic-reconfiguration memory and malformed input.
extern crate std;
use super::*;
use crate::fdt::Writer;
use std::string::ToString;

const G: u64 = 1 << 30;
const M: u64 = 1 << 20;

fn ranges(blob: &[u8]) -> Vec<(u64, u64, u32, bool)> {
    let fdt = Fdt::new(blob).unwrap();
    let map = discover(&fdt).unwrap();
    assert!(map.notes.is_empty(), "{:?}", map.notes);
    map.ranges
        .iter()
        .map(|r| (r.base, r.size, r.nid, r.hotplug))
        .collect()
}

macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!("../../../tests/fixtures/dtb/", $name, ".dtb"))
    };
}

#[test]
fn qemu_blobs() {
    assert_eq!(ranges(fixture!("pseries-2g")), [(0, 2 * G, 0, false)]);
    assert_eq!(ranges(fixture!("pseries-3g")), [(0, 3 * G, 0, false)]);
    assert_eq!(ranges(fixture!("pseries-4g")), [(0, 4 * G, 0, false)]);
    assert_eq!(ranges(fixture!("pseries-smp4")), [(0, 2 * G, 0, false)]);
    assert_eq!(
        ranges(fixture!("pseries-2g-maxmem")),
        [(0, 2 * G, 0, false)]
    );
    assert_eq!(
        ranges(fixture!("pseries-numa2")),
        [(0, G, 0, false), (G, 2 * G, 1, false)]
    );
    assert_eq!(
        ranges(fixture!("pseries-numa4")),
        [
            (0, 512 * M, 0, false),
            (512 * M, G, 1, false),
            (1536 * M, 1536 * M, 2, false),
            (3 * G, G, 3, false)
        ]
    );
    let fdt = Fdt::new(fixture!("pseries-numa4")).unwrap();
    assert_eq!(discover(&fdt).unwrap().numa_depth, Some(4));
}

/// A pseries-like tree: root cells, /rtas reference points, the given memory nodes
/// (base, size, nid) and, optionally, a DR node built by `dr`.
fn tree(mem: &[(u64, u64, u32)], dr: Option<&dyn Fn(&mut Writer)>) -> Vec<u8> {
    let mut w = Writer::new();
    w.begin("")
        .prop_u32s("#address-cells", &[2])
        .prop_u32s("#size-cells", &[2])
        .begin("rtas")
        .prop_u32s("ibm,associativity-reference-points", &[4, 3, 2, 1])
        .end();
    for &(base, size, nid) in mem {
        w.begin(&std::format!("memory@{base:x}"))
            .prop_str("device_type", "memory")
            .prop_u32s(
                "reg",
                &[
                    (base >> 32) as u32,
                    base as u32,
                    (size >> 32) as u32,
                    size as u32,
                ],
            )
            .prop_u32s("ibm,associativity", &[4, 0, 0, 0, nid])
            .end();
    }
    if let Some(dr) = dr {
        w.begin("ibm,dynamic-reconfiguration-memory")
            .prop_u32s("ibm,lmb-size", &[0, 0x1000_0000])
            .prop_u32s(
                "ibm,associativity-lookup-arrays",
                &[2, 4, 0, 0, 0, 0, 0, 0, 0, 1],
            );
        dr(&mut w);
        w.end();
    }
    w.end();
    w.finish().unwrap()
}

#[test]
fn dynamic_memory_v2_as_qemu_describes_a_cold_plugged_dimm() {
    // -m 2G,slots=4,maxmem=8G plus a 1G pc-dimm, after CAS (see platform notes):
    // {8 LMBs at 0, RESERVED|DRC_INVALID}, {4 at 2G, ASSIGNED|HOTREMOVABLE}, {20 at 3G, 0}.
    let v2: &dyn Fn(&mut Writer) = &|w| {
        w.prop_u32s(
            "ibm,dynamic-memory-v2",
            &[
                3,
                8,
                0,
                0,
                0x8000_0000,
                0,
                0xa0,
                4,
                0,
                0x8000_0000,
                0x8000_0008,
                1,
                0x108,
                20,
                0,
                0xc000_0000,
                0x8000_000c,
                1,
                0,
            ],
        );
    };
    let blob = tree(&[(0, 2 * G, 0)], Some(v2));
    let fdt = Fdt::new(&blob).unwrap();
    let map = discover(&fdt).unwrap();
    assert_eq!(
        map.ranges,
        [
            MemRange {
                base: 0,
                size: 2 * G,
                nid: 0,
                hotplug: false
            },
            MemRange {
                base: 2 * G,
                size: G,
                nid: 1,
                hotplug: true
            },
        ]
    );
    assert_eq!(map.total(), 3 * G);
    assert_eq!(map.lmb_size, Some(0x1000_0000));
    assert_eq!(map.lmbs_assigned, 4);
}

#[test]
fn dynamic_memory_v1_assigned_only() {
    // Four LMBs: assigned, assigned+reserved, unassigned, assigned (aa-index 1).
    let v1: &dyn Fn(&mut Writer) = &|w| {
        w.prop_u32s(
            "ibm,dynamic-memory",
            &[
                4, //
                0,
                0x8000_0000,
                1,
                0,
                0,
                0x8, //
                0,
                0x9000_0000,
                2,
                0,
                0,
                0x88, //
                0,
                0xa000_0000,
                3,
                0,
                0,
                0, //
                0,
                0xb000_0000,
                4,
                0,
                1,
                0x8,
            ],
        );
    };
    let blob = tree(&[(0, 2 * G, 0)], Some(v1));
    let map = discover(&Fdt::new(&blob).unwrap()).unwrap();
    assert_eq!(
        map.ranges,
        [
            MemRange {
                base: 0,
                size: 2 * G + 256 * M,
                nid: 0,
                hotplug: false
            },
            MemRange {
                base: 0xb000_0000,
                size: 256 * M,
                nid: 1,
                hotplug: false
            },
        ]
    );
    assert_eq!(map.lmbs_assigned, 2);
}

#[test]
fn dynamic_memory_claiming_more_than_it_holds_is_an_error() {
    let short: &dyn Fn(&mut Writer) = &|w| {
        w.prop_u32s("ibm,dynamic-memory", &[1000, 0, 0x8000_0000, 1, 0, 0, 8]);
    };
    let blob = tree(&[(0, 2 * G, 0)], Some(short));
    let e = discover(&Fdt::new(&blob).unwrap()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "/ibm,dynamic-reconfiguration-memory: ibm,dynamic-memory: 1000 LMBs claimed, room for 1"
    );
    let v2: &dyn Fn(&mut Writer) = &|w| {
        w.prop_u32s("ibm,dynamic-memory-v2", &[2, 4, 0, 0x8000_0000, 0, 0, 8]);
    };
    let blob = tree(&[(0, 2 * G, 0)], Some(v2));
    assert!(matches!(
        discover(&Fdt::new(&blob).unwrap()),
        Err(MemoryError::BadProperty {
            prop: "ibm,dynamic-memory-v2",
            ..
        })
    ));
}

#[test]
fn beyond_max_physmem_bits_is_reported_and_cut() {
    let top = 1u64 << 47;
    let blob = tree(&[(0, G, 0), (top - G, 2 * G, 0), (top + G, G, 0)], None);
    let map = discover(&Fdt::new(&blob).unwrap()).unwrap();
    assert_eq!(
        map.ranges
            .iter()
            .map(|r| (r.base, r.size))
            .collect::<Vec<_>>(),
        [(0, G), (top - G, G)]
    );
    assert_eq!(
        map.notes,
        [
            Note::IgnoredRange {
                base: top,
                end: top + G
            },
            Note::IgnoredBlock {
                base: top + G,
                end: top + 2 * G
            },
        ]
    );
    assert_eq!(
        map.notes[0].to_string(),
        "Ignoring memory range 0x800000000000 - 0x800040000000"
    );
}

#[test]
fn unaligned_zero_and_tiny_ranges() {
    let blob = tree(
        &[
            (0x8000, 0x28000, 0),
            (0x10_0000, 0, 0),
            (0x20_1000, 0x1000, 0),
        ],
        None,
    );
    let map = discover(&Fdt::new(&blob).unwrap()).unwrap();
    // 0x8000..0x30000 becomes 0x10000..0x30000; the zero-size one is skipped; the tiny one
    // cannot hold a page.
    assert_eq!(
        map.ranges,
        [MemRange {
            base: 0x10000,
            size: 0x20000,
            nid: 0,
            hotplug: false
        }]
    );
    assert_eq!(
        map.notes,
        [Note::IgnoredBlock {
            base: 0x20_1000,
            end: 0x20_2000
        }]
    );
}

#[test]
fn overlapping_and_unsorted_ranges_are_sorted_and_reported() {
    let blob = tree(&[(G, G, 0), (0, G + 256 * M, 0)], None);
    let map = discover(&Fdt::new(&blob).unwrap()).unwrap();
    assert_eq!(map.ranges[0].base, 0);
    assert_eq!(map.ranges[1].base, G);
    assert_eq!(
        map.notes,
        [Note::Overlap {
            a: (0, G + 256 * M),
            b: (G, 2 * G)
        }]
    );
}

#[test]
fn node_ids_out_of_range_or_without_reference_points_go_to_node_0() {
    let blob = tree(&[(0, G, 0), (G, G, 9999)], None);
    let map = discover(&Fdt::new(&blob).unwrap()).unwrap();
    assert_eq!(
        map.ranges,
        [MemRange {
            base: 0,
            size: 2 * G,
            nid: 0,
            hotplug: false
        }]
    );
    assert_eq!(map.notes, [Note::NodeOutOfRange { base: G, nid: 9999 }]);

    let mut w = Writer::new();
    w.begin("")
        .begin("memory@0")
        .prop_str("device_type", "memory")
        .prop_u32s("reg", &[0, 0, 0x4000_0000])
        .prop_u32s("ibm,associativity", &[4, 0, 0, 0, 3])
        .end()
        .end();
    let blob = w.finish().unwrap();
    let map = discover(&Fdt::new(&blob).unwrap()).unwrap();
    // No #address-cells/#size-cells: IEEE 1275 defaults 2 and 1.
    assert_eq!(
        map.ranges,
        [MemRange {
            base: 0,
            size: 0x4000_0000,
            nid: 0,
            hotplug: false
        }]
    );
    assert_eq!(map.notes[0], Note::NoNuma("no /rtas node"));
}

#[test]
fn default_cells_are_two_and_one() {
    let mut w = Writer::new();
    w.begin("")
        .begin("memory@0")
        .prop_str("device_type", "memory")
        .prop_u32s("reg", &[0, 0x1000_0000, 0x4000_0000])
        .end()
        .end();
    let blob = w.finish().unwrap();
    let map = discover(&Fdt::new(&blob).unwrap()).unwrap();
    assert_eq!(
        map.ranges,
        [MemRange {
            base: 0x1000_0000,
            size: 0x4000_0000,
            nid: 0,
            hotplug: false
        }]
    );
}

#[test]
fn odd_cell_counts() {
    for (ac, sc) in [(0u32, 1u32), (3, 2), (2, 0), (1, 7)] {
        let mut w = Writer::new();
        w.begin("")
            .prop_u32s("#address-cells", &[ac])
            .prop_u32s("#size-cells", &[sc])
            .begin("memory@0")
            .prop_str("device_type", "memory")
            .prop_u32s("reg", &[0, 0x1000_0000])
            .end()
            .end();
        let blob = w.finish().unwrap();
        let e = discover(&Fdt::new(&blob).unwrap()).unwrap_err();
        assert!(matches!(e, MemoryError::BadCells { .. }), "{ac} {sc}: {e}");
        assert!(e.to_string().starts_with("/: #"), "{e}");
    }
    // A reg with a partial trailing entry: whole entries used, the rest reported.
    let mut w = Writer::new();
    w.begin("")
        .prop_u32s("#address-cells", &[1])
        .prop_u32s("#size-cells", &[1])
        .begin("memory@0")
        .prop_str("device_type", "memory")
        .prop_u32s("reg", &[0, 0x1000_0000, 0x2000_0000])
        .end()
        .end();
    let blob = w.finish().unwrap();
    let map = discover(&Fdt::new(&blob).unwrap()).unwrap();
    assert_eq!(map.total(), 0x1000_0000);
    assert!(
        matches!(&map.notes[1], Note::TrailingBytes { bytes: 4, .. }),
        "{:?}",
        map.notes
    );
}

#[test]
fn no_memory_and_disabled_memory() {
    let mut w = Writer::new();
    w.begin("").begin("chosen").end().end();
    let blob = w.finish().unwrap();
    assert_eq!(
        discover(&Fdt::new(&blob).unwrap()).unwrap_err(),
        MemoryError::NoMemory
    );

    let mut w = Writer::new();
    w.begin("")
        .begin("memory@0")
        .prop_str("device_type", "memory")
        .prop_str("status", "disabled")
        .prop_u32s("reg", &[0, 0, 0x1000_0000])
        .end()
        .end();
    let blob = w.finish().unwrap();
    assert_eq!(
        discover(&Fdt::new(&blob).unwrap()).unwrap_err(),
        MemoryError::NoMemory
    );
}

#[test]
fn malformed_blobs_name_offset_and_node() {
    // An unknown token inside /memory@0: the error names the offset and the node.
    let blob = tree(&[(0, G, 0)], None);
    let fdt = Fdt::new(&blob).unwrap();
    let node = fdt.find_node("/memory@0").unwrap().unwrap();
    let mut bad = blob.clone();
    let at = node.offset + 4 + 12; // the property token after BEGIN_NODE "memory@0"
    bad[at..at + 4].copy_from_slice(&0x77u32.to_be_bytes());
    let e = discover(&Fdt::new(&bad).unwrap()).unwrap_err();
    assert_eq!(
        e.to_string(),
        std::format!(
            "malformed device tree: unknown structure token 0x00000077 at offset 0x{at:x} (in /memory@0)"
        )
    );
}

#[test]
fn ranges_near_the_top_of_the_address_space_do_not_wrap() {
    let top = u64::MAX - 5;
    let blob = tree(
        &[
            (0, G, 0),
            (top, 0x20006, 0),
            (u64::MAX - 0xffff, u64::MAX, 0),
        ],
        None,
    );
    let map = discover(&Fdt::new(&blob).unwrap()).unwrap();
    assert_eq!(
        map.ranges,
        [MemRange {
            base: 0,
            size: G,
            nid: 0,
            hotplug: false
        }]
    );
    assert_eq!(
        map.notes,
        [
            Note::IgnoredBlock {
                base: top,
                end: u64::MAX
            },
            Note::IgnoredBlock {
                base: u64::MAX - 0xffff,
                end: u64::MAX
            },
        ]
    );
}

#[test]
fn a_dynamic_memory_set_claiming_4g_lmbs_is_one_range_cut_at_max_physmem() {
    let huge: &dyn Fn(&mut Writer) = &|w| {
        w.prop_u32s(
            "ibm,dynamic-memory-v2",
            &[1, 0xffff_ffff, 0, 0x8000_0000, 0, 0, 0x8],
        );
    };
    let blob = tree(&[(0, 2 * G, 0)], Some(huge));
    let map = discover(&Fdt::new(&blob).unwrap()).unwrap();
    assert_eq!(map.lmbs_assigned, 0xffff_ffff);
    assert_eq!(map.total(), 1 << 47);
    assert!(matches!(map.notes[..], [Note::IgnoredRange { base, .. }] if base == 1 << 47));
}

#[test]
fn ai_invalid_lmbs_go_to_node_0() {
    let v1: &dyn Fn(&mut Writer) = &|w| {
        w.prop_u32s(
            "ibm,dynamic-memory",
            &[1, 0, 0x8000_0000, 1, 0, 1, 0x8 | DRCONF_MEM_AI_INVALID],
        );
    };
    let blob = tree(&[(0, 2 * G, 0)], Some(v1));
    let map = discover(&Fdt::new(&blob).unwrap()).unwrap();
    assert_eq!(map.ranges.len(), 1);
    assert_eq!(map.ranges[0].nid, 0);
}

#[test]
fn nested_overlaps_are_all_reported_and_the_first_block_is_kept() {
    let blob = tree(&[(0, 4 * G, 0), (G, G, 0), (3 * G, G, 0)], None);
    let map = discover(&Fdt::new(&blob).unwrap()).unwrap();
    assert_eq!(map.notes.len(), 2, "{:?}", map.notes);
    assert_eq!(
        map.first_block,
        Some(MemRange {
            base: 0,
            size: 4 * G,
            nid: 0,
            hotplug: false
        })
    );
}
