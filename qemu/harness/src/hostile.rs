//! Hostile device trees for `dtb=initrd` boots: variants of the tree QEMU dumps for a
//! machine (`-M pseries,dumpdtb=`), each with one defect, and what the kernel must do with
//! it. [`cases`] builds them, [`judge`] decides whether a boot's [`Outcome`] is the
//! expected one. `tests/robust_dtb.rs` boots every case; a soak tool may do the same.
//!
//! A malformed blob must stop the boot with `Kernel panic - not syncing: dtb=initrd:
//! invalid device tree blob ...: <reason>` (QEMU exit status 1) within seconds; a
//! well-formed blob with hostile contents must either boot as Linux would (with the memory
//! Linux would use, and the warning it prints) or stop with a clear reason. A hang, an
//! unexpected exception, a nested fault or a QEMU error is never the expected outcome.

use std::collections::HashMap;
use std::time::Duration;

use crate::boot::{Outcome, Verdict};
use crate::machine::{MemoryRange, memory_ranges};
use sparsek::fdt::{FDT_BEGIN_NODE, FDT_END, FDT_END_NODE, FDT_MAGIC, FDT_PROP, HEADER_SIZE};

/// One hostile tree and what booting it must give.
#[derive(Clone, Debug)]
pub struct Case {
    /// Unique, usable as a file name (`truncated-header`).
    pub name: &'static str,
    /// The blob given to the kernel as its initrd.
    pub blob: Vec<u8>,
    pub expect: Expect,
}

/// What a boot with a case's blob must end with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expect {
    /// `reboot: Power down`, exit status 0, the kernel's memory (its `Early memory node
    /// ranges` lines: base, end exclusive, node) equal to `memory`, and every line of
    /// `lines` a substring of some kernel message (warnings Linux prints too).
    Success {
        memory: Vec<MemoryRange>,
        lines: Vec<String>,
    },
    /// `Kernel panic - not syncing: ...` whose text contains `reason`, exit status 1,
    /// within [`FAILURE_DEADLINE`].
    Failure { reason: String },
}

/// A failing boot must have ended within this (a VOF boot takes well under a second; the
/// margin is for a loaded host).
pub const FAILURE_DEADLINE: Duration = Duration::from_secs(20);

/// Messages that are never an expected outcome, whatever the case.
pub const NEVER: [&str; 3] = [
    "Unexpected exception",
    "BUG: Unable to handle kernel",
    "while handling a failure",
];

/// Judge a boot of `case`: `Ok(what was seen)` when it is the expected outcome,
/// `Err(why not)` otherwise.
pub fn judge(case: &Case, o: &Outcome) -> Result<String, String> {
    let secs = o.duration.as_secs_f64();
    match o.verdict {
        Verdict::Timeout => return Err(format!("hung: {} ({secs:.1} s)", o.reason)),
        Verdict::QemuError => return Err(format!("QEMU error: {}", o.reason)),
        _ => {}
    }
    for bad in NEVER {
        if let Some(l) = o.console.lines().find(|l| l.contains(bad)) {
            return Err(format!("'{bad}' on the console: {}", l.trim()));
        }
    }
    let panic = o
        .messages()
        .find_map(|m| m.strip_prefix("Kernel panic - not syncing: "));
    match &case.expect {
        Expect::Success { memory, lines } => {
            if o.verdict != Verdict::Success || o.qemu_status != Some(0) {
                return Err(format!(
                    "expected a successful boot, got {} (status {:?}): {}",
                    o.verdict.name(),
                    o.qemu_status,
                    o.reason
                ));
            }
            if !o
                .messages()
                .any(|m| m.contains("dtb=initrd: the device tree comes from the initrd"))
            {
                return Err("the kernel did not say it took the tree from the initrd".into());
            }
            let got = node_ranges(o);
            if got != *memory {
                return Err(format!(
                    "memory {} instead of {}",
                    show_ranges(&got),
                    show_ranges(memory)
                ));
            }
            for want in lines {
                if !o.messages().any(|m| m.contains(want.as_str())) {
                    return Err(format!("no message containing '{want}'"));
                }
            }
            let mut why = format!("booted in {secs:.2} s with {}", show_ranges(&got));
            if !lines.is_empty() {
                why.push_str(&format!("; saw {lines:?}"));
            }
            Ok(why)
        }
        Expect::Failure { reason } => {
            let Some(p) = panic else {
                return Err(format!(
                    "expected a panic containing '{reason}', got {} (status {:?}): {}",
                    o.verdict.name(),
                    o.qemu_status,
                    o.reason
                ));
            };
            if !p.contains(reason.as_str()) {
                return Err(format!("panic '{p}' does not contain '{reason}'"));
            }
            if o.verdict != Verdict::KernelFailure || o.qemu_status != Some(1) {
                return Err(format!(
                    "panicked ('{p}') but ended as {} with status {:?}",
                    o.verdict.name(),
                    o.qemu_status
                ));
            }
            if o.messages().any(|m| m == "reboot: Power down") {
                return Err("powered down after a panic".into());
            }
            if o.duration > FAILURE_DEADLINE {
                return Err(format!(
                    "failed as expected but only after {secs:.1} s: {p}"
                ));
            }
            Ok(format!("failed in {secs:.2} s: {p}"))
        }
    }
}

