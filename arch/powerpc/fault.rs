//! Fault injection in the arch layer (`fail_hcall=`, `fail_of=`; `fail_memblock=` lives
//! in memblock): the counters every hashed-page-table hypercall and client-interface call
//! goes through, armed from the command line. Policy and parsing are the portable
//! `sparsek::fault`.

use core::sync::atomic::{AtomicI64, Ordering};

use sparsek::fault::{Countdown, FaultPlan, Hcall, OF_SERVICES};
use sparsek::mm::hash::HStatus;
use sparsek::mm::memblock::Memblock;
use sparsek::{pr_info, pr_notice, pr_warn};

const PR_PREFIX: &str = "";

/// One counter per hypercall, indexed by [`Hcall::index`].
static HCALLS: [Countdown; 3] = [const { Countdown::new() }; 3];
/// The status each armed hypercall fault returns.
static HCALL_STATUS: [AtomicI64; 3] = [const { AtomicI64::new(0) }; 3];
/// One counter per client-interface service, indexed as [`OF_SERVICES`].
static OF_CALLS: [Countdown; OF_SERVICES.len()] = [const { Countdown::new() }; OF_SERVICES.len()];

/// Count a hypercall; `Some(status)` when it is the one to fail (reported here).
pub fn hcall(h: Hcall, ptex: u64) -> Option<HStatus> {
    let n = HCALLS[h.index()].tick()?;
    let st = HStatus::from_code(HCALL_STATUS[h.index()].load(Ordering::Relaxed));
    pr_notice!(
        "FAULT_INJECTION: forcing a failure: {} call #{n} (ptex {ptex:#x}) returns {st} without reaching the hypervisor",
        h.name()
    );
    Some(st)
}

/// The counter of client-interface service `service`, if it is one of [`OF_SERVICES`].
fn of_counter(service: &str) -> Option<&'static Countdown> {
    OF_SERVICES
        .iter()
        .position(|s| *s == service)
        .map(|i| &OF_CALLS[i])
}

/// Count a client-interface call of `service`; `true` when it is the one to fail
/// (reported here).
pub fn of_call(service: &str) -> bool {
    let Some(counter) = of_counter(service) else {
        // Every service the kernel calls is listed (a unit test of of.rs's names would
        // need the firmware); an unlisted one is simply not injectable.
        return false;
    };
    match counter.tick() {
        Some(n) => {
            pr_notice!(
                "FAULT_INJECTION: forcing a failure: OF client call {service} #{n} returns -1 without reaching the firmware"
            );
            true
        }
        None => false,
    }
}

/// Arm `fail_memblock=` in the boot's memblock, reported once.
pub fn arm_memblock(plan: &FaultPlan, mb: &mut Memblock) {
    if let Some(n) = plan.memblock {
        match mb.inject_failure(n) {
            Ok(()) => pr_info!("FAULT_INJECTION: armed fail_memblock={n}"),
            Err(seen) => pr_warn!(
                "FAULT_INJECTION: fail_memblock={n} not armed: {seen} allocations were already made"
            ),
        }
    }
}

/// Arm the command line's hypercall and client-interface faults, each reported once.
pub fn arm(plan: &FaultPlan) {
    for f in plan.hcall.iter().flatten() {
        let i = f.hcall.index();
        HCALL_STATUS[i].store(f.status.code(), Ordering::Relaxed);
        match HCALLS[i].arm(f.nth) {
            Ok(()) => pr_info!("FAULT_INJECTION: armed {f}"),
            Err(seen) => pr_warn!(
                "FAULT_INJECTION: {f} not armed: {seen} {} calls were already made",
                f.hcall.name()
            ),
        }
    }
    if let Some(f) = plan.of {
        let counter = of_counter(f.service)
            .expect("fail_of's service is one of OF_SERVICES (checked by the parser)");
        match counter.arm(f.nth) {
            Ok(()) => pr_info!("FAULT_INJECTION: armed {f}"),
            Err(seen) => pr_warn!(
                "FAULT_INJECTION: {f} not armed: {seen} {} calls were made before the command line was read",
                f.service
            ),
        }
    }
}

/// At the end of a boot: every armed fault that never fired, with how many calls of its
/// kind the boot made (so that a test can tell it asked for too late a call).
pub fn report_unfired(plan: &FaultPlan, mb: &Memblock) {
    if let Some(n) = mb.injection_pending() {
        pr_info!(
            "FAULT_INJECTION: fail_memblock={n} not reached: {} memblock allocations in this boot",
            mb.alloc_calls()
        );
    }
    for f in plan.hcall.iter().flatten() {
        let c = &HCALLS[f.hcall.index()];
        if c.pending().is_some() {
            pr_info!(
                "FAULT_INJECTION: {f} not reached: {} {} calls in this boot",
                c.seen(),
                f.hcall.name()
            );
        }
    }
    if let Some(f) = plan.of
        && let Some(counter) = of_counter(f.service)
        && counter.pending().is_some()
    {
        pr_info!(
            "FAULT_INJECTION: {f} not reached: {} {} calls in this boot",
            counter.seen(),
            f.service
        );
    }
}
