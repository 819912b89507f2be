//! Page and segment sizes from the boot CPU's device-tree node, and the choice Linux
//! makes among them (`htab_dt_scan_page_sizes`, `htab_init_page_sizes`,
//! `htab_dt_scan_seg_sizes` in Linux's hash_utils).
//!
//! `ibm,segment-page-sizes` is a list of records, each
//! `base_shift, slb_enc, count, { shift, pte_enc } x count`: a segment whose SLB entry
//! carries `slb_enc` has base pages of 2^base_shift bytes and may hold pages of each listed
//! actual size, marked in the HPTE's second doubleword with `pte_enc`. QEMU 7.2 with
//! `cap-hpt-max-page-size=16M` offers 4K, 64K and 16M base sizes.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::{self, Write};

use crate::fdt::{Fdt, FdtError, Node};

/// The page sizes Linux's hash MMU knows by shift (`get_idx_from_shift`); others in the
/// device tree are skipped, as Linux skips them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Psize {
    P4K = 0,
    P64K = 1,
    P1M = 2,
    P16M = 3,
    P16G = 4,
}

pub const PSIZE_COUNT: usize = 5;

impl Psize {
    pub const ALL: [Psize; PSIZE_COUNT] = [
        Psize::P4K,
        Psize::P64K,
        Psize::P1M,
        Psize::P16M,
        Psize::P16G,
    ];

    pub const fn from_shift(shift: u32) -> Option<Psize> {
        match shift {
            12 => Some(Psize::P4K),
            16 => Some(Psize::P64K),
            20 => Some(Psize::P1M),
            24 => Some(Psize::P16M),
            34 => Some(Psize::P16G),
            _ => None,
        }
    }

    pub const fn shift(self) -> u32 {
        match self {
            Psize::P4K => 12,
            Psize::P64K => 16,
            Psize::P1M => 20,
            Psize::P16M => 24,
            Psize::P16G => 34,
        }
    }

    pub const fn size(self) -> u64 {
        1 << self.shift()
    }

    /// The name the `hash_debug` lines use.
    pub const fn name(self) -> &'static str {
        match self {
            Psize::P4K => "4K",
            Psize::P64K => "64K",
            Psize::P1M => "1M",
            Psize::P16M => "16M",
            Psize::P16G => "16G",
        }
    }

    pub const fn index(self) -> usize {
        self as usize
    }
}

/// Segment size: 256 MiB or 1 TiB (the HPTE and SLB B field: 0 or 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ssize {
    S256M = 0,
    S1T = 1,
}

impl Ssize {
    pub const fn shift(self) -> u32 {
        match self {
            Ssize::S256M => 28,
            Ssize::S1T => 40,
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            Ssize::S256M => "256M",
            Ssize::S1T => "1T",
        }
    }

    /// The B field of the HPTE and the SLB entry.
    pub const fn bits(self) -> u64 {
        self as u64
    }
}

/// Linux's `struct mmu_psize_def` for one base page size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PsizeDef {
    /// log2 of the page size; 0 when the size is not offered as a base size.
    pub shift: u32,
    /// The SLB L||LP encoding for segments of this base size.
    pub sllp: u64,
    /// Bits of the AVPN the hardware ignores for this size.
    pub avpnm: u64,
    /// Linux's tlbiel flag (set for 4K and 64K only).
    pub tlbiel: bool,
    /// The HPTE LP encoding of each actual size in a segment of this base size.
    pub penc: [Option<u32>; PSIZE_COUNT],
}

impl PsizeDef {
    const NONE: PsizeDef = PsizeDef {
        shift: 0,
        sllp: 0,
        avpnm: 0,
        tlbiel: false,
        penc: [None; PSIZE_COUNT],
    };
}

/// The SLB VSID word's L||LP bits: what an `slb_enc` may contain.
pub const SLB_LLP_MASK: u64 = 0x130;
/// The largest LP encoding the HPTE's second doubleword holds (8 bits at 12..19).
pub const PENC_MAX: u32 = 0xff;

/// One record of `ibm,segment-page-sizes`, raw, in device-tree order (what the hypervisor
/// validates H_ENTER against).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentPageSize {
    pub base_shift: u32,
    pub slb_enc: u32,
    /// `(shift, pte_enc)` of each actual size.
    pub enc: Vec<(u32, u32)>,
}

