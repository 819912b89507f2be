//! Host tests of the hostile cases: each blob has the defect its name says, checked with
//! the kernel's own reader (`sparsek::fdt`) and memory discovery, on the QEMU 2G tree of
//! the host fixtures.

use super::*;
use sparsek::fdt::{Fdt, FdtErrorKind};
use sparsek::prom::memory::{MemoryError, Note, discover};

const BASE: &[u8] = include_bytes!("../../../../tests/fixtures/dtb/pseries-2g.dtb");

fn all() -> Vec<Case> {
    static ALL: std::sync::OnceLock<Vec<Case>> = std::sync::OnceLock::new();
    ALL.get_or_init(|| cases(BASE)).clone()
}

fn get(name: &str) -> Case {
    all()
        .into_iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no case {name}"))
}

/// The reader's verdict on a whole blob: header, then every structure token.
fn check(blob: &[u8]) -> Result<Fdt<'_>, sparsek::fdt::FdtError> {
    let f = Fdt::new(blob)?;
    f.validate()?;
    Ok(f)
}

#[test]
fn names_are_unique_file_names() {
    let cs = all();
    let mut names: Vec<&str> = cs.iter().map(|c| c.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), cs.len(), "duplicate case names");
    for n in names {
        assert!(
            n.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
            "{n}"
        );
    }
}

#[test]
fn the_tree_round_trips() {
    let t = Tree::parse(BASE).unwrap();
    let blob = t.to_blob();
    assert_eq!(Tree::parse(&blob).unwrap(), t);
    assert_eq!(memory_ranges(&blob), memory_ranges(BASE));
    assert_eq!(header(&blob, TOTALSIZE) as usize, blob.len());
    assert_eq!(get("rewritten").blob, blob);
}

/// Every case expected to fail in the blob check really is malformed, with the reason
/// its expectation names; every other case's blob is well formed.
#[test]
fn malformed_blobs_fail_the_readers_check_with_the_expected_reason() {
    let mut malformed = 0;
    for c in all() {
        let r = check(&c.blob);
        match (&c.expect, r) {
            (Expect::Failure { reason }, Err(e)) => {
                malformed += 1;
                assert!(
                    e.to_string().contains(reason.as_str()),
                    "{}: '{e}' lacks '{reason}'",
                    c.name
                );
            }
            (_, Err(e)) => panic!("{}: unexpectedly malformed: {e}", c.name),
            (_, Ok(_)) => {}
        }
    }
    assert!(malformed >= 25, "{malformed} malformed blobs");
}

#[test]
fn truncations_cut_where_they_say() {
    let canon = get("rewritten").blob;
    let (st, st_end) = (
        header(&canon, OFF_STRUCT) as usize,
        (header(&canon, OFF_STRUCT) + header(&canon, SIZE_STRUCT)) as usize,
    );
    let strings = header(&canon, OFF_STRINGS) as usize;
    assert_eq!(get("truncated-header").blob.len(), 20);
    let s = get("truncated-struct").blob;
    assert!(s.len() > st && s.len() < st_end, "{}", s.len());
    assert_eq!(s[..], canon[..s.len()]);
    let s = get("truncated-strings").blob;
    assert!(s.len() > strings && s.len() < canon.len());
    let s = get("truncated-struct-totalsize").blob;
    assert_eq!(header(&s, TOTALSIZE) as usize, s.len());
    assert_eq!(
        Fdt::new(&s).err().unwrap().kind,
        FdtErrorKind::BlockOutOfBounds("structure block")
    );
}

#[test]
fn absurd_cell_counts_are_on_the_root() {
    for (name, prop, v) in [
        ("address-cells-0", "#address-cells", 0u32),
        ("address-cells-5", "#address-cells", 5),
        ("size-cells-ffffffff", "#size-cells", 0xffff_ffff),
    ] {
        let t = Tree::parse(&get(name).blob).unwrap();
        assert_eq!(t.root.prop(prop), Some(&v.to_be_bytes()[..]), "{name}");
        let e = discover(&Fdt::new(&get(name).blob).unwrap()).unwrap_err();
        assert!(matches!(e, MemoryError::BadCells { .. }), "{name}: {e:?}");
    }
}

