#!/bin/bash
# Fault injection from the command line, end to end through KVM: rules on
# the tdx-emu object make the first two TDH.MEM.PAGE.ADD and the first
# TDH.MR.FINALIZE return TDX_OPERAND_BUSY (busy paths G1 and M4 of
# kvm-busy-paths.md). Linux 7.2 issues PAGE.ADD from its S-EPT "set SPTE"
# hook inside the TDP MMU fault path, so a busy PAGE.ADD is retried inside
# KVM (the MMU's RET_PF_RETRY) and never reaches userspace; MR.FINALIZE's
# busy reaches userspace as EBUSY from KVM_TDX_FINALIZE_VM and tdvmm
# retries. Either way the TD is built with the right measurement and torn
# down clean, with no WARN/BUG.
. "$(dirname "$0")/lib.sh"

boot inj --smp 2 --job tdvmm --timeout 240 --hmp-at-exit "info tdx" \
    --tdx-emu-props "seed=7,inject=leaf=TDH.MEM.PAGE.ADD:first=2;leaf=TDH.MR.FINALIZE:first=1" \
    -- -trace "enable=tdx_emu_td_finalized,file=$WORK/trace.log"
[ "$rc" = 0 ] || fail "tdvmm with injected busies: expected run-l1 exit 0, got $rc ($(grep -E 'tdvmm' "$WORK/inj.log" | tail -3 | tr '\n' '|'))"
! grep -q 'tdvmm init-mem-region EBUSY' "$WORK/inj.log" ||
    fail "G1: expected KVM to retry a busy PAGE.ADD itself, but userspace saw EBUSY"
ok "G1: the busy PAGE.ADDs were retried inside KVM (no EBUSY to userspace)"
expect_line inj 'TDX-EMU-L1: tdvmm finalize EBUSY, retrying' "M4: MR.FINALIZE busy reached userspace as EBUSY, tdvmm retried"
expect_line inj 'TDX-EMU-L1: tdvmm finalized' "TD finalized after the retries"
expect_line inj 'TDX-EMU-L1: tdvmm destroyed' "TD destroyed"
expect_line inj '^TDX-EMU-L1: done rc=0' "no WARN/BUG in L1"
expect_line inj '^    #0 +TDH\.MEM\.PAGE\.ADD .*fired 2' "rule 0 fired twice (info tdx)"
expect_line inj '^    #1 +TDH\.MR\.FINALIZE .*fired 1' "rule 1 fired once (info tdx)"
for leaf in TDH.MEM.PAGE.ADD TDH.MR.FINALIZE; do
    line=$(grep -m1 -E "^    ${leaf//./\\.} " "$WORK/inj.log") || fail "no $leaf counters in info tdx"
    read -r _ calls okc err busy inj <<< "$line"
    [ "$inj" -ge 1 ] && [ "$busy" -ge 1 ] || fail "$leaf: expected injected busy calls, got: $line"
done
ok "the module counted the injected busies"
want=$(python3 "$ROOT/tests/system/mrtd.py" 0 512)
got=$(grep -m1 -o 'MRTD=[0-9a-f]*' "$WORK/trace.log" | sed 's/MRTD=//')
[ "$got" = "$want" ] || fail "MRTD after retried PAGE.ADDs: expected $want, got ${got:-none}"
ok "measurement unchanged by the busy/retry (a BUSY PAGE.ADD has no side effect)"

# The module recognized both reactions from the call stream: a retry came.
expect_path inj G1 retry-later
expect_path inj M4 retry-later
