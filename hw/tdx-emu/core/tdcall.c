/*
 * TDCALL dispatcher: guest (TDG.*) leaves from a TD vCPU that is inside
 * the TD (between tdx_vp_enter_begin() and tdx_vp_enter_end()).
 *
 * Facts (Intel tdx_1.5 TD dispatcher, /work/facts/guest-leaves.md §0):
 *  - RAX bits 63:24 reserved -> TDX_OPERAND_INVALID|RAX; only TDG.VM.RD
 *    has a version above 0; unknown leaf -> TDX_OPERAND_INVALID|RAX.
 *  - Guest leaves run under the TDR/TDVPR locks VP.ENTER took shared; they
 *    take no TD-wide locks of their own, only S-EPT entry / RTMR locks,
 *    always as a guest (host-priority locks make them back off).
 *  - A leaf's TDX_OPERAND_BUSY_HOST_PRIORITY|op reaches the guest as
 *    TDX_OPERAND_BUSY|op: the guest never sees the host-priority code.
 *    (The module also times the back-off and exits to the host with
 *    TDX_HOST_PRIORITY_BUSY_TIMEOUT after TDCS.HP_LOCK_TIMEOUT; that needs
 *    per-vCPU state of the guest-leaf family and is not done here yet.)
 *
 * Leaves are added by filling in guest_leaves[] below; a handler has the
 * same shape as a host leaf handler and gets the vCPU through c->vcpu.
 */
#include "module.h"
#include "td.h"

/* TDG.VP.INFO (1): the TD's shape; no inputs, no locks, always succeeds. */
static uint64_t tdg_vp_info(struct tdx_call *c, struct tdx_regs *r)
{
    const struct tdx_vcpu *v = c->vcpu;
    const struct tdx_td *td = v->td;

    r->rcx = td->cfg.gpaw ? 52 : 48;
    r->rdx = td->cfg.attributes;
    r->r8 = (uint64_t)td->cfg.max_vcpus << 32 | atomic_load(&td->num_vcpus);
    r->r9 = v->vcpu_index;
    r->r10 = 0;             /* no optional guest leaves (TDG.SYS.RD) */
    r->r11 = 0;
    return TDX_SUCCESS;
}

/* TDG.VP.VEINFO.GET (3): the last #VE's information, once. */
static uint64_t tdg_vp_veinfo_get(struct tdx_call *c, struct tdx_regs *r)
{
    struct tdx_vcpu *v = c->vcpu;

    r->rcx = r->rdx = r->r8 = r->r9 = r->r10 = 0;
    if (!v->ve_info.valid) {
        return TDX_NO_VALID_VE_INFO;
    }
    r->rcx = v->ve_info.exit_reason;
    r->rdx = v->ve_info.qualification;
    r->r8 = v->ve_info.gla;
    r->r9 = v->ve_info.gpa;
    /* R10: instruction length in bits 31:0, information in 63:32. */
    r->r10 = (uint64_t)v->ve_info.instr_len |
             (v->ve_info.instr_info << 32);
    v->ve_info.valid = false;
    return TDX_SUCCESS;
}

static const struct tdx_guest_leaf_desc guest_leaves[TDX_MAX_GUEST_LEAF] = {
    [TDG_VP_VMCALL]       = { "TDG.VP.VMCALL", NULL, 0 },
    [TDG_VP_INFO]         = { "TDG.VP.INFO", tdg_vp_info, 0 },
    [TDG_MR_RTMR_EXTEND]  = { "TDG.MR.RTMR.EXTEND", tdx_tdg_mr_rtmr_extend, 0 },
    [TDG_VP_VEINFO_GET]   = { "TDG.VP.VEINFO.GET", tdg_vp_veinfo_get, 0 },
    [TDG_MR_REPORT]       = { "TDG.MR.REPORT", tdx_tdg_mr_report, 0 },
    [TDG_MEM_PAGE_ACCEPT] = { "TDG.MEM.PAGE.ACCEPT", NULL, 0 },
    [TDG_VM_RD]           = { "TDG.VM.RD", tdx_tdg_vm_rd, 1 },
    [TDG_VM_WR]           = { "TDG.VM.WR", tdx_tdg_vm_wr, 0 },
    [TDG_VP_RD]           = { "TDG.VP.RD", tdx_tdg_vp_rd, 0 },
    [TDG_VP_WR]           = { "TDG.VP.WR", tdx_tdg_vp_wr, 0 },
};

const char *tdx_guest_leaf_name(unsigned leaf)
{
    return leaf < TDX_MAX_GUEST_LEAF ? guest_leaves[leaf].name : NULL;
}

int tdx_guest_leaf_by_name(const char *name)
{
    for (unsigned leaf = 0; name && leaf < TDX_MAX_GUEST_LEAF; leaf++) {
        if (guest_leaves[leaf].name &&
            tdx_leaf_name_equal(name, guest_leaves[leaf].name)) {
            return (int)leaf;
        }
    }
    return -1;
}

uint64_t tdx_tdcall(struct tdx_module *m, unsigned lp, struct tdx_vcpu *vcpu,
                    struct tdx_regs *regs)
{
    uint64_t t0 = m->ops.trace ? m->ops.clock_ns(m->opaque) : 0;
    unsigned leaf = regs->rax & 0xFFFF;
    unsigned version = (regs->rax >> 16) & 0xFF;
    const struct tdx_guest_leaf_desc *d =
        leaf < TDX_MAX_GUEST_LEAF ? &guest_leaves[leaf] : NULL;
    struct tdx_call c = {
        .m = m, .lp = lp, .leaf = leaf, .version = version, .host = false,
        .gpa = ~0ULL, .vcpu = vcpu,
        .tdr_pa = vcpu && vcpu->td ? vcpu->td->tdr_pa : 0,
    };
    uint64_t status;

    tdx_inject_expire_holds(m);
    if (lp >= m->desc.num_lps || !vcpu || !vcpu->td) {
        status = TDX_OPERAND_INVALID | TDX_OPERAND_ID_RAX;  /* embedder bug */
    } else if (regs->rax >> 24) {
        status = TDX_OPERAND_INVALID | TDX_OPERAND_ID_RAX;
    } else if (!d || !d->fn || version > d->max_version) {
        status = TDX_OPERAND_INVALID | TDX_OPERAND_ID_RAX;
    } else {
        status = d->fn(&c, regs);
        tdx_call_unlock_all(&c);
    }
    if (tdx_status_class(status) == TDX_OPERAND_BUSY_HOST_PRIORITY) {
        status = TDX_OPERAND_BUSY | (status & TDX_STATUS_OPERAND_MASK);
    }
    regs->rax = status;
    if (m->ops.trace) {
        struct tdx_trace_event ev = {
            .lp = lp, .leaf = leaf, .version = version, .status = status,
            .duration_ns = m->ops.clock_ns(m->opaque) - t0,
            .injected = c.injected, .guest = true,
        };
        m->ops.trace(m->opaque, &ev);
    }
    return status;
}
