//! `qemu/bench`: boot configurations several times each, with a floor (the same QEMU
//! command, the kernel powering off at its first instruction of Rust code), and report
//! wall-clock milestones, the kernel's own phase times and its footprint as tables with
//! median and spread, the goals with their measured figures, and a JSON document.
//!
//! Wall times are measured from QEMU's launch to the arrival of console bytes on its
//! stdout pipe (see [`crate::boot::ConsoleTiming`]): the kernel's first byte, the
//! `sparse_init:` and `Zone ranges:` lines, and the pipe closing when QEMU exits.
//! Kernel times come from its `Boot phases:` line (the timebase), the rest from its
//! `Boot footprint:` line (formats: `sparsek::boottime`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use crate::boot::{BootOptions, Outcome, Verdict, boot};
use crate::cli::parse_run_args;
use crate::machine::{Firmware, Machine};
use crate::matrix::{describe_machine, split_words};

/// The phases of the `Boot phases:` line, in order (sparsek::boottime::Phase::ALL).
pub const PHASES: [&str; 10] = [
    "entry",
    "cas",
    "flatten",
    "parse",
    "memblock",
    "mmu",
    "sparse_init",
    "memmap_init",
    "selftests",
    "report",
];

/// The fields of the `Boot footprint:` line, in order.
pub const FOOTPRINT: [&str; 10] = [
    "sections",
    "vmemmap_pages",
    "vmemmap_distinct",
    "h_enter",
    "h_enter_vmemmap",
    "memmap",
    "usemap",
    "memblock_reserved",
    "kernel",
    "heap_peak",
];

/// One configuration to measure.
#[derive(Clone, Debug)]
pub struct Config {
    pub name: String,
    /// `qemu/run` options, as written.
    pub options: String,
    pub machine: Machine,
    pub timeout: Duration,
}

impl Config {
    pub fn new(name: &str, options: &str) -> Result<Self, String> {
        let words = split_words(options).map_err(|e| format!("{name}: {e}"))?;
        // qemu/run's 60 s default is too short for the largest machines.
        let timeout_given = words.iter().any(|w| w == "--timeout");
        let run = parse_run_args(words).map_err(|e| format!("{name}: {e}"))?;
        if run.help || run.kernel.is_some() || run.log.is_some() || run.machine.gdb {
            return Err(format!(
                "{name}: --help, --kernel, --log and --gdb are not configuration options"
            ));
        }
        Ok(Config {
            name: name.to_string(),
            options: options.to_string(),
            machine: run.machine,
            timeout: run
                .timeout
                .filter(|_| timeout_given)
                .unwrap_or(Duration::from_secs(300)),
        })
    }
}

/// The default set: 512M to `largest` under VOF with 16M pages offered, 2G also
/// without, NUMA with 2 and 4 nodes, and SLOF at 2G.
pub fn default_configs(largest: &str) -> Vec<Config> {
    let mut list = vec![
        ("512M", "--vof -m 512M".to_string()),
        ("2G", "--vof -m 2G".to_string()),
        ("2G-64K", "--vof -m 2G --no-16m".to_string()),
        ("16G", "--vof -m 16G".to_string()),
        ("64G", "--vof -m 64G --reserve-off".to_string()),
    ];
    if !largest.is_empty() {
        list.push(("largest", format!("--vof -m {largest} --reserve-off")));
    }
    list.extend([
        ("numa2-4G", "--vof -m 4G --numa 2G,2G".to_string()),
        ("numa4-4G", "--vof -m 4G --numa 1G,1G,1G,1G".to_string()),
        ("slof-2G", "-m 2G".to_string()),
    ]);
    list.into_iter()
        .map(|(n, o)| Config::new(n, &o).expect("the built-in configurations are valid"))
        .collect()
}

/// What one boot of the kernel measured.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KernelRun {
    /// Which run of its configuration (from 1): the floor run of the same number is its
    /// pair.
    pub run: usize,
    /// The kernel's banner (`sparsek version ...`).
    pub banner: String,
    /// Milliseconds from QEMU's launch.
    pub first_byte: f64,
    pub sparse_init: f64,
    pub zone_ranges: f64,
    pub exit: f64,
    /// The kernel's first byte to the end of the `sparse_init:` line.
    pub first_byte_to_sparse_init: f64,
    /// Microseconds per phase, and `total`.
    pub phases: BTreeMap<String, u64>,
    pub footprint: BTreeMap<String, u64>,
    /// Open Firmware client-interface calls (None without a client interface).
    pub client_calls: Option<u64>,
    /// The `sparse_init:` line's own `time=`, in microseconds.
    pub sparse_init_us: u64,
}

/// What one floor boot measured (milliseconds from launch).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FloorRun {
    /// Which run of its configuration (from 1).
    pub run: usize,
    /// The floor kernel's only line (`reboot: Power down`, printed at entry).
    pub first_byte: f64,
    pub exit: f64,
}

/// What one Linux boot measured (milliseconds from launch).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LinuxRun {
    pub first_byte: f64,
    pub zone_ranges: f64,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `NAME: k=V k=V ...` with units `us` or `B` (or none): the numbers by key.
pub fn parse_fields(message: &str, prefix: &str) -> Option<BTreeMap<String, u64>> {
    let rest = message.strip_prefix(prefix)?;
    let mut out = BTreeMap::new();
    for word in rest.split_whitespace() {
        let (k, v) = word.split_once('=')?;
        let digits = v.trim_end_matches(|c: char| c.is_ascii_alphabetic());
        out.insert(k.to_string(), digits.parse().ok()?);
    }
    Some(out)
}

