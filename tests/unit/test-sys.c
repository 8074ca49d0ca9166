/* TDH.SYS.* leaves: lifecycle order, metadata, TDMR configuration, errors. */
#include "harness.h"
#include "global-md.h"
#include "td.h"

static struct tdx_regs regs(uint64_t rcx, uint64_t rdx, uint64_t r8)
{
    struct tdx_regs r = { .rcx = rcx, .rdx = rdx, .r8 = r8 };
    return r;
}

static void test_lifecycle_order(void)
{
    struct tdx_platform_desc d = tdxt_desc(4, 2);
    struct tdxt_platform *p = tdxt_new(&d);
    struct tdx_regs r;

    r = regs(0, 0, 0);
    TDXT_EXPECT_STATUS(tdxt_call(p, 0, TDH_SYS_LP_INIT, &r), TDX_SYS_LP_INIT_NOT_PENDING,
                       "LP.INIT before SYS.INIT");
    r = regs(0, 0x0800000100000003ULL, 0);
    TDXT_EXPECT_STATUS(tdxt_call(p, 0, TDH_SYS_RD, &r), TDX_SYS_LP_INIT_NOT_DONE,
                       "SYS.RD before LP.INIT");
    r = regs(0, 0, 0);
    TDXT_EXPECT_STATUS(tdxt_call(p, 0, TDH_SYS_TDMR_INIT, &r), TDX_SYS_NOT_READY,
                       "TDMR.INIT before the module is ready");
    r = regs(1, 0, 0);
    TDXT_EXPECT_STATUS(tdxt_call(p, 0, TDH_SYS_INIT, &r),
                       TDX_OPERAND_INVALID | TDX_OPERAND_ID_RCX, "SYS.INIT reserved RCX");
    r = regs(0, 0, 0);
    TDXT_EXPECT_STATUS(tdxt_call(p, 0, TDH_SYS_INIT, &r), TDX_SUCCESS, "SYS.INIT");
    r = regs(0, 0, 0);
    TDXT_EXPECT_STATUS(tdxt_call(p, 1, TDH_SYS_INIT, &r), TDX_SYS_INIT_NOT_PENDING,
                       "second SYS.INIT");
    r = regs(0, 0, 0);
    TDXT_EXPECT_STATUS(tdxt_call(p, 2, TDH_SYS_LP_INIT, &r), TDX_SUCCESS, "LP.INIT lp2");
    r = regs(0, 0, 0);
    TDXT_EXPECT_STATUS(tdxt_call(p, 2, TDH_SYS_LP_INIT, &r), TDX_SYS_LP_INIT_DONE,
                       "LP.INIT lp2 again");
    r = regs(tdxt_write_tdmr_info(p), 1, 1);
    TDXT_EXPECT_STATUS(tdxt_call(p, 2, TDH_SYS_CONFIG, &r), TDX_SYS_CONFIG_NOT_PENDING,
                       "SYS.CONFIG before every LP did LP.INIT");
    r = regs(0, 0, 0);
    TDXT_EXPECT_STATUS(tdxt_call(p, 2, TDH_SYS_KEY_CONFIG, &r),
                       TDX_SYS_KEY_CONFIG_NOT_PENDING, "KEY.CONFIG before CONFIG");
    TDXT_EXPECT_INVARIANTS(p, "lifecycle order");
    tdxt_free(p);
}

