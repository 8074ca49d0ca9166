/*
 * tdx-emu: fault-injection knobs shared by QMP, the command line and HMP.
 *
 * A status rule reaches the core through one path, whatever its origin:
 * QMP's tdx-emu-inject-add gives a TdxEmuInjectRule, the object's
 * "inject" property is parsed into the same QAPI structs, and
 * tdx_emu_rule_to_core() validates and converts both, so the two accept
 * the same rules with the same messages.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/qapi-types-tdx-emu-target.h"
#include "qapi/util.h"
#include "qemu/cutils.h"
#include "../core/tdx-core.h"
#include "../core/inject.h"
#include "tdx-emu.h"
#include "tdx-emu-inject.h"

/* Does every dotted component of `want` name a component of `name`? */
static bool leaf_name_resembles(const char *want, const char *name)
{
    g_auto(GStrv) parts = g_strsplit_set(want, "._", -1);
    g_auto(GStrv) have = g_strsplit(name, ".", -1);
    bool any = false;

    for (char **p = parts; *p; p++) {
        bool found = false;

        if (!**p) {
            continue;
        }
        for (char **h = have; *h && !found; h++) {
            found = !g_ascii_strcasecmp(*p, *h);
        }
        if (!found) {
            return false;
        }
        any = true;
    }
    return any;
}

bool tdx_emu_parse_leaf(const char *str, int *leaf, Error **errp)
{
    g_autoptr(GString) like = g_string_new("");
    g_autoptr(GString) all = g_string_new("");
    uint64_t num;

    if (!g_ascii_strcasecmp(str, "any")) {
        *leaf = TDX_INJECT_ANY_LEAF;
        return true;
    }
    if (qemu_strtou64(str, NULL, 0, &num) == 0) {
        if (num >= TDX_MAX_LEAF || !tdx_host_leaf_name(num)) {
            error_setg(errp, "tdx-emu: no SEAMCALL leaf number %" PRIu64, num);
            return false;
        }
        *leaf = num;
        return true;
    }
    *leaf = tdx_inject_leaf_by_name(str);
    if (*leaf >= 0) {
        return true;
    }
    for (unsigned l = 0; l < TDX_NUM_LEAF_SLOTS; l++) {
        const char *name = tdx_leaf_slot_name(l);

        if (!name) {
            continue;
        }
        g_string_append_printf(all, "%s%s", all->len ? ", " : "", name);
        if (leaf_name_resembles(str, name)) {
            g_string_append_printf(like, "%s%s", like->len ? ", " : "", name);
        }
    }
    /* QMP drops hints: the spelling goes into the message itself. */
    if (like->len) {
        error_setg(errp, "tdx-emu: unknown leaf '%s'; did you mean %s?",
                   str, like->str);
    } else {
        error_setg(errp, "tdx-emu: unknown leaf '%s'; leaves are named "
                   "as in Intel's ABI (%s), or given by number, or 'any'",
                   str, all->str);
    }
    return false;
}

bool tdx_emu_rule_to_core(const TdxEmuInjectRule *in, unsigned num_lps,
                          struct tdx_status_rule *out, Error **errp)
{
    const char *when = TdxEmuInjectWhen_str(in->when);
    bool counted = in->when != TDX_EMU_INJECT_WHEN_PROBABILITY;
    int leaf;

