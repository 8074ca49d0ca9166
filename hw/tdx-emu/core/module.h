/*
 * Internal state of the emulated TDX module. Everything the module knows
 * lives here, in host memory; nothing is ever read back from pages L1 can
 * write (rule 6 of ARCHITECTURE.md).
 */
#ifndef TDX_EMU_MODULE_H
#define TDX_EMU_MODULE_H

#include <pthread.h>

#include "inject.h"
#include "paths.h"
#include "td-apic.h"
#include "locks.h"
#include "tdx-core.h"

#define TDX_PAGE_SIZE   4096ULL
#define TDX_1G          (1ULL << 30)
#define TDX_MAX_TDMRS   64
#define TDX_MAX_RSVD_PER_TDMR 16
#define TDX_PAMT_ENTRY_SIZE 16      /* bytes per PAMT entry, any level */

/* Module lifecycle (Intel: SYSINIT_PENDING ... SYS_SHUTDOWN). */
enum tdx_sys_state {
    TDX_SYS_INIT_PENDING,
    TDX_SYS_INIT_DONE,
    TDX_SYS_CONFIG_DONE,
    TDX_SYS_READY,
    TDX_SYS_STATE_SHUTDOWN,
};

/* PAMT page types; values as the module reports them (PHYMEM.PAGE.RDMD). */
enum tdx_page_type {
    TDX_PT_NDA   = 0,   /* not assigned to the module: L1's */
    TDX_PT_RSVD  = 1,   /* reserved (PAMT itself, TDMR holes) */
    TDX_PT_REG   = 3,   /* TD private page */
    TDX_PT_TDR   = 4,
    TDX_PT_TDCX  = 5,
    TDX_PT_TDVPR = 6,
    TDX_PT_EPT   = 8,   /* Secure-EPT page */
};

/* One entry per 4 KiB page of RAM. */
struct tdx_pamt_entry {
    struct tdx_lock lock;       /* hp sharex */
    uint8_t type;               /* enum tdx_page_type */
    uint8_t size;               /* 0 = 4K, 1 = 2M, 2 = 1G */
    uint64_t owner;             /* TDR PA of the owning TD, 0 if none */
    /* Module object of the page (td.h): struct tdx_td for PT_TDR,
     * struct tdx_vcpu for PT_TDVPR, else NULL. Read/written under the
     * entry's lock. */
    void *obj;
    /* TD epoch when the page (or, for PT_EPT, the entry pointing to it)
     * was blocked (TDH.MEM.RANGE.BLOCK); 0 when added. Accessed without the
     * entry lock, as in Intel's module, hence atomic. (S-EPT family) */
    _Atomic uint64_t bepoch;
};

/*
 * PAMT for one CMR: entries for [base, base + size), allocated lazily per
 * 2 MiB chunk on first lookup, so a large L1 costs nothing until its pages
 * are handed to the module (and the invariant checker skips what was never
 * touched).
 */
#define TDX_PAMT_CHUNK_PAGES 512

struct tdx_pamt_block {
    uint64_t base, size;
    uint64_t num_chunks;
    struct tdx_pamt_entry *_Atomic *chunks;
};

struct tdx_rsvd_area {
    uint64_t offset, size;
};

/* A TDMR as L1 configured it with TDH.SYS.CONFIG (copied, then trusted). */
struct tdx_tdmr {
    uint64_t base, size;
    uint64_t pamt_base[3], pamt_size[3];   /* 4K, 2M, 1G */
    unsigned num_rsvd;
    struct tdx_rsvd_area rsvd[TDX_MAX_RSVD_PER_TDMR];
    uint64_t init_done;                    /* bytes of PAMT initialized */
    struct tdx_lock init_lock;             /* mutex (SYS.TDMR.INIT) */
};

struct tdx_lp {
    bool initialized;                      /* TDH.SYS.LP.INIT done */
    /*
     * This LP's last SEAMCALL if it returned a busy status (leaf + 1, 0:
     * none) and its RCX/RDX, to recognize the caller's immediate retry for
     * rules with spare_retries. Written only by calls on this LP.
     */
    unsigned last_busy_leaf;
    uint64_t last_busy_rcx, last_busy_rdx;
};

struct tdx_module {
    struct tdx_platform_desc desc;
    struct tdx_platform_ops ops;
    void *opaque;

    struct tdx_lock global_lock;           /* sharex, busy -> TDX_SYS_BUSY */
    struct tdx_lock pkg_lock[TDX_MAX_PKGS];  /* mutex: key programming */
    _Atomic int sys_state;                 /* enum tdx_sys_state */
    struct tdx_lp lp[TDX_MAX_LPS];
    unsigned lps_initialized;
    uint32_t pkgs_configured;              /* bitmap of SYS.KEY.CONFIG */
    uint16_t global_hkid;

