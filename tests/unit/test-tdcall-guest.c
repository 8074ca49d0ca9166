/*
 * Guest leaves of tdcall-mr.c / tdcall-vm.c and the #VE decisions of
 * td-ve.c, through tdx_td_tdcall() on a vCPU inside a RUNNABLE TD, as the
 * CPU side calls them: exact statuses on success and error paths.
 */
#include "sept-harness.h"
#include "sha384.h"
#include "td-ve.h"

#include <string.h>

#define GPA      0x80000000ULL      /* a MAPPED private page */
#define GPA2     0x80200000ULL      /* a page never added */

#define TDCS_ATTRIBUTES     0x1110000300000000ULL
#define TDCS_CONFIG_FLAGS   0x1110000300000016ULL
#define TDCS_TD_CTLS        0x1110000300000017ULL
#define TDCS_NOTIFY_ENABLES 0x9110000300000010ULL
#define TDCS_RTMR_0_0       0x1310000300000040ULL
#define TDCS_EPTP           0x1110000300000004ULL
#define TDVPS_VCPU_INDEX    0xA020000200000002ULL
#define TDVPS_CPUID_SUP_VE  0xA020000000000007ULL

static struct st_env e;
static struct tdx_td_run run;
static uint64_t page;

static struct tdx_regs tdcall(struct tdx_regs r)
{
    struct tdx_td_exit x;

    TDXT_EXPECT(tdx_tdcall(&run, &r, &x) == TDX_TDCALL_DONE,
                "leaf %llu completes inside the TD", (unsigned long long)r.rax);
    return r;
}

static void setup(void)
{
    struct tdx_regs r = { .rcx = 0 };

    st_setup(&e, 2, 2, true);
    page = st_mapped_page(&e, GPA);
    r = (struct tdx_regs){ .rax = TDH_VP_ENTER, .rcx = e.td.vp[0].tdvpr };
    TDXT_EXPECT(tdxt_vp_enter(e.p->m, e.td.vp[0].lp, &r, &run), "enter: %#llx",
                (unsigned long long)r.rax);
}

static void test_rtmr_extend(void)
{
    uint8_t data[48], want[48], buf[96];
    struct tdx_regs r;

    for (unsigned i = 0; i < 48; i++) {
        data[i] = (uint8_t)(i * 7 + 1);
    }
    tdxt_mem_write(e.p, page + 0x40, data, sizeof(data));
    r = tdcall((struct tdx_regs){ .rax = TDG_MR_RTMR_EXTEND, .rcx = GPA + 0x40, .rdx = 2 });
    TDXT_EXPECT_STATUS(r.rax, TDX_SUCCESS, "RTMR.EXTEND RTMR[2]");
    memset(buf, 0, 48);
    memcpy(buf + 48, data, 48);
    tdx_sha384(buf, 96, want);
    TDXT_EXPECT(!memcmp(e.obj->rtmr[2], want, 48), "RTMR[2] = SHA-384(0^48 || data)");
    /* A second extend chains. */
    r = tdcall((struct tdx_regs){ .rax = TDG_MR_RTMR_EXTEND, .rcx = GPA + 0x40, .rdx = 2 });
    TDXT_EXPECT_STATUS(r.rax, TDX_SUCCESS, "RTMR.EXTEND again");
    memcpy(buf, want, 48);
    tdx_sha384(buf, 96, want);
    TDXT_EXPECT(!memcmp(e.obj->rtmr[2], want, 48), "RTMR[2] chained");
    for (unsigned i = 0; i < 48; i++) {
        TDXT_EXPECT(e.obj->rtmr[0][i] == 0, "RTMR[0] untouched");
    }

    r = tdcall((struct tdx_regs){ .rax = TDG_MR_RTMR_EXTEND, .rcx = GPA + 0x20, .rdx = 0 });
    TDXT_EXPECT_STATUS(r.rax, TDX_OPERAND_INVALID | TDX_OPERAND_ID_RCX, "unaligned GPA");
    r = tdcall((struct tdx_regs){ .rax = TDG_MR_RTMR_EXTEND, .rcx = GPA2, .rdx = 0 });
    TDXT_EXPECT_STATUS(r.rax, TDX_OPERAND_INVALID | TDX_OPERAND_ID_RCX, "unmapped GPA");
    r = tdcall((struct tdx_regs){ .rax = TDG_MR_RTMR_EXTEND, .rcx = GPA | (1ULL << 47),
                                  .rdx = 0 });
    TDXT_EXPECT_STATUS(r.rax, TDX_OPERAND_INVALID | TDX_OPERAND_ID_RCX, "shared GPA");
    r = tdcall((struct tdx_regs){ .rax = TDG_MR_RTMR_EXTEND, .rcx = GPA, .rdx = 4 });
    TDXT_EXPECT_STATUS(r.rax, TDX_OPERAND_INVALID | TDX_OPERAND_ID_RDX, "index 4");
    /* The host holds the RTMR lock: the guest backs off with BUSY|RTMR. */
    TDXT_EXPECT(tdx_lock_try(&e.obj->rtmr_lock, TDX_LOCK_HP_SHAREX, TDX_LOCK_EXCLUSIVE,
                             true) == TDX_LOCK_OK, "hold the RTMR lock");
    r = tdcall((struct tdx_regs){ .rax = TDG_MR_RTMR_EXTEND, .rcx = GPA, .rdx = 0 });
    TDXT_EXPECT_STATUS(r.rax, TDX_OPERAND_BUSY | TDX_OPERAND_ID_RTMR, "RTMR lock held");
    tdx_lock_release(&e.obj->rtmr_lock, TDX_LOCK_EXCLUSIVE);
}

