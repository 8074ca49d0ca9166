/*
 * The module object, top floor: create (description checks, PAMT blocks,
 * the families' hooks) and destroy, the named-lock resolvers of the
 * module's own locks, and the invariant checker that walks everything.
 * The floors below: pamt.c (PAMT, memory), call.c (lock points and the
 * epilogue), dispatch.c (the two entry points), the leaf families.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "module.h"
#include "sept.h"
#include "td.h"

static uint64_t default_clock_ns(void *opaque)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static unsigned keyid_shift_of(const struct tdx_platform_desc *d)
{
    unsigned total = d->mktme_keyids + d->tdx_keyids;
    unsigned bits = 0;

    while ((1u << bits) < total) {
        bits++;
    }
    return d->max_pa_bits - bits;
}

static struct tdx_lock *resolve_global(struct tdx_module *m, uint64_t key,
                                       uint64_t gpa, enum tdx_lock_kind *kind)
{
    *kind = TDX_LOCK_SHAREX;
    return &m->global_lock;
}

static struct tdx_lock *resolve_pkg(struct tdx_module *m, uint64_t key,
                                    uint64_t gpa, enum tdx_lock_kind *kind)
{
    *kind = TDX_LOCK_MUTEX;
    return key < m->desc.num_pkgs ? &m->pkg_lock[key] : NULL;
}

static struct tdx_lock *resolve_pamt(struct tdx_module *m, uint64_t key,
                                     uint64_t gpa, enum tdx_lock_kind *kind)
{
    struct tdx_pamt_entry *e = tdx_pamt_lookup(m, key);

    *kind = TDX_LOCK_HP_SHAREX;
    return e ? &e->lock : NULL;
}

static struct tdx_lock *resolve_tdr(struct tdx_module *m, uint64_t key,
                                    uint64_t gpa, enum tdx_lock_kind *kind)
{
    struct tdx_pamt_entry *e = tdx_pamt_lookup(m, key);

    /* A TD's "TDR lock" is the PAMT entry lock of its TDR page. */
    *kind = TDX_LOCK_HP_SHAREX;
    return e && e->type == TDX_PT_TDR ? &e->lock : NULL;
}

static bool desc_valid(const struct tdx_platform_desc *d, char *err, size_t errlen)
{
    unsigned total = d->mktme_keyids + d->tdx_keyids;

    if (d->num_lps == 0 || d->num_lps > TDX_MAX_LPS) {
        snprintf(err, errlen, "num_lps %u not in 1..%d", d->num_lps, TDX_MAX_LPS);
        return false;
    }
    if (d->num_pkgs == 0 || d->num_pkgs > TDX_MAX_PKGS) {
        snprintf(err, errlen, "num_pkgs %u not in 1..%d", d->num_pkgs, TDX_MAX_PKGS);
        return false;
    }
    for (unsigned i = 0; i < d->num_lps; i++) {
        if (d->lp_pkg[i] >= d->num_pkgs) {
            snprintf(err, errlen, "LP %u in package %u of %u", i, d->lp_pkg[i],
                     d->num_pkgs);
            return false;
        }
    }
    if (d->num_cmrs == 0 || d->num_cmrs > TDX_MAX_CMRS) {
        snprintf(err, errlen, "num_cmrs %u not in 1..%d", d->num_cmrs, TDX_MAX_CMRS);
        return false;
    }
    for (unsigned i = 0; i < d->num_cmrs; i++) {
        const struct tdx_mem_range *c = &d->cmrs[i];

        if ((c->base | c->size) & (TDX_PAGE_SIZE - 1) || c->size == 0 ||
            (i && c->base < d->cmrs[i - 1].base + d->cmrs[i - 1].size)) {
            snprintf(err, errlen, "CMR %u [%#llx, +%#llx) not 4K aligned, empty "
                     "or not ascending", i, (unsigned long long)c->base,
                     (unsigned long long)c->size);
            return false;
        }
    }
    if (d->max_pa_bits < 36 || d->max_pa_bits > 52) {
        snprintf(err, errlen, "max_pa_bits %u not in 36..52", d->max_pa_bits);
        return false;
    }
    if (d->mktme_keyids == 0 || d->tdx_keyids == 0 || total > 64) {
        snprintf(err, errlen, "KeyIDs: %u MKTME + %u TDX; need >= 1 each, <= 64 "
                 "in all", d->mktme_keyids, d->tdx_keyids);
        return false;
    }
    if (d->cmrs[d->num_cmrs - 1].base + d->cmrs[d->num_cmrs - 1].size >
        (1ULL << (d->max_pa_bits - 6))) {
        snprintf(err, errlen, "RAM reaches into the KeyID bits");
        return false;
    }
    return true;
}

