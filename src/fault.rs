//! Fault injection from the command line: make the N-th memblock allocation, hypercall
//! or Open Firmware client call fail, so that the kernel's handling of each failure can
//! be booted and checked.
//!
//! | parameter | what fails |
//! |---|---|
//! | `fail_memblock=N` | the N-th memblock allocation (`memblock_alloc_try_nid` or `memblock_phys_alloc_range`), counted from 1 |
//! | `fail_hcall=<H_ENTER\|H_REMOVE\|H_READ>:N[:<status>]` | the N-th such hypercall returns `status` (a PAPR name such as `H_PTEG_FULL` or a number; default `H_HARDWARE`) without reaching the hypervisor |
//! | `fail_of=<service>:N` | the N-th client-interface call of that service returns -1 (the call itself failed) without reaching the firmware |
//!
//! Each is one shot: only the N-th call fails. One `fail_hcall` per hypercall can be armed
//! at a time (a later parameter for the same hypercall replaces the earlier one), one
//! `fail_of` and one `fail_memblock`, as with any parameter.
//!
//! Calls are counted from the start of boot, including those made before the command
//! line was read (the firmware calls that fetch it): an injection whose call already
//! happened when it is armed is reported and never fires.
//!
//! When an injection fires, the kernel prints `FAULT_INJECTION: forcing a failure: ...`
//! (Linux's fault-injection words) naming the parameter and the call; at the end of a
//! boot in which an armed injection never fired it prints
//! `FAULT_INJECTION: <param> not reached: <count> <calls> in this boot`.

use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering};

use crate::cmdline::parse_int;
use crate::mm::hash::HStatus;

/// The hypercalls that can be failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hcall {
    Enter,
    Remove,
    Read,
}

impl Hcall {
    pub const ALL: [Hcall; 3] = [Hcall::Enter, Hcall::Remove, Hcall::Read];

    pub const fn name(self) -> &'static str {
        match self {
            Hcall::Enter => "H_ENTER",
            Hcall::Remove => "H_REMOVE",
            Hcall::Read => "H_READ",
        }
    }

    pub const fn index(self) -> usize {
        self as usize
    }

    pub fn from_name(s: &str) -> Option<Hcall> {
        Self::ALL.into_iter().find(|h| h.name() == s)
    }
}

/// Every Open Firmware client-interface service this kernel calls (`fail_of` accepts
/// only these, so that a misspelt service is an error rather than a fault that never
/// fires).
pub const OF_SERVICES: &[&str] = &[
    "call-method",
    "child",
    "close",
    "finddevice",
    "getprop",
    "getproplen",
    "instance-to-package",
    "nextprop",
    "open",
    "package-to-path",
    "parent",
    "peer",
];

/// `fail_hcall=`: which call of which hypercall, and the status it gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HcallFault {
    pub hcall: Hcall,
    pub nth: u64,
    pub status: HStatus,
}

impl fmt::Display for HcallFault {
    /// As a parameter that parses back to the same fault: the status by name, or by
    /// number when PAPR gives it none of its own (the H_Pn and H_UNSUPPORTED_FLAG families,
    /// unknown codes).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "fail_hcall={}:{}:", self.hcall.name(), self.nth)?;
        match self.status {
            HStatus::Pn(_) | HStatus::UnsupportedFlag(_) | HStatus::Other(_) => {
                write!(f, "{}", self.status.code())
            }
            st => f.write_str(st.name()),
        }
    }
}

/// `fail_of=`: which call of which service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OfFault {
    /// One of [`OF_SERVICES`].
    pub service: &'static str,
    pub nth: u64,
}

impl fmt::Display for OfFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "fail_of={}:{}", self.service, self.nth)
    }
}

/// Why a fault-injection value was refused (the boot parameter's error reason).
pub type ParseError = &'static str;

const NTH_ERROR: ParseError = "expects a call number from 1";

/// The N of `fail_*=...N`: a positive integer.
pub fn parse_nth(s: &str) -> Result<u64, ParseError> {
    match parse_int(s) {
        Some(n) if n >= 1 => Ok(n as u64),
        _ => Err(NTH_ERROR),
    }
}

