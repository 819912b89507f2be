//! The fault-injection oracle: which outcomes the kernel is meant to produce when a boot
//! parameter makes a memblock allocation, a hypercall or an Open Firmware client call
//! fail (`fail_memblock=`, `fail_hcall=`, `fail_of=`; `src/fault.rs`), or provokes an
//! exception (`selftest.fault=`, `selftest.panic`).
//!
//! A [`Scenario`] is what a boot's command line asks for; [`judge`] takes it and the boot's
//! [`Outcome`] and answers `Ok(explanation)` when the outcome is one the kernel is meant
//! to produce, `Err(why not)` otherwise. The rules, tightest first:
//!
//! - the boot ends by itself (no timeout), its last log line within
//!   [`KERNEL_TIME_LIMIT`] of kernel entry by the kernel's own timestamps;
//! - no `Unexpected exception:` or `BUG: Unable to handle kernel` unless the scenario is a
//!   deliberate exception, no `while handling a failure` unless it is a nested one
//!   (`selftest.fault=in-handler`, `in-panic`);
//! - the exit-status contract: a success is `reboot: Power down` last and exit status 0;
//!   a failure is one `Kernel panic - not syncing: <reason>` line, its end marker last,
//!   QEMU's `OS terminated: <reason>` and exit status 1 (a nested fault ends at once, with
//!   `Kernel panic - not syncing: nested fault` and no end marker);
//! - every injection is reported: `FAULT_INJECTION: armed <param>`, or `not armed` (its
//!   call had been made before the command line was read, with that many calls counted),
//!   or `Malformed kernel parameter` for a malformed value;
//! - an injection that fired (`FAULT_INJECTION: forcing a failure: ...`) did so before any
//!   panic, and the boot either panicked with one of the [`PANIC_REASONS`] documented for
//!   that kind of fault (the reason naming the same injection where it can), or succeeded
//!   with every boot self-check `ok` and one of the [`WARNINGS`] for that kind after the
//!   failure (or, for the few calls whose failure Linux ignores, [`SILENT`], as a normal
//!   boot);
//! - when nothing fired, the boot is exactly a normal boot of its ordering: a successful
//!   one meets `qemu/expect/boot-ok.expect` and reports every armed injection `not
//!   reached` with fewer calls than its N; `sparse_init=mmotm-2018-07-10` fails its
//!   self-checks as in 2018 ([`BASELINE_MMOTM`]).

use std::fmt;
use std::sync::OnceLock;
use std::time::Duration;

use regex::Regex;

use crate::boot::{Outcome, Verdict, is_kernel_line};
use crate::expect::{Boot, Expectations, Vars};
use crate::ktap::Document;

/// A boot's last log line must come within this long of kernel entry (by the kernel's
/// timestamps; QEMU's timebase follows the host clock, so a loaded host stretches it: a
/// normal boot takes 0.1-1.5 s).
pub const KERNEL_TIME_LIMIT: Duration = Duration::from_secs(10);

/// The hypercalls `fail_hcall=` can fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Hcall {
    Enter,
    Remove,
    Read,
}

impl Hcall {
    pub const ALL: [Hcall; 3] = [Hcall::Enter, Hcall::Remove, Hcall::Read];

    /// PAPR's name, as `fail_hcall=` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Hcall::Enter => "H_ENTER",
            Hcall::Remove => "H_REMOVE",
            Hcall::Read => "H_READ",
        }
    }
}

/// An exception (or panic) the kernel provokes on request, after its self-checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Selftest {
    /// `selftest.fault=program`: an illegal instruction.
    Program,
    /// `selftest.fault=dsi`: a read of unmapped 0xd000000000000000.
    Dsi,
    /// `selftest.fault=segment`: a read of user address 0x1000.
    Segment,
    /// `selftest.fault=isi`: a call to unmapped 0xd000000000000000.
    Isi,
    /// `selftest.fault=stack`: recursion into the stack's guard page.
    Stack,
    /// `selftest.fault=in-handler`: a fault inside the exception handler.
    InHandler,
    /// `selftest.fault=in-panic`: a fault inside the panic path.
    InPanic,
    /// `selftest.panic`.
    Panic,
}

impl Selftest {
    pub const ALL: [Selftest; 8] = [
        Selftest::Program,
        Selftest::Dsi,
        Selftest::Segment,
        Selftest::Isi,
        Selftest::Stack,
        Selftest::InHandler,
        Selftest::InPanic,
        Selftest::Panic,
    ];

    /// The boot parameter.
    pub fn param(self) -> &'static str {
        match self {
            Selftest::Program => "selftest.fault=program",
            Selftest::Dsi => "selftest.fault=dsi",
            Selftest::Segment => "selftest.fault=segment",
            Selftest::Isi => "selftest.fault=isi",
            Selftest::Stack => "selftest.fault=stack",
            Selftest::InHandler => "selftest.fault=in-handler",
            Selftest::InPanic => "selftest.fault=in-panic",
            Selftest::Panic => "selftest.panic",
        }
    }

    /// Ends in a fault inside the failure path (`while handling a failure`).
    pub fn nested(self) -> bool {
        matches!(self, Selftest::InHandler | Selftest::InPanic)
    }
}

