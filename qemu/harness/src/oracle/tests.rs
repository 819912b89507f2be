//! The oracle on real boot logs (`qemu/harness/tests/fixtures/faults/`, kept from
//! `tests/robust_faults.rs`): each accepted for its own scenario, and refused when the
//! scenario or the log is changed in a way the kernel must not behave.

use super::*;

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!("../../tests/fixtures/faults/", $name, ".log"))
    };
}

fn outcome(text: &str) -> Outcome {
    outcome_from_log(text).expect("a harness log")
}

/// The log with `f` applied to its console.
fn edited(text: &str, f: impl Fn(&str) -> String) -> Outcome {
    let mut o = outcome(text);
    o.console = f(&o.console);
    o
}

/// `text` with its first line containing `needle` printed twice.
fn doubled(text: &str, needle: &str) -> Outcome {
    edited(text, |c| {
        let l = c.lines().find(|l| l.contains(needle)).unwrap().to_string();
        c.replace(&l, &format!("{l}\n{l}"))
    })
}

fn ok(s: &Scenario, o: &Outcome) -> String {
    judge(s, o).unwrap_or_else(|e| panic!("{s}: refused: {e}"))
}

fn refused(s: &Scenario, o: &Outcome, because: &str) {
    match judge(s, o) {
        Ok(why) => panic!("{s}: accepted ({why}), want refused for '{because}'"),
        Err(e) => assert!(
            e.contains(because),
            "{s}: refused with '{e}', want '{because}'"
        ),
    }
}

#[test]
fn logs_read_back_as_outcomes() {
    let o = outcome(fixture!("selftest-in-panic"));
    assert_eq!(o.verdict, Verdict::KernelFailure);
    assert_eq!(o.qemu_status, Some(1));
    assert_eq!(
        o.stderr.trim(),
        "qemu-system-ppc64: OS terminated: nested fault"
    );
    assert_eq!(
        o.reason,
        "Kernel panic - not syncing: selftest.fault=in-panic requested"
    );
    assert_eq!(o.command[0], "qemu-system-ppc64");
    assert_eq!(
        o.messages().last(),
        Some("Kernel panic - not syncing: nested fault")
    );
    let o = outcome(fixture!("none"));
    assert_eq!(o.verdict, Verdict::Success);
    assert!(o.duration > Duration::ZERO);
    assert_eq!(
        last_kernel_time(&o),
        Some(Duration::from_secs_f64(0.277_842))
    );
    assert!(outcome_from_log("no header").is_none());
}

#[test]
fn scenarios_write_their_command_lines() {
    let s = Scenario::hcall(Hcall::Enter, 132, Some("H_PTEG_FULL"))
        .and(Fault::Hcall {
            hcall: Hcall::Remove,
            nth: 1,
            status: None,
        })
        .with_ordering("mmotm-2018-07-10");
    assert_eq!(
        s.append(),
        "sparse_init=mmotm-2018-07-10 fail_hcall=H_ENTER:132:H_PTEG_FULL fail_hcall=H_REMOVE:1"
    );
    assert_eq!(s.faults[1].reported(), "fail_hcall=H_REMOVE:1:H_HARDWARE");
    assert!(s.fails_by_design());
    assert_eq!(Scenario::none().to_string(), "(none)");
    assert_eq!(
        Scenario::of("getprop", 7)
            .and(Fault::Selftest(Selftest::InPanic))
            .append(),
        "fail_of=getprop:7 selftest.fault=in-panic"
    );
    assert_eq!(
        Scenario::selftest(Selftest::Panic).append(),
        "selftest.panic"
    );
    assert_eq!(Scenario::memblock(3).to_string(), "fail_memblock=3");
}

#[test]
fn every_pattern_compiles_and_names_a_linux_function() {
    for r in PANIC_REASONS.iter().chain(WARNINGS) {
        regex(r.pattern);
        assert!(
            r.linux.contains("()") || r.linux.contains("no Linux counterpart"),
            "{}",
            r.linux
        );
    }
    regex(BASELINE_MMOTM);
    // Every kind of injection has a documented panic.
    for k in [
        Kind::Memblock,
        Kind::Hcall(Hcall::Enter),
        Kind::Hcall(Hcall::Remove),
        Kind::Hcall(Hcall::Read),
        Kind::Of,
    ] {
        assert!(PANIC_REASONS.iter().any(|r| r.kind == k), "{k:?}");
    }
}

