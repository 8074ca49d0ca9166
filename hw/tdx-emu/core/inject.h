/*
 * Fault injection and statistics.
 *
 * Status rules make a leaf return a chosen status (TDX_OPERAND_BUSY|operand
 * by default) at one of its lock points, i.e. where the real module would
 * detect contention, before any side effect. Lock-hold rules really take a
 * named module lock, so that every call that needs it fails naturally, with
 * its own operand ID and side effects (host priority included).
 *
 * Deterministic: with the same seed and the same sequence of calls, the
 * same rules fire.
 */
#ifndef TDX_EMU_INJECT_H
#define TDX_EMU_INJECT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "locks.h"
#include "tdx-leaves.h"

struct tdx_module;

#define TDX_INJECT_MAX_RULES 64
#define TDX_INJECT_STRETCH_LPS 64   /* = TDX_MAX_LPS */
#define TDX_INJECT_ANY_LEAF  (-1)
/*
 * Rules on guest leaves (TDCALLs: e.g. TDG.MEM.PAGE.ACCEPT's S-EPT entry
 * lock point, path T1) name the leaf as TDX_INJECT_GUEST_LEAF(n). "Any
 * leaf" means any host leaf: a guest back-off is a different experiment.
 */
#define TDX_INJECT_GUEST_LEAF_FLAG 0x10000
#define TDX_INJECT_GUEST_LEAF(n) (TDX_INJECT_GUEST_LEAF_FLAG | (n))
#define TDX_INJECT_IS_GUEST_LEAF(l) \
    ((l) >= 0 && ((l) & TDX_INJECT_GUEST_LEAF_FLAG))
#define TDX_INJECT_ANY_OPERAND 0xFFFFFFFFu

enum tdx_inject_when {
    TDX_INJECT_NTH,     /* only the n-th matching lock point (1-based) */
    TDX_INJECT_EVERY,   /* every n-th matching lock point */
    TDX_INJECT_PROB,    /* with probability p, from the seeded PRNG */
    TDX_INJECT_FIRST,   /* the first n matching lock points */
};

struct tdx_status_rule {
    int leaf;               /* host leaf, TDX_INJECT_GUEST_LEAF(guest leaf)
                               or TDX_INJECT_ANY_LEAF */
    uint32_t operand;       /* lock point's operand ID, or ANY_OPERAND */
    uint64_t status;        /* 0: the lock point's own busy status */
    enum tdx_inject_when when;
    uint64_t n;
    double p;
    /* Filters; zero means "any". */
    uint64_t lp_mask;       /* bit per LP */
    uint64_t tdr_pa;
    uint64_t gpa_lo, gpa_hi; /* [lo, hi), hi == 0: any */
    /*
     * Leave the caller's immediate retry of a busy call alone (same LP,
     * leaf, RCX and RDX as the LP's previous SEAMCALL, which was busy): it
     * is neither a match nor fired at. KVM retries a zap SEAMCALL exactly
     * once after kicking the vCPUs (G3) and treats a second busy as a bug,
     * so a natural busy followed by an injected one on the retry would
     * turn a campaign's G3 rule into a TDX_BUG_ON by coincidence.
     */
    bool spare_retries;
    /*
     * Zap leaves only (TDH.MEM.RANGE.BLOCK, TDH.MEM.TRACK,
     * TDH.MEM.PAGE.REMOVE); 0: off. When this rule fires, the caller's
     * immediate retry of that call (same LP, leaf, RCX, RDX) waits at its
     * first lock point, holding nothing, until a TDH.VP.ENTER of the same
     * TD is attempted, or a vCPU of it leaves the TD, on another LP, or
     * this many milliseconds pass (at most TDX_INJECT_STRETCH_MAX_MS).
     * KVM retries a zap only after its kick has taken every vCPU out of
     * the TD, and its entry gate (wait_for_sept_zap) keeps them out until
     * the retry is done, so either event is V2 ENTRY_VIOLATED evidence
     * (paths.h); a kernel with kick and gate only sees the retry take
     * longer.
     */
    uint32_t stretch_retry_ms;
};

#define TDX_INJECT_STRETCH_MAX_MS 10000

/* Locks a hold rule can name. */
enum tdx_named_lock {
    TDX_NAMED_GLOBAL,       /* module-global lock; key ignored */
    TDX_NAMED_PKG_KEY,      /* per-package key lock; key = package */
    TDX_NAMED_PAMT,         /* PAMT entry; key = PA */
    TDX_NAMED_TDR,          /* TDR of a TD (its PAMT entry); key = TDR PA */
    TDX_NAMED_TDCS_OP_STATE,/* key = TDR PA */
    TDX_NAMED_SEPT_TREE,    /* key = TDR PA */
    TDX_NAMED_SEPT_ENTRY,   /* key = TDR PA, gpa */
    TDX_NAMED_TD_EPOCH,     /* key = TDR PA */
    TDX_NAMED_LOCK_COUNT
};

