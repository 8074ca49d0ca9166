/*
 * TDH.VP.ENTER (module half): checks, locks held while in the TD, the
 * lock rows of VP.ENTER, TD epoch / TLB tracking with vCPUs inside, and
 * the zero-step filter (SEPT tree exclusive -> BUSY|0x92 for PAGE.AUG).
 */
#include "sept-harness.h"

#define GPA  0x80000000ULL

/* What one TDH.VP.ENTER through the dispatcher gave. */
struct enter_out {
    struct tdx_td_run run;
    struct tdx_vcpu *vcpu;          /* went in */
    bool synthetic_exit;            /* completed with an exit, no entry */
    struct tdx_regs exit_regs;
};

static uint64_t enter_rcx(struct st_env *e, unsigned lp, uint64_t rcx,
                          struct enter_out *out)
{
    struct tdx_regs r = { .rax = TDH_VP_ENTER, .rcx = rcx };

    memset(out, 0, sizeof(*out));
    if (tdx_seamcall(e->p->m, lp, &r, &out->run) == TDX_SEAMCALL_ENTER_TD) {
        out->vcpu = out->run.vcpu;
        return TDX_SUCCESS;
    }
    if (tdx_status_is_error(r.rax)) {
        return r.rax;
    }
    out->synthetic_exit = true;
    out->exit_regs = r;
    return TDX_SUCCESS;
}

static uint64_t enter(struct st_env *e, unsigned i, struct enter_out *out)
{
    return enter_rcx(e, e->td.vp[i].lp, e->td.vp[i].tdvpr, out);
}

/* TD exit at exit_rip of a run that started at entry_rip: a private EPT
 * violation at gpa when `ept`, else an external interrupt. */
static void leave(struct enter_out *out, bool ept, uint64_t gpa,
                  uint64_t entry_rip, uint64_t exit_rip)
{
    struct tdx_td_exit x = {
        .reason = ept ? TDX_EXIT_REASON_EPT_VIOLATION : TDX_EXIT_REASON_EXT_INTR,
        .gpa = gpa,
    };
    struct tdx_regs regs;

    out->run.entry_rip = entry_rip;
    out->run.state->rip = exit_rip;
    tdx_vp_exit(&out->run, &x, &regs);
}

