/*
 * Busy-path recognition (core/paths.h): each KVM busy path provoked by an
 * injected or natural BUSY, followed by the reaction KVM would (or would
 * not) have, and the path/reaction counters that result.
 */
#include <pthread.h>

#include "sept-harness.h"
#include "paths.h"

#define GPA  0x80000000ULL

static struct tdx_path_counts counts(struct st_env *e, enum tdx_path_id id)
{
    struct tdx_path_stats s;

    tdx_module_path_stats(e->p->m, &s);
    return s.path[id];
}

/* Every BUSY of every path is accounted for exactly once. */
static void expect_balanced(struct st_env *e, const char *what)
{
    struct tdx_path_stats s;
    uint64_t overflow = 0;

    tdx_module_path_stats(e->p->m, &s);
    for (unsigned id = 0; id < TDX_PATH_COUNT; id++) {
        const struct tdx_path_counts *c = &s.path[id];
        uint64_t out = c->pending + c->overflow;

        for (unsigned r = 0; r < TDX_REACT_COUNT; r++) {
            out += c->reaction[r];
        }
        TDXT_EXPECT(c->busy_injected + c->busy_natural == out,
                    "%s: path %s: %llu busy, %llu accounted for", what,
                    tdx_path_name(id),
                    (unsigned long long)(c->busy_injected + c->busy_natural),
                    (unsigned long long)out);
        overflow += c->overflow;
    }
    TDXT_EXPECT(overflow == s.overflow, "%s: overflow total", what);
}

#define EXPECT_PATH(e_, id_, inj_, nat_, react_, n_, what_) do {            \
        struct tdx_path_counts c_ = counts((e_), (id_));                     \
        TDXT_EXPECT(c_.busy_injected == (inj_) && c_.busy_natural == (nat_) && \
                    c_.reaction[(react_)] == (n_) && c_.pending == 0,         \
                    "%s: %s injected %llu natural %llu %s %llu pending %llu",  \
                    (what_), tdx_path_name(id_),                              \
                    (unsigned long long)c_.busy_injected,                     \
                    (unsigned long long)c_.busy_natural,                      \
                    tdx_reaction_name(react_),                                \
                    (unsigned long long)c_.reaction[(react_)],                \
                    (unsigned long long)c_.pending);                          \
    } while (0)

static int rule(struct st_env *e, int leaf, uint32_t operand, uint64_t n)
{
    struct tdx_status_rule r = {
        .leaf = leaf, .operand = operand, .when = TDX_INJECT_FIRST, .n = n,
    };
    char err[128];
    int id = tdx_inject_add_status_rule(e->p->m, &r, err, sizeof(err));

    TDXT_EXPECT(id >= 0, "rule: %s", err);
    return id;
}

static uint64_t enter(struct st_env *e, unsigned i, struct tdx_td_run *run, bool *in)
{
    struct tdx_regs r = { .rax = TDH_VP_ENTER, .rcx = e->td.vp[i].tdvpr };

    *in = tdxt_vp_enter(e->p->m, e->td.vp[i].lp, &r, run);
    return r.rax;
}

static void leave(struct st_env *e, struct tdx_td_run *run)
{
    struct tdx_td_exit x = { .reason = TDX_EXIT_REASON_HLT };
    struct tdx_regs out;

    tdx_vp_exit(run, &x, &out);
}

/* Enter vCPU i and exit again right away. */
static void run_once(struct st_env *e, unsigned i)
{
    struct tdx_td_run run;
    bool in;
    uint64_t st = enter(e, i, &run, &in);

    TDXT_EXPECT(in, "enter vCPU %u: %#llx", i, (unsigned long long)st);
    if (in) {
        leave(e, &run);
    }
}

static void test_names(void)
{
    TDXT_EXPECT(!strcmp(tdx_path_name(TDX_PATH_G2B), "G2b") &&
                !strcmp(tdx_path_name(TDX_PATH_T1), "T1") &&
                !tdx_path_name(TDX_PATH_COUNT), "path names");
    TDXT_EXPECT(!strcmp(tdx_path_name(TDX_PATH_V2), "V2") &&
                !strcmp(tdx_reaction_name(TDX_REACT_ENTRY_GATED), "entry-gated"),
                "V2 names");
    TDXT_EXPECT(!strcmp(tdx_reaction_name(TDX_REACT_KICK_VIOLATED), "kick-violated") &&
                !tdx_reaction_name(TDX_REACT_COUNT), "reaction names");
}

