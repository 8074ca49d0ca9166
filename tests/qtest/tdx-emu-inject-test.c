/*
 * qtest: the fault-injection knobs of tdx-emu through QEMU's real glue —
 * QMP (tdx-emu-inject-*, tdx-emu-lock-*, query-tdx-emu-stats), the
 * object's "inject" property and "info tdx". SEAMCALLs go through the
 * x-tdx-emu-seamcall doorbell; a TD is built the way KVM builds one.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "libqtest.h"
#include "tdx-emu/tdx-emu-qtest.h"
#include "qobject/qdict.h"
#include "qobject/qlist.h"
#include "qobject/qnum.h"
#include "qemu/bswap.h"

#define TDH_MNG_ADDCX        1
#define TDH_MEM_SEPT_ADD     3
#define TDH_MNG_KEY_CONFIG   8
#define TDH_MNG_CREATE       9
#define TDH_VP_CREATE        10
#define TDH_MNG_INIT         21
#define TDH_PHYMEM_PAGE_RDMD 24
#define TDH_SYS_KEY_CONFIG   31
#define TDH_SYS_INIT         33
#define TDH_SYS_LP_INIT      35
#define TDH_SYS_TDMR_INIT    36
#define TDH_MEM_TRACK        38
#define TDH_SYS_CONFIG       45

#define TDX_SUCCESS          0x0000000000000000ULL
#define TDX_OPERAND_BUSY     0x8000020000000000ULL
#define TDX_SYS_BUSY         0x8000020200000000ULL

#define OP_RCX      0x01
#define OP_RDX      0x02
#define OP_SEPT     0x92
#define OP_TD_EPOCH 0xA9
#define OP_OP_STATE 0xAC
#define OP_SYS      0xB8
#define OP_KET      0xBB

#define POOL        0x10000000ULL   /* pages donated to the module */
#define PARAMS_PA   0x100000ULL     /* TD_PARAMS */
#define GPA         0x80000000ULL
#define RDMD_PAGE   0x20000000ULL
#define TDCS_PAGES  4

#define ARGS "-machine q35 -accel tcg -nodefaults -m 2G -smp 2,sockets=1,cores=2 "

static uint64_t next_page = POOL;

static uint64_t page(void)
{
    uint64_t pa = next_page;

    next_page += 4096;
    return pa;
}

static uint64_t seamcall(QTestState *qts, unsigned lp, uint64_t rax, uint64_t rcx,
                         uint64_t rdx, uint64_t r8)
{
    return tdx_doorbell(qts, lp, rax, rcx, rdx, r8, NULL, NULL);
}

/* A QMP command that must succeed; its "return" (caller unrefs rsp). */
static QObject *qmp_ok(QTestState *qts, QDict **rsp, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);
static QObject *qmp_ok(QTestState *qts, QDict **rsp, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    *rsp = tdx_vqmp_ok(qts, fmt, ap);
    va_end(ap);
    return qdict_get(*rsp, "return");
}

static int64_t qmp_ok_int(QTestState *qts, const char *member, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);
static int64_t qmp_ok_int(QTestState *qts, const char *member, const char *fmt, ...)
{
    QDict *rsp;
    int64_t v;
    va_list ap;

    va_start(ap, fmt);
    rsp = tdx_vqmp_ok(qts, fmt, ap);
    va_end(ap);
    v = qdict_get_int(qdict_get_qdict(rsp, "return"), member);
    qobject_unref(rsp);
    return v;
}

/* A QMP command that must fail with `want` in its message. */
static void qmp_err(QTestState *qts, const char *want, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);
static void qmp_err(QTestState *qts, const char *want, const char *fmt, ...)
{
    QDict *rsp;
    const char *desc;
    va_list ap;

    va_start(ap, fmt);
    rsp = qtest_vqmp(qts, fmt, ap);
    va_end(ap);
    g_assert(qdict_haskey(rsp, "error"));
    desc = qdict_get_str(qdict_get_qdict(rsp, "error"), "desc");
    if (!strstr(desc, want)) {
        g_test_message("QMP error '%s' does not mention '%s'", desc, want);
    }
    g_assert(strstr(desc, want));
    qobject_unref(rsp);
}

/* Hold `lock` exclusively; key and gpa when not NULL. */
static int64_t hold(QTestState *qts, const char *lock, const uint64_t *key,
                    const uint64_t *gpa)
{
    QDict *args = qdict_new(), *rsp;
    int64_t id;

    qdict_put_str(args, "id", "tdx0");
    qdict_put_str(args, "lock", lock);
    qdict_put_str(args, "mode", "exclusive");
    if (key) {
        qdict_put_int(args, "key", *key);
    }
    if (gpa) {
        qdict_put_int(args, "gpa", *gpa);
    }
    rsp = qtest_qmp(qts, "{ 'execute': 'tdx-emu-lock-hold', 'arguments': %p }", args);
    if (!qdict_haskey(rsp, "return")) {
        g_test_message("hold %s: %s", lock,
                       qdict_get_try_str(qdict_get_qdict(rsp, "error"), "desc"));
    }
    g_assert(qdict_haskey(rsp, "return"));
    id = qdict_get_int(qdict_get_qdict(rsp, "return"), "hold");
    qobject_unref(rsp);
    return id;
}

static void release(QTestState *qts, int64_t id)
{
    QDict *rsp;

    qmp_ok(qts, &rsp, "{ 'execute': 'tdx-emu-lock-release', 'arguments': "
           "{ 'id': 'tdx0', 'hold': %" PRId64 " } }", id);
    qobject_unref(rsp);
}

