/*
 * qtest: the fork with TCG and a real L1 (Linux with KVM/TDX on the
 * emulated TDX module), driven over QMP mid-run. Each case boots L1 with a
 * job (guest/jobs: "tdvmm" builds and destroys a TD, "td-run" runs the TD
 * payload) and asserts the reaction the module recognized per busy path
 * (query-tdx-emu-paths) once L1 printed "TDX-EMU-L1: done rc=".
 *
 * No case depends on timing. Injection rules are armed over QMP
 * (tdx-emu-inject-add) while the machine is still stopped (-S): the leaves
 * they name only run once the TD exists, so every call of the phase is
 * counted from its first, however fast or slow the machine. A lock hold
 * needs its TD: it is taken once query-tdx-emu-tds shows the TD with its
 * vCPUs, and it ends on an event, after N busies on the lock (busies=N),
 * not after a time; the TD cannot finish without entering, so the N busies
 * come however late the hold is taken. Cases:
 *
 *   G1   PAGE.ADD busy at TD build           -> retry-later
 *   G2   PAGE.AUG busy at an EPT violation   -> local-retry
 *   G3   BLOCK / TRACK / REMOVE busy         -> kick-and-retry (V2: entry-gated)
 *   V1   VP.ENTER busy, operand TD_EPOCH     -> reenter (injected, and natural
 *                                               from a td-epoch lock held
 *                                               until 16 busies)
 *   W1   PAGE.WBINVD busy at teardown        -> unhandled; KVM WARNs (detected)
 *
 * and determinism: two runs of the same workload with the same seed and a
 * probability rule fire at the same match indices (query-tdx-emu-inject
 * fired-at) over their common prefix of matches.
 *
 * L1's kernel, initramfs and firmware come from TDX_EMU_L1_KERNEL,
 * TDX_EMU_L1_INITRD and TDX_EMU_FIRMWARE (scripts/test.sh sets them from
 * scripts/build.sh's artifacts); without them every case is skipped.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "libqtest.h"
#include "qobject/qdict.h"
#include "qobject/qlist.h"
#include "qobject/qnum.h"
#include "qobject/qstring.h"
#include "qobject/qjson.h"
#include "qapi/error.h"
#include "tdx-emu/tdx-emu-qtest.h"

/* Per boot. Generous: L1 boots and runs a TD job in 5-10 s under TCG. */
#define L1_TIMEOUT_S 150

typedef struct L1 {
    QTestState *qts;
    char *dir, *log;
    FILE *console;      /* L1's serial output, read as it grows */
    GString *text;      /* what was read so far */
    gint64 t0;
} L1;

static const char *kernel, *initrd, *firmware;

