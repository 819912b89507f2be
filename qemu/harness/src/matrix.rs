//! `qemu/matrix`: machine configurations, each booted and judged by its expectation
//! files, a table and a JSON report. The matrix file format is in the README ("The
//! boot matrix"):
//! ```text
//! # NAME        | qemu/run options              | expectation files (in this directory)
//! vof-2g        | --vof -m 2G                   | boot-ok memory-map v4.19
//! slof-2g-mmotm | --append "sparse_init=mmotm-2018-07-10" | reproduce-2018
//! ```

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use crate::check::{Judged, Status, judge, sparse_init_fields};
use crate::cli::{RunArgs, parse_run_args};
use crate::expect::{Expectations, ParseError};
use crate::ktap::{Directive, Document, TestResult};
use crate::machine::{Firmware, Machine};

/// One configuration: a line of the matrix file.
#[derive(Clone, Debug)]
pub struct Config {
    pub name: String,
    pub line: usize,
    /// The `qemu/run` options as written (split into words).
    pub options: Vec<String>,
    pub run: RunArgs,
    /// The expectation files' names as written, and the files parsed.
    pub expect_names: Vec<String>,
    pub expect: Vec<Expectations>,
}

#[derive(Clone, Debug)]
pub struct Matrix {
    pub file: String,
    pub configs: Vec<Config>,
}

impl Matrix {
    /// Read a matrix file; expectation files are looked up in its directory (`NAME` or
    /// `NAME.expect`) and parsed now, so that every error is reported before any boot.
    pub fn load(path: &Path) -> Result<Self, ParseError> {
        let (name, text) = crate::expect::read_source(path)?;
        let dir = path.parent().unwrap_or(Path::new("."));
        Self::parse(&name, &text, dir)
    }

    pub fn parse(file: &str, text: &str, dir: &Path) -> Result<Self, ParseError> {
        let err = |line: usize, message: String| ParseError {
            file: file.to_string(),
            line,
            message,
        };
        let mut configs: Vec<Config> = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let n = i + 1;
            let line = match raw.trim_start().starts_with('#') {
                true => "",
                false => raw.trim(),
            };
            if line.is_empty() {
                continue;
            }
            // The name runs to the first `|`, the expectation files from the last; the
            // options between may hold a quoted `|`.
            let columns = line
                .split_once('|')
                .and_then(|(name, rest)| rest.rsplit_once('|').map(|(o, e)| (name, o, e)));
            let Some((name, options, expect)) = columns else {
                return Err(err(
                    n,
                    format!(
                        "want 'NAME | qemu/run options | expectation files', found {} column(s)",
                        line.split('|').count()
                    ),
                ));
            };
            let (name, options, expect) = (name.trim(), options.trim(), expect.trim());
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
            {
                return Err(err(
                    n,
                    format!("bad configuration name '{name}' (letters, digits, . _ -)"),
                ));
            }
            if let Some(c) = configs.iter().find(|c| c.name == name) {
                return Err(err(
                    n,
                    format!("configuration '{name}' is already on line {}", c.line),
                ));
            }
            let words = split_words(options).map_err(|e| err(n, e))?;
            if words.iter().any(|w| w == "|") {
                return Err(err(
                    n,
                    format!(
                        "want 'NAME | qemu/run options | expectation files', found {} column(s) \
                         (quote a '|' that belongs to an option)",
                        line.split('|').count()
                    ),
                ));
            }
            let run = parse_run_args(words.clone()).map_err(|e| err(n, e))?;
            let runner = [
                ("--kernel", run.kernel.is_some()),
                ("--log", run.log.is_some()),
                ("--gdb", run.machine.gdb),
                ("--help", run.help),
            ];
            if let Some((opt, _)) = runner.iter().find(|r| r.1) {
                // Help is named as written (-h or --help).
                let w = match *opt {
                    "--help" if words.iter().any(|w| w == "-h") => "-h",
                    o => o,
                };
                return Err(err(n, format!("{w} cannot be used in a matrix")));
            }
            let expect_names: Vec<String> = expect.split_whitespace().map(String::from).collect();
            if expect_names.is_empty() {
                return Err(err(n, "no expectation files".into()));
            }
            let mut parsed = Vec::new();
            for e in &expect_names {
                let mut p = dir.join(e);
                if !p.is_file() {
                    p = dir.join(format!("{e}.expect"));
                }
                if !p.is_file() {
                    return Err(err(
                        n,
                        format!(
                            "no expectation file '{e}' (or '{e}.expect') in {}",
                            dir.display()
                        ),
                    ));
                }
                parsed.push(Expectations::load(&p)?);
            }
            configs.push(Config {
                name: name.to_string(),
                line: n,
                options: words,
                run,
                expect_names,
                expect: parsed,
            });
        }
        if configs.is_empty() {
            return Err(err(0, "no configurations".into()));
        }
        Ok(Matrix {
            file: file.to_string(),
            configs,
        })
    }
}

