//! QEMU boot tests: build the kernel once, boot it in several configurations, assert on
//! the console log and the exit status. Every console log is kept under
//! `target/qemu/tests/<test>.log` for inspection.

use std::process::Command;
use std::time::Duration;

use qemu_harness::check;
use qemu_harness::testing::{boot, expect_failure, expect_success, has, log_path, vof};
use qemu_harness::{BootOptions, Firmware, Machine, Outcome, Verdict, repo_root};

use qemu_harness::test_kernel as kernel;

fn expect_banner(name: &str, o: &Outcome, firmware: &str) {
    check!(name, has(o, "sparsek version "), "no banner");
    check!(name, has(o, "CPU: POWER"), "no CPU line");
    let fw = format!("Firmware: {firmware} ");
    check!(name, has(o, &fw), "no '{fw}' line");
    check!(name, has(o, "Kernel command line: "), "no command line");
    check!(name, has(o, "heap: 4096 KiB at 0x"), "no heap line");
}

#[test]
fn slof_literal_command_from_the_2018_report() {
    // Exactly the reporter's command: no exit-status options, nothing else.
    let name = "slof_literal_2018";
    // coreutils' timeout bounds it (exit 124) so that a hang cannot stall the suite.
    let out = Command::new("timeout")
        .arg("120")
        .arg(qemu_harness::qemu_binary())
        .args([
            "-nographic",
            "-vga",
            "none",
            "-M",
            "pseries",
            "-m",
            "2G",
            "-kernel",
        ])
        .arg(kernel())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("QEMU starts");
    let console = String::from_utf8_lossy(&out.stdout).replace('\r', "");
    std::fs::create_dir_all(log_path(name).parent().unwrap()).unwrap();
    std::fs::write(log_path(name), &console).unwrap();
    check!(
        name,
        out.status.code() == Some(0),
        "QEMU status {:?}",
        out.status
    );
    let last = console
        .lines()
        .rfind(|l| qemu_harness::boot::is_kernel_line(l));
    check!(
        name,
        last.map(qemu_harness::boot::strip_timestamp) == Some("reboot: Power down"),
        "last kernel line {last:?}"
    );
    check!(
        name,
        console.contains("] Firmware: SLOF "),
        "not booted through SLOF"
    );
}

#[test]
fn slof_default_machine_boots() {
    let name = "slof_default";
    let o = boot(name, Machine::default());
    expect_success(name, &o);
    expect_banner(name, &o, "SLOF");
}

#[test]
fn vof_boots() {
    let name = "vof";
    let o = boot(name, vof(""));
    expect_success(name, &o);
    expect_banner(name, &o, "VOF");
}

#[test]
fn firmwareless_fdt_entry_boots() {
    let name = "fdt";
    let m = Machine {
        firmware: Firmware::None,
        append: "loglevel=7".into(),
        ..Machine::default()
    };
    let o = boot(name, m);
    expect_success(name, &o);
    expect_banner(name, &o, "FDT");
    check!(
        name,
        has(&o, "Firmware: FDT (r5 = 0, device tree at 0x"),
        "FDT path not recorded"
    );
    // The command line came through the flattened tree.
    check!(
        name,
        has(&o, "Kernel command line: loglevel=7"),
        "bootargs not read from the FDT"
    );
}

fn cpu_model_boots(firmware: Firmware, cpu: &str, family: &str) {
    let name = format!("{firmware:?}_{cpu}").to_lowercase();
    let m = Machine {
        firmware,
        cpu: Some(cpu.into()),
        ..Machine::default()
    };
    let o = boot(&name, m);
    expect_success(&name, &o);
    check!(
        &name,
        has(&o, &format!("CPU: {family} ")),
        "no 'CPU: {family}' line"
    );
}

#[test]
fn vof_power8_and_power10_boot() {
    cpu_model_boots(Firmware::Vof, "power8", "POWER8");
    cpu_model_boots(Firmware::Vof, "power10", "POWER10");
}

#[test]
fn slof_power8_boots() {
    cpu_model_boots(Firmware::Slof, "power8", "POWER8");
}

#[test]
fn slof_power10_boots() {
    cpu_model_boots(Firmware::Slof, "power10", "POWER10");
}

#[test]
fn initrd_numa_and_smp_machines_boot() {
    let name = "vof_initrd_numa_smp";
    let initrd = repo_root().join("target/qemu/tests/initrd.img");
    let bytes: Vec<u8> = (0..12345u32).map(|i| (i * 7) as u8).collect();
    std::fs::create_dir_all(initrd.parent().unwrap()).unwrap();
    std::fs::write(&initrd, &bytes).unwrap();
    let m = Machine {
        numa: vec![1 << 30, 1 << 30],
        smp: 2,
        initrd: Some(initrd),
        ..vof("")
    };
    let o = boot(name, m);
    expect_success(name, &o);
    // r3/r4 from the firmware: where QEMU put the initrd and its exact size.
    let line = o
        .messages()
        .find(|m| m.starts_with("initrd: 0x"))
        .unwrap_or_else(|| panic!("no initrd line (log: {})", log_path(name).display()));
    check!(
        name,
        line.ends_with(", 0x3039 bytes"),
        "initrd size wrong: {line}"
    );
}

