/*
 * vmx-probe: run inside L1 (on tdx-emu's CPU with tdx-emu=on), checks what
 * the emulated VMX/SEAM instructions do from places a test can reach
 * without a kernel module, and prints "TDX-EMU-L1: vmx-probe NAME=RESULT":
 *
 *   From user mode (CPL 3) while the kernel keeps every CPU in VMX root
 *   operation (KVM's enable_virt_at_load):
 *     vmxon, vmxoff, vmread, vmwrite, vmptrld, invept  -> sigsegv (#GP(0))
 *     seamcall                                         -> sigsegv (#GP(0))
 *     tdcall                                           -> sigill  (#UD)
 *     movdir64b (aligned) -> ok (64 bytes copied); misaligned -> sigsegv
 *   Through KVM (ring 0 VMX in the L1 kernel): create a VM and a vCPU
 *   (KVM VMCLEARs, VMPTRLDs, VMWRITEs and VMREADs the VMCS) and KVM_RUN it.
 *   VMLAUNCH of ordinary VMs is not emulated, so it must VMfail cleanly:
 *     kvm-run=exit-9-error-7   (KVM_EXIT_FAIL_ENTRY, "VM entry with
 *                               invalid control field(s)")
 *   A VMREAD/VMWRITE of a field tdx-emu does not support would make KVM
 *   WARN, which /init reports as a failed run.
 * Exits 0 when every result is the expected one.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/kvm.h>

static sigjmp_buf probe_env;

static void on_signal(int sig)
{
    siglongjmp(probe_env, sig);
}

static int failures;

static void report(const char *name, const char *got, const char *want)
{
    printf("TDX-EMU-L1: vmx-probe %s=%s%s\n", name, got,
           strcmp(got, want) ? " (UNEXPECTED)" : "");
    if (strcmp(got, want)) {
        failures++;
    }
}

static const char *run_probe(void (*fn)(void))
{
    int sig = sigsetjmp(probe_env, 1);

    if (sig == 0) {
        fn();
        return "ok";
    }
    return sig == SIGSEGV ? "sigsegv" : sig == SIGILL ? "sigill" :
           sig == SIGBUS ? "sigbus" : "other-signal";
}

static uint64_t scratch[2] __attribute__((aligned(16)));

static void p_vmxon(void)  { asm volatile("vmxon %0" :: "m"(scratch[0]) : "cc"); }
static void p_vmxoff(void) { asm volatile("vmxoff" ::: "cc"); }
static void p_vmptrld(void) { asm volatile("vmptrld %0" :: "m"(scratch[0]) : "cc"); }
static void p_vmread(void)
{
    uint64_t v, f = 0x4400;
    asm volatile("vmread %1, %0" : "=r"(v) : "r"(f) : "cc");
}
static void p_vmwrite(void)
{
    uint64_t f = 0x681e, v = 0;
    asm volatile("vmwrite %1, %0" :: "r"(f), "r"(v) : "cc");
}
static void p_invept(void)
{
    uint64_t type = 2;
    asm volatile("invept %0, %1" :: "m"(scratch), "r"(type) : "cc", "memory");
}
static void p_seamcall(void) { asm volatile(".byte 0x66,0x0f,0x01,0xcf" ::: "cc", "memory"); }
static void p_tdcall(void)   { asm volatile(".byte 0x66,0x0f,0x01,0xcc" ::: "cc", "memory"); }

static uint8_t src64[64 + 8] __attribute__((aligned(64)));
static uint8_t dst64[128] __attribute__((aligned(64)));
static uint8_t *movdir_dst;

static void p_movdir64b(void)
{
    /* movdir64b (%rsi), %rdi: 66 0F 38 F8 /r, modrm 0x3e (reg=rdi, rm=rsi) */
    asm volatile(".byte 0x66,0x0f,0x38,0xf8,0x3e"
                 :: "D"(movdir_dst), "S"(src64 + 8) : "memory");
}

