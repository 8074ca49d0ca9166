/*
 * A whole TD lifecycle driven the way Linux 7.2 drives it, including the
 * S-EPT steps (leaf-mem.c):
 *   sys init -> MNG.CREATE -> KEY.CONFIG per package -> MNG.ADDCX xN ->
 *   MNG.INIT -> VP.CREATE/ADDCX/INIT x2 -> SEPT.ADD (3 levels) ->
 *   PAGE.ADD -> MR.EXTEND x16 -> MR.FINALIZE -> PAGE.AUG (runtime) ->
 *   zap: RANGE.BLOCK, TRACK, PAGE.REMOVE, PAGE.WBINVD (both pages) ->
 *   VP.FLUSH x2 -> VPFLUSHDONE -> CACHE.WB per package -> KEY.FREEID ->
 *   RECLAIM of S-EPT pages, vCPU pages, TDCS pages, TDR; WBINVD(TDR)
 * ending with every page PT_NDA and the HKID back in the pool.
 */
#include "td-harness.h"

#define GPA_ADD   0x200000ULL       /* measured, PAGE.ADD */
#define GPA_AUG   0x201000ULL       /* runtime, PAGE.AUG */

static void sept_add(struct tdxt_platform *p, struct tdt_td *td, uint64_t gpa,
                     unsigned level, uint64_t page)
{
    struct tdx_regs r = { .rcx = gpa | level, .rdx = td->tdr, .r8 = page };

    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_MEM_SEPT_ADD, &r), TDX_SUCCESS, "SEPT.ADD");
}