/// The kernel's memory as its `Early memory node ranges` lines give it
/// (`  node   0: [mem 0x0000000000000000-0x000000007fffffff]`).
pub fn node_ranges(o: &Outcome) -> Vec<MemoryRange> {
    let re = regex::Regex::new(r"^\s+node\s+(\d+): \[mem 0x([0-9a-f]+)-0x([0-9a-f]+)\]$")
        .expect("regex");
    o.messages()
        .filter_map(|m| {
            let c = re.captures(m)?;
            let hex = |i| u64::from_str_radix(&c[i], 16).ok();
            Some((hex(2)?, hex(3)?.checked_add(1)?, c[1].parse().ok()?))
        })
        .collect()
}

fn show_ranges(r: &[MemoryRange]) -> String {
    if r.len() > 4 {
        return format!(
            "{} ranges [{:#x}..{:#x}]",
            r.len(),
            r.first().map_or(0, |x| x.0),
            r.last().map_or(0, |x| x.1)
        );
    }
    let v: Vec<String> = r
        .iter()
        .map(|(b, e, n)| format!("[{b:#x}-{:#x}] node {n}", e - 1))
        .collect();
    v.join(", ")
}

// ---------------------------------------------------------------------------------------
// An editable tree, parsed from a blob and written back (any depth: deep nesting is a case).

/// A device-tree node with its properties in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TreeNode {
    pub name: String,
    pub props: Vec<(String, Vec<u8>)>,
    pub children: Vec<TreeNode>,
}

/// A whole tree: reservation map, boot CPU and nodes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tree {
    pub reservations: Vec<(u64, u64)>,
    pub boot_cpuid_phys: u32,
    pub root: TreeNode,
}

impl TreeNode {
    pub fn new(name: &str) -> Self {
        TreeNode {
            name: name.into(),
            props: Vec::new(),
            children: Vec::new(),
        }
    }

    pub fn prop(&self, name: &str) -> Option<&[u8]> {
        self.props
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| &v[..])
    }

    /// Set (replace or append) a property.
    pub fn set(&mut self, name: &str, value: Vec<u8>) -> &mut Self {
        match self.props.iter_mut().find(|(n, _)| n == name) {
            Some(p) => p.1 = value,
            None => self.props.push((name.into(), value)),
        }
        self
    }

    pub fn set_cells(&mut self, name: &str, cells: &[u32]) -> &mut Self {
        self.set(name, cells_bytes(cells))
    }

    pub fn remove(&mut self, name: &str) -> Option<Vec<u8>> {
        let i = self.props.iter().position(|(n, _)| n == name)?;
        Some(self.props.remove(i).1)
    }

    pub fn is_memory(&self) -> bool {
        self.prop("device_type") == Some(b"memory\0")
    }

    /// The child whose name is `name` or starts with `name@`.
    pub fn child_mut(&mut self, name: &str) -> Option<&mut TreeNode> {
        self.children
            .iter_mut()
            .find(|c| sparsek::fdt::node_name_matches(&c.name, name))
    }

    pub fn child(&self, name: &str) -> Option<&TreeNode> {
        self.children
            .iter()
            .find(|c| sparsek::fdt::node_name_matches(&c.name, name))
    }
}

/// Big-endian cells.
pub fn cells_bytes(cells: &[u32]) -> Vec<u8> {
    cells.iter().flat_map(|c| c.to_be_bytes()).collect()
}

/// A `memory@<base>` node with two-cell addresses and sizes, on NUMA node `nid` (the
/// associativity QEMU writes: `<4 0 0 0 nid>`).
pub fn memory_node(base: u64, size: u64, nid: u32) -> TreeNode {
    let mut n = TreeNode::new(&format!("memory@{base:x}"));
    n.set_cells(
        "reg",
        &[
            (base >> 32) as u32,
            base as u32,
            (size >> 32) as u32,
            size as u32,
        ],
    );
    n.set_cells("ibm,associativity", &[4, 0, 0, 0, nid]);
    n.set("device_type", b"memory\0".to_vec());
    n
}

