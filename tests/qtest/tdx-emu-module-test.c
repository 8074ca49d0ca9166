/*
 * qtest: drive the emulated TDX module through QEMU's real glue with the
 * x-tdx-emu-seamcall doorbell — module bring-up the way Linux does it,
 * with the TDMR description placed in guest RAM, then "info tdx".
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "libqtest.h"
#include "tdx-emu/tdx-emu-qtest.h"
#include "qobject/qdict.h"
#include "qemu/bswap.h"
#include "qobject/qnum.h"

#define TDH_SYS_KEY_CONFIG 31
#define TDH_SYS_INIT       33
#define TDH_SYS_RD         34
#define TDH_SYS_LP_INIT    35
#define TDH_SYS_TDMR_INIT  36
#define TDH_SYS_CONFIG     45

#define TDX_SUCCESS                 0x0000000000000000ULL
#define TDX_OPERAND_INVALID_RCX     0xC000010000000001ULL
#define TDX_SYS_LP_INIT_NOT_DONE    0xC000050200000000ULL

static void test_bring_up(void)
{
    QTestState *qts = qtest_init("-machine q35 -accel tcg -nodefaults -m 2G -smp 2 "
                                 "-object tdx-emu,id=tdx0");
    uint64_t rdx = 0, r8 = 0, next = 0;
    QDict *rsp;
    char *info;
    int calls = 0;

    EXPECT_STATUS(tdx_doorbell(qts, 0, TDH_SYS_RD, 0, 0x0A00000300000008ULL, 0, NULL, NULL),
                  TDX_SYS_LP_INIT_NOT_DONE);
    EXPECT_STATUS(tdx_doorbell(qts, 0, TDH_SYS_INIT, 0, 0, 0, NULL, NULL), TDX_SUCCESS);
    EXPECT_STATUS(tdx_doorbell(qts, 0, TDH_SYS_LP_INIT, 0, 0, 0, NULL, NULL), TDX_SUCCESS);
    EXPECT_STATUS(tdx_doorbell(qts, 1, TDH_SYS_LP_INIT, 0, 0, 0, NULL, NULL), TDX_SUCCESS);
    EXPECT_STATUS(tdx_doorbell(qts, 1, TDH_SYS_RD, 0, 0x0A00000300000008ULL, 0, &rdx, &r8),
                  TDX_SUCCESS);
    g_assert_cmphex(r8 & (1ULL << 20), !=, 0);     /* TOPOLOGY_ENUM */
    EXPECT_STATUS(tdx_doorbell(qts, 0, TDH_SYS_CONFIG, write_tdmr_info(qts) + 8, 1, 1,
                           NULL, NULL), TDX_OPERAND_INVALID_RCX);
    EXPECT_STATUS(tdx_doorbell(qts, 0, TDH_SYS_CONFIG, write_tdmr_info(qts), 1, 1,
                           NULL, NULL), TDX_SUCCESS);
    EXPECT_STATUS(tdx_doorbell(qts, 0, TDH_SYS_KEY_CONFIG, 0, 0, 0, NULL, NULL), TDX_SUCCESS);
    while (next < RAM && calls++ < 16) {
        EXPECT_STATUS(tdx_doorbell(qts, calls % 2, TDH_SYS_TDMR_INIT, 0, 0, 0, &next, NULL),
                      TDX_SUCCESS);
    }
    g_assert_cmphex(next, ==, RAM);

    info = qtest_hmp(qts, "info tdx");
    if (!strstr(info, "module state: SYS_READY") || !strstr(info, "PT_RSVD=2053") ||
        !strstr(info, "TDH.SYS.TDMR.INIT") ||
        !strstr(info, "TDs: 0; TDX HKIDs: 0 assigned, 0 flushed, 4 free")) {
        g_test_message("unexpected 'info tdx':\n%s", info);
    }
    g_assert(strstr(info, "module state: SYS_READY"));
    g_assert(strstr(info, "PT_RSVD=2053"));
    g_assert(strstr(info, "TDH.SYS.TDMR.INIT"));
    g_assert(strstr(info, "TDs: 0; TDX HKIDs: 0 assigned, 0 flushed, 4 free"));
    g_free(info);

    /* A platform reset gives L1's next boot a module that starts over. */
    qtest_qmp_assert_success(qts, "{ 'execute': 'system_reset' }");
    info = qtest_hmp(qts, "info tdx");
    if (!strstr(info, "module state: SYSINIT_PENDING") ||
        !strstr(info, "LPs initialized: 0/2")) {
        g_test_message("unexpected 'info tdx' after system_reset:\n%s", info);
    }
    g_assert(strstr(info, "module state: SYSINIT_PENDING"));
    g_assert(strstr(info, "LPs initialized: 0/2"));
    g_free(info);
    EXPECT_STATUS(tdx_doorbell(qts, 1, TDH_SYS_INIT, 0, 0, 0, NULL, NULL), TDX_SUCCESS);

    /* Bad doorbell input is a QMP error, not a crash. */
    rsp = qtest_qmp(qts, "{ 'execute': 'x-tdx-emu-seamcall', 'arguments': "
                    "{ 'id': 'tdx0', 'lp': 7, 'regs': { 'rax': 34 } } }");
    g_assert(qdict_haskey(rsp, "error"));
    qobject_unref(rsp);
    rsp = qtest_qmp(qts, "{ 'execute': 'x-tdx-emu-seamcall', 'arguments': "
                    "{ 'id': 'nope', 'lp': 0, 'regs': { 'rax': 34 } } }");
    g_assert(qdict_haskey(rsp, "error"));
    qobject_unref(rsp);
    qtest_quit(qts);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    qtest_add_func("/tdx-emu/module/bring-up", test_bring_up);
    return g_test_run();
}
