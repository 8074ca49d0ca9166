/* Injection engine: triggers, filters, determinism, lock holds, statistics. */
#include "td-harness.h"

static struct tdxt_platform *ready_platform(uint64_t seed)
{
    struct tdx_platform_desc d = tdxt_desc(4, 1);
    struct tdx_regs r = { 0 };

    d.seed = seed;
    {
        struct tdxt_platform *p = tdxt_new(&d);

        tdxt_call(p, 0, TDH_SYS_INIT, &r);
        return p;
    }
}

/* LP.INIT on an LP that already did it goes through the global lock every
 * time: a convenient lock point to count. */
static uint64_t lp_init(struct tdxt_platform *p, unsigned lp)
{
    struct tdx_regs r = { 0 };
    return tdxt_call(p, lp, TDH_SYS_LP_INIT, &r);
}

static void test_triggers(void)
{
    struct tdxt_platform *p = ready_platform(7);
    struct tdx_status_rule rule = {
        .leaf = TDH_SYS_LP_INIT, .operand = TDX_OPERAND_ID_SYS,
        .when = TDX_INJECT_NTH, .n = 3,
    };
    char err[128];
    int id = tdx_inject_add_status_rule(p->m, &rule, err, sizeof(err));
    int busy = 0;

    TDXT_EXPECT(id >= 0, "add nth rule: %s", err);
    for (int i = 1; i <= 6; i++) {
        uint64_t s = lp_init(p, 0);

        if (i == 3) {
            TDXT_EXPECT_STATUS(s, TDX_SYS_BUSY, "3rd call with nth=3");
        } else {
            TDXT_EXPECT(s != TDX_SYS_BUSY, "call %d: unexpected injection", i);
        }
    }
    TDXT_EXPECT(tdx_inject_fired(p->m, id) == 1, "nth fired %lld times, expected 1",
                (long long)tdx_inject_fired(p->m, id));
    /* The injected BUSY came before any side effect: LP 0 was not
     * initialized by call 3, so call 1 did it and the rest saw DONE. */
    TDXT_EXPECT(p->m->lps_initialized == 1, "lps_initialized %u, expected 1",
                p->m->lps_initialized);
    tdx_inject_remove_status_rule(p->m, id);

    rule.when = TDX_INJECT_EVERY;
    rule.n = 2;
    rule.status = TDX_OPERAND_BUSY | TDX_OPERAND_ID_RCX;   /* custom status */
    id = tdx_inject_add_status_rule(p->m, &rule, err, sizeof(err));
    for (int i = 1; i <= 10; i++) {
        busy += lp_init(p, 1) == (TDX_OPERAND_BUSY | TDX_OPERAND_ID_RCX);
    }
    TDXT_EXPECT(busy == 5, "every 2nd of 10: %d injections, expected 5", busy);
    tdx_inject_remove_status_rule(p->m, id);

    rule.when = TDX_INJECT_FIRST;
    rule.n = 4;
    rule.status = 0;
    rule.lp_mask = 1u << 2;                 /* only LP 2 */
    id = tdx_inject_add_status_rule(p->m, &rule, err, sizeof(err));
    busy = 0;
    for (int i = 0; i < 6; i++) {
        busy += lp_init(p, 3) == TDX_SYS_BUSY;
    }
    TDXT_EXPECT(busy == 0, "LP filter: LP 3 got %d injections", busy);
    for (int i = 0; i < 6; i++) {
        busy += lp_init(p, 2) == TDX_SYS_BUSY;
    }
    TDXT_EXPECT(busy == 4, "first 4 on LP 2: %d injections", busy);
    TDXT_EXPECT(tdx_module_stats(p->m)->injected[TDH_SYS_LP_INIT] == 1 + 5 + 4,
                "stats injected: expected 10, got %llu",
                (unsigned long long)tdx_module_stats(p->m)->injected[TDH_SYS_LP_INIT]);
    TDXT_EXPECT_INVARIANTS(p, "triggers");
    tdxt_free(p);
}

/*
 * spare_retries: the immediate retry of a busy call (same LP, leaf, RCX,
 * RDX) is neither matched nor fired at; a different call is. Without the
 * flag the same sequence fires on retries (test_triggers, every 2).
 */
