/*
 * stretch_retry_ms (core/inject.h): a zap retry after a stretch rule fired
 * waits, holding nothing, until a vCPU of its TD enters or leaves the TD on
 * another LP (V2 entry-violated evidence) or the bound passes (a kernel
 * with kick and gate: the retry only took longer); anything but the
 * immediate retry is not stretched; only zap leaves take the option.
 */
#include <pthread.h>
#include <time.h>

#include "sept-harness.h"
#include "paths.h"

static uint64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static struct tdx_path_counts counts(struct st_env *e, enum tdx_path_id id)
{
    struct tdx_path_stats s;

    tdx_module_path_stats(e->p->m, &s);
    return s.path[id];
}

static int stretch_rule(struct st_env *e, int leaf, uint32_t ms)
{
    struct tdx_status_rule r = {
        .leaf = leaf, .operand = TDX_INJECT_ANY_OPERAND,
        .when = TDX_INJECT_FIRST, .n = 1, .stretch_retry_ms = ms,
    };
    char err[160];
    int id = tdx_inject_add_status_rule(e->p->m, &r, err, sizeof(err));

    TDXT_EXPECT(id >= 0, "stretch rule: %s", err);
    return id;
}

static void expect_rule(struct st_env *e, int id, uint64_t stretched,
                        uint64_t entries, const char *what)
{
    struct tdx_status_rule_info ri;

    TDXT_EXPECT(tdx_inject_get_status_rule(e->p->m, id, &ri), "%s: rule %d", what, id);
    TDXT_EXPECT(ri.stretched == stretched && ri.stretch_entries == entries,
                "%s: rule %d stretched %llu (expected %llu), ended by an entry "
                "%llu (expected %llu)", what, id, (unsigned long long)ri.stretched,
                (unsigned long long)stretched,
                (unsigned long long)ri.stretch_entries,
                (unsigned long long)entries);
}

static void test_only_zap_leaves(void)
{
    struct st_env e;
    struct tdx_status_rule r = {
        .leaf = TDH_MEM_PAGE_AUG, .operand = TDX_INJECT_ANY_OPERAND,
        .when = TDX_INJECT_FIRST, .n = 1, .stretch_retry_ms = 100,
    };
    char err[160] = "";

    st_setup(&e, 2, 1, true);
    TDXT_EXPECT(tdx_inject_add_status_rule(e.p->m, &r, err, sizeof(err)) < 0 &&
                strstr(err, "zap leaves"), "stretch on PAGE.AUG refused: '%s'", err);
    r.leaf = TDH_MEM_TRACK;
    r.stretch_retry_ms = TDX_INJECT_STRETCH_MAX_MS + 1;
    TDXT_EXPECT(tdx_inject_add_status_rule(e.p->m, &r, err, sizeof(err)) < 0 &&
                strstr(err, "at most"), "stretch beyond the bound refused: '%s'", err);
    r.stretch_retry_ms = TDX_INJECT_STRETCH_MAX_MS;
    TDXT_EXPECT(tdx_inject_add_status_rule(e.p->m, &r, err, sizeof(err)) >= 0,
                "stretch on TRACK at the bound: %s", err);
    st_teardown(&e);
}

struct retry_arg {
    struct st_env *e;
    uint64_t status, ms;
};

static void *track_retry(void *opaque)
{
    struct retry_arg *a = opaque;
    uint64_t t0 = now_ms();

    a->status = st_track(a->e, 0);
    a->ms = now_ms() - t0;
    return NULL;
}

static void *block_retry(void *opaque)
{
    struct retry_arg *a = opaque;
    uint64_t t0 = now_ms();

    a->status = st_leaf(a->e, 0, TDH_MEM_RANGE_BLOCK, 0x80000000ULL, 0, 0, NULL);
    a->ms = now_ms() - t0;
    return NULL;
}

static void wait_for_stretch(struct st_env *e)
{
    for (uint64_t t0 = now_ms();
         !atomic_load(&e->p->m->paths.stretching) && now_ms() - t0 < 2000;) {
        struct timespec ts = { 0, 1000000 };

        nanosleep(&ts, NULL);
    }
}

/* vCPU 1 on LP 1, entering or leaving the TD while LP 0's retry waits. */
struct vcpu1 {
    struct tdx_td_run run;
    struct tdx_regs r;
    bool in;
};

