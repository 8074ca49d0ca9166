/*
 * Every row of tdx_td_lock_table (td.c), driven as data: bring a fresh
 * module to the state in which the leaf would succeed, make the row's lock
 * unavailable the way another LP would (hold it in the conflicting mode),
 * and check the leaf returns exactly TDX_OPERAND_BUSY|operand with nothing
 * changed. Then the same with a status-injection rule at that lock point,
 * and finally the leaf succeeds once the lock is free.
 */
#include "td-harness.h"

#define KVM_FIELD(cls, code) (((uint64_t)(cls) << 56) | (uint64_t)(code))

struct scenario {
    struct tdxt_platform *p;
    struct tdt_td td;
    unsigned lp;
    uint64_t rax;
    struct tdx_regs r;
    uint64_t page;          /* the row's PAGE object */
};

static uint64_t mapped_hpa;
static int resolve_all(struct tdx_td *td, uint64_t gpa, uint64_t *hpa,
                       uint64_t *a, uint64_t *b)
{
    (void)td; (void)gpa; (void)a; (void)b;
    *hpa = mapped_hpa;
    return 0;
}

/* Bring s->p to the pre-state of `leaf` and fill the call. */
static void prepare(struct scenario *s, unsigned leaf)
{
    struct tdx_platform_desc d = tdxt_desc(4, 2);
    struct tdxt_platform *p;
    struct tdt_td *td = &s->td;

    memset(s, 0, sizeof(*s));
    s->p = p = tdxt_new(&d);
    tdxt_boot(p);
    tdt_next_page = TDT_POOL_BASE;
    s->rax = leaf;
    if (leaf == TDH_MNG_CREATE) {
        s->page = tdt_page();
        s->r = (struct tdx_regs){ .rcx = s->page, .rdx = 2 };
        return;
    }
    if (leaf == TDH_PHYMEM_PAGE_WBINVD) {
        s->page = tdt_page();
        s->r = (struct tdx_regs){ .rcx = s->page };
        return;
    }
    if (leaf == TDH_MNG_KEY_CONFIG) {
        struct tdx_regs r = { .rcx = tdt_page(), .rdx = 2 };

        td->tdr = r.rcx;
        TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_MNG_CREATE, &r), TDX_SUCCESS, "CREATE");
        s->r = (struct tdx_regs){ .rcx = td->tdr };
        return;
    }
    if (leaf == TDH_MNG_ADDCX) {
        tdt_create(p, td, 2);
        /* Take one TDCX page back out of the picture: a fresh TD with all
         * keys configured but only part of its TDCS. */
        tdxt_free(p);
        s->p = p = tdxt_new(&d);
        tdxt_boot(p);
        tdt_next_page = TDT_POOL_BASE;
        {
            struct tdx_regs r = { .rcx = tdt_page(), .rdx = 2 };

            td->tdr = r.rcx;
            TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_MNG_CREATE, &r), TDX_SUCCESS, "CREATE");
            for (unsigned pkg = 0; pkg < 2; pkg++) {
                r = (struct tdx_regs){ .rcx = td->tdr };
                TDXT_EXPECT_STATUS(tdt_call(p, tdt_lp_of_pkg(p, pkg), TDH_MNG_KEY_CONFIG,
                                            &r), TDX_SUCCESS, "KEY.CONFIG");
            }
        }
        s->page = tdt_page();
        s->r = (struct tdx_regs){ .rcx = s->page, .rdx = td->tdr };
        return;
    }
    tdt_create(p, td, 2);
    if (leaf == TDH_MNG_INIT) {
        uint8_t prm[TDX_TD_PARAMS_SIZE];

        tdt_default_params(prm, 4);
        tdt_write_params(p, prm);
        s->r = (struct tdx_regs){ .rcx = td->tdr, .rdx = TDT_PARAMS_PA };
        return;
    }
    if (leaf == TDH_PHYMEM_PAGE_RDMD) {
        s->page = td->tdr;
        s->r = (struct tdx_regs){ .rcx = td->tdr };
        return;
    }
    tdt_init(p, td, 4);
    switch (leaf) {
    case TDH_MNG_RD:
        s->r = (struct tdx_regs){ .rcx = td->tdr, .rdx = KVM_FIELD(17, 10) };
        return;
    case TDH_MNG_WR:
        s->r = (struct tdx_regs){ .rcx = td->tdr,
                                  .rdx = TDX_MD_NON_ARCH | KVM_FIELD(17, 0x11),
                                  .r8 = 20000, .r9 = ~0ULL };
        return;
    case TDH_MNG_VPFLUSHDONE:
        s->r = (struct tdx_regs){ .rcx = td->tdr };
        return;
    case TDH_VP_CREATE:
        s->page = tdt_page();
        s->r = (struct tdx_regs){ .rcx = s->page, .rdx = td->tdr };
        return;
    case TDH_MR_EXTEND:
        mapped_hpa = tdt_page();
        p->m->sept_resolve = (void *)resolve_all;
        s->r = (struct tdx_regs){ .rcx = 0x1000, .rdx = td->tdr };
        return;
    case TDH_VP_ADDCX: {
        struct tdx_regs r = { .rcx = tdt_page(), .rdx = td->tdr };

        td->vp[0].tdvpr = r.rcx;
        td->nvcpus = 1;
        TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_VP_CREATE, &r), TDX_SUCCESS, "VP.CREATE");
        s->page = tdt_page();
        s->r = (struct tdx_regs){ .rcx = s->page, .rdx = td->vp[0].tdvpr };
        return;
    }
    case TDH_VP_INIT: {
        struct tdx_regs r = { .rcx = tdt_page(), .rdx = td->tdr };

        td->vp[0].tdvpr = r.rcx;
        td->nvcpus = 1;
        TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_VP_CREATE, &r), TDX_SUCCESS, "VP.CREATE");
        for (unsigned k = 0; k < TDX_TD_TDVPS_PAGES - 1; k++) {
            r = (struct tdx_regs){ .rcx = tdt_page(), .rdx = td->vp[0].tdvpr };
            TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_VP_ADDCX, &r), TDX_SUCCESS, "VP.ADDCX");
        }
        s->rax = TDT_LEAF(TDH_VP_INIT, 1);
        s->r = (struct tdx_regs){ .rcx = td->vp[0].tdvpr, .r8 = 0 };
        return;
    }
    default:
        break;
    }
    tdt_vcpu(p, td, 0);
    switch (leaf) {
    case TDH_VP_RD:
        s->r = (struct tdx_regs){ .rcx = td->vp[0].tdvpr, .rdx = KVM_FIELD(32, 11) };
        return;
    case TDH_VP_WR:
        s->r = (struct tdx_regs){ .rcx = td->vp[0].tdvpr, .rdx = KVM_FIELD(32, 11),
                                  .r8 = 1, .r9 = 0xFF };
        return;
    case TDH_VP_FLUSH:
        s->r = (struct tdx_regs){ .rcx = td->vp[0].tdvpr };
        return;
    case TDH_MR_FINALIZE:
        s->r = (struct tdx_regs){ .rcx = td->tdr };
        return;
    default:
        break;
    }
    /* Teardown leaves. */
    {
        struct tdx_regs r = { .rcx = td->vp[0].tdvpr };

        TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_VP_FLUSH, &r), TDX_SUCCESS, "VP.FLUSH");
        r = (struct tdx_regs){ .rcx = td->tdr };
        TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_MNG_VPFLUSHDONE, &r), TDX_SUCCESS,
                           "VPFLUSHDONE");
    }
    if (leaf == TDH_PHYMEM_CACHE_WB) {
        s->r = (struct tdx_regs){ .rcx = 0 };
        return;
    }
    for (unsigned pkg = 0; pkg < 2; pkg++) {
        struct tdx_regs r = { .rcx = 0 };

        TDXT_EXPECT_STATUS(tdt_call(p, tdt_lp_of_pkg(p, pkg), TDH_PHYMEM_CACHE_WB, &r),
                           TDX_SUCCESS, "CACHE.WB");
    }
    if (leaf == TDH_MNG_KEY_FREEID) {
        s->r = (struct tdx_regs){ .rcx = td->tdr };
        return;
    }
    {
        struct tdx_regs r = { .rcx = td->tdr };

        TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_MNG_KEY_FREEID, &r), TDX_SUCCESS, "FREEID");
    }
    /* PAGE.RECLAIM of a TDCS page (takes the owner TDR implicitly). */
    s->page = td->tdcx[1];
    s->r = (struct tdx_regs){ .rcx = s->page };
}

