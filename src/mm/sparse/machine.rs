//! What sparse init needs from the machine, as two small traits: the hashed page table
//! ([`HashPageTable`], from the hash MMU) and memory as the kernel reaches it
//! ([`KernelMemory`]). The kernel implements both with hypercalls and loads/stores; the
//! host tests with [`super::model::HostMachine`], a model of the hypervisor's table and
//! of QEMU's translation through it.

use core::fmt;

use crate::mm::hash::{Bolted, GroupPolicy, HashGeometry, HashPageTable, Psize, Ssize};
use crate::mm::memblock::Memblock;
use crate::printk::Level;

use super::page::Page;

/// Start of the kernel's linear mapping: kernel address = `PAGE_OFFSET + pa`.
pub const PAGE_OFFSET: u64 = 0xc000_0000_0000_0000;

/// Linux `__va()`: the linear-mapping address of physical address `pa`.
pub const fn va(pa: u64) -> u64 {
    PAGE_OFFSET + pa
}

/// Linux `__pa()` of a linear-mapping address.
pub const fn pa(va: u64) -> u64 {
    va - PAGE_OFFSET
}

/// `__pa()` of what should be a linear-mapping address but may be garbage read from
/// memory: `None` below the linear mapping.
pub const fn checked_pa(va: u64) -> Option<u64> {
    va.checked_sub(PAGE_OFFSET)
}

/// Memory through the kernel's address space: the linear mapping (`0xc...`) and the
/// vmemmap (`0xf...`). Addresses are 8-byte aligned. An access the MMU cannot
/// translate is a fault: the kernel reports it and stops; the host model panics.
pub trait KernelMemory {
    fn read_u64(&mut self, ea: u64) -> u64;
    fn write_u64(&mut self, ea: u64, val: u64);

    /// Linux `BUG()`: a state the kernel cannot go on from (`what` says which). The
    /// kernel stops here with the failure status; the host model records it and
    /// returns, so that a test can look at what led there.
    fn bug(&mut self, what: fmt::Arguments<'_>);

    /// Store a whole struct page at `ea`.
    fn write_page(&mut self, ea: u64, page: &Page) {
        for (i, w) in page.words().into_iter().enumerate() {
            self.write_u64(ea + 8 * i as u64, w);
        }
    }

    /// Load the struct page at `ea`.
    fn read_page(&mut self, ea: u64) -> Page {
        let mut w = [0u64; 8];
        for (i, x) in w.iter_mut().enumerate() {
            *x = self.read_u64(ea + 8 * i as u64);
        }
        Page::from_words(w)
    }

    /// Zero `len` bytes (a multiple of 8) at `ea`.
    fn zero(&mut self, ea: u64, len: u64) {
        for off in (0..len).step_by(8) {
            self.write_u64(ea + off, 0);
        }
    }
}

/// Both halves of the machine.
pub trait Machine: HashPageTable + KernelMemory {}
impl<T: HashPageTable + KernelMemory + ?Sized> Machine for T {}

/// The hash MMU as sparse init uses it: where the vmemmap is bolted and how.
#[derive(Clone, Copy, Debug)]
pub struct HashParams<'a> {
    pub geo: &'a HashGeometry,
    /// The kernel's segment size.
    pub ssize: Ssize,
    /// The vmemmap page size (Linux `mmu_vmemmap_psize`).
    pub vmemmap_psize: Psize,
    pub policy: GroupPolicy,
}

/// Everything a step of sparse init works with.
pub struct Ctx<'a, M: Machine + ?Sized> {
    pub m: &'a mut M,
    pub mb: &'a mut Memblock,
    pub hash: HashParams<'a>,
    /// Where messages go (they carry their own `function: ` prefixes, as in Linux).
    pub log: &'a mut dyn FnMut(Level, fmt::Arguments<'_>),
    /// Called for every HPTE bolted for the vmemmap (the `hash_debug` lines).
    pub on_bolt: &'a mut dyn FnMut(&Bolted),
}

impl<M: Machine + ?Sized> Ctx<'_, M> {
    pub fn err(&mut self, args: fmt::Arguments<'_>) {
        (self.log)(Level::Err, args);
    }

    pub fn warn(&mut self, args: fmt::Arguments<'_>) {
        (self.log)(Level::Warning, args);
    }

    pub fn info(&mut self, args: fmt::Arguments<'_>) {
        (self.log)(Level::Info, args);
    }

    /// `pr_debug`: printed at console log level 8 (`debug`, `loglevel=8`).
    pub fn debug(&mut self, args: fmt::Arguments<'_>) {
        (self.log)(Level::Debug, args);
    }
}