static void test_enter_basic(void)
{
    struct enter_out out, first;
    struct st_env e;
    struct tdx_vcpu *v;
    struct tdx_regs r;

    st_setup(&e, 3, 2, false);
    TDXT_EXPECT_STATUS(enter(&e, 0, &out), TDX_OP_STATE_INCORRECT, "enter before FINALIZE");
    r = (struct tdx_regs){ .rcx = e.td.tdr };
    TDXT_EXPECT_STATUS(tdt_call(e.p, 0, TDH_MR_FINALIZE, &r), TDX_SUCCESS, "finalize");
    TDXT_EXPECT_STATUS(enter_rcx(&e, 0, e.td.vp[0].tdvpr | 1, &out),
                       TDX_OPERAND_INVALID | TDX_OPERAND_ID_RCX, "reserved RCX bits");
    TDXT_EXPECT_STATUS(enter_rcx(&e, 0, e.td.vp[0].tdvpr | (1ULL << 53), &out),
                       TDX_OPERAND_INVALID | TDX_OPERAND_ID_RCX, "resume L1 without L2");
    TDXT_EXPECT_STATUS(enter_rcx(&e, 0, e.td.tdr, &out),
                       TDX_PAGE_METADATA_INCORRECT | TDX_OPERAND_ID_RCX, "TDR as TDVPR");
    TDXT_EXPECT_STATUS(enter_rcx(&e, 1, e.td.vp[0].tdvpr, &out),
                       TDX_VCPU_ASSOCIATED, "vCPU 0 is associated with LP 0");
    TDXT_EXPECT_STATUS(enter(&e, 0, &out), TDX_SUCCESS, "enter");
    v = out.vcpu;
    TDXT_EXPECT(!out.synthetic_exit && v && out.run.td == e.obj &&
                out.run.state == &v->arch && out.run.m == e.p->m &&
                out.run.gpa_width == 48, "enter outputs");
    TDXT_EXPECT(v->state == TDX_VCPU_ACTIVE, "ACTIVE in the TD");
    TDXT_EXPECT(atomic_load(&e.obj->epoch_refcount[atomic_load(&e.obj->td_epoch) & 1]) == 1,
                "counted in the epoch");
    /* While in the TD: TDR and TDVPR are held shared. */
    r = (struct tdx_regs){ .rcx = e.td.tdr };
    TDXT_EXPECT_STATUS(tdt_call(e.p, 1, TDH_MR_FINALIZE, &r),
                       TDX_OPERAND_BUSY | TDX_OPERAND_ID_RCX, "TDR-exclusive leaf while in");
    r = (struct tdx_regs){ .rcx = e.td.vp[0].tdvpr };
    TDXT_EXPECT_STATUS(tdt_call(e.p, 0, TDH_VP_FLUSH, &r),
                       TDX_OPERAND_BUSY | TDX_OPERAND_ID_RCX, "VP.FLUSH while in");
    first = out;
    TDXT_EXPECT_STATUS(enter(&e, 0, &out), TDX_VCPU_STATE_INCORRECT, "enter twice");
    /* S-EPT leaves (TDR shared) run alongside. */
    st_map_pt(&e, GPA);
    leave(&first, false, 0, 0x1000, 0x1004);
    TDXT_EXPECT(v->state == TDX_VCPU_READY, "READY after exit");
    st_expect_invariants(&e, "after exit");
    /* Same epoch, same LP: no flush needed. */
    TDXT_EXPECT_STATUS(enter(&e, 0, &out), TDX_SUCCESS, "re-enter");
    TDXT_EXPECT(!out.run.flush_tlb, "no flush without a new epoch");
    /* The CPU side keeps this vCPU's translations only if they are its
     * own and came through the same shared EPT root. */
    TDXT_EXPECT(tdx_td_run_tlb_reason(&out.run, out.run.vcpu, out.run.shared_eptp) ==
                TDX_TD_TLB_KEEP, "same vCPU, epoch, shared EPTP: expected kept, got %s",
                tdx_td_tlb_reason_name(tdx_td_run_tlb_reason(&out.run, out.run.vcpu,
                                                             out.run.shared_eptp)));
    TDXT_EXPECT(tdx_td_run_tlb_reason(&out.run, NULL, out.run.shared_eptp) ==
                TDX_TD_TLB_OTHER_VCPU, "none known: expected other-vcpu");
    TDXT_EXPECT(tdx_td_run_tlb_reason(&out.run, out.run.vcpu, out.run.shared_eptp ^ 0x1000) ==
                TDX_TD_TLB_SHARED_EPTP, "another shared EPT root: expected shared-eptp");
    leave(&out, false, 0, 0, 4);
    TDXT_EXPECT_STATUS(st_track(&e, 1), TDX_SUCCESS, "TRACK");
    TDXT_EXPECT_STATUS(enter(&e, 0, &out), TDX_SUCCESS, "enter after TRACK");
    TDXT_EXPECT(out.run.flush_tlb, "new epoch -> flush");
    TDXT_EXPECT(tdx_td_run_tlb_reason(&out.run, out.run.vcpu, out.run.shared_eptp) ==
                TDX_TD_TLB_TRACKING, "new epoch: expected tlb-tracking, got %s",
                tdx_td_tlb_reason_name(tdx_td_run_tlb_reason(&out.run, out.run.vcpu,
                                                             out.run.shared_eptp)));
    tdx_td_tlb_count(e.p->m, TDX_TD_TLB_TRACKING);
    TDXT_EXPECT(tdx_module_stats(e.p->m)->td_tlb[TDX_TD_TLB_TRACKING] == 1 &&
                !strcmp(tdx_td_tlb_reason_name(TDX_TD_TLB_INVEPT), "invept") &&
                !tdx_td_tlb_reason_name(TDX_TD_TLB_NUM_REASONS), "counted and named");
    leave(&out, false, 0, 0, 4);
    st_expect_invariants(&e, "basic");
    st_teardown(&e);
}