impl Tree {
    /// Read a blob with the kernel's own reader.
    pub fn parse(blob: &[u8]) -> Result<Tree, String> {
        use sparsek::fdt::{Fdt, Node};
        let e = |e: sparsek::fdt::FdtError| format!("device tree: {e}");
        let fdt = Fdt::new(blob).map_err(e)?;
        fdt.validate().map_err(e)?;
        fn walk(n: &Node) -> Result<TreeNode, String> {
            let e = |e: sparsek::fdt::FdtError| format!("device tree: {e}");
            let mut t = TreeNode::new(n.name);
            for p in n.properties() {
                let p = p.map_err(e)?;
                t.props.push((p.name.into(), p.value.to_vec()));
            }
            for c in n.children() {
                t.children.push(walk(&c.map_err(e)?)?);
            }
            Ok(t)
        }
        let reservations = fdt
            .reservations()
            .map(|r| r.map(|r| (r.address, r.size)).map_err(e))
            .collect::<Result<_, _>>()?;
        Ok(Tree {
            reservations,
            boot_cpuid_phys: fdt.header().boot_cpuid_phys,
            root: walk(&fdt.root())?,
        })
    }

    /// A version 17 blob: header, reservation map, structure block, strings (names
    /// deduplicated), exactly sized.
    pub fn to_blob(&self) -> Vec<u8> {
        let mut structs = Vec::new();
        let mut strings = Vec::new();
        let mut offsets: HashMap<String, u32> = HashMap::new();
        fn put(
            n: &TreeNode,
            s: &mut Vec<u8>,
            strings: &mut Vec<u8>,
            offsets: &mut HashMap<String, u32>,
        ) {
            s.extend_from_slice(&FDT_BEGIN_NODE.to_be_bytes());
            s.extend_from_slice(n.name.as_bytes());
            s.push(0);
            pad4(s);
            for (name, value) in &n.props {
                let off = *offsets.entry(name.clone()).or_insert_with(|| {
                    let o = strings.len() as u32;
                    strings.extend_from_slice(name.as_bytes());
                    strings.push(0);
                    o
                });
                s.extend_from_slice(&FDT_PROP.to_be_bytes());
                s.extend_from_slice(&(value.len() as u32).to_be_bytes());
                s.extend_from_slice(&off.to_be_bytes());
                s.extend_from_slice(value);
                pad4(s);
            }
            for c in &n.children {
                put(c, s, strings, offsets);
            }
            s.extend_from_slice(&FDT_END_NODE.to_be_bytes());
        }
        put(&self.root, &mut structs, &mut strings, &mut offsets);
        structs.extend_from_slice(&FDT_END.to_be_bytes());
        let rsv_off = HEADER_SIZE;
        let struct_off = rsv_off + (self.reservations.len() + 1) * 16;
        let strings_off = struct_off + structs.len();
        let total = strings_off + strings.len();
        let mut b = Vec::with_capacity(total);
        for v in [
            FDT_MAGIC,
            total as u32,
            struct_off as u32,
            strings_off as u32,
            rsv_off as u32,
            17,
            16,
            self.boot_cpuid_phys,
            strings.len() as u32,
            structs.len() as u32,
        ] {
            b.extend_from_slice(&v.to_be_bytes());
        }
        for &(a, s) in &self.reservations {
            b.extend_from_slice(&a.to_be_bytes());
            b.extend_from_slice(&s.to_be_bytes());
        }
        b.extend_from_slice(&[0; 16]);
        b.extend_from_slice(&structs);
        b.extend_from_slice(&strings);
        b
    }

    /// The first CPU node under `/cpus`.
    pub fn cpu_mut(&mut self) -> Option<&mut TreeNode> {
        self.root
            .child_mut("cpus")?
            .children
            .iter_mut()
            .find(|c| c.prop("device_type") == Some(b"cpu\0"))
    }

    /// Remove every memory node; returns them.
    pub fn take_memory_nodes(&mut self) -> Vec<TreeNode> {
        let (mem, rest) = std::mem::take(&mut self.root.children)
            .into_iter()
            .partition(|c| c.is_memory());
        self.root.children = rest;
        mem
    }
}

fn pad4(v: &mut Vec<u8>) {
    while !v.len().is_multiple_of(4) {
        v.push(0);
    }
}

/// Header field `i` (0 = magic, 1 = totalsize, 2 = off_dt_struct, 3 = off_dt_strings,
/// 4 = off_mem_rsvmap, 5 = version, 6 = last_comp_version, 7 = boot_cpuid_phys,
/// 8 = size_dt_strings, 9 = size_dt_struct).
pub fn header(b: &[u8], i: usize) -> u32 {
    u32::from_be_bytes(b[i * 4..i * 4 + 4].try_into().unwrap())
}

pub fn set_header(b: &mut [u8], i: usize, v: u32) {
    b[i * 4..i * 4 + 4].copy_from_slice(&v.to_be_bytes());
}

