/*
 * tdx-emu: the SEAMCALL entry point between the CPU model (target/i386,
 * vmx-helper.c) and the emulated TDX module.
 *
 * The CPU side decodes SEAMCALL, performs the architectural checks that
 * come before entering SEAM (#UD outside VMX root operation or outside
 * 64-bit mode, #GP(0) at CPL > 0, ...), then calls tdx_emu_seamcall() with
 * the calling logical processor's register file. This function stands for
 * "the logical processor is in SEAM root operation": it either completes
 * the call (outputs in @regs, status in RAX, as after SEAMRET) or reports
 * that the SEAM call failed before entering the module.
 *
 * Threading: called on the calling vCPU's thread, from a TCG helper,
 * WITHOUT the BQL (MTTCG). Implementations must not take the BQL nor
 * touch QEMU state that needs it; the core is plain C with its own locks.
 * Guest memory is reached through address_space_* (RCU-safe).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef HW_TDX_EMU_SEAMCALL_H
#define HW_TDX_EMU_SEAMCALL_H

#include "hw/core/cpu.h"
#include "../core/tdx-core.h"

/*
 * SEAMCALL's register ABI (inputs and outputs in the same registers) is the
 * core's register file: RAX = leaf (bit 63 = P-SEAMLDR) in, status out.
 */
typedef struct tdx_regs TdxEmuSeamcallRegs;

typedef enum TdxEmuSeamcallResult {
    /* The module (or P-SEAMLDR) ran and SEAMRET back: VMsucceed flags. */
    TDX_EMU_SEAMCALL_DONE,
    /*
     * TDH.VP.ENTER accepted: the module filled the calling vCPU's
     * env->tdx_emu_td.entry (td-guest.h) and @regs is ignored. The CPU
     * saves L1's state and runs the TD vCPU; the SEAMCALL completes only
     * at TD exit, with the outputs tdx_emu_td_exit() gives (VMsucceed).
     */
    TDX_EMU_SEAMCALL_ENTER_TD,
    /*
     * VMfailInvalid (CF=1, registers unchanged): SEAM is not ready — no
     * module loaded, or the loader busy on another logical processor.
     */
    TDX_EMU_SEAMCALL_VMFAILINVALID,
} TdxEmuSeamcallResult;

/* TDH.VP.ENTER (td-run.c): ENTER_TD, or DONE with the outputs in @regs. */
struct TdxEmuState;
TdxEmuSeamcallResult tdx_emu_vp_enter(struct TdxEmuState *s, CPUState *lp,
                                      TdxEmuSeamcallRegs *regs);

/* @lp is the calling logical processor (its vCPU). */
TdxEmuSeamcallResult tdx_emu_seamcall(CPUState *lp, TdxEmuSeamcallRegs *regs);

#endif
