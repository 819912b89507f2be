//! The machine sparse init runs on, for real: memory through the kernel's own address
//! space (translation on) and the hypervisor's hashed page table through hypercalls.

use sparsek::mm::hash::{HStatus, HashPageTable, Hpte};
use sparsek::mm::sparse::KernelMemory;
use sparsek::mm::sparse::page::Page;

use super::hash::PaprHpt;

/// Loads and stores at kernel addresses, and H_ENTER/H_REMOVE/H_READ.
pub struct PaprMachine {
    hpt: PaprHpt,
}

impl PaprMachine {
    /// # Safety
    /// Translation must be on with the linear mapping bolted; every address passed to
    /// [`KernelMemory`] must be one the kernel owns for the purpose (memory it allocated
    /// from memblock, through the linear mapping or the vmemmap it mapped); and the
    /// [`PaprHpt::new`] contract holds for every entry entered or removed.
    pub unsafe fn new() -> Self {
        PaprMachine {
            // SAFETY: the caller takes on PaprHpt's contract.
            hpt: unsafe { PaprHpt::new() },
        }
    }
}

impl KernelMemory for PaprMachine {
    fn read_u64(&mut self, ea: u64) -> u64 {
        // SAFETY: the creator vouched that `ea` is kernel memory in use for this
        // purpose (PaprMachine::new); an untranslatable address is a reported fault.
        unsafe { (ea as *const u64).read_volatile() }
    }

    fn write_u64(&mut self, ea: u64, val: u64) {
        // SAFETY: as in read_u64.
        unsafe { (ea as *mut u64).write_volatile(val) }
    }

    fn bug(&mut self, what: core::fmt::Arguments<'_>) {
        super::entry::fatal_fmt(format_args!("BUG: {what}"))
    }

    fn write_page(&mut self, ea: u64, page: &Page) {
        // SAFETY: as in read_u64; `ea` is a struct page's place in the vmemmap,
        // 64-byte aligned.
        unsafe { (ea as *mut Page).write(*page) }
    }
}

impl HashPageTable for PaprMachine {
    fn h_enter(&mut self, flags: u64, ptex: u64, hpte: Hpte) -> Result<u64, HStatus> {
        self.hpt.h_enter(flags, ptex, hpte)
    }

    fn h_remove(&mut self, flags: u64, ptex: u64, avpn: u64) -> Result<Hpte, HStatus> {
        self.hpt.h_remove(flags, ptex, avpn)
    }

    fn h_read(&mut self, ptex: u64) -> Result<Hpte, HStatus> {
        self.hpt.h_read(ptex)
    }
}
