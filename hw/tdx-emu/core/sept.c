/*
 * S-EPT tables: allocation and recycling, the walk, the architectural view
 * of an entry, translation and fault classification for the CPU side, the
 * named-lock resolver for entry locks, the MR.EXTEND hook and the S-EPT
 * invariant checker. The leaves that change the S-EPT are in leaf-mem.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sept.h"
#include "td.h"

/* ---- Entry encoding helpers ---------------------------------------------- */

static const uint8_t public_state[8] = {
    [TDX_SEPT_FREE]            = TDX_SEPT_PUBLIC_FREE,
    [TDX_SEPT_MAPPED]          = TDX_SEPT_PUBLIC_MAPPED,
    [TDX_SEPT_BLOCKED]         = TDX_SEPT_PUBLIC_BLOCKED,
    [TDX_SEPT_PENDING]         = TDX_SEPT_PUBLIC_PENDING,
    [TDX_SEPT_PENDING_BLOCKED] = TDX_SEPT_PUBLIC_PENDING_BLOCKED,
    [TDX_SEPT_NL_MAPPED]       = TDX_SEPT_PUBLIC_NL_MAPPED,
    [TDX_SEPT_NL_BLOCKED]      = TDX_SEPT_PUBLIC_NL_BLOCKED,
    [TDX_SEPT_REMOVED]         = TDX_SEPT_PUBLIC_REMOVED,
};

uint8_t tdx_sept_public_state(uint64_t e)
{
    return public_state[tdx_septe_state(e)];
}

/*
 * The architectural view Intel's module reports in RCX: a FREE entry reads
 * as "suppress #VE" only; a non-leaf shows its RWX bits only (the table's
 * address is internal); a leaf shows RWX, memory type, IPAT, PS, HPA, SVE.
 */
void tdx_sept_ext_info(uint64_t e, int level, uint64_t *rcx, uint64_t *rdx)
{
    enum tdx_sept_state s = tdx_septe_state(e);
    uint64_t arch;

    if (s == TDX_SEPT_FREE) {
        arch = TDX_SEPTE_SVE;
    } else if (s == TDX_SEPT_NL_MAPPED || s == TDX_SEPT_NL_BLOCKED) {
        arch = e & (TDX_ACCESS_RWX | TDX_SEPTE_PS);
    } else {
        arch = e & (TDX_ACCESS_RWX | TDX_SEPTE_MT_MASK | TDX_SEPTE_IPAT |
                    TDX_SEPTE_PS | TDX_SEPTE_HPA_MASK | TDX_SEPTE_SVE);
    }
    *rcx = arch;
    *rdx = (uint64_t)(level & 7) | ((uint64_t)public_state[s] << 8);
}

/* ---- Tables ----------------------------------------------------------------- */

/*
 * The table is ours alone here (new, or detached and TLB-tracked before it
 * went to the free list), so plain stores do: SEPT.ADD's release stores
 * publish them. A free lock and a NULL child are all-zero bytes.
 */
static void table_reset(struct tdx_sept_table *t, int level, uint64_t hpa)
{
    for (unsigned i = 0; i < TDX_SEPT_ENTRIES; i++) {
        atomic_store_explicit(&t->e[i], TDX_SEPTE_FREE_VALUE, memory_order_relaxed);
    }
    memset(t->lock, 0, sizeof(t->lock));
    if (t->child) {
        memset(t->child, 0, TDX_SEPT_ENTRIES * sizeof(*t->child));
    }
    t->hpa = hpa;
    t->level = level;
    t->next_free = NULL;
}

struct tdx_sept_table *tdx_sept_table_get(struct tdx_sept_td *s, int level,
                                          uint64_t hpa)
{
    struct tdx_sept_table *t;

    pthread_mutex_lock(&s->alloc_lock);
    t = s->free_list;
    if (t) {
        s->free_list = t->next_free;
    }
    pthread_mutex_unlock(&s->alloc_lock);
    if (!t) {
        /* One table per PT_EPT page L1 donated: bounded by L1's memory. */
        t = malloc(sizeof(*t));
        if (!t) {
            return NULL;
        }
        t->child = NULL;
    }
    if (level > 0 && !t->child) {
        /* A recycled table keeps its child array whatever level it gets
         * next; only a level-0 table turning into an upper one needs one. */
        t->child = malloc(TDX_SEPT_ENTRIES * sizeof(*t->child));
        if (!t->child) {
            tdx_sept_table_put(s, t);
            return NULL;
        }
    }
    table_reset(t, level, hpa);
    return t;
}

