/* Lock primitives: sharex, host-priority sharex, mutex; and a stress run. */
#include <pthread.h>
#include <time.h>

#include "harness.h"

#define R(l, k, m, h) tdx_lock_try((l), (k), (m), (h))

static void test_sharex(void)
{
    struct tdx_lock l;

    tdx_lock_init(&l);
    TDXT_EXPECT(R(&l, TDX_LOCK_SHAREX, TDX_LOCK_SHARED, true) == TDX_LOCK_OK, "1st shared");
    TDXT_EXPECT(R(&l, TDX_LOCK_SHAREX, TDX_LOCK_SHARED, false) == TDX_LOCK_OK, "2nd shared");
    TDXT_EXPECT(R(&l, TDX_LOCK_SHAREX, TDX_LOCK_EXCLUSIVE, true) == TDX_LOCK_BUSY,
                "exclusive vs readers");
    tdx_lock_release(&l, TDX_LOCK_SHARED);
    tdx_lock_release(&l, TDX_LOCK_SHARED);
    TDXT_EXPECT(tdx_lock_is_free(&l), "free after readers left");
    TDXT_EXPECT(R(&l, TDX_LOCK_SHAREX, TDX_LOCK_EXCLUSIVE, false) == TDX_LOCK_OK, "exclusive");
    TDXT_EXPECT(R(&l, TDX_LOCK_SHAREX, TDX_LOCK_SHARED, true) == TDX_LOCK_BUSY,
                "shared vs writer");
    TDXT_EXPECT(!tdx_lock_hp_pending(&l), "plain sharex never records host priority");
    tdx_lock_release(&l, TDX_LOCK_EXCLUSIVE);
    TDXT_EXPECT(atomic_load(&l.word) == 0, "word 0 after release, got %#x",
                (unsigned)atomic_load(&l.word));
}

static void test_host_priority(void)
{
    struct tdx_lock l;

    tdx_lock_init(&l);
    /* A guest holds it; the host fails and asks for priority. */
    TDXT_EXPECT(R(&l, TDX_LOCK_HP_SHAREX, TDX_LOCK_EXCLUSIVE, false) == TDX_LOCK_OK,
                "guest exclusive");
    TDXT_EXPECT(R(&l, TDX_LOCK_HP_SHAREX, TDX_LOCK_EXCLUSIVE, true) == TDX_LOCK_BUSY,
                "host vs guest writer");
    TDXT_EXPECT(tdx_lock_hp_pending(&l), "host failure sets host priority");
    tdx_lock_release(&l, TDX_LOCK_EXCLUSIVE);
    TDXT_EXPECT(tdx_lock_hp_pending(&l), "release keeps the host's request");
    /* Until the host gets in, guests back off, both modes. */
    TDXT_EXPECT(R(&l, TDX_LOCK_HP_SHAREX, TDX_LOCK_EXCLUSIVE, false) ==
                TDX_LOCK_BUSY_HOST_PRIORITY, "guest exclusive backs off");
    TDXT_EXPECT(R(&l, TDX_LOCK_HP_SHAREX, TDX_LOCK_SHARED, false) ==
                TDX_LOCK_BUSY_HOST_PRIORITY, "guest shared backs off");
    TDXT_EXPECT(R(&l, TDX_LOCK_HP_SHAREX, TDX_LOCK_EXCLUSIVE, true) == TDX_LOCK_OK,
                "host gets through");
    TDXT_EXPECT(!tdx_lock_hp_pending(&l), "host success clears priority");
    tdx_lock_release(&l, TDX_LOCK_EXCLUSIVE);
    TDXT_EXPECT(R(&l, TDX_LOCK_HP_SHAREX, TDX_LOCK_SHARED, false) == TDX_LOCK_OK,
                "guest after the host");
    /* Host shared try vs guest reader: no conflict, no priority. */
    TDXT_EXPECT(R(&l, TDX_LOCK_HP_SHAREX, TDX_LOCK_SHARED, true) == TDX_LOCK_OK,
                "host shared with guest reader");
    TDXT_EXPECT(!tdx_lock_hp_pending(&l), "no priority without a failure");
    tdx_lock_release(&l, TDX_LOCK_SHARED);
    tdx_lock_release(&l, TDX_LOCK_SHARED);
    TDXT_EXPECT(atomic_load(&l.word) == 0, "word 0 at the end");
    /*
     * Held AND a host waiting: a guest's exclusive try is plain BUSY, not
     * BUSY_HOST_PRIORITY (Intel answers host priority only when the word
     * holds nothing but the priority bit).
     */
    TDXT_EXPECT(R(&l, TDX_LOCK_HP_SHAREX, TDX_LOCK_EXCLUSIVE, false) == TDX_LOCK_OK,
                "guest holds it");
    TDXT_EXPECT(R(&l, TDX_LOCK_HP_SHAREX, TDX_LOCK_EXCLUSIVE, true) == TDX_LOCK_BUSY &&
                tdx_lock_hp_pending(&l), "host waits");
    {
        enum tdx_lock_result got = R(&l, TDX_LOCK_HP_SHAREX, TDX_LOCK_EXCLUSIVE, false);

        TDXT_EXPECT(got == TDX_LOCK_BUSY,
                    "guest exclusive try of a held lock with a host waiting: expected "
                    "BUSY (%d), got %d", TDX_LOCK_BUSY, got);
    }
    tdx_lock_release(&l, TDX_LOCK_EXCLUSIVE);
    TDXT_EXPECT(R(&l, TDX_LOCK_HP_SHAREX, TDX_LOCK_EXCLUSIVE, false) ==
                TDX_LOCK_BUSY_HOST_PRIORITY, "only the priority bit left: guest backs off");
    TDXT_EXPECT(R(&l, TDX_LOCK_HP_SHAREX, TDX_LOCK_EXCLUSIVE, true) == TDX_LOCK_OK,
                "host gets through");
    tdx_lock_release(&l, TDX_LOCK_EXCLUSIVE);
}

