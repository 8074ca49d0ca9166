/*
 * Host-visible TD and vCPU metadata, as data.  Masks are the host's view
 * for a production TD and for a debug TD (ATTRIBUTES.DEBUG); a zero read
 * mask means "not readable", a zero write mask "not writable".  Only the
 * fields a Linux/KVM host (7.2) or a debugger plausibly uses are listed;
 * anything else reads as TDX_METADATA_FIELD_ID_INCORRECT.
 */
#include "td-fields.h"

#include <stddef.h>

#include "tdx-status.h"


#define ALL ~0ULL
#define B8  0xFFULL
#define B16 0xFFFFULL
#define B32 0xFFFFFFFFULL

/* name, class, non_arch, code, size, nfields, nelems, rd, wr, drd, dwr, slot, flags */
#define TDF(n, cl, na, code, sz, nf, ne, rd, wr, drd, dwr, slot, fl) \
    { n, cl, na, code, sz, nf, ne, rd, wr, drd, dwr, slot, fl }
/* Read-only for the host in both production and debug TDs. */
#define TRO(n, cl, na, code, sz, ne, slot) \
    TDF(n, cl, na, code, sz, 1, ne, ALL, 0, ALL, 0, slot, 0)

const struct tdx_md_field tdx_td_fields[] = {
    TRO("FATAL",            TDX_MD_CLASS_TDR_MGMT, true, 0x01, 0, 1, TDX_SLOT_TDR_FATAL),
    TRO("NUM_TDCX",         TDX_MD_CLASS_TDR_MGMT, true, 0x02, 2, 1, TDX_SLOT_TDR_NUM_TDCX),
    TRO("CHLDCNT",          TDX_MD_CLASS_TDR_MGMT, true, 0x04, 3, 1, TDX_SLOT_TDR_CHLDCNT),
    TRO("LIFECYCLE_STATE",  TDX_MD_CLASS_TDR_MGMT, true, 0x05, 2, 1, TDX_SLOT_TDR_LIFECYCLE),
    TDF("TDCX_PA",          TDX_MD_CLASS_TDR_MGMT, true, 0x10, 3, 9, 1, ALL, 0, ALL, 0,
        TDX_SLOT_TDR_TDCX_PA, 0),
    TRO("HKID",             TDX_MD_CLASS_TDR_KEYS, true, 0x01, 1, 1, TDX_SLOT_TDR_HKID),
    TRO("PKG_CONFIG_BITMAP", TDX_MD_CLASS_TDR_KEYS, true, 0x02, 3, 1,
        TDX_SLOT_TDR_PKG_CONFIG_BITMAP),
    TRO("NUM_VCPUS",        TDX_MD_CLASS_TDCS_MGMT, true, 0x01, 2, 1, TDX_SLOT_TDCS_NUM_VCPUS),
    TRO("NUM_ASSOC_VCPUS",  TDX_MD_CLASS_TDCS_MGMT, true, 0x02, 2, 1,
        TDX_SLOT_TDCS_NUM_ASSOC_VCPUS),
    TRO("OP_STATE",         TDX_MD_CLASS_TDCS_MGMT, true, 0x04, 2, 1, TDX_SLOT_TDCS_OP_STATE),
    TRO("NUM_L2_VMS",       TDX_MD_CLASS_TDCS_MGMT, true, 0x05, 1, 1, TDX_SLOT_TDCS_NUM_L2_VMS),
    TRO("ATTRIBUTES",       TDX_MD_CLASS_TDCS_EXEC, false, 0x00, 3, 1, TDX_SLOT_TDCS_ATTRIBUTES),
    TRO("XFAM",             TDX_MD_CLASS_TDCS_EXEC, false, 0x01, 3, 1, TDX_SLOT_TDCS_XFAM),
    TRO("MAX_VCPUS",        TDX_MD_CLASS_TDCS_EXEC, false, 0x02, 2, 1, TDX_SLOT_TDCS_MAX_VCPUS),
    TRO("GPAW",             TDX_MD_CLASS_TDCS_EXEC, false, 0x03, 0, 1, TDX_SLOT_TDCS_GPAW),
    TRO("EPTP",             TDX_MD_CLASS_TDCS_EXEC, false, 0x04, 3, 1, TDX_SLOT_TDCS_EPTP),
    /* KVM reads these two right after TDH.MNG.INIT (tdx_td_init()). */
    TRO("TSC_OFFSET",       TDX_MD_CLASS_TDCS_EXEC, false, 0x0A, 3, 1, TDX_SLOT_TDCS_TSC_OFFSET),
    TRO("TSC_MULTIPLIER",   TDX_MD_CLASS_TDCS_EXEC, false, 0x0B, 3, 1,
        TDX_SLOT_TDCS_TSC_MULTIPLIER),
    TRO("TSC_FREQUENCY",    TDX_MD_CLASS_TDCS_EXEC, false, 0x0C, 1, 1,
        TDX_SLOT_TDCS_TSC_FREQUENCY),
    TRO("NUM_CPUID_VALUES", TDX_MD_CLASS_TDCS_EXEC, true, 0x0E, 1, 1,
        TDX_SLOT_TDCS_NUM_CPUID_VALUES),
    /* The one TD-scope field the host may write (the leaf range-checks it). */
    TDF("HP_LOCK_TIMEOUT",  TDX_MD_CLASS_TDCS_EXEC, true, 0x11, 3, 1, 1, ALL, ALL, ALL, ALL,
        TDX_SLOT_TDCS_HP_LOCK_TIMEOUT, TDX_MDF_SPECIAL_WR),
    TRO("CONFIG_FLAGS",     TDX_MD_CLASS_TDCS_EXEC, false, 0x16, 3, 1,
        TDX_SLOT_TDCS_CONFIG_FLAGS),
    TRO("TD_EPOCH",         TDX_MD_CLASS_TDCS_EPOCH, true, 0x00, 3, 1, TDX_SLOT_TDCS_TD_EPOCH),
    TDF("REFCOUNT",         TDX_MD_CLASS_TDCS_EPOCH, true, 0x01, 1, 2, 1, ALL, 0, ALL, 0,
        TDX_SLOT_TDCS_REFCOUNT, 0),
    TRO("MRTD",             TDX_MD_CLASS_TDCS_MEAS, false, 0x00, 3, 6, TDX_SLOT_TDCS_MRTD),
    TRO("MRCONFIGID",       TDX_MD_CLASS_TDCS_MEAS, false, 0x10, 3, 6, TDX_SLOT_TDCS_MRCONFIGID),
    TRO("MROWNER",          TDX_MD_CLASS_TDCS_MEAS, false, 0x18, 3, 6, TDX_SLOT_TDCS_MROWNER),
    TRO("MROWNERCONFIG",    TDX_MD_CLASS_TDCS_MEAS, false, 0x20, 3, 6,
        TDX_SLOT_TDCS_MROWNERCONFIG),
};
const unsigned tdx_td_fields_count =
    sizeof(tdx_td_fields) / sizeof(tdx_td_fields[0]);

