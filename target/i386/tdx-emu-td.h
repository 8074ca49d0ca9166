/*
 * tdx-emu: TD-guest mode hooks, called from QEMU's target/i386 files
 * (excp_helper.c, seg_helper.c, svm_helper.c, misc_helper.c, through
 * qemu/patches/0007) and from vmx-helper.c. Definitions: td-guest.c,
 * td-ept.c, td-ve.c, td-apic.c.
 *
 * Life of one TDH.VP.ENTER, all on the calling vCPU's thread, no BQL
 * (the same model as QEMU's SVM VMRUN in svm_helper.c):
 *
 *  1. helper_seamcall() calls the module core's tdx_seamcall() with the
 *     vCPU's run record (env->tdx_emu_td.run); TDX_SEAMCALL_ENTER_TD means
 *     the core filled it: the TD vCPU's state to load and how to
 *     translate guest-physical addresses.
 *  2. tdx_emu_td_enter() saves L1's state (all of it that TD code can
 *     change, inside env->tdx_emu_td: no allocation), loads run.state
 *     (FPU/SSE reset values when !xsave_valid), sets in_td and hflags'
 *     HF_TDX_EMU_TD (TD code translates through MMU indexes of its own,
 *     qemu/patches/0012, so neither entry nor exit flushes L1's), flushes
 *     the TD's indexes if they may hold another context's or stale
 *     translations, and resumes execution: the next TB is TD code.
 *  3. While in_td, every guest-physical address (final addresses and the
 *     guest's own page-table walks) goes through tdx_emu_td_translate()
 *     (td-ept.c): called from TLB fills, at most once per fill, with
 *     READ, READ|WRITE (stores; also the TD's own page-table walk, since
 *     QEMU's walker may set A/D bits) or FETCH; the mapping is cached as
 *     one 4 KiB page with exactly that permission, across exits and
 *     entries, until the TD flushes it (INVLPG, CR3 write), L1 executes
 *     INVEPT, or an entry finds it stale (run.flush_tlb: a TD epoch the
 *     vCPU has not seen or a vCPU new to this LP; another vCPU ran here;
 *     a new shared EPTP): the module's TLB-tracking rules, as on silicon. It may be called from a
 *     probe whose failure is never raised. TDCALL goes to the core's
 *     tdx_tdcall() (CPL > 0: #GP(0) and outside a TD: #UD, neither reaches
 *     the core). The VMX instructions and SEAMCALL are #UD.
 *  4. TD exits the CPU makes: NMI, external interrupt (acknowledged on
 *     exit; never the vCPU's posted-interrupt notification vector, which
 *     td-apic.c consumes inside the TD), triple fault, INIT (stays pending:
 *     L1 is INITed right after), other SMI (stays pending for L1), plus
 *     the EPT-violation/misconfiguration and TDCALL exits. td_exit()
 *     writes the TD vCPU's state back into run.state, calls the core's
 *     tdx_vp_exit() (which completes TDH.VP.ENTER: outputs, statistics,
 *     trace), restores L1's state, stores the outputs in L1's GPRs and
 *     completes the SEAMCALL (RIP after it, VMsucceed). Exits for L1
 *     interrupts and INIT run with the BQL held, the others without.
 *  5. HLT, CPUID, port I/O and MSRs on the #VE list raise #VE (td-ve.c,
 *     the core decides); a #VE is vector 20, no error code, through the
 *     TD's IDT. A CPU reset while in_td drops the run without an exit.
 *
 * Every hook is behind tdx_emu_in_td(), so a vCPU that never entered a TD
 * (every vCPU of plain QEMU, tdx-emu=off) pays one predictable branch.
 * Include after cpu.h.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef TARGET_I386_TDX_EMU_TD_H
#define TARGET_I386_TDX_EMU_TD_H

/* The vCPU is executing TD code (SEAM non-root operation). */
static inline bool tdx_emu_in_td(const CPUX86State *env)
{
    return unlikely(env->tdx_emu_td.in_td);
}

/*
 * Physical-address width the CPU's own page walk checks reserved bits
 * against: in a TD, the TD's guest-physical width (48 or 52, so the shared
 * bit is an address bit, as on hardware where MAXPA covers GPAW), else the
 * CPU's.
 */
static inline unsigned tdx_emu_paddr_bits(CPUX86State *env)
{
    return tdx_emu_in_td(env) ? env->tdx_emu_td.run.gpa_width
                              : env_archcpu(env)->phys_bits;
}