static void test_mutex(void)
{
    struct tdx_lock l;

    tdx_lock_init(&l);
    TDXT_EXPECT(R(&l, TDX_LOCK_MUTEX, TDX_LOCK_EXCLUSIVE, true) == TDX_LOCK_OK, "mutex");
    TDXT_EXPECT(R(&l, TDX_LOCK_MUTEX, TDX_LOCK_SHARED, true) == TDX_LOCK_BUSY,
                "mutex has no shared mode");
    tdx_lock_release(&l, TDX_LOCK_EXCLUSIVE);
    TDXT_EXPECT(tdx_lock_is_free(&l), "mutex free");
}

/* Threads hammer one hp lock; exclusive sections must never overlap. */
struct stress {
    struct tdx_lock lock;
    _Atomic int inside_excl, inside_shared;
    _Atomic uint64_t ok, busy, hp, violations;
    _Atomic int stop;
};

static void *stress_thread(void *arg)
{
    struct stress *s = arg;
    uint64_t seed = (uintptr_t)&seed;

    while (!atomic_load(&s->stop)) {
        bool host = (seed = seed * 6364136223846793005ULL + 1) >> 63;
        enum tdx_lock_mode mode = (seed >> 62) & 1 ? TDX_LOCK_EXCLUSIVE : TDX_LOCK_SHARED;
        enum tdx_lock_result r = tdx_lock_try(&s->lock, TDX_LOCK_HP_SHAREX, mode, host);

        if (r == TDX_LOCK_OK) {
            if (mode == TDX_LOCK_EXCLUSIVE) {
                if (atomic_fetch_add(&s->inside_excl, 1) || atomic_load(&s->inside_shared)) {
                    atomic_fetch_add(&s->violations, 1);
                }
                atomic_fetch_sub(&s->inside_excl, 1);
            } else {
                atomic_fetch_add(&s->inside_shared, 1);
                if (atomic_load(&s->inside_excl)) {
                    atomic_fetch_add(&s->violations, 1);
                }
                atomic_fetch_sub(&s->inside_shared, 1);
            }
            tdx_lock_release(&s->lock, mode);
            atomic_fetch_add(&s->ok, 1);
        } else if (r == TDX_LOCK_BUSY) {
            atomic_fetch_add(&s->busy, 1);
        } else {
            atomic_fetch_add(&s->hp, 1);
        }
    }
    return NULL;
}

static void test_stress(void)
{
    static struct stress s;
    pthread_t t[4];
    struct timespec d = { 0, 500 * 1000 * 1000 };

    tdx_lock_init(&s.lock);
    for (int i = 0; i < 4; i++) {
        pthread_create(&t[i], NULL, stress_thread, &s);
    }
    nanosleep(&d, NULL);
    atomic_store(&s.stop, 1);
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
    }
    TDXT_EXPECT(s.violations == 0, "stress: %llu overlapping exclusive sections",
                (unsigned long long)s.violations);
    TDXT_EXPECT(s.ok > 0, "stress: no acquisition succeeded");
    TDXT_EXPECT(tdx_lock_is_free(&s.lock), "stress: lock left held (%#x)",
                (unsigned)atomic_load(&s.lock.word));
    printf("stress: %llu ok, %llu busy, %llu host-priority back-offs\n",
           (unsigned long long)s.ok, (unsigned long long)s.busy,
           (unsigned long long)s.hp);
}

int main(void)
{
    test_sharex();
    test_host_priority();
    test_mutex();
    test_stress();
    return tdxt_done("test-locks");
}
