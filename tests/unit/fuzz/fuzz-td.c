/*
 * libFuzzer target: random sequences of every host leaf Linux uses on a
 * booted module, plus TDH.VP.ENTER with its TD exit and the guest ACCEPT,
 * with register values drawn from the raw input or from a small pool of
 * plausible operands (donated pages, TD_PARAMS, GPA|level, KeyIDs), so sequences
 * reach deep into TD and S-EPT state. Whatever happens, no crash, no
 * sanitizer report, and the invariants hold at the end.
 *
 * Inside a VP.ENTER run the TD's own input is fuzzed too: any guest leaf
 * (TDCALL registers from the record), an intercepted instruction's #VE
 * decision, x2APIC MSR accesses against the virtual APIC, and posted-
 * interrupt processing of whatever descriptor address L1 wrote.
 *
 * Record (16 bytes): [0] LP  [1] leaf  [2..5] operand selectors for
 * RCX, RDX, R8, R9  [6] flags  [7] guest leaf (bits 3:0) and TD-side
 * event (bits 5:4)  [8..15] raw 64-bit value.
 */
#include <stdlib.h>

#include "sept-harness.h"
#include "td-apic.h"
#include "td-ve.h"

#define FUZZ_LPS   4
#define MAX_OPS    96
#define POOL_PAGES 48

static const unsigned leaves[] = {
    TDH_MNG_CREATE, TDH_MNG_KEY_CONFIG, TDH_MNG_ADDCX, TDH_MNG_INIT, TDH_MNG_RD,
    TDH_MNG_WR, TDH_MNG_VPFLUSHDONE, TDH_MNG_KEY_FREEID, TDH_VP_CREATE,
    TDH_VP_ADDCX, TDH_VP_INIT, TDH_VP_RD, TDH_VP_WR, TDH_VP_FLUSH,
    TDH_MR_EXTEND, TDH_MR_FINALIZE, TDH_MEM_SEPT_ADD, TDH_MEM_PAGE_ADD,
    TDH_MEM_PAGE_AUG, TDH_MEM_RANGE_BLOCK, TDH_MEM_RANGE_UNBLOCK,
    TDH_MEM_TRACK, TDH_MEM_PAGE_REMOVE, TDH_MEM_SEPT_REMOVE,
    TDH_PHYMEM_PAGE_RECLAIM, TDH_PHYMEM_PAGE_RDMD, TDH_PHYMEM_PAGE_WBINVD,
    TDH_PHYMEM_CACHE_WB, TDH_SYS_RD,
};
#define NUM_LEAVES (sizeof(leaves) / sizeof(leaves[0]))
#define OP_VP_ENTER (NUM_LEAVES)        /* TDH.VP.ENTER and its TD exit */
#define OP_ACCEPT   (NUM_LEAVES + 1)    /* guest TDG.MEM.PAGE.ACCEPT */

static uint64_t pool_page(unsigned k)
{
    return TDT_POOL_BASE + (uint64_t)(k % POOL_PAGES) * TDX_PAGE_SIZE;
}

