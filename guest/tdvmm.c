// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * tdvmm: a minimal VMM that runs inside L1 and builds a TD through KVM's TDX
 * API (Linux Documentation/virt/kvm/x86/intel-tdx.rst), then tears it down.
 * It never runs the TD: it exists to drive TDH.MNG.*, TDH.VP.*, TDH.MEM.*,
 * TDH.MR.* and the reclaim path of the emulated TDX module the way KVM does.
 *
 * Steps, one function each:
 *   1. open /dev/kvm, KVM_CREATE_VM(KVM_X86_TDX_VM), KVM_CAP_SPLIT_IRQCHIP;
 *   2. KVM_TDX_CAPABILITIES, KVM_TDX_INIT_VM (attributes 0, XFAM and CPUID
 *      chosen from the capabilities, see choose_td_config());
 *   3. for each vCPU: KVM_CREATE_VCPU, KVM_SET_CPUID2, KVM_TDX_INIT_VCPU;
 *   4. guest_memfd + KVM_SET_USER_MEMORY_REGION2(KVM_MEM_GUEST_MEMFD) +
 *      KVM_SET_MEMORY_ATTRIBUTES(PRIVATE) over the initial region;
 *   5. KVM_TDX_INIT_MEM_REGION with KVM_TDX_MEASURE_MEMORY_REGION;
 *   6. KVM_TDX_FINALIZE_VM; close every fd and wait until KVM has destroyed
 *      the VM.
 *
 * Options: --vcpus N (default 2), --pages N (default 512, i.e. 2 MiB).
 *
 * Run mode, --run PATH [--vcpus N] [--pages P] [--timeout S]: the TD's
 * initial (measured) memory is the image at PATH (guest/td-payload, ABI in
 * guest/td-payload/td-payload.c), placed so that its last byte is at GPA
 * 0xFFFFFFFF, in its own memslot and guest_memfd; a second private memslot
 * covers [0x40000000, 0x40000000 + N*P*4096) uninitialized (the payload
 * accepts it page by page, KVM adds the pages with TDH.MEM.PAGE.AUG);
 * KVM_TDX_INIT_VCPU gets P (pages per vCPU, default 256) as the vCPUs'
 * RCX. After KVM_TDX_FINALIZE_VM one thread per vCPU runs KVM_RUN and
 * serves the exits (console port 0x3F8, "done" port 0x501, "panic" port
 * 0x502, MapGPA, memory faults); every vCPU's checksum is compared with
 * expected_checksum(). Lines: "TDX-EMU-L1: td vcpu<i>: <console line>",
 * then "TDX-EMU-L1: tdvmm run ok vcpus=N checksum=<vcpu0>[,<vcpu1>...]" or
 * "TDX-EMU-L1: tdvmm FAILED ...". Timeout S seconds (default 120) for the
 * whole run. --checksums [--vcpus N] [--pages P] prints the expected
 * checksums without KVM (for host-side tests of the payload).
 * --mode NAME[:N] (normal, convert[:rounds], hammer, pingpong[:exits],
 * compute[:iterations], ve, irq, gate[:rounds]) sets the payload's mode
 * (RCX[23:16]) and N (RCX[63:32]); per mode tdvmm also: convert (and
 * gate, whose vCPU 0 converts while the others spin) — serves MapGPA
 * (KVM_HC_MAP_GPA_RANGE: memory attributes, PUNCH_HOLE / MADV_DONTNEED)
 * and, before each range goes back to private, checks in its own shared
 * mapping what the TD wrote through its shared alias ("convert
 * shared-verified=N"); hammer — a 1-page slot at 0xC0000000 left shared in
 * KVM's attributes: the TD's private stores come back as memory faults and
 * tdvmm re-enters without converting (HAMMER_HOLD_FAULTS per even vCPU,
 * and until every odd vCPU wrote port 0x503), which makes the module's
 * zero-step filter arm, then converts it once; pingpong — counts port
 * 0x504 writes and prints "tdvmm pingpong exits=E seconds=S per-second=R"
 * (clock_gettime around the run); ve — counts the payload's #VE-forwarded
 * IN/OUT on port 0x505 and the port 0x506 write before each vCPU's HLT
 * ("tdvmm ve vcpu I out=1 in=1 value=V hlt=1");
 * irq — on each port 0x507 write k sends
 * host interrupt k (KVM_SIGNAL_MSI, vector 0x30, to the vCPU: odd k at
 * once, even k 2 ms later from another thread) and prints "tdvmm irq vcpu
 * <i> host-sent=N deferred=D". Every run prints "tdvmm run seconds=S".
 * The vCPUs' CPUID as given to KVM says MAXPA = GPAW (48), as
 * KVM_TDX_GET_CPUID would: KVM checks MapGPA's shared-bit GPAs against it.
 *
 * Initial memory, "pattern v1" (what a host-side test needs to recompute
 * MRTD): the region starts at GPA 0 (REGION_GPA) and is N 4 KiB pages long;
 * page i (0-based) byte j (0..4095) holds (i * 131 + j * 7 + 0x5a) & 0xff.
 * Every page is added with TDH.MEM.PAGE.ADD and all 16 of its 256-byte
 * chunks are extended with TDH.MR.EXTEND, in GPA order. TD attributes are
 * 0 (KVM adds ATTRIBUTES_FIXED1), so MRTD depends only on the GPA, the
 * page count and this pattern.
 *
 * Output: lines "TDX-EMU-L1: tdvmm ..." for tests to grep; on failure
 * "TDX-EMU-L1: tdvmm FAILED <step>: <strerror> hw_error=0x..." and exit 1.
 *
 * Static, no dependency beyond libc, so it runs from L1's busybox initramfs.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/*
 * KVM's user ABI as of Linux 7.2 (include/uapi/linux/kvm.h and
 * arch/x86/include/uapi/asm/kvm.h). Spelled out here because the build
 * host's <linux/kvm.h> predates TDX and guest_memfd.
 */
#define KVMIO_TYPE                  0xAE
#define KVM_CREATE_VM               _IO(KVMIO_TYPE, 0x01)
#define KVM_CHECK_EXTENSION         _IO(KVMIO_TYPE, 0x03)
#define KVM_GET_VCPU_MMAP_SIZE      _IO(KVMIO_TYPE, 0x04)
#define KVM_GET_SUPPORTED_CPUID     _IOWR(KVMIO_TYPE, 0x05, struct kvm_cpuid2)
#define KVM_CREATE_VCPU             _IO(KVMIO_TYPE, 0x41)
#define KVM_RUN                     _IO(KVMIO_TYPE, 0x80)
#define KVM_SET_USER_MEMORY_REGION2 _IOW(KVMIO_TYPE, 0x49, struct kvm_userspace_memory_region2)
#define KVM_SET_CPUID2              _IOW(KVMIO_TYPE, 0x90, struct kvm_cpuid2)
#define KVM_ENABLE_CAP              _IOW(KVMIO_TYPE, 0xa3, struct kvm_enable_cap)
#define KVM_MEMORY_ENCRYPT_OP       _IOWR(KVMIO_TYPE, 0xba, unsigned long)
#define KVM_SET_MEMORY_ATTRIBUTES   _IOW(KVMIO_TYPE, 0xd2, struct kvm_memory_attributes)
#define KVM_CREATE_GUEST_MEMFD      _IOWR(KVMIO_TYPE, 0xd4, struct kvm_create_guest_memfd)
#define KVM_SIGNAL_MSI              _IOW(KVMIO_TYPE, 0xa5, struct kvm_msi)

#define KVM_CAP_SPLIT_IRQCHIP        121
#define KVM_CAP_VM_TYPES             235
#define KVM_CAP_EXIT_HYPERCALL       201
#define KVM_HC_MAP_GPA_RANGE         12
#define KVM_MAP_GPA_RANGE_ENCRYPTED  (1ull << 4)
#define KVM_MEMORY_EXIT_FLAG_PRIVATE (1ull << 3)
#define KVM_SYSTEM_EVENT_TDX_FATAL   7
#define KVM_EXIT_IO_OUT              1

#define KVM_EXIT_EXCEPTION           1
#define KVM_EXIT_IO                  2
#define KVM_EXIT_HYPERCALL           3
#define KVM_EXIT_SHUTDOWN            8
#define KVM_EXIT_FAIL_ENTRY          9
#define KVM_EXIT_INTR                10
#define KVM_EXIT_INTERNAL_ERROR      17
#define KVM_EXIT_SYSTEM_EVENT        24
#define KVM_EXIT_MEMORY_FAULT        39
#define KVM_EXIT_TDX                 40
#define KVM_X86_TDX_VM               5
#define KVM_MEM_GUEST_MEMFD          (1u << 2)
#define KVM_MEMORY_ATTRIBUTE_PRIVATE (1ull << 3)
#define KVM_MAX_CPUID_ENTRIES        256

enum kvm_tdx_cmd_id {
    KVM_TDX_CAPABILITIES = 0,
    KVM_TDX_INIT_VM,
    KVM_TDX_INIT_VCPU,
    KVM_TDX_INIT_MEM_REGION,
    KVM_TDX_FINALIZE_VM,
    KVM_TDX_GET_CPUID,
};
#define KVM_TDX_MEASURE_MEMORY_REGION (1u << 0)

struct kvm_cpuid_entry2 {
    uint32_t function, index, flags;
    uint32_t eax, ebx, ecx, edx;
    uint32_t padding[3];
};

struct kvm_cpuid2 {
    uint32_t nent, padding;
    struct kvm_cpuid_entry2 entries[];
};

struct kvm_enable_cap {
    uint32_t cap, flags;
    uint64_t args[4];
    uint8_t pad[64];
};

