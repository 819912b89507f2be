//! The fuzz targets' bodies, one function per target, each taking any bytes.
//!
//! A target fails by panicking (libFuzzer turns the panic into a crash and keeps the
//! input). The same functions replay the committed corpus in `tests/corpus.rs`, so the
//! plain host test suite runs every input the fuzzers found interesting.
//!
//! - [`fdt`]: the FDT reader on a hostile blob, then what early boot does with the tree
//!   (memory discovery, reservations, initrd, firmware claims, and memblock fed the way
//!   `early_init_devtree` feeds it), then the hash MMU's (the CPU node's page sizes, and
//!   the linear mapping bolted into the model of the hypervisor's table, every reported
//!   insert checked there), then sparse init (v4.19) on the same machine model: no vmemmap
//!   page mapped twice, and when every section got its memory map, every `sparse`
//!   self-check passes. Nothing may panic.
//! - [`memblock`]: random memblock operations checked against a model
//!   ([`sparsek::mm::memblock::fuzzing::run`], which panics on a disagreement).
//! - [`cmdline`]: the command-line splitter and the boot parameters on any text.
//! - [`expect`]: the QEMU harness's `.expect` parser on any text, every file it accepts
//!   evaluated against a real boot log (or one made of the input) and QEMU's tree of the
//!   machine; the same text with CRLF line ends behind a blank line must parse and judge
//!   alike, one line later; errors name a line of the text. The matrix-file parser and
//!   the KTAP parser see the text too. Texts whose regexes would take seconds to compile
//!   in the instrumented build are only given to those two.

use std::fmt::Write as _;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use qemu_harness::expect::{Boot, Expectations, ParseError, Vars, Verdict};
use qemu_harness::machine::{Machine, MemoryRange, memory_ranges};
use qemu_harness::matrix::Matrix;
use qemu_harness::{boot as console, exit, ktap};
use sparsek::bootparam::{self, BootParams};
use sparsek::cmdline;
use sparsek::fdt::{Fdt, FdtError, Node};
use sparsek::mm::hash::hpte::{HPTE_V_HYPERVISOR_BITS, PROT_KERNEL_RW};
use sparsek::mm::hash::model::HptModel;
use sparsek::mm::hash::{
    BoltOptions, CpuMmuInfo, GroupPolicy, HashGeometry, MmuChoice, bolt_mapping,
};
use sparsek::mm::memblock::{Memblock, RegionFlags};
use sparsek::mm::sparse::checks::{Inputs, sparse_selftests};
use sparsek::mm::sparse::memmap::memmap_init;
use sparsek::mm::sparse::model::HostMachine;
use sparsek::mm::sparse::{Ctx, HashParams, Order, Sparse};
use sparsek::printk::Level;
use sparsek::prom::{memory, reserve};

/// Nodes whose path is looked up again with `find_node` and `path_at` (both rescan the
/// structure block, so doing it for every node of a large tree would be quadratic).
const LOOKUPS: usize = 32;
/// The kernel's linear mapping base.
const PAGE_OFFSET: u64 = 0xc000_0000_0000_0000;
/// Nodes the walk visits at most: a blob of a few KiB holds fewer, this only bounds time.
const MAX_NODES: usize = 4096;
/// Paths every tree is asked for: the ones boot code looks up, and near misses.
const PATHS: &[&str] = &[
    "/",
    "",
    "//",
    "/chosen",
    "/chosen/",
    "/memory",
    "/memory@0",
    "/memory@",
    "/reserved-memory",
    "/cpus",
    "/cpus/PowerPC,POWER9@0",
    "/ibm,dynamic-reconfiguration-memory",
    "/rtas",
    "/vdevice/vty@71000000",
    "/no/such/node",
    "@",
];

