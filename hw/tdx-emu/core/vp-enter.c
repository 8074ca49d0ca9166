/*
 * TDH.VP.ENTER, module half: every check and lock of the leaf, the TD-epoch
 * refcount (TLB tracking) and the zero-step (EPT-fault stepping) filter.
 * The CPU side asks tdx_vp_enter_begin() "may this LP enter, and with what
 * state", then only executes guest code, and reports the TD exit with
 * tdx_vp_enter_end().
 *
 * Facts: leaf-locks.md section 2, zero-step.md sections 1-2,
 * lock-primitives.md section 6. In order:
 *   TDVPR (explicit, shared; busy -> |RCX)       held while in the TD
 *   TDR (implicit via TDVPR's owner, shared; |0x80) held while in the TD
 *   OP_STATE shared, op-state RUNNABLE            dropped before entry
 *   vCPU READY, associate with this LP
 *   epoch lock shared (|0xA9: a TRACK holds it): sample TD_EPOCH, count
 *     this vCPU in REFCOUNT[epoch & 1], drop the lock
 *   zero-step filter armed (EPF GPA list non-empty): SEPT tree exclusive
 *     (|0x92), then every logged GPA must translate, else a synthetic
 *     EPT-violation exit without entering; the tree is dropped just before
 *     the guest runs (tdx_vp_enter_running()).
 * A failure after the refcount increment takes it back; the vCPU stays
 * associated, as in Intel's module.
 */
#include <stdlib.h>
#include <string.h>

#include "sept.h"
#include "td.h"

#define VP_ENTER_RCX_RESERVED  (0xFFFULL | (~0ULL << 54))
#define VP_ENTER_RESUME_L1     (1ULL << 53)

/* Exit qualification of the synthetic EPT violation: "data write". */
#define EPT_QUAL_WRITE         (1ULL << 1)

static struct tdx_vp_priv *vp_priv(struct tdx_vcpu *v)
{
    /* Only the LP the vCPU is associated with gets here: no race. */
    if (!v->priv) {
        v->priv = calloc(1, sizeof(struct tdx_vp_priv));
    }
    return v->priv;
}

/* Drop the newest lock the call holds (the epoch lock, right after use). */
static void drop_newest(struct tdx_call *c)
{
    c->num_held--;
    tdx_lock_release(c->held[c->num_held].lock, c->held[c->num_held].mode);
}

