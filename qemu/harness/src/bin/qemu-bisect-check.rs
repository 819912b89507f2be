//! `qemu/bisect-check`: build the tree under test, boot it, judge it; exit 0 good, 1 bad,
//! 125 cannot test, 128 unusable options (as `git bisect run` reads them).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio, exit};

use qemu_harness::check::{Status, judge, load_all};
use qemu_harness::cli::parse_run_args_with;
use qemu_harness::machine::shell_quote;

const USAGE: &str = "\
usage: qemu/bisect-check [options] [--expect FILE]... [-- extra qemu args]

Build the tree in the current directory (the commit `git bisect` checked out) with its
own qemu/build, boot it under qemu-system-ppc64 -M pseries and judge the boot. Prints
one line; the console log, with every expectation's result, is kept in a file whose
path that line gives.

Takes qemu/run's machine options (--vof, --fdt, -m, --no-16m, --cpu, --numa, --smp,
--maxmem, --dimm, --reserve-off, --append, --initrd, --timeout, --kernel, --log; see
qemu/run --help) and:
  --expect FILE   judge the boot by this expectation file (repeatable; format in the
                  README). Without one, or when none states `exit`, the kernel must
                  report success.
  --tree DIR      build and test DIR instead of the current directory's git tree
  -v, --verbose   stream the build and the console, and list every expectation
  -h, --help      this text

exit status (git bisect run's convention):
  0    good: the kernel reported success and every expectation was met
  1    bad: the kernel reported failure, crashed, hung (timeout) or was refused
       by QEMU, or an expectation was not met
  125  cannot test this commit: the build failed, QEMU is missing or failed before
       the kernel ran, an expectation file inside the tested tree is missing at
       this commit, or the harness could not do its part
  128  unusable options, a missing expectation file outside the tested tree, or a
       malformed one: git bisect run stops, since no commit could be tested
";

const GOOD: i32 = 0;
const BAD: i32 = 1;
const SKIP: i32 = 125;
const ABORT: i32 = 128;

fn main() {
    let mut expect = Vec::new();
    let mut tree = None;
    let mut verbose = false;
    let parsed = parse_run_args_with(std::env::args().skip(1), &mut |opt, rest| {
        match opt {
            "--expect" => expect.push(PathBuf::from(rest.next().ok_or("--expect needs a file")?)),
            "--tree" => {
                tree = Some(PathBuf::from(
                    rest.next().ok_or("--tree needs a directory")?,
                ))
            }
            "-v" | "--verbose" => verbose = true,
            _ => return Ok(false),
        }
        Ok(true)
    });
    let args = match parsed {
        Ok(a) => a,
        Err(e) => {
            eprintln!("bisect-check: {e}");
            exit(ABORT);
        }
    };
    if args.help {
        print!("{USAGE}");
        exit(0);
    }
    if args.machine.gdb {
        eprintln!("bisect-check: --gdb waits for a debugger; use qemu/run for that");
        exit(ABORT);
    }
    let tree = match tree {
        Some(t) => t,
        None => match git(Path::new("."), &["rev-parse", "--show-toplevel"]) {
            Some(t) => PathBuf::from(t),
            None => PathBuf::from("."),
        },
    };
    // Absolute, since the build runs from inside it.
    let tree = std::path::absolute(&tree).unwrap_or(tree);
    // A panic in the harness is the harness's trouble, not the commit's: skip it (Rust
    // would exit 101, which git bisect run counts as bad).
    std::panic::set_hook(Box::new(|info| {
        println!("bisect-check: skip: the harness panicked: {info}");
        exit(SKIP);
    }));
    let commit = describe(&tree);
    if commit.ends_with("-dirty") {
        eprintln!(
            "bisect-check: warning: {} has uncommitted changes; they are built and tested \
             with this commit",
            tree.display()
        );
    }
    let say = |class: &str, code: i32, what: &str| -> ! {
        println!("bisect-check: {class}: {commit}: {what}");
        exit(code)
    };
    // Expectation files: one missing inside the tested tree may be missing at this
    // commit only (skip it); one missing outside it, or one that does not parse, is the
    // caller's mistake (stop the bisection).
    for f in &expect {
        if !f.is_file() {
            if std::path::absolute(f).is_ok_and(|a| a.starts_with(&tree)) {
                let what = format!("no expectation file {} at this commit", f.display());
                say("skip", SKIP, &what);
            }
            eprintln!("bisect-check: no expectation file {}", f.display());
            exit(ABORT);
        }
    }
    let files = match load_all(&expect) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("bisect-check: {e}");
            exit(ABORT);
        }
    };
    let log = args.log.clone().unwrap_or_else(|| {
        tree.join("target/qemu/bisect-check")
            .join(format!("{commit}.log"))
    });
    let kernel = match &args.kernel {
        Some(k) if k.is_file() => k.clone(),
        Some(k) => say("skip", SKIP, &format!("no kernel at {}", k.display())),
        None => match build(&tree, &log.with_extension("build.log"), verbose) {
            Ok(k) => k,
            Err(e) => say("skip", SKIP, &e),
        },
    };
    if verbose {
        let cmd = qemu_harness::boot::command_line(&args.machine, &kernel);
        eprintln!("bisect-check: {}", shell_quote(&cmd));
    }
    let j = judge(&args.machine, &kernel, args.timeout, &files, &log, verbose);
    if verbose {
        for c in &j.checks {
            eprintln!("bisect-check: {c}");
        }
    }
    let time = j.outcome.as_ref().map_or(String::new(), |o| {
        format!(" in {:.2} s", o.duration.as_secs_f64())
    });
    let line = format!("{}{time}; log: {}", j.summary(), log.display());
    match j.status {
        Status::Pass => say("good", GOOD, &line),
        Status::Fail => say("bad", BAD, &line),
        Status::Error => say("skip", SKIP, &line),
    }
}

