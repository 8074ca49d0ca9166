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
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
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
#define KVM_GET_SUPPORTED_CPUID     _IOWR(KVMIO_TYPE, 0x05, struct kvm_cpuid2)
#define KVM_CREATE_VCPU             _IO(KVMIO_TYPE, 0x41)
#define KVM_SET_USER_MEMORY_REGION2 _IOW(KVMIO_TYPE, 0x49, struct kvm_userspace_memory_region2)
#define KVM_SET_CPUID2              _IOW(KVMIO_TYPE, 0x90, struct kvm_cpuid2)
#define KVM_ENABLE_CAP              _IOW(KVMIO_TYPE, 0xa3, struct kvm_enable_cap)
#define KVM_MEMORY_ENCRYPT_OP       _IOWR(KVMIO_TYPE, 0xba, unsigned long)
#define KVM_SET_MEMORY_ATTRIBUTES   _IOW(KVMIO_TYPE, 0xd2, struct kvm_memory_attributes)
#define KVM_CREATE_GUEST_MEMFD      _IOWR(KVMIO_TYPE, 0xd4, struct kvm_create_guest_memfd)

#define KVM_CAP_SPLIT_IRQCHIP        121
#define KVM_CAP_VM_TYPES             235
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
        /* data = the vCPU's initial RCX, for TD firmware; nothing here. */
        if (tdx_op(fd, KVM_TDX_INIT_VCPU, 0, 0, &hw_error) < 0) {
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

static void setup_private_memory(struct tdvmm *t)
{
    struct kvm_create_guest_memfd gmem = { .size = t->region_bytes };

    t->gmem_fd = ioctl(t->vm_fd, KVM_CREATE_GUEST_MEMFD, &gmem);
    if (t->gmem_fd < 0) {
        fail("guest-memfd", 0);
    }
    /* A guest_memfd slot still needs a valid userspace range for the
     * shared view of the same GPAs. */
    t->shared = map_anonymous(t->region_bytes);
    struct kvm_userspace_memory_region2 slot = {
        .slot = REGION_SLOT,
        .flags = KVM_MEM_GUEST_MEMFD,
        .guest_phys_addr = REGION_GPA,
        .memory_size = t->region_bytes,
        .userspace_addr = (uintptr_t)t->shared,
        .guest_memfd_offset = 0,
        .guest_memfd = (uint32_t)t->gmem_fd,
    };
    if (ioctl(t->vm_fd, KVM_SET_USER_MEMORY_REGION2, &slot) < 0) {
        fail("memory-region", 0);
    }
    /* kvm_gmem_populate() only fills GPAs whose attribute is PRIVATE. */
    struct kvm_memory_attributes attrs = {
        .address = REGION_GPA,
        .size = t->region_bytes,
        .attributes = KVM_MEMORY_ATTRIBUTE_PRIVATE,
    };
    if (ioctl(t->vm_fd, KVM_SET_MEMORY_ATTRIBUTES, &attrs) < 0) {
        fail("memory-attributes", 0);
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

static void add_initial_memory(struct tdvmm *t)
{
    uint64_t hw_error;

    fill_source(t);
    struct kvm_tdx_init_mem_region region = {
        .source_addr = (uintptr_t)t->source,
        .gpa = REGION_GPA,
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
            fail("init-mem-region", hw_error);
        }
    }
    printf("TDX-EMU-L1: tdvmm region gpa=0x%llx pages=%llu pattern=v1 measured=yes\n",
           (unsigned long long)REGION_GPA, (unsigned long long)t->nr_pages);
}

/* ---- step 6: finalize, tear down -------------------------------------- */

static void finalize_td(struct tdvmm *t)
{
    uint64_t hw_error;

    if (tdx_op(t->vm_fd, KVM_TDX_FINALIZE_VM, 0, 0, &hw_error) < 0) {
        fail("finalize", hw_error);
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

    for (unsigned id = 0; id < t->nr_vcpus; id++) {
        close(t->vcpu_fd[id]);
    }
    close(t->gmem_fd);
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
    printf("TDX-EMU-L1: tdvmm destroyed%s\n",
           present < 0 ? " (unverified: no debugfs)" : "");
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

int main(int argc, char **argv)
{
    struct tdvmm t = { .nr_vcpus = 2, .nr_pages = 512 };

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--vcpus")) {
            t.nr_vcpus = parse_count(argv[i], argv[i + 1], MAX_VCPUS);
            i++;
        } else if (!strcmp(argv[i], "--pages")) {
            /* Up to 1 GiB of initial memory. */
            t.nr_pages = parse_count(argv[i], argv[i + 1], 1ul << 18);
            i++;
        } else {
            fprintf(stderr, "usage: tdvmm [--vcpus N] [--pages N]\n");
            return 2;
        }
    }
    t.region_bytes = t.nr_pages * PAGE_SIZE;
    setvbuf(stdout, NULL, _IOLBF, 0);

    create_td_vm(&t);
    query_capabilities(&t);
    query_kvm_cpuid(&t);
    choose_td_config(&t);
    init_td(&t);
    create_vcpus(&t);
    setup_private_memory(&t);
    add_initial_memory(&t);
    finalize_td(&t);
    destroy_td(&t);
    return 0;
}
