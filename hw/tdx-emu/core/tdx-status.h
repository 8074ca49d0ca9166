/*
 * TDX completion status codes as the module returns them in RAX.
 * Values: Intel TDX module ABI spec, mirrored by Linux's
 * arch/x86/include/asm/shared/tdx_errno.h.
 */
#ifndef TDX_EMU_STATUS_H
#define TDX_EMU_STATUS_H

#include <stdbool.h>
#include <stdint.h>

/* Bits 63:32 carry the class/code, bits 31:0 the operand ID or detail. */
#define TDX_STATUS_CLASS_MASK   0xFFFFFFFF00000000ULL
#define TDX_STATUS_OPERAND_MASK 0x00000000FFFFFFFFULL

#define TDX_SUCCESS                      0x0000000000000000ULL
#define TDX_OPERAND_BUSY                 0x8000020000000000ULL
#define TDX_OPERAND_BUSY_HOST_PRIORITY   0x8000020400000000ULL

/* Operand IDs reported in bits 31:0 with TDX_OPERAND_BUSY and friends. */
enum tdx_operand_id {
    TDX_OPERAND_ID_RCX      = 0x01,
    TDX_OPERAND_ID_RDX      = 0x02,
    TDX_OPERAND_ID_R8       = 0x08,
    TDX_OPERAND_ID_TDR      = 0x80,
    TDX_OPERAND_ID_TDCS     = 0x81,
    TDX_OPERAND_ID_TDVPR    = 0x90,
    TDX_OPERAND_ID_SEPT     = 0x92,
    TDX_OPERAND_ID_TD_EPOCH = 0xA9,
    TDX_OPERAND_ID_SYS      = 0xB8,
};

/* True for any error status (bit 63). */
static inline bool tdx_status_is_error(uint64_t status)
{
    return (status >> 63) & 1;
}

/*
 * Split a status into class and operand; returns a static, human-readable
 * name for the class ("TDX_OPERAND_BUSY", ...), or NULL when unknown.
 */
const char *tdx_status_name(uint64_t status, uint32_t *operand);

#endif
