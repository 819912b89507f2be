//! The CPU node's MMU properties (QEMU's blobs and synthetic trees) and Linux's choice
//! of page and segment sizes.

use super::*;
use crate::fdt::{Fdt, Writer};
use alloc::string::String;
use std::string::ToString;
use std::vec::Vec;

// ---- The CPU node -----------------------------------------------------------------

macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!("../../../../tests/fixtures/dtb/", $name, ".dtb"))
    };
}

fn info(blob: &[u8]) -> Result<CpuMmuInfo, MmuDtError> {
    CpuMmuInfo::from_fdt(&Fdt::new(blob).unwrap())
}

#[test]
fn qemu_blobs() {
    // Values as `dtc -I dtb -O dts` shows them: pft-size <0 0x18> (2G) or <0 0x19> (3G,
    // 4G), slb-size 0x20, processor-segment-sizes <0x1c 0x28 -1 -1>, QEMU's default
    // segment-page-sizes.
    for (blob, pft, mask) in [
        (&fixture!("pseries-2g")[..], 0x18, 0x1ffff),
        (fixture!("pseries-2g-maxmem"), 0x18, 0x1ffff),
        (fixture!("pseries-smp4"), 0x18, 0x1ffff),
        (fixture!("pseries-3g"), 0x19, 0x3ffff),
        (fixture!("pseries-4g"), 0x19, 0x3ffff),
        (fixture!("pseries-numa2"), 0x19, 0x3ffff),
        (fixture!("pseries-numa4"), 0x19, 0x3ffff),
    ] {
        let i = info(blob).unwrap();
        assert_eq!(i.path, "/cpus/PowerPC,POWER9@0");
        assert_eq!(i.pft_size, pft);
        assert_eq!(i.hash_mask(), mask);
        assert_eq!(i.slb_size, 32);
        assert!(i.has_1t_segments);
        assert!(!i.page_sizes_defaulted);
        assert_eq!(i.page_sizes, sizes(&QEMU_DEFAULT));
    }
    // The 2G guest: Linux's report, 64K everywhere, 1T segments.
    let i = info(fixture!("pseries-2g")).unwrap();
    let mut s = String::new();
    MmuChoice::choose(&i, 2 * G, false)
        .write_page_orders(&mut s)
        .unwrap();
    assert_eq!(
        s,
        "Page orders: linear mapping = 16, virtual = 16, io = 16, vmemmap = 16"
    );
}

/// A tree with /cpus/PowerPC,POWER9@0 (device_type "cpu") whose other properties `cpu`
/// writes.
fn cpu_tree(cpu: impl FnOnce(&mut Writer)) -> Vec<u8> {
    let mut w = Writer::new();
    w.begin("")
        .prop_u32s("#address-cells", &[2])
        .begin("cpus")
        .prop_u32s("#address-cells", &[1])
        .begin("PowerPC,POWER9@0")
        .prop_str("device_type", "cpu")
        .prop_u32s("reg", &[0]);
    cpu(&mut w);
    w.end().end().end();
    w.finish().unwrap()
}

/// The usual properties, minus `skip`, with `over` written instead of any of the same
/// name.
fn cpu_props(skip: &[&str], over: &[(&str, &[u8])]) -> Vec<u8> {
    let cells = |c: &[u32]| -> Vec<u8> { c.iter().flat_map(|x| x.to_be_bytes()).collect() };
    let usual: [(&str, Vec<u8>); 4] = [
        ("ibm,pft-size", cells(&[0, 0x18])),
        ("ibm,slb-size", cells(&[0x20])),
        ("ibm,processor-segment-sizes", cells(&[0x1c, 0x28, !0, !0])),
        ("ibm,segment-page-sizes", cells(&POWER9)),
    ];
    cpu_tree(|w| {
        for (name, value) in &usual {
            if skip.contains(name) || over.iter().any(|(n, _)| n == name) {
                continue;
            }
            w.prop(name, value);
        }
        for (name, value) in over {
            w.prop(name, value);
        }
    })
}

fn be(c: &[u32]) -> Vec<u8> {
    c.iter().flat_map(|x| x.to_be_bytes()).collect()
}

