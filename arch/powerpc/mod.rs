//! The powerpc64 (PAPR pseries) architecture layer: the only code that touches the
//! hardware, the hypervisor or the firmware. Portable code (the `sparsek` library) gets
//! data from here ([`BootInfo`]) and never issues an hcall itself.
//!
//! Boot: head.S -> [`entry::__sparsek_entry`] (vectors, firmware queries) ->
//! `crate::init::start_kernel`.

mod console;
mod entry;
mod exceptions;
mod fault;
mod firmware;
mod hash;
mod hcall;
mod machine;
mod of;
mod prom;
mod regs;
mod rtas;
mod selftest;
mod slb;
mod stack;

/// Kernel virtual address of physical address 0 (real mode ignores the top 4 bits; the
/// hash MMU's linear mapping uses the same base).
pub const PAGE_OFFSET: u64 = sparsek::mm::sparse::machine::PAGE_OFFSET;
/// Size of the boot stack the kernel runs on.
pub const BOOT_STACK_SIZE: usize = 64 * 1024;

/// Stack frame of `__of_call` (of_call.S): a 112-byte ABI header (the ELFv1 parameter
/// save area included, as Linux's enter_prom keeps), then r2, r13, r14-r31, CR, MSR.
const OF_CALL_HDR: usize = 112;
const OF_CALL_FRAME: usize = OF_CALL_HDR + 8 * (2 + 18 + 2);
static_assertions::const_assert_eq!(OF_CALL_FRAME % 16, 0);

/// Physical address of a kernel address: the linear map (and real mode, which ignores
/// the top 4 bits), or the kernel stack's own mapping (arch::stack), where the kernel's
/// stack variables live once translation is on.
pub fn virt_to_phys(va: u64) -> u64 {
    match stack::kernel_stack() {
        Some((lo, hi)) if (lo..hi).contains(&va) => stack::kernel_stack_phys().0 + (va - lo),
        _ => linear_to_phys(va),
    }
}

/// Physical address of a linear-map (or real-mode) address: the top 4 bits go.
pub const fn linear_to_phys(va: u64) -> u64 {
    va & 0x0fff_ffff_ffff_ffff
}

core::arch::global_asm!(
    include_str!("asm_macros.S"),
    include_str!("head.S"),
    include_str!("exceptions.S"),
    include_str!("of_call.S"),
    include_str!("selftest.S"),
    frame_size = const exceptions::FRAME_SIZE,
    regs = const exceptions::REGS_OFFSET,
    nip = const core::mem::offset_of!(exceptions::TrapFrame, nip),
    msr = const core::mem::offset_of!(exceptions::TrapFrame, msr),
    dar = const core::mem::offset_of!(exceptions::TrapFrame, dar),
    dsisr = const core::mem::offset_of!(exceptions::TrapFrame, dsisr),
    link = const core::mem::offset_of!(exceptions::TrapFrame, link),
    ctr = const core::mem::offset_of!(exceptions::TrapFrame, ctr),
    ccr = const core::mem::offset_of!(exceptions::TrapFrame, ccr),
    xer = const core::mem::offset_of!(exceptions::TrapFrame, xer),
    cfar = const core::mem::offset_of!(exceptions::TrapFrame, cfar),
    trap = const core::mem::offset_of!(exceptions::TrapFrame, trap),
    exc_stack_size = const exceptions::EXC_STACK_SIZE,
    boot_stack_size = const BOOT_STACK_SIZE,
    kernel_stack_size = const stack::KERNEL_STACK_SIZE,
    kernel_stack_align = const stack::KERNEL_STACK_ALIGN,
    of_frame = const OF_CALL_FRAME,
    of_hdr = const OF_CALL_HDR,
);

// The boundary: everything the rest of the kernel may use.
pub use entry::now_ns;
pub use entry::{BootInfo, COMMAND_LINE_SIZE, FirmwarePath, fatal_fmt, power_off};
pub use fault::{
    arm as arm_faults, arm_memblock as arm_memblock_fault, report_unfired as report_unfired_faults,
};
pub use hash::{
    MmuParams, early_init_mmu, h_enter_count, h_entered_count,
    linear_map_check as hash_linear_map_check, mmu, print_bolted,
    report_stats as hash_report_stats, selftests as hash_selftests,
};
pub use machine::PaprMachine;
pub use of::{calls as of_calls, leave_firmware};
pub use prom::{DeviceTree, dtb_from_initrd, kernel_image, phys_slice, prom_init};
pub use regs::{MsrBits, pvr_name};
pub use selftest::provoke as provoke_fault;
pub use stack::{canary_dead as stack_canary_dead, run_on_kernel_stack};
