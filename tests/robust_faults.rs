//! Fault injection, every parameter with its expected outcome: `fail_memblock=N` at every
//! allocation of a boot (2G VOF, two NUMA nodes, v4.18; the first ones of
//! mmotm-2018-07-10), `fail_hcall=` at each place H_ENTER, H_REMOVE and H_READ are made
//! (linear mapping, kernel stack, vmemmap, removal, self-checks), out of range and
//! malformed, `fail_of=` for every Open Firmware service the kernel calls after reading
//! its command line (VOF, and SLOF for a few), and the exceptions `selftest.fault=stack`,
//! `in-handler` and `in-panic`. Every boot must be one the oracle
//! (`qemu_harness::oracle::judge`) accepts AND have the specific outcome the test names.
//! Logs: `target/qemu/tests/faults/<name>.log` (each path is printed).

use std::time::Duration;

use qemu_harness::oracle::{self, Fault, Hcall, Scenario, Selftest};
use qemu_harness::testing::log_path;
use qemu_harness::{BootOptions, Firmware, Machine, Outcome, Verdict, check, test_kernel};

/// The 2G VOF machine (16M pages).
fn vof() -> Machine {
    Machine {
        firmware: Firmware::Vof,
        ..Machine::default()
    }
}

fn numa2() -> Machine {
    Machine {
        numa: vec![1 << 30, 1 << 30],
        ..vof()
    }
}

/// Boot `m` with the scenario's command line; the log is `faults/<name>`.
fn boot(name: &str, m: &Machine, s: &Scenario) -> (String, Outcome) {
    let name = format!("faults/{name}");
    let mut m = m.clone();
    m.append = s.append();
    let timeout = match m.firmware {
        Firmware::Slof => Duration::from_secs(120),
        _ => Duration::from_secs(60),
    };
    let opts = BootOptions {
        timeout: Some(timeout),
        log: Some(log_path(&name)),
        ..Default::default()
    };
    let o = qemu_harness::boot(&m, test_kernel(), &opts).expect("QEMU starts");
    println!("{}: {} ({})", log_path(&name).display(), s, o.reason);
    (name, o)
}

/// Boot and require the oracle's approval; returns its explanation.
fn judged(name: &str, m: &Machine, s: &Scenario) -> (String, Outcome, String) {
    let (name, o) = boot(name, m, s);
    let why = oracle::judge(s, &o);
    check!(&name, why.is_ok(), "oracle: {:?} for {s}", why);
    (name, o, why.unwrap())
}

fn msgs(o: &Outcome) -> Vec<&str> {
    o.messages().collect()
}

fn has(o: &Outcome, prefix: &str) -> bool {
    o.messages().any(|m| m.starts_with(prefix))
}

fn panic_reason(o: &Outcome) -> Option<&str> {
    o.messages()
        .find_map(|m| m.strip_prefix("Kernel panic - not syncing: "))
}

fn expect_panic(name: &str, o: &Outcome, prefix: &str) {
    check!(
        name,
        o.verdict == Verdict::KernelFailure && o.qemu_status == Some(1),
        "verdict {:?}, status {:?}",
        o.verdict,
        o.qemu_status
    );
    let p = panic_reason(o).unwrap_or("");
    check!(
        name,
        p.starts_with(prefix),
        "panic '{p}', want '{prefix}...'"
    );
}

fn expect_success(name: &str, o: &Outcome) {
    check!(
        name,
        o.verdict == Verdict::Success && o.qemu_status == Some(0),
        "verdict {:?} ({}), status {:?}",
        o.verdict,
        o.reason,
        o.qemu_status
    );
}

