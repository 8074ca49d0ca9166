/*
 * Busy-path recognition (paths.h): sort each BUSY into a KVM busy path and
 * resolve it from the calls that follow.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "module.h"
#include "tdx-leaves.h"
#include "tdx-status.h"

static const char *const path_names[TDX_PATH_COUNT] = {
    [TDX_PATH_G1] = "G1", [TDX_PATH_G2A] = "G2a", [TDX_PATH_G2B] = "G2b",
    [TDX_PATH_G3A] = "G3a", [TDX_PATH_G3B] = "G3b", [TDX_PATH_G3C] = "G3c",
    [TDX_PATH_V1] = "V1", [TDX_PATH_V2] = "V2", [TDX_PATH_W1] = "W1", [TDX_PATH_M1] = "M1",
    [TDX_PATH_M2] = "M2", [TDX_PATH_M3] = "M3", [TDX_PATH_M4] = "M4",
    [TDX_PATH_M5] = "M5", [TDX_PATH_T1] = "T1", [TDX_PATH_OTHER] = "other",
};

static const char *const reaction_names[TDX_REACT_COUNT] = {
    [TDX_REACT_LOCAL_RETRY] = "local-retry",
    [TDX_REACT_KICK_AND_RETRY] = "kick-and-retry",
    [TDX_REACT_RETRY_LATER] = "retry-later",
    [TDX_REACT_REENTER] = "reenter",
    [TDX_REACT_GUEST_RETRY] = "guest-retry",
    [TDX_REACT_UNHANDLED] = "unhandled",
    [TDX_REACT_KICK_VIOLATED] = "kick-violated",
    [TDX_REACT_ENTRY_GATED] = "entry-gated",
    [TDX_REACT_ENTRY_RACED] = "entry-raced",
    [TDX_REACT_ENTRY_VIOLATED] = "entry-violated",
};

const char *tdx_path_name(unsigned id)
{
    return id < TDX_PATH_COUNT ? path_names[id] : NULL;
}

const char *tdx_reaction_name(unsigned r)
{
    return r < TDX_REACT_COUNT ? reaction_names[r] : NULL;
}

void tdx_paths_init(struct tdx_paths *p)
{
    pthread_condattr_t ca;

    memset(p, 0, sizeof(*p));
    pthread_mutex_init(&p->mutex, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->stretch_cond, &ca);
    pthread_condattr_destroy(&ca);
}

void tdx_paths_fini(struct tdx_paths *p)
{
    pthread_cond_destroy(&p->stretch_cond);
    pthread_mutex_destroy(&p->mutex);
}

bool tdx_paths_is_busy(uint64_t status)
{
    uint64_t class = tdx_status_class(status);

    return class == TDX_OPERAND_BUSY || class == TDX_OPERAND_BUSY_HOST_PRIORITY ||
           class == TDX_SYS_BUSY;
}

static enum tdx_path_id path_of(const struct tdx_path_event *ev)
{
    unsigned op = ev->status & 0xFF;

    switch (ev->kind) {
    case TDX_PATH_EV_ACCEPT:
        return TDX_PATH_T1;
    case TDX_PATH_EV_VP_ENTER:
        return tdx_status_class(ev->status) == TDX_OPERAND_BUSY &&
               (op == TDX_OPERAND_ID_SEPT || op == TDX_OPERAND_ID_TD_EPOCH) ?
               TDX_PATH_V1 : TDX_PATH_OTHER;
    case TDX_PATH_EV_VP_EXIT:
        return TDX_PATH_OTHER;      /* an exit is never busy */
    case TDX_PATH_EV_SEAMCALL:
        break;
    }
    switch (ev->leaf) {
    case TDH_MEM_PAGE_ADD:          return TDX_PATH_G1;
    case TDH_MEM_SEPT_ADD:          return TDX_PATH_G2A;
    case TDH_MEM_PAGE_AUG:          return TDX_PATH_G2B;
    case TDH_MEM_RANGE_BLOCK:       return TDX_PATH_G3A;
    case TDH_MEM_TRACK:             return TDX_PATH_G3B;
    case TDH_MEM_PAGE_REMOVE:       return TDX_PATH_G3C;
    case TDH_PHYMEM_PAGE_WBINVD:    return TDX_PATH_W1;
    case TDH_MNG_CREATE:            return TDX_PATH_M1;
    case TDH_MNG_KEY_CONFIG:        return TDX_PATH_M2;
    case TDH_PHYMEM_CACHE_WB:       return TDX_PATH_M3;
    case TDH_MR_FINALIZE:           return TDX_PATH_M4;
    case TDH_VP_INIT:               return TDX_PATH_M5;
    default:                        return TDX_PATH_OTHER;
    }
}