static void test_report(void)
{
    uint8_t rd[64], rpt[1024], h[48];
    struct tdx_regs r;
    uint64_t attr;

    for (unsigned i = 0; i < 64; i++) {
        rd[i] = (uint8_t)(0xA0 + i);
    }
    tdxt_mem_write(e.p, page + 0xC0, rd, sizeof(rd));
    r = tdcall((struct tdx_regs){ .rax = TDG_MR_REPORT, .rcx = GPA + 0x400,
                                  .rdx = GPA + 0xC0, .r8 = 0 });
    TDXT_EXPECT_STATUS(r.rax, TDX_SUCCESS, "REPORT");
    tdxt_mem_read(e.p, page + 0x400, rpt, sizeof(rpt));
    TDXT_EXPECT(rpt[0] == 0x81 && rpt[1] == 0 && rpt[2] == 0, "REPORTTYPE %02x %02x %02x",
                rpt[0], rpt[1], rpt[2]);
    TDXT_EXPECT(!memcmp(rpt + 128, rd, 64), "REPORTDATA copied");
    memcpy(&attr, rpt + 512, 8);
    TDXT_EXPECT(attr == e.obj->cfg.attributes, "TDINFO.ATTRIBUTES");
    TDXT_EXPECT(!memcmp(rpt + 512 + 16, e.obj->mr.mrtd, 48), "TDINFO.MRTD");
    TDXT_EXPECT(!memcmp(rpt + 512 + 208 + 2 * 48, e.obj->rtmr[2], 48), "TDINFO.RTMR[2]");
    tdx_sha384(rpt + 512, 512, h);
    TDXT_EXPECT(!memcmp(rpt + 80, h, 48), "TEE_INFO_HASH = SHA-384(TDINFO)");
    tdx_sha384(rpt + 256, 256, h);
    TDXT_EXPECT(!memcmp(rpt + 32, h, 48), "TEE_TCB_INFO_HASH = SHA-384(TEE_TCB_INFO)");

    r = tdcall((struct tdx_regs){ .rax = TDG_MR_REPORT, .rcx = GPA + 0x200, .rdx = GPA });
    TDXT_EXPECT_STATUS(r.rax, TDX_OPERAND_INVALID | TDX_OPERAND_ID_RCX, "report not 1K-aligned");
    r = tdcall((struct tdx_regs){ .rax = TDG_MR_REPORT, .rcx = GPA, .rdx = GPA + 8 });
    TDXT_EXPECT_STATUS(r.rax, TDX_OPERAND_INVALID | TDX_OPERAND_ID_RDX, "data not 64-aligned");
    r = tdcall((struct tdx_regs){ .rax = TDG_MR_REPORT, .rcx = GPA, .rdx = GPA2 });
    TDXT_EXPECT_STATUS(r.rax, TDX_OPERAND_INVALID | TDX_OPERAND_ID_RDX, "data unmapped");
    r = tdcall((struct tdx_regs){ .rax = TDG_MR_REPORT, .rcx = GPA, .rdx = GPA, .r8 = 1 });
    TDXT_EXPECT_STATUS(r.rax, TDX_OPERAND_INVALID | TDX_OPERAND_ID_R8, "subtype 1");
    r = tdcall((struct tdx_regs){ .rax = TDG_MR_REPORT, .rcx = GPA2, .rdx = GPA });
    TDXT_EXPECT_STATUS(r.rax, TDX_OPERAND_INVALID | TDX_OPERAND_ID_RCX, "report unmapped");
}