/* TD-VMCS rows: class 0, field code = the VMCS encoding. */
#define VMCS(n, enc, sz, rd, wr, drd, dwr, fl) \
    TDF(n, TDX_MD_CLASS_VMCS, false, enc, sz, 1, 1, rd, wr, drd, dwr, TDX_SLOT_VP_VMCS, fl)
/* Guest state: invisible in production TDs, read/write in debug TDs. */
#define VMCS_DBG(n, enc, sz) VMCS(n, enc, sz, 0, 0, ALL, ALL, 0)
#define VMCS_DBG_RO(n, enc, sz) VMCS(n, enc, sz, 0, 0, ALL, 0, 0)

const struct tdx_md_field tdx_vp_fields[] = {
    /* Written by KVM in tdx_vcpu_init() → td_vmcs_write16/64. */
    VMCS("POSTED_INTR_NV",        0x0002, 1, B16, B16, B16, B16,
         TDX_MDF_SPECIAL_WR),
    VMCS("POSTED_INTR_DESC_ADDR", 0x2016, 3, ALL, ~0x3FULL, ALL, ~0x3FULL,
         TDX_MDF_SHARED_HPA | TDX_MDF_INIT_NULL | TDX_MDF_SPECIAL_WR),
    /* KVM sets PIN_BASED_POSTED_INTR (bit 7) with td_vmcs_setbit32(). */
    VMCS("PIN_BASED_VM_EXEC_CONTROL", 0x4000, 2, 0x80, 0x80, B32, 0x80,
         TDX_MDF_SPECIAL_WR),
    /* KVM's load_mmu_pgd hook writes the shared EPT root here. */
    VMCS("SHARED_EPT_POINTER",    0x203C, 3, 0x000FFFFFFFFFF000ULL,
         0x000FFFFFFFFFF000ULL, ALL, 0x000FFFFFFFFFF000ULL,
         TDX_MDF_INIT_NULL),
    VMCS("SECONDARY_VM_EXEC_CONTROL", 0x401E, 2, 0xC0000000ULL, 0xC0000000ULL,
         B32, 0xC0000000ULL, 0),
    VMCS("MSR_BITMAP",            0x2004, 3, ALL, 0, ALL, 0, 0),
    VMCS("TSC_OFFSET",            0x2010, 3, ALL, 0, ALL, 0, 0),
    VMCS("EPT_POINTER",           0x201A, 3, ALL, 0, ALL, 0, 0),
    VMCS("TSC_MULTIPLIER",        0x2032, 3, ALL, 0, ALL, 0, 0),
    VMCS("PLE_GAP",               0x4020, 2, B32, 0, B32, 0, 0),
    VMCS("PLE_WINDOW",            0x4022, 2, B32, 0, B32, 0, 0),
    VMCS("INSTRUCTION_TIMEOUT",   0x4024, 2, B32, B32, B32, B32, 0),
    VMCS("TD_HKID",               0x4026, 2, B32, 0, B32, 0, 0),
    /* Guest state, for debuggers of debug TDs. */
    VMCS_DBG("GUEST_CS_SELECTOR", 0x0802, 1),
    VMCS_DBG("GUEST_IA32_EFER",   0x2806, 3),
    VMCS_DBG("GUEST_INTERRUPTIBILITY", 0x4824, 2),
    VMCS_DBG_RO("GUEST_ACTIVITY_STATE", 0x4826, 2),
    VMCS_DBG_RO("VM_EXIT_REASON", 0x4402, 2),
    VMCS_DBG_RO("EXIT_QUALIFICATION", 0x6400, 3),
    VMCS_DBG_RO("GUEST_PHYSICAL_ADDRESS", 0x2400, 3),
    VMCS_DBG_RO("GUEST_LINEAR_ADDRESS", 0x640A, 3),
    VMCS_DBG("GUEST_CR0",         0x6800, 3),
    VMCS_DBG("GUEST_CR3",         0x6802, 3),
    VMCS_DBG("GUEST_CR4",         0x6804, 3),
    VMCS_DBG("GUEST_CS_BASE",     0x6808, 3),
    VMCS_DBG("GUEST_DR7",         0x681A, 3),
    VMCS_DBG("GUEST_RSP",         0x681C, 3),
    VMCS_DBG("GUEST_RIP",         0x681E, 3),
    VMCS_DBG("GUEST_RFLAGS",      0x6820, 3),

    /* TDVPS non-VMCS fields. */
    /* KVM polls this for pending virtual interrupts (tdx_protected_apic_has_interrupt). */
    TDF("VCPU_STATE_DETAILS", TDX_MD_CLASS_GUEST_OTHER, true, 0x100, 3, 1, 1, ALL, 0, ALL, 0,
        TDX_SLOT_VP_STATE_DETAILS, 0),
    TRO("VCPU_INDEX",         TDX_MD_CLASS_VP_MGMT, true, 0x02, 2, 1, TDX_SLOT_VP_VCPU_INDEX),
    TRO("NUM_TDVPS_PAGES",    TDX_MD_CLASS_VP_MGMT, true, 0x03, 0, 1,
        TDX_SLOT_VP_NUM_TDVPS_PAGES),
    TRO("ASSOC_LPID",         TDX_MD_CLASS_VP_MGMT, true, 0x04, 2, 1, TDX_SLOT_VP_ASSOC_LPID),
    TRO("VCPU_EPOCH",         TDX_MD_CLASS_VP_MGMT, true, 0x06, 3, 1, TDX_SLOT_VP_VCPU_EPOCH),
    TRO("CPUID_SUPERVISOR_VE", TDX_MD_CLASS_VP_MGMT, true, 0x07, 0, 1,
        TDX_SLOT_VP_CPUID_SUPERVISOR_VE),
    TRO("CPUID_USER_VE",      TDX_MD_CLASS_VP_MGMT, true, 0x08, 0, 1,
        TDX_SLOT_VP_CPUID_USER_VE),
    /* KVM injects NMIs by writing 1 here (tdx_inject_nmi()). */
    TDF("PEND_NMI",           TDX_MD_CLASS_VP_MGMT, false, 0x0B, 0, 1, 1, B8, B8, B8, B8,
        TDX_SLOT_VP_PEND_NMI, 0),
    TRO("XFAM",               TDX_MD_CLASS_VP_MGMT, false, 0x0C, 3, 1, TDX_SLOT_VP_XFAM),
    TDF("TDVPS_PAGE_PA",      TDX_MD_CLASS_VP_MGMT, true, 0x10, 3, 15, 1, ALL, 0, ALL, 0,
        TDX_SLOT_VP_TDVPS_PAGE_PA, 0),
};
const unsigned tdx_vp_fields_count =
    sizeof(tdx_vp_fields) / sizeof(tdx_vp_fields[0]);

