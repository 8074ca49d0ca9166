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
#include "qom/object_interfaces.h"
#include "../trace.h"
#include "../core/tdx-status.h"
#include "tdx-emu.h"

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

static char *tdx_emu_get_busy_status(Object *obj, Error **errp)
{
    /* The status KVM's busy paths are about; shows the core is linked in. */
    return g_strdup(tdx_status_name(TDX_OPERAND_BUSY, NULL));
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
    trace_tdx_emu_created(object_get_canonical_path_component(OBJECT(uc)),
                          s->tdx_keyids, s->mktme_keyids, s->seed);
}

static void tdx_emu_instance_init(Object *obj)
{
    TdxEmuState *s = TDX_EMU(obj);

    s->tdx_keyids = 4;
    s->mktme_keyids = 1;
}

static void tdx_emu_class_init(ObjectClass *oc, void *data)
{
    UserCreatableClass *ucc = USER_CREATABLE_CLASS(oc);

    ucc->complete = tdx_emu_complete;

    for (size_t i = 0; i < ARRAY_SIZE(tdx_emu_int_props); i++) {
        const TdxEmuIntProp *p = &tdx_emu_int_props[i];

        object_class_property_add(oc, p->name, p->is_u64 ? "uint64" : "uint32",
                                  tdx_emu_get_int, tdx_emu_set_int, NULL,
                                  (void *)p);
        object_class_property_set_description(oc, p->name, p->desc);
    }
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
