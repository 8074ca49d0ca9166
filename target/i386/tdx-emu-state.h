/*
 * tdx-emu: per-vCPU state of the emulated VMX-root subset and platform
 * configuration. Included by QEMU's target/i386/cpu.h (one patch line), so
 * it must stay free of QEMU includes: plain types only (the module core's
 * public header is plain C).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef TDX_EMU_STATE_H
#define TDX_EMU_STATE_H

#include <stdbool.h>
#include <stdint.h>

#include "hw/tdx-emu/core/tdx-core.h"

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
    uint32_t tsc_khz;       /* L1's TSC rate (CPUID 0x15/0x16); 0: unknown */
    uint32_t tsc_den;       /* CPUID 0x15 EAX: TSC / crystal = num / den */
    uint32_t tsc_num;       /* CPUID 0x15 EBX; 0: leaf 0x15 left as QEMU has it */
    struct TdxEmuState *platform; /* the tdx-emu object (QOM owns it) */
} TdxEmuCpuConfig;

/*
 * TD-guest mode (SEAM non-root operation) of one logical processor: the
 * run record TDH.VP.ENTER fills (struct tdx_td_run of the module core's
 * public header, plain C) and what the CPU keeps while the TD runs.
 */
/*
 * Room for L1's state while a TD runs: a struct tdx_vcpu_arch (checked at
 * build time in td-guest.c). Kept inline rather than as a pointer so that a
 * CPU reset, which zeroes this struct, cannot leak an allocation.
 */
#define TDX_EMU_L1_SAVE_SIZE (4096 + 1024)

typedef struct TdxEmuTdState {
    bool in_td;                 /* executing TD code (SEAM non-root) */
    struct tdx_td_run run;      /* valid while in_td */
    uint64_t l1_rip;            /* L1 resumes here: after its SEAMCALL */
    /* The last failed second-stage translation, raised by the stage-2
     * fault path (translation may run in a probe that must not fault yet). */
    int xlate_fail;             /* enum tdx_td_xlate */
    struct tdx_td_exit xlate_exit;
    /* Whose translations the TD MMU indexes hold (NULL: none known). */
    const struct tdx_vcpu *tlb_vcpu;
    uint64_t tlb_shared_eptp;
    uint64_t l1_save[TDX_EMU_L1_SAVE_SIZE / 8];
} TdxEmuTdState;

#endif