/// One thing a boot's command line makes go wrong.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Fault {
    /// `fail_memblock=N`.
    Memblock(u64),
    /// `fail_hcall=<H_ENTER|H_REMOVE|H_READ>:N[:<status>]` (status a PAPR name; `None`:
    /// the kernel's default, H_HARDWARE).
    Hcall {
        hcall: Hcall,
        nth: u64,
        status: Option<String>,
    },
    /// `fail_of=<service>:N`.
    Of { service: String, nth: u64 },
    /// `selftest.fault=...` or `selftest.panic`.
    Selftest(Selftest),
    /// A fault-injection parameter with a value the kernel must refuse, written as it goes
    /// on the command line (`fail_hcall=H_ENTER`): reported as malformed and ignored.
    Malformed(String),
}

/// What kind of failure a reason or a warning stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Memblock,
    Hcall(Hcall),
    Of,
}

impl Fault {
    /// The boot parameter, as written on the command line.
    pub fn param(&self) -> String {
        match self {
            Fault::Memblock(n) => format!("fail_memblock={n}"),
            Fault::Hcall {
                hcall,
                nth,
                status: None,
            } => format!("fail_hcall={}:{nth}", hcall.name()),
            Fault::Hcall {
                hcall,
                nth,
                status: Some(s),
            } => format!("fail_hcall={}:{nth}:{s}", hcall.name()),
            Fault::Of { service, nth } => format!("fail_of={service}:{nth}"),
            Fault::Selftest(s) => s.param().to_string(),
            Fault::Malformed(p) => p.clone(),
        }
    }

    /// The kind of injection (None: not an injection).
    pub fn kind(&self) -> Option<Kind> {
        match self {
            Fault::Memblock(_) => Some(Kind::Memblock),
            Fault::Hcall { hcall, .. } => Some(Kind::Hcall(*hcall)),
            Fault::Of { .. } => Some(Kind::Of),
            _ => None,
        }
    }

    /// The N-th call fails.
    pub fn nth(&self) -> Option<u64> {
        match self {
            Fault::Memblock(n) | Fault::Hcall { nth: n, .. } | Fault::Of { nth: n, .. } => Some(*n),
            _ => None,
        }
    }

    /// The hypercall status the injection returns (the kernel's default: H_HARDWARE).
    pub fn status(&self) -> Option<&str> {
        match self {
            Fault::Hcall { status, .. } => Some(status.as_deref().unwrap_or("H_HARDWARE")),
            _ => None,
        }
    }

    /// How the kernel names the injection in its `FAULT_INJECTION:` lines (the status
    /// always spelt out).
    pub fn reported(&self) -> String {
        match self {
            Fault::Hcall { hcall, nth, .. } => format!(
                "fail_hcall={}:{nth}:{}",
                hcall.name(),
                self.status().unwrap_or("H_HARDWARE")
            ),
            other => other.param(),
        }
    }

    /// Whether a `FAULT_INJECTION: forcing a failure: <what>` line is this injection's.
    fn forced_by(&self, what: &str) -> bool {
        match self {
            Fault::Memblock(n) => what.ends_with(&format!("(fail_memblock={n})")),
            Fault::Hcall { hcall, nth, .. } => {
                what.starts_with(&format!("{} call #{nth} ", hcall.name()))
            }
            Fault::Of { service, nth } => {
                what.starts_with(&format!("OF client call {service} #{nth} "))
            }
            _ => false,
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.param())
    }
}

/// A boot's fault scenario: the sparse_init ordering (None: the default) and what is made
/// to fail (empty: nothing, a normal boot).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Scenario {
    /// `sparse_init=` value.
    pub ordering: Option<String>,
    pub faults: Vec<Fault>,
}

impl Scenario {
    /// A normal boot.
    pub fn none() -> Self {
        Scenario::default()
    }
    pub fn fault(f: Fault) -> Self {
        Scenario {
            ordering: None,
            faults: vec![f],
        }
    }
    pub fn memblock(nth: u64) -> Self {
        Self::fault(Fault::Memblock(nth))
    }
    pub fn hcall(hcall: Hcall, nth: u64, status: Option<&str>) -> Self {
        Self::fault(Fault::Hcall {
            hcall,
            nth,
            status: status.map(String::from),
        })
    }
    pub fn of(service: &str, nth: u64) -> Self {
        Self::fault(Fault::Of {
            service: service.into(),
            nth,
        })
    }
    pub fn selftest(s: Selftest) -> Self {
        Self::fault(Fault::Selftest(s))
    }
    /// This scenario with one more fault.
    pub fn and(mut self, f: Fault) -> Self {
        self.faults.push(f);
        self
    }
    /// This scenario under another sparse_init ordering.
    pub fn with_ordering(mut self, ordering: &str) -> Self {
        self.ordering = Some(ordering.to_string());
        self
    }

