/*
 * The one table of leaf names: every host (SEAMCALL) and guest (TDCALL)
 * leaf the module knows by name, implemented or not, for traces,
 * statistics, injection rules and monitors. The dispatcher's tables
 * (dispatch.c) hold handlers only and take their names from here.
 */
#include <stddef.h>

#include "tdx-leaves.h"

static const char *const host_leaf_names[TDX_MAX_LEAF] = {
    [TDH_VP_ENTER] = "TDH.VP.ENTER",
    [TDH_MNG_ADDCX] = "TDH.MNG.ADDCX",
    [TDH_MEM_PAGE_ADD] = "TDH.MEM.PAGE.ADD",
    [TDH_MEM_SEPT_ADD] = "TDH.MEM.SEPT.ADD",
    [TDH_VP_ADDCX] = "TDH.VP.ADDCX",
    [TDH_MEM_PAGE_AUG] = "TDH.MEM.PAGE.AUG",
    [TDH_MEM_RANGE_BLOCK] = "TDH.MEM.RANGE.BLOCK",
    [TDH_MNG_KEY_CONFIG] = "TDH.MNG.KEY.CONFIG",
    [TDH_MNG_CREATE] = "TDH.MNG.CREATE",
    [TDH_VP_CREATE] = "TDH.VP.CREATE",
    [TDH_MNG_RD] = "TDH.MNG.RD",
    [TDH_MNG_WR] = "TDH.MNG.WR",
    [TDH_MR_EXTEND] = "TDH.MR.EXTEND",
    [TDH_MR_FINALIZE] = "TDH.MR.FINALIZE",
    [TDH_VP_FLUSH] = "TDH.VP.FLUSH",
    [TDH_MNG_VPFLUSHDONE] = "TDH.MNG.VPFLUSHDONE",
    [TDH_MNG_KEY_FREEID] = "TDH.MNG.KEY.FREEID",
    [TDH_MNG_INIT] = "TDH.MNG.INIT",
    [TDH_VP_INIT] = "TDH.VP.INIT",
    [TDH_PHYMEM_PAGE_RDMD] = "TDH.PHYMEM.PAGE.RDMD",
    [TDH_VP_RD] = "TDH.VP.RD",
    [TDH_PHYMEM_PAGE_RECLAIM] = "TDH.PHYMEM.PAGE.RECLAIM",
    [TDH_MEM_PAGE_REMOVE] = "TDH.MEM.PAGE.REMOVE",
    [TDH_MEM_SEPT_REMOVE] = "TDH.MEM.SEPT.REMOVE",
    [TDH_SYS_KEY_CONFIG] = "TDH.SYS.KEY.CONFIG",
    [TDH_SYS_INIT] = "TDH.SYS.INIT",
    [TDH_SYS_RD] = "TDH.SYS.RD",
    [TDH_SYS_LP_INIT] = "TDH.SYS.LP.INIT",
    [TDH_SYS_TDMR_INIT] = "TDH.SYS.TDMR.INIT",
    [TDH_SYS_RDALL] = "TDH.SYS.RDALL",
    [TDH_MEM_TRACK] = "TDH.MEM.TRACK",
    [TDH_MEM_RANGE_UNBLOCK] = "TDH.MEM.RANGE.UNBLOCK",
    [TDH_PHYMEM_CACHE_WB] = "TDH.PHYMEM.CACHE.WB",
    [TDH_PHYMEM_PAGE_WBINVD] = "TDH.PHYMEM.PAGE.WBINVD",
    [TDH_VP_WR] = "TDH.VP.WR",
    [TDH_SYS_LP_SHUTDOWN] = "TDH.SYS.LP.SHUTDOWN",
    [TDH_SYS_CONFIG] = "TDH.SYS.CONFIG",
    [TDH_SYS_SHUTDOWN] = "TDH.SYS.SHUTDOWN",
    [TDH_SYS_UPDATE] = "TDH.SYS.UPDATE",
    [TDH_SYS_DISABLE] = "TDH.SYS.DISABLE",
};

static const char *const guest_leaf_names[TDX_MAX_GUEST_LEAF] = {
    [TDG_VP_VMCALL] = "TDG.VP.VMCALL",
    [TDG_VP_INFO] = "TDG.VP.INFO",
    [TDG_MR_RTMR_EXTEND] = "TDG.MR.RTMR.EXTEND",
    [TDG_VP_VEINFO_GET] = "TDG.VP.VEINFO.GET",
    [TDG_MR_REPORT] = "TDG.MR.REPORT",
    [TDG_MEM_PAGE_ACCEPT] = "TDG.MEM.PAGE.ACCEPT",
    [TDG_VM_RD] = "TDG.VM.RD",
    [TDG_VM_WR] = "TDG.VM.WR",
    [TDG_VP_RD] = "TDG.VP.RD",
    [TDG_VP_WR] = "TDG.VP.WR",
};

const char *tdx_host_leaf_name(unsigned leaf)
{
    return leaf < TDX_MAX_LEAF ? host_leaf_names[leaf] : NULL;
}

const char *tdx_guest_leaf_name(unsigned leaf)
{
    return leaf < TDX_MAX_GUEST_LEAF ? guest_leaf_names[leaf] : NULL;
}

const char *tdx_leaf_slot_name(unsigned slot)
{
    return slot < TDX_MAX_LEAF ? tdx_host_leaf_name(slot)
                               : tdx_guest_leaf_name(slot - TDX_MAX_LEAF);
}

bool tdx_leaf_name_equal(const char *want, const char *name)
{
    for (; *want && *name; want++, name++) {
        char a = *want >= 'a' && *want <= 'z' ? *want - 'a' + 'A' : *want;

        if ((a == '_' ? '.' : a) != *name) {
            return false;
        }
    }
    return !*want && !*name;
}

static int by_name(const char *const *names, unsigned count, const char *name)
{
    for (unsigned leaf = 0; name && leaf < count; leaf++) {
        if (names[leaf] && tdx_leaf_name_equal(name, names[leaf])) {
            return (int)leaf;
        }
    }
    return -1;
}

int tdx_host_leaf_by_name(const char *name)
{
    return by_name(host_leaf_names, TDX_MAX_LEAF, name);
}

int tdx_guest_leaf_by_name(const char *name)
{
    return by_name(guest_leaf_names, TDX_MAX_GUEST_LEAF, name);
}