/// Everything the FDT reader offers, on any bytes; when the blob parses, memory discovery,
/// reservations and memblock too. Panics only if the reader contradicts itself: a blob
/// that `validate` accepts must be walkable without an error.
pub fn fdt(data: &[u8]) {
    let fdt = match Fdt::new(data) {
        Ok(fdt) => fdt,
        Err(e) => {
            black_box(e.to_string());
            return;
        }
    };
    // SAFETY: `data` is readable for `data.len()` bytes, which bounds every read.
    if let Ok(again) = unsafe { Fdt::from_ptr(data.as_ptr(), data.len()) } {
        assert_eq!(
            again.as_bytes(),
            fdt.as_bytes(),
            "from_ptr and new disagree"
        );
    }
    black_box(fdt.header());

    for r in fdt.reservations() {
        if let Err(e) = r {
            describe(&fdt, e);
        }
    }

    let valid = fdt.validate();
    if let Err(e) = valid {
        describe(&fdt, e);
    }

    let walk = walk(&fdt);
    if valid.is_ok() {
        assert_eq!(
            walk.error, None,
            "validate() accepted a tree the walk fails on"
        );
    }
    if let Some(e) = walk.error {
        describe(&fdt, e);
    }
    for path in walk
        .paths
        .iter()
        .map(String::as_str)
        .chain(PATHS.iter().copied())
    {
        match fdt.find_node(path) {
            Ok(Some(node)) => {
                black_box(fdt.path_at(node.offset));
                black_box(node.property("reg").ok());
            }
            Ok(None) => {}
            Err(e) => describe(&fdt, e),
        }
    }
    // Offsets the input chooses, and ones past the end.
    for chunk in data.chunks_exact(4).take(4) {
        let off = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        black_box(fdt.path_at(off as usize));
    }
    black_box(fdt.path_at(data.len()));
    black_box(fdt.path_at(usize::MAX));

    boot(&fdt);
}

/// What [`walk`] saw.
struct Walk {
    /// Paths of the first [`LOOKUPS`] nodes.
    paths: Vec<String>,
    /// The first error met, if any.
    error: Option<FdtError>,
}

/// Visit every node and property depth first, without recursion (a hostile tree can nest
/// as deep as its size allows: the depth limit in `children` is relative to the node).
fn walk(fdt: &Fdt) -> Walk {
    let mut out = Walk {
        paths: Vec::new(),
        error: None,
    };
    let mut stack: Vec<(Node, String)> = vec![(fdt.root(), "/".to_string())];
    let mut visited = 0;
    while let Some((node, path)) = stack.pop() {
        visited += 1;
        if visited > MAX_NODES {
            break;
        }
        if out.paths.len() < LOOKUPS {
            out.paths.push(path.clone());
        }
        for p in node.properties() {
            match p {
                Ok(p) => {
                    black_box((
                        p.as_str(),
                        p.as_u32(),
                        p.cells().fold(0u32, u32::wrapping_add),
                    ));
                }
                Err(e) => {
                    out.error.get_or_insert(e);
                }
            }
        }
        let mut children = Vec::new();
        for c in node.children() {
            match c {
                Ok(c) => {
                    let mut child_path = path.clone();
                    if !child_path.ends_with('/') {
                        child_path.push('/');
                    }
                    child_path.push_str(c.name);
                    children.push((c, child_path));
                }
                Err(e) => {
                    out.error.get_or_insert(e);
                }
            }
        }
        // Visit in tree order.
        stack.extend(children.into_iter().rev());
    }
    out
}

/// Format an error and name the node it is in, as the boot log would.
fn describe(fdt: &Fdt, e: FdtError) {
    let mut s = String::new();
    let _ = write!(s, "{e} (in {})", fdt.path_at(e.offset));
    black_box(s);
}

