//! QEMU tests of sparse init (SPARSEMEM + VMEMMAP on the hash MMU, issue 5). Every
//! expected value is computed from the machine: memory, nodes and page sizes come from
//! the device tree QEMU dumps for the same options (`-M pseries,dumpdtb=`), never from a
//! log. The default ordering (v4.19) and v4.18 must map each vmemmap page once and pass
//! every self-check across memory sizes (512M to 64G), NUMA layouts, both firmwares and
//! both vmemmap page sizes; `sparse_init=mmotm-2018-07-10` must reproduce the 2018
//! report on the 2018 machine and fail the checks with 64K vmemmap pages too.

use std::collections::BTreeSet;

use qemu_harness::check;
use qemu_harness::ktap::Document;
use qemu_harness::testing::{boot, expect_failure, expect_ktap_ok, expect_success, has, ktap};
use qemu_harness::{Firmware, Machine, Outcome};

use sparsek::fdt::Fdt;

mod common;
use sparsek::mm::hash::{CpuMmuInfo, Psize};

const G: u64 = 1 << 30;
const M: u64 = 1 << 20;

// The reference's constants (ppc64, 64K pages, hash), written out rather than taken from
// the kernel so that the kernel is checked against them.
const PAGE_OFFSET: u64 = 0xc000_0000_0000_0000;
const VMEMMAP_BASE: u64 = 0xf000_0000_0000_0000;
const PAGE_SIZE: u64 = 64 << 10;
const SECTION_SIZE: u64 = 16 << 20;
const PAGES_PER_SECTION: u64 = SECTION_SIZE / PAGE_SIZE;
const STRUCT_PAGE: u64 = 64;
/// Memory map bytes per section (0x4000).
const SECTION_MEMMAP: u64 = PAGES_PER_SECTION * STRUCT_PAGE;
/// 4 pageblock bits per section, in an unsigned long.
const USEMAP_PER_SECTION: u64 = 8;
/// Linux backs the vmemmap with 16M pages from this much RAM (when 16M is offered).
const VMEMMAP_16M_MIN_RAM: u64 = G;

const ORDERS: &str = "v4.19 v4.18 mmotm-2018-07-10";
const MMOTM: &str = "mmotm-2018-07-10";

const HASH_CASES: [&str; 3] = [
    "hash_translation_on",
    "hash_linear_map_rw",
    "hash_bolted_read_back",
];
const SPARSE_CASES: [&str; 7] = [
    "sparse_sections_valid",
    "sparse_vmemmap_mapped_once",
    "sparse_vmemmap_backings",
    "sparse_usemaps",
    "sparse_pfn_round_trip",
    "sparse_memmap_size",
    "sparse_struct_pages",
];

/// One machine and command line to boot.
#[derive(Clone, Debug)]
struct Config {
    name: String,
    firmware: Firmware,
    memory: u64,
    numa: Vec<u64>,
    hpt_16m: bool,
    reserve_off: bool,
    append: String,
}

impl Config {
    fn vof(name: &str, memory: u64, hpt_16m: bool, append: &str) -> Config {
        Config {
            name: format!("sparse_{name}"),
            firmware: Firmware::Vof,
            memory,
            numa: Vec::new(),
            hpt_16m,
            reserve_off: false,
            append: append.into(),
        }
    }

    fn numa(name: &str, nodes: &[u64], hpt_16m: bool, append: &str) -> Config {
        Config {
            numa: nodes.to_vec(),
            ..Config::vof(name, nodes.iter().sum(), hpt_16m, append)
        }
    }

    fn machine(&self) -> Machine {
        Machine {
            firmware: self.firmware,
            memory: self.memory,
            numa: self.numa.clone(),
            // A CPU per node, as on real NUMA machines (the kernel runs on the first).
            smp: self.numa.len().max(1) as u32,
            hpt_16m: self.hpt_16m,
            reserve_off: self.reserve_off,
            append: self.append.clone(),
            ..Machine::default()
        }
    }

    fn param(&self, name: &str) -> bool {
        self.append.split(' ').any(|p| p == name)
    }

    /// The ordering the command line asks for.
    fn order(&self) -> &str {
        self.append
            .split(' ')
            .find_map(|p| p.strip_prefix("sparse_init="))
            .unwrap_or("v4.19")
    }
}

