/*
 * tdx-emu: virtual APIC of a TD vCPU, the CPU half (td-apic.c; the state
 * and the rules live in the module core, hw/tdx-emu/core/td-apic.h).
 * Called from td-guest.c (interrupts, entry, exit) and tdx-emu-cpu.c
 * (RDMSR/WRMSR), only while env->tdx_emu_td.in_td. Include after cpu.h.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef TARGET_I386_TDX_EMU_APIC_H
#define TARGET_I386_TDX_EMU_APIC_H

/*
 * An L1 interrupt @intno, just acknowledged from L1's local APIC while
 * the TD runs: if it is the TD vCPU's posted-interrupt notification
 * vector, EOI L1's APIC, process the PID, try delivery; true (consumed,
 * no TD exit). False: an ordinary external-interrupt exit.
 */
bool tdx_emu_td_apic_intr(CPUState *cs, int intno);
/* CPU_INTERRUPT_VIRQ in a TD: deliver the pending virtual interrupt
 * through the TD's IDT if RFLAGS.IF = 1 and no interrupt shadow. */
void tdx_emu_td_apic_deliver(CPUState *cs);
/* CPU_INTERRUPT_VIRQ := a virtual interrupt is pending (entry, changes). */
void tdx_emu_td_apic_sync(CPUState *cs);
/*
 * x2APIC MSRs virtualized in a TD (0x800..0x8FF): TDX_EMU_MSR_HANDLED,
 * TDX_EMU_MSR_GP, or TDX_EMU_MSR_UNHANDLED (not virtualized: the normal
 * path).
 */
int tdx_emu_td_apic_rdmsr(CPUX86State *env, uint32_t index, uint64_t *val);
int tdx_emu_td_apic_wrmsr(CPUX86State *env, uint32_t index, uint64_t val);

#endif
