/*
 * tdx-emu: the glue half of TD-guest mode (contract in td-guest.h).
 *
 * Runs on the vCPU's thread without the BQL, like every SEAMCALL. The core
 * owns the TD vCPU's state and the S-EPT; this file only adapts: it keeps
 * one TdxEmuTdEntry per LP in the tdx-emu object, walks KVM's shared EPT
 * (which lives in L1 memory, so it is read like any other L1 memory, never
 * trusted beyond the entry bits), and converts exit records.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "exec/address-spaces.h"
#include "target/i386/cpu.h"
#include "td-guest.h"
#include "tdx-emu.h"
#include "seamcall.h"
#include "../trace.h"

/* EPT entry bits (Intel SDM vol. 3, "EPT paging-structure entries"). */
#define EPTE_R          (1ULL << 0)
#define EPTE_W          (1ULL << 1)
#define EPTE_X          (1ULL << 2)
#define EPTE_PS         (1ULL << 7)
#define EPTE_SVE        (1ULL << 63)    /* suppress #VE */
#define EPTE_ADDR       0x000FFFFFFFFFF000ULL

#define EXIT_REASON_EPT_VIOLATION   48
#define EXIT_REASON_EPT_MISCONFIG   49
#define EPT_QUAL_GPA_VALID          (1ULL << 7)
#define EPT_QUAL_TRANSLATED         (1ULL << 8)

static TdxEmuState *platform_of(CPUState *cs)
{
    return X86_CPU(cs)->env.tdx_emu_cfg.platform;
}

/* The CPU's entry (env->tdx_emu_td.entry) and the glue's run record. */
static TdxEmuTdEntry *entry_of(CPUState *cs)
{
    return &X86_CPU(cs)->env.tdx_emu_td.entry;
}

static struct tdx_td_run *run_of(CPUState *cs)
{
    return &platform_of(cs)->td_runs[cs->cpu_index];
}

TdxEmuSeamcallResult tdx_emu_vp_enter(TdxEmuState *s, CPUState *cs,
                                      struct tdx_regs *regs)
{
    struct tdx_td_run *run = &s->td_runs[cs->cpu_index];
    TdxEmuTdEntry *e = entry_of(cs);

    if (!tdx_vp_enter(s->module, cs->cpu_index, regs, run)) {
        return TDX_EMU_SEAMCALL_DONE;
    }
    *e = (TdxEmuTdEntry) {
        .vcpu = run->vcpu, .state = run->state,
        .gpa_width = run->gpa_width, .flush_tlb = run->flush_tlb,
    };
    return TDX_EMU_SEAMCALL_ENTER_TD;
}

static void fill_exit(TdxEmuTdExit *out, const struct tdx_td_exit *x)
{
    *out = (TdxEmuTdExit) {
        .reason = x->reason, .qualification = x->qualification,
        .ext_qualification = x->ext_qualification, .gpa = x->gpa,
        .intr_info = x->intr_info,
    };
}

static uint64_t access_bits(int access)
{
    return (access & TDX_EMU_TD_READ ? EPTE_R : 0) |
           (access & TDX_EMU_TD_WRITE ? EPTE_W : 0) |
           (access & TDX_EMU_TD_FETCH ? EPTE_X : 0);
}

/*
 * KVM's EPT for shared GPAs: 4-level EPT format in L1 memory, indexed with
 * the full GPA (shared bit included). A non-present entry with "suppress
 * #VE" clear is how KVM marks emulated MMIO for TDs: the TD gets #VE and
 * asks for the access with TDG.VP.VMCALL. Reserved memory-type/permission
 * combinations are EPT misconfigurations.
 */
