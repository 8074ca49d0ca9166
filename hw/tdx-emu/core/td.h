/*
 * Trust domains and their vCPUs as the module keeps them: the state Intel's
 * module stores in TDR/TDCS/TDVPS pages lives here, in host memory. The L1
 * pages donated for them are only accounted in the PAMT (type, owner) and
 * scrubbed; nothing is ever read back from them.
 *
 * Finding objects: the PAMT entry of a TDR page points to its struct
 * tdx_td, the entry of a TDVPR page to its struct tdx_vcpu (pamt->obj).
 * Holding the entry's lock (shared or exclusive) keeps the object alive:
 * only TDH.PHYMEM.PAGE.RECLAIM frees it, with that lock exclusive.
 *
 * Locking of fields (Intel tdx_1.5):
 *  - TDR-exclusive leaves (MNG.*, MR.*, PAGE.ADD) write plain fields;
 *    leaves holding TDR shared only read them, except the counters marked
 *    atomic, which shared holders update (CHLDCNT, NUM_VCPUS, ...).
 *  - vCPU fields are written under the TDVPR lock exclusive, except
 *    assoc_lp (CAS, also under TDVPR shared: VP.ENTER/RD/WR).
 */
#ifndef TDX_EMU_TD_H
#define TDX_EMU_TD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "measure.h"
#include "module.h"
#include "td-fields.h"
#include "td-params.h"

/*
 * Control-structure sizes; they must equal what TDH.SYS.RD reports as
 * TDCS_BASE_SIZE / TDVPS_BASE_SIZE (leaf-sys.c), because KVM allocates
 * exactly that many pages. test-mng checks they agree.
 */
#define TDX_TD_TDCS_PAGES    4          /* TDCX pages added by MNG.ADDCX */
#define TDX_TD_MAX_TDCX      9          /* Intel's MAX_NUM_TDCS_PAGES */
#define TDX_TD_TDVPS_PAGES   6          /* TDVPR + 5 TDCX (VP.ADDCX) */
#define TDX_TD_MAX_TDVPS     15         /* Intel's MAX_TDVPS_PAGES */
#define TDX_TD_MAX_VCPUS     64         /* TDH.SYS.RD MAX_VCPUS_PER_TD */
#define TDX_TDCS_SEPT_ROOT   (TDX_TD_TDCS_PAGES - 1) /* TDCX index of the S-EPT root */
#define TDX_VP_MAX_VMCS      64         /* >= VMCS rows in tdx_vp_fields */
#define TDX_MAX_HKIDS        64         /* platform: <= 64 KeyIDs in all */

/* TDR.LIFECYCLE_STATE (Intel values). */
enum tdx_td_lifecycle {
    TDX_TD_HKID_ASSIGNED   = 0,
    TDX_TD_KEYS_CONFIGURED = 1,
    TDX_TD_BLOCKED         = 2,
    TDX_TD_TEARDOWN        = 3,
};

/* TDCS.OP_STATE: only the non-migration states Linux reaches. */
enum tdx_op_state {
    TDX_OP_UNINITIALIZED = 0,
    TDX_OP_INITIALIZED   = 1,
    TDX_OP_RUNNABLE      = 2,
};

/* KOT entry of a private HKID. */
enum tdx_kot_state {
    TDX_KOT_FREE     = 0,
    TDX_KOT_ASSIGNED = 1,
    TDX_KOT_FLUSHED  = 2,
};

/* TDVPS.STATE. */
enum tdx_vcpu_state {
    TDX_VCPU_UNINITIALIZED = 0,
    TDX_VCPU_READY         = 1,
    TDX_VCPU_ACTIVE        = 2,   /* in TD-guest mode (VP.ENTER family) */
    TDX_VCPU_DISABLED      = 3,
};

#define TDX_VCPU_NO_LP  0xFFFFFFFFu

struct tdx_td {
    struct tdx_module *m;
    uint64_t tdr_pa;

    /* TDR */
    uint16_t hkid;
    uint8_t lifecycle;                  /* enum tdx_td_lifecycle */
    bool fatal;
    uint32_t pkg_config_bitmap;         /* MNG.KEY.CONFIG done per package */
    unsigned num_tdcx;
    uint64_t tdcx_pa[TDX_TD_MAX_TDCX];
    _Atomic uint64_t chldcnt;           /* 4K pages owned, TDR excluded */

