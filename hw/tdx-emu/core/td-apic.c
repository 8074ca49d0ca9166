/*
 * Virtual APIC of TD vCPUs (see td-apic.h): posted-interrupt processing,
 * virtual-interrupt delivery, EOI/TPR/self-IPI virtualization and the
 * x2APIC MSR rules of a TD.
 */
#include <string.h>

#include "td.h"

/* TD VMCS encodings KVM writes with TDH.VP.WR (tdx_td_vcpu_init); the
 * posted-interrupt ones are in td-apic.h. */
#define VMCS_PIN_BASED_CTLS         0x4000
#define PIN_BASED_POSTED_INTR       (1ULL << 7)

/* Posted-interrupt descriptor: PIR (256 bits), then the control word with
 * ON in bit 0 (bit 256 of the descriptor). 64 bytes, 64-byte aligned. */
#define PID_SIZE                    64
#define PID_CONTROL_WORD            4
#define PID_ON                      1ULL

/* x2APIC MSRs (0x800 + xAPIC offset / 16). */
#define X2APIC_BASE     0x800u
#define X2APIC_TPR      0x808u
#define X2APIC_PPR      0x80Au
#define X2APIC_EOI      0x80Bu
#define X2APIC_ISR0     0x810u
#define X2APIC_TMR0     0x818u
#define X2APIC_IRR0     0x820u
#define X2APIC_SELF_IPI 0x83Fu

static int highest_bit(const uint32_t map[8])
{
    for (int w = 7; w >= 0; w--) {
        if (map[w]) {
            return w * 32 + 31 - __builtin_clz(map[w]);
        }
    }
    return -1;
}

static void set_bit(uint32_t map[8], uint8_t v)
{
    map[v / 32] |= 1u << (v % 32);
}

static void clear_bit(uint32_t map[8], uint8_t v)
{
    map[v / 32] &= ~(1u << (v % 32));
}

