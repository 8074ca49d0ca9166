/*
 * tdx-emu: QMP commands: the test doorbell, fault injection (status rules,
 * lock holds) and statistics. The knobs themselves live in tdx-emu-inject.c.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/qapi-commands-tdx-emu-target.h"
#include "qom/object.h"
#include "qemu/timer.h"
#include "../core/tdx-core.h"
#include "../core/inject.h"
#include "../core/paths.h"
#include "tdx-emu.h"
#include "tdx-emu-inject.h"

TdxEmuState *tdx_emu_find(const char *id, Error **errp)
{
    Object *obj = object_resolve_path_component(object_get_objects_root(), id);
    TdxEmuState *s;

    if (!obj || !object_dynamic_cast(obj, TYPE_TDX_EMU)) {
        error_setg(errp, "tdx-emu: no tdx-emu object with id '%s'", id);
        return NULL;
    }
    s = TDX_EMU(obj);
    if (!s->module) {
        error_setg(errp, "tdx-emu: '%s' has no module yet (machine not ready)", id);
        return NULL;
    }
    return s;
}

TdxEmuRegs *qmp_x_tdx_emu_seamcall(const char *id, uint32_t lp,
                                   TdxEmuRegs *in, Error **errp)
{
    TdxEmuState *s = tdx_emu_find(id, errp);
    struct tdx_regs r = {
        .rax = in->rax, .rcx = in->rcx, .rdx = in->rdx, .rbx = in->rbx,
        .rsi = in->rsi, .rdi = in->rdi, .r8 = in->r8, .r9 = in->r9,
        .r10 = in->r10, .r11 = in->r11, .r12 = in->r12, .r13 = in->r13,
        .r14 = in->r14, .r15 = in->r15,
    };
    TdxEmuRegs *out;

    if (!s) {
        return NULL;
    }
    if (lp >= tdx_module_num_lps(s->module)) {
        error_setg(errp, "tdx-emu: LP %u does not exist (%u LPs)", lp,
                   tdx_module_num_lps(s->module));
        return NULL;
    }
    /* No CPU to run a TD on: TDH.VP.ENTER is refused (run record NULL). */
    tdx_seamcall(s->module, lp, &r, NULL);
    out = g_new0(TdxEmuRegs, 1);
    out->rax = r.rax;
#define OUT(reg) out->has_##reg = true, out->reg = r.reg
    OUT(rcx); OUT(rdx); OUT(rbx); OUT(rsi); OUT(rdi); OUT(r8); OUT(r9);
    OUT(r10); OUT(r11); OUT(r12); OUT(r13); OUT(r14); OUT(r15);
#undef OUT
    return out;
}

/* ---- Status rules ------------------------------------------------------- */

TdxEmuInjectAddResult *qmp_tdx_emu_inject_add(TdxEmuInjectAddArgs *args,
                                              Error **errp)
{
    TdxEmuState *s = tdx_emu_find(args->id, errp);
    TdxEmuInjectAddResult *ret;
    int id;

    if (!s) {
        return NULL;
    }
    id = tdx_emu_arm_rule(s, qapi_TdxEmuInjectAddArgs_base(args), errp);
    if (id < 0) {
        return NULL;
    }
    ret = g_new0(TdxEmuInjectAddResult, 1);
    ret->rule = id;
    return ret;
}

void qmp_tdx_emu_inject_del(const char *id, int64_t rule, Error **errp)
{
    TdxEmuState *s = tdx_emu_find(id, errp);

    if (s && (rule < 0 || rule >= TDX_INJECT_MAX_RULES ||
              !tdx_inject_remove_status_rule(s->module, rule))) {
        error_setg(errp, "tdx-emu: '%s' has no injection rule %" PRId64, id, rule);
    }
}

