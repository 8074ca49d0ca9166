/*
 * libFuzzer target: random SEAMCALL sequences with random and "almost
 * right" register values against a fresh module per input. Whatever the
 * input, the module must return a status (no crash, no sanitizer report)
 * and its invariants must hold afterwards.
 *
 * Input: a sequence of 16-byte records
 *   [0] LP   [1] leaf   [2] register-choice bits   [3] injection byte
 *   [4..11] a 64-bit raw value   [12..15] spare
 * Each register takes either the raw value or a value that passes the
 * early checks (a real TDMR-info array, the first TDX KeyID, 0, a TDMR
 * base), so that the fuzzer reaches past operand validation.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define FUZZ_LPS 4
#define MAX_OPS  64

static const unsigned interesting_leaves[] = {
    TDH_SYS_INIT, TDH_SYS_LP_INIT, TDH_SYS_CONFIG, TDH_SYS_KEY_CONFIG,
    TDH_SYS_TDMR_INIT, TDH_SYS_RD, TDH_SYS_SHUTDOWN, TDH_SYS_UPDATE,
    TDH_SYS_LP_SHUTDOWN, TDH_SYS_DISABLE,
};
#define NUM_INTERESTING (sizeof(interesting_leaves) / sizeof(interesting_leaves[0]))

static uint64_t pick(uint8_t bits, int reg, uint64_t raw, uint64_t good)
{
    return (bits >> reg) & 1 ? good : raw;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct tdxt_platform *p;
    struct tdx_platform_desc d = tdxt_desc(FUZZ_LPS, 2);
    char err[256];
    uint64_t array;

    /* One RAM mapping for the whole run; a fresh module per input. */
    if (!p) {
        p = tdxt_new(&d);
    }
    tdx_module_destroy(p->m);
    p->m = tdx_module_create(&d, &tdxt_ops, p, err, sizeof(err));
    if (!p->m) {
        abort();
    }
    array = tdxt_write_tdmr_info(p);

    for (size_t i = 0; i + 16 <= size && i / 16 < MAX_OPS; i += 16) {
        const uint8_t *rec = data + i;
        uint64_t raw;
        struct tdx_regs r;
        unsigned leaf;

        memcpy(&raw, rec + 4, sizeof(raw));
        /* Mostly leaves the module knows; sometimes any 16-bit leaf with
         * version and reserved bits. */
        if (rec[1] < 0xF0) {
            leaf = interesting_leaves[rec[1] % NUM_INTERESTING];
        } else {
            leaf = (unsigned)(raw & 0xFFFFFF);
        }
        memset(&r, 0, sizeof(r));
        r.rcx = pick(rec[2], 0, raw, leaf == TDH_SYS_CONFIG ? array : 0);
        r.rdx = pick(rec[2], 1, raw >> 8, leaf == TDH_SYS_RD ? 0x0A00000300000008ULL : 1);
        r.r8 = pick(rec[2], 2, raw >> 16, 1);
        r.r9 = raw ^ 0x5555;
        if (rec[2] & 0x80) {
            /* Corrupt the TDMR info L1 handed us between calls. */
            uint64_t junk = raw;
            tdxt_mem_write(p, 0x2000 + (rec[3] & 0x1F) * 8, &junk, sizeof(junk));
        }
        if ((rec[3] & 0xE0) == 0xE0) {
            struct tdx_status_rule rule = {
                .leaf = TDX_INJECT_ANY_LEAF, .operand = TDX_INJECT_ANY_OPERAND,
                .when = TDX_INJECT_PROB, .p = (rec[3] & 0x1F) / 31.0,
            };
            tdx_inject_add_status_rule(p->m, &rule, err, sizeof(err));
        }
        r.rax = leaf;
        tdxt_seamcall(p->m, rec[0] % (FUZZ_LPS + 1), &r);
    }
    if (!tdx_core_check_invariants(p->m, err, sizeof(err))) {
        fprintf(stderr, "invariant broken: %s\n", err);
        abort();
    }
    return 0;
}
