/*
 * Running a TD vCPU through the core's run API (td-run.c), the way the
 * CPU side drives it: TDH.VP.ENTER -> initial state -> second-stage
 * translation -> TDCALL (TDG.VP.VMCALL exit, ACCEPT exit and retry) ->
 * TD exit with the registers KVM reads -> re-entry hands the host's
 * VMCALL results back to the guest.
 */
#include "sept-harness.h"
#include "td-ve.h"

#define GPA  0x80000000ULL

static uint64_t finalize(struct st_env *e)
{
    struct tdx_regs r = { .rcx = e->td.tdr };

    return tdt_call(e->p, 0, TDH_MR_FINALIZE, &r);
}

static void test_initial_state_and_vmcall(void)
{
    struct tdx_td_run run;
    struct tdx_td_exit x;
    struct tdx_regs r, out;
    struct st_env e;
    uint64_t hpa;

    st_setup(&e, 2, 2, false);
    TDXT_EXPECT_STATUS(finalize(&e), TDX_SUCCESS, "finalize");
    r = (struct tdx_regs){ .rax = TDH_VP_ENTER, .rcx = e.td.vp[1].tdvpr };
    TDXT_EXPECT(tdxt_vp_enter(e.p->m, e.td.vp[1].lp, &r, &run), "enter vCPU 1: got status %#llx",
                (unsigned long long)r.rax);
    TDXT_EXPECT(run.state->rip == 0xFFFFFFF0 && run.state->cr0 == 0x31 &&
                run.state->efer == 0x900 && run.state->gpr[6] == 1 &&
                run.state->gpr[3] == 48 && run.state->seg[TDX_SEG_CS].selector == 0x08,
                "initial state: RIP %#llx CR0 %#llx EFER %#llx RSI %llu RBX %llu",
                (unsigned long long)run.state->rip, (unsigned long long)run.state->cr0,
                (unsigned long long)run.state->efer, (unsigned long long)run.state->gpr[6],
                (unsigned long long)run.state->gpr[3]);
    TDXT_EXPECT(run.gpa_width == 48 && run.vcpu->state == TDX_VCPU_ACTIVE, "run outputs");
    /* A vCPU inside the TD holds TDR/TDVPR on its own behalf: consistent. */
    st_expect_invariants(&e, "vCPU inside the TD");

    /* Second stage: nothing mapped -> EPT violation exit with the GPA. */
    TDXT_EXPECT(tdx_td_translate_private(&run, GPA + 0x10, TDX_ACCESS_WRITE, &hpa, &x) ==
                TDX_TD_XLATE_EXIT && x.reason == TDX_EXIT_REASON_EPT_VIOLATION && x.gpa == GPA + 0x10 && (x.qualification & 2),
                "unmapped private GPA: EPT violation exit (reason %u, gpa %#llx)", x.reason,
                (unsigned long long)x.gpa);

    /* TDG.VP.VMCALL exposing RAX is refused; a valid one exits. */
    r = (struct tdx_regs){ .rax = TDG_VP_VMCALL, .rcx = 0x1 };
    TDXT_EXPECT(tdx_tdcall(&run, &r, &x) == TDX_TDCALL_DONE &&
                r.rax == (TDX_OPERAND_INVALID | TDX_OPERAND_ID_RCX), "VMCALL exposing RAX: %#llx",
                (unsigned long long)r.rax);
    r = (struct tdx_regs){ .rax = TDG_VP_VMCALL, .rcx = 0xFC00, .r10 = 0, .r11 = 30,
                           .r12 = 1, .r13 = 1, .r14 = 0x3F8, .r15 = 'A', .rdx = 0xDEAD };
    TDXT_EXPECT(tdx_tdcall(&run, &r, &x) == TDX_TDCALL_EXIT && x.reason == TDX_EXIT_REASON_TDCALL,
                "VMCALL exits to the host");
    /* The CPU side stores the guest's registers, then ends the run. */
    run.state->gpr[1] = 0xFC00;
    run.state->gpr[2] = 0xDEAD;
    run.state->gpr[10] = 0;
    run.state->gpr[11] = 30;
    run.state->gpr[14] = 0x3F8;
    run.state->gpr[15] = 'A';
    tdx_vp_exit(&run, &x, &out);
    TDXT_EXPECT(out.rax == TDX_EXIT_REASON_TDCALL && out.rcx == 0xFC00 && out.r11 == 30 && out.r14 == 0x3F8 &&
                out.r15 == 'A' && out.rdx == 0,
                "VMCALL exit registers: RAX %llu RCX %#llx R11 %llu R14 %#llx R15 %#llx RDX %#llx"
                " (RDX not exposed: expected 0)",
                (unsigned long long)out.rax, (unsigned long long)out.rcx,
                (unsigned long long)out.r11, (unsigned long long)out.r14,
                (unsigned long long)out.r15, (unsigned long long)out.rdx);
    TDXT_EXPECT(run.vcpu->state == TDX_VCPU_READY, "READY after the exit");

    /*
     * Re-entry: the host's R10/R11 go back to the guest, RAX = success,
     * RDX (not exposed) keeps the guest's value. The first attempt meets
     * a TDH.MEM.TRACK (TD epoch held): BUSY, and every register but RAX
     * comes back as the host gave it, because KVM re-enters with the same
     * argument block (tdx_vcpu_run(): vp_enter_args) and the guest's IN
     * must still get its value then.
     */
    r = (struct tdx_regs){ .rax = TDH_VP_ENTER, .rcx = e.td.vp[1].tdvpr, .r10 = 0,
                           .r11 = 0x1234, .rdx = 0x5555, .r12 = 12, .r13 = 13,
                           .r14 = 14, .r15 = 15, .rbx = 3, .rsi = 6, .rdi = 7,
                           .r8 = 8, .r9 = 9 };
    {
        const struct tdx_regs host = r;
        char err[128];
        int id = tdx_inject_hold_lock(e.p->m, TDX_NAMED_TD_EPOCH, e.td.tdr, 0,
                                      TDX_LOCK_EXCLUSIVE, 0, err, sizeof(err));

        TDXT_EXPECT(id >= 0, "hold the TD epoch: %s", err);
        TDXT_EXPECT(!tdxt_vp_enter(e.p->m, e.td.vp[1].lp, &r, &run) &&
                    r.rax == (TDX_OPERAND_BUSY | TDX_OPERAND_ID_TD_EPOCH),
                    "re-enter during a TRACK: expected BUSY|TD_EPOCH, got %#llx",
                    (unsigned long long)r.rax);
        r.rax = host.rax;
        TDXT_EXPECT(!memcmp(&r, &host, sizeof(r)),
                    "busy VP.ENTER: expected the host's registers back, got RCX %#llx "
                    "RDX %#llx R8 %#llx R9 %#llx R10 %#llx R11 %#llx R12 %#llx R15 %#llx",
                    (unsigned long long)r.rcx, (unsigned long long)r.rdx,
                    (unsigned long long)r.r8, (unsigned long long)r.r9,
                    (unsigned long long)r.r10, (unsigned long long)r.r11,
                    (unsigned long long)r.r12, (unsigned long long)r.r15);
        tdx_inject_release_hold(e.p->m, id);
    }
    TDXT_EXPECT(tdxt_vp_enter(e.p->m, e.td.vp[1].lp, &r, &run), "re-enter");
    TDXT_EXPECT(run.state->gpr[0] == 0 && run.state->gpr[11] == 0x1234 &&
                run.state->gpr[2] == 0xDEAD,
                "VMCALL results in the guest: RAX %#llx R11 %#llx RDX %#llx",
                (unsigned long long)run.state->gpr[0], (unsigned long long)run.state->gpr[11],
                (unsigned long long)run.state->gpr[2]);
    x = (struct tdx_td_exit){ .reason = TDX_EXIT_REASON_EXT_INTR, .intr_info = 0x800000ef };
    tdx_vp_exit(&run, &x, &out);
    TDXT_EXPECT(out.rax == TDX_EXIT_REASON_EXT_INTR && out.r9 == 0x800000ef, "external-interrupt exit: RAX %llu R9 %#llx",
                (unsigned long long)out.rax, (unsigned long long)out.r9);
    TDXT_EXPECT(tdx_module_stats(e.p->m)->success[TDH_VP_ENTER] == 2,
                "VP.ENTER counted: expected 2 successful, got %llu",
                (unsigned long long)tdx_module_stats(e.p->m)->success[TDH_VP_ENTER]);

    /* A failing VP.ENTER completes in the core: status in RAX. */
    r = (struct tdx_regs){ .rax = TDH_VP_ENTER, .rcx = e.td.tdr };
    TDXT_EXPECT(!tdxt_vp_enter(e.p->m, 0, &r, &run) &&
                r.rax == (TDX_PAGE_METADATA_INCORRECT | TDX_OPERAND_ID_RCX),
                "VP.ENTER of a TDR: %#llx", (unsigned long long)r.rax);
    r = (struct tdx_regs){ .rax = TDH_VP_ENTER | (1 << 16), .rcx = e.td.vp[1].tdvpr };
    TDXT_EXPECT(!tdxt_vp_enter(e.p->m, 1, &r, &run) &&
                r.rax == (TDX_OPERAND_INVALID | TDX_OPERAND_ID_RAX), "VP.ENTER version 1");
    st_expect_invariants(&e, "after runs");
    st_teardown(&e);
}

