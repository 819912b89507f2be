//! Hypercall statuses (Linux's asm/hvcall.h, QEMU's spapr.h) and flags.

use super::super::papr::*;
use std::string::ToString;

#[test]
fn every_code_round_trips() {
    for code in -600..=20 {
        assert_eq!(HStatus::from_code(code).code(), code, "{code}");
    }
    for code in [
        i64::MIN,
        i64::MIN + 1,
        -9006,
        -9005,
        -512,
        9900,
        9905,
        i64::MAX,
    ] {
        let s = HStatus::from_code(code);
        assert_eq!(s.code(), code);
        assert_eq!(s, HStatus::Other(code));
    }
}

#[test]
fn names_and_display() {
    for (code, status, name) in [
        (0, HStatus::Success, "H_SUCCESS"),
        (1, HStatus::Busy, "H_BUSY"),
        (2, HStatus::Closed, "H_CLOSED"),
        (3, HStatus::NotAvailable, "H_NOT_AVAILABLE"),
        (4, HStatus::Constrained, "H_CONSTRAINED"),
        (5, HStatus::Partial, "H_PARTIAL"),
        (14, HStatus::InProgress, "H_IN_PROGRESS"),
        (15, HStatus::PageRegistered, "H_PAGE_REGISTERED"),
        (16, HStatus::PartialStore, "H_PARTIAL_STORE"),
        (17, HStatus::Pending, "H_PENDING"),
        (18, HStatus::Continue, "H_CONTINUE"),
        (-1, HStatus::Hardware, "H_HARDWARE"),
        (-2, HStatus::Function, "H_FUNCTION"),
        (-3, HStatus::Privilege, "H_PRIVILEGE"),
        (-4, HStatus::Parameter, "H_PARAMETER"),
        (-5, HStatus::BadMode, "H_BAD_MODE"),
        (-6, HStatus::PtegFull, "H_PTEG_FULL"),
        (-7, HStatus::NotFound, "H_NOT_FOUND"),
        (-8, HStatus::ReservedDabr, "H_RESERVED_DABR"),
        (-9, HStatus::NoMem, "H_NO_MEM"),
        (-10, HStatus::Authority, "H_AUTHORITY"),
        (-11, HStatus::Permission, "H_PERMISSION"),
        (-12, HStatus::Dropped, "H_DROPPED"),
        (-16, HStatus::Resource, "H_RESOURCE"),
        // Linux: H_TOO_BIG -64, H_UNSUPPORTED -67, H_OVERLAP -68.
        (-67, HStatus::Unsupported, "H_UNSUPPORTED"),
        (-68, HStatus::Overlap, "H_OVERLAP"),
    ] {
        assert_eq!(HStatus::from_code(code), status, "{code}");
        assert_eq!(status.code(), code);
        assert_eq!(status.name(), name);
        assert_eq!(status.to_string(), std::format!("{name} ({code})"));
    }
    assert_eq!(HStatus::PtegFull.to_string(), "H_PTEG_FULL (-6)");
    assert_eq!(HStatus::Parameter.to_string(), "H_PARAMETER (-4)");
    assert_eq!(HStatus::from_code(-64).to_string(), "H_UNKNOWN (-64)");
    // Codes PAPR leaves unnamed here.
    for code in [6, 13, 19, -13, -15, -17, -46, -53, -63, -69, -255, -512] {
        let s = HStatus::from_code(code);
        assert_eq!(s, HStatus::Other(code), "{code}");
        assert_eq!(s.name(), "H_UNKNOWN");
        assert_eq!(s.to_string(), std::format!("H_UNKNOWN ({code})"));
    }
}

#[test]
fn parameter_n_statuses() {
    // PAPR: H_P1 = -54 .. H_P9 = -62.
    for n in 1..=9u8 {
        let code = -53 - n as i64;
        let s = HStatus::from_code(code);
        assert_eq!(s, HStatus::Pn(n));
        assert_eq!(s.code(), code);
        assert_eq!(s.name(), "H_Pn");
        assert_eq!(s.to_string(), std::format!("H_P{n} ({code})"));
    }
    assert_eq!(HStatus::from_code(-55).to_string(), "H_P2 (-55)");
    assert_eq!(HStatus::from_code(-54), HStatus::Pn(1));
    assert_eq!(HStatus::from_code(-61), HStatus::Pn(8));
    assert_eq!(HStatus::from_code(-62), HStatus::Pn(9));
}

#[test]
fn unsupported_flag_range() {
    for code in [-256, -257, -300, -510, -511] {
        let s = HStatus::from_code(code);
        assert_eq!(s, HStatus::UnsupportedFlag(code));
        assert_eq!(s.name(), "H_UNSUPPORTED_FLAG");
        assert_eq!(s.to_string(), std::format!("H_UNSUPPORTED_FLAG ({code})"));
    }
    assert_eq!(HStatus::from_code(-255), HStatus::Other(-255));
    assert_eq!(HStatus::from_code(-512), HStatus::Other(-512));
}

#[test]
fn ok_is_success_only() {
    assert_eq!(HStatus::Success.ok(), Ok(()));
    for code in [-6, -4, 1, 17, -300, 9900] {
        let s = HStatus::from_code(code);
        assert_eq!(s.ok(), Err(s));
    }
}

#[test]
fn opcodes_and_flags() {
    assert_eq!(
        (H_REMOVE, H_ENTER, H_READ, H_PROTECT),
        (0x04, 0x08, 0x0c, 0x18)
    );
    // PAPR numbers flag bits from the most significant: bit n is 1 << (63 - n).
    assert_eq!(H_EXACT, 1 << 39);
    assert_eq!(H_READ_4, 1 << 37);
    assert_eq!(H_AVPN, 1 << 31);
    assert_eq!(H_ANDCOND, 1 << 30);
    assert_eq!(H_EXACT, 0x0000_0080_0000_0000);
    assert_eq!(H_AVPN, 0x0000_0000_8000_0000);
}
