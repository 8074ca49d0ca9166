/*
 * tdx-emu: QOM object that owns the emulated TDX module.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef HW_TDX_EMU_H
#define HW_TDX_EMU_H

#include "qemu/notify.h"
#include "exec/memory.h"
#include "qom/object.h"

#define TYPE_TDX_EMU "tdx-emu"
OBJECT_DECLARE_SIMPLE_TYPE(TdxEmuState, TDX_EMU)

/*
 * KeyIDs are carved from the top physical-address bits, so their total is a
 * power of two no larger than 2^TDX_EMU_MAX_KEYID_BITS.
 */
#define TDX_EMU_MAX_KEYID_BITS 6

struct TdxEmuState {
    Object parent_obj;

    /* Properties; fixed once the object is complete. */
    uint32_t tdx_keyids;
    uint32_t mktme_keyids;
    uint64_t seed;
    uint64_t hold_window_ns;
    char *inject;                               /* as given */
    GPtrArray *inject_rules;    /* TdxEmuInjectRule; armed at machine done */

    bool complete;

    /* The SEAM range (SEAMRR): reserved by the first tdx-emu vCPU. */
    uint64_t seam_base;
    uint64_t seam_size;
    MemoryRegion seam_mr;

    /* The rate of L1's TSC in kHz: measured by the first tdx-emu vCPU. */
    uint32_t tsc_khz;

    /* The emulated module; created once the machine (RAM, CPUs) exists. */
    struct tdx_module *module;
    Notifier machine_done;
};

/*
 * The SEAM range, as a CPU with @pa_bits usable physical-address bits (the
 * KeyID bits excluded) sees it: reserved on the first call (e820 reserved
 * entry, and a region over it where L1 reads all-ones and writes are
 * dropped, as for non-SEAM accesses on hardware); later calls must agree.
 */
bool tdx_emu_reserve_seam_range(TdxEmuState *s, unsigned pa_bits,
                                uint64_t *base, uint64_t *size, Error **errp);

/*
 * The frequency of the TSC L1 reads, in kHz (0: could not be measured).
 * Under TCG a guest's TSC is the host's cycle counter, so this is the
 * host's rate, measured on the first call; later calls return that value,
 * so every vCPU reports the same one (CPUID 0x15/0x16, tdx-emu-cpu.c).
 */
uint32_t tdx_emu_tsc_khz(TdxEmuState *s);

/*
 * The module a tdx-emu vCPU issues SEAMCALLs to, or NULL before the machine
 * is complete (SEAM not ready: VMfailInvalid). The CPU calls the core's
 * entry points (tdx_seamcall, tdx_tdcall, tdx_vp_exit, ...) with it on the
 * vCPU's thread, without the BQL. Set once at machine-init-done, before
 * any vCPU first runs: vCPU start-up orders that write before this read.
 */
struct tdx_module *tdx_emu_module_of(CPUState *cs);

/* Called by the monitor ("info tdx"). */
void tdx_emu_print_info(TdxEmuState *s, GString *out);

/* The tdx-emu object `id` with its module, for the monitor commands. */
TdxEmuState *tdx_emu_find(const char *id, Error **errp);

#endif
