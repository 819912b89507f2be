//! `qemu/soak`: boot the kernel many times, each boot on a machine of the boot matrix with
//! a sparse_init ordering and a fault (or a hostile device tree) picked from a seed, and
//! judge every outcome by the fault oracle. See `qemu_harness::soak` and
//! `qemu_harness::oracle`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::exit;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use qemu_harness::hostile;
use qemu_harness::matrix::{Matrix, describe_machine};
use qemu_harness::oracle;
use qemu_harness::soak::{
    Pick, Plan, SoakMachine, machines_of, orderings_of, plan, seed_of_commit,
};
use qemu_harness::{BootOptions, Machine, Outcome, Verdict, given_or_built_kernel, repo_root};

const USAGE: &str = "\
usage: qemu/soak [options]

Boot the kernel many times under qemu-system-ppc64 -M pseries. Each boot takes a machine
of the boot matrix, a sparse_init ordering and a fault - none, fail_memblock=N,
fail_hcall=..., fail_of=..., a selftest exception, or a hostile device tree through
dtb=initrd - chosen from the seed, and is judged by the fault oracle: expected,
UNEXPLAINED or HANG. The seed is printed first, with the command that repeats the run.

options:
  --boots N         boots (default 100)
  --seed S          a number, or `commit` (from git rev-parse HEAD); default: the clock
  -j, --jobs J      QEMUs at once (default 2)
  --timeout SECS    per boot (default 60): a boot that runs longer is a HANG
  --list            print the boots the seed gives, without booting
  --json FILE       write every boot's result here
  --matrix FILE     machines from this matrix (default qemu/expect/matrix.txt)
  --orderings FILE  orderings from this matrix (default qemu/expect/orderings.txt)
  --no-hostile      never pick a hostile device tree
  --kernel ELF      boot this ELF instead of building
  -h, --help        this text

Logs: target/qemu/soak/<seed>/<index>.log. Exit status: 0 every boot expected,
1 an unexplained outcome or a hang, 2 bad options, 3 build failure.
";

fn usage_error(e: &str) -> ! {
    eprintln!("qemu/soak: {e}");
    exit(2)
}

/// A planned boot made concrete: machine, command line, and how to judge it.
struct Job {
    plan: Plan,
    machine_name: String,
    machine: Machine,
    append: String,
    what: What,
}

enum What {
    Fault(oracle::Scenario),
    Hostile(hostile::Case),
}

/// One boot's result.
struct Done {
    index: usize,
    machine_name: String,
    machine: String,
    append: String,
    verdict: String,
    seconds: f64,
    class: Class,
    detail: String,
    log: PathBuf,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Expected,
    Unexplained,
    Hang,
}

impl Class {
    fn name(self) -> &'static str {
        match self {
            Class::Expected => "expected",
            Class::Unexplained => "unexplained",
            Class::Hang => "hang",
        }
    }
}

/// Hostile cases per machine (built from the tree QEMU dumps for it), cached.
struct HostileCases {
    dir: PathBuf,
    cases: Mutex<HashMap<String, Result<Vec<hostile::Case>, String>>>,
}

impl HostileCases {
    fn get(&self, m: &SoakMachine) -> Result<Vec<hostile::Case>, String> {
        let mut map = self.cases.lock().unwrap();
        if let Some(c) = map.get(&m.name) {
            return c.clone();
        }
        let file = self.dir.join(format!("base-{}.dtb", m.name));
        let r = m.machine.dump_dtb(&file).and_then(|base| {
            std::panic::catch_unwind(|| hostile::cases(&base))
                .map_err(|_| format!("hostile::cases panicked on {}'s tree", m.name))
        });
        map.insert(m.name.clone(), r.clone());
        r
    }
}

fn job(p: &Plan, machines: &[SoakMachine], hc: &HostileCases) -> Result<Job, String> {
    let sm = &machines[p.machine];
    let mut machine = sm.machine.clone();
    let (append, what) = match &p.pick {
        Pick::Fault(s) => (s.append(), What::Fault(s.clone())),
        Pick::Hostile { choice } => {
            let cases = hc.get(sm)?;
            if cases.is_empty() {
                return Err(format!("no hostile cases for {}", sm.name));
            }
            let case = cases[(*choice % cases.len() as u64) as usize].clone();
            let blob = hc.dir.join(format!("{:03}-{}.dtb", p.index, case.name));
            std::fs::write(&blob, &case.blob).map_err(|e| format!("{}: {e}", blob.display()))?;
            machine.initrd = Some(blob);
            (
                format!("dtb=initrd # hostile {}", case.name),
                What::Hostile(case),
            )
        }
    };
    machine.append = append.split(" # ").next().unwrap_or("").to_string();
    Ok(Job {
        plan: p.clone(),
        machine_name: sm.name.clone(),
        machine,
        append,
        what,
    })
}