    /* TDCS management */
    struct tdx_lock op_state_lock;      /* hp sharex, busy -> |OP_STATE */
    _Atomic int op_state;               /* enum tdx_op_state */
    _Atomic uint32_t num_vcpus;         /* VP.INIT done */
    _Atomic uint32_t num_assoc_vcpus;   /* vCPUs associated with some LP */

    /* TDCS execution controls, set by MNG.INIT */
    struct tdx_td_config cfg;
    uint64_t eptp;                      /* EPTP controls | S-EPT root PA */
    uint64_t tsc_offset;
    uint64_t hp_lock_timeout_ns;

    /* CPUID values as configured at MNG.INIT (read by MNG.RD). */
    unsigned num_cpuid;
    struct tdx_td_cpuid {
        uint32_t leaf, subleaf;         /* subleaf ~0: not applicable */
        uint32_t v[4];                  /* EAX EBX ECX EDX, as configured */
        uint32_t mask[4];               /* the configurable bits */
    } cpuid[TDX_MAX_CPUID_CONFIGS];

    /* Measurement */
    struct tdx_mrtd mr;
    /* Run-time measurement registers (TDG.MR.RTMR.EXTEND; tdcall-mr.c),
     * under rtmr_lock (hp sharex, busy -> |RTMR 0xA8). */
    struct tdx_lock rtmr_lock;
    uint8_t rtmr[4][48];
    /* Guest-writable TDCS controls (TDG.VM.WR; tdcall-vm.c). */
    _Atomic uint64_t td_ctls;
    _Atomic uint64_t notify_enables;

    /* Locks and state of the S-EPT / VP.ENTER / TRACK families. */
    struct tdx_lock sept_tree_lock;     /* sharex, busy -> |SEPT (0x92) */
    struct tdx_lock epoch_lock;         /* sharex, busy -> |TD_EPOCH (0xA9) */
    _Atomic uint64_t td_epoch;
    _Atomic uint32_t epoch_refcount[2];
    void *sept;                         /* owned by the S-EPT family */

    /* Scratch of tdx_td_check_invariants(). */
    uint64_t inv_owned, inv_assoc;
};

struct tdx_vcpu {
    struct tdx_td *td;                  /* == PAMT owner's object */
    uint64_t tdvpr_pa;
    uint8_t state;                      /* enum tdx_vcpu_state */
    unsigned num_pages;                 /* TDVPR + TDCX pages */
    uint64_t page_pa[TDX_TD_MAX_TDVPS];
    _Atomic uint32_t assoc_lp;          /* LP index or TDX_VCPU_NO_LP */
    uint32_t vcpu_index;
    uint32_t x2apic_id;
    uint64_t init_rcx;                  /* guest RCX at first entry */
    uint64_t vcpu_epoch;
    uint8_t pend_nmi;
    uint64_t state_details;             /* VCPU_STATE_DETAILS (intr pending) */
    /* TD-VMCS, indexed by the row of tdx_vp_fields (tdx_md_row_index). */
    uint64_t vmcs[TDX_VP_MAX_VMCS];
    void *priv;                         /* owned by the VP.ENTER family */
    /* Guest state (TDVPS), written by VP.INIT, loaded/stored by the CPU
     * side around each run (td-run.c). */
    struct tdx_vcpu_arch arch;
    /* The last TD exit was TDG.VP.VMCALL: the next VP.ENTER hands the
     * host's registers selected by vmcall_mask back to the guest. */
    bool vmcall_pending;
    uint64_t vmcall_mask;
    /* #VE information (TDVPS VE_INFO) for TDG.VP.VEINFO.GET; a second #VE
     * while it is valid becomes a TD exit instead. */
    struct {
        bool valid;
        uint32_t exit_reason;
        uint64_t qualification, gla, gpa, instr_info;
        uint32_t instr_len;             /* TDG.VP.VEINFO.GET R10[31:0] */
    } ve_info;
    /* TDVPS CPUID_SUPERVISOR_VE / CPUID_USER_VE (TDG.VP.WR): every CPUID
     * at CPL 0 / CPL > 0 is a #VE (td-ve.c). */
    uint8_t cpuid_supervisor_ve, cpuid_user_ve;
    /* Virtual APIC (TDVPS virtual-APIC page + guest interrupt status). */
    struct tdx_vapic vapic;
};

