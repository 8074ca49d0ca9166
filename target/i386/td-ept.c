/*
 * tdx-emu: second stage of a TD's guest-physical addresses, the CPU's job
 * as on silicon. Private GPAs (shared bit clear) walk the S-EPT, which the
 * module core owns (tdx_td_translate_private); shared GPAs walk the EPT
 * KVM gave the TD vCPU with TDH.VP.WR (SHARED_EPT_POINTER), which lives in
 * L1 memory, so it is read like any other L1 memory and never trusted
 * beyond the entry bits.
 *
 * Called from TLB fills (td-guest.c, tdx_emu_td_stage2) on the vCPU's
 * thread, without the BQL.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "cpu.h"
#include "exec/address-spaces.h"
#include "tdx-emu-td.h"

/*
 * KVM's EPT for shared GPAs: 4-level EPT format in L1 memory, indexed with
 * the full GPA (shared bit included). A non-present entry with "suppress
 * #VE" clear is how KVM marks emulated MMIO for TDs: the TD gets #VE and
 * asks for the access with TDG.VP.VMCALL. Reserved memory-type/permission
 * combinations are EPT misconfigurations.
 */
static enum tdx_td_xlate shared_translate(struct tdx_td_run *run,
                                          uint64_t gpa, int access,
                                          uint64_t *hpa, struct tdx_td_exit *exit)
{
    uint64_t table = run->shared_eptp & TDX_EPTE_ADDR;
    const uint64_t want = access & TDX_ACCESS_RWX;
    uint64_t pte = 0;
    int level;

    for (level = 3; level >= 0; level--) {
        unsigned idx = (gpa >> (12 + 9 * level)) & 511;
        MemTxResult res;

        pte = address_space_ldq_le(&address_space_memory, table + 8 * idx,
                                   MEMTXATTRS_UNSPECIFIED, &res);
        if (res != MEMTX_OK) {
            goto misconfig;
        }
        if (!(pte & TDX_ACCESS_RWX)) {
            if (!(pte & TDX_EPTE_SUPPRESS_VE) && level == 0) {
                return tdx_td_shared_ept_ve(run, gpa, access, pte, exit);
            }
            goto violation;
        }
        if ((pte & (TDX_ACCESS_READ | TDX_ACCESS_WRITE)) == TDX_ACCESS_WRITE) {
            goto misconfig;             /* write-only is reserved */
        }
        if (level == 0 || ((level == 1 || level == 2) && (pte & TDX_EPTE_PS))) {
            break;
        }
        table = pte & TDX_EPTE_ADDR;
    }
    if ((pte & want) != want) {
        goto violation;
    }
    *hpa = (pte & TDX_EPTE_ADDR & ~((1ULL << (12 + 9 * level)) - 1)) |
           (gpa & ((1ULL << (12 + 9 * level)) - 1));
    return TDX_TD_XLATE_OK;

violation:
    tdx_td_ept_violation(gpa, access, pte, exit);
    return TDX_TD_XLATE_EXIT;
misconfig:
    *exit = (struct tdx_td_exit) {
        .reason = TDX_EXIT_REASON_EPT_MISCONFIG, .gpa = gpa,
    };
    return TDX_TD_XLATE_EXIT;
}

enum tdx_td_xlate tdx_emu_td_translate(CPUX86State *env, uint64_t gpa, int access,
                                       uint64_t *hpa, struct tdx_td_exit *exit)
{
    struct tdx_td_run *run = &env->tdx_emu_td.run;

    /* GPAs above the TD's width: like an unmapped private GPA. */
    if (gpa >> run->gpa_width) {
        gpa &= MAKE_64BIT_MASK(0, run->gpa_width);
    }
    if (gpa >> (run->gpa_width - 1) & 1) {
        return shared_translate(run, gpa, access, hpa, exit);
    }
    return tdx_td_translate_private(run, gpa, access, hpa, exit);
}