/// The first byte of the kernel's output: the first kernel line's first byte.
fn first_kernel_byte(o: &Outcome) -> Option<Duration> {
    o.find_line(|_| true).map(|(_, start, _)| start)
}

fn exit_time(o: &Outcome) -> f64 {
    ms(o.timing.eof.unwrap_or(o.duration).min(o.duration))
}

/// The figures of a successful boot, or why there are none.
pub fn kernel_run(o: &Outcome) -> Result<KernelRun, String> {
    if o.verdict != Verdict::Success {
        return Err(format!("{}: {}", o.verdict.name(), o.reason));
    }
    let line = |what: &str| {
        o.find_line(|m| m.starts_with(what))
            .ok_or_else(|| format!("no '{what}' line"))
    };
    let first = first_kernel_byte(o).ok_or("no kernel line")?;
    let (sparse_msg, _, sparse_end) = line("sparse_init:")?;
    let (_, _, zone_end) = line("Zone ranges:")?;
    let (phases_msg, _, _) = line("Boot phases:")?;
    let (foot_msg, _, _) = line("Boot footprint:")?;
    let phases = parse_fields(phases_msg, "Boot phases:").ok_or("malformed 'Boot phases:' line")?;
    let footprint =
        parse_fields(foot_msg, "Boot footprint:").ok_or("malformed 'Boot footprint:' line")?;
    for p in PHASES.iter().chain(&["total"]) {
        if !phases.contains_key(*p) {
            return Err(format!("'Boot phases:' has no {p}"));
        }
    }
    for f in FOOTPRINT {
        if !footprint.contains_key(f) {
            return Err(format!("'Boot footprint:' has no {f}"));
        }
    }
    let sparse_init_us = sparse_msg
        .split_whitespace()
        .find_map(|w| w.strip_prefix("time=")?.strip_suffix("us")?.parse().ok())
        .ok_or("no time= on the sparse_init: line")?;
    let client_calls = o
        .find_line(|m| m.starts_with("prom: left the firmware behind after "))
        .and_then(|(m, _, _)| {
            m.strip_prefix("prom: left the firmware behind after ")?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        });
    let banner = o
        .find_line(|m| m.starts_with("sparsek version "))
        .map_or(String::new(), |(m, _, _)| m.to_string());
    Ok(KernelRun {
        run: 0,
        banner,
        first_byte: ms(first),
        sparse_init: ms(sparse_end),
        zone_ranges: ms(zone_end),
        exit: exit_time(o),
        first_byte_to_sparse_init: ms(sparse_end.saturating_sub(first)),
        phases,
        footprint,
        client_calls,
        sparse_init_us,
    })
}

/// The figures of a floor boot: success with `reboot: Power down` as the only line.
pub fn floor_run(o: &Outcome) -> Result<FloorRun, String> {
    if o.verdict != Verdict::Success {
        return Err(format!("floor: {}: {}", o.verdict.name(), o.reason));
    }
    if o.kernel_lines().count() != 1 {
        return Err(format!(
            "floor: the kernel printed {} lines, not just 'reboot: Power down' \
             (does it know selftest.poweroff_at_entry?)",
            o.kernel_lines().count()
        ));
    }
    Ok(FloorRun {
        run: 0,
        first_byte: ms(first_kernel_byte(o).ok_or("floor: no kernel line")?),
        exit: exit_time(o),
    })
}

/// The figures of a Linux boot stopped at `Zone ranges:`.
pub fn linux_run(o: &Outcome) -> Result<LinuxRun, String> {
    let (_, _, zone) = o
        .find_line(|m| m.starts_with("Zone ranges:"))
        .ok_or_else(|| {
            format!(
                "Linux: no 'Zone ranges:' line ({}; {})",
                o.verdict.name(),
                o.reason
            )
        })?;
    let first = o
        .timing
        .lines
        .iter()
        .zip(o.console.split('\n'))
        .find(|(_, l)| !l.trim().is_empty())
        .map(|(t, _)| t.0)
        .unwrap_or(zone);
    Ok(LinuxRun {
        first_byte: ms(first),
        zone_ranges: ms(zone),
    })
}

/// Median and range of a set of figures.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stat {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub n: usize,
}

impl Stat {
    pub fn of(values: impl IntoIterator<Item = f64>) -> Option<Stat> {
        let mut v: Vec<f64> = values.into_iter().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(|a, b| a.total_cmp(b));
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Some(Stat {
            median,
            min: v[0],
            max: v[n - 1],
            n,
        })
    }

    /// Half the range: the `±` shown beside the median.
    pub fn spread(&self) -> f64 {
        (self.max - self.min) / 2.0
    }

    fn json(&self) -> Value {
        json!({"median": self.median, "min": self.min, "max": self.max, "n": self.n})
    }
}

/// Everything measured for one configuration.
#[derive(Clone, Debug, Default)]
pub struct ConfigResult {
    pub name: String,
    pub options: String,
    pub machine: String,
    pub memory: u64,
    pub firmware: String,
    pub kernel: Vec<KernelRun>,
    pub floor: Vec<FloorRun>,
    pub linux: Vec<LinuxRun>,
    /// One boot under `-icount shift=0`: the timebase then advances 1 ns per guest
    /// instruction, so its phase "times" in us are thousands of instructions - the
    /// kernel's own work, whatever the host costs.
    pub icount: Option<KernelRun>,
    /// Boots that gave no figures, and why.
    pub failures: Vec<String>,
}

