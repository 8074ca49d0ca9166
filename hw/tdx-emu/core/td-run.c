/*
 * Running a TD vCPU: TDH.VP.ENTER as the embedder's CPU sees it, TD exits,
 * and the guest leaves that end a run (TDG.VP.VMCALL, TDG.MEM.PAGE.ACCEPT
 * of a page the host has not added yet).
 *
 * Locking: everything VP.ENTER takes is taken in tdx_vp_enter_begin()
 * (vp-enter.c) and given back in tdx_vp_enter_end(); between the two the
 * vCPU is ACTIVE and only its own LP touches v->arch and v->vmcall_*.
 *
 * TDG.VP.VMCALL register convention (GHCI 1.5, "TDG.VP.VMCALL"): the guest
 * sets RCX to a bitmap of the GPRs (by x86 number) it exposes to the host;
 * RAX, RCX and RSP cannot be exposed. At the TD exit the host gets RCX =
 * that bitmap and the selected registers; exposed registers the guest did
 * not select read as zero. At the next TDH.VP.ENTER the host's values of
 * the selected registers go back into the guest, whose TDCALL then
 * completes with RAX = TDX_SUCCESS.
 */
#include <string.h>

#include "sept.h"
#include "td.h"
#include "td-ve.h"

#define EXIT_REASON_TDCALL          77
#define EXIT_REASON_TRIPLE_FAULT    2
#define EPT_QUAL_READ               (1ULL << 0)
#define EPT_QUAL_WRITE              (1ULL << 1)
#define EPT_QUAL_FETCH              (1ULL << 2)
#define EPT_QUAL_GPA_VALID          (1ULL << 7)
#define EPT_QUAL_TRANSLATED         (1ULL << 8)
/* TDX extended exit qualification types (bits 3:0). */
#define EXT_QUAL_NORMAL             0
#define EXT_QUAL_ACCEPT             1
#define EXT_QUAL_PENDING_EPT_VIOL   6

/* GPRs a TDG.VP.VMCALL may expose: not RAX(0), RCX(1), RSP(4). Bits 31:16
 * select XMM registers (accepted; no XMM state goes to the host here);
 * bits 63:32 are reserved. */
#define VMCALL_EXPOSABLE            0xFFECULL
#define VMCALL_RCX_VALID            0xFFFFFFECULL

enum { GPR_RAX, GPR_RCX, GPR_RDX, GPR_RBX, GPR_RSP, GPR_RBP, GPR_RSI, GPR_RDI };

/* The SEAMCALL register file slot of x86 GPR `i`; NULL for RSP and RBP,
 * which the SEAMCALL ABI does not carry. */
static uint64_t *reg_slot(struct tdx_regs *r, unsigned i)
{
    switch (i) {
    case GPR_RAX: return &r->rax;
    case GPR_RCX: return &r->rcx;
    case GPR_RDX: return &r->rdx;
    case GPR_RBX: return &r->rbx;
    case GPR_RSI: return &r->rsi;
    case GPR_RDI: return &r->rdi;
    case 8: return &r->r8;
    case 9: return &r->r9;
    case 10: return &r->r10;
    case 11: return &r->r11;
    case 12: return &r->r12;
    case 13: return &r->r13;
    case 14: return &r->r14;
    case 15: return &r->r15;
    default: return NULL;
    }
}

static void seg_flat(struct tdx_seg *s, uint16_t sel, uint32_t type)
{
    /* P, S, DPL 0, D/B and G set: a flat 4 GiB 32-bit segment. */
    s->selector = sel;
    s->base = 0;
    s->limit = 0xFFFFFFFF;
    s->flags = (type << 8) | (1u << 12) | (1u << 15) | (1u << 22) | (1u << 23);
}

/*
 * The state a TD vCPU starts in (TDX module ABI, "TD vCPU initial state";
 * what TDVF's reset vector expects): 32-bit protected mode, paging off,
 * flat segments, RIP at the reset vector, EFER.LME already set so that
 * enabling PAE paging enters IA-32e mode, RBX = GPAW, RSI = vCPU index,
 * RCX = the host's VP.INIT parameter.
 */
