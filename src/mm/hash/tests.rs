//! Host tests of the hash MMU's portable half.

use super::hpte::*;
use super::pagesize::*;

#[test]
fn test_vector_from_the_reference() {
    // 2G guest, 1T segments, 16M page, pft-size 0x18: EA 0xf000000000000000.
    let ea = 0xf000_0000_0000_0000;
    assert_eq!(proto_vsid(ea, Ssize::S1T), Some(0x800));
    let vsid = kernel_vsid(ea, Ssize::S1T).unwrap();
    assert_eq!(vsid, 0xa86c85f);
    let vpn = hpt_vpn(ea, vsid, Ssize::S1T);
    let hash = hpt_hash(vpn, 24, Ssize::S1T);
    assert_eq!(hash, 0x10b486c85f);
    assert_eq!(hpteg(hash, (1 << (0x18 - 7)) - 1, false), 0x642f8);
    let sizes = PageSizes::parse(&[
        12, 0, 3, 12, 0, 16, 7, 24, 0x38, 16, 0x110, 2, 16, 1, 24, 8, 24, 0x100, 1, 24, 0,
    ])
    .unwrap();
    let v = hpte_encode_v(vpn, Psize::P16M, Psize::P16M, Ssize::S1T, &sizes)
        | HPTE_V_BOLTED
        | HPTE_V_VALID;
    assert_eq!(v, 0x400a86c85f000015);
    let r = hpte_encode_r(0x7e000000, Psize::P16M, Psize::P16M, &sizes).unwrap() | PROT_KERNEL_RW;
    assert_eq!(r, 0x7e000194);
}
