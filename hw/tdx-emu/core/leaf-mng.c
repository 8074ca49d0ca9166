/*
 * TD management leaves: TDH.MNG.CREATE, KEY.CONFIG, ADDCX, INIT, RD, WR,
 * VPFLUSHDONE, KEY.FREEID.
 *
 * TD lifecycle (TDR.LIFECYCLE, Intel tdx_1.5):
 *   CREATE -> HKID_ASSIGNED -> KEY.CONFIG on every package -> KEYS_CONFIGURED
 *   -> VPFLUSHDONE -> BLOCKED -> (CACHE.WB on every package) KEY.FREEID
 *   -> TEARDOWN -> PHYMEM.PAGE.RECLAIM of every page, the TDR last.
 * The KOT entry of the HKID follows: FREE -> ASSIGNED -> FLUSHED -> FREE.
 *
 * Lock sets, order, modes and operand IDs are in tdx_td_lock_table (td.c).
 */
#include <stdlib.h>
#include <string.h>

#include "global-md.h"
#include "td.h"

/* ---- TDH.MNG.CREATE (9) -------------------------------------------------- */

uint64_t tdx_leaf_mng_create(struct tdx_call *c, struct tdx_regs *r)
{
    struct tdx_module *m = c->m;
    const uint64_t tdr_pa = r->rcx, hkid = r->rdx;
    const unsigned first = tdx_td_first_hkid(m), n = tdx_td_num_hkids(m);
    struct tdx_pamt_entry *e;
    struct tdx_td *td;
    uint64_t st;

    c->tdr_pa = tdr_pa;
    if (hkid < first || hkid >= first + n || hkid >= TDX_MAX_HKIDS) {
        return TDX_OPERAND_INVALID | TDX_OPERAND_ID_RDX;
    }
    st = tdx_td_lock_page(c, tdr_pa, TDX_OPERAND_ID_RCX, TDX_LOCK_EXCLUSIVE,
                          TDX_PT_NDA, &e);
    if (st != TDX_SUCCESS) {
        return st;
    }
    st = tdx_call_lock(c, &m->kot_lock, TDX_LOCK_SHAREX, TDX_LOCK_EXCLUSIVE,
                       TDX_OPERAND_BUSY | TDX_OPERAND_ID_KOT);
    if (st != TDX_SUCCESS) {
        return st;
    }
    /* The module's own KeyID (SYS.CONFIG) is never free for a TD. */
    if (m->kot_state[hkid] != TDX_KOT_FREE || hkid == m->global_hkid) {
        return TDX_HKID_NOT_FREE;
    }
    /* Host memory for the TDR/TDCS state: one object per TDR page, and a
     * TDR needs a free HKID, so at most TDX_MAX_HKIDS live at once.
     * Allocation failure maps to a status Linux retries. */
    td = calloc(1, sizeof(*td));
    if (!td) {
        return TDX_RND_NO_ENTROPY;
    }
    /* Scrub: L1 keeps no view of what the page held. */
    if (tdx_mem_zero(m, tdr_pa, TDX_PAGE_SIZE)) {
        free(td);
        return TDX_OPERAND_ADDR_RANGE_ERROR | TDX_OPERAND_ID_RCX;
    }

    /* Cannot fail from here. */
    td->m = m;
    td->tdr_pa = tdr_pa;
    td->hkid = (uint16_t)hkid;
    td->lifecycle = TDX_TD_HKID_ASSIGNED;
    tdx_lock_init(&td->op_state_lock);
    tdx_lock_init(&td->sept_tree_lock);
    tdx_lock_init(&td->epoch_lock);
    tdx_lock_init(&td->rtmr_lock);
    atomic_init(&td->op_state, TDX_OP_UNINITIALIZED);
    m->kot_state[hkid] = TDX_KOT_ASSIGNED;
    e->type = TDX_PT_TDR;
    e->size = 0;
    e->owner = 0;
    e->obj = td;
    return TDX_SUCCESS;
}

