/*
 * tdx-emu: TCG helpers for the VMX-root instructions a Linux KVM/TDX host
 * executes, SEAMCALL/TDCALL, and MOVDIR64B.
 *
 * One helper per instruction, in the style of QEMU's svm_helper.c. The
 * decoder (vmx-translate.c.inc) only routes the opcodes here when the vCPU
 * enumerates VMX (tdx-emu=on); everything architectural is checked at run
 * time, in the SDM's order: #UD (not in VMX operation, wrong mode), then
 * #GP(0) (CPL > 0), then the operand checks that end in VMfailInvalid
 * (CF=1) or VMfailValid(n) (ZF=1, n in the current VMCS's VM-instruction
 * error field). VMX non-root operation does not exist here (no VM is ever
 * entered), so "VM exit" cases never arise.
 *
 * The VMCS: its region in guest memory *is* the store. The SDM leaves the
 * region's format to the implementation; ours (after the architectural
 * revision ID and abort indicator) is a launch-state word and one 8-byte
 * slot per supported field (tdx_emu_vmcs_field_slot()). VMREAD/VMWRITE go
 * straight to guest memory through the vCPU's address space, so a VMCS
 * that KVM VMCLEARs on one vCPU and VMPTRLDs on another keeps its contents,
 * as on hardware, and no host memory is allocated on L1's behalf.
 *
 * Robustness: every pointer is checked for alignment and MAXPHYADDR before
 * use; physical accesses to unbacked addresses read as all-ones and drop
 * writes (QEMU's memory API), so a bogus VMCS pointer cannot crash QEMU.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "cpu.h"
#include "exec/helper-proto.h"
#include "exec/cpu_ldst.h"
#include "tcg/helper-tcg.h"
#include "tdx-emu-cpu.h"
#include "hw/tdx-emu/qemu/tdx-emu.h"
#include "tdx-emu-td.h"

/* VM-instruction error numbers (SDM vol. 3, "VM-instruction error numbers") */
enum {
    VMXERR_VMCALL_IN_ROOT        = 1,
    VMXERR_VMCLEAR_BAD_ADDR      = 2,
    VMXERR_VMCLEAR_VMXON_PTR     = 3,
    VMXERR_VMLAUNCH_NOT_CLEAR    = 4,
    VMXERR_VMRESUME_NOT_LAUNCHED = 5,
    VMXERR_ENTRY_BAD_CONTROLS    = 7,
    VMXERR_VMPTRLD_BAD_ADDR      = 9,
    VMXERR_VMPTRLD_VMXON_PTR     = 10,
    VMXERR_VMPTRLD_BAD_REVISION  = 11,
    VMXERR_UNSUPPORTED_FIELD     = 12,
    VMXERR_VMXON_IN_ROOT         = 15,
    VMXERR_INVALID_INV_OPERAND   = 28,
};

/* Our VMCS region layout. */
#define VMCS_OFF_REVISION     0x00
#define VMCS_OFF_LAUNCH_STATE 0x08
#define VMCS_OFF_SLOTS        0x10
enum { VMCS_LAUNCH_UNKNOWN = 0, VMCS_LAUNCH_CLEAR = 1, VMCS_LAUNCH_LAUNCHED = 2 };

#define VMCS_FIELD_VM_INSTRUCTION_ERROR 0x4400

#define VMX_ARITH_FLAGS (CC_O | CC_S | CC_Z | CC_A | CC_P | CC_C)

/* ---- flag results ------------------------------------------------------- */

static void vmx_set_flags(CPUX86State *env, uint32_t flags)
{
    /* The translator assumes CC_OP_EFLAGS after every VMX helper. */
    CC_SRC = flags & VMX_ARITH_FLAGS;
    CC_OP = CC_OP_EFLAGS;
}

static void vmx_succeed(CPUX86State *env)
{
    vmx_set_flags(env, 0);
}

static void vmx_fail_invalid(CPUX86State *env)
{
    vmx_set_flags(env, CC_C);
}

static hwaddr vmcs_slot_addr(uint64_t vmcs, int slot)
{
    return vmcs + VMCS_OFF_SLOTS + 8 * (hwaddr)slot;
}

static void vmx_fail(CPUX86State *env, uint32_t err)
{
    TdxEmuVmxState *vmx = &env->tdx_emu_vmx;

    if (!vmx->vmcs_valid) {
        vmx_fail_invalid(env);
        return;
    }
    x86_stq_phys(env_cpu(env), vmcs_slot_addr(vmx->current_vmcs,
                 tdx_emu_vmcs_field_slot(VMCS_FIELD_VM_INSTRUCTION_ERROR)),
                 err);
    vmx_set_flags(env, CC_Z);
}