uint64_t tdx_vp_enter_begin(struct tdx_module *m, unsigned lp,
                            uint64_t tdvpr_rcx, struct tdx_vp_enter_out *out)
{
    struct tdx_call c = {
        .m = m, .lp = lp, .leaf = TDH_VP_ENTER, .host = true, .gpa = ~0ULL,
    };
    const uint64_t tdvpr_pa = tdvpr_rcx & TDX_SEPTE_HPA_MASK;
    struct tdx_pamt_entry *pe;
    struct tdx_sept_td *s;
    struct tdx_vp_priv *p;
    struct tdx_vcpu *v;
    struct tdx_td *td;
    uint64_t st, epoch;
    bool new_assoc, tree = false;
    int state = atomic_load(&m->sys_state);

    memset(out, 0, sizeof(*out));
    if (lp >= m->desc.num_lps) {
        return TDX_OPERAND_INVALID | TDX_OPERAND_ID_RAX;   /* embedder bug */
    }
    if (state == TDX_SYS_STATE_SHUTDOWN) {
        return TDX_SYS_SHUTDOWN;
    }
    if (state != TDX_SYS_READY) {
        return TDX_SYS_NOT_READY;
    }
    tdx_inject_expire_holds(m);
    if (tdvpr_rcx & VP_ENTER_RCX_RESERVED) {
        return TDX_OPERAND_INVALID | TDX_OPERAND_ID_RCX;
    }
    st = tdx_td_lock_page(&c, tdvpr_pa, TDX_OPERAND_ID_RCX, TDX_LOCK_SHARED,
                          TDX_PT_TDVPR, &pe);
    if (st != TDX_SUCCESS) {
        goto fail;
    }
    v = pe->obj;
    if (!v) {
        st = TDX_PAGE_METADATA_INCORRECT | TDX_OPERAND_ID_RCX;
        goto fail;
    }
    st = tdx_td_lock_implicit_tdr(&c, pe->owner, TDX_LOCK_SHARED, &td);
    if (st != TDX_SUCCESS) {
        goto fail;
    }
    st = tdx_td_check_state(&c, td, true);
    if (st != TDX_SUCCESS) {
        goto fail;
    }
    if (v->num_pages < TDX_TD_TDVPS_PAGES) {
        st = TDX_TDCX_NUM_INCORRECT;
        goto fail;
    }
    st = tdx_vcpu_associate(&c, v, false, &new_assoc);
    if (st != TDX_SUCCESS) {
        goto fail;
    }
    /* No L2 VMs: resuming "L1 of an L2" is meaningless. (The host-
     * recoverability hint, bit 52, is accepted as is: the last-exit type
     * it depends on is not modelled.) */
    if (tdvpr_rcx & VP_ENTER_RESUME_L1) {
        st = TDX_OPERAND_INVALID | TDX_OPERAND_ID_RCX;
        goto fail;
    }
    p = vp_priv(v);
    s = tdx_sept_of(td);
    if (!p || !s) {
        st = TDX_RND_NO_ENTROPY;        /* host out of memory: retryable */
        goto fail;
    }

    /* TLB tracking: count this vCPU in the current epoch, under the epoch
     * lock shared, so that TDH.MEM.TRACK (exclusive) sees either all of
     * this or none of it. */
    st = tdx_call_lock(&c, &td->epoch_lock, TDX_LOCK_SHAREX, TDX_LOCK_SHARED,
                       TDX_OPERAND_BUSY | TDX_OPERAND_ID_TD_EPOCH);
    if (st != TDX_SUCCESS) {
        goto fail;
    }
    epoch = atomic_load(&td->td_epoch);
    atomic_fetch_add(&td->epoch_refcount[epoch & 1], 1);
    drop_newest(&c);
    /* A new epoch since this vCPU last ran on this LP: its cached TD
     * translations may be stale. A vCPU new to this LP is flushed anyway. */
    out->flush_tlb = new_assoc || epoch != v->vcpu_epoch;
    v->vcpu_epoch = epoch;

    /* Zero-step mitigation: while the filter holds GPAs, entries take the
     * tree exclusively, so no S-EPT leaf runs until the guest is in. */
    if (p->epf_n > 0) {
        st = tdx_call_lock(&c, &td->sept_tree_lock, TDX_LOCK_SHAREX,
                           TDX_LOCK_EXCLUSIVE, TDX_OPERAND_BUSY | TDX_OPERAND_ID_SEPT);
        if (st != TDX_SUCCESS) {
            atomic_fetch_sub(&td->epoch_refcount[epoch & 1], 1);
            goto fail;
        }
        tree = true;
        for (uint32_t i = 0; i < p->epf_n; i++) {
            uint64_t hpa;

            /* A violation that would become a #VE (PENDING page, #VE not
             * disabled) is "convertible" and does not count (facts 1.3). */
            if (tdx_sept_translate(td, p->epf_gpa[i], TDX_SEPTE_RWX, &hpa,
                                   NULL, NULL, NULL) == TDX_XLATE_OK ||
                tdx_sept_classify_fault(td, p->epf_gpa[i]) == TDX_FAULT_VE) {
                continue;
            }
            /* Still faulting: do not enter; the host must fix the mapping
             * first. Looks to the host like an EPT-violation TD exit. */
            atomic_fetch_sub(&td->epoch_refcount[epoch & 1], 1);
            tdx_call_unlock_all(&c);
            out->synthetic_exit = true;
            out->tdr_pa = td->tdr_pa;
            atomic_fetch_add_explicit(&m->stats.zero_step_synthetic_exits, 1,
                                      memory_order_relaxed);
            out->exit_regs.rax = TDX_EXIT_REASON_EPT_VIOLATION;
            out->exit_regs.rcx = EPT_QUAL_WRITE;
            out->exit_regs.r8 = p->epf_gpa[i] & ~0xFFFULL;
            return TDX_SUCCESS;
        }
    }

    if (tree) {
        atomic_fetch_add_explicit(&m->stats.zero_step_entries, 1,
                                  memory_order_relaxed);
    }
    /* Cannot fail from here. Held now: TDVPR, TDR, OP_STATE[, tree].
     * OP_STATE goes before entry; TDVPR and TDR stay with the vCPU. */
    tdx_lock_release(c.held[2].lock, c.held[2].mode);
    p->tdvpr_lock = c.held[0].lock;
    p->tdr_lock = c.held[1].lock;
    p->tree_held = tree;
    p->lp = lp;
    c.num_held = 0;
    v->state = TDX_VCPU_ACTIVE;
    atomic_store(&p->in_td, true);

    out->vcpu = v;
    out->td = td;
    out->tdr_pa = td->tdr_pa;
    out->sept_root = s->root;
    out->sept_root_level = s->root_level;
    out->gpa_width = s->gpa_width;
    out->hkid = td->hkid;
    return TDX_SUCCESS;

fail:
    tdx_call_unlock_all(&c);
    out->tdr_pa = c.tdr_pa;
    out->injected = c.injected;
    return st;
}