/* G2b: AUG BUSY, same LP re-issues before its next VP.ENTER: local retry;
 * after a VP.ENTER of that LP it is only a later retry. */
static void test_g2b(void)
{
    struct st_env e;

    st_setup(&e, 2, 2, true);
    st_map_pt(&e, GPA);
    st_map_pt(&e, GPA + 0x1000);
    rule(&e, TDH_MEM_PAGE_AUG, TDX_INJECT_ANY_OPERAND, 1);
    TDXT_EXPECT(tdx_paths_is_busy(st_leaf(&e, 0, TDH_MEM_PAGE_AUG, GPA, 0, tdt_page(), NULL)),
                "AUG: injected BUSY");
    TDXT_EXPECT_STATUS(st_leaf(&e, 0, TDH_MEM_PAGE_AUG, GPA, 0, tdt_page(), NULL),
                       TDX_SUCCESS, "AUG retried locally");
    EXPECT_PATH(&e, TDX_PATH_G2B, 1, 0, TDX_REACT_LOCAL_RETRY, 1, "G2b local");

    rule(&e, TDH_MEM_PAGE_AUG, TDX_INJECT_ANY_OPERAND, 1);
    TDXT_EXPECT(tdx_paths_is_busy(st_leaf(&e, 0, TDH_MEM_PAGE_AUG, GPA + 0x1000, 0,
                                          tdt_page(), NULL)), "AUG 2: BUSY");
    run_once(&e, 0);
    TDXT_EXPECT_STATUS(st_leaf(&e, 0, TDH_MEM_PAGE_AUG, GPA + 0x1000, 0, tdt_page(), NULL),
                       TDX_SUCCESS, "AUG retried after a VP.ENTER");
    EXPECT_PATH(&e, TDX_PATH_G2B, 2, 0, TDX_REACT_RETRY_LATER, 1, "G2b after entry");
    expect_balanced(&e, "G2b");
    st_expect_invariants(&e, "G2b");
    st_teardown(&e);
}

/* G3a: BLOCK BUSY, no vCPU enters, the retry succeeds: kick and retry;
 * with a VP.ENTER in between: the kernel broke the no-vCPUs rule. */
