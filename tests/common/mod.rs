//! Helpers shared by the QEMU test files.

use qemu_harness::{Machine, repo_root};
use sparsek::fdt::Fdt;

/// QEMU's own device tree for machine `m` (`-M pseries,dumpdtb=`, kept in
/// `target/qemu/tests/<name>.dtb`) and the memory it describes: every `memory` node's
/// `reg` as `(base, end exclusive, node)`, the node read from `ibm,associativity` at the
/// first reference point, sorted, touching ranges of one node merged.
pub fn dumped_memory(name: &str, m: &Machine) -> (Vec<u8>, Vec<(u64, u64, u32)>) {
    let file = repo_root().join(format!("target/qemu/tests/{name}.dtb"));
    let blob = m.dump_dtb(&file).expect("dumpdtb");
    let fdt = Fdt::new(&blob).unwrap();
    let cells = |p: &[u8]| -> Vec<u32> {
        p.chunks(4)
            .map(|c| u32::from_be_bytes(c.try_into().unwrap()))
            .collect()
    };
    let rtas = fdt.find_node("/rtas").unwrap().unwrap();
    let refp = rtas
        .property("ibm,associativity-reference-points")
        .unwrap()
        .unwrap();
    let depth = cells(refp.value)[0] as usize;
    let mut out = Vec::new();
    for n in fdt.root().children() {
        let n = n.unwrap();
        let ty = n.property("device_type").unwrap();
        if ty.and_then(|p| p.as_str()) != Some("memory") {
            continue;
        }
        let reg = cells(n.property("reg").unwrap().unwrap().value);
        let assoc = cells(n.property("ibm,associativity").unwrap().unwrap().value);
        for e in reg.chunks(4) {
            let base = ((e[0] as u64) << 32) | e[1] as u64;
            let size = ((e[2] as u64) << 32) | e[3] as u64;
            out.push((base, base + size, assoc[depth]));
        }
    }
    out.sort();
    out.dedup_by(|next, prev| {
        let joins = prev.1 == next.0 && prev.2 == next.2;
        if joins {
            prev.1 = next.1;
        }
        joins
    });
    (blob, out)
}