/* query-tdx-emu-stats: busy completions of `leaf` with `operand`. */
static uint64_t busy_count(QTestState *qts, unsigned leaf, unsigned operand,
                           uint64_t *injected)
{
    QDict *rsp;
    QList *leaves = qobject_to(QList, qmp_ok(qts, &rsp, "{ 'execute': "
                               "'query-tdx-emu-stats', 'arguments': "
                               "{ 'id': 'tdx0' } }"));
    const QListEntry *e, *b;
    uint64_t n = 0;

    QLIST_FOREACH_ENTRY(leaves, e) {
        QDict *ls = qobject_to(QDict, qlist_entry_obj(e));

        if (qdict_get_int(ls, "number") != leaf) {
            continue;
        }
        if (injected) {
            *injected = get_u64(ls, "injected");
        }
        QLIST_FOREACH_ENTRY(qdict_get_qlist(ls, "busy"), b) {
            QDict *bc = qobject_to(QDict, qlist_entry_obj(b));

            if (qdict_get_int(bc, "operand") == operand) {
                n = get_u64(bc, "count");
            }
        }
    }
    qobject_unref(rsp);
    return n;
}

/*
 * One row of the lock table: with `lock` held exclusive, leaf `rax` from
 * LP 1 fails with exactly `busy` and statistics count it under `operand`;
 * after the release the same call succeeds.
 */
static void lock_row(QTestState *qts, const char *lock, const uint64_t *key,
                     const uint64_t *gpa,
                     uint64_t rax, uint64_t rcx, uint64_t rdx, uint64_t r8,
                     uint64_t busy, unsigned operand)
{
    uint64_t before = busy_count(qts, rax & 0xFFFF, operand, NULL);
    int64_t id = hold(qts, lock, key, gpa);

    g_test_message("lock %s, leaf %" PRIu64, lock, rax & 0xFFFF);
    EXPECT_STATUS(seamcall(qts, 1, rax, rcx, rdx, r8), busy);
    g_assert_cmpuint(busy_count(qts, rax & 0xFFFF, operand, NULL), ==, before + 1);
    release(qts, id);
    EXPECT_STATUS(seamcall(qts, 1, rax, rcx, rdx, r8), TDX_SUCCESS);
}

/*
 * Linux's bring-up. with_global_row: SYS.KEY.CONFIG also runs against the
 * global lock held by a hold (TDX_SYS_BUSY, counted under SYS).
 */
static void bring_up(QTestState *qts, bool with_global_row)
{
    uint64_t next = 0;
    QDict *rsp;
    int calls = 0;

    EXPECT_STATUS(seamcall(qts, 0, TDH_SYS_INIT, 0, 0, 0), TDX_SUCCESS);
    EXPECT_STATUS(seamcall(qts, 0, TDH_SYS_LP_INIT, 0, 0, 0), TDX_SUCCESS);
    EXPECT_STATUS(seamcall(qts, 1, TDH_SYS_LP_INIT, 0, 0, 0), TDX_SUCCESS);
    EXPECT_STATUS(seamcall(qts, 0, TDH_SYS_CONFIG, write_tdmr_info(qts), 1, 1),
                  TDX_SUCCESS);
    if (with_global_row) {
        lock_row(qts, "global", NULL, NULL, TDH_SYS_KEY_CONFIG, 0, 0, 0, TDX_SYS_BUSY, OP_SYS);
    } else {
        EXPECT_STATUS(seamcall(qts, 0, TDH_SYS_KEY_CONFIG, 0, 0, 0), TDX_SUCCESS);
    }
    while (next < RAM && calls++ < 16) {
        rsp = qtest_qmp(qts, "{ 'execute': 'x-tdx-emu-seamcall', 'arguments': "
                        "{ 'id': 'tdx0', 'lp': 0, 'regs': { 'rax': %d } } }",
                        TDH_SYS_TDMR_INIT);
        g_assert_cmphex(get_u64(qdict_get_qdict(rsp, "return"), "rax"), ==, 0);
        next = get_u64(qdict_get_qdict(rsp, "return"), "rdx");
        qobject_unref(rsp);
    }
    g_assert_cmphex(next, ==, RAM);
}

static void write_td_params(QTestState *qts)
{
    uint8_t p[1024] = { 0 };
    uint64_t xfam = cpu_to_le64(3), eptp = cpu_to_le64(6 | (3 << 3));
    uint16_t max_vcpus = cpu_to_le16(4), tsc = cpu_to_le16(100);

    memcpy(p + 8, &xfam, 8);
    memcpy(p + 16, &max_vcpus, 2);
    memcpy(p + 24, &eptp, 8);
    memcpy(p + 40, &tsc, 2);
    qtest_memwrite(qts, PARAMS_PA, p, sizeof(p));
}