/// A PAPR status by name (`H_HARDWARE`) or number (`-1`); never `H_SUCCESS`, which
/// would not be a failure. Positive "try again" statuses are allowed.
pub fn parse_status(s: &str) -> Option<HStatus> {
    let st = match parse_int(s) {
        Some(n) => HStatus::from_code(n),
        None => {
            // Every named status; the numbered families (H_Pn, H_UNSUPPORTED_FLAG)
            // have no single name and go by number.
            let named = (-68..=18).map(HStatus::from_code).find(|st| {
                !matches!(
                    st,
                    HStatus::Other(_) | HStatus::Pn(_) | HStatus::UnsupportedFlag(_)
                ) && st.name().eq_ignore_ascii_case(s)
            });
            named?
        }
    };
    (st != HStatus::Success).then_some(st)
}

/// `fail_hcall=<H_ENTER|H_REMOVE|H_READ>:N[:<status>]`.
pub fn parse_hcall(v: &str) -> Result<HcallFault, ParseError> {
    const USAGE: ParseError =
        "expects <H_ENTER|H_REMOVE|H_READ>:N[:<status>] (N from 1, status a PAPR error)";
    let mut parts = v.split(':');
    let hcall = parts
        .next()
        .and_then(|h| {
            Hcall::ALL
                .into_iter()
                .find(|c| c.name().eq_ignore_ascii_case(h))
        })
        .ok_or(USAGE)?;
    let nth = parts
        .next()
        .map(parse_nth)
        .ok_or(USAGE)?
        .map_err(|_| USAGE)?;
    let status = match parts.next() {
        None => HStatus::Hardware,
        Some(s) => parse_status(s).ok_or(USAGE)?,
    };
    if parts.next().is_some() {
        return Err(USAGE);
    }
    Ok(HcallFault { hcall, nth, status })
}

/// `fail_of=<service>:N`.
pub fn parse_of(v: &str) -> Result<OfFault, ParseError> {
    const USAGE: ParseError = "expects <service>:N with N from 1 and a service the kernel calls: \
         call-method, child, close, finddevice, getprop, getproplen, instance-to-package, \
         nextprop, open, package-to-path, parent, peer";
    let (service, nth) = v.rsplit_once(':').ok_or(USAGE)?;
    let service = OF_SERVICES
        .iter()
        .copied()
        .find(|s| *s == service)
        .ok_or(USAGE)?;
    let nth = parse_nth(nth).map_err(|_| USAGE)?;
    Ok(OfFault { service, nth })
}

/// Every fault the command line armed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultPlan {
    pub memblock: Option<u64>,
    /// Indexed by [`Hcall::index`].
    pub hcall: [Option<HcallFault>; 3],
    pub of: Option<OfFault>,
}

impl FaultPlan {
    pub fn is_empty(&self) -> bool {
        *self == FaultPlan::default()
    }
}

/// One armed injection: counts the calls of its kind and says which one fails. Usable
/// from a `static` (atomics), one CPU at a time.
#[derive(Debug)]
pub struct Countdown {
    /// The call that fails (0: none armed).
    nth: AtomicU64,
    /// Calls counted so far.
    seen: AtomicU64,
    fired: AtomicU64,
}

impl Default for Countdown {
    fn default() -> Self {
        Self::new()
    }
}

impl Countdown {
    pub const fn new() -> Self {
        Countdown {
            nth: AtomicU64::new(0),
            seen: AtomicU64::new(0),
            fired: AtomicU64::new(0),
        }
    }

    /// Fail the `nth` call (counting from the first call ever counted). `Err(seen)` when
    /// that call has already been made: nothing is armed then.
    pub fn arm(&self, nth: u64) -> Result<(), u64> {
        let seen = self.seen.load(Ordering::Relaxed);
        if nth <= seen {
            return Err(seen);
        }
        self.nth.store(nth, Ordering::Relaxed);
        Ok(())
    }

    /// Count one call; `Some(n)` when it is the armed one (the `n`-th), which must fail.
    pub fn tick(&self) -> Option<u64> {
        let n = self.seen.fetch_add(1, Ordering::Relaxed) + 1;
        (n == self.nth.load(Ordering::Relaxed)).then(|| {
            self.fired.store(n, Ordering::Relaxed);
            n
        })
    }

    /// Calls counted so far.
    pub fn seen(&self) -> u64 {
        self.seen.load(Ordering::Relaxed)
    }