/// The medians that the tables and goals use.
impl ConfigResult {
    pub fn stat(&self, f: impl Fn(&KernelRun) -> f64) -> Option<Stat> {
        Stat::of(self.kernel.iter().map(f))
    }
    pub fn floor_stat(&self, f: impl Fn(&FloorRun) -> f64) -> Option<Stat> {
        Stat::of(self.floor.iter().map(f))
    }
    pub fn linux_stat(&self, f: impl Fn(&LinuxRun) -> f64) -> Option<Stat> {
        Stat::of(self.linux.iter().map(f))
    }
    /// Median of a phase, in milliseconds.
    pub fn phase_ms(&self, phase: &str) -> Option<f64> {
        self.stat(|k| k.phases.get(phase).copied().unwrap_or(0) as f64 / 1000.0)
            .map(|s| s.median)
    }
    /// A footprint figure (the same in every run of a deterministic boot; the median
    /// otherwise).
    pub fn footprint(&self, field: &str) -> Option<u64> {
        self.stat(|k| k.footprint.get(field).copied().unwrap_or(0) as f64)
            .map(|s| s.median.round() as u64)
    }
    /// A phase's guest instructions, in millions (from the icount boot).
    pub fn phase_minsn(&self, phase: &str) -> Option<f64> {
        let k = self.icount.as_ref()?;
        k.phases.get(phase).map(|&us| us as f64 / 1000.0)
    }
    /// Did every run insert exactly as many vmemmap entries as there are distinct
    /// vmemmap pages (each page mapped once)?
    pub fn vmemmap_inserts_equal_distinct(&self) -> Option<bool> {
        (!self.kernel.is_empty()).then(|| {
            self.kernel
                .iter()
                .all(|k| k.footprint.get("h_enter_vmemmap") == k.footprint.get("vmemmap_distinct"))
        })
    }

    /// Each kernel run's figure against its own floor run's (the same run number):
    /// (difference, ratio), for the runs that have both.
    pub fn paired(
        &self,
        k: impl Fn(&KernelRun) -> f64,
        f: impl Fn(&FloorRun) -> f64,
    ) -> Vec<(f64, f64)> {
        self.kernel
            .iter()
            .filter_map(|kr| {
                let fr = self.floor.iter().find(|fr| fr.run == kr.run)?;
                let (a, b) = (k(kr), f(fr));
                Some((a - b, if b > 0.0 { a / b } else { f64::NAN }))
            })
            .collect()
    }

    /// Median of the paired differences and of the paired ratios.
    pub fn paired_stat(
        &self,
        k: impl Fn(&KernelRun) -> f64,
        f: impl Fn(&FloorRun) -> f64,
    ) -> Option<(Stat, Stat)> {
        let p = self.paired(k, f);
        Some((
            Stat::of(p.iter().map(|x| x.0))?,
            Stat::of(p.iter().map(|x| x.1))?,
        ))
    }
}

/// How to run the benchmark.
pub struct Plan<'a> {
    pub configs: Vec<Config>,
    pub runs: usize,
    /// SLOF boots take seconds: at most this many runs of a SLOF configuration.
    pub slof_runs: usize,
    pub kernel: &'a Path,
    pub linux: Option<&'a Path>,
    /// Where each boot's console log goes.
    pub log_dir: PathBuf,
    /// Also boot each VOF configuration once under `-icount shift=0`.
    pub icount: bool,
}

/// QEMU's options for instruction counting: 2^0 ns of virtual time per instruction.
pub const ICOUNT: [&str; 2] = ["-icount", "shift=0"];

/// The Linux command line (the issue's: a console and the hash MMU).
pub const LINUX_CMDLINE: &str = "console=hvc0 disable_radix";

/// Boot each configuration `runs` times: floor, kernel, and Linux if asked, interleaved so
/// that a slow patch of the host affects all three alike. `progress` gets a line per boot.
pub fn run(plan: &Plan, progress: &mut dyn FnMut(&str)) -> Vec<ConfigResult> {
    let mut results = Vec::new();
    for c in &plan.configs {
        let runs = if c.machine.firmware == Firmware::Slof {
            plan.runs.min(plan.slof_runs).max(1)
        } else {
            plan.runs.max(1)
        };
        let mut r = ConfigResult {
            name: c.name.clone(),
            options: c.options.clone(),
            machine: describe_machine(&c.machine),
            memory: c.machine.memory,
            firmware: describe_machine(&c.machine)
                .split(' ')
                .next()
                .unwrap_or("")
                .to_string(),
            ..Default::default()
        };
        for i in 1..=runs {
            let log = |what: &str| plan.log_dir.join(format!("{}-{what}-{i}.log", c.name));
            let mut floor_machine = c.machine.clone();
            floor_machine.append = join_cmdline(&c.machine.append, "selftest.poweroff_at_entry");
            let opts = |what: &str| BootOptions {
                timeout: Some(c.timeout),
                log: Some(log(what)),
                ..Default::default()
            };
            // Floor and kernel take turns going first, so that neither always meets
            // the host right after the other's QEMU has exited.
            for floor_now in [i % 2 == 1, i % 2 == 0] {
                if floor_now {
                    match boot(&floor_machine, plan.kernel, &opts("floor"))
                        .and_then(|o| floor_run(&o))
                    {
                        Ok(f) => r.floor.push(FloorRun { run: i, ..f }),
                        Err(e) => r.failures.push(format!("run {i} floor: {e}")),
                    }
                } else {
                    match boot(&c.machine, plan.kernel, &opts("kernel"))
                        .and_then(|o| kernel_run(&o))
                    {
                        Ok(k) => {
                            progress(&format!(
                                "bench: {} run {i}/{runs}: sparse_init: at {:.1} ms, exit {:.1} ms",
                                c.name, k.sparse_init, k.exit
                            ));
                            r.kernel.push(KernelRun { run: i, ..k });
                        }
                        Err(e) => {
                            progress(&format!("bench: {} run {i}/{runs}: {e}", c.name));
                            r.failures.push(format!("run {i}: {e}"));
                        }
                    }
                }
            }
            if let Some(vmlinux) = plan.linux
                && c.machine.firmware != Firmware::Slof
            {
                let mut lm = c.machine.clone();
                lm.append = LINUX_CMDLINE.to_string();
                let o = BootOptions {
                    stop_at: Some("Zone ranges:".into()),
                    ..opts("linux")
                };
                match boot(&lm, vmlinux, &o).and_then(|o| linux_run(&o)) {
                    Ok(l) => r.linux.push(l),
                    Err(e) => r.failures.push(format!("run {i} linux: {e}")),
                }
            }
        }
        if plan.icount && c.machine.firmware == Firmware::Vof {
            let mut m = c.machine.clone();
            m.extra.extend(ICOUNT.iter().map(|s| s.to_string()));
            let o = BootOptions {
                timeout: Some(c.timeout),
                log: Some(plan.log_dir.join(format!("{}-icount.log", c.name))),
                ..Default::default()
            };
            match boot(&m, plan.kernel, &o).and_then(|o| kernel_run(&o)) {
                Ok(k) => r.icount = Some(k),
                Err(e) => r.failures.push(format!("icount: {e}")),
            }
        }
        results.push(r);
    }
    results
}

