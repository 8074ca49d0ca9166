/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * td-payload: reset vector, 32-bit -> 64-bit switch, prebuilt page tables,
 * GDT, per-vCPU stacks and exception stubs. The ABI is described at the top
 * of td-payload.c.
 *
 * Entry (TD vCPU initial state, every vCPU at once): 32-bit protected mode,
 * paging off, CS = 0x08 flat 32-bit, data selectors 0x10 flat,
 * CR0 = 0x31, CR4 = 0x40, EFER = 0x900 (LME | NXE), RBX[5:0] = GPAW,
 * RSI = vCPU index, RCX = KVM_TDX_INIT_VCPU data.
 *
 * With -DTD_PAYLOAD_STUB_TDCALL the reset vector instead expects a plain
 * x86 CPU at reset (real mode, CS base 0xFFFF0000) and first recreates the
 * TD entry state itself (vCPU TD_PAYLOAD_STUB_VCPU, RCX TD_PAYLOAD_STUB_RCX,
 * both default 0, GPAW 48), so the image can be tested as a QEMU -bios on
 * a machine whose BIOS area is RAM (-M isapc: the payload writes its
 * stacks and IDTs inside the image).
 */
#include "layout.h"

#define CR0_PG      0x80000000
#define CR4_PAE     0x20
#define PTE_P_RW    0x3
#define PDE_2M      0x83        /* P | RW | PS */

/* ---- prebuilt page tables: identity map of 0..4 GiB, 2 MiB pages ------- */
        .section .pagetables, "a", @progbits
        .balign 4096
        .globl tdp_pml4
tdp_pml4:
        .quad tdp_pdpt + PTE_P_RW
        .fill 511, 8, 0
tdp_pdpt:
        .quad tdp_pd + 0 * 4096 + PTE_P_RW
        .quad tdp_pd + 1 * 4096 + PTE_P_RW
        .quad tdp_pd + 2 * 4096 + PTE_P_RW
        .quad tdp_pd + 3 * 4096 + PTE_P_RW
        .fill 508, 8, 0
tdp_pd:
        .set pde, 0
        .rept 2048
        .quad (pde << 21) | PDE_2M
        .set pde, pde + 1
        .endr

/* ---- GDT for 64-bit mode ------------------------------------------------ */
        .section .rodata.gdt, "a", @progbits
        .balign 16
tdp_gdt:
        .quad 0                         /* null */
        .quad 0x00af9a000000ffff        /* 0x08: 64-bit code, DPL 0 */
        .quad 0x00cf92000000ffff        /* 0x10: flat data */
tdp_gdt_end:
        .balign 8
        .word 0
tdp_gdt_desc:
        .word tdp_gdt_end - tdp_gdt - 1
        .long tdp_gdt

/* ---- per-vCPU stacks (vCPU i uses [top - (i+1)*size, top - i*size)) ----- */
        .section .stacks, "aw", @progbits
        .balign 4096
        .skip TDP_MAX_VCPUS * TDP_STACK_SIZE
        .globl tdp_stacks_top
tdp_stacks_top:

/* ---- 32-bit entry --------------------------------------------------------- */
        .section .text.entry, "ax", @progbits
        .code32
        .globl tdp_entry32
tdp_entry32:
        cli
        /* Keep ESI (index), ECX (init data), EBX (GPAW): nothing below
         * touches them. */
        lgdt    tdp_gdt_desc
        movl    %cr4, %eax
        orl     $CR4_PAE, %eax
        movl    %eax, %cr4
        movl    $tdp_pml4, %eax
        movl    %eax, %cr3
        /* EFER.LME is already set: CR0.PG activates IA-32e mode. */
        movl    %cr0, %eax
        orl     $CR0_PG, %eax
        movl    %eax, %cr0
        ljmp    $TDP_SEL_CODE64, $tdp_entry64

        .code64
tdp_entry64:
        movl    $TDP_SEL_DATA, %eax
        movl    %eax, %ds
        movl    %eax, %es
        movl    %eax, %ss
        movl    %eax, %fs
        movl    %eax, %gs
        movl    %esi, %esi              /* upper halves are undefined */
#ifdef TD_PAYLOAD_STUB_TDCALL
        /* The stub's parameter, all 64 bits (mode and N above bit 31). */
        movabsq $TD_PAYLOAD_STUB_RCX, %rcx
#endif
        /* RCX is kept whole: the mode's N lives in RCX[63:32]. Nothing in
         * 32-bit mode wrote ECX, so the upper half is what the TDX module
         * (TDH.VP.INIT's parameter) or the stub put there. */
        andl    $0x3f, %ebx
        cmpq    $TDP_MAX_VCPUS, %rsi
        jae     tdp_no_stack
        /* rsp = stacks_top - index * STACK_SIZE */
        movabsq $tdp_stacks_top, %rsp
        movq    %rsi, %rax
        shlq    $12, %rax               /* TDP_STACK_SIZE == 4096 */
        subq    %rax, %rsp
        xorl    %ebp, %ebp
        movq    %rsi, %rdi              /* td_main(index, rcx, gpaw) */
        movq    %rcx, %rsi
        movq    %rbx, %rdx
        movabsq $td_main, %rax
        call    *%rax
        /* td_main does not return */
tdp_no_stack:
#ifdef TD_PAYLOAD_STUB_TDCALL
1:      hlt
        jmp     1b
#else
        /* No stack for this vCPU: TDG.VP.VMCALL<Instruction.HLT> forever. */
1:      xorl    %eax, %eax
        movl    $0xfc00, %ecx
        xorl    %r10d, %r10d
        movl    $12, %r11d
        xorl    %r12d, %r12d
        .byte   0x66, 0x0f, 0x01, 0xcc
        jmp     1b
