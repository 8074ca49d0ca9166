/*
 * S-EPT and TLB-tracking leaves: TDH.MEM.PAGE.ADD (2), SEPT.ADD (3),
 * PAGE.AUG (6), RANGE.BLOCK (7), PAGE.REMOVE (29), SEPT.REMOVE (30),
 * TRACK (38), RANGE.UNBLOCK (39), and the S-EPT part of the guest's
 * TDG.MEM.PAGE.ACCEPT.
 *
 * Locks (Intel tdx_1.5: each leaf's src/vmm_dispatcher/api_calls/*.c and
 * the lock primitives of its include/ tdx_locks.h):
 *  - TDR (its PAMT entry): shared for every leaf here except PAGE.ADD,
 *    which takes it exclusive and therefore needs no S-EPT lock at all.
 *  - TDCS OP_STATE: shared (never contended outside migration).
 *  - S-EPT tree: shared for SEPT.ADD, PAGE.AUG, PAGE.REMOVE; exclusive for
 *    RANGE.BLOCK, RANGE.UNBLOCK, SEPT.REMOVE. TDH.VP.ENTER takes it
 *    exclusive while its zero-step filter is armed (vp-enter.c).
 *  - S-EPT entry: taken after the walk. Host tries that fail set the
 *    entry's host-priority flag, so a guest ACCEPT on that entry backs off
 *    (BUSY_HOST_PRIORITY) until a host leaf gets the entry; a successful
 *    host try clears it. We model Intel's entry bits 11/52 with a
 *    host-priority sharex lock taken only exclusively, which behaves the
 *    same (see locks.c) and is a named, injectable, holdable lock.
 *  - Pages: the new page (explicit operand) exclusive; the page found
 *    through the S-EPT (REMOVE) exclusive via its PAMT entry, busy
 *    reported as RCX.
 * Every lock goes through tdx_call_lock(), so status-injection rules fire
 * there, before any side effect; the dispatcher releases what a leaf still
 * holds, newest first (one unwind path).
 */
#include <string.h>

#include "sept.h"
#include "td.h"

/* ---- Lock table (data; test-sept drives every row) ---------------------- */

