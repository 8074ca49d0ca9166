/*
 * Test harness for the core: a fake platform (RAM in an anonymous mapping,
 * a clock tests can advance), register-file helpers, expectations that
 * print "expected X, got Y" with status names, and tdxt_boot() which takes
 * a module through the same SYS.* sequence Linux 7.2 uses.
 *
 * Header-only so every test is one .c file.
 */
#ifndef TDX_EMU_TEST_HARNESS_H
#define TDX_EMU_TEST_HARNESS_H

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "module.h"
#include "tdx-core.h"

static int tdxt_failures;

#define TDXT_RAM_SIZE   (2ULL << 30)        /* 2 GiB, lazily backed */
#define TDXT_PAMT_BASE  (1ULL << 30)        /* PAMTs at 1 GiB */
#define TDXT_SCRATCH    0x100000ULL         /* test's own scratch page(s) */

struct tdxt_platform {
    uint8_t *ram;
    uint64_t ram_size;
    _Atomic uint64_t now_ns;
    struct tdx_module *m;
};

static inline int tdxt_mem_read(void *opaque, uint64_t pa, void *buf, size_t len)
{
    struct tdxt_platform *p = opaque;

    if (pa >= p->ram_size || len > p->ram_size - pa) {
        return -1;
    }
    memcpy(buf, p->ram + pa, len);
    return 0;
}

static inline int tdxt_mem_write(void *opaque, uint64_t pa, const void *buf, size_t len)
{
    struct tdxt_platform *p = opaque;

    if (pa >= p->ram_size || len > p->ram_size - pa) {
        return -1;
    }
    memcpy(p->ram + pa, buf, len);
    return 0;
}

static inline uint64_t tdxt_clock(void *opaque)
{
    return atomic_load(&((struct tdxt_platform *)opaque)->now_ns);
}

/* Direct-pointer fast path over the same RAM (tdx_platform_ops.host_ptr). */
static inline void *tdxt_host_ptr(void *opaque, uint64_t pa, size_t len, bool write)
{
    struct tdxt_platform *p = opaque;

    if (pa >= p->ram_size || len > p->ram_size - pa) {
        return NULL;
    }
    return p->ram + pa;
}

/* Default ops: fast path on. tdxt_ops_slow: only mem_read/mem_write, as an
 * embedder without direct RAM pointers. */
static const struct tdx_platform_ops tdxt_ops = {
    .mem_read = tdxt_mem_read,
    .mem_write = tdxt_mem_write,
    .clock_ns = tdxt_clock,
    .host_ptr = tdxt_host_ptr,
};

static const struct tdx_platform_ops tdxt_ops_slow = {
    .mem_read = tdxt_mem_read,
    .mem_write = tdxt_mem_write,
    .clock_ns = tdxt_clock,
};

/* A platform of `lps` LPs over `pkgs` packages with 2 GiB of RAM. */
static inline struct tdx_platform_desc tdxt_desc(unsigned lps, unsigned pkgs)
{
    struct tdx_platform_desc d = {
        .num_lps = lps, .num_pkgs = pkgs, .num_cmrs = 1,
        .cmrs = { { 0, TDXT_RAM_SIZE } },
        .max_pa_bits = 46, .mktme_keyids = 1, .tdx_keyids = 7, .seed = 1,
    };

    for (unsigned i = 0; i < lps; i++) {
        d.lp_pkg[i] = (uint8_t)(i % pkgs);
    }
    return d;
}

static inline struct tdxt_platform *tdxt_new_ops(const struct tdx_platform_desc *d,
                                                 const struct tdx_platform_ops *ops)
{
    struct tdxt_platform *p = calloc(1, sizeof(*p));
    char err[256];

    p->ram_size = TDXT_RAM_SIZE;
    p->ram = mmap(NULL, p->ram_size, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p->ram == MAP_FAILED) {
        perror("mmap");
        exit(2);
    }
    atomic_store(&p->now_ns, 1000);
    p->m = tdx_module_create(d, ops, p, err, sizeof(err));
    if (!p->m) {
        fprintf(stderr, "tdx_module_create: %s\n", err);
        exit(2);
    }
    return p;
}

static inline struct tdxt_platform *tdxt_new(const struct tdx_platform_desc *d)
{
    return tdxt_new_ops(d, &tdxt_ops);
}

static inline void tdxt_free(struct tdxt_platform *p)
{
    tdx_module_destroy(p->m);
    munmap(p->ram, p->ram_size);
    free(p);
}

/* A SEAMCALL that cannot enter a TD (no run record): its status. */
static inline uint64_t tdxt_seamcall(struct tdx_module *m, unsigned lp,
                                     struct tdx_regs *r)
{
    tdx_seamcall(m, lp, r, NULL);
    return r->rax;
}

/*
 * TDH.VP.ENTER (RAX: leaf 0 and version, RCX: TDVPR in r) through the
 * dispatcher: true when the vCPU went
 * into the TD (*run filled, to be ended with tdx_vp_exit()); false when
 * the call completed (status or synthetic exit in r).
 */
static inline bool tdxt_vp_enter(struct tdx_module *m, unsigned lp,
                                 struct tdx_regs *r, struct tdx_td_run *run)
{
    return tdx_seamcall(m, lp, r, run) == TDX_SEAMCALL_ENTER_TD;
}

