/*
 * TDX completion status codes as the module returns them in RAX.
 * The values live in tdx-status-list.h (one table, used for the constants
 * and for their names).
 */
#ifndef TDX_EMU_STATUS_H
#define TDX_EMU_STATUS_H

#include <stdbool.h>
#include <stdint.h>

/* Bits 63:32 carry the class/code, bits 31:0 the operand ID or detail. */
#define TDX_STATUS_CLASS_MASK   0xFFFFFFFF00000000ULL
#define TDX_STATUS_OPERAND_MASK 0x00000000FFFFFFFFULL


#define X(name, value) static const uint64_t name = value;
#include "tdx-status-list.h"
#undef X

/*
 * Operand IDs reported in bits 31:0 with TDX_OPERAND_INVALID,
 * TDX_OPERAND_BUSY and friends (Intel tdx_1.5 ABI; Linux's tdx_errno.h
 * names RCX, TDR, SEPT and TD_EPOCH). Registers are 0..15 in the usual
 * x86 encoding; IDs from 0x40 name TD_PARAMS fields, from 0x80 module
 * objects and their locks.
 */
enum tdx_operand_id {
    TDX_OPERAND_ID_RAX             = 0x00,
    TDX_OPERAND_ID_RCX             = 0x01,
    TDX_OPERAND_ID_RDX             = 0x02,
    TDX_OPERAND_ID_RBX             = 0x03,
    TDX_OPERAND_ID_RBP             = 0x05,
    TDX_OPERAND_ID_RSI             = 0x06,
    TDX_OPERAND_ID_RDI             = 0x07,
    TDX_OPERAND_ID_R8              = 0x08,
    TDX_OPERAND_ID_R9              = 0x09,
    TDX_OPERAND_ID_R10             = 0x0A,
    TDX_OPERAND_ID_R11             = 0x0B,
    TDX_OPERAND_ID_R12             = 0x0C,
    TDX_OPERAND_ID_R13             = 0x0D,
    TDX_OPERAND_ID_R14             = 0x0E,
    TDX_OPERAND_ID_R15             = 0x0F,
    TDX_OPERAND_ID_ATTRIBUTES      = 0x40,
    TDX_OPERAND_ID_XFAM            = 0x41,
    TDX_OPERAND_ID_EXEC_CONTROLS   = 0x42,
    TDX_OPERAND_ID_EPTP_CONTROLS   = 0x43,
    TDX_OPERAND_ID_MAX_VCPUS       = 0x44,
    TDX_OPERAND_ID_CPUID_CONFIG    = 0x45,
    TDX_OPERAND_ID_TSC_FREQUENCY   = 0x46,
    TDX_OPERAND_ID_NUM_L2_VMS      = 0x47,
    TDX_OPERAND_ID_IA32_ARCH_CAPABILITIES_CONFIG = 0x48,
    TDX_OPERAND_ID_PAGE            = 0x5F,
    TDX_OPERAND_ID_TDMR_INFO_PA    = 0x60,
    TDX_OPERAND_ID_GPA_LIST_ENTRY  = 0x61,
    TDX_OPERAND_ID_MIG_BUFF_LIST_ENTRY = 0x62,
    TDX_OPERAND_ID_NEW_PAGE_LIST_ENTRY = 0x63,
    TDX_OPERAND_ID_TDR             = 0x80,
    TDX_OPERAND_ID_TDCX            = 0x81,
    TDX_OPERAND_ID_TDVPR           = 0x82,
    TDX_OPERAND_ID_REG_PAGE        = 0x84,
    TDX_OPERAND_ID_TDCS            = 0x90,
    TDX_OPERAND_ID_TDVPS           = 0x91,
    TDX_OPERAND_ID_SEPT            = 0x92,   /* the S-EPT tree lock */
    TDX_OPERAND_ID_SEPT_ENTRY      = 0x93,
    TDX_OPERAND_ID_RTMR            = 0xA8,
    TDX_OPERAND_ID_TD_EPOCH        = 0xA9,
    TDX_OPERAND_ID_L2_VAPIC_GPA    = 0xAA,
    TDX_OPERAND_ID_MIGSC           = 0xAB,
    TDX_OPERAND_ID_OP_STATE        = 0xAC,
    TDX_OPERAND_ID_MIG             = 0xAD,
    TDX_OPERAND_ID_SERVTD_BINDINGS = 0xAE,
    TDX_OPERAND_ID_METADATA_FIELD  = 0xB0,
    TDX_OPERAND_ID_SYS             = 0xB8,
    TDX_OPERAND_ID_TDMR            = 0xB9,
    TDX_OPERAND_ID_KOT             = 0xBA,
    TDX_OPERAND_ID_KET             = 0xBB,
    TDX_OPERAND_ID_WBCACHE         = 0xBC,
};

/*
 * Detail bytes some statuses carry in bits 31:0 instead of one operand ID
 * (TDH.SYS.CONFIG's TDMR errors: byte 0 the TDMR index, byte 1 a PAMT
 * level or reserved-area index, byte 2 the other TDMR index).
 */
static inline uint64_t tdx_status_detail(uint64_t status, uint8_t b0, uint8_t b1,
                                         uint8_t b2, uint8_t b3)
{
    return status | b0 | ((uint64_t)b1 << 8) | ((uint64_t)b2 << 16) |
           ((uint64_t)b3 << 24);
}

/* True for any error status (bit 63). */
static inline bool tdx_status_is_error(uint64_t status)
{
    return (status >> 63) & 1;
}

static inline uint64_t tdx_status_class(uint64_t status)
{
    return status & TDX_STATUS_CLASS_MASK;
}

/*
 * Split a status into class and operand; returns a static, human-readable
 * name for the class ("TDX_OPERAND_BUSY", ...), or NULL when unknown.
 */
const char *tdx_status_name(uint64_t status, uint32_t *operand);

/* Formats "NAME|0xOP" (or the raw value) into buf; returns buf. */
const char *tdx_status_format(uint64_t status, char *buf, unsigned len);

#endif
