#!/bin/bash
# Zero-step mitigation with a real TD: in the payload's hammer mode the TD's
# vCPUs store to a private GPA KVM cannot map yet (tdvmm keeps it shared in
# KVM's attributes for a while), so one instruction takes the same-RIP
# EPT-violation exit again and again. After Intel's threshold the module's
# TDH.VP.ENTER takes the S-EPT tree exclusively (and refuses entry with a
# synthetic EPT violation while the GPA still faults); KVM copes, the payload
# finishes and its checksum is right.
. "$(dirname "$0")/lib.sh"

boot hammer --smp 2 --job td-run --timeout 300 --hmp-at-exit "info tdx" \
    --append "tdx_emu.td_vcpus=2 tdx_emu.td_pages=64 tdx_emu.td_mode=hammer"
[ "$rc" = 0 ] || fail "hammer run: expected run-l1 exit 0, got $rc ($(grep -E 'tdvmm|td vcpu' "$WORK/hammer.log" | tail -4 | tr '\n' '|'))"
expect_line hammer 'TDX-EMU-L1: tdvmm run ok vcpus=2' "hammer payload finished, checksums verified"
expect_line hammer '^TDX-EMU-L1: done rc=0' "no WARN/BUG in L1"
zs=$(grep -m1 '^  zero-step: ' "$WORK/hammer.log") || fail "expected the module's zero-step line in 'info tdx', got none"
entries=$(sed 's/.*zero-step: \([0-9]*\) VP.ENTER.*/\1/' <<< "$zs")
synth=$(sed 's/.*exclusively, \([0-9]*\) synthetic.*/\1/' <<< "$zs")
[ "$entries" -ge 1 ] || [ "$synth" -ge 1 ] ||
    fail "expected the zero-step filter to act (tree-exclusive entries or synthetic exits), got: $zs"
ok "zero-step filter acted: $entries tree-exclusive VP.ENTER, $synth synthetic EPT-violation exits"
echo "measured: $zs"