static QDict *qmp_ok(QTestState *qts, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static bool have_artifacts(void)
{
    kernel = g_getenv("TDX_EMU_L1_KERNEL");
    initrd = g_getenv("TDX_EMU_L1_INITRD");
    firmware = g_getenv("TDX_EMU_FIRMWARE");
    if (!kernel || !initrd || !firmware || !g_file_test(kernel, G_FILE_TEST_EXISTS) ||
        !g_file_test(initrd, G_FILE_TEST_EXISTS) ||
        !g_file_test(firmware, G_FILE_TEST_IS_DIR)) {
        g_test_skip("no L1: set TDX_EMU_L1_KERNEL, TDX_EMU_L1_INITRD and "
                    "TDX_EMU_FIRMWARE to scripts/build.sh's KERNEL_IMAGE, "
                    "INITRAMFS and FIRMWARE_DIR (scripts/test.sh qtest does)");
        return false;
    }
    return true;
}

static double l1_seconds(L1 *l1)
{
    return (g_get_monotonic_time() - l1->t0) / 1e6;
}

/*
 * Start L1 (2 vCPUs, 2 GiB) running `job`, with the tdx-emu object "tdx0",
 * stopped (-S): arm what the case needs over QMP, then l1_cont().
 */
static void l1_start(L1 *l1, const char *job, const char *append, uint64_t seed)
{
    g_autofree char *args = NULL;

    l1->dir = g_dir_make_tmp("tdx-emu-l1-XXXXXX", NULL);
    g_assert(l1->dir);
    l1->log = g_build_filename(l1->dir, "serial.log", NULL);
    /* As scripts/run-l1.sh, plus -no-shutdown: after L1 powers off, QEMU
     * stays for the queries. libqtest appends "-accel qtest": the first
     * accelerator given, TCG, is the one used. */
    args = g_strdup_printf(
        "-M q35 -accel tcg,thread=multi -cpu max,tdx-emu=on -smp 2 -m 2G "
        "-nic none -no-reboot -no-shutdown -S -monitor none -L %s -kernel %s "
        "-initrd %s -append 'console=ttyS0 panic=-1 nohibernate "
        "tdx_emu.job=%s kvm_intel.tdx=1 %s' -serial file:%s "
        "-object tdx-emu,id=tdx0,seed=%" PRIu64,
        firmware, kernel, initrd, job, append, l1->log, seed);
    l1->console = NULL;
    l1->text = g_string_new(NULL);
    l1->t0 = g_get_monotonic_time();
    l1->qts = qtest_init(args);
}

/* Let L1 run (after l1_start and whatever the case armed). */
static void l1_cont(L1 *l1)
{
    qobject_unref(qmp_ok(l1->qts, "{ 'execute': 'cont' }"));
    l1->t0 = g_get_monotonic_time();
}

/* Read what L1 printed since the last call. */
static void l1_read(L1 *l1)
{
    char buf[4096];
    size_t n;

    if (!l1->console) {
        l1->console = fopen(l1->log, "r");
        if (!l1->console) {
            return;
        }
    }
    while ((n = fread(buf, 1, sizeof(buf), l1->console)) > 0) {
        for (size_t i = 0; i < n; i++) {
            buf[i] = buf[i] ? buf[i] : ' ';     /* the text is searched as a string */
        }
        g_string_append_len(l1->text, buf, n);
    }
    clearerr(l1->console);
}

static void l1_dump_tail(L1 *l1)
{
    l1_read(l1);
    g_test_message("L1 console (%s), last lines:\n%s", l1->log,
                   l1->text->str + (l1->text->len > 3000 ? l1->text->len - 3000 : 0));
}

/*
 * Wait until L1's console has a line containing `what` (a marker only:
 * nothing a case does depends on how soon after the line it runs).
 */
static void l1_wait_line(L1 *l1, const char *what)
{
    while (l1_seconds(l1) < L1_TIMEOUT_S) {
        l1_read(l1);
        if (strstr(l1->text->str, what)) {
            g_test_message("%.2f s: console '%s'", l1_seconds(l1), what);
            return;
        }
        if (strstr(l1->text->str, "TDX-EMU-L1: done rc=")) {
            l1_dump_tail(l1);
            g_test_message("L1's job ended before the console showed '%s'", what);
            g_assert_not_reached();
        }
        g_usleep(2 * 1000);
    }
    l1_dump_tail(l1);
    g_test_message("timeout: no '%s' on L1's console after %d s", what, L1_TIMEOUT_S);
    g_assert_not_reached();
}

/*
 * Wait for the job's end; returns its status. Then for L1's power-off:
 * the module's recognizer settles what is still pending (campaign does
 * the same).
 */
static int l1_wait_done(L1 *l1, char **console)
{
    const char *key = "TDX-EMU-L1: done rc=";
    const char *p = NULL;
    int rc;

    while (l1_seconds(l1) < L1_TIMEOUT_S) {
        l1_read(l1);
        p = strstr(l1->text->str, key);
        if (p && strchr(p, '\n')) {
            break;
        }
        g_usleep(50 * 1000);
    }
    if (!p) {
        l1_dump_tail(l1);
        g_test_message("timeout: L1's job did not end within %d s", L1_TIMEOUT_S);
        g_assert_not_reached();
    }
    rc = atoi(p + strlen(key));
    while (l1_seconds(l1) < L1_TIMEOUT_S) {
        QDict *rsp = qtest_qmp(l1->qts, "{ 'execute': 'query-status' }");
        bool off = !strcmp(qdict_get_str(qdict_get_qdict(rsp, "return"), "status"),
                           "shutdown");

        qobject_unref(rsp);
        if (off) {
            break;
        }
        g_usleep(50 * 1000);
    }
    g_test_message("%.1f s: L1's job exited %d", l1_seconds(l1), rc);
    l1_read(l1);
    *console = g_strdup(l1->text->str);
    return rc;
}

static void l1_stop(L1 *l1)
{
    qtest_quit(l1->qts);
    if (l1->console) {
        fclose(l1->console);
    }
    g_string_free(l1->text, true);
    unlink(l1->log);
    rmdir(l1->dir);
    g_free(l1->log);
    g_free(l1->dir);
}

/* A QMP command that must succeed: its response (caller unrefs). */
static QDict *qmp_ok(QTestState *qts, const char *fmt, ...)
{
    va_list ap;
    QDict *rsp;

    va_start(ap, fmt);
    rsp = tdx_vqmp_ok(qts, fmt, ap);
    va_end(ap);
    return rsp;
}

/* Arm a rule given as a JSON object without "id" ("{ 'leaf': ... }"). */
static int64_t add_rule(L1 *l1, const char *rule_json)
{
    QDict *args = qobject_to(QDict, qobject_from_json(rule_json, &error_abort));
    QDict *rsp;
    int64_t id;

    g_assert(args);
    qdict_put_str(args, "id", "tdx0");
    rsp = qtest_qmp(l1->qts, "{ 'execute': 'tdx-emu-inject-add', 'arguments': %p }",
                    args);
    if (!qdict_haskey(rsp, "return")) {
        g_test_message("tdx-emu-inject-add %s: %s", rule_json,
                       qdict_get_try_str(qdict_get_qdict(rsp, "error"), "desc"));
    }
    g_assert(qdict_haskey(rsp, "return"));
    id = qdict_get_int(qdict_get_qdict(rsp, "return"), "rule");
    g_test_message("%.1f s: rule #%" PRId64 " %s", l1_seconds(l1), id, rule_json);
    qobject_unref(rsp);
    return id;
}

/* Log each rule's counters (for the test's output). */
static void log_rules(L1 *l1)
{
    QDict *rsp = qmp_ok(l1->qts, "{ 'execute': 'query-tdx-emu-inject', "
                        "'arguments': { 'id': 'tdx0' } }");
    const QListEntry *e;

    QLIST_FOREACH_ENTRY(qdict_get_qlist(rsp, "return"), e) {
        QDict *r = qobject_to(QDict, qlist_entry_obj(e));

        g_test_message("rule #%" PRId64 " %s: %" PRIu64 " matches, fired %" PRIu64,
                       qdict_get_int(r, "rule"), qdict_get_str(r, "leaf"),
                       get_u64(r, "matches"), get_u64(r, "fired"));
    }
    qobject_unref(rsp);
}

/* The busy-path table as path id -> row (a new reference). */
static QDict *paths(L1 *l1)
{
    QDict *rsp = qmp_ok(l1->qts, "{ 'execute': 'query-tdx-emu-paths', "
                        "'arguments': { 'id': 'tdx0' } }");
    QDict *by_id = qdict_new();
    const QListEntry *e;

    QLIST_FOREACH_ENTRY(qdict_get_qlist(rsp, "return"), e) {
        QDict *row = qobject_to(QDict, qlist_entry_obj(e));
        GString *s = g_string_new(NULL);
        const QDictEntry *k;

        for (k = qdict_first(row); k; k = qdict_next(row, k)) {
            QNum *n = qobject_to(QNum, qdict_entry_value(k));

            if (n && qnum_get_uint(n)) {
                g_string_append_printf(s, " %s=%" PRIu64, qdict_entry_key(k),
                                       qnum_get_uint(n));
            }
        }
        g_test_message("path %s:%s", qdict_get_str(row, "path"), s->str);
        g_string_free(s, true);
        qdict_put_obj(by_id, qdict_get_str(row, "path"), qobject_ref(QOBJECT(row)));
    }
    qobject_unref(rsp);
    return by_id;
}

static uint64_t row_get(QDict *table, const char *path, const char *what)
{
    QDict *row = qdict_get_qdict(table, path);

    return row ? get_u64(row, what) : 0;
}

/*
 * Path `path` was reached (busies from `source`: "injected" or "natural")
 * and got `reaction`; nothing the kernel must not do (as scripts/campaign
 * judges: no kick-violated, entry-violated, unhandled, pending, and for G3
 * no failed retry).
 */
static void expect_path(QDict *table, const char *path, const char *source,
                        const char *reaction)
{
    static const char *const bad[] = { "kick-violated", "entry-violated",
                                       "unhandled", "retry-failed", "pending" };
    uint64_t busy = row_get(table, path, source);
    uint64_t got = row_get(table, path, reaction);

    if (!busy || !got) {
        g_test_message("path %s: expected %s busies with reaction %s, got %"
                       PRIu64 " busies, %s=%" PRIu64, path, source, reaction,
                       busy, reaction, got);
    }
    g_assert_cmpuint(busy, >, 0);
    g_assert_cmpuint(got, >, 0);
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        uint64_t n = strcmp(bad[i], reaction) ? row_get(table, path, bad[i]) : 0;

        /* A retry that meets another busy is fine where the kernel loops
         * (G1, G2, V1); KVM's single G3 retry must succeed. */
        if (!strcmp(bad[i], "retry-failed") && !g_str_has_prefix(path, "G3")) {
            n = 0;
        }

        if (n) {
            g_test_message("path %s: %s=%" PRIu64 ", which the kernel must not "
                           "show here", path, bad[i], n);
        }
        g_assert_cmpuint(n, ==, 0);
    }
}