/* ---- TDH.MNG.KEY.CONFIG (8) ---------------------------------------------- */

uint64_t tdx_leaf_mng_key_config(struct tdx_call *c, struct tdx_regs *r)
{
    struct tdx_module *m = c->m;
    const unsigned pkg = m->desc.lp_pkg[c->lp];
    const uint32_t all = (uint32_t)((1ULL << m->desc.num_pkgs) - 1);
    struct tdx_td *td;
    uint64_t st;

    st = tdx_td_lock_tdr(c, r->rcx, TDX_OPERAND_ID_RCX, TDX_LOCK_EXCLUSIVE, &td);
    if (st != TDX_SUCCESS) {
        return st;
    }
    if (td->fatal) {
        return TDX_TD_FATAL;
    }
    if (td->lifecycle != TDX_TD_HKID_ASSIGNED) {
        return TDX_LIFECYCLE_STATE_INCORRECT;
    }
    if (td->pkg_config_bitmap & (1u << pkg)) {
        return TDX_KEY_CONFIGURED;
    }
    /*
     * Programming the key goes through the package's PCONFIG engine; a busy
     * engine is reported with the KET operand. We model the engine with the
     * package's key-programming mutex, which is also what serialises it
     * against TDH.SYS.KEY.CONFIG.
     */
    st = tdx_call_lock(c, &m->pkg_lock[pkg], TDX_LOCK_MUTEX, TDX_LOCK_EXCLUSIVE,
                       TDX_OPERAND_BUSY | TDX_OPERAND_ID_KET);
    if (st != TDX_SUCCESS) {
        return st;
    }

    /* Cannot fail from here. */
    td->pkg_config_bitmap |= 1u << pkg;
    if ((td->pkg_config_bitmap & all) == all) {
        td->lifecycle = TDX_TD_KEYS_CONFIGURED;
    }
    return TDX_SUCCESS;
}

/* ---- TDH.MNG.ADDCX (1) --------------------------------------------------- */

uint64_t tdx_leaf_mng_addcx(struct tdx_call *c, struct tdx_regs *r)
{
    struct tdx_module *m = c->m;
    const uint64_t page_pa = r->rcx;
    struct tdx_pamt_entry *e;
    struct tdx_td *td;
    uint64_t st;

    st = tdx_td_lock_tdr(c, r->rdx, TDX_OPERAND_ID_RDX, TDX_LOCK_EXCLUSIVE, &td);
    if (st != TDX_SUCCESS) {
        return st;
    }
    if (td->fatal) {
        return TDX_TD_FATAL;
    }
    if (td->lifecycle != TDX_TD_KEYS_CONFIGURED) {
        return TDX_TD_KEYS_NOT_CONFIGURED;
    }
    /* No TD partitioning (L2 VMs): the TDCS is exactly TDX_TD_TDCS_PAGES. */
    if (td->num_tdcx >= TDX_TD_TDCS_PAGES) {
        return TDX_TDCX_NUM_INCORRECT;
    }
    st = tdx_td_lock_page(c, page_pa, TDX_OPERAND_ID_RCX, TDX_LOCK_EXCLUSIVE,
                          TDX_PT_NDA, &e);
    if (st != TDX_SUCCESS) {
        return st;
    }
    if (tdx_mem_zero(m, page_pa, TDX_PAGE_SIZE)) {
        return TDX_OPERAND_ADDR_RANGE_ERROR | TDX_OPERAND_ID_RCX;
    }

    /* Cannot fail from here. */
    td->tdcx_pa[td->num_tdcx++] = page_pa;
    atomic_fetch_add(&td->chldcnt, 1);
    e->type = TDX_PT_TDCX;
    e->size = 0;
    e->owner = td->tdr_pa;
    return TDX_SUCCESS;
}

/* ---- TDH.MNG.INIT (21) --------------------------------------------------- */


