//! QEMU tests of the hash MMU: across CPUs, memory sizes, page-size caps and segment
//! sizes the kernel boots with translation on and its self-checks pass; its report lines
//! match Linux's choice for the machine (read from QEMU's own device tree); every
//! `hash_debug` line (the linear mapping's, then the vmemmap's from sparse init) is
//! checked against the portable arithmetic and replayed into the host model of the
//! hypervisor's table, which must pick the same slot.

use qemu_harness::check;
use qemu_harness::testing::{boot, expect_failure, expect_success, has, log_path};
use qemu_harness::{Firmware, Machine, Outcome, repo_root};

use sparsek::fdt::Fdt;
use sparsek::mm::hash::bolt::hpte_insert;
use sparsek::mm::hash::hpte::{
    HPTE_V_BOLTED, PROT_KERNEL_RW, hpt_hash, hpt_vpn, hpteg, kernel_vsid,
};
use sparsek::mm::hash::model::HptModel;
use sparsek::mm::hash::{CpuMmuInfo, HashGeometry, Psize, Ssize};

const PAGE_OFFSET: u64 = 0xc000_0000_0000_0000;
const VMEMMAP_BASE: u64 = 0xf000_0000_0000_0000;
/// Bytes of memory map (64-byte struct pages) per 16 MiB section of 64K pages.
const SECTION_MEMMAP: u64 = 256 * 64;
const SECTION_SIZE: u64 = 16 << 20;

struct Config {
    name: String,
    firmware: Firmware,
    cpu: &'static str,
    memory: u64,
    hpt_16m: bool,
    one_tb: bool,
    hash_debug: bool,
}

impl Config {
    fn machine(&self) -> Machine {
        let mut append = Vec::new();
        if !self.one_tb {
            append.push("disable_1tb_segments");
        }
        if self.hash_debug {
            append.push("hash_debug");
        }
        Machine {
            firmware: self.firmware,
            memory: self.memory,
            hpt_16m: self.hpt_16m,
            cpu: Some(self.cpu.into()),
            append: append.join(" "),
            ..Machine::default()
        }
    }

    /// Linux's choice for this machine.
    fn linear(&self) -> Psize {
        if self.hpt_16m {
            Psize::P16M
        } else {
            Psize::P64K
        }
    }

    /// Linux's `mmu_vmalloc_psize` (64K on every CPU QEMU models): the kernel stack's
    /// pages, mapped in the vmalloc region.
    fn virtual_(&self) -> Psize {
        Psize::P64K
    }

    /// Pages of the kernel stack's own mapping (128 KiB).
    fn kstack_pages(&self) -> u64 {
        KSTACK_SIZE >> self.virtual_().shift()
    }

    fn vmemmap(&self) -> Psize {
        if self.hpt_16m && self.memory >= 1 << 30 {
            Psize::P16M
        } else {
            Psize::P64K
        }
    }

    /// Vmemmap pages bolted by sparse init: the memory maps of the sections of RAM
    /// (from 0, in whole sections) rounded up to vmemmap pages.
    fn vmemmap_pages(&self) -> u64 {
        let memmap = self.memory.div_ceil(SECTION_SIZE) * SECTION_MEMMAP;
        memmap.div_ceil(1 << self.vmemmap().shift())
    }

    fn ssize(&self) -> Ssize {
        if self.one_tb {
            Ssize::S1T
        } else {
            Ssize::S256M
        }
    }
}

/// The boot CPU's MMU properties as QEMU describes this machine.
fn cpu_info(name: &str, m: &Machine) -> CpuMmuInfo {
    let file = repo_root().join(format!("target/qemu/tests/{name}.dtb"));
    let blob = m.dump_dtb(&file).expect("dumpdtb");
    CpuMmuInfo::from_fdt(&Fdt::new(&blob).unwrap()).unwrap()
}

/// `key=value` fields of a `hash-mmu: bolt ...` line.
struct BoltLine {
    ea: u64,
    pa: u64,
    psize: String,
    ssize: String,
    vsid: u64,
    hpteg: u64,
    slot: u64,
}

fn parse_bolt(line: &str) -> Option<BoltLine> {
    let rest = line.strip_prefix("hash-mmu: bolt ")?;
    let mut f = std::collections::HashMap::new();
    for kv in rest.split(' ') {
        let (k, v) = kv.split_once('=')?;
        f.insert(k, v);
    }
    let hex = |k: &str| u64::from_str_radix(f.get(k)?.strip_prefix("0x")?, 16).ok();
    // The format is a contract: fixed field order, 16 hex digits for ea and pa.
    let order: Vec<&str> = rest
        .split(' ')
        .map(|kv| kv.split('=').next().unwrap())
        .collect();
    if order != ["ea", "pa", "psize", "ssize", "vsid", "hpteg", "slot"]
        || f["ea"].len() != 18
        || f["pa"].len() != 18
    {
        return None;
    }
    Some(BoltLine {
        ea: hex("ea")?,
        pa: hex("pa")?,
        psize: f["psize"].to_string(),
        ssize: f["ssize"].to_string(),
        vsid: hex("vsid")?,
        hpteg: hex("hpteg")?,
        slot: f["slot"].parse().ok()?,
    })
}

