/*
 * P-SEAMLDR leaves (SEAMCALL with RAX bit 63 set).
 *
 * The emulated platform has a persistent SEAM loader that can report on
 * itself but cannot install or update a module: SEAMLDR.INFO answers with
 * zero remaining updates (the field Linux's tdx-host driver and the
 * module-update code read to decide whether an update is possible), and
 * every other loader leaf is refused as an unsupported call. Layout and
 * error values follow the "SEAM Loader (SEAMLDR) Interface Specification"
 * as Linux 7.2 uses it (asm/seamldr.h, virt/vmx/tdx/seamldr.c).
 */
#include <string.h>

#include "module.h"

#define SEAMLDR_INFO_SIZE     256
#define SEAMLDR_EBADPARAM     0x8000000000000000ULL   /* bad operand */
#define SEAMLDR_EBADCALL      0x8000000000000003ULL   /* leaf not supported */

/* Version the loader reports: an emulated 1.5 loader, build 0. */
#define SEAMLDR_MAJOR         1
#define SEAMLDR_MINOR         5

/* Little-endian stores into the 256-byte SEAMLDR_INFO image. */
static void put16(uint8_t *p, uint16_t v)
{
    p[0] = v;
    p[1] = v >> 8;
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, v);
    put16(p + 2, v >> 16);
}

/* SEAMLDR.INFO: RCX = physical address of a 256-byte aligned buffer. */
static uint64_t seamldr_info(struct tdx_module *m, unsigned lp,
                             struct tdx_regs *r)
{
    uint8_t info[SEAMLDR_INFO_SIZE] = { 0 };

    if ((r->rcx & (SEAMLDR_INFO_SIZE - 1)) ||
        (r->rcx >> tdx_keyid_shift(m)) ||
        !tdx_range_in_cmrs(m, r->rcx, r->rcx + SEAMLDR_INFO_SIZE)) {
        return SEAMLDR_EBADPARAM;
    }
    put32(info + 0, 0);                  /* structure version */
    put32(info + 4, 0);                  /* attributes: none */
    put32(info + 8, 0x8086);             /* vendor */
    put32(info + 12, 0);                 /* build date: unknown */
    put16(info + 16, 0);                 /* build number */
    put16(info + 18, SEAMLDR_MINOR);
    put16(info + 20, SEAMLDR_MAJOR);
    put16(info + 22, 0);                 /* update version */
    put32(info + 24, lp);                /* x2APIC ID of the caller */
    put32(info + 28, 0);                 /* num_remaining_updates: none */
    /* seam_info[128] at 32 stays zero: no module image identity to give. */
    info[160] = 1;                       /* seam_ready: module loaded */
    info[161] = 0;                       /* seam_debug */
    info[162] = 1;                       /* p_seam_ready */
    if (tdx_mem_write(m, r->rcx, info, sizeof(info))) {
        return SEAMLDR_EBADPARAM;
    }
    return TDX_SUCCESS;
}

uint64_t tdx_seamldr_call(struct tdx_module *m, unsigned lp,
                          struct tdx_regs *r)
{
    switch (r->rax) {
    case TDX_SEAMLDR_INFO:
        return seamldr_info(m, lp, r);
    default:
        return SEAMLDR_EBADCALL;
    }
}