static void test_vm_vp_rd_wr(void)
{
    struct tdx_regs r;
    uint8_t rtmr0[8];

    r = tdcall((struct tdx_regs){ .rax = TDG_VM_RD, .rdx = TDCS_ATTRIBUTES });
    TDXT_EXPECT(r.rax == TDX_SUCCESS && r.r8 == e.obj->cfg.attributes, "VM.RD ATTRIBUTES");
    r = tdcall((struct tdx_regs){ .rax = TDG_VM_RD, .rdx = TDCS_CONFIG_FLAGS });
    TDXT_EXPECT_STATUS(r.rax, TDX_SUCCESS, "VM.RD CONFIG_FLAGS");
    r = tdcall((struct tdx_regs){ .rax = TDG_VM_RD | (1 << 16), .rdx = TDCS_TD_CTLS });
    TDXT_EXPECT(r.rax == TDX_SUCCESS && r.r8 == 0 && r.rdx == ~0ULL, "VM.RD v1 TD_CTLS");
    r = tdcall((struct tdx_regs){ .rax = TDG_VM_RD | (2 << 16), .rdx = TDCS_TD_CTLS });
    TDXT_EXPECT_STATUS(r.rax, TDX_OPERAND_INVALID | TDX_OPERAND_ID_RAX, "VM.RD v2");
    r = tdcall((struct tdx_regs){ .rax = TDG_VM_RD, .rdx = TDCS_EPTP });
    TDXT_EXPECT_STATUS(r.rax, TDX_METADATA_FIELD_ID_INCORRECT, "VM.RD EPTP (not guest-visible)");
    r = tdcall((struct tdx_regs){ .rax = TDG_VM_RD, .rdx = TDCS_ATTRIBUTES, .rcx = 1 });
    TDXT_EXPECT_STATUS(r.rax, TDX_OPERAND_INVALID | TDX_OPERAND_ID_RCX, "VM.RD of VM 1");
    r = tdcall((struct tdx_regs){ .rax = TDG_VM_RD, .rdx = TDCS_ATTRIBUTES | (1ULL << 34) });
    TDXT_EXPECT_STATUS(r.rax, TDX_METADATA_FIELD_ID_INCORRECT, "VM.RD multi-element ID");
    r = tdcall((struct tdx_regs){ .rax = TDG_VM_RD, .rdx = TDCS_RTMR_0_0 + 6 * 2 });
    memcpy(rtmr0, e.obj->rtmr[2], 8);
    TDXT_EXPECT(r.rax == TDX_SUCCESS && !memcmp(&r.r8, rtmr0, 8), "VM.RD RTMR[2] qword 0");

    /* Writes: TD_CTLS bit 0 and NOTIFY_ENABLES bit 0 only. */
    r = tdcall((struct tdx_regs){ .rax = TDG_VM_WR, .rdx = TDCS_TD_CTLS, .r8 = 1, .r9 = 1 });
    TDXT_EXPECT(r.rax == TDX_SUCCESS && r.r8 == 0 && e.obj->td_ctls == 1,
                "VM.WR TD_CTLS.PENDING_VE_DISABLE: %#llx", (unsigned long long)r.rax);
    r = tdcall((struct tdx_regs){ .rax = TDG_VM_WR, .rdx = TDCS_TD_CTLS, .r8 = 2, .r9 = 3 });
    TDXT_EXPECT_STATUS(r.rax, TDX_METADATA_FIELD_VALUE_NOT_VALID, "VM.WR TD_CTLS bit 1");
    r = tdcall((struct tdx_regs){ .rax = TDG_VM_WR, .rdx = TDCS_TD_CTLS, .r8 = 2, .r9 = 2 });
    TDXT_EXPECT_STATUS(r.rax, TDX_METADATA_FIELD_NOT_WRITABLE, "VM.WR TD_CTLS mask bit 1 only");
    r = tdcall((struct tdx_regs){ .rax = TDG_VM_WR, .rdx = TDCS_NOTIFY_ENABLES, .r8 = 1,
                                  .r9 = ~0ULL & 1 });
    TDXT_EXPECT(r.rax == TDX_SUCCESS && e.obj->notify_enables == 1, "VM.WR NOTIFY_ENABLES");
    r = tdcall((struct tdx_regs){ .rax = TDG_VM_WR, .rdx = TDCS_ATTRIBUTES, .r8 = 1, .r9 = 1 });
    TDXT_EXPECT_STATUS(r.rax, TDX_METADATA_FIELD_NOT_WRITABLE, "VM.WR ATTRIBUTES");

    r = tdcall((struct tdx_regs){ .rax = TDG_VP_RD, .rdx = TDVPS_VCPU_INDEX });
    TDXT_EXPECT(r.rax == TDX_SUCCESS && r.r8 == 0, "VP.RD VCPU_INDEX");
    r = tdcall((struct tdx_regs){ .rax = TDG_VP_WR, .rdx = TDVPS_VCPU_INDEX, .r8 = 1, .r9 = 1 });
    TDXT_EXPECT_STATUS(r.rax, TDX_METADATA_FIELD_NOT_WRITABLE, "VP.WR VCPU_INDEX");
    r = tdcall((struct tdx_regs){ .rax = TDG_VP_RD, .rdx = 0xA020000300000099ULL });
    TDXT_EXPECT_STATUS(r.rax, TDX_METADATA_FIELD_ID_INCORRECT, "VP.RD unknown field");
    r = tdcall((struct tdx_regs){ .rax = TDG_VP_WR, .rdx = TDVPS_CPUID_SUP_VE, .r8 = 1,
                                  .r9 = 0xFF });
    TDXT_EXPECT(r.rax == TDX_SUCCESS && run.vcpu->cpuid_supervisor_ve == 1,
                "VP.WR CPUID_SUPERVISOR_VE");
}

