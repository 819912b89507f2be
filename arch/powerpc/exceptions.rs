//! Exception vectors, the trap frame and the handler for unexpected interrupts.
//!
//! ```text
//!  physical 0x100 ............................ 0xfa0 ................... < 0x2000
//!          | vector stubs, one per interrupt,   | exception_common       |
//!          | each branching to exception_common | (saves, calls Rust)    |
//! ```
//! (the image is exceptions.S's `.head.vectors`, copied from the kernel at boot)
//! The firmware owns that memory until the kernel is done with it (VOF's own code lives at
//! 0..0xda0), so while the Open Firmware client interface is in use the kernel keeps a copy
//! of the firmware's bytes and swaps them back in, with big-endian interrupts, for the
//! duration of each client-interface call ([`FirmwareWindow`]).
//!
//! Every interrupt this kernel does not expect is fatal: the register state is printed
//! (vector name and number, SRR0, SRR1, DAR, DSISR, LR, r1, GPRs, a backtrace) and the
//! kernel ends with the failure status. An exception while handling one stops at once.

use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use sparsek::{pr_emerg, printk};

use super::hcall;
use super::regs::{MsrBits, flush_icache_range};

const PR_PREFIX: &str = "";

/// Register state saved by exception_common (layout shared with exceptions.S).
#[repr(C)]
#[derive(Clone, Debug)]
pub struct TrapFrame {
    pub gpr: [u64; 32],
    pub nip: u64,
    pub msr: u64,
    pub dar: u64,
    pub dsisr: u64,
    pub link: u64,
    pub ctr: u64,
    pub ccr: u64,
    pub xer: u64,
    pub cfar: u64,
    pub trap: u64,
}

/// Stack space below the trap frame for the ABI's frame header (as Linux's
/// STACK_FRAME_OVERHEAD).
pub const REGS_OFFSET: usize = 112;
pub const FRAME_SIZE: usize = (REGS_OFFSET + core::mem::size_of::<TrapFrame>() + 15) & !15;
pub const EXC_STACK_SIZE: usize = 32 * 1024;
static_assertions::const_assert_eq!(core::mem::size_of::<TrapFrame>(), 42 * 8);

/// Physical address of the vector area, and the most it may take.
const VECTORS_PHYS: usize = 0x100;
const VECTORS_MAX: usize = 0x2000 - VECTORS_PHYS;
/// Kernel address of physical memory in real mode and in the linear mapping.
const KERNEL_VIRT: usize = 0xc000_0000_0000_0000;

unsafe extern "C" {
    static __vectors_start: u8;
    static __vectors_end: u8;
    static __exc_stack_bottom: u8;
    static __exc_stack_top: u8;
    static __boot_stack_bottom: u8;
    static __boot_stack_top: u8;
}

fn vectors_image() -> &'static [u8] {
    // SAFETY: the linker script brackets the .head.vectors input with these symbols, so
    // the range is the (read-only, never modified) vector image inside the kernel.
    unsafe {
        let start = &raw const __vectors_start;
        let end = &raw const __vectors_end;
        core::slice::from_raw_parts(start, end as usize - start as usize)
    }
}

fn vector_area() -> *mut u8 {
    (KERNEL_VIRT + VECTORS_PHYS) as *mut u8
}

/// The firmware's bytes at 0x100.. while the client interface is alive.
static FIRMWARE_SAVE: spin::Mutex<([u8; VECTORS_MAX], bool)> =
    spin::Mutex::new(([0; VECTORS_MAX], false));
static INSTALLED: AtomicBool = AtomicBool::new(false);

fn copy_to_vector_area(bytes: &[u8]) {
    // SAFETY: physical 0x100..0x2000 is reserved for interrupt vectors: the kernel image
    // starts at 0x400000 and the firmware's own use of it is saved and restored around
    // every call into the firmware (FirmwareWindow). `bytes` is at most VECTORS_MAX long.
    unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), vector_area(), bytes.len()) };
    let start = vector_area() as usize;
    // SAFETY: the same RAM range as just written.
    unsafe { flush_icache_range(start, start + bytes.len()) };
}