fn join_cmdline(a: &str, b: &str) -> String {
    match a.trim() {
        "" => b.to_string(),
        a => format!("{a} {b}"),
    }
}

/// A goal and its measured figure.
#[derive(Clone, Debug, PartialEq)]
pub struct Goal {
    pub goal: String,
    pub measured: String,
    /// None: not measurable in this run (a configuration or --linux missing).
    pub met: Option<bool>,
}

/// Launch to `sparse_init:` minus the floor's launch to its first byte, in ms: the
/// median over runs of each kernel run against its own floor run; with the medians of
/// both and of the kernel's own first byte to `sparse_init:`.
fn sparse_init_over_floor(r: &ConfigResult) -> Option<(Stat, f64, f64, f64)> {
    let (d, _) = r.paired_stat(|k| k.sparse_init, |f| f.first_byte)?;
    let s = r.stat(|k| k.sparse_init)?.median;
    let f = r.floor_stat(|f| f.first_byte)?.median;
    let own = r.stat(|k| k.first_byte_to_sparse_init)?.median;
    Some((d, s, f, own))
}

/// Configurations in the scaling series: VOF, one node, 16M offered, by memory size.
fn series(results: &[ConfigResult]) -> Vec<&ConfigResult> {
    let mut s: Vec<&ConfigResult> = results
        .iter()
        .filter(|r| {
            // describe_machine: "vof 2G 16M [numa=...] ..."
            let words: Vec<&str> = r.machine.split(' ').collect();
            r.firmware == "vof"
                && words.get(2) == Some(&"16M")
                && !r.machine.contains("numa=")
                && !r.kernel.is_empty()
        })
        .collect();
    s.sort_by_key(|r| r.memory);
    s.dedup_by_key(|r| r.memory);
    s
}

/// The phases whose work grows with memory.
pub const SCALING_PHASES: [&str; 3] = ["sparse_init", "memmap_init", "selftests"];

/// Per present section and per GiB, in microseconds, of the memory-sized phases.
pub fn per_section_us(r: &ConfigResult) -> Option<(f64, f64)> {
    let t: f64 = SCALING_PHASES
        .iter()
        .map(|p| r.phase_ms(p).unwrap_or(0.0) * 1000.0)
        .sum();
    let sections = r.footprint("sections")? as f64;
    let gib = r.memory as f64 / (1u64 << 30) as f64;
    (sections > 0.0 && gib > 0.0).then(|| (t / sections, t / gib))
}

/// Guest instructions per present section and per GiB (thousands) of the memory-sized
/// phases, from the icount boot.
pub fn per_section_kinsn(r: &ConfigResult) -> Option<(f64, f64)> {
    let k = r.icount.as_ref()?;
    let t: f64 = SCALING_PHASES
        .iter()
        .map(|p| k.phases.get(*p).copied().unwrap_or(0) as f64)
        .sum();
    let sections = k.footprint.get("sections").copied().unwrap_or(0) as f64;
    let gib = r.memory as f64 / (1u64 << 30) as f64;
    (sections > 0.0 && gib > 0.0).then(|| (t / sections, t / gib))
}

/// Growth of each phase between consecutive sizes of the series: (from, to, memory
/// ratio, [(phase, ratio, amount added)]).
pub type Growth<'a> = (&'a str, &'a str, f64, Vec<(&'static str, f64, f64)>);

/// Each phase's ratio between consecutive configurations by `value` (ms or millions of
/// instructions).
fn growth_by<'a>(
    s: &[&'a ConfigResult],
    value: impl Fn(&ConfigResult, &str) -> Option<f64>,
) -> Vec<Growth<'a>> {
    s.windows(2)
        .map(|w| {
            let mem = w[1].memory as f64 / w[0].memory as f64;
            let phases = PHASES
                .iter()
                .chain(&["total"])
                .map(|&p| {
                    let a = value(w[0], p).unwrap_or(0.0);
                    let b = value(w[1], p).unwrap_or(0.0);
                    (p, if a > 0.0 { b / a } else { f64::NAN }, b - a)
                })
                .collect();
            (w[0].name.as_str(), w[1].name.as_str(), mem, phases)
        })
        .collect()
}

