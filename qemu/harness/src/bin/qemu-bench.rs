//! `qemu/bench`: boot time, phase times, scaling and footprint of the kernel against a
//! floor (and Linux with --linux), as tables and a JSON document.

use std::path::PathBuf;
use std::process::{Command, exit};

use serde_json::json;

use qemu_harness::bench::{Config, Plan, default_configs, report, report_json, run};
use qemu_harness::{given_or_built_kernel, repo_root};

const USAGE: &str = "\
usage: qemu/bench [options]

Boot each configuration several times under qemu-system-ppc64 -M pseries, each run
beside a floor (the same QEMU command with selftest.poweroff_at_entry), and print wall
times from QEMU's launch, the kernel's phase times, counts and memory, scaling with
memory size and the goals, each with median and spread. README, \"Benchmark\".

options:
  --runs N          boots per configuration (default 5)
  --slof-runs N     at most this many for SLOF configurations (default 3)
  --only NAME,...   only these configurations
  --largest SIZE    memory of the 'largest' configuration (default 1T; 'none' drops it)
  --config NAME=OPTIONS
                    add a configuration (qemu/run options), repeatable; with --only,
                    name it there too
  --linux VMLINUX   also boot this Linux ppc64le kernel (command line
                    'console=hvc0 disable_radix') and time it to Zone ranges:
  --no-icount       skip the extra boot of each VOF configuration under
                    -icount shift=0 (guest instruction counts per phase)
  --json FILE       write the results here (default target/qemu/bench/results.json)
  --list            list the configurations and exit
  --kernel ELF      measure this ELF instead of building
  -h, --help        this text

exit status: 0 every boot gave its figures, 1 some boot did not (listed at the end),
2 bad options, 3 build failure.
";

fn usage_error(e: &str) -> ! {
    eprintln!("qemu/bench: {e}");
    exit(2)
}

/// First line of a command's output, or "?".
fn first_line(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(|l| l.trim().to_string())
        })
        .unwrap_or_else(|| "?".into())
}

/// The host, for the record: CPU model, cores, memory.
fn host() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")?
                .split_once(':')
                .map(|x| x.1.trim().to_string())
        })
        .unwrap_or_else(|| "?".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kib: u64 = meminfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("MemTotal:")?
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0);
    format!(
        "{model}, {cores} cores, {:.1} GiB",
        mem_kib as f64 / (1u64 << 20) as f64
    )
}

fn main() {
    let root = repo_root();
    let mut runs = 5usize;
    let mut slof_runs = 3usize;
    let mut only: Option<Vec<String>> = None;
    let mut largest = "1T".to_string();
    let mut extra: Vec<Config> = Vec::new();
    let mut linux: Option<PathBuf> = None;
    let mut json_path = root.join("target/qemu/bench/results.json");
    let mut list = false;
    let mut kernel = None;
    let mut icount = true;
    let mut args = std::env::args().skip(1);
    let count = |name: &str, v: String| -> usize {
        v.parse()
            .ok()
            .filter(|&n| n >= 1)
            .unwrap_or_else(|| usage_error(&format!("{name}: bad count '{v}'")))
    };
    while let Some(a) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| usage_error(&format!("{a} needs a value")))
        };
        match a.as_str() {
            "--runs" => runs = count("--runs", value()),
            "--slof-runs" => slof_runs = count("--slof-runs", value()),
            "--only" => only = Some(value().split(',').map(String::from).collect()),
            "--largest" => largest = value(),
            "--config" => {
                let v = value();
                let (name, options) = v.split_once('=').unwrap_or_else(|| {
                    usage_error(&format!("--config: '{v}' is not NAME=OPTIONS"))
                });
                extra.push(Config::new(name.trim(), options).unwrap_or_else(|e| usage_error(&e)));
            }
            "--linux" => linux = Some(PathBuf::from(value())),
            "--json" => json_path = PathBuf::from(value()),
            "--no-icount" => icount = false,
            "--list" => list = true,
            "--kernel" => kernel = Some(PathBuf::from(value())),
            "-h" | "--help" => {
                print!("{USAGE}");
                exit(0);
            }
            other => usage_error(&format!("unknown option '{other}' (see --help)")),
        }
    }
    if largest == "none" {
        largest.clear();
    } else if let Err(e) = qemu_harness::machine::parse_size(&largest) {
        usage_error(&format!("--largest: {e}"));
    }
    let mut configs = default_configs(&largest);
    for c in extra {
        if configs.iter().any(|d| d.name == c.name) {
            usage_error(&format!(
                "--config: a configuration named '{}' exists",
                c.name
            ));
        }
        configs.push(c);
    }
    if let Some(only) = &only {
        for n in only {
            if !configs.iter().any(|c| &c.name == n) {
                usage_error(&format!(
                    "--only: no configuration named '{n}' (see --list)"
                ));
            }
        }
        configs.retain(|c| only.contains(&c.name));
    }
    if list {
        for c in &configs {
            println!("{:<10} {}", c.name, c.options);
        }
        exit(0);
    }
    if let Some(l) = &linux
        && !l.is_file()
    {
        usage_error(&format!("--linux: {} is not a file", l.display()));
    }
    let kernel = given_or_built_kernel(kernel).unwrap_or_else(|(code, e)| {
        eprintln!("qemu/bench: {e}");
        exit(code)
    });
    let log_dir = root.join("target/qemu/bench");
    let plan = Plan {
        configs,
        runs,
        slof_runs,
        kernel: &kernel,
        linux: linux.as_deref(),
        log_dir: log_dir.clone(),
        icount,
    };
    let date = first_line("date", &["-u", "+%Y-%m-%d %H:%M UTC"]);
    let qemu = first_line(&qemu_harness::qemu_binary(), &["--version"]);
    let host = host();
    eprintln!(
        "qemu/bench: {host}; {qemu}; {runs} runs per configuration; logs in {}",
        log_dir.display()
    );
    let results = run(&plan, &mut |line| eprintln!("{line}"));
    // The banner of this run's own kernel boots.
    let banner = results
        .iter()
        .flat_map(|r| &r.kernel)
        .map(|k| k.banner.clone())
        .find(|b| !b.is_empty())
        .unwrap_or_else(|| "?".into());
    println!("qemu/bench, {date}: {host}; {qemu}");
    println!("kernel: {banner}");
    if let Some(l) = &linux {
        println!("linux: {}", l.display());
    }
    println!();
    print!("{}", report(&results, linux.is_some()));
    let about = json!({
        "date": date,
        "host": host,
        "qemu": qemu,
        "kernel": banner,
        "linux": linux.as_ref().map(|l| l.display().to_string()),
        "runs": runs,
        "slof_runs": slof_runs,
    });
    let doc = report_json(&results, about);
    if let Some(dir) = json_path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    match std::fs::write(
        &json_path,
        serde_json::to_string_pretty(&doc).unwrap() + "\n",
    ) {
        Ok(()) => eprintln!("qemu/bench: results in {}", json_path.display()),
        Err(e) => {
            eprintln!("qemu/bench: {}: {e}", json_path.display());
            exit(1)
        }
    }
    let measured = results
        .iter()
        .filter(|r| r.failures.is_empty() && !r.kernel.is_empty())
        .count();
    // qemu/test counts this line.
    println!(
        "qemu/bench: {measured} of {} configurations measured",
        results.len()
    );
    exit(if measured == results.len() { 0 } else { 1 })
}
