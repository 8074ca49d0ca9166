/*
 * #VE decisions for intercepted TD instructions (td-ve.h has the facts).
 * Our own condensed form of the module's MSR table: ranges of MSR
 * indices and, per direction, whether the access is handled by the module
 * (native, virtualized, #GP or fatal in Intel's module: in the emulation
 * the CPU's own behaviour) or a #VE. Indices absent from the table are a
 * #VE both ways, as in the module, which leaves "#VE always" MSRs out of
 * its table.
 */
#include "td-ve.h"

#include <stddef.h>

#include "td.h"

#define CPUID_RESERVED_FIRST 0x40000000u
#define CPUID_RESERVED_LAST  0x4FFFFFFFu

enum { M = 0, V = 1 };  /* module handles / #VE */

static const struct msr_range {
    uint32_t first, last;
    uint8_t rd, wr;
} msr_table[] = {
    { 0x10, 0x10, M, V },                   /* TSC: writes #VE */
    { 0x48, 0x49, M, M },                   /* SPEC_CTRL, PRED_CMD */
    { 0x87, 0x87, V, V },                   /* MKTME_PARTITIONING */
    { 0x8C, 0x8F, M, M }, { 0x98, 0x9B, M, M }, { 0x9E, 0x9E, M, M },
    { 0xBC, 0xBD, M, M }, { 0xC1, 0xC8, M, M }, { 0xE1, 0xE1, M, M },
    { 0x10A, 0x10B, M, M }, { 0x122, 0x122, M, M },
    { 0x174, 0x176, M, M },                 /* SYSENTER_* */
    { 0x186, 0x18D, M, M }, { 0x195, 0x195, M, M },
    { 0x1A0, 0x1A0, M, M },                 /* MISC_ENABLE */
    { 0x1A6, 0x1A7, M, M }, { 0x1C4, 0x1C5, M, M }, { 0x1D9, 0x1D9, M, M },
    { 0x1F8, 0x1FA, V, V },                 /* DCA capabilities */
    { 0x276, 0x277, M, M },                 /* SLAM_ENABLE, PAT */
    { 0x309, 0x310, M, M }, { 0x329, 0x329, M, M }, { 0x345, 0x345, M, M },
    { 0x38D, 0x392, M, M }, { 0x3F1, 0x3F2, M, M }, { 0x3F6, 0x3F7, M, M },
    { 0x480, 0x480, M, M },                 /* VMX_BASIC */
    { 0x481, 0x484, V, V },                 /* non-TRUE VMX controls */
    { 0x485, 0x489, M, M },
    { 0x48A, 0x48A, V, V },                 /* VMX_VMCS_ENUM */
    { 0x48B, 0x492, M, M },
    { 0x4C1, 0x4C8, M, M }, { 0x500, 0x500, M, M },
    { 0x560, 0x561, M, M }, { 0x570, 0x572, M, M }, { 0x580, 0x587, M, M },
    { 0x600, 0x600, M, M }, { 0x6A0, 0x6A0, M, M }, { 0x6A2, 0x6A2, M, M },
    { 0x6A4, 0x6A8, M, M },
    { 0x6E0, 0x6E0, V, V },                 /* TSC_DEADLINE */
    { 0x6E1, 0x6E1, M, M },
    /* x2APIC registers the virtual APIC handles; the rest of 0x800..0x8FF
     * (ID, LDR, SVR, ESR, ICR, LVT, timer, ...) is #VE. */
    { 0x808, 0x808, M, M }, { 0x80A, 0x80B, M, M }, { 0x810, 0x827, M, M },
    { 0x83F, 0x83F, M, M },
    { 0x981, 0x984, V, V },                 /* TME */
    { 0x985, 0x98A, M, M },                 /* UINTR */
    { 0xC80, 0xC80, M, V },                 /* DEBUG_INTERFACE */
    { 0xD90, 0xD90, M, M }, { 0xD93, 0xD93, M, M }, { 0xDA0, 0xDA0, M, M },
    { 0x1200, 0x12FF, M, M }, { 0x14CE, 0x14CF, M, M },
    { 0x1500, 0x16FF, M, M }, { 0x1B01, 0x1B01, M, M },
    { 0xC0000080, 0xC0000082, M, M },       /* EFER, STAR, LSTAR */
    { 0xC0000084, 0xC0000084, M, M },       /* FMASK */
    { 0xC0000100, 0xC0000103, M, M },       /* FS/GS/KERNEL_GS base, TSC_AUX */
};

