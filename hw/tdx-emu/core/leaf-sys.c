/*
 * Platform leaves: TDH.SYS.* — module lifecycle, global metadata, TDMR and
 * PAMT configuration, key programming.
 *
 * Lifecycle (Intel tdx_1.5): SYS.INIT -> SYS.LP.INIT on every LP ->
 * SYS.CONFIG -> SYS.KEY.CONFIG on every package (module becomes READY) ->
 * SYS.TDMR.INIT until every TDMR's PAMT is initialized.
 *
 * The module-global lock is a plain sharex; contention on it is reported as
 * TDX_SYS_BUSY without an operand ID.
 */
#include <string.h>

#include "global-md.h"
#include "module.h"

/* ---- Global metadata (TDH.SYS.RD) -------------------------------------- */

/*
 * Field IDs and the values we report. Linux 7.2 reads these in
 * arch/x86/virt/vmx/tdx/tdx_global_metadata.c; KVM checks some of them
 * (TDX_FEATURES0.NO_RBP_MOD, TOPOLOGY_ENUM; MAX_VCPUS_PER_TD >= L1's CPUs).
 * The element size is encoded in field ID bits 33:32.
 */
#define FEATURES0_NO_RBP_MOD     (1ULL << 18)
#define FEATURES0_TOPOLOGY_ENUM  (1ULL << 20)

/* TD attributes a TD may set: DEBUG, SEPT_VE_DISABLE, PKS, PERFMON. */
#define TD_ATTRIBUTES_ALLOWED ((1ULL << 0) | (1ULL << 28) | (1ULL << 30) | (1ULL << 63))
/* XFAM: x87 and SSE always; AVX, AVX-512 state, PKRU allowed. */
#define TD_XFAM_ALLOWED  0x00000000000002E7ULL
#define TD_XFAM_REQUIRED 0x0000000000000003ULL

/*
 * CPUID leaves whose bits a VMM may configure (leaf | subleaf << 32,
 * subleaf ~0 = none) and the configurable bits: {EAX|EBX<<32, ECX|EDX<<32}.
 */
static const struct {
    uint64_t leaf;
    uint64_t value[2];
} cpuid_configs[] = {
    { 0xFFFFFFFF00000001ULL, { 0x00000000FFFF3FFFULL, 0xFFFFFFFFFFFFFFFFULL } },
    { 0x0000000000000007ULL, { 0xFFFFFFFF00000000ULL, 0xFFFFFFFFFFFFFFFFULL } },
    { 0x000000000000000DULL, { 0x00000000000000FFULL, 0x0000000000000000ULL } },
    { 0x000000010000000DULL, { 0x000000000000000FULL, 0x0000000000000000ULL } },
    { 0xFFFFFFFF80000008ULL, { 0x0000000000FF00FFULL, 0x0000000000000000ULL } },
};
#define NUM_CPUID_CONFIGS (sizeof(cpuid_configs) / sizeof(cpuid_configs[0]))

#define TDX_TDCS_PAGES  4
#define TDX_TDVPS_PAGES 6
#define TDX_MAX_VCPUS   64

struct md_field {
    uint64_t id;
    uint64_t value;
};

static const struct md_field md_fields[] = {
    { MD_MINOR_VERSION, 5 },
    { MD_MAJOR_VERSION, 1 },
    { MD_UPDATE_VERSION, 0 },
    { MD_TDX_FEATURES0, FEATURES0_NO_RBP_MOD | FEATURES0_TOPOLOGY_ENUM },
    { MD_MODULE_HV, 0 },
    { MD_MAX_TDMRS, TDX_MAX_TDMRS },
    { MD_MAX_RSVD_PER_TDMR, TDX_MAX_RSVD_PER_TDMR },
    { MD_PAMT_4K_ENTRY_SIZE, TDX_PAMT_ENTRY_SIZE },
    { MD_PAMT_2M_ENTRY_SIZE, TDX_PAMT_ENTRY_SIZE },
    { MD_PAMT_1G_ENTRY_SIZE, TDX_PAMT_ENTRY_SIZE },
    { MD_TDR_BASE_SIZE, TDX_PAGE_SIZE },
    { MD_TDCS_BASE_SIZE, TDX_TDCS_PAGES * TDX_PAGE_SIZE },
    { MD_TDVPS_BASE_SIZE, TDX_TDVPS_PAGES * TDX_PAGE_SIZE },
    { MD_ATTRIBUTES_FIXED0, TD_ATTRIBUTES_ALLOWED },
    { MD_ATTRIBUTES_FIXED1, 0 },
    { MD_XFAM_FIXED0, TD_XFAM_ALLOWED },
    { MD_XFAM_FIXED1, TD_XFAM_REQUIRED },
    { MD_NUM_CPUID_CONFIG, NUM_CPUID_CONFIGS },
    { MD_MAX_VCPUS_PER_TD, TDX_MAX_VCPUS },
};
#define NUM_MD_FIELDS (sizeof(md_fields) / sizeof(md_fields[0]))