void tdx_vcpu_arch_reset(struct tdx_vcpu *v, unsigned gpa_width)
{
    struct tdx_vcpu_arch *a = &v->arch;

    memset(a, 0, sizeof(*a));
    a->rip = 0xFFFFFFF0;
    a->rflags = 0x2;
    a->cr0 = 0x31;                  /* PE, ET, NE */
    a->cr4 = 0x40;                  /* MCE */
    a->efer = 0x900;                /* LME, NXE */
    a->xcr0 = 0x1;
    a->pat = 0x0007040600070406ULL;
    a->gpr[GPR_RBX] = gpa_width;
    a->gpr[GPR_RCX] = v->init_rcx;
    a->gpr[GPR_RSI] = v->vcpu_index;
    seg_flat(&a->seg[TDX_SEG_CS], 0x08, 0xB);      /* code, read, accessed */
    for (unsigned s = 0; s <= TDX_SEG_GS; s++) {
        if (s != TDX_SEG_CS) {
            seg_flat(&a->seg[s], 0x10, 0x3);       /* data, write, accessed */
        }
    }
    a->seg[TDX_SEG_LDTR].flags = 2u << 8 | 1u << 15;        /* LDT, present */
    a->seg[TDX_SEG_LDTR].limit = 0xFFFF;
    a->seg[TDX_SEG_TR].flags = 11u << 8 | 1u << 15;         /* busy TSS */
    a->seg[TDX_SEG_TR].limit = 0xFFFF;
    a->gdtr_limit = a->idtr_limit = 0xFFFF;
}

static uint64_t vmcs_field(const struct tdx_vcpu *v, uint32_t encoding)
{
    const struct tdx_md_field *row = tdx_vmcs_field(encoding);

    return row ? v->vmcs[tdx_md_row_index(TDX_MD_CTX_VP, row)] : 0;
}

static void trace_enter(struct tdx_module *m, unsigned lp, uint64_t status,
                        uint64_t t0, uint64_t tdr, bool injected)
{
    struct tdx_trace_event ev = {
        .lp = lp, .leaf = TDH_VP_ENTER, .status = status,
        .duration_ns = m->ops.clock_ns(m->opaque) - t0, .tdr_pa = tdr,
        .injected = injected,
    };

    tdx_account_call(m, TDH_VP_ENTER, status, injected);
    if (m->ops.trace) {
        m->ops.trace(m->opaque, &ev);
    }
}

bool tdx_vp_enter(struct tdx_module *m, unsigned lp, struct tdx_regs *regs,
                  struct tdx_td_run *run)
{
    uint64_t t0 = m->ops.clock_ns(m->opaque);
    struct tdx_vp_enter_out out = { 0 };
    struct tdx_path_event pev = {
        .kind = TDX_PATH_EV_VP_ENTER, .leaf = TDH_VP_ENTER, .lp = lp,
        .gpa = ~0ULL, .key = regs->rcx & TDX_SEPTE_HPA_MASK,
    };
    struct tdx_vcpu *v;
    uint64_t st;

    if ((regs->rax >> 16) != 0) {           /* version 0 only; reserved bits */
        st = TDX_OPERAND_INVALID | TDX_OPERAND_ID_RAX;
    } else {
        st = tdx_vp_enter_begin(m, lp, regs->rcx, &out);
    }
    if (st != TDX_SUCCESS || out.synthetic_exit) {
        memset(regs, 0, sizeof(*regs));
        if (st == TDX_SUCCESS) {
            regs->rax = out.exit_regs.rax;
            regs->rcx = out.exit_regs.rcx;
            regs->rdx = out.exit_regs.rdx;
            regs->r8 = out.exit_regs.r8;
            regs->r9 = out.exit_regs.r9;
        } else {
            regs->rax = st;
        }
        trace_enter(m, lp, regs->rax, t0, out.tdr_pa, out.injected);
        pev.status = st;
        pev.injected = out.injected;
        pev.tdr = out.tdr_pa;
        tdx_paths_note(m, &m->paths, &pev);
        return false;
    }