    memset(out, 0, sizeof(*out));
    if (!tdx_emu_parse_leaf(in->leaf, &leaf, errp)) {
        return false;
    }
    out->leaf = leaf;
    out->operand = in->has_operand ? in->operand : TDX_INJECT_ANY_OPERAND;
    if (in->has_status && in->status == 0) {
        error_setg(errp, "tdx-emu: status 0 (TDX_SUCCESS) cannot be injected; "
                   "leave 'status' out for the lock point's busy status");
        return false;
    }
    out->status = in->has_status ? in->status : 0;
    switch (in->when) {
    case TDX_EMU_INJECT_WHEN_NTH:
        out->when = TDX_INJECT_NTH;
        break;
    case TDX_EMU_INJECT_WHEN_EVERY:
        out->when = TDX_INJECT_EVERY;
        break;
    case TDX_EMU_INJECT_WHEN_FIRST:
        out->when = TDX_INJECT_FIRST;
        break;
    default:
        out->when = TDX_INJECT_PROB;
        break;
    }
    if (counted && !in->has_n) {
        error_setg(errp, "tdx-emu: 'n' is required with when=%s (a count >= 1)",
                   when);
        return false;
    }
    if (counted && in->n == 0) {
        error_setg(errp, "tdx-emu: 'n' must be at least 1 with when=%s", when);
        return false;
    }
    if (!counted && in->has_n) {
        error_setg(errp, "tdx-emu: 'n' does not apply to when=probability");
        return false;
    }
    if (!counted && !in->has_probability) {
        error_setg(errp, "tdx-emu: 'probability' is required with "
                   "when=probability (0 to 1)");
        return false;
    }
    if (counted && in->has_probability) {
        error_setg(errp, "tdx-emu: 'probability' only applies to "
                   "when=probability, not when=%s", when);
        return false;
    }
    if (!counted && !(in->probability >= 0.0 && in->probability <= 1.0)) {
        error_setg(errp, "tdx-emu: 'probability' must be within 0 and 1, got %g",
                   in->probability);
        return false;
    }
    out->n = in->n;
    out->p = in->probability;
    if (in->has_lp) {
        if (!in->lp) {
            error_setg(errp, "tdx-emu: 'lp' is an empty list; leave it out to "
                       "match every LP");
            return false;
        }
        for (uint32List *l = in->lp; l; l = l->next) {
            if (l->value >= 64 || (num_lps && l->value >= num_lps)) {
                error_setg(errp, "tdx-emu: LP %u does not exist (%u LPs)",
                           l->value, num_lps ? num_lps : 64);
                return false;
            }
            out->lp_mask |= 1ULL << l->value;
        }
    }
    if (in->has_tdr) {
        if (!in->tdr || (in->tdr & 0xFFF)) {
            error_setg(errp, "tdx-emu: 'tdr' must be the address of a TDR page "
                       "(4 KiB aligned, not 0), got 0x%" PRIx64, in->tdr);
            return false;
        }
        out->tdr_pa = in->tdr;
    }
    if (in->has_gpa_start || in->has_gpa_end) {
        out->gpa_lo = in->has_gpa_start ? in->gpa_start : 0;
        out->gpa_hi = in->has_gpa_end ? in->gpa_end : UINT64_MAX;
        if (out->gpa_hi <= out->gpa_lo) {
            error_setg(errp, "tdx-emu: empty GPA range [0x%" PRIx64 ", 0x%"
                       PRIx64 ")", out->gpa_lo, out->gpa_hi);
            return false;
        }
    }
    out->spare_retries = in->has_spare_retries && in->spare_retries;
    out->stretch_retry_ms = in->has_stretch_retry_ms ? in->stretch_retry_ms : 0;
    return true;
}

int tdx_emu_arm_rule(TdxEmuState *s, const TdxEmuInjectRule *in, Error **errp)
{
    struct tdx_status_rule rule;
    char why[128];
    int id;

    if (!tdx_emu_rule_to_core(in, tdx_module_num_lps(s->module), &rule, errp)) {
        return -1;
    }
    id = tdx_inject_add_status_rule(s->module, &rule, why, sizeof(why));
    if (id < 0) {
        error_setg(errp, "tdx-emu: cannot add the rule: %s", why);
    }
    return id;
}

