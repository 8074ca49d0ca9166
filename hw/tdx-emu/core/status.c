/* Names for TDX completion statuses, for traces, HMP and test messages. */
#include <stddef.h>
#include <stdio.h>

#include "tdx-status.h"

struct status_name {
    uint64_t class;
    const char *name;
};

static const struct status_name status_names[] = {
#define X(name, value) { value, #name },
#include "tdx-status-list.h"
#undef X
};

const char *tdx_status_name(uint64_t status, uint32_t *operand)
{
    uint64_t class = status & TDX_STATUS_CLASS_MASK;

    if (operand) {
        *operand = (uint32_t)(status & TDX_STATUS_OPERAND_MASK);
    }
    for (size_t i = 0; i < sizeof(status_names) / sizeof(status_names[0]); i++) {
        if (status_names[i].class == class) {
            return status_names[i].name;
        }
    }
    return NULL;
}

const char *tdx_status_format(uint64_t status, char *buf, unsigned len)
{
    uint32_t op;
    const char *name = tdx_status_name(status, &op);

    if (!name) {
        snprintf(buf, len, "%#llx", (unsigned long long)status);
    } else if (op) {
        snprintf(buf, len, "%s|%#x", name, op);
    } else {
        snprintf(buf, len, "%s", name);
    }
    return buf;
}
