// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * td-payload: a freestanding TD guest image for tdx-emu. guest/tdvmm loads
 * it (`tdvmm --run td-payload.bin`) as the TD's measured initial memory and
 * checks what every vCPU reports.
 *
 * ---- ABI, version 1 -------------------------------------------------------
 *
 * Image. A flat binary of TDP_IMAGE_SIZE bytes (layout.h: 0x60000, a
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
 * Ports, all through TDG.VP.VMCALL<Instruction.IO> (TDCALL leaf 0,
 * RCX = 0xFC00, R10 = 0, R11 = 30, R12 = size, R13 = 1 (write),
 * R14 = port, R15 = value); KVM turns each into a KVM_EXIT_IO:
 *   0x3F8, 1 byte:  console; ASCII lines ending in '\n':
 *                   "td-payload vcpu <i> start pages <P> gpaw <G>"
 *                   "td-payload vcpu <i> checksum <16 lower-case hex digits>"
 *   0x501, 4 bytes: done; value = C_i & 0xffffffff. Sent once, last.
 *   0x502, 4 bytes: panic; value = exception vector (0..31) or 0x100 for a
 *                   failed TDCALL/bad parameters; preceded by a console
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
#define TDG_MEM_PAGE_ACCEPT 6
#define TDVMCALL_EXPOSE     0xFC00  /* R10..R15 */
#define TDVMCALL_HLT        12
#define TDVMCALL_IO         30
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
#endif

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

static uint64_t lcg(uint64_t vcpu)
{
    uint64_t x = vcpu + 1;

    for (uint32_t n = 0; n < LCG_ITERATIONS; n++) {
        x = x * LCG_MUL + LCG_ADD;
        __asm__ volatile("" : "+r"(x));  /* keep every iteration */
    }
    return x;
}

void td_main(uint64_t vcpu, uint64_t rcx, uint64_t gpaw)
{
    uint64_t pages = rcx & 0xffff ? rcx & 0xffff : DEFAULT_PAGES;
    uint64_t base = REGION_BASE + vcpu * pages * PAGE_SIZE;
    uint64_t checksum;

    setup_idt(vcpu);
    put_prefix(vcpu);
    put_str("start pages ");
    put_dec(pages);
    put_str(" gpaw ");
    put_dec(gpaw);
    put_char('\n');
    if (base + pages * PAGE_SIZE > REGION_LIMIT) {
        panic(vcpu, PANIC_TDCALL, "region beyond limit base/pages", base, pages);
    }

#ifdef TD_PAYLOAD_TEST_UD2
    __asm__ volatile("ud2");    /* tests the exception path (stub builds) */
#endif
    accept_region(vcpu, base, pages);
    checksum = memory_sum(vcpu, base, pages) ^ lcg(vcpu);

    put_prefix(vcpu);
    put_str("checksum ");
    put_hex(checksum, 16);
    put_char('\n');
    io_write(PORT_DONE, 4, (uint32_t)checksum);
    halt_forever();
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
