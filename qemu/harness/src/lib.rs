//! Host side of the kernel: build it, boot it under `qemu-system-ppc64 -M pseries`,
//! capture and classify the boot. Used by `qemu/run` and by the boot tests in `tests/`.

pub mod bench;
pub mod boot;
pub mod check;
pub mod cli;
pub mod expect;
pub mod hostile;
pub mod ktap;
pub mod machine;
pub mod matrix;
pub mod oracle;
pub mod soak;
pub mod testing;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub use boot::{BootOptions, Outcome, Verdict, boot};
pub use machine::{Firmware, Machine};

/// Exit statuses of `qemu/run` (a documented contract; see the README).
pub mod exit {
    /// The kernel reported success (`reboot: Power down`, QEMU exited 0).
    pub const SUCCESS: i32 = 0;
    /// The kernel reported failure (panic / unexpected exception: QEMU exited 1), or
    /// ended without reporting success.
    pub const KERNEL_FAILURE: i32 = 1;
    /// Bad options.
    pub const USAGE: i32 = 2;
    /// The kernel (or the harness) did not build.
    pub const BUILD_FAILURE: i32 = 3;
    /// QEMU is missing, could not start, or failed before the kernel printed anything.
    pub const QEMU_ERROR: i32 = 4;
    /// The boot did not finish within the timeout (QEMU was killed).
    pub const TIMEOUT: i32 = 124;
}

/// The repository root (this crate lives in `<root>/qemu/harness`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

/// Build the kernel with `qemu/build`; returns the ELF path it prints last.
pub fn build_kernel() -> Result<PathBuf, String> {
    let script = repo_root().join("qemu/build");
    let out = Command::new(&script)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    if !out.status.success() {
        return Err(format!("{} failed ({})", script.display(), out.status));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .ok_or_else(|| "qemu/build printed no kernel path".to_string())?;
    let path = PathBuf::from(last.trim());
    if !path.is_file() {
        return Err(format!(
            "qemu/build named {} which does not exist",
            path.display()
        ));
    }
    Ok(path)
}

/// The kernel a command boots: `--kernel ELF` when given (`Err((USAGE, why))` when it
/// is not a file), else the one `qemu/build` builds (`Err((BUILD_FAILURE, why))`).
pub fn given_or_built_kernel(given: Option<PathBuf>) -> Result<PathBuf, (i32, String)> {
    match given {
        Some(k) if k.is_file() => Ok(k),
        Some(k) => Err((exit::USAGE, format!("no kernel at {}", k.display()))),
        None => build_kernel().map_err(|e| (exit::BUILD_FAILURE, e)),
    }
}

/// The kernel the tests boot: `$SPARSEK_KERNEL` (qemu/test builds it first) or built
/// once per test process with `qemu/build`.
pub fn test_kernel() -> &'static Path {
    static KERNEL: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    KERNEL.get_or_init(|| match std::env::var_os("SPARSEK_KERNEL") {
        Some(k) => PathBuf::from(k),
        None => build_kernel().expect("kernel build"),
    })
}

/// The QEMU binary to run (`$QEMU` overrides).
pub fn qemu_binary() -> String {
    std::env::var("QEMU").unwrap_or_else(|_| "qemu-system-ppc64".to_string())
}
