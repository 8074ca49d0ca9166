/*
 * vCPU leaves: TDH.VP.CREATE/ADDCX/INIT/RD/WR/FLUSH, association rules,
 * and the TD-VMCS / TDVPS fields KVM 7.2 reads and writes.
 */
#include "td-harness.h"

#define KVM_FIELD(cls, code) (((uint64_t)(cls) << 56) | (uint64_t)(code))
#define VMCS(enc)            KVM_FIELD(0, enc)

static struct tdxt_platform *boot(void)
{
    struct tdx_platform_desc d = tdxt_desc(4, 2);
    struct tdxt_platform *p = tdxt_new(&d);

    tdxt_boot(p);
    return p;
}

static void test_create_addcx_init(void)
{
    struct tdxt_platform *p = boot();
    uint64_t tdvpr = tdt_page(), cx[TDX_TD_TDVPS_PAGES];
    struct tdx_regs r;
    struct tdt_td td;
    struct tdx_vcpu *v;

    tdt_create(p, &td, 2);
    r = (struct tdx_regs){ .rcx = tdvpr, .rdx = td.tdr };
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_VP_CREATE, &r), TDX_OP_STATE_INCORRECT,
                       "VP.CREATE before MNG.INIT");
    tdt_init(p, &td, 1);
    r = (struct tdx_regs){ .rcx = tdvpr, .rdx = tdvpr };
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_VP_CREATE, &r),
                       TDX_PAGE_METADATA_INCORRECT | TDX_OPERAND_ID_RDX,
                       "VP.CREATE: RDX not a TDR");
    r = (struct tdx_regs){ .rcx = td.tdcx[0], .rdx = td.tdr };
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_VP_CREATE, &r),
                       TDX_PAGE_METADATA_INCORRECT | TDX_OPERAND_ID_RCX,
                       "VP.CREATE on a TDCX page");
    r = (struct tdx_regs){ .rcx = tdvpr, .rdx = td.tdr };
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_VP_CREATE, &r), TDX_SUCCESS, "VP.CREATE");
    v = tdt_vobj(p, tdvpr);
    TDXT_EXPECT(v && v->state == TDX_VCPU_UNINITIALIZED &&
                atomic_load(&v->assoc_lp) == TDX_VCPU_NO_LP, "fresh vCPU");

    r = (struct tdx_regs){ .rcx = tdvpr };
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDT_LEAF(TDH_VP_INIT, 1), &r),
                       TDX_TDCX_NUM_INCORRECT, "VP.INIT without TDVPS pages");
    r = (struct tdx_regs){ .rcx = tdvpr };
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_VP_RD, &r), TDX_TDCX_NUM_INCORRECT,
                       "VP.RD without TDVPS pages");
    for (unsigned i = 0; i < TDX_TD_TDVPS_PAGES; i++) {
        cx[i] = tdt_page();
    }
    r = (struct tdx_regs){ .rcx = cx[0], .rdx = td.tdr };
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_VP_ADDCX, &r),
                       TDX_PAGE_METADATA_INCORRECT | TDX_OPERAND_ID_RDX,
                       "VP.ADDCX: RDX not a TDVPR");
    for (unsigned i = 0; i < TDX_TD_TDVPS_PAGES - 1; i++) {
        r = (struct tdx_regs){ .rcx = cx[i], .rdx = tdvpr };
        TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_VP_ADDCX, &r), TDX_SUCCESS, "VP.ADDCX");
    }
    r = (struct tdx_regs){ .rcx = cx[TDX_TD_TDVPS_PAGES - 1], .rdx = tdvpr };
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_VP_ADDCX, &r), TDX_TDCX_NUM_INCORRECT,
                       "VP.ADDCX one too many");
    r = (struct tdx_regs){ .rcx = tdvpr, .r8 = 1ULL << 32 };
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDT_LEAF(TDH_VP_INIT, 1), &r),
                       TDX_OPERAND_INVALID | TDX_OPERAND_ID_R8, "VP.INIT x2APIC ID > 32 bits");
    r = (struct tdx_regs){ .rcx = tdvpr };
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDT_LEAF(TDH_VP_INIT, 2), &r),
                       TDX_OPERAND_INVALID | TDX_OPERAND_ID_RAX, "VP.INIT version 2");
    r = (struct tdx_regs){ .rcx = tdvpr, .rdx = 0x1234, .r8 = 7 };
    TDXT_EXPECT_STATUS(tdt_call(p, 2, TDT_LEAF(TDH_VP_INIT, 1), &r), TDX_SUCCESS,
                       "VP.INIT v1 (Linux 7.2)");
    TDXT_EXPECT(v->state == TDX_VCPU_READY && v->x2apic_id == 7 && v->init_rcx == 0x1234 &&
                atomic_load(&v->assoc_lp) == 2 && v->vcpu_index == 0,
                "VP.INIT result");
    r = (struct tdx_regs){ .rcx = tdvpr };
    TDXT_EXPECT_STATUS(tdt_call(p, 2, TDT_LEAF(TDH_VP_INIT, 1), &r),
                       TDX_VCPU_STATE_INCORRECT, "VP.INIT twice");
    r = (struct tdx_regs){ .rcx = cx[TDX_TD_TDVPS_PAGES - 1], .rdx = tdvpr };
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_VP_ADDCX, &r), TDX_VCPU_STATE_INCORRECT,
                       "VP.ADDCX after VP.INIT");

    /* MAX_VCPUS = 1: a second vCPU cannot be initialised. */
    {
        uint64_t t2 = tdt_page();

        r = (struct tdx_regs){ .rcx = t2, .rdx = td.tdr };
        TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_VP_CREATE, &r), TDX_SUCCESS, "VP.CREATE 2");
        for (unsigned i = 0; i < TDX_TD_TDVPS_PAGES - 1; i++) {
            r = (struct tdx_regs){ .rcx = tdt_page(), .rdx = t2 };
            TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_VP_ADDCX, &r), TDX_SUCCESS, "VP.ADDCX 2");
        }
        r = (struct tdx_regs){ .rcx = t2 };
        TDXT_EXPECT_STATUS(tdt_call(p, 0, TDT_LEAF(TDH_VP_INIT, 1), &r),
                           TDX_MAX_VCPUS_EXCEEDED, "VP.INIT beyond MAX_VCPUS");
        TDXT_EXPECT(atomic_load(&tdt_obj(p, &td)->num_vcpus) == 1, "NUM_VCPUS undone");
    }
    TDXT_EXPECT_INVARIANTS(p, "after VP.INIT");
    tdxt_free(p);
}