/* Each VP.ENTER lock row: hold it, BUSY|operand, nothing counted. */
static void test_enter_lock_rows(void)
{
    unsigned tested = 0;

    for (unsigned i = 0; i < tdx_sept_lock_table_count; i++) {
        const struct tdx_lock_row *row = &tdx_sept_lock_rows[i];
        struct enter_out out;
        struct st_env e;
        enum tdx_named_lock what;
        uint64_t key;
        char err[128], name[64];
        int id;

        if (row->leaf != TDH_VP_ENTER) {
            continue;
        }
        tested++;
        snprintf(name, sizeof(name), "VP.ENTER lock #%u (operand %#x)", row->order,
                 row->operand);
        st_setup(&e, 2, 1, true);
        key = e.td.tdr;
        switch (row->obj) {
        case TDX_LOBJ_TDVPR:        what = TDX_NAMED_PAMT; key = e.td.vp[0].tdvpr; break;
        case TDX_LOBJ_TDR_IMPLICIT: what = TDX_NAMED_TDR; break;
        case TDX_LOBJ_OP_STATE:     what = TDX_NAMED_TDCS_OP_STATE; break;
        case TDX_LOBJ_TD_EPOCH:     what = TDX_NAMED_TD_EPOCH; break;
        case TDX_LOBJ_SEPT_TREE:    what = TDX_NAMED_SEPT_TREE; break;
        default:                    what = TDX_NAMED_GLOBAL; break;
        }
        if (row->obj == TDX_LOBJ_SEPT_TREE) {
            /* Only an armed zero-step filter takes the tree. */
            struct tdx_vp_priv *p;

            TDXT_EXPECT_STATUS(enter(&e, 0, &out), TDX_SUCCESS, "prime");
            leave(&out, false, 0, 0, 0);
            p = tdt_vobj(e.p, e.td.vp[0].tdvpr)->priv;
            p->epf_n = 1;
            p->epf_gpa[0] = GPA;
            st_mapped_page(&e, GPA);
        }
        /* VP.ENTER's own modes conflict with an exclusive holder (the
         * TD epoch: that is what TDH.MEM.TRACK looks like). */
        id = tdx_inject_hold_lock(e.p->m, what, key, 0, TDX_LOCK_EXCLUSIVE, 0,
                                  err, sizeof(err));
        TDXT_EXPECT(id >= 0, "%s: hold: %s", name, err);
        TDXT_EXPECT_STATUS(enter(&e, 0, &out), TDX_OPERAND_BUSY | row->operand, name);
        TDXT_EXPECT(atomic_load(&e.obj->epoch_refcount[0]) == 0 &&
                    atomic_load(&e.obj->epoch_refcount[1]) == 0 &&
                    tdt_vobj(e.p, e.td.vp[0].tdvpr)->state == TDX_VCPU_READY,
                    "%s: nothing changed", name);
        tdx_inject_release_hold(e.p->m, id);
        TDXT_EXPECT_STATUS(enter(&e, 0, &out), TDX_SUCCESS, "enter after release");
        leave(&out, false, 0, 0, 4);
        st_expect_invariants(&e, name);
        st_teardown(&e);
    }
    TDXT_EXPECT(tested == 5, "%u VP.ENTER rows tested, expected 5", tested);
}

/* BLOCK -> TRACK -> REMOVE with vCPUs in the TD (Intel tdx_1.5 tdh_mem_track.c, TD epochs). */
static void test_tlb_tracking(void)
{
    struct enter_out o0, o1;
    struct st_env e;
    struct tdx_regs r;
    uint64_t page;

    st_setup(&e, 3, 2, true);
    page = st_mapped_page(&e, GPA);
    TDXT_EXPECT_STATUS(enter(&e, 0, &o0), TDX_SUCCESS, "vCPU 0 enters in epoch E");
    TDXT_EXPECT_STATUS(st_leaf(&e, 2, TDH_MEM_RANGE_BLOCK, GPA, 0, 0, NULL), TDX_SUCCESS,
                       "BLOCK");
    TDXT_EXPECT_STATUS(st_track(&e, 2), TDX_SUCCESS, "TRACK: E -> E+1");
    TDXT_EXPECT_STATUS(st_leaf(&e, 2, TDH_MEM_PAGE_REMOVE, GPA, 0, 0, &r),
                       TDX_TLB_TRACKING_NOT_DONE | TDX_OPERAND_ID_RCX,
                       "REMOVE while a vCPU from epoch E is in");
    TDXT_EXPECT(r.rcx == 0 && r.rdx == 0, "no info");
    TDXT_EXPECT_STATUS(st_track(&e, 2), TDX_PREVIOUS_TLB_EPOCH_BUSY,
                       "TRACK again before E drained");
    /* A vCPU entering now counts in E+1 and does not hold REMOVE up. */
    TDXT_EXPECT_STATUS(enter(&e, 1, &o1), TDX_SUCCESS, "vCPU 1 enters in E+1");
    TDXT_EXPECT_STATUS(st_leaf(&e, 2, TDH_MEM_PAGE_REMOVE, GPA, 0, 0, NULL),
                       TDX_TLB_TRACKING_NOT_DONE | TDX_OPERAND_ID_RCX, "still vCPU 0");
    leave(&o0, false, 0, 0, 4);
    TDXT_EXPECT_STATUS(st_leaf(&e, 2, TDH_MEM_PAGE_REMOVE, GPA, 0, 0, &r), TDX_SUCCESS,
                       "REMOVE after vCPU 0 left");
    TDXT_EXPECT(r.rcx == page, "REMOVE output");
    TDXT_EXPECT_STATUS(st_track(&e, 2), TDX_SUCCESS, "TRACK: E+1 -> E+2");
    TDXT_EXPECT_STATUS(st_track(&e, 2), TDX_PREVIOUS_TLB_EPOCH_BUSY, "vCPU 1 still in E+1");
    leave(&o1, false, 0, 0, 4);
    TDXT_EXPECT_STATUS(st_track(&e, 2), TDX_SUCCESS, "TRACK after vCPU 1 left");
    st_expect_invariants(&e, "tracking");
    st_teardown(&e);
}