struct kvm_msi {
    uint32_t address_lo, address_hi, data, flags, devid;
    uint8_t pad[12];
};

struct kvm_userspace_memory_region2 {
    uint32_t slot, flags;
    uint64_t guest_phys_addr, memory_size, userspace_addr;
    uint64_t guest_memfd_offset;
    uint32_t guest_memfd, pad1;
    uint64_t pad2[14];
};

struct kvm_memory_attributes {
    uint64_t address, size, attributes, flags;
};

struct kvm_create_guest_memfd {
    uint64_t size, flags, reserved[6];
};

struct kvm_tdx_cmd {
    uint32_t id, flags;
    uint64_t data;
    uint64_t hw_error;  /* SEAMCALL status KVM hands back on failure */
};

/* Fixed-size head; struct kvm_cpuid2 (flexible) follows at the end. */
struct kvm_tdx_capabilities_head {
    uint64_t supported_attrs, supported_xfam;
    uint64_t kernel_tdvmcallinfo_1_r11, user_tdvmcallinfo_1_r11;
    uint64_t kernel_tdvmcallinfo_1_r12, user_tdvmcallinfo_1_r12;
    uint64_t reserved[250];
    struct kvm_cpuid2 cpuid;
};

/* 256 bytes before the CPUID list, which KVM checks (TD_PARAMS layout). */
struct kvm_tdx_init_vm_head {
    uint64_t attributes, xfam;
    uint64_t mrconfigid[6], mrowner[6], mrownerconfig[6];
    uint64_t reserved[12];
    struct kvm_cpuid2 cpuid;
};

struct kvm_tdx_init_mem_region {
    uint64_t source_addr, gpa, nr_pages;
};

/* struct kvm_run up to and including its 256-byte exit union. */
struct kvm_run_head {
    uint8_t request_interrupt_window, immediate_exit, padding1[6];
    uint32_t exit_reason;
    uint8_t ready_for_interrupt_injection, if_flag;
    uint16_t flags;
    uint64_t cr8, apic_base;
    union {
        struct {
            uint64_t hardware_exit_reason;
        } hw;
        struct {
            uint64_t hardware_entry_failure_reason;
            uint32_t cpu;
        } fail_entry;
        struct {
            uint32_t exception, error_code;
        } ex;
        struct {
            uint8_t direction, size;
            uint16_t port;
            uint32_t count;
            uint64_t data_offset;   /* from the start of kvm_run */
        } io;
        struct {
            uint64_t nr, args[6], ret, flags;
        } hypercall;
        struct {
            uint32_t suberror, ndata;
            uint64_t data[16];
        } internal;
        struct {
            uint32_t type, ndata;
            uint64_t data[16];
        } system_event;
        struct {
            uint64_t flags, gpa, size;
        } memory_fault;
        struct {
            uint64_t flags, nr, data[6];
        } tdx;
        char padding[256];
    };
};

_Static_assert(offsetof(struct kvm_run_head, exit_reason) == 8, "kvm_run ABI");
_Static_assert(offsetof(struct kvm_run_head, io) == 32, "kvm_run ABI");
_Static_assert(sizeof(struct kvm_run_head) == 32 + 256, "kvm_run ABI");
_Static_assert(sizeof(struct kvm_cpuid_entry2) == 40, "kvm_cpuid_entry2 ABI");
_Static_assert(sizeof(struct kvm_tdx_cmd) == 24, "kvm_tdx_cmd ABI");
_Static_assert(sizeof(struct kvm_tdx_init_vm_head) == 256 + 8, "kvm_tdx_init_vm ABI");
_Static_assert(sizeof(struct kvm_tdx_capabilities_head) == 256 * 8 + 8,
               "kvm_tdx_capabilities ABI");
_Static_assert(sizeof(struct kvm_userspace_memory_region2) == 160,
               "kvm_userspace_memory_region2 ABI");

/* ---- what we build ---------------------------------------------------- */

#define PAGE_SIZE          4096u
#define REGION_GPA         0x0ull
#define REGION_SLOT        0
#define MAX_VCPUS          64
/* KVM_CAP_SPLIT_IRQCHIP's argument: routes reserved for the userspace
 * IOAPIC; 24 is the IOAPIC's pin count, as QEMU uses. */
#define SPLIT_IRQCHIP_PINS 24
/* GPAW 48 (4-level S-EPT) is always supported (KVM's
 * setup_tdparams_eptp_controls); 52 needs 5-level EPT. */
#define TD_GPAW            48
/* XFAM we ask for, intersected with what KVM supports: x87, SSE, AVX. */
#define TD_XFAM_WANTED     0x7ull

#define CPUID_LEAF_XSAVE   0xD
#define CPUID_LEAF_ADDR    0x80000008u

/*
 * Run mode: the td-payload ABI (guest/td-payload/td-payload.c, version 1).
 */
#define TDP_IMAGE_END      0x100000000ull   /* last byte at 0xFFFFFFFF */
#define TDP_IMAGE_MAX      (2ull << 20)
#define TDP_MAX_VCPUS      64
#define TDP_REGION_GPA     0x40000000ull
#define TDP_REGION_LIMIT   0xC0000000ull
#define TDP_DEFAULT_PAGES  256
#define TDP_MAX_PAGES      0xFFFFu          /* RCX[15:0] */
#define TDP_PATTERN_XOR    0x5a5a5a5a5a5a5a5aull
#define TDP_LCG_MUL        6364136223846793005ull
#define TDP_LCG_ADD        1442695040888963407ull
#define TDP_LCG_ITERATIONS 1000000u
#define TDP_PORT_CONSOLE   0x3F8
#define TDP_PORT_DONE      0x501
#define TDP_PORT_PANIC     0x502
#define TDP_PORT_PHASE     0x503
#define TDP_PORT_PING      0x504
#define TDP_PORT_VE        0x505
#define TDP_PORT_VE_HLT    0x506
#define TDP_VE_OUT_TAG     0x5e5e0000u
#define TDP_PORT_IRQ       0x507
#define TDP_VEC_HOST       0x30
/* irq mode: even-numbered host interrupts are sent this long after the
 * request, from another thread, so they usually find the vCPU inside the
 * TD (KVM's notification IPI); odd ones are sent at once, while the vCPU
 * is out (KVM's self-IPI before the next TD entry). */
#define IRQ_DEFER_NS       2000000
/* Modes (td-payload ABI): RCX[23:16] = mode, RCX[63:32] = N. */
#define TDP_MODE_SHIFT     16
#define TDP_ARG_SHIFT      32
enum tdp_mode {
    TDP_MODE_NORMAL, TDP_MODE_CONVERT, TDP_MODE_HAMMER, TDP_MODE_PINGPONG,
    TDP_MODE_COMPUTE, TDP_MODE_VE, TDP_MODE_IRQ, TDP_MODE_GATE, TDP_NR_MODES
};
static const char *const tdp_mode_names[TDP_NR_MODES] = {
    "normal", "convert", "hammer", "pingpong", "compute", "ve", "irq", "gate",
};
/* N when RCX[63:32] is 0 (the payload's defaults). */
static const uint64_t tdp_mode_default_n[TDP_NR_MODES] = {
    0, 4, 0, 10000, TDP_LCG_ITERATIONS, 0, 20, 4,
};
/* irq mode's checksum depends on the vCPU count (IPIs need two). */
static unsigned tdp_nr_vcpus;
#define TDP_CONVERT_ROUND_MUL 0x9E3779B97F4A7C15ull
#define TDP_HAMMER_GPA     0xC0000000ull
/* Hammer mode: memory faults on the hammer page each even vCPU takes
 * (and re-enters without converting) before tdvmm makes the page private;
 * the module arms its zero-step filter from the 7th same-RIP one. */
#define HAMMER_HOLD_FAULTS 32
#define PAYLOAD_SLOT       0
#define TD_REGION_SLOT     1
#define HAMMER_SLOT        2
#define RUN_TIMEOUT_S      120
#define CONSOLE_LINE_MAX   256
/* The same memory fault this many times in a row: give up. */
#define MAX_REPEATED_FAULTS 16

struct tdvmm;

struct vcpu_run {
    struct tdvmm *t;
    unsigned id;
    pthread_t thread;
    struct kvm_run_head *run;
    char line[CONSOLE_LINE_MAX + 1];
    size_t line_len;
    uint64_t console_checksum;       /* from the "checksum" console line */
    int have_console_checksum;
    uint32_t port_checksum;          /* from port 0x501 */
    atomic_int finished;             /* 1 done, -1 failed */
    uint64_t last_fault_gpa;
    unsigned repeated_faults;
    uint64_t pings;                  /* pingpong: writes to port 0x504 */
    atomic_uint irq_sent;            /* irq: host interrupts sent (MSI) */
    atomic_uint irq_deferred;        /* irq: of them, from the deferred thread */
    unsigned phase;                  /* hammer: last value on port 0x503 */
    unsigned hammer_faults;          /* hammer: faults held on the page */
    unsigned ve_outs, ve_ins;        /* ve: port 0x505 accesses */
    uint32_t ve_out_value;           /* ve: last value written there */
    unsigned ve_hlts;                /* ve: port 0x506 writes (before HLT) */
};

struct tdvmm {
    unsigned nr_vcpus;
    uint64_t nr_pages;

    int kvm_fd, vm_fd, gmem_fd;
    int vcpu_fd[MAX_VCPUS];

    uint64_t supported_attrs, supported_xfam;
    struct kvm_cpuid2 *caps_cpuid;   /* configurable CPUID (capabilities) */
    struct kvm_cpuid2 *kvm_cpuid;    /* KVM_GET_SUPPORTED_CPUID */
    struct kvm_cpuid2 *td_cpuid;     /* what KVM_TDX_INIT_VM got */
    uint64_t xfam;

