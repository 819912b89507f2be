/*
 * Kernel entry. The firmware (SLOF or VOF) jumps to the first byte of the image in
 * big-endian, 32-bit real mode with r3/r4 = initrd base/size, r5 = Open Firmware client
 * interface entry; a firmware-less boot enters with r5 = 0 and r3 = flattened device tree.
 *
 * This code: endian fixup, 64-bit mode, check the load address, jump to the link address,
 * TOC, clear .bss, boot stack, then __sparsek_entry(r3, r4, r5, entry MSR). It must not
 * touch r3-r5 (or r9, the entry MSR) before the call.
 */
	.section .head.text, "ax"
	.globl	_start
	.type	_start, @function
_start:
	FIXUP_ENDIAN
	SET_MSR_KERNEL 11, 12

	/* r10 = where we run, r11 = where we were linked; real mode ignores the top 4 bits. */
	bcl	20, 31, 1f
1:	mflr	10
	addi	10, 10, (_start - 1b)
	clrldi	10, 10, 4
	LOAD_IMM64 11, _start
	clrldi	11, 11, 4
	cmpld	10, 11
	bne	head_bad_load_address

	/* Run at the link address from here on. */
	LOAD_IMM64 11, 2f
	mtctr	11
	bctr
2:
	LOAD_IMM64 2, .TOC.

	/* Clear .bss (8-byte aligned by the linker script). */
	LOAD_IMM64 11, __bss_start
	LOAD_IMM64 12, __bss_end
	li	0, 0
3:	cmpld	11, 12
	bge	4f
	std	0, 0(11)
	addi	11, 11, 8
	b	3b
4:
	/* Boot stack with a terminated back chain. */
	LOAD_IMM64 1, __boot_stack_top
	li	0, 0
	stdu	0, -64(1)

	mr	6, 9
	bl	__sparsek_entry
	/* __sparsek_entry never returns; if it did, trap so the exception dump says where. */
	trap
	.size	_start, . - _start

/*
 * Loaded somewhere other than the link address: TOC-relative data would point at the wrong
 * memory, so say so on the hypervisor console and stop. Each H_PUT_TERM_CHAR takes up to
 * 16 bytes packed most-significant-byte first in r6/r7.
 */
head_bad_load_address:
	PUT_TERM16 16, 0x0d0a737061727365, 0x6b3a206c6f616465	/* "\r\nsparsek: loade" */
	PUT_TERM16 16, 0x6420617761792066, 0x726f6d2069747320	/* "d away from its " */
	PUT_TERM16 16, 0x6c696e6b20616464, 0x7265737320285145	/* "link address (QE" */
	PUT_TERM16 16, 0x4d55206b65726e65, 0x6c2d61646472206d	/* "MU kernel-addr m" */
	PUT_TERM16 16, 0x7573742062652030, 0x7834303030303029	/* "ust be 0x400000)" */
	PUT_TERM16 12, 0x2c2073746f707069, 0x6e670d0a00000000	/* ", stopping\r\n" */
	/* No RTAS token is known yet, so QEMU cannot be told to exit: wait here. */
5:	b	5b

	.section .bss.boot_stack, "aw", @nobits
	.balign	16
	.globl	__boot_stack_bottom, __boot_stack_top
__boot_stack_bottom:
	.space	{boot_stack_size}
__boot_stack_top:

	/* The kernel stack after translation is on, mapped again (with a guard) by arch::stack. */
	.section .bss.kernel_stack, "aw", @nobits
	.balign	{kernel_stack_align}
	.globl	__kernel_stack_bottom, __kernel_stack_top
__kernel_stack_bottom:
	.space	{kernel_stack_size}
__kernel_stack_top:
