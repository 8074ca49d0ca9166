/*
 * tdx-emu: QOM object that owns the emulated TDX module.
 *
 * Created with "-object tdx-emu,id=...". Its properties describe the
 * platform the module runs on (KeyID partitioning) and the fault-injection
 * engine (seed, lock hold window). They are fixed once the object is
 * complete: the module's view of the platform cannot change under a running
 * L1.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/visitor.h"
#include "qemu/error-report.h"
#include "qom/object_interfaces.h"
#include "qemu/timer.h"
#include "exec/address-spaces.h"
#include "hw/boards.h"
#include "hw/i386/x86.h"
#include "hw/i386/e820_memory_layout.h"
#include "system/system.h"
#include "system/reset.h"
#include "target/i386/cpu.h"
#include "../trace.h"
#include "../core/tdx-core.h"
#include "tdx-emu.h"
#include "tdx-emu-inject.h"

/*
 * Size of the SEAM range. The module's memory lives in the core, not here;
 * the range exists so SEAMRR reports a valid range that L1 cannot touch.
 */
#define TDX_EMU_SEAM_SIZE (32ULL << 20)

/* A hold window longer than this would look like a hang to L1's watchdogs. */
#define TDX_EMU_MAX_HOLD_WINDOW_NS (1000ULL * 1000 * 1000)

typedef struct TdxEmuIntProp {
    const char *name;
    const char *desc;
    size_t offset;
    bool is_u64;
    uint64_t min, max;
} TdxEmuIntProp;

static const TdxEmuIntProp tdx_emu_int_props[] = {
    { "tdx-keyids", "KeyIDs reserved for TDX private memory",
      offsetof(TdxEmuState, tdx_keyids), false,
      1, (1u << TDX_EMU_MAX_KEYID_BITS) - 1 },
    { "mktme-keyids", "shared MKTME KeyIDs, KeyID 0 included",
      offsetof(TdxEmuState, mktme_keyids), false,
      1, (1u << TDX_EMU_MAX_KEYID_BITS) - 1 },
    { "seed", "seed of the fault-injection engine",
      offsetof(TdxEmuState, seed), true, 0, UINT64_MAX },
    { "hold-window-ns", "extra nanoseconds every module lock is held",
      offsetof(TdxEmuState, hold_window_ns), true,
      0, TDX_EMU_MAX_HOLD_WINDOW_NS },
};

static void tdx_emu_get_int(Object *obj, Visitor *v, const char *name,
                            void *opaque, Error **errp)
{
    const TdxEmuIntProp *p = opaque;
    void *field = (char *)obj + p->offset;
    uint64_t value = p->is_u64 ? *(uint64_t *)field : *(uint32_t *)field;

    visit_type_uint64(v, name, &value, errp);
}

static void tdx_emu_set_int(Object *obj, Visitor *v, const char *name,
                            void *opaque, Error **errp)
{
    TdxEmuState *s = TDX_EMU(obj);
    const TdxEmuIntProp *p = opaque;
    void *field = (char *)obj + p->offset;
    uint64_t value;

    if (s->complete) {
        error_setg(errp, "tdx-emu: '%s' cannot be changed once the object "
                   "is created", name);
        return;
    }
    if (!visit_type_uint64(v, name, &value, errp)) {
        return;
    }
    if (value < p->min || value > p->max) {
        error_setg(errp, "tdx-emu: '%s' must be between %" PRIu64 " and %"
                   PRIu64 ", got %" PRIu64, name, p->min, p->max, value);
        return;
    }
    if (p->is_u64) {
        *(uint64_t *)field = value;
    } else {
        *(uint32_t *)field = value;
    }
}

static char *tdx_emu_get_inject(Object *obj, Error **errp)
{
    return g_strdup(TDX_EMU(obj)->inject ?: "");
}

