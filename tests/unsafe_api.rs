//! The library's `unsafe` entry points on the host, written for Miri (`qemu/miri`), which
//! checks every access they make; plain `cargo test` runs them too.
//!
//! - `Fdt::from_ptr` (what the kernel calls on the firmware's r3): every blob is copied
//!   into an allocation of exactly the size the function's safety contract asks the caller
//!   to make readable, so a read past it is an out-of-bounds access Miri reports (plain
//!   `cargo test` cannot see it). Hand-made edge cases, then every input of the fdt fuzz
//!   corpus (`fuzz/corpus/fdt`, read from disk: Miri needs `-Zmiri-disable-isolation`).
//! - `printk::emergency_unlock` (the exception and panic paths): a record interrupted
//!   while it holds the log lock, the interrupting context unlocking and printing.
//!
//! Host-only: it needs no kernel and boots nothing.

use std::panic;
use std::path::{Path, PathBuf};
use std::sync::Mutex as StdMutex;
use std::sync::atomic::{AtomicBool, Ordering};

use sparsek::fdt::{FDT_MAGIC, Fdt, FdtErrorKind, HEADER_SIZE, Writer};
use sparsek::printk::{self, Console};

/// Run `from_ptr(_, max_len)` on a copy of `data` in an allocation of exactly the bytes
/// its contract requires: min(max_len, max(HEADER_SIZE, totalsize)). Checks that the tree
/// it gives covers exactly min(totalsize, max_len) bytes and that it answers as
/// `Fdt::new` on those bytes does; with `walk`, also walks the tree (reads through the
/// slice from_ptr made, which Miri checked against the allocation when it was created,
/// so only worth it on a few blobs). Returns false when `data` is too short for the case.
fn check_from_ptr(data: &[u8], max_len: usize, walk: bool) -> bool {
    let totalsize = match data.get(4..8) {
        Some(b) => u32::from_be_bytes(b.try_into().unwrap()) as usize,
        None => 0,
    };
    let readable = max_len.min(HEADER_SIZE.max(totalsize));
    if readable > data.len() {
        return false;
    }
    // Exactly `readable` bytes: Box<[u8]> never over-allocates (zero bytes: a dangling,
    // non-null pointer, valid for reads of zero bytes).
    let buf: Box<[u8]> = data[..readable].into();
    // SAFETY: `buf` holds the `readable` bytes the contract asks for and outlives `fdt`.
    let got = unsafe { Fdt::from_ptr(buf.as_ptr(), max_len) };
    let magic = data
        .get(..4)
        .map(|b| u32::from_be_bytes(b.try_into().unwrap()));
    match got {
        Err(e) if readable < HEADER_SIZE => assert_eq!(e.kind, FdtErrorKind::Truncated),
        Ok(_) if readable < HEADER_SIZE => panic!("{readable}-byte header accepted"),
        Err(e) if magic != Some(FDT_MAGIC) => {
            assert_eq!(e.kind, FdtErrorKind::BadMagic(magic.unwrap()));
        }
        got => {
            let want = &data[..totalsize.min(max_len)];
            match (got, Fdt::new(want)) {
                (Ok(fdt), Ok(_)) => {
                    assert_eq!(fdt.as_bytes(), want);
                    assert!(std::ptr::eq(fdt.as_bytes().as_ptr(), buf.as_ptr()));
                    if walk {
                        let _ = fdt.validate();
                        let _ = fdt.reservations().take(64).count();
                        let _ = fdt.find_node("/chosen");
                    }
                }
                (Err(a), Err(b)) => assert_eq!(a, b),
                (a, b) => panic!(
                    "from_ptr (max_len {max_len}): {:?}, new: {:?}",
                    a.err(),
                    b.err()
                ),
            }
        }
    }
    true
}

/// The caps worth trying on a blob: around the header, around its totalsize, its length,
/// and no cap at all (the kernel passes a large constant).
fn caps(data: &[u8]) -> Vec<usize> {
    let mut caps = vec![0, 1, HEADER_SIZE - 1, HEADER_SIZE, HEADER_SIZE + 1];
    if let Some(b) = data.get(4..8) {
        let total = u32::from_be_bytes(b.try_into().unwrap()) as usize;
        caps.extend([total.saturating_sub(1), total, total + 1]);
    }
    caps.extend([data.len(), usize::MAX]);
    caps
}

fn sample() -> Vec<u8> {
    let mut w = Writer::new();
    w.reservations.push((0x40_0000, 0x1_0000));
    w.begin("")
        .prop_u32s("#address-cells", &[2])
        .begin("chosen")
        .prop_str("bootargs", "quiet")
        .end()
        .begin("memory@0")
        .prop_str("device_type", "memory")
        .prop_u32s("reg", &[0, 0, 0, 0x1000_0000])
        .end()
        .end();
    w.finish().unwrap()
}

