/*
 * Physical-memory leaves: TDH.PHYMEM.PAGE.RECLAIM, PAGE.RDMD, PAGE.WBINVD
 * and CACHE.WB.
 *
 * Teardown order the module enforces (and KVM follows): VP.FLUSH every
 * vCPU -> MNG.VPFLUSHDONE -> CACHE.WB on every package -> MNG.KEY.FREEID
 * -> PAGE.RECLAIM of every page the TD owns (TDR last: CHLDCNT must be 0).
 */
#include <stdlib.h>

#include "td.h"
#include "sept.h"

/* HPA operand of a PHYMEM leaf: 4K aligned, no KeyID bits, in a TDMR. */
static uint64_t phymem_pa_check(struct tdx_call *c, uint64_t pa)
{
    if ((pa & (TDX_PAGE_SIZE - 1)) || (pa >> tdx_keyid_shift(c->m))) {
        return TDX_OPERAND_INVALID | TDX_OPERAND_ID_RCX;
    }
    if (!tdx_pa_in_tdmr(c->m, pa) || !tdx_pa_pamt_ready(c->m, pa) ||
        !tdx_pamt_lookup(c->m, pa)) {
        return TDX_OPERAND_ADDR_RANGE_ERROR | TDX_OPERAND_ID_RCX;
    }
    return TDX_SUCCESS;
}

/* ---- TDH.PHYMEM.PAGE.RECLAIM (28) ---------------------------------------- */

uint64_t tdx_leaf_phymem_page_reclaim(struct tdx_call *c, struct tdx_regs *r)
{
    const uint64_t pa = r->rcx;
    struct tdx_pamt_entry *e;
    struct tdx_td *td = NULL;
    uint64_t st;

    /* Outputs: page type, owner, size; R9..R11 reserved (zero). */
    r->rcx = r->rdx = r->r8 = r->r9 = r->r10 = r->r11 = 0;
    st = phymem_pa_check(c, pa);
    if (st != TDX_SUCCESS) {
        return st;
    }
    e = tdx_pamt_lookup(c->m, pa);
    st = tdx_call_lock(c, &e->lock, TDX_LOCK_HP_SHAREX, TDX_LOCK_EXCLUSIVE,
                       TDX_OPERAND_BUSY | TDX_OPERAND_ID_RCX);
    if (st != TDX_SUCCESS) {
        return st;
    }
    if (e->type == TDX_PT_NDA || e->type == TDX_PT_RSVD) {
        return TDX_PAGE_METADATA_INCORRECT | TDX_OPERAND_ID_RCX;
    }
    /* Linux reads these back for its error report (tdh_phymem_page_reclaim);
     * they are valid from here on, errors included. */
    r->rcx = e->type;
    r->rdx = e->owner;
    r->r8 = e->size;
    if (e->size > 2 || (pa & ((TDX_PAGE_SIZE << (9 * e->size)) - 1))) {
        return TDX_OPERAND_INVALID | TDX_OPERAND_ID_RCX;
    }
    if (e->type != TDX_PT_TDR) {
        c->tdr_pa = e->owner;
        st = tdx_td_lock_implicit_tdr(c, e->owner, TDX_LOCK_SHARED, &td);
        if (st != TDX_SUCCESS) {
            return st;
        }
        if (td->lifecycle != TDX_TD_TEARDOWN) {
            return TDX_LIFECYCLE_STATE_INCORRECT;
        }

        /* Cannot fail from here. Several reclaims may share the TDR. */
        atomic_fetch_sub(&td->chldcnt, 1ULL << (9 * e->size));
        if (e->type == TDX_PT_TDVPR) {
            struct tdx_vcpu *v = e->obj;

            if (v) {
                free(v->priv);
                free(v);
            }
            e->obj = NULL;
        }
        e->type = TDX_PT_NDA;
        e->owner = 0;
        return TDX_SUCCESS;
    }
    td = e->obj;
    c->tdr_pa = pa;
    if (!td || td->lifecycle != TDX_TD_TEARDOWN) {
        return TDX_LIFECYCLE_STATE_INCORRECT;
    }
    if (atomic_load(&td->chldcnt) != 0) {
        return TDX_TD_ASSOCIATED_PAGES_EXIST;
    }

    /* Cannot fail from here. With the TDR exclusive nobody else can reach
     * the TD object any more. Contents of the page are left as they are. */
    tdx_inject_forget_td(c->m, pa);
    tdx_paths_forget_td(c->m, pa, td->hkid);
    tdx_sept_td_destroy(td);
    free(td);
    e->obj = NULL;
    e->type = TDX_PT_NDA;
    e->owner = 0;
    return TDX_SUCCESS;
}

/* ---- TDH.PHYMEM.PAGE.RDMD (24) ------------------------------------------- */

