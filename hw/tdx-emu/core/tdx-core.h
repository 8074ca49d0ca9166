/*
 * tdx-emu core: the emulated Intel TDX module, as seen by its embedder
 * (QEMU's glue, the unit tests, the fuzzer). Plain C11 + pthreads; nothing
 * here knows about QEMU.
 *
 * The embedder describes the platform once (LPs, packages, CMRs, KeyID
 * partitioning), supplies a few callbacks (physical memory, clock, trace,
 * kick), and then calls tdx_seamcall() on the calling LP's own thread
 * (and tdx_tdcall() for the TD vCPU it runs there).
 * Calls from different LPs run concurrently; the module's locks are
 * try-locks, so a call never waits for another (contention is reported as
 * TDX_OPERAND_BUSY, as on silicon).
 */
#ifndef TDX_EMU_CORE_H
#define TDX_EMU_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tdx-leaves.h"
#include "tdx-status.h"
#include "tdx-vmx.h"

/* The general-purpose registers a SEAMCALL/TDCALL reads and writes. */
struct tdx_regs {
    uint64_t rax, rcx, rdx, rbx, rsi, rdi;
    uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
};

/*
 * Architectural state of a TD vCPU. The module keeps it (TDVPS); it is
 * never stored in L1-visible memory. The CPU side loads it at TD entry and
 * stores it back at TD exit (struct tdx_td_run below; target/i386/tdx-emu-td.h).
 */
struct tdx_seg {
    uint16_t selector;
    uint64_t base;
    uint32_t limit;             /* byte granular (G already applied) */
    uint32_t flags;             /* descriptor high dword bits 8..23 in place:
                                   type, S, DPL, P, AVL, L, D/B, G */
};

enum { TDX_SEG_ES, TDX_SEG_CS, TDX_SEG_SS, TDX_SEG_DS, TDX_SEG_FS, TDX_SEG_GS,
       TDX_SEG_LDTR, TDX_SEG_TR, TDX_NUM_SEGS };

#define TDX_VCPU_XSAVE_SIZE 4096

struct tdx_vcpu_arch {
    uint64_t gpr[16];           /* RAX RCX RDX RBX RSP RBP RSI RDI R8..R15 */
    uint64_t rip, rflags;
    uint64_t cr0, cr2, cr3, cr4, efer, xcr0, pat;
    struct tdx_seg seg[TDX_NUM_SEGS];
    uint64_t gdtr_base, idtr_base;
    uint32_t gdtr_limit, idtr_limit;
    uint64_t star, lstar, cstar, fmask, kernel_gs_base;
    uint64_t sysenter_cs, sysenter_esp, sysenter_eip, tsc_aux;
    /* x87/SSE/AVX state in the CPU side's XSAVE layout; valid once the
     * vCPU ran (before that the CPU side uses the reset state). */
    bool xsave_valid;
    uint8_t xsave[TDX_VCPU_XSAVE_SIZE];
};

struct tdx_trace_event {
    unsigned lp;
    unsigned leaf;          /* RAX bits 15:0 at entry */
    unsigned version;       /* RAX bits 23:16 at entry */
    uint64_t status;
    uint64_t duration_ns;
    bool injected;          /* status came from an injection rule */
    bool guest;             /* a TDCALL (TDG.* leaf), not a SEAMCALL */
    uint64_t tdr_pa;        /* TD the call was about, 0 if none/unknown */
    /* A TDH.MR.FINALIZE that succeeded: the TD's MRTD (48 bytes); else NULL. */
    const uint8_t *mrtd;
    /* A TDH.VP.ENTER completing at a TD exit: the exit and the TD's RIP
     * there; else NULL. */
    const struct tdx_td_exit *exit;
    uint64_t td_rip;
    /* The call asked for a leaf/version or metadata field this module does
     * not know (answered with the architectural error): RAX of the leaf, or
     * the field ID. */
    bool unknown;
    bool unknown_is_leaf;
    uint64_t unknown_what;
};