/* Parsed (and checked but for the LP range) now, armed at machine done. */
static void tdx_emu_set_inject(Object *obj, const char *value, Error **errp)
{
    TdxEmuState *s = TDX_EMU(obj);
    GPtrArray *rules;

    if (s->complete) {
        error_setg(errp, "tdx-emu: 'inject' cannot be changed once the object "
                   "is created; use the QMP command tdx-emu-inject-add");
        return;
    }
    rules = tdx_emu_parse_inject(value, errp);
    if (!rules) {
        return;
    }
    if (s->inject_rules) {
        g_ptr_array_unref(s->inject_rules);
    }
    s->inject_rules = rules;
    g_free(s->inject);
    s->inject = g_strdup(value);
}

static char *tdx_emu_get_busy_status(Object *obj, Error **errp)
{
    /* The status KVM's busy paths are about; shows the core is linked in. */
    return g_strdup(tdx_status_name(TDX_OPERAND_BUSY, NULL));
}

/* Platform callbacks of the core. L1 physical memory, KeyID bits stripped. */
static int tdx_emu_mem_read(void *opaque, uint64_t pa, void *buf, size_t len)
{
    return address_space_read(&address_space_memory, pa, MEMTXATTRS_UNSPECIFIED,
                              buf, len) == MEMTX_OK ? 0 : -1;
}

static int tdx_emu_mem_write(void *opaque, uint64_t pa, const void *buf,
                             size_t len)
{
    return address_space_write(&address_space_memory, pa,
                               MEMTXATTRS_UNSPECIFIED, buf, len) == MEMTX_OK
           ? 0 : -1;
}

static uint64_t tdx_emu_clock_ns(void *opaque)
{
    return get_clock();
}

static void tdx_emu_trace(void *opaque, const struct tdx_trace_event *ev)
{
    if (ev->guest) {
        trace_tdx_emu_tdcall(ev->lp, ev->leaf, ev->version, ev->status,
                             ev->duration_ns, ev->injected);
    } else {
        trace_tdx_emu_seamcall(ev->lp, ev->leaf, ev->version, ev->status,
                               ev->duration_ns, ev->injected);
    }
    /* A leaf or field this module does not implement: never silent. */
    if (ev->unknown) {
        unsigned slot = ev->guest ? TDX_GUEST_LEAF_SLOT(ev->leaf) : ev->leaf;
        const char *name = slot < TDX_NUM_LEAF_SLOTS ? tdx_leaf_slot_name(slot) : NULL;

        trace_tdx_emu_unknown_request(ev->lp, name && !ev->unknown_is_leaf ? name :
                                      "unknown leaf, RAX", ev->unknown_what);
    }
    /* TDH.VP.ENTER completing at a TD exit: what the exit was. */
    if (ev->exit) {
        trace_tdx_emu_td_exit(ev->lp, ev->exit->reason, ev->exit->qualification,
                              ev->exit->ext_qualification, ev->exit->gpa,
                              ev->td_rip);
    }
    /* The measurement a TD's attestation will carry, for scripts to check. */
    if (ev->mrtd && trace_event_get_state_backends(TRACE_TDX_EMU_TD_FINALIZED)) {
        char hex[48 * 2 + 1];

        for (int i = 0; i < 48; i++) {
            snprintf(hex + 2 * i, 3, "%02x", ev->mrtd[i]);
        }
        trace_tdx_emu_td_finalized(ev->lp, ev->tdr_pa, hex);
    }
}

struct tdx_module *tdx_emu_module_of(CPUState *cs)
{
    TdxEmuState *s = X86_CPU(cs)->env.tdx_emu_cfg.platform;

    return s ? s->module : NULL;
}

static const struct tdx_platform_ops tdx_emu_ops = {
    .mem_read = tdx_emu_mem_read,
    .mem_write = tdx_emu_mem_write,
    .clock_ns = tdx_emu_clock_ns,
    .trace = tdx_emu_trace,
};

/*
 * The module's platform: one LP per vCPU, packages = sockets, CMRs = the
 * machine's RAM as the e820 map lays it out (below 4 GiB, then above).
 */
static bool tdx_emu_describe_platform(TdxEmuState *s,
                                      struct tdx_platform_desc *d,
                                      Error **errp)
{
    MachineState *ms = MACHINE(qdev_get_machine());
    X86MachineState *x86ms;
    unsigned per_pkg;

    if (!object_dynamic_cast(OBJECT(ms), TYPE_X86_MACHINE) || !first_cpu) {
        error_setg(errp, "tdx-emu: needs an x86 machine (pc or q35)");
        return false;
    }
    x86ms = X86_MACHINE(ms);
    memset(d, 0, sizeof(*d));
    d->num_lps = ms->smp.cpus;
    d->num_pkgs = ms->smp.sockets;
    if (d->num_lps > TDX_MAX_LPS || d->num_pkgs > TDX_MAX_PKGS) {
        error_setg(errp, "tdx-emu: at most %d vCPUs in %d sockets, got %u in %u",
                   TDX_MAX_LPS, TDX_MAX_PKGS, d->num_lps, d->num_pkgs);
        return false;
    }
    per_pkg = MAX(1, d->num_lps / MAX(1, d->num_pkgs));
    for (unsigned i = 0; i < d->num_lps; i++) {
        d->lp_pkg[i] = MIN(i / per_pkg, d->num_pkgs - 1);
    }
    d->cmrs[d->num_cmrs++] = (struct tdx_mem_range) {
        0, QEMU_ALIGN_DOWN(x86ms->below_4g_mem_size, 4096) };
    if (x86ms->above_4g_mem_size) {
        d->cmrs[d->num_cmrs++] = (struct tdx_mem_range) {
            4ULL << 30, QEMU_ALIGN_DOWN(x86ms->above_4g_mem_size, 4096) };
    }
    d->max_pa_bits = X86_CPU(first_cpu)->phys_bits;
    d->mktme_keyids = s->mktme_keyids;
    d->tdx_keyids = s->tdx_keyids;
    d->seed = s->seed;
    d->hold_window_ns = s->hold_window_ns;
    return true;
}

/*
 * Non-SEAM accesses to the SEAM range: reads return all-ones and writes are
 * dropped, so L1 never sees module data there (and there is none: the
 * module's state lives in the core).
 */
static uint64_t tdx_emu_seam_read(void *opaque, hwaddr addr, unsigned size)
{
    return MAKE_64BIT_MASK(0, size * 8);
}

static void tdx_emu_seam_write(void *opaque, hwaddr addr, uint64_t val,
                               unsigned size)
{
}

static const MemoryRegionOps tdx_emu_seam_ops = {
    .read = tdx_emu_seam_read,
    .write = tdx_emu_seam_write,
    .endianness = DEVICE_LITTLE_ENDIAN,
    .valid.min_access_size = 1,
    .valid.max_access_size = 8,
};

/*
 * One reading of the host cycle counter and the CLOCK_MONOTONIC time it was
 * taken at: of several tries, the one bracketed most tightly by two clock
 * reads, so that QEMU being preempted (a busy host) cannot bias it.
 */
static void tdx_emu_sample_ticks(int64_t *ns, int64_t *ticks)
{
    int64_t best = INT64_MAX;

    for (int i = 0; i < 16; i++) {
        int64_t before = get_clock();
        int64_t tk = cpu_get_host_ticks();
        int64_t after = get_clock();

        if (after - before < best) {
            best = after - before;
            *ns = before + (after - before) / 2;
            *ticks = tk;
        }
    }
}

/*
 * Why measure: without CPUID 0x15 L1 calibrates its TSC and APIC timer
 * against the PIT/HPET, and on a loaded host a vCPU descheduled in the
 * middle of that gets values off by 5-30x (89 MHz for a 2.8 GHz TSC seen
 * here): KVM then hands TDH.MNG.INIT a TSC_FREQUENCY out of range, or L1's
 * clocks run so slowly that its boot seems to hang. Silicon reports the
 * frequencies in CPUID; so does this platform. The 20 ms between the two
 * samples may stretch under load; both clocks keep wall time, so the ratio
 * does not change.
 */
