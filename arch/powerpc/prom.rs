//! prom_init: everything done with the firmware before the kernel leaves it behind, as
//! Linux's arch/powerpc/kernel/prom_init.c does:
//!
//! 1. `ibm,client-architecture-support` (CAS): through `call-method` on the root instance
//!    under SLOF/VOF, or QEMU's H_CAS hypercall when there is no firmware (r5 == 0). It
//!    asks for the hash MMU and dynamic-reconfiguration memory, so that memory from
//!    `-m X,slots=N,maxmem=Y` and cold-plugged DIMMs appears in the tree.
//! 2. Flatten the Open Firmware tree into an FDT in the kernel heap (inside the image,
//!    so reserved with it), holding one firmware window for all client calls.
//!    With r5 == 0 the FDT QEMU returns from H_CAS (or the one from r3) is used.
//!
//! From then on one portable FDT reader serves both paths.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use sparsek::boottime::Phase;
use sparsek::fdt::Fdt;
use sparsek::prom::cas;
use sparsek::prom::flatten::{self, OfTree};
use sparsek::{pr_err, pr_info, pr_warn};

use super::entry::{BootInfo, FirmwarePath, now_ns};
use super::exceptions::FirmwareWindow;
use super::firmware::Firmware;
use super::hcall::{self, HStatus};
use super::of::{OfClient, OfError, Phandle};
use super::{PAGE_OFFSET, virt_to_phys};

const PR_PREFIX: &str = "prom: ";

/// QEMU's H_CAS (KVMPPC_HCALL_BASE + 2): CAS without firmware; writes the new FDT,
/// preceded by a 4-byte header, into the buffer it is given.
const KVMPPC_H_CAS: u64 = 0xf002;
/// QEMU's header before the tree it writes (a version word in host byte order).
const H_CAS_HEADER: usize = 4;
/// Room kept free at the end of the buffer beyond the size QEMU is told.
const H_CAS_SLACK: usize = 16;
/// Buffer offered to H_CAS (SLOF offers 2 MiB for 255 cores and 16 TiB of maxmem).
const CAS_BUFFER: usize = 1 << 20;

/// Where the device tree came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DtSource {
    /// Flattened from the Open Firmware tree.
    Flattened,
    /// Returned by H_CAS (r5 == 0).
    Cas,
    /// The blob passed in r3 (r5 == 0, H_CAS unavailable or failed).
    R3,
    /// The initrd (`dtb=initrd`).
    Initrd,
}

impl DtSource {
    pub fn describe(self) -> &'static str {
        match self {
            DtSource::Flattened => "flattened from the firmware",
            DtSource::Cas => "from H_CAS",
            DtSource::R3 => "passed in r3",
            DtSource::Initrd => "from the initrd (dtb=initrd)",
        }
    }
}

/// The device tree the rest of boot reads.
pub struct DeviceTree {
    pub fdt: Fdt<'static>,
    /// Physical address and size of the blob.
    pub phys: u64,
    pub size: u64,
    /// The blob lives in the kernel heap (so the kernel image reservation covers it).
    pub in_image: bool,
    pub source: DtSource,
    /// The tree passed in r3 when H_CAS replaced it: QEMU puts the initrd (in /chosen)
    /// and the reservation map only in that one.
    pub entry_fdt: Option<Fdt<'static>>,
}

impl DeviceTree {
    /// The physical ranges `[start, end)` of the blobs outside the kernel image that
    /// this tree still reads (the r3 tree, as the tree or as `entry_fdt`).
    pub fn blobs_outside_image(&self, boot: &BootInfo) -> Vec<(u64, u64)> {
        let mut v = Vec::new();
        if !self.in_image {
            v.push((self.phys, self.phys + self.size));
        }
        if let Some(e) = &self.entry_fdt {
            v.push((boot.r3, boot.r3 + e.header().totalsize as u64));
        }
        v
    }

    /// A blob the kernel made or copied into its heap (inside the image).
    fn in_heap(
        blob: &'static [u8],
        source: DtSource,
        entry_fdt: Option<Fdt<'static>>,
    ) -> Result<Self, PromError> {
        let fdt = Fdt::new(blob).map_err(|e| PromError::Fdt(alloc::format!("{e}")))?;
        Ok(DeviceTree {
            fdt,
            phys: virt_to_phys(blob.as_ptr() as u64),
            size: blob.len() as u64,
            in_image: true,
            source,
            entry_fdt,
        })
    }
}

/// Why prom_init could not produce a device tree.
pub enum PromError {
    Flatten(String),
    Fdt(String),
}

impl core::fmt::Display for PromError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PromError::Flatten(e) => write!(f, "cannot flatten the device tree: {e}"),
            PromError::Fdt(e) => write!(f, "unusable device tree: {e}"),
        }
    }
}

/// The client interface as the flattener sees it.
struct Walker<'a> {
    of: &'a OfClient,
}

