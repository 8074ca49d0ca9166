/*
 * SHA-384 (FIPS 180-4), written for tdx-emu: the module measures the TD
 * (MRTD) with it.  Streaming interface so that TDH.MEM.PAGE.ADD and
 * TDH.MR.EXTEND can add 128-byte records one SEAMCALL at a time and
 * TDH.MR.FINALIZE can close the hash later.  No external crypto library.
 */
#ifndef TDX_EMU_SHA384_H
#define TDX_EMU_SHA384_H

#include <stddef.h>
#include <stdint.h>

#define TDX_SHA384_BLOCK_SIZE  128
#define TDX_SHA384_DIGEST_SIZE 48

typedef struct tdx_sha384_ctx {
    uint64_t h[8];
    /* Total message length in bytes; 2^64 bytes is far beyond any TD. */
    uint64_t total;
    uint8_t buf[TDX_SHA384_BLOCK_SIZE];
    size_t buflen;
} tdx_sha384_ctx;

void tdx_sha384_init(tdx_sha384_ctx *ctx);
void tdx_sha384_update(tdx_sha384_ctx *ctx, const void *data, size_t len);
/* Writes the 48-byte digest; the context must be re-initialised to reuse. */
void tdx_sha384_final(tdx_sha384_ctx *ctx, uint8_t out[TDX_SHA384_DIGEST_SIZE]);
void tdx_sha384(const void *data, size_t len,
                uint8_t out[TDX_SHA384_DIGEST_SIZE]);

#endif
