//! The sparsek kernel binary: boots on qemu-system-ppc64 -M pseries.
//!
//! Built for `arch/powerpc64le-sparsek.json` by `qemu/build`. On the host (where `cargo
//! test` also builds this target) it only explains that.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
extern crate alloc;

#[cfg(target_os = "none")]
#[path = "../arch/powerpc/mod.rs"]
mod arch;
#[cfg(target_os = "none")]
mod heap;
#[cfg(target_os = "none")]
mod init;
#[cfg(target_os = "none")]
mod paging;
#[cfg(target_os = "none")]
mod phase;
#[cfg(target_os = "none")]
mod setup;

#[cfg(target_os = "none")]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    const PR_PREFIX: &str = "";
    if let Some(loc) = info.location() {
        sparsek::pr_emerg!("kernel BUG at {}:{}!", loc.file(), loc.line());
    }
    arch::fatal_fmt(format_args!("{}", info.message()))
}

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!(
        "sparsek is a kernel for qemu-system-ppc64 -M pseries; build it with qemu/build \
         and boot it with qemu/run"
    );
    std::process::exit(2);
}
