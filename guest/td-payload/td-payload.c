// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * td-payload: a freestanding TD guest image for tdx-emu. guest/tdvmm loads
 * it (`tdvmm --run td-payload.bin`) as the TD's measured initial memory and
 * checks what every vCPU reports.
 *
 * ---- ABI, version 2 (version 1 + modes) -----------------------------------
 *
 * Image. A flat binary of TDP_IMAGE_SIZE bytes (layout.h: 0x70000, a
 * multiple of 4 KiB, at most 2 MiB) loaded so that its last byte is at GPA
 * 0xFFFFFFFF, i.e. at GPA 0x1_0000_0000 - size, all of it added with
 * TDH.MEM.PAGE.ADD and measured (the loader treats it as opaque bytes).
 * Layout from the start: PML4, PDPT, 4 PDs (prebuilt identity map of
 * 0..4 GiB with 2 MiB pages, entries P|RW|PS; never written at run time),
 * code, read-only data, data/bss (per-vCPU IDTs), TDP_MAX_VCPUS (64) stacks
 * of 4 KiB, then the reset vector in the last 16 bytes (0xFFFFFFF0).
 *
 * Entry. Every vCPU starts at once at RIP 0xFFFFFFF0 in the TD vCPU initial
 * state: 32-bit protected mode, paging off, CS 0x08 flat 32-bit code,
 * DS/ES/SS/FS/GS 0x10 flat data, CR0 0x31, CR4 0x40, EFER 0x900
 * (LME | NXE), RFLAGS 0x2, RBX[5:0] = GPAW, RSI = vCPU index (0..N-1),
 * RCX = the KVM_TDX_INIT_VCPU data. The payload loads its own GDT
 * (0x08 64-bit code, 0x10 data), sets CR4.PAE, CR3 = the PML4 and CR0.PG
 * (IA-32e mode, since EFER.LME is set), takes stack i (vCPU index i; a
 * vCPU with index >= 64 just halts), loads a per-vCPU IDT and calls C.
 * Interrupts stay disabled throughout.
 *
 * Parameters. P = RCX[15:0] pages per vCPU (0 means 256). vCPU i works on
 * the private region R_i = [0x40000000 + i*P*4096, +P*4096). The regions
 * of all vCPUs must end at or below 0xC0000000 (i.e. N*P*4096 <= 2 GiB),
 * otherwise the vCPU panics (see below).
 *
 * Work of vCPU i.
 *   1. TDG.MEM.PAGE.ACCEPT (TDCALL leaf 6, RCX = GPA | 0 for 4 KiB) of every
 *      page of R_i in ascending order, retried while the status is
 *      TDX_OPERAND_BUSY (0x80000200_xxxxxxxx) or TDX_OPERAND_BUSY_HOST_
 *      PRIORITY (0x80000201_xxxxxxxx); any other non-zero status panics.
 *   2. Write every 8-byte word at GPA g of R_i with g ^ 0x5a5a5a5a5a5a5a5a.
 *   3. Read every word back, ascending: S = sum of the values read (mod
 *      2^64). The first word that differs from what was written is also
 *      reported on the console ("... mismatch gpa G got V").
 *   4. LCG: x_0 = i + 1, x_{n+1} = x_n * 6364136223846793005
 *      + 1442695040888963407 (mod 2^64), L = x_1000000.
 *   5. checksum C = S ^ L.
 *   So the expected value is
 *      C_i = (sum over g in R_i, g % 8 == 0, of (g ^ 0x5a5a5a5a5a5a5a5a))
 *            ^ LCG^1000000(i + 1)                    (all mod 2^64)
 *   (tdvmm's expected_checksum() computes exactly this).
 *
 * Modes (ABI version 2). RCX[23:16] = mode, RCX[63:32] = N (0: default);
 * the payload keeps RCX whole across the switch to long mode.
 *   0 normal:   as above.
 *   1 convert:  normal work, then N (default 4) rounds on the upper half H
 *               (P/2 pages at base + (P - P/2)*4096, P >= 2) of R_i:
 *               TDG.VP.VMCALL<MapGPA> (R11 0x10001, R12 = H | shared bit
 *               (GPA bit GPAW-1), R13 = size; R10 = 1 "retry" resumes at
 *               R11), write word g of H through the shared alias (virtual
 *               0xFFFF800000000000 + g -> GPA g | shared bit, page tables
 *               built at run time) as (g ^ 0x5a5a..5a) + (r+1) *
 *               0x9E3779B97F4A7C15, read back (must match: else panic
 *               0x101) and sum them (S_r), MapGPA H back to private,
 *               ACCEPT every page, count words that are not zero (Z_r,
 *               reported). C = rotl(C, 1) ^ S_r, then C += Z_r, per round.
 *               Console: "td-payload vcpu <i> convert round <r> pages <n> ok".
 *   2 hammer:   even vCPUs first store (one instruction) to the hammer page
 *               GPA 0xC0000000 (private, never accepted: the host keeps it
 *               "shared" in KVM's attributes for a while, so the store
 *               exits at the same RIP again and again until the module's
 *               zero-step filter arms; when the host finally adds it, the
 *               store takes a #VE and the #VE handler ACCEPTs the page
 *               (TDG.VP.VEINFO.GET first; ALREADY_ACCEPTED is fine) and
 *               resumes), then do the normal work; odd vCPUs accept R_i,
 *               write 1 to port 0x503, then store to the hammer page, then
 *               finish the normal work. C as normal (+1 if the hammer
 *               page does not read back what the vCPU stored).
 *               Console: "td-payload vcpu <i> hammer ve <n> cycles <c> ok".
 *   3 pingpong: no memory work; N (default 10000) 4-byte writes of k to
 *               port 0x504, RDTSC around the loop; C = N ^ (i *
 *               6364136223846793005). Console: "td-payload vcpu <i>
 *               pingpong exits <N> cycles <c>".
 *   4 compute:  no memory work; C = LCG^N(i + 1) (N default 1000000),
 *               RDTSC around the loop. Console: "td-payload vcpu <i>
 *               compute cycles <c>".
 *   5 ve:       accept R_i (P >= 1), then the instructions a TDX module
 *               turns into #VE, each handled as Linux's TD guest does
 *               (TDG.VP.VEINFO.GET, then the GHCI TDVMCALL, RIP += the
 *               VE_INFO instruction length): CPUID 0x40000000 (TDVMCALL
 *               <Instruction.CPUID>; must return KVM's signature
 *               "KVMKVMKVM"), OUT of 4 bytes (value 0x5e5e0000 | i) and
 *               IN of 4 bytes at port 0x505 (<Instruction.IO>; the IN
 *               reads tdvmm's 0xFFFFFFFF), RDMSR/WRMSR/RDMSR/WRMSR of
 *               MSR_KVM_POLL_CONTROL 0x4b564d05 (<Instruction.RDMSR/
 *               WRMSR>: 1, write 0, 0, write 1), WRMSR of the x2APIC SVR
 *               0x80F = 0x1FF (APIC software-enabled, as Linux does),
 *               then KVM_HC_KICK_CPU (TDG.VP.VMCALL R10 = 5, R12 = (i + 1)
 *               % N, N from TDG.VP.INFO) to the next vCPU, an OUT of i to
 *               port 0x506, and HLT (<Instruction.HLT> with R12 = 0; it
 *               returns once the previous vCPU has kicked this one). Then the guest leaves:
 *               TDG.MR.RTMR.EXTEND (vCPU 0: RTMR[2], others RTMR[3]; 48
 *               bytes from R_i), TDG.MR.REPORT (REPORTDATA from R_i; checks
 *               REPORTTYPE 0x81, REPORTDATA echoed, TDINFO.ATTRIBUTES ==
 *               TDG.VM.RD(ATTRIBUTES), the extended RTMR not zero, vCPU 0:
 *               RTMR[2] qword 0 == TDG.VM.RD(RTMR[2] qword 0)),
 *               TDG.VP.RD(VCPU_INDEX) == i. Any failed check panics
 *               (0x102). C = i << 48 | cpuid << 32 | io << 24 | rdmsr <<
 *               16 | wrmsr << 8 | hlt, counting #VEs handled by reason
 *               (expected 1, 2, 2, 3, 1). Console: "td-payload vcpu <i>
 *               ve cpuid 1 io 2 rdmsr 2 wrmsr 3 hlt 1 report ok".
 *   6 irq:      no memory work; software-enables the host's local APIC
 *               (SVR 0x80F = 0x1FF through TDG.VP.VMCALL<Instruction.WRMSR>:
 *               KVM drops interrupts to a disabled APIC), then N (default
 *               20) interrupts of each kind,
 *               one at a time, each awaited with STI + PAUSE (no HLT):
 *               self-IPIs (WRMSR x2APIC SELF_IPI 0x83F, vector 0x50),
 *               host interrupts (write k to port 0x507, the host sends
 *               vector 0x30 to this vCPU), and, with 2+ vCPUs (TDG.VP.INFO),
 *               IPIs to vCPU (i+1) % n (ICR 0x830 write through
 *               TDG.VP.VMCALL<Instruction.WRMSR>, R11 32, vector 0x40),
 *               waiting for the target's count; then until n IPIs came
 *               from vCPU i-1. Handlers count and EOI (WRMSR 0x80B).
 *               C = self | host << 16 | ipi << 32. Console:
 *               "td-payload vcpu <i> irq self <s> host <h> ipi <p> vcpus <n>".
 *               Panic 0x103 if an interrupt does not come.
 *   7 gate:     vCPU 0 as convert (N rounds); the other vCPUs accept R_i
 *               and sum it as normal, then step an LCG with no exit at all
 *               (only interrupts take them out) until vCPU 0 is done
 *               converting (a flag in the payload's memory), then report
 *               C as normal. Whenever vCPU 0's conversion makes the host
 *               zap private pages, the other vCPUs are inside the TD with
 *               work to do: a host that lets a kicked vCPU back in before
 *               its zap retry is done (no entry gate) is seen to, every
 *               time. Console: "td-payload vcpu <i> gate spins <k>".
 * The start line then ends in " mode <name> n <N as given>".
 * Stub build: TD_PAYLOAD_STUB_RCX (default 0) is the 64-bit RCX, so the
 * stub can run compute mode (guest/meson.build: td-payload-stub.bin).
 *
 * Ports, all through TDG.VP.VMCALL<Instruction.IO> (TDCALL leaf 0,
 * RCX = 0xFC00, R10 = 0, R11 = 30, R12 = size, R13 = 1 (write),
 * R14 = port, R15 = value); KVM turns each into a KVM_EXIT_IO:
 *   0x3F8, 1 byte:  console; ASCII lines ending in '\n':
 *                   "td-payload vcpu <i> start pages <P> gpaw <G>"
 *                   "td-payload vcpu <i> checksum <16 lower-case hex digits>"
 *   0x501, 4 bytes: done; value = C_i & 0xffffffff. Sent once, last.
 *   0x503, 4 bytes: hammer mode: 1 = accept phase done.
 *   0x504, 4 bytes: pingpong mode: one write per round.
 *   0x505, 4 bytes: ve mode: the #VE'd OUT (0x5e5e0000 | i) and IN.
 *   0x506, 4 bytes: ve mode: i, before the HLT (counted by tdvmm).
 *   0x502, 4 bytes: panic; value = exception vector (0..31) or 0x100 for a
 *                   failed TDCALL/bad parameters, 0x101 for a failed
 *                   convert check; preceded by a console
 *                   line "td-payload vcpu <i> PANIC ...".
 * After 0x501 or 0x502 the vCPU loops on TDG.VP.VMCALL<Instruction.HLT>
 * (R11 = 12) forever.
 *
 * Build: gcc -ffreestanding -nostdlib -fno-pic -mcmodel=large -mno-red-zone
 * -mgeneral-regs-only (CR4.OSFXSR is clear: no SSE). With
 * -DTD_PAYLOAD_STUB_TDCALL the TDCALLs become plain port I/O / HLT and
 * ACCEPT a no-op, and the image boots from a normal x86 reset as a QEMU
 * -bios (vCPU 0 only): for testing the boot path and the checksum without
 * a TDX module.
 */
#include <stdint.h>

#include "layout.h"
#include "tdx-vmx.h"          /* VMX exit reasons (module core) */

#define REGION_BASE         0x40000000ull
#define REGION_LIMIT        0xC0000000ull
#define DEFAULT_PAGES       256
#define PAGE_SIZE           4096ull
#define PATTERN_XOR         0x5a5a5a5a5a5a5a5aull
#define LCG_MUL             6364136223846793005ull
#define LCG_ADD             1442695040888963407ull
#define LCG_ITERATIONS      1000000

#define PORT_CONSOLE        0x3F8
#define PORT_DONE           0x501
#define PORT_PANIC          0x502
#define PANIC_TDCALL        0x100

#define TDG_VP_VMCALL       0
#define TDG_VP_VEINFO_GET   3
#define TDG_MEM_PAGE_ACCEPT 6
#define TDVMCALL_EXPOSE     0xFC00  /* R10..R15 */
#define TDVMCALL_CPUID      10
#define TDVMCALL_HLT        12
#define TDVMCALL_IO         30
#define TDVMCALL_RDMSR      31
#define TDVMCALL_WRMSR      32
#define TDG_VP_INFO         1
#define TDG_MR_RTMR_EXTEND  2
#define KVM_HC_KICK_CPU     5
#define TDG_MR_REPORT       4
#define TDG_VM_RD           7
#define TDG_VP_RD           9
#define MSR_KVM_POLL_CONTROL 0x4b564d05u
#define MSR_X2APIC_SVR      0x80Fu
#define TDCS_ATTRIBUTES     0x1110000300000000ull
#define TDCS_RTMR_0_0       0x1310000300000040ull
#define TDVPS_VCPU_INDEX    0xA020000200000002ull
#define TDVMCALL_MAP_GPA    0x10001
#define TDVMCALL_RETRY      1       /* R10 of a MapGPA to be resumed at R11 */
#define TDX_PAGE_ALREADY_ACCEPTED   0x00000B0Aull

#define CONVERT_ROUNDS      4
#define CONVERT_ROUND_MUL   0x9E3779B97F4A7C15ull
#define PINGPONG_DEFAULT    10000
#define COMPUTE_DEFAULT     LCG_ITERATIONS
#define PANIC_CONVERT       0x101   /* zero check or shared readback failed */
#define PANIC_VE            0x102   /* ve mode: a check failed */
#define PANIC_IRQ           0x103   /* irq mode: an interrupt never came */
#define IRQ_DEFAULT         20
#define IRQ_SPIN_CYCLES     (200ull * 1000 * 1000 * 1000)
#define TDG_VP_INFO         1
#define TDVMCALL_WRMSR      32
#define X2APIC_EOI          0x80B
#define X2APIC_SVR          0x80F
#define APIC_SVR_ENABLE     0x100
#define X2APIC_ICR          0x830
#define X2APIC_SELF_IPI     0x83F
#define TDX_STATUS_CLASS(s) ((s) >> 32)
#define TDX_OPERAND_BUSY            0x80000200ull
#define TDX_OPERAND_BUSY_HOST_PRIO  0x80000201ull

void td_main(uint64_t vcpu, uint64_t rcx, uint64_t gpaw);
void tdp_exception(const uint64_t *frame);
/* Needed by gcc even when freestanding. */
void *memset(void *s, int c, unsigned long n);
void *memcpy(void *d, const void *s, unsigned long n);

extern const char tdp_exc_stubs[];
extern char tdp_stacks_top[];

struct idt_gate {
    uint16_t off_lo, sel;
    uint8_t ist, type;
    uint16_t off_mid;
    uint32_t off_hi, reserved;
};

static struct idt_gate idt[TDP_MAX_VCPUS][32] __attribute__((aligned(16)));

/* ---- TDCALL ------------------------------------------------------------ */

#ifndef TD_PAYLOAD_STUB_TDCALL
/* TDG.VP.VMCALL with R10..R15 exposed; returns the TDCALL status if it is
 * non-zero, else the VMCALL status (R10). */
static uint64_t tdvmcall(uint64_t leaf, uint64_t r12_in, uint64_t r13_in,
                         uint64_t r14_in, uint64_t r15_in)
{
    register uint64_t r10 __asm__("r10") = 0;
    register uint64_t r11 __asm__("r11") = leaf;
    register uint64_t r12 __asm__("r12") = r12_in;
    register uint64_t r13 __asm__("r13") = r13_in;
    register uint64_t r14 __asm__("r14") = r14_in;
    register uint64_t r15 __asm__("r15") = r15_in;
    uint64_t rax = TDG_VP_VMCALL, rcx = TDVMCALL_EXPOSE;

    __asm__ volatile(".byte 0x66, 0x0f, 0x01, 0xcc"
                     : "+a"(rax), "+c"(rcx), "+r"(r10), "+r"(r11),
                       "+r"(r12), "+r"(r13), "+r"(r14), "+r"(r15)
                     :
                     : "rdx", "r8", "r9", "memory");
    return rax ? rax : r10;
}

static void io_write(uint16_t port, unsigned size, uint32_t value)
{
    tdvmcall(TDVMCALL_IO, size, 1, port, value);
}

static void halt(void)
{
    tdvmcall(TDVMCALL_HLT, 0, 0, 0, 0);
}

static uint64_t page_accept(uint64_t gpa)
{
    uint64_t rax = TDG_MEM_PAGE_ACCEPT, rcx = gpa | 0 /* 4 KiB */;

    __asm__ volatile(".byte 0x66, 0x0f, 0x01, 0xcc"
                     : "+a"(rax), "+c"(rcx)
                     :
                     : "rdx", "r8", "r9", "r10", "r11", "memory");
    return rax;
}

/*
 * TDG.VP.VMCALL<MapGPA>(gpa, size): R10 = status, R11 = where to resume
 * when the host says "retry". Returns the TDCALL status if non-zero, else
 * R10; *resume = R11.
 */
static uint64_t map_gpa_call(uint64_t gpa, uint64_t size, uint64_t *resume)
{
    register uint64_t r10 __asm__("r10") = 0;
    register uint64_t r11 __asm__("r11") = TDVMCALL_MAP_GPA;
    register uint64_t r12 __asm__("r12") = gpa;
    register uint64_t r13 __asm__("r13") = size;
    uint64_t rax = TDG_VP_VMCALL, rcx = 0x3C00;     /* R10..R13 */

    __asm__ volatile(".byte 0x66, 0x0f, 0x01, 0xcc"
                     : "+a"(rax), "+c"(rcx), "+r"(r10), "+r"(r11),
                       "+r"(r12), "+r"(r13)
                     :
                     : "rdx", "r8", "r9", "r14", "r15", "memory");
    *resume = r11;
    return rax ? rax : r10;
}

/* TDG.VP.VEINFO.GET: exit reason and GPA of the pending #VE. */
static uint64_t veinfo_get(uint64_t *reason, uint64_t *gpa)
{
    register uint64_t r8 __asm__("r8");
    register uint64_t r9 __asm__("r9");
    register uint64_t r10 __asm__("r10");
    uint64_t rax = TDG_VP_VEINFO_GET, rcx, rdx;

    __asm__ volatile(".byte 0x66, 0x0f, 0x01, 0xcc"
                     : "+a"(rax), "=c"(rcx), "=d"(rdx), "=r"(r8), "=r"(r9),
                       "=r"(r10)
                     :
                     : "r11", "memory");
    *reason = rcx;
    *gpa = r9;
    return rax;
}

/* Any TDCALL with RCX, RDX, R8..R15 in and out (r[0..9] = RCX RDX R8..R15). */
static uint64_t tdcall_regs(uint64_t leaf, uint64_t r[10])
{
    register uint64_t r8 __asm__("r8") = r[2];
    register uint64_t r9 __asm__("r9") = r[3];
    register uint64_t r10 __asm__("r10") = r[4];
    register uint64_t r11 __asm__("r11") = r[5];
    register uint64_t r12 __asm__("r12") = r[6];
    register uint64_t r13 __asm__("r13") = r[7];
    register uint64_t r14 __asm__("r14") = r[8];
    register uint64_t r15 __asm__("r15") = r[9];
    uint64_t rax = leaf, rcx = r[0], rdx = r[1];

    __asm__ volatile(".byte 0x66, 0x0f, 0x01, 0xcc"
                     : "+a"(rax), "+c"(rcx), "+d"(rdx), "+r"(r8), "+r"(r9),
                       "+r"(r10), "+r"(r11), "+r"(r12), "+r"(r13), "+r"(r14),
                       "+r"(r15)
                     :
                     : "memory");
    r[0] = rcx;
    r[1] = rdx;
    r[2] = r8;
    r[3] = r9;
    r[4] = r10;
    r[5] = r11;
    r[6] = r12;
    r[7] = r13;
    r[8] = r14;
    r[9] = r15;
    return rax;
}
#define HAVE_TDX_CALLS 1
#else
static void io_write(uint16_t port, unsigned size, uint32_t value)
{
    if (size == 1) {
        __asm__ volatile("outb %b0, %w1" : : "a"(value), "Nd"(port));
    } else {
        __asm__ volatile("outl %0, %w1" : : "a"(value), "Nd"(port));
    }
}

static void halt(void)
{
    __asm__ volatile("hlt");
}

static uint64_t page_accept(uint64_t gpa)
{
    (void)gpa;
    return 0;
}
#define HAVE_TDX_CALLS 0
#endif

static inline uint64_t rdtsc(void)
{
    uint32_t lo, hi;

    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return (uint64_t)hi << 32 | lo;
}

/* ---- console ------------------------------------------------------------ */

static void put_char(char c)
{
    io_write(PORT_CONSOLE, 1, (uint8_t)c);
}

static void put_str(const char *s)
{
    while (*s) {
        put_char(*s++);
    }
}

static void put_hex(uint64_t v, int digits)
{
    for (int i = digits - 1; i >= 0; i--) {
        put_char("0123456789abcdef"[(v >> (i * 4)) & 0xf]);
    }
}

static void put_dec(uint64_t v)
{
    char buf[24];
    int n = 0;

    do {
        buf[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n) {
        put_char(buf[--n]);
    }
}

static void put_prefix(uint64_t vcpu)
{
    put_str("td-payload vcpu ");
    put_dec(vcpu);
    put_char(' ');
}

static __attribute__((noreturn)) void halt_forever(void)
{
    for (;;) {
        halt();
    }
}

static __attribute__((noreturn)) void panic(uint64_t vcpu, uint32_t code,
                                            const char *what, uint64_t a,
                                            uint64_t b)
{
    put_prefix(vcpu);
    put_str("PANIC ");
    put_str(what);
    put_str(" 0x");
    put_hex(a, 16);
    put_str(" 0x");
    put_hex(b, 16);
    put_char('\n');
    io_write(PORT_PANIC, 4, code);
    halt_forever();
}

/* ---- exceptions --------------------------------------------------------- */

static void setup_idt(uint64_t vcpu)
{
    struct {
        uint16_t limit;
        uint64_t base;
    } __attribute__((packed)) desc = {
        .limit = sizeof(idt[0]) - 1,
        .base = (uintptr_t)idt[vcpu],
    };

    for (int v = 0; v < 32; v++) {
        uint64_t h = (uintptr_t)tdp_exc_stubs + v * 16;
        struct idt_gate *g = &idt[vcpu][v];

        g->off_lo = (uint16_t)h;
        g->sel = TDP_SEL_CODE64;
        g->ist = 0;
        g->type = 0x8e;     /* present, DPL 0, 64-bit interrupt gate */
        g->off_mid = (uint16_t)(h >> 16);
        g->off_hi = (uint32_t)(h >> 32);
        g->reserved = 0;
    }
    __asm__ volatile("lidt %0" : : "m"(desc) : "memory");
}

/* frame: vector, error code, RIP, CS, RFLAGS, RSP, SS. */
void tdp_exception(const uint64_t *frame)
{
    uint64_t vcpu = ((uintptr_t)tdp_stacks_top - (uintptr_t)frame) / TDP_STACK_SIZE;
    uint64_t cr2;

    __asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
    put_prefix(vcpu);
    put_str("exception ");
    put_dec(frame[0]);
    put_str(" error 0x");
    put_hex(frame[1], 8);
    put_str(" cr2 0x");
    put_hex(cr2, 16);
    put_char('\n');
    panic(vcpu, (uint32_t)frame[0], "exception at rip", frame[2], frame[5]);
}

/* ---- the work ------------------------------------------------------------ */

static void accept_region(uint64_t vcpu, uint64_t base, uint64_t pages)
{
    for (uint64_t p = 0; p < pages; p++) {
        uint64_t gpa = base + p * PAGE_SIZE;
        uint64_t status;

        do {
            status = page_accept(gpa);
        } while (TDX_STATUS_CLASS(status) == TDX_OPERAND_BUSY ||
                 TDX_STATUS_CLASS(status) == TDX_OPERAND_BUSY_HOST_PRIO);
        if (status) {
            panic(vcpu, PANIC_TDCALL, "accept gpa/status", gpa, status);
        }
    }
}

static uint64_t memory_sum(uint64_t vcpu, uint64_t base, uint64_t pages)
{
    volatile uint64_t *w = (volatile uint64_t *)(uintptr_t)base;
    uint64_t words = pages * (PAGE_SIZE / 8);
    uint64_t sum = 0;
    int reported = 0;

    for (uint64_t k = 0; k < words; k++) {
        w[k] = (base + k * 8) ^ PATTERN_XOR;
    }
    for (uint64_t k = 0; k < words; k++) {
        uint64_t v = w[k];

        if (v != ((base + k * 8) ^ PATTERN_XOR) && !reported) {
            reported = 1;
            put_prefix(vcpu);
            put_str("mismatch gpa 0x");
            put_hex(base + k * 8, 16);
            put_str(" got 0x");
            put_hex(v, 16);
            put_char('\n');
        }
        sum += v;
    }
    return sum;
}

static uint64_t lcg_n(uint64_t x, uint64_t n)
{
    for (uint64_t k = 0; k < n; k++) {
        x = x * LCG_MUL + LCG_ADD;
        __asm__ volatile("" : "+r"(x));  /* keep every iteration */
    }
    return x;
}

static uint64_t lcg(uint64_t vcpu)
{
    return lcg_n(vcpu + 1, LCG_ITERATIONS);
}

static void accept_page_retry(uint64_t vcpu, uint64_t gpa, int tolerate_accepted)
{
    uint64_t status;

    do {
        status = page_accept(gpa);
    } while (TDX_STATUS_CLASS(status) == TDX_OPERAND_BUSY ||
             TDX_STATUS_CLASS(status) == TDX_OPERAND_BUSY_HOST_PRIO);
    if (status && !(tolerate_accepted &&
                    TDX_STATUS_CLASS(status) == TDX_PAGE_ALREADY_ACCEPTED)) {
        panic(vcpu, PANIC_TDCALL, "accept gpa/status", gpa, status);
    }
}

/* ---- #VE (hammer mode) ---------------------------------------------------- */

static uint64_t ve_count[TDP_MAX_VCPUS];
#if HAVE_TDX_CALLS
/* ve mode: #VE go to ve_instruction(); #VEs handled by reason. */
static uint8_t ve_mode[TDP_MAX_VCPUS];
static struct ve_counts {
    uint64_t cpuid, io, rdmsr, wrmsr, hlt;
} ve_counts[TDP_MAX_VCPUS];
#endif

/*
 * A #VE: only the hammer page's "EPT violation on a PENDING page" is
 * expected (the host added it with PAGE.AUG after the vCPU had stored to
 * it before it was mapped). Accept it (another vCPU may have done so
 * already) and return to retry the store; anything else panics.
 */
void tdp_ve(uint64_t *frame);
#if HAVE_TDX_CALLS
static int ve_instruction(uint64_t vcpu, uint64_t *frame);
#endif
void tdp_ve(uint64_t *frame)
{
#if HAVE_TDX_CALLS
    uint64_t vcpu = ((uintptr_t)tdp_stacks_top - (uintptr_t)frame) / TDP_STACK_SIZE;
    uint64_t reason = 0, gpa = 0, st;

    if (ve_mode[vcpu]) {
        if (ve_instruction(vcpu, frame)) {
            return;
        }
        tdp_exception(frame);
    }
    st = veinfo_get(&reason, &gpa);

    if (!st && reason == TDX_EXIT_REASON_EPT_VIOLATION &&
        (gpa & ~(PAGE_SIZE - 1)) == (uint64_t)TDP_HAMMER_GPA) {
        accept_page_retry(vcpu, gpa & ~(PAGE_SIZE - 1), 1);
        ve_count[vcpu]++;
        return;
    }
    put_prefix(vcpu);
    put_str("#VE status 0x");
    put_hex(st, 16);
    put_str(" reason ");
    put_dec(reason);
    put_str(" gpa 0x");
    put_hex(gpa, 16);
    put_char('\n');
#endif
    tdp_exception(frame);
}

/* ---- convert mode --------------------------------------------------------- */

static uint64_t shared_pdpt[512] __attribute__((aligned(4096)));
static uint64_t shared_pd[4][512] __attribute__((aligned(4096)));
extern uint64_t tdp_pml4[512];

/*
 * The shared alias: virtual TDP_SHARED_VA + g -> GPA g | shared bit for
 * g < 4 GiB (2 MiB pages). Every vCPU writes the same values (benign).
 */
static void map_shared_alias(uint64_t shared_bit)
{
    for (int d = 0; d < 4; d++) {
        for (int e = 0; e < 512; e++) {
            shared_pd[d][e] = (((uint64_t)d << 30) + ((uint64_t)e << 21)) |
                              shared_bit | 0x83;
        }
        shared_pdpt[d] = (uintptr_t)shared_pd[d] | 0x3;
    }
    tdp_pml4[256] = (uintptr_t)shared_pdpt | 0x3;
    __asm__ volatile("" ::: "memory");
}

static void map_gpa(uint64_t vcpu, uint64_t gpa, uint64_t size)
{
#if HAVE_TDX_CALLS
    uint64_t end = gpa + size, next = gpa, retries = 0;

    while (next < end) {
        uint64_t resume = 0, st = map_gpa_call(next, end - next, &resume);

        if (!st) {
            return;
        }
        if (st != TDVMCALL_RETRY || resume < next || resume >= end ||
            ++retries > 1000000) {
            panic(vcpu, PANIC_TDCALL, "map-gpa gpa/status", next, st);
        }
        next = resume;
    }
#else
    panic(vcpu, PANIC_TDCALL, "map-gpa in a stub build", gpa, size);
#endif
}

/*
 * Rounds of: upper half of R_i private -> shared (MapGPA), write and sum
 * it through the shared alias, shared -> private (MapGPA), ACCEPT every
 * page, check it reads as zero. Folded into the checksum (ABI, convert).
 */
static uint64_t convert_rounds(uint64_t vcpu, uint64_t base, uint64_t pages,
                               uint64_t shared_bit, uint64_t rounds,
                               uint64_t checksum)
{
    uint64_t half = pages / 2;
    uint64_t cbase = base + (pages - half) * PAGE_SIZE, csize = half * PAGE_SIZE;
    uint64_t words = csize / 8;
    volatile uint64_t *sh = (volatile uint64_t *)(uintptr_t)(TDP_SHARED_VA + cbase);
    volatile uint64_t *pv = (volatile uint64_t *)(uintptr_t)cbase;

    if (!half) {
        panic(vcpu, PANIC_TDCALL, "convert needs >= 2 pages", pages, 0);
    }
    map_shared_alias(shared_bit);
    for (uint64_t r = 0; r < rounds; r++) {
        uint64_t add = (r + 1) * CONVERT_ROUND_MUL, sum = 0, nonzero = 0;

        map_gpa(vcpu, cbase | shared_bit, csize);
        for (uint64_t k = 0; k < words; k++) {
            sh[k] = ((cbase + k * 8) ^ PATTERN_XOR) + add;
        }
        for (uint64_t k = 0; k < words; k++) {
            uint64_t v = sh[k];

            if (v != ((cbase + k * 8) ^ PATTERN_XOR) + add) {
                panic(vcpu, PANIC_CONVERT, "shared readback gpa/value",
                      cbase + k * 8, v);
            }
            sum += v;
        }
        map_gpa(vcpu, cbase, csize);
        for (uint64_t p = 0; p < half; p++) {
            accept_page_retry(vcpu, cbase + p * PAGE_SIZE, 0);
        }
        for (uint64_t k = 0; k < words; k++) {
            uint64_t v = pv[k];

            if (v && !nonzero++) {
                put_prefix(vcpu);
                put_str("not zero after re-accept gpa 0x");
                put_hex(cbase + k * 8, 16);
                put_str(" got 0x");
                put_hex(v, 16);
                put_char('\n');
            }
        }
        checksum = ((checksum << 1) | (checksum >> 63)) ^ sum;
        checksum += nonzero;
        put_prefix(vcpu);
        put_str("convert round ");
        put_dec(r);
        put_str(" pages ");
        put_dec(half);
        put_str(nonzero ? " NOT ZERO\n" : " ok\n");
    }
    return checksum;
}

/* gate mode: vCPU 0 finished converting. */
static uint32_t gate_converted;

/* ---- hammer mode ---------------------------------------------------------- */

/*
 * Store to the hammer page (one instruction, so every retry has the same
 * RIP), then read it back. tdvmm keeps the page "shared" in KVM's memory
 * attributes for a while, so the private store exits with an EPT
 * violation at the same RIP again and again (KVM_EXIT_MEMORY_FAULT to
 * tdvmm, which re-enters without converting) until the zero-step filter
 * arms; then tdvmm makes it private, KVM adds it (PAGE.AUG, PENDING), the
 * store takes a #VE and tdp_ve() accepts it. Returns 0 or 1 (mismatch).
 */
static uint64_t hammer(uint64_t vcpu)
{
    volatile uint64_t *h = (volatile uint64_t *)(uintptr_t)TDP_HAMMER_GPA;
    uint64_t t0 = rdtsc(), v;

    __asm__ volatile("movq %1, %0" : "=m"(h[vcpu]) : "r"(vcpu + 1) : "memory");
    v = h[vcpu];
    put_prefix(vcpu);
    put_str("hammer ve ");
    put_dec(ve_count[vcpu]);
    put_str(" cycles ");
    put_dec(rdtsc() - t0);
    put_str(v == vcpu + 1 ? " ok\n" : " MISMATCH\n");
    return v != vcpu + 1;
}

/* ---- ve mode -------------------------------------------------------------- */

#if HAVE_TDX_CALLS
/* Saved GPRs below the #VE frame (entry.S, tdp_ve_common). */
enum { S_RAX = -1, S_RBX = -2, S_RCX = -3, S_RDX = -4 };

static void ve_fail(uint64_t vcpu, const char *what, uint64_t a, uint64_t b)
{
    panic(vcpu, PANIC_VE, what, a, b);
}

/*
 * What Linux's TD guest does for these #VEs (virt_exception_kernel):
 * TDG.VP.VEINFO.GET, the GHCI TDVMCALL for the exit reason, results into
 * the interrupted context, RIP += the VE_INFO instruction length.
 * Returns 0 for a #VE it does not handle.
 */
static int ve_instruction(uint64_t vcpu, uint64_t *frame)
{
    uint64_t r[10] = { 0 }, st, reason, qual, len;
    uint64_t *rip = &frame[2];

    st = tdcall_regs(TDG_VP_VEINFO_GET, r);
    if (st) {
        ve_fail(vcpu, "VEINFO.GET status/rip", st, *rip);
    }
    reason = r[0];
    qual = r[1];
    len = r[4] & 0xFFFFFFFF;
    if (len == 0 || len > 15) {
        ve_fail(vcpu, "VE_INFO instruction length/reason", len, reason);
    }
    memset(r, 0, sizeof(r));
    r[0] = TDVMCALL_EXPOSE;
    switch (reason) {
    case TDX_EXIT_REASON_CPUID:
        r[5] = TDVMCALL_CPUID;
        r[6] = (uint32_t)frame[S_RAX];
        r[7] = (uint32_t)frame[S_RCX];
        st = tdcall_regs(TDG_VP_VMCALL, r);
        if (st || r[4]) {
            ve_fail(vcpu, "TDVMCALL<CPUID> status", st, r[4]);
        }
        frame[S_RAX] = (uint32_t)r[6];
        frame[S_RBX] = (uint32_t)r[7];
        frame[S_RCX] = (uint32_t)r[8];
        frame[S_RDX] = (uint32_t)r[9];
        ve_counts[vcpu].cpuid++;
        break;
    case TDX_EXIT_REASON_IO: {
        unsigned size = (unsigned)(qual & 7) + 1, in = (qual >> 3) & 1;
        uint64_t mask = size == 4 ? 0xFFFFFFFFull : (1ull << (size * 8)) - 1;

        if (qual & (1 << 4)) {
            ve_fail(vcpu, "string I/O #VE qual", qual, *rip);
        }
        r[5] = TDVMCALL_IO;
        r[6] = size;
        r[7] = !in;
        r[8] = qual >> 16 & 0xFFFF;
        r[9] = in ? 0 : frame[S_RAX] & mask;
        st = tdcall_regs(TDG_VP_VMCALL, r);
        if (st || r[4]) {
            ve_fail(vcpu, "TDVMCALL<IO> status", st, r[4]);
        }
        if (in) {
            frame[S_RAX] = (frame[S_RAX] & ~mask) | (r[5] & mask);
            if (size == 4) {
                frame[S_RAX] &= 0xFFFFFFFF;   /* 32-bit writes zero-extend */
            }
        }
        ve_counts[vcpu].io++;
        break;
    }
    case TDX_EXIT_REASON_RDMSR:
        r[5] = TDVMCALL_RDMSR;
        r[6] = (uint32_t)frame[S_RCX];
        st = tdcall_regs(TDG_VP_VMCALL, r);
        if (st || r[4]) {
            ve_fail(vcpu, "TDVMCALL<RDMSR> status", st, r[4]);
        }
        frame[S_RAX] = (uint32_t)r[5];
        frame[S_RDX] = r[5] >> 32;
        ve_counts[vcpu].rdmsr++;
        break;
    case TDX_EXIT_REASON_WRMSR:
        r[5] = TDVMCALL_WRMSR;
        r[6] = (uint32_t)frame[S_RCX];
        r[7] = (frame[S_RDX] << 32) | (uint32_t)frame[S_RAX];
        st = tdcall_regs(TDG_VP_VMCALL, r);
        if (st || r[4]) {
            ve_fail(vcpu, "TDVMCALL<WRMSR> status", st, r[4]);
        }
        ve_counts[vcpu].wrmsr++;
        break;
    case TDX_EXIT_REASON_HLT:
        /*
         * R12 = 0, "interrupts not blocked", as Linux's idle STI;HLT
         * (tdx_safe_halt) passes: KVM then lets a pending interrupt end
         * the halt (with 1 only NMI/INIT would, as for HLT with IF = 0);
         * so does a PV kick (KVM_HC_KICK_CPU) from another vCPU.
         */
        r[5] = TDVMCALL_HLT;
        r[6] = 0;
        st = tdcall_regs(TDG_VP_VMCALL, r);
        if (st || r[4]) {
            ve_fail(vcpu, "TDVMCALL<HLT> status", st, r[4]);
        }
        ve_counts[vcpu].hlt++;
        break;
    default:
        put_prefix(vcpu);
        put_str("unexpected #VE reason ");
        put_dec(reason);
        put_char('\n');
        return 0;
    }
    *rip += len;
    return 1;
}

static uint64_t vm_rd(uint64_t vcpu, uint64_t field)
{
    uint64_t r[10] = { 0 }, st;

    r[1] = field;
    st = tdcall_regs(TDG_VM_RD, r);
    if (st) {
        ve_fail(vcpu, "TDG.VM.RD field/status", field, st);
    }
    return r[2];
}

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;

    for (int i = 7; i >= 0; i--) {
        v = v << 8 | p[i];
    }
    return v;
}

/* The instructions and leaves of ve mode (ABI above); returns C. */
static uint64_t ve_run(uint64_t vcpu, uint64_t base)
{
    uint8_t *data = (uint8_t *)(uintptr_t)base;             /* 64-aligned */
    uint8_t *rpt = (uint8_t *)(uintptr_t)(base + 0x400);    /* 1K-aligned */
    uint32_t eax = 0x40000000, ebx = 0, ecx = 0, edx = 0, lo, hi;
    uint64_t r[10] = { 0 }, st, rtmr = vcpu ? 3 : 2, attr, v, nvcpus;
    struct ve_counts *n = &ve_counts[vcpu];

    ve_mode[vcpu] = 1;
    __asm__ volatile("cpuid" : "+a"(eax), "=b"(ebx), "+c"(ecx), "=d"(edx));
    if (ebx != 0x4b4d564b || ecx != 0x564b4d56 || edx != 0x4d) {
        ve_fail(vcpu, "CPUID 0x40000000 ebx/ecx (not KVMKVMKVM)", ebx, ecx);
    }
    __asm__ volatile("outl %0, %w1" : : "a"(0x5e5e0000u | (uint32_t)vcpu),
                     "Nd"((uint16_t)TDP_PORT_VE));
    lo = 0;
    __asm__ volatile("inl %w1, %0" : "=a"(lo) : "Nd"((uint16_t)TDP_PORT_VE));
    if (lo != 0xFFFFFFFF) {
        ve_fail(vcpu, "IN port 0x505 (want 0xffffffff)", lo, 0);
    }
    __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(MSR_KVM_POLL_CONTROL));
    if (lo != 1 || hi) {
        ve_fail(vcpu, "RDMSR POLL_CONTROL (want 1)", lo, hi);
    }
    __asm__ volatile("wrmsr" : : "a"(0), "d"(0), "c"(MSR_KVM_POLL_CONTROL));
    __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(MSR_KVM_POLL_CONTROL));
    if (lo != 0 || hi) {
        ve_fail(vcpu, "RDMSR POLL_CONTROL after writing 0", lo, hi);
    }
    __asm__ volatile("wrmsr" : : "a"(1), "d"(0), "c"(MSR_KVM_POLL_CONTROL));
    /* Software-enable the local APIC, as Linux does (x2APIC SVR is a #VE
     * MSR, emulated by KVM): KVM accepts fixed interrupts only then. */
    __asm__ volatile("wrmsr" : : "a"(0x1FF), "d"(0), "c"(MSR_X2APIC_SVR));
    /*
     * Something must end the HLT: KVM_HC_KICK_CPU (a KVM hypercall through
     * TDG.VP.VMCALL, R10 = 5, R12 = APIC ID) to the next vCPU, which marks
     * it "PV-unhalted" in KVM, so its halt returns whether it is already
     * halted or halts later; the previous vCPU kicks this one. (An
     * interrupt would need posted-interrupt processing in the module.)
     */
    memset(r, 0, sizeof(r));
    st = tdcall_regs(TDG_VP_INFO, r);
    nvcpus = r[2] & 0xFFFFFFFF;
    if (st || nvcpus == 0 || vcpu >= nvcpus) {
        ve_fail(vcpu, "TDG.VP.INFO status/vcpus", st, nvcpus);
    }
    memset(r, 0, sizeof(r));
    r[0] = 0x1C00;                      /* R10..R12 */
    r[4] = KVM_HC_KICK_CPU;
    r[6] = (vcpu + 1) % nvcpus;
    st = tdcall_regs(TDG_VP_VMCALL, r);
    if (st || r[4]) {
        ve_fail(vcpu, "TDVMCALL<KVM_HC_KICK_CPU> status", st, r[4]);
    }
    io_write(TDP_PORT_VE_HLT, 4, (uint32_t)vcpu);
    __asm__ volatile("hlt" ::: "memory");

    /* Guest leaves. */
    for (int k = 0; k < 48; k++) {
        data[k] = (uint8_t)(vcpu * 31 + k);
    }
    r[0] = base;
    r[1] = rtmr;
    st = tdcall_regs(TDG_MR_RTMR_EXTEND, r);
    if (st) {
        ve_fail(vcpu, "RTMR.EXTEND index/status", rtmr, st);
    }
    for (int k = 0; k < 64; k++) {
        data[k] = (uint8_t)(0xA5 ^ vcpu ^ k);
    }
    memset(r, 0, sizeof(r));
    r[0] = base + 0x400;
    r[1] = base;
    st = tdcall_regs(TDG_MR_REPORT, r);
    if (st) {
        ve_fail(vcpu, "REPORT status", st, 0);
    }
    if (rpt[0] != 0x81 || rpt[1] != 0) {
        ve_fail(vcpu, "REPORTTYPE type/subtype", rpt[0], rpt[1]);
    }
    for (int k = 0; k < 64; k++) {
        if (rpt[128 + k] != (uint8_t)(0xA5 ^ vcpu ^ k)) {
            ve_fail(vcpu, "REPORTDATA byte/value", (uint64_t)k, rpt[128 + k]);
        }
    }
    attr = vm_rd(vcpu, TDCS_ATTRIBUTES);
    if (le64(rpt + 512) != attr) {
        ve_fail(vcpu, "TDINFO.ATTRIBUTES/VM.RD", le64(rpt + 512), attr);
    }
    v = 0;
    for (int q = 0; q < 6; q++) {
        v |= le64(rpt + 512 + 208 + rtmr * 48 + q * 8);
    }
    if (!v) {
        ve_fail(vcpu, "extended RTMR reads zero in the report", rtmr, 0);
    }
    if (vcpu == 0 && vm_rd(vcpu, TDCS_RTMR_0_0 + 2 * 6) != le64(rpt + 512 + 208 + 96)) {
        ve_fail(vcpu, "RTMR[2] report/VM.RD", le64(rpt + 512 + 208 + 96),
                vm_rd(vcpu, TDCS_RTMR_0_0 + 2 * 6));
    }
    memset(r, 0, sizeof(r));
    r[1] = TDVPS_VCPU_INDEX;
    st = tdcall_regs(TDG_VP_RD, r);
    if (st || r[2] != vcpu) {
        ve_fail(vcpu, "VP.RD VCPU_INDEX status/value", st, r[2]);
    }
    ve_mode[vcpu] = 0;
    put_prefix(vcpu);
    put_str("ve cpuid ");
    put_dec(n->cpuid);
    put_str(" io ");
    put_dec(n->io);
    put_str(" rdmsr ");
    put_dec(n->rdmsr);
    put_str(" wrmsr ");
    put_dec(n->wrmsr);
    put_str(" hlt ");
    put_dec(n->hlt);
    put_str(" report ok\n");
    return vcpu << 48 | (n->cpuid & 0xFF) << 32 | (n->io & 0xFF) << 24 |
           (n->rdmsr & 0xFF) << 16 | (n->wrmsr & 0xFF) << 8 | (n->hlt & 0xFF);
}
#endif

/* ---- irq mode ------------------------------------------------------------- */

/*
 * Interrupts into the TD: x2APIC self-IPIs (virtualized, no exit), host
 * interrupts (tdvmm's KVM_SIGNAL_MSI, posted by KVM) and IPIs from the
 * previous vCPU (ICR write through TDG.VP.VMCALL<Instruction.WRMSR>, as a
 * Linux TD guest's #VE handler does; KVM posts it to the target). One IDT
 * for all vCPUs (same gates); handlers count per vCPU and kind and EOI
 * through the virtualized x2APIC EOI MSR. Each interrupt is waited for
 * (STI + PAUSE loop, not HLT) before the next is requested, so none can
 * coalesce with another in the PIR.
 */
enum { IRQ_HOST, IRQ_IPI, IRQ_SELF, IRQ_KINDS };
extern const char tdp_irq_stub_host[], tdp_irq_stub_ipi[], tdp_irq_stub_self[];
static volatile uint32_t irq_count[TDP_MAX_VCPUS][IRQ_KINDS];

static void wrmsr(uint32_t msr, uint64_t v)
{
    __asm__ volatile("wrmsr" : : "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32))
                     : "memory");
}

/* frame: vector, then the CPU's RIP, CS, RFLAGS, RSP, SS. */
void tdp_irq(const uint64_t *frame);
void tdp_irq(const uint64_t *frame)
{
    uint64_t vcpu = ((uintptr_t)tdp_stacks_top - (uintptr_t)frame) / TDP_STACK_SIZE;
    unsigned kind = frame[0] == TDP_VEC_HOST ? IRQ_HOST :
                    frame[0] == TDP_VEC_IPI ? IRQ_IPI : IRQ_SELF;

    if (vcpu < TDP_MAX_VCPUS) {
        irq_count[vcpu][kind]++;
    }
    wrmsr(X2APIC_EOI, 0);
}

#ifndef TD_PAYLOAD_STUB_TDCALL
static struct idt_gate irq_idt[TDP_VEC_SELF + 1] __attribute__((aligned(16)));

static void set_gate(struct idt_gate *g, uint64_t h)
{
    g->off_lo = (uint16_t)h;
    g->sel = TDP_SEL_CODE64;
    g->ist = 0;
    g->type = 0x8e;
    g->off_mid = (uint16_t)(h >> 16);
    g->off_hi = (uint32_t)(h >> 32);
    g->reserved = 0;
}

static void setup_irq_idt(void)
{
    struct {
        uint16_t limit;
        uint64_t base;
    } __attribute__((packed)) desc = {
        .limit = sizeof(irq_idt) - 1,
        .base = (uintptr_t)irq_idt,
    };

    for (int v = 0; v < 32; v++) {
        set_gate(&irq_idt[v], (uintptr_t)tdp_exc_stubs + v * 16);
    }
    set_gate(&irq_idt[TDP_VEC_HOST], (uintptr_t)tdp_irq_stub_host);
    set_gate(&irq_idt[TDP_VEC_IPI], (uintptr_t)tdp_irq_stub_ipi);
    set_gate(&irq_idt[TDP_VEC_SELF], (uintptr_t)tdp_irq_stub_self);
    __asm__ volatile("lidt %0" : : "m"(desc) : "memory");
}

/* TDG.VP.INFO: R8[31:0] = number of vCPUs (0 if the call fails). */
static uint64_t num_vcpus(void)
{
    register uint64_t r8 __asm__("r8");
    uint64_t rax = TDG_VP_INFO, rcx, rdx;

    __asm__ volatile(".byte 0x66, 0x0f, 0x01, 0xcc"
                     : "+a"(rax), "=c"(rcx), "=d"(rdx), "=r"(r8)
                     :
                     : "r9", "r10", "r11", "memory");
    return rax ? 0 : (uint32_t)r8;
}

/* Interrupts on until *c reaches want (STI + PAUSE), then off again. */
static void wait_count(uint64_t vcpu, volatile uint32_t *c, uint32_t want,
                       const char *what)
{
    uint64_t t0 = rdtsc();

    __asm__ volatile("sti" : : : "memory");
    while (*c < want) {
        __asm__ volatile("pause" : : : "memory");
        if (rdtsc() - t0 > IRQ_SPIN_CYCLES) {
            __asm__ volatile("cli" : : : "memory");
            panic(vcpu, PANIC_IRQ, what, want, *c);
        }
    }
    __asm__ volatile("cli" : : : "memory");
}

static uint64_t irq_mode(uint64_t vcpu, uint64_t n)
{
    volatile uint32_t *mine = irq_count[vcpu];
    uint64_t nv = num_vcpus(), st;

    setup_irq_idt();
    /*
     * Software-enable the local APIC KVM emulates for this vCPU (SVR is
     * not virtualized: a Linux TD guest's write #VEs and becomes this
     * TDVMCALL); KVM drops fixed interrupts to a disabled APIC.
     */
    st = tdvmcall(TDVMCALL_WRMSR, X2APIC_SVR, APIC_SVR_ENABLE | 0xFF, 0, 0);
    if (st) {
        panic(vcpu, PANIC_IRQ, "SVR write via TDVMCALL status", st, 0);
    }
    for (uint64_t k = 1; k <= n; k++) {
        wrmsr(X2APIC_SELF_IPI, TDP_VEC_SELF);
        wait_count(vcpu, &mine[IRQ_SELF], (uint32_t)k, "self-IPI want/got");
    }
    for (uint64_t k = 1; k <= n; k++) {
        io_write(TDP_PORT_IRQ, 4, (uint32_t)k);
        wait_count(vcpu, &mine[IRQ_HOST], (uint32_t)k, "host interrupt want/got");
    }
    if (nv >= 2 && nv <= TDP_MAX_VCPUS) {
        uint64_t to = (vcpu + 1) % nv;

        for (uint64_t k = 1; k <= n; k++) {
            st = tdvmcall(TDVMCALL_WRMSR, X2APIC_ICR, to << 32 | TDP_VEC_IPI, 0, 0);

            if (st) {
                panic(vcpu, PANIC_IRQ, "ICR write via TDVMCALL status/k", st, k);
            }
            wait_count(vcpu, &irq_count[to][IRQ_IPI], (uint32_t)k,
                       "IPI to the next vcpu want/got");
        }
        wait_count(vcpu, &mine[IRQ_IPI], (uint32_t)n, "IPIs from the previous vcpu");
    }
    put_prefix(vcpu);
    put_str("irq self ");
    put_dec(mine[IRQ_SELF]);
    put_str(" host ");
    put_dec(mine[IRQ_HOST]);
    put_str(" ipi ");
    put_dec(mine[IRQ_IPI]);
    put_str(" vcpus ");
    put_dec(nv);
    put_char('\n');
    return mine[IRQ_SELF] | (uint64_t)mine[IRQ_HOST] << 16 |
           (uint64_t)mine[IRQ_IPI] << 32;
}
#else
static uint64_t irq_mode(uint64_t vcpu, uint64_t n)
{
    panic(vcpu, PANIC_TDCALL, "irq mode needs a TD, n", n, 0);
}
#endif

/* ---- main ----------------------------------------------------------------- */

static __attribute__((noreturn)) void report(uint64_t vcpu, uint64_t checksum)
{
    put_prefix(vcpu);
    put_str("checksum ");
    put_hex(checksum, 16);
    put_char('\n');
    io_write(PORT_DONE, 4, (uint32_t)checksum);
    halt_forever();
}

void td_main(uint64_t vcpu, uint64_t rcx, uint64_t gpaw)
{
    uint64_t pages = rcx & 0xffff ? rcx & 0xffff : DEFAULT_PAGES;
    uint64_t base = REGION_BASE + vcpu * pages * PAGE_SIZE;
    unsigned mode = (unsigned)(rcx >> TDP_MODE_SHIFT) & TDP_MODE_MASK;
    uint64_t n = rcx >> TDP_ARG_SHIFT, checksum, t0, t1;
    static const char *const names[] = {
        "normal", "convert", "hammer", "pingpong", "compute", "ve", "irq",
        "gate",
    };

    setup_idt(vcpu);
    put_prefix(vcpu);
    put_str("start pages ");
    put_dec(pages);
    put_str(" gpaw ");
    put_dec(gpaw);
    if (mode) {
        put_str(" mode ");
        put_str(mode <= TDP_MODE_GATE ? names[mode] : "?");
        put_str(" n ");
        put_dec(n);
    }
    put_char('\n');
    if (mode > TDP_MODE_GATE || (mode == TDP_MODE_VE && !HAVE_TDX_CALLS)) {
        panic(vcpu, PANIC_TDCALL, "unknown mode rcx", rcx, mode);
    }
    if (base + pages * PAGE_SIZE > REGION_LIMIT) {
        panic(vcpu, PANIC_TDCALL, "region beyond limit base/pages", base, pages);
    }

#ifdef TD_PAYLOAD_TEST_UD2
    __asm__ volatile("ud2");    /* tests the exception path (stub builds) */
#endif
    switch (mode) {
    case TDP_MODE_IRQ:
        report(vcpu, irq_mode(vcpu, n ? n : IRQ_DEFAULT));
    case TDP_MODE_PINGPONG:
        n = n ? n : PINGPONG_DEFAULT;
        t0 = rdtsc();
        for (uint64_t k = 0; k < n; k++) {
            io_write(TDP_PORT_PING, 4, (uint32_t)k);
        }
        t1 = rdtsc();
        put_prefix(vcpu);
        put_str("pingpong exits ");
        put_dec(n);
        put_str(" cycles ");
        put_dec(t1 - t0);
        put_char('\n');
        report(vcpu, n ^ (vcpu * LCG_MUL));
    case TDP_MODE_COMPUTE:
        n = n ? n : COMPUTE_DEFAULT;
        t0 = rdtsc();
        checksum = lcg_n(vcpu + 1, n);
        t1 = rdtsc();
        put_prefix(vcpu);
        put_str("compute cycles ");
        put_dec(t1 - t0);
        put_char('\n');
        report(vcpu, checksum);
#if HAVE_TDX_CALLS
    case TDP_MODE_VE:
        accept_region(vcpu, base, pages);
        report(vcpu, ve_run(vcpu, base));
#endif
    case TDP_MODE_GATE:
        accept_region(vcpu, base, pages);
        checksum = memory_sum(vcpu, base, pages) ^ lcg(vcpu);
        if (vcpu == 0) {
            checksum = convert_rounds(vcpu, base, pages, 1ull << (gpaw - 1),
                                      n ? n : CONVERT_ROUNDS, checksum);
            __atomic_store_n(&gate_converted, 1, __ATOMIC_RELEASE);
        } else {
            uint64_t x = vcpu, spins = 0;

            while (!__atomic_load_n(&gate_converted, __ATOMIC_ACQUIRE)) {
                x = lcg_n(x, 1000);
                __asm__ volatile("" : : "r"(x));    /* keep the work */
                spins++;
            }
            put_prefix(vcpu);
            put_str("gate spins ");
            put_dec(spins);
            put_char('\n');
        }
        report(vcpu, checksum);
    case TDP_MODE_HAMMER:
        /* Even vCPUs hammer while odd ones accept (their PAGE.AUG and
         * SEPT.ADD then meet the hammering vCPUs' VP.ENTER, which holds
         * the S-EPT tree); odd ones hammer after their accept phase. */
        checksum = 0;
        if (!(vcpu & 1)) {
            checksum |= hammer(vcpu);
        }
        accept_region(vcpu, base, pages);
        io_write(TDP_PORT_PHASE, 4, 1);
        if (vcpu & 1) {
            checksum |= hammer(vcpu);
        }
        report(vcpu, (memory_sum(vcpu, base, pages) ^ lcg(vcpu)) + checksum);
    default:
        accept_region(vcpu, base, pages);
        checksum = memory_sum(vcpu, base, pages) ^ lcg(vcpu);
        if (mode == TDP_MODE_CONVERT) {
            checksum = convert_rounds(vcpu, base, pages, 1ull << (gpaw - 1),
                                      n ? n : CONVERT_ROUNDS, checksum);
        }
        report(vcpu, checksum);
    }
}

void *memset(void *s, int c, unsigned long n)
{
    unsigned char *p = s;

    while (n--) {
        *p++ = (unsigned char)c;
    }
    return s;
}

void *memcpy(void *d, const void *s, unsigned long n)
{
    unsigned char *dp = d;
    const unsigned char *sp = s;

    while (n--) {
        *dp++ = *sp++;
    }
    return d;
}