struct tdx_module *tdx_module_create(const struct tdx_platform_desc *desc,
                                     const struct tdx_platform_ops *ops,
                                     void *opaque, char *err, size_t errlen)
{
    struct tdx_module *m;

    if (!desc_valid(desc, err, errlen)) {
        return NULL;
    }
    if (!ops || !ops->mem_read || !ops->mem_write) {
        snprintf(err, errlen, "mem_read and mem_write callbacks are required");
        return NULL;
    }
    m = calloc(1, sizeof(*m));
    if (!m) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    m->desc = *desc;
    m->keyid_shift = keyid_shift_of(desc);
    m->ops = *ops;
    if (!m->ops.clock_ns) {
        m->ops.clock_ns = default_clock_ns;
    }
    m->opaque = opaque;
    tdx_lock_init(&m->global_lock);
    for (unsigned i = 0; i < TDX_MAX_PKGS; i++) {
        tdx_lock_init(&m->pkg_lock[i]);
    }
    atomic_init(&m->sys_state, TDX_SYS_INIT_PENDING);
    /* The PAMT proper lives in L1 memory that L1 donates at SYS.CONFIG; we
     * keep ours here (never trust L1-writable memory) and only account for
     * L1's area as reserved. One entry per 4K page of every CMR. */
    m->num_pamt_blocks = desc->num_cmrs;
    for (unsigned i = 0; i < desc->num_cmrs; i++) {
        struct tdx_pamt_block *b = &m->pamt[i];

        b->base = desc->cmrs[i].base;
        b->size = desc->cmrs[i].size;
        b->num_chunks = (b->size / TDX_PAGE_SIZE + TDX_PAMT_CHUNK_PAGES - 1) /
                        TDX_PAMT_CHUNK_PAGES;
        b->chunks = calloc(b->num_chunks, sizeof(*b->chunks));
        if (!b->chunks) {
            snprintf(err, errlen, "out of memory for the PAMT of CMR %u", i);
            tdx_module_destroy(m);
            return NULL;
        }
    }
    tdx_inject_init(&m->inject, desc->seed);
    tdx_paths_init(&m->paths);
    tdx_inject_set_resolver(m, TDX_NAMED_GLOBAL, resolve_global);
    tdx_inject_set_resolver(m, TDX_NAMED_PKG_KEY, resolve_pkg);
    tdx_inject_set_resolver(m, TDX_NAMED_PAMT, resolve_pamt);
    tdx_inject_set_resolver(m, TDX_NAMED_TDR, resolve_tdr);
    tdx_td_module_init(m);
    tdx_sept_module_init(m);
    return m;
}

void tdx_module_destroy(struct tdx_module *m)
{
    if (!m) {
        return;
    }
    if (m->inject.resolver[TDX_NAMED_GLOBAL]) {
        tdx_inject_fini(m);
        tdx_paths_fini(&m->paths);
    }
    /* After the holds are gone: they may point into TD objects. */
    tdx_td_module_fini(m);
    for (unsigned i = 0; i < m->num_pamt_blocks; i++) {
        for (uint64_t c = 0; m->pamt[i].chunks && c < m->pamt[i].num_chunks; c++) {
            free(atomic_load(&m->pamt[i].chunks[c]));
        }
        free(m->pamt[i].chunks);
    }
    free(m);
}

static bool check_lock_free(struct tdx_module *m, struct tdx_lock *l,
                            const char *what, char *err, size_t errlen)
{
    if (tdx_lock_is_free(l) || tdx_inject_holds(m, l)) {
        return true;
    }
    snprintf(err, errlen, "%s is held (word %#x) with no call in flight", what,
             (unsigned)atomic_load(&l->word));
    return false;
}

/*
 * A vCPU inside its TD holds its TDVPR and its TD's TDR shared until the TD
 * exit (vp-enter.c); such a lock is consistent iff its readers are exactly
 * those vCPUs (and nothing else holds it). Walks the PAMT for TDVPR pages,
 * so only used for locks found held.
 */