static void count(_Atomic uint64_t *c, uint64_t n)
{
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

void tdx_apic_get_stats(struct tdx_module *m, struct tdx_apic_stats_snapshot *out)
{
    struct tdx_apic_stats *s = &m->apic_stats;

    out->pi_notifications = atomic_load(&s->pi_notifications);
    out->pi_vectors = atomic_load(&s->pi_vectors);
    out->pi_bad_desc = atomic_load(&s->pi_bad_desc);
    out->delivered = atomic_load(&s->delivered);
    out->eoi = atomic_load(&s->eoi);
    out->self_ipi = atomic_load(&s->self_ipi);
}

void tdx_vapic_reset(struct tdx_vapic *a)
{
    memset(a, 0, sizeof(*a));
}

int tdx_vapic_pi_vector(const struct tdx_vcpu *v)
{
    uint64_t pin = 0, nv = 0xFFFF;

    if (!tdx_vcpu_vmcs_get(v, VMCS_PIN_BASED_CTLS, &pin) ||
        !(pin & PIN_BASED_POSTED_INTR) ||
        !tdx_vcpu_vmcs_get(v, VMCS_POSTED_INTR_NV, &nv) || nv > 0xFF) {
        return -1;
    }
    return (int)nv;
}

void tdx_vapic_update_ppr(struct tdx_vapic *a)
{
    a->ppr = (a->tpr & 0xF0) >= (a->svi & 0xF0) ? a->tpr : (a->svi & 0xF0);
}

/*
 * Take ON and PIR out of the descriptor at `pa`. With a direct pointer the
 * read-and-clear is atomic per 64-bit word, as the CPU's locked accesses
 * are against KVM setting bits concurrently (pi_test_and_set_pir / _on);
 * without one (embedders with mem_read/mem_write only) it is a plain
 * read then write. Returns -1 if the descriptor is not RAM.
 */
static int pid_take(struct tdx_module *m, uint64_t pa, uint64_t pir[4])
{
    uint64_t *p = m->ops.host_ptr ? m->ops.host_ptr(m->opaque, pa, PID_SIZE, true)
                                  : NULL;
    uint64_t w[5];

    if (p) {
        /* ON first: a poster that sets a PIR bit after this sees ON clear
         * and sends a new notification. */
        __atomic_fetch_and(&p[PID_CONTROL_WORD], ~PID_ON, __ATOMIC_SEQ_CST);
        for (int i = 0; i < 4; i++) {
            pir[i] = __atomic_exchange_n(&p[i], 0, __ATOMIC_SEQ_CST);
        }
        return 0;
    }
    if (tdx_mem_read(m, pa, w, sizeof(w))) {
        return -1;
    }
    memcpy(pir, w, 4 * sizeof(uint64_t));
    memset(w, 0, 4 * sizeof(uint64_t));
    w[PID_CONTROL_WORD] &= ~PID_ON;
    return tdx_mem_write(m, pa, w, sizeof(w)) ? -1 : 0;
}

int tdx_vapic_pi_process(struct tdx_module *m, struct tdx_vcpu *v)
{
    struct tdx_vapic *a = &v->vapic;
    uint64_t pa = ~0ULL, pir[4];
    int n = 0, high = -1;

    count(&m->apic_stats.pi_notifications, 1);
    if (!tdx_vcpu_vmcs_get(v, VMCS_POSTED_INTR_DESC_ADDR, &pa) ||
        (pa & (PID_SIZE - 1)) || (pa >> m->keyid_shift) ||
        pid_take(m, pa, pir)) {
        count(&m->apic_stats.pi_bad_desc, 1);
        return -1;
    }
    for (int w = 0; w < 4; w++) {
        a->irr[2 * w] |= (uint32_t)pir[w];
        a->irr[2 * w + 1] |= (uint32_t)(pir[w] >> 32);
        n += __builtin_popcountll(pir[w]);
        if (pir[w]) {
            high = w * 64 + 63 - __builtin_clzll(pir[w]);
        }
    }
    if (high > a->rvi) {
        a->rvi = (uint8_t)high;
    }
    count(&m->apic_stats.pi_vectors, (uint64_t)n);
    return n;
}

bool tdx_vapic_pending(const struct tdx_vapic *a, uint8_t *vector)
{
    if ((a->rvi & 0xF0) <= (a->ppr & 0xF0)) {
        return false;
    }
    *vector = a->rvi;
    return true;
}

bool tdx_vapic_intr_pending(const struct tdx_vapic *a)
{
    uint8_t v;

    return tdx_vapic_pending(a, &v);
}

uint8_t tdx_vapic_ack(struct tdx_module *m, struct tdx_vapic *a)
{
    uint8_t vec = a->rvi;
    int next;

    set_bit(a->isr, vec);
    a->svi = vec;
    a->ppr = vec & 0xF0;
    clear_bit(a->irr, vec);
    next = highest_bit(a->irr);
    a->rvi = next < 0 ? 0 : (uint8_t)next;
    count(&m->apic_stats.delivered, 1);
    return vec;
}

void tdx_vapic_eoi(struct tdx_module *m, struct tdx_vapic *a)
{
    int next;

    clear_bit(a->isr, a->svi);
    next = highest_bit(a->isr);
    a->svi = next < 0 ? 0 : (uint8_t)next;
    tdx_vapic_update_ppr(a);
    count(&m->apic_stats.eoi, 1);
}

void tdx_vapic_self_ipi(struct tdx_module *m, struct tdx_vapic *a, uint8_t vector)
{
    set_bit(a->irr, vector);
    if (vector > a->rvi) {
        a->rvi = vector;
    }
    count(&m->apic_stats.self_ipi, 1);
}

/* The xAPIC-only offsets Intel's MSR table makes #GP in a TD. */
static bool x2apic_reserved(uint32_t msr)
{
    return (msr >= 0x800 && msr <= 0x801) || (msr >= 0x804 && msr <= 0x807) ||
           (msr >= 0x829 && msr <= 0x82E) || msr == 0x831 ||
           (msr >= 0x840 && msr <= 0x8FF);
}

/* MSR bitmap bit 0 in a TD: the CPU virtualizes these, no exit. */
static bool x2apic_virtualized(uint32_t msr)
{
    return (msr >= 0x808 && msr <= 0x80C) || msr == 0x80E ||
           (msr >= 0x810 && msr <= 0x827) || msr == X2APIC_SELF_IPI;
}

enum tdx_vapic_msr tdx_vapic_rdmsr(struct tdx_vcpu *v, uint32_t msr, uint64_t *val)
{
    const struct tdx_vapic *a = &v->vapic;

    if (x2apic_reserved(msr)) {
        return TDX_VAPIC_MSR_GP;
    }
    if (!x2apic_virtualized(msr)) {
        return TDX_VAPIC_MSR_NONE;
    }
    /* APIC-register virtualization: reads come from the virtual-APIC
     * page; EOI, SELF_IPI and the offsets x2APIC lacks are #GP. */
    if (msr == X2APIC_TPR) {
        *val = a->tpr;
    } else if (msr == X2APIC_PPR) {
        *val = a->ppr;
    } else if (msr >= X2APIC_ISR0 && msr < X2APIC_ISR0 + 8) {
        *val = a->isr[msr - X2APIC_ISR0];
    } else if (msr >= X2APIC_TMR0 && msr < X2APIC_TMR0 + 8) {
        *val = 0;                       /* edge-triggered only */
    } else if (msr >= X2APIC_IRR0 && msr < X2APIC_IRR0 + 8) {
        *val = a->irr[msr - X2APIC_IRR0];
    } else {
        return TDX_VAPIC_MSR_GP;
    }
    return TDX_VAPIC_MSR_DONE;
}

enum tdx_vapic_msr tdx_vapic_wrmsr(struct tdx_module *m, struct tdx_vcpu *v,
                                   uint32_t msr, uint64_t val)
{
    struct tdx_vapic *a = &v->vapic;

    if (x2apic_reserved(msr)) {
        return TDX_VAPIC_MSR_GP;
    }
    if (!x2apic_virtualized(msr)) {
        return TDX_VAPIC_MSR_NONE;
    }
    switch (msr) {
    case X2APIC_TPR:
        if (val >> 8) {
            return TDX_VAPIC_MSR_GP;
        }
        a->tpr = (uint8_t)val;
        tdx_vapic_update_ppr(a);
        return TDX_VAPIC_MSR_DONE;
    case X2APIC_EOI:
        if (val) {
            return TDX_VAPIC_MSR_GP;
        }
        tdx_vapic_eoi(m, a);
        return TDX_VAPIC_MSR_DONE;
    case X2APIC_SELF_IPI:
        if (val >> 8) {
            return TDX_VAPIC_MSR_GP;
        }
        tdx_vapic_self_ipi(m, a, (uint8_t)val);
        return TDX_VAPIC_MSR_DONE;
    default:
        /* PPR, ISR, TMR, IRR and the rest are read-only in x2APIC mode. */
        return TDX_VAPIC_MSR_GP;
    }
}

/* ---- the embedder's view: the vCPU of a run ------------------------------ */

int tdx_td_pi_vector(const struct tdx_td_run *run)
{
    return tdx_vapic_pi_vector(run->vcpu);
}

int tdx_td_pi_process(struct tdx_module *m, struct tdx_td_run *run)
{
    return tdx_vapic_pi_process(m, run->vcpu);
}

bool tdx_td_virq_pending(const struct tdx_td_run *run, uint8_t *vector)
{
    return tdx_vapic_pending(&run->vcpu->vapic, vector);
}

uint8_t tdx_td_virq_ack(struct tdx_module *m, struct tdx_td_run *run)
{
    return tdx_vapic_ack(m, &run->vcpu->vapic);
}

enum tdx_vapic_msr tdx_td_apic_rdmsr(struct tdx_td_run *run, uint32_t msr,
                                     uint64_t *val)
{
    return tdx_vapic_rdmsr(run->vcpu, msr, val);
}

enum tdx_vapic_msr tdx_td_apic_wrmsr(struct tdx_module *m, struct tdx_td_run *run,
                                     uint32_t msr, uint64_t val)
{
    return tdx_vapic_wrmsr(m, run->vcpu, msr, val);
}