uint32_t tdx_emu_tsc_khz(TdxEmuState *s)
{
    int64_t ns0, tk0, ns1, tk1;
    uint64_t khz;

    if (!s->tsc_khz) {
        tdx_emu_sample_ticks(&ns0, &tk0);
        g_usleep(20 * 1000);
        tdx_emu_sample_ticks(&ns1, &tk1);
        khz = ns1 > ns0 && tk1 > tk0 ?
              (uint64_t)(tk1 - tk0) * 1000000 / (uint64_t)(ns1 - ns0) : 0;
        s->tsc_khz = khz <= UINT32_MAX ? khz : 0;
        trace_tdx_emu_tsc_khz(s->tsc_khz);
    }
    return s->tsc_khz;
}

bool tdx_emu_reserve_seam_range(TdxEmuState *s, unsigned pa_bits,
                                uint64_t *base, uint64_t *size, Error **errp)
{
    uint64_t want = (1ULL << pa_bits) - TDX_EMU_SEAM_SIZE;

    if (s->seam_size) {
        if (s->seam_base != want) {
            error_setg(errp, "tdx-emu: all vCPUs need the same phys-bits; "
                       "the SEAM range is at 0x%" PRIx64 ", this vCPU would "
                       "put it at 0x%" PRIx64, s->seam_base, want);
            return false;
        }
    } else {
        /* RAM above 4 GiB starts at 4 GiB at the latest; stay clear of it. */
        if ((4ULL << 30) + current_machine->ram_size > want) {
            error_setg(errp, "tdx-emu: the SEAM range at 0x%" PRIx64 " (below "
                       "the KeyID bits) would overlap RAM; use less memory "
                       "or fewer KeyIDs", want);
            return false;
        }
        s->seam_base = want;
        s->seam_size = TDX_EMU_SEAM_SIZE;
        e820_add_entry(s->seam_base, s->seam_size, E820_RESERVED);
        memory_region_init_io(&s->seam_mr, OBJECT(s), &tdx_emu_seam_ops, s,
                              "tdx-emu-seam-range", s->seam_size);
        memory_region_add_subregion_overlap(get_system_memory(), s->seam_base,
                                            &s->seam_mr, 1);
        trace_tdx_emu_seam_range(s->seam_base, s->seam_size);
    }
    *base = s->seam_base;
    *size = s->seam_size;
    return true;
}

static struct tdx_module *tdx_emu_new_module(TdxEmuState *s, unsigned *num_lps)
{
    struct tdx_platform_desc desc;
    struct tdx_module *m;
    Error *err = NULL;
    char why[256];

    if (!tdx_emu_describe_platform(s, &desc, &err)) {
        error_report_err(err);
        exit(1);
    }
    m = tdx_module_create(&desc, &tdx_emu_ops, s, why, sizeof(why));
    if (!m) {
        error_report("tdx-emu: cannot create the TDX module: %s", why);
        exit(1);
    }
    *num_lps = desc.num_lps;
    return m;
}

/*
 * A platform reset reloads the SEAM range on hardware: L1's next boot finds
 * a module that was never initialized, and no TD survives. Runs with every
 * vCPU stopped (system reset), so no SEAMCALL is in flight; the vCPUs'
 * TD-guest state is reset with the CPUs.
 */
static void tdx_emu_reset(void *opaque)
{
    TdxEmuState *s = opaque;
    unsigned num_lps;

    Error *err = NULL;

    tdx_module_destroy(s->module);
    s->module = tdx_emu_new_module(s, &num_lps);
    /* Rules armed from the command line apply from every boot. */
    if (!tdx_emu_arm_boot_rules(s, &err)) {
        error_report_err(err);
    }
    trace_tdx_emu_reset();
}

static void tdx_emu_machine_done(Notifier *n, void *unused)
{
    TdxEmuState *s = container_of(n, TdxEmuState, machine_done);
    unsigned num_lps;

    Error *err = NULL;

    s->module = tdx_emu_new_module(s, &num_lps);
    if (!tdx_emu_arm_boot_rules(s, &err)) {
        error_report_err(err);
        exit(1);
    }
    /* A run with rules says which seed drives them, so it can be redone. */
    if (s->inject_rules && s->inject_rules->len) {
        info_report("tdx-emu: %s: %u injection rule(s) armed from the command "
                    "line, seed %" PRIu64,
                    object_get_canonical_path_component(OBJECT(s)),
                    s->inject_rules->len, s->seed);
    }
    qemu_register_reset(tdx_emu_reset, s);
}

