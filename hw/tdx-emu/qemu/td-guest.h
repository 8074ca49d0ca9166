/*
 * tdx-emu: TD-guest mode, the contract between the CPU model (target/i386,
 * td-guest.c) and the glue (hw/tdx-emu/qemu/td-run.c) that talks to the
 * module core.
 *
 * Life of one TDH.VP.ENTER, all on the calling vCPU's thread, no BQL
 * (the same model as QEMU's SVM VMRUN in svm_helper.c):
 *
 *  1. helper_seamcall() -> tdx_emu_seamcall() returns
 *     TDX_EMU_SEAMCALL_ENTER_TD and fills the vCPU's TdxEmuTdEntry
 *     (env->tdx_emu_td.entry): the core's TD vCPU state to load, and how to
 *     translate guest-physical addresses.
 *  2. The CPU saves L1's state (all of it that TD code can change), loads
 *     entry.state, sets env->tdx_emu_td.in_td, flushes its TLB and resumes
 *     execution: the next TB is TD code.
 *  3. While in_td, every guest-physical address (final addresses and the
 *     guest's own page-table walks) goes through tdx_emu_td_translate().
 *     TDCALL goes to tdx_emu_tdcall(). Pending L1 interrupts (HARD, NMI,
 *     SMI, INIT), a triple fault, and translate/tdcall results that say so
 *     end the TD run.
 *  4. TD exit: the CPU writes the TD vCPU's state back into entry.state,
 *     fills a TdxEmuTdExit, calls tdx_emu_td_exit() (which gives the state
 *     back to the core and computes TDH.VP.ENTER's output registers),
 *     restores L1's state, stores the outputs in L1's GPRs and completes the
 *     SEAMCALL (RIP after it, VMsucceed).
 *
 * What the CPU side (target/i386/td-guest.c) does and guarantees — what
 * the glue may rely on:
 *  - Entry: on ENTER_TD, helper_seamcall() asserts entry.state != NULL,
 *    saves L1 (inside env->tdx_emu_td, no allocation), loads entry.state
 *    (FPU/SSE reset values when !xsave_valid), and flushes the whole TLB
 *    at every entry and every exit (entry.flush_tlb is not needed yet).
 *    L1 resumes after its SEAMCALL at exit; there is no other way out.
 *  - While in_td the VMX instructions and SEAMCALL are #UD.
 *  - tdx_emu_td_translate(): called from TLB fills, without the BQL, at
 *    most once per fill. @access is READ, READ|WRITE (stores; also the
 *    TD's own page-table walk, since QEMU's walker may set A/D bits) or
 *    FETCH. On OK, *hpa must be an address in L1's physical address space
 *    as QEMU sees it (KeyID bits stripped); the mapping is cached as one
 *    4 KiB page with exactly the asked permission until the next entry or
 *    exit (or a TD INVLPG/CR3 write flushing it). It may be called from a
 *    probe whose failure is never raised: a VE/EXIT answer must not change
 *    state the core relies on before it is delivered (or must tolerate
 *    being asked again). EXIT: the TD's RIP is the faulting instruction.
 *  - tdx_emu_tdcall(): called at CPL 0 in the TD only (CPL > 0: #GP(0),
 *    outside a TD: #UD, neither reaches the glue); @exit arrives with
 *    reason 77 preset. DONE: TD continues after TDCALL with @regs. EXIT:
 *    the TD's RIP (in entry.state at exit) is after the TDCALL.
 *  - tdx_emu_td_exit(): called once per entry, with entry.state holding
 *    the TD's state (xsave_valid set) and env->tdx_emu_td.entry/in_td
 *    still set; @exit->entry_rip is filled by the CPU. May be called with
 *    the BQL held (exits for L1 interrupts and INIT happen in QEMU's
 *    interrupt path, which holds it) or without. Exits the CPU makes:
 *      0 NMI (intr_info 0x80000202), 1 external interrupt (acknowledged on
 *      exit: intr_info = 0x80000000 | vector; never the vCPU's posted-
 *      interrupt notification vector, which the CPU consumes inside the
 *      TD: td-vapic.h), 2 triple fault, 3 INIT
 *      (INIT stays pending: L1 is INITed right after), 6 other SMI (stays
 *      pending for L1), 12 HLT (simplification: TDX would #VE; the TD
 *      resumes after the HLT), plus the translate/TDCALL exits.
 *  - #VE (XLATE_VE) is injected as vector 20, no error code, through the
 *    TD's IDT; the CPU does not write any #VE information area.
 *  - A CPU reset while in_td (system reset) drops the TD run without
 *    calling tdx_emu_td_exit().
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef HW_TDX_EMU_TD_GUEST_H
#define HW_TDX_EMU_TD_GUEST_H

#include "hw/core/cpu.h"
#include "../core/tdx-core.h"
#include "../core/td-ve.h"
#include "target/i386/tdx-emu/tdx-emu-state.h"

/*
 * TdxEmuTdEntry (what the CPU needs to run a TD vCPU, filled by
 * tdx_emu_seamcall) and TdxEmuTdExit (TD exit information in VMX terms) are
 * defined in target/i386/tdx-emu-state.h: CPUX86State embeds them, and that
 * header must stay plain C.
 */

/* Access kinds for translation (bit mask). */
enum {
    TDX_EMU_TD_READ = 1, TDX_EMU_TD_WRITE = 2, TDX_EMU_TD_FETCH = 4,
};

typedef enum TdxEmuTdXlate {
    TDX_EMU_TD_XLATE_OK,        /* *hpa valid, access allowed */
    TDX_EMU_TD_XLATE_EXIT,      /* EPT violation/misconfig: exit the TD, *exit filled */
    TDX_EMU_TD_XLATE_VE,        /* inject #VE (vector 20) into the TD; info kept by the core */
} TdxEmuTdXlate;

/*
 * Second stage for guest-physical address @gpa (KeyID bits never present:
 * the TD only sees GPAs). Private GPAs walk the S-EPT in the core; shared
 * ones walk the shared EPT KVM gave with TDH.VP.WR (in L1 memory, EPT
 * format). On XLATE_EXIT, @exit is filled (reason 48, qualification, gpa).
 */
TdxEmuTdXlate tdx_emu_td_translate(CPUState *cs, uint64_t gpa, int access,
                                   uint64_t *hpa, TdxEmuTdExit *exit);

typedef enum TdxEmuTdcallResult {
    TDX_EMU_TDCALL_DONE,        /* regs updated; continue in the TD after TDCALL */
    TDX_EMU_TDCALL_EXIT,        /* TDG.VP.VMCALL: exit to the host, @exit filled (77) */
    TDX_EMU_TDCALL_EXIT_RETRY,  /* exit to the host, @exit filled; RIP stays AT the
                                   TDCALL so it runs again after re-entry (ACCEPT
                                   of a page the host must add first) */
} TdxEmuTdcallResult;

/* TDCALL from the TD: guest GPRs in/out (struct tdx_regs). */
TdxEmuTdcallResult tdx_emu_tdcall(CPUState *cs, struct tdx_regs *regs,
                                  TdxEmuTdExit *exit);

/*
 * An instruction the TDX module intercepts (CPUID, port I/O, HLT, RDMSR,
 * WRMSR; core/td-ve.h): the module's decision. On TDX_VE_INJECT the
 * vCPU's VE_INFO holds @ev for TDG.VP.VEINFO.GET.
 */
enum tdx_ve_action tdx_emu_td_ve(CPUState *cs, const struct tdx_ve_event *ev);

/*
 * TD exit: entry.state already holds the TD vCPU's final state. Fills
 * @out with TDH.VP.ENTER's outputs for L1 (RAX status/exit reason, RCX
 * qualification, RDX ext. qualification, R8 GPA, R9 interruption info,
 * TDVMCALL registers); all other GPRs of @out are zero unless the ABI says
 * otherwise. The entry is over after this call.
 */
void tdx_emu_td_exit(CPUState *cs, const TdxEmuTdExit *exit,
                     struct tdx_regs *out);

#endif