    unsigned num_tdmrs;
    struct tdx_tdmr tdmr[TDX_MAX_TDMRS];
    /* SYS.CONFIG validates into here first; global lock held exclusive. */
    struct tdx_tdmr staged_tdmr[TDX_MAX_TDMRS];

    unsigned num_pamt_blocks;
    struct tdx_pamt_block pamt[TDX_MAX_CMRS];
    /* PA bits below the KeyID bits; fixed by desc, computed once at create
     * (every page operand is checked against it). */
    unsigned keyid_shift;

    struct tdx_inject inject;
    struct tdx_stats stats;
    struct tdx_paths paths;                /* busy-path recognition */
    struct tdx_apic_stats apic_stats;      /* virtual APICs of TD vCPUs */

    /* TD families (td.h): key ownership table and cache write-back. */
    struct tdx_lock kot_lock;              /* sharex, busy -> |KOT */
    uint8_t kot_state[64];                 /* enum tdx_kot_state, by HKID */
    _Atomic uint32_t kot_wbinvd[64];       /* packages still to CACHE.WB */
    struct tdx_lock wbcache_lock[TDX_MAX_PKGS]; /* mutex, busy -> |WBCACHE */
    bool wbcache_saved[TDX_MAX_PKGS];      /* an interrupted WB can resume */
    uint64_t wbcache_hkids[TDX_MAX_PKGS];  /* HKIDs that WB covers */
    /* S-EPT family hook for TDH.MR.EXTEND (td.h: tdx_sept_resolve_fn). */
    void *sept_resolve;
};

/*
 * A call in flight: which leaf on which LP, and every lock it holds, so
 * the single unwind path releases exactly what was taken.
 */
#define TDX_CALL_MAX_HELD 16

struct tdx_held_lock {
    struct tdx_lock *lock;
    enum tdx_lock_mode mode;
};

struct tdx_call {
    struct tdx_module *m;
    unsigned lp;
    unsigned leaf;
    unsigned version;
    bool host;                  /* SEAMCALL (true) or TDCALL */
    bool loader;                /* P-SEAMLDR call (RAX bit 63) */
    bool injected;              /* the returned status came from a rule */
    bool retry;                 /* same leaf and RCX/RDX as this LP's last
                                   call, which returned a busy status */
    uint64_t rcx_in, rdx_in;    /* as the call came in */
    uint64_t t0;                /* clock at entry (only with a trace sink) */
    uint64_t tdr_pa;            /* TD the call is about, for rule filters */
    uint64_t gpa;               /* GPA the call is about, or ~0 */
    struct tdx_vcpu *vcpu;      /* TDCALL: the calling vCPU; else NULL */
    /* TDH.VP.ENTER: the run record to fill; TDCALL: the running vCPU's. */
    struct tdx_td_run *run;
    /* TDCALL: the TD exit a leaf asks for (with outcome EXIT*). */
    struct tdx_td_exit *exit;
    /* enum tdx_seamcall_result (host) / tdx_tdcall_result (guest); zero
     * is DONE for both. */
    int outcome;
    /* The call asked for something this module does not know (see
     * struct tdx_stats.unknown): a leaf/version it lacks (the dispatchers)
     * or a metadata field ID (the epilogue, from FIELD_ID_INCORRECT). */
    bool unknown;
    bool unknown_is_leaf;       /* unknown_what is RAX, else a field ID */
    uint64_t unknown_what;
    /* TDH.MR.FINALIZE that succeeded: the MRTD, copied for the trace. */
    bool has_mrtd;
    uint8_t mrtd[48];
    unsigned num_held;
    /* Last: only held[0 .. num_held) is ever read, so the dispatcher
     * zeroes the call up to here and not these 256 bytes (hot path). */
    struct tdx_held_lock held[TDX_CALL_MAX_HELD];
};

/*
 * Acquire `lock` for call `c` at one of the leaf's lock points. First asks
 * the injection engine whether a status rule fires for (leaf, operand)
 * here; then tries the lock. Returns TDX_SUCCESS or the status the leaf
 * must return: busy_status (TDX_OPERAND_BUSY|operand, TDX_SYS_BUSY, ...) or,
 * for guest tries of a hp lock, TDX_OPERAND_BUSY_HOST_PRIORITY|operand.
 */
uint64_t tdx_call_lock(struct tdx_call *c, struct tdx_lock *lock,
                       enum tdx_lock_kind kind, enum tdx_lock_mode mode,
                       uint64_t busy_status);
/* Release everything the call holds, newest first. */
void tdx_call_unlock_all(struct tdx_call *c);
/* Prologue of every call: fields from the registers, retry detection,
 * expired lock holds dropped. */