/* One "key=value" of the command-line syntax into `r`. */
static bool parse_field(TdxEmuInjectRule *r, const char *key, const char *val,
                        bool *seen_when, Error **errp)
{
    static const char *const counts[] = { "nth", "every", "first" };
    static const char *const numeric[] = {
        "nth", "every", "first", "operand", "status", "tdr", "gpa-start",
        "gpa-end", "stretch-retry-ms", NULL
    };
    uint64_t num;

    if (!strcmp(key, "leaf")) {
        g_free(r->leaf);
        r->leaf = g_strdup(val);
        return true;
    }
    if (!strcmp(key, "probability")) {
        double p;

        if (qemu_strtod_finite(val, NULL, &p)) {
            error_setg(errp, "tdx-emu: probability '%s' is not a number", val);
            return false;
        }
        if (*seen_when) {
            error_setg(errp, "tdx-emu: a rule takes one of nth, every, first "
                       "and probability");
            return false;
        }
        *seen_when = true;
        r->when = TDX_EMU_INJECT_WHEN_PROBABILITY;
        r->has_probability = true;
        r->probability = p;
        return true;
    }
    if (!strcmp(key, "spare-retries")) {
        bool on;

        if (!qapi_bool_parse(key, val, &on, errp)) {
            return false;
        }
        r->has_spare_retries = true;
        r->spare_retries = on;
        return true;
    }
    if (!strcmp(key, "lp")) {
        g_auto(GStrv) lps = g_strsplit(val, "+", -1);
        uint32List **tail = &r->lp;

        r->has_lp = true;
        for (char **l = lps; *l; l++) {
            if (qemu_strtou64(*l, NULL, 0, &num) || num > UINT32_MAX) {
                error_setg(errp, "tdx-emu: LP '%s' is not a number (LPs are "
                           "separated by '+', e.g. lp=0+2)", *l);
                return false;
            }
            QAPI_LIST_APPEND(tail, (uint32_t)num);
        }
        return true;
    }
    if (!g_strv_contains((const gchar *const *)numeric, key)) {
        error_setg(errp, "tdx-emu: unknown key '%s'; a rule takes leaf, "
                   "operand, status, nth|every|first|probability, lp, tdr, "
                   "gpa-start, gpa-end, spare-retries, stretch-retry-ms", key);
        return false;
    }
    if (qemu_strtou64(val, NULL, 0, &num)) {
        error_setg(errp, "tdx-emu: '%s=%s': not a number", key, val);
        return false;
    }
    for (size_t i = 0; i < ARRAY_SIZE(counts); i++) {
        if (!strcmp(key, counts[i])) {
            if (*seen_when) {
                error_setg(errp, "tdx-emu: a rule takes one of nth, every, "
                           "first and probability");
                return false;
            }
            *seen_when = true;
            r->when = qapi_enum_parse(&TdxEmuInjectWhen_lookup, key, 0, NULL);
            r->has_n = true;
            r->n = num;
            return true;
        }
    }
    if (!strcmp(key, "operand")) {
        if (num > 0xFF) {
            error_setg(errp, "tdx-emu: operand IDs are 0..0xff, got 0x%" PRIx64,
                       num);
            return false;
        }
        r->has_operand = true;
        r->operand = num;
    } else if (!strcmp(key, "status")) {
        r->has_status = true;
        r->status = num;
    } else if (!strcmp(key, "tdr")) {
        r->has_tdr = true;
        r->tdr = num;
    } else if (!strcmp(key, "gpa-start")) {
        r->has_gpa_start = true;
        r->gpa_start = num;
    } else if (!strcmp(key, "stretch-retry-ms")) {
        if (num > UINT32_MAX) {
            error_setg(errp, "tdx-emu: stretch-retry-ms=%s is too large", val);
            return false;
        }
        r->has_stretch_retry_ms = true;
        r->stretch_retry_ms = num;
    } else {
        r->has_gpa_end = true;
        r->gpa_end = num;
    }
    return true;
}

GPtrArray *tdx_emu_parse_inject(const char *str, Error **errp)
{
    g_auto(GStrv) items = g_strsplit(str, ";", -1);
    g_autoptr(GPtrArray) rules =
        g_ptr_array_new_with_free_func((GDestroyNotify)qapi_free_TdxEmuInjectRule);
    unsigned nr = 0;

    for (char **item = items; *item; item++) {
        g_auto(GStrv) fields = NULL;
        g_autoptr(TdxEmuInjectRule) r = NULL;
        g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);
        struct tdx_status_rule dummy;
        bool seen_when = false;
        Error *err = NULL;

        if (!*g_strstrip(*item)) {
            continue;           /* "a;;b", a trailing ';' */
        }
        nr++;
        r = g_new0(TdxEmuInjectRule, 1);
        fields = g_strsplit(*item, ":", -1);
        for (char **f = fields; *f && !err; f++) {
            char *eq = strchr(*f, '=');

            if (!eq || eq == *f) {
                error_setg(&err, "tdx-emu: '%s' is not key=value", *f);
                break;
            }
            *eq = '\0';
            if (!g_hash_table_add(seen, *f)) {
                error_setg(&err, "tdx-emu: '%s' given twice", *f);
                break;
            }
            parse_field(r, *f, eq + 1, &seen_when, &err);
        }
        if (!err && !r->leaf) {
            error_setg(&err, "tdx-emu: 'leaf' is required (a name such as "
                       "TDH.MEM.PAGE.AUG, a number, or 'any')");
        }
        if (!err && !seen_when) {
            error_setg(&err, "tdx-emu: a rule needs one of nth=N, every=N, "
                       "first=N, probability=P");
        }
        /* Everything but the LP range, which needs the machine. */
        if (!err) {
            tdx_emu_rule_to_core(r, 0, &dummy, &err);
        }
        if (err) {
            error_prepend(&err, "inject rule %u: ", nr);
            error_propagate(errp, err);
            return NULL;
        }
        g_ptr_array_add(rules, g_steal_pointer(&r));
    }
    return g_steal_pointer(&rules);
}

