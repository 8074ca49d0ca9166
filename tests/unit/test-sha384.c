/* SHA-384 known-answer tests: FIPS 180-2 appendix D / NIST CSRC examples. */
#include "sha384.h"

#include <stdio.h>
#include <string.h>

static int failures;

static void hex(const uint8_t *d, char *out)
{
    for (int i = 0; i < TDX_SHA384_DIGEST_SIZE; i++) {
        sprintf(out + 2 * i, "%02x", d[i]);
    }
}

static void check(const char *name, const uint8_t *d, const char *want)
{
    char got[2 * TDX_SHA384_DIGEST_SIZE + 1];
    hex(d, got);
    if (strcmp(got, want)) {
        printf("FAIL %s\n  got  %s\n  want %s\n", name, got, want);
        failures++;
    } else {
        printf("ok %s\n", name);
    }
}

int main(void)
{
    uint8_t d[TDX_SHA384_DIGEST_SIZE];
    static const char two_block[] =
        "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmn"
        "hijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
    static const char want_abc[] =
        "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed"
        "8086072ba1e7cc2358baeca134c825a7";
    static const char want_two[] =
        "09330c33f71147e83d192fc782cd1b4753111b173b3b05d22fa08086e3b0f712"
        "fcc7c71a557e2db966c3e9fa91746039";
    static const char want_empty[] =
        "38b060a751ac96384cd9327eb1b1e36a21fdb71114be07434c0cc7bf63f6e1da"
        "274edebfe76f65fbd51ad2f14898b95b";
    static const char want_million_a[] =
        "9d0e1809716474cb086e834e310a4a1ced149e9c00f248527972cec5704c2a5b"
        "07b8b3dc38ecc4ebae97ddd87f3d8985";

    tdx_sha384("abc", 3, d);
    check("abc", d, want_abc);
    tdx_sha384(two_block, strlen(two_block), d);
    check("two-block", d, want_two);
    tdx_sha384("", 0, d);
    check("empty", d, want_empty);

    /* Streaming in odd-sized pieces must equal the one-shot result. */
    tdx_sha384_ctx ctx;
    tdx_sha384_init(&ctx);
    for (size_t i = 0; i < strlen(two_block); i += 7) {
        size_t n = strlen(two_block) - i < 7 ? strlen(two_block) - i : 7;
        tdx_sha384_update(&ctx, two_block + i, n);
    }
    tdx_sha384_final(&ctx, d);
    check("two-block streamed", d, want_two);

    static uint8_t a[1000];
    memset(a, 'a', sizeof(a));
    tdx_sha384_init(&ctx);
    for (int i = 0; i < 1000; i++) {
        tdx_sha384_update(&ctx, a, sizeof(a));
    }
    tdx_sha384_final(&ctx, d);
    check("million a", d, want_million_a);

    if (failures) {
        printf("%d failure(s)\n", failures);
        return 1;
    }
    return 0;
}