fn run_one(j: &Job, kernel: &Path, timeout: Duration, dir: &Path) -> Done {
    let log = dir.join(format!("{:03}.log", j.plan.index));
    let opts = BootOptions {
        timeout: Some(timeout),
        log: Some(log.clone()),
        ..Default::default()
    };
    let mut done = Done {
        index: j.plan.index,
        machine_name: j.machine_name.clone(),
        machine: describe_machine(&j.machine),
        append: j.append.clone(),
        verdict: String::new(),
        seconds: 0.0,
        class: Class::Unexplained,
        detail: String::new(),
        log: log.clone(),
    };
    let o: Outcome = match qemu_harness::boot(&j.machine, kernel, &opts) {
        Ok(o) => o,
        Err(e) => {
            done.verdict = "not started".into();
            done.detail = e;
            return done;
        }
    };
    done.verdict = o.verdict.name().to_string();
    done.seconds = o.duration.as_secs_f64();
    let judged = match &j.what {
        What::Fault(s) => oracle::judge(s, &o),
        What::Hostile(c) => hostile::judge(c, &o),
    };
    match judged {
        Ok(why) => {
            done.class = Class::Expected;
            done.detail = why;
        }
        Err(why) => {
            done.class = if o.verdict == Verdict::Timeout {
                Class::Hang
            } else {
                Class::Unexplained
            };
            done.detail = why;
        }
    }
    // The judgement goes after the console in the log.
    use std::io::Write;
    let _ = std::fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .and_then(|mut f| writeln!(f, "# soak: {}: {}", done.class.name(), done.detail));
    done
}

fn line(d: &Done) -> String {
    let judged = match d.class {
        Class::Expected => format!("expected: {}", d.detail),
        Class::Unexplained => format!("UNEXPLAINED: {} (log: {})", d.detail, d.log.display()),
        Class::Hang => format!("HANG: {} (log: {})", d.detail, d.log.display()),
    };
    format!(
        "{:>4} {} [{}] | {} | {} | {:.2} s | {judged}",
        d.index,
        d.machine_name,
        d.machine,
        if d.append.is_empty() {
            "(no append)"
        } else {
            &d.append
        },
        d.verdict,
        d.seconds
    )
}