static void test_g3a(void)
{
    struct st_env e;
    struct tdx_path_counts c;

    st_setup(&e, 2, 2, true);
    st_mapped_page(&e, GPA);
    st_mapped_page(&e, GPA + 0x1000);
    rule(&e, TDH_MEM_RANGE_BLOCK, TDX_INJECT_ANY_OPERAND, 1);
    TDXT_EXPECT(tdx_paths_is_busy(st_leaf(&e, 0, TDH_MEM_RANGE_BLOCK, GPA, 0, 0, NULL)),
                "BLOCK: BUSY");
    TDXT_EXPECT_STATUS(st_leaf(&e, 1, TDH_MEM_RANGE_BLOCK, GPA, 0, 0, NULL), TDX_SUCCESS,
                       "BLOCK retried with no vCPU in");
    EXPECT_PATH(&e, TDX_PATH_G3A, 1, 0, TDX_REACT_KICK_AND_RETRY, 1, "G3a kicked");
    EXPECT_PATH(&e, TDX_PATH_V2, 1, 0, TDX_REACT_ENTRY_GATED, 1, "V2 gated");

    rule(&e, TDH_MEM_RANGE_BLOCK, TDX_INJECT_ANY_OPERAND, 1);
    TDXT_EXPECT(tdx_paths_is_busy(st_leaf(&e, 0, TDH_MEM_RANGE_BLOCK, GPA + 0x1000, 0, 0,
                                          NULL)), "BLOCK 2: BUSY");
    /* A vCPU that enters and exits again before the retry (it raced with
     * the kick, as on hardware) does not violate it. */
    run_once(&e, 1);
    TDXT_EXPECT_STATUS(st_leaf(&e, 0, TDH_MEM_RANGE_BLOCK, GPA + 0x1000, 0, 0, NULL),
                       TDX_SUCCESS, "BLOCK 2 retried");
    EXPECT_PATH(&e, TDX_PATH_G3A, 2, 0, TDX_REACT_KICK_AND_RETRY, 2,
                "G3a kicked, a vCPU came and went before the retry");
    EXPECT_PATH(&e, TDX_PATH_V2, 2, 0, TDX_REACT_ENTRY_RACED, 1, "V2 raced");

    /* One still inside the TD when KVM retries: V2 violated. */
    {
        struct tdx_td_run run;
        bool in;

        st_mapped_page(&e, GPA + 0x2000);
        rule(&e, TDH_MEM_RANGE_BLOCK, TDX_INJECT_ANY_OPERAND, 1);
        TDXT_EXPECT(tdx_paths_is_busy(st_leaf(&e, 0, TDH_MEM_RANGE_BLOCK, GPA + 0x2000, 0, 0,
                                              NULL)), "BLOCK 3: BUSY");
        enter(&e, 1, &run, &in);
        TDXT_EXPECT(in, "vCPU 1 inside the TD");
        TDXT_EXPECT_STATUS(st_leaf(&e, 0, TDH_MEM_RANGE_BLOCK, GPA + 0x2000, 0, 0, NULL),
                           TDX_SUCCESS, "BLOCK 3 retried with vCPU 1 inside");
        if (in) {
            leave(&e, &run);
        }
        EXPECT_PATH(&e, TDX_PATH_G3A, 3, 0, TDX_REACT_KICK_VIOLATED, 1, "G3a violated");
        EXPECT_PATH(&e, TDX_PATH_V2, 3, 0, TDX_REACT_ENTRY_VIOLATED, 1, "V2 violated");
    }
    c = counts(&e, TDX_PATH_G3A);
    TDXT_EXPECT(c.retry_failed == 0 && c.reaction[TDX_REACT_KICK_AND_RETRY] == 2,
                "G3a: retries succeeded");
    expect_balanced(&e, "G3a");
    st_expect_invariants(&e, "G3a");
    st_teardown(&e);
}

/* G1: PAGE.ADD BUSY, other calls, retry from another LP: retry later. */
static void test_g1(void)
{
    struct st_env e;
    struct tdx_regs r;
    uint64_t page = tdt_page();
    uint8_t src[4096] = { 0 };

    st_setup(&e, 2, 1, false);
    tdxt_mem_write(e.p, ST_SOURCE, src, sizeof(src));
    st_map_pt(&e, GPA);
    rule(&e, TDH_MEM_PAGE_ADD, TDX_INJECT_ANY_OPERAND, 1);
    r = (struct tdx_regs){ .rcx = GPA, .rdx = e.td.tdr, .r8 = page, .r9 = ST_SOURCE };
    TDXT_EXPECT(tdx_paths_is_busy(tdt_call(e.p, 0, TDH_MEM_PAGE_ADD, &r)), "PAGE.ADD: BUSY");
    st_map_pt(&e, GPA + (2ULL << 20));  /* other calls on the TD */
    r = (struct tdx_regs){ .rcx = GPA, .rdx = e.td.tdr, .r8 = page, .r9 = ST_SOURCE };
    TDXT_EXPECT_STATUS(tdt_call(e.p, 1, TDH_MEM_PAGE_ADD, &r), TDX_SUCCESS, "PAGE.ADD retried");
    EXPECT_PATH(&e, TDX_PATH_G1, 1, 0, TDX_REACT_RETRY_LATER, 1, "G1");
    expect_balanced(&e, "G1");
    st_expect_invariants(&e, "G1");
    st_teardown(&e);
}

/* V1: VP.ENTER BUSY on the TD epoch (a held epoch lock: natural; a rule:
 * injected), then the vCPU re-enters. */
