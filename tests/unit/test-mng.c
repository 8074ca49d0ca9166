/*
 * TD management leaves: success paths and architectural errors of
 * TDH.MNG.CREATE/KEY.CONFIG/ADDCX/INIT/RD/WR/VPFLUSHDONE/KEY.FREEID, the
 * teardown order, PHYMEM leaves, and the whole TD lifecycle as Linux 7.2
 * drives it.
 */
#include "td-harness.h"
#include "sha384.h"

#define KVM_FIELD(cls, code) (((uint64_t)(cls) << 56) | (uint64_t)(code))
#define MD_TDCS_BASE_SIZE   0x9800000100000100ULL
#define MD_TDVPS_BASE_SIZE  0x9800000100000200ULL
#define MD_MAX_VCPUS_PER_TD 0x9900000100000008ULL

static struct tdxt_platform *boot(void)
{
    struct tdx_platform_desc d = tdxt_desc(4, 2);
    struct tdxt_platform *p = tdxt_new(&d);

    tdxt_boot(p);
    return p;
}

static uint64_t sys_rd(struct tdxt_platform *p, uint64_t id)
{
    struct tdx_regs r = { .rdx = id };

    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_SYS_RD, &r), TDX_SUCCESS, "SYS.RD");
    return r.r8;
}

/* The sizes KVM allocates come from SYS.RD; the leaves must agree. */
static void test_sysinfo_agrees(void)
{
    struct tdxt_platform *p = boot();

    TDXT_EXPECT(sys_rd(p, MD_TDCS_BASE_SIZE) == TDX_TD_TDCS_PAGES * TDX_PAGE_SIZE,
                "TDCS_BASE_SIZE vs TDX_TD_TDCS_PAGES");
    TDXT_EXPECT(sys_rd(p, MD_TDVPS_BASE_SIZE) == TDX_TD_TDVPS_PAGES * TDX_PAGE_SIZE,
                "TDVPS_BASE_SIZE vs TDX_TD_TDVPS_PAGES");
    TDXT_EXPECT(sys_rd(p, MD_MAX_VCPUS_PER_TD) <= TDX_TD_MAX_VCPUS,
                "MAX_VCPUS_PER_TD");
    tdxt_free(p);
}

static void test_create(void)
{
    struct tdxt_platform *p = boot();
    struct tdx_regs r;
    uint64_t page = tdt_page(), shift = tdx_keyid_shift(p->m);
    const uint64_t bad_hkids[] = { 0, p->m->global_hkid == 1 ? 8 : 0, 8, 1ULL << 16, ~0ULL };

    for (unsigned i = 0; i < sizeof(bad_hkids) / sizeof(bad_hkids[0]); i++) {
        r = (struct tdx_regs){ .rcx = page, .rdx = bad_hkids[i] };
        TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_MNG_CREATE, &r),
                           TDX_OPERAND_INVALID | TDX_OPERAND_ID_RDX, "CREATE bad HKID");
    }
    /* The module's own KeyID is never free. */
    r = (struct tdx_regs){ .rcx = page, .rdx = p->m->global_hkid };
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_MNG_CREATE, &r), TDX_HKID_NOT_FREE,
                       "CREATE global HKID");
    r = (struct tdx_regs){ .rcx = page + 8, .rdx = 2 };
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_MNG_CREATE, &r),
                       TDX_OPERAND_INVALID | TDX_OPERAND_ID_RCX, "CREATE misaligned");
    r = (struct tdx_regs){ .rcx = page | (2ULL << shift), .rdx = 2 };
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_MNG_CREATE, &r),
                       TDX_OPERAND_INVALID | TDX_OPERAND_ID_RCX, "CREATE KeyID bits");
    r = (struct tdx_regs){ .rcx = TDXT_PAMT_BASE, .rdx = 2 };
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_MNG_CREATE, &r),
                       TDX_OPERAND_ADDR_RANGE_ERROR | TDX_OPERAND_ID_RCX,
                       "CREATE in the PAMT (reserved)");
    r = (struct tdx_regs){ .rcx = 4ULL << 30, .rdx = 2 };
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_MNG_CREATE, &r),
                       TDX_OPERAND_ADDR_RANGE_ERROR | TDX_OPERAND_ID_RCX,
                       "CREATE outside TDMR");
    /* L1's data in the page must not survive donation. */
    tdxt_mem_write(p, page, "secret", 6);
    r = (struct tdx_regs){ .rcx = page, .rdx = 2 };
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_MNG_CREATE, &r), TDX_SUCCESS, "CREATE");
    TDXT_EXPECT(p->ram[page] == 0, "TDR page scrubbed");
    TDXT_EXPECT(tdt_page_type(p, page) == TDX_PT_TDR, "TDR in PAMT");
    TDXT_EXPECT(p->m->kot_state[2] == TDX_KOT_ASSIGNED, "KOT assigned");
    /* Same HKID again, and the TDR page again. */
    r = (struct tdx_regs){ .rcx = tdt_page(), .rdx = 2 };
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_MNG_CREATE, &r), TDX_HKID_NOT_FREE,
                       "CREATE HKID in use");
    r = (struct tdx_regs){ .rcx = page, .rdx = 3 };
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_MNG_CREATE, &r),
                       TDX_PAGE_METADATA_INCORRECT | TDX_OPERAND_ID_RCX,
                       "CREATE on a TDR page");
    TDXT_EXPECT_INVARIANTS(p, "after CREATE");
    tdxt_free(p);       /* module teardown frees the never-reclaimed TD */
}

