/* Status decoding: the names and operand IDs every trace and test relies on. */
#include <stdio.h>
#include <string.h>

#include "tdx-status.h"

static int failures;

static void expect_name(uint64_t status, const char *want_name, uint32_t want_op)
{
    uint32_t op = ~0u;
    const char *got = tdx_status_name(status, &op);

    if (!got || strcmp(got, want_name) != 0 || op != want_op) {
        fprintf(stderr, "FAIL: status %#llx: expected %s operand %#x, got %s operand %#x\n",
                (unsigned long long)status, want_name, want_op,
                got ? got : "(null)", op);
        failures++;
    }
}

int main(void)
{
    expect_name(0, "TDX_SUCCESS", 0);
    expect_name(TDX_OPERAND_BUSY | TDX_OPERAND_ID_SEPT, "TDX_OPERAND_BUSY", 0x92);
    expect_name(TDX_OPERAND_BUSY_HOST_PRIORITY | TDX_OPERAND_ID_SEPT,
                "TDX_OPERAND_BUSY_HOST_PRIORITY", 0x92);
    if (tdx_status_name(0xC000FFFF00000000ULL, NULL) != NULL) {
        fprintf(stderr, "FAIL: unknown class: expected NULL name\n");
        failures++;
    }
    if (!tdx_status_is_error(TDX_OPERAND_BUSY) || tdx_status_is_error(TDX_SUCCESS)) {
        fprintf(stderr, "FAIL: tdx_status_is_error\n");
        failures++;
    }
    return failures ? 1 : 0;
}
