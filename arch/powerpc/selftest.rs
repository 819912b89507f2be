//! Deliberate faults for the boot self-tests (`selftest.fault=`).

use sparsek::bootparam::SelftestFault;
use sparsek::pr_emerg;

use super::regs::{Msr, mfmsr};

const PR_PREFIX: &str = "selftest: ";

unsafe extern "C" {
    fn __selftest_illegal();
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