/// Memory as QEMU's dumped tree describes it, and what follows for sparse init.
#[derive(Debug)]
struct Layout {
    /// Memblock's memory regions: (base, end exclusive, node), sorted, touching ranges of
    /// one node merged.
    regions: Vec<(u64, u64, u32)>,
    /// `ibm,segment-page-sizes` offers 16M pages (a base size with its own encoding).
    offers_16m: bool,
}

impl Layout {
    fn of(name: &str, m: &Machine) -> Layout {
        let (blob, mut regions) = common::dumped_memory(name, m);
        regions.retain(|r| r.1 > r.0);
        let fdt = Fdt::new(&blob).unwrap();
        let info = CpuMmuInfo::from_fdt(&fdt).unwrap();
        Layout {
            regions,
            offers_16m: info.page_sizes.usable(Psize::P16M),
        }
    }

    fn ram(&self) -> u64 {
        self.regions.iter().map(|r| r.1 - r.0).sum()
    }

    /// Present sections in order, each with its node (the first region's to touch it).
    fn sections(&self) -> Vec<(u64, u32)> {
        let mut out: Vec<(u64, u32)> = Vec::new();
        for &(base, end, nid) in &self.regions {
            for s in base / SECTION_SIZE..=(end - 1) / SECTION_SIZE {
                if !out.iter().any(|&(t, _)| t == s) {
                    out.push((s, nid));
                }
            }
        }
        out.sort();
        out
    }

    /// Nodes with memory, ascending.
    fn nodes(&self) -> Vec<u32> {
        let set: BTreeSet<u32> = self.regions.iter().map(|r| r.2).collect();
        set.into_iter().collect()
    }

    /// Linux's vmemmap page size for this machine.
    fn vmemmap_psize(&self) -> u64 {
        if self.offers_16m && self.ram() >= VMEMMAP_16M_MIN_RAM {
            16 * M
        } else {
            PAGE_SIZE
        }
    }

    /// The vmemmap pages (their start addresses) the sections' memory maps lie in.
    fn vmemmap_pages(&self) -> Vec<u64> {
        let psize = self.vmemmap_psize();
        let set: BTreeSet<u64> = self
            .sections()
            .iter()
            .flat_map(|&(s, _)| {
                let start = VMEMMAP_BASE + s * SECTION_MEMMAP;
                let end = start + SECTION_MEMMAP;
                (start / psize * psize..end).step_by(psize as usize)
            })
            .collect();
        set.into_iter().collect()
    }

    /// Does [pa, pa + size) lie in memory of node `nid`?
    fn on_node(&self, pa: u64, size: u64, nid: u32) -> bool {
        self.regions
            .iter()
            .any(|&(b, e, n)| n == nid && b <= pa && pa + size <= e)
    }
}

fn psize_name(bytes: u64) -> &'static str {
    match bytes {
        b if b == 16 * M => "16M",
        b if b == PAGE_SIZE => "64K",
        _ => unreachable!(),
    }
}

fn hex(s: &str) -> Option<u64> {
    u64::from_str_radix(s.strip_prefix("0x").unwrap_or(s), 16).ok()
}

/// The one `sparse_init: ` line.
fn sparse_init_line<'a>(name: &str, msgs: &[&'a str]) -> &'a str {
    let lines: Vec<&str> = msgs
        .iter()
        .copied()
        .filter(|l| l.starts_with("sparse_init: "))
        .collect();
    check!(name, lines.len() == 1, "{} sparse_init lines", lines.len());
    lines[0]
}

/// `key=value` fields of a line after `prefix`, in order.
fn fields<'a>(line: &'a str, prefix: &str) -> Vec<(&'a str, &'a str)> {
    line.strip_prefix(prefix)
        .unwrap_or_default()
        .split(' ')
        .filter_map(|kv| kv.split_once('='))
        .collect()
}

