//! First Rust code: gather what the firmware knows, then hand over to start_kernel.
//! Also the two ways out: [`power_off`] (success) and [`fatal`] (failure).

use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use sparsek::bootparam::BootParams;
use sparsek::fdt::Fdt;
use sparsek::printk::{self, StackString};
use sparsek::{pr_emerg, pr_err};

use super::exceptions::FirmwareWindow;
use super::firmware::Firmware;
use super::of::OfClient;
use super::regs::mftb;
use super::{PAGE_OFFSET, console, exceptions, rtas};

const PR_PREFIX: &str = "";

/// How the kernel was entered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FirmwarePath {
    /// SLOF, through its Open Firmware client interface.
    Slof,
    /// QEMU's Virtual Open Firmware (`-M pseries,x-vof=on`), same interface.
    Vof,
    /// No firmware: r5 == 0, r3 = a flattened device tree.
    Fdt,
}

impl FirmwarePath {
    pub fn name(self) -> &'static str {
        match self {
            FirmwarePath::Slof => "SLOF",
            FirmwarePath::Vof => "VOF",
            FirmwarePath::Fdt => "FDT",
        }
    }
}

/// Linux's COMMAND_LINE_SIZE on powerpc.
pub const COMMAND_LINE_SIZE: usize = 2048;

/// What the architecture hands to start_kernel.
pub struct BootInfo {
    pub path: FirmwarePath,
    /// r3, r4, r5 as the kernel was entered.
    pub r3: u64,
    pub r4: u64,
    pub r5: u64,
    pub entry_msr: u64,
    pub pvr: u32,
    pub timebase_freq: u64,
    pub cmdline: &'static str,
    /// Set when /chosen/bootargs was longer than COMMAND_LINE_SIZE - 1 and was cut.
    pub cmdline_truncated: bool,
    /// The live firmware or the r3 tree (for prom_init).
    pub(super) firmware: Firmware,
}

impl BootInfo {
    /// The initrd the firmware loaded (r3 = start, r4 = size), as `(start, end)`; `None`
    /// without one or when r3 + r4 would wrap (reported once by the banner).
    pub fn initrd(&self) -> Option<(u64, u64)> {
        if self.path == FirmwarePath::Fdt || self.r4 == 0 {
            return None;
        }
        self.r3.checked_add(self.r4).map(|end| (self.r3, end))
    }
}

static ENTRY_TB: AtomicU64 = AtomicU64::new(0);
/// QEMU's TCG timebase runs at 512 MHz; replaced by the device tree's value at boot.
static TB_FREQ: AtomicU64 = AtomicU64::new(512_000_000);

/// Nanoseconds since kernel entry, from the timebase.
pub fn now_ns() -> u64 {
    let ticks = mftb().wrapping_sub(ENTRY_TB.load(Ordering::Relaxed));
    let freq = TB_FREQ.load(Ordering::Relaxed).max(1);
    ((ticks as u128 * 1_000_000_000) / freq as u128) as u64
}

struct CmdlineBuf(core::cell::UnsafeCell<[u8; COMMAND_LINE_SIZE]>);
// SAFETY: written once by the boot CPU before anything reads it, never written again.
unsafe impl Sync for CmdlineBuf {}
static CMDLINE: CmdlineBuf = CmdlineBuf(core::cell::UnsafeCell::new([0; COMMAND_LINE_SIZE]));

/// Read /chosen/bootargs into the static command-line buffer.
fn read_cmdline(fw: &Firmware) -> (&'static str, bool) {
    // SAFETY: only the boot path calls this, once, before any reader exists.
    let buf = unsafe { &mut *CMDLINE.0.get() };
    let len = match fw.prop("/chosen", "bootargs", &mut buf[..COMMAND_LINE_SIZE - 1]) {
        Ok(Some(n)) => n,
        Ok(None) => 0,
        Err(e) => {
            pr_err!("Kernel command line: cannot read /chosen/bootargs: {e}");
            0
        }
    };
    let truncated = len > COMMAND_LINE_SIZE - 1;
    let n = len.min(COMMAND_LINE_SIZE - 1);
    let end = buf[..n].iter().position(|&b| b == 0).unwrap_or(n);
    // Invalid UTF-8 keeps its valid prefix (the parser only deals in ASCII names).
    let s = match core::str::from_utf8(&buf[..end]) {
        Ok(s) => s,
        Err(e) => core::str::from_utf8(&buf[..e.valid_up_to()]).unwrap_or(""),
    };
    (s, truncated)
}

fn identify(fw: &Firmware) -> FirmwarePath {
    match fw {
        Firmware::Fdt(_) => FirmwarePath::Fdt,
        // SLOF is a full Open Firmware with the standard /packages node; VOF (QEMU's
        // minimal client interface) serves QEMU's own tree, which has none.
        Firmware::Of(of) => match of.finddevice("/packages") {
            Ok(_) => FirmwarePath::Slof,
            Err(_) => FirmwarePath::Vof,
        },
    }
}

/// Largest flattened tree accepted from r3.
const FDT_MAX: usize = 16 << 20;