static void test_config_errors(void)
{
    struct tdx_platform_desc d = tdxt_desc(2, 1);
    struct tdxt_platform *p = tdxt_new(&d);
    struct tdx_regs r;
    uint64_t array, info_pa, bad;

    r = regs(0, 0, 0);
    tdxt_call(p, 0, TDH_SYS_INIT, &r);
    for (unsigned lp = 0; lp < 2; lp++) {
        r = regs(0, 0, 0);
        tdxt_call(p, lp, TDH_SYS_LP_INIT, &r);
    }
    array = tdxt_write_tdmr_info(p);
    r = regs(array + 8, 1, 1);
    TDXT_EXPECT_STATUS(tdxt_call(p, 0, TDH_SYS_CONFIG, &r),
                       TDX_OPERAND_INVALID | TDX_OPERAND_ID_RCX, "CONFIG misaligned array");
    r = regs(array, 0, 1);
    TDXT_EXPECT_STATUS(tdxt_call(p, 0, TDH_SYS_CONFIG, &r),
                       TDX_OPERAND_INVALID | TDX_OPERAND_ID_RDX, "CONFIG zero TDMRs");
    r = regs(array, TDX_MAX_TDMRS + 1, 1);
    TDXT_EXPECT_STATUS(tdxt_call(p, 0, TDH_SYS_CONFIG, &r),
                       TDX_OPERAND_INVALID | TDX_OPERAND_ID_RDX, "CONFIG too many TDMRs");
    r = regs(array, 1, 0);
    TDXT_EXPECT_STATUS(tdxt_call(p, 0, TDH_SYS_CONFIG, &r),
                       TDX_OPERAND_INVALID | TDX_OPERAND_ID_R8,
                       "CONFIG global KeyID 0 (not a TDX KeyID)");
    r = regs(array, 1, 8);
    TDXT_EXPECT_STATUS(tdxt_call(p, 0, TDH_SYS_CONFIG, &r),
                       TDX_OPERAND_INVALID | TDX_OPERAND_ID_R8,
                       "CONFIG global KeyID past the TDX range");
    /* A TDMR whose base is not 1 GiB aligned. */
    tdxt_mem_read(p, array, &info_pa, sizeof(info_pa));
    bad = 0x200000;
    tdxt_mem_write(p, info_pa, &bad, sizeof(bad));
    r = regs(array, 1, 1);
    TDXT_EXPECT_STATUS(tdxt_call(p, 0, TDH_SYS_CONFIG, &r),
                       TDX_INVALID_TDMR, "CONFIG misaligned TDMR");
    /* PAMT not reserved in its TDMR: drop the reserved area. */
    array = tdxt_write_tdmr_info(p);
    bad = 0;
    tdxt_mem_write(p, info_pa + 9 * 8, &bad, sizeof(bad));
    tdxt_mem_write(p, info_pa + 8 * 8, &bad, sizeof(bad));
    r = regs(array, 1, 1);
    TDXT_EXPECT_STATUS(tdxt_call(p, 0, TDH_SYS_CONFIG, &r),
                       TDX_PAMT_OVERLAP, "CONFIG PAMT overlapping usable TDMR memory");
    TDXT_EXPECT(atomic_load(&p->m->sys_state) == TDX_SYS_INIT_DONE,
                "failed CONFIGs must leave the module in SYSINIT_DONE, got %d",
                atomic_load(&p->m->sys_state));
    array = tdxt_write_tdmr_info(p);
    r = regs(array, 1, 1);
    TDXT_EXPECT_STATUS(tdxt_call(p, 0, TDH_SYS_CONFIG, &r), TDX_SUCCESS, "CONFIG");
    TDXT_EXPECT(tdx_pamt_lookup(p->m, TDXT_PAMT_BASE)->type == TDX_PT_RSVD,
                "PAMT pages: expected PT_RSVD, got %u",
                tdx_pamt_lookup(p->m, TDXT_PAMT_BASE)->type);
    r = regs(0, 0, 0);
    TDXT_EXPECT_STATUS(tdxt_call(p, 1, TDH_SYS_KEY_CONFIG, &r), TDX_SUCCESS, "KEY.CONFIG");
    r = regs(0, 0, 0);
    TDXT_EXPECT_STATUS(tdxt_call(p, 0, TDH_SYS_KEY_CONFIG, &r),
                       TDX_SYS_KEY_CONFIG_NOT_PENDING, "KEY.CONFIG once the module is ready");
    r = regs(TDX_1G, 0, 0);
    TDXT_EXPECT_STATUS(tdxt_call(p, 0, TDH_SYS_TDMR_INIT, &r),
                       TDX_OPERAND_INVALID | TDX_OPERAND_ID_RCX, "TDMR.INIT of no TDMR");
    r = regs(0x1000, 0, 0);
    TDXT_EXPECT_STATUS(tdxt_call(p, 0, TDH_SYS_TDMR_INIT, &r),
                       TDX_OPERAND_INVALID | TDX_OPERAND_ID_RCX, "TDMR.INIT misaligned");
    /* Resumable: 1 GiB per call, RDX says how far. */
    r = regs(0, 0, 0);
    TDXT_EXPECT_STATUS(tdxt_call(p, 0, TDH_SYS_TDMR_INIT, &r), TDX_SUCCESS, "TDMR.INIT 1");
    TDXT_EXPECT(r.rdx == TDX_1G, "TDMR.INIT 1: RDX expected 1 GiB, got %#llx",
                (unsigned long long)r.rdx);
    TDXT_EXPECT(!tdx_pa_pamt_ready(p->m, TDX_1G + 0x1000), "second GiB ready too early");
    r = regs(0, 0, 0);
    TDXT_EXPECT_STATUS(tdxt_call(p, 1, TDH_SYS_TDMR_INIT, &r), TDX_SUCCESS, "TDMR.INIT 2");
    TDXT_EXPECT(r.rdx == 2 * TDX_1G, "TDMR.INIT 2: RDX expected 2 GiB, got %#llx",
                (unsigned long long)r.rdx);
    r = regs(0, 0, 0);
    TDXT_EXPECT_STATUS(tdxt_call(p, 0, TDH_SYS_TDMR_INIT, &r),
                       TDX_TDMR_ALREADY_INITIALIZED, "TDMR.INIT after done");
    TDXT_EXPECT(tdx_pa_in_tdmr(p->m, 0x5000) && !tdx_pa_in_tdmr(p->m, TDXT_PAMT_BASE),
                "TDMR membership: usable page in, PAMT page out");
    TDXT_EXPECT_INVARIANTS(p, "config");
    tdxt_free(p);
}

/*
 * TDH.SYS.CONFIG's TDMR checks, one row per architectural error: a layout
 * of one or two TDMR_INFOs, a mutation, and the exact status with its
 * detail bytes (TDMR index, PAMT level / reserved-area index, other TDMR).
 *
 * Base layout on the 2 GiB platform: one TDMR [0, 2G) with the three PAMTs
 * at 1 GiB, reserved; or two TDMRs [0, 1G) and [1G, 2G), each with its
 * PAMTs at the start of TDMR 1, in one reserved area of TDMR 1.
 */
#define W_BASE 0
#define W_SIZE 1
#define W_P1G  2            /* base; size is +1 */
#define W_P2M  4
#define W_P4K  6
#define W_RSVD 8            /* offset; size is +1 */
#define INFO_WORDS (8 + 2 * TDX_MAX_RSVD_PER_TDMR)

struct cfg_row {
    const char *what;
    unsigned num_tdmrs;
    /* up to three (tdmr, word, value) edits */
    struct { int tdmr, word; uint64_t value; } edit[3];
    uint64_t want;
};

static uint64_t pamt_sz(uint64_t tdmr_size, uint64_t page)
{
    return ((tdmr_size / page) * 16 + 4095) & ~4095ULL;
}

