/*
 * tdx-emu: per-vCPU state of the emulated VMX-root subset and platform
 * configuration. Included by QEMU's target/i386/cpu.h (one patch line), so
 * it must stay free of QEMU includes: plain types only.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef TDX_EMU_STATE_H
#define TDX_EMU_STATE_H

#include <stdbool.h>
#include <stdint.h>

/*
 * VMX operation of one logical processor. Lives in CPUX86State before
 * end_reset_fields, so a CPU reset (and INIT, which QEMU implements as a
 * reset) leaves VMX operation: all-zero is the architectural reset state.
 * (Real CPUs block INIT in VMX root operation; Linux never sends INIT to a
 * CPU after VMXON, so the difference is not observable by L1.)
 */
typedef struct TdxEmuVmxState {
    bool vmxon;            /* in VMX root operation */
    bool vmcs_valid;       /* current-VMCS pointer is valid */
    uint64_t vmxon_ptr;    /* physical address of the VMXON region */
    uint64_t current_vmcs; /* physical address of the current VMCS */
} TdxEmuVmxState;

/* Platform configuration a tdx-emu vCPU reports; fixed at realize. */
typedef struct TdxEmuCpuConfig {
    bool enabled;           /* the "tdx-emu" CPU property */
    uint32_t tdx_keyids;    /* from the tdx-emu object */
    uint32_t mktme_keyids;  /* KeyID 0 included */
    uint32_t keyid_bits;    /* physical-address bits the KeyIDs take */
    uint64_t seamrr_base;   /* the SEAM range the object reserved */
    uint64_t seamrr_size;
    struct TdxEmuState *platform; /* the tdx-emu object (QOM owns it) */
} TdxEmuCpuConfig;

#endif
