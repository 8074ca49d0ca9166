/*
 * tdx-emu: TD-guest mode, the CPU's side of a TD run (contract with the
 * module core: struct tdx_td_run and the entry points in
 * hw/tdx-emu/core/tdx-core.h; life of a run: tdx-emu-td.h).
 *
 * A TD vCPU runs on the TCG vCPU of the L1 logical processor that executed
 * TDH.VP.ENTER, like an SVM guest after VMRUN (svm_helper.c): entry saves
 * L1's state in env->tdx_emu_td, loads the TD vCPU's state from the core
 * and ends the TB; TD exit does the reverse and completes L1's SEAMCALL.
 * In between:
 *
 *  - address translation: the TD's page walk and final addresses go
 *    through MMU_NESTED_IDX, whose fills (excp_helper.c) ask td-ept.c
 *    (tdx_emu_td_translate) instead of walking an NPT;
 *  - TDCALL goes to the module core (tdx_tdcall);
 *  - L1 interrupts, INIT, SMI and triple fault end the run, except the
 *    posted-interrupt notification vector, which td-apic.c consumes
 *    (virtual interrupts then reach the TD through its IDT);
 *  - HLT, CPUID, port I/O and MSRs on the #VE list raise #VE (td-ve.c).
 *
 * Everything here runs on the vCPU's own thread. Exits raised from
 * x86_cpu_exec_interrupt() and the INIT path run with the BQL held (QEMU
 * holds it there); all others without.
 *
 * Not modelled (TD code acts on L1's CPU as if it were L1): MSR accesses
 * the module handles (not #VE) other than the ones switched here and the
 * TD's x2APIC (td-apic.c), debug registers, CR8 (L1's APIC), CPUID leaves
 * the module virtualizes (L1's values), MONITOR/MWAIT. A real TDX module
 * virtualizes these.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "cpu.h"
#include "exec/cputlb.h"
#include "exec/exec-all.h"
#include "exec/page-protection.h"
#include "tcg/helper-tcg.h"
#include "tdx-emu-td.h"
#include "tdx-emu-apic.h"

#define EXCP_VE 20

/* The bits of SegmentCache.flags that are descriptor attributes. */
#define SEG_ATTR_MASK 0x00ffff00u

QEMU_BUILD_BUG_ON(sizeof(struct tdx_vcpu_arch) > TDX_EMU_L1_SAVE_SIZE);
QEMU_BUILD_BUG_ON(TDX_ACCESS_READ != PAGE_READ ||
                  TDX_ACCESS_WRITE != PAGE_WRITE ||
                  TDX_ACCESS_FETCH != PAGE_EXEC);

static struct tdx_vcpu_arch *td_l1_save(CPUX86State *env)
{
    return (struct tdx_vcpu_arch *)env->tdx_emu_td.l1_save;
}

void tdx_emu_regs_get(CPUX86State *env, struct tdx_regs *r)
{
    *r = (struct tdx_regs) {
        .rax = env->regs[R_EAX], .rcx = env->regs[R_ECX],
        .rdx = env->regs[R_EDX], .rbx = env->regs[R_EBX],
        .rsi = env->regs[R_ESI], .rdi = env->regs[R_EDI],
        .r8 = env->regs[8], .r9 = env->regs[9], .r10 = env->regs[10],
        .r11 = env->regs[11], .r12 = env->regs[12], .r13 = env->regs[13],
        .r14 = env->regs[14], .r15 = env->regs[15],
    };
}

void tdx_emu_regs_set(CPUX86State *env, const struct tdx_regs *r)
{
    env->regs[R_EAX] = r->rax;
    env->regs[R_ECX] = r->rcx;
    env->regs[R_EDX] = r->rdx;
    env->regs[R_EBX] = r->rbx;
    env->regs[R_ESI] = r->rsi;
    env->regs[R_EDI] = r->rdi;
    env->regs[8] = r->r8;
    env->regs[9] = r->r9;
    env->regs[10] = r->r10;
    env->regs[11] = r->r11;
    env->regs[12] = r->r12;
    env->regs[13] = r->r13;
    env->regs[14] = r->r14;
    env->regs[15] = r->r15;
}

