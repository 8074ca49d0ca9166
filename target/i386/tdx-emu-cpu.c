/*
 * tdx-emu: the x86 CPU model of the emulated TDX platform.
 *
 * With "-cpu ...,tdx-emu=on" (and an "-object tdx-emu"), L1 sees a CPU that
 * a Linux KVM/TDX host accepts:
 *   - CPUID.1:ECX.VMX, CPUID.7.0:ECX.MOVDIR64B and .TME;
 *   - IA32_FEATURE_CONTROL locked with VMXON outside SMX enabled;
 *   - CR4.VMXE settable; the VMX capability MSRs 0x480-0x491;
 *   - the MKTME/TME MSRs describing the KeyID split of the tdx-emu object,
 *     and the SEAMRR range MSRs (configured, enabled, locked);
 *   - CPUID 0x15/0x16: the TSC and APIC-timer frequencies, so that L1
 *     does not calibrate them (as on TDX-capable silicon).
 * The VMX instructions themselves are in vmx-helper.c.
 *
 * Values are the architectural facts of the Intel SDM (vol. 3, appendix A
 * "VMX capability reporting facility", appendix B "field encoding in VMCS")
 * and of the MSR list (vol. 4). What KVM requires of them: Linux
 * arch/x86/kvm/vmx/vmx.c setup_vmcs_config(), vmx_hardware_setup() and
 * arch/x86/kvm/vmx/tdx.c tdx_hardware_setup().
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qom/object.h"
#include "qom/object_interfaces.h"
#include "system/tcg.h"
#include "cpu.h"
#include "tcg/helper-tcg.h"
#include "tdx-emu-cpu.h"
#include "tdx-emu-apic.h"
#include "hw/tdx-emu/qemu/tdx-emu.h"

/* MSRs QEMU's cpu.h does not name. */
#define MSR_TDX_EMU_MKTME_KEYID_PARTITIONING 0x00000087
#define MSR_TDX_EMU_TME_CAPABILITY           0x00000981
#define MSR_TDX_EMU_TME_ACTIVATE             0x00000982
#define MSR_TDX_EMU_SEAMRR_PHYS_BASE         0x00001400
#define MSR_TDX_EMU_SEAMRR_PHYS_MASK         0x00001401

/* SEAMRR bits (as the early Linux TDX host series checked them). */
#define SEAMRR_BASE_CONFIGURED   (1ULL << 3)
#define SEAMRR_MASK_LOCKED       (1ULL << 10)
#define SEAMRR_MASK_VALID        (1ULL << 11)
/* TME_ACTIVATE / TME_CAPABILITY fields. */
#define TME_ACTIVATE_LOCKED      (1ULL << 0)
#define TME_ACTIVATE_ENABLED     (1ULL << 1)
#define TME_KEYID_BITS_SHIFT     32           /* bits 35:32 */
#define TME_CAP_AES_XTS_128      (1ULL << 0)
#define TME_CAP_MAX_KEYS_SHIFT   36           /* bits 50:36 */
#define TME_ACT_MKTME_AES_XTS    (1ULL << 48) /* crypto algorithms allowed */

/* ---- VMX capability MSRs ------------------------------------------------ */

/*
 * VM-execution/exit/entry controls: low 32 bits = allowed-0 settings (bits
 * that must be 1), high 32 bits = allowed-1 settings. The "default1" bits
 * of each control are the SDM's (appendix A.3-A.5); the TRUE_* MSRs clear
 * those default1 bits that may be 0.
 */
#define PIN_DEFAULT1             0x00000016u
#define PIN_ALLOWED1             (PIN_DEFAULT1 |                         \
                                  (1u << 0) |  /* external-intr exiting */ \
                                  (1u << 3) |  /* NMI exiting */         \
                                  (1u << 5) |  /* virtual NMIs */        \
                                  (1u << 6) |  /* preemption timer */    \
                                  (1u << 7))   /* posted interrupts */

