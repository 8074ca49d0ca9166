/*
 * VMX facts a TD exit and a #VE are made of, shared by the module core,
 * the QEMU glue, the CPU (target/i386) and the guest tools: basic exit
 * reasons, exit-qualification and access bits, EPT entry bits, TDX
 * extended exit qualification types, interruption information. Plain
 * #defines only (no includes): freestanding code can use it too.
 * Sources: Intel SDM vol. 3C (appendix C "VMX basic exit reasons", table
 * "Exit qualification for EPT violations", "EPT paging-structure
 * entries"); TDX module ABI (extended exit qualification).
 */
#ifndef TDX_EMU_VMX_H
#define TDX_EMU_VMX_H

/* Basic exit reasons (RAX bits 15:0 of a TDH.VP.ENTER that exited). */
#define TDX_EXIT_REASON_NMI             0   /* exception or NMI */
#define TDX_EXIT_REASON_EXT_INTR        1
#define TDX_EXIT_REASON_TRIPLE_FAULT    2
#define TDX_EXIT_REASON_INIT            3
#define TDX_EXIT_REASON_OTHER_SMI       6
#define TDX_EXIT_REASON_CPUID           10
#define TDX_EXIT_REASON_HLT             12
#define TDX_EXIT_REASON_IO              30
#define TDX_EXIT_REASON_RDMSR           31
#define TDX_EXIT_REASON_WRMSR           32
#define TDX_EXIT_REASON_EPT_VIOLATION   48
#define TDX_EXIT_REASON_EPT_MISCONFIG   49
#define TDX_EXIT_REASON_TDCALL          77

/*
 * Access kinds, in the bit positions they have everywhere they appear:
 * EPT entry permissions (R/W/X = bits 0-2), the access that caused an EPT
 * violation (qualification bits 0-2), and QEMU's PAGE_READ/WRITE/EXEC.
 */
#define TDX_ACCESS_READ                 (1u << 0)
#define TDX_ACCESS_WRITE                (1u << 1)
#define TDX_ACCESS_FETCH                (1u << 2)
#define TDX_ACCESS_RWX                  (TDX_ACCESS_READ | TDX_ACCESS_WRITE | \
                                         TDX_ACCESS_FETCH)

/* EPT-violation exit qualification: access bits 2:0 above, the entry's
 * permissions in bits 5:3, and: */
#define TDX_EPT_QUAL_PERM_SHIFT         3
#define TDX_EPT_QUAL_GPA_VALID          (1ULL << 7)
#define TDX_EPT_QUAL_TRANSLATED         (1ULL << 8)

/* EPT entry bits beyond the permissions. */
#define TDX_EPTE_PS                     (1ULL << 7)     /* large page */
#define TDX_EPTE_SUPPRESS_VE            (1ULL << 63)
#define TDX_EPTE_ADDR                   0x000FFFFFFFFFF000ULL

/* TDX extended exit qualification, type (bits 3:0). */
#define TDX_EXT_QUAL_NORMAL             0
#define TDX_EXT_QUAL_ACCEPT             1   /* bits 7:4: the requested level */
#define TDX_EXT_QUAL_PENDING_EPT_VIOL   6

/* VM-exit interruption information: vector | type << 8 | valid. */
#define TDX_INTR_INFO_VALID             (1u << 31)
#define TDX_INTR_TYPE_EXT_INTR          (0u << 8)
#define TDX_INTR_TYPE_NMI               (2u << 8)

#endif
