//! QEMU memory-map tests: for each machine, the memory ranges and nodes in the kernel's
//! `memblock=debug` dump must equal what QEMU describes in the device tree it dumps
//! (`-M pseries,dumpdtb=FILE`) for the same options; hot-pluggable memory appears after
//! client-architecture-support; the initrd survives boot byte for byte.

use qemu_harness::check;
use qemu_harness::testing::{boot, expect_success, has};
use qemu_harness::{Firmware, Machine, Outcome, repo_root};

mod common;

const G: u64 = 1 << 30;
const M: u64 = 1 << 20;

/// A memblock region as the dump prints it: (base, end exclusive, node, flags).
type Region = (u64, u64, i32, u32);

/// Parse ` memory[0x0]\t[0x...-0x...], 0x... bytes on node N flags: 0xF` lines of the
/// first `MEMBLOCK configuration:` dump.
fn dumped(o: &Outcome, kind: &str) -> Vec<Region> {
    let prefix = format!("{kind}[0x");
    let mut out = Vec::new();
    let mut in_first = false;
    for m in o.messages() {
        if m == "MEMBLOCK configuration:" {
            if in_first {
                break;
            }
            in_first = true;
            continue;
        }
        let m = m.trim_start();
        if !in_first || !m.starts_with(&prefix) {
            continue;
        }
        let range = m.split('[').nth(2).and_then(|r| r.split(']').next());
        let (a, b) = range.and_then(|r| r.split_once('-')).expect("range");
        let hex = |s: &str| u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap();
        let nid = m
            .split(" on node ")
            .nth(1)
            .map(|s| s.split(' ').next().unwrap().parse().unwrap())
            .unwrap_or(-1);
        let flags = m.rsplit("flags: 0x").next().unwrap();
        out.push((
            hex(a),
            hex(b) + 1,
            nid,
            u32::from_str_radix(flags, 16).unwrap(),
        ));
    }
    out
}

/// Memory as QEMU's own tree describes it: every `memory` node's `reg`, the node from
/// `ibm,associativity` at the first reference point; touching ranges of one node merged.
fn described(name: &str, m: &Machine) -> Vec<Region> {
    let (_, regions) = common::dumped_memory(name, m);
    regions
        .into_iter()
        .map(|(b, e, nid)| (b, e, nid as i32, 0))
        .collect()
}

fn machine(firmware: Firmware, memory: u64, numa: &[u64], smp: u32) -> Machine {
    Machine {
        firmware,
        memory,
        numa: numa.to_vec(),
        smp,
        append: "memblock=debug".into(),
        ..Machine::default()
    }
}

fn memory_map_matches(name: &str, m: Machine) -> Outcome {
    let want = described(name, &m);
    let o = boot(name, m);
    expect_success(name, &o);
    // The kernel negotiated CAS (through the firmware or H_CAS) before reading memory.
    check!(
        name,
        o.messages()
            .any(|m| m.starts_with("prom: ibm,client-architecture-support")
                && m.contains(": done in ")),
        "no successful client-architecture-support"
    );
    let got = dumped(&o, "memory");
    check!(name, got == want, "kernel {got:x?} != QEMU {want:x?}");
    // Dumped twice: after discovery and at the end of boot.
    let dumps = o
        .messages()
        .filter(|m| *m == "MEMBLOCK configuration:")
        .count();
    check!(name, dumps == 2, "{dumps} memblock dumps");
    o
}

/// The configurations of the host fixtures (tests/fixtures/dtb/make.sh).
fn fixture_machines(firmware: Firmware) -> Vec<(&'static str, Machine)> {
    vec![
        ("2g", machine(firmware, 2 * G, &[], 1)),
        ("3g", machine(firmware, 3 * G, &[], 1)),
        ("4g", machine(firmware, 4 * G, &[], 1)),
        ("smp4", machine(firmware, 2 * G, &[], 4)),
        ("numa2", machine(firmware, 3 * G, &[G, 2 * G], 2)),
        (
            "numa4",
            machine(firmware, 4 * G, &[512 * M, G, 1536 * M, G], 4),
        ),
        (
            "2g-maxmem",
            Machine {
                maxmem: Some(8 * G),
                ..machine(firmware, 2 * G, &[], 1)
            },
        ),
    ]
}

/// More shapes than the fixtures: small, large, and nodes that are not powers of two.
fn more_machines(firmware: Firmware) -> Vec<(&'static str, Machine)> {
    vec![
        ("512m", machine(firmware, 512 * M, &[], 1)),
        ("16g", machine(firmware, 16 * G, &[], 1)),
        (
            "numa3-odd",
            machine(firmware, 2560 * M, &[768 * M, 1280 * M, 512 * M], 3),
        ),
    ]
}