#define PROC_DEFAULT1            0x0401e172u
#define PROC_TRUE_DEFAULT1       0x04006172u  /* CR3 load/store may be 0 */
/* All but bit 0 (reserved), 17 (tertiary controls), 18 (reserved). */
#define PROC_ALLOWED1            0xfff9fffeu

#define PROC2_ALLOWED1           ((1u << 0) |  /* virtualize APIC accesses */ \
                                  (1u << 1) |  /* EPT */                   \
                                  (1u << 2) |  /* descriptor-table exit */ \
                                  (1u << 3) |  /* RDTSCP */                \
                                  (1u << 4) |  /* virtualize x2APIC mode */ \
                                  (1u << 5) |  /* VPID */                  \
                                  (1u << 6) |  /* WBINVD exiting */        \
                                  (1u << 7) |  /* unrestricted guest */    \
                                  (1u << 8) |  /* APIC-register virt. */   \
                                  (1u << 9) |  /* virtual-intr delivery */ \
                                  (1u << 10) | /* PAUSE-loop exiting */    \
                                  (1u << 11) | /* RDRAND exiting */        \
                                  (1u << 12) | /* enable INVPCID */        \
                                  (1u << 13) | /* enable VM functions */   \
                                  (1u << 16) | /* RDSEED exiting */        \
                                  (1u << 17) | /* PML */                   \
                                  (1u << 20) | /* XSAVES/XRSTORS */        \
                                  (1u << 25))  /* TSC scaling */

#define EXIT_DEFAULT1            0x00036dffu
#define EXIT_TRUE_DEFAULT1       0x00036dfbu  /* save debug ctls may be 0 */
#define EXIT_ALLOWED1            (EXIT_DEFAULT1 |                         \
                                  (1u << 9) |  /* host address-space size */ \
                                  (1u << 12) | /* load PERF_GLOBAL_CTRL */ \
                                  (1u << 15) | /* ack interrupt on exit */ \
                                  (1u << 18) | /* save PAT */              \
                                  (1u << 19) | /* load PAT */              \
                                  (1u << 20) | /* save EFER */             \
                                  (1u << 21) | /* load EFER */             \
                                  (1u << 22))  /* save preemption timer */

#define ENTRY_DEFAULT1           0x000011ffu
#define ENTRY_TRUE_DEFAULT1      0x000011fbu  /* load debug ctls may be 0 */
#define ENTRY_ALLOWED1           (ENTRY_DEFAULT1 |                        \
                                  (1u << 9) |  /* IA-32e mode guest */     \
                                  (1u << 13) | /* load PERF_GLOBAL_CTRL */ \
                                  (1u << 14) | /* load PAT */              \
                                  (1u << 15))  /* load EFER */

#define CTLS(default1, allowed1) (((uint64_t)(allowed1) << 32) | (default1))

/* IA32_VMX_BASIC */
#define BASIC_SIZE_SHIFT         32           /* bits 44:32 */
#define BASIC_MEMTYPE_WB         (6ULL << 50)
#define BASIC_INOUT              (1ULL << 54)
#define BASIC_TRUE_CTLS          (1ULL << 55)
#define BASIC_NO_HW_ERRCODE_CC   (1ULL << 56)
/* Our SEAMCALL never clears the current VMCS (no P-SEAMLDR erratum). */
#define BASIC_NO_SEAMRET_INVD_VMCS (1ULL << 60)

/* IA32_VMX_MISC */
#define MISC_VALUE               (5ULL |          /* preemption timer: TSC >> 5 */ \
                                  (1ULL << 5) |   /* exits store EFER.LMA */ \
                                  (7ULL << 6) |   /* HLT, shutdown, wait-for-SIPI */ \
                                  (4ULL << 16) |  /* 4 CR3-target values */ \
                                  (1ULL << 29) |  /* VMWRITE to any field */ \
                                  (1ULL << 30))   /* zero-length injection */