static void enter_vcpu1(struct st_env *e, struct vcpu1 *v)
{
    v->r = (struct tdx_regs) { .rax = TDH_VP_ENTER, .rcx = e->td.vp[1].tdvpr };
    v->in = tdxt_vp_enter(e->p->m, e->td.vp[1].lp, &v->r, &v->run);
}

static void exit_vcpu1(struct st_env *e, struct vcpu1 *v)
{
    struct tdx_td_exit x = { .reason = TDX_EXIT_REASON_EXT_INTR };

    if (v->in) {
        tdx_vp_exit(&v->run, &x, &v->r);
        v->in = false;
    }
}

/* LP 0's retry (in a thread) once it waits, `during` on LP 1 meanwhile. */
static struct retry_arg stretched(struct st_env *e, void *(*retry)(void *),
                                  void (*during)(struct st_env *, struct vcpu1 *),
                                  struct vcpu1 *v)
{
    struct retry_arg a = { .e = e };
    pthread_t t;

    pthread_create(&t, NULL, retry, &a);
    /* An event before the retry waits would only make it wait for the
     * bound (and fail the timing checks). */
    wait_for_stretch(e);
    during(e, v);
    pthread_join(t, NULL);
    return a;
}

static void expect_violated(struct st_env *e, enum tdx_path_id g3,
                            const struct retry_arg *a, uint64_t n,
                            const char *what)
{
    TDXT_EXPECT_STATUS(a->status, TDX_SUCCESS, what);
    TDXT_EXPECT(a->ms < 4000, "%s: the event ended the wait (%llu ms of 5000)",
                what, (unsigned long long)a->ms);
    TDXT_EXPECT(counts(e, g3).reaction[TDX_REACT_KICK_VIOLATED] == n,
                "%s: %s kick-violated", what, tdx_path_name(g3));
    TDXT_EXPECT(counts(e, TDX_PATH_V2).reaction[TDX_REACT_ENTRY_VIOLATED] == n,
                "%s: V2 entry-violated", what);
}

/*
 * A kernel without the entry gate: a vCPU enters during the retry. Then an
 * entry attempt that does not even get in (VP.ENTER busy) is evidence too:
 * the kernel tried.
 */
static void test_entry_ends_the_wait(void)
{
    struct st_env e;
    struct tdx_status_rule vr = {
        .leaf = TDH_VP_ENTER, .operand = TDX_OPERAND_ID_TD_EPOCH,
        .when = TDX_INJECT_FIRST, .n = 1,
    };
    struct vcpu1 v = { .in = false };
    struct retry_arg a;
    char err[160];
    int id;

    st_setup(&e, 2, 2, true);
    id = stretch_rule(&e, TDH_MEM_TRACK, 5000);
    TDXT_EXPECT(tdx_paths_is_busy(st_track(&e, 0)), "TRACK: injected BUSY");
    a = stretched(&e, track_retry, enter_vcpu1, &v);
    TDXT_EXPECT(v.in, "vCPU 1 entered during the retry: %#llx",
                (unsigned long long)v.r.rax);
    exit_vcpu1(&e, &v);
    expect_violated(&e, TDX_PATH_G3B, &a, 1, "entry");
    expect_rule(&e, id, 1, 1, "entry");

    TDXT_EXPECT(tdx_inject_add_status_rule(e.p->m, &vr, err, sizeof(err)) >= 0,
                "VP.ENTER rule: %s", err);
    id = stretch_rule(&e, TDH_MEM_TRACK, 5000);
    TDXT_EXPECT(tdx_paths_is_busy(st_track(&e, 0)), "TRACK 2: injected BUSY");
    a = stretched(&e, track_retry, enter_vcpu1, &v);
    TDXT_EXPECT(!v.in && tdx_paths_is_busy(v.r.rax), "vCPU 1's entry attempt: busy");
    expect_violated(&e, TDX_PATH_G3B, &a, 2, "attempt");
    expect_rule(&e, id, 1, 1, "attempt");
    st_expect_invariants(&e, "entry during a stretched retry");
    st_teardown(&e);
}

/*
 * A kernel that does not kick: vCPU 1 was inside before the BUSY and is
 * still inside when the retry starts; it leaves the TD (a timer interrupt)
 * during the retry: evidence too.
 */
