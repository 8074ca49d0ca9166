#!/bin/bash
# L1 boots on the emulated TDX platform (run-l1's default: -object tdx-emu,
# -cpu max,tdx-emu=on, kvm_intel.tdx=1) and the unmodified Linux 7.2 kernel
# initializes the TDX module, loads kvm_intel with TDX and offers the TDX VM
# type — with no WARN/BUG/taint. Without the CPU property, and without the
# object, the kernel says exactly what it says on stock QEMU.
. "$(dirname "$0")/lib.sh"

no_line() {
    ! grep -qE "$2" "$WORK/$1.log" || fail "$3: unexpected line: $(grep -m1 -E "$2" "$WORK/$1.log")"
    ok "$3"
}

boot tdx --smp 2 --hmp-at-exit "info tdx"
[ "$rc" = 0 ] || fail "boot on the TDX platform: expected run-l1 exit 0, got $rc"
expect_line tdx '^TDX-EMU-L1: init reached' "L1 reached init"
expect_line tdx 'virt/tdx: Module version: 1\.5\.00' "kernel read the module's version"
expect_line tdx 'virt/tdx: [0-9]+ KB allocated for PAMT' "kernel allocated PAMTs"
expect_line tdx 'virt/tdx: TDX-Module initialized' "kernel: TDX module initialized"
expect_line tdx '^TDX-EMU-L1: kvm-tdx=Y' "kvm_intel loaded with tdx=Y"
expect_line tdx '^TDX-EMU-L1: tdx-vm-type=yes' "KVM offers KVM_X86_TDX_VM"
expect_line tdx '^TDX-EMU-L1: tainted=0$' "kernel not tainted"
expect_line tdx '^TDX-EMU-L1: done rc=0' "L1 job finished, no WARN/BUG"
no_line tdx 'TDX-Module initialization failed|module not loaded|TDH\.[A-Z.]* failed|SEAMCALL .*failed' "no TDX error from the kernel (shutdown's SYS.DISABLE included)"
# The module's own view after L1 powered off (SYS.DISABLE at shutdown).
expect_line tdx '^  module state: SYS_SHUTDOWN' "module disabled by L1's shutdown path"
expect_line tdx '^  LPs initialized: 2/2, packages with keys: 1/1' "every LP and package initialized"
expect_line tdx '^    TDH\.SYS\.TDMR\.INIT +[0-9]+ +[0-9]+ +0 +0 +0' "TDMR.INIT without errors"
# How fast is a figure, not a pass/fail: on a loaded machine (a shared CI
# runner, scripts/load-test.sh) it took 16 s where a quiet one takes 1.5 s.
# TDX_EMU_BOOT_BUDGET_S=N makes it a check where the machine is known.
mod_s=$(sed -n 's/^TDX-EMU-HOST: tdx-module-seconds=//p' "$WORK/tdx.log" | head -n1)
awk -v s="$mod_s" 'BEGIN { exit !(s > 0) }' ||
    fail "QEMU start to 'TDX-Module initialized': expected a time, got '${mod_s:-none}'"
if [ -n "${TDX_EMU_BOOT_BUDGET_S:-}" ]; then
    awk -v s="$mod_s" -v b="$TDX_EMU_BOOT_BUDGET_S" 'BEGIN { exit !(s < b) }' ||
        fail "QEMU start to 'TDX-Module initialized': expected < $TDX_EMU_BOOT_BUDGET_S s (TDX_EMU_BOOT_BUDGET_S), got $mod_s s"
fi
ok "TDX module initialized ${mod_s} s after QEMU started"
echo "measured: QEMU start to 'TDX-Module initialized' ${mod_s} s, to init $(sed -n 's/^TDX-EMU-HOST: init-seconds=//p' "$WORK/tdx.log") s (2 vCPUs, TCG)"

# Object present, plain CPU: today's baseline lines, nothing of TDX leaks.
boot plaincpu --plain-cpu
[ "$rc" = 0 ] || fail "boot with a plain CPU: expected exit 0, got $rc"
expect_line plaincpu 'virt/tdx: TDX not supported by the host platform' "plain CPU: kernel's TDX line"
expect_line plaincpu 'kvm_intel: VMX not supported by CPU' "plain CPU: kernel's KVM line"
expect_line plaincpu '^TDX-EMU-L1: tdx-vm-type=no' "plain CPU: tdx-status"
no_line plaincpu 'x86/tme|virt/tdx: BIOS enabled|TDX-Module' "plain CPU: no TME/KeyIDs/module"

# Plain QEMU behaviour without the tdx-emu object: the same baseline lines.
boot plain --no-tdx-emu
[ "$rc" = 0 ] || fail "boot without tdx-emu: expected exit 0, got $rc"
expect_line plain 'virt/tdx: TDX not supported by the host platform' "no tdx-emu: kernel's TDX line"
expect_line plain 'kvm_intel: VMX not supported by CPU' "no tdx-emu: kernel's KVM line"
no_line plain 'x86/tme|virt/tdx: BIOS enabled|TDX-Module' "no tdx-emu: no TME/KeyIDs/module"

# The harness must see failures: a job that does not exist fails the run.
boot missing-job --job no-such-job
[ "$rc" = 127 ] || fail "missing job: expected run-l1 exit 127, got $rc"
expect_line missing-job '^TDX-EMU-L1: no such job: no-such-job' "missing job reported"
