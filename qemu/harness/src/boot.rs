//! Boot a machine, stream and capture its console, and classify the result.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::exit;
use crate::machine::{Firmware, Machine, boot_rom_bytes, shell_quote};

#[derive(Clone, Debug, Default)]
pub struct BootOptions {
    /// Kill QEMU after this long (None: wait forever).
    pub timeout: Option<Duration>,
    /// Write the console log (CR stripped) here.
    pub log: Option<PathBuf>,
    /// Copy QEMU's output to our stdout/stderr while it runs.
    pub echo: bool,
    /// Kill QEMU as soon as a console line containing this text is complete (a kernel
    /// that never powers off, such as Linux without a root filesystem, timed to a line).
    pub stop_at: Option<String>,
}

/// How a boot ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// `reboot: Power down` was the kernel's last line and QEMU exited 0.
    Success,
    /// The kernel reported failure (QEMU exited 1 after the kernel started) or ended
    /// without reporting success.
    KernelFailure,
    /// QEMU failed before the kernel printed anything (bad options, missing firmware...).
    QemuError,
    /// Killed after the timeout.
    Timeout,
}

impl Verdict {
    pub fn exit_code(self) -> i32 {
        match self {
            Verdict::Success => exit::SUCCESS,
            Verdict::KernelFailure => exit::KERNEL_FAILURE,
            Verdict::QemuError => exit::QEMU_ERROR,
            Verdict::Timeout => exit::TIMEOUT,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Success => "success",
            Verdict::KernelFailure => "kernel failure",
            Verdict::QemuError => "QEMU error",
            Verdict::Timeout => "timeout",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Outcome {
    pub verdict: Verdict,
    /// QEMU's exit status (None when killed or ended by a signal).
    pub qemu_status: Option<i32>,
    /// Everything QEMU wrote to stdout (the console), CR stripped.
    pub console: String,
    /// QEMU's stderr (its own messages, e.g. `OS terminated: ...`).
    pub stderr: String,
    pub duration: Duration,
    /// The QEMU command line, binary first.
    pub command: Vec<String>,
    /// Why the verdict is what it is, in one line.
    pub reason: String,
    /// When each part of the console arrived.
    pub timing: ConsoleTiming,
    /// QEMU was killed on [`BootOptions::stop_at`]'s line (the verdict then only says
    /// the boot did not end by itself).
    pub stopped: bool,
}

/// When the console arrived, measured from QEMU's launch.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ConsoleTiming {
    /// For every line of [`Outcome::console`] (split at `\n`): when its first byte and
    /// its end (the `\n`, or the end of output) arrived.
    pub lines: Vec<(Duration, Duration)>,
    /// When QEMU's stdout closed (QEMU exited, or was killed).
    pub eof: Option<Duration>,
}

impl ConsoleTiming {
    /// Line arrival times from the raw output and the chunks it arrived in: `chunks` holds
    /// (end offset in `raw`, arrival time), offsets increasing.
    pub fn from_chunks(raw: &[u8], chunks: &[(usize, Duration)], eof: Option<Duration>) -> Self {
        let arrival = |offset: usize| {
            let i = chunks.partition_point(|&(end, _)| end <= offset);
            chunks
                .get(i)
                .or(chunks.last())
                .map_or(Duration::ZERO, |c| c.1)
        };
        let mut lines = Vec::new();
        let mut start = 0;
        for (i, &b) in raw.iter().enumerate() {
            if b == b'\n' {
                lines.push((arrival(start), arrival(i)));
                start = i + 1;
            }
        }
        // The text after the last newline is a line too (as `split('\n')` sees it).
        let end = raw.len().saturating_sub(1).max(start);
        lines.push((arrival(start), arrival(end)));
        ConsoleTiming { lines, eof }
    }
}

impl Outcome {
    /// The kernel's own log lines (`[    0.001234] ...`), firmware chatter left out.
    pub fn kernel_lines(&self) -> impl Iterator<Item = &str> {
        self.console.lines().filter(|l| is_kernel_line(l))
    }
    /// The kernel's lines without their timestamps.
    pub fn messages(&self) -> impl Iterator<Item = &str> {
        self.kernel_lines().map(strip_timestamp)
    }
    /// The first kernel line whose message (timestamp stripped) satisfies `want`, with
    /// when its first byte and its end arrived.
    pub fn find_line(&self, want: impl Fn(&str) -> bool) -> Option<(&str, Duration, Duration)> {
        self.console
            .split('\n')
            .zip(&self.timing.lines)
            .find(|(l, _)| is_kernel_line(l) && want(strip_timestamp(l)))
            .map(|(l, &(s, e))| (strip_timestamp(l), s, e))
    }
    /// The boot's KTAP document (the self-checks), parsed strictly.
    pub fn ktap(&self) -> Result<crate::ktap::Document, crate::ktap::Error> {
        crate::ktap::parse(&self.console)
    }
}

/// Is this a printk line (`[SSSSS.UUUUUU] `)?
pub fn is_kernel_line(line: &str) -> bool {
    timestamp_len(line).is_some()
}

fn timestamp_len(line: &str) -> Option<usize> {
    let rest = line.strip_prefix('[')?;
    let close = rest.find("] ")?;
    let stamp = rest[..close].trim_start();
    let (secs, micros) = stamp.split_once('.')?;
    let ok = !secs.is_empty()
        && secs.bytes().all(|b| b.is_ascii_digit())
        && micros.len() == 6
        && micros.bytes().all(|b| b.is_ascii_digit());
    ok.then_some(close + 3)
}

/// A printk line without its timestamp (other lines unchanged).
pub fn strip_timestamp(line: &str) -> &str {
    match timestamp_len(line) {
        Some(n) => &line[n..],
        None => line,
    }
}

/// Decide the verdict from QEMU's status and the console.
pub fn classify(
    status: Option<i32>,
    timed_out: bool,
    console: &str,
    stderr: &str,
) -> (Verdict, String) {
    let mut kernel = console.lines().filter(|l| is_kernel_line(l)).peekable();
    let started = kernel.peek().is_some();
    let last = kernel.last().map(strip_timestamp);
    if timed_out {
        let last_any = console.lines().rev().find(|l| !l.trim().is_empty());
        let what = match (last, last_any) {
            (Some(l), _) => format!("last kernel line: {l}"),
            (None, Some(l)) => format!("no kernel log line; last console line: {}", l.trim()),
            (None, None) => "nothing on the console".to_string(),
        };
        return (Verdict::Timeout, format!("timed out; {what}"));
    }
    let panic_line = console
        .lines()
        .map(strip_timestamp)
        .find(|l| l.starts_with("Kernel panic - not syncing: "));
    match (status, last) {
        (Some(0), Some("reboot: Power down")) => (Verdict::Success, "reboot: Power down".into()),
        (Some(0), Some(l)) => (
            Verdict::KernelFailure,
            format!("QEMU exited 0 but the kernel's last line is not 'reboot: Power down': {l}"),
        ),
        (Some(1), _) if started => (
            Verdict::KernelFailure,
            panic_line
                .map(String::from)
                .unwrap_or_else(|| "QEMU exited 1 without a panic line".into()),
        ),
        // The kernel ended itself (RTAS ibm,os-term) before its first log line.
        (Some(1), _) if stderr.contains("OS terminated") => (
            Verdict::KernelFailure,
            format!(
                "the kernel terminated before its first log line: {}",
                stderr
                    .lines()
                    .find(|l| l.contains("OS terminated"))
                    .unwrap_or("")
                    .trim()
            ),
        ),
        (st, _) if !started => {
            let first_err = stderr.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
            (
                Verdict::QemuError,
                format!(
                    "QEMU exited with {} before the kernel printed anything{}{}",
                    st.map_or("a signal".to_string(), |s| format!("status {s}")),
                    if first_err.is_empty() { "" } else { ": " },
                    first_err
                ),
            )
        }
        (st, _) => (
            Verdict::KernelFailure,
            format!(
                "QEMU ended with {} after the kernel started",
                st.map_or("a signal".to_string(), |s| format!("status {s}"))
            ),
        ),
    }
}

/// Where a stream is copied while QEMU runs.
type Echo = Option<Box<dyn Write + Send>>;

/// What a stream delivered: its bytes, the chunks' arrival (end offset, time since
/// launch) and when it closed.
struct Pumped {
    all: Vec<u8>,
    chunks: Vec<(usize, Duration)>,
    eof: Duration,
}

/// Copy `src` until it closes. With `stop`, set the flag once a complete line contains
/// the text.
fn pump(
    mut src: impl Read + Send + 'static,
    echo: Echo,
    start: Instant,
    stop: Option<(String, Arc<AtomicBool>)>,
) -> std::thread::JoinHandle<Pumped> {
    std::thread::spawn(move || {
        let mut all = Vec::new();
        let mut chunks = Vec::new();
        let mut echo = echo;
        let mut buf = [0u8; 4096];
        // Where the first line not yet searched for `stop` starts.
        let mut searched = 0;
        loop {
            match src.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let now = start.elapsed();
                    all.extend_from_slice(&buf[..n]);
                    chunks.push((all.len(), now));
                    if let Some((text, flag)) = &stop {
                        while let Some(nl) = all[searched..].iter().position(|&b| b == b'\n') {
                            let line = &all[searched..searched + nl];
                            if line.windows(text.len()).any(|w| w == text.as_bytes()) {
                                flag.store(true, Ordering::Release);
                            }
                            searched += nl + 1;
                        }
                    }
                    if let Some(w) = echo.as_mut() {
                        // A closed stdout (e.g. piped into head) must not stop the capture.
                        let _ = w.write_all(&buf[..n]).and_then(|_| w.flush());
                    }
                }
            }
        }
        Pumped {
            all,
            chunks,
            eof: start.elapsed(),
        }
    })
}

