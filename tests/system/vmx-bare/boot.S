/*
 * Multiboot (v1) entry of the bare-metal VMX test: QEMU's -kernel loads it
 * in 32-bit protected mode, flat segments, paging off. Also the #UD/#GP
 * handlers: record the vector and resume at the recovery address.
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
    .section .multiboot, "a"
    .align 4
    .long 0x1badb002                 /* magic */
    .long 0x00000000                 /* flags */
    .long -(0x1badb002)              /* checksum */

    .text
    .globl _start
_start:
    mov $stack_top, %esp
    call test_main
1:  hlt
    jmp 1b

    .globl trap_ud, trap_gp
trap_ud:                             /* no error code */
    movl $6, fault_vector
    mov recover_eip, %eax
    mov %eax, (%esp)
    iret
trap_gp:                             /* error code on the stack */
    movl $13, fault_vector
    add $4, %esp
    mov recover_eip, %eax
    mov %eax, (%esp)
    iret

    .bss
    .align 16
    .space 16384
stack_top:

    .section .note.GNU-stack, "", @progbits