fn run(c: &Config) {
    run_machine(c, c.machine());
}

/// [`run`] on a machine derived from `c` (same CPU, memory, caps and command line).
fn run_machine(c: &Config, m: Machine) {
    let name = c.name.as_str();
    let info = cpu_info(name, &m);
    let o = boot(name, m);
    expect_success(name, &o);
    expect_ktap_ok(name, &o);

    // Linux's report, against QEMU's tree.
    let msgs: Vec<&str> = o.messages().collect();
    let sizes_at = msgs
        .iter()
        .position(|l| *l == "hash-mmu: Page sizes from device-tree:")
        .unwrap_or_else(|| panic!("no page-size report (log: {})", log_path(name).display()));
    for (i, want) in info.page_sizes.lines.iter().enumerate() {
        let want = format!("hash-mmu: {want}");
        check!(
            name,
            msgs.get(sizes_at + 1 + i) == Some(&want.as_str()),
            "page-size line {i}: want '{want}'"
        );
    }
    let orders = format!(
        "Page orders: linear mapping = {}, virtual = 16, io = 16, vmemmap = {}",
        c.linear().shift(),
        c.vmemmap().shift()
    );
    check!(name, has(&o, &orders), "no '{orders}'");
    check!(
        name,
        has(&o, "Using 1TB segments") == c.one_tb,
        "'Using 1TB segments' should be {}",
        if c.one_tb { "there" } else { "absent" }
    );
    for want in [
        format!("hash-mmu: ppc64_pft_size    = 0x{:x}", info.pft_size),
        format!("hash-mmu: htab_hash_mask    = 0x{:x}", info.hash_mask()),
    ] {
        check!(name, msgs.contains(&want.as_str()), "no '{want}'");
    }
    let pages = c.memory >> c.linear().shift();
    let summary = format!(
        "hash-mmu: linear mapping: {pages} bolted {} pages in {} segments ({} MiB)",
        c.linear().name(),
        c.ssize().name(),
        c.memory >> 20
    );
    check!(name, msgs.contains(&summary.as_str()), "no '{summary}'");
    // With 256M segments, memory beyond the first segment is reached through segments
    // loaded on demand (the self-check writes across all of it); with 1T, never.
    let loads: u64 = msgs
        .iter()
        .find_map(|l| {
            l.strip_prefix("hash-mmu: H_ENTER ")?
                .rsplit(' ')
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no hash-mmu statistics (log: {})", log_path(name).display()));
    if c.one_tb {
        check!(
            name,
            loads == 0,
            "{loads} segments loaded on demand with 1T segments"
        );
    } else {
        check!(
            name,
            c.memory <= 256 * M || loads > 0,
            "no segment loaded on demand"
        );
    }

    if c.hash_debug {
        check_bolt_lines(name, c, &info, &msgs, pages);
    }
}

/// Every `hash-mmu: bolt` line: the linear mapping in order, then the vmemmap's pages
/// (sparse init bolts them after translation is on), each vsid and group as the
/// arithmetic says, each slot the one the model of the hypervisor's table picks.
fn check_bolt_lines(name: &str, c: &Config, info: &CpuMmuInfo, msgs: &[&str], pages: u64) {
    let lines: Vec<&str> = msgs
        .iter()
        .copied()
        .filter(|l| l.starts_with("hash-mmu: bolt "))
        .collect();
    let vmemmap_pages = c.vmemmap_pages();
    let kstack_pages = c.kstack_pages();
    check!(
        name,
        lines.len() as u64 == pages + kstack_pages + vmemmap_pages,
        "{} bolt lines for {pages} linear, {kstack_pages} kernel stack and {vmemmap_pages} vmemmap pages",
        lines.len()
    );
    let mut kstack_pa = None;
    let geo = HashGeometry {
        sizes: info.page_sizes.clone(),
        hash_mask: info.hash_mask(),
    };
    let mut model = HptModel::new(info.pft_size, &info.page_sizes.segments, &[(0, c.memory)]);
    let ssize = c.ssize();
    let mut backings = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let b = parse_bolt(line)
            .unwrap_or_else(|| panic!("malformed '{line}' (log: {})", log_path(name).display()));
        // The linear mapping, then the kernel stack's, then (sparse init) the vmemmap.
        let i = i as u64;
        let (ea, psize) = if i < pages {
            (PAGE_OFFSET + (i << c.linear().shift()), c.linear())
        } else if i < pages + kstack_pages {
            let j = i - pages;
            (KSTACK_VIRT + (j << c.virtual_().shift()), c.virtual_())
        } else {
            let j = i - pages - kstack_pages;
            (VMEMMAP_BASE + (j << c.vmemmap().shift()), c.vmemmap())
        };
        check!(name, b.ea == ea, "line {i}: ea {:#x}, want {ea:#x}", b.ea);
        if (KSTACK_VIRT..KSTACK_VIRT + KSTACK_SIZE).contains(&ea) {
            // The kernel stack's own memory, inside the image, in order.
            let size = 1u64 << psize.shift();
            let first = *kstack_pa.get_or_insert(b.pa);
            check!(
                name,
                first.is_multiple_of(size)
                    && (KERNEL_PHYS..KERNEL_PHYS + (16 << 20)).contains(&first)
                    && b.pa == first + (ea - KSTACK_VIRT),
                "line {i}: kernel stack pa {:#x}",
                b.pa
            );
        } else if ea >= VMEMMAP_BASE {
            // A block of its own size, in RAM, no two the same.
            let size = 1u64 << psize.shift();
            check!(
                name,
                b.pa.is_multiple_of(size) && b.pa + size <= c.memory && !backings.contains(&b.pa),
                "line {i}: vmemmap backing pa {:#x}",
                b.pa
            );
            backings.push(b.pa);
        } else {
            check!(name, b.pa == ea - PAGE_OFFSET, "line {i}: pa {:#x}", b.pa);
        }
        check!(name, b.psize == psize.name(), "line {i}: psize {}", b.psize);
        check!(name, b.ssize == ssize.name(), "line {i}: ssize {}", b.ssize);
        let vsid = kernel_vsid(ea, ssize).unwrap();
        check!(
            name,
            b.vsid == vsid,
            "line {i}: vsid {:#x}, want {vsid:#x}",
            b.vsid
        );
        let vpn = hpt_vpn(ea, vsid, ssize);
        let group = hpteg(hpt_hash(vpn, psize.shift(), ssize), info.hash_mask(), false);
        check!(
            name,
            b.hpteg == group,
            "line {i}: hpteg {:#x}, want {group:#x}",
            b.hpteg
        );
        let (slot, _) = hpte_insert(
            &mut model,
            &geo,
            group,
            vpn,
            b.pa,
            PROT_KERNEL_RW,
            HPTE_V_BOLTED,
            psize,
            ssize,
        )
        .unwrap_or_else(|e| panic!("model refused line {i} ({e:?})"));
        check!(
            name,
            b.slot == slot,
            "line {i}: slot {}, the model picks {slot}",
            b.slot
        );
    }
}

/// One KTAP document, every suite and case ok (each plan matching its results): the
/// `hash` suite with its three cases, then `sparse`.
fn expect_ktap_ok(name: &str, o: &Outcome) {
    let doc = qemu_harness::testing::expect_ktap_ok(name, o);
    check!(
        name,
        doc.names() == ["hash", "sparse"],
        "KTAP suites {:?}",
        doc.names()
    );
    let hash = doc.suite("hash").expect("a subtest");
    check!(
        name,
        hash.names()
            == [
                "hash_translation_on",
                "hash_linear_map_rw",
                "hash_bolted_read_back"
            ],
        "hash suite cases {:?}",
        hash.names()
    );
}

const G: u64 = 1 << 30;
const M: u64 = 1 << 20;
/// The kernel stack's own mapping and size (arch/powerpc/stack.rs), and where QEMU loads
/// the kernel.
const KSTACK_VIRT: u64 = 0xd000_0000_4000_0000;
const KSTACK_SIZE: u64 = 128 << 10;
const KERNEL_PHYS: u64 = 0x40_0000;

/// Every memory size, page-size cap and segment size on one CPU model, each boot checked
/// by [`run`]; all are tried, and the failures listed together.
fn matrix(cpu: &'static str) {
    let mut failed = Vec::new();
    for (memory, mem) in [(512 * M, "512m"), (2 * G, "2g"), (16 * G, "16g")] {
        for hpt_16m in [true, false] {
            for one_tb in [true, false] {
                let c = Config {
                    name: format!(
                        "hash_{cpu}_{mem}_{}_{}",
                        if hpt_16m { "16m" } else { "64k" },
                        if one_tb { "1t" } else { "256m" }
                    ),
                    firmware: Firmware::Vof,
                    cpu,
                    memory,
                    hpt_16m,
                    one_tb,
                    // 16G of 64K pages is 262144 inserts: too many lines to print; the
                    // counts and the H_READ self-check (4096 sampled entries) cover it.
                    hash_debug: hpt_16m || memory < 16 * G,
                };
                if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(&c))).is_err() {
                    failed.push(c.name);
                }
            }
        }
    }
    assert!(
        failed.is_empty(),
        "failed: {failed:?} (logs: target/qemu/tests/<name>.log)"
    );
}

