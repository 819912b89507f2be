//! Tests of the benchmark's figures and reports, built from hand-made boots (no QEMU
//! needed): the parsing of the kernel's `Boot phases:`/`Boot footprint:` lines, the wall
//! times taken from console arrival times (exact: every arrival is a multiple of 1/64 ms),
//! the statistics, the goals, the scaling series and growth, the text and JSON reports,
//! and the configurations.

use super::*;

use crate::boot::ConsoleTiming;
use crate::matrix::describe_machine;

// ---------------------------------------------------------------------------------------
// Helpers: boots

/// Milliseconds since QEMU's launch as a Duration; the value must survive the round trip
/// through `Duration` exactly (multiples of 1/64 ms do), so that results compare with `==`.
fn at(ms: f64) -> Duration {
    let d = Duration::from_secs_f64(ms / 1000.0);
    assert_eq!(d.as_secs_f64() * 1000.0, ms, "{ms} ms is not exact");
    d
}

/// The interval between lines in [`outcome_lines`], in ms.
const STEP: f64 = 15.625;

/// A boot whose console arrived in `pieces` (text, arrival in ms since launch), QEMU's
/// stdout closing at `eof` and the boot lasting `duration` ms.
fn outcome(verdict: Verdict, pieces: &[(&str, f64)], eof: Option<f64>, duration: f64) -> Outcome {
    let mut raw = String::new();
    let mut chunks = Vec::new();
    for &(text, ms) in pieces {
        raw.push_str(text);
        chunks.push((raw.len(), at(ms)));
    }
    let timing = ConsoleTiming::from_chunks(raw.as_bytes(), &chunks, eof.map(at));
    let (qemu_status, reason) = match verdict {
        Verdict::Success => (Some(0), "reboot: Power down"),
        Verdict::KernelFailure => (Some(1), "Kernel panic - not syncing: boom"),
        Verdict::QemuError => (
            Some(1),
            "QEMU exited with status 1 before the kernel printed anything",
        ),
        Verdict::Timeout => (None, "timed out; last kernel line: Zone ranges:"),
    };
    Outcome {
        verdict,
        qemu_status,
        console: raw.replace('\r', ""),
        stderr: String::new(),
        duration: at(duration),
        command: vec![
            "qemu-system-ppc64".into(),
            "-M".into(),
            "pseries,x-vof=on".into(),
        ],
        reason: reason.into(),
        timing,
        stopped: false,
    }
}

/// A boot printing `lines`, each in its own chunk: line `i` (0-based) arrives at
/// `(i + 1) * STEP` ms, QEMU's stdout closes one step after the last line and the boot
/// ends one step later.
fn outcome_lines(verdict: Verdict, lines: &[&str]) -> Outcome {
    let texts: Vec<String> = lines.iter().map(|l| format!("{l}\n")).collect();
    let pieces: Vec<(&str, f64)> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| (t.as_str(), (i + 1) as f64 * STEP))
        .collect();
    let n = lines.len() as f64;
    outcome(verdict, &pieces, Some((n + 1.0) * STEP), (n + 2.0) * STEP)
}

/// When line `i` of an [`outcome_lines`] boot arrived.
fn line_ms(i: usize) -> f64 {
    (i + 1) as f64 * STEP
}

/// SLOF's banner and chatter before the kernel runs (CR LF, escape sequences and all).
const SLOF_BANNER: &str = "\r\n\r\nSLOF\x1b[0m\x1b[?25l **********************************************************************\r\n\
\x1b[1mQEMU Starting\r\n\x1b[0m Build Date = Dec 16 2025 06:10:19\r\n FW Version = release 20220719\r\n \
Press \"s\" to enter Open Firmware.\r\n\r\n\x1b[0m\x1b[?25hC0000C0100C0120Populating /vdevice methods\r\n\
Populating /vdevice/vty@71000000\r\nC08E0C08E8Detected RAM kernel at 400000 (480000 bytes) \r\n\
C08FF     \r\n  Welcome to Open Firmware\r\n\r\n  Copyright (c) 2004, 2017 IBM Corporation All rights reserved.\r\n\
\r\nBooting from memory...\r\n";

const SPARSE_INIT: &str = "[    0.192536] sparse_init: order=v4.19 sections=128 nodes=1 vmemmap_pages=1 psize=16M mappings=1 map_failures=0 unbacked_sections=0 memmap=16384K usemap=1024B time=10261us";
const ZONE_RANGES: &str = "[    0.192987] Zone ranges:";
const PROM_LEFT: &str = "[    0.054232] prom: left the firmware behind after 703 client calls; 0 KiB of its memory released";
const BANNER: &str =
    "sparsek version 0.1.0 (rustc 1.97.0-nightly (e50aa6fba 2026-05-19)) git e22f833f4ada";
const FOOTPRINT_LINE: &str = "[    0.196488] Boot footprint: sections=128 vmemmap_pages=1 vmemmap_distinct=1 h_enter=129 h_enter_vmemmap=1 memmap=16777216B usemap=1024B memblock_reserved=21709824B kernel=4718592B heap_peak=52720B";
const PHASES_LINE: &str = "[    0.196812] Boot phases: entry=13342us cas=9397us flatten=14177us parse=3270us memblock=3302us mmu=7654us sparse_init=14632us memmap_init=13897us selftests=96225us report=468us total=176367us";
const POWER_DOWN: &str = "[    0.209080] reboot: Power down";

/// A successful VOF 2G boot's log, as the kernel prints it.
fn kernel_log() -> Vec<&'static str> {
    vec![
        "[    0.003356] sparsek version 0.1.0 (rustc 1.97.0-nightly (e50aa6fba 2026-05-19)) git e22f833f4ada",
        // (BANNER is this line's message.)
        "[    0.004785] CPU: POWER9 revision 2.0 (pvr 004e 1200)",
        "[    0.005325] Firmware: VOF (client interface at 0x10c), entry MSR 0x0000000000000000 <>",
        "[    0.005619] time: timebase-frequency 512000000 Hz",
        "[    0.005740] Kernel command line: ",
        "[    0.006352] heap: 4096 KiB at 0xc000000000480000",
        "[    0.014401] prom: ibm,client-architecture-support: done in 7339 us (hash MMU, DR memory v1/v2, FORM1)",
        "[    0.024490] prom: flattened VOF tree: 17 nodes, 204 properties, 15141 bytes in 9904 us (692 client calls in all)",
        "[    0.031628] 2048 MiB of memory in 1 memblock region(s); real-mode area 0x40000000 bounds allocations until translation is on",
        PROM_LEFT,
        "[    0.066381] hash-mmu: linear mapping: 128 bolted 16M pages in 1T segments (2048 MiB)",
        "[    0.067110] hash-mmu: translation on (MSR 0x8000000000000033 <SF,IR,DR,RI,LE>); memblock limit raised",
        SPARSE_INIT,
        ZONE_RANGES,
        "[    0.193102]   Normal   [mem 0x0000000000000000-0x000000007fffffff]",
        "[    0.193368] Early memory node ranges",
        "[    0.196185] memmap_init: 32768 struct pages in 128 sections initialised through the vmemmap: 32436 free, 332 reserved (0 of them holes) in 2156us",
        "[    0.196280] KTAP version 1",
        "[    0.196302] 1..2",
        "[    0.196410] ok 1 hash",
        "[    0.196411] ok 2 sparse",
        "[    0.196453] Memory: 2075951K/2097152K available (4608K kernel, 21201K reserved)",
        FOOTPRINT_LINE,
        PHASES_LINE,
        POWER_DOWN,
    ]
}

/// The kernel log with `line` replaced by `with` (None: removed).
fn log_with(line: &str, with: Option<&'static str>) -> Vec<&'static str> {
    let mut log = kernel_log();
    let i = log
        .iter()
        .position(|l| *l == line)
        .expect("a line of the log");
    match with {
        Some(w) => log[i] = w,
        None => {
            log.remove(i);
        }
    }
    log
}

fn map(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|&(k, v)| (k.to_string(), v)).collect()
}

/// The phases of [`PHASES_LINE`].
fn log_phases() -> BTreeMap<String, u64> {
    map(&[
        ("entry", 13342),
        ("cas", 9397),
        ("flatten", 14177),
        ("parse", 3270),
        ("memblock", 3302),
        ("mmu", 7654),
        ("sparse_init", 14632),
        ("memmap_init", 13897),
        ("selftests", 96225),
        ("report", 468),
        ("total", 176367),
    ])
}

/// The footprint of [`FOOTPRINT_LINE`].
fn log_footprint() -> BTreeMap<String, u64> {
    map(&[
        ("sections", 128),
        ("vmemmap_pages", 1),
        ("vmemmap_distinct", 1),
        ("h_enter", 129),
        ("h_enter_vmemmap", 1),
        ("memmap", 16777216),
        ("usemap", 1024),
        ("memblock_reserved", 21709824),
        ("kernel", 4718592),
        ("heap_peak", 52720),
    ])
}

// ---------------------------------------------------------------------------------------
// Helpers: measured results

/// Phase times of a VOF 2G boot (us), in [`PHASES`] order.
const BASE_PHASES: [u64; 10] = [13000, 9000, 14000, 3000, 3000, 7000, 4000, 4000, 8000, 0];

/// A kernel run with `sections` present sections, the phases `phases` (us, [`PHASES`]
/// order; total is their sum), the `sparse_init:` line ending at `sparse_init` ms and
/// `Zone ranges:` at `zone` ms.
fn krun(sparse_init: f64, zone: f64, phases: [u64; 10], sections: u64) -> KernelRun {
    let mut p: BTreeMap<String, u64> = PHASES
        .iter()
        .zip(phases)
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    p.insert("total".into(), phases.iter().sum());
    // 1024 sections' struct pages (16 KiB each) per 16M vmemmap page.
    let vmemmap_pages = sections.div_ceil(1024);
    KernelRun {
        run: 0,
        banner: "sparsek version 0.1.0 (test)".into(),
        first_byte: 10.0,
        sparse_init,
        zone_ranges: zone,
        exit: zone + 20.0,
        first_byte_to_sparse_init: sparse_init - 10.0,
        phases: p,
        footprint: map(&[
            ("sections", sections),
            ("vmemmap_pages", vmemmap_pages),
            ("vmemmap_distinct", vmemmap_pages),
            ("h_enter", sections + vmemmap_pages),
            ("h_enter_vmemmap", vmemmap_pages),
            ("memmap", vmemmap_pages << 24),
            ("usemap", sections * 8),
            ("memblock_reserved", 21709824),
            ("kernel", 4718592),
            ("heap_peak", 52720),
        ]),
        client_calls: Some(703),
        sparse_init_us: phases[6],
    }
}