/// Where the firmware-less boot ROM is written.
fn boot_rom_path() -> PathBuf {
    crate::repo_root().join("target/qemu/bootrom.bin")
}

/// The QEMU command line (binary first) for booting `kernel` on `machine`.
pub fn command_line(machine: &Machine, kernel: &Path) -> Vec<String> {
    let rom = boot_rom_path();
    let mut cmd = vec![crate::qemu_binary()];
    cmd.extend(machine.qemu_args(kernel, Some(&rom)));
    cmd
}

/// Boot `kernel` on `machine`. `Err` only when QEMU could not be started at all.
pub fn boot(machine: &Machine, kernel: &Path, opts: &BootOptions) -> Result<Outcome, String> {
    if machine.firmware == Firmware::None {
        let rom = boot_rom_path();
        std::fs::create_dir_all(rom.parent().unwrap())
            .map_err(|e| format!("{}: {e}", rom.display()))?;
        // Boots run in parallel: never truncate a ROM another QEMU may be reading.
        if std::fs::read(&rom).ok().as_deref() != Some(&boot_rom_bytes()[..]) {
            static WRITES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let tmp = rom.with_extension(format!("tmp{}.{n}", std::process::id()));
            std::fs::write(&tmp, boot_rom_bytes())
                .and_then(|_| std::fs::rename(&tmp, &rom))
                .map_err(|e| format!("{}: {e}", rom.display()))?;
        }
    }
    let command = command_line(machine, kernel);
    let start = Instant::now();
    let mut child = Command::new(&command[0])
        .args(&command[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", command[0]))?;
    let (out_echo, err_echo): (Echo, Echo) = if opts.echo {
        (
            Some(Box::new(std::io::stdout())),
            Some(Box::new(std::io::stderr())),
        )
    } else {
        (None, None)
    };
    let stop_flag = Arc::new(AtomicBool::new(false));
    let stop = opts
        .stop_at
        .clone()
        .filter(|t| !t.is_empty())
        .map(|t| (t, stop_flag.clone()));
    let out = pump(child.stdout.take().unwrap(), out_echo, start, stop);
    let err = pump(child.stderr.take().unwrap(), err_echo, start, None);
    let mut timed_out = false;
    let mut stopped = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break st.code(),
            Ok(None) => {}
            Err(e) => return Err(format!("waiting for QEMU: {e}")),
        }
        if stop_flag.load(Ordering::Acquire) {
            let _ = child.kill();
            let _ = child.wait();
            stopped = true;
            break None;
        }
        if let Some(t) = opts.timeout
            && start.elapsed() >= t
        {
            let _ = child.kill();
            let _ = child.wait();
            timed_out = true;
            break None;
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    let duration = start.elapsed();
    let joined = |h: std::thread::JoinHandle<Pumped>| {
        h.join().unwrap_or(Pumped {
            all: Vec::new(),
            chunks: Vec::new(),
            eof: duration,
        })
    };
    let out = joined(out);
    let timing = ConsoleTiming::from_chunks(&out.all, &out.chunks, Some(out.eof));
    let console = String::from_utf8_lossy(&out.all).replace('\r', "");
    let stderr = String::from_utf8_lossy(&joined(err).all).into_owned();
    let (verdict, mut reason) = classify(status, timed_out, &console, &stderr);
    if stopped {
        reason = format!(
            "stopped at the line containing '{}'",
            opts.stop_at.as_deref().unwrap_or("")
        );
    }
    if let Some(log) = &opts.log {
        if let Some(dir) = log.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let mut text = format!("# {}\n", shell_quote(&command));
        text.push_str(&console);
        if !stderr.is_empty() {
            text.push_str("\n# QEMU stderr:\n");
            text.push_str(&stderr);
        }
        text.push_str(&format!(
            "\n# verdict: {} ({}) in {:.3} s\n",
            verdict.name(),
            reason,
            duration.as_secs_f64()
        ));
        std::fs::write(log, text).map_err(|e| format!("{}: {e}", log.display()))?;
    }
    Ok(Outcome {
        verdict,
        qemu_status: status,
        console,
        stderr,
        duration,
        command,
        reason,
        timing,
        stopped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_arrival_times_follow_the_chunks() {
        let ms = Duration::from_millis;
        // "ab\ncd" arrives in one chunk, "e\n" in a second, "fg" (no newline) in a third.
        let raw = b"ab\ncde\nfg";
        let t = ConsoleTiming::from_chunks(raw, &[(5, ms(10)), (7, ms(20)), (9, ms(30))], None);
        assert_eq!(
            t.lines,
            vec![(ms(10), ms(10)), (ms(10), ms(20)), (ms(30), ms(30))]
        );
        // Trailing newline: an empty last line, at the last chunk's time.
        let t = ConsoleTiming::from_chunks(b"x\n", &[(2, ms(5))], Some(ms(7)));
        assert_eq!(t.lines, vec![(ms(5), ms(5)), (ms(5), ms(5))]);
        assert_eq!(t.eof, Some(ms(7)));
        // No output at all: one empty line at zero.
        let t = ConsoleTiming::from_chunks(b"", &[], None);
        assert_eq!(t.lines, vec![(Duration::ZERO, Duration::ZERO)]);
    }

    #[test]
    fn find_line_gives_the_arrival_of_the_first_match() {
        let ms = Duration::from_millis;
        let console = "SLOF\n[    0.000100] a\n[    0.000200] sparse_init: x\n[    0.000300] sparse_init: y\n";
        let raw = console.as_bytes();
        let chunks: Vec<(usize, Duration)> = (1..=raw.len()).map(|i| (i, ms(i as u64))).collect();
        let o = Outcome {
            verdict: Verdict::Success,
            qemu_status: Some(0),
            console: console.into(),
            stderr: String::new(),
            duration: ms(100),
            command: vec![],
            reason: String::new(),
            timing: ConsoleTiming::from_chunks(raw, &chunks, None),
            stopped: false,
        };
        let (msg, first, end) = o.find_line(|m| m.starts_with("sparse_init:")).unwrap();
        assert_eq!(msg, "sparse_init: x");
        let at = console.find("[    0.000200]").unwrap();
        assert_eq!(first, ms(at as u64 + 1));
        assert_eq!(
            end,
            ms((at + "[    0.000200] sparse_init: x".len()) as u64 + 1)
        );
        // Firmware lines are never matched.
        assert!(o.find_line(|m| m == "SLOF").is_none());
    }

    #[test]
    fn kernel_lines_are_recognised() {
        assert!(is_kernel_line("[    0.001234] hello"));
        assert!(is_kernel_line("[12345.000000] "));
        assert!(!is_kernel_line("[    0.00123] short"));
        assert!(!is_kernel_line("Booting from memory..."));
        assert!(!is_kernel_line("[ x.000000] bad"));
        assert_eq!(
            strip_timestamp("[    0.001234] reboot: Power down"),
            "reboot: Power down"
        );
        assert_eq!(strip_timestamp("SLOF"), "SLOF");
    }

    const OK: &str =
        "SLOF junk\n[    0.1] no\n[    0.000100] a\n[    0.000200] reboot: Power down\n";
    const PANIC: &str = "[    0.000100] a\n[    0.000200] Kernel panic - not syncing: boom\n[    0.000300] ---[ end Kernel panic - not syncing: boom ]---\n";

    #[test]
    fn classification() {
        assert_eq!(classify(Some(0), false, OK, "").0, Verdict::Success);
        let (v, r) = classify(Some(1), false, PANIC, "OS terminated: boom");
        assert_eq!(v, Verdict::KernelFailure);
        assert_eq!(r, "Kernel panic - not syncing: boom");
        // Exit 0 without the power-down line is not success.
        assert_eq!(
            classify(Some(0), false, PANIC, "").0,
            Verdict::KernelFailure
        );
        // QEMU failing before the kernel ran is QEMU's problem.
        let (v, r) = classify(Some(1), false, "", "qemu-system-ppc64: bad option\n");
        assert_eq!(v, Verdict::QemuError);
        assert!(r.ends_with("bad option"), "{r}");
        assert_eq!(classify(None, true, OK, "").0, Verdict::Timeout);
        assert_eq!(classify(None, false, PANIC, "").0, Verdict::KernelFailure);
        assert_eq!(classify(Some(0), false, "", "").0, Verdict::QemuError);
        // ibm,os-term before the first printk line is still the kernel's failure.
        let (v, r) = classify(
            Some(1),
            false,
            "sparsek: early\n",
            "qemu-system-ppc64: OS terminated: no tree\n",
        );
        assert_eq!(v, Verdict::KernelFailure);
        assert!(r.ends_with("OS terminated: no tree"), "{r}");
    }
}
