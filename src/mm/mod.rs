//! Memory management: what the kernel knows about physical memory before, and while, it
//! sets up paging.
//!
//! * [`memblock`]: the boot-time physical memory map and allocator (Linux `mm/memblock.c`).
//! * [`hash`]: the book3s64 hash MMU's arithmetic, page sizes, bolted mappings and a
//!   host model of the hypervisor's hashed page table.
//! * [`sparse`]: the sparse memory model, the vmemmap and struct pages (Linux
//!   `mm/sparse.c`, `mm/sparse-vmemmap.c`, powerpc `init_64.c`).

pub mod hash;
pub mod memblock;
pub mod sparse;

/// log2 of the base page size: this kernel uses 64K pages, like ppc64 Linux.
pub const PAGE_SHIFT: u32 = 16;
/// The base page size (64K).
pub const PAGE_SIZE: u64 = 1 << PAGE_SHIFT;