/* IA32_VMX_EPT_VPID_CAP */
#define EPT_CAPS                 ((1ULL << 0) |   /* execute-only */         \
                                  (1ULL << 6) |   /* 4-level walk */         \
                                  (1ULL << 8) |   /* UC EPT structures */    \
                                  (1ULL << 14) |  /* WB EPT structures */    \
                                  (1ULL << 16) |  /* 2 MiB pages */          \
                                  (1ULL << 17) |  /* 1 GiB pages */          \
                                  (1ULL << 20) |  /* INVEPT */               \
                                  (1ULL << 21) |  /* accessed/dirty flags */ \
                                  (1ULL << 22) |  /* advanced exit info */   \
                                  (1ULL << 25) |  /* single-context INVEPT */ \
                                  (1ULL << 26))   /* all-context INVEPT */
#define VPID_CAPS                ((1ULL << 32) |  /* INVVPID */              \
                                  (1ULL << 40) |  /* individual address */   \
                                  (1ULL << 41) |  /* single context */       \
                                  (1ULL << 42) |  /* all contexts */         \
                                  (1ULL << 43))   /* single ctx, keep globals */

#define CR0_FIXED0               0x80000021ULL   /* PE, NE, PG */
#define CR4_FIXED0               0x00002000ULL   /* VMXE */

uint64_t tdx_emu_vmx_cap(CPUX86State *env, uint32_t index)
{
    switch (index) {
    case MSR_IA32_VMX_BASIC:
        return TDX_EMU_VMCS_REVISION |
               ((uint64_t)TDX_EMU_VMCS_SIZE << BASIC_SIZE_SHIFT) |
               BASIC_MEMTYPE_WB | BASIC_INOUT | BASIC_TRUE_CTLS |
               BASIC_NO_HW_ERRCODE_CC | BASIC_NO_SEAMRET_INVD_VMCS;
    case MSR_IA32_VMX_PINBASED_CTLS:
    case MSR_IA32_VMX_TRUE_PINBASED_CTLS:
        return CTLS(PIN_DEFAULT1, PIN_ALLOWED1);
    case MSR_IA32_VMX_PROCBASED_CTLS:
        return CTLS(PROC_DEFAULT1, PROC_ALLOWED1);
    case MSR_IA32_VMX_TRUE_PROCBASED_CTLS:
        return CTLS(PROC_TRUE_DEFAULT1, PROC_ALLOWED1);
    case MSR_IA32_VMX_EXIT_CTLS:
        return CTLS(EXIT_DEFAULT1, EXIT_ALLOWED1);
    case MSR_IA32_VMX_TRUE_EXIT_CTLS:
        return CTLS(EXIT_TRUE_DEFAULT1, EXIT_ALLOWED1);
    case MSR_IA32_VMX_ENTRY_CTLS:
        return CTLS(ENTRY_DEFAULT1, ENTRY_ALLOWED1);
    case MSR_IA32_VMX_TRUE_ENTRY_CTLS:
        return CTLS(ENTRY_TRUE_DEFAULT1, ENTRY_ALLOWED1);
    case MSR_IA32_VMX_MISC:
        return MISC_VALUE;
    case MSR_IA32_VMX_CR0_FIXED0:
        return CR0_FIXED0;
    case MSR_IA32_VMX_CR0_FIXED1:
        return 0xffffffffULL;
    case MSR_IA32_VMX_CR4_FIXED0:
        return CR4_FIXED0;
    case MSR_IA32_VMX_CR4_FIXED1:
        /* Every CR4 bit this CPU lets software set, VMXE included. */
        return ~cr4_reserved_bits(env) | CR4_VMXE_MASK;
    case MSR_IA32_VMX_VMCS_ENUM:
        return (uint64_t)tdx_emu_vmcs_max_index() << 1;
    case MSR_IA32_VMX_PROCBASED_CTLS2:
        return CTLS(0, PROC2_ALLOWED1);
    case MSR_IA32_VMX_EPT_VPID_CAP:
        return EPT_CAPS | VPID_CAPS;
    case MSR_IA32_VMX_VMFUNC:
        return 1;                               /* EPTP switching */
    default:
        g_assert_not_reached();
    }
}

