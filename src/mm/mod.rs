//! Memory management: what the kernel knows about physical memory before, and while, it
//! sets up paging.
//!
//! * [`memblock`]: the boot-time physical memory map and allocator (Linux `mm/memblock.c`).
//! * [`hash`]: the book3s64 hash MMU's arithmetic, page sizes, bolted mappings and a
//!   host model of the hypervisor's hashed page table.

pub mod hash;
pub mod memblock;

/// log2 of the base page size: this kernel uses 64K pages, like ppc64 Linux.
pub const PAGE_SHIFT: u32 = 16;
/// The base page size (64K).
pub const PAGE_SIZE: u64 = 1 << PAGE_SHIFT;
