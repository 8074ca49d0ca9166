/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * td-payload linker script (run through the C preprocessor with layout.h).
 * A flat image of TDP_IMAGE_SIZE bytes whose last byte is at 0xFFFFFFFF:
 * page tables first, then code and data, the per-vCPU stacks, the stub
 * build's real-mode boot code, and the reset vector in the last 16 bytes.
 */
#include "layout.h"

OUTPUT_FORMAT("elf64-x86-64")
OUTPUT_ARCH(i386:x86-64)
ENTRY(tdp_entry32)

SECTIONS
{
    . = TDP_IMAGE_BASE;
    .pagetables : { *(.pagetables) }
    .text : {
        *(.text.entry)
        *(.text .text.*)
    }
    .rodata : { *(.rodata .rodata.*) }
    .data : {
        *(.data .data.*)
        *(.bss .bss.*)
        *(COMMON)
    }
    . = ALIGN(4096);
    .stacks : { *(.stacks) }
    /* Real-mode code must sit in the last 64 KiB (CS base 0xFFFF0000). */
    . = TDP_IMAGE_END - 0x1000;
    .boot16 : { *(.boot16.text) *(.boot16.gdt) }
    . = TDP_IMAGE_END - 16;
    .resetvec : { KEEP(*(.resetvec)) }
    /DISCARD/ : {
        *(.comment) *(.note*) *(.eh_frame*) *(.rela*)
    }
}

ASSERT(tdp_pml4 == TDP_IMAGE_BASE, "page tables must start the image")
ASSERT(SIZEOF(.resetvec) == 16, "the reset vector must be 16 bytes")