/// Install the kernel's vectors at 0x100 and take interrupts little-endian.
/// With `firmware_alive` the firmware's bytes there are kept for [`FirmwareWindow`].
/// On failure nothing has changed: the firmware's vectors (and code) are still in place.
pub fn install(firmware_alive: bool) -> Result<(), hcall::HStatus> {
    let image = vectors_image();
    assert!(image.len() <= VECTORS_MAX, "vector image too large");
    if firmware_alive {
        save_firmware_bytes(&mut FIRMWARE_SAVE.lock());
    }
    // SAFETY: interrupts are off and nothing faults between this switch and the copy
    // below that puts little-endian vectors in place.
    unsafe { hcall::set_interrupt_endian(true)? };
    copy_to_vector_area(image);
    INSTALLED.store(true, Ordering::Release);
    Ok(())
}

/// Copy what is at the vector area now into the firmware save buffer.
fn save_firmware_bytes(save: &mut ([u8; VECTORS_MAX], bool)) {
    let len = vectors_image().len();
    // SAFETY: reading physical 0x100..0x100+len, which is RAM (see copy_to_vector_area).
    unsafe { core::ptr::copy_nonoverlapping(vector_area(), save.0.as_mut_ptr(), len) };
    save.1 = true;
}

/// While alive, the firmware's vectors and interrupt endianness are back in place: one
/// is opened around every call into Open Firmware. Windows nest; only the outermost one
/// swaps, so a long run of client calls (a device-tree walk) can hold one window and pay
/// for the swap once. Closing re-saves the firmware's bytes, so whatever the firmware
/// changed there during the call is what it finds next time.
pub struct FirmwareWindow {
    swapped: bool,
}

/// Open windows (the swap happens on 0 -> 1 and 1 -> 0).
static WINDOW_DEPTH: AtomicUsize = AtomicUsize::new(0);

impl FirmwareWindow {
    /// Put the firmware's bytes and big-endian interrupts back. Fails only when the
    /// hypervisor refuses the endianness switch; the firmware must not be called then.
    pub fn open() -> Result<Self, hcall::HStatus> {
        let save = FIRMWARE_SAVE.lock();
        if !save.1 || !INSTALLED.load(Ordering::Acquire) {
            // The firmware's memory was never touched.
            return Ok(FirmwareWindow { swapped: false });
        }
        if WINDOW_DEPTH.fetch_add(1, Ordering::AcqRel) > 0 {
            return Ok(FirmwareWindow { swapped: true });
        }
        // SAFETY: interrupts are off; the firmware's (big-endian) vectors go back in
        // place right below, before anything can fault. On failure nothing changed.
        if let Err(st) = unsafe { hcall::set_interrupt_endian(false) } {
            WINDOW_DEPTH.fetch_sub(1, Ordering::AcqRel);
            return Err(st);
        }
        copy_to_vector_area(&save.0[..vectors_image().len()]);
        Ok(FirmwareWindow { swapped: true })
    }
}

impl Drop for FirmwareWindow {
    fn drop(&mut self) {
        if self.swapped && WINDOW_DEPTH.fetch_sub(1, Ordering::AcqRel) == 1 {
            save_firmware_bytes(&mut FIRMWARE_SAVE.lock());
            copy_to_vector_area(vectors_image());
            // SAFETY: our little-endian vectors were put back just above.
            if let Err(st) = unsafe { hcall::set_interrupt_endian(true) } {
                // Our vectors would be fetched byte-swapped, so no fault could be
                // reported: stop here with what we know.
                panic!("H_SET_MODE(little-endian interrupts) failed: {st}");
            }
        }
    }
}

/// Name of an interrupt vector.
pub fn vector_name(trap: u64) -> &'static str {
    match trap {
        0x100 => "System Reset",
        0x200 => "Machine Check",
        0x300 => "Data Storage",
        0x380 => "Data Segment",
        0x400 => "Instruction Storage",
        0x480 => "Instruction Segment",
        0x500 => "External",
        0x600 => "Alignment",
        0x700 => "Program Check",
        0x800 => "FP Unavailable",
        0x900 => "Decrementer",
        0x980 => "Hypervisor Decrementer",
        0xa00 => "Doorbell",
        0xb00 => "Reserved",
        0xc00 => "System Call",
        0xd00 => "Single Step",
        0xe00 => "Hypervisor Data Storage",
        0xe20 => "Hypervisor Instruction Storage",
        0xe40 => "Hypervisor Emulation Assistance",
        0xe60 => "Hypervisor Maintenance",
        0xe80 => "Hypervisor Doorbell",
        0xea0 => "Hypervisor Virtualization",
        0xf00 => "Performance Monitor",
        0xf20 => "Vector Unavailable",
        0xf40 => "VSX Unavailable",
        0xf60 => "Facility Unavailable",
        0xf80 => "Hypervisor Facility Unavailable",
        _ => "Unknown",
    }
}