static void test_spare_retries(void)
{
    struct tdxt_platform *p = ready_platform(11);
    struct tdx_status_rule rule = {
        .leaf = TDH_SYS_LP_INIT, .operand = TDX_OPERAND_ID_SYS,
        .when = TDX_INJECT_EVERY, .n = 2, .spare_retries = true,
    };
    char err[128];
    int id = tdx_inject_add_status_rule(p->m, &rule, err, sizeof(err));
    bool prev_busy = false;
    int busy = 0;

    TDXT_EXPECT(id >= 0, "add spare-retries rule: %s", err);
    /* Matches 1, 2(fire), -, 3, 4(fire), -, 5, 6(fire), -, 7. */
    for (int i = 1; i <= 10; i++) {
        bool b = lp_init(p, 1) == TDX_SYS_BUSY;

        TDXT_EXPECT(!(b && prev_busy), "call %d: the retry of a busy call was "
                    "injected again (expected it spared)", i);
        busy += b;
        prev_busy = b;
    }
    TDXT_EXPECT(busy == 3, "every 2 sparing retries, 10 identical calls: %d "
                "injections, expected 3 (calls 2, 5, 8)", busy);
    /* A call that differs in RCX is not a retry: it is a match. */
    {
        struct tdx_regs r = { .rcx = 1 };
        uint64_t s = tdxt_call(p, 1, TDH_SYS_LP_INIT, &r);

        TDXT_EXPECT(s == TDX_SYS_BUSY, "match 8 (after a non-busy call) should "
                    "fire, got %#llx", (unsigned long long)s);
        r = (struct tdx_regs) { .rcx = 2 };
        s = tdxt_call(p, 1, TDH_SYS_LP_INIT, &r);
        TDXT_EXPECT(s != TDX_SYS_BUSY, "match 9 (other RCX, not a retry) should "
                    "not fire, got %#llx", (unsigned long long)s);
    }
    TDXT_EXPECT(tdx_inject_fired(p->m, id) == 4, "fired %lld, expected 4",
                (long long)tdx_inject_fired(p->m, id));
    TDXT_EXPECT_INVARIANTS(p, "spare retries");
    tdxt_free(p);
}

static uint64_t prob_pattern(uint64_t seed)
{
    struct tdxt_platform *p = ready_platform(seed);
    struct tdx_status_rule rule = {
        .leaf = TDX_INJECT_ANY_LEAF, .operand = TDX_INJECT_ANY_OPERAND,
        .when = TDX_INJECT_PROB, .p = 0.5,
    };
    char err[128];
    uint64_t pattern = 0;

    tdx_inject_add_status_rule(p->m, &rule, err, sizeof(err));
    for (int i = 0; i < 64; i++) {
        pattern = pattern << 1 | (lp_init(p, 0) == TDX_SYS_BUSY);
    }
    tdxt_free(p);
    return pattern;
}

static void test_determinism(void)
{
    uint64_t a = prob_pattern(42), b = prob_pattern(42), c = prob_pattern(43);
    int ones = __builtin_popcountll(a);

    TDXT_EXPECT(a == b, "same seed, different injections: %#llx vs %#llx",
                (unsigned long long)a, (unsigned long long)b);
    TDXT_EXPECT(a != c, "seeds 42 and 43 gave the same 64 decisions");
    TDXT_EXPECT(ones > 16 && ones < 48, "p=0.5 fired %d of 64", ones);
}

/* The decision log: which matches fired, and a digest of every decision. */
static struct tdx_status_rule_info prob_log(uint64_t seed, int calls)
{
    struct tdxt_platform *p = ready_platform(seed);
    struct tdx_status_rule rule = {
        .leaf = TDH_SYS_LP_INIT, .operand = TDX_INJECT_ANY_OPERAND,
        .when = TDX_INJECT_PROB, .p = 0.25,
    };
    struct tdx_status_rule_info ri;
    char err[128];
    int id = tdx_inject_add_status_rule(p->m, &rule, err, sizeof(err));
    uint64_t want_digest = TDX_INJECT_DIGEST_INIT, nfired = 0;