/// The number after `prefix` in the first message that has it.
fn number_after(o: &Outcome, prefix: &str) -> Option<u64> {
    o.messages().find_map(|m| {
        let rest = &m[m.find(prefix)? + prefix.len()..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    })
}

/// `FAULT_INJECTION: <param> not reached: K ...`: K.
fn not_reached(o: &Outcome) -> Option<u64> {
    number_after(o, " not reached: ")
}

/// The allocation a fired `fail_memblock` hit (the caller named before `: fault
/// injected`).
fn memblock_caller(o: &Outcome) -> Option<String> {
    o.messages().find_map(|m| {
        let rest = m.strip_prefix("FAULT_INJECTION: forcing a failure: ")?;
        let head = &rest[..rest.find(": fault injected")?];
        head.rsplit(' ').next().map(String::from)
    })
}

/// What `fail_memblock` must do to a boot, by the allocation it hits.
fn expect_memblock(name: &str, o: &Outcome, caller: &str, order: &str, nodes: usize) {
    match (caller, order) {
        ("memory_present" | "sparse_index_alloc", _) => {
            expect_panic(
                name,
                o,
                &format!("memblocks_present: cannot allocate {caller} ("),
            );
        }
        ("usemap_map" | "map_map", "v4.18" | "mmotm-2018-07-10") => {
            expect_panic(name, o, &format!("can not allocate {caller} ("));
        }
        ("sparse_early_usemaps_alloc_pgdat_section", "v4.19") => {
            check!(
                name,
                o.messages().any(|m| m.starts_with("sparse_init_nid: node[")
                    && m.ends_with("] usemap allocation failed")),
                "no usemap warning"
            );
            usemap_or_map_failure(name, o, nodes);
        }
        ("sparse_early_usemaps_alloc_pgdat_section", _) => {
            check!(
                name,
                has(o, "sparse_early_usemaps_alloc_node: allocation failed"),
                "no usemap warning"
            );
            usemap_or_map_failure(name, o, nodes);
        }
        ("vmemmap_alloc_block", "v4.19") => {
            check!(
                name,
                o.messages().any(|m| m.starts_with("sparse_init_nid: node[")
                    && m.ends_with(
                        "] memory map backing failed. Some memory will not be available."
                    )),
                "no backing-failed warning"
            );
            usemap_or_map_failure(name, o, nodes);
        }
        ("vmemmap_alloc_block", "v4.18") => {
            // v4.18 drops the one section.
            check!(
                name,
                has(
                    o,
                    "sparse_early_mem_map_alloc: sparsemem memory map backing failed"
                ),
                "no backing-failed warning"
            );
            expect_success(name, o);
        }
        ("vmemmap_list_alloc", "v4.19" | "v4.18") => {
            check!(
                name,
                has(o, "WARNING: vmemmap_list_populate: "),
                "no vmemmap_list_populate warning"
            );
            expect_success(name, o);
        }
        (_, "mmotm-2018-07-10") => {
            // Whatever it hits later, the 2018 failure follows.
            expect_panic(name, o, "");
        }
        (c, ord) => panic!("{name}: an allocation the test does not know: {c} ({ord})"),
    }
}

/// A node's usemap or memory map failed: with one node nothing is left (panic), with
/// more the boot goes on without that node's memory.
fn usemap_or_map_failure(name: &str, o: &Outcome, nodes: usize) {
    if nodes == 1 {
        expect_panic(name, o, "sparse_init: no memory section has a memory map (");
    } else {
        expect_success(name, o);
    }
}

/// Every memblock allocation of a boot fails in turn: 1 ..= K+1, K the allocations a
/// boot with a large N reports; `callers` is the allocations' order when known.
fn memblock_sweep(tag: &str, m: &Machine, order: &str, nodes: usize, callers: Option<&[&str]>) {
    let base = Scenario::memblock(1000).with_ordering(order);
    let (name, o, _) = judged(&format!("{tag}-memblock-count"), m, &base);
    expect_success(&name, &o);
    let count = not_reached(&o).expect("not reached: K memblock allocations");
    check!(
        &name,
        (4..=20).contains(&count),
        "{count} memblock allocations"
    );
    let mut seen = Vec::new();
    for n in 1..=count + 1 {
        let s = Scenario::memblock(n).with_ordering(order);
        let (name, o, _) = judged(&format!("{tag}-memblock-{n}"), m, &s);
        if n == count + 1 {
            expect_success(&name, &o);
            check!(
                &name,
                not_reached(&o) == Some(count),
                "not 'not reached: {count}'"
            );
            continue;
        }
        let caller = memblock_caller(&o).unwrap_or_default();
        expect_memblock(&name, &o, &caller, order, nodes);
        seen.push(caller);
    }
    if let Some(want) = callers {
        assert_eq!(seen, want, "{tag}: the allocations in order");
    }
}

#[test]
fn fail_memblock_every_allocation_2g_vof() {
    memblock_sweep(
        "vof2g",
        &vof(),
        "v4.19",
        1,
        Some(&[
            "memory_present",
            "sparse_index_alloc",
            "sparse_early_usemaps_alloc_pgdat_section",
            "vmemmap_alloc_block",
            "vmemmap_list_alloc",
        ]),
    );
}

#[test]
fn fail_memblock_every_allocation_numa2() {
    memblock_sweep("numa2", &numa2(), "v4.19", 2, None);
}

#[test]
fn fail_memblock_every_allocation_v4_18() {
    memblock_sweep(
        "v418",
        &vof(),
        "v4.18",
        1,
        Some(&[
            "memory_present",
            "sparse_index_alloc",
            "usemap_map",
            "sparse_early_usemaps_alloc_pgdat_section",
            "vmemmap_alloc_block",
            "vmemmap_list_alloc",
        ]),
    );
}

/// mmotm-2018-07-10 allocates a block per section and fails its self-checks, so no boot
/// counts its allocations: the first eight (every kind) and one never reached.
#[test]
fn fail_memblock_first_allocations_mmotm() {
    let order = "mmotm-2018-07-10";
    let mut seen = Vec::new();
    for n in 1..=8 {
        let s = Scenario::memblock(n).with_ordering(order);
        let (name, o, _) = judged(&format!("mmotm-memblock-{n}"), &vof(), &s);
        let caller = memblock_caller(&o).unwrap_or_default();
        expect_memblock(&name, &o, &caller, order, 1);
        seen.push(caller);
    }
    assert_eq!(
        seen[..5],
        [
            "memory_present",
            "sparse_index_alloc",
            "usemap_map",
            "sparse_early_usemaps_alloc_pgdat_section",
            "map_map"
        ]
    );
    assert!(
        seen[5..].iter().all(|c| c.starts_with("vmemmap_")),
        "{seen:?}"
    );
    let s = Scenario::memblock(100_000).with_ordering(order);
    let (name, o, why) = judged("mmotm-memblock-never", &vof(), &s);
    check!(&name, why.contains("the 2018 failure"), "{why}");
    check!(
        &name,
        has(&o, "FAULT_INJECTION: armed fail_memblock=100000"),
        "not armed"
    );
}

/// A normal boot's hash figures: linear-mapping pages, the stack's pages, H_ENTER calls,
/// entries the self-check reads back.
struct HashFigures {
    linear: u64,
    stack: u64,
    enters: u64,
    bolted_read: u64,
}

fn hash_figures() -> HashFigures {
    let s = Scenario::hcall(Hcall::Enter, 100_000, None);
    let (name, o, _) = judged("hcall-enter-out-of-range", &vof(), &s);
    expect_success(&name, &o);
    let f = HashFigures {
        linear: number_after(&o, "hash-mmu: linear mapping: ").unwrap(),
        stack: o
            .messages()
            .find_map(|m| {
                let r = m.strip_prefix("hash-mmu: kernel stack: ")?;
                let r = &r[r.find(" (")? + 2..];
                r.split(' ').next()?.parse().ok()
            })
            .unwrap(),
        enters: not_reached(&o).unwrap(),
        bolted_read: number_after(&o, "hash_bolted_read_back # ").unwrap(),
    };
    // The linear mapping, the stack, one vmemmap page.
    check!(
        &name,
        f.enters == f.linear + f.stack + 1,
        "{} H_ENTERs for {} + {} + 1",
        f.enters,
        f.linear,
        f.stack
    );
    f
}

#[test]
fn fail_hcall_h_enter_everywhere_it_is_made() {
    let f = hash_figures();
    // The linear mapping: its first and last page.
    for n in [1, f.linear] {
        let s = Scenario::hcall(Hcall::Enter, n, None);
        let (name, o, _) = judged(&format!("hcall-enter-linear-{n}"), &vof(), &s);
        expect_panic(&name, &o, "hash-mmu: linear mapping of [mem 0x");
        check!(
            &name,
            panic_reason(&o)
                .unwrap()
                .contains("failed: H_HARDWARE (-1)"),
            "the status is not named"
        );
    }
    // A full group in the linear mapping.
    let s = Scenario::hcall(Hcall::Enter, 2, Some("H_PTEG_FULL"));
    let (name, o, _) = judged("hcall-enter-linear-full", &vof(), &s);
    expect_panic(&name, &o, "hash-mmu: linear mapping of [mem 0x");
    check!(
        &name,
        panic_reason(&o).unwrap().contains("is full (H_PTEG_FULL)"),
        "not a full group"
    );
    // The kernel stack's pages.
    for n in f.linear + 1..=f.linear + f.stack {
        let s = Scenario::hcall(Hcall::Enter, n, None);
        let (name, o, _) = judged(&format!("hcall-enter-stack-{n}"), &vof(), &s);
        expect_panic(&name, &o, "hash-mmu: kernel stack mapping at 0x");
    }
    // The first (only) vmemmap insert, with a hypervisor error and with a full group.
    let vm = f.linear + f.stack + 1;
    for (status, line, rc) in [
        (None, Some("Failed hash pte insert with error -1"), -2),
        (Some("H_PTEG_FULL"), None, -1),
    ] {
        let s = Scenario::hcall(Hcall::Enter, vm, status);
        let tag = status.unwrap_or("H_HARDWARE");
        let (name, o, _) = judged(&format!("hcall-enter-vmemmap-{tag}"), &vof(), &s);
        let m = msgs(&o);
        check!(
            &name,
            m.contains(
                &format!("vmemmap_populate: Unable to create vmemmap mapping: {rc}").as_str()
            ),
            "no 'Unable to create vmemmap mapping: {rc}'"
        );
        check!(
            &name,
            m.iter().any(|l| l.starts_with("Failed hash pte insert")) == line.is_some(),
            "'Failed hash pte insert' (want {line:?})"
        );
        check!(
            &name,
            has(&o, "sparse_init_nid: node[0] memory map backing failed."),
            "no backing-failed warning"
        );
        expect_panic(
            &name,
            &o,
            "sparse_init: no memory section has a memory map (",
        );
    }
}

#[test]
fn fail_hcall_h_enter_out_of_range_is_not_reached() {
    // hash_figures boots H_ENTER:100000 and requires 'not reached' with the normal count.
    let f = hash_figures();
    assert!(f.enters > f.linear);
}

/// H_REMOVE is only made when an insert for a page already mapped fails: mmotm's second
/// vmemmap insert of the same page, made to fail, then its removal fails: Linux's BUG_ON.
#[test]
fn fail_hcall_h_enter_then_h_remove_is_a_bug() {
    let lin_stack = 128 + 2; // the 2G machine's linear mapping and stack (hash_figures)
    let s = Scenario::hcall(Hcall::Enter, lin_stack + 2, Some("H_PTEG_FULL"))
        .and(Fault::Hcall {
            hcall: Hcall::Remove,
            nth: 1,
            status: None,
        })
        .with_ordering("mmotm-2018-07-10");
    let (name, o, _) = judged("hcall-enter-remove-bug", &vof(), &s);
    expect_panic(
        &name,
        &o,
        "BUG: hash__vmemmap_create_mapping: H_REMOVE of ptex 0x",
    );
    check!(
        &name,
        has(&o, "htab_remove_mapping: H_REMOVE of ptex 0x"),
        "no htab_remove_mapping error line"
    );
    // H_NOT_FOUND from H_REMOVE is Linux's -ENOENT: ignored, the 2018 failure follows.
    let s = Scenario::hcall(Hcall::Enter, lin_stack + 2, Some("H_PTEG_FULL"))
        .and(Fault::Hcall {
            hcall: Hcall::Remove,
            nth: 1,
            status: Some("H_NOT_FOUND".into()),
        })
        .with_ordering("mmotm-2018-07-10");
    let (name, o, why) = judged("hcall-enter-remove-not-found", &vof(), &s);
    expect_panic(&name, &o, "");
    check!(&name, why.contains("the 2018 failure"), "{why}");
    // Without a failed insert H_REMOVE is never made.
    let s = Scenario::hcall(Hcall::Remove, 1, None);
    let (name, o, _) = judged("hcall-remove-never-made", &vof(), &s);
    expect_success(&name, &o);
    check!(&name, not_reached(&o) == Some(0), "H_REMOVE was made");
}

#[test]
fn fail_hcall_h_read_in_the_self_check_and_during_removal() {
    let f = hash_figures();
    // The hash suite's read-back: its first read.
    let s = Scenario::hcall(Hcall::Read, 1, None);
    let (name, o, _) = judged("hcall-read-self-check", &vof(), &s);
    expect_panic(&name, &o, "1 boot self-check(s) failed");
    check!(
        &name,
        o.messages()
            .any(|m| m.contains("not ok 2 hash_bolted_read_back # H_READ of ptex 0x")),
        "hash_bolted_read_back does not name the H_READ"
    );
    // The sparse suite's reads (after the hash suite's).
    let s = Scenario::hcall(Hcall::Read, f.bolted_read + 1, None);
    let (name, o, _) = judged("hcall-read-sparse-check", &vof(), &s);
    expect_panic(&name, &o, "");
    check!(
        &name,
        o.messages()
            .any(|m| m.contains("not ok 2 sparse_vmemmap_mapped_once # ")
                && m.contains("H_READ of ptex 0x")),
        "sparse_vmemmap_mapped_once does not name the H_READ"
    );
    // During htab_remove_mapping after a failed vmemmap insert: reported, skipped.
    let vm = f.linear + f.stack + 1;
    let s = Scenario::hcall(Hcall::Enter, vm, None).and(Fault::Hcall {
        hcall: Hcall::Read,
        nth: f.bolted_read + 1,
        status: None,
    });
    let (name, o, _) = judged("hcall-read-removal", &vof(), &s);
    check!(
        &name,
        has(&o, "Failed to read hash page table at "),
        "no 'Failed to read hash page table'"
    );
    expect_panic(
        &name,
        &o,
        "sparse_init: no memory section has a memory map (",
    );
}

#[test]
fn fail_hcall_malformed_is_reported_and_ignored() {
    let s = Scenario::fault(Fault::Malformed("fail_hcall=H_ENTER".into()));
    let (name, o, _) = judged("hcall-malformed", &vof(), &s);
    expect_success(&name, &o);
    check!(
        &name,
        has(
            &o,
            "Malformed kernel parameter 'fail_hcall=H_ENTER': expects <H_ENTER|H_REMOVE|H_READ>:N"
        ),
        "not reported malformed"
    );
    check!(&name, !has(&o, "FAULT_INJECTION:"), "something was armed");
}

/// What failing a service's first call after the command line does.
enum OfOutcome {
    /// Success with this warning.
    Warns(&'static str),
    /// Success, nothing printed about it (Linux ignores it).
    Silent,
    /// prom_init cannot flatten the tree.
    Flatten,
    /// The service is never called on this firmware.
    NotCalled,
}

/// Fail the `nth` call of `service` (None: the first made after the command line was
/// read, which `not armed` on call 1 tells) and check the outcome.
fn of_call(tag: &str, m: &Machine, service: &str, nth: Option<u64>, want: OfOutcome) {
    let (name, o) = match nth {
        Some(n) => {
            let (name, o, _) = judged(
                &format!("{tag}-of-{service}-{n}"),
                m,
                &Scenario::of(service, n),
            );
            (name, o)
        }
        None => {
            let probe = Scenario::of(service, 1);
            let (name, o, _) = judged(&format!("{tag}-of-{service}-1"), m, &probe);
            match number_after(&o, &format!("fail_of={service}:1 not armed: ")) {
                None => (name, o),
                Some(k) => {
                    let s = Scenario::of(service, k + 1);
                    let (name, o, _) = judged(&format!("{tag}-of-{service}-{}", k + 1), m, &s);
                    (name, o)
                }
            }
        }
    };
    let fired = has(&o, "FAULT_INJECTION: forcing a failure: OF client call ");
    match want {
        OfOutcome::Warns(w) => {
            check!(&name, fired, "did not fire");
            expect_success(&name, &o);
            check!(&name, has(&o, w), "no '{w}'");
        }
        OfOutcome::Silent => {
            check!(&name, fired, "did not fire");
            expect_success(&name, &o);
            oracle::meets_boot_ok(&o).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        OfOutcome::Flatten => {
            check!(&name, fired, "did not fire");
            expect_panic(
                &name,
                &o,
                &format!(
                    "prom_init: cannot flatten the device tree: OF client call {service} failed"
                ),
            );
        }
        OfOutcome::NotCalled => {
            expect_success(&name, &o);
            check!(&name, not_reached(&o) == Some(0), "{service} was called");
        }
    }
}

#[test]
fn fail_of_every_service_vof() {
    use OfOutcome::*;
    let cas = "prom: ibm,client-architecture-support failed: OF client call ";
    let boot_cpu = "prom: cannot tell the boot CPU, assuming 0";
    // In call order after the command line: CAS (open, call-method, close), the boot CPU
    // (/chosen's cpu, else the first child of /cpus), then the tree walk.
    for (service, nth, want) in [
        ("open", None, Warns(cas)),
        ("call-method", None, Warns(cas)),
        ("close", None, Silent),
        // /chosen and its cpu: Linux's prom_find_boot_cpu() gives up silently.
        ("finddevice", None, Silent),
        ("getprop", None, Silent),
        // VOF's /chosen has no cpu instance.
        ("instance-to-package", None, NotCalled),
        // /cpus' first child, where the CPU is looked for next.
        ("child", None, Warns(boot_cpu)),
        ("child", Some(3), Flatten),
        ("peer", None, Flatten),
        ("parent", None, Flatten),
        ("getproplen", None, Flatten),
        ("nextprop", None, Flatten),
        ("package-to-path", None, Flatten),
    ] {
        of_call("vof", &vof(), service, nth, want);
    }
}

#[test]
fn fail_of_later_calls_and_not_armed_vof() {
    // A getprop of the tree walk.
    let (name, o, _) = judged("vof-of-getprop-20", &vof(), &Scenario::of("getprop", 20));
    expect_panic(
        &name,
        &o,
        "prom_init: cannot flatten the device tree: OF client call getprop failed",
    );
    // /chosen found, its cpu property read: the second finddevice after the command line.
    let (name, o, _) = judged(
        "vof-of-finddevice-7",
        &vof(),
        &Scenario::of("finddevice", 7),
    );
    expect_success(&name, &o);
    check!(
        &name,
        has(&o, "prom: cannot tell the boot CPU, assuming 0"),
        "no boot CPU warning"
    );
    // Made before the command line was read: not armed, a normal boot.
    let (name, o, why) = judged(
        "vof-of-getprop-not-armed",
        &vof(),
        &Scenario::of("getprop", 1),
    );
    expect_success(&name, &o);
    check!(
        &name,
        has(
            &o,
            "FAULT_INJECTION: fail_of=getprop:1 not armed: 5 getprop calls were made before the command line was read"
        ),
        "not reported not armed"
    );
    check!(&name, why.contains("not armed"), "{why}");
}

#[test]
fn fail_of_on_slof() {
    let slof = Machine::default();
    let cas = "prom: ibm,client-architecture-support failed: OF client call call-method failed";
    let (name, o, _) = judged(
        "slof-of-call-method-1",
        &slof,
        &Scenario::of("call-method", 1),
    );
    expect_success(&name, &o);
    check!(&name, has(&o, cas), "no CAS warning");
    // SLOF's /chosen names the boot CPU's instance.
    let (name, o, why) = judged(
        "slof-of-instance-to-package-1",
        &slof,
        &Scenario::of("instance-to-package", 1),
    );
    expect_success(&name, &o);
    check!(&name, why.contains("ignored as Linux does"), "{why}");
    let (name, o, _) = judged("slof-of-getprop-20", &slof, &Scenario::of("getprop", 20));
    expect_panic(
        &name,
        &o,
        "prom_init: cannot flatten the device tree: OF client call getprop failed",
    );
}

fn count(o: &Outcome, needle: &str) -> usize {
    o.messages().filter(|m| m.contains(needle)).count()
}

#[test]
fn selftest_fault_stack_overflow() {
    let s = Scenario::selftest(Selftest::Stack);
    let (name, o, _) = judged("selftest-stack", &vof(), &s);
    expect_panic(&name, &o, "Kernel stack overflow");
    check!(
        &name,
        o.messages().any(
            |m| m.starts_with("BUG: kernel stack guard page was hit at 0x")
                && m.contains("(stack is 0x")
        ),
        "no guard-page line"
    );
    check!(
        &name,
        count(&o, "SRR0: ") == 1,
        "{} register dumps",
        count(&o, "SRR0: ")
    );
    check!(
        &name,
        o.messages()
            .filter(|m| m.starts_with("Kernel panic - not syncing:"))
            .count()
            == 1,
        "more than one panic"
    );
    check!(
        &name,
        count(&o, "while handling a failure") == 0,
        "a nested fault"
    );
}

/// The nested fault ends the boot at once: its line and its panic once each, at most
/// the first fault's register dump.
fn expect_one_nested_fault(name: &str, o: &Outcome) {
    check!(name, count(o, "while handling a failure") == 1, "recursion");
    check!(
        name,
        count(o, "Kernel panic - not syncing: nested fault") == 1,
        "recursion"
    );
    check!(
        name,
        count(o, "SRR0: ") <= 1,
        "{} register dumps",
        count(o, "SRR0: ")
    );
}

#[test]
fn selftest_fault_in_handler() {
    let s = Scenario::selftest(Selftest::InHandler);
    let (name, o, _) = judged("selftest-in-handler", &vof(), &s);
    expect_panic(&name, &o, "nested fault");
    check!(
        &name,
        o.messages()
            .any(|m| m.starts_with("Exception 0x700 at ")
                && m.ends_with(" while handling a failure")),
        "no nested exception line"
    );
    expect_one_nested_fault(&name, &o);
    check!(
        &name,
        o.stderr.contains("OS terminated: nested fault"),
        "no os-term"
    );
}

#[test]
fn selftest_fault_in_panic() {
    let s = Scenario::selftest(Selftest::InPanic);
    let (name, o, _) = judged("selftest-in-panic", &vof(), &s);
    expect_panic(&name, &o, "selftest.fault=in-panic requested");
    let m = msgs(&o);
    let first = m
        .iter()
        .position(|l| *l == "Kernel panic - not syncing: selftest.fault=in-panic requested");
    let nested = m
        .iter()
        .position(|l| l.ends_with(" while handling a failure"));
    check!(
        &name,
        matches!((first, nested), (Some(a), Some(b)) if a < b),
        "the nested fault does not follow the panic"
    );
    expect_one_nested_fault(&name, &o);
    check!(
        &name,
        o.qemu_status == Some(1),
        "status {:?}",
        o.qemu_status
    );
}

#[test]
fn a_normal_boot_is_judged_normal() {
    let (name, o, why) = judged("none", &vof(), &Scenario::none());
    expect_success(&name, &o);
    check!(&name, why.contains("a normal boot"), "{why}");
    // And the oracle refuses it for a scenario that must fail.
    let s = Scenario::selftest(Selftest::Stack);
    check!(
        &name,
        oracle::judge(&s, &o).is_err(),
        "a success accepted for {s}"
    );
}