static void test_v1(void)
{
    struct st_env e;
    struct tdx_td_run run;
    struct tdx_path_counts c;
    char err[128];
    bool in;
    uint64_t st;
    int id;

    st_setup(&e, 2, 1, true);
    id = tdx_inject_hold_lock(e.p->m, TDX_NAMED_TD_EPOCH, e.td.tdr, 0, TDX_LOCK_EXCLUSIVE,
                              0, err, sizeof(err));
    TDXT_EXPECT(id >= 0, "hold epoch: %s", err);
    st = enter(&e, 0, &run, &in);
    TDXT_EXPECT(!in, "entered with the epoch held");
    TDXT_EXPECT_STATUS(st, TDX_OPERAND_BUSY | TDX_OPERAND_ID_TD_EPOCH, "VP.ENTER vs epoch");
    tdx_inject_release_hold(e.p->m, id);
    rule(&e, TDH_VP_ENTER, TDX_OPERAND_ID_TD_EPOCH, 1);
    st = enter(&e, 0, &run, &in);
    TDXT_EXPECT(!in, "entered despite the rule");
    TDXT_EXPECT_STATUS(st, TDX_OPERAND_BUSY | TDX_OPERAND_ID_TD_EPOCH, "VP.ENTER injected");
    run_once(&e, 0);
    c = counts(&e, TDX_PATH_V1);
    TDXT_EXPECT(c.busy_natural == 1 && c.busy_injected == 1 &&
                c.reaction[TDX_REACT_REENTER] == 2 && c.retry_failed == 1 && c.pending == 0,
                "V1: natural %llu injected %llu reenter %llu failed retries %llu",
                (unsigned long long)c.busy_natural, (unsigned long long)c.busy_injected,
                (unsigned long long)c.reaction[TDX_REACT_REENTER],
                (unsigned long long)c.retry_failed);
    expect_balanced(&e, "V1");
    st_expect_invariants(&e, "V1");
    st_teardown(&e);
}

/* W1: WBINVD BUSY, never retried, the TD's TDR is reclaimed: unhandled. */
static void test_w1(void)
{
    struct st_env e;
    struct tdx_regs r;
    unsigned hkid;

    st_setup(&e, 2, 1, true);
    hkid = e.obj->hkid;
    tdt_release_hkid(e.p, &e.td);
    rule(&e, TDH_PHYMEM_PAGE_WBINVD, TDX_INJECT_ANY_OPERAND, 1);
    r = (struct tdx_regs){ .rcx = tdt_page() | ((uint64_t)hkid << tdx_keyid_shift(e.p->m)) };
    TDXT_EXPECT(tdx_paths_is_busy(tdt_call(e.p, 0, TDH_PHYMEM_PAGE_WBINVD, &r)),
                "WBINVD: BUSY");
    TDXT_EXPECT(counts(&e, TDX_PATH_W1).pending == 1, "W1 pending");
    tdt_reclaim_all(e.p, &e.td);
    EXPECT_PATH(&e, TDX_PATH_W1, 1, 0, TDX_REACT_UNHANDLED, 1, "W1");
    expect_balanced(&e, "W1");
    st_expect_invariants(&e, "W1");
    st_teardown(&e);
}

/* T1: a guest ACCEPT gets BUSY (the host holds the entry), re-issued by
 * the same vCPU. */
