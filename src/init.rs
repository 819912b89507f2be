//! start_kernel: the boot sequence, one step per line, in the order it must happen.

use alloc::vec;
use alloc::vec::Vec;

use sparsek::bootparam::BootParams;
use sparsek::boottime::Phase;
use sparsek::{ktap, printk};
use sparsek::{pr_err, pr_info, pr_notice, pr_warn};

use crate::arch::{self, BootInfo};
use crate::{heap, paging, phase, setup};

const PR_PREFIX: &str = "";

pub fn start_kernel(boot: BootInfo) -> ! {
    // The command line decides how much is printed, so it is parsed before the banner.
    let params = BootParams::parse(boot.cmdline);
    printk::set_console_loglevel(params.loglevel);
    banner(&boot);
    // The heap before anything that allocates.
    let (heap_start, heap_size) = heap::init();
    heap_self_check(heap_start, heap_size);
    report_params(&params, &boot);
    // Fault injection counts from the start of boot; armed as soon as it is known.
    arch::arm_faults(&params.faults);
    // The sparse_init ordering is checked before anything else happens: a bisect run
    // with a misspelt ordering must fail at once, not after a full boot.
    let order = params.sparse_order.unwrap_or_else(|bad| {
        arch::fatal_fmt(format_args!(
            "sparse_init={}: unknown ordering; valid: {}",
            bad.unwrap_or(""),
            sparsek::mm::sparse::Order::names()
        ))
    });

    // prom_init: CAS, then the device tree flattened (or taken from r3/H_CAS). The last
    // use of the firmware's client interface is inside this call.
    let dt =
        arch::prom_init(&boot).unwrap_or_else(|e| arch::fatal_fmt(format_args!("prom_init: {e}")));
    let dt = if params.dtb_initrd {
        arch::dtb_from_initrd(&boot, dt)
    } else {
        dt
    };
    // Memory map and every reservation, before anything allocates from memblock. The
    // firmware's memory is among the reservations ...
    let mut mem = setup::early_init_devtree(&dt, &boot, &params);
    // ... until the client interface is shut here.
    setup::leave_firmware(&mut mem, &boot);
    phase::end(Phase::Memblock);

    // The hash MMU needs real mode to bolt the linear mapping, so it comes after the
    // firmware is gone; it must come before anything allocates above the real-mode area
    // (it raises memblock's limit once translation is on).
    arch::early_init_mmu(
        &dt.fdt,
        &mut mem.memblock,
        arch::MmuParams {
            hash_debug: params.hash_debug,
            disable_1tb_segments: params.disable_1tb_segments,
            secondary_fallback: params.hash_bolt_secondary,
        },
    );
    phase::end(Phase::Mmu);
    // From here on the kernel stack, with its guard below it (the boot stack's frames
    // stay where they are and are never returned to).
    arch::run_on_kernel_stack(move || after_mmu(boot, params, order, dt, mem))
}

/// The rest of boot, on the kernel stack: self-checks, sparse init, the reports.
fn after_mmu(
    boot: BootInfo,
    params: BootParams<'static>,
    order: sparsek::mm::sparse::Order,
    dt: arch::DeviceTree,
    mut mem: setup::EarlyMem,
) -> ! {
    if let Some(stack) = arch::stack_canary_dead() {
        arch::fatal_fmt(format_args!(
            "the {stack} overflowed (the canary at its bottom is overwritten)"
        ));
    }
    let mut hash_checks = arch::hash_selftests();
    if hash_checks.iter().any(|c| !c.ok) {
        // Nothing may be built on a broken MMU: report now and stop.
        report_selftests(&[("hash", &hash_checks)]);
    }
    phase::end(Phase::Selftests);

    // Sparse init (sections, vmemmap, struct pages) needs translation on and the final
    // memblock.
    let (sparse_checks, mut footprint, no_memmap) = paging::paging_init(&mut mem.memblock, order);
    // The linear mapping end to end, now that boot has written memory across it (the
    // vmemmap's blocks at the top); reported second in the hash suite, as always.
    let mut avoid = vec![setup::VECTORS, mem.kernel];
    avoid.extend(dt.blobs_outside_image(&boot));
    let rw = arch::hash_linear_map_check(&mem.memblock, &avoid);
    hash_checks.insert(1.min(hash_checks.len()), rw);
    arch::hash_report_stats();
    report_selftests(&[("hash", &hash_checks), ("sparse", &sparse_checks)]);
    phase::end(Phase::Selftests);

    if params.selftest_panic {
        panic!("selftest.panic requested");
    }
    if let Some(fault) = params.selftest_fault {
        arch::provoke_fault(fault);
    }

    setup::mem_init_print_info(&mem, no_memmap);
    phase::end(Phase::Report);

    arch::report_unfired_faults(&params.faults, &mem.memblock);
    // The figures of this boot, for benchmarks and CI (formats in sparsek::boottime).
    footprint.h_enter = arch::h_enter_count();
    footprint.memblock_reserved = mem.memblock.phys_mem_size() - mem.memblock.free_size();
    footprint.kernel = mem.kernel.1 - mem.kernel.0;
    footprint.heap_peak = heap::peak() as u64;
    pr_info!("{footprint}");
    pr_info!("{}", phase::phases());

    // Last check before the final status: the initrd must be intact.
    setup::initrd_check(&mem);
    arch::power_off()
}

