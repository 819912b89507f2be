//! The kernel's boot parameters: what the command line can ask for, parsed once at boot.
//!
//! | parameter | effect |
//! |---|---|
//! | `loglevel=N` | console log level (records with a level below N are printed) |
//! | `debug` | console log level 8: `pr_debug!` output too |
//! | `quiet` | console log level 4: errors and worse only |
//! | `memblock=debug` | memblock's Linux-format dump after discovery and at the end of boot, and one line per reserve/alloc/free |
//! | `selftest.poweroff_at_entry` | power off as soon as the command line and the RTAS token are known (benchmark floor) |
//! | `selftest.panic` | panic once the kernel is up (tests the failure path) |
//! | `selftest.fault=program` | execute an illegal instruction (tests the exception path) |
//! | `selftest.fault=isi` | with translation on, call the unmapped kernel address `0xd000000000000000`: the instruction segment interrupt loads its segment, then the instruction storage interrupt's register dump |
//! | `selftest.fault=segment` | with translation on, read a user address (`0x1000`): no kernel segment covers it, so the data segment interrupt's register dump |
//! | `selftest.fault=dsi` | with translation on, read an unmapped kernel address (`0xd000000000000000`): the data storage interrupt's register dump |
//! | `hash_debug` | one `hash-mmu: bolt ...` line per bolted hash page table entry |
//! | `disable_1tb_segments` | use 256M segments even when the CPU has 1T segments (Linux's parameter) |
//! | `hash_bolt=primary\|secondary` | where bolted entries may go: Linux's primary group only (default), or also the secondary group (FreeBSD style) |
//! | `sparse_init=v4.19\|v4.18\|mmotm-2018-07-10` | the sparse_init ordering (default `v4.19`); an unknown value stops the boot with the list of valid names |
//! | `selftest.fault=stack` | with translation on, recurse until the kernel stack overflows into its guard page: reported as a stack overflow |
//! | `selftest.fault=in-handler` | an illegal instruction whose handler executes another one: the nested fault ends the boot with the failure status |
//! | `selftest.fault=in-panic` | panic, and fault inside the panic path: the nested fault ends the boot with the failure status |
//! | `dtb=initrd` | take the device tree from the initrd instead of the firmware (after client-architecture-support), so that tests can feed the kernel any blob |
//! | `fail_memblock=N` | fault injection: the N-th memblock allocation fails (see [`crate::fault`]) |
//! | `fail_hcall=<H_ENTER\|H_REMOVE\|H_READ>:N[:<status>]` | fault injection: the N-th such hypercall returns `status` (default `H_HARDWARE`) |
//! | `fail_of=<service>:N` | fault injection: the N-th Open Firmware client call of that service fails |
//!
//! Later parameters take precedence over earlier ones, as in Linux. A malformed value is
//! reported and ignored; unknown parameters are reported once, in one line.

use crate::cmdline::{self, Param, name_eq};
use crate::fault::{self, FaultPlan};
use crate::mm::sparse::Order;
use crate::printk::{CONSOLE_LOGLEVEL_DEBUG, CONSOLE_LOGLEVEL_DEFAULT, CONSOLE_LOGLEVEL_QUIET};

/// An exception `selftest.fault=` provokes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SelftestFault {
    /// An illegal instruction: the program-check interrupt (vector 0x700).
    Program,
    /// A load from an unmapped kernel address with translation on: the data storage
    /// interrupt (vector 0x300), after the segment is loaded on demand.
    Dsi,
    /// A load from a user address with translation on: the data segment interrupt
    /// (vector 0x380), which no kernel segment can satisfy.
    Segment,
    /// A call to an unmapped kernel address with translation on: the instruction
    /// segment interrupt (0x480, handled), then the instruction storage interrupt (0x400).
    Isi,
    /// Unbounded recursion with translation on: the kernel stack's guard page.
    Stack,
    /// An illegal instruction whose handler faults again.
    InHandler,
    /// A panic whose path faults.
    InPanic,
}