/* Read what TDH.SYS.RD advertises, so MNG.INIT checks exactly that. */
static uint64_t sys_md(struct tdx_call *c, uint64_t id, bool *ok)
{
    struct tdx_regs q = { .rdx = id };

    if (tdx_leaf_sys_rd(c, &q) != TDX_SUCCESS) {
        *ok = false;
        return 0;
    }
    return q.r8;
}

/* Config flags a VMM may set: GPAW, FLEXIBLE_PENDING_VE, NO_RBP_MOD. */
#define TD_CONFIG_FLAGS_ALLOWED 0x7ULL
/* Default host-priority lock timeout: 1 s (MNG.WR may set 10 ms .. 100 s). */
#define HP_LOCK_TIMEOUT_DEFAULT_NS 1000000000ULL

uint64_t tdx_leaf_mng_init(struct tdx_call *c, struct tdx_regs *r)
{
    struct tdx_module *m = c->m;
    const uint64_t params_pa = r->rdx;
    struct tdx_cpuid_config cpuid[TDX_MAX_CPUID_CONFIGS];
    struct tdx_td_params_limits lim = { 0 };
    struct tdx_td_config *cfg;
    uint8_t *params;
    uint64_t st, ext = 0;
    struct tdx_td *td;
    bool ok = true;

    st = tdx_td_lock_tdr(c, r->rcx, TDX_OPERAND_ID_RCX, TDX_LOCK_EXCLUSIVE, &td);
    if (st != TDX_SUCCESS) {
        return st;
    }
    r->rcx = 0;     /* output: extended error information */
    st = tdx_td_check_state(c, td, false);
    if (st != TDX_SUCCESS) {
        return st;
    }
    /* TD_PARAMS: 1024-byte aligned shared memory (no KeyID bits). */
    if ((params_pa & (TDX_TD_PARAMS_ALIGN - 1)) ||
        (params_pa >> tdx_keyid_shift(m))) {
        return TDX_OPERAND_INVALID | TDX_OPERAND_ID_RDX;
    }
    /* A private page is not shared memory. */
    {
        struct tdx_pamt_entry *pe = tdx_pamt_lookup(m, params_pa & ~(TDX_PAGE_SIZE - 1));

        if (pe && pe->type != TDX_PT_NDA && pe->type != TDX_PT_RSVD) {
            return TDX_OPERAND_INVALID | TDX_OPERAND_ID_RDX;
        }
    }

    lim.attributes_fixed0 = sys_md(c, MD_ATTRIBUTES_FIXED0, &ok);
    lim.attributes_fixed1 = sys_md(c, MD_ATTRIBUTES_FIXED1, &ok);
    lim.xfam_fixed0 = sys_md(c, MD_XFAM_FIXED0, &ok);
    lim.xfam_fixed1 = sys_md(c, MD_XFAM_FIXED1, &ok);
    lim.config_flags_fixed0 = TD_CONFIG_FLAGS_ALLOWED;
    lim.config_flags_fixed1 = 0;
    lim.max_vcpus_per_td = (uint32_t)sys_md(c, MD_MAX_VCPUS_PER_TD, &ok);
    lim.max_pwl = m->desc.max_pa_bits > 48 ? 5 : 4;
    lim.max_pa = m->desc.max_pa_bits;
    /*
     * The platform gives no native TSC frequency; the TSC the TD sees is
     * L1's (TCG) TSC scaled by virt/native. We take native == virtual,
     * i.e. a multiplier of exactly 1.0, and a zero offset (see report).
     */
    lim.native_tsc_hz = 0;
    lim.num_cpuid_configs = (unsigned)sys_md(c, MD_NUM_CPUID_CONFIG, &ok);
    if (lim.num_cpuid_configs > TDX_MAX_CPUID_CONFIGS) {
        lim.num_cpuid_configs = TDX_MAX_CPUID_CONFIGS;
    }
    for (unsigned i = 0; i < lim.num_cpuid_configs && ok; i++) {
        uint64_t leaf = sys_md(c, MD_CPUID_CONFIG_LEAVES + i, &ok);
        uint64_t v0 = sys_md(c, MD_CPUID_CONFIG_VALUES + 2 * i, &ok);
        uint64_t v1 = sys_md(c, MD_CPUID_CONFIG_VALUES + 2 * i + 1, &ok);

        cpuid[i].leaf = (uint32_t)leaf;
        cpuid[i].subleaf = (uint32_t)(leaf >> 32);
        cpuid[i].mask[0] = (uint32_t)v0;
        cpuid[i].mask[1] = (uint32_t)(v0 >> 32);
        cpuid[i].mask[2] = (uint32_t)v1;
        cpuid[i].mask[3] = (uint32_t)(v1 >> 32);
    }
    if (!ok) {
        /* This LP skipped SYS.LP.INIT: it cannot read the module's limits. */
        return TDX_SYS_LP_INIT_NOT_DONE;
    }
    lim.cpuid_configs = cpuid;

    /* One copy of TD_PARAMS, checked and used from host memory. */
    params = malloc(TDX_TD_PARAMS_SIZE);
    cfg = malloc(sizeof(*cfg));
    if (!params || !cfg) {
        free(params);
        free(cfg);
        return TDX_RND_NO_ENTROPY;
    }
    if (tdx_mem_read(m, params_pa, params, TDX_TD_PARAMS_SIZE)) {
        st = TDX_OPERAND_INVALID | TDX_OPERAND_ID_RDX;
    } else {
        st = tdx_td_params_check(params, &lim, cfg, &ext);
    }
    if (st != TDX_SUCCESS) {
        r->rcx = ext;
        free(params);
        free(cfg);
        return st;
    }
    if (cfg->tsc_multiplier == 0) {
        cfg->tsc_multiplier = 1ULL << 48;
    }

    /* Cannot fail from here. */
    td->cfg = *cfg;
    td->eptp = cfg->eptp_controls | td->tdcx_pa[TDX_TDCS_SEPT_ROOT];
    td->tsc_offset = 0;
    td->hp_lock_timeout_ns = HP_LOCK_TIMEOUT_DEFAULT_NS;
    /* The TD epoch starts at 1 (Intel's MNG.INIT), both refcounts at 0. */
    atomic_store(&td->td_epoch, 1);
    atomic_store(&td->epoch_refcount[0], 0);
    atomic_store(&td->epoch_refcount[1], 0);
    td->num_cpuid = lim.num_cpuid_configs;
    for (unsigned i = 0; i < lim.num_cpuid_configs; i++) {
        td->cpuid[i].leaf = cpuid[i].leaf;
        td->cpuid[i].subleaf = cpuid[i].subleaf;
        memcpy(td->cpuid[i].v, cfg->cpuid_values[i], sizeof(td->cpuid[i].v));
        memcpy(td->cpuid[i].mask, cpuid[i].mask, sizeof(td->cpuid[i].mask));
    }
    tdx_mrtd_start(&td->mr);
    atomic_store(&td->op_state, TDX_OP_INITIALIZED);
    free(params);
    free(cfg);
    return TDX_SUCCESS;
}