/* ---- common checks ------------------------------------------------------ */

static bool vmx_mode_ok(CPUX86State *env)
{
    /* Protected mode, not virtual-8086, not compatibility mode. */
    return (env->cr[0] & CR0_PE_MASK) && !(env->eflags & VM_MASK) &&
           !((env->hflags & HF_LMA_MASK) && !(env->hflags & HF_CS64_MASK));
}

static int vmx_cpl(CPUX86State *env)
{
    return env->hflags & HF_CPL_MASK;
}

/*
 * The checks every VMX instruction but VMXON starts with: #UD outside VMX
 * operation or in the wrong mode, then #GP(0) at CPL > 0.
 */
static void vmx_check_root(CPUX86State *env, uintptr_t ra)
{
    /* In a TD (SEAM non-root) the VMX instructions are #UD. */
    if (!env->tdx_emu_vmx.vmxon || !vmx_mode_ok(env) || tdx_emu_in_td(env)) {
        raise_exception_ra(env, EXCP06_ILLOP, ra);
    }
    if (vmx_cpl(env) > 0) {
        raise_exception_err_ra(env, EXCP0D_GPF, 0, ra);
    }
}

/* 4-KiB aligned and within MAXPHYADDR. */
static bool vmx_pa_ok(CPUX86State *env, uint64_t pa)
{
    return !(pa & 0xfff) && !(pa >> env_archcpu(env)->phys_bits);
}

static uint64_t vmx_read_u64_operand(CPUX86State *env, target_ulong addr,
                                     uintptr_t ra)
{
    return cpu_ldq_data_ra(env, addr, ra);
}

/* ---- VMXON / VMXOFF ----------------------------------------------------- */

void helper_vmx_vmxon(CPUX86State *env, target_ulong addr)
{
    uintptr_t ra = GETPC();
    TdxEmuVmxState *vmx = &env->tdx_emu_vmx;
    uint64_t fc, ptr;

    if (!(env->cr[4] & CR4_VMXE_MASK) || !vmx_mode_ok(env) ||
        tdx_emu_in_td(env)) {
        raise_exception_ra(env, EXCP06_ILLOP, ra);
    }
    if (vmx->vmxon) {
        if (vmx_cpl(env) > 0) {
            raise_exception_err_ra(env, EXCP0D_GPF, 0, ra);
        }
        vmx_fail(env, VMXERR_VMXON_IN_ROOT);
        return;
    }
    /* CPL, then the CR0 FIXED0 bits (PE checked above: NE, PG). */
    if (vmx_cpl(env) > 0 ||
        !(env->cr[0] & CR0_NE_MASK) || !(env->cr[0] & CR0_PG_MASK)) {
        raise_exception_err_ra(env, EXCP0D_GPF, 0, ra);
    }
    if (tdx_emu_rdmsr(env, MSR_IA32_FEATURE_CONTROL, &fc) !=
            TDX_EMU_MSR_HANDLED ||
        !(fc & FEATURE_CONTROL_LOCKED) ||
        !(fc & FEATURE_CONTROL_VMXON_ENABLED_OUTSIDE_SMX)) {
        raise_exception_err_ra(env, EXCP0D_GPF, 0, ra);
    }

    ptr = vmx_read_u64_operand(env, addr, ra);
    if (!vmx_pa_ok(env, ptr) ||
        x86_ldl_phys(env_cpu(env), ptr + VMCS_OFF_REVISION) !=
            TDX_EMU_VMCS_REVISION) {
        vmx_fail_invalid(env);
        return;
    }
    vmx->vmxon = true;
    vmx->vmxon_ptr = ptr;
    vmx->vmcs_valid = false;
    vmx_succeed(env);
}

void helper_vmx_vmxoff(CPUX86State *env)
{
    TdxEmuVmxState *vmx = &env->tdx_emu_vmx;

    vmx_check_root(env, GETPC());
    vmx->vmxon = false;
    vmx->vmcs_valid = false;
    vmx_succeed(env);
}

/* ---- VMCS pointer instructions ----------------------------------------- */