#[test]
fn power8_every_size_cap_and_segment() {
    matrix("power8");
}

#[test]
fn power9_every_size_cap_and_segment() {
    matrix("power9");
}

#[test]
fn power10_every_size_cap_and_segment() {
    matrix("power10");
}

#[test]
fn power9_2g_firmwareless() {
    run(&Config {
        name: "hash_power9_2g_fdt".into(),
        firmware: Firmware::None,
        cpu: "power9",
        memory: 2 * G,
        hpt_16m: true,
        one_tb: true,
        hash_debug: true,
    });
}

#[test]
fn power9_2g_slof_256m() {
    run(&Config {
        name: "hash_power9_2g_slof_256m".into(),
        firmware: Firmware::Slof,
        cpu: "power9",
        memory: 2 * G,
        hpt_16m: true,
        one_tb: false,
        hash_debug: true,
    });
}

#[test]
fn secondary_group_fallback_is_an_option() {
    let name = "hash_secondary_option";
    let o = boot(name, qemu_harness::testing::vof("hash_bolt=secondary"));
    expect_success(name, &o);
    expect_ktap_ok(name, &o);
    check!(
        name,
        has(&o, "hash-mmu: bolted entries may use the secondary group"),
        "the option is not reported"
    );
    let o = boot("hash_primary_default", qemu_harness::testing::vof(""));
    check!(
        "hash_primary_default",
        !has(&o, "hash-mmu: bolted entries may use the secondary group"),
        "the secondary group is used by default"
    );
}

