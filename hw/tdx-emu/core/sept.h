/*
 * Secure EPT (S-EPT): the second-stage page tables of a TD, owned by the
 * module core, and the interface the CPU side (target/i386's TD-guest mode)
 * uses to walk them.
 *
 * Private means private (ARCHITECTURE.md rule 6): the 4 KiB page L1 donates
 * with TDH.MEM.SEPT.ADD is only accounted for in the PAMT (PT_EPT, owner =
 * the TD) and scrubbed; the entries live in a struct tdx_sept_table that the
 * core allocates. Nothing is ever read back from L1-writable memory.
 *
 * ---------------------------------------------------------------------------
 * Entry format (64 bit; Intel EPT layout plus software bits)
 *
 *   bit  0      R   \  all three set on NL_MAPPED and MAPPED entries,
 *   bit  1      W    > all three clear in every other state (so every
 *   bit  2      X   /  non-present state is an EPT violation)
 *   bits 5:3    memory type: 6 (WB) on leaves, 0 on non-leaves
 *   bit  6      IPAT: set on leaves
 *   bit  7      PS: leaf at level 1 (2 MiB) or 2 (1 GiB); 0 at level 0
 *   bits 51:12  HPA: leaf -> the TD page (4K / 2M / 1G aligned);
 *               non-leaf -> the PT_EPT page L1 donated (bookkeeping only:
 *               the child table is tdx_sept_table_child(), see below)
 *   bits 55:53  TDX state (enum tdx_sept_state), software only
 *   bit  63     SVE (suppress #VE): always set. As in Intel's module every
 *               S-EPT violation enters the module, which turns accesses to
 *               PENDING pages into #VE in software (tdx_sept_classify_fault)
 *   other bits  zero
 *
 * Intel keeps the per-entry lock (TDEL, bit 11) and the host-priority flag
 * (TDHP, bit 52) inside the entry. We keep them beside it, in
 * tdx_sept_table.lock[i] (a host-priority sharex lock that is only ever
 * taken exclusively: exactly the entry-bit semantics, see leaf-mem.c), so
 * that the entry lock is an ordinary named lock for injection and holds.
 * A walker never needs them.
 *
 * Walking: start at the TD's root (tdx_sept_of(td)->root, level
 * root_level), index with tdx_sept_index(gpa, level), read the entry
 * with tdx_sept_table_entry() (an acquire load). present = (e & RWX) == RWX;
 * leaf = level 0 or PS; otherwise continue in tdx_sept_table_child(t, i).
 * A non-present entry is an EPT violation; ask tdx_sept_classify_fault()
 * whether it becomes a #VE or a TD exit. tdx_sept_translate() does all of
 * this in one call.
 *
 * Lifetime: tables reachable from the root stay valid while the reading LP
 * is inside the TD. Removing a table (TDH.MEM.SEPT.REMOVE) requires the
 * entry pointing to it to be blocked and TLB-tracked, so no vCPU still in
 * the TD can be walking it; removed tables are recycled for the same TD,
 * never freed before the TD itself is.
 *
 * Levels follow Intel's numbering: 0 = PT (4 KiB entries), 1 = PD, 2 = PDPT,
 * 3 = PML4, 4 = PML5. The root is level 3 (4-level EPT) or 4 (5-level), per
 * the EPTP controls of TD_PARAMS. The shared bit is GPA bit GPAW-1 (47 or
 * 51); the S-EPT maps only private GPAs (shared bit clear).
 * ---------------------------------------------------------------------------
 */
#ifndef TDX_EMU_SEPT_H
#define TDX_EMU_SEPT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "locks.h"
#include "tdx-vmx.h"

/* Permission bits R/W/X: TDX_ACCESS_* of tdx-vmx.h. */
#define TDX_SEPTE_MT_MASK      (7ULL << 3)
#define TDX_SEPTE_MT_WB        (6ULL << 3)
#define TDX_SEPTE_IPAT         (1ULL << 6)
#define TDX_SEPTE_PS           (1ULL << 7)
#define TDX_SEPTE_HPA_MASK     0x000FFFFFFFFFF000ULL
#define TDX_SEPTE_STATE_SHIFT  53
#define TDX_SEPTE_STATE_MASK   (7ULL << TDX_SEPTE_STATE_SHIFT)
#define TDX_SEPTE_SVE          (1ULL << 63)

/* What an unused entry (and every entry of a new table) holds. */
#define TDX_SEPTE_FREE_VALUE   TDX_SEPTE_SVE

#define TDX_SEPT_ENTRIES       512

/*
 * TDX entry states. Migration-only states (BLOCKEDW, EXPORTED_*, ...) are
 * not modelled: no leaf of this module produces them. REMOVED exists only
 * during import; kept so PAGE.AUG's state table reads like Intel's.
 */
