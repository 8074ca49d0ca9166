/*
 * The module's floor: the PAMT (one entry per 4 KiB page of convertible
 * memory, kept in host memory, never in L1's), TDMR and CMR membership,
 * and L1 physical memory access through the embedder. Everything above
 * (lock points, leaves, the dispatcher) uses these; they use nothing of
 * the module but its description.
 */
#include <stdlib.h>
#include <string.h>

#include "module.h"

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

/*
 * [base, end) lies inside convertible memory. CMRs that touch count as one
 * range, as in the module (Linux may place a TDMR's memory across them).
 */
bool tdx_range_in_cmrs(const struct tdx_module *m, uint64_t base, uint64_t end)
{
    uint64_t run_start = 0, run_end = 0;

    for (unsigned i = 0; i < m->desc.num_cmrs; i++) {
        const struct tdx_mem_range *cmr = &m->desc.cmrs[i];
        uint64_t start = cmr->base;

        if (i && start == run_end) {
            start = run_start;
        }
        if (base >= start && end <= cmr->base + cmr->size) {
            return true;
        }
        run_start = start;
        run_end = cmr->base + cmr->size;
    }
    return false;
}

void *tdx_pamt_obj(struct tdx_module *m, uint64_t pa, unsigned type)
{
    struct tdx_pamt_entry *e = tdx_pamt_lookup(m, pa);

    return e && e->type == type ? e->obj : NULL;
}
