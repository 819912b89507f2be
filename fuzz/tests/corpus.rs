//! Replay the committed corpus (`fuzz/corpus/<target>/*`) through the targets' functions,
//! without libFuzzer or sanitizers: every input the fuzzers kept must still pass.

use std::panic;
use std::path::{Path, PathBuf};

type Target = fn(&[u8]);

const TARGETS: &[(&str, Target)] = &[
    ("fdt", sparsek_fuzz::fdt),
    ("memblock", sparsek_fuzz::memblock),
    ("cmdline", sparsek_fuzz::cmdline),
    ("expect", sparsek_fuzz::expect),
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

#[test]
fn expect_corpus() {
    replay("expect", sparsek_fuzz::expect);
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