/* Fills info[t] for TDMR [base, base+size) with PAMTs at pamt_pa. */
static uint64_t fill_tdmr(uint64_t *info, uint64_t base, uint64_t size, uint64_t pamt_pa)
{
    uint64_t p1 = pamt_sz(size, TDX_1G), p2 = pamt_sz(size, 2ULL << 20);
    uint64_t p4 = pamt_sz(size, 4096);

    memset(info, 0, INFO_WORDS * 8);
    info[W_BASE] = base;
    info[W_SIZE] = size;
    info[W_P1G] = pamt_pa;
    info[W_P1G + 1] = p1;
    info[W_P2M] = pamt_pa + p1;
    info[W_P2M + 1] = p2;
    info[W_P4K] = pamt_pa + p1 + p2;
    info[W_P4K + 1] = p4;
    return p1 + p2 + p4;
}

static void test_config_tdmr_table(void)
{
    const uint64_t G = TDX_1G;
    const uint64_t PT4K = 0, PT2M = 1, PT1G = 2;
    const struct cfg_row rows[] = {
        { "valid, one TDMR", 1, { { -1, 0, 0 } }, TDX_SUCCESS },
        { "valid, two TDMRs", 2, { { -1, 0, 0 } }, TDX_SUCCESS },
        { "TDMR base not 1G aligned", 1, { { 0, W_BASE, 0x200000 } },
          tdx_status_detail(TDX_INVALID_TDMR, 0, 0, 0, 0) },
        { "TDMR size 0", 1, { { 0, W_SIZE, 0 } },
          tdx_status_detail(TDX_INVALID_TDMR, 0, 0, 0, 0) },
        { "TDMR base+size wraps", 1, { { 0, W_BASE, ~0ULL << 30 }, { 0, W_SIZE, 2 * G } },
          tdx_status_detail(TDX_INVALID_TDMR, 0, 0, 0, 0) },
        { "TDMR in the KeyID bits", 1, { { 0, W_BASE, 1ULL << 43 } },
          tdx_status_detail(TDX_INVALID_TDMR, 0, 0, 0, 0) },
        { "second TDMR below the first", 2,
          { { 0, W_BASE, G }, { 0, W_RSVD + 1, 16ULL << 20 }, { 1, W_BASE, 0 } },
          tdx_status_detail(TDX_NON_ORDERED_TDMR, 1, 0, 0, 0) },
        { "TDMRs overlap", 2, { { 1, W_BASE, 0 } },
          tdx_status_detail(TDX_NON_ORDERED_TDMR, 1, 0, 0, 0) },
        { "reserved area after an empty one", 1,
          { { 0, W_RSVD + 1, 0 }, { 0, W_RSVD + 3, 0x1000 }, { 0, W_RSVD + 2, 0x1000 } },
          tdx_status_detail(TDX_NON_ORDERED_RESERVED_IN_TDMR, 0, 0, 0, 0) },
        { "reserved areas out of order", 1,
          { { 0, W_RSVD + 2, 0x1000 }, { 0, W_RSVD + 3, 0x1000 } },
          tdx_status_detail(TDX_NON_ORDERED_RESERVED_IN_TDMR, 0, 1, 0, 0) },
        { "reserved area not 4K aligned", 1, { { 0, W_RSVD + 1, 0x1800 } },
          tdx_status_detail(TDX_INVALID_RESERVED_IN_TDMR, 0, 0, 0, 0) },
        { "reserved area past the TDMR", 1,
          { { 0, W_RSVD + 2, 3 * G }, { 0, W_RSVD + 3, 0x1000 } },
          tdx_status_detail(TDX_INVALID_RESERVED_IN_TDMR, 0, 1, 0, 0) },
        { "PAMT_1G not 4K aligned", 1, { { 0, W_P1G, G + 0x10 } },
          tdx_status_detail(TDX_INVALID_PAMT, 0, PT1G, 0, 0) },
        { "PAMT_4K too small", 1, { { 0, W_P4K + 1, 0x1000 } },
          tdx_status_detail(TDX_INVALID_PAMT, 0, PT4K, 0, 0) },
        { "PAMT_2M overlaps PAMT_1G", 1, { { 0, W_P2M, G } },
          tdx_status_detail(TDX_PAMT_OVERLAP, 0, PT2M, 0, 0) },
        { "PAMTs not reserved", 1, { { 0, W_RSVD, 0 }, { 0, W_RSVD + 1, 0 } },
          tdx_status_detail(TDX_PAMT_OVERLAP, 0, PT4K, 0, 0) },
        { "TDMR 1's PAMT_2M on TDMR 0's PAMT_4K", 2, { { 1, W_P2M, G + 0x3000 } },
          tdx_status_detail(TDX_PAMT_OVERLAP, 1, PT2M, 0, 0) },
        { "TDMR 0's PAMTs in TDMR 1's available memory", 2,
          { { 1, W_RSVD + 1, 0x10000 } },
          tdx_status_detail(TDX_PAMT_OVERLAP, 0, PT4K, 1, 0) },
        { "PAMT_4K outside CMRs", 1, { { 0, W_P4K, 4 * G } },
          tdx_status_detail(TDX_PAMT_OUTSIDE_CMRS, 0, PT4K, 0, 0) },
        { "TDMR memory outside CMRs", 1,
          { { 0, W_SIZE, 3 * G } },
          tdx_status_detail(TDX_TDMR_OUTSIDE_CMRS, 0, 0, 0, 0) },
    };

    for (size_t n = 0; n < sizeof(rows) / sizeof(rows[0]); n++) {
        const struct cfg_row *row = &rows[n];
        struct tdx_platform_desc d = tdxt_desc(1, 1);
        struct tdxt_platform *p = tdxt_new(&d);
        uint64_t info[2][INFO_WORDS], array[2] = { 0x2000, 0x2200 };
        struct tdx_regs r = { 0 };

        if (row->num_tdmrs == 1) {
            info[0][W_RSVD + 1] = fill_tdmr(info[0], 0, 2 * G, G);
            info[0][W_RSVD] = G;
            if (row->edit[0].word == W_SIZE && row->edit[0].value == 3 * G) {
                /* Room for a 3G TDMR's PAMTs inside the reserved area. */
                info[0][W_RSVD + 1] = 16ULL << 20;
                info[0][W_P2M] = G + 0x1000;
                info[0][W_P2M + 1] = pamt_sz(3 * G, 2ULL << 20);
                info[0][W_P4K] = G + 0x10000;
                info[0][W_P4K + 1] = pamt_sz(3 * G, 4096);
            }
        } else {
            uint64_t used = fill_tdmr(info[0], 0, G, G);

            used += fill_tdmr(info[1], G, G, G + used);
            info[1][W_RSVD] = 0;
            info[1][W_RSVD + 1] = used;
        }
        for (int e = 0; e < 3; e++) {
            /* Unused edit slots are all zero. */
            if (row->edit[e].tdmr >= 0 &&
                (e == 0 || row->edit[e].tdmr || row->edit[e].word || row->edit[e].value)) {
                info[row->edit[e].tdmr][row->edit[e].word] = row->edit[e].value;
            }
        }
        tdxt_mem_write(p, array[0], info[0], sizeof(info[0]));
        tdxt_mem_write(p, array[1], info[1], sizeof(info[1]));
        tdxt_mem_write(p, 0x1000, array, sizeof(array));
        tdxt_call(p, 0, TDH_SYS_INIT, &r);
        r = (struct tdx_regs){ 0 };
        tdxt_call(p, 0, TDH_SYS_LP_INIT, &r);
        r = (struct tdx_regs){ .rcx = 0x1000, .rdx = row->num_tdmrs, .r8 = 1 };
        TDXT_EXPECT_STATUS(tdxt_call(p, 0, TDH_SYS_CONFIG, &r), row->want, row->what);
        TDXT_EXPECT(atomic_load(&p->m->sys_state) ==
                    (row->want ? TDX_SYS_INIT_DONE : TDX_SYS_CONFIG_DONE),
                    "%s: module state %d", row->what, atomic_load(&p->m->sys_state));
        TDXT_EXPECT_INVARIANTS(p, row->what);
        tdxt_free(p);
    }
}