    /// The kernel command line (`sparse_init=...` first, then each fault's parameter).
    pub fn append(&self) -> String {
        let mut words: Vec<String> = Vec::new();
        if let Some(o) = &self.ordering {
            words.push(format!("sparse_init={o}"));
        }
        words.extend(self.faults.iter().map(Fault::param));
        words.join(" ")
    }

    /// The exception the scenario asks for, if any.
    pub fn selftest_fault(&self) -> Option<Selftest> {
        self.faults.iter().find_map(|f| match f {
            Fault::Selftest(s) => Some(*s),
            _ => None,
        })
    }

    /// The ordering fails its self-checks by design (the 2018 failure).
    pub fn fails_by_design(&self) -> bool {
        self.ordering.as_deref() == Some("mmotm-2018-07-10")
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let a = self.append();
        f.write_str(if a.is_empty() { "(none)" } else { &a })
    }
}

// ---------------------------------------------------------------------------------------
// What the kernel is meant to print: the documented reasons and warnings, as data.

/// A documented message for a kind of failure: the pattern (a regex over the message,
/// timestamp removed; for a panic, the reason after `Kernel panic - not syncing: `) and
/// the Linux function it stands for.
#[derive(Clone, Copy, Debug)]
pub struct Reason {
    pub kind: Kind,
    pub pattern: &'static str,
    pub linux: &'static str,
}

/// How a failed bolted insert is described in a panic reason: a full group (-1) or
/// another hypervisor status (-2), the status named either way (a hint may follow).
macro_rules! bolt_failure {
    () => {
        r"(H_ENTER into group 0x[0-9a-f]+ failed: (?P<status>H_[A-Z_]+) \(-?\d+\)|hash groups? 0x[0-9a-f]+ (and 0x[0-9a-f]+ )?(is|are) full \((?P<status2>H_PTEG_FULL)\)) \((htab_bolt_mapping returned )?-[12]\)"
    };
}

/// Panic reasons a fired injection may end the boot with. The kernel cuts a reason at
/// 256 bytes (`fatal_fmt`), so a long memblock reason may lose the `(fail_memblock=N)` it
/// ends with: where that is present it must name the injection.
pub const PANIC_REASONS: &[Reason] = &[
    Reason {
        kind: Kind::Memblock,
        pattern: r"^memblocks_present: cannot allocate \S+ \(0x[0-9a-f]+ bytes\): memblock_alloc_try_nid: Failed to allocate .*?(\(fail_memblock=(?P<nth>\d+)\))?$",
        linux: "memory_present()/sparse_index_alloc(): memblock_virt_alloc() panics when the section table cannot be allocated",
    },
    Reason {
        kind: Kind::Memblock,
        pattern: r"^can not allocate (usemap_map|map_map) \(memblock_alloc_try_nid: Failed to allocate .*?(\(fail_memblock=(?P<nth>\d+)\)\))?$",
        linux: "sparse_init() of v4.18 and mmotm-2018-07-10: panic(\"can not allocate usemap_map\") / map_map",
    },
    Reason {
        kind: Kind::Memblock,
        pattern: r"^sparse_init: no memory section has a memory map \(\d+ of \d+ dropped after allocation or mapping failures\)$",
        linux: "sparse_init(): every section dropped by sparse_init_nid()'s failures (Linux would go on without a memory map and crash later)",
    },
    Reason {
        kind: Kind::Hcall(Hcall::Enter),
        pattern: concat!(
            r"^hash-mmu: linear mapping of \[mem 0x[0-9a-f]+-0x[0-9a-f]+\] failed: ea 0x[0-9a-f]+: ",
            bolt_failure!()
        ),
        linux: "htab_initialize(): BUG_ON(htab_bolt_mapping(...)) for the linear mapping",
    },
    Reason {
        kind: Kind::Hcall(Hcall::Enter),
        pattern: concat!(
            r"^hash-mmu: kernel stack mapping at 0x[0-9a-f]+ failed: ea 0x[0-9a-f]+: ",
            bolt_failure!()
        ),
        linux: "htab_initialize()'s BUG_ON(htab_bolt_mapping(...)): Linux's boot stack is inside the bolted linear mapping",
    },
    Reason {
        kind: Kind::Hcall(Hcall::Enter),
        pattern: r"^sparse_init: no memory section has a memory map \(\d+ of \d+ dropped after allocation or mapping failures\)$",
        linux: "sparse_init(): every section dropped after vmemmap_populate() failed (Linux would go on without a memory map and crash later)",
    },
    Reason {
        kind: Kind::Hcall(Hcall::Remove),
        pattern: r"^BUG: hash__vmemmap_create_mapping: H_REMOVE of ptex 0x[0-9a-f]+ failed: (?P<status>H_[A-Z_]+) \(-?\d+\)$",
        linux: "hash__vmemmap_create_mapping(): BUG_ON(rc2 && (rc2 != -ENOENT)) after htab_remove_mapping()",
    },
    Reason {
        kind: Kind::Hcall(Hcall::Read),
        pattern: r"^\d+ boot self-check\(s\) failed$",
        linux: "the boot self-checks (KUnit-style, hash_bolted_read_back / sparse_vmemmap_mapped_once read the table with H_READ; no Linux counterpart): a `not ok` naming the failed H_READ",
    },
    Reason {
        kind: Kind::Of,
        pattern: r"^prom_init: cannot flatten the device tree: OF client call (?P<service>\S+) failed$",
        linux: "prom_init()/flatten_device_tree(): prom_panic() when the firmware's tree cannot be walked",
    },
];