void helper_vmx_vmptrld(CPUX86State *env, target_ulong addr)
{
    uintptr_t ra = GETPC();
    TdxEmuVmxState *vmx = &env->tdx_emu_vmx;
    uint64_t ptr;
    uint32_t rev;

    vmx_check_root(env, ra);
    ptr = vmx_read_u64_operand(env, addr, ra);
    if (!vmx_pa_ok(env, ptr)) {
        vmx_fail(env, VMXERR_VMPTRLD_BAD_ADDR);
        return;
    }
    if (ptr == vmx->vmxon_ptr) {
        vmx_fail(env, VMXERR_VMPTRLD_VMXON_PTR);
        return;
    }
    /* Bit 31 set asks for a shadow VMCS, which we do not support. */
    rev = x86_ldl_phys(env_cpu(env), ptr + VMCS_OFF_REVISION);
    if (rev != TDX_EMU_VMCS_REVISION) {
        vmx_fail(env, VMXERR_VMPTRLD_BAD_REVISION);
        return;
    }
    vmx->current_vmcs = ptr;
    vmx->vmcs_valid = true;
    vmx_succeed(env);
}

void helper_vmx_vmptrst(CPUX86State *env, target_ulong addr)
{
    uintptr_t ra = GETPC();
    TdxEmuVmxState *vmx = &env->tdx_emu_vmx;

    vmx_check_root(env, ra);
    cpu_stq_data_ra(env, addr, vmx->vmcs_valid ? vmx->current_vmcs : -1ULL,
                    ra);
    vmx_succeed(env);
}

void helper_vmx_vmclear(CPUX86State *env, target_ulong addr)
{
    uintptr_t ra = GETPC();
    TdxEmuVmxState *vmx = &env->tdx_emu_vmx;
    uint64_t ptr;

    vmx_check_root(env, ra);
    ptr = vmx_read_u64_operand(env, addr, ra);
    if (!vmx_pa_ok(env, ptr)) {
        vmx_fail(env, VMXERR_VMCLEAR_BAD_ADDR);
        return;
    }
    if (ptr == vmx->vmxon_ptr) {
        vmx_fail(env, VMXERR_VMCLEAR_VMXON_PTR);
        return;
    }
    /* Data already lives in the region; only the launch state changes. */
    x86_stl_phys(env_cpu(env), ptr + VMCS_OFF_LAUNCH_STATE, VMCS_LAUNCH_CLEAR);
    if (vmx->vmcs_valid && vmx->current_vmcs == ptr) {
        vmx->vmcs_valid = false;
    }
    vmx_succeed(env);
}

/* ---- VMREAD / VMWRITE --------------------------------------------------- */

static int vmcs_field_width(uint64_t enc)
{
    return (enc >> 13) & 3;     /* 0: 16-bit, 1: 64-bit, 2: 32-bit, 3: natural */
}

/* Operand size of VMREAD/VMWRITE: 64 bits in 64-bit mode, else 32. */
static bool vmx_op64(CPUX86State *env)
{
    return env->hflags & HF_CS64_MASK;
}

/*
 * Look up the field in the current VMCS; on failure this has already
 * reported VMfailInvalid/VMfailValid(12) and returns false.
 */
static bool vmcs_lookup(CPUX86State *env, uint64_t field, hwaddr *slot_pa)
{
    TdxEmuVmxState *vmx = &env->tdx_emu_vmx;
    int slot;

    if (!vmx_op64(env)) {
        field = (uint32_t)field;
    }
    if (!vmx->vmcs_valid) {
        vmx_fail_invalid(env);
        return false;
    }
    slot = tdx_emu_vmcs_field_slot(field);
    if (slot < 0) {
        vmx_fail(env, VMXERR_UNSUPPORTED_FIELD);
        return false;
    }
    *slot_pa = vmcs_slot_addr(vmx->current_vmcs, slot);
    return true;
}

/* @dest_reg: register number, or -1 for the memory operand at @addr. */
void helper_vmx_vmread(CPUX86State *env, target_ulong field,
                       target_ulong addr, int32_t dest_reg)
{
    uintptr_t ra = GETPC();
    hwaddr slot_pa;
    uint64_t val;

    vmx_check_root(env, ra);
    if (!vmcs_lookup(env, field, &slot_pa)) {
        return;
    }
    val = x86_ldq_phys(env_cpu(env), slot_pa);
    if (field & 1) {
        val >>= 32;             /* high half of a 64-bit field */
    }
    if (!vmx_op64(env)) {
        val = (uint32_t)val;
    }
    if (dest_reg >= 0) {
        env->regs[dest_reg] = val;
    } else if (vmx_op64(env)) {
        cpu_stq_data_ra(env, addr, val, ra);
    } else {
        cpu_stl_data_ra(env, addr, val, ra);
    }
    vmx_succeed(env);
}