static void test_exit_ends_the_wait(void)
{
    struct st_env e;
    struct vcpu1 v = { .in = false };
    struct retry_arg a;
    int id;

    st_setup(&e, 2, 2, true);
    st_mapped_page(&e, 0x80000000ULL);
    enter_vcpu1(&e, &v);
    TDXT_EXPECT(v.in, "vCPU 1 inside before the zap: %#llx",
                (unsigned long long)v.r.rax);
    id = stretch_rule(&e, TDH_MEM_RANGE_BLOCK, 5000);
    TDXT_EXPECT(tdx_paths_is_busy(st_leaf(&e, 0, TDH_MEM_RANGE_BLOCK, 0x80000000ULL,
                                          0, 0, NULL)), "BLOCK: injected BUSY");
    a = stretched(&e, block_retry, exit_vcpu1, &v);
    expect_violated(&e, TDX_PATH_G3A, &a, 1, "exit");
    expect_rule(&e, id, 1, 1, "exit");
    st_expect_invariants(&e, "exit during a stretched retry");
    st_teardown(&e);
}

/* A gated kernel: nothing enters, the retry waits for the bound. */
static void test_bound(void)
{
    struct st_env e;
    struct retry_arg a = { .e = &e };
    int id;

    st_setup(&e, 2, 2, true);
    id = stretch_rule(&e, TDH_MEM_TRACK, 100);
    TDXT_EXPECT(tdx_paths_is_busy(st_track(&e, 0)), "TRACK: injected BUSY");
    track_retry(&a);
    TDXT_EXPECT_STATUS(a.status, TDX_SUCCESS, "stretched TRACK retry");
    TDXT_EXPECT(a.ms >= 99 && a.ms < 3000,
                "the retry waited the 100 ms bound (%llu ms)",
                (unsigned long long)a.ms);
    TDXT_EXPECT(counts(&e, TDX_PATH_G3B).reaction[TDX_REACT_KICK_AND_RETRY] == 1,
                "G3b kick-and-retry");
    TDXT_EXPECT(counts(&e, TDX_PATH_V2).reaction[TDX_REACT_ENTRY_GATED] == 1,
                "V2 entry-gated");
    expect_rule(&e, id, 1, 0, "bound");

    /* A VP.ENTER after the retry completed is no evidence. */
    {
        struct tdx_regs r = { .rax = TDH_VP_ENTER, .rcx = e.td.vp[1].tdvpr };
        struct tdx_td_exit x = { .reason = TDX_EXIT_REASON_HLT };
        struct tdx_td_run run;

        if (tdxt_vp_enter(e.p->m, e.td.vp[1].lp, &r, &run)) {
            tdx_vp_exit(&run, &x, &r);
        }
    }
    TDXT_EXPECT(counts(&e, TDX_PATH_V2).reaction[TDX_REACT_ENTRY_VIOLATED] == 0,
                "V2: no violation after the retry");
    st_teardown(&e);
}

/* Only the immediate retry on the same LP is stretched. */
static void test_not_a_retry(void)
{
    struct st_env e;
    uint64_t t0, ms;
    int id;

    st_setup(&e, 2, 2, true);
    st_mapped_page(&e, 0x80000000ULL);
    id = stretch_rule(&e, TDH_MEM_TRACK, 2000);
    TDXT_EXPECT(tdx_paths_is_busy(st_track(&e, 0)), "TRACK: injected BUSY");
    t0 = now_ms();
    /* Another LP's TRACK is not LP 0's retry. */
    TDXT_EXPECT_STATUS(st_track(&e, 1), TDX_SUCCESS, "TRACK from LP 1");
    /* LP 0's next call is another one: it consumes the arm... */
    TDXT_EXPECT_STATUS(st_leaf(&e, 0, TDH_MEM_RANGE_BLOCK, 0x80000000ULL, 0, 0, NULL),
                       TDX_SUCCESS, "BLOCK on LP 0");
    /* ... so LP 0's TRACK after it is not stretched. */
    TDXT_EXPECT_STATUS(st_track(&e, 0), TDX_SUCCESS, "TRACK from LP 0");
    ms = now_ms() - t0;
    TDXT_EXPECT(ms < 1000, "no stretch (%llu ms)", (unsigned long long)ms);
    expect_rule(&e, id, 0, 0, "not a retry");
    st_teardown(&e);
}

int main(void)
{
    test_only_zap_leaves();
    test_entry_ends_the_wait();
    test_exit_ends_the_wait();
    test_bound();
    test_not_a_retry();
    return tdxt_done("test-stretch");
}