/// Warnings that explain a boot which went on after a fired injection.
pub const WARNINGS: &[Reason] = &[
    Reason {
        kind: Kind::Memblock,
        pattern: r"^sparse_init_nid: node\[\d+\] usemap allocation failed$",
        linux: "sparse_init_nid() (v4.19)",
    },
    Reason {
        kind: Kind::Memblock,
        pattern: r"^sparse_early_usemaps_alloc_node: allocation failed$",
        linux: "sparse_early_usemaps_alloc_node() (v4.18, mmotm-2018-07-10)",
    },
    Reason {
        kind: Kind::Memblock,
        pattern: r"^sparse_init_nid: node\[\d+\] memory map backing failed\. Some memory will not be available\.$",
        linux: "sparse_init_nid() (v4.19)",
    },
    Reason {
        kind: Kind::Memblock,
        pattern: r"^sparse_early_mem_map_alloc: sparsemem memory map backing failed some memory will not be available$",
        linux: "sparse_early_mem_map_alloc() (v4.18)",
    },
    Reason {
        kind: Kind::Memblock,
        pattern: r"^sparse_mem_maps_populate_node: sparsemem memory map backing failed some memory will not be available$",
        linux: "sparse_mem_maps_populate_node() (mmotm-2018-07-10)",
    },
    Reason {
        kind: Kind::Memblock,
        pattern: r"^WARNING: vmemmap_list_populate: ",
        linux: "vmemmap_list_populate()'s WARN_ON(1) when vmemmap_list_alloc() fails",
    },
    Reason {
        kind: Kind::Hcall(Hcall::Enter),
        pattern: r"^vmemmap_populate: Unable to create vmemmap mapping: -?\d+$",
        linux: "vmemmap_populate()",
    },
    Reason {
        kind: Kind::Hcall(Hcall::Enter),
        pattern: r"^Failed hash pte insert with error -?\d+$",
        linux: "pSeries_lpar_hpte_insert()",
    },
    Reason {
        kind: Kind::Hcall(Hcall::Enter),
        pattern: r"^sparse_init_nid: node\[\d+\] memory map backing failed\. Some memory will not be available\.$",
        linux: "sparse_init_nid() (v4.19)",
    },
    Reason {
        kind: Kind::Hcall(Hcall::Enter),
        pattern: r"^sparse_early_mem_map_alloc: sparsemem memory map backing failed some memory will not be available$",
        linux: "sparse_early_mem_map_alloc() (v4.18)",
    },
    Reason {
        kind: Kind::Hcall(Hcall::Read),
        pattern: r"^Failed to read hash page table at \d+ err -?\d+$",
        linux: "__pSeries_lpar_hpte_find() (pr_info, the group's quad is skipped)",
    },
    Reason {
        kind: Kind::Of,
        pattern: r"^prom: ibm,client-architecture-support failed: .*; DR memory will not be described$",
        linux: "prom_send_capabilities() (\"WARNING: ibm,client-architecture-support call FAILED!\")",
    },
    Reason {
        kind: Kind::Of,
        pattern: r"^prom: cannot tell the boot CPU, assuming 0$",
        linux: "prom_find_boot_cpu() (Linux falls back silently)",
    },
];

/// Fired injections whose failure Linux ignores: the boot must be a normal one
/// (`boot-ok.expect`), with no warning needed. (kind, service or status, why.)
pub const SILENT: &[(Kind, &str, &str)] = &[
    (
        Kind::Of,
        "close",
        "prom_send_capabilities() ignores close's result",
    ),
    (
        Kind::Of,
        "finddevice",
        "prom_find_boot_cpu(): no /chosen, so the first CPU node is used",
    ),
    (
        Kind::Of,
        "getprop",
        "prom_find_boot_cpu(): no /chosen cpu, so the first CPU node is used",
    ),
    (
        Kind::Of,
        "instance-to-package",
        "prom_find_boot_cpu(): an invalid package, so the first CPU node is used",
    ),
    (
        Kind::Hcall(Hcall::Remove),
        "H_NOT_FOUND",
        "htab_remove_mapping(): -ENOENT is not an error",
    ),
];

/// `sparse_init=mmotm-2018-07-10` fails its self-checks by design (the 2018 failure): a
/// panic with this reason and `sparse_vmemmap_mapped_once` not ok.
pub const BASELINE_MMOTM: &str = r"^\d+ boot self-check\(s\) failed$";

fn regex(p: &str) -> Regex {
    Regex::new(p).unwrap_or_else(|e| panic!("oracle pattern {p}: {e}"))
}

