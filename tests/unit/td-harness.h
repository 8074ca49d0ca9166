/*
 * Helpers for tests of the TD leaves: build a TD and its vCPUs the way
 * Linux 7.2 does (arch/x86/kvm/vmx/tdx.c: __tdx_td_init, tdx_td_vcpu_init)
 * and tear it down the way tdx_mmu_release_hkid / tdx_vm_destroy do.
 * Header-only, on top of harness.h.
 */
#ifndef TDX_EMU_TD_HARNESS_H
#define TDX_EMU_TD_HARNESS_H

#include "harness.h"
#include "td.h"

#define TDT_POOL_BASE   0x10000000ULL   /* donated pages come from here */
#define TDT_PARAMS_PA   TDXT_SCRATCH    /* TD_PARAMS (1024-aligned) */
#define TDT_MAX_VCPUS   4

struct tdt_td {
    uint64_t tdr;
    uint64_t tdcx[TDX_TD_TDCS_PAGES];
    uint16_t hkid;
    unsigned nvcpus;
    struct {
        uint64_t tdvpr;
        uint64_t tdcx[TDX_TD_TDVPS_PAGES - 1];
        unsigned lp;
    } vp[TDT_MAX_VCPUS];
};

static uint64_t tdt_next_page = TDT_POOL_BASE;

static inline uint64_t tdt_page(void)
{
    uint64_t pa = tdt_next_page;

    tdt_next_page += TDX_PAGE_SIZE;
    return pa;
}

/* RAX with a version. */
#define TDT_LEAF(leaf, ver) ((uint64_t)(leaf) | ((uint64_t)(ver) << 16))

static inline uint64_t tdt_call(struct tdxt_platform *p, unsigned lp, uint64_t rax,
                                struct tdx_regs *r)
{
    r->rax = rax;
    return tdxt_seamcall(p->m, lp, r);
}

/* An LP of package `pkg`. */
static inline unsigned tdt_lp_of_pkg(struct tdxt_platform *p, unsigned pkg)
{
    for (unsigned lp = 0; lp < p->m->desc.num_lps; lp++) {
        if (p->m->desc.lp_pkg[lp] == pkg) {
            return lp;
        }
    }
    return 0;
}

/* A TD_PARAMS KVM would build: no attributes, x87|SSE, 4-level EPT. */
static inline void tdt_default_params(uint8_t p[TDX_TD_PARAMS_SIZE], uint16_t max_vcpus)
{
    uint64_t xfam = 0x3, eptp = 6 | (3 << 3);
    uint16_t tsc = 100;     /* 2.5 GHz in 25 MHz units */

    memset(p, 0, TDX_TD_PARAMS_SIZE);
    memcpy(p + TDP_XFAM, &xfam, 8);
    memcpy(p + TDP_MAX_VCPUS, &max_vcpus, 2);
    memcpy(p + TDP_EPTP_CONTROLS, &eptp, 8);
    memcpy(p + TDP_TSC_FREQUENCY, &tsc, 2);
}

static inline void tdt_write_params(struct tdxt_platform *p, const uint8_t *params)
{
    tdxt_mem_write(p, TDT_PARAMS_PA, params, TDX_TD_PARAMS_SIZE);
}

/* MNG.CREATE, KEY.CONFIG on every package, MNG.ADDCX for the whole TDCS. */
static inline void tdt_create(struct tdxt_platform *p, struct tdt_td *td, uint16_t hkid)
{
    struct tdx_regs r = { 0 };

    memset(td, 0, sizeof(*td));
    td->hkid = hkid;
    td->tdr = tdt_page();
    r.rcx = td->tdr;
    r.rdx = hkid;
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_MNG_CREATE, &r), TDX_SUCCESS, "MNG.CREATE");
    for (unsigned pkg = 0; pkg < p->m->desc.num_pkgs; pkg++) {
        memset(&r, 0, sizeof(r));
        r.rcx = td->tdr;
        TDXT_EXPECT_STATUS(tdt_call(p, tdt_lp_of_pkg(p, pkg), TDH_MNG_KEY_CONFIG, &r),
                           TDX_SUCCESS, "MNG.KEY.CONFIG");
    }
    for (unsigned i = 0; i < TDX_TD_TDCS_PAGES; i++) {
        memset(&r, 0, sizeof(r));
        td->tdcx[i] = tdt_page();
        r.rcx = td->tdcx[i];
        r.rdx = td->tdr;
        TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_MNG_ADDCX, &r), TDX_SUCCESS, "MNG.ADDCX");
    }
}

static inline void tdt_init(struct tdxt_platform *p, struct tdt_td *td, uint16_t max_vcpus)
{
    uint8_t params[TDX_TD_PARAMS_SIZE];
    struct tdx_regs r = { 0 };

    tdt_default_params(params, max_vcpus);
    tdt_write_params(p, params);
    r.rcx = td->tdr;
    r.rdx = TDT_PARAMS_PA;
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_MNG_INIT, &r), TDX_SUCCESS, "MNG.INIT");
}