/* @src: the value when @src_is_reg, else the address of the memory operand */
void helper_vmx_vmwrite(CPUX86State *env, target_ulong field,
                        target_ulong src, int32_t src_is_reg)
{
    uintptr_t ra = GETPC();
    hwaddr slot_pa;
    uint64_t val, old;

    vmx_check_root(env, ra);
    if (src_is_reg) {
        val = src;
    } else if (vmx_op64(env)) {
        val = cpu_ldq_data_ra(env, src, ra);
    } else {
        val = cpu_ldl_data_ra(env, src, ra);
    }
    if (!vmx_op64(env)) {
        val = (uint32_t)val;
    }
    /* Read-only fields are writable: IA32_VMX_MISC[29] is set. */
    if (!vmcs_lookup(env, field, &slot_pa)) {
        return;
    }
    switch (vmcs_field_width(field)) {
    case 0:
        val &= 0xffff;
        break;
    case 2:
        val &= 0xffffffff;
        break;
    case 1:
        if (field & 1) {        /* high half: keep the low one */
            old = x86_ldq_phys(env_cpu(env), slot_pa);
            val = (val << 32) | (uint32_t)old;
        }
        break;
    }
    x86_stq_phys(env_cpu(env), slot_pa, val);
    vmx_succeed(env);
}

/* ---- INVEPT / INVVPID --------------------------------------------------- */

/*
 * The only VMs that run are TDs (td-guest.c), whose shared GPAs go through
 * KVM's EPT: INVEPT drops the TD translations this logical processor
 * caches (any context: KVM flushes the shared EPT this way before it
 * enters a TD whose shared mappings changed). INVVPID has nothing to drop
 * (a TD's linear translations are the module's business, not VPID's).
 */
void helper_vmx_invept(CPUX86State *env, target_ulong type, target_ulong addr)
{
    uintptr_t ra = GETPC();
    struct tdx_module *m;
    uint64_t eptp;

    vmx_check_root(env, ra);
    if (!vmx_op64(env)) {
        type = (uint32_t)type;
    }
    if (type != 1 && type != 2) {          /* single-context, all-context */
        vmx_fail(env, VMXERR_INVALID_INV_OPERAND);
        return;
    }
    eptp = cpu_ldq_data_ra(env, addr, ra);
    cpu_ldq_data_ra(env, addr + 8, ra);    /* the descriptor is 128 bits */
    if (type == 1 &&
        (((eptp & 7) != 0 && (eptp & 7) != 6) ||   /* memory type: UC or WB */
         ((eptp >> 3) & 7) != 3 ||                 /* 4-level walk */
         (eptp & 0xf80) ||                         /* bits 11:7 reserved */
         (eptp >> env_archcpu(env)->phys_bits))) {
        vmx_fail(env, VMXERR_INVALID_INV_OPERAND);
        return;
    }
    tdx_emu_td_flush_tlb(env);
    m = tdx_emu_module_of(env_cpu(env));
    if (m) {
        tdx_td_tlb_count(m, TDX_TD_TLB_INVEPT);
    }
    vmx_succeed(env);
}

void helper_vmx_invvpid(CPUX86State *env, target_ulong type,
                        target_ulong addr)
{
    uintptr_t ra = GETPC();
    uint64_t lo, la;
    uint16_t vpid;

    vmx_check_root(env, ra);
    if (!vmx_op64(env)) {
        type = (uint32_t)type;
    }
    if (type > 3) {
        vmx_fail(env, VMXERR_INVALID_INV_OPERAND);
        return;
    }
    lo = cpu_ldq_data_ra(env, addr, ra);
    la = cpu_ldq_data_ra(env, addr + 8, ra);
    vpid = lo & 0xffff;
    if ((lo >> 16) ||                                   /* reserved bits */
        (type != 2 && vpid == 0) ||                     /* VPID 0 is the host */
        (type == 0 && (int64_t)(la << 16) >> 16 != (int64_t)la)) {
        vmx_fail(env, VMXERR_INVALID_INV_OPERAND);
        return;
    }
    vmx_succeed(env);
}

/* ---- VMLAUNCH / VMRESUME / VMCALL --------------------------------------- */

/*
 * Entering an ordinary VM is out of scope: once the VMCS checks that come
 * before the control checks pass, the entry fails with "VM entry with
 * invalid control field(s)", which a VMM handles like any VMfail.
 */
void helper_vmx_vmlaunch(CPUX86State *env, int32_t resume)
{
    TdxEmuVmxState *vmx = &env->tdx_emu_vmx;
    uint32_t state;

    vmx_check_root(env, GETPC());
    if (!vmx->vmcs_valid) {
        vmx_fail_invalid(env);
        return;
    }
    state = x86_ldl_phys(env_cpu(env),
                         vmx->current_vmcs + VMCS_OFF_LAUNCH_STATE);
    if (!resume && state != VMCS_LAUNCH_CLEAR) {
        vmx_fail(env, VMXERR_VMLAUNCH_NOT_CLEAR);
    } else if (resume && state != VMCS_LAUNCH_LAUNCHED) {
        vmx_fail(env, VMXERR_VMRESUME_NOT_LAUNCHED);
    } else {
        vmx_fail(env, VMXERR_ENTRY_BAD_CONTROLS);
    }
}

