/*
 * Virtual APIC of TD vCPUs: the state Intel's module keeps in the TDVPS
 * virtual-APIC page and the TD VMCS guest interrupt status, and what the
 * CPU does with it in a TD (x2APIC virtualization, virtual-interrupt
 * delivery, posted-interrupt processing; Intel SDM vol. 3, "APIC
 * Virtualization and Virtual Interrupts").
 *
 * Who calls what (the CPU side, target/i386/td-apic.c, through the glue):
 *  - an L1 interrupt whose vector is the TD VMCS's POSTED_INTR_NV while the
 *    vCPU runs the TD: tdx_vapic_pi_process() instead of a TD exit (KVM's
 *    self-IPI before VP.ENTER, when the PID's ON bit is set, arrives the
 *    same way right after entry);
 *  - at every instruction boundary with RFLAGS.IF = 1 and no interrupt
 *    shadow: tdx_vapic_pending() / tdx_vapic_ack() and delivery through
 *    the TD's IDT;
 *  - RDMSR/WRMSR of 0x800..0x8FF by the TD: tdx_vapic_rdmsr/wrmsr().
 * Only the vCPU's own LP touches the state while the vCPU is ACTIVE.
 *
 * x2APIC MSRs in a TD (tdx_1.5 MSR bitmap rules): TPR, PPR, EOI, ISR, TMR,
 * IRR and SELF_IPI are virtualized by the CPU without exit; the reserved
 * xAPIC-only offsets #GP; everything else (ID, version, LDR, SVR, ESR,
 * ICR, LVTs, timer) exits to the module, which injects #VE (the TD asks
 * the host with TDG.VP.VMCALL<Instruction.RDMSR/WRMSR>; Linux TD guests
 * send IPIs that way). The EOI-exit bitmap is not modelled: KVM never
 * sets one for TDs.
 */
#ifndef TDX_EMU_TD_APIC_H
#define TDX_EMU_TD_APIC_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* TD VMCS encodings of KVM's posted-interrupt set-up (TDH.VP.WR). */
#define VMCS_POSTED_INTR_NV         0x0002
#define VMCS_POSTED_INTR_DESC_ADDR  0x2016

struct tdx_module;
struct tdx_vcpu;

struct tdx_vapic {
    uint32_t irr[8];            /* VIRR: vector v is bit v % 32 of word v / 32 */
    uint32_t isr[8];            /* VISR */
    uint8_t tpr;                /* VTPR */
    uint8_t ppr;                /* VPPR */
    uint8_t rvi, svi;           /* guest interrupt status (RVI, SVI) */
};

/* Module-wide counters ("info tdx", tdx_apic_get_stats). */
struct tdx_apic_stats {
    _Atomic uint64_t pi_notifications;  /* notification vectors consumed in a TD */
    _Atomic uint64_t pi_vectors;        /* PIR bits merged into a VIRR */
    _Atomic uint64_t pi_bad_desc;       /* PID address unusable: skipped */
    _Atomic uint64_t delivered;         /* virtual interrupts delivered */
    _Atomic uint64_t eoi;               /* virtual EOIs */
    _Atomic uint64_t self_ipi;          /* virtual self-IPIs */
};

struct tdx_apic_stats_snapshot {
    uint64_t pi_notifications, pi_vectors, pi_bad_desc;
    uint64_t delivered, eoi, self_ipi;
};

void tdx_apic_get_stats(struct tdx_module *m, struct tdx_apic_stats_snapshot *out);

/* VP.INIT: everything zero (no request, no service, TPR 0). */
void tdx_vapic_reset(struct tdx_vapic *a);

/* The notification vector KVM configured if posted-interrupt processing
 * is enabled for the vCPU (PIN_BASED bit 7, NV set), else -1. */
int tdx_vapic_pi_vector(const struct tdx_vcpu *v);

/*
 * Posted-interrupt processing, as the CPU does it after acknowledging the
 * notification vector (and writing EOI to L1's local APIC, which the
 * caller does): clear ON in the PID, take-and-clear PIR atomically on L1
 * memory, OR it into VIRR, RVI = max(RVI, highest PIR vector). Returns the
 * number of vectors taken, or -1 when the PID address is unusable (not
 * 64-byte aligned, KeyID bits, not RAM): nothing happens, counted.
 */
int tdx_vapic_pi_process(struct tdx_module *m, struct tdx_vcpu *v);

/* VPPR from VTPR and SVI (SDM "PPR virtualization"). */
void tdx_vapic_update_ppr(struct tdx_vapic *a);

/* A virtual interrupt is deliverable: RVI[7:4] > VPPR[7:4]. *vector = RVI. */
bool tdx_vapic_pending(const struct tdx_vapic *a, uint8_t *vector);

/* Virtual-interrupt delivery: VIRR -> VISR for RVI, SVI = it, RVI = the
 * next highest VIRR, VPPR updated. Returns the vector to deliver. */
uint8_t tdx_vapic_ack(struct tdx_module *m, struct tdx_vapic *a);

/* EOI virtualization: clear VISR[SVI], SVI = next highest VISR, VPPR. */
void tdx_vapic_eoi(struct tdx_module *m, struct tdx_vapic *a);

/* Self-IPI virtualization: VIRR[vector], RVI = max(RVI, vector). */
void tdx_vapic_self_ipi(struct tdx_module *m, struct tdx_vapic *a, uint8_t vector);

/* VCPU_STATE_DETAILS.VMXIP: a virtual interrupt is pending above VPPR. */
bool tdx_vapic_intr_pending(const struct tdx_vapic *a);

enum tdx_vapic_msr {
    TDX_VAPIC_MSR_NONE,         /* not virtualized: the caller's MSR path (#VE) */
    TDX_VAPIC_MSR_DONE,         /* handled against the virtual APIC */
    TDX_VAPIC_MSR_GP,           /* #GP(0) in the TD */
};

enum tdx_vapic_msr tdx_vapic_rdmsr(struct tdx_vcpu *v, uint32_t msr, uint64_t *val);
enum tdx_vapic_msr tdx_vapic_wrmsr(struct tdx_module *m, struct tdx_vcpu *v,
                                   uint32_t msr, uint64_t val);

/*
 * The same for the vCPU of a run (struct tdx_td_run, tdx-core.h), for the
 * embedder's CPU, which does not see struct tdx_vcpu.
 */
struct tdx_td_run;
int tdx_td_pi_vector(const struct tdx_td_run *run);
int tdx_td_pi_process(struct tdx_module *m, struct tdx_td_run *run);
bool tdx_td_virq_pending(const struct tdx_td_run *run, uint8_t *vector);
uint8_t tdx_td_virq_ack(struct tdx_module *m, struct tdx_td_run *run);
enum tdx_vapic_msr tdx_td_apic_rdmsr(struct tdx_td_run *run, uint32_t msr,
                                     uint64_t *val);
enum tdx_vapic_msr tdx_td_apic_wrmsr(struct tdx_module *m, struct tdx_td_run *run,
                                     uint32_t msr, uint64_t val);

#endif