uint64_t tdx_md_size_mask(const struct tdx_md_field *row)
{
    return row->size_code >= 3 ? ~0ULL : (1ULL << (8u << row->size_code)) - 1;
}

bool tdx_md_is_cpuid_field(uint64_t field_id)
{
    return (field_id & TDX_MD_NON_ARCH) &&
           ((field_id >> TDX_MD_CLASS_SHIFT) & 0x3F) == TDX_MD_CLASS_TDCS_CPUID;
}

void tdx_md_cpuid_decode(uint64_t field_id, uint32_t *leaf, uint32_t *subleaf,
                         bool *subleaf_na, unsigned *element)
{
    uint32_t code = (uint32_t)(field_id & TDX_MD_FIELD_CODE_MASK);

    *element = code & 1;
    *subleaf = (code >> 1) & 0x7F;
    *subleaf_na = (code >> 8) & 1;
    *leaf = ((code >> 9) & 0x7F) | (((code >> 16) & 1) ? 0x80000000u : 0);
}

uint64_t tdx_md_lookup(enum tdx_md_context ctx, uint64_t field_id,
                       const struct tdx_md_field **row, unsigned *elem)
{
    const struct tdx_md_field *tab;
    unsigned n;
    uint8_t cls = (field_id >> TDX_MD_CLASS_SHIFT) & 0x3F;
    bool non_arch = (field_id & TDX_MD_NON_ARCH) != 0;
    uint32_t code = (uint32_t)(field_id & TDX_MD_FIELD_CODE_MASK);

    if (field_id & TDX_MD_SINGLE_MBZ_MASK) {
        return TDX_METADATA_FIELD_ID_INCORRECT;
    }
    if (ctx == TDX_MD_CTX_TD) {
        tab = tdx_td_fields;
        n = tdx_td_fields_count;
    } else {
        tab = tdx_vp_fields;
        n = tdx_vp_fields_count;
    }
    for (unsigned i = 0; i < n; i++) {
        const struct tdx_md_field *r = &tab[i];
        uint32_t span = (uint32_t)r->num_fields * r->num_elems;

        if (r->class_code != cls || r->non_arch != non_arch) {
            continue;
        }
        if (code >= r->field_code && code - r->field_code < span) {
            *row = r;
            *elem = code - r->field_code;
            return TDX_SUCCESS;
        }
    }
    return TDX_METADATA_FIELD_ID_INCORRECT;
}

