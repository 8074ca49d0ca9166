/* TDH.SYS.* leaves: lifecycle order, metadata, TDMR configuration, errors. */
#include "harness.h"

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
                       TDX_OPERAND_INVALID | TDX_OPERAND_ID_TDMR_INFO_PA,
                       "CONFIG misaligned TDMR");
    /* PAMT not reserved in its TDMR: drop the reserved area. */
    array = tdxt_write_tdmr_info(p);
    bad = 0;
    tdxt_mem_write(p, info_pa + 9 * 8, &bad, sizeof(bad));
    tdxt_mem_write(p, info_pa + 8 * 8, &bad, sizeof(bad));
    r = regs(array, 1, 1);
    TDXT_EXPECT_STATUS(tdxt_call(p, 0, TDH_SYS_CONFIG, &r),
                       TDX_OPERAND_INVALID | TDX_OPERAND_ID_TDMR_INFO_PA,
                       "CONFIG PAMT overlapping usable TDMR memory");
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
    TDXT_EXPECT_STATUS(tdxt_call(p, 0, TDH_SYS_DISABLE, &r),
                       TDX_OPERAND_INVALID | TDX_OPERAND_ID_RAX,
                       "SYS.DISABLE (absent from module 1.5)");
    memset(&r, 0, sizeof(r));
    r.rax = TDH_SYS_RD | (1 << 16);
    TDXT_EXPECT_STATUS(tdx_seamcall(p->m, 0, &r), TDX_OPERAND_INVALID | TDX_OPERAND_ID_RAX,
                       "SYS.RD version 1");
    memset(&r, 0, sizeof(r));
    r.rax = TDH_SYS_RD | (1ULL << 40);
    TDXT_EXPECT_STATUS(tdx_seamcall(p->m, 0, &r), TDX_OPERAND_INVALID | TDX_OPERAND_ID_RAX,
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
    test_metadata();
    test_dispatcher();
    test_sys_lock_table();
    test_bad_platform();
    return tdxt_done("test-sys");
}