impl SelftestFault {
    pub const NAMES: &'static [(&'static str, SelftestFault)] = &[
        ("program", SelftestFault::Program),
        ("dsi", SelftestFault::Dsi),
        ("segment", SelftestFault::Segment),
        ("isi", SelftestFault::Isi),
        ("stack", SelftestFault::Stack),
        ("in-handler", SelftestFault::InHandler),
        ("in-panic", SelftestFault::InPanic),
    ];

    pub fn from_name(s: &str) -> Option<Self> {
        Self::NAMES.iter().find(|(n, _)| *n == s).map(|&(_, f)| f)
    }
}

/// A parameter whose value could not be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParamError<'a> {
    pub name: &'a str,
    pub value: Option<&'a str>,
    pub reason: &'static str,
}

const MAX_ERRORS: usize = 8;

/// Everything the command line asked for.
#[derive(Clone, Debug)]
pub struct BootParams<'a> {
    pub cmdline: &'a str,
    pub loglevel: u8,
    pub poweroff_at_entry: bool,
    pub selftest_panic: bool,
    pub selftest_fault: Option<SelftestFault>,
    pub memblock_debug: bool,
    /// `hash_debug`: print every bolted HPTE.
    pub hash_debug: bool,
    /// `disable_1tb_segments`: 256M segments only.
    pub disable_1tb_segments: bool,
    /// `hash_bolt=secondary`: bolted inserts may fall back to the secondary group.
    pub hash_bolt_secondary: bool,
    /// `sparse_init=`: the ordering, or the value that names none (`None`: no value).
    pub sparse_order: Result<Order, Option<&'a str>>,
    /// `dtb=initrd`: the device tree comes from the initrd.
    pub dtb_initrd: bool,
    /// `fail_memblock=`, `fail_hcall=`, `fail_of=`.
    pub faults: FaultPlan,
    errors: [Option<ParamError<'a>>; MAX_ERRORS],
    /// Malformed parameters beyond the first MAX_ERRORS.
    pub errors_dropped: usize,
}

/// The names this kernel understands (compare with `name_eq`).
const KNOWN: &[&str] = &[
    "loglevel",
    "debug",
    "quiet",
    "selftest.poweroff_at_entry",
    "selftest.panic",
    "selftest.fault",
    "memblock",
    "hash_debug",
    "disable_1tb_segments",
    "hash_bolt",
    "sparse_init",
    "dtb",
    "fail_memblock",
    "fail_hcall",
    "fail_of",
];

/// Is this a parameter the kernel acts on?
pub fn is_known(name: &str) -> bool {
    KNOWN.iter().any(|k| name_eq(k, name))
}

impl<'a> BootParams<'a> {
    pub fn parse(cmdline: &'a str) -> Self {
        let mut p = BootParams {
            cmdline,
            loglevel: CONSOLE_LOGLEVEL_DEFAULT,
            poweroff_at_entry: false,
            selftest_panic: false,
            selftest_fault: None,
            memblock_debug: false,
            hash_debug: false,
            disable_1tb_segments: false,
            hash_bolt_secondary: false,
            sparse_order: Ok(Order::V419),
            dtb_initrd: false,
            faults: FaultPlan::default(),
            errors: [None; MAX_ERRORS],
            errors_dropped: 0,
        };
        for param in cmdline::parse(cmdline) {
            p.apply(param);
        }
        p
    }

    /// Only the question the first Rust code asks, once it has the command line.
    pub fn wants_poweroff_at_entry(cmdline: &str) -> bool {
        cmdline::parse(cmdline).any(|p| name_eq(p.name, "selftest.poweroff_at_entry"))
    }

    fn error(&mut self, param: Param<'a>, reason: &'static str) {
        match self.errors.iter_mut().find(|e| e.is_none()) {
            Some(slot) => {
                *slot = Some(ParamError {
                    name: param.name,
                    value: param.value,
                    reason,
                })
            }
            None => self.errors_dropped += 1,
        }
    }