static const char *const counter_names[TDX_VE_NUM_COUNTERS] = {
    [TDX_VE_CNT_CPUID] = "cpuid", [TDX_VE_CNT_HLT] = "hlt",
    [TDX_VE_CNT_IO] = "io", [TDX_VE_CNT_RDMSR] = "rdmsr",
    [TDX_VE_CNT_WRMSR] = "wrmsr", [TDX_VE_CNT_EPT] = "ept",
    [TDX_VE_CNT_DF] = "df", [TDX_VE_CNT_OTHER] = "other",
};

const char *tdx_ve_counter_name(unsigned i)
{
    return i < TDX_VE_NUM_COUNTERS ? counter_names[i] : NULL;
}

/*
 * The module's CPUID table as sub-leaf ranges (our condensed form of the
 * tdx_1.5 lookup table): a leaf without sub-leaves matches any sub-leaf.
 * Rows marked faulting in Intel's table (0x6, 0x1F, 0x80000006) are left
 * out, which has the same effect: #VE.
 */
#define NO_SUBLEAF 0xFFFFFFFFu
static const struct cpuid_row {
    uint32_t leaf, sub_first, sub_last;
} cpuid_table[] = {
    { 0x0, NO_SUBLEAF, 0 }, { 0x1, NO_SUBLEAF, 0 }, { 0x3, NO_SUBLEAF, 0 },
    { 0x4, 0, 4 }, { 0x5, NO_SUBLEAF, 0 }, { 0x7, 0, 2 },
    { 0x8, NO_SUBLEAF, 0 }, { 0xA, NO_SUBLEAF, 0 }, { 0xD, 0, 0x12 },
    { 0xE, NO_SUBLEAF, 0 }, { 0x11, NO_SUBLEAF, 0 }, { 0x12, NO_SUBLEAF, 0 },
    { 0x13, NO_SUBLEAF, 0 }, { 0x14, 0, 1 }, { 0x15, NO_SUBLEAF, 0 },
    { 0x19, NO_SUBLEAF, 0 }, { 0x1C, NO_SUBLEAF, 0 }, { 0x1D, 0, 1 },
    { 0x1E, NO_SUBLEAF, 0 }, { 0x20, NO_SUBLEAF, 0 }, { 0x21, 0, 0 },
    { 0x22, NO_SUBLEAF, 0 }, { 0x23, 0, 3 },
    { 0x80000000, NO_SUBLEAF, 0 }, { 0x80000001, NO_SUBLEAF, 0 },
    { 0x80000007, NO_SUBLEAF, 0 }, { 0x80000008, NO_SUBLEAF, 0 },
};

uint32_t tdx_td_cpuid_leaf(uint32_t leaf)
{
    if (leaf >= CPUID_RESERVED_FIRST && leaf <= CPUID_RESERVED_LAST) {
        return leaf;
    }
    if (leaf > TDX_CPUID_LAST_EXT_LEAF ||
        (leaf > TDX_CPUID_LAST_BASE_LEAF && leaf < 0x80000000u)) {
        return TDX_CPUID_LAST_BASE_LEAF;
    }
    return leaf;
}

static bool cpuid_in_table(uint32_t leaf, uint32_t subleaf)
{
    for (size_t i = 0; i < sizeof(cpuid_table) / sizeof(cpuid_table[0]); i++) {
        const struct cpuid_row *row = &cpuid_table[i];

        if (row->leaf == leaf) {
            return row->sub_first == NO_SUBLEAF ||
                   (subleaf >= row->sub_first && subleaf <= row->sub_last);
        }
    }
    return false;
}

bool tdx_ve_cpuid_faults(const struct tdx_vcpu *v, uint32_t leaf,
                         uint32_t subleaf, unsigned cpl)
{
    if (!cpuid_in_table(tdx_td_cpuid_leaf(leaf), subleaf)) {
        return true;
    }
    return cpl == 0 ? v->cpuid_supervisor_ve != 0 : v->cpuid_user_ve != 0;
}

bool tdx_ve_msr_faults(uint32_t msr, bool write)
{
    for (size_t i = 0; i < sizeof(msr_table) / sizeof(msr_table[0]); i++) {
        const struct msr_range *r = &msr_table[i];

        if (msr >= r->first && msr <= r->last) {
            return (write ? r->wr : r->rd) == V;
        }
    }
    return true;
}

static enum tdx_ve_counter counter_of(uint32_t reason)
{
    switch (reason) {
    case TDX_EXIT_REASON_CPUID: return TDX_VE_CNT_CPUID;
    case TDX_EXIT_REASON_HLT:   return TDX_VE_CNT_HLT;
    case TDX_EXIT_REASON_IO:    return TDX_VE_CNT_IO;
    case TDX_EXIT_REASON_RDMSR: return TDX_VE_CNT_RDMSR;
    case TDX_EXIT_REASON_WRMSR: return TDX_VE_CNT_WRMSR;
    case TDX_EXIT_REASON_EPT_VIOLATION:   return TDX_VE_CNT_EPT;
    default:                return TDX_VE_CNT_OTHER;
    }
}