static void table_free(struct tdx_sept_table *t)
{
    free(t->child);
    free(t);
}

void tdx_sept_table_put(struct tdx_sept_td *s, struct tdx_sept_table *t)
{
    pthread_mutex_lock(&s->alloc_lock);
    t->next_free = s->free_list;
    s->free_list = t;
    pthread_mutex_unlock(&s->alloc_lock);
}

struct tdx_sept_td *tdx_sept_of(struct tdx_td *td)
{
    struct tdx_sept_td *s = __atomic_load_n(&td->sept, __ATOMIC_ACQUIRE);
    struct tdx_sept_td *fresh;
    void *expected = NULL;
    unsigned pwl;

    if (s) {
        return s;
    }
    fresh = calloc(1, sizeof(*fresh));
    if (!fresh) {
        return NULL;
    }
    pthread_mutex_init(&fresh->alloc_lock, NULL);
    /* EPTP controls bits 5:3 = page-walk length - 1 (3 or 4, checked by
     * MNG.INIT); the root is a table of that level. */
    pwl = (unsigned)((td->cfg.eptp_controls >> 3) & 7);
    fresh->root_level = pwl == 4 ? 4 : 3;
    fresh->gpa_width = td->cfg.gpaw ? 52 : 48;
    fresh->root = tdx_sept_table_get(fresh, fresh->root_level,
                                     td->num_tdcx > TDX_TDCS_SEPT_ROOT ?
                                     td->tdcx_pa[TDX_TDCS_SEPT_ROOT] : 0);
    if (!fresh->root) {
        pthread_mutex_destroy(&fresh->alloc_lock);
        free(fresh);
        return NULL;
    }
    /* Leaves holding the TDR only shared may race to create it. */
    if (!__atomic_compare_exchange_n(&td->sept, &expected, fresh, false,
                                     __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        table_free(fresh->root);
        pthread_mutex_destroy(&fresh->alloc_lock);
        free(fresh);
        return expected;
    }
    return fresh;
}

static void free_tree(struct tdx_sept_table *t)
{
    for (unsigned i = 0; t->level > 0 && i < TDX_SEPT_ENTRIES; i++) {
        struct tdx_sept_table *c = atomic_load(&t->child[i]);

        if (c) {
            free_tree(c);
        }
    }
    table_free(t);
}

void tdx_sept_td_destroy(struct tdx_td *td)
{
    struct tdx_sept_td *s = td->sept;

    if (!s) {
        return;
    }
    free_tree(s->root);
    while (s->free_list) {
        struct tdx_sept_table *t = s->free_list;

        s->free_list = t->next_free;
        table_free(t);
    }
    pthread_mutex_destroy(&s->alloc_lock);
    free(s);
    td->sept = NULL;
}

/* ---- Walk and translation ------------------------------------------------- */

bool tdx_sept_walk(struct tdx_sept_td *s, uint64_t gpa, int level,
                   struct tdx_sept_table **tbl, unsigned *idx, int *reached,
                   uint64_t *copy)
{
    struct tdx_sept_table *t = s->root;
    int l = s->root_level;

    for (;;) {
        unsigned i = tdx_sept_index(gpa, l);
        uint64_t e = tdx_sept_table_entry(t, i);
        struct tdx_sept_table *next;

        *tbl = t;
        *idx = i;
        *reached = l;
        *copy = e;
        if (l == level) {
            return true;
        }
        if (!tdx_septe_present(e) || tdx_septe_is_leaf(e, l)) {
            return false;
        }
        next = (struct tdx_sept_table *)tdx_sept_table_child(t, i);
        if (!next) {
            /* Cannot happen: the child is published before the entry. */
            return false;
        }
        t = next;
        l--;
    }
}

bool tdx_sept_gpa_private_ok(struct tdx_module *m, const struct tdx_sept_td *s,
                             uint64_t gpa)
{
    unsigned max_pa = m->desc.max_pa_bits;
    unsigned width = s->gpa_width;

    /* Shared bit set: not private. */
    if ((gpa >> (width - 1)) & 1) {
        return false;
    }
    /* Above the platform's MAXPHYADDR, or (GPAW 48) above bit 47: the CPU
     * would treat those bits as reserved. */
    if (max_pa < 64 && (gpa >> max_pa)) {
        return false;
    }
    return (gpa >> width) == 0;
}

enum tdx_sept_xlate tdx_sept_translate(struct tdx_td *td, uint64_t gpa,
                                       unsigned access, uint64_t *hpa,
                                       int *leaf_level, uint64_t *entry,
                                       int *level)
{
    struct tdx_sept_td *s = __atomic_load_n(&td->sept, __ATOMIC_ACQUIRE);
    struct tdx_sept_table *t;
    unsigned idx;
    int reached;
    uint64_t e = TDX_SEPTE_FREE_VALUE;

    if (!s) {
        if (entry) {
            *entry = e;
        }
        if (level) {
            *level = 4;
        }
        return TDX_XLATE_VIOLATION;
    }
    /* Walk as far as it goes: asking for level 0 stops at any leaf or any
     * non-present entry above. */
    tdx_sept_walk(s, gpa, 0, &t, &idx, &reached, &e);
    if (entry) {
        *entry = e;
    }
    if (level) {
        *level = reached;
    }
    access &= TDX_ACCESS_RWX;
    if (!tdx_septe_present(e) || (e & access) != access ||
        !tdx_septe_is_leaf(e, reached)) {
        return TDX_XLATE_VIOLATION;
    }
    *hpa = (e & TDX_SEPTE_HPA_MASK & ~(tdx_sept_level_size(reached) - 1)) |
           (gpa & (tdx_sept_level_size(reached) - 1));
    if (leaf_level) {
        *leaf_level = reached;
    }
    return TDX_XLATE_OK;
}

enum tdx_sept_fault tdx_sept_classify_fault(struct tdx_td *td, uint64_t gpa)
{
    uint64_t hpa, e;
    int lvl, reached;