/// A run whose memory-sized phases (sparse_init, memmap_init, selftests) take `scaling`
/// us in all, split 1:1:2 when it divides (the rest on selftests).
fn scaled(sections: u64, scaling: u64) -> KernelRun {
    let mut p = BASE_PHASES;
    p[6] = scaling / 4;
    p[7] = scaling / 4;
    p[8] = scaling - 2 * (scaling / 4);
    krun(80.0, 81.0, p, sections)
}

/// Bytes in a size as `describe_machine` writes it ("512M", "2G").
fn bytes_of(size: &str) -> u64 {
    crate::machine::parse_size(size).unwrap()
}

/// A configuration's result, as `run` fills it: `machine` as `describe_machine` writes it.
fn config(name: &str, machine: &str, kernel: Vec<KernelRun>) -> ConfigResult {
    let mut words = machine.split(' ');
    let firmware = words.next().unwrap().to_string();
    let memory = bytes_of(words.next().unwrap());
    // Numbered as `run` numbers them, so that run i pairs with floor run i.
    let kernel = kernel
        .into_iter()
        .enumerate()
        .map(|(i, k)| KernelRun { run: i + 1, ..k })
        .collect();
    ConfigResult {
        name: name.into(),
        options: format!("-m {}", machine.split(' ').nth(1).unwrap()),
        machine: machine.into(),
        memory,
        firmware,
        kernel,
        ..Default::default()
    }
}

fn floors(first_bytes: &[f64]) -> Vec<FloorRun> {
    first_bytes
        .iter()
        .enumerate()
        .map(|(i, &f)| FloorRun {
            run: i + 1,
            first_byte: f,
            exit: f + 4.0,
        })
        .collect()
}

/// The goal whose text starts with `prefix` (exactly one).
fn goal(results: &[ConfigResult], prefix: &str) -> Goal {
    let all = goals(results);
    let found: Vec<&Goal> = all.iter().filter(|g| g.goal.starts_with(prefix)).collect();
    assert_eq!(found.len(), 1, "goals starting with '{prefix}': {all:#?}");
    found[0].clone()
}

const GOAL_2G: &str = "2G, VOF: QEMU launch to sparse_init:";
const GOAL_64G: &str = "64G, VOF: QEMU launch to sparse_init:";
const GOAL_LINUX: &str = "2G, VOF: QEMU launch to Zone ranges:";
const GOAL_VMEMMAP: &str = "Hash inserts for the vmemmap";
const GOAL_FLAT: &str = "Time per present section";
const GOAL_QUADRATIC: &str = "No quadratic step";
const GOAL_SLOF: &str = "SLOF:";
const GOAL_FLAT_INSN: &str = "Guest instructions per present section";
const GOAL_QUADRATIC_INSN: &str = "Guest instructions: no quadratic step";

// ---------------------------------------------------------------------------------------
// parse_fields

#[test]
fn parse_fields_reads_the_phases_and_footprint_lines() {
    let phases = strip_stamp(PHASES_LINE);
    assert_eq!(parse_fields(phases, "Boot phases:"), Some(log_phases()));
    let footprint = strip_stamp(FOOTPRINT_LINE);
    assert_eq!(
        parse_fields(footprint, "Boot footprint:"),
        Some(log_footprint())
    );
}

fn strip_stamp(line: &str) -> &str {
    crate::boot::strip_timestamp(line)
}

#[test]
fn parse_fields_units() {
    // us, B and no unit all give the bare number.
    assert_eq!(
        parse_fields("X: a=12us b=34B c=56", "X:"),
        Some(map(&[("a", 12), ("b", 34), ("c", 56)]))
    );
    // Nothing after the prefix: no fields.
    assert_eq!(parse_fields("X:", "X:"), Some(BTreeMap::new()));
    assert_eq!(parse_fields("X:   ", "X:"), Some(BTreeMap::new()));
    // A repeated key keeps the last value.
    assert_eq!(parse_fields("X: a=1 a=2", "X:"), Some(map(&[("a", 2)])));
}

#[test]
fn parse_fields_refuses_malformed_lines() {
    // A word without '='.
    assert_eq!(
        parse_fields("Boot phases: entry 13342us", "Boot phases:"),
        None
    );
    assert_eq!(
        parse_fields("Boot phases: entry=1us cas=2us oops", "Boot phases:"),
        None
    );
    // Values that are not numbers.
    assert_eq!(parse_fields("Boot phases: entry=abc", "Boot phases:"), None);
    assert_eq!(parse_fields("Boot phases: entry=", "Boot phases:"), None);
    assert_eq!(
        parse_fields("Boot phases: entry=-5us", "Boot phases:"),
        None
    );
    assert_eq!(
        parse_fields("Boot phases: entry=1.5us", "Boot phases:"),
        None
    );
    assert_eq!(
        parse_fields("Boot phases: entry=0x10", "Boot phases:"),
        None
    );
    // The sparse_init: line has a non-numeric order=v4.19.
    assert_eq!(parse_fields(strip_stamp(SPARSE_INIT), "sparse_init:"), None);
    // Another line, or the prefix not at the start.
    assert_eq!(
        parse_fields(strip_stamp(FOOTPRINT_LINE), "Boot phases:"),
        None
    );
    assert_eq!(parse_fields(PHASES_LINE, "Boot phases:"), None);
    assert_eq!(parse_fields("boot phases: entry=1us", "Boot phases:"), None);
}

// ---------------------------------------------------------------------------------------
// kernel_run

/// The kernel log behind SLOF's banner, arriving in pieces: the banner at 31.25 ms, the
/// kernel's first line split across 62.5 and 93.75 ms, the `sparse_init:` line across
/// 93.75 and 125 ms, `Zone ranges:` across 125 and 140.625 ms, the rest at 187.5 ms; EOF
/// at 203.125 ms, the boot lasting 218.75 ms.
fn slof_outcome() -> Outcome {
    let log = kernel_log().join("\n") + "\n";
    let find = |s: &str| log.find(s).unwrap_or_else(|| panic!("{s} in the log"));
    let a = find("sion 0.1.0");
    let b = find(" nodes=1 vmemmap_pages=1");
    let c = find(ZONE_RANGES) + "[    0.192987] Zone ra".len();
    let d = c + "nges:\n".len();
    outcome(
        Verdict::Success,
        &[
            (SLOF_BANNER, 31.25),
            (&log[..a], 62.5),
            (&log[a..b], 93.75),
            (&log[b..c], 125.0),
            (&log[c..d], 140.625),
            (&log[d..], 187.5),
        ],
        Some(203.125),
        218.75,
    )
}

#[test]
fn kernel_run_figures() {
    let o = slof_outcome();
    let k = kernel_run(&o).unwrap();
    assert_eq!(
        k,
        KernelRun {
            run: 0,
            banner: BANNER.into(),
            // The kernel's first line started at 62.5 ms; SLOF's text at 31.25 ms is not
            // the kernel's.
            first_byte: 62.5,
            // The ends of the lines, not their starts (93.75 and 125 ms).
            sparse_init: 125.0,
            zone_ranges: 140.625,
            exit: 203.125,
            first_byte_to_sparse_init: 62.5,
            phases: log_phases(),
            footprint: log_footprint(),
            client_calls: Some(703),
            sparse_init_us: 10261,
        }
    );
}

#[test]
fn kernel_run_line_by_line() {
    let log = kernel_log();
    let o = outcome_lines(Verdict::Success, &log);
    let k = kernel_run(&o).unwrap();
    let sparse = log.iter().position(|l| *l == SPARSE_INIT).unwrap();
    let zone = log.iter().position(|l| *l == ZONE_RANGES).unwrap();
    assert_eq!(k.first_byte, line_ms(0));
    assert_eq!(k.sparse_init, line_ms(sparse));
    assert_eq!(k.zone_ranges, line_ms(zone));
    assert_eq!(k.first_byte_to_sparse_init, line_ms(sparse) - line_ms(0));
    assert_eq!(k.exit, line_ms(log.len()));
    assert_eq!(k.sparse_init, 203.125);
    assert_eq!(k.zone_ranges, 218.75);
}

#[test]
fn kernel_run_exit_is_eof_capped_by_the_duration() {
    let log = kernel_log().join("\n") + "\n";
    let run = |eof, duration| {
        kernel_run(&outcome(Verdict::Success, &[(&log, 62.5)], eof, duration))
            .unwrap()
            .exit
    };
    assert_eq!(run(Some(100.0), 125.0), 100.0);
    // The pipe closing after the wait for QEMU ended: the boot's duration.
    assert_eq!(run(Some(150.0), 125.0), 125.0);
    // No EOF recorded: the duration.
    assert_eq!(run(None, 125.0), 125.0);
}

#[test]
fn kernel_run_without_client_interface() {
    // Booted without firmware (--fdt): no prom: line.
    let o = outcome_lines(Verdict::Success, &log_with(PROM_LEFT, None));
    let k = kernel_run(&o).unwrap();
    assert_eq!(k.client_calls, None);
    assert_eq!(k.sparse_init_us, 10261);
    // A prom: line with no number.
    let o = outcome_lines(
        Verdict::Success,
        &log_with(
            PROM_LEFT,
            Some("[    0.054232] prom: left the firmware behind after many client calls"),
        ),
    );
    assert_eq!(kernel_run(&o).unwrap().client_calls, None);
    // SLOF's count.
    let o = outcome_lines(
        Verdict::Success,
        &log_with(
            PROM_LEFT,
            Some(
                "[    0.408328] prom: left the firmware behind after 899 client calls; 35854 KiB of its memory released",
            ),
        ),
    );
    assert_eq!(kernel_run(&o).unwrap().client_calls, Some(899));
}

