/*
 * Virtual APIC of TD vCPUs (td-apic.c): posted-interrupt processing on a
 * descriptor in L1 memory (ON / PIR take-and-clear, merge into VIRR, RVI),
 * priority against VPPR, virtual-interrupt delivery and EOI, TPR, self-IPI,
 * the x2APIC MSR rules of a TD, an unusable PID address, and VMXIP as KVM
 * reads it (VCPU_STATE_DETAILS).
 */
#include "td-harness.h"

#define KVM_FIELD(cls, code) (((uint64_t)(cls) << 56) | (uint64_t)(code))
#define VMCS(enc)            KVM_FIELD(0, enc)
#define PID_PA               0x3040ULL
#define NV                   0xF2

static struct tdxt_platform *boot(const struct tdx_platform_ops *ops)
{
    struct tdx_platform_desc d = tdxt_desc(4, 2);
    struct tdxt_platform *p = tdxt_new_ops(&d, ops);

    tdxt_boot(p);
    return p;
}

/* The PID the way KVM posts: set PIR bit, then ON. */
static void post(struct tdxt_platform *p, uint8_t vec)
{
    uint64_t w[5];

    tdxt_mem_read(p, PID_PA, w, sizeof(w));
    w[vec / 64] |= 1ULL << (vec % 64);
    w[4] |= 1;
    tdxt_mem_write(p, PID_PA, w, sizeof(w));
}

static uint64_t pid_word(struct tdxt_platform *p, unsigned i)
{
    uint64_t w;

    tdxt_mem_read(p, PID_PA + 8 * i, &w, 8);
    return w;
}

/* A TD with one vCPU whose PI fields are set up as tdx_td_vcpu_init does. */
static struct tdx_vcpu *setup(struct tdxt_platform *p, struct tdt_td *td)
{
    struct tdx_regs r;
    uint64_t vp;
    uint64_t zero[8] = { 0 };

    tdt_create(p, td, 3);
    tdt_init(p, td, 1);
    tdt_vcpu(p, td, 1);
    vp = td->vp[0].tdvpr;
    tdxt_mem_write(p, PID_PA, zero, sizeof(zero));
    r = (struct tdx_regs){ .rcx = vp, .rdx = VMCS(0x0002), .r8 = NV, .r9 = 0xFFFF };
    TDXT_EXPECT_STATUS(tdt_call(p, 1, TDH_VP_WR, &r), TDX_SUCCESS, "WR NV");
    r = (struct tdx_regs){ .rcx = vp, .rdx = VMCS(0x2016), .r8 = PID_PA, .r9 = ~0ULL };
    TDXT_EXPECT_STATUS(tdt_call(p, 1, TDH_VP_WR, &r), TDX_SUCCESS, "WR PID");
    r = (struct tdx_regs){ .rcx = vp, .rdx = VMCS(0x4000), .r8 = 0x80, .r9 = 0x80 };
    TDXT_EXPECT_STATUS(tdt_call(p, 1, TDH_VP_WR, &r), TDX_SUCCESS, "setbit PI");
    return tdx_pamt_lookup(p->m, vp)->obj;
}

static uint64_t state_details(struct tdxt_platform *p, struct tdt_td *td)
{
    /* TD_VCPU_STATE_DETAILS_NON_ARCH: class 17, code 0x100, non-arch. */
    struct tdx_regs r = { .rcx = td->vp[0].tdvpr,
                          .rdx = TDX_MD_NON_ARCH | KVM_FIELD(17, 0x100) };

    TDXT_EXPECT_STATUS(tdt_call(p, 1, TDH_VP_RD, &r), TDX_SUCCESS, "RD VCPU_STATE_DETAILS");
    return r.r8;
}