fn main() {
    let root = repo_root();
    let mut boots = 100usize;
    let mut seed_arg: Option<String> = None;
    let mut jobs = 2usize;
    let mut timeout = Duration::from_secs(60);
    let mut list = false;
    let mut json_file: Option<PathBuf> = None;
    let mut matrix_file = root.join("qemu/expect/matrix.txt");
    let mut orderings_file = root.join("qemu/expect/orderings.txt");
    let mut use_hostile = true;
    let mut kernel = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| usage_error(&format!("{a} needs a value")))
        };
        match a.as_str() {
            "--boots" => {
                let v = value();
                boots = v
                    .parse()
                    .ok()
                    .filter(|&n| n >= 1)
                    .unwrap_or_else(|| usage_error(&format!("--boots: bad count '{v}'")));
            }
            "--seed" => seed_arg = Some(value()),
            "-j" | "--jobs" => {
                let v = value();
                jobs = v
                    .parse()
                    .ok()
                    .filter(|&n| n >= 1)
                    .unwrap_or_else(|| usage_error(&format!("--jobs: bad count '{v}'")));
            }
            "--timeout" => {
                let v = value();
                let secs: f64 = v
                    .parse()
                    .ok()
                    .filter(|s: &f64| s.is_finite() && *s > 0.0)
                    .unwrap_or_else(|| usage_error(&format!("--timeout: bad seconds '{v}'")));
                timeout = Duration::from_secs_f64(secs);
            }
            "--list" => list = true,
            "--json" => json_file = Some(PathBuf::from(value())),
            "--matrix" => matrix_file = PathBuf::from(value()),
            "--orderings" => orderings_file = PathBuf::from(value()),
            "--no-hostile" => use_hostile = false,
            "--kernel" => kernel = Some(PathBuf::from(value())),
            "-h" | "--help" => {
                print!("{USAGE}");
                exit(0);
            }
            other => usage_error(&format!("unknown option '{other}' (see --help)")),
        }
    }
    let seed = match seed_arg.as_deref() {
        None => {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            // Fold seconds and nanoseconds; keep it short enough to type.
            (t.as_secs() ^ u64::from(t.subsec_nanos()).rotate_left(20)) % 1_000_000_000
        }
        Some("commit") => {
            let out = std::process::Command::new("git")
                .args(["rev-parse", "HEAD"])
                .current_dir(&root)
                .output()
                .unwrap_or_else(|e| usage_error(&format!("--seed commit: cannot run git: {e}")));
            seed_of_commit(&String::from_utf8_lossy(&out.stdout))
                .unwrap_or_else(|| usage_error("--seed commit: git rev-parse HEAD gave no commit"))
        }
        Some(s) => s
            .parse()
            .unwrap_or_else(|_| usage_error(&format!("--seed: not a number or 'commit': '{s}'"))),
    };
    // Always first: the seed and how to repeat the run.
    let mut again = format!("qemu/soak --seed {seed} --boots {boots}");
    if !use_hostile {
        again.push_str(" --no-hostile");
    }
    println!("qemu/soak: seed {seed} (reproduce: {again})");
    let matrix = Matrix::load(&matrix_file).unwrap_or_else(|e| usage_error(&e.to_string()));
    let order_matrix =
        Matrix::load(&orderings_file).unwrap_or_else(|e| usage_error(&e.to_string()));
    let machines = machines_of(&matrix);
    let orderings = orderings_of(&order_matrix);
    let plans = plan(seed, boots, &machines, &orderings, use_hostile);
    let dir = root.join(format!("target/qemu/soak/{seed}"));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| {
        eprintln!("qemu/soak: {}: {e}", dir.display());
        exit(2)
    });
    let hc = HostileCases {
        dir: dir.clone(),
        cases: Mutex::new(HashMap::new()),
    };
    if list {
        for p in &plans {
            let m = &machines[p.machine];
            let what = match job(p, &machines, &hc) {
                Ok(j) => j.append,
                Err(e) => format!("(cannot prepare: {e})"),
            };
            println!(
                "{:>4} {} [{}] | {}",
                p.index,
                m.name,
                describe_machine(&m.machine),
                if what.is_empty() {
                    "(no append)"
                } else {
                    &what
                }
            );
        }
        return;
    }
    let kernel = given_or_built_kernel(kernel).unwrap_or_else(|(code, e)| {
        eprintln!("qemu/soak: {e}");
        exit(code)
    });
    let start = Instant::now();
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Done>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..jobs.clamp(1, plans.len()) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(p) = plans.get(i) else { break };
                    let done = match job(p, &machines, &hc) {
                        Ok(j) => run_one(&j, &kernel, timeout, &dir),
                        Err(e) => Done {
                            index: p.index,
                            machine_name: machines[p.machine].name.clone(),
                            machine: describe_machine(&machines[p.machine].machine),
                            append: String::new(),
                            verdict: "not started".into(),
                            seconds: 0.0,
                            class: Class::Unexplained,
                            detail: format!("cannot prepare the boot: {e}"),
                            log: dir.join(format!("{:03}.log", p.index)),
                        },
                    };
                    println!("{}", line(&done));
                    results.lock().unwrap().push(done);
                }
            });
        }
    });
    let wall = start.elapsed().as_secs_f64();
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|d| d.index);
    let count = |c: Class| results.iter().filter(|d| d.class == c).count();
    let (expected, unexplained, hangs) = (
        count(Class::Expected),
        count(Class::Unexplained),
        count(Class::Hang),
    );
    for d in results.iter().filter(|d| d.class != Class::Expected) {
        println!("qemu/soak: not expected: {}", line(d));
    }
    if let Some(file) = &json_file {
        let boots_json: Vec<Value> = results
            .iter()
            .map(|d| {
                json!({
                    "index": d.index,
                    "machine_name": d.machine_name,
                    "machine": d.machine,
                    "append": d.append,
                    "verdict": d.verdict,
                    "seconds": d.seconds,
                    "class": d.class.name(),
                    "detail": d.detail,
                    "log": d.log.display().to_string(),
                })
            })
            .collect();
        let report = json!({
            "seed": seed,
            "boots": results.len(),
            "expected": expected,
            "unexplained": unexplained,
            "hangs": hangs,
            "jobs": jobs,
            "wall_s": wall,
            "kernel": kernel.display().to_string(),
            "results": boots_json,
        });
        if let Some(d) = file.parent() {
            let _ = std::fs::create_dir_all(d);
        }
        if let Err(e) = std::fs::write(file, serde_json::to_string_pretty(&report).unwrap()) {
            eprintln!("qemu/soak: {}: {e}", file.display());
        }
    }
    println!(
        "qemu/soak: {} boots in {wall:.1} s with {jobs} jobs; logs in {}",
        results.len(),
        dir.display()
    );
    println!(
        "qemu/soak: {} boots, {expected} expected, {unexplained} unexplained, {hangs} hangs (seed {seed})",
        results.len()
    );
    exit(if unexplained == 0 && hangs == 0 { 0 } else { 1 });
}
