#!/bin/bash
# Busy path W1 (kvm-busy-paths.md): TDH.PHYMEM.PAGE.WBINVD after PAGE.REMOVE
# must never be busy, so KVM has no retry for it — a BUSY there is a bug
# that KVM reports with TDX_BUG_ON (WARN, VM marked bugged). Injecting one
# BUSY from the command line must make that visible: this test passes only
# if the harness DETECTS the failure (L1's WARN, the job's non-zero exit),
# i.e. it proves the harness sees failures; QEMU itself stays healthy.
. "$(dirname "$0")/lib.sh"

boot w1 --smp 2 --job tdvmm --timeout 240 --hmp-at-exit "info tdx" \
    --tdx-emu-props "inject=leaf=TDH.PHYMEM.PAGE.WBINVD:first=1"
[ "$rc" = 1 ] || fail "W1: expected the L1 job to fail (exit 1: WARN detected), got $rc"
expect_line w1 '^TDX-EMU-L1: kernel reported WARN/BUG/Oops' "W1 detected: L1 reported a WARN"
expect_line w1 'WARNING: arch/x86/kvm/vmx/tdx\.c' "the WARN is KVM's TDX_BUG_ON in tdx.c"
expect_line w1 '^    #0 +TDH\.PHYMEM\.PAGE\.WBINVD .*fired 1' "exactly one WBINVD made busy"
expect_line w1 '^TDX-EMU-HMP: end' "QEMU healthy afterwards: monitor answered"
ok "W1 reported as detected (expected outcome)"

# No retry ever came: the module's recognizer calls it unhandled too.
expect_path w1 W1 unhandled