/*
 * Leaf families whose objects own named locks register a resolver, so the
 * engine stays independent of the TD structures. Returns the lock and its
 * kind, or NULL when the object does not exist.
 */
typedef struct tdx_lock *(*tdx_lock_resolver)(struct tdx_module *m,
                                              uint64_t key, uint64_t gpa,
                                              enum tdx_lock_kind *kind);

/*
 * What a rule decided, for checking determinism from outside: the match
 * indices (1-based) of its first TDX_INJECT_FIRED_LOG firings, and a digest
 * of the whole decision stream (one step per match: fired or not). With
 * the same seed and the same workload both are the same from run to run.
 */
#define TDX_INJECT_FIRED_LOG 128
#define TDX_INJECT_DIGEST_INIT 0xCBF29CE484222325ULL   /* FNV-1a offset */

struct tdx_status_rule_slot {
    bool used;
    struct tdx_status_rule rule;
    uint64_t matches;       /* matching lock points seen */
    uint64_t fired;
    uint64_t prng;
    uint64_t digest;
    uint64_t fired_at[TDX_INJECT_FIRED_LOG];
    uint64_t stretched;         /* retries it stretched */
    uint64_t stretch_entries;   /* of those, ended by an entry or exit */
};

/* A stretch rule fired on this LP: its next call, if it is the retry. */
struct tdx_stretch_arm {
    bool armed;
    int slot;
    unsigned leaf;
    uint64_t tdr;
    uint32_t ms;
};

struct tdx_hold_slot {
    bool used;
    enum tdx_named_lock what;
    uint64_t key, gpa;
    enum tdx_lock_mode mode;
    uint64_t until_ns;      /* 0: until released */
    struct tdx_lock *lock;
    /* Busy tries on the lock seen while held; with busies != 0 the hold
     * releases itself at the busies-th (tdx_inject_note_busy). */
    uint64_t busies, busies_seen;
};

struct tdx_inject {
    pthread_mutex_t mutex;
    _Atomic unsigned num_status_rules;
    _Atomic unsigned num_holds;
    uint64_t seed;
    struct tdx_status_rule_slot status[TDX_INJECT_MAX_RULES];
    struct tdx_hold_slot hold[TDX_INJECT_MAX_RULES];
    tdx_lock_resolver resolver[TDX_NAMED_LOCK_COUNT];
    _Atomic unsigned num_stretch_armed;
    struct tdx_stretch_arm stretch[TDX_INJECT_STRETCH_LPS];
};

#define TDX_STATS_OPERANDS 256

/* Per leaf slot (tdx-leaves.h): host leaves, then guest leaves. */
#define TDX_STATS_UNKNOWN 16

struct tdx_stats {
    _Atomic uint64_t calls[TDX_NUM_LEAF_SLOTS];
    _Atomic uint64_t success[TDX_NUM_LEAF_SLOTS];
    _Atomic uint64_t errors[TDX_NUM_LEAF_SLOTS];      /* other than busy */
    /* busy and busy-host-priority by operand ID; TDX_SYS_BUSY (no operand)
     * under TDX_OPERAND_ID_SYS */
    _Atomic uint64_t busy[TDX_NUM_LEAF_SLOTS][TDX_STATS_OPERANDS];
    _Atomic uint64_t injected[TDX_NUM_LEAF_SLOTS];
    /* Zero-step mitigation (vp-enter.c): VP.ENTERs that took the S-EPT
     * tree exclusively and went in, and those it turned into a synthetic
     * EPT-violation exit. */
    _Atomic uint64_t zero_step_entries;
    _Atomic uint64_t zero_step_synthetic_exits;
    /* TD translations at each TDH.VP.ENTER that went in (kept, or dropped
     * and why) and at L1's INVEPT: enum tdx_td_tlb_reason (tdx-core.h). */
    _Atomic uint64_t td_tlb[8];
    /* #VE the module raised in TDs, by reason (td-ve.h: TDX_VE_*), and
     * #DF raised instead because VE_INFO was still valid. */
    _Atomic uint64_t ve[8];
    /*
     * Requests this module does not know (a leaf or leaf version it lacks,
     * a metadata field ID outside its tables): answered with the
     * architectural error, and counted here so that they are never silent.
     * The first TDX_STATS_UNKNOWN distinct (leaf slot, what) pairs are kept;
     * later ones only count in unknown_other. `what` is the field ID (RDX)
     * or, for an unknown leaf, RAX.
     */
    _Atomic uint64_t unknown_total;
    _Atomic uint64_t unknown_other;
    struct tdx_unknown_request {
        _Atomic unsigned state;         /* 0 free, 1 being filled, 2 valid */
        unsigned slot;                  /* TDX_NUM_LEAF_SLOTS: an unknown
                                           leaf, `what` is its RAX */
        uint64_t what;
        _Atomic uint64_t count;
    } unknown[TDX_STATS_UNKNOWN];
};