static void expect_clean_job(L1 *l1, int rc, const char *console, const char *ok_line)
{
    if (rc != 0 || strstr(console, "WARNING:") || strstr(console, "BUG:") ||
        !strstr(console, ok_line)) {
        l1_dump_tail(l1);
        g_test_message("expected job status 0, no WARN/BUG and '%s'; got status %d",
                       ok_line, rc);
    }
    g_assert_cmpint(rc, ==, 0);
    g_assert(!strstr(console, "WARNING:") && !strstr(console, "BUG:"));
    g_assert(strstr(console, ok_line));
}

/* ---- G1 and determinism ------------------------------------------------- */

typedef struct Decisions {
    uint64_t matches, fired, digest;
    GArray *fired_at;   /* uint64_t */
} Decisions;

/*
 * Build a TD (job tdvmm) with a probability rule on PAGE.ADD's TDR lock
 * point, armed over QMP before L1 runs (PAGE.ADD only comes with the TD
 * build, so the rule sees every one of them); assert G1 and return what
 * the rule decided.
 */
static Decisions build_with_prob_rule(uint64_t seed)
{
    L1 l1;
    Decisions d = { .fired_at = g_array_new(false, false, sizeof(uint64_t)) };
    g_autofree char *console = NULL;
    const QListEntry *e;
    QDict *rsp, *rule, *table;
    int rc;

    l1_start(&l1, "tdvmm", "", seed);
    add_rule(&l1, "{ 'leaf': 'TDH.MEM.PAGE.ADD', 'operand': 2, "
             "'when': 'probability', 'probability': 0.03 }");
    l1_cont(&l1);
    rc = l1_wait_done(&l1, &console);
    expect_clean_job(&l1, rc, console, "TDX-EMU-L1: tdvmm destroyed");

    table = paths(&l1);
    expect_path(table, "G1", "injected", "retry-later");
    qobject_unref(table);

    rsp = qmp_ok(l1.qts, "{ 'execute': 'query-tdx-emu-inject', "
                 "'arguments': { 'id': 'tdx0' } }");
    rule = qobject_to(QDict, qlist_peek(qdict_get_qlist(rsp, "return")));
    d.matches = get_u64(rule, "matches");
    d.fired = get_u64(rule, "fired");
    d.digest = get_u64(rule, "decision-digest");
    QLIST_FOREACH_ENTRY(qdict_get_qlist(rule, "fired-at"), e) {
        uint64_t at = qnum_get_uint(qobject_to(QNum, qlist_entry_obj(e)));

        g_array_append_val(d.fired_at, at);
    }
    g_test_message("seed %" PRIu64 ": %" PRIu64 " matches, fired %" PRIu64
                   " times, digest %#" PRIx64, seed, d.matches, d.fired,
                   get_u64(rule, "decision-digest"));
    qobject_unref(rsp);
    l1_stop(&l1);
    return d;
}

