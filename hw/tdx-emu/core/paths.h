/*
 * Busy-path recognition: every BUSY a SEAMCALL or TDCALL returns (injected
 * by a rule or natural lock contention) is sorted into one of KVM's busy
 * paths (docs/busy-paths.md: G1 ... T1), kept pending, and
 * resolved by what the caller does next (the call stream itself), so a
 * campaign can judge the kernel's reaction without kernel patches.
 *
 * Reactions, per pending BUSY (the "key" is leaf + TD + GPA for S-EPT
 * leaves, leaf + TD for the others, the vCPU for VP.ENTER and ACCEPT):
 *   LOCAL_RETRY    G2a/G2b: the same LP re-issues the same key before that
 *                  LP's next TDH.VP.ENTER (KVM's local retry in
 *                  tdx_handle_ept_violation()).
 *   KICK_AND_RETRY G3a-c: the key is retried and no VP.ENTER of the TD
 *                  entered (on any LP) since the BUSY (V2 obeyed).
 *   KICK_VIOLATED  G3a-c: a VP.ENTER of the TD entered before the retry.
 *   RETRY_LATER    the key is retried, any other case (G1, M1-M5, W1, and
 *                  G2 retries from another LP or after a VP.ENTER).
 *   REENTER        V1: a later VP.ENTER of the same vCPU.
 *   GUEST_RETRY    T1: the same vCPU issues TDG.MEM.PAGE.ACCEPT again.
 *   ENTRY_GATED,   V2, one per G3 BUSY that was retried: while KVM waits
 *   ENTRY_RACED,   for the zap's retry (wait_for_sept_zap) no vCPU of the
 *   ENTRY_VIOLATED TD may enter. GATED: no VP.ENTER of the TD entered
 *                  between the BUSY and the retry. RACED: some did, all
 *                  had exited by the retry (a vCPU that checked the flag
 *                  just before KVM set it enters and is kicked out at once
 *                  by the pending IPI; hardware does that too). VIOLATED:
 *                  a vCPU of the TD was inside at the retry, or (retries
 *                  stretched by an injection rule's stretch_retry_ms) a
 *                  vCPU of the TD entered or left the TD during the
 *                  retry. V2 rows count only resolved G3 BUSYs, so they
 *                  have no pending part.
 *   UNHANDLED      no retry before the TD is torn down (TDR reclaimed), the
 *                  module is shut down (SYS.SHUTDOWN / SYS.DISABLE), or
 *                  before the BUSY's own LP made TDX_PATH_WINDOW further
 *                  calls about that TD (about any TD for TD-less keys):
 *                  calls of other LPs do not count, so a host that
 *                  deschedules the LP between BUSY and retry changes
 *                  nothing.
 * A retry that itself does not succeed still resolves the BUSY it retries
 * (and counts in retry_failed); if it is BUSY again it is a new pending
 * BUSY. G3's "the retry must succeed" is retry_failed == 0.
 *
 * Pending BUSYs live in a fixed table (TDX_PATH_PENDING_MAX); a BUSY that
 * finds it full is counted in `overflow` and not tracked. Thread-safe: a
 * mutex guards the table and the counters; calls that are not BUSY skip it
 * (lock-free) while nothing is pending.
 *
 * Plain C11, no QEMU headers (public API for embedders, like inject.h).
 */
#ifndef TDX_EMU_PATHS_H
#define TDX_EMU_PATHS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct tdx_module;

