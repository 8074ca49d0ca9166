/*
 * tdx-emu: SEAMCALL adapter from the CPU model to the emulated TDX module.
 * See seamcall.h for the contract (threading, register file, results).
 *
 * Today no module is wired in, so every SEAMCALL takes the architectural
 * "SEAM not ready" path: VMfailInvalid. Per the SEAMCALL description in
 * Intel's TDX CPU architectural extensions, SEAMCALL fails with
 * VMfailInvalid when SEAM is not enabled/loaded (the module was never
 * installed), which Linux reports as TDX_SEAMCALL_VMFAILINVALID ("module
 * not loaded").
 *
 * Where the core plugs in: look up the tdx-emu object's module instance,
 * then call the core's dispatcher with (module, lp->cpu_index, regs) and
 * return TDX_EMU_SEAMCALL_DONE with the status it left in regs->rax. Calls
 * with RAX bit 63 set target P-SEAMLDR; until the core models the loader,
 * those fail the same way.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "seamcall.h"

TdxEmuSeamcallResult tdx_emu_seamcall(CPUState *lp, TdxEmuSeamcallRegs *regs)
{
    return TDX_EMU_SEAMCALL_VMFAILINVALID;
}