void tdx_call_begin(struct tdx_call *c, struct tdx_module *m, unsigned lp,
                    const struct tdx_regs *regs, bool host);
/* Epilogue of every call: unwind, guest status rewrite, busy-path
 * recognition, then tdx_call_complete() unless a TDH.VP.ENTER entered the
 * TD. Returns the status the caller sees. */
uint64_t tdx_call_end(struct tdx_call *c, uint64_t status);
/* The call's completion: statistics, this LP's last-busy record, trace.
 * `exit`: the TD exit that completes a TDH.VP.ENTER, else NULL. */
void tdx_call_complete(struct tdx_call *c, uint64_t status,
                       const struct tdx_td_exit *exit);

/* PAMT entry of a 4K-aligned PA inside RAM, or NULL. */
struct tdx_pamt_entry *tdx_pamt_lookup(struct tdx_module *m, uint64_t pa);
/* True when pa lies in a configured TDMR and outside its reserved areas. */
bool tdx_pa_in_tdmr(struct tdx_module *m, uint64_t pa);
/* Module object of a page of type `type` (PAMT obj), or NULL. */
void *tdx_pamt_obj(struct tdx_module *m, uint64_t pa, unsigned type);
/* [base, end) lies in convertible memory (touching CMRs count as one). */
bool tdx_range_in_cmrs(const struct tdx_module *m, uint64_t base, uint64_t end);
/* Per-leaf statistics of one call (calls, ok/error/busy, injected), by
 * leaf slot (tdx-leaves.h). */
void tdx_account_call(struct tdx_module *m, unsigned leaf, uint64_t status,
                      bool injected);
/* A P-SEAMLDR leaf (RAX bit 63): status for RAX. leaf-seamldr.c */
uint64_t tdx_seamldr_call(struct tdx_module *m, unsigned lp, struct tdx_regs *r);
/* PAMT initialized for this page (TDH.SYS.TDMR.INIT got past it). */
bool tdx_pa_pamt_ready(struct tdx_module *m, uint64_t pa);

/* Physical-address helpers: KeyID bits live above this many bits. */
static inline unsigned tdx_keyid_shift(const struct tdx_module *m)
{
    return m->keyid_shift;
}

int tdx_mem_read(struct tdx_module *m, uint64_t pa, void *buf, size_t len);
int tdx_mem_write(struct tdx_module *m, uint64_t pa, const void *buf, size_t len);
int tdx_mem_zero(struct tdx_module *m, uint64_t pa, size_t len);

/* Leaf handler: validates, locks, commits; returns the status. */
typedef uint64_t (*tdx_leaf_fn)(struct tdx_call *c, struct tdx_regs *regs);

/* A row of the dispatcher's tables (dispatch.c); the name is in
 * leaf-names.c. Guest leaves find their vCPU in c->vcpu. */
struct tdx_leaf_desc {
    tdx_leaf_fn fn;             /* NULL: not implemented (OPERAND_INVALID) */
    uint8_t max_version;
    bool before_ready;          /* host: allowed before SYS_READY */
};

/* Handlers, one family per file. */
uint64_t tdx_leaf_sys_init(struct tdx_call *c, struct tdx_regs *r);
uint64_t tdx_leaf_sys_lp_init(struct tdx_call *c, struct tdx_regs *r);
uint64_t tdx_leaf_sys_rd(struct tdx_call *c, struct tdx_regs *r);
uint64_t tdx_leaf_sys_config(struct tdx_call *c, struct tdx_regs *r);
uint64_t tdx_leaf_sys_key_config(struct tdx_call *c, struct tdx_regs *r);
uint64_t tdx_leaf_sys_tdmr_init(struct tdx_call *c, struct tdx_regs *r);
uint64_t tdx_leaf_sys_lp_shutdown(struct tdx_call *c, struct tdx_regs *r);
uint64_t tdx_leaf_sys_shutdown(struct tdx_call *c, struct tdx_regs *r);
uint64_t tdx_leaf_sys_update(struct tdx_call *c, struct tdx_regs *r);
uint64_t tdx_leaf_sys_disable(struct tdx_call *c, struct tdx_regs *r);

/* TD lifecycle, vCPU, measurement and PHYMEM leaves (leaf-mng.c,
 * leaf-vp.c, leaf-mr.c, leaf-phymem.c; objects in td.h/td.c). */