enum tdx_path_id {
    TDX_PATH_G1,        /* TDH.MEM.PAGE.ADD */
    TDX_PATH_G2A,       /* TDH.MEM.SEPT.ADD */
    TDX_PATH_G2B,       /* TDH.MEM.PAGE.AUG */
    TDX_PATH_G3A,       /* TDH.MEM.RANGE.BLOCK */
    TDX_PATH_G3B,       /* TDH.MEM.TRACK */
    TDX_PATH_G3C,       /* TDH.MEM.PAGE.REMOVE */
    TDX_PATH_V1,        /* TDH.VP.ENTER, operand SEPT or TD_EPOCH */
    TDX_PATH_V2,        /* no SEAMCALL: entries gated while a G3 zap waits */
    TDX_PATH_W1,        /* TDH.PHYMEM.PAGE.WBINVD */
    TDX_PATH_M1,        /* TDH.MNG.CREATE */
    TDX_PATH_M2,        /* TDH.MNG.KEY.CONFIG */
    TDX_PATH_M3,        /* TDH.PHYMEM.CACHE.WB */
    TDX_PATH_M4,        /* TDH.MR.FINALIZE */
    TDX_PATH_M5,        /* TDH.VP.INIT */
    TDX_PATH_T1,        /* TDG.MEM.PAGE.ACCEPT (guest) */
    TDX_PATH_OTHER,     /* any other BUSY (leaf/operand not in the table) */
    TDX_PATH_COUNT
};

enum tdx_reaction {
    TDX_REACT_LOCAL_RETRY,
    TDX_REACT_KICK_AND_RETRY,
    TDX_REACT_RETRY_LATER,
    TDX_REACT_REENTER,
    TDX_REACT_GUEST_RETRY,
    TDX_REACT_UNHANDLED,
    TDX_REACT_KICK_VIOLATED,
    TDX_REACT_ENTRY_GATED,
    TDX_REACT_ENTRY_RACED,
    TDX_REACT_ENTRY_VIOLATED,
    TDX_REACT_COUNT
};

struct tdx_path_counts {
    uint64_t busy_injected;     /* BUSYs a status rule returned */
    uint64_t busy_natural;      /* BUSYs from real contention (incl. holds) */
    uint64_t reaction[TDX_REACT_COUNT];
    uint64_t retry_failed;      /* resolving retries that did not succeed */
    uint64_t pending;           /* tracked, not resolved yet */
    uint64_t overflow;          /* not tracked: the pending table was full */
};

/* Invariant per path: busy_injected + busy_natural ==
 *   sum(reaction) + pending + overflow. */
struct tdx_path_stats {
    struct tdx_path_counts path[TDX_PATH_COUNT];
    uint64_t overflow;          /* all paths */
};

/* "G1", "G2a", ..., "T1", "other"; NULL when out of range. */
const char *tdx_path_name(unsigned id);
/* "local-retry", "kick-and-retry", "retry-later", "reenter", "guest-retry",
 * "unhandled", "kick-violated", "entry-gated", "entry-raced",
 * "entry-violated"; NULL when out of range. */
const char *tdx_reaction_name(unsigned r);
/* Consistent copy of the table. */
void tdx_module_path_stats(struct tdx_module *m, struct tdx_path_stats *out);
/* Zero the counters and forget pending BUSYs (tdx_module_reset_stats()
 * calls this). */
void tdx_module_reset_path_stats(struct tdx_module *m);

/* ---- internal to the core ------------------------------------------------ */

#define TDX_PATH_PENDING_MAX 64
#define TDX_PATH_WINDOW      4096   /* the LP's calls about the TD before UNHANDLED */
#define TDX_PATH_STRETCH_LPS 64     /* = TDX_MAX_LPS */

struct tdx_path_pending {
    bool used;
    bool injected;
    bool lp_entered;            /* that LP issued a VP.ENTER since */
    bool td_entered;            /* a VP.ENTER of the TD entered since */
    /* LPs (bit per LP) running a vCPU of the TD that entered after the
     * BUSY and has not exited yet. KVM's kick (tdh_do_no_vcpus) only
     * guarantees no vCPU is inside when it retries: an entry racing with
     * the kick that exits again before the retry is what hardware does
     * too (the pending IPI exits it at once). */
    uint64_t inside_lps;
    uint8_t path;
    uint8_t kind;               /* enum tdx_path_event_kind */
    uint16_t leaf;
    unsigned lp;
    uint64_t tdr, gpa, key;     /* key: operand PA (W1, M5) or the vCPU */
    unsigned hkid;              /* W1: KeyID of the flush */
    uint64_t calls;             /* calls about the TD seen since */
    uint64_t seq;
    /* G3: a VP.ENTER of the TD was attempted, or a vCPU of it exited, on
     * another LP while this BUSY's retry was stretched
     * (tdx_paths_stretch_retry). */
    bool entry_in_retry;
};