TdxEmuInjectRuleInfoList *qmp_query_tdx_emu_inject(const char *id, Error **errp)
{
    TdxEmuState *s = tdx_emu_find(id, errp);
    TdxEmuInjectRuleInfoList *list = NULL, **tail = &list;
    struct tdx_status_rule_info ri;

    if (!s) {
        return NULL;
    }
    for (int rule = 0; rule < TDX_INJECT_MAX_RULES; rule++) {
        const struct tdx_status_rule *r = &ri.rule;
        TdxEmuInjectRuleInfo *info;

        if (!tdx_inject_get_status_rule(s->module, rule, &ri)) {
            continue;
        }
        info = g_new0(TdxEmuInjectRuleInfo, 1);
        info->rule = rule;
        info->matches = ri.matches;
        info->fired = ri.fired;
        info->decision_digest = ri.digest;
        {
            uint64List **at_tail = &info->fired_at;
            uint64_t logged = MIN(ri.fired, (uint64_t)TDX_INJECT_FIRED_LOG);

            for (uint64_t k = 0; k < logged; k++) {
                QAPI_LIST_APPEND(at_tail, ri.fired_at[k]);
            }
        }
        info->leaf = g_strdup(tdx_inject_leaf_name(r->leaf) ?: "?");
        info->has_operand = r->operand != TDX_INJECT_ANY_OPERAND;
        info->operand = r->operand;
        info->has_status = r->status != 0;
        info->status = r->status;
        switch (r->when) {
        case TDX_INJECT_NTH:
            info->when = TDX_EMU_INJECT_WHEN_NTH;
            break;
        case TDX_INJECT_EVERY:
            info->when = TDX_EMU_INJECT_WHEN_EVERY;
            break;
        case TDX_INJECT_FIRST:
            info->when = TDX_EMU_INJECT_WHEN_FIRST;
            break;
        case TDX_INJECT_PROB:
            info->when = TDX_EMU_INJECT_WHEN_PROBABILITY;
            break;
        }
        info->has_n = r->when != TDX_INJECT_PROB;
        info->n = r->n;
        info->has_probability = r->when == TDX_INJECT_PROB;
        info->probability = r->p;
        if (r->lp_mask) {
            uint32List **lp_tail = &info->lp;

            info->has_lp = true;
            for (uint32_t lp = 0; lp < 64; lp++) {
                if (r->lp_mask >> lp & 1) {
                    QAPI_LIST_APPEND(lp_tail, lp);
                }
            }
        }
        info->has_tdr = r->tdr_pa != 0;
        info->tdr = r->tdr_pa;
        if (r->gpa_hi) {
            info->has_gpa_start = true;
            info->gpa_start = r->gpa_lo;
            info->has_gpa_end = r->gpa_hi != UINT64_MAX;
            info->gpa_end = r->gpa_hi;
        }
        info->has_spare_retries = r->spare_retries;
        info->spare_retries = r->spare_retries;
        info->has_stretch_retry_ms = r->stretch_retry_ms != 0;
        info->stretch_retry_ms = r->stretch_retry_ms;
        info->has_stretched = r->stretch_retry_ms != 0;
        info->stretched = ri.stretched;
        info->has_stretch_entries = r->stretch_retry_ms != 0;
        info->stretch_entries = ri.stretch_entries;
        QAPI_LIST_APPEND(tail, info);
    }
    return list;
}

/* ---- TDs --------------------------------------------------------------- */

TdxEmuTdInfoList *qmp_query_tdx_emu_tds(const char *id, Error **errp)
{
    TdxEmuState *s = tdx_emu_find(id, errp);
    TdxEmuTdInfoList *list = NULL, **tail = &list;
    g_autofree struct tdx_td_summary *tds = NULL;
    unsigned n;

    if (!s) {
        return NULL;
    }
    tds = g_new(struct tdx_td_summary, 256);
    n = tdx_module_list_tds(s->module, tds, 256);
    for (unsigned i = 0; i < n; i++) {
        TdxEmuTdInfo *info = g_new0(TdxEmuTdInfo, 1);

        info->tdr = tds[i].tdr_pa;
        info->vcpus = tds[i].num_vcpus;
        info->control_pages = tds[i].tdcx_pages;
        info->private_pages = tds[i].private_pages;
        info->sept_pages = tds[i].sept_pages;
        QAPI_LIST_APPEND(tail, info);
    }
    return list;
}

/* ---- Lock holds ---------------------------------------------------------- */

static const enum tdx_named_lock tdx_emu_lock_of[TDX_EMU_LOCK__MAX] = {
    [TDX_EMU_LOCK_GLOBAL] = TDX_NAMED_GLOBAL,
    [TDX_EMU_LOCK_PKG_KEY] = TDX_NAMED_PKG_KEY,
    [TDX_EMU_LOCK_PAMT] = TDX_NAMED_PAMT,
    [TDX_EMU_LOCK_TDR] = TDX_NAMED_TDR,
    [TDX_EMU_LOCK_TDCS_OP_STATE] = TDX_NAMED_TDCS_OP_STATE,
    [TDX_EMU_LOCK_SEPT_TREE] = TDX_NAMED_SEPT_TREE,
    [TDX_EMU_LOCK_SEPT_ENTRY] = TDX_NAMED_SEPT_ENTRY,
    [TDX_EMU_LOCK_TD_EPOCH] = TDX_NAMED_TD_EPOCH,
};

