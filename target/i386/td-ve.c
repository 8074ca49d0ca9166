/*
 * tdx-emu: TD-guest mode, #VE for the instructions a TDX module
 * virtualizes that way (CPUID outside the module's table, port I/O, HLT,
 * MSRs on the #VE list). The decision and VE_INFO belong to the module
 * core (hw/tdx-emu/core/td-ve.h, tdx_td_ve()); this
 * file finds the instruction's length and I/O qualification and raises
 * the exception the module would inject: #VE (vector 20) as a fault, RIP
 * on the instruction, or #DF when VE_INFO is still valid.
 *
 * Simplification: HLT is taken to be the one-byte F4 (QEMU has already
 * moved RIP past it when the hook runs).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "cpu.h"
#include "exec/exec-all.h"
#include "exec/cpu_ldst.h"
#include "tcg/helper-tcg.h"
#include "tdx-emu-td.h"
#include "hw/tdx-emu/core/td-ve.h"

#define EXCP_VE 20

/* VMX I/O exit qualification */
#define IOQ_IN          (1u << 3)
#define IOQ_STRING      (1u << 4)
#define IOQ_REP         (1u << 5)
#define IOQ_IMM         (1u << 6)

static G_NORETURN void raise_ve_or_df(CPUX86State *env, enum tdx_ve_action a)
{
    if (a == TDX_VE_DOUBLE) {
        raise_exception_err(env, EXCP08_DBLE, 0);
    }
    raise_exception(env, EXCP_VE);
}

/*
 * Decode the instruction at env->eip (state already restored): its length
 * and, for I/O instructions, the VMX exit qualification. Legacy prefixes
 * and REX are skipped; at most 15 bytes.
 */
static unsigned decode(CPUX86State *env, uint64_t *io_qual)
{
    target_ulong pc = env->segs[R_CS].base + env->eip;
    bool opsize = false, rep = false;
    unsigned n = 0, size;
    uint8_t b;

    for (;;) {
        b = cpu_ldub_code(env, pc + n);
        if (n < 14 && (b == 0x66 || b == 0x67 || b == 0xF2 || b == 0xF3 ||
                       b == 0x26 || b == 0x2E || b == 0x36 || b == 0x3E ||
                       b == 0x64 || b == 0x65 || b == 0xF0 ||
                       ((env->hflags & HF_LMA_MASK) && (b & 0xF0) == 0x40))) {
            opsize |= b == 0x66;
            rep |= b == 0xF2 || b == 0xF3;
            n++;
            continue;
        }
        break;
    }
    n++;                                    /* the opcode byte */
    if (b == 0x0F) {
        return n + 1;                       /* 0F A2 / 0F 30 / 0F 32 */
    }
    /* Operand size of the 16/32-bit forms: 0x66 flips the CS default. */
    size = (env->hflags & HF_CS32_MASK) ? (opsize ? 2 : 4) : (opsize ? 4 : 2);
    switch (b) {
    case 0xE4: case 0xE5: case 0xE6: case 0xE7:     /* IN/OUT imm8 */
        *io_qual = ((b & 1) ? size : 1) - 1;
        *io_qual |= (b & 2) ? 0 : IOQ_IN;
        *io_qual |= IOQ_IMM | (uint64_t)cpu_ldub_code(env, pc + n) << 16;
        return n + 1;
    case 0xEC: case 0xED: case 0xEE: case 0xEF:     /* IN/OUT DX */
        *io_qual = ((b & 1) ? size : 1) - 1;
        *io_qual |= (b & 2) ? 0 : IOQ_IN;
        *io_qual |= (env->regs[R_EDX] & 0xFFFF) << 16;
        return n;
    case 0x6C: case 0x6D: case 0x6E: case 0x6F:     /* INS/OUTS */
        *io_qual = ((b & 1) ? size : 1) - 1;
        *io_qual |= (b & 2) ? 0 : IOQ_IN;
        *io_qual |= IOQ_STRING | (rep ? IOQ_REP : 0);
        *io_qual |= (env->regs[R_EDX] & 0xFFFF) << 16;
        return n;
    default:
        return n;
    }
}