static struct tdx_lock *row_lock(struct scenario *s, const struct tdx_lock_row *row)
{
    struct tdx_module *m = s->p->m;

    switch (row->obj) {
    case TDX_LOBJ_TDR:
    case TDX_LOBJ_TDR_IMPLICIT:
        return &tdx_pamt_lookup(m, s->td.tdr)->lock;
    case TDX_LOBJ_TDVPR:
        return &tdx_pamt_lookup(m, s->td.vp[0].tdvpr)->lock;
    case TDX_LOBJ_PAGE:
        return &tdx_pamt_lookup(m, s->page)->lock;
    case TDX_LOBJ_OP_STATE:
        return &tdt_obj(s->p, &s->td)->op_state_lock;
    case TDX_LOBJ_KOT:
        return &m->kot_lock;
    case TDX_LOBJ_KET:
        return &m->pkg_lock[m->desc.lp_pkg[s->lp]];
    case TDX_LOBJ_WBCACHE:
        return &m->wbcache_lock[m->desc.lp_pkg[s->lp]];
    default:
        /* S-EPT objects: not used by the rows of this table. */
        return NULL;
    }
}

/* Everything a leaf could change, for "nothing changed" checks. */
struct snap {
    uint8_t pamt[64][3];
    uint64_t owner[64];
    uint8_t lifecycle, kot[TDX_MAX_HKIDS];
    int op_state;
    unsigned num_tdcx, vstate, vpages;
    uint64_t chldcnt, hp_timeout;
    uint32_t num_vcpus, assoc, kot_wb[TDX_MAX_HKIDS], pkgs, vassoc;
    uint8_t pend_nmi, mr[sizeof(tdx_sha384_ctx)];
};