/* An LP whose zap retry is being stretched (inject.h: stretch_retry_ms). */
struct tdx_path_stretch {
    bool active;
    bool entered;               /* an entry or exit of the TD came meanwhile */
    uint64_t tdr;
};

struct tdx_paths {
    pthread_mutex_t mutex;
    _Atomic unsigned pending;   /* used entries; 0 = lock-free fast path */
    uint64_t seq;
    struct tdx_path_stats st;
    struct tdx_path_pending e[TDX_PATH_PENDING_MAX];
    _Atomic unsigned stretching;    /* active stretch[] entries */
    pthread_cond_t stretch_cond;    /* CLOCK_MONOTONIC; under mutex */
    struct tdx_path_stretch stretch[TDX_PATH_STRETCH_LPS];
};

enum tdx_path_event_kind {
    TDX_PATH_EV_SEAMCALL,       /* any host leaf but VP.ENTER */
    TDX_PATH_EV_VP_ENTER,
    TDX_PATH_EV_ACCEPT,         /* guest TDG.MEM.PAGE.ACCEPT */
    TDX_PATH_EV_VP_EXIT,        /* a TD exit (status: the exit reason) */
};

struct tdx_path_event {
    enum tdx_path_event_kind kind;
    unsigned leaf, lp;
    uint64_t status;
    bool injected;
    bool entered;               /* VP.ENTER: the vCPU went into the TD */
    uint64_t tdr;               /* 0: unknown / none */
    uint64_t gpa;               /* ~0: none */
    uint64_t key;               /* RCX in (SEAMCALL), TDVPR PA (VP.ENTER,
                                   ACCEPT) */
    unsigned hkid;
};

void tdx_paths_init(struct tdx_paths *p);
void tdx_paths_fini(struct tdx_paths *p);
bool tdx_paths_is_busy(uint64_t status);
void tdx_paths_note_slow(struct tdx_module *m, struct tdx_paths *p,
                         const struct tdx_path_event *ev);
/*
 * Stretch the zap retry LP `lp` is about to issue on TD `tdr`: wait (no
 * module lock held) until a TDH.VP.ENTER of that TD is attempted, or a vCPU
 * of it exits the TD, on another LP, or `ms` milliseconds pass. True when
 * such an event ended the wait; the pending G3 BUSY of that LP then
 * resolves as KICK_VIOLATED, and V2 as ENTRY_VIOLATED, when the retry
 * comes: KVM retries only after its kick completed (every vCPU in guest
 * mode took the IPI, so left the TD), and its entry gate keeps every vCPU
 * out until the retry is done, so with a correct kernel no vCPU of the TD
 * enters or exits meanwhile.
 */
bool tdx_paths_stretch_retry(struct tdx_module *m, unsigned lp, uint64_t tdr,
                             uint32_t ms);
/* The module shuts down (SYS.SHUTDOWN / SYS.DISABLE): nothing can be
 * retried any more, every pending BUSY is UNHANDLED. */
void tdx_paths_forget_all(struct tdx_module *m);
/* The TD of tdr_pa (KeyID hkid) is gone: its pending BUSYs are UNHANDLED. */
void tdx_paths_forget_td(struct tdx_module *m, uint64_t tdr_pa, unsigned hkid);

/* Hook after every call: only BUSYs and calls while something is pending
 * take the mutex. */
static inline void tdx_paths_note(struct tdx_module *m, struct tdx_paths *p,
                                  const struct tdx_path_event *ev)
{
    if (atomic_load_explicit(&p->pending, memory_order_acquire) == 0 &&
        atomic_load_explicit(&p->stretching, memory_order_acquire) == 0 &&
        !tdx_paths_is_busy(ev->status)) {
        return;
    }
    tdx_paths_note_slow(m, p, ev);
}

#endif
