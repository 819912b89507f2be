//! Deliberate faults for the boot self-tests (`selftest.fault=`).

use core::sync::atomic::{AtomicBool, Ordering};

use sparsek::bootparam::SelftestFault;
use sparsek::pr_emerg;

use super::regs::{Msr, mfmsr};

const PR_PREFIX: &str = "selftest: ";

unsafe extern "C" {
    fn __selftest_illegal();
}

/// Where `selftest.fault=in-handler|in-panic` faults a second time.
#[derive(Clone, Copy)]
pub enum SecondFault {
    /// Inside the exception handler, while reporting the first fault.
    Handler,
    /// In the panic path, after its first line.
    Panic,
}

/// Armed second faults, indexed by [`SecondFault`].
static SECOND: [AtomicBool; 2] = [const { AtomicBool::new(false) }; 2];

/// If a second fault is armed at `site`, disarm it and execute an illegal instruction
/// there: the program check is a nested fault, which ends the kernel.
pub fn second_fault_point(site: SecondFault) {
    if SECOND[site as usize].swap(false, Ordering::AcqRel) {
        let place = match site {
            SecondFault::Handler => "inside the exception handler",
            SecondFault::Panic => "in the panic path",
        };
        pr_emerg!("executing an illegal instruction {place}");
        // SAFETY: the program check is taken while a fault is being reported or while
        // panicking, so the exception handler ends the kernel at once (nested_fault) and
        // nothing returns here.
        unsafe { __selftest_illegal() };
    }
}

/// An address no kernel segment covers (region 0, the user's).
const USER_ADDRESS: u64 = 0x1000;

/// These faults only mean something with translation (`bit`: IR or DR) on.
fn require_translation(bit: Msr) {
    if !Msr::from_bits_retain(mfmsr()).contains(bit) {
        super::entry::fatal("selftest: this fault needs translation on");
    }
}

/// Load from `ea` with translation on; the interrupt's handler does not return.
fn read_unmapped(ea: u64, what: &str) {
    require_translation(Msr::DR);
    pr_emerg!("reading {what} {ea:016x} with translation on");
    // SAFETY: nothing is mapped at `ea` (the vmalloc region is empty; no segment covers
    // a user address): the load raises a data storage or data segment interrupt whose
    // handler does not return, so no value is ever produced.
    let v = unsafe { core::ptr::read_volatile(ea as *const u64) };
    pr_emerg!("read {v:#x} from {what} {ea:016x}");
}

/// Provoke the fault; never returns normally (the exception path ends the kernel).
pub fn provoke(fault: SelftestFault) -> ! {
    match fault {
        SelftestFault::Stack => overflow_kernel_stack(),
        SelftestFault::InHandler => {
            SECOND[SecondFault::Handler as usize].store(true, Ordering::Release);
            pr_emerg!("executing an illegal instruction whose handler faults again");
            // SAFETY: as for Program below; the handler then faults itself, which ends
            // the kernel.
            unsafe { __selftest_illegal() };
        }
        SelftestFault::InPanic => {
            SECOND[SecondFault::Panic as usize].store(true, Ordering::Release);
            panic!("selftest.fault=in-panic requested");
        }
        SelftestFault::Program => {
            let addr = __selftest_illegal as *const () as u64;
            pr_emerg!("executing an illegal instruction at {addr:016x}");
            // SAFETY: the callee's first word is an illegal instruction: the program check
            // is taken before anything else happens, and the handler does not return.
            unsafe { __selftest_illegal() };
        }
        SelftestFault::Dsi => {
            let ea = super::hash::VMALLOC_BASE;
            read_unmapped(ea, "unmapped kernel address");
        }
        SelftestFault::Segment => read_unmapped(USER_ADDRESS, "user address"),
        SelftestFault::Isi => {
            let ea = super::hash::VMALLOC_BASE;
            require_translation(Msr::IR);
            pr_emerg!("calling unmapped kernel address {ea:016x} with translation on");
            // SAFETY: nothing is mapped in the vmalloc region: fetching the first
            // instruction raises an instruction storage interrupt (after the segment is
            // loaded on demand) whose handler does not return, so nothing runs there.
            let f: extern "C" fn() = unsafe { core::mem::transmute(ea as usize) };
            f();
        }
    }
    super::entry::fatal("selftest: the fault did not trap")
}

/// Recurse with 1 KiB frames until the kernel stack runs into its guard.
fn overflow_kernel_stack() {
    require_translation(Msr::DR);
    let Some((lo, hi)) = super::stack::kernel_stack() else {
        super::entry::fatal("selftest: the kernel stack is not mapped (no guard to hit)");
    };
    let sp: u64;
    // SAFETY: reads r1 only.
    unsafe { core::arch::asm!("mr {0}, 1", out(reg) sp, options(nomem, nostack)) };
    if !(lo..hi).contains(&sp) {
        super::entry::fatal("selftest: not running on the kernel stack");
    }
    pr_emerg!(
        "recursing on the kernel stack [{lo:016x}-{:016x}] (r1 {sp:016x}) until it overflows",
        hi - 1
    );
    let depth = recurse(0);
    pr_emerg!("recursion of depth {depth} returned");
}

#[inline(never)]
fn recurse(depth: u64) -> u64 {
    let mut frame = [0u8; 1024];
    frame[(depth % 1024) as usize] = depth as u8;
    core::hint::black_box(&mut frame);
    // black_box keeps the recursion unbounded as far as the compiler can tell.
    if core::hint::black_box(depth) < u64::MAX {
        recurse(depth + 1) + u64::from(frame[3])
    } else {
        depth
    }
}
