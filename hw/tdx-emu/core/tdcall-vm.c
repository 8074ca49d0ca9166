/*
 * Guest metadata leaves: TDG.VM.RD (7, versions 0 and 1), TDG.VM.WR (8),
 * TDG.VP.RD (9), TDG.VP.WR (10), over the TDCS / TDVPS fields a Linux TD
 * guest uses, with the guest's access rights (Intel tdx_1.5 field tables,
 * guest read/write masks).
 *
 * Registers: RDX = field ID, RCX = VM index (must be 0: no L2 VMs, else
 * OPERAND_INVALID|RCX; VM.* only), R8 = value read / to write, R9 = write
 * mask (WR). Outputs: R8 = the value (RD) or the old value (WR); VM.RD v1
 * also returns the next field ID in RDX (-1 here: no enumeration).
 * Errors: unknown field ID or one naming more than one element ->
 * TDX_METADATA_FIELD_ID_INCORRECT; guest read mask 0 ->
 * TDX_METADATA_FIELD_NOT_READABLE; write whose request mask meets no
 * guest-writable bit -> TDX_METADATA_FIELD_NOT_WRITABLE; a write changing
 * a bit outside the guest write mask -> TDX_METADATA_FIELD_VALUE_NOT_VALID.
 * The field ID's context code is ignored, as in the module.
 */
#include <string.h>

#include "td.h"
#include "td-fields.h"

enum gslot {
    G_NUM_VCPUS = 1, G_ATTRIBUTES, G_XFAM, G_MAX_VCPUS, G_GPAW,
    G_TSC_FREQUENCY, G_NOTIFY_ENABLES, G_CONFIG_FLAGS, G_TD_CTLS,
    G_MRTD, G_MRCONFIGID, G_MROWNER, G_MROWNERCONFIG, G_RTMR,
    G_VCPU_INDEX, G_CPUID_SUPERVISOR_VE, G_CPUID_USER_VE,
};

struct gfield {
    uint8_t class_code;
    uint32_t code;              /* element 0 of field 0 */
    uint8_t num_fields, num_elems;
    uint64_t rd, wr;            /* guest masks */
    uint8_t slot;
};

#define ALL ~0ULL

static const struct gfield td_gfields[] = {
    { 0x10, 0x01, 1, 1, 0xFFFFFFFF, 0, G_NUM_VCPUS },
    { 0x11, 0x00, 1, 1, ALL, 0, G_ATTRIBUTES },
    { 0x11, 0x01, 1, 1, ALL, 0, G_XFAM },
    { 0x11, 0x02, 1, 1, 0xFFFFFFFF, 0, G_MAX_VCPUS },
    { 0x11, 0x03, 1, 1, 0xFF, 0, G_GPAW },
    { 0x11, 0x0C, 1, 1, 0xFFFF, 0, G_TSC_FREQUENCY },
    { 0x11, 0x10, 1, 1, 1, 1, G_NOTIFY_ENABLES },
    { 0x11, 0x16, 1, 1, ALL, 0, G_CONFIG_FLAGS },
    { 0x11, 0x17, 1, 1, ALL, 1, G_TD_CTLS },      /* PENDING_VE_DISABLE */
    { 0x13, 0x00, 1, 6, ALL, 0, G_MRTD },
    { 0x13, 0x10, 1, 6, ALL, 0, G_MRCONFIGID },
    { 0x13, 0x18, 1, 6, ALL, 0, G_MROWNER },
    { 0x13, 0x20, 1, 6, ALL, 0, G_MROWNERCONFIG },
    { 0x13, 0x40, 4, 6, ALL, 0, G_RTMR },
};

static const struct gfield vp_gfields[] = {
    { 0x20, 0x02, 1, 1, 0xFFFFFFFF, 0, G_VCPU_INDEX },
    { 0x20, 0x07, 1, 1, 0xFF, 0xFF, G_CPUID_SUPERVISOR_VE },
    { 0x20, 0x08, 1, 1, 0xFF, 0xFF, G_CPUID_USER_VE },
};

