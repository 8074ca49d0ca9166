/*
 * S-EPT host leaves: success paths, main errors with exact statuses and
 * extended error info, BLOCK -> TRACK -> REMOVE epoch rules, guest ACCEPT,
 * and every (leaf, lock) row of tdx_sept_lock_rows: hold the lock, get
 * exactly TDX_OPERAND_BUSY|operand with nothing changed, and for S-EPT
 * entry locks see a guest ACCEPT back off for host priority afterwards.
 */
#include "sept-harness.h"

#define GPA  0x80000000ULL          /* 2 GiB: an ordinary private GPA */
#define FREE_RCX TDX_SEPTE_SVE      /* architectural view of a FREE entry */

static void test_sept_add(void)
{
    struct st_env e;
    struct tdx_regs r;
    uint64_t page, scratch;

    st_setup(&e, 2, 1, false);
    /* Operand checks (RCX), each before any lock that could change. */
    TDXT_EXPECT_STATUS(st_leaf(&e, 0, TDH_MEM_SEPT_ADD, 0x8, 3, tdt_page(), NULL),
                       TDX_OPERAND_INVALID | TDX_OPERAND_ID_RCX, "reserved RCX bits");
    TDXT_EXPECT_STATUS(st_leaf(&e, 0, TDH_MEM_SEPT_ADD, GPA, 0, tdt_page(), NULL),
                       TDX_OPERAND_INVALID | TDX_OPERAND_ID_RCX, "level 0");
    TDXT_EXPECT_STATUS(st_leaf(&e, 0, TDH_MEM_SEPT_ADD, 0, 4, tdt_page(), NULL),
                       TDX_OPERAND_INVALID | TDX_OPERAND_ID_RCX, "level 4 on 4-level EPT");
    TDXT_EXPECT_STATUS(st_leaf(&e, 0, TDH_MEM_SEPT_ADD, GPA + 0x1000, 1, tdt_page(), NULL),
                       TDX_OPERAND_INVALID | TDX_OPERAND_ID_RCX, "GPA not 2M aligned");
    TDXT_EXPECT_STATUS(st_leaf(&e, 0, TDH_MEM_SEPT_ADD, 1ULL << 47, 1, tdt_page(), NULL),
                       TDX_OPERAND_INVALID | TDX_OPERAND_ID_RCX, "shared GPA");
    TDXT_EXPECT_STATUS(st_leaf(&e, 0, TDH_MEM_SEPT_ADD, 1ULL << 46, 1, tdt_page(), NULL),
                       TDX_OPERAND_INVALID | TDX_OPERAND_ID_RCX, "GPA above MAXPHYADDR");
    /* Walk stops at the FREE PML4 entry: info = free entry, level 3. */
    TDXT_EXPECT_STATUS(st_leaf(&e, 0, TDH_MEM_SEPT_ADD, GPA, 2, tdt_page(), &r),
                       TDX_EPT_WALK_FAILED | TDX_OPERAND_ID_RCX, "PDPT entry first");
    TDXT_EXPECT(r.rcx == FREE_RCX && r.rdx == 3, "walk failed info %#llx/%#llx",
                (unsigned long long)r.rcx, (unsigned long long)r.rdx);
    /* Page operand (R8) errors. */
    TDXT_EXPECT_STATUS(st_leaf(&e, 0, TDH_MEM_SEPT_ADD, 0, 3, 0, NULL),
                       TDX_OPERAND_INVALID | TDX_OPERAND_ID_R8, "v0 without a page");
    /* v0's null page is reported before any S-EPT state: here the walk
     * would fail (PML4 entry FREE) and the status is still about R8. */
    TDXT_EXPECT_STATUS(st_leaf(&e, 0, TDH_MEM_SEPT_ADD, GPA, 2, 0, NULL),
                       TDX_OPERAND_INVALID | TDX_OPERAND_ID_R8,
                       "v0 without a page where the walk fails");
    TDXT_EXPECT_STATUS(st_leaf(&e, 0, TDH_MEM_SEPT_ADD, 0, 3, tdt_page() + 8, NULL),
                       TDX_OPERAND_INVALID | TDX_OPERAND_ID_R8, "unaligned page");
    TDXT_EXPECT_STATUS(st_leaf(&e, 0, TDH_MEM_SEPT_ADD, 0, 3, e.td.tdcx[0], NULL),
                       TDX_PAGE_METADATA_INCORRECT | TDX_OPERAND_ID_R8, "TDCX as S-EPT page");
    /* Bad TDR (RDX). */
    {
        struct tdx_regs b = { .rcx = 3, .rdx = e.td.tdcx[0], .r8 = tdt_page() };

        TDXT_EXPECT_STATUS(tdt_call(e.p, 0, TDH_MEM_SEPT_ADD, &b),
                           TDX_PAGE_METADATA_INCORRECT | TDX_OPERAND_ID_RDX, "TDCX as TDR");
    }
    /* Success: page scrubbed, PT_EPT owned by the TD, CHLDCNT + 1. */
    page = tdt_page();
    scratch = 0x5A5A5A5A5A5A5A5AULL;
    tdxt_mem_write(e.p, page + 64, &scratch, 8);
    {
        uint64_t before = atomic_load(&e.obj->chldcnt);

        TDXT_EXPECT_STATUS(st_leaf(&e, 0, TDH_MEM_SEPT_ADD, 0, 3, page, &r), TDX_SUCCESS,
                           "SEPT.ADD level 3");
        TDXT_EXPECT(r.rcx == 0 && r.rdx == 0, "outputs zero on success");
        TDXT_EXPECT(atomic_load(&e.obj->chldcnt) == before + 1, "CHLDCNT + 1");
    }
    tdxt_mem_read(e.p, page + 64, &scratch, 8);
    TDXT_EXPECT(scratch == 0, "donated S-EPT page not scrubbed");
    TDXT_EXPECT(tdt_page_type(e.p, page) == TDX_PT_EPT &&
                tdx_pamt_lookup(e.p->m, page)->owner == e.td.tdr, "PAMT of S-EPT page");
    TDXT_EXPECT(st_state(&e, 0, 3) == TDX_SEPT_NL_MAPPED, "entry NL_MAPPED");
    /* Again: the entry is not FREE; info shows NL_MAPPED (0x84), RWX only. */
    TDXT_EXPECT_STATUS(st_leaf(&e, 0, TDH_MEM_SEPT_ADD, 0, 3, tdt_page(), &r),
                       TDX_EPT_ENTRY_STATE_INCORRECT | TDX_OPERAND_ID_RCX, "SEPT.ADD twice");
    TDXT_EXPECT(r.rcx == TDX_ACCESS_RWX && r.rdx == (3 | (0x84 << 8)),
                "state info %#llx/%#llx", (unsigned long long)r.rcx,
                (unsigned long long)r.rdx);
    /* Version 1 with "allow existing": success, page handed back. */
    {
        struct tdx_regs v = { .rcx = 3, .rdx = e.td.tdr | 1, .r8 = tdt_page() };
        uint64_t pg = v.r8;

        TDXT_EXPECT_STATUS(tdt_call(e.p, 0, TDT_LEAF(TDH_MEM_SEPT_ADD, 1), &v),
                           TDX_SUCCESS, "v1 allow existing");
        TDXT_EXPECT(v.r8 == (pg | (1ULL << 63)), "v1: unused page echoed with bit 63");
        v.rcx = 3;
        v.rdx = e.td.tdr | 2;
        v.r8 = pg;
        TDXT_EXPECT_STATUS(tdt_call(e.p, 0, TDT_LEAF(TDH_MEM_SEPT_ADD, 1), &v),
                           TDX_OPERAND_INVALID | TDX_OPERAND_ID_RDX, "v1 reserved RDX");
    }
    st_map_pt(&e, GPA);
    TDXT_EXPECT(st_state(&e, GPA, 1) == TDX_SEPT_NL_MAPPED, "PT in place");
    st_expect_invariants(&e, "after SEPT.ADD");
    st_teardown(&e);
}

