//! Deliberate faults for the boot self-tests (`selftest.fault=`).

use sparsek::bootparam::SelftestFault;
use sparsek::pr_emerg;

const PR_PREFIX: &str = "selftest: ";

unsafe extern "C" {
    fn __selftest_illegal();
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
            if super::regs::mfmsr() & 0x10 == 0 {
                super::entry::fatal("selftest: fault=dsi needs translation on");
            }
            pr_emerg!("reading unmapped kernel address {ea:016x} with translation on");
            // SAFETY: nothing is mapped in the vmalloc region: the load raises a data
            // storage interrupt (after its segment is loaded on demand), whose handler
            // does not return. The read value is never produced.
            let v = unsafe { core::ptr::read_volatile(ea as *const u64) };
            pr_emerg!("read {v:#x} from an unmapped address");
        }
    }
    super::entry::fatal("selftest: the fault did not trap")
}