int main(void)
{
    struct tdx_platform_desc d = tdxt_desc(4, 2);
    struct tdxt_platform *p = tdxt_new(&d);
    uint64_t first_page, sept[3], src = 0x300000, priv_add, priv_aug, mrtd[6];
    uint8_t buf[4096];
    struct tdx_regs r;
    struct tdt_td td;

    tdxt_boot(p);
    first_page = tdt_next_page;

    /* KVM_TDX_INIT_VM */
    tdt_create(p, &td, 3);
    tdt_init(p, &td, 2);
    /* KVM_CREATE_VCPU + KVM_TDX_INIT_VCPU, on two LPs */
    tdt_vcpu(p, &td, 0);
    tdt_vcpu(p, &td, 1);

    /* KVM_TDX_INIT_MEM_REGION: S-EPT path, PAGE.ADD, MR.EXTEND per 256 B. */
    for (int i = 0; i < 3; i++) {
        sept[i] = tdt_page();
        sept_add(p, &td, GPA_ADD & ~((1ULL << (12 + 9 * (3 - i))) - 1), 3 - i, sept[i]);
    }
    for (unsigned i = 0; i < sizeof(buf); i++) {
        buf[i] = (uint8_t)(i ^ 0x5A);
    }
    tdxt_mem_write(p, src, buf, sizeof(buf));
    priv_add = tdt_page();
    r = (struct tdx_regs){ .rcx = GPA_ADD, .rdx = td.tdr, .r8 = priv_add, .r9 = src };
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_MEM_PAGE_ADD, &r), TDX_SUCCESS, "PAGE.ADD");
    for (unsigned off = 0; off < 4096; off += 256) {
        r = (struct tdx_regs){ .rcx = GPA_ADD + off, .rdx = td.tdr };
        TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_MR_EXTEND, &r), TDX_SUCCESS, "MR.EXTEND");
    }
    /* KVM_TDX_FINALIZE_VM */
    r = (struct tdx_regs){ .rcx = td.tdr };
    TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_MR_FINALIZE, &r), TDX_SUCCESS, "MR.FINALIZE");

    /* MRTD = SHA-384 over the PAGE.ADD record, then 16 x (record + 256 B). */
    {
        uint8_t rec[128], want[48];
        tdx_sha384_ctx ctx;

        tdx_sha384_init(&ctx);
        memset(rec, 0, sizeof(rec));
        memcpy(rec, "MEM.PAGE.ADD", 12);
        memcpy(rec + 16, &(uint64_t){ GPA_ADD }, 8);
        tdx_sha384_update(&ctx, rec, sizeof(rec));
        for (unsigned off = 0; off < 4096; off += 256) {
            memset(rec, 0, sizeof(rec));
            memcpy(rec, "MR.EXTEND", 9);
            memcpy(rec + 16, &(uint64_t){ GPA_ADD + off }, 8);
            tdx_sha384_update(&ctx, rec, sizeof(rec));
            tdx_sha384_update(&ctx, buf + off, 256);
        }
        tdx_sha384_final(&ctx, want);
        for (unsigned i = 0; i < 6; i++) {
            r = (struct tdx_regs){ .rcx = td.tdr, .rdx = (0x13ULL << 56) | i };
            TDXT_EXPECT_STATUS(tdt_call(p, 1, TDH_MNG_RD, &r), TDX_SUCCESS, "RD MRTD");
            mrtd[i] = r.r8;
        }
        TDXT_EXPECT(memcmp(mrtd, want, 48) == 0, "MRTD of the built TD");
    }

    /* Runtime: a private page faulted in (EPT violation -> PAGE.AUG). */
    priv_aug = tdt_page();
    r = (struct tdx_regs){ .rcx = GPA_AUG, .rdx = td.tdr, .r8 = priv_aug };
    TDXT_EXPECT_STATUS(tdt_call(p, 1, TDH_MEM_PAGE_AUG, &r), TDX_SUCCESS, "PAGE.AUG");
    TDXT_EXPECT_INVARIANTS(p, "running TD");

    /* Zap both pages (tdx_sept_remove_private_spte): BLOCK, TRACK, REMOVE,
     * WBINVD with the TD's HKID. */
    {
        const uint64_t gpas[2] = { GPA_ADD, GPA_AUG }, pas[2] = { priv_add, priv_aug };

        for (int i = 0; i < 2; i++) {
            r = (struct tdx_regs){ .rcx = gpas[i], .rdx = td.tdr };
            TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_MEM_RANGE_BLOCK, &r), TDX_SUCCESS,
                               "RANGE.BLOCK");
            r = (struct tdx_regs){ .rcx = td.tdr };
            TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_MEM_TRACK, &r), TDX_SUCCESS, "TRACK");
            r = (struct tdx_regs){ .rcx = gpas[i], .rdx = td.tdr };
            TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_MEM_PAGE_REMOVE, &r), TDX_SUCCESS,
                               "PAGE.REMOVE");
            r = (struct tdx_regs){ .rcx = pas[i] | ((uint64_t)td.hkid << tdx_keyid_shift(p->m)) };
            TDXT_EXPECT_STATUS(tdt_call(p, 0, TDH_PHYMEM_PAGE_WBINVD, &r), TDX_SUCCESS,
                               "PAGE.WBINVD");
            TDXT_EXPECT(tdt_page_type(p, pas[i]) == TDX_PT_NDA, "removed page is free");
        }
    }

    /* VM teardown. */
    tdt_release_hkid(p, &td);
    /* S-EPT pages come back after the HKID is gone (leaf first). */
    for (int i = 2; i >= 0; i--) {
        tdt_reclaim(p, sept[i], "RECLAIM S-EPT page");
    }
    tdt_reclaim_all(p, &td);
    TDXT_EXPECT_INVARIANTS(p, "after teardown");

    for (uint64_t pa = first_page; pa < tdt_next_page; pa += TDX_PAGE_SIZE) {
        struct tdx_pamt_entry *e = tdx_pamt_lookup(p->m, pa);

        TDXT_EXPECT(e->type == TDX_PT_NDA && e->owner == 0 && !e->obj,
                    "page %#llx back to PT_NDA (type %u)", (unsigned long long)pa, e->type);
    }
    TDXT_EXPECT(p->m->kot_state[td.hkid] == TDX_KOT_FREE, "HKID released");
    tdxt_free(p);
    return tdxt_done("test-mng-lifecycle");
}
