//! CRC-32 as zlib's `crc32()` computes it (IEEE 802.3 polynomial, reflected, initial and
//! final XOR 0xffffffff), so a boot log's figure compares with `crc32`/Python's
//! `zlib.crc32` over the same file.

const POLY: u32 = 0xedb8_8320;

const TABLE: [u32; 256] = {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { POLY ^ (c >> 1) } else { c >> 1 };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
};

/// Continue a CRC over more bytes (`crc` = 0 to start), as zlib's `crc32(crc, buf, len)`.
pub fn update(crc: u32, bytes: &[u8]) -> u32 {
    let mut c = !crc;
    for &b in bytes {
        c = TABLE[((c ^ b as u32) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}

/// The CRC-32 of `bytes`.
pub fn crc32(bytes: &[u8]) -> u32 {
    update(0, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        assert_eq!(
            crc32(b"The quick brown fox jumps over the lazy dog"),
            0x414f_a339
        );
        let (a, b) = b"123456789".split_at(4);
        assert_eq!(update(update(0, a), b), 0xcbf4_3926);
    }
}