fn discard(_: Level, _: std::fmt::Arguments<'_>) {}

/// The tree's way through early boot (`early_init_devtree`): discovery, reservations,
/// initrd, firmware claims, all into memblock. Errors are fine (the kernel stops with a
/// message); panics are not.
fn boot(fdt: &Fdt) {
    let mut mb = Memblock::new();
    mb.set_log_sink(discard);
    mb.set_debug(true);
    match memory::discover(fdt) {
        Ok(map) => {
            black_box(map.total());
            for note in &map.notes {
                black_box((note.subsystem(), note.to_string()));
            }
            for r in &map.ranges {
                black_box(r.end());
                let flags = if r.hotplug {
                    RegionFlags::HOTPLUG
                } else {
                    RegionFlags::empty()
                };
                let _ = mb.add_node(r.base, r.size, r.nid as i32, flags, "fuzz");
            }
        }
        Err(e) => {
            black_box(e.to_string());
        }
    }
    match reserve::reservations(fdt) {
        Ok((rsv, unhonoured)) => {
            for r in &rsv {
                let _ = mb.reserve(r.base, r.size, "fuzz");
            }
            black_box(unhonoured);
        }
        Err(e) => {
            black_box(e.to_string());
        }
    }
    match reserve::chosen_initrd(fdt) {
        Ok(Some((s, e))) => {
            let _ = mb.reserve(s, e - s, "fuzz");
        }
        Ok(None) => {}
        Err(e) => {
            black_box(e.to_string());
        }
    }
    match reserve::firmware_claimed(fdt) {
        Ok(claimed) => {
            let others: Vec<(u64, u64)> = mb.reserved().iter().map(|r| (r.base, r.size)).collect();
            for (b, s) in reserve::subtract(&claimed, &others) {
                let _ = mb.reserve(b, s, "fuzz");
            }
        }
        Err(e) => {
            black_box(e.to_string());
        }
    }
    black_box((mb.phys_mem_size(), mb.reserved_size(), mb.free_size()));
    mb.dump_all();
    hash_mmu(fdt, &mut mb);
}

/// Largest hashed page table the fuzzer models (2^18 bytes: 16K entries); a larger one
/// in the tree is modelled at this size (a smaller hash mask, the same logic).
const MODEL_PFT_MAX: u32 = 18;
/// Most linear-mapping pages bolted per input.
const MODEL_PAGES_MAX: u64 = 4096;
/// Most present sections sparse init runs for (16 GiB), and most for which struct pages
/// are initialised and the self-checks run (4 GiB).
const SPARSE_SECTIONS_MAX: u64 = 1024;
const SPARSE_CHECKED_MAX: u64 = 256;

/// The hash MMU's way (`early_init_mmu`): the CPU node's page sizes, Linux's choice, and
/// the linear mapping of memblock's memory bolted into the model of the hypervisor's
/// table. Every insert the bolting reports must be in the table where it says.
fn hash_mmu(fdt: &Fdt, mb: &mut Memblock) {
    let info = match CpuMmuInfo::from_fdt(fdt) {
        Ok(info) => info,
        Err(e) => {
            black_box(e.to_string());
            return;
        }
    };
    for l in &info.page_sizes.lines {
        black_box(l.to_string());
    }
    for one_tb_off in [false, true] {
        let choice = MmuChoice::choose(&info, mb.phys_mem_size(), one_tb_off);
        let mut line = String::new();
        let _ = choice.write_page_orders(&mut line);
        black_box(line);
    }
    let pft_size = info.pft_size.min(MODEL_PFT_MAX);
    let choice = MmuChoice::choose(&info, mb.phys_mem_size(), false);
    let geo = HashGeometry {
        sizes: info.page_sizes.clone(),
        hash_mask: (1 << (pft_size - 7)) - 1,
    };
    let ram: Vec<(u64, u64)> = mb.memory().iter().map(|r| (r.base, r.end())).collect();
    let mut model = HptModel::new(pft_size, &info.page_sizes.segments, &ram);
    let opts = BoltOptions {
        rflags: PROT_KERNEL_RW,
        ..BoltOptions::default()
    };
    let step = choice.linear.size();
    let mut budget = MODEL_PAGES_MAX;
    for &(base, end) in &ram {
        let pages = (end / step).saturating_sub(base.div_ceil(step));
        if pages > budget {
            break;
        }
        budget -= pages;
        let mut bolted = Vec::new();
        let res = bolt_mapping(
            &mut model,
            &geo,
            PAGE_OFFSET + base,
            PAGE_OFFSET + end,
            base,
            choice.linear,
            choice.ssize,
            &opts,
            &mut |b| bolted.push(*b),
        );
        for b in &bolted {
            let e = model
                .entry(b.ptex())
                .expect("a reported slot is inside the table");
            assert_eq!(
                e.v & !HPTE_V_HYPERVISOR_BITS,
                b.hpte.v & !HPTE_V_HYPERVISOR_BITS,
                "{b}: V differs in the table"
            );
            assert_eq!(e.r, b.hpte.r, "{b}: R differs in the table");
        }
        match res {
            Ok(n) => assert_eq!(n as usize, bolted.len(), "count differs from the inserts"),
            Err(e) => {
                black_box((e.code(), e.to_string()));
                break;
            }
        }
    }
    let sections: u64 = ram
        .iter()
        .map(|&(b, e)| (e.div_ceil(1 << 24)).saturating_sub(b >> 24))
        .sum();
    if sections == 0 || sections > SPARSE_SECTIONS_MAX {
        return;
    }
    sparse_init(mb, model, &geo, &info, &choice, &ram, sections);
}

/// Sparse init (v4.19) on the machine the tree describes, its table holding what fitted
/// of the linear mapping (the host machine reaches the linear mapping directly): nothing may panic (the host machine panics on an access the MMU could
/// not translate or outside RAM); a vmemmap page is never mapped twice; and when every
/// section got its memory map, every self-check passes.
fn sparse_init(
    mb: &mut Memblock,
    model: HptModel,
    geo: &HashGeometry,
    info: &CpuMmuInfo,
    choice: &MmuChoice,
    ram: &[(u64, u64)],
    sections: u64,
) {
    let sizes = ram.iter().map(|&(b, e)| (b, e - b)).collect::<Vec<_>>();
    let mut m = HostMachine::new(
        MODEL_PFT_MAX.min(info.pft_size),
        &info.page_sizes,
        &sizes,
        choice.ssize,
        choice.vmemmap,
    );
    m.hpt = model;
    let hash = HashParams {
        geo,
        ssize: choice.ssize,
        vmemmap_psize: choice.vmemmap,
        policy: GroupPolicy::PrimaryOnly,
    };
    let reserved_before: Vec<(u64, u64)> = mb.reserved().iter().map(|r| (r.base, r.size)).collect();
    let mut sparse = Sparse::new(Order::V419, choice.vmemmap);
    let report = {
        let mut log = |_: Level, args: std::fmt::Arguments<'_>| {
            black_box(args.to_string());
        };
        let mut on_bolt = |b: &sparsek::mm::hash::Bolted| {
            black_box(b.to_string());
        };
        let mut ctx = Ctx {
            m: &mut m,
            mb: &mut *mb,
            hash,
            log: &mut log,
            on_bolt: &mut on_bolt,
        };
        if let Err(e) = sparse.memblocks_present(&mut ctx) {
            black_box(e.to_string());
            return;
        }
        match sparse.sparse_init(&mut ctx) {
            Ok(r) => r,
            Err(e) => panic!("v4.19 has no temporary arrays, yet: {e}"),
        }
    };
    black_box(report.to_string());
    assert!(
        report.mappings <= report.vmemmap_pages,
        "{report}: more mappings than blocks"
    );
    let mut per_page = std::collections::BTreeMap::new();
    for b in &sparse.vmemmap.blocks {
        *per_page.entry(b.virt).or_insert(0) += 1;
    }
    assert!(
        per_page.values().all(|&n| n == 1),
        "{report}: a vmemmap page got two blocks"
    );
    if sections > SPARSE_CHECKED_MAX || report.unbacked_sections != 0 || report.map_failures != 0 {
        return;
    }
    let stats = memmap_init(&mut m, mb, &sparse);
    let checks = sparse_selftests(
        &mut m,
        &Inputs {
            mb,
            sparse: &sparse,
            hash,
            reserved_before: &reserved_before,
            memmap: stats,
        },
    );
    for c in &checks {
        assert!(c.ok, "{report}: not ok {} # {}", c.name, c.diag);
    }
}

