/*
 * Helpers shared by the tdx-emu qtests: the test-only SEAMCALL doorbell
 * (x-tdx-emu-seamcall), status checks that name what they expected, and
 * the TDMR description Linux would pass to TDH.SYS.CONFIG.
 *
 * Included as "tdx-emu/tdx-emu-qtest.h" (tests/qtest/tdx-emu links here).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef TDX_EMU_QTEST_H
#define TDX_EMU_QTEST_H

#include "libqtest.h"
#include "qobject/qdict.h"
#include "qobject/qnum.h"
#include "qemu/bswap.h"

#define RAM      (2ULL << 30)           /* the machines these tests start */
#define PAMT     (1ULL << 30)           /* where write_tdmr_info puts PAMTs */

/* Registers are full 64-bit values: read them as unsigned. */
static inline uint64_t get_u64(QDict *d, const char *key)
{
    return qnum_get_uint(qobject_to(QNum, qdict_get(d, key)));
}

/* One SEAMCALL as LP @lp of object "tdx0"; status, RDX and R8 out. */
static inline uint64_t tdx_doorbell(QTestState *qts, unsigned lp, uint64_t rax,
                                    uint64_t rcx, uint64_t rdx, uint64_t r8,
                                    uint64_t *rdx_out, uint64_t *r8_out)
{
    QDict *rsp = qtest_qmp(qts, "{ 'execute': 'x-tdx-emu-seamcall', 'arguments': "
                           "{ 'id': 'tdx0', 'lp': %u, 'regs': { 'rax': %" PRIu64
                           ", 'rcx': %" PRIu64 ", 'rdx': %" PRIu64
                           ", 'r8': %" PRIu64 " } } }", lp, rax, rcx, rdx, r8);
    QDict *ret;
    uint64_t status;

    if (!qdict_haskey(rsp, "return")) {
        g_test_message("x-tdx-emu-seamcall leaf %" PRIu64 ": QMP error", rax);
    }
    g_assert(qdict_haskey(rsp, "return"));
    ret = qdict_get_qdict(rsp, "return");
    status = get_u64(ret, "rax");
    if (rdx_out) {
        *rdx_out = get_u64(ret, "rdx");
    }
    if (r8_out) {
        *r8_out = get_u64(ret, "r8");
    }
    qobject_unref(rsp);
    return status;
}

/* A QMP command that must succeed: the whole response (caller unrefs). */
static inline QDict *tdx_vqmp_ok(QTestState *qts, const char *fmt, va_list ap)
    G_GNUC_PRINTF(2, 0);
static inline QDict *tdx_vqmp_ok(QTestState *qts, const char *fmt, va_list ap)
{
    QDict *rsp = qtest_vqmp(qts, fmt, ap);

    if (!qdict_haskey(rsp, "return")) {
        g_test_message("QMP error: %s",
                       qdict_get_try_str(qdict_get_qdict(rsp, "error"), "desc"));
    }
    g_assert(qdict_haskey(rsp, "return"));
    return rsp;
}

#define EXPECT_STATUS(got, want) do {                                       \
    uint64_t g_ = (got), w_ = (want);                                       \
    if (g_ != w_) {                                                         \
        g_test_message("%s: expected status 0x%016" PRIx64 ", got 0x%016"  \
                       PRIx64, #got, w_, g_);                               \
    }                                                                       \
    g_assert_cmphex(g_, ==, w_);                                            \
} while (0)

/*
 * One TDMR over all RAM, PAMTs at 1 GiB and reserved (Linux's layout),
 * written into guest RAM; returns the PA of the TDMR_INFO pointer array.
 */
static inline uint64_t write_tdmr_info(QTestState *qts)
{
    const uint64_t info_pa = 0x2000, array_pa = 0x1000;
    uint64_t info[8 + 2 * 16] = { 0 };
    uint64_t p1g = 4096, p2m = RAM / (2 << 20) * 16, p4k = RAM / 4096 * 16;

    p2m = (p2m + 4095) & ~4095ULL;
    info[1] = RAM;
    info[2] = PAMT;
    info[3] = p1g;
    info[4] = PAMT + p1g;
    info[5] = p2m;
    info[6] = PAMT + p1g + p2m;
    info[7] = p4k;
    info[8] = PAMT;
    info[9] = p1g + p2m + p4k;
    for (int i = 0; i < 8 + 32; i++) {
        info[i] = cpu_to_le64(info[i]);
    }
    qtest_memwrite(qts, info_pa, info, sizeof(info));
    qtest_writeq(qts, array_pa, info_pa);
    return array_pa;
}

#endif
