/*
 * TD_PARAMS (input of TDH.MNG.INIT): layout, validation and the derived
 * TD configuration.  Pure functions over a 1024-byte copy, so the leaf
 * reads L1 memory exactly once (no double-fetch) and tests can feed
 * arbitrary bytes.
 */
#ifndef TDX_EMU_TD_PARAMS_H
#define TDX_EMU_TD_PARAMS_H

#include <stdbool.h>
#include <stdint.h>

#include "tdx-status.h"

#define TDX_TD_PARAMS_SIZE        1024
#define TDX_TD_PARAMS_ALIGN       1024
#define TDX_MAX_CPUID_CONFIGS     48   /* 768 bytes / 16 */

/* Byte offsets inside TD_PARAMS (TDX module ABI). */
#define TDP_ATTRIBUTES      0
#define TDP_XFAM            8
#define TDP_MAX_VCPUS       16
#define TDP_NUM_L2_VMS      18
#define TDP_MSR_CONFIG_CTLS 19
#define TDP_RESERVED0       20   /* 4 bytes */
#define TDP_EPTP_CONTROLS   24
#define TDP_CONFIG_FLAGS    32
#define TDP_TSC_FREQUENCY   40
#define TDP_RESERVED1       42   /* 38 bytes */
#define TDP_MRCONFIGID      80
#define TDP_MROWNER         128
#define TDP_MROWNERCONFIG   176
#define TDP_ARCH_CAP_CONFIG 224
#define TDP_RESERVED2       232  /* 24 bytes */
#define TDP_CPUID_CONFIG    256  /* 16 bytes each: EAX EBX ECX EDX */

/* TD_PARAMS operand IDs come from tdx-status.h; this one is missing there. */
#define TDX_OPERAND_ID_NUM_L2_VMS      0x47

#define TDX_ATTR_DEBUG       (1ULL << 0)
#define TDX_ATTR_SEPT_VE_DIS (1ULL << 28)
#define TDX_ATTR_MIGRATABLE  (1ULL << 29)
#define TDX_ATTR_PERFMON     (1ULL << 63)

#define TDX_CONFIG_FLAG_GPAW (1ULL << 0)

/* TSC frequency in 25 MHz units: 100 MHz .. 10 GHz. */
#define TDX_VIRT_TSC_FREQ_MIN 4
#define TDX_VIRT_TSC_FREQ_MAX 400

/* One configurable CPUID leaf/sub-leaf, as TDH.SYS.RD advertises it. */
struct tdx_cpuid_config {
    uint32_t leaf;
    uint32_t subleaf;          /* 0xFFFFFFFF: sub-leaf not applicable */
    uint32_t mask[4];          /* bits the host may set: EAX EBX ECX EDX */
};

/* What the module advertises (TDH.SYS.RD) and what the platform can do. */
struct tdx_td_params_limits {
    uint64_t attributes_fixed0, attributes_fixed1;
    uint64_t xfam_fixed0, xfam_fixed1;
    uint64_t config_flags_fixed0, config_flags_fixed1;
    uint32_t max_vcpus_per_td;
    unsigned max_pwl;          /* 4 or 5 EPT levels */
    unsigned max_pa;           /* physical address width */
    uint64_t native_tsc_hz;    /* for TSC_MULTIPLIER */
    unsigned num_cpuid_configs;
    const struct tdx_cpuid_config *cpuid_configs;
};

/* The configuration TDH.MNG.INIT stores in the TDCS. */
struct tdx_td_config {
    uint64_t attributes;
    uint64_t xfam;
    uint32_t max_vcpus;
    uint8_t num_l2_vms;
    uint64_t eptp_controls;    /* PWL/MT as given; root PA filled by the leaf */
    uint64_t config_flags;
    uint8_t gpaw;              /* 1: shared bit is GPA[51] */
    uint16_t tsc_frequency;    /* 25 MHz units */
    uint64_t tsc_multiplier;   /* 2^-48 units */
    uint8_t mrconfigid[48], mrowner[48], mrownerconfig[48];
    uint32_t cpuid_values[TDX_MAX_CPUID_CONFIGS][4];
};

/*
 * Validate TD_PARAMS in the module's order and fill *cfg.  Returns
 * TDX_SUCCESS or the status (TDX_OPERAND_INVALID | operand).  For a bad
 * CPUID entry *ext_rcx receives its leaf (bits 31:0) and sub-leaf (63:32),
 * as Linux prints it.
 */
uint64_t tdx_td_params_check(const uint8_t p[TDX_TD_PARAMS_SIZE],
                             const struct tdx_td_params_limits *lim,
                             struct tdx_td_config *cfg, uint64_t *ext_rcx);

/* TSC multiplier (2^-48 units) for a virtual frequency in 25 MHz units. */
uint64_t tdx_tsc_multiplier(uint16_t virt_25mhz, uint64_t native_hz);

#endif