#[test]
fn a_normal_boot() {
    let o = outcome(fixture!("none"));
    assert!(ok(&Scenario::none(), &o).contains("a normal boot"));
    // An injection the log does not report.
    refused(&Scenario::memblock(3), &o, "neither armed nor not armed");
    // A deliberate exception that did not happen.
    refused(&Scenario::selftest(Selftest::Stack), &o, "boot succeeded");
    // An exception nobody asked for.
    let bad = edited(fixture!("none"), |c| {
        c.replace(
            "] Zone ranges:",
            "] Unexpected exception: vector 0x700 (Program Check)\n[    0.050000] Zone ranges:",
        )
    });
    refused(&Scenario::none(), &bad, "an exception nobody asked for");
    // A nested fault nobody asked for.
    let bad = edited(fixture!("none"), |c| {
        c.replace(
            "] Zone ranges:",
            "] Exception 0x300 at c000000000401540 while handling a failure\n[    0.050000] Zone ranges:",
        )
    });
    refused(&Scenario::none(), &bad, "while handling a failure");
    // Too slow by the kernel's own clock.
    let slow = edited(fixture!("none"), |c| {
        c.replace(
            "[    0.277842] reboot: Power down",
            "[   12.277842] reboot: Power down",
        )
    });
    refused(&Scenario::none(), &slow, "after kernel entry");
    // A hang.
    let mut hung = outcome(fixture!("none"));
    hung.verdict = Verdict::Timeout;
    hung.qemu_status = None;
    let e = judge(&Scenario::none(), &hung).unwrap_err();
    assert!(e.starts_with("HANG: "), "{e}");
    // Exit 0 needs the power-down line last.
    let mut cut = outcome(fixture!("none"));
    cut.console = cut
        .console
        .replace("] reboot: Power down", "] reboot: Halted");
    refused(&Scenario::none(), &cut, "success without exit 0");
}

#[test]
fn memblock_failures() {
    let usemap = outcome(fixture!("vof2g-memblock-3"));
    let why = ok(&Scenario::memblock(3), &usemap);
    assert!(why.contains("sparse_init()"), "{why}");
    // The same failure without an injection is unexplained.
    refused(&Scenario::none(), &usemap, "");
    // Another N is not this log's injection.
    refused(
        &Scenario::memblock(4),
        &usemap,
        "neither armed nor not armed",
    );
    // An undocumented reason.
    let bad = edited(fixture!("vof2g-memblock-3"), |c| {
        c.replace(
            "sparse_init: no memory section has a memory map",
            "sparse_init: something else",
        )
    });
    let mut bad = bad;
    bad.stderr = bad.stderr.replace(
        "sparse_init: no memory section has a memory map",
        "sparse_init: something else",
    );
    refused(&Scenario::memblock(3), &bad, "not a documented reason");
    // A failure before the injection fired.
    let early = edited(fixture!("vof2g-memblock-3"), |c| {
        let forcing = c
            .lines()
            .find(|l| l.contains("FAULT_INJECTION: forcing"))
            .unwrap()
            .to_string();
        c.replace(&format!("{forcing}\n"), "").replace(
            "---[ end Kernel panic",
            &format!("{forcing}\n---[ end Kernel panic"),
        )
    });
    refused(&Scenario::memblock(3), &early, "");
    // A degraded boot that says why.
    let list = outcome(fixture!("vof2g-memblock-5"));
    let why = ok(&Scenario::memblock(5), &list);
    assert!(why.contains("vmemmap_list_populate()"), "{why}");
    // ... and one that does not.
    let silent = edited(fixture!("vof2g-memblock-5"), |c| {
        c.lines()
            .filter(|l| !l.contains("WARNING: vmemmap_list_populate"))
            .collect::<Vec<_>>()
            .join("\n")
    });
    refused(&Scenario::memblock(5), &silent, "without a warning");
    // A degraded boot whose self-checks failed is no success.
    let failing = edited(fixture!("vof2g-memblock-5"), |c| {
        c.replacen(
            "    ok 1 sparse_sections_valid",
            "    not ok 1 sparse_sections_valid",
            1,
        )
        .replacen("] ok 2 sparse", "] not ok 2 sparse", 1)
    });
    refused(&Scenario::memblock(5), &failing, "self-checks");
}