#define ROW(l, o, obj, k, md, op) \
    { TDH_##l, o, TDX_LOBJ_##obj, TDX_LOCK_##k, TDX_LOCK_##md, op }
#define HP HP_SHAREX
#define OPST TDX_OPERAND_ID_OP_STATE

static const struct tdx_lock_row tdx_sept_lock_table[] = {
    ROW(MEM_PAGE_ADD,     0, TDR,        HP, EXCLUSIVE, TDX_OPERAND_ID_RDX),
    ROW(MEM_PAGE_ADD,     1, PAGE,       HP, EXCLUSIVE, TDX_OPERAND_ID_R8),
    ROW(MEM_SEPT_ADD,     0, TDR,        HP, SHARED, TDX_OPERAND_ID_RDX),
    ROW(MEM_SEPT_ADD,     1, OP_STATE,   HP, SHARED, OPST),
    ROW(MEM_SEPT_ADD,     2, SEPT_TREE,  SHAREX, SHARED, TDX_OPERAND_ID_SEPT),
    ROW(MEM_SEPT_ADD,     3, SEPT_ENTRY, HP, EXCLUSIVE, TDX_OPERAND_ID_RCX),
    ROW(MEM_SEPT_ADD,     4, PAGE,       HP, EXCLUSIVE, TDX_OPERAND_ID_R8),
    ROW(MEM_PAGE_AUG,     0, TDR,        HP, SHARED, TDX_OPERAND_ID_RDX),
    ROW(MEM_PAGE_AUG,     1, OP_STATE,   HP, SHARED, OPST),
    ROW(MEM_PAGE_AUG,     2, SEPT_TREE,  SHAREX, SHARED, TDX_OPERAND_ID_SEPT),
    ROW(MEM_PAGE_AUG,     3, SEPT_ENTRY, HP, EXCLUSIVE, TDX_OPERAND_ID_RCX),
    ROW(MEM_PAGE_AUG,     4, PAGE,       HP, EXCLUSIVE, TDX_OPERAND_ID_R8),
    ROW(MEM_RANGE_BLOCK,  0, TDR,        HP, SHARED, TDX_OPERAND_ID_RDX),
    ROW(MEM_RANGE_BLOCK,  1, OP_STATE,   HP, SHARED, OPST),
    ROW(MEM_RANGE_BLOCK,  2, SEPT_TREE,  SHAREX, EXCLUSIVE, TDX_OPERAND_ID_SEPT),
    ROW(MEM_RANGE_BLOCK,  3, SEPT_ENTRY, HP, EXCLUSIVE, TDX_OPERAND_ID_RCX),
    ROW(MEM_RANGE_UNBLOCK, 0, TDR,       HP, SHARED, TDX_OPERAND_ID_RDX),
    ROW(MEM_RANGE_UNBLOCK, 1, OP_STATE,  HP, SHARED, OPST),
    ROW(MEM_RANGE_UNBLOCK, 2, SEPT_TREE, SHAREX, EXCLUSIVE, TDX_OPERAND_ID_SEPT),
    ROW(MEM_RANGE_UNBLOCK, 3, SEPT_ENTRY, HP, EXCLUSIVE, TDX_OPERAND_ID_RCX),
    ROW(MEM_TRACK,        0, TDR,        HP, SHARED, TDX_OPERAND_ID_RCX),
    ROW(MEM_TRACK,        1, OP_STATE,   HP, SHARED, OPST),
    ROW(MEM_TRACK,        2, TD_EPOCH,   SHAREX, EXCLUSIVE, TDX_OPERAND_ID_TD_EPOCH),
    ROW(MEM_PAGE_REMOVE,  0, TDR,        HP, SHARED, TDX_OPERAND_ID_RDX),
    ROW(MEM_PAGE_REMOVE,  1, OP_STATE,   HP, SHARED, OPST),
    ROW(MEM_PAGE_REMOVE,  2, SEPT_TREE,  SHAREX, SHARED, TDX_OPERAND_ID_SEPT),
    ROW(MEM_PAGE_REMOVE,  3, SEPT_ENTRY, HP, EXCLUSIVE, TDX_OPERAND_ID_RCX),
    ROW(MEM_PAGE_REMOVE,  4, PAGE_IMPLICIT, HP, EXCLUSIVE, TDX_OPERAND_ID_RCX),
    ROW(MEM_SEPT_REMOVE,  0, TDR,        HP, SHARED, TDX_OPERAND_ID_RDX),
    ROW(MEM_SEPT_REMOVE,  1, OP_STATE,   HP, SHARED, OPST),
    ROW(MEM_SEPT_REMOVE,  2, SEPT_TREE,  SHAREX, EXCLUSIVE, TDX_OPERAND_ID_SEPT),
    ROW(MEM_SEPT_REMOVE,  3, SEPT_ENTRY, HP, EXCLUSIVE, TDX_OPERAND_ID_RCX),
    ROW(MEM_SEPT_REMOVE,  4, PAGE_IMPLICIT, HP, EXCLUSIVE, TDX_OPERAND_ID_RCX),
    /* TDH.VP.ENTER (vp-enter.c): TDVPR and TDR stay held while the vCPU is
     * in the TD; the epoch lock only around sampling the epoch; the tree
     * only while the zero-step filter is armed. */
    ROW(VP_ENTER,         0, TDVPR,      HP, SHARED, TDX_OPERAND_ID_RCX),
    ROW(VP_ENTER,         1, TDR_IMPLICIT, HP, SHARED, TDX_OPERAND_ID_TDR),
    ROW(VP_ENTER,         2, OP_STATE,   HP, SHARED, OPST),
    ROW(VP_ENTER,         3, TD_EPOCH,   SHAREX, SHARED, TDX_OPERAND_ID_TD_EPOCH),
    ROW(VP_ENTER,         4, SEPT_TREE,  SHAREX, EXCLUSIVE, TDX_OPERAND_ID_SEPT),
};
const struct tdx_lock_row *const tdx_sept_lock_rows = tdx_sept_lock_table;
const unsigned tdx_sept_lock_table_count =
    sizeof(tdx_sept_lock_table) / sizeof(tdx_sept_lock_table[0]);

#undef OPST
#undef HP
#undef ROW

/* ---- Common pieces --------------------------------------------------------- */

/* Leaf value of an entry: RWX per state, WB, IPAT, PS above level 0. */
static uint64_t leaf_entry(uint64_t hpa, int level, enum tdx_sept_state st)
{
    uint64_t e = (hpa & TDX_SEPTE_HPA_MASK) | TDX_SEPTE_MT_WB | TDX_SEPTE_IPAT |
                 TDX_SEPTE_SVE | ((uint64_t)st << TDX_SEPTE_STATE_SHIFT);

    if (st == TDX_SEPT_MAPPED) {
        e |= TDX_ACCESS_RWX;
    }
    if (level > 0) {
        e |= TDX_SEPTE_PS;
    }
    return e;
}

static uint64_t nonleaf_entry(uint64_t hpa, enum tdx_sept_state st)
{
    uint64_t e = (hpa & TDX_SEPTE_HPA_MASK) | TDX_SEPTE_SVE |
                 ((uint64_t)st << TDX_SEPTE_STATE_SHIFT);

    return st == TDX_SEPT_NL_MAPPED ? e | TDX_ACCESS_RWX : e;
}

static uint64_t with_state(uint64_t e, enum tdx_sept_state st)
{
    e &= ~(TDX_SEPTE_STATE_MASK | TDX_ACCESS_RWX);
    e |= (uint64_t)st << TDX_SEPTE_STATE_SHIFT;
    if (st == TDX_SEPT_MAPPED || st == TDX_SEPT_NL_MAPPED) {
        e |= TDX_ACCESS_RWX;
    }
    return e;
}

static bool is_leaf_state(enum tdx_sept_state st)
{
    return st == TDX_SEPT_MAPPED || st == TDX_SEPT_BLOCKED ||
           st == TDX_SEPT_PENDING || st == TDX_SEPT_PENDING_BLOCKED;
}

static bool is_blocked_state(enum tdx_sept_state st)
{
    return st == TDX_SEPT_BLOCKED || st == TDX_SEPT_PENDING_BLOCKED ||
           st == TDX_SEPT_NL_BLOCKED;
}

/*
 * GPA|level operand (RCX of the S-EPT leaves): bits 2:0 level within
 * [min, max], bits 11:3 and 63:52 reserved zero, GPA aligned to the level.
 */
static bool page_info_ok(uint64_t rcx, int min, int max)
{
    int level = (int)(rcx & 7);
    uint64_t gpa = rcx & ~0xFFFULL;

    if ((rcx & 0xFF8ULL) || (rcx >> 52)) {
        return false;
    }
    if (level < min || level > max) {
        return false;
    }
    return (gpa & (tdx_sept_level_size(level) - 1)) == 0;
}

/* State of one S-EPT leaf in flight. */
struct sept_op {
    struct tdx_call *c;
    struct tdx_regs *r;
    struct tdx_td *td;
    struct tdx_sept_td *s;
    uint64_t rcx_in, tdr_in;            /* operands, before outputs clobber */
    uint64_t gpa;
    int level;
    /* where the walk ended */
    struct tdx_sept_table *t;
    unsigned idx;
    int reached;
    uint64_t e;
};

static uint64_t walk_failed(struct sept_op *o)
{
    tdx_sept_ext_info(o->e, o->reached, &o->r->rcx, &o->r->rdx);
    return TDX_EPT_WALK_FAILED | TDX_OPERAND_ID_RCX;
}

static uint64_t entry_status(struct sept_op *o, uint64_t status)
{
    tdx_sept_ext_info(o->e, o->reached, &o->r->rcx, &o->r->rdx);
    return status | TDX_OPERAND_ID_RCX;
}

/*
 * The common front of the S-EPT leaves that take the tree lock (Intel's
 * blocks A, C, D, E): TDR (RDX) shared, TD state + OP_STATE shared,
 * GPA|level in [min, max] (max < 0: the root level), private GPA, tree lock
 * in tree_mode, walk to the level, entry lock (host). On success the entry
 * is locked and o->e is its value re-read under the lock.
 */
static uint64_t sept_front(struct sept_op *o, int min, int max,
                           enum tdx_lock_mode tree_mode)
{
    struct tdx_call *c = o->c;
    uint64_t st;

    st = tdx_td_lock_tdr(c, o->tdr_in, TDX_OPERAND_ID_RDX, TDX_LOCK_SHARED, &o->td);
    if (st != TDX_SUCCESS) {
        return st;
    }
    st = tdx_td_check_state(c, o->td, true);
    if (st != TDX_SUCCESS) {
        return st;
    }
    o->s = tdx_sept_of(o->td);
    if (!o->s) {
        return TDX_RND_NO_ENTROPY;     /* host out of memory: retryable */
    }
    if (!page_info_ok(o->rcx_in, min, max < 0 ? o->s->root_level : max) ||
        !tdx_sept_gpa_private_ok(c->m, o->s, o->gpa)) {
        return TDX_OPERAND_INVALID | TDX_OPERAND_ID_RCX;
    }
    st = tdx_call_lock(c, &o->td->sept_tree_lock, TDX_LOCK_SHAREX, tree_mode,
                       TDX_OPERAND_BUSY | TDX_OPERAND_ID_SEPT);
    if (st != TDX_SUCCESS) {
        return st;
    }
    if (!tdx_sept_walk(o->s, o->gpa, o->level, &o->t, &o->idx, &o->reached, &o->e)) {
        return walk_failed(o);
    }
    /* Host flavour of the entry lock: a failed try raises the entry's host
     * priority, so guests step aside until a host leaf gets through. The
     * error info describes the entry as the walk saw it. */
    st = tdx_call_lock(c, &o->t->lock[o->idx], TDX_LOCK_HP_SHAREX,
                       TDX_LOCK_EXCLUSIVE, TDX_OPERAND_BUSY | TDX_OPERAND_ID_RCX);
    if (st != TDX_SUCCESS) {
        tdx_sept_ext_info(o->e, o->reached, &o->r->rcx, &o->r->rdx);
        return st;
    }
    o->e = tdx_sept_table_entry(o->t, o->idx);
    return TDX_SUCCESS;
}

/* RCX = GPA|level, RDX = TDR; RCX and RDX are outputs (error info), zero
 * unless a leaf says otherwise. */
static void sept_op_init(struct sept_op *o, struct tdx_call *c, struct tdx_regs *r,
                         uint64_t tdr)
{
    memset(o, 0, sizeof(*o));
    o->c = c;
    o->r = r;
    o->rcx_in = r->rcx;
    o->tdr_in = tdr;
    o->gpa = r->rcx & ~0xFFFULL & ((1ULL << 52) - 1);
    o->level = (int)(r->rcx & 7);
    r->rcx = r->rdx = 0;
    /* Rules filter on the GPA; it must be known at the first lock point. */
    c->gpa = o->gpa;
}

/* PAMT entry of the page a leaf maps, for the implicit exclusive lock. */
static uint64_t lock_mapped_page(struct sept_op *o, uint64_t hpa,
                                 struct tdx_pamt_entry **pe)
{
    *pe = tdx_pamt_lookup(o->c->m, hpa);
    if (!*pe) {
        /* The S-EPT only ever points at TDMR pages; refuse, don't crash. */
        return entry_status(o, TDX_EPT_ENTRY_STATE_INCORRECT);
    }
    return tdx_call_lock(o->c, &(*pe)->lock, TDX_LOCK_HP_SHAREX,
                         TDX_LOCK_EXCLUSIVE, TDX_OPERAND_BUSY | TDX_OPERAND_ID_RCX);
}

static bool tracking_required(struct tdx_td *td)
{
    /* "TLB tracking required" op-states: RUNNABLE (and the live migration
     * states, not modelled). Before MR.FINALIZE no vCPU has run. */
    return atomic_load(&td->op_state) == TDX_OP_RUNNABLE;
}

/* ---- TDH.MEM.SEPT.ADD (3), versions 0 and 1 ------------------------------ */

/*
 * RCX = GPA|level of the parent entry (1..root level; the new table is of
 * level - 1), RDX = TDR (v1: bit 0 "allow existing"), R8 = the new page
 * (bit 63 ignored). v1 outputs R8: 0 if the page was consumed, else the
 * page with bit 63 set.
 */
uint64_t tdx_leaf_mem_sept_add(struct tdx_call *c, struct tdx_regs *r)
{
    const bool v1 = c->version >= 1;
    const uint64_t rdx = r->rdx, page = r->r8 & ~(1ULL << 63);
    const bool allow_existing = v1 && (rdx & 1);
    struct tdx_pamt_entry *pe;
    struct tdx_sept_table *child;
    enum tdx_sept_state now;
    struct sept_op o;
    uint64_t st;

    sept_op_init(&o, c, r, v1 ? rdx & ~1ULL : rdx);
    if (v1 && ((rdx & 0xFFEULL) || (rdx >> 52))) {
        return TDX_OPERAND_INVALID | TDX_OPERAND_ID_RDX;
    }
    /* Only v1 may come without a page; v0's null page is an operand
     * error before any S-EPT state is looked at (Intel tdx_1.5). */
    if (page == 0 && !v1) {
        return TDX_OPERAND_INVALID | TDX_OPERAND_ID_R8;
    }
    st = sept_front(&o, 1, -1, TDX_LOCK_SHARED);
    if (st != TDX_SUCCESS) {
        return st;
    }
    now = tdx_septe_state(o.e);
    if (now != TDX_SEPT_FREE && !(v1 && now == TDX_SEPT_NL_MAPPED)) {
        return entry_status(&o, TDX_EPT_ENTRY_STATE_INCORRECT);
    }
    if (now == TDX_SEPT_NL_MAPPED) {
        /* v1 only: an existing table is fine if the caller allows it (or
         * brought no page); the page is handed back unused. */
        if (page != 0 && !allow_existing) {
            return entry_status(&o, TDX_EPT_ENTRY_STATE_INCORRECT);
        }
        r->r8 = page ? page | (1ULL << 63) : 0;
        return TDX_SUCCESS;
    }
    if (page == 0) {
        return entry_status(&o, TDX_EPT_ENTRY_STATE_INCORRECT);
    }
    st = tdx_td_lock_page(c, page, TDX_OPERAND_ID_R8, TDX_LOCK_EXCLUSIVE,
                          TDX_PT_NDA, &pe);
    if (st != TDX_SUCCESS) {
        return st;
    }
    child = tdx_sept_table_get(o.s, o.level - 1, page);
    if (!child) {
        return TDX_RND_NO_ENTROPY;
    }
    /* The donated page never holds module state: scrub what L1 left. */
    if (tdx_mem_zero(c->m, page, TDX_PAGE_SIZE)) {
        tdx_sept_table_put(o.s, child);
        return TDX_OPERAND_ADDR_RANGE_ERROR | TDX_OPERAND_ID_R8;
    }

    /* Cannot fail from here. */
    pe->type = TDX_PT_EPT;
    pe->size = 0;
    pe->owner = o.td->tdr_pa;
    /* Relaxed: we hold the page's PAMT lock exclusively; its release
     * orders this store before any later reader's lock. */
    atomic_store_explicit(&pe->bepoch, 0, memory_order_relaxed);
    /* TDR is only shared: other S-EPT leaves count concurrently. */
    atomic_fetch_add(&o.td->chldcnt, 1);
    /* Publish the table before the entry that leads to it, so a lock-free
     * walker that sees NL_MAPPED finds the child. */
    atomic_store_explicit(&o.t->child[o.idx], child, memory_order_release);
    atomic_store_explicit(&o.t->e[o.idx], nonleaf_entry(page, TDX_SEPT_NL_MAPPED),
                          memory_order_release);
    if (v1) {
        r->r8 = 0;
    }
    return TDX_SUCCESS;
}

/* ---- TDH.MEM.PAGE.ADD (2) ------------------------------------------------- */

/*
 * RCX = GPA (4K), RDX = TDR, R8 = target page, R9 = source page (L1
 * memory, shared KeyID). Build time only (op-state INITIALIZED). The TDR
 * is taken exclusively, which excludes every other S-EPT user, so neither
 * the tree nor the entry is locked (as in Intel's module).
 */
uint64_t tdx_leaf_mem_page_add(struct tdx_call *c, struct tdx_regs *r)
{
    static _Thread_local uint8_t buf[TDX_PAGE_SIZE];
    struct tdx_module *m = c->m;
    const uint64_t target = r->r8, source = r->r9;
    struct tdx_pamt_entry *pe;
    struct sept_op o;
    unsigned kshift = tdx_keyid_shift(m);
    uint64_t st, src_pa;

    sept_op_init(&o, c, r, r->rdx);
    st = tdx_td_lock_tdr(c, o.tdr_in, TDX_OPERAND_ID_RDX, TDX_LOCK_EXCLUSIVE, &o.td);
    if (st != TDX_SUCCESS) {
        return st;
    }
    st = tdx_td_check_state(c, o.td, false);
    if (st != TDX_SUCCESS) {
        return st;
    }
    o.s = tdx_sept_of(o.td);
    if (!o.s) {
        return TDX_RND_NO_ENTROPY;
    }
    if (!page_info_ok(o.rcx_in, 0, 0) || !tdx_sept_gpa_private_ok(m, o.s, o.gpa)) {
        return TDX_OPERAND_INVALID | TDX_OPERAND_ID_RCX;
    }
    if (!tdx_sept_walk(o.s, o.gpa, 0, &o.t, &o.idx, &o.reached, &o.e)) {
        return walk_failed(&o);
    }
    if (tdx_septe_state(o.e) != TDX_SEPT_FREE) {
        return entry_status(&o, TDX_EPT_ENTRY_STATE_INCORRECT);
    }
    /* Source: 4K aligned, below MAXPHYADDR, a shared (non-TD) KeyID. */
    src_pa = source & ((1ULL << kshift) - 1);
    if ((source & (TDX_PAGE_SIZE - 1)) || (source >> m->desc.max_pa_bits) ||
        (source >> kshift) >= m->desc.mktme_keyids) {
        return TDX_OPERAND_INVALID | TDX_OPERAND_ID_R9;
    }
    st = tdx_td_lock_page(c, target, TDX_OPERAND_ID_R8, TDX_LOCK_EXCLUSIVE,
                          TDX_PT_NDA, &pe);
    if (st != TDX_SUCCESS) {
        return st;
    }
    if (tdx_mem_read(m, src_pa, buf, sizeof(buf))) {
        return TDX_OPERAND_INVALID | TDX_OPERAND_ID_R9;
    }
    if (tdx_mem_write(m, target, buf, sizeof(buf))) {
        return TDX_OPERAND_ADDR_RANGE_ERROR | TDX_OPERAND_ID_R8;
    }

    /* Cannot fail from here. TDR is exclusive: plain updates are fine,
     * the counter stays atomic for its concurrent shared users. */
    pe->type = TDX_PT_REG;
    pe->size = 0;
    pe->owner = o.td->tdr_pa;
    /* Relaxed: we hold the page's PAMT lock exclusively; its release
     * orders this store before any later reader's lock. */
    atomic_store_explicit(&pe->bepoch, 0, memory_order_relaxed);
    atomic_fetch_add(&o.td->chldcnt, 1);
    atomic_store_explicit(&o.t->e[o.idx], leaf_entry(target, 0, TDX_SEPT_MAPPED),
                          memory_order_release);
    /* MRTD gets the "MEM.PAGE.ADD" + GPA record; contents are MR.EXTEND's. */
    tdx_mrtd_page_add(&o.td->mr, o.gpa);
    return TDX_SUCCESS;
}

/* ---- TDH.MEM.PAGE.AUG (6) -------------------------------------------------- */

/*
 * RCX = GPA|level (0 = 4K, 1 = 2M), RDX = TDR, R8 = the page. Adds a
 * PENDING page the guest must accept (ACCEPT zeroes it); no contents are
 * touched here. No TLB-tracking check even when the entry was REMOVED.
 */
uint64_t tdx_leaf_mem_page_aug(struct tdx_call *c, struct tdx_regs *r)
{
    const uint64_t page = r->r8;
    struct tdx_pamt_entry *pe;
    enum tdx_sept_state now;
    struct sept_op o;
    uint64_t st;

    sept_op_init(&o, c, r, r->rdx);
    st = sept_front(&o, 0, 1, TDX_LOCK_SHARED);
    if (st != TDX_SUCCESS) {
        return st;
    }
    now = tdx_septe_state(o.e);
    if (now != TDX_SEPT_FREE && now != TDX_SEPT_REMOVED) {
        return entry_status(&o, TDX_EPT_ENTRY_STATE_INCORRECT);
    }
    if (o.level > 0) {
        /* 2M private pages need the PAMT's 2M level, which this module
         * does not model (Linux 7.2 maps 4K pages only). A misaligned page
         * is architecturally invalid anyway. */
        return TDX_OPERAND_INVALID | TDX_OPERAND_ID_R8;
    }
    st = tdx_td_lock_page(c, page, TDX_OPERAND_ID_R8, TDX_LOCK_EXCLUSIVE,
                          TDX_PT_NDA, &pe);
    if (st != TDX_SUCCESS) {
        return st;
    }

    /* Cannot fail from here. */
    pe->type = TDX_PT_REG;
    pe->size = 0;
    pe->owner = o.td->tdr_pa;
    /* Relaxed: we hold the page's PAMT lock exclusively; its release
     * orders this store before any later reader's lock. */
    atomic_store_explicit(&pe->bepoch, 0, memory_order_relaxed);
    atomic_fetch_add(&o.td->chldcnt, 1ULL << (9 * o.level));
    atomic_store_explicit(&o.t->e[o.idx], leaf_entry(page, o.level, TDX_SEPT_PENDING),
                          memory_order_release);
    return TDX_SUCCESS;
}

/* ---- TDH.MEM.RANGE.BLOCK (7) ----------------------------------------------- */

/*
 * RCX = GPA|level (0..root level), RDX = TDR. Blocks a leaf or a non-leaf
 * entry (no new translations through it) and records the TD epoch in the
 * PAMT of the page it points to, for the TLB-tracking check of REMOVE /
 * SEPT.REMOVE / UNBLOCK. The tree is taken exclusively; the only other
 * possible holder of the entry is then a guest TDCALL (ACCEPT).
 */
uint64_t tdx_leaf_mem_range_block(struct tdx_call *c, struct tdx_regs *r)
{
    enum tdx_sept_state now, next;
    struct tdx_pamt_entry *pe;
    struct sept_op o;
    uint64_t st;

    sept_op_init(&o, c, r, r->rdx);
    st = sept_front(&o, 0, -1, TDX_LOCK_EXCLUSIVE);
    if (st != TDX_SUCCESS) {
        return st;
    }
    now = tdx_septe_state(o.e);
    switch (now) {
    case TDX_SEPT_NL_MAPPED:
        next = TDX_SEPT_NL_BLOCKED;
        break;
    case TDX_SEPT_MAPPED:
        next = TDX_SEPT_BLOCKED;
        break;
    case TDX_SEPT_PENDING:
        next = TDX_SEPT_PENDING_BLOCKED;
        break;
    default:
        /* Blocking twice is a warning-class status, not an error. */
        return entry_status(&o, is_blocked_state(now) ? TDX_GPA_RANGE_ALREADY_BLOCKED
                                                     : TDX_EPT_ENTRY_STATE_INCORRECT);
    }
    pe = tdx_pamt_lookup(c->m, o.e & TDX_SEPTE_HPA_MASK);
    if (!pe) {
        return entry_status(&o, TDX_EPT_ENTRY_STATE_INCORRECT);
    }

    /* Cannot fail from here. The PAMT entry is written without its lock,
     * as Intel's module does (the blocked entry is ours). */
    atomic_store(&pe->bepoch, atomic_load(&o.td->td_epoch));
    atomic_store_explicit(&o.t->e[o.idx], with_state(o.e, next),
                          memory_order_release);
    return TDX_SUCCESS;
}

/* ---- TDH.MEM.RANGE.UNBLOCK (39) -------------------------------------------- */

uint64_t tdx_leaf_mem_range_unblock(struct tdx_call *c, struct tdx_regs *r)
{
    enum tdx_sept_state now, next;
    struct tdx_pamt_entry *pe;
    struct sept_op o;
    uint64_t st;

    sept_op_init(&o, c, r, r->rdx);
    st = sept_front(&o, 0, -1, TDX_LOCK_EXCLUSIVE);
    if (st != TDX_SUCCESS) {
        return st;
    }
    now = tdx_septe_state(o.e);
    switch (now) {
    case TDX_SEPT_NL_BLOCKED:
        next = TDX_SEPT_NL_MAPPED;
        break;
    case TDX_SEPT_BLOCKED:
        next = TDX_SEPT_MAPPED;
        break;
    case TDX_SEPT_PENDING_BLOCKED:
        next = TDX_SEPT_PENDING;
        break;
    default:
        return entry_status(&o, TDX_EPT_ENTRY_STATE_INCORRECT);
    }
    pe = tdx_pamt_lookup(c->m, o.e & TDX_SEPTE_HPA_MASK);
    if (!pe) {
        return entry_status(&o, TDX_EPT_ENTRY_STATE_INCORRECT);
    }
    /* While vCPUs may run, unblocking before TRACK has drained the epoch
     * would let stale translations survive; reported against the tree. */
    if (tracking_required(o.td) && !tdx_sept_tlb_tracked(o.td, atomic_load(&pe->bepoch))) {
        return TDX_TLB_TRACKING_NOT_DONE | TDX_OPERAND_ID_SEPT;
    }

    /* Cannot fail from here. */
    atomic_store_explicit(&o.t->e[o.idx], with_state(o.e, next),
                          memory_order_release);
    return TDX_SUCCESS;
}

/* ---- TDH.MEM.TRACK (38) ---------------------------------------------------- */

/*
 * RCX = TDR. Starts a new TD epoch. Refused while vCPUs that entered in the
 * previous epoch are still in the TD; the host must kick them out (TRACK
 * sends no IPIs). Busy on the epoch lock only while a VP.ENTER samples the
 * epoch or another TRACK runs.
 */
uint64_t tdx_leaf_mem_track(struct tdx_call *c, struct tdx_regs *r)
{
    struct tdx_td *td;
    uint64_t st, epoch;

    st = tdx_td_lock_tdr(c, r->rcx, TDX_OPERAND_ID_RCX, TDX_LOCK_SHARED, &td);
    if (st != TDX_SUCCESS) {
        return st;
    }
    st = tdx_td_check_state(c, td, true);
    if (st != TDX_SUCCESS) {
        return st;
    }
    st = tdx_call_lock(c, &td->epoch_lock, TDX_LOCK_SHAREX, TDX_LOCK_EXCLUSIVE,
                       TDX_OPERAND_BUSY | TDX_OPERAND_ID_TD_EPOCH);
    if (st != TDX_SUCCESS) {
        return st;
    }
    epoch = atomic_load(&td->td_epoch);
    /* (epoch + 1) & 1 is the previous epoch's parity, and the counter the
     * new epoch will use: it must have drained. */
    if (atomic_load(&td->epoch_refcount[(epoch + 1) & 1]) != 0) {
        return TDX_PREVIOUS_TLB_EPOCH_BUSY;
    }

    /* Cannot fail from here. */
    atomic_store(&td->td_epoch, epoch + 1);
    return TDX_SUCCESS;
}

/* ---- TDH.MEM.PAGE.REMOVE (29) ---------------------------------------------- */

/*
 * RCX = GPA|level (0..2), RDX = TDR. Out: RCX = the removed page's HPA.
 * While the TD is RUNNABLE the page must be blocked and its blocking epoch
 * tracked; before MR.FINALIZE a mapped page goes directly. The page's
 * contents are left to the host (PHYMEM.PAGE.WBINVD, clear).
 */
uint64_t tdx_leaf_mem_page_remove(struct tdx_call *c, struct tdx_regs *r)
{
    struct tdx_pamt_entry *pe;
    enum tdx_sept_state now;
    struct sept_op o;
    uint64_t st, hpa;

    sept_op_init(&o, c, r, r->rdx);
    st = sept_front(&o, 0, 2, TDX_LOCK_SHARED);
    if (st != TDX_SUCCESS) {
        return st;
    }
    now = tdx_septe_state(o.e);
    if (!tdx_septe_is_leaf(o.e, o.level) || !is_leaf_state(now)) {
        return entry_status(&o, TDX_EPT_ENTRY_STATE_INCORRECT);
    }
    hpa = o.e & TDX_SEPTE_HPA_MASK;
    st = lock_mapped_page(&o, hpa, &pe);
    if (st != TDX_SUCCESS) {
        return st;
    }
    if (tracking_required(o.td)) {
        if (!is_blocked_state(now)) {
            return entry_status(&o, TDX_GPA_RANGE_NOT_BLOCKED);
        }
        if (!tdx_sept_tlb_tracked(o.td, atomic_load(&pe->bepoch))) {
            return TDX_TLB_TRACKING_NOT_DONE | TDX_OPERAND_ID_RCX;
        }
    }

    /* Cannot fail from here. */
    atomic_store_explicit(&o.t->e[o.idx], TDX_SEPTE_FREE_VALUE, memory_order_release);
    atomic_fetch_sub(&o.td->chldcnt, 1ULL << (9 * o.level));
    /* Intel leaves the owner field; ours is cleared because a PT_NDA page
     * with an owner is what the PAMT invariant flags. */
    pe->type = TDX_PT_NDA;
    pe->owner = 0;
    r->rcx = hpa;
    return TDX_SUCCESS;
}

/* ---- TDH.MEM.SEPT.REMOVE (30), versions 0 and 1 ---------------------------- */

/*
 * RCX = GPA|level of the entry pointing to the table (1..root level), RDX =
 * TDR. Out: RCX = the removed S-EPT page. The table must be empty; while
 * RUNNABLE the entry must be blocked and tracked. Not called by Linux 7.2.
 */
uint64_t tdx_leaf_mem_sept_remove(struct tdx_call *c, struct tdx_regs *r)
{
    struct tdx_sept_table *child;
    struct tdx_pamt_entry *pe;
    enum tdx_sept_state now;
    struct sept_op o;
    uint64_t st, hpa;

    sept_op_init(&o, c, r, r->rdx);
    st = sept_front(&o, 1, -1, TDX_LOCK_EXCLUSIVE);
    if (st != TDX_SUCCESS) {
        return st;
    }
    now = tdx_septe_state(o.e);
    if (now != TDX_SEPT_NL_MAPPED && now != TDX_SEPT_NL_BLOCKED) {
        return entry_status(&o, TDX_EPT_ENTRY_STATE_INCORRECT);
    }
    hpa = o.e & TDX_SEPTE_HPA_MASK;
    child = atomic_load(&o.t->child[o.idx]);
    st = lock_mapped_page(&o, hpa, &pe);
    if (st != TDX_SUCCESS) {
        return st;
    }
    if (tracking_required(o.td)) {
        if (now != TDX_SEPT_NL_BLOCKED) {
            return entry_status(&o, TDX_GPA_RANGE_NOT_BLOCKED);
        }
        if (!tdx_sept_tlb_tracked(o.td, atomic_load(&pe->bepoch))) {
            return TDX_TLB_TRACKING_NOT_DONE | TDX_OPERAND_ID_RCX;
        }
    }
    for (unsigned i = 0; child && i < TDX_SEPT_ENTRIES; i++) {
        if (tdx_septe_state(tdx_sept_table_entry(child, i)) != TDX_SEPT_FREE) {
            return entry_status(&o, TDX_EPT_PAGE_NOT_FREE);
        }
    }

    /* Cannot fail from here. */
    atomic_store_explicit(&o.t->e[o.idx], TDX_SEPTE_FREE_VALUE, memory_order_release);
    atomic_store_explicit(&o.t->child[o.idx], NULL, memory_order_release);
    if (child) {
        /* Tracked: no vCPU in the TD can still be walking it. */
        tdx_sept_table_put(o.s, child);
    }
    atomic_fetch_sub(&o.td->chldcnt, 1);
    pe->type = TDX_PT_NDA;
    pe->owner = 0;
    r->rcx = hpa;
    return TDX_SUCCESS;
}

/* ---- TDG.MEM.PAGE.ACCEPT, S-EPT part -------------------------------------- */

/*
 * Guest side: no TDR/TDCS/tree lock (the vCPU is in the TD, so TLB
 * tracking keeps the tables alive), only the entry, guest flavour: held by
 * anyone -> BUSY; free but a host is waiting (host priority) -> back off
 * with BUSY_HOST_PRIORITY, leaving the flag for the host to clear.
 */
uint64_t tdx_sept_accept(struct tdx_call *c, struct tdx_td *td, uint64_t rcx,
                         struct tdx_accept_result *out)
{
    struct tdx_module *m = c->m;
    struct tdx_sept_td *s = __atomic_load_n(&td->sept, __ATOMIC_ACQUIRE);
    const uint64_t gpa = rcx & ~0xFFFULL;
    const int level = (int)(rcx & 7);
    struct tdx_sept_table *t;
    enum tdx_sept_state now;
    unsigned idx;
    int reached;
    uint64_t e, st, hpa;

    memset(out, 0, sizeof(*out));
    out->req_level = level;
    c->tdr_pa = td->tdr_pa;
    c->gpa = gpa;
    if (!page_info_ok(rcx, 0, 1) || !s || !tdx_sept_gpa_private_ok(m, s, gpa)) {
        return TDX_OPERAND_INVALID | TDX_OPERAND_ID_RCX;
    }
    if (!tdx_sept_walk(s, gpa, level, &t, &idx, &reached, &e)) {
        /* Stopped above: a bigger page the guest can already use is
         * "already accepted"; anything else needs the host (TD exit). */
        if (tdx_septe_state(e) == TDX_SEPT_MAPPED && tdx_septe_is_leaf(e, reached)) {
            return TDX_PAGE_ALREADY_ACCEPTED | (uint64_t)reached;
        }
        goto exit_to_host;
    }
    st = tdx_call_lock(c, &t->lock[idx], TDX_LOCK_HP_SHAREX, TDX_LOCK_EXCLUSIVE,
                       TDX_OPERAND_BUSY | TDX_OPERAND_ID_RCX);
    if (st != TDX_SUCCESS) {
        return st;
    }
    e = tdx_sept_table_entry(t, idx);
    now = tdx_septe_state(e);
    if (now == TDX_SEPT_NL_MAPPED || now == TDX_SEPT_NL_BLOCKED) {
        return TDX_PAGE_SIZE_MISMATCH | (uint64_t)level;
    }
    if (now == TDX_SEPT_MAPPED) {
        return TDX_PAGE_ALREADY_ACCEPTED | (uint64_t)level;
    }
    if (now != TDX_SEPT_PENDING) {
        goto exit_to_host;
    }
    hpa = e & TDX_SEPTE_HPA_MASK & ~(tdx_sept_level_size(level) - 1);
    /* The guest sees zeroes in a freshly accepted page. (2M pages, not
     * produced here, would be zeroed in 4K steps with interruption
     * points; one step is enough for a 4K page.) */
    if (tdx_mem_zero(m, hpa, tdx_sept_level_size(level))) {
        goto exit_to_host;
    }

    /* Cannot fail from here. */
    atomic_store_explicit(&t->e[idx], with_state(e, TDX_SEPT_MAPPED),
                          memory_order_release);
    return TDX_SUCCESS;

exit_to_host:
    out->exit_to_host = true;
    out->reached_level = reached;
    tdx_sept_ext_info(e, reached, &out->ext_rcx, &out->ext_rdx);
    return TDX_SUCCESS;
}

/*
 * TDG.MEM.PAGE.ACCEPT (6), the guest leaf: a page the host has not added
 * yet (or a size it must split) is no status for the guest but an
 * EPT-violation TD exit of the ACCEPT type; the TDCALL runs again after
 * re-entry.
 */
uint64_t tdx_tdg_mem_page_accept(struct tdx_call *c, struct tdx_regs *r)
{
    struct tdx_accept_result res;
    const uint64_t gpa = r->rcx & ~0xFFFULL;
    uint64_t st = tdx_sept_accept(c, c->vcpu->td, r->rcx, &res);

    if (res.exit_to_host) {
        *c->exit = (struct tdx_td_exit) {
            .reason = TDX_EXIT_REASON_EPT_VIOLATION,
            .qualification = TDX_ACCESS_WRITE | TDX_EPT_QUAL_GPA_VALID |
                             TDX_EPT_QUAL_TRANSLATED,
            .ext_qualification = TDX_EXT_QUAL_ACCEPT |
                                 ((uint64_t)res.req_level << 4),
            .gpa = gpa,
        };
        c->outcome = TDX_TDCALL_EXIT_RETRY;
        return TDX_SUCCESS;
    }
    r->rcx = res.ext_rcx;
    r->rdx = res.ext_rdx;
    return st;
}