#[test]
fn kernel_run_needs_a_successful_boot() {
    let log = kernel_log();
    let mut o = outcome_lines(Verdict::KernelFailure, &log);
    assert_eq!(
        kernel_run(&o),
        Err("kernel failure: Kernel panic - not syncing: boom".into())
    );
    o.verdict = Verdict::Timeout;
    o.reason = "timed out; last kernel line: Zone ranges:".into();
    assert_eq!(
        kernel_run(&o),
        Err("timeout: timed out; last kernel line: Zone ranges:".into())
    );
    o.verdict = Verdict::QemuError;
    o.reason = "QEMU exited with status 1 before the kernel printed anything".into();
    assert_eq!(
        kernel_run(&o),
        Err("QEMU error: QEMU exited with status 1 before the kernel printed anything".into())
    );
}

#[test]
fn kernel_run_missing_lines() {
    let err = |log: Vec<&str>| kernel_run(&outcome_lines(Verdict::Success, &log)).unwrap_err();
    assert_eq!(err(log_with(ZONE_RANGES, None)), "no 'Zone ranges:' line");
    assert_eq!(err(log_with(SPARSE_INIT, None)), "no 'sparse_init:' line");
    assert_eq!(err(log_with(PHASES_LINE, None)), "no 'Boot phases:' line");
    assert_eq!(
        err(log_with(FOOTPRINT_LINE, None)),
        "no 'Boot footprint:' line"
    );
    // A line without its timestamp is firmware chatter, not the kernel's.
    assert_eq!(
        err(log_with(ZONE_RANGES, Some("Zone ranges:"))),
        "no 'Zone ranges:' line"
    );
    // No kernel line at all (the verdict says success, but nothing to measure).
    let o = outcome(
        Verdict::Success,
        &[("Booting from memory...\n", 15.625)],
        None,
        31.25,
    );
    assert_eq!(kernel_run(&o).unwrap_err(), "no kernel line");
}

#[test]
fn kernel_run_missing_keys() {
    let err = |line: &str, with: &'static str| {
        kernel_run(&outcome_lines(
            Verdict::Success,
            &log_with(line, Some(with)),
        ))
        .unwrap_err()
    };
    assert_eq!(
        err(
            PHASES_LINE,
            "[    0.196812] Boot phases: entry=13342us cas=9397us flatten=14177us parse=3270us memblock=3302us mmu=7654us sparse_init=14632us selftests=96225us report=468us total=176367us"
        ),
        "'Boot phases:' has no memmap_init"
    );
    assert_eq!(
        err(
            PHASES_LINE,
            "[    0.196812] Boot phases: entry=13342us cas=9397us flatten=14177us parse=3270us memblock=3302us mmu=7654us sparse_init=14632us memmap_init=13897us selftests=96225us report=468us"
        ),
        "'Boot phases:' has no total"
    );
    assert_eq!(
        err(PHASES_LINE, "[    0.196812] Boot phases:"),
        "'Boot phases:' has no entry"
    );
    assert_eq!(
        err(
            FOOTPRINT_LINE,
            "[    0.196488] Boot footprint: sections=128 vmemmap_pages=1 vmemmap_distinct=1 h_enter=129 h_enter_vmemmap=1 memmap=16777216B usemap=1024B memblock_reserved=21709824B kernel=4718592B"
        ),
        "'Boot footprint:' has no heap_peak"
    );
    assert_eq!(
        err(
            SPARSE_INIT,
            "[    0.192536] sparse_init: order=v4.19 sections=128 nodes=1 vmemmap_pages=1 psize=16M"
        ),
        "no time= on the sparse_init: line"
    );
    // time= in another unit.
    assert_eq!(
        err(
            SPARSE_INIT,
            "[    0.192536] sparse_init: order=v4.19 sections=128 time=10ms"
        ),
        "no time= on the sparse_init: line"
    );
}

#[test]
fn kernel_run_malformed_lines() {
    let err = |line: &str, with: &'static str| {
        kernel_run(&outcome_lines(
            Verdict::Success,
            &log_with(line, Some(with)),
        ))
        .unwrap_err()
    };
    assert_eq!(
        err(
            PHASES_LINE,
            "[    0.196812] Boot phases: entry=13342us cas=9397us flatten=? parse=3270us memblock=3302us mmu=7654us sparse_init=14632us memmap_init=13897us selftests=96225us report=468us total=176367us"
        ),
        "malformed 'Boot phases:' line"
    );
    assert_eq!(
        err(
            PHASES_LINE,
            "[    0.196812] Boot phases: entry 13342us cas=9397us"
        ),
        "malformed 'Boot phases:' line"
    );
    assert_eq!(
        err(
            FOOTPRINT_LINE,
            "[    0.196488] Boot footprint: sections=128 vmemmap_pages=one"
        ),
        "malformed 'Boot footprint:' line"
    );
}

// ---------------------------------------------------------------------------------------
// floor_run

#[test]
fn floor_run_takes_the_only_line() {
    // VOF: the power-down line at 62.5 ms, EOF at 78.125 ms.
    let o = outcome(
        Verdict::Success,
        &[("[    0.000713] reboot: Power down\n", 62.5)],
        Some(78.125),
        93.75,
    );
    assert_eq!(
        floor_run(&o),
        Ok(FloorRun {
            run: 0,
            first_byte: 62.5,
            exit: 78.125
        })
    );
    // SLOF's banner before it is not the kernel's.
    let o = outcome(
        Verdict::Success,
        &[
            (SLOF_BANNER, 500.0),
            ("[    0.000713] reboot: Po", 1000.0),
            ("wer down\n", 1015.625),
        ],
        Some(1031.25),
        1031.25,
    );
    assert_eq!(
        floor_run(&o),
        Ok(FloorRun {
            run: 0,
            first_byte: 1000.0,
            exit: 1031.25
        })
    );
}

#[test]
fn floor_run_refuses_a_kernel_that_ran_on() {
    let o = outcome_lines(Verdict::Success, &kernel_log());
    assert_eq!(
        floor_run(&o),
        Err(format!(
            "floor: the kernel printed {} lines, not just 'reboot: Power down' \
             (does it know selftest.poweroff_at_entry?)",
            kernel_log().len()
        ))
    );
    let o = outcome_lines(
        Verdict::Success,
        &[
            "[    0.000600] sparsek version 0.1.0",
            "[    0.000713] reboot: Power down",
        ],
    );
    assert!(
        floor_run(&o)
            .unwrap_err()
            .starts_with("floor: the kernel printed 2 lines,")
    );
}

#[test]
fn floor_run_needs_success() {
    let o = outcome_lines(
        Verdict::KernelFailure,
        &["[    0.000713] Kernel panic - not syncing: boom"],
    );
    assert_eq!(
        floor_run(&o),
        Err("floor: kernel failure: Kernel panic - not syncing: boom".into())
    );
    let mut o = outcome_lines(Verdict::Timeout, &[]);
    o.reason = "timed out; nothing on the console".into();
    assert_eq!(
        floor_run(&o),
        Err("floor: timeout: timed out; nothing on the console".into())
    );
}

// ---------------------------------------------------------------------------------------
// linux_run

/// Linux under VOF: prom_init's unstamped lines, then printk's.
const LINUX_LOG: &[&str] = &[
    "",
    "Preparing to boot Linux version 6.6.0 (build@host) (gcc 13.2.0) #1 SMP",
    "Detected machine type: 0000000000000101",
    "command line: console=hvc0 disable_radix",
    "memory layout at init:",
    "  memory_limit : 0000000000000000 (16 MB aligned)",
    "Booting Linux via __start() @ 0x0000000000440000 ...",
    "[    0.000000] hash-mmu: Page sizes from device-tree:",
    "[    0.000000] Linux version 6.6.0 (build@host) (gcc 13.2.0) #1 SMP",
    "[    0.000000] Using pSeries machine description",
    "[    0.000000] Zone ranges:",
    "[    0.000000]   Normal   [mem 0x0000000000000000-0x000000007fffffff]",
];

#[test]
fn linux_run_times_zone_ranges() {
    // Stopped at Zone ranges: (QEMU killed: the verdict does not matter).
    let mut o = outcome_lines(Verdict::KernelFailure, LINUX_LOG);
    o.stopped = true;
    o.reason = "stopped at the line containing 'Zone ranges:'".into();
    assert_eq!(
        linux_run(&o),
        Ok(LinuxRun {
            // The first non-empty line (line 1), not the empty line 0.
            first_byte: line_ms(1),
            zone_ranges: line_ms(10),
        })
    );
    assert_eq!(line_ms(10), 171.875);
}

#[test]
fn linux_run_first_line_when_whitespace_comes_first() {
    // Whitespace-only lines (CR LF from the firmware) are not the first byte.
    let o = outcome(
        Verdict::KernelFailure,
        &[
            ("\r\n", 15.625),
            ("   \r\n", 31.25),
            ("[    0.000000] Linux version 6.6.0\n", 46.875),
            ("[    0.000000] Zone ranges:\n", 93.75),
        ],
        Some(109.375),
        109.375,
    );
    assert_eq!(
        linux_run(&o),
        Ok(LinuxRun {
            first_byte: 46.875,
            zone_ranges: 93.75
        })
    );
}

#[test]
fn linux_run_without_zone_ranges() {
    let mut o = outcome_lines(Verdict::Timeout, &LINUX_LOG[..10]);
    o.reason = "timed out; last kernel line: Using pSeries machine description".into();
    assert_eq!(
        linux_run(&o),
        Err(
            "Linux: no 'Zone ranges:' line (timeout; timed out; last kernel line: \
             Using pSeries machine description)"
                .into()
        )
    );
}

// ---------------------------------------------------------------------------------------
// Stat

