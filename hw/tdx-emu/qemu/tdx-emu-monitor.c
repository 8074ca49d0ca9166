/*
 * tdx-emu: HMP "info tdx".
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "monitor/hmp.h"
#include "monitor/monitor.h"
#include "qom/object.h"
#include "../core/tdx-core.h"
#include "../core/inject.h"
#include "../core/paths.h"
#include "../core/td-ve.h"
#include "../core/td-apic.h"
#include "tdx-emu.h"
#include "tdx-emu-inject.h"

/* KVM busy paths seen (core/paths.h), only those with activity. */
static void tdx_emu_print_paths(TdxEmuState *s, GString *out)
{
    struct tdx_path_stats ps;
    bool header = false;

    tdx_module_path_stats(s->module, &ps);
    for (unsigned id = 0; id < TDX_PATH_COUNT; id++) {
        const struct tdx_path_counts *c = &ps.path[id];

        if (!c->busy_injected && !c->busy_natural) {
            continue;
        }
        if (!header) {
            g_string_append(out, "  Busy paths (path: injected natural | reaction "
                            "counts):\n");
            header = true;
        }
        g_string_append_printf(out, "    %-5s %8" PRIu64 " %8" PRIu64 " |",
                               tdx_path_name(id), c->busy_injected,
                               c->busy_natural);
        for (unsigned r = 0; r < TDX_REACT_COUNT; r++) {
            if (c->reaction[r]) {
                g_string_append_printf(out, " %s=%" PRIu64,
                                       tdx_reaction_name(r), c->reaction[r]);
            }
        }
        if (c->retry_failed) {
            g_string_append_printf(out, " retry-failed=%" PRIu64, c->retry_failed);
        }
        if (c->pending) {
            g_string_append_printf(out, " pending=%" PRIu64, c->pending);
        }
        if (c->overflow) {
            g_string_append_printf(out, " untracked=%" PRIu64, c->overflow);
        }
        g_string_append(out, "\n");
    }
}

/* Virtual APICs of TD vCPUs (core/td-apic.h). */
static void tdx_emu_print_vapic(TdxEmuState *s, GString *out)
{
    struct tdx_apic_stats_snapshot a;

    tdx_apic_get_stats(s->module, &a);
    g_string_append_printf(out, "\n  virtual APIC: %" PRIu64 " PI notifications "
                           "processed in TDs (no exit), %" PRIu64 " posted vectors, %"
                           PRIu64 " delivered, %" PRIu64 " EOIs, %" PRIu64
                           " self-IPIs, %" PRIu64 " bad PID",
                           a.pi_notifications, a.pi_vectors, a.delivered, a.eoi,
                           a.self_ipi, a.pi_bad_desc);
}

