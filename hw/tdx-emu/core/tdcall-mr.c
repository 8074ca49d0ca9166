/*
 * Guest measurement leaves: TDG.MR.RTMR.EXTEND (2) and TDG.MR.REPORT (4).
 *
 * Facts (Intel tdx_1.5 TD dispatcher):
 *  - RTMR.EXTEND: RCX = GPA of 48 bytes, 64-byte aligned (else
 *    OPERAND_INVALID|RCX); the GPA must translate through the S-EPT to a
 *    mapped private page (else OPERAND_INVALID|RCX); RDX = index < 4 (else
 *    OPERAND_INVALID|RDX, checked after the GPA); then the TDCS RTMR lock
 *    (hp sharex, exclusive, as a guest: busy -> OPERAND_BUSY|RTMR);
 *    RTMR[i] = SHA-384(RTMR[i] || data).
 *  - REPORT: RCX = GPA of the 1024-byte TDREPORT_STRUCT (1024-aligned,
 *    else |RCX), RDX = GPA of the 64-byte REPORTDATA (64-aligned, else
 *    |RDX), R8 = subtype, must be 0 (else |R8; checked after REPORTDATA
 *    is mapped). Layout: REPORTMACSTRUCT (256: REPORTTYPE {0x81, subtype,
 *    version 0}, CPUSVN, TEE_TCB_INFO hash, TEE_INFO hash = SHA-384 of
 *    TDINFO, REPORTDATA, MAC), TEE_TCB_INFO (256), TDINFO (512:
 *    ATTRIBUTES, XFAM, MRTD, MRCONFIGID, MROWNER, MROWNERCONFIG, RTMR[4],
 *    SERVTD_HASH).
 *
 * Simplifications: the GPAs must be private (the module also accepts a
 * shared REPORT buffer); a GPA that does not translate is OPERAND_INVALID
 * rather than an EPT-violation TD exit or #VE; REPORT takes the RTMR lock
 * shared to read a consistent TDINFO. The MAC is not a MAC: it is
 * SHA-384(REPORTMACSTRUCT bytes 0..191) truncated to 32 bytes, a
 * documented, non-secret value (no CPU key exists here); CPUSVN,
 * TEE_TCB_SVN, MRSEAM and MRSIGNERSEAM are zero.
 */
#include <string.h>

#include "sept.h"
#include "sha384.h"
#include "td.h"

#define RTMR_DATA_SIZE      48
#define REPORT_SIZE         1024
#define REPORTDATA_SIZE     64
#define REPORT_TYPE_TDX     0x81

/* Offsets in TDREPORT_STRUCT. */
#define RPT_TYPE            0
#define RPT_CPUSVN          16
#define RPT_TEE_TCB_HASH    32
#define RPT_TEE_INFO_HASH   80
#define RPT_REPORTDATA      128
#define RPT_MAC             224
#define RPT_TEE_TCB_INFO    256
#define RPT_TDINFO          512
#define TDINFO_SIZE         512
#define TDINFO_ATTRIBUTES   0
#define TDINFO_XFAM         8
#define TDINFO_MRTD         16
#define TDINFO_MRCONFIGID   64
#define TDINFO_MROWNER      112
#define TDINFO_MROWNERCFG   160
#define TDINFO_RTMR         208
#define TEE_TCB_VALID_MASK  0x3FFFFFFFFFULL     /* VALID: bits of present fields */

/* Host PA of private `gpa` for `len` bytes within one page, or false. */
static bool guest_private_pa(struct tdx_td *td, uint64_t gpa, unsigned want,
                             uint64_t *hpa)
{
    unsigned width = td->cfg.gpaw ? 52 : 48;

    if (gpa >> (width - 1)) {
        return false;           /* shared or beyond the GPA width */
    }
    return tdx_sept_translate(td, gpa, want, hpa, NULL, NULL, NULL) ==
           TDX_XLATE_OK;
}