static void test_ve_decisions(void)
{
    struct tdx_vcpu *v = run.vcpu;
    const struct tdx_stats *s = tdx_module_stats(e.p->m);
    struct tdx_ve_event ev;
    struct tdx_regs r;

    /*
     * CPUID: leaves outside the module's table or marked faulting there
     * always #VE, the others only with CPUID_*_VE; a leaf above the maximum
     * of its range is looked up as leaf 0x23.
     */
    static const struct { uint32_t leaf, sub; bool ve; } cpuid_cases[] = {
        { 0x40000000, 0, true }, { 0x4FFFFFFF, 0, true },
        { 0x1, 0, false }, { 0x1, 9, false }, { 0x80000008, 0, false },
        { 0x2, 0, true }, { 0x6, 0, true }, { 0xB, 0, true }, { 0xB, 1, true },
        { 0x1F, 0, true }, { 0x1F, 1, true }, { 0x80000002, 0, true },
        { 0x80000006, 0, true }, { 0x4, 4, false }, { 0x4, 5, true },
        { 0x7, 2, false }, { 0x7, 3, true }, { 0xD, 0x12, false },
        { 0xD, 0x13, true }, { 0x21, 0, false }, { 0x21, 1, true },
        { 0x23, 3, false }, { 0x24, 0, false }, { 0x24, 4, true },
        { 0x7FFFFFFF, 1, false }, { 0x80000009, 0, false },
        { 0x90000000, 7, true },
    };
    v->cpuid_supervisor_ve = 0;
    for (size_t i = 0; i < sizeof(cpuid_cases) / sizeof(cpuid_cases[0]); i++) {
        bool ve = tdx_ve_cpuid_faults(v, cpuid_cases[i].leaf, cpuid_cases[i].sub, 0);

        TDXT_EXPECT(ve == cpuid_cases[i].ve, "CPUID(%#x,%u): expected %s, got %s",
                    cpuid_cases[i].leaf, cpuid_cases[i].sub,
                    cpuid_cases[i].ve ? "#VE" : "virtualized", ve ? "#VE" : "virtualized");
    }
    TDXT_EXPECT(tdx_td_cpuid_leaf(0x24) == 0x23 && tdx_td_cpuid_leaf(0x80000009) == 0x23 &&
                tdx_td_cpuid_leaf(0x40000001) == 0x40000001 &&
                tdx_td_cpuid_leaf(0x80000008) == 0x80000008,
                "leaf remapping: 0x24 -> %#x, 0x80000009 -> %#x", tdx_td_cpuid_leaf(0x24),
                tdx_td_cpuid_leaf(0x80000009));
    v->cpuid_user_ve = 1;
    TDXT_EXPECT(tdx_ve_cpuid_faults(v, 0x1, 0, 3) && !tdx_ve_cpuid_faults(v, 0x1, 0, 0),
                "CPUID_USER_VE: CPL 3 only");
    v->cpuid_user_ve = 0;
    /* MSRs */
    TDXT_EXPECT(tdx_ve_msr_faults(0xFE, false) && tdx_ve_msr_faults(0xFE, true),
                "MTRRCAP (absent from the table) #VE");
    TDXT_EXPECT(tdx_ve_msr_faults(0x1B, false), "APIC_BASE #VE");
    TDXT_EXPECT(tdx_ve_msr_faults(0x6E0, true), "TSC_DEADLINE #VE");
    TDXT_EXPECT(tdx_ve_msr_faults(0x830, true), "x2APIC ICR #VE");
    TDXT_EXPECT(!tdx_ve_msr_faults(0x80B, true), "x2APIC EOI: virtual APIC");
    TDXT_EXPECT(!tdx_ve_msr_faults(0x10, false) && tdx_ve_msr_faults(0x10, true),
                "TSC: read native, write #VE");
    TDXT_EXPECT(!tdx_ve_msr_faults(0xC0000080, true), "EFER handled");
    TDXT_EXPECT(tdx_ve_msr_faults(0xC0000083, false), "CSTAR #VE");
    TDXT_EXPECT(tdx_ve_msr_faults(0x40000000, false), "outside the bitmap ranges #VE");

    /* The record and the counters. */
    ev = (struct tdx_ve_event){ .exit_reason = TDX_EXIT_REASON_IO, .instr_len = 2,
                                .qualification = 0x3F80008 | (1 << 3) };
    TDXT_EXPECT(tdx_td_ve(e.p->m, v, &ev) == TDX_VE_INJECT, "IN: #VE");
    TDXT_EXPECT(s->ve[TDX_VE_CNT_IO] == 1, "io counter 1, got %llu",
                (unsigned long long)s->ve[TDX_VE_CNT_IO]);
    ev = (struct tdx_ve_event){ .exit_reason = TDX_EXIT_REASON_HLT, .instr_len = 1 };
    TDXT_EXPECT(tdx_td_ve(e.p->m, v, &ev) == TDX_VE_DOUBLE, "#VE while VE_INFO valid: #DF");
    TDXT_EXPECT(s->ve[TDX_VE_CNT_DF] == 1 && s->ve[TDX_VE_CNT_HLT] == 0, "df counted, hlt not");
    r = tdcall((struct tdx_regs){ .rax = TDG_VP_VEINFO_GET });
    TDXT_EXPECT(r.rax == TDX_SUCCESS && r.rcx == 30 && r.rdx == (0x3F80008 | (1 << 3)) &&
                r.r10 == 2, "VEINFO.GET of the IN: reason %llu qual %#llx r10 %#llx",
                (unsigned long long)r.rcx, (unsigned long long)r.rdx,
                (unsigned long long)r.r10);
    TDXT_EXPECT(tdx_td_ve(e.p->m, v, &ev) == TDX_VE_INJECT, "HLT: #VE");
    r = tdcall((struct tdx_regs){ .rax = TDG_VP_VEINFO_GET });
    TDXT_EXPECT(r.rcx == 12 && r.rdx == 0 && r.r10 == 1, "VEINFO.GET of the HLT");
    ev = (struct tdx_ve_event){ .exit_reason = TDX_EXIT_REASON_RDMSR, .msr = 0x1A0, .instr_len = 2 };
    TDXT_EXPECT(tdx_td_ve(e.p->m, v, &ev) == TDX_VE_NONE && !v->ve_info.valid,
                "RDMSR MISC_ENABLE: no #VE");
    ev.msr = 0xFE;
    TDXT_EXPECT(tdx_td_ve(e.p->m, v, &ev) == TDX_VE_INJECT, "RDMSR MTRRCAP: #VE");
    r = tdcall((struct tdx_regs){ .rax = TDG_VP_VEINFO_GET });
    TDXT_EXPECT(r.rcx == 31 && r.rdx == 0 && r.r10 == 2, "VEINFO.GET of the RDMSR");
    ev = (struct tdx_ve_event){ .exit_reason = TDX_EXIT_REASON_CPUID, .leaf = 0x40000000,
                                .instr_len = 2 };
    TDXT_EXPECT(tdx_td_ve(e.p->m, v, &ev) == TDX_VE_INJECT, "CPUID 0x40000000: #VE");
    r = tdcall((struct tdx_regs){ .rax = TDG_VP_VEINFO_GET });
    TDXT_EXPECT(r.rcx == 10, "VEINFO.GET of the CPUID");
    ev.leaf = 0;
    TDXT_EXPECT(tdx_td_ve(e.p->m, v, &ev) == TDX_VE_NONE, "CPUID 0: virtualized");
    TDXT_EXPECT(s->ve[TDX_VE_CNT_CPUID] == 1 && s->ve[TDX_VE_CNT_RDMSR] == 1 &&
                s->ve[TDX_VE_CNT_HLT] == 1, "counters cpuid/rdmsr/hlt = 1");
    TDXT_EXPECT(!strcmp(tdx_ve_counter_name(TDX_VE_CNT_WRMSR), "wrmsr") &&
                !tdx_ve_counter_name(TDX_VE_NUM_COUNTERS), "counter names");
}

