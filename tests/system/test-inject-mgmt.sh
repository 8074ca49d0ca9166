#!/bin/bash
# Busy paths M1, M2, M3, M5 (kvm-busy-paths.md): KVM serializes these
# SEAMCALLs itself (tdx_lock, one CPU per package, mmu_lock), so it treats a
# BUSY from them as impossible. Injected anyway from the command line, each
# must surface as an ioctl error (EIO), with KVM's TDX_BUG_ON WARN — never a
# kernel crash or a sick QEMU. These are the reactions Linux 7.2 has today;
# the test pins them so a change in the kernel or the module shows up.
. "$(dirname "$0")/lib.sh"

check() {   # name leaf expected-tdvmm-line
    boot "$1" --smp 2 --job tdvmm --timeout 240 --hmp-at-exit "info tdx" \
        --tdx-emu-props "inject=leaf=$2:first=1"
    [ "$rc" = 1 ] || fail "$1 ($2 busy): expected the job to fail (exit 1), got $rc"
    expect_line "$1" "$3" "$1: $2 busy surfaced as an ioctl error / teardown WARN"
    expect_line "$1" 'WARNING: arch/x86/kvm/vmx/tdx\.c' "$1: KVM flagged it (TDX_BUG_ON)"
    ! grep -qE 'Kernel panic|Oops:|BUG: ' "$WORK/$1.log" || fail "$1: L1 crashed: $(grep -m1 -E 'Kernel panic|Oops:|BUG: ' "$WORK/$1.log")"
    expect_line "$1" "^    #0 +${2//./\\.} .*fired 1" "$1: one busy injected"
    expect_line "$1" '^TDX-EMU-HMP: end' "$1: QEMU healthy"
}

check M1 TDH.MNG.CREATE 'TDX-EMU-L1: tdvmm FAILED init-vm: Input/output error'
check M2 TDH.MNG.KEY.CONFIG 'TDX-EMU-L1: tdvmm FAILED init-vm: Input/output error'
check M3 TDH.PHYMEM.CACHE.WB 'TDX-EMU-L1: tdvmm destroyed'
check M5 TDH.VP.INIT 'TDX-EMU-L1: tdvmm FAILED init-vcpu: Input/output error'
ok "M1, M2, M3, M5: EIO/WARN, no crash (Linux 7.2's reaction to an impossible BUSY)"
