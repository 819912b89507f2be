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

use std::fmt::Write as _;
use std::hint::black_box;

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
    black_box(params);
}
