//! `qemu/bisect-check`'s exit statuses (0 good, 1 bad, 125 cannot test, 128 unusable
//! options), each produced for real, and `git bisect run` driving it over a throwaway
//! history that breaks the default ordering.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use qemu_harness::{repo_root, test_kernel};

const GOOD: i32 = 0;
const BAD: i32 = 1;
const SKIP: i32 = 125;
const ABORT: i32 = 128;

fn scratch(name: &str) -> PathBuf {
    let d = repo_root().join("target/qemu/tests/bisect").join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn bisect_check(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_qemu-bisect-check"));
    c.current_dir(repo_root()).args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("qemu-bisect-check starts")
}

/// Run with the test kernel (no build) and a log under the test's scratch directory.
fn with_kernel(name: &str, args: &[&str]) -> (Output, PathBuf) {
    let log = scratch(name).join("boot.log");
    let k = test_kernel().display().to_string();
    let l = log.display().to_string();
    let mut all = vec!["--kernel", &k, "--log", &l];
    all.extend_from_slice(args);
    (bisect_check(&all, &[]), log)
}

fn show(o: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The one line bisect-check prints.
fn line(o: &Output) -> String {
    let s = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(s.lines().count(), 1, "want one line: {}", show(o));
    s.trim_end().to_string()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

#[test]
fn good_is_0_with_one_line_and_the_log_kept() {
    let (o, log) = with_kernel("good", &["--vof"]);
    assert_eq!(o.status.code(), Some(GOOD), "{}", show(&o));
    let l = line(&o);
    assert!(l.starts_with("bisect-check: good: "), "{l}");
    assert!(l.contains("success (reboot: Power down)"), "{l}");
    assert!(l.ends_with(&format!("log: {}", log.display())), "{l}");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("reboot: Power down"));
    assert!(text.contains("# status: pass"), "{text}");
    // Quiet: nothing of the console on the terminal.
    assert!(!String::from_utf8_lossy(&o.stderr).contains("sparse_init:"));
}

#[test]
fn good_with_expectations_met() {
    let dir = scratch("good-expect");
    let f = write(
        &dir,
        "ok.expect",
        "exit success\nappear /^sparse_init: order=v4\\.19 /\nktap all-ok\n",
    );
    let (o, _) = with_kernel("good-expect-run", &["--vof", "--expect", &f]);
    assert_eq!(o.status.code(), Some(GOOD), "{}", show(&o));
    assert!(line(&o).contains("3 expectations met"), "{}", show(&o));
}

#[test]
fn kernel_failure_is_1() {
    let (o, _) = with_kernel(
        "bad-kernel",
        &["--vof", "--append", "sparse_init=mmotm-2018-07-10"],
    );
    assert_eq!(o.status.code(), Some(BAD), "{}", show(&o));
    let l = line(&o);
    assert!(l.starts_with("bisect-check: bad: "), "{l}");
    assert!(
        l.contains("kernel failure (Kernel panic - not syncing: "),
        "{l}"
    );
}

#[test]
fn failed_expectation_on_a_good_boot_is_1_naming_file_and_line() {
    let dir = scratch("bad-expect");
    let f = write(
        &dir,
        "strict.expect",
        "# the default machine maps one vmemmap page\nappear /^sparse_init: /\ncount /^sparse_init: .* mappings=1 / == 2\n",
    );
    let (o, log) = with_kernel("bad-expect-run", &["--vof", "--expect", &f]);
    assert_eq!(o.status.code(), Some(BAD), "{}", show(&o));
    let l = line(&o);
    assert!(l.contains("success (reboot: Power down)"), "{l}");
    assert!(
        l.contains(&format!(
            "1 of 2 expectations failed, first {f}:3: FAILED count"
        )),
        "{l}"
    );
    let text = std::fs::read_to_string(log).unwrap();
    assert!(text.contains(&format!("# {f}:2: met appear")), "{text}");
    assert!(text.contains("# status: fail"), "{text}");
}

#[test]
fn an_expected_failure_makes_a_failing_kernel_good() {
    let dir = scratch("expected-failure");
    let f = write(
        &dir,
        "fails.expect",
        "exit failure\nktap not-ok sparse_vmemmap_mapped_once sparse_pfn_round_trip sparse_memmap_size\n",
    );
    let (o, _) = with_kernel(
        "expected-failure-run",
        &[
            "--vof",
            "--no-16m",
            "--append",
            "sparse_init=mmotm-2018-07-10",
            "--expect",
            &f,
        ],
    );
    assert_eq!(o.status.code(), Some(GOOD), "{}", show(&o));
}

#[test]
fn hang_is_1() {
    // A real hang: loaded away from its link address, head.S prints why and waits.
    let (o, _) = with_kernel(
        "hang",
        &[
            "--vof",
            "--timeout",
            "2",
            "--",
            "-M",
            "pseries,kernel-addr=0x1000000",
        ],
    );
    assert_eq!(o.status.code(), Some(BAD), "{}", show(&o));
    let l = line(&o);
    assert!(l.contains("timeout (timed out; "), "{l}");
    assert!(l.contains("loaded away from its link address"), "{l}");
}

#[test]
fn a_kernel_qemu_cannot_load_is_1() {
    let dir = scratch("not-elf");
    let k = write(&dir, "vmlinux", "not an ELF image\n");
    let log = dir.join("boot.log").display().to_string();
    let o = bisect_check(&["--vof", "--kernel", &k, "--log", &log], &[]);
    assert_eq!(o.status.code(), Some(BAD), "{}", show(&o));
    assert!(
        line(&o).contains(&format!("error loading {k}")),
        "{}",
        show(&o)
    );
}

#[test]
fn build_failure_is_125() {
    // A tree whose qemu/build fails, as a commit that does not build would.
    let tree = scratch("broken-tree");
    std::fs::create_dir_all(tree.join("qemu")).unwrap();
    let build = tree.join("qemu/build");
    std::fs::write(
        &build,
        "#!/bin/sh\necho 'error[E0425]: cannot find value' >&2\nexit 101\n",
    )
    .unwrap();
    Command::new("chmod")
        .arg("+x")
        .arg(&build)
        .status()
        .unwrap();
    let t = tree.display().to_string();
    let o = bisect_check(&["--vof", "--tree", &t], &[]);
    assert_eq!(o.status.code(), Some(SKIP), "{}", show(&o));
    let l = line(&o);
    assert!(l.starts_with("bisect-check: skip: "), "{l}");
    assert!(l.contains("the build failed"), "{l}");
    let build_log = l.rsplit("; log: ").next().unwrap();
    let text = std::fs::read_to_string(build_log).unwrap();
    assert!(text.contains("cannot find value"), "{text}");
    // The same tree named relatively (from the repository root, bisect-check's cwd).
    let rel = tree
        .strip_prefix(repo_root())
        .unwrap()
        .display()
        .to_string();
    let o = bisect_check(&["--vof", "--tree", &rel], &[]);
    assert_eq!(o.status.code(), Some(SKIP), "{}", show(&o));
    assert!(line(&o).contains("the build failed"), "{}", show(&o));
    // A tree without qemu/build (a commit from before it) cannot be tested either.
    let empty = scratch("empty-tree").display().to_string();
    let o = bisect_check(&["--vof", "--tree", &empty], &[]);
    assert_eq!(o.status.code(), Some(SKIP), "{}", show(&o));
}

#[test]
fn qemu_missing_or_failing_is_125() {
    let k = test_kernel().display().to_string();
    let log = scratch("no-qemu").join("boot.log").display().to_string();
    let o = bisect_check(
        &["--vof", "--kernel", &k, "--log", &log],
        &[("QEMU", "/nonexistent/qemu-system-ppc64")],
    );
    assert_eq!(o.status.code(), Some(SKIP), "{}", show(&o));
    assert!(
        line(&o).contains("cannot start /nonexistent/qemu-system-ppc64"),
        "{}",
        show(&o)
    );
    // QEMU refusing its command line before the kernel runs.
    let (o, _) = with_kernel("qemu-error", &["--vof", "--", "-no-such-option"]);
    assert_eq!(o.status.code(), Some(SKIP), "{}", show(&o));
    assert!(line(&o).contains("QEMU error"), "{}", show(&o));
}

#[test]
fn harness_trouble_is_125() {
    let k = test_kernel().display().to_string();
    // The log cannot be written (its directory is a file).
    let dir = scratch("harness");
    let blocker = write(&dir, "file", "");
    let log = format!("{blocker}/boot.log");
    let o = bisect_check(&["--vof", "--kernel", &k, "--log", &log], &[]);
    assert_eq!(o.status.code(), Some(SKIP), "{}", show(&o));
    // An expectation file of the tested tree missing at this commit, and a kernel that
    // is not there.
    let (o, _) = with_kernel(
        "missing-expect",
        &["--vof", "--expect", "qemu/expect/no-such.expect"],
    );
    assert_eq!(o.status.code(), Some(SKIP), "{}", show(&o));
    assert!(
        line(&o).contains("no expectation file qemu/expect/no-such.expect at this commit"),
        "{}",
        show(&o)
    );
    let o = bisect_check(&["--vof", "--kernel", "/nonexistent/vmlinux"], &[]);
    assert_eq!(o.status.code(), Some(SKIP), "{}", show(&o));
}

#[test]
fn unusable_options_are_128() {
    let o = bisect_check(&["--no-such-option"], &[]);
    assert_eq!(o.status.code(), Some(ABORT), "{}", show(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown option '--no-such-option'"));
    let o = bisect_check(&["--gdb"], &[]);
    assert_eq!(o.status.code(), Some(ABORT), "{}", show(&o));
    // An expectation file missing outside the tested tree is a mistyped path.
    let o = bisect_check(&["--expect", "/nonexistent.expect"], &[]);
    assert_eq!(o.status.code(), Some(ABORT), "{}", show(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no expectation file /nonexistent.expect"));
    // A malformed expectation file is named with its line.
    let dir = scratch("malformed");
    let f = write(&dir, "bad.expect", "appear /ok/\ncount /x/ = 3\n");
    let o = bisect_check(&["--expect", &f], &[]);
    assert_eq!(o.status.code(), Some(ABORT), "{}", show(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(&format!("{f}:2: ")), "{err}");
    let o = bisect_check(&["--help"], &[]);
    assert_eq!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stdout).contains("125"));
}

fn git(dir: &Path, args: &[&str]) -> String {
    let o = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "bisect test")
        .env("GIT_AUTHOR_EMAIL", "bisect@test")
        .env("GIT_COMMITTER_NAME", "bisect test")
        .env("GIT_COMMITTER_EMAIL", "bisect@test")
        .output()
        .expect("git runs");
    assert!(o.status.success(), "git {args:?}: {}", show(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn commit_edit(dir: &Path, file: &str, from: &str, to: &str, msg: &str) -> String {
    let p = dir.join(file);
    let text = std::fs::read_to_string(&p).unwrap();
    assert!(text.contains(from), "{file} has no {from:?}");
    std::fs::write(&p, text.replacen(from, to, 1)).unwrap();
    git(dir, &["commit", "-q", "-am", msg]);
    git(dir, &["rev-parse", "HEAD"]).trim().to_string()
}

/// A clone of this repository with four commits on top: two harmless, one that makes
/// the 2018 ordering the default (the regression), one harmless after it. `git bisect
/// run` with bisect-check must name the regression, building each commit it tests.
#[test]
fn git_bisect_run_finds_the_commit_that_breaks_the_default_ordering() {
    let tree = scratch("history").join("sparsek");
    git(&repo_root(), &["rev-parse", "HEAD"]);
    let o = Command::new("git")
        .args(["clone", "-q", "--no-hardlinks"])
        .arg(repo_root())
        .arg(&tree)
        .output()
        .unwrap();
    assert!(o.status.success(), "clone: {}", show(&o));
    // The clone starts from the committed tree; bring the kernel build's output along so
    // that each step only rebuilds this crate (the standard library is the same).
    let built = repo_root().join("target/kernel");
    if built.is_dir() {
        std::fs::create_dir_all(tree.join("target")).unwrap();
        let st = Command::new("cp")
            .args(["-a"])
            .arg(&built)
            .arg(tree.join("target/kernel"))
            .status()
            .unwrap();
        assert!(st.success());
    }
    let good = git(&tree, &["rev-parse", "HEAD"]).trim().to_string();
    commit_edit(
        &tree,
        "README.md",
        "# ",
        "# (bisect test) ",
        "harmless: README title",
    );
    commit_edit(
        &tree,
        "src/init.rs",
        "fn ",
        "// bisect test: a comment only\nfn ",
        "harmless: a comment",
    );
    let regression = commit_edit(
        &tree,
        "src/bootparam.rs",
        "sparse_order: Ok(Order::V419),",
        "sparse_order: Ok(Order::Mmotm20180710),",
        "regression: the 2018 ordering by default",
    );
    let bad = commit_edit(
        &tree,
        "README.md",
        "(bisect test) ",
        "(bisect test, later) ",
        "harmless after the regression",
    );
    git(&tree, &["bisect", "start", &bad, &good]);
    let o = Command::new("git")
        .current_dir(&tree)
        .args([
            "bisect",
            "run",
            env!("CARGO_BIN_EXE_qemu-bisect-check"),
            "--vof",
        ])
        .output()
        .expect("git bisect run");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "git bisect run: {}", show(&o));
    assert!(
        out.contains(&format!("{regression} is the first bad commit")),
        "{out}"
    );
    // Each step printed bisect-check's one line; the regression's was bad.
    let short = &regression[..12];
    assert!(
        out.lines()
            .any(|l| l.starts_with(&format!("bisect-check: bad: {short}: kernel failure"))),
        "{out}"
    );
    assert!(
        out.lines().any(|l| l.starts_with("bisect-check: good: ")),
        "{out}"
    );
    git(&tree, &["bisect", "reset"]);
}
