/*
 * SEAMCALL (host) and TDCALL (guest) leaf numbers: RAX bits 15:0 at entry;
 * bits 23:16 hold the leaf version. Numbers per Intel's TDX module ABI
 * (tdx_1.5), as Linux 7.2 uses them (arch/x86/virt/vmx/tdx/tdx.h).
 */
#ifndef TDX_EMU_LEAVES_H
#define TDX_EMU_LEAVES_H

#include <stdbool.h>

/* P-SEAMLDR leaves: the whole of RAX, bit 63 set (SEAMLDR interface spec). */
#define TDX_SEAMLDR_LEAF_BIT    (1ULL << 63)
#define TDX_SEAMLDR_INFO        (TDX_SEAMLDR_LEAF_BIT | 0)
#define TDX_SEAMLDR_INSTALL     (TDX_SEAMLDR_LEAF_BIT | 1)

enum tdx_host_leaf {
    TDH_VP_ENTER            = 0,
    TDH_MNG_ADDCX           = 1,
    TDH_MEM_PAGE_ADD        = 2,
    TDH_MEM_SEPT_ADD        = 3,
    TDH_VP_ADDCX            = 4,
    TDH_MEM_PAGE_RELOCATE   = 5,
    TDH_MEM_PAGE_AUG        = 6,
    TDH_MEM_RANGE_BLOCK     = 7,
    TDH_MNG_KEY_CONFIG      = 8,
    TDH_MNG_CREATE          = 9,
    TDH_VP_CREATE           = 10,
    TDH_MNG_RD              = 11,
    TDH_MEM_RD              = 12,
    TDH_MNG_WR              = 13,
    TDH_MEM_WR              = 14,
    TDH_MR_EXTEND           = 16,
    TDH_MR_FINALIZE         = 17,
    TDH_VP_FLUSH            = 18,
    TDH_MNG_VPFLUSHDONE     = 19,
    TDH_MNG_KEY_FREEID      = 20,
    TDH_MNG_INIT            = 21,
    TDH_VP_INIT             = 22,
    TDH_PHYMEM_PAGE_RDMD    = 24,
    TDH_MEM_SEPT_RD         = 25,
    TDH_VP_RD               = 26,
    TDH_PHYMEM_PAGE_RECLAIM = 28,
    TDH_MEM_PAGE_REMOVE     = 29,
    TDH_MEM_SEPT_REMOVE     = 30,
    TDH_SYS_KEY_CONFIG      = 31,
    TDH_SYS_INIT            = 33,
    TDH_SYS_RD              = 34,
    TDH_SYS_LP_INIT         = 35,
    TDH_SYS_TDMR_INIT       = 36,
    TDH_SYS_RDALL           = 37,
    TDH_MEM_TRACK           = 38,
    TDH_MEM_RANGE_UNBLOCK   = 39,
    TDH_PHYMEM_CACHE_WB     = 40,
    TDH_PHYMEM_PAGE_WBINVD  = 41,
    TDH_VP_WR               = 43,
    TDH_SYS_LP_SHUTDOWN     = 44,
    TDH_SYS_CONFIG          = 45,
    TDH_SYS_SHUTDOWN        = 52,
    TDH_SYS_UPDATE          = 53,
    TDH_SYS_DISABLE         = 69,
};

/* Leaf numbers are below this; tables are indexed by leaf. */
#define TDX_MAX_LEAF 70

enum tdx_guest_leaf {
    TDG_VP_VMCALL       = 0,
    TDG_VP_INFO         = 1,
    TDG_MR_RTMR_EXTEND  = 2,
    TDG_VP_VEINFO_GET   = 3,
    TDG_MR_REPORT       = 4,
    TDG_MEM_PAGE_ACCEPT = 6,
    TDG_VM_RD           = 7,
    TDG_VM_WR           = 8,
    TDG_VP_RD           = 9,
    TDG_VP_WR           = 10,
};

/* Guest leaf numbers are below this. */
#define TDX_MAX_GUEST_LEAF 32

/* Name of a host leaf ("TDH.MEM.PAGE.AUG"), or NULL. */
const char *tdx_host_leaf_name(unsigned leaf);
/*
 * Number of the host leaf called `name`, or -1. Case does not matter, and
 * '_' stands for '.', so Linux's macro names work too ("tdh_mem_page_aug",
 * "TDH_MEM_PAGE_AUG").
 */
int tdx_host_leaf_by_name(const char *name);
/* Name of a guest leaf ("TDG.MEM.PAGE.ACCEPT"), or NULL. */
const char *tdx_guest_leaf_name(unsigned leaf);
/* Number of the guest leaf called `name` (same spelling rules), or -1. */
int tdx_guest_leaf_by_name(const char *name);
/* Case-blind leaf-name comparison with '_' standing for '.'. */
bool tdx_leaf_name_equal(const char *want, const char *name);

/*
 * Statistics and injection rules index host and guest leaves in one space:
 * host leaf n is slot n, guest leaf g is slot TDX_MAX_LEAF + g.
 */
#define TDX_NUM_LEAF_SLOTS (TDX_MAX_LEAF + TDX_MAX_GUEST_LEAF)
#define TDX_GUEST_LEAF_SLOT(g) (TDX_MAX_LEAF + (g))
/* Name of a leaf slot ("TDH.VP.ENTER", "TDG.VP.VMCALL"), or NULL. */
const char *tdx_leaf_slot_name(unsigned slot);

#endif
