//! Every failure sparse init can meet, one at a time: each memblock allocation from the
//! first (`fail_memblock=N`, N = 1 to one past the last allocation of a clean run) and
//! each H_ENTER of the vmemmap (`fail_hcall=H_ENTER:N` counted from the first vmemmap
//! insert), in each ordering, on the 2G machine and on two 1G nodes (memblock), and on
//! the 2G machine with 16M and with 64K vmemmap pages (H_ENTER).
//!
//! Each boot must end in one of:
//! * clean: the injected call was never made (N past the last), the clean run's boot;
//! * degraded: what Linux does on that failure (the ordering's message, the sections
//!   it drops, the block it leaks or leaves out of `vmemmap_list` with a warning), and
//!   every self-check passing (mmotm-2018-07-10 fails the checks its clean run fails, the
//!   2018 bug, and no other);
//! * a documented stop: `memblocks_present: cannot allocate ...` (the section table),
//!   `can not allocate usemap_map|map_map (...)` (v4.18's and mmotm's temporary arrays,
//!   Linux's panic), or `sparse_init: no memory section has a memory map (...)`.
//!
//! Never a host-model panic (an access the MMU cannot translate: a kernel fault) and
//! never a `BUG()`.

use std::collections::BTreeSet;
use std::format;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::string::{String, ToString};
use std::vec::Vec;

use super::super::init::DropCause;
use super::super::section::{SECTION_MEMMAP_SIZE, SECTION_SIZE_BITS, section_nr_to_pfn};
use super::super::vmemmap::{EFAULT, ENOMEM, pfn_to_page};
use super::faults::{Faults, with_faults};
use super::*;
use crate::mm::hash::HStatus;

/// How a boot with an injected failure that happened ended (a boot whose injected call
/// was never made is the clean run's).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Outcome {
    /// sparse_init went on without what failed; the checks judged the state Linux's.
    Degraded {
        dropped: usize,
        warned: usize,
        leaked: usize,
    },
    /// The kernel stops with this panic message.
    Fatal(String),
}

impl Outcome {
    /// One short word list for the tables the tests pin.
    fn short(&self) -> String {
        match self {
            Outcome::Degraded {
                dropped,
                warned,
                leaked,
            } => format!("degraded {dropped}/{warned}/{leaked}"),
            Outcome::Fatal(m) if m.starts_with("sparse_init: no memory section") => {
                "stop: no memory map".to_string()
            }
            Outcome::Fatal(m) if m.starts_with("memblocks_present:") => {
                "stop: memblocks_present".to_string()
            }
            Outcome::Fatal(m) => format!("stop: {}", m.split(" (").next().unwrap_or(m)),
        }
    }
}

/// One boot's result.
struct Run {
    w: World,
    s: Sparse,
    report: Option<Report>,
    checks: Vec<Check>,
    outcome: Outcome,
}

/// memblocks_present and sparse_init as the kernel runs them, as one result: the panic
/// message of a failure Linux panics on (`paging_init`'s words).
fn sparse_boot<M: super::super::Machine + ?Sized>(
    ctx: &mut super::super::Ctx<'_, M>,
    s: &mut Sparse,
) -> Result<Report, String> {
    s.memblocks_present(ctx)
        .map_err(|e| format!("memblocks_present: {e}"))?;
    s.sparse_init(ctx).map_err(|e| e.to_string())
}

/// The rest of the boot: the stop after the `sparse_init:` line if no section has a
/// memory map, else struct pages and the checks.
fn conclude(mut w: World, s: Sparse, r: Result<Report, String>) -> Run {
    let report = r.as_ref().ok().copied();
    let outcome = match r {
        Err(e) => Outcome::Fatal(e),
        Ok(report) => match report.no_memory_map() {
            Some(none) => Outcome::Fatal(none.to_string()),
            None => Outcome::Degraded {
                dropped: s.dropped.len(),
                warned: s.vmemmap.list_warnings.len(),
                leaked: s
                    .vmemmap
                    .failures
                    .iter()
                    .filter(|f| f.rc == -EFAULT)
                    .count(),
            },
        },
    };
    let checks = if matches!(outcome, Outcome::Degraded { .. }) {
        w.finish(&s).1
    } else {
        Vec::new()
    };
    Run {
        w,
        s,
        report,
        checks,
        outcome,
    }
}