static void test_page_add(void)
{
    uint8_t src[64], dst[64];
    struct st_env e;
    struct tdx_regs r;
    uint64_t target = 0, before;
    uint8_t mr_before[sizeof(tdx_sha384_ctx)];

    st_setup(&e, 2, 1, false);
    memset(src, 0xC3, sizeof(src));
    tdxt_mem_write(e.p, ST_SOURCE, src, sizeof(src));
#define PAGE_ADD(gpa_, lvl_, tgt_, src_) ({                                  \
        r = (struct tdx_regs){ .rcx = (gpa_) | (lvl_), .rdx = e.td.tdr,      \
                               .r8 = (tgt_), .r9 = (src_) };                 \
        tdt_call(e.p, 0, TDH_MEM_PAGE_ADD, &r); })

    TDXT_EXPECT_STATUS(PAGE_ADD(GPA, 0, tdt_page(), ST_SOURCE),
                       TDX_EPT_WALK_FAILED | TDX_OPERAND_ID_RCX, "no page table yet");
    TDXT_EXPECT(r.rcx == FREE_RCX && r.rdx == 3, "walk info");
    st_map_pt(&e, GPA);
    TDXT_EXPECT_STATUS(PAGE_ADD(GPA, 1, tdt_page(), ST_SOURCE),
                       TDX_OPERAND_INVALID | TDX_OPERAND_ID_RCX, "2M PAGE.ADD");
    TDXT_EXPECT_STATUS(PAGE_ADD(GPA, 0, tdt_page(), ST_SOURCE | (1ULL << 45)),
                       TDX_OPERAND_INVALID | TDX_OPERAND_ID_R9, "private KeyID source");
    TDXT_EXPECT_STATUS(PAGE_ADD(GPA, 0, tdt_page(), ST_SOURCE + 4),
                       TDX_OPERAND_INVALID | TDX_OPERAND_ID_R9, "unaligned source");
    TDXT_EXPECT_STATUS(PAGE_ADD(GPA, 0, e.td.tdcx[0], ST_SOURCE),
                       TDX_PAGE_METADATA_INCORRECT | TDX_OPERAND_ID_R8, "TDCX as target");
    before = atomic_load(&e.obj->chldcnt);
    memcpy(mr_before, &e.obj->mr.ctx, sizeof(mr_before));
    target = tdt_page();
    TDXT_EXPECT_STATUS(PAGE_ADD(GPA, 0, target, ST_SOURCE), TDX_SUCCESS, "PAGE.ADD");
    tdxt_mem_read(e.p, target, dst, sizeof(dst));
    TDXT_EXPECT(memcmp(src, dst, sizeof(src)) == 0, "contents copied");
    TDXT_EXPECT(st_state(&e, GPA, 0) == TDX_SEPT_MAPPED, "entry MAPPED");
    TDXT_EXPECT((st_entry(&e, GPA, 0) & TDX_SEPTE_HPA_MASK) == target, "entry HPA");
    TDXT_EXPECT(tdt_page_type(e.p, target) == TDX_PT_REG, "PT_REG");
    TDXT_EXPECT(atomic_load(&e.obj->chldcnt) == before + 1, "CHLDCNT + 1");
    TDXT_EXPECT(memcmp(mr_before, &e.obj->mr.ctx, sizeof(mr_before)) != 0,
                "MRTD extended with the PAGE.ADD record");
    TDXT_EXPECT_STATUS(PAGE_ADD(GPA, 0, tdt_page(), ST_SOURCE),
                       TDX_EPT_ENTRY_STATE_INCORRECT | TDX_OPERAND_ID_RCX, "PAGE.ADD twice");
    TDXT_EXPECT(r.rdx == (0 | (TDX_SEPT_PUBLIC_MAPPED << 8)) &&
                (r.rcx & TDX_SEPTE_HPA_MASK) == target &&
                (r.rcx & TDX_ACCESS_RWX) == TDX_ACCESS_RWX, "MAPPED info");
    /* MR.EXTEND reaches the page through the S-EPT hook. */
    {
        struct tdx_regs x = { .rcx = GPA, .rdx = e.td.tdr };

        TDXT_EXPECT_STATUS(tdt_call(e.p, 0, TDH_MR_EXTEND, &x), TDX_SUCCESS, "MR.EXTEND");
    }
    /* Before MR.FINALIZE a MAPPED page can be removed without BLOCK/TRACK. */
    TDXT_EXPECT_STATUS(st_leaf(&e, 0, TDH_MEM_PAGE_REMOVE, GPA, 0, 0, &r), TDX_SUCCESS,
                       "REMOVE while INITIALIZED");
    TDXT_EXPECT(r.rcx == target && r.rdx == 0, "REMOVE returns the HPA");
    TDXT_EXPECT(tdt_page_type(e.p, target) == TDX_PT_NDA, "page back to NDA");
    target = tdt_page();
    TDXT_EXPECT_STATUS(PAGE_ADD(GPA, 0, target, ST_SOURCE), TDX_SUCCESS, "PAGE.ADD again");
    r = (struct tdx_regs){ .rcx = e.td.tdr };
    TDXT_EXPECT_STATUS(tdt_call(e.p, 0, TDH_MR_FINALIZE, &r), TDX_SUCCESS, "finalize");
    TDXT_EXPECT_STATUS(PAGE_ADD(GPA + 0x1000, 0, tdt_page(), ST_SOURCE),
                       TDX_OP_STATE_INCORRECT, "PAGE.ADD when RUNNABLE");