/* The module's decision for an intercepted instruction of the TD. */
static enum tdx_ve_action td_ve(CPUX86State *env, const struct tdx_ve_event *ev)
{
    const struct tdx_td_run *run = &env->tdx_emu_td.run;

    return tdx_td_ve(run->m, run->vcpu, ev);
}

static unsigned cpl_of(CPUX86State *env)
{
    return env->hflags & HF_CPL_MASK;
}

void tdx_emu_td_ve_intercept(CPUX86State *env, uint32_t type, uint64_t param,
                             uintptr_t retaddr)
{
    struct tdx_ve_event ev = { .cpl = cpl_of(env) };
    struct tdx_vcpu *v = env->tdx_emu_td.run.vcpu;
    uint64_t unused = 0;
    enum tdx_ve_action a;

    switch (type) {
    case SVM_EXIT_CPUID:
        ev.exit_reason = TDX_EXIT_REASON_CPUID;
        ev.leaf = env->regs[R_EAX];
        ev.subleaf = env->regs[R_ECX];
        if (!tdx_ve_cpuid_faults(v, ev.leaf, ev.subleaf, ev.cpl)) {
            return;
        }
        break;
    case SVM_EXIT_MSR:
        ev.exit_reason = param ? TDX_EXIT_REASON_WRMSR : TDX_EXIT_REASON_RDMSR;
        ev.msr = env->regs[R_ECX];
        if (!tdx_ve_msr_faults(ev.msr, param != 0)) {
            return;
        }
        break;
    default:
        return;
    }
    /* A #VE: only now sync RIP (restoring state on the "no #VE" path would
     * disturb the TB that goes on running). */
    cpu_restore_state(env_cpu(env), retaddr);
    ev.instr_len = decode(env, &unused);
    a = td_ve(env, &ev);
    if (a != TDX_VE_NONE) {
        raise_ve_or_df(env, a);
    }
    /* Not reached: the core decides as tdx_ve_*_faults did. */
}

void tdx_emu_td_io(CPUX86State *env, uintptr_t retaddr)
{
    struct tdx_ve_event ev = { .exit_reason = TDX_EXIT_REASON_IO,
                               .cpl = cpl_of(env) };
    enum tdx_ve_action a;

    cpu_restore_state(env_cpu(env), retaddr);
    ev.instr_len = decode(env, &ev.qualification);
    a = td_ve(env, &ev);
    if (a != TDX_VE_NONE) {
        raise_ve_or_df(env, a);
    }
}

G_NORETURN void tdx_emu_td_ve_hlt(CPUX86State *env)
{
    struct tdx_ve_event ev = { .exit_reason = TDX_EXIT_REASON_HLT, .instr_len = 1,
                               .cpl = cpl_of(env) };

    env->eip -= 1;                      /* back on the HLT: a fault */
    raise_ve_or_df(env, td_ve(env, &ev));
}

void tdx_emu_td_cpuid(CPUX86State *env, uint32_t leaf, uint32_t subleaf,
                      uint32_t *eax, uint32_t *ebx, uint32_t *ecx,
                      uint32_t *edx)
{
    uint32_t looked_up = tdx_td_cpuid_leaf(leaf);
    uint32_t r[4] = { 0 };

    /*
     * The module's values start from the CPU's own for the leaf it looks
     * up; a leaf beyond the CPU's maximum is all zeros there (not the
     * highest leaf's values that the CPU would return).
     */
    if (looked_up < 0x80000000u ? looked_up <= env->cpuid_level
                                : looked_up <= env->cpuid_xlevel) {
        cpu_x86_cpuid(env, looked_up, subleaf, &r[0], &r[1], &r[2], &r[3]);
    }
    tdx_td_run_cpuid(&env->tdx_emu_td.run, looked_up, subleaf, r);
    *eax = r[0];
    *ebx = r[1];
    *ecx = r[2];
    *edx = r[3];
}
