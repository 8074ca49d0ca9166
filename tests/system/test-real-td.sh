#!/bin/bash
# The real TD stack (issue 13): L1 on tdx-emu boots, Debian's QEMU 11 starts
# a TD with Debian's OVMF and Debian's kernel (as shipped, from the overlay
# of scripts/fetch-real-td.sh), and we report how far it gets. Opt-in: it
# downloads ~50 Debian packages once and runs for minutes; without
# TDX_EMU_REAL_TD=1 it only says so.
. "$(dirname "$0")/lib.sh"

if [ "${TDX_EMU_REAL_TD:-0}" != 1 ]; then
    echo "measured: real TD stack not run (set TDX_EMU_REAL_TD=1; see README 'Boot a real TD')"
    exit 0
fi
overlay=$(bash "$ROOT/scripts/fetch-real-td.sh" | sed -n 's/^REAL_TD_OVERLAY=//p')
[ -f "$overlay" ] || fail "fetch-real-td.sh: expected REAL_TD_OVERLAY=FILE, got none"
ok "overlay: $overlay ($(du -m "$overlay" | cut -f1) MB)"

t0=$EPOCHREALTIME
boot realtd --smp 2 --mem 2G --timeout "${TDX_EMU_REAL_TD_TIMEOUT:-900}" \
    --initrd-overlay "$overlay" --job real-td --hmp-at-exit "info tdx"
echo "measured: whole run $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }') s (run-l1 rc=$rc)"
grep -E '^TDX-EMU-HOST: init-seconds|^TDX-EMU-L1: real-td: qemu rc' "$WORK/realtd.log" | sed 's/^/measured: /' || true
# How far the stack got, in the order it gets there.
stage=none
grep -q 'TDX-EMU-L1: real-td: ' "$WORK/realtd.log" && stage="L1 started Debian's QEMU"
grep -qE 'tdx: Guest detected|Linux version .*deb14' "$WORK/realtd.log" && stage="TD kernel started"
grep -q 'Memory Encryption Features active: Intel TDX' "$WORK/realtd.log" && stage="TD kernel in TDX mode"
grep -q '^TDX-EMU-TD: userspace reached' "$WORK/realtd.log" && stage="TD userspace"
grep -q '^TDX-EMU-TD: done' "$WORK/realtd.log" && stage="TD userspace done, powering off"
echo "measured: real TD stack reached: $stage"
grep -E 'KVM_TDX|kvm|qemu-system-x86_64:' "$WORK/realtd.log" | grep -vE '^TDX-EMU-L1: (kvm=|real-td: )' | head -10 | sed 's/^/measured: L1 says: /' || true
expect_line realtd '^TDX-EMU-TD: userspace reached' "TD guest (Debian's kernel) reached our userspace"
expect_line realtd '^TDX-EMU-TD: cpu flag tdx_guest' "TD guest runs as a TDX guest"
expect_line realtd '^TDX-EMU-L1: real-td: qemu rc=0' "Debian's QEMU exits 0 after the TD powers off"
expect_line realtd '^TDX-EMU-L1: done rc=0' "L1 job finished, no WARN/BUG in L1"
expect_td_gone realtd