fn banner(boot: &BootInfo) {
    pr_notice!(
        "sparsek version {} ({}) git {}",
        env!("CARGO_PKG_VERSION"),
        env!("SPARSEK_RUSTC"),
        env!("SPARSEK_GIT")
    );
    let pvr = boot.pvr;
    pr_info!(
        "CPU: {} revision {}.{} (pvr {:04x} {:04x})",
        arch::pvr_name(pvr),
        (pvr >> 8) & 0xf,
        pvr & 0xff,
        pvr >> 16,
        pvr & 0xffff
    );
    match boot.path {
        arch::FirmwarePath::Fdt => pr_info!(
            "Firmware: FDT (r5 = 0, device tree at 0x{:x}), entry MSR 0x{:016x} {}",
            boot.r3,
            boot.entry_msr,
            arch::MsrBits(boot.entry_msr)
        ),
        path => pr_info!(
            "Firmware: {} (client interface at 0x{:x}), entry MSR 0x{:016x} {}",
            path.name(),
            boot.r5,
            boot.entry_msr,
            arch::MsrBits(boot.entry_msr)
        ),
    }
    if boot.path != arch::FirmwarePath::Fdt && boot.r4 != 0 {
        pr_info!("initrd: 0x{:x}, 0x{:x} bytes", boot.r3, boot.r4);
        if boot.initrd().is_none() {
            pr_warn!("initrd: r3 + r4 wraps around the address space, ignored");
        }
    }
    pr_info!("time: timebase-frequency {} Hz", boot.timebase_freq);
    pr_notice!("Kernel command line: {}", boot.cmdline);
}

fn report_params(params: &BootParams, boot: &BootInfo) {
    if boot.cmdline_truncated {
        pr_warn!(
            "Kernel command line: longer than {} bytes, truncated",
            arch::COMMAND_LINE_SIZE - 1
        );
    }
    for e in params.errors() {
        match e.value {
            Some(v) => pr_err!(
                "Malformed kernel parameter '{}={}': {}",
                e.name,
                v,
                e.reason
            ),
            None => pr_err!("Malformed kernel parameter '{}': {}", e.name, e.reason),
        }
    }
    if params.errors_dropped > 0 {
        pr_err!(
            "... and {} more malformed parameters",
            params.errors_dropped
        );
    }
    let unknown: Vec<&str> = params.unknown().map(|p| p.name).collect();
    if !unknown.is_empty() {
        // Linux says "will be passed to user space"; this kernel has none, so: ignored.
        pr_notice!(
            "Unknown kernel command line parameters \"{}\", ignored.",
            unknown.join(" ")
        );
    }
}

/// The boot self-checks as one KTAP document, a suite per subsystem; any failure ends
/// boot with the failure status.
fn report_selftests(suites: &[(&str, &[ktap::Check])]) {
    let failed = ktap::emit(suites, &mut |line| {
        printk::printk(printk::Level::Info, "", format_args!("{line}"))
    });
    if failed > 0 {
        arch::fatal_fmt(format_args!("{failed} boot self-check(s) failed"));
    }
}

fn heap_self_check(start: usize, size: usize) {
    // One allocation round trip proves the allocator owns the region before anything
    // depends on it.
    let v: Vec<u64> = (0..512).collect();
    let ok = v.iter().sum::<u64>() == 511 * 512 / 2 && heap::used() >= 512 * 8;
    drop(v);
    if !ok || heap::used() != 0 {
        panic!("heap self-check failed");
    }
    pr_info!("heap: {} KiB at 0x{:x}", size / 1024, start);
}