void tdx_vp_enter_running(struct tdx_vcpu *v)
{
    struct tdx_vp_priv *p = v->priv;

    if (p && p->tree_held) {
        p->tree_held = false;
        tdx_lock_release(&v->td->sept_tree_lock, TDX_LOCK_EXCLUSIVE);
    }
}

void tdx_vp_epf_log(struct tdx_vp_priv *p, const struct tdx_vp_exit_info *exit)
{
    /* Forward progress since the entry ends any suspicion. */
    if (exit->exit_rip != exit->entry_rip) {
        p->epf_n = 0;
        p->epf_count = 0;
    }
    if (exit->kind != TDX_VP_EXIT_EPT_PRIVATE) {
        return;
    }
    /* Count same-RIP private EPT violations; from the 7th on, remember the
     * distinct GPAs (at most 32), which arms the filter at the next entry. */
    if (p->epf_count < TDX_EPF_THRESHOLD) {
        p->epf_count++;
        return;
    }
    if (p->epf_n >= TDX_EPF_LIST_SIZE) {
        return;
    }
    for (uint32_t i = 0; i < p->epf_n; i++) {
        if (p->epf_gpa[i] == exit->gpa) {
            return;
        }
    }
    p->epf_gpa[p->epf_n++] = exit->gpa;
}

void tdx_vp_enter_end(struct tdx_vcpu *v, const struct tdx_vp_exit_info *exit)
{
    struct tdx_vp_priv *p = v->priv;
    struct tdx_td *td = v->td;

    if (!p || !atomic_load(&p->in_td)) {
        return;                         /* not in the TD: embedder bug */
    }
    tdx_vp_enter_running(v);            /* in case the CPU side never ran */
    tdx_vp_epf_log(p, exit);
    v->state = exit->fatal ? TDX_VCPU_DISABLED : TDX_VCPU_READY;
    /* Leave the epoch before the TDR lock goes (TD exit order). */
    atomic_fetch_sub(&td->epoch_refcount[v->vcpu_epoch & 1], 1);
    atomic_store(&p->in_td, false);
    tdx_lock_release(p->tdr_lock, TDX_LOCK_SHARED);
    tdx_lock_release(p->tdvpr_lock, TDX_LOCK_SHARED);
}