impl OfTree for Walker<'_> {
    type Error = OfError;
    fn root(&mut self) -> Result<u32, OfError> {
        self.of
            .peer(Phandle(0))?
            .map(|p| p.0)
            .ok_or(OfError::Failed { service: "peer" })
    }
    fn child(&mut self, node: u32) -> Result<Option<u32>, OfError> {
        Ok(self.of.child(Phandle(node))?.map(|p| p.0))
    }
    fn peer(&mut self, node: u32) -> Result<Option<u32>, OfError> {
        Ok(self.of.peer(Phandle(node))?.map(|p| p.0))
    }
    fn parent(&mut self, node: u32) -> Result<Option<u32>, OfError> {
        Ok(self.of.parent(Phandle(node))?.map(|p| p.0))
    }
    fn package_to_path(&mut self, node: u32, buf: &mut [u8]) -> Result<usize, OfError> {
        self.of.package_to_path(Phandle(node), buf)
    }
    fn nextprop(&mut self, node: u32, prev: &str, buf: &mut [u8]) -> Result<bool, OfError> {
        self.of.nextprop(Phandle(node), prev, buf)
    }
    fn getproplen(&mut self, node: u32, name: &str) -> Result<Option<usize>, OfError> {
        self.of.getproplen(Phandle(node), name)
    }
    fn getprop(&mut self, node: u32, name: &str, buf: &mut [u8]) -> Result<Option<usize>, OfError> {
        match self.of.getprop(Phandle(node), name, buf) {
            Ok(len) => Ok(Some(len)),
            // The firmware's -1: no such property.
            Err(OfError::Failed { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

unsafe extern "C" {
    static _start: u8;
    static _end: u8;
}

/// Physical extent of the kernel image: text through BSS, stacks and heap.
pub fn kernel_image() -> (u64, u64) {
    let start = virt_to_phys(&raw const _start as u64);
    let end = virt_to_phys(&raw const _end as u64);
    (start, end)
}

/// CAS, then the device tree (see the module comment). Failing CAS is reported and boot
/// goes on with the tree as it is (no DR memory); failing to get any tree is an error.
pub fn prom_init(boot: &BootInfo) -> Result<DeviceTree, PromError> {
    let vector = cas::architecture_vector();
    crate::phase::end(Phase::Entry);
    match &boot.firmware {
        Firmware::Of(of) => {
            let t0 = now_ns();
            let calls0 = super::of::calls();
            // One window for CAS and the whole walk: the swap costs more than a call.
            let window = FirmwareWindow::open().map_err(|st| {
                PromError::Flatten(alloc::format!("big-endian interrupts refused ({st})"))
            })?;
            match cas_via_of(of, &vector) {
                Ok(()) => pr_info!(
                    "ibm,client-architecture-support: done in {} us (hash MMU, DR memory v1/v2, FORM1)",
                    (now_ns() - t0) / 1000
                ),
                Err(e) => pr_warn!(
                    "ibm,client-architecture-support failed: {e}; DR memory will not be described"
                ),
            }
            crate::phase::end(Phase::Cas);
            let t1 = now_ns();
            let mut reservations = vec![kernel_image_range()];
            if let Some((start, end)) = boot.initrd() {
                reservations.push((start, end - start));
            }
            let boot_cpu = boot_cpuid(of);
            let flat = flatten::flatten(&mut Walker { of }, &reservations, boot_cpu)
                .map_err(|e| PromError::Flatten(alloc::format!("{e}")))?;
            let blob: &'static [u8] = flat.blob.leak();
            pr_info!(
                "flattened {} tree: {} nodes, {} properties, {} bytes in {} us ({} client calls in all)",
                boot.path.name(),
                flat.nodes,
                flat.properties,
                blob.len(),
                (now_ns() - t1) / 1000,
                super::of::calls() - calls0
            );
            let dt = DeviceTree::in_heap(blob, DtSource::Flattened, None);
            // The window's close (the swap back) is the walk's cost.
            drop(window);
            crate::phase::end(Phase::Flatten);
            dt
        }
        Firmware::Fdt(r3_fdt) => {
            let t0 = now_ns();
            let cas = cas_via_hcall(&vector);
            // No walk: the tree comes with H_CAS (or is r3's).
            crate::phase::end(Phase::Cas);
            let dt = match cas {
                Ok(blob) => {
                    pr_info!(
                        "ibm,client-architecture-support (H_CAS): done in {} us, new device tree of {} bytes",
                        (now_ns() - t0) / 1000,
                        blob.len()
                    );
                    DeviceTree::in_heap(blob, DtSource::Cas, Some(*r3_fdt))
                }
                Err(e) => {
                    pr_warn!("H_CAS failed: {e}; using the device tree from r3 (no DR memory)");
                    Ok(DeviceTree {
                        fdt: *r3_fdt,
                        phys: boot.r3,
                        size: r3_fdt.header().totalsize as u64,
                        in_image: false,
                        source: DtSource::R3,
                        entry_fdt: None,
                    })
                }
            };
            crate::phase::end(Phase::Flatten);
            dt
        }
    }
}

/// `dtb=initrd`: the blob in the initrd replaces the firmware's tree for the rest of boot
/// (client-architecture-support has been negotiated with the firmware's). The blob must be
/// a whole, well-formed FDT (header, block placement, every structure token); anything
/// else stops the boot, as Linux does for a tree it cannot verify.
pub fn dtb_from_initrd(boot: &BootInfo, fw: DeviceTree) -> DeviceTree {
    let chosen = |fdt: &Fdt| sparsek::prom::reserve::chosen_initrd(fdt).ok().flatten();
    let range = boot
        .initrd()
        .or_else(|| chosen(&fw.fdt).or_else(|| fw.entry_fdt.as_ref().and_then(chosen)));
    let Some((start, end)) = range else {
        super::fatal_fmt(format_args!(
            "dtb=initrd: no initrd was loaded (QEMU: -initrd FILE)"
        ))
    };
    let len = (end - start) as usize;
    // SAFETY: the initrd is RAM the firmware loaded and nothing writes it (it is
    // reserved in memblock with the tree's own range once early_init_devtree runs).
    let bytes = unsafe { phys_slice(start, len) };
    let fdt = Fdt::new(bytes)
        .and_then(|f| f.validate().map(|()| f))
        .unwrap_or_else(|e| {
            super::fatal_fmt(format_args!(
                "dtb=initrd: invalid device tree blob at physical address {start:#x} ({len} bytes): {e}"
            ))
        });
    let size = fdt.header().totalsize as u64;
    pr_info!(
        "dtb=initrd: the device tree comes from the initrd at {start:#x} ({size} of {len} bytes), not from the firmware"
    );
    DeviceTree {
        fdt,
        phys: start,
        size,
        in_image: false,
        source: DtSource::Initrd,
        entry_fdt: fw.entry_fdt,
    }
}

fn kernel_image_range() -> (u64, u64) {
    let (start, end) = kernel_image();
    (start, end - start)
}

fn cas_via_of(of: &OfClient, vector: &[u8]) -> Result<(), OfError> {
    let root = of.open("/")?;
    let vec_phys = virt_to_phys(vector.as_ptr() as u64) as u32;
    let r = of.call_method::<1>("ibm,client-architecture-support", root, &[vec_phys]);
    let _ = of.close(root);
    match r {
        Ok([0]) => Ok(()),
        Ok(_) => Err(OfError::Failed {
            service: "ibm,client-architecture-support",
        }),
        Err(e) => Err(e),
    }
}

/// H_CAS into a heap buffer; returns the new blob (a right-sized copy, leaked).
fn cas_via_hcall(vector: &[u8]) -> Result<&'static [u8], String> {
    let mut buf = vec![0u8; CAS_BUFFER];
    let vec_phys = virt_to_phys(vector.as_ptr() as u64);
    let buf_phys = virt_to_phys(buf.as_mut_ptr() as u64);
    // SAFETY: QEMU reads the vector and writes at most CAS_BUFFER - H_CAS_SLACK bytes (the size
    // passed) plus its 4-byte header into `buf`, which the kernel owns and keeps alive
    // across the call; the compiler fence below orders our reads after its writes.
    let (st, _) = unsafe {
        hcall::hcall(
            KVMPPC_H_CAS,
            [
                vec_phys,
                buf_phys,
                (CAS_BUFFER - H_CAS_SLACK) as u64,
                0,
                0,
                0,
                0,
                0,
                0,
            ],
        )
    };
    // hcall's asm! is not `nomem`, so the compiler already assumes memory changed; the
    // fence documents that QEMU wrote `buf` behind its back.
    core::sync::atomic::compiler_fence(core::sync::atomic::Ordering::SeqCst);
    if st != HStatus::Success {
        return Err(alloc::format!("{st}"));
    }
    let fdt = Fdt::new(&buf[H_CAS_HEADER..]).map_err(|e| alloc::format!("returned tree: {e}"))?;
    let len = fdt.header().totalsize as usize;
    Ok(buf[H_CAS_HEADER..H_CAS_HEADER + len].to_vec().leak())
}

/// The boot CPU's `reg`: /chosen "cpu" (an instance) -> its package, else the first cpu.
fn boot_cpuid(of: &OfClient) -> u32 {
    let from_chosen = || -> Result<u32, OfError> {
        let chosen = of.finddevice("/chosen")?;
        let ih = of.getprop_u32(chosen, "cpu")?;
        let cpu = of.instance_to_package(super::of::Ihandle(ih))?;
        of.getprop_u32(cpu, "reg")
    };
    match from_chosen() {
        Ok(r) => r,
        Err(_) => match Firmware::Of(*of).boot_cpu_prop_u32("reg") {
            Ok(Some(r)) => r,
            _ => {
                pr_err!("cannot tell the boot CPU, assuming 0");
                0
            }
        },
    }
}

/// A slice of physical memory through the linear map (real mode ignores the top bits).
///
/// # Safety
/// `[phys, phys + len)` must be RAM that nothing writes while the slice lives.
pub unsafe fn phys_slice(phys: u64, len: usize) -> &'static [u8] {
    // SAFETY: per the caller's contract.
    unsafe { core::slice::from_raw_parts((PAGE_OFFSET | phys) as *const u8, len) }
}

impl FirmwarePath {
    /// Whether the kernel talks to an Open Firmware client interface.
    pub fn has_client_interface(self) -> bool {
        self != FirmwarePath::Fdt
    }
}