#[test]
fn hcall_failures() {
    let vm = outcome(fixture!("hcall-enter-vmemmap-H_HARDWARE"));
    ok(&Scenario::hcall(Hcall::Enter, 131, None), &vm);
    // The status is part of the injection's name.
    refused(
        &Scenario::hcall(Hcall::Enter, 131, Some("H_PTEG_FULL")),
        &vm,
        "neither armed nor not armed",
    );
    let bug = outcome(fixture!("hcall-enter-remove-bug"));
    let s = Scenario::hcall(Hcall::Enter, 132, Some("H_PTEG_FULL"))
        .and(Fault::Hcall {
            hcall: Hcall::Remove,
            nth: 1,
            status: None,
        })
        .with_ordering("mmotm-2018-07-10");
    let why = ok(&s, &bug);
    assert!(why.contains("BUG_ON"), "{why}");
    let read = outcome(fixture!("hcall-read-self-check"));
    ok(&Scenario::hcall(Hcall::Read, 1, None), &read);
    // A self-check failure that does not name the H_READ is not explained by it.
    let other = edited(fixture!("hcall-read-self-check"), |c| {
        c.replace("H_READ of ptex", "entry of ptex")
    });
    refused(
        &Scenario::hcall(Hcall::Read, 1, None),
        &other,
        "not a documented reason",
    );
    let malformed = outcome(fixture!("hcall-malformed"));
    let s = Scenario::fault(Fault::Malformed("fail_hcall=H_ENTER".into()));
    assert!(ok(&s, &malformed).contains("refused as malformed"));
    refused(
        &Scenario::fault(Fault::Malformed("fail_hcall=H_READ".into())),
        &malformed,
        "not reported as malformed",
    );
}

#[test]
fn of_failures() {
    let cas = outcome(fixture!("vof-of-call-method-1"));
    let why = ok(&Scenario::of("call-method", 1), &cas);
    assert!(why.contains("prom_send_capabilities()"), "{why}");
    let close = outcome(fixture!("vof-of-close-1"));
    let why = ok(&Scenario::of("close", 1), &close);
    assert!(why.contains("ignored as Linux does"), "{why}");
    // A silent success is only accepted for calls whose failure Linux ignores.
    let as_open = edited(fixture!("vof-of-close-1"), |c| {
        c.replace("fail_of=close:1", "fail_of=open:1")
            .replace("OF client call close #1", "OF client call open #1")
    });
    refused(&Scenario::of("open", 1), &as_open, "without a warning");
    let not_armed = outcome(fixture!("vof-of-getprop-not-armed"));
    let why = ok(&Scenario::of("getprop", 1), &not_armed);
    assert!(why.contains("not armed (5 calls"), "{why}");
}

#[test]
fn exceptions() {
    let stack = outcome(fixture!("selftest-stack"));
    ok(&Scenario::selftest(Selftest::Stack), &stack);
    refused(&Scenario::none(), &stack, "an exception nobody asked for");
    refused(&Scenario::selftest(Selftest::Dsi), &stack, "");
    // Two register dumps.
    let twice = doubled(fixture!("selftest-stack"), "] SRR0: ");
    refused(
        &Scenario::selftest(Selftest::Stack),
        &twice,
        "register dumps",
    );
    let handler = outcome(fixture!("selftest-in-handler"));
    ok(&Scenario::selftest(Selftest::InHandler), &handler);
    refused(
        &Scenario::selftest(Selftest::Program),
        &handler,
        "while handling a failure",
    );
    let panic = outcome(fixture!("selftest-in-panic"));
    ok(&Scenario::selftest(Selftest::InPanic), &panic);
    // Recursion: the nested line twice.
    let again = doubled(fixture!("selftest-in-panic"), "while handling a failure");
    refused(
        &Scenario::selftest(Selftest::InPanic),
        &again,
        "times, want 1",
    );
}

#[test]
fn mmotm_fails_by_design() {
    let o = outcome(fixture!("mmotm-memblock-never"));
    let s = Scenario::memblock(100_000).with_ordering("mmotm-2018-07-10");
    assert!(ok(&s, &o).contains("the 2018 failure"));
    // The same failure under the fixed ordering is unexplained.
    refused(&Scenario::memblock(100_000), &o, "no injection fired");
}
