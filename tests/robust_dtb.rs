//! Hostile device trees through `dtb=initrd`: every case of `qemu_harness::hostile` (built
//! from the tree QEMU dumps for the VOF 2G machine) boots that machine with the blob as
//! its initrd, and the outcome must be the case's: Linux's behaviour, or a clear failure
//! with exit status 1 within seconds; never a hang, an unexpected exception or a nested
//! fault. Blobs and logs are kept in `target/qemu/tests/hostile/<case>.{dtb,log}`.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use qemu_harness::hostile::{self, Case, Expect};
use qemu_harness::testing::expect_success;
use qemu_harness::{BootOptions, Firmware, Machine, Outcome, check, repo_root, test_kernel};

mod common;

/// The machine every case boots: VOF, 2 GiB, 16M pages (the one whose tree is dumped).
fn machine(append: &str, initrd: Option<PathBuf>) -> Machine {
    Machine {
        firmware: Firmware::Vof,
        append: append.into(),
        initrd,
        ..Machine::default()
    }
}

/// QEMU's own tree for the machine (dumped once per test process).
fn base() -> &'static [u8] {
    static BASE: OnceLock<Vec<u8>> = OnceLock::new();
    BASE.get_or_init(|| {
        dir();
        common::dumped_memory("hostile/base", &machine("", None)).0
    })
}

fn dir() -> PathBuf {
    let d = repo_root().join("target/qemu/tests/hostile");
    std::fs::create_dir_all(&d).expect("target/qemu/tests/hostile");
    d
}

/// Boot `blob` as the initrd with `append`; blob and log under target/qemu/tests/hostile/.
fn boot_blob(name: &str, blob: &[u8], append: &str) -> (Outcome, PathBuf) {
    let file = dir().join(format!("{name}.dtb"));
    std::fs::write(&file, blob).expect("write the blob");
    let log = dir().join(format!("{name}.log"));
    let opts = BootOptions {
        timeout: Some(Duration::from_secs(60)),
        log: Some(log.clone()),
        ..Default::default()
    };
    let o = qemu_harness::boot(&machine(append, Some(file)), test_kernel(), &opts)
        .expect("QEMU starts");
    (o, log)
}

/// Boot one case and judge it; the verdict line names the log.
fn run(case: &Case) -> Result<String, String> {
    let (o, log) = boot_blob(case.name, &case.blob, "dtb=initrd");
    hostile::judge(case, &o).map_err(|e| format!("{e} (log: {})", log.display()))
}

fn case(name: &str) -> Case {
    hostile::cases(base())
        .into_iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no case {name}"))
}

fn expect_case(name: &str) -> String {
    run(&case(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Every case, two boots at a time; every case that fails is reported before the test
/// fails.
#[test]
fn every_hostile_tree_has_its_expected_outcome() {
    let cases = hostile::cases(base());
    let next = AtomicUsize::new(0);
    let start = Instant::now();
    let mut results: Vec<(usize, Result<String, String>)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(c) = cases.get(i) else { break };
                        mine.push((i, run(c)));
                    }
                    mine
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("worker"))
            .collect()
    });
    results.sort_by_key(|r| r.0);
    let mut failed = Vec::new();
    for (i, r) in &results {
        let c = &cases[*i];
        let kind = match c.expect {
            Expect::Success { .. } => "success",
            Expect::Failure { .. } => "failure",
        };
        match r {
            Ok(why) => println!("ok   {:38} ({kind}) {why}", c.name),
            Err(why) => {
                println!("FAIL {:38} ({kind}) {why}", c.name);
                failed.push(format!("{}: {why}", c.name));
            }
        }
    }
    println!(
        "{} cases in {:.1} s, {} failed",
        cases.len(),
        start.elapsed().as_secs_f64(),
        failed.len()
    );
    assert!(
        failed.is_empty(),
        "{} of {} hostile trees did not have their expected outcome:\n{}",
        failed.len(),
        cases.len(),
        failed.join("\n")
    );
}

/// A memblock region of the first `MEMBLOCK configuration:` dump: (base, end, node).
fn memblock_memory(o: &Outcome) -> Vec<(u64, u64, i32)> {
    let mut out = Vec::new();
    let mut dumps = 0;
    for m in o.messages() {
        if m == "MEMBLOCK configuration:" {
            dumps += 1;
            continue;
        }
        let m = m.trim_start();
        if dumps != 1 || !m.starts_with("memory[0x") {
            continue;
        }
        let range = m.split('[').nth(2).and_then(|r| r.split(']').next());
        let (a, b) = range.and_then(|r| r.split_once('-')).expect("range");
        let hex = |s: &str| u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap();
        let nid = m
            .split(" on node ")
            .nth(1)
            .and_then(|s| s.split(' ').next()?.parse().ok())
            .unwrap_or(-1);
        out.push((hex(a), hex(b) + 1, nid));
    }
    out
}

/// Control: QEMU's unmodified tree through dtb=initrd boots, and memblock's memory equals
/// that of the same machine booted on the firmware's tree.
#[test]
fn unmodified_tree_from_the_initrd_boots_like_the_firmware_tree() {
    let name = "hostile/control";
    let (o, log) = boot_blob("control", base(), "dtb=initrd memblock=debug");
    expect_success(name, &o);
    check!(
        name,
        o.messages()
            .any(|m| m.starts_with("OF: fdt: device tree from the initrd (dtb=initrd) at ")),
        "the tree did not come from the initrd"
    );
    let fw_name = "hostile/control-firmware";
    let fw = qemu_harness::testing::boot(fw_name, machine("memblock=debug", None));
    expect_success(fw_name, &fw);
    let (got, want) = (memblock_memory(&o), memblock_memory(&fw));
    assert!(!want.is_empty(), "no memblock dump in the firmware boot");
    assert_eq!(
        got,
        want,
        "memblock memory from the initrd tree differs from the firmware's (logs: {} and {})",
        log.display(),
        qemu_harness::testing::log_path(fw_name).display()
    );
    let case = Case {
        name: "control",
        blob: base().to_vec(),
        expect: Expect::Success {
            memory: qemu_harness::machine::memory_ranges(base()).unwrap(),
            lines: vec![],
        },
    };
    hostile::judge(&case, &o).unwrap_or_else(|e| panic!("{e} (log: {})", log.display()));
}

#[test]
fn truncated_blobs_fail_cleanly() {
    for name in [
        "truncated-header",
        "truncated-struct",
        "truncated-strings",
        "truncated-struct-totalsize",
        "truncated-strings-totalsize",
    ] {
        expect_case(name);
    }
}

#[test]
fn overlapping_memory_is_merged() {
    expect_case("overlapping-memory");
}

#[test]
fn memory_beyond_max_physmem_bits_is_ignored_with_a_warning() {
    expect_case("memory-beyond-max-physmem");
}

#[test]
fn memory_larger_than_the_machine_fails_clearly() {
    expect_case("memory-larger-than-ram");
}

#[test]
fn cpu_without_segment_page_sizes() {
    expect_case("cpu-no-segment-page-sizes");
}