    for (int i = 1; i <= calls; i++) {
        bool fired = lp_init(p, 0) == TDX_SYS_BUSY;

        want_digest = tdx_inject_digest_step(want_digest, (uint64_t)i, fired);
        nfired += fired;
    }
    TDXT_EXPECT(tdx_inject_get_status_rule(p->m, id, &ri), "rule %d gone", id);
    TDXT_EXPECT(ri.matches == (uint64_t)calls && ri.fired == nfired,
                "matches %llu fired %llu, expected %d and %llu (busy seen)",
                (unsigned long long)ri.matches, (unsigned long long)ri.fired, calls,
                (unsigned long long)nfired);
    TDXT_EXPECT(ri.digest == want_digest, "digest %#llx, expected %#llx from the "
                "statuses the calls saw", (unsigned long long)ri.digest,
                (unsigned long long)want_digest);
    tdxt_free(p);
    return ri;
}

static void test_decision_log(void)
{
    struct tdx_status_rule_info a = prob_log(42, 400), b = prob_log(42, 400);
    struct tdx_status_rule_info c = prob_log(43, 400), d = prob_log(42, 200);
    uint64_t logged = a.fired < TDX_INJECT_FIRED_LOG ? a.fired : TDX_INJECT_FIRED_LOG;
    uint64_t in_d = 0;

    TDXT_EXPECT(a.fired > 50 && a.fired < 150, "p=0.25 fired %llu of 400",
                (unsigned long long)a.fired);
    TDXT_EXPECT(a.fired == b.fired && a.digest == b.digest &&
                !memcmp(a.fired_at, b.fired_at, sizeof(a.fired_at)),
                "same seed, different decisions: fired %llu/%llu digest %#llx/%#llx",
                (unsigned long long)a.fired, (unsigned long long)b.fired,
                (unsigned long long)a.digest, (unsigned long long)b.digest);
    TDXT_EXPECT(a.digest != c.digest && memcmp(a.fired_at, c.fired_at, sizeof(a.fired_at)),
                "seeds 42 and 43 made the same 400 decisions");
    for (uint64_t i = 0; i < logged; i++) {
        TDXT_EXPECT(a.fired_at[i] >= 1 && a.fired_at[i] <= 400 &&
                    (i == 0 || a.fired_at[i] > a.fired_at[i - 1]),
                    "fired_at[%llu] = %llu: not an ascending match index",
                    (unsigned long long)i, (unsigned long long)a.fired_at[i]);
    }
    /* A shorter run of the same workload: its decisions are a prefix. */
    while (in_d < d.fired && in_d < TDX_INJECT_FIRED_LOG) {
        TDXT_EXPECT(d.fired_at[in_d] == a.fired_at[in_d], "200-call run: firing %llu "
                    "at match %llu, the 400-call run at %llu",
                    (unsigned long long)in_d, (unsigned long long)d.fired_at[in_d],
                    (unsigned long long)a.fired_at[in_d]);
        in_d++;
    }
    TDXT_EXPECT(in_d > 0 && (in_d == logged || a.fired_at[in_d] > 200),
                "the 200-call run fired %llu times, the 400-call one more often "
                "within the first 200", (unsigned long long)in_d);
}