static void test_key_config_addcx(void)
{
    struct tdxt_platform *p = boot();
    struct tdx_regs r;
    uint64_t tdr = tdt_page(), cx[TDX_TD_TDCS_PAGES + 1];
    struct tdx_td *td;

    r = (struct tdx_regs){ .rcx = tdr, .rdx = 3 };
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_MNG_CREATE, &r), TDX_SUCCESS, "CREATE");
    td = tdx_pamt_lookup(p->m, tdr)->obj;
    for (unsigned i = 0; i <= TDX_TD_TDCS_PAGES; i++) {
        cx[i] = tdt_page();
    }
    /* Keys not configured on every package yet. */
    r = (struct tdx_regs){ .rcx = cx[0], .rdx = tdr };
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_MNG_ADDCX, &r), TDX_TD_KEYS_NOT_CONFIGURED,
                       "ADDCX before KEY.CONFIG");
    r = (struct tdx_regs){ .rcx = tdr };
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_MNG_KEY_CONFIG, &r), TDX_SUCCESS,
                       "KEY.CONFIG pkg 0");
    TDXT_EXPECT(td->lifecycle == TDX_TD_HKID_ASSIGNED, "one package is not all");
    r = (struct tdx_regs){ .rcx = tdr };
    TDXT_EXPECT_STATUS(tdt_call(p, 2, TDH_MNG_KEY_CONFIG, &r), TDX_KEY_CONFIGURED,
                       "KEY.CONFIG pkg 0 again (other LP, same package)");
    r = (struct tdx_regs){ .rcx = cx[0], .rdx = tdr };
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_MNG_ADDCX, &r), TDX_TD_KEYS_NOT_CONFIGURED,
                       "ADDCX with one package left");
    r = (struct tdx_regs){ .rcx = tdr };
    TDXT_EXPECT_STATUS(tdt_call(p, 1, TDH_MNG_KEY_CONFIG, &r), TDX_SUCCESS,
                       "KEY.CONFIG pkg 1");
    TDXT_EXPECT(td->lifecycle == TDX_TD_KEYS_CONFIGURED, "keys configured");
    r = (struct tdx_regs){ .rcx = tdr };
    TDXT_EXPECT_STATUS(tdt_call(p, 1, TDH_MNG_KEY_CONFIG, &r),
                       TDX_LIFECYCLE_STATE_INCORRECT, "KEY.CONFIG after all packages");
    /* MNG.INIT needs the whole TDCS. */
    r = (struct tdx_regs){ .rcx = tdr, .rdx = TDT_PARAMS_PA };
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_MNG_INIT, &r), TDX_TDCS_NOT_ALLOCATED,
                       "INIT without TDCS");
    /* ADDCX operand errors. */
    r = (struct tdx_regs){ .rcx = cx[0] + 0x800, .rdx = tdr };
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_MNG_ADDCX, &r),
                       TDX_OPERAND_INVALID | TDX_OPERAND_ID_RCX, "ADDCX misaligned");
    r = (struct tdx_regs){ .rcx = cx[0], .rdx = cx[1] };
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_MNG_ADDCX, &r),
                       TDX_PAGE_METADATA_INCORRECT | TDX_OPERAND_ID_RDX,
                       "ADDCX: RDX is not a TDR");
    r = (struct tdx_regs){ .rcx = tdr, .rdx = tdr };
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_MNG_ADDCX, &r),
                       TDX_OPERAND_BUSY | TDX_OPERAND_ID_RCX,
                       "ADDCX: the TDR as its own TDCX (already locked)");
    for (unsigned i = 0; i < TDX_TD_TDCS_PAGES; i++) {
        r = (struct tdx_regs){ .rcx = cx[i], .rdx = tdr };
        TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_MNG_ADDCX, &r), TDX_SUCCESS, "ADDCX");
    }
    TDXT_EXPECT(td->num_tdcx == TDX_TD_TDCS_PAGES && atomic_load(&td->chldcnt) ==
                TDX_TD_TDCS_PAGES, "TDCX counted");
    r = (struct tdx_regs){ .rcx = cx[TDX_TD_TDCS_PAGES], .rdx = tdr };
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_MNG_ADDCX, &r), TDX_TDCX_NUM_INCORRECT,
                       "ADDCX one too many");
    TDXT_EXPECT(tdt_page_type(p, cx[TDX_TD_TDCS_PAGES]) == TDX_PT_NDA,
                "refused page stays free");
    TDXT_EXPECT_INVARIANTS(p, "after ADDCX");
    tdxt_free(p);
}