    uint8_t *source;                 /* initial contents (pattern v1) */
    uint8_t *shared;                 /* the slot's shared (non-gmem) half */
    size_t region_bytes;

    /* Run mode (--run). region_* above then describe the payload image. */
    const char *payload_path;
    uint64_t region_gpa;             /* where the initial memory goes */
    uint64_t init_vcpu_data;         /* KVM_TDX_INIT_VCPU data (RCX) */
    uint64_t td_pages;               /* P: private pages per vCPU */
    unsigned timeout_s;
    int td_gmem_fd;                  /* the accepted region's guest_memfd */
    uint8_t *td_shared;
    size_t td_bytes;
    enum tdp_mode mode;              /* --mode NAME[:N] */
    uint64_t mode_n;                 /* N as given (0: the payload's default) */
    int hammer_gmem_fd;              /* hammer mode: the hammer page's slot */
    uint8_t *hammer_shared;
    int hammer_converted;            /* guarded by lock */
    unsigned hammer_faults_total;
    atomic_uint shared_verified;     /* convert: shared ranges checked */
    struct timespec run_t0, run_t1;
    size_t run_size;                 /* KVM_GET_VCPU_MMAP_SIZE */
    struct vcpu_run vcpu[MAX_VCPUS];
    atomic_int stop;
    pthread_mutex_t lock;            /* guards nothing but the cond */
    pthread_cond_t cond;
};

static void fail(const char *step, uint64_t hw_error)
{
    int err = errno;

    printf("TDX-EMU-L1: tdvmm FAILED %s: %s hw_error=%#llx\n", step,
           strerror(err), (unsigned long long)hw_error);
    fflush(stdout);
    exit(1);
}

static struct kvm_cpuid2 *alloc_cpuid(uint32_t nent)
{
    struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + nent * sizeof(c->entries[0]));

    if (!c) {
        fail("alloc", 0);
    }
    c->nent = nent;
    return c;
}

static struct kvm_cpuid_entry2 *find_cpuid(struct kvm_cpuid2 *c, uint32_t fn,
                                           uint32_t index)
{
    for (uint32_t i = 0; i < c->nent; i++) {
        if (c->entries[i].function == fn && c->entries[i].index == index) {
            return &c->entries[i];
        }
    }
    return NULL;
}

/*
 * KVM_MEMORY_ENCRYPT_OP with a TDX sub-command, on a VM or vCPU fd. KVM
 * reads hw_error and requires it to be 0 on entry; on failure it may hold
 * the module's SEAMCALL status.
 */
static int tdx_op(int fd, uint32_t id, uint32_t flags, uint64_t data,
                  uint64_t *hw_error)
{
    struct kvm_tdx_cmd cmd = { .id = id, .flags = flags, .data = data };
    int r = ioctl(fd, KVM_MEMORY_ENCRYPT_OP, &cmd);

    *hw_error = cmd.hw_error;
    return r;
}

/* ---- step 1: VM ------------------------------------------------------- */

static void create_td_vm(struct tdvmm *t)
{
    t->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (t->kvm_fd < 0) {
        fail("open-kvm", 0);
    }
    int types = ioctl(t->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_VM_TYPES);
    if (types < 0 || !(types & (1 << KVM_X86_TDX_VM))) {
        errno = ENOTSUP;
        fail("vm-types", 0);
    }
    t->vm_fd = ioctl(t->kvm_fd, KVM_CREATE_VM, KVM_X86_TDX_VM);
    if (t->vm_fd < 0) {
        fail("create-vm", 0);
    }
    /*
     * The TDX module mandates APICv, i.e. an in-kernel local APIC, and KVM
     * refuses an in-kernel IOAPIC for TDs: tdx_vcpu_create() fails with
     * -EINVAL unless the irqchip is split. Must precede KVM_CREATE_VCPU.
     */
    struct kvm_enable_cap cap = {
        .cap = KVM_CAP_SPLIT_IRQCHIP,
        .args = { SPLIT_IRQCHIP_PINS },
    };
    if (ioctl(t->vm_fd, KVM_ENABLE_CAP, &cap) < 0) {
        fail("split-irqchip", 0);
    }
    printf("TDX-EMU-L1: tdvmm vm created type=%d split-irqchip=%d\n",
           KVM_X86_TDX_VM, SPLIT_IRQCHIP_PINS);
    if (t->payload_path) {
        /*
         * TDVMCALL<MapGPA> reaches userspace as KVM_HC_MAP_GPA_RANGE only
         * with this; without it KVM answers the TD "unsupported".
         */
        int mask = ioctl(t->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_EXIT_HYPERCALL);
        struct kvm_enable_cap hc = {
            .cap = KVM_CAP_EXIT_HYPERCALL,
            .args = { 1ull << KVM_HC_MAP_GPA_RANGE },
        };

        if (mask < 0 || !(mask & (1 << KVM_HC_MAP_GPA_RANGE)) ||
            ioctl(t->vm_fd, KVM_ENABLE_CAP, &hc) < 0) {
            fail("exit-hypercall", 0);
        }
    }
}

/* ---- step 2: capabilities and TD-wide parameters ---------------------- */

static void query_capabilities(struct tdvmm *t)
{
    size_t size = sizeof(struct kvm_tdx_capabilities_head) +
                  KVM_MAX_CPUID_ENTRIES * sizeof(struct kvm_cpuid_entry2);
    struct kvm_tdx_capabilities_head *caps = calloc(1, size);
    uint64_t hw_error;

    if (!caps) {
        fail("alloc", 0);
    }
    /* KVM fails with E2BIG unless nent covers the module's CPUID configs. */
    caps->cpuid.nent = KVM_MAX_CPUID_ENTRIES;
    if (tdx_op(t->vm_fd, KVM_TDX_CAPABILITIES, 0, (uintptr_t)caps, &hw_error) < 0) {
        fail("capabilities", hw_error);
    }
    t->supported_attrs = caps->supported_attrs;
    t->supported_xfam = caps->supported_xfam;
    t->caps_cpuid = alloc_cpuid(caps->cpuid.nent);
    memcpy(t->caps_cpuid->entries, caps->cpuid.entries,
           caps->cpuid.nent * sizeof(caps->cpuid.entries[0]));
    printf("TDX-EMU-L1: tdvmm caps attrs=%#llx xfam=%#llx cpuid-configs=%u"
           " tdvmcall-kernel-r11=%#llx tdvmcall-user-r11=%#llx\n",
           (unsigned long long)caps->supported_attrs,
           (unsigned long long)caps->supported_xfam, caps->cpuid.nent,
           (unsigned long long)caps->kernel_tdvmcallinfo_1_r11,
           (unsigned long long)caps->user_tdvmcallinfo_1_r11);
    free(caps);
}

static void query_kvm_cpuid(struct tdvmm *t)
{
    t->kvm_cpuid = alloc_cpuid(KVM_MAX_CPUID_ENTRIES);
    if (ioctl(t->kvm_fd, KVM_GET_SUPPORTED_CPUID, t->kvm_cpuid) < 0) {
        fail("supported-cpuid", 0);
    }
}

/*
 * The TD's configuration, derived from the capabilities only:
 *  - XFAM: TD_XFAM_WANTED within supported_xfam (KVM rejects bits outside
 *    it and adds XFAM_FIXED1 itself);
 *  - CPUID: one entry per configurable leaf the capabilities list (KVM
 *    rejects entries that have no slot in TD_PARAMS), value = configurable
 *    bits & what KVM supports, XSAVE leaf 0 limited to the chosen XFAM;
 *  - 0x80000008.EAX[23:16] = GPAW: KVM's interface for choosing the S-EPT
 *    depth (it clears the field before TD_PARAMS reaches the module).
 */
static void choose_td_config(struct tdvmm *t)
{
    t->xfam = t->supported_xfam & TD_XFAM_WANTED;
    t->td_cpuid = alloc_cpuid(t->caps_cpuid->nent);

    for (uint32_t i = 0; i < t->caps_cpuid->nent; i++) {
        const struct kvm_cpuid_entry2 *cfg = &t->caps_cpuid->entries[i];
        const struct kvm_cpuid_entry2 *kvm =
            find_cpuid(t->kvm_cpuid, cfg->function, cfg->index);
        struct kvm_cpuid_entry2 *e = &t->td_cpuid->entries[i];

        *e = *cfg;
        e->flags = 0;
        e->eax = kvm ? cfg->eax & kvm->eax : 0;
        e->ebx = kvm ? cfg->ebx & kvm->ebx : 0;
        e->ecx = kvm ? cfg->ecx & kvm->ecx : 0;
        e->edx = kvm ? cfg->edx & kvm->edx : 0;
        if (e->function == CPUID_LEAF_XSAVE && e->index == 0) {
            e->eax &= (uint32_t)t->xfam;
            e->edx &= (uint32_t)(t->xfam >> 32);
        }
        if (e->function == CPUID_LEAF_ADDR) {
            e->eax = (e->eax & ~0x00FF0000u) | (uint32_t)TD_GPAW << 16;
        }
    }
}

static void init_td(struct tdvmm *t)
{
    size_t size = sizeof(struct kvm_tdx_init_vm_head) +
                  t->td_cpuid->nent * sizeof(struct kvm_cpuid_entry2);
    struct kvm_tdx_init_vm_head *init = calloc(1, size);
    uint64_t hw_error;

    if (!init) {
        fail("alloc", 0);
    }
    /* Attributes 0: no DEBUG, no SEPT_VE_DISABLE; MR* digests all zero. */
    init->attributes = 0;
    init->xfam = t->xfam;
    init->cpuid.nent = t->td_cpuid->nent;
    memcpy(init->cpuid.entries, t->td_cpuid->entries,
           t->td_cpuid->nent * sizeof(t->td_cpuid->entries[0]));
    /* KVM_TDX_INIT_VM must come before any KVM_CREATE_VCPU. */
    if (tdx_op(t->vm_fd, KVM_TDX_INIT_VM, 0, (uintptr_t)init, &hw_error) < 0) {
        fail("init-vm", hw_error);
    }
    free(init);
    printf("TDX-EMU-L1: tdvmm init-vm attributes=0x0 xfam=%#llx gpaw=%d"
           " cpuid-entries=%u\n", (unsigned long long)t->xfam, TD_GPAW,
           t->td_cpuid->nent);
}