/*
 * The general-purpose registers of the SEAMCALL/TDCALL register ABI
 * (struct tdx_regs: RAX..R15 without RSP/RBP), out of and into @env.
 */
struct tdx_regs;
void tdx_emu_regs_get(CPUX86State *env, struct tdx_regs *r);
void tdx_emu_regs_set(CPUX86State *env, const struct tdx_regs *r);

/*
 * Second stage for guest-physical address @gpa of the running TD (td-ept.c):
 * @access is TDX_ACCESS_*; private GPAs through the core's S-EPT, shared
 * ones through KVM's EPT. On TDX_TD_XLATE_EXIT @exit is filled.
 */
enum tdx_td_xlate tdx_emu_td_translate(CPUX86State *env, uint64_t gpa, int access,
                                       uint64_t *hpa, struct tdx_td_exit *exit);

/*
 * Second stage of a TD's address translation (excp_helper.c, MMU_NESTED_IDX):
 * @access_type is an MMUAccessType. True: *hpa / *prot valid. False: the
 * failure is remembered and tdx_emu_td_stage2_fault() raises it (the call
 * may come from a probe that must not fault).
 */
bool tdx_emu_td_stage2(CPUX86State *env, uint64_t gpa, int access_type,
                       uint64_t *hpa, int *prot);
/*
 * Raise the last stage-2 failure: TD exit (EPT violation) or #VE. @gla is
 * the linear address being accessed, @final false when the failure was on
 * a guest paging-structure access (x86_cpu_tlb_fill).
 */
G_NORETURN void tdx_emu_td_stage2_fault(CPUX86State *env, uint64_t gla,
                                        bool final, uintptr_t retaddr);

/* CPUID executed in a TD (helper_cpuid): the module's values replace the CPU's. */
void tdx_emu_td_cpuid(CPUX86State *env, uint32_t leaf, uint32_t subleaf,
                      uint32_t *eax, uint32_t *ebx, uint32_t *ecx,
                      uint32_t *edx);

/*
 * x86_cpu_exec_interrupt() in a TD: L1's HARD/NMI/SMI interrupts end the
 * TD run whatever the TD's RFLAGS.IF (VMX "external-interrupt exiting" with
 * "acknowledge interrupt on exit", NMI exiting). False: nothing for us, let
 * QEMU handle the request.
 */
bool tdx_emu_td_exec_interrupt(CPUState *cs, int interrupt_request);
/* cpu_svm_check_intercept_param() in a TD: INIT ends the TD run. */
void tdx_emu_td_intercept(CPUX86State *env, uint32_t svm_type);
/* HLT in a TD (after HLT: env->eip is the next instruction). */
G_NORETURN void tdx_emu_td_hlt(CPUX86State *env);
/*
 * #VE for intercepted instructions (td-ve.c): CPUID and RDMSR/WRMSR through
 * cpu_svm_check_intercept_param() (@type SVM_EXIT_CPUID / SVM_EXIT_MSR,
 * @param 0 read, 1 write), port I/O from the I/O helpers. They return when
 * the module handles the instruction itself (no #VE); otherwise they raise
 * #VE (or #DF while VE_INFO is valid) with RIP on the instruction.
 */
void tdx_emu_td_ve_intercept(CPUX86State *env, uint32_t type, uint64_t param,
                             uintptr_t retaddr);
void tdx_emu_td_io(CPUX86State *env, uintptr_t retaddr);
static inline void tdx_emu_td_io_check(CPUX86State *env, uintptr_t retaddr)
{
    if (tdx_emu_in_td(env)) {
        tdx_emu_td_io(env, retaddr);
    }
}
/* HLT in a TD: #VE (td-ve.c; env->eip is after the HLT). */
G_NORETURN void tdx_emu_td_ve_hlt(CPUX86State *env);
/* Triple fault in a TD (check_exception). */
G_NORETURN void tdx_emu_td_triple_fault(CPUX86State *env, uintptr_t retaddr);

/*
 * vmx-helper.c: SEAMCALL got TDX_EMU_SEAMCALL_ENTER_TD; L1 resumes at
 * @l1_next_rip at TD exit.
 */
G_NORETURN void tdx_emu_td_enter(CPUX86State *env, uint64_t l1_next_rip);
/* Drop the TD translations this logical processor caches (INVEPT too). */
void tdx_emu_td_flush_tlb(CPUX86State *env);
/* vmx-helper.c: TDCALL (#UD outside a TD); returns when the TD continues. */
void tdx_emu_td_tdcall(CPUX86State *env, int insn_len, uintptr_t retaddr);

#endif
