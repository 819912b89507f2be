//! The hash MMU under PAPR (Linux: `hash__early_init_mmu`, `htab_initialize`,
//! `slb_initialize`): page sizes from the boot CPU's node, the linear mapping bolted
//! into the hypervisor's hashed page table, the SLB, translation on, the memblock limit
//! raised. The arithmetic and the bolting policy are the portable `sparsek::mm::hash`;
//! this module supplies the hypercalls and the order.

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use sparsek::fault::Hcall;
use sparsek::fdt::Fdt;
use sparsek::mm::hash::hpte::{HPTE_V_HYPERVISOR_BITS, PROT_KERNEL_RW};
use sparsek::mm::hash::papr::{H_ENTER, H_READ, H_REMOVE};
use sparsek::mm::hash::{
    BoltOptions, Bolted, CpuMmuInfo, GroupPolicy, HStatus, HashGeometry, HashPageTable, Hpte,
    MmuChoice, Psize, Ssize, bolt_mapping,
};
use sparsek::mm::memblock::{MEMBLOCK_ALLOC_ANYWHERE, Memblock};
use sparsek::mm::sparse::vmemmap::{VMEMMAP_BASE, VMEMMAP_SIZE};
use sparsek::printk::{self, Level, StackString};
use sparsek::{pr_err, pr_info, pr_warn};

use sparsek::mm::hash::slb::{SlbConfig, SlbRegion};

use super::hcall::hcall;
use super::regs::{Msr, mfmsr};
use super::slb;
use super::{PAGE_OFFSET, fatal_fmt};

const PR_PREFIX: &str = "hash-mmu: ";

/// Start of the vmalloc region (nothing is mapped there; segments load on demand).
pub const VMALLOC_BASE: u64 = 0xd000_0000_0000_0000;
/// The linear mapping covers 2^MAX_PHYSMEM_BITS bytes.
const LINEAR_LIMIT: u64 = 1 << sparsek::prom::memory::MAX_PHYSMEM_BITS;
/// What a kernel context covers (vmalloc and io).
const CONTEXT_LIMIT: u64 = 1 << sparsek::mm::hash::hpte::EA_BITS_PER_CONTEXT;

static ENTERS: AtomicU64 = AtomicU64::new(0);
static ENTERED: AtomicU64 = AtomicU64::new(0);
static REMOVES: AtomicU64 = AtomicU64::new(0);
static READS: AtomicU64 = AtomicU64::new(0);

/// The hypervisor's hashed page table, through PAPR hypercalls. Whoever holds one can
/// change the kernel's translations, so making one is `unsafe`.
pub struct PaprHpt {
    _private: (),
}

impl PaprHpt {
    /// # Safety
    /// Every entry entered through it must map a kernel EA to memory the kernel owns
    /// for that purpose (the linear mapping's own physical address, or memory allocated
    /// for a mapping), and nothing may remove an entry whose addresses are still in use.
    pub unsafe fn new() -> Self {
        PaprHpt { _private: () }
    }
}

impl HashPageTable for PaprHpt {
    fn h_enter(&mut self, flags: u64, ptex: u64, hpte: Hpte) -> Result<u64, HStatus> {
        ENTERS.fetch_add(1, Ordering::Relaxed);
        if let Some(st) = super::fault::hcall(Hcall::Enter, ptex) {
            return Err(st);
        }
        // SAFETY: H_ENTER only adds a translation, one that maps what the creator of
        // this PaprHpt vouched for (PaprHpt::new); the hypervisor validates the rest.
        let (st, r) = unsafe { hcall(H_ENTER, [flags, ptex, hpte.v, hpte.r, 0, 0, 0, 0, 0]) };
        if st.ok().is_ok() {
            ENTERED.fetch_add(1, Ordering::Relaxed);
        }
        st.ok().map(|()| r[0])
    }

