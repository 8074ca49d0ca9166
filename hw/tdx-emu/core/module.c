/*
 * Module object, SEAMCALL dispatcher, lock points, PAMT lookup and the
 * invariant checker.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "module.h"
#include "sept.h"
#include "td.h"

static const struct tdx_leaf_desc host_leaves[TDX_MAX_LEAF] = {
    [TDH_SYS_KEY_CONFIG]  = { "TDH.SYS.KEY.CONFIG", tdx_leaf_sys_key_config, 0, true },
    [TDH_SYS_INIT]        = { "TDH.SYS.INIT", tdx_leaf_sys_init, 0, true },
    [TDH_SYS_RD]          = { "TDH.SYS.RD", tdx_leaf_sys_rd, 0, true },
    [TDH_SYS_LP_INIT]     = { "TDH.SYS.LP.INIT", tdx_leaf_sys_lp_init, 0, true },
    [TDH_SYS_TDMR_INIT]   = { "TDH.SYS.TDMR.INIT", tdx_leaf_sys_tdmr_init, 0, false },
    [TDH_SYS_LP_SHUTDOWN] = { "TDH.SYS.LP.SHUTDOWN", tdx_leaf_sys_lp_shutdown, 0, true },
    [TDH_SYS_CONFIG]      = { "TDH.SYS.CONFIG", tdx_leaf_sys_config, 0, true },
    [TDH_SYS_SHUTDOWN]    = { "TDH.SYS.SHUTDOWN", tdx_leaf_sys_shutdown, 0, false },
    [TDH_SYS_UPDATE]      = { "TDH.SYS.UPDATE", tdx_leaf_sys_update, 0, true },
    [TDH_SYS_DISABLE]     = { "TDH.SYS.DISABLE", tdx_leaf_sys_disable, 0, true },
    /* TD lifecycle, vCPU, measurement, PHYMEM (leaf-mng/vp/mr/phymem.c). */
    [TDH_MNG_ADDCX]       = { "TDH.MNG.ADDCX", tdx_leaf_mng_addcx, 0, false },
    [TDH_VP_ADDCX]        = { "TDH.VP.ADDCX", tdx_leaf_vp_addcx, 0, false },
    [TDH_MNG_KEY_CONFIG]  = { "TDH.MNG.KEY.CONFIG", tdx_leaf_mng_key_config, 0, false },
    [TDH_MNG_CREATE]      = { "TDH.MNG.CREATE", tdx_leaf_mng_create, 0, false },
    [TDH_VP_CREATE]       = { "TDH.VP.CREATE", tdx_leaf_vp_create, 0, false },
    [TDH_MNG_RD]          = { "TDH.MNG.RD", tdx_leaf_mng_rd, 1, false },
    [TDH_MNG_WR]          = { "TDH.MNG.WR", tdx_leaf_mng_wr, 0, false },
    [TDH_MR_EXTEND]       = { "TDH.MR.EXTEND", tdx_leaf_mr_extend, 0, false },
    [TDH_MR_FINALIZE]     = { "TDH.MR.FINALIZE", tdx_leaf_mr_finalize, 0, false },
    [TDH_VP_FLUSH]        = { "TDH.VP.FLUSH", tdx_leaf_vp_flush, 0, false },
    [TDH_MNG_VPFLUSHDONE] = { "TDH.MNG.VPFLUSHDONE", tdx_leaf_mng_vpflushdone, 0, false },
    [TDH_MNG_KEY_FREEID]  = { "TDH.MNG.KEY.FREEID", tdx_leaf_mng_key_freeid, 0, false },
    [TDH_MNG_INIT]        = { "TDH.MNG.INIT", tdx_leaf_mng_init, 0, false },
    /* Version 1 (x2APIC ID in R8) is what Linux 7.2 calls; newer modules
     * accept it, 1.5.01 would not (facts 0.4). */
    [TDH_VP_INIT]         = { "TDH.VP.INIT", tdx_leaf_vp_init, 1, false },
    [TDH_PHYMEM_PAGE_RDMD] = { "TDH.PHYMEM.PAGE.RDMD", tdx_leaf_phymem_page_rdmd, 0, false },
    [TDH_VP_RD]           = { "TDH.VP.RD", tdx_leaf_vp_rd, 1, false },
    [TDH_PHYMEM_PAGE_RECLAIM] = { "TDH.PHYMEM.PAGE.RECLAIM", tdx_leaf_phymem_page_reclaim, 0, false },
    [TDH_PHYMEM_CACHE_WB] = { "TDH.PHYMEM.CACHE.WB", tdx_leaf_phymem_cache_wb, 0, false },
    [TDH_PHYMEM_PAGE_WBINVD] = { "TDH.PHYMEM.PAGE.WBINVD", tdx_leaf_phymem_page_wbinvd, 0, false },
    [TDH_VP_WR]           = { "TDH.VP.WR", tdx_leaf_vp_wr, 0, false },
    /* S-EPT and TLB tracking (leaf-mem.c). SEPT.ADD/REMOVE have a v1. */
    [TDH_MEM_PAGE_ADD]    = { "TDH.MEM.PAGE.ADD", tdx_leaf_mem_page_add, 0, false },
    [TDH_MEM_SEPT_ADD]    = { "TDH.MEM.SEPT.ADD", tdx_leaf_mem_sept_add, 1, false },
    [TDH_MEM_PAGE_AUG]    = { "TDH.MEM.PAGE.AUG", tdx_leaf_mem_page_aug, 0, false },
    [TDH_MEM_RANGE_BLOCK] = { "TDH.MEM.RANGE.BLOCK", tdx_leaf_mem_range_block, 0, false },
    [TDH_MEM_PAGE_REMOVE] = { "TDH.MEM.PAGE.REMOVE", tdx_leaf_mem_page_remove, 0, false },
    [TDH_MEM_SEPT_REMOVE] = { "TDH.MEM.SEPT.REMOVE", tdx_leaf_mem_sept_remove, 1, false },
    [TDH_MEM_TRACK]       = { "TDH.MEM.TRACK", tdx_leaf_mem_track, 0, false },
    [TDH_MEM_RANGE_UNBLOCK] = { "TDH.MEM.RANGE.UNBLOCK", tdx_leaf_mem_range_unblock, 0, false },
};

