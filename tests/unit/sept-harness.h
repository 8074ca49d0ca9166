/*
 * Helpers for the S-EPT / VP.ENTER tests: a TD built through the real
 * leaves (td-harness.h), S-EPT leaf wrappers that return the status and
 * keep the output registers, and snapshots to check "nothing changed".
 */
#ifndef TDX_EMU_SEPT_HARNESS_H
#define TDX_EMU_SEPT_HARNESS_H

#include "td-harness.h"
#include "sept.h"

#define ST_SOURCE   (TDXT_SCRATCH + 0x10000)   /* PAGE.ADD source page */

struct st_env {
    struct tdxt_platform *p;
    struct tdt_td td;
    struct tdx_td *obj;
};

/* A booted platform with one TD (4-level EPT) and `nvcpus` vCPUs, vCPU i
 * associated with LP i. finalize: MR.FINALIZE (op-state RUNNABLE). */
static inline void st_setup(struct st_env *e, unsigned lps, unsigned nvcpus,
                            bool finalize)
{
    struct tdx_platform_desc d = tdxt_desc(lps, 1);
    struct tdx_regs r = { 0 };

    e->p = tdxt_new(&d);
    tdxt_boot(e->p);
    tdt_create(e->p, &e->td, 2);
    tdt_init(e->p, &e->td, 8);
    for (unsigned i = 0; i < nvcpus; i++) {
        tdt_vcpu(e->p, &e->td, i);
    }
    e->obj = tdt_obj(e->p, &e->td);
    if (finalize) {
        r.rcx = e->td.tdr;
        TDXT_EXPECT_STATUS(tdt_call(e->p, 0, TDH_MR_FINALIZE, &r), TDX_SUCCESS,
                           "MR.FINALIZE");
    }
}

static inline void st_teardown(struct st_env *e)
{
    tdxt_free(e->p);
}

/* One S-EPT leaf: RCX = gpa|level, RDX = TDR, R8 = page. */
static inline uint64_t st_leaf(struct st_env *e, unsigned lp, uint64_t rax,
                               uint64_t gpa, int level, uint64_t page,
                               struct tdx_regs *out)
{
    struct tdx_regs r = { .rcx = gpa | (uint64_t)level, .rdx = e->td.tdr, .r8 = page };
    uint64_t st = tdt_call(e->p, lp, rax, &r);

    if (out) {
        *out = r;
    }
    return st;
}

static inline uint64_t st_track(struct st_env *e, unsigned lp)
{
    struct tdx_regs r = { .rcx = e->td.tdr };

    return tdt_call(e->p, lp, TDH_MEM_TRACK, &r);
}

/* SEPT.ADD the tables (levels 3, 2, 1) a 4K page at gpa needs. */
static inline void st_map_pt(struct st_env *e, uint64_t gpa)
{
    for (int level = 3; level >= 1; level--) {
        uint64_t base = gpa & ~(tdx_sept_level_size(level) - 1);
        uint64_t st = st_leaf(e, 0, TDH_MEM_SEPT_ADD, base, level, tdt_page(), NULL);

        TDXT_EXPECT(st == TDX_SUCCESS ||
                    tdx_status_class(st) == TDX_EPT_ENTRY_STATE_INCORRECT,
                    "SEPT.ADD level %d for %#llx: %#llx", level,
                    (unsigned long long)gpa, (unsigned long long)st);
    }
}

/* The entry of gpa at `level` (FREE_VALUE if the walk stops above). */
static inline uint64_t st_entry(struct st_env *e, uint64_t gpa, int level)
{
    struct tdx_sept_td *s = tdx_sept_of(e->obj);
    struct tdx_sept_table *t;
    unsigned idx;
    int reached;
    uint64_t v;

    if (!tdx_sept_walk(s, gpa, level, &t, &idx, &reached, &v)) {
        return TDX_SEPTE_FREE_VALUE;
    }
    return v;
}

static inline enum tdx_sept_state st_state(struct st_env *e, uint64_t gpa, int level)
{
    return tdx_septe_state(st_entry(e, gpa, level));
}

/*
 * TDG.MEM.PAGE.ACCEPT's S-EPT part as a guest call on LP `lp`, without a
 * running vCPU: the leaf's status (host priority not rewritten, as the
 * lock point gives it).
 */
static inline uint64_t tdxt_sept_accept(struct tdx_module *m, struct tdx_td *td,
                                        unsigned lp, uint64_t rcx,
                                        struct tdx_accept_result *res)
{
    struct tdx_regs r = { .rax = TDG_MEM_PAGE_ACCEPT, .rcx = rcx };
    struct tdx_call c;
    uint64_t st;

    tdx_call_begin(&c, m, lp, &r, false);
    c.tdr_pa = td->tdr_pa;
    st = tdx_sept_accept(&c, td, rcx, res);
    tdx_call_unlock_all(&c);
    return st;
}

/* Guest ACCEPT of a 4K page (the vCPU's TDCALL, S-EPT part). */
static inline uint64_t st_accept(struct st_env *e, unsigned lp, uint64_t gpa,
                                 int level, struct tdx_accept_result *res)
{
    struct tdx_accept_result tmp;

    return tdxt_sept_accept(e->p->m, e->obj, lp, gpa | (uint64_t)level,
                            res ? res : &tmp);
}

/* A MAPPED 4K page at gpa in a RUNNABLE TD: AUG, then the guest accepts. */
static inline uint64_t st_mapped_page(struct st_env *e, uint64_t gpa)
{
    uint64_t page = tdt_page();

    st_map_pt(e, gpa);
    TDXT_EXPECT_STATUS(st_leaf(e, 0, TDH_MEM_PAGE_AUG, gpa, 0, page, NULL),
                       TDX_SUCCESS, "AUG for a mapped page");
    TDXT_EXPECT_STATUS(st_accept(e, 0, gpa, 0, NULL), TDX_SUCCESS, "ACCEPT");
    return page;
}

/* What a leaf could change, to check that a BUSY changed nothing. */
struct st_snap {
    uint64_t entry[5];
    uint64_t chldcnt, epoch;
    uint32_t refcount[2];
    uint8_t type[4];
};

static inline void st_snap(struct st_env *e, uint64_t gpa, const uint64_t pages[4],
                           struct st_snap *s)
{
    memset(s, 0, sizeof(*s));
    for (int l = 0; l <= 3; l++) {
        s->entry[l] = st_entry(e, gpa, l);
    }
    s->chldcnt = atomic_load(&e->obj->chldcnt);
    s->epoch = atomic_load(&e->obj->td_epoch);
    s->refcount[0] = atomic_load(&e->obj->epoch_refcount[0]);
    s->refcount[1] = atomic_load(&e->obj->epoch_refcount[1]);
    for (int i = 0; i < 4; i++) {
        s->type[i] = pages[i] ? tdt_page_type(e->p, pages[i]) : 0;
    }
}

#define ST_EXPECT_SAME(a, b, what) \
    TDXT_EXPECT(memcmp(&(a), &(b), sizeof(a)) == 0, "%s: state changed", (what))

static inline void st_expect_invariants(struct st_env *e, const char *what)
{
    char err[256];

    TDXT_EXPECT_INVARIANTS(e->p, what);
    TDXT_EXPECT(tdx_sept_check_invariants(e->p->m, err, sizeof(err)),
                "%s: S-EPT invariants: %s", what, err);
}

#endif