    fn flag(&mut self, param: Param<'a>) -> bool {
        if param.value.is_some() {
            self.error(param, "takes no value");
            false
        } else {
            true
        }
    }

    fn apply(&mut self, param: Param<'a>) {
        let name = param.name;
        if name_eq(name, "loglevel") {
            match param.value.and_then(cmdline::parse_int) {
                Some(n) if (0..=15).contains(&n) => self.loglevel = n as u8,
                _ => self.error(param, "expects a number from 0 to 15"),
            }
        } else if name_eq(name, "debug") {
            if self.flag(param) {
                self.loglevel = CONSOLE_LOGLEVEL_DEBUG;
            }
        } else if name_eq(name, "quiet") {
            if self.flag(param) {
                self.loglevel = CONSOLE_LOGLEVEL_QUIET;
            }
        } else if name_eq(name, "selftest.poweroff_at_entry") {
            if self.flag(param) {
                self.poweroff_at_entry = true;
            }
        } else if name_eq(name, "selftest.panic") {
            if self.flag(param) {
                self.selftest_panic = true;
            }
        } else if name_eq(name, "selftest.fault") {
            match param.value.and_then(SelftestFault::from_name) {
                Some(f) => self.selftest_fault = Some(f),
                None => self.error(
                    param,
                    "expects one of: program, dsi, segment, isi, stack, in-handler, in-panic",
                ),
            }
        } else if name_eq(name, "memblock") {
            match param.value {
                Some("debug") => self.memblock_debug = true,
                _ => self.error(param, "expects: debug"),
            }
        } else if name_eq(name, "hash_debug") {
            if self.flag(param) {
                self.hash_debug = true;
            }
        } else if name_eq(name, "disable_1tb_segments") {
            if self.flag(param) {
                self.disable_1tb_segments = true;
            }
        } else if name_eq(name, "sparse_init") {
            self.sparse_order = match param.value {
                Some(v) => Order::parse(v).ok_or(Some(v)),
                None => Err(None),
            };
        } else if name_eq(name, "hash_bolt") {
            match param.value {
                Some("primary") => self.hash_bolt_secondary = false,
                Some("secondary") => self.hash_bolt_secondary = true,
                _ => self.error(param, "expects one of: primary, secondary"),
            }
        } else if name_eq(name, "dtb") {
            match param.value {
                Some("initrd") => self.dtb_initrd = true,
                _ => self.error(param, "expects: initrd"),
            }
        } else if name_eq(name, "fail_memblock") {
            match param.value.map(fault::parse_nth) {
                Some(Ok(n)) => self.faults.memblock = Some(n),
                Some(Err(e)) => self.error(param, e),
                None => self.error(param, "expects a call number from 1"),
            }
        } else if name_eq(name, "fail_hcall") {
            match param.value.map(fault::parse_hcall) {
                Some(Ok(f)) => self.faults.hcall[f.hcall.index()] = Some(f),
                Some(Err(e)) => self.error(param, e),
                None => self.error(param, "expects <H_ENTER|H_REMOVE|H_READ>:N[:<status>]"),
            }
        } else if name_eq(name, "fail_of") {
            match param.value.map(fault::parse_of) {
                Some(Ok(f)) => self.faults.of = Some(f),
                Some(Err(e)) => self.error(param, e),
                None => self.error(param, "expects <service>:N"),
            }
        }
    }