/*
 * Callbacks into the embedder. Physical addresses are L1's, KeyID bits
 * already stripped by the module. Return 0 on success, -1 when the range
 * is not backed by RAM (the module then reports an architectural error).
 */
struct tdx_platform_ops {
    int (*mem_read)(void *opaque, uint64_t pa, void *buf, size_t len);
    int (*mem_write)(void *opaque, uint64_t pa, const void *buf, size_t len);
    /* Monotonic nanoseconds. */
    uint64_t (*clock_ns)(void *opaque);
    /* Optional: one record per completed call. */
    void (*trace)(void *opaque, const struct tdx_trace_event *ev);
    /* Optional: force LP n out of TD-guest mode soon (e.g. after TRACK). */
    void (*kick_lp)(void *opaque, unsigned lp);
    /*
     * Optional fast path: a host pointer through which [pa, pa + len) of L1
     * RAM can be accessed directly (contiguous, and writable if `write`),
     * or NULL, in which case the module falls back to mem_read/mem_write.
     * The module uses the pointer only for the duration of one access and
     * never keeps it. len is at most 4 KiB and never crosses a 4 KiB page.
     */
    void *(*host_ptr)(void *opaque, uint64_t pa, size_t len, bool write);
};

#define TDX_MAX_LPS   64
#define TDX_MAX_PKGS  8
#define TDX_MAX_CMRS  32

struct tdx_mem_range {
    uint64_t base;
    uint64_t size;
};

struct tdx_platform_desc {
    unsigned num_lps;                     /* 1..TDX_MAX_LPS */
    unsigned num_pkgs;                    /* 1..TDX_MAX_PKGS */
    uint8_t lp_pkg[TDX_MAX_LPS];          /* package of each LP */
    unsigned num_cmrs;
    struct tdx_mem_range cmrs[TDX_MAX_CMRS]; /* 4 KiB aligned, ascending */
    unsigned max_pa_bits;                 /* MAXPHYADDR incl. KeyID bits */
    unsigned mktme_keyids;                /* shared KeyIDs incl. KeyID 0 */
    unsigned tdx_keyids;                  /* private KeyIDs after them */
    uint64_t seed;                        /* injection engine seed */
    uint64_t hold_window_ns;              /* stretch every lock hold */
};

struct tdx_module;

/* NULL on invalid description, with a reason in err. */
struct tdx_module *tdx_module_create(const struct tdx_platform_desc *desc,
                                     const struct tdx_platform_ops *ops,
                                     void *opaque, char *err, size_t errlen);
void tdx_module_destroy(struct tdx_module *m);

/* ---- The two instructions ---------------------------------------------
 *
 * Every host leaf enters through tdx_seamcall() and every guest leaf
 * through tdx_tdcall(): one dispatcher per side, one epilogue (statistics,
 * busy-path recognition, trace) for all. TDH.VP.ENTER is the one SEAMCALL
 * that does not complete inside the call: it hands the TD vCPU to the
 * embedder's CPU, which executes TD code until a TD exit (tdx_vp_exit()).
 * All of it runs on the calling LP's thread.
 */
struct tdx_vcpu;
struct tdx_td;

/* A TD vCPU running on an LP: filled by TDH.VP.ENTER, read by the CPU. */
struct tdx_td_run {
    struct tdx_module *m;
    struct tdx_vcpu *vcpu;
    struct tdx_td *td;
    struct tdx_vcpu_arch *state;    /* load at entry, store back before exit */
    unsigned lp;
    unsigned gpa_width;             /* shared bit = GPA bit gpa_width - 1 */
    uint64_t shared_eptp;           /* KVM's EPT for shared GPAs (L1 memory) */
    bool flush_tlb;                 /* cached TD translations are stale */
    uint64_t entry_rip;
    uint64_t t0;                    /* for the trace */
};

/* A TD exit, in VMX terms (constants: tdx-vmx.h). */
struct tdx_td_exit {
    uint32_t reason;            /* basic exit reason (TDX_EXIT_REASON_*) */
    uint64_t qualification;
    uint64_t ext_qualification; /* TDX extended exit qualification */
    uint64_t gpa;               /* EPT violation / misconfiguration */
    uint32_t intr_info;         /* external interrupt / NMI */
};