/* Every named lock kind against one of its leaves, while a TD is built. */
static void test_lock_table(void)
{
    QTestState *qts = qtest_init(ARGS "-object tdx-emu,id=tdx0");
    uint64_t tdr, tdcx[TDCS_PAGES], tdvpr, pt;
    const uint64_t pkg0 = 0, gpa = GPA;
    char *info;

    next_page = POOL;
    bring_up(qts, true);

    tdr = page();
    lock_row(qts, "pamt", &tdr, NULL, TDH_MNG_CREATE, tdr, 2, 0,
             TDX_OPERAND_BUSY | OP_RCX, OP_RCX);
    lock_row(qts, "pkg-key", &pkg0, NULL, TDH_MNG_KEY_CONFIG, tdr, 0, 0,
             TDX_OPERAND_BUSY | OP_KET, OP_KET);
    for (int i = 0; i < TDCS_PAGES; i++) {
        tdcx[i] = page();
        if (i == 0) {
            lock_row(qts, "tdr", &tdr, NULL, TDH_MNG_ADDCX, tdcx[0], tdr, 0,
                     TDX_OPERAND_BUSY | OP_RDX, OP_RDX);
        } else {
            EXPECT_STATUS(seamcall(qts, 0, TDH_MNG_ADDCX, tdcx[i], tdr, 0), TDX_SUCCESS);
        }
    }
    write_td_params(qts);
    EXPECT_STATUS(seamcall(qts, 0, TDH_MNG_INIT, tdr, PARAMS_PA, 0), TDX_SUCCESS);

    tdvpr = page();
    lock_row(qts, "tdcs-op-state", &tdr, NULL, TDH_VP_CREATE, tdvpr, tdr, 0,
             TDX_OPERAND_BUSY | OP_OP_STATE, OP_OP_STATE);
    pt = page();
    /* SEPT.ADD's GPA is aligned to what the entry maps: 512 GiB at level 3. */
    lock_row(qts, "sept-tree", &tdr, NULL, TDH_MEM_SEPT_ADD, 0 | 3, tdr, pt,
             TDX_OPERAND_BUSY | OP_SEPT, OP_SEPT);
    /* The walk for GPA now ends at the level-2 entry SEPT.ADD 2 writes. */
    pt = page();
    lock_row(qts, "sept-entry", &tdr, &gpa, TDH_MEM_SEPT_ADD, GPA | 2, tdr, pt,
             TDX_OPERAND_BUSY | OP_RCX, OP_RCX);
    lock_row(qts, "td-epoch", &tdr, NULL, TDH_MEM_TRACK, tdr, 0, 0,
             TDX_OPERAND_BUSY | OP_TD_EPOCH, OP_TD_EPOCH);

    /* query-tdx-emu-tds names the TD by its TDR page: the key of its locks. */
    {
        QDict *rsp, *td;
        QList *l = qobject_to(QList, qmp_ok(qts, &rsp, "{ 'execute': "
                              "'query-tdx-emu-tds', 'arguments': { 'id': 'tdx0' } }"));

        g_assert_cmpint(qlist_size(l), ==, 1);
        td = qobject_to(QDict, qlist_peek(l));
        g_assert_cmphex(get_u64(td, "tdr"), ==, tdr);
        g_assert_cmpuint(get_u64(td, "vcpus"), ==, 1);
        g_assert_cmpuint(get_u64(td, "sept-pages"), ==, 2);
        qobject_unref(rsp);
    }

    /* A lock that does not exist: a TDCS page is not a TDR. */
    qmp_err(qts, "is not the TDR page of a TD", "{ 'execute': 'tdx-emu-lock-hold', "
            "'arguments': { 'id': 'tdx0', 'lock': 'sept-tree', 'key': %" PRIu64
            ", 'mode': 'shared' } }", tdcx[1]);

    /* Holds show in "info tdx" and query-tdx-emu-lock-holds. */
    hold(qts, "sept-entry", &tdr, &gpa);
    info = qtest_hmp(qts, "info tdx");
    if (!strstr(info, "sept-entry") || !strstr(info, "Injection rules: none")) {
        g_test_message("unexpected 'info tdx':\n%s", info);
    }
    g_assert(strstr(info, "Lock holds:"));
    g_assert(strstr(info, "sept-entry"));
    g_assert(strstr(info, "Injection rules: none"));
    g_free(info);
    {
        QDict *rsp, *h;
        QList *l = qobject_to(QList, qmp_ok(qts, &rsp, "{ 'execute': "
                              "'query-tdx-emu-lock-holds', 'arguments': "
                              "{ 'id': 'tdx0' } }"));

        g_assert_cmpint(qlist_size(l), ==, 1);
        h = qobject_to(QDict, qlist_peek(l));
        g_assert_cmpstr(qdict_get_str(h, "lock"), ==, "sept-entry");
        g_assert_cmphex(get_u64(h, "gpa"), ==, GPA);
        g_assert_cmphex(get_u64(h, "key"), ==, tdr);
        g_assert(!qdict_haskey(h, "remaining-ns"));
        qobject_unref(rsp);
    }
    qtest_quit(qts);
}

/* RDMD of one page: side-effect free, one lock point (PAMT entry, RCX). */
static bool rdmd_busy(QTestState *qts)
{
    uint64_t st = seamcall(qts, 1, TDH_PHYMEM_PAGE_RDMD, RDMD_PAGE, 0, 0);

    if (st == (TDX_OPERAND_BUSY | OP_RCX)) {
        return true;
    }
    EXPECT_STATUS(st, TDX_SUCCESS);
    return false;
}

