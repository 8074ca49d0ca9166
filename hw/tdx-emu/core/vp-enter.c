/*
 * TDH.VP.ENTER, the one SEAMCALL that completes later: its handler (a row
 * of host_leaves[] like any other) checks, locks and loads the run record,
 * and returns "enter the TD"; the embedder's CPU then executes TD code
 * until a TD exit, which tdx_vp_exit() turns into the SEAMCALL's outputs
 * and completes through the same epilogue as every call (call.c). Also
 * here: the TD-epoch refcounts (TLB tracking), the zero-step (EPT-fault
 * stepping) filter, and TDG.VP.VMCALL, the guest leaf that asks for a TD
 * exit and whose registers cross at the next entry.
 *
 * Facts (Intel tdx_1.5: api_calls/tdh_vp_enter.c, td_transitions/
 * td_exit_stepping.c, tdx_locks.h). In order:
 *   TDVPR (explicit, shared; busy -> |RCX)       held while in the TD
 *   TDR (implicit via TDVPR's owner, shared; |0x80) held while in the TD
 *   OP_STATE shared, op-state RUNNABLE            dropped at entry
 *   vCPU READY, associate with this LP
 *   epoch lock shared (|0xA9: a TRACK holds it): sample TD_EPOCH, count
 *     this vCPU in REFCOUNT[epoch & 1], drop the lock
 *   zero-step filter armed (EPF GPA list non-empty): SEPT tree exclusive
 *     (|0x92), then every logged GPA must translate, else a synthetic
 *     EPT-violation exit without entering; the tree is dropped at entry.
 * A failure after the refcount increment takes it back; the vCPU stays
 * associated, as in Intel's module.
 *
 * TDG.VP.VMCALL register convention (GHCI 1.5, "TDG.VP.VMCALL"): the guest
 * sets RCX to a bitmap of the GPRs (by x86 number) it exposes to the host;
 * RAX, RCX and RSP cannot be exposed. At the TD exit the host gets RCX =
 * that bitmap and the selected registers; exposed registers the guest did
 * not select read as zero. At the next TDH.VP.ENTER the host's values of
 * the selected registers go back into the guest, whose TDCALL then
 * completes with RAX = TDX_SUCCESS.
 */
#include <stdlib.h>
#include <string.h>

#include "sept.h"
#include "td.h"
#include "tdx-vmx.h"

#define VP_ENTER_RCX_RESERVED  (0xFFFULL | (~0ULL << 54))
#define VP_ENTER_RESUME_L1     (1ULL << 53)

/* GPRs a TDG.VP.VMCALL may expose: not RAX(0), RCX(1), RSP(4). Bits 31:16
 * select XMM registers (accepted; no XMM state goes to the host here);
 * bits 63:32 are reserved. */
#define VMCALL_EXPOSABLE            0xFFECULL
#define VMCALL_RCX_VALID            0xFFFFFFECULL

/* VMCS field the host writes with TDH.VP.WR: KVM's EPT for shared GPAs. */
#define VMCS_SHARED_EPT_POINTER     0x203C

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

static uint64_t vmcs_field(const struct tdx_vcpu *v, uint32_t encoding)
{
    const struct tdx_md_field *row = tdx_vmcs_field(encoding);

    return row ? v->vmcs[tdx_md_row_index(TDX_MD_CTX_VP, row)] : 0;
}

static struct tdx_vp_priv *vp_priv(struct tdx_vcpu *v)
{
    /* Only the LP the vCPU is associated with gets here: no race. */
    if (!v->priv) {
        v->priv = calloc(1, sizeof(struct tdx_vp_priv));
    }
    return v->priv;
}

/* Drop the newest lock the call holds (the epoch lock, right after use). */
static void drop_newest(struct tdx_call *c)
{
    c->num_held--;
    tdx_lock_release(c->held[c->num_held].lock, c->held[c->num_held].mode);
}

/*
 * Zero-step filter: does a GPA the filter logged still fault? A violation
 * that would become a #VE (PENDING page, #VE not disabled) is
 * "convertible" and does not count (td_exit_stepping.c).
 */
