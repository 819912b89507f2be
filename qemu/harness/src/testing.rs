//! Shared pieces of the QEMU boot tests (`tests/*.rs`): boot a machine with its console
//! log kept under `target/qemu/tests/<test>.log`, and assertions that name that log.

use std::path::PathBuf;
use std::time::Duration;

use crate::ktap::Document;
use crate::{BootOptions, Firmware, Machine, Outcome, Verdict, repo_root, test_kernel};

/// Assert with the test's log path in the message.
#[macro_export]
macro_rules! check {
    ($name:expr, $cond:expr, $($msg:tt)*) => {
        assert!(
            $cond,
            "{} (log: {})",
            format!($($msg)*),
            $crate::testing::log_path($name).display()
        )
    };
}

pub fn log_path(name: &str) -> PathBuf {
    repo_root().join(format!("target/qemu/tests/{name}.log"))
}

pub fn boot(name: &str, machine: Machine) -> Outcome {
    let timeout = match machine.firmware {
        Firmware::Slof => Duration::from_secs(90),
        _ => Duration::from_secs(30),
    };
    let opts = BootOptions {
        timeout: Some(timeout),
        log: Some(log_path(name)),
        echo: false,
        ..Default::default()
    };
    crate::boot(&machine, test_kernel(), &opts).expect("QEMU starts")
}

pub fn vof(append: &str) -> Machine {
    Machine {
        firmware: Firmware::Vof,
        append: append.into(),
        ..Machine::default()
    }
}

pub fn has(o: &Outcome, prefix: &str) -> bool {
    o.messages().any(|m| m.starts_with(prefix))
}

pub fn expect_success(name: &str, o: &Outcome) {
    check!(
        name,
        o.verdict == Verdict::Success,
        "verdict {:?}: {}",
        o.verdict,
        o.reason
    );
    check!(
        name,
        o.qemu_status == Some(0),
        "QEMU status {:?}",
        o.qemu_status
    );
    check!(
        name,
        o.messages().last() == Some("reboot: Power down"),
        "last line is not reboot: Power down"
    );
}

/// The kernel reported failure: `Kernel panic - not syncing: <reason>`, its end marker
/// last, QEMU's `OS terminated: <reason>`, exit status 1, no power-down.
pub fn expect_failure(name: &str, o: &Outcome, reason: &str) {
    crate::check!(
        name,
        o.verdict == Verdict::KernelFailure,
        "verdict {:?}",
        o.verdict
    );
    crate::check!(
        name,
        o.qemu_status == Some(1),
        "QEMU status {:?}",
        o.qemu_status
    );
    let msgs: Vec<&str> = o.messages().collect();
    let panic = format!("Kernel panic - not syncing: {reason}");
    let end = format!("---[ end Kernel panic - not syncing: {reason} ]---");
    crate::check!(name, msgs.contains(&panic.as_str()), "no '{panic}'");
    crate::check!(
        name,
        msgs.last() == Some(&end.as_str()),
        "the end marker is not the last line"
    );
    let term = format!("OS terminated: {reason}");
    crate::check!(name, o.stderr.contains(&term), "no '{term}' from QEMU");
    crate::check!(
        name,
        !msgs.contains(&"reboot: Power down"),
        "powered down after a panic"
    );
}

/// The boot's one KTAP document; malformed or missing output fails the test.
pub fn ktap(name: &str, o: &Outcome) -> Document {
    o.ktap()
        .unwrap_or_else(|e| panic!("{e} (log: {})", log_path(name).display()))
}

/// The boot's KTAP document with every suite and case `ok` (the parser has checked that
/// each plan matches its results); returned for the caller's own checks.
pub fn expect_ktap_ok(name: &str, o: &Outcome) -> Document {
    let doc = ktap(name, o);
    check!(name, doc.all_ok(), "KTAP failures: {:?}", doc.failures());
    doc
}