/* The TD list monitors read: TDR page and what each TD owns. */
static void test_list_tds(void)
{
    struct tdx_platform_desc d = tdxt_desc(2, 1);
    struct tdxt_platform *p = tdxt_new(&d);
    struct tdx_td_summary tds[4];
    struct tdt_td td;
    unsigned n;

    tdxt_boot(p);
    TDXT_EXPECT(tdx_module_list_tds(p->m, tds, 4) == 0, "TDs listed before any");
    tdt_next_page = TDT_POOL_BASE;
    tdt_create(p, &td, 2);
    tdt_init(p, &td, 2);
    tdt_vcpu(p, &td, 0);
    tdt_vcpu(p, &td, 1);
    n = tdx_module_list_tds(p->m, tds, 4);
    TDXT_EXPECT(n == 1 && tds[0].tdr_pa == td.tdr, "%u TDs, first TDR %#llx, "
                "expected 1 at %#llx", n, (unsigned long long)(n ? tds[0].tdr_pa : 0),
                (unsigned long long)td.tdr);
    TDXT_EXPECT(n == 1 && tds[0].num_vcpus == 2 &&
                tds[0].tdcx_pages == TDX_TD_TDCS_PAGES + 2 * (TDX_TD_TDVPS_PAGES - 1),
                "vcpus %u tdcx %llu, expected 2 and %u", n ? tds[0].num_vcpus : 0,
                (unsigned long long)(n ? tds[0].tdcx_pages : 0),
                TDX_TD_TDCS_PAGES + 2 * (TDX_TD_TDVPS_PAGES - 1));
    TDXT_EXPECT(tdx_module_list_tds(p->m, tds, 0) == 0, "max 0 wrote entries");
    tdt_release_hkid(p, &td);
    tdt_reclaim_all(p, &td);
    TDXT_EXPECT(tdx_module_list_tds(p->m, tds, 4) == 0, "reclaimed TD still listed");
    tdxt_free(p);
}

static void test_rule_validation(void)
{
    struct tdxt_platform *p = ready_platform(1);
    struct tdx_status_rule rule = { .leaf = 500, .when = TDX_INJECT_NTH, .n = 1 };
    char err[128];

    TDXT_EXPECT(tdx_inject_add_status_rule(p->m, &rule, err, sizeof(err)) < 0 &&
                strstr(err, "leaf"), "leaf 500 accepted");
    rule.leaf = 1;
    rule.n = 0;
    TDXT_EXPECT(tdx_inject_add_status_rule(p->m, &rule, err, sizeof(err)) < 0,
                "nth with n=0 accepted");
    rule.when = TDX_INJECT_PROB;
    rule.p = 1.5;
    TDXT_EXPECT(tdx_inject_add_status_rule(p->m, &rule, err, sizeof(err)) < 0,
                "p=1.5 accepted");
    TDXT_EXPECT(tdx_inject_hold_lock(p->m, TDX_NAMED_SEPT_TREE, 0, 0, TDX_LOCK_SHARED,
                                     0, err, sizeof(err)) < 0,
                "SEPT tree of no TD held");
    TDXT_EXPECT(tdx_inject_hold_lock(p->m, TDX_NAMED_PAMT, 1ULL << 40, 0,
                                     TDX_LOCK_SHARED, 0, err, sizeof(err)) < 0 &&
                strstr(err, "no such lock"), "PAMT entry outside RAM held");
    TDXT_EXPECT(!tdx_inject_remove_status_rule(p->m, 99) &&
                !tdx_inject_release_hold(p->m, -1), "bogus ids accepted");
    tdxt_free(p);
}

static void test_timed_hold(void)
{
    struct tdxt_platform *p = ready_platform(1);
    char err[128];
    int id = tdx_inject_hold_lock(p->m, TDX_NAMED_GLOBAL, 0, 0, TDX_LOCK_EXCLUSIVE,
                                  5000, err, sizeof(err));

    TDXT_EXPECT(id >= 0, "timed hold: %s", err);
    TDXT_EXPECT_STATUS(lp_init(p, 0), TDX_SYS_BUSY, "during the hold");
    atomic_fetch_add(&p->now_ns, 4000);
    TDXT_EXPECT_STATUS(lp_init(p, 0), TDX_SYS_BUSY, "4 us into a 5 us hold");
    atomic_fetch_add(&p->now_ns, 2000);
    TDXT_EXPECT_STATUS(lp_init(p, 0), TDX_SUCCESS, "after the hold expired");
    TDXT_EXPECT(!tdx_inject_release_hold(p->m, id), "expired hold still listed");
    TDXT_EXPECT_INVARIANTS(p, "timed hold");
    tdxt_free(p);
}

/*
 * A hold that ends on an event: after its N-th busy lock point, not after a
 * time. Injected statuses (no lock try) and tries of a shared hold by
 * shared takers (no busy) do not count; time does not end it.
 */
