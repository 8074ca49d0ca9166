#!/bin/bash
# TDs run: inside L1 (4 vCPUs), guest/tdvmm --run starts guest/td-payload in
# a TD with 4 vCPUs and 64 MiB of private memory (16 MiB each). Each vCPU
# boots from the reset vector into long mode, accepts its private pages
# (ACCEPT exits -> KVM's TDH.MEM.SEPT.ADD/PAGE.AUG on that vCPU's LP ->
# re-entry), writes and sums them, prints over TDG.VP.VMCALL<IO> and reports
# a checksum tdvmm verifies. The S-EPT leaves really ran concurrently from
# several LPs (trace). Then the TD is destroyed and every page is free.
. "$(dirname "$0")/lib.sh"

boot run --smp 4 --job td-run --timeout 300 --hmp-at-exit "info tdx" \
    --append "tdx_emu.td_vcpus=4 tdx_emu.td_pages=4096" \
    -- -trace "enable=tdx_emu_seamcall,file=$WORK/trace.log"
[ "$rc" = 0 ] || fail "td-run: expected run-l1 exit 0, got $rc ($(grep -E 'tdvmm|td vcpu|WARN|BUG' "$WORK/run.log" | tail -5 | tr '\n' '|'))"
expect_line run 'TDX-EMU-L1: td vcpu0: td-payload vcpu 0 checksum [0-9a-f]{16}' "vCPU 0 ran the payload and printed through TDVMCALL<IO>"
expect_line run 'TDX-EMU-L1: td vcpu1: td-payload vcpu 1 checksum [0-9a-f]{16}' "vCPU 1 ran the payload"
expect_line run 'TDX-EMU-L1: td vcpu3: td-payload vcpu 3 checksum [0-9a-f]{16}' "vCPU 3 ran the payload"
expect_line run 'TDX-EMU-L1: tdvmm run ok vcpus=4' "checksums of all 4 vCPUs verified by tdvmm"
expect_line run 'TDX-EMU-L1: tdvmm destroyed' "TD destroyed"
expect_line run '^TDX-EMU-L1: done rc=0' "no WARN/BUG in L1"
expect_td_gone run
for leaf in TDH.VP.ENTER TDH.MEM.PAGE.AUG TDH.MEM.SEPT.ADD TDG.VP.VMCALL TDG.MEM.PAGE.ACCEPT; do
    line=$(grep -m1 -E "^    ${leaf//./\\.} " "$WORK/run.log") || fail "expected $leaf calls in 'info tdx', got none"
    read -r _ calls okc _ <<< "$line"
    [ "$okc" -ge 1 ] || fail "$leaf: expected successful calls, got: $line"
    echo "measured: $leaf calls=$calls ok=$okc"
done
ok "VP.ENTER, PAGE.AUG and SEPT.ADD succeeded while the TD ran; its VMCALLs and ACCEPTs are counted like every leaf"
[ "$(grep -m1 -E '^    TDH\.MEM\.PAGE\.AUG ' "$WORK/run.log" | awk '{print $3}')" -ge 16384 ] ||
    fail "expected >= 16384 successful PAGE.AUG (64 MiB), got: $(grep -m1 -E '^    TDH\.MEM\.PAGE\.AUG ' "$WORK/run.log")"
ok "64 MiB of private memory added with PAGE.AUG"
# Leaf 6 = PAGE.AUG, 3 = SEPT.ADD: from how many LPs did they succeed?
for leaf in 6 3; do
    lps=$(awk -v l="$leaf" '$5 == l && $8 == "0x0000000000000000" { print $3 }' "$WORK/trace.log" | sort -u | wc -l)
    [ "$lps" -ge 2 ] || fail "leaf $leaf: expected successful calls from >= 2 LPs, got $lps"
    echo "measured: leaf $leaf succeeded on $lps LPs"
done
ok "PAGE.AUG and SEPT.ADD ran on several LPs while the TD's vCPUs ran"