/* ---- VMCS fields -------------------------------------------------------- */

/*
 * The fields we support, as runs of full encodings (step 2), from the SDM's
 * appendix B. Encoding bits 14:13 give the width (0 16-bit, 1 64-bit,
 * 2 32-bit, 3 natural), bits 11:10 the type (control, read-only data,
 * guest state, host state), bits 9:1 the index, bit 0 the access type
 * (1 = high half of a 64-bit field).
 */
static const struct { uint16_t first, last; } vmcs_field_runs[] = {
    { 0x0000, 0x0004 },  /* 16-bit control: VPID .. EPTP index */
    { 0x0800, 0x0812 },  /* 16-bit guest: ES..TR selectors, intr status, PML index */
    { 0x0c00, 0x0c0c },  /* 16-bit host: ES..TR selectors */
    { 0x2000, 0x2036 },  /* 64-bit control: I/O bitmaps .. tertiary controls */
    { 0x203c, 0x203c },  /* 64-bit control: shared EPTP (TD VMCS) */
    { 0x2400, 0x2400 },  /* 64-bit read-only: guest-physical address */
    { 0x2800, 0x2818 },  /* 64-bit guest: link pointer .. PKRS */
    { 0x2c00, 0x2c06 },  /* 64-bit host: PAT, EFER, PERF_GLOBAL_CTRL, PKRS */
    { 0x4000, 0x4022 },  /* 32-bit control: pin-based .. PLE window */
    { 0x4400, 0x440e },  /* 32-bit read-only: instruction error .. instr info */
    { 0x4800, 0x482a },  /* 32-bit guest: limits, access rights, ... SYSENTER_CS */
    { 0x482e, 0x482e },  /* 32-bit guest: preemption-timer value */
    { 0x4c00, 0x4c00 },  /* 32-bit host: SYSENTER_CS */
    { 0x6000, 0x600e },  /* natural control: CR0/CR4 masks, shadows, CR3 targets */
    { 0x6400, 0x640a },  /* natural read-only: exit qualification .. linear addr */
    { 0x6800, 0x682c },  /* natural guest: CR0 .. interrupt SSP table */
    { 0x6c00, 0x6c1c },  /* natural host: CR0 .. interrupt SSP table */
};

int tdx_emu_vmcs_field_slot(uint64_t enc)
{
    int slot = 0;
    uint32_t full;

    if (enc >> 32 || enc & 0xffff8000) {
        return -1;                              /* bits 63:15 reserved */
    }
    full = enc & ~1u;
    if ((enc & 1) && ((enc >> 13) & 3) != 1) {
        return -1;                              /* "high" exists only for 64-bit */
    }
    for (size_t i = 0; i < ARRAY_SIZE(vmcs_field_runs); i++) {
        uint32_t first = vmcs_field_runs[i].first;
        uint32_t last = vmcs_field_runs[i].last;

        if (full >= first && full <= last) {
            return slot + (full - first) / 2;
        }
        slot += (last - first) / 2 + 1;
    }
    return -1;
}

unsigned tdx_emu_vmcs_max_index(void)
{
    unsigned max = 0;

    for (size_t i = 0; i < ARRAY_SIZE(vmcs_field_runs); i++) {
        max = MAX(max, (vmcs_field_runs[i].last >> 1) & 0x1ff);
    }
    return max;
}

/* ---- CPUID: TSC and APIC-timer frequencies ----------------------------- */

/*
 * The crystal CPUID 0x15 names is the local APIC timer's input: QEMU's APIC
 * counts its timer in nanoseconds of the virtual clock, 1 GHz before the
 * divide configuration. Linux takes lapic_timer_period from it and skips
 * calibrating the APIC timer (arch/x86/kernel/tsc.c native_calibrate_tsc).
 */