/* ---- state switch ------------------------------------------------------- */

static void seg_store(const SegmentCache *sc, struct tdx_seg *s)
{
    s->selector = sc->selector;
    s->base = sc->base;
    s->limit = sc->limit;
    s->flags = sc->flags & SEG_ATTR_MASK;
}

static void seg_cache_set(SegmentCache *sc, const struct tdx_seg *s)
{
    sc->selector = s->selector;
    sc->base = s->base;
    sc->limit = s->limit;
    sc->flags = s->flags & SEG_ATTR_MASK;
}

/* Everything TD code can change, from the CPU into @st. */
static void state_store(CPUX86State *env, struct tdx_vcpu_arch *st)
{
    X86CPU *cpu = env_archcpu(env);

    for (int i = 0; i < 16; i++) {
        st->gpr[i] = env->regs[i];
    }
    st->rip = env->eip;
    st->rflags = cpu_compute_eflags(env);
    st->cr0 = env->cr[0];
    st->cr2 = env->cr[2];
    st->cr3 = env->cr[3];
    st->cr4 = env->cr[4];
    st->efer = env->efer;
    st->xcr0 = env->xcr0;
    st->pat = env->pat;
    /* tdx_seg's order (ES CS SS DS FS GS) is QEMU's X86Seg order. */
    for (int i = 0; i <= R_GS; i++) {
        seg_store(&env->segs[i], &st->seg[i]);
    }
    seg_store(&env->ldt, &st->seg[TDX_SEG_LDTR]);
    seg_store(&env->tr, &st->seg[TDX_SEG_TR]);
    st->gdtr_base = env->gdt.base;
    st->gdtr_limit = env->gdt.limit;
    st->idtr_base = env->idt.base;
    st->idtr_limit = env->idt.limit;
    st->star = env->star;
    st->lstar = env->lstar;
    st->cstar = env->cstar;
    st->fmask = env->fmask;
    st->kernel_gs_base = env->kernelgsbase;
    st->sysenter_cs = env->sysenter_cs;
    st->sysenter_esp = env->sysenter_esp;
    st->sysenter_eip = env->sysenter_eip;
    st->tsc_aux = env->tsc_aux;
    /*
     * Standard (non-compacted) XSAVE layout; AMX tile data does not fit in
     * 4 KiB and is skipped by the helper (TCG has no AMX).
     */
    x86_cpu_xsave_all_areas(cpu, st->xsave, sizeof(st->xsave));
    st->xsave_valid = true;
}

/* x87/SSE/AVX state after INIT/XRSTOR-init: FCW 0x37F, MXCSR 0x1F80. */
static void fpu_reset(X86CPU *cpu)
{
    g_autofree uint8_t *buf = g_malloc0(TDX_VCPU_XSAVE_SIZE);
    X86LegacyXSaveArea *legacy = (X86LegacyXSaveArea *)buf;

    legacy->fcw = 0x37f;
    legacy->mxcsr = 0x1f80;     /* ftw = 0: all x87 registers empty */
    x86_cpu_xrstor_all_areas(cpu, buf, TDX_VCPU_XSAVE_SIZE);
}

/*
 * Load @st into the CPU and recompute everything QEMU derives from it
 * (hflags, MMU mode, softfloat status), in the order the derivations need:
 * EFER and CRs before CS (long mode), RFLAGS before the data segments
 * (VM86 affects ADDSEG), SS last among CS/SS (CPL).
 */