/* Array fields are enumerated after the scalar ones, in ID order. */
static bool md_lookup(uint64_t id, uint64_t *value, uint64_t *next)
{
    const uint64_t n = NUM_CPUID_CONFIGS;

    for (size_t i = 0; i < NUM_MD_FIELDS; i++) {
        if (md_fields[i].id == id) {
            *value = md_fields[i].value;
            *next = i + 1 < NUM_MD_FIELDS ? md_fields[i + 1].id
                                          : MD_CPUID_CONFIG_LEAVES;
            return true;
        }
    }
    if (id >= MD_CPUID_CONFIG_LEAVES && id < MD_CPUID_CONFIG_LEAVES + n) {
        uint64_t i = id - MD_CPUID_CONFIG_LEAVES;

        *value = cpuid_configs[i].leaf;
        *next = i + 1 < n ? id + 1 : MD_CPUID_CONFIG_VALUES;
        return true;
    }
    if (id >= MD_CPUID_CONFIG_VALUES && id < MD_CPUID_CONFIG_VALUES + 2 * n) {
        uint64_t i = id - MD_CPUID_CONFIG_VALUES;

        *value = cpuid_configs[i / 2].value[i % 2];
        *next = i + 1 < 2 * n ? id + 1 : ~0ULL;
        return true;
    }
    return false;
}

uint64_t tdx_leaf_sys_rd(struct tdx_call *c, struct tdx_regs *r)
{
    struct tdx_module *m = c->m;
    uint64_t value, next;

    /* No lock: the metadata is constant once the module is loaded. */
    if (!m->lp[c->lp].initialized) {
        return TDX_SYS_LP_INIT_NOT_DONE;
    }
    if (r->rdx == 0) {
        /* A null field ID asks where the list starts. */
        r->rdx = md_fields[0].id;
        r->r8 = 0;
        return TDX_METADATA_FIRST_FIELD_ID_IN_CONTEXT;
    }
    if (!md_lookup(r->rdx, &value, &next)) {
        r->r8 = 0;
        return TDX_METADATA_FIELD_ID_INCORRECT | TDX_OPERAND_ID_RDX;
    }
    r->r8 = value;
    r->rdx = next;
    return TDX_SUCCESS;
}

/* ---- Lifecycle ---------------------------------------------------------- */

static uint64_t lock_global(struct tdx_call *c, enum tdx_lock_mode mode)
{
    return tdx_call_lock(c, &c->m->global_lock, TDX_LOCK_SHAREX, mode, TDX_SYS_BUSY);
}

uint64_t tdx_leaf_sys_init(struct tdx_call *c, struct tdx_regs *r)
{
    uint64_t status;

    if (r->rcx != 0) {          /* attributes: all bits reserved */
        return TDX_OPERAND_INVALID | TDX_OPERAND_ID_RCX;
    }
    status = lock_global(c, TDX_LOCK_EXCLUSIVE);
    if (status != TDX_SUCCESS) {
        return status;
    }
    if (atomic_load(&c->m->sys_state) != TDX_SYS_INIT_PENDING) {
        return TDX_SYS_INIT_NOT_PENDING;
    }
    /* Cannot fail from here. */
    atomic_store(&c->m->sys_state, TDX_SYS_INIT_DONE);
    return TDX_SUCCESS;
}

