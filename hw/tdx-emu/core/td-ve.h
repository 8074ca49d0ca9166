/*
 * #VE for the instructions and MSRs a TDX module virtualizes that way:
 * the decision "#VE or handled by the module", the VE_INFO record that
 * TDG.VP.VEINFO.GET returns, and per-reason counters.
 *
 * Facts (Intel tdx_1.5 TD dispatcher: CPUID, MSR, I/O and HLT VM exits,
 * tdx_inject_ve()):
 *  - CPUID: a leaf above the maximum of its range is taken as the last
 *    base leaf (0x23) before anything else; the reserved range
 *    0x40000000..0x4FFFFFFF is never remapped. Then a leaf/sub-leaf that
 *    is not in the module's CPUID table (among others 0x2, 0xB, the brand
 *    string 0x80000002..4, the whole reserved range), or that the table
 *    marks faulting (0x6, 0x1F, 0x80000006), is a #VE; so is every CPUID
 *    when the vCPU's CPUID_SUPERVISOR_VE (CPL 0) or CPUID_USER_VE (CPL > 0)
 *    is set. The rest is virtualized by the module (tdx_td_cpuid()).
 *    Topology leaves 0xB/0x1F therefore #VE: a guest that wants them must
 *    enable TD_CTLS.ENUM_TOPOLOGY, which needs TOPOLOGY_ENUM_CONFIGURED, a
 *    field this module (like Intel's tdx_1.5) does not have.
 *  - I/O instructions (IN, OUT, INS, OUTS) and HLT: always #VE.
 *  - RDMSR/WRMSR: MSRs outside the module's MSR table and those the table
 *    marks "#VE" (or "#GP or #VE", taken as #VE) for that direction.
 *  - VE_INFO holds exit reason, qualification, GLA, GPA, instruction
 *    length and information. If VE_INFO is still valid (the guest has not
 *    called TDG.VP.VEINFO.GET since the last #VE), the module injects #DF
 *    instead of #VE and leaves VE_INFO alone.
 */
#ifndef TDX_EMU_TD_VE_H
#define TDX_EMU_TD_VE_H

#include <stdbool.h>
#include <stdint.h>

#include "tdx-vmx.h"

struct tdx_module;
struct tdx_vcpu;

/* Counter index (struct tdx_stats.ve[]). */
enum tdx_ve_counter {
    TDX_VE_CNT_CPUID,
    TDX_VE_CNT_HLT,
    TDX_VE_CNT_IO,
    TDX_VE_CNT_RDMSR,
    TDX_VE_CNT_WRMSR,
    TDX_VE_CNT_EPT,
    TDX_VE_CNT_DF,          /* #VE while VE_INFO valid -> #DF */
    TDX_VE_CNT_OTHER,
    TDX_VE_NUM_COUNTERS
};

/* Name of counter i ("cpuid", "hlt", ...), or NULL. */
const char *tdx_ve_counter_name(unsigned i);

/* An instruction of the TD that the module intercepts. */
struct tdx_ve_event {
    uint32_t exit_reason;       /* TDX_VE_EXIT_* */
    uint64_t qualification;     /* I/O: VMX I/O exit qualification */
    uint32_t instr_len;
    unsigned cpl;
    uint32_t leaf, subleaf;     /* CPUID */
    uint32_t msr;               /* RDMSR/WRMSR */
};

enum tdx_ve_action {
    TDX_VE_NONE,        /* not a #VE: the module handles/virtualizes it */
    TDX_VE_INJECT,      /* #VE (vector 20); VE_INFO filled */
    TDX_VE_DOUBLE,      /* VE_INFO was still valid: #DF (vector 8) */
};

/* Pure decisions (no state). */
#define TDX_CPUID_LAST_BASE_LEAF    0x23u
#define TDX_CPUID_LAST_EXT_LEAF     0x80000008u
/* The leaf the module looks up for `leaf` (the remapping above). */
uint32_t tdx_td_cpuid_leaf(uint32_t leaf);
/* `leaf` as the guest gave it (remapped here); CPL of the guest. */
bool tdx_ve_cpuid_faults(const struct tdx_vcpu *v, uint32_t leaf,
                         uint32_t subleaf, unsigned cpl);
bool tdx_ve_msr_faults(uint32_t msr, bool write);

/*
 * CPUID in a TD (a leaf the module does not turn into #VE; `leaf` already
 * remapped by tdx_td_cpuid_leaf()): the module's virtualization applied to
 * the CPU's native values r[0..3] (EAX, EBX, ECX, EDX) of that leaf, where
 * a leaf the CPU does not implement is all zeros. Facts (Intel tdx_1.5
 * CPUID lookup table: fixed-1 and fixed-0/dynamic bits; TD CPUID exit):
 *  - CPUID(0).EAX, the maximum basic leaf, is 0x23; leaves 0x3 and 0x20
 *    read as zero;
 *  - leaf 0x21 is the TDX leaf: subleaf 0 is EAX = 0, EBX:EDX:ECX =
 *    "IntelTDX    " (TDVF and Linux detect a TD by it);
 *  - CPUID(1): ECX VMX (5), SMX (6) and bit 16 fixed 0, the hypervisor bit
 *    (ECX 31) and APIC (EDX 9) fixed 1, EDX bits 10, 17, 20, 30 fixed 0,
 *    EBX[31:24] the vCPU's initial APIC ID (its x2APIC ID as the VMM set it
 *    with TDH.VP.INIT, low 8 bits); OSXSAVE follows CR4 (the CPU does);
 *  - CPUID(7,0): SGX (EBX 2) and TME (ECX 13) are 0 (a TD has neither);
 *  - CPUID(0x15), TSC/crystal ratio, from the TD's TSC_FREQUENCY (TD_PARAMS,
 *    25 MHz units): EAX = 1, EBX = TSC_FREQUENCY, ECX = 25 000 000 (the
 *    nominal crystal in Hz), EDX = 0; `tsc_frequency` 0 keeps the CPU's.
 * Not modelled yet: the TD_PARAMS CPUID configuration (the configurable
 * bits are the CPU's), XSAVE leaves by XFAM.
 */
#define TDX_CPUID_LEAF_TDX          0x21u
#define TDX_CPUID_TDX_EBX           0x65746E49u     /* "Inte" */
#define TDX_CPUID_TDX_EDX           0x5844546Cu     /* "lTDX" */
#define TDX_CPUID_TDX_ECX           0x20202020u     /* "    " */
#define TDX_CPUID_TSC_CRYSTAL_HZ    25000000u
void tdx_td_cpuid(unsigned tsc_frequency, uint32_t x2apic_id, uint32_t leaf,
                  uint32_t subleaf, uint32_t r[4]);

/*
 * The decision for `ev` on vCPU `v` (running on its LP: only that LP
 * touches v->ve_info). On TDX_VE_INJECT, v->ve_info holds the event;
 * counters in m->stats.ve[] are updated for INJECT and DOUBLE.
 */
enum tdx_ve_action tdx_td_ve(struct tdx_module *m, struct tdx_vcpu *v,
                             const struct tdx_ve_event *ev);

#endif