static inline uint64_t tdxt_call(struct tdxt_platform *p, unsigned lp, unsigned leaf,
                          struct tdx_regs *r)
{
    r->rax = leaf;
    return tdxt_seamcall(p->m, lp, r);
}

#define TDXT_EXPECT(cond, ...) do {                                     \
    if (!(cond)) {                                                      \
        fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);            \
        fprintf(stderr, __VA_ARGS__);                                   \
        fprintf(stderr, "\n");                                          \
        tdxt_failures++;                                                \
    }                                                                   \
} while (0)

#define TDXT_EXPECT_STATUS(got, want, what) do {                        \
    uint64_t g_ = (got), w_ = (want);                                   \
    char gb_[64], wb_[64];                                              \
    TDXT_EXPECT(g_ == w_, "%s: expected %s, got %s", (what),            \
                tdx_status_format(w_, wb_, sizeof(wb_)),                \
                tdx_status_format(g_, gb_, sizeof(gb_)));               \
} while (0)

#define TDXT_EXPECT_INVARIANTS(p, what) do {                            \
    char e_[256];                                                       \
    TDXT_EXPECT(tdx_core_check_invariants((p)->m, e_, sizeof(e_)),      \
                "%s: invariants: %s", (what), e_);                      \
} while (0)

/*
 * Write one TDMR_INFO covering [0, 2 GiB) with its PAMTs at TDXT_PAMT_BASE
 * (reserved), and the PA array pointing to it; returns the array's PA.
 */
static inline uint64_t tdxt_write_tdmr_info(struct tdxt_platform *p)
{
    const uint64_t info_pa = 0x2000, array_pa = 0x1000;
    const uint64_t size = TDXT_RAM_SIZE;
    uint64_t info[8 + 2 * TDX_MAX_RSVD_PER_TDMR] = { 0 };
    uint64_t pamt_1g = size / TDX_1G * 16, pamt_2m = size / (2ULL << 20) * 16;
    uint64_t pamt_4k = size / 4096 * 16;

    pamt_1g = (pamt_1g + 4095) & ~4095ULL;
    pamt_2m = (pamt_2m + 4095) & ~4095ULL;
    info[0] = 0;
    info[1] = size;
    info[2] = TDXT_PAMT_BASE;                       /* 1G */
    info[3] = pamt_1g;
    info[4] = TDXT_PAMT_BASE + pamt_1g;             /* 2M */
    info[5] = pamt_2m;
    info[6] = TDXT_PAMT_BASE + pamt_1g + pamt_2m;   /* 4K */
    info[7] = pamt_4k;
    info[8] = TDXT_PAMT_BASE;                       /* reserved: the PAMTs */
    info[9] = pamt_1g + pamt_2m + pamt_4k;
    tdxt_mem_write(p, info_pa, info, sizeof(info));
    tdxt_mem_write(p, array_pa, &info_pa, sizeof(info_pa));
    return array_pa;
}

/* SYS.INIT, LP.INIT on every LP, CONFIG, KEY.CONFIG per package, TDMR.INIT. */
static inline void tdxt_boot(struct tdxt_platform *p)
{
    const struct tdx_platform_desc *d = &p->m->desc;
    struct tdx_regs r = { 0 };
    uint64_t next = 0;

    TDXT_EXPECT_STATUS(tdxt_call(p, 0, TDH_SYS_INIT, &r), TDX_SUCCESS, "boot: SYS.INIT");
    for (unsigned lp = 0; lp < d->num_lps; lp++) {
        memset(&r, 0, sizeof(r));
        TDXT_EXPECT_STATUS(tdxt_call(p, lp, TDH_SYS_LP_INIT, &r), TDX_SUCCESS,
                           "boot: SYS.LP.INIT");
    }
    memset(&r, 0, sizeof(r));
    r.rcx = tdxt_write_tdmr_info(p);
    r.rdx = 1;
    r.r8 = d->mktme_keyids;          /* first TDX KeyID */
    TDXT_EXPECT_STATUS(tdxt_call(p, 0, TDH_SYS_CONFIG, &r), TDX_SUCCESS, "boot: SYS.CONFIG");
    for (unsigned pkg = 0; pkg < d->num_pkgs; pkg++) {
        for (unsigned lp = 0; lp < d->num_lps; lp++) {
            if (d->lp_pkg[lp] == pkg) {
                memset(&r, 0, sizeof(r));
                TDXT_EXPECT_STATUS(tdxt_call(p, lp, TDH_SYS_KEY_CONFIG, &r),
                                   TDX_SUCCESS, "boot: SYS.KEY.CONFIG");
                break;
            }
        }
    }
    for (int i = 0; i < 64 && next < TDXT_RAM_SIZE; i++) {
        memset(&r, 0, sizeof(r));
        r.rcx = 0;
        TDXT_EXPECT_STATUS(tdxt_call(p, 0, TDH_SYS_TDMR_INIT, &r), TDX_SUCCESS,
                           "boot: SYS.TDMR.INIT");
        next = r.rdx;
    }
    TDXT_EXPECT(next == TDXT_RAM_SIZE, "boot: TDMR.INIT ended at %#llx, expected %#llx",
                (unsigned long long)next, (unsigned long long)TDXT_RAM_SIZE);
}

static inline int tdxt_done(const char *name)
{
    if (tdxt_failures) {
        fprintf(stderr, "%s: %d failure(s)\n", name, tdxt_failures);
        return 1;
    }
    printf("%s: ok\n", name);
    return 0;
}

#endif