/* Names of the leaves not (yet) implemented, for traces and statistics. */
static const char *const host_leaf_names[TDX_MAX_LEAF] = {
    [TDH_VP_ENTER] = "TDH.VP.ENTER", [TDH_MNG_ADDCX] = "TDH.MNG.ADDCX",
    [TDH_MEM_PAGE_ADD] = "TDH.MEM.PAGE.ADD", [TDH_MEM_SEPT_ADD] = "TDH.MEM.SEPT.ADD",
    [TDH_VP_ADDCX] = "TDH.VP.ADDCX", [TDH_MEM_PAGE_AUG] = "TDH.MEM.PAGE.AUG",
    [TDH_MEM_RANGE_BLOCK] = "TDH.MEM.RANGE.BLOCK", [TDH_MNG_KEY_CONFIG] = "TDH.MNG.KEY.CONFIG",
    [TDH_MNG_CREATE] = "TDH.MNG.CREATE", [TDH_VP_CREATE] = "TDH.VP.CREATE",
    [TDH_MNG_RD] = "TDH.MNG.RD", [TDH_MNG_WR] = "TDH.MNG.WR",
    [TDH_MR_EXTEND] = "TDH.MR.EXTEND", [TDH_MR_FINALIZE] = "TDH.MR.FINALIZE",
    [TDH_VP_FLUSH] = "TDH.VP.FLUSH", [TDH_MNG_VPFLUSHDONE] = "TDH.MNG.VPFLUSHDONE",
    [TDH_MNG_KEY_FREEID] = "TDH.MNG.KEY.FREEID", [TDH_MNG_INIT] = "TDH.MNG.INIT",
    [TDH_VP_INIT] = "TDH.VP.INIT", [TDH_PHYMEM_PAGE_RDMD] = "TDH.PHYMEM.PAGE.RDMD",
    [TDH_VP_RD] = "TDH.VP.RD", [TDH_PHYMEM_PAGE_RECLAIM] = "TDH.PHYMEM.PAGE.RECLAIM",
    [TDH_MEM_PAGE_REMOVE] = "TDH.MEM.PAGE.REMOVE", [TDH_MEM_SEPT_REMOVE] = "TDH.MEM.SEPT.REMOVE",
    [TDH_MEM_TRACK] = "TDH.MEM.TRACK", [TDH_MEM_RANGE_UNBLOCK] = "TDH.MEM.RANGE.UNBLOCK",
    [TDH_PHYMEM_CACHE_WB] = "TDH.PHYMEM.CACHE.WB", [TDH_PHYMEM_PAGE_WBINVD] = "TDH.PHYMEM.PAGE.WBINVD",
    [TDH_VP_WR] = "TDH.VP.WR", [TDH_SYS_RDALL] = "TDH.SYS.RDALL",
    [TDH_SYS_DISABLE] = "TDH.SYS.DISABLE",
};