static void test_pi_merge_priority_eoi(const struct tdx_platform_ops *ops, const char *what)
{
    struct tdxt_platform *p = boot(ops);
    struct tdx_apic_stats_snapshot s;
    struct tdt_td td;
    struct tdx_vcpu *v = setup(p, &td);
    struct tdx_vapic *a = &v->vapic;
    uint8_t vec = 0;
    int n;

    TDXT_EXPECT(tdx_vapic_pi_vector(v) == NV, "%s: notification vector %d, expected %#x",
                what, tdx_vapic_pi_vector(v), NV);
    TDXT_EXPECT(!tdx_vapic_pending(a, &vec), "%s: nothing pending after VP.INIT", what);

    /* ON clear and PIR empty: nothing merged, no crash. */
    n = tdx_vapic_pi_process(p->m, v);
    TDXT_EXPECT(n == 0, "%s: empty PIR merged %d vectors, expected 0", what, n);

    post(p, 0x31);
    post(p, 0x91);
    post(p, 0x40);
    n = tdx_vapic_pi_process(p->m, v);
    TDXT_EXPECT(n == 3, "%s: merged %d vectors, expected 3", what, n);
    TDXT_EXPECT(pid_word(p, 0) == 0 && pid_word(p, 1) == 0 && pid_word(p, 2) == 0 &&
                pid_word(p, 3) == 0, "%s: PIR cleared after processing (word1 %#llx)", what,
                (unsigned long long)pid_word(p, 1));
    TDXT_EXPECT((pid_word(p, 4) & 1) == 0, "%s: ON cleared, control word %#llx", what,
                (unsigned long long)pid_word(p, 4));
    TDXT_EXPECT(a->rvi == 0x91, "%s: RVI %#x, expected 0x91", what, a->rvi);
    TDXT_EXPECT((state_details(p, &td) & 1) == 1, "%s: VMXIP set with RVI above PPR", what);

    /* TPR 0xA0 masks 0x91 (class 9 <= 10). */
    TDXT_EXPECT(tdx_vapic_wrmsr(p->m, v, 0x808, 0xA0) == TDX_VAPIC_MSR_DONE, "%s: WR TPR", what);
    TDXT_EXPECT(!tdx_vapic_pending(a, &vec) && a->ppr == 0xA0,
                "%s: TPR 0xA0 masks 0x91 (PPR %#x)", what, a->ppr);
    TDXT_EXPECT((state_details(p, &td) & 1) == 0, "%s: VMXIP clear when masked", what);
    tdx_vapic_wrmsr(p->m, v, 0x808, 0);

    /* Delivery order 0x91, then (after EOI) 0x40, then 0x31. */
    TDXT_EXPECT(tdx_vapic_pending(a, &vec) && vec == 0x91, "%s: pending %#x, expected 0x91",
                what, vec);
    TDXT_EXPECT(tdx_vapic_ack(p->m, a) == 0x91 && a->svi == 0x91 && a->ppr == 0x90 &&
                a->rvi == 0x40, "%s: ack 0x91: SVI %#x PPR %#x RVI %#x", what, a->svi, a->ppr,
                a->rvi);
    TDXT_EXPECT(!tdx_vapic_pending(a, &vec), "%s: 0x40 blocked while 0x91 in service", what);
    /* A higher class interrupts the one in service (nesting). */
    post(p, 0xE1);
    tdx_vapic_pi_process(p->m, v);
    TDXT_EXPECT(tdx_vapic_pending(a, &vec) && vec == 0xE1, "%s: 0xE1 nests over 0x91", what);
    tdx_vapic_ack(p->m, a);
    tdx_vapic_eoi(p->m, a);
    TDXT_EXPECT(a->svi == 0x91 && a->ppr == 0x90, "%s: EOI of 0xE1 back to SVI 0x91 (%#x)",
                what, a->svi);
    /* Virtual EOI through the MSR. */
    TDXT_EXPECT(tdx_vapic_wrmsr(p->m, v, 0x80B, 0) == TDX_VAPIC_MSR_DONE, "%s: EOI", what);
    TDXT_EXPECT(a->svi == 0 && a->ppr == 0 && a->isr[0x91 / 32] == 0,
                "%s: EOI cleared VISR (SVI %#x PPR %#x)", what, a->svi, a->ppr);
    TDXT_EXPECT(tdx_vapic_pending(a, &vec) && vec == 0x40, "%s: then 0x40", what);
    tdx_vapic_ack(p->m, a);
    tdx_vapic_eoi(p->m, a);
    TDXT_EXPECT(tdx_vapic_pending(a, &vec) && vec == 0x31, "%s: then 0x31", what);
    tdx_vapic_ack(p->m, a);
    tdx_vapic_eoi(p->m, a);
    TDXT_EXPECT(!tdx_vapic_pending(a, &vec) && a->rvi == 0, "%s: all delivered", what);

    /* The same vector posted twice before processing is one interrupt. */
    post(p, 0x55);
    post(p, 0x55);
    TDXT_EXPECT(tdx_vapic_pi_process(p->m, v) == 1, "%s: coalesced post", what);
    tdx_vapic_ack(p->m, a);
    tdx_vapic_eoi(p->m, a);

    tdx_apic_get_stats(p->m, &s);
    TDXT_EXPECT(s.pi_notifications == 4 && s.pi_vectors == 5 && s.delivered == 5 &&
                s.eoi == 5 && s.pi_bad_desc == 0,
                "%s: stats notifications %llu vectors %llu delivered %llu eoi %llu bad %llu",
                what, (unsigned long long)s.pi_notifications, (unsigned long long)s.pi_vectors,
                (unsigned long long)s.delivered, (unsigned long long)s.eoi,
                (unsigned long long)s.pi_bad_desc);
    TDXT_EXPECT_INVARIANTS(p, what);
    tdxt_free(p);
}

