/*
 * vCPU leaves: TDH.VP.CREATE, VP.ADDCX, VP.INIT, VP.RD, VP.WR, VP.FLUSH.
 *
 * vCPU state (TDVPS.STATE): UNINITIALIZED (CREATE) -> READY (INIT)
 * <-> ACTIVE (while in the TD, VP.ENTER family) ; DISABLED on fatal errors.
 *
 * Association: a vCPU is bound to the LP that last used it (VP.INIT,
 * VP.ENTER, VP.RD/WR); it must be VP.FLUSHed on that LP before any other
 * LP may use it (TDX_VCPU_ASSOCIATED). tdx_vcpu_associate() (td.c) is the
 * one implementation, shared with TDH.VP.ENTER.
 */
#include <stdlib.h>
#include <string.h>

#include "td.h"

/* Initial (illegal) posted-interrupt vector and NULL_PA: "not set up". */
#define PI_NV_INIT   0xFFFFULL
#define NULL_PA      (~0ULL)

static void vmcs_init(struct tdx_vcpu *v, const struct tdx_td *td,
                      const struct tdx_module *m)
{
    for (unsigned i = 0; i < tdx_vp_fields_count && i < TDX_VP_MAX_VMCS; i++) {
        if (tdx_vp_fields[i].flags & TDX_MDF_INIT_NULL) {
            v->vmcs[i] = NULL_PA;
        }
    }
    tdx_vcpu_vmcs_set(v, 0x0002, PI_NV_INIT);
    tdx_vcpu_vmcs_set(v, 0x2010, td->tsc_offset);
    tdx_vcpu_vmcs_set(v, 0x2032, td->cfg.tsc_multiplier);
    tdx_vcpu_vmcs_set(v, 0x201A, td->eptp);
    tdx_vcpu_vmcs_set(v, 0x4026, td->hkid);
    (void)m;
}

/* ---- TDH.VP.CREATE (10) -------------------------------------------------- */

uint64_t tdx_leaf_vp_create(struct tdx_call *c, struct tdx_regs *r)
{
    struct tdx_module *m = c->m;
    const uint64_t tdvpr_pa = r->rcx;
    struct tdx_pamt_entry *e;
    struct tdx_vcpu *v;
    struct tdx_td *td;
    uint64_t st;

    st = tdx_td_lock_tdr(c, r->rdx, TDX_OPERAND_ID_RDX, TDX_LOCK_SHARED, &td);
    if (st != TDX_SUCCESS) {
        return st;
    }
    st = tdx_td_check_state(c, td, true);
    if (st != TDX_SUCCESS) {
        return st;
    }
    st = tdx_td_lock_page(c, tdvpr_pa, TDX_OPERAND_ID_RCX, TDX_LOCK_EXCLUSIVE,
                          TDX_PT_NDA, &e);
    if (st != TDX_SUCCESS) {
        return st;
    }
    /* One object per donated TDVPR page: bounded by L1's own memory. */
    v = calloc(1, sizeof(*v));
    if (!v) {
        return TDX_RND_NO_ENTROPY;
    }
    if (tdx_mem_zero(m, tdvpr_pa, TDX_PAGE_SIZE)) {
        free(v);
        return TDX_OPERAND_ADDR_RANGE_ERROR | TDX_OPERAND_ID_RCX;
    }

    /* Cannot fail from here. */
    v->td = td;
    v->tdvpr_pa = tdvpr_pa;
    v->state = TDX_VCPU_UNINITIALIZED;
    v->num_pages = 1;
    v->page_pa[0] = tdvpr_pa;
    atomic_init(&v->assoc_lp, TDX_VCPU_NO_LP);
    vmcs_init(v, td, m);
    /* TDR is only shared: other VP.CREATE/ADDCX may count concurrently. */
    atomic_fetch_add(&td->chldcnt, 1);
    e->type = TDX_PT_TDVPR;
    e->size = 0;
    e->owner = td->tdr_pa;
    e->obj = v;
    return TDX_SUCCESS;
}

/*
 * Common prologue of the leaves addressing a vCPU by its TDVPR: the TDVPR
 * page explicitly, then its TD's TDR implicitly (shared), then the TD
 * state with the OP_STATE lock (if lock_op_state).
 */