    fn h_remove(&mut self, flags: u64, ptex: u64, avpn: u64) -> Result<Hpte, HStatus> {
        REMOVES.fetch_add(1, Ordering::Relaxed);
        if let Some(st) = super::fault::hcall(Hcall::Remove, ptex) {
            return Err(st);
        }
        // SAFETY: removing a translation whose addresses are no longer in use, as the
        // creator of this PaprHpt vouched (the hypervisor flushes the TLB).
        let (st, r) = unsafe { hcall(H_REMOVE, [flags, ptex, avpn, 0, 0, 0, 0, 0, 0]) };
        st.ok().map(|()| Hpte { v: r[0], r: r[1] })
    }

    fn h_read(&mut self, ptex: u64) -> Result<Hpte, HStatus> {
        READS.fetch_add(1, Ordering::Relaxed);
        if let Some(st) = super::fault::hcall(Hcall::Read, ptex) {
            return Err(st);
        }
        // SAFETY: H_READ only returns an entry in registers.
        let (st, r) = unsafe { hcall(H_READ, [0, ptex, 0, 0, 0, 0, 0, 0, 0]) };
        st.ok().map(|()| Hpte { v: r[0], r: r[1] })
    }
}

/// H_ENTER calls made so far.
pub fn h_enter_count() -> u64 {
    ENTERS.load(Ordering::Relaxed)
}

/// H_ENTER calls that succeeded (entries inserted) so far.
pub fn h_entered_count() -> u64 {
    ENTERED.load(Ordering::Relaxed)
}

/// One line of hash MMU statistics: hypercalls made, segments loaded on demand.
pub fn report_stats() {
    pr_info!(
        "H_ENTER {}, H_REMOVE {}, H_READ {}; segments loaded on demand {}",
        ENTERS.load(Ordering::Relaxed),
        REMOVES.load(Ordering::Relaxed),
        READS.load(Ordering::Relaxed),
        slb::loads()
    );
}

/// Command-line choices for the hash MMU.
#[derive(Clone, Copy, Debug, Default)]
pub struct MmuParams {
    pub hash_debug: bool,
    pub disable_1tb_segments: bool,
    pub secondary_fallback: bool,
}

/// The hash MMU as set up at boot.
pub struct HashMmu {
    pub info: CpuMmuInfo,
    pub choice: MmuChoice,
    pub geo: HashGeometry,
    pub policy: GroupPolicy,
    pub debug: bool,
    /// Pages of the linear mapping bolted.
    pub linear_pages: u64,
    /// A sample of the bolted linear-mapping entries, for the H_READ self-check.
    pub samples: Vec<Bolted>,
    /// The physical ranges `[start, end)` the linear mapping covers.
    pub mapped: Vec<(u64, u64)>,
}

static MMU: spin::Once<HashMmu> = spin::Once::new();

/// The hash MMU, once [`early_init_mmu`] has run.
pub fn mmu() -> Option<&'static HashMmu> {
    MMU.get()
}

/// Bolted entries kept for the H_READ self-check (at most).
const MAX_SAMPLES: u64 = 4096;

unsafe extern "C" {
    static _text: u8;
    static _etext: u8;
}

fn kernel_text() -> (u64, u64) {
    (&raw const _text as u64, &raw const _etext as u64)
}

pub fn print_bolted(b: &Bolted) {
    printk::printk(Level::Info, PR_PREFIX, format_args!("{b}"));
}

