//! RTAS (Run-Time Abstraction Services) calls.
//!
//! Tokens come from the `/rtas` node of the device tree; they are never assumed. Under
//! QEMU an RTAS call is the hypercall KVMPPC_H_RTAS with r4 = the physical address of the
//! argument block: big-endian u32 cells `token, nargs, nret, args..., rets...`.

use super::hcall::{HStatus, KVMPPC_H_RTAS, hcall};
use super::virt_to_phys;

/// The RTAS services the kernel uses, by token.
#[derive(Clone, Copy, Debug, Default)]
pub struct RtasTokens {
    pub power_off: Option<u32>,
    pub os_term: Option<u32>,
}

/// Why an RTAS call did not happen or did not succeed.
#[derive(Clone, Copy, Debug)]
pub enum RtasError {
    /// The device tree has no token for the service.
    NoToken(&'static str),
    /// The hypercall itself failed.
    Hcall(HStatus),
    /// RTAS returned a non-zero status.
    Status(i32),
}

impl core::fmt::Display for RtasError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            RtasError::NoToken(s) => write!(f, "no RTAS token for {s} in /rtas"),
            RtasError::Hcall(st) => write!(f, "RTAS hypercall failed: {st}"),
            RtasError::Status(s) => write!(f, "RTAS status {s}"),
        }
    }
}

static TOKENS: spin::Mutex<RtasTokens> = spin::Mutex::new(RtasTokens {
    power_off: None,
    os_term: None,
});

pub fn set_tokens(t: RtasTokens) {
    *TOKENS.lock() = t;
}

pub fn tokens() -> RtasTokens {
    // Never block: the panic path may have interrupted a holder on this CPU.
    TOKENS.try_lock().map(|t| *t).unwrap_or_default()
}

#[repr(C, align(16))]
struct RtasArgs {
    cells: [u32; 16],
}

/// Call an RTAS service; returns its return cells (first one is the status).
fn call<const NRET: usize>(token: u32, args: &[u32]) -> Result<[u32; NRET], RtasError> {
    let mut block = RtasArgs { cells: [0; 16] };
    let n = args.len();
    block.cells[0] = token.to_be();
    block.cells[1] = (n as u32).to_be();
    block.cells[2] = (NRET as u32).to_be();
    for (i, a) in args.iter().enumerate() {
        block.cells[3 + i] = a.to_be();
    }
    let addr = virt_to_phys(&raw mut block as u64);
    // SAFETY: the hypervisor reads and writes the argument block, which lives on this
    // stack frame for the duration of the call, and reads what the arguments point to
    // (os_term's message, kept alive by its caller); nothing else.
    let (st, _) = unsafe { hcall(KVMPPC_H_RTAS, [addr, 0, 0, 0, 0, 0, 0, 0, 0]) };
    if st != HStatus::Success {
        return Err(RtasError::Hcall(st));
    }
    let mut rets = [0u32; NRET];
    for (i, r) in rets.iter_mut().enumerate() {
        // SAFETY: volatile read: the hypervisor wrote these cells behind the compiler.
        *r = u32::from_be(unsafe { core::ptr::read_volatile(&block.cells[3 + n + i]) });
    }
    if NRET > 0 && rets[0] != 0 {
        return Err(RtasError::Status(rets[0] as i32));
    }
    Ok(rets)
}

/// RTAS `power-off`: QEMU exits with status 0. Returns only on failure.
pub fn power_off() -> RtasError {
    let Some(tok) = tokens().power_off else {
        return RtasError::NoToken("power-off");
    };
    match call::<1>(tok, &[0, 0]) {
        Err(e) => e,
        Ok(_) => RtasError::Status(0),
    }
}

/// RTAS `ibm,os-term` with a message: QEMU run with `-action panic=exit-failure` exits 1.
/// Returns only on failure. `msg` must be NUL-terminated.
pub fn os_term(msg: &[u8]) -> RtasError {
    let Some(tok) = tokens().os_term else {
        return RtasError::NoToken("ibm,os-term");
    };
    let addr = virt_to_phys(msg.as_ptr() as u64) as u32;
    match call::<1>(tok, &[addr]) {
        Err(e) => e,
        Ok(_) => RtasError::Status(0),
    }
}