/* Firings at match indices <= limit, as text. */
static char *fired_prefix(const Decisions *d, uint64_t limit)
{
    GString *s = g_string_new(NULL);

    for (guint i = 0; i < d->fired_at->len; i++) {
        uint64_t at = g_array_index(d->fired_at, uint64_t, i);

        if (at <= limit) {
            g_string_append_printf(s, "%s%" PRIu64, s->len ? "," : "", at);
        }
    }
    return g_string_free(s, false);
}

/*
 * G1, twice with the same seed: both runs reach G1 with retry-later, the
 * rule saw the same PAGE.ADDs (every one, retries included) and fired at
 * the same match indices: same decision digest. The comparison is over
 * the common prefix of matches, which is what the engine promises to a
 * rule armed mid-run too (tdx-emu-inject-test checks that without a
 * guest). A third run with another seed fires elsewhere.
 */
static void test_g1_build_determinism(void)
{
    Decisions a, b, c;
    uint64_t common;
    g_autofree char *pa = NULL, *pb = NULL, *pc = NULL;

    if (!have_artifacts()) {
        return;
    }
    a = build_with_prob_rule(1234);
    b = build_with_prob_rule(1234);
    c = build_with_prob_rule(4321);
    common = MIN(a.matches, b.matches);
    /* The log holds the first 128 firings: compare where both are whole. */
    if (a.fired_at->len == 128) {
        common = MIN(common, g_array_index(a.fired_at, uint64_t, 127));
    }
    if (b.fired_at->len == 128) {
        common = MIN(common, g_array_index(b.fired_at, uint64_t, 127));
    }
    pa = fired_prefix(&a, common);
    pb = fired_prefix(&b, common);
    g_test_message("common prefix %" PRIu64 " matches: run 1 fired at [%s], "
                   "run 2 at [%s]", common, pa, pb);
    g_assert_cmpuint(common, >=, 512);      /* every PAGE.ADD of the build */
    g_assert_cmpstr(pa, !=, "");
    g_assert_cmpstr(pa, ==, pb);
    /* Armed before the first PAGE.ADD: the same decisions, all of them. */
    g_assert_cmpuint(a.matches, ==, b.matches);
    g_assert_cmphex(a.digest, ==, b.digest);
    /* Another seed, other decisions on the same workload. */
    pc = fired_prefix(&c, common);
    g_test_message("seed 4321 fired at [%s]", pc);
    g_assert_cmpstr(pc, !=, pa);
    g_array_free(a.fired_at, true);
    g_array_free(b.fired_at, true);
    g_array_free(c.fired_at, true);
}