/// memblock against its model: panics on the first disagreement, naming the operation.
pub fn memblock(data: &[u8]) {
    black_box(sparsek::mm::memblock::fuzzing::run(data));
}

/// The command-line splitter and the boot parameters on any text (invalid UTF-8 is
/// replaced, so every input is a command line). Every parameter must be a piece of the
/// command line it came from.
pub fn cmdline(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let line: &str = &text;
    let range = line.as_bytes().as_ptr_range();
    let inside = |s: &str| {
        let r = s.as_bytes().as_ptr_range();
        range.start <= r.start && r.end <= range.end
    };
    for p in cmdline::parse(line) {
        assert!(inside(p.name), "name {:?} is not part of the line", p.name);
        black_box(bootparam::is_known(p.name));
        if let Some(v) = p.value {
            assert!(inside(v), "value {v:?} is not part of the line");
            black_box(cmdline::parse_int(v));
        }
        black_box(cmdline::name_eq(p.name, "loglevel"));
    }
    let params = BootParams::parse(line);
    for e in params.errors() {
        black_box(e);
    }
    black_box(params.unknown().count());
    black_box(BootParams::wants_poweroff_at_entry(line));
    // Fault injection: what was armed prints as a parameter that parses back to itself.
    for f in params.faults.hcall.iter().flatten() {
        let text = f.to_string();
        let value = text
            .strip_prefix("fail_hcall=")
            .expect("fail_hcall= prefix");
        assert_eq!(sparsek::fault::parse_hcall(value), Ok(*f), "{text}");
        assert!(f.nth >= 1 && f.status != sparsek::mm::hash::HStatus::Success);
    }
    if let Some(f) = params.faults.of {
        let text = f.to_string();
        let value = text.strip_prefix("fail_of=").expect("fail_of= prefix");
        assert_eq!(sparsek::fault::parse_of(value), Ok(f), "{text}");
    }
    assert!(params.faults.memblock.is_none_or(|n| n >= 1));
    black_box(params);
}