static void test_msrs_and_self_ipi(void)
{
    struct tdxt_platform *p = boot(&tdxt_ops);
    struct tdt_td td;
    struct tdx_vcpu *v = setup(p, &td);
    uint64_t val = 0;
    uint8_t vec;

    /* Self-IPI: VIRR + RVI, delivered without any PID involvement. */
    TDXT_EXPECT(tdx_vapic_wrmsr(p->m, v, 0x83F, 0x42) == TDX_VAPIC_MSR_DONE, "self-IPI");
    TDXT_EXPECT(tdx_vapic_rdmsr(v, 0x822, &val) == TDX_VAPIC_MSR_DONE && val == 1u << 2,
                "IRR word 2 reads %#llx, expected 0x4", (unsigned long long)val);
    TDXT_EXPECT(tdx_vapic_pending(&v->vapic, &vec) && vec == 0x42, "self-IPI pending");
    tdx_vapic_ack(p->m, &v->vapic);
    TDXT_EXPECT(tdx_vapic_rdmsr(v, 0x812, &val) == TDX_VAPIC_MSR_DONE && val == 1u << 2,
                "ISR word 2 reads %#llx", (unsigned long long)val);
    TDXT_EXPECT(tdx_vapic_rdmsr(v, 0x80A, &val) == TDX_VAPIC_MSR_DONE && val == 0x40,
                "PPR reads %#llx, expected 0x40", (unsigned long long)val);

    /* #GP: reserved bits, write-only/read-only registers, xAPIC-only offsets. */
    TDXT_EXPECT(tdx_vapic_wrmsr(p->m, v, 0x80B, 1) == TDX_VAPIC_MSR_GP, "EOI value 1: #GP");
    TDXT_EXPECT(tdx_vapic_wrmsr(p->m, v, 0x808, 0x100) == TDX_VAPIC_MSR_GP, "TPR bit 8: #GP");
    TDXT_EXPECT(tdx_vapic_wrmsr(p->m, v, 0x83F, 0x1000) == TDX_VAPIC_MSR_GP,
                "SELF_IPI bit 12: #GP");
    TDXT_EXPECT(tdx_vapic_rdmsr(v, 0x80B, &val) == TDX_VAPIC_MSR_GP, "RD EOI: #GP");
    TDXT_EXPECT(tdx_vapic_rdmsr(v, 0x83F, &val) == TDX_VAPIC_MSR_GP, "RD SELF_IPI: #GP");
    TDXT_EXPECT(tdx_vapic_wrmsr(p->m, v, 0x820, 0) == TDX_VAPIC_MSR_GP, "WR IRR: #GP");
    TDXT_EXPECT(tdx_vapic_rdmsr(v, 0x801, &val) == TDX_VAPIC_MSR_GP, "RD 0x801: #GP");
    TDXT_EXPECT(tdx_vapic_wrmsr(p->m, v, 0x850, 0) == TDX_VAPIC_MSR_GP, "WR 0x850: #GP");
    /* Not virtualized: the caller's path (#VE to the TD). */
    TDXT_EXPECT(tdx_vapic_wrmsr(p->m, v, 0x830, 0x30) == TDX_VAPIC_MSR_NONE, "ICR: not ours");
    TDXT_EXPECT(tdx_vapic_rdmsr(v, 0x802, &val) == TDX_VAPIC_MSR_NONE, "ID: not ours");
    TDXT_EXPECT(tdx_vapic_rdmsr(v, 0x80F, &val) == TDX_VAPIC_MSR_NONE, "SVR: not ours");
    TDXT_EXPECT(tdx_vapic_wrmsr(p->m, v, 0x1B, 0) == TDX_VAPIC_MSR_NONE, "APIC_BASE: not ours");
    TDXT_EXPECT(tdx_vapic_wrmsr(p->m, v, 0x80B, 0) == TDX_VAPIC_MSR_DONE, "EOI");
    TDXT_EXPECT(v->vapic.ppr == 0 && v->vapic.svi == 0, "EOI after self-IPI");
    tdxt_free(p);
}