static void test_busies_hold(void)
{
    struct tdxt_platform *p = ready_platform(1);
    struct tdx_status_rule rule = {
        .leaf = TDH_SYS_LP_INIT, .operand = TDX_OPERAND_ID_SYS,
        .when = TDX_INJECT_FIRST, .n = 1,
    };
    struct tdx_hold_info hi;
    char err[128];
    int id, rid;

    id = tdx_inject_hold_lock_busies(p->m, TDX_NAMED_GLOBAL, 0, 0, TDX_LOCK_EXCLUSIVE,
                                     0, 3, err, sizeof(err));
    TDXT_EXPECT(id >= 0, "busies hold: %s", err);
    rid = tdx_inject_add_status_rule(p->m, &rule, err, sizeof(err));
    TDXT_EXPECT(rid >= 0, "rule: %s", err);
    TDXT_EXPECT_STATUS(lp_init(p, 0), TDX_SYS_BUSY, "injected, before the lock try");
    TDXT_EXPECT(tdx_inject_get_hold(p->m, id, &hi) && hi.busies == 3 &&
                hi.busies_seen == 0, "an injected status counted as a busy on the "
                "lock: seen %llu", (unsigned long long)hi.busies_seen);
    tdx_inject_remove_status_rule(p->m, rid);
    atomic_fetch_add(&p->now_ns, 10ULL * 1000 * 1000 * 1000);
    TDXT_EXPECT_STATUS(lp_init(p, 0), TDX_SYS_BUSY, "busy 1 of 3 (10 s later)");
    TDXT_EXPECT_STATUS(lp_init(p, 1), TDX_SYS_BUSY, "busy 2 of 3");
    TDXT_EXPECT(tdx_inject_get_hold(p->m, id, &hi) && hi.busies_seen == 2,
                "after 2 busies: seen %llu", (unsigned long long)hi.busies_seen);
    TDXT_EXPECT_STATUS(lp_init(p, 2), TDX_SYS_BUSY, "busy 3 of 3");
    TDXT_EXPECT(!tdx_inject_get_hold(p->m, id, &hi), "hold still listed after its "
                "3rd busy");
    TDXT_EXPECT_STATUS(lp_init(p, 0), TDX_SUCCESS, "after the hold released itself");
    TDXT_EXPECT(!tdx_inject_release_hold(p->m, id), "self-released hold released "
                "again");
    TDXT_EXPECT_INVARIANTS(p, "busies hold");

    /* Shared: shared takers pass and are not counted; released by hand. */
    id = tdx_inject_hold_lock_busies(p->m, TDX_NAMED_GLOBAL, 0, 0, TDX_LOCK_SHARED,
                                     0, 1, err, sizeof(err));
    TDXT_EXPECT(id >= 0, "shared busies hold: %s", err);
    TDXT_EXPECT_STATUS(lp_init(p, 1), TDX_SUCCESS, "LP.INIT (shared) vs shared hold");
    TDXT_EXPECT(tdx_inject_get_hold(p->m, id, &hi) && hi.busies_seen == 0,
                "a shared taker counted as busy");
    TDXT_EXPECT(tdx_inject_release_hold(p->m, id), "release before any busy");

    /* With a duration too: whichever comes first (here the time). */
    id = tdx_inject_hold_lock_busies(p->m, TDX_NAMED_GLOBAL, 0, 0, TDX_LOCK_EXCLUSIVE,
                                     1000, 100, err, sizeof(err));
    TDXT_EXPECT(id >= 0, "timed busies hold: %s", err);
    TDXT_EXPECT_STATUS(lp_init(p, 0), TDX_SYS_BUSY, "during the timed busies hold");
    atomic_fetch_add(&p->now_ns, 2000);
    TDXT_EXPECT_STATUS(lp_init(p, 2), TDX_SUCCESS, "time up before 100 busies");
    TDXT_EXPECT(!tdx_inject_get_hold(p->m, id, &hi), "expired busies hold listed");
    TDXT_EXPECT_INVARIANTS(p, "timed busies hold");
    tdxt_free(p);
}

