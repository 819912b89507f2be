//! Portable kernel logic: everything that does not touch the hardware. It is `no_std` when
//! built for the kernel target and a normal library on the host, where `cargo test` runs
//! its unit tests.
#![cfg_attr(target_os = "none", no_std)]

extern crate alloc;

pub mod bootparam;
pub mod boottime;
pub mod cmdline;
pub mod crc32;
pub mod fault;
pub mod fdt;
pub mod ktap;
pub mod mm;
pub mod printk;
pub mod prom;