static void test_every(void)
{
    QTestState *qts = qtest_init(ARGS "-object tdx-emu,id=tdx0");
    uint64_t injected = 0;
    QDict *rsp, *r;
    QList *rules;
    int64_t id;
    char *info;

    bring_up(qts, false);
    id = qmp_ok_int(qts, "rule", "{ 'execute': 'tdx-emu-inject-add', 'arguments': "
                    "{ 'id': 'tdx0', 'leaf': 'TDH.PHYMEM.PAGE.RDMD', 'operand': 1, "
                    "'when': 'every', 'n': 2 } }");
    for (int call = 1; call <= 6; call++) {
        g_assert_cmpint(rdmd_busy(qts), ==, call % 2 == 0);
    }
    g_assert_cmpuint(busy_count(qts, TDH_PHYMEM_PAGE_RDMD, OP_RCX, &injected), ==, 3);
    g_assert_cmpuint(injected, ==, 3);

    rules = qobject_to(QList, qmp_ok(qts, &rsp, "{ 'execute': 'query-tdx-emu-inject', "
                                     "'arguments': { 'id': 'tdx0' } }"));
    g_assert_cmpint(qlist_size(rules), ==, 1);
    r = qobject_to(QDict, qlist_peek(rules));
    g_assert_cmpint(qdict_get_int(r, "rule"), ==, id);
    g_assert_cmpstr(qdict_get_str(r, "leaf"), ==, "TDH.PHYMEM.PAGE.RDMD");
    g_assert_cmpstr(qdict_get_str(r, "when"), ==, "every");
    g_assert_cmpint(qdict_get_int(r, "n"), ==, 2);
    g_assert_cmpint(qdict_get_int(r, "operand"), ==, 1);
    g_assert_cmpint(qdict_get_int(r, "matches"), ==, 6);
    g_assert_cmpint(qdict_get_int(r, "fired"), ==, 3);
    qobject_unref(rsp);

    info = qtest_hmp(qts, "info tdx");
    if (!strstr(info, "TDH.PHYMEM.PAGE.RDMD") || !strstr(info, "every 2") ||
        !strstr(info, "fired 3") || !strstr(info, "Lock holds: none")) {
        g_test_message("unexpected 'info tdx':\n%s", info);
    }
    g_assert(strstr(info, "every 2"));
    g_assert(strstr(info, "matched 6 fired 3"));
    g_assert(strstr(info, "operand 0x01"));
    g_assert(strstr(info, "Lock holds: none"));
    g_free(info);

    /*
     * The busy-path table over QMP: RDMD is no KVM busy path ("other");
     * its three busies were each followed by the next RDMD (a retry), so
     * every one has a reaction and none is pending.
     */
    {
        QList *paths = qobject_to(QList, qmp_ok(qts, &rsp,
                                  "{ 'execute': 'query-tdx-emu-paths', "
                                  "'arguments': { 'id': 'tdx0' } }"));
        QDict *p;
        uint64_t reacted;

        g_assert(paths && qlist_size(paths) == 1);
        p = qobject_to(QDict, qlist_peek(paths));
        g_assert_cmpstr(qdict_get_str(p, "path"), ==, "other");
        g_assert_cmpuint(get_u64(p, "injected"), ==, 3);
        g_assert_cmpuint(get_u64(p, "natural"), ==, 0);
        reacted = get_u64(p, "retry-later") + get_u64(p, "local-retry") +
                  get_u64(p, "reenter") + get_u64(p, "unhandled");
        g_assert_cmpuint(reacted + get_u64(p, "pending"), ==, 3);
        g_assert_cmpuint(get_u64(p, "overflow"), ==, 0);
        qobject_unref(rsp);
    }

    qmp_ok(qts, &rsp, "{ 'execute': 'tdx-emu-stats-reset', 'arguments': "
           "{ 'id': 'tdx0' } }");
    qobject_unref(rsp);
    g_assert_cmpuint(busy_count(qts, TDH_PHYMEM_PAGE_RDMD, OP_RCX, NULL), ==, 0);
    {
        QList *paths = qobject_to(QList, qmp_ok(qts, &rsp,
                                  "{ 'execute': 'query-tdx-emu-paths', "
                                  "'arguments': { 'id': 'tdx0' } }"));

        g_assert(paths && qlist_size(paths) == 0);     /* reset with the stats */
        qobject_unref(rsp);
    }

    qmp_ok(qts, &rsp, "{ 'execute': 'tdx-emu-inject-del', 'arguments': "
           "{ 'id': 'tdx0', 'rule': %" PRId64 " } }", id);
    qobject_unref(rsp);
    for (int call = 1; call <= 4; call++) {
        g_assert(!rdmd_busy(qts));
    }
    qtest_quit(qts);
}

/*
 * The HMP commands: a rule in inject= syntax with spare-retries (the
 * retry of the busy RDMD is left alone: busy on calls 2 and 5, not 3),
 * listed by info tdx and QMP, removed; a PAMT hold on the RDMD page makes
 * RDMD busy until released, or until its 2nd busy (busies=2); stats
 * reset; errors are reported.
 */
