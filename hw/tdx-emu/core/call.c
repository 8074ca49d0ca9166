/*
 * A call in flight (struct tdx_call, module.h): its prologue, its lock
 * points, and the one epilogue every host and guest leaf goes through —
 * unwind, statistics, busy-path recognition, trace. The dispatchers
 * (dispatch.c) and the TD exit (vp-enter.c, where TDH.VP.ENTER completes)
 * use it; leaves use only the lock points.
 */
#include <string.h>

#include "module.h"
#include "sept.h"
#include "td.h"

void tdx_call_begin(struct tdx_call *c, struct tdx_module *m, unsigned lp,
                    const struct tdx_regs *regs, bool host)
{
    /* Every field zero up to held[] (see struct tdx_call), then ours. */
    memset(c, 0, offsetof(struct tdx_call, held));
    c->m = m;
    c->lp = lp;
    c->leaf = regs->rax & 0xFFFF;
    c->version = (regs->rax >> 16) & 0xFF;
    c->host = host;
    c->gpa = ~0ULL;
    c->rcx_in = regs->rcx;
    c->rdx_in = regs->rdx;
    c->t0 = m->ops.trace ? m->ops.clock_ns(m->opaque) : 0;
    if (host && lp < m->desc.num_lps) {
        const struct tdx_lp *l = &m->lp[lp];

        c->retry = l->last_busy_leaf == c->leaf + 1 &&
                   l->last_busy_rcx == c->rcx_in && l->last_busy_rdx == c->rdx_in;
    }
    tdx_inject_expire_holds(m);
}

static void hold_window(struct tdx_module *m)
{
    uint64_t end;

    if (!m->desc.hold_window_ns) {
        return;
    }
    /* Stretch the critical section so racing LPs really meet. Bounded by
     * the embedder (tdx-emu caps it at 1 s). */
    end = m->ops.clock_ns(m->opaque) + m->desc.hold_window_ns;
    while (m->ops.clock_ns(m->opaque) < end) {
        /* spin */
    }
}

uint64_t tdx_call_lock(struct tdx_call *c, struct tdx_lock *lock,
                       enum tdx_lock_kind kind, enum tdx_lock_mode mode,
                       uint64_t busy_status)
{
    enum tdx_lock_result r;
    uint64_t injected = 0;

    /* No status rule armed (the normal case): skip the engine and its
     * mutex. Rules are added by other threads at any time; a lock point
     * that misses one being added is as if the call had come first. */
    if (atomic_load_explicit(&c->m->inject.num_status_rules,
                             memory_order_relaxed) != 0) {
        injected = tdx_inject_at_lock_point(c, busy_status);
    }
    if (injected) {
        c->injected = true;
        return injected;
    }
    if (c->num_held == TDX_CALL_MAX_HELD) {
        /* A leaf taking more locks than this is a core bug, not L1's. */
        return busy_status;
    }
    r = tdx_lock_try(lock, kind, mode, c->host);
    if (r != TDX_LOCK_OK &&
        atomic_load_explicit(&c->m->inject.num_holds, memory_order_relaxed)) {
        tdx_inject_note_busy(c->m, lock);    /* holds that end on busies */
    }
    if (r == TDX_LOCK_BUSY_HOST_PRIORITY) {
        return TDX_OPERAND_BUSY_HOST_PRIORITY |
               (busy_status & TDX_STATUS_OPERAND_MASK);
    }
    if (r != TDX_LOCK_OK) {
        return busy_status;
    }
    c->held[c->num_held].lock = lock;
    c->held[c->num_held].mode = mode;
    c->num_held++;
    return TDX_SUCCESS;
}

void tdx_call_unlock_all(struct tdx_call *c)
{
    if (c->num_held) {
        hold_window(c->m);
    }
    while (c->num_held) {
        c->num_held--;
        tdx_lock_release(c->held[c->num_held].lock, c->held[c->num_held].mode);
    }
}

void tdx_account_call(struct tdx_module *m, unsigned leaf, uint64_t status,
                      bool injected)
{
    struct tdx_stats *s = &m->stats;
    uint64_t class = tdx_status_class(status);

    if (leaf >= TDX_NUM_LEAF_SLOTS) {
        return;
    }
    atomic_fetch_add_explicit(&s->calls[leaf], 1, memory_order_relaxed);
    if (class == TDX_OPERAND_BUSY || class == TDX_OPERAND_BUSY_HOST_PRIORITY) {
        atomic_fetch_add_explicit(&s->busy[leaf][status & 0xFF], 1,
                                  memory_order_relaxed);
    } else if (class == TDX_SYS_BUSY) {
        /* The global lock's busy carries no operand; count it under the
         * SYS operand ID, the name injection rules give it. */
        atomic_fetch_add_explicit(&s->busy[leaf][TDX_OPERAND_ID_SYS], 1,
                                  memory_order_relaxed);
    } else if (tdx_status_is_error(status)) {
        atomic_fetch_add_explicit(&s->errors[leaf], 1, memory_order_relaxed);
    } else {
        atomic_fetch_add_explicit(&s->success[leaf], 1, memory_order_relaxed);
    }
    if (injected) {
        atomic_fetch_add_explicit(&s->injected[leaf], 1, memory_order_relaxed);
    }
}

static bool is_busy(uint64_t status)
{
    uint64_t class = tdx_status_class(status);

    return class == TDX_OPERAND_BUSY || class == TDX_OPERAND_BUSY_HOST_PRIORITY ||
           class == TDX_SYS_BUSY;
}