/// The fields of the `sparse_init:` line, checked to be the contract's, in its order,
/// with a time in microseconds; the time field left out.
fn sparse_init_fields<'a>(name: &str, line: &'a str) -> Vec<(&'a str, &'a str)> {
    let mut f = fields(line, "sparse_init: ");
    let keys: Vec<&str> = f.iter().map(|kv| kv.0).collect();
    check!(
        name,
        keys == [
            "order",
            "sections",
            "nodes",
            "vmemmap_pages",
            "psize",
            "mappings",
            "map_failures",
            "unbacked_sections",
            "memmap",
            "usemap",
            "time"
        ],
        "sparse_init fields {keys:?}"
    );
    let time = f.pop().unwrap().1;
    check!(
        name,
        time.strip_suffix("us")
            .is_some_and(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit())),
        "time={time}"
    );
    f
}

fn field(f: &[(&str, &str)], key: &str) -> u64 {
    let v = f.iter().find(|kv| kv.0 == key).unwrap().1;
    v.trim_end_matches(['K', 'B']).parse().unwrap()
}

/// The `memmap_init:` line's numbers: pages, sections, free, reserved, holes.
fn memmap_init(name: &str, msgs: &[&str]) -> [u64; 5] {
    let line = msgs
        .iter()
        .find(|l| l.starts_with("memmap_init: "))
        .unwrap_or_else(|| panic!("no memmap_init line ({name})"));
    let nums: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|w| !w.is_empty())
        .map(|w| w.parse().unwrap())
        .collect();
    let [pages, sections, free, reserved, holes, _us] = nums[..] else {
        panic!("malformed '{line}' ({name})")
    };
    let want = format!(
        "memmap_init: {pages} struct pages in {sections} sections initialised through the \
         vmemmap: {free} free, {reserved} reserved ({holes} of them holes) in "
    );
    check!(
        name,
        line.starts_with(&want) && line.ends_with("us"),
        "malformed '{line}'"
    );
    [pages, sections, free, reserved, holes]
}

/// `Zone ranges:` to the last `Initmem setup node` line, as the tree's memory says
/// (inclusive ends), right after the `sparse_init:` line.
fn zone_lines(l: &Layout) -> Vec<String> {
    let lo = l.regions.iter().map(|r| r.0).min().unwrap();
    let hi = l.regions.iter().map(|r| r.1).max().unwrap();
    let mut want = vec![
        "Zone ranges:".to_string(),
        format!("  Normal   [mem {lo:#018x}-{:#018x}]", hi - 1),
        "Movable zone start for each node".into(),
        "Early memory node ranges".into(),
    ];
    for &(b, e, nid) in &l.regions {
        want.push(format!("  node {nid:3}: [mem {b:#018x}-{:#018x}]", e - 1));
    }
    for nid in l.nodes() {
        let mine = l.regions.iter().filter(|r| r.2 == nid);
        let b = mine.clone().map(|r| r.0).min().unwrap();
        let e = mine.map(|r| r.1).max().unwrap();
        want.push(format!(
            "Initmem setup node {nid} [mem {b:#018x}-{:#018x}]",
            e - 1
        ));
    }
    want
}

/// Both suites in one document; `hash` all ok with its three cases; `sparse` with its
/// seven cases in order.
fn expect_suites(name: &str, doc: &Document) {
    check!(
        name,
        doc.names() == ["hash", "sparse"],
        "suites {:?}",
        doc.names()
    );
    let hash = doc.suite("hash").unwrap();
    check!(
        name,
        hash.names() == HASH_CASES && hash.all_ok(),
        "hash suite {hash:?}"
    );
    let sparse = doc.suite("sparse").unwrap();
    check!(
        name,
        sparse.names() == SPARSE_CASES,
        "sparse cases {:?}",
        sparse.names()
    );
}

/// The diagnostic of a `sparse` case.
fn diag<'a>(doc: &'a Document, case: &str) -> &'a str {
    let r = doc.suite("sparse").unwrap().result(case).unwrap();
    r.diag.as_deref().unwrap_or("")
}

