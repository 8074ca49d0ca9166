/*
 * What a TD vCPU sees while it runs, apart from its leaves: the state it
 * starts in, and the second stage of its private GPAs (the S-EPT walk the
 * CPU asks for at every TLB fill, turned into an EPT-violation exit or a
 * #VE with its VE_INFO when the walk fails). Shared GPAs are the CPU's
 * business (target/i386/td-ept.c walks KVM's EPT in L1 memory).
 */
#include <string.h>

#include "sept.h"
#include "td.h"
#include "td-ve.h"
#include "tdx-vmx.h"

enum { GPR_RCX = 1, GPR_RBX = 3, GPR_RSI = 6 };

static void seg_flat(struct tdx_seg *s, uint16_t sel, uint32_t type)
{
    /* P, S, DPL 0, D/B and G set: a flat 4 GiB 32-bit segment. */
    s->selector = sel;
    s->base = 0;
    s->limit = 0xFFFFFFFF;
    s->flags = (type << 8) | (1u << 12) | (1u << 15) | (1u << 22) | (1u << 23);
}

/*
 * The state a TD vCPU starts in (TDX module ABI, "TD vCPU initial state";
 * what TDVF's reset vector expects): 32-bit protected mode, paging off,
 * flat segments, RIP at the reset vector, EFER.LME already set so that
 * enabling PAE paging enters IA-32e mode, RBX = GPAW, RSI = vCPU index,
 * RCX = the host's VP.INIT parameter.
 */
void tdx_vcpu_arch_reset(struct tdx_vcpu *v, unsigned gpa_width)
{
    struct tdx_vcpu_arch *a = &v->arch;

    memset(a, 0, sizeof(*a));
    a->rip = 0xFFFFFFF0;
    a->rflags = 0x2;
    a->cr0 = 0x31;                  /* PE, ET, NE */
    a->cr4 = 0x40;                  /* MCE */
    a->efer = 0x900;                /* LME, NXE */
    a->xcr0 = 0x1;
    a->pat = 0x0007040600070406ULL;
    a->gpr[GPR_RBX] = gpa_width;
    a->gpr[GPR_RCX] = v->init_rcx;
    a->gpr[GPR_RSI] = v->vcpu_index;
    seg_flat(&a->seg[TDX_SEG_CS], 0x08, 0xB);      /* code, read, accessed */
    for (unsigned s = 0; s <= TDX_SEG_GS; s++) {
        if (s != TDX_SEG_CS) {
            seg_flat(&a->seg[s], 0x10, 0x3);       /* data, write, accessed */
        }
    }
    a->seg[TDX_SEG_LDTR].flags = 2u << 8 | 1u << 15;        /* LDT, present */
    a->seg[TDX_SEG_LDTR].limit = 0xFFFF;
    a->seg[TDX_SEG_TR].flags = 11u << 8 | 1u << 15;         /* busy TSS */
    a->seg[TDX_SEG_TR].limit = 0xFFFF;
    a->gdtr_limit = a->idtr_limit = 0xFFFF;
}

/*
 * An EPT violation that the CPU turns into a #VE (entry with suppress-#VE
 * clear, private or shared): VE_INFO as TDG.VP.VEINFO.GET reports it. On
 * silicon a #VE needs VE_INFO free; while it is valid, the violation is a
 * TD exit instead (false). The guest linear address follows at the fault
 * (tdx_td_ept_ve_gla()).
 */
static bool ept_ve_info(struct tdx_td_run *run, uint64_t gpa, unsigned want,
                        uint64_t entry_perm)
{
    struct tdx_vcpu *v = run->vcpu;

    if (v->ve_info.valid) {
        return false;
    }
    v->ve_info.valid = true;
    v->ve_info.exit_reason = TDX_EXIT_REASON_EPT_VIOLATION;
    v->ve_info.qualification = want |
        ((entry_perm & TDX_ACCESS_RWX) << TDX_EPT_QUAL_PERM_SHIFT);
    v->ve_info.gla = 0;
    v->ve_info.gpa = gpa;
    v->ve_info.instr_info = 0;
    v->ve_info.instr_len = 0;
    atomic_fetch_add_explicit(&v->td->m->stats.ve[TDX_VE_CNT_EPT], 1,
                              memory_order_relaxed);
    return true;
}

