/*
 * Bounded (~2 s) multithreaded stress of the S-EPT leaves and the VP.ENTER
 * core on one TD: vCPU threads enter/exit (guest ACCEPTs inside, zero-step
 * filter armed now and then, fixing their own faults with PAGE.AUG as KVM
 * does), an AUG thread (PAGE.AUG, SEPT.ADD of a page table that comes and
 * goes), a zap thread (BLOCK -> TRACK -> REMOVE, and SEPT.REMOVE of the
 * dynamic page table, with KVM's retry-on-busy), and a plain TRACK thread.
 * At the end: every vCPU out, invariants (core + S-EPT), all locks free.
 * Meant to be run under TSan and ASan as well.
 */
#include <pthread.h>
#include <sched.h>
#include <time.h>

#include "sept-harness.h"

#define GPA_A      0x80000000ULL                 /* PT always present */
#define GPA_B      (GPA_A + (2ULL << 20))        /* PT added/removed */
#define NPAGES     48                            /* GPAs per region */
#define POOL_SIZE  256
#define RUN_NS     2000000000ULL
#define NVCPUS     2

struct pool {
    pthread_mutex_t lock;
    uint64_t page[POOL_SIZE];
    unsigned n;
};

static struct st_env env;
static struct pool pages, pts;
static atomic_bool stop;
static _Atomic uint64_t n_enter, n_synth, n_busy_enter, n_aug, n_accept, n_remove,
    n_sept_add, n_sept_remove, n_track, n_busy[256];

static void pool_put(struct pool *p, uint64_t pa)
{
    pthread_mutex_lock(&p->lock);
    if (p->n < POOL_SIZE) {
        p->page[p->n++] = pa;
    }
    pthread_mutex_unlock(&p->lock);
}

static uint64_t pool_get(struct pool *p)
{
    uint64_t pa = 0;

    pthread_mutex_lock(&p->lock);
    if (p->n) {
        pa = p->page[--p->n];
    }
    pthread_mutex_unlock(&p->lock);
    return pa;
}

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static uint64_t rand_gpa(uint64_t *s)
{
    uint64_t base = (rnd(s) & 1) ? GPA_B : GPA_A;

    return base + (rnd(s) % NPAGES) * TDX_PAGE_SIZE;
}

static bool retryable(uint64_t st)
{
    uint64_t c = tdx_status_class(st);

    if (c == TDX_OPERAND_BUSY) {
        atomic_fetch_add(&n_busy[st & 0xFF], 1);
    }
    return c == TDX_OPERAND_BUSY || c == TDX_PREVIOUS_TLB_EPOCH_BUSY ||
           c == TDX_TLB_TRACKING_NOT_DONE;
}

/* A leaf with KVM-style retries (bounded; the others keep moving). */
static uint64_t leaf_retry(unsigned lp, uint64_t rax, uint64_t gpa, int level,
                           uint64_t page, struct tdx_regs *out)
{
    uint64_t st = 0;

    for (int i = 0; i < 5000 && !atomic_load(&stop); i++) {
        st = rax == TDH_MEM_TRACK ? st_track(&env, lp)
                                  : st_leaf(&env, lp, rax, gpa, level, page, out);
        if (!retryable(st)) {
            break;
        }
        sched_yield();
    }
    return st;
}

/* Map gpa as KVM's fault path would: AUG (+ SEPT.ADD if the PT is gone). */
static void fault_in(unsigned lp, uint64_t gpa)
{
    uint64_t page = pool_get(&pages), st;

    if (!page) {
        return;
    }
    st = st_leaf(&env, lp, TDH_MEM_PAGE_AUG, gpa, 0, page, NULL);
    if (tdx_status_class(st) == TDX_EPT_WALK_FAILED) {
        uint64_t pt = pool_get(&pts);

        if (pt) {
            uint64_t s2 = st_leaf(&env, lp, TDH_MEM_SEPT_ADD, gpa & ~((2ULL << 20) - 1),
                                  1, pt, NULL);

            if (s2 == TDX_SUCCESS) {
                atomic_fetch_add(&n_sept_add, 1);
            } else {
                retryable(s2);
                pool_put(&pts, pt);
            }
        }
        st = st_leaf(&env, lp, TDH_MEM_PAGE_AUG, gpa, 0, page, NULL);
    }
    if (st == TDX_SUCCESS) {
        atomic_fetch_add(&n_aug, 1);
    } else {
        retryable(st);
        pool_put(&pages, page);
    }
}

