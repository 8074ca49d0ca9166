/* MRTD helpers (see measure.h). */
#include "measure.h"

#include <string.h>

void tdx_mrtd_start(struct tdx_mrtd *m)
{
    memset(m, 0, sizeof(*m));
    tdx_sha384_init(&m->ctx);
    m->started = true;
}

void tdx_mrtd_record(struct tdx_mrtd *m, const char *leaf_name, uint64_t gpa)
{
    uint8_t rec[TDX_SHA384_BLOCK_SIZE] = { 0 };
    size_t n = strlen(leaf_name);

    if (!m->started || m->finalized) {
        return;     /* callers check op-state first; stay harmless anyway */
    }
    memcpy(rec, leaf_name, n > 16 ? 16 : n);
    for (int i = 0; i < 8; i++) {
        rec[16 + i] = (uint8_t)(gpa >> (8 * i));
    }
    tdx_sha384_update(&m->ctx, rec, sizeof(rec));
}

void tdx_mrtd_page_add(struct tdx_mrtd *m, uint64_t gpa)
{
    tdx_mrtd_record(m, "MEM.PAGE.ADD", gpa);
}

void tdx_mrtd_extend(struct tdx_mrtd *m, uint64_t gpa,
                     const uint8_t data[TDX_MR_EXTEND_CHUNK])
{
    if (!m->started || m->finalized) {
        return;
    }
    tdx_mrtd_record(m, "MR.EXTEND", gpa);
    tdx_sha384_update(&m->ctx, data, TDX_MR_EXTEND_CHUNK);
}

void tdx_mrtd_finalize(struct tdx_mrtd *m)
{
    if (!m->started || m->finalized) {
        return;
    }
    tdx_sha384_final(&m->ctx, m->mrtd);
    m->finalized = true;
}