const PATH: &str = "/cpus/PowerPC,POWER9@0";

#[test]
fn synthetic_cpu_node() {
    let i = info(&cpu_props(&[], &[])).unwrap();
    assert_eq!(i.path, PATH);
    assert_eq!(
        (i.pft_size, i.slb_size, i.has_1t_segments),
        (0x18, 32, true)
    );
    assert_eq!(i.page_sizes, sizes(&POWER9));
    assert!(!i.page_sizes_defaulted);
    assert_eq!(i.hash_mask(), 0x1ffff);
}

#[test]
fn pft_size_missing_short_or_out_of_range() {
    let e = info(&cpu_props(&["ibm,pft-size"], &[])).unwrap_err();
    assert_eq!(e, MmuDtError::Missing(PATH.into(), "ibm,pft-size"));
    assert_eq!(
        e.to_string(),
        "/cpus/PowerPC,POWER9@0: no ibm,pft-size property"
    );

    let bad = |value: &[u8]| info(&cpu_props(&[], &[("ibm,pft-size", value)])).unwrap_err();
    assert_eq!(
        bad(&be(&[0x18])),
        MmuDtError::Bad(PATH.into(), "ibm,pft-size", "1 cells, expected 2".into())
    );
    assert_eq!(
        bad(&be(&[0, 0x18, 0])),
        MmuDtError::Bad(PATH.into(), "ibm,pft-size", "3 cells, expected 2".into())
    );
    assert_eq!(
        bad(&[]),
        MmuDtError::Bad(PATH.into(), "ibm,pft-size", "0 cells, expected 2".into())
    );
    assert_eq!(
        bad(&[0, 0, 0, 0, 0, 0x18]),
        MmuDtError::Bad(
            PATH.into(),
            "ibm,pft-size",
            "6 bytes is not a whole number of cells".into()
        )
    );
    for pft in [0, 7, PFT_SIZE_MIN - 1, PFT_SIZE_MAX + 1, 64, u32::MAX] {
        let e = bad(&be(&[0, pft]));
        assert!(
            matches!(&e, MmuDtError::Bad(p, "ibm,pft-size", _) if p == PATH),
            "{pft}: {e:?}"
        );
    }
    assert_eq!(
        bad(&be(&[0, 17])).to_string(),
        "/cpus/PowerPC,POWER9@0: ibm,pft-size: 2^17 bytes is outside 2^18..2^46"
    );
    // The limits themselves are accepted; the first cell is ignored, as Linux does.
    for (pft, mask) in [(18, 0x7ff), (0x18, 0x1ffff), (46, (1u64 << 39) - 1)] {
        let i = info(&cpu_props(&[], &[("ibm,pft-size", &be(&[7, pft]))])).unwrap();
        assert_eq!((i.pft_size, i.hash_mask()), (pft, mask));
    }
}

#[test]
fn slb_size() {
    let with = |v: Option<&[u8]>| match v {
        None => info(&cpu_props(&["ibm,slb-size"], &[])),
        Some(v) => info(&cpu_props(&[], &[("ibm,slb-size", v)])),
    };
    assert_eq!(with(None).unwrap().slb_size, 64);
    assert_eq!(with(Some(&be(&[0x20]))).unwrap().slb_size, 32);
    assert_eq!(with(Some(&be(&[4]))).unwrap().slb_size, 4);
    for v in [&be(&[3])[..], &be(&[0]), &be(&[32, 32]), &[], &[0, 0, 0x20]] {
        let e = with(Some(v)).unwrap_err();
        assert!(
            matches!(&e, MmuDtError::Bad(p, "ibm,slb-size", _) if p == PATH),
            "{v:?}: {e:?}"
        );
    }
}

#[test]
fn processor_segment_sizes() {
    let seg = |v: Option<&[u32]>| match v {
        None => {
            info(&cpu_props(&["ibm,processor-segment-sizes"], &[]))
                .unwrap()
                .has_1t_segments
        }
        Some(c) => {
            info(&cpu_props(&[], &[("ibm,processor-segment-sizes", &be(c))]))
                .unwrap()
                .has_1t_segments
        }
    };
    assert!(!seg(None));
    assert!(seg(Some(&[0x1c, 0x28, !0, !0])));
    assert!(seg(Some(&[0x28])));
    assert!(!seg(Some(&[0x1c])));
    assert!(!seg(Some(&[0x1c, !0, !0])));
    assert!(!seg(Some(&[])));
}