/*
 * Does event `ev` retry the BUSY of entry `e`? VP.ENTER and ACCEPT: same
 * vCPU. SEAMCALLs: same leaf; same TD except where the retry needs a new
 * TD page (MNG.CREATE: KVM allocates a new TDR) or there is no TD
 * (CACHE.WB); same GPA; for WBINVD and VP.INIT the same page operand.
 */
static bool retries(const struct tdx_path_pending *e,
                    const struct tdx_path_event *ev)
{
    if (e->kind != ev->kind) {
        return false;
    }
    if (ev->kind != TDX_PATH_EV_SEAMCALL) {
        return e->key == ev->key;
    }
    if (e->leaf != ev->leaf || e->gpa != ev->gpa) {
        return false;
    }
    switch (e->leaf) {
    case TDH_MNG_CREATE:
    case TDH_PHYMEM_CACHE_WB:
        return true;
    case TDH_PHYMEM_PAGE_WBINVD:
    case TDH_VP_INIT:
        return e->key == ev->key;
    default:
        return e->tdr == ev->tdr;
    }
}

/* V2's view of a G3 BUSY its retry resolved (see paths.h). */
static void note_entry_gate(struct tdx_paths *p, const struct tdx_path_pending *e)
{
    struct tdx_path_counts *v2 = &p->st.path[TDX_PATH_V2];

    if (e->injected) {
        v2->busy_injected++;
    } else {
        v2->busy_natural++;
    }
    v2->reaction[e->inside_lps || e->entry_in_retry ? TDX_REACT_ENTRY_VIOLATED :
                 e->td_entered ? TDX_REACT_ENTRY_RACED : TDX_REACT_ENTRY_GATED]++;
}

static void resolve(struct tdx_paths *p, struct tdx_path_pending *e,
                    enum tdx_reaction r)
{
    struct tdx_path_counts *pc = &p->st.path[e->path];

    if (r == TDX_REACT_KICK_AND_RETRY || r == TDX_REACT_KICK_VIOLATED) {
        note_entry_gate(p, e);
    }
    pc->reaction[r]++;
    pc->pending--;
    e->used = false;
    atomic_fetch_sub_explicit(&p->pending, 1, memory_order_release);
}

/*
 * A VP.ENTER (attempt) or a TD exit while some LP's zap retry is
 * stretched: if it is about that LP's TD and comes from another LP, a vCPU
 * of the TD was let in after the kick (the gate was open) or was never
 * kicked out (it was still inside when the retry began: KVM's kick waits
 * for every vCPU in guest mode to take the IPI, and with it the TD exit).
 * Mark the G3 BUSYs that LP is retrying and end its wait.
 */
static void note_stretched_event(struct tdx_paths *p,
                                 const struct tdx_path_event *ev)
{
    bool woke = false;

    for (unsigned lp = 0; lp < TDX_PATH_STRETCH_LPS; lp++) {
        struct tdx_path_stretch *w = &p->stretch[lp];

        if (!w->active || lp == ev->lp || !ev->tdr || ev->tdr != w->tdr) {
            continue;
        }
        for (unsigned i = 0; i < TDX_PATH_PENDING_MAX; i++) {
            struct tdx_path_pending *e = &p->e[i];

            if (e->used && e->lp == lp && e->tdr == w->tdr &&
                (e->path == TDX_PATH_G3A || e->path == TDX_PATH_G3B ||
                 e->path == TDX_PATH_G3C)) {
                e->entry_in_retry = true;
            }
        }
        w->entered = true;
        woke = true;
    }
    if (woke) {
        pthread_cond_broadcast(&p->stretch_cond);
    }
}