/// Set up the hash MMU and switch translation on. Must run after the firmware's client
/// interface is gone (it needs real mode) and before anything allocates above the
/// real-mode area. Any failure is fatal: the kernel cannot go on without its mappings.
pub fn early_init_mmu(fdt: &Fdt, mb: &mut Memblock, params: MmuParams) -> &'static HashMmu {
    let info = CpuMmuInfo::from_fdt(fdt)
        .unwrap_or_else(|e| fatal_fmt(format_args!("hash-mmu: cpu node: {e}")));
    report_page_sizes(&info);
    let choice = MmuChoice::choose(&info, mb.phys_mem_size(), params.disable_1tb_segments);
    let mut line = StackString::<128>::new();
    let _ = choice.write_page_orders(&mut line);
    printk::printk(Level::Info, "", format_args!("{}", line.as_str()));
    if choice.ssize == Ssize::S1T {
        printk::printk(Level::Info, "", format_args!("Using 1TB segments"));
    } else if info.has_1t_segments {
        pr_info!("1TB segments disabled by the command line");
    }
    pr_info!("ppc64_pft_size    = 0x{:x}", info.pft_size);
    pr_info!("htab_hash_mask    = 0x{:x}", info.hash_mask());

    let geo = HashGeometry {
        sizes: info.page_sizes.clone(),
        hash_mask: info.hash_mask(),
    };
    let policy = if params.secondary_fallback {
        pr_info!("bolted entries may use the secondary group (hash_bolt=secondary)");
        GroupPolicy::SecondaryFallback
    } else {
        GroupPolicy::PrimaryOnly
    };
    let mut mmu = HashMmu {
        info,
        choice,
        geo,
        policy,
        debug: params.hash_debug,
        linear_pages: 0,
        samples: Vec::new(),
        mapped: Vec::new(),
    };

    bolt_linear_mapping(&mut mmu, mb);

    // Everything the kernel touches right after the switch must be mapped; otherwise
    // the first access would fault far from the cause.
    let (kstart, kend) = super::kernel_image();
    if !mmu.mapped.iter().any(|&(s, e)| s <= kstart && kend <= e) {
        fatal_fmt(format_args!(
            "hash-mmu: the kernel image [mem {kstart:#018x}-{:#018x}] is not inside the linear mapping",
            kend - 1
        ));
    }

    bolt_kernel_stack(&mmu);

    pr_info!("Initializing hash mmu with SLB");
    let sllp = |p: Psize| mmu.geo.sizes.def(p).sllp;
    let cfg = SlbConfig {
        ssize: choice.ssize,
        regions: [
            SlbRegion {
                sllp: sllp(choice.linear),
                limit: LINEAR_LIMIT,
            },
            SlbRegion {
                sllp: sllp(choice.virtual_),
                limit: CONTEXT_LIMIT,
            },
            SlbRegion {
                sllp: sllp(choice.io),
                limit: CONTEXT_LIMIT,
            },
            SlbRegion {
                sllp: sllp(choice.vmemmap),
                limit: VMEMMAP_SIZE,
            },
        ],
        slb_size: mmu.info.slb_size,
    };
    // The kernel stack's segment is bolted too (as Linux bolts its stack's): a segment
    // interrupt on the stack would have to be taken on a stack without one.
    let kstack = super::stack::kernel_stack().map_or(PAGE_OFFSET, |(lo, _)| lo);
    // SAFETY: translation is still off.
    unsafe { slb::init(cfg, &[PAGE_OFFSET, VMEMMAP_BASE, kstack]) }
        .unwrap_or_else(|e| fatal_fmt(format_args!("hash-mmu: SLB: {e}")));
    // SAFETY: the linear mapping of all memory is bolted (the kernel image, its stacks
    // and heap included, kernel text executable) and the SLB holds its first segment;
    // any other kernel segment is loaded by the segment interrupt handler.
    unsafe { slb::mmu_on() };
    // Linux raises the limit right after bolting the linear mapping; here translation
    // is on as well, so everything memblock hands out is reachable.
    mb.set_current_limit(MEMBLOCK_ALLOC_ANYWHERE);
    let msr = mfmsr();
    pr_info!(
        "translation on (MSR 0x{msr:016x} {}); memblock limit raised",
        super::regs::MsrBits(msr)
    );
    MMU.call_once(|| mmu)
}

/// Linux's report of `ibm,segment-page-sizes`.
fn report_page_sizes(info: &CpuMmuInfo) {
    if info.page_sizes_defaulted {
        pr_warn!(
            "{}: no ibm,segment-page-sizes, assuming 4K pages only",
            info.path
        );
        return;
    }
    pr_info!("Page sizes from device-tree:");
    for l in &info.page_sizes.lines {
        if l.penc > sparsek::mm::hash::pagesize::PENC_MAX {
            pr_err!(
                "Invalid penc for base_shift={} shift={}",
                l.base_shift,
                l.shift
            );
        }
        pr_info!("{l}");
    }
    for s in &info.page_sizes.skipped {
        sparsek::pr_debug!("page size not used by this kernel: {s}");
    }
}

