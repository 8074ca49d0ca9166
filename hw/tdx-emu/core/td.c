/*
 * TD and vCPU objects: lock helpers shared by every TD leaf family, vCPU
 * association, the op-state allow table, the per-leaf lock table of the
 * TD/vCPU/PHYMEM leaves, and the TD invariant checker.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "td.h"
#include "sept.h"

/* ---- Lock table (Intel tdx_1.5 api_calls/tdh_mng_*.c, tdh_vp_*.c, ...) --- */

#define ROW(l, o, obj, k, md, op) \
    { TDH_##l, o, TDX_LOBJ_##obj, TDX_LOCK_##k, TDX_LOCK_##md, op }
#define HP HP_SHAREX

const struct tdx_lock_row tdx_td_lock_table[] = {
    ROW(MNG_CREATE,         0, PAGE,         HP, EXCLUSIVE, TDX_OPERAND_ID_RCX),
    ROW(MNG_CREATE,         1, KOT,          SHAREX, EXCLUSIVE, TDX_OPERAND_ID_KOT),
    ROW(MNG_KEY_CONFIG,     0, TDR,          HP, EXCLUSIVE, TDX_OPERAND_ID_RCX),
    ROW(MNG_KEY_CONFIG,     1, KET,          MUTEX, EXCLUSIVE, TDX_OPERAND_ID_KET),
    ROW(MNG_ADDCX,          0, TDR,          HP, EXCLUSIVE, TDX_OPERAND_ID_RDX),
    ROW(MNG_ADDCX,          1, PAGE,         HP, EXCLUSIVE, TDX_OPERAND_ID_RCX),
    ROW(MNG_INIT,           0, TDR,          HP, EXCLUSIVE, TDX_OPERAND_ID_RCX),
    ROW(MNG_RD,             0, TDR,          HP, SHARED, TDX_OPERAND_ID_RCX),
    ROW(MNG_RD,             1, OP_STATE,     HP, SHARED, TDX_OPERAND_ID_OP_STATE),
    ROW(MNG_WR,             0, TDR,          HP, SHARED, TDX_OPERAND_ID_RCX),
    ROW(MNG_WR,             1, OP_STATE,     HP, SHARED, TDX_OPERAND_ID_OP_STATE),
    ROW(MNG_VPFLUSHDONE,    0, TDR,          HP, EXCLUSIVE, TDX_OPERAND_ID_RCX),
    ROW(MNG_VPFLUSHDONE,    1, KOT,          SHAREX, EXCLUSIVE, TDX_OPERAND_ID_KOT),
    ROW(MNG_KEY_FREEID,     0, TDR,          HP, EXCLUSIVE, TDX_OPERAND_ID_RCX),
    ROW(MNG_KEY_FREEID,     1, KOT,          SHAREX, EXCLUSIVE, TDX_OPERAND_ID_KOT),
    ROW(VP_CREATE,          0, TDR,          HP, SHARED, TDX_OPERAND_ID_RDX),
    ROW(VP_CREATE,          1, OP_STATE,     HP, SHARED, TDX_OPERAND_ID_OP_STATE),
    ROW(VP_CREATE,          2, PAGE,         HP, EXCLUSIVE, TDX_OPERAND_ID_RCX),
    ROW(VP_ADDCX,           0, TDVPR,        HP, EXCLUSIVE, TDX_OPERAND_ID_RDX),
    ROW(VP_ADDCX,           1, TDR_IMPLICIT, HP, SHARED, TDX_OPERAND_ID_TDR),
    ROW(VP_ADDCX,           2, OP_STATE,     HP, SHARED, TDX_OPERAND_ID_OP_STATE),
    ROW(VP_ADDCX,           3, PAGE,         HP, EXCLUSIVE, TDX_OPERAND_ID_RCX),
    ROW(VP_INIT,            0, TDVPR,        HP, EXCLUSIVE, TDX_OPERAND_ID_RCX),
    ROW(VP_INIT,            1, TDR_IMPLICIT, HP, SHARED, TDX_OPERAND_ID_TDR),
    ROW(VP_INIT,            2, OP_STATE,     HP, SHARED, TDX_OPERAND_ID_OP_STATE),
    ROW(VP_RD,              0, TDVPR,        HP, SHARED, TDX_OPERAND_ID_RCX),
    ROW(VP_RD,              1, TDR_IMPLICIT, HP, SHARED, TDX_OPERAND_ID_TDR),
    ROW(VP_RD,              2, OP_STATE,     HP, SHARED, TDX_OPERAND_ID_OP_STATE),
    ROW(VP_WR,              0, TDVPR,        HP, SHARED, TDX_OPERAND_ID_RCX),
    ROW(VP_WR,              1, TDR_IMPLICIT, HP, SHARED, TDX_OPERAND_ID_TDR),
    ROW(VP_WR,              2, OP_STATE,     HP, SHARED, TDX_OPERAND_ID_OP_STATE),
    ROW(VP_FLUSH,           0, TDVPR,        HP, EXCLUSIVE, TDX_OPERAND_ID_RCX),
    ROW(VP_FLUSH,           1, TDR_IMPLICIT, HP, SHARED, TDX_OPERAND_ID_TDR),
    ROW(MR_EXTEND,          0, TDR,          HP, EXCLUSIVE, TDX_OPERAND_ID_RDX),
    ROW(MR_FINALIZE,        0, TDR,          HP, EXCLUSIVE, TDX_OPERAND_ID_RCX),
    ROW(PHYMEM_PAGE_RECLAIM, 0, PAGE,        HP, EXCLUSIVE, TDX_OPERAND_ID_RCX),
    ROW(PHYMEM_PAGE_RECLAIM, 1, TDR_IMPLICIT, HP, SHARED, TDX_OPERAND_ID_TDR),
    ROW(PHYMEM_PAGE_RDMD,   0, PAGE,         HP, SHARED, TDX_OPERAND_ID_RCX),
    ROW(PHYMEM_PAGE_WBINVD, 0, PAGE,         HP, SHARED, TDX_OPERAND_ID_RCX),
    ROW(PHYMEM_CACHE_WB,    0, WBCACHE,      MUTEX, EXCLUSIVE, TDX_OPERAND_ID_WBCACHE),
    ROW(PHYMEM_CACHE_WB,    1, KOT,          SHAREX, SHARED, TDX_OPERAND_ID_KOT),
};
const unsigned tdx_td_lock_table_count =
    sizeof(tdx_td_lock_table) / sizeof(tdx_td_lock_table[0]);

#undef HP
#undef ROW

/* ---- Op-state allow table (Intel tdx_1.5: the op-state check of each leaf) */

#define U (1u << TDX_OP_UNINITIALIZED)
#define I (1u << TDX_OP_INITIALIZED)
#define R (1u << TDX_OP_RUNNABLE)
static const uint8_t op_state_allowed[TDX_MAX_LEAF] = {
    [TDH_VP_ENTER] = R,
    [TDH_MNG_ADDCX] = U,
    [TDH_MEM_PAGE_ADD] = I,
    [TDH_MEM_SEPT_ADD] = I | R,
    [TDH_VP_ADDCX] = I,
    [TDH_MEM_PAGE_AUG] = I | R,
    [TDH_MEM_RANGE_BLOCK] = I | R,
    [TDH_VP_CREATE] = I,
    [TDH_MNG_RD] = I | R,
    [TDH_MEM_RD] = I | R,
    [TDH_MNG_WR] = I | R,
    [TDH_MEM_WR] = I | R,
    [TDH_MR_EXTEND] = I,
    [TDH_MR_FINALIZE] = I,
    [TDH_VP_FLUSH] = U | I | R,
    [TDH_MNG_INIT] = U,
    [TDH_VP_INIT] = I,
    [TDH_MEM_SEPT_RD] = I | R,
    [TDH_VP_RD] = I | R,
    [TDH_MEM_PAGE_REMOVE] = I | R,
    [TDH_MEM_SEPT_REMOVE] = I | R,
    [TDH_MEM_TRACK] = I | R,
    [TDH_MEM_RANGE_UNBLOCK] = I | R,
    [TDH_VP_WR] = I | R,
};
#undef U
#undef I
#undef R

bool tdx_op_state_allows(unsigned leaf, int op_state)
{
    if (leaf >= TDX_MAX_LEAF || op_state < 0 || op_state > TDX_OP_RUNNABLE) {
        return false;
    }
    return op_state_allowed[leaf] & (1u << op_state);
}

/* ---- Module hooks -------------------------------------------------------- */

/*
 * Named-lock resolvers for lock-hold rules. They look the TD up without a
 * PAMT lock: a hold is a test/campaign tool, and whoever arms one on a TD
 * must release it before tearing that TD down.
 */
static struct tdx_lock *resolve_op_state(struct tdx_module *m, uint64_t key,
                                         uint64_t gpa, enum tdx_lock_kind *kind)
{
    struct tdx_td *td = tdx_td_of(m, key);

    *kind = TDX_LOCK_HP_SHAREX;
    return td ? &td->op_state_lock : NULL;
}

static struct tdx_lock *resolve_sept_tree(struct tdx_module *m, uint64_t key,
                                          uint64_t gpa, enum tdx_lock_kind *kind)
{
    struct tdx_td *td = tdx_td_of(m, key);

    *kind = TDX_LOCK_SHAREX;
    return td ? &td->sept_tree_lock : NULL;
}

static struct tdx_lock *resolve_epoch(struct tdx_module *m, uint64_t key,
                                      uint64_t gpa, enum tdx_lock_kind *kind)
{
    struct tdx_td *td = tdx_td_of(m, key);

    *kind = TDX_LOCK_SHAREX;
    return td ? &td->epoch_lock : NULL;
}

void tdx_td_module_init(struct tdx_module *m)
{
    tdx_lock_init(&m->kot_lock);
    for (unsigned i = 0; i < TDX_MAX_PKGS; i++) {
        tdx_lock_init(&m->wbcache_lock[i]);
    }
    tdx_inject_set_resolver(m, TDX_NAMED_TDCS_OP_STATE, resolve_op_state);
    tdx_inject_set_resolver(m, TDX_NAMED_SEPT_TREE, resolve_sept_tree);
    tdx_inject_set_resolver(m, TDX_NAMED_TD_EPOCH, resolve_epoch);
}

/* Call fn on every PAMT entry that exists (chunks are allocated lazily). */
static void for_each_pamt(struct tdx_module *m,
                          void (*fn)(struct tdx_module *m, uint64_t pa,
                                     struct tdx_pamt_entry *e, void *arg),
                          void *arg)
{
    for (unsigned b = 0; b < m->num_pamt_blocks; b++) {
        struct tdx_pamt_block *blk = &m->pamt[b];

        for (uint64_t k = 0; blk->chunks && k < blk->num_chunks; k++) {
            struct tdx_pamt_entry *chunk = atomic_load(&blk->chunks[k]);

            for (unsigned i = 0; chunk && i < TDX_PAMT_CHUNK_PAGES; i++) {
                uint64_t off = (k * TDX_PAMT_CHUNK_PAGES + i) * TDX_PAGE_SIZE;

                if (off < blk->size) {
                    fn(m, blk->base + off, &chunk[i], arg);
                }
            }
        }
    }
}

static void free_obj(struct tdx_module *m, uint64_t pa, struct tdx_pamt_entry *e,
                     void *arg)
{
    (void)m; (void)pa; (void)arg;
    if (e->obj && e->type == TDX_PT_TDR) {
        tdx_sept_td_destroy(e->obj);
    } else if (e->obj && e->type == TDX_PT_TDVPR) {
        free(((struct tdx_vcpu *)e->obj)->priv);
    }
    free(e->obj);
    e->obj = NULL;
}

void tdx_td_module_fini(struct tdx_module *m)
{
    /* TDs L1 never tore down: free the host-side objects. */
    for_each_pamt(m, free_obj, NULL);
}

unsigned tdx_td_first_hkid(const struct tdx_module *m)
{
    return m->desc.mktme_keyids;
}

unsigned tdx_td_num_hkids(const struct tdx_module *m)
{
    return m->desc.tdx_keyids;
}

/* ---- Lock helpers -------------------------------------------------------- */

uint64_t tdx_td_lock_page(struct tdx_call *c, uint64_t pa, unsigned operand,
                          enum tdx_lock_mode mode, int type,
                          struct tdx_pamt_entry **out)
{
    struct tdx_module *m = c->m;
    struct tdx_pamt_entry *e;
    uint64_t st;

    if ((pa & (TDX_PAGE_SIZE - 1)) || (pa >> tdx_keyid_shift(m))) {
        return TDX_OPERAND_INVALID | operand;
    }
    if (!tdx_pa_in_tdmr(m, pa) || !tdx_pa_pamt_ready(m, pa)) {
        return TDX_OPERAND_ADDR_RANGE_ERROR | operand;
    }
    e = tdx_pamt_lookup(m, pa);
    if (!e) {
        return TDX_OPERAND_ADDR_RANGE_ERROR | operand;
    }
    st = tdx_call_lock(c, &e->lock, TDX_LOCK_HP_SHAREX, mode,
                       TDX_OPERAND_BUSY | operand);
    if (st != TDX_SUCCESS) {
        return st;
    }
    /* A 4K page inside a larger PAMT leaf (2M/1G private page) or of the
     * wrong type is not what the leaf asked for. */
    if (e->size != 0 || (type >= 0 && e->type != type)) {
        return TDX_PAGE_METADATA_INCORRECT | operand;
    }
    *out = e;
    return TDX_SUCCESS;
}

uint64_t tdx_td_lock_tdr(struct tdx_call *c, uint64_t tdr_pa, unsigned operand,
                         enum tdx_lock_mode mode, struct tdx_td **out)
{
    struct tdx_pamt_entry *e;
    uint64_t st;

    c->tdr_pa = tdr_pa;
    st = tdx_td_lock_page(c, tdr_pa, operand, mode, TDX_PT_TDR, &e);
    if (st != TDX_SUCCESS) {
        return st;
    }
    if (!e->obj) {
        /* PT_TDR without an object cannot happen; refuse rather than crash. */
        return TDX_PAGE_METADATA_INCORRECT | operand;
    }
    *out = e->obj;
    return TDX_SUCCESS;
}

uint64_t tdx_td_lock_implicit_tdr(struct tdx_call *c, uint64_t owner,
                                  enum tdx_lock_mode mode, struct tdx_td **out)
{
    struct tdx_pamt_entry *e = tdx_pamt_lookup(c->m, owner);
    uint64_t st;

    c->tdr_pa = owner;
    if (!e) {
        return TDX_PAGE_METADATA_INCORRECT | TDX_OPERAND_ID_TDR;
    }
    st = tdx_call_lock(c, &e->lock, TDX_LOCK_HP_SHAREX, mode,
                       TDX_OPERAND_BUSY | TDX_OPERAND_ID_TDR);
    if (st != TDX_SUCCESS) {
        return st;
    }
    if (e->type != TDX_PT_TDR || !e->obj) {
        return TDX_PAGE_METADATA_INCORRECT | TDX_OPERAND_ID_TDR;
    }
    *out = e->obj;
    return TDX_SUCCESS;
}

uint64_t tdx_td_check_state(struct tdx_call *c, struct tdx_td *td,
                            bool lock_op_state)
{
    uint64_t st;

    if (td->fatal) {
        return TDX_TD_FATAL;
    }
    if (td->lifecycle != TDX_TD_KEYS_CONFIGURED) {
        return TDX_TD_KEYS_NOT_CONFIGURED;
    }
    if (td->num_tdcx < TDX_TD_TDCS_PAGES) {
        return TDX_TDCS_NOT_ALLOCATED;
    }
    if (lock_op_state) {
        st = tdx_call_lock(c, &td->op_state_lock, TDX_LOCK_HP_SHAREX,
                           TDX_LOCK_SHARED,
                           TDX_OPERAND_BUSY | TDX_OPERAND_ID_OP_STATE);
        if (st != TDX_SUCCESS) {
            return st;
        }
    }
    if (!tdx_op_state_allows(c->leaf, atomic_load(&td->op_state))) {
        return TDX_OP_STATE_INCORRECT;
    }
    return TDX_SUCCESS;
}

/* ---- vCPU association ---------------------------------------------------- */

uint64_t tdx_vcpu_associate(struct tdx_call *c, struct tdx_vcpu *v,
                            bool allow_disabled, bool *new_assoc)
{
    uint32_t expected = TDX_VCPU_NO_LP;

    *new_assoc = false;
    if (!(v->state == TDX_VCPU_READY ||
          (allow_disabled && v->state == TDX_VCPU_DISABLED))) {
        return TDX_VCPU_STATE_INCORRECT;
    }
    if (atomic_compare_exchange_strong(&v->assoc_lp, &expected, c->lp)) {
        atomic_fetch_add(&v->td->num_assoc_vcpus, 1);
        *new_assoc = true;
        return TDX_SUCCESS;
    }
    return expected == c->lp ? TDX_SUCCESS : TDX_VCPU_ASSOCIATED;
}

bool tdx_vcpu_disassociate(struct tdx_vcpu *v, unsigned lp)
{
    uint32_t expected = lp;

    if (!atomic_compare_exchange_strong(&v->assoc_lp, &expected, TDX_VCPU_NO_LP)) {
        return false;
    }
    atomic_fetch_sub(&v->td->num_assoc_vcpus, 1);
    return true;
}

bool tdx_vcpu_vmcs_get(const struct tdx_vcpu *v, uint32_t encoding, uint64_t *val)
{
    const struct tdx_md_field *row = tdx_vmcs_field(encoding);

    if (!row) {
        return false;
    }
    *val = v->vmcs[tdx_md_row_index(TDX_MD_CTX_VP, row)];
    return true;
}

bool tdx_vcpu_vmcs_set(struct tdx_vcpu *v, uint32_t encoding, uint64_t val)
{
    const struct tdx_md_field *row = tdx_vmcs_field(encoding);

    if (!row) {
        return false;
    }
    v->vmcs[tdx_md_row_index(TDX_MD_CTX_VP, row)] = val & tdx_md_size_mask(row);
    return true;
}

/* ---- Invariants ---------------------------------------------------------- */

static bool lock_idle(struct tdx_module *m, struct tdx_lock *l)
{
    return tdx_lock_is_free(l) || tdx_inject_holds(m, l);
}

struct inv_state {
    char *err;
    size_t errlen;
    bool bad;
    bool pass2;     /* second pass: count children into the TD objects */
};

/* TD of a TDR PA without allocating PAMT chunks. */
static struct tdx_td *td_peek(struct tdx_module *m, uint64_t tdr_pa)
{
    for (unsigned b = 0; b < m->num_pamt_blocks; b++) {
        struct tdx_pamt_block *blk = &m->pamt[b];

        if (tdr_pa >= blk->base && tdr_pa - blk->base < blk->size) {
            uint64_t page = (tdr_pa - blk->base) / TDX_PAGE_SIZE;
            struct tdx_pamt_entry *chunk =
                atomic_load(&blk->chunks[page / TDX_PAMT_CHUNK_PAGES]);
            struct tdx_pamt_entry *e = chunk ? &chunk[page % TDX_PAMT_CHUNK_PAGES] : NULL;

            return e && e->type == TDX_PT_TDR ? e->obj : NULL;
        }
    }
    return NULL;
}

static void inv_entry(struct tdx_module *m, uint64_t pa, struct tdx_pamt_entry *e,
                      void *arg)
{
    struct inv_state *s = arg;
    struct tdx_td *td;

    if (s->bad) {
        return;
    }
    if (s->pass2) {
        if (e->type == TDX_PT_NDA || e->type == TDX_PT_RSVD ||
            e->type == TDX_PT_TDR || !(td = td_peek(m, e->owner))) {
            return;
        }
        /* A 2M/1G page counts once, at its first 4K entry. */
        if (e->size > 0 && e->size <= 2 &&
            (pa & ((TDX_PAGE_SIZE << (9 * e->size)) - 1))) {
            return;
        }
        td->inv_owned += 1ULL << (9 * (e->size > 2 ? 0 : e->size));
        if (e->type == TDX_PT_TDVPR && e->obj &&
            atomic_load(&((struct tdx_vcpu *)e->obj)->assoc_lp) != TDX_VCPU_NO_LP) {
            td->inv_assoc++;
        }
        return;
    }
    switch (e->type) {
    case TDX_PT_TDR:
        td = e->obj;
        if (!td || td->tdr_pa != pa) {
            snprintf(s->err, s->errlen, "TDR %#llx without its TD object",
                     (unsigned long long)pa);
            s->bad = true;
            return;
        }
        td->inv_owned = td->inv_assoc = 0;
        if (!lock_idle(m, &td->op_state_lock) || !lock_idle(m, &td->sept_tree_lock) ||
            !lock_idle(m, &td->epoch_lock)) {
            snprintf(s->err, s->errlen, "TD %#llx: a TDCS lock is held with no "
                     "call in flight", (unsigned long long)pa);
            s->bad = true;
        }
        return;
    case TDX_PT_TDVPR: {
        struct tdx_vcpu *v = e->obj;

        if (!v || v->tdvpr_pa != pa || td_peek(m, e->owner) != v->td) {
            snprintf(s->err, s->errlen, "TDVPR %#llx: object/owner inconsistent",
                     (unsigned long long)pa);
            s->bad = true;
        }
        return;
    }
    case TDX_PT_TDCX:
    case TDX_PT_REG:
    case TDX_PT_EPT:
        if (!td_peek(m, e->owner)) {
            snprintf(s->err, s->errlen, "page %#llx (type %u) owned by %#llx, "
                     "which is not a TDR", (unsigned long long)pa, e->type,
                     (unsigned long long)e->owner);
            s->bad = true;
        }
        return;
    default:
        if (e->obj) {
            snprintf(s->err, s->errlen, "page %#llx of type %u has an object",
                     (unsigned long long)pa, e->type);
            s->bad = true;
        }
        return;
    }
}

struct inv_td {
    struct inv_state *s;
    bool hkid_used[TDX_MAX_HKIDS];
};

static void inv_td(struct tdx_module *m, uint64_t pa, struct tdx_pamt_entry *e,
                   void *arg)
{
    struct inv_td *t = arg;
    struct inv_state *s = t->s;
    unsigned first = tdx_td_first_hkid(m), n = tdx_td_num_hkids(m);
    struct tdx_td *td = e->obj;

    if (s->bad || e->type != TDX_PT_TDR || !td) {
        return;
    }
    if (td->inv_owned != atomic_load(&td->chldcnt)) {
        snprintf(s->err, s->errlen, "TD %#llx: CHLDCNT %llu but PAMT shows %llu "
                 "owned pages", (unsigned long long)pa,
                 (unsigned long long)atomic_load(&td->chldcnt),
                 (unsigned long long)td->inv_owned);
        s->bad = true;
        return;
    }
    if (td->inv_assoc != atomic_load(&td->num_assoc_vcpus)) {
        snprintf(s->err, s->errlen, "TD %#llx: NUM_ASSOC_VCPUS %u, associated "
                 "vCPUs %llu", (unsigned long long)pa,
                 atomic_load(&td->num_assoc_vcpus), (unsigned long long)td->inv_assoc);
        s->bad = true;
        return;
    }
    if (td->num_tdcx > TDX_TD_TDCS_PAGES ||
        (atomic_load(&td->op_state) != TDX_OP_UNINITIALIZED &&
         td->num_tdcx != TDX_TD_TDCS_PAGES)) {
        snprintf(s->err, s->errlen, "TD %#llx: %u TDCX pages (%u required once "
                 "initialized)", (unsigned long long)pa, td->num_tdcx,
                 TDX_TD_TDCS_PAGES);
        s->bad = true;
        return;
    }
    if (td->lifecycle != TDX_TD_TEARDOWN) {
        unsigned h = td->hkid;

        if (h < first || h >= first + n || h >= TDX_MAX_HKIDS ||
            t->hkid_used[h] || m->kot_state[h] == TDX_KOT_FREE ||
            (td->lifecycle == TDX_TD_BLOCKED) != (m->kot_state[h] == TDX_KOT_FLUSHED)) {
            snprintf(s->err, s->errlen, "TD %#llx: HKID %u not validly held "
                     "(KOT state %u, lifecycle %u)", (unsigned long long)pa, h,
                     h < TDX_MAX_HKIDS ? m->kot_state[h] : 0, td->lifecycle);
            s->bad = true;
            return;
        }
        t->hkid_used[h] = true;
    }
}

bool tdx_td_check_invariants(struct tdx_module *m, char *err, size_t errlen)
{
    unsigned first = tdx_td_first_hkid(m), n = tdx_td_num_hkids(m);
    struct inv_state s = { .err = err, .errlen = errlen };
    struct inv_td t = { .s = &s };

    if (!lock_idle(m, &m->kot_lock)) {
        snprintf(err, errlen, "KOT lock held with no call in flight");
        return false;
    }
    for (unsigned i = 0; i < m->desc.num_pkgs; i++) {
        if (!lock_idle(m, &m->wbcache_lock[i])) {
            snprintf(err, errlen, "WBCACHE lock of package %u held", i);
            return false;
        }
    }
    for_each_pamt(m, inv_entry, &s);
    s.pass2 = true;
    for_each_pamt(m, inv_entry, &s);
    for_each_pamt(m, inv_td, &t);
    if (s.bad) {
        return false;
    }
    for (unsigned h = first; h < first + n && h < TDX_MAX_HKIDS; h++) {
        if (m->kot_state[h] != TDX_KOT_FREE && !t.hkid_used[h]) {
            snprintf(err, errlen, "HKID %u is %s in the KOT but no live TD has it",
                     h, m->kot_state[h] == TDX_KOT_ASSIGNED ? "assigned" : "flushed");
            return false;
        }
    }
    return true;
}