static bool held_by_vcpus_in_td(struct tdx_module *m, struct tdx_lock *l)
{
    uint32_t word = atomic_load(&l->word);
    uint32_t holders = 0;

    if (word & TDX_LOCK_EXCL) {
        return false;
    }
    for (unsigned b = 0; b < m->num_pamt_blocks; b++) {
        const struct tdx_pamt_block *blk = &m->pamt[b];

        for (uint64_t c = 0; c < blk->num_chunks; c++) {
            struct tdx_pamt_entry *chunk = atomic_load(&blk->chunks[c]);

            for (uint64_t i = 0; chunk && i < TDX_PAMT_CHUNK_PAGES &&
                 c * TDX_PAMT_CHUNK_PAGES + i < blk->size / TDX_PAGE_SIZE; i++) {
                const struct tdx_vcpu *v = chunk[i].obj;
                const struct tdx_vp_priv *p;

                if (chunk[i].type != TDX_PT_TDVPR || !v || !v->priv) {
                    continue;
                }
                p = v->priv;
                if (atomic_load(&p->in_td) &&
                    (p->tdvpr_lock == l || p->tdr_lock == l)) {
                    holders++;
                }
            }
        }
    }
    return holders && (word & ~TDX_LOCK_HP) == holders * TDX_LOCK_READER;
}

bool tdx_core_check_invariants(struct tdx_module *m, char *err, size_t errlen)
{
    char what[96];
    unsigned lps = 0;

    if (!check_lock_free(m, &m->global_lock, "global lock", err, errlen)) {
        return false;
    }
    for (unsigned i = 0; i < m->desc.num_pkgs; i++) {
        snprintf(what, sizeof(what), "key lock of package %u", i);
        if (!check_lock_free(m, &m->pkg_lock[i], what, err, errlen)) {
            return false;
        }
    }
    for (unsigned i = 0; i < m->num_tdmrs; i++) {
        snprintf(what, sizeof(what), "init lock of TDMR %u", i);
        if (!check_lock_free(m, &m->tdmr[i].init_lock, what, err, errlen)) {
            return false;
        }
    }
    for (unsigned i = 0; i < m->desc.num_lps; i++) {
        lps += m->lp[i].initialized;
    }
    if (lps != m->lps_initialized) {
        snprintf(err, errlen, "%u LPs flagged initialized, counter says %u",
                 lps, m->lps_initialized);
        return false;
    }
    for (unsigned b = 0; b < m->num_pamt_blocks; b++) {
        const struct tdx_pamt_block *blk = &m->pamt[b];

        for (uint64_t i = 0; i < blk->size / TDX_PAGE_SIZE; i++) {
            struct tdx_pamt_entry *chunk =
                atomic_load(&blk->chunks[i / TDX_PAMT_CHUNK_PAGES]);
            struct tdx_pamt_entry *e;
            uint64_t pa = blk->base + i * TDX_PAGE_SIZE;

            if (!chunk) {
                i += TDX_PAMT_CHUNK_PAGES - 1;     /* never touched: all free */
                continue;
            }
            e = &chunk[i % TDX_PAMT_CHUNK_PAGES];

            if (!tdx_lock_is_free(&e->lock) &&
                !held_by_vcpus_in_td(m, &e->lock)) {
                snprintf(what, sizeof(what), "PAMT entry of %#llx",
                         (unsigned long long)pa);
                if (!check_lock_free(m, &e->lock, what, err, errlen)) {
                    return false;
                }
            }
            if (e->type != TDX_PT_NDA && e->type != TDX_PT_RSVD &&
                !tdx_pa_in_tdmr(m, pa)) {
                snprintf(err, errlen, "page %#llx of type %u outside any TDMR",
                         (unsigned long long)pa, e->type);
                return false;
            }
            if ((e->type == TDX_PT_NDA || e->type == TDX_PT_RSVD) && e->owner) {
                snprintf(err, errlen, "free page %#llx has owner %#llx",
                         (unsigned long long)pa, (unsigned long long)e->owner);
                return false;
            }
        }
    }
    /* TD objects, KOT, child counts (td.c). */
    if (!tdx_td_check_invariants(m, err, errlen)) {
        return false;
    }
    /* S-EPT vs PAMT, entry locks, TD epochs (sept.c). */
    return tdx_sept_check_invariants(m, err, errlen);
}