/// The name [`expect`] parses under (errors and verdicts must carry it).
const EXPECT_FILE: &str = "fuzz.expect";

/// Real consoles (the harness's KTAP fixtures) with the exit status of their boot.
const LOGS: &[(&str, i32)] = &[
    (
        include_str!("../../qemu/harness/tests/fixtures/ktap/slof-2g-v4.19.log"),
        exit::SUCCESS,
    ),
    (
        include_str!("../../qemu/harness/tests/fixtures/ktap/slof-2g-mmotm-2018-07-10.log"),
        exit::KERNEL_FAILURE,
    ),
    (
        include_str!("../../qemu/harness/tests/fixtures/ktap/vof-2g-64k-mmotm-2018-07-10.log"),
        exit::KERNEL_FAILURE,
    ),
];

/// QEMU's trees for the machines of [`expect`]'s boots.
const DTB_2G: &[u8] = include_bytes!("../../tests/fixtures/dtb/pseries-2g.dtb");
const DTB_NUMA4: &[u8] = include_bytes!("../../tests/fixtures/dtb/pseries-numa4.dtb");

/// The expectation-file parser on any text; what it accepts is evaluated against a boot.
/// Panics if an error names no line of the text or another file, if a verdict names no
/// line of the text, if a file that does not need QEMU's tree is judged differently with
/// and without it, or if the text with CRLF line ends behind an extra blank line parses
/// or judges otherwise than one line later (directive, line and result of each verdict).
pub fn expect(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let lines = text.lines().count();
    if regex_cost(&text) > REGEX_BUDGET {
        other_parsers(&text);
        return;
    }
    // The same file as another editor might save it: CRLF, and a blank line in front.
    let shifted = format!("\n{}", text.replace('\n', "\r\n"));

    let parsed = Expectations::parse(EXPECT_FILE, &text);
    let again = Expectations::parse(EXPECT_FILE, &shifted);
    let (e, e2) = match (parsed, again) {
        (Err(err), again) => {
            check_parse_error(&err, lines);
            let moved = ParseError {
                line: err.line + 1,
                ..err.clone()
            };
            assert_eq!(
                again.err(),
                Some(moved),
                "CRLF and a blank line change {err}"
            );
            other_parsers(&text);
            return;
        }
        (Ok(e), Ok(e2)) => (e, e2),
        (Ok(_), Err(err)) => panic!("accepted, but not with CRLF and a blank line: {err}"),
    };
    assert_eq!(e.file, EXPECT_FILE);
    assert_eq!(
        e.len(),
        e2.len(),
        "CRLF and a blank line change the directives"
    );
    assert_eq!(e.states_exit(), e2.states_exit());
    assert_eq!(e.needs_device_tree(), e2.needs_device_tree());

    // One of four boots, by the input's length (a mutation soon moves it to another).
    let pick = data.len() % (LOGS.len() + 1);
    let (log, status, machine, dtb) = match LOGS.get(pick) {
        Some(&(log, status)) => {
            let machine = Machine {
                hpt_16m: pick != 2,
                ..Machine::default()
            };
            (log, status, machine, DTB_2G)
        }
        // A boot made of the input itself: its kernel lines and its KTAP document.
        None => {
            let machine = Machine {
                memory: 4 << 30,
                numa: vec![512 << 20, 1 << 30, 1536 << 20, 1 << 30],
                smp: 4,
                ..Machine::default()
            };
            let status = [exit::SUCCESS, exit::KERNEL_FAILURE, exit::TIMEOUT][lines % 3];
            (&*text, status, machine, DTB_NUMA4)
        }
    };
    let ranges: Vec<MemoryRange> = memory_ranges(dtb).expect("the fixture tree's memory");
    let mut messages: Vec<&str> = log
        .lines()
        .filter(|l| console::is_kernel_line(l))
        .map(console::strip_timestamp)
        .collect();
    if pick < LOGS.len() {
        // The input's own lines too, so that its patterns and captures find something.
        messages.extend(text.lines().take(64));
    }
    let boot = Boot {
        exit: status,
        messages,
        ktap: ktap::parse(log),
    };

    let with_dt = Vars::for_machine(&machine, Some(ranges));
    let mut without_dt = Vars::for_machine(&machine, None);
    let judged = e.evaluate(&boot, &mut with_dt.clone());
    check_verdicts(&judged, lines);
    assert!(
        judged.len() >= e.len(),
        "{} verdicts for {} directives",
        judged.len(),
        e.len()
    );
    // The same verdicts one line later (details may name lines: an `order` block's).
    let judged2 = e2.evaluate(&boot, &mut with_dt.clone());
    let key = |v: &Verdict, shift: usize| (v.line + shift, v.directive.clone(), v.ok);
    assert_eq!(
        judged2.iter().map(|v| key(v, 0)).collect::<Vec<_>>(),
        judged.iter().map(|v| key(v, 1)).collect::<Vec<_>>(),
        "CRLF and a blank line change the verdicts"
    );
    let blind = e.evaluate(&boot, &mut without_dt);
    check_verdicts(&blind, lines);
    // Without the tree an `each` block gives one (failed) verdict.
    assert_eq!(blind.len(), e.len(), "verdicts without QEMU's tree");
    if !e.needs_device_tree() {
        assert_eq!(
            blind, judged,
            "a file that needs no device tree is judged differently with it"
        );
    }
    for v in &judged {
        black_box(v.to_string());
    }
    other_parsers(&text);
}