/* ---- step 3: vCPUs ---------------------------------------------------- */

/*
 * The vCPU's CPUID as KVM sees it: KVM's supported list with the TD's
 * configured leaves overlaid, so KVM's model matches what the module
 * virtualizes (intel-tdx.rst, KVM_TDX_INIT_VM). It includes CPUID.1:ECX
 * x2APIC, which KVM_TDX_INIT_VCPU needs: it switches the local APIC to
 * x2APIC mode and fails unless the guest CPUID allows it.
 */
static void set_vcpu_cpuid(struct tdvmm *t, int vcpu_fd)
{
    struct kvm_cpuid2 *c = alloc_cpuid(t->kvm_cpuid->nent);

    memcpy(c->entries, t->kvm_cpuid->entries,
           c->nent * sizeof(c->entries[0]));
    for (uint32_t i = 0; i < t->td_cpuid->nent; i++) {
        const struct kvm_cpuid_entry2 *td = &t->td_cpuid->entries[i];
        struct kvm_cpuid_entry2 *e = find_cpuid(c, td->function, td->index);

        if (e) {
            e->eax = td->eax;
            e->ebx = td->ebx;
            e->ecx = td->ecx;
            e->edx = td->edx;
        }
    }
    /*
     * The guest's MAXPA is the GPAW (what KVM_TDX_GET_CPUID reports for
     * 0x80000008.EAX[7:0], from the shared bit), not L1's phys-bits: KVM
     * checks TDVMCALL<MapGPA> operands, which carry the shared bit (47),
     * against the MAXPA of this CPUID (kvm_vcpu_is_legal_gpa()).
     */
    struct kvm_cpuid_entry2 *addr = find_cpuid(c, CPUID_LEAF_ADDR, 0);
    if (addr) {
        addr->eax = (addr->eax & ~0xFFu) | TD_GPAW;
    }
    if (ioctl(vcpu_fd, KVM_SET_CPUID2, c) < 0) {
        fail("set-cpuid", 0);
    }
    free(c);
}

static void create_vcpus(struct tdvmm *t)
{
    for (unsigned id = 0; id < t->nr_vcpus; id++) {
        uint64_t hw_error;
        int fd = ioctl(t->vm_fd, KVM_CREATE_VCPU, id);

        if (fd < 0) {
            fail("create-vcpu", 0);
        }
        t->vcpu_fd[id] = fd;
        set_vcpu_cpuid(t, fd);
        /* data = the vCPU's initial RCX: 0 by default, P in run mode. */
        if (tdx_op(fd, KVM_TDX_INIT_VCPU, 0, t->init_vcpu_data, &hw_error) < 0) {
            fail("init-vcpu", hw_error);
        }
    }
    printf("TDX-EMU-L1: tdvmm vcpus=%u initialized\n", t->nr_vcpus);
}

/* ---- step 4: private memory ------------------------------------------- */

static void *map_anonymous(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    if (p == MAP_FAILED) {
        fail("mmap", 0);
    }
    return p;
}

/* One guest_memfd-backed memslot over [gpa, gpa + bytes), all PRIVATE. */
static void add_private_slot(struct tdvmm *t, uint32_t slot_id, uint64_t gpa,
                             size_t bytes, int *gmem_fd, uint8_t **shared,
                             int private)
{
    struct kvm_create_guest_memfd gmem = { .size = bytes };

    *gmem_fd = ioctl(t->vm_fd, KVM_CREATE_GUEST_MEMFD, &gmem);
    if (*gmem_fd < 0) {
        fail("guest-memfd", 0);
    }
    /* A guest_memfd slot still needs a valid userspace range for the
     * shared view of the same GPAs. */
    *shared = map_anonymous(bytes);
    struct kvm_userspace_memory_region2 slot = {
        .slot = slot_id,
        .flags = KVM_MEM_GUEST_MEMFD,
        .guest_phys_addr = gpa,
        .memory_size = bytes,
        .userspace_addr = (uintptr_t)*shared,
        .guest_memfd_offset = 0,
        .guest_memfd = (uint32_t)*gmem_fd,
    };
    if (ioctl(t->vm_fd, KVM_SET_USER_MEMORY_REGION2, &slot) < 0) {
        fail("memory-region", 0);
    }
    /* kvm_gmem_populate() only fills GPAs whose attribute is PRIVATE, and
     * the run-mode region must fault in as private for ACCEPT. */
    if (!private) {
        return;
    }
    struct kvm_memory_attributes attrs = {
        .address = gpa,
        .size = bytes,
        .attributes = KVM_MEMORY_ATTRIBUTE_PRIVATE,
    };
    if (ioctl(t->vm_fd, KVM_SET_MEMORY_ATTRIBUTES, &attrs) < 0) {
        fail("memory-attributes", 0);
    }
}

static void setup_private_memory(struct tdvmm *t)
{
    add_private_slot(t, REGION_SLOT, t->region_gpa, t->region_bytes,
                     &t->gmem_fd, &t->shared, 1);
    if (t->payload_path && t->mode == TDP_MODE_HAMMER) {
        /* Shared in KVM's attributes at first: the vCPUs' private stores
         * fault to us until hammer_fault() makes it private. */
        add_private_slot(t, HAMMER_SLOT, TDP_HAMMER_GPA, PAGE_SIZE,
                         &t->hammer_gmem_fd, &t->hammer_shared, 0);
        printf("TDX-EMU-L1: tdvmm hammer page gpa=%#llx attributes=shared"
               " hold=%u faults per even vcpu\n",
               (unsigned long long)TDP_HAMMER_GPA, HAMMER_HOLD_FAULTS);
    }
    if (t->payload_path) {
        add_private_slot(t, TD_REGION_SLOT, TDP_REGION_GPA, t->td_bytes,
                         &t->td_gmem_fd, &t->td_shared, 1);
        printf("TDX-EMU-L1: tdvmm td-region gpa=%#llx pages=%llu per-vcpu=%llu"
               " private=yes initialized=no\n",
               (unsigned long long)TDP_REGION_GPA,
               (unsigned long long)(t->td_bytes / PAGE_SIZE),
               (unsigned long long)t->td_pages);
    }
}

/* ---- step 5: initial contents, added and measured ----------------------- */

static uint8_t pattern_v1(uint64_t page, unsigned byte)
{
    return (uint8_t)((page * 131 + byte * 7 + 0x5a) & 0xff);
}

static void fill_source(struct tdvmm *t)
{
    /* KVM requires a page-aligned source: mmap gives one. */
    t->source = map_anonymous(t->region_bytes);
    for (uint64_t i = 0; i < t->nr_pages; i++) {
        for (unsigned j = 0; j < PAGE_SIZE; j++) {
            t->source[i * PAGE_SIZE + j] = pattern_v1(i, j);
        }
    }
}

/* Run mode: the payload image, page-aligned, as the initial contents. */
static void load_payload(struct tdvmm *t)
{
    int fd = open(t->payload_path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    size_t done = 0;

    if (fd < 0 || fstat(fd, &st) < 0) {
        fail("payload-open", 0);
    }
    if (st.st_size <= 0 || st.st_size % PAGE_SIZE ||
        (uint64_t)st.st_size > TDP_IMAGE_MAX) {
        errno = EINVAL;
        fail("payload-size (a multiple of 4 KiB, at most 2 MiB)", 0);
    }
    t->region_bytes = (size_t)st.st_size;
    t->nr_pages = t->region_bytes / PAGE_SIZE;
    t->region_gpa = TDP_IMAGE_END - t->region_bytes;
    t->source = map_anonymous(t->region_bytes);
    while (done < t->region_bytes) {
        ssize_t n = read(fd, t->source + done, t->region_bytes - done);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            if (n == 0) {
                errno = EIO;
            }
            fail("payload-read", 0);
        }
        done += (size_t)n;
    }
    close(fd);
}

/*
 * A TD-build ioctl failed with EBUSY (the module reported
 * TDX_OPERAND_BUSY): say so and allow a bounded number of retries, as the
 * KVM TDX API expects of userspace. False once the budget is spent.
 */
static bool busy_retry(const char *step)
{
    static unsigned retries;

    if (retries >= 1000) {
        return false;
    }
    retries++;
    printf("TDX-EMU-L1: tdvmm %s EBUSY, retrying (%u)\n", step, retries);
    return true;
}

