/*
 * Bare-metal ring-0 test of tdx-emu's VMX instructions (32-bit protected
 * mode with paging; VMX allows it outside IA-32e mode). Exercises the
 * malformed uses L1 kernels never make: unaligned, beyond-MAXPHYADDR and
 * unbacked VMCS pointers, wrong revision IDs, unsupported fields, bad
 * INVEPT/INVVPID operands, VMLAUNCH/VMRESUME in every launch state, CR4.VMXE
 * clearing in VMX operation, SEAMCALL outside 64-bit mode. Results go to
 * the serial port as "VMXTEST ok|FAIL ..." and the exit code to
 * isa-debug-exit (0 = all passed, QEMU exits with status 1).
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <stdint.h>

#define CF 0x001
#define ZF 0x040
#define FLAGS_MASK 0x8d5                        /* OF SF ZF AF PF CF */

volatile uint32_t fault_vector, recover_eip;
void trap_ud(void);
void trap_gp(void);

static uint32_t pd[1024] __attribute__((aligned(4096)));
static uint8_t vmxon_region[4096] __attribute__((aligned(4096)));
static uint8_t vmcs_a[4096] __attribute__((aligned(4096)));
static uint8_t vmcs_b[4096] __attribute__((aligned(4096)));
static uint8_t bad_rev[4096] __attribute__((aligned(4096)));
static uint64_t idt[32] __attribute__((aligned(8)));
static int failures;

static void outb(uint16_t port, uint8_t v) { asm volatile("outb %0, %1" :: "a"(v), "Nd"(port)); }
static void puts_(const char *s) { while (*s) outb(0x3f8, *s++); }
static void puthex(uint64_t v)
{
    char b[19] = "0x";
    for (int i = 0; i < 16; i++) {
        b[2 + i] = "0123456789abcdef"[(v >> (60 - 4 * i)) & 15];
    }
    b[18] = 0;
    puts_(b);
}
static void check(const char *name, uint64_t got, uint64_t want)
{
    puts_(got == want ? "VMXTEST ok " : "VMXTEST FAIL ");
    puts_(name);
    if (got != want) {
        puts_(" got ");
        puthex(got);
        puts_(" want ");
        puthex(want);
        failures++;
    }
    puts_("\n");
}

static uint32_t rdmsr_lo(uint32_t msr)
{
    uint32_t lo, hi;
    asm volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
    return lo;
}

/* Each VMX wrapper returns the arithmetic flags after the instruction. */
#define VMX_OP(name, insn)                                              \
static uint32_t name(uint64_t *p)                                       \
{                                                                       \
    uint32_t f;                                                         \
    asm volatile(insn " %1; pushf; pop %0" : "=r"(f) : "m"(*p) : "cc", "memory"); \
    return f & FLAGS_MASK;                                              \
}
VMX_OP(vmxon, "vmxon")
VMX_OP(vmptrld, "vmptrld")
VMX_OP(vmclear, "vmclear")
VMX_OP(vmptrst, "vmptrst")

static uint32_t vmread(uint32_t field, uint32_t *val)
{
    uint32_t f, v = 0xdeadbeef;
    asm volatile("vmread %2, %1; pushf; pop %0" : "=r"(f), "+r"(v) : "r"(field) : "cc");
    *val = v;
    return f & FLAGS_MASK;
}
static uint32_t vmwrite(uint32_t field, uint32_t val)
{
    uint32_t f;
    asm volatile("vmwrite %2, %1; pushf; pop %0" : "=r"(f) : "r"(field), "r"(val) : "cc");
    return f & FLAGS_MASK;
}
static uint32_t invept(uint32_t type, uint64_t desc[2])
{
    uint32_t f;
    asm volatile("invept %1, %2; pushf; pop %0" : "=r"(f) : "m"(*desc), "r"(type) : "cc", "memory");
    return f & FLAGS_MASK;
}
static uint32_t invvpid(uint32_t type, uint64_t desc[2])
{
    uint32_t f;
    asm volatile("invvpid %1, %2; pushf; pop %0" : "=r"(f) : "m"(*desc), "r"(type) : "cc", "memory");
    return f & FLAGS_MASK;
}
static uint32_t vmlaunch(int resume)
{
    uint32_t f;
    if (resume) {
        asm volatile("vmresume; pushf; pop %0" : "=r"(f) :: "cc", "memory");
    } else {
        asm volatile("vmlaunch; pushf; pop %0" : "=r"(f) :: "cc", "memory");
    }
    return f & FLAGS_MASK;
}
static uint32_t insn_error(void)
{
    uint32_t v;
    vmread(0x4400, &v);
    return v;
}

/* Run an instruction that may fault; returns the vector or 0. */
#define EXPECT_FAULT(var, insn_asm, ...)                                \
    do {                                                                \
        fault_vector = 0;                                               \
        asm volatile("movl $1f, recover_eip\n\t" insn_asm "\n1:"        \
                     :: __VA_ARGS__ : "cc", "memory", "eax");           \
        var = fault_vector;                                             \
    } while (0)