static void *vcpu_thread(void *arg)
{
    unsigned i = (unsigned)(uintptr_t)arg;
    uint64_t seed = 0x9E3779B97F4A7C15ULL * (i + 1), rip = 0x1000;

    while (!atomic_load(&stop)) {
        struct tdx_td_run run;
        struct tdx_td_exit x = { .reason = TDX_EXIT_REASON_EXT_INTR };
        struct tdx_regs r = { .rcx = env.td.vp[i].tdvpr };
        uint64_t exit_rip = rip + 4;

        if (!tdxt_vp_enter(env.p->m, env.td.vp[i].lp, &r, &run)) {
            if (tdx_status_is_error(r.rax)) {
                TDXT_EXPECT(retryable(r.rax), "VP.ENTER: unexpected %#llx",
                            (unsigned long long)r.rax);
                atomic_fetch_add(&n_busy_enter, 1);
                sched_yield();
                continue;
            }
            /* Synthetic exit: the zero-step filter wants the page: KVM
             * maps it; the guest (here: on its behalf) accepts it. */
            atomic_fetch_add(&n_synth, 1);
            fault_in(env.td.vp[i].lp, r.r8);
            st_accept(&env, env.td.vp[i].lp, r.r8, 0, NULL);
            continue;
        }
        atomic_fetch_add(&n_enter, 1);
        run.entry_rip = rip;
        /* The guest touches and accepts a few pages. */
        for (int k = 0; k < 4; k++) {
            uint64_t gpa = rand_gpa(&seed), hpa;

            if (tdx_sept_translate(run.td, gpa, TDX_ACCESS_RWX, &hpa, NULL, NULL,
                                   NULL) == TDX_XLATE_OK) {
                continue;
            }
            if (tdx_sept_classify_fault(run.td, gpa) == TDX_FAULT_VE) {
                if (st_accept(&env, env.td.vp[i].lp, gpa, 0, NULL) == TDX_SUCCESS) {
                    atomic_fetch_add(&n_accept, 1);
                }
                continue;
            }
            /* A real EPT violation: exit; now and then without progress,
             * which arms the zero-step filter after 7 in a row. */
            x.reason = TDX_EXIT_REASON_EPT_VIOLATION;
            x.gpa = gpa;
            if (rnd(&seed) % 4 != 0) {
                exit_rip = rip;
            }
            break;
        }
        run.state->rip = exit_rip;
        tdx_vp_exit(&run, &x, &r);
        rip = exit_rip;
        if (x.reason == TDX_EXIT_REASON_EPT_VIOLATION && rnd(&seed) % 2) {
            fault_in(env.td.vp[i].lp, x.gpa);
        }
    }
    return NULL;
}

static void *aug_thread(void *arg)
{
    uint64_t seed = 0xABCDEF12345ULL;

    while (!atomic_load(&stop)) {
        fault_in(2, rand_gpa(&seed));
    }
    return NULL;
}

static void zap_page(unsigned lp, uint64_t gpa)
{
    struct tdx_regs r;
    enum tdx_sept_state s = st_state(&env, gpa, 0);
    uint64_t st;

    if (s == TDX_SEPT_MAPPED || s == TDX_SEPT_PENDING) {
        st = leaf_retry(lp, TDH_MEM_RANGE_BLOCK, gpa, 0, 0, NULL);
        if (st != TDX_SUCCESS) {
            return;                     /* raced with another change */
        }
    } else if (s != TDX_SEPT_BLOCKED && s != TDX_SEPT_PENDING_BLOCKED) {
        return;
    }
    if (leaf_retry(lp, TDH_MEM_TRACK, 0, 0, 0, NULL) == TDX_SUCCESS) {
        atomic_fetch_add(&n_track, 1);
    }
    st = leaf_retry(lp, TDH_MEM_PAGE_REMOVE, gpa, 0, 0, &r);
    if (st == TDX_SUCCESS) {
        atomic_fetch_add(&n_remove, 1);
        pool_put(&pages, r.rcx);
    }
}