static void expect_init(struct tdxt_platform *p, struct tdt_td *td, const uint8_t *params,
                        uint64_t want, const char *what)
{
    struct tdx_regs r = { .rcx = td->tdr, .rdx = TDT_PARAMS_PA };

    tdt_write_params(p, params);
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_MNG_INIT, &r), want, what);
}

static void test_init(void)
{
    struct tdxt_platform *p = boot();
    uint8_t prm[TDX_TD_PARAMS_SIZE];
    struct tdx_regs r;
    struct tdt_td td;
    uint64_t v;

    tdt_create(p, &td, 2);
    r = (struct tdx_regs){ .rcx = td.tdr, .rdx = KVM_FIELD(17, 10) };
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_MNG_RD, &r), TDX_OP_STATE_INCORRECT,
                       "MNG.RD before INIT");

#define BAD(field_off, val, size, want, what) do {                      \
        tdt_default_params(prm, 8);                                     \
        v = (val);                                                      \
        memcpy(prm + (field_off), &v, (size));                          \
        expect_init(p, &td, prm, (want), (what));                       \
    } while (0)
    BAD(TDP_ATTRIBUTES, 1ULL << 1, 8, TDX_OPERAND_INVALID | TDX_OPERAND_ID_ATTRIBUTES,
        "reserved attribute");
    BAD(TDP_XFAM, 0x1, 8, TDX_OPERAND_INVALID | TDX_OPERAND_ID_XFAM, "XFAM without SSE");
    BAD(TDP_XFAM, 0x3 | 0x20, 8, TDX_OPERAND_INVALID | TDX_OPERAND_ID_XFAM,
        "XFAM half of AVX-512");
    BAD(TDP_MAX_VCPUS, 0, 2, TDX_OPERAND_INVALID | TDX_OPERAND_ID_MAX_VCPUS, "0 vCPUs");
    BAD(TDP_MAX_VCPUS, 1000, 2, TDX_OPERAND_INVALID | TDX_OPERAND_ID_MAX_VCPUS,
        "too many vCPUs");
    BAD(TDP_RESERVED0, 1, 1, TDX_OPERAND_INVALID | TDX_OPERAND_ID_RDX, "reserved0");
    BAD(TDP_EPTP_CONTROLS, 0 | (3 << 3), 8,
        TDX_OPERAND_INVALID | TDX_OPERAND_ID_EPTP_CONTROLS, "EPT memory type UC");
    BAD(TDP_EPTP_CONTROLS, 6 | (4 << 3), 8,
        TDX_OPERAND_INVALID | TDX_OPERAND_ID_EPTP_CONTROLS, "5-level EPT, 46-bit PA");
    BAD(TDP_CONFIG_FLAGS, 1, 8, TDX_OPERAND_INVALID | TDX_OPERAND_ID_EPTP_CONTROLS,
        "GPAW 52 with 4-level EPT");
    BAD(TDP_CONFIG_FLAGS, 1ULL << 40, 8,
        TDX_OPERAND_INVALID | TDX_OPERAND_ID_EXEC_CONTROLS, "reserved config flag");
    BAD(TDP_TSC_FREQUENCY, 3, 2, TDX_OPERAND_INVALID | TDX_OPERAND_ID_TSC_FREQUENCY,
        "TSC 75 MHz");
    BAD(TDP_TSC_FREQUENCY, 401, 2, TDX_OPERAND_INVALID | TDX_OPERAND_ID_TSC_FREQUENCY,
        "TSC 10.025 GHz");
    BAD(TDP_RESERVED1 + 5, 1, 1, TDX_OPERAND_INVALID | TDX_OPERAND_ID_RDX, "reserved1");
    /* CPUID(0xD,0).EBX is not configurable (SYS.RD mask 0 there). */
    BAD(TDP_CPUID_CONFIG + 2 * 16 + 4, 1, 4,
        TDX_OPERAND_INVALID | TDX_OPERAND_ID_CPUID_CONFIG, "CPUID bit not configurable");
    tdt_default_params(prm, 8);
    prm[TDP_CPUID_CONFIG + 2 * 16 + 4] = 1;
    tdt_write_params(p, prm);
    r = (struct tdx_regs){ .rcx = td.tdr, .rdx = TDT_PARAMS_PA };
    tdt_call(p, 0, TDH_MNG_INIT, &r);
    TDXT_EXPECT(r.rcx == 0xD, "CPUID error names leaf 0xD/0 in RCX: %#llx",
                (unsigned long long)r.rcx);
    BAD(TDX_TD_PARAMS_SIZE - 8, 1, 1, TDX_OPERAND_INVALID | TDX_OPERAND_ID_RDX,
        "CPUID entry past the advertised list");