/* CMRs that touch are one convertible range: a TDMR may span them. */
static void test_config_adjacent_cmrs(void)
{
    struct tdx_platform_desc d = tdxt_desc(2, 1);
    struct tdxt_platform *p;

    d.num_cmrs = 2;
    d.cmrs[0] = (struct tdx_mem_range){ 0, TDX_1G };
    d.cmrs[1] = (struct tdx_mem_range){ TDX_1G, TDX_1G };
    p = tdxt_new(&d);
    tdxt_boot(p);
    TDXT_EXPECT(atomic_load(&p->m->sys_state) == TDX_SYS_READY, "boot over two CMRs");
    tdxt_free(p);
}

/* Only even pages are directly addressable: the module must mix paths. */
static void *every_other_page(void *opaque, uint64_t pa, size_t len, bool write)
{
    return (pa >> 12) & 1 ? NULL : tdxt_host_ptr(opaque, pa, len, write);
}

/* Memory access with and without the embedder's direct-pointer path. */
static void test_memory_paths(void)
{
    static const struct tdx_platform_ops mixed = {
        .mem_read = tdxt_mem_read, .mem_write = tdxt_mem_write,
        .clock_ns = tdxt_clock, .host_ptr = every_other_page,
    };
    const struct tdx_platform_ops *variants[] = { &tdxt_ops, &tdxt_ops_slow, &mixed };

    for (size_t v = 0; v < 3; v++) {
        struct tdx_platform_desc d = tdxt_desc(2, 1);
        struct tdxt_platform *p = tdxt_new_ops(&d, variants[v]);
        uint8_t buf[3 * 4096], back[sizeof(buf)];
        const uint64_t pa = 0x300800;       /* spans four pages */

        for (size_t i = 0; i < sizeof(buf); i++) {
            buf[i] = (uint8_t)(i * 7 + v);
        }
        TDXT_EXPECT(tdx_mem_write(p->m, pa, buf, sizeof(buf)) == 0, "write, ops %zu", v);
        TDXT_EXPECT(memcmp(p->ram + pa, buf, sizeof(buf)) == 0, "written, ops %zu", v);
        TDXT_EXPECT(tdx_mem_read(p->m, pa, back, sizeof(back)) == 0 &&
                    memcmp(back, buf, sizeof(buf)) == 0, "read back, ops %zu", v);
        TDXT_EXPECT(tdx_mem_zero(p->m, pa + 100, 8192) == 0, "zero, ops %zu", v);
        TDXT_EXPECT(p->ram[pa + 99] == buf[99] && p->ram[pa + 100] == 0 &&
                    p->ram[pa + 100 + 8191] == 0 && p->ram[pa + 100 + 8192] == buf[8292],
                    "zeroed exactly, ops %zu", v);
        /* Past the end of RAM: an error, never a crash. */
        TDXT_EXPECT(tdx_mem_read(p->m, TDXT_RAM_SIZE - 4096, back, 8192) == -1,
                    "read past RAM, ops %zu", v);
        TDXT_EXPECT(tdx_mem_zero(p->m, TDXT_RAM_SIZE - 4096, 8192) == -1,
                    "zero past RAM, ops %zu", v);
        tdxt_boot(p);
        TDXT_EXPECT(atomic_load(&p->m->sys_state) == TDX_SYS_READY, "boot, ops %zu", v);
        TDXT_EXPECT_INVARIANTS(p, "memory paths");
        tdxt_free(p);
    }
}

static struct tdx_trace_event last_trace;

static void record_trace(void *opaque, const struct tdx_trace_event *ev)
{
    last_trace = *ev;
}

