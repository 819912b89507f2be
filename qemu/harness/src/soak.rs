//! `qemu/soak`: many boots, each on a machine of the boot matrix with a sparse_init
//! ordering and a fault picked at random from a seed, each judged by
//! [`crate::oracle::judge`] (or [`crate::hostile::judge`] for a hostile device tree).
//!
//! The choice is deterministic: boot `i` of seed `s` depends on nothing but `s`, `i`, the
//! machines and orderings offered (the matrix files) and whether hostile trees are
//! offered, so a seed reproduces a run, and `--boots 16` runs the first 16 boots of
//! `--boots 100`. The generator is SplitMix64 (Steele, Lea and Flood, 2014): small,
//! self-contained, and good enough to spread choices.

use crate::machine::{Firmware, Machine};
use crate::oracle::{Fault, Hcall, Scenario, Selftest};

/// SplitMix64: a 64-bit state advanced by the golden gamma, output through a mixer.
#[derive(Clone, Debug)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub const GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

    pub fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(Self::GAMMA);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi` (`lo <= hi`; Lemire's multiply-shift, bias below 2^-32 for the
    /// ranges used here).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        assert!(lo <= hi, "empty range {lo}..={hi}");
        let span = hi - lo;
        if span == u64::MAX {
            return self.next_u64();
        }
        lo + ((u128::from(self.next_u64()) * u128::from(span + 1)) >> 64) as u64
    }

    /// An index below `n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        self.range(0, n as u64 - 1) as usize
    }

    /// True with probability `percent`/100.
    pub fn percent(&mut self, percent: u64) -> bool {
        self.range(0, 99) < percent
    }

    /// An index chosen by weight.
    pub fn weighted(&mut self, weights: &[u64]) -> usize {
        let total: u64 = weights.iter().sum();
        let mut r = self.range(0, total - 1);
        for (i, &w) in weights.iter().enumerate() {
            if r < w {
                return i;
            }
            r -= w;
        }
        unreachable!("r < total")
    }
}

/// The generator of boot `index` of a run with `seed`.
pub fn boot_rng(seed: u64, index: usize) -> SplitMix64 {
    // Two steps apart per boot would overlap streams; mix the index in through the
    // generator itself instead.
    let mut g = SplitMix64::new(seed ^ (index as u64).wrapping_mul(SplitMix64::GAMMA));
    let mixed = g.next_u64();
    SplitMix64::new(mixed)
}

/// A machine of the matrix: its name (the first configuration that has it) and what it
/// is (the configuration's command line left out).
#[derive(Clone, Debug)]
pub struct SoakMachine {
    pub name: String,
    pub machine: Machine,
}

/// What one boot does.
#[derive(Clone, Debug)]
pub enum Pick {
    /// A fault scenario, judged by the oracle.
    Fault(Scenario),
    /// A hostile device tree (`dtb=initrd`): the case is `choice % cases` of
    /// [`crate::hostile::cases`] for the machine's own tree.
    Hostile { choice: u64 },
}

/// One planned boot.
#[derive(Clone, Debug)]
pub struct Plan {
    pub index: usize,
    /// Index into the machines offered.
    pub machine: usize,
    pub pick: Pick,
}

/// The hash page size the linear mapping uses, and the vmemmap's (Linux's rule).
fn page_sizes(m: &Machine) -> (u64, u64) {
    const M16: u64 = 16 << 20;
    const K64: u64 = 64 << 10;
    let linear = if m.hpt_16m { M16 } else { K64 };
    let vmemmap = if m.hpt_16m && m.memory >= 1 << 30 {
        M16
    } else {
        K64
    };
    (linear, vmemmap)
}

/// The node sizes (one node when there is no NUMA layout).
fn nodes(m: &Machine) -> Vec<u64> {
    if m.numa.is_empty() {
        vec![m.memory]
    } else {
        m.numa.clone()
    }
}

/// How many H_ENTERs a normal boot makes where: the linear mapping's pages, then the
/// kernel stack's two 64K pages, then one per vmemmap page (v4.19).
pub fn hash_inserts(m: &Machine) -> (u64, u64, u64) {
    const SECTION: u64 = 16 << 20;
    const MEMMAP_PER_SECTION: u64 = 16 << 10;
    let (linear, vmemmap) = page_sizes(m);
    let lin = nodes(m).iter().map(|n| n / linear).sum();
    let vm = nodes(m)
        .iter()
        .map(|n| (n / SECTION * MEMMAP_PER_SECTION).div_ceil(vmemmap))
        .sum::<u64>()
        .max(1);
    (lin, 2, vm)
}

