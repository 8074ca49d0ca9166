/*
 * Measurement leaves: TDH.MR.EXTEND and TDH.MR.FINALIZE. Both take the TDR
 * exclusively; that lock alone serialises the MRTD hash (and excludes
 * every S-EPT user, so MR.EXTEND walks the S-EPT without the tree lock,
 * as Intel's module does). TDH.MEM.PAGE.ADD adds its own record through
 * tdx_mrtd_page_add(&td->mr, gpa) (measure.h).
 */
#include <string.h>

#include "td.h"

/* GPA usable as a private address of this TD: below the GPA width and
 * with the shared bit (the top bit of the GPA width) clear. */
static bool gpa_private_ok(const struct tdx_td *td, uint64_t gpa)
{
    unsigned width = td->cfg.gpaw ? 52 : 48;

    return (gpa >> (width - 1)) == 0;
}

/* ---- TDH.MR.EXTEND (16) -------------------------------------------------- */

uint64_t tdx_leaf_mr_extend(struct tdx_call *c, struct tdx_regs *r)
{
    const uint64_t gpa = r->rcx, tdr_pa = r->rdx;
    uint8_t chunk[TDX_MR_EXTEND_CHUNK];
    uint64_t st, hpa = 0, ext_rcx = 0, ext_rdx = 0;
    tdx_sept_resolve_fn resolve;
    struct tdx_td *td;
    int rc;

    r->rcx = 0;     /* outputs: extended error information */
    r->rdx = 0;
    c->gpa = gpa;
    st = tdx_td_lock_tdr(c, tdr_pa, TDX_OPERAND_ID_RDX, TDX_LOCK_EXCLUSIVE, &td);
    if (st != TDX_SUCCESS) {
        return st;
    }
    st = tdx_td_check_state(c, td, false);
    if (st != TDX_SUCCESS) {
        return st;
    }
    if ((gpa & (TDX_MR_EXTEND_CHUNK - 1)) || !gpa_private_ok(td, gpa)) {
        return TDX_OPERAND_INVALID | TDX_OPERAND_ID_RCX;
    }
    /* S-EPT walk to the leaf (S-EPT family's hook). No hook yet means no
     * page can be mapped: the walk fails at the root. */
    resolve = (tdx_sept_resolve_fn)c->m->sept_resolve;
    rc = resolve ? resolve(td, gpa & ~(TDX_PAGE_SIZE - 1), &hpa, &ext_rcx, &ext_rdx) : 1;
    if (rc == 1) {
        r->rcx = ext_rcx;
        r->rdx = ext_rdx;
        return TDX_EPT_ENTRY_NOT_PRESENT | TDX_OPERAND_ID_RCX;
    }
    if (rc != 0) {
        /* Present but not MAPPED (PENDING, BLOCKED...): no operand, no info. */
        return TDX_EPT_ENTRY_NOT_PRESENT;
    }
    /* The chunk, as the TD would see it (private pages are plain RAM in
     * the emulation; the TD's KeyID is not modelled in memory). */
    if (tdx_mem_read(c->m, hpa + (gpa & (TDX_PAGE_SIZE - 1)), chunk, sizeof(chunk))) {
        return TDX_EPT_ENTRY_NOT_PRESENT;
    }

    /* Cannot fail from here. */
    tdx_mrtd_extend(&td->mr, gpa, chunk);
    return TDX_SUCCESS;
}

/* ---- TDH.MR.FINALIZE (17) ------------------------------------------------ */

uint64_t tdx_leaf_mr_finalize(struct tdx_call *c, struct tdx_regs *r)
{
    struct tdx_td *td;
    uint64_t st;

    st = tdx_td_lock_tdr(c, r->rcx, TDX_OPERAND_ID_RCX, TDX_LOCK_EXCLUSIVE, &td);
    if (st != TDX_SUCCESS) {
        return st;
    }
    st = tdx_td_check_state(c, td, false);
    if (st != TDX_SUCCESS) {
        return st;
    }
    if (atomic_load(&td->num_vcpus) == 0) {
        return TDX_NO_VCPUS;
    }

    /* Cannot fail from here. No service TDs: SERVTD_HASH stays zero. */
    tdx_mrtd_finalize(&td->mr);
    atomic_store(&td->op_state, TDX_OP_RUNNABLE);
    memcpy(c->mrtd, td->mr.mrtd, sizeof(c->mrtd));
    c->has_mrtd = true;
    return TDX_SUCCESS;
}