static void set_gate(int vec, void (*fn)(void))
{
    uint32_t a = (uint32_t)fn;
    idt[vec] = (a & 0xffff) | (0x10ULL << 16) | (0x8eULL << 40) |
               ((uint64_t)(a >> 16) << 48);
}

static uint64_t pa(void *p) { return (uint32_t)p; }

void test_main(void);
void test_main(void)
{
    uint32_t rev, v, vec, cs;
    uint64_t ptr, beyond, desc[2];
    struct { uint16_t lim; uint32_t base; } __attribute__((packed)) idtr;

    puts_("VMXTEST start\n");
    asm volatile("mov %%cs, %0" : "=r"(cs));
    for (int i = 0; i < 32; i++) {
        set_gate(i, trap_gp);
    }
    set_gate(6, trap_ud);
    for (int i = 0; i < 32; i++) {      /* patch in the real CS selector */
        idt[i] = (idt[i] & ~(0xffffULL << 16)) | ((uint64_t)cs << 16);
    }
    idtr.lim = sizeof(idt) - 1;
    idtr.base = (uint32_t)idt;
    asm volatile("lidt %0" :: "m"(idtr));

    /* Plain CPU (no tdx-emu): VMX is not enumerated, VMREAD is #UD. */
    {
        uint32_t a = 1, b, c = 0, d;
        asm volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
        if (!(c & (1u << 5))) {
            EXPECT_FAULT(vec, "vmread %0, %1", "r"(0x4400), "c"(0));
            check("vmread outside vmx #UD", vec, 6);
            puts_(failures ? "VMXTEST result FAIL\n" : "VMXTEST result PLAIN\n");
            outb(0xf4, failures ? 1 : 0);
        }
    }

    /* Identity-map 1 GiB with 4-MiB pages, then CR4.PSE|VMXE, CR0.PG|NE. */
    for (int i = 0; i < 256; i++) {
        pd[i] = (i << 22) | 0x83;
    }
    asm volatile("mov %0, %%cr3" :: "r"(pd));
    asm volatile("mov %%cr4, %0; or $0x2010, %0; mov %0, %%cr4" : "=r"(v));
    asm volatile("mov %%cr0, %0; or $0x80000020, %0; mov %0, %%cr0" : "=r"(v));

    /* The first address beyond MAXPHYADDR (CPUID 0x80000008 EAX[7:0]). */
    {
        uint32_t a = 0x80000008, b, c = 0, d;
        asm volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
        beyond = 1ULL << (a & 0xff);
    }
    rev = rdmsr_lo(0x480) & 0x7fffffff;
    check("feature-control locked+vmx", rdmsr_lo(0x3a) & 5, 5);
    *(uint32_t *)vmxon_region = rev;
    *(uint32_t *)vmcs_a = rev;
    *(uint32_t *)vmcs_b = rev;
    *(uint32_t *)bad_rev = rev ^ 1;

    /* Before VMXON: VMREAD is #UD. */
    EXPECT_FAULT(vec, "vmread %0, %1", "r"(0x4400), "c"(0));
    check("vmread outside vmx #UD", vec, 6);

    ptr = pa(vmxon_region) + 8;
    check("vmxon unaligned -> VMfailInvalid", vmxon(&ptr), CF);
    ptr = beyond;
    check("vmxon beyond maxphyaddr -> VMfailInvalid", vmxon(&ptr), CF);
    ptr = pa(bad_rev);
    check("vmxon bad revision -> VMfailInvalid", vmxon(&ptr), CF);
    ptr = pa(vmxon_region);
    check("vmxon", vmxon(&ptr), 0);
    check("vmxon again, no vmcs -> VMfailInvalid", vmxon(&ptr), CF);

    EXPECT_FAULT(vec, "mov %%cr4, %%eax; and $~0x2000, %%eax; mov %%eax, %%cr4", "i"(0));
    check("clear CR4.VMXE in vmx operation #GP", vec, 13);

    ptr = pa(vmcs_a) + 0x10;
    check("vmptrld unaligned, no vmcs -> VMfailInvalid", vmptrld(&ptr), CF);
    check("vmread without current vmcs -> VMfailInvalid", vmread(0x681e, &v), CF);
    ptr = pa(vmcs_a);
    check("vmclear a", vmclear(&ptr), 0);
    check("vmptrld a", vmptrld(&ptr), 0);
    ptr = 0;
    check("vmptrst", vmptrst(&ptr), 0);
    check("vmptrst value", ptr, pa(vmcs_a));

    ptr = pa(vmcs_b) + 4;
    check("vmptrld unaligned -> VMfailValid", vmptrld(&ptr), ZF);
    check("  error 9", insn_error(), 9);
    ptr = beyond;
    check("vmptrld beyond maxphyaddr -> VMfailValid", vmptrld(&ptr), ZF);
    check("  error 9", insn_error(), 9);
    ptr = pa(vmxon_region);
    check("vmptrld vmxon pointer -> VMfailValid", vmptrld(&ptr), ZF);
    check("  error 10", insn_error(), 10);
    ptr = pa(bad_rev);
    check("vmptrld bad revision -> VMfailValid", vmptrld(&ptr), ZF);
    check("  error 11", insn_error(), 11);
    ptr = 1ULL << 39;                   /* aligned, unbacked */
    check("vmptrld unbacked -> VMfailValid", vmptrld(&ptr), ZF);
    check("  error 11", insn_error(), 11);
    check("vmclear unbacked", vmclear(&ptr), 0);
    ptr = pa(vmxon_region);
    check("vmclear vmxon pointer -> VMfailValid", vmclear(&ptr), ZF);
    check("  error 3", insn_error(), 3);

    check("vmread unsupported field -> VMfailValid", vmread(0x1234, &v), ZF);
    check("  error 12", insn_error(), 12);
    check("vmread unsupported field keeps dest", v, 0xdeadbeef);
    check("vmread high of 32-bit field", vmread(0x4003, &v), ZF);
    check("vmwrite unsupported field", vmwrite(0x7fff, 1), ZF);
    check("vmwrite guest rip", vmwrite(0x681e, 0x12345678), 0);
    check("vmread guest rip", vmread(0x681e, &v), 0);
    check("  value", v, 0x12345678);
    check("vmwrite 16-bit vpid", vmwrite(0x0000, 0xabcd1234), 0);
    vmread(0x0000, &v);
    check("  truncated", v, 0x1234);
    /* A 32-bit VMWRITE of a full 64-bit field zero-extends... */
    vmwrite(0x2000, 0x11223344);
    /* ...and the high access then writes bits 63:32 only. */
    check("vmwrite high of 64-bit field", vmwrite(0x2001, 0x55aa), 0);
    vmread(0x2001, &v);
    check("  high", v, 0x55aa);
    vmread(0x2000, &v);
    check("  low kept", v, 0x11223344);
    vmwrite(0x2000, 0x99);
    vmread(0x2001, &v);
    check("  full 32-bit write clears high", v, 0);

    check("vmlaunch, vmcs clear -> error 7", vmlaunch(0), ZF);
    check("  error 7", insn_error(), 7);
    check("vmresume, vmcs not launched -> VMfailValid", vmlaunch(1), ZF);
    check("  error 5", insn_error(), 5);
    ptr = pa(vmcs_b);
    vmptrld(&ptr);                       /* never VMCLEARed */
    check("vmlaunch, vmcs never cleared -> error 4", vmlaunch(0), ZF);
    check("  error 4", insn_error(), 4);

    desc[0] = 0; desc[1] = 0;
    check("invept type 3 -> VMfailValid", invept(3, desc), ZF);
    check("  error 28", insn_error(), 28);
    check("invept all-context", invept(2, desc), 0);
    desc[0] = 0x5e;                      /* WB, 4-level, A/D */
    check("invept single-context", invept(1, desc), 0);
    desc[0] = 0x5e | beyond;
    check("invept eptp beyond maxphyaddr", invept(1, desc), ZF);
    desc[0] = 0; desc[1] = 0;
    check("invvpid vpid 0 -> VMfailValid", invvpid(1, desc), ZF);
    check("invvpid all-context", invvpid(2, desc), 0);
    desc[0] = 1; desc[1] = 0x0000800000000000ULL;
    check("invvpid non-canonical address", invvpid(0, desc), ZF);
    desc[0] = 1ULL << 16;
    check("invvpid reserved bits", invvpid(1, desc), ZF);

    EXPECT_FAULT(vec, ".byte 0x66,0x0f,0x01,0xcf", "i"(0));
    check("seamcall outside 64-bit mode #UD", vec, 6);
    EXPECT_FAULT(vec, ".byte 0x66,0x0f,0x01,0xcc", "i"(0));
    check("tdcall #UD", vec, 6);
    EXPECT_FAULT(vec, "vmcall", "i"(0));
    check("vmcall in root (no fault)", vec, 0);

    ptr = pa(vmcs_a);
    vmptrld(&ptr);
    check("vmclear current", vmclear(&ptr), 0);
    check("vmread after vmclear -> VMfailInvalid", vmread(0x681e, &v), CF);
    vmptrld(&ptr);
    vmread(0x681e, &v);
    check("vmcs contents survive vmclear+vmptrld", v, 0x12345678);

    asm volatile("vmxoff; pushf; pop %0" : "=r"(v) :: "cc");
    check("vmxoff", v & FLAGS_MASK, 0);
    EXPECT_FAULT(vec, "vmxoff", "i"(0));
    check("vmxoff outside vmx #UD", vec, 6);

    puts_(failures ? "VMXTEST result FAIL\n" : "VMXTEST result PASS\n");
    outb(0xf4, failures ? 1 : 0);
}
