/*
 * i64 __of_call(u64 args_phys, u64 entry)
 *
 * Call the Open Firmware client interface, which is big-endian and 32-bit: save the
 * non-volatile state, rfid to `entry` with MSR[LE] and MSR[SF] clear, r3 = args block
 * (physical, below 4 GiB) and r1 = the current stack as a physical address. The firmware
 * returns big-endian through LR; FIXUP_ENDIAN brings us back to little-endian 64-bit,
 * then the saved MSR, r1, r2, r13-r31 and CR are restored. Returns the firmware's r3
 * (0 = success, -1 = failure) sign-extended.
 */
	.section .text.of_call, "ax"
	.globl	__of_call
	.type	__of_call, @function
	.balign	16
__of_call:
	mflr	0
	std	0, 16(1)
	stdu	1, -{of_frame}(1)
	/*
	 * Frame: a 112-byte header (an ELFv1 callee such as SLOF may use the parameter save
	 * area in it), then r2, r13, r14-r31, CR, MSR.
	 */
	std	2, ({of_hdr} + 0)(1)
	std	13, ({of_hdr} + 8)(1)
	.irp	n, 14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	std	\n, ({of_hdr} + 16 + 8 * (\n - 14))(1)
	.endr
	mfcr	0
	std	0, ({of_hdr} + 160)(1)
	mfmsr	11
	std	11, ({of_hdr} + 168)(1)

	mtsrr0	4
	bcl	20, 31, 1f
1:	mflr	12
	addi	12, 12, (2f - 1b)
	clrldi	12, 12, 32
	mtlr	12
	li	12, 1
	sldi	12, 12, 63
	ori	12, 12, 1		/* MSR_SF | MSR_LE */
	andc	11, 11, 12
	mtsrr1	11
	clrldi	3, 3, 32
	clrldi	1, 1, 32
	rfid

2:	FIXUP_ENDIAN
	/* The firmware saw a 32-bit physical stack pointer: make it a kernel address again. */
	clrldi	1, 1, 32
	LOAD_IMM64 12, 0xc000000000000000
	or	1, 1, 12
	ld	11, ({of_hdr} + 168)(1)
	mtmsrd	11
	isync
	extsw	3, 3
	ld	0, ({of_hdr} + 160)(1)
	mtcrf	0xff, 0
	ld	2, ({of_hdr} + 0)(1)
	ld	13, ({of_hdr} + 8)(1)
	.irp	n, 14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	ld	\n, ({of_hdr} + 16 + 8 * (\n - 14))(1)
	.endr
	addi	1, 1, {of_frame}
	ld	0, 16(1)
	mtlr	0
	blr
	.size	__of_call, . - __of_call