uint64_t tdx_leaf_sys_lp_init(struct tdx_call *c, struct tdx_regs *r)
{
    struct tdx_module *m = c->m;
    uint64_t status = lock_global(c, TDX_LOCK_SHARED);

    if (status != TDX_SUCCESS) {
        return status;
    }
    if (atomic_load(&m->sys_state) != TDX_SYS_INIT_DONE) {
        return TDX_SYS_LP_INIT_NOT_PENDING;
    }
    if (m->lp[c->lp].initialized) {
        return TDX_SYS_LP_INIT_DONE;
    }
    /* Cannot fail from here. Each LP writes only its own slot; the counter
     * is shared by all LPs holding the global lock shared. */
    m->lp[c->lp].initialized = true;
    __atomic_add_fetch(&m->lps_initialized, 1, __ATOMIC_RELEASE);
    return TDX_SUCCESS;
}

uint64_t tdx_leaf_sys_lp_shutdown(struct tdx_call *c, struct tdx_regs *r)
{
    return TDX_SUCCESS;     /* deprecated; always succeeds */
}

/* ---- TDMR configuration ------------------------------------------------- */

/*
 * TDH.SYS.CONFIG checks each TDMR_INFO in array order against itself and
 * the TDMRs before it, and reports the first problem with the module's
 * specific status and detail bytes (tdx_status_detail(): TDMR index,
 * PAMT level or reserved-area index, other TDMR index), as Intel's
 * tdh_sys_config does. Order per TDMR: base/size, reserved areas, PAMT
 * addresses, PAMT overlaps, PAMT vs available (non-reserved) memory,
 * PAMT inside CMRs, available memory inside CMRs.
 */
#define TDMR_INFO_ALIGN 512         /* array and each entry (ABI) */
#define TDMR_INFO_BYTES (64 + 16 * TDX_MAX_RSVD_PER_TDMR)

/* PAMT levels as the module numbers them in error details. */
enum { PAMT_4K = 0, PAMT_2M = 1, PAMT_1G = 2, PAMT_LEVELS = 3 };

static const uint64_t pamt_page_size[PAMT_LEVELS] = {
    TDX_PAGE_SIZE, 1ULL << 21, TDX_1G,
};

/* A raw TDMR_INFO as L1 wrote it (Linux's struct tdmr_info layout). */
struct tdmr_info_raw {
    uint64_t base, size;
    uint64_t pamt_base[PAMT_LEVELS], pamt_size[PAMT_LEVELS];   /* by level */
    uint64_t rsvd_off[TDX_MAX_RSVD_PER_TDMR], rsvd_size[TDX_MAX_RSVD_PER_TDMR];
};

static bool read_tdmr_info(struct tdx_module *m, uint64_t pa, struct tdmr_info_raw *t)
{
    uint64_t raw[TDMR_INFO_BYTES / 8];

    if (tdx_mem_read(m, pa, raw, sizeof(raw))) {
        return false;
    }
    t->base = raw[0];
    t->size = raw[1];
    /* In memory: 1G, 2M, 4K base/size pairs. */
    for (int lvl = 0; lvl < PAMT_LEVELS; lvl++) {
        t->pamt_base[lvl] = raw[2 + 2 * (2 - lvl)];
        t->pamt_size[lvl] = raw[3 + 2 * (2 - lvl)];
    }
    for (unsigned j = 0; j < TDX_MAX_RSVD_PER_TDMR; j++) {
        t->rsvd_off[j] = raw[8 + 2 * j];
        t->rsvd_size[j] = raw[9 + 2 * j];
    }
    return true;
}

/* [base, base + len) fits in the PA space and has no KeyID bits set. */
static bool pa_range_ok(const struct tdx_module *m, uint64_t base, uint64_t len)
{
    uint64_t limit = 1ULL << tdx_keyid_shift(m);

    return len && base < limit && len <= limit - base;
}

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return alen && blen && a < b + blen && b < a + alen;
}

/*
 * Calls fn(m, t, start, end, arg) for each available (non-reserved) part of
 * TDMR t, stopping at the first call that returns true. Reserved areas are
 * ordered and non-overlapping by the time this is used.
 */
typedef bool (*avail_fn)(const struct tdx_module *m, uint64_t start, uint64_t end,
                         const void *arg);