/// Boot `m` (a `selftest.fault=` on its command line), which must fail with a fatal
/// exception whose log has every line starting with one of `wants` and none with
/// `unhandled` (the vector of a segment interrupt that should have been handled).
fn expect_fault(name: &str, m: Machine, wants: &[&str], unhandled: Option<&str>) {
    let o = boot(name, m);
    expect_failure(name, &o, "Fatal exception");
    for want in wants {
        check!(name, has(&o, want), "no '{want}'");
    }
    if let Some(vector) = unhandled {
        let dump = format!("Unexpected exception: vector {vector}");
        check!(
            name,
            !has(&o, &dump),
            "the segment interrupt {vector} was not handled"
        );
    }
}

const DSI_LINES: [&str; 4] = [
    "selftest: reading unmapped kernel address d000000000000000 with translation on",
    "BUG: Unable to handle kernel data access on read at 0xd000000000000000",
    "Unexpected exception: vector 0x300 (Data Storage)",
    "DAR:  d000000000000000  DSISR: 40000000",
];

#[test]
fn selftest_fault_dsi_dumps_the_address() {
    // The vmalloc segment is loaded on demand (0x380 handled), then the access is dumped.
    let m = qemu_harness::testing::vof("selftest.fault=dsi");
    expect_fault("hash_selftest_dsi", m, &DSI_LINES, Some("0x380"));
}

#[test]
fn selftest_fault_dsi_with_256m_segments_and_64k_pages() {
    let mut m = qemu_harness::testing::vof("selftest.fault=dsi disable_1tb_segments");
    m.hpt_16m = false;
    expect_fault("hash_selftest_dsi_256m_64k", m, &DSI_LINES, Some("0x380"));
}

#[test]
fn selftest_fault_segment_dumps_the_user_address() {
    let wants = [
        "selftest: reading user address 0000000000001000 with translation on",
        "BUG: Unable to handle kernel data access at 0x0000000000001000 (no kernel segment)",
        "Unexpected exception: vector 0x380 (Data Segment)",
        "DAR:  0000000000001000  DSISR: ",
    ];
    let m = qemu_harness::testing::vof("selftest.fault=segment");
    expect_fault("hash_selftest_segment", m, &wants, None);
}

#[test]
fn selftest_fault_isi_loads_the_segment_then_dumps() {
    let wants = [
        "selftest: calling unmapped kernel address d000000000000000 with translation on",
        "BUG: Unable to handle kernel instruction fetch at 0xd000000000000000",
        "Unexpected exception: vector 0x400 (Instruction Storage)",
        "SRR0: d000000000000000  SRR1: ",
    ];
    let m = qemu_harness::testing::vof("selftest.fault=isi");
    expect_fault("hash_selftest_isi", m, &wants, Some("0x480"));
}

#[test]
fn numa_two_nodes_bolted_across_both() {
    let m = Config {
        name: "hash_power9_numa2".into(),
        firmware: Firmware::Vof,
        cpu: "power9",
        memory: 2 * G,
        hpt_16m: true,
        one_tb: false,
        hash_debug: true,
    };
    let mut machine = m.machine();
    machine.numa = vec![G, G];
    run_machine(&m, machine);
}
