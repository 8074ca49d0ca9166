#!/bin/bash
# KVM's runtime busy paths provoked from the command line while a TD runs
# (kvm-busy-paths.md): status rules on the tdx-emu object make PAGE.AUG
# (G2b), SEPT.ADD (G2a), RANGE.BLOCK / TRACK / PAGE.REMOVE (G3a-c, on the
# zaps the payload's private<->shared conversions cause) and VP.ENTER (V1)
# return TDX_OPERAND_BUSY again and again. KVM's handling (local retry,
# kick-and-retry, re-enter) must keep the TD correct: the payload finishes
# with the right checksums, no WARN/BUG, every rule fired.
. "$(dirname "$0")/lib.sh"

rules="leaf=TDH.MEM.PAGE.AUG:every=50;leaf=TDH.MEM.SEPT.ADD:first=2"
rules+=";leaf=TDH.MEM.RANGE.BLOCK:every=40:spare-retries=on;leaf=TDH.MEM.TRACK:every=30:spare-retries=on"
rules+=";leaf=TDH.MEM.PAGE.REMOVE:every=45:spare-retries=on;leaf=TDH.VP.ENTER:every=200"
boot inj --smp 2 --job td-run --timeout 300 --hmp-at-exit "info tdx" \
    --tdx-emu-props "seed=3,inject=$rules" \
    --append "tdx_emu.td_vcpus=2 tdx_emu.td_pages=256 tdx_emu.td_mode=convert"
[ "$rc" = 0 ] || fail "convert run with injected busies: expected run-l1 exit 0, got $rc ($(grep -E 'tdvmm|WARN' "$WORK/inj.log" | tail -3 | tr '\n' '|'))"
expect_line inj 'tdx-emu: tdx0: 6 injection rule\(s\) armed from the command line, seed 3' "the run prints its rules' seed"
expect_line inj 'TDX-EMU-L1: tdvmm run ok vcpus=2 mode=convert' "payload correct despite the busies"
expect_line inj '^TDX-EMU-L1: done rc=0' "no WARN/BUG in L1"
expect_td_gone inj
i=0
for leaf in TDH.MEM.PAGE.AUG TDH.MEM.SEPT.ADD TDH.MEM.RANGE.BLOCK TDH.MEM.TRACK TDH.MEM.PAGE.REMOVE TDH.VP.ENTER; do
    line=$(grep -m1 -E "^    #$i +${leaf//./\\.} " "$WORK/inj.log") || fail "expected rule #$i on $leaf in info tdx, got none"
    fired=$(sed 's/.*fired \([0-9]*\).*/\1/' <<< "$line")
    [ "$fired" -ge 1 ] || fail "rule #$i ($leaf): expected it to fire, got: $line"
    echo "measured: $leaf injected busy $fired times"
    i=$((i + 1))
done
ok "every runtime busy path was provoked and KVM kept the TD correct"
# The module recognized KVM's reaction to each busy from the call stream.
expect_path inj G2a local-retry
expect_path inj G2b local-retry
expect_path inj G3a kick-and-retry
expect_path inj G3b kick-and-retry
expect_path inj G3c kick-and-retry
expect_path inj V1 reenter