static void tdx_emu_complete(UserCreatable *uc, Error **errp)
{
    TdxEmuState *s = TDX_EMU(uc);
    uint32_t total = s->tdx_keyids + s->mktme_keyids;

    if (total > (1u << TDX_EMU_MAX_KEYID_BITS)) {
        error_setg(errp, "tdx-emu: %u TDX + %u MKTME KeyIDs exceed the %u "
                   "KeyIDs that %d physical-address bits can encode",
                   s->tdx_keyids, s->mktme_keyids,
                   1u << TDX_EMU_MAX_KEYID_BITS, TDX_EMU_MAX_KEYID_BITS);
        return;
    }
    s->complete = true;
    s->machine_done.notify = tdx_emu_machine_done;
    qemu_add_machine_init_done_notifier(&s->machine_done);
    trace_tdx_emu_created(object_get_canonical_path_component(OBJECT(uc)),
                          s->tdx_keyids, s->mktme_keyids, s->seed);
}

/* The vCPUs and the memory map point at the object once it is in use. */
static bool tdx_emu_can_be_deleted(UserCreatable *uc)
{
    TdxEmuState *s = TDX_EMU(uc);

    return !s->seam_size && !s->module;
}

static void tdx_emu_instance_init(Object *obj)
{
    TdxEmuState *s = TDX_EMU(obj);

    s->tdx_keyids = 4;
    s->mktme_keyids = 1;
}

static void tdx_emu_instance_finalize(Object *obj)
{
    TdxEmuState *s = TDX_EMU(obj);

    if (s->complete) {
        qemu_remove_machine_init_done_notifier(&s->machine_done);
    }
    if (s->module) {
        qemu_unregister_reset(tdx_emu_reset, s);
    }
    tdx_module_destroy(s->module);
    g_free(s->inject);
    if (s->inject_rules) {
        g_ptr_array_unref(s->inject_rules);
    }
}

static void tdx_emu_class_init(ObjectClass *oc, void *data)
{
    UserCreatableClass *ucc = USER_CREATABLE_CLASS(oc);

    ucc->complete = tdx_emu_complete;
    ucc->can_be_deleted = tdx_emu_can_be_deleted;

    for (size_t i = 0; i < ARRAY_SIZE(tdx_emu_int_props); i++) {
        const TdxEmuIntProp *p = &tdx_emu_int_props[i];

        object_class_property_add(oc, p->name, p->is_u64 ? "uint64" : "uint32",
                                  tdx_emu_get_int, tdx_emu_set_int, NULL,
                                  (void *)p);
        object_class_property_set_description(oc, p->name, p->desc);
    }
    object_class_property_add_str(oc, "inject", tdx_emu_get_inject,
                                  tdx_emu_set_inject);
    object_class_property_set_description(oc, "inject",
        "status-injection rules armed from boot: rules separated by ';', each "
        "key=value separated by ':', e.g. "
        "leaf=TDH.MEM.PAGE.AUG:operand=0x92:every=3");
    object_class_property_add_str(oc, "busy-status", tdx_emu_get_busy_status,
                                  NULL);
    object_class_property_set_description(oc, "busy-status",
        "name of the module's busy status (read-only)");
}

static const TypeInfo tdx_emu_info = {
    .name = TYPE_TDX_EMU,
    .parent = TYPE_OBJECT,
    .instance_size = sizeof(TdxEmuState),
    .instance_init = tdx_emu_instance_init,
    .instance_finalize = tdx_emu_instance_finalize,
    .class_init = tdx_emu_class_init,
    .interfaces = (const InterfaceInfo[]) {
        { TYPE_USER_CREATABLE },
        { }
    },
};

static void tdx_emu_register_types(void)
{
    type_register_static(&tdx_emu_info);
}

type_init(tdx_emu_register_types)