/// A clean boot, and the memblock allocations it made.
fn clean(l: &Layout, order: Order) -> (Run, u64) {
    let mut w = World::new(l);
    let mut s = Sparse::new(order, w.vmemmap);
    let r = w.with_ctx(|ctx| sparse_boot(ctx, &mut s));
    let calls = w.mb.alloc_calls();
    let run = conclude(w, s, r);
    assert!(run.report.is_some(), "{}: {:?}", order.name(), run.outcome);
    (run, calls)
}

/// A boot with the `nth` memblock allocation failing, and the caller of the allocation
/// that failed (from memblock's fault-injection notice), if it was made.
fn memblock_boot(l: &Layout, order: Order, nth: u64) -> (Run, Option<String>) {
    let mut w = World::new(l);
    w.capture_memblock();
    w.mb.set_debug(false);
    w.mb.inject_failure(nth).unwrap();
    let mut s = Sparse::new(order, w.vmemmap);
    let r = w.with_ctx(|ctx| sparse_boot(ctx, &mut s));
    let caller = w.memblock_lines().iter().find_map(|l| {
        let rest = l.strip_prefix("FAULT_INJECTION: forcing a failure: ")?;
        let head = rest.strip_suffix(&format!(": fault injected (fail_memblock={nth})"))?;
        Some(head.rsplit(' ').next().unwrap().to_string())
    });
    assert_eq!(caller.is_none(), w.mb.injection_pending().is_some());
    (conclude(w, s, r), caller)
}

/// A boot with the `nth` H_ENTER of sparse init failing with `status`; whether it was
/// made.
fn h_enter_boot(l: &Layout, order: Order, nth: u64, status: HStatus) -> (Run, bool) {
    let mut w = World::new(l);
    let mut f = Faults {
        enter_nth: Some((nth, status)),
        ..Faults::default()
    };
    let mut s = Sparse::new(order, w.vmemmap);
    let r = with_faults(&mut w, &mut f, |ctx| sparse_boot(ctx, &mut s));
    assert!(f.injected <= 1);
    (conclude(w, s, r), f.injected == 1)
}