/* ---- TDH.MNG.RD (11) / TDH.MNG.WR (13) ----------------------------------- */

/*
 * CPUID as the TD sees it (TDCS.CPUID_VALUES). The native baseline is not
 * modelled: a configurable leaf reads as configured by TD_PARAMS, and
 * leaves 0 and 0x80000000, which KVM needs to enumerate the rest
 * (KVM_TDX_GET_CPUID), report the highest leaf of their range. Anything
 * else is not a field (KVM skips those leaves).
 */
static bool td_cpuid(const struct tdx_td *td, uint32_t leaf, uint32_t subleaf,
                     bool na, uint32_t out[4])
{
    memset(out, 0, 4 * sizeof(uint32_t));
    for (unsigned i = 0; i < td->num_cpuid; i++) {
        const struct tdx_td_cpuid *e = &td->cpuid[i];
        bool e_na = e->subleaf == 0xFFFFFFFFu;

        if (e->leaf == leaf && e_na == na && (na || e->subleaf == subleaf)) {
            memcpy(out, e->v, 4 * sizeof(uint32_t));
            return true;
        }
    }
    if ((leaf == 0 || leaf == 0x80000000u) && na) {
        uint32_t max = leaf;

        for (unsigned i = 0; i < td->num_cpuid; i++) {
            if ((td->cpuid[i].leaf & 0x80000000u) == leaf && td->cpuid[i].leaf > max) {
                max = td->cpuid[i].leaf;
            }
        }
        out[0] = max;
        return true;
    }
    return false;
}