/// Statuses `fail_hcall=` is given (None: the default, H_HARDWARE), with weights.
const STATUSES: &[(Option<&str>, u64)] = &[
    (None, 40),
    (Some("H_PTEG_FULL"), 25),
    (Some("H_PARAMETER"), 15),
    (Some("H_BUSY"), 10),
    (Some("H_NOT_FOUND"), 10),
];

fn status(g: &mut SplitMix64) -> Option<String> {
    let w: Vec<u64> = STATUSES.iter().map(|s| s.1).collect();
    STATUSES[g.weighted(&w)].0.map(String::from)
}

/// An H_ENTER call number around the machine's inserts: mostly the linear mapping, the
/// stack and the vmemmap, sometimes past the end (not reached).
fn enter_nth(g: &mut SplitMix64, m: &Machine) -> u64 {
    let (lin, stack, vm) = hash_inserts(m);
    match g.weighted(&[40, 15, 35, 10]) {
        0 => g.range(1, lin),
        1 => g.range(lin + 1, lin + stack),
        2 => g.range(lin + stack + 1, lin + stack + vm),
        _ => g.range(lin + stack + vm + 1, lin + stack + vm + 12),
    }
}

/// A machine hostile device trees are booted on: VOF (the tree comes through
/// `dtb=initrd`), one memory node.
pub fn hostile_machine(m: &Machine) -> bool {
    m.firmware == Firmware::Vof && m.numa.is_empty()
}

/// Plan boot `index`: a machine, an ordering and a fault (or a hostile tree on a
/// [`hostile_machine`] when `hostile` is offered).
pub fn plan_one(
    seed: u64,
    index: usize,
    machines: &[SoakMachine],
    orderings: &[String],
    hostile: bool,
) -> Plan {
    let mut g = boot_rng(seed, index);
    // Hostile trees are variants of the machine's own tree whose expected memory is that
    // tree's, by node: one-node VOF machines (a hostile memory node overlapping other
    // nodes' memory moves it to its own node, as Linux's memblock_set_node() does).
    let vof: Vec<usize> = (0..machines.len())
        .filter(|&i| hostile_machine(&machines[i].machine))
        .collect();
    // none, memblock, hcall, of, selftest, hostile
    let weights = [
        10,
        20,
        25,
        20,
        10,
        if hostile && !vof.is_empty() { 15 } else { 0 },
    ];
    let what = g.weighted(&weights);
    if what == 5 {
        let machine = vof[g.below(vof.len())];
        return Plan {
            index,
            machine,
            pick: Pick::Hostile {
                choice: g.next_u64(),
            },
        };
    }
    let machine = g.below(machines.len());
    let m = &machines[machine].machine;
    // The default ordering (the first offered) half the time.
    let ordering = match orderings {
        [] => None,
        [first, ..] if g.percent(50) => Some(first.clone()),
        all => Some(all[g.below(all.len())].clone()),
    };
    let mut s = Scenario {
        ordering,
        faults: Vec::new(),
    };
    match what {
        0 => {}
        1 => s.faults.push(Fault::Memblock(g.range(1, 12))),
        2 => {
            let (lin, stack, vm) = hash_inserts(m);
            match g.weighted(&[60, 25, 15]) {
                0 => s.faults.push(Fault::Hcall {
                    hcall: Hcall::Enter,
                    nth: enter_nth(&mut g, m),
                    status: status(&mut g),
                }),
                1 => {
                    let bolted = lin.min(4097);
                    let nth = match g.percent(40) {
                        true => g.range(1, bolted),
                        false => g.range(bolted + 1, bolted + 16 * vm + 8),
                    };
                    s.faults.push(Fault::Hcall {
                        hcall: Hcall::Read,
                        nth,
                        status: status(&mut g),
                    });
                }
                _ => {
                    // H_REMOVE only follows a failed vmemmap insert of a page already
                    // mapped (mmotm's ordering): half the time, make one fail.
                    if g.percent(50) {
                        let first = lin + stack + 1;
                        s.faults.push(Fault::Hcall {
                            hcall: Hcall::Enter,
                            nth: g.range(first, first + vm.max(8)),
                            status: Some("H_PTEG_FULL".into()),
                        });
                    }
                    s.faults.push(Fault::Hcall {
                        hcall: Hcall::Remove,
                        nth: g.range(1, 3),
                        status: status(&mut g),
                    });
                }
            }
        }
        3 => {
            let services = sparsek::fault::OF_SERVICES;
            s.faults.push(Fault::Of {
                service: services[g.below(services.len())].to_string(),
                nth: g.range(1, 40),
            });
        }
        _ => s
            .faults
            .push(Fault::Selftest(Selftest::ALL[g.below(Selftest::ALL.len())])),
    }
    Plan {
        index,
        machine,
        pick: Pick::Fault(s),
    }
}