static void add_initial_memory(struct tdvmm *t)
{
    uint64_t hw_error;

    if (!t->payload_path) {
        fill_source(t);
    }
    struct kvm_tdx_init_mem_region region = {
        .source_addr = (uintptr_t)t->source,
        .gpa = t->region_gpa,
        .nr_pages = t->nr_pages,
    };
    /*
     * KVM advances the region as it goes and stops early on a signal
     * (EINTR); calling again with the updated region resumes. Any vCPU
     * will do: KVM only needs one to map through the TDP MMU.
     */
    while (region.nr_pages) {
        if (tdx_op(t->vcpu_fd[0], KVM_TDX_INIT_MEM_REGION,
                   KVM_TDX_MEASURE_MEMORY_REGION, (uintptr_t)&region,
                   &hw_error) < 0 && errno != EINTR && errno != EAGAIN) {
            /* TDH.MEM.PAGE.ADD contended: KVM says EBUSY and leaves the
             * region where it stopped; userspace retries (busy path G1). */
            if (errno == EBUSY && busy_retry("init-mem-region")) {
                continue;
            }
            fail("init-mem-region", hw_error);
        }
    }
    if (t->payload_path) {
        printf("TDX-EMU-L1: tdvmm payload %s gpa=%#llx pages=%llu measured=yes\n",
               t->payload_path, (unsigned long long)t->region_gpa,
               (unsigned long long)t->nr_pages);
    } else {
        printf("TDX-EMU-L1: tdvmm region gpa=0x%llx pages=%llu pattern=v1 measured=yes\n",
               (unsigned long long)REGION_GPA, (unsigned long long)t->nr_pages);
    }
}

/* ---- step 6: finalize, tear down -------------------------------------- */

static void finalize_td(struct tdvmm *t)
{
    uint64_t hw_error;

    /* TDH.MR.FINALIZE contended: EBUSY, retried by userspace (path M4). */
    while (tdx_op(t->vm_fd, KVM_TDX_FINALIZE_VM, 0, 0, &hw_error) < 0) {
        if (errno != EBUSY || !busy_retry("finalize")) {
            fail("finalize", hw_error);
        }
    }
    printf("TDX-EMU-L1: tdvmm finalized\n");
}

/* Whether KVM's debugfs directory for one of our VMs ("<pid>-<fd>") is
 * still there; -1 when debugfs is not available to tell. */
static int own_vm_debugfs_present(void)
{
    char prefix[32];
    DIR *d = opendir("/sys/kernel/debug/kvm");
    struct dirent *de;
    int found = 0;

    if (!d) {
        return -1;
    }
    snprintf(prefix, sizeof(prefix), "%d-", (int)getpid());
    while ((de = readdir(d))) {
        if (!strncmp(de->d_name, prefix, strlen(prefix))) {
            found = 1;
        }
    }
    closedir(d);
    return found;
}

/*
 * The VM is destroyed (HKID released, TD pages reclaimed) when its last
 * reference goes: every vCPU fd and the guest_memfd hold one. The final
 * fput runs before close() returns to us, but check KVM's debugfs entry
 * for the VM and give it a moment in case the release was deferred.
 */