TdxEmuLockHoldResult *qmp_tdx_emu_lock_hold(TdxEmuLockHoldArgs *args,
                                            Error **errp)
{
    TdxEmuState *s = tdx_emu_find(args->id, errp);
    const char *name = TdxEmuLock_str(args->lock);
    TdxEmuLockHoldResult *ret;
    char why[160];
    int id;

    if (!s) {
        return NULL;
    }
    if (args->lock == TDX_EMU_LOCK_GLOBAL && args->has_key) {
        error_setg(errp, "tdx-emu: 'key' does not apply to lock 'global'");
        return NULL;
    }
    if (args->lock != TDX_EMU_LOCK_GLOBAL && args->lock != TDX_EMU_LOCK_PKG_KEY &&
        !args->has_key) {
        error_setg(errp, "tdx-emu: 'key' is required for lock '%s' (%s)", name,
                   args->lock == TDX_EMU_LOCK_PAMT ? "the page's physical address"
                                                  : "the TD's TDR page address");
        return NULL;
    }
    if (args->lock == TDX_EMU_LOCK_SEPT_ENTRY && !args->has_gpa) {
        error_setg(errp, "tdx-emu: 'gpa' is required for lock 'sept-entry'");
        return NULL;
    }
    if (args->lock != TDX_EMU_LOCK_SEPT_ENTRY && args->has_gpa) {
        error_setg(errp, "tdx-emu: 'gpa' only applies to lock 'sept-entry', "
                   "not '%s'", name);
        return NULL;
    }
    if (args->has_duration_ns && args->duration_ns == 0) {
        error_setg(errp, "tdx-emu: 'duration-ns' must be at least 1; leave it "
                   "out to hold until tdx-emu-lock-release");
        return NULL;
    }
    if (args->has_busies && args->busies == 0) {
        error_setg(errp, "tdx-emu: 'busies' must be at least 1; leave it "
                   "out to hold until tdx-emu-lock-release");
        return NULL;
    }
    id = tdx_inject_hold_lock_busies(s->module, tdx_emu_lock_of[args->lock],
                                     args->has_key ? args->key : 0,
                                     args->has_gpa ? args->gpa : 0,
                                     args->mode == TDX_EMU_LOCK_MODE_SHARED ?
                                     TDX_LOCK_SHARED : TDX_LOCK_EXCLUSIVE,
                                     args->has_duration_ns ? args->duration_ns : 0,
                                     args->has_busies ? args->busies : 0,
                                     why, sizeof(why));
    if (id < 0) {
        error_setg(errp, "tdx-emu: cannot hold lock '%s': %s", name, why);
        return NULL;
    }
    ret = g_new0(TdxEmuLockHoldResult, 1);
    ret->hold = id;
    return ret;
}

void qmp_tdx_emu_lock_release(const char *id, int64_t hold, Error **errp)
{
    TdxEmuState *s = tdx_emu_find(id, errp);

    if (s && (hold < 0 || hold >= TDX_INJECT_MAX_RULES ||
              !tdx_inject_release_hold(s->module, hold))) {
        error_setg(errp, "tdx-emu: '%s' has no lock hold %" PRId64, id, hold);
    }
}

TdxEmuLockHoldInfoList *qmp_query_tdx_emu_lock_holds(const char *id,
                                                     Error **errp)
{
    TdxEmuState *s = tdx_emu_find(id, errp);
    TdxEmuLockHoldInfoList *list = NULL, **tail = &list;
    struct tdx_hold_info hi;

    if (!s) {
        return NULL;
    }
    for (int hold = 0; hold < TDX_INJECT_MAX_RULES; hold++) {
        TdxEmuLockHoldInfo *info;
        uint64_t now;

        if (!tdx_inject_get_hold(s->module, hold, &hi)) {
            continue;
        }
        info = g_new0(TdxEmuLockHoldInfo, 1);
        info->hold = hold;
        for (int l = 0; l < TDX_EMU_LOCK__MAX; l++) {
            if (tdx_emu_lock_of[l] == hi.what) {
                info->lock = l;
            }
        }
        info->has_key = hi.what != TDX_NAMED_GLOBAL;
        info->key = hi.key;
        info->has_gpa = hi.what == TDX_NAMED_SEPT_ENTRY;
        info->gpa = hi.gpa;
        info->mode = hi.mode == TDX_LOCK_SHARED ? TDX_EMU_LOCK_MODE_SHARED
                                                : TDX_EMU_LOCK_MODE_EXCLUSIVE;
        if (hi.until_ns) {
            /* The core's clock is get_clock() (tdx_emu_clock_ns). */
            now = get_clock();
            info->has_remaining_ns = true;
            info->remaining_ns = hi.until_ns > now ? hi.until_ns - now : 0;
        }
        info->has_busies = hi.busies != 0;
        info->busies = hi.busies;
        info->busies_seen = hi.busies_seen;
        QAPI_LIST_APPEND(tail, info);
    }
    return list;
}