#undef BAD
    r = (struct tdx_regs){ .rcx = td.tdr, .rdx = TDT_PARAMS_PA + 512 };
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_MNG_INIT, &r),
                       TDX_OPERAND_INVALID | TDX_OPERAND_ID_RDX, "TD_PARAMS misaligned");
    r = (struct tdx_regs){ .rcx = td.tdr, .rdx = td.tdcx[0] };
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_MNG_INIT, &r),
                       TDX_OPERAND_INVALID | TDX_OPERAND_ID_RDX, "TD_PARAMS in a private page");
    TDXT_EXPECT(atomic_load(&tdt_obj(p, &td)->op_state) == TDX_OP_UNINITIALIZED,
                "failed INITs changed nothing");

    /* KVM-like parameters, with a configured CPUID bit. */
    tdt_default_params(prm, 8);
    v = 1ULL << 28;     /* SEPT_VE_DISABLE, as KVM sets it */
    memcpy(prm + TDP_ATTRIBUTES, &v, 8);
    prm[TDP_CPUID_CONFIG + 1 * 16 + 4] = 0x1;   /* CPUID(7,0).EBX bit 0 */
    expect_init(p, &td, prm, TDX_SUCCESS, "MNG.INIT");
    expect_init(p, &td, prm, TDX_OP_STATE_INCORRECT, "MNG.INIT twice");

    /* What KVM reads right after (tdx_td_init). */
    r = (struct tdx_regs){ .rcx = td.tdr, .rdx = KVM_FIELD(17, 10) };
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_MNG_RD, &r), TDX_SUCCESS, "RD TSC_OFFSET");
    r = (struct tdx_regs){ .rcx = td.tdr, .rdx = KVM_FIELD(17, 11) };
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_MNG_RD, &r), TDX_SUCCESS, "RD TSC_MULTIPLIER");
    TDXT_EXPECT(r.r8 == 1ULL << 48, "TSC multiplier 1.0: %#llx", (unsigned long long)r.r8);
    r = (struct tdx_regs){ .rcx = td.tdr, .rdx = KVM_FIELD(17, 0) };
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_MNG_RD, &r), TDX_SUCCESS, "RD ATTRIBUTES");
    TDXT_EXPECT(r.r8 == 1ULL << 28, "ATTRIBUTES read back");
    /* Intel's MNG.INIT starts the TD epoch at 1. */
    r = (struct tdx_regs){ .rcx = td.tdr,
                           .rdx = (1ULL << 63) | (0x12ULL << 56) | (3ULL << 32) };
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_MNG_RD, &r), TDX_SUCCESS, "RD TD_EPOCH");
    TDXT_EXPECT(r.r8 == 1, "TD epoch after MNG.INIT: expected 1, got %llu",
                (unsigned long long)r.r8);
    /* CPUID values (KVM_TDX_GET_CPUID): leaf 0, leaf 7/0, 0x80000000. */
    r = (struct tdx_regs){ .rcx = td.tdr, .rdx = 0x9410000300000000ULL | 0x1FE };
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_MNG_RD, &r), TDX_SUCCESS, "RD CPUID(0)");
    TDXT_EXPECT((uint32_t)r.r8 == 0xD, "CPUID(0).EAX = max leaf");
    r = (struct tdx_regs){ .rcx = td.tdr, .rdx = 0x9410000300000000ULL | (7 << 9) };
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_MNG_RD, &r), TDX_SUCCESS, "RD CPUID(7,0)");
    TDXT_EXPECT(r.r8 >> 32 == 1, "CPUID(7,0).EBX as configured");
    r = (struct tdx_regs){ .rcx = td.tdr, .rdx = 0x9410000300000000ULL | (1 << 16) | 0x1FE };
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_MNG_RD, &r), TDX_SUCCESS, "RD CPUID(0x80000000)");
    TDXT_EXPECT((uint32_t)r.r8 == 0x80000008u, "CPUID(0x80000000).EAX");
    r = (struct tdx_regs){ .rcx = td.tdr, .rdx = 0x9410000300000000ULL | (3 << 9) | 0x1FE };
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_MNG_RD, &r), TDX_METADATA_FIELD_ID_INCORRECT,
                       "RD CPUID(3): not a field");
    r = (struct tdx_regs){ .rcx = td.tdr, .rdx = KVM_FIELD(17, 0x77) };
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_MNG_RD, &r), TDX_METADATA_FIELD_ID_INCORRECT,
                       "RD unknown field");
    /* MNG.WR: only HP_LOCK_TIMEOUT, in range. */
    r = (struct tdx_regs){ .rcx = td.tdr, .rdx = TDX_MD_NON_ARCH | KVM_FIELD(17, 0x11),
                           .r8 = 20000, .r9 = ~0ULL };
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_MNG_WR, &r), TDX_SUCCESS, "WR HP_LOCK_TIMEOUT");
    TDXT_EXPECT(r.r8 == 1000000, "WR returns the old value (1 s in us)");
    r = (struct tdx_regs){ .rcx = td.tdr, .rdx = TDX_MD_NON_ARCH | KVM_FIELD(17, 0x11),
                           .r8 = 5, .r9 = ~0ULL };
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_MNG_WR, &r), TDX_METADATA_FIELD_VALUE_NOT_VALID,
                       "WR HP_LOCK_TIMEOUT 5 us");
    r = (struct tdx_regs){ .rcx = td.tdr, .rdx = KVM_FIELD(17, 0), .r8 = 1, .r9 = ~0ULL };
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_MNG_WR, &r), TDX_METADATA_FIELD_NOT_WRITABLE,
                       "WR ATTRIBUTES");
    TDXT_EXPECT_INVARIANTS(p, "after INIT");
    tdxt_free(p);
}