/// One `base_shift=..: shift=..` line of Linux's report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageSizeLine {
    pub base_shift: u32,
    pub shift: u32,
    pub sllp: u64,
    pub avpnm: u64,
    pub tlbiel: bool,
    pub penc: u32,
}

impl fmt::Display for PageSizeLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "base_shift={}: shift={}, sllp=0x{:04x}, avpnm=0x{:08x}, tlbiel={}, penc={}",
            self.base_shift, self.shift, self.sllp, self.avpnm, self.tlbiel as u8, self.penc as i32
        )
    }
}

/// Linux's `mmu_psize_defs`: what each base size offers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageSizes {
    pub defs: [PsizeDef; PSIZE_COUNT],
    /// The raw records, in device-tree order.
    pub segments: Vec<SegmentPageSize>,
    /// The report lines, in the order Linux prints them.
    pub lines: Vec<PageSizeLine>,
    /// Records or sizes skipped because Linux does not know their shift.
    pub skipped: Vec<String>,
}

impl PageSizes {
    pub fn def(&self, p: Psize) -> &PsizeDef {
        &self.defs[p.index()]
    }

    /// Is `p` offered as a base (segment) page size?
    pub fn has_base(&self, p: Psize) -> bool {
        self.def(p).shift != 0
    }

    /// The LP encoding of an `actual` page in a segment of `base` size.
    pub fn penc(&self, base: Psize, actual: Psize) -> Option<u32> {
        self.def(base).penc[actual.index()]
    }

    /// Can pages of size `p` be used in segments of base size `p` (a base size with a
    /// valid encoding for itself)?
    pub fn usable(&self, p: Psize) -> bool {
        self.has_base(p) && self.penc(p, p).is_some()
    }

    /// Parse `ibm,segment-page-sizes` (the property's cells).
    pub fn parse(cells: &[u32]) -> Result<PageSizes, MmuDtError> {
        let mut ps = PageSizes {
            defs: [PsizeDef::NONE; PSIZE_COUNT],
            segments: Vec::new(),
            lines: Vec::new(),
            skipped: Vec::new(),
        };
        let mut i = 0;
        while i < cells.len() {
            if cells.len() - i < 3 {
                return Err(MmuDtError::SegmentPageSizes {
                    cell: i,
                    what: "record header (base_shift, slb_enc, count) cut short",
                });
            }
            let (base_shift, slb_enc, count) = (cells[i], cells[i + 1], cells[i + 2] as usize);
            let slb_enc_cell = i + 1;
            i += 3;
            if count > (cells.len() - i) / 2 {
                return Err(MmuDtError::SegmentPageSizes {
                    cell: i - 1,
                    what: "more page encodings announced than the property holds",
                });
            }
            let enc: Vec<(u32, u32)> = cells[i..i + 2 * count]
                .chunks_exact(2)
                .map(|c| (c[0], c[1]))
                .collect();
            i += 2 * count;
            ps.segments.push(SegmentPageSize {
                base_shift,
                slb_enc,
                enc: enc.clone(),
            });
            let Some(base) = Psize::from_shift(base_shift) else {
                ps.skipped.push(alloc::format!("base_shift={base_shift}"));
                continue;
            };
            // A size the kernel may put in an SLB entry must fit its L||LP field.
            if slb_enc as u64 & !SLB_LLP_MASK != 0 {
                return Err(MmuDtError::SegmentPageSizes {
                    cell: slb_enc_cell,
                    what: "slb_enc has bits outside the SLB entry's L||LP field (0x130)",
                });
            }
            let def = &mut ps.defs[base.index()];
            def.shift = base_shift;
            def.avpnm = if base_shift <= 23 {
                0
            } else {
                (1 << (base_shift - 23)) - 1
            };
            def.sllp = slb_enc as u64;
            def.tlbiel = matches!(base, Psize::P4K | Psize::P64K);
            for (shift, penc) in enc {
                let Some(actual) = Psize::from_shift(shift) else {
                    ps.skipped
                        .push(alloc::format!("base_shift={base_shift}: shift={shift}"));
                    continue;
                };
                // An encoding that does not fit the HPTE's LP field (Linux's -1 among
                // them) means "not offered"; the report line still shows it.
                def.penc[actual.index()] = (penc <= PENC_MAX).then_some(penc);
                ps.lines.push(PageSizeLine {
                    base_shift,
                    shift,
                    sllp: def.sllp,
                    avpnm: def.avpnm,
                    tlbiel: def.tlbiel,
                    penc,
                });
            }
        }
        Ok(ps)
    }