#undef PAGE_ADD
    st_expect_invariants(&e, "after PAGE.ADD");
    st_teardown(&e);
}

static void test_aug_accept(void)
{
    struct tdx_accept_result res;
    struct st_env e;
    struct tdx_regs r;
    uint64_t page, junk = ~0ULL;

    st_setup(&e, 2, 1, true);
    TDXT_EXPECT_STATUS(st_leaf(&e, 0, TDH_MEM_PAGE_AUG, GPA, 0, tdt_page(), &r),
                       TDX_EPT_WALK_FAILED | TDX_OPERAND_ID_RCX, "AUG without tables");
    TDXT_EXPECT(r.rcx == FREE_RCX && r.rdx == 3, "AUG walk info");
    TDXT_EXPECT_STATUS(st_leaf(&e, 0, TDH_MEM_PAGE_AUG, GPA, 2, tdt_page(), NULL),
                       TDX_OPERAND_INVALID | TDX_OPERAND_ID_RCX, "AUG 1G");
    st_map_pt(&e, GPA);
    /* Guest: no page there yet -> the vCPU exits to the host. */
    TDXT_EXPECT_STATUS(st_accept(&e, 0, GPA, 0, &res), TDX_SUCCESS, "ACCEPT of FREE");
    TDXT_EXPECT(res.exit_to_host && res.reached_level == 0, "ACCEPT of FREE exits");
    page = tdt_page();
    tdxt_mem_write(e.p, page, &junk, 8);
    TDXT_EXPECT_STATUS(st_leaf(&e, 0, TDH_MEM_PAGE_AUG, GPA, 0, page, &r), TDX_SUCCESS,
                       "AUG");
    TDXT_EXPECT(st_state(&e, GPA, 0) == TDX_SEPT_PENDING, "PENDING");
    TDXT_EXPECT(tdx_sept_classify_fault(e.obj, GPA) == TDX_FAULT_VE,
                "access to PENDING is a #VE");
    TDXT_EXPECT(tdx_sept_classify_fault(e.obj, GPA + 0x1000) == TDX_FAULT_EXIT,
                "access to FREE exits");
    TDXT_EXPECT_STATUS(st_leaf(&e, 0, TDH_MEM_PAGE_AUG, GPA, 0, tdt_page(), &r),
                       TDX_EPT_ENTRY_STATE_INCORRECT | TDX_OPERAND_ID_RCX, "AUG twice");
    TDXT_EXPECT(r.rdx == (TDX_SEPT_PUBLIC_PENDING << 8) &&
                (r.rcx & TDX_SEPTE_HPA_MASK) == page && !(r.rcx & TDX_ACCESS_RWX),
                "PENDING info %#llx/%#llx", (unsigned long long)r.rcx,
                (unsigned long long)r.rdx);
    TDXT_EXPECT_STATUS(st_leaf(&e, 0, TDH_MEM_PAGE_AUG, GPA + 0x1000, 0, page, NULL),
                       TDX_PAGE_METADATA_INCORRECT | TDX_OPERAND_ID_R8, "AUG same page twice");
    TDXT_EXPECT_STATUS(st_accept(&e, 0, GPA, 1, &res), TDX_PAGE_SIZE_MISMATCH | 1,
                       "2M ACCEPT over a page table");
    TDXT_EXPECT_STATUS(st_accept(&e, 0, GPA | (1ULL << 47), 0, &res),
                       TDX_OPERAND_INVALID | TDX_OPERAND_ID_RCX, "ACCEPT of a shared GPA");
    TDXT_EXPECT_STATUS(st_accept(&e, 0, GPA, 0, &res), TDX_SUCCESS, "ACCEPT");
    TDXT_EXPECT(!res.exit_to_host && st_state(&e, GPA, 0) == TDX_SEPT_MAPPED, "MAPPED");
    tdxt_mem_read(e.p, page, &junk, 8);
    TDXT_EXPECT(junk == 0, "accepted page zeroed");
    TDXT_EXPECT_STATUS(st_accept(&e, 0, GPA, 0, &res), TDX_PAGE_ALREADY_ACCEPTED | 0,
                       "ACCEPT twice");
    {
        uint64_t hpa;
        int lvl;

        TDXT_EXPECT(tdx_sept_translate(e.obj, GPA + 0x123, TDX_ACCESS_RWX, &hpa, &lvl,
                                       NULL, NULL) == TDX_XLATE_OK &&
                    hpa == page + 0x123 && lvl == 0, "translate");
    }
    st_expect_invariants(&e, "after AUG/ACCEPT");
    /* The checker notices a PAMT that disagrees with the S-EPT. */
    {
        struct tdx_pamt_entry *pe = tdx_pamt_lookup(e.p->m, page);
        char err[256];

        pe->type = TDX_PT_NDA;
        pe->owner = 0;
        TDXT_EXPECT(!tdx_sept_check_invariants(e.p->m, err, sizeof(err)),
                    "checker missed a mapped page that the PAMT calls free");
        pe->type = TDX_PT_REG;
        pe->owner = e.td.tdr;
        atomic_fetch_add(&e.obj->epoch_refcount[0], 1);
        TDXT_EXPECT(!tdx_sept_check_invariants(e.p->m, err, sizeof(err)),
                    "checker missed a refcount without a vCPU in the TD");
        atomic_fetch_sub(&e.obj->epoch_refcount[0], 1);
    }
    st_teardown(&e);
}