#[test]
fn memory_map_equals_qemu_tree_vof() {
    let machines = fixture_machines(Firmware::Vof);
    for (cfg, m) in machines.into_iter().chain(more_machines(Firmware::Vof)) {
        memory_map_matches(&format!("mem_vof_{cfg}"), m);
    }
}

#[test]
fn memory_map_equals_qemu_tree_fdt_entry() {
    for (cfg, m) in fixture_machines(Firmware::None) {
        memory_map_matches(&format!("mem_fdt_{cfg}"), m);
    }
}

#[test]
fn memory_map_equals_qemu_tree_slof_and_firmware_memory_is_released() {
    let name = "mem_slof_numa2";
    let o = memory_map_matches(name, machine(Firmware::Slof, 3 * G, &[G, 2 * G], 2));
    // SLOF's own memory (top of the real-mode area) is reserved while it can be called...
    let claimed = o
        .messages()
        .filter(|m| m.starts_with("memblock_reserve: ") && m.ends_with(" prom_firmware_claimed"))
        .count();
    check!(name, claimed > 0, "SLOF's memory was not reserved");
    // ... and released once the kernel has left it.
    let line = o
        .messages()
        .find(|m| m.starts_with("prom: left the firmware behind after "))
        .unwrap_or_default();
    check!(
        name,
        !line.ends_with(" 0 KiB of its memory released") && !line.is_empty(),
        "firmware memory not released: {line:?}"
    );
    let reserved = dumped(&o, "reserved");
    check!(
        name,
        reserved.iter().any(|r| r.0 <= 0x40_0000 && r.1 > 0x40_0000),
        "kernel image not reserved: {reserved:x?}"
    );
}

fn dimm_machine(firmware: Firmware) -> Machine {
    Machine {
        maxmem: Some(8 * G),
        dimms: vec![G],
        ..machine(firmware, 2 * G, &[], 1)
    }
}

fn expect_cold_plugged_dimm(name: &str, o: &Outcome) {
    expect_success(name, o);
    let got = dumped(o, "memory");
    // memory@0 (2G) plus the DIMM's four 256M LMBs, flagged hot-pluggable (0x1).
    let want: Vec<Region> = vec![(0, 2 * G, 0, 0), (2 * G, 3 * G, 0, 1)];
    check!(name, got == want, "memory {got:x?}");
    check!(
        name,
        has(o, "Memory: ") && o.messages().any(|m| m.contains("K/3145728K available")),
        "total is not 3 GiB"
    );
}

#[test]
fn cold_plugged_dimm_is_found_after_cas_vof_and_fdt_entry() {
    for (name, fw) in [("dimm_vof", Firmware::Vof), ("dimm_fdt", Firmware::None)] {
        let o = boot(name, dimm_machine(fw));
        expect_cold_plugged_dimm(name, &o);
    }
}

#[test]
fn cold_plugged_dimm_is_found_after_cas_slof() {
    let name = "dimm_slof";
    let o = boot(name, dimm_machine(Firmware::Slof));
    expect_cold_plugged_dimm(name, &o);
}

/// The initrd's CRC printed last equals the file's, and its range is reserved.
fn initrd_survives(name: &str, firmware: Firmware) {
    let file = repo_root().join(format!("target/qemu/tests/{name}.img"));
    // Incompressible, odd-sized content.
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let bytes: Vec<u8> = (0..300_001)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, &bytes).unwrap();
    let m = Machine {
        initrd: Some(file),
        ..machine(firmware, 2 * G, &[], 1)
    };
    let o = boot(name, m);
    expect_success(name, &o);
    let msgs: Vec<&str> = o.messages().collect();
    let line = msgs[msgs.len().saturating_sub(2)];
    check!(
        name,
        line.starts_with("initrd: [mem 0x"),
        "the initrd line is not the last before the status: {line:?}"
    );
    let want = format!(" crc32 {:#010x}", sparsek::crc32::crc32(&bytes));
    check!(
        name,
        line.ends_with(&want),
        "{line:?} does not end with {want:?}"
    );
    let range = line
        .split("[mem ")
        .nth(1)
        .unwrap()
        .split(']')
        .next()
        .unwrap();
    let (a, b) = range.split_once('-').unwrap();
    let hex = |s: &str| u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap();
    let (start, end) = (hex(a), hex(b) + 1);
    check!(
        name,
        end - start == bytes.len() as u64,
        "initrd size {range}"
    );
    let reserved = dumped(&o, "reserved");
    check!(
        name,
        reserved.iter().any(|r| r.0 <= start && r.1 >= end),
        "initrd not reserved: {reserved:x?}"
    );
}

#[test]
fn initrd_crc_matches_the_file_vof() {
    initrd_survives("initrd_crc_vof", Firmware::Vof);
}

#[test]
fn initrd_crc_matches_the_file_fdt_entry() {
    initrd_survives("initrd_crc_fdt", Firmware::None);
}