enum tdx_seamcall_result {
    TDX_SEAMCALL_DONE,          /* outputs in regs, status in regs->rax */
    TDX_SEAMCALL_ENTER_TD,      /* TDH.VP.ENTER went in: *run filled, regs
                                   undefined; the call completes at the TD
                                   exit, with tdx_vp_exit()'s outputs */
};

/*
 * One SEAMCALL from LP `lp`: leaf in regs->rax, operands in the other
 * registers. `run` is where TDH.VP.ENTER puts the vCPU it enters; an
 * embedder that runs no TD code passes NULL (TDH.VP.ENTER is then
 * TDX_OPERAND_INVALID|RAX).
 */
enum tdx_seamcall_result tdx_seamcall(struct tdx_module *m, unsigned lp,
                                      struct tdx_regs *regs,
                                      struct tdx_td_run *run);

enum tdx_tdcall_result {
    TDX_TDCALL_DONE,            /* continue after the TDCALL, regs updated
                                   (status in regs->rax) */
    TDX_TDCALL_EXIT,            /* TD exit (*exit filled); the TDCALL is
                                   complete (TDG.VP.VMCALL: the host answers
                                   at re-entry); regs untouched */
    TDX_TDCALL_EXIT_RETRY,      /* TD exit (*exit filled); the TDCALL runs
                                   again after re-entry (ACCEPT of a page
                                   the host has yet to add); regs untouched */
};

/* One TDCALL from the vCPU of `run` (inside the TD): guest leaf in
 * regs->rax, operands in the guest's registers. */
enum tdx_tdcall_result tdx_tdcall(struct tdx_td_run *run, struct tdx_regs *regs,
                                  struct tdx_td_exit *exit);

/*
 * TD exit: run->state holds the guest's final state. Fills `out` with
 * TDH.VP.ENTER's outputs (exit reason in RAX, RCX qualification, RDX
 * extended qualification, R8 GPA, R9 interruption info; for a
 * TDG.VP.VMCALL exit RCX = the guest's register mask and the registers it
 * selects) and completes the SEAMCALL. The run is over after this call.
 */
void tdx_vp_exit(struct tdx_td_run *run, const struct tdx_td_exit *e,
                 struct tdx_regs *out);

enum tdx_td_xlate {
    TDX_TD_XLATE_OK,            /* *hpa valid */
    TDX_TD_XLATE_EXIT,          /* EPT violation TD exit: *exit filled */
    TDX_TD_XLATE_VE,            /* #VE into the TD; VE_INFO filled */
};

/* Second stage of a private GPA (shared bit clear) for a running vCPU;
 * `access`: TDX_ACCESS_* (tdx-vmx.h). */
enum tdx_td_xlate tdx_td_translate_private(struct tdx_td_run *run, uint64_t gpa,
                                           int access, uint64_t *hpa,
                                           struct tdx_td_exit *exit);

/*
 * A shared GPA whose leaf entry in KVM's EPT (`entry`) is non-present with
 * suppress-#VE clear (how KVM marks emulated MMIO): #VE with VE_INFO filled
 * (exit reason 48, qualification with the access and the entry's
 * permissions, GPA), or, while VE_INFO is still valid, an EPT-violation TD
 * exit (*exit filled).
 */
enum tdx_td_xlate tdx_td_shared_ept_ve(struct tdx_td_run *run, uint64_t gpa,
                                       int access, uint64_t entry,
                                       struct tdx_td_exit *exit);

/*
 * An EPT-violation TD exit for a final translation of `gpa` (access
 * TDX_ACCESS_*, the permissions of the EPT entry that refused it): exit
 * reason 48, qualification with the access, the entry's permissions and the
 * linear-address-valid/final-translation bits, the GPA.
 */
void tdx_td_ept_violation(uint64_t gpa, int access, uint64_t entry,
                          struct tdx_td_exit *exit);