/// Boot `c` with an ordering that must succeed (v4.19 or v4.18) and check everything the
/// machine determines.
fn expect_sparse_ok(c: &Config) {
    let name = c.name.as_str();
    let m = c.machine();
    let l = Layout::of(name, &m);
    check!(
        name,
        l.offers_16m == c.hpt_16m,
        "the tree offers 16M: {}",
        l.offers_16m
    );
    check!(
        name,
        l.ram() == c.memory,
        "the tree has {:#x} bytes",
        l.ram()
    );
    let o = boot(name, m);
    expect_success(name, &o);
    let doc = expect_ktap_ok(name, &o);
    expect_suites(name, &doc);

    let msgs: Vec<&str> = o.messages().collect();
    let sections = l.sections();
    let s = sections.len() as u64;
    let nodes = l.nodes().len();
    let psize = l.vmemmap_psize();
    let pages = l.vmemmap_pages();
    let v = pages.len() as u64;
    let line = sparse_init_line(name, &msgs);
    let want = format!(
        "sparse_init: order={} sections={s} nodes={nodes} vmemmap_pages={v} psize={} \
         mappings={v} map_failures=0 unbacked_sections=0 memmap={}K usemap={}B time=",
        c.order(),
        psize_name(psize),
        v * psize / 1024,
        s * USEMAP_PER_SECTION
    );
    check!(name, line.starts_with(&want), "'{line}', want '{want}...'");
    sparse_init_fields(name, line);

    // free_area_init's lines follow at once, then memmap_init.
    let at = msgs.iter().position(|m| *m == line).unwrap();
    let zones = zone_lines(&l);
    let got: Vec<&str> = msgs
        .iter()
        .skip(at + 1)
        .take(zones.len())
        .copied()
        .collect();
    check!(name, got == zones, "zone lines {got:#?}, want {zones:#?}");
    check!(
        name,
        msgs.get(at + 1 + zones.len())
            .is_some_and(|m| m.starts_with("memmap_init: ")),
        "memmap_init does not follow the zone lines"
    );
    let [n, secs, free, reserved, holes] = memmap_init(name, &msgs);
    let ram_pages = l.ram() / PAGE_SIZE;
    check!(
        name,
        n == s * PAGES_PER_SECTION && secs == s && free + reserved == n && holes + ram_pages == n,
        "memmap_init: {n} pages in {secs} sections, {free} free, {reserved} reserved, \
         {holes} holes; want {} pages in {s} sections, {} holes",
        s * PAGES_PER_SECTION,
        (s * PAGES_PER_SECTION).saturating_sub(ram_pages)
    );
    // The checks' own accounts agree.
    let d = diag(&doc, "sparse_vmemmap_mapped_once");
    let want = format!("{v} vmemmap pages of {}: ", psize_name(psize));
    check!(name, d.starts_with(&want), "'{d}', want '{want}...'");
    let d = diag(&doc, "sparse_struct_pages");
    let want = format!(
        "{n} struct pages read through the vmemmap for {s} valid sections (want {n}): \
         {free} free (memblock: {free}, memmap_init: {free}), {reserved} reserved \
         (memmap_init: {reserved})"
    );
    check!(name, d == want, "'{d}', want '{want}'");

    if c.param("debug") {
        check_debug_lines(name, &l, &msgs);
    }
    if c.param("hash_debug") {
        check_vmemmap_bolts(name, &l, &msgs);
    }
}

