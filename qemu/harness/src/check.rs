//! One boot judged by expectation files: what `qemu/bisect-check` and each configuration
//! of `qemu/matrix` do.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::expect::{Boot, Expectations, Vars, Verdict as Check};
use crate::{BootOptions, Machine, Outcome, Verdict};

/// How a judged boot ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Every expectation met (and, unless a file states the exit status, the kernel
    /// reported success).
    Pass,
    /// The kernel failed, hung, or an expectation was not met.
    Fail,
    /// The boot could not be judged: QEMU did not start or failed before the kernel ran,
    /// or the harness could not do its part (dump the tree, write the log).
    Error,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Error => "error",
        }
    }
}

/// A boot and its judgement.
#[derive(Clone, Debug)]
pub struct Judged {
    pub status: Status,
    /// None when QEMU could not be started at all (then `error` says why).
    pub outcome: Option<Outcome>,
    pub checks: Vec<Check>,
    /// The implicit requirement that the kernel succeed, when no file states the exit
    /// status: whether it held.
    pub implicit_success: Option<bool>,
    /// Why the status is `Error`.
    pub error: Option<String>,
    /// Time spent dumping QEMU's device tree (when an expectation needed it).
    pub dtb_duration: Option<Duration>,
    pub log: PathBuf,
}

impl Judged {
    pub fn failed_checks(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| !c.ok)
    }

    /// One line: why the boot passed or failed.
    pub fn summary(&self) -> String {
        let Some(o) = &self.outcome else {
            return self.error.clone().unwrap_or_default();
        };
        if let Some(e) = &self.error {
            return e.clone();
        }
        let failed: Vec<_> = self.failed_checks().collect();
        let verdict = format!("{} ({})", o.verdict.name(), o.reason);
        match (failed.first(), self.implicit_success) {
            (None, Some(false)) => verdict,
            (None, _) if self.checks.is_empty() => verdict,
            (None, _) => format!(
                "{verdict}; {} expectation{} met",
                self.checks.len(),
                if self.checks.len() == 1 { "" } else { "s" }
            ),
            (Some(first), _) => format!(
                "{verdict}; {} of {} expectations failed, first {first}",
                failed.len(),
                self.checks.len()
            ),
        }
    }
}

/// Boot `kernel` on `machine` and judge it by `files`. The console log (with the
/// expectations' results appended) goes to `log`; QEMU's dumped tree, when needed, next
/// to it (`.dtb`).
pub fn judge(
    machine: &Machine,
    kernel: &Path,
    timeout: Option<Duration>,
    files: &[Expectations],
    log: &Path,
    echo: bool,
) -> Judged {
    let mut judged = Judged {
        status: Status::Error,
        outcome: None,
        checks: Vec::new(),
        implicit_success: None,
        error: None,
        dtb_duration: None,
        log: log.to_path_buf(),
    };
    let needs_dt = files.iter().any(Expectations::needs_device_tree);
    if needs_dt && !machine.dimms.is_empty() {
        // QEMU's dumped tree has no DIMM memory (it comes with CAS), the kernel's has.
        judged.error = Some(
            "the dt_* facts leave out --dimm memory, which the kernel counts: \
             expectations that use them cannot judge this machine"
                .into(),
        );
        return judged;
    }
    let dt_memory = if needs_dt {
        let start = Instant::now();
        let dtb = log.with_extension("dtb");
        if let Some(dir) = dtb.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        match machine.dumped_memory(&dtb) {
            Ok((_, ranges)) => {
                judged.dtb_duration = Some(start.elapsed());
                Some(ranges)
            }
            Err(e) => {
                judged.error = Some(format!("cannot get QEMU's device tree: {e}"));
                return judged;
            }
        }
    } else {
        None
    };
    let opts = BootOptions {
        timeout,
        log: Some(log.to_path_buf()),
        echo,
        ..Default::default()
    };
    let outcome = match crate::boot(machine, kernel, &opts) {
        Ok(o) => o,
        Err(e) => {
            judged.error = Some(e);
            return judged;
        }
    };
    if outcome.verdict == Verdict::QemuError {
        // QEMU refusing the kernel image is the kernel's failure, not the harness's.
        let refused = format!("error loading {}", kernel.display());
        if kernel.is_file() && outcome.stderr.contains(&refused) {
            judged.status = Status::Fail;
        } else {
            judged.error = Some(format!("QEMU error: {}", outcome.reason));
        }
        judged.outcome = Some(outcome);
        return judged;
    }
    let mut vars = Vars::for_machine(machine, dt_memory);
    let boot = Boot::from_outcome(&outcome);
    for f in files {
        judged.checks.extend(f.evaluate(&boot, &mut vars));
    }
    if !files.iter().any(Expectations::states_exit) {
        judged.implicit_success = Some(outcome.verdict == Verdict::Success);
    }
    let ok = judged.checks.iter().all(|c| c.ok) && judged.implicit_success != Some(false);
    judged.status = if ok { Status::Pass } else { Status::Fail };
    // The expectations' results go after the console in the log.
    let mut text = String::from("\n# expectations:\n");
    if let Some(held) = judged.implicit_success {
        text.push_str(&format!(
            "# {} (no file states the exit status): the kernel reports success\n",
            if held { "met" } else { "FAILED" }
        ));
    }
    for c in &judged.checks {
        text.push_str(&format!("# {c}\n"));
    }
    text.push_str(&format!("# status: {}\n", judged.status.name()));
    use std::io::Write;
    let appended = std::fs::OpenOptions::new()
        .append(true)
        .open(log)
        .and_then(|mut f| f.write_all(text.as_bytes()));
    judged.outcome = Some(outcome);
    if let Err(e) = appended {
        judged.status = Status::Error;
        judged.error = Some(format!("{}: {e}", log.display()));
    }
    judged
}

/// The `key=value` fields of the kernel's `sparse_init:` line, by name.
pub fn sparse_init_fields<'a>(messages: impl Iterator<Item = &'a str>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for m in messages {
        if let Some(rest) = m.strip_prefix("sparse_init: ") {
            for w in rest.split_whitespace() {
                if let Some((k, v)) = w.split_once('=') {
                    out.insert(k.to_string(), v.to_string());
                }
            }
            break;
        }
    }
    out
}

/// Load expectation files; the first error (file:line: message) stops.
pub fn load_all(paths: &[PathBuf]) -> Result<Vec<Expectations>, crate::expect::ParseError> {
    paths.iter().map(|p| Expectations::load(p)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparse_init_fields_are_split() {
        let lines = [
            "Zone ranges:",
            "sparse_init: order=v4.19 sections=128 nodes=1 psize=16M mappings=1 time=5800us",
        ];
        let f = sparse_init_fields(lines.into_iter());
        assert_eq!(f["order"], "v4.19");
        assert_eq!(f["mappings"], "1");
        assert_eq!(f["psize"], "16M");
        assert_eq!(f.len(), 6);
        assert!(sparse_init_fields(["x"].into_iter()).is_empty());
    }
}