static TdxEmuTdXlate shared_translate(struct tdx_td_run *run, uint64_t gpa,
                                      int access, uint64_t *hpa,
                                      TdxEmuTdExit *exit)
{
    uint64_t table = run->shared_eptp & EPTE_ADDR;
    uint64_t want = access_bits(access);
    uint64_t pte = 0;
    int level;

    for (level = 3; level >= 0; level--) {
        unsigned idx = (gpa >> (12 + 9 * level)) & 511;
        MemTxResult res;

        pte = address_space_ldq_le(&address_space_memory, table + 8 * idx,
                                   MEMTXATTRS_UNSPECIFIED, &res);
        if (res != MEMTX_OK) {
            goto misconfig;
        }
        if (!(pte & (EPTE_R | EPTE_W | EPTE_X))) {
            if (!(pte & EPTE_SVE) && level == 0) {
                return TDX_EMU_TD_XLATE_VE;
            }
            goto violation;
        }
        if ((pte & (EPTE_R | EPTE_W)) == EPTE_W) {
            goto misconfig;             /* write-only is reserved */
        }
        if (level == 0 || ((level == 1 || level == 2) && (pte & EPTE_PS))) {
            break;
        }
        table = pte & EPTE_ADDR;
    }
    if ((pte & want) != want) {
        goto violation;
    }
    *hpa = (pte & EPTE_ADDR & ~((1ULL << (12 + 9 * level)) - 1)) |
           (gpa & ((1ULL << (12 + 9 * level)) - 1));
    return TDX_EMU_TD_XLATE_OK;

violation:
    *exit = (TdxEmuTdExit) {
        .reason = EXIT_REASON_EPT_VIOLATION,
        .qualification = want | ((pte & 7) << 3) | EPT_QUAL_GPA_VALID |
                         EPT_QUAL_TRANSLATED,
        .gpa = gpa,
    };
    return TDX_EMU_TD_XLATE_EXIT;
misconfig:
    *exit = (TdxEmuTdExit) { .reason = EXIT_REASON_EPT_MISCONFIG, .gpa = gpa };
    return TDX_EMU_TD_XLATE_EXIT;
}

TdxEmuTdXlate tdx_emu_td_translate(CPUState *cs, uint64_t gpa, int access,
                                   uint64_t *hpa, TdxEmuTdExit *exit)
{
    struct tdx_td_run *run = run_of(cs);
    struct tdx_td_exit x;

    /* GPAs above the TD's width: like an unmapped private GPA. */
    if (gpa >> run->gpa_width) {
        gpa &= MAKE_64BIT_MASK(0, run->gpa_width);
    }
    if (gpa >> (run->gpa_width - 1) & 1) {
        return shared_translate(run, gpa, access, hpa, exit);
    }
    switch (tdx_td_translate_private(run, gpa,
                                     (access & TDX_EMU_TD_READ ? TDX_TD_ACCESS_READ : 0) |
                                     (access & TDX_EMU_TD_WRITE ? TDX_TD_ACCESS_WRITE : 0) |
                                     (access & TDX_EMU_TD_FETCH ? TDX_TD_ACCESS_FETCH : 0),
                                     hpa, &x)) {
    case TDX_TD_XLATE_OK:
        return TDX_EMU_TD_XLATE_OK;
    case TDX_TD_XLATE_VE:
        return TDX_EMU_TD_XLATE_VE;
    default:
        fill_exit(exit, &x);
        return TDX_EMU_TD_XLATE_EXIT;
    }
}

TdxEmuTdcallResult tdx_emu_tdcall(CPUState *cs, struct tdx_regs *regs,
                                  TdxEmuTdExit *exit)
{
    struct tdx_td_exit x;

    switch (tdx_td_tdcall(platform_of(cs)->module, run_of(cs), regs, &x)) {
    case TDX_TD_TDCALL_EXIT:
        fill_exit(exit, &x);
        return TDX_EMU_TDCALL_EXIT;
    case TDX_TD_TDCALL_EXIT_RETRY:
        fill_exit(exit, &x);
        return TDX_EMU_TDCALL_EXIT_RETRY;
    default:
        return TDX_EMU_TDCALL_DONE;
    }
}

enum tdx_ve_action tdx_emu_td_ve(CPUState *cs, const struct tdx_ve_event *ev)
{
    return tdx_td_ve(platform_of(cs)->module, run_of(cs)->vcpu, ev);
}

void tdx_emu_td_exit(CPUState *cs, const TdxEmuTdExit *exit,
                     struct tdx_regs *out)
{
    struct tdx_td_exit x = {
        .reason = exit->reason, .qualification = exit->qualification,
        .ext_qualification = exit->ext_qualification, .gpa = exit->gpa,
        .intr_info = exit->intr_info,
    };

    trace_tdx_emu_td_exit(cs->cpu_index, exit->reason, exit->qualification,
                          exit->ext_qualification, exit->gpa,
                          entry_of(cs)->state->rip);
    tdx_vp_exit(platform_of(cs)->module, run_of(cs), &x, out);
    *entry_of(cs) = (TdxEmuTdEntry) { 0 };
}
