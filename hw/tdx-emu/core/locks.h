/*
 * The module's three lock kinds (Intel tdx_1.5, tdx_locks.h semantics):
 *
 *  sharex     readers/writer; shared fails only while a writer holds it,
 *             exclusive needs it completely free. No priority.
 *             (SEPT tree, TD epoch, global module lock, KOT.)
 *  hp sharex  the same, plus a host-priority flag: a host (SEAMCALL) try
 *             that fails sets the flag, and while it is set guest (TDCALL)
 *             tries fail with TDX_OPERAND_BUSY_HOST_PRIORITY, so the host
 *             gets through next. The host's next success clears it.
 *             (PAMT entries, TDCS op-state, RTMR.)
 *  mutex      plain try-lock. (TDMR init, per-package key programming /
 *             cache write-back.)
 *
 * Every operation is a single atomic try; nothing here waits.
 */
#ifndef TDX_EMU_LOCKS_H
#define TDX_EMU_LOCKS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

enum tdx_lock_kind {
    TDX_LOCK_SHAREX,
    TDX_LOCK_HP_SHAREX,
    TDX_LOCK_MUTEX,
};

enum tdx_lock_mode {
    TDX_LOCK_SHARED,
    TDX_LOCK_EXCLUSIVE,
};

enum tdx_lock_result {
    TDX_LOCK_OK,
    TDX_LOCK_BUSY,
    TDX_LOCK_BUSY_HOST_PRIORITY,   /* guest try lost to a waiting host */
};

/* Word layout: bit 0 exclusive, bit 1 host priority, bits 31:2 readers. */
#define TDX_LOCK_EXCL   1u
#define TDX_LOCK_HP     2u
#define TDX_LOCK_READER 4u

struct tdx_lock {
    _Atomic uint32_t word;
};

static inline void tdx_lock_init(struct tdx_lock *l)
{
    atomic_init(&l->word, 0);
}

/* `host` says who tries: SEAMCALL (true) or TDCALL (false). */
enum tdx_lock_result tdx_lock_try(struct tdx_lock *l, enum tdx_lock_kind kind,
                                  enum tdx_lock_mode mode, bool host);
void tdx_lock_release(struct tdx_lock *l, enum tdx_lock_mode mode);

static inline bool tdx_lock_is_free(struct tdx_lock *l)
{
    return (atomic_load(&l->word) & ~TDX_LOCK_HP) == 0;
}

static inline bool tdx_lock_hp_pending(struct tdx_lock *l)
{
    return atomic_load(&l->word) & TDX_LOCK_HP;
}

#endif