/*
 * CPUID as the module virtualizes it: leaf 0x21 "IntelTDX    " (EBX, EDX,
 * ECX), the maximum basic leaf 0x23, leaves 3 and 0x20 zero, VMX/SMX/SGX/
 * TME cleared, the hypervisor and APIC bits set; other leaves native.
 */
static void test_cpuid_virtualization(void)
{
    uint32_t r[4] = { 0x1F, 0x756E6547, 0x6C65746E, 0x49656E69 };
    char sig[13];

    tdx_td_cpuid(0, 0, 0, 0, r);
    TDXT_EXPECT(r[0] == 0x23 && r[1] == 0x756E6547, "CPUID(0): max basic leaf %#x", r[0]);
    r[0] = 0x24;
    tdx_td_cpuid(0, 0, 0, 0, r);
    TDXT_EXPECT(r[0] == 0x23, "CPUID(0): a higher native max leaf capped (%#x)", r[0]);
    r[0] = r[1] = r[2] = r[3] = 9;
    tdx_td_cpuid(0, 0, 3, 0, r);
    TDXT_EXPECT(!r[0] && !r[1] && !r[2] && !r[3], "CPUID(3): zero");
    r[0] = 0x1F; r[1] = 1; r[2] = 2; r[3] = 3;
    tdx_td_cpuid(0, 0, 0x21, 0, r);
    memcpy(sig, &r[1], 4);
    memcpy(sig + 4, &r[3], 4);
    memcpy(sig + 8, &r[2], 4);
    sig[12] = 0;
    TDXT_EXPECT(r[0] == 0 && strcmp(sig, "IntelTDX    ") == 0, "CPUID(0x21,0): \"%s\"", sig);
    r[0] = r[1] = r[2] = r[3] = 5;
    tdx_td_cpuid(0, 0, 0x21, 1, r);
    TDXT_EXPECT(!r[0] && !r[1] && !r[2] && !r[3], "CPUID(0x21,1): zero");
    r[0] = 0x806F8; r[1] = 0; r[2] = 0x7FFAFBFF; r[3] = 0xBFEBFBFF;
    tdx_td_cpuid(0, 0, 1, 0, r);
    TDXT_EXPECT(r[0] == 0x806F8 && !(r[2] & 0x10060) && (r[2] & 0x80000000u) &&
                (r[2] & 0x7FFAEB9F) == 0x7FFAEB9F, "CPUID(1).ECX %#x: VMX/SMX 0, hypervisor 1", r[2]);
    TDXT_EXPECT(r[3] == ((0xBFEBFBFFu & ~0x40120400u) | 0x200u), "CPUID(1).EDX %#x: fixed bits", r[3]);
    r[0] = 0; r[1] = 0xFFFFFFFF; r[2] = 0xFFFFFFFF; r[3] = 0xFFFFFFFF;
    tdx_td_cpuid(0, 0, 7, 0, r);
    TDXT_EXPECT(r[1] == 0xFFFFFFFB && r[2] == 0xFFFFDFFF && r[3] == 0xFFFFFFFF,
                "CPUID(7,0): SGX and TME cleared (EBX %#x ECX %#x)", r[1], r[2]);
    r[1] = 0xFFFFFFFF;
    tdx_td_cpuid(0, 0, 7, 1, r);
    TDXT_EXPECT(r[1] == 0xFFFFFFFF, "CPUID(7,1) native");
    /* TSC leaf from the TD's TSC_FREQUENCY (here 2.5 GHz = 100 x 25 MHz). */
    r[0] = r[1] = r[2] = r[3] = 0;
    tdx_td_cpuid(100, 0, 0x15, 0, r);
    TDXT_EXPECT(r[0] == 1 && r[1] == 100 && r[2] == 25000000 && !r[3],
                "CPUID(0x15): %u/%u x %u Hz", r[1], r[0], r[2]);
    r[0] = 2; r[1] = 3; r[2] = 4;
    tdx_td_cpuid(0, 0, 0x15, 0, r);
    TDXT_EXPECT(r[0] == 2 && r[1] == 3 && r[2] == 4, "CPUID(0x15) without a TSC frequency: native");
    /* The x2APIC ID the VMM gave the vCPU, not the CPU's. */
    r[0] = 0x806F8; r[1] = 0x01020800; r[2] = 0; r[3] = 0;
    tdx_td_cpuid(0, 5, 1, 0, r);
    TDXT_EXPECT(r[1] == 0x05020800, "CPUID(1).EBX %#x: initial APIC ID 5", r[1]);
}