/// Growth of each phase's time (ms) along the series.
pub fn growth(results: &[ConfigResult]) -> Vec<Growth<'_>> {
    growth_by(&series(results), ConfigResult::phase_ms)
}

/// Growth of each phase's guest instructions (millions) along the series' configurations
/// that have an icount boot.
pub fn insn_growth(results: &[ConfigResult]) -> Vec<Growth<'_>> {
    let s: Vec<&ConfigResult> = series(results)
        .into_iter()
        .filter(|r| r.icount.is_some())
        .collect();
    growth_by(&s, ConfigResult::phase_minsn)
}

/// A step grows faster than memory if its time grows by more than 1.5 times the memory
/// factor and by more than 5 ms (small phases jitter by a few ms).
pub fn superlinear(mem_ratio: f64, time_ratio: f64, added_ms: f64) -> bool {
    time_ratio > 1.5 * mem_ratio && added_ms > 5.0
}

/// Flat: no size costs more per section than 1.25x the cheapest smaller size. `per`:
/// (config, per section, per GiB) by memory size.
fn flat_goal(
    goal: String,
    per: &[(&str, f64, f64)],
    unmeasured: &str,
    show: impl Fn(&(&str, f64, f64)) -> String,
) -> Goal {
    let mut worst: Option<(&str, f64)> = None;
    for (i, &(n, x, _)) in per.iter().enumerate() {
        if let Some(min) = per[..i].iter().map(|p| p.1).reduce(f64::min) {
            let ratio = x / min;
            if worst.is_none_or(|w| ratio > w.1) {
                worst = Some((n, ratio));
            }
        }
    }
    Goal {
        goal,
        measured: if per.len() < 2 {
            unmeasured.into()
        } else {
            let list: Vec<String> = per.iter().map(show).collect();
            format!(
                "{}; largest rise over a smaller size {:.2}x ({})",
                list.join(", "),
                worst.map_or(1.0, |w| w.1),
                worst.map_or("-", |w| w.0)
            )
        },
        met: (per.len() >= 2).then(|| worst.is_none_or(|w| w.1 <= 1.25)),
    }
}

/// Linear: no phase of any step is [`superlinear`].
fn linear_goal(goal: String, g: &[Growth], unmeasured: &str, table: &str) -> Goal {
    let steps: Vec<String> = g
        .iter()
        .flat_map(|(a, b, mem, phases)| {
            phases
                .iter()
                .filter(|(_, r, d)| superlinear(*mem, *r, *d))
                .map(move |(p, r, _)| format!("{p} {a}->{b} x{r:.1} for x{mem:.0} memory"))
        })
        .collect();
    Goal {
        goal,
        measured: if g.is_empty() {
            unmeasured.into()
        } else if steps.is_empty() {
            format!("none in {} size steps (table '{table}')", g.len())
        } else {
            steps.join("; ")
        },
        met: (!g.is_empty()).then_some(steps.is_empty()),
    }
}