    /// Parameters whose values were rejected, in command-line order.
    pub fn errors(&self) -> impl Iterator<Item = &ParamError<'a>> {
        self.errors.iter().flatten()
    }

    /// Parameters the kernel does not know, in command-line order.
    pub fn unknown(&self) -> impl Iterator<Item = Param<'a>> + 'a {
        cmdline::parse(self.cmdline).filter(|p| !is_known(p.name))
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    #[test]
    fn defaults() {
        let p = BootParams::parse("");
        assert_eq!(p.loglevel, 7);
        assert!(!p.poweroff_at_entry && !p.selftest_panic);
        assert_eq!(p.selftest_fault, None);
        assert_eq!(p.errors().count(), 0);
        assert_eq!(p.unknown().count(), 0);
    }

    #[test]
    fn memblock_debug() {
        assert!(BootParams::parse("memblock=debug").memblock_debug);
        let p = BootParams::parse("memblock memblock=verbose");
        assert!(!p.memblock_debug);
        assert_eq!(p.errors().count(), 2);
    }

    #[test]
    fn loglevel_debug_quiet_last_one_wins() {
        assert_eq!(BootParams::parse("debug").loglevel, 8);
        assert_eq!(BootParams::parse("quiet").loglevel, 4);
        assert_eq!(BootParams::parse("debug quiet").loglevel, 4);
        assert_eq!(BootParams::parse("quiet loglevel=0x6").loglevel, 6);
        assert_eq!(BootParams::parse("loglevel=3 debug").loglevel, 8);
    }

    #[test]
    fn bad_values_are_reported_and_ignored() {
        let p = BootParams::parse("loglevel=x loglevel=99 debug=1 selftest.fault=nope loglevel");
        assert_eq!(p.loglevel, 7);
        let errs: Vec<_> = p.errors().map(|e| (e.name, e.value)).collect();
        assert_eq!(
            errs,
            [
                ("loglevel", Some("x")),
                ("loglevel", Some("99")),
                ("debug", Some("1")),
                ("selftest.fault", Some("nope")),
                ("loglevel", None),
            ]
        );
        assert_eq!(p.unknown().count(), 0);
    }

    #[test]
    fn too_many_errors_are_counted() {
        let line = "debug=1 ".repeat(MAX_ERRORS + 3);
        let p = BootParams::parse(&line);
        assert_eq!(p.errors().count(), MAX_ERRORS);
        assert_eq!(p.errors_dropped, 3);
    }

    #[test]
    fn selftests_and_dash_underscore() {
        let p =
            BootParams::parse("selftest.poweroff-at-entry selftest.panic selftest.fault=program");
        assert!(p.poweroff_at_entry && p.selftest_panic);
        assert_eq!(p.selftest_fault, Some(SelftestFault::Program));
        assert!(BootParams::wants_poweroff_at_entry(
            "a=b selftest.poweroff_at_entry"
        ));
        assert!(!BootParams::wants_poweroff_at_entry(
            "selftest.poweroff_at_entry_not"
        ));
    }

    #[test]
    fn hash_mmu_parameters() {
        let p = BootParams::parse("hash_debug disable-1tb-segments hash_bolt=secondary");
        assert!(p.hash_debug && p.disable_1tb_segments && p.hash_bolt_secondary);
        assert_eq!(p.unknown().count(), 0);
        let p = BootParams::parse("hash_bolt=secondary hash_bolt=primary selftest.fault=dsi");
        assert!(!p.hash_bolt_secondary && !p.hash_debug && !p.disable_1tb_segments);
        assert_eq!(p.selftest_fault, Some(SelftestFault::Dsi));
        let p = BootParams::parse("selftest.fault=segment");
        assert_eq!(p.selftest_fault, Some(SelftestFault::Segment));
        let p = BootParams::parse("selftest.fault=isi");
        assert_eq!(p.selftest_fault, Some(SelftestFault::Isi));
        // The error message names every fault.
        let p = BootParams::parse("selftest.fault=x");
        let reason = p.errors().next().unwrap().reason;
        for (name, _) in SelftestFault::NAMES {
            assert!(reason.contains(name), "{reason} lacks {name}");
        }
        let p = BootParams::parse("hash_bolt=both hash_debug=1 disable_1tb_segments=0 hash_bolt");
        let errs: Vec<_> = p.errors().map(|e| (e.name, e.value)).collect();
        assert_eq!(
            errs,
            [
                ("hash_bolt", Some("both")),
                ("hash_debug", Some("1")),
                ("disable_1tb_segments", Some("0")),
                ("hash_bolt", None),
            ]
        );
        assert!(!p.hash_debug && !p.disable_1tb_segments && !p.hash_bolt_secondary);
    }

    #[test]
    fn fault_injection_parameters() {
        use crate::fault::{Hcall, HcallFault};
        use crate::mm::hash::HStatus;
        let p = BootParams::parse(
            "fail_memblock=3 fail-hcall=H_ENTER:130 fail_hcall=H_REMOVE:1:H_PARAMETER \
             fail_of=getprop:7 dtb=initrd",
        );
        assert_eq!(p.faults.memblock, Some(3));
        assert_eq!(
            p.faults.hcall[Hcall::Enter.index()],
            Some(HcallFault {
                hcall: Hcall::Enter,
                nth: 130,
                status: HStatus::Hardware
            })
        );
        assert_eq!(
            p.faults.hcall[Hcall::Remove.index()].map(|f| f.status),
            Some(HStatus::Parameter)
        );
        assert_eq!(p.faults.hcall[Hcall::Read.index()], None);
        assert_eq!(
            p.faults.of.map(|f| (f.service, f.nth)),
            Some(("getprop", 7))
        );
        assert!(p.dtb_initrd);
        assert_eq!(p.errors().count(), 0);
        assert_eq!(p.unknown().count(), 0);
        // A later one for the same hypercall replaces the earlier one.
        let p = BootParams::parse("fail_hcall=H_ENTER:1 fail_hcall=H_ENTER:2:H_PTEG_FULL");
        assert_eq!(
            p.faults.hcall[0].map(|f| (f.nth, f.status)),
            Some((2, HStatus::PtegFull))
        );
        let p = BootParams::parse(
            "fail_memblock=0 fail_memblock fail_hcall=H_ENTER fail_of=claim:1 dtb=firmware dtb",
        );
        assert!(p.faults.is_empty() && !p.dtb_initrd);
        let errs: Vec<_> = p.errors().map(|e| (e.name, e.value)).collect();
        assert_eq!(
            errs,
            [
                ("fail_memblock", Some("0")),
                ("fail_memblock", None),
                ("fail_hcall", Some("H_ENTER")),
                ("fail_of", Some("claim:1")),
                ("dtb", Some("firmware")),
                ("dtb", None),
            ]
        );
    }

    #[test]
    fn new_selftest_faults() {
        for (name, f) in [
            ("stack", SelftestFault::Stack),
            ("in-handler", SelftestFault::InHandler),
            ("in-panic", SelftestFault::InPanic),
        ] {
            let line = std::format!("selftest.fault={name}");
            assert_eq!(BootParams::parse(&line).selftest_fault, Some(f));
        }
    }

    #[test]
    fn unknown_parameters_listed_in_order() {
        let p = BootParams::parse(r#"foo debug bar=1 "baz qux"=2 console=hvc0"#);
        let unk: Vec<_> = p.unknown().map(|p| p.name).collect();
        assert_eq!(unk, ["foo", "bar", "baz qux", "console"]);
    }

    #[test]
    fn sparse_init_orderings() {
        assert_eq!(BootParams::parse("").sparse_order, Ok(Order::V419));
        assert_eq!(
            BootParams::parse("sparse_init=v4.18").sparse_order,
            Ok(Order::V418)
        );
        assert_eq!(
            BootParams::parse("sparse_init=mmotm-2018-07-10").sparse_order,
            Ok(Order::Mmotm20180710)
        );
        assert_eq!(
            BootParams::parse("sparse_init=v4.20").sparse_order,
            Err(Some("v4.20"))
        );
        assert_eq!(BootParams::parse("sparse_init").sparse_order, Err(None));
        // The last one wins, as for every parameter.
        assert_eq!(
            BootParams::parse("sparse_init=bogus sparse_init=v4.18").sparse_order,
            Ok(Order::V418)
        );
        assert!(is_known("sparse_init"));
    }
}
