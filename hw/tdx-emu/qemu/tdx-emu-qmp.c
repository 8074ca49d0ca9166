/*
 * tdx-emu: QMP commands.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/qapi-commands-tdx-emu-target.h"
#include "qom/object.h"
#include "../core/tdx-core.h"
#include "tdx-emu.h"

static TdxEmuState *tdx_emu_find(const char *id, Error **errp)
{
    Object *obj = object_resolve_path_component(object_get_objects_root(), id);
    TdxEmuState *s;

    if (!obj || !object_dynamic_cast(obj, TYPE_TDX_EMU)) {
        error_setg(errp, "tdx-emu: no tdx-emu object with id '%s'", id);
        return NULL;
    }
    s = TDX_EMU(obj);
    if (!s->module) {
        error_setg(errp, "tdx-emu: '%s' has no module yet (machine not ready)", id);
        return NULL;
    }
    return s;
}

TdxEmuRegs *qmp_x_tdx_emu_seamcall(const char *id, uint32_t lp,
                                   TdxEmuRegs *in, Error **errp)
{
    TdxEmuState *s = tdx_emu_find(id, errp);
    struct tdx_regs r = {
        .rax = in->rax, .rcx = in->rcx, .rdx = in->rdx, .rbx = in->rbx,
        .rsi = in->rsi, .rdi = in->rdi, .r8 = in->r8, .r9 = in->r9,
        .r10 = in->r10, .r11 = in->r11, .r12 = in->r12, .r13 = in->r13,
        .r14 = in->r14, .r15 = in->r15,
    };
    TdxEmuRegs *out;

    if (!s) {
        return NULL;
    }
    if (lp >= tdx_module_num_lps(s->module)) {
        error_setg(errp, "tdx-emu: LP %u does not exist (%u LPs)", lp,
                   tdx_module_num_lps(s->module));
        return NULL;
    }
    tdx_seamcall(s->module, lp, &r);
    out = g_new0(TdxEmuRegs, 1);
    out->rax = r.rax;
#define OUT(reg) out->has_##reg = true, out->reg = r.reg
    OUT(rcx); OUT(rdx); OUT(rbx); OUT(rsi); OUT(rdi); OUT(r8); OUT(r9);
    OUT(r10); OUT(r11); OUT(r12); OUT(r13); OUT(r14); OUT(r15);
#undef OUT
    return out;
}