/* Listing rules and holds as a monitor does, and the names it prints. */
static void test_listing(void)
{
    struct tdxt_platform *p = ready_platform(1);
    struct tdx_status_rule rule = {
        .leaf = TDH_SYS_LP_INIT, .operand = TDX_OPERAND_ID_SYS,
        .when = TDX_INJECT_EVERY, .n = 2, .lp_mask = 1,
    };
    struct tdx_status_rule_info ri;
    struct tdx_hold_info hi;
    char err[128];
    int id, hold, n = 0;

    id = tdx_inject_add_status_rule(p->m, &rule, err, sizeof(err));
    TDXT_EXPECT(id >= 0, "add: %s", err);
    for (int i = 0; i < 5; i++) {
        lp_init(p, 0);
        lp_init(p, 1);      /* filtered out: not a match */
    }
    TDXT_EXPECT(tdx_inject_get_status_rule(p->m, id, &ri), "rule %d not listed", id);
    TDXT_EXPECT(ri.matches == 5 && ri.fired == 2, "matches %llu fired %llu, "
                "expected 5 and 2", (unsigned long long)ri.matches,
                (unsigned long long)ri.fired);
    TDXT_EXPECT(ri.rule.leaf == TDH_SYS_LP_INIT && ri.rule.n == 2 &&
                ri.rule.when == TDX_INJECT_EVERY && ri.rule.lp_mask == 1,
                "rule read back differs");
    for (int i = 0; i < TDX_INJECT_MAX_RULES; i++) {
        n += tdx_inject_get_status_rule(p->m, i, &ri);
    }
    TDXT_EXPECT(n == 1, "%d rules listed, expected 1", n);
    TDXT_EXPECT(!tdx_inject_get_status_rule(p->m, -1, &ri) &&
                !tdx_inject_get_status_rule(p->m, TDX_INJECT_MAX_RULES, &ri),
                "bogus rule ids listed");
    tdx_inject_remove_status_rule(p->m, id);
    TDXT_EXPECT(!tdx_inject_get_status_rule(p->m, id, &ri), "removed rule listed");

    hold = tdx_inject_hold_lock(p->m, TDX_NAMED_PKG_KEY, 0, 0, TDX_LOCK_SHARED, 1000,
                                err, sizeof(err));
    TDXT_EXPECT(hold >= 0, "hold: %s", err);
    TDXT_EXPECT(tdx_inject_get_hold(p->m, hold, &hi) && hi.what == TDX_NAMED_PKG_KEY &&
                hi.mode == TDX_LOCK_EXCLUSIVE && hi.until_ns,
                "hold read back differs (a mutex is always held exclusive)");
    atomic_fetch_add(&p->now_ns, 1000);
    TDXT_EXPECT(!tdx_inject_get_hold(p->m, hold, &hi), "expired hold listed");
    TDXT_EXPECT(!tdx_inject_release_hold(p->m, hold), "expired hold not released");
    TDXT_EXPECT(!tdx_inject_get_hold(p->m, 99, &hi), "bogus hold id listed");

    TDXT_EXPECT(!strcmp(tdx_named_lock_name(TDX_NAMED_SEPT_ENTRY), "sept-entry") &&
                !strcmp(tdx_named_lock_name(TDX_NAMED_TD_EPOCH), "td-epoch") &&
                !tdx_named_lock_name(TDX_NAMED_LOCK_COUNT), "lock names");
    TDXT_EXPECT(!strcmp(tdx_inject_when_name(TDX_INJECT_PROB), "probability") &&
                !tdx_inject_when_name((enum tdx_inject_when)9), "trigger names");
    TDXT_EXPECT(tdx_host_leaf_by_name("TDH.MEM.PAGE.AUG") == TDH_MEM_PAGE_AUG &&
                tdx_host_leaf_by_name("tdh_mem_page_aug") == TDH_MEM_PAGE_AUG &&
                tdx_host_leaf_by_name("TDH.SYS.DISABLE") == TDH_SYS_DISABLE &&
                tdx_host_leaf_by_name("TDH.MEM.PAGE") < 0 &&
                tdx_host_leaf_by_name("TDH.MEM.PAGE.AUGX") < 0 &&
                tdx_host_leaf_by_name("") < 0 && tdx_host_leaf_by_name(NULL) < 0,
                "leaf names");
    TDXT_EXPECT_INVARIANTS(p, "listing");
    tdxt_free(p);
}