const char *tdx_host_leaf_name(unsigned leaf)
{
    if (leaf >= TDX_MAX_LEAF) {
        return NULL;
    }
    return host_leaves[leaf].name ? host_leaves[leaf].name : host_leaf_names[leaf];
}

bool tdx_leaf_name_equal(const char *want, const char *name)
{
    for (; *want && *name; want++, name++) {
        char a = *want >= 'a' && *want <= 'z' ? *want - 'a' + 'A' : *want;

        if ((a == '_' ? '.' : a) != *name) {
            return false;
        }
    }
    return !*want && !*name;
}

int tdx_host_leaf_by_name(const char *name)
{
    for (unsigned leaf = 0; name && leaf < TDX_MAX_LEAF; leaf++) {
        const char *n = tdx_host_leaf_name(leaf);

        if (n && tdx_leaf_name_equal(name, n)) {
            return (int)leaf;
        }
    }
    return -1;
}

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

struct tdx_pamt_entry *tdx_pamt_lookup(struct tdx_module *m, uint64_t pa)
{
    for (unsigned i = 0; i < m->num_pamt_blocks; i++) {
        struct tdx_pamt_block *b = &m->pamt[i];

        if (pa >= b->base && pa - b->base < b->size) {
            uint64_t page = (pa - b->base) / TDX_PAGE_SIZE;
            struct tdx_pamt_entry *_Atomic *slot = &b->chunks[page / TDX_PAMT_CHUNK_PAGES];
            struct tdx_pamt_entry *chunk = atomic_load(slot);

            if (!chunk) {
                struct tdx_pamt_entry *fresh =
                    calloc(TDX_PAMT_CHUNK_PAGES, sizeof(*fresh));

                if (!fresh) {
                    return NULL;
                }
                /* Another LP may have raced us here; keep the winner's. */
                if (atomic_compare_exchange_strong(slot, &chunk, fresh)) {
                    chunk = fresh;
                } else {
                    free(fresh);
                }
            }
            return &chunk[page % TDX_PAMT_CHUNK_PAGES];
        }
    }
    return NULL;
}

bool tdx_pa_in_tdmr(struct tdx_module *m, uint64_t pa)
{
    for (unsigned i = 0; i < m->num_tdmrs; i++) {
        const struct tdx_tdmr *t = &m->tdmr[i];

        if (pa < t->base || pa - t->base >= t->size) {
            continue;
        }
        for (unsigned r = 0; r < t->num_rsvd; r++) {
            if (pa - t->base >= t->rsvd[r].offset &&
                pa - t->base < t->rsvd[r].offset + t->rsvd[r].size) {
                return false;
            }
        }
        return true;
    }
    return false;
}

bool tdx_pa_pamt_ready(struct tdx_module *m, uint64_t pa)
{
    for (unsigned i = 0; i < m->num_tdmrs; i++) {
        const struct tdx_tdmr *t = &m->tdmr[i];

        if (pa >= t->base && pa - t->base < t->size) {
            return pa - t->base < __atomic_load_n(&t->init_done, __ATOMIC_ACQUIRE);
        }
    }
    return false;
}

/*
 * Guest-physical (L1) memory. Accesses are split at 4 KiB page boundaries
 * so the embedder's direct-pointer fast path (host_ptr) only ever has to
 * resolve one page; a page it cannot resolve goes through mem_read /
 * mem_write. Returns 0, or -1 when part of the range is not RAM.
 */
static size_t page_chunk(uint64_t pa, size_t len)
{
    size_t room = TDX_PAGE_SIZE - (pa & (TDX_PAGE_SIZE - 1));

    return len < room ? len : room;
}

int tdx_mem_read(struct tdx_module *m, uint64_t pa, void *buf, size_t len)
{
    uint8_t *out = buf;

    if (!m->ops.host_ptr) {
        return m->ops.mem_read(m->opaque, pa, buf, len);
    }
    while (len) {
        size_t n = page_chunk(pa, len);
        const void *src = m->ops.host_ptr(m->opaque, pa, n, false);

        if (src) {
            memcpy(out, src, n);
        } else if (m->ops.mem_read(m->opaque, pa, out, n)) {
            return -1;
        }
        pa += n;
        out += n;
        len -= n;
    }
    return 0;
}