/* An operand: raw bits, a pool page, a GPA|level, TD_PARAMS, or small. */
static uint64_t operand(uint8_t sel, uint64_t raw)
{
    switch (sel >> 5) {
    case 0:
        return raw;
    case 1:
    case 2:
        return pool_page(sel);
    case 3:
        return ((uint64_t)(sel & 0x1F) << 12) | ((raw >> 3) & 3);  /* GPA|level */
    case 4:
        return ((uint64_t)(sel & 0x7) << 21) | ((raw >> 5) & 3);   /* 2M-spaced GPA */
    case 5:
        return TDT_PARAMS_PA;
    case 6:
        return sel & 0x1F;                                        /* KeyID, field */
    default:
        return raw & ~0xFFFULL;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct tdxt_platform *p;
    static uint8_t params[TDX_TD_PARAMS_SIZE];
    struct tdx_platform_desc d = tdxt_desc(FUZZ_LPS, 2);
    char err[256];

    if (!p) {
        p = tdxt_new(&d);
        tdt_default_params(params, 4);
    }
    tdx_module_destroy(p->m);
    p->m = tdx_module_create(&d, &tdxt_ops, p, err, sizeof(err));
    if (!p->m) {
        abort();
    }
    tdxt_boot(p);
    tdt_write_params(p, params);

    for (size_t i = 0; i + 16 <= size && i / 16 < MAX_OPS; i += 16) {
        const uint8_t *rec = data + i;
        unsigned op = rec[1] % (NUM_LEAVES + 2);
        unsigned lp = rec[0] % FUZZ_LPS;
        struct tdx_regs r = { 0 };
        uint64_t raw;

        memcpy(&raw, rec + 8, sizeof(raw));
        r.rcx = operand(rec[2], raw);
        r.rdx = operand(rec[3], raw >> 7);
        r.r8 = operand(rec[4], raw >> 13);
        r.r9 = operand(rec[5], raw >> 19);
        if (op < NUM_LEAVES) {
            /* Version bit sometimes: SEPT.ADD, MNG.RD, VP.RD, VP.INIT take v1. */
            r.rax = leaves[op] | ((uint64_t)(rec[6] & 1) << 16);
            if (getenv("FUZZ_TD_VERBOSE")) {
                char buf[64];
                uint64_t in_rcx = r.rcx, in_rdx = r.rdx;

                tdxt_seamcall(p->m, lp, &r);
                fprintf(stderr, "%s rcx=%#llx rdx=%#llx -> %s\n",
                        tdx_host_leaf_name(leaves[op]), (unsigned long long)in_rcx,
                        (unsigned long long)in_rdx,
                        tdx_status_format(r.rax, buf, sizeof(buf)));
            } else {
                tdxt_seamcall(p->m, lp, &r);
            }
        } else if (op == OP_VP_ENTER) {
            /* A whole run as the CPU side drives it: enter, a guest access
             * and a TDCALL chosen by the record, then the exit. */
            struct tdx_regs enter = { .rax = TDH_VP_ENTER, .rcx = r.rcx, .rdx = r.rdx,
                                      .r8 = raw, .r10 = r.r8, .r11 = r.r9,
                                      .r12 = ~raw, .r15 = r.rdx ^ raw };
            const struct tdx_regs host = enter;
            struct tdx_td_run run;

            if (!tdxt_vp_enter(p->m, lp, &enter, &run)) {
                struct tdx_regs back = enter;

                /* A failed entry returns only RAX (KVM re-enters with the
                 * same block: the guest's VMCALL results are in it). */
                back.rax = host.rax;
                if (tdx_status_is_error(enter.rax) && memcmp(&back, &host, sizeof(back))) {
                    fprintf(stderr, "VP.ENTER failed with %#llx and changed registers "
                            "other than RAX\n", (unsigned long long)enter.rax);
                    abort();
                }
            } else {
                static const uint64_t gleaves[] = {
                    TDG_VP_VMCALL, TDG_MEM_PAGE_ACCEPT, TDG_VP_INFO, 0xFFFF,
                    TDG_MR_RTMR_EXTEND, TDG_VP_VEINFO_GET, TDG_MR_REPORT,
                    TDG_VM_RD, TDG_VM_WR, TDG_VP_RD, TDG_VP_WR,
                    TDG_VM_RD | 1ULL << 16, 5, 0x10000FFULL, 1ULL << 24,
                };
                static const uint32_t ve_reasons[] = { 10, 12, 30, 31, 32, 48, 0 };
                struct tdx_td_exit x = { .reason = rec[6] & 2 ? 48 : 1, .gpa = r.rdx };
                struct tdx_regs g = { .rax = gleaves[rec[7] % (sizeof(gleaves) / 8)],
                                      .rcx = r.r8, .rdx = r.rdx, .r8 = r.r9,
                                      .r9 = raw, .r10 = r.r9 };
                uint64_t hpa, val = raw;

                tdx_td_translate_private(&run, r.rdx & ((1ULL << (run.gpa_width - 1)) - 1),
                                         rec[5] & 7, &hpa, &x);
                if (tdx_tdcall(&run, &g, &x) != TDX_TDCALL_DONE) {
                    run.state->gpr[1] = g.rcx;
                }
                switch ((rec[7] >> 4) & 3) {
                case 1: {
                    struct tdx_ve_event ev = {
                        .exit_reason = ve_reasons[rec[6] % (sizeof(ve_reasons) / 4)],
                        .qualification = raw, .instr_len = rec[5] & 0xF,
                        .cpl = rec[4] & 3, .leaf = (uint32_t)raw,
                        .subleaf = (uint32_t)(raw >> 32), .msr = (uint32_t)(raw >> 16),
                    };

                    if (ev.exit_reason == 0) {
                        ev.exit_reason = (uint32_t)raw;
                    }
                    tdx_td_ve(p->m, run.vcpu, &ev);
                    break;
                }
                case 2:
                    if (rec[6] & 1) {
                        tdx_td_apic_wrmsr(p->m, &run, 0x800 + rec[4], raw);
                    } else {
                        tdx_td_apic_rdmsr(&run, 0x800 + rec[4], &val);
                    }
                    break;
                case 3: {
                    uint8_t vec;

                    tdx_td_pi_process(p->m, &run);
                    if (tdx_td_virq_pending(&run, &vec)) {
                        tdx_td_virq_ack(p->m, &run);
                    }
                    break;
                }
                }
                if (!tdx_core_check_invariants(p->m, err, sizeof(err))) {
                    fprintf(stderr, "invariant broken inside the TD: %s\n", err);
                    abort();
                }
                if ((rec[6] & 0xF0) == 0xF0) {
                    x.reason = TDX_EXIT_REASON_TRIPLE_FAULT;   /* vCPU dies */
                }
                tdx_vp_exit(&run, &x, &enter);
            }
        } else {
            struct tdx_pamt_entry *e = tdx_pamt_lookup(p->m, r.rdx);
            struct tdx_accept_result res;

            /* The TDCALL path finds its TD from the running vCPU; here,
             * from a TDR page, and only while the TD is alive. */
            if (e && e->type == TDX_PT_TDR && e->obj) {
                tdxt_sept_accept(p->m, e->obj, lp, r.rcx, &res);
            }
        }
    }
    if (!tdx_core_check_invariants(p->m, err, sizeof(err))) {
        fprintf(stderr, "invariant broken: %s\n", err);
        abort();
    }
    return 0;
}