#[test]
fn stat_median_and_range() {
    assert_eq!(
        Stat::of([5.0, 1.0, 3.0]),
        Some(Stat {
            median: 3.0,
            min: 1.0,
            max: 5.0,
            n: 3
        })
    );
    assert_eq!(
        Stat::of([4.0, 1.0, 10.0, 2.0]),
        Some(Stat {
            median: 3.0,
            min: 1.0,
            max: 10.0,
            n: 4
        })
    );
    assert_eq!(
        Stat::of([7.5]),
        Some(Stat {
            median: 7.5,
            min: 7.5,
            max: 7.5,
            n: 1
        })
    );
    // NaN (a missing figure) and infinities are left out.
    assert_eq!(
        Stat::of([f64::NAN, 2.0, f64::INFINITY, 6.0]),
        Some(Stat {
            median: 4.0,
            min: 2.0,
            max: 6.0,
            n: 2
        })
    );
    assert_eq!(Stat::of([]), None);
    assert_eq!(Stat::of([f64::NAN]), None);
}

#[test]
fn stat_spread_is_half_the_range() {
    assert_eq!(Stat::of([1.0, 4.0, 2.0]).unwrap().spread(), 1.5);
    assert_eq!(Stat::of([9.0]).unwrap().spread(), 0.0);
    assert_eq!(
        Stat::of([80.0, 82.0, 81.0]).unwrap().json(),
        json!({"median": 81.0, "min": 80.0, "max": 82.0, "n": 3})
    );
}

// ---------------------------------------------------------------------------------------
// ConfigResult

#[test]
fn phase_ms_is_the_median_in_ms() {
    let mut runs = Vec::new();
    for selftests in [98000, 96000, 97000] {
        let mut p = BASE_PHASES;
        p[8] = selftests;
        runs.push(krun(80.0, 81.0, p, 128));
    }
    let r = config("2G", "vof 2G 16M", runs);
    assert_eq!(r.phase_ms("selftests"), Some(97.0));
    assert_eq!(r.phase_ms("entry"), Some(13.0));
    // total = the sum of the middle run's phases.
    assert_eq!(r.phase_ms("total"), Some(154.0));
    assert_eq!(config("2G", "vof 2G 16M", vec![]).phase_ms("total"), None);
}

#[test]
fn footprint_is_the_rounded_median() {
    let mut a = krun(80.0, 81.0, BASE_PHASES, 128);
    let mut b = a.clone();
    a.footprint.insert("h_enter".into(), 129);
    b.footprint.insert("h_enter".into(), 130);
    let r = config("2G", "vof 2G 16M", vec![a.clone(), b]);
    // 129.5 rounds away from zero.
    assert_eq!(r.footprint("h_enter"), Some(130));
    assert_eq!(r.footprint("sections"), Some(128));
    assert_eq!(r.footprint("memmap"), Some(16 << 20));
    let r = config("2G", "vof 2G 16M", vec![a]);
    assert_eq!(r.footprint("h_enter"), Some(129));
    assert_eq!(
        config("2G", "vof 2G 16M", vec![]).footprint("h_enter"),
        None
    );
}

#[test]
fn vmemmap_inserts_against_pages() {
    let good = krun(80.0, 81.0, BASE_PHASES, 4096);
    assert_eq!(good.footprint["vmemmap_pages"], 4);
    let r = config("64G", "vof 64G 16M", vec![good.clone(), good.clone()]);
    assert_eq!(r.vmemmap_inserts_equal_distinct(), Some(true));
    // One run inserted a page twice.
    let mut bad = good.clone();
    bad.footprint.insert("h_enter_vmemmap".into(), 5);
    let r = config("64G", "vof 64G 16M", vec![good.clone(), bad]);
    assert_eq!(r.vmemmap_inserts_equal_distinct(), Some(false));
    // A run without the figure at all.
    let mut missing = good.clone();
    missing.footprint.remove("h_enter_vmemmap");
    let r = config("64G", "vof 64G 16M", vec![missing]);
    assert_eq!(r.vmemmap_inserts_equal_distinct(), Some(false));
    assert_eq!(
        config("64G", "vof 64G 16M", vec![]).vmemmap_inserts_equal_distinct(),
        None
    );
}

#[test]
fn per_section_and_per_gib() {
    // 16000 us over 128 sections and 2 GiB.
    let r = config("2G", "vof 2G 16M", vec![scaled(128, 16000)]);
    assert_eq!(per_section_us(&r), Some((125.0, 8000.0)));
    let r = config("64G", "vof 64G 16M", vec![scaled(4096, 640000)]);
    assert_eq!(per_section_us(&r), Some((156.25, 10000.0)));
    assert_eq!(per_section_us(&config("2G", "vof 2G 16M", vec![])), None);
    assert_eq!(
        per_section_us(&config("2G", "vof 2G 16M", vec![scaled(0, 16000)])),
        None
    );
}

// ---------------------------------------------------------------------------------------
// goals

#[test]
fn goals_are_all_listed() {
    let names: Vec<String> = goals(&[]).into_iter().map(|g| g.goal).collect();
    assert_eq!(names.len(), 9, "{names:#?}");
    for (g, prefix) in names.iter().zip([
        GOAL_2G,
        GOAL_64G,
        GOAL_LINUX,
        GOAL_VMEMMAP,
        GOAL_FLAT,
        GOAL_QUADRATIC,
        GOAL_FLAT_INSN,
        GOAL_QUADRATIC_INSN,
        GOAL_SLOF,
    ]) {
        assert!(g.starts_with(prefix), "{g}");
    }
    // Nothing measured: none met or missed.
    assert!(goals(&[]).iter().all(|g| g.met.is_none()));
}

#[test]
fn floor_goal_2g_at_its_limit() {
    let r = |sparse: [f64; 3], floor: [f64; 3]| {
        let mut c = config(
            "2G",
            "vof 2G 16M",
            sparse
                .iter()
                .map(|&s| krun(s, s + 1.0, BASE_PHASES, 128))
                .collect(),
        );
        c.floor = floors(&floor);
        goal(&[c], GOAL_2G)
    };
    // Medians 80 and 30: exactly 50 ms over the floor.
    let g = r([79.0, 80.0, 90.0], [29.0, 30.0, 31.0]);
    assert_eq!(
        g.goal,
        "2G, VOF: QEMU launch to sparse_init: within 50 ms of the floor (QEMU launch to the \
         floor kernel's first byte)"
    );
    assert_eq!(
        g.measured,
        "+50.0 ms: median of 3 kernel/floor pairs (+50.0 to +59.0); medians: sparse_init: at \
         80.0 ms, floor 30.0 ms; the kernel's own first byte to sparse_init: 70.0 ms"
    );
    assert_eq!(g.met, Some(true));
    // Half a millisecond more.
    let g = r([80.5, 80.5, 80.5], [30.0, 30.0, 30.0]);
    assert_eq!(
        g.measured,
        "+50.5 ms: median of 3 kernel/floor pairs (+50.5 to +50.5); medians: sparse_init: at \
         80.5 ms, floor 30.0 ms; the kernel's own first byte to sparse_init: 70.5 ms"
    );
    assert_eq!(g.met, Some(false));
}

#[test]
fn floor_goal_64g_at_its_limit() {
    let r = |sparse: f64, floor: f64| {
        let mut c = config(
            "64G",
            "vof 64G 16M",
            vec![krun(sparse, sparse + 2.0, BASE_PHASES, 4096)],
        );
        c.floor = floors(&[floor]);
        goal(&[c], GOAL_64G)
    };
    let g = r(280.0, 30.0);
    assert!(g.goal.contains("within 250 ms of the floor"), "{}", g.goal);
    assert_eq!(
        g.measured,
        "+250.0 ms: median of 1 kernel/floor pairs (+250.0 to +250.0); medians: sparse_init: at \
         280.0 ms, floor 30.0 ms; the kernel's own first byte to sparse_init: 270.0 ms"
    );
    assert_eq!(g.met, Some(true));
    // A quarter of a millisecond more.
    let g = r(280.25, 30.0);
    assert_eq!(g.met, Some(false));
    let g = r(290.5, 40.0);
    assert_eq!(
        g.measured,
        "+250.5 ms: median of 1 kernel/floor pairs (+250.5 to +250.5); medians: sparse_init: at \
         290.5 ms, floor 40.0 ms; the kernel's own first byte to sparse_init: 280.5 ms"
    );
    assert_eq!(g.met, Some(false));
    // The 64G goal does not look at the 2G configuration, nor 2G's at 64G's.
    let mut c = config(
        "64G",
        "vof 64G 16M",
        vec![krun(500.0, 501.0, BASE_PHASES, 4096)],
    );
    c.floor = floors(&[30.0]);
    assert_eq!(goal(std::slice::from_ref(&c), GOAL_2G).met, None);
    assert_eq!(goal(&[c], GOAL_64G).met, Some(false));
}

#[test]
fn floor_goals_not_measured() {
    // No configurations.
    let g = goal(&[], GOAL_2G);
    assert_eq!(
        g.measured,
        "not measured (no 2G configuration, or no kernel run with a successful floor run)"
    );
    assert_eq!(g.met, None);
    let g = goal(&[], GOAL_64G);
    assert_eq!(
        g.measured,
        "not measured (no 64G configuration, or no kernel run with a successful floor run)"
    );
    assert_eq!(g.met, None);
    // The configuration, but every kernel boot failed.
    let mut c = config("2G", "vof 2G 16M", vec![]);
    c.floor = floors(&[30.0]);
    c.failures = vec!["run 1: no 'Zone ranges:' line".into()];
    assert_eq!(goal(std::slice::from_ref(&c), GOAL_2G).met, None);
    // Kernel runs but no floor.
    let c = config("2G", "vof 2G 16M", vec![krun(80.0, 81.0, BASE_PHASES, 128)]);
    assert_eq!(goal(&[c], GOAL_2G).met, None);
}

