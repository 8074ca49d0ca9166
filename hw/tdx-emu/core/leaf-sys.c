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

#define TDMR_INFO_ALIGN 512
#define TDMR_INFO_BYTES (64 + 16 * TDX_MAX_RSVD_PER_TDMR)

static uint64_t pamt_bytes(uint64_t tdmr_size, uint64_t page_size)
{
    uint64_t bytes = (tdmr_size / page_size) * TDX_PAMT_ENTRY_SIZE;

    return (bytes + TDX_PAGE_SIZE - 1) & ~(TDX_PAGE_SIZE - 1);
}

static bool range_in_cmrs(const struct tdx_module *m, uint64_t base, uint64_t size)
{
    for (unsigned i = 0; i < m->desc.num_cmrs; i++) {
        const struct tdx_mem_range *cmr = &m->desc.cmrs[i];

        if (base >= cmr->base && size <= cmr->size &&
            base - cmr->base <= cmr->size - size) {
            return true;
        }
    }
    return false;
}

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return a < b + blen && b < a + alen;
}

/*
 * Reads and validates one TDMR_INFO (layout: Linux's struct tdmr_info:
 * base, size, then PAMT 1G/2M/4K base+size pairs, then reserved areas of
 * {offset, size} ending at the first empty one).
 */
static bool read_tdmr(struct tdx_module *m, uint64_t pa, struct tdx_tdmr *t,
                      const struct tdx_tdmr *prev)
{
    uint64_t raw[TDMR_INFO_BYTES / 8];
    static const uint64_t page[3] = { TDX_PAGE_SIZE, 1ULL << 21, TDX_1G };

    if (pa & (TDMR_INFO_ALIGN - 1) || tdx_mem_read(m, pa, raw, sizeof(raw))) {
        return false;
    }
    memset(t, 0, sizeof(*t));
    t->base = raw[0];
    t->size = raw[1];
    /* raw[2..7]: 1G, 2M, 4K pairs; we store 4K first. */
    for (int lvl = 0; lvl < 3; lvl++) {
        t->pamt_base[lvl] = raw[2 + 2 * (2 - lvl)];
        t->pamt_size[lvl] = raw[3 + 2 * (2 - lvl)];
    }
    if ((t->base | t->size) & (TDX_1G - 1) || t->size == 0 ||
        t->base + t->size < t->base || t->base + t->size > (1ULL << tdx_keyid_shift(m)) ||
        (prev && t->base < prev->base + prev->size)) {
        return false;
    }
    for (int lvl = 0; lvl < 3; lvl++) {
        if ((t->pamt_base[lvl] | t->pamt_size[lvl]) & (TDX_PAGE_SIZE - 1) ||
            t->pamt_size[lvl] < pamt_bytes(t->size, page[lvl]) ||
            !range_in_cmrs(m, t->pamt_base[lvl], t->pamt_size[lvl])) {
            return false;
        }
    }
    for (unsigned i = 0; i < TDX_MAX_RSVD_PER_TDMR; i++) {
        uint64_t off = raw[8 + 2 * i], size = raw[9 + 2 * i];

        if (size == 0) {
            break;
        }
        if ((off | size) & (TDX_PAGE_SIZE - 1) || off >= t->size ||
            size > t->size - off ||
            (i && off < t->rsvd[i - 1].offset + t->rsvd[i - 1].size)) {
            return false;
        }
        t->rsvd[i].offset = off;
        t->rsvd[i].size = size;
        t->num_rsvd++;
    }
    tdx_lock_init(&t->init_lock);
    return true;
}

/* Every part of a TDMR that isn't RAM, or holds a PAMT, must be reserved. */
static bool tdmr_layout_ok(const struct tdx_module *m, const struct tdx_tdmr *t,
                           const struct tdx_tdmr *all, unsigned n)
{
    uint64_t pa = t->base;

    for (unsigned i = 0; i <= t->num_rsvd; i++) {
        uint64_t end = i < t->num_rsvd ? t->base + t->rsvd[i].offset
                                       : t->base + t->size;

        if (end > pa) {
            if (!range_in_cmrs(m, pa, end - pa)) {
                return false;
            }
            for (unsigned j = 0; j < n; j++) {
                for (int lvl = 0; lvl < 3; lvl++) {
                    if (overlaps(pa, end - pa, all[j].pamt_base[lvl],
                                 all[j].pamt_size[lvl])) {
                        return false;
                    }
                }
            }
        }
        if (i < t->num_rsvd) {
            pa = t->base + t->rsvd[i].offset + t->rsvd[i].size;
        }
    }
    return true;
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
        if (!read_tdmr(m, pas[i], &staged[i], i ? &staged[i - 1] : NULL)) {
            return TDX_OPERAND_INVALID | TDX_OPERAND_ID_TDMR_INFO_PA;
        }
    }
    for (uint64_t i = 0; i < r->rdx; i++) {
        if (!tdmr_layout_ok(m, &staged[i], staged, r->rdx)) {
            return TDX_OPERAND_INVALID | TDX_OPERAND_ID_TDMR_INFO_PA;
        }
    }
    /* Cannot fail from here. The PAMT areas L1 gave become the module's. */
    for (uint64_t i = 0; i < r->rdx; i++) {
        m->tdmr[i] = staged[i];
        for (int lvl = 0; lvl < 3; lvl++) {
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