/// `qemu/expect/boot-ok.expect`, parsed once (compiled in).
fn boot_ok() -> &'static Expectations {
    static E: OnceLock<Expectations> = OnceLock::new();
    E.get_or_init(|| {
        Expectations::parse(
            "qemu/expect/boot-ok.expect",
            include_str!("../../expect/boot-ok.expect"),
        )
        .expect("boot-ok.expect parses")
    })
}

/// `Ok(())` when the boot meets `boot-ok.expect`, else the first failed expectation.
pub fn meets_boot_ok(o: &Outcome) -> Result<(), String> {
    let boot = Boot::from_outcome(o);
    let mut vars = Vars::for_machine(&crate::Machine::default(), None);
    let checks = boot_ok().evaluate(&boot, &mut vars);
    match checks.iter().find(|c| !c.ok) {
        None => Ok(()),
        Some(c) => Err(format!("not a normal boot: {c}")),
    }
}

/// The timestamp of the kernel's last log line.
pub fn last_kernel_time(o: &Outcome) -> Option<Duration> {
    let line = o.console.lines().rfind(|l| is_kernel_line(l))?;
    let stamp = line.strip_prefix('[')?.split_once(']')?.0.trim();
    stamp.parse::<f64>().ok().map(Duration::from_secs_f64)
}

/// A boot as the harness's log file keeps it (`BootOptions::log`: the QEMU command as a
/// `# ` line, the console, `# QEMU stderr:` and QEMU's messages, `# verdict: ...`), for
/// judging a kept log again. QEMU's status is taken from the verdict (success 0, kernel
/// failure 1); console arrival times are not kept.
pub fn outcome_from_log(text: &str) -> Option<Outcome> {
    let mut lines = text.lines();
    let command = lines
        .next()?
        .strip_prefix("# ")?
        .split(' ')
        .map(String::from)
        .collect();
    let (mut console, mut stderr) = (String::new(), String::new());
    let mut in_stderr = false;
    let mut verdict_line = None;
    for l in lines {
        if let Some(v) = l.strip_prefix("# verdict: ") {
            verdict_line = Some(v);
            break;
        }
        if l == "# QEMU stderr:" {
            in_stderr = true;
            continue;
        }
        let out = if in_stderr { &mut stderr } else { &mut console };
        out.push_str(l);
        out.push('\n');
    }
    let v = verdict_line?;
    let (verdict, status) = [
        (Verdict::Success, Some(0)),
        (Verdict::KernelFailure, Some(1)),
        (Verdict::Timeout, None),
        (Verdict::QemuError, None),
    ]
    .into_iter()
    .find(|(v2, _)| v.starts_with(&format!("{} (", v2.name())))?;
    let (reason, secs) = v[verdict.name().len() + 2..].rsplit_once(") in ")?;
    // The console ends with the blank line the log puts before its trailer.
    while console.ends_with("\n\n") {
        console.pop();
    }
    Some(Outcome {
        verdict,
        qemu_status: status,
        console,
        stderr,
        duration: Duration::from_secs_f64(secs.strip_suffix(" s")?.parse().ok()?),
        command,
        reason: reason.to_string(),
        timing: Default::default(),
        stopped: false,
    })
}

/// What the kernel reported about one injection.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Report {
    /// Armed; fired at this message index.
    Fired(usize),
    /// Armed, never fired; `not reached: K` when the boot got that far.
    Pending(Option<u64>),
    /// `not armed: K calls were made before the command line was read`.
    NotArmed(u64),
    /// `Malformed kernel parameter`.
    Malformed,
}