    v = out.vcpu;
    /* Cannot fail from here: the vCPU is ACTIVE on this LP. */
    if (v->vmcall_pending) {
        for (unsigned i = 0; i < 16; i++) {
            uint64_t *slot = reg_slot(regs, i);

            if ((v->vmcall_mask >> i & 1) && slot) {
                v->arch.gpr[i] = *slot;
            }
        }
        v->arch.gpr[GPR_RAX] = TDX_SUCCESS;     /* the TDCALL itself */
        v->vmcall_pending = false;
    }
    *run = (struct tdx_td_run) {
        .vcpu = v, .td = out.td, .state = &v->arch, .lp = lp,
        .gpa_width = out.gpa_width,
        .shared_eptp = vmcs_field(v, 0x203C),   /* SHARED_EPT_POINTER */
        .flush_tlb = out.flush_tlb, .entry_rip = v->arch.rip, .t0 = t0,
    };
    tdx_vp_enter_running(v);
    pev.status = TDX_SUCCESS;
    pev.entered = true;
    pev.tdr = out.td->tdr_pa;
    tdx_paths_note(m, &m->paths, &pev);
    return true;
}

void tdx_vp_exit(struct tdx_module *m, struct tdx_td_run *run,
                 const struct tdx_td_exit *e, struct tdx_regs *out)
{
    struct tdx_vcpu *v = run->vcpu;
    struct tdx_vp_exit_info xi = {
        .kind = TDX_VP_EXIT_OTHER, .gpa = e->gpa,
        .entry_rip = run->entry_rip, .exit_rip = v->arch.rip,
        .fatal = e->reason == EXIT_REASON_TRIPLE_FAULT,
    };
    uint64_t tdr = run->td->tdr_pa;

    memset(out, 0, sizeof(*out));
    out->rax = e->reason;                   /* TDX_SUCCESS class */
    out->rcx = e->qualification;
    out->rdx = e->ext_qualification;
    out->r8 = e->gpa;
    out->r9 = e->intr_info;
    if (e->reason == EXIT_REASON_TDCALL) {
        uint64_t mask = v->arch.gpr[GPR_RCX] & VMCALL_EXPOSABLE;

        memset(out, 0, sizeof(*out));
        out->rax = e->reason;
        out->rcx = mask;
        for (unsigned i = 0; i < 16; i++) {
            uint64_t *slot = reg_slot(out, i);

            if ((mask >> i & 1) && slot) {
                *slot = v->arch.gpr[i];
            }
        }
        v->vmcall_pending = true;
        v->vmcall_mask = mask;
    }
    /*
     * Only EPT-violation VM exits on private GPAs feed the zero-step
     * filter; the exit TDG.MEM.PAGE.ACCEPT takes to have a page added
     * comes from the TDCALL, not from an EPT violation, and does not (its
     * RIP is the same TDCALL for every page a guest accepts in a loop).
     */
    if (e->reason == TDX_EXIT_REASON_EPT_VIOLATION &&
        (e->ext_qualification & 0xF) != EXT_QUAL_ACCEPT &&
        !(e->gpa >> (run->gpa_width - 1) & 1)) {
        xi.kind = TDX_VP_EXIT_EPT_PRIVATE;
    }
    tdx_vp_enter_end(v, &xi);
    /* The vCPU is out: a pending G3 retry no longer has it inside. */
    tdx_paths_note(m, &m->paths, &(struct tdx_path_event) {
        .kind = TDX_PATH_EV_VP_EXIT, .leaf = 0xFFFF, .lp = run->lp,
        .status = TDX_SUCCESS, .tdr = tdr, .gpa = ~0ULL,
    });
    trace_enter(m, run->lp, out->rax, run->t0, tdr, false);
}

enum tdx_td_xlate tdx_td_translate_private(struct tdx_td_run *run, uint64_t gpa,
                                           int access, uint64_t *hpa,
                                           struct tdx_td_exit *exit)
{
    unsigned want = (access & TDX_TD_ACCESS_READ ? TDX_SEPTE_R : 0) |
                    (access & TDX_TD_ACCESS_WRITE ? TDX_SEPTE_W : 0) |
                    (access & TDX_TD_ACCESS_FETCH ? TDX_SEPTE_X : 0);