static bool still_faulting(struct tdx_td *td, uint64_t gpa)
{
    uint64_t hpa;

    return tdx_sept_translate(td, gpa, TDX_ACCESS_RWX, &hpa, NULL, NULL,
                              NULL) != TDX_XLATE_OK &&
           tdx_sept_classify_fault(td, gpa) != TDX_FAULT_VE;
}

uint64_t tdx_leaf_vp_enter(struct tdx_call *c, struct tdx_regs *r)
{
    struct tdx_module *m = c->m;
    struct tdx_td_run *run = c->run;
    const struct tdx_regs in = *r;
    const uint64_t tdvpr_pa = in.rcx & TDX_SEPTE_HPA_MASK;
    struct tdx_pamt_entry *pe;
    struct tdx_sept_td *s;
    struct tdx_vp_priv *p;
    struct tdx_vcpu *v;
    struct tdx_td *td;
    uint64_t st, epoch;
    bool new_assoc, tree = false;

    /*
     * A failed entry returns only its status: every other register is the
     * host's input, as in Intel's module (tdh_vp_enter.c, EXIT_FAILURE).
     * KVM relies on it: it re-enters after a BUSY with the same argument
     * block, which still holds the results of the guest's last
     * TDG.VP.VMCALL (R10, R11, ...) for the entry to hand over.
     */
    if (!run) {
        /* An embedder without a CPU to run TDs on (the QMP doorbell). */
        return TDX_OPERAND_INVALID | TDX_OPERAND_ID_RAX;
    }
    if (in.rcx & VP_ENTER_RCX_RESERVED) {
        return TDX_OPERAND_INVALID | TDX_OPERAND_ID_RCX;
    }
    st = tdx_td_lock_page(c, tdvpr_pa, TDX_OPERAND_ID_RCX, TDX_LOCK_SHARED,
                          TDX_PT_TDVPR, &pe);
    if (st != TDX_SUCCESS) {
        return st;
    }
    v = pe->obj;
    if (!v) {
        return TDX_PAGE_METADATA_INCORRECT | TDX_OPERAND_ID_RCX;
    }
    st = tdx_td_lock_implicit_tdr(c, pe->owner, TDX_LOCK_SHARED, &td);
    if (st != TDX_SUCCESS) {
        return st;
    }
    st = tdx_td_check_state(c, td, true);
    if (st != TDX_SUCCESS) {
        return st;
    }
    if (v->num_pages < TDX_TD_TDVPS_PAGES) {
        return TDX_TDCX_NUM_INCORRECT;
    }
    st = tdx_vcpu_associate(c, v, false, &new_assoc);
    if (st != TDX_SUCCESS) {
        return st;
    }
    /* No L2 VMs: resuming "L1 of an L2" is meaningless. (The host-
     * recoverability hint, bit 52, is accepted as is: the last-exit type
     * it depends on is not modelled.) */
    if (in.rcx & VP_ENTER_RESUME_L1) {
        return TDX_OPERAND_INVALID | TDX_OPERAND_ID_RCX;
    }
    p = vp_priv(v);
    s = tdx_sept_of(td);
    if (!p || !s) {
        return TDX_RND_NO_ENTROPY;      /* host out of memory: retryable */
    }

    /* TLB tracking: count this vCPU in the current epoch, under the epoch
     * lock shared, so that TDH.MEM.TRACK (exclusive) sees either all of
     * this or none of it. */
    st = tdx_call_lock(c, &td->epoch_lock, TDX_LOCK_SHAREX, TDX_LOCK_SHARED,
                       TDX_OPERAND_BUSY | TDX_OPERAND_ID_TD_EPOCH);
    if (st != TDX_SUCCESS) {
        return st;
    }
    epoch = atomic_load(&td->td_epoch);
    atomic_fetch_add(&td->epoch_refcount[epoch & 1], 1);
    drop_newest(c);

    /* Zero-step mitigation: while the filter holds GPAs, entries take the
     * tree exclusively, so no S-EPT leaf runs until the guest is in. */
    if (p->epf_n > 0) {
        st = tdx_call_lock(c, &td->sept_tree_lock, TDX_LOCK_SHAREX,
                           TDX_LOCK_EXCLUSIVE, TDX_OPERAND_BUSY | TDX_OPERAND_ID_SEPT);
        if (st != TDX_SUCCESS) {
            atomic_fetch_sub(&td->epoch_refcount[epoch & 1], 1);
            return st;
        }
        tree = true;
        for (uint32_t i = 0; i < p->epf_n; i++) {
            if (!still_faulting(td, p->epf_gpa[i])) {
                continue;
            }
            /* Do not enter; the host must fix the mapping first. Looks to
             * the host like an EPT-violation TD exit. */
            atomic_fetch_sub(&td->epoch_refcount[epoch & 1], 1);
            atomic_fetch_add_explicit(&m->stats.zero_step_synthetic_exits, 1,
                                      memory_order_relaxed);
            /* An exit, not a failure: its outputs, every other GPR zero. */
            memset(r, 0, sizeof(*r));
            r->rcx = TDX_ACCESS_WRITE;          /* qualification: a write */
            r->r8 = p->epf_gpa[i] & ~0xFFFULL;
            return TDX_EXIT_REASON_EPT_VIOLATION;
        }
        atomic_fetch_add_explicit(&m->stats.zero_step_entries, 1,
                                  memory_order_relaxed);
    }

    /* Cannot fail from here. Held: TDVPR, TDR, OP_STATE[, tree]. TDVPR
     * and TDR stay with the vCPU until its exit; OP_STATE and the tree go
     * with the call's unwind, right before the guest runs. */
    p->tdvpr_lock = c->held[0].lock;
    p->tdr_lock = c->held[1].lock;
    c->held[0] = c->held[2];
    if (tree) {
        c->held[1] = c->held[3];
    }
    c->num_held -= 2;
    p->lp = c->lp;
    v->state = TDX_VCPU_ACTIVE;
    atomic_store(&p->in_td, true);
    /* A new epoch since this vCPU last ran on this LP: its cached TD
     * translations may be stale. A vCPU new to this LP is flushed anyway. */
    run->flush_tlb = new_assoc || epoch != v->vcpu_epoch;
    v->vcpu_epoch = epoch;

    if (v->vmcall_pending) {
        for (unsigned i = 0; i < 16; i++) {
            const uint64_t *slot = reg_slot((struct tdx_regs *)&in, i);

            if ((v->vmcall_mask >> i & 1) && slot) {
                v->arch.gpr[i] = *slot;
            }
        }
        v->arch.gpr[GPR_RAX] = TDX_SUCCESS;     /* the TDCALL itself */
        v->vmcall_pending = false;
    }
    run->m = m;
    run->vcpu = v;
    run->td = td;
    run->state = &v->arch;
    run->lp = c->lp;
    run->gpa_width = s->gpa_width;
    run->shared_eptp = vmcs_field(v, VMCS_SHARED_EPT_POINTER);
    run->entry_rip = v->arch.rip;
    run->t0 = c->t0;
    c->vcpu = v;
    c->outcome = TDX_SEAMCALL_ENTER_TD;
    return TDX_SUCCESS;
}