/* ACCEPT of a page the host has not added: exit (retry); after AUG: OK. */
static void test_accept_exit_and_retry(void)
{
    struct tdx_td_run run;
    struct tdx_td_exit x;
    struct tdx_regs r, out;
    struct st_env e;
    uint64_t hpa;

    st_setup(&e, 2, 1, false);
    TDXT_EXPECT_STATUS(finalize(&e), TDX_SUCCESS, "finalize");
    st_map_pt(&e, GPA);
    r = (struct tdx_regs){ .rax = TDH_VP_ENTER, .rcx = e.td.vp[0].tdvpr };
    TDXT_EXPECT(tdxt_vp_enter(e.p->m, e.td.vp[0].lp, &r, &run), "enter");
    r = (struct tdx_regs){ .rax = TDG_MEM_PAGE_ACCEPT, .rcx = GPA };
    TDXT_EXPECT(tdx_tdcall(&run, &r, &x) == TDX_TDCALL_EXIT_RETRY &&
                x.reason == TDX_EXIT_REASON_EPT_VIOLATION && x.gpa == GPA && (x.ext_qualification & 0xF) == 1,
                "ACCEPT before AUG: EPT violation exit of type ACCEPT (reason %u ext %#llx)",
                x.reason, (unsigned long long)x.ext_qualification);
    tdx_vp_exit(&run, &x, &out);
    TDXT_EXPECT(out.rax == TDX_EXIT_REASON_EPT_VIOLATION && out.r8 == GPA, "exit registers for KVM's EPT handler");
    /* KVM: PAGE.AUG, then re-enter; the TDCALL runs again and succeeds. */
    TDXT_EXPECT_STATUS(st_leaf(&e, 0, TDH_MEM_PAGE_AUG, GPA, 0, tdt_page(), NULL),
                       TDX_SUCCESS, "AUG");
    r = (struct tdx_regs){ .rax = TDH_VP_ENTER, .rcx = e.td.vp[0].tdvpr };
    TDXT_EXPECT(tdxt_vp_enter(e.p->m, e.td.vp[0].lp, &r, &run), "re-enter");
    TDXT_EXPECT(tdx_td_translate_private(&run, GPA, TDX_ACCESS_READ, &hpa, &x) ==
                TDX_TD_XLATE_VE, "PENDING page before ACCEPT: #VE (SEPT_VE_DISABLE clear)");
    /* A second #VE before the guest read the first one's info: TD exit. */
    TDXT_EXPECT(tdx_td_translate_private(&run, GPA, TDX_ACCESS_READ, &hpa, &x) ==
                TDX_TD_XLATE_EXIT && x.reason == TDX_EXIT_REASON_EPT_VIOLATION, "#VE while VE info is valid: exit");
    r = (struct tdx_regs){ .rax = TDG_VP_VEINFO_GET };
    TDXT_EXPECT(tdx_tdcall(&run, &r, &x) == TDX_TDCALL_DONE &&
                r.rax == TDX_SUCCESS && r.rcx == 48 && r.r9 == GPA && r.rdx == 1,
                "VEINFO.GET: status %#llx reason %llu qual %#llx gpa %#llx",
                (unsigned long long)r.rax, (unsigned long long)r.rcx,
                (unsigned long long)r.rdx, (unsigned long long)r.r9);
    r = (struct tdx_regs){ .rax = TDG_VP_VEINFO_GET };
    tdx_tdcall(&run, &r, &x);
    TDXT_EXPECT_STATUS(r.rax, TDX_NO_VALID_VE_INFO, "VEINFO.GET twice");
    r = (struct tdx_regs){ .rax = TDG_VP_INFO };
    tdx_tdcall(&run, &r, &x);
    TDXT_EXPECT(r.rax == TDX_SUCCESS && r.rcx == 48 && r.r9 == 0 && (r.r8 & 0xFFFFFFFF) == 1,
                "VP.INFO: status %#llx GPAW %llu index %llu vcpus %#llx",
                (unsigned long long)r.rax, (unsigned long long)r.rcx,
                (unsigned long long)r.r9, (unsigned long long)r.r8);
    r = (struct tdx_regs){ .rax = TDG_MEM_PAGE_ACCEPT, .rcx = GPA };
    TDXT_EXPECT(tdx_tdcall(&run, &r, &x) == TDX_TDCALL_DONE && r.rax == TDX_SUCCESS,
                "ACCEPT after AUG: %#llx", (unsigned long long)r.rax);
    TDXT_EXPECT(tdx_td_translate_private(&run, GPA + 8, TDX_ACCESS_WRITE, &hpa, &x) ==
                TDX_TD_XLATE_OK && (hpa & 0xFFF) == 8, "accepted page translates");
    x = (struct tdx_td_exit){ .reason = TDX_EXIT_REASON_HLT };
    tdx_vp_exit(&run, &x, &out);
    st_expect_invariants(&e, "after accept");
    st_teardown(&e);
}