/// With `debug`, for v4.19/v4.18: one `vmemmap_populate` line per present section in
/// order; after the first section of each vmemmap page, its allocation (node-local, a
/// block of the page's size, in RAM) and its one mapping at the same physical address;
/// no failure.
fn check_debug_lines(name: &str, l: &Layout, msgs: &[&str]) {
    let psize = l.vmemmap_psize();
    let lines: Vec<&str> = msgs
        .iter()
        .copied()
        .filter(|m| {
            m.starts_with("vmemmap_populate")
                || m.starts_with("      * ")
                || m.starts_with("hash__vmemmap_create_mapping:")
        })
        .collect();
    let mut i = 0;
    let mut mapped = BTreeSet::new();
    let mut blocks = Vec::new();
    for &(s, nid) in &l.sections() {
        let start = VMEMMAP_BASE + s * SECTION_MEMMAP;
        let end = start + SECTION_MEMMAP;
        let want = format!(
            "vmemmap_populate {:x}..{end:x}, node {nid}",
            start / psize * psize
        );
        check!(
            name,
            lines.get(i) == Some(&want.as_str()),
            "debug line {i}: {:?}, want '{want}'",
            lines.get(i)
        );
        i += 1;
        let page = start / psize * psize;
        if !mapped.insert(page) {
            continue;
        }
        let alloc = format!("      * {page:x}..{:x} allocated at ", page + psize);
        let va = lines
            .get(i)
            .and_then(|a| a.strip_prefix(&alloc))
            .and_then(hex);
        check!(
            name,
            va.is_some_and(|va| va >= PAGE_OFFSET),
            "debug line {i}: {:?}, want '{alloc}c...'",
            lines.get(i)
        );
        let phys = va.unwrap() - PAGE_OFFSET;
        check!(
            name,
            phys.is_multiple_of(psize) && l.on_node(phys, psize, nid) && !blocks.contains(&phys),
            "vmemmap page {page:x}: block {phys:#x} is not a fresh {psize:#x} block of node {nid}"
        );
        blocks.push(phys);
        let map =
            format!("hash__vmemmap_create_mapping: start {page:#x} size {psize:#x} phys {phys:#x}");
        check!(
            name,
            lines.get(i + 1) == Some(&map.as_str()),
            "debug line {}: {:?}, want '{map}'",
            i + 1,
            lines.get(i + 1)
        );
        i += 2;
    }
    check!(
        name,
        i == lines.len(),
        "{} more debug lines: {:?}",
        lines.len() - i,
        lines.get(i)
    );
    check!(
        name,
        !msgs
            .iter()
            .any(|m| m.contains("Unable to create vmemmap mapping")),
        "a vmemmap mapping failed"
    );
}

/// With `hash_debug`: after the linear mapping's, one bolted entry per vmemmap page in
/// order (EA 0xf..., the vmemmap page size), at the block `debug` says was allocated.
fn check_vmemmap_bolts(name: &str, l: &Layout, msgs: &[&str]) {
    let bolts: Vec<&str> = msgs
        .iter()
        .copied()
        .filter(|m| m.starts_with("hash-mmu: bolt "))
        .collect();
    let first = bolts
        .iter()
        .position(|b| b.starts_with("hash-mmu: bolt ea=0xf"))
        .unwrap_or(bolts.len());
    // Before them: the linear mapping (0xc...), then the kernel stack's own mapping
    // (0xd000000040000000: 128 KiB in 64K pages).
    let linear = bolts[..first]
        .iter()
        .take_while(|b| b.starts_with("hash-mmu: bolt ea=0xc"))
        .count();
    let between: Vec<&str> = bolts[linear..first]
        .iter()
        .map(|b| b.split(' ').nth(2).unwrap_or(b))
        .collect();
    check!(
        name,
        between == ["ea=0xd000000040000000", "ea=0xd000000040010000"],
        "bolts other than the linear mapping's and the kernel stack's before the vmemmap's: {between:?}"
    );
    let vm = &bolts[first..];
    let pages = l.vmemmap_pages();
    check!(
        name,
        vm.len() == pages.len(),
        "{} vmemmap bolts for {} pages",
        vm.len(),
        pages.len()
    );
    let psize = l.vmemmap_psize();
    for (b, &page) in vm.iter().zip(&pages) {
        let f = fields(b, "hash-mmu: bolt ");
        let get = |k: &str| f.iter().find(|kv| kv.0 == k).map(|kv| kv.1);
        check!(
            name,
            get("ea").and_then(hex) == Some(page) && get("psize") == Some(psize_name(psize)),
            "'{b}' for vmemmap page {page:#x}"
        );
        let pa = get("pa").and_then(hex).unwrap();
        let alloc = format!(
            "      * {page:x}..{:x} allocated at {:x}",
            page + psize,
            PAGE_OFFSET + pa
        );
        check!(
            name,
            msgs.contains(&alloc.as_str()) || !msgs.iter().any(|m| m.starts_with("      * ")),
            "'{b}': no '{alloc}'"
        );
    }
}

/// Run `f` on every configuration; all are tried and the failures listed together.
fn all(configs: &[Config], f: fn(&Config)) {
    let mut failed = Vec::new();
    for c in configs {
        if std::panic::catch_unwind(|| f(c)).is_err() {
            failed.push(c.name.clone());
        }
    }
    assert!(
        failed.is_empty(),
        "failed: {failed:?} (logs: target/qemu/tests/<name>.log)"
    );
}