static void state_load(CPUX86State *env, const struct tdx_vcpu_arch *st)
{
    X86CPU *cpu = env_archcpu(env);

    for (int i = 0; i < 16; i++) {
        env->regs[i] = st->gpr[i];
    }
    env->hflags &= ~HF_INHIBIT_IRQ_MASK;
    /*
     * @st is a consistent CPU state (EFER.LMA included), so the CRs are
     * stored as they are and then passed through QEMU's helpers only for
     * what those derive (hflags, CR4 bits the CPU model lacks). With the
     * paging-control bits already equal, the helpers do not flush: what a
     * world switch drops is the caller's decision (tdx_emu_td_enter()).
     * Going through paging off and on again cost three or four full TLB
     * and jump-cache flushes per entry and per exit.
     */
    env->cr[0] = st->cr0 | CR0_ET_MASK;
    env->cr[3] = st->cr3;
    env->cr[4] = st->cr4;
    cpu_x86_update_cr0(env, st->cr0);
    cpu_x86_update_cr4(env, st->cr4);
    cpu_load_efer(env, st->efer);
    env->cr[2] = st->cr2;
    env->eflags = 0;
    cpu_load_eflags(env, st->rflags,
                    ~(CC_O | CC_S | CC_Z | CC_A | CC_P | CC_C | DF_MASK));
    for (int i = 0; i <= R_GS; i++) {
        const struct tdx_seg *s = &st->seg[i];
        cpu_x86_load_seg_cache(env, i, s->selector, s->base, s->limit,
                               s->flags & SEG_ATTR_MASK);
    }
    seg_cache_set(&env->ldt, &st->seg[TDX_SEG_LDTR]);
    seg_cache_set(&env->tr, &st->seg[TDX_SEG_TR]);
    env->gdt.base = st->gdtr_base;
    env->gdt.limit = st->gdtr_limit;
    env->idt.base = st->idtr_base;
    env->idt.limit = st->idtr_limit;
    env->star = st->star;
    env->lstar = st->lstar;
    env->cstar = st->cstar;
    env->fmask = st->fmask;
    env->kernelgsbase = st->kernel_gs_base;
    env->sysenter_cs = st->sysenter_cs;
    env->sysenter_esp = st->sysenter_esp;
    env->sysenter_eip = st->sysenter_eip;
    env->tsc_aux = st->tsc_aux;
    env->pat = st->pat;
    env->xcr0 = st->xcr0;
    if (st->xsave_valid) {
        x86_cpu_xrstor_all_areas(cpu, st->xsave, sizeof(st->xsave));
    } else {
        fpu_reset(cpu);
    }
    /* The XRSTOR helper fills the fields; TCG also needs softfloat status. */
    cpu_set_fpuc(env, env->fpuc);
    cpu_set_mxcsr(env, env->mxcsr);
    cpu_sync_bndcs_hflags(env);
    env->eip = st->rip;
    /* An exception half-delivered in one world must not chain in the other. */
    env->old_exception = -1;
}

/* ---- entry and exit ----------------------------------------------------- */

void tdx_emu_td_flush_tlb(CPUX86State *env)
{
    /* MMU_NESTED_IDX: the TD's guest-physical translations (0007). */
    tlb_flush_by_mmuidx(env_cpu(env),
                        MMU_TDX_EMU_TD_IDX_BITS | 1 << MMU_NESTED_IDX);
}

G_NORETURN void tdx_emu_td_enter(CPUX86State *env, uint64_t l1_next_rip)
{
    CPUState *cs = env_cpu(env);
    TdxEmuTdState *td = &env->tdx_emu_td;
    enum tdx_td_tlb_reason why;

    g_assert(td->run.state);
    env->eip = l1_next_rip;
    state_store(env, td_l1_save(env));
    td->l1_rip = l1_next_rip;
    td->xlate_fail = TDX_TD_XLATE_OK;
    td->in_td = true;
    state_load(env, td->run.state);
    env->hflags |= HF_TDX_EMU_TD_MASK;
    /* A virtual interrupt left pending by the last run is due again. */
    tdx_emu_td_apic_sync(cs);
    /*
     * TD code translates through its own MMU indexes (qemu/patches/0012)
     * and its TBs carry HF_TDX_EMU_TD, so L1's translations need no flush.
     * The TD's go when the core says they may be stale or another
     * context's (tdx_td_run_tlb_reason(): TDX's TLB-tracking rule, another
     * vCPU, another shared EPT root).
     */
    why = tdx_td_run_tlb_reason(&td->run, td->tlb_vcpu, td->tlb_shared_eptp);
    tdx_td_tlb_count(td->run.m, why);
    if (why != TDX_TD_TLB_KEEP) {
        tdx_emu_td_flush_tlb(env);
        td->tlb_vcpu = td->run.vcpu;
        td->tlb_shared_eptp = td->run.shared_eptp;
    }
    cs->exception_index = -1;
    cpu_loop_exit(cs);
}