/*
 * A guest accepting page after page exits at the same RIP (its ACCEPT
 * TDCALL) every time: those exits must not arm the zero-step filter, or
 * VP.ENTER would refuse entry while the just-added page is still PENDING.
 */
static void test_accept_loop_no_zero_step(void)
{
    struct tdx_td_run run;
    struct tdx_td_exit x;
    struct tdx_regs r, out;
    struct st_env e;
    const struct tdx_vp_priv *p;

    st_setup(&e, 2, 1, false);
    TDXT_EXPECT_STATUS(finalize(&e), TDX_SUCCESS, "finalize");
    for (unsigned i = 0; i < 10; i++) {
        uint64_t gpa = GPA + i * TDX_PAGE_SIZE;

        st_map_pt(&e, gpa);
        r = (struct tdx_regs){ .rax = TDH_VP_ENTER, .rcx = e.td.vp[0].tdvpr };
        TDXT_EXPECT(tdxt_vp_enter(e.p->m, e.td.vp[0].lp, &r, &run),
                    "entry %u: expected to enter, got status %#llx", i, (unsigned long long)r.rax);
        if (r.rax) {
            break;
        }
        run.state->rip = 0x1000;                     /* the ACCEPT TDCALL */
        r = (struct tdx_regs){ .rax = TDG_MEM_PAGE_ACCEPT, .rcx = gpa };
        TDXT_EXPECT(tdx_tdcall(&run, &r, &x) == TDX_TDCALL_EXIT_RETRY,
                    "ACCEPT %u exits", i);
        tdx_vp_exit(&run, &x, &out);
        TDXT_EXPECT_STATUS(st_leaf(&e, 0, TDH_MEM_PAGE_AUG, gpa, 0, tdt_page(), NULL),
                           TDX_SUCCESS, "AUG");
    }
    p = tdt_vobj(e.p, e.td.vp[0].tdvpr)->priv;
    TDXT_EXPECT(p->epf_n == 0 && p->epf_count == 0,
                "ACCEPT exits left the zero-step filter alone: count %u, %u GPAs logged",
                p->epf_count, p->epf_n);
    st_expect_invariants(&e, "accept loop");
    st_teardown(&e);
}