/// What [`regex_cost`] lets through: about 5 s in the ASan build, half of `qemu/fuzz`'s
/// 10 s per input. Slowness in the regex crate is not what this target looks for.
const REGEX_BUDGET: u64 = 5000;

/// Roughly the milliseconds the patterns of `text` take to compile in the ASan build.
/// Compiling a regex takes time in proportion to the automaton it builds: about 1 ms for
/// a pattern, and for every copy of a Unicode class (`\w`, `[^a]`) that a repetition makes
/// about 4 ms more (`\pL` 10 ms; without instrumentation 0.1 and 0.25 ms), so `\w{1000}`
/// takes seconds, up to the regex crate's 10 MiB limit. Each pattern is compiled twice in
/// a run (the text and its CRLF twin), one with `${...}` holes up to eleven times. Per
/// line with a `/` that is not a comment: its classes (`\w \W \d \D \s \S`, `[`; `\p \P`
/// count 2.5) times the product of its repetition counts (`{N`, not `${`).
fn regex_cost(text: &str) -> u64 {
    let mut total = 0u64;
    for line in text.lines() {
        if !line.contains('/') || line.trim_start().starts_with('#') {
            continue;
        }
        let b = line.as_bytes();
        // In tenths of a ms: 40 per class, 100 per `\p`.
        let mut classes = 0u64;
        let mut product = 1u64;
        for (i, &c) in b.iter().enumerate() {
            match c {
                b'\\' => match b.get(i + 1) {
                    Some(b'w' | b'W' | b'd' | b'D' | b's' | b'S') => classes += 40,
                    Some(b'p' | b'P') => classes += 100,
                    _ => {}
                },
                b'[' => classes += 40,
                b'{' if i == 0 || b[i - 1] != b'$' => {
                    let n = b[i + 1..]
                        .iter()
                        .take_while(|d| d.is_ascii_digit())
                        .fold(0u64, |n, &d| {
                            n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
                        });
                    product = product.saturating_mul(n.max(1));
                }
                _ => {}
            }
        }
        let compiles = if line.contains("${") { 11 } else { 2 };
        let once = (classes.saturating_mul(product) / 10)
            .saturating_add(product / 16)
            .saturating_add(1);
        total = total.saturating_add(once.saturating_mul(compiles));
    }
    total
}

