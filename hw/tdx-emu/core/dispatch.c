/*
 * The module's two entry points, one per instruction: tdx_seamcall() for
 * every host (SEAMCALL) leaf, TDH.VP.ENTER included, and tdx_tdcall() for
 * every guest (TDCALL) leaf, TDG.VP.VMCALL and TDG.MEM.PAGE.ACCEPT
 * included. Each runs the dispatcher's checks in the module's order, the
 * leaf's handler from its table, and the common epilogue (call.c).
 *
 * Host dispatcher order (Intel tdx_1.5 vmm_dispatcher): RAX reserved bits, module shut down,
 * unknown leaf, version, module not ready. Guest dispatcher (Intel tdx_1.5
 * TD dispatcher): RAX bits 63:24 reserved ->
 * TDX_OPERAND_INVALID|RAX; unknown leaf or version -> the same. Guest
 * leaves run under the TDR/TDVPR locks VP.ENTER took shared; they take no
 * TD-wide locks of their own, only S-EPT entry / RTMR locks, always as a
 * guest (host-priority locks make them back off), and the epilogue turns
 * TDX_OPERAND_BUSY_HOST_PRIORITY into TDX_OPERAND_BUSY for the guest. (The
 * module also times the back-off and exits to the host with
 * TDX_HOST_PRIORITY_BUSY_TIMEOUT after TDCS.HP_LOCK_TIMEOUT; not done.)
 *
 * A new leaf is a row below (names live in leaf-names.c); HACKING.md says
 * how its handler is shaped.
 */
#include "module.h"
#include "td.h"

static const struct tdx_leaf_desc host_leaves[TDX_MAX_LEAF] = {
    [TDH_VP_ENTER]        = { tdx_leaf_vp_enter, 0, false },
    [TDH_SYS_KEY_CONFIG]  = { tdx_leaf_sys_key_config, 0, true },
    [TDH_SYS_INIT]        = { tdx_leaf_sys_init, 0, true },
    [TDH_SYS_RD]          = { tdx_leaf_sys_rd, 0, true },
    [TDH_SYS_LP_INIT]     = { tdx_leaf_sys_lp_init, 0, true },
    [TDH_SYS_TDMR_INIT]   = { tdx_leaf_sys_tdmr_init, 0, false },
    [TDH_SYS_LP_SHUTDOWN] = { tdx_leaf_sys_lp_shutdown, 0, true },
    [TDH_SYS_CONFIG]      = { tdx_leaf_sys_config, 0, true },
    [TDH_SYS_SHUTDOWN]    = { tdx_leaf_sys_shutdown, 0, false },
    [TDH_SYS_UPDATE]      = { tdx_leaf_sys_update, 0, true },
    [TDH_SYS_DISABLE]     = { tdx_leaf_sys_disable, 0, true },
    /* TD lifecycle, vCPU, measurement, PHYMEM (leaf-mng/vp/mr/phymem.c). */
    [TDH_MNG_ADDCX]       = { tdx_leaf_mng_addcx, 0, false },
    [TDH_VP_ADDCX]        = { tdx_leaf_vp_addcx, 0, false },
    [TDH_MNG_KEY_CONFIG]  = { tdx_leaf_mng_key_config, 0, false },
    [TDH_MNG_CREATE]      = { tdx_leaf_mng_create, 0, false },
    [TDH_VP_CREATE]       = { tdx_leaf_vp_create, 0, false },
    [TDH_MNG_RD]          = { tdx_leaf_mng_rd, 1, false },
    [TDH_MNG_WR]          = { tdx_leaf_mng_wr, 0, false },
    [TDH_MR_EXTEND]       = { tdx_leaf_mr_extend, 0, false },
    [TDH_MR_FINALIZE]     = { tdx_leaf_mr_finalize, 0, false },
    [TDH_VP_FLUSH]        = { tdx_leaf_vp_flush, 0, false },
    [TDH_MNG_VPFLUSHDONE] = { tdx_leaf_mng_vpflushdone, 0, false },
    [TDH_MNG_KEY_FREEID]  = { tdx_leaf_mng_key_freeid, 0, false },
    [TDH_MNG_INIT]        = { tdx_leaf_mng_init, 0, false },
    /* Version 1 (x2APIC ID in R8) is what Linux 7.2 calls; newer modules
     * accept it, 1.5.01 would not. */
    [TDH_VP_INIT]         = { tdx_leaf_vp_init, 1, false },
    [TDH_PHYMEM_PAGE_RDMD] = { tdx_leaf_phymem_page_rdmd, 0, false },
    [TDH_VP_RD]           = { tdx_leaf_vp_rd, 1, false },
    [TDH_PHYMEM_PAGE_RECLAIM] = { tdx_leaf_phymem_page_reclaim, 0, false },
    [TDH_PHYMEM_CACHE_WB] = { tdx_leaf_phymem_cache_wb, 0, false },
    [TDH_PHYMEM_PAGE_WBINVD] = { tdx_leaf_phymem_page_wbinvd, 0, false },
    [TDH_VP_WR]           = { tdx_leaf_vp_wr, 0, false },
    /* S-EPT and TLB tracking (leaf-mem.c). SEPT.ADD/REMOVE have a v1. */
    [TDH_MEM_PAGE_ADD]    = { tdx_leaf_mem_page_add, 0, false },
    [TDH_MEM_SEPT_ADD]    = { tdx_leaf_mem_sept_add, 1, false },
    [TDH_MEM_PAGE_AUG]    = { tdx_leaf_mem_page_aug, 0, false },
    [TDH_MEM_RANGE_BLOCK] = { tdx_leaf_mem_range_block, 0, false },
    [TDH_MEM_PAGE_REMOVE] = { tdx_leaf_mem_page_remove, 0, false },
    [TDH_MEM_SEPT_REMOVE] = { tdx_leaf_mem_sept_remove, 1, false },
    [TDH_MEM_TRACK]       = { tdx_leaf_mem_track, 0, false },
    [TDH_MEM_RANGE_UNBLOCK] = { tdx_leaf_mem_range_unblock, 0, false },
};