/*
 * Hook the S-EPT family installs (m->sept_resolve) for TDH.MR.EXTEND:
 * resolve a private GPA of `td` to the HPA of its MAPPED leaf page.
 * Called with the TDR held exclusively (no S-EPT lock needed, as in
 * Intel's module). Returns 0 and *hpa; 1 when the walk stops short (fill
 * ext_rcx and ext_rdx as in S-EPT errors); 2 when the leaf is not MAPPED.
 */
typedef int (*tdx_sept_resolve_fn)(struct tdx_td *td, uint64_t gpa,
                                   uint64_t *hpa, uint64_t *ext_rcx,
                                   uint64_t *ext_rdx);

/* VP.INIT: the architectural state a TD vCPU starts in (td-run.c). */
void tdx_vcpu_arch_reset(struct tdx_vcpu *v, unsigned gpa_width);

/* ---- Helpers for leaf code of every TD family (td.c) ------------------- */

/*
 * Explicit page operand (Intel's "check and lock explicit 4K HPA"):
 * 4K-aligned, no KeyID bits, inside a TDMR with PAMT ready, then the PAMT
 * entry lock in `mode` (busy -> TDX_OPERAND_BUSY|operand), then the page
 * must be a 4K page of type `type` (or any type if type < 0), else
 * TDX_PAGE_METADATA_INCORRECT|operand. *out is set on success.
 */
uint64_t tdx_td_lock_page(struct tdx_call *c, uint64_t pa, unsigned operand,
                          enum tdx_lock_mode mode, int type,
                          struct tdx_pamt_entry **out);

/* Explicit TDR operand: tdx_td_lock_page(PT_TDR) and its object. */
uint64_t tdx_td_lock_tdr(struct tdx_call *c, uint64_t tdr_pa, unsigned operand,
                         enum tdx_lock_mode mode, struct tdx_td **out);

/* Implicit TDR via a page's PAMT owner: 4K entry lock only, busy ->
 * TDX_OPERAND_BUSY|TDR (0x80). */
uint64_t tdx_td_lock_implicit_tdr(struct tdx_call *c, uint64_t owner,
                                  enum tdx_lock_mode mode, struct tdx_td **out);

/*
 * Intel's "check TD state, map TDCS, lock OP_STATE": FATAL, keys
 * configured, TDCS allocated; then (if lock_op_state) the OP_STATE lock
 * shared; then the per-leaf op-state allow table.
 */
uint64_t tdx_td_check_state(struct tdx_call *c, struct tdx_td *td,
                            bool lock_op_state);

/* Op-state allow table (Intel tdx_1.5: each leaf's op-state check), as
 * data: true if `leaf` may run. */
bool tdx_op_state_allows(unsigned leaf, int op_state);

/*
 * vCPU association (for TDH.VP.ENTER, VP.RD/WR): vCPU must be READY (or
 * DISABLED when allow_disabled); CAS assoc_lp from none to c->lp; another
 * LP -> TDX_VCPU_ASSOCIATED. A new association bumps NUM_ASSOC_VCPUS and
 * sets *new_assoc. The caller holds the TDVPR lock (shared is enough).
 */
uint64_t tdx_vcpu_associate(struct tdx_call *c, struct tdx_vcpu *v,
                            bool allow_disabled, bool *new_assoc);
/* Drop the association (VP.FLUSH). Returns false if not associated with lp. */
bool tdx_vcpu_disassociate(struct tdx_vcpu *v, unsigned lp);

/* HKID range the platform gives to TDs: [first, first + count). */
unsigned tdx_td_first_hkid(const struct tdx_module *m);
unsigned tdx_td_num_hkids(const struct tdx_module *m);

