//! printk: Linux-style kernel log lines on whatever console the architecture registers.
//!
//! Every record is printed as `[SSSSS.UUUUUU] <prefix><message>`, the timestamp taken from
//! the registered clock (seconds since kernel entry), the prefix being the calling module's
//! `PR_PREFIX` (`"memblock: "`, `"hash-mmu: "`, ...). A record is printed when its level is
//! below the console log level, as in Linux: `loglevel=N` sets it, `debug` makes it 8,
//! `quiet` makes it 4; the default is 7 (everything but debug).
//!
//! Each module that logs declares its prefix, which the `pr_*!` macros pick up at the call
//! site:
//! ```
//! use sparsek::pr_info;
//! const PR_PREFIX: &str = "memblock: ";
//! pr_info!("reserved {} bytes", 4096);
//! ```

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicU8, Ordering};

/// Kernel log levels, numbered as in Linux (`KERN_EMERG` = 0 ... `KERN_DEBUG` = 7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Level {
    Emerg = 0,
    Alert = 1,
    Crit = 2,
    Err = 3,
    Warning = 4,
    Notice = 5,
    Info = 6,
    Debug = 7,
}

/// Linux's default console log level: print everything but debug messages.
pub const CONSOLE_LOGLEVEL_DEFAULT: u8 = 7;
/// The level `debug` selects (every message, including `pr_debug!`).
pub const CONSOLE_LOGLEVEL_DEBUG: u8 = 8;
/// The level `quiet` selects (only errors and worse).
pub const CONSOLE_LOGLEVEL_QUIET: u8 = 4;

/// Where log bytes go. Implementations must not log themselves.
pub trait Console: Sync {
    fn write_bytes(&self, bytes: &[u8]);
}

struct Sink {
    console: Option<&'static dyn Console>,
    /// Nanoseconds since kernel entry.
    clock: fn() -> u64,
}

fn zero_clock() -> u64 {
    0
}

static SINK: spin::Mutex<Sink> = spin::Mutex::new(Sink {
    console: None,
    clock: zero_clock,
});
static CONSOLE_LOGLEVEL: AtomicU8 = AtomicU8::new(CONSOLE_LOGLEVEL_DEFAULT);

/// Register the console every record is written to.
pub fn set_console(console: &'static dyn Console) {
    SINK.lock().console = Some(console);
}

/// Register the timestamp source (nanoseconds since kernel entry).
pub fn set_clock(clock: fn() -> u64) {
    SINK.lock().clock = clock;
}

pub fn set_console_loglevel(level: u8) {
    CONSOLE_LOGLEVEL.store(level, Ordering::Relaxed);
}

pub fn console_loglevel() -> u8 {
    CONSOLE_LOGLEVEL.load(Ordering::Relaxed)
}

/// Would a record of this level reach the console?
pub fn enabled(level: Level) -> bool {
    (level as u8) < console_loglevel()
}

/// Make the log usable from a context that may have interrupted a printk in progress (an
/// exception or panic on the only CPU): the interrupted record is abandoned.
///
/// # Safety
/// No other CPU may be printing; the caller is on the way to stopping the kernel.
pub unsafe fn emergency_unlock() {
    // SAFETY: the caller guarantees the lock holder (if any) was interrupted on this CPU
    // and will never run again, so the data it protected is not in concurrent use.
    unsafe { SINK.force_unlock() };
}

/// Format the Linux timestamp prefix `[%5lu.%06lu] ` for a time in nanoseconds.
pub fn write_timestamp(w: &mut impl Write, ns: u64) -> fmt::Result {
    write!(
        w,
        "[{:5}.{:06}] ",
        ns / 1_000_000_000,
        (ns % 1_000_000_000) / 1000
    )
}

/// Writes lines to the console, starting each with the timestamp and prefix and ending it
/// with CR LF (what Linux's tty layer puts on the wire for a console).
struct LineWriter<'a> {
    console: &'a dyn Console,
    ns: u64,
    prefix: &'a str,
    at_line_start: bool,
}

impl LineWriter<'_> {
    fn start_line(&mut self) {
        let mut stamp = StackString::<24>::new();
        // Cannot fail: the timestamp always fits in 24 bytes (u64 seconds is 20 digits).
        let _ = write_timestamp(&mut stamp, self.ns);
        self.console.write_bytes(stamp.as_bytes());
        self.console.write_bytes(self.prefix.as_bytes());
        self.at_line_start = false;
    }
}

impl Write for LineWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for (i, part) in s.split('\n').enumerate() {
            if i > 0 {
                if self.at_line_start {
                    self.start_line();
                }
                self.console.write_bytes(b"\r\n");
                self.at_line_start = true;
            }
            if !part.is_empty() {
                if self.at_line_start {
                    self.start_line();
                }
                self.console.write_bytes(part.as_bytes());
            }
        }
        Ok(())
    }
}

/// Print one record. Use the `pr_*!` macros rather than calling this directly.
pub fn printk(level: Level, prefix: &str, args: fmt::Arguments) {
    if !enabled(level) {
        return;
    }
    let sink = SINK.lock();
    let Some(console) = sink.console else {
        return;
    };
    let mut w = LineWriter {
        console,
        ns: (sink.clock)(),
        prefix,
        at_line_start: true,
    };
    // LineWriter never fails; a Display impl that fails only truncates its own record.
    let _ = w.write_fmt(args);
    if w.at_line_start {
        w.start_line();
    }
    console.write_bytes(b"\r\n");
}