static void probe_movdir64b(void)
{
    for (int i = 0; i < (int)sizeof(src64); i++) {
        src64[i] = (uint8_t)(i * 7 + 1);
    }
    memset(dst64, 0, sizeof(dst64));
    movdir_dst = dst64;
    const char *r = run_probe(p_movdir64b);
    if (!strcmp(r, "ok") && memcmp(dst64, src64 + 8, 64)) {
        r = "wrong-data";
    }
    if (!strcmp(r, "ok") && dst64[64] != 0) {
        r = "overrun";
    }
    report("movdir64b", r, "ok");
    movdir_dst = dst64 + 8;
    report("movdir64b-misaligned", run_probe(p_movdir64b), "sigsegv");
}

static void probe_kvm_run(void)
{
    char res[64];
    int kvm, vm, vcpu, size;
    struct kvm_run *run;
    struct kvm_sregs sregs;
    struct kvm_regs regs = { .rip = 0, .rflags = 2 };
    uint8_t *mem;

    kvm = open("/dev/kvm", O_RDWR);
    vm = kvm < 0 ? -1 : ioctl(kvm, KVM_CREATE_VM, 0);
    if (vm < 0) {
        snprintf(res, sizeof(res), "no-vm-%d", errno);
        report("kvm-run", res, "exit-9-error-7");
        return;
    }
    mem = mmap(NULL, 0x1000, PROT_READ | PROT_WRITE,
               MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    mem[0] = 0xf4;                                  /* hlt */
    struct kvm_userspace_memory_region region = {
        .slot = 0, .guest_phys_addr = 0, .memory_size = 0x1000,
        .userspace_addr = (uintptr_t)mem,
    };
    vcpu = -1;
    if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0 ||
        (vcpu = ioctl(vm, KVM_CREATE_VCPU, 0)) < 0 ||
        (size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0)) <= 0 ||
        (run = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED,
                    vcpu, 0)) == MAP_FAILED ||
        ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0) {
        snprintf(res, sizeof(res), "setup-failed-%d%s", errno,
                 vcpu < 0 ? "-no-vcpu" : "");
        report("kvm-run", res, "exit-9-error-7");
        return;
    }
    sregs.cs.base = 0;
    sregs.cs.selector = 0;
    if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0 ||
        ioctl(vcpu, KVM_SET_REGS, &regs) < 0) {
        report("kvm-run", "set-regs-failed", "exit-9-error-7");
        return;
    }
    if (ioctl(vcpu, KVM_RUN, 0) < 0) {
        snprintf(res, sizeof(res), "run-errno-%d", errno);
    } else if (run->exit_reason == KVM_EXIT_FAIL_ENTRY) {
        snprintf(res, sizeof(res), "exit-%u-error-%llu", run->exit_reason,
                 (unsigned long long)
                 run->fail_entry.hardware_entry_failure_reason);
    } else {
        snprintf(res, sizeof(res), "exit-%u", run->exit_reason);
    }
    report("kvm-run", res, "exit-9-error-7");
}

int main(void)
{
    struct sigaction sa = { .sa_handler = on_signal };

    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGILL, &sa, NULL);
    sigaction(SIGBUS, &sa, NULL);
    setvbuf(stdout, NULL, _IOLBF, 0);

    report("vmxon", run_probe(p_vmxon), "sigsegv");
    report("vmxoff", run_probe(p_vmxoff), "sigsegv");
    report("vmptrld", run_probe(p_vmptrld), "sigsegv");
    report("vmread", run_probe(p_vmread), "sigsegv");
    report("vmwrite", run_probe(p_vmwrite), "sigsegv");
    report("invept", run_probe(p_invept), "sigsegv");
    report("seamcall", run_probe(p_seamcall), "sigsegv");
    report("tdcall", run_probe(p_tdcall), "sigill");
    probe_movdir64b();
    probe_kvm_run();
    printf("TDX-EMU-L1: vmx-probe failures=%d\n", failures);
    return failures ? 1 : 0;
}