#[test]
fn segment_page_sizes_absent_or_bad() {
    let i = info(&cpu_props(&["ibm,segment-page-sizes"], &[])).unwrap();
    assert!(i.page_sizes_defaulted);
    assert_eq!(i.page_sizes, PageSizes::defaults());
    assert!(i.page_sizes.has_base(Psize::P4K));
    assert!(!i.page_sizes.has_base(Psize::P64K));
    let c = MmuChoice::choose(&i, 4 * G, false);
    assert_eq!(
        (c.linear, c.virtual_, c.io, c.vmemmap),
        (Psize::P4K, Psize::P4K, Psize::P4K, Psize::P4K)
    );

    let e = info(&cpu_props(
        &[],
        &[("ibm,segment-page-sizes", &be(&[12, 0, 2, 12, 0]))],
    ))
    .unwrap_err();
    assert!(
        matches!(e, MmuDtError::SegmentPageSizes { cell: 2, .. }),
        "{e:?}"
    );
    let e = info(&cpu_props(
        &[],
        &[("ibm,segment-page-sizes", &[0, 0, 0, 12, 0])],
    ))
    .unwrap_err();
    assert!(matches!(e, MmuDtError::Bad(_, "ibm,segment-page-sizes", _)));
}

/// A property offering no 4K or 64K base size (empty, only unknown shifts, only 16M) is
/// refused when the cpu node is read, naming the node, not when the first mapping fails.
#[test]
fn segment_page_sizes_without_a_base_page_size() {
    for cells in [
        &[][..],
        &[0xff, 0, 1, 0xff, 0],
        &[24, 0x100, 1, 24, 0],
        // 4K as a base size but without an encoding for 4K pages.
        &[12, 0, 1, 24, 7],
    ] {
        let e = info(&cpu_props(&[], &[("ibm,segment-page-sizes", &be(cells))])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "/cpus/PowerPC,POWER9@0: ibm,segment-page-sizes: offers neither 4K nor 64K base pages",
            "{cells:?}"
        );
    }
    // Unknown sizes next to a usable one are skipped, as Linux skips them.
    let i = info(&cpu_props(
        &[],
        &[(
            "ibm,segment-page-sizes",
            &be(&[0xff, 0, 1, 0xff, 0, 12, 0, 2, 12, 0, 64, 7]),
        )],
    ))
    .unwrap();
    assert!(i.page_sizes.usable(Psize::P4K));
}

#[test]
fn finding_the_cpu_node() {
    // No cpu anywhere.
    let mut w = Writer::new();
    w.begin("")
        .begin("cpus")
        .end()
        .begin("memory@0")
        .end()
        .end();
    let e = info(&w.finish().unwrap()).unwrap_err();
    assert_eq!(e, MmuDtError::NoCpuNode);
    assert_eq!(e.to_string(), "no node with device_type \"cpu\"");
    let mut w = Writer::new();
    w.begin("").end();
    assert_eq!(info(&w.finish().unwrap()), Err(MmuDtError::NoCpuNode));

    // Under /cpus, the first child that is a cpu (not the cache node before it).
    let mut w = Writer::new();
    w.begin("")
        .begin("cpus")
        .begin("l2-cache@10")
        .prop_str("device_type", "cache")
        .end()
        .begin("cpu@4")
        .prop_str("device_type", "cpu")
        .prop_u32s("ibm,pft-size", &[0, 0x1a])
        .end()
        .begin("cpu@8")
        .prop_str("device_type", "cpu")
        .prop_u32s("ibm,pft-size", &[0, 0x1b])
        .end()
        .end()
        .end();
    let i = info(&w.finish().unwrap()).unwrap();
    assert_eq!((i.path.as_str(), i.pft_size), ("/cpus/cpu@4", 0x1a));
    assert_eq!(i.slb_size, 64);
    assert!(!i.has_1t_segments);
    assert!(i.page_sizes_defaulted);

    // Elsewhere when there is no /cpus: depth first, in tree order.
    let mut w = Writer::new();
    w.begin("")
        .begin("soc")
        .begin("bus@1")
        .begin("cpu@0")
        .prop_str("device_type", "cpu")
        .prop_u32s("ibm,pft-size", &[0, 0x1c])
        .end()
        .end()
        .end()
        .begin("cpu@1")
        .prop_str("device_type", "cpu")
        .prop_u32s("ibm,pft-size", &[0, 0x1d])
        .end()
        .end();
    let i = info(&w.finish().unwrap()).unwrap();
    assert_eq!((i.path.as_str(), i.pft_size), ("/soc/bus@1/cpu@0", 0x1c));
}