/// A failed boot: QEMU exited 1 after `Kernel panic - not syncing: <reason>`, whose end
/// marker is the last line, and os-term carried the reason.
#[test]
fn selftest_panic_fails_with_panic_lines() {
    let name = "selftest_panic";
    let o = boot(name, vof("selftest.panic"));
    expect_failure(name, &o, "selftest.panic requested");
}

/// The program-check dump names the vector, and SRR0 is the announced instruction.
fn expect_program_check(name: &str, o: &Outcome) {
    expect_failure(name, o, "Fatal exception");
    let addr = o
        .messages()
        .find_map(|m| m.strip_prefix("selftest: executing an illegal instruction at "))
        .unwrap_or_else(|| panic!("no selftest line (log: {})", log_path(name).display()))
        .to_string();
    check!(
        name,
        has(
            o,
            "Unexpected exception: vector 0x700 (Program Check): illegal instruction"
        ),
        "vector not named"
    );
    check!(
        name,
        has(o, &format!("SRR0: {addr}  SRR1: ")),
        "SRR0 is not {addr}"
    );
    for reg in ["DAR:  ", "LR:   ", "R1:   ", "GPR00: ", "Call Trace:"] {
        check!(name, has(o, reg), "no '{reg}' in the dump");
    }
    // CFAR is the branch that reached the faulting function: the call right before LR.
    let reg = |label: &str| {
        o.messages()
            .find_map(|m| {
                let i = m.find(label)?;
                u64::from_str_radix(m[i + label.len()..].split_whitespace().next()?, 16).ok()
            })
            .unwrap_or_else(|| panic!("no {label} (log: {})", log_path(name).display()))
    };
    let (lr, cfar) = (reg("LR:   "), reg("CFAR: "));
    check!(
        name,
        cfar + 4 == lr,
        "CFAR {cfar:x} is not the call before LR {lr:x}"
    );
    // Frames on the kernel stack (its own mapping at 0xd000000040000000, where boot runs
    // once translation is on), each returning into kernel text.
    let frames = o
        .messages()
        .filter(|m| m.starts_with("[d00000004") && m.contains("] [c0000000"))
        .count();
    check!(name, frames >= 2, "backtrace has {frames} frames");
}

#[test]
fn selftest_fault_program_dumps_registers_vof() {
    let name = "selftest_fault_vof";
    let o = boot(name, vof("selftest.fault=program"));
    expect_program_check(name, &o);
}

#[test]
fn selftest_fault_program_dumps_registers_slof() {
    let name = "selftest_fault_slof";
    let m = Machine {
        append: "selftest.fault=program".into(),
        ..Machine::default()
    };
    let o = boot(name, m);
    expect_program_check(name, &o);
}

#[test]
fn poweroff_at_entry_prints_nothing_else() {
    let name = "poweroff_at_entry";
    let o = boot(name, vof("selftest.poweroff_at_entry debug"));
    expect_success(name, &o);
    let msgs: Vec<&str> = o.messages().collect();
    check!(
        name,
        msgs == ["reboot: Power down"],
        "kernel printed {msgs:?}"
    );
}

#[test]
fn command_line_is_parsed_linux_style() {
    let name = "cmdline";
    let o = boot(
        name,
        vof(r#"foo "bar baz"=1 selftest.fault=nope loglevel=x debug hash-debug_x=2"#),
    );
    expect_success(name, &o);
    check!(
        name,
        has(
            &o,
            r#"Unknown kernel command line parameters "foo bar baz hash-debug_x", ignored."#
        ),
        "unknown parameters not reported once"
    );
    let unknown_lines = o
        .messages()
        .filter(|m| m.starts_with("Unknown kernel"))
        .count();
    check!(
        name,
        unknown_lines == 1,
        "{unknown_lines} unknown-parameter lines"
    );
    check!(
        name,
        has(
            &o,
            "Malformed kernel parameter 'selftest.fault=nope': expects one of: program"
        ),
        "bad selftest.fault not reported"
    );
    check!(
        name,
        has(&o, "Malformed kernel parameter 'loglevel=x'"),
        "bad loglevel not reported"
    );
}

#[test]
fn quiet_hides_the_banner_but_not_the_last_words() {
    let name = "quiet";
    let o = boot(name, vof("quiet"));
    expect_success(name, &o);
    check!(
        name,
        !has(&o, "sparsek version"),
        "banner printed despite quiet"
    );
    let o = boot("quiet_panic", vof("quiet selftest.panic"));
    expect_failure("quiet_panic", &o, "selftest.panic requested");
}

#[test]
fn wrong_load_address_is_reported_before_stopping() {
    // Linked for 0x400000: loaded elsewhere, head.S says so (no RTAS token is known that
    // early, so the harness's timeout ends the run).
    let name = "wrong_load_address";
    let m = Machine {
        extra: vec!["-M".into(), "pseries,x-vof=on,kernel-addr=0x800000".into()],
        ..vof("")
    };
    let opts = BootOptions {
        timeout: Some(Duration::from_secs(3)),
        log: Some(log_path(name)),
        echo: false,
        ..Default::default()
    };
    let o = qemu_harness::boot(&m, kernel(), &opts).expect("QEMU starts");
    check!(
        name,
        o.verdict == Verdict::Timeout,
        "verdict {:?}",
        o.verdict
    );
    check!(
        name,
        o.console.contains(
            "sparsek: loaded away from its link address (QEMU kernel-addr must be 0x400000), stopping"
        ),
        "no load-address message"
    );
}