static void test_t1(void)
{
    struct st_env e;
    struct tdx_td_run run;
    struct tdx_td_exit x;
    struct tdx_regs r;
    char err[128];
    bool in;
    int id;

    st_setup(&e, 2, 1, true);
    st_map_pt(&e, GPA);
    TDXT_EXPECT_STATUS(st_leaf(&e, 0, TDH_MEM_PAGE_AUG, GPA, 0, tdt_page(), NULL),
                       TDX_SUCCESS, "AUG");
    enter(&e, 0, &run, &in);
    TDXT_EXPECT(in, "enter");
    id = tdx_inject_hold_lock(e.p->m, TDX_NAMED_SEPT_ENTRY, e.td.tdr, GPA, TDX_LOCK_EXCLUSIVE,
                              0, err, sizeof(err));
    TDXT_EXPECT(id >= 0, "hold entry: %s", err);
    r = (struct tdx_regs){ .rax = TDG_MEM_PAGE_ACCEPT, .rcx = GPA };
    tdx_tdcall(&run, &r, &x);
    TDXT_EXPECT(tdx_status_class(r.rax) == TDX_OPERAND_BUSY, "ACCEPT: BUSY (%#llx)",
                (unsigned long long)r.rax);
    tdx_inject_release_hold(e.p->m, id);
    r = (struct tdx_regs){ .rax = TDG_MEM_PAGE_ACCEPT, .rcx = GPA };
    tdx_tdcall(&run, &r, &x);
    TDXT_EXPECT_STATUS(r.rax, TDX_SUCCESS, "ACCEPT re-issued");
    EXPECT_PATH(&e, TDX_PATH_T1, 0, 1, TDX_REACT_GUEST_RETRY, 1, "T1");

    /* The same path from a status rule on the guest leaf; "any leaf"
     * rules stay host-only. */
    st_map_pt(&e, GPA + 0x1000);
    TDXT_EXPECT_STATUS(st_leaf(&e, 0, TDH_MEM_PAGE_AUG, GPA + 0x1000, 0, tdt_page(), NULL),
                       TDX_SUCCESS, "AUG 2");
    rule(&e, TDX_INJECT_ANY_LEAF, TDX_INJECT_ANY_OPERAND, 1000);
    id = rule(&e, tdx_inject_leaf_by_name("tdg_mem_page_accept"), TDX_INJECT_ANY_OPERAND, 1);
    TDXT_EXPECT(id >= 0 && !strcmp(tdx_inject_leaf_name(TDX_INJECT_GUEST_LEAF(TDG_MEM_PAGE_ACCEPT)),
                                   "TDG.MEM.PAGE.ACCEPT"), "guest-leaf rule by name");
    r = (struct tdx_regs){ .rax = TDG_MEM_PAGE_ACCEPT, .rcx = GPA + 0x1000 };
    tdx_tdcall(&run, &r, &x);
    TDXT_EXPECT_STATUS(r.rax, TDX_OPERAND_BUSY | TDX_OPERAND_ID_RCX, "ACCEPT: injected BUSY");
    TDXT_EXPECT(tdx_inject_fired(e.p->m, id) == 1, "guest rule fired once, not %lld",
                (long long)tdx_inject_fired(e.p->m, id));
    r = (struct tdx_regs){ .rax = TDG_MEM_PAGE_ACCEPT, .rcx = GPA + 0x1000 };
    tdx_tdcall(&run, &r, &x);
    TDXT_EXPECT_STATUS(r.rax, TDX_SUCCESS, "ACCEPT 2 re-issued");
    leave(&e, &run);
    EXPECT_PATH(&e, TDX_PATH_T1, 1, 1, TDX_REACT_GUEST_RETRY, 2, "T1 natural + injected");
    {
        struct tdx_status_rule bad = { .leaf = TDX_INJECT_GUEST_LEAF(TDX_MAX_GUEST_LEAF - 1),
                                       .when = TDX_INJECT_FIRST, .n = 1 };
        char msg[160];

        TDXT_EXPECT(tdx_inject_add_status_rule(e.p->m, &bad, msg, sizeof(msg)) < 0,
                    "a rule on an unknown guest leaf is refused");
    }
    expect_balanced(&e, "T1");
    st_expect_invariants(&e, "T1");
    st_teardown(&e);
}

/*
 * The unhandled window counts the BUSY's own LP: another LP's calls (the
 * BUSY's LP descheduled on a loaded host) do not expire it; the LP's own
 * calls without a retry do.
 */