// ---- Linux's choice -----------------------------------------------------------------

fn mmu(cells: &[u32], has_1t: bool) -> CpuMmuInfo {
    CpuMmuInfo {
        path: PATH.into(),
        pft_size: 0x18,
        slb_size: 32,
        has_1t_segments: has_1t,
        page_sizes: sizes(cells),
        page_sizes_defaulted: false,
    }
}

fn orders(c: &MmuChoice) -> String {
    let mut s = String::new();
    c.write_page_orders(&mut s).unwrap();
    s
}

#[test]
fn choice_with_16m() {
    let i = mmu(&POWER9, true);
    let c = MmuChoice::choose(&i, 2 * G, false);
    assert_eq!(
        c,
        MmuChoice {
            linear: Psize::P16M,
            virtual_: Psize::P64K,
            io: Psize::P64K,
            vmemmap: Psize::P16M,
            ssize: Ssize::S1T,
        }
    );
    assert_eq!(
        orders(&c),
        "Page orders: linear mapping = 24, virtual = 16, io = 16, vmemmap = 24"
    );
}

#[test]
fn vmemmap_16m_needs_1g_of_ram() {
    let i = mmu(&POWER9, true);
    assert_eq!(VMEMMAP_16M_MIN_RAM, G);
    for (ram, vmemmap) in [
        (0, Psize::P64K),
        (512 * M, Psize::P64K),
        (G - 64 * K, Psize::P64K),
        (G - 1, Psize::P64K),
        (G, Psize::P16M),
        (G + 64 * K, Psize::P16M),
        (u64::MAX, Psize::P16M),
    ] {
        let c = MmuChoice::choose(&i, ram, false);
        assert_eq!(c.vmemmap, vmemmap, "ram 0x{ram:x}");
        // The linear mapping does not depend on the amount of RAM.
        assert_eq!(c.linear, Psize::P16M);
    }
    assert_eq!(
        orders(&MmuChoice::choose(&i, G - 64 * K, false)),
        "Page orders: linear mapping = 24, virtual = 16, io = 16, vmemmap = 16"
    );
    // Without 16M, 1G of RAM changes nothing.
    let i = mmu(&QEMU_DEFAULT, true);
    assert_eq!(MmuChoice::choose(&i, 4 * G, false).vmemmap, Psize::P64K);
}