static enum tdx_reaction reaction_of(const struct tdx_path_pending *e,
                                     const struct tdx_path_event *ev)
{
    switch (e->path) {
    case TDX_PATH_G2A:
    case TDX_PATH_G2B:
        return ev->lp == e->lp && !e->lp_entered ? TDX_REACT_LOCAL_RETRY :
                                                   TDX_REACT_RETRY_LATER;
    case TDX_PATH_G3A:
    case TDX_PATH_G3B:
    case TDX_PATH_G3C:
        return e->inside_lps || e->entry_in_retry ? TDX_REACT_KICK_VIOLATED :
                                                    TDX_REACT_KICK_AND_RETRY;
    case TDX_PATH_T1:
        return TDX_REACT_GUEST_RETRY;
    default:
        return e->kind == TDX_PATH_EV_VP_ENTER ? TDX_REACT_REENTER :
               e->kind == TDX_PATH_EV_ACCEPT ? TDX_REACT_GUEST_RETRY :
                                               TDX_REACT_RETRY_LATER;
    }
}

static void track(struct tdx_paths *p, const struct tdx_path_event *ev)
{
    enum tdx_path_id id = path_of(ev);
    struct tdx_path_counts *pc = &p->st.path[id];

    if (ev->injected) {
        pc->busy_injected++;
    } else {
        pc->busy_natural++;
    }
    for (unsigned i = 0; i < TDX_PATH_PENDING_MAX; i++) {
        struct tdx_path_pending *e = &p->e[i];

        if (e->used) {
            continue;
        }
        *e = (struct tdx_path_pending) {
            .used = true, .injected = ev->injected, .path = id,
            .kind = ev->kind, .leaf = ev->leaf, .lp = ev->lp, .tdr = ev->tdr,
            .gpa = ev->gpa, .key = ev->key, .hkid = ev->hkid, .seq = ++p->seq,
        };
        /* Retried with another TDR page (MNG.CREATE) or TD-less (CACHE.WB):
         * the window counts every call. */
        if (ev->kind == TDX_PATH_EV_SEAMCALL &&
            (ev->leaf == TDH_MNG_CREATE || ev->leaf == TDH_PHYMEM_CACHE_WB)) {
            e->tdr = 0;
        }
        pc->pending++;
        atomic_fetch_add_explicit(&p->pending, 1, memory_order_release);
        return;
    }
    pc->overflow++;
    p->st.overflow++;
}

void tdx_paths_note_slow(struct tdx_module *m, struct tdx_paths *p,
                         const struct tdx_path_event *ev)
{
    struct tdx_path_pending *best = NULL;

    (void)m;
    pthread_mutex_lock(&p->mutex);
    /* The retry this call is: the pending BUSY of this LP first (KVM's
     * local retry), else the oldest. */
    for (unsigned i = 0; i < TDX_PATH_PENDING_MAX; i++) {
        struct tdx_path_pending *e = &p->e[i];

        if (e->used && retries(e, ev) &&
            (!best || (e->lp == ev->lp && best->lp != ev->lp) ||
             ((e->lp == ev->lp) == (best->lp == ev->lp) && e->seq < best->seq))) {
            best = e;
        }
    }
    if (best) {
        if (ev->status != TDX_SUCCESS) {
            p->st.path[best->path].retry_failed++;
        }
        resolve(p, best, reaction_of(best, ev));
    }
    /* Everything else pending learns about this call. */
    for (unsigned i = 0; i < TDX_PATH_PENDING_MAX; i++) {
        struct tdx_path_pending *e = &p->e[i];

        if (!e->used) {
            continue;
        }
        if (ev->kind == TDX_PATH_EV_VP_ENTER) {
            if (ev->lp == e->lp) {
                e->lp_entered = true;
            }
            if (ev->entered && e->tdr && ev->tdr == e->tdr) {
                e->td_entered = true;
                if (ev->lp < 64) {
                    e->inside_lps |= 1ULL << ev->lp;
                }
            }
        }
        if (ev->kind == TDX_PATH_EV_VP_EXIT && ev->lp < 64) {
            e->inside_lps &= ~(1ULL << ev->lp);
        }
        /*
         * The window counts the owning LP's own calls only: a BUSY whose
         * LP was merely descheduled by the host while other LPs went on
         * (a loaded machine) must not expire; one whose LP went on with
         * other work about the TD for a whole window was not retried.
         */
        if ((!e->tdr || ev->tdr == e->tdr) && ev->lp == e->lp) {
            if (++e->calls >= TDX_PATH_WINDOW) {
                resolve(p, e, TDX_REACT_UNHANDLED);
            }
        }
    }
    if ((ev->kind == TDX_PATH_EV_VP_ENTER || ev->kind == TDX_PATH_EV_VP_EXIT) &&
        atomic_load_explicit(&p->stretching, memory_order_relaxed)) {
        note_stretched_event(p, ev);
    }
    if (tdx_paths_is_busy(ev->status)) {
        track(p, ev);
    }
    pthread_mutex_unlock(&p->mutex);
}