/* ---- G2, G3, V1, V2: rules on a running TD ------------------------------ */

/*
 * A 2-vCPU TD converting memory between private and shared: EPT
 * violations (AUG), zaps (BLOCK, TRACK, REMOVE) and entries. Rules armed
 * over QMP before L1 runs: none of these leaves comes before the TD runs.
 */
/* calls of leaf `name` in query-tdx-emu-stats (0 when not listed). */
static uint64_t leaf_calls(L1 *l1, const char *name)
{
    QDict *rsp = qmp_ok(l1->qts, "{ 'execute': 'query-tdx-emu-stats', "
                        "'arguments': { 'id': 'tdx0' } }");
    QList *list = qdict_get_qlist(rsp, "return");
    uint64_t calls = 0;
    QListEntry *e;

    QLIST_FOREACH_ENTRY(list, e) {
        QDict *row = qobject_to(QDict, qlist_entry_obj(e));

        if (!strcmp(qdict_get_str(row, "name"), name)) {
            calls = qdict_get_int(row, "calls");
        }
    }
    qobject_unref(rsp);
    return calls;
}

static void test_runtime_rules(void)
{
    L1 l1;
    g_autofree char *console = NULL;
    QDict *table;
    int rc;

    if (!have_artifacts()) {
        return;
    }
    l1_start(&l1, "td-run", "tdx_emu.td_vcpus=2 tdx_emu.td_pages=256 "
             "tdx_emu.td_mode=convert:40", 5);
    add_rule(&l1, "{ 'leaf': 'TDH.MEM.PAGE.AUG', 'when': 'every', 'n': 20 }");
    add_rule(&l1, "{ 'leaf': 'TDH.MEM.RANGE.BLOCK', 'when': 'every', 'n': 20, 'spare-retries': true }");
    add_rule(&l1, "{ 'leaf': 'TDH.MEM.TRACK', 'when': 'every', 'n': 15, 'spare-retries': true }");
    add_rule(&l1, "{ 'leaf': 'TDH.MEM.PAGE.REMOVE', 'when': 'every', 'n': 25, 'spare-retries': true }");
    add_rule(&l1, "{ 'leaf': 'TDH.VP.ENTER', 'operand': 169, 'when': 'every', "
             "'n': 100 }");
    l1_cont(&l1);
    rc = l1_wait_done(&l1, &console);
    expect_clean_job(&l1, rc, console, "TDX-EMU-L1: tdvmm run ok vcpus=2 mode=convert");
    log_rules(&l1);

    table = paths(&l1);
    expect_path(table, "G2b", "injected", "local-retry");
    expect_path(table, "G3a", "injected", "kick-and-retry");
    expect_path(table, "G3b", "injected", "kick-and-retry");
    expect_path(table, "G3c", "injected", "kick-and-retry");
    expect_path(table, "V1", "injected", "reenter");
    /* V2 counts each retried G3 busy from the entry side. */
    g_assert_cmpuint(row_get(table, "V2", "entry-gated"), >, 0);
    g_assert_cmpuint(row_get(table, "V2", "entry-violated"), ==, 0);
    qobject_unref(table);
    /* The one epilogue: TD entries, VMCALLs and ACCEPTs are counted like
     * every other leaf. */
    for (const char *const *leaf = (const char *const[]) {
             "TDH.VP.ENTER", "TDG.VP.VMCALL", "TDG.MEM.PAGE.ACCEPT", NULL };
         *leaf; leaf++) {
        uint64_t n = leaf_calls(&l1, *leaf);

        if (n == 0) {
            g_test_message("query-tdx-emu-stats: expected calls of %s after a "
                           "TD run, got 0", *leaf);
        }
        g_assert_cmpuint(n, >, 0);
    }
    l1_stop(&l1);
}