/* Remove region B's page table if it is empty; put it back if not. */
static void zap_pt(unsigned lp)
{
    struct tdx_regs r;
    uint64_t st;

    if (st_state(&env, GPA_B, 1) != TDX_SEPT_NL_MAPPED) {
        return;
    }
    if (leaf_retry(lp, TDH_MEM_RANGE_BLOCK, GPA_B, 1, 0, NULL) != TDX_SUCCESS) {
        return;
    }
    leaf_retry(lp, TDH_MEM_TRACK, 0, 0, 0, NULL);
    st = leaf_retry(lp, TDH_MEM_SEPT_REMOVE, GPA_B, 1, 0, &r);
    if (st == TDX_SUCCESS) {
        atomic_fetch_add(&n_sept_remove, 1);
        pool_put(&pts, r.rcx);
        return;
    }
    /* Not empty: give the table back to the guest. */
    leaf_retry(lp, TDH_MEM_RANGE_UNBLOCK, GPA_B, 1, 0, NULL);
}

static void *zap_thread(void *arg)
{
    uint64_t seed = 0x1234567ULL;

    while (!atomic_load(&stop)) {
        if (rnd(&seed) % 16 == 0) {
            /* Empty region B first, then try to drop its table. */
            for (unsigned k = 0; k < NPAGES && !atomic_load(&stop); k++) {
                zap_page(3, GPA_B + k * TDX_PAGE_SIZE);
            }
            zap_pt(3);
        } else {
            zap_page(3, rand_gpa(&seed));
        }
    }
    return NULL;
}

static void *track_thread(void *arg)
{
    while (!atomic_load(&stop)) {
        uint64_t st = st_track(&env, 4);

        if (st == TDX_SUCCESS) {
            atomic_fetch_add(&n_track, 1);
        } else {
            TDXT_EXPECT(retryable(st), "TRACK: unexpected %#llx", (unsigned long long)st);
        }
        sched_yield();
    }
    return NULL;
}

int main(void)
{
    pthread_t th[NVCPUS + 3];
    uint64_t t0;
    unsigned n = 0;

    st_setup(&env, 6, NVCPUS, true);
    pthread_mutex_init(&pages.lock, NULL);
    pthread_mutex_init(&pts.lock, NULL);
    for (unsigned i = 0; i < POOL_SIZE; i++) {
        pages.page[pages.n++] = tdt_page();
    }
    for (unsigned i = 0; i < 16; i++) {
        pts.page[pts.n++] = tdt_page();
    }
    st_map_pt(&env, GPA_A);
    st_map_pt(&env, GPA_B);

    for (unsigned i = 0; i < NVCPUS; i++) {
        pthread_create(&th[n++], NULL, vcpu_thread, (void *)(uintptr_t)i);
    }
    pthread_create(&th[n++], NULL, aug_thread, NULL);
    pthread_create(&th[n++], NULL, zap_thread, NULL);
    pthread_create(&th[n++], NULL, track_thread, NULL);
    t0 = now_ns();
    while (now_ns() - t0 < RUN_NS) {
        struct timespec ts = { 0, 20000000 };

        nanosleep(&ts, NULL);
    }
    atomic_store(&stop, true);
    for (unsigned i = 0; i < n; i++) {
        pthread_join(th[i], NULL);
    }

    printf("enter %llu (busy %llu, synthetic %llu), AUG %llu, ACCEPT %llu, REMOVE %llu, "
           "SEPT.ADD %llu, SEPT.REMOVE %llu, TRACK %llu; BUSY|RCX %llu, |SEPT %llu, "
           "|TD_EPOCH %llu\n",
           (unsigned long long)n_enter, (unsigned long long)n_busy_enter,
           (unsigned long long)n_synth, (unsigned long long)n_aug,
           (unsigned long long)n_accept, (unsigned long long)n_remove,
           (unsigned long long)n_sept_add, (unsigned long long)n_sept_remove,
           (unsigned long long)n_track, (unsigned long long)n_busy[1],
           (unsigned long long)n_busy[0x92], (unsigned long long)n_busy[0xA9]);
    TDXT_EXPECT(n_enter > 0 && n_aug > 0 && n_remove > 0 && n_track > 0,
                "every kind of work made progress");
    TDXT_EXPECT(atomic_load(&env.obj->epoch_refcount[0]) == 0 &&
                atomic_load(&env.obj->epoch_refcount[1]) == 0, "no vCPU left in the TD");
    st_expect_invariants(&env, "after the stress");
    st_teardown(&env);
    pthread_mutex_destroy(&pages.lock);
    pthread_mutex_destroy(&pts.lock);
    return tdxt_done("test-sept-stress");
}
