/* Names for TDX completion statuses, for traces, HMP and test messages. */
#include <stddef.h>

#include "tdx-status.h"

struct status_name {
    uint64_t class;
    const char *name;
};

static const struct status_name status_names[] = {
    { TDX_SUCCESS,                    "TDX_SUCCESS" },
    { TDX_OPERAND_BUSY,               "TDX_OPERAND_BUSY" },
    { TDX_OPERAND_BUSY_HOST_PRIORITY, "TDX_OPERAND_BUSY_HOST_PRIORITY" },
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