/* Find the row and element index of a single-element field ID. */
static uint64_t gfield_lookup(const struct gfield *tab, unsigned n,
                              uint64_t field_id, const struct gfield **row,
                              unsigned *elem)
{
    uint8_t cls = (field_id >> TDX_MD_CLASS_SHIFT) & 0x3F;
    uint32_t code = field_id & TDX_MD_FIELD_CODE_MASK;

    if (field_id & TDX_MD_SINGLE_MBZ_MASK) {
        return TDX_METADATA_FIELD_ID_INCORRECT;
    }
    for (unsigned i = 0; i < n; i++) {
        const struct gfield *f = &tab[i];
        unsigned span = (unsigned)f->num_fields * f->num_elems;

        if (f->class_code == cls && code >= f->code && code < f->code + span) {
            *row = f;
            *elem = code - f->code;
            return TDX_SUCCESS;
        }
    }
    return TDX_METADATA_FIELD_ID_INCORRECT;
}

static uint64_t qword_of(const uint8_t *bytes, unsigned q)
{
    uint64_t v = 0;

    for (unsigned i = 0; i < 8; i++) {
        v |= (uint64_t)bytes[q * 8 + i] << (8 * i);
    }
    return v;
}

static uint64_t td_gfield_get(struct tdx_td *td, const struct gfield *f,
                              unsigned elem)
{
    switch (f->slot) {
    case G_NUM_VCPUS:    return atomic_load(&td->num_vcpus);
    case G_ATTRIBUTES:   return td->cfg.attributes;
    case G_XFAM:         return td->cfg.xfam;
    case G_MAX_VCPUS:    return td->cfg.max_vcpus;
    case G_GPAW:         return td->cfg.gpaw;
    case G_TSC_FREQUENCY: return td->cfg.tsc_frequency;
    case G_NOTIFY_ENABLES: return atomic_load(&td->notify_enables);
    case G_CONFIG_FLAGS: return td->cfg.config_flags;
    case G_TD_CTLS:      return atomic_load(&td->td_ctls);
    case G_MRTD:         return td->mr.finalized ? qword_of(td->mr.mrtd, elem) : 0;
    case G_MRCONFIGID:   return qword_of(td->cfg.mrconfigid, elem);
    case G_MROWNER:      return qword_of(td->cfg.mrowner, elem);
    case G_MROWNERCONFIG: return qword_of(td->cfg.mrownerconfig, elem);
    case G_RTMR:
        /* Racy against a concurrent RTMR.EXTEND, as one qword of the
         * module's TDCS would be: the guest serialises its own extends. */
        return qword_of(td->rtmr[elem / 6], elem % 6);
    default:             return 0;
    }
}

static uint64_t vp_gfield_get(struct tdx_vcpu *v, const struct gfield *f)
{
    switch (f->slot) {
    case G_VCPU_INDEX:           return v->vcpu_index;
    case G_CPUID_SUPERVISOR_VE:  return v->cpuid_supervisor_ve;
    case G_CPUID_USER_VE:        return v->cpuid_user_ve;
    default:                     return 0;
    }
}

/*
 * Merge a write: only bits the request mask covers change; they must all
 * be in the guest write mask unless their value stays the same.
 */
static bool merge(uint64_t old, uint64_t val, uint64_t req, uint64_t wr,
                  uint64_t *out)
{
    uint64_t next = (old & ~req) | (val & req);

    if ((next ^ old) & ~wr) {
        return false;
    }
    *out = next;
    return true;
}

/*
 * The checks both RD/WR families share, on a field whose current value
 * is `cur`: readable for a read; for a write, requested bits writable and
 * the merged value (*next) valid.
 */
static uint64_t gfield_access(const struct gfield *f, bool write, uint64_t cur,
                              uint64_t val, uint64_t req, uint64_t *next)
{
    if (!write) {
        return f->rd ? TDX_SUCCESS : TDX_METADATA_FIELD_NOT_READABLE;
    }
    if (!(f->wr & req)) {
        return TDX_METADATA_FIELD_NOT_WRITABLE;
    }
    if (!merge(cur, val, req, f->wr, next)) {
        return TDX_METADATA_FIELD_VALUE_NOT_VALID;
    }
    return TDX_SUCCESS;
}