static void test_hmp(void)
{
    QTestState *qts = qtest_init(ARGS "-object tdx-emu,id=tdx0");
    static const bool want[6] = { false, true, false, false, true, false };
    g_autofree char *add = NULL, *info = NULL, *hold = NULL, *bad = NULL;
    QDict *rsp, *r;
    QList *rules;

    bring_up(qts, false);
    add = qtest_hmp(qts, "tdx_inject_add tdx0 leaf=TDH.PHYMEM.PAGE.RDMD:operand=1"
                    ":every=2:spare-retries=on");
    g_assert_cmpstr(add, ==, "rule 0\r\n");
    for (int call = 0; call < 6; call++) {
        bool busy = rdmd_busy(qts);

        if (busy != want[call]) {
            g_test_message("RDMD call %d: expected %s, got %s", call + 1,
                           want[call] ? "busy" : "success", busy ? "busy" : "success");
        }
        g_assert_cmpint(busy, ==, want[call]);
    }
    rules = qobject_to(QList, qmp_ok(qts, &rsp, "{ 'execute': 'query-tdx-emu-inject', "
                                     "'arguments': { 'id': 'tdx0' } }"));
    r = qobject_to(QDict, qlist_peek(rules));
    g_assert(qdict_get_bool(r, "spare-retries"));
    g_assert_cmpint(qdict_get_int(r, "matches"), ==, 4);   /* 2 retries spared */
    qobject_unref(rsp);
    info = qtest_hmp(qts, "info tdx");
    g_assert(strstr(info, "every 2") && strstr(info, "spare-retries"));
    g_free(qtest_hmp(qts, "tdx_inject_del tdx0 0"));
    g_assert(!rdmd_busy(qts) && !rdmd_busy(qts));

    hold = qtest_hmp(qts, "tdx_lock_hold tdx0 lock=pamt,key=0x%llx,mode=exclusive",
                     (unsigned long long)RDMD_PAGE);
    g_assert_cmpstr(hold, ==, "hold 0\r\n");
    g_assert(rdmd_busy(qts));           /* natural: the page's PAMT entry */
    g_free(qtest_hmp(qts, "tdx_lock_release tdx0 0"));
    g_assert(!rdmd_busy(qts));

    /* A hold that ends on its 2nd busy, not on a time. */
    {
        g_autofree char *h0 = NULL, *i1 = NULL, *rel = NULL, *zero = NULL;
        QList *l;
        QDict *h;

        h0 = qtest_hmp(qts, "tdx_lock_hold tdx0 lock=pamt,key=0x%llx,"
                       "mode=exclusive,busies=2", (unsigned long long)RDMD_PAGE);
        g_assert_cmpstr(h0, ==, "hold 0\r\n");
        g_assert(rdmd_busy(qts));
        i1 = qtest_hmp(qts, "info tdx");
        if (!strstr(i1, "until 2 busies (1 seen)")) {
            g_test_message("info tdx with a busies hold:\n%s", i1);
        }
        g_assert(strstr(i1, "until 2 busies (1 seen)"));
        l = qobject_to(QList, qmp_ok(qts, &rsp, "{ 'execute': "
                       "'query-tdx-emu-lock-holds', 'arguments': { 'id': 'tdx0' } }"));
        h = qobject_to(QDict, qlist_peek(l));
        g_assert_cmpuint(get_u64(h, "busies"), ==, 2);
        g_assert_cmpuint(get_u64(h, "busies-seen"), ==, 1);
        g_assert(!qdict_haskey(h, "remaining-ns"));
        qobject_unref(rsp);
        g_assert(rdmd_busy(qts));       /* the 2nd: the hold releases itself */
        g_assert(!rdmd_busy(qts));
        rel = qtest_hmp(qts, "tdx_lock_release tdx0 0");
        g_assert(strstr(rel, "has no lock hold 0"));
        zero = qtest_hmp(qts, "tdx_lock_hold tdx0 lock=global,mode=exclusive,busies=0");
        g_assert(strstr(zero, "'busies' must be at least 1"));
    }

    g_assert_cmpuint(busy_count(qts, TDH_PHYMEM_PAGE_RDMD, OP_RCX, NULL), >, 0);
    g_free(qtest_hmp(qts, "tdx_stats_reset tdx0"));
    g_assert_cmpuint(busy_count(qts, TDH_PHYMEM_PAGE_RDMD, OP_RCX, NULL), ==, 0);

    bad = qtest_hmp(qts, "tdx_inject_add tdx0 leaf=TDH.MEM.AUG:every=2");
    if (!strstr(bad, "did you mean TDH.MEM.PAGE.AUG")) {
        g_test_message("HMP error for a misspelt leaf: %s", bad);
    }
    g_assert(strstr(bad, "did you mean TDH.MEM.PAGE.AUG"));
    g_free(bad);
    bad = qtest_hmp(qts, "tdx_lock_release tdx0 7");
    g_assert(strstr(bad, "has no lock hold 7"));
    qtest_quit(qts);
}

/*
 * stretch-retry-ms on a zap leaf, in the inject= syntax over HMP and over
 * QMP: listed with its counters by QMP and info tdx; refused on a leaf
 * that is not a zap.
 */
static void test_stretch_syntax(void)
{
    QTestState *qts = qtest_init(ARGS "-object tdx-emu,id=tdx0");
    g_autofree char *add = NULL, *info = NULL, *bad = NULL;
    QDict *rsp, *r;
    QList *rules;

    add = qtest_hmp(qts, "tdx_inject_add tdx0 leaf=TDH.MEM.RANGE.BLOCK:operand=0x92"
                    ":every=16:spare-retries=on:stretch-retry-ms=300");
    g_assert_cmpstr(add, ==, "rule 0\r\n");
    qmp_ok(qts, &rsp, "{ 'execute': 'tdx-emu-inject-add', 'arguments': "
           "{ 'id': 'tdx0', 'leaf': 'TDH.MEM.TRACK', 'when': 'nth', "
           "'n': 2, 'stretch-retry-ms': 50 } }");
    qobject_unref(rsp);
    rules = qobject_to(QList, qmp_ok(qts, &rsp, "{ 'execute': 'query-tdx-emu-inject', "
                                     "'arguments': { 'id': 'tdx0' } }"));
    r = qobject_to(QDict, qlist_peek(rules));
    g_assert_cmpint(qdict_get_int(r, "stretch-retry-ms"), ==, 300);
    g_assert_cmpint(qdict_get_int(r, "stretched"), ==, 0);
    g_assert_cmpint(qdict_get_int(r, "stretch-entries"), ==, 0);
    qobject_unref(rsp);
    info = qtest_hmp(qts, "info tdx");
    g_assert(strstr(info, "stretch-retry-ms 300 (stretched 0, 0 ended by an entry)"));
    g_assert(strstr(info, "stretch-retry-ms 50 "));
    bad = qtest_hmp(qts, "tdx_inject_add tdx0 leaf=TDH.MEM.PAGE.AUG:every=2"
                    ":stretch-retry-ms=100");
    if (!strstr(bad, "zap leaves")) {
        g_test_message("HMP error for stretch on PAGE.AUG: %s", bad);
    }
    g_assert(strstr(bad, "zap leaves"));
    qtest_quit(qts);
}