const TOTALSIZE: usize = 1;
const OFF_STRUCT: usize = 2;
const OFF_STRINGS: usize = 3;
const OFF_RSVMAP: usize = 4;
const VERSION: usize = 5;
const LAST_COMP: usize = 6;
const SIZE_STRINGS: usize = 8;
const SIZE_STRUCT: usize = 9;

/// The hypervisor refuses to map what is not guest RAM: the linear mapping fails at the
/// first such address (`H_ENTER ... H_PARAMETER`).
fn linear_fail(phys: u64) -> String {
    format!(
        "failed: ea {:#x}: H_ENTER into group",
        0xc000_0000_0000_0000u64 | phys
    )
}

const M: u64 = 1 << 20;
const G: u64 = 1 << 30;

// ---------------------------------------------------------------------------------------
// The cases.

/// Every hostile variant of `base` (a tree QEMU dumped for the machine that will boot
/// them: its memory nodes describe exactly the machine's RAM).
pub fn cases(base: &[u8]) -> Vec<Case> {
    let tree = Tree::parse(base).expect("the base tree parses");
    let mem = memory_ranges(base).expect("the base tree's memory");
    let ram_end = mem.iter().map(|r| r.1).max().unwrap_or(0);
    let canon = tree.to_blob();
    let mut out = Vec::new();
    let ok = |lines: &[&str]| Expect::Success {
        memory: mem.clone(),
        lines: lines.iter().map(|s| s.to_string()).collect(),
    };
    // The same memory, all of it on node 0 (touching ranges merged).
    let on_node0 = |lines: &[&str]| Expect::Success {
        memory: merged(mem.iter().map(|r| (r.0, r.1, 0))),
        lines: lines.iter().map(|s| s.to_string()).collect(),
    };
    let fail = |reason: &str| Expect::Failure {
        reason: reason.to_string(),
    };
    let mut add =
        |name: &'static str, blob: Vec<u8>, expect: Expect| out.push(Case { name, blob, expect });
    // A variant of the tree, edited.
    let edit = |f: &dyn Fn(&mut Tree)| {
        let mut t = tree.clone();
        f(&mut t);
        t.to_blob()
    };
    // A variant of the rewritten blob, patched byte-wise.
    let patch = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = canon.clone();
        f(&mut b);
        b
    };
    let (st_off, st_size) = (header(&canon, OFF_STRUCT), header(&canon, SIZE_STRUCT));
    let (str_off, str_size) = (header(&canon, OFF_STRINGS), header(&canon, SIZE_STRINGS));
    let total = header(&canon, TOTALSIZE);

    // The tree as it is, written back by this module: the baseline every edit starts from.
    add("rewritten", canon.clone(), ok(&[]));

    // Truncated: the file ends early, the header unchanged (so totalsize is larger than
    // the initrd) ...
    add(
        "truncated-header",
        canon[..20].to_vec(),
        fail("blob truncated at offset 0x14"),
    );
    let in_struct = (st_off + st_size / 2) as usize;
    let in_strings = (str_off + str_size / 2) as usize;
    add(
        "truncated-struct",
        canon[..in_struct].to_vec(),
        fail("totalsize larger than the memory given"),
    );
    add(
        "truncated-strings",
        canon[..in_strings].to_vec(),
        fail("totalsize larger than the memory given"),
    );
    // ... or with totalsize saying the shorter length: the blocks stick out of it.
    let cut = |at: usize| {
        let mut b = canon[..at].to_vec();
        set_header(&mut b, TOTALSIZE, at as u32);
        b
    };
    add(
        "truncated-struct-totalsize",
        cut(in_struct),
        fail("structure block lies outside the blob"),
    );
    add(
        "truncated-strings-totalsize",
        cut(in_strings),
        fail("strings block lies outside the blob"),
    );
    // The structure block cut just before its FDT_END token (sizes agreeing).
    add(
        "truncated-before-end-token",
        patch(&|b| {
            let end = (st_off + st_size - 4) as usize;
            b.drain(end..end + 4);
            for (i, d) in [(TOTALSIZE, 4), (OFF_STRINGS, 4), (SIZE_STRUCT, 4)] {
                let v = header(b, i) - d;
                set_header(b, i, v);
            }
        }),
        fail("structure block ends without FDT_END"),
    );

    // Bad offsets.
    add(
        "struct-offset-beyond",
        patch(&|b| set_header(b, OFF_STRUCT, total + 0x100)),
        fail("structure block lies outside the blob"),
    );
    add(
        "struct-size-beyond",
        patch(&|b| set_header(b, SIZE_STRUCT, 0xffff_fff0)),
        fail("structure block lies outside the blob"),
    );
    add(
        "strings-offset-beyond",
        patch(&|b| set_header(b, OFF_STRINGS, total + 0x100)),
        fail("strings block lies outside the blob"),
    );
    add(
        "strings-offset-wraps",
        patch(&|b| set_header(b, OFF_STRINGS, 0xffff_ff00)),
        fail("strings block lies outside the blob"),
    );
    add(
        "rsvmap-offset-beyond",
        patch(&|b| set_header(b, OFF_RSVMAP, total)),
        fail("memory reservation map lies outside the blob"),
    );
    add(
        "rsvmap-offset-in-header",
        patch(&|b| set_header(b, OFF_RSVMAP, 8)),
        fail("memory reservation map lies outside the blob"),
    );
    add(
        "struct-offset-misaligned",
        patch(&|b| set_header(b, OFF_STRUCT, st_off + 2)),
        fail("structure block is misaligned"),
    );
    add(
        "rsvmap-offset-misaligned",
        patch(&|b| set_header(b, OFF_RSVMAP, 44)),
        fail("memory reservation map is misaligned"),
    );
    add(
        "struct-offset-into-strings",
        patch(&|b| {
            set_header(b, OFF_STRUCT, str_off);
            set_header(b, SIZE_STRUCT, str_size & !3);
        }),
        fail("unknown structure token"),
    );
    add(
        "root-not-first",
        patch(&|b| {
            let at = st_off as usize;
            b[at..at + 4].copy_from_slice(&FDT_END_NODE.to_be_bytes());
        }),
        fail("structure block does not start with the root node"),
    );

    // Bad magic, unsupported versions.
    add(
        "bad-magic",
        patch(&|b| set_header(b, 0, 0xdead_beef)),
        fail("bad magic 0xdeadbeef"),
    );
    add(
        "byte-swapped-magic",
        patch(&|b| set_header(b, 0, 0xedfe_0dd0)),
        fail("bad magic 0xedfe0dd0"),
    );
    add(
        "version-15",
        patch(&|b| set_header(b, VERSION, 15)),
        fail("unsupported version 15"),
    );
    add(
        "version-18",
        patch(&|b| {
            set_header(b, VERSION, 18);
            set_header(b, LAST_COMP, 18);
        }),
        fail("last compatible version 18"),
    );
    add(
        "last-comp-version-18",
        patch(&|b| set_header(b, LAST_COMP, 18)),
        fail("last compatible version 18 is newer than 17"),
    );
    // A newer version that says it reads as version 16: accepted, as libfdt does.
    add(
        "version-18-compatible",
        patch(&|b| set_header(b, VERSION, 18)),
        ok(&["version 18"]),
    );
    add(
        "version-0",
        patch(&|b| {
            set_header(b, VERSION, 0);
            set_header(b, LAST_COMP, 0);
        }),
        fail("unsupported version 0"),
    );

    // Bad structure tokens.
    let first_prop = find_token(&canon, 3).expect("a property");
    add(
        "bad-token",
        patch(&|b| b[first_prop..first_prop + 4].copy_from_slice(&7u32.to_be_bytes())),
        fail("unknown structure token 0x00000007"),
    );
    add(
        "bad-string-offset",
        patch(&|b| {
            b[first_prop + 8..first_prop + 12].copy_from_slice(&0x00ff_0000u32.to_be_bytes())
        }),
        fail("property name offset 0xff0000 outside the strings block"),
    );
    add(
        "property-length-beyond",
        patch(&|b| {
            b[first_prop + 4..first_prop + 8].copy_from_slice(&0x7fff_0000u32.to_be_bytes())
        }),
        fail("property value lies outside the blob"),
    );
    add(
        "unterminated-strings",
        patch(&|b| {
            let end = (str_off + str_size - 1) as usize;
            b[end] = b'x';
        }),
        fail("node or property name not terminated"),
    );
    add(
        "extra-end-node",
        patch(&|b| {
            let end = (st_off + st_size - 4) as usize;
            b[end..end + 4].copy_from_slice(&FDT_END_NODE.to_be_bytes());
        }),
        fail("END_NODE without a matching BEGIN_NODE"),
    );

    // Absurd cell counts on the root.
    for (name, prop, v) in [
        ("address-cells-0", "#address-cells", 0u32),
        ("address-cells-3", "#address-cells", 3),
        ("address-cells-5", "#address-cells", 5),
        ("address-cells-ffffffff", "#address-cells", 0xffff_ffff),
        ("size-cells-0", "#size-cells", 0),
        ("size-cells-3", "#size-cells", 3),
        ("size-cells-5", "#size-cells", 5),
        ("size-cells-ffffffff", "#size-cells", 0xffff_ffff),
    ] {
        let reason = match (prop, v) {
            ("#address-cells", 0) => "/: #address-cells = 0 is not usable",
            ("#address-cells", 3) => "/: #address-cells = 3 is not usable",
            ("#address-cells", 5) => "/: #address-cells = 5 is not usable",
            ("#address-cells", _) => "/: #address-cells = 4294967295 is not usable",
            (_, 0) => "/: #size-cells = 0 is not usable",
            (_, 3) => "/: #size-cells = 3 is not usable",
            (_, 5) => "/: #size-cells = 5 is not usable",
            _ => "/: #size-cells = 4294967295 is not usable",
        };
        add(
            name,
            edit(&|t| {
                t.root.set_cells(prop, &[v]);
            }),
            fail(reason),
        );
    }
    add(
        "address-cells-two-values",
        edit(&|t| {
            t.root.set_cells("#address-cells", &[2, 2]);
        }),
        fail("/: #address-cells: 8 bytes, one cell expected"),
    );

    // Memory nodes.
    add(
        "overlapping-memory",
        edit(&|t| {
            t.root
                .children
                .push(memory_node(ram_end / 4, ram_end / 2, 0));
        }),
        ok(&["overlaps"]),
    );
    add(
        "duplicate-memory",
        edit(&|t| {
            let mut m = t.take_memory_nodes();
            let mut dup = m[0].clone();
            dup.name.push_str("-dup");
            m.push(dup);
            t.root.children.extend(m);
        }),
        ok(&["overlaps"]),
    );
    add(
        "no-memory-node",
        edit(&|t| {
            t.take_memory_nodes();
        }),
        fail("early_init_devtree: no usable memory in the device tree"),
    );
    add(
        "memory-disabled",
        edit(&|t| {
            let mut m = t.take_memory_nodes();
            for n in &mut m {
                n.set("status", b"disabled\0".to_vec());
            }
            t.root.children.extend(m);
        }),
        fail("no usable memory in the device tree"),
    );
    add(
        "memory-reg-empty",
        edit(&|t| {
            let mut m = t.take_memory_nodes();
            for n in &mut m {
                n.set("reg", Vec::new());
            }
            t.root.children.extend(m);
        }),
        fail("no usable memory in the device tree"),
    );
    add(
        "memory-beyond-max-physmem",
        edit(&|t| {
            t.root.children.push(memory_node(1 << 47, G, 0));
        }),
        ok(&["OF: fdt: Ignoring memory block 0x800000000000 - 0x800040000000"]),
    );
    add(
        "memory-at-top-of-address-space",
        edit(&|t| {
            t.root
                .children
                .push(memory_node(u64::MAX - 0xffff, 16 * M, 0));
        }),
        ok(&["Ignoring memory block 0xffffffffffff0000 - 0xffffffffffffffff"]),
    );
    add(
        "memory-larger-than-ram",
        edit(&|t| {
            let mut m = t.take_memory_nodes();
            m[0] = memory_node(0, 2 * ram_end, 0);
            m.truncate(1);
            t.root.children.extend(m);
        }),
        fail(&linear_fail(ram_end)),
    );
    add(
        "memory-beyond-ram",
        edit(&|t| {
            t.root.children.push(memory_node(ram_end + G, G, 0));
        }),
        fail(&linear_fail(ram_end + G)),
    );

    // NUMA node numbers and node counts.
    add(
        "numa-node-1000",
        edit(&|t| {
            for n in t.root.children.iter_mut().filter(|c| c.is_memory()) {
                n.set_cells("ibm,associativity", &[4, 0, 0, 0, 1000]);
            }
        }),
        on_node0(&["numa: node id 1000 of memory at 0x0 is not below 256, using node 0"]),
    );
    add(
        "numa-node-fffffffe",
        edit(&|t| {
            for n in t.root.children.iter_mut().filter(|c| c.is_memory()) {
                n.set_cells("ibm,associativity", &[4, 0, 0, 0, 0xffff_fffe]);
            }
        }),
        on_node0(&["node id 4294967294 of memory at 0x0 is not below 256"]),
    );
    add(
        "associativity-truncated",
        edit(&|t| {
            for n in t.root.children.iter_mut().filter(|c| c.is_memory()) {
                n.set_cells("ibm,associativity", &[4, 1]);
            }
        }),
        on_node0(&[]),
    );
    // 4096 memory nodes, QEMU's order (top down), together the machine's RAM.
    add(
        "many-memory-nodes",
        edit(&|t| {
            t.take_memory_nodes();
            let n = 4096;
            let step = ram_end / n;
            for i in (0..n).rev() {
                t.root.children.push(memory_node(i * step, step, 0));
            }
        }),
        ok(&[]),
    );
    // Up to 128 memory nodes of whole 16 MiB sections on nodes 0, 3, 6, ... 381: those at
    // or above MAX_NUMNODES (256) go to node 0.
    {
        let sec = 16 * M;
        let step = ram_end.div_ceil(128).div_ceil(sec) * sec;
        let nodes: Vec<(u64, u64, u32)> = (0..ram_end.div_ceil(step))
            .map(|i| {
                let b = i * step;
                (b, step.min(ram_end - b), (i * 3) as u32)
            })
            .collect();
        let want = merged(
            nodes
                .iter()
                .map(|&(b, sz, nid)| (b, b + sz, if nid >= 256 { 0 } else { nid })),
        );
        let last = nodes.last().map_or(0, |n| n.2);
        let line: &'static str = if last >= 256 {
            "is not below 256, using node 0"
        } else {
            "Initmem setup node"
        };
        add(
            "many-numa-nodes",
            edit(&|t| {
                t.take_memory_nodes();
                for &(b, sz, nid) in nodes.iter().rev() {
                    t.root.children.push(memory_node(b, sz, nid));
                }
            }),
            Expect::Success {
                memory: want,
                lines: vec![line.into()],
            },
        );
    }
    // Dynamic reconfiguration memory: 65536 LMBs, none assigned; a count larger than the
    // property; a v2 set of 2^32-1 LMBs above MAX_PHYSMEM_BITS.
    let lmb = 256 * M;
    let dr_node = |props: &[(&str, Vec<u8>)]| {
        let mut n = TreeNode::new("ibm,dynamic-reconfiguration-memory");
        n.set_cells("ibm,lmb-size", &[(lmb >> 32) as u32, lmb as u32]);
        n.set_cells("ibm,associativity-lookup-arrays", &[1, 4, 0, 0, 0, 0]);
        for (k, v) in props {
            n.set(k, v.clone());
        }
        n
    };
    {
        let count = 65536u32;
        let mut v = vec![count];
        for i in 0..count as u64 {
            let a = ram_end + i * lmb;
            v.extend([(a >> 32) as u32, a as u32, 0x8000_0000 + i as u32, 0, 0, 0]);
        }
        let dr = dr_node(&[("ibm,dynamic-memory", cells_bytes(&v))]);
        add(
            "dynamic-memory-65536-unassigned",
            edit(&|t| t.root.children.push(dr.clone())),
            ok(&[]),
        );
    }
    {
        let v = [0x1000_0000u32, 0, 0, 0x8000_0000, 0, 0, 0];
        let dr = dr_node(&[("ibm,dynamic-memory", cells_bytes(&v))]);
        add(
            "dynamic-memory-count-overclaims",
            edit(&|t| t.root.children.push(dr.clone())),
            fail("ibm,dynamic-memory: 268435456 LMBs claimed, room for 1"),
        );
    }
    {
        let base = 1u64 << 47;
        let v = [
            1u32,
            0xffff_ffff,
            (base >> 32) as u32,
            base as u32,
            0x8000_0000,
            0,
            0x8,
        ];
        let dr = dr_node(&[("ibm,dynamic-memory-v2", cells_bytes(&v))]);
        add(
            "dynamic-memory-v2-huge-set",
            edit(&|t| t.root.children.push(dr.clone())),
            ok(&["Ignoring memory block 0x800000000000 - "]),
        );
    }

    // The CPU node's page sizes.
    // Without the property: Linux's 4K-only defaults (a warning), 4K vmemmap pages.
    add(
        "cpu-no-segment-page-sizes",
        edit(&|t| {
            t.cpu_mut()
                .expect("a cpu node")
                .remove("ibm,segment-page-sizes");
        }),
        ok(&["no ibm,segment-page-sizes, assuming 4K pages only"]),
    );
    add(
        "cpu-segment-page-sizes-truncated",
        edit(&|t| {
            let c = t.cpu_mut().expect("a cpu node");
            let mut v = c.prop("ibm,segment-page-sizes").unwrap().to_vec();
            v.truncate(5 * 4);
            c.set("ibm,segment-page-sizes", v);
        }),
        fail(
            "hash-mmu: cpu node: ibm,segment-page-sizes: cell 2: more page encodings announced than the property holds",
        ),
    );
    add(
        "cpu-segment-page-sizes-overclaims",
        edit(&|t| {
            let c = t.cpu_mut().expect("a cpu node");
            c.set_cells("ibm,segment-page-sizes", &[12, 0, 0xffff_ffff, 12, 0]);
        }),
        fail(
            "hash-mmu: cpu node: ibm,segment-page-sizes: cell 2: more page encodings announced than the property holds",
        ),
    );
    add(
        "cpu-segment-page-sizes-header-cut",
        edit(&|t| {
            let c = t.cpu_mut().expect("a cpu node");
            c.set_cells("ibm,segment-page-sizes", &[12, 0, 1, 12, 0, 24, 0x100]);
        }),
        fail(
            "hash-mmu: cpu node: ibm,segment-page-sizes: cell 5: record header (base_shift, slb_enc, count) cut short",
        ),
    );
    // Unknown shifts are skipped, as Linux skips them: the machine's own sizes remain.
    add(
        "cpu-segment-page-sizes-bad-shift",
        edit(&|t| {
            let c = t.cpu_mut().expect("a cpu node");
            let mut v = cells_bytes(&[
                0xff, 0, 1, 0xff, 0, // an unknown base size
                12, 0, 1, 64, 7, // 4K with an unknown actual size
            ]);
            v.extend_from_slice(c.prop("ibm,segment-page-sizes").unwrap_or(&[]));
            c.set("ibm,segment-page-sizes", v);
        }),
        ok(&["Page sizes from device-tree:"]),
    );
    add(
        "cpu-segment-page-sizes-empty",
        edit(&|t| {
            let c = t.cpu_mut().expect("a cpu node");
            c.set("ibm,segment-page-sizes", Vec::new());
        }),
        fail("hash-mmu: cpu node: /cpus/"),
    );

    // Deep nesting: 64 levels (the root included) is the most Linux unflattens.
    let nested = |depth: usize| {
        // Raw tokens (a tree this deep is not built recursively): root + depth - 1 levels.
        let mut chain = Vec::new();
        for _ in 1..depth {
            chain.extend_from_slice(&FDT_BEGIN_NODE.to_be_bytes());
            chain.extend_from_slice(b"deep");
            chain.extend_from_slice(&[0; 4]);
        }
        for _ in 1..depth {
            chain.extend_from_slice(&FDT_END_NODE.to_be_bytes());
        }
        splice_into_root(&canon, &chain)
    };
    add("nesting-64", nested(64), ok(&[]));
    add(
        "nesting-65",
        nested(65),
        fail("nodes nested deeper than 64"),
    );
    add(
        "nesting-10000",
        nested(10000),
        fail("nodes nested deeper than 64"),
    );

    // Reservation map entries.
    add(
        "rsvmap-covers-kernel",
        edit(&|t| t.reservations.push((0x40_0000, 0x100_0000))),
        ok(&[]),
    );
    add(
        "rsvmap-covers-all-memory",
        edit(&|t| t.reservations.push((0, ram_end))),
        fail("memblock"),
    );
    add(
        "rsvmap-everything",
        edit(&|t| t.reservations.push((0, u64::MAX))),
        fail("memblock"),
    );
    add(
        "rsvmap-wraps",
        edit(&|t| t.reservations.push((u64::MAX - 0xffff, 0x10_0000))),
        ok(&[]),
    );
    out
}

