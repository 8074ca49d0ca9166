/*
 * tdx-emu: HMP equivalents of the fault-injection QMP commands. Rules use
 * the command-line syntax of the object's inject= property, lock holds the
 * KEY=VALUE form of tdx-emu-lock-hold's arguments; `info tdx` lists both.
 *
 *   tdx_inject_add tdx0 leaf=TDH.MEM.PAGE.AUG:every=3[;more rules]
 *   tdx_inject_del tdx0 0
 *   tdx_lock_hold tdx0 lock=sept-tree,key=0x10000000,mode=exclusive[,duration-ns=N][,busies=N]
 *   tdx_lock_release tdx0 0
 *   tdx_stats_reset tdx0
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "monitor/hmp.h"
#include "monitor/monitor.h"
#include "qapi/error.h"
#include "qapi/qapi-commands-tdx-emu-target.h"
#include "qapi/qapi-visit-tdx-emu-target.h"
#include "qapi/qobject-input-visitor.h"
#include "qapi/visitor.h"
#include "qobject/qdict.h"
#include "tdx-emu.h"
#include "tdx-emu-inject.h"

void hmp_tdx_inject_add(Monitor *mon, const QDict *qdict)
{
    const char *id = qdict_get_str(qdict, "id");
    g_autoptr(GPtrArray) rules = NULL;
    Error *err = NULL;
    TdxEmuState *s = tdx_emu_find(id, &err);

    if (s) {
        rules = tdx_emu_parse_inject(qdict_get_str(qdict, "rules"), &err);
    }
    for (guint i = 0; rules && i < rules->len && !err; i++) {
        int rule = tdx_emu_arm_rule(s, g_ptr_array_index(rules, i), &err);

        if (rule >= 0) {
            monitor_printf(mon, "rule %d\n", rule);
        }
    }
    hmp_handle_error(mon, err);
}

void hmp_tdx_inject_del(Monitor *mon, const QDict *qdict)
{
    Error *err = NULL;

    qmp_tdx_emu_inject_del(qdict_get_str(qdict, "id"),
                           qdict_get_int(qdict, "rule"), &err);
    hmp_handle_error(mon, err);
}

void hmp_tdx_lock_hold(Monitor *mon, const QDict *qdict)
{
    g_autofree char *str = g_strdup_printf("id=%s,%s", qdict_get_str(qdict, "id"),
                                           qdict_get_str(qdict, "args"));
    g_autoptr(TdxEmuLockHoldArgs) args = NULL;
    g_autoptr(TdxEmuLockHoldResult) ret = NULL;
    Error *err = NULL;
    Visitor *v = qobject_input_visitor_new_str(str, NULL, &err);

    if (v) {
        visit_type_TdxEmuLockHoldArgs(v, NULL, &args, &err);
        visit_free(v);
    }
    if (args) {
        ret = qmp_tdx_emu_lock_hold(args, &err);
    }
    if (ret) {
        monitor_printf(mon, "hold %" PRId64 "\n", ret->hold);
    }
    hmp_handle_error(mon, err);
}

void hmp_tdx_lock_release(Monitor *mon, const QDict *qdict)
{
    Error *err = NULL;

    qmp_tdx_emu_lock_release(qdict_get_str(qdict, "id"),
                             qdict_get_int(qdict, "hold"), &err);
    hmp_handle_error(mon, err);
}

void hmp_tdx_stats_reset(Monitor *mon, const QDict *qdict)
{
    Error *err = NULL;

    qmp_tdx_emu_stats_reset(qdict_get_str(qdict, "id"), &err);
    hmp_handle_error(mon, err);
}