static bool for_each_avail(const struct tdx_module *m, const struct tdx_tdmr *t,
                           avail_fn fn, const void *arg)
{
    uint64_t pa = t->base;

    for (unsigned j = 0; j <= t->num_rsvd; j++) {
        uint64_t end = j < t->num_rsvd ? t->base + t->rsvd[j].offset
                                       : t->base + t->size;

        if (end > pa && fn(m, pa, end, arg)) {
            return true;
        }
        if (j < t->num_rsvd) {
            pa = t->base + t->rsvd[j].offset + t->rsvd[j].size;
        }
    }
    return false;
}

static bool avail_hits_range(const struct tdx_module *m, uint64_t start, uint64_t end,
                             const void *arg)
{
    const uint64_t *r = arg;     /* {base, size} */

    return overlaps(start, end - start, r[0], r[1]);
}

static bool avail_outside_cmrs(const struct tdx_module *m, uint64_t start, uint64_t end,
                               const void *arg)
{
    return !tdx_range_in_cmrs(m, start, end);
}

/* Does any of TDMR `pamt_of`'s PAMTs overlap TDMR `t`'s available memory?
 * Reports the first offending level. */
static bool pamt_hits_avail(const struct tdx_module *m, const struct tdx_tdmr *pamt_of,
                            const struct tdx_tdmr *t, int *lvl_out)
{
    static const int order[PAMT_LEVELS] = { PAMT_4K, PAMT_2M, PAMT_1G };

    for (int k = 0; k < PAMT_LEVELS; k++) {
        uint64_t r[2] = { pamt_of->pamt_base[order[k]], pamt_of->pamt_size[order[k]] };

        if (for_each_avail(m, t, avail_hits_range, r)) {
            *lvl_out = order[k];
            return true;
        }
    }
    return false;
}

/*
 * Validates TDMR i (raw in `in`) against staged[0..i-1] and fills
 * staged[i]. Returns TDX_SUCCESS or the module's status with details.
 */
static uint64_t check_tdmr(struct tdx_module *m, const struct tdmr_info_raw *in,
                           struct tdx_tdmr *staged, uint8_t i)
{
    struct tdx_tdmr *t = &staged[i];
    static const int lvl_order[PAMT_LEVELS] = { PAMT_1G, PAMT_2M, PAMT_4K };
    int lvl;

    memset(t, 0, sizeof(*t));
    tdx_lock_init(&t->init_lock);
    t->base = in->base;
    t->size = in->size;
    for (lvl = 0; lvl < PAMT_LEVELS; lvl++) {
        t->pamt_base[lvl] = in->pamt_base[lvl];
        t->pamt_size[lvl] = in->pamt_size[lvl];
    }

    /* Base and size: no wrap, ascending, disjoint, 1G granular, below the
     * KeyID bits. */
    if (t->base + t->size < t->base) {
        return tdx_status_detail(TDX_INVALID_TDMR, i, 0, 0, 0);
    }
    if (i && (t->base < staged[i - 1].base ||
              t->base < staged[i - 1].base + staged[i - 1].size)) {
        return tdx_status_detail(TDX_NON_ORDERED_TDMR, i, 0, 0, 0);
    }
    if ((t->base | t->size) & (TDX_1G - 1) || !pa_range_ok(m, t->base, t->size)) {
        return tdx_status_detail(TDX_INVALID_TDMR, i, 0, 0, 0);
    }

    /* Reserved areas: a zero-size entry ends the list, and nothing but
     * zero-size entries may follow it. */
    for (uint8_t j = 0; j < TDX_MAX_RSVD_PER_TDMR; j++) {
        uint64_t off = in->rsvd_off[j], size = in->rsvd_size[j];

        if (size == 0) {
            if (j + 1 < TDX_MAX_RSVD_PER_TDMR && in->rsvd_size[j + 1]) {
                return tdx_status_detail(TDX_NON_ORDERED_RESERVED_IN_TDMR, i, j, 0, 0);
            }
            continue;
        }
        if (off + size < off) {
            return tdx_status_detail(TDX_INVALID_RESERVED_IN_TDMR, i, j, 0, 0);
        }
        if (j && (off < in->rsvd_off[j - 1] ||
                  off < in->rsvd_off[j - 1] + in->rsvd_size[j - 1])) {
            return tdx_status_detail(TDX_NON_ORDERED_RESERVED_IN_TDMR, i, j, 0, 0);
        }
        if ((off | size) & (TDX_PAGE_SIZE - 1) || off > t->size || size > t->size - off) {
            return tdx_status_detail(TDX_INVALID_RESERVED_IN_TDMR, i, j, 0, 0);
        }
        t->rsvd[t->num_rsvd].offset = off;
        t->rsvd[t->num_rsvd].size = size;
        t->num_rsvd++;
    }