static void test_epf_filter_unit(void)
{
    struct tdx_vp_priv p;
    struct { bool ept; uint64_t gpa, entry_rip, exit_rip; } x = {
        .ept = true, .entry_rip = 0x100, .exit_rip = 0x100,
    };

    memset(&p, 0, sizeof(p));
    for (int i = 0; i < TDX_EPF_THRESHOLD; i++) {
        x.gpa = 0x1000;
        tdx_vp_epf_log(&p, x.entry_rip, x.exit_rip, x.ept, x.gpa);
    }
    TDXT_EXPECT(p.epf_n == 0 && p.epf_count == TDX_EPF_THRESHOLD, "6 exits saturate only");
    tdx_vp_epf_log(&p, x.entry_rip, x.exit_rip, x.ept, x.gpa);
    tdx_vp_epf_log(&p, x.entry_rip, x.exit_rip, x.ept, x.gpa);
    TDXT_EXPECT(p.epf_n == 1, "7th logs the GPA once (%u)", p.epf_n);
    for (int i = 0; i < 40; i++) {
        x.gpa = 0x2000 + 0x1000ULL * (uint64_t)i;
        tdx_vp_epf_log(&p, x.entry_rip, x.exit_rip, x.ept, x.gpa);
    }
    TDXT_EXPECT(p.epf_n == TDX_EPF_LIST_SIZE, "list capped at 32 (%u)", p.epf_n);
    x.ept = false;
    tdx_vp_epf_log(&p, x.entry_rip, x.exit_rip, x.ept, x.gpa);
    TDXT_EXPECT(p.epf_n == TDX_EPF_LIST_SIZE, "same-RIP other exit keeps the list");
    x.exit_rip = 0x104;
    tdx_vp_epf_log(&p, x.entry_rip, x.exit_rip, x.ept, x.gpa);
    TDXT_EXPECT(p.epf_n == 0 && p.epf_count == 0, "progress resets");
    /* Shared-GPA violations are OTHER for the filter: no counting. */
    x.exit_rip = 0x100;
    tdx_vp_epf_log(&p, x.entry_rip, x.exit_rip, x.ept, x.gpa);
    TDXT_EXPECT(p.epf_count == 0, "other exits do not count");
}

