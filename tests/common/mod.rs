//! Helpers shared by the QEMU test files.

use qemu_harness::{Machine, repo_root};

/// QEMU's own device tree for machine `m` (`-M pseries,dumpdtb=`, kept in
/// `target/qemu/tests/<name>.dtb`) and the memory it describes
/// ([`qemu_harness::machine::memory_ranges`]).
pub fn dumped_memory(name: &str, m: &Machine) -> (Vec<u8>, Vec<(u64, u64, u32)>) {
    let file = repo_root().join(format!("target/qemu/tests/{name}.dtb"));
    m.dumped_memory(&file).expect("dumpdtb")
}
