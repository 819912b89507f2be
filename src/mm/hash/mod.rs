//! The book3s64 hash MMU under PAPR, its portable half: everything but the hypercalls
//! and the SLB instructions, which the arch layer supplies (through [`HashPageTable`]).
//!
//! ```text
//!  EA 0xc000_0000_0000_0000 + pa   linear mapping, bolted at boot (16M pages if offered)
//!     0xd000_0000_0000_0000        vmalloc (nothing mapped: segments load on demand)
//!     0xe000_0000_0000_0000        io
//!     0xf000_0000_0000_0000        vmemmap (16M pages if offered and RAM >= 1G)
//!       |
//!       | SLB: ESID -> VSID (kernel VSIDs: context per region, scrambled; hpte.rs)
//!       v
//!  VA (68 bits) -> hash -> group of 8 HPTEs in the hypervisor's table (2^ibm,pft-size
//!  bytes): H_ENTER / H_REMOVE / H_READ (papr.rs; host model in model.rs)
//! ```
//!
//! * [`pagesize`]: the CPU node's page/segment sizes and Linux's choice among them;
//! * [`hpte`]: VSIDs, hash, HPTE and SLB encodings;
//! * [`bolt`]: `bolt_mapping` with Linux's semantics (primary group, -1 / -2);
//! * [`papr`]: hypercall statuses and the [`HashPageTable`] trait;
//! * [`slb`]: the SLB's bolted entries and on-demand slots;
//! * [`model`]: the host model of the hypervisor's table, and of QEMU's translation through
//!   it and the SLB.

pub mod bolt;
pub mod hpte;
pub mod model;
pub mod pagesize;
pub mod papr;
pub mod slb;

#[cfg(test)]
mod tests;

pub use bolt::{BoltError, BoltOptions, Bolted, GroupPolicy, HashGeometry, bolt_mapping};
pub use pagesize::{CpuMmuInfo, MmuChoice, PageSizes, Psize, Ssize};
pub use papr::{HStatus, HashPageTable, Hpte};