enum tdx_sept_state {
    TDX_SEPT_FREE            = 0,
    TDX_SEPT_MAPPED          = 1,   /* leaf, RWX */
    TDX_SEPT_BLOCKED         = 2,   /* leaf, was MAPPED */
    TDX_SEPT_PENDING         = 3,   /* leaf, AUG'ed, not yet accepted */
    TDX_SEPT_PENDING_BLOCKED = 4,   /* leaf, was PENDING */
    TDX_SEPT_NL_MAPPED       = 5,   /* non-leaf, RWX */
    TDX_SEPT_NL_BLOCKED      = 6,   /* non-leaf, was NL_MAPPED */
    TDX_SEPT_REMOVED         = 7,
};

/* Public (architectural) state codes, RDX bits 15:8 of the error info. */
#define TDX_SEPT_PUBLIC_FREE            0x00
#define TDX_SEPT_PUBLIC_BLOCKED         0x01
#define TDX_SEPT_PUBLIC_PENDING         0x02
#define TDX_SEPT_PUBLIC_PENDING_BLOCKED 0x03
#define TDX_SEPT_PUBLIC_MAPPED          0x04
#define TDX_SEPT_PUBLIC_REMOVED         0x05
#define TDX_SEPT_PUBLIC_NL_BLOCKED      0x81
#define TDX_SEPT_PUBLIC_NL_MAPPED       0x84

/*
 * One S-EPT table as the core keeps it. child[i] is the table a non-leaf
 * entry e[i] leads to (NULL otherwise); lock[i] is e[i]'s entry lock.
 * Level-0 tables (all but ~1 in 512) have only leaves and no child array:
 * child is NULL there, which keeps a new table at 6 KiB of host memory
 * instead of 10 (SEPT.ADD's cost is mostly first touch of that memory).
 */
struct tdx_sept_table {
    _Atomic uint64_t e[TDX_SEPT_ENTRIES];
    struct tdx_lock lock[TDX_SEPT_ENTRIES];
    struct tdx_sept_table *_Atomic *child;  /* [TDX_SEPT_ENTRIES] or NULL */
    uint64_t hpa;                     /* the donated page (root: TDCX page) */
    int level;                        /* level of the entries in this table */
    struct tdx_sept_table *next_free; /* recycling list of the TD */
};

/* Per-TD S-EPT state; struct tdx_td.sept points here (created lazily). */
struct tdx_sept_td {
    struct tdx_sept_table *root;
    int root_level;                   /* 3 or 4 */
    unsigned gpa_width;               /* 48 or 52; shared bit = width - 1 */
    pthread_mutex_t alloc_lock;       /* free list only; never contended long */
    struct tdx_sept_table *free_list;
};

static inline enum tdx_sept_state tdx_septe_state(uint64_t e)
{
    return (enum tdx_sept_state)((e & TDX_SEPTE_STATE_MASK) >> TDX_SEPTE_STATE_SHIFT);
}

static inline bool tdx_septe_present(uint64_t e)
{
    return (e & TDX_ACCESS_RWX) == TDX_ACCESS_RWX;
}

static inline bool tdx_septe_is_leaf(uint64_t e, int level)
{
    return level == 0 || (e & TDX_SEPTE_PS);
}

static inline unsigned tdx_sept_index(uint64_t gpa, int level)
{
    return (unsigned)(gpa >> (12 + 9 * level)) & (TDX_SEPT_ENTRIES - 1);
}

static inline uint64_t tdx_sept_level_size(int level)
{
    return 1ULL << (12 + 9 * level);
}

static inline uint64_t tdx_sept_table_entry(const struct tdx_sept_table *t,
                                            unsigned idx)
{
    return atomic_load_explicit(&((struct tdx_sept_table *)t)->e[idx],
                                memory_order_acquire);
}

static inline const struct tdx_sept_table *
tdx_sept_table_child(const struct tdx_sept_table *t, unsigned idx)
{
    if (!t->child) {
        return NULL;                  /* level 0: leaves only */
    }
    return atomic_load_explicit(&t->child[idx], memory_order_acquire);
}

struct tdx_module;
struct tdx_td;
struct tdx_call;

/* ---- For the CPU side ----------------------------------------------------- */

enum tdx_sept_xlate {
    TDX_XLATE_OK,           /* *hpa valid */
    TDX_XLATE_VIOLATION,    /* EPT violation: see tdx_sept_classify_fault() */
};

/*
 * Translate a private GPA of a TD for `access` (TDX_ACCESS_READ/W/X bits).
 * Lock-free; valid for an LP inside the TD (see "Lifetime"). On success
 * *hpa is the host PA of gpa, *leaf_level the mapping's level. *entry gets
 * the entry where the walk ended, *level its level (both may be NULL).
 */
enum tdx_sept_xlate tdx_sept_translate(struct tdx_td *td, uint64_t gpa,
                                       unsigned access, uint64_t *hpa,
                                       int *leaf_level, uint64_t *entry,
                                       int *level);

