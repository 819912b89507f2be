//! Replay the committed corpus (`fuzz/corpus/<target>/*`) through the targets' functions,
//! without libFuzzer or sanitizers: every input the fuzzers kept must still pass.
//!
//! `fuzz/known/<target>/*` holds inputs that still fail, one per known bug (listed at
//! [`known_bugs_are_fixed`]); that test is ignored until they are fixed, and then each
//! file moves into the corpus.

use std::panic;
use std::path::{Path, PathBuf};

type Target = fn(&[u8]);

const TARGETS: &[(&str, Target)] = &[
    ("fdt", sparsek_fuzz::fdt),
    ("memblock", sparsek_fuzz::memblock),
    ("cmdline", sparsek_fuzz::cmdline),
];

fn dir(kind: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(kind)
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Run every file; fail naming each one that panics.
fn run_all(target: &str, files: &[PathBuf], run: Target) {
    let mut failed = Vec::new();
    for file in files {
        let data = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        if panic::catch_unwind(|| run(&data)).is_err() {
            failed.push(file.display().to_string());
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} {target} inputs panic:\n  {}",
        failed.len(),
        files.len(),
        failed.join("\n  ")
    );
    eprintln!("{target}: {} inputs replayed", files.len());
}

/// Run every file of `target`'s committed corpus.
fn replay(target: &str, run: Target) {
    let files = files_in(&dir("corpus").join(target));
    assert!(!files.is_empty(), "fuzz/corpus/{target} is empty");
    run_all(target, &files, run);
}

#[test]
fn fdt_corpus() {
    replay("fdt", sparsek_fuzz::fdt);
}

#[test]
fn memblock_corpus() {
    replay("memblock", sparsek_fuzz::memblock);
}

#[test]
fn cmdline_corpus() {
    replay("cmdline", sparsek_fuzz::cmdline);
}

/// Every corpus directory belongs to a target, so none is silently left out.
#[test]
fn every_corpus_directory_is_replayed() {
    let root = dir("corpus");
    for entry in std::fs::read_dir(&root).expect("fuzz/corpus") {
        let name = entry.expect("corpus entry").file_name();
        let name = name.to_string_lossy();
        assert!(
            TARGETS.iter().any(|(t, _)| *t == name),
            "fuzz/corpus/{name} has no target"
        );
    }
    for (t, _) in TARGETS {
        assert!(root.join(t).is_dir(), "fuzz/corpus/{t} is missing");
    }
}

/// Known bugs, each with an input in `fuzz/known/<target>/` that still fails:
///
/// - `fdt/leading-nop`: a structure block that starts with FDT_NOP before the root's
///   FDT_BEGIN_NODE. `Fdt::new` accepts it (its root check goes through `token`, which
///   skips NOPs) and so does `validate`, but `Fdt::root` takes the root's BEGIN_NODE to
///   be the first word of the block, so the root's body points into that token and
///   every walk from the root fails with `BadToken(0)`: memory discovery rejects a tree
///   the reader validated. (dtc refuses such a blob; libfdt skips the NOP.)
///
/// Run with `cargo test --manifest-path fuzz/Cargo.toml -- --ignored`. Once it passes,
/// move the files into `fuzz/corpus/<target>/` and drop the `ignore`.
#[test]
#[ignore = "fuzz/known/ holds inputs of bugs not fixed yet"]
fn known_bugs_are_fixed() {
    for (target, run) in TARGETS {
        let d = dir("known").join(target);
        if d.is_dir() {
            run_all(target, &files_in(&d), *run);
        }
    }
}