/// SRR1 bits a program check sets to say why (Power ISA, "Program Interrupt").
const SRR1_PROGFPE: u64 = 1 << 20;
const SRR1_PROGILL: u64 = 1 << 19;
const SRR1_PROGPRIV: u64 = 1 << 18;
const SRR1_PROGTRAP: u64 = 1 << 17;

/// The cause a program check reports in SRR1.
fn program_check_reason(srr1: u64) -> &'static str {
    if srr1 & SRR1_PROGFPE != 0 {
        "floating-point enabled exception"
    } else if srr1 & SRR1_PROGILL != 0 {
        "illegal instruction"
    } else if srr1 & SRR1_PROGPRIV != 0 {
        "privileged instruction"
    } else if srr1 & SRR1_PROGTRAP != 0 {
        "trap"
    } else {
        "unknown cause"
    }
}

/// Stacks the backtrace may walk: [bottom, top).
fn stack_bounds() -> [(u64, u64); 3] {
    [
        (
            &raw const __boot_stack_bottom as u64,
            &raw const __boot_stack_top as u64,
        ),
        (
            &raw const __exc_stack_bottom as u64,
            &raw const __exc_stack_top as u64,
        ),
        super::stack::kernel_stack().unwrap_or((0, 0)),
    ]
}

fn on_known_stack(sp: u64, len: u64) -> bool {
    sp.is_multiple_of(16)
        && stack_bounds()
            .iter()
            .any(|&(lo, hi)| sp >= lo && sp.saturating_add(len) <= hi)
}

/// Print the call trace from `sp` as Linux does: `[sp] [return address]` per frame, the
/// return address being the LR save word (16 bytes into each frame).
pub fn print_backtrace(mut sp: u64) {
    const MAX_FRAMES: usize = 16;
    pr_emerg!("Call Trace:");
    for i in 0..MAX_FRAMES {
        if !on_known_stack(sp, 24) {
            if i == 0 {
                pr_emerg!("[{sp:016x}] (stack pointer outside the kernel stacks)");
            }
            return;
        }
        // The handler runs in real mode: the kernel stack is read at its linear address.
        let at = super::stack::real_mode_address(sp);
        // SAFETY: sp..sp+24 lies inside one of the kernel's own stacks (checked above),
        // read where real mode reaches the same memory.
        let (next, lr) = unsafe { (*(at as *const u64), *((at + 16) as *const u64)) };
        if lr != 0 {
            let note = if i == 0 { " (unreliable)" } else { "" };
            pr_emerg!("[{sp:016x}] [{lr:016x}] 0x{lr:x}{note}");
        }
        if next <= sp {
            return;
        }
        sp = next;
    }
}

/// Print a register dump in the style of Linux's show_regs, naming the vector.
pub fn show_regs(f: &TrapFrame) {
    let name = vector_name(f.trap);
    let reason = if f.trap == 0x700 {
        program_check_reason(f.msr)
    } else {
        ""
    };
    let sep = if reason.is_empty() { "" } else { ": " };
    pr_emerg!(
        "Unexpected exception: vector 0x{:x} ({name}){sep}{reason}",
        f.trap
    );
    pr_emerg!(
        "SRR0: {:016x}  SRR1: {:016x} {}",
        f.nip,
        f.msr,
        MsrBits(f.msr)
    );
    pr_emerg!("DAR:  {:016x}  DSISR: {:08x}", f.dar, f.dsisr);
    pr_emerg!(
        "LR:   {:016x}  CTR: {:016x}  CFAR: {:016x}",
        f.link,
        f.ctr,
        f.cfar
    );
    pr_emerg!(
        "R1:   {:016x}  CR: {:08x}  XER: {:08x}",
        f.gpr[1],
        f.ccr,
        f.xer
    );
    for row in 0..8 {
        let g = &f.gpr[row * 4..row * 4 + 4];
        pr_emerg!(
            "GPR{:02}: {:016x} {:016x} {:016x} {:016x}",
            row * 4,
            g[0],
            g[1],
            g[2],
            g[3]
        );
    }
    pr_emerg!("NIP [{:016x}] 0x{:x}", f.nip, f.nip);
    pr_emerg!("LR [{:016x}] 0x{:x}", f.link, f.link);
    print_backtrace(f.gpr[1]);
}