void tdx_emu_print_info(TdxEmuState *s, GString *out)
{
    struct tdx_module_info info;
    const struct tdx_stats *st;

    if (!s->module) {
        g_string_append(out, "  module: not created yet (machine not ready)\n");
        return;
    }
    tdx_module_get_info(s->module, &info);
    g_string_append_printf(out, "  module state: %s\n", info.state);
    g_string_append_printf(out, "  LPs initialized: %u/%u, packages with keys: %u/%u\n",
                           info.lps_initialized, info.num_lps,
                           info.pkgs_configured, info.num_pkgs);
    g_string_append_printf(out, "  KeyIDs: %u MKTME, %u TDX; seed 0x%" PRIx64 "\n",
                           s->mktme_keyids, s->tdx_keyids, s->seed);
    g_string_append_printf(out, "  TDMRs: %u, %" PRIu64 " MiB, PAMT initialized for %"
                           PRIu64 " MiB\n", info.num_tdmrs,
                           info.tdmr_bytes >> 20, info.tdmr_bytes_initialized >> 20);
    g_string_append_printf(out, "  TDs: %" PRIu64 "; TDX HKIDs: %u assigned, %u "
                           "flushed, %u free\n", info.num_tds,
                           info.hkids_assigned, info.hkids_flushed,
                           info.hkids_free);
    g_string_append(out, "  PAMT pages by type:");
    for (unsigned t = 0; t < 16; t++) {
        if (info.pages_by_type[t] && tdx_page_type_name(t)) {
            g_string_append_printf(out, " %s=%" PRIu64, tdx_page_type_name(t),
                                   info.pages_by_type[t]);
        }
    }
    st = tdx_module_stats(s->module);
    g_string_append_printf(out, "\n  zero-step: %" PRIu64 " VP.ENTER took the S-EPT tree "
                           "exclusively, %" PRIu64 " synthetic EPT-violation exits",
                           (uint64_t)st->zero_step_entries,
                           (uint64_t)st->zero_step_synthetic_exits);
    g_string_append(out, "\n  TD translations at VP.ENTER (kept across exits, or "
                    "dropped and why) and at INVEPT:");
    for (unsigned i = 0; i < TDX_TD_TLB_NUM_REASONS; i++) {
        g_string_append_printf(out, " %s=%" PRIu64, tdx_td_tlb_reason_name(i),
                               (uint64_t)st->td_tlb[i]);
    }
    g_string_append(out, "\n  #VE injected into TDs:");
    for (unsigned i = 0; i < TDX_VE_NUM_COUNTERS; i++) {
        g_string_append_printf(out, " %s=%" PRIu64, tdx_ve_counter_name(i),
                               (uint64_t)st->ve[i]);
    }
    g_string_append_printf(out, "\n  requests this module does not know (leaf or "
                           "field; answered with the architectural error): %"
                           PRIu64, (uint64_t)st->unknown_total);
    for (unsigned i = 0; i < TDX_STATS_UNKNOWN; i++) {
        const struct tdx_unknown_request *u = &st->unknown[i];
        const char *name = u->slot < TDX_NUM_LEAF_SLOTS ?
                           tdx_leaf_slot_name(u->slot) : NULL;

        if (u->state != 2) {
            break;
        }
        g_string_append_printf(out, "\n    %-24s %s 0x%016" PRIx64 " x%" PRIu64,
                               u->slot < TDX_NUM_LEAF_SLOTS ? (name ?: "?") : "unknown leaf",
                               u->slot < TDX_NUM_LEAF_SLOTS ? "field" : "RAX",
                               u->what, (uint64_t)u->count);
    }
    if (st->unknown_other) {
        g_string_append_printf(out, "\n    (%" PRIu64 " more of other kinds)",
                               (uint64_t)st->unknown_other);
    }
    tdx_emu_print_vapic(s, out);
    g_string_append(out, "\n  SEAMCALLs and TDCALLs (leaf: calls ok error busy "
                    "injected):\n");
    for (unsigned leaf = 0; leaf < TDX_NUM_LEAF_SLOTS; leaf++) {
        uint64_t busy = 0;

        if (!st->calls[leaf]) {
            continue;
        }
        for (unsigned op = 0; op < TDX_STATS_OPERANDS; op++) {
            busy += st->busy[leaf][op];
        }
        g_string_append_printf(out, "    %-24s %8" PRIu64 " %8" PRIu64 " %6" PRIu64
                               " %6" PRIu64 " %6" PRIu64 "\n",
                               tdx_leaf_slot_name(leaf) ?: "?",
                               (uint64_t)st->calls[leaf], (uint64_t)st->success[leaf],
                               (uint64_t)st->errors[leaf], busy,
                               (uint64_t)st->injected[leaf]);
    }
    tdx_emu_print_paths(s, out);
    tdx_emu_print_inject(s, out);
}

static int tdx_emu_info_one(Object *obj, void *opaque)
{
    GString *out = opaque;
    TdxEmuState *s = (TdxEmuState *)object_dynamic_cast(obj, TYPE_TDX_EMU);

    if (s) {
        g_string_append_printf(out, "tdx-emu %s:\n",
                               object_get_canonical_path_component(obj));
        tdx_emu_print_info(s, out);
    }
    return 0;
}

void hmp_info_tdx(Monitor *mon, const QDict *qdict)
{
    g_autoptr(GString) out = g_string_new("");

    object_child_foreach(object_get_objects_root(), tdx_emu_info_one, out);
    if (!out->len) {
        g_string_append(out, "no tdx-emu object (add -object tdx-emu,id=tdx0)\n");
    }
    monitor_puts(mon, out->str);
}