#[test]
fn linux_goal() {
    let with_linux = |ours: f64, linux: &[f64]| {
        let mut c = config(
            "2G",
            "vof 2G 16M",
            vec![krun(ours - 1.0, ours, BASE_PHASES, 128)],
        );
        c.linux = linux
            .iter()
            .map(|&z| LinuxRun {
                first_byte: 20.0,
                zone_ranges: z,
            })
            .collect();
        goal(&[c], GOAL_LINUX)
    };
    // 45 ms against 100 ms: exactly 0.45x.
    let g = with_linux(45.0, &[90.0, 100.0, 110.0]);
    assert_eq!(
        g.goal,
        "2G, VOF: QEMU launch to Zone ranges: in well under half of Linux's time (at most 0.45x)"
    );
    assert_eq!(g.measured, "45.0 ms against Linux's 100.0 ms (0.45x)");
    assert_eq!(g.met, Some(true));
    let g = with_linux(45.5, &[100.0]);
    assert_eq!(g.measured, "45.5 ms against Linux's 100.0 ms (0.46x)");
    assert_eq!(g.met, Some(false));
    // Without --linux.
    let g = with_linux(45.0, &[]);
    assert_eq!(
        g.measured,
        "not measured (no 2G run of both kernels: run with --linux VMLINUX)"
    );
    assert_eq!(g.met, None);
    // Linux runs on another configuration only.
    let mut c = config(
        "16G",
        "vof 16G 16M",
        vec![krun(60.0, 61.0, BASE_PHASES, 1024)],
    );
    c.linux = vec![LinuxRun {
        first_byte: 20.0,
        zone_ranges: 500.0,
    }];
    assert_eq!(goal(&[c], GOAL_LINUX).met, None);
}

#[test]
fn vmemmap_goal() {
    let two = config("2G", "vof 2G 16M", vec![krun(80.0, 81.0, BASE_PHASES, 128)]);
    let sixty_four = config(
        "64G",
        "vof 64G 16M",
        vec![krun(200.0, 201.0, BASE_PHASES, 4096)],
    );
    let failed = config("16G", "vof 16G 16M", vec![]);
    let g = goal(
        &[two.clone(), sixty_four.clone(), failed.clone()],
        GOAL_VMEMMAP,
    );
    assert_eq!(
        g.goal,
        "Hash inserts for the vmemmap equal the distinct vmemmap pages, at every size"
    );
    assert_eq!(g.measured, "equal in every run of all 2 configurations");
    assert_eq!(g.met, Some(true));
    let mut bad = sixty_four.clone();
    bad.kernel[0].footprint.insert("h_enter_vmemmap".into(), 8);
    let mut bad2 = two.clone();
    bad2.name = "2G-64K".into();
    bad2.kernel[0].footprint.insert("h_enter_vmemmap".into(), 0);
    let g = goal(&[two.clone(), bad, bad2], GOAL_VMEMMAP);
    assert_eq!(g.measured, "different in 64G, 2G-64K");
    assert_eq!(g.met, Some(false));
    let g = goal(&[failed], GOAL_VMEMMAP);
    assert_eq!(g.met, None);
}

#[test]
fn flat_goal_met_and_missed() {
    let sizes = |us_64g: u64| {
        vec![
            config("64G", "vof 64G 16M", vec![scaled(4096, us_64g)]),
            config("2G", "vof 2G 16M", vec![scaled(128, 16000)]),
        ]
    };
    // 125 us per section at 2G, 156.25 at 64G: 1.25x, the limit.
    let g = goal(&sizes(640000), GOAL_FLAT);
    assert_eq!(
        g.goal,
        "Time per present section and per GiB (sparse_init + memmap_init + selftests) flat from \
         the smallest to the largest size"
    );
    assert!(
        g.measured
            .starts_with("2G 125.0 us/section 8.0 ms/GiB, 64G 156."),
        "{}",
        g.measured
    );
    assert!(
        g.measured
            .ends_with("; largest rise over a smaller size 1.25x (64G)"),
        "{}",
        g.measured
    );
    assert_eq!(g.met, Some(true));
    // 187.5 us per section at 64G: 1.5x.
    let g = goal(&sizes(768000), GOAL_FLAT);
    assert_eq!(
        g.measured,
        "2G 125.0 us/section 8.0 ms/GiB, 64G 187.5 us/section 12.0 ms/GiB; largest rise over a \
         smaller size 1.50x (64G)"
    );
    assert_eq!(g.met, Some(false));
    // Cheaper per section at 64G (62.5 us): met.
    let g = goal(&sizes(256000), GOAL_FLAT);
    assert_eq!(
        g.measured,
        "2G 125.0 us/section 8.0 ms/GiB, 64G 62.5 us/section 4.0 ms/GiB; largest rise over a \
         smaller size 0.50x (64G)"
    );
    assert_eq!(g.met, Some(true));
}

#[test]
fn flat_goal_compares_with_the_cheapest_smaller_size() {
    // 2G 100, 16G 125, 64G 130 us per section: 64G is only 1.04x 16G's cost, but 1.3x
    // the cheapest smaller size's (2G).
    let results = vec![
        config("2G", "vof 2G 16M", vec![scaled(128, 12800)]),
        config("16G", "vof 16G 16M", vec![scaled(1024, 128000)]),
        config("64G", "vof 64G 16M", vec![scaled(4096, 532480)]),
    ];
    let g = goal(&results, GOAL_FLAT);
    assert!(
        g.measured
            .ends_with("; largest rise over a smaller size 1.30x (64G)"),
        "{}",
        g.measured
    );
    assert_eq!(g.met, Some(false));
    // The worst of several rises is reported: 16G at 2x, 64G at 1.2x.
    let results = vec![
        config("2G", "vof 2G 16M", vec![scaled(128, 16000)]),
        config("16G", "vof 16G 16M", vec![scaled(1024, 256000)]),
        config("64G", "vof 64G 16M", vec![scaled(4096, 614400)]),
    ];
    let g = goal(&results, GOAL_FLAT);
    assert!(
        g.measured
            .ends_with("; largest rise over a smaller size 2.00x (16G)"),
        "{}",
        g.measured
    );
    assert_eq!(g.met, Some(false));
}

#[test]
fn flat_goal_needs_two_sizes_of_the_series() {
    // One VOF 16M size; the others are not in the series.
    let results = vec![
        config("2G", "vof 2G 16M", vec![scaled(128, 16000)]),
        config("2G-64K", "vof 2G 64K", vec![scaled(128, 64000)]),
        config(
            "numa2-4G",
            "vof 4G 16M numa=2G,2G",
            vec![scaled(256, 64000)],
        ),
        config("slof-2G", "slof 2G 16M", vec![scaled(128, 64000)]),
        config("64G", "vof 64G 16M", vec![]),
    ];
    let g = goal(&results, GOAL_FLAT);
    assert_eq!(g.measured, "not measured (fewer than two sizes)");
    assert_eq!(g.met, None);
}

/// A run with the selftests phase at `selftests` us and `report` at `report` us.
fn with_phases(sections: u64, selftests: u64, report: u64) -> KernelRun {
    let mut p = BASE_PHASES;
    p[8] = selftests;
    p[9] = report;
    krun(80.0, 81.0, p, sections)
}

#[test]
fn quadratic_goal() {
    // 2G -> 64G: 32x the memory; superlinear means more than 48x the time.
    let two = |selftests, report| {
        config(
            "2G",
            "vof 2G 16M",
            vec![with_phases(128, selftests, report)],
        )
    };
    let big = |selftests, report| {
        config(
            "64G",
            "vof 64G 16M",
            vec![with_phases(4096, selftests, report)],
        )
    };
    // Exactly 48x: not flagged.
    let g = goal(&[two(10000, 100), big(480000, 100)], GOAL_QUADRATIC);
    assert_eq!(
        g.goal,
        "No quadratic step in boot: no phase grows more than 1.5x faster than memory"
    );
    assert_eq!(g.measured, "none in 1 size steps (table 'Growth')");
    assert_eq!(g.met, Some(true));
    // 49x and 480 ms more: flagged.
    let g = goal(&[two(10000, 100), big(490000, 100)], GOAL_QUADRATIC);
    assert_eq!(g.measured, "selftests 2G->64G x49.0 for x32 memory");
    assert_eq!(g.met, Some(false));
    // 80x but only 3.95 ms more: jitter, not flagged.
    let g = goal(&[two(10000, 50), big(480000, 4000)], GOAL_QUADRATIC);
    assert_eq!(g.met, Some(true), "{}", g.measured);
    // 80x and 7.9 ms more: flagged.
    let g = goal(&[two(10000, 100), big(480000, 8000)], GOAL_QUADRATIC);
    assert_eq!(g.measured, "report 2G->64G x80.0 for x32 memory");
    assert_eq!(g.met, Some(false));
    // Not measured with one size.
    let g = goal(&[two(10000, 100)], GOAL_QUADRATIC);
    assert_eq!(g.measured, "not measured (fewer than two sizes)");
    assert_eq!(g.met, None);
}

#[test]
fn superlinear_needs_both_conditions() {
    assert!(!superlinear(4.0, 6.0, 100.0));
    assert!(superlinear(4.0, 6.01, 100.0));
    assert!(!superlinear(4.0, 100.0, 5.0));
    assert!(superlinear(4.0, 100.0, 5.01));
    assert!(!superlinear(4.0, f64::NAN, 100.0));
}

#[test]
fn slof_goal_reports_client_calls() {
    let mut slof_run = krun(480.0, 481.0, BASE_PHASES, 128);
    slof_run.first_byte_to_sparse_init = 400.0;
    slof_run.client_calls = Some(899);
    let slof = config("slof-2G", "slof 2G 16M", vec![slof_run]);
    let g = goal(&[slof], GOAL_SLOF);
    assert_eq!(
        g.goal,
        "SLOF: the kernel's first byte to sparse_init: (reported), client-interface calls kept low"
    );
    assert_eq!(g.measured, "slof-2G: 400.0 ms, 899 client calls");
    assert_eq!(g.met, None);
    // No figure for the calls.
    let mut slof_run = krun(480.0, 481.0, BASE_PHASES, 128);
    slof_run.client_calls = None;
    let g = goal(
        &[config("slof-2G", "slof 2G 16M", vec![slof_run])],
        GOAL_SLOF,
    );
    assert_eq!(g.measured, "slof-2G: 470.0 ms, ? client calls");
    // VOF only, or a SLOF configuration without runs.
    let g = goal(
        &[
            config("2G", "vof 2G 16M", vec![krun(80.0, 81.0, BASE_PHASES, 128)]),
            config("slof-2G", "slof 2G 16M", vec![]),
        ],
        GOAL_SLOF,
    );
    assert_eq!(g.measured, "not measured (no SLOF configuration)");
    assert_eq!(g.met, None);
}