/*
 * End the TD run: the TD vCPU's state (env->eip is where the TD resumes)
 * goes back to the core, L1's state comes back, and L1's SEAMCALL completes
 * with TDH.VP.ENTER's outputs.
 */
static G_NORETURN void td_exit(CPUX86State *env, const struct tdx_td_exit *exit)
{
    CPUState *cs = env_cpu(env);
    TdxEmuTdState *td = &env->tdx_emu_td;
    struct tdx_regs out = { 0 };

    state_store(env, td->run.state);
    /* VIRQ mirrors the TD's virtual APIC; L1 must not see it. */
    cpu_reset_interrupt(cs, CPU_INTERRUPT_VIRQ);
    /* TDH.VP.ENTER completes: the core turns the exit into its outputs. */
    tdx_vp_exit(&td->run, exit, &out);

    td->in_td = false;
    state_load(env, td_l1_save(env));
    env->hflags &= ~HF_TDX_EMU_TD_MASK;
    tdx_emu_regs_set(env, &out);
    env->eip = td->l1_rip;
    /* SEAMRET: VMsucceed, CF = ZF = 0 (and the other arithmetic flags). */
    CC_SRC = 0;
    CC_OP = CC_OP_EFLAGS;
    memset(&td->run, 0, sizeof(td->run));
    td->xlate_fail = TDX_TD_XLATE_OK;
    /* L1's translations were never touched (its own MMU indexes). */
    cs->exception_index = -1;
    cpu_loop_exit(cs);
}

/* ---- second stage ------------------------------------------------------- */

bool tdx_emu_td_stage2(CPUX86State *env, uint64_t gpa, int access_type,
                       uint64_t *hpa, int *prot)
{
    TdxEmuTdState *td = &env->tdx_emu_td;
    enum tdx_td_xlate r;
    int access;

    /*
     * One permission per TLB fill: the contract answers "is this access
     * allowed", not "what is allowed". A store asks for read too (EPT has
     * no write-only pages), so read-modify-write does not refill twice.
     * Guest page-table walks come here as stores (QEMU's walker sets A/D
     * bits through the same mapping).
     */
    switch (access_type) {
    case MMU_DATA_LOAD:
        access = TDX_ACCESS_READ;
        break;
    case MMU_DATA_STORE:
        access = TDX_ACCESS_READ | TDX_ACCESS_WRITE;
        break;
    default:
        access = TDX_ACCESS_FETCH;
        break;
    }
    td->xlate_exit = (struct tdx_td_exit) { 0 };
    r = tdx_emu_td_translate(env, gpa, access, hpa, &td->xlate_exit);
    if (r == TDX_TD_XLATE_OK) {
        *prot = access;
        return true;
    }
    td->xlate_fail = r;
    return false;
}

G_NORETURN void tdx_emu_td_stage2_fault(CPUX86State *env, uint64_t gla,
                                        bool final, uintptr_t retaddr)
{
    TdxEmuTdState *td = &env->tdx_emu_td;
    struct tdx_td_exit exit = td->xlate_exit;
    int kind = td->xlate_fail;

    td->xlate_fail = TDX_TD_XLATE_OK;
    if (kind == TDX_TD_XLATE_VE) {
        tdx_td_ept_ve_gla(&td->run, gla, final);
        /* A fault: RIP stays on the instruction, no error code. */
        raise_exception_ra(env, EXCP_VE, retaddr);
    }
    if (kind != TDX_TD_XLATE_EXIT) {
        /* Not reached: a failure is always recorded first. Exit anyway. */
        exit = (struct tdx_td_exit) { .reason = TDX_EXIT_REASON_EPT_VIOLATION };
    }
    if (retaddr) {
        cpu_restore_state(env_cpu(env), retaddr);
    }
    td_exit(env, &exit);
}

/* ---- TDCALL ------------------------------------------------------------- */

