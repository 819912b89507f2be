//! The kernel stack and its guard.
//!
//! Boot starts on the boot stack (head.S, inside the image, reached through real mode and
//! then the linear mapping). Once translation is on, the rest of boot runs on the kernel
//! stack: [`KERNEL_STACK_SIZE`] bytes of the image mapped a second time, with 64K pages
//! of its own, at [`KSTACK_VIRT`] in the otherwise empty vmalloc region. The
//! [`GUARD_SIZE`] bytes below it (and everything else around it) stay unmapped, so
//! running off the bottom of the stack raises a data storage interrupt at a guard
//! address, which the exception handler reports as a stack overflow rather than a
//! generic fault. (The linear mapping uses 16M pages and so cannot leave a hole of one
//! page below a stack inside the image.)
//!
//! The two stacks that run in real mode cannot be guarded by the MMU: the boot stack
//! (only until translation is on) and the exception stack (interrupts are taken in real
//! mode). Each has a canary word at its bottom, checked when the boot leaves the boot
//! stack and whenever an exception is handled: an overwritten canary is reported.

use core::sync::atomic::{AtomicU64, Ordering};

use super::PAGE_OFFSET;

/// Size of the kernel stack (after translation is on).
pub const KERNEL_STACK_SIZE: usize = 128 * 1024;
/// Alignment of the kernel stack's memory: the largest page size it may be mapped with.
pub const KERNEL_STACK_ALIGN: usize = 64 * 1024;
/// Where the kernel stack is mapped: 1 GiB into the vmalloc region, whose first segment
/// the `selftest.fault=dsi|isi` probes keep unmapped.
pub const KSTACK_VIRT: u64 = super::hash::VMALLOC_BASE + 0x4000_0000;
/// The unmapped guard right below it (nothing else is mapped below it either).
pub const GUARD_SIZE: u64 = 64 * 1024;
/// The canary word at the bottom of the real-mode stacks.
pub const CANARY: u64 = 0x5354_4143_4b5f_454e; // "NE_KCATS"

unsafe extern "C" {
    static __kernel_stack_bottom: u8;
    static __kernel_stack_top: u8;
    static __boot_stack_bottom: u8;
    static __exc_stack_bottom: u8;
}

/// Set once the kernel stack is mapped at [`KSTACK_VIRT`].
static MAPPED: AtomicU64 = AtomicU64::new(0);

/// The kernel stack's memory: `(physical base, size)`.
pub fn kernel_stack_phys() -> (u64, u64) {
    let lo = &raw const __kernel_stack_bottom as u64;
    let hi = &raw const __kernel_stack_top as u64;
    // The symbols are link (linear-map) addresses.
    (super::linear_to_phys(lo), hi - lo)
}

/// Record that the hash MMU has bolted the kernel stack at [`KSTACK_VIRT`].
pub fn set_mapped() {
    MAPPED.store(1, Ordering::Release);
}

/// The kernel stack's virtual range `[bottom, top)`, once it is mapped.
pub fn kernel_stack() -> Option<(u64, u64)> {
    (MAPPED.load(Ordering::Acquire) != 0)
        .then(|| (KSTACK_VIRT, KSTACK_VIRT + kernel_stack_phys().1))
}

/// Is `ea` inside the guard below the kernel stack?
pub fn in_guard(ea: u64) -> bool {
    kernel_stack().is_some() && (KSTACK_VIRT - GUARD_SIZE..KSTACK_VIRT).contains(&ea)
}

/// Where the word at stack address `sp` can be read in real mode (the exception
/// handler's mode): the kernel stack's virtual addresses through the linear mapping's
/// address of the same memory; other addresses as they are.
pub fn real_mode_address(sp: u64) -> u64 {
    match kernel_stack() {
        Some((lo, hi)) if (lo..hi).contains(&sp) => PAGE_OFFSET + kernel_stack_phys().0 + (sp - lo),
        _ => sp,
    }
}

fn canary_words() -> [*mut u64; 2] {
    [
        (&raw const __boot_stack_bottom).cast::<u64>().cast_mut(),
        (&raw const __exc_stack_bottom).cast::<u64>().cast_mut(),
    ]
}

/// Put the canaries at the bottom of the boot and exception stacks (at entry, before
/// either can have grown that far).
pub fn set_canaries() {
    for w in canary_words() {
        // SAFETY: the lowest word of each stack, which only an overflow would reach.
        unsafe { w.write_volatile(CANARY) };
    }
}

/// The name of the first real-mode stack whose canary is gone.
pub fn canary_dead() -> Option<&'static str> {
    let names = ["boot stack", "exception stack"];
    canary_words()
        .into_iter()
        .zip(names)
        // SAFETY: reading the lowest word of each stack (see set_canaries).
        .find(|&(w, _)| unsafe { w.read_volatile() } != CANARY)
        .map(|(_, n)| n)
}

/// Run `f`, which must not return, on the kernel stack if it is mapped (otherwise on the
/// current stack). The current frames stay where they are and are never returned to.
pub fn run_on_kernel_stack<F: FnOnce()>(f: F) -> ! {
    let Some((_, top)) = kernel_stack() else {
        f();
        super::entry::fatal("run_on_kernel_stack: the boot returned");
    };
    let mut slot = Some(f);
    extern "C" fn trampoline<F: FnOnce()>(slot: *mut Option<F>) -> ! {
        // SAFETY: `slot` points into the frame of run_on_kernel_stack, on the boot stack,
        // which is never popped (this call does not return) and which nothing else uses
        // any more; the value is moved out exactly once.
        let f = unsafe { (*slot).take() };
        match f {
            Some(f) => {
                f();
                super::entry::fatal("run_on_kernel_stack: the boot returned")
            }
            None => super::entry::fatal("run_on_kernel_stack: no function"),
        }
    }
    let entry = trampoline::<F> as *const () as usize;
    // SAFETY: [top - KERNEL_STACK_SIZE, top) is the kernel stack, bolted at these
    // addresses (kernel_stack() is Some only then) and used by nothing else; the call
    // gets a terminated back chain in a 64-byte frame (ELFv2's minimum with LR save
    // room) and never returns. r2 (TOC) is unchanged: same module.
    unsafe {
        core::arch::asm!(
            "mr 1, {top}",
            "li 0, 0",
            "stdu 0, -64(1)",
            "mtctr {entry}",
            "mr 12, {entry}",
            "bctrl",
            "trap",
            top = in(reg_nonzero) top,
            entry = in(reg_nonzero) entry,
            in("r3") &raw mut slot,
            options(noreturn),
        )
    }
}