/* VP.CREATE, VP.ADDCX for the whole TDVPS, VP.INIT v1 on `lp`. */
static inline void tdt_vcpu(struct tdxt_platform *p, struct tdt_td *td, unsigned lp)
{
    unsigned i = td->nvcpus++;
    struct tdx_regs r = { 0 };

    td->vp[i].lp = lp;
    td->vp[i].tdvpr = tdt_page();
    r.rcx = td->vp[i].tdvpr;
    r.rdx = td->tdr;
    TDXT_EXPECT_STATUS(tdt_call(p, lp, TDH_VP_CREATE, &r), TDX_SUCCESS, "VP.CREATE");
    for (unsigned k = 0; k < TDX_TD_TDVPS_PAGES - 1; k++) {
        memset(&r, 0, sizeof(r));
        td->vp[i].tdcx[k] = tdt_page();
        r.rcx = td->vp[i].tdcx[k];
        r.rdx = td->vp[i].tdvpr;
        TDXT_EXPECT_STATUS(tdt_call(p, lp, TDH_VP_ADDCX, &r), TDX_SUCCESS, "VP.ADDCX");
    }
    memset(&r, 0, sizeof(r));
    r.rcx = td->vp[i].tdvpr;
    r.rdx = 0x1000 * (i + 1);      /* initial guest RCX */
    r.r8 = i;                      /* x2APIC ID */
    TDXT_EXPECT_STATUS(tdt_call(p, lp, TDT_LEAF(TDH_VP_INIT, 1), &r), TDX_SUCCESS,
                       "VP.INIT");
}

/* tdx_mmu_release_hkid(): flush vCPUs, VPFLUSHDONE, CACHE.WB per package,
 * KEY.FREEID. */
static inline void tdt_release_hkid(struct tdxt_platform *p, struct tdt_td *td)
{
    struct tdx_regs r = { 0 };

    for (unsigned i = 0; i < td->nvcpus; i++) {
        memset(&r, 0, sizeof(r));
        r.rcx = td->vp[i].tdvpr;
        TDXT_EXPECT_STATUS(tdt_call(p, td->vp[i].lp, TDH_VP_FLUSH, &r), TDX_SUCCESS,
                           "VP.FLUSH");
    }
    memset(&r, 0, sizeof(r));
    r.rcx = td->tdr;
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_MNG_VPFLUSHDONE, &r), TDX_SUCCESS,
                       "MNG.VPFLUSHDONE");
    for (unsigned pkg = 0; pkg < p->m->desc.num_pkgs; pkg++) {
        memset(&r, 0, sizeof(r));
        TDXT_EXPECT_STATUS(tdt_call(p, tdt_lp_of_pkg(p, pkg), TDH_PHYMEM_CACHE_WB, &r),
                           TDX_SUCCESS, "PHYMEM.CACHE.WB");
    }
    memset(&r, 0, sizeof(r));
    r.rcx = td->tdr;
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_MNG_KEY_FREEID, &r), TDX_SUCCESS,
                       "MNG.KEY.FREEID");
}

static inline void tdt_reclaim(struct tdxt_platform *p, uint64_t pa, const char *what)
{
    struct tdx_regs r = { .rcx = pa };

    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_PHYMEM_PAGE_RECLAIM, &r), TDX_SUCCESS, what);
}

/* tdx_vcpu_free() for every vCPU, then tdx_reclaim_td_control_pages(). */
static inline void tdt_reclaim_all(struct tdxt_platform *p, struct tdt_td *td)
{
    struct tdx_regs r = { 0 };

    for (unsigned i = 0; i < td->nvcpus; i++) {
        for (unsigned k = 0; k < TDX_TD_TDVPS_PAGES - 1; k++) {
            tdt_reclaim(p, td->vp[i].tdcx[k], "RECLAIM vCPU TDCX");
        }
        tdt_reclaim(p, td->vp[i].tdvpr, "RECLAIM TDVPR");
    }
    for (unsigned i = 0; i < TDX_TD_TDCS_PAGES; i++) {
        tdt_reclaim(p, td->tdcx[i], "RECLAIM TDCS page");
    }
    tdt_reclaim(p, td->tdr, "RECLAIM TDR");
    /* KVM flushes the TDR's cache lines with the global KeyID. */
    r.rcx = td->tdr | ((uint64_t)p->m->global_hkid << tdx_keyid_shift(p->m));
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_PHYMEM_PAGE_WBINVD, &r), TDX_SUCCESS,
                       "PAGE.WBINVD of the TDR");
}

static inline struct tdx_td *tdt_obj(struct tdxt_platform *p, const struct tdt_td *td)
{
    struct tdx_pamt_entry *e = tdx_pamt_lookup(p->m, td->tdr);

    return e && e->type == TDX_PT_TDR ? e->obj : NULL;
}

static inline struct tdx_vcpu *tdt_vobj(struct tdxt_platform *p, uint64_t tdvpr)
{
    struct tdx_pamt_entry *e = tdx_pamt_lookup(p->m, tdvpr);

    return e && e->type == TDX_PT_TDVPR ? e->obj : NULL;
}

static inline unsigned tdt_page_type(struct tdxt_platform *p, uint64_t pa)
{
    return tdx_pamt_lookup(p->m, pa)->type;
}

#endif