static void destroy_td(struct tdvmm *t)
{
    int present;

    /* A vCPU's kvm_run mapping holds its file (and so the VM) too. */
    for (unsigned id = 0; id < t->nr_vcpus; id++) {
        if (t->vcpu[id].run) {
            munmap(t->vcpu[id].run, t->run_size);
            t->vcpu[id].run = NULL;
        }
        close(t->vcpu_fd[id]);
    }
    close(t->gmem_fd);
    if (t->payload_path) {
        close(t->td_gmem_fd);
    }
    if (t->payload_path && t->mode == TDP_MODE_HAMMER) {
        close(t->hammer_gmem_fd);
    }
    close(t->vm_fd);
    close(t->kvm_fd);
    for (int tries = 0; (present = own_vm_debugfs_present()) == 1 && tries < 50; tries++) {
        struct timespec ts = { 0, 100 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    if (present == 1) {
        errno = EBUSY;
        fail("destroy", 0);
    }
    munmap(t->shared, t->region_bytes);
    munmap(t->source, t->region_bytes);
    if (t->payload_path) {
        munmap(t->td_shared, t->td_bytes);
    }
    printf("TDX-EMU-L1: tdvmm destroyed%s\n",
           present < 0 ? " (unverified: no debugfs)" : "");
}

/* ---- run mode: the payload's checksum ----------------------------------- */

/* What vCPU `vcpu` of td-payload reports with P = `pages` (its ABI, step 5:
 * the pattern sum of its region XOR the LCG after 1e6 steps from vcpu+1). */
static uint64_t lcg_n(uint64_t x, uint64_t n)
{
    for (uint64_t k = 0; k < n; k++) {
        x = x * TDP_LCG_MUL + TDP_LCG_ADD;
    }
    return x;
}

/* Modes (ABI, "Modes"): pingpong N ^ (i * LCG_MUL); compute LCG^N(i + 1);
 * hammer as normal; convert folds each round's shared-alias sum in. */
static uint64_t expected_checksum(unsigned vcpu, uint64_t pages,
                                  enum tdp_mode mode, uint64_t n)
{
    uint64_t base = TDP_REGION_GPA + (uint64_t)vcpu * pages * PAGE_SIZE;
    uint64_t words = pages * (PAGE_SIZE / 8);
    uint64_t sum = 0, c;

    n = n ? n : tdp_mode_default_n[mode];
    if (mode == TDP_MODE_IRQ) {
        /* self-IPIs | host interrupts << 16 | IPIs from the previous vCPU << 32 */
        return n | n << 16 | (tdp_nr_vcpus >= 2 ? n : 0) << 32;
    }
    if (mode == TDP_MODE_PINGPONG) {
        return n ^ ((uint64_t)vcpu * TDP_LCG_MUL);
    }
    if (mode == TDP_MODE_COMPUTE) {
        return lcg_n((uint64_t)vcpu + 1, n);
    }
    if (mode == TDP_MODE_VE) {
        /* #VEs handled by reason: cpuid 1, io 2, rdmsr 2, wrmsr 3, hlt 1. */
        return (uint64_t)vcpu << 48 | 1ull << 32 | 2u << 24 | 2u << 16 |
               3u << 8 | 1u;
    }
    for (uint64_t k = 0; k < words; k++) {
        sum += (base + k * 8) ^ TDP_PATTERN_XOR;
    }
    c = sum ^ lcg_n((uint64_t)vcpu + 1, TDP_LCG_ITERATIONS);
    /* gate: vCPU 0 converts, the others only spin (no checksum part). */
    if (mode == TDP_MODE_CONVERT || (mode == TDP_MODE_GATE && vcpu == 0)) {
        uint64_t half = pages / 2;
        uint64_t cbase = base + (pages - half) * PAGE_SIZE;

        for (uint64_t r = 0; r < n; r++) {
            uint64_t add = (r + 1) * TDP_CONVERT_ROUND_MUL;

            sum = 0;
            for (uint64_t k = 0; k < half * (PAGE_SIZE / 8); k++) {
                sum += ((cbase + k * 8) ^ TDP_PATTERN_XOR) + add;
            }
            c = ((c << 1) | (c >> 63)) ^ sum;
        }
    }
    return c;
}

/* ---- run mode: private <-> shared conversion ----------------------------- */

/*
 * Make [gpa, gpa + size) private or shared, as api.rst describes for
 * KVM_HC_MAP_GPA_RANGE and KVM_EXIT_MEMORY_FAULT: KVM_SET_MEMORY_ATTRIBUTES,
 * then drop the backing of the view that is no longer used (PUNCH_HOLE in
 * the guest_memfd when going shared, MADV_DONTNEED of the shared mapping
 * when going private). gpa has the shared bit already stripped (KVM does
 * that for both exits). Returns 0 or an errno value.
 */
static int convert_memory(struct tdvmm *t, uint64_t gpa, uint64_t size,
                          int to_private)
{
    struct {
        uint64_t gpa, bytes;
        int gmem;
        uint8_t *shared;
    } slots[3] = {
        { t->region_gpa, t->region_bytes, t->gmem_fd, t->shared },
        { TDP_REGION_GPA, t->td_bytes, t->td_gmem_fd, t->td_shared },
        { TDP_HAMMER_GPA, t->mode == TDP_MODE_HAMMER ? PAGE_SIZE : 0,
          t->hammer_gmem_fd, t->hammer_shared },
    };

    if (!size || gpa % PAGE_SIZE || size % PAGE_SIZE || gpa + size < gpa) {
        return EINVAL;
    }
    for (int i = 0; i < 3; i++) {
        if (gpa < slots[i].gpa || gpa + size > slots[i].gpa + slots[i].bytes) {
            continue;
        }
        uint64_t off = gpa - slots[i].gpa;
        struct kvm_memory_attributes attrs = {
            .address = gpa,
            .size = size,
            .attributes = to_private ? KVM_MEMORY_ATTRIBUTE_PRIVATE : 0,
        };
        if (ioctl(t->vm_fd, KVM_SET_MEMORY_ATTRIBUTES, &attrs) < 0) {
            return errno == EAGAIN ? EAGAIN : EINVAL;
        }
        if (to_private) {
            madvise(slots[i].shared + off, size, MADV_DONTNEED);
        } else if (fallocate(slots[i].gmem, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                             (off_t)off, (off_t)size) < 0) {
            return EINVAL;
        }
        return 0;
    }
    return EINVAL;   /* not (entirely) inside one of our memslots */
}

/* ---- run mode: vCPU threads ------------------------------------------------ */

static void vcpu_finish(struct vcpu_run *v, int how)
{
    pthread_mutex_lock(&v->t->lock);
    atomic_store(&v->finished, how);
    pthread_cond_broadcast(&v->t->cond);
    pthread_mutex_unlock(&v->t->lock);
}

static void vcpu_failed(struct vcpu_run *v, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void vcpu_failed(struct vcpu_run *v, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    printf("TDX-EMU-L1: tdvmm FAILED run vcpu %u: %s\n", v->id, msg);
    vcpu_finish(v, -1);
}

static void console_flush(struct vcpu_run *v)
{
    const char *tag = "td-payload vcpu ";
    unsigned idx;
    char hex[17];

    v->line[v->line_len] = 0;
    printf("TDX-EMU-L1: td vcpu%u: %s\n", v->id, v->line);
    /* "td-payload vcpu <i> checksum <16 hex digits>": the full value. */
    if (!strncmp(v->line, tag, strlen(tag)) &&
        sscanf(v->line + strlen(tag), "%u checksum %16[0-9a-f]", &idx, hex) == 2 &&
        idx == v->id && strlen(hex) == 16) {
        v->console_checksum = strtoull(hex, NULL, 16);
        v->have_console_checksum = 1;
    }
    v->line_len = 0;
}

static void console_byte(struct vcpu_run *v, uint8_t c)
{
    if (c == '\n') {
        console_flush(v);
        return;
    }
    if (c == '\r') {
        return;
    }
    v->line[v->line_len++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    if (v->line_len == CONSOLE_LINE_MAX) {
        console_flush(v);
    }
}

/* Returns 1 to keep running, 0 when the vCPU is finished (either way). */
static void irq_request(struct vcpu_run *v, uint32_t k);

static int handle_io(struct vcpu_run *v)
{
    struct kvm_run_head *run = v->run;
    uint8_t *data = (uint8_t *)run + run->io.data_offset;
    unsigned size = run->io.size, count = run->io.count;
    uint32_t value = 0;

    if (run->io.direction != KVM_EXIT_IO_OUT) {
        /* Nothing is readable: all ones, as from an empty bus. */
        memset(data, 0xff, (size_t)size * count);
        v->ve_ins += run->io.port == TDP_PORT_VE;
        return 1;
    }
    switch (run->io.port) {
    case TDP_PORT_CONSOLE:
        for (unsigned i = 0; i < size * count; i++) {
            console_byte(v, data[i]);
        }
        return 1;
    case TDP_PORT_DONE:
    case TDP_PORT_PANIC:
        if (size != 4 || count != 1) {
            vcpu_failed(v, "port %#x write of %u x %u bytes (want one of 4)",
                        run->io.port, count, size);
            return 0;
        }
        memcpy(&value, data, 4);
        if (v->line_len) {
            console_flush(v);
        }
        if (run->io.port == TDP_PORT_PANIC) {
            vcpu_failed(v, "payload panic code %#x", value);
            return 0;
        }
        v->port_checksum = value;
        vcpu_finish(v, 1);
        return 0;
    case TDP_PORT_PING:
        v->pings += count;
        return 1;
    case TDP_PORT_VE:
        /* ve mode: the payload's #VE handler forwarded its OUT. */
        v->ve_outs += count;
        if (size == 4) {
            memcpy(&v->ve_out_value, data + (size_t)(count - 1) * 4, 4);
        }
        return 1;
    case TDP_PORT_VE_HLT:
        /* ve mode: the vCPU is about to HLT (the previous vCPU's
         * KVM_HC_KICK_CPU ends it). */
        v->ve_hlts += count;
        return 1;
    case TDP_PORT_IRQ:
        if (size == 4 && count == 1) {
            memcpy(&value, data, 4);
            irq_request(v, value);
        }
        return 1;
    case TDP_PORT_PHASE:
        if (size == 4) {
            pthread_mutex_lock(&v->t->lock);
            memcpy(&v->phase, data + (size_t)(count - 1) * 4, 4);
            pthread_mutex_unlock(&v->t->lock);
        }
        return 1;
    default:
        printf("TDX-EMU-L1: tdvmm vcpu %u: ignored out to port %#x\n", v->id,
               run->io.port);
        return 1;
    }
}

/*
 * irq mode: the payload asks for host interrupt k (port 0x507). An MSI to
 * the vCPU's x2APIC ID (its index), fixed delivery, vector 0x30; KVM posts
 * it (PIR + ON) and notifies the vCPU.
 */
static int send_msi(struct vcpu_run *v)
{
    struct kvm_msi msi = {
        .address_lo = 0xFEE00000u | (v->id << 12), .data = TDP_VEC_HOST,
    };
    int r = ioctl(v->t->vm_fd, KVM_SIGNAL_MSI, &msi);

    if (r < 0) {
        printf("TDX-EMU-L1: tdvmm vcpu %u: KVM_SIGNAL_MSI: %s\n", v->id, strerror(errno));
    } else {
        atomic_fetch_add(&v->irq_sent, 1);
    }
    return r;
}

static void *irq_deferred(void *opaque)
{
    struct vcpu_run *v = opaque;
    struct timespec ts = { 0, IRQ_DEFER_NS };

    nanosleep(&ts, NULL);
    if (send_msi(v) >= 0) {
        atomic_fetch_add(&v->irq_deferred, 1);
    }
    return NULL;
}

static void irq_request(struct vcpu_run *v, uint32_t k)
{
    pthread_t th;

    if (k & 1 || pthread_create(&th, NULL, irq_deferred, v) != 0) {
        send_msi(v);
        return;
    }
    pthread_detach(th);
}

/*
 * Convert mode: before [gpa, gpa + size) goes back to private, the shared
 * pages must hold what the payload wrote through its shared alias,
 * (g ^ PATTERN) + m * CONVERT_ROUND_MUL for one round m in 1..1024: proof
 * that its shared accesses reached this process's memory. 0 or -1.
 */
static int verify_shared(struct vcpu_run *v, uint64_t gpa, uint64_t size)
{
    struct tdvmm *t = v->t;
    const uint64_t *w;
    uint64_t m = 0;

    if (gpa < TDP_REGION_GPA || gpa + size > TDP_REGION_GPA + t->td_bytes) {
        return 0;   /* not the region: nothing to check */
    }
    w = (const uint64_t *)(t->td_shared + (gpa - TDP_REGION_GPA));
    for (uint64_t k = 0; k < size / 8; k++) {
        uint64_t d = w[k] - ((gpa + k * 8) ^ TDP_PATTERN_XOR);

        if (!k) {
            for (m = 1; m <= 1024 && d != m * TDP_CONVERT_ROUND_MUL; m++) {
            }
        }
        if (m > 1024 || d != m * TDP_CONVERT_ROUND_MUL) {
            vcpu_failed(v, "shared memory at gpa %#llx holds %#llx, not what the"
                        " TD wrote through its shared alias",
                        (unsigned long long)(gpa + k * 8),
                        (unsigned long long)w[k]);
            return -1;
        }
    }
    atomic_fetch_add(&t->shared_verified, 1);
    printf("TDX-EMU-L1: tdvmm vcpu %u: shared %#llx pages=%llu round %llu"
           " verified in userspace\n", v->id, (unsigned long long)gpa,
           (unsigned long long)(size / PAGE_SIZE), (unsigned long long)m);
    return 0;
}

static int handle_hypercall(struct vcpu_run *v)
{
    struct kvm_run_head *run = v->run;

    if (run->hypercall.nr != KVM_HC_MAP_GPA_RANGE) {
        vcpu_failed(v, "unexpected hypercall %llu",
                    (unsigned long long)run->hypercall.nr);
        return 0;
    }
    uint64_t gpa = run->hypercall.args[0], pages = run->hypercall.args[1];
    int to_private = !!(run->hypercall.args[2] & KVM_MAP_GPA_RANGE_ENCRYPTED);

    if ((v->t->mode == TDP_MODE_CONVERT || v->t->mode == TDP_MODE_GATE) &&
        to_private &&
        verify_shared(v, gpa, pages * PAGE_SIZE) < 0) {
        return 0;
    }
    run->hypercall.ret = (uint64_t)convert_memory(v->t, gpa, pages * PAGE_SIZE,
                                                  to_private);
    printf("TDX-EMU-L1: tdvmm vcpu %u: map-gpa %#llx pages=%llu to %s: %s\n",
           v->id, (unsigned long long)gpa, (unsigned long long)pages,
           to_private ? "private" : "shared",
           run->hypercall.ret ? strerror((int)run->hypercall.ret) : "ok");
    return 1;
}

/*
 * Hammer mode, a private access to the hammer page while it is still
 * shared: re-enter without converting (the same store faults again: the
 * zero-step filter's input) until every even vCPU has been held
 * HAMMER_HOLD_FAULTS times and every odd vCPU has finished accepting
 * (port 0x503), then make it private once. Returns 1 (re-enter) or 0.
 */
static int hammer_fault(struct vcpu_run *v, uint64_t gpa)
{
    struct tdvmm *t = v->t;
    int convert = 0, err = 0, converted;

    pthread_mutex_lock(&t->lock);
    converted = t->hammer_converted;
    if (!converted) {
        int ready = 1;

        v->hammer_faults++;
        t->hammer_faults_total++;
        for (unsigned i = 0; i < t->nr_vcpus; i++) {
            ready &= i & 1 ? t->vcpu[i].phase >= 1 || atomic_load(&t->vcpu[i].finished)
                           : t->vcpu[i].hammer_faults >= HAMMER_HOLD_FAULTS ||
                             atomic_load(&t->vcpu[i].finished);
        }
        if (ready) {
            err = convert_memory(t, TDP_HAMMER_GPA, PAGE_SIZE, 1);
            convert = !err;
            t->hammer_converted = convert;
        }
    }
    pthread_mutex_unlock(&t->lock);
    if (v->hammer_faults == 1) {
        printf("TDX-EMU-L1: tdvmm vcpu %u: hammer page fault %#llx held\n",
               v->id, (unsigned long long)gpa);
    }
    if (convert || err) {
        printf("TDX-EMU-L1: tdvmm hammer page -> private after %u faults (",
               t->hammer_faults_total);
        for (unsigned i = 0; i < t->nr_vcpus; i++) {
            printf("%svcpu%u=%u", i ? " " : "", i, t->vcpu[i].hammer_faults);
        }
        printf("): %s\n", err ? strerror(err) : "ok");
    }
    if (err && err != EAGAIN) {
        vcpu_failed(v, "cannot convert the hammer page");
        return 0;
    }
    return 1;
}

static int handle_memory_fault(struct vcpu_run *v)
{
    struct kvm_run_head *run = v->run;
    uint64_t gpa = run->memory_fault.gpa, size = run->memory_fault.size;
    int to_private = !!(run->memory_fault.flags & KVM_MEMORY_EXIT_FLAG_PRIVATE);
    int err;

    if (v->t->mode == TDP_MODE_HAMMER && to_private &&
        (gpa & ~(uint64_t)(PAGE_SIZE - 1)) == TDP_HAMMER_GPA) {
        return hammer_fault(v, gpa);
    }

    if (gpa == v->last_fault_gpa && ++v->repeated_faults >= MAX_REPEATED_FAULTS) {
        vcpu_failed(v, "memory fault at %#llx keeps coming back",
                    (unsigned long long)gpa);
        return 0;
    }
    if (gpa != v->last_fault_gpa) {
        v->last_fault_gpa = gpa;
        v->repeated_faults = 0;
    }
    /* The fault range may be a huge page: convert whole 4 KiB pages. */
    uint64_t start = gpa & ~(uint64_t)(PAGE_SIZE - 1);
    uint64_t end = (gpa + (size ? size : 1) + PAGE_SIZE - 1) & ~(uint64_t)(PAGE_SIZE - 1);

    err = convert_memory(v->t, start, end - start, to_private);
    printf("TDX-EMU-L1: tdvmm vcpu %u: memory fault %#llx size=%#llx flags=%#llx"
           " -> %s: %s\n", v->id, (unsigned long long)gpa,
           (unsigned long long)size, (unsigned long long)run->memory_fault.flags,
           to_private ? "private" : "shared", err ? strerror(err) : "ok");
    if (err && err != EAGAIN) {
        vcpu_failed(v, "cannot convert %#llx+%#llx", (unsigned long long)start,
                    (unsigned long long)(end - start));
        return 0;
    }
    return 1;
}

static void print_data(struct vcpu_run *v, const char *what, uint32_t n,
                       const uint64_t *data)
{
    if (n > 16) {
        n = 16;
    }
    for (uint32_t i = 0; i < n; i++) {
        printf("TDX-EMU-L1: tdvmm vcpu %u: %s[%u]=%#llx\n", v->id, what, i,
               (unsigned long long)data[i]);
    }
}

/* One exit; returns 1 to enter the TD again, 0 when this vCPU is finished. */
static int handle_exit(struct vcpu_run *v)
{
    struct kvm_run_head *run = v->run;

    switch (run->exit_reason) {
    case KVM_EXIT_IO:
        return handle_io(v);
    case KVM_EXIT_HYPERCALL:
        return handle_hypercall(v);
    case KVM_EXIT_INTR:
        return 1;
    case KVM_EXIT_SYSTEM_EVENT:
        print_data(v, "system-event.data", run->system_event.ndata,
                   run->system_event.data);
        vcpu_failed(v, "system event type %u%s ndata %u", run->system_event.type,
                    run->system_event.type == KVM_SYSTEM_EVENT_TDX_FATAL ?
                    " (TDX fatal: TDVMCALL<ReportFatalError>)" : "",
                    run->system_event.ndata);
        return 0;
    case KVM_EXIT_EXCEPTION:
        /* KVM's TDX code reports an exception exit from the TD this way
         * (tdx_handle_exception_nmi), e.g. a #UD the module reflects. */
        vcpu_failed(v, "exception exit vector %u error code %#x",
                    run->ex.exception, run->ex.error_code);
        return 0;
    case KVM_EXIT_SHUTDOWN:
        vcpu_failed(v, "shutdown (triple fault)");
        return 0;
    case KVM_EXIT_INTERNAL_ERROR:
        print_data(v, "internal.data", run->internal.ndata, run->internal.data);
        vcpu_failed(v, "internal error suberror %u ndata %u",
                    run->internal.suberror, run->internal.ndata);
        return 0;
    case KVM_EXIT_FAIL_ENTRY:
        vcpu_failed(v, "entry failed reason %#llx cpu %u",
                    (unsigned long long)run->fail_entry.hardware_entry_failure_reason,
                    run->fail_entry.cpu);
        return 0;
    case KVM_EXIT_TDX:
        print_data(v, "tdx.data", 6, run->tdx.data);
        vcpu_failed(v, "KVM_EXIT_TDX nr %#llx flags %#llx (not served)",
                    (unsigned long long)run->tdx.nr,
                    (unsigned long long)run->tdx.flags);
        return 0;
    default:
        vcpu_failed(v, "unexpected exit reason %u (hw %#llx)", run->exit_reason,
                    (unsigned long long)run->hw.hardware_exit_reason);
        return 0;
    }
}

static void *vcpu_thread(void *opaque)
{
    struct vcpu_run *v = opaque;
    struct tdvmm *t = v->t;
    int fd = t->vcpu_fd[v->id];

    while (!atomic_load(&t->stop)) {
        if (ioctl(fd, KVM_RUN, 0) < 0) {
            int err = errno;

            if (err == EINTR || err == EAGAIN) {
                continue;   /* signal (maybe our stop request) or retry */
            }
            /* The one exit that comes with -1 (api.rst). */
            if ((err == EFAULT || err == EHWPOISON) &&
                v->run->exit_reason == KVM_EXIT_MEMORY_FAULT) {
                if (handle_memory_fault(v)) {
                    continue;
                }
                return NULL;
            }
            vcpu_failed(v, "KVM_RUN: %s", strerror(err));
            return NULL;
        }
        if (!handle_exit(v)) {
            return NULL;
        }
    }
    return NULL;
}

static void on_stop_signal(int sig)
{
    (void)sig;   /* only there to make KVM_RUN return EINTR */
}

static unsigned count_finished(struct tdvmm *t, int *any_failed)
{
    unsigned n = 0;

    *any_failed = 0;
    for (unsigned i = 0; i < t->nr_vcpus; i++) {
        int f = atomic_load(&t->vcpu[i].finished);

        n += f != 0;
        *any_failed |= f < 0;
    }
    return n;
}

/*
 * Stop the threads still in KVM_RUN: a signal makes KVM_RUN return EINTR
 * and the thread sees `stop`. Repeated, since a signal that lands while
 * the thread is outside KVM_RUN is lost. Returns 0 if some thread would not
 * stop within 10 s (then the TD cannot be torn down cleanly).
 */
static int stop_vcpu_threads(struct tdvmm *t)
{
    atomic_store(&t->stop, 1);
    for (int tries = 0; tries < 200; tries++) {
        int alive = 0;

        for (unsigned i = 0; i < t->nr_vcpus; i++) {
            struct vcpu_run *v = &t->vcpu[i];

            if (v->thread && pthread_tryjoin_np(v->thread, NULL) == 0) {
                v->thread = 0;
            }
            if (v->thread) {
                alive = 1;
                pthread_kill(v->thread, SIGUSR1);
            }
        }
        if (!alive) {
            return 1;
        }
        struct timespec ts = { 0, 50 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    return 0;
}

static void run_td(struct tdvmm *t)
{
    struct sigaction sa = { .sa_handler = on_stop_signal };  /* no SA_RESTART */
    struct timespec deadline;
    int any_failed = 0, timed_out = 0, r;
    long mmap_size = ioctl(t->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);

    if (mmap_size < (long)sizeof(struct kvm_run_head)) {
        fail("vcpu-mmap-size", 0);
    }
    t->run_size = (size_t)mmap_size;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    pthread_mutex_init(&t->lock, NULL);
    {
        pthread_condattr_t ca;

        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&t->cond, &ca);
    }
    for (unsigned i = 0; i < t->nr_vcpus; i++) {
        struct vcpu_run *v = &t->vcpu[i];
        void *p = mmap(NULL, t->run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
                       t->vcpu_fd[i], 0);

        if (p == MAP_FAILED) {
            fail("vcpu-mmap", 0);
        }
        v->t = t;
        v->id = i;
        v->run = p;
    }
    printf("TDX-EMU-L1: tdvmm run vcpus=%u pages=%llu mode=%s n=%llu timeout=%us\n",
           t->nr_vcpus, (unsigned long long)t->td_pages, tdp_mode_names[t->mode],
           (unsigned long long)(t->mode_n ? t->mode_n : tdp_mode_default_n[t->mode]),
           t->timeout_s);
    clock_gettime(CLOCK_MONOTONIC, &t->run_t0);
    for (unsigned i = 0; i < t->nr_vcpus; i++) {
        if ((r = pthread_create(&t->vcpu[i].thread, NULL, vcpu_thread,
                                &t->vcpu[i])) != 0) {
            errno = r;
            fail("vcpu-thread", 0);
        }
    }

    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += t->timeout_s;
    pthread_mutex_lock(&t->lock);
    while (count_finished(t, &any_failed) < t->nr_vcpus && !any_failed) {
        if (pthread_cond_timedwait(&t->cond, &t->lock, &deadline) == ETIMEDOUT) {
            timed_out = count_finished(t, &any_failed) < t->nr_vcpus && !any_failed;
            break;
        }
    }
    pthread_mutex_unlock(&t->lock);
    clock_gettime(CLOCK_MONOTONIC, &t->run_t1);

    if (timed_out) {
        printf("TDX-EMU-L1: tdvmm FAILED run: timeout after %us, vcpus not done:",
               t->timeout_s);
        for (unsigned i = 0; i < t->nr_vcpus; i++) {
            if (!atomic_load(&t->vcpu[i].finished)) {
                printf(" %u", i);
            }
        }
        printf("\n");
    }
    if (!stop_vcpu_threads(t)) {
        printf("TDX-EMU-L1: tdvmm FAILED run: vcpu threads do not leave KVM_RUN;"
               " exiting without teardown\n");
        fflush(stdout);
        _exit(1);
    }
    if (timed_out || any_failed) {
        destroy_td(t);
        exit(1);
    }
}

/* Each vCPU's reported checksum against the ABI's formula. */
static void check_checksums(struct tdvmm *t)
{
    char list[MAX_VCPUS * 17 + 1] = "";
    size_t len = 0;
    int bad = 0;

    for (unsigned i = 0; i < t->nr_vcpus; i++) {
        struct vcpu_run *v = &t->vcpu[i];
        uint64_t want = expected_checksum(i, t->td_pages, t->mode, t->mode_n);

        if (v->port_checksum != (uint32_t)want) {
            printf("TDX-EMU-L1: tdvmm FAILED checksum vcpu %u: expected %016llx"
                   " got %08x (port %#x, low 32 bits)\n", i,
                   (unsigned long long)want, v->port_checksum, TDP_PORT_DONE);
            bad = 1;
        } else if (!v->have_console_checksum || v->console_checksum != want) {
            printf("TDX-EMU-L1: tdvmm FAILED checksum vcpu %u: expected %016llx"
                   " got %s%016llx (console)\n", i, (unsigned long long)want,
                   v->have_console_checksum ? "" : "no line, ",
                   (unsigned long long)v->console_checksum);
            bad = 1;
        }
        len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%016llx",
                                i ? "," : "", (unsigned long long)want);
    }
    double secs = (double)(t->run_t1.tv_sec - t->run_t0.tv_sec) +
                  (double)(t->run_t1.tv_nsec - t->run_t0.tv_nsec) / 1e9;

    printf("TDX-EMU-L1: tdvmm run seconds=%.3f\n", secs);
    if (t->mode == TDP_MODE_PINGPONG) {
        uint64_t n = t->mode_n ? t->mode_n : tdp_mode_default_n[t->mode], exits = 0;

        for (unsigned i = 0; i < t->nr_vcpus; i++) {
            exits += t->vcpu[i].pings;
            if (t->vcpu[i].pings != n) {
                printf("TDX-EMU-L1: tdvmm FAILED pingpong vcpu %u: %llu writes to"
                       " port %#x, expected %llu\n", i,
                       (unsigned long long)t->vcpu[i].pings, TDP_PORT_PING,
                       (unsigned long long)n);
                bad = 1;
            }
        }
        printf("TDX-EMU-L1: tdvmm pingpong exits=%llu seconds=%.3f per-second=%.0f\n",
               (unsigned long long)exits, secs, secs > 0 ? (double)exits / secs : 0.0);
    }
    if (t->mode == TDP_MODE_CONVERT || t->mode == TDP_MODE_GATE) {
        uint64_t n = t->mode_n ? t->mode_n : tdp_mode_default_n[t->mode];
        uint64_t want = n * (t->mode == TDP_MODE_GATE ? 1 : t->nr_vcpus);

        printf("TDX-EMU-L1: tdvmm convert shared-verified=%u expected=%llu\n",
               atomic_load(&t->shared_verified), (unsigned long long)want);
        if (atomic_load(&t->shared_verified) != want) {
            bad = 1;
        }
    }
    if (t->mode == TDP_MODE_IRQ) {
        for (unsigned i = 0; i < t->nr_vcpus; i++) {
            printf("TDX-EMU-L1: tdvmm irq vcpu %u host-sent=%u deferred=%u\n", i,
                   atomic_load(&t->vcpu[i].irq_sent),
                   atomic_load(&t->vcpu[i].irq_deferred));
        }
    }
    if (t->mode == TDP_MODE_HAMMER) {
        printf("TDX-EMU-L1: tdvmm hammer faults-held=%u converted=%d\n",
               t->hammer_faults_total, t->hammer_converted);
    }
    if (t->mode == TDP_MODE_VE) {
        for (unsigned i = 0; i < t->nr_vcpus; i++) {
            struct vcpu_run *v = &t->vcpu[i];

            printf("TDX-EMU-L1: tdvmm ve vcpu %u out=%u in=%u value=%#x hlt=%u\n",
                   i, v->ve_outs, v->ve_ins, v->ve_out_value, v->ve_hlts);
            if (v->ve_outs != 1 || v->ve_ins != 1 || v->ve_hlts != 1 ||
                v->ve_out_value != (TDP_VE_OUT_TAG | i)) {
                printf("TDX-EMU-L1: tdvmm FAILED ve vcpu %u: expected out=1 in=1"
                       " hlt=1 value=%#x\n", i, TDP_VE_OUT_TAG | i);
                bad = 1;
            }
        }
    }
    if (bad) {
        destroy_td(t);
        exit(1);
    }
    printf("TDX-EMU-L1: tdvmm run ok vcpus=%u mode=%s checksum=%s\n", t->nr_vcpus,
           tdp_mode_names[t->mode], list);
}

/* ---- main ------------------------------------------------------------- */

static unsigned long parse_count(const char *opt, const char *arg,
                                 unsigned long max)
{
    char *end;
    unsigned long v;

    errno = 0;
    v = arg ? strtoul(arg, &end, 0) : 0;
    if (!arg || errno || *end || v == 0 || v > max) {
        fprintf(stderr, "tdvmm: %s needs a number in 1..%lu\n", opt, max);
        exit(2);
    }
    return v;
}

static int usage(void)
{
    fprintf(stderr,
            "usage: tdvmm [--vcpus N] [--pages N]\n"
            "       tdvmm --run PAYLOAD [--vcpus N] [--pages P] [--timeout S]"
            " [--mode NAME[:N]]\n"
            "       tdvmm --checksums [--vcpus N] [--pages P] [--mode NAME[:N]]\n"
            "modes: normal, convert[:rounds], hammer, pingpong[:exits],"
            " compute[:iterations], irq[:interrupts], gate[:rounds]\n");
    return 2;
}

int main(int argc, char **argv)
{
    struct tdvmm t = { .nr_vcpus = 2, .nr_pages = 512, .region_gpa = REGION_GPA,
                       .timeout_s = RUN_TIMEOUT_S };
    unsigned long pages = 0;
    int checksums_only = 0;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--vcpus")) {
            t.nr_vcpus = parse_count(argv[i], argv[i + 1], MAX_VCPUS);
            i++;
        } else if (!strcmp(argv[i], "--pages")) {
            /* Default mode: up to 1 GiB of initial memory; run mode: P. */
            pages = parse_count(argv[i], argv[i + 1], 1ul << 18);
            i++;
        } else if (!strcmp(argv[i], "--run") && argv[i + 1]) {
            t.payload_path = argv[++i];
        } else if (!strcmp(argv[i], "--timeout")) {
            t.timeout_s = parse_count(argv[i], argv[i + 1], 24 * 3600);
            i++;
        } else if (!strcmp(argv[i], "--checksums")) {
            checksums_only = 1;
        } else if (!strcmp(argv[i], "--mode") && argv[i + 1]) {
            const char *arg = argv[++i], *colon = strchr(arg, ':');
            size_t len = colon ? (size_t)(colon - arg) : strlen(arg);
            int found = 0;

            for (int m = 0; m < TDP_NR_MODES; m++) {
                if (tdp_mode_names[m] && strlen(tdp_mode_names[m]) == len &&
                    !strncmp(arg, tdp_mode_names[m], len)) {
                    t.mode = (enum tdp_mode)m;
                    found = 1;
                }
            }
            if (!found) {
                return usage();
            }
            t.mode_n = colon ? parse_count("--mode NAME:N", colon + 1, 0xFFFFFFFFul) : 0;
        } else {
            return usage();
        }
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    tdp_nr_vcpus = t.nr_vcpus;

    if (t.payload_path || checksums_only) {
        t.td_pages = pages ? pages : TDP_DEFAULT_PAGES;
        if (t.td_pages > TDP_MAX_PAGES || t.nr_vcpus > TDP_MAX_VCPUS ||
            t.nr_vcpus * t.td_pages * PAGE_SIZE > TDP_REGION_LIMIT - TDP_REGION_GPA) {
            fprintf(stderr, "tdvmm: run mode needs --pages <= %u, --vcpus <= %u"
                    " and vcpus * pages * 4 KiB <= 2 GiB\n", TDP_MAX_PAGES,
                    TDP_MAX_VCPUS);
            return 2;
        }
        if (checksums_only) {
            for (unsigned i = 0; i < t.nr_vcpus; i++) {
                printf("td-payload vcpu %u checksum %016llx\n", i,
                       (unsigned long long)expected_checksum(i, t.td_pages, t.mode,
                                                             t.mode_n));
            }
            return 0;
        }
        t.init_vcpu_data = (t.td_pages & TDP_MAX_PAGES) |
                           (uint64_t)t.mode << TDP_MODE_SHIFT |
                           t.mode_n << TDP_ARG_SHIFT;
        if ((t.mode == TDP_MODE_CONVERT || t.mode == TDP_MODE_GATE) &&
            t.td_pages < 2) {
            fprintf(stderr, "tdvmm: convert mode needs --pages >= 2\n");
            return 2;
        }
        t.td_bytes = t.nr_vcpus * t.td_pages * PAGE_SIZE;
        load_payload(&t);
    } else {
        if (pages) {
            t.nr_pages = pages;
        }
        t.region_bytes = t.nr_pages * PAGE_SIZE;
    }

    create_td_vm(&t);
    query_capabilities(&t);
    query_kvm_cpuid(&t);
    choose_td_config(&t);
    init_td(&t);
    create_vcpus(&t);
    setup_private_memory(&t);
    add_initial_memory(&t);
    finalize_td(&t);
    if (t.payload_path) {
        run_td(&t);
        check_checksums(&t);
    }
    destroy_td(&t);
    return 0;
}