/* Zero-step: repeated private EPT violations at one RIP arm the filter. */
static void test_zero_step(void)
{
    const uint64_t rip = 0xFFF0, gpa = GPA + 0x5000;
    struct enter_out out;
    struct st_env e;
    struct tdx_vcpu *v;
    char err[128];
    uint64_t page;
    int id;

    st_setup(&e, 3, 1, true);
    st_map_pt(&e, gpa);
    for (int i = 0; i < TDX_EPF_THRESHOLD + 1; i++) {
        TDXT_EXPECT_STATUS(enter(&e, 0, &out), TDX_SUCCESS, "enter");
        TDXT_EXPECT(tdx_sept_classify_fault(e.obj, gpa) == TDX_FAULT_EXIT, "FREE exits");
        leave(&out, true, gpa, rip, rip);
    }
    v = out.vcpu;
    TDXT_EXPECT(((struct tdx_vp_priv *)v->priv)->epf_n == 1, "GPA logged after 7 exits");
    /* Still unmapped: the entry is refused with a synthetic EPT violation. */
    TDXT_EXPECT_STATUS(enter(&e, 0, &out), TDX_SUCCESS, "enter with the filter armed");
    TDXT_EXPECT(out.synthetic_exit && out.exit_regs.rax == TDX_EXIT_REASON_EPT_VIOLATION &&
                out.exit_regs.rcx == 2 && out.exit_regs.r8 == gpa && out.exit_regs.rdx == 0,
                "synthetic EPT violation exit");
    TDXT_EXPECT(v->state == TDX_VCPU_READY &&
                tdx_lock_is_free(&e.obj->sept_tree_lock) &&
                atomic_load(&e.obj->epoch_refcount[0]) +
                atomic_load(&e.obj->epoch_refcount[1]) == 0, "synthetic exit: all undone");
    /* An S-EPT leaf in flight (tree shared) makes the entry BUSY|SEPT. */
    id = tdx_inject_hold_lock(e.p->m, TDX_NAMED_SEPT_TREE, e.td.tdr, 0, TDX_LOCK_SHARED, 0,
                              err, sizeof(err));
    TDXT_EXPECT_STATUS(enter(&e, 0, &out), TDX_OPERAND_BUSY | TDX_OPERAND_ID_SEPT,
                       "VP.ENTER vs S-EPT leaf");
    tdx_inject_release_hold(e.p->m, id);
    /* The host maps the page (AUG; the guest accepted it earlier in real
     * life; here the ACCEPT is done for it). */
    page = tdt_page();
    TDXT_EXPECT_STATUS(st_leaf(&e, 1, TDH_MEM_PAGE_AUG, gpa, 0, page, NULL), TDX_SUCCESS,
                       "AUG the faulting GPA");
    /* PENDING with #VE enabled is a "convertible" violation: it does not
     * hold the entry back (the guest gets a #VE and accepts). */
    TDXT_EXPECT_STATUS(enter(&e, 0, &out), TDX_SUCCESS, "enter");
    TDXT_EXPECT(!out.synthetic_exit, "PENDING (#VE-convertible) does not stop the entry");
    leave(&out, false, 0, 0x2000, 0x2000);
    TDXT_EXPECT_STATUS(st_accept(&e, 0, gpa, 0, NULL), TDX_SUCCESS, "ACCEPT");
    /* Now the entry goes through, taking the tree exclusively on its way
     * in (a shared holder made it BUSY|0x92 above). */
    TDXT_EXPECT_STATUS(enter(&e, 0, &out), TDX_SUCCESS, "enter, filter satisfied");
    TDXT_EXPECT(!out.synthetic_exit, "real entry");
    TDXT_EXPECT(tdx_module_stats(e.p->m)->zero_step_entries >= 1 &&
                tdx_module_stats(e.p->m)->zero_step_synthetic_exits == 1,
                "zero-step stats: expected >= 1 tree-exclusive entry and 1 synthetic exit, "
                "got %llu and %llu",
                (unsigned long long)tdx_module_stats(e.p->m)->zero_step_entries,
                (unsigned long long)tdx_module_stats(e.p->m)->zero_step_synthetic_exits);
    /* The entry holds the tree exclusive only until the guest runs: by
     * the time the SEAMCALL hands the vCPU to the CPU it is free again. */
    TDXT_EXPECT(tdx_lock_is_free(&e.obj->sept_tree_lock), "tree free once in the TD");
    TDXT_EXPECT_STATUS(st_leaf(&e, 1, TDH_MEM_PAGE_AUG, gpa + 0x1000, 0, tdt_page(), NULL),
                       TDX_SUCCESS, "AUG once the guest runs");
    /* Progress (RIP moved) disarms the filter: no tree lock at entry. */
    leave(&out, false, 0, rip, rip + 3);
    id = tdx_inject_hold_lock(e.p->m, TDX_NAMED_SEPT_TREE, e.td.tdr, 0, TDX_LOCK_EXCLUSIVE,
                              0, err, sizeof(err));
    TDXT_EXPECT_STATUS(enter(&e, 0, &out), TDX_SUCCESS, "disarmed: tree not needed");
    leave(&out, false, 0, 0, 4);
    tdx_inject_release_hold(e.p->m, id);
    st_expect_invariants(&e, "zero-step");
    st_teardown(&e);
}

int main(void)
{
    test_enter_basic();
    test_enter_lock_rows();
    test_tlb_tracking();
    test_epf_filter_unit();
    test_zero_step();
    return tdxt_done("test-vp-enter");
}
