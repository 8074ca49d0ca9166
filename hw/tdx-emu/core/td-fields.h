/*
 * TDR/TDCS and TDVPS/TD-VMCS metadata fields that the host may access
 * with TDH.MNG.RD/WR and TDH.VP.RD/WR, as data.
 *
 * Field identifiers follow the module's layout: bits 23:0 field code,
 * 33:32 element size, 37:34 last element, 46:38 last field, 50 inc size,
 * 51 write-mask valid, 54:52 context, 61:56 class, 63 non-architectural.
 * For single-element access the module ignores size, inc size, write-mask
 * valid and context (KVM builds its IDs without them), but insists that
 * the reserved bits and the two "last ..." counts are zero.
 */
#ifndef TDX_EMU_TD_FIELDS_H
#define TDX_EMU_TD_FIELDS_H

#include <stdbool.h>
#include <stdint.h>

#include "tdx-status.h"


#define TDX_MD_FIELD_CODE_MASK     0x0000000000FFFFFFULL
#define TDX_MD_SIZE_SHIFT          32
#define TDX_MD_CLASS_SHIFT         56
#define TDX_MD_NON_ARCH            (1ULL << 63)
/* Bits that must be zero when a field ID names one element. */
#define TDX_MD_SINGLE_MBZ_MASK     0x4083FFFCFF000000ULL

/* Class codes (bits 61:56). */
enum {
    /* TD scope */
    TDX_MD_CLASS_TDR_MGMT    = 0x00, /* non-arch */
    TDX_MD_CLASS_TDR_KEYS    = 0x01, /* non-arch */
    TDX_MD_CLASS_TDCS_MGMT   = 0x10, /* non-arch */
    TDX_MD_CLASS_TDCS_EXEC   = 0x11,
    TDX_MD_CLASS_TDCS_EPOCH  = 0x12, /* non-arch */
    TDX_MD_CLASS_TDCS_MEAS   = 0x13,
    TDX_MD_CLASS_TDCS_CPUID  = 0x14, /* non-arch */
    /* vCPU scope */
    TDX_MD_CLASS_VMCS        = 0x00,
    TDX_MD_CLASS_GUEST_GPR   = 0x10,
    TDX_MD_CLASS_GUEST_OTHER = 0x11,
    TDX_MD_CLASS_VP_MGMT     = 0x20,
};

/* Backing storage of a field; the leaf code maps a slot to core state. */
enum tdx_md_slot {
    /* TD scope */
    TDX_SLOT_TDR_FATAL = 1,
    TDX_SLOT_TDR_NUM_TDCX,
    TDX_SLOT_TDR_CHLDCNT,
    TDX_SLOT_TDR_LIFECYCLE,
    TDX_SLOT_TDR_TDCX_PA,        /* element = page index */
    TDX_SLOT_TDR_HKID,
    TDX_SLOT_TDR_PKG_CONFIG_BITMAP,
    TDX_SLOT_TDCS_NUM_VCPUS,
    TDX_SLOT_TDCS_NUM_ASSOC_VCPUS,
    TDX_SLOT_TDCS_OP_STATE,
    TDX_SLOT_TDCS_NUM_L2_VMS,
    TDX_SLOT_TDCS_ATTRIBUTES,
    TDX_SLOT_TDCS_XFAM,
    TDX_SLOT_TDCS_MAX_VCPUS,
    TDX_SLOT_TDCS_GPAW,
    TDX_SLOT_TDCS_EPTP,
    TDX_SLOT_TDCS_TSC_OFFSET,
    TDX_SLOT_TDCS_TSC_MULTIPLIER,
    TDX_SLOT_TDCS_TSC_FREQUENCY,
    TDX_SLOT_TDCS_NUM_CPUID_VALUES,
    TDX_SLOT_TDCS_HP_LOCK_TIMEOUT,
    TDX_SLOT_TDCS_CONFIG_FLAGS,
    TDX_SLOT_TDCS_TD_EPOCH,
    TDX_SLOT_TDCS_REFCOUNT,      /* element = parity */
    TDX_SLOT_TDCS_MRTD,          /* element = qword 0..5 */
    TDX_SLOT_TDCS_MRCONFIGID,
    TDX_SLOT_TDCS_MROWNER,
    TDX_SLOT_TDCS_MROWNERCONFIG,
    TDX_SLOT_TDCS_CPUID_VALUES,  /* special: field code encodes leaf/subleaf */
    /* vCPU scope */
    TDX_SLOT_VP_VMCS,            /* per-field storage in the vCPU's VMCS array */
    TDX_SLOT_VP_STATE_DETAILS,
    TDX_SLOT_VP_VCPU_INDEX,
    TDX_SLOT_VP_NUM_TDVPS_PAGES,
    TDX_SLOT_VP_ASSOC_LPID,
    TDX_SLOT_VP_VCPU_EPOCH,
    TDX_SLOT_VP_CPUID_SUPERVISOR_VE,
    TDX_SLOT_VP_CPUID_USER_VE,
    TDX_SLOT_VP_PEND_NMI,
    TDX_SLOT_VP_XFAM,
    TDX_SLOT_VP_TDVPS_PAGE_PA,   /* element = page index */
};