static uint64_t lock_vcpu(struct tdx_call *c, uint64_t tdvpr_pa, unsigned operand,
                          enum tdx_lock_mode mode, bool lock_op_state,
                          struct tdx_vcpu **vout, struct tdx_td **tdout)
{
    struct tdx_pamt_entry *e;
    struct tdx_vcpu *v;
    uint64_t st;

    st = tdx_td_lock_page(c, tdvpr_pa, operand, mode, TDX_PT_TDVPR, &e);
    if (st != TDX_SUCCESS) {
        return st;
    }
    v = e->obj;
    if (!v) {
        return TDX_PAGE_METADATA_INCORRECT | operand;
    }
    st = tdx_td_lock_implicit_tdr(c, e->owner, TDX_LOCK_SHARED, tdout);
    if (st != TDX_SUCCESS) {
        return st;
    }
    *vout = v;
    if (!lock_op_state) {
        return TDX_SUCCESS;
    }
    return tdx_td_check_state(c, *tdout, true);
}

/* ---- TDH.VP.ADDCX (4) ---------------------------------------------------- */

uint64_t tdx_leaf_vp_addcx(struct tdx_call *c, struct tdx_regs *r)
{
    const uint64_t page_pa = r->rcx;
    struct tdx_pamt_entry *e;
    struct tdx_vcpu *v;
    struct tdx_td *td;
    uint64_t st;

    st = lock_vcpu(c, r->rdx, TDX_OPERAND_ID_RDX, TDX_LOCK_EXCLUSIVE, true, &v, &td);
    if (st != TDX_SUCCESS) {
        return st;
    }
    if (v->state != TDX_VCPU_UNINITIALIZED) {
        return TDX_VCPU_STATE_INCORRECT;
    }
    if (v->num_pages >= TDX_TD_TDVPS_PAGES) {
        return TDX_TDCX_NUM_INCORRECT;
    }
    st = tdx_td_lock_page(c, page_pa, TDX_OPERAND_ID_RCX, TDX_LOCK_EXCLUSIVE,
                          TDX_PT_NDA, &e);
    if (st != TDX_SUCCESS) {
        return st;
    }
    if (tdx_mem_zero(c->m, page_pa, TDX_PAGE_SIZE)) {
        return TDX_OPERAND_ADDR_RANGE_ERROR | TDX_OPERAND_ID_RCX;
    }

    /* Cannot fail from here. */
    v->page_pa[v->num_pages++] = page_pa;
    atomic_fetch_add(&td->chldcnt, 1);
    e->type = TDX_PT_TDCX;
    e->size = 0;
    e->owner = td->tdr_pa;
    return TDX_SUCCESS;
}

/* ---- TDH.VP.INIT (22), versions 0 and 1 ---------------------------------- */

uint64_t tdx_leaf_vp_init(struct tdx_call *c, struct tdx_regs *r)
{
    struct tdx_vcpu *v;
    struct tdx_td *td;
    uint32_t old;
    uint64_t st;
    bool assoc;

    st = lock_vcpu(c, r->rcx, TDX_OPERAND_ID_RCX, TDX_LOCK_EXCLUSIVE, true, &v, &td);
    if (st != TDX_SUCCESS) {
        return st;
    }
    if (v->num_pages < TDX_TD_TDVPS_PAGES) {
        return TDX_TDCX_NUM_INCORRECT;
    }
    if (v->state != TDX_VCPU_UNINITIALIZED) {
        return TDX_VCPU_STATE_INCORRECT;
    }
    /* Version 1 passes the x2APIC ID in R8 (32 bits). */
    if (c->version >= 1 && (r->r8 >> 32)) {
        return TDX_OPERAND_INVALID | TDX_OPERAND_ID_R8;
    }
    /* Claim a vCPU index; give it back if the TD is full (as Intel does). */
    old = atomic_fetch_add(&td->num_vcpus, 1);
    if (old >= td->cfg.max_vcpus) {
        atomic_fetch_sub(&td->num_vcpus, 1);
        return TDX_MAX_VCPUS_EXCEEDED;
    }

    /* Cannot fail from here. */
    v->vcpu_index = old;
    v->x2apic_id = c->version >= 1 ? (uint32_t)r->r8 : old;
    v->init_rcx = r->rdx;
    tdx_vcpu_arch_reset(v, td->cfg.gpaw ? 52 : 48);
    tdx_vapic_reset(&v->vapic);
    v->state = TDX_VCPU_READY;
    /* The vCPU starts associated with this LP. */
    st = tdx_vcpu_associate(c, v, false, &assoc);
    (void)st;   /* READY and never associated: cannot fail */
    return TDX_SUCCESS;
}