    /// The armed call that has not failed yet, if any.
    pub fn pending(&self) -> Option<u64> {
        let nth = self.nth.load(Ordering::Relaxed);
        (nth != 0 && self.fired.load(Ordering::Relaxed) != nth).then_some(nth)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::string::ToString;

    #[test]
    fn nth_is_positive() {
        assert_eq!(parse_nth("1"), Ok(1));
        assert_eq!(parse_nth("0x10"), Ok(16));
        assert!(parse_nth("0").is_err());
        assert!(parse_nth("-3").is_err());
        assert!(parse_nth("").is_err());
        assert!(parse_nth("x").is_err());
    }

    #[test]
    fn statuses_by_name_and_number() {
        assert_eq!(parse_status("H_HARDWARE"), Some(HStatus::Hardware));
        assert_eq!(parse_status("h_pteg_full"), Some(HStatus::PtegFull));
        assert_eq!(parse_status("H_NOT_FOUND"), Some(HStatus::NotFound));
        assert_eq!(parse_status("-4"), Some(HStatus::Parameter));
        assert_eq!(parse_status("1"), Some(HStatus::Busy));
        assert_eq!(parse_status("-300"), Some(HStatus::UnsupportedFlag(-300)));
        assert_eq!(parse_status("H_SUCCESS"), None);
        assert_eq!(parse_status("0"), None);
        assert_eq!(parse_status("H_Pn"), None);
        assert_eq!(parse_status("H_BOGUS"), None);
    }

    #[test]
    fn hcall_values() {
        assert_eq!(
            parse_hcall("H_ENTER:130"),
            Ok(HcallFault {
                hcall: Hcall::Enter,
                nth: 130,
                status: HStatus::Hardware
            })
        );
        assert_eq!(
            parse_hcall("h_remove:1:H_PARAMETER"),
            Ok(HcallFault {
                hcall: Hcall::Remove,
                nth: 1,
                status: HStatus::Parameter
            })
        );
        assert_eq!(
            parse_hcall("H_READ:2:-6").unwrap().status,
            HStatus::PtegFull
        );
        for bad in [
            "",
            "H_ENTER",
            "H_ENTER:",
            "H_ENTER:0",
            "H_ENTER:1:",
            "H_ENTER:1:H_SUCCESS",
            "H_ENTER:1:2:3",
            "H_PROTECT:1",
            ":1",
        ] {
            assert!(parse_hcall(bad).is_err(), "{bad}");
        }
        let f = parse_hcall("H_ENTER:7:H_PTEG_FULL").unwrap();
        assert_eq!(f.to_string(), "fail_hcall=H_ENTER:7:H_PTEG_FULL");
        // Statuses without a name of their own print as numbers, and parse back.
        for (value, shown) in [
            ("H_READ:2:-300", "fail_hcall=H_READ:2:-300"),
            ("H_READ:2:-55", "fail_hcall=H_READ:2:-55"),
            ("H_READ:2:-1000", "fail_hcall=H_READ:2:-1000"),
            ("H_READ:2:7", "fail_hcall=H_READ:2:7"),
        ] {
            let f = parse_hcall(value).unwrap();
            assert_eq!(f.to_string(), shown);
            assert_eq!(parse_hcall(&shown["fail_hcall=".len()..]), Ok(f));
        }
    }

    #[test]
    fn of_values() {
        assert_eq!(
            parse_of("getprop:12"),
            Ok(OfFault {
                service: "getprop",
                nth: 12
            })
        );
        assert_eq!(parse_of("call-method:1").unwrap().service, "call-method");
        for bad in [
            "getprop",
            "getprop:",
            "getprop:0",
            "getprops:1",
            ":1",
            "claim:1",
        ] {
            let e = parse_of(bad).unwrap_err();
            assert!(e.contains("package-to-path"), "{bad}: {e}");
        }
        assert_eq!(
            parse_of("nextprop:3").unwrap().to_string(),
            "fail_of=nextprop:3"
        );
    }

    #[test]
    fn countdown_fires_once_on_the_nth_call() {
        let c = Countdown::new();
        assert_eq!(c.tick(), None);
        assert_eq!(c.pending(), None);
        assert_eq!(c.arm(1), Err(1), "call 1 already happened");
        c.arm(3).unwrap();
        assert_eq!(c.pending(), Some(3));
        assert_eq!(c.tick(), None);
        assert_eq!(c.tick(), Some(3));
        assert_eq!(c.pending(), None);
        assert_eq!(c.tick(), None);
        assert_eq!(c.seen(), 4);
        // Unarmed: never fires.
        let d = Countdown::new();
        assert!((0..100).all(|_| d.tick().is_none()));
    }

    #[test]
    fn the_service_list_is_sorted_and_in_the_usage() {
        let mut sorted = OF_SERVICES.to_vec();
        sorted.sort_unstable();
        assert_eq!(sorted, OF_SERVICES);
        let usage = parse_of("x").unwrap_err();
        for s in OF_SERVICES {
            assert!(usage.contains(s), "{s}");
        }
    }
}