/*
 * VE_INFO of EPT-violation #VEs, as TDG.VP.VEINFO.GET reports them (RCX
 * exit reason, RDX qualification, R8 guest linear address, R9 GPA): a
 * shared GPA whose leaf in KVM's EPT is non-present with suppress-#VE clear
 * (KVM's MMIO marking) and a PENDING private page; the CPU adds the linear
 * address at the fault, with bit 8 only for the final translation. While
 * VE_INFO is valid the same violation is a TD exit.
 */
static void test_ept_ve_info(void)
{
    const uint64_t shared = (1ULL << 47) | 0xFED00000ULL;
    const uint64_t gla = 0xFFFFC90000001008ULL;
    struct tdx_td_run run;
    struct tdx_td_exit x;
    struct tdx_regs r, out;
    struct st_env e;
    uint64_t hpa;

    st_setup(&e, 2, 1, false);
    TDXT_EXPECT_STATUS(finalize(&e), TDX_SUCCESS, "finalize");
    r = (struct tdx_regs){ .rax = TDH_VP_ENTER, .rcx = e.td.vp[0].tdvpr };
    TDXT_EXPECT(tdxt_vp_enter(e.p->m, e.td.vp[0].lp, &r, &run), "enter");

    TDXT_EXPECT(tdx_td_shared_ept_ve(&run, shared + 8, TDX_ACCESS_READ | TDX_ACCESS_WRITE,
                                     0, &x) == TDX_TD_XLATE_VE, "shared MMIO GPA: #VE");
    tdx_td_ept_ve_gla(&run, gla, true);
    /* Second access before the guest took VE_INFO: an EPT-violation exit. */
    TDXT_EXPECT(tdx_td_shared_ept_ve(&run, shared, TDX_ACCESS_READ, 0, &x) == TDX_TD_XLATE_EXIT &&
                x.reason == TDX_EXIT_REASON_EPT_VIOLATION && x.gpa == shared &&
                (x.qualification & (TDX_EPT_QUAL_GPA_VALID | TDX_EPT_QUAL_TRANSLATED | 7)) ==
                (TDX_EPT_QUAL_GPA_VALID | TDX_EPT_QUAL_TRANSLATED | TDX_ACCESS_READ),
                "shared #VE while VE_INFO valid: exit (reason %u, qual %#llx)", x.reason,
                (unsigned long long)x.qualification);
    r = (struct tdx_regs){ .rax = TDG_VP_VEINFO_GET };
    TDXT_EXPECT(tdx_tdcall(&run, &r, &x) == TDX_TDCALL_DONE && r.rax == TDX_SUCCESS &&
                r.rcx == TDX_EXIT_REASON_EPT_VIOLATION &&
                r.rdx == (TDX_ACCESS_READ | TDX_ACCESS_WRITE | TDX_EPT_QUAL_GPA_VALID |
                          TDX_EPT_QUAL_TRANSLATED) &&
                r.r8 == gla && r.r9 == shared + 8,
                "shared #VE VEINFO.GET: status %#llx reason %llu qual %#llx gla %#llx gpa %#llx",
                (unsigned long long)r.rax, (unsigned long long)r.rcx,
                (unsigned long long)r.rdx, (unsigned long long)r.r8,
                (unsigned long long)r.r9);

    /* A PENDING private page reached by a guest paging-structure access. */
    st_map_pt(&e, GPA);
    TDXT_EXPECT_STATUS(st_leaf(&e, 0, TDH_MEM_PAGE_AUG, GPA, 0, tdt_page(), NULL),
                       TDX_SUCCESS, "AUG");
    TDXT_EXPECT(tdx_td_translate_private(&run, GPA, TDX_ACCESS_READ | TDX_ACCESS_WRITE, &hpa, &x) ==
                TDX_TD_XLATE_VE, "PENDING private page: #VE");
    tdx_td_ept_ve_gla(&run, gla, false);
    r = (struct tdx_regs){ .rax = TDG_VP_VEINFO_GET };
    TDXT_EXPECT(tdx_tdcall(&run, &r, &x) == TDX_TDCALL_DONE && r.rax == TDX_SUCCESS &&
                r.rdx == (TDX_ACCESS_READ | TDX_ACCESS_WRITE | TDX_EPT_QUAL_GPA_VALID) &&
                r.r8 == gla && r.r9 == GPA,
                "paging-structure #VE: qual %#llx (bit 7, not 8) gla %#llx gpa %#llx",
                (unsigned long long)r.rdx, (unsigned long long)r.r8,
                (unsigned long long)r.r9);
    /* CPUID of the running vCPU: the TD's TSC frequency in leaf 0x15. */
    {
        uint32_t c[4] = { 0 };

        tdx_td_run_cpuid(&run, 0x15, 0, c);
        TDXT_EXPECT(c[0] == 1 && c[1] == run.td->cfg.tsc_frequency && c[1] != 0 &&
                    c[2] == TDX_CPUID_TSC_CRYSTAL_HZ,
                    "CPUID(0x15) of the TD: %u/%u x %u Hz (TSC_FREQUENCY %u)", c[1], c[0],
                    c[2], run.td->cfg.tsc_frequency);
        c[1] = 0x77000000;
        tdx_td_run_cpuid(&run, 0x1, 0, c);
        TDXT_EXPECT(c[1] >> 24 == (run.vcpu->x2apic_id & 0xFF),
                    "CPUID(1).EBX[31:24] of the TD vCPU: %u (x2APIC ID %u)",
                    c[1] >> 24, run.vcpu->x2apic_id);
    }
    /* No VE_INFO pending: the CPU's late GLA changes nothing. */
    tdx_td_ept_ve_gla(&run, gla, true);
    TDXT_EXPECT(!run.vcpu->ve_info.valid, "GLA without a pending EPT #VE is ignored");
    x = (struct tdx_td_exit){ .reason = TDX_EXIT_REASON_HLT };
    tdx_vp_exit(&run, &x, &out);
    st_expect_invariants(&e, "after the EPT #VEs");
    st_teardown(&e);
}

int main(void)
{
    test_initial_state_and_vmcall();
    test_accept_exit_and_retry();
    test_accept_loop_no_zero_step();
    test_ept_ve_info();
    return tdxt_done("test-td-run");
}