static void put64(uint8_t *p, uint64_t v)
{
    for (unsigned i = 0; i < 8; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

/* ---- TDG.MR.RTMR.EXTEND (2) ------------------------------------------------ */

uint64_t tdx_tdg_mr_rtmr_extend(struct tdx_call *c, struct tdx_regs *r)
{
    struct tdx_td *td = c->vcpu->td;
    const uint64_t gpa = r->rcx, index = r->rdx;
    uint8_t buf[2 * RTMR_DATA_SIZE];
    uint64_t hpa, st;

    c->gpa = gpa;
    if (gpa & 63) {
        return TDX_OPERAND_INVALID | TDX_OPERAND_ID_RCX;
    }
    if (!guest_private_pa(td, gpa, TDX_ACCESS_READ, &hpa) ||
        tdx_mem_read(c->m, hpa, buf + RTMR_DATA_SIZE, RTMR_DATA_SIZE)) {
        return TDX_OPERAND_INVALID | TDX_OPERAND_ID_RCX;
    }
    if (index >= 4) {
        return TDX_OPERAND_INVALID | TDX_OPERAND_ID_RDX;
    }
    st = tdx_call_lock(c, &td->rtmr_lock, TDX_LOCK_HP_SHAREX,
                       TDX_LOCK_EXCLUSIVE,
                       TDX_OPERAND_BUSY | TDX_OPERAND_ID_RTMR);
    if (st != TDX_SUCCESS) {
        return st;
    }

    /* Cannot fail from here. */
    memcpy(buf, td->rtmr[index], RTMR_DATA_SIZE);
    tdx_sha384(buf, sizeof(buf), td->rtmr[index]);
    return TDX_SUCCESS;
}

/* ---- TDG.MR.REPORT (4) -------------------------------------------------------- */

uint64_t tdx_tdg_mr_report(struct tdx_call *c, struct tdx_regs *r)
{
    struct tdx_td *td = c->vcpu->td;
    const uint64_t report_gpa = r->rcx, data_gpa = r->rdx, subtype = r->r8;
    static uint8_t zero_hash[48];
    uint8_t rpt[REPORT_SIZE], hash[48];
    uint64_t data_hpa, report_hpa, st;

    c->gpa = report_gpa;
    if (report_gpa & (REPORT_SIZE - 1)) {
        return TDX_OPERAND_INVALID | TDX_OPERAND_ID_RCX;
    }
    if (data_gpa & (REPORTDATA_SIZE - 1)) {
        return TDX_OPERAND_INVALID | TDX_OPERAND_ID_RDX;
    }
    if (!guest_private_pa(td, data_gpa, TDX_ACCESS_READ, &data_hpa)) {
        return TDX_OPERAND_INVALID | TDX_OPERAND_ID_RDX;
    }
    if (subtype != 0) {
        return TDX_OPERAND_INVALID | TDX_OPERAND_ID_R8;
    }
    if (!guest_private_pa(td, report_gpa, TDX_ACCESS_READ | TDX_ACCESS_WRITE,
                          &report_hpa)) {
        return TDX_OPERAND_INVALID | TDX_OPERAND_ID_RCX;
    }
    memset(rpt, 0, sizeof(rpt));
    if (tdx_mem_read(c->m, data_hpa, rpt + RPT_REPORTDATA, REPORTDATA_SIZE)) {
        return TDX_OPERAND_INVALID | TDX_OPERAND_ID_RDX;
    }
    st = tdx_call_lock(c, &td->rtmr_lock, TDX_LOCK_HP_SHAREX, TDX_LOCK_SHARED,
                       TDX_OPERAND_BUSY | TDX_OPERAND_ID_RTMR);
    if (st != TDX_SUCCESS) {
        return st;
    }

    /* TDINFO */
    put64(rpt + RPT_TDINFO + TDINFO_ATTRIBUTES, td->cfg.attributes);
    put64(rpt + RPT_TDINFO + TDINFO_XFAM, td->cfg.xfam);
    memcpy(rpt + RPT_TDINFO + TDINFO_MRTD,
           td->mr.finalized ? td->mr.mrtd : zero_hash, 48);
    memcpy(rpt + RPT_TDINFO + TDINFO_MRCONFIGID, td->cfg.mrconfigid, 48);
    memcpy(rpt + RPT_TDINFO + TDINFO_MROWNER, td->cfg.mrowner, 48);
    memcpy(rpt + RPT_TDINFO + TDINFO_MROWNERCFG, td->cfg.mrownerconfig, 48);
    memcpy(rpt + RPT_TDINFO + TDINFO_RTMR, td->rtmr, sizeof(td->rtmr));
    /* TEE_TCB_INFO: all fields zero but VALID (a zero SEAM measurement). */
    put64(rpt + RPT_TEE_TCB_INFO, TEE_TCB_VALID_MASK);
    /* REPORTMACSTRUCT */
    rpt[RPT_TYPE] = REPORT_TYPE_TDX;
    rpt[RPT_TYPE + 1] = 0;                  /* subtype */
    rpt[RPT_TYPE + 2] = 0;                  /* version: no service TDs */
    tdx_sha384(rpt + RPT_TEE_TCB_INFO, 256, rpt + RPT_TEE_TCB_HASH);
    tdx_sha384(rpt + RPT_TDINFO, TDINFO_SIZE, rpt + RPT_TEE_INFO_HASH);
    tdx_sha384(rpt, RPT_REPORTDATA + REPORTDATA_SIZE, hash);
    memcpy(rpt + RPT_MAC, hash, 32);

    /* Cannot fail from here (the report page is mapped and writable). */
    if (tdx_mem_write(c->m, report_hpa, rpt, sizeof(rpt))) {
        return TDX_OPERAND_INVALID | TDX_OPERAND_ID_RCX;   /* not RAM: embedder */
    }
    return TDX_SUCCESS;
}