    if (tdx_sept_translate(td, gpa, TDX_ACCESS_READ, &hpa, &lvl, &e, &reached) ==
        TDX_XLATE_OK) {
        return TDX_FAULT_EXIT;  /* a write/exec violation can't happen: RWX */
    }
    /* An access to a page the host AUG'ed but the guest has not accepted
     * yet is a #VE for the guest, unless the TD asked for exits instead. */
    if (tdx_septe_state(e) == TDX_SEPT_PENDING && tdx_septe_is_leaf(e, reached) &&
        !(td->cfg.attributes & TDX_ATTR_SEPT_VE_DIS)) {
        return TDX_FAULT_VE;
    }
    return TDX_FAULT_EXIT;
}

/* ---- Blocked-epoch tracking ------------------------------------------------ */

bool tdx_sept_tlb_tracked(struct tdx_td *td, uint64_t bepoch)
{
    uint64_t epoch = atomic_load(&td->td_epoch);

    /* Written with +1 so an epoch counter that starts at 0 cannot wrap. */
    if (bepoch + 1 < epoch) {
        return true;
    }
    return bepoch + 1 == epoch &&
           atomic_load(&td->epoch_refcount[bepoch & 1]) == 0;
}

/* ---- Module hooks ---------------------------------------------------------- */

/*
 * Lock-hold rule "SEPT entry of a GPA": the entry where a walk for that GPA
 * ends, i.e. the 4K entry when the page table exists, else the deepest
 * entry on the way (the one SEPT.ADD would take next). Like the other
 * resolvers, this trusts the campaign not to tear the TD down while holding.
 */
static struct tdx_lock *resolve_sept_entry(struct tdx_module *m, uint64_t key,
                                           uint64_t gpa, enum tdx_lock_kind *kind)
{
    struct tdx_td *td = tdx_td_of(m, key);
    struct tdx_sept_td *s;
    struct tdx_sept_table *t;
    unsigned idx;
    int reached;
    uint64_t e;

    *kind = TDX_LOCK_HP_SHAREX;
    if (!td || atomic_load(&td->op_state) == TDX_OP_UNINITIALIZED) {
        return NULL;
    }
    s = tdx_sept_of(td);
    if (!s || !tdx_sept_gpa_private_ok(m, s, gpa)) {
        return NULL;
    }
    tdx_sept_walk(s, gpa, 0, &t, &idx, &reached, &e);
    return &t->lock[idx];
}

/* TDH.MR.EXTEND's walk (TDR held exclusively: no S-EPT lock needed). */
static int resolve_for_mr_extend(struct tdx_td *td, uint64_t gpa, uint64_t *hpa,
                                 uint64_t *ext_rcx, uint64_t *ext_rdx)
{
    struct tdx_sept_td *s = tdx_sept_of(td);
    struct tdx_sept_table *t;
    unsigned idx;
    int reached;
    uint64_t e;

    if (!s) {
        tdx_sept_ext_info(TDX_SEPTE_FREE_VALUE, 3, ext_rcx, ext_rdx);
        return 1;
    }
    tdx_sept_walk(s, gpa, 0, &t, &idx, &reached, &e);
    if (!tdx_septe_is_leaf(e, reached) ||
        tdx_septe_state(e) == TDX_SEPT_FREE || tdx_septe_state(e) == TDX_SEPT_REMOVED) {
        tdx_sept_ext_info(e, reached, ext_rcx, ext_rdx);
        return 1;
    }
    if (tdx_septe_state(e) != TDX_SEPT_MAPPED) {
        return 2;
    }
    *hpa = (e & TDX_SEPTE_HPA_MASK & ~(tdx_sept_level_size(reached) - 1)) |
           (gpa & (tdx_sept_level_size(reached) - 1));
    return 0;
}

void tdx_sept_module_init(struct tdx_module *m)
{
    tdx_inject_set_resolver(m, TDX_NAMED_SEPT_ENTRY, resolve_sept_entry);
    m->sept_resolve = (void *)resolve_for_mr_extend;
}

/* ---- Invariants -------------------------------------------------------------- */

struct inv_ctx {
    struct tdx_module *m;
    struct tdx_td *td;
    char *err;
    size_t errlen;
    uint64_t reg_pages, ept_pages;      /* referenced by the S-EPT */
};

static bool lock_idle(struct tdx_module *m, struct tdx_lock *l)
{
    return tdx_lock_is_free(l) || tdx_inject_holds(m, l);
}

static bool check_table(struct inv_ctx *x, struct tdx_sept_table *t, uint64_t base)
{
    uint64_t td_epoch = atomic_load(&x->td->td_epoch);

    for (unsigned i = 0; i < TDX_SEPT_ENTRIES; i++) {
        uint64_t e = atomic_load(&t->e[i]);
        uint64_t gpa = base + (uint64_t)i * tdx_sept_level_size(t->level);
        enum tdx_sept_state st = tdx_septe_state(e);
        struct tdx_sept_table *c = t->child ? atomic_load(&t->child[i]) : NULL;
        uint64_t hpa = e & TDX_SEPTE_HPA_MASK;
        struct tdx_pamt_entry *pe;

        if (!lock_idle(x->m, &t->lock[i])) {
            snprintf(x->err, x->errlen, "TD %#llx: S-EPT entry lock of GPA %#llx "
                     "level %d held with no call in flight",
                     (unsigned long long)x->td->tdr_pa, (unsigned long long)gpa,
                     t->level);
            return false;
        }
        if (st == TDX_SEPT_FREE || st == TDX_SEPT_REMOVED) {
            if (c) {
                snprintf(x->err, x->errlen, "TD %#llx: free S-EPT entry of GPA "
                         "%#llx level %d has a child table",
                         (unsigned long long)x->td->tdr_pa,
                         (unsigned long long)gpa, t->level);
                return false;
            }
            continue;
        }
        pe = tdx_pamt_lookup(x->m, hpa);
        if (st == TDX_SEPT_NL_MAPPED || st == TDX_SEPT_NL_BLOCKED) {
            if (t->level == 0 || !c || c->level != t->level - 1 || c->hpa != hpa ||
                !pe || pe->type != TDX_PT_EPT || pe->owner != x->td->tdr_pa ||
                (st == TDX_SEPT_NL_BLOCKED && atomic_load(&pe->bepoch) > td_epoch)) {
                snprintf(x->err, x->errlen, "TD %#llx: non-leaf S-EPT entry of GPA "
                         "%#llx level %d (%#llx) disagrees with its table or with "
                         "the PAMT of %#llx", (unsigned long long)x->td->tdr_pa,
                         (unsigned long long)gpa, t->level, (unsigned long long)e,
                         (unsigned long long)hpa);
                return false;
            }
            x->ept_pages++;
            if (!check_table(x, c, gpa)) {
                return false;
            }
            continue;
        }
        /* MAPPED, BLOCKED, PENDING, PENDING_BLOCKED: 4K leaves only here
         * (no leaf creates larger pages). */
        if (t->level != 0 || c || !pe || pe->type != TDX_PT_REG ||
            pe->owner != x->td->tdr_pa || pe->size != 0 ||
            ((st == TDX_SEPT_BLOCKED || st == TDX_SEPT_PENDING_BLOCKED) &&
             atomic_load(&pe->bepoch) > td_epoch)) {
            snprintf(x->err, x->errlen, "TD %#llx: leaf S-EPT entry of GPA %#llx "
                     "(%#llx, state %u) disagrees with the PAMT of %#llx",
                     (unsigned long long)x->td->tdr_pa, (unsigned long long)gpa,
                     (unsigned long long)e, st, (unsigned long long)hpa);
            return false;
        }
        x->reg_pages++;
    }
    return true;
}

struct td_list {
    struct tdx_td *td[256];
    unsigned n;
};

struct owned {
    uint64_t reg, ept;
    uint32_t in_td[2];              /* vCPUs in the TD, by epoch parity */
    bool vcpu_epoch_ahead;
};

/* With l: list the TDs. Without: count what `owner` owns. */
static void scan_pamt(struct tdx_module *m, struct td_list *l, struct owned *o,
                      struct tdx_td *owner)
{
    for (unsigned b = 0; b < m->num_pamt_blocks; b++) {
        struct tdx_pamt_block *blk = &m->pamt[b];

        for (uint64_t c = 0; c < blk->num_chunks; c++) {
            struct tdx_pamt_entry *chunk = atomic_load(&blk->chunks[c]);

            for (unsigned i = 0; chunk && i < TDX_PAMT_CHUNK_PAGES; i++) {
                struct tdx_pamt_entry *e = &chunk[i];

                if (l) {
                    if (e->type == TDX_PT_TDR && e->obj && l->n < 256) {
                        l->td[l->n++] = e->obj;
                    }
                    continue;
                }
                if (e->owner != owner->tdr_pa) {
                    continue;
                }
                o->reg += e->type == TDX_PT_REG;
                o->ept += e->type == TDX_PT_EPT;
                if (e->type == TDX_PT_TDVPR && e->obj) {
                    struct tdx_vcpu *v = e->obj;
                    struct tdx_vp_priv *p = v->priv;

                    if (v->vcpu_epoch > atomic_load(&owner->td_epoch)) {
                        o->vcpu_epoch_ahead = true;
                    }
                    if (p && atomic_load(&p->in_td)) {
                        o->in_td[v->vcpu_epoch & 1]++;
                    }
                }
            }
        }
    }
}

bool tdx_sept_check_invariants(struct tdx_module *m, char *err, size_t errlen)
{
    static struct td_list list;   /* too big for small thread stacks */
    static pthread_mutex_t list_lock = PTHREAD_MUTEX_INITIALIZER;
    bool ok = true;

    pthread_mutex_lock(&list_lock);
    list.n = 0;
    scan_pamt(m, &list, NULL, NULL);
    for (unsigned t = 0; ok && t < list.n; t++) {
        struct tdx_td *td = list.td[t];
        struct tdx_sept_td *s = td->sept;
        struct inv_ctx x = { .m = m, .td = td, .err = err, .errlen = errlen };
        struct owned o = { 0 };

        /* After TDH.MNG.VPFLUSHDONE the TD can never run again and KVM
         * reclaims its pages directly (no REMOVE): the S-EPT is dead. */
        if (td->lifecycle != TDX_TD_KEYS_CONFIGURED) {
            continue;
        }
        if (s && !check_table(&x, s->root, 0)) {
            ok = false;
            break;
        }
        scan_pamt(m, NULL, &o, td);
        if (o.reg != x.reg_pages || o.ept != x.ept_pages) {
            snprintf(err, errlen, "TD %#llx: PAMT has %llu PT_REG and %llu PT_EPT "
                     "pages of the TD, its S-EPT maps %llu and %llu",
                     (unsigned long long)td->tdr_pa, (unsigned long long)o.reg,
                     (unsigned long long)o.ept, (unsigned long long)x.reg_pages,
                     (unsigned long long)x.ept_pages);
            ok = false;
            break;
        }
        if (o.vcpu_epoch_ahead ||
            o.in_td[0] != atomic_load(&td->epoch_refcount[0]) ||
            o.in_td[1] != atomic_load(&td->epoch_refcount[1])) {
            snprintf(err, errlen, "TD %#llx: epoch %llu, refcounts %u/%u, vCPUs "
                     "in the TD by parity %u/%u%s", (unsigned long long)td->tdr_pa,
                     (unsigned long long)atomic_load(&td->td_epoch),
                     atomic_load(&td->epoch_refcount[0]),
                     atomic_load(&td->epoch_refcount[1]), o.in_td[0], o.in_td[1],
                     o.vcpu_epoch_ahead ? ", a vCPU epoch ahead of the TD's" : "");
            ok = false;
        }
    }
    pthread_mutex_unlock(&list_lock);
    return ok;
}