static void test_window_is_per_lp(void)
{
    struct st_env e;

    st_setup(&e, 2, 2, true);
    st_map_pt(&e, GPA);
    st_map_pt(&e, GPA + 0x1000);
    rule(&e, TDH_MEM_PAGE_AUG, TDX_INJECT_ANY_OPERAND, 1);
    TDXT_EXPECT(tdx_paths_is_busy(st_leaf(&e, 0, TDH_MEM_PAGE_AUG, GPA, 0, tdt_page(), NULL)),
                "AUG on LP 0: BUSY");
    for (int i = 0; i < TDX_PATH_WINDOW + 100; i++) {
        st_track(&e, 1);
    }
    TDXT_EXPECT(counts(&e, TDX_PATH_G2B).pending == 1,
                "G2b still pending after %d calls of LP 1: expected 1 pending, got %llu",
                TDX_PATH_WINDOW + 100,
                (unsigned long long)counts(&e, TDX_PATH_G2B).pending);
    TDXT_EXPECT_STATUS(st_leaf(&e, 0, TDH_MEM_PAGE_AUG, GPA, 0, tdt_page(), NULL),
                       TDX_SUCCESS, "AUG retried on LP 0");
    EXPECT_PATH(&e, TDX_PATH_G2B, 1, 0, TDX_REACT_LOCAL_RETRY, 1, "G2b after LP 1's calls");

    rule(&e, TDH_MEM_PAGE_AUG, TDX_INJECT_ANY_OPERAND, 1);
    TDXT_EXPECT(tdx_paths_is_busy(st_leaf(&e, 0, TDH_MEM_PAGE_AUG, GPA + 0x1000, 0,
                                          tdt_page(), NULL)), "AUG 2 on LP 0: BUSY");
    for (int i = 0; i < TDX_PATH_WINDOW; i++) {
        st_track(&e, 0);
    }
    EXPECT_PATH(&e, TDX_PATH_G2B, 2, 0, TDX_REACT_UNHANDLED, 1,
                "G2b after a window of LP 0's own calls");
    expect_balanced(&e, "window");
    st_teardown(&e);
}

/* L1 shuts the module down (Linux 7.2: TDH.SYS.DISABLE at power-off) with
 * a BUSY never retried: nothing can retry it any more, so it is unhandled,
 * not left pending. */
static void test_pending_at_shutdown(void)
{
    struct st_env e;
    struct tdx_regs r = { 0 };

    st_setup(&e, 2, 1, true);
    st_map_pt(&e, GPA);
    rule(&e, TDH_MEM_PAGE_AUG, TDX_INJECT_ANY_OPERAND, 1);
    TDXT_EXPECT(tdx_paths_is_busy(st_leaf(&e, 0, TDH_MEM_PAGE_AUG, GPA, 0, tdt_page(), NULL)),
                "AUG: BUSY");
    TDXT_EXPECT(counts(&e, TDX_PATH_G2B).pending == 1, "G2b pending before shutdown");
    TDXT_EXPECT_STATUS(tdt_call(e.p, 1, TDH_SYS_DISABLE, &r), TDX_SUCCESS, "SYS.DISABLE");
    EXPECT_PATH(&e, TDX_PATH_G2B, 1, 0, TDX_REACT_UNHANDLED, 1, "G2b at shutdown");
    expect_balanced(&e, "shutdown");
    st_teardown(&e);
}

/* More never-retried BUSYs than the table holds: the rest overflow; a
 * reset forgets everything. */
static void test_overflow_and_reset(void)
{
    struct st_env e;
    struct tdx_path_counts c;
    struct tdx_path_stats s;
    const unsigned n = TDX_PATH_PENDING_MAX + 6;

    st_setup(&e, 2, 1, true);
    rule(&e, TDH_MEM_PAGE_AUG, TDX_INJECT_ANY_OPERAND, n);
    for (unsigned i = 0; i < n; i++) {
        TDXT_EXPECT(tdx_paths_is_busy(st_leaf(&e, 0, TDH_MEM_PAGE_AUG, GPA + i * 0x1000ULL, 0,
                                              tdt_page(), NULL)), "AUG %u: BUSY", i);
    }
    c = counts(&e, TDX_PATH_G2B);
    tdx_module_path_stats(e.p->m, &s);
    TDXT_EXPECT(c.busy_injected == n && c.pending == TDX_PATH_PENDING_MAX &&
                c.overflow == 6 && s.overflow == 6,
                "overflow: busy %llu pending %llu overflow %llu",
                (unsigned long long)c.busy_injected, (unsigned long long)c.pending,
                (unsigned long long)c.overflow);
    expect_balanced(&e, "overflow");
    tdx_module_reset_stats(e.p->m);
    c = counts(&e, TDX_PATH_G2B);
    TDXT_EXPECT(c.busy_injected == 0 && c.pending == 0 && c.overflow == 0 &&
                atomic_load(&e.p->m->paths.pending) == 0, "reset");
    st_expect_invariants(&e, "overflow");
    st_teardown(&e);
}

