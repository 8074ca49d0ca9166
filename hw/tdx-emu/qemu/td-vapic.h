/*
 * tdx-emu: the virtual APIC of a running TD vCPU, between the CPU model
 * (target/i386/td-apic.c) and the module core (core/td-apic.h). Same
 * rules as td-guest.h: called on the vCPU's own thread while in_td, with
 * or without the BQL; the state belongs to the vCPU's LP while it runs.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef HW_TDX_EMU_TD_VAPIC_H
#define HW_TDX_EMU_TD_VAPIC_H

#include "hw/core/cpu.h"

/* POSTED_INTR_NV of the TD vCPU if posted interrupts are on, else -1. */
int tdx_emu_td_pi_vector(CPUState *cs);
/* Posted-interrupt processing (the CPU consumed the notification vector
 * and EOIed L1's local APIC). */
void tdx_emu_td_pi_process(CPUState *cs);
/* A virtual interrupt above VPPR: true and *vector. */
bool tdx_emu_td_virq_pending(CPUState *cs, uint8_t *vector);
/* Virtual-interrupt delivery's APIC half (VIRR -> VISR); the vector. */
int tdx_emu_td_virq_ack(CPUState *cs);

typedef enum TdxEmuTdApicMsr {
    TDX_EMU_TD_APIC_MSR_NONE,   /* not virtualized: the normal MSR path */
    TDX_EMU_TD_APIC_MSR_DONE,
    TDX_EMU_TD_APIC_MSR_GP,     /* #GP(0) */
} TdxEmuTdApicMsr;

TdxEmuTdApicMsr tdx_emu_td_vapic_rdmsr(CPUState *cs, uint32_t msr, uint64_t *val);
TdxEmuTdApicMsr tdx_emu_td_vapic_wrmsr(CPUState *cs, uint32_t msr, uint64_t val);

#endif
