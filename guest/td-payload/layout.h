/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * td-payload: constants shared by entry.S, td-payload.c and the linker
 * script (which is run through the C preprocessor). See td-payload.c for
 * the ABI. Keep in sync with TD_PAYLOAD_* in guest/tdvmm.c.
 */
#ifndef TD_PAYLOAD_LAYOUT_H
#define TD_PAYLOAD_LAYOUT_H

/* The image ends at GPA 0xFFFFFFFF (last byte); a multiple of 64 KiB so
 * that it can also serve as a plain QEMU -bios image in the stub build. */
#define TDP_IMAGE_SIZE      0x70000
#define TDP_IMAGE_END       0x100000000
#define TDP_IMAGE_BASE      (TDP_IMAGE_END - TDP_IMAGE_SIZE)

#define TDP_MAX_VCPUS       64
#define TDP_STACK_SIZE      4096

/* GDT selectors the payload loads (its own GDT). */
#define TDP_SEL_CODE64      0x08
#define TDP_SEL_DATA        0x10

/* Modes: VP.INIT parameter (RCX at entry) bits 23:16; N = RCX[63:32]. */
#define TDP_MODE_SHIFT      16
#define TDP_MODE_MASK       0xffu
#define TDP_MODE_NORMAL     0
#define TDP_MODE_CONVERT    1   /* N = rounds (0: 4) */
#define TDP_MODE_HAMMER     2
#define TDP_MODE_PINGPONG   3   /* N = VMCALL<IO> writes per vCPU (0: 10000) */
#define TDP_MODE_COMPUTE    4   /* N = LCG iterations (0: 1000000) */
#define TDP_MODE_VE         5   /* #VE instructions + guest leaves (N unused) */
#define TDP_MODE_IRQ        6   /* N = interrupts per kind (0: 20) */
#define TDP_MODE_GATE       7   /* N = vCPU 0's convert rounds (0: 4) */
#define TDP_ARG_SHIFT       32

/* The stub build's RCX (mode and N for a plain-x86 run; 0: default). */
#ifndef TD_PAYLOAD_STUB_RCX
#define TD_PAYLOAD_STUB_RCX 0
#endif

/* Hammer mode: the page every vCPU stores to before it is mapped. */
#define TDP_HAMMER_GPA      0xC0000000

/* Ports (TDG.VP.VMCALL<Instruction.IO> writes, 4 bytes). */
#define TDP_PORT_PHASE      0x503   /* hammer mode: 1 = accept phase done */
#define TDP_PORT_PING       0x504   /* pingpong mode: one write per round */
#define TDP_PORT_VE         0x505   /* ve mode: IN/OUT instructions (#VE) */
#define TDP_PORT_VE_HLT     0x506   /* ve mode: "about to HLT" (post an MSI) */
#define TDP_PORT_IRQ        0x507   /* irq mode: k = ready for host interrupt k */

/* irq mode: vectors (host MSI, IPI from the previous vCPU, self-IPI). */
#define TDP_VEC_HOST        0x30
#define TDP_VEC_IPI         0x40
#define TDP_VEC_SELF        0x50

/* Shared alias of GPA g (convert mode): virtual address TDP_SHARED_VA + g
 * maps g | shared bit (PML4 slot 256, built at run time). */
#define TDP_SHARED_VA       0xFFFF800000000000

#endif