    /* PAMT areas: 4K granular, addressable, big enough (1G, 2M, 4K). */
    for (int k = 0; k < PAMT_LEVELS; k++) {
        uint64_t base, size;

        lvl = lvl_order[k];
        base = t->pamt_base[lvl];
        size = t->pamt_size[lvl];
        if (base + size < base || (base | size) & (TDX_PAGE_SIZE - 1) ||
            !pa_range_ok(m, base, size) ||
            size / TDX_PAMT_ENTRY_SIZE < t->size / pamt_page_size[lvl]) {
            return tdx_status_detail(TDX_INVALID_PAMT, i, (uint8_t)lvl, 0, 0);
        }
    }
    /* ... not overlapping earlier TDMRs' PAMTs, nor each other ... */
    for (uint8_t j = 0; j < i; j++) {
        for (lvl = 0; lvl < PAMT_LEVELS; lvl++) {
            for (int o = 0; o < PAMT_LEVELS; o++) {
                if (overlaps(t->pamt_base[lvl], t->pamt_size[lvl],
                             staged[j].pamt_base[o], staged[j].pamt_size[o])) {
                    return tdx_status_detail(TDX_PAMT_OVERLAP, i, (uint8_t)lvl, j, 0);
                }
            }
        }
    }
    if (overlaps(t->pamt_base[PAMT_4K], t->pamt_size[PAMT_4K],
                 t->pamt_base[PAMT_2M], t->pamt_size[PAMT_2M]) ||
        overlaps(t->pamt_base[PAMT_4K], t->pamt_size[PAMT_4K],
                 t->pamt_base[PAMT_1G], t->pamt_size[PAMT_1G])) {
        return tdx_status_detail(TDX_PAMT_OVERLAP, i, PAMT_4K, i, 0);
    }
    if (overlaps(t->pamt_base[PAMT_2M], t->pamt_size[PAMT_2M],
                 t->pamt_base[PAMT_1G], t->pamt_size[PAMT_1G])) {
        return tdx_status_detail(TDX_PAMT_OVERLAP, i, PAMT_2M, i, 0);
    }
    /* ... not in memory a TD could be given (any TDMR's available part:
     * this TDMR's PAMTs vs TDMRs 0..i, earlier PAMTs vs this TDMR) ... */
    for (uint8_t j = 0; j <= i; j++) {
        if (pamt_hits_avail(m, t, &staged[j], &lvl)) {
            return tdx_status_detail(TDX_PAMT_OVERLAP, i, (uint8_t)lvl, j, 0);
        }
        if (j < i && pamt_hits_avail(m, &staged[j], t, &lvl)) {
            return tdx_status_detail(TDX_PAMT_OVERLAP, j, (uint8_t)lvl, i, 0);
        }
    }
    /* ... and inside convertible memory. */
    for (int k = 0; k < PAMT_LEVELS; k++) {
        lvl = lvl_order[k];
        if (!tdx_range_in_cmrs(m, t->pamt_base[lvl], t->pamt_base[lvl] + t->pamt_size[lvl])) {
            return tdx_status_detail(TDX_PAMT_OUTSIDE_CMRS, i, (uint8_t)lvl, 0, 0);
        }
    }

    /* Every page a TD could be given must be convertible. */
    if (for_each_avail(m, t, avail_outside_cmrs, NULL)) {
        return tdx_status_detail(TDX_TDMR_OUTSIDE_CMRS, i, 0, 0, 0);
    }
    return TDX_SUCCESS;
}