#endif

/* ---- exception stubs: push error code (or 0) and vector, then C -------- */
        .balign 16
        .globl tdp_exc_stubs
tdp_exc_stubs:
        .set vec, 0
        .rept 32
        .balign 16
        .if (vec == 8) || ((vec >= 10) && (vec <= 14)) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30)
        .else
        pushq   $0
        .endif
        pushq   $vec
        .if vec == 20
        jmp     tdp_ve_common           /* #VE: may be handled and resumed */
        .else
        jmp     tdp_exc_common
        .endif
        .set vec, vec + 1
        .endr

/* #VE: save every GPR, tdp_ve(frame) (frame as for tdp_exception), which
 * returns only if the #VE was handled; restore and resume. The CPU
 * aligned RSP to 16 before its 5-word frame: 5 + 2 + 15 words keep the
 * call aligned. */
tdp_ve_common:
        pushq   %rax
        pushq   %rbx
        pushq   %rcx
        pushq   %rdx
        pushq   %rsi
        pushq   %rdi
        pushq   %rbp
        pushq   %r8
        pushq   %r9
        pushq   %r10
        pushq   %r11
        pushq   %r12
        pushq   %r13
        pushq   %r14
        pushq   %r15
        leaq    15*8(%rsp), %rdi
        movabsq $tdp_ve, %rax
        call    *%rax
        popq    %r15
        popq    %r14
        popq    %r13
        popq    %r12
        popq    %r11
        popq    %r10
        popq    %r9
        popq    %r8
        popq    %rbp
        popq    %rdi
        popq    %rsi
        popq    %rdx
        popq    %rcx
        popq    %rbx
        popq    %rax
        addq    $16, %rsp               /* vector, error code */
        iretq

/* irq mode: one stub per vector; save the caller-saved GPRs, call
 * tdp_irq(frame) (frame[0] = vector, then the CPU's frame), iretq. After
 * the CPU's 5 words, the vector and 9 GPRs the stack is 8 off 16. */
        .globl tdp_irq_stub_host, tdp_irq_stub_ipi, tdp_irq_stub_self
tdp_irq_stub_host:
        pushq   $TDP_VEC_HOST
        jmp     tdp_irq_common
tdp_irq_stub_ipi:
        pushq   $TDP_VEC_IPI
        jmp     tdp_irq_common
tdp_irq_stub_self:
        pushq   $TDP_VEC_SELF
        jmp     tdp_irq_common
tdp_irq_common:
        pushq   %rax
        pushq   %rcx
        pushq   %rdx
        pushq   %rsi
        pushq   %rdi
        pushq   %r8
        pushq   %r9
        pushq   %r10
        pushq   %r11
        leaq    9*8(%rsp), %rdi
        subq    $8, %rsp
        movabsq $tdp_irq, %rax
        call    *%rax
        addq    $8, %rsp
        popq    %r11
        popq    %r10
        popq    %r9
        popq    %r8
        popq    %rdi
        popq    %rsi
        popq    %rdx
        popq    %rcx
        popq    %rax
        addq    $8, %rsp                /* vector */
        iretq

tdp_exc_common:
        /* Stack: vector, error code, RIP, CS, RFLAGS, RSP, SS. */
        movq    %rsp, %rdi
        andq    $-16, %rsp
        movabsq $tdp_exception, %rax
        call    *%rax
2:      hlt
        jmp     2b

#ifdef TD_PAYLOAD_STUB_TDCALL
/* ---- stub build only: real mode at reset -> the TD entry state --------- */
/* (RCX, TD_PAYLOAD_STUB_RCX from layout.h, is loaded in 64-bit mode.) */
#ifndef TD_PAYLOAD_STUB_VCPU
#define TD_PAYLOAD_STUB_VCPU 0
#endif
        .section .boot16.gdt, "a", @progbits
        .balign 16
tdp_gdt16:
        .quad 0
        .quad 0x00cf9a000000ffff        /* 0x08: flat 32-bit code */
        .quad 0x00cf92000000ffff        /* 0x10: flat data */
tdp_gdt16_end:

        .section .boot16.text, "ax", @progbits
        .code16
        .balign 16
tdp_gdt16_desc:
        .word tdp_gdt16_end - tdp_gdt16 - 1
        .long tdp_gdt16
tdp_boot16:
        cli
        /* CS base is 0xFFFF0000: address our descriptor through CS. */
        lgdtl   %cs:(tdp_gdt16_desc - 0xffff0000)
        movl    $0x31, %eax             /* PE | ET | NE */
        movl    %eax, %cr0
        ljmpl   $0x08, $tdp_boot32

        .code32
tdp_boot32:
        movl    $0x10, %eax
        movl    %eax, %ds
        movl    %eax, %es
        movl    %eax, %ss
        movl    %eax, %fs
        movl    %eax, %gs
        movl    $0x40, %eax             /* CR4.MCE */
        movl    %eax, %cr4
        movl    $0xc0000080, %ecx       /* EFER = LME | NXE */
        movl    $0x900, %eax
        xorl    %edx, %edx
        wrmsr
        movl    $TD_PAYLOAD_STUB_VCPU, %esi     /* vCPU index */
        movl    $48, %ebx                       /* GPAW */
        jmp     tdp_entry32
#endif

/* ---- the reset vector: the last 16 bytes, at 0xFFFFFFF0 ----------------- */
        .section .resetvec, "ax", @progbits
#ifdef TD_PAYLOAD_STUB_TDCALL
        .code16
        jmp     tdp_boot16
#else
        .code32
        jmp     tdp_entry32
#endif
        .balign 16, 0xf4                /* hlt */

        .section .note.GNU-stack, "", @progbits