void tdx_vp_epf_log(struct tdx_vp_priv *p, uint64_t entry_rip, uint64_t exit_rip,
                    bool private_ept, uint64_t gpa)
{
    /* Forward progress since the entry ends any suspicion. */
    if (exit_rip != entry_rip) {
        p->epf_n = 0;
        p->epf_count = 0;
    }
    if (!private_ept) {
        return;
    }
    /* Count same-RIP private EPT violations; from the 7th on, remember the
     * distinct GPAs (at most 32), which arms the filter at the next entry. */
    if (p->epf_count < TDX_EPF_THRESHOLD) {
        p->epf_count++;
        return;
    }
    if (p->epf_n >= TDX_EPF_LIST_SIZE) {
        return;
    }
    for (uint32_t i = 0; i < p->epf_n; i++) {
        if (p->epf_gpa[i] == gpa) {
            return;
        }
    }
    p->epf_gpa[p->epf_n++] = gpa;
}

void tdx_vp_exit(struct tdx_td_run *run, const struct tdx_td_exit *e,
                 struct tdx_regs *out)
{
    struct tdx_module *m = run->m;
    struct tdx_vcpu *v = run->vcpu;
    struct tdx_vp_priv *p = v->priv;
    struct tdx_td *td = run->td;
    struct tdx_call c;
    /*
     * Only EPT-violation VM exits on private GPAs feed the zero-step
     * filter; the exit TDG.MEM.PAGE.ACCEPT takes to have a page added
     * comes from the TDCALL, not from an EPT violation, and does not (its
     * RIP is the same TDCALL for every page a guest accepts in a loop).
     */
    const bool private_ept = e->reason == TDX_EXIT_REASON_EPT_VIOLATION &&
        (e->ext_qualification & 0xF) != TDX_EXT_QUAL_ACCEPT &&
        !(e->gpa >> (run->gpa_width - 1) & 1);