static void test_block_track_remove(void)
{
    struct st_env e;
    struct tdx_regs r;
    uint64_t page, pt, epoch;

    st_setup(&e, 2, 1, true);
    page = st_mapped_page(&e, GPA);
    TDXT_EXPECT_STATUS(st_leaf(&e, 0, TDH_MEM_RANGE_BLOCK, GPA + 0x1000, 0, 0, &r),
                       TDX_EPT_ENTRY_STATE_INCORRECT | TDX_OPERAND_ID_RCX, "BLOCK of FREE");
    TDXT_EXPECT(r.rcx == FREE_RCX && r.rdx == 0, "FREE info");
    /* RUNNABLE: REMOVE needs BLOCK first. */
    TDXT_EXPECT_STATUS(st_leaf(&e, 0, TDH_MEM_PAGE_REMOVE, GPA, 0, 0, &r),
                       TDX_GPA_RANGE_NOT_BLOCKED | TDX_OPERAND_ID_RCX, "REMOVE unblocked");
    TDXT_EXPECT(r.rdx == (TDX_SEPT_PUBLIC_MAPPED << 8), "NOT_BLOCKED info");
    epoch = atomic_load(&e.obj->td_epoch);
    TDXT_EXPECT_STATUS(st_leaf(&e, 0, TDH_MEM_RANGE_BLOCK, GPA, 0, 0, NULL), TDX_SUCCESS,
                       "BLOCK");
    TDXT_EXPECT(st_state(&e, GPA, 0) == TDX_SEPT_BLOCKED, "BLOCKED");
    TDXT_EXPECT(atomic_load(&tdx_pamt_lookup(e.p->m, page)->bepoch) == epoch,
                "BLOCK records the TD epoch");
    TDXT_EXPECT_STATUS(st_leaf(&e, 0, TDH_MEM_RANGE_BLOCK, GPA, 0, 0, &r),
                       TDX_GPA_RANGE_ALREADY_BLOCKED | TDX_OPERAND_ID_RCX, "BLOCK twice");
    TDXT_EXPECT(r.rdx == (TDX_SEPT_PUBLIC_BLOCKED << 8), "ALREADY_BLOCKED info");
    /* Blocked but not tracked. */
    TDXT_EXPECT_STATUS(st_leaf(&e, 0, TDH_MEM_PAGE_REMOVE, GPA, 0, 0, &r),
                       TDX_TLB_TRACKING_NOT_DONE | TDX_OPERAND_ID_RCX, "REMOVE before TRACK");
    TDXT_EXPECT(r.rcx == 0 && r.rdx == 0, "no info with TLB_TRACKING_NOT_DONE");
    TDXT_EXPECT_STATUS(st_leaf(&e, 0, TDH_MEM_RANGE_UNBLOCK, GPA, 0, 0, NULL),
                       TDX_TLB_TRACKING_NOT_DONE | TDX_OPERAND_ID_SEPT, "UNBLOCK before TRACK");
    TDXT_EXPECT_STATUS(st_track(&e, 0), TDX_SUCCESS, "TRACK");
    TDXT_EXPECT(atomic_load(&e.obj->td_epoch) == epoch + 1, "TRACK increments the epoch");
    /* UNBLOCK (tracked) restores MAPPED; block and track again. */
    TDXT_EXPECT_STATUS(st_leaf(&e, 0, TDH_MEM_RANGE_UNBLOCK, GPA, 0, 0, NULL), TDX_SUCCESS,
                       "UNBLOCK");
    TDXT_EXPECT(st_state(&e, GPA, 0) == TDX_SEPT_MAPPED &&
                tdx_septe_present(st_entry(&e, GPA, 0)), "MAPPED again");
    TDXT_EXPECT_STATUS(st_leaf(&e, 0, TDH_MEM_RANGE_UNBLOCK, GPA, 0, 0, NULL),
                       TDX_EPT_ENTRY_STATE_INCORRECT | TDX_OPERAND_ID_RCX, "UNBLOCK of MAPPED");
    TDXT_EXPECT_STATUS(st_leaf(&e, 0, TDH_MEM_RANGE_BLOCK, GPA, 0, 0, NULL), TDX_SUCCESS,
                       "BLOCK again");
    TDXT_EXPECT_STATUS(st_track(&e, 0), TDX_SUCCESS, "TRACK again");
    TDXT_EXPECT_STATUS(st_leaf(&e, 0, TDH_MEM_PAGE_REMOVE, GPA, 0, 0, &r), TDX_SUCCESS,
                       "REMOVE");
    TDXT_EXPECT(r.rcx == page && r.rdx == 0, "REMOVE output");
    TDXT_EXPECT(st_state(&e, GPA, 0) == TDX_SEPT_FREE, "FREE after REMOVE");
    TDXT_EXPECT(tdt_page_type(e.p, page) == TDX_PT_NDA, "NDA after REMOVE");
    TDXT_EXPECT_STATUS(st_leaf(&e, 0, TDH_MEM_PAGE_REMOVE, GPA, 0, 0, NULL),
                       TDX_EPT_ENTRY_STATE_INCORRECT | TDX_OPERAND_ID_RCX, "REMOVE of FREE");
    /* PENDING pages block to PENDING_BLOCKED and remove the same way. */
    TDXT_EXPECT_STATUS(st_leaf(&e, 0, TDH_MEM_PAGE_AUG, GPA, 0, page, NULL), TDX_SUCCESS,
                       "AUG the page back");
    TDXT_EXPECT_STATUS(st_leaf(&e, 0, TDH_MEM_RANGE_BLOCK, GPA, 0, 0, NULL), TDX_SUCCESS,
                       "BLOCK PENDING");
    TDXT_EXPECT(st_state(&e, GPA, 0) == TDX_SEPT_PENDING_BLOCKED, "PENDING_BLOCKED");
    TDXT_EXPECT_STATUS(st_track(&e, 0), TDX_SUCCESS, "TRACK");
    /* SEPT.REMOVE of the page table: must be blocked, tracked, empty. */
    pt = st_entry(&e, GPA, 1) & TDX_SEPTE_HPA_MASK;
    TDXT_EXPECT_STATUS(st_leaf(&e, 0, TDH_MEM_SEPT_REMOVE, GPA, 1, 0, NULL),
                       TDX_GPA_RANGE_NOT_BLOCKED | TDX_OPERAND_ID_RCX, "SEPT.REMOVE unblocked");
    TDXT_EXPECT_STATUS(st_leaf(&e, 0, TDH_MEM_RANGE_BLOCK, GPA, 1, 0, NULL), TDX_SUCCESS,
                       "BLOCK the PT");
    TDXT_EXPECT(st_state(&e, GPA, 1) == TDX_SEPT_NL_BLOCKED, "NL_BLOCKED");
    TDXT_EXPECT_STATUS(st_leaf(&e, 0, TDH_MEM_SEPT_REMOVE, GPA, 1, 0, NULL),
                       TDX_TLB_TRACKING_NOT_DONE | TDX_OPERAND_ID_RCX, "SEPT.REMOVE untracked");
    TDXT_EXPECT_STATUS(st_track(&e, 0), TDX_SUCCESS, "TRACK");
    TDXT_EXPECT_STATUS(st_leaf(&e, 0, TDH_MEM_SEPT_REMOVE, GPA, 1, 0, &r),
                       TDX_EPT_PAGE_NOT_FREE | TDX_OPERAND_ID_RCX, "SEPT.REMOVE non-empty");
    TDXT_EXPECT(r.rdx == (1 | (TDX_SEPT_PUBLIC_NL_BLOCKED << 8)), "NOT_FREE info");
    /* The page below is unreachable now (walk stops at NL_BLOCKED). */
    TDXT_EXPECT_STATUS(st_leaf(&e, 0, TDH_MEM_PAGE_REMOVE, GPA, 0, 0, &r),
                       TDX_EPT_WALK_FAILED | TDX_OPERAND_ID_RCX, "REMOVE under NL_BLOCKED");
    TDXT_EXPECT(r.rdx == (1 | (TDX_SEPT_PUBLIC_NL_BLOCKED << 8)), "walk info level 1");
    TDXT_EXPECT_STATUS(st_leaf(&e, 0, TDH_MEM_RANGE_UNBLOCK, GPA, 1, 0, NULL), TDX_SUCCESS,
                       "UNBLOCK the PT");
    TDXT_EXPECT_STATUS(st_leaf(&e, 0, TDH_MEM_PAGE_REMOVE, GPA, 0, 0, NULL), TDX_SUCCESS,
                       "REMOVE the PENDING_BLOCKED page");
    TDXT_EXPECT_STATUS(st_leaf(&e, 0, TDH_MEM_RANGE_BLOCK, GPA, 1, 0, NULL), TDX_SUCCESS,
                       "BLOCK the empty PT");
    TDXT_EXPECT_STATUS(st_track(&e, 0), TDX_SUCCESS, "TRACK");
    TDXT_EXPECT_STATUS(st_leaf(&e, 0, TDH_MEM_SEPT_REMOVE, GPA, 1, 0, &r), TDX_SUCCESS,
                       "SEPT.REMOVE");
    TDXT_EXPECT(r.rcx == pt, "SEPT.REMOVE returns the table page");
    TDXT_EXPECT(tdt_page_type(e.p, pt) == TDX_PT_NDA && st_state(&e, GPA, 1) == TDX_SEPT_FREE,
                "table gone");
    /* And a new table can take its place (recycled core table). */
    TDXT_EXPECT_STATUS(st_leaf(&e, 0, TDH_MEM_SEPT_ADD, GPA, 1, pt, NULL), TDX_SUCCESS,
                       "SEPT.ADD again");
    TDXT_EXPECT(st_entry(&e, GPA, 0) == TDX_SEPTE_FREE_VALUE, "recycled table is empty");
    st_expect_invariants(&e, "after BLOCK/TRACK/REMOVE");
    st_teardown(&e);
}