/// Discovery (the kernel's own code) sees what each memory case intends.
#[test]
fn memory_cases_have_their_defect() {
    let d = |name: &str| discover(&Fdt::new(&get(name).blob).unwrap());
    let base = discover(&Fdt::new(BASE).unwrap()).unwrap();
    assert_eq!(d("no-memory-node").unwrap_err(), MemoryError::NoMemory);
    assert_eq!(d("memory-disabled").unwrap_err(), MemoryError::NoMemory);
    assert_eq!(d("memory-reg-empty").unwrap_err(), MemoryError::NoMemory);

    let m = d("overlapping-memory").unwrap();
    assert!(m.notes.iter().any(|n| matches!(n, Note::Overlap { .. })));
    let m = d("memory-beyond-max-physmem").unwrap();
    assert_eq!(m.ranges, base.ranges);
    assert!(m.notes.contains(&Note::IgnoredBlock {
        base: 1 << 47,
        end: (1 << 47) + G
    }));
    let m = d("numa-node-1000").unwrap();
    assert!(
        m.notes
            .iter()
            .any(|n| matches!(n, Note::NodeOutOfRange { nid: 1000, .. }))
    );
    // More memory than the machine has: discovery takes it; only the hypervisor knows.
    let m = d("memory-larger-than-ram").unwrap();
    assert_eq!(m.total(), 2 * base.total());

    let t = Tree::parse(&get("many-memory-nodes").blob).unwrap();
    assert_eq!(
        t.root.children.iter().filter(|c| c.is_memory()).count(),
        4096
    );
    assert_eq!(d("many-memory-nodes").unwrap().ranges, base.ranges);
    let m = d("many-numa-nodes").unwrap();
    assert!(m.ranges.iter().any(|r| r.nid == 255));
    assert_eq!(m.total(), base.total());

    let m = d("dynamic-memory-65536-unassigned").unwrap();
    assert_eq!(
        (m.lmbs_assigned, m.ranges.clone()),
        (0, base.ranges.clone())
    );
    assert!(matches!(
        d("dynamic-memory-count-overclaims").unwrap_err(),
        MemoryError::BadProperty { .. }
    ));
    let m = d("dynamic-memory-v2-huge-set").unwrap();
    assert_eq!(m.lmbs_assigned, 0xffff_ffff);
    assert_eq!(m.ranges, base.ranges);
}

#[test]
fn cpu_and_reservation_cases_have_their_defect() {
    let cpu = |name: &str| {
        let mut t = Tree::parse(&get(name).blob).unwrap();
        t.cpu_mut()
            .unwrap()
            .prop("ibm,segment-page-sizes")
            .map(<[u8]>::to_vec)
    };
    assert_eq!(cpu("cpu-no-segment-page-sizes"), None);
    assert_eq!(cpu("cpu-segment-page-sizes-empty"), Some(Vec::new()));
    assert_eq!(cpu("cpu-segment-page-sizes-truncated").unwrap().len(), 20);

    let rsv = |name: &str| -> Vec<(u64, u64)> {
        Fdt::new(&get(name).blob)
            .unwrap()
            .reservations()
            .map(|r| r.map(|r| (r.address, r.size)).unwrap())
            .collect()
    };
    assert!(rsv("rsvmap-covers-kernel").contains(&(0x40_0000, 0x100_0000)));
    assert!(rsv("rsvmap-everything").contains(&(0, u64::MAX)));
}

#[test]
fn nesting_depths() {
    assert!(check(&get("nesting-64").blob).is_ok());
    for name in ["nesting-65", "nesting-10000"] {
        assert_eq!(
            check(&get(name).blob).err().unwrap().kind,
            FdtErrorKind::TooDeep,
            "{name}"
        );
    }
}

