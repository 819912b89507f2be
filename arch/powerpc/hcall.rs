//! PAPR hypercalls (`sc 1`): opcode in r3, arguments in r4-r12, status back in r3 and
//! return values in r4-r12. Statuses are PAPR's: 0 success, positive "try again" codes,
//! negative errors.

pub use sparsek::mm::hash::HStatus;

pub const H_PUT_TERM_CHAR: u64 = 0x58;
pub const H_SET_MODE: u64 = 0x31c;
/// QEMU's private hypercall that runs an RTAS call (what SLOF's RTAS blob does).
pub const KVMPPC_H_RTAS: u64 = 0xf000;

/// H_SET_MODE resource: interrupt endianness (LPCR[ILE]).
pub const H_SET_MODE_RESOURCE_LE: u64 = 4;
pub const H_SET_MODE_ENDIAN_BIG: u64 = 0;
pub const H_SET_MODE_ENDIAN_LITTLE: u64 = 1;

/// Raw hypercall with up to 9 arguments; returns the status and r4-r12.
///
/// # Safety
/// The hypercall and its arguments must be ones whose effects the caller has accounted for
/// (memory the hypervisor reads or writes through physical addresses in particular).
pub unsafe fn hcall(opcode: u64, args: [u64; 9]) -> (HStatus, [u64; 9]) {
    let mut r = args;
    let status: i64;
    // SAFETY: `sc 1` enters the hypervisor, which clobbers only the volatile registers
    // declared here; memory effects are the caller's responsibility (see # Safety).
    unsafe {
        core::arch::asm!(
            "sc 1",
            inout("r3") opcode as i64 => status,
            inout("r4") r[0] => r[0],
            inout("r5") r[1] => r[1],
            inout("r6") r[2] => r[2],
            inout("r7") r[3] => r[3],
            inout("r8") r[4] => r[4],
            inout("r9") r[5] => r[5],
            inout("r10") r[6] => r[6],
            inout("r11") r[7] => r[7],
            inout("r12") r[8] => r[8],
            out("r0") _,
            out("ctr") _,
            out("xer") _,
            out("cr0") _,
            out("cr1") _,
            out("cr5") _,
            out("cr6") _,
            out("cr7") _,
            options(nostack),
        );
    }
    (HStatus::from_code(status), r)
}

/// Set the endianness in which interrupts are taken (LPCR[ILE]).
///
/// # Safety
/// The vectors at 0x100 must be (or, before anything can fault, become) code of that
/// endianness: the kernel's own for little-endian, the firmware's for big-endian.
pub unsafe fn set_interrupt_endian(little: bool) -> Result<(), HStatus> {
    let mflags = if little {
        H_SET_MODE_ENDIAN_LITTLE
    } else {
        H_SET_MODE_ENDIAN_BIG
    };
    // SAFETY: H_SET_MODE(LE) reads only its register arguments and changes only how the
    // next interrupt is delivered, which the caller has matched with the vectors.
    let (st, _) = unsafe {
        hcall(
            H_SET_MODE,
            [mflags, H_SET_MODE_RESOURCE_LE, 0, 0, 0, 0, 0, 0, 0],
        )
    };
    st.ok()
}