/* The TDCALL entry point's own checks (no guest leaf is wired in yet). */
/* A TDCALL as vCPU `v` (NULL: none) on LP `lp`: its status. */
static uint64_t tdcall_on(struct tdx_td_run *run, unsigned lp, struct tdx_vcpu *v,
                          struct tdx_regs *r, struct tdx_td_exit *x)
{
    run->lp = lp;
    run->vcpu = v;
    tdx_tdcall(run, r, x);
    return r->rax;
}

static void test_tdcall_dispatcher(void)
{
    struct tdx_platform_desc d = tdxt_desc(2, 1);
    struct tdx_platform_ops ops = tdxt_ops;
    struct tdxt_platform *p;
    struct tdx_td td = { .tdr_pa = 0x5000 };
    struct tdx_vcpu v = { .td = &td };
    struct tdx_td_run run = { .lp = 0, .vcpu = &v };
    struct tdx_td_exit x;
    struct tdx_regs r;

    ops.trace = record_trace;
    p = tdxt_new_ops(&d, &ops);
    run.m = p->m;
    tdxt_boot(p);
    r = (struct tdx_regs){ .rax = TDG_MEM_PAGE_ACCEPT | (1ULL << 24) };
    TDXT_EXPECT_STATUS(tdcall_on(&run, 0, &v, &r, &x), TDX_OPERAND_INVALID | TDX_OPERAND_ID_RAX,
                       "TDCALL reserved RAX bits");
    TDXT_EXPECT(r.rax == (TDX_OPERAND_INVALID | TDX_OPERAND_ID_RAX), "status in RAX");
    TDXT_EXPECT(last_trace.guest && last_trace.leaf == TDG_MEM_PAGE_ACCEPT &&
                last_trace.lp == 0, "TDCALL traced as a guest leaf");
    r = (struct tdx_regs){ .rax = 31 };
    TDXT_EXPECT_STATUS(tdcall_on(&run, 1, &v, &r, &x), TDX_OPERAND_INVALID | TDX_OPERAND_ID_RAX,
                       "unknown guest leaf");
    r = (struct tdx_regs){ .rax = 0xFFFF };
    TDXT_EXPECT_STATUS(tdcall_on(&run, 1, &v, &r, &x), TDX_OPERAND_INVALID | TDX_OPERAND_ID_RAX,
                       "guest leaf past the table");
    r = (struct tdx_regs){ .rax = TDG_VP_INFO | (1 << 16) };
    TDXT_EXPECT_STATUS(tdcall_on(&run, 1, &v, &r, &x), TDX_OPERAND_INVALID | TDX_OPERAND_ID_RAX,
                       "guest leaf version 1");
    r = (struct tdx_regs){ .rax = TDG_VP_INFO };
    TDXT_EXPECT_STATUS(tdcall_on(&run, 1, NULL, &r, &x), TDX_OPERAND_INVALID | TDX_OPERAND_ID_RAX,
                       "no vCPU");
    r = (struct tdx_regs){ .rax = TDG_MEM_PAGE_ACCEPT };
    TDXT_EXPECT_STATUS(tdcall_on(&run, 1, NULL, &r, &x), TDX_OPERAND_INVALID | TDX_OPERAND_ID_RAX,
                       "ACCEPT without a vCPU (refused, no busy-path record)");
    r = (struct tdx_regs){ .rax = TDG_VP_INFO };
    TDXT_EXPECT_STATUS(tdcall_on(&run, 7, &v, &r, &x), TDX_OPERAND_INVALID | TDX_OPERAND_ID_RAX,
                       "LP out of range");
    TDXT_EXPECT(strcmp(tdx_guest_leaf_name(TDG_MEM_PAGE_ACCEPT), "TDG.MEM.PAGE.ACCEPT") == 0 &&
                !tdx_guest_leaf_name(TDX_MAX_GUEST_LEAF), "guest leaf names");
    /* Host calls are traced as such. */
    r = (struct tdx_regs){ .rdx = MD_MAX_TDMRS };
    tdxt_call(p, 1, TDH_SYS_RD, &r);
    TDXT_EXPECT(!last_trace.guest && last_trace.leaf == TDH_SYS_RD && last_trace.lp == 1,
                "SEAMCALL traced as a host leaf");
    TDXT_EXPECT_INVARIANTS(p, "tdcall");
    tdxt_free(p);
}