static void test_rd_wr_association(void)
{
    struct tdxt_platform *p = boot();
    struct tdx_regs r;
    struct tdt_td td;
    uint64_t vp;

    tdt_create(p, &td, 3);
    tdt_init(p, &td, 2);
    tdt_vcpu(p, &td, 1);
    vp = td.vp[0].tdvpr;

    /* Pin-based posted interrupts need NV and the descriptor first. */
    r = (struct tdx_regs){ .rcx = vp, .rdx = VMCS(0x4000), .r8 = 0x80, .r9 = 0x80 };
    TDXT_EXPECT_STATUS(tdt_call(p, 1, TDH_VP_WR, &r),
                       TDX_TD_VMCS_FIELD_NOT_INITIALIZED | 0x0002, "PI before NV");
    r = (struct tdx_regs){ .rcx = vp, .rdx = VMCS(0x0002), .r8 = 0xF2, .r9 = 0xFFFF };
    TDXT_EXPECT_STATUS(tdt_call(p, 1, TDH_VP_WR, &r), TDX_SUCCESS, "WR NV");
    TDXT_EXPECT(r.r8 == 0xFFFF, "old NV is the illegal initial value");
    r = (struct tdx_regs){ .rcx = vp, .rdx = VMCS(0x4000), .r8 = 0x80, .r9 = 0x80 };
    TDXT_EXPECT_STATUS(tdt_call(p, 1, TDH_VP_WR, &r),
                       TDX_TD_VMCS_FIELD_NOT_INITIALIZED | 0x2016, "PI before PID");
    r = (struct tdx_regs){ .rcx = vp, .rdx = VMCS(0x2016), .r8 = 0x3020, .r9 = ~0ULL };
    TDXT_EXPECT_STATUS(tdt_call(p, 1, TDH_VP_WR, &r), TDX_METADATA_FIELD_VALUE_NOT_VALID,
                       "PID not 64-byte aligned");
    r = (struct tdx_regs){ .rcx = vp, .rdx = VMCS(0x2016), .r8 = td.tdcx[0], .r9 = ~0ULL };
    TDXT_EXPECT_STATUS(tdt_call(p, 1, TDH_VP_WR, &r), TDX_METADATA_FIELD_VALUE_NOT_VALID,
                       "PID in a private page");
    r = (struct tdx_regs){ .rcx = vp, .rdx = VMCS(0x2016), .r8 = 0x3040, .r9 = ~0ULL };
    TDXT_EXPECT_STATUS(tdt_call(p, 1, TDH_VP_WR, &r), TDX_SUCCESS, "WR PID");
    r = (struct tdx_regs){ .rcx = vp, .rdx = VMCS(0x4000), .r8 = 0x80, .r9 = 0x80 };
    TDXT_EXPECT_STATUS(tdt_call(p, 1, TDH_VP_WR, &r), TDX_SUCCESS, "setbit PI");
    r = (struct tdx_regs){ .rcx = vp, .rdx = VMCS(0x0002), .r8 = 0x1F2, .r9 = 0xFFFF };
    TDXT_EXPECT_STATUS(tdt_call(p, 1, TDH_VP_WR, &r), TDX_METADATA_FIELD_VALUE_NOT_VALID,
                       "NV > 255");
    /* Shared EPTP the way KVM's load_mmu_pgd writes it. */
    r = (struct tdx_regs){ .rcx = vp, .rdx = VMCS(0x203C), .r8 = 0x7654000, .r9 = ~0ULL };
    TDXT_EXPECT_STATUS(tdt_call(p, 1, TDH_VP_WR, &r), TDX_SUCCESS, "WR shared EPTP");
    r = (struct tdx_regs){ .rcx = vp, .rdx = VMCS(0x203C) };
    TDXT_EXPECT_STATUS(tdt_call(p, 1, TDH_VP_RD, &r), TDX_SUCCESS, "RD shared EPTP");
    TDXT_EXPECT(r.r8 == 0x7654000, "shared EPTP read back");
    {
        uint64_t x;

        TDXT_EXPECT(tdx_vcpu_vmcs_get(tdt_vobj(p, vp), 0x203C, &x) && x == 0x7654000,
                    "VP.ENTER accessor sees it");
    }
    r = (struct tdx_regs){ .rcx = vp, .rdx = VMCS(0x2010), .r8 = 1, .r9 = ~0ULL };
    TDXT_EXPECT_STATUS(tdt_call(p, 1, TDH_VP_WR, &r), TDX_METADATA_FIELD_NOT_WRITABLE,
                       "WR TSC offset");
    r = (struct tdx_regs){ .rcx = vp, .rdx = VMCS(0x681E) };
    TDXT_EXPECT_STATUS(tdt_call(p, 1, TDH_VP_RD, &r), TDX_METADATA_FIELD_NOT_READABLE,
                       "RD guest RIP of a production TD");
    r = (struct tdx_regs){ .rcx = vp, .rdx = VMCS(0x1234) };
    TDXT_EXPECT_STATUS(tdt_call(p, 1, TDH_VP_RD, &r), TDX_METADATA_FIELD_ID_INCORRECT,
                       "RD unknown VMCS field");
    /* NMI injection and the interrupt-pending poll. */
    r = (struct tdx_regs){ .rcx = vp, .rdx = KVM_FIELD(32, 11), .r8 = 1, .r9 = 0xFF };
    TDXT_EXPECT_STATUS(tdt_call(p, 1, TDH_VP_WR, &r), TDX_SUCCESS, "WR PEND_NMI");
    TDXT_EXPECT(tdt_vobj(p, vp)->pend_nmi == 1, "PEND_NMI set");
    r = (struct tdx_regs){ .rcx = vp, .rdx = TDX_MD_NON_ARCH | KVM_FIELD(17, 0x100) };
    TDXT_EXPECT_STATUS(tdt_call(p, 1, TDH_VP_RD, &r), TDX_SUCCESS, "RD VCPU_STATE_DETAILS");
    /* Version 1 read reports a next field ID (none enumerated). */
    r = (struct tdx_regs){ .rcx = vp, .rdx = KVM_FIELD(32, 11) };
    TDXT_EXPECT_STATUS(tdt_call(p, 1, TDT_LEAF(TDH_VP_RD, 1), &r), TDX_SUCCESS, "RD v1");

    /* Association: another LP is refused until VP.FLUSH on LP 1. */
    r = (struct tdx_regs){ .rcx = vp, .rdx = KVM_FIELD(32, 11) };
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_VP_RD, &r), TDX_VCPU_ASSOCIATED,
                       "RD from another LP");
    r = (struct tdx_regs){ .rcx = vp };
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_VP_FLUSH, &r), TDX_VCPU_NOT_ASSOCIATED,
                       "FLUSH from another LP");
    r = (struct tdx_regs){ .rcx = vp };
    TDXT_EXPECT_STATUS(tdt_call(p, 1, TDH_VP_FLUSH, &r), TDX_SUCCESS, "FLUSH");
    TDXT_EXPECT(atomic_load(&tdt_obj(p, &td)->num_assoc_vcpus) == 0, "no association");
    TDXT_EXPECT_INVARIANTS(p, "after FLUSH");
    r = (struct tdx_regs){ .rcx = vp, .rdx = KVM_FIELD(32, 11) };
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_VP_RD, &r), TDX_SUCCESS,
                       "RD from LP 0 associates it there");
    TDXT_EXPECT(atomic_load(&tdt_vobj(p, vp)->assoc_lp) == 0, "moved to LP 0");
    td.vp[0].lp = 0;
    /* VP.ENTER-style association helper: refused on LP 3. */
    {
        struct tdx_call c = { .m = p->m, .lp = 3, .leaf = TDH_VP_ENTER, .host = true };
        bool fresh;

        TDXT_EXPECT_STATUS(tdx_vcpu_associate(&c, tdt_vobj(p, vp), false, &fresh),
                           TDX_VCPU_ASSOCIATED, "associate on LP 3");
        c.lp = 0;
        TDXT_EXPECT_STATUS(tdx_vcpu_associate(&c, tdt_vobj(p, vp), false, &fresh),
                           TDX_SUCCESS, "associate on its LP");
        TDXT_EXPECT(!fresh, "not a new association");
    }
    tdt_release_hkid(p, &td);
    /* After FREEID, VP.FLUSH reports the TD's keys are gone. */
    r = (struct tdx_regs){ .rcx = vp };
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_VP_FLUSH, &r), TDX_TD_KEYS_NOT_CONFIGURED,
                       "FLUSH after FREEID");
    tdt_reclaim_all(p, &td);
    TDXT_EXPECT_INVARIANTS(p, "after teardown");
    tdxt_free(p);
}

