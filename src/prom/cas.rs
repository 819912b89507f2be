//! The `ibm,client-architecture-support` (CAS) vector, laid out as PAPR (LoPAPR B.6.2.3)
//! and Linux's `ibm_architecture_vec` do:
//!
//! ```text
//!   {PVR mask, PVR value} pairs (BE u32), ended by a pair with value & ~mask != 0
//!   u8  number of option vectors - 1
//!   per vector: u8 length - 1, then bytes 1..=length
//! ```
//!
//! This kernel asks for what memory discovery needs and keeps the hash MMU:
//!
//! | vector | byte | value | meaning |
//! |---|---|---|---|
//! | 1 | 2 | 0xff | ISA 2.00 ... 2.07 |
//! | 1 | 3 | 0xc0 | ISA 3.00, 3.1 |
//! | 5 | 2 | 0x20 | dynamic-reconfiguration memory (`ibm,dynamic-memory`) |
//! | 5 | 5 | 0x80 | FORM1 affinity (the first reference point is the NUMA depth) |
//! | 5 | 6 | 0x01 | HPT resizing: the hash table keeps its size and entries |
//! | 5 | 22 | 0x80 | `ibm,dynamic-memory-v2` |
//! | 5 | 24 | 0x00 | MMU: hash (neither 0x40 radix nor 0x80 either), no GTSE |
//!
//! Byte numbers count from 1 after the length byte, as PAPR and QEMU's `OV_BIT` do.

use alloc::vec::Vec;

/// PVR mask/value pairs: the real processors this kernel knows, then the logical
/// (architected) PVRs 3.1, 3.00, 2.07, then the terminator.
pub const PVRS: [(u32, u32); 9] = [
    (0xffff_0000, 0x004b_0000), // POWER8E
    (0xffff_0000, 0x004c_0000), // POWER8NVL
    (0xffff_0000, 0x004d_0000), // POWER8
    (0xffff_0000, 0x004e_0000), // POWER9
    (0xffff_0000, 0x0080_0000), // POWER10
    (0xffff_ffff, 0x0f00_0006), // ISA 3.1
    (0xffff_ffff, 0x0f00_0005), // ISA 3.00
    (0xffff_ffff, 0x0f00_0004), // ISA 2.07
    (0xffff_fffe, 0x0f00_0001), // terminator (value & ~mask != 0)
];

/// (byte, value) settings of option vector 5; see the module table.
pub const OV5_BYTES: [(usize, u8); 5] = [
    (2, OV5_DRCONF_MEMORY),
    (5, OV5_FORM1_AFFINITY),
    (6, OV5_HPT_RESIZE),
    (22, OV5_DRMEM_V2),
    (24, OV5_MMU_HASH),
];
pub const OV5_DRCONF_MEMORY: u8 = 0x20;
pub const OV5_FORM1_AFFINITY: u8 = 0x80;
pub const OV5_HPT_RESIZE: u8 = 0x01;
pub const OV5_DRMEM_V2: u8 = 0x80;
pub const OV5_MMU_HASH: u8 = 0x00;
/// Byte 24's MMU bits this kernel never sets: 0x80 "hash or radix" (QEMU exits on it),
/// 0x40 radix (ISA 3.00).
pub const OV5_MMU_EITHER: u8 = 0x80;
pub const OV5_MMU_RADIX: u8 = 0x40;

/// Length of option vector 5 (through byte 24, the MMU choice).
const OV5_LEN: usize = 24;