static uint64_t td_field_get(const struct tdx_td *td, const struct tdx_md_field *f,
                             unsigned elem)
{
    switch (f->slot) {
    case TDX_SLOT_TDR_FATAL:            return td->fatal;
    case TDX_SLOT_TDR_NUM_TDCX:         return td->num_tdcx;
    case TDX_SLOT_TDR_CHLDCNT:          return atomic_load(&td->chldcnt);
    case TDX_SLOT_TDR_LIFECYCLE:        return td->lifecycle;
    case TDX_SLOT_TDR_TDCX_PA:
        return elem < td->num_tdcx ? td->tdcx_pa[elem] : ~0ULL;
    case TDX_SLOT_TDR_HKID:             return td->hkid;
    case TDX_SLOT_TDR_PKG_CONFIG_BITMAP: return td->pkg_config_bitmap;
    case TDX_SLOT_TDCS_NUM_VCPUS:       return atomic_load(&td->num_vcpus);
    case TDX_SLOT_TDCS_NUM_ASSOC_VCPUS: return atomic_load(&td->num_assoc_vcpus);
    case TDX_SLOT_TDCS_OP_STATE:        return (uint64_t)atomic_load(&td->op_state);
    case TDX_SLOT_TDCS_NUM_L2_VMS:      return td->cfg.num_l2_vms;
    case TDX_SLOT_TDCS_ATTRIBUTES:      return td->cfg.attributes;
    case TDX_SLOT_TDCS_XFAM:            return td->cfg.xfam;
    case TDX_SLOT_TDCS_MAX_VCPUS:       return td->cfg.max_vcpus;
    case TDX_SLOT_TDCS_GPAW:            return td->cfg.gpaw;
    case TDX_SLOT_TDCS_EPTP:            return td->eptp;
    case TDX_SLOT_TDCS_TSC_OFFSET:      return td->tsc_offset;
    case TDX_SLOT_TDCS_TSC_MULTIPLIER:  return td->cfg.tsc_multiplier;
    case TDX_SLOT_TDCS_TSC_FREQUENCY:   return td->cfg.tsc_frequency;
    case TDX_SLOT_TDCS_NUM_CPUID_VALUES: return td->num_cpuid;
    case TDX_SLOT_TDCS_HP_LOCK_TIMEOUT:
        return __atomic_load_n(&td->hp_lock_timeout_ns, __ATOMIC_RELAXED) / 1000;
    case TDX_SLOT_TDCS_CONFIG_FLAGS:    return td->cfg.config_flags;
    case TDX_SLOT_TDCS_TD_EPOCH:        return atomic_load(&td->td_epoch);
    case TDX_SLOT_TDCS_REFCOUNT:
        return atomic_load(&td->epoch_refcount[elem & 1]);
    case TDX_SLOT_TDCS_MRTD:
    case TDX_SLOT_TDCS_MRCONFIGID:
    case TDX_SLOT_TDCS_MROWNER:
    case TDX_SLOT_TDCS_MROWNERCONFIG: {
        const uint8_t *b = f->slot == TDX_SLOT_TDCS_MRTD ? td->mr.mrtd :
                           f->slot == TDX_SLOT_TDCS_MRCONFIGID ? td->cfg.mrconfigid :
                           f->slot == TDX_SLOT_TDCS_MROWNER ? td->cfg.mrowner :
                           td->cfg.mrownerconfig;
        uint64_t v = 0;

        if (f->slot == TDX_SLOT_TDCS_MRTD && !td->mr.finalized) {
            return 0;
        }
        for (int i = 7; i >= 0; i--) {
            v = (v << 8) | b[8 * (elem % 6) + (unsigned)i];
        }
        return v;
    }
    }
    return 0;
}