int tdx_mem_write(struct tdx_module *m, uint64_t pa, const void *buf, size_t len)
{
    const uint8_t *in = buf;

    if (!m->ops.host_ptr) {
        return m->ops.mem_write(m->opaque, pa, buf, len);
    }
    while (len) {
        size_t n = page_chunk(pa, len);
        void *dst = m->ops.host_ptr(m->opaque, pa, n, true);

        if (dst) {
            memcpy(dst, in, n);
        } else if (m->ops.mem_write(m->opaque, pa, in, n)) {
            return -1;
        }
        pa += n;
        in += n;
        len -= n;
    }
    return 0;
}

int tdx_mem_zero(struct tdx_module *m, uint64_t pa, size_t len)
{
    static const uint8_t zeros[TDX_PAGE_SIZE];

    while (len) {
        size_t n = page_chunk(pa, len);
        void *dst = m->ops.host_ptr ? m->ops.host_ptr(m->opaque, pa, n, true) : NULL;

        if (dst) {
            memset(dst, 0, n);
        } else if (m->ops.mem_write(m->opaque, pa, zeros, n)) {
            return -1;
        }
        pa += n;
        len -= n;
    }
    return 0;
}

static void hold_window(struct tdx_module *m)
{
    uint64_t end;

    if (!m->desc.hold_window_ns) {
        return;
    }
    /* Stretch the critical section so racing LPs really meet. Bounded by
     * the embedder (tdx-emu caps it at 1 s). */
    end = m->ops.clock_ns(m->opaque) + m->desc.hold_window_ns;
    while (m->ops.clock_ns(m->opaque) < end) {
        /* spin */
    }
}

uint64_t tdx_call_lock(struct tdx_call *c, struct tdx_lock *lock,
                       enum tdx_lock_kind kind, enum tdx_lock_mode mode,
                       uint64_t busy_status)
{
    enum tdx_lock_result r;
    uint64_t injected = 0;

    /* No status rule armed (the normal case): skip the engine and its
     * mutex. Rules are added by other threads at any time; a lock point
     * that misses one being added is as if the call had come first. */
    if (atomic_load_explicit(&c->m->inject.num_status_rules,
                             memory_order_relaxed) != 0) {
        injected = tdx_inject_at_lock_point(c, busy_status);
    }
    if (injected) {
        c->injected = true;
        return injected;
    }
    if (c->num_held == TDX_CALL_MAX_HELD) {
        /* A leaf taking more locks than this is a core bug, not L1's. */
        return busy_status;
    }
    r = tdx_lock_try(lock, kind, mode, c->host);
    if (r != TDX_LOCK_OK &&
        atomic_load_explicit(&c->m->inject.num_holds, memory_order_relaxed)) {
        tdx_inject_note_busy(c->m, lock);    /* holds that end on busies */
    }
    if (r == TDX_LOCK_BUSY_HOST_PRIORITY) {
        return TDX_OPERAND_BUSY_HOST_PRIORITY |
               (busy_status & TDX_STATUS_OPERAND_MASK);
    }
    if (r != TDX_LOCK_OK) {
        return busy_status;
    }
    c->held[c->num_held].lock = lock;
    c->held[c->num_held].mode = mode;
    c->num_held++;
    return TDX_SUCCESS;
}

void tdx_call_unlock_all(struct tdx_call *c)
{
    if (c->num_held) {
        hold_window(c->m);
    }
    while (c->num_held) {
        c->num_held--;
        tdx_lock_release(c->held[c->num_held].lock, c->held[c->num_held].mode);
    }
}

void tdx_account_call(struct tdx_module *m, unsigned leaf, uint64_t status,
                    bool injected)
{
    struct tdx_stats *s = &m->stats;
    uint64_t class = tdx_status_class(status);

    if (leaf >= TDX_MAX_LEAF) {
        return;
    }
    atomic_fetch_add_explicit(&s->calls[leaf], 1, memory_order_relaxed);
    if (class == TDX_OPERAND_BUSY || class == TDX_OPERAND_BUSY_HOST_PRIORITY) {
        atomic_fetch_add_explicit(&s->busy[leaf][status & 0xFF], 1,
                                  memory_order_relaxed);
    } else if (class == TDX_SYS_BUSY) {
        /* The global lock's busy carries no operand; count it under the
         * SYS operand ID, the name injection rules give it. */
        atomic_fetch_add_explicit(&s->busy[leaf][TDX_OPERAND_ID_SYS], 1,
                                  memory_order_relaxed);
    } else if (tdx_status_is_error(status)) {
        atomic_fetch_add_explicit(&s->errors[leaf], 1, memory_order_relaxed);
    } else {
        atomic_fetch_add_explicit(&s->success[leaf], 1, memory_order_relaxed);
    }
    if (injected) {
        atomic_fetch_add_explicit(&s->injected[leaf], 1, memory_order_relaxed);
    }
}