#[test]
fn default_ordering_across_sizes_and_vmemmap_page_sizes() {
    all(
        &[
            // 16M offered but under 1 GiB: 64K vmemmap pages (8 of them).
            Config::vof("512m_16m", 512 * M, true, "debug hash_debug"),
            Config::vof("512m_64k", 512 * M, false, "debug"),
            Config::vof("2g_16m", 2 * G, true, "debug hash_debug"),
            Config::vof("2g_64k", 2 * G, false, "debug"),
            Config::vof("2g_16m_256m_segments", 2 * G, true, "disable_1tb_segments"),
            // One 16M vmemmap page holds 16 GiB's memory map exactly.
            Config::vof("16g_16m", 16 * G, true, "debug hash_debug"),
            Config::vof("16g_64k", 16 * G, false, "debug"),
        ],
        expect_sparse_ok,
    );
}

#[test]
fn default_ordering_64g_through_an_unreserved_backend() {
    let big = |name: &str, hpt_16m, append: &str| Config {
        reserve_off: true,
        ..Config::vof(name, 64 * G, hpt_16m, append)
    };
    all(
        &[
            big("64g_16m", true, "debug hash_debug"),
            big("64g_64k", false, ""),
        ],
        expect_sparse_ok,
    );
}

#[test]
fn default_ordering_numa_layouts() {
    all(
        &[
            Config::numa("numa2_16m", &[G, 2 * G], true, "debug hash_debug"),
            Config::numa("numa2_64k", &[512 * M, 1536 * M], false, "debug"),
            Config::numa(
                "numa4_16m",
                &[512 * M, 1536 * M, G, G],
                true,
                "debug hash_debug",
            ),
            Config::numa("numa4_64k", &[512 * M, 1536 * M, G, G], false, "debug"),
            // Vmemmap pages shared by two nodes (the first 16G) and one node's alone,
            // through reserve=off node backends.
            Config {
                reserve_off: true,
                ..Config::numa("numa3_64g_16m", &[8 * G, 24 * G, 32 * G], true, "debug")
            },
        ],
        expect_sparse_ok,
    );
}

#[test]
fn default_ordering_slof() {
    expect_sparse_ok(&Config {
        firmware: Firmware::Slof,
        ..Config::vof("slof_2g_16m", 2 * G, true, "debug")
    });
}

#[test]
fn v4_18_ordering_succeeds() {
    all(
        &[
            Config::vof("v4.18_2g_16m", 2 * G, true, "sparse_init=v4.18 debug"),
            Config::numa(
                "v4.18_numa4_64k",
                &[512 * M, 1536 * M, G, G],
                false,
                "sparse_init=v4.18 debug",
            ),
            Config::numa(
                "v4.18_numa2_16m",
                &[G, 2 * G],
                true,
                "sparse_init=v4.18 hash_debug",
            ),
        ],
        expect_sparse_ok,
    );
}

/// A boot whose sparse checks must fail: exit 1 with the kernel's count of failed checks,
/// one KTAP document whose `hash` suite passed; returns it.
fn expect_checks_fail(name: &str, o: &Outcome) -> Document {
    let doc = ktap(name, o);
    expect_suites(name, &doc);
    let failed = doc.not_ok_cases();
    check!(name, failed > 0, "every check passed");
    expect_failure(name, o, &format!("{failed} boot self-check(s) failed"));
    doc
}

fn not_ok(doc: &Document) -> Vec<&str> {
    let sparse = doc.suite("sparse").unwrap();
    sparse
        .results
        .iter()
        .filter(|r| !r.ok)
        .map(|r| r.name.as_str())
        .collect()
}