static void test_metadata(void)
{
    struct tdx_platform_desc d = tdxt_desc(2, 1);
    struct tdxt_platform *p = tdxt_new(&d);
    struct tdx_regs r;
    uint64_t next;
    unsigned n = 0;

    tdxt_boot(p);
    {
        struct tdx_module_info info;

        tdx_module_get_info(p->m, &info);
        TDXT_EXPECT(!strcmp(info.state, "SYS_READY") && info.lps_initialized == 2 &&
                    info.pkgs_configured == 1 && info.num_tdmrs == 1 &&
                    info.tdmr_bytes == TDXT_RAM_SIZE &&
                    info.tdmr_bytes_initialized == TDXT_RAM_SIZE,
                    "info after boot: state %s, LPs %u, pkgs %u, TDMRs %u, %llu/%llu bytes",
                    info.state, info.lps_initialized, info.pkgs_configured,
                    info.num_tdmrs, (unsigned long long)info.tdmr_bytes_initialized,
                    (unsigned long long)info.tdmr_bytes);
        /* PAMT for 2 GiB: 4K level 8 MiB + 2M level 16 KiB + 1G level 4 KiB. */
        TDXT_EXPECT(info.pages_by_type[TDX_PT_RSVD] == 2048 + 4 + 1 &&
                    info.pages_by_type[TDX_PT_NDA] + info.pages_by_type[TDX_PT_RSVD] ==
                    TDXT_RAM_SIZE / 4096,
                    "info PAMT pages: expected 2053 PT_RSVD, got %llu (NDA %llu)",
                    (unsigned long long)info.pages_by_type[TDX_PT_RSVD],
                    (unsigned long long)info.pages_by_type[TDX_PT_NDA]);
        TDXT_EXPECT(!strcmp(tdx_page_type_name(TDX_PT_REG), "PT_REG"), "page type name");
    }
    r = regs(0, 0x0A00000300000008ULL, 0);
    TDXT_EXPECT_STATUS(tdxt_call(p, 1, TDH_SYS_RD, &r), TDX_SUCCESS, "SYS.RD FEATURES0");
    TDXT_EXPECT((r.r8 & (1ULL << 18)) && (r.r8 & (1ULL << 20)),
                "FEATURES0: expected NO_RBP_MOD and TOPOLOGY_ENUM, got %#llx",
                (unsigned long long)r.r8);
    r = regs(0, 0x9900000100000008ULL, 0);
    tdxt_call(p, 0, TDH_SYS_RD, &r);
    TDXT_EXPECT(r.r8 >= 8, "MAX_VCPUS_PER_TD: expected >= 8, got %llu",
                (unsigned long long)r.r8);
    r = regs(0, 0x9800000100000100ULL, 0);
    tdxt_call(p, 0, TDH_SYS_RD, &r);
    TDXT_EXPECT(r.r8 && r.r8 % 4096 == 0, "TDCS_BASE_SIZE: expected page multiple, got %llu",
                (unsigned long long)r.r8);
    r = regs(0, 0x9900000300000500ULL, 0);     /* CPUID_CONFIG_VALUES[0][0] */
    TDXT_EXPECT_STATUS(tdxt_call(p, 0, TDH_SYS_RD, &r), TDX_SUCCESS, "SYS.RD CPUID value");
    r = regs(0, 0x1234, 0);
    TDXT_EXPECT_STATUS(tdxt_call(p, 0, TDH_SYS_RD, &r),
                       TDX_METADATA_FIELD_ID_INCORRECT | TDX_OPERAND_ID_RDX, "SYS.RD unknown");
    /* Walk the whole list from its first field. */
    r = regs(0, 0, 0);
    TDXT_EXPECT_STATUS(tdxt_call(p, 0, TDH_SYS_RD, &r),
                       TDX_METADATA_FIRST_FIELD_ID_IN_CONTEXT, "SYS.RD null field");
    next = r.rdx;
    while (next != ~0ULL && n < 1000) {
        r = regs(0, next, 0);
        TDXT_EXPECT_STATUS(tdxt_call(p, 0, TDH_SYS_RD, &r), TDX_SUCCESS, "SYS.RD walk");
        if (r.rax != TDX_SUCCESS) {
            break;
        }
        next = r.rdx;
        n++;
    }
    TDXT_EXPECT(n > 20 && next == ~0ULL, "metadata walk: %u fields, stopped at %#llx", n,
                (unsigned long long)next);
    tdxt_free(p);
}

static void test_dispatcher(void)
{
    struct tdx_platform_desc d = tdxt_desc(2, 1);
    struct tdxt_platform *p = tdxt_new(&d);
    struct tdx_regs r = { 0 };

    tdxt_boot(p);
    TDXT_EXPECT_STATUS(tdxt_call(p, 0, 63, &r), TDX_OPERAND_INVALID | TDX_OPERAND_ID_RAX,
                       "unknown leaf");
    memset(&r, 0, sizeof(r));
    r.rax = TDH_SYS_RD | (1 << 16);
    TDXT_EXPECT_STATUS(tdxt_seamcall(p->m, 0, &r), TDX_OPERAND_INVALID | TDX_OPERAND_ID_RAX,
                       "SYS.RD version 1");
    memset(&r, 0, sizeof(r));
    r.rax = TDH_SYS_RD | (1ULL << 40);
    TDXT_EXPECT_STATUS(tdxt_seamcall(p->m, 0, &r), TDX_OPERAND_INVALID | TDX_OPERAND_ID_RAX,
                       "reserved RAX bits");
    memset(&r, 0, sizeof(r));
    TDXT_EXPECT_STATUS(tdxt_call(p, 0, TDH_SYS_UPDATE, &r), TDX_SYS_STATE_INCORRECT,
                       "SYS.UPDATE on a running module");
    memset(&r, 0, sizeof(r));
    r.rcx = 5;
    TDXT_EXPECT_STATUS(tdxt_call(p, 0, TDH_SYS_SHUTDOWN, &r),
                       TDX_OPERAND_INVALID | TDX_OPERAND_ID_RCX, "SHUTDOWN bad handoff version");
    memset(&r, 0, sizeof(r));
    TDXT_EXPECT_STATUS(tdxt_call(p, 0, TDH_SYS_SHUTDOWN, &r), TDX_SUCCESS, "SHUTDOWN");
    memset(&r, 0, sizeof(r));
    TDXT_EXPECT_STATUS(tdxt_call(p, 1, TDH_SYS_RD, &r), TDX_SYS_SHUTDOWN,
                       "any leaf after SHUTDOWN");
    memset(&r, 0, sizeof(r));
    TDXT_EXPECT_STATUS(tdxt_call(p, 1, TDH_SYS_LP_SHUTDOWN, &r), TDX_SUCCESS,
                       "LP.SHUTDOWN after SHUTDOWN");
    {
        const struct tdx_stats *s = tdx_module_stats(p->m);
        TDXT_EXPECT(s->calls[TDH_SYS_SHUTDOWN] == 2 && s->success[TDH_SYS_SHUTDOWN] == 1 &&
                    s->errors[TDH_SYS_SHUTDOWN] == 1,
                    "stats SYS.SHUTDOWN: expected 2 calls/1 ok/1 error, got %llu/%llu/%llu",
                    (unsigned long long)s->calls[TDH_SYS_SHUTDOWN],
                    (unsigned long long)s->success[TDH_SYS_SHUTDOWN],
                    (unsigned long long)s->errors[TDH_SYS_SHUTDOWN]);
    }
    tdxt_free(p);
}