/* ---- V1 from a lock hold -------------------------------------------------- */

/* Busies the td-epoch hold waits for before it releases itself. */
#define EPOCH_HOLD_BUSIES 16

/*
 * The TDR of the job's TD once the module shows it with `vcpus` vCPUs
 * (query-tdx-emu-tds, polled: an event of the module, not a time).
 */
static uint64_t l1_wait_td(L1 *l1, uint64_t vcpus)
{
    while (l1_seconds(l1) < L1_TIMEOUT_S) {
        QDict *rsp = qmp_ok(l1->qts, "{ 'execute': 'query-tdx-emu-tds', "
                            "'arguments': { 'id': 'tdx0' } }");
        QList *tds = qdict_get_qlist(rsp, "return");
        QDict *td = qlist_size(tds) == 1 ? qobject_to(QDict, qlist_peek(tds)) : NULL;

        if (td && get_u64(td, "vcpus") == vcpus) {
            uint64_t tdr = get_u64(td, "tdr");

            g_test_message("%.2f s: TD: TDR %#" PRIx64 ", %" PRIu64 " vCPUs, %"
                           PRIu64 " private pages", l1_seconds(l1), tdr,
                           get_u64(td, "vcpus"), get_u64(td, "private-pages"));
            qobject_unref(rsp);
            return tdr;
        }
        qobject_unref(rsp);
        l1_read(l1);
        if (strstr(l1->text->str, "TDX-EMU-L1: done rc=")) {
            l1_dump_tail(l1);
            g_test_message("L1's job ended before the module showed its TD");
            g_assert_not_reached();
        }
        g_usleep(5 * 1000);
    }
    l1_dump_tail(l1);
    g_test_message("timeout: no TD with %" PRIu64 " vCPUs after %d s", vcpus,
                   L1_TIMEOUT_S);
    g_assert_not_reached();
}

/*
 * A TD running (pingpong mode: 20000 port I/O exits and re-entries, no
 * zaps, so no TRACK that a held epoch lock would make busy and whose
 * single retry could then fail). As soon as the module shows the TD with
 * both vCPUs, hold its TD epoch lock exclusive until EPOCH_HOLD_BUSIES
 * lock points found it taken: each a TDH.VP.ENTER failing with
 * TDX_OPERAND_BUSY | TD_EPOCH (a natural busy: path V1) that KVM
 * re-enters later. The hold then releases itself and the TD completes.
 * However late the hold comes (during the build or the run), the TD cannot
 * finish its exits without entering, so the busies come.
 */