/* ---- Lock rows ---------------------------------------------------------- */

struct row_case {
    uint64_t rax, gpa, tdr, page;
    int level;
    uint64_t rcx_override;      /* TRACK: RCX = TDR */
    uint64_t named_key[TDX_LOBJ_PAGE_IMPLICIT + 1];
    uint64_t snap_pages[4];
    int accept_level;           /* level of the entry for the HP check */
};

/* Put the TD in the state where the row's leaf would succeed. */
static void row_setup(struct st_env *e, unsigned leaf, struct row_case *rc)
{
    bool runnable = leaf != TDH_MEM_PAGE_ADD;
    uint64_t gpa = GPA, page;

    st_setup(e, 3, 1, false);
    memset(rc, 0, sizeof(*rc));
    rc->gpa = gpa;
    rc->rax = leaf;
    rc->tdr = e->td.tdr;
    rc->named_key[TDX_LOBJ_TDR] = e->td.tdr;
    if (leaf != TDH_MEM_TRACK) {
        st_map_pt(e, gpa);
    }
    if (runnable) {
        struct tdx_regs r = { .rcx = e->td.tdr };

        TDXT_EXPECT_STATUS(tdt_call(e->p, 0, TDH_MR_FINALIZE, &r), TDX_SUCCESS, "finalize");
    }
    switch (leaf) {
    case TDH_MEM_PAGE_ADD:
        rc->page = tdt_page();
        break;
    case TDH_MEM_SEPT_ADD:
        /* A second PT, at the next 2M: its PD entry is the one locked. */
        rc->gpa = gpa + (2ULL << 20);
        rc->level = 1;
        rc->page = tdt_page();
        rc->accept_level = 1;
        break;
    case TDH_MEM_PAGE_AUG:
        rc->page = tdt_page();
        break;
    case TDH_MEM_RANGE_BLOCK:
        page = st_mapped_page(e, gpa);
        rc->snap_pages[1] = page;
        break;
    case TDH_MEM_RANGE_UNBLOCK:
    case TDH_MEM_PAGE_REMOVE:
        page = st_mapped_page(e, gpa);
        st_leaf(e, 0, TDH_MEM_RANGE_BLOCK, gpa, 0, 0, NULL);
        st_track(e, 0);
        rc->named_key[TDX_LOBJ_PAGE_IMPLICIT] = page;
        rc->snap_pages[1] = page;
        break;
    case TDH_MEM_SEPT_REMOVE:
        rc->level = 1;
        rc->accept_level = 1;
        rc->named_key[TDX_LOBJ_PAGE_IMPLICIT] = st_entry(e, gpa, 1) & TDX_SEPTE_HPA_MASK;
        rc->snap_pages[1] = rc->named_key[TDX_LOBJ_PAGE_IMPLICIT];
        st_leaf(e, 0, TDH_MEM_RANGE_BLOCK, gpa, 1, 0, NULL);
        st_track(e, 0);
        break;
    case TDH_MEM_TRACK:
        rc->rcx_override = e->td.tdr;
        break;
    }
    rc->named_key[TDX_LOBJ_PAGE] = rc->page;
    rc->snap_pages[0] = rc->page;
    rc->snap_pages[2] = e->td.tdr;
}