pub fn goals(results: &[ConfigResult]) -> Vec<Goal> {
    let by_name = |n: &str| results.iter().find(|r| r.name == n);
    let mut out = Vec::new();
    for (name, limit) in [("2G", 50.0), ("64G", 250.0)] {
        let goal = format!(
            "{name}, VOF: QEMU launch to sparse_init: within {limit:.0} ms of the floor (QEMU launch to the floor kernel's first byte)"
        );
        out.push(match by_name(name).and_then(sparse_init_over_floor) {
            Some((d, s, f, own)) => Goal {
                goal,
                measured: format!(
                    "{:+.1} ms: median of {} kernel/floor pairs ({:+.1} to {:+.1}); medians: \
                     sparse_init: at {s:.1} ms, floor {f:.1} ms; the kernel's own first byte to sparse_init: {own:.1} ms",
                    d.median, d.n, d.min, d.max
                ),
                met: Some(d.median <= limit),
            },
            None => Goal {
                goal,
                measured: format!(
                    "not measured (no {name} configuration, or no kernel run with a successful floor run)"
                ),
                met: None,
            },
        });
    }
    let goal =
        "2G, VOF: QEMU launch to Zone ranges: in well under half of Linux's time (at most 0.45x)"
            .to_string();
    out.push(
        match by_name("2G").and_then(|r| {
            Some((
                r.stat(|k| k.zone_ranges)?.median,
                r.linux_stat(|l| l.zone_ranges)?.median,
            ))
        }) {
            Some((ours, linux)) => Goal {
                goal,
                measured: format!(
                    "{ours:.1} ms against Linux's {linux:.1} ms ({:.2}x)",
                    ours / linux
                ),
                met: Some(ours / linux <= 0.45),
            },
            None => Goal {
                goal,
                measured: "not measured (no 2G run of both kernels: run with --linux VMLINUX)"
                    .into(),
                met: None,
            },
        },
    );
    let measured: Vec<&ConfigResult> = results.iter().filter(|r| !r.kernel.is_empty()).collect();
    let bad: Vec<&str> = measured
        .iter()
        .filter(|r| r.vmemmap_inserts_equal_distinct() == Some(false))
        .map(|r| r.name.as_str())
        .collect();
    out.push(Goal {
        goal: "Hash inserts for the vmemmap equal the distinct vmemmap pages, at every size".into(),
        measured: if bad.is_empty() {
            format!(
                "equal in every run of all {} configurations",
                measured.len()
            )
        } else {
            format!("different in {}", bad.join(", "))
        },
        met: (!measured.is_empty()).then_some(bad.is_empty()),
    });
    let s = series(results);
    let per: Vec<(&str, f64, f64)> = s
        .iter()
        .filter_map(|r| per_section_us(r).map(|(a, b)| (r.name.as_str(), a, b)))
        .collect();
    out.push(flat_goal(
        format!(
            "Time per present section and per GiB ({}) flat from the smallest to the largest size",
            SCALING_PHASES.join(" + ")
        ),
        &per,
        "not measured (fewer than two sizes)",
        |(n, a, b)| format!("{n} {a:.1} us/section {:.1} ms/GiB", b / 1000.0),
    ));
    out.push(linear_goal(
        "No quadratic step in boot: no phase grows more than 1.5x faster than memory".into(),
        &growth(results),
        "not measured (fewer than two sizes)",
        "Growth",
    ));
    // The same two goals on guest instructions (icount): the kernel's own work.
    let per: Vec<(&str, f64, f64)> = s
        .iter()
        .filter_map(|r| per_section_kinsn(r).map(|(a, b)| (r.name.as_str(), a, b)))
        .collect();
    out.push(flat_goal(
        format!(
            "Guest instructions per present section and per GiB ({}, one -icount boot) flat from the smallest to the largest size",
            SCALING_PHASES.join(" + ")
        ),
        &per,
        "not measured (fewer than two sizes with an icount boot)",
        |(n, a, b)| format!("{n} {a:.1}K/section {:.1}M/GiB", b / 1000.0),
    ));
    out.push(linear_goal(
        "Guest instructions: no quadratic step, no phase grows more than 1.5x faster than memory"
            .into(),
        &insn_growth(results),
        "not measured (fewer than two sizes with an icount boot)",
        "Instruction growth",
    ));
    let slof: Vec<&ConfigResult> = results
        .iter()
        .filter(|r| r.firmware == "slof" && !r.kernel.is_empty())
        .collect();
    out.push(Goal {
        goal: "SLOF: the kernel's first byte to sparse_init: (reported), client-interface calls kept low".into(),
        measured: if slof.is_empty() {
            "not measured (no SLOF configuration)".into()
        } else {
            slof.iter()
                .map(|r| {
                    format!(
                        "{}: {:.1} ms, {} client calls",
                        r.name,
                        r.stat(|k| k.first_byte_to_sparse_init).map_or(f64::NAN, |s| s.median),
                        r.kernel
                            .first()
                            .and_then(|k| k.client_calls)
                            .map_or("?".into(), |c| c.to_string())
                    )
                })
                .collect::<Vec<_>>()
                .join("; ")
        },
        met: None,
    });
    out
}

fn cell(s: Option<Stat>) -> String {
    s.map_or("-".into(), |s| format!("{:.1}±{:.1}", s.median, s.spread()))
}

/// A paired difference and ratio as table cells.
fn delta(p: Option<(Stat, Stat)>) -> (String, String) {
    match p {
        Some((d, q)) if q.median.is_finite() => {
            (format!("{:+.1}", d.median), format!("x{:.2}", q.median))
        }
        _ => ("-".into(), "-".into()),
    }
}