/* HP_LOCK_TIMEOUT is written in microseconds: 10 ms .. 100 s. */
#define HP_LOCK_TIMEOUT_MIN_US 10000ULL
#define HP_LOCK_TIMEOUT_MAX_US 100000000ULL

static uint64_t mng_rd_wr(struct tdx_call *c, struct tdx_regs *r, bool write)
{
    const uint64_t field = r->rdx, wr_value = r->r8, wr_mask = r->r9;
    const struct tdx_md_field *f;
    struct tdx_td *td;
    unsigned elem;
    uint64_t st, rd_mask, wmask, v;
    bool debug;

    if (!write && c->version > 0) {
        r->rdx = ~0ULL;         /* next field ID: not enumerated */
    }
    r->r8 = 0;
    st = tdx_td_lock_tdr(c, r->rcx, TDX_OPERAND_ID_RCX, TDX_LOCK_SHARED, &td);
    if (st != TDX_SUCCESS) {
        return st;
    }
    st = tdx_td_check_state(c, td, true);
    if (st != TDX_SUCCESS) {
        return st;
    }
    if (tdx_md_is_cpuid_field(field)) {
        uint32_t leaf, sub, out[4];
        bool na;

        if (write) {
            return TDX_METADATA_FIELD_NOT_WRITABLE;
        }
        if ((field & TDX_MD_SINGLE_MBZ_MASK) || (field & 0xFE0000ULL)) {
            return TDX_METADATA_FIELD_ID_INCORRECT;
        }
        tdx_md_cpuid_decode(field, &leaf, &sub, &na, &elem);
        if (!td_cpuid(td, leaf, sub, na, out)) {
            return TDX_METADATA_FIELD_ID_INCORRECT;
        }
        r->r8 = elem ? ((uint64_t)out[3] << 32 | out[2])
                     : ((uint64_t)out[1] << 32 | out[0]);
        return TDX_SUCCESS;
    }
    st = tdx_md_lookup(TDX_MD_CTX_TD, field, &f, &elem);
    if (st != TDX_SUCCESS) {
        return st;
    }
    debug = td->cfg.attributes & TDX_ATTR_DEBUG;
    rd_mask = (debug ? f->dbg_rd_mask : f->rd_mask) & tdx_md_size_mask(f);
    wmask = (debug ? f->dbg_wr_mask : f->wr_mask) & tdx_md_size_mask(f);
    if (!write) {
        if (!rd_mask) {
            return TDX_METADATA_FIELD_NOT_READABLE;
        }
        r->r8 = td_field_get(td, f, elem) & rd_mask;
        return TDX_SUCCESS;
    }
    if (!(wmask & wr_mask)) {
        return TDX_METADATA_FIELD_NOT_WRITABLE;
    }
    {
        uint64_t old = td_field_get(td, f, elem);

        if (!tdx_md_merge_write(old, wr_value, wr_mask, wmask, tdx_md_size_mask(f),
                                f->flags & TDX_MDF_INIT_NULL, &v)) {
            return TDX_METADATA_FIELD_VALUE_NOT_VALID;
        }
        /* Only HP_LOCK_TIMEOUT is host-writable in the TD scope. */
        if (f->slot != TDX_SLOT_TDCS_HP_LOCK_TIMEOUT ||
            v < HP_LOCK_TIMEOUT_MIN_US || v > HP_LOCK_TIMEOUT_MAX_US) {
            return TDX_METADATA_FIELD_VALUE_NOT_VALID;
        }

        /* Cannot fail from here. TDR is only shared: store atomically. */
        __atomic_store_n(&td->hp_lock_timeout_ns, v * 1000, __ATOMIC_RELAXED);
        r->r8 = old & rd_mask;
    }
    return TDX_SUCCESS;
}