/* TDX_SYS_BUSY has no operand: statistics count it under the SYS operand. */
static void test_sys_busy_stats(void)
{
    struct tdxt_platform *p = ready_platform(1);
    const struct tdx_stats *st = tdx_module_stats(p->m);
    char err[128];
    int hold = tdx_inject_hold_lock(p->m, TDX_NAMED_GLOBAL, 0, 0, TDX_LOCK_EXCLUSIVE,
                                    0, err, sizeof(err));

    TDXT_EXPECT(hold >= 0, "hold global: %s", err);
    TDXT_EXPECT_STATUS(lp_init(p, 0), TDX_SYS_BUSY, "LP.INIT vs global");
    TDXT_EXPECT(st->busy[TDH_SYS_LP_INIT][TDX_OPERAND_ID_SYS] == 1 &&
                st->errors[TDH_SYS_LP_INIT] == 0,
                "SYS_BUSY counted as busy %llu, errors %llu",
                (unsigned long long)st->busy[TDH_SYS_LP_INIT][TDX_OPERAND_ID_SYS],
                (unsigned long long)st->errors[TDH_SYS_LP_INIT]);
    tdx_inject_release_hold(p->m, hold);
    tdx_module_reset_stats(p->m);
    TDXT_EXPECT(st->busy[TDH_SYS_LP_INIT][TDX_OPERAND_ID_SYS] == 0 &&
                st->calls[TDH_SYS_LP_INIT] == 0, "reset");
    tdxt_free(p);
}

/* Holds on locks inside a TD are dropped when the TD is freed, not left
 * pointing into freed memory; clear messages for locks that do not exist. */
static void test_holds_of_a_dead_td(void)
{
    struct tdx_platform_desc d = tdxt_desc(2, 1);
    struct tdxt_platform *p = tdxt_new(&d);
    struct tdx_hold_info hi;
    struct tdt_td td;
    char err[160];
    int tree, epoch;

    tdxt_boot(p);
    tdt_next_page = TDT_POOL_BASE;
    tdt_create(p, &td, 2);
    tdt_init(p, &td, 1);
    TDXT_EXPECT(tdx_inject_hold_lock(p->m, TDX_NAMED_SEPT_TREE, td.tdcx[0], 0,
                                     TDX_LOCK_SHARED, 0, err, sizeof(err)) < 0 &&
                strstr(err, "not the TDR page of a TD"), "TDCX page as a TDR: %s", err);
    TDXT_EXPECT(tdx_inject_hold_lock(p->m, TDX_NAMED_PKG_KEY, 5, 0, TDX_LOCK_SHARED, 0,
                                     err, sizeof(err)) < 0 &&
                strstr(err, "package 5 does not exist"), "package 5: %s", err);
    tree = tdx_inject_hold_lock(p->m, TDX_NAMED_SEPT_TREE, td.tdr, 0, TDX_LOCK_SHARED, 0,
                                err, sizeof(err));
    epoch = tdx_inject_hold_lock(p->m, TDX_NAMED_TD_EPOCH, td.tdr, 0, TDX_LOCK_SHARED, 0,
                                 err, sizeof(err));
    TDXT_EXPECT(tree >= 0 && epoch >= 0, "hold tree/epoch: %s", err);
    tdt_release_hkid(p, &td);
    tdt_reclaim_all(p, &td);
    TDXT_EXPECT(!tdx_inject_get_hold(p->m, tree, &hi) &&
                !tdx_inject_get_hold(p->m, epoch, &hi), "holds outlived their TD");
    TDXT_EXPECT(!tdx_inject_release_hold(p->m, tree), "dead TD's hold released twice");
    TDXT_EXPECT_INVARIANTS(p, "holds of a dead TD");
    tdxt_free(p);
}

int main(void)
{
    test_holds_of_a_dead_td();
    test_listing();
    test_sys_busy_stats();
    test_triggers();
    test_spare_retries();
    test_determinism();
    test_decision_log();
    test_list_tds();
    test_rule_validation();
    test_timed_hold();
    test_busies_hold();
    return tdxt_done("test-inject");
}