fn outcome(verdict: Verdict, status: Option<i32>, lines: &[&str]) -> Outcome {
    let console: String = lines
        .iter()
        .map(|l| format!("[    0.000100] {l}\n"))
        .collect();
    Outcome {
        verdict,
        qemu_status: status,
        timing: crate::boot::ConsoleTiming::from_chunks(console.as_bytes(), &[], None),
        console,
        stderr: String::new(),
        duration: Duration::from_millis(300),
        command: vec![],
        reason: "r".into(),
        stopped: false,
    }
}

#[test]
fn judge_accepts_the_expected_and_nothing_else() {
    let ok_case = Case {
        name: "x",
        blob: vec![],
        expect: Expect::Success {
            memory: vec![(0, 0x8000_0000, 0)],
            lines: vec!["Ignoring".into()],
        },
    };
    let good = [
        "prom: dtb=initrd: the device tree comes from the initrd at 0x8c0000 (1 of 1 bytes), not from the firmware",
        "OF: fdt: Ignoring memory block 0x800000000000 - 0x800040000000",
        "Early memory node ranges",
        "  node   0: [mem 0x0000000000000000-0x000000007fffffff]",
        "reboot: Power down",
    ];
    let o = outcome(Verdict::Success, Some(0), &good);
    assert!(judge(&ok_case, &o).is_ok(), "{:?}", judge(&ok_case, &o));
    // Wrong memory, a missing warning, a fault, a hang: never accepted.
    let mut wrong = good.to_vec();
    wrong[3] = "  node   0: [mem 0x0000000000000000-0x00000000ffffffff]";
    assert!(judge(&ok_case, &outcome(Verdict::Success, Some(0), &wrong)).is_err());
    let mut silent = good.to_vec();
    silent.remove(1);
    assert!(judge(&ok_case, &outcome(Verdict::Success, Some(0), &silent)).is_err());
    let mut fault = good.to_vec();
    fault.insert(2, "Unexpected exception: vector 0x300");
    assert!(judge(&ok_case, &outcome(Verdict::Success, Some(0), &fault)).is_err());
    assert!(judge(&ok_case, &outcome(Verdict::Timeout, None, &good[..3])).is_err());

    let fail_case = Case {
        name: "y",
        blob: vec![],
        expect: Expect::Failure {
            reason: "bad magic".into(),
        },
    };
    let panic = [
        "Kernel panic - not syncing: dtb=initrd: invalid device tree blob at physical address 0x8c0000 (4 bytes): bad magic 0x0 (expected 0xd00dfeed) at offset 0x0",
    ];
    assert!(
        judge(
            &fail_case,
            &outcome(Verdict::KernelFailure, Some(1), &panic)
        )
        .is_ok()
    );
    // Another reason, or the right one but a nested fault, is not the expected outcome.
    let other = ["Kernel panic - not syncing: early_init_devtree: no usable memory"];
    assert!(
        judge(
            &fail_case,
            &outcome(Verdict::KernelFailure, Some(1), &other)
        )
        .is_err()
    );
    let nested = [panic[0], "nested fault while handling a failure"];
    assert!(
        judge(
            &fail_case,
            &outcome(Verdict::KernelFailure, Some(1), &nested)
        )
        .is_err()
    );
    assert!(judge(&fail_case, &outcome(Verdict::Success, Some(0), &good)).is_err());
}

/// Cases build for every machine of the fixtures (a soak run picks other machines).
#[test]
fn cases_build_for_other_machines() {
    for blob in [
        &include_bytes!("../../../../tests/fixtures/dtb/pseries-numa4.dtb")[..],
        &include_bytes!("../../../../tests/fixtures/dtb/pseries-2g-maxmem.dtb")[..],
        &include_bytes!("../../../../tests/fixtures/dtb/pseries-smp4.dtb")[..],
    ] {
        let cs = cases(blob);
        assert!(cs.len() >= 60);
        let numa = cs.iter().find(|c| c.name == "numa-node-1000").unwrap();
        let Expect::Success { memory, .. } = &numa.expect else {
            panic!("numa-node-1000 must succeed")
        };
        assert!(memory.iter().all(|r| r.2 == 0));
    }
}