static const struct tdx_leaf_desc guest_leaves[TDX_MAX_GUEST_LEAF] = {
    [TDG_VP_VMCALL]       = { tdx_tdg_vp_vmcall, 0 },           /* vp-enter.c */
    [TDG_VP_INFO]         = { tdx_tdg_vp_info, 0 },             /* tdcall-vm.c */
    [TDG_MR_RTMR_EXTEND]  = { tdx_tdg_mr_rtmr_extend, 0 },      /* tdcall-mr.c */
    [TDG_VP_VEINFO_GET]   = { tdx_tdg_vp_veinfo_get, 0 },       /* td-ve.c */
    [TDG_MR_REPORT]       = { tdx_tdg_mr_report, 0 },           /* tdcall-mr.c */
    [TDG_MEM_PAGE_ACCEPT] = { tdx_tdg_mem_page_accept, 0 },     /* leaf-mem.c */
    [TDG_VM_RD]           = { tdx_tdg_vm_rd, 1 },               /* tdcall-vm.c */
    [TDG_VM_WR]           = { tdx_tdg_vm_wr, 0 },
    [TDG_VP_RD]           = { tdx_tdg_vp_rd, 0 },
    [TDG_VP_WR]           = { tdx_tdg_vp_wr, 0 },
};

enum tdx_seamcall_result tdx_seamcall(struct tdx_module *m, unsigned lp,
                                      struct tdx_regs *regs,
                                      struct tdx_td_run *run)
{
    const int state = atomic_load(&m->sys_state);
    const struct tdx_leaf_desc *d;
    struct tdx_call c;
    uint64_t status;

    tdx_call_begin(&c, m, lp, regs, true);
    c.run = run;
    c.loader = regs->rax & TDX_SEAMLDR_LEAF_BIT;
    d = c.leaf < TDX_MAX_LEAF ? &host_leaves[c.leaf] : NULL;
    if (lp >= m->desc.num_lps) {
        status = TDX_OPERAND_INVALID | TDX_OPERAND_ID_RAX;  /* embedder bug */
    } else if (c.loader) {
        /* The loader, not the module: none of the module's state checks. */
        status = tdx_seamldr_call(m, lp, regs);
    } else if (regs->rax >> 24) {
        status = TDX_OPERAND_INVALID | TDX_OPERAND_ID_RAX;
    } else if (state == TDX_SYS_STATE_SHUTDOWN && c.leaf != TDH_SYS_LP_SHUTDOWN) {
        status = TDX_SYS_SHUTDOWN;
    } else if (!d || !d->fn || c.version > d->max_version) {
        status = TDX_OPERAND_INVALID | TDX_OPERAND_ID_RAX;
        c.unknown = c.unknown_is_leaf = true;
        c.unknown_what = regs->rax;
    } else if (state != TDX_SYS_READY && !d->before_ready) {
        status = TDX_SYS_NOT_READY;
    } else {
        status = d->fn(&c, regs);
    }
    status = tdx_call_end(&c, status);
    if (c.outcome == TDX_SEAMCALL_ENTER_TD) {
        return TDX_SEAMCALL_ENTER_TD;   /* completes at the TD exit */
    }
    regs->rax = status;
    return TDX_SEAMCALL_DONE;
}

enum tdx_tdcall_result tdx_tdcall(struct tdx_td_run *run, struct tdx_regs *regs,
                                  struct tdx_td_exit *exit)
{
    struct tdx_module *m = run->m;
    struct tdx_vcpu *v = run->vcpu;
    const struct tdx_leaf_desc *d;
    struct tdx_call c;
    uint64_t status;

    tdx_call_begin(&c, m, run->lp, regs, false);
    c.run = run;
    c.vcpu = v;
    c.exit = exit;
    c.tdr_pa = v && v->td ? v->td->tdr_pa : 0;
    d = c.leaf < TDX_MAX_GUEST_LEAF ? &guest_leaves[c.leaf] : NULL;
    if (run->lp >= m->desc.num_lps || !v || !v->td || !exit) {
        status = TDX_OPERAND_INVALID | TDX_OPERAND_ID_RAX;  /* embedder bug */
    } else if (regs->rax >> 24) {
        status = TDX_OPERAND_INVALID | TDX_OPERAND_ID_RAX;
    } else if (!d || !d->fn || c.version > d->max_version) {
        status = TDX_OPERAND_INVALID | TDX_OPERAND_ID_RAX;
        c.unknown = c.unknown_is_leaf = true;
        c.unknown_what = regs->rax;
    } else {
        status = d->fn(&c, regs);
    }
    status = tdx_call_end(&c, status);
    if (c.outcome == TDX_TDCALL_DONE) {
        regs->rax = status;
    }
    return c.outcome;
}