/*
 * The CPU raises the #VE of TDX_TD_XLATE_VE: the guest linear address of
 * the access into VE_INFO, qualification bit 7 (linear address valid) and
 * bit 8 when `final` (the access to the translated address, not to a guest
 * paging structure).
 */
void tdx_td_ept_ve_gla(struct tdx_td_run *run, uint64_t gla, bool final);

/*
 * CPUID executed by the running vCPU (a leaf the module does not turn into
 * #VE): r[0..3] = EAX..EDX, the CPU's values in, the TD's out (td-ve.h,
 * tdx_td_cpuid(), with the TD's TSC frequency).
 */
void tdx_td_run_cpuid(const struct tdx_td_run *run, uint32_t leaf,
                      uint32_t subleaf, uint32_t r[4]);

/*
 * The TD translations a logical processor caches (the CPU side keeps them
 * across exits and entries) and why an entry must drop them: a TD epoch
 * this vCPU has not seen or a vCPU new to this LP (run->flush_tlb, TDX's
 * TLB-tracking rule), another vCPU's translations (or none known), or a
 * shared EPT root other than the one they came through. INVEPT in L1 drops
 * them too. TDX_TD_TLB_KEEP: nothing says they are stale.
 */
enum tdx_td_tlb_reason {
    TDX_TD_TLB_KEEP,
    TDX_TD_TLB_TRACKING,
    TDX_TD_TLB_OTHER_VCPU,
    TDX_TD_TLB_SHARED_EPTP,
    TDX_TD_TLB_INVEPT,
    TDX_TD_TLB_NUM_REASONS
};

enum tdx_td_tlb_reason tdx_td_run_tlb_reason(const struct tdx_td_run *run,
                                             const struct tdx_vcpu *last_vcpu,
                                             uint64_t last_shared_eptp);
/* Counts one entry's (or INVEPT's) decision in the statistics. */
void tdx_td_tlb_count(struct tdx_module *m, enum tdx_td_tlb_reason why);
const char *tdx_td_tlb_reason_name(enum tdx_td_tlb_reason why);

/*
 * Consistency check for tests and debug builds: no lock held by a finished
 * call (lock-hold injection rules excepted), PAMT consistent with the
 * module's objects. Returns true when consistent; otherwise describes the
 * first problem in err.
 */
bool tdx_core_check_invariants(struct tdx_module *m, char *err, size_t errlen);

/* A snapshot for monitors (HMP "info tdx") and reports. */
struct tdx_module_info {
    const char *state;              /* "SYSINIT_PENDING" ... "SHUTDOWN" */
    unsigned num_lps, lps_initialized;
    unsigned num_pkgs, pkgs_configured;
    unsigned num_tdmrs;
    uint64_t tdmr_bytes, tdmr_bytes_initialized;
    uint64_t pages_by_type[16];     /* PAMT page type -> 4K pages */
    /* Key ownership of the TDX (private) HKIDs: FREE / ASSIGNED / FLUSHED. */
    unsigned hkids_free, hkids_assigned, hkids_flushed;
    uint64_t num_tds;               /* TDR pages in the PAMT */
};

void tdx_module_get_info(struct tdx_module *m, struct tdx_module_info *out);

/*
 * The TDs the module holds (a TDR page in the PAMT), for monitors: a
 * snapshot from the PAMT alone (what each TD owns), in physical address
 * order. Writes at most `max` and returns how many it wrote.
 */
struct tdx_td_summary {
    uint64_t tdr_pa;                /* TDR page: the key of the TD's locks */
    unsigned num_vcpus;             /* TDVPR pages (TDH.VP.CREATE done) */
    uint64_t tdcx_pages;            /* TDCS and vCPU control pages */
    uint64_t private_pages;         /* PT_REG: private memory */
    uint64_t sept_pages;            /* PT_EPT: S-EPT tables */
};

unsigned tdx_module_list_tds(struct tdx_module *m, struct tdx_td_summary *out,
                             unsigned max);
unsigned tdx_module_num_lps(const struct tdx_module *m);
/* Name of a PAMT page type ("PT_REG"), or NULL. */
const char *tdx_page_type_name(unsigned type);

#endif