/* ---- TDH.VP.RD (26) / TDH.VP.WR (43) ------------------------------------- */

static uint64_t vp_field_get(const struct tdx_vcpu *v, const struct tdx_md_field *f,
                             unsigned elem)
{
    switch (f->slot) {
    case TDX_SLOT_VP_VMCS:
        return v->vmcs[tdx_md_row_index(TDX_MD_CTX_VP, f)];
    case TDX_SLOT_VP_STATE_DETAILS:
        /* VMXIP (bit 0): KVM asks before it lets a halted TD vCPU sleep. */
        return v->state_details | (tdx_vapic_intr_pending(&v->vapic) ? 1 : 0);
    case TDX_SLOT_VP_VCPU_INDEX:     return v->vcpu_index;
    case TDX_SLOT_VP_NUM_TDVPS_PAGES: return v->num_pages;
    case TDX_SLOT_VP_ASSOC_LPID:     return atomic_load(&v->assoc_lp);
    case TDX_SLOT_VP_VCPU_EPOCH:     return v->vcpu_epoch;
    case TDX_SLOT_VP_PEND_NMI:       return v->pend_nmi;
    case TDX_SLOT_VP_XFAM:           return v->td->cfg.xfam;
    case TDX_SLOT_VP_TDVPS_PAGE_PA:
        return elem < v->num_pages ? v->page_pa[elem] : NULL_PA;
    }
    return 0;
}

/* Posted-interrupt descriptor: 64-byte aligned shared memory. */
static bool shared_hpa_ok(struct tdx_module *m, uint64_t pa, uint64_t size)
{
    struct tdx_pamt_entry *e;

    if ((pa & (size - 1)) || (pa >> tdx_keyid_shift(m))) {
        return false;
    }
    e = tdx_pamt_lookup(m, pa & ~(TDX_PAGE_SIZE - 1));
    return !e || e->type == TDX_PT_NDA;
}

/* Field-specific rules of host writes to the TD-VMCS (Intel: "RW*"). */
static uint64_t vmcs_special_write(struct tdx_call *c, struct tdx_vcpu *v,
                                   uint32_t encoding, uint64_t val)
{
    uint64_t x;

    switch (encoding) {
    case 0x0002:    /* posted-interrupt notification vector */
        return val <= 255 ? TDX_SUCCESS : TDX_METADATA_FIELD_VALUE_NOT_VALID;
    case 0x2016:    /* posted-interrupt descriptor address */
        return shared_hpa_ok(c->m, val, 64) ? TDX_SUCCESS
                                            : TDX_METADATA_FIELD_VALUE_NOT_VALID;
    case 0x4000:    /* pin-based controls: posted interrupts need NV and PID */
        if (val & 0x80) {
            tdx_vcpu_vmcs_get(v, 0x0002, &x);
            if (x == PI_NV_INIT) {
                return TDX_TD_VMCS_FIELD_NOT_INITIALIZED | 0x0002;
            }
            tdx_vcpu_vmcs_get(v, 0x2016, &x);
            if (x == NULL_PA) {
                return TDX_TD_VMCS_FIELD_NOT_INITIALIZED | 0x2016;
            }
        }
        return TDX_SUCCESS;
    }
    return TDX_SUCCESS;
}

