/*
 * Assembler macros shared by the arch assembly files (included first by arch/powerpc/mod.rs).
 */

/* Store one instruction so that it decodes correctly when fetched big-endian. */
.macro BE_INSN w
	.long ((((\w) & 0xff) << 24) | (((\w) & 0xff00) << 8) | (((\w) >> 8) & 0xff00) | (((\w) >> 24) & 0xff))
.endm

/*
 * Continue little-endian and 64-bit whatever endianness we arrived in.
 * Fetched big-endian, the first word reads as "b .+8" and the byte-swapped sequence below
 * copies MSR to r9 (the entry MSR), sets MSR[LE] and MSR[SF] and rfid's to label 192.
 * Fetched little-endian, the first word is a never-taking trap, the branch skips to 191,
 * which records the MSR in r9. Clobbers r9-r12 (and SRR0/SRR1 on the big-endian path).
 */
.macro FIXUP_ENDIAN
	tdi	0, 0, 0x48
	b	191f
	BE_INSN	0x7d2000a6	/* mfmsr  r9              */
	BE_INSN	0x612b0001	/* ori    r11, r9, MSR_LE */
	BE_INSN	0x39800001	/* li     r12, 1          */
	BE_INSN	0x798cf806	/* sldi   r12, r12, 63    (MSR_SF) */
	BE_INSN	0x7d6b6378	/* or     r11, r11, r12   */
	BE_INSN	0x429f0005	/* bcl    20, 31, .+4     */
	BE_INSN	0x7d4802a6	/* mflr   r10             */
	BE_INSN	0x394a0018	/* addi   r10, r10, 24    (-> 192) */
	BE_INSN	0x7d5a03a6	/* mtsrr0 r10             */
	BE_INSN	0x7d7b03a6	/* mtsrr1 r11             */
	BE_INSN	0x4c000024	/* rfid                   */
191:	mfmsr	9
192:
.endm

/* Load a 64-bit link-time constant (an address) into a register. */
.macro LOAD_IMM64 reg, expr
	lis	\reg, (\expr)@highest
	ori	\reg, \reg, (\expr)@higher
	rldicr	\reg, \reg, 32, 31
	oris	\reg, \reg, (\expr)@high
	ori	\reg, \reg, (\expr)@l
.endm

/*
 * Kernel MSR: set SF (64-bit mode) and RI (the state is recoverable). MSR[ME] is the
 * hypervisor's: a PAPR guest's mtmsrd leaves it as it is (measured: it stays clear under
 * VOF and SLOF). Clobbers the two scratch registers.
 */
.macro SET_MSR_KERNEL s1, s2
	mfmsr	\s1
	li	\s2, 1
	sldi	\s2, \s2, 63
	ori	\s2, \s2, 0x2		/* MSR_RI */
	or	\s1, \s1, \s2
	mtmsrd	\s1
	isync
.endm

/* H_PUT_TERM_CHAR on vterm 0 with up to 16 bytes given as two big-endian-packed words. */
.macro PUT_TERM16 len, hi, lo
	li	3, 0x58
	li	4, 0
	li	5, \len
	LOAD_IMM64 6, \hi
	LOAD_IMM64 7, \lo
	sc	1
.endm