#define TDX_EMU_CRYSTAL_KHZ     1000000u

/*
 * TSC = crystal * EBX / EAX. Linux multiplies crystal kHz by EBX in 32 bits,
 * so EBX stays at or below UINT32_MAX / crystal kHz (4294): the best ratio
 * within that bound, searched once when the vCPU is realized.
 */
static bool tdx_emu_tsc_ratio(uint32_t tsc_khz, uint32_t *den, uint32_t *num)
{
    const uint64_t max_num = UINT32_MAX / TDX_EMU_CRYSTAL_KHZ;
    uint64_t best_err = UINT64_MAX, best_den = 1;

    *num = 0;
    for (uint64_t d = 1; d <= max_num; d++) {
        uint64_t n = ((uint64_t)tsc_khz * d + TDX_EMU_CRYSTAL_KHZ / 2) /
                     TDX_EMU_CRYSTAL_KHZ;
        uint64_t off;

        if (n > max_num) {
            break;
        }
        if (n == 0) {
            continue;
        }
        off = n * TDX_EMU_CRYSTAL_KHZ > tsc_khz * d ?
              n * TDX_EMU_CRYSTAL_KHZ - tsc_khz * d :
              tsc_khz * d - n * TDX_EMU_CRYSTAL_KHZ;
        /* Compare off/d across denominators without dividing. */
        if (*num == 0 || off * best_den < best_err * d) {
            best_err = off;
            best_den = d;
            *num = n;
            *den = d;
        }
    }
    return *num != 0;
}

/* ---- Realize ------------------------------------------------------------ */

bool tdx_emu_cpu_realize(X86CPU *cpu, Error **errp)
{
    TdxEmuCpuConfig *cfg = &cpu->env.tdx_emu_cfg;
    Object *obj;
    uint32_t total, pa_bits;
    int nr_slots = 0;

    if (!cfg->enabled) {
        return true;
    }
    if (!tcg_enabled()) {
        error_setg(errp, "tdx-emu=on emulates VMX and SEAM in TCG; it needs "
                   "-accel tcg");
        return false;
    }
    obj = object_resolve_path_type("", "tdx-emu", NULL);
    if (!obj) {
        error_setg(errp, "tdx-emu=on needs the platform object: add "
                   "-object tdx-emu,id=tdx0");
        return false;
    }
    cfg->tdx_keyids = object_property_get_uint(obj, "tdx-keyids", errp);
    if (*errp) {
        return false;
    }
    cfg->mktme_keyids = object_property_get_uint(obj, "mktme-keyids", errp);
    if (*errp) {
        return false;
    }
    total = cfg->tdx_keyids + cfg->mktme_keyids;
    cfg->keyid_bits = 0;
    while ((1u << cfg->keyid_bits) < total) {
        cfg->keyid_bits++;
    }
    cfg->platform = TDX_EMU(obj);
    /*
     * The SEAM range sits just below the KeyID bits; every vCPU reports the
     * one range the object reserved (the first vCPU reserves it).
     */
    /*
     * Realize runs this before cpu.c settles phys_bits: unless the user gave
     * phys-bits, a TDX host's width replaces TCG's default of 40.
     */
    if (!cpu->phys_bits) {
        cpu->phys_bits = TDX_EMU_DEFAULT_PHYS_BITS;
    }
    pa_bits = cpu->phys_bits;
    if (!tdx_emu_reserve_seam_range(cfg->platform, pa_bits - cfg->keyid_bits,
                                    &cfg->seamrr_base, &cfg->seamrr_size,
                                    errp)) {
        return false;
    }

    /*
     * CPUID 0x15/0x16 tell L1 its TSC and APIC-timer rates: the basic leaves
     * must reach 0x16 (a user-given "level" below it still wins).
     */
    cfg->tsc_khz = tdx_emu_tsc_khz(cfg->platform);
    if (!tdx_emu_tsc_ratio(cfg->tsc_khz, &cfg->tsc_den, &cfg->tsc_num)) {
        cfg->tsc_num = 0;
    }
    cpu->env.cpuid_min_level = MAX(cpu->env.cpuid_min_level, 0x16);

    /* TDX is an Intel platform: Linux only runs its VMX/TDX code there. */
    if (!object_property_set_str(OBJECT(cpu), "vendor", CPUID_VENDOR_INTEL,
                                 errp)) {
        return false;
    }

    /* Our VMCS layout must fit the VMCS size we report. */
    for (unsigned enc = 0; enc < 0x8000; enc += 2) {
        nr_slots = MAX(nr_slots, tdx_emu_vmcs_field_slot(enc) + 1);
    }
    assert(16 + 8 * nr_slots <= TDX_EMU_VMCS_SIZE);
    return true;
}