    if (tdx_sept_translate(run->td, gpa, want, hpa, NULL, NULL, NULL) ==
        TDX_XLATE_OK) {
        return TDX_TD_XLATE_OK;
    }
    if (tdx_sept_classify_fault(run->td, gpa) == TDX_FAULT_VE &&
        !run->vcpu->ve_info.valid) {
        /* What TDG.VP.VEINFO.GET will report (an EPT violation). */
        run->vcpu->ve_info.valid = true;
        run->vcpu->ve_info.exit_reason = TDX_EXIT_REASON_EPT_VIOLATION;
        run->vcpu->ve_info.qualification = want & 7;
        run->vcpu->ve_info.gla = 0;
        run->vcpu->ve_info.gpa = gpa;
        run->vcpu->ve_info.instr_info = 0;
        run->vcpu->ve_info.instr_len = 0;
        atomic_fetch_add_explicit(&run->vcpu->td->m->stats.ve[TDX_VE_CNT_EPT],
                                  1, memory_order_relaxed);
        return TDX_TD_XLATE_VE;
    }
    *exit = (struct tdx_td_exit) {
        .reason = TDX_EXIT_REASON_EPT_VIOLATION,
        .qualification = (access & TDX_TD_ACCESS_READ ? EPT_QUAL_READ : 0) |
                         (access & TDX_TD_ACCESS_WRITE ? EPT_QUAL_WRITE : 0) |
                         (access & TDX_TD_ACCESS_FETCH ? EPT_QUAL_FETCH : 0) |
                         EPT_QUAL_GPA_VALID | EPT_QUAL_TRANSLATED,
        .ext_qualification = EXT_QUAL_NORMAL,
        .gpa = gpa,
    };
    return TDX_TD_XLATE_EXIT;
}

enum tdx_td_tdcall tdx_td_tdcall(struct tdx_module *m, struct tdx_td_run *run,
                                 struct tdx_regs *regs, struct tdx_td_exit *exit)
{
    unsigned leaf = regs->rax & 0xFFFF;

    if (!(regs->rax >> 16) && leaf == TDG_VP_VMCALL) {
        /* RCX may not expose RAX, RCX or RSP (and bits above 15). */
        if (regs->rcx & ~VMCALL_RCX_VALID) {
            regs->rax = TDX_OPERAND_INVALID | TDX_OPERAND_ID_RCX;
            return TDX_TD_TDCALL_DONE;
        }
        *exit = (struct tdx_td_exit) { .reason = EXIT_REASON_TDCALL };
        return TDX_TD_TDCALL_EXIT;
    }
    if (!(regs->rax >> 16) && leaf == TDG_MEM_PAGE_ACCEPT) {
        struct tdx_accept_result res = { 0 };
        uint64_t st = tdx_sept_guest_accept(m, run->td, run->lp, regs->rcx, &res);
        struct tdx_path_event pev = {
            .kind = TDX_PATH_EV_ACCEPT, .leaf = TDG_MEM_PAGE_ACCEPT,
            .lp = run->lp, .injected = res.injected, .tdr = run->td->tdr_pa,
            .gpa = regs->rcx & ~0xFFFULL, .key = run->vcpu->tdvpr_pa,
        };

        if (tdx_status_class(st) == TDX_OPERAND_BUSY_HOST_PRIORITY) {
            st = TDX_OPERAND_BUSY | (st & TDX_STATUS_OPERAND_MASK);
        }
        /* A TD exit to have the page added is a re-issue too, not a
         * failure. */
        pev.status = res.exit_to_host ? TDX_SUCCESS : st;
        tdx_paths_note(m, &m->paths, &pev);

        if (res.exit_to_host) {
            *exit = (struct tdx_td_exit) {
                .reason = TDX_EXIT_REASON_EPT_VIOLATION,
                .qualification = EPT_QUAL_WRITE | EPT_QUAL_GPA_VALID |
                                 EPT_QUAL_TRANSLATED,
                .ext_qualification = EXT_QUAL_ACCEPT |
                                     ((uint64_t)res.req_level << 4),
                .gpa = regs->rcx & ~0xFFFULL,
            };
            return TDX_TD_TDCALL_EXIT_RETRY;
        }
        regs->rax = st;
        regs->rcx = res.ext_rcx;
        regs->rdx = res.ext_rdx;
        return TDX_TD_TDCALL_DONE;
    }
    tdx_tdcall(m, run->lp, run->vcpu, regs);
    return TDX_TD_TDCALL_DONE;
}