// ---------------------------------------------------------------------------------------
// growth and the series

/// Results in no particular order, with configurations outside the series.
fn mixed_results() -> Vec<ConfigResult> {
    vec![
        config("64G", "vof 64G 16M", vec![with_phases(4096, 384000, 1000)]),
        config(
            "numa2-4G",
            "vof 4G 16M numa=2G,2G",
            vec![with_phases(256, 24000, 0)],
        ),
        config("2G-64K", "vof 2G 64K", vec![with_phases(128, 90000, 0)]),
        config("2G", "vof 2G 16M", vec![with_phases(128, 12000, 0)]),
        config("slof-2G", "slof 2G 16M", vec![with_phases(128, 12000, 0)]),
        config("16G", "vof 16G 16M", vec![with_phases(1024, 96000, 500)]),
        // No successful run: not in the series.
        config("8G", "vof 8G 16M", vec![]),
    ]
}

#[test]
fn growth_follows_the_series() {
    let results = mixed_results();
    let g = growth(&results);
    let steps: Vec<(&str, &str, f64)> = g.iter().map(|(a, b, m, _)| (*a, *b, *m)).collect();
    assert_eq!(steps, [("2G", "16G", 8.0), ("16G", "64G", 4.0)]);
    let phase = |i: usize, p: &str| {
        g[i].3
            .iter()
            .find(|x| x.0 == p)
            .map(|&(_, r, d)| (r, d))
            .unwrap()
    };
    assert_eq!(
        g[0].3.iter().map(|x| x.0).collect::<Vec<_>>(),
        PHASES.iter().chain(&["total"]).copied().collect::<Vec<_>>()
    );
    assert_eq!(phase(0, "selftests"), (8.0, 84.0));
    assert_eq!(phase(1, "selftests"), (4.0, 288.0));
    assert_eq!(phase(0, "entry"), (1.0, 0.0));
    // From zero: no ratio.
    let (r, d) = phase(0, "report");
    assert!(r.is_nan(), "{r}");
    assert_eq!(d, 0.5);
    assert_eq!(phase(1, "report"), (2.0, 0.5));
    // total: 57 ms plus selftests and report.
    assert_eq!(phase(0, "total"), (153.5 / 69.0, 84.5));
}

#[test]
fn the_series_is_vof_single_node_16m() {
    let results = mixed_results();
    let names: Vec<&str> = series(&results).iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["2G", "16G", "64G"]);
    // One configuration per size: the first given.
    let mut results = mixed_results();
    results.push(config(
        "2G-smp2",
        "vof 2G 16M smp=2",
        vec![with_phases(128, 1, 0)],
    ));
    let names: Vec<&str> = series(&results).iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["2G", "16G", "64G"]);
    // Booted without firmware: not VOF.
    let mut results = mixed_results();
    results.push(config(
        "fdt-1G",
        "fdt 1G 16M",
        vec![with_phases(64, 6000, 0)],
    ));
    let names: Vec<&str> = series(&results).iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["2G", "16G", "64G"]);
    // Nothing outside it: no growth.
    let outside: Vec<ConfigResult> = mixed_results()
        .into_iter()
        .filter(|r| !["2G", "16G", "64G"].contains(&r.name.as_str()))
        .collect();
    assert!(growth(&outside).is_empty());
}

#[test]
fn the_series_leaves_out_64k_pages_at_16m_of_memory() {
    let results = vec![
        config("16M-64K", "vof 16M 64K", vec![with_phases(1, 1000, 0)]),
        config("2G", "vof 2G 16M", vec![with_phases(128, 12000, 0)]),
    ];
    let names: Vec<&str> = series(&results).iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["2G"]);
}

#[test]
fn the_default_configurations_in_the_series() {
    // As `run` fills the results from the configurations.
    let results: Vec<ConfigResult> = default_configs("1T")
        .iter()
        .map(|c| {
            let machine = describe_machine(&c.machine);
            ConfigResult {
                name: c.name.clone(),
                options: c.options.clone(),
                firmware: machine.split(' ').next().unwrap().to_string(),
                machine,
                memory: c.machine.memory,
                kernel: vec![krun(80.0, 81.0, BASE_PHASES, c.machine.memory >> 24)],
                ..Default::default()
            }
        })
        .collect();
    let names: Vec<&str> = series(&results).iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["512M", "2G", "16G", "64G", "largest"]);
    let machines: Vec<&str> = results.iter().map(|r| r.machine.as_str()).collect();
    assert_eq!(
        machines,
        [
            "vof 512M 16M",
            "vof 2G 16M",
            "vof 2G 64K",
            "vof 16G 16M",
            "vof 64G 16M",
            "vof 1024G 16M",
            "vof 4G 16M numa=2G,2G",
            "vof 4G 16M numa=1G,1G,1G,1G",
            "slof 2G 16M",
        ]
    );
}

// ---------------------------------------------------------------------------------------
// columns

fn row(cells: &[&str]) -> Vec<String> {
    cells.iter().map(|s| s.to_string()).collect()
}

#[test]
fn columns_align() {
    let text = columns(&[
        row(&["CONFIG", "RUNS", "EXIT"]),
        row(&["2G", "5", "81.0±1.0"]),
        row(&["largest", "10", "-"]),
    ]);
    assert_eq!(
        text,
        "CONFIG   RUNS      EXIT\n\
         2G          5  81.0±1.0\n\
         largest    10         -\n"
    );
}

#[test]
fn columns_trim_trailing_spaces() {
    let text = columns(&[
        row(&["LONG NAME", "X"]),
        row(&["a"]),
        row(&["b", ""]),
        row(&[]),
    ]);
    assert_eq!(text, "LONG NAME  X\na\nb\n\n");
    assert!(text.lines().all(|l| l == l.trim_end()));
    assert_eq!(columns(&[]), "");
}

// ---------------------------------------------------------------------------------------
// report

/// The results of a short benchmark: 2G (two runs, a floor, Linux), 64G, and SLOF at 2G
/// with a failed run.
fn bench_results() -> Vec<ConfigResult> {
    let mut two = config(
        "2G",
        "vof 2G 16M",
        vec![
            krun(80.0, 81.0, BASE_PHASES, 128),
            krun(82.0, 83.0, BASE_PHASES, 128),
        ],
    );
    two.floor = floors(&[30.0, 30.0]);
    two.linux = vec![
        LinuxRun {
            first_byte: 40.0,
            zone_ranges: 200.0,
        },
        LinuxRun {
            first_byte: 40.0,
            zone_ranges: 210.0,
        },
    ];
    let mut big = config("64G", "vof 64G 16M", vec![with_phases(4096, 256000, 0)]);
    big.floor = floors(&[40.0]);
    let mut slof = config(
        "slof-2G",
        "slof 2G 16M",
        vec![krun(480.0, 481.0, BASE_PHASES, 128)],
    );
    slof.kernel[0].client_calls = Some(899);
    slof.floor = floors(&[400.0]);
    slof.failures = vec!["run 2: timeout: timed out; last kernel line: Zone ranges:".into()];
    vec![two, big, slof]
}

/// The report's blocks (heading, then its table or list).
fn blocks(report: &str) -> Vec<&str> {
    report.split("\n\n").collect()
}

fn block<'a>(report: &'a str, heading: &str) -> &'a str {
    let found: Vec<&str> = blocks(report)
        .into_iter()
        .filter(|b| b.starts_with(heading))
        .collect();
    assert_eq!(found.len(), 1, "'{heading}' in:\n{report}");
    found[0]
}

/// The row of a table block whose first cell is `name`, split into cells.
fn cells<'a>(block: &'a str, name: &str) -> Vec<&'a str> {
    let rows: Vec<Vec<&str>> = block
        .lines()
        .map(|l| {
            l.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect::<Vec<_>>()
        })
        .filter(|c: &Vec<&str>| c.first() == Some(&name))
        .collect();
    assert_eq!(rows.len(), 1, "row '{name}' in:\n{block}");
    rows[0].clone()
}

#[test]
fn report_tables() {
    let results = bench_results();
    let text = report(&results, false);
    let headings = [
        "Wall clock from QEMU launch",
        "Against the floor",
        "Kernel phases from the timebase",
        "Counts and memory",
        "Scaling (sparse_init + memmap_init + selftests, medians)",
        "Growth:",
        "Goals",
        "Boots without figures",
    ];
    assert_eq!(blocks(&text).len(), headings.len(), "{text}");
    for (b, h) in blocks(&text).iter().zip(headings) {
        assert!(b.starts_with(h), "{h}:\n{b}");
    }
    // A row per configuration in each of the first four tables.
    for h in &headings[..4] {
        let b = block(&text, h);
        assert_eq!(b.lines().count(), 2 + results.len(), "{b}");
        for r in &results {
            cells(b, &r.name);
        }
    }
    // Without --linux no Linux columns.
    assert!(!text.contains("LINUX ZONE"), "{text}");
    assert!(!text.contains("OURS/LINUX"), "{text}");
    assert!(text.ends_with('\n'));
}