uint64_t tdx_leaf_mng_rd(struct tdx_call *c, struct tdx_regs *r)
{
    return mng_rd_wr(c, r, false);
}

uint64_t tdx_leaf_mng_wr(struct tdx_call *c, struct tdx_regs *r)
{
    return mng_rd_wr(c, r, true);
}

/* ---- TDH.MNG.VPFLUSHDONE (19) -------------------------------------------- */

uint64_t tdx_leaf_mng_vpflushdone(struct tdx_call *c, struct tdx_regs *r)
{
    struct tdx_module *m = c->m;
    struct tdx_td *td;
    uint64_t st;

    st = tdx_td_lock_tdr(c, r->rcx, TDX_OPERAND_ID_RCX, TDX_LOCK_EXCLUSIVE, &td);
    if (st != TDX_SUCCESS) {
        return st;
    }
    st = tdx_call_lock(c, &m->kot_lock, TDX_LOCK_SHAREX, TDX_LOCK_EXCLUSIVE,
                       TDX_OPERAND_BUSY | TDX_OPERAND_ID_KOT);
    if (st != TDX_SUCCESS) {
        return st;
    }
    if (td->lifecycle != TDX_TD_HKID_ASSIGNED &&
        td->lifecycle != TDX_TD_KEYS_CONFIGURED) {
        return TDX_LIFECYCLE_STATE_INCORRECT;
    }
    /* With TDR exclusive no VP.ENTER/RD/WR can associate meanwhile. */
    if (td->num_tdcx >= TDX_TD_TDCS_PAGES &&
        atomic_load(&td->num_assoc_vcpus) != 0) {
        return TDX_FLUSHVP_NOT_DONE;
    }

    /* Cannot fail from here. Every package must now write back its caches
     * for this HKID (TDH.PHYMEM.CACHE.WB) before KEY.FREEID. */
    atomic_store(&m->kot_wbinvd[td->hkid],
                 (uint32_t)((1ULL << m->desc.num_pkgs) - 1));
    m->kot_state[td->hkid] = TDX_KOT_FLUSHED;
    td->lifecycle = TDX_TD_BLOCKED;
    return TDX_SUCCESS;
}

/* ---- TDH.MNG.KEY.FREEID (20) --------------------------------------------- */

uint64_t tdx_leaf_mng_key_freeid(struct tdx_call *c, struct tdx_regs *r)
{
    struct tdx_module *m = c->m;
    struct tdx_td *td;
    uint64_t st;

    st = tdx_td_lock_tdr(c, r->rcx, TDX_OPERAND_ID_RCX, TDX_LOCK_EXCLUSIVE, &td);
    if (st != TDX_SUCCESS) {
        return st;
    }
    if (td->lifecycle != TDX_TD_BLOCKED) {
        return TDX_LIFECYCLE_STATE_INCORRECT;
    }
    st = tdx_call_lock(c, &m->kot_lock, TDX_LOCK_SHAREX, TDX_LOCK_EXCLUSIVE,
                       TDX_OPERAND_BUSY | TDX_OPERAND_ID_KOT);
    if (st != TDX_SUCCESS) {
        return st;
    }
    if (atomic_load(&m->kot_wbinvd[td->hkid]) != 0) {
        return TDX_WBCACHE_NOT_COMPLETE;
    }

    /* Cannot fail from here. */
    m->kot_state[td->hkid] = TDX_KOT_FREE;
    td->lifecycle = TDX_TD_TEARDOWN;
    return TDX_SUCCESS;
}