/// Bolt the linear mapping of every memblock memory region (Linux's htab_initialize
/// loop). Parts of a region that whole pages of the linear page size cannot cover are
/// reserved so that nothing is ever allocated where no mapping exists. Records the
/// physical ranges `[start, end)` mapped in `mmu.mapped`.
fn bolt_linear_mapping(mmu: &mut HashMmu, mb: &mut Memblock) {
    let psize = mmu.choice.linear;
    let step = psize.size();
    let regions: Vec<(u64, u64)> = mb.memory().iter().map(|r| (r.base, r.end())).collect();
    let total: u64 = regions
        .iter()
        .map(|&(b, e)| (e & !(step - 1)).saturating_sub(b.next_multiple_of(step)) / step)
        .sum();
    let stride = total.div_ceil(MAX_SAMPLES).max(1);
    let opts = BoltOptions {
        policy: mmu.policy,
        text: kernel_text(),
        rflags: PROT_KERNEL_RW,
    };
    let debug = mmu.debug;
    let mut n = 0u64;
    let mut samples = Vec::with_capacity((total / stride + 1) as usize);
    let mut uncovered: Vec<(u64, u64)> = Vec::new();
    let mut mapped: Vec<(u64, u64)> = Vec::new();
    for &(base, end) in &regions {
        let first = base.next_multiple_of(step);
        let last = end & !(step - 1);
        if first >= last {
            uncovered.push((base, end));
            continue;
        }
        mapped.push((first, last));
        if first > base {
            uncovered.push((base, first));
        }
        if last < end {
            uncovered.push((last, end));
        }
        let mut keep = |b: &Bolted| {
            if debug {
                print_bolted(b);
            }
            if n.is_multiple_of(stride) || n + 1 == total {
                samples.push(*b);
            }
            n += 1;
        };
        // SAFETY: the linear mapping: each kernel EA to its own physical address.
        let mut hv = unsafe { PaprHpt::new() };
        let res = bolt_mapping(
            &mut hv,
            &mmu.geo,
            PAGE_OFFSET + base,
            PAGE_OFFSET + end,
            base,
            psize,
            mmu.choice.ssize,
            &opts,
            &mut keep,
        );
        if let Err(e) = res {
            // H_PARAMETER for a well-formed entry: the hypervisor does not back that
            // address with RAM, or the group is outside its table: the tree describes a
            // machine other than this one.
            let hint = match e {
                sparsek::mm::hash::BoltError::Insert {
                    error: sparsek::mm::hash::bolt::InsertError::Hypervisor(HStatus::Parameter),
                    ..
                } => {
                    "; the hypervisor refused the entry: does the device tree describe memory \
                     or a hash table (ibm,pft-size) the machine does not have?"
                }
                _ => "",
            };
            fatal_fmt(format_args!(
                "hash-mmu: linear mapping of [mem {base:#018x}-{:#018x}] failed: {e} (htab_bolt_mapping returned {}){hint}",
                end - 1,
                e.code()
            ));
        }
    }
    for (b, e) in uncovered {
        pr_warn!(
            "[mem {b:#018x}-{:#018x}] is not covered by whole {} pages of the linear mapping: reserved",
            e - 1,
            psize.name()
        );
        mb.reserve(b, e - b, "htab_initialize")
            .unwrap_or_else(|err| fatal_fmt(format_args!("hash-mmu: {err}")));
    }
    pr_info!(
        "linear mapping: {n} bolted {} pages in {} segments ({} MiB)",
        psize.name(),
        mmu.choice.ssize.name(),
        (n * step) >> 20
    );
    mmu.linear_pages = n;
    mmu.samples = samples;
    mmu.mapped = mapped;
}