/*
 * A request the module does not know (here: TOPOLOGY_ENUM_CONFIGURED, which
 * Linux reads and Intel's tdx_1.5 does not have; a guest leaf number no
 * module has) gets the architectural error and is counted, per distinct
 * (leaf, field/RAX), in the statistics that info tdx prints.
 */
static void test_unknown_requests(void)
{
    const struct tdx_stats *s = tdx_module_stats(e.p->m);
    const uint64_t topology_enum_configured = 0x9100000000000019ULL;
    const unsigned vm_rd = TDX_GUEST_LEAF_SLOT(TDG_VM_RD);
    uint64_t before = s->unknown_total;
    struct tdx_regs r;
    unsigned found = 0;

    for (int i = 0; i < 2; i++) {
        r = tdcall((struct tdx_regs){ .rax = TDG_VM_RD, .rdx = topology_enum_configured });
        TDXT_EXPECT_STATUS(r.rax, TDX_METADATA_FIELD_ID_INCORRECT,
                           "TDG.VM.RD of TOPOLOGY_ENUM_CONFIGURED");
    }
    r = tdcall((struct tdx_regs){ .rax = 99 });
    TDXT_EXPECT_STATUS(r.rax, TDX_OPERAND_INVALID | TDX_OPERAND_ID_RAX, "guest leaf 99");
    TDXT_EXPECT(s->unknown_total == before + 3, "unknown requests: expected %llu, got %llu",
                (unsigned long long)before + 3, (unsigned long long)s->unknown_total);
    for (unsigned i = 0; i < TDX_STATS_UNKNOWN && s->unknown[i].state == 2; i++) {
        const struct tdx_unknown_request *u = &s->unknown[i];

        if (u->slot == vm_rd && u->what == topology_enum_configured) {
            TDXT_EXPECT(u->count == 2, "TDG.VM.RD field %#llx: expected count 2, got %llu",
                        (unsigned long long)u->what, (unsigned long long)u->count);
            found |= 1;
        } else if (u->slot == TDX_NUM_LEAF_SLOTS && u->what == 99) {
            TDXT_EXPECT(u->count == 1, "leaf 99: expected count 1, got %llu",
                        (unsigned long long)u->count);
            found |= 2;
        }
    }
    TDXT_EXPECT(found == 3, "expected records for TDG.VM.RD's field and leaf 99, got mask %u",
                found);
    /* A known field is not counted. */
    before = s->unknown_total;
    r = tdcall((struct tdx_regs){ .rax = TDG_VM_RD, .rdx = 0x1110000300000017ULL });
    TDXT_EXPECT_STATUS(r.rax, TDX_SUCCESS, "TDG.VM.RD of TD_CTLS");
    TDXT_EXPECT(s->unknown_total == before, "a known field counted as unknown");
}