/*
 * 48 RDMD decisions of a probability-0.5 rule under `seed`, as the calls
 * saw them; *digest: the rule's decision-digest. Checks that the rule's
 * fired-at list names exactly the calls that saw the busy.
 */
static uint64_t prob_pattern(uint64_t seed, uint64_t *digest)
{
    g_autofree char *args = g_strdup_printf(ARGS "-object tdx-emu,id=tdx0,seed=%"
                                            PRIu64, seed);
    QTestState *qts = qtest_init(args);
    uint64_t pattern = 0, fired_at = 0;
    const QListEntry *e;
    QDict *rsp, *r;

    bring_up(qts, false);
    qmp_ok_int(qts, "rule", "{ 'execute': 'tdx-emu-inject-add', 'arguments': "
               "{ 'id': 'tdx0', 'leaf': 'tdh_phymem_page_rdmd', "
               "'when': 'probability', 'probability': 0.5 } }");
    for (int i = 0; i < 48; i++) {
        pattern = pattern << 1 | rdmd_busy(qts);
    }
    r = qobject_to(QDict, qlist_peek(qobject_to(QList, qmp_ok(qts, &rsp,
                   "{ 'execute': 'query-tdx-emu-inject', 'arguments': "
                   "{ 'id': 'tdx0' } }"))));
    g_assert_cmpuint(get_u64(r, "matches"), ==, 48);
    QLIST_FOREACH_ENTRY(qdict_get_qlist(r, "fired-at"), e) {
        uint64_t at = qnum_get_uint(qobject_to(QNum, qlist_entry_obj(e)));

        g_assert_cmpuint(at, >=, 1);
        g_assert_cmpuint(at, <=, 48);
        fired_at |= 1ULL << (48 - at);      /* call 1 is the pattern's top bit */
    }
    if (fired_at != pattern) {
        g_test_message("fired-at says %#" PRIx64 ", the calls saw %#" PRIx64,
                       fired_at, pattern);
    }
    g_assert_cmphex(fired_at, ==, pattern);
    *digest = get_u64(r, "decision-digest");
    qobject_unref(rsp);
    qtest_quit(qts);
    return pattern;
}

/* Same seed and workload, same injections (determinism); another seed,
 * other ones. */
static void test_probability_seed(void)
{
    uint64_t da, db, dc;
    uint64_t a = prob_pattern(42, &da), b = prob_pattern(42, &db);
    uint64_t c = prob_pattern(4242, &dc);
    int ones = __builtin_popcountll(a);

    g_test_message("seed 42: %#" PRIx64 ", again %#" PRIx64 ", seed 4242: %#" PRIx64,
                   a, b, c);
    g_assert_cmphex(a, ==, b);
    g_assert_cmphex(a, !=, c);
    g_assert_cmphex(da, ==, db);
    g_assert_cmphex(da, !=, dc);
    g_assert_cmpint(ones, >, 8);
    g_assert_cmpint(ones, <, 40);
}

/* Rules armed from the command line, and their syntax errors. */
static void test_command_line(void)
{
    QTestState *qts = qtest_init(ARGS "-object 'tdx-emu,id=tdx0,inject="
                                 "leaf=TDH.PHYMEM.PAGE.RDMD:operand=0x1:nth=3;"
                                 "leaf=TDH_MEM_TRACK:operand=0xa9:first=1:lp=0+1'");
    const char *bad[][2] = {
        { "leaf=TDH.MEM.AUG:every=2", "did you mean TDH.MEM.PAGE.AUG?" },
        { "leaf=TDH.MEM.PAGE.AUG", "needs one of nth=N" },
        { "leaf=TDH.MEM.PAGE.AUG:every=0", "'n' must be at least 1" },
        { "leaf=TDH.MEM.PAGE.AUG:every=2:first=1", "one of nth, every" },
        { "leaf=any:probability=2", "within 0 and 1" },
        { "leaf=any:every=2:colour=red", "unknown key 'colour'" },
        { "leaf=any:every=2;every=3", "inject rule 2: tdx-emu: 'leaf' is required" },
        { "leaf=any:every=2:lp=70", "LP 70 does not exist" },
    };
    QDict *rsp;
    QList *rules;
    char *info;

    bring_up(qts, false);
    rules = qobject_to(QList, qmp_ok(qts, &rsp, "{ 'execute': 'query-tdx-emu-inject', "
                                     "'arguments': { 'id': 'tdx0' } }"));
    g_assert_cmpint(qlist_size(rules), ==, 2);
    qobject_unref(rsp);
    for (int call = 1; call <= 5; call++) {
        g_assert_cmpint(rdmd_busy(qts), ==, call == 3);
    }
    info = qtest_hmp(qts, "info tdx");
    if (!strstr(info, "TDH.MEM.TRACK") || !strstr(info, "lp-mask 0x3")) {
        g_test_message("unexpected 'info tdx':\n%s", info);
    }
    g_assert(strstr(info, "nth 3  matched 5 fired 1"));
    g_assert(strstr(info, "TDH.MEM.TRACK"));
    g_assert(strstr(info, "first 1  matched 0 fired 0  lp-mask 0x3"));
    g_free(info);
    qtest_quit(qts);

    /* Bad rules stop QEMU at start-up with a message naming the problem. */
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autofree char *arg = g_strdup_printf("tdx-emu,id=tdx0,inject=%s", bad[i][0]);
        /* No usable machine: a rule that got through would still stop it. */
        const char *argv[] = { g_getenv("QTEST_QEMU_BINARY"), "-machine", "none",
                               "-nodefaults", "-display", "none",
                               "-object", arg, NULL };
        g_autofree char *out = NULL, *err = NULL;
        int status;

        g_assert(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH,
                              NULL, NULL, &out, &err, &status, NULL));
        if (!strstr(err, bad[i][1])) {
            g_test_message("inject=%s: stderr '%s' does not mention '%s'",
                           bad[i][0], err, bad[i][1]);
        }
        g_assert(WIFEXITED(status) && WEXITSTATUS(status) != 0);
        g_assert(strstr(err, bad[i][1]));
    }
}