/* ---- CPUID 0x15/0x16 -------------------------------------------------- */

void tdx_emu_cpu_cpuid_freq(CPUX86State *env, uint32_t leaf, uint32_t regs[4])
{
    const TdxEmuCpuConfig *cfg = &env->tdx_emu_cfg;
    uint32_t tsc_khz = cfg->tsc_khz;

    if (!cfg->enabled || !tsc_khz) {
        return;
    }
    if (leaf == 0x15) {
        if (cfg->tsc_num) {
            regs[0] = cfg->tsc_den;
            regs[1] = cfg->tsc_num;
            regs[2] = TDX_EMU_CRYSTAL_KHZ * 1000;
            regs[3] = 0;
        }
    } else if (leaf == 0x16) {
        /* Base and maximum MHz (16 bits each), bus (reference) MHz. */
        regs[0] = MIN(tsc_khz / 1000, 0xffff);
        regs[1] = regs[0];
        regs[2] = 100;
        regs[3] = 0;
    }
}

/* ---- MSRs and control registers ---------------------------------------- */

static uint32_t tdx_emu_phys_bits(CPUX86State *env)
{
    return env_archcpu(env)->phys_bits;
}

int tdx_emu_rdmsr(CPUX86State *env, uint32_t index, uint64_t *val)
{
    const TdxEmuCpuConfig *cfg = &env->tdx_emu_cfg;

    if (!cfg->enabled) {
        return TDX_EMU_MSR_UNHANDLED;
    }
#ifdef CONFIG_TCG
    /* A TD's x2APIC MSRs: the virtual APIC (td-apic.c) first. */
    if (env->tdx_emu_td.in_td) {
        int r = tdx_emu_td_apic_rdmsr(env, index, val);

        if (r != TDX_EMU_MSR_UNHANDLED) {
            return r;
        }
    }
#endif
    switch (index) {
    case MSR_IA32_FEATURE_CONTROL:
        /* "Firmware" locked it at reset with VMX enabled outside SMX. */
        *val = env->msr_ia32_feature_control | FEATURE_CONTROL_LOCKED |
               FEATURE_CONTROL_VMXON_ENABLED_OUTSIDE_SMX;
        return TDX_EMU_MSR_HANDLED;
    case MSR_IA32_VMX_BASIC ... MSR_IA32_VMX_VMFUNC:
        *val = tdx_emu_vmx_cap(env, index);
        return TDX_EMU_MSR_HANDLED;
    case MSR_TDX_EMU_MKTME_KEYID_PARTITIONING:
        /* 31:0 MKTME KeyIDs (KeyID 0 not counted), 63:32 TDX KeyIDs. */
        *val = ((uint64_t)cfg->tdx_keyids << 32) | (cfg->mktme_keyids - 1);
        return TDX_EMU_MSR_HANDLED;
    case MSR_IA32_ARCH_CAPABILITIES:
        if (!(env->features[FEAT_7_0_EDX] & CPUID_7_0_EDX_ARCH_CAPABILITIES)) {
            return TDX_EMU_MSR_GP;
        }
        *val = env->features[FEAT_ARCH_CAPABILITIES];
        return TDX_EMU_MSR_HANDLED;
    case MSR_TDX_EMU_TME_CAPABILITY:
        *val = TME_CAP_AES_XTS_128 |
               ((uint64_t)cfg->keyid_bits << TME_KEYID_BITS_SHIFT) |
               (((1ULL << cfg->keyid_bits) - 1) << TME_CAP_MAX_KEYS_SHIFT);
        return TDX_EMU_MSR_HANDLED;
    case MSR_TDX_EMU_TME_ACTIVATE:
        *val = TME_ACTIVATE_LOCKED | TME_ACTIVATE_ENABLED |
               ((uint64_t)cfg->keyid_bits << TME_KEYID_BITS_SHIFT) |
               TME_ACT_MKTME_AES_XTS;
        return TDX_EMU_MSR_HANDLED;
    case MSR_TDX_EMU_SEAMRR_PHYS_BASE:
        *val = cfg->seamrr_base | SEAMRR_BASE_CONFIGURED;
        return TDX_EMU_MSR_HANDLED;
    case MSR_TDX_EMU_SEAMRR_PHYS_MASK:
        *val = (~(cfg->seamrr_size - 1) &
                MAKE_64BIT_MASK(0, tdx_emu_phys_bits(env))) |
               SEAMRR_MASK_LOCKED | SEAMRR_MASK_VALID;
        return TDX_EMU_MSR_HANDLED;
    default:
        return TDX_EMU_MSR_UNHANDLED;
    }
}

