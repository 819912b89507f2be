//! The boot's phase timer and its two end-of-boot lines.
//!
//! The kernel marks the end of each phase with the clock (nanoseconds since entry); the
//! time since the previous mark is charged to that phase, so the phases add up to the
//! total and a phase entered twice (the self-checks run before and after sparse init)
//! accumulates. At the end of boot the kernel prints
//!
//! ```text
//! Boot phases: entry=9611us cas=12032us flatten=15954us ... total=209080us
//! Boot footprint: sections=128 vmemmap_pages=1 vmemmap_distinct=1 h_enter=129 ...
//! ```
//!
//! Both formats are stable: the benchmark (`qemu/bench`) and CI expectations parse them.
//! Every time is in whole microseconds with a `us` suffix, every size in bytes with a `B`
//! suffix, every count bare.

use core::fmt;

/// A phase of boot, in the order they happen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Kernel entry to the start of prom_init: vectors, command line, banner, heap.
    Entry,
    /// ibm,client-architecture-support (or H_CAS).
    Cas,
    /// Walking the firmware's tree into a flattened one (or taking the H_CAS/r3 blob).
    Flatten,
    /// Reading memory and reservations out of the flattened tree.
    Parse,
    /// memblock: memory added, reservations made, the firmware left behind.
    Memblock,
    /// Hash MMU: page sizes, the linear mapping bolted, the SLB, translation on.
    Mmu,
    /// memblocks_present and sparse_init.
    SparseInit,
    /// The zone report and the struct page initialisation (memmap_init).
    MemmapInit,
    /// The boot self-checks (hash and sparse) and their KTAP report.
    Selftests,
    /// The end-of-boot report (`Memory:`); the initrd check comes after the two lines.
    Report,
}

impl Phase {
    pub const ALL: [Phase; 10] = [
        Phase::Entry,
        Phase::Cas,
        Phase::Flatten,
        Phase::Parse,
        Phase::Memblock,
        Phase::Mmu,
        Phase::SparseInit,
        Phase::MemmapInit,
        Phase::Selftests,
        Phase::Report,
    ];

    /// The name printed on the `Boot phases:` line.
    pub const fn name(self) -> &'static str {
        match self {
            Phase::Entry => "entry",
            Phase::Cas => "cas",
            Phase::Flatten => "flatten",
            Phase::Parse => "parse",
            Phase::Memblock => "memblock",
            Phase::Mmu => "mmu",
            Phase::SparseInit => "sparse_init",
            Phase::MemmapInit => "memmap_init",
            Phase::Selftests => "selftests",
            Phase::Report => "report",
        }
    }

    const fn index(self) -> usize {
        self as usize
    }
}

/// Per-phase times, charged by [`Phases::end`].
#[derive(Clone, Debug, Default)]
pub struct Phases {
    ns: [u64; Phase::ALL.len()],
    /// The clock at the last mark.
    last: u64,
}

impl Phases {
    /// Start counting at `now` (the clock at kernel entry is 0).
    pub const fn new(now: u64) -> Self {
        Phases {
            ns: [0; Phase::ALL.len()],
            last: now,
        }
    }

    /// `phase` ends at `now`: the time since the last mark is charged to it. A clock that
    /// went backwards charges nothing (and does not move the mark back).
    pub fn end(&mut self, phase: Phase, now: u64) {
        let spent = now.saturating_sub(self.last);
        self.ns[phase.index()] = self.ns[phase.index()].saturating_add(spent);
        self.last = self.last.max(now);
    }

    /// Time charged to `phase`, in nanoseconds.
    pub fn get(&self, phase: Phase) -> u64 {
        self.ns[phase.index()]
    }

    /// Time since the phases started counting, up to the last mark.
    pub fn total(&self) -> u64 {
        self.ns.iter().fold(0u64, |a, &b| a.saturating_add(b))
    }
}

impl fmt::Display for Phases {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Boot phases:")?;
        for p in Phase::ALL {
            write!(f, " {}={}us", p.name(), self.get(p) / 1000)?;
        }
        write!(f, " total={}us", self.total() / 1000)
    }
}