/// `f(n)` for every `n` of `1..=last`, in order, spread over the host's CPUs (each boot
/// is independent; mmotm's sweeps are a few hundred boots).
fn sweep<T: Send>(last: u64, f: impl Fn(u64) -> T + Sync) -> Vec<T> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let threads = threads.clamp(1, last.max(1));
    let mut all: Vec<(u64, T)> = std::thread::scope(|sc| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let f = &f;
                sc.spawn(move || {
                    (1..=last)
                        .filter(|n| n % threads == t)
                        .map(|n| (n, f(n)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    all.sort_by_key(|p| p.0);
    all.into_iter().map(|p| p.1).collect()
}

/// Lines of any level starting with `prefix`.
fn count_starting(w: &World, prefix: &str) -> usize {
    w.starting(prefix).len()
}

/// The node run that holds `section`.
fn run_of(s: &Sparse, section: u64) -> &super::super::init::NodeRun {
    s.runs
        .iter()
        .find(|r| r.sections.contains(&section))
        .unwrap()
}

/// The checks the 2018 bug fails (the reproduction's five): mmotm-2018-07-10 may fail
/// these after a failure, the other orderings none.
const BUG_2018: [&str; 5] = [
    "sparse_sections_valid",
    "sparse_vmemmap_mapped_once",
    "sparse_usemaps",
    "sparse_pfn_round_trip",
    "sparse_memmap_size",
];

/// What every boot with a failure that happened must show: the outcome is one of the
/// documented ones, nothing hit a `BUG()`, every drop is recorded, and a degraded boot's
/// checks pass. mmotm's pass as far as its bug lets them: the checks its clean run
/// fails, and for sections dropped because a page was backed again (the bug's doing,
/// not a real failure) `sparse_sections_valid` and `sparse_usemaps`; never the others.
fn common(run: &Run, clean: &Run, what: &str) {
    assert!(run.w.m.bugs.is_empty(), "{what}: {:?}", run.w.m.bugs);
    match &run.outcome {
        Outcome::Fatal(m) => assert!(
            m.starts_with("memblocks_present: cannot allocate ")
                || m.starts_with("can not allocate usemap_map (")
                || m.starts_with("can not allocate map_map (")
                || m.starts_with("sparse_init: no memory section has a memory map ("),
            "{what}: {m}"
        ),
        Outcome::Degraded { .. } => {
            let report = run.report.unwrap();
            assert_eq!(
                report.unbacked_sections,
                run.s.dropped.len() as u64,
                "{what}"
            );
            let names: Vec<&str> = run.checks.iter().map(|c| c.name).collect();
            assert_eq!(names, CHECK_NAMES, "{what}");
            let mut allowed: BTreeSet<&str> = failed(&clean.checks).into_iter().collect();
            if run.s.order == Order::Mmotm20180710 {
                allowed.extend(BUG_2018);
                let sv = check(&run.checks, "sparse_sections_valid");
                assert!(
                    sv.ok || sv.diag.contains(" could not be backed again "),
                    "{what}: {}",
                    sv.diag
                );
            } else {
                assert!(allowed.is_empty(), "{what}");
            }
            for c in &run.checks {
                assert!(
                    c.ok || allowed.contains(c.name),
                    "{what}: {} not ok: {}",
                    c.name,
                    c.diag
                );
            }
        }
    }
    if let Some(report) = run.report {
        // The stop is exactly "no present section has a map".
        assert_eq!(
            report.no_memory_map().is_some(),
            report.sections > 0 && report.unbacked_sections == report.sections,
            "{what}"
        );
    }
}

/// v4.19 drops the failed section and the rest of its node run; the others do it
/// section by section. `first` is the section whose memory map failed.
fn assert_memmap_drops(run: &Run, order: Order, failure: usize, what: &str) {
    let s = &run.s;
    let f = s.vmemmap.failures[failure];
    let dropped: Vec<u64> = s
        .dropped
        .iter()
        .filter(|d| d.cause == DropCause::MemMap(failure))
        .map(|d| d.section)
        .collect();
    let first = dropped[0];
    // The section's own map is in (or, with pages under 16K, spans) the page that failed.
    let map = pfn_to_page(section_nr_to_pfn(first));
    assert!(
        f.page < map + SECTION_MEMMAP_SIZE && map < f.page + s.vmemmap.page_size,
        "{what}"
    );
    let run_ = run_of(s, first);
    match order {
        Order::V419 => {
            let from = run_.sections.iter().position(|&p| p == first).unwrap();
            assert_eq!(dropped, run_.sections[from..], "{what}");
            assert_eq!(
                run.w.count(
                    Level::Err,
                    &format!(
                        "sparse_init_nid: node[{}] memory map backing failed. Some memory will \
                         not be available.",
                        run_.nid
                    )
                ),
                1,
                "{what}"
            );
        }
        Order::V418 | Order::Mmotm20180710 => assert_eq!(dropped, [first], "{what}"),
    }
}

/// What a failed memblock allocation by `caller` must have led to.
fn judge_memblock(run: &Run, clean: &Run, order: Order, caller: &str, what: &str) {
    common(run, clean, what);
    let s = &run.s;
    let w = &run.w;
    let one = order != Order::Mmotm20180710;
    match caller {
        "memory_present" | "sparse_index_alloc" => {
            let Outcome::Fatal(m) = &run.outcome else {
                panic!("{what}: {:?}", run.outcome)
            };
            assert!(m.contains(caller), "{what}: {m}");
        }
        "usemap_map" | "map_map" => {
            assert!(order != Order::V419);
            assert_eq!(
                run.outcome.short(),
                format!("stop: can not allocate {caller}"),
                "{what}"
            );
        }
        "sparse_early_usemaps_alloc_pgdat_section" => {
            let usemap: Vec<u64> = s
                .dropped
                .iter()
                .filter(|d| d.cause == DropCause::Usemap)
                .map(|d| d.section)
                .collect();
            // One node run's sections, all of them.
            let r = run_of(s, usemap[0]);
            assert_eq!(usemap, r.sections, "{what}");
            let line = match order {
                Order::V419 => format!("sparse_init_nid: node[{}] usemap allocation failed", r.nid),
                _ => "sparse_early_usemaps_alloc_node: allocation failed".to_string(),
            };
            assert_eq!(count_starting(w, &line), 1, "{what}");
            if one {
                assert_eq!(usemap.len(), s.dropped.len(), "{what}");
                assert!(s.vmemmap.failures.is_empty(), "{what}");
                // The run's memory not reserved is what the Memory: line must not count.
                let lo = usemap[0] << SECTION_SIZE_BITS;
                let hi = (usemap[usemap.len() - 1] + 1) << SECTION_SIZE_BITS;
                let within = |b: u64, e: u64| e.min(hi).saturating_sub(b.max(lo));
                let memory: u64 = w.mb.memory().iter().map(|r| within(r.base, r.end())).sum();
                let reserved: u64 =
                    w.mb.reserved()
                        .iter()
                        .map(|r| within(r.base, r.end()))
                        .sum();
                assert_eq!(s.dropped_free_bytes(&w.mb), memory - reserved, "{what}");
                assert!(memory > 0, "{what}");
            }
            if usemap.len() == s.present.len() {
                assert_eq!(run.outcome.short(), "stop: no memory map", "{what}");
            }
        }
        "vmemmap_alloc_block" => {
            let enomem: Vec<usize> = (0..s.vmemmap.failures.len())
                .filter(|&i| s.vmemmap.failures[i].rc == -ENOMEM)
                .collect();
            assert!(!enomem.is_empty(), "{what}");
            if one {
                assert_eq!(s.vmemmap.failures.len(), 1, "{what}");
                assert_eq!(enomem, [0]);
                assert_memmap_drops(run, order, 0, what);
                assert_eq!(
                    s.dropped.len() as u64,
                    run.report.unwrap().unbacked_sections
                );
            }
            let line = match order {
                Order::V419 => "sparse_init_nid: node[",
                Order::V418 => "sparse_early_mem_map_alloc: sparsemem memory map backing failed",
                Order::Mmotm20180710 => "sparse_mem_maps_populate_node: sparsemem memory map",
            };
            assert_eq!(count_starting(w, line), s.vmemmap.failures.len(), "{what}");
        }
        "vmemmap_list_alloc" => {
            assert_eq!(
                count_starting(w, "WARNING: vmemmap_list_populate: no vmemmap_backing for "),
                1,
                "{what}"
            );
            assert_eq!(s.vmemmap.list_warnings.len(), 1, "{what}");
            let unrecorded: Vec<_> = s.vmemmap.blocks.iter().filter(|b| !b.recorded).collect();
            assert_eq!(unrecorded.len(), 1, "{what}");
            assert_eq!(
                (unrecorded[0].virt, unrecorded[0].phys),
                s.vmemmap.list_warnings[0]
            );
            // Reserved, and (but in mmotm, whose later failures take entries out again)
            // still mapped.
            assert!(w.mb.is_reserved(unrecorded[0].phys, s.vmemmap.page_size));
            if one {
                assert!(unrecorded[0].mapped);
                assert_eq!(
                    run.outcome,
                    Outcome::Degraded {
                        dropped: 0,
                        warned: 1,
                        leaked: 0
                    },
                    "{what}"
                );
            }
        }
        other => panic!("{what}: an allocation sparse init does not make: {other}"),
    }
}

/// The memblock sweep of one ordering on one machine: the outcome of each N.
fn memblock_sweep(l: &Layout, order: Order, machine: &str) -> Vec<String> {
    let (clean_run, calls) = clean(l, order);
    assert!(calls >= 4, "{machine}: {calls}");
    sweep(calls + 1, |nth| {
        let what = format!("{machine} {} fail_memblock={nth}", order.name());
        let got = catch_unwind(AssertUnwindSafe(|| memblock_boot(l, order, nth)));
        let (run, caller) =
            got.unwrap_or_else(|_| panic!("{what}: host-model panic (a kernel fault)"));
        match caller {
            None => {
                assert_eq!(nth, calls + 1, "{what}");
                assert_eq!(run.report, clean_run.report, "{what}");
                assert_eq!(failed(&run.checks), failed(&clean_run.checks), "{what}");
                format!("{nth} -: clean")
            }
            Some(caller) => {
                judge_memblock(&run, &clean_run, order, &caller, &what);
                format!("{nth} {caller}: {}", run.outcome.short())
            }
        }
    })
}

fn two_gig() -> Layout {
    Layout::one_node(2 * G)
}

fn two_nodes() -> Layout {
    Layout::new(&[(0, G, 0), (G, G, 1)])
}

#[test]
fn memblock_failures_2g_v419() {
    // The kernel's own sequence on QEMU's 2G machine (fail_memblock=N, nothing is
    // allocated from memblock before sparse init).
    assert_eq!(
        memblock_sweep(&two_gig(), Order::V419, "2G"),
        [
            "1 memory_present: stop: memblocks_present",
            "2 sparse_index_alloc: stop: memblocks_present",
            "3 sparse_early_usemaps_alloc_pgdat_section: stop: no memory map",
            "4 vmemmap_alloc_block: stop: no memory map",
            "5 vmemmap_list_alloc: degraded 0/1/0",
            "6 -: clean",
        ]
    );
}

#[test]
fn memblock_failures_numa_v419() {
    // Node 0's usemap or block failing drops node 0; node 1 then backs the vmemmap
    // page itself (its sections' maps are in the same 16M page).
    assert_eq!(
        memblock_sweep(&two_nodes(), Order::V419, "1G,1G"),
        [
            "1 memory_present: stop: memblocks_present",
            "2 sparse_index_alloc: stop: memblocks_present",
            "3 sparse_early_usemaps_alloc_pgdat_section: degraded 64/0/0",
            "4 vmemmap_alloc_block: degraded 64/0/0",
            "5 vmemmap_list_alloc: degraded 0/1/0",
            "6 sparse_early_usemaps_alloc_pgdat_section: degraded 64/0/0",
            "7 -: clean",
        ]
    );
}

#[test]
fn memblock_failures_2g_v418() {
    // The 32M usemap_map first; a block that cannot be allocated costs one section, the
    // next one allocates it again.
    assert_eq!(
        memblock_sweep(&two_gig(), Order::V418, "2G"),
        [
            "1 memory_present: stop: memblocks_present",
            "2 sparse_index_alloc: stop: memblocks_present",
            "3 usemap_map: stop: can not allocate usemap_map",
            "4 sparse_early_usemaps_alloc_pgdat_section: stop: no memory map",
            "5 vmemmap_alloc_block: degraded 1/0/0",
            "6 vmemmap_list_alloc: degraded 0/1/0",
            "7 -: clean",
        ]
    );
}

#[test]
fn memblock_failures_numa_v418() {
    assert_eq!(
        memblock_sweep(&two_nodes(), Order::V418, "1G,1G"),
        [
            "1 memory_present: stop: memblocks_present",
            "2 sparse_index_alloc: stop: memblocks_present",
            "3 usemap_map: stop: can not allocate usemap_map",
            "4 sparse_early_usemaps_alloc_pgdat_section: degraded 64/0/0",
            "5 sparse_early_usemaps_alloc_pgdat_section: degraded 64/0/0",
            "6 vmemmap_alloc_block: degraded 1/0/0",
            "7 vmemmap_list_alloc: degraded 0/1/0",
            "8 -: clean",
        ]
    );
}

/// mmotm-2018-07-10 allocates a block per section: its table is long. After the section
/// table, its two arrays and the usemaps, every allocation is a block (the list chunk
/// after the first) and its failure costs one section, which the memory left over then
/// gives to a section at the end: as many sections dropped as on the clean boot
/// (`dropped` = 61 on 2G: 59 mapping failures, 2 out of memory).
fn mmotm_table(table: &[String], head: &[&str], chunk: u64, dropped: usize) {
    let n = table.len();
    let mut want: Vec<String> = head.iter().map(|s| s.to_string()).collect();
    for nth in head.len() as u64 + 1..n as u64 {
        want.push(if nth == chunk {
            format!("{nth} vmemmap_list_alloc: degraded {dropped}/1/59")
        } else {
            format!("{nth} vmemmap_alloc_block: degraded {dropped}/0/59")
        });
    }
    want.push(format!("{n} -: clean"));
    assert_eq!(table, want);
}

#[test]
fn memblock_failures_2g_mmotm() {
    // Its only node's usemap failing leaves no section (mmotm clears them after
    // populating every memory map all the same).
    let table = memblock_sweep(&two_gig(), Order::Mmotm20180710, "2G");
    mmotm_table(
        &table,
        &[
            "1 memory_present: stop: memblocks_present",
            "2 sparse_index_alloc: stop: memblocks_present",
            "3 usemap_map: stop: can not allocate usemap_map",
            "4 sparse_early_usemaps_alloc_pgdat_section: stop: no memory map",
            "5 map_map: stop: can not allocate map_map",
        ],
        7,
        61,
    );
}

#[test]
fn memblock_failures_numa_mmotm() {
    let table = memblock_sweep(&two_nodes(), Order::Mmotm20180710, "1G,1G");
    mmotm_table(
        &table,
        &[
            "1 memory_present: stop: memblocks_present",
            "2 sparse_index_alloc: stop: memblocks_present",
            "3 usemap_map: stop: can not allocate usemap_map",
            "4 sparse_early_usemaps_alloc_pgdat_section: degraded 98/0/59",
            "5 sparse_early_usemaps_alloc_pgdat_section: degraded 92/0/59",
            "6 map_map: stop: can not allocate map_map",
        ],
        8,
        62,
    );
}

/// What a failed vmemmap H_ENTER must have led to.
fn judge_h_enter(run: &Run, clean: &Run, order: Order, status: HStatus, what: &str) {
    common(run, clean, what);
    let s = &run.s;
    let w = &run.w;
    let efault: Vec<usize> = (0..s.vmemmap.failures.len())
        .filter(|&i| s.vmemmap.failures[i].rc == -EFAULT)
        .collect();
    assert!(!efault.is_empty(), "{what}");
    // Each failed mapping said so; the injected one with its own code.
    let unable = "vmemmap_populate: Unable to create vmemmap mapping: ";
    assert_eq!(count_starting(w, unable), efault.len(), "{what}");
    let rc = if status == HStatus::PtegFull { -1 } else { -2 };
    assert!(
        w.count(Level::Warning, &format!("{unable}{rc}")) >= 1,
        "{what}"
    );
    if status != HStatus::PtegFull {
        assert_eq!(
            w.lines(Level::Err)
                .iter()
                .filter(|l| l.starts_with("Failed hash pte insert with error "))
                .count(),
            1,
            "{what}"
        );
    }
    if order != Order::Mmotm20180710 {
        assert_eq!(
            w.count(Level::Warning, &format!("{unable}{rc}")),
            1,
            "{what}"
        );
        assert_eq!(efault.len(), 1, "{what}");
        assert_eq!(s.vmemmap.failures.len(), 1, "{what}");
        assert_memmap_drops(run, order, 0, what);
        // The failed block: allocated, recorded, reserved, not mapped.
        let b = s.vmemmap.blocks[s.vmemmap.failures[0].block];
        assert!(b.recorded && !b.mapped, "{what}");
        assert!(w.mb.is_reserved(b.phys, s.vmemmap.page_size));
    }
}

/// The H_ENTER sweep of one ordering: the outcome of each N.
fn h_enter_sweep(l: &Layout, order: Order, status: HStatus, machine: &str) -> Vec<String> {
    let (clean_run, _) = clean(l, order);
    let inserts = clean_run.s.vmemmap.mappings + clean_run.s.vmemmap.map_failures;
    sweep(inserts + 1, |nth| {
        let what = format!(
            "{machine} {} fail_hcall=H_ENTER:{nth}:{status}",
            order.name()
        );
        let got = catch_unwind(AssertUnwindSafe(|| h_enter_boot(l, order, nth, status)));
        let (run, fired) =
            got.unwrap_or_else(|_| panic!("{what}: host-model panic (a kernel fault)"));
        if fired {
            judge_h_enter(&run, &clean_run, order, status, &what);
            format!("{nth}: {}", run.outcome.short())
        } else {
            assert_eq!(nth, inserts + 1, "{what}");
            assert_eq!(run.report, clean_run.report, "{what}");
            format!("{nth}: clean")
        }
    })
}

#[test]
fn h_enter_failures_2g_16m() {
    for status in [HStatus::Hardware, HStatus::PtegFull] {
        // One vmemmap page: v4.19 loses the only node; v4.18 only section 0, whose
        // successor backs the page again.
        assert_eq!(
            h_enter_sweep(&two_gig(), Order::V419, status, "2G"),
            ["1: stop: no memory map", "2: clean"]
        );
        assert_eq!(
            h_enter_sweep(&two_gig(), Order::V418, status, "2G"),
            ["1: degraded 1/0/1", "2: clean"]
        );
    }
    // mmotm's 126 inserts (59 of which fail by themselves), with QEMU's default status
    // (each of its boots costs a hundred times more).
    let t = h_enter_sweep(&two_gig(), Order::Mmotm20180710, HStatus::Hardware, "2G");
    assert_eq!(t.len(), 127);
    assert_eq!(t[126], "127: clean");
}

#[test]
fn h_enter_failures_2g_64k() {
    let l = two_gig().vmemmap_64k();
    for status in [HStatus::Hardware, HStatus::PtegFull] {
        // 32 pages of four sections: v4.19 drops from the failed page's first section to
        // the end; v4.18 the four sections of that page, each trying (and leaking) once.
        let t = h_enter_sweep(&l, Order::V419, status, "2G/64K");
        assert_eq!(t.len(), 33);
        assert_eq!(t[0], "1: stop: no memory map");
        for (k, row) in t[1..32].iter().enumerate() {
            let nth = k + 2;
            assert_eq!(*row, format!("{nth}: degraded {}/0/1", 128 - 4 * (nth - 1)));
        }
        assert_eq!(t[32], "33: clean");
        let t = h_enter_sweep(&l, Order::V418, status, "2G/64K");
        assert_eq!(t.len(), 33);
        assert!(
            t[..32].iter().all(|r| r.ends_with(": degraded 1/0/1")),
            "{t:?}"
        );
        assert_eq!(t[32], "33: clean");
    }
    let t = h_enter_sweep(&l, Order::Mmotm20180710, HStatus::Hardware, "2G/64K");
    assert_eq!(t.len(), 129);
    assert_eq!(t[128], "129: clean");
}

#[test]
fn h_enter_failures_512m_4k() {
    // 4K vmemmap pages (a tree that offers nothing larger): each section's 16 KiB map is
    // four pages, and a section whose map fails part of the way keeps the pages mapped
    // before the failure, as Linux does (checked as mapped once).
    let mut l = Layout::one_node(512 * M).only_64k();
    l.vmemmap = Psize::P4K;
    let t = h_enter_sweep(&l, Order::V419, HStatus::Hardware, "512M/4K");
    assert_eq!(t.len(), 129);
    for (k, row) in t[..128].iter().enumerate() {
        let nth = k + 1;
        let section = k / 4;
        if section == 0 {
            assert_eq!(*row, format!("{nth}: stop: no memory map"));
        } else {
            assert_eq!(*row, format!("{nth}: degraded {}/0/1", 32 - section));
        }
    }
    assert_eq!(t[128], "129: clean");
    // The sixth insert: section 1's second page. Its first stays mapped.
    let (run, _) = h_enter_boot(&l, Order::V419, 6, HStatus::Hardware);
    assert_eq!(
        check(&run.checks, "sparse_memmap_size").diag,
        "memmap 24 KiB in 6 blocks; 1 sections x 16 KiB = 16 KiB rounded up to 4 vmemmap pages \
         of 4K, plus 1 pages mapped for dropped sections before their failure, plus 1 blocks \
         whose mapping failed = 24 KiB; degraded: 31 of 32 present sections dropped (31 after \
         memory map failures), 1 blocks left unmapped after failed mappings"
    );
    let t = h_enter_sweep(&l, Order::V418, HStatus::Hardware, "512M/4K");
    assert_eq!(t.len(), 129);
    assert!(
        t[..128].iter().all(|r| r.ends_with(": degraded 1/0/1")),
        "{t:?}"
    );
    // With 4K pages no two sections share a page: mmotm's ordering does no harm.
    let (clean_run, _) = clean(&l, Order::Mmotm20180710);
    assert_all_ok(&clean_run.checks, "mmotm, 4K");
    let t = h_enter_sweep(&l, Order::Mmotm20180710, HStatus::Hardware, "512M/4K");
    assert!(
        t[..128].iter().all(|r| r.ends_with(": degraded 1/0/1")),
        "{t:?}"
    );
}