/* Threads on every LP issue S-EPT leaves and VP.ENTERs with a probability
 * rule armed on every leaf; a reader copies the table meanwhile. */
#define SMOKE_LPS   4
#define SMOKE_ITERS 400

static struct st_env smoke_env;
static _Atomic bool smoke_stop;

static void *smoke_thread(void *arg)
{
    unsigned i = (unsigned)(uintptr_t)arg;
    struct st_env *e = &smoke_env;
    uint64_t gpa = GPA + i * (2ULL << 20);

    for (unsigned k = 0; k < SMOKE_ITERS; k++) {
        struct tdx_td_run run;
        uint64_t g = gpa + (k % 8) * 0x1000ULL;
        bool in;

        st_leaf(e, i, TDH_MEM_PAGE_AUG, g, 0, TDT_POOL_BASE + 0x4000000ULL +
                (i * 8 + k % 8) * 0x1000ULL, NULL);
        enter(e, i, &run, &in);
        if (in) {
            leave(e, &run);
        }
        st_leaf(e, i, TDH_MEM_RANGE_BLOCK, g, 0, 0, NULL);
        st_track(e, i);
        st_leaf(e, i, TDH_MEM_RANGE_UNBLOCK, g, 0, 0, NULL);
    }
    return NULL;
}

static void *smoke_reader(void *arg)
{
    struct tdx_path_stats s;

    (void)arg;
    while (!atomic_load(&smoke_stop)) {
        tdx_module_path_stats(smoke_env.p->m, &s);
    }
    return NULL;
}

static void test_concurrency_smoke(void)
{
    struct st_env *e = &smoke_env;
    struct tdx_status_rule rl = {
        .leaf = TDX_INJECT_ANY_LEAF, .operand = TDX_INJECT_ANY_OPERAND,
        .when = TDX_INJECT_PROB, .p = 0.2,
    };
    pthread_t th[SMOKE_LPS + 1];
    struct tdx_path_stats s;
    uint64_t busy = 0;
    char err[128];

    st_setup(e, SMOKE_LPS, SMOKE_LPS, true);
    for (unsigned i = 0; i < SMOKE_LPS; i++) {
        st_map_pt(e, GPA + i * (2ULL << 20));
    }
    TDXT_EXPECT(tdx_inject_add_status_rule(e->p->m, &rl, err, sizeof(err)) >= 0, "rule: %s", err);
    for (unsigned i = 0; i < SMOKE_LPS; i++) {
        pthread_create(&th[i], NULL, smoke_thread, (void *)(uintptr_t)i);
    }
    pthread_create(&th[SMOKE_LPS], NULL, smoke_reader, NULL);
    for (unsigned i = 0; i < SMOKE_LPS; i++) {
        pthread_join(th[i], NULL);
    }
    atomic_store(&smoke_stop, true);
    pthread_join(th[SMOKE_LPS], NULL);
    tdx_module_path_stats(e->p->m, &s);
    for (unsigned id = 0; id < TDX_PATH_COUNT; id++) {
        busy += s.path[id].busy_injected + s.path[id].busy_natural;
    }
    TDXT_EXPECT(busy > 0, "smoke: some BUSYs were seen");
    expect_balanced(e, "smoke");
    st_expect_invariants(e, "smoke");
    st_teardown(e);
}

int main(void)
{
    test_names();
    test_g2b();
    test_g3a();
    test_g1();
    test_v1();
    test_w1();
    test_t1();
    test_overflow_and_reset();
    test_pending_at_shutdown();
    test_window_is_per_lp();
    test_concurrency_smoke();
    return tdxt_done("test-paths");
}
