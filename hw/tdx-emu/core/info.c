/* Read-only snapshots of the module for monitors and reports. */
#include <string.h>

#include "module.h"
#include "td.h"

static const char *const state_names[] = {
    [TDX_SYS_INIT_PENDING] = "SYSINIT_PENDING",
    [TDX_SYS_INIT_DONE] = "SYSINIT_DONE",
    [TDX_SYS_CONFIG_DONE] = "SYSCONFIG_DONE",
    [TDX_SYS_READY] = "SYS_READY",
    [TDX_SYS_STATE_SHUTDOWN] = "SYS_SHUTDOWN",
};

static const char *const page_type_names[16] = {
    [TDX_PT_NDA] = "PT_NDA", [TDX_PT_RSVD] = "PT_RSVD", [TDX_PT_REG] = "PT_REG",
    [TDX_PT_TDR] = "PT_TDR", [TDX_PT_TDCX] = "PT_TDCX", [TDX_PT_TDVPR] = "PT_TDVPR",
    [TDX_PT_EPT] = "PT_EPT",
};

unsigned tdx_module_num_lps(const struct tdx_module *m)
{
    return m->desc.num_lps;
}

const char *tdx_page_type_name(unsigned type)
{
    return type < 16 ? page_type_names[type] : NULL;
}

void tdx_module_get_info(struct tdx_module *m, struct tdx_module_info *out)
{
    int state = atomic_load(&m->sys_state);

    memset(out, 0, sizeof(*out));
    out->state = state >= 0 && state <= TDX_SYS_STATE_SHUTDOWN ? state_names[state]
                                                               : "?";
    out->num_lps = m->desc.num_lps;
    out->lps_initialized = __atomic_load_n(&m->lps_initialized, __ATOMIC_ACQUIRE);
    out->num_pkgs = m->desc.num_pkgs;
    out->pkgs_configured = (unsigned)__builtin_popcount(m->pkgs_configured);
    out->num_tdmrs = m->num_tdmrs;
    for (unsigned i = 0; i < m->num_tdmrs; i++) {
        out->tdmr_bytes += m->tdmr[i].size;
        out->tdmr_bytes_initialized +=
            __atomic_load_n(&m->tdmr[i].init_done, __ATOMIC_ACQUIRE);
    }
    for (unsigned k = tdx_td_first_hkid(m);
         k < tdx_td_first_hkid(m) + tdx_td_num_hkids(m); k++) {
        switch (__atomic_load_n(&m->kot_state[k], __ATOMIC_RELAXED)) {
        case TDX_KOT_FREE:
            out->hkids_free++;
            break;
        case TDX_KOT_ASSIGNED:
            out->hkids_assigned++;
            break;
        default:
            out->hkids_flushed++;
            break;
        }
    }
    /* Racy by design: a monitor snapshot, not a consistent cut. */
    for (unsigned b = 0; b < m->num_pamt_blocks; b++) {
        const struct tdx_pamt_block *blk = &m->pamt[b];
        uint64_t pages = blk->size / TDX_PAGE_SIZE;

        for (uint64_t c = 0; c < blk->num_chunks; c++) {
            struct tdx_pamt_entry *chunk = atomic_load(&blk->chunks[c]);
            uint64_t n = pages - c * TDX_PAMT_CHUNK_PAGES;

            if (n > TDX_PAMT_CHUNK_PAGES) {
                n = TDX_PAMT_CHUNK_PAGES;
            }
            if (!chunk) {
                out->pages_by_type[TDX_PT_NDA] += n;
                continue;
            }
            for (uint64_t i = 0; i < n; i++) {
                out->pages_by_type[chunk[i].type & 15]++;
            }
        }
    }
    out->num_tds = out->pages_by_type[TDX_PT_TDR];
}

unsigned tdx_module_list_tds(struct tdx_module *m, struct tdx_td_summary *out,
                             unsigned max)
{
    unsigned n = 0;

    /* Like tdx_module_get_info: racy by design. Only PAMT entry fields are
     * read, never a TD object, which a concurrent reclaim may free. */
    for (int pass = 0; pass < 2; pass++) {
        for (unsigned b = 0; b < m->num_pamt_blocks; b++) {
            const struct tdx_pamt_block *blk = &m->pamt[b];
            uint64_t pages = blk->size / TDX_PAGE_SIZE;

            for (uint64_t c = 0; c < blk->num_chunks; c++) {
                struct tdx_pamt_entry *chunk = atomic_load(&blk->chunks[c]);
                uint64_t cn = pages - c * TDX_PAMT_CHUNK_PAGES;

                if (cn > TDX_PAMT_CHUNK_PAGES) {
                    cn = TDX_PAMT_CHUNK_PAGES;
                }
                for (uint64_t i = 0; chunk && i < cn; i++) {
                    const struct tdx_pamt_entry *e = &chunk[i];
                    uint64_t pa = blk->base + (c * TDX_PAMT_CHUNK_PAGES + i) *
                                  TDX_PAGE_SIZE;
                    uint8_t type = e->type;
                    uint64_t owner = e->owner;

                    if (pass == 0) {
                        if (type == TDX_PT_TDR && n < max) {
                            memset(&out[n], 0, sizeof(out[n]));
                            out[n++].tdr_pa = pa;
                        }
                        continue;
                    }
                    if (!owner || type == TDX_PT_TDR) {
                        continue;
                    }
                    for (unsigned t = 0; t < n; t++) {
                        if (out[t].tdr_pa != owner) {
                            continue;
                        }
                        out[t].num_vcpus += type == TDX_PT_TDVPR;
                        out[t].tdcx_pages += type == TDX_PT_TDCX;
                        out[t].private_pages += type == TDX_PT_REG;
                        out[t].sept_pages += type == TDX_PT_EPT;
                        break;
                    }
                }
            }
        }
    }
    return n;
}