/* Test S-EPT hook: GPA 0..64K maps to TDT_MAPPED_HPA, 64K..128K is PENDING. */
#define TDT_MAPPED_HPA 0x20000000ULL
static int test_resolve(struct tdx_td *td, uint64_t gpa, uint64_t *hpa,
                        uint64_t *ext_rcx, uint64_t *ext_rdx)
{
    (void)td;
    if (gpa < 0x10000) {
        *hpa = TDT_MAPPED_HPA + gpa;
        return 0;
    }
    if (gpa < 0x20000) {
        return 2;
    }
    *ext_rcx = 1ULL << 63;      /* a FREE entry as the module reports it */
    *ext_rdx = 1;               /* level 1 */
    return 1;
}


/* Trace sink: what the embedder sees of a successful TDH.MR.FINALIZE. */
static uint8_t traced_mrtd[48];
static uint64_t traced_tdr;
static unsigned traced_mrtd_calls;

static void capture_mrtd_trace(void *opaque, const struct tdx_trace_event *ev)
{
    if (ev->mrtd) {
        memcpy(traced_mrtd, ev->mrtd, sizeof(traced_mrtd));
        traced_tdr = ev->tdr_pa;
        traced_mrtd_calls++;
    }
}

static void test_measure_and_finalize(void)
{
    struct tdxt_platform *p = boot();
    uint8_t data[256], rec[128], want[48], got[48];
    tdx_sha384_ctx ctx;
    struct tdx_regs r;
    struct tdt_td td;

    tdt_create(p, &td, 4);
    tdt_init(p, &td, 2);
    r = (struct tdx_regs){ .rcx = 0x1000, .rdx = td.tdr };
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_MR_EXTEND, &r),
                       TDX_EPT_ENTRY_NOT_PRESENT | TDX_OPERAND_ID_RCX,
                       "MR.EXTEND with nothing mapped");
    p->m->sept_resolve = (void *)test_resolve;
    r = (struct tdx_regs){ .rcx = 0x1080, .rdx = td.tdr };
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_MR_EXTEND, &r),
                       TDX_OPERAND_INVALID | TDX_OPERAND_ID_RCX, "MR.EXTEND misaligned");
    r = (struct tdx_regs){ .rcx = 1ULL << 47, .rdx = td.tdr };
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_MR_EXTEND, &r),
                       TDX_OPERAND_INVALID | TDX_OPERAND_ID_RCX, "MR.EXTEND shared GPA");
    r = (struct tdx_regs){ .rcx = 0x10000, .rdx = td.tdr };
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_MR_EXTEND, &r), TDX_EPT_ENTRY_NOT_PRESENT,
                       "MR.EXTEND on a PENDING page");
    r = (struct tdx_regs){ .rcx = 0x30000, .rdx = td.tdr };
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_MR_EXTEND, &r),
                       TDX_EPT_ENTRY_NOT_PRESENT | TDX_OPERAND_ID_RCX,
                       "MR.EXTEND walk fails");
    TDXT_EXPECT(r.rcx == 1ULL << 63 && r.rdx == 1, "walk info in RCX/RDX");

    for (unsigned i = 0; i < sizeof(data); i++) {
        data[i] = (uint8_t)(i * 7);
    }
    tdxt_mem_write(p, TDT_MAPPED_HPA + 0x1100, data, sizeof(data));
    /* PAGE.ADD's record (S-EPT family calls this), then MR.EXTEND. */
    tdx_mrtd_page_add(&tdt_obj(p, &td)->mr, 0x1000);
    r = (struct tdx_regs){ .rcx = 0x1100, .rdx = td.tdr };
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_MR_EXTEND, &r), TDX_SUCCESS, "MR.EXTEND");

    r = (struct tdx_regs){ .rcx = td.tdr };
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_MR_FINALIZE, &r), TDX_NO_VCPUS,
                       "FINALIZE without vCPUs");
    tdt_vcpu(p, &td, 0);
    r = (struct tdx_regs){ .rcx = td.tdr };
    p->m->ops.trace = capture_mrtd_trace;
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_MR_FINALIZE, &r), TDX_SUCCESS, "FINALIZE");
    TDXT_EXPECT(traced_mrtd_calls == 1 && traced_tdr == td.tdr,
                "FINALIZE trace: expected 1 event with the MRTD for TDR %#llx, got %u (TDR %#llx)",
                (unsigned long long)td.tdr, traced_mrtd_calls, (unsigned long long)traced_tdr);
    TDXT_EXPECT(atomic_load(&tdt_obj(p, &td)->op_state) == TDX_OP_RUNNABLE, "RUNNABLE");
    r = (struct tdx_regs){ .rcx = td.tdr };
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_MR_FINALIZE, &r), TDX_OP_STATE_INCORRECT,
                       "FINALIZE twice");
    r = (struct tdx_regs){ .rcx = 0x1100, .rdx = td.tdr };
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_MR_EXTEND, &r), TDX_OP_STATE_INCORRECT,
                       "MR.EXTEND after FINALIZE");

    /* Independent MRTD: the two 128-byte records and the data. */
    tdx_sha384_init(&ctx);
    memset(rec, 0, sizeof(rec));
    memcpy(rec, "MEM.PAGE.ADD", 12);
    rec[16] = 0x00; rec[17] = 0x10;
    tdx_sha384_update(&ctx, rec, sizeof(rec));
    memset(rec, 0, sizeof(rec));
    memcpy(rec, "MR.EXTEND", 9);
    rec[16] = 0x00; rec[17] = 0x11;
    tdx_sha384_update(&ctx, rec, sizeof(rec));
    tdx_sha384_update(&ctx, data, sizeof(data));
    tdx_sha384_final(&ctx, want);
    for (unsigned i = 0; i < 6; i++) {
        r = (struct tdx_regs){ .rcx = td.tdr, .rdx = KVM_FIELD(0x13, i) };
        TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_MNG_RD, &r), TDX_SUCCESS, "RD MRTD");
        memcpy(got + 8 * i, &r.r8, 8);
    }
    TDXT_EXPECT(memcmp(got, want, 48) == 0, "MRTD as computed independently");
    TDXT_EXPECT(memcmp(traced_mrtd, want, 48) == 0, "MRTD in the FINALIZE trace event");
    TDXT_EXPECT(traced_mrtd_calls == 1, "only the successful FINALIZE carries an MRTD, got %u",
                traced_mrtd_calls);
    TDXT_EXPECT_INVARIANTS(p, "after FINALIZE");
    tdxt_free(p);
}