/// Split a command line into words as a POSIX shell would for plain words, `'...'`,
/// `"..."` (with `\"` and `\\`) and `\` escapes; no expansions.
pub fn split_words(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => cur.push(c),
                        None => return Err("unclosed single quote".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => cur.push(c),
                            Some(c) => {
                                cur.push('\\');
                                cur.push(c);
                            }
                            None => return Err("unclosed double quote".into()),
                        },
                        Some(c) => cur.push(c),
                        None => return Err("unclosed double quote".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                cur.push(chars.next().ok_or("a lone backslash at the end")?);
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

/// A configuration's result.
#[derive(Clone, Debug)]
pub struct ConfigResult {
    pub name: String,
    pub judged: Judged,
}

/// Boot every configuration (at most `jobs` QEMUs at once), judging each. `progress`
/// gets one line per finished configuration.
pub fn run(
    configs: &[&Config],
    kernel: &Path,
    jobs: usize,
    out_dir: &Path,
    progress: &(dyn Fn(&str) + Sync),
) -> Vec<ConfigResult> {
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<ConfigResult>>> = Mutex::new(vec![None; configs.len()]);
    std::thread::scope(|s| {
        for _ in 0..jobs.clamp(1, configs.len().max(1)) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(c) = configs.get(i) else { break };
                    let log = out_dir.join(format!("{}.log", c.name));
                    let judged = judge(
                        &c.run.machine,
                        kernel,
                        c.run.timeout,
                        &c.expect,
                        &log,
                        false,
                    );
                    let n = done.fetch_add(1, Ordering::SeqCst) + 1;
                    let time = judged.outcome.as_ref().map_or(String::new(), |o| {
                        format!(" {:.2} s", o.duration.as_secs_f64())
                    });
                    progress(&format!(
                        "matrix: [{n}/{}] {} {}{time}",
                        configs.len(),
                        c.name,
                        judged.status.name()
                    ));
                    results.lock().unwrap()[i] = Some(ConfigResult {
                        name: c.name.clone(),
                        judged,
                    });
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap()
        .into_iter()
        .map(|r| r.expect("every configuration ran"))
        .collect()
}

fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 && b % (1 << 30) == 0 => format!("{}G", b >> 30),
        b => format!("{}M", b >> 20),
    }
}

/// A short description of a machine: `vof 2G 16M numa=1G,1G smp=2 power8`.
pub fn describe_machine(m: &Machine) -> String {
    let mut s = format!(
        "{} {} {}",
        match m.firmware {
            Firmware::Slof => "slof",
            Firmware::Vof => "vof",
            Firmware::None => "fdt",
        },
        size(m.memory),
        if m.hpt_16m { "16M" } else { "64K" }
    );
    if !m.numa.is_empty() {
        let nodes: Vec<String> = m.numa.iter().map(|&b| size(b)).collect();
        s.push_str(&format!(" numa={}", nodes.join(",")));
    }
    if m.smp > 1 {
        s.push_str(&format!(" smp={}", m.smp));
    }
    if let Some(cpu) = &m.cpu {
        s.push_str(&format!(" {cpu}"));
    }
    s
}

/// The results as a table (one row per configuration, then every failed expectation).
pub fn table(configs: &[&Config], results: &[ConfigResult]) -> String {
    let mut rows = vec![
        [
            "CONFIG", "MACHINE", "ORDER", "RESULT", "TIME", "VMEMMAP", "MAPPINGS", "FAILS", "KTAP",
            "CHECKS",
        ]
        .map(String::from),
    ];
    for (c, r) in configs.iter().zip(results) {
        let j = &r.judged;
        let (fields, time, ktap) = match &j.outcome {
            Some(o) => {
                let f = sparse_init_fields(o.messages());
                let ktap = match o.ktap() {
                    Ok(d) => {
                        let (all, ok, _) = ktap_counts(&d);
                        format!("{ok}/{all}")
                    }
                    Err(_) => "-".into(),
                };
                (f, format!("{:.2}s", o.duration.as_secs_f64()), ktap)
            }
            None => (Default::default(), "-".into(), "-".into()),
        };
        let field = |k: &str| fields.get(k).cloned().unwrap_or_else(|| "-".into());
        let order = match fields.get("order") {
            Some(o) => o.clone(),
            None => "-".into(),
        };
        let met = j.checks.iter().filter(|c| c.ok).count();
        rows.push([
            c.name.clone(),
            describe_machine(&c.run.machine),
            order,
            j.status.name().to_string(),
            time,
            field("vmemmap_pages"),
            field("mappings"),
            field("map_failures"),
            ktap,
            format!("{met}/{}", j.checks.len()),
        ]);
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in &rows {
        let cells: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    for r in results {
        let j = &r.judged;
        if j.status == Status::Pass {
            continue;
        }
        out.push_str(&format!(
            "{}: {}; log: {}\n",
            r.name,
            j.summary(),
            j.log.display()
        ));
        if j.implicit_success == Some(false) {
            out.push_str(&format!(
                "  no file states the exit status, so the kernel must report success: {}\n",
                j.outcome.as_ref().map_or("-", |o| o.verdict.name())
            ));
        }
        for c in j.failed_checks() {
            out.push_str(&format!("  {c}\n"));
        }
    }
    out
}

/// Leaf cases: (all, passed, skipped).
fn ktap_counts(doc: &Document) -> (usize, usize, usize) {
    let leaves = doc.leaves();
    let count = |f: fn(&TestResult) -> bool| leaves.iter().filter(|(_, r)| f(r)).count();
    (
        leaves.len(),
        count(TestResult::passed),
        count(|r| r.directive == Some(Directive::Skip)),
    )
}

fn ktap_json(doc: &Document) -> Value {
    let (all, ok, skipped) = ktap_counts(doc);
    let cases: Vec<Value> = doc
        .leaves()
        .into_iter()
        .map(|(name, r)| {
            json!({
                "name": name,
                "ok": r.passed(),
                "skip": r.directive == Some(Directive::Skip),
                "diag": r.diag,
            })
        })
        .collect();
    json!({
        "cases": all,
        "ok": ok,
        "not_ok": all - ok,
        "skipped": skipped,
        "results": cases,
    })
}

/// A `sparse_init:` field as JSON: numbers as numbers, a unit suffix moved into the key
/// (`time=5800us` is `time_us: 5800`, `memmap=16384K` is `memmap_kib: 16384`,
/// `usemap=1024B` is `usemap_bytes: 1024`); the page size stays a name (`psize: "64K"`).
fn field_json(k: &str, v: &str) -> (String, Value) {
    if k == "psize" {
        return (k.to_string(), json!(v));
    }
    for (suffix, unit) in [("us", "us"), ("K", "kib"), ("B", "bytes")] {
        if let Some(n) = v.strip_suffix(suffix).and_then(|n| n.parse::<u64>().ok()) {
            return (format!("{k}_{unit}"), json!(n));
        }
    }
    match v.parse::<u64>() {
        Ok(n) => (k.to_string(), json!(n)),
        Err(_) => (k.to_string(), json!(v)),
    }
}

/// The last printk timestamp of the boot, in seconds.
fn last_timestamp(console: &str) -> Option<f64> {
    console
        .lines()
        .rev()
        .filter(|l| crate::boot::is_kernel_line(l))
        .find_map(|l| l[1..l.find(']')?].trim().parse().ok())
}

/// The machine-readable report.
pub fn report_json(
    matrix: &Matrix,
    configs: &[&Config],
    results: &[ConfigResult],
    kernel: &Path,
    jobs: usize,
    wall: Duration,
) -> Value {
    let mut rows = Vec::new();
    for (c, r) in configs.iter().zip(results) {
        let j = &r.judged;
        let m = &c.run.machine;
        let mut row = json!({
            "name": c.name,
            "line": c.line,
            "options": c.options,
            "machine": {
                "firmware": match m.firmware { Firmware::Slof => "slof", Firmware::Vof => "vof", Firmware::None => "fdt" },
                "memory": m.memory,
                "hpt_16m": m.hpt_16m,
                "numa": m.numa,
                "cpu": m.cpu,
                "smp": m.smp,
                "reserve_off": m.reserve_off,
                "append": m.append,
                "extra": m.extra,
            },
            "expectations": c.expect.iter().map(|e| e.file.clone()).collect::<Vec<_>>(),
            "status": j.status.name(),
            "log": j.log.display().to_string(),
            "error": j.error,
            "implicit_success": j.implicit_success,
            "checks": j.checks.iter().map(|k| json!({
                "file": k.file, "line": k.line, "directive": k.directive,
                "ok": k.ok, "detail": k.detail,
            })).collect::<Vec<_>>(),
            "failed_checks": j.failed_checks().count(),
            "durations": {
                "dtb_dump_s": j.dtb_duration.map(|d| d.as_secs_f64()),
            },
        });
        if let Some(o) = &j.outcome {
            row["qemu"] = json!(crate::machine::shell_quote(&o.command));
            row["verdict"] = json!(o.verdict.name());
            row["reason"] = json!(o.reason);
            row["exit"] = json!(o.verdict.exit_code());
            row["qemu_status"] = json!(o.qemu_status);
            row["durations"]["boot_s"] = json!(o.duration.as_secs_f64());
            row["durations"]["kernel_last_timestamp_s"] = json!(last_timestamp(&o.console));
            row["sparse_init"] = Value::Object(
                sparse_init_fields(o.messages())
                    .iter()
                    .map(|(k, v)| field_json(k, v))
                    .collect(),
            );
            row["ktap"] = match o.ktap() {
                Ok(d) => ktap_json(&d),
                Err(e) => json!({ "error": e.to_string() }),
            };
        }
        rows.push(row);
    }
    let count = |s: Status| results.iter().filter(|r| r.judged.status == s).count();
    json!({
        "matrix": matrix.file,
        "kernel": kernel.display().to_string(),
        "jobs": jobs,
        "wall_s": wall.as_secs_f64(),
        "summary": {
            "configs": results.len(),
            "pass": count(Status::Pass),
            "fail": count(Status::Fail),
            "error": count(Status::Error),
        },
        "configs": rows,
    })
}

#[cfg(test)]
mod tests;
