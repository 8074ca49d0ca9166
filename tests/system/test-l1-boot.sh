#!/bin/bash
# L1 boots under the fork to init, and the harness reports what the kernel
# said about TDX and KVM. Today's platform has no VMX and no SEAM, so the
# kernel's own lines say so; the bring-up issue flips these expectations.
. "$(dirname "$0")/lib.sh"

boot default --smp 2
[ "$rc" = 0 ] || fail "boot with tdx-emu: expected run-l1 exit 0, got $rc"
expect_line default '^TDX-EMU-L1: init reached' "L1 reached init"
expect_line default 'virt/tdx: TDX not supported by the host platform' "kernel's TDX line"
expect_line default 'kvm_intel: VMX not supported by CPU' "kernel's KVM line"
expect_line default '^TDX-EMU-L1: tdx-vm-type=no' "tdx-status in L1"
expect_line default '^TDX-EMU-L1: done rc=0' "L1 job finished"
grep -q 'WARNING:\|BUG:' "$WORK/default.log" && fail "L1 printed a WARN/BUG"
ok "no WARN/BUG in L1's log"
echo "measured: L1 boot to init $(sed -n 's/^TDX-EMU-HOST: init-seconds=//p' "$WORK/default.log") s (2 vCPUs, TCG)"

# Plain QEMU behaviour without the tdx-emu object: the same baseline lines.
boot plain --no-tdx-emu
[ "$rc" = 0 ] || fail "boot without tdx-emu: expected exit 0, got $rc"
expect_line plain 'virt/tdx: TDX not supported by the host platform' "no tdx-emu: kernel's TDX line"

# The harness must see failures: a job that does not exist fails the run.
boot missing-job --job no-such-job
[ "$rc" = 127 ] || fail "missing job: expected run-l1 exit 127, got $rc"
expect_line missing-job '^TDX-EMU-L1: no such job: no-such-job' "missing job reported"