/// Plan `boots` boots.
pub fn plan(
    seed: u64,
    boots: usize,
    machines: &[SoakMachine],
    orderings: &[String],
    hostile: bool,
) -> Vec<Plan> {
    (0..boots)
        .map(|i| plan_one(seed, i, machines, orderings, hostile))
        .collect()
}

/// The machines of a matrix: each configuration's machine without its command line,
/// one per distinct machine (named after the first configuration that has it).
pub fn machines_of(matrix: &crate::matrix::Matrix) -> Vec<SoakMachine> {
    let mut out: Vec<SoakMachine> = Vec::new();
    for c in &matrix.configs {
        let mut m = c.run.machine.clone();
        m.append.clear();
        let key = crate::matrix::describe_machine(&m);
        if !out
            .iter()
            .any(|s| crate::matrix::describe_machine(&s.machine) == key)
        {
            out.push(SoakMachine {
                name: c.name.clone(),
                machine: m,
            });
        }
    }
    out
}

/// The `sparse_init=` orderings a matrix's command lines name, in order, each once; the
/// first is the default ordering, v4.19, whether named or not.
pub fn orderings_of(matrix: &crate::matrix::Matrix) -> Vec<String> {
    let mut out = vec!["v4.19".to_string()];
    for c in &matrix.configs {
        for w in c.run.machine.append.split_whitespace() {
            if let Some(o) = w.strip_prefix("sparse_init=")
                && !out.iter().any(|x| x == o)
            {
                out.push(o.to_string());
            }
        }
    }
    out
}