static void test_epoch_hold(void)
{
    L1 l1;
    g_autofree char *console = NULL;
    QDict *rsp, *table;
    QList *holds;
    uint64_t tdr;
    int64_t hold = -1;
    int rc;

    if (!have_artifacts()) {
        return;
    }
    l1_start(&l1, "td-run", "tdx_emu.td_vcpus=2 tdx_emu.td_mode=pingpong:20000", 9);
    l1_cont(&l1);
    l1_wait_line(&l1, "TDX-EMU-L1: tdvmm vm created");
    tdr = l1_wait_td(&l1, 2);

    /* "Busy right now" only while a TRACK or a hold has it: try again. */
    while (hold < 0 && l1_seconds(&l1) < L1_TIMEOUT_S) {
        rsp = qtest_qmp(l1.qts, "{ 'execute': 'tdx-emu-lock-hold', 'arguments': "
                        "{ 'id': 'tdx0', 'lock': 'td-epoch', 'key': %" PRIu64 ", "
                        "'mode': 'exclusive', 'busies': %d } }", tdr,
                        EPOCH_HOLD_BUSIES);
        if (qdict_haskey(rsp, "return")) {
            hold = qdict_get_int(qdict_get_qdict(rsp, "return"), "hold");
        } else {
            const char *why = qdict_get_try_str(qdict_get_qdict(rsp, "error"), "desc");

            g_test_message("tdx-emu-lock-hold: %s", why);
            g_assert(why && strstr(why, "busy right now"));
            g_usleep(1000);
        }
        qobject_unref(rsp);
    }
    g_assert_cmpint(hold, >=, 0);
    g_test_message("%.2f s: holding td-epoch of TDR %#" PRIx64 " until %d busies",
                   l1_seconds(&l1), tdr, EPOCH_HOLD_BUSIES);

    rc = l1_wait_done(&l1, &console);
    expect_clean_job(&l1, rc, console, "TDX-EMU-L1: tdvmm run ok vcpus=2");
    /* The hold is gone: it released itself (or went with the TD). */
    rsp = qmp_ok(l1.qts, "{ 'execute': 'query-tdx-emu-lock-holds', "
                 "'arguments': { 'id': 'tdx0' } }");
    holds = qdict_get_qlist(rsp, "return");
    g_assert_cmpint(qlist_size(holds), ==, 0);
    qobject_unref(rsp);
    table = paths(&l1);
    expect_path(table, "V1", "natural", "reenter");
    g_assert_cmpuint(row_get(table, "V1", "natural"), >=, EPOCH_HOLD_BUSIES);
    g_assert_cmpuint(row_get(table, "V1", "injected"), ==, 0);
    /* Only entries met the hold: no TRACK (G3b) came while it was held. */
    g_assert_cmpuint(row_get(table, "G3b", "natural"), ==, 0);
    qobject_unref(table);
    l1_stop(&l1);
}

/* ---- W1 ------------------------------------------------------------------ */

/*
 * A busy TDH.PHYMEM.PAGE.WBINVD at teardown (the rule armed before L1
 * runs; WBINVD only comes when KVM reclaims the TD's pages): KVM has no
 * retry for it (TDX_BUG_ON): the module sees it unhandled, L1 WARNs and
 * the job fails. The harness detects the bug.
 */
static void test_w1_detected(void)
{
    L1 l1;
    g_autofree char *console = NULL;
    QDict *table;
    int rc;

    if (!have_artifacts()) {
        return;
    }
    l1_start(&l1, "tdvmm", "", 3);
    add_rule(&l1, "{ 'leaf': 'TDH.PHYMEM.PAGE.WBINVD', 'when': 'first', 'n': 1 }");
    l1_cont(&l1);
    rc = l1_wait_done(&l1, &console);
    table = paths(&l1);
    if (rc == 0 || !strstr(console, "WARNING: arch/x86/kvm/vmx/tdx.c")) {
        l1_dump_tail(&l1);
        g_test_message("expected the job to fail with KVM's WARN in tdx.c; job "
                       "status %d", rc);
    }
    g_assert_cmpint(rc, !=, 0);
    g_assert(strstr(console, "WARNING: arch/x86/kvm/vmx/tdx.c"));
    g_assert(!strstr(console, "Kernel panic") && !strstr(console, "Oops:"));
    g_assert_cmpuint(row_get(table, "W1", "injected"), ==, 1);
    g_assert_cmpuint(row_get(table, "W1", "unhandled"), ==, 1);
    qobject_unref(table);
    l1_stop(&l1);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    qtest_add_func("/tdx-emu/l1/g1-build-determinism", test_g1_build_determinism);
    qtest_add_func("/tdx-emu/l1/runtime-rules", test_runtime_rules);
    qtest_add_func("/tdx-emu/l1/epoch-hold", test_epoch_hold);
    qtest_add_func("/tdx-emu/l1/w1-detected", test_w1_detected);
    return g_test_run();
}
