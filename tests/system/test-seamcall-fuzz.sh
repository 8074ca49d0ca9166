#!/bin/bash
# Malformed SEAMCALLs from L1's ring 0: a test module (guest/kmod) issues
# random leaves and operands on every L1 CPU at once for a bounded time.
# Every status that comes back must be an architectural completion status
# (one of the module's status classes, or a P-SEAMLDR error), never
# VMfailInvalid or a fault; L1 must not WARN/BUG; QEMU must survive and
# still answer its monitor afterwards.
. "$(dirname "$0")/lib.sh"

secs=${SEAMCALL_FUZZ_SECONDS:-10}
boot fuzz --smp 2 --job seamcall-fuzz --timeout 240 \
    --append "tdx_emu.fuzz_seconds=$secs tdx_emu.fuzz_seed=${SEAMCALL_FUZZ_SEED:-1}" \
    --hmp-at-exit "info tdx"
[ "$rc" = 0 ] || fail "seamcall-fuzz run: expected run-l1 exit 0, got $rc ($(grep -E 'seamcall-fuzz|WARN|BUG' "$WORK/fuzz.log" | head -5 | tr '\n' '|'))"
expect_line fuzz 'TDX-EMU-L1: seamcall-fuzz job done' "fuzz job finished, KVM still offers TDX VMs"

calls=$(sed -n 's/.*TDX-EMU-L1: seamcall-fuzz calls=\([0-9]*\) cpus=\([0-9]*\).*/\1/p' "$WORK/fuzz.log")
cpus=$(sed -n 's/.*TDX-EMU-L1: seamcall-fuzz calls=\([0-9]*\) cpus=\([0-9]*\).*/\2/p' "$WORK/fuzz.log")
[ -n "$calls" ] && [ "$calls" -ge 1000 ] || fail "expected >= 1000 SEAMCALLs in ${secs}s, got '${calls:-none}'"
[ "$cpus" = 2 ] || fail "expected the fuzzer on 2 CPUs, got '${cpus:-none}'"
ok "$calls random SEAMCALLs from ring 0 on $cpus CPUs in ${secs}s"

# Status classes the module defines (bits 63:32), plus P-SEAMLDR errors.
known=$(sed -n 's/^X([A-Z0-9_]*, 0x\([0-9A-F]\{8\}\)[0-9A-F]\{8\}ULL)$/\1/p' \
        "$ROOT/hw/tdx-emu/core/tdx-status-list.h" | tr 'A-F' 'a-f' | sort -u)
[ "$(wc -l <<< "$known")" -gt 100 ] || fail "could not read the status list (got $(wc -l <<< "$known") classes)"
known+=$'\n80000000'
classes=0
while read -r class count; do
    hi=${class:2:8}
    grep -qx "$hi" <<< "$known" || fail "status class $class ($count calls) is not an architectural status"
    classes=$((classes + 1))
done < <(sed -n 's/.*TDX-EMU-L1: seamcall-fuzz status=\(0x[0-9a-f]*\) count=\([0-9]*\).*/\1 \2/p' "$WORK/fuzz.log")
[ $classes -ge 5 ] || fail "expected several distinct statuses, got $classes"
ok "all $classes status classes are architectural (none VMfailInvalid, no fault)"

expect_line fuzz '^TDX-EMU-HMP: end' "QEMU alive after the run: monitor answered"
expect_line fuzz '^  module state: ' "module state reported after the run"
echo "measured: $calls SEAMCALLs in ${secs}s from 2 L1 CPUs ($((calls / secs)) per second)"
