/* Try-only locks; see locks.h for the semantics and where each kind is used. */
#include "locks.h"

static enum tdx_lock_result try_shared(struct tdx_lock *l, bool hp_kind, bool host)
{
    uint32_t old = atomic_load(&l->word);

    for (;;) {
        uint32_t new;

        if (hp_kind && !host && (old & TDX_LOCK_HP)) {
            return TDX_LOCK_BUSY_HOST_PRIORITY;
        }
        if (old & TDX_LOCK_EXCL) {
            if (hp_kind && host) {
                /* Announce the host so guests step aside until it gets in. */
                atomic_fetch_or(&l->word, TDX_LOCK_HP);
            }
            return TDX_LOCK_BUSY;
        }
        new = old + TDX_LOCK_READER;
        if (hp_kind && host) {
            new &= ~TDX_LOCK_HP;
        }
        /* A CAS loop rather than Intel's add-then-check: the word changes
         * only when the try succeeds, which keeps the invariant checker's
         * view exact. Retries only race with other tries, never wait. */
        if (atomic_compare_exchange_weak(&l->word, &old, new)) {
            return TDX_LOCK_OK;
        }
    }
}

static enum tdx_lock_result try_exclusive(struct tdx_lock *l, bool hp_kind, bool host)
{
    uint32_t expected = 0;

    if (atomic_compare_exchange_strong(&l->word, &expected, TDX_LOCK_EXCL)) {
        return TDX_LOCK_OK;
    }
    if (!hp_kind) {
        return TDX_LOCK_BUSY;
    }
    if (expected == TDX_LOCK_HP) {
        if (!host) {
            return TDX_LOCK_BUSY_HOST_PRIORITY;
        }
        /* Free except for a host waiting: that may be us; take it. */
        if (atomic_compare_exchange_strong(&l->word, &expected, TDX_LOCK_EXCL)) {
            return TDX_LOCK_OK;
        }
        return TDX_LOCK_BUSY;
    }
    /*
     * Held by someone. A guest sees plain BUSY whether or not a host is
     * also waiting: Intel's module answers BUSY_HOST_PRIORITY to a guest
     * only when the lock word holds nothing but the priority bit
     * (tdx_locks.h, the exclusive acquire of a host-priority lock).
     */
    if (host) {
        atomic_fetch_or(&l->word, TDX_LOCK_HP);
    }
    return TDX_LOCK_BUSY;
}

enum tdx_lock_result tdx_lock_try(struct tdx_lock *l, enum tdx_lock_kind kind,
                                  enum tdx_lock_mode mode, bool host)
{
    switch (kind) {
    case TDX_LOCK_MUTEX:
        return try_exclusive(l, false, host);
    case TDX_LOCK_SHAREX:
        return mode == TDX_LOCK_SHARED ? try_shared(l, false, host)
                                       : try_exclusive(l, false, host);
    case TDX_LOCK_HP_SHAREX:
        return mode == TDX_LOCK_SHARED ? try_shared(l, true, host)
                                       : try_exclusive(l, true, host);
    }
    return TDX_LOCK_BUSY;
}

void tdx_lock_release(struct tdx_lock *l, enum tdx_lock_mode mode)
{
    if (mode == TDX_LOCK_SHARED) {
        atomic_fetch_sub(&l->word, TDX_LOCK_READER);
    } else {
        /* Keep a host-priority request that arrived while we held it. */
        atomic_fetch_and(&l->word, TDX_LOCK_HP);
    }
}
