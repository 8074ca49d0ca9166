/*
 * tdx-emu: glue for the virtual APIC of a running TD vCPU (td-vapic.h):
 * finds the vCPU's run record and the module, and maps the core's answers.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "target/i386/cpu.h"
#include "td-vapic.h"
#include "tdx-emu.h"
#include "../core/tdx-core.h"
#include "../core/td-apic.h"

static TdxEmuState *platform_of(CPUState *cs)
{
    return X86_CPU(cs)->env.tdx_emu_cfg.platform;
}

static struct tdx_td_run *run_of(CPUState *cs)
{
    return &platform_of(cs)->td_runs[cs->cpu_index];
}

int tdx_emu_td_pi_vector(CPUState *cs)
{
    return tdx_td_pi_vector(run_of(cs));
}

void tdx_emu_td_pi_process(CPUState *cs)
{
    tdx_td_pi_process(platform_of(cs)->module, run_of(cs));
}

bool tdx_emu_td_virq_pending(CPUState *cs, uint8_t *vector)
{
    return tdx_td_virq_pending(run_of(cs), vector);
}

int tdx_emu_td_virq_ack(CPUState *cs)
{
    return tdx_td_virq_ack(platform_of(cs)->module, run_of(cs));
}

static TdxEmuTdApicMsr map_msr(enum tdx_vapic_msr r)
{
    switch (r) {
    case TDX_VAPIC_MSR_DONE:
        return TDX_EMU_TD_APIC_MSR_DONE;
    case TDX_VAPIC_MSR_GP:
        return TDX_EMU_TD_APIC_MSR_GP;
    default:
        return TDX_EMU_TD_APIC_MSR_NONE;
    }
}

TdxEmuTdApicMsr tdx_emu_td_vapic_rdmsr(CPUState *cs, uint32_t msr, uint64_t *val)
{
    return map_msr(tdx_td_apic_rdmsr(run_of(cs), msr, val));
}

TdxEmuTdApicMsr tdx_emu_td_vapic_wrmsr(CPUState *cs, uint32_t msr, uint64_t val)
{
    return map_msr(tdx_td_apic_wrmsr(platform_of(cs)->module, run_of(cs), msr, val));
}
