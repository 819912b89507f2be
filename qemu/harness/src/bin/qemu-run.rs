//! `qemu/run`: build the kernel if needed and boot it under QEMU pseries.

use std::process::exit;

use qemu_harness::cli::{RUN_USAGE, parse_run_args};
use qemu_harness::machine::shell_quote;
use qemu_harness::{BootOptions, build_kernel, exit as status, repo_root};

fn main() {
    let args = match parse_run_args(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("qemu/run: {e}");
            exit(status::USAGE);
        }
    };
    if args.help {
        print!("{RUN_USAGE}");
        exit(0);
    }
    let kernel = match args.kernel.clone() {
        Some(k) if k.is_file() => k,
        Some(k) => {
            eprintln!("qemu/run: no kernel at {}", k.display());
            exit(status::USAGE);
        }
        None => match build_kernel() {
            Ok(k) => k,
            Err(e) => {
                eprintln!("qemu/run: {e}");
                exit(status::BUILD_FAILURE);
            }
        },
    };
    let log = args
        .log
        .clone()
        .unwrap_or_else(|| repo_root().join("target/qemu/run.log"));
    let cmd = qemu_harness::boot::command_line(&args.machine, &kernel);
    eprintln!("qemu/run: {}", shell_quote(&cmd));
    if args.machine.gdb {
        eprintln!("qemu/run: QEMU waits for a debugger on tcp::1234 (gdb: target remote :1234)");
    }
    let opts = BootOptions {
        timeout: args.timeout,
        log: Some(log.clone()),
        echo: true,
        ..Default::default()
    };
    match qemu_harness::boot(&args.machine, &kernel, &opts) {
        Ok(o) => {
            eprintln!(
                "qemu/run: {} ({}) in {:.3} s; log: {}",
                o.verdict.name(),
                o.reason,
                o.duration.as_secs_f64(),
                log.display()
            );
            if o.verdict == qemu_harness::Verdict::QemuError
                && o.stderr.contains("cannot set up guest memory")
                && !args.machine.reserve_off
            {
                eprintln!(
                    "qemu/run: the host cannot reserve the guest's memory; --reserve-off \
                     backs it without a reservation"
                );
            }
            exit(o.verdict.exit_code());
        }
        Err(e) => {
            eprintln!("qemu/run: {e}");
            exit(status::QEMU_ERROR);
        }
    }
}