void helper_vmx_vmcall(CPUX86State *env)
{
    /* No dual-monitor treatment of SMM: VMCALL in root always VMfails. */
    vmx_check_root(env, GETPC());
    vmx_fail(env, VMXERR_VMCALL_IN_ROOT);
}

/* ---- SEAMCALL / TDCALL -------------------------------------------------- */

/*
 * SEAMCALL (66 0F 01 CF). Checks, in order (Intel TDX CPU architectural
 * extensions, SEAMCALL; the CPL check's position as Linux commit
 * 9d7dfb95da2c "KVM: VMX: Inject #UD if guest tries to execute SEAMCALL or
 * TDCALL" measured it on SPR/EMR — before the VMX non-root check):
 *   #UD     outside VMX operation, outside 64-bit mode, in SMM, in SEAM;
 *   #GP(0)  CPL > 0;
 *   VM exit in VMX non-root operation (never the case here);
 *   #GP(0)  SEAM range not valid (IA32_SEAMRR_PHYS_MASK[11] = 0; ours is
 *           always valid when VMX is enumerated);
 *   VMfailInvalid when SEAM is not ready (no module), else enter SEAM.
 * TDH.VP.ENTER that enters a TD does not return here: the SEAMCALL
 * completes at TD exit (td-guest.c), L1 resuming after it (@insn_len).
 */
void helper_seamcall(CPUX86State *env, int insn_len)
{
    uintptr_t ra = GETPC();
    struct tdx_module *m = tdx_emu_module_of(env_cpu(env));
    struct tdx_regs r;

    if (!env->tdx_emu_vmx.vmxon || !(env->hflags & HF_CS64_MASK) ||
        (env->hflags & HF_SMM_MASK) || tdx_emu_in_td(env)) {
        raise_exception_ra(env, EXCP06_ILLOP, ra);
    }
    if (vmx_cpl(env) > 0) {
        raise_exception_err_ra(env, EXCP0D_GPF, 0, ra);
    }

    if (!m) {
        /* No module instance (machine not complete, or tdx-emu=on without
         * the object): SEAM is not ready, Linux's "module not loaded". */
        vmx_fail_invalid(env);          /* registers untouched */
        return;
    }
    /* The module runs on this vCPU's thread, without the BQL: two L1 CPUs
     * issuing SEAMCALLs race inside it as two LPs race in SEAM. */
    tdx_emu_regs_get(env, &r);
    if (tdx_seamcall(m, env_cpu(env)->cpu_index, &r, &env->tdx_emu_td.run) ==
        TDX_SEAMCALL_ENTER_TD) {
        tdx_emu_td_enter(env, env->eip + insn_len);
    }
    tdx_emu_regs_set(env, &r);
    vmx_succeed(env);                   /* SEAMRET: CF = ZF = 0 */
}

/*
 * TDCALL (66 0F 01 CC): #UD outside SEAM non-root and VMX non-root
 * operation, which is everywhere L1 runs; in a TD, td-guest.c.
 */
void helper_tdcall(CPUX86State *env, int insn_len)
{
    tdx_emu_td_tdcall(env, insn_len, GETPC());
}

/* ---- MOVDIR64B ---------------------------------------------------------- */

/*
 * MOVDIR64B (66 0F 38 F8 /r): 64-byte direct store of [src] to ES:[reg].
 * The destination must be 64-byte aligned (#GP(0)). Done as eight 8-byte
 * loads then eight 8-byte stores; the stores share one page, so a fault
 * can only happen on the first one and never leaves a partial write.
 * Atomicity of the 64-byte write is not modelled.
 */
void helper_movdir64b(CPUX86State *env, target_ulong dst, target_ulong src)
{
    uintptr_t ra = GETPC();
    uint64_t buf[8];

    if (dst & 63) {
        raise_exception_err_ra(env, EXCP0D_GPF, 0, ra);
    }
    for (int i = 0; i < 8; i++) {
        buf[i] = cpu_ldq_data_ra(env, src + 8 * i, ra);
    }
    for (int i = 0; i < 8; i++) {
        cpu_stq_data_ra(env, dst + 8 * i, buf[i], ra);
    }
}