/* Rules: return a rule id >= 0, or -1 with a reason in err. */
int tdx_inject_add_status_rule(struct tdx_module *m,
                               const struct tdx_status_rule *rule,
                               char *err, size_t errlen);
int tdx_inject_hold_lock(struct tdx_module *m, enum tdx_named_lock what,
                         uint64_t key, uint64_t gpa, enum tdx_lock_mode mode,
                         uint64_t duration_ns, char *err, size_t errlen);
/*
 * The same, ending on an event instead of (or before) a time: the hold
 * releases itself right after the `busies`-th lock point that found the
 * lock taken while it was held (0: no such limit). A test that wants N
 * natural busies from a hold gets exactly that many hits on the lock,
 * however fast or slow the callers come, and the callers then proceed.
 */
int tdx_inject_hold_lock_busies(struct tdx_module *m, enum tdx_named_lock what,
                                uint64_t key, uint64_t gpa,
                                enum tdx_lock_mode mode, uint64_t duration_ns,
                                uint64_t busies, char *err, size_t errlen);
bool tdx_inject_remove_status_rule(struct tdx_module *m, int id);
bool tdx_inject_release_hold(struct tdx_module *m, int id);
/* Times rule `id` fired, or -1 when there is no such rule. */
int64_t tdx_inject_fired(struct tdx_module *m, int id);
void tdx_inject_set_resolver(struct tdx_module *m, enum tdx_named_lock what,
                             tdx_lock_resolver fn);

/*
 * Listing, for monitors: ids run from 0 to TDX_INJECT_MAX_RULES - 1; copy
 * out one rule or hold with its counters, false when the slot is free. A
 * timed hold whose time is up is released here and reported as gone.
 */
struct tdx_status_rule_info {
    struct tdx_status_rule rule;
    uint64_t matches;       /* matching lock points seen */
    uint64_t fired;
    /* Decision log: the match index of each of the first
     * min(fired, TDX_INJECT_FIRED_LOG) firings, ascending, and the digest
     * of all `matches` decisions (tdx_inject_digest_step from
     * TDX_INJECT_DIGEST_INIT). */
    uint64_t digest;
    uint64_t fired_at[TDX_INJECT_FIRED_LOG];
    uint64_t stretched;         /* stretch_retry_ms: retries stretched */
    uint64_t stretch_entries;   /* ... ended by a vCPU entry or exit */
};

/* One step of the decision digest: match `index` (1-based) fired or not. */
uint64_t tdx_inject_digest_step(uint64_t digest, uint64_t index, bool fired);

struct tdx_hold_info {
    enum tdx_named_lock what;
    uint64_t key, gpa;
    enum tdx_lock_mode mode;
    uint64_t until_ns;      /* 0: until released; else on ops.clock_ns */
    uint64_t busies;        /* 0: no busy limit; else released at that many */
    uint64_t busies_seen;   /* busy lock points on the lock so far */
};

bool tdx_inject_get_status_rule(struct tdx_module *m, int id,
                                struct tdx_status_rule_info *out);
bool tdx_inject_get_hold(struct tdx_module *m, int id, struct tdx_hold_info *out);

/* "global", "pkg-key", "pamt", "tdr", "tdcs-op-state", "sept-tree",
 * "sept-entry", "td-epoch"; NULL when out of range. */
const char *tdx_named_lock_name(enum tdx_named_lock what);
/* "nth", "every", "probability", "first"; NULL when out of range. */
const char *tdx_inject_when_name(enum tdx_inject_when when);

const struct tdx_stats *tdx_module_stats(struct tdx_module *m);
void tdx_module_reset_stats(struct tdx_module *m);

/* Internal to the core. */
void tdx_inject_init(struct tdx_inject *inj, uint64_t seed);
void tdx_inject_fini(struct tdx_module *m);
struct tdx_call;
/* Status a rule injects at this lock point, or 0. */
uint64_t tdx_inject_at_lock_point(struct tdx_call *c, uint64_t busy_status);
/* A lock point found `lock` taken (any busy result of its try): count it
 * on the holds of that lock, releasing those that reached their busies. */
void tdx_inject_note_busy(struct tdx_module *m, const struct tdx_lock *lock);
/* Drop lock holds whose time is up. */
void tdx_inject_expire_holds(struct tdx_module *m);
/* The TD of `tdr_pa` is being freed: drop the holds on locks inside it
 * (op-state, S-EPT tree and entries, epoch), which would dangle. */
void tdx_inject_forget_td(struct tdx_module *m, uint64_t tdr_pa);
/* Is `lock` currently held by a hold rule (for the invariant checker)? */
bool tdx_inject_holds(struct tdx_module *m, const struct tdx_lock *lock);

/* "TDH.MEM.PAGE.AUG", "TDG.MEM.PAGE.ACCEPT", "any", or NULL for a rule's
 * leaf value. */
const char *tdx_inject_leaf_name(int leaf);
/* A rule's leaf value for a host or guest leaf name, or -1. */
int tdx_inject_leaf_by_name(const char *name);

#endif