uint64_t tdx_leaf_sys_config(struct tdx_call *c, struct tdx_regs *r)
{
    struct tdx_module *m = c->m;
    struct tdx_tdmr *staged = m->staged_tdmr;
    uint64_t pas[TDX_MAX_TDMRS];
    uint64_t status = lock_global(c, TDX_LOCK_EXCLUSIVE);

    if (status != TDX_SUCCESS) {
        return status;
    }
    if (atomic_load(&m->sys_state) != TDX_SYS_INIT_DONE ||
        m->lps_initialized != m->desc.num_lps) {
        return TDX_SYS_CONFIG_NOT_PENDING;
    }
    if (r->rcx & (TDMR_INFO_ALIGN - 1) || r->rcx >> tdx_keyid_shift(m)) {
        return TDX_OPERAND_INVALID | TDX_OPERAND_ID_RCX;
    }
    if (r->rdx == 0 || r->rdx > TDX_MAX_TDMRS) {
        return TDX_OPERAND_INVALID | TDX_OPERAND_ID_RDX;
    }
    /* The global (module) KeyID must be a TDX private KeyID. */
    if (r->r8 < m->desc.mktme_keyids ||
        r->r8 >= m->desc.mktme_keyids + m->desc.tdx_keyids) {
        return TDX_OPERAND_INVALID | TDX_OPERAND_ID_R8;
    }
    if (tdx_mem_read(m, r->rcx, pas, r->rdx * sizeof(pas[0]))) {
        return TDX_OPERAND_INVALID | TDX_OPERAND_ID_RCX;
    }
    for (uint64_t i = 0; i < r->rdx; i++) {
        struct tdmr_info_raw raw;

        /* A bad entry pointer is reported against the array (RCX). */
        if (pas[i] & (TDMR_INFO_ALIGN - 1) || pas[i] >> tdx_keyid_shift(m) ||
            !read_tdmr_info(m, pas[i], &raw)) {
            return TDX_OPERAND_INVALID | TDX_OPERAND_ID_RCX;
        }
        status = check_tdmr(m, &raw, staged, (uint8_t)i);
        if (status != TDX_SUCCESS) {
            return status;
        }
    }
    /* Cannot fail from here. The PAMT areas L1 gave become the module's. */
    for (uint64_t i = 0; i < r->rdx; i++) {
        m->tdmr[i] = staged[i];
        for (int lvl = 0; lvl < PAMT_LEVELS; lvl++) {
            for (uint64_t off = 0; off < staged[i].pamt_size[lvl]; off += TDX_PAGE_SIZE) {
                struct tdx_pamt_entry *e =
                    tdx_pamt_lookup(m, staged[i].pamt_base[lvl] + off);

                if (e) {
                    e->type = TDX_PT_RSVD;
                }
            }
        }
    }
    m->num_tdmrs = r->rdx;
    m->global_hkid = r->r8;
    atomic_store(&m->sys_state, TDX_SYS_CONFIG_DONE);
    return TDX_SUCCESS;
}

uint64_t tdx_leaf_sys_key_config(struct tdx_call *c, struct tdx_regs *r)
{
    struct tdx_module *m = c->m;
    unsigned pkg = m->desc.lp_pkg[c->lp];
    uint64_t status = lock_global(c, TDX_LOCK_EXCLUSIVE);

    if (status != TDX_SUCCESS) {
        return status;
    }
    if (atomic_load(&m->sys_state) != TDX_SYS_CONFIG_DONE) {
        return TDX_SYS_KEY_CONFIG_NOT_PENDING;
    }
    if (m->pkgs_configured & (1u << pkg)) {
        return TDX_KEY_CONFIGURED;
    }
    /* PCONFIG of this package's key table. */
    status = tdx_call_lock(c, &m->pkg_lock[pkg], TDX_LOCK_MUTEX,
                           TDX_LOCK_EXCLUSIVE,
                           TDX_OPERAND_BUSY | TDX_OPERAND_ID_KET);
    if (status != TDX_SUCCESS) {
        return status;
    }
    /* Cannot fail from here. */
    m->pkgs_configured |= 1u << pkg;
    if (m->pkgs_configured == (1u << m->desc.num_pkgs) - 1) {
        atomic_store(&m->sys_state, TDX_SYS_READY);
    }
    return TDX_SUCCESS;
}