uint64_t tdx_leaf_mng_create(struct tdx_call *c, struct tdx_regs *r);
uint64_t tdx_leaf_mng_key_config(struct tdx_call *c, struct tdx_regs *r);
uint64_t tdx_leaf_mng_addcx(struct tdx_call *c, struct tdx_regs *r);
uint64_t tdx_leaf_mng_init(struct tdx_call *c, struct tdx_regs *r);
uint64_t tdx_leaf_mng_rd(struct tdx_call *c, struct tdx_regs *r);
uint64_t tdx_leaf_mng_wr(struct tdx_call *c, struct tdx_regs *r);
uint64_t tdx_leaf_mng_vpflushdone(struct tdx_call *c, struct tdx_regs *r);
uint64_t tdx_leaf_mng_key_freeid(struct tdx_call *c, struct tdx_regs *r);
uint64_t tdx_leaf_vp_create(struct tdx_call *c, struct tdx_regs *r);
uint64_t tdx_leaf_vp_addcx(struct tdx_call *c, struct tdx_regs *r);
uint64_t tdx_leaf_vp_init(struct tdx_call *c, struct tdx_regs *r);
uint64_t tdx_leaf_vp_rd(struct tdx_call *c, struct tdx_regs *r);
uint64_t tdx_leaf_vp_wr(struct tdx_call *c, struct tdx_regs *r);
uint64_t tdx_leaf_vp_flush(struct tdx_call *c, struct tdx_regs *r);
uint64_t tdx_leaf_mr_extend(struct tdx_call *c, struct tdx_regs *r);
uint64_t tdx_leaf_mr_finalize(struct tdx_call *c, struct tdx_regs *r);
uint64_t tdx_leaf_phymem_page_reclaim(struct tdx_call *c, struct tdx_regs *r);
uint64_t tdx_leaf_phymem_page_rdmd(struct tdx_call *c, struct tdx_regs *r);
uint64_t tdx_leaf_phymem_page_wbinvd(struct tdx_call *c, struct tdx_regs *r);
uint64_t tdx_leaf_phymem_cache_wb(struct tdx_call *c, struct tdx_regs *r);
/* TD entry and exit (vp-enter.c). */
uint64_t tdx_leaf_vp_enter(struct tdx_call *c, struct tdx_regs *r);
uint64_t tdx_tdg_vp_vmcall(struct tdx_call *c, struct tdx_regs *r);
/* Guest leaves (TDCALL): measurement (tdcall-mr.c), metadata and VP.INFO
 * (tdcall-vm.c), VEINFO.GET (td-ve.c), ACCEPT (leaf-mem.c). */
uint64_t tdx_tdg_vp_info(struct tdx_call *c, struct tdx_regs *r);
uint64_t tdx_tdg_vp_veinfo_get(struct tdx_call *c, struct tdx_regs *r);
uint64_t tdx_tdg_mem_page_accept(struct tdx_call *c, struct tdx_regs *r);
uint64_t tdx_tdg_mr_rtmr_extend(struct tdx_call *c, struct tdx_regs *r);
uint64_t tdx_tdg_mr_report(struct tdx_call *c, struct tdx_regs *r);
uint64_t tdx_tdg_vm_rd(struct tdx_call *c, struct tdx_regs *r);
uint64_t tdx_tdg_vm_wr(struct tdx_call *c, struct tdx_regs *r);
uint64_t tdx_tdg_vp_rd(struct tdx_call *c, struct tdx_regs *r);
uint64_t tdx_tdg_vp_wr(struct tdx_call *c, struct tdx_regs *r);
/* S-EPT and TLB-tracking leaves (leaf-mem.c; S-EPT in sept.h/sept.c). */
uint64_t tdx_leaf_mem_page_add(struct tdx_call *c, struct tdx_regs *r);
uint64_t tdx_leaf_mem_sept_add(struct tdx_call *c, struct tdx_regs *r);
uint64_t tdx_leaf_mem_page_aug(struct tdx_call *c, struct tdx_regs *r);
uint64_t tdx_leaf_mem_range_block(struct tdx_call *c, struct tdx_regs *r);
uint64_t tdx_leaf_mem_range_unblock(struct tdx_call *c, struct tdx_regs *r);
uint64_t tdx_leaf_mem_track(struct tdx_call *c, struct tdx_regs *r);
uint64_t tdx_leaf_mem_page_remove(struct tdx_call *c, struct tdx_regs *r);
uint64_t tdx_leaf_mem_sept_remove(struct tdx_call *c, struct tdx_regs *r);
/* S-EPT family: named entry-lock resolver, MR.EXTEND hook, invariants
 * (sept.c). */
void tdx_sept_module_init(struct tdx_module *m);
bool tdx_sept_check_invariants(struct tdx_module *m, char *err, size_t errlen);
/* Module create/destroy hooks of the TD families (td.c). */
void tdx_td_module_init(struct tdx_module *m);
void tdx_td_module_fini(struct tdx_module *m);
bool tdx_td_check_invariants(struct tdx_module *m, char *err, size_t errlen);

#endif
