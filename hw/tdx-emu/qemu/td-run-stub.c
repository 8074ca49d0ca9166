/*
 * tdx-emu: STUB of the TD-run glue (td-guest.h) — NOT TO BE MERGED.
 *
 * Stands in for hw/tdx-emu/qemu/td-run.c on the td-cpu branch only, so the
 * CPU half (target/i386/td-guest.c) links and can be exercised before the
 * real glue exists. Nothing here reaches the module core:
 *  - translate: identity (HPA = GPA), every access allowed;
 *  - TDCALL: exits to the host (reason 77), as TDG.VP.VMCALL would;
 *  - TD exit: RAX = exit reason, RCX = qualification, R8 = GPA,
 *    R9 = interruption information, other GPRs zero.
 * tdx_emu_seamcall() never returns TDX_EMU_SEAMCALL_ENTER_TD in this tree,
 * so no TD is ever entered by an unmodified L1.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "target/i386/cpu.h"
#include "td-guest.h"

TdxEmuTdXlate tdx_emu_td_translate(CPUState *cs, uint64_t gpa, int access,
                                   uint64_t *hpa, TdxEmuTdExit *exit)
{
    *hpa = gpa;
    return TDX_EMU_TD_XLATE_OK;
}

TdxEmuTdcallResult tdx_emu_tdcall(CPUState *cs, struct tdx_regs *regs,
                                  TdxEmuTdExit *exit)
{
    exit->reason = 77;
    return TDX_EMU_TDCALL_EXIT;
}

void tdx_emu_td_exit(CPUState *cs, const TdxEmuTdExit *exit,
                     struct tdx_regs *out)
{
    *out = (struct tdx_regs) {
        .rax = exit->reason,
        .rcx = exit->qualification,
        .r8 = exit->gpa,
        .r9 = exit->intr_info,
    };
}