/// Map the kernel stack a second time at [`KSTACK_VIRT`](super::stack::KSTACK_VIRT),
/// in the vmalloc region's page size, with nothing mapped below it (arch::stack).
fn bolt_kernel_stack(mmu: &HashMmu) {
    use super::stack::{GUARD_SIZE, KSTACK_VIRT};
    let psize = mmu.choice.virtual_;
    let step = psize.size();
    let (phys, size) = super::stack::kernel_stack_phys();
    if step > GUARD_SIZE || !phys.is_multiple_of(step) || !size.is_multiple_of(step) {
        pr_warn!(
            "kernel stack: {} pages cannot map it with a guard; boot stays on the boot stack",
            psize.name()
        );
        return;
    }
    let opts = BoltOptions {
        policy: mmu.policy,
        text: (0, 0),
        rflags: PROT_KERNEL_RW,
    };
    let debug = mmu.debug;
    let mut n = 0u64;
    let mut keep = |b: &Bolted| {
        if debug {
            print_bolted(b);
        }
        n += 1;
    };
    // SAFETY: maps the kernel stack's own memory (inside the image, reserved with it) at
    // an address nothing else uses.
    let mut hv = unsafe { PaprHpt::new() };
    let res = bolt_mapping(
        &mut hv,
        &mmu.geo,
        KSTACK_VIRT,
        KSTACK_VIRT + size,
        phys,
        psize,
        mmu.choice.ssize,
        &opts,
        &mut keep,
    );
    if let Err(e) = res {
        fatal_fmt(format_args!(
            "hash-mmu: kernel stack mapping at {KSTACK_VIRT:#x} failed: {e} (htab_bolt_mapping returned {})",
            e.code()
        ));
    }
    super::stack::set_mapped();
    pr_info!(
        "kernel stack: {} KiB at 0x{KSTACK_VIRT:016x} ({n} bolted {} pages), {} KiB guard below it",
        size >> 10,
        psize.name(),
        GUARD_SIZE >> 10
    );
}

pub use sparsek::ktap::Check;

/// The hash MMU's boot self-checks that guard everything built on the MMU, run right
/// after translation is switched on: translation really is on, and every bolted entry
/// read back with H_READ is what was inserted. The end-to-end check of the linear
/// mapping, [`linear_map_check`], runs once boot has written memory across the map.
pub fn selftests() -> Vec<Check> {
    use alloc::format;
    let mut out = Vec::new();
    let msr = mfmsr();
    out.push(Check {
        name: "hash_translation_on",
        ok: Msr::from_bits_retain(msr).contains(Msr::IR | Msr::DR),
        diag: format!("MSR 0x{msr:016x}"),
    });
    let mut failure = None;
    let mut checked = 0;
    if let Some(mmu) = mmu() {
        for b in &mmu.samples {
            checked += 1;
            // SAFETY: H_READ only; nothing is entered or removed.
            match unsafe { PaprHpt::new() }.h_read(b.ptex()) {
                Ok(e)
                    if e.v & !HPTE_V_HYPERVISOR_BITS == b.hpte.v & !HPTE_V_HYPERVISOR_BITS
                        && e.r == b.hpte.r => {}
                Ok(e) => {
                    failure = Some(format!(
                        "ptex {:#x} (ea {:#x}): read v={:#018x} r={:#018x}, inserted v={:#018x} r={:#018x}",
                        b.ptex(),
                        b.ea,
                        e.v,
                        e.r,
                        b.hpte.v,
                        b.hpte.r
                    ));
                    break;
                }
                Err(st) => {
                    failure = Some(format!("H_READ of ptex {:#x}: {st}", b.ptex()));
                    break;
                }
            }
        }
    }
    out.push(Check {
        name: "hash_bolted_read_back",
        ok: failure.is_none() && checked > 0,
        diag: failure.unwrap_or_else(|| {
            format!(
                "{checked} of {} bolted entries read back with H_READ",
                mmu().map_or(0, |m| m.linear_pages)
            )
        }),
    });
    out
}

