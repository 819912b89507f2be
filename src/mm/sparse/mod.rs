//! The sparse memory model with a virtual memory map (Linux SPARSEMEM_EXTREME +
//! SPARSEMEM_VMEMMAP on the ppc64 hash MMU, 64K pages).
//!
//! ```text
//!  physical memory   | section 0 | section 1 | ... |      16 MiB sections
//!                          │ mem_section (16 bytes): flags | node, then encoded map
//!                          ▼
//!  vmemmap 0xf000_0000_0000_0000: 16 KiB of struct page (256 x 64 bytes) per section;
//!  one 16M vmemmap page = 1024 sections = 16 GiB of RAM, bolted into the hash table
//! ```
//!
//! * [`section`]: constants, `struct mem_section` and its encoding;
//! * [`mem_section`]: the EXTREME roots, `memory_present`, `pfn_valid`;
//! * [`vmemmap`]: `vmemmap_populate`, `vmemmap_list`, the hash mapping and its removal;
//! * [`init`]: `sparse_init` in the three orderings ([`Order`]);
//! * [`page`]: `struct page` and its flags;
//! * [`memmap`]: the zone report and struct page initialisation;
//! * [`checks`]: the `sparse` KTAP self-checks;
//! * [`machine`]: the traits the hardware (or [`model`]) supplies.

pub mod checks;
pub mod init;
pub mod machine;
pub mod mem_section;
pub mod memmap;
pub mod model;
pub mod page;
pub mod section;
pub mod vmemmap;

#[cfg(test)]
mod tests;

pub use init::{DropCause, Dropped, NoMemoryMap, Order, Report, Sparse, TempAllocError};
pub use machine::{Ctx, HashParams, KernelMemory, Machine};