/// The seed `commit` stands for: the first 64 bits of the commit's hash.
pub fn seed_of_commit(sha: &str) -> Option<u64> {
    let hex = sha.trim();
    if hex.len() < 16 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(&hex[..16], 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn machines() -> Vec<SoakMachine> {
        let vof = |mem: u64, hpt: bool, numa: Vec<u64>| Machine {
            firmware: Firmware::Vof,
            memory: mem,
            hpt_16m: hpt,
            numa,
            ..Machine::default()
        };
        vec![
            SoakMachine {
                name: "vof-2g".into(),
                machine: vof(2 << 30, true, vec![]),
            },
            SoakMachine {
                name: "vof-2g-64k".into(),
                machine: vof(2 << 30, false, vec![]),
            },
            SoakMachine {
                name: "vof-numa2".into(),
                machine: vof(2 << 30, true, vec![1 << 30, 1 << 30]),
            },
            SoakMachine {
                name: "slof-2g".into(),
                machine: Machine::default(),
            },
        ]
    }

    fn orderings() -> Vec<String> {
        ["v4.19", "v4.18", "mmotm-2018-07-10"]
            .map(String::from)
            .to_vec()
    }

    #[test]
    fn splitmix64_reference_values() {
        // The reference implementation's first outputs for seed 0 and 1234567.
        let mut g = SplitMix64::new(0);
        assert_eq!(g.next_u64(), 0xe220_a839_7b1d_cdaf);
        assert_eq!(g.next_u64(), 0x6e78_9e6a_a1b9_65f4);
        assert_eq!(g.next_u64(), 0x06c4_5d18_8009_454f);
        let mut g = SplitMix64::new(1234567);
        assert_eq!(g.next_u64(), 6457827717110365317);
        assert_eq!(g.next_u64(), 3203168211198807973);
    }

    #[test]
    fn same_seed_same_numbers_and_ranges_hold() {
        let a: Vec<u64> = {
            let mut g = SplitMix64::new(42);
            (0..100).map(|_| g.next_u64()).collect()
        };
        let b: Vec<u64> = {
            let mut g = SplitMix64::new(42);
            (0..100).map(|_| g.next_u64()).collect()
        };
        assert_eq!(a, b);
        let mut g = SplitMix64::new(7);
        let mut seen = [false; 12];
        for _ in 0..2000 {
            let r = g.range(1, 12);
            assert!((1..=12).contains(&r));
            seen[r as usize - 1] = true;
        }
        assert!(seen.iter().all(|&s| s), "every value of 1..=12 comes up");
        assert_eq!(g.range(5, 5), 5);
        let mut counts = [0; 3];
        for _ in 0..3000 {
            counts[g.weighted(&[1, 0, 2])] += 1;
        }
        assert_eq!(counts[1], 0);
        assert!(counts[2] > counts[0], "{counts:?}");
    }

    #[test]
    fn same_seed_same_plan() {
        let m = machines();
        let o = orderings();
        let show = |p: &[Plan]| -> Vec<String> {
            p.iter()
                .map(|p| match &p.pick {
                    Pick::Fault(s) => format!("{} {} {}", p.index, p.machine, s.append()),
                    Pick::Hostile { choice } => {
                        format!("{} {} hostile {choice}", p.index, p.machine)
                    }
                })
                .collect()
        };
        let a = show(&plan(99, 200, &m, &o, true));
        assert_eq!(a, show(&plan(99, 200, &m, &o, true)));
        assert_ne!(a, show(&plan(100, 200, &m, &o, true)));
        // A shorter run is a prefix of a longer one.
        assert_eq!(show(&plan(99, 16, &m, &o, true))[..], a[..16]);
    }

    #[test]
    fn plans_cover_every_kind_within_their_ranges() {
        let m = machines();
        let o = orderings();
        let plans = plan(1, 1000, &m, &o, true);
        let mut kinds = [0usize; 6];
        for p in &plans {
            assert!(p.machine < m.len());
            let Pick::Fault(s) = &p.pick else {
                kinds[5] += 1;
                assert!(hostile_machine(&m[p.machine].machine));
                continue;
            };
            assert!(s.ordering.as_ref().is_some_and(|x| o.contains(x)));
            match s.faults.last() {
                None => kinds[0] += 1,
                Some(Fault::Memblock(n)) => {
                    kinds[1] += 1;
                    assert!((1..=12).contains(n));
                }
                Some(Fault::Hcall { nth, .. }) => {
                    kinds[2] += 1;
                    assert!(*nth >= 1);
                }
                Some(Fault::Of { service, nth }) => {
                    kinds[3] += 1;
                    assert!((1..=40).contains(nth));
                    assert!(sparsek::fault::OF_SERVICES.contains(&service.as_str()));
                }
                Some(Fault::Selftest(_)) => kinds[4] += 1,
                Some(Fault::Malformed(_)) => panic!("never generated"),
            }
        }
        assert!(kinds.iter().all(|&k| k > 30), "{kinds:?}");
        // Without hostile trees, none is planned.
        assert!(
            plan(1, 300, &m, &o, false)
                .iter()
                .all(|p| matches!(p.pick, Pick::Fault(_)))
        );
    }

    #[test]
    fn hash_inserts_follow_the_machine() {
        let m = machines();
        // 2G in 16M pages, the stack, one 16M vmemmap page.
        assert_eq!(hash_inserts(&m[0].machine), (128, 2, 1));
        // 2G in 64K pages; 128 sections x 16K in 64K vmemmap pages.
        assert_eq!(hash_inserts(&m[1].machine), (32768, 2, 32));
        // Two nodes, one vmemmap page each.
        assert_eq!(hash_inserts(&m[2].machine), (128, 2, 2));
        let small = Machine {
            memory: 512 << 20,
            ..Machine::default()
        };
        // Under 1G the vmemmap has 64K pages.
        assert_eq!(hash_inserts(&small), (32, 2, 8));
    }

    #[test]
    fn commit_seeds() {
        assert_eq!(
            seed_of_commit("277b569a63eb0000111122223333444455556666\n"),
            Some(0x277b_569a_63eb_0000)
        );
        assert_eq!(seed_of_commit("xyz"), None);
        assert_eq!(seed_of_commit("277b569"), None);
    }

    #[test]
    fn the_shipped_matrices_give_machines_and_orderings() {
        let root = crate::repo_root();
        let matrix = crate::matrix::Matrix::load(&root.join("qemu/expect/matrix.txt")).unwrap();
        let ms = machines_of(&matrix);
        assert!(ms.len() >= 10, "{}", ms.len());
        assert!(ms.iter().all(|m| m.machine.append.is_empty()));
        let names: Vec<&str> = ms.iter().map(|m| m.name.as_str()).collect();
        assert!(
            names.contains(&"vof-2g") && names.contains(&"slof-2g"),
            "{names:?}"
        );
        // vof-bad-ordering is vof-2g's machine.
        assert!(!names.contains(&"vof-bad-ordering"));
        let ord = crate::matrix::Matrix::load(&root.join("qemu/expect/orderings.txt")).unwrap();
        assert_eq!(orderings_of(&ord), orderings());
    }
}