static uint64_t row_call(struct st_env *e, const struct row_case *rc, unsigned lp)
{
    struct tdx_regs r = {
        .rcx = rc->rcx_override ? rc->rcx_override : rc->gpa | (uint64_t)rc->level,
        .rdx = rc->tdr, .r8 = rc->page, .r9 = ST_SOURCE,
    };

    return tdt_call(e->p, lp, rc->rax, &r);
}

static int hold_for(struct st_env *e, const struct tdx_lock_row *row,
                    const struct row_case *rc)
{
    enum tdx_named_lock what;
    uint64_t key = e->td.tdr, gpa = 0;
    char err[128];
    int id;

    switch (row->obj) {
    case TDX_LOBJ_TDR:            what = TDX_NAMED_TDR; break;
    case TDX_LOBJ_OP_STATE:       what = TDX_NAMED_TDCS_OP_STATE; break;
    case TDX_LOBJ_SEPT_TREE:      what = TDX_NAMED_SEPT_TREE; break;
    case TDX_LOBJ_TD_EPOCH:       what = TDX_NAMED_TD_EPOCH; break;
    case TDX_LOBJ_SEPT_ENTRY:     what = TDX_NAMED_SEPT_ENTRY; gpa = rc->gpa; break;
    case TDX_LOBJ_PAGE:
    case TDX_LOBJ_PAGE_IMPLICIT:  what = TDX_NAMED_PAMT; key = rc->named_key[row->obj]; break;
    default:
        TDXT_EXPECT(0, "row object %d not testable here", (int)row->obj);
        return -1;
    }
    /* The opposite of what the leaf needs: exclusive conflicts with both. */
    id = tdx_inject_hold_lock(e->p->m, what, key, gpa, TDX_LOCK_EXCLUSIVE, 0,
                              err, sizeof(err));
    TDXT_EXPECT(id >= 0, "hold for leaf %u row %u: %s", row->leaf, row->order, err);
    return id;
}