/* Linux 7.2 disables the module on every shutdown; afterwards it is gone. */
static void test_sys_disable(void)
{
    struct tdx_platform_desc d = tdxt_desc(2, 1);
    struct tdxt_platform *p = tdxt_new(&d);
    struct tdx_regs r = { 0 };

    tdxt_boot(p);
    TDXT_EXPECT_STATUS(tdxt_call(p, 1, TDH_SYS_DISABLE, &r), TDX_SUCCESS, "SYS.DISABLE");
    memset(&r, 0, sizeof(r));
    TDXT_EXPECT_STATUS(tdxt_call(p, 0, TDH_SYS_RD, &r), TDX_SYS_SHUTDOWN,
                       "SYS.RD after SYS.DISABLE");
    memset(&r, 0, sizeof(r));
    TDXT_EXPECT_STATUS(tdxt_call(p, 0, TDH_MNG_CREATE, &r), TDX_SYS_SHUTDOWN,
                       "MNG.CREATE after SYS.DISABLE");
    TDXT_EXPECT_INVARIANTS(p, "after SYS.DISABLE");
    tdxt_free(p);

    /* Before the module is initialized (Linux's crash path may do this). */
    p = tdxt_new(&d);
    memset(&r, 0, sizeof(r));
    TDXT_EXPECT_STATUS(tdxt_call(p, 0, TDH_SYS_DISABLE, &r), TDX_SUCCESS,
                       "SYS.DISABLE before SYS.INIT");
    memset(&r, 0, sizeof(r));
    TDXT_EXPECT_STATUS(tdxt_call(p, 0, TDH_SYS_INIT, &r), TDX_SYS_SHUTDOWN,
                       "SYS.INIT after SYS.DISABLE");
    tdxt_free(p);
}

/*
 * P-SEAMLDR (RAX bit 63): INFO reports a loader with no updates left;
 * INSTALL and unknown loader leaves are refused; none of it counts as a
 * module leaf.
 */
static void test_seamldr(void)
{
    struct tdx_platform_desc d = tdxt_desc(2, 1);
    struct tdxt_platform *p = tdxt_new(&d);
    const struct tdx_stats *st = tdx_module_stats(p->m);
    struct tdx_regs r = { 0 };
    uint8_t *info = p->ram + TDXT_SCRATCH;
    uint32_t v;

    memset(info, 0xAA, 256);
    r.rax = TDX_SEAMLDR_INFO;
    r.rcx = TDXT_SCRATCH + 0x80;
    TDXT_EXPECT_STATUS(tdxt_seamcall(p->m, 1, &r), 0x8000000000000000ULL,
                       "SEAMLDR.INFO, buffer not 256-byte aligned (EBADPARAM)");
    memset(&r, 0, sizeof(r));
    r.rax = TDX_SEAMLDR_INFO;
    r.rcx = TDXT_RAM_SIZE;
    TDXT_EXPECT_STATUS(tdxt_seamcall(p->m, 1, &r), 0x8000000000000000ULL,
                       "SEAMLDR.INFO, buffer outside CMRs (EBADPARAM)");
    memset(&r, 0, sizeof(r));
    r.rax = TDX_SEAMLDR_INFO;
    r.rcx = TDXT_SCRATCH;
    /* Works before the module is initialized: the loader is separate. */
    TDXT_EXPECT_STATUS(tdxt_seamcall(p->m, 1, &r), TDX_SUCCESS, "SEAMLDR.INFO");
    memcpy(&v, info + 8, 4);
    TDXT_EXPECT(v == 0x8086, "SEAMLDR_INFO vendor: expected 0x8086, got %#x", v);
    memcpy(&v, info + 24, 4);
    TDXT_EXPECT(v == 1, "SEAMLDR_INFO x2APIC ID: expected the caller's LP 1, got %u", v);
    memcpy(&v, info + 28, 4);
    TDXT_EXPECT(v == 0, "SEAMLDR_INFO num_remaining_updates: expected 0, got %u", v);
    TDXT_EXPECT(info[160] == 1 && info[162] == 1 && info[255] == 0,
                "SEAMLDR_INFO seam_ready/p_seam_ready/reserved: expected 1/1/0, got %u/%u/%u",
                info[160], info[162], info[255]);
    memset(&r, 0, sizeof(r));
    r.rax = TDX_SEAMLDR_INSTALL;
    TDXT_EXPECT_STATUS(tdxt_seamcall(p->m, 0, &r), 0x8000000000000003ULL,
                       "SEAMLDR.INSTALL (no update support: EBADCALL)");
    memset(&r, 0, sizeof(r));
    r.rax = TDX_SEAMLDR_LEAF_BIT | 0x1234;
    TDXT_EXPECT_STATUS(tdxt_seamcall(p->m, 0, &r), 0x8000000000000003ULL,
                       "unknown SEAMLDR leaf (EBADCALL)");
    TDXT_EXPECT(st->calls[0] == 0, "loader calls counted as TDH.VP.ENTER: %llu",
                (unsigned long long)st->calls[0]);
    tdxt_free(p);
}