#[test]
fn report_figures() {
    let text = report(&bench_results(), false);
    let wall = block(&text, "Wall clock");
    assert_eq!(
        wall.lines()
            .nth(1)
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>(),
        [
            "CONFIG",
            "RUNS",
            "FLOOR",
            "1ST",
            "FLOOR",
            "EXIT",
            "1ST",
            "BYTE",
            "SPARSE_INIT",
            "ZONE",
            "RANGES",
            "EXIT"
        ]
    );
    assert_eq!(
        cells(wall, "2G"),
        [
            "2G",
            "2",
            "30.0±0.0",
            "34.0±0.0",
            "10.0±0.0",
            "81.0±1.0",
            "82.0±1.0",
            "102.0±1.0"
        ]
    );
    let against = block(&text, "Against the floor");
    assert_eq!(
        cells(against, "2G"),
        [
            "2G", "-20.0", "x0.33", "+51.0", "x2.70", "+52.0", "x2.73", "+68.0", "x3.00"
        ]
    );
    let phases = block(&text, "Kernel phases");
    assert_eq!(
        cells(phases, "2G"),
        [
            "2G", "13.0", "9.0", "14.0", "3.0", "3.0", "7.0", "4.0", "4.0", "8.0", "0.0", "65.0",
            "4.0"
        ]
    );
    let counts = block(&text, "Counts and memory");
    assert_eq!(
        cells(counts, "2G"),
        [
            "2G", "128", "1", "1", "129", "1", "yes", "16M", "1024B", "20M", "4608K", "51K", "703"
        ]
    );
    assert_eq!(
        cells(counts, "64G"),
        [
            "64G", "4096", "4", "4", "4100", "4", "yes", "64M", "32K", "20M", "4608K", "51K", "703"
        ]
    );
    assert_eq!(cells(counts, "slof-2G")[12], "899");
    let scaling = block(&text, "Scaling");
    // 16000 us over 128 sections and 2 GiB; the whole boot 65 ms over 2 GiB.
    assert_eq!(
        cells(scaling, "2G"),
        ["2G", "2", "128", "125.00", "8.000", "32.500"]
    );
    assert_eq!(cells(scaling, "64G")[..4], ["64G", "64", "4096", "64.45"]);
    assert!(!scaling.contains("slof-2G"), "{scaling}");
    let growth = block(&text, "Growth");
    let step = cells(growth, "2G->64G");
    assert_eq!(step[1], "x32");
    // selftests: 8 -> 256 ms (x32, not flagged).
    assert_eq!(step[2 + 8], "x32.00");
    // report: 0 -> 0, no ratio.
    assert_eq!(step[2 + 9], "-");
    let goals = block(&text, "Goals");
    assert!(
        goals.contains("  [MISSED] 2G, VOF: QEMU launch to sparse_init:"),
        "{goals}"
    );
    assert!(
        goals.contains("         +51.0 ms: median of 2 kernel/floor pairs (+50.0 to +52.0)"),
        "{goals}"
    );
    assert!(
        goals.contains("  [met] 2G, VOF: QEMU launch to Zone ranges:"),
        "{goals}"
    );
    assert!(goals.contains("  [report] SLOF:"), "{goals}");
    assert!(
        goals.contains("slof-2G: 470.0 ms, 899 client calls"),
        "{goals}"
    );
}

#[test]
fn report_flags_growth_and_missed_goals() {
    let results = vec![
        config("2G", "vof 2G 16M", vec![with_phases(128, 10000, 0)]),
        config("64G", "vof 64G 16M", vec![with_phases(4096, 490000, 0)]),
    ];
    let text = report(&results, false);
    let step = cells(block(&text, "Growth"), "2G->64G");
    assert_eq!(step[2 + 8], "x49.00!");
    assert_eq!(step[2], "x1.00");
    assert!(
        text.contains("  [MISSED] No quadratic step in boot"),
        "{text}"
    );
    // No failures: no such block.
    assert!(!text.contains("Boots without figures"), "{text}");
}

#[test]
fn report_with_linux() {
    let text = report(&bench_results(), true);
    let wall = block(&text, "Wall clock");
    let head = wall.lines().nth(1).unwrap();
    assert!(head.ends_with("EXIT  LINUX ZONE  OURS/LINUX"), "{head}");
    // 82 ms against Linux's 205 ms.
    assert_eq!(cells(wall, "2G")[8..], ["205.0±5.0", "0.40"]);
    // No Linux runs on 64G.
    assert_eq!(cells(wall, "64G")[8..], ["-", "-"]);
    let goals = block(&text, "Goals");
    assert!(
        goals.contains(
            "  [met] 2G, VOF: QEMU launch to Zone ranges: in well under half of Linux's time \
             (at most 0.45x)\n         82.0 ms against Linux's 205.0 ms (0.40x)"
        ),
        "{goals}"
    );
}

#[test]
fn report_lists_failures() {
    let mut results = bench_results();
    results[1]
        .failures
        .push("run 3 floor: floor: kernel failure: QEMU exited 1 without a panic line".into());
    let text = report(&results, false);
    assert!(
        text.ends_with(
            "\nBoots without figures\n\
             \x20 64G: run 3 floor: floor: kernel failure: QEMU exited 1 without a panic line\n\
             \x20 slof-2G: run 2: timeout: timed out; last kernel line: Zone ranges:\n"
        ),
        "{text}"
    );
}

#[test]
fn report_without_runs() {
    let mut failed = config("2G", "vof 2G 16M", vec![]);
    failed.failures = vec!["run 1: no 'Zone ranges:' line".into()];
    let text = report(&[failed], true);
    let wall = block(&text, "Wall clock");
    assert_eq!(
        cells(wall, "2G"),
        ["2G", "0", "-", "-", "-", "-", "-", "-", "-", "-"]
    );
    assert!(!text.contains("\nScaling"), "{text}");
    assert!(!text.contains("\nGrowth"), "{text}");
    assert_eq!(cells(block(&text, "Counts and memory"), "2G")[5], "-");
    assert!(text.ends_with("\nBoots without figures\n  2G: run 1: no 'Zone ranges:' line\n"));
}

// ---------------------------------------------------------------------------------------
// report_json

#[test]
fn report_json_structure() {
    let results = bench_results();
    let about = json!({"host": "test", "runs": 2});
    let doc = report_json(&results, about.clone());
    assert_eq!(doc["about"], about);
    let configs = doc["configs"].as_array().unwrap();
    assert_eq!(configs.len(), 3);
    let c = &configs[0];
    assert_eq!(c["name"], "2G");
    assert_eq!(c["machine"], "vof 2G 16M");
    assert_eq!(c["memory_bytes"], 2u64 << 30);
    assert_eq!(c["firmware"], "vof");
    let s = &c["summary"];
    assert_eq!(s["phases_ms"]["total"]["median"], 65.0);
    assert_eq!(
        s["phases_ms"]["selftests"],
        json!({"median": 8.0, "min": 8.0, "max": 8.0, "n": 2})
    );
    assert_eq!(
        s["phases_ms"].as_object().unwrap().keys().count(),
        PHASES.len() + 1
    );
    assert_eq!(
        s["sparse_init_ms"],
        json!({"median": 81.0, "min": 80.0, "max": 82.0, "n": 2})
    );
    assert_eq!(s["floor_first_byte_ms"]["median"], 30.0);
    assert_eq!(s["floor_exit_ms"]["median"], 34.0);
    assert_eq!(s["linux_zone_ranges_ms"]["median"], 205.0);
    assert_eq!(s["footprint"]["sections"], 128);
    assert_eq!(s["footprint"]["memmap"], 16u64 << 20);
    assert_eq!(s["per_section_us"], 125.0);
    assert_eq!(s["per_gib_us"], 8000.0);
    assert_eq!(s["vmemmap_inserts_equal_distinct"], true);
    assert_eq!(s["client_calls"], 703);
    let runs = c["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[1]["sparse_init_ms"], 82.0);
    assert_eq!(runs[1]["zone_ranges_ms"], 83.0);
    assert_eq!(runs[0]["phases_us"]["total"], 65000);
    assert_eq!(runs[0]["footprint"]["h_enter"], 129);
    assert_eq!(runs[0]["sparse_init_time_us"], 4000);
    assert_eq!(
        c["floor_runs"],
        json!([{"first_byte_ms": 30.0, "exit_ms": 34.0}, {"first_byte_ms": 30.0, "exit_ms": 34.0}])
    );
    assert_eq!(
        c["linux_runs"],
        json!([{"first_byte_ms": 40.0, "zone_ranges_ms": 200.0}, {"first_byte_ms": 40.0, "zone_ranges_ms": 210.0}])
    );
    assert_eq!(c["failures"], json!([]));
    assert_eq!(
        configs[2]["failures"],
        json!(["run 2: timeout: timed out; last kernel line: Zone ranges:"])
    );
    assert_eq!(configs[2]["summary"]["client_calls"], 899);
    assert_eq!(configs[1]["summary"]["linux_zone_ranges_ms"], Value::Null);
    let goals = doc["goals"].as_array().unwrap();
    assert_eq!(goals.len(), 9);
    let met: Vec<&Value> = goals.iter().map(|g| &g["met"]).collect();
    // 2G +51 ms over the floor: missed; 64G +40 ms: met; 82 ms against Linux's 205 ms:
    // met; vmemmap equal; per section 125 then 64.45 us: flat; selftests x32 for x32
    // memory; no icount boots: the instruction goals unmeasured; SLOF reported.
    assert_eq!(
        met,
        [
            &json!(false),
            &json!(true),
            &json!(true),
            &json!(true),
            &json!(true),
            &json!(true),
            &Value::Null,
            &Value::Null,
            &Value::Null
        ]
    );
    assert!(goals[0]["goal"].as_str().unwrap().starts_with(GOAL_2G));
    assert_eq!(
        goals[0]["measured"],
        "+51.0 ms: median of 2 kernel/floor pairs (+50.0 to +52.0); medians: sparse_init: at \
         81.0 ms, floor 30.0 ms; the kernel's own first byte to sparse_init: 71.0 ms"
    );
}

#[test]
fn report_json_without_runs() {
    let doc = report_json(&[config("2G", "vof 2G 16M", vec![])], Value::Null);
    let s = &doc["configs"][0]["summary"];
    assert_eq!(s["phases_ms"]["total"], Value::Null);
    assert_eq!(s["footprint"]["sections"], Value::Null);
    assert_eq!(s["per_section_us"], Value::Null);
    assert_eq!(s["vmemmap_inserts_equal_distinct"], Value::Null);
    assert_eq!(doc["configs"][0]["runs"], json!([]));
    assert!(
        doc["goals"]
            .as_array()
            .unwrap()
            .iter()
            .all(|g| g["met"].is_null())
    );
}

// ---------------------------------------------------------------------------------------
// Config

#[test]
fn config_options() {
    let c = Config::new("numa2", "--vof -m 2G --numa 1G,1G").unwrap();
    assert_eq!(c.name, "numa2");
    assert_eq!(c.options, "--vof -m 2G --numa 1G,1G");
    assert_eq!(c.machine.firmware, Firmware::Vof);
    assert_eq!(c.machine.memory, 2 << 30);
    assert_eq!(c.machine.numa, [1 << 30, 1 << 30]);
    assert!(c.machine.hpt_16m);
    let c = Config::new("big", "--vof -m 64G --reserve-off --no-16m --timeout 120").unwrap();
    assert!(c.machine.reserve_off);
    assert!(!c.machine.hpt_16m);
    assert_eq!(c.timeout, Duration::from_secs(120));
    let c = Config::new("args", "--vof --append 'debug x=1'").unwrap();
    assert_eq!(c.machine.append, "debug x=1");
    let c = Config::new("slof", "").unwrap();
    assert_eq!(c.machine.firmware, Firmware::Slof);
    assert_eq!(c.machine.memory, 2 << 30);
}

#[test]
fn config_refuses_runner_options() {
    for options in [
        "--vof --kernel /tmp/k",
        "--log /tmp/l.log",
        "--vof --gdb",
        "--help",
        "-h",
    ] {
        assert_eq!(
            Config::new("x", options).unwrap_err(),
            "x: --help, --kernel, --log and --gdb are not configuration options",
            "{options}"
        );
    }
}

#[test]
fn config_errors_name_the_configuration() {
    let err = Config::new("bad", "--vof --bogus").unwrap_err();
    assert_eq!(err, "bad: unknown option '--bogus' (see --help)");
    assert_eq!(
        Config::new("bad", "--vof -m").unwrap_err(),
        "bad: -m needs a value"
    );
    assert_eq!(
        Config::new("q", "--append 'x").unwrap_err(),
        "q: unclosed single quote"
    );
    assert_eq!(
        Config::new("n", "-m 3G --numa 1G,1G").unwrap_err(),
        "n: -m (3072 MiB) differs from the sum of --numa sizes (2048 MiB)"
    );
}

#[test]
fn config_default_timeout_is_300_s() {
    assert_eq!(
        Config::new("2G", "--vof -m 2G").unwrap().timeout,
        Duration::from_secs(300)
    );
}

#[test]
fn default_configurations() {
    let list = default_configs("1T");
    let names: Vec<&str> = list.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "512M", "2G", "2G-64K", "16G", "64G", "largest", "numa2-4G", "numa4-4G", "slof-2G"
        ]
    );
    let largest = &list[5];
    assert_eq!(largest.options, "--vof -m 1T --reserve-off");
    assert_eq!(largest.machine.memory, 1 << 40);
    assert!(largest.machine.reserve_off);
    assert_eq!(largest.machine.firmware, Firmware::Vof);
    assert_eq!(list[8].machine.firmware, Firmware::Slof);
    assert_eq!(list[4].options, "--vof -m 64G --reserve-off");
    assert_eq!(list[7].machine.numa, [1 << 30; 4]);
    let list = default_configs("");
    let names: Vec<&str> = list.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "512M", "2G", "2G-64K", "16G", "64G", "numa2-4G", "numa4-4G", "slof-2G"
        ]
    );
    assert_eq!(
        default_configs("256G")[5].options,
        "--vof -m 256G --reserve-off"
    );
}

