/*
 * tdx-status: run inside L1, prints what the L1 kernel offers for TDX in a
 * stable "TDX-EMU-L1: key=value" form that scripts and tests parse:
 *   kvm          /dev/kvm usable or not (and why)
 *   kvm-tdx      kvm_intel's "tdx" module parameter
 *   vm-types     KVM_CAP_VM_TYPES bitmap; whether KVM_X86_TDX_VM is in it
 * Static, no dependencies, so it runs from a busybox initramfs.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* From Linux's uapi <linux/kvm.h> and <asm/kvm.h>; defined here so that the
 * build does not depend on how new the build host's kernel headers are. */
#define KVM_IO_BASE          0xAE
#define KVM_GET_API_VERSION  _IO(KVM_IO_BASE, 0x00)
#define KVM_CHECK_EXTENSION  _IO(KVM_IO_BASE, 0x03)
#define KVM_CAP_VM_TYPES     235
#define KVM_X86_TDX_VM       5

static void print_file(const char *key, const char *path)
{
    char buf[64] = "";
    FILE *f = fopen(path, "r");

    if (!f) {
        printf("TDX-EMU-L1: %s=absent (%s)\n", key, path);
        return;
    }
    if (fgets(buf, sizeof(buf), f)) {
        buf[strcspn(buf, "\n")] = 0;
    }
    fclose(f);
    printf("TDX-EMU-L1: %s=%s\n", key, buf);
}

int main(void)
{
    int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    int types;

    print_file("kvm-tdx", "/sys/module/kvm_intel/parameters/tdx");
    if (fd < 0) {
        printf("TDX-EMU-L1: kvm=unavailable (%s)\n", strerror(errno));
        printf("TDX-EMU-L1: tdx-vm-type=no\n");
        return 0;
    }
    printf("TDX-EMU-L1: kvm=api-%d\n", ioctl(fd, KVM_GET_API_VERSION, 0));
    types = ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_VM_TYPES);
    printf("TDX-EMU-L1: vm-types=%#x\n", types < 0 ? 0 : types);
    printf("TDX-EMU-L1: tdx-vm-type=%s\n",
           types > 0 && (types & (1 << KVM_X86_TDX_VM)) ? "yes" : "no");
    close(fd);
    return 0;
}
