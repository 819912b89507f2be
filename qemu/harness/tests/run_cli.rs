//! The `qemu/run` exit-status contract, exercised on the real binary and kernel.

use std::process::{Command, Output};

use qemu_harness::exit;

use qemu_harness::test_kernel as kernel;

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let log = qemu_harness::repo_root().join(format!(
        "target/qemu/tests/run_cli_{}.log",
        args.join("_").replace(['/', ' ', '.', '='], "-")
    ));
    let mut c = Command::new(env!("CARGO_BIN_EXE_qemu-run"));
    c.arg("--kernel")
        .arg(kernel())
        .arg("--log")
        .arg(&log)
        .args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("qemu-run starts")
}

fn code(o: &Output) -> Option<i32> {
    o.status.code()
}

#[test]
fn success_is_0_and_prints_the_command_line() {
    let o = run(&["--vof"], &[]);
    assert_eq!(
        code(&o),
        Some(exit::SUCCESS),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("qemu/run: qemu-system-ppc64 -nographic -vga none -M pseries,x-vof=on"));
    assert!(String::from_utf8_lossy(&o.stdout).contains("reboot: Power down"));
}

#[test]
fn kernel_failure_is_1() {
    let o = run(&["--vof", "--append", "selftest.panic"], &[]);
    assert_eq!(code(&o), Some(exit::KERNEL_FAILURE));
}

#[test]
fn bad_options_are_2() {
    assert_eq!(code(&run(&["--bogus"], &[])), Some(exit::USAGE));
    assert_eq!(
        code(&run(&["--numa", "1G,1G", "-m", "4G"], &[])),
        Some(exit::USAGE)
    );
}

#[test]
fn missing_qemu_is_4() {
    let o = run(&["--vof"], &[("QEMU", "/nonexistent/qemu-system-ppc64")]);
    assert_eq!(code(&o), Some(exit::QEMU_ERROR));
}

#[test]
fn qemu_rejecting_its_options_is_4() {
    let o = run(&["--vof", "--", "-no-such-qemu-option"], &[]);
    assert_eq!(code(&o), Some(exit::QEMU_ERROR));
}

#[test]
fn hang_is_timeout_124() {
    // -S: QEMU starts with the CPU stopped, so the kernel never runs.
    let o = run(&["--vof", "--timeout", "1", "--", "-S"], &[]);
    assert_eq!(code(&o), Some(exit::TIMEOUT));
    assert!(String::from_utf8_lossy(&o.stderr).contains("timeout"));
}