/*
 * The VMM's CPUID configuration (TD_PARAMS) replaces the configurable bits
 * of what the TD sees; the module's fixed bits still win.
 */
static void test_cpuid_configuration(void)
{
    struct tdx_td *td = run.td;
    struct tdx_td_cpuid saved[TDX_MAX_CPUID_CONFIGS];
    unsigned seen = 0;
    uint32_t r[4];

    memcpy(saved, td->cpuid, sizeof(saved));
    for (unsigned i = 0; i < td->num_cpuid; i++) {
        struct tdx_td_cpuid *c = &td->cpuid[i];

        if (c->leaf == 7 && c->subleaf == 0) {
            c->v[1] = 0x1 & c->mask[1];             /* EBX: FSGSBASE only */
            seen |= 1;
        } else if (c->leaf == 1) {
            memset(c->v, 0, sizeof(c->v));          /* nothing configured */
            seen |= 2;
        }
    }
    TDXT_EXPECT(seen == 3, "the TD has CPUID configurations for leaves 1 and 7 (mask %u)", seen);
    r[0] = 0; r[1] = r[2] = r[3] = 0xFFFFFFFF;
    tdx_td_run_cpuid(&run, 7, 0, r);
    TDXT_EXPECT(r[1] == 0x1, "CPUID(7,0).EBX: expected the configured 0x1, got %#x", r[1]);
    /* Allow-direct: a flag the VMM sets but the CPU lacks stays clear
     * (INVPCID, EBX bit 10: a TD must not see an instruction that #UDs). */
    for (unsigned i = 0; i < td->num_cpuid; i++) {
        if (td->cpuid[i].leaf == 7 && td->cpuid[i].subleaf == 0) {
            td->cpuid[i].v[1] = 0x401 & td->cpuid[i].mask[1];
        }
    }
    r[0] = 0; r[1] = 0x1; r[2] = r[3] = 0;
    tdx_td_run_cpuid(&run, 7, 0, r);
    TDXT_EXPECT(r[1] == 0x1, "CPUID(7,0).EBX: configured 0x401 on a CPU with 0x1: expected 0x1, "
                "got %#x", r[1]);
    r[0] = 0x806F8; r[1] = 0; r[2] = 0x7FFAFBFF; r[3] = 0xBFEBFBFF;
    tdx_td_run_cpuid(&run, 1, 0, r);
    TDXT_EXPECT(r[2] == 0x80000000u && r[3] == 0x200u && r[0] == 0x806F8,
                "CPUID(1): expected configured zeros plus fixed bits (ECX 0x80000000, EDX "
                "0x200) and the native F/M/S for a configured 0 (EAX 0x806F8), got EAX %#x "
                "ECX %#x EDX %#x", r[0], r[2], r[3]);
    r[0] = 0; r[1] = 0xFFFFFFFF;
    tdx_td_run_cpuid(&run, 7, 1, r);
    TDXT_EXPECT(r[1] == 0xFFFFFFFF, "CPUID(7,1): not configurable, native (EBX %#x)", r[1]);
    /* XSAVE (0xD) follows the CPU, whatever the VMM configured: its XCR0
     * bits without the matching sizes would be inconsistent. */
    for (unsigned i = 0; i < td->num_cpuid; i++) {
        if (td->cpuid[i].leaf == 0xD && td->cpuid[i].subleaf == 0) {
            td->cpuid[i].v[0] = 0x207 & td->cpuid[i].mask[0];
            seen |= 4;
        }
    }
    r[0] = 0x7; r[1] = r[2] = 0x340; r[3] = 0;
    tdx_td_run_cpuid(&run, 0xD, 0, r);
    TDXT_EXPECT(seen == 7 && r[0] == 0x7 && r[1] == 0x340,
                "CPUID(0xD,0): expected the CPU's EAX 0x7 EBX 0x340, got EAX %#x EBX %#x "
                "(configured: %u)", r[0], r[1], seen);
    memcpy(td->cpuid, saved, sizeof(saved));
}

int main(void)
{
    struct tdx_td_exit x = { .reason = TDX_EXIT_REASON_EXT_INTR };
    struct tdx_regs out;

    setup();
    test_rtmr_extend();
    test_report();
    test_vm_vp_rd_wr();
    test_ve_decisions();
    test_cpuid_virtualization();
    test_unknown_requests();
    test_cpuid_configuration();
    tdx_vp_exit(&run, &x, &out);
    st_expect_invariants(&e, "after the guest leaves");
    st_teardown(&e);
    return tdxt_done("test-tdcall-guest");
}