enum tdx_td_xlate tdx_td_shared_ept_ve(struct tdx_td_run *run, uint64_t gpa,
                                       int access, uint64_t entry,
                                       struct tdx_td_exit *exit)
{
    const unsigned want = access & TDX_ACCESS_RWX;

    if (ept_ve_info(run, gpa, want, entry)) {
        return TDX_TD_XLATE_VE;
    }
    tdx_td_ept_violation(gpa, access, entry, exit);
    return TDX_TD_XLATE_EXIT;
}

void tdx_td_ept_violation(uint64_t gpa, int access, uint64_t entry,
                          struct tdx_td_exit *exit)
{
    *exit = (struct tdx_td_exit) {
        .reason = TDX_EXIT_REASON_EPT_VIOLATION,
        .qualification = (access & TDX_ACCESS_RWX) |
                         ((entry & TDX_ACCESS_RWX) << TDX_EPT_QUAL_PERM_SHIFT) |
                         TDX_EPT_QUAL_GPA_VALID | TDX_EPT_QUAL_TRANSLATED,
        .gpa = gpa,
    };
}

void tdx_td_ept_ve_gla(struct tdx_td_run *run, uint64_t gla, bool final)
{
    struct tdx_vcpu *v = run->vcpu;

    if (!v->ve_info.valid ||
        v->ve_info.exit_reason != TDX_EXIT_REASON_EPT_VIOLATION) {
        return;
    }
    v->ve_info.gla = gla;
    v->ve_info.qualification |= TDX_EPT_QUAL_GPA_VALID |
                                (final ? TDX_EPT_QUAL_TRANSLATED : 0);
}

enum tdx_td_xlate tdx_td_translate_private(struct tdx_td_run *run, uint64_t gpa,
                                           int access, uint64_t *hpa,
                                           struct tdx_td_exit *exit)
{
    const unsigned want = access & TDX_ACCESS_RWX;

    if (tdx_sept_translate(run->td, gpa, want, hpa, NULL, NULL, NULL) ==
        TDX_XLATE_OK) {
        return TDX_TD_XLATE_OK;
    }
    if (tdx_sept_classify_fault(run->td, gpa) == TDX_FAULT_VE &&
        ept_ve_info(run, gpa, want, 0)) {
        return TDX_TD_XLATE_VE;
    }
    *exit = (struct tdx_td_exit) {
        .reason = TDX_EXIT_REASON_EPT_VIOLATION,
        .qualification = want | TDX_EPT_QUAL_GPA_VALID | TDX_EPT_QUAL_TRANSLATED,
        .ext_qualification = TDX_EXT_QUAL_NORMAL,
        .gpa = gpa,
    };
    return TDX_TD_XLATE_EXIT;
}

enum tdx_td_tlb_reason tdx_td_run_tlb_reason(const struct tdx_td_run *run,
                                             const struct tdx_vcpu *last_vcpu,
                                             uint64_t last_shared_eptp)
{
    if (run->flush_tlb) {
        return TDX_TD_TLB_TRACKING;
    }
    /* Translations are per vCPU (its own CR3, its own VE_INFO decisions);
     * a vCPU that ran elsewhere in between came back with flush_tlb set. */
    if (last_vcpu != run->vcpu) {
        return TDX_TD_TLB_OTHER_VCPU;
    }
    /* Shared GPAs went through KVM's EPT: another root, other mappings. */
    if (last_shared_eptp != run->shared_eptp) {
        return TDX_TD_TLB_SHARED_EPTP;
    }
    return TDX_TD_TLB_KEEP;
}

_Static_assert(TDX_TD_TLB_NUM_REASONS <= sizeof(((struct tdx_stats *)0)->td_tlb) /
               sizeof(((struct tdx_stats *)0)->td_tlb[0]), "stats.td_tlb too small");