/* A debug TD exposes guest state to the host. */
static void test_debug_td(void)
{
    struct tdxt_platform *p = boot();
    uint8_t prm[TDX_TD_PARAMS_SIZE];
    uint64_t attr = 1;
    struct tdx_regs r;
    struct tdt_td td;

    tdt_create(p, &td, 7);
    tdt_default_params(prm, 2);
    memcpy(prm + TDP_ATTRIBUTES, &attr, 8);
    tdt_write_params(p, prm);
    r = (struct tdx_regs){ .rcx = td.tdr, .rdx = TDT_PARAMS_PA };
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_MNG_INIT, &r), TDX_SUCCESS, "INIT debug TD");
    tdt_vcpu(p, &td, 0);
    r = (struct tdx_regs){ .rcx = td.vp[0].tdvpr, .rdx = VMCS(0x681E), .r8 = 0xFFF0,
                           .r9 = ~0ULL };
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_VP_WR, &r), TDX_SUCCESS, "WR guest RIP (debug)");
    r = (struct tdx_regs){ .rcx = td.vp[0].tdvpr, .rdx = VMCS(0x681E) };
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_VP_RD, &r), TDX_SUCCESS, "RD guest RIP (debug)");
    TDXT_EXPECT(r.r8 == 0xFFF0, "guest RIP");
    tdxt_free(p);
}

int main(void)
{
    test_create_addcx_init();
    test_rd_wr_association();
    test_debug_td();
    return tdxt_done("test-vp");
}