/// The first number in `s`.
fn first_number(s: &str) -> Option<u64> {
    let start = s.find(|c: char| c.is_ascii_digit())?;
    let digits: String = s[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// Each injection's report, checked for consistency.
fn reports(s: &Scenario, msgs: &[&str]) -> Result<Vec<(Fault, Report)>, String> {
    const FI: &str = "FAULT_INJECTION: ";
    let mut out = Vec::new();
    for f in &s.faults {
        if let Fault::Malformed(p) = f {
            let want = format!("Malformed kernel parameter '{p}': ");
            if !msgs.iter().any(|m| m.starts_with(&want)) {
                return Err(format!("'{p}' was not reported as malformed"));
            }
            if msgs.contains(&format!("{FI}armed {p}").as_str()) {
                return Err(format!("'{p}' is malformed but was armed"));
            }
            out.push((f.clone(), Report::Malformed));
            continue;
        }
        let (Some(nth), Some(_)) = (f.nth(), f.kind()) else {
            continue;
        };
        let name = f.reported();
        let armed = msgs.iter().position(|m| *m == format!("{FI}armed {name}"));
        let not_armed = msgs
            .iter()
            .find_map(|m| m.strip_prefix(&format!("{FI}{name} not armed: ")));
        let forced: Vec<usize> = msgs
            .iter()
            .enumerate()
            .filter(|(_, m)| {
                m.strip_prefix(FI)
                    .and_then(|r| r.strip_prefix("forcing a failure: "))
                    .is_some_and(|w| f.forced_by(w))
            })
            .map(|(i, _)| i)
            .collect();
        let not_reached = msgs
            .iter()
            .find_map(|m| m.strip_prefix(&format!("{FI}{name} not reached: ")));
        let report = match (armed, not_armed) {
            (Some(_), Some(_)) => return Err(format!("{name} reported both armed and not armed")),
            (None, None) => {
                return Err(format!(
                    "{name} was reported neither armed nor not armed (want 'FAULT_INJECTION: armed {name}')"
                ));
            }
            (None, Some(rest)) => {
                let k = first_number(rest)
                    .ok_or_else(|| format!("{name} not armed: no call count in '{rest}'"))?;
                if k < nth {
                    return Err(format!(
                        "{name} not armed although only {k} calls had been made (it is the {nth}th)"
                    ));
                }
                if !forced.is_empty() || not_reached.is_some() {
                    return Err(format!(
                        "{name} not armed but reported fired or not reached"
                    ));
                }
                Report::NotArmed(k)
            }
            (Some(a), None) => match (forced.as_slice(), not_reached) {
                ([], None) => Report::Pending(None),
                ([], Some(rest)) => {
                    let k = first_number(rest)
                        .ok_or_else(|| format!("{name} not reached: no call count in '{rest}'"))?;
                    if k >= nth {
                        return Err(format!(
                            "{name} not reached although {k} calls were made: the {nth}th should have failed"
                        ));
                    }
                    Report::Pending(Some(k))
                }
                ([i], None) if *i > a => Report::Fired(*i),
                ([_], None) => return Err(format!("{name} fired before it was armed")),
                ([_], Some(_)) => return Err(format!("{name} fired and was reported not reached")),
                (more, _) => return Err(format!("{name} fired {} times (one shot)", more.len())),
            },
        };
        out.push((f.clone(), report));
    }
    Ok(out)
}

/// The panic reasons (in order) and the index of the first panic line.
fn panics<'a>(msgs: &[&'a str]) -> Vec<(usize, &'a str)> {
    msgs.iter()
        .enumerate()
        .filter_map(|(i, m)| {
            m.strip_prefix("Kernel panic - not syncing: ")
                .map(|r| (i, r))
        })
        .collect()
}

