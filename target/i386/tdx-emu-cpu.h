/*
 * tdx-emu: the x86 CPU side of the emulated TDX platform, as seen by the
 * QEMU files our patches hook (cpu.c, tcg/system/misc_helper.c,
 * tcg/translate.c). Everything here is inert unless the CPU was created with
 * "tdx-emu=on", so plain QEMU behaves exactly as before.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef TDX_EMU_CPU_H
#define TDX_EMU_CPU_H

#include "cpu.h"

/* CPUID bits tdx-emu adds on top of what TCG supports. */
#define TDX_EMU_CPUID_7_0_ECX_TME   (1U << 13)   /* TME/MKTME enumerated */

/*
 * IA32_ARCH_CAPABILITIES of a TDX-era CPU (the "not affected" bits Sapphire
 * Rapids reports), without IBRS_ALL: TCG has no IA32_SPEC_CTRL, and eIBRS
 * would make the kernel write it. With RDCL_NO the kernel does not treat the
 * CPU as L1TF-vulnerable, so KVM's MMU does not reserve GPA bits for the
 * L1TF mitigation (which WARNs with 52 physical-address bits).
 */
#define TDX_EMU_ARCH_CAPABILITIES \
    (MSR_ARCH_CAP_RDCL_NO | MSR_ARCH_CAP_SKIP_L1DFL_VMENTRY | \
     MSR_ARCH_CAP_MDS_NO | MSR_ARCH_CAP_PSCHANGE_MC_NO | MSR_ARCH_CAP_TAA_NO | \
     MSR_ARCH_CAP_SBDR_SSDP_NO | MSR_ARCH_CAP_FBSDP_NO | \
     MSR_ARCH_CAP_PSDP_NO | MSR_ARCH_CAP_PBRSB_NO | MSR_ARCH_CAP_GDS_NO | \
     MSR_ARCH_CAP_RFDS_NO)

/*
 * Physical-address width of a TDX host CPU unless phys-bits is given: 52,
 * the KeyID bits being its top bits (the kernel subtracts them). KVM's TDX
 * code accepts only TDs of 48 or 52 guest physical-address bits, and
 * derives them from this width (TCG's default of 40 makes
 * KVM_TDX_INIT_VM fail with EINVAL).
 */
#define TDX_EMU_DEFAULT_PHYS_BITS   52

/*
 * Feature bits tdx-emu makes available (host-supported, in QEMU's terms) for
 * feature word @w: VMX, MOVDIR64B, TME and IA32_ARCH_CAPABILITIES. Header-inline so cpu.c, which is
 * also built for user mode, needs no extra object.
 */
static inline uint64_t tdx_emu_cpu_extra_features(X86CPU *cpu, FeatureWord w)
{
    if (!cpu || !cpu->env.tdx_emu_cfg.enabled) {
        return 0;
    }
    switch (w) {
    case FEAT_1_ECX:
        return CPUID_EXT_VMX;
    case FEAT_7_0_ECX:
        return CPUID_7_0_ECX_MOVDIR64B | TDX_EMU_CPUID_7_0_ECX_TME;
    case FEAT_7_0_EDX:
        return CPUID_7_0_EDX_ARCH_CAPABILITIES;
    case FEAT_ARCH_CAPABILITIES:
        return TDX_EMU_ARCH_CAPABILITIES;
    default:
        return 0;
    }
}

#ifndef CONFIG_USER_ONLY
/* Realize-time checks and configuration; false (with @errp set) on error. */
bool tdx_emu_cpu_realize(X86CPU *cpu, Error **errp);

/* RDMSR/WRMSR hooks: the MSR is ours (handled), faults, or is not ours. */
enum { TDX_EMU_MSR_UNHANDLED, TDX_EMU_MSR_HANDLED, TDX_EMU_MSR_GP };
int tdx_emu_rdmsr(CPUX86State *env, uint32_t index, uint64_t *val);
int tdx_emu_wrmsr(CPUX86State *env, uint32_t index, uint64_t val);

/*
 * CPUID 0x15 (TSC/crystal ratio, crystal frequency) and 0x16 (processor
 * frequencies) of a tdx-emu vCPU into @regs (EAX..EDX); left as they are
 * without tdx-emu=on or when the TSC rate is unknown.
 */
void tdx_emu_cpu_cpuid_freq(CPUX86State *env, uint32_t leaf, uint32_t regs[4]);

/* MOV to CR0/CR4: false when VMX operation forbids the new value (#GP). */
bool tdx_emu_cr_write_ok(CPUX86State *env, int reg, uint64_t val);

/* --- Used by the VMX instruction helpers (vmx-helper.c). --- */

#define TDX_EMU_VMCS_REVISION   0x00000e51u  /* "e51": emulated, any value works */
#define TDX_EMU_VMCS_SIZE       4096

/* Value of VMX capability MSR @index (0x480..0x491). */
uint64_t tdx_emu_vmx_cap(CPUX86State *env, uint32_t index);

/*
 * VMCS fields: the slot (0-based, 8 bytes each) where field @enc lives in
 * our VMCS region layout, or -1 if the field is not supported. 64-bit
 * fields accept both the full (even) and the high (odd) encoding; both map
 * to the same slot.
 */
int tdx_emu_vmcs_field_slot(uint64_t enc);
/* Highest index (encoding bits 9:1) among supported fields. */
unsigned tdx_emu_vmcs_max_index(void);
#endif

#endif
