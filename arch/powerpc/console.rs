//! The hypervisor virtual terminal (vterm 0) through H_PUT_TERM_CHAR.

use super::hcall::{H_PUT_TERM_CHAR, HStatus, hcall};

pub struct HvTerm;

pub static HVTERM: HvTerm = HvTerm;

/// Bounded retries when the hypervisor says H_BUSY: a console that stays busy loses
/// output rather than hanging the kernel.
const BUSY_RETRIES: usize = 1000;

impl HvTerm {
    fn put16(&self, chunk: &[u8]) {
        let mut buf = [0u8; 16];
        buf[..chunk.len()].copy_from_slice(chunk);
        let hi = u64::from_be_bytes(buf[..8].try_into().unwrap());
        let lo = u64::from_be_bytes(buf[8..].try_into().unwrap());
        for _ in 0..BUSY_RETRIES {
            // SAFETY: H_PUT_TERM_CHAR only reads its register arguments.
            let (st, _) = unsafe {
                hcall(
                    H_PUT_TERM_CHAR,
                    [0, chunk.len() as u64, hi, lo, 0, 0, 0, 0, 0],
                )
            };
            if st != HStatus::Busy {
                return;
            }
        }
    }
}

impl sparsek::printk::Console for HvTerm {
    fn write_bytes(&self, bytes: &[u8]) {
        for chunk in bytes.chunks(16) {
            self.put16(chunk);
        }
    }
}