#[test]
fn mmotm_on_the_2018_machine_reproduces_the_report() {
    // SLOF, -m 2G, 16M pages: the 2018 report's machine, with its debug lines.
    let c = Config {
        firmware: Firmware::Slof,
        ..Config::vof(
            "mmotm_slof_2g_16m",
            2 * G,
            true,
            &format!("debug sparse_init={MMOTM}"),
        )
    };
    let name = c.name.as_str();
    let l = Layout::of(name, &c.machine());
    check!(name, l.vmemmap_psize() == 16 * M, "not 16M vmemmap pages");
    let o = boot(name, c.machine());
    let doc = expect_checks_fail(name, &o);
    let bad = not_ok(&doc);
    check!(
        name,
        bad.contains(&"sparse_vmemmap_mapped_once"),
        "not ok: {bad:?}"
    );

    let msgs: Vec<&str> = o.messages().collect();
    let size = 16 * M;
    let start_prefix =
        format!("hash__vmemmap_create_mapping: start {VMEMMAP_BASE:#x} size {size:#x} phys ");
    let starts: Vec<usize> = (0..msgs.len())
        .filter(|&i| msgs[i].starts_with("hash__vmemmap_create_mapping: start "))
        .collect();
    check!(name, starts.len() >= 9, "{} mapping attempts", starts.len());
    let mut last = None;
    for (k, &i) in starts.iter().take(9).enumerate() {
        // Each attempt: its section's populate line, the allocation, the mapping.
        let populate = format!(
            "vmemmap_populate {VMEMMAP_BASE:x}..{:x}, node 0",
            VMEMMAP_BASE + (k as u64 + 1) * SECTION_MEMMAP
        );
        check!(
            name,
            i >= 2 && msgs[i - 2] == populate,
            "attempt {k}: {:?} before it, want '{populate}'",
            msgs.get(i.wrapping_sub(2))
        );
        let phys = msgs[i].strip_prefix(&start_prefix).and_then(hex);
        check!(name, phys.is_some(), "attempt {k}: '{}'", msgs[i]);
        let phys = phys.unwrap();
        let alloc = format!(
            "      * {VMEMMAP_BASE:x}..{:x} allocated at {:x}",
            VMEMMAP_BASE + size,
            PAGE_OFFSET + phys
        );
        check!(
            name,
            msgs[i - 1] == alloc,
            "attempt {k}: '{}', want '{alloc}'",
            msgs[i - 1]
        );
        // Memblock is top-down: each block 16M below the one before, all in RAM.
        check!(
            name,
            phys.is_multiple_of(size) && phys + size <= c.memory,
            "attempt {k}: phys {phys:#x}"
        );
        if let Some(prev) = last {
            check!(
                name,
                phys + size == prev,
                "attempt {k}: phys {phys:#x} after {prev:#x}"
            );
        }
        last = Some(phys);
        // Eight inserts of one EA fill its group; the ninth is refused.
        let failed = msgs.get(i + 1) == Some(&"hash__vmemmap_create_mapping: failed -1");
        check!(
            name,
            failed == (k == 8),
            "attempt {k}: followed by {:?}",
            msgs.get(i + 1)
        );
    }
    // htab_remove_mapping then takes out the first entry of the group: the first block.
    let ninth = starts[8];
    let first = msgs[starts[0]].strip_prefix(&start_prefix).and_then(hex);
    let removed = msgs
        .get(ninth + 2)
        .and_then(|m| m.strip_prefix("htab_remove_mapping: removed 0xf000000000000000 from ptex "))
        .and_then(|m| m.split_once(" (phys "))
        .and_then(|(_, p)| hex(p.trim_end_matches(')')));
    check!(
        name,
        removed.is_some() && removed == first,
        "after the failure: {:?}, want the removal of phys {first:#x?}",
        msgs.get(ninth + 2)
    );
    check!(
        name,
        msgs.get(ninth + 3) == Some(&"vmemmap_populate: Unable to create vmemmap mapping: -1"),
        "after the removal: {:?}",
        msgs.get(ninth + 3)
    );

    // The summary agrees with the debug lines.
    let f = sparse_init_fields(name, sparse_init_line(name, &msgs));
    let count = |p: &str| msgs.iter().filter(|m| m.starts_with(p)).count() as u64;
    let failures = count("hash__vmemmap_create_mapping: failed -1");
    let s = l.sections().len() as u64;
    check!(
        name,
        f[0] == ("order", MMOTM)
            && field(&f, "sections") == s
            && field(&f, "nodes") == 1
            && f[4] == ("psize", "16M")
            && field(&f, "map_failures") == failures
            && failures >= 1
            && field(&f, "mappings") + failures == starts.len() as u64
            && field(&f, "vmemmap_pages") == count("      * ")
            && field(&f, "vmemmap_pages") > 1
            && field(&f, "memmap") == field(&f, "vmemmap_pages") * size / 1024
            && field(&f, "unbacked_sections") > 0
            && field(&f, "usemap") == s * USEMAP_PER_SECTION,
        "sparse_init fields {f:?}"
    );
    // Only the sections left with a memory map get struct pages.
    let [n, secs, free, reserved, _] = memmap_init(name, &msgs);
    let backed = s - field(&f, "unbacked_sections");
    check!(
        name,
        secs == backed && n == backed * PAGES_PER_SECTION && free + reserved == n,
        "memmap_init: {n} pages in {secs} sections for {backed} backed sections"
    );
}