enum tdx_ve_action tdx_td_ve(struct tdx_module *m, struct tdx_vcpu *v,
                             const struct tdx_ve_event *ev)
{
    bool ve;

    switch (ev->exit_reason) {
    case TDX_EXIT_REASON_CPUID:
        ve = tdx_ve_cpuid_faults(v, ev->leaf, ev->subleaf, ev->cpl);
        break;
    case TDX_EXIT_REASON_HLT:
    case TDX_EXIT_REASON_IO:
        ve = true;
        break;
    case TDX_EXIT_REASON_RDMSR:
    case TDX_EXIT_REASON_WRMSR:
        ve = tdx_ve_msr_faults(ev->msr, ev->exit_reason == TDX_EXIT_REASON_WRMSR);
        break;
    default:
        ve = false;
        break;
    }
    if (!ve) {
        return TDX_VE_NONE;
    }
    if (v->ve_info.valid) {
        atomic_fetch_add_explicit(&m->stats.ve[TDX_VE_CNT_DF], 1,
                                  memory_order_relaxed);
        return TDX_VE_DOUBLE;
    }
    v->ve_info.valid = true;
    v->ve_info.exit_reason = ev->exit_reason;
    /* CPUID, HLT and MSR exits have no qualification; I/O has the VMX one. */
    v->ve_info.qualification =
        ev->exit_reason == TDX_EXIT_REASON_IO ? ev->qualification : 0;
    v->ve_info.gla = 0;
    v->ve_info.gpa = 0;
    v->ve_info.instr_len = ev->instr_len;
    v->ve_info.instr_info = 0;
    atomic_fetch_add_explicit(&m->stats.ve[counter_of(ev->exit_reason)], 1,
                              memory_order_relaxed);
    return TDX_VE_INJECT;
}

/* TDG.VP.VEINFO.GET (3): the last #VE's information, once. */
uint64_t tdx_tdg_vp_veinfo_get(struct tdx_call *c, struct tdx_regs *r)
{
    struct tdx_vcpu *v = c->vcpu;

    r->rcx = r->rdx = r->r8 = r->r9 = r->r10 = 0;
    if (!v->ve_info.valid) {
        return TDX_NO_VALID_VE_INFO;
    }
    r->rcx = v->ve_info.exit_reason;
    r->rdx = v->ve_info.qualification;
    r->r8 = v->ve_info.gla;
    r->r9 = v->ve_info.gpa;
    /* R10: instruction length in bits 31:0, information in 63:32. */
    r->r10 = (uint64_t)v->ve_info.instr_len |
             (v->ve_info.instr_info << 32);
    v->ve_info.valid = false;
    return TDX_SUCCESS;
}

void tdx_td_cpuid(unsigned tsc_frequency, uint32_t x2apic_id, uint32_t leaf,
                  uint32_t subleaf, uint32_t r[4])
{
    enum { EAX, EBX, ECX, EDX };

    switch (leaf) {
    case 0x0:
        r[EAX] = TDX_CPUID_LAST_BASE_LEAF;
        break;
    case 0x1:
        r[ECX] &= ~((1u << 5) | (1u << 6) | (1u << 16));  /* VMX, SMX */
        r[ECX] |= 1u << 31;                     /* hypervisor */
        r[EDX] &= ~((1u << 10) | (1u << 17) | (1u << 20) | (1u << 30));
        r[EDX] |= 1u << 9;                      /* APIC */
        r[EBX] = (r[EBX] & 0x00FFFFFFu) | (x2apic_id << 24);
        break;
    case 0x3:
    case 0x20:
        r[EAX] = r[EBX] = r[ECX] = r[EDX] = 0;
        break;
    case 0x7:
        if (subleaf == 0) {
            r[EBX] &= ~(1u << 2);               /* SGX */
            r[ECX] &= ~(1u << 13);              /* TME */
        }
        break;
    case 0x15:
        if (tsc_frequency) {
            r[EAX] = 1;
            r[EBX] = tsc_frequency;
            r[ECX] = TDX_CPUID_TSC_CRYSTAL_HZ;
            r[EDX] = 0;
        }
        break;
    case TDX_CPUID_LEAF_TDX:
        r[EAX] = r[EBX] = r[ECX] = r[EDX] = 0;
        if (subleaf == 0) {
            r[EBX] = TDX_CPUID_TDX_EBX;
            r[EDX] = TDX_CPUID_TDX_EDX;
            r[ECX] = TDX_CPUID_TDX_ECX;
        }
        break;
    default:
        break;
    }
}