static uint64_t vp_rd_wr(struct tdx_call *c, struct tdx_regs *r, bool write)
{
    const uint64_t field = r->rdx, wr_value = r->r8, req_mask = r->r9;
    const struct tdx_md_field *f;
    struct tdx_vcpu *v;
    struct tdx_td *td;
    uint64_t st, rd_mask, wmask, old, val;
    unsigned elem;
    bool debug, assoc;

    if (!write && c->version > 0) {
        r->rdx = ~0ULL;         /* next field ID: not enumerated */
    }
    r->r8 = 0;
    st = lock_vcpu(c, r->rcx, TDX_OPERAND_ID_RCX, TDX_LOCK_SHARED, true, &v, &td);
    if (st != TDX_SUCCESS) {
        return st;
    }
    if (v->num_pages < TDX_TD_TDVPS_PAGES) {
        return TDX_TDCX_NUM_INCORRECT;
    }
    /* Reads also work on a DISABLED vCPU (post-mortem). A new association
     * stays even if the access fails below, as in Intel's module. */
    st = tdx_vcpu_associate(c, v, !write, &assoc);
    if (st != TDX_SUCCESS) {
        return st;
    }
    st = tdx_md_lookup(TDX_MD_CTX_VP, field, &f, &elem);
    if (st != TDX_SUCCESS) {
        return st;
    }
    debug = td->cfg.attributes & TDX_ATTR_DEBUG;
    rd_mask = (debug ? f->dbg_rd_mask : f->rd_mask) & tdx_md_size_mask(f);
    wmask = (debug ? f->dbg_wr_mask : f->wr_mask) & tdx_md_size_mask(f);
    old = vp_field_get(v, f, elem);
    if (!write) {
        if (!rd_mask) {
            return TDX_METADATA_FIELD_NOT_READABLE;
        }
        r->r8 = old & rd_mask;
        return TDX_SUCCESS;
    }
    if (!(wmask & req_mask)) {
        return TDX_METADATA_FIELD_NOT_WRITABLE;
    }
    if (!tdx_md_merge_write(old, wr_value, req_mask, wmask, tdx_md_size_mask(f),
                            f->flags & TDX_MDF_INIT_NULL, &val)) {
        return TDX_METADATA_FIELD_VALUE_NOT_VALID;
    }
    if (f->slot == TDX_SLOT_VP_VMCS && (f->flags & TDX_MDF_SPECIAL_WR)) {
        st = vmcs_special_write(c, v, f->field_code, val);
        if (st != TDX_SUCCESS) {
            return st;
        }
    }

    /* Cannot fail from here. Only the associated LP gets here, so writes
     * to one vCPU are serialised even though TDVPR is shared. */
    switch (f->slot) {
    case TDX_SLOT_VP_VMCS:
        v->vmcs[tdx_md_row_index(TDX_MD_CTX_VP, f)] = val;
        break;
    case TDX_SLOT_VP_PEND_NMI:
        v->pend_nmi = (uint8_t)val;
        break;
    default:
        /* Every other row has a zero write mask. */
        break;
    }
    r->r8 = old & rd_mask;
    return TDX_SUCCESS;
}

uint64_t tdx_leaf_vp_rd(struct tdx_call *c, struct tdx_regs *r)
{
    return vp_rd_wr(c, r, false);
}

uint64_t tdx_leaf_vp_wr(struct tdx_call *c, struct tdx_regs *r)
{
    return vp_rd_wr(c, r, true);
}

/* ---- TDH.VP.FLUSH (18) --------------------------------------------------- */

uint64_t tdx_leaf_vp_flush(struct tdx_call *c, struct tdx_regs *r)
{
    struct tdx_vcpu *v;
    struct tdx_td *td;
    uint64_t st;

    /* TDVPR exclusive: busy while the vCPU runs anywhere (VP.ENTER holds
     * it shared for the whole guest run). No OP_STATE lock, no FATAL or
     * op-state check: flushing must work on a dying TD. */
    st = lock_vcpu(c, r->rcx, TDX_OPERAND_ID_RCX, TDX_LOCK_EXCLUSIVE, false, &v, &td);
    if (st != TDX_SUCCESS) {
        return st;
    }
    if (td->lifecycle != TDX_TD_KEYS_CONFIGURED) {
        return TDX_TD_KEYS_NOT_CONFIGURED;
    }
    if (v->num_pages < TDX_TD_TDVPS_PAGES) {
        return TDX_TDCX_NUM_INCORRECT;
    }
    if (atomic_load(&v->assoc_lp) != c->lp) {
        return TDX_VCPU_NOT_ASSOCIATED;
    }

    /* Cannot fail from here. (INVEPT/VMCLEAR have no emulated state.) */
    tdx_vcpu_disassociate(v, c->lp);
    return TDX_SUCCESS;
}