/// `git -C dir args...`'s first line of output, if it succeeds.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let s = String::from_utf8_lossy(&out.stdout);
    (out.status.success()).then(|| s.lines().next().unwrap_or("").trim().to_string())
}

/// The commit under test, `-dirty` when tracked files differ from it.
fn describe(tree: &Path) -> String {
    match git(tree, &["rev-parse", "--short=12", "HEAD"]) {
        Some(c) => {
            let clean = Command::new("git")
                .arg("-C")
                .arg(tree)
                .args(["diff", "--quiet", "HEAD", "--"])
                .stdin(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if clean { c } else { format!("{c}-dirty") }
        }
        None => "(no git commit)".into(),
    }
}

/// Build the tree's kernel with its own `qemu/build` (its output into `build_log`, and to
/// the terminal too when verbose); returns the ELF it names last.
fn build(tree: &Path, build_log: &Path, verbose: bool) -> Result<PathBuf, String> {
    let script = tree.join("qemu/build");
    if !script.is_file() {
        return Err(format!("no qemu/build in {}", tree.display()));
    }
    if let Some(dir) = build_log.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let mut child = Command::new(&script)
        .current_dir(tree)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    // cargo's output goes to the build log as it comes (and to the terminal with -v).
    let mut log =
        std::fs::File::create(build_log).map_err(|e| format!("{}: {e}", build_log.display()))?;
    let stderr = child.stderr.take().expect("piped");
    let copier = std::thread::spawn(move || {
        use std::io::{BufRead, Write};
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if verbose {
                eprintln!("{line}");
            }
            let _ = writeln!(log, "{line}");
        }
    });
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().expect("piped"), &mut stdout)
        .map_err(|e| format!("reading qemu/build's output: {e}"))?;
    let status = child
        .wait()
        .map_err(|e| format!("waiting for qemu/build: {e}"))?;
    let _ = copier.join();
    if !status.success() {
        return Err(format!(
            "the build failed ({status}); log: {}",
            build_log.display()
        ));
    }
    let elf = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(|l| PathBuf::from(l.trim()))
        .ok_or_else(|| format!("qemu/build named no kernel; log: {}", build_log.display()))?;
    if !elf.is_file() {
        return Err(format!(
            "qemu/build named {} which does not exist",
            elf.display()
        ));
    }
    Ok(elf)
}