uint64_t tdx_seamcall(struct tdx_module *m, unsigned lp, struct tdx_regs *regs)
{
    uint64_t t0 = m->ops.trace ? m->ops.clock_ns(m->opaque) : 0;
    unsigned leaf = regs->rax & 0xFFFF;
    unsigned version = (regs->rax >> 16) & 0xFF;
    struct tdx_call c;
    const struct tdx_leaf_desc *d = leaf < TDX_MAX_LEAF ? &host_leaves[leaf] : NULL;
    int state = atomic_load(&m->sys_state);
    const bool loader = regs->rax & TDX_SEAMLDR_LEAF_BIT;
    const uint64_t rcx_in = regs->rcx, rdx_in = regs->rdx;
    uint64_t status;

    /* Every field zero up to held[] (see struct tdx_call), then ours. */
    memset(&c, 0, offsetof(struct tdx_call, held));
    c.m = m;
    c.lp = lp;
    c.leaf = leaf;
    c.version = version;
    c.host = true;
    c.gpa = ~0ULL;
    if (lp < m->desc.num_lps) {
        const struct tdx_lp *l = &m->lp[lp];

        c.retry = l->last_busy_leaf == leaf + 1 && l->last_busy_rcx == rcx_in &&
                  l->last_busy_rdx == rdx_in;
    }
    tdx_inject_expire_holds(m);
    /* Dispatcher checks, in the module's order (facts: 0.5). */
    if (lp >= m->desc.num_lps) {
        status = TDX_OPERAND_INVALID | TDX_OPERAND_ID_RAX;  /* embedder bug */
    } else if (loader) {
        /* The loader, not the module: none of the module's state checks. */
        status = tdx_seamldr_call(m, lp, regs);
    } else if (regs->rax >> 24) {
        status = TDX_OPERAND_INVALID | TDX_OPERAND_ID_RAX;
    } else if (state == TDX_SYS_STATE_SHUTDOWN && leaf != TDH_SYS_LP_SHUTDOWN) {
        status = TDX_SYS_SHUTDOWN;
    } else if (!d || !d->fn) {
        status = TDX_OPERAND_INVALID | TDX_OPERAND_ID_RAX;
    } else if (version > d->max_version) {
        status = TDX_OPERAND_INVALID | TDX_OPERAND_ID_RAX;
    } else if (state != TDX_SYS_READY && !d->before_ready) {
        status = TDX_SYS_NOT_READY;
    } else {
        status = d->fn(&c, regs);
        /* One unwind path for every leaf: whatever is still held goes. */
        tdx_call_unlock_all(&c);
    }
    regs->rax = status;
    if (!loader) {
        tdx_account_call(m, leaf, status, c.injected);
        if (lp < m->desc.num_lps) {
            struct tdx_lp *l = &m->lp[lp];
            uint64_t class = tdx_status_class(status);
            bool busy = class == TDX_OPERAND_BUSY ||
                        class == TDX_OPERAND_BUSY_HOST_PRIORITY ||
                        class == TDX_SYS_BUSY;

            l->last_busy_leaf = busy ? leaf + 1 : 0;
            l->last_busy_rcx = rcx_in;
            l->last_busy_rdx = rdx_in;
            struct tdx_path_event pev = {
                .kind = TDX_PATH_EV_SEAMCALL, .leaf = leaf, .lp = lp,
                .status = status, .injected = c.injected, .tdr = c.tdr_pa,
                .gpa = c.gpa, .key = rcx_in,
                .hkid = leaf == TDH_PHYMEM_PAGE_WBINVD ?
                        (unsigned)(rcx_in >> tdx_keyid_shift(m)) : 0,
            };

            tdx_paths_note(m, &m->paths, &pev);
        }
    }
    if (m->ops.trace) {
        struct tdx_trace_event ev = {
            .lp = lp, .leaf = leaf, .version = version, .status = status,
            .duration_ns = m->ops.clock_ns(m->opaque) - t0,
            .injected = c.injected, .tdr_pa = c.tdr_pa,
            .mrtd = c.has_mrtd ? c.mrtd : NULL,
        };
        m->ops.trace(m->opaque, &ev);
    }
    return status;
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
