/*
 * libFuzzer target: what a running TD (and KVM, for the posted-interrupt
 * descriptor) feeds the module. fuzz-td rarely gets a TD far enough to
 * enter it; here every input starts from a finalized TD with two vCPUs
 * (LPs 0 and 1) and a few accepted private pages, and each record is one
 * event of TD mode: a guest leaf with registers from the record, the #VE
 * decision for an intercepted instruction, an x2APIC MSR read or write
 * against the virtual APIC, posted-interrupt processing and virtual
 * interrupt acknowledge, KVM changing the descriptor address or the
 * notification vector, a host S-EPT leaf from the other LP, or a TD exit
 * and re-entry. No crash, no sanitizer report, invariants hold.
 *
 * Record (16 bytes): [0] vCPU  [1] event  [2] guest leaf / MSR offset
 * [3] register selectors  [4] flags  [5..7] spare  [8..15] raw value.
 */
#include <stdlib.h>

#include "sept-harness.h"
#include "td-apic.h"
#include "td-ve.h"

#define MAX_OPS        64
#define NUM_PRIVATE    4
#define PRIVATE_GPA(i) (0x100000ULL + (uint64_t)(i) * TDX_PAGE_SIZE)

enum { EV_TDCALL, EV_VE, EV_APIC_MSR, EV_PI, EV_KVM_PI, EV_HOST_SEPT, EV_EXIT,
       NUM_EVENTS };

struct vcpu_state {
    bool inside;
    struct tdx_td_run run;
    struct tdx_regs enter;
};

/* A register operand: raw, a private GPA (+ offset), a small value. */
static uint64_t reg(unsigned sel, uint64_t raw)
{
    switch (sel & 3) {
    case 0:
        return raw;
    case 1:
        return PRIVATE_GPA(raw % NUM_PRIVATE) + (raw >> 8 & 0xFC0);
    case 2:
        return raw & 0xF;
    default:
        return raw & 0xFFFFFFFF;
    }
}

static void enter(struct st_env *e, struct vcpu_state *vs, unsigned i)
{
    vs->enter = (struct tdx_regs){ .rax = TDH_VP_ENTER, .rcx = e->td.vp[i].tdvpr };
    vs->inside = tdxt_vp_enter(e->p->m, e->td.vp[i].lp, &vs->enter, &vs->run);
}

static void leave(struct st_env *e, struct vcpu_state *vs, uint32_t reason)
{
    struct tdx_td_exit x = { .reason = reason };

    tdx_vp_exit(&vs->run, &x, &vs->enter);
    vs->inside = false;
}

static void guest_leaf(struct st_env *e, struct vcpu_state *vs, const uint8_t *rec,
                       uint64_t raw)
{
    static const uint64_t leaves[] = {
        TDG_VP_VMCALL, TDG_VP_INFO, TDG_MR_RTMR_EXTEND, TDG_VP_VEINFO_GET,
        TDG_MR_REPORT, TDG_MEM_PAGE_ACCEPT, TDG_VM_RD, TDG_VM_WR, TDG_VP_RD,
        TDG_VP_WR, TDG_VM_RD | 1ULL << 16, 5, 0xFFFF, 1ULL << 24,
    };
    struct tdx_td_exit x = { 0 };
    struct tdx_regs g = {
        .rax = leaves[rec[2] % (sizeof(leaves) / sizeof(leaves[0]))],
        .rcx = reg(rec[3], raw), .rdx = reg(rec[3] >> 2, raw >> 3),
        .r8 = reg(rec[3] >> 4, raw >> 5), .r9 = reg(rec[3] >> 6, raw >> 7),
        .r10 = raw, .r11 = raw >> 1,
    };

    switch (tdx_tdcall(&vs->run, &g, &x)) {
    case TDX_TDCALL_DONE:
        break;
    default:
        /* The TDCALL exits to the host (VMCALL): as the CPU side would. */
        tdx_vp_exit(&vs->run, &x, &vs->enter);
        vs->inside = false;
        break;
    }
}