static void take(struct scenario *s, struct snap *n)
{
    struct tdx_td *td = tdt_obj(s->p, &s->td);
    struct tdx_vcpu *v = s->td.nvcpus ? tdt_vobj(s->p, s->td.vp[0].tdvpr) : NULL;

    memset(n, 0, sizeof(*n));
    for (unsigned i = 0; i < 64; i++) {
        struct tdx_pamt_entry *e = tdx_pamt_lookup(s->p->m, TDT_POOL_BASE + i * 4096);

        n->pamt[i][0] = e->type;
        n->pamt[i][1] = e->size;
        n->pamt[i][2] = e->obj != NULL;
        n->owner[i] = e->owner;
    }
    memcpy(n->kot, s->p->m->kot_state, sizeof(n->kot));
    for (unsigned h = 0; h < TDX_MAX_HKIDS; h++) {
        n->kot_wb[h] = atomic_load(&s->p->m->kot_wbinvd[h]);
    }
    if (td) {
        n->lifecycle = td->lifecycle;
        n->op_state = atomic_load(&td->op_state);
        n->num_tdcx = td->num_tdcx;
        n->chldcnt = atomic_load(&td->chldcnt);
        n->num_vcpus = atomic_load(&td->num_vcpus);
        n->assoc = atomic_load(&td->num_assoc_vcpus);
        n->pkgs = td->pkg_config_bitmap;
        n->hp_timeout = td->hp_lock_timeout_ns;
        memcpy(n->mr, &td->mr.ctx, sizeof(n->mr));
    }
    if (v) {
        n->vstate = v->state;
        n->vpages = v->num_pages;
        n->vassoc = atomic_load(&v->assoc_lp);
        n->pend_nmi = v->pend_nmi;
    }
}

static void run_row(const struct tdx_lock_row *row)
{
    const char *name = tdx_host_leaf_name(row->leaf);
    const uint64_t busy = TDX_OPERAND_BUSY | row->operand;
    struct snap before, after;
    struct scenario s;
    struct tdx_regs r;
    struct tdx_lock *l;
    char what[128];
    int rule;

    /* 1. The lock held by "another LP" in the conflicting mode. */
    prepare(&s, row->leaf);
    l = row_lock(&s, row);
    take(&s, &before);
    {
        enum tdx_lock_mode other = row->mode == TDX_LOCK_SHARED || row->kind == TDX_LOCK_MUTEX
                                   ? TDX_LOCK_EXCLUSIVE : TDX_LOCK_SHARED;
        enum tdx_lock_result got = tdx_lock_try(l, row->kind, other, true);

        snprintf(what, sizeof(what), "%s row %u: hold", name, row->order);
        TDXT_EXPECT(got == TDX_LOCK_OK, "%s", what);
        r = s.r;
        snprintf(what, sizeof(what), "%s row %u (lock held elsewhere)", name, row->order);
        TDXT_EXPECT_STATUS(tdt_call(s.p, s.lp, s.rax, &r), busy, what);
        take(&s, &after);
        TDXT_EXPECT(memcmp(&before, &after, sizeof(before)) == 0, "%s: state changed", what);
        tdx_lock_release(l, other);
    }
    TDXT_EXPECT_INVARIANTS(s.p, what);

    /* 2. A status rule at that lock point: same status, same non-effect. */
    {
        struct tdx_status_rule rule_def = {
            .leaf = (int)row->leaf, .operand = row->operand, .when = TDX_INJECT_NTH,
            .n = 1,
        };
        char err[128];

        rule = tdx_inject_add_status_rule(s.p->m, &rule_def, err, sizeof(err));
        TDXT_EXPECT(rule >= 0, "add rule: %s", err);
        r = s.r;
        snprintf(what, sizeof(what), "%s row %u (injected)", name, row->order);
        TDXT_EXPECT_STATUS(tdt_call(s.p, s.lp, s.rax, &r), busy, what);
        take(&s, &after);
        TDXT_EXPECT(memcmp(&before, &after, sizeof(before)) == 0, "%s: state changed", what);
        TDXT_EXPECT(tdx_inject_fired(s.p->m, rule) == 1, "%s: rule fired once", what);
        TDXT_EXPECT_INVARIANTS(s.p, what);
    }

    /* 3. Free again: the call goes through. */
    r = s.r;
    snprintf(what, sizeof(what), "%s row %u (free)", name, row->order);
    TDXT_EXPECT_STATUS(tdt_call(s.p, s.lp, s.rax, &r), TDX_SUCCESS, what);
    TDXT_EXPECT_INVARIANTS(s.p, what);
    tdxt_free(s.p);
}

int main(void)
{
    unsigned leaves_seen = 0;

    for (unsigned i = 0; i < tdx_td_lock_table_count; i++) {
        run_row(&tdx_td_lock_table[i]);
        leaves_seen += tdx_td_lock_table[i].order == 0;
    }
    /* 20 leaves, every one with at least one row. */
    TDXT_EXPECT(leaves_seen == 20, "lock table covers %u leaves", leaves_seen);
    return tdxt_done("test-mng-locks");
}
