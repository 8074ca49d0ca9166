/* TD_PARAMS validation for TDH.MNG.INIT (see td-params.h). */
#include "td-params.h"

#include <string.h>

#include "tdx-status.h"


static uint64_t rd64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) {
        v = (v << 8) | p[i];
    }
    return v;
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i]) {
            return false;
        }
    }
    return true;
}

uint64_t tdx_tsc_multiplier(uint16_t virt_25mhz, uint64_t native_hz)
{
    /* (virt_hz << 48) / native_hz with a 128-bit intermediate. */
    __extension__ typedef unsigned __int128 u128;
    u128 num = (u128)((uint64_t)virt_25mhz * 25000000ULL) << 48;

    if (native_hz == 0) {
        return 0;
    }
    return (uint64_t)(num / native_hz);
}

/* XFAM combinations the module refuses regardless of the fixed masks. */
static bool xfam_consistent(uint64_t x)
{
#define XB(n) ((x >> (n)) & 1)
    /* AVX-512 state comes as a set (k-mask, ZMM_Hi256, Hi16_ZMM) and needs AVX. */
    if (XB(5) && !XB(2)) {
        return false;
    }
    if (XB(5) != XB(6) || XB(5) != XB(7)) {
        return false;
    }
    /* CET user and supervisor together; AMX TILECFG and TILEDATA together. */
    if (XB(11) != XB(12) || XB(17) != XB(18)) {
        return false;
    }
#undef XB
    return true;
}

uint64_t tdx_td_params_check(const uint8_t p[TDX_TD_PARAMS_SIZE],
                             const struct tdx_td_params_limits *lim,
                             struct tdx_td_config *cfg, uint64_t *ext_rcx)
{
    memset(cfg, 0, sizeof(*cfg));
    *ext_rcx = 0;

    uint64_t attr = rd64(p + TDP_ATTRIBUTES);
    if ((attr & ~lim->attributes_fixed0) ||
        (attr & lim->attributes_fixed1) != lim->attributes_fixed1 ||
        ((attr & TDX_ATTR_MIGRATABLE) &&
         (attr & (TDX_ATTR_DEBUG | TDX_ATTR_PERFMON)))) {
        return TDX_OPERAND_INVALID | TDX_OPERAND_ID_ATTRIBUTES;
    }
    cfg->attributes = attr;

    uint64_t xfam = rd64(p + TDP_XFAM);
    if ((xfam & ~lim->xfam_fixed0) ||
        (xfam & lim->xfam_fixed1) != lim->xfam_fixed1 ||
        !xfam_consistent(xfam)) {
        return TDX_OPERAND_INVALID | TDX_OPERAND_ID_XFAM;
    }
    cfg->xfam = xfam;

    uint32_t max_vcpus = (uint32_t)p[TDP_MAX_VCPUS] | (uint32_t)p[TDP_MAX_VCPUS + 1] << 8;
    if (max_vcpus == 0 || max_vcpus > lim->max_vcpus_per_td) {
        return TDX_OPERAND_INVALID | TDX_OPERAND_ID_MAX_VCPUS;
    }
    cfg->max_vcpus = max_vcpus;

    /* L2 VMs (TD partitioning) are not emulated: only 0 is accepted. */
    if (p[TDP_NUM_L2_VMS] != 0) {
        return TDX_OPERAND_INVALID | TDX_OPERAND_ID_NUM_L2_VMS;
    }
    if (!all_zero(p + TDP_RESERVED0, 4)) {
        return TDX_OPERAND_INVALID | TDX_OPERAND_ID_RDX;
    }

    uint64_t flags = rd64(p + TDP_CONFIG_FLAGS);
    if ((flags & ~lim->config_flags_fixed0) ||
        (flags & lim->config_flags_fixed1) != lim->config_flags_fixed1) {
        return TDX_OPERAND_INVALID | TDX_OPERAND_ID_EXEC_CONTROLS;
    }

    /*
     * EPTP_CONTROLS: write-back memory type, a 4- or (if supported) 5-level
     * walk, no A/D or supervisor-shadow-stack control, no address; a 52-bit
     * GPAW needs the 5-level walk.
     */
    uint64_t eptp = rd64(p + TDP_EPTP_CONTROLS);
    unsigned pwl_m1 = (eptp >> 3) & 7;
    if ((eptp & 7) != 6 || pwl_m1 < 3 || pwl_m1 + 1 > lim->max_pwl ||
        (eptp & ~0x3FULL) != 0 ||
        (pwl_m1 == 4 && lim->max_pa < 52) ||
        ((flags & TDX_CONFIG_FLAG_GPAW) && pwl_m1 < 4)) {
        return TDX_OPERAND_INVALID | TDX_OPERAND_ID_EPTP_CONTROLS;
    }
    cfg->eptp_controls = eptp;
    cfg->config_flags = flags;
    cfg->gpaw = (flags & TDX_CONFIG_FLAG_GPAW) ? 1 : 0;

    uint16_t tsc = (uint16_t)(p[TDP_TSC_FREQUENCY] | p[TDP_TSC_FREQUENCY + 1] << 8);
    if (tsc < TDX_VIRT_TSC_FREQ_MIN || tsc > TDX_VIRT_TSC_FREQ_MAX) {
        return TDX_OPERAND_INVALID | TDX_OPERAND_ID_TSC_FREQUENCY;
    }
    cfg->tsc_frequency = tsc;
    cfg->tsc_multiplier = tdx_tsc_multiplier(tsc, lim->native_tsc_hz);

    if (!all_zero(p + TDP_RESERVED1, 38)) {
        return TDX_OPERAND_INVALID | TDX_OPERAND_ID_RDX;
    }
    memcpy(cfg->mrconfigid, p + TDP_MRCONFIGID, 48);
    memcpy(cfg->mrowner, p + TDP_MROWNER, 48);
    memcpy(cfg->mrownerconfig, p + TDP_MROWNERCONFIG, 48);

    /* MSR_CONFIG_CTLS bits 7:1 reserved; IA32_ARCH_CAPABILITIES config
     * is accepted only as "none" (bit 0 clear, value 0). */
    if (p[TDP_MSR_CONFIG_CTLS] & 0xFE) {
        return TDX_OPERAND_INVALID | TDX_OPERAND_ID_RDX;
    }
    if (!all_zero(p + TDP_RESERVED2, 24)) {
        return TDX_OPERAND_INVALID | TDX_OPERAND_ID_RDX;
    }

    unsigned n = lim->num_cpuid_configs;
    if (n > TDX_MAX_CPUID_CONFIGS) {
        n = TDX_MAX_CPUID_CONFIGS;
    }
    for (unsigned i = 0; i < n; i++) {
        const struct tdx_cpuid_config *c = &lim->cpuid_configs[i];
        for (unsigned r = 0; r < 4; r++) {
            uint32_t v = rd32(p + TDP_CPUID_CONFIG + 16 * i + 4 * r);
            if (v & ~c->mask[r]) {
                *ext_rcx = (uint64_t)c->leaf | (uint64_t)c->subleaf << 32;
                return TDX_OPERAND_INVALID | TDX_OPERAND_ID_CPUID_CONFIG;
            }
            cfg->cpuid_values[i][r] = v;
        }
    }
    /* Entries past the advertised list are reserved. */
    if (!all_zero(p + TDP_CPUID_CONFIG + 16 * n,
                  TDX_TD_PARAMS_SIZE - TDP_CPUID_CONFIG - 16 * n)) {
        return TDX_OPERAND_INVALID | TDX_OPERAND_ID_RDX;
    }
    return TDX_SUCCESS;
}