/* TD-VMCS value of a field by encoding (VP.ENTER family); false if absent. */
bool tdx_vcpu_vmcs_get(const struct tdx_vcpu *v, uint32_t encoding, uint64_t *val);
bool tdx_vcpu_vmcs_set(struct tdx_vcpu *v, uint32_t encoding, uint64_t val);

/*
 * TD invariants, for tdx_core_check_invariants(): PAMT owners point to
 * live TDs, CHLDCNT equals the pages PAMT says the TD owns, TDCX counts
 * are within bounds (== TDX_TD_TDCS_PAGES once MNG.INIT ran), KOT and
 * TD HKIDs agree, NUM_ASSOC_VCPUS matches the vCPUs' association, no TD
 * or vCPU lock held with no call in flight.
 */
bool tdx_td_check_invariants(struct tdx_module *m, char *err, size_t errlen);

/* ---- Per-leaf lock table (data; test-mng-locks drives every row) ------- */

enum tdx_lock_obj {
    TDX_LOBJ_TDR,          /* explicit TDR page (PAMT entry) */
    TDX_LOBJ_TDR_IMPLICIT, /* TDR found through another page's owner */
    TDX_LOBJ_TDVPR,        /* explicit TDVPR page */
    TDX_LOBJ_PAGE,         /* the other explicit page operand */
    TDX_LOBJ_OP_STATE,     /* TDCS op-state lock */
    TDX_LOBJ_KOT,          /* key ownership table */
    TDX_LOBJ_KET,          /* per-package key programming (PCONFIG) */
    TDX_LOBJ_WBCACHE,      /* per-package cache write-back */
    /* S-EPT / TRACK / VP.ENTER rows (sept.h: tdx_sept_lock_table) */
    TDX_LOBJ_SEPT_TREE,    /* TDCS S-EPT tree lock */
    TDX_LOBJ_SEPT_ENTRY,   /* the S-EPT entry of the GPA (host flavour) */
    TDX_LOBJ_TD_EPOCH,     /* TDCS epoch lock */
    TDX_LOBJ_PAGE_IMPLICIT,/* PAMT entry of a page found through the S-EPT */
};

struct tdx_lock_row {
    unsigned leaf;
    unsigned order;        /* acquisition order within the leaf, from 0 */
    enum tdx_lock_obj obj;
    enum tdx_lock_kind kind;
    enum tdx_lock_mode mode;
    uint32_t operand;      /* operand ID reported with TDX_OPERAND_BUSY */
};

extern const struct tdx_lock_row tdx_td_lock_table[];
extern const unsigned tdx_td_lock_table_count;

/* The TD whose TDR page is at tdr_pa, from its PAMT entry, without the
 * entry's lock: for lock-hold resolvers, which trust their caller not to
 * tear the TD down meanwhile. */
static inline struct tdx_td *tdx_td_of(struct tdx_module *m, uint64_t tdr_pa)
{
    return tdx_pamt_obj(m, tdr_pa, TDX_PT_TDR);
}

/* ---- TDH.VP.ENTER and TD exits (vp-enter.c) ------------------------------- */

#define TDX_EPF_THRESHOLD     6     /* Intel STEPPING_EPF_THRESHOLD */
#define TDX_EPF_LIST_SIZE     32    /* Intel EPF_GPA_LIST_SIZE */

/* Zero-step filter update at a TD exit (tdx_vp_exit; exposed for tests):
 * `private_ept` = an EPT violation on a private GPA that goes to the host. */
struct tdx_vp_priv;
void tdx_vp_epf_log(struct tdx_vp_priv *p, uint64_t entry_rip, uint64_t exit_rip,
                    bool private_ept, uint64_t gpa);

/* Per-vCPU state of the VP.ENTER family (struct tdx_vcpu.priv). */
struct tdx_vp_priv {
    /* zero-step filter */
    uint32_t epf_count;               /* consecutive same-RIP EPF exits */
    uint32_t epf_n;                   /* used entries of epf_gpa[] */
    uint64_t epf_gpa[TDX_EPF_LIST_SIZE];
    /* the vCPU is in the TD: these locks are held on its behalf */
    _Atomic bool in_td;
    unsigned lp;
    struct tdx_lock *tdvpr_lock, *tdr_lock;
};

#endif
