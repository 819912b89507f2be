/*
 * Deliberate faults for the boot-time self-tests (selftest.fault=...).
 *
 * __selftest_illegal: its first word is not a valid instruction, so executing it raises a
 * program check (vector 0x700) with SRR0 = the address of __selftest_illegal.
 */
	.section .text.selftest, "ax"
	.globl	__selftest_illegal
	.type	__selftest_illegal, @function
	.balign	16
__selftest_illegal:
	.long	0x00000000
	blr
	.size	__selftest_illegal, . - __selftest_illegal