/* Bad QMP input: errors with clear messages, QEMU stays up. */
static void test_bad_input(void)
{
    QTestState *qts = qtest_init(ARGS "-object tdx-emu,id=tdx0");
    QDict *rsp;
    int64_t id;

    bring_up(qts, false);
    qmp_err(qts, "unknown leaf 'TDH.MEM.AUG'; did you mean TDH.MEM.PAGE.AUG?",
            "{ 'execute': 'tdx-emu-inject-add', 'arguments': { 'id': 'tdx0', "
            "'leaf': 'TDH.MEM.AUG', 'when': 'every', 'n': 2 } }");
    qmp_err(qts, "unknown leaf 'BOGUS'; leaves are named as in Intel's ABI "
            "(TDH.VP.ENTER, TDH.MNG.ADDCX,",
            "{ 'execute': 'tdx-emu-inject-add', 'arguments': { 'id': 'tdx0', "
            "'leaf': 'BOGUS', 'when': 'every', 'n': 2 } }");
    qmp_err(qts, "no SEAMCALL leaf number 99",
            "{ 'execute': 'tdx-emu-inject-add', 'arguments': { 'id': 'tdx0', "
            "'leaf': '99', 'when': 'every', 'n': 2 } }");
    qmp_err(qts, "sometimes",
            "{ 'execute': 'tdx-emu-inject-add', 'arguments': { 'id': 'tdx0', "
            "'leaf': 'any', 'when': 'sometimes', 'n': 2 } }");
    qmp_err(qts, "'n' is required with when=every",
            "{ 'execute': 'tdx-emu-inject-add', 'arguments': { 'id': 'tdx0', "
            "'leaf': 'TDH.MEM.PAGE.AUG', 'when': 'every' } }");
    qmp_err(qts, "'probability' is required",
            "{ 'execute': 'tdx-emu-inject-add', 'arguments': { 'id': 'tdx0', "
            "'leaf': 'any', 'when': 'probability' } }");
    qmp_err(qts, "within 0 and 1",
            "{ 'execute': 'tdx-emu-inject-add', 'arguments': { 'id': 'tdx0', "
            "'leaf': 'any', 'when': 'probability', 'probability': 1.5 } }");
    qmp_err(qts, "LP 2 does not exist (2 LPs)",
            "{ 'execute': 'tdx-emu-inject-add', 'arguments': { 'id': 'tdx0', "
            "'leaf': 'any', 'when': 'first', 'n': 1, 'lp': [0, 2] } }");
    qmp_err(qts, "empty GPA range",
            "{ 'execute': 'tdx-emu-inject-add', 'arguments': { 'id': 'tdx0', "
            "'leaf': 'any', 'when': 'first', 'n': 1, 'gpa-start': 8192, "
            "'gpa-end': 4096 } }");
    qmp_err(qts, "no tdx-emu object with id 'nope'",
            "{ 'execute': 'tdx-emu-inject-add', 'arguments': { 'id': 'nope', "
            "'leaf': 'any', 'when': 'first', 'n': 1 } }");

    id = qmp_ok_int(qts, "rule", "{ 'execute': 'tdx-emu-inject-add', 'arguments': "
                    "{ 'id': 'tdx0', 'leaf': '0x6', 'when': 'nth', 'n': 1 } }");
    qmp_ok(qts, &rsp, "{ 'execute': 'tdx-emu-inject-del', 'arguments': "
           "{ 'id': 'tdx0', 'rule': %" PRId64 " } }", id);
    qobject_unref(rsp);
    /* A guest (TDCALL) leaf by name: listed back under its own name. */
    id = qmp_ok_int(qts, "rule", "{ 'execute': 'tdx-emu-inject-add', 'arguments': "
                    "{ 'id': 'tdx0', 'leaf': 'tdg_mem_page_accept', 'when': 'every', "
                    "'n': 3 } }");
    qmp_ok(qts, &rsp, "{ 'execute': 'query-tdx-emu-inject', 'arguments': "
           "{ 'id': 'tdx0' } }");
    {
        QList *rules = qdict_get_qlist(rsp, "return");
        QDict *r = qobject_to(QDict, qlist_peek(rules));

        g_assert_nonnull(r);
        g_assert_cmpstr(qdict_get_str(r, "leaf"), ==, "TDG.MEM.PAGE.ACCEPT");
        g_assert_cmpint(qdict_get_int(r, "rule"), ==, id);
    }
    qobject_unref(rsp);
    qmp_ok(qts, &rsp, "{ 'execute': 'tdx-emu-inject-del', 'arguments': "
           "{ 'id': 'tdx0', 'rule': %" PRId64 " } }", id);
    qobject_unref(rsp);
    qmp_err(qts, "unknown leaf 'TDG.MEM.ACCEPT'; did you mean TDG.MEM.PAGE.ACCEPT?",
            "{ 'execute': 'tdx-emu-inject-add', 'arguments': { 'id': 'tdx0', "
            "'leaf': 'TDG.MEM.ACCEPT', 'when': 'every', 'n': 2 } }");
    qmp_err(qts, "has no injection rule",
            "{ 'execute': 'tdx-emu-inject-del', 'arguments': "
            "{ 'id': 'tdx0', 'rule': %" PRId64 " } }", id);
    qmp_err(qts, "has no injection rule",
            "{ 'execute': 'tdx-emu-inject-del', 'arguments': "
            "{ 'id': 'tdx0', 'rule': -5 } }");
    /* All 64 rule slots, then one more. */
    for (int i = 0; i < 64; i++) {
        qmp_ok_int(qts, "rule", "{ 'execute': 'tdx-emu-inject-add', 'arguments': "
                   "{ 'id': 'tdx0', 'leaf': 'TDH.MEM.TRACK', 'when': 'nth', "
                   "'n': 1000 } }");
    }
    qmp_err(qts, "all 64 rule slots in use",
            "{ 'execute': 'tdx-emu-inject-add', 'arguments': { 'id': 'tdx0', "
            "'leaf': 'TDH.MEM.TRACK', 'when': 'nth', 'n': 1 } }");

    qmp_err(qts, "'key' is required for lock 'tdr'",
            "{ 'execute': 'tdx-emu-lock-hold', 'arguments': { 'id': 'tdx0', "
            "'lock': 'tdr', 'mode': 'shared' } }");
    qmp_err(qts, "'gpa' only applies to lock 'sept-entry'",
            "{ 'execute': 'tdx-emu-lock-hold', 'arguments': { 'id': 'tdx0', "
            "'lock': 'sept-tree', 'key': 4096, 'gpa': 0, 'mode': 'shared' } }");
    qmp_err(qts, "is not the TDR page of a TD",
            "{ 'execute': 'tdx-emu-lock-hold', 'arguments': { 'id': 'tdx0', "
            "'lock': 'tdr', 'key': 268435456, 'mode': 'shared' } }");
    qmp_err(qts, "package 3 does not exist",
            "{ 'execute': 'tdx-emu-lock-hold', 'arguments': { 'id': 'tdx0', "
            "'lock': 'pkg-key', 'key': 3, 'mode': 'shared' } }");
    qmp_err(qts, "not in a CMR",
            "{ 'execute': 'tdx-emu-lock-hold', 'arguments': { 'id': 'tdx0', "
            "'lock': 'pamt', 'key': 1099511627776, 'mode': 'shared' } }");
    qmp_err(qts, "sideways",
            "{ 'execute': 'tdx-emu-lock-hold', 'arguments': { 'id': 'tdx0', "
            "'lock': 'global', 'mode': 'sideways' } }");
    id = hold(qts, "global", NULL, NULL);
    qmp_err(qts, "lock is busy right now",
            "{ 'execute': 'tdx-emu-lock-hold', 'arguments': { 'id': 'tdx0', "
            "'lock': 'global', 'mode': 'shared' } }");
    release(qts, id);
    qmp_err(qts, "has no lock hold",
            "{ 'execute': 'tdx-emu-lock-release', 'arguments': "
            "{ 'id': 'tdx0', 'hold': %" PRId64 " } }", id);
    /* A timed hold expires by itself. */
    id = qmp_ok_int(qts, "hold", "{ 'execute': 'tdx-emu-lock-hold', 'arguments': "
                    "{ 'id': 'tdx0', 'lock': 'global', 'mode': 'exclusive', "
                    "'duration-ns': 1000 } }");
    g_usleep(1000);
    g_assert_cmphex(seamcall(qts, 0, TDH_SYS_LP_INIT, 0, 0, 0), !=, TDX_SYS_BUSY);

    /* Still alive. */
    qmp_ok(qts, &rsp, "{ 'execute': 'query-status' }");
    qobject_unref(rsp);
    qtest_quit(qts);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    qtest_add_func("/tdx-emu/inject/lock-table", test_lock_table);
    qtest_add_func("/tdx-emu/inject/every", test_every);
    qtest_add_func("/tdx-emu/inject/probability-seed", test_probability_seed);
    qtest_add_func("/tdx-emu/inject/command-line", test_command_line);
    qtest_add_func("/tdx-emu/inject/bad-input", test_bad_input);
    qtest_add_func("/tdx-emu/inject/hmp", test_hmp);
    qtest_add_func("/tdx-emu/inject/stretch-syntax", test_stretch_syntax);
    return g_test_run();
}