/* PAMT initialized per call, so L1 sees the resumable loop it expects. */
#define TDMR_INIT_CHUNK TDX_1G

uint64_t tdx_leaf_sys_tdmr_init(struct tdx_call *c, struct tdx_regs *r)
{
    struct tdx_module *m = c->m;
    struct tdx_tdmr *t = NULL;
    uint64_t base = r->rcx, status, done;

    r->rdx = 0;
    if (base & (TDX_1G - 1) || base >> tdx_keyid_shift(m)) {
        return TDX_OPERAND_INVALID | TDX_OPERAND_ID_RCX;
    }
    for (unsigned i = 0; i < m->num_tdmrs; i++) {
        if (m->tdmr[i].base == base) {
            t = &m->tdmr[i];
        }
    }
    if (!t) {
        return TDX_OPERAND_INVALID | TDX_OPERAND_ID_RCX;
    }
    status = tdx_call_lock(c, &t->init_lock, TDX_LOCK_MUTEX, TDX_LOCK_EXCLUSIVE,
                           TDX_OPERAND_BUSY | TDX_OPERAND_ID_RCX);
    if (status != TDX_SUCCESS) {
        return status;
    }
    done = __atomic_load_n(&t->init_done, __ATOMIC_RELAXED);
    if (done >= t->size) {
        r->rdx = t->base + t->size;
        return TDX_TDMR_ALREADY_INITIALIZED;
    }
    /* Cannot fail from here. Our PAMT entries exist from creation; "init"
     * makes the chunk's pages usable by the module. */
    done += TDMR_INIT_CHUNK < t->size - done ? TDMR_INIT_CHUNK : t->size - done;
    __atomic_store_n(&t->init_done, done, __ATOMIC_RELEASE);
    r->rdx = t->base + done;
    return TDX_SUCCESS;
}

/* ---- Shutdown / update (no module-update support) ----------------------- */

uint64_t tdx_leaf_sys_shutdown(struct tdx_call *c, struct tdx_regs *r)
{
    struct tdx_module *m = c->m;
    uint64_t status;

    /* Handoff version: this module only knows version 0 (no updates). */
    if (r->rcx != 0) {
        return TDX_OPERAND_INVALID | TDX_OPERAND_ID_RCX;
    }
    status = lock_global(c, TDX_LOCK_EXCLUSIVE);
    if (status != TDX_SUCCESS) {
        return status;
    }
    /* Cannot fail from here. */
    atomic_store(&m->sys_state, TDX_SYS_STATE_SHUTDOWN);
    tdx_paths_forget_all(m);
    return TDX_SUCCESS;
}

/*
 * TDH.SYS.DISABLE (69): the module stops serving SEAMCALLs until it is
 * loaded and initialized again. Not part of the 1.5 ABI the module reports;
 * Linux 7.2 issues it on every shutdown/reboot/kexec (tdx_sys_disable()),
 * so the emulated module accepts it from any state instead of answering an
 * unknown leaf and making every L1 reboot log "TDH.SYS.DISABLE failed".
 * Contention with other TDH.SYS.* calls is TDX_SYS_BUSY, which Linux retries.
 */
uint64_t tdx_leaf_sys_disable(struct tdx_call *c, struct tdx_regs *r)
{
    uint64_t status = lock_global(c, TDX_LOCK_EXCLUSIVE);

    if (status != TDX_SUCCESS) {
        return status;
    }
    /* Cannot fail from here. */
    atomic_store(&c->m->sys_state, TDX_SYS_STATE_SHUTDOWN);
    tdx_paths_forget_all(c->m);
    return TDX_SUCCESS;
}

uint64_t tdx_leaf_sys_update(struct tdx_call *c, struct tdx_regs *r)
{
    struct tdx_module *m = c->m;
    uint64_t status = lock_global(c, TDX_LOCK_EXCLUSIVE);

    if (status != TDX_SUCCESS) {
        return status;
    }
    if (atomic_load(&m->sys_state) != TDX_SYS_INIT_DONE ||
        m->lps_initialized != m->desc.num_lps) {
        return TDX_SYS_STATE_INCORRECT;
    }
    /* No previous module ever handed off state to us. */
    return TDX_SYS_INVALID_HANDOFF;
}
