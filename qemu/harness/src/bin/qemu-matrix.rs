//! `qemu/matrix`: boot every configuration of a matrix file, judge each by its
//! expectation files, print a table and write a JSON report.

use std::path::PathBuf;
use std::process::exit;
use std::time::Instant;

use qemu_harness::check::Status;
use qemu_harness::matrix::{Matrix, report_json, run, table};
use qemu_harness::{given_or_built_kernel, repo_root};

const USAGE: &str = "\
usage: qemu/matrix [options]

Boot every configuration of a matrix file under qemu-system-ppc64 -M pseries, judge
each boot by its expectation files, print a table and write a JSON report. Formats:
README, \"The boot matrix\" and \"Boot-log expectations\".

options:
  --file FILE     the matrix (default qemu/expect/matrix.txt)
  --json FILE     write the report here (default target/qemu/matrix/report.json)
  -j, --jobs N    QEMUs at once (default 2)
  --only NAME,... run only these configurations
  --list          list the configurations and exit
  --kernel ELF    boot this ELF instead of building
  -h, --help      this text

exit status: 0 every configuration passed, 1 one failed or could not be booted,
2 bad options or a malformed matrix or expectation file, 3 build failure.
";

fn usage_error(e: &str) -> ! {
    eprintln!("qemu/matrix: {e}");
    exit(2)
}

fn main() {
    let root = repo_root();
    let mut file = root.join("qemu/expect/matrix.txt");
    let mut json = root.join("target/qemu/matrix/report.json");
    let mut jobs = 2usize;
    let mut only: Option<Vec<String>> = None;
    let mut list = false;
    let mut kernel = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| usage_error(&format!("{a} needs a value")))
        };
        match a.as_str() {
            "--file" => file = PathBuf::from(value()),
            "--json" => json = PathBuf::from(value()),
            "-j" | "--jobs" => {
                let v = value();
                jobs = v
                    .parse()
                    .ok()
                    .filter(|&n| n >= 1)
                    .unwrap_or_else(|| usage_error(&format!("--jobs: bad count '{v}'")));
            }
            "--only" => only = Some(value().split(',').map(String::from).collect()),
            "--list" => list = true,
            "--kernel" => kernel = Some(PathBuf::from(value())),
            "-h" | "--help" => {
                print!("{USAGE}");
                exit(0);
            }
            other => usage_error(&format!("unknown option '{other}' (see --help)")),
        }
    }
    // Shown relative to the current directory when it is under it (tables stay narrow).
    if let Ok(cwd) = std::env::current_dir()
        && let Ok(rel) = file.strip_prefix(&cwd)
    {
        file = rel.to_path_buf();
    }
    let matrix = Matrix::load(&file).unwrap_or_else(|e| usage_error(&e.to_string()));
    let configs: Vec<_> = match &only {
        None => matrix.configs.iter().collect(),
        Some(names) => {
            if let Some(n) = names
                .iter()
                .find(|n| !matrix.configs.iter().any(|c| &c.name == *n))
            {
                usage_error(&format!(
                    "--only: no configuration '{n}' in {}",
                    matrix.file
                ));
            }
            matrix
                .configs
                .iter()
                .filter(|c| names.contains(&c.name))
                .collect()
        }
    };
    if list {
        for c in &configs {
            println!(
                "{:<24} {} | {}",
                c.name,
                c.options.join(" "),
                c.expect_names.join(" ")
            );
        }
        exit(0);
    }
    let kernel = given_or_built_kernel(kernel).unwrap_or_else(|(code, e)| {
        eprintln!("qemu/matrix: {e}");
        exit(code)
    });
    let out_dir = root.join("target/qemu/matrix");
    eprintln!(
        "qemu/matrix: {} configurations from {}, {jobs} at a time; logs in {}",
        configs.len(),
        matrix.file,
        out_dir.display()
    );
    let start = Instant::now();
    let results = run(&configs, &kernel, jobs, &out_dir, &|l| eprintln!("{l}"));
    let wall = start.elapsed();
    print!("{}", table(&configs, &results));
    let report = report_json(&matrix, &configs, &results, &kernel, jobs, wall);
    let written = json
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|_| {
            std::fs::write(
                &json,
                serde_json::to_string_pretty(&report).expect("JSON") + "\n",
            )
        });
    if let Err(e) = written {
        eprintln!("qemu/matrix: {}: {e}", json.display());
        exit(1);
    }
    let pass = results
        .iter()
        .filter(|r| r.judged.status == Status::Pass)
        .count();
    println!(
        "qemu/matrix: {pass} of {} configurations passed in {:.1} s; report: {}",
        results.len(),
        wall.as_secs_f64(),
        json.display()
    );
    exit(if pass == results.len() { 0 } else { 1 });
}