/* Field attribute flags. */
#define TDX_MDF_SHARED_HPA  0x01 /* value is a shared HPA: checked on write */
#define TDX_MDF_INIT_NULL   0x02 /* initial value is NULL_PA (all ones) */
#define TDX_MDF_SPECIAL_WR  0x04 /* leaf validates the written value */

struct tdx_md_field {
    const char *name;
    uint8_t class_code;
    bool non_arch;
    uint32_t field_code;         /* code of element 0 of field 0 */
    uint8_t size_code;           /* element size: 1 << size_code bytes */
    uint16_t num_fields;         /* consecutive fields of this shape */
    uint8_t num_elems;           /* elements per field */
    uint64_t rd_mask, wr_mask;           /* host access, production TD */
    uint64_t dbg_rd_mask, dbg_wr_mask;   /* host access, debug TD */
    uint16_t slot;               /* enum tdx_md_slot */
    uint16_t flags;              /* TDX_MDF_* */
};

enum tdx_md_context { TDX_MD_CTX_TD, TDX_MD_CTX_VP };

/* The tables themselves (exported so tests and `info tdx` can walk them). */
extern const struct tdx_md_field tdx_td_fields[];
extern const unsigned tdx_td_fields_count;
extern const struct tdx_md_field tdx_vp_fields[];
extern const unsigned tdx_vp_fields_count;

/*
 * Validate a host-supplied field ID for single-element access and find
 * its table row.  Returns TDX_SUCCESS and the row and element index
 * (counted over fields × elements), or TDX_METADATA_FIELD_ID_INCORRECT.
 * CPUID_VALUES is not looked up here (see tdx_md_is_cpuid_field()).
 */
uint64_t tdx_md_lookup(enum tdx_md_context ctx, uint64_t field_id,
                       const struct tdx_md_field **row, unsigned *elem);

/* Mask covering one element of the row's size. */
uint64_t tdx_md_size_mask(const struct tdx_md_field *row);

/* Index of a row within its table (stable; used as VMCS storage index). */
unsigned tdx_md_row_index(enum tdx_md_context ctx,
                          const struct tdx_md_field *row);

/* Row for a TD-VMCS field encoding (used by VP.ENTER/exit code); NULL if
 * the table has no such field. */
const struct tdx_md_field *tdx_vmcs_field(uint32_t encoding);

/*
 * Merge a host write into an element per the module's rules: bits outside
 * the writable mask that the request mask covers must keep their value
 * (comparing against 0 when the whole element is written); returns false
 * if the write would change a forbidden bit.  On success *out is the new
 * element value.
 */
bool tdx_md_merge_write(uint64_t old, uint64_t wr_value, uint64_t req_mask,
                        uint64_t wr_mask, uint64_t size_mask, bool init_null,
                        uint64_t *out);

/* TDCS.CPUID_VALUES field code decoding (class 0x14, non-arch). */
bool tdx_md_is_cpuid_field(uint64_t field_id);
void tdx_md_cpuid_decode(uint64_t field_id, uint32_t *leaf, uint32_t *subleaf,
                         bool *subleaf_na, unsigned *element);

#endif