bool tdx_emu_arm_boot_rules(TdxEmuState *s, Error **errp)
{
    for (guint i = 0; s->inject_rules && i < s->inject_rules->len; i++) {
        Error *err = NULL;

        if (tdx_emu_arm_rule(s, g_ptr_array_index(s->inject_rules, i), &err) < 0) {
            error_prepend(&err, "inject rule %u: ", i + 1);
            error_propagate(errp, err);
            return false;
        }
    }
    return true;
}

static void print_rule(GString *out, int id, const struct tdx_status_rule_info *ri)
{
    const struct tdx_status_rule *r = &ri->rule;

    g_string_append_printf(out, "    #%-2d %-24s", id,
                           tdx_inject_leaf_name(r->leaf) ?: "?");
    if (r->operand == TDX_INJECT_ANY_OPERAND) {
        g_string_append(out, " operand any ");
    } else {
        g_string_append_printf(out, " operand 0x%02x", r->operand);
    }
    if (r->when == TDX_INJECT_PROB) {
        g_string_append_printf(out, "  probability %g", r->p);
    } else {
        g_string_append_printf(out, "  %s %" PRIu64, tdx_inject_when_name(r->when),
                               r->n);
    }
    g_string_append_printf(out, "  matched %" PRIu64 " fired %" PRIu64,
                           ri->matches, ri->fired);
    if (r->status) {
        g_string_append_printf(out, "  status %s",
                               tdx_status_name(r->status, NULL) ?: "?");
        g_string_append_printf(out, " (0x%016" PRIx64 ")", r->status);
    }
    if (r->lp_mask) {
        g_string_append_printf(out, "  lp-mask 0x%" PRIx64, r->lp_mask);
    }
    if (r->tdr_pa) {
        g_string_append_printf(out, "  tdr 0x%" PRIx64, r->tdr_pa);
    }
    if (r->gpa_hi) {
        g_string_append_printf(out, "  gpa [0x%" PRIx64 ", 0x%" PRIx64 ")",
                               r->gpa_lo, r->gpa_hi);
    }
    if (r->spare_retries) {
        g_string_append(out, "  spare-retries");
    }
    if (r->stretch_retry_ms) {
        g_string_append_printf(out, "  stretch-retry-ms %u (stretched %" PRIu64
                               ", %" PRIu64 " ended by an entry)",
                               r->stretch_retry_ms, ri->stretched,
                               ri->stretch_entries);
    }
    g_string_append_c(out, '\n');
}

void tdx_emu_print_inject(TdxEmuState *s, GString *out)
{
    struct tdx_status_rule_info ri;
    struct tdx_hold_info hi;
    bool header = false;

    for (int id = 0; id < TDX_INJECT_MAX_RULES; id++) {
        if (!tdx_inject_get_status_rule(s->module, id, &ri)) {
            continue;
        }
        if (!header) {
            g_string_append(out, "  Injection rules:\n");
            header = true;
        }
        print_rule(out, id, &ri);
    }
    if (!header) {
        g_string_append(out, "  Injection rules: none\n");
    }
    header = false;
    for (int id = 0; id < TDX_INJECT_MAX_RULES; id++) {
        if (!tdx_inject_get_hold(s->module, id, &hi)) {
            continue;
        }
        if (!header) {
            g_string_append(out, "  Lock holds:\n");
            header = true;
        }
        g_string_append_printf(out, "    #%-2d %-14s %-9s", id,
                               tdx_named_lock_name(hi.what),
                               hi.mode == TDX_LOCK_SHARED ? "shared" : "exclusive");
        if (hi.what != TDX_NAMED_GLOBAL) {
            g_string_append_printf(out, " key 0x%" PRIx64, hi.key);
        }
        if (hi.what == TDX_NAMED_SEPT_ENTRY) {
            g_string_append_printf(out, " gpa 0x%" PRIx64, hi.gpa);
        }
        if (hi.busies) {
            g_string_append_printf(out, "  until %" PRIu64 " busies (%" PRIu64
                                   " seen)%s\n", hi.busies, hi.busies_seen,
                                   hi.until_ns ? " or timed" : "");
        } else {
            g_string_append(out, hi.until_ns ? "  timed\n" : "  until released\n");
        }
    }
    if (!header) {
        g_string_append(out, "  Lock holds: none\n");
    }
}