static void test_lock_rows(void)
{
    unsigned tested = 0;

    for (unsigned i = 0; i < tdx_sept_lock_table_count; i++) {
        const struct tdx_lock_row *row = &tdx_sept_lock_rows[i];
        struct st_snap before, after;
        struct row_case rc;
        struct st_env e;
        char what[96];
        int id;

        if (row->leaf == TDH_VP_ENTER) {
            continue;   /* test-vp-enter */
        }
        snprintf(what, sizeof(what), "%s lock #%u (operand %#x)",
                 tdx_host_leaf_name(row->leaf), row->order, row->operand);
        tested++;
        row_setup(&e, row->leaf, &rc);
        st_snap(&e, rc.gpa, rc.snap_pages, &before);
        id = hold_for(&e, row, &rc);
        TDXT_EXPECT_STATUS(row_call(&e, &rc, 1), TDX_OPERAND_BUSY | row->operand, what);
        st_snap(&e, rc.gpa, rc.snap_pages, &after);
        ST_EXPECT_SAME(before, after, what);
        tdx_inject_release_hold(e.p->m, id);
        if (row->obj == TDX_LOBJ_SEPT_ENTRY) {
            /* The host failed on the entry: a guest now backs off, until
             * the host gets the entry once. */
            TDXT_EXPECT_STATUS(st_accept(&e, 2, rc.gpa, rc.accept_level, NULL),
                               TDX_OPERAND_BUSY_HOST_PRIORITY | TDX_OPERAND_ID_RCX, what);
            TDXT_EXPECT_STATUS(row_call(&e, &rc, 1), TDX_SUCCESS,
                               "host retry after the hold");
            TDXT_EXPECT(st_accept(&e, 2, rc.gpa, rc.accept_level, NULL) !=
                        (TDX_OPERAND_BUSY_HOST_PRIORITY | TDX_OPERAND_ID_RCX),
                        "%s: host priority cleared by the host's success", what);
        } else {
            TDXT_EXPECT_STATUS(row_call(&e, &rc, 1), TDX_SUCCESS, "retry after release");
        }
        st_expect_invariants(&e, what);
        st_teardown(&e);
    }
    TDXT_EXPECT(tested == 33, "%u host-leaf lock rows tested, expected 33", tested);
}

/* A guest holding the entry (ACCEPT in progress) makes host leaves BUSY|RCX
 * and raises host priority. Simulated with the entry lock taken the way
 * the guest takes it. */