void tdx_td_tlb_count(struct tdx_module *m, enum tdx_td_tlb_reason why)
{
    if ((unsigned)why < TDX_TD_TLB_NUM_REASONS) {
        atomic_fetch_add_explicit(&m->stats.td_tlb[why], 1, memory_order_relaxed);
    }
}

const char *tdx_td_tlb_reason_name(enum tdx_td_tlb_reason why)
{
    static const char *const names[TDX_TD_TLB_NUM_REASONS] = {
        [TDX_TD_TLB_KEEP] = "kept",
        [TDX_TD_TLB_TRACKING] = "tlb-tracking",
        [TDX_TD_TLB_OTHER_VCPU] = "other-vcpu",
        [TDX_TD_TLB_SHARED_EPTP] = "shared-eptp",
        [TDX_TD_TLB_INVEPT] = "invept",
    };

    return (unsigned)why < TDX_TD_TLB_NUM_REASONS ? names[why] : NULL;
}

/*
 * Intel's two kinds of configurable CPUID bits (TDH.MNG.INIT): feature
 * flags are "allow direct", the TD sees one only if the CPU has it and the
 * VMM left it set (a VMM cannot give a TD an instruction the CPU lacks);
 * others are "config direct", the VMM's value as it is (family/model/
 * stepping, CLFLUSH size). Rows: the leaves whose configuration reaches
 * the TD, and their registers (bit k = EAX..EDX) that are allow-direct.
 * The other configurable leaves (0xD: XSAVE, which Intel's module derives
 * from XFAM; 0x80000008: address widths) are validated at TDH.MNG.INIT but
 * the TD sees the CPU's values: applying the VMM's XCR0 bits to 0xD.0 EAX
 * without the matching sizes makes Linux disable XSAVE and oops.
 */
static const struct {
    uint32_t leaf;
    uint8_t allow_direct_regs;
} cpuid_applied[] = {
    { 0x1, 1 << 2 | 1 << 3 },                   /* ECX, EDX */
    { 0x7, 1 << 1 | 1 << 2 | 1 << 3 },          /* EBX, ECX, EDX */
};

/* -1: the leaf's configuration does not reach the TD; else the regs mask. */
static int cpuid_applied_regs(uint32_t leaf)
{
    for (unsigned i = 0; i < sizeof(cpuid_applied) / sizeof(cpuid_applied[0]); i++) {
        if (cpuid_applied[i].leaf == leaf) {
            return cpuid_applied[i].allow_direct_regs;
        }
    }
    return -1;
}

/*
 * What the TD sees: the CPU's values, the VMM's TD_PARAMS configuration
 * applied to the configurable bits of the leaves above (validated at
 * TDH.MNG.INIT)
 * (CPUID(1).EAX configured 0 means the native F/M/S, as in Intel's
 * module), then the module's fixed and dynamic bits (tdx_td_cpuid()),
 * which win.
 */
void tdx_td_run_cpuid(const struct tdx_td_run *run, uint32_t leaf,
                      uint32_t subleaf, uint32_t r[4])
{
    const struct tdx_td *td = run->td;
    int allow_direct = cpuid_applied_regs(leaf);

    for (unsigned i = 0; allow_direct >= 0 && i < td->num_cpuid; i++) {
        const struct tdx_td_cpuid *e = &td->cpuid[i];

        if (e->leaf != leaf || (e->subleaf != 0xFFFFFFFFu && e->subleaf != subleaf)) {
            continue;
        }
        for (unsigned k = 0; k < 4; k++) {
            if (allow_direct >> k & 1) {
                r[k] &= e->v[k] | ~e->mask[k];
            } else if (!(leaf == 1 && k == 0 && e->v[0] == 0)) {
                r[k] = (r[k] & ~e->mask[k]) | (e->v[k] & e->mask[k]);
            }
        }
        break;
    }
    tdx_td_cpuid(run->td->cfg.tsc_frequency, run->vcpu->x2apic_id, leaf,
                 subleaf, r);
}
