/*
 * TD build-time measurement (MRTD).  TDH.MNG.INIT starts the hash,
 * TDH.MEM.PAGE.ADD and TDH.MR.EXTEND add 128-byte records, and
 * TDH.MR.FINALIZE closes it.  Callers hold the TD's TDR exclusively
 * (that is what serialises measurement in the real module), so the
 * context needs no lock of its own.
 */
#ifndef TDX_EMU_MEASURE_H
#define TDX_EMU_MEASURE_H

#include <stdbool.h>
#include <stdint.h>

#include "sha384.h"

#define TDX_MR_EXTEND_CHUNK 256

struct tdx_mrtd {
    tdx_sha384_ctx ctx;
    uint8_t mrtd[TDX_SHA384_DIGEST_SIZE];  /* valid once finalized */
    bool started;
    bool finalized;
};

/* TDH.MNG.INIT: start a fresh measurement. */
void tdx_mrtd_start(struct tdx_mrtd *m);

/*
 * Add the 128-byte record the module hashes for a measured SEAMCALL:
 * bytes 0..15 the leaf name in ASCII, zero padded; bytes 16..23 the GPA,
 * little endian; the rest zero.
 */
void tdx_mrtd_record(struct tdx_mrtd *m, const char *leaf_name, uint64_t gpa);

/*
 * For TDH.MEM.PAGE.ADD: the page's GPA is measured ("MEM.PAGE.ADD"
 * record), its contents are not (that is MR.EXTEND's job).
 */
void tdx_mrtd_page_add(struct tdx_mrtd *m, uint64_t gpa);

/* For TDH.MR.EXTEND: "MR.EXTEND" record, then the 256 data bytes. */
void tdx_mrtd_extend(struct tdx_mrtd *m, uint64_t gpa,
                     const uint8_t data[TDX_MR_EXTEND_CHUNK]);

/* TDH.MR.FINALIZE: close the hash into m->mrtd. */
void tdx_mrtd_finalize(struct tdx_mrtd *m);

#endif