/// Most words [`linear_map_check`] writes.
const LINEAR_SAMPLES: usize = 64;

/// `hash_linear_map_rw`: words written through the linear mapping read back through it
/// and in real mode at the physical address, after all writes (so two addresses sharing
/// a page would show), each word restored.
///
/// The words are the first of each reserved region that holds one, inside the linear
/// mapping and outside `avoid` (the kernel image and vectors, whose mapping the running
/// kernel proves and whose words it may be using here, and any device-tree blob a live
/// reference reads): memory boot has already written, such as the vmemmap's blocks at the top of
/// memory and the usemaps. Untouched memory is not sampled on purpose: QEMU backs guest
/// RAM with transparent huge pages, and the first store to an untouched 2 MiB costs the
/// host a huge-page clear (measured 0.5 to 7 ms on the benchmark host), which made this
/// check the largest cost of booting to sparse_init. Every bolted entry is still read back
/// by `hash_bolted_read_back`.
pub fn linear_map_check(mb: &Memblock, avoid: &[(u64, u64)]) -> Check {
    use alloc::format;
    let overlaps = |a: u64| avoid.iter().any(|&(s, e)| a < e && a + 8 > s);
    let mapped =
        |a: u64| mmu().is_some_and(|m| m.mapped.iter().any(|&(s, e)| s <= a && a + 8 <= e));
    let mut addrs: Vec<u64> = mb
        .reserved()
        .iter()
        .filter(|r| r.base.next_multiple_of(8) + 8 <= r.end())
        .map(|r| r.base.next_multiple_of(8))
        .filter(|&a| !overlaps(a) && mb.is_memory(a, 8) && mapped(a))
        .collect();
    addrs.dedup();
    if addrs.len() > LINEAR_SAMPLES {
        // Evenly across the regions, the last one kept.
        let n = addrs.len();
        addrs = (0..LINEAR_SAMPLES)
            .map(|k| addrs[k * (n - 1) / (LINEAR_SAMPLES - 1)])
            .collect();
        addrs.dedup();
    }
    let pattern = |pa: u64| pa ^ 0x5a5a_0000_c3c3_0000 ^ (pa << 17);
    let word = |pa: u64| (PAGE_OFFSET + pa) as *mut u64;
    let mut saved = Vec::with_capacity(addrs.len());
    for &pa in &addrs {
        // SAFETY: pa is an 8-byte aligned word of RAM inside a reserved region and inside
        // the bolted linear mapping (checked above), outside the kernel image (so not
        // this function's own data) and outside any blob a live reference reads; nothing
        // else runs, and its value is restored below before anything reads it.
        unsafe {
            saved.push(word(pa).read_volatile());
            word(pa).write_volatile(pattern(pa));
        }
    }
    let mut bad = None;
    for (i, &pa) in addrs.iter().enumerate() {
        // SAFETY: as above.
        let got = unsafe { word(pa).read_volatile() };
        // SAFETY: pa is RAM; a real-mode load has no other effect.
        let real = unsafe { super::regs::load_real_mode(pa) };
        if (got != pattern(pa) || real != pattern(pa)) && bad.is_none() {
            bad = Some((pa, got, real));
        }
        // SAFETY: as above; the word gets back what it held.
        unsafe { word(pa).write_volatile(saved[i]) };
    }
    let lo = addrs.first().copied().unwrap_or(0);
    let hi = addrs.last().copied().unwrap_or(0);
    Check {
        name: "hash_linear_map_rw",
        ok: bad.is_none() && !addrs.is_empty(),
        diag: match bad {
            None if addrs.is_empty() => {
                "no reserved memory outside the kernel image to write".into()
            }
            None => format!(
                "{} words of reserved memory in [mem {lo:#x}-{:#x}] written through the linear mapping, read back through it and in real mode",
                addrs.len(),
                hi + 7
            ),
            Some((pa, got, real)) => format!(
                "pa {pa:#x}: wrote {:#018x}, read {got:#018x} through the mapping, {real:#018x} in real mode",
                pattern(pa)
            ),
        },
    }
}