    /// Linux's fallback when the property is absent (`mmu_psize_defaults`): 4K pages only.
    pub fn defaults() -> PageSizes {
        PageSizes::parse(&[12, 0, 1, 12, 0]).expect("static table")
    }
}

/// What the boot CPU's node says about the MMU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CpuMmuInfo {
    /// The CPU node's path (for messages).
    pub path: String,
    /// log2 of the hashed page table's size in bytes (`ibm,pft-size`, second cell).
    pub pft_size: u32,
    /// SLB entries (`ibm,slb-size`; 64 when absent, as Linux assumes).
    pub slb_size: u32,
    /// `ibm,processor-segment-sizes` lists 40 (1 TiB).
    pub has_1t_segments: bool,
    /// `ibm,segment-page-sizes`, or Linux's 4K-only defaults when absent.
    pub page_sizes: PageSizes,
    /// The property was absent and the defaults are in use.
    pub page_sizes_defaulted: bool,
}

/// A device tree the hash MMU cannot be set up from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MmuDtError {
    Fdt(FdtError),
    NoCpuNode,
    /// A required property is missing.
    Missing(String, &'static str),
    /// A property has an unusable value.
    Bad(String, &'static str, String),
    SegmentPageSizes {
        cell: usize,
        what: &'static str,
    },
}

impl From<FdtError> for MmuDtError {
    fn from(e: FdtError) -> Self {
        MmuDtError::Fdt(e)
    }
}

impl fmt::Display for MmuDtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MmuDtError::Fdt(e) => write!(f, "{e}"),
            MmuDtError::NoCpuNode => f.write_str("no node with device_type \"cpu\""),
            MmuDtError::Missing(path, prop) => write!(f, "{path}: no {prop} property"),
            MmuDtError::Bad(path, prop, why) => write!(f, "{path}: {prop}: {why}"),
            MmuDtError::SegmentPageSizes { cell, what } => {
                write!(f, "ibm,segment-page-sizes: cell {cell}: {what}")
            }
        }
    }
}

/// The smallest and largest hashed page tables accepted (Linux: 256 KiB minimum; PAPR
/// caps it at 2^46 bytes).
pub const PFT_SIZE_MIN: u32 = 18;
pub const PFT_SIZE_MAX: u32 = 46;

fn is_cpu(node: &Node) -> Result<bool, FdtError> {
    Ok(node
        .property("device_type")?
        .and_then(|p| p.as_str())
        .is_some_and(|s| s == "cpu"))
}

