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
#define TDP_IMAGE_SIZE      0x60000
#define TDP_IMAGE_END       0x100000000
#define TDP_IMAGE_BASE      (TDP_IMAGE_END - TDP_IMAGE_SIZE)

#define TDP_MAX_VCPUS       64
#define TDP_STACK_SIZE      4096

/* GDT selectors the payload loads (its own GDT). */
#define TDP_SEL_CODE64      0x08
#define TDP_SEL_DATA        0x10

#endif