/// A 16M-page VOF configuration with an icount boot whose memory-sized phases cost
/// `kinsn_per_section` thousand instructions per section.
fn with_icount(name: &str, gib: u64, kinsn_per_section: f64) -> ConfigResult {
    let sections = gib * 64;
    let mut c = config(
        name,
        &format!("vof {gib}G 16M"),
        vec![with_phases(sections, 1000, 0)],
    );
    let mut k = c.kernel[0].clone();
    let total = (kinsn_per_section * sections as f64) as u64;
    k.phases.insert("sparse_init".into(), total / 10);
    k.phases
        .insert("memmap_init".into(), total - total / 10 - total / 2);
    k.phases.insert("selftests".into(), total / 2);
    k.phases.insert("total".into(), total + 1000);
    k.footprint.insert("sections".into(), sections);
    c.icount = Some(k);
    c
}

#[test]
fn instruction_goals_flat_and_linear() {
    let results = vec![
        with_icount("2G", 2, 20.0),
        with_icount("16G", 16, 19.5),
        with_icount("64G", 64, 19.4),
    ];
    let g = goals(&results);
    let flat = g
        .iter()
        .find(|g| g.goal.starts_with(GOAL_FLAT_INSN))
        .unwrap();
    assert_eq!(flat.met, Some(true), "{}", flat.measured);
    assert!(
        flat.measured.contains("2G 20.0K/section"),
        "{}",
        flat.measured
    );
    let quad = g
        .iter()
        .find(|g| g.goal.starts_with(GOAL_QUADRATIC_INSN))
        .unwrap();
    assert_eq!(quad.met, Some(true), "{}", quad.measured);
    assert!(quad.measured.starts_with("none in 2 size steps"));
    let growth = insn_growth(&results);
    assert_eq!(growth.len(), 2);
    let (_, _, mem, phases) = &growth[1];
    assert_eq!(*mem, 4.0);
    let memmap = phases.iter().find(|p| p.0 == "memmap_init").unwrap();
    assert!((memmap.1 - 4.0 * 19.4 / 19.5).abs() < 0.01, "{memmap:?}");
}

#[test]
fn instruction_goals_catch_a_quadratic_phase() {
    let results = vec![
        with_icount("2G", 2, 20.0),
        with_icount("16G", 16, 20.0 * 8.0),
    ];
    let g = goals(&results);
    let flat = g
        .iter()
        .find(|g| g.goal.starts_with(GOAL_FLAT_INSN))
        .unwrap();
    assert_eq!(flat.met, Some(false), "{}", flat.measured);
    assert!(flat.measured.contains("8.00x (16G)"), "{}", flat.measured);
    let quad = g
        .iter()
        .find(|g| g.goal.starts_with(GOAL_QUADRATIC_INSN))
        .unwrap();
    assert_eq!(quad.met, Some(false));
    assert!(
        quad.measured
            .contains("memmap_init 2G->16G x64.0 for x8 memory"),
        "{}",
        quad.measured
    );
    // The tables show it.
    let text = report(&results, false);
    assert!(text.contains("Guest instructions, millions"), "{text}");
    assert!(text.contains("Instruction growth"), "{text}");
    let doc = report_json(&results, json!({}));
    assert!(doc["configs"][0]["icount_run"]["per_section_kinsn"].is_number());
    assert_eq!(
        doc["configs"][0]["icount_run"]["footprint"]["sections"],
        128
    );
}

#[test]
fn instruction_goals_unmeasured_without_icount_boots() {
    let results = vec![
        config("2G", "vof 2G 16M", vec![with_phases(128, 1000, 0)]),
        config("16G", "vof 16G 16M", vec![with_phases(1024, 1000, 0)]),
    ];
    let g = goals(&results);
    for prefix in [GOAL_FLAT_INSN, GOAL_QUADRATIC_INSN] {
        let goal = g.iter().find(|g| g.goal.starts_with(prefix)).unwrap();
        assert_eq!(goal.met, None, "{}", goal.goal);
        assert!(goal.measured.starts_with("not measured"));
    }
}

#[test]
fn the_floor_goal_pairs_each_kernel_run_with_its_own_floor_run() {
    // A slow host moment hits run 3's floor (90 ms) but not its kernel run: paired, every
    // run is 30 ms over its floor (run 3: -28); the medians alone would say -8.
    let mut c = config(
        "2G",
        "vof 2G 16M",
        [100.0, 61.0, 62.0]
            .iter()
            .map(|&s| krun(s, s + 1.0, BASE_PHASES, 128))
            .collect(),
    );
    c.floor = floors(&[70.0, 31.0, 90.0]);
    let g = goal(std::slice::from_ref(&c), GOAL_2G);
    assert!(
        g.measured
            .starts_with("+30.0 ms: median of 3 kernel/floor pairs (-28.0 to +30.0)"),
        "{}",
        g.measured
    );
    assert_eq!(g.met, Some(true));
    // A floor run that failed leaves its kernel run unpaired, not paired with another.
    c.floor.remove(0);
    assert_eq!(
        c.paired(|k| k.sparse_init, |f| f.first_byte),
        vec![(30.0, 61.0 / 31.0), (-28.0, 62.0 / 90.0)]
    );
    let g = goal(&[c], GOAL_2G);
    assert!(
        g.measured
            .starts_with("+1.0 ms: median of 2 kernel/floor pairs"),
        "{}",
        g.measured
    );
}

#[test]
fn vmemmap_goal_compares_inserts_with_distinct_pages_not_blocks() {
    // The mmotm 64K failure: 128 blocks allocated and mapped for 32 distinct pages.
    let mut k = krun(80.0, 81.0, BASE_PHASES, 128);
    k.footprint.insert("vmemmap_pages".into(), 128);
    k.footprint.insert("vmemmap_distinct".into(), 32);
    k.footprint.insert("h_enter_vmemmap".into(), 128);
    let c = config("2G-64K", "vof 2G 64K", vec![k.clone()]);
    assert_eq!(c.vmemmap_inserts_equal_distinct(), Some(false));
    let g = goal(&[c], GOAL_VMEMMAP);
    assert_eq!(g.met, Some(false));
    assert_eq!(g.measured, "different in 2G-64K");
    // Each distinct page inserted once, whatever the H_ENTER calls that failed on the way.
    k.footprint.insert("vmemmap_pages".into(), 32);
    k.footprint.insert("h_enter_vmemmap".into(), 32);
    k.footprint.insert("h_enter".into(), 5000);
    let c = config("2G-64K", "vof 2G 64K", vec![k]);
    assert_eq!(c.vmemmap_inserts_equal_distinct(), Some(true));
}