/// What boot built and what it cost in memory, for the `Boot footprint:` line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Footprint {
    /// Present memory sections.
    pub sections: u64,
    /// vmemmap blocks allocated (of the vmemmap page size), as on the `sparse_init:`
    /// line: one per page when all is well, more when a page is allocated again.
    pub vmemmap_pages: u64,
    /// The distinct vmemmap pages the present sections' memory maps lie in.
    pub vmemmap_distinct: u64,
    /// H_ENTER calls in all (linear mapping and vmemmap, failed ones included).
    pub h_enter: u64,
    /// Entries sparse init inserted (successful H_ENTERs: the vmemmap's); equal to
    /// `vmemmap_distinct` when every vmemmap page is mapped exactly once.
    pub h_enter_vmemmap: u64,
    /// Bytes of memory map (vmemmap backing) allocated.
    pub memmap: u64,
    /// Bytes of usemap (pageblock flags) allocated.
    pub usemap: u64,
    /// memblock's reserved total at the end of boot.
    pub memblock_reserved: u64,
    /// The kernel image in memory: text through BSS, stacks and heap.
    pub kernel: u64,
    /// The most the heap ever had allocated at once.
    pub heap_peak: u64,
}

impl fmt::Display for Footprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Boot footprint: sections={} vmemmap_pages={} vmemmap_distinct={} h_enter={} \
             h_enter_vmemmap={} memmap={}B usemap={}B memblock_reserved={}B kernel={}B \
             heap_peak={}B",
            self.sections,
            self.vmemmap_pages,
            self.vmemmap_distinct,
            self.h_enter,
            self.h_enter_vmemmap,
            self.memmap,
            self.usemap,
            self.memblock_reserved,
            self.kernel,
            self.heap_peak
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    #[test]
    fn phases_charge_time_since_the_last_mark() {
        let mut p = Phases::new(1_000);
        p.end(Phase::Entry, 10_000);
        p.end(Phase::Cas, 25_500);
        p.end(Phase::Selftests, 30_000);
        p.end(Phase::SparseInit, 1_030_000);
        p.end(Phase::Selftests, 1_032_000);
        assert_eq!(p.get(Phase::Entry), 9_000);
        assert_eq!(p.get(Phase::Cas), 15_500);
        assert_eq!(p.get(Phase::Selftests), 4_500 + 2_000);
        assert_eq!(p.get(Phase::SparseInit), 1_000_000);
        assert_eq!(p.get(Phase::Flatten), 0);
        assert_eq!(p.total(), 1_031_000);
    }

    #[test]
    fn a_clock_going_backwards_charges_nothing() {
        let mut p = Phases::new(0);
        p.end(Phase::Entry, 5_000);
        p.end(Phase::Cas, 4_000);
        p.end(Phase::Flatten, 6_000);
        assert_eq!(p.get(Phase::Cas), 0);
        assert_eq!(p.get(Phase::Flatten), 1_000);
        assert_eq!(p.total(), 6_000);
    }

    #[test]
    fn phases_line_names_every_phase_in_order() {
        let mut p = Phases::new(0);
        for (i, ph) in Phase::ALL.into_iter().enumerate() {
            p.end(ph, (i as u64 + 1) * 1_500_000);
        }
        assert_eq!(
            format!("{p}"),
            "Boot phases: entry=1500us cas=1500us flatten=1500us parse=1500us memblock=1500us \
             mmu=1500us sparse_init=1500us memmap_init=1500us selftests=1500us report=1500us total=15000us"
        );
    }

    #[test]
    fn footprint_line() {
        let f = Footprint {
            sections: 128,
            vmemmap_pages: 1,
            vmemmap_distinct: 1,
            h_enter: 129,
            h_enter_vmemmap: 1,
            memmap: 16 << 20,
            usemap: 1024,
            memblock_reserved: 21_708_800,
            kernel: 4608 << 10,
            heap_peak: 70_000,
        };
        assert_eq!(
            format!("{f}"),
            "Boot footprint: sections=128 vmemmap_pages=1 vmemmap_distinct=1 h_enter=129 \
             h_enter_vmemmap=1 memmap=16777216B usemap=1024B memblock_reserved=21708800B \
             kernel=4718592B heap_peak=70000B"
        );
    }
}
