#!/bin/bash
# TDs run: inside L1, guest/tdvmm --run starts guest/td-payload in a TD with
# 2 vCPUs. Each vCPU boots from the reset vector into long mode, accepts its
# private pages (EPT-violation exits -> KVM's TDH.MEM.SEPT.ADD/PAGE.AUG ->
# re-entry), writes and sums them, prints over TDG.VP.VMCALL<IO> and reports
# a checksum tdvmm verifies. Then the TD is destroyed and every page is back
# to free.
. "$(dirname "$0")/lib.sh"

boot run --smp 2 --job td-run --timeout 300 --hmp-at-exit "info tdx"
[ "$rc" = 0 ] || fail "td-run: expected run-l1 exit 0, got $rc ($(grep -E 'tdvmm|td vcpu|WARN|BUG' "$WORK/run.log" | tail -5 | tr '\n' '|'))"
expect_line run 'TDX-EMU-L1: td vcpu0: td-payload vcpu 0 checksum [0-9a-f]{16}' "vCPU 0 ran the payload and printed through TDVMCALL<IO>"
expect_line run 'TDX-EMU-L1: td vcpu1: td-payload vcpu 1 checksum [0-9a-f]{16}' "vCPU 1 ran the payload"
expect_line run 'TDX-EMU-L1: tdvmm run ok vcpus=2' "checksums verified by tdvmm"
expect_line run 'TDX-EMU-L1: tdvmm destroyed' "TD destroyed"
expect_line run '^TDX-EMU-L1: done rc=0' "no WARN/BUG in L1"
expect_line run '^  TDs: 0; TDX HKIDs: 0 assigned, 0 flushed, [0-9]+ free' "no TD left, HKIDs released"
pamt=$(grep -m1 '^  PAMT pages by type:' "$WORK/run.log")
leftover=$(grep -oE 'PT_(REG|TDR|TDCX|TDVPR|EPT)=[0-9]+' <<< "$pamt" || true)
[ -z "$leftover" ] || fail "PAMT after destroy: expected only PT_NDA/PT_RSVD, got $leftover"
ok "every page back to free in the PAMT"
for leaf in TDH.VP.ENTER TDH.MEM.PAGE.AUG TDH.MEM.SEPT.ADD; do
    line=$(grep -m1 -E "^    ${leaf//./\\.} " "$WORK/run.log") || fail "expected $leaf calls in 'info tdx', got none"
    read -r _ calls okc _ <<< "$line"
    [ "$okc" -ge 1 ] || fail "$leaf: expected successful calls, got: $line"
    echo "measured: $leaf calls=$calls ok=$okc"
done
ok "VP.ENTER, PAGE.AUG and SEPT.ADD succeeded while the TD ran"