/* The lock table rows of the SYS leaves: hold the lock, see the status. */
static void test_sys_lock_table(void)
{
    struct tdx_platform_desc d = tdxt_desc(2, 2);
    struct tdxt_platform *p = tdxt_new(&d);
    struct tdx_regs r = { 0 };
    char err[128];
    int hold;

    tdxt_call(p, 0, TDH_SYS_INIT, &r);
    /* Global lock held shared by someone: LP.INIT (shared) gets in, */
    hold = tdx_inject_hold_lock(p->m, TDX_NAMED_GLOBAL, 0, 0, TDX_LOCK_SHARED, 0,
                                err, sizeof(err));
    TDXT_EXPECT(hold >= 0, "hold global shared: %s", err);
    memset(&r, 0, sizeof(r));
    TDXT_EXPECT_STATUS(tdxt_call(p, 0, TDH_SYS_LP_INIT, &r), TDX_SUCCESS,
                       "LP.INIT vs global held shared");
    tdx_inject_release_hold(p->m, hold);
    /* ... held exclusive: LP.INIT is busy and nothing changes. */
    hold = tdx_inject_hold_lock(p->m, TDX_NAMED_GLOBAL, 0, 0, TDX_LOCK_EXCLUSIVE, 0,
                                err, sizeof(err));
    memset(&r, 0, sizeof(r));
    TDXT_EXPECT_STATUS(tdxt_call(p, 1, TDH_SYS_LP_INIT, &r), TDX_SYS_BUSY,
                       "LP.INIT vs global held exclusive");
    TDXT_EXPECT(!p->m->lp[1].initialized && p->m->lps_initialized == 1,
                "busy LP.INIT changed state");
    TDXT_EXPECT_INVARIANTS(p, "global held by a rule");
    tdx_inject_release_hold(p->m, hold);
    memset(&r, 0, sizeof(r));
    TDXT_EXPECT_STATUS(tdxt_call(p, 1, TDH_SYS_LP_INIT, &r), TDX_SUCCESS, "LP.INIT after release");
    memset(&r, 0, sizeof(r));
    r.rcx = tdxt_write_tdmr_info(p);
    r.rdx = 1;
    r.r8 = 1;
    TDXT_EXPECT_STATUS(tdxt_call(p, 0, TDH_SYS_CONFIG, &r), TDX_SUCCESS, "CONFIG");
    /* Package 1's key-programming lock is busy: KEY.CONFIG on LP 1 (pkg 1). */
    hold = tdx_inject_hold_lock(p->m, TDX_NAMED_PKG_KEY, 1, 0, TDX_LOCK_EXCLUSIVE, 0,
                                err, sizeof(err));
    TDXT_EXPECT(hold >= 0, "hold pkg 1: %s", err);
    memset(&r, 0, sizeof(r));
    TDXT_EXPECT_STATUS(tdxt_call(p, 1, TDH_SYS_KEY_CONFIG, &r),
                       TDX_OPERAND_BUSY | TDX_OPERAND_ID_KET, "KEY.CONFIG vs package lock");
    TDXT_EXPECT(p->m->pkgs_configured == 0, "busy KEY.CONFIG configured a package");
    memset(&r, 0, sizeof(r));
    TDXT_EXPECT_STATUS(tdxt_call(p, 0, TDH_SYS_KEY_CONFIG, &r), TDX_SUCCESS,
                       "KEY.CONFIG on the other package");
    memset(&r, 0, sizeof(r));
    TDXT_EXPECT_STATUS(tdxt_call(p, 0, TDH_SYS_KEY_CONFIG, &r), TDX_KEY_CONFIGURED,
                       "KEY.CONFIG twice on one package");
    tdx_inject_release_hold(p->m, hold);
    memset(&r, 0, sizeof(r));
    TDXT_EXPECT_STATUS(tdxt_call(p, 1, TDH_SYS_KEY_CONFIG, &r), TDX_SUCCESS,
                       "KEY.CONFIG pkg 1 after release");
    TDXT_EXPECT(atomic_load(&p->m->sys_state) == TDX_SYS_READY, "module not READY");
    /* TDMR init mutex: another LP in the middle of TDMR.INIT. */
    tdx_lock_try(&p->m->tdmr[0].init_lock, TDX_LOCK_MUTEX, TDX_LOCK_EXCLUSIVE, true);
    memset(&r, 0, sizeof(r));
    TDXT_EXPECT_STATUS(tdxt_call(p, 0, TDH_SYS_TDMR_INIT, &r),
                       TDX_OPERAND_BUSY | TDX_OPERAND_ID_RCX, "TDMR.INIT vs init mutex");
    TDXT_EXPECT(p->m->tdmr[0].init_done == 0, "busy TDMR.INIT advanced");
    tdx_lock_release(&p->m->tdmr[0].init_lock, TDX_LOCK_EXCLUSIVE);
    {
        const struct tdx_stats *s = tdx_module_stats(p->m);
        TDXT_EXPECT(s->busy[TDH_SYS_KEY_CONFIG][TDX_OPERAND_ID_KET] == 1,
                    "stats: expected 1 KEY.CONFIG busy on KET, got %llu",
                    (unsigned long long)s->busy[TDH_SYS_KEY_CONFIG][TDX_OPERAND_ID_KET]);
    }
    TDXT_EXPECT_INVARIANTS(p, "sys lock table");
    tdxt_free(p);
}

static void test_bad_platform(void)
{
    struct tdx_platform_desc d = tdxt_desc(2, 1);
    char err[128] = "";

    d.tdx_keyids = 0;
    TDXT_EXPECT(!tdx_module_create(&d, &tdxt_ops, NULL, err, sizeof(err)) &&
                strstr(err, "KeyIDs"), "no TDX KeyIDs accepted (err '%s')", err);
    d = tdxt_desc(2, 1);
    d.lp_pkg[1] = 3;
    TDXT_EXPECT(!tdx_module_create(&d, &tdxt_ops, NULL, err, sizeof(err)) &&
                strstr(err, "package"), "LP in a missing package accepted (err '%s')", err);
}

int main(void)
{
    test_lifecycle_order();
    test_config_errors();
    test_config_tdmr_table();
    test_config_adjacent_cmrs();
    test_memory_paths();
    test_tdcall_dispatcher();
    test_metadata();
    test_dispatcher();
    test_sys_disable();
    test_seamldr();
    test_sys_lock_table();
    test_bad_platform();
    return tdxt_done("test-sys");
}