static void test_teardown_order(void)
{
    struct tdxt_platform *p = boot();
    struct tdx_regs r;
    struct tdt_td td;

    tdt_create(p, &td, 5);
    tdt_init(p, &td, 4);
    tdt_vcpu(p, &td, 1);

    r = (struct tdx_regs){ .rcx = td.tdr };
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_MNG_KEY_FREEID, &r),
                       TDX_LIFECYCLE_STATE_INCORRECT, "FREEID before VPFLUSHDONE");
    r = (struct tdx_regs){ .rcx = 0 };
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_PHYMEM_CACHE_WB, &r),
                       TDX_NO_HKID_READY_TO_WBCACHE, "CACHE.WB with nothing flushed");
    r = (struct tdx_regs){ .rcx = 1 };
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_PHYMEM_CACHE_WB, &r), TDX_WBCACHE_RESUME_ERROR,
                       "CACHE.WB resume with nothing to resume");
    r = (struct tdx_regs){ .rcx = 2 };
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_PHYMEM_CACHE_WB, &r),
                       TDX_OPERAND_INVALID | TDX_OPERAND_ID_RCX, "CACHE.WB RCX=2");
    r = (struct tdx_regs){ .rcx = td.tdr };
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_MNG_VPFLUSHDONE, &r), TDX_FLUSHVP_NOT_DONE,
                       "VPFLUSHDONE with an associated vCPU");
    r = (struct tdx_regs){ .rcx = td.vp[0].tdvpr };
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_VP_FLUSH, &r), TDX_VCPU_NOT_ASSOCIATED,
                       "VP.FLUSH on the wrong LP");
    r = (struct tdx_regs){ .rcx = td.vp[0].tdvpr };
    TDXT_EXPECT_STATUS(tdt_call(p, 1, TDH_VP_FLUSH, &r), TDX_SUCCESS, "VP.FLUSH");
    r = (struct tdx_regs){ .rcx = td.vp[0].tdvpr };
    TDXT_EXPECT_STATUS(tdt_call(p, 1, TDH_VP_FLUSH, &r), TDX_VCPU_NOT_ASSOCIATED,
                       "VP.FLUSH twice (KVM tolerates this one)");
    r = (struct tdx_regs){ .rcx = td.tdr };
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_MNG_VPFLUSHDONE, &r), TDX_SUCCESS, "VPFLUSHDONE");
    r = (struct tdx_regs){ .rcx = td.tdr };
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_MNG_VPFLUSHDONE, &r),
                       TDX_LIFECYCLE_STATE_INCORRECT, "VPFLUSHDONE twice");
    r = (struct tdx_regs){ .rcx = td.tdr };
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_MNG_KEY_FREEID, &r), TDX_WBCACHE_NOT_COMPLETE,
                       "FREEID before any CACHE.WB");
    r = (struct tdx_regs){ .rcx = 0 };
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_PHYMEM_CACHE_WB, &r), TDX_SUCCESS,
                       "CACHE.WB pkg 0");
    r = (struct tdx_regs){ .rcx = td.tdr };
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_MNG_KEY_FREEID, &r), TDX_WBCACHE_NOT_COMPLETE,
                       "FREEID with package 1 pending");
    /* Reclaim is refused until TEARDOWN; outputs are filled anyway. */
    r = (struct tdx_regs){ .rcx = td.tdcx[1] };
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_PHYMEM_PAGE_RECLAIM, &r),
                       TDX_LIFECYCLE_STATE_INCORRECT, "RECLAIM before FREEID");
    TDXT_EXPECT(r.rcx == TDX_PT_TDCX && r.rdx == td.tdr && r.r8 == 0,
                "RECLAIM outputs type/owner/size on error");
    r = (struct tdx_regs){ .rcx = 0 };
    TDXT_EXPECT_STATUS(tdt_call(p, 3, TDH_PHYMEM_CACHE_WB, &r), TDX_SUCCESS,
                       "CACHE.WB pkg 1");
    r = (struct tdx_regs){ .rcx = td.tdr };
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_MNG_KEY_FREEID, &r), TDX_SUCCESS, "FREEID");
    TDXT_EXPECT(p->m->kot_state[5] == TDX_KOT_FREE, "HKID back in the pool");
    r = (struct tdx_regs){ .rcx = td.tdr };
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_PHYMEM_PAGE_RECLAIM, &r),
                       TDX_TD_ASSOCIATED_PAGES_EXIST, "RECLAIM TDR first");
    r = (struct tdx_regs){ .rcx = tdt_page() };
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_PHYMEM_PAGE_RECLAIM, &r),
                       TDX_PAGE_METADATA_INCORRECT | TDX_OPERAND_ID_RCX,
                       "RECLAIM a free page");
    /* RDMD of a TDCX page; WBINVD refuses module pages. */
    r = (struct tdx_regs){ .rcx = td.tdcx[0] };
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_PHYMEM_PAGE_RDMD, &r), TDX_SUCCESS, "RDMD");
    TDXT_EXPECT(r.rcx == TDX_PT_TDCX && r.rdx == td.tdr, "RDMD type/owner");
    r = (struct tdx_regs){ .rcx = td.tdcx[0] | (5ULL << tdx_keyid_shift(p->m)) };
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_PHYMEM_PAGE_WBINVD, &r),
                       TDX_PAGE_METADATA_INCORRECT | TDX_OPERAND_ID_RCX,
                       "WBINVD of a TDCX page");
    r = (struct tdx_regs){ .rcx = td.tdcx[0] + 4 };
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_PHYMEM_PAGE_RDMD, &r),
                       TDX_OPERAND_INVALID | TDX_OPERAND_ID_RCX, "RDMD misaligned");
    tdt_reclaim_all(p, &td);
    TDXT_EXPECT_INVARIANTS(p, "after teardown");
    tdxt_free(p);
}