#[test]
fn mmotm_with_64k_vmemmap_pages_fails_the_checks() {
    all(
        &[
            Config::vof(
                "mmotm_2g_64k",
                2 * G,
                false,
                &format!("debug sparse_init={MMOTM}"),
            ),
            // 16M offered, but under 1 GiB the vmemmap uses 64K pages.
            Config::vof(
                "mmotm_512m_16m",
                512 * M,
                true,
                &format!("sparse_init={MMOTM}"),
            ),
        ],
        |c| {
            let name = c.name.as_str();
            let m = c.machine();
            let l = Layout::of(name, &m);
            check!(
                name,
                l.vmemmap_psize() == PAGE_SIZE,
                "not 64K vmemmap pages"
            );
            let o = boot(name, m);
            let doc = expect_checks_fail(name, &o);
            // No section is valid while the memory maps are populated, so every section
            // allocates and maps a block of its own for its vmemmap page: several
            // entries for one EA, none refused (the group is not full): only the checks
            // catch it.
            let s = l.sections().len() as u64;
            let msgs: Vec<&str> = o.messages().collect();
            let line = sparse_init_line(name, &msgs);
            let want = format!(
                "sparse_init: order={MMOTM} sections={s} nodes=1 vmemmap_pages={s} psize=64K \
                 mappings={s} map_failures=0 unbacked_sections=0 memmap={}K usemap={}B time=",
                s * PAGE_SIZE / 1024,
                s * USEMAP_PER_SECTION
            );
            check!(name, line.starts_with(&want), "'{line}', want '{want}...'");
            let bad = not_ok(&doc);
            for case in ["sparse_vmemmap_mapped_once", "sparse_memmap_size"] {
                check!(name, bad.contains(&case), "{case} passed; not ok: {bad:?}");
            }
            check!(
                name,
                !has(&o, "hash__vmemmap_create_mapping: failed"),
                "a mapping failed"
            );
            if c.param("debug") {
                // Each vmemmap page allocated once per section whose map lies in it.
                let per_page = (PAGE_SIZE / SECTION_MEMMAP) as usize;
                for page in l.vmemmap_pages() {
                    let alloc = format!("      * {page:x}..{:x} allocated at ", page + PAGE_SIZE);
                    let n = msgs.iter().filter(|m| m.starts_with(&alloc)).count();
                    check!(
                        name,
                        n == per_page,
                        "vmemmap page {page:#x} allocated {n} times"
                    );
                }
            }
        },
    );
}

#[test]
fn unknown_ordering_is_refused_with_the_valid_names() {
    for (name, param) in [
        ("sparse_init_bogus", "sparse_init=bogus"),
        ("sparse_init_no_value", "sparse_init"),
    ] {
        let o = boot(name, qemu_harness::testing::vof(param));
        let panic = o
            .messages()
            .find_map(|m| m.strip_prefix("Kernel panic - not syncing: "))
            .unwrap_or_default()
            .to_string();
        check!(
            name,
            panic.starts_with(param) && panic.ends_with(ORDERS),
            "panic '{panic}' does not name '{param}' and list '{ORDERS}'"
        );
        expect_failure(name, &o, &panic);
        // Refused at once: before the MMU, sparse init or the checks.
        for never in ["hash-mmu: translation on", "sparse_init: ", "KTAP version"] {
            check!(name, !has(&o, never), "'{never}' printed");
        }
    }
}