/// Called from head.S on the boot stack with the registers the firmware passed.
#[unsafe(no_mangle)]
extern "C" fn __sparsek_entry(r3: u64, r4: u64, r5: u64, entry_msr: u64) -> ! {
    ENTRY_TB.store(mftb(), Ordering::Relaxed);
    printk::set_console(&console::HVTERM);
    printk::set_clock(now_ns);
    super::stack::set_canaries();

    let firmware_alive = r5 != 0;
    // Install the kernel's vectors before anything else can fault.
    let vectors = exceptions::install(firmware_alive);

    let firmware = if firmware_alive {
        // SAFETY: r5 is the client interface entry the firmware passed, and the firmware
        // is intact (the kernel has only borrowed 0x100..0x2000, swapped per call).
        Firmware::Of(unsafe { OfClient::new(r5) })
    } else {
        // SAFETY: by the r5 == 0 convention r3 is the physical address of a flattened
        // tree in RAM; from_ptr reads its header and then no more than it says, capped.
        match unsafe { Fdt::from_ptr((PAGE_OFFSET | r3) as *const u8, FDT_MAX) } {
            Ok(fdt) => Firmware::Fdt(fdt),
            Err(e) => {
                pr_emerg!("Entered with r5 = 0 but r3 = 0x{r3:x} is not a usable device tree: {e}");
                // Without a device tree there is no RTAS token: stop where we are.
                halt();
            }
        }
    };

    // The client calls before prom_init run in one window: outside a window every call
    // swaps the vector area and the interrupt endianness twice (measured on QEMU TCG: a
    // few hundred us per call against about 5 us inside one). Only the calls and the
    // command line's copy run inside; powering off, failing and reporting wait until the
    // kernel's vectors are back.
    let window = if firmware_alive {
        FirmwareWindow::open().ok()
    } else {
        None
    };
    let (cmdline, cmdline_truncated) = read_cmdline(&firmware);
    let tokens = rtas::RtasTokens {
        power_off: firmware.prop_u32("/rtas", "power-off").ok().flatten(),
        os_term: firmware.prop_u32("/rtas", "ibm,os-term").ok().flatten(),
    };
    let timebase = firmware.boot_cpu_prop_u32("timebase-frequency");
    let path = identify(&firmware);
    drop(window);
    rtas::set_tokens(tokens);

    if BootParams::wants_poweroff_at_entry(cmdline) {
        power_off();
    }
    if let Err(st) = vectors {
        fatal_fmt(format_args!(
            "cannot take interrupts little-endian: H_SET_MODE returned {st}"
        ));
    }

    let timebase_freq = match timebase {
        Ok(Some(f)) if f != 0 => f as u64,
        _ => {
            pr_err!("time: no timebase-frequency in the cpu node, assuming 512 MHz");
            TB_FREQ.load(Ordering::Relaxed)
        }
    };
    TB_FREQ.store(timebase_freq, Ordering::Relaxed);

    let boot = BootInfo {
        path,
        r3,
        r4,
        r5,
        entry_msr,
        pvr: super::regs::mfpvr(),
        timebase_freq,
        cmdline,
        cmdline_truncated,
        firmware,
    };
    crate::init::start_kernel(boot)
}

/// Success: Linux's last words, then RTAS power-off (QEMU exits 0).
pub fn power_off() -> ! {
    {
        const PR_PREFIX: &str = "reboot: ";
        pr_emerg!("Power down");
    }
    let e = rtas::power_off();
    fatal_fmt(format_args!("power-off failed: {e}"))
}

static PANICKING: AtomicBool = AtomicBool::new(false);

/// The longest panic reason kept (longer ones are cut): what QEMU's `ibm,os-term` prints.
const PANIC_MSG_MAX: usize = 511;

/// Failure: `Kernel panic - not syncing: <reason>`, its end marker, then RTAS
/// `ibm,os-term` (QEMU run with `-action panic=exit-failure` exits 1).
pub fn fatal(reason: &str) -> ! {
    fatal_fmt(format_args!("{reason}"))
}

pub fn fatal_fmt(reason: core::fmt::Arguments) -> ! {
    if PANICKING.swap(true, Ordering::AcqRel) {
        // A failure while already failing (the first one is in the log above).
        nested_fault(0, 0);
    }
    // QEMU's ibm,os-term prints at most 511 bytes of the message.
    let mut msg = StackString::<PANIC_MSG_MAX>::new();
    // A message longer than the buffer is cut, which is fine for the final words.
    let _ = core::fmt::write(&mut msg, reason);
    pr_emerg!("Kernel panic - not syncing: {}", msg.as_str());
    super::selftest::second_fault_point(super::selftest::SecondFault::Panic);
    pr_emerg!("---[ end Kernel panic - not syncing: {} ]---", msg.as_str());
    let mut term = [0u8; PANIC_MSG_MAX + 1];
    term[..msg.as_bytes().len()].copy_from_slice(msg.as_bytes());
    let e = rtas::os_term(&term);
    pr_emerg!("ibm,os-term failed: {e}; halting");
    halt()
}

/// Is the kernel already failing (in [`fatal_fmt`])?
pub fn panicking() -> bool {
    PANICKING.load(Ordering::Acquire)
}

/// A fault during fault handling or panic: one line, then straight to os-term. Should
/// that line fault too, os-term without a word; should os-term fault, stop here.
pub fn nested_fault(trap: u64, nip: u64) -> ! {
    static LEVEL: AtomicUsize = AtomicUsize::new(0);
    match LEVEL.fetch_add(1, Ordering::AcqRel) {
        0 => {
            // SAFETY: see exceptions::__sparsek_exception; nothing resumes after this.
            unsafe { printk::emergency_unlock() };
            if trap != 0 {
                pr_emerg!("Exception 0x{trap:x} at {nip:016x} while handling a failure");
            } else {
                pr_emerg!("Failure while handling a failure");
            }
            pr_emerg!("Kernel panic - not syncing: nested fault");
            let _ = rtas::os_term(b"nested fault\0");
        }
        1 => {
            let _ = rtas::os_term(b"nested fault\0");
        }
        _ => {}
    }
    halt()
}

/// Nothing more can be done: wait with the CPU idle. Only reached when the firmware gave
/// no way to stop the machine (no RTAS token) - the message before says why.
pub fn halt() -> ! {
    loop {
        core::hint::spin_loop();
    }
}