/// `blob` (written by [`Tree::to_blob`]) with raw structure tokens inserted at the end of
/// the root node, before its END_NODE; the header is adjusted.
pub fn splice_into_root(blob: &[u8], tokens: &[u8]) -> Vec<u8> {
    let at = (header(blob, OFF_STRUCT) + header(blob, SIZE_STRUCT)) as usize - 8;
    let mut b = blob[..at].to_vec();
    b.extend_from_slice(tokens);
    b.extend_from_slice(&blob[at..]);
    let n = tokens.len() as u32;
    for i in [TOTALSIZE, OFF_STRINGS, SIZE_STRUCT] {
        let v = header(&b, i) + n;
        set_header(&mut b, i, v);
    }
    b
}

/// Ranges sorted, touching ranges of one node merged.
pub fn merged(r: impl IntoIterator<Item = MemoryRange>) -> Vec<MemoryRange> {
    let mut v: Vec<MemoryRange> = r.into_iter().collect();
    v.sort();
    v.dedup_by(|next, prev| {
        let joins = prev.1 == next.0 && prev.2 == next.2;
        if joins {
            prev.1 = next.1;
        }
        joins
    });
    v
}

/// The offset of the first structure token `tok` (3: FDT_PROP) in a blob written by
/// [`Tree::to_blob`] (walked token by token).
pub fn find_token(b: &[u8], tok: u32) -> Option<usize> {
    let mut off = header(b, OFF_STRUCT) as usize;
    let end = off + header(b, SIZE_STRUCT) as usize;
    while off + 4 <= end {
        let t = u32::from_be_bytes(b[off..off + 4].try_into().ok()?);
        if t == tok {
            return Some(off);
        }
        off += 4;
        match t {
            1 => {
                let len = b[off..].iter().position(|&c| c == 0)?;
                off = (off + len + 1 + 3) & !3;
            }
            3 => {
                let len = u32::from_be_bytes(b[off..off + 4].try_into().ok()?) as usize;
                off = (off + 8 + len + 3) & !3;
            }
            2 | 4 => {}
            _ => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests;