static void test_bad_pid(void)
{
    struct tdxt_platform *p = boot(&tdxt_ops);
    struct tdx_apic_stats_snapshot s;
    struct tdt_td td;
    struct tdx_vcpu *v = setup(p, &td);

    /* Beyond RAM (the fake platform has 2 GiB), with KeyID bits, and
     * misaligned: nothing merged, nothing read, no crash. */
    tdx_vcpu_vmcs_set(v, 0x2016, 3ULL << 30);
    TDXT_EXPECT(tdx_vapic_pi_process(p->m, v) == -1, "PID beyond RAM refused");
    tdx_vcpu_vmcs_set(v, 0x2016, PID_PA | (1ULL << (p->m->keyid_shift)));
    TDXT_EXPECT(tdx_vapic_pi_process(p->m, v) == -1, "PID with KeyID bits refused");
    tdx_vcpu_vmcs_set(v, 0x2016, PID_PA + 8);
    TDXT_EXPECT(tdx_vapic_pi_process(p->m, v) == -1, "misaligned PID refused");
    tdx_vcpu_vmcs_set(v, 0x2016, ~0ULL);
    TDXT_EXPECT(tdx_vapic_pi_process(p->m, v) == -1, "NULL_PA PID refused");
    TDXT_EXPECT(v->vapic.rvi == 0, "nothing merged from a bad PID");
    tdx_apic_get_stats(p->m, &s);
    TDXT_EXPECT(s.pi_bad_desc == 4, "bad PIDs counted: %llu, expected 4",
                (unsigned long long)s.pi_bad_desc);

    /* PI not enabled (PIN_BASED bit 7 clear): no notification vector. */
    tdx_vcpu_vmcs_set(v, 0x4000, 0);
    TDXT_EXPECT(tdx_vapic_pi_vector(v) == -1, "no PI: vector -1, got %d",
                tdx_vapic_pi_vector(v));
    tdxt_free(p);
}

int main(void)
{
    test_pi_merge_priority_eoi(&tdxt_ops, "host_ptr");
    test_pi_merge_priority_eoi(&tdxt_ops_slow, "mem_read/write");
    test_msrs_and_self_ipi();
    test_bad_pid();
    return tdxt_done("test-td-apic");
}