/* The busy-path recognizer's view of the call (paths.h). */
static void note_path(struct tdx_call *c, uint64_t status)
{
    struct tdx_module *m = c->m;
    struct tdx_path_event pev = {
        .kind = TDX_PATH_EV_SEAMCALL, .leaf = c->leaf, .lp = c->lp,
        .status = status, .injected = c->injected, .tdr = c->tdr_pa,
        .gpa = c->gpa, .key = c->rcx_in,
    };

    if (!c->host) {
        if (c->leaf != TDG_MEM_PAGE_ACCEPT || !c->vcpu) {
            return;     /* no KVM path starts in the TD (or no vCPU: refused) */
        }
        pev.kind = TDX_PATH_EV_ACCEPT;
        pev.key = c->vcpu->tdvpr_pa;
        /* An exit to have the page added is a re-issue, not a failure. */
        if (c->outcome == TDX_TDCALL_EXIT_RETRY) {
            pev.status = TDX_SUCCESS;
        }
    } else if (c->leaf == TDH_VP_ENTER) {
        pev.kind = TDX_PATH_EV_VP_ENTER;
        pev.key = c->rcx_in & TDX_SEPTE_HPA_MASK;
        pev.entered = c->outcome == TDX_SEAMCALL_ENTER_TD;
        /* A synthetic EPT-violation exit completes the call normally. */
        if (!tdx_status_is_error(status)) {
            pev.status = TDX_SUCCESS;
        }
    } else if (c->leaf == TDH_PHYMEM_PAGE_WBINVD) {
        pev.hkid = (unsigned)(c->rcx_in >> tdx_keyid_shift(m));
    }
    tdx_paths_note(m, &m->paths, &pev);
}

/* Count one unknown request of leaf slot `slot` (struct tdx_stats). */
static void note_unknown(struct tdx_stats *s, unsigned slot, uint64_t what)
{
    atomic_fetch_add_explicit(&s->unknown_total, 1, memory_order_relaxed);
    for (unsigned i = 0; i < TDX_STATS_UNKNOWN; i++) {
        struct tdx_unknown_request *u = &s->unknown[i];
        unsigned st = atomic_load_explicit(&u->state, memory_order_acquire);

        if (st == 0) {
            unsigned expect = 0;

            if (atomic_compare_exchange_strong(&u->state, &expect, 1)) {
                u->slot = slot;
                u->what = what;
                atomic_store_explicit(&u->count, 1, memory_order_relaxed);
                atomic_store_explicit(&u->state, 2, memory_order_release);
                return;
            }
            st = expect;
        }
        while (st == 1) {               /* another LP is filling it in */
            st = atomic_load_explicit(&u->state, memory_order_acquire);
        }
        if (u->slot == slot && u->what == what) {
            atomic_fetch_add_explicit(&u->count, 1, memory_order_relaxed);
            return;
        }
    }
    atomic_fetch_add_explicit(&s->unknown_other, 1, memory_order_relaxed);
}

void tdx_call_complete(struct tdx_call *c, uint64_t status,
                       const struct tdx_td_exit *exit)
{
    struct tdx_module *m = c->m;
    unsigned slot = c->host ? c->leaf : TDX_GUEST_LEAF_SLOT(c->leaf);

    if (c->loader) {
        goto trace;                     /* P-SEAMLDR: not a module leaf */
    }
    tdx_account_call(m, slot, status, c->injected);
    if (c->unknown) {
        /* An unknown leaf has no slot of its own: RAX says which it was. */
        note_unknown(&m->stats, c->unknown_is_leaf || slot >= TDX_NUM_LEAF_SLOTS ?
                                TDX_NUM_LEAF_SLOTS : slot, c->unknown_what);
    }
    if (c->host && c->lp < m->desc.num_lps) {
        struct tdx_lp *l = &m->lp[c->lp];

        l->last_busy_leaf = is_busy(status) ? c->leaf + 1 : 0;
        l->last_busy_rcx = c->rcx_in;
        l->last_busy_rdx = c->rdx_in;
    }
trace:
    if (m->ops.trace) {
        struct tdx_trace_event ev = {
            .lp = c->lp, .leaf = c->leaf, .version = c->version,
            .status = status, .duration_ns = m->ops.clock_ns(m->opaque) - c->t0,
            .injected = c->injected, .guest = !c->host, .tdr_pa = c->tdr_pa,
            .mrtd = c->has_mrtd ? c->mrtd : NULL, .exit = exit,
            .td_rip = exit && c->vcpu ? c->vcpu->arch.rip : 0,
            .unknown = c->unknown, .unknown_is_leaf = c->unknown_is_leaf,
            .unknown_what = c->unknown_what,
        };
        m->ops.trace(m->opaque, &ev);
    }
}

uint64_t tdx_call_end(struct tdx_call *c, uint64_t status)
{
    /* One unwind path for every leaf: whatever is still held goes. */
    tdx_call_unlock_all(c);
    if (!c->host && tdx_status_class(status) == TDX_OPERAND_BUSY_HOST_PRIORITY) {
        /* The guest never sees the host-priority code (guest-leaves §0). */
        status = TDX_OPERAND_BUSY | (status & TDX_STATUS_OPERAND_MASK);
    }
    if (c->lp < c->m->desc.num_lps && !c->loader) {
        note_path(c, status);
    }
    /* Every metadata leaf takes its field ID in RDX. */
    if (!c->unknown && tdx_status_class(status) == TDX_METADATA_FIELD_ID_INCORRECT) {
        c->unknown = true;
        c->unknown_what = c->rdx_in;
    }
    /* A TDH.VP.ENTER that entered completes at the TD exit (vp-enter.c). */
    if (!(c->host && c->outcome == TDX_SEAMCALL_ENTER_TD)) {
        tdx_call_complete(c, status, NULL);
    }
    return status;
}