static void ve_event(struct st_env *e, struct vcpu_state *vs, const uint8_t *rec,
                     uint64_t raw)
{
    static const uint32_t reasons[] = { 10, 12, 30, 31, 32, 48 };
    struct tdx_ve_event ev = {
        .exit_reason = rec[2] < 240 ? reasons[rec[2] % 6] : (uint32_t)raw,
        .qualification = raw, .instr_len = rec[4] & 0xF, .cpl = rec[4] >> 4 & 3,
        .leaf = (uint32_t)raw, .subleaf = (uint32_t)(raw >> 32),
        .msr = rec[4] & 0x80 ? (uint32_t)(raw >> 8) : 0x800 + rec[3],
    };

    tdx_td_ve(e->p->m, vs->run.vcpu, &ev);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct vcpu_state vs[2] = { 0 };
    struct st_env e;
    char err[256];

    tdt_next_page = TDT_POOL_BASE;
    st_setup(&e, 2, 2, true);
    for (unsigned i = 0; i < NUM_PRIVATE; i++) {
        st_mapped_page(&e, PRIVATE_GPA(i));
    }
    if (tdxt_failures) {
        abort();                    /* the fixed set-up must work */
    }
    /* A plausible PI descriptor (KVM's, in L1 memory) and vector. */
    for (unsigned i = 0; i < 2; i++) {
        struct tdx_vcpu *v = tdt_vobj(e.p, e.td.vp[i].tdvpr);

        tdx_vcpu_vmcs_set(v, VMCS_POSTED_INTR_DESC_ADDR, TDXT_SCRATCH + 0x3000 + i * 64);
        tdx_vcpu_vmcs_set(v, VMCS_POSTED_INTR_NV, 0xF2);
    }

    for (size_t off = 0; off + 16 <= size && off / 16 < MAX_OPS; off += 16) {
        const uint8_t *rec = data + off;
        unsigned i = rec[0] & 1;
        unsigned event = rec[1] % NUM_EVENTS;
        struct vcpu_state *v = &vs[i];
        uint64_t raw, val;
        uint8_t vec;

        memcpy(&raw, rec + 8, sizeof(raw));
        if (event == EV_KVM_PI) {
            /* KVM writes the descriptor (L1 memory) and may move it; the
             * module must cope with whatever address it finds. */
            struct tdx_vcpu *vo = tdt_vobj(e.p, e.td.vp[i].tdvpr);
            uint64_t pid[8] = { raw, raw >> 1, raw << 3, raw ^ 0xFF, rec[4] & 1 };

            tdxt_mem_write(e.p, TDXT_SCRATCH + 0x3000 + i * 64, pid, sizeof(pid));
            if (rec[4] & 2) {
                tdx_vcpu_vmcs_set(vo, VMCS_POSTED_INTR_DESC_ADDR,
                                  rec[4] & 4 ? raw : TDXT_SCRATCH + 0x3000 + i * 64);
            }
            if (rec[4] & 8) {
                tdx_vcpu_vmcs_set(vo, VMCS_POSTED_INTR_NV, rec[2]);
            }
            continue;
        }
        if (event == EV_HOST_SEPT) {
            /* The other LP zaps or re-adds a private page under the TD. */
            static const uint64_t host[] = { TDH_MEM_RANGE_BLOCK, TDH_MEM_TRACK,
                                             TDH_MEM_PAGE_REMOVE, TDH_MEM_PAGE_AUG,
                                             TDH_MEM_RANGE_UNBLOCK };
            uint64_t leaf = host[rec[2] % 5];

            if (leaf == TDH_MEM_TRACK) {
                st_track(&e, 1 - i);
            } else {
                st_leaf(&e, 1 - i, leaf, PRIVATE_GPA(raw % NUM_PRIVATE), 0,
                        leaf == TDH_MEM_PAGE_AUG ? TDT_POOL_BASE + (raw >> 3 & 0x3F) *
                        TDX_PAGE_SIZE : 0, NULL);
            }
            continue;
        }
        if (!v->inside) {
            enter(&e, v, i);
            if (!v->inside) {
                continue;
            }
        }
        switch (event) {
        case EV_TDCALL:
            guest_leaf(&e, v, rec, raw);
            break;
        case EV_VE:
            ve_event(&e, v, rec, raw);
            break;
        case EV_APIC_MSR:
            if (rec[4] & 1) {
                tdx_td_apic_wrmsr(e.p->m, &v->run, 0x800 + rec[2], raw);
            } else {
                tdx_td_apic_rdmsr(&v->run, 0x800 + rec[2], &val);
            }
            break;
        case EV_PI:
            tdx_td_pi_process(e.p->m, &v->run);
            if (tdx_td_virq_pending(&v->run, &vec)) {
                tdx_td_virq_ack(e.p->m, &v->run);
            }
            break;
        case EV_EXIT:
            leave(&e, v, rec[2] & 1 ? 48 : 1);
            break;
        }
        if (!tdx_core_check_invariants(e.p->m, err, sizeof(err))) {
            fprintf(stderr, "invariant broken: %s\n", err);
            abort();
        }
    }
    for (unsigned i = 0; i < 2; i++) {
        if (vs[i].inside) {
            leave(&e, &vs[i], 1);
        }
    }
    if (!tdx_core_check_invariants(e.p->m, err, sizeof(err))) {
        fprintf(stderr, "invariant broken at the end: %s\n", err);
        abort();
    }
    st_teardown(&e);
    return 0;
}