void tdx_emu_td_tdcall(CPUX86State *env, int insn_len, uintptr_t retaddr)
{
    struct tdx_td_exit exit = { 0 };
    struct tdx_regs r;

    if (!tdx_emu_in_td(env)) {
        raise_exception_ra(env, EXCP06_ILLOP, retaddr);
    }
    if (env->hflags & HF_CPL_MASK) {
        raise_exception_err_ra(env, EXCP0D_GPF, 0, retaddr);
    }
    tdx_emu_regs_get(env, &r);
    switch (tdx_tdcall(&env->tdx_emu_td.run, &r, &exit)) {
    case TDX_TDCALL_DONE:
        tdx_emu_regs_set(env, &r);
        return;                         /* the TB ends after TDCALL */
    case TDX_TDCALL_EXIT:
        /* The TD resumes after the TDCALL once the host re-enters it. */
        env->eip += insn_len;
        break;
    case TDX_TDCALL_EXIT_RETRY:
        /* The TDCALL runs again after re-entry (RIP stays on it). */
        break;
    }
    td_exit(env, &exit);
}

/* ---- events ------------------------------------------------------------- */

bool tdx_emu_td_exec_interrupt(CPUState *cs, int interrupt_request)
{
    CPUX86State *env = cpu_env(cs);
    struct tdx_td_exit exit = { 0 };
    int intno;

    if (interrupt_request & CPU_INTERRUPT_SMI) {
        /* Left pending: L1 takes it (enters SMM) right after the exit. */
        exit.reason = TDX_EXIT_REASON_OTHER_SMI;
    } else if (interrupt_request & CPU_INTERRUPT_NMI) {
        /* Consumed: L1 KVM runs its NMI handler from the exit info. */
        cs->interrupt_request &= ~CPU_INTERRUPT_NMI;
        exit.reason = TDX_EXIT_REASON_NMI;
        exit.intr_info = EXCP02_NMI | TDX_INTR_TYPE_NMI | TDX_INTR_INFO_VALID;
    } else if (interrupt_request & CPU_INTERRUPT_HARD) {
        /* Acknowledged on exit, as x86_cpu_exec_interrupt() would. */
        cs->interrupt_request &= ~(CPU_INTERRUPT_HARD | CPU_INTERRUPT_VIRQ);
        intno = cpu_get_pic_interrupt(env);
        if (intno < 0) {
            tdx_emu_td_apic_sync(cs);
            return true;                /* withdrawn meanwhile */
        }
        if (tdx_emu_td_apic_intr(cs, intno)) {
            return true;                /* PI notification: no exit */
        }
        exit.reason = TDX_EXIT_REASON_EXT_INTR;
        exit.intr_info = (intno & 0xff) | TDX_INTR_TYPE_EXT_INTR | TDX_INTR_INFO_VALID;
    } else if (interrupt_request & CPU_INTERRUPT_VIRQ) {
        /* Ours while in a TD (never SVM's): a virtual interrupt. */
        tdx_emu_td_apic_deliver(cs);
        return true;
    } else {
        return false;                   /* POLL, SIPI, MCE: QEMU's path */
    }
    td_exit(env, &exit);
}

void tdx_emu_td_intercept(CPUX86State *env, uint32_t svm_type)
{
    struct tdx_td_exit exit = { .reason = TDX_EXIT_REASON_INIT };

    if (svm_type == SVM_EXIT_INIT) {
        /* Left pending: QEMU INITs L1 right after the exit. */
        td_exit(env, &exit);
    }
}

G_NORETURN void tdx_emu_td_hlt(CPUX86State *env)
{
    /* As in a TDX module: HLT is a #VE; the TD asks the host with
     * TDG.VP.VMCALL<Instruction.HLT> (td-ve.c). */
    tdx_emu_td_ve_hlt(env);
}

G_NORETURN void tdx_emu_td_triple_fault(CPUX86State *env, uintptr_t retaddr)
{
    struct tdx_td_exit exit = { .reason = TDX_EXIT_REASON_TRIPLE_FAULT };

    if (retaddr) {
        cpu_restore_state(env_cpu(env), retaddr);
    }
    td_exit(env, &exit);
}
