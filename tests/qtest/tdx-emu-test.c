/*
 * qtest for the tdx-emu QOM object: it registers, takes its properties from
 * the command line and QMP, validates them, and freezes them once created.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "libqtest.h"
#include "qobject/qdict.h"
#include "qobject/qlist.h"
#include "qobject/qstring.h"

static uint64_t qom_get_uint(QTestState *qts, const char *path,
                             const char *prop)
{
    QDict *rsp = qtest_qmp(qts, "{ 'execute': 'qom-get', 'arguments': "
                           "{ 'path': %s, 'property': %s } }", path, prop);
    uint64_t v;

    g_assert(qdict_haskey(rsp, "return"));
    v = qdict_get_int(rsp, "return");
    qobject_unref(rsp);
    return v;
}

/* Returns the error description of a failing QMP command; asserts it failed. */
static char *qmp_expect_error(QTestState *qts, QDict *rsp)
{
    QDict *err;
    char *desc;

    if (!qdict_haskey(rsp, "error")) {
        g_test_message("expected a QMP error, got success");
    }
    g_assert(qdict_haskey(rsp, "error"));
    err = qdict_get_qdict(rsp, "error");
    desc = g_strdup(qdict_get_str(err, "desc"));
    qobject_unref(rsp);
    return desc;
}

static void test_properties_from_command_line(void)
{
    QTestState *qts = qtest_init("-machine q35 -accel tcg -nodefaults "
                                 "-object tdx-emu,id=tdx0,tdx-keyids=8,"
                                 "mktme-keyids=2,seed=42,hold-window-ns=1000");
    QDict *rsp;
    QList *props;
    const QListEntry *e;
    const char *want[] = { "tdx-keyids", "mktme-keyids", "seed",
                           "hold-window-ns", "busy-status", "type" };
    bool seen[G_N_ELEMENTS(want)] = { false };

    rsp = qtest_qmp(qts, "{ 'execute': 'qom-list', "
                    "'arguments': { 'path': '/objects/tdx0' } }");
    g_assert(qdict_haskey(rsp, "return"));
    props = qdict_get_qlist(rsp, "return");
    QLIST_FOREACH_ENTRY(props, e) {
        const char *name = qdict_get_str(qobject_to(QDict, e->value), "name");
        for (size_t i = 0; i < G_N_ELEMENTS(want); i++) {
            seen[i] |= !strcmp(name, want[i]);
        }
    }
    qobject_unref(rsp);
    for (size_t i = 0; i < G_N_ELEMENTS(want); i++) {
        if (!seen[i]) {
            g_test_message("qom-list /objects/tdx0: expected property '%s', "
                           "not listed", want[i]);
        }
        g_assert(seen[i]);
    }

    g_assert_cmpuint(qom_get_uint(qts, "/objects/tdx0", "tdx-keyids"), ==, 8);
    g_assert_cmpuint(qom_get_uint(qts, "/objects/tdx0", "mktme-keyids"), ==, 2);
    g_assert_cmpuint(qom_get_uint(qts, "/objects/tdx0", "seed"), ==, 42);
    g_assert_cmpuint(qom_get_uint(qts, "/objects/tdx0", "hold-window-ns"), ==,
                     1000);

    rsp = qtest_qmp(qts, "{ 'execute': 'qom-get', 'arguments': "
                    "{ 'path': '/objects/tdx0', 'property': 'busy-status' } }");
    g_assert_cmpstr(qdict_get_str(rsp, "return"), ==, "TDX_OPERAND_BUSY");
    qobject_unref(rsp);

    qtest_quit(qts);
}