enum tdx_sept_fault {
    TDX_FAULT_EXIT,     /* TD exit to the host (EPT violation) */
    TDX_FAULT_VE,       /* inject #VE: PENDING page and SEPT_VE_DISABLE clear */
};

/* What an EPT violation on a private GPA becomes (Intel td_ept_violation). */
enum tdx_sept_fault tdx_sept_classify_fault(struct tdx_td *td, uint64_t gpa);

/* ---- For the module's leaf families --------------------------------------- */

/* Called once from tdx_module_create(): resolvers and the MR.EXTEND hook. */
void tdx_sept_module_init(struct tdx_module *m);

/* Free the TD's S-EPT (all tables). Caller owns the TD exclusively. */
void tdx_sept_td_destroy(struct tdx_td *td);

/* The TD's S-EPT state, created on first use (after TDH.MNG.INIT). NULL
 * only when out of host memory. */
struct tdx_sept_td *tdx_sept_of(struct tdx_td *td);

/*
 * Walk from the root towards `level`. True when the entry at `level` was
 * reached; false when the walk stopped above it (non-present entry, or a
 * leaf at a bigger size). Either way tbl, idx, reached and copy describe the
 * entry where the walk ended. Entry locks are ignored, as in the module.
 */
bool tdx_sept_walk(struct tdx_sept_td *s, uint64_t gpa, int level,
                   struct tdx_sept_table **tbl, unsigned *idx, int *reached,
                   uint64_t *copy);

/* Extended error info (RCX = architectural entry, RDX = level | state<<8). */
void tdx_sept_ext_info(uint64_t e, int level, uint64_t *rcx, uint64_t *rdx);
uint8_t tdx_sept_public_state(uint64_t e);

/* A private GPA of this TD (shared bit clear, within GPAW and MAX_PA). */
bool tdx_sept_gpa_private_ok(struct tdx_module *m, const struct tdx_sept_td *s,
                             uint64_t gpa);

/* New table for `level` (from the TD's free list or the heap), all FREE. */
struct tdx_sept_table *tdx_sept_table_get(struct tdx_sept_td *s, int level,
                                          uint64_t hpa);
/* Give a detached table back to the TD's free list. */
void tdx_sept_table_put(struct tdx_sept_td *s, struct tdx_sept_table *t);

/*
 * "Is a page blocked in epoch `bepoch` TLB-tracked?" (Intel's rule): yes if
 * bepoch < TD_EPOCH - 1, or bepoch == TD_EPOCH - 1 and no vCPU that entered
 * in that epoch is still in the TD.
 */
bool tdx_sept_tlb_tracked(struct tdx_td *td, uint64_t bepoch);

/*
 * S-EPT invariants (for tdx_core_check_invariants; call with no call in
 * flight): PAMT and S-EPT agree (every MAPPED/PENDING/BLOCKED leaf's page is
 * PT_REG owned by the TD, every non-leaf's page PT_EPT owned by the TD with
 * a table of the right level, and the TD owns no PT_REG / PT_EPT page the
 * S-EPT does not reference), entry locks free (holds excepted), epochs
 * consistent (blocked epochs and vCPU epochs <= TD epoch, epoch refcounts
 * equal the vCPUs in the TD per parity).
 */
bool tdx_sept_check_invariants(struct tdx_module *m, char *err, size_t errlen);

/* ---- Guest side: TDG.MEM.PAGE.ACCEPT's S-EPT part -------------------------- */

struct tdx_accept_result {
    /* true: no status; the vCPU takes an EPT-violation TD exit to the host
     * (ACCEPT type), with the entry info below. */
    bool exit_to_host;
    int req_level, reached_level;
    uint64_t ext_rcx, ext_rdx;
};

/*
 * TDG.MEM.PAGE.ACCEPT's S-EPT part for call `c` (a guest call; its locks
 * go with the call's unwind) on `td`: RCX = GPA|level. Returns the leaf
 * status. TDX_OPERAND_BUSY_HOST_PRIORITY|RCX is returned as is: the
 * dispatcher's epilogue turns it into TDX_OPERAND_BUSY|RCX for the guest
 * (Intel tdx_1.5 TD dispatcher). The guest leaf (tdx_tdg_mem_page_accept)
 * wraps this for tdx_tdcall().
 */
struct tdx_call;
uint64_t tdx_sept_accept(struct tdx_call *c, struct tdx_td *td, uint64_t rcx,
                         struct tdx_accept_result *out);

/* Per-leaf lock table rows of the S-EPT / TRACK / VP.ENTER leaves
 * (struct tdx_lock_row of td.h). */
struct tdx_lock_row;
extern const struct tdx_lock_row *const tdx_sept_lock_rows;
extern const unsigned tdx_sept_lock_table_count;

#endif