/// The complete vector.
pub fn architecture_vector() -> Vec<u8> {
    let mut v = Vec::with_capacity(PVRS.len() * 8 + 64);
    for (mask, value) in PVRS {
        v.extend_from_slice(&mask.to_be_bytes());
        v.extend_from_slice(&value.to_be_bytes());
    }
    let mut ov1 = [0u8; 3];
    ov1[1] = 0xff; // byte 2: ISA 2.00-2.07
    ov1[2] = 0xc0; // byte 3: ISA 3.00, 3.1
    // Vector 2 (33 bytes: byte1, 2 reserved bytes, then 32-bit real base, real size,
    // virt base, virt size, load base, min RMA (MiB), min load, then min RMA percent and
    // max PFT size): no constraints beyond PAPR's minimum - the RMA and load area
    // anywhere (all ones), minimum RMA 256 MiB, largest hash table 2^46.
    let mut ov2 = [0u8; 33];
    for field in 0..5 {
        ov2[3 + 4 * field..7 + 4 * field].copy_from_slice(&u32::MAX.to_be_bytes());
    }
    ov2[23..27].copy_from_slice(&256u32.to_be_bytes()); // min RMA (MiB)
    ov2[27..31].copy_from_slice(&u32::MAX.to_be_bytes()); // min load
    ov2[31] = 0; // min RMA percent
    ov2[32] = 46; // max PFT size
    let ov3 = [0u8, 0x00]; // no FP/VMX/DFP use (soft-float kernel)
    let ov4 = [0u8, 0x00]; // no minimum entitled capacity
    let mut ov5 = [0u8; OV5_LEN];
    for (byte, value) in OV5_BYTES {
        ov5[byte - 1] |= value;
    }
    let vectors: [&[u8]; 5] = [&ov1, &ov2, &ov3, &ov4, &ov5];
    v.push(vectors.len() as u8 - 1);
    for ov in vectors {
        v.push(ov.len() as u8 - 1);
        v.extend_from_slice(ov);
    }
    v
}

/// Byte `byte` (1-based) of option vector `n` in `vec`, read the way the platform does:
/// skip the PVR list to its terminator, then the vectors before `n`. `None` when the
/// vector or byte is absent.
pub fn option_vector_byte(vec: &[u8], n: usize, byte: usize) -> Option<u8> {
    let mut off = 0;
    loop {
        let mask = u32::from_be_bytes(vec.get(off..off + 4)?.try_into().ok()?);
        let value = u32::from_be_bytes(vec.get(off + 4..off + 8)?.try_into().ok()?);
        off += 8;
        if value & !mask != 0 {
            break;
        }
    }
    let count = *vec.get(off)? as usize + 1;
    if n == 0 || n > count {
        return None;
    }
    off += 1;
    for _ in 1..n {
        off += *vec.get(off)? as usize + 2;
    }
    let len = *vec.get(off)? as usize + 1;
    if byte == 0 || byte > len {
        return None;
    }
    vec.get(off + byte).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vector_asks_for_hash_and_dr_memory() {
        let v = architecture_vector();
        assert_eq!(option_vector_byte(&v, 5, 2), Some(0x20));
        assert_eq!(option_vector_byte(&v, 5, 5), Some(0x80));
        assert_eq!(option_vector_byte(&v, 5, 6), Some(0x01));
        assert_eq!(option_vector_byte(&v, 5, 22), Some(0x80));
        let mmu = option_vector_byte(&v, 5, 24).unwrap();
        assert_eq!(
            mmu & (OV5_MMU_RADIX | OV5_MMU_EITHER),
            0,
            "radix must not be requested"
        );
        assert_eq!(option_vector_byte(&v, 2, 33), Some(46));
        assert_eq!(option_vector_byte(&v, 2, 34), None);
        assert_eq!(option_vector_byte(&v, 5, 25), None);
        assert_eq!(option_vector_byte(&v, 1, 3), Some(0xc0));
        assert_eq!(option_vector_byte(&v, 6, 1), None);
        // The list ends at the terminator: 9 pairs, then "5 vectors".
        assert_eq!(v[PVRS.len() * 8], 4);
    }

    #[test]
    fn the_running_cpus_match_a_pair() {
        for pvr in [0x004d_0200u32, 0x004e_1200, 0x0080_0200] {
            assert!(
                PVRS[..PVRS.len() - 1]
                    .iter()
                    .any(|&(m, v)| pvr & m == v & m),
                "{pvr:x}"
            );
        }
    }
}
