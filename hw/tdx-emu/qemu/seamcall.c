/*
 * tdx-emu: SEAMCALL adapter from the CPU model to the emulated TDX module.
 * See seamcall.h for the contract (threading, register file, results).
 *
 * The logical processor number the module sees is the vCPU index: the
 * core was created with one LP per vCPU (tdx-emu.c). The call runs on the
 * vCPU's own thread without the BQL, so two L1 CPUs issuing SEAMCALLs race
 * inside the core exactly as two logical processors race in SEAM.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "target/i386/cpu.h"
#include "tdx-emu.h"
#include "seamcall.h"

TdxEmuSeamcallResult tdx_emu_seamcall(CPUState *lp, TdxEmuSeamcallRegs *regs)
{
    TdxEmuState *s = X86_CPU(lp)->env.tdx_emu_cfg.platform;
    /*
     * Written once at machine-init-done, before any vCPU first runs: vCPU
     * start-up orders that write before this read.
     */
    struct tdx_module *m = s ? s->module : NULL;

    /*
     * No module instance (machine not complete, or tdx-emu=on without the
     * object): SEAM is not ready, which is VMfailInvalid — Linux's
     * "module not loaded".
     */
    if (!m) {
        return TDX_EMU_SEAMCALL_VMFAILINVALID;
    }
    /* TDH.VP.ENTER continues in the CPU: the TD runs on this thread. */
    if ((regs->rax & 0xFFFF) == 0 && !(regs->rax >> 63)) {
        return tdx_emu_vp_enter(s, lp, regs);
    }
    tdx_seamcall(m, lp->cpu_index, regs);
    return TDX_EMU_SEAMCALL_DONE;
}