int tdx_emu_wrmsr(CPUX86State *env, uint32_t index, uint64_t val)
{
    uint64_t cur;

    if (!env->tdx_emu_cfg.enabled) {
        return TDX_EMU_MSR_UNHANDLED;
    }
#ifdef CONFIG_TCG
    if (env->tdx_emu_td.in_td) {
        int r = tdx_emu_td_apic_wrmsr(env, index, val);

        if (r != TDX_EMU_MSR_UNHANDLED) {
            return r;
        }
    }
#endif
    switch (index) {
    case MSR_IA32_FEATURE_CONTROL:
        /*
         * Locked: a real CPU #GPs on any write. SeaBIOS rewrites the value
         * it computed from fw_cfg (the same bits), so an identical write is
         * accepted as a no-op; anything else faults.
         */
        tdx_emu_rdmsr(env, index, &cur);
        return val == cur ? TDX_EMU_MSR_HANDLED : TDX_EMU_MSR_GP;
    case MSR_IA32_VMX_BASIC ... MSR_IA32_VMX_VMFUNC:
    case MSR_IA32_ARCH_CAPABILITIES:            /* read-only */
    case MSR_TDX_EMU_MKTME_KEYID_PARTITIONING:
    case MSR_TDX_EMU_TME_CAPABILITY:
    case MSR_TDX_EMU_TME_ACTIVATE:              /* locked */
    case MSR_TDX_EMU_SEAMRR_PHYS_BASE:          /* locked */
    case MSR_TDX_EMU_SEAMRR_PHYS_MASK:
        return TDX_EMU_MSR_GP;
    default:
        return TDX_EMU_MSR_UNHANDLED;
    }
}

bool tdx_emu_cr_write_ok(CPUX86State *env, int reg, uint64_t val)
{
    /*
     * L1's VMX operation constrains L1's CRs only: a TD runs in SEAM
     * non-root operation and sees its own CR0/CR4 (the module's guest/host
     * masks hide VMXE and the fixed bits from it).
     */
    if (!env->tdx_emu_vmx.vmxon || env->tdx_emu_td.in_td) {
        return true;
    }
    /* In VMX operation the FIXED0 bits cannot be cleared (SDM 24.8). */
    switch (reg) {
    case 0:
        return (val & CR0_FIXED0) == CR0_FIXED0;
    case 4:
        return (val & CR4_FIXED0) == CR4_FIXED0;
    default:
        return true;
    }
}