static uint64_t vm_rd_wr(struct tdx_call *c, struct tdx_regs *r, bool write)
{
    struct tdx_td *td = c->vcpu->td;
    const uint64_t field = r->rdx, vm = r->rcx;
    const uint64_t val = r->r8, req = r->r9;
    const struct gfield *f;
    unsigned elem;
    uint64_t st, old, next = 0;

    if (!write && c->version > 0) {
        r->rdx = ~0ULL;         /* next field ID: not enumerated */
    }
    r->r8 = 0;
    if (vm != 0) {
        return TDX_OPERAND_INVALID | TDX_OPERAND_ID_RCX;
    }
    st = gfield_lookup(td_gfields, sizeof(td_gfields) / sizeof(td_gfields[0]),
                       field, &f, &elem);
    if (st != TDX_SUCCESS) {
        return st;
    }
    old = td_gfield_get(td, f, elem);
    st = gfield_access(f, write, old, val, req, &next);
    if (st != TDX_SUCCESS) {
        return st;
    }

    /* Cannot fail from here. Other vCPUs may write too: plain stores of
     * the merged value, as the module's TDCS field (last writer wins). */
    if (write && f->slot == G_TD_CTLS) {
        atomic_store(&td->td_ctls, next);
    } else if (write && f->slot == G_NOTIFY_ENABLES) {
        atomic_store(&td->notify_enables, next);
    }
    r->r8 = old & f->rd;
    return TDX_SUCCESS;
}

static uint64_t vp_rd_wr(struct tdx_call *c, struct tdx_regs *r, bool write)
{
    struct tdx_vcpu *v = c->vcpu;
    const uint64_t field = r->rdx, val = r->r8, req = r->r9;
    const struct gfield *f;
    unsigned elem;
    uint64_t st, old, next = 0;

    r->r8 = 0;
    st = gfield_lookup(vp_gfields, sizeof(vp_gfields) / sizeof(vp_gfields[0]),
                       field, &f, &elem);
    if (st != TDX_SUCCESS) {
        return st;
    }
    old = vp_gfield_get(v, f);
    st = gfield_access(f, write, old, val, req, &next);
    if (st != TDX_SUCCESS) {
        return st;
    }

    /* Cannot fail from here. The vCPU is running on this LP: its own. */
    if (write && f->slot == G_CPUID_SUPERVISOR_VE) {
        v->cpuid_supervisor_ve = (uint8_t)next;
    } else if (write && f->slot == G_CPUID_USER_VE) {
        v->cpuid_user_ve = (uint8_t)next;
    }
    r->r8 = old & f->rd;
    return TDX_SUCCESS;
}

uint64_t tdx_tdg_vm_rd(struct tdx_call *c, struct tdx_regs *r)
{
    return vm_rd_wr(c, r, false);
}

uint64_t tdx_tdg_vm_wr(struct tdx_call *c, struct tdx_regs *r)
{
    return vm_rd_wr(c, r, true);
}

uint64_t tdx_tdg_vp_rd(struct tdx_call *c, struct tdx_regs *r)
{
    return vp_rd_wr(c, r, false);
}

uint64_t tdx_tdg_vp_wr(struct tdx_call *c, struct tdx_regs *r)
{
    return vp_rd_wr(c, r, true);
}

/* TDG.VP.INFO (1): the TD's shape; no inputs, no locks, always succeeds. */
uint64_t tdx_tdg_vp_info(struct tdx_call *c, struct tdx_regs *r)
{
    const struct tdx_vcpu *v = c->vcpu;
    const struct tdx_td *td = v->td;

    r->rcx = td->cfg.gpaw ? 52 : 48;
    r->rdx = td->cfg.attributes;
    r->r8 = (uint64_t)td->cfg.max_vcpus << 32 | atomic_load(&td->num_vcpus);
    r->r9 = v->vcpu_index;
    r->r10 = 0;             /* no optional guest leaves (TDG.SYS.RD) */
    r->r11 = 0;
    return TDX_SUCCESS;
}