static void test_guest_holds_entry(void)
{
    struct tdx_call gc;
    struct st_env e;
    struct tdx_sept_table *t;
    unsigned idx;
    int reached;
    uint64_t v, page;

    st_setup(&e, 3, 1, true);
    st_map_pt(&e, GPA);
    page = tdt_page();
    TDXT_EXPECT_STATUS(st_leaf(&e, 0, TDH_MEM_PAGE_AUG, GPA, 0, page, NULL), TDX_SUCCESS,
                       "AUG");
    tdx_sept_walk(tdx_sept_of(e.obj), GPA, 0, &t, &idx, &reached, &v);
    gc = (struct tdx_call){ .m = e.p->m, .lp = 2, .leaf = TDG_MEM_PAGE_ACCEPT };
    TDXT_EXPECT_STATUS(tdx_call_lock(&gc, &t->lock[idx], TDX_LOCK_HP_SHAREX,
                                     TDX_LOCK_EXCLUSIVE, TDX_OPERAND_BUSY | 1),
                       TDX_SUCCESS, "guest takes the entry");
    TDXT_EXPECT_STATUS(st_leaf(&e, 1, TDH_MEM_RANGE_BLOCK, GPA, 0, 0, NULL),
                       TDX_OPERAND_BUSY | TDX_OPERAND_ID_RCX, "BLOCK vs guest");
    tdx_call_unlock_all(&gc);
    TDXT_EXPECT_STATUS(st_accept(&e, 2, GPA, 0, NULL),
                       TDX_OPERAND_BUSY_HOST_PRIORITY | TDX_OPERAND_ID_RCX, "guest backs off");
    TDXT_EXPECT_STATUS(st_leaf(&e, 1, TDH_MEM_RANGE_BLOCK, GPA, 0, 0, NULL), TDX_SUCCESS,
                       "BLOCK retry");
    /* PENDING_BLOCKED: ACCEPT now needs the host (TD exit). */
    {
        struct tdx_accept_result res;

        TDXT_EXPECT_STATUS(st_accept(&e, 2, GPA, 0, &res), TDX_SUCCESS, "ACCEPT blocked");
        TDXT_EXPECT(res.exit_to_host, "ACCEPT of PENDING_BLOCKED exits");
    }
    st_expect_invariants(&e, "guest entry");
    st_teardown(&e);
}

/* A status rule at the tree lock point fires before any side effect. */
static void test_injection(void)
{
    struct tdx_status_rule rule = {
        .leaf = TDH_MEM_PAGE_AUG, .operand = TDX_OPERAND_ID_SEPT,
        .when = TDX_INJECT_NTH, .n = 1,
    };
    struct st_env e;
    char err[128];
    uint64_t page;

    st_setup(&e, 2, 1, true);
    st_map_pt(&e, GPA);
    rule.tdr_pa = e.td.tdr;
    rule.gpa_lo = GPA;
    rule.gpa_hi = GPA + 0x1000;
    TDXT_EXPECT(tdx_inject_add_status_rule(e.p->m, &rule, err, sizeof(err)) >= 0, "%s", err);
    page = tdt_page();
    TDXT_EXPECT_STATUS(st_leaf(&e, 0, TDH_MEM_PAGE_AUG, GPA, 0, page, NULL),
                       TDX_OPERAND_BUSY | TDX_OPERAND_ID_SEPT, "injected BUSY|SEPT");
    TDXT_EXPECT(st_state(&e, GPA, 0) == TDX_SEPT_FREE &&
                tdt_page_type(e.p, page) == TDX_PT_NDA, "no side effect");
    TDXT_EXPECT_STATUS(st_leaf(&e, 0, TDH_MEM_PAGE_AUG, GPA, 0, page, NULL), TDX_SUCCESS,
                       "local retry succeeds");
    st_expect_invariants(&e, "injection");
    st_teardown(&e);
}

/* KVM's teardown: release the HKID, reclaim S-EPT and private pages
 * without REMOVE, then the control pages and the TDR (ASan: no leak). */
static void test_teardown(void)
{
    uint64_t pages[4];
    struct st_env e;

    st_setup(&e, 2, 1, true);
    pages[0] = st_mapped_page(&e, GPA);
    for (int l = 1; l <= 3; l++) {
        pages[l] = st_entry(&e, GPA, l) & TDX_SEPTE_HPA_MASK;
    }
    tdt_release_hkid(e.p, &e.td);
    st_expect_invariants(&e, "HKID released");
    for (int i = 0; i < 4; i++) {
        tdt_reclaim(e.p, pages[i], "RECLAIM S-EPT / private page");
    }
    st_expect_invariants(&e, "S-EPT pages reclaimed");
    tdt_reclaim_all(e.p, &e.td);
    TDXT_EXPECT(tdt_page_type(e.p, e.td.tdr) == TDX_PT_NDA, "TDR reclaimed");
    st_expect_invariants(&e, "torn down");
    st_teardown(&e);
}

int main(void)
{
    test_sept_add();
    test_page_add();
    test_aug_accept();
    test_block_track_remove();
    test_lock_rows();
    test_guest_holds_entry();
    test_injection();
    test_teardown();
    return tdxt_done("test-sept");
}
