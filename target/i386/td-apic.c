/*
 * tdx-emu: virtual APIC of a TD vCPU, the CPU half (tdx-emu-apic.h).
 *
 * What the CPU does for a TD whose VMCS has "process posted interrupts",
 * "virtual-interrupt delivery" and "virtualize x2APIC mode" set (as the
 * TDX module sets them):
 *  - an L1 interrupt is acknowledged from L1's local APIC as for an
 *    external-interrupt exit; if its vector is the notification vector
 *    KVM configured, the CPU instead EOIs L1's APIC, processes the posted-
 *    interrupt descriptor (core: ON and PIR into VIRR/RVI) and stays in
 *    the TD;
 *  - a virtual interrupt above VPPR is delivered through the TD's IDT
 *    once RFLAGS.IF = 1 and no STI/MOV SS shadow is in effect. QEMU only
 *    looks for interrupts when cs->interrupt_request is non-zero, so the
 *    pending state is mirrored in CPU_INTERRUPT_VIRQ (the SVM virtual-
 *    interrupt bit, unused while in a TD), re-synchronised after every
 *    change and dropped at TD exit;
 *  - TPR, EOI and SELF_IPI writes and the readable virtual registers are
 *    handled without exit (core: tdx_vapic_rdmsr/wrmsr).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/main-loop.h"
#include "cpu.h"
#include "exec/address-spaces.h"
#include "hw/i386/apic.h"
#include "tcg/helper-tcg.h"
#include "tdx-emu-cpu.h"
#include "tdx-emu-apic.h"
#include "hw/tdx-emu/core/td-apic.h"

#define APIC_EOI_OFFSET   0xB0
#define X2APIC_EOI_INDEX  0x0B          /* (0x80B - 0x800) */

static struct tdx_td_run *run_of(CPUState *cs)
{
    return &X86_CPU(cs)->env.tdx_emu_td.run;
}

void tdx_emu_td_apic_sync(CPUState *cs)
{
    uint8_t vec;
    bool want = tdx_td_virq_pending(run_of(cs), &vec);
    bool have = qatomic_read(&cs->interrupt_request) & CPU_INTERRUPT_VIRQ;
    bool locked;

    if (want == have) {
        return;
    }
    locked = bql_locked();
    if (!locked) {
        bql_lock();
    }
    if (want) {
        cpu_interrupt(cs, CPU_INTERRUPT_VIRQ);  /* also ends the current TB */
    } else {
        cpu_reset_interrupt(cs, CPU_INTERRUPT_VIRQ);
    }
    if (!locked) {
        bql_unlock();
    }
}

/* The EOI the CPU writes to L1's local APIC after a notification. */
static void l1_apic_eoi(X86CPU *cpu)
{
    DeviceState *apic = cpu->apic_state;

    if (!apic) {
        return;
    }
    if (is_x2apic_mode(apic)) {
        apic_msr_write(X2APIC_EOI_INDEX, 0);
    } else {
        hwaddr base = cpu_get_apic_base(apic) & MSR_IA32_APICBASE_BASE;

        address_space_stl_le(&address_space_memory, base + APIC_EOI_OFFSET, 0,
                             MEMTXATTRS_UNSPECIFIED, NULL);
    }
}

void tdx_emu_td_apic_deliver(CPUState *cs)
{
    CPUX86State *env = cpu_env(cs);
    uint8_t vec;

    if (tdx_td_virq_pending(run_of(cs), &vec) && (env->eflags & IF_MASK) &&
        !(env->hflags & HF_INHIBIT_IRQ_MASK)) {
        vec = tdx_td_virq_ack(run_of(cs)->m, run_of(cs));
        do_interrupt_x86_hardirq(env, vec, 1);
    }
    tdx_emu_td_apic_sync(cs);
}

bool tdx_emu_td_apic_intr(CPUState *cs, int intno)
{
    int nv = tdx_td_pi_vector(run_of(cs));

    if (nv < 0 || intno != nv) {
        return false;
    }
    l1_apic_eoi(X86_CPU(cs));
    tdx_td_pi_process(run_of(cs)->m, run_of(cs));
    tdx_emu_td_apic_deliver(cs);
    return true;
}

/* The core's answer as the CPU's MSR hook result (tdx-emu-cpu.h). */
static int map_result(enum tdx_vapic_msr r)
{
    switch (r) {
    case TDX_VAPIC_MSR_DONE:
        return TDX_EMU_MSR_HANDLED;
    case TDX_VAPIC_MSR_GP:
        return TDX_EMU_MSR_GP;
    default:
        return TDX_EMU_MSR_UNHANDLED;
    }
}

int tdx_emu_td_apic_rdmsr(CPUX86State *env, uint32_t index, uint64_t *val)
{
    if (index < 0x800 || index > 0x8FF) {
        return TDX_EMU_MSR_UNHANDLED;
    }
    return map_result(tdx_td_apic_rdmsr(&env->tdx_emu_td.run, index, val));
}

int tdx_emu_td_apic_wrmsr(CPUX86State *env, uint32_t index, uint64_t val)
{
    int r;

    if (index < 0x800 || index > 0x8FF) {
        return TDX_EMU_MSR_UNHANDLED;
    }
    r = map_result(tdx_td_apic_wrmsr(env->tdx_emu_td.run.m, &env->tdx_emu_td.run,
                                       index, val));
    if (r == TDX_EMU_MSR_HANDLED) {
        /* EOI, TPR or self-IPI may have made a vector deliverable. */
        tdx_emu_td_apic_sync(env_cpu(env));
    }
    return r;
}