/// A parse error names the file and a line of `lines` lines.
fn check_parse_error(err: &ParseError, lines: usize) {
    assert_eq!(err.file, EXPECT_FILE, "error names another file: {err}");
    assert!(
        (1..=lines).contains(&err.line),
        "error on line {} of {lines}: {err}",
        err.line
    );
    assert!(!err.message.is_empty(), "error without a message: {err}");
    assert!(
        err.to_string()
            .starts_with(&format!("{EXPECT_FILE}:{}: ", err.line))
    );
}

/// Verdicts name the file and a line of `lines` lines.
fn check_verdicts(verdicts: &[Verdict], lines: usize) {
    for v in verdicts {
        assert_eq!(v.file, EXPECT_FILE, "verdict names another file: {v}");
        assert!(
            (1..=lines).contains(&v.line),
            "verdict on line {} of {lines}: {v}",
            v.line
        );
        assert!(
            !v.directive.is_empty(),
            "verdict without its directive: {v}"
        );
    }
}

/// The matrix-file parser and the KTAP parser on the same text.
fn other_parsers(text: &str) {
    let lines = text.lines().count();
    // Expectation files resolve in a directory of stand-ins, and only there: names with
    // a slash (in the last column of a line that is not a comment) could reach any file
    // of the host, so such texts are not given to it.
    let names_have_slash = text.lines().any(|l| {
        !l.trim_start().starts_with('#') && l.rsplit_once('|').is_some_and(|(_, e)| e.contains('/'))
    });
    if !names_have_slash && let Some(dir) = matrix_dir() {
        match Matrix::parse("fuzz-matrix.txt", text, dir) {
            Ok(m) => {
                assert!(!m.configs.is_empty());
                for (i, c) in m.configs.iter().enumerate() {
                    assert!(
                        (1..=lines).contains(&c.line),
                        "configuration on line {}",
                        c.line
                    );
                    assert!(!c.name.is_empty());
                    assert!(
                        m.configs[..i].iter().all(|o| o.name != c.name),
                        "{} twice",
                        c.name
                    );
                    assert_eq!(c.expect_names.len(), c.expect.len());
                }
            }
            // Errors in the matrix name its line (0: no configurations at all); those of
            // an expectation file it names are that file's.
            Err(err) if err.file == "fuzz-matrix.txt" => {
                assert!(
                    err.line <= lines,
                    "matrix error on line {} of {lines}: {err}",
                    err.line
                );
            }
            Err(err) => {
                black_box(err);
            }
        }
    }
    match ktap::parse(text) {
        Ok(doc) => {
            black_box((
                doc.all_ok(),
                doc.failures(),
                doc.leaves().len(),
                doc.cases(),
            ));
        }
        Err(err) => {
            // One past the end when the document is cut short.
            assert!(
                err.line <= lines + 1,
                "KTAP error on line {} of {lines}",
                err.line
            );
            black_box(err.to_string());
        }
    }
}

/// A directory with a stand-in for every shipped expectation file (`qemu/expect/NAME.expect`
/// as `NAME.expect` holding `exit success`: the real ones take a millisecond each to
/// parse, and `matrix.txt` names 90) and a malformed `broken.expect`, made once per
/// process in `target/fuzz-expect-dir`; `None` if it cannot be made.
fn matrix_dir() -> Option<&'static Path> {
    static DIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    DIR.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let dir = root.join("target/fuzz-expect-dir");
        std::fs::create_dir_all(&dir).ok()?;
        let mut files = vec![("broken.expect".to_string(), "exit 7\n")];
        for entry in std::fs::read_dir(root.join("qemu/expect")).ok()? {
            let name = entry.ok()?.file_name().to_string_lossy().into_owned();
            if name.ends_with(".expect") {
                files.push((name, "exit success\n"));
            }
        }
        for (name, text) in files {
            let path = dir.join(&name);
            if std::fs::read_to_string(&path).is_ok_and(|t| t == text) {
                continue;
            }
            // Write and rename, so that a fuzzer running beside never reads half a file.
            let tmp = dir.join(format!(".{name}.{}", std::process::id()));
            std::fs::write(&tmp, text).ok()?;
            std::fs::rename(&tmp, &path).ok()?;
        }
        Some(dir)
    })
    .as_deref()
}
