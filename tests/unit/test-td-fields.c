/* Field tables: lookup rules and the write-merge rule, driven with the
 * field IDs and masks KVM 7.2 really uses. */
#include "td-fields.h"
#include "tdx-status.h"

#include <stdio.h>

static int failures;
#define CHECK(c) do { if (!(c)) { printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #c); failures++; } } while (0)

#define KVM_FIELD(cls, code) (((uint64_t)(cls) << 56) | (code))

int main(void)
{
    const struct tdx_md_field *row;
    unsigned elem;
    uint64_t v;

    /* KVM: TDCS_EXEC(TSC_OFFSET) = class 17, code 10, no size bits. */
    CHECK(tdx_md_lookup(TDX_MD_CTX_TD, KVM_FIELD(17, 10), &row, &elem) == TDX_SUCCESS);
    CHECK(row->slot == TDX_SLOT_TDCS_TSC_OFFSET && elem == 0);
    /* Same with size/context bits set the way the module's own IDs have them. */
    CHECK(tdx_md_lookup(TDX_MD_CTX_TD, 0x111000030000000BULL, &row, &elem) == TDX_SUCCESS);
    CHECK(row->slot == TDX_SLOT_TDCS_TSC_MULTIPLIER);
    /* MRTD element 5. */
    CHECK(tdx_md_lookup(TDX_MD_CTX_TD, KVM_FIELD(0x13, 5), &row, &elem) == TDX_SUCCESS);
    CHECK(row->slot == TDX_SLOT_TDCS_MRTD && elem == 5);
    CHECK(tdx_md_lookup(TDX_MD_CTX_TD, KVM_FIELD(0x13, 6), &row, &elem) ==
          TDX_METADATA_FIELD_ID_INCORRECT);
    /* Non-zero LAST_ELEMENT / reserved bits are rejected. */
    CHECK(tdx_md_lookup(TDX_MD_CTX_TD, KVM_FIELD(17, 10) | (1ULL << 34), &row, &elem) ==
          TDX_METADATA_FIELD_ID_INCORRECT);
    CHECK(tdx_md_lookup(TDX_MD_CTX_TD, KVM_FIELD(17, 10) | (1ULL << 62), &row, &elem) ==
          TDX_METADATA_FIELD_ID_INCORRECT);
    /* Architectural vs non-arch of the same class/code are different fields. */
    CHECK(tdx_md_lookup(TDX_MD_CTX_TD, KVM_FIELD(17, 10) | TDX_MD_NON_ARCH, &row, &elem) ==
          TDX_METADATA_FIELD_ID_INCORRECT);

    /* vCPU scope: the four fields KVM writes/reads. */
    CHECK(tdx_md_lookup(TDX_MD_CTX_VP, KVM_FIELD(0, 0x203C), &row, &elem) == TDX_SUCCESS);
    CHECK(row == tdx_vmcs_field(0x203C));
    CHECK(tdx_md_lookup(TDX_MD_CTX_VP, KVM_FIELD(0, 0x2016), &row, &elem) == TDX_SUCCESS);
    CHECK(tdx_md_lookup(TDX_MD_CTX_VP, KVM_FIELD(0, 0x0002), &row, &elem) == TDX_SUCCESS);
    CHECK(tdx_md_lookup(TDX_MD_CTX_VP, KVM_FIELD(0, 0x4000), &row, &elem) == TDX_SUCCESS);
    CHECK(tdx_md_lookup(TDX_MD_CTX_VP, KVM_FIELD(32, 11), &row, &elem) == TDX_SUCCESS);
    CHECK(row->slot == TDX_SLOT_VP_PEND_NMI);
    CHECK(tdx_md_lookup(TDX_MD_CTX_VP, TDX_MD_NON_ARCH | KVM_FIELD(17, 0x100), &row, &elem) ==
          TDX_SUCCESS);
    CHECK(row->slot == TDX_SLOT_VP_STATE_DETAILS);

    /* Shared EPTP: all-ones mask write of a page-aligned root succeeds... */
    row = tdx_vmcs_field(0x203C);
    CHECK(tdx_md_merge_write(~0ULL, 0x12345000ULL, ~0ULL, row->wr_mask,
                             tdx_md_size_mask(row), true, &v) && v == 0x12345000ULL);
    /* ...but setting a non-writable low bit is refused. */
    CHECK(!tdx_md_merge_write(0x12345000ULL, 0x1234505EULL, ~0ULL, row->wr_mask,
                              tdx_md_size_mask(row), true, &v));
    /* Pin-based setbit32(POSTED_INTR): mask = value = bit 7, other bits kept. */
    row = tdx_vmcs_field(0x4000);
    CHECK(tdx_md_merge_write(0x16, 0x80, 0x80, row->wr_mask, tdx_md_size_mask(row),
                             false, &v) && v == 0x96);
    /* 16-bit NV written with a 16-bit mask. */
    row = tdx_vmcs_field(0x0002);
    CHECK(tdx_md_merge_write(0xFFFF, 0xF2, 0xFFFF, row->wr_mask, tdx_md_size_mask(row),
                             false, &v) && v == 0xF2);

    /* CPUID field decoding: leaf 0x80000008, no sub-leaf, element 1. */
    uint64_t id = 0x9410000300000000ULL | (1 << 16) | (8 << 9) | 0x1FE | 1;
    uint32_t leaf, sub;
    bool na;
    CHECK(tdx_md_is_cpuid_field(id));
    tdx_md_cpuid_decode(id, &leaf, &sub, &na, &elem);
    CHECK(leaf == 0x80000008u && na && elem == 1);

    printf("%s\n", failures ? "FAILED" : "ok");
    return failures != 0;
}