/* ---- Statistics ------------------------------------------------------------ */

TdxEmuPathStatsList *qmp_query_tdx_emu_paths(const char *id, Error **errp)
{
    TdxEmuState *s = tdx_emu_find(id, errp);
    TdxEmuPathStatsList *list = NULL, **tail = &list;
    struct tdx_path_stats st;

    if (!s) {
        return NULL;
    }
    tdx_module_path_stats(s->module, &st);
    for (unsigned id_ = 0; id_ < TDX_PATH_COUNT; id_++) {
        const struct tdx_path_counts *c = &st.path[id_];
        TdxEmuPathStats *ps;

        if (!c->busy_injected && !c->busy_natural) {
            continue;
        }
        ps = g_new0(TdxEmuPathStats, 1);
        ps->path = g_strdup(tdx_path_name(id_));
        ps->injected = c->busy_injected;
        ps->natural = c->busy_natural;
        ps->local_retry = c->reaction[TDX_REACT_LOCAL_RETRY];
        ps->kick_and_retry = c->reaction[TDX_REACT_KICK_AND_RETRY];
        ps->kick_violated = c->reaction[TDX_REACT_KICK_VIOLATED];
        ps->retry_later = c->reaction[TDX_REACT_RETRY_LATER];
        ps->reenter = c->reaction[TDX_REACT_REENTER];
        ps->guest_retry = c->reaction[TDX_REACT_GUEST_RETRY];
        ps->unhandled = c->reaction[TDX_REACT_UNHANDLED];
        ps->entry_gated = c->reaction[TDX_REACT_ENTRY_GATED];
        ps->entry_raced = c->reaction[TDX_REACT_ENTRY_RACED];
        ps->entry_violated = c->reaction[TDX_REACT_ENTRY_VIOLATED];
        ps->retry_failed = c->retry_failed;
        ps->pending = c->pending;
        ps->overflow = c->overflow;
        QAPI_LIST_APPEND(tail, ps);
    }
    return list;
}

TdxEmuLeafStatsList *qmp_query_tdx_emu_stats(const char *id, Error **errp)
{
    TdxEmuState *s = tdx_emu_find(id, errp);
    TdxEmuLeafStatsList *list = NULL, **tail = &list;
    const struct tdx_stats *st;

    if (!s) {
        return NULL;
    }
    st = tdx_module_stats(s->module);
    /* Host leaves, then guest leaves (slots, tdx-leaves.h). */
    for (unsigned leaf = 0; leaf < TDX_NUM_LEAF_SLOTS; leaf++) {
        TdxEmuLeafStats *ls;
        TdxEmuBusyCountList **busy_tail;

        if (!(uint64_t)st->calls[leaf]) {
            continue;
        }
        ls = g_new0(TdxEmuLeafStats, 1);
        ls->name = g_strdup(tdx_leaf_slot_name(leaf) ?: "?");
        ls->number = leaf < TDX_MAX_LEAF ? leaf : leaf - TDX_MAX_LEAF;
        ls->calls = (uint64_t)st->calls[leaf];
        ls->success = (uint64_t)st->success[leaf];
        ls->errors = (uint64_t)st->errors[leaf];
        ls->injected = (uint64_t)st->injected[leaf];
        busy_tail = &ls->busy;
        for (unsigned op = 0; op < TDX_STATS_OPERANDS; op++) {
            uint64_t n = st->busy[leaf][op];

            if (n) {
                TdxEmuBusyCount *b = g_new0(TdxEmuBusyCount, 1);

                b->operand = op;
                b->count = n;
                QAPI_LIST_APPEND(busy_tail, b);
            }
        }
        QAPI_LIST_APPEND(tail, ls);
    }
    return list;
}

void qmp_tdx_emu_stats_reset(const char *id, Error **errp)
{
    TdxEmuState *s = tdx_emu_find(id, errp);

    if (s) {
        tdx_module_reset_stats(s->module);
    }
}