uint64_t tdx_leaf_phymem_page_rdmd(struct tdx_call *c, struct tdx_regs *r)
{
    const uint64_t pa = r->rcx;
    struct tdx_pamt_entry *e;
    uint64_t st;

    r->rcx = r->rdx = r->r8 = r->r9 = r->r10 = r->r11 = 0;
    st = phymem_pa_check(c, pa);
    if (st != TDX_SUCCESS) {
        return st;
    }
    e = tdx_pamt_lookup(c->m, pa);
    st = tdx_call_lock(c, &e->lock, TDX_LOCK_HP_SHAREX, TDX_LOCK_SHARED,
                       TDX_OPERAND_BUSY | TDX_OPERAND_ID_RCX);
    if (st != TDX_SUCCESS) {
        return st;
    }
    /* BEPOCH (R9) lives with the S-EPT family; reported as 0 here. */
    r->rcx = e->type;
    r->rdx = e->owner;
    r->r8 = e->size;
    return TDX_SUCCESS;
}

/* ---- TDH.PHYMEM.PAGE.WBINVD (41) ----------------------------------------- */

uint64_t tdx_leaf_phymem_page_wbinvd(struct tdx_call *c, struct tdx_regs *r)
{
    /* The operand carries the KeyID of the cache lines to write back in
     * the bits above the physical address; the checks use the bare PA. */
    const unsigned shift = tdx_keyid_shift(c->m);
    const uint64_t pa = r->rcx & ((1ULL << shift) - 1);
    const uint64_t hkid = r->rcx >> shift;
    struct tdx_pamt_entry *e;
    uint64_t st;

    if (hkid >= (uint64_t)c->m->desc.mktme_keyids + c->m->desc.tdx_keyids) {
        return TDX_OPERAND_INVALID | TDX_OPERAND_ID_RCX;
    }
    st = phymem_pa_check(c, pa);
    if (st != TDX_SUCCESS) {
        return st;
    }
    e = tdx_pamt_lookup(c->m, pa);
    st = tdx_call_lock(c, &e->lock, TDX_LOCK_HP_SHAREX, TDX_LOCK_SHARED,
                       TDX_OPERAND_BUSY | TDX_OPERAND_ID_RCX);
    if (st != TDX_SUCCESS) {
        return st;
    }
    /* Only pages the module gave back (removed / reclaimed) are flushed. */
    if (e->type != TDX_PT_NDA) {
        return TDX_PAGE_METADATA_INCORRECT | TDX_OPERAND_ID_RCX;
    }

    /* Cannot fail from here. Caches are not modelled: nothing to write. */
    return TDX_SUCCESS;
}

/* ---- TDH.PHYMEM.CACHE.WB (40) -------------------------------------------- */

uint64_t tdx_leaf_phymem_cache_wb(struct tdx_call *c, struct tdx_regs *r)
{
    struct tdx_module *m = c->m;
    const unsigned pkg = m->desc.lp_pkg[c->lp];
    const uint64_t resume = r->rcx;
    uint64_t st, hkids = 0;

    if (resume > 1) {
        return TDX_OPERAND_INVALID | TDX_OPERAND_ID_RCX;
    }
    st = tdx_call_lock(c, &m->wbcache_lock[pkg], TDX_LOCK_MUTEX, TDX_LOCK_EXCLUSIVE,
                       TDX_OPERAND_BUSY | TDX_OPERAND_ID_WBCACHE);
    if (st != TDX_SUCCESS) {
        return st;
    }
    st = tdx_call_lock(c, &m->kot_lock, TDX_LOCK_SHAREX, TDX_LOCK_SHARED,
                       TDX_OPERAND_BUSY | TDX_OPERAND_ID_KOT);
    if (st != TDX_SUCCESS) {
        return st;
    }
    if (resume) {
        if (!m->wbcache_saved[pkg]) {
            return TDX_WBCACHE_RESUME_ERROR;
        }
        hkids = m->wbcache_hkids[pkg];
    } else {
        for (unsigned h = 0; h < TDX_MAX_HKIDS; h++) {
            if (m->kot_state[h] == TDX_KOT_FLUSHED) {
                hkids |= 1ULL << h;
            }
        }
        if (!hkids) {
            return TDX_NO_HKID_READY_TO_WBCACHE;
        }
    }

    /*
     * Cannot fail from here. The write-back itself is instantaneous (no
     * caches are modelled), so it never ends TDX_INTERRUPTED_RESUMABLE and
     * no resume point is ever left behind.
     */
    for (unsigned h = 0; h < TDX_MAX_HKIDS; h++) {
        if (hkids & (1ULL << h)) {
            atomic_fetch_and(&m->kot_wbinvd[h], ~(1u << pkg));
        }
    }
    m->wbcache_saved[pkg] = false;
    m->wbcache_hkids[pkg] = 0;
    return TDX_SUCCESS;
}