/* Lifecycle as Linux 7.2 drives it, twice with the same HKID. */
static void test_lifecycle(void)
{
    struct tdxt_platform *p = boot();
    uint64_t first_page = tdt_next_page;

    for (int round = 0; round < 2; round++) {
        struct tdt_td td;
        struct tdx_regs r;

        tdt_create(p, &td, 6);
        tdt_init(p, &td, 4);
        tdt_vcpu(p, &td, 0);
        tdt_vcpu(p, &td, 1);
        /* tdx_vcpu_init → posted interrupts (VP.WR), as KVM does. */
        for (unsigned i = 0; i < td.nvcpus; i++) {
            unsigned lp = td.vp[i].lp;

            r = (struct tdx_regs){ .rcx = td.vp[i].tdvpr, .rdx = 0x0002,
                                   .r8 = 0xF2, .r9 = 0xFFFF };
            TDXT_EXPECT_STATUS(tdt_call(p, lp, TDH_VP_WR, &r), TDX_SUCCESS, "WR PI NV");
            r = (struct tdx_regs){ .rcx = td.vp[i].tdvpr, .rdx = 0x2016,
                                   .r8 = 0x3000 + 64 * i, .r9 = ~0ULL };
            TDXT_EXPECT_STATUS(tdt_call(p, lp, TDH_VP_WR, &r), TDX_SUCCESS, "WR PID");
            r = (struct tdx_regs){ .rcx = td.vp[i].tdvpr, .rdx = 0x4000,
                                   .r8 = 0x80, .r9 = 0x80 };
            TDXT_EXPECT_STATUS(tdt_call(p, lp, TDH_VP_WR, &r), TDX_SUCCESS,
                               "setbit PIN_BASED_POSTED_INTR");
        }
        p->m->sept_resolve = (void *)test_resolve;
        r = (struct tdx_regs){ .rcx = 0x2000, .rdx = td.tdr };
        TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_MR_EXTEND, &r), TDX_SUCCESS, "MR.EXTEND");
        r = (struct tdx_regs){ .rcx = td.tdr };
        TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_MR_FINALIZE, &r), TDX_SUCCESS, "FINALIZE");
        TDXT_EXPECT_INVARIANTS(p, "lifecycle: running TD");
        {
            struct tdx_module_info info;

            tdx_module_get_info(p->m, &info);
            TDXT_EXPECT(info.num_tds == 1 && info.hkids_assigned == 1 &&
                        info.hkids_flushed == 0,
                        "info with a running TD: expected 1 TD, 1 HKID assigned, got %llu, "
                        "%u assigned, %u flushed", (unsigned long long)info.num_tds,
                        info.hkids_assigned, info.hkids_flushed);
        }

        tdt_release_hkid(p, &td);
        tdt_reclaim_all(p, &td);
        TDXT_EXPECT_INVARIANTS(p, "lifecycle: after teardown");
        {
            struct tdx_module_info info;

            tdx_module_get_info(p->m, &info);
            TDXT_EXPECT(info.num_tds == 0 && info.hkids_assigned == 0 &&
                        info.hkids_flushed == 0 && info.hkids_free == p->m->desc.tdx_keyids,
                        "info after teardown: expected 0 TDs and all %u HKIDs free, got %llu "
                        "TDs, %u assigned, %u flushed, %u free", p->m->desc.tdx_keyids,
                        (unsigned long long)info.num_tds, info.hkids_assigned,
                        info.hkids_flushed, info.hkids_free);
        }
    }
    for (uint64_t pa = first_page; pa < tdt_next_page; pa += TDX_PAGE_SIZE) {
        struct tdx_pamt_entry *e = tdx_pamt_lookup(p->m, pa);

        TDXT_EXPECT(e->type == TDX_PT_NDA && e->owner == 0 && !e->obj,
                    "page %#llx back to PT_NDA", (unsigned long long)pa);
    }
    for (unsigned h = 0; h < TDX_MAX_HKIDS; h++) {
        TDXT_EXPECT(p->m->kot_state[h] == TDX_KOT_FREE, "HKID %u free", h);
    }
    tdxt_free(p);
}

int main(void)
{
    test_sysinfo_agrees();
    test_create();
    test_key_config_addcx();
    test_init();
    test_measure_and_finalize();
    test_teardown_order();
    test_lifecycle();
    return tdxt_done("test-mng");
}