#[test]
fn choice_without_64k_or_16m() {
    // QEMU's default: 64K everywhere.
    let c = MmuChoice::choose(&mmu(&QEMU_DEFAULT, true), 2 * G, false);
    assert_eq!(
        (c.linear, c.virtual_, c.io, c.vmemmap),
        (Psize::P64K, Psize::P64K, Psize::P64K, Psize::P64K)
    );
    // 4K only.
    let c = MmuChoice::choose(&mmu(&[12, 0, 1, 12, 0], true), 2 * G, false);
    assert_eq!(
        orders(&c),
        "Page orders: linear mapping = 12, virtual = 12, io = 12, vmemmap = 12"
    );
    // 4K and 16M but no 64K: 16M for the linear map and (with >= 1G) the vmemmap, 4K
    // for the rest.
    let i = mmu(&[12, 0, 1, 12, 0, 24, 0x100, 1, 24, 0], false);
    assert_eq!(
        orders(&MmuChoice::choose(&i, 2 * G, false)),
        "Page orders: linear mapping = 24, virtual = 12, io = 12, vmemmap = 24"
    );
    assert_eq!(
        orders(&MmuChoice::choose(&i, 256 * M, false)),
        "Page orders: linear mapping = 24, virtual = 12, io = 12, vmemmap = 12"
    );
    // A 1M base (QEMU never offers one): Linux's linear mapping takes it over 64K, not
    // over 16M.
    let with_1m = [12, 0, 1, 12, 0, 16, 0x110, 1, 16, 1, 20, 0x130, 1, 20, 2];
    let c = MmuChoice::choose(&mmu(&with_1m, true), 2 * G, false);
    assert_eq!(
        (c.linear, c.virtual_, c.vmemmap),
        (Psize::P1M, Psize::P64K, Psize::P64K)
    );
    let mut all = POWER9.to_vec();
    all.extend_from_slice(&[20, 0x130, 1, 20, 2]);
    let c = MmuChoice::choose(&mmu(&all, true), 2 * G, false);
    assert_eq!(c.linear, Psize::P16M);
}

#[test]
fn segment_size_choice() {
    for (has_1t, disable, ssize) in [
        (true, false, Ssize::S1T),
        (true, true, Ssize::S256M),
        (false, false, Ssize::S256M),
        (false, true, Ssize::S256M),
    ] {
        let c = MmuChoice::choose(&mmu(&POWER9, has_1t), 2 * G, disable);
        assert_eq!(c.ssize, ssize, "1T offered {has_1t}, disabled {disable}");
        // The segment size does not change the page sizes.
        assert_eq!((c.linear, c.vmemmap), (Psize::P16M, Psize::P16M));
    }
}

#[test]
fn choice_skips_sizes_without_a_valid_self_encoding() {
    // POWER9's list with the 16M base's own encoding out of range: 16M is a base size
    // but unusable, so the linear mapping and the vmemmap fall back to 64K.
    let mut cells = POWER9;
    cells[20] = 0xffff_ffff;
    let i = mmu(&cells, true);
    assert!(i.page_sizes.has_base(Psize::P16M));
    assert!(!i.page_sizes.usable(Psize::P16M));
    let c = MmuChoice::choose(&i, 2 * G, false);
    assert_eq!(
        orders(&c),
        "Page orders: linear mapping = 16, virtual = 16, io = 16, vmemmap = 16"
    );
    // 0x100 too (one above the LP field).
    cells[20] = 0x100;
    let c = MmuChoice::choose(&mmu(&cells, true), 2 * G, false);
    assert_eq!((c.linear, c.vmemmap), (Psize::P64K, Psize::P64K));
    // The 64K base unusable as well: 4K everywhere.
    cells[13] = 0xffff_ffff;
    let c = MmuChoice::choose(&mmu(&cells, true), 2 * G, false);
    assert_eq!(
        (c.linear, c.virtual_, c.io, c.vmemmap),
        (Psize::P4K, Psize::P4K, Psize::P4K, Psize::P4K)
    );
    // Only the 64K self-encoding bad: 64K pages are out, 16M stays for the linear map.
    let mut cells = POWER9;
    cells[13] = 0x1ff;
    let c = MmuChoice::choose(&mmu(&cells, true), 2 * G, false);
    assert_eq!(
        orders(&c),
        "Page orders: linear mapping = 24, virtual = 12, io = 12, vmemmap = 24"
    );
    // Through the device tree: the same fallback.
    let e = be(&{
        let mut c = POWER9;
        c[20] = 0xffff_ffff;
        c
    });
    let i = info(&cpu_props(&[], &[("ibm,segment-page-sizes", &e)])).unwrap();
    assert_eq!(MmuChoice::choose(&i, 2 * G, false).linear, Psize::P64K);
    // A bad slb_enc through the device tree is the parse error.
    let e = be(&{
        let mut c = POWER9;
        c[17] = 0x104;
        c
    });
    let err = info(&cpu_props(&[], &[("ibm,segment-page-sizes", &e)])).unwrap_err();
    assert!(
        matches!(err, MmuDtError::SegmentPageSizes { cell: 17, .. }),
        "{err:?}"
    );
}