unsigned tdx_md_row_index(enum tdx_md_context ctx,
                          const struct tdx_md_field *row)
{
    const struct tdx_md_field *tab =
        ctx == TDX_MD_CTX_TD ? tdx_td_fields : tdx_vp_fields;
    return (unsigned)(row - tab);
}

const struct tdx_md_field *tdx_vmcs_field(uint32_t encoding)
{
    for (unsigned i = 0; i < tdx_vp_fields_count; i++) {
        if (tdx_vp_fields[i].slot == TDX_SLOT_VP_VMCS &&
            tdx_vp_fields[i].field_code == encoding) {
            return &tdx_vp_fields[i];
        }
    }
    return NULL;
}

bool tdx_md_merge_write(uint64_t old, uint64_t wr_value, uint64_t req_mask,
                        uint64_t wr_mask, uint64_t size_mask, bool init_null,
                        uint64_t *out)
{
    uint64_t combined = wr_mask & req_mask & size_mask;
    uint64_t base;

    /*
     * A write covering the whole element replaces it: bits the host may
     * not write are then compared against zero rather than the old value
     * (this is what lets KVM write SHARED_EPT_POINTER with an all-ones
     * mask).  A NULL_PA initial value is treated as if the non-writable
     * bits were clear, so the first write of an address field works.
     */
    base = combined == size_mask ? 0 : old;
    if (init_null && old == ~0ULL) {
        base &= wr_mask;
    }
    uint64_t forbidden = req_mask & ~wr_mask & size_mask;
    if ((base & forbidden) != (wr_value & forbidden)) {
        return false;
    }
    *out = ((base & ~combined) | (wr_value & combined)) & size_mask;
    return true;
}
