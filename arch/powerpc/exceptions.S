/*
 * Exception vectors and the common entry path.
 *
 * .head.vectors is an image of physical memory from 0x100: arch::exceptions copies it there
 * at boot (and swaps the firmware's bytes back in around Open Firmware calls). Each vector
 * saves r13 in SPRG1, records CFAR (before its own branch replaces it) in a scratch
 * doubleword of the image, loads its vector number into r13 and branches to
 * exception_common, which is part of the same image (after the last vector) so the
 * branch is PC-relative. Stores to the scratch slot use its absolute physical address
 * (real mode: `std rS, addr(0)` needs no base register). Interrupts arrive in real mode,
 * 64-bit, little-endian (LPCR[ILE] is set through H_SET_MODE when the vectors are
 * installed).
 *
 * exception_common saves the full register state in a TrapFrame on the exception stack
 * (or below the current frame when the exception stack is already in use: a nested
 * exception), calls __sparsek_exception(&mut TrapFrame) and, if that returns, restores the
 * possibly edited state and returns with rfid.
 *
 * Scratch SPRs: SPRG0 = CR, SPRG1 = r13, SPRG2 = r1, SPRG3 = r12 of the interrupted context.
 */
.macro VECTOR n
	.org	(\n - 0x100)
	mtspr	273, 13
	mfspr	13, 28			/* CFAR */
	std	13, EXC_SCRATCH_CFAR(0)
	li	13, \n
	b	exception_common
.endm

	.section .head.vectors, "ax"
exc_image_base:				/* lands at physical 0x100 */
	.set	EXC_SCRATCH_CFAR, exc_scratch_cfar - exc_image_base + 0x100
	VECTOR 0x100	/* system reset */
	VECTOR 0x200	/* machine check */
	VECTOR 0x300	/* data storage */
	VECTOR 0x380	/* data segment */
	VECTOR 0x400	/* instruction storage */
	VECTOR 0x480	/* instruction segment */
	VECTOR 0x500	/* external */
	VECTOR 0x600	/* alignment */
	VECTOR 0x700	/* program check */
	VECTOR 0x800	/* floating-point unavailable */
	VECTOR 0x900	/* decrementer */
	VECTOR 0x980	/* hypervisor decrementer */
	VECTOR 0xa00	/* directed privileged doorbell */
	VECTOR 0xb00	/* reserved */
	VECTOR 0xc00	/* system call */
	VECTOR 0xd00	/* trace */
	VECTOR 0xe00	/* hypervisor data storage */
	VECTOR 0xe20	/* hypervisor instruction storage */
	VECTOR 0xe40	/* hypervisor emulation assistance */
	VECTOR 0xe60	/* hypervisor maintenance */
	VECTOR 0xe80	/* directed hypervisor doorbell */
	VECTOR 0xea0	/* hypervisor virtualization */
	VECTOR 0xf00	/* performance monitor */
	VECTOR 0xf20	/* vector unavailable */
	VECTOR 0xf40	/* VSX unavailable */
	VECTOR 0xf60	/* facility unavailable */
	VECTOR 0xf80	/* hypervisor facility unavailable */

	/* The common path travels with the vectors: the stubs reach it PC-relative. */
	.globl	exception_common
	.type	exception_common, @function
	.balign	16
exception_common:
	mtspr	274, 1
	mtspr	275, 12
	mfcr	12
	mtspr	272, 12
	LOAD_IMM64 12, __exc_stack_bottom
	cmpld	1, 12
	blt	1f
	LOAD_IMM64 12, __exc_stack_top
	cmpld	1, 12
	blt	2f
1:	LOAD_IMM64 1, __exc_stack_top
2:	clrrdi	1, 1, 4
	subi	1, 1, {frame_size}

	std	0, ({regs} + 0)(1)
	.irp	n, 2,3,4,5,6,7,8,9,10,11,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	std	\n, ({regs} + 8 * \n)(1)
	.endr
	mfspr	0, 274
	std	0, ({regs} + 8 * 1)(1)
	std	0, 0(1)			/* back chain: the interrupted stack */
	mfspr	0, 275
	std	0, ({regs} + 8 * 12)(1)
	mfspr	0, 273
	std	0, ({regs} + 8 * 13)(1)
	std	13, ({regs} + {trap})(1)
	mfsrr0	0
	std	0, ({regs} + {nip})(1)
	mfsrr1	0
	std	0, ({regs} + {msr})(1)
	mfspr	0, 19			/* DAR */
	std	0, ({regs} + {dar})(1)
	mfspr	0, 18			/* DSISR */
	std	0, ({regs} + {dsisr})(1)
	mflr	0
	std	0, ({regs} + {link})(1)
	mfctr	0
	std	0, ({regs} + {ctr})(1)
	mfspr	0, 272			/* CR, parked in SPRG0 */
	std	0, ({regs} + {ccr})(1)
	mfxer	0
	std	0, ({regs} + {xer})(1)
	ld	0, EXC_SCRATCH_CFAR(0)	/* CFAR as the vector found it */
	std	0, ({regs} + {cfar})(1)

	LOAD_IMM64 2, .TOC.
	addi	3, 1, {regs}
	LOAD_IMM64 12, __sparsek_exception
	mtctr	12
	bctrl

	/* Resume the (possibly edited) interrupted context. */
	ld	0, ({regs} + {nip})(1)
	mtsrr0	0
	ld	0, ({regs} + {msr})(1)
	mtsrr1	0
	ld	0, ({regs} + {link})(1)
	mtlr	0
	ld	0, ({regs} + {ctr})(1)
	mtctr	0
	ld	0, ({regs} + {xer})(1)
	mtxer	0
	ld	0, ({regs} + {ccr})(1)
	mtcrf	0xff, 0
	ld	0, ({regs} + 0)(1)
	.irp	n, 2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	ld	\n, ({regs} + 8 * \n)(1)
	.endr
	ld	1, ({regs} + 8 * 1)(1)
	rfid
	.size	exception_common, . - exception_common

	.balign	8
exc_scratch_cfar:
	.quad	0

	/* Exception stack, separate from every kernel stack so that a bad r1 can be reported. */
	.section .bss.exc_stack, "aw", @nobits
	.balign	16
	.globl	__exc_stack_bottom, __exc_stack_top
__exc_stack_bottom:
	.space	{exc_stack_size}
__exc_stack_top:
