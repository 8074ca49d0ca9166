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
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef HW_TDX_EMU_TD_GUEST_H
#define HW_TDX_EMU_TD_GUEST_H

#include "hw/core/cpu.h"
#include "../core/tdx-core.h"

/* What the CPU needs to run a TD vCPU (filled by tdx_emu_seamcall). */
typedef struct TdxEmuTdEntry {
    struct tdx_vcpu *vcpu;              /* core handle, for the glue */
    struct tdx_vcpu_arch *state;        /* core-owned; load at entry, store at exit */
    unsigned gpa_width;                 /* 48 or 52; shared bit = GPA bit gpa_width-1 */
    bool flush_tlb;                     /* translations of an earlier run are stale */
    struct tdx_td_run run;              /* the glue's bookkeeping of this run */
} TdxEmuTdEntry;

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
 * The vCPU's entry, owned by the tdx-emu object (one per LP). Valid from
 * TDX_EMU_SEAMCALL_ENTER_TD until tdx_emu_td_exit().
 */
TdxEmuTdEntry *tdx_emu_td_entry(CPUState *cs);

/* TD exit information, in VMX terms (Intel SDM vol. 3 ch. 28/ appendix C). */
typedef struct TdxEmuTdExit {
    uint32_t reason;            /* basic exit reason, e.g. 1 external interrupt,
                                   2 triple fault, 48 EPT violation, 77 TDCALL */
    uint64_t qualification;
    uint64_t ext_qualification; /* TDX extended exit qualification */
    uint64_t gpa;               /* EPT violation/misconfig */
    uint32_t intr_info;         /* external interrupt/NMI: vector | type | valid */
    uint64_t entry_rip;         /* guest RIP when the run started (zero-step filter) */
} TdxEmuTdExit;

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
 * TD exit: entry.state already holds the TD vCPU's final state. Fills
 * @out with TDH.VP.ENTER's outputs for L1 (RAX status/exit reason, RCX
 * qualification, RDX ext. qualification, R8 GPA, R9 interruption info,
 * TDVMCALL registers); all other GPRs of @out are zero unless the ABI says
 * otherwise. The entry is over after this call.
 */
void tdx_emu_td_exit(CPUState *cs, const TdxEmuTdExit *exit,
                     struct tdx_regs *out);

#endif