/// The first node with `device_type = "cpu"` (as Linux's flat-tree scans take it),
/// looked for under `/cpus` first, then anywhere.
fn find_cpu<'a>(fdt: &Fdt<'a>) -> Result<Option<(Node<'a>, String)>, FdtError> {
    if let Some(cpus) = fdt.find_node("/cpus")? {
        for child in cpus.children() {
            let child = child?;
            if is_cpu(&child)? {
                let path = alloc::format!("/cpus/{}", child.name);
                return Ok(Some((child, path)));
            }
        }
    }
    // Anywhere else, depth first.
    let mut stack: Vec<(Node<'a>, String)> = Vec::new();
    stack.push((fdt.root(), String::new()));
    while let Some((node, path)) = stack.pop() {
        if is_cpu(&node)? {
            return Ok(Some((
                node,
                if path.is_empty() { "/".into() } else { path },
            )));
        }
        let mut kids = Vec::new();
        for child in node.children() {
            let child = child?;
            let p = alloc::format!("{path}/{}", child.name);
            kids.push((child, p));
        }
        stack.extend(kids.into_iter().rev());
    }
    Ok(None)
}

impl CpuMmuInfo {
    /// Read the boot CPU's MMU properties.
    pub fn from_fdt(fdt: &Fdt) -> Result<CpuMmuInfo, MmuDtError> {
        let (cpu, path) = find_cpu(fdt)?.ok_or(MmuDtError::NoCpuNode)?;
        let cells = |name: &'static str| -> Result<Option<Vec<u32>>, MmuDtError> {
            let Some(p) = cpu.property(name)? else {
                return Ok(None);
            };
            if p.value.len() % 4 != 0 {
                return Err(MmuDtError::Bad(
                    path.clone(),
                    name,
                    alloc::format!("{} bytes is not a whole number of cells", p.value.len()),
                ));
            }
            Ok(Some(p.cells().collect()))
        };
        let pft = cells("ibm,pft-size")?
            .ok_or_else(|| MmuDtError::Missing(path.clone(), "ibm,pft-size"))?;
        let pft_size = match pft.as_slice() {
            [_, n] => *n,
            other => {
                return Err(MmuDtError::Bad(
                    path.clone(),
                    "ibm,pft-size",
                    alloc::format!("{} cells, expected 2", other.len()),
                ));
            }
        };
        if !(PFT_SIZE_MIN..=PFT_SIZE_MAX).contains(&pft_size) {
            return Err(MmuDtError::Bad(
                path.clone(),
                "ibm,pft-size",
                alloc::format!("2^{pft_size} bytes is outside 2^{PFT_SIZE_MIN}..2^{PFT_SIZE_MAX}"),
            ));
        }
        let slb_size = match cells("ibm,slb-size")?.as_deref() {
            None => 64,
            Some([n]) if *n >= 4 => *n,
            Some(other) => {
                return Err(MmuDtError::Bad(
                    path.clone(),
                    "ibm,slb-size",
                    alloc::format!("{other:?}: expected one cell of at least 4"),
                ));
            }
        };
        let has_1t_segments =
            cells("ibm,processor-segment-sizes")?.is_some_and(|c| c.contains(&40));
        let (page_sizes, page_sizes_defaulted) = match cells("ibm,segment-page-sizes")? {
            Some(c) => (PageSizes::parse(&c)?, false),
            None => (PageSizes::defaults(), true),
        };
        // The kernel's base pages (and the fallback for every other use) are 64K or 4K:
        // a property that offers neither (empty, or every record skipped) cannot be
        // booted with; say so here rather than when the first mapping fails.
        if !page_sizes.usable(Psize::P64K) && !page_sizes.usable(Psize::P4K) {
            return Err(MmuDtError::Bad(
                path,
                "ibm,segment-page-sizes",
                "offers neither 4K nor 64K base pages".into(),
            ));
        }
        Ok(CpuMmuInfo {
            path,
            pft_size,
            slb_size,
            has_1t_segments,
            page_sizes,
            page_sizes_defaulted,
        })
    }

    /// Number of 8-entry groups minus one (Linux's `htab_hash_mask`).
    pub fn hash_mask(&self) -> u64 {
        (1u64 << (self.pft_size - 7)) - 1
    }
}

/// The page and segment sizes the kernel uses (Linux's `mmu_*_psize`, `mmu_kernel_ssize`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MmuChoice {
    pub linear: Psize,
    pub virtual_: Psize,
    pub io: Psize,
    pub vmemmap: Psize,
    pub ssize: Ssize,
}

/// RAM at boot from which Linux backs the vmemmap with 16M pages.
pub const VMEMMAP_16M_MIN_RAM: u64 = 1 << 30;

impl MmuChoice {
    /// Choose as Linux does: 64K base pages; the linear mapping with 16M pages when 16M
    /// is a base size, else 1M when that is (QEMU never offers it), else 64K (else 4K);
    /// the vmemmap with 16M pages when offered and there is at least 1 GiB of RAM, else
    /// 64K (else 4K); 1T segments when the CPU has them, unless `disable_1tb_segments`.
    pub fn choose(info: &CpuMmuInfo, ram: u64, disable_1tb_segments: bool) -> MmuChoice {
        let ps = &info.page_sizes;
        let small = if ps.usable(Psize::P64K) {
            Psize::P64K
        } else {
            Psize::P4K
        };
        let linear = if ps.usable(Psize::P16M) {
            Psize::P16M
        } else if ps.usable(Psize::P1M) {
            Psize::P1M
        } else {
            small
        };
        let vmemmap = if ps.usable(Psize::P16M) && ram >= VMEMMAP_16M_MIN_RAM {
            Psize::P16M
        } else {
            small
        };
        let ssize = if info.has_1t_segments && !disable_1tb_segments {
            Ssize::S1T
        } else {
            Ssize::S256M
        };
        MmuChoice {
            linear,
            virtual_: small,
            io: small,
            vmemmap,
            ssize,
        }
    }

    /// Linux's `Page orders: ...` line (without a prefix).
    pub fn write_page_orders(&self, w: &mut impl Write) -> fmt::Result {
        write!(
            w,
            "Page orders: linear mapping = {}, virtual = {}, io = {}, vmemmap = {}",
            self.linear.shift(),
            self.virtual_.shift(),
            self.io.shift(),
            self.vmemmap.shift()
        )
    }
}