static void test_defaults_and_validation(void)
{
    QTestState *qts = qtest_init("-machine q35 -accel tcg -nodefaults");
    QDict *rsp;
    char *desc;

    rsp = qtest_qmp(qts, "{ 'execute': 'object-add', 'arguments': "
                    "{ 'qom-type': 'tdx-emu', 'id': 'dflt' } }");
    g_assert(qdict_haskey(rsp, "return"));
    qobject_unref(rsp);
    g_assert_cmpuint(qom_get_uint(qts, "/objects/dflt", "tdx-keyids"), ==, 4);
    g_assert_cmpuint(qom_get_uint(qts, "/objects/dflt", "mktme-keyids"), ==, 1);
    g_assert_cmpuint(qom_get_uint(qts, "/objects/dflt", "seed"), ==, 0);
    g_assert_cmpuint(qom_get_uint(qts, "/objects/dflt", "hold-window-ns"), ==, 0);

    /* Out-of-range single property. */
    desc = qmp_expect_error(qts, qtest_qmp(qts,
        "{ 'execute': 'object-add', 'arguments': "
        "{ 'qom-type': 'tdx-emu', 'id': 'bad1', 'tdx-keyids': 0 } }"));
    g_assert(strstr(desc, "'tdx-keyids' must be between 1 and 63"));
    g_free(desc);

    /* Each value fits, the sum does not. */
    desc = qmp_expect_error(qts, qtest_qmp(qts,
        "{ 'execute': 'object-add', 'arguments': "
        "{ 'qom-type': 'tdx-emu', 'id': 'bad2', 'tdx-keyids': 60, "
        "'mktme-keyids': 8 } }"));
    g_assert(strstr(desc, "exceed the 64 KeyIDs"));
    g_free(desc);

    /* A failed object-add leaves nothing behind. */
    desc = qmp_expect_error(qts, qtest_qmp(qts,
        "{ 'execute': 'qom-get', 'arguments': "
        "{ 'path': '/objects/bad2', 'property': 'seed' } }"));
    g_free(desc);

    /* Properties are frozen once the object exists. */
    desc = qmp_expect_error(qts, qtest_qmp(qts,
        "{ 'execute': 'qom-set', 'arguments': "
        "{ 'path': '/objects/dflt', 'property': 'seed', 'value': 7 } }"));
    g_assert(strstr(desc, "cannot be changed once the object is created"));
    g_free(desc);
    g_assert_cmpuint(qom_get_uint(qts, "/objects/dflt", "seed"), ==, 0);

    qtest_quit(qts);
}

/* Expects `needle` in `haystack`, naming both when it is missing. */
static void expect_substr(const char *haystack, const char *needle)
{
    if (!strstr(haystack, needle)) {
        g_test_message("expected '%s' in:\n%s", needle, haystack);
    }
    g_assert(strstr(haystack, needle));
}

/*
 * The module core is created from the machine once it exists: LPs are the
 * vCPUs, packages the sockets, CMRs the machine's RAM (2 GiB below 4 GiB on
 * q35 with 3 GiB, the rest above).
 */
static void test_info_tdx(void)
{
    QTestState *qts = qtest_init("-machine q35 -accel tcg -nodefaults -m 3G "
                                 "-smp 4,sockets=2 "
                                 "-object tdx-emu,id=tdx0,tdx-keyids=6,seed=9");
    char *out = qtest_hmp(qts, "info tdx");

    expect_substr(out, "tdx-emu tdx0:");
    expect_substr(out, "module state: SYSINIT_PENDING");
    expect_substr(out, "LPs initialized: 0/4, packages with keys: 0/2");
    expect_substr(out, "KeyIDs: 1 MKTME, 6 TDX; seed 0x9");
    expect_substr(out, "PT_NDA=786432");    /* 3 GiB of 4 KiB pages */
    g_free(out);
    qtest_quit(qts);

    qts = qtest_init("-machine q35 -accel tcg -nodefaults");
    out = qtest_hmp(qts, "info tdx");
    expect_substr(out, "no tdx-emu object");
    g_free(out);
    qtest_quit(qts);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    qtest_add_func("/tdx-emu/object/command-line", test_properties_from_command_line);
    qtest_add_func("/tdx-emu/object/defaults-and-validation", test_defaults_and_validation);
    qtest_add_func("/tdx-emu/monitor/info-tdx", test_info_tdx);
    return g_test_run();
}