bool tdx_paths_stretch_retry(struct tdx_module *m, unsigned lp, uint64_t tdr,
                             uint32_t ms)
{
    struct tdx_paths *p = &m->paths;
    struct tdx_path_stretch *w;
    struct timespec deadline;
    bool entered;

    if (lp >= TDX_PATH_STRETCH_LPS || !tdr || !ms) {
        return false;
    }
    w = &p->stretch[lp];
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += ms / 1000;
    deadline.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&p->mutex);
    *w = (struct tdx_path_stretch) { .active = true, .tdr = tdr };
    atomic_fetch_add_explicit(&p->stretching, 1, memory_order_release);
    while (!w->entered) {
        if (pthread_cond_timedwait(&p->stretch_cond, &p->mutex, &deadline) ==
            ETIMEDOUT) {
            break;
        }
    }
    entered = w->entered;
    w->active = false;
    atomic_fetch_sub_explicit(&p->stretching, 1, memory_order_release);
    pthread_mutex_unlock(&p->mutex);
    return entered;
}

void tdx_paths_forget_td(struct tdx_module *m, uint64_t tdr_pa, unsigned hkid)
{
    struct tdx_paths *p = &m->paths;

    if (atomic_load_explicit(&p->pending, memory_order_acquire) == 0) {
        return;
    }
    pthread_mutex_lock(&p->mutex);
    for (unsigned i = 0; i < TDX_PATH_PENDING_MAX; i++) {
        struct tdx_path_pending *e = &p->e[i];

        if (e->used && ((e->tdr && e->tdr == tdr_pa) ||
                        (e->path == TDX_PATH_W1 && hkid && e->hkid == hkid))) {
            resolve(p, e, TDX_REACT_UNHANDLED);
        }
    }
    pthread_mutex_unlock(&p->mutex);
}

void tdx_paths_forget_all(struct tdx_module *m)
{
    struct tdx_paths *p = &m->paths;

    if (atomic_load_explicit(&p->pending, memory_order_acquire) == 0) {
        return;
    }
    pthread_mutex_lock(&p->mutex);
    for (unsigned i = 0; i < TDX_PATH_PENDING_MAX; i++) {
        if (p->e[i].used) {
            resolve(p, &p->e[i], TDX_REACT_UNHANDLED);
        }
    }
    pthread_mutex_unlock(&p->mutex);
}

void tdx_module_path_stats(struct tdx_module *m, struct tdx_path_stats *out)
{
    pthread_mutex_lock(&m->paths.mutex);
    *out = m->paths.st;
    pthread_mutex_unlock(&m->paths.mutex);
}

void tdx_module_reset_path_stats(struct tdx_module *m)
{
    struct tdx_paths *p = &m->paths;

    pthread_mutex_lock(&p->mutex);
    memset(&p->st, 0, sizeof(p->st));
    memset(p->e, 0, sizeof(p->e));
    atomic_store(&p->pending, 0);
    pthread_mutex_unlock(&p->mutex);
}