/// DSISR bits (Power ISA): no translation for the address; the access was a store.
const DSISR_NOHPTE: u64 = 0x4000_0000;
const DSISR_ISSTORE: u64 = 0x0200_0000;

/// Linux's first words for a bad kernel access (`BUG: Unable to handle kernel ...`),
/// before the register dump.
fn report_access(f: &TrapFrame) {
    let rw = if f.dsisr & DSISR_ISSTORE != 0 {
        "write"
    } else {
        "read"
    };
    match f.trap {
        0x300 => {
            let why = if f.dsisr & DSISR_NOHPTE != 0 {
                " (no hash page table entry)"
            } else {
                ""
            };
            pr_emerg!(
                "BUG: Unable to handle kernel data access on {rw} at 0x{:016x}{why}",
                f.dar
            );
        }
        0x380 => pr_emerg!(
            "BUG: Unable to handle kernel data access at 0x{:016x} (no kernel segment)",
            f.dar
        ),
        0x400 | 0x480 => pr_emerg!(
            "BUG: Unable to handle kernel instruction fetch at 0x{:016x}",
            f.nip
        ),
        _ => return,
    }
    pr_emerg!("Faulting instruction address: 0x{:016x}", f.nip);
}

static DEPTH: AtomicUsize = AtomicUsize::new(0);
/// The segment interrupt being handled (vector, 0 when none), its EA and NIP.
static SEGMENT_MISS_TRAP: AtomicU64 = AtomicU64::new(0);
static SEGMENT_MISS_EA: AtomicU64 = AtomicU64::new(0);
static SEGMENT_MISS_NIP: AtomicU64 = AtomicU64::new(0);

/// Called by exception_common for every interrupt, in real mode on the exception stack.
#[unsafe(no_mangle)]
extern "C" fn __sparsek_exception(frame: &mut TrapFrame) {
    // Segment interrupts for kernel addresses are expected once translation is on: load
    // the segment and retry the access. They are not nested faults (the handler runs in
    // real mode and never misses itself), so they are handled before the depth count.
    let segment_ea = match frame.trap {
        0x380 => Some(frame.dar),
        0x480 => Some(frame.nip),
        _ => None,
    };
    if let Some(ea) = segment_ea {
        // Recorded while the handler runs: should it fault, the dump says what it was
        // doing.
        SEGMENT_MISS_EA.store(ea, Ordering::Relaxed);
        SEGMENT_MISS_NIP.store(frame.nip, Ordering::Relaxed);
        SEGMENT_MISS_TRAP.store(frame.trap, Ordering::Release);
        let handled = super::slb::handle_miss(ea);
        SEGMENT_MISS_TRAP.store(0, Ordering::Release);
        if handled {
            return;
        }
    }
    let depth = DEPTH.fetch_add(1, Ordering::AcqRel);
    if depth > 0 || super::entry::panicking() {
        // An exception while handling one, or while panicking: no recursion.
        super::entry::nested_fault(frame.trap, frame.nip);
    }
    // SAFETY: this CPU is the only one, and it was interrupted; a printk it interrupted
    // will not resume, because every path from here ends the kernel.
    unsafe { printk::emergency_unlock() };
    super::selftest::second_fault_point(super::selftest::SecondFault::Handler);
    if let Some(stack) = super::stack::canary_dead() {
        pr_emerg!("BUG: the {stack} overflowed (the canary at its bottom is overwritten)");
    }
    let overflow = frame.trap == 0x300 && super::stack::in_guard(frame.dar)
        || super::stack::in_guard(frame.gpr[1]);
    if overflow && let Some((lo, hi)) = super::stack::kernel_stack() {
        pr_emerg!(
            "BUG: kernel stack guard page was hit at 0x{:016x} (stack is 0x{lo:016x}..0x{hi:016x}, r1 0x{:016x})",
            frame.dar,
            frame.gpr[1]
        );
        show_regs(frame);
        super::entry::fatal("Kernel stack overflow");
    }
    let during = SEGMENT_MISS_TRAP.load(Ordering::Acquire);
    if during != 0 {
        pr_emerg!(
            "while loading the segment of ea 0x{:016x} (vector 0x{during:x} at 0x{:016x}):",
            SEGMENT_MISS_EA.load(Ordering::Relaxed),
            SEGMENT_MISS_NIP.load(Ordering::Relaxed)
        );
    }
    report_access(frame);
    show_regs(frame);
    super::entry::fatal("Fatal exception");
}