/// A fixed-capacity string for formatting without the heap (truncates when full).
pub struct StackString<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> StackString<N> {
    pub const fn new() -> Self {
        Self {
            buf: [0; N],
            len: 0,
        }
    }
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
    pub fn as_str(&self) -> &str {
        // Only whole UTF-8 characters are ever appended (see write_str).
        core::str::from_utf8(self.as_bytes()).unwrap_or("")
    }
}

impl<const N: usize> Default for StackString<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Write for StackString<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for c in s.chars() {
            let mut tmp = [0u8; 4];
            let enc = c.encode_utf8(&mut tmp).as_bytes();
            if self.len + enc.len() > N {
                return Err(fmt::Error);
            }
            self.buf[self.len..self.len + enc.len()].copy_from_slice(enc);
            self.len += enc.len();
        }
        Ok(())
    }
}

#[doc(hidden)]
#[macro_export]
macro_rules! __printk {
    ($level:expr, $($arg:tt)*) => {
        $crate::printk::printk($level, PR_PREFIX, format_args!($($arg)*))
    };
}

/// `KERN_EMERG`: the system is unusable (panics, power-down).
#[macro_export]
macro_rules! pr_emerg { ($($arg:tt)*) => { $crate::__printk!($crate::printk::Level::Emerg, $($arg)*) }; }
/// `KERN_ALERT`.
#[macro_export]
macro_rules! pr_alert { ($($arg:tt)*) => { $crate::__printk!($crate::printk::Level::Alert, $($arg)*) }; }
/// `KERN_CRIT`.
#[macro_export]
macro_rules! pr_crit { ($($arg:tt)*) => { $crate::__printk!($crate::printk::Level::Crit, $($arg)*) }; }
/// `KERN_ERR`.
#[macro_export]
macro_rules! pr_err { ($($arg:tt)*) => { $crate::__printk!($crate::printk::Level::Err, $($arg)*) }; }
/// `KERN_WARNING`.
#[macro_export]
macro_rules! pr_warn { ($($arg:tt)*) => { $crate::__printk!($crate::printk::Level::Warning, $($arg)*) }; }
/// `KERN_NOTICE`.
#[macro_export]
macro_rules! pr_notice { ($($arg:tt)*) => { $crate::__printk!($crate::printk::Level::Notice, $($arg)*) }; }
/// `KERN_INFO`.
#[macro_export]
macro_rules! pr_info { ($($arg:tt)*) => { $crate::__printk!($crate::printk::Level::Info, $($arg)*) }; }
/// `KERN_DEBUG`: shown with `debug` or `loglevel=8`.
#[macro_export]
macro_rules! pr_debug { ($($arg:tt)*) => { $crate::__printk!($crate::printk::Level::Debug, $($arg)*) }; }

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::string::String;
    use std::sync::Mutex as StdMutex;
    use std::vec::Vec;

    struct Capture(StdMutex<Vec<u8>>);
    impl Console for Capture {
        fn write_bytes(&self, bytes: &[u8]) {
            self.0.lock().unwrap().extend_from_slice(bytes);
        }
    }

    #[test]
    fn timestamp_format_matches_linux() {
        let mut s = String::new();
        write_timestamp(&mut s, 1_234_567).unwrap();
        assert_eq!(s, "[    0.001234] ");
        s.clear();
        write_timestamp(&mut s, 123_456_789_012_345).unwrap();
        assert_eq!(s, "[123456.789012] ");
    }

    #[test]
    fn stack_string_truncates_without_splitting_chars() {
        let mut s = StackString::<4>::new();
        assert!(write!(s, "abé").is_ok());
        assert_eq!(s.as_str(), "abé");
        assert!(write!(s, "x").is_err());
        assert_eq!(s.as_str(), "abé");
    }

    // One test owns the global sink, so records from other tests cannot interleave.
    #[test]
    fn records_get_timestamp_prefix_and_level_filter() {
        static CAP: Capture = Capture(StdMutex::new(Vec::new()));
        fn clock() -> u64 {
            2_500_000_000
        }
        set_console(&CAP);
        set_clock(clock);
        const PR_PREFIX: &str = "test: ";
        set_console_loglevel(CONSOLE_LOGLEVEL_DEFAULT);
        crate::pr_info!("hello {}", 42);
        crate::pr_debug!("hidden");
        crate::pr_err!("two\nlines");
        set_console_loglevel(CONSOLE_LOGLEVEL_DEBUG);
        crate::pr_debug!("shown");
        set_console_loglevel(CONSOLE_LOGLEVEL_QUIET);
        crate::pr_warn!("quiet drops warnings");
        crate::pr_err!("but not errors");
        let out = String::from_utf8(CAP.0.lock().unwrap().clone()).unwrap();
        assert_eq!(
            out,
            "[    2.500000] test: hello 42\r\n\
             [    2.500000] test: two\r\n\
             [    2.500000] test: lines\r\n\
             [    2.500000] test: shown\r\n\
             [    2.500000] test: but not errors\r\n"
        );
    }
}