/// Right-aligned columns (the first left-aligned).
pub fn columns(rows: &[Vec<String>]) -> String {
    let n = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..n)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (i, c) in r.iter().enumerate() {
            let pad = widths[i] - c.chars().count();
            if i == 0 {
                line.push_str(c);
                line.push_str(&" ".repeat(pad));
            } else {
                line.push_str("  ");
                line.push_str(&" ".repeat(pad));
                line.push_str(c);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn bytes(b: Option<u64>) -> String {
    match b {
        None => "-".into(),
        Some(b) if b >= 10 << 20 => format!("{}M", b >> 20),
        Some(b) if b >= 10 << 10 => format!("{}K", b >> 10),
        Some(b) => format!("{b}B"),
    }
}

/// A growth table: a row per step, a column per phase (`!` on a superlinear one).
fn growth_table(g: &[Growth]) -> String {
    let mut head: Vec<String> = vec!["STEP".into(), "MEMORY".into()];
    head.extend(PHASES.iter().map(|p| p.to_string()));
    head.push("total".into());
    let mut rows = vec![head];
    for (a, b, mem, phases) in g {
        let mut row = vec![format!("{a}->{b}"), format!("x{mem:.0}")];
        for (_, r, d) in phases {
            let flag = if superlinear(*mem, *r, *d) { "!" } else { "" };
            row.push(if r.is_finite() {
                format!("x{r:.2}{flag}")
            } else {
                "-".into()
            });
        }
        rows.push(row);
    }
    columns(&rows)
}

/// The report: wall times, their relation to the floor, kernel phases, footprint,
/// scaling and growth, goals, failures.
pub fn report(results: &[ConfigResult], linux: bool) -> String {
    let mut out = String::new();
    // Wall clock.
    let mut head = vec![
        "CONFIG",
        "RUNS",
        "FLOOR 1ST",
        "FLOOR EXIT",
        "1ST BYTE",
        "SPARSE_INIT",
        "ZONE RANGES",
        "EXIT",
    ];
    if linux {
        head.extend(["LINUX ZONE", "OURS/LINUX"]);
    }
    let mut rows = vec![head.iter().map(|s| s.to_string()).collect::<Vec<_>>()];
    for r in results {
        let mut row = vec![
            r.name.clone(),
            r.kernel.len().to_string(),
            cell(r.floor_stat(|f| f.first_byte)),
            cell(r.floor_stat(|f| f.exit)),
            cell(r.stat(|k| k.first_byte)),
            cell(r.stat(|k| k.sparse_init)),
            cell(r.stat(|k| k.zone_ranges)),
            cell(r.stat(|k| k.exit)),
        ];
        if linux {
            let l = r.linux_stat(|l| l.zone_ranges);
            row.push(cell(l));
            row.push(match (r.stat(|k| k.zone_ranges), l) {
                (Some(o), Some(l)) => format!("{:.2}", o.median / l.median),
                _ => "-".into(),
            });
        }
        rows.push(row);
    }
    out.push_str(
        "Wall clock from QEMU launch, ms (median ± half the range): the kernel's first byte, the \
         sparse_init: and Zone ranges: lines, QEMU's exit; FLOOR: the same command with \
         selftest.poweroff_at_entry\n",
    );
    out.push_str(&columns(&rows));

    let mut rows = vec![
        [
            "CONFIG",
            "1ST BYTE",
            "x",
            "SPARSE_INIT",
            "x",
            "ZONE RANGES",
            "x",
            "EXIT",
            "x",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>(),
    ];
    for r in results {
        let first = |f: &FloorRun| f.first_byte;
        let mut row = vec![r.name.clone()];
        for p in [
            r.paired_stat(|k| k.first_byte, first),
            r.paired_stat(|k| k.sparse_init, first),
            r.paired_stat(|k| k.zone_ranges, first),
            r.paired_stat(|k| k.exit, |f| f.exit),
        ] {
            let (d, q) = delta(p);
            row.push(d);
            row.push(q);
        }
        rows.push(row);
    }
    out.push_str(
        "\nAgainst the floor, ms and ratio: the median over runs of each kernel run against its \
         own floor run; milestones against the floor's first byte, EXIT against the floor's exit\n",
    );
    out.push_str(&columns(&rows));

    // Kernel phases.
    let mut head: Vec<String> = vec!["CONFIG".into()];
    head.extend(PHASES.iter().map(|p| p.to_string()));
    head.push("total".into());
    head.push("sparse_init time=".into());
    let mut rows = vec![head];
    for r in results {
        let mut row = vec![r.name.clone()];
        for p in PHASES.iter().chain(&["total"]) {
            row.push(r.phase_ms(p).map_or("-".into(), |v| format!("{v:.1}")));
        }
        row.push(
            r.stat(|k| k.sparse_init_us as f64 / 1000.0)
                .map_or("-".into(), |s| format!("{:.1}", s.median)),
        );
        rows.push(row);
    }
    out.push_str("\nKernel phases from the timebase, ms (medians of the Boot phases: line)\n");
    out.push_str(&columns(&rows));

    // Footprint.
    let mut rows = vec![
        [
            "CONFIG",
            "SECTIONS",
            "VMEMMAP BLOCKS",
            "DISTINCT",
            "H_ENTER",
            "VMEMMAP INSERTS",
            "=DISTINCT",
            "MEMMAP",
            "USEMAP",
            "RESERVED",
            "KERNEL",
            "HEAP PEAK",
            "CLIENT CALLS",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>(),
    ];
    for r in results {
        let n = |f: &str| r.footprint(f).map_or("-".into(), |v| v.to_string());
        rows.push(vec![
            r.name.clone(),
            n("sections"),
            n("vmemmap_pages"),
            n("vmemmap_distinct"),
            n("h_enter"),
            n("h_enter_vmemmap"),
            match r.vmemmap_inserts_equal_distinct() {
                Some(true) => "yes".into(),
                Some(false) => "NO".into(),
                None => "-".into(),
            },
            bytes(r.footprint("memmap")),
            bytes(r.footprint("usemap")),
            bytes(r.footprint("memblock_reserved")),
            bytes(r.footprint("kernel")),
            bytes(r.footprint("heap_peak")),
            r.kernel
                .first()
                .and_then(|k| k.client_calls)
                .map_or("-".into(), |c| c.to_string()),
        ]);
    }
    out.push_str("\nCounts and memory (Boot footprint: line)\n");
    out.push_str(&columns(&rows));

    // Scaling.
    let s = series(results);
    if !s.is_empty() {
        let mut rows = vec![
            [
                "CONFIG",
                "GiB",
                "SECTIONS",
                "us/SECTION",
                "ms/GiB",
                "TOTAL ms/GiB",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>(),
        ];
        for r in &s {
            let gib = r.memory as f64 / (1u64 << 30) as f64;
            let (a, b) = per_section_us(r).unwrap_or((f64::NAN, f64::NAN));
            rows.push(vec![
                r.name.clone(),
                format!("{gib}"),
                r.footprint("sections")
                    .map_or("-".into(), |v| v.to_string()),
                format!("{a:.2}"),
                format!("{:.3}", b / 1000.0),
                format!("{:.3}", r.phase_ms("total").unwrap_or(f64::NAN) / gib),
            ]);
        }
        out.push_str(&format!(
            "\nScaling ({}, medians): per present section and per GiB; TOTAL: the whole boot per GiB\n",
            SCALING_PHASES.join(" + ")
        ));
        out.push_str(&columns(&rows));
    }
    let g = growth(results);
    if !g.is_empty() {
        out.push_str(
            "\nGrowth: each phase's time ratio between consecutive sizes (! = more than 1.5x the \
             memory factor and more than 5 ms)\n",
        );
        out.push_str(&growth_table(&g));
    }

    let with_icount: Vec<&ConfigResult> = results.iter().filter(|r| r.icount.is_some()).collect();
    if !with_icount.is_empty() {
        let mut head: Vec<String> = vec!["CONFIG".into()];
        head.extend(PHASES.iter().map(|p| p.to_string()));
        head.push("total".into());
        head.push("K/SECTION".into());
        let mut rows = vec![head];
        for r in &with_icount {
            let mut row = vec![r.name.clone()];
            for p in PHASES.iter().chain(&["total"]) {
                row.push(r.phase_minsn(p).map_or("-".into(), |v| format!("{v:.2}")));
            }
            row.push(per_section_kinsn(r).map_or("-".into(), |(k, _)| format!("{k:.2}")));
            rows.push(row);
        }
        out.push_str(&format!(
            "\nGuest instructions, millions (one boot each with QEMU's {}: the timebase counts 1 ns per instruction); K/SECTION: thousands per present section of {}\n",
            ICOUNT.join(" "),
            SCALING_PHASES.join(" + ")
        ));
        out.push_str(&columns(&rows));
        let g = insn_growth(results);
        if !g.is_empty() {
            out.push_str(
                "\nInstruction growth: each phase's instruction ratio between consecutive sizes (! = more \
                 than 1.5x the memory factor and more than 5 million instructions)\n",
            );
            out.push_str(&growth_table(&g));
        }
    }

    out.push_str("\nGoals\n");
    for g in goals(results) {
        let mark = match g.met {
            Some(true) => "met",
            Some(false) => "MISSED",
            None => "report",
        };
        out.push_str(&format!("  [{mark}] {}\n         {}\n", g.goal, g.measured));
    }
    let failures: Vec<String> = results
        .iter()
        .flat_map(|r| r.failures.iter().map(move |f| format!("  {}: {f}", r.name)))
        .collect();
    if !failures.is_empty() {
        out.push_str("\nBoots without figures\n");
        out.push_str(&failures.join("\n"));
        out.push('\n');
    }
    out
}

/// The JSON document: every run's figures, the summaries the tables show, the goals.
pub fn report_json(results: &[ConfigResult], about: Value) -> Value {
    let stat = |s: Option<Stat>| s.map_or(Value::Null, |s| s.json());
    let configs: Vec<Value> = results
        .iter()
        .map(|r| {
            let phases: serde_json::Map<String, Value> = PHASES
                .iter()
                .chain(&["total"])
                .map(|&p| {
                    (
                        p.to_string(),
                        stat(r.stat(|k| k.phases.get(p).copied().unwrap_or(0) as f64 / 1000.0)),
                    )
                })
                .collect();
            let footprint: serde_json::Map<String, Value> = FOOTPRINT
                .iter()
                .map(|&f| (f.to_string(), json!(r.footprint(f))))
                .collect();
            json!({
                "name": r.name,
                "options": r.options,
                "machine": r.machine,
                "memory_bytes": r.memory,
                "firmware": r.firmware,
                "summary": {
                    "floor_first_byte_ms": stat(r.floor_stat(|f| f.first_byte)),
                    "floor_exit_ms": stat(r.floor_stat(|f| f.exit)),
                    "first_byte_ms": stat(r.stat(|k| k.first_byte)),
                    "sparse_init_ms": stat(r.stat(|k| k.sparse_init)),
                    "zone_ranges_ms": stat(r.stat(|k| k.zone_ranges)),
                    "exit_ms": stat(r.stat(|k| k.exit)),
                    "first_byte_to_sparse_init_ms": stat(r.stat(|k| k.first_byte_to_sparse_init)),
                    "linux_zone_ranges_ms": stat(r.linux_stat(|l| l.zone_ranges)),
                    "phases_ms": phases,
                    "footprint": footprint,
                    "per_section_us": per_section_us(r).map(|p| p.0),
                    "per_gib_us": per_section_us(r).map(|p| p.1),
                    "vmemmap_inserts_equal_distinct": r.vmemmap_inserts_equal_distinct(),
                    "client_calls": r.kernel.first().and_then(|k| k.client_calls),
                },
                "runs": r.kernel.iter().map(|k| json!({
                    "first_byte_ms": k.first_byte,
                    "sparse_init_ms": k.sparse_init,
                    "zone_ranges_ms": k.zone_ranges,
                    "exit_ms": k.exit,
                    "first_byte_to_sparse_init_ms": k.first_byte_to_sparse_init,
                    "sparse_init_time_us": k.sparse_init_us,
                    "phases_us": k.phases,
                    "footprint": k.footprint,
                    "client_calls": k.client_calls,
                })).collect::<Vec<_>>(),
                "floor_runs": r.floor.iter().map(|f| json!({
                    "first_byte_ms": f.first_byte, "exit_ms": f.exit,
                })).collect::<Vec<_>>(),
                "icount_run": r.icount.as_ref().map(|k| json!({
                    "phases_kinsn": k.phases,
                    "footprint": k.footprint,
                    "per_section_kinsn": per_section_kinsn(r).map(|p| p.0),
                    "per_gib_kinsn": per_section_kinsn(r).map(|p| p.1),
                })),
                "linux_runs": r.linux.iter().map(|l| json!({
                    "first_byte_ms": l.first_byte, "zone_ranges_ms": l.zone_ranges,
                })).collect::<Vec<_>>(),
                "failures": r.failures,
            })
        })
        .collect();
    let goals: Vec<Value> = goals(results)
        .into_iter()
        .map(|g| json!({"goal": g.goal, "measured": g.measured, "met": g.met}))
        .collect();
    json!({"about": about, "configs": configs, "goals": goals})
}

#[cfg(test)]
mod tests;