    memset(out, 0, sizeof(*out));
    out->rax = e->reason;                   /* TDX_SUCCESS class */
    if (e->reason == TDX_EXIT_REASON_TDCALL) {
        uint64_t mask = v->arch.gpr[GPR_RCX] & VMCALL_EXPOSABLE;

        out->rcx = mask;
        for (unsigned i = 0; i < 16; i++) {
            uint64_t *slot = reg_slot(out, i);

            if ((mask >> i & 1) && slot) {
                *slot = v->arch.gpr[i];
            }
        }
        v->vmcall_pending = true;
        v->vmcall_mask = mask;
    } else {
        out->rcx = e->qualification;
        out->rdx = e->ext_qualification;
        out->r8 = e->gpa;
        out->r9 = e->intr_info;
    }

    if (p && atomic_load(&p->in_td)) {
        tdx_vp_epf_log(p, run->entry_rip, v->arch.rip, private_ept, e->gpa);
        v->state = e->reason == TDX_EXIT_REASON_TRIPLE_FAULT ?
                   TDX_VCPU_DISABLED : TDX_VCPU_READY;
        /* Leave the epoch before the TDR lock goes (TD exit order). */
        atomic_fetch_sub(&td->epoch_refcount[v->vcpu_epoch & 1], 1);
        atomic_store(&p->in_td, false);
        tdx_lock_release(p->tdr_lock, TDX_LOCK_SHARED);
        tdx_lock_release(p->tdvpr_lock, TDX_LOCK_SHARED);
    }
    /* The vCPU is out: a pending G3 retry no longer has it inside. */
    tdx_paths_note(m, &m->paths, &(struct tdx_path_event) {
        .kind = TDX_PATH_EV_VP_EXIT, .leaf = 0xFFFF, .lp = run->lp,
        .status = TDX_SUCCESS, .tdr = td->tdr_pa, .gpa = ~0ULL,
    });
    /* TDH.VP.ENTER completes now: the rest of the common epilogue. */
    memset(&c, 0, offsetof(struct tdx_call, held));
    c.m = m;
    c.lp = run->lp;
    c.leaf = TDH_VP_ENTER;
    c.host = true;
    c.tdr_pa = td->tdr_pa;
    c.vcpu = v;
    c.t0 = run->t0;
    tdx_call_complete(&c, out->rax, e);
}

/* TDG.VP.VMCALL (0): a TD exit to the host, which answers at re-entry. */
uint64_t tdx_tdg_vp_vmcall(struct tdx_call *c, struct tdx_regs *r)
{
    /* RCX may not expose RAX, RCX or RSP (and bits above 31). */
    if (r->rcx & ~VMCALL_RCX_VALID) {
        return TDX_OPERAND_INVALID | TDX_OPERAND_ID_RCX;
    }
    *c->exit = (struct tdx_td_exit) { .reason = TDX_EXIT_REASON_TDCALL };
    c->outcome = TDX_TDCALL_EXIT;
    return TDX_SUCCESS;
}