/// Judge a boot of scenario `s`: `Ok(explanation)` when `o` is an outcome the kernel is
/// meant to produce for it, `Err(why not)` otherwise (a hang is `Err("HANG: ...")`).
pub fn judge(s: &Scenario, o: &Outcome) -> Result<String, String> {
    match o.verdict {
        Verdict::Timeout => return Err(format!("HANG: {}", o.reason)),
        Verdict::QemuError => return Err(format!("QEMU error: {}", o.reason)),
        _ => {}
    }
    let msgs: Vec<&str> = o.messages().collect();
    let kt = last_kernel_time(o).ok_or("no kernel log line")?;
    if kt > KERNEL_TIME_LIMIT {
        return Err(format!(
            "the boot ended {:.2} s after kernel entry (limit {} s)",
            kt.as_secs_f64(),
            KERNEL_TIME_LIMIT.as_secs()
        ));
    }
    let selftest = s.selftest_fault();
    if selftest.is_none() {
        for bad in ["Unexpected exception:", "BUG: Unable to handle kernel"] {
            if let Some(m) = msgs.iter().find(|m| m.starts_with(bad)) {
                return Err(format!("an exception nobody asked for: {m}"));
            }
        }
    }
    let nested = msgs
        .iter()
        .filter(|m| m.contains("while handling a failure"))
        .count();
    if nested > 0 && !selftest.is_some_and(Selftest::nested) {
        return Err("a fault while handling a failure".into());
    }
    let panics = panics(&msgs);
    // The exit-status contract.
    match o.verdict {
        Verdict::Success => {
            if o.qemu_status != Some(0) || msgs.last() != Some(&"reboot: Power down") {
                return Err(format!(
                    "success without exit 0 ({:?}) or power-down last",
                    o.qemu_status
                ));
            }
            if let Some((_, p)) = panics.first() {
                return Err(format!("a successful boot printed a panic: {p}"));
            }
        }
        _ => {
            let Some(&(_, reason)) = panics.first() else {
                return Err(format!("failed without a panic line: {}", o.reason));
            };
            if o.qemu_status != Some(1) {
                return Err(format!(
                    "panicked ('{reason}') but QEMU exited {:?}",
                    o.qemu_status
                ));
            }
            if msgs.contains(&"reboot: Power down") {
                return Err("powered down after a panic".into());
            }
            if nested == 0 {
                if panics.len() != 1 {
                    return Err(format!("{} panic lines", panics.len()));
                }
                let end = format!("---[ end Kernel panic - not syncing: {reason} ]---");
                if msgs.last() != Some(&end.as_str()) {
                    return Err("the panic's end marker is not the last line".into());
                }
                if !o.stderr.contains(&format!("OS terminated: {reason}")) {
                    return Err("QEMU did not report 'OS terminated: <reason>'".into());
                }
            }
        }
    }
    let reports = reports(s, &msgs)?;
    let fired: Vec<(&Fault, usize)> = reports
        .iter()
        .filter_map(|(f, r)| match r {
            Report::Fired(i) => Some((f, *i)),
            _ => None,
        })
        .collect();
    let ktap = o.ktap();
    let first_panic = panics.first().map(|p| p.0);
    if let (Some(p), Some(first)) = (first_panic, fired.iter().map(|f| f.1).min())
        && p < first
    {
        return Err(format!(
            "panicked before the injection fired: {}",
            panics[0].1
        ));
    }
    // A deliberate exception that ran.
    if let Some(st) = selftest {
        let ran = msgs
            .iter()
            .any(|m| m.starts_with("selftest: ") || m.starts_with("kernel BUG at "))
            || panics.iter().any(|p| p.1 == "selftest.panic requested");
        if ran {
            if !fired.is_empty() {
                return Err(format!(
                    "{} ran although {} fired before it",
                    st.param(),
                    fired[0].0
                ));
            }
            return judge_selftest(st, o, &msgs, &panics);
        }
        if o.verdict == Verdict::Success {
            return Err(format!(
                "{} was asked for but the boot succeeded",
                st.param()
            ));
        }
        // Ended before the exception could run: judged below like any other boot.
    }
    let mut notes: Vec<String> = reports
        .iter()
        .filter_map(|(f, r)| match r {
            Report::NotArmed(k) => {
                Some(format!("{f} not armed ({k} calls before the command line)"))
            }
            Report::Pending(Some(k)) => Some(format!("{f} not reached ({k} calls)")),
            Report::Malformed => Some(format!("{f} refused as malformed")),
            _ => None,
        })
        .collect();
    if fired.is_empty() {
        if o.verdict == Verdict::Success {
            if s.fails_by_design() {
                return Err("mmotm-2018-07-10 succeeded: it must fail its self-checks".into());
            }
            if let Some((f, _)) = reports.iter().find(|(_, r)| *r == Report::Pending(None)) {
                return Err(format!(
                    "{f} armed, never fired, and not reported 'not reached'"
                ));
            }
            meets_boot_ok(o)?;
            notes.push("a normal boot (boot-ok)".into());
            return Ok(notes.join("; "));
        }
        let reason = panics[0].1;
        if s.fails_by_design() {
            return baseline(reason, &ktap).map(|why| {
                notes.push(why);
                notes.join("; ")
            });
        }
        return Err(format!("failed although no injection fired: {reason}"));
    }
    // Something fired.
    let (first_fault, _) = fired[0];
    if o.verdict == Verdict::Success {
        if s.fails_by_design() {
            return Err("mmotm-2018-07-10 succeeded: it must fail its self-checks".into());
        }
        let doc = ktap.map_err(|e| format!("self-checks: {e}"))?;
        if !doc.all_ok() {
            return Err(format!(
                "success with self-checks not ok: {:?}",
                doc.failures()
            ));
        }
        if let Some((f, _)) = reports.iter().find(|(_, r)| *r == Report::Pending(None)) {
            return Err(format!(
                "{f} armed, never fired, and not reported 'not reached'"
            ));
        }
        for &(f, at) in &fired {
            let kind = f.kind().expect("an injection");
            let warning = WARNINGS.iter().filter(|w| w.kind == kind).find_map(|w| {
                let re = regex(w.pattern);
                msgs[at..]
                    .iter()
                    .find(|m| re.is_match(m))
                    .map(|m| (m, w.linux))
            });
            match warning {
                Some((m, linux)) => notes.push(format!("{f} fired; went on after '{m}' ({linux})")),
                None => {
                    let key = match f {
                        Fault::Of { service, .. } => service.as_str(),
                        _ => f.status().unwrap_or(""),
                    };
                    let Some((_, _, why)) = SILENT
                        .iter()
                        .find(|(k, name, _)| *k == kind && *name == key)
                    else {
                        return Err(format!(
                            "{f} fired and the boot succeeded without a warning explaining it"
                        ));
                    };
                    meets_boot_ok(o).map_err(|e| format!("{f} fired silently but {e}"))?;
                    notes.push(format!(
                        "{f} fired; ignored as Linux does ({why}), a normal boot"
                    ));
                }
            }
        }
        return Ok(notes.join("; "));
    }
    // A failure after an injection fired: one of the documented reasons.
    let reason = panics[0].1;
    for &(f, _) in &fired {
        let kind = f.kind().expect("an injection");
        for r in PANIC_REASONS.iter().filter(|r| r.kind == kind) {
            let Some(c) = regex(r.pattern).captures(reason) else {
                continue;
            };
            // The reason must name this injection where it names one.
            if let Some(n) = c.name("nth")
                && n.as_str() != f.nth().unwrap_or(0).to_string()
            {
                continue;
            }
            if let Some(st) = c.name("status").or(c.name("status2"))
                && Some(st.as_str()) != f.status()
            {
                continue;
            }
            if let Some(sv) = c.name("service")
                && !matches!(f, Fault::Of { service, .. } if service == sv.as_str())
            {
                continue;
            }
            if kind == Kind::Hcall(Hcall::Read) {
                let doc = ktap.as_ref().map_err(|e| format!("self-checks: {e}"))?;
                let named = doc.leaves().iter().any(|(_, t)| {
                    !t.ok
                        && t.diag
                            .as_deref()
                            .is_some_and(|d| d.contains("H_READ of ptex"))
                });
                if !named {
                    continue;
                }
            }
            notes.insert(0, format!("{f} fired; panic '{reason}' ({})", r.linux));
            return Ok(notes.join("; "));
        }
    }
    if s.fails_by_design() {
        return baseline(reason, &ktap).map(|why| {
            notes.insert(0, format!("{first_fault} fired; {why}"));
            notes.join("; ")
        });
    }
    Err(format!(
        "{} fired, then a panic that is not a documented reason for it: {reason}",
        fired
            .iter()
            .map(|f| f.0.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

/// The mmotm-2018-07-10 ordering's own failure.
fn baseline(reason: &str, ktap: &Result<Document, crate::ktap::Error>) -> Result<String, String> {
    if !regex(BASELINE_MMOTM).is_match(reason) {
        return Err(format!(
            "mmotm-2018-07-10 must fail its self-checks, not with: {reason}"
        ));
    }
    let doc = ktap.as_ref().map_err(|e| format!("self-checks: {e}"))?;
    let mapped_once = doc
        .leaves()
        .iter()
        .any(|(n, t)| n == "sparse.sparse_vmemmap_mapped_once" && !t.ok);
    if !mapped_once {
        return Err(format!(
            "mmotm-2018-07-10 failed ('{reason}') but sparse_vmemmap_mapped_once is ok"
        ));
    }
    Ok(format!(
        "the 2018 failure of mmotm-2018-07-10 ('{reason}', sparse_vmemmap_mapped_once not ok)"
    ))
}

/// A deliberate exception that ran: its own lines, one register dump at most, no
/// recursion.
fn judge_selftest(
    st: Selftest,
    o: &Outcome,
    msgs: &[&str],
    panics: &[(usize, &str)],
) -> Result<String, String> {
    if o.verdict != Verdict::KernelFailure {
        return Err(format!("{} must end the boot with a failure", st.param()));
    }
    let count = |p: &str| msgs.iter().filter(|m| m.starts_with(p)).count();
    let dumps = count("SRR0: ");
    let nested = msgs
        .iter()
        .filter(|m| m.contains("while handling a failure"))
        .count();
    let need = |p: &str| -> Result<(), String> {
        if msgs.iter().any(|m| m.starts_with(p)) {
            Ok(())
        } else {
            Err(format!("{}: no line starting '{p}'", st.param()))
        }
    };
    let reasons: Vec<&str> = panics.iter().map(|p| p.1).collect();
    let (want_reasons, want_dumps): (&[&str], usize) = match st {
        Selftest::Program => {
            need("Unexpected exception: vector 0x700 (Program Check)")?;
            (&["Fatal exception"], 1)
        }
        Selftest::Dsi => {
            need("BUG: Unable to handle kernel data access on read at 0xd000000000000000")?;
            need("Unexpected exception: vector 0x300 (Data Storage)")?;
            (&["Fatal exception"], 1)
        }
        Selftest::Segment => {
            need("BUG: Unable to handle kernel data access at 0x0000000000001000")?;
            need("Unexpected exception: vector 0x380 (Data Segment)")?;
            (&["Fatal exception"], 1)
        }
        Selftest::Isi => {
            need("BUG: Unable to handle kernel instruction fetch at 0xd000000000000000")?;
            need("Unexpected exception: vector 0x400 (Instruction Storage)")?;
            (&["Fatal exception"], 1)
        }
        Selftest::Stack => {
            need("BUG: kernel stack guard page was hit at 0x")?;
            need("Unexpected exception: vector 0x300 (Data Storage)")?;
            (&["Kernel stack overflow"], 1)
        }
        Selftest::InHandler => {
            need("Exception 0x700 at ")?;
            (&["nested fault"], 0)
        }
        Selftest::InPanic => {
            need("Exception 0x700 at ")?;
            (&["selftest.fault=in-panic requested", "nested fault"], 0)
        }
        Selftest::Panic => (&["selftest.panic requested"], 0),
    };
    if reasons != want_reasons {
        return Err(format!(
            "{}: panic lines {reasons:?}, want {want_reasons:?}",
            st.param()
        ));
    }
    if dumps != want_dumps {
        return Err(format!(
            "{}: {dumps} register dumps, want {want_dumps}",
            st.param()
        ));
    }
    let want_nested = usize::from(st.nested());
    if nested != want_nested {
        return Err(format!(
            "{}: 'while handling a failure' {nested} times, want {want_nested}",
            st.param()
        ));
    }
    if st.nested() && o.stderr.contains("OS terminated: nested fault") {
        // The nested level is quiet: no end marker, os-term with its reason.
    } else if st.nested() {
        return Err("no 'OS terminated: nested fault' from QEMU".into());
    }
    Ok(format!(
        "{}: '{}' as designed{}",
        st.param(),
        reasons.last().unwrap_or(&""),
        match want_dumps {
            0 => String::new(),
            _ => " with one register dump".into(),
        }
    ))
}

#[cfg(test)]
mod tests;
