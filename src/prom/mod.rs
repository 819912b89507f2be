//! The device tree's consumers before the memory allocator exists, split as Linux's
//! prom_init.c / prom.c / drmem.c / numa.c are:
//!
//! - [`flatten`]: walk an Open Firmware tree through the client interface and emit an FDT;
//! - [`cas`]: the ibm,client-architecture-support vector (hash MMU, DR memory, FORM1);
//! - [`memory`]: memory ranges with NUMA nodes from `memory` nodes and
//!   `ibm,dynamic-reconfiguration-memory`;
//! - [`reserve`]: what must not be handed out (reservation map, `/reserved-memory`,
//!   initrd).

pub mod cas;
pub mod flatten;
pub mod memory;
pub mod reserve;
