#!/bin/bash
# KVM builds and destroys a TD in L1: guest/tdvmm drives the KVM TDX API
# (capabilities, INIT_VM, 2 vCPUs + INIT_VCPU, guest_memfd, INIT_MEM_REGION
# with measurement of 2 MiB, FINALIZE_VM), then closes everything. Checks:
# the MRTD the module computed equals an independent SHA-384 (mrtd.py), and
# after L1 powered off the module has no TD left, every page is back to
# PT_NDA/PT_RSVD in the PAMT and every TDX HKID is free again.
. "$(dirname "$0")/lib.sh"

boot tdvmm --smp 2 --job tdvmm --timeout 240 --hmp-at-exit "info tdx" \
    -- -trace "enable=tdx_emu_td_finalized,file=$WORK/trace.log"
[ "$rc" = 0 ] || fail "tdvmm run: expected run-l1 exit 0, got $rc ($(grep -E 'tdvmm' "$WORK/tdvmm.log" | tail -3 | tr '\n' '|'))"
expect_line tdvmm 'TDX-EMU-L1: tdvmm vcpus=2' "TD created with 2 vCPUs"
expect_line tdvmm 'TDX-EMU-L1: tdvmm finalized' "KVM_TDX_FINALIZE_VM succeeded"
expect_line tdvmm 'TDX-EMU-L1: tdvmm destroyed' "TD destroyed"
expect_line tdvmm '^TDX-EMU-L1: tainted=0$' "kernel not tainted"
expect_line tdvmm '^TDX-EMU-L1: done rc=0' "no WARN/BUG in L1"

region=$(grep -m1 -o 'TDX-EMU-L1: tdvmm region gpa=0x[0-9a-f]* pages=[0-9]* pattern=v1' "$WORK/tdvmm.log") ||
    fail "expected tdvmm's 'region gpa=... pages=... pattern=v1' line, got none"
gpa=$(sed 's/.*gpa=\(0x[0-9a-f]*\).*/\1/' <<< "$region")
pages=$(sed 's/.*pages=\([0-9]*\).*/\1/' <<< "$region")
[ "$pages" -ge 512 ] || fail "expected >= 512 measured pages (2 MiB), got $pages"
want=$(python3 "$ROOT/tests/system/mrtd.py" "$gpa" "$pages")
got=$(grep -m1 -o 'tdx_emu_td_finalized.*MRTD=[0-9a-f]*' "$WORK/trace.log" | sed 's/.*MRTD=//')
[ -n "$got" ] || fail "expected the module's MRTD in the tdx_emu_td_finalized trace, got none"
[ "$got" = "$want" ] || fail "MRTD: expected $want (independent SHA-384 of $pages pages at $gpa), module has $got"
ok "MRTD of $pages measured pages at $gpa matches an independent SHA-384: ${got:0:16}..."

expect_line tdvmm '^TDX-EMU-HMP: end' "monitor answered after L1 powered off"
expect_td_gone tdvmm
for leaf in TDH.MNG.CREATE TDH.MNG.KEY.CONFIG TDH.MNG.INIT TDH.VP.CREATE TDH.VP.INIT \
            TDH.MEM.PAGE.ADD TDH.MR.EXTEND TDH.MR.FINALIZE TDH.MNG.KEY.FREEID \
            TDH.PHYMEM.PAGE.RECLAIM; do
    line=$(grep -m1 -E "^    ${leaf//./\\.} " "$WORK/tdvmm.log") || fail "expected calls of $leaf in 'info tdx', got none"
    read -r _ calls okc _ <<< "$line"
    [ "$okc" -ge 1 ] || fail "$leaf: expected successful calls, got: $line"
done
ok "TD lifecycle leaves all succeeded at least once (MNG.CREATE ... KEY.FREEID, RECLAIM)"
add=$(grep -m1 -E '^    TDH\.MEM\.PAGE\.ADD ' "$WORK/tdvmm.log" | awk '{print $3}')
ext=$(grep -m1 -E '^    TDH\.MR\.EXTEND ' "$WORK/tdvmm.log" | awk '{print $3}')
[ "$add" -ge "$pages" ] && [ "$ext" -ge $((pages * 16)) ] ||
    fail "expected >= $pages PAGE.ADD and >= $((pages * 16)) MR.EXTEND, got $add and $ext"
ok "$add PAGE.ADD and $ext MR.EXTEND"