#[test]
fn from_ptr_reads_only_what_its_contract_allows() {
    let blob = sample();
    let total = blob.len();
    for max_len in caps(&blob) {
        assert!(check_from_ptr(&blob, max_len, true), "cap {max_len}");
    }
    for max_len in 0..=total + 1 {
        assert!(check_from_ptr(&blob, max_len, false), "cap {max_len}");
    }
    // Trailing bytes after the tree (a firmware region larger than totalsize).
    let mut padded = blob.clone();
    padded.resize(total + 64, 0xa5);
    for max_len in caps(&padded) {
        check_from_ptr(&padded, max_len, true);
    }
    // A totalsize that lies: smaller than the header, one short, and beyond memory.
    for lie in [0u32, 8, HEADER_SIZE as u32 - 1, total as u32 - 1, u32::MAX] {
        let mut b = blob.clone();
        b[4..8].copy_from_slice(&lie.to_be_bytes());
        for max_len in caps(&b) {
            check_from_ptr(&b, max_len, true);
        }
    }
    // Bad magic, and a blob shorter than a header.
    let mut bad = blob.clone();
    bad[0] ^= 1;
    for max_len in caps(&bad) {
        check_from_ptr(&bad, max_len, true);
    }
    for len in 0..HEADER_SIZE {
        for max_len in caps(&blob[..len]) {
            check_from_ptr(&blob[..len], max_len, false);
        }
    }
}

/// Under Miri, every hand-made seed (each header shape: empty, header-only, bad magic,
/// totalsize too small or huge, truncated, the QEMU trees) but only every
/// FUZZER_STRIDE-th of the fuzzer's own inputs (named by their SHA-1): the whole corpus
/// takes Miri about 50 s, this about 15 s. Plain `cargo test` takes them all.
const FUZZER_STRIDE: usize = if cfg!(miri) { 4 } else { 1 };

#[test]
fn from_ptr_on_the_fdt_fuzz_corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/fdt");
    // Sorted by name as a String: Path's component-wise comparison takes Miri minutes.
    let mut files: Vec<(String, PathBuf)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry"))
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .collect();
    files.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    assert!(!files.is_empty(), "{} is empty", dir.display());
    let is_fuzzers = |n: &str| n.len() == 40 && n.bytes().all(|b| b.is_ascii_hexdigit());
    let mut fuzzer_inputs = 0usize;
    files.retain(|(name, _)| {
        !is_fuzzers(name) || {
            fuzzer_inputs += 1;
            (fuzzer_inputs - 1).is_multiple_of(FUZZER_STRIDE)
        }
    });
    let mut cases = 0;
    for (_, file) in &files {
        let data = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        for max_len in caps(&data) {
            cases += check_from_ptr(&data, max_len, false) as usize;
        }
    }
    eprintln!("from_ptr: {} inputs, {cases} cases", files.len());
}

/// A console that can simulate an exception taken in the middle of a record: on the first
/// write after `interrupt` is set, the "handler" unlocks the log, prints its own record
/// and stops (a panic here; the kernel never returns to the interrupted record).
struct Interruptible {
    out: StdMutex<Vec<u8>>,
    interrupt: AtomicBool,
}

impl Console for Interruptible {
    fn write_bytes(&self, bytes: &[u8]) {
        self.out.lock().unwrap().extend_from_slice(bytes);
        if self.interrupt.swap(false, Ordering::SeqCst) {
            const PR_PREFIX: &str = "exc: ";
            // SAFETY: the interrupted printk (which holds the lock) never resumes: this
            // "handler" panics below, unwinding through it, and no other thread prints.
            unsafe { printk::emergency_unlock() };
            sparsek::pr_emerg!("Oops");
            panic!("stopping");
        }
    }
}

#[test]
fn emergency_unlock_lets_an_interrupting_context_print() {
    static CON: Interruptible = Interruptible {
        out: StdMutex::new(Vec::new()),
        interrupt: AtomicBool::new(false),
    };
    const PR_PREFIX: &str = "t: ";
    printk::set_console(&CON);
    printk::set_console_loglevel(printk::CONSOLE_LOGLEVEL_DEFAULT);
    CON.interrupt.store(true, Ordering::SeqCst);
    let hook = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let r = panic::catch_unwind(|| sparsek::pr_info!("interrupted"));
    panic::set_hook(hook);
    assert!(
        r.is_err(),
        "the simulated exception did not stop the record"
    );
    // The log is usable again afterwards.
    sparsek::pr_info!("after");
    let out = String::from_utf8(CON.out.lock().unwrap().clone()).unwrap();
    assert_eq!(
        out,
        "[    0.000000] [    0.000000] exc: Oops\r\n[    0.000000] t: after\r\n"
    );
}
